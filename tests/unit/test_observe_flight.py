"""glassloop.observe.FlightRecorder: nothing written until a stall, an error or SIGUSR1."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest
from trace_checks import check_trace

import glassloop
from glassloop.observe import FlightRecorder

SAFETY = 10.0


def steps_named(path: str, name: str) -> list[dict[str, Any]]:
    events = check_trace(json.loads(Path(path).read_text()))
    return [e for e in events if e["ph"] == "X" and e["name"] == name]


def test_nothing_is_written_while_all_is_well(tmp_path: Path) -> None:
    loop = glassloop.new_event_loop()
    try:
        with FlightRecorder(loop, str(tmp_path), stall=5.0) as flight:

            async def fine() -> None:
                for _ in range(50):
                    await asyncio.sleep(0)

            loop.run_until_complete(loop.create_task(fine(), name="fine"))
        assert flight.dumps == [] and list(tmp_path.iterdir()) == []
        assert len(flight.recorder.records) > 50
    finally:
        loop.close()


def test_sigusr1_dumps_what_led_up_to_it(tmp_path: Path) -> None:
    loop = glassloop.new_event_loop()
    before = signal.getsignal(signal.SIGUSR1)
    try:
        with FlightRecorder(loop, str(tmp_path), stall=None) as flight:

            async def worker() -> None:
                for _ in range(3):
                    await asyncio.sleep(0)
                os.kill(os.getpid(), signal.SIGUSR1)
                deadline = time.monotonic() + SAFETY
                while not flight.dumps and time.monotonic() < deadline:
                    await asyncio.sleep(0.001)

            loop.run_until_complete(loop.create_task(worker(), name="worker"))
        (path,) = flight.dumps
        assert path.endswith("-signal.json") and os.path.dirname(path) == str(tmp_path)
        assert len(steps_named(path, "worker")) == 4  # 3 before it, and the one sending it
        assert signal.getsignal(signal.SIGUSR1) == before  # given back
    finally:
        loop.close()


def test_an_exception_dumps_once_and_the_previous_handler_still_runs(tmp_path: Path) -> None:
    loop = glassloop.new_event_loop()
    seen: list[str] = []
    loop.set_exception_handler(lambda _, context: seen.append(context["message"]))
    try:
        with FlightRecorder(loop, str(tmp_path), stall=None, dump_signal=None) as flight:

            def fail() -> None:
                raise ValueError("boom")

            async def main() -> None:
                for _ in range(3):  # a storm: one dump
                    loop.call_soon(fail)
                    await asyncio.sleep(0)

            loop.run_until_complete(loop.create_task(main(), name="main"))
        assert len(seen) == 3
        (path,) = flight.dumps
        assert path.endswith("-exception.json")
        assert steps_named(path, "main")  # what led up to the error
        assert loop.get_exception_handler() is not None  # ours is gone, the user's is back
        loop.call_exception_handler({"message": "after"})
        assert seen[-1] == "after"
    finally:
        loop.close()


def test_a_stall_dumps_while_it_lasts(tmp_path: Path) -> None:
    loop = glassloop.new_event_loop()
    try:
        with FlightRecorder(loop, str(tmp_path), stall=0.05, dump_signal=None) as flight:

            async def stuck() -> None:
                deadline = time.monotonic() + SAFETY
                while not flight.dumps and time.monotonic() < deadline:
                    time.sleep(0.005)  # blocks the loop until the dump exists

            loop.run_until_complete(loop.create_task(stuck(), name="stuck"))
        (path,) = flight.dumps
        assert path.endswith("-stall.json")
        assert "glassloop-flight-" in path
        events = check_trace(json.loads(Path(path).read_text()))
        (block,) = [e for e in events if e["ph"] == "X" and e.get("cat") == "block"]
        assert block["name"] == "blocked by Task 'stuck'"
        assert "test_observe_flight.py" in block["args"]["at"] and "in stuck" in block["args"]["at"]
    finally:
        loop.close()


def test_the_buffer_stays_bounded(tmp_path: Path) -> None:
    loop = glassloop.new_event_loop()
    try:
        with FlightRecorder(loop, str(tmp_path), capacity=1000, stall=None) as flight:

            async def busy() -> None:
                for _ in range(3000):
                    await asyncio.sleep(0)

            loop.run_until_complete(busy())
        tape = flight.recorder.tape
        assert tape is not None and len(tape) == 1000
        # The newest record says the loop stopped: the rest are its entries and polls.
        newest = tape.newest()
        assert newest is not None and newest[0] is False
        assert len(flight.recorder.records) == 999
        # The ring is full: the oldest went, and every one that went is counted.
        assert tape.count > 3000 and flight.recorder.dropped == tape.count - 1000
    finally:
        loop.close()


def test_the_tape_names_steps_callbacks_and_polls_and_goes_when_closed(tmp_path: Path) -> None:
    loop = glassloop.new_event_loop()
    try:
        with FlightRecorder(loop, str(tmp_path), stall=None, dump_signal=None) as flight:
            assert loop.tape is not None

            def tick() -> None:
                pass

            async def worker() -> None:
                for _ in range(4):
                    loop.call_soon(tick)
                    await asyncio.sleep(0.001)  # a poll with a timeout each time

            loop.run_until_complete(loop.create_task(worker(), name="worker"))
            path = flight.dump()
        assert path is not None
        assert len(steps_named(path, "worker")) == 5
        assert len(steps_named(path, tick.__qualname__)) == 4
        assert len(steps_named(path, "poll")) >= 4
        assert loop.tape is None and not loop._observed  # the plain path again
    finally:
        loop.close()


def test_one_tape_per_loop(tmp_path: Path) -> None:
    loop = glassloop.new_event_loop()
    try:
        with FlightRecorder(loop, str(tmp_path), stall=None, dump_signal=None):
            with pytest.raises(RuntimeError, match="already has a FlightRecorder"):
                FlightRecorder(loop, str(tmp_path), stall=None, dump_signal=None)
    finally:
        loop.close()


def test_causal_mode_records_what_woke_each_step(tmp_path: Path) -> None:
    loop = glassloop.new_event_loop()
    try:
        with FlightRecorder(
            loop, str(tmp_path), capacity=1000, stall=None, dump_signal=None, causal=True
        ) as flight:

            async def busy() -> None:
                for _ in range(3000):
                    await asyncio.sleep(0)

            loop.run_until_complete(busy())
            assert len(flight.recorder.records) == 1000
            assert flight.recorder.dropped > 2000  # counted, one by one
            path = flight.dump()
        assert path is not None
        events = check_trace(json.loads(Path(path).read_text()))
        assert any(e["ph"] in ("s", "f") for e in events)  # flow arrows: waker to woken
    finally:
        loop.close()
