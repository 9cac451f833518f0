"""Unix stream sockets: ``create_unix_server``, ``create_unix_connection`` and their files.

The transport is the same stream transport TCP uses, so these tests are about
what is Unix-specific: paths (str, bytes, ``PathLike``), the socket file left
behind by a dead server, a path that is taken, the Linux abstract namespace,
and -- on 3.13 -- the server removing its own socket file.
"""

from __future__ import annotations

import asyncio
import errno
import gc
import os
import socket
import sys
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from transport_kit import WAIT, Loop, Recorder, payload, wait_until

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux only")


@pytest.fixture
def sock_path(tmp_path: Path) -> Iterator[str]:
    # A short directory: AF_UNIX paths are limited to ~108 bytes.
    path = f"/tmp/gl-{uuid.uuid4().hex[:12]}.sock"
    try:
        yield path
    finally:
        if os.path.lexists(path):
            os.unlink(path)


class Accepted:
    def __init__(self, loop: Loop) -> None:
        self.loop = loop
        self.protocols: list[Recorder] = []

    def __call__(self) -> Recorder:
        self.protocols.append(Recorder(self.loop))
        return self.protocols[-1]

    async def first(self) -> Recorder:
        await wait_until(lambda: bool(self.protocols))
        await asyncio.wait_for(self.protocols[0].made, WAIT)
        return self.protocols[0]


def test_unix_server_and_connection_exchange_bytes(loop: Loop, sock_path: str) -> None:
    data = payload(4 * 1024 * 1024)

    async def main() -> None:
        accepted = Accepted(loop)
        server = await loop.create_unix_server(accepted, sock_path)
        assert server.is_serving()
        assert server.sockets[0].getsockname() == sock_path
        client = Recorder(loop)
        transport, proto = await loop.create_unix_connection(lambda: client, sock_path)
        assert proto is client
        assert transport.get_extra_info("peername") == sock_path
        assert transport.get_extra_info("socket").family == socket.AF_UNIX
        srv = await accepted.first()
        transport.write(data)
        assert transport.can_write_eof()
        transport.write_eof()
        assert await srv.received(len(data)) == data
        await asyncio.wait_for(srv.lost, WAIT)  # eof_received returned None: closed
        assert srv.events == ["made", "data", "eof", "lost"]
        await asyncio.wait_for(client.lost, WAIT)
        server.close()
        await server.wait_closed()

    loop.run_until_complete(main())


def test_unix_paths_may_be_path_like(loop: Loop, sock_path: str) -> None:
    async def main() -> None:
        accepted = Accepted(loop)
        server = await loop.create_unix_server(accepted, Path(sock_path))
        transport, _ = await loop.create_unix_connection(
            asyncio.Protocol,
            Path(sock_path),  # type: ignore[arg-type]
        )
        transport.close()
        await asyncio.wait_for((await accepted.first()).lost, WAIT)
        server.close()
        await server.wait_closed()

    loop.run_until_complete(main())


def test_unix_server_and_connection_on_given_sockets(loop: Loop, sock_path: str) -> None:
    async def main() -> None:
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(sock_path)
        accepted = Accepted(loop)
        server = await loop.create_unix_server(accepted, sock=listener)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.connect(sock_path)
        transport, _ = await loop.create_unix_connection(asyncio.Protocol, sock=sock)
        transport.write(b"via sock=")
        assert await (await accepted.first()).received(9) == b"via sock="
        transport.close()
        server.close()
        await server.wait_closed()
        assert listener.fileno() == -1

    loop.run_until_complete(main())


def test_stale_socket_file_is_replaced(loop: Loop, sock_path: str) -> None:
    dead = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    dead.bind(sock_path)
    dead.close()  # a server that died without cleaning up: the file stays
    assert os.path.exists(sock_path)

    async def main() -> None:
        accepted = Accepted(loop)
        server = await loop.create_unix_server(accepted, sock_path)
        transport, _ = await loop.create_unix_connection(asyncio.Protocol, sock_path)
        transport.close()
        await asyncio.wait_for((await accepted.first()).lost, WAIT)
        server.close()
        await server.wait_closed()

    loop.run_until_complete(main())


def test_path_taken_by_another_file_is_address_in_use(loop: Loop, sock_path: str) -> None:
    Path(sock_path).write_text("not a socket")

    async def main() -> None:
        with pytest.raises(OSError) as info:
            await loop.create_unix_server(asyncio.Protocol, sock_path)
        assert info.value.errno == errno.EADDRINUSE
        assert Path(sock_path).read_text() == "not a socket"  # never removed

    loop.run_until_complete(main())


@linux_only
@pytest.mark.skip_loop(
    "uvloop", reason="uvloop's create_unix_connection fails on an abstract name with EINVAL"
)
def test_abstract_namespace_socket(loop: Loop) -> None:
    name = f"\0glassloop-{uuid.uuid4().hex}"

    async def main() -> None:
        accepted = Accepted(loop)
        server = await loop.create_unix_server(accepted, name)
        assert server.sockets[0].getsockname() == name.encode()
        transport, _ = await loop.create_unix_connection(asyncio.Protocol, name)
        transport.write(b"no file")
        assert await (await accepted.first()).received(7) == b"no file"
        with pytest.raises(OSError) as info:
            await loop.create_unix_server(asyncio.Protocol, name)
        assert info.value.errno == errno.EADDRINUSE
        transport.close()
        server.close()
        await server.wait_closed()
        # Closed: the name is free again.
        again = await loop.create_unix_server(asyncio.Protocol, name)
        again.close()
        await again.wait_closed()

    loop.run_until_complete(main())


UVLOOP_NO_CLEANUP = "uvloop has no cleanup_socket and never removes the socket file"


