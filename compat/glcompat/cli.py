"""The command line of compat/run.py: prepare, run each suite on each loop, report, judge."""

from __future__ import annotations

import argparse
import datetime
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from . import baseline, exclusions, prepare, report
from .results import Comparison, LoopRun, compare, confirm, confirm_reference
from .runner import load_run, run_suite
from .suites import SUITES, Suite

REPO = Path(__file__).resolve().parents[2]
LOOPS = ("glassloop", "asyncio")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="compat/run.py",
        description="Run frameworks' own test suites on glassloop and on asyncio, and diff them.",
    )
    parser.add_argument(
        "--suites", default=",".join(SUITES), help=f"comma-separated, of {', '.join(SUITES)}"
    )
    parser.add_argument("--python", default="3.11", help="X.Y of the suites' venvs (3.11)")
    parser.add_argument("--loops", default=",".join(LOOPS), help="glassloop,asyncio (both)")
    parser.add_argument("-k", dest="keyword", help="pytest -k expression, passed to every suite")
    parser.add_argument("--jobs", type=int, default=1, help="pytest-xdist workers per run (1)")
    parser.add_argument(
        "--glassloop", type=Path, default=REPO, help="the glassloop checkout to install (here)"
    )
    parser.add_argument(
        "--cache", type=Path, default=REPO / ".compat-cache", help="sdists, trees, venvs, runs"
    )
    parser.add_argument("--exclusions", type=Path, default=exclusions.DEFAULT_PATH)
    parser.add_argument("--out", type=Path, help="also write the full report (markdown) here")
    parser.add_argument(
        "--report-only", action="store_true", help="always exit 0 (the table is still printed)"
    )
    parser.add_argument(
        "--run-timeout", type=int, help="seconds for one suite on one loop (suite's default)"
    )
    parser.add_argument("--nice", type=int, default=10, help="niceness of the pytest runs (10)")
    parser.add_argument(
        "--tracebacks", action="store_true", help="print regressions' tracebacks too"
    )
    parser.add_argument(
        "--no-run",
        action="store_true",
        help="report from the last runs kept in the cache (after editing excluded.toml)",
    )
    parser.add_argument(
        "--no-confirm",
        action="store_true",
        help="count every regression of the full run (default: rerun them alone on glassloop "
        "once and count only those that fail again)",
    )
    parser.add_argument(
        "--baseline",
        action="store_true",
        help="compare with asyncio's stored outcomes (compat/baseline/) instead of running the "
        "suite on asyncio; regressions are still checked against asyncio live (CI's mode)",
    )
    parser.add_argument(
        "--baseline-dir", type=Path, default=baseline.DIRECTORY, help=argparse.SUPPRESS
    )
    parser.add_argument(
        "--write-baseline",
        action="store_true",
        help="store this asyncio run's outcomes as the suite's baseline (with --no-run: the "
        "last asyncio run in the cache)",
    )
    parser.add_argument(
        "pytest_args", nargs="*", help="after --: extra pytest arguments for every suite"
    )
    return parser


def _git_describe(path: Path) -> str:
    try:
        return subprocess.run(
            ["git", "-C", str(path), "log", "-1", "--format=%h %s"],
            capture_output=True, text=True, timeout=10,
        ).stdout.strip()[:90]  # fmt: skip
    except (OSError, subprocess.TimeoutExpired):
        return "?"


