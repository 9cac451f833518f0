"""glassloop.observe.BlockingDetector: a block is reported while it lasts, with its line.

The blockers here keep blocking until the detector's callback has seen them
(with a generous safety limit), so the tests check that the report comes
*during* the block without depending on how fast the machine is.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import time
from typing import Any

import pytest

import glassloop
from glassloop.kernel.tape import Tape
from glassloop.observe import BlockingDetector, BlockReport, FlightRecorder, Recorder
from glassloop.observe.attach import share_tape, tape_owners

#: A blocker gives up after this long if no report came (the test then fails).
SAFETY = 10.0


def run_blocked(blocker_kind: str, in_task: bool) -> tuple[list[BlockReport], Recorder]:
    reports: list[BlockReport] = []
    seen = threading.Event()

    def on_report(report: BlockReport) -> None:
        reports.append(report)
        seen.set()

    def sleeper() -> None:
        deadline = time.monotonic() + SAFETY
        while not seen.is_set() and time.monotonic() < deadline:
            time.sleep(0.005)  # the blocking line: sleeper

    def spinner() -> None:
        # No Python-level call in the loop (a C builtin makes no frame), so
        # the innermost frame is this one.
        deadline = time.monotonic() + SAFETY
        n = 0
        while not reports and time.monotonic() < deadline:  # the blocking line: spinner
            n += 1  # the blocking line: spinner

    blocker = sleeper if blocker_kind == "sleep" else spinner
    loop = glassloop.new_event_loop()
    recorder = Recorder(loop)
    try:
        with BlockingDetector(0.05, loop=loop, callback=on_report, recorder=recorder):

            async def blocking_task() -> None:
                blocker()

            async def main() -> None:
                if in_task:
                    await asyncio.create_task(blocking_task(), name="the-blocker")
                else:
                    done = loop.create_future()
                    loop.call_soon(lambda: (blocker(), done.set_result(None)))
                    await done

            loop.run_until_complete(main())
    finally:
        recorder.close()
        loop.close()
    return reports, recorder


@pytest.mark.parametrize("kind", ["sleep", "cpu"])
@pytest.mark.parametrize("in_task", [True, False], ids=["task", "callback"])
def test_a_block_is_reported_while_it_lasts_with_the_blocking_line(
    kind: str, in_task: bool
) -> None:
    reports, recorder = run_blocked(kind, in_task)
    assert [r.ended for r in reports] == [False, True]
    during, after = reports
    function = "sleeper" if kind == "sleep" else "spinner"
    innermost = during.stack[-1]
    assert innermost.name == function
    assert innermost.line is not None
    assert f"the blocking line: {function}" in innermost.line
    if kind == "sleep":
        assert "time.sleep" in innermost.line
    if in_task:
        assert during.task_name == "the-blocker"
        assert during.what == "Task 'the-blocker'"
        assert any(frame.name == "blocking_task" for frame in during.stack)
    else:
        assert during.task_name is None
        assert during.what.startswith("callback ")
    # The stack starts at the user's code, not in the loop's own frames.
    assert "glassloop/kernel" not in during.stack[0].filename
    assert after.duration >= during.duration >= 0.05
    assert after.what == during.what
    blocks = [r for r in recorder.records if r[0] == "block"]
    assert len(blocks) == 1 and blocks[0][3] == during.what


def test_reports_go_to_the_glassloop_observe_logger(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="glassloop.observe"):
        run_blocked("sleep", in_task=True)
    messages = [r.getMessage() for r in caplog.records if r.name == "glassloop.observe"]
    assert len(messages) == 2
    assert "Task 'the-blocker' has blocked the loop for" in messages[0]
    assert "time.sleep" in messages[0]
    assert "the loop was blocked for" in messages[1]


def test_a_loop_idle_in_its_poller_for_two_seconds_is_never_a_block() -> None:
    reports: list[BlockReport] = []
    loop = glassloop.new_event_loop()
    try:
        with BlockingDetector(0.05, loop=loop, callback=reports.append):

            async def idle() -> None:
                await asyncio.sleep(1.0)
                loop.call_later(0.5, lambda: None)
                await asyncio.sleep(1.0)

            loop.run_until_complete(idle())
    finally:
        loop.close()
    assert reports == []


def test_short_callbacks_under_the_threshold_are_not_reported() -> None:
    reports: list[BlockReport] = []
    loop = glassloop.new_event_loop()
    try:
        with BlockingDetector(5.0, loop=loop, callback=reports.append):

            async def busy() -> None:
                for _ in range(200):
                    await asyncio.sleep(0)

            loop.run_until_complete(busy())
    finally:
        loop.close()
    assert reports == []


def test_the_end_report_profiles_the_stall_and_names_the_timers_it_delayed(
    caplog: pytest.LogCaptureFixture,
) -> None:
    reports: list[BlockReport] = []
    loop = glassloop.new_event_loop()
    try:
        with BlockingDetector(0.05, loop=loop, callback=reports.append, interval=0.005):

            def on_time() -> None:
                pass

            async def stuck() -> None:
                loop.call_later(0.001, on_time)
                deadline = time.monotonic() + SAFETY
                while not reports and time.monotonic() < deadline:
                    time.sleep(0.002)  # the blocking line: stuck
                time.sleep(0.03)  # the second blocking line: stuck

            async def main() -> None:
                await loop.create_task(stuck(), name="stuck")
                await asyncio.sleep(0.01)  # a turn for the late timer to run

            with caplog.at_level(logging.WARNING, logger="glassloop.observe"):
                loop.run_until_complete(main())
    finally:
        loop.close()
    during, after = reports
    assert after.ended and after.profile
    assert sum(count for _, count in after.profile) >= 1
    assert all(" in stuck" in where for where, _ in after.profile)
    assert during.where in dict(after.profile)  # the report's own look is the first sample
    assert "samples):" in after.format()
    (late,) = after.late_timers
    assert late[0].endswith("on_time") and late[1] >= 0.025
    assert any("made 1 timer(s) run late" in r.getMessage() for r in caplog.records)


def test_descriptors_ready_during_a_block_are_named_after_it() -> None:
    reports: list[BlockReport] = []
    loop = glassloop.new_event_loop()
    left, right = socket.socketpair()
    got: list[bytes] = []
    try:
        with BlockingDetector(0.05, loop=loop, callback=reports.append):

            def on_readable() -> None:
                got.append(left.recv(100))
                loop.remove_reader(left)

            async def stuck() -> None:
                right.send(b"x")  # ready from now on, but the loop is busy
                deadline = time.monotonic() + SAFETY
                while not reports and time.monotonic() < deadline:
                    time.sleep(0.002)

            async def main() -> None:
                loop.add_reader(left, on_readable)
                await loop.create_task(stuck(), name="stuck")
                while not got:
                    await asyncio.sleep(0.001)

            loop.run_until_complete(main())
    finally:
        loop.close()
        left.close()
        right.close()
    assert got == [b"x"]
    after = reports[-1]
    assert after.ended
    assert after.late_io == [
        "test_descriptors_ready_during_a_block_are_named_after_it.<locals>.on_readable"
    ]


def test_the_detector_reads_the_tape_and_leaves_tasks_and_callbacks_unhooked() -> None:
    loop = glassloop.new_event_loop()
    try:
        with BlockingDetector(0.05, loop=loop) as detector:
            # What it pays per entry is the tape's two appends: no hook call.
            assert tape_owners(loop) == [detector]
            assert loop._task_hooks is None and not loop._entry_hooks
        assert loop.tape is None and loop.hooks is None
    finally:
        loop.close()


def test_a_block_in_a_runs_last_entry_is_ended_with_its_full_duration() -> None:
    # No descriptor and no timer: the run ends with no poll after the block,
    # so the loop thread has no turn to end it in; the watchdog or close() does.
    reports: list[BlockReport] = []
    loop = glassloop.new_event_loop()
    try:
        with BlockingDetector(0.05, loop=loop, callback=reports.append):

            async def last() -> None:
                time.sleep(0.3)

            loop.run_until_complete(last())
        during, after = reports
        assert not during.ended and after.ended
        assert 0.3 <= after.duration < 0.3 + SAFETY
    finally:
        loop.close()


def test_a_flush_waits_for_the_end_the_watchdog_is_making() -> None:
    # `glassloop run --trace --detect-blocking` flushes the detector, then
    # writes the trace.  When the watchdog was ending the block at that very
    # moment (a run whose last entry blocked: no poll after it), the flush
    # found nothing left to end and the trace was written without the block
    # (seen once in CI).  Here the watchdog's end is made slow on purpose.
    loop = glassloop.new_event_loop()
    recorder = Recorder(loop)
    detector = BlockingDetector(0.05, loop=loop, recorder=recorder, interval=0.005)
    note_block = recorder.note_block

    def slow_from_the_watchdog(*args: Any) -> None:
        if threading.current_thread() is detector._thread:
            time.sleep(0.3)
        note_block(*args)

    recorder.note_block = slow_from_the_watchdog  # type: ignore[method-assign]

    def blocks_then_stops() -> None:
        time.sleep(0.2)
        loop.stop()

    try:
        loop.call_soon(blocks_then_stops)
        loop.run_forever()
        time.sleep(0.05)  # the watchdog (looking every 5 ms) is ending the block now
        detector.flush()
        assert [r[0] for r in recorder.records if r[0] == "block"] == ["block"]
        assert [r.ended for r in detector.reports] == [False, True]
    finally:
        detector.close()
        recorder.close()
        loop.close()


def test_a_stopped_loop_is_never_a_block() -> None:
    reports: list[BlockReport] = []
    loop = glassloop.new_event_loop()
    try:
        with BlockingDetector(0.02, loop=loop, callback=reports.append, interval=0.002):
            loop.run_until_complete(asyncio.sleep(0))
            time.sleep(0.2)  # the loop is not running: its last entry is long over
            loop.run_until_complete(asyncio.sleep(0))
    finally:
        loop.close()
    assert reports == []


def test_a_detector_and_a_flight_recorder_share_one_tape(tmp_path: Any) -> None:
    reports: list[BlockReport] = []
    loop = glassloop.new_event_loop()
    try:
        with BlockingDetector(0.05, loop=loop, callback=reports.append) as detector:
            small = loop.tape
            assert small is not None and small.capacity == 1024
            with FlightRecorder(
                loop, str(tmp_path), capacity=5000, stall=None, dump_signal=None
            ) as flight:
                assert loop.tape is not small and loop.tape.capacity == 5000
                assert tape_owners(loop) == [detector, flight]

                async def blocked() -> None:
                    for _ in range(100):
                        await asyncio.sleep(0)
                    time.sleep(0.1)
                    await asyncio.sleep(0.001)

                loop.run_until_complete(loop.create_task(blocked(), name="blocked"))
                assert len(flight.recorder.records) > 100
            # The flight recorder gone, the detector's own length again.
            assert loop.tape is not None and loop.tape.capacity == 1024
            assert [r.ended for r in reports] == [False, True]
            assert reports[0].what == "Task 'blocked'"
        assert loop.tape is None
    finally:
        loop.close()


def test_a_tape_set_by_hand_is_not_shared() -> None:
    loop = glassloop.new_event_loop()
    try:
        loop.set_tape(Tape(10))
        with pytest.raises(RuntimeError, match="set by hand"):
            share_tape(loop, object(), 10)
        with pytest.raises(RuntimeError, match="set by hand"):
            BlockingDetector(0.05, loop=loop)
    finally:
        loop.close()


def test_the_detector_is_on_the_hooks_only_from_a_report_until_its_victims_are_named() -> None:
    loop = glassloop.new_event_loop()
    seen: list[tuple[bool, bool]] = []
    try:
        detector = BlockingDetector(
            0.05, loop=loop, callback=lambda r: seen.append((r.ended, loop.hooks is detector))
        )
        # While nothing blocks it reads the tape and pays no hook call per turn.
        assert loop.hooks is None and loop.tape is not None

        async def main() -> None:
            await asyncio.sleep(0.01)
            time.sleep(0.2)
            for _ in range(3):  # polls after the block: its victims are known
                await asyncio.sleep(0.01)

        loop.run_until_complete(main())
        assert seen[0] == (False, True)  # reported while it blocked, with the hooks on
        assert (True, True) in seen  # ended by the loop thread, from its hooks
        assert loop.hooks is None  # and off again
        loop.run_until_complete(main())  # a second block: on and off again
        assert [ended for ended, _ in seen] == [False, True, False, True]
        assert loop.hooks is None
        detector.close()
        assert loop.tape is None
    finally:
        loop.close()
