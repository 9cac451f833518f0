"""Tasks as frameworks see them: identity, cancellation, structured concurrency.

asyncio's task helpers (timeout, TaskGroup, shield, wait_for, gather) are pure
Python on top of the loop and ``current_task``; if a loop's tasks are wrong in
any small way (cancel counts, context, the current task), these break first.
"""

from __future__ import annotations

import asyncio
import contextvars
import gc
import sys
import time
from typing import Any

import pytest

Loop = asyncio.AbstractEventLoop

user: contextvars.ContextVar[str] = contextvars.ContextVar("user", default="anonymous")


async def _sleep_then(value: Any, delay: float = 0.001) -> Any:
    await asyncio.sleep(delay)
    return value


async def _task_awaiting_a_future() -> tuple[asyncio.Future[Any], asyncio.Task[Any]]:
    """A future, and a task (its first step taken) that returns what the future gets."""
    running = asyncio.get_running_loop()
    fut = running.create_future()

    async def body() -> Any:
        return await fut

    task = running.create_task(body())
    await asyncio.sleep(0)
    return fut, task


# -- identity --------------------------------------------------------------------


def test_current_task_is_the_running_task(loop: Loop) -> None:
    async def main() -> None:
        me = asyncio.current_task()
        assert me is not None
        child_saw: list[asyncio.Task[Any] | None] = []

        async def child() -> None:
            child_saw.append(asyncio.current_task())
            await asyncio.sleep(0)
            child_saw.append(asyncio.current_task())

        task = asyncio.get_running_loop().create_task(child())
        await task
        assert child_saw == [task, task]
        assert asyncio.current_task() is me

    loop.run_until_complete(main())


def test_current_task_is_none_outside_a_task(loop: Loop) -> None:
    seen: list[object] = []
    loop.call_soon(lambda: seen.append(asyncio.current_task(loop)))
    loop.call_soon(loop.stop)
    loop.run_forever()
    assert seen == [None]
    assert asyncio.current_task(loop) is None


def test_a_step_over_another_running_task_fails_as_asyncio_s_and_keeps_its_record(
    loop: Loop,
) -> None:
    """The running task is asyncio's record (``_current_tasks``), which the
    compiled step writes itself: a step that finds another task recorded
    refuses to run, one that finds another recorded when it ends says so, and
    neither rewrites the record, as asyncio's task does."""
    errors: list[str] = []
    loop.set_exception_handler(lambda lp, context: errors.append(str(context.get("exception"))))
    intruder = object()
    never_stepped: list[asyncio.Task[Any]] = []
    seen: list[object] = []

    async def refused() -> None:
        seen.append("refused ran")

    def occupy() -> None:
        asyncio.tasks._enter_task(loop, intruder)  # type: ignore[attr-defined]
        task = loop.create_task(refused())  # its step is queued before `release`
        loop.call_soon(release, task)

    def release(task: asyncio.Task[Any]) -> None:
        seen.append(asyncio.current_task(loop))
        asyncio.tasks._leave_task(loop, intruder)  # type: ignore[attr-defined]
        never_stepped.append(task)

    loop.call_soon(occupy)
    loop.call_soon(loop.call_soon, loop.stop)
    loop.run_forever()
    assert seen == [intruder]
    assert len(errors) == 1 and errors[0].startswith("Cannot enter into task"), errors
    # Its step is gone (asyncio's task, too, would stay pending for good): end it.
    (task,) = never_stepped
    assert not task.done()
    asyncio.Future.set_result(task, None)
    task.get_coro().close()  # type: ignore[union-attr]

    async def swaps_itself_out() -> None:
        me = asyncio.current_task()
        asyncio.tasks._leave_task(loop, me)  # type: ignore[attr-defined]
        asyncio.tasks._enter_task(loop, intruder)  # type: ignore[attr-defined]

    def after() -> None:
        loop.stop()
        seen.append(asyncio.current_task(loop))
        if seen[-1] is intruder:
            asyncio.tasks._leave_task(loop, intruder)  # type: ignore[attr-defined]
            seen.append(asyncio.current_task(loop))

    del errors[:], seen[:]
    task = loop.create_task(swaps_itself_out())
    loop.call_soon(loop.call_soon, after)
    loop.run_forever()
    assert seen == [intruder, None]
    assert len(errors) == 1 and errors[0].startswith("Leaving task"), errors
    assert task.done()