def _add_reference(
    stored: LoopRun | None, by_loop: dict[str, LoopRun], runs: list[LoopRun], *, partial: bool
) -> None:
    """Make a stored asyncio run the suite's reference, cut to the tests run when partial."""
    if stored is None:
        return
    ran = by_loop.get("glassloop")
    if partial and ran is not None:
        stored.tests = {k: v for k, v in stored.tests.items() if k in ran.tests}
    runs.append(stored)
    by_loop["asyncio"] = stored


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    names = [n.strip() for n in args.suites.split(",") if n.strip()]
    loops = [n.strip() for n in args.loops.split(",") if n.strip()]
    unknown = [n for n in names if n not in SUITES] + [n for n in loops if n not in LOOPS]
    if unknown:
        print(f"error: unknown suite or loop: {', '.join(unknown)}", file=sys.stderr)
        return 2
    try:
        entries = exclusions.load(args.exclusions)
    except exclusions.ExclusionError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    major, minor = (int(x) for x in args.python.split(".")[:2])
    matcher = exclusions.Matcher(entries, (major, minor))
    cache = args.cache.resolve()
    glassloop = args.glassloop.resolve()
    try:
        python = prepare.find_python(args.python)
    except prepare.PrepareError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    # A run of a selection (-k, extra pytest args) keeps its own folder: it must not replace
    # the last full run, which --no-run reports from.
    partial = "-partial" if args.keyword or args.pytest_args else ""
    if args.write_baseline and (partial or args.baseline or "asyncio" not in loops):
        print(
            "error: --write-baseline needs a whole-suite asyncio run (no -k, no pytest "
            "arguments, no --baseline)",
            file=sys.stderr,
        )
        return 2
    runs: list[LoopRun] = []
    comparisons: list[tuple[Comparison, LoopRun]] = []
    broken: list[str] = []
    for name in names:
        suite = SUITES[name]
        by_loop: dict[str, LoopRun] = {}
        stored_ref: LoopRun | None = None
        if args.baseline:
            where = baseline.path_for(name, suite.version, args.python, args.baseline_dir)
            try:
                stored_ref = baseline.load(where, name, suite.version, args.python)
            except (ValueError, KeyError) as exc:
                broken.append(f"**{name}: unreadable baseline**: {exc}")
            if stored_ref is None:
                print(f"== {name}: no stored baseline ({where.name}): asyncio runs too", flush=True)
        suite_loops = [lp for lp in loops if not (stored_ref and lp == "asyncio")]
        if args.no_run:
            for loop in suite_loops:
                workdir = cache / "runs" / f"{name}-py{args.python}-{loop}{partial}"
                stored = load_run(suite, loop, workdir)
                if stored is None:
                    broken.append(f"**{name} on {loop}: no finished run in {workdir}**")
                    continue
                runs.append(stored)
                by_loop[loop] = stored
            _add_reference(stored_ref, by_loop, runs, partial=bool(partial))
            if "glassloop" in by_loop and "asyncio" in by_loop:
                comp = compare(name, by_loop["asyncio"], by_loop["glassloop"], matcher)
                comparisons.append((comp, by_loop["glassloop"]))
            continue
        print(f"== {name} {suite.version}: preparing (sdist, venv)", flush=True)
        try:
            tree = prepare.unpack(prepare.fetch_sdist(suite, cache), cache)
            venv = prepare.ensure_venv(
                suite, tree, python, args.python, glassloop, cache,
                log=cache / "logs" / f"prepare-{name}-py{args.python}.log",
            )  # fmt: skip
        except prepare.PrepareError as exc:
            broken.append(f"**{name}: could not prepare**: {exc}")
            print(f"   {exc}", flush=True)
            continue
        for loop in suite_loops:
            print(f"== {name} on {loop}: running", flush=True)
            run = run_suite(
                suite, loop, venv=venv, tree=tree, glassloop=glassloop,
                workdir=cache / "runs" / f"{name}-py{args.python}-{loop}{partial}",
                jobs=args.jobs, keyword=args.keyword, extra=args.pytest_args,
                run_timeout=args.run_timeout, nice=args.nice, exclude=matcher.regexes(name),
            )  # fmt: skip
            tally = run.tally()
            print(
                f"   {run.seconds:.0f}s: "
                + ", ".join(f"{tally.get(k, 0)} {k}" for k in ("passed", "failed", "error"))
                + f"; loops: {run.loop_counts}",
                flush=True,
            )
            note = report.format_broken(run)
            if note:
                broken.append(note)
            if not run.tests:
                broken.append(
                    f"**{name} on {loop}: no test results**; output tail:\n\n"
                    f"```\n{run.output_tail}\n```"
                )
            runs.append(run)
            by_loop[loop] = run
        _add_reference(stored_ref, by_loop, runs, partial=bool(partial))
        if "glassloop" in by_loop and "asyncio" in by_loop:
            comp = compare(name, by_loop["asyncio"], by_loop["glassloop"], matcher)
            if comp.regressions and not args.no_confirm:

                def alone(
                    loop: str,
                    comp: Comparison = comp,
                    suite: Suite = suite,
                    venv: Path = venv,
                    tree: Path = tree,
                ) -> LoopRun:
                    """The regressions of ``comp`` rerun on their own, on ``loop``."""
                    ids = [d.id for d in comp.regressions]
                    print(f"== {suite.name} on {loop}: rerunning {len(ids)} alone", flush=True)
                    return run_suite(
                        suite, loop, venv=venv, tree=tree, glassloop=glassloop,
                        workdir=cache / "runs" / f"{suite.name}-py{args.python}-{loop}-confirm",
                        jobs=1, keyword=None, extra=[*args.pytest_args, *ids],
                        run_timeout=args.run_timeout, nice=args.nice,
                        exclude=matcher.regexes(suite.name),
                    )  # fmt: skip

                confirm(comp, alone("glassloop"))
                print(f"   {len(comp.regressions)} failed again", flush=True)
                if stored_ref is not None and comp.regressions:
                    confirm_reference(comp, alone("asyncio"))
                    print(f"   {len(comp.regressions)} pass on asyncio", flush=True)
            comparisons.append((comp, by_loop["glassloop"]))

    if args.write_baseline:
        for run in runs:
            if run.loop != "asyncio" or run.baseline:
                continue
            version = SUITES[run.suite].version
            where = baseline.path_for(run.suite, version, args.python, args.baseline_dir)
            try:
                baseline.write(run, version, args.python, where)
            except ValueError as exc:
                broken.append(f"**{run.suite}: {exc}**")
                continue
            print(f"== {run.suite}: asyncio's outcomes stored in {where}", flush=True)

    versions = {n: SUITES[n].version for n in names}
    header = [
        f"## compat: frameworks' own suites on glassloop and asyncio (Python {args.python})",
        "",
        f"- {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC, glassloop at "
        f"{glassloop} ({_git_describe(glassloop)})",
        f"- command: `python compat/run.py {' '.join(argv if argv is not None else sys.argv[1:])}`",
        "",
    ]
    table = report.format_table(runs, versions)
    sections = [report.format_comparison(c, g, tracebacks=False) for c, g in comparisons]
    full_sections = [report.format_comparison(c, g, tracebacks=True) for c, g in comparisons]
    keyword_run = bool(args.keyword or args.pytest_args)
    stale = [] if keyword_run else matcher.stale({c.suite for c, _ in comparisons})
    tail: list[str] = []
    if stale:
        tail += ["", "Stale exclusions (matched no test):", ""]
        tail += [f"- `{e.pattern}`" for e in stale]
    if broken:
        tail += ["", *broken]
    regressions = sum(len(c.regressions) for c, _ in comparisons)
    verdict = (
        f"compat: {regressions} regression(s) in "
        f"{', '.join(f'{c.suite} {len(c.regressions)}' for c, _ in comparisons) or 'nothing'}"
    )
    text = "\n".join([*header, table, "", *sections, *tail, "", verdict])
    print()
    print(text)
    if args.out:
        args.out.write_text(
            "\n".join([*header, table, "", *("\n" + s for s in full_sections), *tail, "", verdict])
            + "\n"
        )
        print(f"\n(full report with tracebacks: {args.out})")
    if args.report_only:
        return 0
    if broken:
        return 1
    return 1 if regressions else 0
