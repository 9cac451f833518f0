"""The task tree: every pending task, what it awaits, and who awaits it.

Built from what the tasks themselves hold, at the moment it is asked (no
recorder needed): each task's suspended coroutine chain (``cr_await`` /
``gi_yieldfrom`` links, so ``await``, ``async with TaskGroup``, ``Lock`` and
friends show up frame by frame), the future it is parked on, and the tasks
behind that future (a task awaited directly, ``gather``'s children, a
TaskGroup's tasks).  A task awaited by another is printed under it; a task
nobody awaits is a root.  Tasks that await each other in a ring can never
finish: the ring is called out as a deadlock.  With a :class:`Recorder`
attached, each task also names its creator.
"""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

from ..kernel.task import Task
from .recorder import Recorder, describe_awaitable

#: How deep an await chain is followed (a guard against odd awaitables).
_MAX_DEPTH = 200


@dataclasses.dataclass
class TaskNode:
    """One pending task, as :func:`task_tree` saw it."""

    task: Any
    name: str
    #: (file, line, function) of each suspended frame, outermost first.
    chain: list[tuple[str, int, str]]
    #: What the innermost frame waits on, in words (``Lock.acquire``, ``sleep, 0.5 s left``).
    waits_on: str
    #: The creating task's name, or ``None`` if it is not known.
    creator: str | None
    #: Tasks this one awaits (directly, through gather or a TaskGroup).
    awaits: list[TaskNode] = dataclasses.field(default_factory=list)
    #: Set on every task of an await cycle: the names around the ring.
    cycle: list[str] | None = None


def _coroutine_chain(task: Any) -> list[Any]:
    """The task's coroutine and everything it awaits that is a coroutine or generator."""
    chain: list[Any] = []
    coro = task.get_coro()
    while coro is not None and len(chain) < _MAX_DEPTH:
        frame = getattr(coro, "cr_frame", None) or getattr(coro, "gi_frame", None)
        if frame is None:
            frame = getattr(coro, "ag_frame", None)
            if frame is None:
                break
        chain.append(coro)
        nxt = getattr(coro, "cr_await", None)
        if nxt is None:
            nxt = getattr(coro, "gi_yieldfrom", None)
            if nxt is None:
                nxt = getattr(coro, "ag_await", None)
        coro = nxt
    if len(chain) > 1 and coro is None and isinstance(getattr(task, "_fut_waiter", None), Task):
        # The innermost link is the awaited glassloop Task's __await__ (a
        # generator, where asyncio's is a C iterator with no frame): a frame
        # of ours, not of the program.  The await that waits on it is the
        # answer, as under asyncio (the recorder's suspended_at does the same).
        chain.pop()
    return chain


def _frame(coro: Any) -> Any:
    return getattr(coro, "cr_frame", None) or getattr(coro, "gi_frame", None) or coro.ag_frame


def _waits_on(task: Any, chain: list[Any], loop: Any) -> str:
    if task is asyncio.current_task(loop):
        return "nothing: running now"
    waiter = getattr(task, "_fut_waiter", None)
    if chain:
        frame = _frame(chain[-1])
        function = frame.f_code.co_name
        local = frame.f_locals
        owner = local.get("self")
        if function == "sleep" and hasattr(local.get("h"), "when"):
            return f"sleep, {max(0.0, local['h'].when() - loop.time()):.3f} s left"
        if owner is not None and type(owner).__module__.startswith("asyncio."):
            return f"{type(owner).__name__}.{function}"
        if function.startswith("sock_") or function == "_sock_op":
            return f"socket ({function})"
    if isinstance(waiter, asyncio.Future) and type(waiter).__name__ == "_GatheringFuture":
        return f"gather of {len(getattr(waiter, '_children', ()))}"
    return describe_awaitable(waiter) or "nothing (ready to run)"


def _awaited_tasks(task: Any, chain: list[Any]) -> list[Any]:
    """The tasks whose end this task is waiting for."""
    found: list[Any] = []
    waiter = getattr(task, "_fut_waiter", None)
    if isinstance(waiter, asyncio.Future):
        if hasattr(waiter, "get_coro"):
            found.append(waiter)
        found.extend(c for c in getattr(waiter, "_children", ()) if hasattr(c, "get_coro"))
    for coro in chain:
        owner = _frame(coro).f_locals.get("self")
        if isinstance(owner, asyncio.TaskGroup):
            found.extend(t for t in getattr(owner, "_tasks", ()) if t not in found)
    return [t for t in found if not t.done()]


