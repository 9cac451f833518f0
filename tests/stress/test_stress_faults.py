"""Misbehaving peers and failing callbacks: the loop serves on and blames the right one.

Every connection here starts with an 8-byte header, a kind letter and a
7-digit id, so one server can treat peers differently and a client can find
its own server-side protocol (server and clients share this process and this
loop: the clients must react to server-side events, such as "the server is
now paused", which only one process can observe without sleeps).

Peer kinds in the mixed run:

- ``E`` echoes messages, half before and half after the faults happened;
- ``S`` reads slowly: it keeps reading paused until the server's write
  buffer crosses the high-water mark (``pause_writing``), reads until the
  server resumes (``resume_writing``), pauses again, and so on;
- ``R`` never reads and resets the connection (``SO_LINGER`` 0, then close)
  while the server is mid-write with a full buffer;
- ``H`` sends data and half-closes (``write_eof``); the server answers after
  the EOF, then closes.

Only the ``R`` connections may end in ``connection_lost(exc)``; nobody may
call the exception handler. A second test makes ``data_received`` raise on
some connections: each exception must reach the exception handler once and
end only its own connection, with ``connection_lost`` given that exception.
A third closes from inside ``resume_writing`` once the buffer has drained,
which must end the connection once (glassloop called ``connection_lost``
twice there until 2d963e5).
"""

from __future__ import annotations

import asyncio
import random
import socket
import struct
import zlib
from collections.abc import Callable
from typing import Any, cast

import pytest
from stress_support import (
    BACKLOG,
    Dialer,
    EchoClient,
    HandlerCalls,
    Size,
    ensure_fd_limit,
    message_sizes,
)

HEADER_SIZE = 8
#: Small kernel buffers on the slow side, so the server's own buffer, not the
#: kernel's, absorbs the backlog and pause_writing comes after KiBs, not MiBs.
KERNEL_BUFFER = 32 * 1024
#: Bytes the server hands the transport per write while streaming.
STREAM_CHUNK = 48 * 1024
#: The pool that streamed chunks are sliced from (random, so CRCs mean something).
STREAM_POOL = random.Random(3).randbytes(1 << 20)
#: Bytes each half-closing peer sends before its EOF.
HALF_CLOSE_BYTES = 200_000
ECHO_MESSAGES = 4


def header(kind: str, ident: int) -> bytes:
    return kind.encode() + b"%07d" % ident


class NotLost:
    """Sentinel: connection_lost has not been called (None is a clean loss)."""


NOT_LOST = NotLost()


class Registry:
    """Server-side protocols by client id, so a client can wait on its peer's state."""

    def __init__(self) -> None:
        self._servers: dict[int, asyncio.Future[PeerServer]] = {}
        self.all: list[PeerServer] = []

    def _slot(self, ident: int) -> asyncio.Future[PeerServer]:
        if ident not in self._servers:
            self._servers[ident] = asyncio.get_running_loop().create_future()
        return self._servers[ident]

    def arrived(self, server: PeerServer) -> None:
        self.all.append(server)
        self._slot(server.ident).set_result(server)

    async def server(self, ident: int) -> PeerServer:
        return await self._slot(ident)


