"""Where glassloop differed from asyncio, found by the frameworks' own suites.

aiohttp's, uvicorn's and anyio's test suites (run by ``compat/``) and
differential testing of random programs against asyncio found each of these;
every test here failed on glassloop before its fix.  Like the rest of
``tests/unit`` each body runs on glassloop, asyncio and uvloop, so asyncio is
the reference for what "right" means.
"""

from __future__ import annotations

import asyncio
import decimal
import gc
import os
import socket
import ssl
import sys
import time
import types
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from unittest import mock

import pytest

Loop = asyncio.AbstractEventLoop


# -- watches on a socket that has been closed since --------------------------


UVLOOP_LOSES_CLOSED_SOCKETS = (
    "uvloop looks a closed socket up by its fd (-1) and returns None or raises OSError(EBADF)"
)


@pytest.mark.skip_loop("uvloop", reason=UVLOOP_LOSES_CLOSED_SOCKETS)
@pytest.mark.parametrize("writing", [False, True], ids=["reader", "writer"])
def test_remove_watch_after_the_socket_was_closed(loop: Loop, writing: bool) -> None:
    """anyio closes a socket while a read waits on it, then removes the reader."""
    a, b = socket.socketpair()
    try:
        add = loop.add_writer if writing else loop.add_reader
        remove = loop.remove_writer if writing else loop.remove_reader
        add(a, lambda: None)
        a.close()  # fileno() is -1 from now on
        assert remove(a) is True
        # Found once; after that a closed socket is just an invalid file object.
        with pytest.raises(ValueError, match="Invalid file descriptor: -1"):
            remove(a)
    finally:
        a.close()
        b.close()


def test_remove_watch_of_a_closed_socket_that_was_never_watched(loop: Loop) -> None:
    a, b = socket.socketpair()
    a.close()
    b.close()
    with pytest.raises(ValueError, match="Invalid file descriptor: -1"):
        loop.remove_reader(a)


@pytest.mark.skip_loop("uvloop", reason=UVLOOP_LOSES_CLOSED_SOCKETS)
def test_a_closed_socket_watch_does_not_outlive_its_removal(loop: Loop) -> None:
    """Once removed, the closed socket's number may name a new socket: not watched."""
    a, b = socket.socketpair()
    try:
        loop.add_reader(a, lambda: None)
        a.close()
        assert loop.remove_reader(a) is True
        c, d = socket.socketpair()  # may well reuse a's number
        try:
            assert loop.remove_reader(c) is False
            assert loop.remove_writer(c) is False
        finally:
            c.close()
            d.close()
    finally:
        b.close()


# -- a failed connection leaves no error alive in a cycle --------------------


def _refused_port() -> int:
    """A loopback port nobody listens on (bound, then closed)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _holders(exc: BaseException) -> list[Any]:
    """What keeps ``exc`` alive, apart from this test's own frames."""
    gc.collect()
    here = sys._getframe()
    return [
        r
        for r in gc.get_referrers(exc)
        if not (isinstance(r, types.FrameType) and r.f_code.co_filename == here.f_code.co_filename)
    ]


ASYNCIO_STAGGERED_CYCLE = (
    "asyncio's Happy Eyeballs race (staggered_race) keeps the errors in lists its frames hold"
)


@pytest.mark.skip_loop("uvloop", reason="uvloop's create_connection keeps its errors in a cycle")
@pytest.mark.parametrize("happy_eyeballs", [None, 0.05], ids=["sequential", "happy-eyeballs"])
def test_refused_connection_error_is_in_no_cycle(
    loop: Loop, loop_name: str, happy_eyeballs: float | None
) -> None:
    if (
        loop_name == "asyncio"
        and happy_eyeballs
        and not os.environ.get("GLASSLOOP_IGNORE_SKIP_LOOP")
    ):
        pytest.skip(f"asyncio differs: {ASYNCIO_STAGGERED_CYCLE}")
    port = _refused_port()

    async def main() -> BaseException:
        try:
            await asyncio.get_running_loop().create_connection(
                asyncio.Protocol, "127.0.0.1", port, happy_eyeballs_delay=happy_eyeballs
            )
        except OSError as exc:
            return exc
        raise AssertionError("the connection was not refused")

    gc.disable()
    try:
        exc = loop.run_until_complete(main())
        assert isinstance(exc, ConnectionRefusedError)
        holders = _holders(exc)
        assert not [h for h in holders if isinstance(h, list)], holders
        assert not [h for h in holders if isinstance(h, types.FrameType)], holders
    finally:
        gc.enable()


