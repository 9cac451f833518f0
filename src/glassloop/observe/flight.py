"""The flight recorder: always recording, in a small ring, dumped when something goes wrong.

It is meant to stay on in production, so it records on the kernel's *tape*
(``Scheduler.set_tape``), not its hooks: the kernel writes a record of each
ready entry it runs and of each poll to a fixed ring (kernel/tape.py), with
no hook call per entry.
Nothing more is done until one of three things happens:

- a **stall**: one entry holds the loop longer than ``stall`` seconds.  A
  watchdog thread reads the newest record (what the loop does now); a
  stall is dumped while it lasts, with the loop thread's stack at that moment
  on the timeline, so the dump exists even if the loop never recovers;
- an **exception** reaches the loop's exception handler (the previous
  handler still runs afterwards);
- the process receives ``SIGUSR1`` (``kill -USR1 PID``), to look at a
  process that seems wrong.

Each dump is a Chrome/Perfetto trace of what led up to it, in ``directory``,
named ``glassloop-flight-PID-N-REASON.json``: a slice per step (on its
task's track) and per callback, and the polls.  Names are read when the dump
is written.  Dumps of one reason are at least ``min_interval`` seconds apart,
so an exception storm writes one file.

What the tape does not know, the causal :class:`Recorder` does (what woke
each step, where it stopped, who created each task); ``causal=True`` runs one
of those instead, at its price (see benchmarks/results, the observe rows).

The ring holds each entry's callback (a function or bound method, not the
Handle and its arguments) until ``capacity`` newer records push it out, and
a task's step by the task's name, not the task: a ring that kept 20 000
finished tasks alive (their coroutines, contexts and results) cost an aiohttp
server 13 % of its CPU.  So a dump tells tasks apart by name: two tasks
given the same name share a track.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
import traceback
from collections.abc import Iterator
from types import FrameType
from typing import Any

from ..kernel.tape import Tape
from .attach import ClosedOnExit, EntryWatch, release_tape, share_tape, still_running, tape_owners
from .blocking import BlockingDetector, BlockReport, _blocker_frames, describe_entry
from .chrome import write_chrome_trace
from .recorder import Recorder, callback_name

logger = logging.getLogger("glassloop.observe")

#: Entries kept by default (the last ~1-4 s of a busy server).
FLIGHT_CAPACITY = 20_000


class TapeView:
    """The loop's tape as the causal recorder's record shapes, for the Chrome exporter."""

    def __init__(self, loop: Any, capacity: int) -> None:
        self.loop = loop
        self.capacity = capacity
        #: The loop's clock: the newest record ends now.
        self.now = loop.time
        #: Stall reports put on the timeline: BLOCK_RECORD shapes.
        self.blocks: list[tuple[Any, ...]] = []
        #: Set when the recorder is closed: its last records stay readable.
        self.kept: Tape | None = None

    @property
    def tape(self) -> Tape | None:
        """The loop's tape now (shared, and swapped for a longer one when needed).

        Once the flight recorder is closed, its records as they were then.
        """
        return self.kept if self.kept is not None else self.loop.tape

    @property
    def dropped(self) -> int:
        """Records the loop ran that this recorder's window no longer holds."""
        tape = self.tape
        return 0 if tape is None else tape.count - min(len(tape), self.capacity)

    @property
    def records(self) -> list[tuple[Any, ...]]:
        # A consistent copy of this recorder's part of a tape that may be
        # shared with an observer that keeps more.
        tape = self.tape
        if tape is None:
            entries: list[Any] = []
            starts: list[float] = []
        else:
            _, entries, starts = tape.snapshot(self.capacity)
        out: list[tuple[Any, ...]] = []
        task_ids: dict[str, int] = {}
        for n, entry in enumerate(entries):
            if type(entry) is int or entry is False:
                continue  # a poll's end (the loop's own work), or the loop stopped
            act = n + 1
            start = starts[n] if n < len(starts) else self.now()
            end = starts[n + 1] if n + 1 < len(starts) else self.now()
            if entry is None:
                after = entries[n + 1] if n + 1 < len(entries) else None
                nevents = after if type(after) is int else None
                out.append(("poll", start, end, act, None, nevents, None, None, None))
            elif type(entry) is str:
                # A task's step, by the task's name: a track per name.
                tid = task_ids.get(entry)
                if tid is None:
                    tid = task_ids[entry] = len(task_ids) + 1
                out.append(("step", start, end, None, tid, act, None, None, "", False, entry))
            else:
                out.append(("cb", start, end, None, act, callback_name(entry), None))
        out.extend(self.blocks)
        return out

    def __iter__(self) -> Iterator[tuple[Any, ...]]:
        return iter(self.records)


