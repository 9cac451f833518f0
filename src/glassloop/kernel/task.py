"""glassloop's Task: a coroutine driven step by step by the scheduler.

It is an ``asyncio.Future`` (the C one, so awaiting, callbacks and results cost
what they cost in asyncio) with our own stepping on top.  It registers itself
with asyncio's task registry and current-task slot, so ``asyncio.current_task``,
``all_tasks``, ``timeout``, ``TaskGroup`` and ``shield`` cannot tell it from
``asyncio.Task``.

Two kinds of body are driven:

* coroutines (``async def`` and ``@types.coroutine`` generators), exactly as
  asyncio drives them: they yield futures to wait on, or ``None`` to let others
  run;
* the course text's generator style (a plain generator that is not a
  coroutine): ``x = yield sub_generator()`` runs the sub-generator and evaluates
  to its return value, its exception propagates at the ``yield``; ``yield
  future`` waits and evaluates to the future's result; any other ``yield`` is a
  cooperative switch that evaluates to ``None``.  This is the text's
  ``Task.run`` trampoline with its bugs fixed (the return value is
  ``StopIteration.value``, not the last value yielded).
"""

from __future__ import annotations

import _asyncio  # the C future: task.pxd lays the compiled Task out after it
import asyncio
import contextvars
import functools
import inspect
import itertools
import linecache
import operator
import reprlib
import sys
import traceback
import types
import weakref
from asyncio import CancelledError, InvalidStateError
from collections.abc import Coroutine, Generator
from typing import IO, TYPE_CHECKING, Any, ClassVar, TypeVar

from . import scheduler as _scheduler_module
from ._compiled import drop_own_frames, set_class_attributes
from .scheduler import LOOP_LOOKUP_IS_A_SYSCALL, Scheduler

try:  # the optional compiled build (setup.py): Cython reads this as a constant
    import cython  # type: ignore[import-not-found, import-untyped, unused-ignore]
except ImportError:  # pure Python, Cython not installed
    from ._compiled import cython_shim as cython


_E = TypeVar("_E", bound=BaseException)

# The C future's own methods, called directly where Task overrides them:
# ``super()`` builds a proxy object on every call.
_future_exception = asyncio.Future.exception
_future_set_result = asyncio.Future.set_result
_future_set_exception = asyncio.Future.set_exception
_future_init = asyncio.Future.__init__
_future_cancel = asyncio.Future.cancel
_future_add_done_callback = asyncio.Future.add_done_callback
_Future = asyncio.Future
_get_running_loop = asyncio.events._get_running_loop
if not cython.compiled:
    _future_result = asyncio.Future.result
    _future_done = asyncio.Future.done
    _future_get_loop = asyncio.Future.get_loop
    _copy_context = contextvars.copy_context
    #: ``asyncio.Future.__init__(fut)`` with no loop, and ``__del__``.
    _future_init_bare = asyncio.Future.__init__
    _future_del = asyncio.Future.__del__
    #: A default task name's number.
    _next_task_number = itertools.count(1).__next__
    #: (compiled, task.pxd's: the check remembers the last loop class that passed)
    _is_kernel = isinstance
else:
    # Compiled, these are task.pxd's: the same C methods, called without
    # going through their descriptors, PyContext_CopyCurrent, the C
    # future's tp_init and tp_finalize, and a C counter.
    _use_future_methods(  # noqa: F821
        asyncio.Future, asyncio.Future.done, asyncio.Future.result, asyncio.Future.get_loop
    )
    # (and the compiled step's _future_blocking/_future_unblock, through the
    # getset behind ``fut._asyncio_future_blocking``)
    _use_future_blocking(vars(asyncio.Future)["_asyncio_future_blocking"])  # noqa: F821


# asyncio's registry of tasks (C-accelerated); typed loosely because typeshed
# declares them for asyncio.Task only.
_enter_task: Any = asyncio.tasks._enter_task
_leave_task: Any = asyncio.tasks._leave_task
if cython.compiled:
    # The compiled step's _enter_task_c/_leave_task_c (task.pxd): these two,
    # writing the C module's dict of running tasks directly in the usual
    # case (when they are the C module's), and calling them for anything
    # else (they raise their own errors).
    _native_enter_leave = (
        _enter_task is _asyncio._enter_task and _leave_task is _asyncio._leave_task
    )
    _use_current_tasks(  # noqa: F821
        _asyncio._current_tasks if _native_enter_leave else None, _enter_task, _leave_task
    )
_register_task: Any = asyncio.tasks._register_task
if not cython.compiled:
    _register_task_c = _register_task
else:
    # The compiled Task's _register_task_c (task.pxd): the C module's own
    # WeakSet of tasks, added to as WeakSet.add does, when _register_task is
    # still the C module's and that set a plain WeakSet; else the function.
    _tasks_registry: Any = getattr(_asyncio, "_scheduled_tasks", None)  # 3.12+
    if _tasks_registry is None:
        _tasks_registry = getattr(_asyncio, "_all_tasks", None)  # 3.11
    if (
        _register_task is getattr(_asyncio, "_register_task", None)
        and type(_tasks_registry) is weakref.WeakSet
        and type(getattr(_tasks_registry, "data", None)) is set
        and type(getattr(_tasks_registry, "_pending_removals", None)) is list
        and callable(getattr(_tasks_registry, "_remove", None))
    ):
        _use_task_registry(  # noqa: F821
            _tasks_registry.data,
            _tasks_registry._remove,
            _tasks_registry._pending_removals,
            _register_task,
        )
    else:
        _use_task_registry(None, None, None, _register_task)  # noqa: F821
    del _tasks_registry