@pytest.mark.skip_loop("uvloop", reason="uvloop raises a new error from its C code")
@pytest.mark.skip_loop(
    "asyncio", reason="asyncio raises the first error of a list its frame holds (a cycle)"
)
def test_failed_datagram_endpoint_error_is_in_no_cycle(loop: Loop) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        address = taken.getsockname()

        async def main() -> BaseException:
            try:
                await asyncio.get_running_loop().create_datagram_endpoint(
                    asyncio.DatagramProtocol, local_addr=address
                )
            except OSError as exc:
                return exc
            raise AssertionError("the address was not in use")

        gc.disable()
        try:
            exc = loop.run_until_complete(main())
            holders = _holders(exc)
            assert not [h for h in holders if isinstance(h, (list, types.FrameType))], holders
        finally:
            gc.enable()


# -- start_tls on a transport that is already closing -------------------------


@pytest.mark.skip_loop(
    "uvloop", reason="uvloop returns a TLS transport over the closed connection instead of None"
)
def test_start_tls_on_a_closing_transport(loop: Loop) -> None:
    """anyio's cancellation paths upgrade a stream whose transport was just closed.

    asyncio's answer is None, with the protocol told connection_lost once and
    nothing logged; glassloop called the TLS protocol's connection_made after
    its connection_lost ("called twice" in the log) and raised ConnectionError.
    """
    errors: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _loop, context: errors.append(context))
    lost: list[BaseException | None] = []

    class App(asyncio.Protocol):
        def connection_lost(self, exc: BaseException | None) -> None:
            lost.append(exc)

    async def main() -> object:
        lp = asyncio.get_running_loop()
        server = await lp.create_server(asyncio.Protocol, "127.0.0.1", 0)
        try:
            port = server.sockets[0].getsockname()[1]
            transport, protocol = await lp.create_connection(App, "127.0.0.1", port)
            transport.close()  # connection_lost is queued, not yet delivered
            async with asyncio.timeout(5):
                result = await lp.start_tls(
                    transport, protocol, ssl.create_default_context(), server_hostname="x"
                )
            for _ in range(3):
                await asyncio.sleep(0)  # let a stray connection_made run, if queued
            return result
        finally:
            server.close()

    assert loop.run_until_complete(main()) is None
    assert lost == [None]
    assert errors == []


# -- transports take attributes, as asyncio's do ------------------------------


@pytest.mark.skip_loop("uvloop", reason="uvloop's transports are C types without a __dict__")
def test_a_transport_method_can_be_wrapped(loop: Loop) -> None:
    """uvicorn's and aiohttp's websocket tests (and real code) wrap transport.write."""
    seen: list[bytes] = []

    async def main() -> bytes:
        lp = asyncio.get_running_loop()
        a, b = socket.socketpair()
        transport, _ = await lp.connect_accepted_socket(asyncio.Protocol, a)
        original = transport.write

        def send(data: bytes) -> None:
            transport.write(data)

        # The same call site before and after: once the interpreter has
        # specialized it for a transport without instance attributes (the
        # compiled build on 3.12+ drops the empty dict Cython makes), the
        # wrapper set below must still be found.
        for _ in range(64):
            send(b"")

        def spy(data: Any) -> None:
            seen.append(bytes(data))
            original(data)

        transport.write = spy  # type: ignore[method-assign]
        transport.note = "set by the application"  # type: ignore[attr-defined]
        send(b"ping")
        del transport.write  # type: ignore[method-assign]
        transport.write(b"!")
        assert transport.note == "set by the application"  # type: ignore[attr-defined]
        received = b""
        b.setblocking(False)
        while len(received) < 5:
            received += await lp.sock_recv(b, 100)
        transport.close()
        b.close()
        return received

    assert loop.run_until_complete(main()) == b"ping!"
    assert seen == [b"ping"]


