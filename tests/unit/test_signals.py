"""``add_signal_handler`` / ``remove_signal_handler``: delivery, errors, cleanup.

Signal dispositions and the wake-up fd belong to the whole process, so every
test leaves them as it found them (the ``restore_signals`` fixture checks it),
and only SIGUSR1 and SIGUSR2 are sent: pytest itself listens to SIGINT, and
pytest-timeout owns SIGALRM.
"""

from __future__ import annotations

import asyncio
import os
import signal
import threading
from collections.abc import Iterator
from typing import Any

import pytest

Loop = asyncio.AbstractEventLoop

SIGNALS = (signal.SIGUSR1, signal.SIGUSR2, signal.SIGINT)


def current_wakeup_fd() -> int:
    fd = signal.set_wakeup_fd(-1)
    if fd != -1:
        signal.set_wakeup_fd(fd)
    return fd


UVLOOP_KEEPS_ITS_HANDLER = (
    "uvloop leaves its own Python-level handler (and wake-up fd) installed after "
    "remove_signal_handler() and close(), instead of restoring the defaults"
)


#: The dispositions every test starts from: what a Python started with SIGINT
#: not ignored has.  A process started in the background by a non-interactive
#: shell (``bash scripts/test.sh > log &``, cron, some CI) inherits SIGINT as
#: SIG_IGN instead, and Python then leaves it so; yet removing a SIGINT handler
#: restores ``default_int_handler`` (asyncio's rule), so a test comparing with
#: what it inherited would fail only when started that way.
KNOWN_DISPOSITIONS: dict[int, Any] = {
    signal.SIGUSR1: signal.SIG_DFL,
    signal.SIGUSR2: signal.SIG_DFL,
    signal.SIGINT: signal.default_int_handler,
}


@pytest.fixture(autouse=True)
def restore_signals(request: pytest.FixtureRequest) -> Iterator[None]:
    """Start each test from KNOWN_DISPOSITIONS, fail it if it leaks, put back what was found.

    uvloop always leaks (see UVLOOP_KEEPS_ITS_HANDLER): it is only cleaned up after.
    """
    found = {sig: signal.getsignal(sig) for sig in SIGNALS}
    wakeup_before = current_wakeup_fd()
    for sig, handler in KNOWN_DISPOSITIONS.items():
        signal.signal(sig, handler)
    try:
        yield
    finally:
        after = {sig: signal.getsignal(sig) for sig in SIGNALS}
        wakeup_after = current_wakeup_fd()
        for sig, handler in found.items():
            signal.signal(sig, handler)
        signal.set_wakeup_fd(wakeup_before)
    callspec = getattr(request.node, "callspec", None)
    if callspec is not None and callspec.params.get("loop_name") == "uvloop":
        return
    assert after == KNOWN_DISPOSITIONS, "signal handlers leaked"
    assert wakeup_after == wakeup_before, "the wake-up fd leaked"


async def send_and_wait(sig: int) -> None:
    """Send ``sig`` to ourselves from inside the running loop, then let it be handled."""
    os.kill(os.getpid(), sig)
    await asyncio.sleep(0.05)


def test_handler_runs_in_the_loop_with_its_args(loop: Loop) -> None:
    async def main() -> tuple[Any, ...]:
        got = loop.create_future()

        def on_signal(*args: Any) -> None:
            # A loop callback, not a signal-handler frame: loop APIs are safe here.
            assert asyncio.get_running_loop() is loop
            got.set_result(args)

        loop.add_signal_handler(signal.SIGUSR1, on_signal, "a", 2)
        try:
            os.kill(os.getpid(), signal.SIGUSR1)
            return await asyncio.wait_for(got, 5)
        finally:
            loop.remove_signal_handler(signal.SIGUSR1)

    assert loop.run_until_complete(main()) == ("a", 2)


