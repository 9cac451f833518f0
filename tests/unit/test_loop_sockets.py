"""File-descriptor callbacks, the ``sock_*`` coroutines and name resolution.

Everything here stays on loopback and socketpairs: the point is the loop's
readiness plumbing (does a reader fire, does a partial send resume, does a
refused connect raise the right OSError), not the network.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator

import pytest

Loop = asyncio.AbstractEventLoop


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    """A connected, non-blocking stream socketpair (the sock_* methods require it)."""
    a, b = socket.socketpair()
    a.setblocking(False)
    b.setblocking(False)
    try:
        yield a, b
    finally:
        a.close()
        b.close()


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    """A non-blocking TCP listener on an ephemeral loopback port."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    sock.setblocking(False)
    try:
        yield sock
    finally:
        sock.close()


# -- add_reader / add_writer -----------------------------------------------------


def test_add_reader_fires_when_data_arrives(
    loop: Loop, pair: tuple[socket.socket, socket.socket]
) -> None:
    a, b = pair

    async def main() -> bytes:
        got = loop.create_future()

        def on_readable(sock: socket.socket) -> None:
            if not got.done():
                got.set_result(sock.recv(100))

        loop.add_reader(b.fileno(), on_readable, b)
        loop.call_later(0.01, a.send, b"ping")
        try:
            return await got
        finally:
            loop.remove_reader(b.fileno())

    assert loop.run_until_complete(main()) == b"ping"


def test_add_reader_accepts_a_socket_object(
    loop: Loop, pair: tuple[socket.socket, socket.socket]
) -> None:
    a, b = pair

    async def main() -> bool:
        got = loop.create_future()
        loop.add_reader(b, lambda: got.done() or got.set_result(True))
        a.send(b"x")
        try:
            return await got
        finally:
            loop.remove_reader(b)

    assert loop.run_until_complete(main()) is True


UVLOOP_REMOVE_RETURNS_NONE = "uvloop's remove_reader/remove_writer return None, not a bool"


@pytest.mark.skip_loop("uvloop", reason=UVLOOP_REMOVE_RETURNS_NONE)
def test_remove_reader_reports_whether_one_was_registered(
    loop: Loop, pair: tuple[socket.socket, socket.socket]
) -> None:
    _, b = pair
    assert loop.remove_reader(b.fileno()) is False
    loop.add_reader(b.fileno(), print)
    assert loop.remove_reader(b.fileno()) is True
    assert loop.remove_reader(b.fileno()) is False
    loop.add_reader(b, print)  # a socket object names the same fd
    assert loop.remove_reader(b.fileno()) is True


@pytest.mark.skip_loop("uvloop", reason=UVLOOP_REMOVE_RETURNS_NONE)
def test_remove_writer_reports_whether_one_was_registered(
    loop: Loop, pair: tuple[socket.socket, socket.socket]
) -> None:
    a, _ = pair
    assert loop.remove_writer(a.fileno()) is False
    loop.add_writer(a.fileno(), print)
    assert loop.remove_writer(a) is True
    assert loop.remove_writer(a.fileno()) is False


def test_removed_reader_no_longer_fires(
    loop: Loop, pair: tuple[socket.socket, socket.socket]
) -> None:
    a, b = pair
    calls: list[str] = []
    loop.add_reader(b.fileno(), calls.append, "fired")
    loop.remove_reader(b.fileno())
    a.send(b"data nobody watches")
    loop.run_until_complete(asyncio.sleep(0.02))
    assert calls == []


def test_add_reader_again_replaces_the_callback(
    loop: Loop, pair: tuple[socket.socket, socket.socket]
) -> None:
    a, b = pair
    calls: list[str] = []

    def reader(tag: str) -> None:
        calls.append(tag)
        b.recv(100)
        loop.remove_reader(b.fileno())

    loop.add_reader(b.fileno(), reader, "old")
    loop.add_reader(b.fileno(), reader, "new")
    a.send(b"x")
    loop.run_until_complete(asyncio.sleep(0.02))
    assert calls == ["new"]


