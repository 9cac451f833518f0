"""``glassloop.Loop``: the asyncio event-loop surface over the kernel (ring 2).

The kernel runs callbacks, timers and polls; this module adds what asyncio
promises on top: argument checks with asyncio's exception types, running and
stopping, the asyncgen hooks, the exception handler, debug mode, executors, the
thread-safe wake-up, file-descriptor watching and the low-level ``sock_*``
coroutines.  Transports and servers live in ``io/``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import errno
import functools
import inspect
import itertools
import logging
import os
import socket
import sys
import threading
import traceback
import warnings
import weakref
from asyncio import events, futures
from collections.abc import Awaitable, Callable, Generator
from typing import TYPE_CHECKING, Any, TypeVar, TypeVarTuple

from .io.datagram_endpoints import DatagramMixin
from .io.pipes import PipesMixin
from .io.sendfile import SendfileMixin
from .io.signals import SignalsMixin
from .io.sockets import SocketsMixin, check_not_ssl_socket, check_port, is_numeric_host
from .io.stream import MAX_READ, set_result_unless_cancelled
from .io.subprocess import ProcessIO
from .kernel._compiled import drop_own_frames
from .kernel.clock import Clock
from .kernel.hooks import Hooks
from .kernel.poller import Poller
from .kernel.ready import ReadyPolicy
from .kernel.scheduler import Scheduler, watch_handle
from .kernel.task import loop_create_task

if TYPE_CHECKING:
    from .testing.simnet import SimNet
    from .testing.virtual_time import VirtualClock

T = TypeVar("T")
Ts = TypeVarTuple("Ts")

#: The logger asyncio users already configure; glassloop reports through it too.
logger = logging.getLogger("asyncio")

_Handle = events.Handle
_TimerHandle = events.TimerHandle
#: Numbers executor jobs in submission order (BaseLoop._executor_jobs).
_job_numbers = itertools.count(1)
_CO_COROUTINE_FLAGS = inspect.CO_COROUTINE | inspect.CO_ITERABLE_COROUTINE


_DEBUG_STACK_DEPTH = 10
#: asyncio 3.12 started running a custom exception handler in the context of
#: the task, future or handle that failed.
_HANDLER_IN_FAILED_CONTEXT = sys.version_info >= (3, 12)
_ExceptionHandler = Callable[[asyncio.AbstractEventLoop, dict[str, Any]], object]


def _debug_from_environment() -> bool:
    """asyncio's rule: dev mode or PYTHONASYNCIODEBUG turns debug on."""
    return sys.flags.dev_mode or (
        not sys.flags.ignore_environment and bool(os.environ.get("PYTHONASYNCIODEBUG"))
    )


def _check_callback(callback: object, method: str) -> None:
    """Reject what asyncio rejects, with asyncio's words, before it is queued."""
    code = getattr(callback, "__code__", None)
    if code is not None and type(code) is type(_check_callback.__code__):
        if code.co_flags & _CO_COROUTINE_FLAGS:
            raise TypeError(f"coroutines cannot be used with {method}()")
        return
    if asyncio.iscoroutine(callback) or inspect.iscoroutinefunction(callback):
        raise TypeError(f"coroutines cannot be used with {method}()")
    if not callable(callback):
        raise TypeError(f"a callable object was expected by {method}(), got {callback!r}")


def _fileobj_to_fd(fileobj: Any) -> int:
    if isinstance(fileobj, int):
        fd = fileobj
    else:
        try:
            fd = int(fileobj.fileno())
        except (AttributeError, TypeError, ValueError):
            raise ValueError(f"Invalid file object: {fileobj!r}") from None
    if fd < 0:
        raise ValueError(f"Invalid file descriptor: {fd}")
    return fd


def _drop_own_frame(obj: Any) -> None:
    """Debug mode records where a handle was made; point at our caller, not us."""
    if obj._source_traceback:
        drop_own_frames(obj._source_traceback)


def _stop_loop_when_done(fut: asyncio.Future[Any]) -> None:
    """run_until_complete's callback: stop, unless a BaseException must propagate."""
    if not fut.cancelled():
        exc = fut.exception()
        if isinstance(exc, (SystemExit, KeyboardInterrupt)):
            # run_forever will raise it on its own; stopping would swallow it.
            return
    fut.get_loop().stop()