def test_each_delivery_runs_the_handler_again(loop: Loop) -> None:
    async def main() -> int:
        calls = 0
        arrived = asyncio.Event()

        def on_signal() -> None:
            nonlocal calls
            calls += 1
            arrived.set()

        loop.add_signal_handler(signal.SIGUSR2, on_signal)
        try:
            for _ in range(3):
                arrived.clear()
                os.kill(os.getpid(), signal.SIGUSR2)
                await asyncio.wait_for(arrived.wait(), 5)
        finally:
            loop.remove_signal_handler(signal.SIGUSR2)
        return calls

    assert loop.run_until_complete(main()) == 3


def test_signal_wakes_a_loop_blocked_in_poll(loop: Loop) -> None:
    caught: list[int] = []

    def on_signal() -> None:
        caught.append(1)
        loop.stop()

    loop.add_signal_handler(signal.SIGUSR2, on_signal)
    # From another thread, while the loop sleeps in poll with nothing to do.
    sender = threading.Timer(0.02, os.kill, (os.getpid(), signal.SIGUSR2))
    try:
        sender.start()
        guard = loop.call_later(10, loop.stop)  # nothing else would wake it
        loop.run_forever()
        guard.cancel()
    finally:
        sender.join()
        loop.remove_signal_handler(signal.SIGUSR2)
    assert caught == [1]


def test_a_busy_loop_still_sees_signals(loop: Loop) -> None:
    """Callbacks always ready must not starve the signal pipe."""

    async def main() -> int:
        caught: list[int] = []
        loop.add_signal_handler(signal.SIGUSR1, caught.append, 1)
        try:
            os.kill(os.getpid(), signal.SIGUSR1)
            spins = 0
            while not caught and spins < 100_000:
                spins += 1
                await asyncio.sleep(0)
            return len(caught)
        finally:
            loop.remove_signal_handler(signal.SIGUSR1)

    assert loop.run_until_complete(main()) == 1


@pytest.mark.skip_loop("uvloop", reason="uvloop drops signals that arrive while it is not running")
def test_signal_sent_while_the_loop_is_idle_is_handled_when_it_runs(loop: Loop) -> None:
    caught: list[str] = []
    loop.add_signal_handler(signal.SIGUSR1, caught.append, "late")
    try:
        os.kill(os.getpid(), signal.SIGUSR1)  # nobody is running the loop now
        assert caught == []
        loop.run_until_complete(asyncio.sleep(0.05))
    finally:
        loop.remove_signal_handler(signal.SIGUSR1)
    assert caught == ["late"]


def test_adding_again_replaces_the_handler(loop: Loop) -> None:
    caught: list[str] = []
    loop.add_signal_handler(signal.SIGUSR1, caught.append, "old")
    loop.add_signal_handler(signal.SIGUSR1, caught.append, "new")
    try:
        loop.run_until_complete(send_and_wait(signal.SIGUSR1))
    finally:
        loop.remove_signal_handler(signal.SIGUSR1)
    assert caught == ["new"]


def test_an_exception_in_the_handler_goes_to_the_exception_handler(loop: Loop) -> None:
    contexts: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _, ctx: contexts.append(ctx))

    def boom() -> None:
        raise ZeroDivisionError

    loop.add_signal_handler(signal.SIGUSR1, boom)
    try:
        loop.run_until_complete(send_and_wait(signal.SIGUSR1))
    finally:
        loop.remove_signal_handler(signal.SIGUSR1)
    assert len(contexts) == 1
    assert isinstance(contexts[0]["exception"], ZeroDivisionError)


@pytest.mark.skip_loop("uvloop", reason=UVLOOP_KEEPS_ITS_HANDLER)
def test_removing_restores_the_default_dispositions(loop: Loop) -> None:
    loop.add_signal_handler(signal.SIGUSR1, print)
    loop.add_signal_handler(signal.SIGINT, print)
    assert signal.getsignal(signal.SIGINT) is not signal.default_int_handler
    assert loop.remove_signal_handler(signal.SIGUSR1) is True
    assert signal.getsignal(signal.SIGUSR1) == signal.SIG_DFL
    assert loop.remove_signal_handler(signal.SIGINT) is True
    # SIGINT goes back to raising KeyboardInterrupt, not to SIG_DFL (which kills).
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    assert loop.remove_signal_handler(signal.SIGINT) is False


