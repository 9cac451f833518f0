"""The blocking detector: who holds the loop, caught while they still hold it.

asyncio's debug mode says "Executing <Handle> took 0.5 seconds" after the
fact, with no stack.  Here a watchdog thread reads what the loop thread runs
now from the loop's *tape* (``Scheduler.set_tape``: the kernel appends each
ready entry, a task's step included, with its start time, and no Python call
per entry) and, once the same entry has run longer than the threshold, takes
the loop thread's stack with ``sys._current_frames()``: its innermost frame
is the blocking line (the ``time.sleep``, the CPU-bound loop, the blocking
read).  Between blocks it looks only when the entry running at its last look
could first have run for the threshold (every ``threshold`` while the loop
waits): a thread that woke every few milliseconds to look cost the loop a few
per cent, waking it to hand over the GIL on a one-CPU server.  While the
block lasts the watchdog keeps sampling that stack, every ``interval``.  The
loop thread ends the block at its next poll or due timers
(the only hooks the detector listens to, once per turn, and only from a
report until its victims are named: while nothing blocks it costs the tape
alone, no Python call at all): the end report has
the full duration (the tape says when the next record began) and that small
profile (which lines the time went to), and a last line names the victims:
timers that fell due during the block and ran late, by how much, and the
descriptors found ready when it ended.

The loop waiting in its poller runs no callback, so an idle loop is never
reported.
"""

from __future__ import annotations

import collections
import dataclasses
import logging
import sys
import threading
import time
import traceback
from collections.abc import Callable
from types import FrameType
from typing import Any

from .. import loop as _loop_module
from ..kernel.hooks import Hooks
from ..kernel.scheduler import Scheduler
from ..kernel.tape import Tape
from ..kernel.task import Task
from .attach import (
    ClosedOnExit,
    EntryWatch,
    attach,
    detach,
    release_tape,
    share_tape,
    still_running,
)
from .recorder import Recorder, callback_name

logger = logging.getLogger("glassloop.observe")

#: The kernel's frame that runs each ready callback while observed (hooks,
#: a tape): the blocker's frames are the ones inside it.  A compiled kernel
#: has no Python frame there (its method is a C function, not even an
#: attribute): the walk then stops at the loop's ``run_forever``, the
#: innermost frame outside it.
_DISPATCH_CODES = frozenset(
    code
    for code in (
        getattr(getattr(Scheduler, "_run_ready_observed", None), "__code__", None),
        getattr(getattr(_loop_module.BaseLoop, "run_forever", None), "__code__", None),
    )
    if code is not None
)
#: Wrappers between that frame and the callback's own code (Handle._run, a
#: task's step machinery, the kernel's turn when the walk stops at run_forever).
_WRAPPER_FILES = ("glassloop/kernel/task.py", "glassloop/kernel/scheduler.py", "asyncio/events.py")
#: Lines of a stall's profile kept in its end report.
_PROFILE_LINES = 8


@dataclasses.dataclass(frozen=True)
class BlockReport:
    """One block: reported once while it lasts (``ended`` False), once when it ends."""

    #: ``Task 'name'`` or ``callback Transport._read_ready``.
    what: str
    #: The task that blocks, if a task's step is what runs.
    task_name: str | None
    #: How long the loop had been held when this report was made.
    duration: float
    #: False while the block goes on, True in the report made when it ended.
    ended: bool
    #: The loop thread's stack, outermost first, loop internals left out; the
    #: last entry is the blocking line.  Empty in the end report.
    stack: traceback.StackSummary
    #: time.monotonic() when the callback started.
    started: float
    #: In the end report: where the loop thread was at each sample taken
    #: during the block (every ``interval``), most seen first: a small
    #: profile of the stall, as (``file:line in function``, samples).
    profile: tuple[tuple[str, int], ...] = ()
    #: Filled just after the end report: timers that fell due during the
    #: block and so ran late, as (callback name, seconds late).
    late_timers: list[tuple[str, float]] = dataclasses.field(default_factory=list)
    #: Filled just after the end report: the callbacks of descriptors found
    #: ready at the first poll after the block.  When each became ready is
    #: not known (the OS does not say): up to the block's length ago.
    late_io: list[str] = dataclasses.field(default_factory=list)

    @property
    def where(self) -> str:
        """``file:line in function`` of the blocking line."""
        if not self.stack:
            return "unknown"
        frame = self.stack[-1]
        return f"{frame.filename}:{frame.lineno} in {frame.name}"

    def format(self) -> str:
        if self.ended:
            text = f"glassloop: the loop was blocked for {self.duration:.3f} s by {self.what}"
            if self.profile:
                total = sum(count for _, count in self.profile)
                text += f"; where it was ({total} samples):" + "".join(
                    f"\n  {count:4d}  {where}" for where, count in self.profile
                )
            return text
        lines = "".join(self.stack.format()).rstrip()
        return (
            f"glassloop: {self.what} has blocked the loop for {self.duration:.3f} s, "
            f"at {self.where}\n{lines}"
        )


