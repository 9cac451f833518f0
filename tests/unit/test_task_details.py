"""The small print of Task and Future that libraries quietly rely on.

State errors, where a cancellation goes when a task waits on something else,
what a generator-based coroutine's bare ``yield`` means: each is a line in
asyncio's documentation that some framework somewhere depends on.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import gc
import types
from collections.abc import Generator
from typing import Any

import pytest

Loop = asyncio.AbstractEventLoop

trace_id: contextvars.ContextVar[str] = contextvars.ContextVar("trace_id", default="-")


def test_task_state_errors(loop: Loop) -> None:
    async def main() -> None:
        gate = asyncio.Event()
        task = asyncio.get_running_loop().create_task(gate.wait())
        with pytest.raises(asyncio.InvalidStateError):
            task.result()
        with pytest.raises(asyncio.InvalidStateError):
            task.exception()
        with pytest.raises(RuntimeError):
            task.set_result(None)  # a task's result comes from its coroutine only
        with pytest.raises(RuntimeError):
            task.set_exception(ValueError())
        gate.set()
        await task
        assert task.result() is True
        assert task.exception() is None

    loop.run_until_complete(main())


def test_cancelled_task_result_and_exception_raise_cancelled_error(loop: Loop) -> None:
    async def main() -> None:
        task = asyncio.get_running_loop().create_task(asyncio.sleep(10))
        await asyncio.sleep(0)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        assert task.done() and task.cancelled()
        with pytest.raises(asyncio.CancelledError):
            task.result()
        with pytest.raises(asyncio.CancelledError):
            task.exception()

    loop.run_until_complete(main())


@pytest.mark.parametrize("method", ["result", "exception", "await"])
def test_the_bodys_own_cancelled_error_reaches_the_first_reader(loop: Loop, method: str) -> None:
    # The error raised inside the body, with its traceback, is what the first
    # reader gets (asyncio's C Task hands it over once); later reads get a new,
    # bare one (the message travels with the body's error only).
    raised: list[BaseException] = []

    async def body() -> None:
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError as exc:
            raised.append(exc)
            raise

    async def main() -> None:
        task = asyncio.get_running_loop().create_task(body())
        await asyncio.sleep(0)
        task.cancel("stop")
        await asyncio.wait([task])
        with pytest.raises(asyncio.CancelledError) as first:
            if method == "await":
                await task
            else:
                getattr(task, method)()
        assert first.value is raised[0]
        with pytest.raises(asyncio.CancelledError) as second:
            task.result()
        assert second.value is not raised[0]
        assert second.value.args == ()
        assert first.value.args == ("stop",)

    loop.run_until_complete(main())


def test_get_coro_and_repr(loop: Loop) -> None:
    async def job() -> None:
        await asyncio.sleep(0)

    async def main() -> None:
        coro = job()
        task = asyncio.get_running_loop().create_task(coro, name="repr-me")
        assert task.get_coro() is coro
        assert "repr-me" in repr(task)
        assert "pending" in repr(task)
        await task
        assert "finished" in repr(task)

    loop.run_until_complete(main())


def test_cancel_propagates_to_the_awaited_future(loop: Loop) -> None:
    async def main() -> None:
        lp = asyncio.get_running_loop()
        fut = lp.create_future()

        async def waiter() -> None:
            await fut

        task = lp.create_task(waiter())
        await asyncio.sleep(0)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        assert task.cancelled()
        assert fut.cancelled()

    loop.run_until_complete(main())


def test_cancel_propagates_to_the_awaited_task(loop: Loop) -> None:
    async def main() -> None:
        lp = asyncio.get_running_loop()
        inner = lp.create_task(asyncio.sleep(10))

        async def outer() -> None:
            await inner

        task = lp.create_task(outer())
        await asyncio.sleep(0)
        task.cancel()
        await asyncio.gather(task, inner, return_exceptions=True)
        assert task.cancelled()
        assert inner.cancelled()

    loop.run_until_complete(main())


def test_awaiting_a_future_of_another_loop_fails_the_task(loop: Loop, loop_factory: Any) -> None:
    other = loop_factory()
    try:
        foreign = other.create_future()

        async def main() -> None:
            await foreign

        with pytest.raises(RuntimeError):
            loop.run_until_complete(main())
    finally:
        other.close()


def test_cancelled_error_seen_outside_carries_the_message(loop: Loop) -> None:
    async def main() -> tuple[Any, ...]:
        task = asyncio.get_running_loop().create_task(asyncio.sleep(10))
        await asyncio.sleep(0)
        task.cancel("reason given")
        try:
            await task
        except asyncio.CancelledError as exc:
            return exc.args
        raise AssertionError("await did not raise")

    assert loop.run_until_complete(main()) == ("reason given",)


def test_external_cancel_inside_timeout_is_not_turned_into_timeout_error(loop: Loop) -> None:
    async def guarded() -> None:
        async with asyncio.timeout(5):
            await asyncio.sleep(10)

    async def main() -> None:
        task = asyncio.get_running_loop().create_task(guarded())
        await asyncio.sleep(0.01)
        task.cancel()
        results = await asyncio.gather(task, return_exceptions=True)
        assert isinstance(results[0], asyncio.CancelledError)
        assert not isinstance(results[0], TimeoutError)

    loop.run_until_complete(main())


def test_done_callback_with_context_and_removal(loop: Loop) -> None:
    ctx = contextvars.copy_context()
    ctx.run(trace_id.set, "cb-ctx")
    seen: list[str] = []

    def keep(_: asyncio.Future[Any]) -> None:
        seen.append(f"keep:{trace_id.get()}")

    def removed(_: asyncio.Future[Any]) -> None:
        seen.append("removed")

    async def main() -> None:
        task = asyncio.get_running_loop().create_task(asyncio.sleep(0))
        task.add_done_callback(keep, context=ctx)
        task.add_done_callback(removed)
        task.add_done_callback(removed)
        assert task.remove_done_callback(removed) == 2
        await task
        await asyncio.sleep(0)

    loop.run_until_complete(main())
    assert seen == ["keep:cb-ctx"]


def test_done_callbacks_run_in_registration_order(loop: Loop) -> None:
    seen: list[int] = []

    async def main() -> None:
        task = asyncio.get_running_loop().create_task(asyncio.sleep(0))
        for i in range(5):
            task.add_done_callback(lambda _, i=i: seen.append(i))
        await task
        await asyncio.sleep(0)

    loop.run_until_complete(main())
    assert seen == [0, 1, 2, 3, 4]


def test_bare_yield_in_a_generator_coroutine_gives_up_one_turn(loop: Loop) -> None:
    order: list[str] = []

    @types.coroutine
    def one_turn() -> Generator[None, None, None]:
        yield  # asyncio: a bare yield relinquishes control for one iteration

    async def a() -> None:
        order.append("a1")
        await one_turn()
        order.append("a2")

    async def b() -> None:
        order.append("b1")
        await one_turn()
        order.append("b2")

    async def main() -> None:
        lp = asyncio.get_running_loop()
        await asyncio.gather(lp.create_task(a()), lp.create_task(b()))

    loop.run_until_complete(main())
    assert order == ["a1", "b1", "a2", "b2"]


def test_generator_coroutine_can_await_futures(loop: Loop) -> None:
    @types.coroutine
    def wait_for_future(fut: asyncio.Future[str]) -> Generator[Any, None, str]:
        result = yield from fut
        return result

    async def main() -> str:
        fut = asyncio.get_running_loop().create_future()
        asyncio.get_running_loop().call_later(0.005, fut.set_result, "via yield from")
        return await wait_for_future(fut)

    assert loop.run_until_complete(main()) == "via yield from"


def test_pending_task_destroyed_with_its_loop_is_reported(loop: Loop) -> None:
    contexts: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda lp, ctx: contexts.append(ctx))

    async def forever() -> None:
        await asyncio.Event().wait()

    async def main() -> None:
        asyncio.get_running_loop().create_task(forever())
        await asyncio.sleep(0)

    loop.run_until_complete(main())
    # The only references to the pending task are the loop's weak set and the
    # event's waiter future: dropping those makes it garbage.
    gc.collect()
    messages = [c.get("message", "") for c in contexts]
    assert any("destroyed but it is pending" in m for m in messages), messages


def test_close_drops_pending_callbacks(loop: Loop) -> None:
    seen: list[str] = []
    loop.call_soon(seen.append, "never")
    loop.call_later(0.001, seen.append, "never either")
    loop.close()
    assert seen == []


@pytest.mark.parametrize("method", ["call_later", "call_at"])
def test_none_delay_or_deadline_is_a_type_error(loop: Loop, method: str) -> None:
    with pytest.raises(TypeError):
        getattr(loop, method)(None, print)


class _Payload:
    """Something a task's body holds, whose lifetime we watch with a weakref."""