@pytest.mark.skip_loop("uvloop", reason=UVLOOP_KEEPS_ITS_HANDLER)
def test_the_wakeup_fd_is_released_with_the_last_handler(loop: Loop) -> None:
    before = current_wakeup_fd()
    loop.add_signal_handler(signal.SIGUSR1, print)
    loop.add_signal_handler(signal.SIGUSR2, print)
    assert current_wakeup_fd() != before
    loop.remove_signal_handler(signal.SIGUSR1)
    assert current_wakeup_fd() != before  # SIGUSR2 still needs it
    loop.remove_signal_handler(signal.SIGUSR2)
    assert current_wakeup_fd() == -1


@pytest.mark.skip_loop("uvloop", reason=UVLOOP_KEEPS_ITS_HANDLER)
def test_close_removes_the_handlers(loop: Loop) -> None:
    loop.add_signal_handler(signal.SIGUSR1, print)
    loop.add_signal_handler(signal.SIGINT, print)
    loop.close()
    assert signal.getsignal(signal.SIGUSR1) == signal.SIG_DFL
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    assert current_wakeup_fd() == -1


@pytest.mark.parametrize("sig", [0, -1, signal.NSIG + 1])
def test_invalid_signal_numbers_are_value_errors(loop: Loop, sig: int) -> None:
    with pytest.raises(ValueError):
        loop.add_signal_handler(sig, print)
    with pytest.raises(ValueError):
        loop.remove_signal_handler(sig)


def test_a_non_int_signal_is_a_type_error(loop: Loop) -> None:
    with pytest.raises(TypeError):
        loop.add_signal_handler("SIGUSR1", print)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        loop.remove_signal_handler("SIGUSR1")  # type: ignore[arg-type]


def test_uncatchable_signals_are_runtime_errors(loop: Loop) -> None:
    for sig in (signal.SIGKILL, signal.SIGSTOP):
        with pytest.raises(RuntimeError):
            loop.add_signal_handler(sig, print)
        # Nothing was installed, so there is nothing to remove.
        assert loop.remove_signal_handler(sig) is False


def test_coroutines_are_refused(loop: Loop) -> None:
    async def handler() -> None:
        pass

    with pytest.raises(TypeError):
        loop.add_signal_handler(signal.SIGUSR1, handler)
    coro = handler()
    with pytest.raises(TypeError):
        loop.add_signal_handler(signal.SIGUSR1, coro)  # type: ignore[arg-type]
    coro.close()
    assert signal.getsignal(signal.SIGUSR1) == signal.SIG_DFL


@pytest.mark.skip_loop(
    "uvloop", reason="uvloop raises ValueError off the main thread; asyncio RuntimeError"
)
def test_only_the_main_thread_may_add_handlers(loop: Loop) -> None:
    errors: list[BaseException] = []

    def in_thread() -> None:
        try:
            loop.add_signal_handler(signal.SIGUSR1, print)
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=in_thread)
    thread.start()
    thread.join()
    assert len(errors) == 1 and isinstance(errors[0], RuntimeError)
    assert signal.getsignal(signal.SIGUSR1) == signal.SIG_DFL


def test_a_closed_loop_refuses_handlers(loop: Loop) -> None:
    loop.close()
    with pytest.raises(RuntimeError):
        loop.add_signal_handler(signal.SIGUSR1, print)


def test_another_loops_wakeup_fd_survives_our_last_removal() -> None:
    """glassloop only: asyncio would set the wake-up fd to -1 under the other loop."""
    import glassloop

    first, second = glassloop.new_event_loop(), glassloop.new_event_loop()
    try:
        first.add_signal_handler(signal.SIGUSR1, print)
        caught: list[str] = []
        second.add_signal_handler(signal.SIGUSR2, caught.append, "second")
        first.remove_signal_handler(signal.SIGUSR1)  # first's last handler
        second.run_until_complete(send_and_wait(signal.SIGUSR2))
        assert caught == ["second"]
        second.remove_signal_handler(signal.SIGUSR2)
        assert current_wakeup_fd() == -1
    finally:
        first.close()
        second.close()