@pytest.mark.parametrize("slot", ["reader", "writer"])
@pytest.mark.skip_loop(
    "asyncio",
    reason="asyncio's selector keeps the closed fd's key and, for the same slot, only swaps "
    "the callback: the new file behind the reused number is never watched",
)
def test_a_reused_fd_number_is_watched_after_the_old_file_closed_unremoved(
    loop: Loop, slot: str
) -> None:
    # Closing a watched fd without remove_reader is a user error asyncio
    # tolerates; the kernel drops the file from the epoll set on its own.
    # When the number comes back for a new socket, watching it must work.
    a, b = socket.socketpair()
    stale = b.fileno()
    getattr(loop, f"add_{slot}")(stale, print)
    a.close()
    b.close()
    c, d = socket.socketpair()
    try:
        reused = c if c.fileno() == stale else d
        if reused.fileno() != stale:
            pytest.skip("the OS did not hand the fd number out again")
        other = d if reused is c else c
        for sock in (c, d):
            sock.setblocking(False)
        fired = loop.create_future()

        def on_ready() -> None:
            getattr(loop, f"remove_{slot}")(reused.fileno())
            fired.set_result(slot)

        getattr(loop, f"add_{slot}")(reused.fileno(), on_ready)
        other.send(b"x")
        assert loop.run_until_complete(asyncio.wait_for(fired, 2)) == slot
    finally:
        c.close()
        d.close()


def test_add_writer_fires_while_the_socket_can_take_data(
    loop: Loop, pair: tuple[socket.socket, socket.socket]
) -> None:
    a, b = pair

    async def main() -> bytes:
        writable = loop.create_future()

        def on_writable() -> None:
            loop.remove_writer(a.fileno())
            a.send(b"written when writable")
            writable.set_result(None)

        loop.add_writer(a.fileno(), on_writable)
        await writable
        return await loop.sock_recv(b, 100)

    assert loop.run_until_complete(main()) == b"written when writable"


def test_reader_and_writer_on_the_same_fd_are_independent(
    loop: Loop, pair: tuple[socket.socket, socket.socket]
) -> None:
    a, b = pair
    events: list[str] = []

    async def main() -> None:
        read_done = loop.create_future()

        def on_writable() -> None:
            events.append("writable")
            loop.remove_writer(b.fileno())

        def on_readable() -> None:
            events.append("readable")
            b.recv(100)
            loop.remove_reader(b.fileno())
            read_done.set_result(None)

        loop.add_reader(b.fileno(), on_readable)
        loop.add_writer(b.fileno(), on_writable)
        await asyncio.sleep(0.01)
        assert events == ["writable"]  # nothing to read yet
        a.send(b"now")
        await read_done

    loop.run_until_complete(main())
    assert events == ["writable", "readable"]


def test_add_reader_on_a_closed_fd_number_fails(loop: Loop) -> None:
    sock = socket.socket()
    fd = sock.fileno()
    sock.close()
    with pytest.raises((OSError, ValueError)):
        loop.add_reader(fd, print)


# -- sock_* coroutines -----------------------------------------------------------


def test_sock_sendall_and_sock_recv_round_trip(
    loop: Loop, pair: tuple[socket.socket, socket.socket]
) -> None:
    a, b = pair

    async def main() -> bytes:
        await loop.sock_sendall(a, b"hello, loop")
        return await loop.sock_recv(b, 1024)

    assert loop.run_until_complete(main()) == b"hello, loop"


def test_sock_sendall_finishes_a_payload_larger_than_the_socket_buffer(
    loop: Loop, pair: tuple[socket.socket, socket.socket]
) -> None:
    a, b = pair
    payload = bytes(range(256)) * 8192  # 2 MiB: many partial sends

    async def reader() -> bytes:
        chunks = bytearray()
        while len(chunks) < len(payload):
            chunk = await loop.sock_recv(b, 65536)
            if not chunk:
                break
            chunks += chunk
        return bytes(chunks)

    async def main() -> bytes:
        read = loop.create_task(reader())
        await loop.sock_sendall(a, payload)
        return await read

    assert loop.run_until_complete(main()) == payload


