"""The course text's generator Scheduler, as glassloop promises it (README, tutorial).

These pin down the points where the original text was ambiguous or wrong:
what ``yield subgen()`` evaluates to, where a sub-generator's exception lands,
and that a bare ``yield`` hands the turn to the next task, round-robin.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest

import glassloop

Gen = Generator[Any, Any, Any]


def test_add_task_returns_distinct_int_ids() -> None:
    def noop() -> Gen:
        yield

    sched = glassloop.Scheduler()
    ids = [sched.add_task(noop()) for _ in range(3)]
    assert all(isinstance(i, int) and not isinstance(i, bool) for i in ids)
    assert len(set(ids)) == 3
    sched.event_loop()


def test_event_loop_returns_when_every_task_has_finished() -> None:
    finished: list[str] = []

    def task(name: str, steps: int) -> Gen:
        for _ in range(steps):
            yield
        finished.append(name)

    sched = glassloop.Scheduler()
    sched.add_task(task("short", 1))
    sched.add_task(task("long", 5))
    sched.add_task(task("none", 0))
    sched.event_loop()
    assert sorted(finished) == ["long", "none", "short"]


def test_event_loop_with_no_tasks_returns_at_once() -> None:
    glassloop.Scheduler().event_loop()


def test_yield_subgenerator_evaluates_to_its_return_value() -> None:
    results: list[Any] = []

    def add(a: int, b: int) -> Gen:
        yield  # a sub-generator may switch, too
        return a + b

    def caller() -> Gen:
        total = yield add(2, 3)
        results.append(total)

    sched = glassloop.Scheduler()
    sched.add_task(caller())
    sched.event_loop()
    assert results == [5]


def test_nested_subgenerators_pass_values_up_the_stack() -> None:
    results: list[Any] = []

    def leaf(x: int) -> Gen:
        yield
        return x * 10

    def middle(x: int) -> Gen:
        a = yield leaf(x)
        b = yield leaf(x + 1)
        return a + b

    def top() -> Gen:
        results.append((yield middle(1)))
        results.append((yield middle(5)))

    sched = glassloop.Scheduler()
    sched.add_task(top())
    sched.event_loop()
    assert results == [30, 110]


def test_subgenerator_that_never_yields_still_returns_its_value() -> None:
    results: list[Any] = []

    def immediate() -> Gen:
        return "no yield needed"
        yield  # makes this a generator

    def caller() -> Gen:
        results.append((yield immediate()))

    sched = glassloop.Scheduler()
    sched.add_task(caller())
    sched.event_loop()
    assert results == ["no yield needed"]


def test_exception_in_subgenerator_propagates_to_the_callers_yield() -> None:
    caught: list[str] = []

    def failing() -> Gen:
        yield
        raise ValueError("bad input")

    def caller() -> Gen:
        try:
            yield failing()
        except ValueError as exc:
            caught.append(str(exc))
        after = yield ok()
        caught.append(after)

    def ok() -> Gen:
        yield
        return "caller continues"

    sched = glassloop.Scheduler()
    sched.add_task(caller())
    sched.event_loop()
    assert caught == ["bad input", "caller continues"]


def test_exception_passes_through_intermediate_generators() -> None:
    caught: list[type[BaseException]] = []

    def deepest() -> Gen:
        yield
        raise KeyError("deep")

    def middle() -> Gen:
        yield deepest()
        raise AssertionError("not reached: the KeyError propagates through here")

    def top() -> Gen:
        try:
            yield middle()
        except KeyError:
            caught.append(KeyError)

    sched = glassloop.Scheduler()
    sched.add_task(top())
    sched.event_loop()
    assert caught == [KeyError]


def test_bare_yield_switches_tasks_round_robin() -> None:
    order: list[str] = []

    def worker(name: str) -> Gen:
        for i in range(3):
            order.append(f"{name}{i}")
            yield

    sched = glassloop.Scheduler()
    for name in "abc":
        sched.add_task(worker(name))
    sched.event_loop()
    assert order == ["a0", "b0", "c0", "a1", "b1", "c1", "a2", "b2", "c2"]


def test_yield_value_is_a_switch_and_evaluates_to_none() -> None:
    order: list[Any] = []

    def yields_values() -> Gen:
        got = yield 42
        order.append(("a", got))
        got = yield "text"
        order.append(("a", got))

    def other() -> Gen:
        order.append("b")
        yield
        order.append("b")

    sched = glassloop.Scheduler()
    sched.add_task(yields_values())
    sched.add_task(other())
    sched.event_loop()
    assert order == ["b", ("a", None), "b", ("a", None)]


def test_a_bare_yield_inside_a_subgenerator_lets_other_tasks_run() -> None:
    order: list[str] = []

    def sub() -> Gen:
        order.append("sub-start")
        yield
        order.append("sub-end")
        return None

    def a() -> Gen:
        yield sub()

    def b() -> Gen:
        for i in range(3):
            order.append(f"b{i}")
            yield

    sched = glassloop.Scheduler()
    sched.add_task(a())
    sched.add_task(b())
    sched.event_loop()
    start, end = order.index("sub-start"), order.index("sub-end")
    assert any(item.startswith("b") for item in order[start:end]), order


def test_tasks_added_while_running_are_also_waited_for() -> None:
    seen: list[str] = []
    sched = glassloop.Scheduler()

    def child() -> Gen:
        yield
        seen.append("child done")

    def parent() -> Gen:
        sched.add_task(child())
        yield
        seen.append("parent done")

    sched.add_task(parent())
    sched.event_loop()
    assert sorted(seen) == ["child done", "parent done"]


@pytest.mark.parametrize("n_tasks", [1, 10, 200])
def test_many_tasks_all_finish(n_tasks: int) -> None:
    counter = [0]

    def bump() -> Gen:
        yield
        counter[0] += 1

    sched = glassloop.Scheduler()
    for _ in range(n_tasks):
        sched.add_task(bump())
    sched.event_loop()
    assert counter[0] == n_tasks


def test_an_uncaught_error_does_not_stop_the_other_tasks() -> None:
    finished: list[str] = []

    def crashes() -> Gen:
        yield
        raise RuntimeError("task crashed")

    def survivor() -> Gen:
        for _ in range(3):
            yield
        finished.append("survivor")

    sched = glassloop.Scheduler()
    sched.add_task(crashes())
    sched.add_task(survivor())
    # course.py: the others finish, then event_loop raises the first error.
    with pytest.raises(RuntimeError, match="task crashed"):
        sched.event_loop()
    assert finished == ["survivor"]


def test_a_course_generator_waits_for_a_future_it_yields() -> None:
    loop = glassloop.new_event_loop()
    try:
        fut = loop.create_future()
        loop.call_later(0.01, fut.set_result, 42)
        failing = loop.create_future()
        loop.call_later(0.01, failing.set_exception, KeyError("k"))

        def body() -> Any:
            value = yield fut
            try:
                yield failing
            except KeyError:
                return value + 1
            return None

        assert loop.run_until_complete(loop.create_task(body())) == 43
    finally:
        loop.close()


def test_close_closes_the_loop_and_may_be_called_again() -> None:
    def one() -> Gen:
        yield
        return 1

    sched = glassloop.Scheduler()
    tid = sched.add_task(one())
    sched.event_loop()
    sched.close()
    assert sched.loop.is_closed()
    assert sched.results[tid] == 1
    sched.close()


README = Path(__file__).resolve().parents[2] / "README.md"
SRC = README.parent / "src"


def test_the_readme_scheduler_example_runs_clean_under_dev_mode() -> None:
    """The README's example, as a user pastes it: its output, and no unclosed loop."""
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.DOTALL)
    [example] = [block for block in blocks if "glassloop.Scheduler()" in block]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SRC), env.get("PYTHONPATH")]))
    done = subprocess.run(
        [sys.executable, "-X", "dev", "-c", example],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["first 5", "second 5"]
    assert "ResourceWarning" not in done.stderr, done.stderr