@pytest.mark.skipif(sys.version_info < (3, 13), reason="cleanup_socket is 3.13+")
@pytest.mark.skip_loop("uvloop", reason=UVLOOP_NO_CLEANUP)
def test_closing_the_server_removes_its_socket_file(loop: Loop, sock_path: str) -> None:
    async def main() -> None:
        server = await loop.create_unix_server(asyncio.Protocol, sock_path)
        assert os.path.exists(sock_path)
        server.close()
        await server.wait_closed()
        assert not os.path.exists(sock_path)

    loop.run_until_complete(main())


@pytest.mark.skipif(sys.version_info < (3, 13), reason="cleanup_socket is 3.13+")
@pytest.mark.skip_loop("uvloop", reason=UVLOOP_NO_CLEANUP)
def test_cleanup_socket_false_leaves_the_file(loop: Loop, sock_path: str) -> None:
    async def main() -> None:
        server = await loop.create_unix_server(
            asyncio.Protocol,
            sock_path,
            cleanup_socket=False,  # type: ignore[call-arg,unused-ignore]
        )
        server.close()
        await server.wait_closed()
        assert os.path.exists(sock_path)

    loop.run_until_complete(main())


@pytest.mark.skipif(sys.version_info < (3, 13), reason="cleanup_socket is 3.13+")
@pytest.mark.skip_loop("uvloop", reason=UVLOOP_NO_CLEANUP)
def test_cleanup_spares_a_file_that_replaced_ours(loop: Loop, sock_path: str) -> None:
    async def main() -> None:
        server = await loop.create_unix_server(asyncio.Protocol, sock_path)
        os.unlink(sock_path)
        Path(sock_path).write_text("someone else's")
        server.close()
        await server.wait_closed()
        assert Path(sock_path).read_text() == "someone else's"

    loop.run_until_complete(main())


@pytest.mark.skipif(sys.version_info >= (3, 13), reason="3.13 removes the file (cleanup_socket)")
def test_before_3_13_closing_the_server_leaves_the_file(loop: Loop, sock_path: str) -> None:
    async def main() -> None:
        server = await loop.create_unix_server(asyncio.Protocol, sock_path)
        server.close()
        await server.wait_closed()
        assert os.path.exists(sock_path)

    loop.run_until_complete(main())


def test_connecting_to_a_missing_path_is_file_not_found(loop: Loop, sock_path: str) -> None:
    async def main() -> None:
        with pytest.raises(FileNotFoundError):
            await loop.create_unix_connection(asyncio.Protocol, sock_path)

    loop.run_until_complete(main())


def test_connecting_to_a_dead_socket_file_is_refused(loop: Loop, sock_path: str) -> None:
    dead = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    dead.bind(sock_path)
    dead.close()

    async def main() -> None:
        with pytest.raises(ConnectionRefusedError):
            await loop.create_unix_connection(asyncio.Protocol, sock_path)

    loop.run_until_complete(main())


@pytest.mark.skip_loop(
    "asyncio",
    reason="asyncio leaves the socket it made to the garbage collector (ResourceWarning) "
    "when protocol_factory raises",
)
def test_a_failing_protocol_factory_leaves_no_socket_behind(loop: Loop, sock_path: str) -> None:
    def factory() -> asyncio.Protocol:
        raise ZeroDivisionError

    async def main() -> None:
        server = await loop.create_unix_server(asyncio.Protocol, sock_path)
        with pytest.raises(ZeroDivisionError):
            await loop.create_unix_connection(factory, sock_path)
        server.close()
        await server.wait_closed()

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        loop.run_until_complete(main())
        gc.collect()
    assert [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)] == []


def test_unix_argument_errors(loop: Loop, sock_path: str) -> None:
    async def main() -> None:
        p = asyncio.Protocol
        with (
            socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as unix,
            socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp,
            socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as dgram,
        ):
            with pytest.raises(ValueError):
                await loop.create_unix_connection(p, sock_path, sock=unix)
            with pytest.raises(ValueError):
                await loop.create_unix_connection(p)
            with pytest.raises(ValueError):
                await loop.create_unix_connection(p, sock=tcp)
            with pytest.raises(ValueError):
                await loop.create_unix_connection(p, sock=dgram)
            with pytest.raises(ValueError):
                await loop.create_unix_connection(p, sock_path, server_hostname="example.com")
            with pytest.raises(ValueError):
                await loop.create_unix_connection(p, sock_path, ssl=True)  # no server_hostname
            with pytest.raises(ValueError):
                await loop.create_unix_server(p, sock_path, sock=unix)
            with pytest.raises(ValueError):
                await loop.create_unix_server(p)
            with pytest.raises(ValueError):
                await loop.create_unix_server(p, sock=tcp)
            with pytest.raises(TypeError):
                await loop.create_unix_server(p, sock_path, ssl=True)
        assert not os.path.exists(sock_path)

    loop.run_until_complete(main())


def test_unix_half_close_keeps_the_other_direction(loop: Loop, sock_path: str) -> None:
    async def main() -> None:
        server_proto = Recorder(loop, eof_keeps_open=True)
        server = await loop.create_unix_server(lambda: server_proto, sock_path)
        client = Recorder(loop)
        transport, _ = await loop.create_unix_connection(lambda: client, sock_path)
        transport.write(b"question")
        transport.write_eof()
        await asyncio.wait_for(server_proto.eof, WAIT)
        server_proto.transport.write(b"answer")
        server_proto.transport.close()
        assert await client.received(6) == b"answer"
        await asyncio.wait_for(client.lost, WAIT)
        assert server_proto.data == b"question"
        assert client.events == ["made", "data", "eof", "lost"]
        server.close()
        await server.wait_closed()

    loop.run_until_complete(main())