_swap_current_task: Any = getattr(asyncio.tasks, "_swap_current_task", None)
_register_eager_task = getattr(asyncio.tasks, "_register_eager_task", None)
_unregister_eager_task = getattr(asyncio.tasks, "_unregister_eager_task", None)

_CO_ITERABLE_COROUTINE = inspect.CO_ITERABLE_COROUTINE
_SUBCALL_TYPES = (types.GeneratorType, types.CoroutineType)
_CoroutineType = types.CoroutineType


def _without_frame(exc: _E, frame: types.FrameType) -> _E:
    """Drop the Task's own frame from the head of ``exc``'s traceback.

    The exception is stored on the task (or thrown into its body); with the
    catching frame in its traceback it would keep that frame's locals, the
    task included, alive in a reference cycle until the next gc pass. The C
    Task has no frame to leak; this keeps ours as prompt (CPython's
    test_ssl checks an SSL context dies without gc.collect()).
    """
    tb = exc.__traceback__
    if tb is not None and tb.tb_frame is frame:
        exc.__traceback__ = tb.tb_next
    return exc


def _cancelled_task_result(task_ref: weakref.ref[Task]) -> Any:
    """``result()`` of a task cancelled by its own body: the body's CancelledError, once."""
    task = task_ref()
    if task is None:  # a saved ``t.result`` called after the task was freed
        raise CancelledError()
    if task._cancelled_exc is not None and task.cancelled():
        raise task._make_cancelled_error()
    return _future_result(task)


def _cancelled_task_exception(task_ref: weakref.ref[Task]) -> BaseException | None:
    """``exception()`` of such a task, as :func:`_cancelled_task_result`."""
    task = task_ref()
    if task is None:
        raise CancelledError()
    if task._cancelled_exc is not None and task.cancelled():
        raise task._make_cancelled_error()
    return _future_exception(task)


def _as_any(obj: object) -> Any:
    """``obj``, typed loosely: for the C future's attributes typeshed does not declare."""
    return obj


def _is_course_generator(obj: object) -> bool:
    """A plain generator (not marked ``@types.coroutine``): the course's task style."""
    return type(obj) is types.GeneratorType and not obj.gi_code.co_flags & _CO_ITERABLE_COROUTINE


def _is_coroutine(obj: object) -> bool:
    return asyncio.iscoroutine(obj) and not _is_course_generator(obj)


def _frame_of(body: Any) -> types.FrameType | None:
    frame = getattr(body, "cr_frame", None)
    if frame is None:
        frame = getattr(body, "gi_frame", None)
    return frame


def _describe_body(body: Any) -> str:
    """``name() running at file:line`` / ``name() done, defined at file:line``."""
    name = getattr(body, "__qualname__", None) or getattr(body, "__name__", None)
    name = f"{name}()" if name else repr(body)
    code = getattr(body, "cr_code", None) or getattr(body, "gi_code", None)
    frame = _frame_of(body)
    if frame is not None:
        return f"{name} running at {frame.f_code.co_filename}:{frame.f_lineno}"
    if code is not None:
        return f"{name} done, defined at {code.co_filename}:{code.co_firstlineno}"
    return name


def _describe_callback(callback: Any) -> str:
    """``name()`` for a done callback, as asyncio shows it; unwraps partials."""
    while isinstance(callback, functools.partial):
        callback = callback.func
    name = getattr(callback, "__qualname__", None) or getattr(callback, "__name__", None)
    return f"{name or repr(callback)}()"


