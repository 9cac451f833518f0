"""The race corpus under exploration (CI size): every bug found, named and replayed;
no twin and no guarantee program ever reported.

The full-size figures (10 seeds per strategy, 10 000 schedules per clean
program, 100 replays per find) come from ``python tests/races/table.py``.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

import glassloop
from glassloop.testing import explore, replay

_spec = importlib.util.spec_from_file_location(
    "glassloop_race_programs", Path(__file__).with_name("programs.py")
)
assert _spec is not None and _spec.loader is not None
programs = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = programs
_spec.loader.exec_module(programs)

BUGS = programs.BUGS
GUARANTEES = programs.GUARANTEES


def variant(fn: Callable[[bool], Awaitable[None]], fixed: bool) -> Callable[[], Awaitable[None]]:
    async def run() -> None:
        await fn(fixed)

    run.__name__ = f"{fn.__name__}_{'fixed' if fixed else 'bug'}"
    return run


@pytest.mark.parametrize("case", BUGS, ids=[case[0] for case in BUGS])
def test_the_bug_passes_in_asyncios_default_order(case: tuple[object, ...]) -> None:
    fn = case[1]
    glassloop.run(fn(False), virtual_time=True)  # type: ignore[operator]


@pytest.mark.parametrize("case", BUGS, ids=[case[0] for case in BUGS])
def test_the_bug_is_found_shrunk_and_replays(case: tuple[object, ...]) -> None:
    name, fn = case[0], case[1]
    bug = variant(fn, False)  # type: ignore[arg-type]
    report = explore(bug, runs=500, seed=0)
    assert report.failed, f"{name}: not found in 500 schedules"
    assert isinstance(report.error, AssertionError), str(report)
    assert 1 <= len(report.choices) <= 3, report.choices
    # Over real sockets a replay's trace can differ when a loaded kernel hands
    # loopback bytes over late (the report then says so); how often is
    # table.py's "exact" column.  The failure itself must replay.
    for _ in range(3):
        with pytest.raises(AssertionError):
            replay(bug, report.token or "")


@pytest.mark.parametrize("case", BUGS, ids=[case[0] for case in BUGS])
def test_the_fixed_twin_is_never_reported(case: tuple[object, ...]) -> None:
    report = explore(variant(case[1], True), runs=200, seed=0)  # type: ignore[arg-type]
    assert not report.failed, str(report)


@pytest.mark.parametrize("case", GUARANTEES, ids=[case[0] for case in GUARANTEES])
def test_a_program_relying_on_asyncios_guarantees_is_never_reported(
    case: tuple[str, Callable[[], Awaitable[None]]],
) -> None:
    for strategy in ("pct", "random"):
        report = explore(case[1], runs=150, seed=0, strategy=strategy)
        assert not report.failed, str(report)