class PeerServer(asyncio.Protocol):
    """One server-side connection; what it does depends on the peer's header."""

    def __init__(self, registry: Registry, stream_bytes: int) -> None:
        self.registry = registry
        self.stream_bytes = stream_bytes
        self.transport: asyncio.Transport | None = None
        self.kind = ""
        self.ident = -1
        self._head = bytearray()
        self.received_bytes = 0
        self.received_crc = 0
        self.written_bytes = 0
        self.written_crc = 0
        self.pauses = 0
        self.resumes = 0
        self.paused = False
        self.finished = False  # everything handed to the transport, close() called
        self.eof = False
        self.lost: BaseException | NotLost | None = NOT_LOST
        self.changed = asyncio.Event()

    async def wait_until(self, predicate: Callable[[], bool]) -> None:
        """Wait for ``predicate`` (checked after every state change) or the loss."""
        while not predicate():
            if self.lost is not NOT_LOST:
                raise AssertionError(f"{self.kind}{self.ident} lost early: {self.lost!r}")
            self.changed.clear()
            await self.changed.wait()

    async def wait_lost(self) -> None:
        while self.lost is NOT_LOST:
            self.changed.clear()
            await self.changed.wait()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        if not self.kind:
            self._head += data
            if len(self._head) < HEADER_SIZE:
                return
            head, data = bytes(self._head[:HEADER_SIZE]), bytes(self._head[HEADER_SIZE:])
            self.kind, self.ident = head[:1].decode(), int(head[1:])
            self.registry.arrived(self)
            self.started()
            if not data:
                return
        self.received_bytes += len(data)
        self.received_crc = zlib.crc32(data, self.received_crc)
        self.payload(data)

    def started(self) -> None:
        if self.kind in "SR":
            assert self.transport is not None
            self.transport.get_extra_info("socket").setsockopt(
                socket.SOL_SOCKET, socket.SO_SNDBUF, KERNEL_BUFFER
            )
            self._stream()

    def payload(self, data: bytes) -> None:
        assert self.transport is not None
        if self.kind in "EH":
            self.transport.write(data)

    def _stream(self) -> None:
        """Write until paused; a slow reader's stream ends, a resetter's never does."""
        assert self.transport is not None
        endless = self.kind == "R"
        while not self.paused and not self.finished:
            offset = self.written_bytes % (len(STREAM_POOL) - STREAM_CHUNK)
            n = (
                STREAM_CHUNK
                if endless
                else min(STREAM_CHUNK, self.stream_bytes - self.written_bytes)
            )
            chunk = STREAM_POOL[offset : offset + n]
            self.written_bytes += n
            self.written_crc = zlib.crc32(chunk, self.written_crc)
            self.transport.write(chunk)  # may call pause_writing
            if not endless and self.written_bytes >= self.stream_bytes:
                self.finished = True
                # close() flushes what is buffered first. Called soon rather
                # than now: from inside resume_writing with an empty buffer,
                # asyncio's own transport breaks (see CloseOnResume below).
                asyncio.get_running_loop().call_soon(self.transport.close)
                self.changed.set()

    def pause_writing(self) -> None:
        self.paused = True
        self.pauses += 1
        self.changed.set()

    def resume_writing(self) -> None:
        self.paused = False
        self.resumes += 1
        self.changed.set()
        if self.kind in "SR":
            self._stream()

    def eof_received(self) -> bool:
        assert self.transport is not None
        self.eof = True
        self.changed.set()
        if self.kind != "H":
            return False  # the transport closes itself
        # Still writable after the peer's EOF: answer, then close.
        self.transport.write(b"|%d:%d" % (self.received_bytes, self.received_crc))
        self.transport.close()
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = exc
        self.changed.set()


