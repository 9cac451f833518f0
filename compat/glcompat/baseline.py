"""asyncio's outcomes of a suite, kept in the repository, so CI runs each suite once.

The diff needs asyncio's outcome of every test; asyncio's outcomes change only when the
suite, its pinned requirements, the interpreter or the harness's plugin change, not when
glassloop does.  So a run of a suite on asyncio can be stored (``--write-baseline``) and a
later run compare glassloop's outcomes with it (``--baseline``), which halves the time of
CI's compat step.  The stored run is never the last word on a regression: a test that
passed in the baseline and fails on glassloop, and fails again when rerun alone on
glassloop, is then rerun alone on asyncio, live, on the machine at hand, and counts only if
it passes there (``results.confirm_reference``).  A baseline can hide a regression only
where asyncio itself fails the test, as the live diff would.

One file per suite, version and Python, ``compat/baseline/SUITE-VERSION-pyX.Y.json``, one
test per line so a refresh reads as a diff.
"""

from __future__ import annotations

import datetime
import json
from pathlib import Path

from .results import LoopRun, TestResult

DIRECTORY = Path(__file__).resolve().parent.parent / "baseline"
FORMAT = 1


def path_for(suite: str, version: str, python: str, directory: Path = DIRECTORY) -> Path:
    """Where the baseline of ``suite`` at ``version`` on Python ``python`` (X.Y) is kept."""
    return directory / f"{suite}-{version}-py{python}.json"


def write(run: LoopRun, version: str, python: str, path: Path) -> None:
    """Store an asyncio run's outcomes (and its counts and wall time, for the table)."""
    if run.loop != "asyncio" or run.baseline:
        raise ValueError("a baseline is written from a live asyncio run")
    if run.timed_out or not run.tests:
        raise ValueError(f"{run.suite} on asyncio did not finish: no baseline written")
    head = {
        "format": FORMAT,
        "suite": run.suite,
        "version": version,
        "python": python,
        "recorded": f"{datetime.datetime.now(datetime.UTC):%Y-%m-%d}",
        "seconds": round(run.seconds, 1),
        "loop_counts": run.loop_counts,
        "processes": run.processes,
    }
    lines = [json.dumps(head, sort_keys=True)[:-1] + ', "tests": {']
    items = sorted(run.tests.items())
    for i, (test_id, result) in enumerate(items):
        comma = "," if i < len(items) - 1 else ""
        lines.append(f"  {json.dumps(test_id)}: {json.dumps(result.outcome)}{comma}")
    lines.append("}}")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def load(path: Path, suite: str, version: str, python: str) -> LoopRun | None:
    """The stored asyncio run, or None when there is none for this suite, version and Python."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    if (data.get("format"), data.get("suite"), data.get("version"), data.get("python")) != (
        FORMAT,
        suite,
        version,
        python,
    ):
        raise ValueError(f"{path}: not the baseline of {suite} {version} on Python {python}")
    run = LoopRun(suite=suite, loop="asyncio", seconds=float(data["seconds"]))
    run.baseline = str(data["recorded"])
    run.exit_code = 0
    run.loop_counts = {k: int(v) for k, v in data["loop_counts"].items()}
    run.processes = int(data["processes"])
    run.tests = {k: TestResult(k, str(v)) for k, v in data["tests"].items()}
    return run
