"""Twisted from the course text, on Twisted's asyncio reactor over a glassloop loop.

Two parts: the text's Deferred chain (``toint`` -> ``increment_number`` ->
``print_result``, with ``handleFailure`` as the errback), and the Protocol /
Factory / Reactor trio the text names, as a TCP echo server and a client.
The reactor is ``AsyncioSelectorReactor`` wrapping ``glassloop.new_event_loop()``,
so every Twisted callback, timer and socket here is run by glassloop.

What was fixed in the text's Deferred chain:

* the text added ``handleFailure`` as the errback of *every* step.  It prints
  "OOPS!" and returns None, which tells Twisted the failure is handled -- so
  the chain carried on with None: for bad input it printed "OOPS!" and then
  ``None``.  The errback belongs once, at the end: a failure at any step
  skips the remaining callbacks and lands there;
* ``handle_failure`` says what failed (``f.getErrorMessage()``), not only "OOPS!";
* ``print_result``'s own errors are caught too (``addErrback`` after it, not
  ``addCallbacks`` beside it), so no "Unhandled error in Deferred" appears.

The text's chain is kept as ``get_deferred_original`` to show the difference.

    python examples/course_twisted.py
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from twisted.internet import asyncioreactor, defer, protocol
from twisted.python.failure import Failure

import glassloop

# -- the Deferred chain ---------------------------------------------------------------


def toint(data: str) -> int:
    return int(data)


def increment_number(data: int) -> int:
    return data + 1


def print_result(data: int) -> None:
    print(data)


def handle_failure(f: Failure) -> None:
    print(f"OOPS! {f.type.__name__ if f.type else 'error'}: {f.getErrorMessage()}")


def get_deferred() -> defer.Deferred[Any]:
    d: defer.Deferred[Any] = defer.Deferred()
    return (
        d.addCallback(toint)
        .addCallback(increment_number)
        .addCallback(print_result)
        .addErrback(handle_failure)
    )


def handleFailure(f: Failure) -> None:
    print("OOPS!")


def get_deferred_original() -> defer.Deferred[Any]:
    d: defer.Deferred[Any] = defer.Deferred()
    return (
        d.addCallbacks(toint, handleFailure)
        .addCallbacks(increment_number, handleFailure)
        .addCallback(print_result)
    )


# -- Protocol, Factory, Reactor: an echo server ----------------------------------------


class Echo(protocol.Protocol):
    """Protocol: what to do with the bytes of one connection (send them back)."""

    def dataReceived(self, data: bytes) -> None:
        self.transport.write(data)


class EchoFactory(protocol.Factory):
    """Factory: makes one Echo per accepted connection."""

    protocol = Echo


class EchoClient(protocol.Protocol):
    """Sends each message, waits for its echo, then hangs up."""

    def __init__(self, messages: list[bytes], done: defer.Deferred[list[bytes]]) -> None:
        self.messages = list(messages)
        self.replies: list[bytes] = []
        self.buffer = b""
        self.done = done

    def connectionMade(self) -> None:
        self.transport.write(self.messages[0])

    def dataReceived(self, data: bytes) -> None:
        self.buffer += data
        if len(self.buffer) >= len(self.messages[0]):
            self.replies.append(self.buffer)
            self.buffer = b""
            self.messages.pop(0)
            if self.messages:
                self.transport.write(self.messages[0])
            else:
                self.transport.loseConnection()

    def connectionLost(self, reason: Failure = protocol.connectionDone) -> None:
        self.done.callback(self.replies)


def install_reactor() -> Any:
    """Install Twisted's asyncio reactor around a new glassloop loop; return it."""
    asyncioreactor.install(glassloop.new_event_loop())
    from twisted.internet import reactor

    return reactor


def main(report: Callable[[str], None] = print) -> None:
    reactor = install_reactor()
    loop = reactor._asyncioEventloop  # the loop the reactor wraps
    cls = type(loop)
    report(f"reactor: {type(reactor).__name__} over {cls.__module__}.{cls.__qualname__}")

    # The Deferred chain, fired by reactor timers (callLater runs on the loop).
    for text in ("41", "forty-one"):
        reactor.callLater(0, get_deferred().callback, text)
    reactor.callLater(0.01, lambda: report("the text's chain on bad input:"))
    reactor.callLater(0.01, get_deferred_original().callback, "forty-one")

    async def echo_session() -> None:
        # A coroutine on the same loop: await Deferreds as asyncio futures.
        assert asyncio.get_running_loop() is loop
        port = reactor.listenTCP(0, EchoFactory(), interface="127.0.0.1")
        report(f"echo server listening on 127.0.0.1:{port.getHost().port}")
        done: defer.Deferred[list[bytes]] = defer.Deferred()
        client = protocol.ClientCreator(reactor, EchoClient, [b"hello", b"twisted"], done)
        await client.connectTCP("127.0.0.1", port.getHost().port).asFuture(loop)
        for reply in await done.asFuture(loop):
            report(f"echoed: {reply.decode()}")
        await port.stopListening().asFuture(loop)

    failures: list[Failure] = []

    def start_echo() -> None:
        # And the other way round: a Deferred that fires when a Future does.
        future = asyncio.ensure_future(echo_session(), loop=loop)
        d = defer.Deferred.fromFuture(future)
        d.addErrback(failures.append)
        d.addBoth(lambda _: reactor.stop())

    reactor.callLater(0.02, start_echo)
    reactor.run()
    report("reactor stopped")
    if failures:
        failures[0].raiseException()


if __name__ == "__main__":
    main()
