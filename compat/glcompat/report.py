"""The report: the table, the regressions with their errors, exclusions, gains, loop proof.

Markdown, so the same text reads in a terminal and pastes into an issue note.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from .results import OUTCOMES, Comparison, Difference, LoopRun

#: The lines of a regression's traceback the full report keeps (its tail, where the error is).
TRACEBACK_LINES = 30
OUTPUT_LINES = 15


def format_table(runs: Sequence[LoopRun], versions: dict[str, str]) -> str:
    """One row per suite and loop: outcomes, loops constructed, wall time."""
    head = ("suite", "loop", *OUTCOMES, "glassloop loops", "asyncio loops", "wall")
    rows = [head]
    for run in runs:
        tally = run.tally()
        wall = f"{run.seconds:.0f}s" + (" (TIMEOUT)" if run.timed_out else "")
        rows.append(
            (
                f"{run.suite} {versions.get(run.suite, '')}".strip(),
                f"{run.loop} (baseline {run.baseline})" if run.baseline else run.loop,
                *(str(tally.get(o, 0)) for o in OUTCOMES),
                str(run.loop_counts.get("glassloop", 0)),
                str(run.loop_counts.get("asyncio", 0)),
                wall,
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]

    def line(row: Sequence[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |"

    sep = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(rows[0]), sep, *(line(r) for r in rows[1:])])


_ERROR_LINE = re.compile(r"^E\s+(.*)$")
_EXCEPTION_LINE = re.compile(r"^[\s|]*[\w.]+(Error|Warning|Exception|Group)\b:")


def error_summary(diff: Difference) -> str:
    """The one line that says what went wrong: pytest's first ``E`` line, else the last line."""
    if diff.result is None:
        return "no result: the run ended before this test finished (crash or overall timeout)"
    text = diff.result.longrepr
    for raw in text.splitlines():
        found = _ERROR_LINE.match(raw)
        if found and found.group(1).strip():
            return found.group(1).strip()[:300]
    # No E line (an exception group, a crash): the last line that names an exception.
    named = [x.strip(" |") for x in text.splitlines() if _EXCEPTION_LINE.search(x)]
    if named:
        return named[-1][:300]
    lines = [x for x in text.splitlines() if x.strip()]
    return lines[-1].strip()[:300] if lines else "(no traceback)"


_GLASSLOOP_FRAME = re.compile(
    r"(glassloop/[\w/]+\.py):(\d+): in (\w+)"  # pytest's long and short tracebacks
    r"|(glassloop/[\w/]+\.py)\", line (\d+), in (\w+)"  # Python's own
)


def glassloop_frame(text: str) -> str | None:
    """The innermost glassloop frame of a traceback, ``glassloop/loop.py:110 (_fileobj_to_fd)``.

    Where the failure surfaced in glassloop's code: what the developer fixing it opens first.
    """
    frames = list(_GLASSLOOP_FRAME.finditer(text))
    if not frames:
        return None
    found = frames[-1]
    path, line, func = (g for g in found.groups() if g is not None)
    return f"{path}:{line} ({func})"


def _signature(summary: str) -> str:
    """An error line with its numbers, addresses and quoted values blurred, to group by."""
    summary = re.sub(r"0x[0-9a-f]+", "0x…", summary)
    summary = re.sub(r"'[^']*'|\"[^\"]*\"", "'…'", summary)
    return re.sub(r"\d+", "N", summary)[:160]


def format_groups(comp: Comparison) -> str:
    """The regressions grouped by error signature and glassloop frame, largest group first."""
    groups: dict[tuple[str, str], list[Difference]] = {}
    for diff in comp.regressions:
        text = diff.result.longrepr if diff.result else ""
        key = (_signature(error_summary(diff)), glassloop_frame(text) or "-")
        groups.setdefault(key, []).append(diff)
    out = [f"#### {comp.suite}: regressions by error", ""]
    for (signature, frame), diffs in sorted(groups.items(), key=lambda kv: -len(kv[1])):
        out.append(f"- {len(diffs)} x `{signature}` at {frame}")
    return "\n".join(out)


def _where(diff: Difference) -> str:
    if diff.result is None or not diff.result.when:
        return diff.glassloop
    return f"{diff.glassloop} in {diff.result.when}"


def format_comparison(comp: Comparison, glassloop: LoopRun, *, tracebacks: bool) -> str:
    """A suite's section: regressions (with error lines, and tracebacks if asked), the rest."""
    out = [f"### {comp.suite}: pass on asyncio, not on glassloop ({len(comp.regressions)})", ""]
    for diff in comp.regressions:
        frame = glassloop_frame(diff.result.longrepr) if diff.result else None
        at = f" [{frame}]" if frame else ""
        out.append(f"- `{diff.id}` ({_where(diff)}): {error_summary(diff)}{at}")
    if comp.regressions:
        out += ["", format_groups(comp)]
    if tracebacks and comp.regressions:
        out += ["", "<details><summary>tracebacks</summary>", ""]
        for diff in comp.regressions:
            text = diff.result.longrepr if diff.result else ""
            tail = "\n".join(text.splitlines()[-TRACEBACK_LINES:])
            out += [f"#### `{diff.id}`", "", "```", tail, "```", ""]
            output = diff.result.output if diff.result else ""
            if output:
                lines = output.splitlines()[-OUTPUT_LINES:]
                out += ["captured output (tail):", "", "```", *lines, "```", ""]
        out += ["</details>"]
    if comp.unconfirmed:
        out += [
            "",
            f"Failed in the full run, passed when rerun alone on glassloop "
            f"({len(comp.unconfirmed)}, not counted: order-dependent or flaky):",
            "",
        ]
        out += [f"- `{d.id}` (full run: {error_summary(d)})" for d in comp.unconfirmed]
    if comp.reference_fails:
        out += [
            "",
            f"Passed in asyncio's stored baseline, fail on glassloop and on asyncio when rerun "
            f"alone here ({len(comp.reference_fails)}, not counted):",
            "",
        ]
        out += [f"- `{d.id}` (asyncio: {d.reference})" for d in comp.reference_fails]
    if comp.excluded:
        out += ["", f"Excluded ({len(comp.excluded)}, not counted):", ""]
        out += [f"- `{d.id}` ({_where(d)}): {d.reason}" for d in comp.excluded]
    if comp.gains:
        out += ["", f"Note: pass on glassloop, not on asyncio ({len(comp.gains)}):", ""]
        out += [f"- `{d.id}` (asyncio: {d.reference})" for d in comp.gains]
    others = glassloop.made_other_loops()
    if others:
        out += ["", f"Tests of the glassloop run that constructed asyncio loops ({len(others)}):"]
        out += [""] + [f"- `{t.id}`: {t.loops[1]} asyncio loop(s)" for t in others[:40]]
        if len(others) > 40:
            out.append(f"- ... and {len(others) - 40} more")
    return "\n".join(out)


def format_broken(run: LoopRun) -> str | None:
    """A note for a run that did not end normally (pytest exit codes 0 and 1 are normal)."""
    if not run.timed_out and run.exit_code in (0, 1):
        return None
    why = "timed out (killed)" if run.timed_out else f"pytest exited {run.exit_code}"
    return (
        f"**{run.suite} on {run.loop}: {why}**, {len(run.tests)} results recorded; "
        f"output tail:\n\n```\n{run.output_tail}\n```"
    )
