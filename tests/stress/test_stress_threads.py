"""``call_soon_threadsafe`` hammered from many threads: each callback runs exactly once.

Eight threads start together (a barrier) and each schedules numbered
callbacks as fast as it can, while the loop, started first, is most likely
asleep in its poll: every call must wake it. The callbacks record which
(thread, number) pairs ran, so a lost callback, a duplicate and a reordering
within one thread (asyncio runs callbacks in the order they were scheduled)
are each told apart.
"""

from __future__ import annotations

import asyncio
import threading

from stress_support import HandlerCalls, Size

THREADS = 8


def test_call_soon_threadsafe_from_eight_threads_runs_each_callback_once(
    loop: asyncio.AbstractEventLoop, handler_calls: HandlerCalls, size: Size
) -> None:
    per_thread = size.threadsafe_calls
    total = THREADS * per_thread
    runs = [bytearray(per_thread) for _ in range(THREADS)]  # runs per callback, capped at 255
    last = [-1] * THREADS
    out_of_order: list[tuple[int, int, int]] = []
    thread_errors: list[BaseException] = []
    ran = 0
    everything_ran: asyncio.Future[None] = loop.create_future()

    def callback(thread: int, seq: int) -> None:
        nonlocal ran
        count = runs[thread][seq]
        runs[thread][seq] = min(count + 1, 255)
        if seq <= last[thread]:
            out_of_order.append((thread, last[thread], seq))
        last[thread] = seq
        ran += 1
        if ran == total:
            everything_ran.set_result(None)

    start = threading.Barrier(THREADS)

    def hammer(thread: int) -> None:
        try:
            start.wait(timeout=size.timeout)
            for seq in range(per_thread):
                loop.call_soon_threadsafe(callback, thread, seq)
        except BaseException as exc:  # reported by the test, not lost in a thread
            thread_errors.append(exc)

    threads = [
        threading.Thread(target=hammer, args=(i,), name=f"hammer-{i}", daemon=True)
        for i in range(THREADS)
    ]

    async def main() -> None:
        for thread in threads:
            thread.start()
        async with asyncio.timeout(size.timeout):
            await everything_ran
        # Every call has returned by now (each ran after it was made), so a
        # stray duplicate would already be queued; a callback queued now
        # runs after it.
        turn = loop.create_future()
        loop.call_soon(turn.set_result, None)
        await turn

    try:
        loop.run_until_complete(main())
    finally:
        for thread in threads:
            thread.join(timeout=size.timeout)

    assert thread_errors == []
    assert not any(t.is_alive() for t in threads)
    assert ran == total
    for index, seen in enumerate(runs):
        assert seen.count(1) == per_thread, (
            f"thread {index}: {seen.count(0)} callbacks never ran, "
            f"{per_thread - seen.count(0) - seen.count(1)} ran more than once"
        )
    assert out_of_order == []
    assert handler_calls == []
