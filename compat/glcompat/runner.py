"""Running one suite on one loop: the pytest command, its environment, its time limit.

The suite runs with its own configuration (its ini file, conftest and plugins), from its
unpacked sdist, with the harness adding only: ``-p glcompat_plugin`` (results and proof),
``-p no:cacheprovider``, a per-test timeout, and ``-n`` when ``--jobs`` asks.  The run is
its own process group, so the overall timeout kills it with every child it started.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

from .results import LoopRun, read_counts, read_results
from .suites import Suite

BOOT = Path(__file__).resolve().parent.parent / "boot"


def pytest_command(
    suite: Suite, venv: Path, *, jobs: int, keyword: str | None, extra: list[str]
) -> list[str]:
    """The pytest command line for ``suite`` (run from the unpacked sdist)."""
    # The console script, not `python -m pytest`: -m would put the sdist folder first on
    # sys.path, and the tests would import the framework's source tree, not the installed one.
    cmd = [str(venv / "bin" / "pytest"), "-p", "glcompat_plugin", "-p", "no:cacheprovider"]
    if suite.addopts is not None:
        cmd += ["-o", f"addopts={suite.addopts}"]
    if suite.timeout is not None:
        cmd += [f"--timeout={suite.timeout}"]
    cmd += ["-n", str(jobs)] if jobs > 1 else ["-p", "no:xdist"]
    if keyword:
        cmd += ["-k", keyword]
    return [*cmd, *extra, *suite.args]


def run_suite(
    suite: Suite,
    loop: str,
    *,
    venv: Path,
    tree: Path,
    glassloop: Path,
    workdir: Path,
    jobs: int = 1,
    keyword: str | None = None,
    extra: list[str] | None = None,
    run_timeout: int | None = None,
    nice: int = 10,
    exclude: list[str] | None = None,
) -> LoopRun:
    """Run ``suite`` on ``loop`` ("glassloop" or "asyncio"); results land in ``workdir``.

    ``exclude``: regexes over ``SUITE::NODEID`` of tests the plugin deselects (and records).
    """
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    results, counts, log = workdir / "results.jsonl", workdir / "counts", workdir / "pytest.log"
    exclude_file = workdir / "exclude.json"
    exclude_file.write_text(json.dumps({"suite": suite.name, "patterns": exclude or []}))
    env = dict(os.environ)
    env.update(
        PYTHONPATH=os.pathsep.join(p for p in (str(BOOT), env.get("PYTHONPATH", "")) if p),
        GLCOMPAT_LOOP=loop,
        GLCOMPAT_RESULTS=str(results),
        GLCOMPAT_COUNTS=str(counts),
        GLCOMPAT_EXCLUDE=str(exclude_file),
        GLCOMPAT_REPO=str(Path(__file__).resolve().parents[2]),
        PYTHONDONTWRITEBYTECODE="1",
    )
    env.pop("PYTHONASYNCIODEBUG", None)
    cmd = pytest_command(suite, venv, jobs=jobs, keyword=keyword, extra=extra or [])
    if nice:
        cmd = ["nice", "-n", str(nice), *cmd]
    limit = run_timeout or suite.run_timeout
    start = time.monotonic()
    timed_out = False
    with log.open("w") as out:
        out.write(f"$ {' '.join(cmd)}\n")
        out.flush()
        proc = subprocess.Popen(
            cmd, cwd=tree, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            code: int | None = proc.wait(timeout=limit)
        except subprocess.TimeoutExpired:
            timed_out = True
            _kill_group(proc)
            code = None
    meta = {"seconds": time.monotonic() - start, "exit_code": code, "timed_out": timed_out}
    (workdir / "run.json").write_text(json.dumps(meta))
    loaded = load_run(suite, loop, workdir)
    assert loaded is not None
    return loaded


def load_run(suite: Suite, loop: str, workdir: Path) -> LoopRun | None:
    """A finished run's outcome from its folder (None if it never finished), for --no-run."""
    try:
        meta = json.loads((workdir / "run.json").read_text())
    except (OSError, ValueError):
        return None
    run = LoopRun(suite=suite.name, loop=loop, seconds=float(meta["seconds"]))
    run.exit_code, run.timed_out = meta["exit_code"], bool(meta["timed_out"])
    run.tests = read_results(workdir / "results.jsonl")
    run.loop_counts, run.processes = read_counts(workdir / "counts")
    text = (workdir / "pytest.log").read_text(errors="replace")
    run.output_tail = "\n".join(text.splitlines()[-40:])
    return run


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    """End the run's process group: SIGTERM, then SIGKILL if it lingers."""
    for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 10)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue
