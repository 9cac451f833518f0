"""The blocking detector: who holds the loop, caught while they still hold it.

asyncio's debug mode says "Executing <Handle> took 0.5 seconds" after the
fact, with no stack.  Here a watchdog thread looks at what the loop thread is
running (the hooks tell it when each ready callback, a task's step included,
starts and ends) and, once one has run longer than the threshold, takes the
loop thread's stack with ``sys._current_frames()``: its innermost frame is the
blocking line (the ``time.sleep``, the CPU-bound loop, the blocking read).
While the block lasts the watchdog keeps sampling that stack, every
``interval``; the report made when the block ends has its full duration and
that small profile (which lines the time went to), and a last line names
the victims: timers that fell due during the block and ran late, by how much.

The loop waiting in its poller runs no callback, so an idle loop is never
reported.  The hooks only store a tuple; all the work is in the watchdog.
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

from ..kernel.hooks import Hooks
from ..kernel.scheduler import Scheduler
from ..kernel.task import Task
from .attach import ClosedOnExit, attach, detach
from .recorder import Recorder, callback_name

logger = logging.getLogger("glassloop.observe")

#: The kernel's frame that runs each ready callback while observed (hooks,
#: a tape): the blocker's frames are the ones inside it.
_DISPATCH_CODE = Scheduler._run_ready_observed.__code__
#: Wrappers between that frame and the callback's own code (Handle._run, a
#: task's step machinery).
_WRAPPER_FILES = ("glassloop/kernel/task.py", "asyncio/events.py")
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
    while frame is not None and frame.f_code is not _DISPATCH_CODE:
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


class BlockingDetector(ClosedOnExit, Hooks):
    """Reports any step or callback that runs longer than ``threshold`` seconds.

    Reports go to the ``glassloop.observe`` logger (a warning while the block
    lasts, another when it ends), to ``callback`` if given (called in the
    watchdog thread while the block lasts, in the loop thread when it ends),
    and to ``recorder``'s timeline if given.  ``interval`` is how often the
    watchdog looks (default: a fifth of the threshold, at most 10 ms).
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
        #: (sequence number, start time, entry) of the callback running now, or None.
        self._running: tuple[int, float, Any] | None = None
        self._seq = 0
        #: Sequence number -> its start report, while the block is reported and not over.
        self._reported: dict[int, BlockReport] = {}
        #: Sequence number -> where the loop thread was, sample by sample.
        self._samples: dict[int, collections.Counter[str]] = {}
        #: The last block's end report, until the timers it delayed are known.
        self._last_ended: BlockReport | None = None
        self._polls_since_end = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        if loop is not None:
            self.attach(loop)

    # -- attaching ---------------------------------------------------------

    def attach(self, loop: Any) -> None:
        """Watch ``loop``; starts the watchdog thread."""
        if self._loop is not None and self._loop is not loop:
            raise RuntimeError("this BlockingDetector already watches another loop")
        self._loop = loop
        attach(loop, self)
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
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join()

    # -- the hooks (loop thread) -------------------------------------------

    def callback_started(self, handle: Any) -> None:
        self._seq += 1
        self._running = (self._seq, time.monotonic(), handle)

    def callback_ran(self, handle: Any, duration: float) -> None:
        running = self._running
        self._running = None
        if running is None or not self._reported:
            return
        start = self._reported.pop(running[0], None)
        if start is not None:
            end = time.monotonic()
            samples = self._samples.pop(running[0], collections.Counter())
            ended = dataclasses.replace(
                start,
                duration=end - running[1],
                ended=True,
                stack=traceback.StackSummary(),
                profile=tuple(samples.most_common(_PROFILE_LINES)),
                late_timers=[],
                late_io=[],
            )
            self._last_ended = ended
            self._polls_since_end = 0
            self._report(ended)
            if self.recorder is not None:
                self.recorder.note_block(running[1], end, start.what, start.where)

    def poll_waited(self, timeout: float | None, duration: float, nevents: int) -> None:
        if self._last_ended is not None:
            self._polls_since_end += 1
            if self._polls_since_end > 1:
                # The first poll after the block saw what was waiting, and the
                # timers due by then have run: the victims are all known.
                self._last_ended = None

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

    # -- the watchdog (its own thread) -------------------------------------

    def _watch(self) -> None:
        while not self._stop.wait(self.interval):
            if self._loop is not None and self._loop.is_closed():
                break  # nothing more to watch: don't outlive the loop
            running = self._running
            if running is None:
                continue
            seq, started, handle = running
            held = time.monotonic() - started
            if held < self.threshold:
                continue
            if seq in self._reported:
                self._sample(seq)
                continue
            loop_thread = self._loop._thread_id if self._loop is not None else None
            if loop_thread is None:
                continue
            frame = sys._current_frames().get(loop_thread)
            # The stack is only the blocker's if the same callback still runs.
            running_now = self._running
            if running_now is None or running_now[0] != seq:
                continue
            stack = _blocker_frames(frame)
            del frame
            if stack is None:
                continue
            report = BlockReport(
                what=_describe(handle),
                task_name=_task_name(handle),
                duration=held,
                ended=False,
                stack=stack,
                started=started,
            )
            self._samples[seq] = collections.Counter([report.where])
            self._reported[seq] = report
            self._report(report)
            running_now = self._running
            ended_meanwhile = running_now is None or running_now[0] != seq
            if ended_meanwhile and self._reported.pop(seq, None) is not None:
                self._samples.pop(seq, None)
                # It ended between our look and the entry above, so the loop
                # thread did not see the entry: the end is reported from here.
                self._report(
                    dataclasses.replace(
                        report,
                        duration=time.monotonic() - started,
                        ended=True,
                        stack=traceback.StackSummary(),
                    )
                )

    def _sample(self, seq: int) -> None:
        """One profile sample of a block already reported: where the loop thread is now."""
        loop_thread = self._loop._thread_id if self._loop is not None else None
        if loop_thread is None:
            return
        frame = sys._current_frames().get(loop_thread)
        running = self._running
        if frame is None or running is None or running[0] != seq:
            return
        stack = _blocker_frames(frame)
        del frame
        counts = self._samples.get(seq)
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


def _task_of(handle: Any) -> Any:
    if isinstance(handle, Task):
        return handle
    owner = getattr(getattr(handle, "_callback", None), "__self__", None)
    return owner if isinstance(owner, Task) else None


def _task_name(handle: Any) -> str | None:
    task = _task_of(handle)
    return None if task is None else task.get_name()


def _describe(handle: Any) -> str:
    name = _task_name(handle)
    if name is not None:
        return f"Task {name!r}"
    return f"callback {callback_name(handle)}"
