"""TLS: ``create_server``/``create_connection`` with ``ssl=``, ``start_tls``, and the layer itself.

Every test runs on glassloop, asyncio and uvloop over loopback, with the small
CA and ``localhost`` certificate in ``tls_data/`` (valid until 2126).  Peers
that must misbehave (stay silent, hang up mid-handshake, never answer
``close_notify``) are plain sockets driven from a thread, so the misbehaviour
is exact and does not depend on any loop.  A few tests drive glassloop's own
``TLSProtocol`` over each loop's transports: the layer must work over any
stream transport, not only glassloop's.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from glassloop.io.tls import TLSProtocol
from glassloop.io.tls import start_tls as glassloop_start_tls

Loop = asyncio.AbstractEventLoop

DATA = Path(__file__).parent / "tls_data"
#: Every test's own bound; the unit-test timeout (20 s) is the backstop.
BOUND = 10.0


def server_context() -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(DATA / "server.pem")
    return context


def client_context() -> ssl.SSLContext:
    """Verifies the server against the test CA, hostname included."""
    return ssl.create_default_context(cafile=str(DATA / "ca.pem"))


def run(loop: Loop, coro: Any) -> Any:
    return loop.run_until_complete(asyncio.wait_for(coro, BOUND))


class Recorder(asyncio.Protocol):
    """Records callbacks in order; ``lost`` resolves at connection_lost."""

    def __init__(self, loop: Loop) -> None:
        self.events: list[str] = []
        self.data = bytearray()
        self.exc: BaseException | None = None
        self.transport: Any = None
        self.made = loop.create_future()
        self.lost: asyncio.Future[BaseException | None] = loop.create_future()
        self.received = asyncio.Event()

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        self.events.append("made")
        self.made.set_result(None)

    def data_received(self, data: bytes) -> None:
        self.data += data
        if not self.events or self.events[-1] != "data":
            self.events.append("data")
        self.received.set()

    def eof_received(self) -> bool:
        self.events.append("eof")
        return False

    def pause_writing(self) -> None:
        self.events.append("pause")

    def resume_writing(self) -> None:
        self.events.append("resume")

    def connection_lost(self, exc: BaseException | None) -> None:
        self.events.append("lost")
        self.exc = exc
        self.lost.set_result(exc)
        self.received.set()

    async def wait_for_bytes(self, count: int) -> bytes:
        """Wait until ``count`` bytes have arrived, or the connection is lost."""
        while len(self.data) < count and not self.lost.done():
            self.received.clear()
            await self.received.wait()
        return bytes(self.data)


class Echo(asyncio.Protocol):
    """Server side: sends back whatever arrives; remembers how it ended."""

    instances: list[Echo]

    def __init__(self, loop: Loop) -> None:
        self.transport: Any = None
        self.lost: asyncio.Future[BaseException | None] = loop.create_future()

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.transport.write(data)

    def connection_lost(self, exc: BaseException | None) -> None:
        if not self.lost.done():
            self.lost.set_result(exc)


async def tls_server(
    loop: Loop, factory: Callable[[], asyncio.BaseProtocol], **kwargs: Any
) -> tuple[asyncio.AbstractServer, int]:
    server = await loop.create_server(factory, "127.0.0.1", 0, ssl=server_context(), **kwargs)
    port: int = server.sockets[0].getsockname()[1]
    return server, port


async def close_server(server: asyncio.AbstractServer) -> None:
    server.close()
    await server.wait_closed()


@contextlib.contextmanager
def thread_peer(handler: Callable[[socket.socket], object]) -> Iterator[tuple[str, int]]:
    """One connection accepted and handled by ``handler`` on a thread (blocking sockets).

    The handler's exceptions are re-raised here, so the peer's asserts count.
    """
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(BOUND)
    errors: list[BaseException] = []

    def serve() -> None:
        try:
            conn, _ = listener.accept()
            with conn:
                conn.settimeout(BOUND)
                handler(conn)
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=serve, name="tls-peer", daemon=True)
    thread.start()
    try:
        yield listener.getsockname()
    finally:
        thread.join(BOUND)
        listener.close()
    assert not thread.is_alive(), "the peer thread did not finish"
    if errors:
        raise errors[0]


def _skip_if_start_tls_missing(loop: Loop) -> None:
    # Until Loop.start_tls is wired to glassloop.io.tls.start_tls.
    if type(loop).start_tls is asyncio.AbstractEventLoop.start_tls:
        pytest.xfail("this loop does not provide start_tls yet")


# -- echo and data integrity ---------------------------------------------------------


def test_echo_with_plain_protocols(loop: Loop) -> None:
    async def main() -> None:
        server, port = await tls_server(loop, lambda: Echo(loop))
        transport, client = await loop.create_connection(
            lambda: Recorder(loop),
            "127.0.0.1",
            port,
            ssl=client_context(),
            server_hostname="localhost",
        )
        for message in (b"hello", b"x" * 70_000, b"bye"):
            client.data.clear()
            transport.write(message)
            assert await client.wait_for_bytes(len(message)) == message
        transport.writelines([b"one ", bytearray(b"two "), memoryview(b"three")])
        client.data.clear()
        assert await client.wait_for_bytes(13) == b"one two three"
        transport.close()
        assert await client.lost is None
        assert client.events[0] == "made" and client.events[-1] == "lost"
        await close_server(server)

    run(loop, main())


class BufferedSink(asyncio.BufferedProtocol):
    """A BufferedProtocol with a deliberately small buffer: many get_buffer calls."""

    def __init__(self, loop: Loop, size: int, kind: str = "bytearray") -> None:
        self.buffer = bytearray(size)
        self.returned: bytearray | memoryview = (
            self.buffer if kind == "bytearray" else memoryview(self.buffer)
        )
        self.data = bytearray()
        self.transport: Any = None
        self.eof = False
        self.lost: asyncio.Future[BaseException | None] = loop.create_future()

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def get_buffer(self, sizehint: int) -> bytearray | memoryview:
        return self.returned

    def buffer_updated(self, nbytes: int) -> None:
        assert 0 < nbytes <= len(self.buffer)
        self.data += self.buffer[:nbytes]

    def eof_received(self) -> None:
        self.eof = True

    def connection_lost(self, exc: BaseException | None) -> None:
        self.lost.set_result(exc)


class Sender(asyncio.Protocol):
    """Server side: sends ``payload`` as soon as the connection is up, then closes."""

    def __init__(self, payload: bytes) -> None:
        self.payload = payload

    def connection_made(self, transport: Any) -> None:
        transport.write(self.payload)
        transport.close()


ASYNCIO_BUFFERED_COPY = (
    "asyncio's SSLProtocol._do_read__buffered reads into buf[offset:], a copy when "
    "get_buffer() returns a bytearray: everything after the first TLS record that "
    "fits is lost (3.11-3.13)"
)


@pytest.mark.parametrize(
    ("size", "kind"),
    [
        (1, "bytearray"),
        pytest.param(
            1000, "bytearray", marks=pytest.mark.skip_loop("asyncio", reason=ASYNCIO_BUFFERED_COPY)
        ),
        pytest.param(
            300_000,
            "bytearray",
            marks=pytest.mark.skip_loop("asyncio", reason=ASYNCIO_BUFFERED_COPY),
        ),
        (1000, "memoryview"),
        (300_000, "memoryview"),
    ],
)
def test_buffered_protocol_receives_everything(loop: Loop, size: int, kind: str) -> None:
    payload = bytes(range(256)) * 400  # 100 KiB, not a multiple of any buffer size

    async def main() -> None:
        server, port = await tls_server(loop, lambda: Sender(payload))
        _, sink = await loop.create_connection(
            lambda: BufferedSink(loop, size, kind),
            "127.0.0.1",
            port,
            ssl=client_context(),
            server_hostname="localhost",
        )
        assert await sink.lost is None
        assert sink.data == payload
        assert sink.eof
        await close_server(server)

    run(loop, main())


def test_several_megabytes_both_ways_over_streams(loop: Loop) -> None:
    size = 6 * 1024 * 1024
    payload = hashlib.sha256(b"seed").digest() * (size // 32)

    async def main() -> None:
        async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            while chunk := await reader.read(200_000):
                writer.write(chunk)
                await writer.drain()
            writer.close()

        server = await asyncio.start_server(echo, "127.0.0.1", 0, ssl=server_context())
        port = server.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", port, ssl=client_context(), server_hostname="localhost"
        )

        async def send() -> None:
            for start in range(0, size, 1_000_000):
                writer.write(payload[start : start + 1_000_000])
                await writer.drain()

        sending = asyncio.ensure_future(send())
        echoed = await reader.readexactly(size)
        await sending
        assert hashlib.sha256(echoed).digest() == hashlib.sha256(payload).digest()
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()
        await close_server(server)

    run(loop, main())


# -- flow control ---------------------------------------------------------------------


class PausedReceiver(Recorder):
    """Server side: pauses reading on arrival; the test resumes it."""

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        transport.pause_reading()


def test_a_paused_reader_pauses_the_writer_then_everything_arrives(loop: Loop) -> None:
    chunk = b"z" * 65536

    async def main() -> None:
        receivers: list[PausedReceiver] = []

        def factory() -> PausedReceiver:
            receivers.append(PausedReceiver(loop))
            return receivers[-1]

        server, port = await tls_server(loop, factory)
        transport, client = await loop.create_connection(
            lambda: Recorder(loop),
            "127.0.0.1",
            port,
            ssl=client_context(),
            server_hostname="localhost",
        )
        sent = 0
        # Backpressure must reach the writer long before this bound (kernel
        # buffers plus TLS and transport buffers are a few MB at most).
        while "pause" not in client.events and sent < 256 * 1024 * 1024:
            transport.write(chunk)
            sent += len(chunk)
            if sent % (1024 * 1024) == 0:
                await asyncio.sleep(0)  # let the loop move bytes
        assert "pause" in client.events, f"no pause_writing after {sent} bytes"
        assert transport.get_write_buffer_size() > 0 or client.events[-1] == "pause"
        receiver = receivers[0]
        assert not receiver.transport.is_reading()
        await asyncio.sleep(0.05)
        # Paused means paused: what arrived is bounded, far below what was sent.
        assert len(receiver.data) < sent
        receiver.transport.resume_reading()
        assert receiver.transport.is_reading()
        await receiver.wait_for_bytes(sent)
        assert len(receiver.data) == sent
        assert client.events.count("pause") == client.events.count("resume")
        transport.close()
        assert await client.lost is None
        await close_server(server)

    run(loop, main())


def test_write_buffer_limits(loop: Loop) -> None:
    async def main() -> None:
        server, port = await tls_server(loop, lambda: Echo(loop))
        transport, client = await loop.create_connection(
            lambda: Recorder(loop),
            "127.0.0.1",
            port,
            ssl=client_context(),
            server_hostname="localhost",
        )
        transport.set_write_buffer_limits(high=1000, low=100)
        assert transport.get_write_buffer_limits() == (100, 1000)
        transport.set_write_buffer_limits(high=400)
        assert transport.get_write_buffer_limits() == (100, 400)
        with pytest.raises(ValueError):
            transport.set_write_buffer_limits(high=1, low=2)
        assert transport.get_write_buffer_size() >= 0
        transport.close()
        await client.lost
        await close_server(server)

    run(loop, main())


# -- handshake failures -----------------------------------------------------------------


def test_handshake_timeout_against_a_silent_peer(loop: Loop) -> None:
    done = threading.Event()

    def silent(conn: socket.socket) -> None:
        done.wait(BOUND)  # accepts, never answers the ClientHello

    async def main(address: tuple[str, int]) -> None:
        started = time.monotonic()
        with pytest.raises(ConnectionAbortedError, match="handshake"):
            await loop.create_connection(
                asyncio.Protocol,
                *address,
                ssl=client_context(),
                server_hostname="localhost",
                ssl_handshake_timeout=0.3,
            )
        assert time.monotonic() - started < BOUND / 2

    try:
        with thread_peer(silent) as address:
            try:
                run(loop, main(address))
            finally:
                done.set()
    finally:
        done.set()


@pytest.mark.parametrize("timeout", [0, -1, -0.5])
def test_handshake_timeout_must_be_positive(loop: Loop, timeout: float) -> None:
    async def main() -> None:
        server, port = await tls_server(loop, lambda: Echo(loop))
        with pytest.raises(ValueError, match="positive"):
            await loop.create_connection(
                asyncio.Protocol,
                "127.0.0.1",
                port,
                ssl=client_context(),
                server_hostname="localhost",
                ssl_handshake_timeout=timeout,
            )
        await close_server(server)

    run(loop, main())


BAD_TLS_TIMEOUTS = [
    ({"ssl_handshake_timeout": 0}, "ssl_handshake_timeout should be a positive number, got 0"),
    ({"ssl_shutdown_timeout": -1}, "ssl_shutdown_timeout should be a positive number, got -1"),
]


@pytest.mark.parametrize(("timeout", "message"), BAD_TLS_TIMEOUTS)
def test_bad_tls_timeouts_are_refused_by_every_connecting_method(
    loop: Loop, timeout: dict[str, float], message: str
) -> None:
    """Every loop says the same thing; when it says it is the next test's matter."""

    async def main() -> None:
        with contextlib.ExitStack() as stack:
            listener = stack.enter_context(socket.create_server(("127.0.0.1", 0)))
            with pytest.raises(ValueError, match=message):
                await loop.create_connection(
                    asyncio.Protocol,
                    *listener.getsockname(),
                    ssl=client_context(),
                    server_hostname="localhost",
                    **timeout,
                )
            for method in ("create_unix_connection", "connect_accepted_socket"):
                ours, theirs = socket.socketpair()
                stack.enter_context(ours)
                stack.enter_context(theirs)
                with pytest.raises(ValueError, match=message):
                    if method == "create_unix_connection":
                        await loop.create_unix_connection(
                            asyncio.Protocol,
                            sock=ours,
                            ssl=client_context(),
                            server_hostname="localhost",
                            **timeout,
                        )
                    else:
                        await loop.connect_accepted_socket(
                            asyncio.Protocol, ours, ssl=server_context(), **timeout
                        )

    run(loop, main())