# -- faking time the asyncio way: patching loop.time --------------------------


def _assert_real_clock(loop: Loop) -> None:
    """loop.time() reads the monotonic clock again: it lies between two readings of it."""
    before = time.monotonic()
    now = loop.time()
    assert before <= now <= time.monotonic()


UVLOOP_TIME_IS_READ_ONLY = "uvloop's loop.time is a C method that cannot be assigned"


@pytest.mark.skip_loop("uvloop", reason=UVLOOP_TIME_IS_READ_ONLY)
def test_timers_follow_a_patched_loop_time(loop: Loop) -> None:
    """aiohttp's keep-alive test and time-faking tools assign loop.time."""
    fake = [1000.0]
    fired: list[float] = []

    async def turns(n: int = 5) -> None:
        for _ in range(n):
            await asyncio.sleep(0)

    with mock.patch.object(loop, "time", lambda: fake[0]):
        assert loop.time() == 1000.0
        loop.call_at(1050.0, lambda: fired.append(loop.time()))
        loop.call_later(10.0, lambda: fired.append(loop.time()))  # at 1010 on the fake
        loop.run_until_complete(turns())
        assert fired == []
        fake[0] = 1010.0
        loop.run_until_complete(turns())
        assert fired == [1010.0]
        fake[0] = 1100.0
        loop.run_until_complete(turns())
        assert fired == [1010.0, 1100.0]
    # The patch is gone: the real clock again, and its timers fire.
    _assert_real_clock(loop)
    loop.call_later(0.01, lambda: fired.append(-1.0))
    loop.run_until_complete(asyncio.sleep(0.05))
    assert fired[-1] == -1.0


@pytest.mark.skip_loop("uvloop", reason=UVLOOP_TIME_IS_READ_ONLY)
def test_loop_time_assigned_and_restored_by_hand(loop: Loop) -> None:
    original = loop.time
    loop.time = lambda: 5.0  # type: ignore[method-assign]
    assert loop.time() == 5.0
    loop.time = original  # type: ignore[method-assign]
    _assert_real_clock(loop)
    loop.call_later(0.01, loop.stop)
    loop.run_forever()  # would hang on a frozen clock


# -- debug mode's slow-callback report names the task -------------------------


@pytest.mark.skip_loop("uvloop", reason="uvloop does not report slow callbacks")
@pytest.mark.parametrize("where", ["first-step", "after-a-wake-up"])
def test_slow_step_is_reported_by_its_task(
    loop: Loop, where: str, caplog: pytest.LogCaptureFixture
) -> None:
    loop.set_debug(True)
    loop.slow_callback_duration = 0.05

    async def blocker(fut: asyncio.Future[None] | None) -> None:
        if fut is not None:
            await fut
        time.sleep(0.1)  # holds the loop

    async def main() -> None:
        fut = asyncio.get_running_loop().create_future() if where != "first-step" else None
        task = asyncio.create_task(blocker(fut), name="the-blocker")
        await asyncio.sleep(0)
        if fut is not None:
            fut.set_result(None)
        await task

    with caplog.at_level("WARNING", logger="asyncio"):
        loop.run_until_complete(main())
    slow = [r.getMessage() for r in caplog.records if "took" in r.getMessage()]
    assert any(m.startswith("Executing <Task") and "name='the-blocker'" in m for m in slow), slow


# -- a write pipe is not a read transport -------------------------------------


@pytest.mark.skip_loop("uvloop", reason="uvloop's write pipe transport ignores pause_reading")
def test_write_pipe_refuses_the_reading_calls(loop: Loop) -> None:
    async def main() -> None:
        r, w = os.pipe()
        transport, _ = await asyncio.get_running_loop().connect_write_pipe(
            asyncio.Protocol, os.fdopen(w, "wb")
        )
        try:
            for call in (transport.pause_reading, transport.resume_reading, transport.is_reading):
                with pytest.raises(NotImplementedError):
                    call()  # type: ignore[operator]
        finally:
            transport.close()
            os.close(r)

    loop.run_until_complete(main())


