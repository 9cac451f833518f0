"""The course text's ``Scheduler`` API, running on a real glassloop loop.

The text's scheduler kept a queue of generator tasks and stepped them until all
were done.  Here ``add_task`` wraps each generator in a glassloop ``Task``
(which runs the text's sub-generator trampoline, fixed) and ``event_loop``
runs the loop until every task has finished.  What the text got wrong and this
does differently:

* a sub-generator's ``return`` value is what ``yield sub()`` evaluates to (the
  text sent ``None`` back, and mistook the first value a sub-generator yielded
  for its result);
* an empty ready queue with tasks still waiting no longer blocks forever on
  ``queue.Queue.get``: tasks that wait on timers or I/O just wait;
* an exception in one task no longer kills the scheduler: the others finish,
  then ``event_loop`` raises the first error.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Generator
from typing import Any

from .kernel.task import Task
from .loop import Loop, new_event_loop


class Scheduler:
    """``add_task(gen) -> id`` and ``event_loop()``, as in the course text."""

    _ids = itertools.count(1)

    def __init__(self, loop: Loop | None = None) -> None:
        self.loop = loop if loop is not None else new_event_loop()
        self.task_map: dict[int, Task] = {}
        self.results: dict[int, Any] = {}

    def add_task(self, coroutine: Generator[Any, Any, Any] | Any) -> int:
        """Schedule a generator (or coroutine) and return its task id."""
        task: Task = Task(coroutine, loop=self.loop)
        tid = next(self._ids)
        self.task_map[tid] = task
        task.add_done_callback(lambda _: self.task_map.pop(tid, None))
        task.tid = tid  # type: ignore[attr-defined]
        return tid

    def event_loop(self) -> None:
        """Run until every task added so far (and any they add) has finished."""
        first_error: BaseException | None = None
        while self.task_map:
            batch = list(self.task_map.items())
            waiter = asyncio.gather(*(t for _, t in batch), return_exceptions=True)
            outcomes = self.loop.run_until_complete(waiter)
            for (tid, _), outcome in zip(batch, outcomes, strict=True):
                if isinstance(outcome, BaseException) and first_error is None:
                    first_error = outcome
                self.results[tid] = outcome
        if first_error is not None:
            raise first_error

    def close(self) -> None:
        """Close the scheduler's loop (also one passed in); calling it again does nothing.

        The course text's scheduler had nothing to release; this one owns a
        real event loop (a selector, a self-pipe), which Python reports as an
        unclosed resource under ``python -X dev`` unless it is closed.
        """
        self.loop.close()
