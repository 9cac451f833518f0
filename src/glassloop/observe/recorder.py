"""The recorder: one bounded stream of what a loop did, and what caused each thing.

It listens on the kernel's hooks seam and keeps, in a ring buffer, a record
per task step, ready callback and poll, plus task creations and ends.  Every
step and callback carries its *waker*: the step or callback that was running
when it was queued (the one that completed the future a task awaited, or
called ``call_soon``), the poll whose descriptor readiness released it, the
timer that fell due (and the step that armed it), the foreign thread that
called ``call_soon_threadsafe``, or, for a task's first step, its creator.
Exports (Chrome/Perfetto JSON, the task tree's creators) are views of this
stream.

Records are read as plain tuples; their shapes are the ``*_RECORD``
comments below.  The ring keeps the kinds that come with every task and
callback (steps, callbacks, a task's creation and end) in columns of raw
numbers and shared strings rather than as tuples (see :class:`_Recording`),
and builds their tuples when it is read.
Causality is found without changing what the loop does: the recorder never
queues, arms or reorders anything.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
import weakref
from array import array
from collections.abc import Iterator
from types import CoroutineType, GeneratorType
from typing import Any

from ..kernel.hooks import Hooks
from ..kernel.scheduler import Handle, Scheduler
from ..kernel.task import Task
from .attach import ClosedOnExit, attach, detach

try:  # the optional compiled build (setup.py): Cython reads this as a constant
    import cython  # type: ignore[import-not-found, import-untyped, unused-ignore]
except ImportError:  # pure Python, Cython not installed
    from ..kernel._compiled import cython_shim as cython

#: Records kept by default.  A slot of the ring is 97 bytes (its columns,
#: preallocated; the pure build's number columns hold Python numbers); a
#: step, callback or task record adds little more (its strings are mostly
#: shared: the task's name, the suspension point), a rarer record (a poll,
#: a thread's call, a block) its tuple's 100-200 bytes.  Older records are
#: dropped first, and counted in :attr:`Recorder.dropped`.
DEFAULT_CAPACITY = 100_000

#: Pending causes (what queued an entry that has not run yet) kept at most;
#: entries that never run (cancelled handles, timers) would otherwise pile up.
_MAX_PENDING = 100_000

# Record shapes (first slot is the kind):
# TASK_RECORD  = ("task", ts, tid, name, coro_name, creator_tid | None, creator_act | None)
# (cpu is None for slices shorter than CPU_SLICE, see Recorder._slice_cpu)
# STEP_RECORD  = ("step", start, end, cpu, tid, act, wake, where, waits_on, done, name)
# CB_RECORD    = ("cb", start, end, cpu, act, name, wake)
# POLL_RECORD  = ("poll", start, end, act, timeout, nevents, nready, nfds, ntimers)
# EXT_RECORD   = ("ext", ts, act, thread_ident, thread_name)
# DONE_RECORD  = ("done", ts, tid, name)
# BLOCK_RECORD = ("block", start, end, what, where)   (from a BlockingDetector)
# A wake is (kind, waker_act | None, ts, detail | None); kinds: "created",
# "future", "yield", "io", "timer", "thread", "soon", "callback".
Wake = tuple[str, "int | None", float, "str | None"]

# What a slot of the ring holds (its _kinds column): a record kept as its
# tuple (in _names), or one of the kinds that every task or callback makes,
# kept in columns: a callback, a step, a task's last step, a task's
# creation, its end.
_TUPLE = 0
_CB = 1
_STEP = 2
_STEP_DONE = 3
_TASK = 4
_DONE = 5
#: A slice without its CPU time (None), in the _cpus column.
_NAN = float("nan")

_thread_time = time.thread_time
_time_monotonic = time.monotonic
_future_done = asyncio.Future.done
_future_cancelled = asyncio.Future.cancelled
_future_exception = asyncio.Future.exception
_INFINITY = float("inf")

#: The recorder's stack of open slices starts with this many placeholders.
_STACK_BASE = 4
_NO_SLICE = (None, None, None, None, None)

#: Slices at least this long (seconds) get their thread CPU time measured.
CPU_SLICE = 0.001
#: What call_soon queues: the kernel's Handle, asyncio's in debug mode.
_Handle = Handle
_AsyncioHandle = asyncio.Handle
_TimerHandle = asyncio.TimerHandle
_Future = asyncio.Future
_get_ident = threading.get_ident
_weakref = weakref.ref
_CoroutineType = CoroutineType
_GeneratorType = GeneratorType


def _column(typecode: str, zero: Any, capacity: int) -> Any:
    """A number column of the recorder's ring: an array compiled, a list pure.

    Compiled, the array is written through a typed view (recorder.pxd):
    raw numbers, no object a record.  The pure build has a Python number in
    hand either way, and an array's store converts it where a list's only
    keeps it: with arrays a traced aiohttp request took 5 % more
    instructions (311.6k against 296.4k) and a traced chain callback 10 %.
    """
    if cython.compiled:
        return array(typecode, [zero]) * capacity
    return [zero] * capacity


def callback_name(handle: Any) -> str:
    """A ready entry's callback as a short name (``Transport._read_ready``)."""
    callback = getattr(handle, "_callback", handle)
    while hasattr(callback, "func"):  # functools.partial
        callback = callback.func
    name = getattr(callback, "__qualname__", None) or getattr(callback, "__name__", None)
    return name if isinstance(name, str) else type(callback).__name__


