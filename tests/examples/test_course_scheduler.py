"""The text's Scheduler/Task, fixed, and glassloop.Scheduler: the same trace."""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterator
from typing import Any

import pytest

import course_scheduler
import glassloop
from course_scheduler import CourseScheduler

EXPECTED_TRACE = [
    "countdown: 3",
    "countdown: 2",
    "adder: 2 + 3 = 5",
    "careful: caught ZeroDivisionError('integer division or modulo by zero')"
    " from the sub-generator",
    "countdown: 1",
    "adder: 5 + 10 = 15",
    "countdown: done",
]

Gen = Generator[Any, Any, Any]


@pytest.fixture(params=["course", "glassloop"])
def make_scheduler(request: pytest.FixtureRequest) -> Iterator[Callable[[], Any]]:
    made: list[glassloop.Scheduler] = []

    def make() -> Any:
        if request.param == "course":
            return CourseScheduler()
        made.append(glassloop.Scheduler())
        return made[-1]

    yield make
    for scheduler in made:
        scheduler.close()


def test_trace(make_scheduler: Callable[[], Any]) -> None:
    assert course_scheduler.trace(make_scheduler()) == EXPECTED_TRACE


def test_round_robin_order(make_scheduler: Callable[[], Any]) -> None:
    log: list[str] = []

    def worker(name: str) -> Gen:
        for i in range(3):
            log.append(f"{name}{i}")
            yield

    scheduler = make_scheduler()
    for name in "abc":
        scheduler.add_task(worker(name))
    scheduler.event_loop()
    assert log == ["a0", "b0", "c0", "a1", "b1", "c1", "a2", "b2", "c2"]


def test_add_task_returns_int_ids(make_scheduler: Callable[[], Any]) -> None:
    def noop() -> Gen:
        yield

    scheduler = make_scheduler()
    ids = [scheduler.add_task(noop()) for _ in range(3)]
    assert all(type(i) is int for i in ids) and len(set(ids)) == 3
    scheduler.event_loop()


def test_a_failing_task_lets_the_others_finish_then_raises(
    make_scheduler: Callable[[], Any],
) -> None:
    finished: list[str] = []

    def failing() -> Gen:
        yield
        raise RuntimeError("task failed")

    def steady() -> Gen:
        for _ in range(3):
            yield
        finished.append("steady")

    scheduler = make_scheduler()
    scheduler.add_task(failing())
    scheduler.add_task(steady())
    with pytest.raises(RuntimeError, match="task failed"):
        scheduler.event_loop()
    assert finished == ["steady"]


def test_deep_subgenerator_stack(make_scheduler: Callable[[], Any]) -> None:
    results: list[int] = []

    def depth(n: int) -> Gen:
        if n == 0:
            yield
            return 0
        below = yield depth(n - 1)
        return below + 1

    def top() -> Gen:
        results.append((yield depth(50)))

    scheduler = make_scheduler()
    scheduler.add_task(top())
    scheduler.event_loop()
    assert results == [50]


def test_script_output(run_example: Any) -> None:
    out = run_example("course_scheduler.py", glassloop=False).stdout.splitlines()
    assert out == [*EXPECTED_TRACE, "glassloop.Scheduler printed the same trace: True"]