@pytest.mark.skip_loop(
    "asyncio", reason="asyncio connects first and finds the bad timeout building the TLS layer"
)
@pytest.mark.parametrize(("timeout", "message"), BAD_TLS_TIMEOUTS)
def test_a_bad_tls_timeout_fails_create_connection_before_it_connects(
    loop: Loop, timeout: dict[str, float], message: str
) -> None:
    async def main() -> None:
        with socket.create_server(("127.0.0.1", 0)) as listener:
            with pytest.raises(ValueError, match=message):
                await loop.create_connection(
                    asyncio.Protocol,
                    *listener.getsockname(),
                    ssl=client_context(),
                    server_hostname="localhost",
                    **timeout,
                )
            listener.setblocking(False)
            with pytest.raises(BlockingIOError):
                listener.accept()  # nobody came

    run(loop, main())


@pytest.mark.skip_loop(
    "asyncio",
    reason="asyncio makes the server; each connection then fails building its TLS layer "
    "(silently unless in debug mode), so it never serves anyone",
)
@pytest.mark.skip_loop("uvloop", reason="uvloop makes the server, as asyncio does")
@pytest.mark.parametrize(("timeout", "message"), BAD_TLS_TIMEOUTS)
@pytest.mark.parametrize("unix", [False, True])
def test_a_bad_tls_timeout_fails_create_server(
    loop: Loop, timeout: dict[str, float], message: str, unix: bool, tmp_path: Path
) -> None:
    async def main() -> None:
        with pytest.raises(ValueError, match=message):
            if unix:
                await loop.create_unix_server(
                    asyncio.Protocol, str(tmp_path / "s"), ssl=server_context(), **timeout
                )
            else:
                await loop.create_server(
                    asyncio.Protocol, "127.0.0.1", 0, ssl=server_context(), **timeout
                )
        assert not (tmp_path / "s").exists()  # nothing was bound

    run(loop, main())


