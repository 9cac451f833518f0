"""The course text's ``Scheduler`` and ``Task``: generators as tasks, fixed.

The text's idea is the core of every event loop: a queue of ready tasks, and
a loop that takes one, runs it until it gives up its turn (a ``yield``), and
puts it back.  A task may ``yield`` a sub-generator to call it, and a
``Task`` keeps a stack of the generators it is inside.  ``CourseScheduler``
and ``CourseTask`` below are the text's code with its bugs fixed;
``glassloop.Scheduler`` keeps the same API (``add_task(gen) -> id``,
``event_loop()``) on a real event loop.  ``main`` runs the same tasks on both
and they print the same trace.

What was fixed in the text's code:

* ``Scheduler`` named ``Task`` in annotations before ``Task`` was defined,
  a NameError on import (here: ``from __future__ import annotations``);
* when a sub-generator merely *switched* (a bare ``yield``), ``Task.run``
  took that ``None`` for its result, popped it off the stack and threw it
  away half-run; and when a sub-generator *returned*, its value was dropped
  (``sendval = None``).  Now ``x = yield sub()`` evaluates to ``sub``'s
  ``return`` value, and a ``yield`` anywhere in the stack is a switch;
* an exception in a sub-generator now propagates into its caller at the
  ``yield``, as a function call's would, and a task that fails no longer
  kills the scheduler: the others finish, then ``event_loop()`` raises the
  first error;
* ``queue.Queue`` (a thread-safe queue whose ``get()`` blocks forever when
  empty) is a ``collections.deque``: one thread, and nothing to wait for.

    python examples/course_scheduler.py
"""

from __future__ import annotations

import itertools
import types
from collections import deque
from collections.abc import Callable, Generator
from typing import Any

import glassloop

Gen = Generator[Any, Any, Any]


class CourseTask:
    """One generator task: its current generator and the stack of its callers."""

    task_id = itertools.count(1)

    def __init__(self, target: Gen) -> None:
        self.tid = next(CourseTask.task_id)
        self.target = target
        self.sendval: Any = None
        self.throwval: BaseException | None = None
        self.stack: list[Gen] = []

    def run(self) -> bool:
        """Run until the task switches (False) or has finished (True)."""
        while True:
            try:
                if self.throwval is not None:
                    exc, self.throwval = self.throwval, None
                    result = self.target.throw(exc)
                else:
                    result = self.target.send(self.sendval)
            except StopIteration as stop:
                if not self.stack:
                    return True
                self.target, self.sendval = self.stack.pop(), stop.value
                continue
            except Exception as exc:
                if not self.stack:
                    raise
                self.target, self.throwval = self.stack.pop(), exc
                continue
            if isinstance(result, types.GeneratorType):
                self.stack.append(self.target)  # call the sub-generator
                self.target, self.sendval = result, None
            else:
                self.sendval = None  # a switch: the yield evaluates to None
                return False


class CourseScheduler:
    """A ready queue of tasks, run round-robin until every task has finished."""

    def __init__(self) -> None:
        self.ready: deque[CourseTask] = deque()
        self.task_map: dict[int, CourseTask] = {}
        self.error: BaseException | None = None

    def add_task(self, coroutine: Gen) -> int:
        new_task = CourseTask(coroutine)
        self.task_map[new_task.tid] = new_task
        self.schedule(new_task)
        return new_task.tid

    def exit(self, task: CourseTask) -> None:
        del self.task_map[task.tid]

    def schedule(self, task: CourseTask) -> None:
        self.ready.append(task)

    def _run_once(self) -> None:
        task = self.ready.popleft()
        try:
            finished = task.run()
        except Exception as exc:
            self.error = self.error or exc
            finished = True
        if finished:
            self.exit(task)
        else:
            self.schedule(task)

    def event_loop(self) -> None:
        while self.task_map:
            self._run_once()
        if self.error is not None:
            raise self.error


# -- the tasks ----------------------------------------------------------------------


def countdown(log: Callable[[str], None], name: str, n: int) -> Gen:
    while n > 0:
        log(f"{name}: {n}")
        yield  # let the others run
        n -= 1
    log(f"{name}: done")


def add(a: int, b: int) -> Gen:
    yield  # a sub-generator may switch too
    return a + b


def adder(log: Callable[[str], None], name: str) -> Gen:
    total = yield add(2, 3)
    log(f"{name}: 2 + 3 = {total}")
    total = yield add(total, 10)
    log(f"{name}: 5 + 10 = {total}")


def divide(a: int, b: int) -> Gen:
    yield
    return a // b


def careful(log: Callable[[str], None], name: str) -> Gen:
    try:
        yield divide(1, 0)
    except ZeroDivisionError as exc:
        log(f"{name}: caught {exc!r} from the sub-generator")


def trace(scheduler: CourseScheduler | glassloop.Scheduler) -> list[str]:
    """Run the example tasks on ``scheduler``; the lines they log, in order."""
    lines: list[str] = []
    scheduler.add_task(countdown(lines.append, "countdown", 3))
    scheduler.add_task(adder(lines.append, "adder"))
    scheduler.add_task(careful(lines.append, "careful"))
    scheduler.event_loop()
    return lines


def main() -> None:
    course = trace(CourseScheduler())
    glass_scheduler = glassloop.Scheduler()
    try:
        glass = trace(glass_scheduler)
    finally:
        glass_scheduler.close()
    for line in course:
        print(line)
    print(f"glassloop.Scheduler printed the same trace: {glass == course}")


if __name__ == "__main__":
    main()
