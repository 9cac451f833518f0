"""Running, stopping and closing a loop, and what it says when misused.

Libraries drive loops in all three ways (run_until_complete, run_forever with
stop, nested misuse caught by RuntimeError), so each has to match asyncio's
semantics and exception types, not just "work".
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
from collections.abc import AsyncIterator, Coroutine
from typing import Any

import pytest

Loop = asyncio.AbstractEventLoop


async def _value_after_sleep(value: Any, delay: float = 0.001) -> Any:
    await asyncio.sleep(delay)
    return value


# -- run_until_complete ----------------------------------------------------------


def test_run_until_complete_returns_the_coroutines_result(loop: Loop) -> None:
    assert loop.run_until_complete(_value_after_sleep("result")) == "result"


def test_run_until_complete_raises_the_coroutines_exception(loop: Loop) -> None:
    async def boom() -> None:
        await asyncio.sleep(0)
        raise KeyError("boom")

    with pytest.raises(KeyError, match="boom"):
        loop.run_until_complete(boom())


def test_run_until_complete_wraps_a_coroutine_in_a_task(loop: Loop) -> None:
    async def which_task() -> asyncio.Task[Any] | None:
        return asyncio.current_task()

    task = loop.run_until_complete(which_task())
    assert task is not None
    assert task.done()


def test_run_until_complete_accepts_a_future(loop: Loop) -> None:
    fut = loop.create_future()
    loop.call_later(0.01, fut.set_result, 42)
    assert loop.run_until_complete(fut) == 42


def test_run_until_complete_rejects_a_future_of_another_loop(loop: Loop, loop_factory: Any) -> None:
    other = loop_factory()
    try:
        fut = other.create_future()
        with pytest.raises(ValueError):
            loop.run_until_complete(fut)
    finally:
        other.close()


def test_run_until_complete_reports_a_loop_stopped_too_early(loop: Loop) -> None:
    async def stops_its_own_loop() -> None:
        asyncio.get_running_loop().stop()
        await asyncio.sleep(10)

    coro = stops_its_own_loop()
    with pytest.raises(RuntimeError):
        loop.run_until_complete(coro)
    # The loop is still usable afterwards.
    assert loop.run_until_complete(_value_after_sleep("again")) == "again"


def test_loop_is_reusable_across_runs(loop: Loop) -> None:
    for i in range(3):
        assert loop.run_until_complete(_value_after_sleep(i)) == i
    assert not loop.is_running()


# -- run_forever and stop -----------------------------------------------------------


def test_is_running_is_true_only_inside_the_loop(loop: Loop) -> None:
    seen: list[bool] = []
    loop.call_soon(lambda: seen.append(loop.is_running()))
    loop.call_soon(loop.stop)
    assert not loop.is_running()
    loop.run_forever()
    assert seen == [True]
    assert not loop.is_running()


def test_stop_called_before_run_forever_runs_one_iteration(loop: Loop) -> None:
    seen: list[str] = []
    loop.call_soon(seen.append, "queued-before")
    loop.stop()
    loop.run_forever()
    assert seen == ["queued-before"]


@pytest.mark.skip_loop(
    "uvloop",
    reason="uvloop's stop() is itself a queued callback, so callbacks queued "
    "just after it in the same iteration still run",
)
def test_callbacks_queued_after_stop_wait_for_the_next_run(loop: Loop) -> None:
    seen: list[str] = []

    def stopper() -> None:
        seen.append("stopper")
        loop.stop()
        loop.call_soon(seen.append, "after-stop")

    loop.call_soon(stopper)
    loop.run_forever()
    assert seen == ["stopper"]
    loop.call_soon(loop.stop)
    loop.run_forever()
    assert seen == ["stopper", "after-stop"]


def test_run_forever_returns_after_stop_from_a_timer(loop: Loop) -> None:
    seen: list[str] = []
    loop.call_later(0.02, lambda: (seen.append("timer"), loop.stop()))
    loop.run_forever()
    assert seen == ["timer"]
    assert loop.run_until_complete(_value_after_sleep("after")) == "after"


def test_stop_from_another_thread_via_call_soon_threadsafe(loop: Loop) -> None:
    started = threading.Event()
    loop.call_soon(started.set)

    def stopper() -> None:
        started.wait(5)
        loop.call_soon_threadsafe(loop.stop)

    thread = threading.Thread(target=stopper)
    thread.start()
    loop.run_forever()
    thread.join(5)
    assert started.is_set()


# -- misuse ----------------------------------------------------------------------


def test_run_until_complete_while_running_is_a_runtime_error(loop: Loop) -> None:
    async def nested() -> None:
        inner = _value_after_sleep(1)
        try:
            with pytest.raises(RuntimeError):
                asyncio.get_running_loop().run_until_complete(inner)
        finally:
            inner.close()

    loop.run_until_complete(nested())


def test_run_forever_while_running_is_a_runtime_error(loop: Loop) -> None:
    async def nested() -> None:
        with pytest.raises(RuntimeError):
            asyncio.get_running_loop().run_forever()

    loop.run_until_complete(nested())


def test_running_a_loop_inside_another_running_loop_is_a_runtime_error(
    loop: Loop, loop_factory: Any
) -> None:
    other = loop_factory()

    async def nested() -> None:
        inner = _value_after_sleep(1)
        try:
            with pytest.raises(RuntimeError):
                other.run_until_complete(inner)
        finally:
            inner.close()

    try:
        loop.run_until_complete(nested())
    finally:
        other.close()


def test_close_while_running_is_a_runtime_error(loop: Loop) -> None:
    async def closer() -> None:
        with pytest.raises(RuntimeError):
            asyncio.get_running_loop().close()

    loop.run_until_complete(closer())
    assert not loop.is_closed()


def test_closed_loop_refuses_work_with_runtime_error(loop: Loop) -> None:
    loop.close()
    assert loop.is_closed()
    loop.close()  # closing twice is allowed
    with pytest.raises(RuntimeError):
        loop.call_soon(print)
    with pytest.raises(RuntimeError):
        loop.call_later(0.1, print)
    with pytest.raises(RuntimeError):
        loop.call_at(loop.time() + 1, print)
    with pytest.raises(RuntimeError):
        loop.call_soon_threadsafe(print)
    with pytest.raises(RuntimeError):
        loop.run_forever()
    coro = _value_after_sleep(1)
    try:
        with pytest.raises(RuntimeError):
            loop.run_until_complete(coro)
    finally:
        coro.close()
    coro = _value_after_sleep(1)
    try:
        with pytest.raises(RuntimeError):
            loop.create_task(coro)
    finally:
        coro.close()


# -- exception handler ------------------------------------------------------------


def test_exception_handler_is_none_until_set(loop: Loop) -> None:
    assert loop.get_exception_handler() is None

    def handler(lp: Loop, ctx: dict[str, Any]) -> None:
        pass

    loop.set_exception_handler(handler)
    assert loop.get_exception_handler() is handler
    loop.set_exception_handler(None)
    assert loop.get_exception_handler() is None


def test_set_exception_handler_rejects_non_callables(loop: Loop) -> None:
    with pytest.raises(TypeError):
        loop.set_exception_handler("not callable")  # type: ignore[arg-type]


def test_call_exception_handler_passes_loop_and_context(loop: Loop) -> None:
    calls: list[tuple[Loop, dict[str, Any]]] = []
    loop.set_exception_handler(lambda lp, ctx: calls.append((lp, ctx)))
    context = {"message": "something odd", "extra": 7}
    loop.call_exception_handler(context)
    assert len(calls) == 1
    assert calls[0][0] is loop
    assert calls[0][1]["message"] == "something odd"
    assert calls[0][1]["extra"] == 7


def test_exception_in_callback_reaches_handler_and_loop_continues(loop: Loop) -> None:
    contexts: list[dict[str, Any]] = []
    seen: list[str] = []
    loop.set_exception_handler(lambda lp, ctx: contexts.append(ctx))
    error = ZeroDivisionError("in callback")

    def bad() -> None:
        raise error

    loop.call_soon(bad)
    loop.call_soon(seen.append, "still-running")
    loop.call_later(0.01, loop.stop)
    loop.run_forever()
    assert seen == ["still-running"]
    assert len(contexts) == 1
    assert contexts[0]["exception"] is error
    assert isinstance(contexts[0]["message"], str)


def test_exception_in_timer_callback_reaches_handler(loop: Loop) -> None:
    contexts: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda lp, ctx: contexts.append(ctx))

    def bad() -> None:
        raise ValueError("in timer")

    loop.call_later(0.001, bad)
    loop.run_until_complete(asyncio.sleep(0.02))
    assert [type(c["exception"]) for c in contexts] == [ValueError]


def test_default_exception_handler_logs_to_the_asyncio_logger(
    loop: Loop, caplog: pytest.LogCaptureFixture
) -> None:
    def bad() -> None:
        raise RuntimeError("logged by default")

    with caplog.at_level(logging.ERROR, logger="asyncio"):
        loop.call_soon(bad)
        loop.call_later(0.01, loop.stop)
        loop.run_forever()
    records = [r for r in caplog.records if r.name == "asyncio"]
    assert len(records) == 1
    assert records[0].exc_info is not None
    assert isinstance(records[0].exc_info[1], RuntimeError)


def test_default_exception_handler_can_be_called_directly(
    loop: Loop, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="asyncio"):
        loop.default_exception_handler({"message": "direct call"})
    assert any("direct call" in r.getMessage() for r in caplog.records)


def test_a_failing_exception_handler_does_not_stop_the_loop(
    loop: Loop, caplog: pytest.LogCaptureFixture
) -> None:
    seen: list[str] = []

    def broken_handler(lp: Loop, ctx: dict[str, Any]) -> None:
        raise LookupError("handler is broken")

    def bad() -> None:
        raise ValueError("callback error")

    loop.set_exception_handler(broken_handler)
    with caplog.at_level(logging.ERROR, logger="asyncio"):
        loop.call_soon(bad)
        loop.call_soon(seen.append, "after")
        loop.call_later(0.01, loop.stop)
        loop.run_forever()
    assert seen == ["after"]
    assert caplog.records, "the handler's own failure should be logged"


# -- debug mode ------------------------------------------------------------------


def test_debug_flag_round_trips(loop: Loop) -> None:
    loop.set_debug(True)
    assert loop.get_debug() is True
    loop.set_debug(False)
    assert loop.get_debug() is False


def test_debug_mode_rejects_call_soon_from_a_foreign_thread(loop: Loop) -> None:
    loop.set_debug(True)
    errors: list[BaseException] = []

    async def main() -> None:
        def from_thread() -> None:
            try:
                loop.call_soon(print)
            except BaseException as exc:
                errors.append(exc)

        thread = threading.Thread(target=from_thread)
        thread.start()
        while thread.is_alive():
            await asyncio.sleep(0.005)

    loop.run_until_complete(main())
    assert [type(e) for e in errors] == [RuntimeError]


# -- futures, tasks and the task factory ---------------------------------------------


def test_create_future_is_pending_and_bound_to_the_loop(loop: Loop) -> None:
    fut = loop.create_future()
    assert asyncio.isfuture(fut)
    assert fut.get_loop() is loop
    assert not fut.done()
    fut.set_result("x")
    assert loop.run_until_complete(fut) == "x"


def test_create_task_returns_a_real_task(loop: Loop) -> None:
    async def main() -> Any:
        task = loop.create_task(_value_after_sleep("task-result"), name="named")
        assert isinstance(task, asyncio.Task)
        assert task.get_name() == "named"
        assert task.get_loop() is loop
        return await task

    assert loop.run_until_complete(main()) == "task-result"


def test_task_factory_is_used_by_create_task(loop: Loop) -> None:
    made: list[Coroutine[Any, Any, Any]] = []

    def factory(lp: Loop, coro: Coroutine[Any, Any, Any], **kwargs: Any) -> asyncio.Task[Any]:
        made.append(coro)
        return asyncio.Task(coro, loop=lp, **kwargs)

    assert loop.get_task_factory() is None
    loop.set_task_factory(factory)  # type: ignore[arg-type]
    assert loop.get_task_factory() is factory

    async def main() -> Any:
        return await asyncio.gather(
            loop.create_task(_value_after_sleep(1)),
            asyncio.ensure_future(_value_after_sleep(2)),
        )

    assert loop.run_until_complete(main()) == [1, 2]
    # main itself, then the two tasks it made.
    assert len(made) == 3
    loop.set_task_factory(None)
    assert loop.get_task_factory() is None


def test_set_task_factory_rejects_non_callables(loop: Loop) -> None:
    with pytest.raises(TypeError):
        loop.set_task_factory(42)  # type: ignore[arg-type]


# -- async generators ------------------------------------------------------------


def test_shutdown_asyncgens_finalizes_suspended_generators(loop: Loop) -> None:
    events: list[str] = []

    async def ticker() -> AsyncIterator[int]:
        try:
            events.append("started")
            yield 1
            yield 2
        finally:
            events.append("finalized")

    gen = ticker()

    async def take_one(agen: AsyncIterator[int]) -> int:
        return await agen.__anext__()

    assert loop.run_until_complete(take_one(gen)) == 1
    assert events == ["started"]
    loop.run_until_complete(loop.shutdown_asyncgens())
    assert events == ["started", "finalized"]
    del gen


# -- executors -------------------------------------------------------------------


def test_run_in_executor_runs_in_a_worker_thread(loop: Loop) -> None:
    def work(a: int, b: int) -> tuple[int, int]:
        return a + b, threading.get_ident()

    total, ident = loop.run_until_complete(loop.run_in_executor(None, work, 2, 3))
    assert total == 5
    assert ident != threading.get_ident()


def test_run_in_executor_propagates_exceptions(loop: Loop) -> None:
    def fail() -> None:
        raise OSError("from worker")

    with pytest.raises(OSError, match="from worker"):
        loop.run_until_complete(loop.run_in_executor(None, fail))


def test_run_in_executor_uses_an_explicit_executor(loop: Loop) -> None:
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="explicit") as pool:
        name = loop.run_until_complete(
            loop.run_in_executor(pool, lambda: threading.current_thread().name)
        )
    assert name.startswith("explicit")


def test_set_default_executor_is_used_for_none(loop: Loop) -> None:
    pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="default-pool")
    loop.set_default_executor(pool)
    try:
        name = loop.run_until_complete(
            loop.run_in_executor(None, lambda: threading.current_thread().name)
        )
        assert name.startswith("default-pool")
    finally:
        loop.run_until_complete(loop.shutdown_default_executor())


def test_shutdown_default_executor_waits_for_running_work(loop: Loop) -> None:
    finished = threading.Event()

    def slow() -> None:
        threading.Event().wait(0.05)
        finished.set()

    async def main() -> None:
        asyncio.get_running_loop().run_in_executor(None, slow)
        await asyncio.get_running_loop().shutdown_default_executor()

    loop.run_until_complete(main())
    assert finished.is_set()


def test_run_in_executor_after_shutdown_default_executor_is_a_runtime_error(loop: Loop) -> None:
    loop.run_until_complete(loop.run_in_executor(None, int))
    loop.run_until_complete(loop.shutdown_default_executor())
    with pytest.raises(RuntimeError):
        loop.run_in_executor(None, int)


def test_run_in_executor_rejects_coroutine_functions_in_debug_mode(loop: Loop) -> None:
    loop.set_debug(True)

    async def not_for_threads() -> None:
        pass

    with pytest.raises(TypeError):
        loop.run_in_executor(None, not_for_threads)


def test_debug_mode_logs_slow_callbacks(loop: Loop, caplog: pytest.LogCaptureFixture) -> None:
    loop.set_debug(True)
    loop.slow_callback_duration = 0.01

    def slow() -> None:
        threading.Event().wait(0.05)  # blocks the loop, which debug mode reports

    with caplog.at_level(logging.WARNING, logger="asyncio"):
        loop.call_soon(slow)
        loop.call_soon(loop.stop)
        loop.run_forever()
    assert any("took" in r.getMessage() for r in caplog.records), caplog.records


def test_slow_callback_duration_defaults_to_a_tenth_of_a_second(loop: Loop) -> None:
    assert loop.slow_callback_duration == pytest.approx(0.1)
