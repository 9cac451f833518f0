"""``glassloop ps PID`` against a real child process run with ``--inspect``."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from glassloop import cli
from glassloop.observe.inspect import ask, socket_path

SRC = Path(__file__).resolve().parents[2] / "src"

PROGRAM = textwrap.dedent(
    """
    import asyncio, sys, time

    async def holder(lock):
        async with lock:
            await asyncio.sleep(60)

    async def waiter(lock):
        async with lock:
            pass

    async def main():
        lock = asyncio.Lock()
        async with asyncio.TaskGroup() as tg:
            tg.create_task(holder(lock), name="holder")
            tg.create_task(waiter(lock), name="waiter")
            await asyncio.sleep(0.05)
            if "block" in sys.argv:
                print("ready", flush=True)
                time.sleep(60)  # the loop is blocked from here on
            # Said once main waits in the TaskGroup's __aexit__ (a callback
            # runs after the step that queued it): a snapshot taken from then
            # on finds every task suspended, however loaded the machine.
            asyncio.get_running_loop().call_soon(lambda: print("ready", flush=True))

    asyncio.run(main())
    """
)


@pytest.fixture
def child(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[subprocess.Popen[str]]:
    script = tmp_path / "program.py"
    script.write_text(PROGRAM)
    env = dict(os.environ, PYTHONPATH=str(SRC))
    args: list[str] = getattr(request, "param", [])
    process = subprocess.Popen(
        [sys.executable, "-m", "glassloop", "run", "--inspect", str(script), *args],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        assert process.stdout.readline() == "ready\n"
        yield process
    finally:
        process.kill()
        process.communicate(timeout=30)


def test_ps_prints_the_task_tree_of_a_running_child(
    child: subprocess.Popen[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["ps", str(child.pid)]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"process {child.pid}\nloop 1 (running)\n")
    assert "Task 'holder' waits on sleep, " in out
    assert "Task 'waiter' waits on Lock.acquire" in out
    assert "waits on TaskGroup.__aexit__" in out  # main, above the two
    assert out.index("TaskGroup.__aexit__") < out.index("Task 'holder'")


@pytest.mark.parametrize("child", [["block"]], indirect=True)
def test_ps_answers_while_the_childs_loop_is_blocked(child: subprocess.Popen[str]) -> None:
    out = ask(child.pid)
    assert "nothing: running now" in out  # main, stuck in time.sleep
    assert "Task 'holder' waits on sleep" in out


def test_ps_of_a_process_that_did_not_allow_it_says_how(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert cli.main(["ps", str(os.getpid())]) == 1
    err = capsys.readouterr().err
    assert "does not allow inspection" in err and "--inspect" in err


def test_only_the_word_tree_is_answered(child: subprocess.Popen[str]) -> None:
    assert ask(child.pid, "__import__('os').system('true')") == (
        "error: the only request is 'tree'\n"
    )
    assert ask(child.pid).startswith(f"process {child.pid}")
    mode = os.stat(os.path.dirname(socket_path(child.pid))).st_mode & 0o777
    assert mode == 0o700