def test_all_tasks_lists_pending_tasks_of_this_loop(loop: Loop) -> None:
    async def main() -> None:
        me = asyncio.current_task()
        gate = asyncio.Event()
        waiters = [asyncio.get_running_loop().create_task(gate.wait()) for _ in range(3)]
        await asyncio.sleep(0)
        assert asyncio.all_tasks() == {me, *waiters}
        gate.set()
        await asyncio.gather(*waiters)
        assert asyncio.all_tasks() == {me}

    loop.run_until_complete(main())
    assert asyncio.all_tasks(loop) == set()


def test_a_task_made_while_asyncio_iterates_its_registry_is_listed(loop: Loop) -> None:
    """With removals waiting in asyncio's WeakSet of tasks (tasks died while it
    was being iterated), a new task still goes into it (the compiled Task then
    calls asyncio's _register_task instead of adding the reference itself)."""
    registry = getattr(asyncio.tasks, "_scheduled_tasks", None)
    if registry is None:
        registry = asyncio.tasks._all_tasks  # type: ignore[attr-defined]

    async def short() -> None:
        pass

    async def main() -> None:
        doomed = [asyncio.get_running_loop().create_task(short()) for _ in range(3)]
        for _ in range(3):
            await asyncio.sleep(0)
        assert all(t.done() for t in doomed)
        walking = iter(registry)  # holds the set's iteration guard
        next(walking)
        del doomed
        gc.collect()
        assert registry._pending_removals  # the dead tasks' references wait
        task = asyncio.get_running_loop().create_task(asyncio.sleep(0))
        walking.close()
        assert task in asyncio.all_tasks()
        await task

    loop.run_until_complete(main())


def test_default_task_names_and_set_name(loop: Loop) -> None:
    async def main() -> None:
        lp = asyncio.get_running_loop()
        unnamed = lp.create_task(_sleep_then(None))
        assert unnamed.get_name().startswith("Task-")
        named = lp.create_task(_sleep_then(None), name="worker-1")
        assert named.get_name() == "worker-1"
        named.set_name("worker-2")
        assert named.get_name() == "worker-2"
        assert "worker-2" in repr(named)
        await asyncio.gather(unnamed, named)

    loop.run_until_complete(main())


def test_get_stack_shows_where_a_task_is_suspended(loop: Loop) -> None:
    async def parked_here(gate: asyncio.Event) -> None:
        await gate.wait()

    async def main() -> None:
        gate = asyncio.Event()
        task = asyncio.get_running_loop().create_task(parked_here(gate))
        await asyncio.sleep(0)
        frames = task.get_stack()
        assert frames, "a suspended task has at least its own frame"
        assert frames[0].f_code.co_name == "parked_here"
        gate.set()
        await task
        assert task.get_stack() == []

    loop.run_until_complete(main())


def test_done_callbacks_run_soon_not_synchronously(loop: Loop) -> None:
    async def main() -> list[str]:
        events: list[str] = []
        fut = asyncio.get_running_loop().create_future()
        fut.add_done_callback(lambda f: events.append(f"callback:{f.result()}"))
        fut.set_result("v")
        events.append("after-set_result")
        await asyncio.sleep(0)
        return events

    assert loop.run_until_complete(main()) == ["after-set_result", "callback:v"]


def test_sleep_zero_interleaves_tasks_round_robin(loop: Loop) -> None:
    order: list[str] = []

    async def worker(tag: str) -> None:
        for i in range(3):
            order.append(f"{tag}{i}")
            await asyncio.sleep(0)

    async def main() -> None:
        lp = asyncio.get_running_loop()
        await asyncio.gather(lp.create_task(worker("a")), lp.create_task(worker("b")))

    loop.run_until_complete(main())
    assert order == ["a0", "b0", "a1", "b1", "a2", "b2"]


# -- cancellation -------------------------------------------------------------------


