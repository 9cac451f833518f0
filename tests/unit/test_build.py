"""glassloop.build names the build that runs, and GLASSLOOP_PURE=1 picks the pure one.

These run on whichever build is installed: on the compiled build the
GLASSLOOP_PURE test is the one that proves the switch (the .so files are
there and must be passed over), on the pure build it checks it changes
nothing.  CI's compiled step also asserts ``glassloop.build.NAME ==
"compiled"`` before it runs the suite (scripts/test.sh).
"""

from __future__ import annotations

import os
import subprocess
import sys
from importlib.machinery import EXTENSION_SUFFIXES
from pathlib import Path

import pytest

import glassloop
import glassloop.build
from glassloop import cli
from glassloop.kernel import scheduler, tape, task
from glassloop.observe import recorder

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def _in_child(code: str, **env: str) -> str:
    environ = {k: v for k, v in os.environ.items() if k != "GLASSLOOP_PURE"}
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={**environ, **env},
        check=True,
        timeout=60,
    )
    return out.stdout.strip()


def test_name_says_what_the_kernel_modules_are() -> None:
    compiled = [
        m.__file__ is not None and m.__file__.endswith(tuple(EXTENSION_SUFFIXES))
        for m in (scheduler, task, tape, recorder)
    ]
    expected = "compiled" if all(compiled) else "mixed" if any(compiled) else "pure"
    assert glassloop.build.NAME == expected
    assert glassloop.build.NAME != "mixed"  # a partial build is never installed
    form = "C" if glassloop.build.NAME == "compiled" else "py"
    assert glassloop.build.describe() == (
        f"{expected} (scheduler={form}, task={form}, tape={form}, poller={form}, "
        f"stream={form}, datagram={form}, recorder={form})"
    )


def test_glassloop_pure_imports_the_source_files() -> None:
    code = (
        "import glassloop, glassloop.build as b\n"
        "from glassloop.kernel import scheduler, task\n"
        "print(b.NAME, scheduler.__file__, task.__file__)\n"
        "print(glassloop.run(__import__('asyncio').sleep(0, result='ran')))\n"
    )
    first, second = _in_child(code, GLASSLOOP_PURE="1").splitlines()
    name, scheduler_file, task_file = first.split()
    assert name == "pure"
    assert scheduler_file.endswith(os.path.join("kernel", "scheduler.py"))
    assert task_file.endswith(os.path.join("kernel", "task.py"))
    assert second == "ran"
    # Without it, the installed build: the same as this process's.
    assert _in_child("import glassloop.build as b; print(b.NAME)") == glassloop.build.NAME


def test_version_names_the_build(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.main(["--version"])
    out = capsys.readouterr().out
    assert out.strip() == f"glassloop {cli.version()}, build: {glassloop.build.describe()}"


def test_benchmark_children_get_their_build_environment() -> None:
    sys.path.insert(0, str(BENCHMARKS))
    try:
        from _common import BUILD_LOOP_NAMES, loop_environment
    finally:
        sys.path.remove(str(BENCHMARKS))
    assert BUILD_LOOP_NAMES == ("glassloop-pure", "glassloop-compiled")
    base = {"PATH": "/bin", "GLASSLOOP_PURE": "1"}
    assert loop_environment("glassloop-pure", {"PATH": "/bin"}) == base
    # Any other loop runs what is installed, whatever the orchestrator had.
    for name in ("glassloop", "glassloop-compiled", "uvloop"):
        assert loop_environment(name, base) == {"PATH": "/bin"}
    assert base["GLASSLOOP_PURE"] == "1"  # the caller's dict is left alone
