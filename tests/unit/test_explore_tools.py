"""Exploration as users drive it: ``glassloop explore`` / ``replay`` and the pytest plugin.

The command line runs in a fresh interpreter, as a user types it; the plugin
runs in pytest's own ``pytester`` (in a subprocess, with the plugin loaded as
installing glassloop loads it), and each test's outcome is read from pytest's
summary.  A failing exploration must print a replay line, and that line must
reproduce the failure.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from importlib.metadata import entry_points
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"

pytest_plugins = ["pytester"]

PROGRAM = '''
import asyncio


async def timeout_race():
    """A reply sent at once, awaited with a timeout: it can still arrive late."""

    async def serve(reader, writer):
        await reader.readline()
        writer.write(b"pong\\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"ping\\n")
    try:
        reply = await asyncio.wait_for(reader.readline(), 2.0)
    except TimeoutError:
        reply = None
    finally:
        writer.close()
        server.close()
        await server.wait_closed()
    assert reply == b"pong\\n", "the reply lost to the timeout"


async def fine():
    await asyncio.sleep(1)


def not_async():
    pass
'''


def glassloop_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SRC), env.get("PYTHONPATH")]))
    return subprocess.run(
        [sys.executable, "-m", "glassloop", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
    )


def test_explore_exits_1_with_a_replay_line_that_reproduces_the_failure(tmp_path: Path) -> None:
    (tmp_path / "prog.py").write_text(PROGRAM)
    trace = tmp_path / "fail.json"
    done = glassloop_cli(
        "explore", "prog.py::timeout_race", "--runs", "300", "--trace", str(trace), cwd=tmp_path
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "the reply lost to the timeout" in done.stdout
    assert "the choices that made the difference" in done.stdout
    match = re.search(r"^glassloop replay (v1-\S+) prog.py::timeout_race$", done.stdout, re.M)
    assert match, done.stdout
    assert trace.exists() and '"traceEvents"' in trace.read_text()
    again = glassloop_cli("replay", match.group(1), "prog.py::timeout_race", cwd=tmp_path)
    assert again.returncode == 1, again.stdout + again.stderr
    assert "AssertionError: the reply lost to the timeout" in again.stderr


def test_explore_exits_0_when_no_schedule_fails(tmp_path: Path) -> None:
    (tmp_path / "prog.py").write_text(PROGRAM)
    done = glassloop_cli(
        "explore", "prog.py::fine", "--runs", "20", "--strategy", "random", cwd=tmp_path
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "no failure in 20 schedule(s) (random, seed 0)" in done.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("explore", "prog.py"), "TARGET must be FILE::FUNC"),
        (("explore", "missing.py::f"), "no such file"),
        (("explore", "prog.py::nothing"), "has no 'nothing'"),
        (("explore", "prog.py::not_async"), "is not an async function"),
        (("explore", "prog.py::fine", "--runs", "0"), "must be more than 0"),
        (("replay", "not-a-token", "prog.py::fine"), "not a glassloop replay token"),
    ],
)
def test_bad_command_lines_are_usage_errors(
    tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    (tmp_path / "prog.py").write_text(PROGRAM)
    done = glassloop_cli(*args, cwd=tmp_path)
    assert done.returncode == 2, done.stdout + done.stderr
    assert message in done.stderr


SUITE = """
import asyncio

import pytest

from prog import timeout_race


@pytest.mark.glassloop(explore=300)
async def test_racy():
    await timeout_race()


@pytest.mark.glassloop(explore=30, seed=4)
async def test_fine():
    await asyncio.sleep(1)


@pytest.mark.glassloop
async def test_plain_marker():
    await timeout_race()


@pytest.mark.asyncio
async def test_pytest_asyncio_keeps_its_own():
    # pytest-asyncio's loop, not glassloop's, and not explored.
    assert not type(asyncio.get_running_loop()).__module__.startswith("glassloop")


@pytest.mark.anyio
async def test_anyio_keeps_its_own():
    assert not type(asyncio.get_running_loop()).__module__.startswith("glassloop")


@pytest.fixture
def anyio_backend():
    return "asyncio"
"""


def _plugin_args() -> list[str]:
    registered = any(ep.name == "glassloop" for ep in entry_points(group="pytest11"))
    args = ["-p", "no:cacheprovider"]
    return args if registered else [*args, "-p", "glassloop.testing.pytest_plugin"]


def test_the_marker_explores_and_its_replay_option_reproduces(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join(filter(None, [str(SRC), os.environ.get("PYTHONPATH")]))
    )
    pytester.makepyfile(prog=textwrap.dedent(PROGRAM), test_suite=textwrap.dedent(SUITE))
    # pytest-asyncio (installed with glassloop's test extra) and anyio's plugin
    # are loaded too: each keeps the tests that carry its marker.
    result = pytester.runpytest_subprocess(*_plugin_args(), "-p", "anyio", "-rA")
    result.assert_outcomes(passed=4, failed=1)
    output = result.stdout.str()
    assert "PASSED test_suite.py::test_pytest_asyncio_keeps_its_own" in output
    assert "PASSED test_suite.py::test_anyio_keeps_its_own" in output
    assert "FAILED test_suite.py::test_racy" in output
    match = re.search(
        r"replay: pytest 'test_suite.py::test_racy' --glassloop-replay (v1-\S+)", output
    )
    assert match, output

    again = pytester.runpytest_subprocess(
        *_plugin_args(), "-rA", "test_suite.py::test_racy", "--glassloop-replay", match.group(1)
    )
    again.assert_outcomes(failed=1)
    assert "the reply lost to the timeout" in again.stdout.str()

    # From the command line, every test with the marker is explored.
    everywhere = pytester.runpytest_subprocess(
        *_plugin_args(),
        "-rA",
        "--glassloop-explore",
        "300",
        "--glassloop-seed",
        "0",
        "test_suite.py::test_plain_marker",
    )
    everywhere.assert_outcomes(failed=1)
    assert "--glassloop-replay v1-" in everywhere.stdout.str()
