"""The side-by-side benchmark suite: glassloop, asyncio, uvloop and rloop in one run.

    python benchmarks/run.py                 # full run: benchmarks/results/<date>-py<ver>/
    python benchmarks/run.py --smoke         # tiny sizes, one run, a temporary folder (CI)
    python benchmarks/run.py --only sched,tcp_protocol_* --runs 7 --loops glassloop,asyncio
    python benchmarks/run.py --list          # the rows and their groups

For every row the loops take turns run by run (A B C D A B C D ...), every
run in a fresh process (``bench_<group>.py --loop L --row R --size S``, which
prints one JSON line).  A warm-up round comes first and is not counted.  The
report gives, per loop, the median and min-max of the counted runs, and per
other loop the median over rounds of the ratio of the two runs of that round
-- on a shared, noisy machine those paired ratios are the figures to trust.
"""

from __future__ import annotations

import argparse
import datetime
import fnmatch
import importlib
import importlib.metadata
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field, replace
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from _common import (  # noqa: E402
    BUILD_LOOP_NAMES,
    LOOP_NAMES,
    OBSERVED_LOOP_NAMES,
    Row,
    Unit,
    loop_environment,
)

GROUPS: dict[str, tuple[str, str]] = {
    # group: (module, section title)
    "sched": ("bench_sched", "Scheduling"),
    "io": ("bench_io", "I/O (echo server on the loop, client in another process)"),
    "http": ("bench_http", "HTTP (wrk -c50)"),
    "scale": ("bench_scale", "Scale"),
}
BASE = "glassloop"
SMOKE_TIMEOUT = 60.0
#: A loop that fails this many runs of a row is not asked again for that row.
MAX_FAILURES = 2


def all_rows() -> list[Row]:
    rows: list[Row] = []
    for module_name, _ in GROUPS.values():
        module = importlib.import_module(module_name)
        rows.extend(module.ROWS.values())
    return rows


def select_rows(rows: list[Row], only: str | None) -> list[Row]:
    if not only:
        return rows
    wanted = [w.strip() for w in only.split(",") if w.strip()]
    chosen = [r for r in rows if any(w == r.group or fnmatch.fnmatch(r.id, w) for w in wanted)]
    unknown = [w for w in wanted if not any(w == r.group or fnmatch.fnmatch(r.id, w) for r in rows)]
    if unknown:
        raise SystemExit(f"--only: no row or group matches {', '.join(unknown)} (see --list)")
    return chosen


# -- running the children -----------------------------------------------------


@dataclass
class Run:
    loop: str
    round: int
    warmup: bool
    value: float | None = None
    error: str | None = None
    unavailable: str | None = None
    wall: float = 0.0
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ChildSetup:
    """What every child gets: the size, the CPU it is pinned to, its environment."""

    size: str
    cpu: int | None
    env: dict[str, str]


def child_environment(mmap_threshold: int | None) -> dict[str, str]:
    """os.environ, with glibc's mmap threshold pinned unless ``mmap_threshold`` is None.

    glibc serves a malloc of 128 KiB or more with mmap, and raises that
    threshold for good the first time such a block is freed whole.  A loop
    that reads with ``sock.recv(256 KiB)`` therefore pays an mmap, an mremap
    and a munmap per read -- or nothing -- depending on what the process did
    before; in our first runs even the length of the script's path flipped
    it.  Pinning the threshold (a static value switches the adjustment off)
    makes every run the same.
    """
    env = dict(os.environ)
    if mmap_threshold is not None:
        # A static mmap threshold also freezes the trim threshold at its
        # initial 128 KiB (glibc raises both together, trim to twice mmap):
        # a message of ~100 KiB then lets the heap's top grow and shrink with
        # brk, and fault its pages back in, once per message -- or not, again
        # depending on the layout (8 000 brk and 78 000 page faults for 8 000
        # round trips with one script path, none with another). Pinned at
        # four times the mmap threshold, as a process glibc had adjusted.
        tunable = (
            f"glibc.malloc.mmap_threshold={mmap_threshold}"
            f":glibc.malloc.trim_threshold={4 * mmap_threshold}"
        )
        existing = env.get("GLIBC_TUNABLES")
        env["GLIBC_TUNABLES"] = f"{existing}:{tunable}" if existing else tunable
    return env


