"""Callbacks and timers: the order guarantees everything else is built on.

asyncio promises FIFO order for ``call_soon`` and deadline order for timers;
frameworks lean on both without saying so, so they are checked exactly here.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import threading
import time
import weakref
from typing import Any

import pytest

Loop = asyncio.AbstractEventLoop

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="unset")


def test_call_soon_runs_callbacks_in_fifo_order(loop: Loop) -> None:
    seen: list[int] = []
    for i in range(20):
        loop.call_soon(seen.append, i)
    loop.call_soon(loop.stop)
    loop.run_forever()
    assert seen == list(range(20))


def test_call_soon_passes_positional_args_unchanged(loop: Loop) -> None:
    seen: list[tuple[Any, ...]] = []
    marker = object()
    loop.call_soon(lambda *a: seen.append(a), 1, "two", None, marker)
    loop.call_soon(loop.stop)
    loop.run_forever()
    assert seen == [(1, "two", None, marker)]


def test_callbacks_scheduled_by_callbacks_run_after_those_already_queued(loop: Loop) -> None:
    seen: list[str] = []

    def first() -> None:
        seen.append("first")
        loop.call_soon(seen.append, "scheduled-by-first")

    loop.call_soon(first)
    loop.call_soon(seen.append, "second")
    loop.run_until_complete(asyncio.sleep(0.01))
    assert seen == ["first", "second", "scheduled-by-first"]


def test_call_soon_runs_in_a_copy_of_the_current_context(loop: Loop) -> None:
    seen: list[str] = []

    def callback() -> None:
        seen.append(request_id.get())
        request_id.set("changed-inside")

    def schedule() -> None:
        request_id.set("outer")
        loop.call_soon(callback)
        request_id.set("changed-after-scheduling")

    contextvars.copy_context().run(schedule)
    loop.call_soon(loop.stop)
    loop.run_forever()
    assert seen == ["outer"]
    assert request_id.get() == "unset"


def test_call_soon_with_explicit_context_runs_and_mutates_that_context(loop: Loop) -> None:
    ctx = contextvars.copy_context()
    ctx.run(request_id.set, "from-ctx")
    seen: list[str] = []

    def callback() -> None:
        seen.append(request_id.get())
        request_id.set("set-by-callback")

    loop.call_soon(callback, context=ctx)
    loop.call_soon(loop.stop)
    loop.run_forever()
    assert seen == ["from-ctx"]
    assert ctx[request_id] == "set-by-callback"
    assert request_id.get() == "unset"


def test_cancelled_handle_never_runs(loop: Loop) -> None:
    seen: list[str] = []
    handle = loop.call_soon(seen.append, "cancelled")
    loop.call_soon(seen.append, "kept")
    handle.cancel()
    assert handle.cancelled()
    loop.call_soon(loop.stop)
    loop.run_forever()
    assert seen == ["kept"]


def test_call_later_runs_timers_in_deadline_order(loop: Loop) -> None:
    seen: list[str] = []
    loop.call_later(0.06, seen.append, "c")
    loop.call_later(0.02, seen.append, "a")
    loop.call_later(0.04, seen.append, "b")
    loop.call_later(0.10, loop.stop)
    loop.run_forever()
    assert seen == ["a", "b", "c"]


def test_call_later_waits_at_least_its_delay(loop: Loop) -> None:
    fired: list[float] = []
    start = time.monotonic()
    handle = loop.call_later(0.05, lambda: (fired.append(time.monotonic()), loop.stop()))
    # Duck-typed: uvloop's handles are its own classes, not asyncio.TimerHandle.
    assert callable(handle.cancel) and callable(handle.when)
    loop.run_forever()
    assert len(fired) == 1
    # 5 ms of slack: uvloop rounds delays to whole milliseconds.
    assert fired[0] - start >= 0.045


def test_call_at_fires_when_loop_time_reaches_the_deadline(loop: Loop) -> None:
    seen: list[float] = []
    when = loop.time() + 0.03
    handle = loop.call_at(when, lambda: (seen.append(loop.time()), loop.stop()))
    assert handle.when() == pytest.approx(when, abs=0.002)
    loop.run_forever()
    assert len(seen) == 1
    assert seen[0] >= when - 0.002


def test_call_at_in_the_past_runs_promptly(loop: Loop) -> None:
    seen: list[str] = []
    loop.call_at(loop.time() - 10, seen.append, "late")
    loop.call_later(-1, seen.append, "negative-delay")
    start = time.monotonic()
    loop.run_until_complete(asyncio.sleep(0.01))
    assert sorted(seen) == ["late", "negative-delay"]
    assert time.monotonic() - start < 1


def test_cancelled_timer_never_fires(loop: Loop) -> None:
    seen: list[str] = []
    doomed = loop.call_later(0.01, seen.append, "doomed")
    loop.call_later(0.02, seen.append, "kept")
    doomed.cancel()
    assert doomed.cancelled()
    loop.run_until_complete(asyncio.sleep(0.05))
    assert seen == ["kept"]


def test_timer_cancelled_by_an_earlier_callback_in_the_same_turn_does_not_run(loop: Loop) -> None:
    seen: list[str] = []
    later = loop.call_later(0.02, seen.append, "later")

    def cancel_it() -> None:
        seen.append("canceller")
        later.cancel()

    loop.call_later(0.01, cancel_it)
    loop.run_until_complete(asyncio.sleep(0.05))
    assert seen == ["canceller"]


def test_timers_accept_context(loop: Loop) -> None:
    ctx = contextvars.copy_context()
    ctx.run(request_id.set, "timer-ctx")
    seen: list[str] = []
    loop.call_later(0.001, lambda: seen.append(request_id.get()), context=ctx)
    loop.call_at(loop.time() + 0.002, lambda: seen.append(request_id.get()), context=ctx)
    loop.run_until_complete(asyncio.sleep(0.03))
    assert seen == ["timer-ctx", "timer-ctx"]


def test_time_is_monotonic_and_tracks_real_time(loop: Loop) -> None:
    samples: list[float] = []

    async def sample() -> None:
        for _ in range(5):
            samples.append(loop.time())
            await asyncio.sleep(0.01)

    loop.run_until_complete(sample())
    assert samples == sorted(samples)
    assert samples[-1] - samples[0] >= 0.035
    assert isinstance(loop.time(), float)


def test_call_soon_threadsafe_wakes_a_loop_blocked_in_poll(loop: Loop) -> None:
    async def wait_for_thread() -> tuple[str, float]:
        fut = loop.create_future()
        start = time.monotonic()

        def worker() -> None:
            time.sleep(0.05)
            loop.call_soon_threadsafe(fut.set_result, "from-thread")

        threading.Thread(target=worker, daemon=True).start()
        # Nothing else is scheduled: the loop sleeps in its poller with no
        # timeout until the thread's callback wakes it.
        value = await fut
        return value, time.monotonic() - start

    value, elapsed = loop.run_until_complete(wait_for_thread())
    assert value == "from-thread"
    assert elapsed < 5


def test_call_soon_threadsafe_from_many_threads_keeps_each_threads_order(loop: Loop) -> None:
    per_thread = 200
    n_threads = 4
    seen: dict[int, list[int]] = {t: [] for t in range(n_threads)}

    async def main() -> None:
        done = loop.create_future()
        remaining = [n_threads * per_thread]

        def record(thread: int, i: int) -> None:
            seen[thread].append(i)
            remaining[0] -= 1
            if remaining[0] == 0:
                done.set_result(None)

        def worker(thread: int) -> None:
            for i in range(per_thread):
                loop.call_soon_threadsafe(record, thread, i)

        threads = [threading.Thread(target=worker, args=(t,)) for t in range(n_threads)]
        for t in threads:
            t.start()
        await done
        for t in threads:
            t.join()

    loop.run_until_complete(main())
    for t in range(n_threads):
        assert seen[t] == list(range(per_thread))


def test_call_soon_threadsafe_with_context(loop: Loop) -> None:
    ctx = contextvars.copy_context()
    ctx.run(request_id.set, "threadsafe-ctx")
    seen: list[str] = []
    loop.call_soon_threadsafe(lambda: seen.append(request_id.get()), context=ctx)
    loop.call_soon(loop.stop)
    loop.run_forever()
    assert seen == ["threadsafe-ctx"]


# -- argument checks -------------------------------------------------------------
# asyncio checks callbacks only in debug mode (the check costs time on the hot
# path), so that is the contract these tests pin down.


async def _coroutine_function() -> None:
    pass


@pytest.mark.skip_loop("uvloop", reason="uvloop does not check callbacks, even in debug mode")
@pytest.mark.parametrize("method", ["call_soon", "call_soon_threadsafe", "call_later", "call_at"])
def test_scheduling_a_coroutine_object_is_a_type_error(loop: Loop, method: str) -> None:
    loop.set_debug(True)
    coro = _coroutine_function()
    try:
        with pytest.raises(TypeError):
            _schedule(loop, method, coro)
    finally:
        coro.close()


@pytest.mark.skip_loop("uvloop", reason="uvloop does not check callbacks, even in debug mode")
@pytest.mark.parametrize("method", ["call_soon", "call_soon_threadsafe", "call_later", "call_at"])
def test_scheduling_a_coroutine_function_is_a_type_error(loop: Loop, method: str) -> None:
    loop.set_debug(True)
    with pytest.raises(TypeError):
        _schedule(loop, method, _coroutine_function)


@pytest.mark.skip_loop("uvloop", reason="uvloop does not check callbacks, even in debug mode")
@pytest.mark.parametrize("method", ["call_soon", "call_soon_threadsafe", "call_later", "call_at"])
def test_scheduling_a_non_callable_is_a_type_error(loop: Loop, method: str) -> None:
    loop.set_debug(True)
    with pytest.raises(TypeError):
        _schedule(loop, method, 42)


class _Service:
    async def handler(self) -> None:
        pass


class _Callable:
    def __init__(self, seen: list[str]) -> None:
        self.seen = seen

    def __call__(self) -> None:
        self.seen.append("instance")

    def method(self) -> None:
        self.seen.append("method")


@pytest.mark.skip_loop("asyncio", reason="asyncio checks callbacks only in debug mode")
@pytest.mark.skip_loop("uvloop", reason="uvloop does not check callbacks, even in debug mode")
@pytest.mark.parametrize("method", ["call_soon", "call_later", "call_at"])
def test_glassloop_checks_callbacks_outside_debug_mode_too(loop: Loop, method: str) -> None:
    # The fast paths look closer only at what is not plainly a callback (the
    # compiled build's call_later/call_at test in C): both must still refuse
    # what debug mode refuses, and queue everything else.
    service = _Service()
    coro = _coroutine_function()
    try:
        for bad in (_coroutine_function, service.handler, coro, 42):
            with pytest.raises(TypeError):
                _schedule(loop, method, bad)
    finally:
        coro.close()
    seen: list[str] = []
    instance = _Callable(seen)
    _schedule(loop, method, lambda: seen.append("lambda"))
    _schedule(loop, method, instance)
    _schedule(loop, method, instance.method)
    _schedule(loop, method, functools.partial(seen.append, "partial"))
    _schedule(loop, method, seen.append, "builtin")
    loop.run_until_complete(asyncio.sleep(0.05))
    assert seen == ["lambda", "instance", "method", "partial", "builtin"]


def test_a_cancelled_timer_lets_go_of_its_callback_at_once(loop: Loop) -> None:
    # It stays in the timer heap until its deadline or a compaction: what it
    # held must not stay alive with it.
    seen: list[str] = []
    instance = _Callable(seen)
    argument = _Callable(seen)
    callback_ref, argument_ref = weakref.ref(instance), weakref.ref(argument)
    timer = loop.call_later(3600, instance, argument)
    del instance, argument
    assert callback_ref() is not None and argument_ref() is not None
    timer.cancel()
    timer.cancel()  # (a second cancel changes nothing)
    assert callback_ref() is None and argument_ref() is None
    assert timer.cancelled()
    loop.run_until_complete(asyncio.sleep(0))
    assert seen == []


@pytest.mark.skip_loop(
    "uvloop", reason="uvloop's repr names the callback without arguments and no deadline"
)
@pytest.mark.parametrize("kind", ["call_soon", "call_later"])
def test_a_handle_s_repr_names_its_callback_until_it_is_cancelled(loop: Loop, kind: str) -> None:
    seen: list[str] = []
    handle = _schedule(loop, kind, _Callable(seen).method)
    text = repr(handle)
    if kind == "call_later":
        assert text.startswith("<TimerHandle when=") and f"when={handle.when()}" in text
    else:
        assert text.startswith("<Handle ")
    assert "_Callable.method()" in text
    handle.cancel()
    assert "cancelled" in repr(handle) and "_Callable.method" not in repr(handle)
    loop.run_until_complete(asyncio.sleep(0.05))
    assert seen == []


@pytest.mark.skip_loop("uvloop", reason="uvloop's cancel forgets the callback in debug mode too")
@pytest.mark.parametrize("kind", ["call_soon", "call_later"])
def test_a_handle_cancelled_in_debug_mode_keeps_naming_its_callback(loop: Loop, kind: str) -> None:
    loop.set_debug(True)
    seen: list[str] = []
    handle = _schedule(loop, kind, _Callable(seen).method)
    handle.cancel()
    assert "_Callable.method" in repr(handle) and "cancelled" in repr(handle)
    loop.run_until_complete(asyncio.sleep(0.05))
    assert seen == []


@pytest.mark.skip_loop("uvloop", reason="uvloop's TimerHandles cannot be ordered ('<' raises)")
def test_timers_are_hashed_and_ordered_by_deadline(loop: Loop) -> None:
    early = loop.call_later(3600, print)
    late = loop.call_later(7200, print)
    twin = loop.call_at(early.when(), print)  # same deadline, callback and arguments
    try:
        assert early < late and early <= late and late > early and late >= early
        assert not late < early and not early > late
        assert sorted([late, early]) == [early, late]
        assert hash(early) == hash(early.when())
        assert early == early and early != late
        assert twin == early and twin <= early and twin >= early and hash(twin) == hash(early)
        twin.cancel()
        assert twin != early  # (a cancelled timer is not its live twin)
        assert early.__lt__(object()) is NotImplemented
    finally:
        early.cancel()
        late.cancel()
        twin.cancel()


def _schedule(loop: Loop, method: str, callback: Any, *args: Any) -> asyncio.Handle:
    if method == "call_later":
        return loop.call_later(0.01, callback, *args)
    if method == "call_at":
        return loop.call_at(loop.time() + 0.01, callback, *args)
    result: asyncio.Handle = getattr(loop, method)(callback, *args)
    return result
