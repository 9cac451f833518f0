"""aiohttp and Twisted programs, recorded: valid traces, with I/O readiness as a cause.

aiohttp runs on glassloop's transports; Twisted's asyncio reactor watches
descriptors itself with add_reader/add_writer.  Either way a descriptor's
readiness must appear as the cause of the callback it ran.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from twisted.internet import defer, protocol
from twisted.internet.asyncioreactor import AsyncioSelectorReactor
from twisted.internet.endpoints import TCP4ClientEndpoint, TCP4ServerEndpoint

import glassloop
from glassloop.observe import Recorder, chrome_trace

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit"))
from trace_checks import Event, arrow_into, check_trace, enclosing, slices_on, track_of


def io_woken_callbacks(events: list[Event]) -> list[Event]:
    return [
        e
        for e in events
        if e["ph"] == "X"
        and e["cat"] == "callback"
        and "I/O readiness seen by poll" in e["args"].get("woken_by", "")
    ]


def test_an_aiohttp_server_and_client_trace() -> None:
    loop = glassloop.new_event_loop()
    recorder = Recorder(loop)

    async def hello(request: web.Request) -> web.Response:
        await asyncio.sleep(0)
        return web.Response(text="hello")

    async def main() -> list[str]:
        app = web.Application()
        app.router.add_get("/", hello)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        try:
            async with aiohttp.ClientSession() as session:
                texts = []
                for _ in range(10):
                    async with session.get(f"http://127.0.0.1:{port}/") as response:
                        texts.append(await response.text())
                return texts
        finally:
            await runner.cleanup()

    try:
        assert loop.run_until_complete(main()) == ["hello"] * 10
    finally:
        recorder.close()
        loop.close()
    events = check_trace(chrome_trace(recorder))
    reads = [e for e in io_woken_callbacks(events) if e["name"].endswith("_read_ready")]
    assert len(reads) >= 20  # each request read by the server, each response by the client
    handlers = [
        e
        for e in events
        if e["ph"] == "i" and e["name"] == "created" and "RequestHandler" in e["args"]["coroutine"]
    ]
    assert handlers
    # Some task was woken by a future a read callback completed: bytes -> awaiting reader.
    woken_by_read = [
        s
        for s in events
        if s["ph"] == "X"
        and s["cat"] == "step"
        and "completed by callback" in s["args"].get("woken_by", "")
        and "_read_ready" in s["args"]["woken_by"]
    ]
    assert woken_by_read
    start, _ = arrow_into(events, woken_by_read[0])
    assert enclosing(events, start)["name"].endswith("_read_ready")


class Echo(protocol.Protocol):
    def dataReceived(self, data: bytes) -> None:
        self.transport.write(data)


class Collect(protocol.Protocol):
    def __init__(self) -> None:
        self.done: defer.Deferred[bytes] = defer.Deferred()
        self.received = b""

    def connectionMade(self) -> None:
        self.transport.write(b"ping")

    def dataReceived(self, data: bytes) -> None:
        self.received += data
        if self.received == b"ping":
            self.transport.loseConnection()

    def connectionLost(self, reason: Any = protocol.connectionDone) -> None:
        self.done.callback(self.received)


def test_a_twisted_echo_on_the_asyncio_reactor_traces() -> None:
    loop = glassloop.new_event_loop()
    recorder = Recorder(loop)
    reactor = AsyncioSelectorReactor(loop)

    async def main() -> bytes:
        server = TCP4ServerEndpoint(reactor, 0, interface="127.0.0.1")
        port = await defer.Deferred.asFuture(
            server.listen(protocol.Factory.forProtocol(Echo)), loop
        )
        try:
            client = TCP4ClientEndpoint(reactor, "127.0.0.1", port.getHost().port)
            collect = Collect()
            await client.connect(protocol.Factory.forProtocol(lambda: collect)).asFuture(loop)
            return await collect.done.asFuture(loop)
        finally:
            await port.stopListening().asFuture(loop)

    try:
        assert loop.run_until_complete(asyncio.wait_for(main(), 10)) == b"ping"
    finally:
        recorder.close()
        reactor.removeAll()
        loop.close()
    events = check_trace(chrome_trace(recorder))
    twisted_io = io_woken_callbacks(events)
    assert twisted_io, "Twisted's reader/writer callbacks, woken by descriptor readiness"
    assert any("fd " in e["args"]["woken_by"] for e in twisted_io)
    for callback in twisted_io[:3]:
        start, _ = arrow_into(events, callback)
        assert start["name"] == "io" and enclosing(events, start)["name"] == "poll"
    assert slices_on(events, track_of(events, "poll"))
