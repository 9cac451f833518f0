"""In the user's process: run each module in a child process and survive whatever it does.

A child streams its events to a file, so whatever it reported before dying is kept.  When
a child dies before ``done`` (a segfault, the watchdog's hard timeout, ``os._exit`` in
the loop under test), the test it had started is recorded as ``crashed`` (or ``timeout``)
with the tail of the child's stderr (faulthandler's stack dump lands there), and the module
is *resumed* in a fresh child that skips everything already reported.  Only when the
module's overall time budget or the restart limit runs out are the tests never run
recorded as ``lost``; they count as failures so a dying module can't look healthy.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .outcomes import CaseResult, read_events
from .specs import ModuleSpec

CONFORMANCE_DIR = Path(__file__).resolve().parent.parent
RUN_SCRIPT = CONFORMANCE_DIR / "run.py"
REPO_SRC = CONFORMANCE_DIR.parent.parent / "src"

#: How much of a dead child's stderr goes into the report.
STDERR_TAIL_LINES = 40


@dataclass
class RunOptions:
    """What every child of one harness run shares."""

    target: str = "glassloop"
    exclusions: Path | None = None
    keywords: list[str] = field(default_factory=list)
    include: set[str] = field(default_factory=set)
    test_timeout: float = 60.0
    grace: float = 5.0
    module_timeout: float = 900.0
    max_restarts: int = 5
    add_src: bool = True
    compat: bool = True
    collect_only: bool = False
    python: str = sys.executable


@dataclass
class ModuleRun:
    """Everything known about one module after its child(ren) finished."""

    name: str
    results: dict[str, CaseResult] = field(default_factory=dict)
    planned: list[str] = field(default_factory=list)
    excluded: list[dict[str, str]] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)
    fatal: str | None = None
    crashes: list[str] = field(default_factory=list)
    restarts: int = 0
    duration: float = 0.0


EventCallback = Callable[[str, dict[str, Any]], None]


def child_env(options: RunOptions) -> dict[str, str]:
    """The child's environment: the user's, plus the repo's ``src`` at the end of the path.

    Appending (not prepending) keeps a stand-in given on ``PYTHONPATH`` in charge, while a
    bare ``python tests/conformance/run.py`` finds the checkout's glassloop.
    """
    env = dict(os.environ)
    paths = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    if options.add_src and REPO_SRC.is_dir() and str(REPO_SRC) not in paths:
        paths.append(str(REPO_SRC))
    env["PYTHONPATH"] = os.pathsep.join(paths)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def child_command(
    spec: ModuleSpec, options: RunOptions, results: Path, skip_file: Path, include_file: Path | None
) -> list[str]:
    """The command line of one child process."""
    command = [
        options.python,
        "-X",
        "faulthandler",
        str(RUN_SCRIPT),
        "--child",
        "--spec",
        spec.to_json(),
        "--target",
        options.target,
        "--results",
        str(results),
        "--skip-file",
        str(skip_file),
        "--timeout",
        str(options.test_timeout),
        "--grace",
        str(options.grace),
    ]
    if options.exclusions is not None:
        command += ["--exclusions", str(options.exclusions)]
    for keyword in options.keywords:
        command += ["-k", keyword]
    if include_file is not None:
        command += ["--include-file", str(include_file)]
    if not options.compat:
        command.append("--no-compat")
    if options.collect_only:
        command.append("--collect-only")
    return command


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    """Kill the child's process group: it and anything its tests spawned and leaked."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _stop(process: subprocess.Popen[bytes]) -> None:
    """Ask for a stack dump (faulthandler handles SIGABRT), then kill."""
    try:
        process.send_signal(signal.SIGABRT)
        process.wait(timeout=3)
    except subprocess.TimeoutExpired:
        pass
    _kill_group(process)
    process.wait()


def _read(path: Path) -> str:
    return path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""


_DUMP_START = re.compile(r"^(Fatal Python error|Timeout \(\d)")
_THREAD_HEADER = re.compile(r"^(Current thread|Thread) 0x[0-9a-f]+ \(most recent call first\):")


def crash_summary(stderr_text: str, lines: int = STDERR_TAIL_LINES) -> str:
    """The useful part of a dead child's stderr, ordered like a Python traceback.

    faulthandler prints each thread innermost frame *first*; the report shows the *last*
    lines of a failure's detail.  So the main thread's stack (the "Current thread", or the
    one that bottoms out in ``<module>``) is moved to the end and reversed, other threads
    come before it, and the harness's own watchdog thread is left out.  Without a
    faulthandler dump, the tail of stderr is all there is.
    """
    text_lines = stderr_text.rstrip().splitlines()
    starts = [i for i, line in enumerate(text_lines) if _DUMP_START.match(line)]
    if not starts:
        return "\n".join(text_lines[-lines:])
    dump = text_lines[starts[-1] :]
    title = dump[0]
    threads: list[tuple[str, list[str]]] = []
    for line in dump[1:]:
        if _THREAD_HEADER.match(line):
            threads.append((line, []))
        elif line.startswith("  File ") and threads:
            threads[-1][1].append(line)

    def is_main(header: str, frames: list[str]) -> bool:
        return header.startswith("Current thread") or bool(
            frames and frames[-1].endswith(" in <module>")
        )

    main = [t for t in threads if is_main(*t)]
    others = [
        t
        for t in threads
        if not is_main(*t) and not any("glconformance/watchdog.py" in f for f in t[1])
    ]
    out = [title]
    for header, frames in others:
        out += ["", header, *frames]
    for header, frames in main:
        name = header.split(" (", 1)[0]
        out += ["", f"{name}, the main thread (most recent call last):", *reversed(frames)]
    return "\n".join(out)


