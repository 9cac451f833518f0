"""test_signals.py must pass however the test command was started.

``bash scripts/test.sh > log 2>&1 &`` from a script, cron or a CI runner starts
pytest with SIGINT ignored (a non-interactive shell sets SIG_IGN for background
jobs, and Python keeps an inherited SIG_IGN instead of installing
``default_int_handler``).  This runs test_signals.py in a child started that
way.  It lives in its own file so that the child, which runs test_signals.py
only, does not run it again.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parent
REPO = HERE.parent.parent

#: Ignore SIGINT, then become the given Python command: exec keeps SIG_IGN (it
#: resets only caught signals), as the shell's background job would have it.
WITH_SIGINT_IGNORED = (
    "import os, signal, sys; "
    "signal.signal(signal.SIGINT, signal.SIG_IGN); "
    "os.execv(sys.executable, [sys.executable, *sys.argv[1:]])"
)


def run_with_sigint_ignored(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", WITH_SIGINT_IGNORED, *args],
        cwd=REPO,
        env=os.environ.copy(),
        capture_output=True,
        text=True,
        timeout=100,
    )


def test_the_child_really_starts_with_sigint_ignored() -> None:
    """Without this, the test below could pass because the setup did nothing."""
    child = run_with_sigint_ignored(
        "-c", "import signal; print(signal.getsignal(signal.SIGINT) is signal.SIG_IGN)"
    )
    assert child.returncode == 0, child.stderr
    assert child.stdout.strip() == "True"


@pytest.mark.timeout(110)
def test_signal_tests_pass_with_sigint_ignored() -> None:
    child = run_with_sigint_ignored(
        "-m", "pytest", "-q", "-p", "no:cacheprovider", str(HERE / "test_signals.py")
    )
    assert child.returncode == 0, child.stdout[-4000:] + child.stderr[-2000:]
    assert " passed" in child.stdout
