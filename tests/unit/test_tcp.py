"""TCP: ``create_connection``, ``create_server``, ``Server`` and the stream transport.

Each test checks one of asyncio's documented promises on loopback, on every
loop.  Where the peer's behaviour matters (it doesn't read, it resets, it
half-closes) the peer is a plain socket the test drives by hand, so the
transport under test is the only thing the loop is doing.
"""

from __future__ import annotations

import array
import asyncio
import errno
import gc
import socket
import ssl
import sys
import time
import warnings
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from transport_kit import (
    WAIT,
    BufferedRecorder,
    Loop,
    Recorder,
    closed_port,
    connect_to_raw_peer,
    payload,
    recv_exactly,
    recv_until_eof,
    reset,
    tcp_listener,
    wait_until,
)

#: Big enough that the kernel's socket buffers can't swallow it: the transport must buffer.
BIG = 8 * 1024 * 1024

UVLOOP_RESOLVES_ITSELF = (
    "uvloop resolves host names in libuv, not through loop.getaddrinfo, so a "
    "custom resolution can't be injected"
)


def has_ipv6() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as sock:
            sock.bind(("::1", 0))
    except OSError:
        return False
    return True


needs_ipv6 = pytest.mark.skipif(not has_ipv6(), reason="no IPv6 loopback here")


class Accepted:
    """A protocol factory for servers that keeps every protocol it made."""

    def __init__(self, loop: Loop, **options: Any) -> None:
        self.loop = loop
        self.options = options
        self.protocols: list[Recorder] = []

    def __call__(self) -> Recorder:
        proto = Recorder(self.loop, **self.options)
        self.protocols.append(proto)
        return proto

    async def first(self) -> Recorder:
        await wait_until(lambda: bool(self.protocols))
        proto = self.protocols[0]
        await asyncio.wait_for(proto.made, WAIT)
        return proto


