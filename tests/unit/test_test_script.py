"""scripts/test.sh's closing count: failures and errors apart, each counted once.

The script's functions are cut out of it and run by bash, so what is checked
is the script itself, not a copy of its logic.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

TEST_SH = Path(__file__).parents[2] / "scripts" / "test.sh"

pytestmark = pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")

#: Define the script's count_tests and tests_summary (and nothing else of it),
#: feed them the closing lines given as arguments, print the summary line.
DRIVER = r"""
set -eu
TESTS_PASSED=0 TESTS_FAILED=0 TESTS_ERRORS=0 TESTS_SKIPPED=0
eval "$(sed -n -e '/^count_tests() {/,/^}/p' -e '/^tests_summary() {/,/^}/p' "$0")"
for line in "$@"; do count_tests "$line"; done
tests_summary
"""


def summary(*closing_lines: str) -> str:
    """The script's two summary lines for ``closing_lines``, as "errors: N | tests: ..."."""
    done = subprocess.run(
        ["bash", "-c", DRIVER, str(TEST_SH), *closing_lines],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0, done.stderr
    errors, tests = done.stdout.strip().splitlines()
    assert errors.endswith("(setup, teardown or collection broke; not in the failed count)")
    return errors.split(" (")[0] + " | " + tests


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (
            "=== 2 failed, 10 passed, 4 errors in 1.0s ===",
            "errors: 4 | tests: 10 passed, 2 failed, 0 skipped",
        ),
        ("=== 1 error in 0.1s ===", "errors: 1 | tests: 0 passed, 0 failed, 0 skipped"),
        (
            "=== 4162 passed, 31 skipped, 2 warnings in 601.20s (0:10:01) ===",
            "errors: 0 | tests: 4162 passed, 0 failed, 31 skipped",
        ),
        (
            "=== 12 errors, 3 xfailed, 1 xpassed, 2 deselected in 3.3s ===",
            "errors: 12 | tests: 0 passed, 0 failed, 0 skipped",
        ),
        ("=== no tests ran in 0.01s ===", "errors: 0 | tests: 0 passed, 0 failed, 0 skipped"),
    ],
)
def test_one_closing_line(line: str, expected: str) -> None:
    assert summary(line) == expected


def test_lines_from_several_runs_add_up() -> None:
    assert summary(
        "=== 1 failed, 100 passed, 5 skipped in 10.0s ===",
        "=== 100 passed, 5 skipped, 1 error in 9.0s ===",
        "=== 2 errors in 0.5s ===",
    ) == ("errors: 3 | tests: 200 passed, 1 failed, 10 skipped")
