"""The scheduler: a ready queue, a timer heap, and one turn of the loop.

This is the course text's ``Scheduler`` grown up.  The text kept a queue of
tasks and stepped them; here the queue holds callbacks (a task's step is one),
timers wait in a heap until due, and when nothing is ready the poller sleeps
until I/O or the next timer.  One turn (:meth:`Scheduler._run_once`) is:

1. drop cancelled timers (lazily, compacting the heap when they dominate);
2. poll I/O, blocking only if nothing is ready (and skipping the syscall when no
   descriptor is registered and there is nothing to wait for);
3. move due timers to the ready queue;
4. run the callbacks that were ready at the start of step 4, in FIFO order.

It knows nothing of sockets, asyncio policies or frameworks.  Queued objects
need ``_cancelled`` and ``_run()``; timers add ``_when`` and ``_scheduled``
(asyncio's ``Handle``/``TimerHandle`` fit).

Timers are kept in buckets of 1/1024 s: a dict maps a bucket's key (the
floor of ``when * 1024``, a float) to its timer or list of timers, and a heap
holds each key once.  A bucket is sorted by deadline only when it falls due
(or when the next deadline is asked for), and the bucket the clock is inside
stays sorted, latest first, so that each turn takes its due timers off the
end.  Why not a heap of timers, as asyncio has: ordering ``TimerHandle``s
calls a Python ``__lt__`` log n times per push and pop, ``(when, seq,
timer)`` tuples are one more object per timer for the garbage collector to
trace, and a dict keyed by exact deadlines (this module's previous design)
is as large as the number of timers, so with 200k pending every push and pop
missed the cache.  Timers due within one bucket share one small dict entry,
and sorting a bucket runs in C.
"""

from __future__ import annotations

import asyncio
import contextvars
import heapq
import inspect
import numbers
import operator
import sys
import time
import types
from asyncio import format_helpers
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

from ._compiled import set_class_attributes
from .clock import Clock, MonotonicClock, PatchedClock
from .hooks import ENTRY_HOOKS, TASK_HOOKS, Hooks
from .poller import EpollPoller, Poller, default_poller
from .ready import FifoPolicy, ReadyPolicy
from .tape import Tape

try:  # the optional compiled build (setup.py): Cython reads this as a constant
    import cython  # type: ignore[import-not-found, import-untyped, unused-ignore]
except ImportError:  # pure Python, Cython not installed
    from ._compiled import cython_shim as cython


#: Below this many cancelled timers the heap is never rebuilt ...
_MIN_CANCELLED_TO_COMPACT = 100
#: ... above it, it is rebuilt when cancelled timers are this share of the heap.
_CANCELLED_SHARE_TO_COMPACT = 0.5
#: The longest single wait: some kernels reject larger epoll/select timeouts.
_MAX_WAIT = 24 * 3600.0
#: Buckets per second (a power of two, so ``when * _BUCKETS`` is exact).
_BUCKETS = 1024.0
#: Beyond this magnitude a deadline goes to the bucket at +/- infinity.
_HUGE = 1e300
#: The same, for other modules (compiled, ``_HUGE`` is a C double, which
#: nothing outside the module can import: scheduler.pxd).
HUGE_DEADLINE = _HUGE
_when_of = operator.attrgetter("_when")
# (Module globals: ``heapq.heappush`` is a module attribute lookup per call,
# some 240 instructions compiled, as much as the push itself.)
_heappush = heapq.heappush
_heappop = heapq.heappop
_heapify = heapq.heapify
#: ``range(n)`` for the usual sizes of a ready batch, made once: building a
#: range costs about 600 instructions (its length is computed with generic
#: integer arithmetic), as much as running a small callback, and a turn that
#: wakes one task builds one.
_BATCH_RANGES = tuple(range(n) for n in range(256))


def _bucket_key(when: Any) -> float:
    """The bucket of any deadline _check_deadline accepts (the slow path of _push_timer)."""
    real = float(when)
    if real >= _HUGE:
        return float("inf")
    if real <= -_HUGE:
        return float("-inf")
    return (real * _BUCKETS) // 1.0


def _insert_latest_first(bucket: list[Any], timer: Any, when: Any) -> None:
    """Insert into a bucket sorted latest first, after (so run after) equal deadlines."""
    lo, hi = 0, len(bucket)
    while lo < hi:
        mid = (lo + hi) // 2
        if bucket[mid]._when > when:
            lo = mid + 1
        else:
            hi = mid
    bucket.insert(lo, timer)


def _attach(clock: Clock, scheduler: Scheduler) -> None:
    """Hand the scheduler to a clock that asks for it (see kernel/clock.py)."""
    attach = getattr(clock, "attach", None)
    if attach is not None:
        attach(scheduler)


def _check_deadline(when: object) -> None:
    """Refuse a deadline the heap cannot order (it would break every later turn)."""
    # Decimal is a number that is not registered as Real (it is not Complex
    # either); asyncio takes it as a deadline, so glassloop does too.
    real_number = isinstance(when, numbers.Real) or (
        isinstance(when, numbers.Number) and not isinstance(when, numbers.Complex)
    )
    if not real_number:
        raise TypeError(f"a timer's time must be a real number, not {type(when).__name__}")
    if when != when:
        raise ValueError("a timer's time must not be NaN")
    # It will be compared with the clock's floats, maybe before any other
    # timer is pending: make it fail here, not in a later turn.
    real: Any = when
    float(real)  # OverflowError for an int too large for any clock
    try:
        real < 0.0  # noqa: B015
        real > 0.0  # noqa: B015
    except Exception as exc:
        raise TypeError(f"a timer's time must compare with floats: {exc}") from exc


_Future = asyncio.Future
_get_running_loop = asyncio.events._get_running_loop
#: Whether the C future's own search for the running loop costs a system
#: call.  On 3.11 each lookup checks the process id (a forked child must not
#: use its parent's loop), a getpid; from 3.12 the running loop lives in the
#: thread state and nothing is asked of the OS.  Where it costs one, the
#: kernel gives a future its loop (a keyword, so a dict); where it does not,
#: the running loop's futures find it themselves, which is cheaper.
LOOP_LOOKUP_IS_A_SYSCALL = sys.version_info < (3, 12)
_MethodType = types.MethodType
_FunctionType = types.FunctionType
_BuiltinMethodType = types.BuiltinMethodType
_copy_context = contextvars.copy_context
_time_monotonic = time.monotonic
_Context = contextvars.Context
_CO_COROUTINE_FLAGS = inspect.CO_COROUTINE | inspect.CO_ITERABLE_COROUTINE
#: Set by task.py: the function behind a task's wake-up (see call_soon).
_wakeup_function: Any = None