class BaseLoop(Scheduler, asyncio.AbstractEventLoop):
    """The asyncio surface over the kernel, before the I/O mixins of ``io/``."""

    #: Executor jobs submitted and not yet finished, for a virtual clock
    #: (_outside_work).  Not a counter: a worker thread removes its job, and
    #: dict.pop is atomic where ``n -= 1`` is not.  Made on first use: on
    #: 3.11 a 31st key in the instance dict makes every attribute read of the
    #: loop hash its name.
    _executor_jobs: dict[concurrent.futures.Future[Any], int] | None = None

    def __init__(
        self,
        *,
        clock: Clock | None = None,
        ready_policy: ReadyPolicy | None = None,
        hooks: Hooks | None = None,
        poller: Poller | None = None,
    ) -> None:
        super().__init__(clock=clock, ready_policy=ready_policy, hooks=hooks, poller=poller)
        self._set_debug_flag(_debug_from_environment())
        self._exception_handler: _ExceptionHandler | None = None
        self._default_executor: concurrent.futures.ThreadPoolExecutor | None = None
        self._executor_shutdown_called = False
        self._asyncgens: weakref.WeakSet[Any] = weakref.WeakSet()
        self._asyncgens_shutdown_called = False
        # fd -> the transport that owns it (see _ensure_fd_no_transport).
        self._transports: weakref.WeakValueDictionary[int, Any] = weakref.WeakValueDictionary()
        #: fd -> the file object (not an int) a watch on it was registered with.
        self._watched_objects: dict[int, Any] = {}
        self._coroutine_origin_tracking: int | None = None
        #: What stream transports read into before handing bytes to a protocol
        #: (one per loop: data_received gets a copy, so nobody keeps it).
        self._read_buffer = memoryview(bytearray(MAX_READ))
        self._wakeup_r, self._wakeup_w = os.pipe()
        os.set_blocking(self._wakeup_r, False)
        os.set_blocking(self._wakeup_w, False)
        self._poller.set_reader(self._wakeup_r, watch_handle(self._drain_wakeup, (), self))
        self._internal_fds = 1

    def __repr__(self) -> str:
        return (
            f"<{type(self).__name__} running={self.is_running()} "
            f"closed={self._closed} debug={self._debug}>"
        )

    # -- running and stopping ------------------------------------------------

    def _check_closed(self) -> None:
        if self._closed:
            raise RuntimeError("Event loop is closed")

    def _check_running(self) -> None:
        if self.is_running():
            raise RuntimeError("This event loop is already running")
        if events._get_running_loop() is not None:
            raise RuntimeError("Cannot run the event loop while another loop is running")

    def _check_thread(self) -> None:
        """Debug mode: non-threadsafe calls from another thread are bugs; say so."""
        if self._thread_id is not None and self._thread_id != threading.get_ident():
            raise RuntimeError(
                "Non-thread-safe operation invoked on an event loop other than the current one"
            )

    def run_forever(self) -> None:
        self._check_closed()
        self._check_running()
        self._set_coroutine_origin_tracking(self._debug)
        old_hooks = sys.get_asyncgen_hooks()
        try:
            self._thread_id = threading.get_ident()
            sys.set_asyncgen_hooks(
                firstiter=self._asyncgen_firstiter_hook,
                finalizer=self._asyncgen_finalizer_hook,
            )
            events._set_running_loop(self)
            # Every run starts with a look at I/O, even one stopped before it
            # began (asyncio documents that stop() then run_forever() polls
            # once): the every-other-turn peek must not carry over from the
            # previous run's last turn.
            self._polled_last_turn = False
            self._run_turns()
        finally:
            tape = self._tape
            if tape is not None:
                # The tape's "not running" record: the last entry is over, and
                # a watchdog reading the tape must not take the pause for a block.
                tape.record(False, self._clock.time())
            self._stopping = False
            self._thread_id = None
            events._set_running_loop(None)
            self._set_coroutine_origin_tracking(False)
            sys.set_asyncgen_hooks(*old_hooks)

    def run_until_complete(self, future: Generator[Any, None, T] | Awaitable[T]) -> T:
        self._check_closed()
        self._check_running()
        new_task = not futures.isfuture(future)
        fut: asyncio.Future[T] = asyncio.ensure_future(future, loop=self)  # type: ignore[arg-type]
        if new_task:
            # A task we made is ours to reap: no "destroyed but pending" noise.
            fut._log_destroy_pending = False  # type: ignore[attr-defined]
        fut.add_done_callback(_stop_loop_when_done)
        try:
            self.run_forever()
        except BaseException:
            if new_task and fut.done() and not fut.cancelled():
                # The exception propagates; don't also log it as never retrieved.
                fut.exception()
            raise
        finally:
            fut.remove_done_callback(_stop_loop_when_done)
        if not fut.done():
            raise RuntimeError("Event loop stopped before Future completed.")
        return fut.result()

    def stop(self) -> None:
        self._stopping = True

    def is_closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        if self.is_running():
            raise RuntimeError("Cannot close a running event loop")
        if self._closed:
            return
        if self._debug:
            logger.debug("Close %r", self)
        self._closed = True
        self._ready.clear()
        self._clear_timers()
        executor = self._default_executor
        if executor is not None:
            self._default_executor = None
            executor.shutdown(wait=False)
        self._poller.close()
        self._watched_objects.clear()
        os.close(self._wakeup_r)
        os.close(self._wakeup_w)

    def __del__(self, _warn: Any = warnings.warn) -> None:
        if not hasattr(self, "_wakeup_w"):
            # Its __init__ raised (a clock that serves another loop, say):
            # there is nothing to close.  (Compiled, ``_closed`` is a C field
            # that reads False before __init__ sets anything.)
            return
        if not getattr(self, "_closed", True):
            _warn(f"unclosed event loop {self!r}", ResourceWarning, source=self)
            if not self.is_running():
                self.close()

    def _set_coroutine_origin_tracking(self, enabled: bool) -> None:
        if bool(enabled) == (self._coroutine_origin_tracking is not None):
            return
        if enabled:
            self._coroutine_origin_tracking = sys.get_coroutine_origin_tracking_depth()
            sys.set_coroutine_origin_tracking_depth(_DEBUG_STACK_DEPTH)
        else:
            assert self._coroutine_origin_tracking is not None
            sys.set_coroutine_origin_tracking_depth(self._coroutine_origin_tracking)
            self._coroutine_origin_tracking = None

    # -- scheduling callbacks ------------------------------------------------

    if TYPE_CHECKING:
        # What the kernel's call_soon/call_later/call_at (Scheduler, typed
        # loosely so a compiled build can make them C functions) and its time
        # property (set after its class) are to asyncio's callers.
        def time(self) -> float: ...

        def call_soon(
            self,
            callback: Callable[[*Ts], object],
            *args: *Ts,
            context: contextvars.Context | None = None,
        ) -> asyncio.Handle: ...

        def call_later(
            self,
            delay: float,
            callback: Callable[[*Ts], object],
            *args: *Ts,
            context: contextvars.Context | None = None,
        ) -> asyncio.TimerHandle: ...

        def call_at(
            self,
            when: float,
            callback: Callable[[*Ts], object],
            *args: *Ts,
            context: contextvars.Context | None = None,
        ) -> asyncio.TimerHandle: ...

    # call_soon's fast path is the kernel's (Scheduler.call_soon).
    def _check_callback(self, callback: Any, method: str) -> None:
        _check_callback(callback, method)

    def _call_soon_debug(
        self, callback: Callable[..., object], args: tuple[Any, ...], context: Any
    ) -> asyncio.Handle:
        """call_soon in debug mode: asyncio's checks, and its Handle (it records its origin)."""
        self._check_thread()
        _check_callback(callback, "call_soon")
        handle = _Handle(callback, args, self, context)
        _drop_own_frame(handle)
        self._ready.append(handle)
        if self._hooks is not None:
            self._hooks.callback_scheduled(handle)
        return handle

    def call_soon_threadsafe(
        self,
        callback: Callable[[*Ts], object],
        *args: *Ts,
        context: contextvars.Context | None = None,
    ) -> asyncio.Handle:
        self._check_closed()
        _check_callback(callback, "call_soon_threadsafe")
        handle = _Handle(callback, args, self, context)
        _drop_own_frame(handle)
        # Told before the handle is queued: once queued, a running loop can
        # run it before this thread's next line, and an observer would not
        # yet know what queued it (a recorder lost one waker in a few
        # thousand).  Called in the calling thread, before the wake-up.
        hooks = self._hooks
        if hooks is not None:
            hooks.threadsafe_scheduled(handle)
        # An exploring policy decides on which turn a call from another
        # thread lands (testing/exploration.py); otherwise it is queued now.
        if not (self._reorder and self._ready_policy.threadsafe_arrived(handle)):
            self._ready.append(handle)
        self._write_to_self()
        return handle

    # call_later's and call_at's fast path is the kernel's (Scheduler._schedule_timer).
    def _schedule_timer_careful(
        self,
        when: float,
        callback: Callable[..., object],
        args: tuple[Any, ...],
        context: contextvars.Context | None,
        method: str,
    ) -> asyncio.TimerHandle:
        if self._debug:
            self._check_thread()
        _check_callback(callback, method)
        timer: Any = _TimerHandle(when, callback, args, self, context)
        # Point the recorded origin at the caller of call_later/call_at.
        if timer._source_traceback:
            drop_own_frames(timer._source_traceback)
        self._push_timer(timer)
        if self._hooks is not None:
            self._hooks.callback_scheduled(timer)
        return timer  # type: ignore[no-any-return]

    def _write_to_self(self) -> None:
        """Wake a loop blocked in poll; a full pipe means it is already awake."""
        try:
            os.write(self._wakeup_w, b"\0")
        except OSError:
            pass

    def _drain_wakeup(self) -> None:
        try:
            while os.read(self._wakeup_r, 4096):
                pass
        except OSError:
            pass

    # -- futures and tasks ---------------------------------------------------

    # create_future is the kernel's (Scheduler.create_future).

    # kernel/task.py's: compiled, a task is made with no Python frame between.
    create_task = loop_create_task

    def set_task_factory(self, factory: Any) -> None:
        if factory is not None and not callable(factory):
            raise TypeError("task factory must be a callable or None")
        self._task_factory = factory

    def get_task_factory(self) -> Any:
        return self._task_factory

    # -- asynchronous generators --------------------------------------------

    def _asyncgen_firstiter_hook(self, agen: Any) -> None:
        if self._asyncgens_shutdown_called:
            warnings.warn(
                f"asynchronous generator {agen!r} was scheduled after "
                f"loop.shutdown_asyncgens() call",
                ResourceWarning,
                stacklevel=2,
                source=self,
            )
        self._asyncgens.add(agen)

    def _asyncgen_finalizer_hook(self, agen: Any) -> None:
        self._asyncgens.discard(agen)
        if not self._closed:
            self.call_soon_threadsafe(self.create_task, agen.aclose())

    async def shutdown_asyncgens(self) -> None:
        self._asyncgens_shutdown_called = True
        if not len(self._asyncgens):
            return
        closing = list(self._asyncgens)
        self._asyncgens.clear()
        results = await asyncio.gather(*[agen.aclose() for agen in closing], return_exceptions=True)
        for agen, result in zip(closing, results, strict=True):
            if isinstance(result, Exception):
                self.call_exception_handler(
                    {
                        "message": f"an error occurred during closing of "
                        f"asynchronous generator {agen!r}",
                        "exception": result,
                        "asyncgen": agen,
                    }
                )

    # -- executors ----------------------------------------------------------

    def run_in_executor(
        self, executor: concurrent.futures.Executor | None, func: Callable[[*Ts], T], *args: *Ts
    ) -> asyncio.Future[T]:
        self._check_closed()
        _check_callback(func, "run_in_executor")
        if executor is None:
            executor = self._default_executor
            if executor is None:
                if self._executor_shutdown_called:
                    raise RuntimeError("Executor shutdown has been called")
                executor = concurrent.futures.ThreadPoolExecutor(thread_name_prefix="glassloop")
                self._default_executor = executor
        job = executor.submit(func, *args)
        # Known (in a dict in submission order, each job to its number: an
        # exploring policy hands results back in that order, see
        # testing/exploration.py) before wrap_future: a job already done
        # queues its result from wrap_future itself.  Forgotten only after
        # wrap_future's own done callback (added first, so run first) has
        # queued the result with call_soon_threadsafe: a virtual clock that
        # finds the job gone then finds its result ready, and never sees a
        # moment with neither, when it could jump past a timeout the job was
        # about to beat (trio#456).
        jobs = self._executor_jobs
        if jobs is None:
            jobs = self._executor_jobs = {}
        jobs[job] = next(_job_numbers)
        try:
            result = asyncio.wrap_future(job, loop=self)
        except BaseException:
            jobs.pop(job, None)  # not a future we can follow: never waited for
            raise
        job.add_done_callback(jobs.pop)
        return result

    def set_default_executor(self, executor: Any) -> None:
        if not isinstance(executor, concurrent.futures.ThreadPoolExecutor):
            raise TypeError("executor must be ThreadPoolExecutor")
        self._default_executor = executor

    async def shutdown_default_executor(self, timeout: float | None = None) -> None:
        self._executor_shutdown_called = True
        executor = self._default_executor
        if executor is None:
            return
        done = self.create_future()
        thread = threading.Thread(target=self._join_executor, args=(executor, done))
        thread.start()
        try:
            if timeout is None:
                await done
            else:
                try:
                    await asyncio.wait_for(asyncio.shield(done), timeout)
                except TimeoutError:
                    warnings.warn(
                        f"The executor did not finishing joining its threads within "
                        f"{timeout} seconds.",
                        RuntimeWarning,
                        stacklevel=2,
                    )
                    executor.shutdown(wait=False)
        finally:
            thread.join(timeout)

    def _join_executor(
        self, executor: concurrent.futures.ThreadPoolExecutor, done: asyncio.Future[None]
    ) -> None:
        try:
            executor.shutdown(wait=True)
            if not self._closed:
                self.call_soon_threadsafe(set_result_unless_cancelled, done, None)
        except Exception as exc:
            if not self._closed and not done.cancelled():
                self.call_soon_threadsafe(done.set_exception, exc)

    # -- errors and debug ---------------------------------------------------

    def get_exception_handler(self) -> _ExceptionHandler | None:
        return self._exception_handler

    def set_exception_handler(self, handler: _ExceptionHandler | None) -> None:
        if handler is not None and not callable(handler):
            raise TypeError(f"A callable object or None is expected, got {handler!r}")
        self._exception_handler = handler

    def default_exception_handler(self, context: dict[str, Any]) -> None:
        message = context.get("message") or "Unhandled exception in event loop"
        exception = context.get("exception")
        exc_info: Any = (
            (type(exception), exception, exception.__traceback__) if exception else False
        )
        lines = [message]
        for key in sorted(context):
            if key in ("message", "exception"):
                continue
            value = context[key]
            if key in ("source_traceback", "handle_traceback"):
                value = "".join(traceback.format_list(value)).rstrip()
                title = "Object created at" if key == "source_traceback" else "Handle created at"
                lines.append(f"{title} (most recent call last):\n{value}")
                continue
            lines.append(f"{key}: {value!r}")
        logger.error("\n".join(lines), exc_info=exc_info)

    def call_exception_handler(self, context: dict[str, Any]) -> None:
        handler = self._exception_handler
        if handler is None:
            try:
                self.default_exception_handler(context)
            except (SystemExit, KeyboardInterrupt):
                raise
            except BaseException:
                logger.error("Exception in default exception handler", exc_info=True)
            return
        try:
            # From 3.12 the handler runs in the context of what failed (its
            # task, future or handle), so context variables it reads describe
            # the failure; 3.11's asyncio runs it in the loop's own context.
            ctx = None
            if _HANDLER_IN_FAILED_CONTEXT:
                thing = context.get("task") or context.get("future") or context.get("handle")
                get_context = getattr(thing, "get_context", None)
                ctx = get_context() if get_context is not None else None
            if isinstance(ctx, contextvars.Context):
                ctx.run(handler, self, context)
            else:
                handler(self, context)
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            try:
                self.default_exception_handler(
                    {
                        "message": "Unhandled error in exception handler",
                        "exception": exc,
                        "context": context,
                    }
                )
            except (SystemExit, KeyboardInterrupt):
                raise
            except BaseException:
                logger.error(
                    "Exception in default exception handler while handling an "
                    "unexpected error in custom exception handler",
                    exc_info=True,
                )

    # (get_debug is the kernel's: compiled, the C future's constructor, which
    # asks it of the loop for every future, calls it without a Python frame.)

    def set_debug(self, enabled: bool) -> None:
        self._set_debug_flag(enabled)
        if self.is_running():
            self.call_soon_threadsafe(self._set_coroutine_origin_tracking, enabled)

    def _log_slow_callback(self, handle: Any, duration: float) -> None:
        # Name the task, as asyncio does, not the handle of its step: a task
        # is queued as itself, or as a handle of one of its bound methods.
        if isinstance(handle, asyncio.Task):
            what = repr(handle)
        else:
            owner = getattr(getattr(handle, "_callback", None), "__self__", None)
            what = repr(owner) if isinstance(owner, asyncio.Task) else repr(handle)
        logger.warning("Executing %s took %.3f seconds", what, duration)

    # -- watching file descriptors ----------------------------------------

    def _watch(self, fd: Any, writing: bool, callback: Callable[..., object], args: Any) -> Any:
        self._check_closed()
        fileno = _fileobj_to_fd(fd)
        if self._debug:
            self._check_thread()
        _check_callback(callback, "add_writer" if writing else "add_reader")
        # (asyncio's Handle in debug mode: it records where it was made.)
        handle = (
            _Handle(callback, args, self, None)
            if self._debug
            else watch_handle(callback, args, self)
        )
        if writing:
            old = self._poller.set_writer(fileno, handle)
        else:
            old = self._poller.set_reader(fileno, handle)
        if old is not None:
            old.cancel()
        if self._hooks is not None:
            self._hooks.fd_watched(fileno, writing, handle)
        if type(fd) is not int:
            # Remembered so that the watch can still be removed through the
            # object once it is closed (its fileno() is then -1), as asyncio's
            # selector finds a registration by its file object.
            self._watched_objects[fileno] = fd
        return handle

    def _watched_fd(self, fd: Any) -> int:
        """The fd a watch on ``fd`` was registered under, even if ``fd`` is closed now."""
        try:
            return _fileobj_to_fd(fd)
        except ValueError:
            for fileno, obj in self._watched_objects.items():
                if obj is fd:
                    return fileno
            raise

    def _unwatch(self, fd: Any, writing: bool) -> bool:
        if self._closed:
            return False
        # Transports call this per pause and per drained write, with their fd.
        fileno = fd if type(fd) is int and fd >= 0 else self._watched_fd(fd)
        poller = self._poller
        if writing:
            old = poller.remove_writer(fileno)
        else:
            old = poller.remove_reader(fileno)
        if self._watched_objects and fileno in self._watched_objects:
            if poller.get_reader(fileno) is None and poller.get_writer(fileno) is None:
                del self._watched_objects[fileno]
        if old is None:
            return False
        old.cancel()
        return True

    def _ensure_fd_no_transport(self, fd: Any) -> None:
        """A transport owns its fd's watches: user callbacks there would steal its events."""
        fileno = self._watched_fd(fd)
        transport = self._transports.get(fileno)
        if transport is not None and not transport.is_closing():
            raise RuntimeError(f"File descriptor {fd!r} is used by transport {transport!r}")

    def add_reader(self, fd: Any, callback: Callable[[*Ts], object], *args: *Ts) -> None:
        self._ensure_fd_no_transport(fd)
        self._watch(fd, False, callback, args)

    def add_writer(self, fd: Any, callback: Callable[[*Ts], object], *args: *Ts) -> None:
        self._ensure_fd_no_transport(fd)
        self._watch(fd, True, callback, args)

    def remove_reader(self, fd: Any) -> bool:
        self._ensure_fd_no_transport(fd)
        return self._unwatch(fd, False)

    def remove_writer(self, fd: Any) -> bool:
        self._ensure_fd_no_transport(fd)
        return self._unwatch(fd, True)

    # -- low-level socket operations --------------------------------------

    def _check_socket(self, sock: socket.socket) -> None:
        check_not_ssl_socket(sock)
        if self._debug and sock.gettimeout() != 0:
            raise ValueError("the socket must be non-blocking")

    def _wait_fd(
        self, sock: socket.socket, writing: bool, attempt: Callable[[asyncio.Future[Any]], None]
    ) -> asyncio.Future[Any]:
        """A future that ``attempt`` completes, retried each time ``sock`` is ready.

        The watch is removed when the future is done (or cancelled), unless a
        later call on the same socket has already replaced it.
        """
        fd = sock.fileno()
        self._ensure_fd_no_transport(fd)
        fut = self.create_future()
        handle = self._watch(fd, writing, attempt, (fut,))

        def unwatch(_: asyncio.Future[Any]) -> None:
            if not handle.cancelled():
                self._unwatch(fd, writing)

        fut.add_done_callback(unwatch)
        return fut

    async def _sock_op(self, sock: socket.socket, writing: bool, method: str, *args: Any) -> Any:
        """Try ``sock.<method>(*args)`` now; if it would block, retry it when ready.

        The method is looked up on every attempt, as asyncio does, so a socket
        wrapper may change it between attempts.
        """
        self._check_socket(sock)
        try:
            return getattr(sock, method)(*args)
        except (BlockingIOError, InterruptedError):
            pass

        def attempt(fut: asyncio.Future[Any]) -> None:
            if fut.done():
                return
            try:
                result = getattr(sock, method)(*args)
            except (BlockingIOError, InterruptedError):
                return
            except (SystemExit, KeyboardInterrupt):
                raise
            except BaseException as exc:
                fut.set_exception(exc)
            else:
                fut.set_result(result)

        return await self._wait_fd(sock, writing, attempt)

    async def sock_recv(self, sock: socket.socket, nbytes: int) -> bytes:
        result: bytes = await self._sock_op(sock, False, "recv", nbytes)
        return result

    async def sock_recv_into(self, sock: socket.socket, buf: Any) -> int:
        result: int = await self._sock_op(sock, False, "recv_into", buf)
        return result

    async def sock_recvfrom(self, sock: socket.socket, bufsize: int) -> tuple[bytes, Any]:
        result: tuple[bytes, Any] = await self._sock_op(sock, False, "recvfrom", bufsize)
        return result

    async def sock_recvfrom_into(
        self, sock: socket.socket, buf: Any, nbytes: int = 0
    ) -> tuple[int, Any]:
        if not nbytes:
            nbytes = len(buf)
        result: tuple[int, Any] = await self._sock_op(sock, False, "recvfrom_into", buf, nbytes)
        return result

    async def sock_sendto(self, sock: socket.socket, data: Any, address: Any) -> int:
        result: int = await self._sock_op(sock, True, "sendto", data, address)
        return result

    async def sock_sendall(self, sock: socket.socket, data: Any) -> None:
        self._check_socket(sock)
        try:
            sent = sock.send(data)
        except (BlockingIOError, InterruptedError):
            sent = 0
        view = memoryview(data).cast("B")
        if sent == len(view):
            return
        progress = [sent]

        def attempt(fut: asyncio.Future[Any]) -> None:
            if fut.done():
                return
            start = progress[0]
            try:
                n = sock.send(view[start:])
            except (BlockingIOError, InterruptedError):
                return
            except (SystemExit, KeyboardInterrupt):
                raise
            except BaseException as exc:
                fut.set_exception(exc)
                return
            start += n
            progress[0] = start
            if start == len(view):
                fut.set_result(None)

        await self._wait_fd(sock, True, attempt)

    async def sock_connect(self, sock: socket.socket, address: Any) -> None:
        self._check_socket(sock)
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            address = await self._resolve_for_socket(sock, address)
        try:
            sock.connect(address)
            return
        except (BlockingIOError, InterruptedError):
            pass

        def attempt(fut: asyncio.Future[Any]) -> None:
            if fut.done():
                return
            err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if err in (errno.EINPROGRESS, errno.EALREADY, errno.EINTR):
                return
            if err:
                fut.set_exception(OSError(err, f"Connect call failed {address}"))
            else:
                fut.set_result(None)

        await self._wait_fd(sock, True, attempt)

    async def _resolve_for_socket(self, sock: socket.socket, address: Any) -> Any:
        """A connectable address for ``sock``: numeric hosts skip the resolver."""
        if not isinstance(address, tuple) or len(address) < 2:
            raise TypeError(f"address must be a (host, port) tuple, got {address!r}")
        if is_numeric_host(address[0]) and isinstance(address[1], int):
            return address
        infos = await self._resolve(
            address[0], address[1], family=sock.family, type=sock.type, proto=sock.proto, flags=0
        )
        return infos[0][4]

    async def _resolve(
        self,
        host: Any,
        port: Any,
        *,
        family: int,
        type: int,
        proto: int,
        flags: int,
        use: str = "connect",
    ) -> list[Any]:
        """Addresses to ``use`` ("connect" or "bind") for host and port.

        Every port a caller names comes through here, so a port out of range
        is refused here, with the error the socket call would give: the
        resolver would take 70000 as 70000 % 65536 and the server would
        listen, or the client connect, somewhere it was never told to.
        """
        check_port(port, use)
        if is_numeric_host(host) and isinstance(port, int):
            # No resolver round trip (and no executor thread) for literal addresses.
            infos = socket.getaddrinfo(
                host, port, family, type, proto, flags | socket.AI_NUMERICHOST
            )
        else:
            infos = await self.getaddrinfo(
                host, port, family=family, type=type, proto=proto, flags=flags
            )
        if not infos:
            raise OSError("getaddrinfo() returned empty list")
        return infos

    async def sock_accept(self, sock: socket.socket) -> tuple[socket.socket, Any]:
        conn, address = await self._sock_op(sock, False, "accept")
        conn.setblocking(False)
        return conn, address

    # -- name resolution ----------------------------------------------------

    async def getaddrinfo(
        self,
        host: Any,
        port: Any,
        *,
        family: int = 0,
        type: int = 0,
        proto: int = 0,
        flags: int = 0,
    ) -> list[Any]:
        getaddrinfo = functools.partial(socket.getaddrinfo, host, port, family, type, proto, flags)
        return await self.run_in_executor(None, getaddrinfo)

    async def getnameinfo(self, sockaddr: Any, flags: int = 0) -> tuple[str, str]:
        return await self.run_in_executor(None, socket.getnameinfo, sockaddr, flags)