def test_cancel_message_reaches_the_task(loop: Loop) -> None:
    async def main() -> None:
        seen: list[tuple[Any, ...]] = []

        async def victim() -> None:
            try:
                await asyncio.sleep(10)
            except asyncio.CancelledError as exc:
                seen.append(exc.args)
                raise

        task = asyncio.get_running_loop().create_task(victim())
        await asyncio.sleep(0)
        assert task.cancel("shutting down") is True
        with pytest.raises(asyncio.CancelledError):
            await task
        assert task.cancelled()
        assert seen == [("shutting down",)]
        assert task.cancel() is False  # already done

    loop.run_until_complete(main())


def test_a_task_awaiting_a_task_passes_its_own_cancel_on(loop: Loop) -> None:
    """A task that cancels itself and then awaits another task cancels that one
    with its message, through the awaited task's own cancel (it counts)."""

    async def main() -> None:
        inner_saw: list[tuple[Any, ...]] = []

        async def inner() -> None:
            try:
                await asyncio.sleep(10)
            except asyncio.CancelledError as exc:
                inner_saw.append(exc.args)
                raise

        async def outer(task: asyncio.Task[None]) -> None:
            asyncio.current_task().cancel("from outer")  # type: ignore[union-attr]
            await task

        inner_task = asyncio.get_running_loop().create_task(inner())
        await asyncio.sleep(0)
        outer_task = asyncio.get_running_loop().create_task(outer(inner_task))
        with pytest.raises(asyncio.CancelledError):
            await outer_task
        assert inner_task.cancelled()
        assert inner_saw == [("from outer",)]
        assert inner_task.cancelling() == 1  # Task.cancel, not Future.cancel

    loop.run_until_complete(main())


def test_a_task_awaiting_itself_gets_an_error(loop: Loop) -> None:
    async def main() -> None:
        async def selfish() -> None:
            await asyncio.current_task()  # type: ignore[misc]

        task = asyncio.get_running_loop().create_task(selfish())
        with pytest.raises(RuntimeError, match="await on itself"):
            await task

    loop.run_until_complete(main())


def test_a_task_iterated_by_hand_steps_as_await_does(loop: Loop) -> None:
    """``task.__await__()`` yields the task once, then gives its result whole.

    What a coroutine's ``await`` (and a generator's ``yield from``) drives,
    driven here by hand: pending, it yields the task and sets its blocking
    flag; resumed while still pending it is an error; done, it stops with
    the result (a tuple stays one value).  throw() raises what it is given.
    """

    async def main() -> None:
        fut, task = await _task_awaiting_a_future()
        steps = task.__await__()
        assert iter(steps) is steps
        assert next(steps) is task
        assert task._asyncio_future_blocking is True  # type: ignore[attr-defined]
        with pytest.raises(RuntimeError, match="await wasn't used with future"):
            next(steps)
        for thrown, kind in ((ValueError("thrown"), ValueError), (KeyError, KeyError)):
            task._asyncio_future_blocking = False  # type: ignore[attr-defined]  # as a step does
            steps = task.__await__()
            assert next(steps) is task
            with pytest.raises(kind):
                steps.throw(thrown)
        task._asyncio_future_blocking = False  # type: ignore[attr-defined]
        fut.set_result((1, 2))
        assert await task == (1, 2)
        with pytest.raises(StopIteration) as stop:
            next(task.__await__())
        assert stop.value.value == (1, 2)
        with pytest.raises(StopIteration) as stop:
            task.__await__().send(None)
        assert stop.value.value == (1, 2)

    loop.run_until_complete(main())


def test_yield_from_a_task_in_a_generator_coroutine(loop: Loop) -> None:
    import types

    @types.coroutine
    def old_style(task: Any) -> Any:
        return (yield from task)

    async def main() -> Any:
        task = asyncio.get_running_loop().create_task(_sleep_then("done"))
        return await old_style(task)

    assert loop.run_until_complete(main()) == "done"


@pytest.mark.parametrize("how", ["await", "yield from", "iter"])
def test_a_task_its_body_cancelled_gives_the_body_s_error_however_it_is_awaited(
    loop: Loop, how: str
) -> None:
    # Once the task is done, ``yield from`` and ``iter()`` take the task's
    # own iterator, not the future's, which would read the future's result
    # and drop the message.
    import types

    async def body() -> None:
        await asyncio.sleep(0)
        raise asyncio.CancelledError("from the body")

    @types.coroutine
    def old_style(task: Any) -> Any:
        return (yield from task)

    async def main() -> tuple[Any, ...]:
        task = asyncio.get_running_loop().create_task(body())
        await asyncio.sleep(0.01)
        assert task.done()
        try:
            if how == "await":
                await task
            elif how == "yield from":
                await old_style(task)
            else:
                next(iter(task))
        except asyncio.CancelledError as exc:
            return exc.args
        raise AssertionError("no CancelledError")

    assert loop.run_until_complete(main()) == ("from the body",)