# Compiled, freed handles are kept for reuse, as uvloop's are: no allocation,
# and none counted towards the collector's next pass (TimerHandle, a
# subclass, cannot have a freelist of its own).
@cython.freelist(256)
@cython.cclass
class Handle:
    """A ready callback: asyncio's ``Handle``, with its step compiled in a compiled build."""

    __slots__ = (
        "__weakref__",
        "_args",
        "_callback",
        "_cancelled",
        "_context",
        "_loop",
        "_repr",
        "_source_traceback",
    )
    if TYPE_CHECKING:  # (compiled, these are the fields scheduler.pxd declares)
        _args: tuple[Any, ...]
        _callback: Any
        _cancelled: bool
        _context: Any
        _loop: Any
        _repr: str | None
        _source_traceback: Any

    # asyncio's repr, field for field, so that a log reads alike on both
    # loops.  (Written here, not asyncio's functions put in the class: a
    # compiled class keeps its C repr slot whatever its namespace says.)
    def _repr_info(self) -> list[str]:
        info = [type(self).__name__]
        if self._cancelled:
            info.append("cancelled")
        if self._callback is not None:
            info.append(format_helpers._format_callback_source(self._callback, self._args))
        if self._source_traceback:
            filename, lineno = self._source_traceback[-1][:2]
            info.append(f"created at {filename}:{lineno}")
        return info

    def __repr__(self) -> str:
        if self._repr is not None:  # (kept by a debug loop's cancel)
            return self._repr
        return f"<{' '.join(self._repr_info())}>"

    def cancel(self) -> None:
        # asyncio's Handle.cancel, here so that a compiled build runs it in C
        # (every cancelled timer comes here: an HTTP server's keep-alive timer
        # once a request).  A cancelled handle may wait in a queue a long
        # time: it lets go of its callback and arguments at once, after a
        # debug loop has kept its repr (which names them) for its logs.
        if not self._cancelled:
            self._cancelled = True
            if self._loop.get_debug():
                self._repr = repr(self)
            self._callback = None
            self._args = None  # type: ignore[assignment]

    def get_context(self) -> Any:
        return self._context

    def cancelled(self) -> bool:
        return self._cancelled

    if not cython.compiled:

        def _run(self) -> None:
            try:
                args = self._args
                if args:
                    self._context.run(self._callback, *args)
                else:
                    self._context.run(self._callback)
            except (SystemExit, KeyboardInterrupt):
                raise
            except BaseException as exc:
                self._report(exc)

    else:
        # Compiled: the same steps, entering a Context in C (scheduler.pxd)
        # where ``context.run`` makes a bound method per callback; any other
        # context object still gets its ``run``, and its error if it has none.

        def _run(self) -> None:
            context = self._context
            try:
                if type(context) is not _Context:
                    args = self._args
                    if args:
                        context.run(self._callback, *args)
                    else:
                        context.run(self._callback)
                    return
                _context_enter(context)  # noqa: F821 (scheduler.pxd's, as below)
                try:
                    args = self._args
                    if args:
                        self._callback(*args)
                    else:
                        self._callback()
                finally:
                    _context_exit(context)  # noqa: F821
            except (SystemExit, KeyboardInterrupt):
                raise
            except BaseException as exc:
                self._report(exc)

    def _report(self, exc: BaseException) -> None:
        cb = format_helpers._format_callback_source(self._callback, self._args)
        context: dict[str, Any] = {
            "message": f"Exception in callback {cb}",
            "exception": exc,
            "handle": self,
        }
        if self._source_traceback:
            context["source_traceback"] = self._source_traceback
        self._loop.call_exception_handler(context)


class TimerHandle(Handle):
    """A timer: asyncio's ``TimerHandle``, with its step compiled in a compiled build."""

    __slots__ = ("_scheduled", "_when")
    _scheduled: bool
    _when: Any

    def when(self) -> float:
        return self._when  # type: ignore[no-any-return]

    def cancel(self) -> None:
        if not self._cancelled:
            if cython.compiled:
                # Only a kernel makes these.  (Typed, and called through the
                # class: a C call, no check for an override.)
                kernel: Scheduler = self._loop
                Scheduler._timer_handle_cancelled(kernel, self)
            else:
                self._loop._timer_handle_cancelled(self)
        Handle.cancel(self)

    def _repr_info(self) -> list[str]:
        info = Handle._repr_info(self)
        info.insert(2 if self._cancelled else 1, f"when={self._when}")
        return info

    # Hashed and ordered by deadline as asyncio's timers are, and comparable
    # with them (a debug loop's timers are asyncio's own).  asyncio's
    # functions cannot serve: they test for asyncio's class, and call super().

    def __hash__(self) -> int:
        return hash(self._when)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, _TIMER_CLASSES):
            return NotImplemented
        them: Any = other
        return bool(
            self._when == them._when
            and self._callback == them._callback
            and self._args == them._args
            and self._cancelled == them._cancelled
        )

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, _TIMER_CLASSES):
            return NotImplemented
        return bool(self._when < cast(Any, other)._when)

    def __le__(self, other: object) -> bool:
        if not isinstance(other, _TIMER_CLASSES):
            return NotImplemented
        return bool(self._when < cast(Any, other)._when or self == other)

    def __gt__(self, other: object) -> bool:
        if not isinstance(other, _TIMER_CLASSES):
            return NotImplemented
        return bool(self._when > cast(Any, other)._when)

    def __ge__(self, other: object) -> bool:
        if not isinstance(other, _TIMER_CLASSES):
            return NotImplemented
        return bool(self._when > cast(Any, other)._when or self == other)


_TIMER_CLASSES = (TimerHandle, asyncio.TimerHandle)


def watch_handle(callback: Any, args: tuple[Any, ...], loop: Any) -> Any:
    """The handle a poller holds for a watched fd: a kernel Handle in the current context.

    Not asyncio's: the ready batch steps a kernel Handle with a C call in a
    compiled build, and an fd's handle runs once per event (every read of
    every connection).  The loop's ``_watch`` checks the callback.
    """
    handle: Any = Handle()
    handle._callback = callback
    handle._args = args
    handle._cancelled = False
    handle._loop = loop
    handle._repr = None
    handle._source_traceback = None
    handle._context = _copy_context()
    return handle