class Loop(
    SignalsMixin, ProcessIO, PipesMixin, SocketsMixin, DatagramMixin, SendfileMixin, BaseLoop
):
    """A complete asyncio event loop whose scheduler is glassloop's kernel."""

    def _outside_work(self) -> tuple[int, int, int]:
        # The kernel's question (Scheduler._outside_work), answered with what
        # only the whole loop knows: its executor jobs, its children (a child
        # counts from spawn until it is reaped) and its signal pipe.
        signal_fds = 0 if self._signal_pipe is None else 1
        jobs = len(self._executor_jobs or ()) + len(self._children or ())
        io_fds = self._poller.fd_count() - self._internal_fds - signal_fds
        return jobs, io_fds, signal_fds


def new_event_loop(
    *, virtual_time: bool | VirtualClock = False, network: SimNet | None = None
) -> Loop:
    """A fresh glassloop loop (not set as current: that is the policy's job).

    ``virtual_time=True`` gives it a ``glassloop.testing.VirtualClock``, or
    pass a ``VirtualClock`` to choose its options: sleeps and timeouts then
    finish at once while ``loop.time()`` jumps to each deadline, whenever the
    program is durably idle (see that class for the exact rule).
    ``network=`` a ``glassloop.testing.SimNet`` routes the loop's networking
    into that simulated network.
    """
    seams: dict[str, Any] = {}
    if virtual_time is not False:
        check_virtual_time(virtual_time)
        from .testing.virtual_time import VirtualClock

        seams["clock"] = virtual_time if isinstance(virtual_time, VirtualClock) else VirtualClock()
    if network is None:
        loop = Loop(**seams)
    else:
        from .testing.simnet import SimLoop, SimNet

        if not isinstance(network, SimNet):
            raise TypeError(f"network must be a glassloop.testing.SimNet, not {network!r}")
        loop = SimLoop(network, **seams)
    for callback in new_loop_callbacks:
        callback(loop)
    return loop


#: Called with each loop new_event_loop makes: how ring 3 sees every loop of
#: a process (observe/env.py, switched on by ``glassloop run --trace`` or
#: GLASSLOOP_TRACE) without this ring importing it.  Empty by default.
new_loop_callbacks: list[Callable[[Loop], object]] = []


def check_virtual_time(virtual_time: object) -> None:
    """Refuse a ``virtual_time=`` option that is not True, False or a VirtualClock."""
    if virtual_time is True or virtual_time is False:
        return
    # Imported here: testing/ is ring 3, and a loop on the default clock must
    # not pay for importing it.
    from .testing.virtual_time import VirtualClock

    if not isinstance(virtual_time, VirtualClock):
        raise TypeError(
            f"virtual_time must be True, False or a glassloop.testing.VirtualClock, "
            f"not {type(virtual_time).__name__}"
        )
