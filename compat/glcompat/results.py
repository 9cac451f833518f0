"""One suite run's outcomes, and the comparison of a glassloop run with an asyncio run.

Plain data and arithmetic, no processes: ``tests/unit/test_compat_harness.py`` feeds it
small fake results.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .exclusions import Matcher

OUTCOMES = ("passed", "failed", "error", "skipped", "excluded")


@dataclass
class TestResult:
    """A test's outcome on one loop, as the plugin wrote it."""

    id: str
    outcome: str
    when: str = ""
    duration: float = 0.0
    longrepr: str = ""
    loops: tuple[int, int] = (0, 0)
    #: Captured stdout/stderr/log of a failing test.
    output: str = ""

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TestResult:
        loops = data.get("loops") or (0, 0)
        return cls(
            id=str(data["id"]),
            outcome=str(data["outcome"]),
            when=str(data.get("when", "")),
            duration=float(data.get("duration", 0.0)),
            longrepr=str(data.get("longrepr", "")),
            loops=(int(loops[0]), int(loops[1])),
            output=str(data.get("output", "")),
        )


@dataclass
class LoopRun:
    """One run of a suite on one loop: its tests, the loops it made, how it ended."""

    suite: str
    loop: str
    tests: dict[str, TestResult] = field(default_factory=dict)
    #: Loops constructed over the whole run, every process of it: {"glassloop": n, "asyncio": n}.
    loop_counts: dict[str, int] = field(default_factory=dict)
    #: Processes that reported counts (the pytest process and Python children that exited).
    processes: int = 0
    seconds: float = 0.0
    exit_code: int | None = None
    timed_out: bool = False
    #: The pytest output's tail, shown when the run broke (no results, a crash, a timeout).
    output_tail: str = ""
    #: The date a stored run was recorded (baseline.py); "" for a run made now.
    baseline: str = ""

    def tally(self) -> Counter[str]:
        """passed/failed/error/skipped counts."""
        return Counter(t.outcome for t in self.tests.values())

    def made_other_loops(self) -> list[TestResult]:
        """Tests that constructed loops of the kind this run is not about."""
        index = 1 if self.loop == "glassloop" else 0
        return [t for t in self.tests.values() if t.loops[index]]


def read_results(path: Path) -> dict[str, TestResult]:
    """The plugin's JSON lines (a missing file: no test finished); the last record of an id wins."""
    tests: dict[str, TestResult] = {}
    if not path.exists():
        return tests
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line:
            continue
        try:
            result = TestResult.from_dict(json.loads(line))
        except (ValueError, KeyError):
            continue  # a line cut short by a killed run
        tests[result.id] = result
    return tests


def read_counts(folder: Path) -> tuple[dict[str, int], int]:
    """Loop counts summed over every process's file, and how many processes wrote one."""
    total = {"glassloop": 0, "asyncio": 0}
    processes = 0
    if folder.is_dir():
        for path in sorted(folder.glob("*.json")):
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
            except ValueError:
                continue
            processes += 1
            for kind in total:
                total[kind] += int(data.get(kind, 0))
    return total, processes


@dataclass
class Difference:
    """A test whose outcome differs between the loops; ``reason`` set when it is excluded."""

    id: str
    reference: str
    glassloop: str
    result: TestResult | None
    reason: str | None = None


@dataclass
class Comparison:
    """What the glassloop run lost and gained against the asyncio run of the same suite."""

    suite: str
    #: Passed on asyncio, not on glassloop (failed, error, skipped or never reported).
    regressions: list[Difference] = field(default_factory=list)
    #: The same, but excluded: listed with their reason, not counted.
    excluded: list[Difference] = field(default_factory=list)
    #: Passed on glassloop, not on asyncio: a note, not a failure.
    gains: list[Difference] = field(default_factory=list)
    #: Regressions of the full run that passed when rerun on their own on glassloop:
    #: order-dependent or flaky (a resource leaked by an earlier test and collected
    #: during this one, a timeout on loaded cores).  Listed, not counted.
    unconfirmed: list[Difference] = field(default_factory=list)
    #: Regressions against a stored asyncio run that also fail on asyncio when rerun alone
    #: here: the machine's or the suite's, not glassloop's.  Listed, not counted.
    reference_fails: list[Difference] = field(default_factory=list)


def confirm(comparison: Comparison, rerun: LoopRun) -> None:
    """Keep as regressions only the tests that do not pass again in ``rerun``.

    ``rerun`` ran just the regressions, on glassloop, in a fresh process: a test
    that passes there failed only in the full run's company or its timing.
    """
    kept: list[Difference] = []
    for diff in comparison.regressions:
        again = rerun.tests.get(diff.id)
        if again is not None and again.outcome == "passed":
            comparison.unconfirmed.append(diff)
        else:
            kept.append(diff)
    comparison.regressions = kept


def confirm_reference(comparison: Comparison, rerun: LoopRun) -> None:
    """Keep as regressions only the tests that pass in ``rerun``, a live asyncio run of them.

    Used when the reference was a stored baseline: the regression must still be one
    against asyncio on this machine, now.
    """
    kept: list[Difference] = []
    for diff in comparison.regressions:
        again = rerun.tests.get(diff.id)
        if again is not None and again.outcome == "passed":
            kept.append(diff)
        else:
            diff.reference = f"passed in the baseline, {again.outcome if again else 'not run'} now"
            comparison.reference_fails.append(diff)
    comparison.regressions = kept


def compare(
    suite: str, reference: LoopRun, glassloop: LoopRun, matcher: Matcher | None
) -> Comparison:
    """Diff the two runs of ``suite`` test by test."""
    result = Comparison(suite)
    for test_id, ref in sorted(reference.tests.items()):
        got = glassloop.tests.get(test_id)
        got_outcome = got.outcome if got is not None else "not run"
        if "excluded" in (ref.outcome, got_outcome):
            diff = Difference(test_id, ref.outcome, got_outcome, got)
            diff.reason = (matcher.reason_for(suite, test_id) if matcher else None) or (
                "excluded when it ran (the entry is gone from the file now)"
            )
            result.excluded.append(diff)
        elif ref.outcome == "passed" and got_outcome != "passed":
            diff = Difference(test_id, ref.outcome, got_outcome, got)
            diff.reason = matcher.reason_for(suite, test_id) if matcher else None
            (result.excluded if diff.reason else result.regressions).append(diff)
        elif ref.outcome != "passed" and got_outcome == "passed":
            result.gains.append(Difference(test_id, ref.outcome, got_outcome, got))
    for test_id, got in sorted(glassloop.tests.items()):
        if test_id not in reference.tests and got.outcome == "passed":
            result.gains.append(Difference(test_id, "not run", "passed", got))
    return result