def suspended_at(coro: Any, awaits_task: bool = False) -> tuple[str, int, str] | None:
    """Where a suspended coroutine chain stopped: (file, line, function) of its innermost frame.

    ``awaits_task``: the chain awaits a glassloop Task, whose ``__await__``
    (a generator, where asyncio's is a C iterator) is its innermost link;
    the answer is then the ``await`` that waits on it, not a line of ours.

    Called at the end of every traced step, so the links are read by their
    type: coroutines and generators (a task's ``__await__``) directly, any
    other kind (a compiled coroutine, an async generator's ``asend``) by the
    attribute names found once for its type (:func:`_link_names`), never by
    ``getattr`` with a default, which makes and drops an AttributeError on
    a missing attribute.  Only the innermost link's frame is read (reading a
    suspended coroutine's frame makes a frame object).  The line number is a
    line-table decode; it is found once per suspension point (code object
    and instruction offset) and shared after that; the compiled build reads
    the frame's code and offset in C (recorder.pxd).
    """
    last = outer = None
    depth = 0
    while coro is not None and depth < 100:
        kind = type(coro)
        if kind is _CoroutineType:
            nxt = coro.cr_await
        elif kind is _GeneratorType:
            nxt = coro.gi_yieldfrom
        else:
            names = _LINKS.get(kind, _UNSEEN)
            if names is _UNSEEN:
                names = _link_names(kind)
            if names is None:
                break  # most chains end in a future's iterator: no frame of its own
            nxt = None if names[1] is None else getattr(coro, names[1])
            if nxt is None and awaits_task and depth:
                break  # (as below, before its frame is read: a compiled one makes one)
            if getattr(coro, names[0]) is None:
                break
        if nxt is None and awaits_task and depth:
            break  # the awaited task's __await__
        outer = last
        last = coro
        coro = nxt
        depth += 1
    found = _link_frame(last)
    if found is None:
        # The innermost link has finished (no frame left): where the link
        # that awaits it stopped is the answer.
        found = _link_frame(outer)
        if found is None:
            return None
    if cython.compiled:
        code = _frame_code(found)  # noqa: F821 (recorder.pxd's)
        lasti = _frame_lasti(found)  # noqa: F821
    else:
        code = found.f_code
        lasti = found.f_lasti
    # One int, not a tuple, as the key; two points that share it (rare: the
    # offset of one code object reaching another's address) take turns.
    key = id(code) + lasti
    known = _WHERE.get(key)
    if known is not None and known[0] is code and known[1] == lasti:
        return known[2]
    where = (code.co_filename, found.f_lineno or 0, code.co_name)
    if len(_WHERE) >= _WHERE_LIMIT:
        _WHERE.clear()  # (code made at run time, by exec: rare, and bounded)
    _WHERE[key] = (code, lasti, where)
    return where


