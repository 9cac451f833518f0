"""Lints: mistakes the loop can see and asyncio's tools do not report.

:func:`lint` looks at a recorder's buffer and, if given the loop, at its
pending tasks, and returns one :class:`Finding` per problem:

- ``long-step``: a step or callback that held the loop longer than
  ``long_step`` seconds (what the blocking detector reports live);
- ``busy-wake``: a task that woke itself ``busy_wakes`` times in a row
  (``while not ready: await asyncio.sleep(0)``): it burns the loop polling
  instead of awaiting the thing it waits for;
- ``orphaned-await``: a pending task parked on a plain future that nothing
  but the task itself refers to, so nothing can ever complete it;
- ``await-cycle``: tasks that await each other in a ring (a deadlock).

Orphans are found with ``gc.get_referrers``, which walks every tracked
object: run it when looking into a problem, not in a hot path.
"""

from __future__ import annotations

import asyncio
import dataclasses
import gc
from typing import Any

from .recorder import Recorder
from .tree import TaskNode, task_tree


@dataclasses.dataclass(frozen=True)
class Finding:
    kind: str
    #: The task (``Task 'name'``) or callback concerned.
    what: str
    message: str

    def __str__(self) -> str:
        return f"[{self.kind}] {self.what}: {self.message}"


def lint(
    recorder: Recorder | None = None,
    loop: Any = None,
    *,
    long_step: float = 0.1,
    busy_wakes: int = 1000,
) -> list[Finding]:
    """Findings from ``recorder``'s buffer and from ``loop``'s pending tasks."""
    findings: list[Finding] = []
    if recorder is not None:
        findings += _from_records(recorder, long_step, busy_wakes)
    if loop is not None:
        findings += _orphans(loop)
        findings += _cycles(task_tree(loop, recorder))
    return findings


def _from_records(recorder: Recorder, long_step: float, busy_wakes: int) -> list[Finding]:
    findings: list[Finding] = []
    streak: dict[int, list[Any]] = {}  # tid -> [count, first start, name]
    reported_busy: set[int] = set()
    for record in list(recorder.records):
        kind = record[0]
        if kind == "step":
            _, start, end, _, tid, _, wake, _, _, _, name = record
            if end - start >= long_step:
                findings.append(
                    Finding(
                        "long-step", f"Task {name!r}", f"one step held the loop {end - start:.3f} s"
                    )
                )
            if wake is not None and wake[0] == "yield":
                run = streak.setdefault(tid, [0, start, name])
                run[0] += 1
                if run[0] >= busy_wakes and tid not in reported_busy:
                    reported_busy.add(tid)
                    findings.append(
                        Finding(
                            "busy-wake",
                            f"Task {name!r}",
                            f"woke itself {run[0]} times in a row in {end - run[1]:.3f} s "
                            "(a sleep(0) polling loop?): await what it waits for instead",
                        )
                    )
            else:
                streak.pop(tid, None)
        elif kind == "cb":
            _, start, end, _, _, name, _ = record
            if end - start >= long_step:
                findings.append(
                    Finding("long-step", f"callback {name}", f"held the loop {end - start:.3f} s")
                )
    return findings


def _orphans(loop: Any) -> list[Finding]:
    findings: list[Finding] = []
    for task in list(asyncio.all_tasks(loop)):
        waiter = getattr(task, "_fut_waiter", None)
        if type(waiter) is not asyncio.Future:
            continue  # tasks, gather's futures...: others hold and complete them
        if not _only_held_by(waiter, task):
            continue
        findings.append(
            Finding(
                "orphaned-await",
                f"Task {task.get_name()!r}",
                "awaits a future nothing else refers to: nothing can complete it",
            )
        )
    return findings


def _only_held_by(future: Any, task: Any) -> bool:
    """Whether every reference to ``future`` comes from ``task`` or its suspended frames."""
    own: set[int] = {id(task)}
    coro = task.get_coro()
    while coro is not None:
        frame = getattr(coro, "cr_frame", None) or getattr(coro, "gi_frame", None)
        if frame is not None:
            own.add(id(frame))
        own.add(id(coro))
        coro = getattr(coro, "cr_await", None) or getattr(coro, "gi_yieldfrom", None)
    gc.collect()
    referrers = gc.get_referrers(future)
    try:
        return all(id(r) in own for r in referrers if r is not referrers)
    finally:
        del referrers


def _cycles(roots: list[TaskNode]) -> list[Finding]:
    findings: list[Finding] = []
    seen: set[tuple[str, ...]] = set()

    def visit(node: TaskNode) -> None:
        if node.cycle is not None:
            ring = tuple(sorted(set(node.cycle)))
            if ring not in seen:
                seen.add(ring)
                findings.append(
                    Finding(
                        "await-cycle",
                        f"Task {node.name!r}",
                        "tasks await each other (deadlock): " + " -> ".join(node.cycle),
                    )
                )
        for child in node.awaits:
            visit(child)

    for root in roots:
        visit(root)
    return findings
