"""Virtual time: a clock that jumps to the next deadline when the program is durably idle.

Owns :class:`VirtualClock` (the kernel's clock seam, ``kernel/clock.py``) and
:class:`Deadlock`, what a virtual-time loop raises when nothing can ever wake
it.  ``glassloop.new_event_loop(virtual_time=True)`` and
``glassloop.run(main(), virtual_time=True)`` build a loop on this clock.

The hard part is not jumping; it is knowing when a jump cannot be noticed.
A jump is a claim that nothing would have happened before the deadline, and
a clock that jumps while a thread is still working hands out timeouts that a
real loop would never give (trio's MockClock does, trio#456).  So the clock
asks the loop what could still wake it (``Scheduler._outside_work``) and jumps
only when the answer is "nothing but the timers": Go's ``testing/synctest``
calls that being durably blocked.
"""

from __future__ import annotations

import asyncio
import concurrent.futures.thread
import math
import numbers
import threading
import time
import weakref
from typing import Any

from ..kernel.scheduler import HUGE_DEADLINE, Scheduler

_monotonic = time.monotonic
#: What a ThreadPoolExecutor's worker threads run; its jobs are counted, not its threads.
_executor_worker = concurrent.futures.thread._worker
_PROCESS_POOL = "concurrent.futures.process"
#: The kernel files a deadline this large with infinity's (its bucket is never
#: due): jumping there would leave a timer that never fires and a loop that spins.
_NEVER_DUE = HUGE_DEADLINE
#: While outside work is pending, the longest real wait before looking again.
_RECHECK = 0.005
#: How many waiting tasks a Deadlock's message names.
_TASKS_SHOWN = 20


class Deadlock(RuntimeError):
    """Under virtual time, the loop would wait forever: nothing can ever wake it.

    Raised out of ``run_until_complete`` (``glassloop.run``, ``asyncio.run``)
    instead of blocking: nothing is ready, no timer is pending, and there is
    no executor job, thread, child process, file descriptor or signal handler
    left that could make anything ready.  A real loop would hang there; the
    message names the tasks that are waiting.
    """