class Task(_asyncio.Future):  # type: ignore[type-arg]
    """A coroutine (or course-style generator) wrapped in a future."""

    # Slots, not a per-task dict: memory per idle task is a benchmarked
    # figure, and asyncio's C Task keeps these in its struct.
    __slots__ = (
        "_cancelled",
        "_context",
        "_coro",
        "_fut_waiter",
        "_kernel",
        "_log_destroy_pending",
        "_must_cancel",
        "_name",
        "_stack",
        "_wake_fut",
    )
    # What most tasks never change is a class default (set after the class);
    # the few that do (a cancelled task, a generator-style body) get an
    # instance dict for it.  Compiled, they are fields of the struct, which
    # start at 0 and None.
    if TYPE_CHECKING:
        _num_cancels_requested: int
        #: A ready entry's callback, as a Handle has one: a task queued as
        #: itself has none (the tape records ``entry._callback or entry``).
        _callback: None
        #: What the next step sends into a generator-style body.
        _send_value: Any
        #: The CancelledError the body raised, re-raised as the same object by
        #: result()/await (the C future underneath can only make a new one).
        _cancelled_exc: CancelledError | None

    # (The C future's ``_source_traceback`` and ``_result``, which typeshed
    # does not declare, are read through ``Any``: declared here, a compiled
    # build would make them attributes of its own, hiding the future's.)

    # Code that checks ``isinstance(t, asyncio.Task)`` must accept ours: the
    # instance check falls back to ``__class__`` (as unittest.mock's specs
    # do), while ``type(t)`` and ``isinstance(t, glassloop.Task)`` still tell
    # the truth.  The getter is a C callable reading a class attribute, not a
    # Python function: ``asyncio.isfuture`` (every gather, every await in
    # some libraries) reads ``obj.__class__``, and a Python frame there cost
    # about a twentieth of a task's whole life.
    _asyncio_class: ClassVar[type[Any]] = asyncio.Task
    # (``__class__`` itself is set after the class: see _set_class_attributes.)

    def __init__(
        self,
        coro: Coroutine[Any, Any, Any] | Generator[Any, Any, Any],
        *,
        loop: asyncio.AbstractEventLoop | None = None,
        name: str | None = None,
        context: contextvars.Context | None = None,
        eager_start: bool = False,
    ) -> None:
        # Without the keyword when ``loop`` is the running loop (the C future
        # then finds it itself, as it does for None): the keyword costs a
        # dict.  On 3.11 a lookup costs more (see Scheduler.create_future).
        if loop is None or (not LOOP_LOOKUP_IS_A_SYSCALL and loop is _get_running_loop()):
            _future_init_bare(self)
        elif cython.compiled:  # (one dict for every such call: task.pxd)
            _future_init_loop(self, loop)  # noqa: F821
        else:
            _future_init(self, loop=loop)
        #: What the scheduler asks of every ready-queue entry: a task in the
        #: queue never is cancelled (a slot, not a class default, so that the
        #: scheduler's read specializes; it fits the object's size class).
        self._cancelled = False
        #: cancel() asked for a CancelledError at the next step (a slot: it is
        #: read twice per step, and a class default is a generic lookup).
        self._must_cancel = False
        #: Set False to stay quiet when a pending task is garbage collected
        #: (a slot: gather() sets it on every task it wraps).
        self._log_destroy_pending = True
        if loop is None:
            loop = _future_get_loop(self)
        # On a glassloop loop a plain step skips call_soon: the task queues
        # itself (see _run). Other loops (glassloop.Task as a task factory on
        # asyncio's) get their public call_soon.
        # (Typed: compiled, its fields are read in C.)
        # (_is_kernel: isinstance, which compiled remembers the loop's class.)
        kernel: Scheduler | None = loop if _is_kernel(loop, Scheduler) else None  # type: ignore[assignment]
        # Only a debug loop records where futures are made (a getset read
        # costs a generic lookup, so ask the cheap question first).
        if (kernel is None or kernel._debug) and (fut := _as_any(self))._source_traceback:
            drop_own_frames(fut._source_traceback)
        # Generator-style bodies keep a call stack of sub-generators; coroutines
        # never grow it, so their steps take the short path.
        self._stack: list[Any] | None
        if type(coro) is _CoroutineType:
            self._stack = None
        elif _is_course_generator(coro):
            self._stack = [coro]
        elif asyncio.iscoroutine(coro):
            self._stack = None
        else:
            # The future is already initialised, so __del__ works; it must not
            # also complain that this never-started task is pending.
            self._log_destroy_pending = False
            raise TypeError(f"a coroutine was expected, got {coro!r}")
        # A default name is its number until someone asks (as asyncio 3.12+):
        # formatting 200k names nobody reads is measurable.
        self._name: str | int = _next_task_number() if name is None else str(name)
        self._coro: Coroutine[Any, Any, Any] | Generator[Any, Any, Any] | None = coro
        self._context = _copy_context() if context is None else context
        self._fut_waiter: asyncio.Future[Any] | None = None
        #: The awaited future, once done, while the task waits in the ready
        #: queue to be woken by it (see wakeup_function).
        self._wake_fut: asyncio.Future[Any] | None = None
        self._kernel = kernel
        if kernel is not None and kernel._task_hooks is not None:
            kernel._task_hooks.task_created(self)
        if eager_start and _swap_current_task is not None and loop.is_running():
            self._eager_start()
        else:
            if kernel is None or kernel._debug or kernel._closed:
                loop.call_soon(self._step, context=self._context)
                # (By its module name, which the conformance harness wraps to
                # count the Tasks made on asyncio's own test loop.)
                _register_task(self)
            elif not cython.compiled:
                kernel._ready.append(self)
                _register_task_c(self)  # (_register_task, bound here)
            else:
                kernel._ready_append(self)  # deque.append, bound once
                _register_task_c(self)  # (task.pxd's)

    def __del__(self) -> None:
        if not _future_done(self) and self._log_destroy_pending and hasattr(self, "_context"):
            context: dict[str, Any] = {
                "task": self,
                "message": "Task was destroyed but it is pending!",
            }
            source_traceback = _as_any(self)._source_traceback
            if source_traceback:
                context["source_traceback"] = source_traceback
            self._loop.call_exception_handler(context)
        _future_del(self)

    def __repr__(self) -> str:
        state = self._state.lower()
        if state == "pending" and self._num_cancels_requested:
            state = "cancelling"
        info = [state, f"name={self.get_name()!r}"]
        if self._coro is not None:  # None once an eager task finished in its first step
            info.append(f"coro=<{_describe_body(self._coro)}>")
        if self._state == "FINISHED":
            if self._exception is not None:
                info.append(f"exception={self._exception!r}")
            else:
                info.append(f"result={reprlib.repr(_as_any(self)._result)}")
        if self._fut_waiter is not None:
            info.append(f"wait_for={self._fut_waiter!r}")
        callbacks = _as_any(self)._callbacks  # None, not [], when there are none
        if callbacks:
            names = [_describe_callback(cb) for cb, _ in callbacks[:2]]
            if len(callbacks) > 2:
                names.append(f"<{len(callbacks) - 2} more>")
            info.append(f"cb=[{', '.join(names)}]")
        source_traceback = _as_any(self)._source_traceback
        if source_traceback:
            frame = source_traceback[-1]
            info.append(f"created at {frame[0]}:{frame[1]}")
        return f"<{type(self).__name__} {' '.join(info)}>"

    # -- the asyncio.Task surface ----------------------------------------

    def _make_cancelled_error(self) -> CancelledError:
        exc = self._cancelled_exc
        if exc is not None:
            self._cancelled_exc = None
            return exc
        return super()._make_cancelled_error()  # type: ignore[misc, no-any-return]

    if not cython.compiled:

        def __await__(self) -> Generator[Any, None, Any]:
            # Not the C future's iterator: a task cancelled by its own body
            # re-raises the body's CancelledError through result().
            if not self.done():
                self._asyncio_future_blocking = True
                yield self
            if not self.done():
                raise RuntimeError("await wasn't used with future")
            return self.result()

    else:

        def __await__(self) -> Any:
            # The same steps in C (task.pxd's gl_task_await), with no
            # generator and frame per await.
            return _task_await(self, type(self) is Task)  # noqa: F821

    def __iter__(self) -> Any:
        # ``yield from task`` in a generator-based coroutine: the steps of
        # ``await``, not the C future's iterator inherited otherwise (which
        # reads the future's own result: a task cancelled by its body would
        # lose the body's CancelledError).  In the class body: the iterator
        # is a type slot, which an attribute put in the namespace never sets.
        return self.__await__()

    def get_coro(self) -> Any:
        return self._coro

    def get_context(self) -> contextvars.Context:
        return self._context

    def get_name(self) -> str:
        name = self._name
        if type(name) is int:
            name = self._name = f"Task-{name}"
        return name  # type: ignore[return-value]

    def set_name(self, value: object) -> None:
        self._name = str(value)

    def set_result(self, result: Any) -> None:
        raise RuntimeError("Task does not support set_result operation")

    def set_exception(self, exception: type | BaseException) -> None:
        raise RuntimeError("Task does not support set_exception operation")

    def cancel(self, msg: Any | None = None) -> bool:
        """Ask the body to stop: a CancelledError is thrown in at its next step."""
        self._log_traceback = False
        if self.done():
            return False
        self._num_cancels_requested += 1
        waiter = self._fut_waiter
        if waiter is not None and waiter.cancel(msg=msg):
            return True
        self._must_cancel = True
        self._cancel_message = msg
        return True

    def cancelling(self) -> int:
        return self._num_cancels_requested

    def uncancel(self) -> int:
        if self._num_cancels_requested > 0:
            self._num_cancels_requested -= 1
            if self._num_cancels_requested == 0 and sys.version_info >= (3, 13):
                self._must_cancel = False
        return self._num_cancels_requested

    def get_stack(self, *, limit: int | None = None) -> list[types.FrameType]:
        """Frames of the suspended body (outermost first), or of its traceback."""
        frames: list[types.FrameType] = []
        if self.done() and not self.cancelled() and self._exception is not None:
            tb = self._exception.__traceback__
            while tb is not None:
                if limit is not None and len(frames) >= limit:
                    break
                frames.append(tb.tb_frame)
                tb = tb.tb_next
            return frames
        bodies = self._stack if self._stack is not None else [self._coro]
        for body in bodies:
            frame = _frame_of(body)
            if frame is not None:
                frames.append(frame)
        if limit is not None:
            frames = frames[-limit:] if limit >= 0 else frames[:-limit]
        return frames

    def print_stack(self, *, limit: int | None = None, file: IO[str] | None = None) -> None:
        out = sys.stdout if file is None else file
        frames = self.get_stack(limit=limit)
        exc = self._exception if self.done() and not self.cancelled() else None
        if not frames:
            print(f"No stack for {self!r}", file=out)
        elif exc is not None:
            print(f"Traceback for {self!r} (most recent call last):", file=out)
        else:
            print(f"Stack for {self!r} (most recent call last):", file=out)
        entries = []
        for frame in frames:
            code = frame.f_code
            linecache.checkcache(code.co_filename)
            entries.append((code.co_filename, frame.f_lineno, code.co_name, None))
        summary = traceback.StackSummary.from_list(entries)
        for line in summary.format():
            print(line, file=out, end="")
        if exc is not None:
            for line in traceback.format_exception_only(type(exc), exc):
                print(line, file=out, end="")

    # -- stepping ----------------------------------------------------------

    def _eager_start(self) -> None:
        """3.12+ eager start: run the first step now, inside the creator's turn."""
        assert _swap_current_task is not None
        assert _register_eager_task is not None and _unregister_eager_task is not None
        loop = self._loop
        previous = _swap_current_task(loop, self)
        try:
            _register_eager_task(self)
            try:
                self._context.run(self._run_step, None)
            finally:
                _unregister_eager_task(self)
        finally:
            _swap_current_task(loop, previous)
            if self.done():
                # As asyncio does: a task done in its eager first step lets go
                # of its coroutine (get_coro() is None from then on).
                self._coro = None
            else:
                _register_task(self)

    if not cython.compiled:

        def _run(self) -> None:
            """One plain step, run by the scheduler: the task is its own ready-queue entry.

            A step that follows a bare ``yield`` (``asyncio.sleep(0)``) or starts
            the task needs no arguments and nobody can cancel it, so queueing the
            task itself replaces a ``Handle`` per switch. So does a wake-up by the
            future the task awaited (``_wake_fut``, set by the loop's call_soon,
            see :data:`wakeup_function`). At most one such entry exists: a task
            that queued itself waits on nothing else.
            """
            try:
                fut = self._wake_fut
                # The step function and the task, not a bound method made per step.
                if fut is None:
                    self._context.run(_step_function, self)
                else:
                    self._wake_fut = None
                    self._context.run(_step_function, self, None, fut)
                    del fut
            except (SystemExit, KeyboardInterrupt):
                raise
            except BaseException as exc:
                self._loop.call_exception_handler(
                    {
                        "message": f"Exception in the step of {self!r}",
                        "exception": exc,
                        "task": self,
                    }
                )
            del self  # see _step: no cycle through this frame

    else:
        # The compiled build's entry from the ready queue: the same step, with
        # C calls where the pure one calls Python (task.pxd); the pure _run
        # below is the reference, and everything but the common case is
        # handed to _step.

        def _run(self) -> None:
            """_run (above), entering the task's context in C and stepping with a C call."""
            self._run_compiled()

        def _run_compiled(self) -> None:
            context = self._context
            woken_by = self._wake_fut
            self._wake_fut = None
            try:
                _context_enter(context)  # noqa: F821 (task.pxd's, as below)
                try:
                    self._step_compiled(woken_by)
                finally:
                    _context_exit(context)  # noqa: F821
            except (SystemExit, KeyboardInterrupt):
                raise
            except BaseException as exc:
                self._loop.call_exception_handler(
                    {
                        "message": f"Exception in the step of {self!r}",
                        "exception": exc,
                        "task": self,
                    }
                )

        def _step_compiled(self, woken_by: asyncio.Future[Any] | None) -> None:
            """_step's common case: a native coroutine, woken by nothing or by the
            result of an exact future or Task, on a glassloop loop out of debug mode, no
            cancel to deliver; observed or not.

            Its body is sent None with PyIter_Send, as asyncio's C Task does: a
            body that returns raises no StopIteration to be made and caught.
            An observer of steps hears of it as _run_step tells it, through the
            kernel's bound hooks (a traced step cost three methods found by
            name more, and the generic step).
            """
            kernel: Scheduler = self._kernel
            coro = self._coro
            if (
                kernel is None
                or type(coro) is not _CoroutineType
                or self._must_cancel
                or kernel._debug
                or (
                    # (A task awaiting a task, as aiohttp's handler does per
                    # request, is woken by it: its result is the future's.)
                    woken_by is not None
                    and type(woken_by) is not _Future
                    and type(woken_by) is not Task
                )
                or _future_done(self)
            ):
                self._step(None, woken_by)
                return
            if woken_by is not None:
                failed = False
                try:
                    _future_result(woken_by)
                except BaseException:
                    failed = True
                if failed:  # its error is thrown into the body: _step's work
                    self._step(None, woken_by)
                    return
            self._fut_waiter = None
            _enter_task_c(kernel, self)  # noqa: F821 (task.pxd's)
            # (Read once, as _run_step does: an observer that leaves during
            # the step still hears of its end.)
            step_ended = kernel._on_step_ended
            task_done = kernel._on_task_done
            try:
                if step_ended is not None:
                    kernel._on_step_started(self)
                returned: cython.int = 0
                try:
                    result = _send(coro, cython.address(returned))  # noqa: F821
                except CancelledError as cancelled:
                    self._finish_cancelled(_without_frame(cancelled, sys._getframe()))
                except (KeyboardInterrupt, SystemExit) as fatal:
                    _future_set_exception(self, fatal)
                    raise
                except BaseException as error:
                    _future_set_exception(self, _without_frame(error, sys._getframe()))
                else:
                    if returned:
                        if self._must_cancel:
                            self._finish(result)
                        else:
                            _future_set_result(self, result)
                    elif result is None:
                        kernel._ready_append(self)
                    elif (
                        # (or a Task: aiohttp's handler awaits one per request)
                        (type(result) is _Future or (type(result) is Task and result is not self))
                        and _future_blocking(result)  # noqa: F821
                        and _future_get_loop(result) is kernel
                    ):
                        _future_unblock(result)  # noqa: F821
                        # self._wakeup, made without the attribute lookup
                        # (a subclass may override it)
                        wakeup = (
                            _bind(wakeup_function, self)  # noqa: F821
                            if type(self) is Task
                            else self._wakeup
                        )
                        _future_add_done_callback(result, wakeup, context=self._context)
                        self._fut_waiter = result
                        # (result's own cancel: a Task overrides it)
                        if self._must_cancel and result.cancel(msg=self._cancel_message):
                            self._must_cancel = False
                    else:
                        self._wait_on(result)
            finally:
                if step_ended is not None:
                    # (As _run_step: also when a fatal error escapes the body.)
                    try:
                        step_ended(self)
                        if _future_done(self):
                            task_done(self)
                    finally:
                        _leave_task_c(kernel, self)  # noqa: F821
                else:
                    _leave_task_c(kernel, self)  # noqa: F821

    def _schedule_step(self) -> None:
        kernel = self._kernel
        if kernel is None or kernel._debug:
            # Debug mode records where each handle was made: keep call_soon's.
            self._loop.call_soon(self._step, context=self._context)
        else:
            kernel._ready.append(self)

    def _step(
        self, exc: BaseException | None = None, woken_by: asyncio.Future[Any] | None = None
    ) -> None:
        # Attribute reads here are chosen for 3.11's specializing interpreter:
        # slots and module globals specialize; class-level defaults, the C
        # future's getsets and method loads on an object whose C dict pointer
        # is still NULL (every future, every task) do not, and cost a generic
        # lookup each. Hence ``_future_done(self)`` for ``self.done()``, the
        # C future's methods called unbound on exact ``asyncio.Future``s, and
        # ``_kernel`` for ``_loop``.
        if woken_by is not None:
            # The wake-up by an awaited future, inlined (see _wakeup).
            try:
                if type(woken_by) is _Future:
                    value = _future_result(woken_by)
                else:
                    value = woken_by.result()
            except BaseException as error:
                exc = _without_frame(error, sys._getframe())
            else:
                if self._stack is not None:
                    # Only generator-style bodies receive the value at their
                    # yield; a coroutine's ``await`` reads it from the future.
                    self._send_value = value
                del value  # a frame kept by a traceback must not keep the result
            woken_by = None
        if _future_done(self):
            raise InvalidStateError(f"_step(): already done: {self!r}, {exc!r}")
        if self._must_cancel:
            if not isinstance(exc, CancelledError):
                exc = self._make_cancelled_error()
            self._must_cancel = False
        self._fut_waiter = None
        kernel = self._kernel
        loop = self._loop if kernel is None else kernel
        _enter_task(loop, self)
        try:
            if self._stack is not None or (kernel is not None and kernel._task_hooks is not None):
                self._run_step(exc)
                return
            # The common case, inlined: a coroutine, nobody observing.
            coro: Any = self._coro
            try:
                if exc is None:
                    result = coro.send(None)
                else:
                    result = coro.throw(exc)
            except StopIteration as stop:
                if self._must_cancel:
                    self._finish(stop.value)
                else:
                    _future_set_result(self, stop.value)
            except CancelledError as cancelled:
                self._finish_cancelled(_without_frame(cancelled, sys._getframe()))
            except (KeyboardInterrupt, SystemExit) as fatal:
                _future_set_exception(self, fatal)
                raise
            except BaseException as error:
                _future_set_exception(self, _without_frame(error, sys._getframe()))
            else:
                if result is None:
                    if kernel is None or kernel._debug:
                        loop.call_soon(self._step, context=self._context)
                    else:
                        kernel._ready.append(self)
                elif (
                    (type(result) is _Future or (type(result) is Task and result is not self))
                    and result._asyncio_future_blocking
                    and _future_get_loop(result) is loop
                ):
                    # An awaited asyncio.Future (or Task) of this loop: _wait_on's
                    # usual case, inlined with the C future's own methods.
                    result._asyncio_future_blocking = False
                    _future_add_done_callback(result, self._wakeup, context=self._context)
                    self._fut_waiter = result
                    # (result's own cancel: a Task overrides it)
                    if self._must_cancel and result.cancel(msg=self._cancel_message):
                        self._must_cancel = False
                else:
                    self._wait_on(result)
        finally:
            _leave_task(loop, self)
            # A finished coroutine frame kept by a traceback links to this
            # frame (f_back), which keeps its locals: drop the ones that lead
            # back to the task and its exception, or the cycle waits for gc.
            del self, exc

    def _run_step(self, exc: BaseException | None) -> None:
        """A step with its hooks, or of a generator-style body."""
        kernel = self._kernel
        hooks = kernel._task_hooks if kernel is not None else None
        if hooks is not None:
            hooks.step_started(self)
        try:
            if self._stack is None:
                self._drive_coroutine(exc)
            else:
                self._drive_generators(exc)
        finally:
            if hooks is not None:
                hooks.step_ended(self)
                if _future_done(self):
                    hooks.task_done(self)
            del self, exc  # see _step: no cycle through this frame

    def _drive_coroutine(self, exc: BaseException | None) -> None:
        coro: Any = self._coro
        try:
            if exc is None:
                result = coro.send(None)
            else:
                result = coro.throw(exc)
        except StopIteration as stop:
            self._finish(stop.value)
        except CancelledError as cancelled:
            self._finish_cancelled(_without_frame(cancelled, sys._getframe()))
        except (KeyboardInterrupt, SystemExit) as fatal:
            _future_set_exception(self, fatal)
            raise
        except BaseException as error:
            _future_set_exception(self, _without_frame(error, sys._getframe()))
        else:
            if (
                (type(result) is _Future or (type(result) is Task and result is not self))
                and result._asyncio_future_blocking
                and _future_get_loop(result) is self._loop
            ):
                # _wait_on's usual case, as _step inlines it.
                result._asyncio_future_blocking = False
                _future_add_done_callback(result, self._wakeup, context=self._context)
                self._fut_waiter = result
                # (result's own cancel: a Task overrides it)
                if self._must_cancel and result.cancel(msg=self._cancel_message):
                    self._must_cancel = False
            else:
                self._wait_on(result)
        del self, exc, coro  # see _step: no cycle through this frame

    def _drive_generators(self, exc: BaseException | None) -> None:
        """The course's trampoline: run sub-generators on our own call stack."""
        stack = self._stack
        assert stack is not None
        value, self._send_value = self._send_value, None
        while True:
            body = stack[-1]
            try:
                if exc is None:
                    result = body.send(value)
                else:
                    result, exc = body.throw(exc), None
            except StopIteration as stop:
                stack.pop()
                if not stack:
                    self._finish(stop.value)
                    return
                value = stop.value
                continue
            except BaseException as error:
                stack.pop()
                if stack:
                    exc, value = error, None
                    continue
                _without_frame(error, sys._getframe())
                if isinstance(error, CancelledError):
                    self._finish_cancelled(error)
                else:
                    _future_set_exception(self, error)
                    if isinstance(error, (KeyboardInterrupt, SystemExit)):
                        raise
                return
            if isinstance(result, _SUBCALL_TYPES):
                stack.append(result)
                value = None
                continue
            if getattr(result, "_asyncio_future_blocking", None) is not None:
                # The course's ``x = yield future`` waits for it: mark it as
                # ``await`` would have (a coroutine's bare yield of a future
                # is still the error asyncio reports).
                result._asyncio_future_blocking = True
                self._wait_on(result)
            else:
                # Anything else yielded is a cooperative switch.
                self._schedule_step()
            return

    def _finish(self, value: Any) -> None:
        if self._must_cancel:
            # cancel() came while the body was finishing: honour it, as asyncio does.
            self._must_cancel = False
            super().cancel(msg=self._cancel_message)
        else:
            _future_set_result(self, value)

    def _finish_cancelled(self, cancelled: CancelledError) -> None:
        self._cancelled_exc = cancelled
        # result() and exception() are the C future's own (gather calls them
        # three times per task); only a task whose body raised CancelledError
        # needs them to re-raise that object, so only it gets instance
        # attributes that do.  They hold the task weakly: a bound method in
        # the task's own dict would be a reference cycle.
        # A subclass that defines its own keeps it (its super() call then
        # gets the C future's fresh error).
        # (Task's own are the C future's: see _method_for below.)
        task_ref = weakref.ref(self)
        cls = type(self)
        if cls.result is Task.result:
            self.result = functools.partial(  # type: ignore[method-assign]
                _cancelled_task_result, task_ref
            )
        if cls.exception is Task.exception:
            self.exception = functools.partial(  # type: ignore[method-assign]
                _cancelled_task_exception, task_ref
            )
        # No message, as asyncio's Tasks: the body's own error (read once)
        # carries it; later reads get a bare CancelledError.
        _future_cancel(self)

    def _wait_on(self, result: Any) -> None:
        """Act on what one step yielded: a future to wait for, or a bare yield."""
        loop = self._loop
        blocking = getattr(result, "_asyncio_future_blocking", None)
        if blocking is not None:
            get_loop = getattr(result, "get_loop", None)
            result_loop = get_loop() if get_loop is not None else result._loop
            if result_loop is not loop:
                error: BaseException = RuntimeError(
                    f"Task {self!r} got Future {result!r} attached to a different loop"
                )
            elif not blocking:
                error = RuntimeError(
                    f"yield was used instead of yield from in task {self!r} with {result!r}"
                )
            elif result is self:
                error = RuntimeError(f"Task cannot await on itself: {self!r}")
            else:
                result._asyncio_future_blocking = False
                result.add_done_callback(self._wakeup, context=self._context)
                self._fut_waiter = result
                if self._must_cancel and result.cancel(msg=self._cancel_message):
                    self._must_cancel = False
                return
        elif result is None:
            self._schedule_step()
            return
        elif inspect.isgenerator(result):
            error = RuntimeError(
                f"yield was used instead of yield from for generator in task {self!r} "
                f"with {result!r}"
            )
        else:
            error = RuntimeError(f"Task got bad yield: {result!r}")
        loop.call_soon(self._step, error, context=self._context)

    def _wakeup(self, future: asyncio.Future[Any]) -> None:
        """The done callback on the awaited future (a glassloop loop queues the task instead)."""
        self._step(None, future)
        del self, future  # see _step: no cycle through this frame


def loop_create_task(
    loop: Any,
    coro: Coroutine[Any, Any, Any] | Generator[Any, Any, Any],
    *,
    name: str | None = None,
    context: contextvars.Context | None = None,
    **kwargs: Any,
) -> asyncio.Task[Any]:
    """``create_task`` of glassloop's loops (loop.py's ``BaseLoop`` binds it as its method).

    Here, beside Task, so that a compiled build runs it in C: a task made
    with no Python frame between the caller and Task.
    """
    kernel: Scheduler = loop  # (typed: compiled, its fields are read in C)
    if kernel._closed:
        raise RuntimeError("Event loop is closed")
    factory = kernel._task_factory
    if factory is None:
        if kwargs:
            task: Any = Task(coro, loop=loop, name=name, context=context, **kwargs)
        elif name is None and context is None:
            if LOOP_LOOKUP_IS_A_SYSCALL or _get_running_loop() is not loop:
                # (see Scheduler.create_future; compiled, one dict for every
                # such call: task.pxd)
                if cython.compiled:
                    task = _call_on_loop(Task, (coro,), loop)  # noqa: F821
                else:
                    task = Task(coro, loop=loop)
            else:
                # The running loop's task finds its loop itself: a call with
                # no keywords costs no dict.
                task = Task(coro)
        else:
            task = Task(coro, loop=loop, name=name, context=context)
        if kernel._debug and task._source_traceback:  # point at our caller
            drop_own_frames(task._source_traceback)
        return task  # type: ignore[no-any-return]
    if context is not None:
        kwargs["context"] = context
    task = factory(loop, coro, **kwargs)
    if name is not None:
        task.set_name(name)
    return task  # type: ignore[no-any-return]


