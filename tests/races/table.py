"""The race corpus's figures: schedules to find each bug, shrinking, replay, false alarms.

    python tests/races/table.py                  # full size (long: see --help)
    python tests/races/table.py --quick          # a few minutes

For each bug (programs.py and the network bugs of test_net_races.py), for
``pct`` and ``random`` and each seed: the number of schedules until it failed
(or "-" if not within ``--runs``), and for the seed-0 find: its shrunk
deviations, how many of ``--replays`` replays failed again, and how many
replays had exactly the recorded event trace.  For each fixed twin and each
guarantee program: failures in ``--clean`` schedules (the bar is zero).
And the trio#456 shape: a timeout around an executor job that really takes
50 ms, explored ``--threads`` times: false timeouts (the bar is zero).
Prints markdown.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from glassloop.testing import ReplayDiverged, SimNet, explore, replay
from glassloop.testing.exploration import _fixed_plan, _parse_token, _run, _Setup

HERE = Path(__file__).resolve().parent


def load(name: str) -> Any:
    spec = importlib.util.spec_from_file_location(f"glassloop_races_{name}", HERE / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def variant(fn: Callable[[bool], Awaitable[None]], fixed: bool) -> Callable[[], Awaitable[None]]:
    async def run() -> None:
        await fn(fixed)

    return run


async def trio_456() -> None:
    loop = asyncio.get_running_loop()
    await asyncio.wait_for(loop.run_in_executor(None, time.sleep, 0.05), 1.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes")
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--replays", type=int, default=100)
    parser.add_argument("--clean", type=int, default=10_000)
    parser.add_argument("--threads", type=int, default=10_000)
    options = parser.parse_args()
    if options.quick:
        options.runs, options.seeds, options.replays = 300, 3, 10
        options.clean, options.threads = 200, 20
    programs = load("programs")
    net_races = load("test_net_races")
    bugs: list[tuple[str, Callable[[bool], Awaitable[None]], SimNet | None]] = [
        (name, fn, None) for name, fn, _, _ in programs.BUGS
    ]
    bugs += [(name, fn, net_races.net(explored)) for name, fn, explored, _ in net_races.CASES]
    started = time.perf_counter()
    print(f"## Race corpus (runs {options.runs}, seeds 0-{options.seeds - 1})\n")
    print(
        "| bug | pct: schedules to find per seed | random: per seed | shrunk to | "
        "replays failing | exact traces |"
    )
    print("|---|---|---|---:|---:|---:|")
    shrunk_small = found_total = 0
    for name, fn, network in bugs:
        bug = variant(fn, False)
        cells = []
        first = None
        for strategy in ("pct", "random"):
            found = []
            for seed in range(options.seeds):
                report = explore(
                    bug,
                    runs=options.runs,
                    seed=seed,
                    strategy=strategy,
                    network=network,
                    shrink=first is None,
                )
                found.append(str(report.runs) if report.failed else "-")
                if report.failed and first is None:
                    first = report
            hits = sum(cell != "-" for cell in found)
            cells.append(f"{' '.join(found)} ({hits}/{options.seeds})")
        shrunk = replays = exact = 0
        if first is not None and first.token:
            found_total += 1
            shrunk = len(first.choices)
            shrunk_small += shrunk <= 3
            _, checksum, chosen = _parse_token(first.token)
            for _ in range(options.replays):
                try:
                    replay(bug, first.token, network=network)
                except AssertionError:
                    replays += 1
                except ReplayDiverged:
                    pass
                outcome = _run(bug, _fixed_plan(chosen), _Setup(True, network))
                exact += outcome.checksum == checksum
        print(
            f"| {name} | {cells[0]} | {cells[1]} | {shrunk} | {replays}/{options.replays} | "
            f"{exact}/{options.replays} |"
        )
    print(f"\n{shrunk_small}/{found_total} found bugs shrink to <= 3 deviations.\n")
    print(f"## False alarms ({options.clean} schedules each, pct and random halves)\n")
    print("| program | failures |")
    print("|---|---:|")
    clean: list[tuple[str, Callable[[], Awaitable[None]], SimNet | None]] = [
        (f"{name} (fixed)", variant(fn, True), network) for name, fn, network in bugs
    ]
    clean += [(name, fn, None) for name, fn in programs.GUARANTEES]
    for name, fn, network in clean:
        failures = 0
        for strategy in ("pct", "random"):
            runs = options.clean // 2
            done = 0
            while done < runs:
                report = explore(
                    fn,
                    runs=runs - done,
                    seed=done,
                    strategy=strategy,
                    network=network,
                    shrink=False,
                )
                done += report.runs
                if report.failed:
                    failures += 1
                    print(f"<!-- {name}: {report.error!r} {report.token} -->")
        print(f"| {name} | {failures} |")
    print(f"\n## trio#456: a 1 s timeout around a 50 ms executor job, {options.threads} runs\n")
    report = explore(trio_456, runs=options.threads, strategy="random", shrink=False)
    print(f"false timeouts: {1 if report.failed else 0} (runs {report.runs})")
    print(f"\n(wall time {time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