class FlightRecorder(ClosedOnExit):
    """Keeps the last ``capacity`` entries of ``loop``; dumps them on a stall, error or SIGUSR1."""

    def __init__(
        self,
        loop: Any,
        directory: str = ".",
        *,
        capacity: int = FLIGHT_CAPACITY,
        stall: float | None = 0.5,
        dump_signal: int | None = signal.SIGUSR1,
        on_exception: bool = True,
        min_interval: float = 10.0,
        causal: bool = False,
        cpu_time: bool = False,
    ) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        if stall is not None and stall <= 0:
            raise ValueError("stall must be positive (or None: no stall dumps)")
        self.loop = loop
        self.directory = directory
        self.min_interval = min_interval
        #: Paths written so far, oldest first.
        self.dumps: list[str] = []
        self._last: dict[str, float] = {}
        self._count = 0
        self._lock = threading.Lock()
        self.recorder: Recorder | TapeView
        self.detector: BlockingDetector | None = None
        self._on_tape = False
        self._stop = threading.Event()
        self._watchdog: threading.Thread | None = None
        if causal:
            self.recorder = Recorder(loop, capacity=capacity, cpu_time=cpu_time)
            if stall is not None:
                self.detector = BlockingDetector(
                    stall, loop=loop, callback=self._on_block, recorder=self.recorder
                )
        else:
            if any(isinstance(owner, FlightRecorder) for owner in tape_owners(loop)):
                raise RuntimeError("this loop already has a FlightRecorder")
            share_tape(loop, self, capacity)
            self._on_tape = True
            self.recorder = TapeView(loop, capacity)
            if stall is not None:
                self._watchdog = threading.Thread(
                    target=self._watch,
                    args=(stall,),
                    name="glassloop-flight-watchdog",
                    daemon=True,
                )
                self._watchdog.start()
        self._signal = None
        self._previous_signal: Any = None
        if dump_signal is not None and threading.current_thread() is threading.main_thread():
            self._previous_signal = signal.signal(dump_signal, self._on_signal)
            self._signal = dump_signal
        self._previous_handler: Any = None
        self._handling_exceptions = on_exception
        if on_exception:
            self._previous_handler = loop.get_exception_handler()
            loop.set_exception_handler(self._on_exception)

    def dump(self, reason: str = "request") -> str | None:
        """Write the buffer now; returns the path (None if one of ``reason`` was just written)."""
        with self._lock:
            now = time.monotonic()
            last = self._last.get(reason)
            if last is not None and now - last < self.min_interval:
                return None
            self._last[reason] = now
            self._count += 1
            name = f"glassloop-flight-{os.getpid()}-{self._count}-{reason}.json"
            path = os.path.join(self.directory, name)
        try:
            write_chrome_trace(self.recorder, path)
        except OSError as exc:
            logger.error("glassloop: the flight recorder could not write %s: %s", path, exc)
            return None
        self.dumps.append(path)
        logger.warning("glassloop: flight recorder dump (%s) written to %s", reason, path)
        return path

    # -- triggers ------------------------------------------------------------

    def _watch(self, stall: float) -> None:
        """The watchdog thread: an entry that has held the loop ``stall`` seconds is a stall.

        The newest record on the tape is what the loop does now; a poll's
        (its entry None) means it waits, which is never a stall.
        """
        assert isinstance(self.recorder, TapeView)
        watch = EntryWatch(self.loop, stall)
        dumped: int | None = None
        wait = watch.next_look(None)
        while not self._stop.wait(wait):
            if self.loop.is_closed():
                break
            running = watch.look()
            if running is None:
                wait = watch.next_look(None)
                continue
            entry, record, held = running
            wait = watch.next_look(held)
            if held < stall or record == dumped:
                continue
            dumped = record
            where = "?"
            thread = self.loop._thread_id
            frame: FrameType | None = sys._current_frames().get(thread) if thread else None
            stack = _blocker_frames(frame)
            del frame
            what = describe_entry(entry)
            if stack and still_running(self.loop, record):
                last = stack[-1]
                where = f"{last.filename}:{last.lineno} in {last.name}"
                logger.warning(
                    "glassloop: the loop is stalled by %s for %.3f s so far, at:\n%s",
                    what,
                    held,
                    "".join(traceback.format_list(stack)).rstrip(),
                )
            tape = self.loop.tape
            started = tape.time_of(record) if tape is not None else None
            if started is None:
                started = self.loop.time() - held
            self.recorder.blocks.append(("block", started, self.loop.time(), what, where))
            self.dump("stall")

    def _on_block(self, report: BlockReport) -> None:
        if not report.ended:
            self.dump("stall")

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self.dump("signal")

    def _on_exception(self, loop: Any, context: dict[str, Any]) -> None:
        self.dump("exception")
        if self._previous_handler is not None:
            self._previous_handler(loop, context)
        else:
            loop.default_exception_handler(context)

    def close(self) -> None:
        """Stop recording and give back the signal and exception handlers."""
        if self._signal is not None:
            signal.signal(self._signal, self._previous_signal)
            self._signal = None
        if self._handling_exceptions and self.loop.get_exception_handler() == self._on_exception:
            self.loop.set_exception_handler(self._previous_handler)
        self._handling_exceptions = False
        self._stop.set()
        watchdog, self._watchdog = self._watchdog, None
        if watchdog is not None and watchdog is not threading.current_thread():
            watchdog.join()
        if self._on_tape:
            if isinstance(self.recorder, TapeView):
                tape = self.loop.tape
                if tape is not None:
                    self.recorder.kept = tape.copy(self.recorder.capacity)
            release_tape(self.loop, self)
            self._on_tape = False
        if self.detector is not None:
            self.detector.close()
        if isinstance(self.recorder, Recorder):
            self.recorder.close()
