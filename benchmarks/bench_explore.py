"""What the testing ring costs: schedules per second, extra time per step, simulated requests.

    python benchmarks/bench_explore.py [--rounds 7] [--runs 300]

Two figures, each the median of ``--rounds`` alternating measurements (the
issue's bars: at least 300 schedules/s on a 20-task program under virtual
time, and at most 5 µs more per loop step than an unexplored loop):

- ``schedules/s``: ``explore()`` of a 20-task program (a lock, a queue,
  sleeps of different lengths) for ``--runs`` schedules, against plain
  ``glassloop.run(..., virtual_time=True)`` of the same program;
- ``µs per step``: one run of 20 tasks x 500 ``sleep(0)`` steps, explored
  and not, divided by the 10 000 steps;
- ``simulated requests/s``: 1 000 aiohttp requests from an aiohttp client to
  an aiohttp server on a ``SimNet`` with 50 ms links, under virtual time
  (100 s of simulated time), per wall second.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

import glassloop
from glassloop.testing import explore

TASKS = 20
STEPS = 500


async def twenty_tasks() -> None:
    queue: asyncio.Queue[int] = asyncio.Queue()
    lock = asyncio.Lock()
    total = [0]

    async def worker(n: int) -> None:
        for i in range(3):
            await asyncio.sleep(0.001 * ((n + i) % 5))
            async with lock:
                total[0] += 1
            await queue.put(n)

    await asyncio.gather(*(worker(n) for n in range(TASKS)))
    assert queue.qsize() == 3 * TASKS and total[0] == 3 * TASKS


async def many_steps() -> None:
    async def worker() -> None:
        for _ in range(STEPS):
            await asyncio.sleep(0)

    await asyncio.gather(*(worker() for _ in range(TASKS)))


def _timed(fn: object) -> float:
    start = time.perf_counter()
    fn()  # type: ignore[operator]
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--runs", type=int, default=300)
    options = parser.parse_args()
    runs = options.runs
    explored, plain, step_explored, step_plain = [], [], [], []
    for _ in range(options.rounds):
        explored.append(runs / _timed(lambda: explore(twenty_tasks, runs=runs, shrink=False)))
        plain.append(
            runs
            / _timed(
                lambda: [glassloop.run(twenty_tasks(), virtual_time=True) for _ in range(runs)]
            )
        )
        step_explored.append(_timed(lambda: explore(many_steps, runs=1)) / (TASKS * STEPS))
        step_plain.append(
            _timed(lambda: glassloop.run(many_steps(), virtual_time=True)) / (TASKS * STEPS)
        )
    simulated = []
    for _ in range(max(1, options.rounds // 2)):
        simulated.append(1000 / _timed(lambda: _simulated_requests(1000)))
    extra = statistics.median(step_explored) - statistics.median(step_plain)
    print(f"20-task program, {runs} schedules, median of {options.rounds} rounds:")
    print(f"  explore():            {statistics.median(explored):8.0f} schedules/s")
    print(f"  plain runs:           {statistics.median(plain):8.0f} runs/s")
    print(f"{TASKS} tasks x {STEPS} sleep(0) steps:")
    print(f"  explored:             {statistics.median(step_explored) * 1e6:8.2f} µs/step")
    print(f"  plain:                {statistics.median(step_plain) * 1e6:8.2f} µs/step")
    print(f"  exploration's extra:  {extra * 1e6:8.2f} µs/step")
    print("aiohttp client -> aiohttp server on a SimNet, 50 ms links, virtual time:")
    print(f"  simulated requests:   {statistics.median(simulated):8.0f} requests/wall s")


def _simulated_requests(count: int) -> None:
    import aiohttp
    from aiohttp import web

    from glassloop.testing import SimNet

    async def main() -> None:
        async def hello(request: web.Request) -> web.Response:
            return web.Response(text="hello")

        app = web.Application()
        app.router.add_get("/", hello)
        runner = web.AppRunner(app)
        await runner.setup()
        await web.TCPSite(runner, "api.sim", 80).start()
        async with aiohttp.ClientSession() as session:
            for _ in range(count):
                async with session.get("http://api.sim/") as response:
                    await response.read()
        await runner.cleanup()

    glassloop.run(main(), network=SimNet(seed=1, latency=0.05), virtual_time=True)


if __name__ == "__main__":
    main()