def _unreachable_handle() -> Any:
    handle: Any = Handle()
    handle._callback = handle._loop = handle._repr = handle._source_traceback = None
    handle._context = None
    handle._args = ()
    handle._cancelled = True
    return handle


_UNREACHABLE_HANDLE = _unreachable_handle()


class Scheduler:
    """The kernel of a glassloop loop (ring 1); ``glassloop.Loop`` builds on it."""

    # Slots for the state every turn reads.  The loop above has a __dict__
    # as well (asyncio's AbstractEventLoop has no slots, and callers may set
    # attributes on loops), and on 3.11 an instance dict past 30 keys loses
    # its shared-key layout: every attribute read in it then costs a hashed
    # lookup (one attribute more made the call_soon chain 5 % slower).  Kept
    # here, these never count against that limit.
    __slots__ = (
        "__dict__",
        "_cancelled_timers",
        "_careful",
        "_clock",
        "_closed",
        "_debug",
        "_entry_hooks",
        "_entry_tasks",
        "_hooks",
        "_inline_batch",
        "_internal_fds",
        "_observed",
        "_on_ran",
        "_on_scheduled",
        "_on_started",
        "_on_step_ended",
        "_on_step_started",
        "_on_task_done",
        "_polled_last_turn",
        "_poller",
        "_ready",
        "_ready_policy",
        "_reorder",
        "_sorted_key",
        "_stopping",
        "_tape",
        "_task_factory",
        "_task_hooks",
        "_thread_id",
        "_timer_total",
        "_timers",
        "_timers_at",
    )

    #: Callbacks slower than this are logged when the loop is in debug mode.
    slow_callback_duration = 0.1

    def __init__(
        self,
        *,
        clock: Clock | None = None,
        ready_policy: ReadyPolicy | None = None,
        hooks: Hooks | None = None,
        poller: Poller | None = None,
    ) -> None:
        if clock is not None:
            _attach(clock, self)  # first: a clock that refuses leaves nothing half made
        self._ready: deque[Any] = deque()
        if cython.compiled:
            # A deque has no C API: the methods the hot path calls, bound
            # once (called by name, each call would look the method up).
            self._ready_append = self._ready.append
            self._ready_extend = self._ready.extend
            self._ready_popleft = self._ready.popleft
        #: A heap of bucket keys, each once ...
        self._timers: list[float] = []
        #: ... and each bucket's timer, or list of timers: in the order they
        #: were scheduled (a stable sort by deadline then keeps FIFO among
        #: equal deadlines), except the one named by ``_sorted_key``.
        self._timers_at: dict[float, Any] = {}
        #: The bucket kept sorted latest first (equal deadlines latest
        #: scheduled first), so due timers come off its end; ``None`` if none.
        self._sorted_key: float | None = None
        #: How many timers the two hold (cancelled ones until dropped).
        self._timer_total = 0
        self._cancelled_timers = 0
        self._stopping = False
        self._closed = False
        #: The thread inside run_forever, None while the loop is not running.
        self._thread_id: int | None = None
        #: What loop.create_task hands the coroutine to, None for Task itself
        #: (read in C by task.py's loop_create_task once per task).
        self._task_factory: Any = None
        self._hooks: Hooks | None = None
        self._task_hooks: Hooks | None = None
        self._tape: Tape | None = None
        self._set_debug_flag(False)
        # Descriptors the loop registers for itself (the wake-up fd): they don't
        # make a poll worth a syscall when callbacks are already waiting.
        self._internal_fds = 0
        self._polled_last_turn = False
        self._clock: Clock = clock if clock is not None else MonotonicClock()
        self._poller: Poller = poller if poller is not None else default_poller()
        self._ready_policy: ReadyPolicy = FifoPolicy()
        self._reorder = False
        if ready_policy is not None:
            self.set_ready_policy(ready_policy)
        if hooks is not None:
            self.set_hooks(hooks)

    # -- the seams --------------------------------------------------------

    @property
    def clock(self) -> Clock:
        return self._clock

    def set_clock(self, clock: Clock) -> None:
        """Swap the clock; only sensible before timers are scheduled."""
        self._clock = clock
        _attach(clock, self)

    @property
    def ready_policy(self) -> ReadyPolicy:
        return self._ready_policy

    def set_ready_policy(self, policy: ReadyPolicy) -> None:
        self._ready_policy = policy
        self._reorder = type(policy) is not FifoPolicy

    @property
    def hooks(self) -> Hooks | None:
        return self._hooks

    def set_hooks(self, hooks: Hooks | None) -> None:
        """Attach an observer; ``None`` (or a bare :class:`Hooks`) detaches it."""
        self._hooks = None if hooks is None or type(hooks) is Hooks else hooks
        self._update_careful()

    @property
    def tape(self) -> Tape | None:
        return self._tape

    def set_tape(self, tape: Tape | None) -> None:
        """Record every ready entry and poll on ``tape`` (a :class:`Tape`); ``None`` stops.

        The cheapest observer there is, for one that must stay on (the flight
        recorder): no hook call and no new object per entry, one record of
        objects that exist anyway (what a record holds: tape.py).  The tape
        holds nothing that would otherwise die young: not a Handle (Handles
        and tuples made per entry and kept for a while fill the collector's
        young generation and trigger full collections), and not a task,
        whose coroutine, context and result would outlive it by a ring's
        length.  Hooks and a tape can be set together.
        """
        if tape is not None and not isinstance(tape, Tape):
            raise TypeError(f"a tape is a glassloop.kernel.tape.Tape, not {type(tape).__name__}")
        self._tape = tape
        self._update_careful()

    # -- what the kernel needs of the loop above it ------------------------

    # ``loop.time`` is the clock's own time function, handed out by a C
    # getter (no Python frame per call), and assignable: asyncio's way of
    # faking time, ``loop.time = fake`` or ``mock.patch.object(loop, "time")``,
    # swaps in a PatchedClock so the timers follow the fake (the clock seam,
    # set_clock, is the documented way).
    def _patch_time(self, time_function: Callable[[], float]) -> None:
        if not callable(time_function):
            raise TypeError(f"loop.time must be callable, not {type(time_function).__name__}")
        clock = self._clock
        while type(clock) is PatchedClock:
            if time_function is clock.previous.time:  # the original put back by hand
                self._clock = clock.previous
                return
            clock = clock.previous
        self._clock = PatchedClock(time_function, self._clock)

    def _unpatch_time(self) -> None:
        clock = self._clock
        if type(clock) is not PatchedClock:
            raise AttributeError("loop.time was not assigned: there is nothing to delete")
        self._clock = clock.previous

    # (``time`` itself is set after the class: a compiled build turns a
    # class attribute made by a call into an instance attribute.)

    def get_debug(self) -> bool:
        return self._debug

    def is_running(self) -> bool:
        # Here rather than in loop.py for the compiled build's sake: from 3.12
        # asyncio's C Task made with eager_start=True (aiohttp makes one per
        # request) calls loop.is_running() from C, where a Python method
        # costs a frame.
        return self._thread_id is not None

    def _set_debug_flag(self, enabled: bool) -> None:
        self._debug = bool(enabled)
        # Every C future asks its loop get_debug() when it is made (a task
        # too).  Interpreted, an instance attribute holding a C callable
        # answers without a Python frame: off, ``bool`` itself (``bool()`` is
        # False), a type the interpreter calls directly, where a bound
        # method-wrapper such as ``False.__bool__`` first packs its arguments
        # in a tuple.  Compiled, the method above is C already, and an
        # instance attribute of that name would cost more than it saves: it
        # shadows the method, so ``loop.get_debug()`` in Python code (aiohttp
        # asks once per request) could no longer be specialized.
        if not cython.compiled:
            self.get_debug = True.__bool__ if self._debug else bool  # type: ignore[method-assign]
        self._update_careful()

    def _update_careful(self) -> None:
        """Set ``_careful``: debug mode, or an observer listening to callback_scheduled.

        The loop's call_soon and call_later test this one flag (where they
        tested ``_debug``) and take their checking, reporting path, so their
        fast path pays no test for hooks at all; an observer that does not
        listen there (a blocking detector) leaves them on the fast path.
        """
        hooks = self._hooks
        self._careful = self._debug or (hooks is not None and hooks.listens("callback_scheduled"))
        # The hooks every observed entry calls, bound once: found by name,
        # each call looked the method up on the observer's class first, a
        # third of what a traced callback's three calls cost.
        self._on_scheduled = None if hooks is None else hooks.callback_scheduled
        self._on_started = None if hooks is None else hooks.callback_started
        self._on_ran = None if hooks is None else hooks.callback_ran
        # What a task reads: its step takes the hooked path only for these.
        self._task_hooks = task_hooks = (
            hooks if hooks is not None and any(map(hooks.listens, TASK_HOOKS)) else None
        )
        # ... and calls, bound once, in the compiled build's step (task.py).
        self._on_step_started = None if task_hooks is None else task_hooks.step_started
        self._on_step_ended = None if task_hooks is None else task_hooks.step_ended
        self._on_task_done = None if task_hooks is None else task_hooks.task_done
        # Each ready entry timed and reported (debug mode's slow-callback log too).
        self._entry_hooks = self._debug or (
            hooks is not None and any(map(hooks.listens, ENTRY_HOOKS))
        )
        # ... and for a task queued as itself too, unless its step is enough.
        self._entry_tasks = hooks is None or hooks.entries_include_tasks
        # _run_once's one test for its plain path (hooks, debug mode or a tape).
        self._observed = self._debug or hooks is not None or self._tape is not None
        # ... and which plain path: the pure build's loop inline in _run_once,
        # the compiled build's typed one (_run_ready_typed).  Chosen here, so
        # that neither build tests for the other in each turn.
        self._inline_batch = not self._observed and not cython.compiled

    def _push_timer(self, timer: Any) -> None:
        """Schedule a timer (its ``_when`` is set); it runs once the clock reaches it."""
        when = timer._when
        # (Compiled, ``real`` is a C double: the bucket's arithmetic is C's.)
        if type(when) is float and -_HUGE < (real := when) < _HUGE:
            key = (real * _BUCKETS) // 1.0
        else:
            _check_deadline(when)
            key = _bucket_key(when)
        at = self._timers_at
        entry = at.setdefault(key, timer)
        if entry is timer:
            _heappush(self._timers, key)
        elif type(entry) is list:
            if key == self._sorted_key:
                _insert_latest_first(entry, timer, when)
            else:
                entry.append(timer)
        else:
            at[key] = [entry, timer]
        self._timer_total += 1
        timer._scheduled = True

    def _sort_bucket(self, key: float) -> Any:
        """Make ``key``'s bucket the one sorted latest first; returns its entry."""
        at = self._timers_at
        entry = at[key]
        if type(entry) is list and key != self._sorted_key:
            previous = self._sorted_key
            if previous is not None and previous in at:
                # Back to an order a stable sort reads as (deadline, FIFO).
                other = at[previous]
                if type(other) is list:
                    other.reverse()
            entry.sort(key=_when_of)
            entry.reverse()
            self._sorted_key = key
        return entry

    def _take_bucket(self, key: float) -> list[Any]:
        """Remove the bucket at the heap's head; its timers in the order they run."""
        entry = self._timers_at.pop(key)
        _heappop(self._timers)
        if type(entry) is not list:
            return [entry]
        if key == self._sorted_key:
            self._sorted_key = None
            entry.reverse()
        else:
            entry.sort(key=_when_of)
        return entry

    def _next_deadline(self) -> float | None:
        """The earliest deadline of a live timer, as a float; None if none is left.

        Cancelled timers met on the way are dropped here: one that shares a
        bucket with a live timer would otherwise set the poll's timeout and
        wake the loop for nothing.
        """
        timers = self._timers
        at = self._timers_at
        while timers:
            key = timers[0]
            entry = self._sort_bucket(key)
            if type(entry) is list:
                while entry and entry[-1]._cancelled:
                    entry.pop()._scheduled = False
                    self._cancelled_timers -= 1
                    self._timer_total -= 1
                if entry:
                    when = entry[-1]._when
                    # float(): a Decimal deadline must not meet the clock's floats in a
                    # subtraction (asyncio's loop crashes there).
                    return when if type(when) is float else float(when)
            elif not entry._cancelled:
                when = entry._when
                return when if type(when) is float else float(when)
            else:
                entry._scheduled = False
                self._cancelled_timers -= 1
                self._timer_total -= 1
            del at[key]
            _heappop(timers)
            if key == self._sorted_key:
                self._sorted_key = None
        return None

    def _due_timers(self, end: float) -> list[Any]:
        """Take every timer due before ``end`` off the heap, in the order they run."""
        timers = self._timers
        end_key = (end * _BUCKETS) // 1.0
        due: list[Any] = []
        # A bucket wholly before the one ``end`` is in is wholly due.
        while timers and timers[0] < end_key:
            due.extend(self._take_bucket(timers[0]))
        if timers and timers[0] == end_key:
            entry = self._sort_bucket(end_key)
            if type(entry) is not list:
                if entry._when < end:
                    due.append(entry)
                    del self._timers_at[end_key]
                    _heappop(timers)
            else:
                pop = entry.pop
                while entry and entry[-1]._when < end:
                    due.append(pop())
                if not entry:
                    del self._timers_at[end_key]
                    _heappop(timers)
                    self._sorted_key = None
        for timer in due:
            timer._scheduled = False
        self._timer_total -= len(due)
        return due

    def _clear_timers(self) -> None:
        """Forget every timer (the loop is closing)."""
        self._timers.clear()
        self._timers_at.clear()
        self._sorted_key = None
        self._timer_total = 0
        self._cancelled_timers = 0

    def _timer_handle_cancelled(self, handle: Any) -> None:
        """Called by ``TimerHandle.cancel``: count it; the heap drops it lazily."""
        if handle._scheduled:
            self._cancelled_timers += 1

    def _log_slow_callback(self, handle: Any, duration: float) -> None:
        """Debug mode: report a callback that held the loop too long (loop overrides)."""

    # -- futures -------------------------------------------------------------

    if not cython.compiled:

        def create_future(self) -> asyncio.Future[Any]:
            # Made without its keyword when this is the running loop (the C
            # future then finds it itself): the keyword costs the call a dict.
            # Not on 3.11 (LOOP_LOOKUP_IS_A_SYSCALL): there the check and the
            # future's own lookup are two getpid system calls, 0.45 µs against
            # the dict's 0.2 here, though callgrind, which counts no time in
            # the OS, says the opposite.
            loop: Any = self  # (an asyncio loop once glassloop.Loop builds on it)
            if not LOOP_LOOKUP_IS_A_SYSCALL and _get_running_loop() is loop:
                return _Future()
            return _Future(loop=loop)

    else:

        def create_future(self) -> asyncio.Future[Any]:
            # The same, with the keyword's dict one for every such call
            # (scheduler.pxd's _call_on_loop).
            loop: Any = self
            if not LOOP_LOOKUP_IS_A_SYSCALL and _get_running_loop() is loop:
                return _Future()
            return _call_on_loop(_Future, (), loop)  # type: ignore[no-any-return]  # noqa: F821

    # -- the hot path of asyncio's call_soon --------------------------------

    if not cython.compiled:

        def call_soon(self, callback: Any, *args: Any, context: Any = None) -> Any:
            if self._closed:
                raise RuntimeError("Event loop is closed")
            if self._careful:  # debug mode or observed (one test for both)
                return self._call_soon_careful(callback, args, context)
            func = callback.__func__ if type(callback) is _MethodType else callback
            if func is _wakeup_function:
                task: Any = callback.__self__
                if task._kernel is self:
                    task._wake_fut = args[0]
                    self._ready.append(task)
                    return _UNREACHABLE_HANDLE
            kind = type(func)
            if kind is _FunctionType:
                if func.__code__.co_flags & _CO_COROUTINE_FLAGS:
                    self._check_callback(callback, "call_soon")
            elif kind is not _BuiltinMethodType:
                self._check_callback(callback, "call_soon")
            handle = Handle()
            handle._callback = callback
            handle._args = args
            handle._cancelled = False
            handle._loop = self
            handle._repr = None
            handle._source_traceback = None
            handle._context = _copy_context() if context is None else context
            self._ready.append(handle)
            return handle

    else:
        # The compiled build's call_soon: the same steps, reading a bound
        # method's function and instance with C macros (scheduler.pxd), where
        # ``callback.__func__`` is a generic attribute lookup; a task's wake-up
        # (every await of a future) passes here.  An observer's hook is called
        # here too, at the end (a test of a C field when nobody listens): the
        # careful path's Python-level reads cost a traced callback more than
        # the hook did.

        def call_soon(self, callback: Any, *args: Any, context: Any = None) -> Any:
            if self._closed:
                raise RuntimeError("Event loop is closed")
            if self._debug:
                return self._call_soon_debug(callback, args, context)
            if type(callback) is _MethodType:
                func = _method_function(callback)  # noqa: F821 (scheduler.pxd's)
                if func is _wakeup_function:
                    task: Any = _method_self(callback)  # noqa: F821
                    woken: cython.bint
                    if _is_task_instance(task):  # noqa: F821
                        # task.py's C entry point (scheduler.pxd): the test
                        # and the assignment below, on the Task's fields.
                        woken = _wake_task(task, self, args[0])  # noqa: F821
                    else:
                        woken = task._kernel is self
                        if woken:
                            task._wake_fut = args[0]
                    if woken:
                        self._ready_append(task)
                        if self._careful:  # (not debug mode, tested above: an observer)
                            self._on_scheduled(task)
                        return _UNREACHABLE_HANDLE
            if not _plain_callback(callback, _CO_COROUTINE_FLAGS):  # noqa: F821 (as call_later's)
                self._check_callback(callback, "call_soon")
            handle = Handle()
            handle._callback = callback
            handle._args = args
            handle._cancelled = False
            handle._loop = self
            handle._repr = None
            handle._source_traceback = None
            handle._context = _copy_context() if context is None else context
            self._ready_append(handle)
            if self._careful:  # (as above)
                self._on_scheduled(handle)
            return handle

    def call_later(self, delay: Any, callback: Any, *args: Any, context: Any = None) -> Any:
        if delay is None:
            raise TypeError("delay must not be None")
        now = self._clock.time  # see _run_once: a slot read, then a call
        return self._schedule_timer(now() + delay, callback, args, context, "call_later")

    def call_at(self, when: Any, callback: Any, *args: Any, context: Any = None) -> Any:
        if when is None:
            raise TypeError("when cannot be None")
        return self._schedule_timer(when, callback, args, context, "call_at")

    if not cython.compiled:

        def _schedule_timer(
            self, when: Any, callback: Any, args: Any, context: Any, method: str
        ) -> Any:
            if self._closed:
                raise RuntimeError("Event loop is closed")
            if self._careful:  # debug mode or observed (one test for both)
                return self._schedule_timer_careful(when, callback, args, context, method)
            func = callback.__func__ if type(callback) is _MethodType else callback
            kind = type(func)
            if kind is _FunctionType:
                if func.__code__.co_flags & _CO_COROUTINE_FLAGS:
                    self._check_callback(callback, method)
            elif kind is not _BuiltinMethodType:
                self._check_callback(callback, method)
            timer = TimerHandle()
            timer._callback = callback
            timer._args = args
            timer._cancelled = False
            timer._loop = self
            timer._repr = None
            timer._source_traceback = None
            timer._context = _copy_context() if context is None else context
            timer._when = when
            self._push_timer(timer)
            return timer

    else:
        # The compiled build's: the same steps, the callback's test in C
        # (scheduler.pxd) where ``callback.__func__.__code__.co_flags`` is
        # three generic attribute lookups, and the push a C call.

        def _schedule_timer(
            self, when: Any, callback: Any, args: Any, context: Any, method: str
        ) -> Any:
            if self._closed:
                raise RuntimeError("Event loop is closed")
            if self._careful:
                return self._schedule_timer_careful(when, callback, args, context, method)
            if not _plain_callback(callback, _CO_COROUTINE_FLAGS):  # noqa: F821
                self._check_callback(callback, method)
            timer = TimerHandle()
            timer._callback = callback
            timer._args = args
            timer._cancelled = False
            timer._loop = self
            timer._repr = None
            timer._source_traceback = None
            timer._context = _copy_context() if context is None else context
            timer._when = when
            Scheduler._push_timer(self, timer)  # (through the class: no check for an override)
            return timer

    def _schedule_timer_careful(
        self, when: Any, callback: Any, args: Any, context: Any, method: str
    ) -> Any:
        raise NotImplementedError  # the loop's

    def _call_soon_careful(self, callback: Any, args: Any, context: Any) -> Any:
        """The pure build's call_soon when observed: the fast path's queueing, then the hook.

        The observer learns what was queued (a task woken by its future is
        queued as itself, as on the fast path) while the code that queued it
        still runs, which is how it knows who woke whom.  Every traced
        callback passes here, so it is the kernel's, not the loop's; debug
        mode's own checks are the loop's.  The compiled call_soon calls the
        hook itself (a C field's test costs its fast path nothing to speak
        of; here it would cost the pure fast path an attribute read).
        """
        if self._debug:
            return self._call_soon_debug(callback, args, context)
        func = callback.__func__ if type(callback) is _MethodType else callback
        kind = type(func)  # checked as the fast path checks, a call only when in doubt
        if kind is _FunctionType:
            if func.__code__.co_flags & _CO_COROUTINE_FLAGS:
                self._check_callback(callback, "call_soon")
        elif kind is not _BuiltinMethodType:
            self._check_callback(callback, "call_soon")
        task: Any = callback.__self__ if func is _wakeup_function else None
        if task is not None and task._kernel is self:
            task._wake_fut = args[0]
            self._ready.append(task)
            hooks = self._hooks
            if hooks is not None:
                hooks.callback_scheduled(task)
            return _UNREACHABLE_HANDLE
        # (Not annotated: compiled, its fields are then written in C.)
        handle = Handle()
        handle._callback = callback
        handle._args = args
        handle._cancelled = False
        handle._loop = self
        handle._repr = None
        handle._source_traceback = None
        handle._context = _copy_context() if context is None else context
        self._ready.append(handle)
        hooks = self._hooks
        if hooks is not None:
            hooks.callback_scheduled(handle)
        return handle

    def _call_soon_debug(self, callback: Any, args: Any, context: Any) -> Any:
        raise NotImplementedError  # the loop's

    def _check_callback(self, callback: Any, method: str) -> None:
        raise NotImplementedError  # the loop's

    # -- one turn ---------------------------------------------------------

    def _drop_cancelled_timers(self) -> None:
        at = self._timers_at
        ncancelled = self._cancelled_timers
        if (
            ncancelled > _MIN_CANCELLED_TO_COMPACT
            and ncancelled > _CANCELLED_SHARE_TO_COMPACT * self._timer_total
        ):
            live: dict[float, Any] = {}
            total = 0
            sorted_key, self._sorted_key = self._sorted_key, None
            if sorted_key is not None and type(at.get(sorted_key)) is list:
                at[sorted_key].reverse()  # back to (deadline, FIFO) order for a stable sort
            for when, entry in at.items():
                if type(entry) is not list:
                    if entry._cancelled:
                        entry._scheduled = False
                    else:
                        live[when] = entry
                        total += 1
                    continue
                kept = []
                for timer in entry:
                    if timer._cancelled:
                        timer._scheduled = False
                    else:
                        kept.append(timer)
                if kept:
                    live[when] = kept if len(kept) > 1 else kept[0]
                    total += len(kept)
            self._timers_at = live
            self._timers = list(live)
            _heapify(self._timers)
            # Counted afresh: a cancelled timer that fell due before it was
            # dropped still counts in _cancelled_timers.
            self._timer_total = total
            self._cancelled_timers = 0
            return
        # Otherwise only cancelled timers at the head go (they would decide
        # how long the next poll may sleep).
        timers = self._timers
        while timers:
            entry = at[timers[0]]
            if type(entry) is list:
                for timer in entry:  # (a loop, not all() of a generator: each turn)
                    if not timer._cancelled:
                        return
                for timer in entry:
                    timer._scheduled = False
                self._cancelled_timers -= len(entry)
                self._timer_total -= len(entry)
            elif entry._cancelled:
                entry._scheduled = False
                self._cancelled_timers -= 1
                self._timer_total -= 1
            else:
                return
            key = _heappop(timers)
            del at[key]
            if key == self._sorted_key:
                self._sorted_key = None

    def _outside_work(self) -> tuple[int, int, int]:
        """What, besides its timers, could still wake this loop when nothing is ready.

        Asked only by a virtual clock (``glassloop.testing.VirtualClock``),
        when the loop is about to block, to decide whether time may jump; a
        loop on the default clock never calls it.  Three counts:

        - work running outside the loop thread that will end by itself and
          then wake the loop (executor jobs, child processes: the loop adds
          them; a bare scheduler has none);
        - registered file descriptors that carry the program's I/O: any of
          them could still fire, at a time only the outside world knows;
        - registered descriptors that carry no I/O of the program but can
          still be woken from outside (the signal pipe): they don't hold time
          back, but a program waiting only on them is not deadlocked.

        ``_internal_fds`` (the wake-up pipe) is in none of them: a thread-safe
        call queues its callback before it writes there, so the ready queue
        already says what it would.
        """
        return 0, self._poller.fd_count() - self._internal_fds, 0

    def _timer_count(self) -> int:
        """Timers scheduled and not yet due (cancelled ones included until dropped)."""
        return self._timer_total

    def _run_turns(self) -> None:
        """Turn until a turn ends with ``_stopping`` set: ``run_forever``'s loop.

        In the kernel so that, compiled, the loop and its call of each turn
        are C: as a Python loop in ``run_forever`` it cost a frame's
        bytecode, a method call and a generic read of ``_stopping`` per
        turn, some 270 instructions, two turns per echo round trip.  A
        ``_run_once`` set on the instance (exploration's steering, a test
        counting turns) or overridden by a subclass is called instead, as
        it always was: it is looked up once, when the run starts.
        """
        run_once = self._run_once
        # (Bound methods are equal when they bind one self to one function.)
        if cython.compiled and run_once == _KERNEL_RUN_ONCE.__get__(self):
            while True:
                Scheduler._run_once(self)  # a C call: no lookup, no override check
                if self._stopping:
                    return
        while True:
            run_once()
            if self._stopping:
                return

    def _run_once(self) -> None:
        if self._cancelled_timers:
            self._drop_cancelled_timers()
        ready = self._ready
        timers = self._timers
        clock = self._clock

        if ready or self._stopping:
            timeout: float | None = 0.0
        elif timers and (deadline := self._next_deadline()) is not None:
            # Read, then called: a method load of a slot is generic.  Compiled,
            # the default clock's slot is read in C (scheduler.pxd).
            if cython.compiled:
                now = _clock_attr(clock, 0)  # noqa: F821
            else:
                now = clock.time
            timeout = deadline - now()
            if timeout < 0.0:
                timeout = 0.0
            elif timeout > _MAX_WAIT:
                timeout = _MAX_WAIT
        else:
            timeout = None

        poller = self._poller
        # While callbacks keep coming, a turn that would only peek at I/O
        # (timeout 0) does so every other turn: the callbacks an I/O event
        # queues (a task's wake-up by the bytes it awaited) then run before
        # the next poll, which can block, and a request/response costs one
        # epoll_wait instead of two (one of them almost always empty).
        # (The skip first, the poll under else: each test's jump is short,
        # which 3.11 needs to specialize a comparison.  The count is read only
        # when asked for: compiled, the attribute is a generic lookup.  Read,
        # then called: ``poller.fd_count()``, a method load of a slot, is not
        # specialized.)
        if timeout == 0.0 and (
            self._polled_last_turn or (fd_count := poller.fd_count)() <= self._internal_fds  # noqa: F841
        ):
            self._polled_last_turn = False
        else:
            self._polled_last_turn = True
            if type(clock) is not MonotonicClock:  # (whose answer is timeout itself)
                timeout = clock.wait_timeout(timeout)
            if self._observed:
                events = self._poll_observed(timeout)
            elif type(poller) is EpollPoller and not self._reorder:
                # The default poller queues what it finds on the ready deque
                # itself, behind what is there (poll_into).  Compiled, a C
                # call (poller.pxd), where poller.poll is a method lookup.
                epoll: EpollPoller = poller
                if cython.compiled:
                    epoll.poll_into(timeout, self._ready_append)
                else:
                    epoll.poll_into(timeout, ready.append)
                events = None
            else:
                events = poller.poll(timeout)
            if events:
                if self._reorder:
                    events = self._ready_policy.order_io(events)
                if cython.compiled:
                    self._ready_extend(events)
                else:
                    ready.extend(events)

        if timers:
            if cython.compiled:
                now = _clock_attr(clock, 0)  # noqa: F821
                end = now() + _clock_attr(clock, 1)  # noqa: F821
            else:
                now = clock.time
                end = now() + clock.resolution
            if timers[0] <= (end * _BUCKETS) // 1.0:
                due = self._due_timers(end)
                if self._reorder:
                    due = self._ready_policy.order_timers(due)
                if self._hooks is not None:
                    self._hooks.timers_due(due)
                ready.extend(due)

        # Only what is ready now runs this turn: callbacks scheduled by these
        # callbacks wait for the next turn, after I/O has had its chance.
        ntodo = len(ready)
        if self._inline_batch:
            # ``ready.popleft()`` in the loop, not a bound method made per
            # turn: most turns run one or two callbacks.
            for _ in _BATCH_RANGES[ntodo] if ntodo < 256 else range(ntodo):
                handle = ready.popleft()
                if not handle._cancelled:
                    handle._run()
            # A frame kept alive by a traceback (through f_back links) must
            # not keep the last callback, often a task, alive with it.
            handle = None
        elif self._observed:
            # (Out of line: every local of this function costs each turn.
            # Compiled, a C call: what is ready now is still len(ready).)
            self._run_ready_observed()
        else:
            self._run_ready_typed()

    def _run_ready_typed(self) -> None:
        """The plain ready batch of the compiled build: a kernel Handle's step is a C call.

        Chosen once, by ``_inline_batch`` (see ``_update_careful``), never per
        turn: the pure build runs ``_run_once``'s own loop and never comes
        here, so it pays nothing for this method.  The pure build can run it
        too (the same steps in the same order), only slower.
        """
        ready = self._ready
        if cython.compiled:
            popleft = self._ready_popleft  # deque.popleft, bound once (__init__)
        else:
            popleft = ready.popleft
        for _ in range(len(ready)):  # compiled, a C loop
            handle = popleft()
            if type(handle) is Handle or type(handle) is TimerHandle:
                # Compiled, ``h`` is a C pointer to the kernel's Handle
                # (scheduler.pxd) and ``h._run()`` a call through its vtable.
                h: Handle = handle
                if not h._cancelled:
                    h._run()
            elif cython.compiled and _is_task(handle):  # noqa: F821
                # An exact Task: its step through task.py's C entry point
                # (scheduler.pxd), which tests _cancelled as below.
                _run_task(handle)  # noqa: F821
            elif not handle._cancelled:
                handle._run()

    def _poll_observed(self, timeout: float | None) -> list[Any]:
        """The poll, timed for hooks and recorded on a tape."""
        now = self._clock.time
        tape: Tape | None = self._tape
        t0 = now()
        if tape is not None:
            tape.record(None, t0)
        events = self._poller.poll(timeout)
        t1 = now()
        if tape is not None:
            tape.record(len(events), t1)
        hooks = self._hooks
        if hooks is not None:
            hooks.poll_waited(timeout, t1 - t0, len(events))
            if events:
                hooks.io_ready(events)
        return events

    def _run_ready_observed(self) -> None:
        """The ready batch with timing, for hooks, a tape and debug mode's slow-callback log."""
        ready = self._ready
        ntodo = len(ready)
        now = self._clock.time
        tape: Tape | None = self._tape
        # Compiled, the default clock is read in C (scheduler.pxd's
        # gl_monotonic, the same reading as time.monotonic): a call through
        # Python and a float otherwise.  (Tested per entry as a local: a
        # ``cython.compiled`` test per entry cost the pure build some hundred
        # instructions each.)
        c_clock: bool = cython.compiled and now is _time_monotonic
        t0: float
        t1: float
        if not self._entry_hooks:
            if tape is None:
                # Observers of turns only (polls, due timers): entries run plain.
                for _ in range(ntodo):
                    handle = ready.popleft()
                    if not handle._cancelled:
                        handle._run()
                return
            # A tape (an always-on flight recorder, a blocking detector): a
            # record per entry (compiled, a C call), no hook call.
            for _ in range(ntodo):
                handle = ready.popleft()
                if c_clock:
                    t0 = _monotonic()  # type: ignore[name-defined]  # noqa: F821
                else:
                    t0 = now()
                if type(handle) is Handle:
                    # Compiled, ``h`` is a C pointer: its fields and step
                    # without a lookup by name.
                    h: Handle = handle
                    if not h._cancelled:
                        tape.record(h._callback, t0)
                        h._run()
                elif cython.compiled and _is_task(handle):  # noqa: F821
                    # An exact Task (never ``_cancelled``: only a Handle is):
                    # its name and step through task.py's C entry points.
                    tape.record(_task_name(handle), t0)  # noqa: F821
                    _run_task(handle)  # noqa: F821
                elif not handle._cancelled:
                    callback = handle._callback
                    # (A task queued as itself has no callback: its name.)
                    tape.record(callback if callback is not None else handle.get_name(), t0)
                    handle._run()
            return
        skip_tasks = not self._entry_tasks
        compiled: bool = cython.compiled
        for _ in range(ntodo):
            if compiled:
                handle = self._ready_popleft()  # (see _run_ready_typed)
            else:
                # (Not a bound method made per batch: most batches are of one
                # or two entries, and its making costs the pure build more
                # than the method found at each call.)
                handle = ready.popleft()
            kernel_handle = type(handle) is Handle
            if kernel_handle:
                h = handle  # (as above: most entries of a traced loop)
                if h._cancelled:
                    continue
            elif skip_tasks and cython.compiled and _is_task(handle):  # noqa: F821
                # An exact Task, for an observer of its step alone (as above).
                if tape is not None:
                    tape.record(_task_name(handle), now())  # noqa: F821
                _run_task(handle)  # noqa: F821
                continue
            elif handle._cancelled:
                continue
            elif skip_tasks and handle._callback is None:
                # A task queued as itself, for an observer of its step alone.
                if tape is not None:
                    tape.record(handle.get_name(), now())
                handle._run()
                continue
            on_started = self._on_started
            if on_started is not None:
                on_started(handle)
            if c_clock:
                t0 = _monotonic()  # type: ignore[name-defined]  # noqa: F821 (scheduler.pxd's)
            else:
                t0 = now()
            if tape is not None:
                callback = handle._callback
                tape.record(callback if callback is not None else handle.get_name(), t0)
            try:
                if kernel_handle:
                    h._run()
                else:
                    handle._run()
            finally:
                # Also when KeyboardInterrupt or SystemExit escapes: an observer
                # must not believe the callback still runs (a block forever).
                if c_clock:
                    t1 = _monotonic()  # type: ignore[name-defined]  # noqa: F821
                else:
                    t1 = now()
                duration = t1 - t0
                on_ran = self._on_ran
                if on_ran is not None:
                    on_ran(handle, duration, t1)
            if self._debug and duration >= self.slow_callback_duration:
                self._log_slow_callback(handle, duration)


