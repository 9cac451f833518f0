"""Unix sockets on the simulated network: paths are names on a host, never files.

``asyncio.start_unix_server``/``open_unix_connection`` (and the loop methods
under them) get the simulated stream transport TCP gets, with its faults; a
path belongs to the host whose code binds it (the client's own host for
top-level code), and connecting fails as on Linux: no such file, or nobody
serving it.
"""

from __future__ import annotations

import asyncio
import errno
import os
import socket
import sys
from pathlib import Path

import pytest
from simnet_kit import no_real_sockets, run  # noqa: F401  (a fixture)
from test_tls import client_context, server_context

from glassloop.testing import SimNet

pytestmark = pytest.mark.usefixtures("no_real_sockets")


async def upper_unix_server(path: str, **kwargs: object) -> asyncio.Server:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while line := await reader.readline():
            writer.write(line.upper())
            await writer.drain()
        writer.close()

    return await asyncio.start_unix_server(handle, path, **kwargs)  # type: ignore[arg-type]


def test_a_unix_exchange_creates_no_file_and_names_its_ends_by_path(tmp_path: Path) -> None:
    path = str(tmp_path / "app.sock")
    net = SimNet(latency=0.05)
    net.link("client.sim", "client.sim", latency=0.01)  # the host's link to itself

    async def main() -> None:
        loop = asyncio.get_running_loop()
        server = await upper_unix_server(path)
        assert not os.path.exists(path)
        assert server.sockets[0].getsockname() == path
        assert server.sockets[0].family == socket.AF_UNIX
        start = loop.time()
        reader, writer = await asyncio.open_unix_connection(path)
        assert loop.time() == start  # a local connect: at once
        writer.write(b"hello\n")
        assert await reader.readline() == b"HELLO\n"
        assert loop.time() - start == pytest.approx(0.02)
        assert writer.get_extra_info("peername") == path
        assert writer.get_extra_info("sockname") == ""  # the client's end has no name
        assert writer.get_extra_info("socket").family == socket.AF_UNIX
        writer.close()
        await writer.wait_closed()
        server.close()
        await server.wait_closed()

    run(main, net)
    assert list(tmp_path.iterdir()) == []
    assert net.stats()["client.sim -> client.sim"]["bytes"] == 12  # both ways, one link


def test_the_server_end_sees_the_path_and_an_unnamed_peer() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        ends: asyncio.Future[tuple[object, object]] = loop.create_future()

        class Note(asyncio.Protocol):
            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                ends.set_result(
                    (transport.get_extra_info("sockname"), transport.get_extra_info("peername"))
                )

        await loop.create_unix_server(Note, "/run/note.sock")
        transport, _ = await loop.create_unix_connection(asyncio.Protocol, "/run/note.sock")
        assert await ends == ("/run/note.sock", "")
        transport.close()

    run(main, SimNet())


def test_connecting_where_nobody_serves_fails_as_on_linux() -> None:
    async def main() -> None:
        with pytest.raises(FileNotFoundError):
            await asyncio.open_unix_connection("/run/nobody.sock")
        idle = await upper_unix_server("/run/idle.sock", start_serving=False)
        with pytest.raises(ConnectionRefusedError):
            await asyncio.open_unix_connection("/run/idle.sock")
        idle.close()
        # asyncio 3.13 removes the socket file on close; before, it stays, refusing.
        gone = FileNotFoundError if sys.version_info >= (3, 13) else ConnectionRefusedError
        with pytest.raises(gone):
            await asyncio.open_unix_connection("/run/idle.sock")
        kept = await upper_unix_server("/run/kept.sock", cleanup_socket=False)
        kept.close()
        with pytest.raises(ConnectionRefusedError):
            await asyncio.open_unix_connection("/run/kept.sock")

    run(main, SimNet())