def _creator_names(recorder: Recorder | None, tasks: list[Any]) -> dict[int, str | None]:
    if recorder is None:
        return {}
    creators = recorder.creators()
    names = {tid: name for tid, (_, name) in creators.items()}
    result: dict[int, str | None] = {}
    for task in tasks:
        tid = recorder.task_id(task)
        if tid is not None and tid in creators:
            creator = creators[tid][0]
            result[id(task)] = None if creator is None else names.get(creator, f"#{creator}")
    return result


def task_tree(loop: Any = None, recorder: Recorder | None = None) -> list[TaskNode]:
    """The pending tasks of ``loop`` (default: the running loop) as a forest of awaits.

    ``recorder`` defaults to a :class:`Recorder` attached to the loop, if any.
    """
    if loop is None:
        loop = asyncio.get_running_loop()
    if recorder is None:
        from .attach import observers

        recorder = next((o for o in observers(loop) if isinstance(o, Recorder)), None)
    tasks = [t for t in asyncio.all_tasks(loop) if not t.done()]
    tasks.sort(key=lambda t: t.get_name())
    creators = _creator_names(recorder, tasks)
    nodes: dict[int, TaskNode] = {}
    edges: dict[int, list[Any]] = {}
    for task in tasks:
        chain = _coroutine_chain(task)
        frames = []
        for coro in chain:
            frame = _frame(coro)
            frames.append((frame.f_code.co_filename, frame.f_lineno or 0, frame.f_code.co_name))
        nodes[id(task)] = TaskNode(
            task=task,
            name=task.get_name(),
            chain=frames,
            waits_on=_waits_on(task, chain, loop),
            creator=creators.get(id(task)),
        )
        edges[id(task)] = sorted(_awaited_tasks(task, chain), key=lambda t: t.get_name())
    _mark_cycles(nodes, edges)
    awaited: set[int] = set()
    for task in tasks:
        node = nodes[id(task)]
        for child in edges[id(task)]:
            if id(child) in nodes and id(child) not in awaited and child is not task:
                if node.cycle is not None and nodes[id(child)].cycle is not None:
                    continue  # a ring is shown once, flagged, not nested forever
                node.awaits.append(nodes[id(child)])
                awaited.add(id(child))
    return [nodes[id(t)] for t in tasks if id(t) not in awaited]


def _mark_cycles(nodes: dict[int, TaskNode], edges: dict[int, list[Any]]) -> None:
    """Flag every task on an await ring (each waits, through the others, on itself)."""
    state: dict[int, int] = {}  # 1: on the current path, 2: finished
    path: list[int] = []

    def visit(key: int) -> None:
        state[key] = 1
        path.append(key)
        for child in edges.get(key, ()):
            ckey = id(child)
            if ckey not in nodes:
                continue
            if state.get(ckey) == 1:
                ring = path[path.index(ckey) :]
                names = [nodes[k].name for k in ring] + [nodes[ckey].name]
                for k in ring:
                    nodes[k].cycle = names
            elif ckey not in state:
                visit(ckey)
        path.pop()
        state[key] = 2

    for key in nodes:
        if key not in state:
            visit(key)


def format_task_tree(tree: list[TaskNode] | Any = None, *, recorder: Recorder | None = None) -> str:
    """The tree as text; given a loop (or nothing: the running loop), builds it first."""
    if not isinstance(tree, list):
        tree = task_tree(tree, recorder)
    lines: list[str] = []

    def show(node: TaskNode, prefix: str, last: bool, top: bool) -> None:
        head = "" if top else ("└── " if last else "├── ")
        creator = "unknown" if node.creator is None else repr(node.creator)
        lines.append(
            f"{prefix}{head}Task {node.name!r} waits on {node.waits_on} (created by {creator})"
        )
        inner = prefix + ("" if top else ("    " if last else "│   "))
        if node.cycle is not None:
            lines.append(f"{inner}  !! await cycle (deadlock): {' -> '.join(node.cycle)}")
        for filename, line, function in node.chain:
            lines.append(f"{inner}  at {filename}:{line} in {function}")
        for index, child in enumerate(node.awaits):
            show(child, inner, index == len(node.awaits) - 1, False)

    for root in tree:
        show(root, "", True, True)
    if not tree:
        lines.append("no pending tasks")
    return "\n".join(lines) + "\n"