def test_a_cycle_through_an_await_of_a_task_is_collected(loop: Loop) -> None:
    """The iterator ``await`` makes is seen by the cyclic gc, as a generator is."""
    import weakref

    async def main() -> weakref.ref[Any]:
        fut, task = await _task_awaiting_a_future()
        steps = task.__await__()
        assert next(steps) is task
        fut.set_result(steps)  # task -> its result -> steps -> task
        await asyncio.sleep(0)
        assert task.result() is steps
        return weakref.ref(task)

    ref = loop.run_until_complete(main())
    gc.collect()
    assert ref() is None


@pytest.mark.skip_loop("asyncio", reason="asyncio's await reads its C Task's result in C")
@pytest.mark.skip_loop("uvloop", reason="uvloop runs asyncio's C Task")
def test_await_calls_a_task_subclass_s_own_done_and_result(loop: Loop) -> None:
    import glassloop

    calls: list[str] = []

    class Watched(glassloop.Task):
        def done(self) -> bool:
            calls.append("done")
            return bool(super().done())

        def result(self) -> Any:
            return ("seen", super().result())

    async def main() -> Any:
        task = Watched(_sleep_then(7), loop=asyncio.get_running_loop())
        calls.clear()
        return await task

    assert loop.run_until_complete(main()) == ("seen", 7)
    assert calls[:2] == ["done", "done"]  # pending, then done when resumed


def test_cancelling_counts_requests_and_uncancel_undoes_them(loop: Loop) -> None:
    async def main() -> None:
        task = asyncio.get_running_loop().create_task(asyncio.sleep(10))
        await asyncio.sleep(0)
        assert task.cancelling() == 0
        task.cancel()
        task.cancel()
        assert task.cancelling() == 2
        assert task.uncancel() == 1
        assert task.cancelling() == 1
        with pytest.raises(asyncio.CancelledError):
            await task

    loop.run_until_complete(main())


def test_a_task_may_swallow_cancellation_and_finish(loop: Loop) -> None:
    async def stubborn() -> str:
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            asyncio.current_task().uncancel()  # type: ignore[union-attr]
            return "survived"
        return "not cancelled"

    async def main() -> None:
        task = asyncio.get_running_loop().create_task(stubborn())
        await asyncio.sleep(0)
        task.cancel()
        assert await task == "survived"
        assert not task.cancelled()
        assert task.cancelling() == 0

    loop.run_until_complete(main())


def test_cancel_before_first_step_never_runs_the_body(loop: Loop) -> None:
    ran: list[bool] = []

    async def body() -> None:
        ran.append(True)

    async def main() -> None:
        task = asyncio.get_running_loop().create_task(body())
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    loop.run_until_complete(main())
    assert ran == []


# -- timeouts -----------------------------------------------------------------------


def test_timeout_context_raises_timeout_error_promptly(loop: Loop) -> None:
    async def main() -> float:
        start = time.monotonic()
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.02):
                await asyncio.sleep(10)
        return time.monotonic() - start

    elapsed = loop.run_until_complete(main())
    assert 0.015 <= elapsed < 2


def test_timeout_that_does_not_expire_changes_nothing(loop: Loop) -> None:
    async def main() -> Any:
        async with asyncio.timeout(5) as cm:
            value = await _sleep_then("in time")
        assert not cm.expired()
        return value

    assert loop.run_until_complete(main()) == "in time"


def test_nested_timeouts_only_the_inner_one_fires(loop: Loop) -> None:
    async def main() -> str:
        async with asyncio.timeout(5) as outer:
            try:
                async with asyncio.timeout(0.01):
                    await asyncio.sleep(10)
            except TimeoutError:
                pass
            else:
                raise AssertionError("inner timeout did not fire")
        assert not outer.expired()
        return "outer survived"

    assert loop.run_until_complete(main()) == "outer survived"