if not cython.compiled:  # compiled, they are task.pxd's fields, which start at 0 and None
    set_class_attributes(
        Task, _num_cancels_requested=0, _callback=None, _send_value=None, _cancelled_exc=None
    )
set_class_attributes(
    Task,
    # The instance check's fallback (see _asyncio_class above).
    __class__=property(operator.attrgetter("_asyncio_class")),
)
if cython.compiled:
    # The C future's methods that Task does not override, declared again as
    # Task's own (the same C functions), as asyncio's C Task does: 3.11+
    # specializes ``task.done()`` only for a descriptor of the object's exact
    # type, so inherited, every such call took the generic path (gather's
    # done callback makes five per child: ~500 instructions a task).
    _own_methods = {
        name: _method_for(Task, method)  # noqa: F821 (task.pxd's; None: not this one)
        for name, method in vars(_Future).items()
        if type(method) is types.MethodDescriptorType
        and not name.startswith("__")
        and name not in vars(Task)
    }
    set_class_attributes(Task, **{k: v for k, v in _own_methods.items() if v is not None})
    del _own_methods

#: The function behind every task's done callback on the future it awaits.
#: A glassloop loop's ``call_soon`` recognises it (futures schedule their
#: callbacks through ``loop.call_soon``) and queues the task itself with the
#: future in ``_wake_fut`` instead of building a ``Handle`` nobody can reach:
#: the future drops what ``call_soon`` returns.
wakeup_function = Task._wakeup
_step_function = Task._step
_scheduler_module._wakeup_function = wakeup_function
if (
    cython.compiled
    and Task._asyncio_future_blocking is vars(asyncio.Future)["_asyncio_future_blocking"]
):
    # An exact Task's flag is the C future's getset: the compiled step reads
    # an awaited task's in C as it does a future's.
    _use_task_blocking(Task)  # noqa: F821

if cython.compiled:
    # The compiled scheduler's C entry points into Task (scheduler.pxd's
    # gl_task_entries): what the pure scheduler does through attributes.

    def _run_entry(task: Any) -> int:
        """A ready-queue entry that is an exact Task: ``if not task._cancelled: task._run()``."""
        t: Task = task
        if not t._cancelled:
            t._run_compiled()
        return 0

    def _wake_entry(task: Any, kernel: Any, fut: Any) -> int:
        """call_soon's wake-up of a task by ``fut``: queue it (1) if ``kernel`` is its own."""
        t: Task = task
        if t._kernel is not kernel:
            return 0
        t._wake_fut = fut
        return 1

    def _name_entry(task: Any) -> Any:
        """An exact Task's name, for the tape: ``task.get_name()`` in C."""
        t: Task = task
        name = t._name
        if type(name) is int:
            name = t._name = f"Task-{name}"
        return name

    _scheduler_module._use_task_entries(  # type: ignore[attr-defined]
        _task_entries_capsule(  # noqa: F821
            Task,
            cython.address(_run_entry),
            cython.address(_wake_entry),
            cython.address(_name_entry),
        )
    )