def test_tls_protocol_checks_its_timeouts() -> None:
    loop = asyncio.new_event_loop()
    try:
        with pytest.raises(ValueError, match="ssl_handshake_timeout should be a positive"):
            TLSProtocol(loop, asyncio.Protocol(), client_context(), None, ssl_handshake_timeout=0)
        with pytest.raises(ValueError, match="ssl_shutdown_timeout should be a positive"):
            TLSProtocol(loop, asyncio.Protocol(), client_context(), None, ssl_shutdown_timeout=-1)
        with pytest.raises(ValueError, match="Server side SSL needs a valid SSLContext"):
            TLSProtocol(loop, asyncio.Protocol(), None, None, server_side=True)
    finally:
        loop.close()


def test_failed_verification_raises_and_the_server_app_never_connects(loop: Loop) -> None:
    async def main() -> None:
        handled: list[dict[str, Any]] = []
        loop.set_exception_handler(lambda lp, context: handled.append(context))
        made: list[Recorder] = []

        def factory() -> Recorder:
            made.append(Recorder(loop))
            return made[-1]

        server, port = await tls_server(loop, factory)
        untrusting = ssl.create_default_context()  # system CAs only: not ours
        with pytest.raises(ssl.SSLCertVerificationError):
            await loop.create_connection(
                asyncio.Protocol, "127.0.0.1", port, ssl=untrusting, server_hostname="localhost"
            )
        with pytest.raises(ssl.SSLCertVerificationError, match=r"example\.com|match"):
            await loop.create_connection(
                asyncio.Protocol,
                "127.0.0.1",
                port,
                ssl=client_context(),
                server_hostname="example.com",
            )
        await asyncio.sleep(0.1)  # the server side notices the alerts
        assert all("made" not in protocol.events for protocol in made)
        await close_server(server)
        # A peer failing the handshake is the peer's business, not a loop error
        # (debug mode reports it, as asyncio's does).
        if not loop.get_debug():
            assert handled == []

    run(loop, main())