class VirtualClock:
    """A clock that stands still, and jumps to the next deadline when the program is durably idle.

    Time starts at ``start`` and moves in two ways only:

    - **Jumps.**  When the loop would block and the program is *durably
      idle*, the clock jumps exactly to the earliest timer's deadline and the
      real wait is 0: a timer fires with ``loop.time()`` equal to its
      deadline, and an hour's sleep takes no wall time.
    - **Real waits.**  When the loop would block and the program is *not*
      durably idle, the poll blocks for real, as on a real clock, and virtual
      time runs at the speed of real time until the loop next asks how long
      to block.  So a timeout around work that really takes 50 ms fires only
      if the timeout is shorter than the work really is, as under asyncio.
      While executor jobs, children or threads are pending, a real wait lasts
      at most 5 ms before the clock looks again: a thread may end without
      waking the loop.

    Between these, while callbacks run, time does not move: a program that
    never lets the loop block (``while True: await asyncio.sleep(0)``) sees
    the same ``loop.time()`` forever.

    **Durably idle** means that nothing outside the loop's timers can make
    a callback ready:

    - nothing is ready (no callback queued, no thread-safe call pending);
    - no executor job is outstanding: ``run_in_executor``, ``to_thread`` and
      ``getaddrinfo`` jobs count from submission until their result is
      queued to the loop;
    - no child process is running (one counts from spawn until reaped);
    - no thread started since the clock was attached to its loop is alive,
      other than an executor's own threads (its jobs are counted instead):
      such a thread may still call ``call_soon_threadsafe``.  Threads that were
      already running when the loop was made are outside the program and
      are not waited for;
    - no file descriptor carrying I/O is registered (sockets, pipes,
      ``add_reader``): the peer could still answer.  The loop's own wake-up
      pipe does not count, and neither does the signal pipe (a signal may
      come at any time, so any time is as good as another);
    - and a last look at I/O (a poll with no wait) finds nothing already
      readable: a real poll would have seen it before any deadline.

    With file descriptors registered, ``autojump_threshold`` (seconds of real
    time, default ``None``: never) allows a jump anyway once the loop has
    waited that long for I/O and none came, as trio's MockClock does; while
    it waits for the threshold, virtual time stands still.  This is for
    programs that keep idle sockets open (a listening server); it is a
    heuristic, and a peer slower than the threshold meets a timeout that
    fired early.

    **Deadlock.**  When the program is durably idle and no timer is pending,
    a real loop would block forever.  This clock raises :class:`Deadlock`
    (from ``run_until_complete``), naming the waiting tasks, unless a signal
    handler is installed (a signal is then the one thing left that can wake
    the loop, so it blocks for real, as a real loop would) or
    ``raise_on_deadlock=False`` (then it always blocks).

    Not seen, so not waited for: jobs submitted to an executor directly
    (``executor.submit`` without ``run_in_executor``), threads that existed
    before the loop was made, and threads created outside Python.

    A clock serves one loop: it is attached when the loop is built with it
    (``new_event_loop(virtual_time=clock)``, ``Loop(clock=clock)``).
    ``jumps`` counts the jumps it made.
    """

    resolution: float
    jumps: int
    raise_on_deadlock: bool
    _threshold: float | None
    _now: float
    _flow_start: float | None
    _quiet_since: float | None
    _watching: bool
    _loop: Scheduler | None

    def __init__(
        self,
        *,
        start: float = 0.0,
        autojump_threshold: float | None = None,
        raise_on_deadlock: bool = True,
    ) -> None:
        if not isinstance(start, numbers.Real) or isinstance(start, bool):
            raise TypeError(f"start must be a real number, not {type(start).__name__}")
        if not math.isfinite(start):
            raise ValueError(f"start must be finite, not {start!r}")
        if not isinstance(raise_on_deadlock, bool):
            raise TypeError(
                f"raise_on_deadlock must be a bool, not {type(raise_on_deadlock).__name__}"
            )
        #: Timers due within this much of now are due; jumps land exactly on
        #: deadlines, so this only absorbs float rounding.
        self.resolution = 1e-9
        self.autojump_threshold = autojump_threshold
        self.raise_on_deadlock = raise_on_deadlock
        #: How many times the clock jumped to a deadline.
        self.jumps = 0
        self._now = float(start)
        #: The real time a real wait began; virtual time flows from it until
        #: the next wait_timeout.  None while time stands still.
        self._flow_start = None
        #: With descriptors and a threshold: the real time the loop began to
        #: wait for I/O that has not come.
        self._quiet_since = None
        #: True while a threshold wait is on: time() then notices I/O arriving.
        self._watching = False
        self._loop = None
        self._outside_threads: weakref.WeakSet[threading.Thread] = weakref.WeakSet()

    @property
    def autojump_threshold(self) -> float | None:
        """Seconds of real time without I/O after which a jump is allowed anyway; None: never."""
        return self._threshold

    @autojump_threshold.setter
    def autojump_threshold(self, value: float | None) -> None:
        if value is not None:
            if not isinstance(value, numbers.Real) or isinstance(value, bool):
                raise TypeError(
                    f"autojump_threshold must be None or a number of seconds, "
                    f"not {type(value).__name__}"
                )
            if not value >= 0.0 or value == math.inf:
                raise ValueError(
                    f"autojump_threshold must be a finite number of seconds >= 0, not {value!r}"
                )
            value = float(value)
        self._threshold = value

    def __repr__(self) -> str:
        return (
            f"<VirtualClock time={self.time()!r} jumps={self.jumps} "
            f"autojump_threshold={self._threshold!r}>"
        )

    # -- the clock seam ------------------------------------------------------

    def attach(self, scheduler: Scheduler) -> None:
        """Called by the scheduler that installs this clock (kernel/clock.py)."""
        if self._loop is scheduler:
            return
        if self._loop is not None:
            raise RuntimeError(f"this VirtualClock already serves {self._loop!r}: make a new one")
        self._loop = scheduler
        # Threads running now are outside the program: not waited for.
        self._outside_threads = weakref.WeakSet(threading.enumerate())

    def time(self) -> float:
        start = self._flow_start
        if start is not None:
            return self._now + (_monotonic() - start)
        if self._watching and self._loop is not None and self._loop._ready:
            # Read right after the poll of a threshold wait: I/O came, so the
            # loop was not idle; the threshold starts over.
            self._quiet_since = None
            self._watching = False
        return self._now

    def wait_timeout(self, timeout: float | None) -> float | None:
        start = self._flow_start
        if start is not None:
            self._now += _monotonic() - start
            self._flow_start = None
        self._watching = False
        if timeout == 0.0:  # callbacks are ready: a peek at I/O, no waiting
            self._quiet_since = None
            return timeout
        loop = self._loop
        if loop is None or loop._clock is not self:
            # Never attached, or ``loop.time`` was patched over us: the timers
            # follow another time, so answer as a real clock.
            return timeout
        # Outside work first, the ready queue after: work that ends queues its
        # result before it stops counting, so one of the two always shows it.
        jobs, io_fds, signal_fds = loop._outside_work()
        if jobs or self._threads_running():
            self._quiet_since = None
            # Not as long as the timeout: a thread can end without waking the
            # loop, and an executor job stops counting just after it queued its
            # result (which the loop may already have run).
            if timeout is None or timeout > _RECHECK:
                timeout = _RECHECK
            return self._wait_for_real(timeout)
        if loop._ready:
            return 0.0  # a thread-safe call landed after the scheduler looked
        deadline = None if timeout is None else loop._next_deadline()
        if deadline is not None and deadline >= _NEVER_DUE:
            deadline = None  # call_at(inf): never due, so no deadline to jump to
        if io_fds:
            threshold = self._threshold
            if threshold is None or deadline is None:
                self._quiet_since = None
                return self._wait_for_real(timeout)
            real = _monotonic()
            since = self._quiet_since
            if since is None:
                since = self._quiet_since = real
            remaining = since + threshold - real
            if remaining > 0.0:
                # Wait for I/O with time standing still; time() notices if it comes.
                self._watching = True
                return remaining
        self._quiet_since = None
        if (io_fds or signal_fds) and loop._poller.poll(0.0):
            # Already readable: a real poll would see it before any deadline.
            # (Level-triggered: the scheduler's own poll returns it again.)
            return 0.0
        if deadline is None:
            if signal_fds or not self.raise_on_deadlock:
                return self._wait_for_real(timeout)
            raise Deadlock(_describe_deadlock(loop))
        self._jump_to(deadline)
        return 0.0

    # -- helpers ---------------------------------------------------------------

    def _wait_for_real(self, timeout: float | None) -> float | None:
        """Let the poll block for real, with virtual time flowing at real speed meanwhile."""
        self._flow_start = _monotonic()
        return timeout

    def _jump_to(self, deadline: float) -> None:
        if deadline <= self._now:
            return  # real time already carried us there
        if deadline + self.resolution <= deadline:
            # So large that the resolution is lost in rounding: one step past
            # it, or the timer would never count as due and the loop would spin.
            deadline = math.nextafter(deadline, math.inf)
        self._now = deadline
        self.jumps += 1

    def _threads_running(self) -> bool:
        """Is a thread of the program's own alive, one that may still wake the loop?"""
        outside = self._outside_threads
        current = threading.current_thread()
        for thread in threading.enumerate():
            if thread is current or thread in outside:
                continue
            if isinstance(thread, threading._DummyThread):
                continue  # made outside Python: nothing tells when it is done
            if _is_executor_machinery(thread):
                continue  # an executor's: its jobs are what count
            return True
        return False


