"""Adding up module runs: the table, the failure listing, the JSON file and the verdict.

Definitions, so the numbers mean the same thing in every report:

- *counted*: the test created a target loop (or, in a Task-variant class, a target Task);
  only counted tests say anything about glassloop.  The rest are shown as "not counted".
- *passed* / *failed*: counted tests that passed (or failed as expected) / that failed,
  errored, timed out, crashed, were lost with their dying module, or passed unexpectedly.
  Failing class/module fixtures are counted as failures too: the tests they guard never ran.
- *skipped*: counted tests that skipped themselves; in neither percentage.
- *pass %* = passed / (passed + failed).
- *excluded %* = excluded / (passed + failed + excluded).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .outcomes import PASSING, CaseResult
from .parent import ModuleRun


@dataclass
class Tally:
    """Counts for one module, or for the whole run."""

    passed: int = 0
    failed: int = 0
    skipped: int = 0
    excluded: int = 0
    not_counted: int = 0

    def add(self, other: Tally) -> None:
        """Accumulate ``other`` into this tally (for the total row)."""
        self.passed += other.passed
        self.failed += other.failed
        self.skipped += other.skipped
        self.excluded += other.excluded
        self.not_counted += other.not_counted

    @property
    def pass_pct(self) -> float | None:
        """Passed share of counted, non-skipped tests; None when there are none."""
        ran = self.passed + self.failed
        return 100.0 * self.passed / ran if ran else None

    @property
    def excluded_pct(self) -> float:
        """Excluded share of counted-or-excluded tests."""
        whole = self.passed + self.failed + self.excluded
        return 100.0 * self.excluded / whole if whole else 0.0


def tally(results: Iterable[CaseResult], excluded: int = 0) -> Tally:
    """Count results according to the module docstring's definitions."""
    counts = Tally(excluded=excluded)
    for result in results:
        if not result.counted:
            counts.not_counted += 1
        elif result.status in PASSING:
            counts.passed += 1
        elif result.status == "skipped":
            counts.skipped += 1
        else:
            counts.failed += 1
    return counts


def tally_run(run: ModuleRun) -> Tally:
    """The tally of one module run."""
    return tally(run.results.values(), excluded=len(run.excluded))


@dataclass
class Verdict:
    """Whether the run is good enough for CI, and why not."""

    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """No threshold broken and no module that failed to run."""
        return not self.problems

    @property
    def exit_code(self) -> int:
        """0 when ok, 1 otherwise."""
        return 0 if self.ok else 1


def judge(
    runs: Sequence[ModuleRun], total: Tally, *, min_pass: float, max_excluded: float
) -> Verdict:
    """Apply the thresholds; also fail when nothing ran on the target or a module broke."""
    verdict = Verdict()
    for run in runs:
        if run.fatal is not None:
            verdict.problems.append(f"{run.name}: could not run ({run.fatal.splitlines()[0]})")
    counted = total.passed + total.failed + total.skipped
    if runs and counted == 0:
        verdict.problems.append(
            "no counted test: nothing ran on the target (redirection or counting is broken)"
        )
    pct = total.pass_pct
    if pct is not None and pct < min_pass:
        verdict.problems.append(f"pass rate {pct:.1f}% is below {min_pass:g}%")
    if total.excluded_pct > max_excluded:
        verdict.problems.append(
            f"excluded share {total.excluded_pct:.1f}% is above {max_excluded:g}%"
        )
    return verdict


def pct_text(value: float | None) -> str:
    """A percentage for humans; '-' when there is nothing to divide."""
    return "-" if value is None else f"{value:.1f}%"


def format_table(runs: Sequence[ModuleRun]) -> tuple[str, Tally]:
    """The per-module table and the total tally."""
    header = ("module", "passed", "failed", "skipped", "excluded", "not-counted", "pass%", "time")
    rows: list[tuple[str, ...]] = []
    total = Tally()
    for run in runs:
        counts = tally_run(run)
        total.add(counts)
        name = run.name + (" [DIED]" if run.crashes else "") + (" [BROKEN]" if run.fatal else "")
        rows.append(
            (
                name,
                str(counts.passed),
                str(counts.failed),
                str(counts.skipped),
                str(counts.excluded),
                str(counts.not_counted),
                pct_text(counts.pass_pct),
                f"{run.duration:.1f}s",
            )
        )
    rows.append(
        (
            "TOTAL",
            str(total.passed),
            str(total.failed),
            str(total.skipped),
            str(total.excluded),
            str(total.not_counted),
            pct_text(total.pass_pct),
            f"{sum(r.duration for r in runs):.1f}s",
        )
    )
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]

    def line(row: tuple[str, ...]) -> str:
        numbers = zip(row[1:], widths[1:], strict=True)
        cells = [row[0].ljust(widths[0])] + [c.rjust(w) for c, w in numbers]
        return "  ".join(cells)

    rule = "-" * len(line(header))
    body = [line(header), rule, *(line(r) for r in rows[:-1]), rule, line(rows[-1])]
    return "\n".join(body), total