@pytest.mark.parametrize(
    "ending", ["raises", "cancelled", "cancelled-while-waiting", "timed-out-in-wait_for"]
)
def test_a_finished_task_is_freed_without_the_cycle_collector(loop: Loop, ending: str) -> None:
    # The task keeps its exception; if the exception's traceback holds the
    # frame that stepped the task, that frame holds the task: a cycle only
    # gc.collect() frees, and with it everything the body's frames held
    # (an SSL context, a socket...). asyncio's C Task frees it at once.
    import weakref

    refs: list[weakref.ref[_Payload]] = []

    async def body() -> None:
        payload = _Payload()
        refs.append(weakref.ref(payload))
        if ending == "raises":
            raise ValueError("boom")
        if ending == "cancelled":
            raise asyncio.CancelledError
        if ending == "timed-out-in-wait_for":
            # The CancelledError passes through two coroutine frames that end
            # with it: their frame objects link (f_back) to whatever stepped them.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(nested(), 0.001)
        await asyncio.sleep(3600)

    async def nested() -> None:
        await asyncio.sleep(3600)

    async def main() -> None:
        task = asyncio.get_running_loop().create_task(body())
        await asyncio.sleep(0)
        if ending == "timed-out-in-wait_for":
            await asyncio.sleep(0.05)
        task.cancel()
        # Not ``await task``: re-raised here, the exception's traceback would
        # take in main's frame, which holds ``task``: a cycle of the test's own.
        await asyncio.wait([task])
        if not task.cancelled():
            assert isinstance(task.exception(), ValueError)

    gc.collect()
    gc.disable()
    try:
        loop.run_until_complete(main())
        assert len(refs) == 1
        assert refs[0]() is None, "the task's frames outlived it in a reference cycle"
    finally:
        gc.enable()