def addrinfo(host: str, port: int) -> tuple[Any, ...]:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    address: tuple[Any, ...] = (host, port, 0, 0) if ":" in host else (host, port)
    return (family, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", address)


def resolve_to(monkeypatch: pytest.MonkeyPatch, loop: Loop, infos: list[tuple[Any, ...]]) -> str:
    """Make the loop's public ``getaddrinfo`` answer ``infos`` for a made-up name."""
    name = "multi.glassloop.test"
    real = loop.getaddrinfo

    async def getaddrinfo(host: Any, port: Any, **kwargs: Any) -> list[tuple[Any, ...]]:
        if host == name:
            return list(infos)
        return await real(host, port, **kwargs)

    monkeypatch.setattr(loop, "getaddrinfo", getaddrinfo)
    return name


@contextmanager
def unanswered_address() -> Iterator[tuple[str, int]]:
    """A loopback address where a connect neither succeeds nor fails: it just waits.

    A listener with a full accept queue drops new SYNs, so the connecting side
    sits in SYN_SENT -- a local stand-in for an unreachable host.
    """
    import select

    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    fillers: list[socket.socket] = []
    try:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        address = listener.getsockname()
        for _ in range(16):
            filler = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            fillers.append(filler)
            filler.setblocking(False)
            try:
                filler.connect(address)
            except BlockingIOError:
                pass
            _, writable, _ = select.select([], [filler], [], 0.05)
            if not writable:
                break
        else:
            pytest.skip("could not fill a listen queue on this host")
        yield address
    finally:
        for filler in fillers:
            filler.close()
        listener.close()


# -- create_server / create_connection ---------------------------------------------------


def test_connection_and_server_on_host_and_port_exchange_bytes(loop: Loop) -> None:
    async def main() -> None:
        accepted = Accepted(loop)
        server = await loop.create_server(accepted, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        client = Recorder(loop)
        transport, proto = await loop.create_connection(lambda: client, "127.0.0.1", port)
        assert proto is client and client.transport is transport
        assert client.events == ["made"]  # connection_made ran before the coroutine returned
        srv = await accepted.first()
        transport.write(b"ping")
        assert await srv.received(4) == b"ping"
        srv.transport.write(b"pong")
        assert await client.received(4) == b"pong"
        transport.close()
        assert await asyncio.wait_for(client.lost, WAIT) is None
        await asyncio.wait_for(srv.lost, WAIT)
        assert srv.events == ["made", "data", "eof", "lost"]
        server.close()
        await server.wait_closed()

    loop.run_until_complete(main())


def test_create_connection_resolves_a_host_name(loop: Loop) -> None:
    async def main() -> None:
        server = await loop.create_server(asyncio.Protocol, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        transport, _ = await loop.create_connection(
            asyncio.Protocol, "localhost", port, family=socket.AF_INET
        )
        assert transport.get_extra_info("peername") == ("127.0.0.1", port)
        transport.close()
        server.close()
        await server.wait_closed()

    loop.run_until_complete(main())


def test_create_connection_on_a_connected_sock(loop: Loop) -> None:
    async def main() -> None:
        with tcp_listener() as listener:
            sock = socket.create_connection(listener.getsockname())
            peer, _ = listener.accept()
            with peer:
                client = Recorder(loop)
                transport, _ = await loop.create_connection(lambda: client, sock=sock)
                assert transport.get_extra_info("socket").fileno() == sock.fileno()
                assert sock.gettimeout() == 0  # the loop made it non-blocking
                peer.sendall(b"hello")
                assert await client.received(5) == b"hello"
                transport.close()
                await asyncio.wait_for(client.lost, WAIT)
        assert sock.fileno() == -1  # the transport owned it, and closed it

    loop.run_until_complete(main())


def test_create_server_on_a_listening_sock(loop: Loop) -> None:
    async def main() -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        accepted = Accepted(loop)
        server = await loop.create_server(accepted, sock=sock)
        assert [s.getsockname() for s in server.sockets] == [sock.getsockname()]
        transport, _ = await loop.create_connection(asyncio.Protocol, *sock.getsockname())
        transport.write(b"x")
        assert await (await accepted.first()).received(1) == b"x"
        transport.close()
        server.close()
        await server.wait_closed()
        assert sock.fileno() == -1  # closing the server closed the socket it was given

    loop.run_until_complete(main())


def test_create_connection_binds_local_addr(loop: Loop) -> None:
    async def main() -> None:
        with tcp_listener() as listener:
            local_port = closed_port()
            transport, _ = await loop.create_connection(
                asyncio.Protocol, *listener.getsockname(), local_addr=("127.0.0.1", local_port)
            )
            peer, address = listener.accept()
            peer.close()
            assert transport.get_extra_info("sockname") == ("127.0.0.1", local_port)
            assert address == ("127.0.0.1", local_port)
            transport.close()

    loop.run_until_complete(main())


def test_create_connection_local_addr_in_use_fails_with_the_address(loop: Loop) -> None:
    async def main() -> None:
        with tcp_listener() as listener, tcp_listener() as taken:
            with pytest.raises(OSError) as info:
                await loop.create_connection(
                    asyncio.Protocol, *listener.getsockname(), local_addr=taken.getsockname()
                )
            assert info.value.errno == errno.EADDRINUSE

    loop.run_until_complete(main())


@needs_ipv6
def test_create_server_on_several_hosts_listens_on_each(loop: Loop) -> None:
    async def main() -> None:
        port = closed_port()
        server = await loop.create_server(asyncio.Protocol, ["127.0.0.1", "::1"], port)
        families = sorted(s.family for s in server.sockets)
        assert families == sorted([socket.AF_INET, socket.AF_INET6])
        for host in ("127.0.0.1", "::1"):
            transport, _ = await loop.create_connection(asyncio.Protocol, host, port)
            transport.close()
        v6 = next(s for s in server.sockets if s.family == socket.AF_INET6)
        assert v6.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY)  # no clash with v4
        server.close()
        await server.wait_closed()

    loop.run_until_complete(main())


@pytest.mark.skipif(not hasattr(socket, "SO_REUSEPORT"), reason="no SO_REUSEPORT")
def test_create_server_reuse_port_lets_two_servers_share_a_port(loop: Loop) -> None:
    async def main() -> None:
        first = await loop.create_server(asyncio.Protocol, "127.0.0.1", 0, reuse_port=True)
        port = first.sockets[0].getsockname()[1]
        assert first.sockets[0].getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT)
        second = await loop.create_server(asyncio.Protocol, "127.0.0.1", port, reuse_port=True)
        assert second.sockets[0].getsockname()[1] == port
        with pytest.raises(OSError) as info:
            await loop.create_server(asyncio.Protocol, "127.0.0.1", port)
        assert info.value.errno == errno.EADDRINUSE
        for server in (first, second):
            server.close()
            await server.wait_closed()

    loop.run_until_complete(main())


def test_start_serving_false_waits_for_start_serving(loop: Loop) -> None:
    async def main() -> None:
        accepted = Accepted(loop)
        server = await loop.create_server(accepted, "127.0.0.1", 0, start_serving=False)
        assert not server.is_serving()
        port = server.sockets[0].getsockname()[1]
        await server.start_serving()
        assert server.is_serving()
        await server.start_serving()  # a second call is harmless
        transport, _ = await loop.create_connection(asyncio.Protocol, "127.0.0.1", port)
        await accepted.first()
        transport.close()
        server.close()
        assert not server.is_serving()
        await server.wait_closed()

    loop.run_until_complete(main())


def test_serve_forever_serves_until_cancelled_then_closes_the_server(loop: Loop) -> None:
    async def main() -> None:
        accepted = Accepted(loop)
        server = await loop.create_server(accepted, "127.0.0.1", 0, start_serving=False)
        port = server.sockets[0].getsockname()[1]
        forever = asyncio.ensure_future(server.serve_forever())
        await asyncio.sleep(0)
        assert server.is_serving()
        with pytest.raises(RuntimeError):
            await server.serve_forever()  # only one serve_forever at a time
        transport, _ = await loop.create_connection(asyncio.Protocol, "127.0.0.1", port)
        (await accepted.first()).transport.close()
        transport.close()
        forever.cancel()
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(forever, WAIT)
        assert not server.is_serving()
        assert not server.sockets  # empty (uvloop: a list, asyncio: a tuple)
        with pytest.raises(RuntimeError):
            await server.serve_forever()  # closed servers can't serve

    loop.run_until_complete(main())


def test_server_close_stops_accepting_but_keeps_open_connections(loop: Loop) -> None:
    async def main() -> None:
        accepted = Accepted(loop)
        server = await loop.create_server(accepted, "127.0.0.1", 0)
        assert server.get_loop() is loop
        port = server.sockets[0].getsockname()[1]
        client = Recorder(loop)
        transport, _ = await loop.create_connection(lambda: client, "127.0.0.1", port)
        srv = await accepted.first()
        server.close()
        server.close()  # idempotent
        assert not server.is_serving()
        assert not server.sockets  # empty (uvloop: a list, asyncio: a tuple)
        with pytest.raises(ConnectionRefusedError):
            await loop.create_connection(asyncio.Protocol, "127.0.0.1", port)
        transport.write(b"still here")  # the accepted connection outlives the listener
        assert await srv.received(10) == b"still here"
        transport.close()
        await asyncio.wait_for(srv.lost, WAIT)
        await asyncio.wait_for(server.wait_closed(), WAIT)

    loop.run_until_complete(main())


@pytest.mark.skipif(sys.version_info < (3, 12), reason="3.11's wait_closed returns at close()")
@pytest.mark.skip_loop(
    "uvloop", reason="uvloop's wait_closed returns at close(), as asyncio did before 3.12"
)
def test_wait_closed_waits_for_the_last_connection(loop: Loop) -> None:
    async def main() -> None:
        accepted = Accepted(loop)
        server = await loop.create_server(accepted, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        transport, _ = await loop.create_connection(asyncio.Protocol, "127.0.0.1", port)
        srv = await accepted.first()
        server.close()
        waiting = asyncio.ensure_future(server.wait_closed())
        await asyncio.sleep(0.05)
        assert not waiting.done()  # a client is still connected
        srv.transport.close()
        await asyncio.wait_for(waiting, WAIT)
        transport.close()

    loop.run_until_complete(main())


@pytest.mark.skip_loop(
    "asyncio",
    reason="asyncio's Server._attach asserts the server is open: the connection is "
    "dropped without being closed, so the client waits until the garbage collector "
    "closes the socket (under python -O it is served, as here)",
)
@pytest.mark.skip_loop(
    "uvloop", reason="uvloop drops the connection and reports a TypeError from its Server"
)
def test_a_connection_accepted_as_the_server_closes_is_served(loop: Loop) -> None:
    """Accepted before close() but set up after it: a live connection like the others."""
    server: asyncio.AbstractServer | None = None
    accepted = Accepted(loop)

    def factory() -> Recorder:
        assert server is not None
        server.close()  # between the accept and the transport
        return accepted()

    async def main() -> None:
        nonlocal server
        errors: list[dict[str, Any]] = []
        loop.set_exception_handler(lambda _, context: errors.append(context))
        server = await loop.create_server(factory, "127.0.0.1", 0)
        client = Recorder(loop)
        transport, _ = await loop.create_connection(
            lambda: client, *server.sockets[0].getsockname()
        )
        srv = await accepted.first()
        srv.transport.write(b"served")
        assert await client.received(6) == b"served"
        waiting = asyncio.ensure_future(server.wait_closed())
        await asyncio.sleep(0.05)
        if sys.version_info >= (3, 12):
            assert not waiting.done()  # that connection is still open
        srv.transport.close()
        await asyncio.wait_for(waiting, WAIT)
        await asyncio.wait_for(client.lost, WAIT)
        transport.close()
        assert errors == []

    loop.run_until_complete(main())


@pytest.mark.skipif(sys.version_info < (3, 12), reason="3.11's wait_closed returns at close()")
@pytest.mark.skip_loop(
    "asyncio",
    condition=sys.version_info < (3, 13),
    reason="asyncio 3.12 attaches the transport to its server before the constructor "
    "can fail, and never detaches it: wait_closed hangs (3.13 forgets it at gc)",
)
def test_a_transport_that_fails_to_set_up_does_not_hold_wait_closed(loop: Loop) -> None:
    calls: list[int] = []

    def factory() -> Any:
        calls.append(1)
        return None  # a factory that forgot its return: no connection_made to call

    async def main() -> None:
        loop.set_exception_handler(lambda _, context: None)
        server = await loop.create_server(factory, "127.0.0.1", 0)
        transport, _ = await loop.create_connection(
            asyncio.Protocol, *server.sockets[0].getsockname()
        )
        await wait_until(lambda: bool(calls))
        await asyncio.sleep(0.01)  # the server side has given up on it by now
        gc.collect()
        server.close()
        await asyncio.wait_for(server.wait_closed(), WAIT)
        transport.close()

    loop.run_until_complete(main())


def test_server_as_async_context_manager_closes_on_exit(loop: Loop) -> None:
    async def main() -> None:
        server = await loop.create_server(asyncio.Protocol, "127.0.0.1", 0)
        async with server as entered:
            assert entered is server
            assert server.is_serving()
            port = server.sockets[0].getsockname()[1]
        assert not server.is_serving()
        with pytest.raises(ConnectionRefusedError):
            await loop.create_connection(asyncio.Protocol, "127.0.0.1", port)

    loop.run_until_complete(main())


UVLOOP_NO_CLOSE_CLIENTS = "uvloop's Server has no close_clients/abort_clients"


@pytest.mark.skipif(sys.version_info < (3, 13), reason="Server.close_clients is 3.13+")
@pytest.mark.skip_loop("uvloop", reason=UVLOOP_NO_CLOSE_CLIENTS)
def test_server_close_clients_closes_connections_gracefully(loop: Loop) -> None:
    async def main() -> None:
        accepted = Accepted(loop)
        server = await loop.create_server(accepted, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        client = Recorder(loop)
        await loop.create_connection(lambda: client, "127.0.0.1", port)
        srv = await accepted.first()
        srv.transport.write(b"last words")
        server.close()
        if sys.version_info >= (3, 13):
            server.close_clients()
        assert await asyncio.wait_for(srv.lost, WAIT) is None
        await asyncio.wait_for(client.lost, WAIT)
        assert client.data == b"last words"  # close, not abort: buffered data went out
        await asyncio.wait_for(server.wait_closed(), WAIT)

    loop.run_until_complete(main())


@pytest.mark.skipif(sys.version_info < (3, 13), reason="Server.abort_clients is 3.13+")
@pytest.mark.skip_loop("uvloop", reason=UVLOOP_NO_CLOSE_CLIENTS)
def test_server_abort_clients_drops_connections(loop: Loop) -> None:
    async def main() -> None:
        accepted = Accepted(loop)
        server = await loop.create_server(accepted, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        client = Recorder(loop)
        await loop.create_connection(lambda: client, "127.0.0.1", port)
        srv = await accepted.first()
        server.close()
        if sys.version_info >= (3, 13):
            server.abort_clients()
        assert await asyncio.wait_for(srv.lost, WAIT) is None
        await asyncio.wait_for(client.lost, WAIT)
        await asyncio.wait_for(server.wait_closed(), WAIT)

    loop.run_until_complete(main())


def test_connect_accepted_socket_wraps_a_socket_accepted_elsewhere(loop: Loop) -> None:
    async def main() -> None:
        with tcp_listener() as listener:
            peer = socket.create_connection(listener.getsockname())
            accepted, _ = listener.accept()
            with peer:
                proto = Recorder(loop)
                transport, got = await loop.connect_accepted_socket(lambda: proto, accepted)
                assert got is proto and proto.transport is transport
                assert transport.get_extra_info("peername") == peer.getsockname()
                peer.sendall(b"over the accepted socket")
                assert await proto.received(24) == b"over the accepted socket"
                transport.write(b"and back")
                assert await recv_exactly(loop, peer, 8) == b"and back"
                transport.close()
                await asyncio.wait_for(proto.lost, WAIT)

    loop.run_until_complete(main())


# -- Happy Eyeballs and resolution ------------------------------------------------------


@pytest.mark.skip_loop("uvloop", reason=UVLOOP_RESOLVES_ITSELF)
def test_happy_eyeballs_moves_on_from_an_address_that_never_answers(
    loop: Loop, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def main(hanging: tuple[str, int]) -> float:
        server = await loop.create_server(asyncio.Protocol, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        name = resolve_to(monkeypatch, loop, [addrinfo(*hanging), addrinfo("127.0.0.1", port)])
        started = time.monotonic()
        transport, _ = await asyncio.wait_for(
            loop.create_connection(asyncio.Protocol, name, 0, happy_eyeballs_delay=0.1), WAIT
        )
        elapsed = time.monotonic() - started
        assert transport.get_extra_info("peername") == ("127.0.0.1", port)
        transport.close()
        server.close()
        await server.wait_closed()
        return elapsed

    with unanswered_address() as hanging:
        assert loop.run_until_complete(main(hanging)) < 2.0


@needs_ipv6
@pytest.mark.skip_loop("uvloop", reason=UVLOOP_RESOLVES_ITSELF)
def test_happy_eyeballs_starts_the_next_attempt_as_soon_as_one_fails(
    loop: Loop, monkeypatch: pytest.MonkeyPatch
) -> None:
    """RFC 8305: a refused attempt must not hold the next one back for the whole delay."""

    async def main() -> float:
        server = await loop.create_server(asyncio.Protocol, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        infos = [addrinfo("::1", closed_port("::1")), addrinfo("127.0.0.1", port)]
        name = resolve_to(monkeypatch, loop, infos)
        started = time.monotonic()
        transport, _ = await asyncio.wait_for(
            loop.create_connection(asyncio.Protocol, name, 0, happy_eyeballs_delay=3.0), WAIT
        )
        elapsed = time.monotonic() - started
        assert transport.get_extra_info("peername") == ("127.0.0.1", port)
        transport.close()
        server.close()
        await server.wait_closed()
        return elapsed

    assert loop.run_until_complete(main()) < 1.5


@pytest.mark.skip_loop("uvloop", reason=UVLOOP_RESOLVES_ITSELF)
def test_create_connection_tries_each_address_in_turn(
    loop: Loop, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def main() -> None:
        server = await loop.create_server(asyncio.Protocol, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        name = resolve_to(
            monkeypatch, loop, [addrinfo("127.0.0.1", closed_port()), addrinfo("127.0.0.1", port)]
        )
        transport, _ = await loop.create_connection(asyncio.Protocol, name, 0)
        assert transport.get_extra_info("peername") == ("127.0.0.1", port)
        transport.close()
        server.close()
        await server.wait_closed()

    loop.run_until_complete(main())


# -- connection errors --------------------------------------------------------------------


def test_refused_connection_raises_connection_refused_error(loop: Loop) -> None:
    async def main() -> None:
        with pytest.raises(ConnectionRefusedError):
            await loop.create_connection(asyncio.Protocol, "127.0.0.1", closed_port())

    loop.run_until_complete(main())


@pytest.mark.skip_loop("uvloop", reason=UVLOOP_RESOLVES_ITSELF)
@pytest.mark.parametrize("happy_eyeballs_delay", [None, 0.05])
def test_every_address_failing_differently_is_multiple_exceptions(
    loop: Loop, monkeypatch: pytest.MonkeyPatch, happy_eyeballs_delay: float | None
) -> None:
    ports = [closed_port(), closed_port()]
    while ports[0] == ports[1]:
        ports[1] = closed_port()

    async def main() -> None:
        name = resolve_to(monkeypatch, loop, [addrinfo("127.0.0.1", p) for p in ports])
        with pytest.raises(OSError) as info:
            await loop.create_connection(
                asyncio.Protocol, name, 0, happy_eyeballs_delay=happy_eyeballs_delay
            )
        assert type(info.value) is OSError
        assert str(info.value).startswith("Multiple exceptions: ")
        assert all(str(p) in str(info.value) for p in ports)

    loop.run_until_complete(main())


@pytest.mark.skip_loop("uvloop", reason=UVLOOP_RESOLVES_ITSELF)
def test_every_address_failing_alike_raises_that_error(
    loop: Loop, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = closed_port()

    async def main() -> None:
        name = resolve_to(monkeypatch, loop, [addrinfo("127.0.0.1", port)] * 2)
        with pytest.raises(ConnectionRefusedError):
            await loop.create_connection(asyncio.Protocol, name, 0)

    loop.run_until_complete(main())


@pytest.mark.skipif(sys.version_info < (3, 12), reason="all_errors is 3.12+")
@pytest.mark.skip_loop("uvloop", reason="uvloop's create_connection has no all_errors")
def test_all_errors_raises_an_exception_group(loop: Loop, monkeypatch: pytest.MonkeyPatch) -> None:
    ports = [closed_port(), closed_port()]

    async def main() -> None:
        name = resolve_to(monkeypatch, loop, [addrinfo("127.0.0.1", p) for p in ports])
        with pytest.raises(ExceptionGroup) as info:
            await loop.create_connection(  # type: ignore[call-overload,unused-ignore]
                asyncio.Protocol, name, 0, all_errors=True
            )
        assert len(info.value.exceptions) == 2
        assert all(isinstance(e, ConnectionRefusedError) for e in info.value.exceptions)

    loop.run_until_complete(main())


def test_unresolvable_host_raises_gaierror(loop: Loop) -> None:
    async def main() -> None:
        with pytest.raises(socket.gaierror):
            await loop.create_connection(asyncio.Protocol, "no-such-host.invalid", 80)

    loop.run_until_complete(main())


ASYNCIO_LEAVES_SOCKET_TO_GC = (
    "asyncio leaves the socket it made to the garbage collector (ResourceWarning) "
    "when protocol_factory raises"
)


@pytest.mark.skip_loop("asyncio", reason=ASYNCIO_LEAVES_SOCKET_TO_GC)
def test_a_failing_protocol_factory_leaves_no_socket_behind(loop: Loop) -> None:
    def factory() -> asyncio.Protocol:
        raise ZeroDivisionError

    async def main() -> None:
        with tcp_listener() as listener:
            with pytest.raises(ZeroDivisionError):
                await loop.create_connection(factory, *listener.getsockname())

    assert unclosed_sockets_after(lambda: loop.run_until_complete(main())) == []


def unclosed_sockets_after(action: Callable[[], object]) -> list[str]:
    """The ResourceWarnings for sockets left to the garbage collector while ``action`` ran."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        action()
        gc.collect()
    return [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)]


# -- argument errors ------------------------------------------------------------------------


@pytest.fixture
def udp_sock() -> Iterator[socket.socket]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        yield sock
    finally:
        sock.close()


@pytest.fixture
def tcp_sock() -> Iterator[socket.socket]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        yield sock
    finally:
        sock.close()


def test_create_connection_argument_errors(
    loop: Loop, tcp_sock: socket.socket, udp_sock: socket.socket
) -> None:
    async def main() -> None:
        p = asyncio.Protocol
        with pytest.raises(ValueError):
            await loop.create_connection(p, "127.0.0.1", 1, sock=tcp_sock)  # type: ignore[call-overload]
        with pytest.raises(ValueError):
            await loop.create_connection(p)
        with pytest.raises(ValueError):
            await loop.create_connection(p, sock=udp_sock)
        with pytest.raises(ValueError):
            await loop.create_connection(p, "127.0.0.1", 1, server_hostname="example.com")
        with pytest.raises(ValueError):
            await loop.create_connection(p, "127.0.0.1", 1, ssl_handshake_timeout=1.0)
        with pytest.raises(ValueError):
            await loop.create_connection(p, sock=tcp_sock, ssl=True)  # no host to verify

    loop.run_until_complete(main())


@pytest.mark.skipif(sys.version_info < (3, 11), reason="ssl_shutdown_timeout is 3.11+")
@pytest.mark.skip_loop("uvloop", reason="uvloop ignores ssl_shutdown_timeout without ssl")
def test_ssl_shutdown_timeout_without_ssl_is_a_value_error(loop: Loop) -> None:
    async def main() -> None:
        with pytest.raises(ValueError):
            await loop.create_connection(asyncio.Protocol, "127.0.0.1", 1, ssl_shutdown_timeout=1)

    loop.run_until_complete(main())


def test_create_server_argument_errors(
    loop: Loop, tcp_sock: socket.socket, udp_sock: socket.socket
) -> None:
    async def main() -> None:
        p = asyncio.Protocol
        with pytest.raises(ValueError):
            await loop.create_server(p, "127.0.0.1", 0, sock=tcp_sock)  # type: ignore[call-overload]
        with pytest.raises(ValueError):
            await loop.create_server(p)  # type: ignore[call-overload]
        with pytest.raises(ValueError):
            await loop.create_server(p, sock=udp_sock)
        with pytest.raises(TypeError):
            await loop.create_server(p, "127.0.0.1", 0, ssl=True)
        with pytest.raises(ValueError):
            await loop.create_server(p, "127.0.0.1", 0, ssl_handshake_timeout=1.0)

    loop.run_until_complete(main())


@pytest.mark.skip_loop("uvloop", reason="uvloop takes an ssl.SSLSocket's fd as a plain socket")
@pytest.mark.parametrize(
    "method", ["create_connection", "create_server", "connect_accepted_socket"]
)
def test_an_ssl_socket_is_refused(loop: Loop, method: str) -> None:
    """Its TLS state is its own: a transport over its fd would bypass it (asyncio's rule)."""

    async def main() -> None:
        with tcp_listener() as listener:
            plain = socket.create_connection(listener.getsockname())
            accepted, _ = listener.accept()
            context = ssl.create_default_context()
            tls_sock = context.wrap_socket(
                plain, server_hostname="localhost", do_handshake_on_connect=False
            )
            with tls_sock, accepted:
                tls_sock.setblocking(False)
                with pytest.raises(TypeError, match="Socket cannot be of type SSLSocket"):
                    if method == "connect_accepted_socket":
                        await loop.connect_accepted_socket(asyncio.Protocol, tls_sock)
                    else:
                        await getattr(loop, method)(asyncio.Protocol, sock=tls_sock)
                assert tls_sock.fileno() >= 0  # still the caller's, still open

    loop.run_until_complete(main())


def test_connect_accepted_socket_rejects_a_datagram_socket(
    loop: Loop, udp_sock: socket.socket
) -> None:
    async def main() -> None:
        with pytest.raises(ValueError):
            await loop.connect_accepted_socket(asyncio.Protocol, udp_sock)

    loop.run_until_complete(main())


def test_connect_accepted_socket_with_ssl_true_needs_a_real_context(loop: Loop) -> None:
    """A server can't make up a certificate: ssl=True is refused, not tried as a client."""

    async def main() -> None:
        with tcp_listener() as listener:
            peer = socket.create_connection(listener.getsockname())
            accepted, _ = listener.accept()
            with peer, accepted:
                # asyncio: ValueError; uvloop: TypeError.  Either way, before any handshake.
                with pytest.raises((ValueError, TypeError)):
                    await asyncio.wait_for(
                        loop.connect_accepted_socket(asyncio.Protocol, accepted, ssl=True), WAIT
                    )

    loop.run_until_complete(main())


# -- the transport: receiving -------------------------------------------------------------


def test_protocol_receives_exactly_the_bytes_sent_both_ways(loop: Loop) -> None:
    data_up, data_down = payload(BIG), payload(BIG // 2)

    async def main() -> None:
        accepted = Accepted(loop, eof_keeps_open=True)
        server = await loop.create_server(accepted, "127.0.0.1", 0)
        client = Recorder(loop)
        transport, _ = await loop.create_connection(
            lambda: client, *server.sockets[0].getsockname()
        )
        srv = await accepted.first()
        transport.write(data_up)
        srv.transport.write(data_down)
        transport.write_eof()
        await asyncio.wait_for(srv.eof, WAIT)
        assert bytes(srv.data) == data_up
        assert await client.received(len(data_down)) == data_down
        srv.transport.close()
        await asyncio.wait_for(client.lost, WAIT)
        server.close()
        await server.wait_closed()

    loop.run_until_complete(main())


def test_buffered_protocol_receives_exactly_the_bytes_sent(loop: Loop) -> None:
    data = payload(BIG // 2)

    async def main() -> BufferedRecorder:
        with tcp_listener() as listener:
            proto = BufferedRecorder(loop, bufsize=4096)
            _, peer = await connect_to_raw_peer(loop, proto, listener)
            with peer:
                await loop.run_in_executor(None, peer.sendall, data)
                peer.shutdown(socket.SHUT_WR)
                await asyncio.wait_for(proto.lost, WAIT)
            return proto

    proto = loop.run_until_complete(main())
    assert bytes(proto.data) == data
    assert proto.events == ["made", "data", "eof", "lost"]
    assert len(proto.sizes_asked) > 1 and all(isinstance(n, int) for n in proto.sizes_asked)


def test_get_extra_info_names_the_socket_and_both_ends(loop: Loop) -> None:
    async def main() -> None:
        with tcp_listener() as listener:
            transport, peer = await connect_to_raw_peer(loop, asyncio.Protocol(), listener)
            with peer:
                sock = transport.get_extra_info("socket")
                assert sock.family == socket.AF_INET and sock.type == socket.SOCK_STREAM
                assert transport.get_extra_info("sockname") == peer.getpeername()
                assert transport.get_extra_info("peername") == peer.getsockname()
                assert transport.get_extra_info("peername") == sock.getpeername()
                assert transport.get_extra_info("no such key") is None
                assert transport.get_extra_info("no such key", "default") == "default"
                transport.close()

    loop.run_until_complete(main())


def test_tcp_nodelay_is_on_at_both_ends(loop: Loop) -> None:
    async def main() -> None:
        accepted = Accepted(loop)
        server = await loop.create_server(accepted, "127.0.0.1", 0)
        transport, _ = await loop.create_connection(
            asyncio.Protocol, *server.sockets[0].getsockname()
        )
        srv = await accepted.first()
        for t in (transport, srv.transport):
            assert t.get_extra_info("socket").getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
        transport.close()
        server.close()
        await server.wait_closed()

    loop.run_until_complete(main())


@pytest.mark.skip_loop(
    "asyncio",
    reason="asyncio's _set_nodelay wants sock.proto == IPPROTO_TCP, so sockets made with "
    "socket.socket() (proto 0), and those accepted from such a listener, keep Nagle on",
)
def test_tcp_nodelay_is_on_for_sockets_made_with_proto_0(loop: Loop) -> None:
    async def main() -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)  # proto 0, as uvicorn's
        listener.bind(("127.0.0.1", 0))
        accepted = Accepted(loop)
        server = await loop.create_server(accepted, sock=listener)
        ours = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        ours.setblocking(False)
        await loop.sock_connect(ours, listener.getsockname())
        transport, _ = await loop.create_connection(asyncio.Protocol, sock=ours)
        srv = await accepted.first()
        for t in (transport, srv.transport):
            sock = t.get_extra_info("socket")
            assert sock.proto == 0
            assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
        transport.close()
        server.close()
        await server.wait_closed()

    loop.run_until_complete(main())


def test_tcp_nodelay_is_left_alone_on_unix_sockets(loop: Loop) -> None:
    async def main() -> None:
        a, b = socket.socketpair()
        with b:
            transport, _ = await loop.connect_accepted_socket(asyncio.Protocol, a)
            with pytest.raises(OSError):  # no such option there: nothing was set
                a.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
            transport.close()

    loop.run_until_complete(main())


def test_pause_reading_holds_data_back_until_resume(loop: Loop) -> None:
    async def main() -> None:
        with tcp_listener() as listener:
            proto = Recorder(loop)
            transport, peer = await connect_to_raw_peer(loop, proto, listener)
            with peer:
                assert transport.is_reading()
                transport.pause_reading()
                transport.pause_reading()  # idempotent
                assert not transport.is_reading()
                peer.sendall(b"held back")
                await asyncio.sleep(0.05)
                assert proto.data == b""
                transport.resume_reading()
                transport.resume_reading()  # idempotent
                assert transport.is_reading()
                assert await proto.received(9) == b"held back"
                transport.close()
                assert not transport.is_reading()

    loop.run_until_complete(main())


def test_data_and_eof_that_arrive_while_paused_come_in_order_on_resume(loop: Loop) -> None:
    async def main() -> None:
        with tcp_listener() as listener:
            proto = Recorder(loop, eof_keeps_open=True)
            transport, peer = await connect_to_raw_peer(loop, proto, listener)
            with peer:
                transport.pause_reading()
                peer.sendall(b"before the end")
                peer.shutdown(socket.SHUT_WR)
                await asyncio.sleep(0.05)
                assert proto.events == ["made"]
                transport.resume_reading()
                await asyncio.wait_for(proto.eof, WAIT)
                assert proto.events == ["made", "data", "eof"]
                assert proto.data == b"before the end"
                transport.close()

    loop.run_until_complete(main())


@pytest.mark.skip_loop(
    "asyncio",
    reason="asyncio watches the fd again on resume_reading() after EOF, reads b'' again "
    "and calls eof_received again (the protocol contract says at most once)",
)
@pytest.mark.skip_loop("uvloop", reason="uvloop calls eof_received again, as asyncio")
def test_eof_received_is_not_delivered_again_after_pause_and_resume(loop: Loop) -> None:
    class PausesInEof(Recorder):
        def eof_received(self) -> bool | None:
            keep_open = super().eof_received()
            self.transport.pause_reading()  # and resume it later: still no second EOF
            return keep_open

    async def main() -> None:
        with tcp_listener() as listener:
            for proto in (
                Recorder(loop, eof_keeps_open=True),
                PausesInEof(loop, eof_keeps_open=True),
            ):
                transport, peer = await connect_to_raw_peer(loop, proto, listener)
                with peer:
                    peer.sendall(b"abc")
                    peer.shutdown(socket.SHUT_WR)
                    await asyncio.wait_for(proto.eof, WAIT)
                    for _ in range(2):
                        transport.pause_reading()
                        transport.resume_reading()
                        await asyncio.sleep(0.02)
                    assert proto.events == ["made", "data", "eof"]
                    transport.write(b"half-open")  # the write side is still ours
                    assert await recv_exactly(loop, peer, 9) == b"half-open"
                    transport.close()
                    await asyncio.wait_for(proto.lost, WAIT)
                    assert proto.events == ["made", "data", "eof", "lost"]

    loop.run_until_complete(main())


def test_exception_in_data_received_reaches_the_handler_and_closes(loop: Loop) -> None:
    error = ValueError("protocol bug")

    async def main() -> list[dict[str, Any]]:
        contexts: list[dict[str, Any]] = []
        loop.set_exception_handler(lambda _loop, context: contexts.append(context))
        with tcp_listener() as listener:
            proto = Recorder(loop, raise_in_data=error)
            transport, peer = await connect_to_raw_peer(loop, proto, listener)
            with peer:
                peer.sendall(b"trigger")
                await asyncio.wait_for(proto.lost, WAIT)
                assert transport.is_closing()
                assert recv_all_nonblocking(peer) == b""  # the peer sees the connection end
        return contexts

    contexts = loop.run_until_complete(main())
    assert [c.get("exception") for c in contexts] == [error]


def recv_all_nonblocking(sock: socket.socket) -> bytes:
    sock.settimeout(WAIT)
    try:
        return sock.recv(100)
    except ConnectionResetError:
        return b""


# -- the transport: writing and flow control ----------------------------------------------


def test_write_rejects_non_bytes(loop: Loop) -> None:
    async def main() -> None:
        with tcp_listener() as listener:
            transport, peer = await connect_to_raw_peer(loop, asyncio.Protocol(), listener)
            with peer:
                for bad in ("text", 42, [b"list"]):  # uvloop lets None through as b""
                    with pytest.raises(TypeError):
                        transport.write(bad)  # type: ignore[arg-type]
                transport.write(b"")  # nothing to send is not an error
                transport.write(bytearray(b"ba"))
                transport.write(memoryview(b"mv"))
                assert await recv_exactly(loop, peer, 4) == b"bamv"
                transport.close()

    loop.run_until_complete(main())


@pytest.mark.skip_loop(
    "asyncio",
    reason="asyncio slices a partly sent memoryview by items, not bytes: a view of "
    "4-byte ints loses three quarters of what it buffers",
)
def test_a_memoryview_of_wider_items_is_sent_whole(loop: Loop) -> None:
    ints = array.array("i", range(2 * 1024 * 1024))  # 8 MiB: it can't all go at once

    async def main() -> bytes:
        with tcp_listener() as listener:
            transport, peer = await connect_to_raw_peer(loop, asyncio.Protocol(), listener)
            with peer:
                transport.write(memoryview(ints))
                transport.close()
                return await recv_until_eof(loop, peer)

    assert loop.run_until_complete(main()) == ints.tobytes()


def test_writelines_sends_the_concatenation(loop: Loop) -> None:
    async def main() -> None:
        with tcp_listener() as listener:
            transport, peer = await connect_to_raw_peer(loop, asyncio.Protocol(), listener)
            with peer:
                transport.writelines([b"one ", bytearray(b"two "), memoryview(b"three")])
                transport.writelines(iter([b" four"]))  # any iterable
                assert await recv_exactly(loop, peer, 18) == b"one two three four"
                transport.close()

    loop.run_until_complete(main())


def test_write_buffer_limits_defaults_and_validation(loop: Loop) -> None:
    async def main() -> None:
        with tcp_listener() as listener:
            transport, peer = await connect_to_raw_peer(loop, asyncio.Protocol(), listener)
            with peer:
                low, high = transport.get_write_buffer_limits()
                assert 0 <= low <= high
                transport.set_write_buffer_limits(high=1000)
                assert transport.get_write_buffer_limits() == (250, 1000)
                transport.set_write_buffer_limits(low=100)
                assert transport.get_write_buffer_limits() == (100, 400)
                transport.set_write_buffer_limits(high=50, low=10)
                assert transport.get_write_buffer_limits() == (10, 50)
                with pytest.raises(ValueError):
                    transport.set_write_buffer_limits(high=1, low=2)
                with pytest.raises(ValueError):
                    transport.set_write_buffer_limits(high=-1, low=-2)
                assert transport.get_write_buffer_size() == 0
                transport.close()

    loop.run_until_complete(main())


def test_a_peer_that_does_not_read_pauses_then_resumes_the_writer(loop: Loop) -> None:
    data = payload(BIG)

    async def main() -> None:
        with tcp_listener() as listener:
            proto = Recorder(loop)
            transport, peer = await connect_to_raw_peer(loop, proto, listener)
            with peer:
                transport.set_write_buffer_limits(high=64 * 1024, low=16 * 1024)
                transport.write(data)
                buffered = transport.get_write_buffer_size()
                assert 0 < buffered <= len(data)
                assert proto.events == ["made", "pause"]  # above the high-water mark
                transport.write(b"")  # nothing changes
                assert proto.events == ["made", "pause"]
                received = await recv_exactly(loop, peer, len(data))
                assert received == data
                await wait_until(lambda: "resume" in proto.events)
                assert proto.events == ["made", "pause", "resume"]
                assert transport.get_write_buffer_size() == 0
                transport.close()

    loop.run_until_complete(main())


def test_raising_the_high_water_mark_avoids_the_pause(loop: Loop) -> None:
    data = payload(BIG)

    async def main() -> None:
        with tcp_listener() as listener:
            proto = Recorder(loop)
            transport, peer = await connect_to_raw_peer(loop, proto, listener)
            with peer:
                transport.set_write_buffer_limits(high=2 * len(data))
                transport.write(data)
                assert transport.get_write_buffer_size() > 0
                assert proto.events == ["made"]
                transport.set_write_buffer_limits(high=0)  # now it is above: pause at once
                assert proto.events == ["made", "pause"]
                assert await recv_exactly(loop, peer, len(data)) == data
                await wait_until(lambda: proto.events[-1] == "resume")
                transport.close()

    loop.run_until_complete(main())


@pytest.mark.skip_loop(
    "asyncio",
    reason="asyncio's _write_ready calls connection_lost again after a close() made in "
    "resume_writing, and that second call fails on the cleared socket",
)
def test_close_from_resume_writing_loses_the_connection_once(loop: Loop) -> None:
    """A writer that closes once the buffer drains: connection_lost exactly once."""
    data = payload(BIG)

    class ClosesWhenDrained(Recorder):
        def resume_writing(self) -> None:
            super().resume_writing()
            self.transport.close()

    async def main() -> ClosesWhenDrained:
        loop.set_exception_handler(lambda _loop, context: errors.append(context))
        with tcp_listener() as listener:
            proto = ClosesWhenDrained(loop)
            transport, peer = await connect_to_raw_peer(loop, proto, listener)
            with peer:
                transport.set_write_buffer_limits(high=64 * 1024, low=0)
                transport.write(data)
                assert await recv_until_eof(loop, peer) == data
                assert await asyncio.wait_for(proto.lost, WAIT) is None
                await asyncio.sleep(0.02)
        return proto

    errors: list[dict[str, Any]] = []
    assert loop.run_until_complete(main()).events == ["made", "pause", "resume", "lost"]
    assert errors == []


def test_write_eof_half_closes_and_reading_goes_on(loop: Loop) -> None:
    async def main() -> None:
        with tcp_listener() as listener:
            proto = Recorder(loop)
            transport, peer = await connect_to_raw_peer(loop, proto, listener)
            with peer:
                assert transport.can_write_eof()
                transport.write(b"request")
                transport.write_eof()
                transport.write_eof()  # idempotent
                assert not transport.is_closing()
                assert await recv_until_eof(loop, peer) == b"request"
                with pytest.raises(RuntimeError):
                    transport.write(b"too late")
                peer.sendall(b"response")  # we can still read
                assert await proto.received(8) == b"response"
                peer.close()
                await asyncio.wait_for(proto.lost, WAIT)
                assert proto.events == ["made", "data", "eof", "lost"]

    loop.run_until_complete(main())


def test_write_eof_waits_for_the_buffer_to_drain(loop: Loop) -> None:
    data = payload(BIG)

    async def main() -> None:
        with tcp_listener() as listener:
            transport, peer = await connect_to_raw_peer(loop, asyncio.Protocol(), listener)
            with peer:
                transport.write(data)
                assert transport.get_write_buffer_size() > 0
                transport.write_eof()
                assert await recv_until_eof(loop, peer) == data
                transport.close()

    loop.run_until_complete(main())


def test_eof_received_true_keeps_the_connection_half_open(loop: Loop) -> None:
    async def main() -> None:
        with tcp_listener() as listener:
            proto = Recorder(loop, eof_keeps_open=True)
            transport, peer = await connect_to_raw_peer(loop, proto, listener)
            with peer:
                peer.sendall(b"question")
                peer.shutdown(socket.SHUT_WR)
                await asyncio.wait_for(proto.eof, WAIT)
                assert proto.data == b"question"
                await asyncio.sleep(0.02)
                assert not transport.is_closing() and not proto.lost.done()
                transport.write(b"answer after EOF")
                transport.close()
                assert await recv_until_eof(loop, peer) == b"answer after EOF"
                assert await asyncio.wait_for(proto.lost, WAIT) is None
                assert proto.events == ["made", "data", "eof", "lost"]

    loop.run_until_complete(main())


@pytest.mark.parametrize("answer", [False, None])
def test_eof_received_false_closes_the_transport(loop: Loop, answer: bool | None) -> None:
    async def main() -> None:
        with tcp_listener() as listener:
            proto = Recorder(loop, eof_keeps_open=answer)
            transport, peer = await connect_to_raw_peer(loop, proto, listener)
            with peer:
                peer.shutdown(socket.SHUT_WR)
                assert await asyncio.wait_for(proto.lost, WAIT) is None
                assert transport.is_closing()
                assert proto.events == ["made", "eof", "lost"]
                assert await recv_until_eof(loop, peer) == b""

    loop.run_until_complete(main())


def test_close_flushes_the_buffer_before_connection_lost(loop: Loop) -> None:
    data = payload(BIG)

    async def main() -> None:
        with tcp_listener() as listener:
            proto = Recorder(loop)
            transport, peer = await connect_to_raw_peer(loop, proto, listener)
            with peer:
                transport.write(data)
                assert transport.get_write_buffer_size() > 0
                transport.close()
                assert transport.is_closing()
                await asyncio.sleep(0.05)
                assert not proto.lost.done()  # the peer hasn't taken the data yet
                assert await recv_until_eof(loop, peer) == data
                assert await asyncio.wait_for(proto.lost, WAIT) is None
                transport.close()  # closing again is harmless

    loop.run_until_complete(main())


def test_abort_drops_the_buffer_and_reports_no_error(loop: Loop) -> None:
    data = payload(BIG)

    async def main() -> None:
        with tcp_listener() as listener:
            proto = Recorder(loop)
            transport, peer = await connect_to_raw_peer(loop, proto, listener)
            with peer:
                transport.write(data)
                assert transport.get_write_buffer_size() > 0
                transport.abort()
                assert transport.is_closing()
                assert await asyncio.wait_for(proto.lost, WAIT) is None
                try:
                    received = await recv_until_eof(loop, peer)
                except ConnectionResetError:
                    received = b""
                assert len(received) < len(data)
                transport.abort()  # again: harmless
                transport.close()
                assert proto.events.count("lost") == 1

    loop.run_until_complete(main())


def test_peer_reset_is_connection_lost_with_the_error(loop: Loop) -> None:
    async def main() -> None:
        with tcp_listener() as listener:
            proto = Recorder(loop)
            transport, peer = await connect_to_raw_peer(loop, proto, listener)
            reset(peer)
            exc = await asyncio.wait_for(proto.lost, WAIT)
            assert isinstance(exc, ConnectionResetError)
            assert transport.is_closing()

    loop.run_until_complete(main())


@pytest.mark.skip_loop("uvloop", reason="uvloop raises RuntimeError on write to a lost connection")
def test_writes_after_the_connection_is_lost_are_dropped(loop: Loop) -> None:
    """asyncio drops them (logging a warning after a few): the protocol already knows."""

    async def main() -> None:
        with tcp_listener() as listener:
            proto = Recorder(loop)
            transport, peer = await connect_to_raw_peer(loop, proto, listener)
            reset(peer)
            await asyncio.wait_for(proto.lost, WAIT)
            for _ in range(3):
                transport.write(b"into the void")
            assert transport.get_write_buffer_size() == 0

    loop.run_until_complete(main())


def test_peer_reset_while_writing_is_connection_lost_with_an_error(loop: Loop) -> None:
    data = payload(BIG)

    async def main() -> None:
        with tcp_listener() as listener:
            proto = Recorder(loop)
            transport, peer = await connect_to_raw_peer(loop, proto, listener)
            transport.pause_reading()  # so the error can only come from the write side
            transport.write(data)
            assert transport.get_write_buffer_size() > 0
            reset(peer)
            exc = await asyncio.wait_for(proto.lost, WAIT)
            assert isinstance(exc, (ConnectionResetError, BrokenPipeError))
            assert transport.get_write_buffer_size() == 0

    loop.run_until_complete(main())


@pytest.mark.parametrize("ending", ["close", "abort", "peer reset"])
def test_a_lost_connection_frees_its_protocol_without_waiting_for_gc(
    loop: Loop, ending: str
) -> None:
    """After connection_lost the transport lets go of its protocol, as asyncio's does.

    A protocol that keeps its transport (most do) would otherwise form a cycle
    with it, and whatever the protocol holds (a slow reader's received MiBs, in
    the stress suite) would stay alive until a full gc pass: 500 of those were
    glassloop's peak RSS above asyncio's (issue 14).
    """
    data = payload(BIG)

    async def main() -> weakref.ref[Recorder]:
        with tcp_listener() as listener:
            proto = Recorder(loop)
            transport, peer = await connect_to_raw_peer(loop, proto, listener)
            with peer:
                transport.write(data)  # something buffered, for close to flush
                if ending == "close":
                    transport.close()
                    assert await recv_until_eof(loop, peer) == data
                elif ending == "abort":
                    transport.abort()
                else:
                    transport.pause_reading()  # the reset must come through the write side
                    reset(peer)
                await asyncio.wait_for(asyncio.shield(proto.lost), WAIT)
                await asyncio.sleep(0)
                assert transport.get_protocol() is None
                return weakref.ref(proto)

    gc.collect()
    gc.disable()
    try:
        ref = loop.run_until_complete(main())
        assert ref() is None, gc.get_referrers(ref())
    finally:
        gc.enable()


def test_set_protocol_redirects_the_callbacks(loop: Loop) -> None:
    async def main() -> None:
        with tcp_listener() as listener:
            first, second = Recorder(loop), Recorder(loop)
            transport, peer = await connect_to_raw_peer(loop, first, listener)
            with peer:
                assert transport.get_protocol() is first
                transport.set_protocol(second)
                assert transport.get_protocol() is second
                peer.sendall(b"for the second")
                assert await second.received(14) == b"for the second"
                assert first.data == b""
                transport.close()
                await asyncio.wait_for(second.lost, WAIT)
                assert not first.lost.done()

    loop.run_until_complete(main())