# -- a connection task thrown away at loop close stays quiet ------------------


def test_a_connection_task_dropped_at_close_logs_no_transport_error(
    loop_factory: Any,
) -> None:
    """A TLS server's connection task still in its handshake when the loop closes.

    Closing the loop without cancelling its tasks leaves the garbage collector
    to close the coroutine (GeneratorExit); asyncio logs nothing about the
    transport then ("Task was destroyed but it is pending!" is another matter).
    """
    data = Path(__file__).parent / "tls_data"
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(data / "server.pem")
    reported: list[str] = []
    lp = loop_factory()
    lp.set_exception_handler(lambda _loop, ctx: reported.append(str(ctx.get("message"))))
    raw = socket.socket()

    async def main() -> None:
        server = await asyncio.get_running_loop().create_server(
            asyncio.Protocol, "127.0.0.1", 0, ssl=context
        )
        raw.setblocking(False)
        await asyncio.get_running_loop().sock_connect(raw, server.sockets[0].getsockname())
        await asyncio.sleep(0.1)  # accepted; its handshake waits for a ClientHello

    try:
        lp.run_until_complete(main())
    finally:
        lp.close()
        raw.close()
    del lp
    gc.collect()
    assert not [m for m in reported if "transport creation" in m], reported


# -- ports out of range are refused, never wrapped ------------------------------


def _port_calls() -> dict[str, Callable[[asyncio.AbstractEventLoop], Awaitable[Any]]]:
    big = 65536 + 8080
    stream = asyncio.Protocol
    dgram = asyncio.DatagramProtocol

    async def sock_connect(lp: asyncio.AbstractEventLoop, host: str) -> None:
        with socket.socket() as s:
            s.setblocking(False)
            await lp.sock_connect(s, (host, big))

    return {
        "create_server": lambda lp: lp.create_server(stream, "127.0.0.1", big),
        "create_server-name": lambda lp: lp.create_server(stream, "localhost", big),
        "create_server-negative": lambda lp: lp.create_server(stream, "127.0.0.1", -1),
        "create_connection": lambda lp: lp.create_connection(stream, "127.0.0.1", big),
        "create_connection-name": lambda lp: lp.create_connection(stream, "localhost", big),
        "create_connection-str": lambda lp: lp.create_connection(stream, "127.0.0.1", str(big)),
        "create_connection-local_addr": lambda lp: lp.create_connection(
            stream, "127.0.0.1", 9, local_addr=("127.0.0.1", big)
        ),
        "datagram-local": lambda lp: lp.create_datagram_endpoint(
            dgram, local_addr=("127.0.0.1", big)
        ),
        "datagram-remote": lambda lp: lp.create_datagram_endpoint(
            dgram, remote_addr=("127.0.0.1", big)
        ),
        "sock_connect": lambda lp: sock_connect(lp, "127.0.0.1"),
        "sock_connect-name": lambda lp: sock_connect(lp, "localhost"),
    }


PORT_CALLS = _port_calls()
#: asyncio hands a name's port to getaddrinfo, which takes 70000 as 4464.
ASYNCIO_WRAPS_NAMED = {"create_server-name", "create_connection-name", "sock_connect-name"}


@pytest.mark.skip_loop("uvloop", reason="uvloop wraps or reports ports its own way")
@pytest.mark.parametrize("call", PORT_CALLS)
def test_out_of_range_port_is_refused(loop: Loop, loop_name: str, call: str) -> None:
    if loop_name == "asyncio" and call in ASYNCIO_WRAPS_NAMED:
        if not os.environ.get("GLASSLOOP_IGNORE_SKIP_LOOP"):
            pytest.skip("asyncio differs: it wraps a named host's port modulo 65536")

    async def main() -> Any:
        return await PORT_CALLS[call](asyncio.get_running_loop())

    with pytest.raises(OverflowError, match=r"port must be 0-65535"):
        result = loop.run_until_complete(main())
        # Reached only when nothing was refused: release what was made.
        if isinstance(result, tuple):
            result[0].close()
        elif result is not None:
            result.close()


# -- stop() before run_forever() still polls I/O once --------------------------