def test_server_hanging_up_during_the_handshake(loop: Loop) -> None:
    def hang_up(conn: socket.socket) -> None:
        conn.recv(1024)  # the ClientHello; then close without a word

    async def main(address: tuple[str, int]) -> None:
        with pytest.raises(ConnectionResetError):
            await loop.create_connection(
                asyncio.Protocol, *address, ssl=client_context(), server_hostname="localhost"
            )

    with thread_peer(hang_up) as address:
        run(loop, main(address))


def test_cancelling_the_connect_during_the_handshake_is_quiet(loop: Loop) -> None:
    done = threading.Event()

    async def main(address: tuple[str, int]) -> None:
        handled: list[dict[str, Any]] = []
        loop.set_exception_handler(lambda lp, context: handled.append(context))
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(
                loop.create_connection(
                    asyncio.Protocol, *address, ssl=client_context(), server_hostname="localhost"
                ),
                0.2,
            )
        await asyncio.sleep(0.05)
        if not loop.get_debug():
            assert handled == []

    try:
        with thread_peer(lambda conn: done.wait(BOUND)) as address:
            try:
                run(loop, main(address))
            finally:
                done.set()
    finally:
        done.set()


# -- closing ----------------------------------------------------------------------------


def test_close_flushes_everything_before_connection_lost(loop: Loop) -> None:
    payload = b"q" * (3 * 1024 * 1024)

    async def main() -> None:
        receivers: list[Recorder] = []

        def factory() -> Recorder:
            receivers.append(Recorder(loop))
            return receivers[-1]

        server, port = await tls_server(loop, factory)
        transport, client = await loop.create_connection(
            lambda: Recorder(loop),
            "127.0.0.1",
            port,
            ssl=client_context(),
            server_hostname="localhost",
        )
        transport.write(payload)
        transport.close()
        assert transport.is_closing()
        transport.write(b"dropped: the transport is closing")
        assert await client.lost is None
        receiver = receivers[0]
        assert await receiver.lost is None
        assert receiver.data == payload
        assert receiver.events[-2:] == ["eof", "lost"]
        await close_server(server)

    run(loop, main())


