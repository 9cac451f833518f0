"""Instructions per operation, counted by callgrind: figures that do not wobble with the machine.

Wall-clock rows (run.py) need alternating runs on a quiet machine; an
instruction count is the same whatever else the machine does, so it is the
figure to compare one change against the next.  Each workload runs under
``valgrind --tool=callgrind`` at two sizes and the difference is divided by
the difference in size, which cancels start-up and imports.

    python benchmarks/instructions.py                       # every row, glassloop and asyncio
    python benchmarks/instructions.py --rows chain,pingpong --loops glassloop,asyncio,uvloop
    python benchmarks/instructions.py --workload glassloop spawn 1000   # one run, no valgrind

Rows (one "op" each): ``chain`` a call_soon that schedules the next;
``sleep0`` one round of 10 tasks each doing ``await asyncio.sleep(0)``;
``spawn`` create_task of a tiny coroutine, gathered; ``spawnonly`` the same
without gather; ``pingpong`` a set_result/await round trip between two
tasks; ``timers`` a call_later with a 0-20 ms delay, all fired; ``futs`` an
``await`` of a future that a call_soon completes.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Coroutine
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_sched  # the scheduling rows' own bodies

ROWS = ("chain", "sleep0", "spawn", "spawnonly", "pingpong", "timers", "futs")
SIZES = {"sleep0": (2_000, 6_000), "spawn": (10_000, 30_000), "spawnonly": (10_000, 30_000)}
DEFAULT_SIZES = (20_000, 60_000)


def new_loop(name: str) -> asyncio.AbstractEventLoop:
    if name == "glassloop":
        import glassloop

        return glassloop.new_event_loop()
    if name.startswith("glassloop+"):  # observed: glassloop+trace, +flight, +detector
        from _common import loop_factory

        return loop_factory(name)()
    if name == "uvloop":
        import uvloop

        return uvloop.new_event_loop()
    return asyncio.new_event_loop()


Workload = Callable[[], Coroutine[Any, Any, None]]


def workloads(loop: asyncio.AbstractEventLoop, n: int) -> dict[str, Workload]:
    """The rows, at size n; those shared with bench_sched.py are its own bodies."""

    async def spawnonly() -> None:
        tasks = [loop.create_task(bench_sched.tiny(i)) for i in range(n)]
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        assert tasks[-1].done()

    async def futs() -> None:
        for _ in range(n):
            fut = loop.create_future()
            loop.call_soon(fut.set_result, None)
            await fut

    return {
        "chain": lambda: bench_sched.chain(n),
        "sleep0": lambda: bench_sched.switching(10, n),
        "spawn": lambda: bench_sched.spawn(n),
        "spawnonly": spawnonly,
        "pingpong": lambda: bench_sched.pingpong(n),
        "timers": lambda: bench_sched.timers(bench_sched.timer_delays(n)),
        "futs": futs,
    }


def run_workload(loop_name: str, row: str, n: int) -> None:
    loop = new_loop(loop_name)
    try:
        loop.run_until_complete(workloads(loop, n)[row]())
    finally:
        loop.close()


def count(loop_name: str, row: str, n: int) -> int:
    """Instructions of one whole process running ``row`` at size ``n``."""
    cmd = [
        "valgrind",
        "--tool=callgrind",
        "--callgrind-out-file=/dev/null",
        sys.executable,
        os.path.abspath(__file__),
        "--workload",
        loop_name,
        row,
        str(n),
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, check=False)
    match = re.search(r"Collected : (\d+)", out.stderr)
    if out.returncode != 0 or match is None:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{out.stderr[-2000:]}")
    return int(match.group(1))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", default=",".join(ROWS))
    parser.add_argument("--loops", default="glassloop,asyncio")
    parser.add_argument("--workload", nargs=3, metavar=("LOOP", "ROW", "N"))
    args = parser.parse_args(argv)
    if args.workload:
        loop_name, row, n = args.workload
        run_workload(loop_name, row, int(n))
        return 0
    if shutil.which("valgrind") is None:
        print("valgrind is not installed (apt-get install valgrind)", file=sys.stderr)
        return 2
    rows = [r for r in args.rows.split(",") if r]
    loops = [name for name in args.loops.split(",") if name]
    unknown = [r for r in rows if r not in ROWS]
    if unknown:
        parser.error(f"unknown rows {unknown}; rows are {', '.join(ROWS)}")
    print(f"instructions per op (callgrind), Python {sys.version.split()[0]}")
    print("| row | " + " | ".join(loops) + " |")
    print("|---|" + "---:|" * len(loops))
    for row in rows:
        small, large = SIZES.get(row, DEFAULT_SIZES)
        cells = []
        for loop_name in loops:
            per_op = (count(loop_name, row, large) - count(loop_name, row, small)) / (large - small)
            cells.append(f"{per_op:,.0f}")
        print(f"| {row} | " + " | ".join(cells) + " |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