def _link_frame(link: Any) -> Any:
    """The frame of one link of an await chain (None for None, or a finished one)."""
    kind = type(link)
    if kind is _CoroutineType:
        return link.cr_frame
    if kind is _GeneratorType:
        return link.gi_frame
    if link is None:
        return None
    names = _LINKS.get(kind, _UNSEEN)
    if names is _UNSEEN:
        names = _link_names(kind)
    return None if names is None else getattr(link, names[0])


def _link_names(kind: type) -> tuple[str, str | None] | None:
    """The names of a link type's frame and next-link attributes (None: it has no frame)."""
    frame = next(
        (name for name in ("cr_frame", "gi_frame", "ag_frame") if hasattr(kind, name)), None
    )
    after = next((n for n in ("cr_await", "gi_yieldfrom", "ag_await") if hasattr(kind, n)), None)
    names = None if frame is None else (frame, after)
    _LINKS[kind] = names
    return names


#: Link types met in await chains, other than coroutines and generators ->
#: the names of their frame and next-link attributes, or None for a type
#: without a frame (a future's iterator).  Types are few; the map stays small.
_LINKS: dict[type, tuple[str, str | None] | None] = {}
_UNSEEN: Any = object()
#: id(code) + instruction offset -> (code, offset, where): suspension points seen.
_WHERE: dict[int, tuple[Any, int, tuple[str, int, str]]] = {}
_WHERE_LIMIT = 100_000


def describe_awaitable(obj: Any) -> str:
    """What a task waits on, in a few words (``Task 'worker'``, ``Future``)."""
    if obj is None:
        return ""
    kind = type(obj)
    if kind is _Future:
        return "Future"
    if kind is Task:
        task: Task = obj  # (compiled: its field read in C)
        name = task._name  # (get_name() is a method call, at every traced step)
        if type(name) is str:
            return f"Task {name!r}"
    if isinstance(obj, Task) or hasattr(obj, "get_name"):
        try:
            return f"Task {obj.get_name()!r}"
        except Exception:  # a foreign task-like object
            pass
    return type(obj).__name__