def run_child(row: Row, loop: str, setup: ChildSetup, round_: int, warmup: bool) -> Run:
    module, _ = GROUPS[row.group]
    script = os.path.join(HERE, module + ".py")
    cmd = [sys.executable, script, "--loop", loop, "--row", row.id, "--size", setup.size]
    if setup.cpu is not None:
        cmd += ["--cpu", str(setup.cpu)]
    timeout = row.timeout if setup.size == "full" else SMOKE_TIMEOUT
    run = Run(loop, round_, warmup)
    start = time.perf_counter()
    # A session of its own, so a timeout kills the child's client process too.
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        env=loop_environment(loop, setup.env),
    )
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        run.wall = time.perf_counter() - start
        run.error = f"timed out after {timeout:.0f} s"
        return run
    run.wall = time.perf_counter() - start
    payload: dict[str, Any] = {}
    for line in reversed(out.splitlines()):
        if line.startswith("{"):
            try:
                payload = json.loads(line)
            except ValueError:
                continue
            break
    if "value" in payload and proc.returncode == 0:
        run.value = float(payload["value"])
        run.params = payload.get("params", {})
    elif "unavailable" in payload:
        run.unavailable = str(payload["unavailable"])
    else:
        tail = [ln for ln in err.strip().splitlines() if ln.strip()][-1:] or ["no output"]
        run.error = str(payload.get("error") or f"exit status {proc.returncode}: {tail[0]}")
    return run


def fmt_run(row: Row, run: Run) -> str:
    if run.value is not None:
        return f"{fmt_value(row, run.value)} ({run.wall:.1f} s)"
    return f"n/a: {run.unavailable or run.error}"


def missing_tools(row: Row) -> list[str]:
    return [tool for tool in row.needs if shutil.which(tool) is None]


def run_suite(
    rows: list[Row], loops: list[str], setup: ChildSetup, warmup: int, runs: int
) -> dict[str, dict[str, list[Run]]]:
    """Every row, every loop, alternating; returns results[row_id][loop] = runs."""
    results: dict[str, dict[str, list[Run]]] = {}
    rounds = warmup + runs
    total = len(rows) * len(loops) * rounds
    done = 0
    started = time.perf_counter()
    for row in rows:
        results[row.id] = {loop: [] for loop in loops}
        missing = missing_tools(row)
        if missing:
            note = f"{', '.join(missing)} not installed (benchmarks/setup.sh installs it)"
            print(f"-- {row.id}: SKIPPED, {note}", file=sys.stderr, flush=True)
            for loop in loops:
                results[row.id][loop].append(Run(loop, 0, False, unavailable=note))
            done += len(loops) * rounds
            continue
        dropped: set[str] = set()
        for round_ in range(rounds):
            is_warmup = round_ < warmup
            for loop in loops:
                done += 1
                if loop in dropped:
                    continue
                run = run_child(row, loop, setup, round_, is_warmup)
                results[row.id][loop].append(run)
                tag = "warm-up" if is_warmup else f"run {round_ - warmup + 1}/{runs}"
                elapsed = time.perf_counter() - started
                eta = elapsed / done * (total - done)
                print(
                    f"[{done}/{total} {elapsed:4.0f}s, ~{eta:.0f}s left] {row.id} {tag} "
                    f"{loop}: {fmt_run(row, run)}",
                    file=sys.stderr,
                    flush=True,
                )
                if run.unavailable:
                    dropped.update(loops)
                failures = sum(1 for r in results[row.id][loop] if r.error)
                if failures >= MAX_FAILURES:
                    dropped.add(loop)
    return results


# -- statistics ---------------------------------------------------------------


@dataclass
class Stats:
    median: float
    low: float
    high: float
    count: int


def counted(runs: list[Run]) -> list[Run]:
    return [r for r in runs if not r.warmup and r.value is not None]