def test_paths_belong_to_a_host() -> None:
    """A service on app.sim does not see the paths the client's host bound."""

    async def main() -> None:
        seen: asyncio.Future[BaseException | None] = asyncio.get_running_loop().create_future()

        async def service(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                await asyncio.open_unix_connection("/run/db.sock")
            except OSError as exc:
                seen.set_result(exc)
            else:
                seen.set_result(None)
            writer.close()

        db = await upper_unix_server("/run/db.sock")  # on client.sim
        app = await asyncio.start_server(service, "app.sim", 80)
        _, writer = await asyncio.open_connection("app.sim", 80)
        assert isinstance(await seen, FileNotFoundError)
        writer.close()
        await writer.wait_closed()
        reader, writer = await asyncio.open_unix_connection("/run/db.sock")  # here, it is
        writer.write(b"ok\n")
        assert await reader.readline() == b"OK\n"
        writer.close()
        await writer.wait_closed()
        for server in (db, app):
            server.close()
            await server.wait_closed()

    run(main, SimNet(latency=0.01))


def test_faults_and_tls_work_on_unix_sockets() -> None:
    net = SimNet(seed=3, latency=0.01, chunked=True)
    net.reset_after("client.sim", "/run/flaky.sock", 5)

    async def main() -> None:
        await upper_unix_server("/run/flaky.sock")
        reader, writer = await asyncio.open_unix_connection("/run/flaky.sock")
        writer.write(b"a" * 20 + b"\n")
        with pytest.raises(ConnectionResetError):
            await reader.readexactly(21)
        writer.close()

        await upper_unix_server("/run/tls.sock", ssl=server_context())
        reader, writer = await asyncio.open_unix_connection(
            "/run/tls.sock", ssl=client_context(), server_hostname="localhost"
        )
        line = b"x" * 5000 + b"\n"
        writer.write(line)
        assert await reader.readline() == line.upper()
        assert writer.get_extra_info("peercert") is not None
        writer.close()
        await writer.wait_closed()

    run(main, net)
    assert "reset after byte 5" in "\n".join(net.faults)
    assert any("arrived as" in fault for fault in net.faults)


def test_a_second_server_takes_the_path_over_as_with_asyncio() -> None:
    """asyncio removes the socket file it finds at the path, so the newest server wins."""

    async def main() -> None:
        loop = asyncio.get_running_loop()
        first = await upper_unix_server("/run/app.sock")

        async def lower(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writer.write((await reader.readline()).lower())
            writer.close()

        second = await asyncio.start_unix_server(lower, "/run/app.sock")
        reader, writer = await asyncio.open_unix_connection("/run/app.sock")
        writer.write(b"MiXeD\n")
        assert await reader.readline() == b"mixed\n"
        writer.close()
        first.close()  # it no longer owns the path: the second keeps serving it
        reader, writer = await asyncio.open_unix_connection("/run/app.sock")
        writer.write(b"AGAIN\n")
        assert await reader.readline() == b"again\n"
        writer.close()
        second.close()

        await loop.create_unix_server(asyncio.Protocol, "\0abstract")
        with pytest.raises(OSError) as info:
            await loop.create_unix_server(asyncio.Protocol, "\0abstract")
        assert info.value.errno == errno.EADDRINUSE

    run(main, SimNet())


def test_bad_unix_arguments_raise_what_asyncio_raises() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        with pytest.raises(ValueError, match="path was not specified"):
            await loop.create_unix_server(asyncio.Protocol)
        with pytest.raises(ValueError, match="no path and sock"):
            await loop.create_unix_connection(asyncio.Protocol)
        with pytest.raises(TypeError):
            await loop.create_unix_connection(asyncio.Protocol, 42)
        with pytest.raises(ValueError, match="server_hostname"):
            await loop.create_unix_connection(asyncio.Protocol, "/x", ssl=client_context())
        with pytest.raises(TypeError, match="SSLContext or None"):
            await loop.create_unix_server(asyncio.Protocol, "/x", ssl=True)
        with (
            socket.socket(socket.AF_UNIX) as sock,
            pytest.raises(NotImplementedError, match="real socket"),
        ):
            await loop.create_unix_server(asyncio.Protocol, sock=sock)

    run(main, SimNet())
