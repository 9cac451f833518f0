"""Twisted on glassloop: ``AsyncioSelectorReactor`` over a glassloop loop.

Each test builds its own reactor around a fresh glassloop loop instead of
installing one as ``twisted.internet.reactor``: installing is once per
process, and everything here takes the reactor explicitly anyway.  TCP echo
through Protocol/Factory, and Deferreds and asyncio Futures awaiting each
other (``Deferred.fromFuture``, ``Deferred.asFuture``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest
from twisted.internet import defer, protocol
from twisted.internet.asyncioreactor import AsyncioSelectorReactor
from twisted.internet.endpoints import TCP4ClientEndpoint, TCP4ServerEndpoint
from twisted.python.failure import Failure

import glassloop


@pytest.fixture
def glass() -> Iterator[tuple[glassloop.Loop, AsyncioSelectorReactor]]:
    loop = glassloop.new_event_loop()
    reactor = AsyncioSelectorReactor(loop)
    try:
        yield loop, reactor
    finally:
        reactor.removeAll()
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()


def run(loop: glassloop.Loop, main: Callable[[], Awaitable[Any]]) -> Any:
    async def checked() -> Any:
        assert asyncio.get_running_loop() is loop
        return await asyncio.wait_for(main(), 10)

    return loop.run_until_complete(checked())


class Echo(protocol.Protocol):
    def dataReceived(self, data: bytes) -> None:
        self.transport.write(data)


class EchoFactory(protocol.Factory):
    protocol = Echo


class Collect(protocol.Protocol):
    """Send ``payload``, collect the echo, hang up when all of it came back."""

    def __init__(self, payload: bytes) -> None:
        self.payload = payload
        self.received = bytearray()
        self.done: defer.Deferred[bytes] = defer.Deferred()

    def connectionMade(self) -> None:
        self.transport.write(self.payload)

    def dataReceived(self, data: bytes) -> None:
        self.received += data
        if len(self.received) >= len(self.payload):
            self.transport.loseConnection()

    def connectionLost(self, reason: Failure = protocol.connectionDone) -> None:
        self.done.callback(bytes(self.received))


def test_tcp_echo_protocol_factory(glass: tuple[glassloop.Loop, AsyncioSelectorReactor]) -> None:
    loop, reactor = glass
    payload = bytes(range(256)) * 2000  # 512 KB: several reads and writes each way

    async def main() -> list[bytes]:
        server = TCP4ServerEndpoint(reactor, 0, interface="127.0.0.1")
        port = await defer.Deferred.asFuture(server.listen(EchoFactory()), loop)
        address = port.getHost()
        try:

            async def one(i: int) -> bytes:
                client = TCP4ClientEndpoint(reactor, address.host, address.port)
                collect = Collect(payload[: 1000 * (i + 1)] if i < 4 else payload)
                await client.connect(protocol.Factory.forProtocol(lambda: collect)).asFuture(loop)
                return await collect.done.asFuture(loop)

            return await asyncio.gather(*(one(i) for i in range(5)))
        finally:
            await port.stopListening().asFuture(loop)

    echoes = run(loop, main)
    assert echoes[:4] == [payload[: 1000 * (i + 1)] for i in range(4)]
    assert echoes[4] == payload


def test_deferred_from_future_fires_when_the_future_does(
    glass: tuple[glassloop.Loop, AsyncioSelectorReactor],
) -> None:
    loop, _ = glass
    seen: list[object] = []

    async def main() -> None:
        future = loop.create_future()
        d = defer.Deferred.fromFuture(future)
        d.addCallback(lambda value: value + 1).addCallback(seen.append)
        loop.call_later(0.01, future.set_result, 41)
        await future
        await asyncio.sleep(0)
        failing = loop.create_future()
        errors: list[Failure] = []
        defer.Deferred.fromFuture(failing).addErrback(errors.append)
        failing.set_exception(ValueError("boom"))
        await asyncio.sleep(0)
        assert errors[0].check(ValueError)

    run(loop, main)
    assert seen == [42]


def test_deferred_as_future_result_error_and_cancel(
    glass: tuple[glassloop.Loop, AsyncioSelectorReactor],
) -> None:
    loop, reactor = glass

    async def main() -> None:
        d: defer.Deferred[int] = defer.Deferred()
        reactor.callLater(0.01, d.callback, 5)  # a Twisted timer, on the glassloop loop
        assert await d.asFuture(loop) == 5

        bad: defer.Deferred[int] = defer.Deferred()
        reactor.callLater(0.01, bad.errback, KeyError("k"))
        with pytest.raises(KeyError):
            await bad.asFuture(loop)

        cancelled: list[Failure] = []
        pending: defer.Deferred[int] = defer.Deferred()
        pending.addErrback(cancelled.append)
        future = pending.asFuture(loop)
        loop.call_later(0.01, future.cancel)
        with pytest.raises(asyncio.CancelledError):
            await future
        assert cancelled and cancelled[0].check(defer.CancelledError)

    run(loop, main)


def test_reactor_run_drives_the_glassloop_loop(
    glass: tuple[glassloop.Loop, AsyncioSelectorReactor],
) -> None:
    _, reactor = glass
    seen: list[str] = []

    def on_a_timer() -> None:
        seen.append(type(asyncio.get_running_loop()).__qualname__)
        reactor.callLater(0.02, reactor.stop)

    # Startup triggers run inside run() before the loop does: start a timer.
    reactor.callWhenRunning(reactor.callLater, 0, on_a_timer)
    reactor.addSystemEventTrigger("after", "shutdown", seen.append, "shutdown")
    reactor.run(installSignalHandlers=False)
    assert seen == ["Loop", "shutdown"]