def loop_stats(runs: list[Run]) -> Stats | None:
    values = [r.value for r in counted(runs) if r.value is not None]
    if not values:
        return None
    return Stats(statistics.median(values), min(values), max(values), len(values))


def paired_ratio(row: Row, base: list[Run], other: list[Run]) -> float | None:
    """Median over rounds of the ratio, oriented so that > 1 means the base loop is better."""
    base_by_round = {r.round: r.value for r in counted(base)}
    ratios = []
    for r in counted(other):
        b = base_by_round.get(r.round)
        if b is None or r.value is None or b <= 0 or r.value <= 0:
            continue
        ratios.append(r.value / b if row.lower_is_better else b / r.value)
    return statistics.median(ratios) if ratios else None


def row_problems(runs: list[Run]) -> str | None:
    """Why a loop has no (or incomplete) numbers for a row, if it has a reason."""
    unavailable = {r.unavailable for r in runs if r.unavailable}
    if unavailable:
        return "; ".join(sorted(unavailable))
    errors = [r.error for r in runs if r.error]
    if not errors:
        return None
    first = errors[0]
    return first if len(errors) == 1 else f"{first} ({len(errors)} failed runs)"


# -- formatting ---------------------------------------------------------------


def fmt_value(row: Row, value: float, scale: str | None = None) -> str:
    if row.unit == "s":
        if (scale or ("ms" if value < 1 else "s")) == "ms":
            return f"{value * 1000:.3g} ms"
        return f"{value:.3g} s"
    if row.unit == "us/op":
        return f"{value:.3g} µs"
    if row.unit == "bytes":
        return f"{value:,.0f} B"
    return f"{value:,.0f}"


def fmt_stats(row: Row, stats: Stats | None, scale: str | None) -> str:
    if stats is None:
        return "n/a"
    if stats.count == 1:
        return fmt_value(row, stats.median, scale)
    unit_less = fmt_value(row, stats.low, scale).split(" ")[0]
    return (
        f"{fmt_value(row, stats.median, scale)} ({unit_less}–{fmt_value(row, stats.high, scale)})"
    )


def row_scale(row: Row, stats: dict[str, Stats | None]) -> str | None:
    if row.unit != "s":
        return None
    medians = [s.median for s in stats.values() if s is not None]
    return "ms" if medians and max(medians) < 1 else "s"


def render_tables(
    rows: list[Row], loops: list[str], results: dict[str, dict[str, list[Run]]]
) -> str:
    others = [loop for loop in loops if loop != BASE]
    has_base = BASE in loops
    lines: list[str] = []
    for group, (_, title) in GROUPS.items():
        group_rows = [r for r in rows if r.group == group]
        if not group_rows:
            continue
        better = "higher is better" if group == "http" else "lower is better"
        lines += ["", f"### {title} — {better}", ""]
        header = ["row", *loops]
        if has_base:
            header += [f"{BASE} vs {o}" for o in others]
        lines.append("| " + " | ".join(header) + " |")
        lines.append("|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|")
        for row in group_rows:
            per_loop = {loop: loop_stats(results[row.id][loop]) for loop in loops}
            scale = row_scale(row, per_loop)
            cells = [row.label]
            for loop in loops:
                cell = fmt_stats(row, per_loop[loop], scale)
                if per_loop[loop] is not None and row_problems(results[row.id][loop]):
                    cell += " †"
                cells.append(cell)
            if has_base:
                for other in others:
                    ratio = paired_ratio(row, results[row.id][BASE], results[row.id][other])
                    cells.append("n/a" if ratio is None else f"{ratio:.2f}×")
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


#: The server CPU tables: (group, the run's param, the unit shown, title,
#: first column's header, what it is).
SERVER_CPU_TABLES: tuple[tuple[str, str, Unit, str, str, str], ...] = (
    (
        "io",
        "server_cpu_s",
        "s",
        "I/O, server CPU time — lower is better",
        "row (server CPU time)",
        "The same runs as the I/O table: CPU seconds (user + system) the echo server's "
        "process spent while the client ran, i.e. the loop's own share of each round trip.",
    ),
    (
        "http",
        "server_cpu_us_per_request",
        "us/op",
        "HTTP, server CPU per request — lower is better",
        "row (server CPU per request)",
        "The same runs as the HTTP table: CPU time (user + system) the server's process "
        "spent while wrk ran, divided by the requests wrk completed. wrk's figure also "
        "depends on how the machine shares its CPUs out; this one is what a request costs "
        "the server.",
    ),
)