def test_stop_before_run_forever_polls_once_every_time(loop: Loop) -> None:
    """asyncio: "If stop() is called before run_forever() is called, the loop will
    poll the I/O selector once with a timeout of zero, run all callbacks
    scheduled in response to I/O events (and those that were already
    scheduled), and then exit." -- on every such run, not only the first."""
    a, b = socket.socketpair()
    a.setblocking(False)
    got: list[bytes] = []
    try:
        loop.add_reader(a, lambda: got.append(a.recv(100)))
        for n in range(1, 4):
            b.send(b"x")
            loop.stop()
            loop.run_forever()
            assert got == [b"x"] * n
        loop.remove_reader(a)
    finally:
        a.close()
        b.close()


# -- the exception handler's context: tests/unit/test_loop_edges.py ----------


# -- an eagerly finished task lets go of its coroutine (3.12+) ----------------


@pytest.mark.skipif(sys.version_info < (3, 12), reason="eager tasks are 3.12+")
@pytest.mark.skip_loop("uvloop", reason="uvloop's loop makes asyncio's own tasks")
@pytest.mark.skip_loop(
    "asyncio",
    reason="CPython 3.12.1's C Task crashes in get_coro() after an eager finish",
    condition=sys.version_info < (3, 12, 2),
)
def test_eager_task_done_in_its_first_step_has_no_coroutine(loop: Loop, loop_name: str) -> None:
    import glassloop

    task_class = glassloop.Task if loop_name == "glassloop" else asyncio.Task

    async def quick() -> int:
        return 1

    async def main() -> tuple[bool, bool, int]:
        lp = asyncio.get_running_loop()
        lp.set_task_factory(asyncio.create_eager_task_factory(task_class))  # type: ignore[attr-defined]
        task = asyncio.ensure_future(quick())
        # No repr of this task: CPython 3.12.1's own repr of it crashes.
        return task.done(), task.get_coro() is None, await task

    assert loop.run_until_complete(main()) == (True, True, 1)


# -- cancelled timers never decide how long the loop sleeps -------------------


def test_a_cancelled_timer_does_not_shorten_the_poll() -> None:
    """Sharing a 1/1024 s bucket with a live timer, a cancelled one set the timeout."""
    from clocks import SteppedClock

    import glassloop

    waits: list[float | None] = []

    class RecordingClock(SteppedClock):
        def wait_timeout(self, timeout: float | None) -> float | None:
            waits.append(timeout)
            return 0.0

    clock = RecordingClock()
    lp = glassloop.Loop(clock=clock)
    try:
        base = 1000.0 + 10 / 1024  # the start of a bucket
        lp.call_at(base + 0.0001, lambda: None).cancel()
        lp.call_at(base + 0.0008, lambda: None)
        lp._run_once()
        assert waits == [pytest.approx(base + 0.0008 - clock.now)]
    finally:
        lp.close()


# -- a Decimal deadline --------------------------------------------------------


@pytest.mark.skip_loop("uvloop", reason="uvloop's call_at computes a float delay (TypeError)")
def test_decimal_deadline_due_now(loop: Loop) -> None:
    """The shape asyncio handles: a Decimal deadline that is already due."""
    fired: list[str] = []

    async def main() -> None:
        lp = asyncio.get_running_loop()
        lp.call_at(decimal.Decimal(lp.time()) - 1, fired.append, "decimal")
        lp.call_at(lp.time() - 2, fired.append, "float, earlier")
        for _ in range(3):
            await asyncio.sleep(0)

    loop.run_until_complete(main())
    assert fired == ["float, earlier", "decimal"]


def test_decimal_deadline_in_the_future_on_glassloop() -> None:
    """asyncio's loop dies here (Decimal minus float while it computes its wait)."""
    import glassloop

    fired: list[bool] = []

    async def main() -> None:
        lp = asyncio.get_running_loop()
        deadline = decimal.Decimal(lp.time()) + decimal.Decimal("0.01")
        lp.call_at(deadline, lambda: fired.append(lp.time() >= deadline))
        await asyncio.sleep(0.05)

    glassloop.run(main())
    assert fired == [True]