def test_abort_drops_the_connection_at_once(loop: Loop) -> None:
    async def main() -> None:
        receivers: list[Recorder] = []

        def factory() -> Recorder:
            receivers.append(Recorder(loop))
            return receivers[-1]

        server, port = await tls_server(loop, factory)
        transport, client = await loop.create_connection(
            lambda: Recorder(loop),
            "127.0.0.1",
            port,
            ssl=client_context(),
            server_hostname="localhost",
        )
        await receivers[0].made
        transport.abort()
        assert transport.is_closing()
        assert await client.lost is None
        await receivers[0].lost  # the server hears of it, one way or another
        await close_server(server)

    run(loop, main())


def test_shutdown_timeout_when_the_peer_never_answers_close_notify(loop: Loop) -> None:
    done = threading.Event()

    def handshake_then_ignore(conn: socket.socket) -> None:
        tls = server_context().wrap_socket(conn, server_side=True)
        done.wait(BOUND)  # never reads our close_notify, never sends one
        tls.close()

    async def main(address: tuple[str, int]) -> None:
        transport, client = await loop.create_connection(
            lambda: Recorder(loop),
            *address,
            ssl=client_context(),
            server_hostname="localhost",
            ssl_shutdown_timeout=0.3,
        )
        started = time.monotonic()
        transport.close()
        exc = await client.lost
        assert isinstance(exc, TimeoutError)
        assert time.monotonic() - started < BOUND / 2

    try:
        with thread_peer(handshake_then_ignore) as address:
            try:
                run(loop, main(address))
            finally:
                done.set()
    finally:
        done.set()


