"""aiohttp's client and server, both on one glassloop loop, over loopback TCP.

Plain requests, streaming bodies in both directions (chunked responses read in
pieces, request bodies sent from an async generator), websockets, and a
client-side timeout against a handler that never answers.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import aiohttp
import pytest
from aiohttp import web
from integration_helpers import run_on_glassloop

CHUNK = b"x" * 65536


async def hello(request: web.Request) -> web.Response:
    return web.json_response({"hello": request.query.get("name", "world")})


async def stream_out(request: web.Request) -> web.StreamResponse:
    """A chunked response written piece by piece, with pauses between."""
    count = int(request.query["count"])
    response = web.StreamResponse()
    response.enable_chunked_encoding()
    await response.prepare(request)
    for i in range(count):
        await response.write(f"line {i}\n".encode())
        await asyncio.sleep(0.001)
    await response.write_eof()
    return response


async def big(request: web.Request) -> web.StreamResponse:
    """4 MiB out through flow control: drain() must wait for the slow reader."""
    response = web.StreamResponse()
    response.content_length = 64 * len(CHUNK)
    await response.prepare(request)
    for _ in range(64):
        await response.write(CHUNK)
    return response


async def count_upload(request: web.Request) -> web.Response:
    """Read a streamed request body in pieces, as it arrives."""
    total = pieces = 0
    async for piece in request.content.iter_any():
        total += len(piece)
        pieces += 1
    return web.json_response({"bytes": total, "pieces_seen": pieces > 0})


async def never(request: web.Request) -> web.Response:
    await asyncio.sleep(3600)
    raise AssertionError("unreachable")


async def websocket(request: web.Request) -> web.WebSocketResponse:
    ws = web.WebSocketResponse()
    await ws.prepare(request)
    async for message in ws:
        if message.type is aiohttp.WSMsgType.TEXT:
            if message.data == "close":
                await ws.close(message=b"bye")
            else:
                await ws.send_str(message.data.upper())
        elif message.type is aiohttp.WSMsgType.BINARY:
            await ws.send_bytes(message.data[::-1])
    return ws


def make_app() -> web.Application:
    app = web.Application()
    app.add_routes(
        [
            web.get("/", hello),
            web.get("/stream", stream_out),
            web.get("/big", big),
            web.post("/upload", count_upload),
            web.get("/never", never),
            web.get("/ws", websocket),
        ]
    )
    return app


Check = Callable[[aiohttp.ClientSession], Awaitable[None]]


def with_server(check: Check) -> None:
    """Serve ``make_app`` on a free port and run ``check`` against it, on glassloop."""

    async def main() -> None:
        runner = web.AppRunner(make_app(), shutdown_timeout=1)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        host, port = runner.addresses[0][:2]
        try:
            async with aiohttp.ClientSession(f"http://{host}:{port}") as session:
                await check(session)
        finally:
            await runner.cleanup()

    run_on_glassloop(main())


def test_get_json() -> None:
    async def check(session: aiohttp.ClientSession) -> None:
        async with session.get("/", params={"name": "glassloop"}) as response:
            assert response.status == 200
            assert await response.json() == {"hello": "glassloop"}

    with_server(check)


def test_concurrent_requests_share_the_pool() -> None:
    async def check(session: aiohttp.ClientSession) -> None:
        async def one(i: int) -> object:
            async with session.get("/", params={"name": str(i)}) as response:
                return (await response.json())["hello"]

        assert await asyncio.gather(*(one(i) for i in range(50))) == [str(i) for i in range(50)]

    with_server(check)


def test_streaming_response_is_read_as_it_arrives() -> None:
    async def check(session: aiohttp.ClientSession) -> None:
        async with session.get("/stream", params={"count": "200"}) as response:
            assert response.headers["Transfer-Encoding"] == "chunked"
            lines = [line async for line in response.content]
        assert lines == [f"line {i}\n".encode() for i in range(200)]

    with_server(check)


def test_large_response_with_a_slow_reader() -> None:
    async def check(session: aiohttp.ClientSession) -> None:
        total = 0
        async with session.get("/big") as response:
            async for piece in response.content.iter_chunked(100_000):
                total += len(piece)
                if total < 1_000_000:
                    await asyncio.sleep(0.005)  # back-pressure on the server's writes
        assert total == 64 * len(CHUNK)

    with_server(check)


def test_streaming_request_body_from_an_async_generator() -> None:
    async def body() -> AsyncIterator[bytes]:
        for _ in range(32):
            yield CHUNK
            await asyncio.sleep(0)

    async def check(session: aiohttp.ClientSession) -> None:
        async with session.post("/upload", data=body()) as response:
            assert await response.json() == {"bytes": 32 * len(CHUNK), "pieces_seen": True}

    with_server(check)


def test_websocket_text_binary_and_close() -> None:
    async def check(session: aiohttp.ClientSession) -> None:
        async with session.ws_connect("/ws") as ws:
            await ws.send_str("hello")
            assert await ws.receive_str() == "HELLO"
            await ws.send_bytes(b"\x01\x02\x03")
            assert await ws.receive_bytes() == b"\x03\x02\x01"
            for i in range(20):
                await ws.send_str(f"m{i}")
            assert [await ws.receive_str() for _ in range(20)] == [f"M{i}" for i in range(20)]
            await ws.send_str("close")
            message = await ws.receive()
            assert message.type is aiohttp.WSMsgType.CLOSE
            assert message.extra == "bye"
        assert ws.closed

    with_server(check)


def test_client_timeout_on_a_handler_that_never_answers() -> None:
    async def check(session: aiohttp.ClientSession) -> None:
        loop = asyncio.get_running_loop()
        start = loop.time()
        with pytest.raises(TimeoutError):
            async with session.get("/never", timeout=aiohttp.ClientTimeout(total=0.2)):
                pass
        assert 0.15 < loop.time() - start < 2

    with_server(check)
