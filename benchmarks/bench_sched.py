"""Scheduling rows: callbacks, task switches, task spawning, timers, futures.

No I/O: these measure the loop's own machinery (the ready queue, Task steps
and wake-ups, the timer heap).  Each row times only its measured part.

    python benchmarks/bench_sched.py --loop glassloop --row call_soon_chain --size smoke
"""

from __future__ import annotations

import asyncio
import random
from time import perf_counter

from _common import Measurement, Row, Size, child_main


async def chain(n: int) -> None:
    """One callback that schedules the next with call_soon, n times in a row."""
    loop = asyncio.get_running_loop()
    done = loop.create_future()
    remaining = n

    def step() -> None:
        nonlocal remaining
        remaining -= 1
        if remaining:
            loop.call_soon(step)
        else:
            done.set_result(None)

    loop.call_soon(step)
    await done


async def call_soon_chain(size: Size) -> Measurement:
    """One callback that schedules the next with call_soon, n times in a row."""
    n = 1_000_000 if size == "full" else 20_000
    start = perf_counter()
    await chain(n)
    return Measurement(perf_counter() - start, "s", {"callbacks": n})


async def switching(tasks: int, switches: int) -> None:
    """``tasks`` tasks each yielding to the loop with sleep(0) ``switches`` times."""

    async def switcher() -> None:
        for _ in range(switches):
            await asyncio.sleep(0)

    await asyncio.gather(*[switcher() for _ in range(tasks)])


async def sleep0_switching(size: Size) -> Measurement:
    """Many tasks each yielding to the loop with sleep(0), round after round."""
    tasks, switches = (100, 2000) if size == "full" else (10, 200)
    start = perf_counter()
    await switching(tasks, switches)
    return Measurement(perf_counter() - start, "s", {"tasks": tasks, "switches": switches})


async def tiny(i: int) -> int:
    return i


async def spawn(n: int) -> None:
    """Create n tiny tasks with create_task, then gather them all."""
    loop = asyncio.get_running_loop()
    results = await asyncio.gather(*[loop.create_task(tiny(i)) for i in range(n)])
    assert len(results) == n


async def spawn_gather(size: Size) -> Measurement:
    """Create many tiny tasks with create_task, then gather them all."""
    n = 200_000 if size == "full" else 2_000
    start = perf_counter()
    await spawn(n)
    return Measurement(perf_counter() - start, "s", {"tasks": n})


def timer_delays(n: int) -> list[float]:
    """Mixed delays, 0-20 ms, the same every run."""
    rng = random.Random(5)
    return [rng.choice((0.0, 0.001, 0.005, 0.01, 0.02)) * rng.random() for _ in range(n)]


async def timers(delays: list[float]) -> None:
    """One call_later per delay; returns once every timer has fired."""
    loop = asyncio.get_running_loop()
    done = loop.create_future()
    n = len(delays)
    fired = 0

    def on_timer() -> None:
        nonlocal fired
        fired += 1
        if fired == n:
            done.set_result(None)

    for delay in delays:
        loop.call_later(delay, on_timer)
    await done


async def call_later_timers(size: Size) -> Measurement:
    """Schedule many timers with mixed delays (0-20 ms) and wait until all have fired."""
    n = 200_000 if size == "full" else 2_000
    delays = timer_delays(n)
    start = perf_counter()
    await timers(delays)
    return Measurement(perf_counter() - start, "s", {"timers": n, "max_delay_s": 0.02})


def _idle() -> None:
    raise AssertionError("an idle timer fired: it is re-armed long before it is due")


#: The rearm row's timers: one per connection of a server.
REARM_TIMERS = 10


async def rearm(n: int) -> None:
    """A server's idle timers: cancel one and arm it again with call_later, n times.

    The keep-alive timer of an HTTP server (uvicorn's) has this shape: each
    request cancels its connection's timer, each response arms a new one,
    due seconds later.  Ten timers (connections), each re-armed once a turn.
    """
    loop = asyncio.get_running_loop()
    handles = [loop.call_later(5.0, _idle) for _ in range(REARM_TIMERS)]
    for i in range(n):
        k = i % REARM_TIMERS
        handles[k].cancel()
        handles[k] = loop.call_later(5.0, _idle)
        if k == REARM_TIMERS - 1:
            await asyncio.sleep(0)
    for handle in handles:
        handle.cancel()


async def timer_rearm(size: Size) -> Measurement:
    """Cancel a timer and arm it again (call_later, 5 s), ten timers each once a turn."""
    n = 200_000 if size == "full" else 2_000
    start = perf_counter()
    await rearm(n)
    return Measurement(perf_counter() - start, "s", {"rearms": n, "timers": REARM_TIMERS})


async def pingpong(n: int) -> None:
    """Two tasks hand a turn back and forth n times through fresh futures."""
    loop = asyncio.get_running_loop()
    # box[0] is the future the pong task waits on next; ping replaces it.
    box: list[asyncio.Future[asyncio.Future[None]]] = [loop.create_future()]

    async def ping() -> None:
        for _ in range(n):
            reply: asyncio.Future[None] = loop.create_future()
            request, box[0] = box[0], loop.create_future()
            request.set_result(reply)
            await reply

    async def pong() -> None:
        for _ in range(n):
            reply = await box[0]
            reply.set_result(None)

    await asyncio.gather(pong(), ping())


async def future_pingpong(size: Size) -> Measurement:
    """Two tasks hand a turn back and forth through fresh futures (set_result / await)."""
    n = 100_000 if size == "full" else 1_000
    start = perf_counter()
    await pingpong(n)
    return Measurement(perf_counter() - start, "s", {"round_trips": n})


ROWS: dict[str, Row] = {
    row.id: row
    for row in (
        Row("call_soon_chain", "sched", "call_soon chain, 1M callbacks", "s", call_soon_chain),
        Row(
            "sleep0_switching",
            "sched",
            "sleep(0) switching, 100 tasks × 2000",
            "s",
            sleep0_switching,
        ),
        Row("spawn_gather", "sched", "spawn + gather, 200k tiny tasks", "s", spawn_gather),
        Row(
            "call_later_timers",
            "sched",
            "call_later timers, 200k, delays 0–20 ms",
            "s",
            call_later_timers,
        ),
        Row("future_pingpong", "sched", "Future ping-pong, 100k round trips", "s", future_pingpong),
        Row(
            "timer_rearm",
            "sched",
            "call_later re-armed, 200k: cancel + call_later, 10 timers",
            "s",
            timer_rearm,
        ),
    )
}

if __name__ == "__main__":
    child_main(ROWS)
