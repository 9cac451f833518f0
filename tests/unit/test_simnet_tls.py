"""TLS over the simulated network, with real certificates, under virtual time.

glassloop's one TLS layer (``io/tls.py``) rides on the simulated stream as on
a socket: ``ssl=`` on ``create_connection``/``create_server`` (so
``open_connection``/``start_server``) and ``loop.start_tls``.  The handshake
is real OpenSSL work on real certificates (``tls_data/``'s ``localhost``
certificate and its CA, through test_tls.py's contexts); its round trips
cross the simulated links in virtual time, so a hostname mismatch, a chunked
network or a peer that never answers behave as they would on a wire, without
the wall time.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from typing import Any

import pytest
from simnet_kit import no_real_sockets, run  # noqa: F401  (a fixture)
from test_tls import client_context, server_context

from glassloop.testing import SimNet

pytestmark = pytest.mark.usefixtures("no_real_sockets")


async def echo_server(host: str = "localhost", port: int = 443) -> asyncio.Server:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
        writer.close()

    return await asyncio.start_server(handle, host, port, ssl=server_context())


def collect_errors() -> list[dict[str, Any]]:
    handled: list[dict[str, Any]] = []
    asyncio.get_running_loop().set_exception_handler(lambda _, context: handled.append(context))
    return handled


def test_a_tls_echo_over_the_simulation_takes_virtual_time_only() -> None:
    net = SimNet(seed=1, latency=0.05)

    async def main() -> float:
        loop = asyncio.get_running_loop()
        handled = collect_errors()
        server = await echo_server()
        start = loop.time()
        reader, writer = await asyncio.open_connection("localhost", 443, ssl=client_context())
        connected = loop.time() - start
        for line in (b"hello\n", b"over tls\n"):
            writer.write(line)
            assert await reader.readline() == line
        assert writer.get_extra_info("peercert")["subject"] == ((("commonName", "localhost"),),)
        assert isinstance(writer.get_extra_info("ssl_object"), ssl.SSLObject)
        assert writer.get_extra_info("peername") == ("127.0.0.1", 443)
        writer.close()
        await writer.wait_closed()
        server.close()
        await server.wait_closed()
        assert handled == []
        return connected

    wall = time.perf_counter()
    connected = run(main, net)
    assert time.perf_counter() - wall < 2
    # The TCP handshake, then TLS 1.3's one round trip: two round trips of 0.1 s.
    assert connected == pytest.approx(0.2)
    # The records crossed the simulated link, encrypted.
    assert net.stats()["client.sim -> localhost"]["bytes"] > 500


def test_a_wrong_hostname_fails_verification_and_the_server_keeps_quiet() -> None:
    async def main() -> None:
        asyncio.get_running_loop().set_debug(False)  # debug mode logs a server's failed handshakes
        handled = collect_errors()
        server = await echo_server("server.sim")
        with pytest.raises(ssl.SSLCertVerificationError, match="Hostname mismatch"):
            await asyncio.open_connection("server.sim", 443, ssl=client_context())
        # Named explicitly, the name the certificate has is accepted.
        reader, writer = await asyncio.open_connection(
            "server.sim", 443, ssl=client_context(), server_hostname="localhost"
        )
        writer.write(b"ok\n")
        assert await reader.readline() == b"ok\n"
        writer.close()
        await writer.wait_closed()
        server.close()
        await server.wait_closed()
        # The server's side of the failed handshake is an OSError: not the handler's.
        assert handled == []

    run(main, SimNet(latency=0.01))


def test_tls_survives_a_network_that_splits_every_record() -> None:
    payload = bytes(range(256)) * 400  # 100 KiB: several records, each split

    async def main() -> None:
        server = await echo_server()
        reader, writer = await asyncio.open_connection("localhost", 443, ssl=client_context())
        writer.write(payload)
        assert await reader.readexactly(len(payload)) == payload
        writer.close()
        await writer.wait_closed()
        server.close()
        await server.wait_closed()

    for seed in range(3):
        net = SimNet(seed=seed, latency=0.01, chunked=True)
        run(main, net)
        assert any("arrived as" in fault for fault in net.faults)


def test_start_tls_upgrades_a_plain_connection_on_both_sides() -> None:
    """STARTTLS: a plain exchange, then both ends upgrade the same connection."""

    async def main() -> None:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            assert await reader.readline() == b"STARTTLS\n"
            writer.write(b"GO\n")
            await writer.drain()
            await writer.start_tls(server_context())
            writer.write(b"secret: " + await reader.readline())
            await writer.drain()
            writer.close()

        server = await asyncio.start_server(handle, "mail.sim", 25)
        reader, writer = await asyncio.open_connection("mail.sim", 25)
        writer.write(b"STARTTLS\n")
        assert await reader.readline() == b"GO\n"
        await writer.start_tls(client_context(), server_hostname="localhost")
        assert writer.get_extra_info("ssl_object") is not None
        writer.write(b"hi\n")
        assert await reader.readline() == b"secret: hi\n"
        writer.close()
        server.close()

    run(main, SimNet(latency=0.02, seed=5, chunked=True))


def test_a_peer_that_never_answers_the_handshake_times_out_in_virtual_time() -> None:
    async def main() -> float:
        loop = asyncio.get_running_loop()

        async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.read()  # takes the ClientHello, answers nothing, until the client goes
            writer.close()

        server = await asyncio.start_server(silent, "mute.sim", 443)
        start = loop.time()
        with pytest.raises(ConnectionAbortedError, match="handshake"):
            await loop.create_connection(
                asyncio.Protocol,
                "mute.sim",
                443,
                ssl=client_context(),
                ssl_handshake_timeout=30,
            )
        took = loop.time() - start
        server.close()
        await server.wait_closed()
        return took

    wall = time.perf_counter()
    assert run(main, SimNet(latency=0.01)) == pytest.approx(30.02)
    assert time.perf_counter() - wall < 2


def test_tls_arguments_are_checked_as_asyncio_checks_them() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        with pytest.raises(TypeError, match="SSLContext or None"):
            await loop.create_server(asyncio.Protocol, "a.sim", 1, ssl=True)
        with pytest.raises(ValueError, match="only meaningful with ssl"):
            await loop.create_connection(asyncio.Protocol, "a.sim", 1, server_hostname="a")
        with pytest.raises(ValueError, match="positive"):
            await loop.create_connection(
                asyncio.Protocol, "a.sim", 1, ssl=client_context(), ssl_handshake_timeout=-1
            )
        with pytest.raises(ValueError, match="Server side SSL"):
            await loop.create_server(asyncio.Protocol, "a.sim", 1, ssl=object())
        await loop.create_server(asyncio.Protocol, "a.sim", 2)
        transport, protocol = await loop.create_connection(asyncio.Protocol, "a.sim", 2)
        with pytest.raises(TypeError, match="sslcontext"):
            await loop.start_tls(transport, protocol, None)  # type: ignore[arg-type]
        transport.close()

    run(main, SimNet())


def test_a_failing_protocol_factory_on_a_tls_server_is_the_servers_error() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        handled = collect_errors()

        def broken() -> asyncio.Protocol:
            raise RuntimeError("factory bug")

        await loop.create_server(broken, "localhost", 443, ssl=server_context())
        # The server closes the connection: the client's handshake sees it end.
        with pytest.raises(ConnectionResetError):
            await asyncio.open_connection("localhost", 443, ssl=client_context())
        assert isinstance(handled[0]["exception"], RuntimeError)
        assert handled[0]["message"] == "Error on transport creation for incoming connection"

    run(main, SimNet(latency=0.01))


def test_aiohttp_over_https_on_the_simulation() -> None:
    import aiohttp
    from aiohttp import web

    async def main() -> None:
        async def hello(request: web.Request) -> web.Response:
            return web.json_response({"secure": request.secure})

        app = web.Application()
        app.router.add_get("/", hello)
        runner = web.AppRunner(app)
        await runner.setup()
        await web.TCPSite(runner, "localhost", 443, ssl_context=server_context()).start()
        try:
            async with aiohttp.ClientSession() as session:
                for _ in range(3):
                    async with session.get("https://localhost/", ssl=client_context()) as reply:
                        assert await reply.json() == {"secure": True}
        finally:
            await runner.cleanup()

    net = SimNet(seed=9, latency=0.02, chunked=True)
    run(main, net)
    assert net.stats()["client.sim -> localhost"]["writes"] >= 3