def test_sock_recv_waits_for_data(loop: Loop, pair: tuple[socket.socket, socket.socket]) -> None:
    a, b = pair

    async def main() -> bytes:
        loop.call_later(0.02, a.send, b"late")
        return await loop.sock_recv(b, 100)

    assert loop.run_until_complete(main()) == b"late"


def test_sock_recv_returns_empty_bytes_at_eof(
    loop: Loop, pair: tuple[socket.socket, socket.socket]
) -> None:
    a, b = pair
    a.shutdown(socket.SHUT_WR)
    assert loop.run_until_complete(loop.sock_recv(b, 100)) == b""


def test_sock_recv_into_fills_the_buffer(
    loop: Loop, pair: tuple[socket.socket, socket.socket]
) -> None:
    a, b = pair
    buf = bytearray(16)

    async def main() -> int:
        loop.call_later(0.01, a.send, b"into")
        return await loop.sock_recv_into(b, buf)

    n = loop.run_until_complete(main())
    assert n == 4
    assert bytes(buf[:n]) == b"into"


def test_cancelling_sock_recv_leaves_the_socket_usable(
    loop: Loop, pair: tuple[socket.socket, socket.socket]
) -> None:
    a, b = pair

    async def main() -> bytes:
        pending = loop.create_task(loop.sock_recv(b, 100))
        await asyncio.sleep(0.01)
        pending.cancel()
        with pytest.raises(asyncio.CancelledError):
            await pending
        a.send(b"after cancel")
        return await loop.sock_recv(b, 100)

    assert loop.run_until_complete(main()) == b"after cancel"


def test_sock_connect_and_sock_accept_on_loopback(loop: Loop, listener: socket.socket) -> None:
    client = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    client.setblocking(False)

    async def main() -> tuple[bytes, bytes]:
        accept = loop.create_task(loop.sock_accept(listener))
        await loop.sock_connect(client, listener.getsockname())
        conn, addr = await accept
        with conn:
            assert addr[0] == "127.0.0.1"
            assert addr[1] == client.getsockname()[1]
            conn.setblocking(False)
            await loop.sock_sendall(client, b"to server")
            got_server = await loop.sock_recv(conn, 100)
            await loop.sock_sendall(conn, b"to client")
            got_client = await loop.sock_recv(client, 100)
        return got_server, got_client

    try:
        assert loop.run_until_complete(main()) == (b"to server", b"to client")
    finally:
        client.close()


def test_sock_accept_returns_a_socket_of_the_listeners_family(
    loop: Loop, listener: socket.socket
) -> None:
    client = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    client.setblocking(False)

    async def main() -> socket.socket:
        accept = loop.create_task(loop.sock_accept(listener))
        await loop.sock_connect(client, listener.getsockname())
        conn, _ = await accept
        return conn

    try:
        conn = loop.run_until_complete(main())
        with conn:
            assert conn.family == socket.AF_INET
            assert conn.type == socket.SOCK_STREAM
    finally:
        client.close()


def test_sock_connect_to_a_closed_port_is_refused(loop: Loop) -> None:
    probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    probe.bind(("127.0.0.1", 0))
    closed_address = probe.getsockname()
    probe.close()  # bound but never listening: the port now refuses connections
    client = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    client.setblocking(False)
    try:
        with pytest.raises(ConnectionRefusedError):
            loop.run_until_complete(loop.sock_connect(client, closed_address))
    finally:
        client.close()


def test_sock_connect_resolves_a_hostname(loop: Loop, listener: socket.socket) -> None:
    client = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    client.setblocking(False)
    port = listener.getsockname()[1]

    async def main() -> None:
        accept = loop.create_task(loop.sock_accept(listener))
        await loop.sock_connect(client, ("localhost", port))
        conn, _ = await accept
        conn.close()

    try:
        loop.run_until_complete(main())
        assert client.getpeername() == ("127.0.0.1", port)
    finally:
        client.close()


