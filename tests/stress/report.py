"""Run the stress suite once per loop, each in a fresh process, and tabulate the cost.

    python tests/stress/report.py                 # small size, all three loops
    python tests/stress/report.py --size full     # issue 3's numbers (minutes)
    python tests/stress/report.py --loop glassloop --size full -- -x

A fresh pytest process per loop, so one loop's peak RSS is its own and not
the high-water mark of whichever loop ran before it. Prints Markdown: one
row per loop (wall time, the test process's peak RSS, the echo-client
process's peak RSS, and the outcome counts), then each test's duration per
loop. Exits non-zero if any run failed.
Arguments after ``--`` go to pytest.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(HERE))

from stress_support import LOOP_NAMES, SIZE_ENV, SIZES  # noqa: E402

REPORT_ENV = "GLASSLOOP_STRESS_REPORT"  # conftest.py writes its JSON there


def run_one(loop: str, size: str, python: str, extra: list[str]) -> dict[str, Any]:
    """One loop's suite in a fresh pytest process; its numbers, plus wall time."""
    with tempfile.TemporaryDirectory(prefix="glstress-report-") as tmp:
        out = Path(tmp) / "report.json"
        env = {**os.environ, REPORT_ENV: str(out), SIZE_ENV: size}
        command = [
            python,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "-q",
            str(HERE),
            f"--stress-size={size}",
            f"--stress-loop={loop}",
            *extra,
        ]
        print(f"$ {' '.join(command)}", file=sys.stderr, flush=True)
        started = time.monotonic()
        status = subprocess.call(command, cwd=ROOT, env=env, stdout=sys.stderr)
        wall = time.monotonic() - started
        if out.exists():
            result: dict[str, Any] = json.loads(out.read_text())
        else:  # pytest died before its session finished
            result = {"passed": 0, "failed": 0, "skipped": 0, "durations": {}}
    result.update(loop=loop, size=size, wall=wall, status=status)
    return result


def mib(kib: int | None) -> str:
    return "?" if kib is None else f"{kib / 1024:.0f}"


def markdown(results: list[dict[str, Any]]) -> str:
    lines = [
        "| loop | size | wall s | peak RSS MiB | echo clients' peak RSS MiB "
        "| passed | failed | skipped |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        failed = r["failed"] + (1 if r["status"] not in (0, 5) and not r["failed"] else 0)
        lines.append(
            f"| {r['loop']} | {r['size']} | {r['wall']:.1f} | {mib(r.get('peak_rss_kib'))} "
            f"| {mib(r.get('client_peak_rss_kib'))} | {r['passed']} | {failed} "
            f"| {r['skipped']} |"
        )
    # Per test: strip the loop from "file::test[loop-param]" so rows line up.
    tests: dict[str, dict[str, float]] = {}
    for r in results:
        for nodeid, seconds in r["durations"].items():
            name = nodeid.split("::", 1)[-1]
            for loop in LOOP_NAMES:
                name = name.replace(f"[{loop}-", "[").replace(f"[{loop}]", "")
            tests.setdefault(name, {})[r["loop"]] = seconds
    if tests:
        loops = [r["loop"] for r in results]
        lines += ["", "| test (call phase, s) | " + " | ".join(loops) + " |"]
        lines.append("|---|" + "---:|" * len(loops))
        for name, by_loop in sorted(tests.items()):
            cells = " | ".join(f"{by_loop[lp]:.2f}" if lp in by_loop else "-" for lp in loops)
            lines.append(f"| {name} | {cells} |")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    extra: list[str] = []
    if "--" in argv:
        extra = argv[argv.index("--") + 1 :]
        argv = argv[: argv.index("--")]
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", choices=sorted(SIZES), default="small")
    parser.add_argument(
        "--loop", action="append", choices=LOOP_NAMES, help="repeatable; default: all three"
    )
    parser.add_argument("--python", default=sys.executable, help="interpreter to run pytest")
    args = parser.parse_args(argv)
    results = [run_one(loop, args.size, args.python, extra) for loop in args.loop or LOOP_NAMES]
    version = subprocess.run(
        [args.python, "-c", "import sys; print(sys.version.split()[0])"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    print(f"glassloop stress suite, size {args.size}, Python {version}, {os.cpu_count()} CPUs\n")
    print(markdown(results))
    return 0 if all(r["status"] == 0 for r in results) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