def render_server_cpu(
    rows: list[Row], loops: list[str], results: dict[str, dict[str, list[Run]]]
) -> str:
    """The I/O and HTTP rows again, by the server process's own CPU time.

    The client's wall time includes the client and the kernel, the same for
    every loop, so its ratios understate how much the loops themselves differ.
    """
    lines: list[str] = []
    others = [loop for loop in loops if loop != BASE]
    for group, key, unit, title, first_column, blurb in SERVER_CPU_TABLES:
        measured = [
            replace(row, unit=unit)
            for row in rows
            if row.group == group
            and any(key in run.params for runs in results[row.id].values() for run in runs)
        ]
        if not measured:
            continue
        header = [first_column, *loops]
        if BASE in loops:
            header += [f"{BASE} vs {o}" for o in others]
        lines += [
            "",
            f"### {title}",
            "",
            blurb,
            "",
            "| " + " | ".join(header) + " |",
            "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|",
        ]
        for row in measured:
            by_loop = {
                loop: [replace(run, value=run.params.get(key)) for run in runs]
                for loop, runs in results[row.id].items()
            }
            per_loop = {loop: loop_stats(by_loop.get(loop, [])) for loop in loops}
            scale = row_scale(row, per_loop)
            cells = [row.label]
            cells += [fmt_stats(row, per_loop[loop], scale) for loop in loops]
            if BASE in loops:
                for other in others:
                    ratio = paired_ratio(row, by_loop.get(BASE, []), by_loop.get(other, []))
                    cells.append("n/a" if ratio is None else f"{ratio:.2f}×")
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def render_problems(
    rows: list[Row], loops: list[str], results: dict[str, dict[str, list[Run]]]
) -> str:
    """n/a cells and failed runs, grouped by loop and reason."""
    grouped: dict[tuple[str, str], list[str]] = {}
    for row in rows:
        for loop in loops:
            problem = row_problems(results[row.id][loop])
            if problem:
                grouped.setdefault((loop, problem), []).append(row.id)
    if not grouped:
        return "None: every loop ran every row."
    lines = []
    for (loop, problem), row_ids in sorted(grouped.items()):
        lines.append(f"- **{loop}**: {problem} — {len(row_ids)} row(s): {', '.join(row_ids)}")
    return "\n".join(lines)


# -- machine notes ------------------------------------------------------------


def read_first(path: str, key: str) -> str | None:
    try:
        with open(path) as f:
            for line in f:
                if line.startswith(key):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def package_version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def glassloop_source() -> dict[str, Any]:
    import glassloop

    where = os.path.dirname(os.path.abspath(glassloop.__file__))
    info: dict[str, Any] = {"version": getattr(glassloop, "__version__", None), "path": where}
    try:
        git = ["git", "-C", where]
        info["commit"] = subprocess.run(
            [*git, "rev-parse", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
        status = subprocess.run(
            [*git, "status", "--porcelain", "--", "."], capture_output=True, text=True, check=True
        ).stdout
        info["uncommitted_changes"] = bool(status.strip())
    except (OSError, subprocess.CalledProcessError):
        pass
    # Which build each glassloop loop name runs (glassloop.build), asked of a
    # child with that loop's environment, as its runs will have it.
    info["builds"] = {}
    for name in ("glassloop", *BUILD_LOOP_NAMES):
        out = subprocess.run(
            [sys.executable, "-c", "import glassloop.build as b; print(b.describe())"],
            capture_output=True,
            text=True,
            env=loop_environment(name, dict(os.environ)),
            check=False,
        )
        info["builds"][name] = out.stdout.strip() or "does not import"
    return info


def machine_notes() -> dict[str, Any]:
    wrk = shutil.which("wrk")
    wrk_version = None
    if wrk:
        out = subprocess.run([wrk, "--version"], capture_output=True, text=True)
        wrk_version = (out.stdout or out.stderr).strip().splitlines()[0]
    mem = read_first("/proc/meminfo", "MemTotal")
    return {
        "cpu": read_first("/proc/cpuinfo", "model name") or platform.processor() or "unknown",
        "cpu_count": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)),
        "memory": mem,
        "kernel": platform.release(),
        "platform": platform.platform(),
        "python": sys.version.replace("\n", " "),
        "python_executable": sys.executable,
        "glassloop": glassloop_source(),
        "versions": {
            name: package_version(name)
            for name in (
                "uvloop",
                "rloop",
                "aiohttp",
                "fastapi",
                "uvicorn",
                "pydantic",
                "h11",
                "httptools",
                "matplotlib",
            )
        },
        "wrk": wrk_version,
    }