def test_timeout_can_be_rescheduled(loop: Loop) -> None:
    async def main() -> None:
        lp = asyncio.get_running_loop()
        async with asyncio.timeout(None) as cm:
            cm.reschedule(lp.time() + 5)
            await asyncio.sleep(0.01)
            cm.reschedule(None)
            await asyncio.sleep(0.01)
        assert not cm.expired()

    loop.run_until_complete(main())


def test_wait_for_returns_in_time_and_cancels_on_timeout(loop: Loop) -> None:
    async def main() -> None:
        assert await asyncio.wait_for(_sleep_then("fast"), timeout=5) == "fast"
        cleaned_up: list[bool] = []

        async def slow() -> None:
            try:
                await asyncio.sleep(10)
            finally:
                cleaned_up.append(True)

        with pytest.raises(TimeoutError):
            await asyncio.wait_for(slow(), timeout=0.01)
        assert cleaned_up == [True]

    loop.run_until_complete(main())


def test_wait_first_completed(loop: Loop) -> None:
    async def main() -> None:
        lp = asyncio.get_running_loop()
        fast = lp.create_task(_sleep_then("fast", 0.001))
        slow = lp.create_task(_sleep_then("slow", 5))
        done, pending = await asyncio.wait({fast, slow}, return_when=asyncio.FIRST_COMPLETED)
        assert done == {fast}
        assert pending == {slow}
        slow.cancel()
        await asyncio.gather(slow, return_exceptions=True)

    loop.run_until_complete(main())


def test_wait_with_timeout_leaves_pending_tasks(loop: Loop) -> None:
    async def main() -> None:
        lp = asyncio.get_running_loop()
        slow = lp.create_task(asyncio.sleep(5))
        done, pending = await asyncio.wait({slow}, timeout=0.01)
        assert done == set()
        assert pending == {slow}
        assert not slow.done()
        slow.cancel()
        await asyncio.gather(slow, return_exceptions=True)

    loop.run_until_complete(main())


# -- structured concurrency ------------------------------------------------------------


def test_gather_returns_results_in_argument_order(loop: Loop) -> None:
    async def main() -> list[Any]:
        return await asyncio.gather(
            _sleep_then("slowest", 0.03), _sleep_then("fastest", 0.0), _sleep_then("middle", 0.01)
        )

    assert loop.run_until_complete(main()) == ["slowest", "fastest", "middle"]


def test_gather_return_exceptions_collects_errors(loop: Loop) -> None:
    async def fail() -> None:
        await asyncio.sleep(0)
        raise ValueError("one failed")

    async def main() -> list[Any]:
        return await asyncio.gather(_sleep_then(1), fail(), return_exceptions=True)

    first, second = loop.run_until_complete(main())
    assert first == 1
    assert isinstance(second, ValueError)


def test_task_group_waits_for_all_children(loop: Loop) -> None:
    async def main() -> list[Any]:
        async with asyncio.TaskGroup() as tg:
            tasks = [tg.create_task(_sleep_then(i, 0.001 * (3 - i))) for i in range(3)]
        return [t.result() for t in tasks]

    assert loop.run_until_complete(main()) == [0, 1, 2]


def test_task_group_failure_cancels_siblings_and_raises_a_group(loop: Loop) -> None:
    sibling_cancelled: list[bool] = []

    async def sibling() -> None:
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            sibling_cancelled.append(True)
            raise

    async def failing() -> None:
        await asyncio.sleep(0.01)
        raise KeyError("child failed")

    async def main() -> None:
        async with asyncio.TaskGroup() as tg:
            tg.create_task(sibling())
            tg.create_task(failing())

    with pytest.raises(ExceptionGroup) as info:
        loop.run_until_complete(main())
    assert [type(e) for e in info.value.exceptions] == [KeyError]
    assert sibling_cancelled == [True]


def test_shield_keeps_the_inner_task_running(loop: Loop) -> None:
    async def main() -> None:
        lp = asyncio.get_running_loop()
        inner = lp.create_task(_sleep_then("inner finished", 0.03))

        async def guarded() -> Any:
            return await asyncio.shield(inner)

        outer = lp.create_task(guarded())
        await asyncio.sleep(0.005)
        outer.cancel()
        with pytest.raises(asyncio.CancelledError):
            await outer
        assert not inner.done()
        assert await inner == "inner finished"

    loop.run_until_complete(main())