def test_peer_close_notify_still_lets_a_large_backlog_through(loop: Loop) -> None:
    """The peer says close_notify first; everything we had queued must still reach it."""
    size = 4 * 1024 * 1024
    pong_sent = threading.Event()

    def peer(conn: socket.socket) -> None:
        incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        tls = server_context().wrap_bio(incoming, outgoing, server_side=True)

        def pump_until(step: Callable[[], Any]) -> Any:
            while True:
                try:
                    result = step()
                except ssl.SSLWantReadError:
                    if outgoing.pending:
                        conn.sendall(outgoing.read())
                    data = conn.recv(65536)
                    if not data:
                        raise ConnectionResetError("peer went away") from None
                    incoming.write(data)
                else:
                    if outgoing.pending:
                        conn.sendall(outgoing.read())
                    return result

        pump_until(tls.do_handshake)
        assert pump_until(lambda: tls.read(4)) == b"ping"
        tls.write(b"pong")
        conn.sendall(outgoing.read())
        pong_sent.set()
        time.sleep(0.1)  # the client queues its big write meanwhile
        with pytest.raises(ssl.SSLWantReadError):
            tls.unwrap()  # our close_notify goes out first
        conn.sendall(outgoing.read())
        received = 0
        while True:
            try:
                received += len(pump_until(lambda: tls.read(65536)))
            except ssl.SSLZeroReturnError:
                break  # the client's close_notify, after its data
        assert received == size

    async def main(address: tuple[str, int]) -> None:
        transport, client = await loop.create_connection(
            lambda: Recorder(loop),
            *address,
            ssl=client_context(),
            server_hostname="localhost",
        )
        transport.write(b"ping")
        assert await client.wait_for_bytes(4) == b"pong"
        transport.write(b"b" * size)
        exc = await client.lost
        assert exc is None
        assert "eof" in client.events

    with thread_peer(peer) as address:
        run(loop, main(address))


def test_write_eof_is_not_supported(loop: Loop) -> None:
    async def main() -> None:
        server, port = await tls_server(loop, lambda: Echo(loop))
        transport, client = await loop.create_connection(
            lambda: Recorder(loop),
            "127.0.0.1",
            port,
            ssl=client_context(),
            server_hostname="localhost",
        )
        assert not transport.can_write_eof()
        with pytest.raises(NotImplementedError):
            transport.write_eof()
        with pytest.raises(TypeError):
            transport.write("text is not bytes")  # type: ignore[arg-type]
        transport.close()
        await client.lost
        await close_server(server)

    run(loop, main())


# -- extra info ---------------------------------------------------------------------------


def test_extra_info_on_both_sides(loop: Loop) -> None:
    async def main() -> None:
        servers: list[Recorder] = []

        def factory() -> Recorder:
            servers.append(Recorder(loop))
            return servers[-1]

        server_ctx = server_context()
        server = await loop.create_server(factory, "127.0.0.1", 0, ssl=server_ctx)
        port = server.sockets[0].getsockname()[1]
        client_ctx = client_context()
        transport, client = await loop.create_connection(
            lambda: Recorder(loop), "127.0.0.1", port, ssl=client_ctx, server_hostname="localhost"
        )
        assert transport.get_extra_info("sslcontext") is client_ctx
        sslobj = transport.get_extra_info("ssl_object")
        assert isinstance(sslobj, ssl.SSLObject)
        assert sslobj.version() in ("TLSv1.2", "TLSv1.3")
        assert sslobj.server_hostname == "localhost"
        peercert = transport.get_extra_info("peercert")
        assert dict(item[0] for item in peercert["subject"])["commonName"] == "localhost"
        assert transport.get_extra_info("cipher") == sslobj.cipher()
        assert transport.get_extra_info("compression") == sslobj.compression()
        # The raw transport's information shows through.
        assert transport.get_extra_info("peername") == ("127.0.0.1", port)
        assert transport.get_extra_info("sockname")[0] == "127.0.0.1"
        assert transport.get_extra_info("socket") is not None
        assert transport.get_extra_info("no such thing", "fallback") == "fallback"
        assert "ssl" in type(transport).__name__.lower()

        await servers[0].made
        server_side = servers[0].transport
        assert server_side.get_extra_info("sslcontext") is server_ctx
        assert server_side.get_extra_info("ssl_object").server_side
        assert not server_side.get_extra_info("peercert")  # no client certificate asked
        assert server_side.get_extra_info("peername") == transport.get_extra_info("sockname")

        transport.close()
        await client.lost
        await close_server(server)

    run(loop, main())


# -- start_tls -------------------------------------------------------------------------------