class Collector(asyncio.Protocol):
    """Client side that keeps everything it receives and says when the connection ended."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.data = bytearray()
        self.closed: asyncio.Future[BaseException | None] = (
            asyncio.get_running_loop().create_future()
        )

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self.data += data

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed.set_result(exc)


async def echo_peer(dialer: Dialer, ident: int, faults_done: asyncio.Event) -> BaseException | None:
    """Half the messages before the faults, half after: the loop must still serve."""
    transport, client = await dialer.connect(EchoClient)
    transport.write(header("E", ident))
    rng = random.Random(ident)
    sizes = message_sizes(rng, ECHO_MESSAGES)
    for i, nbytes in enumerate(sizes):
        if i == len(sizes) // 2:
            await faults_done.wait()
        await client.exchange(rng.randbytes(nbytes))
    transport.close()
    return await client.closed


async def slow_reader(
    dialer: Dialer, ident: int, registry: Registry
) -> tuple[int, int, BaseException | None]:
    """Read only while the server is paused: returns (bytes, crc, connection_lost arg)."""
    transport, client = await dialer.connect(Collector)
    transport.get_extra_info("socket").setsockopt(
        socket.SOL_SOCKET, socket.SO_RCVBUF, KERNEL_BUFFER
    )
    transport.pause_reading()
    transport.write(header("S", ident))
    server = await registry.server(ident)
    seen = 0  # pause_writing calls we have answered by reading

    def paused_again() -> bool:
        return server.pauses > seen or server.finished

    def resumed() -> bool:
        return server.resumes >= seen

    while True:
        await server.wait_until(paused_again)
        if server.pauses == seen:
            break  # everything written without pausing again
        seen = server.pauses
        transport.resume_reading()
        await server.wait_until(resumed)
        transport.pause_reading()
    transport.resume_reading()
    lost = await client.closed
    return len(client.data), zlib.crc32(client.data), lost


async def resetter(dialer: Dialer, ident: int, registry: Registry) -> BaseException | None:
    """Reset the connection while the server has a full write buffer."""
    transport, client = await dialer.connect(Collector)
    transport.pause_reading()
    transport.write(header("R", ident))
    server = await registry.server(ident)
    await server.wait_until(lambda: server.pauses > 0)
    assert server.transport is not None
    assert server.transport.get_write_buffer_size() > 0, "the server should be mid-write"
    sock = transport.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()  # linger 0: RST, not FIN
    return await client.closed


async def half_closer(dialer: Dialer, ident: int) -> tuple[bytes, BaseException | None]:
    """Send, write_eof, and collect what the server sends after it: (bytes, lost arg)."""
    transport, client = await dialer.connect(Collector)
    transport.write(header("H", ident))
    data = random.Random(ident).randbytes(HALF_CLOSE_BYTES)
    for start in range(0, len(data), 30_000):
        transport.write(data[start : start + 30_000])
    transport.write_eof()
    lost = await client.closed
    return bytes(client.data), lost


def test_slow_resetting_and_half_closing_peers_affect_only_themselves(
    loop: asyncio.AbstractEventLoop, handler_calls: HandlerCalls, size: Size
) -> None:
    n = size.fault_peers
    reason = ensure_fd_limit(8 * n + 256)
    if reason is not None:
        pytest.skip(f"{size.name} size: {reason}")
    registry = Registry()

    async def main() -> dict[str, list[Any]]:
        server = await loop.create_server(
            lambda: PeerServer(registry, size.slow_reader_bytes), "127.0.0.1", 0, backlog=BACKLOG
        )
        dialer = Dialer(server.sockets[0].getsockname()[1])
        faults_done = asyncio.Event()
        try:
            async with asyncio.timeout(size.timeout):

                async def faults() -> list[Any]:
                    results = await asyncio.gather(
                        *(resetter(dialer, 1000 + i, registry) for i in range(n))
                    )
                    # The server must have seen every reset before echoes go on.
                    for peer in registry.all:
                        if peer.kind == "R":
                            await peer.wait_lost()
                    faults_done.set()
                    return results

                groups = await asyncio.gather(
                    asyncio.gather(*(echo_peer(dialer, i, faults_done) for i in range(n))),
                    asyncio.gather(*(slow_reader(dialer, 2000 + i, registry) for i in range(n))),
                    faults(),
                    asyncio.gather(*(half_closer(dialer, 3000 + i) for i in range(n))),
                )
                for peer in registry.all:
                    await peer.wait_lost()
        finally:
            server.close()
            await server.wait_closed()
        return dict(zip("ESRH", groups, strict=True))

    clients = loop.run_until_complete(main())

    by_kind: dict[str, list[PeerServer]] = {kind: [] for kind in "ESRH"}
    for peer in registry.all:
        by_kind[peer.kind].append(peer)
    assert {kind: len(peers) for kind, peers in by_kind.items()} == dict.fromkeys("ESRH", n)

    # Echo peers: every message echoed (checked as they went), clean closes.
    assert clients["E"] == [None] * n
    assert [p.lost for p in by_kind["E"]] == [None] * n

    # Slow readers: the server paused and resumed, repeatedly, and nothing was lost.
    for peer in by_kind["S"]:
        assert peer.pauses >= 2, f"slow reader {peer.ident}: only {peer.pauses} pause_writing"
        assert peer.resumes == peer.pauses
        assert peer.lost is None
    streamed = sorted((p.ident, p.written_bytes, p.written_crc) for p in by_kind["S"])
    received = [(2000 + i, nbytes, crc) for i, (nbytes, crc, _) in enumerate(clients["S"])]
    assert received == streamed
    assert all(nbytes == size.slow_reader_bytes for _, nbytes, _ in streamed)
    assert [lost for _, _, lost in clients["S"]] == [None] * n

    # Resetters: the error went to their own server protocols and nowhere else.
    for peer in by_kind["R"]:
        assert isinstance(peer.lost, (ConnectionResetError, BrokenPipeError)), peer.lost
    assert clients["R"] == [None] * n  # abort() is a clean loss on our side

    # Half-closers: the server answered after their EOF, then closed cleanly.
    for i, (data, lost) in enumerate(clients["H"]):
        sent = random.Random(3000 + i).randbytes(HALF_CLOSE_BYTES)
        assert data == sent + b"|%d:%d" % (len(sent), zlib.crc32(sent))
        assert lost is None
    assert all(p.eof and p.lost is None for p in by_kind["H"])

    # Resets are the peer's business: nothing for the exception handler.
    assert handler_calls == []


class Boom(Exception):
    """Raised on purpose by a protocol callback."""


class FaultyEcho(PeerServer):
    """An echo server whose ``F`` connections raise in their first payload ``data_received``."""

    raised: Boom | None = None

    def payload(self, data: bytes) -> None:
        if self.kind == "F":
            self.raised = Boom(f"faulty connection {self.ident}")
            raise self.raised
        super().payload(data)


async def faulty_peer(dialer: Dialer, ident: int) -> BaseException | None:
    """Send one message that makes the server raise: the server must drop us."""
    transport, client = await dialer.connect(EchoClient)
    transport.write(header("F", ident))
    with pytest.raises(ConnectionError):
        await client.exchange(b"raise, please")
    lost = await client.closed
    transport.close()
    return lost


def test_exception_in_data_received_reaches_handler_and_only_its_connection(
    loop: asyncio.AbstractEventLoop, size: Size
) -> None:
    n = size.exception_connections
    nfaulty = n // 5
    reason = ensure_fd_limit(2 * n + 256)
    if reason is not None:
        pytest.skip(f"{size.name} size: {reason}")
    registry = Registry()
    contexts: list[dict[str, Any]] = []
    all_reported = asyncio.Event()

    def handler(_: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        contexts.append(context)
        if len(contexts) >= nfaulty:
            all_reported.set()

    loop.set_exception_handler(handler)

    async def main() -> list[Any]:
        server = await loop.create_server(
            lambda: FaultyEcho(registry, 0), "127.0.0.1", 0, backlog=BACKLOG
        )
        dialer = Dialer(server.sockets[0].getsockname()[1])
        try:
            async with asyncio.timeout(size.timeout):

                async def faults() -> list[BaseException | None]:
                    results = await asyncio.gather(
                        *(faulty_peer(dialer, 10_000 + i) for i in range(nfaulty))
                    )
                    await all_reported.wait()
                    return results

                healthy, faulty = await asyncio.gather(
                    asyncio.gather(
                        *(echo_peer(dialer, i, all_reported) for i in range(n - nfaulty))
                    ),
                    faults(),
                )
                for peer in registry.all:
                    await peer.wait_lost()
                # Still running, still serving: one more full echo after all of it.
                assert await echo_peer(dialer, 99_999, all_reported) is None
                # Its server side too has seen the client go (nothing above
                # waits for that, and server.wait_closed() does not on 3.11).
                await registry.all[-1].wait_lost()
        finally:
            server.close()
            await server.wait_closed()
        return [healthy, faulty]

    healthy, faulty = loop.run_until_complete(main())

    peers = cast(list[FaultyEcho], registry.all)
    raisers = [p for p in peers if p.kind == "F"]
    assert len(raisers) == nfaulty and len(peers) == n + 1
    # Each exception reached the handler exactly once, with its own protocol.
    assert len(contexts) == nfaulty
    assert {id(c["exception"]) for c in contexts} == {id(p.raised) for p in raisers}
    for context in contexts:
        assert isinstance(context["exception"], Boom)
        owner = next(p for p in raisers if p.raised is context["exception"])
        assert context.get("protocol", owner) is owner
    # ... and ended its own connection, with connection_lost(that exception).
    for peer in raisers:
        assert peer.lost is peer.raised
    assert all(p.lost is None for p in peers if p.kind == "E")
    assert healthy == [None] * (n - nfaulty)
    assert len(faulty) == nfaulty


class CloseOnResume(asyncio.Protocol):
    """Writes more than the kernel takes, then closes from inside ``resume_writing``.

    With a low-water mark of 0, ``resume_writing`` comes only once the buffer
    is empty, so ``close()`` there has nothing left to flush: the transport
    must end the connection once, not once for ``close()`` and again for
    the drained buffer.
    """

    def __init__(self, nbytes: int) -> None:
        self.nbytes = nbytes
        self.transport: asyncio.Transport | None = None
        self.paused = False
        self.lost_calls: list[BaseException | None] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self.transport.get_extra_info("socket").setsockopt(
            socket.SOL_SOCKET, socket.SO_SNDBUF, KERNEL_BUFFER
        )
        self.transport.set_write_buffer_limits(high=4096, low=0)
        self.transport.write(STREAM_POOL[: self.nbytes])
        if not self.paused:  # the test then fails on `paused` instead of hanging
            self.transport.close()

    def pause_writing(self) -> None:
        self.paused = True

    def resume_writing(self) -> None:
        assert self.transport is not None
        assert self.transport.get_write_buffer_size() == 0
        self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost_calls.append(exc)


@pytest.mark.skip_loop(
    "asyncio",
    reason="CPython's selector transport (3.11-3.13) runs _call_connection_lost twice "
    "here: connection_lost once, then an AttributeError goes to the exception handler",
)
def test_close_inside_resume_writing_ends_the_connection_once(
    loop: asyncio.AbstractEventLoop, handler_calls: HandlerCalls, size: Size
) -> None:
    n = size.fault_peers
    nbytes = len(STREAM_POOL)
    servers: list[CloseOnResume] = []

    def factory() -> CloseOnResume:
        servers.append(CloseOnResume(nbytes))
        return servers[-1]

    async def read_all(dialer: Dialer) -> tuple[int, BaseException | None]:
        _, client = await dialer.connect(Collector)
        lost = await client.closed
        return len(client.data), lost

    async def main() -> list[tuple[int, BaseException | None]]:
        server = await loop.create_server(factory, "127.0.0.1", 0, backlog=BACKLOG)
        dialer = Dialer(server.sockets[0].getsockname()[1])
        try:
            async with asyncio.timeout(size.timeout):
                results = await asyncio.gather(*(read_all(dialer) for _ in range(n)))
                # A second connection_lost would have been queued with call_soon
                # before the clients saw EOF; a callback queued now runs after it.
                turn = loop.create_future()
                loop.call_soon(turn.set_result, None)
                await turn
        finally:
            server.close()
            await server.wait_closed()
        return results

    results = loop.run_until_complete(main())

    assert results == [(nbytes, None)] * n
    assert all(s.paused for s in servers), "the write must outgrow the kernel buffers"
    assert [s.lost_calls for s in servers] == [[None]] * n
    assert handler_calls == []