@pytest.mark.skip_loop("uvloop", reason="uvloop raises NotImplementedError for sock_recvfrom")
def test_sock_sendto_and_sock_recvfrom_over_udp(loop: Loop) -> None:
    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for s in (receiver, sender):
        s.setblocking(False)
        s.bind(("127.0.0.1", 0))

    async def main() -> tuple[bytes, tuple[str, int]]:
        recv = loop.create_task(loop.sock_recvfrom(receiver, 1024))
        await asyncio.sleep(0.01)  # the receiver really waits
        sent = await loop.sock_sendto(sender, b"datagram", receiver.getsockname())
        assert sent == len(b"datagram")
        return await recv

    try:
        data, addr = loop.run_until_complete(main())
        assert data == b"datagram"
        assert addr == sender.getsockname()
    finally:
        receiver.close()
        sender.close()


@pytest.mark.skip_loop("uvloop", reason="uvloop raises NotImplementedError for sock_recvfrom")
def test_sock_recvfrom_keeps_datagram_boundaries(loop: Loop) -> None:
    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for s in (receiver, sender):
        s.setblocking(False)
        s.bind(("127.0.0.1", 0))

    async def main() -> list[bytes]:
        for word in (b"one", b"two", b"three"):
            await loop.sock_sendto(sender, word, receiver.getsockname())
        return [(await loop.sock_recvfrom(receiver, 1024))[0] for _ in range(3)]

    try:
        assert loop.run_until_complete(main()) == [b"one", b"two", b"three"]
    finally:
        receiver.close()
        sender.close()


# -- name resolution --------------------------------------------------------------


def test_getaddrinfo_numeric_loopback(loop: Loop) -> None:
    infos = loop.run_until_complete(
        loop.getaddrinfo("127.0.0.1", 8080, type=socket.SOCK_STREAM, flags=socket.AI_NUMERICHOST)
    )
    assert infos
    family, type_, proto, _canonname, sockaddr = infos[0]
    assert family == socket.AF_INET
    assert type_ == socket.SOCK_STREAM
    assert isinstance(proto, int)
    assert sockaddr == ("127.0.0.1", 8080)


def test_getaddrinfo_localhost_finds_a_loopback_address(loop: Loop) -> None:
    infos = loop.run_until_complete(loop.getaddrinfo("localhost", 80, type=socket.SOCK_STREAM))
    addresses = {info[4][0] for info in infos}
    assert addresses & {"127.0.0.1", "::1"}
    assert all(info[4][1] == 80 for info in infos)


def test_getaddrinfo_with_family_filter(loop: Loop) -> None:
    infos = loop.run_until_complete(
        loop.getaddrinfo("localhost", 443, family=socket.AF_INET, type=socket.SOCK_STREAM)
    )
    assert infos
    assert all(info[0] == socket.AF_INET for info in infos)


def test_getaddrinfo_matches_the_socket_module(loop: Loop) -> None:
    expected = socket.getaddrinfo("127.0.0.1", 53, type=socket.SOCK_DGRAM)
    got = loop.run_until_complete(loop.getaddrinfo("127.0.0.1", 53, type=socket.SOCK_DGRAM))
    assert sorted(got) == sorted(expected)


def test_getaddrinfo_failure_is_a_gaierror(loop: Loop) -> None:
    with pytest.raises(socket.gaierror):
        loop.run_until_complete(loop.getaddrinfo("not an address", 80, flags=socket.AI_NUMERICHOST))


def test_getnameinfo_numeric(loop: Loop) -> None:
    flags = socket.NI_NUMERICHOST | socket.NI_NUMERICSERV
    got = loop.run_until_complete(loop.getnameinfo(("127.0.0.1", 8080), flags))
    assert got == ("127.0.0.1", "8080")


def test_getnameinfo_matches_the_socket_module(loop: Loop) -> None:
    expected = socket.getnameinfo(("127.0.0.1", 80), 0)
    got = loop.run_until_complete(loop.getnameinfo(("127.0.0.1", 80)))
    assert got == expected
