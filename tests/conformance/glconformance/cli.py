"""The command line of ``tests/conformance/run.py``.

Typical uses while fixing glassloop::

    python tests/conformance/run.py                       # default modules, table, CI verdict
    python tests/conformance/run.py --module test_tasks --failures
    python tests/conformance/run.py -m test_locks -k Semaphore -v --failures --tb-lines 0
    python tests/conformance/run.py --json out.json       # everything, for later
    python tests/conformance/run.py --only-failed out.json --failures   # just the failures again
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from . import exclusions, report, specs
from .parent import ModuleRun, RunOptions, run_module

EXIT_OK, EXIT_THRESHOLD, EXIT_USAGE = 0, 1, 2


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (separate so tests can check defaults)."""
    parser = argparse.ArgumentParser(
        prog="python tests/conformance/run.py",
        description="Run CPython's own test.test_asyncio modules with glassloop as the loop.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("::", 1)[1] if __doc__ else None,
    )
    pick = parser.add_argument_group("what to run")
    pick.add_argument(
        "-m",
        "--module",
        action="append",
        default=[],
        metavar="NAME",
        help="test_tasks, or a dotted unittest module; repeatable (default: the default set)",
    )
    pick.add_argument("--all", action="store_true", help="also the opt-in modules (test_events...)")
    pick.add_argument(
        "-k",
        dest="keywords",
        action="append",
        default=[],
        metavar="SUBSTRING",
        help="only tests whose id contains SUBSTRING (case-insensitive; repeatable, OR-ed)",
    )
    pick.add_argument(
        "--only-failed",
        type=Path,
        metavar="JSON",
        help="only the counted failures recorded in an earlier --json file",
    )
    pick.add_argument("--list-modules", action="store_true", help="list known modules and exit")
    pick.add_argument(
        "--collect-only",
        action="store_true",
        help="list the test ids that would run (and the excluded ones), run nothing",
    )
    pick.add_argument(
        "--target", default="glassloop", help="package under test (default glassloop)"
    )
    pick.add_argument(
        "--exclusions",
        type=Path,
        default=exclusions.DEFAULT_PATH,
        help="exclusion list (default tests/conformance/excluded.toml)",
    )
    pick.add_argument(
        "--no-src", action="store_true", help="don't append the checkout's src/ to PYTHONPATH"
    )
    pick.add_argument(
        "--no-compat", action="store_true", help="don't patch test_utils.TestCase.close_loop"
    )

    show = parser.add_argument_group("what to show")
    show.add_argument("--failures", action="store_true", help="list counted failing tests")
    show.add_argument(
        "--tb-lines", type=int, default=12, help="traceback lines per failure (0: all; default 12)"
    )
    show.add_argument("--show-output", action="store_true", help="with --failures: captured output")
    show.add_argument("--show-excluded", action="store_true", help="list excluded tests and why")
    show.add_argument("-v", "--verbose", action="store_true", help="one line per test as it ends")
    show.add_argument("--json", type=Path, metavar="PATH", help="write full results as JSON")

    limits = parser.add_argument_group("limits")
    limits.add_argument("--min-pass", type=float, default=97.0, help="pass%% below this fails")
    limits.add_argument(
        "--max-excluded", type=float, default=5.0, help="excluded%% above this fails"
    )
    limits.add_argument("--timeout", type=float, default=30.0, help="per-test timeout, seconds")
    limits.add_argument(
        "--module-timeout", type=float, default=900.0, help="per-module budget, seconds"
    )
    limits.add_argument(
        "--max-restarts", type=int, default=5, help="times a dead module child is resumed"
    )
    return parser


def _print_event(module: str, event: dict[str, Any]) -> None:
    """``-v``: one line per finished test, flagged when it didn't count."""
    if event.get("event") != "result":
        return
    flag = "" if event.get("counted") else "  (not counted)"
    print(f"  {event['status']:>8}  {event['id']}  {event['duration']:.2f}s{flag}", flush=True)


def _list_modules(version: specs.Version) -> str:
    lines = []
    for spec in specs.MODULES:
        where = "default" if spec.default else "opt-in"
        if not spec.applies_to(version):
            where = "n/a on this Python"
        extra = ", ".join(c.name for c in spec.classes_for(version))
        lines.append(f"{spec.name:<26} {where:<18} {extra}".rstrip())
        if spec.note:
            lines.append(f"{'':<26} ({spec.note})")
    return "\n".join(lines)


