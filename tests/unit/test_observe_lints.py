"""glassloop.observe.lint: long steps, busy self-wakes, orphaned awaits, await cycles."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import glassloop
from glassloop.observe import Recorder, lint


def kinds(findings: list[Any]) -> list[tuple[str, str]]:
    return [(f.kind, f.what) for f in findings]


def test_a_task_polling_with_sleep_0_is_a_busy_wake_and_a_long_step_is_named() -> None:
    loop = glassloop.new_event_loop()
    recorder = Recorder(loop)
    try:
        state = {"done": False}

        async def poller() -> None:
            while not state["done"]:
                await asyncio.sleep(0)

        async def setter() -> None:
            for _ in range(60):
                await asyncio.sleep(0.0005)
            time.sleep(0.02)  # a long step, at this test's threshold
            state["done"] = True

        async def main() -> None:
            await asyncio.gather(
                loop.create_task(poller(), name="poller"),
                loop.create_task(setter(), name="setter"),
            )

        loop.run_until_complete(main())
        findings = lint(recorder, long_step=0.015, busy_wakes=50)
    finally:
        recorder.close()
        loop.close()
    assert ("busy-wake", "Task 'poller'") in kinds(findings)
    assert ("long-step", "Task 'setter'") in kinds(findings)
    assert ("busy-wake", "Task 'setter'") not in kinds(findings)  # it slept on timers
    # (Other long steps may show up on a loaded machine: not asserted.)


def test_a_future_nobody_else_holds_is_an_orphaned_await() -> None:
    loop = glassloop.new_event_loop()
    held: dict[str, asyncio.Future[None]] = {}
    seen: dict[str, Any] = {}
    try:

        async def lost() -> None:
            await loop.create_future()  # nobody else will ever see it

        async def kept() -> None:
            held["f"] = loop.create_future()
            await held["f"]

        async def sleeper() -> None:
            await asyncio.sleep(30)  # its future is held by the timer

        async def main() -> None:
            tasks = [
                loop.create_task(lost(), name="lost"),
                loop.create_task(kept(), name="kept"),
                loop.create_task(sleeper(), name="sleeper"),
            ]
            await asyncio.sleep(0.01)
            seen["findings"] = lint(loop=loop)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        loop.run_until_complete(main())
    finally:
        loop.close()
    assert kinds(seen["findings"]) == [("orphaned-await", "Task 'lost'")]


def test_an_await_cycle_is_one_finding() -> None:
    loop = glassloop.new_event_loop()
    seen: dict[str, Any] = {}
    try:

        async def main() -> None:
            tasks: dict[str, asyncio.Task[None]] = {}

            async def waits_for(other: str) -> None:
                await asyncio.sleep(0)
                await tasks[other]

            tasks["a"] = loop.create_task(waits_for("b"), name="a")
            tasks["b"] = loop.create_task(waits_for("a"), name="b")
            for _ in range(3):
                await asyncio.sleep(0)
            seen["findings"] = lint(loop=loop)
            for task in tasks.values():  # see test_observe_tree: leave the ring quietly
                task._log_destroy_pending = False  # type: ignore[attr-defined]

        loop.run_until_complete(main())
    finally:
        loop.close()
    cycles = [f for f in seen["findings"] if f.kind == "await-cycle"]
    assert len(cycles) == 1 and "deadlock" in str(cycles[0])