# -- contexts --------------------------------------------------------------------


def test_task_runs_in_a_copy_of_the_creators_context(loop: Loop) -> None:
    async def child() -> str:
        seen = user.get()
        user.set("changed-by-child")
        return seen

    async def main() -> None:
        user.set("alice")
        assert await asyncio.get_running_loop().create_task(child()) == "alice"
        assert user.get() == "alice"

    loop.run_until_complete(main())


def test_create_task_with_explicit_context(loop: Loop) -> None:
    ctx = contextvars.copy_context()
    ctx.run(user.set, "bob")

    async def child() -> str:
        seen = user.get()
        user.set("set-in-task")
        return seen

    async def main() -> str:
        return await asyncio.get_running_loop().create_task(child(), context=ctx)

    assert loop.run_until_complete(main()) == "bob"
    assert ctx[user] == "set-in-task"
    assert user.get() == "anonymous"


def test_context_is_kept_across_suspension_points(loop: Loop) -> None:
    async def worker(name: str) -> list[str]:
        user.set(name)
        seen = []
        for _ in range(3):
            await asyncio.sleep(0)
            seen.append(user.get())
        return seen

    async def main() -> list[list[str]]:
        return await asyncio.gather(worker("x"), worker("y"))

    assert loop.run_until_complete(main()) == [["x"] * 3, ["y"] * 3]


# -- eager tasks (3.12+) ---------------------------------------------------------------

UVLOOP_EAGER_313 = (
    "uvloop passes eager_start= to the task factory, which 3.13's eager_task_factory rejects"
)


@pytest.mark.skipif(sys.version_info < (3, 12), reason="eager_task_factory is new in Python 3.12")
@pytest.mark.skip_loop("uvloop", condition=sys.version_info >= (3, 13), reason=UVLOOP_EAGER_313)
def test_eager_task_factory_runs_the_first_step_synchronously(loop: Loop) -> None:
    events: list[str] = []

    async def quick() -> str:
        events.append("quick ran")
        return "done eagerly"

    async def slow() -> str:
        events.append("slow started")
        await asyncio.sleep(0)
        events.append("slow resumed")
        return "done later"

    async def main() -> None:
        lp = asyncio.get_running_loop()
        quick_task = lp.create_task(quick())
        assert events == ["quick ran"]
        assert quick_task.done()
        assert quick_task.result() == "done eagerly"
        slow_task = lp.create_task(slow())
        assert events == ["quick ran", "slow started"]
        assert not slow_task.done()
        assert await slow_task == "done later"

    loop.set_task_factory(asyncio.eager_task_factory)  # type: ignore[attr-defined]
    loop.run_until_complete(main())
    assert events == ["quick ran", "slow started", "slow resumed"]


@pytest.mark.skipif(sys.version_info < (3, 12), reason="eager_task_factory is new in Python 3.12")
@pytest.mark.skip_loop("uvloop", condition=sys.version_info >= (3, 13), reason=UVLOOP_EAGER_313)
def test_eager_task_sees_itself_as_current_task(loop: Loop) -> None:
    async def whoami() -> asyncio.Task[Any] | None:
        return asyncio.current_task()

    async def main() -> None:
        task = asyncio.get_running_loop().create_task(whoami())
        assert task.done()
        assert task.result() is task

    loop.set_task_factory(asyncio.eager_task_factory)  # type: ignore[attr-defined]
    loop.run_until_complete(main())


def test_a_task_subclass_keeps_its_own_result_after_its_body_cancels() -> None:
    import glassloop

    class RecordingTask(glassloop.Task[Any]):
        def result(self) -> Any:
            return "overridden"

    async def body() -> None:
        raise asyncio.CancelledError

    loop = glassloop.new_event_loop()
    try:
        task = RecordingTask(body(), loop=loop)
        loop.run_until_complete(asyncio.wait([task]))
        assert task.cancelled()
        assert task.result() == "overridden"
        with pytest.raises(asyncio.CancelledError):
            task.exception()
    finally:
        loop.close()