def test_cancel_after_the_awaited_future_is_done_still_cancels_the_task(loop: Loop) -> None:
    # The wake-up is already queued when cancel() comes: the task must still
    # see a CancelledError at that step, not the future's result.
    async def main() -> None:
        fut = asyncio.get_running_loop().create_future()

        async def waiter() -> str:
            try:
                await fut
            except asyncio.CancelledError:
                return "cancelled"
            return "woken"

        task = asyncio.get_running_loop().create_task(waiter())
        await asyncio.sleep(0)
        fut.set_result(1)
        task.cancel()
        assert await task == "cancelled"

    loop.run_until_complete(main())


def test_a_wake_up_keeps_its_place_among_callbacks(loop: Loop) -> None:
    seen: list[str] = []

    async def main() -> None:
        running = asyncio.get_running_loop()
        fut = running.create_future()

        async def waiter() -> None:
            seen.append(f"woken with {await fut}")

        task = running.create_task(waiter())
        await asyncio.sleep(0)
        running.call_soon(seen.append, "before")
        fut.set_result(7)
        running.call_soon(seen.append, "after")
        await task

    loop.run_until_complete(main())
    assert seen == ["before", "woken with 7", "after"]


def test_a_task_woken_with_a_result_that_refers_to_it_is_freed_without_gc(loop: Loop) -> None:
    # The woken step's frame stays reachable from the traceback of the error
    # the body raises next; it must not still hold the awaited result.
    import gc
    import weakref

    refs: list[weakref.ref[Any]] = []
    box: list[asyncio.Future[Any]] = []

    async def body() -> None:
        await box.pop()  # the body's own frame keeps no reference to the future
        raise ValueError("after the wake-up")

    async def main() -> None:
        running = asyncio.get_running_loop()
        fut = running.create_future()
        box.append(fut)
        task = running.create_task(body())
        refs.append(weakref.ref(task))
        await asyncio.sleep(0)
        fut.set_result({"task": task})
        await asyncio.wait([task])
        assert isinstance(task.exception(), ValueError)

    gc.collect()
    gc.disable()
    try:
        loop.run_until_complete(main())
        assert refs[0]() is None, "the task outlived its last reference in a cycle"
    finally:
        gc.enable()
