"""`glassloop run --trace`, `--detect-blocking` and GLASSLOOP_TRACE, in real processes.

Each case starts a fresh interpreter (the options observe every loop of a
process, and must write the trace when that process ends, however it ends).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

from trace_checks import check_trace, slices_on, track_of

SRC = Path(__file__).resolve().parents[2] / "src"

PROGRAM = textwrap.dedent(
    """
    import asyncio, os, sys, time

    async def worker():
        await asyncio.sleep(0.01)
        return 7

    async def main():
        assert type(asyncio.get_running_loop()).__module__.startswith("glassloop")
        if "chdir" in sys.argv:
            os.makedirs("elsewhere", exist_ok=True)
            os.chdir("elsewhere")
        assert await asyncio.create_task(worker(), name="worker") == 7
        if "block" in sys.argv:
            time.sleep(0.3)  # the blocking line
        if "fail" in sys.argv:
            raise RuntimeError("the program fails")
        if "forever" in sys.argv:
            print("ready", flush=True)
            await asyncio.sleep(60)

    asyncio.run(main())
    """
)


def start(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    script = tmp_path / "program.py"
    script.write_text(PROGRAM)
    environment = dict(os.environ)
    environment["PYTHONPATH"] = str(SRC)
    environment.update(env or {})
    return subprocess.Popen(
        [sys.executable, "-m", "glassloop", "run", *args],
        cwd=tmp_path,
        env=environment,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # Ctrl-C as a terminal delivers it: a test runner started in the
        # background by a shell without job control ignores SIGINT, the child
        # would inherit that, and Python keeps an ignored SIGINT ignored.
        preexec_fn=_default_sigint,
    )


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def finish(process: subprocess.Popen[str]) -> tuple[int, str, str]:
    out, err = process.communicate(timeout=60)
    return process.returncode, out, err


def trace_events(path: Path) -> list[dict[str, Any]]:
    events = check_trace(json.loads(path.read_text()))
    worker = slices_on(events, track_of(events, "worker"))
    assert len(worker) == 2  # started, woken by its sleep's timer
    return events


def test_run_with_trace_writes_a_trace_of_the_program(tmp_path: Path) -> None:
    status, _, err = finish(start(tmp_path, "--trace", "out.json", "program.py"))
    assert status == 0, err
    trace_events(tmp_path / "out.json")
    assert "trace of" in err and "out.json" in err


def test_the_trace_is_written_when_the_program_fails(tmp_path: Path) -> None:
    status, _, err = finish(start(tmp_path, "--trace", "out.json", "program.py", "fail"))
    assert status == 1
    assert "RuntimeError: the program fails" in err
    trace_events(tmp_path / "out.json")


def test_the_trace_is_written_on_ctrl_c(tmp_path: Path) -> None:
    process = start(tmp_path, "--trace", "out.json", "program.py", "forever")
    assert process.stdout is not None
    assert process.stdout.readline() == "ready\n"
    process.send_signal(signal.SIGINT)
    status, _, err = finish(process)
    assert status != 0
    assert "KeyboardInterrupt" in err
    trace_events(tmp_path / "out.json")


def test_detect_blocking_reports_the_blocking_line_and_puts_it_on_the_timeline(
    tmp_path: Path,
) -> None:
    process = start(
        tmp_path, "--trace", "out.json", "--detect-blocking", "0.05", "program.py", "block"
    )
    status, _, err = finish(process)
    assert status == 0, err
    assert "has blocked the loop for" in err
    assert "time.sleep(0.3)  # the blocking line" in err
    assert "the loop was blocked for" in err
    events = check_trace(json.loads((tmp_path / "out.json").read_text()))
    blocks = slices_on(events, track_of(events, "blocked loop"))
    assert len(blocks) == 1 and blocks[0]["args"]["at"].endswith("in main")


def test_the_environment_variable_traces_a_program_run_without_options(tmp_path: Path) -> None:
    status, _, err = finish(
        start(tmp_path, "program.py", env={"GLASSLOOP_TRACE": str(tmp_path / "env-%p.json")})
    )
    assert status == 0, err
    (written,) = tmp_path.glob("env-*.json")
    assert written.name != "env-%p.json"
    trace_events(written)


def test_no_option_and_no_variable_writes_no_trace(tmp_path: Path) -> None:
    env = {"GLASSLOOP_TRACE": "", "GLASSLOOP_DETECT_BLOCKING": ""}
    status, _, err = finish(start(tmp_path, "program.py", env=env))
    assert status == 0, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["program.py"]
    assert "trace" not in err


def test_a_relative_trace_path_is_where_the_program_started(tmp_path: Path) -> None:
    status, _, err = finish(
        start(tmp_path, "program.py", "chdir", env={"GLASSLOOP_TRACE": "relative.json"})
    )
    assert status == 0, err
    trace_events(tmp_path / "relative.json")
    assert not (tmp_path / "elsewhere" / "relative.json").exists()