def _collect(chosen: Sequence[specs.ModuleSpec], options: RunOptions) -> int:
    """``--collect-only``: what each module would run, from the children's plans."""
    broken = False
    for spec in chosen:
        run = run_module(spec, options)
        if run.fatal:
            broken = True
            print(f"BROKEN: {run.name}\n{report.tail_lines(run.fatal, 12)}")
            continue
        for note in run.info.get("notes", []):
            print(f"note: {run.name}: {note}")
        dropped = ", ".join(run.info.get("dropped", [])) or "none"
        print(f"# {run.name}: {len(run.planned)} tests; dropped classes: {dropped}")
        for test_id in run.planned:
            print(test_id)
        for entry in run.excluded:
            print(f"{entry['id']}  EXCLUDED: {entry['reason']}")
    return EXIT_USAGE if broken else EXIT_OK


def header(runs: Sequence[ModuleRun], target: str) -> str:
    """Python version, target and how it was hooked in, from the first child's plan."""
    info = next((r.info for r in runs if r.info), {})
    python = " ".join(sys.version.split())
    lines = [f"glassloop conformance: CPython {python}", f"interpreter: {sys.executable}"]
    if info:
        lines.append(f"target: {target} from {info.get('target_file', '?')}")
        lines.append(f"redirection: {info.get('redirect', '?')}")
        for shim in info.get("shims", []):
            lines.append(f"compat shim: {shim}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the harness; exit 0 if the thresholds hold, 1 if not, 2 on usage errors."""
    args = build_parser().parse_args(argv)
    version: specs.Version = (sys.version_info[0], sys.version_info[1])
    if args.list_modules:
        print(_list_modules(version))
        return EXIT_OK
    try:
        chosen, missing = specs.select(args.module, include_opt_in=args.all, version=version)
        entries = exclusions.load(args.exclusions)
        include = report.failed_ids(args.only_failed) if args.only_failed else set()
    except (KeyError, exclusions.ExclusionError, OSError, json.JSONDecodeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    for spec in missing:
        print(f"note: {spec.name} does not exist on Python {version[0]}.{version[1]}; skipped")
    if args.only_failed:
        if not include:
            print(f"no counted failures in {args.only_failed}: nothing to run")
            return EXIT_OK
        wanted = {test_id.split(".", 1)[0] for test_id in include}
        chosen = [s for s in chosen if s.name in wanted] if not args.module else chosen

    options = RunOptions(
        target=args.target,
        exclusions=args.exclusions,
        keywords=args.keywords,
        include=include,
        test_timeout=args.timeout,
        module_timeout=args.module_timeout,
        max_restarts=args.max_restarts,
        add_src=not args.no_src,
        compat=not args.no_compat,
        collect_only=args.collect_only,
    )
    if args.collect_only:
        return _collect(chosen, options)
    runs: list[ModuleRun] = []
    started = time.monotonic()
    interrupted = False
    for spec in chosen:
        print(f"== {spec.name}", flush=True)
        try:
            run = run_module(spec, options, on_event=_print_event if args.verbose else None)
        except KeyboardInterrupt:
            print("   interrupted: reporting the modules that finished")
            interrupted = True
            break
        runs.append(run)
        counts = report.tally_run(run)
        state = "BROKEN" if run.fatal else ("DIED" if run.crashes else "ok")
        print(
            f"   {state}: {counts.passed} passed, {counts.failed} failed, "
            f"{counts.not_counted} not counted, {run.duration:.1f}s",
            flush=True,
        )

    table, total = report.format_table(runs)
    verdict = report.judge(runs, total, min_pass=args.min_pass, max_excluded=args.max_excluded)
    if interrupted:
        verdict.problems.append("interrupted before every module ran")
    print()
    print(header(runs, args.target))
    print()
    print(table)
    print()
    print(
        f"pass: {report.pct_text(total.pass_pct)} (minimum {args.min_pass:g}%)   "
        f"excluded: {total.excluded_pct:.1f}% (maximum {args.max_excluded:g}%)   "
        f"wall time: {time.monotonic() - started:.0f}s"
    )
    for note in report.module_notes(runs):
        print(f"note: {note}")
    if not (args.keywords or include):
        matcher = exclusions.Matcher(entries, version)
        for run in runs:
            for test_id in [*run.planned, *(e["id"] for e in run.excluded)]:
                matcher.reason_for(test_id)
        for entry in matcher.stale(r.name for r in runs if not r.fatal):
            print(f"note: exclusion {entry.pattern!r} matched no test (stale?)")
    if args.show_excluded:
        text = report.format_excluded(runs)
        if text:
            print()
            print(text)
    if args.failures:
        text = report.format_failures(runs, lines=args.tb_lines, show_output=args.show_output)
        print()
        print(text or "no counted failures")
    if args.json:
        meta = {
            "python": sys.version,
            "executable": sys.executable,
            "target": args.target,
            "thresholds": {"min_pass": args.min_pass, "max_excluded": args.max_excluded},
        }
        args.json.write_text(
            json.dumps(report.to_json(runs, total, verdict, meta), indent=1), encoding="utf-8"
        )
    print()
    for problem in verdict.problems:
        print(f"FAIL: {problem}")
    print(report.summary_line(total))
    return verdict.exit_code
