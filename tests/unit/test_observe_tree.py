"""glassloop.observe.task_tree: pending tasks, their await chains, what they wait on."""

from __future__ import annotations

import asyncio
from typing import Any

import glassloop
from glassloop.observe import Recorder, TaskNode, format_task_tree, task_tree


def find(nodes: list[TaskNode], name: str) -> TaskNode:
    for node in nodes:
        if node.name == name:
            return node
        try:
            return find(node.awaits, name)
        except LookupError:
            pass
    raise LookupError(name)


def test_nested_gather_taskgroup_and_lock_make_one_tree_with_creators() -> None:
    loop = glassloop.new_event_loop()
    recorder = Recorder(loop)
    seen: dict[str, Any] = {}

    async def main() -> None:
        lock = asyncio.Lock()
        await lock.acquire()

        async def sleeper() -> None:
            await asyncio.sleep(30)

        async def locker() -> None:
            async with lock:
                pass

        async def group() -> None:
            async with asyncio.TaskGroup() as tg:
                tg.create_task(sleeper(), name="tg-sleeper")
                tg.create_task(locker(), name="tg-locker")

        async def gathering() -> None:
            await asyncio.gather(
                asyncio.create_task(group(), name="group"),
                asyncio.create_task(sleeper(), name="g-sleeper"),
            )

        top = asyncio.create_task(gathering(), name="gathering")
        for _ in range(5):
            await asyncio.sleep(0)
        seen["tree"] = task_tree(loop)
        seen["text"] = format_task_tree(loop)
        top.cancel()
        await asyncio.gather(top, return_exceptions=True)
        lock.release()

    try:
        loop.run_until_complete(asyncio.ensure_future(main(), loop=loop))
    finally:
        recorder.close()
        loop.close()
    roots: list[TaskNode] = seen["tree"]
    gathering = find(roots, "gathering")
    assert gathering in roots
    assert gathering.waits_on == "gather of 2"
    assert sorted(n.name for n in gathering.awaits) == ["g-sleeper", "group"]
    group = find(roots, "group")
    assert sorted(n.name for n in group.awaits) == ["tg-locker", "tg-sleeper"]
    assert any(function == "group" for _, _, function in group.chain)
    locker = find(roots, "tg-locker")
    assert locker.waits_on == "Lock.acquire"
    assert [function for _, _, function in locker.chain] == ["locker", "__aenter__", "acquire"]
    sleeper = find(roots, "tg-sleeper")
    assert sleeper.waits_on.startswith("sleep, ") and sleeper.waits_on.endswith(" s left")
    assert sleeper.creator == "group" and group.creator == "gathering"
    assert all(node.cycle is None for node in (gathering, group, locker, sleeper))
    text: str = seen["text"]
    assert "Task 'gathering' waits on gather of 2" in text
    assert "    └── Task 'tg-sleeper' waits on sleep, " in text
    assert "Task 'Task-" in text and "running now" in text  # main, which asked
    assert "Task 'tg-locker' waits on Lock.acquire (created by 'group')" in text


def test_tasks_awaiting_each_other_are_called_out_as_a_deadlock() -> None:
    loop = glassloop.new_event_loop()
    seen: dict[str, Any] = {}

    async def main() -> None:
        tasks: dict[str, asyncio.Task[None]] = {}

        async def waits_for(other: str) -> None:
            await asyncio.sleep(0)
            await tasks[other]

        tasks["a"] = asyncio.create_task(waits_for("b"), name="a")
        tasks["b"] = asyncio.create_task(waits_for("a"), name="b")
        for _ in range(3):
            await asyncio.sleep(0)
        seen["tree"] = task_tree(loop)
        seen["text"] = format_task_tree(seen["tree"])
        # Cancelling a task of an await ring recurses around it forever (in
        # asyncio too): leave the two pending, quietly, when the loop closes.
        for task in tasks.values():
            task._log_destroy_pending = False  # type: ignore[attr-defined]

    try:
        loop.run_until_complete(main())
    finally:
        loop.close()
    a, b = find(seen["tree"], "a"), find(seen["tree"], "b")
    assert a.cycle is not None and b.cycle is not None
    assert set(a.cycle) == {"a", "b"}
    assert a.creator is None  # no recorder attached: not known
    assert "!! await cycle (deadlock): " in seen["text"]
    assert "(created by unknown)" in seen["text"]
    # Each stopped at its own `await tasks[other]`, not in the awaited Task's
    # __await__ (a generator of ours, where asyncio's has no frame).
    for node in (a, b):
        assert node.chain[-1][0] == __file__ and node.chain[-1][2] == "waits_for"
        assert not any(file.endswith("task.py") for file, _, _ in node.chain)


def test_an_empty_loop_has_an_empty_tree() -> None:
    loop = glassloop.new_event_loop()
    try:
        assert task_tree(loop) == []
        assert format_task_tree([]) == "no pending tasks\n"
    finally:
        loop.close()