class StartTLSServer(asyncio.Protocol):
    """Plain at first; on ``STARTTLS\\n`` answers ``OK\\n``, upgrades, then says ``welcome``.

    What arrives after the upgrade is only recorded: an echo could race the
    upgrade (data can arrive before ``start_tls`` returns the new transport).
    """

    def __init__(self, loop: Loop) -> None:
        self.loop = loop
        self.transport: Any = None
        self.upgraded: asyncio.Future[Any] = loop.create_future()
        self.made = 0
        self.secure_data = bytearray()
        self.received = asyncio.Event()

    def connection_made(self, transport: Any) -> None:
        self.made += 1
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        if data == b"STARTTLS\n" and self.made == 1 and not self.secure_data:
            self.transport.write(b"OK\n")
            self.loop.create_task(self._upgrade())
        else:
            self.secure_data += data
            self.received.set()

    async def _upgrade(self) -> None:
        try:
            self.transport = await self.loop.start_tls(
                self.transport, self, server_context(), server_side=True
            )
        except BaseException as exc:
            self.upgraded.set_exception(exc)
        else:
            self.transport.write(b"welcome")
            self.upgraded.set_result(self.transport)

    async def wait_for_bytes(self, count: int) -> bytes:
        while len(self.secure_data) < count:
            self.received.clear()
            await self.received.wait()
        return bytes(self.secure_data)


def test_start_tls_upgrades_a_plain_connection(loop: Loop) -> None:
    _skip_if_start_tls_missing(loop)

    async def main() -> None:
        servers: list[StartTLSServer] = []

        def factory() -> StartTLSServer:
            servers.append(StartTLSServer(loop))
            return servers[-1]

        server = await loop.create_server(factory, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        plain, client = await loop.create_connection(lambda: Recorder(loop), "127.0.0.1", port)
        plain.write(b"STARTTLS\n")
        assert await client.wait_for_bytes(3) == b"OK\n"
        client.data.clear()
        secure = await loop.start_tls(plain, client, client_context(), server_hostname="localhost")
        assert secure is not None and secure is not plain
        assert isinstance(secure.get_extra_info("ssl_object"), ssl.SSLObject)
        assert await client.wait_for_bytes(7) == b"welcome"
        secure.write(b"over TLS")
        assert await servers[0].wait_for_bytes(8) == b"over TLS"
        assert client.events.count("made") == 1  # start_tls makes no second connection_made
        server_transport = await servers[0].upgraded
        assert servers[0].made == 1
        assert server_transport.get_extra_info("ssl_object").server_side
        secure.close()
        assert await client.lost is None
        await close_server(server)

    run(loop, main())


def test_start_tls_argument_checks(loop: Loop) -> None:
    _skip_if_start_tls_missing(loop)

    async def main() -> None:
        with pytest.raises(TypeError, match="SSLContext"):
            await loop.start_tls(None, None, None)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="is not supported"):
            await loop.start_tls(None, None, client_context())  # type: ignore[arg-type]

    run(loop, main())