def loop_version(loop: str, notes: dict[str, Any]) -> str:
    if loop == "glassloop":
        g = notes["glassloop"]
        commit = g.get("commit", "?")[:10]
        dirty = ", with uncommitted changes" if g.get("uncommitted_changes") else ""
        build = g.get("builds", {}).get("glassloop", "?")
        return f"glassloop {g.get('version')} (commit {commit}{dirty}; build: {build})"
    if loop in BUILD_LOOP_NAMES:
        build = notes["glassloop"].get("builds", {}).get(loop, "?")
        return f"{loop} (the same glassloop, build: {build})"
    if loop == "asyncio":
        return f"asyncio (CPython {platform.python_version()}, SelectorEventLoop)"
    if loop.startswith("glassloop+"):
        observer = {"trace": "a Recorder", "flight": "a FlightRecorder"}.get(
            loop.partition("+")[2], "a BlockingDetector(0.1)"
        )
        return f"{loop} (the same glassloop, with {observer} attached)"
    return f"{loop} {notes['versions'].get(loop)}"


def render_report(
    rows: list[Row],
    loops: list[str],
    results: dict[str, dict[str, list[Run]]],
    meta: dict[str, Any],
) -> str:
    notes = meta["machine"]
    load = meta["loadavg"]
    mode = meta["mode"]
    lines = [
        f"# glassloop benchmarks — {meta['date']}, Python {platform.python_version()}"
        + (" (SMOKE: tiny sizes, not figures)" if mode == "smoke" else ""),
        "",
        f"Mode: **{mode}** — {meta['warmup']} warm-up round(s) + {meta['runs']} counted run(s) "
        f"per loop per row; the loops alternate run by run ({', '.join(loops)}), "
        "every run in a fresh process. Rows: "
        + ("all." if not meta["only"] else f"`--only {meta['only']}`."),
        f"Wall time: {meta['wall_seconds'] / 60:.1f} min.",
        "",
        "**Machine.** "
        f"{notes['cpu']}, {notes['cpu_count']} cores ({notes['cpus_usable']} usable), "
        f"{notes['memory']} RAM; kernel {notes['kernel']} ({notes['platform']}). "
        f"Load average at start {load['start'][0]:.2f}, at end {load['end'][0]:.2f} "
        "(a shared machine: other work ran alongside).",
        "",
        "**Process set-up.** "
        + (
            f"Every child, and the client process it starts, runs on CPU {meta['cpu']} only, "
            "so a round trip costs both processes' CPU time rather than the cross-CPU "
            "wake-up latency of a virtual machine, which is large and varies with how idle "
            "the machine is. The HTTP rows are the exception: their server runs on CPU "
            f"{meta['cpu']} and wrk, with one thread, on another CPU, so that neither takes "
            "turns with the other and the figure is what the server can serve. "
            if meta["cpu"] is not None
            else "Children are not pinned to a CPU. "
        )
        + (
            f"glibc's malloc mmap threshold is pinned at {meta['mmap_threshold']} bytes "
            f"and its trim threshold at {4 * meta['mmap_threshold']} "
            "(`GLIBC_TUNABLES=glibc.malloc.mmap_threshold=...:glibc.malloc.trim_threshold=...`): "
            "left dynamic, whether a 256 KiB read buffer costs an mmap/munmap per read, "
            "and whether a 100 KiB message moves the heap's top with brk, depend on the "
            "process's history and memory layout."
            if meta["mmap_threshold"] is not None
            else "glibc's malloc mmap threshold is left dynamic."
        ),
        "",
        "**Loops.** " + "; ".join(loop_version(loop, notes) for loop in loops) + ".",
        "",
        f"**Python.** {notes['python']}. **Frameworks.** aiohttp {notes['versions']['aiohttp']}, "
        f"FastAPI {notes['versions']['fastapi']}, uvicorn {notes['versions']['uvicorn']} "
        f"(HTTP parser: {'httptools' if notes['versions']['httptools'] else 'h11'}), "
        f"pydantic {notes['versions']['pydantic']}; load generator: {notes['wrk'] or 'none'}.",
        "",
        "**How to read.** A loop's cell is the median of its counted runs, with the "
        "minimum–maximum in brackets. "
        f"The *{BASE} vs X* columns are the median over rounds of the ratio between "
        f"{BASE}'s run and X's run of the same round, oriented so that **> 1 means {BASE} "
        f"is better**: X/{BASE} for time, bytes and µs/op rows (lower is better: {BASE} "
        f"faster or smaller), {BASE}/X for req/s rows (higher is better). The paired "
        "ratios are the figures to trust on a noisy machine; absolute numbers are context. "
        "† marks a loop with some failed runs (see below).",
        render_tables(rows, loops, results),
        render_server_cpu(rows, loops, results),
        "",
        "### Not available / failures",
        "",
        render_problems(rows, loops, results),
        "",
        "### What the rows do",
        "",
        "- Scheduling: `benchmarks/bench_sched.py`; each row times only its loop work.",
        "- I/O: `benchmarks/bench_io.py` runs the echo server on the loop under test; "
        "`benchmarks/io_client.py` (blocking sockets or raw epoll, no event loop) runs in "
        "another process, opens the connections, does one untimed round trip on each, then "
        "times a fixed number of round trips with every connection in flight. On a 2-core "
        "machine that client's own cost is part of every I/O figure, which compresses the "
        "ratios towards 1.",
        "- HTTP: `benchmarks/bench_http.py`; 50 warm-up requests, then wrk for a few seconds.",
        "- Scale: `benchmarks/bench_scale.py`; memory is RSS growth after a full GC divided "
        "by the count; timer op = `call_later` then `cancel` with that many timers pending.",
    ]
    if meta.get("chart"):
        lines += ["", f"![ratios]({meta['chart']})"]
    return "\n".join(lines) + "\n"