def _is_executor_machinery(thread: threading.Thread) -> bool:
    """A thread that lives as long as an executor, not as long as a job.

    A thread pool's workers, a process pool's manager thread and the feeder
    thread of its call queue wait, idle, until the executor shuts down; the
    jobs they run are counted by the loop (run_in_executor), so the threads
    must not hold time back for as long as the executor exists.
    """
    target = getattr(thread, "_target", None)
    if target is _executor_worker:
        return True
    if target is not None:
        return (
            getattr(target, "__module__", None) == "multiprocessing.queues"
            and getattr(target, "__qualname__", None) == "Queue._feed"
        )
    kind = type(thread)
    return kind.__name__ == "_ExecutorManagerThread" and kind.__module__ == _PROCESS_POOL


def _describe_deadlock(loop: Any) -> str:
    try:
        tasks = [task for task in asyncio.all_tasks(loop) if not task.done()]
    except Exception:  # a bare Scheduler has no asyncio tasks to list
        tasks = []
    lines = [
        "virtual time: the loop would wait forever: nothing is ready, no timer is "
        "pending, and no executor job, thread, child process, file descriptor or "
        "signal handler is left that could wake it",
    ]
    if tasks:
        lines.append(f"{len(tasks)} task(s) waiting:")
        lines.extend(f"  {task!r}" for task in tasks[:_TASKS_SHOWN])
        if len(tasks) > _TASKS_SHOWN:
            lines.append(f"  ... and {len(tasks) - _TASKS_SHOWN} more")
    else:
        lines.append("no task is waiting")
    return "\n".join(lines)