def test_start_tls_failure_closes_the_connection(loop: Loop) -> None:
    _skip_if_start_tls_missing(loop)

    async def main() -> None:
        server = await loop.create_server(lambda: Echo(loop), "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        plain, client = await loop.create_connection(lambda: Recorder(loop), "127.0.0.1", port)
        # The echo server reflects our ClientHello: garbage to a TLS client.
        with pytest.raises((ssl.SSLError, ConnectionError)):
            await loop.start_tls(plain, client, client_context(), server_hostname="localhost")
        assert plain.is_closing()
        await close_server(server)

    run(loop, main())


# -- glassloop's TLSProtocol over any loop's transports ---------------------------------------


def test_tls_protocol_over_this_loops_own_transport(loop: Loop) -> None:
    """The lead's create_connection flow, by hand: waiter, TLSProtocol, raw transport."""

    async def main() -> None:
        server, port = await tls_server(loop, lambda: Echo(loop))
        waiter: asyncio.Future[None] = loop.create_future()
        app = Recorder(loop)
        tls = TLSProtocol(loop, app, client_context(), waiter, server_hostname="localhost")
        sock = socket.create_connection(("127.0.0.1", port))
        sock.setblocking(False)
        raw, _ = await loop.create_connection(lambda: tls, sock=sock)
        await waiter
        transport = tls.app_transport
        assert app.transport is transport
        transport.write(b"through glassloop's TLS layer")
        assert await app.wait_for_bytes(29) == b"through glassloop's TLS layer"
        # pause/resume reach the raw transport
        transport.pause_reading()
        assert not transport.is_reading() and not raw.is_reading()
        transport.resume_reading()
        assert transport.is_reading() and raw.is_reading()
        transport.close()
        assert await app.lost is None
        assert raw.is_closing()
        await close_server(server)

    run(loop, main())


@pytest.mark.skip_loop(
    "uvloop", reason="uvloop's TCPTransport does not mark itself _start_tls_compatible"
)
def test_glassloop_start_tls_over_this_loops_transport(loop: Loop) -> None:
    async def main() -> None:
        servers: list[StartTLSServer] = []

        def factory() -> StartTLSServer:
            servers.append(StartTLSServer(loop))
            return servers[-1]

        server = await loop.create_server(factory, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        # The server side upgrades with the loop's own start_tls, where there is one.
        if type(loop).start_tls is asyncio.AbstractEventLoop.start_tls:
            pytest.xfail("this loop does not provide start_tls yet")
        plain, client = await loop.create_connection(lambda: Recorder(loop), "127.0.0.1", port)
        plain.write(b"STARTTLS\n")
        assert await client.wait_for_bytes(3) == b"OK\n"
        client.data.clear()
        secure = await glassloop_start_tls(
            loop, plain, client, client_context(), server_hostname="localhost"
        )
        assert await client.wait_for_bytes(7) == b"welcome"
        secure.write(b"ping")
        assert await servers[0].wait_for_bytes(4) == b"ping"
        secure.close()
        assert await client.lost is None
        await close_server(server)

    run(loop, main())


def test_start_tls_over_tls(loop: Loop) -> None:
    """TLS inside TLS (a proxy's CONNECT tunnel, say): start_tls on a TLS transport."""
    _skip_if_start_tls_missing(loop)

    async def main() -> None:
        servers: list[StartTLSServer] = []

        def factory() -> StartTLSServer:
            servers.append(StartTLSServer(loop))
            return servers[-1]

        server, port = await tls_server(loop, factory)
        outer, client = await loop.create_connection(
            lambda: Recorder(loop),
            "127.0.0.1",
            port,
            ssl=client_context(),
            server_hostname="localhost",
        )
        outer.write(b"STARTTLS\n")
        assert await client.wait_for_bytes(3) == b"OK\n"
        client.data.clear()
        inner = await loop.start_tls(outer, client, client_context(), server_hostname="localhost")
        assert inner is not None
        assert await client.wait_for_bytes(7) == b"welcome"
        inner.write(b"two layers deep")
        assert await servers[0].wait_for_bytes(15) == b"two layers deep"
        assert inner.get_extra_info("ssl_object") is not outer.get_extra_info("ssl_object")
        inner.close()
        assert await client.lost is None
        await close_server(server)

    run(loop, main())


# -- errors and re-entrancy -------------------------------------------------------------------


class Reentrant(Recorder):
    """Closes (or aborts) its transport from inside data_received, after writing."""

    def __init__(self, loop: Loop, how: str) -> None:
        super().__init__(loop)
        self.how = how
        self.depth = 0
        self.max_depth = 0

    def data_received(self, data: bytes) -> None:
        self.depth += 1
        self.max_depth = max(self.max_depth, self.depth)
        try:
            super().data_received(data)
            self.transport.write(b"last words")
            getattr(self.transport, self.how)()
        finally:
            self.depth -= 1


@pytest.mark.parametrize("how", ["close", "abort"])
def test_closing_from_inside_data_received(loop: Loop, how: str) -> None:
    async def main() -> None:
        servers: list[Reentrant] = []

        def factory() -> Reentrant:
            servers.append(Reentrant(loop, how))
            return servers[-1]

        server, port = await tls_server(loop, factory)
        transport, client = await loop.create_connection(
            lambda: Recorder(loop),
            "127.0.0.1",
            port,
            ssl=client_context(),
            server_hostname="localhost",
        )
        transport.write(b"a" * 100_000)
        await servers[0].lost
        assert servers[0].max_depth == 1  # data_received never nested
        assert servers[0].events.count("lost") == 1
        await client.lost
        if how == "close":
            assert client.data == b"last words"  # a graceful close flushes
        await close_server(server)

    run(loop, main())


class Failing(Recorder):
    def data_received(self, data: bytes) -> None:
        raise RuntimeError("the application broke")


def test_an_application_error_is_reported_and_ends_the_connection(loop: Loop) -> None:
    async def main() -> None:
        handled: list[dict[str, Any]] = []
        loop.set_exception_handler(lambda lp, context: handled.append(context))
        servers: list[Failing] = []

        def factory() -> Failing:
            servers.append(Failing(loop))
            return servers[-1]

        server, port = await tls_server(loop, factory)
        transport, client = await loop.create_connection(
            lambda: Recorder(loop),
            "127.0.0.1",
            port,
            ssl=client_context(),
            server_hostname="localhost",
        )
        transport.write(b"boom")
        exc = await servers[0].lost
        assert isinstance(exc, RuntimeError)
        assert [type(context.get("exception")) for context in handled] == [RuntimeError]
        await client.lost
        await close_server(server)

    run(loop, main())