# -- chart ----------------------------------------------------------------------


RATIO_TICKS = [0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50]


def section(row: Row) -> str:
    """Rows drawn together between the chart's dashed lines (I/O: one family and style)."""
    return "_".join(row.id.split("_")[:2]) if row.group == "io" else row.group


def render_chart(
    rows: list[Row], loops: list[str], results: dict[str, dict[str, list[Run]]], path: str
) -> bool:
    """Horizontal bars of the paired ratios, a group of bars per row; False if not drawn.

    Two panels side by side: the I/O rows (there are many) on the left, the
    others on the right, with the same height per row.
    """
    others = [loop for loop in loops if loop != BASE]
    if BASE not in loops or not others or not rows:
        return False
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib import ticker
    except ImportError:
        print("-- chart skipped: matplotlib is not installed", file=sys.stderr)
        return False
    colors = {"asyncio": "#4c72b0", "uvloop": "#dd8452", "rloop": "#55a868"}
    panels = [[r for r in rows if r.group == "io"], [r for r in rows if r.group != "io"]]
    panels = [p for p in panels if p]
    slots = max(len(p) for p in panels)
    bar = 0.8 / len(others)
    fig, axes = plt.subplots(
        1,
        len(panels),
        figsize=(9 * len(panels), 1.8 + 0.17 * slots * len(others)),
        squeeze=False,
        sharex=True,
        layout="constrained",
    )
    for ax, panel in zip(axes[0], panels, strict=True):
        for k, other in enumerate(others):
            ys, xs = [], []
            for i, row in enumerate(panel):
                ratio = paired_ratio(row, results[row.id][BASE], results[row.id][other])
                if ratio is not None:
                    ys.append(i + (k - (len(others) - 1) / 2) * bar)
                    xs.append(ratio)
            ax.barh(ys, xs, height=bar, color=colors.get(other), label=f"vs {other}")
        ax.axvline(1.0, color="black", linewidth=1)
        ax.set_xscale("log")
        ax.set_yticks(range(len(panel)))
        ax.set_yticklabels([f"{r.label} [{r.unit}]" for r in panel], fontsize=7)
        ax.set_ylim(slots - 0.5, -0.5)
        for i in range(1, len(panel)):
            if section(panel[i]) != section(panel[i - 1]):
                ax.axhline(i - 0.5, color="grey", linewidth=0.5, linestyle="--")
        ax.xaxis.set_major_locator(ticker.FixedLocator(RATIO_TICKS))
        ax.xaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:g}×"))
        ax.xaxis.set_minor_formatter(ticker.NullFormatter())
        ax.grid(axis="x", which="major", alpha=0.3)
        ax.set_xlabel(f"paired median ratio; > 1: {BASE} better (faster, smaller, more req/s)")
        ax.legend(loc="lower right", fontsize=8)
    fig.suptitle(f"{BASE} vs other loops, Python {platform.python_version()}")
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


