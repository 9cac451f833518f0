"""The ``@pytest.mark.glassloop`` marker (testing/pytest_plugin.py), as a user's suite meets it.

A test file is written and run by pytest in a fresh interpreter with the
plugin loaded, as installing glassloop would load it; what each of its tests
did (passed, failed, and why) is read from pytest's summary.  anyio's plugin
is loaded too, to show the two keep to their own tests.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from importlib.metadata import entry_points
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"

SUITE = """
import asyncio
import time

import pytest

import glassloop


@pytest.mark.glassloop
async def test_plain():
    assert type(asyncio.get_running_loop()) is glassloop.Loop
    assert asyncio.get_running_loop().time() > 0  # the real clock


@pytest.mark.glassloop(virtual_time=True)
async def test_virtual(tmp_path):
    started = time.monotonic()
    await asyncio.sleep(3600)
    assert asyncio.get_running_loop().time() == 3600.0
    assert time.monotonic() - started < 5
    assert tmp_path.exists()  # fixtures are the usual ones


@pytest.mark.glassloop(virtual_time=True, autojump_threshold=0.01)
@pytest.mark.parametrize("n", [1, 2])
async def test_threshold_clock_per_run(n):
    loop = asyncio.get_running_loop()
    assert loop.clock.autojump_threshold == 0.01
    await asyncio.sleep(n)
    assert loop.time() == n


@pytest.mark.glassloop(virtual_time=True)
async def test_times_out_at_the_virtual_deadline():
    async with asyncio.timeout(5):
        await asyncio.sleep(3600)


@pytest.mark.glassloop(virtual_tme=True)
async def test_unknown_option():
    pass


@pytest.mark.glassloop("virtual")
async def test_positional_option():
    pass


@pytest.mark.glassloop
def test_not_async():
    pass


@pytest.fixture
def anyio_backend():
    return "asyncio"


@pytest.mark.anyio
async def test_anyio_keeps_its_own(anyio_backend):
    assert type(asyncio.get_running_loop()) is not glassloop.Loop
"""


def _registered_by_installation() -> bool:
    """Is glassloop installed with its pytest11 entry point? Then -p would load it twice."""
    return any(ep.name == "glassloop" for ep in entry_points(group="pytest11"))


def test_the_marker_runs_async_tests_on_glassloop_and_refuses_what_it_cannot(
    tmp_path: Path,
) -> None:
    (tmp_path / "test_suite.py").write_text(textwrap.dedent(SUITE))
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SRC), env.get("PYTHONPATH")]))
    plugins = ["-p", "anyio", "-p", "no:cacheprovider"]
    if not _registered_by_installation():
        plugins += ["-p", "glassloop.testing.pytest_plugin"]
    done = subprocess.run(
        [sys.executable, "-m", "pytest", *plugins, "-rA", "-q", "test_suite.py"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
    )
    outcomes = {}
    for line in done.stdout.splitlines():
        word, _, rest = line.partition(" ")
        if word in ("PASSED", "FAILED", "ERROR"):
            outcomes[rest.split(" - ")[0].split("::")[1]] = (word, rest)
    assert {name: word for name, (word, _) in outcomes.items()} == {
        "test_plain": "PASSED",
        "test_virtual": "PASSED",
        "test_threshold_clock_per_run[1]": "PASSED",
        "test_threshold_clock_per_run[2]": "PASSED",
        "test_times_out_at_the_virtual_deadline": "FAILED",
        "test_unknown_option": "FAILED",
        "test_positional_option": "FAILED",
        "test_not_async": "FAILED",
        "test_anyio_keeps_its_own": "PASSED",
    }, done.stdout + done.stderr
    assert "TimeoutError" in outcomes["test_times_out_at_the_virtual_deadline"][1]
    assert "unknown option(s) virtual_tme" in done.stdout
    assert "keyword arguments only" in done.stdout
    assert "runs async def tests; test_not_async is not" in done.stdout


def test_glassloop_imported_before_pytest_starts_is_no_warning(tmp_path: Path) -> None:
    """``glassloop run -m pytest`` or a sitecustomize import glassloop first.

    With the plugin registered by installation, pytest then warned that the
    package could not be rewritten, and a suite with ``-W error`` (anyio's,
    uvicorn's) could not even start.
    """
    if not _registered_by_installation():
        import pytest

        pytest.skip("glassloop is not installed with its pytest11 entry point here")
    # The test checks what makes this case: glassloop was already imported.
    (tmp_path / "test_one.py").write_text(
        "import sys\n\ndef test_one():\n    assert 'glassloop' in sys.modules\n"
    )
    done = subprocess.run(
        [
            sys.executable,
            "-W",
            "error",
            "-c",
            "import glassloop, sys, pytest; "
            # pytest-asyncio (in the test extra) warns at start-up about its own
            # configuration: not this test's business.
            "sys.exit(pytest.main(['-q', '-p', 'no:cacheprovider', '-p', 'no:asyncio', "
            "'-W', 'error', 'test_one.py']))",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 passed" in done.stdout