def _describe_exit(returncode: int) -> str:
    if returncode < 0:
        try:
            return f"was killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"was killed by signal {-returncode}"
    return f"exited with status {returncode}"


def run_module(
    spec: ModuleSpec, options: RunOptions, on_event: EventCallback | None = None
) -> ModuleRun:
    """Run one module to the end, restarting its child after crashes (see module docstring)."""
    run = ModuleRun(spec.name)
    started = time.monotonic()
    deadline = started + options.module_timeout
    with tempfile.TemporaryDirectory(prefix=f"conformance-{spec.name}-") as tmp:
        workdir = Path(tmp)
        include_file = None
        if options.include:
            include_file = workdir / "include.txt"
            include_file.write_text("\n".join(sorted(options.include)), encoding="utf-8")
        attempt = 0
        while True:
            outcome = _run_child(
                spec, options, workdir, attempt, run, deadline, include_file, on_event
            )
            if outcome != "crashed":
                break
            if time.monotonic() >= deadline or attempt >= options.max_restarts:
                break
            attempt += 1
            run.restarts = attempt
    for test_id in [] if options.collect_only else run.planned:
        if test_id not in run.results:
            run.results[test_id] = CaseResult(
                id=test_id,
                status="lost",
                counted=True,
                detail="not run: the module's child process died and was not resumed "
                "(restart limit or module timeout); see the crash notes",
            )
    run.duration = time.monotonic() - started
    return run


def _run_child(
    spec: ModuleSpec,
    options: RunOptions,
    workdir: Path,
    attempt: int,
    run: ModuleRun,
    deadline: float,
    include_file: Path | None,
    on_event: EventCallback | None,
) -> str:
    """One child process; returns "done", "fatal", "crashed" or "stuck" (no progress)."""
    results_path = workdir / f"events-{attempt}.jsonl"
    stderr_path = workdir / f"stderr-{attempt}.txt"
    skip_file = workdir / f"skip-{attempt}.txt"
    skip_file.write_text("\n".join(run.results), encoding="utf-8")
    reported_before = len(run.results)
    command = child_command(spec, options, results_path, skip_file, include_file)
    timed_out = False
    with stderr_path.open("wb") as stderr:
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=stderr,
            stderr=subprocess.STDOUT,
            env=child_env(options),
            start_new_session=True,
        )
        seen = 0
        try:
            while process.poll() is None:
                if on_event is not None:
                    seen = _replay(results_path, seen, spec.name, on_event)
                if time.monotonic() >= deadline:
                    timed_out = True
                    _stop(process)
                    break
                time.sleep(0.1)
        finally:
            # Also on Ctrl-C: the child is in its own session and would not get the SIGINT.
            _kill_group(process)
            process.wait()
    if on_event is not None:
        _replay(results_path, seen, spec.name, on_event)

    started: str | None = None
    finished = False
    for event in read_events(results_path):
        kind = event.pop("event")
        if kind == "fatal":
            run.fatal = f"{event['message']}\n{event['traceback']}".rstrip()
            return "fatal"
        if kind == "plan":
            if not run.info:
                run.info = event
                run.planned = list(event["tests"])
                run.excluded = list(event["excluded"])
        elif kind == "start":
            started = event["id"]
        elif kind == "result":
            result = CaseResult.from_dict(event)
            run.results[result.id] = result
            if result.id == started:
                started = None
        elif kind == "done":
            finished = True
    if finished and not timed_out:
        return "done"

    tail = crash_summary(_read(stderr_path))
    why = (
        f"hit the module timeout ({options.module_timeout:g}s)"
        if timed_out
        else _describe_exit(process.returncode)
    )
    if not run.info:
        run.fatal = f"child died before reporting its plan ({why})\n{tail}".rstrip()
        return "fatal"
    hard_timeout = timed_out or tail.startswith("Timeout (")
    if hard_timeout and not timed_out:
        why = "was stopped by the hard per-test timeout (faulthandler)"
    if started is not None:
        run.results[started] = CaseResult(
            id=started,
            status="timeout" if hard_timeout else "crashed",
            counted=True,
            detail=f"child process {why} while this test ran:\n{tail}",
        )
    where = started or "between tests (a class or module fixture)"
    run.crashes.append(f"attempt {attempt + 1}: child {why} during {where}")
    if len(run.results) == reported_before:
        run.crashes.append("no progress since the last restart: not resuming")
        return "stuck"
    return "crashed"


def _replay(path: Path, offset: int, module: str, on_event: EventCallback) -> int:
    """Feed event lines written since byte ``offset`` to ``on_event``; return the new offset."""
    if not path.exists():
        return offset
    with path.open("rb") as handle:
        handle.seek(offset)
        data = handle.read()
    end = data.rfind(b"\n") + 1
    for line in data[:end].splitlines():
        try:
            on_event(module, json.loads(line))
        except json.JSONDecodeError:
            continue
    return offset + end