# -- main -----------------------------------------------------------------------


def check_loops(loops: list[str]) -> tuple[list[str], dict[str, str]]:
    """The loops that import, and why the others do not."""
    usable, missing = [], {}
    for loop in loops:
        # glassloop+trace is glassloop observed, glassloop-pure a build of it
        module = loop.split("+")[0].split("-")[0]
        try:
            importlib.import_module(module)
        except ImportError as exc:
            missing[loop] = f"{type(exc).__name__}: {exc}"
        else:
            usable.append(loop)
    return usable, missing


def output_dir(args: argparse.Namespace) -> str:
    if args.out:
        os.makedirs(args.out, exist_ok=True)
        return str(args.out)
    if args.smoke:
        return tempfile.mkdtemp(prefix="glassloop-bench-smoke-")
    base = os.path.join(
        HERE, "results", f"{datetime.date.today().isoformat()}-py{platform.python_version()}"
    )
    path, n = base, 1
    while os.path.exists(path):
        n += 1
        path = f"{base}-{n}"
    os.makedirs(path)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Run the benchmark rows on glassloop, asyncio, uvloop and rloop, "
        "alternating the loops run by run, and write report.md, chart.png, results.json."
    )
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="tiny sizes, one counted run, no warm-up; writes to a temp folder",
    )
    parser.add_argument(
        "--only",
        help="comma-separated groups (sched,io,http,scale) "
        "and/or row ids, shell patterns allowed (tcp_*_c100)",
    )
    parser.add_argument("--runs", type=int, help="counted runs per loop (default 5; smoke 1)")
    parser.add_argument("--warmup", type=int, help="warm-up rounds (default 1; smoke 0)")
    parser.add_argument(
        "--loops",
        default=",".join(LOOP_NAMES),
        help=f"comma-separated, in round order (default {','.join(LOOP_NAMES)})",
    )
    parser.add_argument(
        "--out",
        help="output folder (default benchmarks/results/<date>-py<ver>,"
        " or a temporary folder with --smoke)",
    )
    parser.add_argument(
        "--cpu",
        default="auto",
        help="pin each child and the client it starts to this CPU (default auto: the last "
        "usable CPU; 'none' to let them float); an HTTP row's server runs there and wrk "
        "on another CPU",
    )
    parser.add_argument(
        "--mmap-threshold",
        default="131072",
        help="pin glibc's malloc mmap threshold in the children to this many bytes, and "
        "its trim threshold to four times that (default 131072, glibc's initial value); "
        "'dynamic' leaves glibc's adjustment on",
    )
    parser.add_argument("--list", action="store_true", help="list the rows and exit")
    args = parser.parse_args(argv)

    rows = all_rows()
    if args.list:
        for row in rows:
            print(f"{row.group:6} {row.id:24} {row.unit:6} {row.label}")
        return 0
    rows = select_rows(rows, args.only)
    size = "smoke" if args.smoke else "full"
    runs = args.runs if args.runs is not None else (1 if args.smoke else 5)
    warmup = args.warmup if args.warmup is not None else (0 if args.smoke else 1)
    if runs < 1 or warmup < 0:
        parser.error("--runs must be >= 1 and --warmup >= 0")
    requested = [name.strip() for name in args.loops.split(",") if name.strip()]
    known = LOOP_NAMES + OBSERVED_LOOP_NAMES + BUILD_LOOP_NAMES
    bad = [name for name in requested if name not in known]
    if bad:
        parser.error(f"unknown loop(s) {', '.join(bad)}; choose from {', '.join(known)}")
    loops, missing_loops = check_loops(requested)
    for loop, why in missing_loops.items():
        print(f"-- loop {loop} left out: {why}", file=sys.stderr)
    if not loops:
        parser.error("no loop left to run")
    for row in rows:
        if tools := missing_tools(row):
            print(
                f"-- NOTE: {row.id} will be skipped: {', '.join(tools)} not installed "
                "(run benchmarks/setup.sh)",
                file=sys.stderr,
            )

    if args.cpu == "none":
        cpu = None
    elif args.cpu == "auto":
        cpu = max(os.sched_getaffinity(0))
    else:
        cpu = int(args.cpu)
    threshold = None if args.mmap_threshold == "dynamic" else int(args.mmap_threshold)
    setup = ChildSetup(size, cpu, child_environment(threshold))

    out = output_dir(args)
    print(
        f"-- {len(rows)} rows × {len(loops)} loops × {warmup + runs} rounds, {size} size; "
        f"writing to {out}",
        file=sys.stderr,
        flush=True,
    )
    load_start = os.getloadavg()
    started = time.perf_counter()
    results = run_suite(rows, loops, setup, warmup, runs)
    wall = time.perf_counter() - started

    meta: dict[str, Any] = {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "mode": size,
        "runs": runs,
        "warmup": warmup,
        "loops": loops,
        "loops_left_out": missing_loops,
        "only": args.only,
        "wall_seconds": wall,
        "loadavg": {"start": load_start, "end": os.getloadavg()},
        "cpu": cpu,
        "mmap_threshold": threshold,
        "machine": machine_notes(),
    }
    chart_path = os.path.join(out, "chart.png")
    if render_chart(rows, loops, results, chart_path):
        meta["chart"] = "chart.png"
    report = render_report(rows, loops, results, meta)
    with open(os.path.join(out, "report.md"), "w") as f:
        f.write(report)
    raw = {
        "meta": meta,
        "rows": [
            {
                "id": row.id,
                "group": row.group,
                "label": row.label,
                "unit": row.unit,
                "lower_is_better": row.lower_is_better,
                "runs": {loop: [vars(r) for r in results[row.id][loop]] for loop in loops},
            }
            for row in rows
        ],
    }
    with open(os.path.join(out, "results.json"), "w") as f:
        json.dump(raw, f, indent=1)
        f.write("\n")

    print(report)
    print(
        f"-- wrote {out}/report.md, results.json"
        + (", chart.png" if "chart" in meta else "")
        + f" in {wall:.0f} s",
        file=sys.stderr,
    )
    # A row failing on asyncio, the reference, means the suite is broken; on
    # glassloop, that the loop is.  uvloop's and rloop's gaps are only reported.
    status = 0
    for loop, meaning in (("asyncio", "the benchmark is broken"), (BASE, "a glassloop bug")):
        failed = [r.id for r in rows if loop in loops and any(x.error for x in results[r.id][loop])]
        if failed:
            print(f"-- FAIL: {loop} failed row(s) {', '.join(failed)} ({meaning})", file=sys.stderr)
            status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())