def module_notes(runs: Sequence[ModuleRun]) -> list[str]:
    """Things about a module worth a line under the table: crashes, broken modules, notes."""
    notes = []
    for run in runs:
        if run.fatal:
            notes.append(f"{run.name}: BROKEN, no result: {run.fatal.splitlines()[0]}")
        for crash in run.crashes:
            notes.append(f"{run.name}: {crash}")
        for note in run.info.get("notes", []):
            notes.append(f"{run.name}: {note}")
        counts = tally_run(run)
        if not run.fatal and run.results and counts.passed + counts.failed + counts.skipped == 0:
            notes.append(f"{run.name}: no test created a target loop or Task")
    return notes


def tail_lines(text: str, count: int) -> str:
    """The last ``count`` lines of ``text`` (all of it when ``count`` is 0)."""
    lines = text.rstrip().splitlines()
    return "\n".join(lines if count <= 0 else lines[-count:])


def format_failures(runs: Sequence[ModuleRun], *, lines: int, show_output: bool) -> str:
    """Every counted failing test: its id, status and the end of its traceback."""
    blocks = []
    for run in runs:
        for result in run.results.values():
            if not (result.counted and result.failing):
                continue
            block = [f"{result.status.upper()}: {result.id}"]
            if result.status == "lost":  # all alike; the crash notes say why
                blocks.append(block[0])
                continue
            if result.detail:
                block.append(_indent(tail_lines(result.detail, lines)))
            if show_output and result.output:
                block.append("    --- captured output ---")
                block.append(_indent(tail_lines(result.output, lines)))
            blocks.append("\n".join(block))
        if run.fatal:
            blocks.append(f"BROKEN: {run.name}\n{_indent(tail_lines(run.fatal, lines))}")
    return "\n\n".join(blocks)


def format_excluded(runs: Sequence[ModuleRun]) -> str:
    """Excluded tests with their reasons."""
    return "\n".join(
        f"EXCLUDED: {entry['id']}  -- {entry['reason']}" for run in runs for entry in run.excluded
    )


def _indent(text: str) -> str:
    return "\n".join("    " + line for line in text.splitlines())


def summary_line(total: Tally) -> str:
    """The plain closing line CI log readers look for ("N passed, N failed, N skipped")."""
    return f"conformance: {total.passed} passed, {total.failed} failed, {total.skipped} skipped"


def to_json(
    runs: Sequence[ModuleRun], total: Tally, verdict: Verdict, meta: dict[str, Any]
) -> dict[str, Any]:
    """Everything, for ``--json``: per module its tally, metadata and every test's result."""
    modules = {}
    for run in runs:
        counts = tally_run(run)
        modules[run.name] = {
            "tally": {**vars(counts), "pass_pct": counts.pass_pct},
            "duration": round(run.duration, 2),
            "fatal": run.fatal,
            "crashes": run.crashes,
            "restarts": run.restarts,
            "info": {k: v for k, v in run.info.items() if k not in ("tests", "excluded")},
            "excluded": run.excluded,
            "tests": [r.to_dict() for r in run.results.values()],
        }
    return {
        **meta,
        "total": {
            **vars(total),
            "pass_pct": total.pass_pct,
            "excluded_pct": total.excluded_pct,
        },
        "ok": verdict.ok,
        "problems": verdict.problems,
        "modules": modules,
    }


def failed_ids(path: Path) -> set[str]:
    """Counted failing test ids in an earlier ``--json`` file (for ``--only-failed``)."""
    data = json.loads(path.read_text(encoding="utf-8"))
    return {
        test["id"]
        for module in data.get("modules", {}).values()
        for test in module.get("tests", [])
        if test.get("counted") and test.get("status") not in ("passed", "xfail", "skipped")
    }
