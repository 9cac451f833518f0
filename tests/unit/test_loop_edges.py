"""Edges that real programs hit without meaning to.

Garbage-collected tasks and async generators, BaseExceptions escaping a
callback, the stdlib primitives (Queue, Lock, to_thread) that assume asyncio's
wake-up order: each is a place where a loop that "works" can still differ.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import gc
import sys
import threading
from collections.abc import AsyncIterator
from typing import Any

import pytest

Loop = asyncio.AbstractEventLoop

tenant: contextvars.ContextVar[str] = contextvars.ContextVar("tenant", default="none")


def test_system_exit_in_a_callback_escapes_run_forever(loop: Loop) -> None:
    def leave() -> None:
        raise SystemExit(3)

    loop.call_soon(leave)
    with pytest.raises(SystemExit):
        loop.run_forever()
    assert not loop.is_running()
    # The loop survives a BaseException and can run again.
    loop.call_soon(loop.stop)
    loop.run_forever()


def test_keyboard_interrupt_in_a_task_escapes_run_until_complete(loop: Loop) -> None:
    async def interrupted() -> None:
        await asyncio.sleep(0)
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        loop.run_until_complete(interrupted())
    assert not loop.is_running()


def test_run_until_complete_rejects_non_awaitables(loop: Loop) -> None:
    with pytest.raises(TypeError):
        loop.run_until_complete(42)  # type: ignore[arg-type]


def test_get_event_loop_inside_a_coroutine_is_the_running_loop(loop: Loop) -> None:
    async def which() -> tuple[Loop, Loop]:
        return asyncio.get_event_loop(), asyncio.get_running_loop()

    got, running = loop.run_until_complete(which())
    assert got is loop
    assert running is loop


def test_get_running_loop_outside_is_a_runtime_error(loop: Loop) -> None:
    with pytest.raises(RuntimeError):
        asyncio.get_running_loop()


def test_unretrieved_task_exception_reaches_the_exception_handler(loop: Loop) -> None:
    contexts: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda lp, ctx: contexts.append(ctx))

    async def fails() -> None:
        raise ValueError("nobody looked at me")

    async def main() -> None:
        asyncio.get_running_loop().create_task(fails())
        await asyncio.sleep(0.01)

    loop.run_until_complete(main())
    gc.collect()
    assert len(contexts) == 1
    assert isinstance(contexts[0]["exception"], ValueError)
    assert "never retrieved" in contexts[0]["message"]


def test_abandoned_async_generator_is_finalized_by_the_loop(loop: Loop) -> None:
    events: list[str] = []

    async def stream() -> AsyncIterator[int]:
        try:
            yield 1
            yield 2
        finally:
            events.append("finalized")
            await asyncio.sleep(0)  # finalization may itself await
            events.append("finalizer awaited")

    async def main() -> None:
        agen = stream()
        assert await agen.__anext__() == 1
        del agen
        gc.collect()
        for _ in range(5):
            await asyncio.sleep(0)

    loop.run_until_complete(main())
    assert events == ["finalized", "finalizer awaited"]


def test_asyncgen_hooks_are_restored_after_the_loop_stops(loop: Loop) -> None:
    before = sys.get_asyncgen_hooks()
    seen_inside: list[Any] = []

    async def main() -> None:
        seen_inside.append(sys.get_asyncgen_hooks())

    loop.run_until_complete(main())
    assert seen_inside[0].firstiter is not None
    assert sys.get_asyncgen_hooks() == before


def test_run_in_executor_with_partial_and_to_thread_context(loop: Loop) -> None:
    def scale(x: int, *, factor: int) -> int:
        return x * factor

    async def main() -> tuple[int, str]:
        product = await asyncio.get_running_loop().run_in_executor(
            None, functools.partial(scale, 7, factor=6)
        )
        tenant.set("acme")
        # to_thread copies the context into the worker; run_in_executor does not.
        seen = await asyncio.to_thread(tenant.get)
        return product, seen

    assert loop.run_until_complete(main()) == (42, "acme")


def test_queue_hands_items_to_consumers_in_order(loop: Loop) -> None:
    async def main() -> list[tuple[str, int]]:
        queue: asyncio.Queue[int | None] = asyncio.Queue(maxsize=2)
        got: list[tuple[str, int]] = []

        async def consumer(name: str) -> None:
            while (item := await queue.get()) is not None:
                got.append((name, item))
                await asyncio.sleep(0)

        consumers = [asyncio.get_running_loop().create_task(consumer(n)) for n in "xy"]
        for i in range(6):
            await queue.put(i)
        for _ in consumers:
            await queue.put(None)
        await asyncio.gather(*consumers)
        return got

    got = loop.run_until_complete(main())
    assert sorted(item for _, item in got) == list(range(6))
    assert [item for _, item in got] == list(range(6))  # FIFO wake-ups keep order
    assert {name for name, _ in got} == {"x", "y"}


def test_lock_is_granted_in_request_order(loop: Loop) -> None:
    async def main() -> list[int]:
        lock = asyncio.Lock()
        order: list[int] = []

        async def worker(i: int) -> None:
            async with lock:
                order.append(i)
                await asyncio.sleep(0.001)

        await lock.acquire()
        tasks = [asyncio.get_running_loop().create_task(worker(i)) for i in range(5)]
        await asyncio.sleep(0.01)  # all five are now queued on the lock
        lock.release()
        await asyncio.gather(*tasks)
        return order

    assert loop.run_until_complete(main()) == [0, 1, 2, 3, 4]


def test_event_wakes_every_waiter(loop: Loop) -> None:
    async def main() -> int:
        event = asyncio.Event()
        woken = 0

        async def waiter() -> None:
            nonlocal woken
            await event.wait()
            woken += 1

        tasks = [asyncio.get_running_loop().create_task(waiter()) for _ in range(10)]
        await asyncio.sleep(0)
        assert woken == 0
        event.set()
        await asyncio.gather(*tasks)
        return woken

    assert loop.run_until_complete(main()) == 10


def test_future_set_from_a_thread_via_run_coroutine_threadsafe(loop: Loop) -> None:
    results: list[Any] = []

    async def double(x: int) -> int:
        await asyncio.sleep(0.001)
        return x * 2

    async def main() -> None:
        lp = asyncio.get_running_loop()

        def from_thread() -> None:
            fut = asyncio.run_coroutine_threadsafe(double(21), lp)
            results.append(fut.result(timeout=5))

        thread = threading.Thread(target=from_thread)
        thread.start()
        while thread.is_alive():
            await asyncio.sleep(0.005)
        thread.join()

    loop.run_until_complete(main())
    assert results == [42]


def test_wrap_future_bridges_concurrent_futures(loop: Loop) -> None:
    import concurrent.futures

    async def main() -> str:
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            cf = pool.submit(lambda: "from pool")
            return await asyncio.wrap_future(cf)

    assert loop.run_until_complete(main()) == "from pool"


_where: contextvars.ContextVar[str] = contextvars.ContextVar("where", default="outside")


@pytest.mark.parametrize(
    "failing",
    [
        pytest.param(
            "callback",
            marks=pytest.mark.skip_loop(
                "uvloop",
                reason="uvloop runs the handler in the failing callback's context on 3.11 too",
                condition=sys.version_info < (3, 12),
            ),
        ),
        pytest.param(
            "task",
            marks=pytest.mark.skip_loop(
                "uvloop",
                reason="uvloop reports a dead task's exception in the loop's own context",
            ),
        ),
    ],
)
def test_the_exception_handler_runs_in_the_failing_context(loop: Loop, failing: str) -> None:
    """From 3.12 (gh-96704) in the failing thing's context; on 3.11 in the loop's."""
    seen: list[str] = []
    loop.set_exception_handler(lambda lp, ctx: seen.append(_where.get()))

    def callback() -> None:
        _where.set("in the callback")
        raise ZeroDivisionError

    async def body() -> None:
        _where.set("in the task")
        raise ZeroDivisionError

    async def main() -> None:
        if failing == "callback":
            asyncio.get_running_loop().call_soon(callback)
        else:
            asyncio.get_running_loop().create_task(body())
        for _ in range(3):
            await asyncio.sleep(0)
        gc.collect()  # the unretrieved task exception is reported when the task dies

    loop.run_until_complete(main())
    assert seen == [f"in the {failing}" if sys.version_info >= (3, 12) else "outside"]
