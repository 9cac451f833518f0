"""Tests for examples/: each of the course text's examples, run and checked.

The example modules are imported straight from ``examples/`` (put on
``sys.path`` here) to test their functions, and run as programs -- through
``glassloop run`` where they use asyncio -- to check what they print against
what the text intended.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
sys.path.insert(0, str(EXAMPLES))

#: Each example finishes in about a second; a hang must not take the default 120.
EXAMPLE_TEST_TIMEOUT = 60

RunExample = Callable[..., subprocess.CompletedProcess[str]]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in item.path.parents and item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(EXAMPLE_TEST_TIMEOUT))


@pytest.fixture
def run_example() -> RunExample:
    """``run_example("course_x.py", *args, glassloop=True)``: run it, check exit 0."""

    def run(name: str, *args: str, glassloop: bool = True) -> subprocess.CompletedProcess[str]:
        path = str(EXAMPLES / name)
        command = (
            [sys.executable, "-m", "glassloop", "run", path]
            if glassloop
            else [
                sys.executable,
                path,
            ]
        )
        result = subprocess.run(
            [*command, *args], capture_output=True, text=True, timeout=45, cwd=EXAMPLES
        )
        assert result.returncode == 0, result.stderr
        assert "Traceback" not in result.stderr, result.stderr
        return result

    return run