if cython.compiled:
    # The kernel's own clocks' slots, read in C (scheduler.pxd's gl_clock_attr).
    _use_clock_slots(0, MonotonicClock)  # noqa: F821
    _use_clock_slots(1, PatchedClock)  # noqa: F821

    def _use_task_entries(capsule: Any) -> None:
        """Called by task.py: its C entry points (scheduler.pxd's gl_task_entries)."""
        _use_task_entries_c(capsule)  # noqa: F821


class ClockTime:
    """``loop.time`` in the compiled build: the property below as a C descriptor.

    ``loop.time()`` is called wherever code measures a deadline
    (``asyncio.timeout``, ``wait_for``, aiohttp once per request).  The
    property over an attrgetter makes each call two generic attribute reads
    and an attrgetter call; compiled, this class's ``__get__`` is its type's C
    slot, reading the loop's C field.  The interpreted build keeps the
    property: there a Python ``__get__`` would cost a frame per call.
    """

    __slots__ = ()

    def __get__(self, loop: Scheduler | None, owner: object) -> Any:
        if loop is None:
            return self
        return _clock_attr(loop._clock, 0)  # type: ignore[name-defined]  # noqa: F821

    def __set__(self, loop: Scheduler, time_function: Callable[[], float]) -> None:
        loop._patch_time(time_function)

    def __delete__(self, loop: Scheduler) -> None:
        loop._unpatch_time()


# See the comment at _patch_time.
set_class_attributes(
    Scheduler,
    time=ClockTime()
    if cython.compiled
    else property(
        operator.attrgetter("_clock.time"),
        Scheduler._patch_time,
        Scheduler._unpatch_time,
        doc="The loop's clock: a callable returning the current time in seconds.",
    ),
)

#: The kernel's own turn, as stored on the class, which ``_run_turns``
#: compares with the one a loop would call.
_KERNEL_RUN_ONCE: Any = vars(Scheduler)["_run_once"]