def _blocker_frames(frame: FrameType | None) -> traceback.StackSummary | None:
    """The running callback's own frames, outermost first; None if it has returned.

    They are the frames inside the kernel's dispatch frame, less the
    wrappers that call the callback (Handle._run, a task's step).
    """
    frames: list[FrameType] = []
    while frame is not None and frame.f_code not in _DISPATCH_CODES:
        frames.append(frame)
        frame = frame.f_back
    frames.reverse()
    first = 0
    while first < len(frames) and any(
        part in frames[first].f_code.co_filename.replace("\\", "/") for part in _WRAPPER_FILES
    ):
        first += 1
    if first >= len(frames) or "glassloop/observe/" in frames[-1].f_code.co_filename:
        return None  # only wrappers or our own hooks: the callback is over
    return traceback.StackSummary.extract(
        ((f, f.f_lineno) for f in frames[first:]), lookup_lines=True
    )


#: Records a detector keeps on the tape: enough that the record after a
#: block's is still there when the loop thread ends it (a turn later).
_TAPE_RECORDS = 1024


class BlockingDetector(ClosedOnExit, Hooks):
    """Reports any step or callback that runs longer than ``threshold`` seconds.

    Reports go to the ``glassloop.observe`` logger (a warning while the block
    lasts, another when it ends), to ``callback`` if given (called in the
    watchdog thread while the block lasts, in the loop thread when it ends, or
    in the watchdog or ``close()`` if the loop stopped right after the block),
    and to ``recorder``'s timeline if given.  ``interval`` is how often the
    watchdog samples the loop thread's stack during a block (default: a fifth
    of the threshold, at most 10 ms); between blocks it looks when a block
    could first be due, so a block is reported as it reaches the threshold.
    """

    def __init__(
        self,
        threshold: float = 0.1,
        *,
        loop: Any = None,
        callback: Callable[[BlockReport], object] | None = None,
        recorder: Recorder | None = None,
        interval: float | None = None,
    ) -> None:
        if threshold <= 0:
            raise ValueError("threshold must be positive")
        self.threshold = threshold
        self.interval = interval if interval is not None else min(threshold / 5, 0.01)
        self.callback = callback
        self.recorder = recorder
        #: Reports made so far (start and end reports), newest last; bounded.
        self.reports: list[BlockReport] = []
        self._loop: Any = None
        #: A block (the tape's number of its record) -> its start report, while
        #: the block is reported and not over.  Whoever pops it (the loop
        #: thread, or the watchdog when the loop stopped) ends it.
        self._reported: dict[int, BlockReport] = {}
        #: Block number -> where the loop thread was, sample by sample.
        self._samples: dict[int, collections.Counter[str]] = {}
        #: The last block's end report, until the timers it delayed are known.
        self._last_ended: BlockReport | None = None
        self._polls_since_end = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        #: Held while a block is added to _reported and the hooks attached
        #: (watchdog), and while the hooks are taken off (loop thread).
        self._hooked = threading.Lock()
        #: Held while a block's end is taken and put on the recorder's
        #: timeline (either thread), so that a flush waits for an end being
        #: made: a trace written after a flush has the block.
        self._ending = threading.Lock()
        if loop is not None:
            self.attach(loop)

    # -- attaching ---------------------------------------------------------

    def attach(self, loop: Any) -> None:
        """Watch ``loop``; starts the watchdog thread."""
        if self._loop is not None and self._loop is not loop:
            raise RuntimeError("this BlockingDetector already watches another loop")
        self._loop = loop
        # The tape alone while nothing blocks: the per-turn hooks (ending a
        # block in the loop thread, naming its victims) are attached by the
        # watchdog when it reports a block, and taken off once its victims
        # are known (see _rest).
        share_tape(loop, self, _TAPE_RECORDS)
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(
                target=self._watch, name="glassloop-blocking-detector", daemon=True
            )
            self._thread.start()

    def close(self) -> None:
        """Stop watching and join the watchdog."""
        if self._loop is not None:
            detach(self._loop, self)
            release_tape(self._loop, self)
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join()
        for number in list(self._reported):
            self._end_block(number)  # the loop's last entry blocked: it is over now

    def flush(self) -> None:
        """End the reports of blocks that are over (before writing a trace, say).

        A block the other thread is ending is finished first: its end is on
        the recorder's timeline when this returns.
        """
        with self._ending:
            reported = list(self._reported)
        for number in reported:
            if self._loop is None or not still_running(self._loop, number):
                self._end_block(number)

    # -- the hooks (loop thread, once per turn) ------------------------------

    def poll_waited(self, timeout: float | None, duration: float, nevents: int) -> None:
        if self._reported:
            self._end_blocks(polled=True)
        elif self._last_ended is not None:
            self._polls_since_end += 1
            if self._polls_since_end > 1:
                # The first poll after the block saw what was waiting, and the
                # timers due by then have run: the victims are all known.
                self._last_ended = None
                self._rest()
        else:
            self._rest()  # (a block the watchdog ended: no victims to name)

    def _rest(self) -> None:
        """Off the hooks until the next block, unless one was reported meanwhile."""
        with self._hooked:
            if not self._reported and self._last_ended is None and self._loop is not None:
                detach(self._loop, self)

    def io_ready(self, handles: list[Any]) -> None:
        report = self._last_ended
        if report is None or self._polls_since_end != 1:
            return
        names = [callback_name(h) for h in handles if h is not self._loop_wakeup_handle()]
        if names:
            report.late_io.extend(names)
            logger.warning(
                "glassloop: %d descriptor(s) were ready when the block by %s ended, "
                "served up to %.3f s late: %s",
                len(names),
                report.what,
                report.duration,
                ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else ""),
            )

    def _loop_wakeup_handle(self) -> Any:
        """The loop's own wake-up pipe's handle (a thread-safe call's doorbell, not a victim)."""
        poller = getattr(self._loop, "_poller", None)
        wakeup = getattr(self._loop, "_wakeup_r", None)
        return poller.get_reader(wakeup) if poller is not None and wakeup is not None else None

    def timers_due(self, timers: list[Any]) -> None:
        if self._reported:
            self._end_blocks(polled=False)
        report = self._last_ended
        if report is None:
            return  # (kept until the second poll after the block: see poll_waited)
        now = self._loop.time()
        late = [(callback_name(t), now - t._when) for t in timers]
        late = [(name, by) for name, by in late if by >= self.threshold / 2]
        if late:
            report.late_timers.extend(late)
            worst = max(by for _, by in late)
            names = ", ".join(f"{name} ({by:.3f} s)" for name, by in late[:5])
            more = f" and {len(late) - 5} more" if len(late) > 5 else ""
            logger.warning(
                "glassloop: the block by %s made %d timer(s) run late, up to %.3f s: %s%s",
                report.what,
                len(late),
                worst,
                names,
                more,
            )

    def _end_blocks(self, polled: bool) -> None:
        """The loop thread is between turns: any block reported so far is over."""
        for number in list(self._reported):
            self._end_block(number)
        if self._last_ended is not None:
            # This poll is the first after the block: what it found was waiting.
            self._polls_since_end = 1 if polled else 0

    def _end_block(self, number: int) -> None:
        with self._ending:
            start = self._reported.pop(number, None)
            if start is None:
                return  # the other thread ended it
            end = self._end_of(number)
            in_loop_thread = threading.get_ident() == self._loop._thread_id
            samples = self._samples.pop(number, collections.Counter())
            ended = dataclasses.replace(
                start,
                duration=end - start.started,
                ended=True,
                stack=traceback.StackSummary(),
                profile=tuple(samples.most_common(_PROFILE_LINES)),
                late_timers=[],
                late_io=[],
            )
            if in_loop_thread:
                # Between turns: the victims are what this turn and the next poll find.
                self._last_ended = ended
                self._polls_since_end = 0
            if self.recorder is not None:
                self.recorder.note_block(start.started, end, start.what, start.where)
        self._report(ended)  # (logging, the user's callback: not under the lock)

    def _real_clock(self) -> bool:
        """The loop's clock is ``time.monotonic``: the tape's times are the watchdog's."""
        return bool(self._loop.time is time.monotonic)

    def _end_of(self, record: int) -> float:
        """When the block whose record is number ``record`` ended (``time.monotonic``).

        The next record on the tape began then.  Under another clock (virtual
        time), or if the tape has moved past it, now: the block ended before.
        """
        tape: Tape | None = self._loop.tape
        if self._real_clock() and tape is not None:
            end = tape.time_of(record + 1)
            if end is not None:
                return end
        return time.monotonic()

    # -- the watchdog (its own thread) -------------------------------------

    def _watch(self) -> None:
        watch = EntryWatch(self._loop, self.threshold)
        wait = self.interval
        while not self._stop.wait(wait):
            # Soon again while a block is reported (its samples, its end).
            wait = self.interval
            loop = self._loop
            if loop is None:
                continue
            if self._reported:
                # Ended by the loop thread at its next poll or due timers; a
                # run with neither (no I/O, no timers) ends it from here.
                self.flush()
            if loop.is_closed():
                break  # nothing more to watch: don't outlive the loop
            now_running = watch.look()
            if now_running is None:
                if not self._reported:
                    wait = watch.next_look(None)
                continue
            entry, number, held = now_running
            if held < self.threshold:
                if not self._reported:
                    wait = watch.next_look(held)
                continue
            if number in self._reported:
                self._sample(number)
                continue
            frame = sys._current_frames().get(loop._thread_id)
            stack = _blocker_frames(frame)
            del frame
            # The stack is only the blocker's if the same entry still runs.
            if stack is None or not still_running(loop, number):
                continue
            report = BlockReport(
                what=describe_entry(entry),
                task_name=_task_name(entry),
                duration=held,
                ended=False,
                stack=stack,
                started=watch.since,
            )
            with self._hooked:
                self._samples[number] = collections.Counter([report.where])
                self._reported[number] = report
                attach(loop, self)  # the loop thread ends it, and names its victims
            self._report(report)

    def _sample(self, number: int) -> None:
        """One profile sample of a block already reported: where the loop thread is now."""
        loop = self._loop
        frame = sys._current_frames().get(loop._thread_id)
        stack = _blocker_frames(frame)
        del frame
        if not still_running(loop, number):
            return  # it ended meanwhile: the stack may be the next entry's
        counts = self._samples.get(number)
        if stack and counts is not None:
            last = stack[-1]
            counts[f"{last.filename}:{last.lineno} in {last.name}"] += 1

    def _report(self, report: BlockReport) -> None:
        self.reports.append(report)
        if len(self.reports) > 1000:
            del self.reports[:500]
        logger.warning("%s", report.format())
        if self.callback is not None:
            try:
                self.callback(report)
            except Exception:
                logger.exception("the blocking detector's callback failed")


def _task_name(entry: Any) -> str | None:
    """The name of the task a tape entry belongs to, if any.

    A task's step is on the tape by the task's name (the tape must not keep
    the task alive); a callback that is a task's bound method (a foreign
    task's step, say) belongs to that task.
    """
    if type(entry) is str:
        return entry
    owner = getattr(entry, "__self__", None)
    return owner.get_name() if isinstance(owner, Task) else None


def describe_entry(entry: Any) -> str:
    """A tape entry as a block report names it: ``Task 'name'`` or ``callback f``."""
    name = _task_name(entry)
    if name is not None:
        return f"Task {name!r}"
    return f"callback {callback_name(entry)}"