class _Recording:
    """The part of a recorder that every traced event pays for: its state and its hooks.

    A class of its own so that the compiled build can make it an extension
    type (recorder.pxd): there its fields are C struct slots and its hooks C
    functions, where a Python class finds each attribute by name at every
    read.  The pure build runs the same code as a plain class.  An extension
    type cannot have Python classes as bases, so :class:`Recorder` adds them
    (Hooks, ClosedOnExit) with attaching and the views.
    """

    def __init__(self, capacity: int, cpu_time: bool) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.capacity = capacity
        #: Records ever written; record n (from 0) is in slot n % capacity.
        self._count = 0
        #: The pure build's record numbers (see _slot).
        self._numbers = itertools.count()
        # The ring, a column per field: a record is written into its slot
        # of each, and compiled, no object is made for it but its strings
        # (the pure build's number columns are lists: see _column).  As tuples
        # (a tuple, two floats, an int and its wake's tuple a record), each
        # new record freed one written a ring earlier, memory long gone from
        # the cache: a traced aiohttp server spent as much on that as on
        # recording (37.6 us a request with a ring of 50 records, 41.6 with
        # 2 000 or 100 000; untraced 31.3).
        self._kinds = _column("b", _TUPLE, capacity)
        self._starts = _column("d", 0.0, capacity)
        self._ends = _column("d", 0.0, capacity)
        self._cpus = _column("d", 0.0, capacity)
        self._woken_at = _column("d", 0.0, capacity)
        self._tids = _column("q", 0, capacity)
        self._acts = _column("q", 0, capacity)
        #: The waker's act, 0 for none (acts count from 1).
        self._wakers = _column("q", 0, capacity)
        #: A callback's or step's name; a record kept whole, its tuple.
        self._names: list[Any] = [None] * capacity
        self._wheres: list[Any] = [None] * capacity
        self._waits: list[Any] = [None] * capacity
        #: The wake's kind, None for a slice nothing woke.
        self._wake_kinds: list[Any] = [None] * capacity
        self._wake_details: list[Any] = [None] * capacity
        self._cpu = _thread_time
        #: Slices shorter than this get no CPU time (see _slice_cpu); off: never.
        self._cpu_slice = CPU_SLICE if cpu_time else _INFINITY
        #: The thread CPU time at the last read (a poll, a long slice's end),
        #: and the loop's time then.
        self._cpu_mark = _thread_time()
        self._cpu_mark_at = 0.0
        #: Numbers for acts (steps, callbacks, polls, foreign calls) and tasks,
        #: taken with next(): a counter's C method (a method of ours would cost
        #: the pure build a Python call per act), and compiled, a C call to
        #: its tp_iternext (its bound __next__ went through a generic call).
        self._act_numbers = itertools.count(1)
        self._tid_numbers = itertools.count(1)
        #: id(task) -> tid, for tasks seen and not done.
        self._task_ids: dict[int, int] = {}
        #: id(entry) -> what queued it, until it runs.
        self._pending: dict[int, Wake] = {}
        #: Open slices, innermost last: (entry, act, start, wake, tid | None)
        #: (a callback's start is None: see callback_started),
        #: above _STACK_BASE placeholders (no entry, no act): a list that
        #: went from one item to none and back at every slice freed and
        #: allocated its storage each time.
        self._stack: list[tuple[Any, Any, Any, Wake | None, int | None]] = [_NO_SLICE] * _STACK_BASE
        self._poll_act: int | None = None
        self._poll_end = 0.0
        #: watch handle -> "fd 7 readable"; handles are weakly held.
        self._fds: weakref.WeakKeyDictionary[Any, str] = weakref.WeakKeyDictionary()
        self._fd_names = self._fds.data  # type: ignore[attr-defined]
        self._loop: Any = None
        #: The loop's clock function, read once per poll (not per record):
        #: a clock swapped mid-run is followed from the next poll on.
        self._time: Any = float  # until attached
        #: Compiled, and the clock is the default one: read in C (see
        #: _use_clock).
        self._c_clock = False

    # -- helpers -----------------------------------------------------------

    def _slot(self) -> int:
        """The slot of a new record (the oldest one's, once the ring is full).

        Threads other than the loop's write records too (a blocking
        detector's report, a thread-safe call), so two records must never
        be given one slot.  Compiled, no other thread runs until the record
        is written; pure, the number is taken in one step (a counter's
        ``next``), and ``_count`` may lag a record behind while two threads
        write.
        """
        if cython.compiled:
            at = self._count
        else:
            at = next(self._numbers)
        self._count = at + 1
        return at % self.capacity

    def _record(self, record: tuple[Any, ...]) -> None:
        """Keep a record as its tuple (the kinds that are not a slice)."""
        at = self._slot()
        if cython.compiled:
            # A record holds strings, numbers and tuples of them: it can never
            # be part of a reference cycle, so the collector need not follow it.
            _untrack(record)  # noqa: F821 (recorder.pxd's PyObject_GC_UnTrack)
        self._names[at] = record
        self._kinds[at] = _TUPLE

    def _put_slice(self, start: float, end: float, cpu: Any, act: Any, wake: Any) -> int:
        """Write what a callback's and a step's records share into a new slot; return the slot."""
        # _slot(), inlined: every callback and step comes here, and in the
        # pure build a call per record cost a traced chain callback 2 %.
        if cython.compiled:
            at = self._count
        else:
            at = next(self._numbers)
        self._count = at + 1
        at %= self.capacity
        self._starts[at] = start
        self._ends[at] = end
        self._cpus[at] = _NAN if cpu is None else cpu
        self._acts[at] = act
        if wake is None:
            self._wake_kinds[at] = None
            return at
        self._wake_kinds[at] = wake[0]
        waker = wake[1]
        self._wakers[at] = 0 if waker is None else waker
        self._woken_at[at] = wake[2]
        self._wake_details[at] = wake[3]
        return at

    def _put_task(
        self, now: float, tid: Any, name: Any, coro_name: Any, creator: Any, act: Any
    ) -> None:
        """A task's creation (TASK_RECORD), written into a new slot."""
        at = self._slot()
        self._starts[at] = now
        self._tids[at] = tid
        self._names[at] = name
        self._wheres[at] = coro_name
        self._wakers[at] = 0 if creator is None else creator
        self._acts[at] = 0 if act is None else act
        self._kinds[at] = _TASK

    def _row(self, at: Any) -> tuple[Any, ...] | None:
        """The record in slot ``at``, as its tuple (None: a slot not yet written).

        Read from another thread (``glassloop ps``'s creators), a slot may be
        half rewritten: its fields of two records.  Such a row is wrong, but
        still a tuple of the right shape, never anything else.
        """
        kind = self._kinds[at]
        if kind == _TUPLE:
            record = self._names[at]
            return record if type(record) is tuple else None
        if kind == _TASK:
            creator = self._wakers[at]
            act = self._acts[at]
            return (
                "task",
                self._starts[at],
                self._tids[at],
                self._names[at],
                self._wheres[at],
                creator if creator else None,
                act if act else None,
            )
        if kind == _DONE:
            return ("done", self._starts[at], self._tids[at], self._names[at])
        wake_kind = self._wake_kinds[at]
        if wake_kind is None:
            wake = None
        else:
            waker = self._wakers[at]
            wake = (wake_kind, waker if waker else None, self._woken_at[at], self._wake_details[at])
        start = self._starts[at]
        end = self._ends[at]
        cpu = self._cpus[at]
        act = self._acts[at]
        name = self._names[at]
        if cpu != cpu:  # NaN: no CPU time measured
            cpu = None
        if kind == _CB:
            return ("cb", start, end, cpu, act, name, wake)
        tid = self._tids[at]
        where = self._wheres[at]
        waits_on = self._waits[at]
        return ("step", start, end, cpu, tid, act, wake, where, waits_on, kind == _STEP_DONE, name)

    @property
    def records(self) -> list[tuple[Any, ...]]:
        """The records the ring holds, oldest first (a list made now).

        Read from another thread while the loop records, the newest may be
        one still being written.
        """
        count = self._count
        capacity = self.capacity
        rows = [self._row(n % capacity) for n in range(max(count - capacity, 0), count)]
        return [row for row in rows if row is not None]

    @property
    def dropped(self) -> int:
        """Records pushed out of the ring (oldest first) so far."""
        return max(self._count - self.capacity, 0)

    def _use_clock(self, time_function: Any) -> None:
        """Read the loop's clock through ``time_function`` from now on.

        Compiled, ``time.monotonic`` (the default clock's) is read in C
        instead (the kernel's gl_monotonic, the same reading): a call
        through Python costs a traced callback more than the clock itself.
        """
        self._time = time_function
        self._c_clock = cython.compiled and time_function is _time_monotonic

    def _expect(self, entry: Any, wake: Wake) -> None:
        self._pending[id(entry)] = wake

    def _trim_pending(self) -> None:
        pending = self._pending
        if len(pending) > _MAX_PENDING:
            # The oldest causes are those of entries that never ran (cancelled).
            for key in list(itertools.islice(pending, len(pending) - _MAX_PENDING // 2)):
                del pending[key]

    def _tid_of(self, task: Any) -> int:
        tid = self._task_ids.get(id(task))
        if tid is None:
            # A task created before the recorder was attached.
            tid = self._task_ids[id(task)] = next(self._tid_numbers)
            self._put_task(self._time(), tid, task.get_name(), _coro_name(task), None, None)
        return tid

    # -- the hooks ---------------------------------------------------------

    def task_created(self, task: Any) -> None:
        now = self._time()
        tid = self._task_ids[id(task)] = next(self._tid_numbers)
        stack = self._stack
        top = stack[-1]  # (a placeholder when nothing runs: no act, no creator)
        act: int | None = top[1]
        creator: int | None = top[4]
        self._put_task(now, tid, task.get_name(), _coro_name(task), creator, act)
        self._pending[id(task)] = ("created", act, now, None)

    def threadsafe_scheduled(self, handle: Any) -> None:
        loop_thread = self._loop._thread_id
        if loop_thread is None or loop_thread == _get_ident():
            self.callback_scheduled(handle)
            return
        now = self._time()
        ext_act = next(self._act_numbers)
        thread = threading.current_thread()
        self._record(("ext", now, ext_act, thread.ident, thread.name))
        self._pending[id(handle)] = ("thread", ext_act, now, thread.name)

    def callback_scheduled(self, handle: Any) -> None:
        # Loop thread only (call_soon, a task's wake-up, call_later): the
        # innermost open slice is what queued it.
        if self._c_clock:  # (never in the pure build: see _use_clock)
            now = _monotonic()  # type: ignore[name-defined]  # noqa: F821
        else:
            now = self._time()
        act = self._stack[-1][1]
        kind = type(handle)
        if kind is _Handle:
            wake: Wake = ("soon", act, now, None)
            if cython.compiled:
                loop: Scheduler = self._loop
                if loop._hooks is self:
                    # The only observer: the wake rides on the entry (its
                    # note, scheduler.pxd), which callback_started takes
                    # back.  A dict keyed by id() cost a traced callback two
                    # int objects and a resize of the dict's table every few
                    # entries, more than the rest of this hook.  With other
                    # observers they would overwrite each other's notes.
                    h: Handle = handle
                    h._note = wake
                    h._noted_by = self
                    return
        elif kind is _AsyncioHandle:
            wake = ("soon", act, now, None)
        elif kind is _TimerHandle:
            wake = ("timer", act, now, None)
        else:
            if kind is Task:
                task: Task = handle  # (compiled: its field read in C)
                wake_fut = task._wake_fut
            else:
                wake_fut = getattr(handle, "_wake_fut", None)
            if wake_fut is not None:
                wake = ("future", act, now, describe_awaitable(wake_fut))
            elif hasattr(handle, "_when"):
                wake = ("timer", act, now, None)
            else:
                wake = ("soon", act, now, None)
        self._pending[id(handle)] = wake  # trimmed at each poll

    def io_ready(self, handles: list[Any]) -> None:
        act = self._poll_act
        now = self._poll_end
        # The weak dictionary's own dict, asked with a plain weak reference
        # (equal to the stored one while the handle lives): its ``get`` is a
        # Python method, a frame per ready descriptor.
        names = self._fd_names
        for handle in handles:
            detail = names.get(_weakref(handle))
            if detail is None:
                detail = callback_name(handle)
            self._expect(handle, ("io", act, now, detail))

    def timers_due(self, timers: list[Any]) -> None:
        now = self._time()
        pending = self._pending
        for timer in timers:
            armed = pending.get(id(timer))
            late = f"due {timer._when:.6f}, {1000 * (now - timer._when):.3f} ms late"
            if armed is None:
                self._expect(timer, ("timer", None, now, late))
            else:
                pending[id(timer)] = ("timer", armed[1], armed[2], late)

    def fd_watched(self, fd: int, writing: bool, handle: Any) -> None:
        self._fds[handle] = f"fd {fd} {'writable' if writing else 'readable'}"

    def callback_started(self, handle: Any) -> None:
        # No clock read: callback_ran is told when the callback ended and
        # how long it ran (the kernel reads the clock for both).
        if cython.compiled and type(handle) is _Handle:
            h: Handle = handle
            if h._noted_by is self:  # (see callback_scheduled)
                wake = h._note
                h._note = h._noted_by = None
                self._stack.append((handle, next(self._act_numbers), None, wake, None))
                return
        self._stack.append(
            (handle, next(self._act_numbers), None, self._pending.pop(id(handle), None), None)
        )

    def callback_ran(self, handle: Any, duration: float, end: float) -> None:
        stack = self._stack
        if stack[-1][0] is not handle:
            return
        _, act, _, wake, _ = stack.pop()
        start = end - duration
        if not cython.compiled:
            name = getattr(handle._callback, "__qualname__", None)
        elif type(handle) is _Handle:
            h: Handle = handle  # (its field read in C)
            name = _qualname(h._callback)  # noqa: F821 (recorder.pxd's)
        else:
            name = _qualname(handle._callback)  # noqa: F821
        if type(name) is not str:
            name = callback_name(handle)
        cpu = None if end - start < self._cpu_slice else self._slice_cpu(start, end)
        at = self._put_slice(start, end, cpu, act, wake)
        self._names[at] = name
        self._kinds[at] = _CB

    def step_started(self, task: Any) -> None:
        stack = self._stack
        if self._c_clock:  # (as in callback_scheduled)
            start = _monotonic()  # type: ignore[name-defined]  # noqa: F821
        else:
            start = self._time()
        wake = self._pending.pop(id(task), None)
        if wake is None:
            top = stack[-1]
            if top[1] is not None:
                # Stepped by a Handle (debug mode, a step with an error to
                # throw), or eagerly inside its creator's step (3.12+): woken
                # now, inside the slice that runs it.
                wake = ("callback", top[1], start, None)
        tid = self._task_ids.get(id(task))
        if tid is None:
            tid = self._tid_of(task)
        stack.append((task, next(self._act_numbers), start, wake, tid))

    def step_ended(self, task: Any) -> None:
        stack = self._stack
        if stack[-1][0] is not task:
            return
        t: Task = task  # (only a Task calls it; compiled, its fields are read in C)
        _, act, start, wake, tid = stack.pop()
        if self._c_clock:  # (as in callback_scheduled)
            end = _monotonic()  # type: ignore[name-defined]  # noqa: F821
        else:
            end = self._time()
        if _future_done(t):
            done = True
            where = None
            waits_on = ""
        else:
            done = False
            waiter = t._fut_waiter
            where = suspended_at(t._coro, type(waiter) is not _Future and isinstance(waiter, Task))
            if waiter is None:
                waits_on = "its turn (a bare yield)"
                self._pending[id(t)] = ("yield", act, end, None)
            elif type(waiter) is _Future:
                waits_on = "Future"
            else:
                waits_on = describe_awaitable(waiter)
        name = t._name
        if type(name) is not str:
            name = t.get_name()
        cpu = None if end - start < self._cpu_slice else self._slice_cpu(start, end)
        at = self._put_slice(start, end, cpu, act, wake)
        self._tids[at] = 0 if tid is None else tid  # (never None: a step's slice has its task's)
        self._wheres[at] = where
        self._waits[at] = waits_on
        self._names[at] = name
        self._kinds[at] = _STEP_DONE if done else _STEP

    def _slice_cpu(self, start: float, end: float) -> float:
        """The thread CPU time of a slice that took :data:`CPU_SLICE` seconds or more.

        Shorter slices get ``None``.

        Reading the thread's CPU clock is a system call (0.6 µs on a VM,
        as long as a whole short callback), so it is read at each poll and
        at the end of a long slice only.  A long slice's CPU is the CPU used
        since the last read, less the loop time that passed between that read
        and the slice's start (what ran before it in this turn, counted as
        all CPU): exact when the slice starts the turn, never more than the
        slice's own duration.
        """
        now = self._cpu()
        cpu = (now - self._cpu_mark) - (start - self._cpu_mark_at)
        self._cpu_mark = now
        self._cpu_mark_at = end
        if cpu < 0.0:
            return 0.0
        return cpu if cpu < end - start else end - start

    def task_done(self, task: Any) -> None:
        tid = self._task_ids.pop(id(task), None)
        if tid is not None:
            # (The C future's methods, unbound: a generic method lookup on a
            # task costs more than the call.)
            if _future_cancelled(task):
                state = "cancelled"
            else:
                error = _future_exception(task)
                state = "returned" if error is None else f"raised {type(error).__name__}"
            at = self._slot()
            self._starts[at] = self._time()
            self._tids[at] = tid
            self._names[at] = state
            self._kinds[at] = _DONE

    def note_block(self, start: float, end: float, what: str, where: str) -> None:
        """A blocking detector's report, put on the timeline (any thread)."""
        self._record(("block", start, end, what, where))

    def poll_waited(self, timeout: float | None, duration: float, nevents: int) -> None:
        loop = self._loop
        self._use_clock(loop._clock.time)
        self._trim_pending()
        end = self._time()
        if self._cpu_slice != _INFINITY:
            self._cpu_mark = self._cpu()
            self._cpu_mark_at = end
        act = self._poll_act = next(self._act_numbers)
        self._poll_end = end
        self._record(
            (
                "poll",
                end - duration,
                end,
                act,
                timeout,
                nevents,
                len(loop._ready),
                loop._poller.fd_count() - loop._internal_fds,
                loop._timer_count(),
            )
        )


class Recorder(_Recording, ClosedOnExit, Hooks):
    """Records a loop's timeline with causality, in a ring buffer of ``capacity`` records.

    ``Recorder(loop)`` attaches at once; ``close()`` (or leaving a ``with``
    block) detaches.  Slices of :data:`CPU_SLICE` or longer carry the thread
    CPU time they used (a blocked loop that computes, or one that waits on
    the loop thread?); shorter ones carry ``None``.  ``cpu_time=False``
    reads the thread's CPU clock never.
    """

    #: A task queued as itself is recorded as its step (step_started).
    entries_include_tasks = False

    def __init__(
        self,
        loop: Any = None,
        *,
        capacity: int = DEFAULT_CAPACITY,
        cpu_time: bool = True,
    ) -> None:
        _Recording.__init__(self, capacity, cpu_time)
        if loop is not None:
            self.attach(loop)

    # -- attaching ---------------------------------------------------------

    @property
    def loop(self) -> Any:
        return self._loop

    def attach(self, loop: Any) -> None:
        """Start recording ``loop`` (one loop per recorder)."""
        if self._loop is not None and self._loop is not loop:
            raise RuntimeError("this Recorder already records another loop")
        self._loop = loop
        self._use_clock(loop._clock.time)
        self._cpu_mark_at = self._time()
        attach(loop, self)

    def close(self) -> None:
        """Stop recording; what was recorded stays readable and exportable."""
        if self._loop is not None:
            detach(self._loop, self)

    def __iter__(self) -> Iterator[tuple[Any, ...]]:
        return iter(self.records)

    # -- views -------------------------------------------------------------

    def creators(self) -> dict[int, tuple[int | None, str]]:
        """tid -> (creator tid, name), from the task records still in the buffer.

        The name is the one of the task's latest step: on 3.11,
        ``asyncio.create_task(coro, name=...)`` names the task after creating it.
        """
        records = self.records
        found = {r[2]: (r[5], r[3]) for r in records if r[0] == "task"}
        for r in records:
            if r[0] == "step" and r[4] in found:
                found[r[4]] = (found[r[4]][0], r[10])
        return found

    def task_id(self, task: Any) -> int | None:
        """The recorder's id (the trace's track) for a pending task it has seen."""
        return self._task_ids.get(id(task))

    def export_chrome_trace(self, path: str) -> None:
        """Write the buffer as Chrome/Perfetto trace-event JSON (see :mod:`.chrome`)."""
        from .chrome import write_chrome_trace

        write_chrome_trace(self, path)


def _coro_name(task: Any) -> str:
    coro = getattr(task, "_coro", None)
    name = getattr(coro, "__qualname__", None)
    return name if isinstance(name, str) else type(coro).__name__


__all__ = [
    "CPU_SLICE",
    "DEFAULT_CAPACITY",
    "Recorder",
    "callback_name",
    "describe_awaitable",
    "suspended_at",
]
