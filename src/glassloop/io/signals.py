"""Unix signal handlers that run as loop callbacks.

``SignalsMixin`` gives the loop ``add_signal_handler``/``remove_signal_handler``.
A signal can arrive at any instruction, so the handler must not run there: the
C-level handler only writes the signal number into a pipe that
``signal.set_wakeup_fd`` points at, and the loop reads that pipe like any other
fd and queues the registered callback.  The Python-level handler is a no-op
whose only job is to keep Python's default action (exit, KeyboardInterrupt)
from happening.

Signal dispositions and the wake-up fd are per process, so, as in asyncio, only
the main thread may install handlers and the last loop to do so receives them.
"""

from __future__ import annotations

import asyncio
import errno
import inspect
import logging
import os
import signal
import sys
import warnings
from asyncio import events
from collections.abc import Callable
from types import FrameType
from typing import TYPE_CHECKING, TypeVarTuple

if TYPE_CHECKING:
    from ..loop import BaseLoop

    _LoopBase = BaseLoop
else:
    _LoopBase = object

logger = logging.getLogger("asyncio")

Ts = TypeVarTuple("Ts")

#: The write ends of every loop's signal pipe in this process.  A forked child
#: inherits the wake-up fd; if it still pointed into our pipe, the child's
#: signals would be read, and handled, by the parent's loop.
_OUR_WAKEUP_FDS: set[int] = set()


def _forget_wakeup_fd_in_child() -> None:
    try:
        current = signal.set_wakeup_fd(-1)
    except ValueError:  # forked from a thread other than the main one
        return
    if current not in _OUR_WAKEUP_FDS and current != -1:
        signal.set_wakeup_fd(current)  # someone else's: leave it be


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_wakeup_fd_in_child)


def _wake_only(signum: int, frame: FrameType | None) -> None:
    """The Python-level handler: the wake-up fd already carried the news."""


def check_signal(sig: object) -> int:
    """asyncio's validation, with its exception types (TypeError, then ValueError)."""
    if not isinstance(sig, int):
        raise TypeError(f"sig must be an int, not {sig!r}")
    if sig not in signal.valid_signals():
        raise ValueError(f"invalid signal number {sig}")
    return sig


class SignalsMixin(_LoopBase):
    """Loop methods for Unix signals; state is created on first use."""

    # signum -> the handle queued each time that signal arrives.
    _signal_handlers: dict[int, asyncio.Handle] | None = None
    _signal_pipe: tuple[int, int] | None = None

    def add_signal_handler(self, sig: int, callback: Callable[[*Ts], object], *args: *Ts) -> None:
        if asyncio.iscoroutine(callback) or inspect.iscoroutinefunction(callback):
            raise TypeError("coroutines cannot be used with add_signal_handler()")
        check_signal(sig)
        self._check_closed()
        wakeup_w = self._open_signal_pipe()
        try:
            # Raises ValueError off the main thread: doing it first means a loop
            # in another thread cannot half-install a handler.
            signal.set_wakeup_fd(wakeup_w, warn_on_full_buffer=False)
        except (ValueError, OSError) as exc:
            if not self._signal_handlers:
                self._close_signal_pipe()
            raise RuntimeError(str(exc)) from None

        handlers = self._signal_handlers
        if handlers is None:
            handlers = self._signal_handlers = {}
        handlers[sig] = events.Handle(callback, args, self, None)
        try:
            signal.signal(sig, _wake_only)
            # A signal must not make blocking syscalls elsewhere fail with EINTR.
            signal.siginterrupt(sig, False)
        except OSError as exc:
            del handlers[sig]
            if not handlers:
                self._close_signal_pipe()
            if exc.errno == errno.EINVAL:
                raise RuntimeError(f"sig {sig} cannot be caught") from exc
            raise

    def remove_signal_handler(self, sig: int) -> bool:
        check_signal(sig)
        handlers = self._signal_handlers
        if not handlers or handlers.pop(sig, None) is None:
            return False
        default = signal.default_int_handler if sig == signal.SIGINT else signal.SIG_DFL
        try:
            signal.signal(sig, default)
        except OSError as exc:
            if exc.errno == errno.EINVAL:
                raise RuntimeError(f"sig {sig} cannot be caught") from exc
            raise
        if not handlers:
            # Without handlers the pipe only costs a poll per turn: drop it.
            self._close_signal_pipe()
        return True

    def close(self) -> None:
        super().close()
        handlers = self._signal_handlers
        if handlers:
            if sys.is_finalizing():
                # The signal module may already be torn down: don't touch it.
                warnings.warn(
                    f"Closing the loop {self!r} on interpreter shutdown stage, "
                    f"skipping signal handlers removal",
                    ResourceWarning,
                    stacklevel=2,
                    source=self,
                )
                handlers.clear()
            else:
                for sig in list(handlers):
                    self.remove_signal_handler(sig)
        self._close_signal_pipe()

    # -- the wake-up pipe ------------------------------------------------------

    def _open_signal_pipe(self) -> int:
        """The write end signal numbers go to, creating the pipe on first use.

        A pipe of our own rather than the loop's thread-safe wake-up pipe: that
        one is drained without looking at the bytes.
        """
        if self._signal_pipe is None:
            r, w = os.pipe()
            os.set_blocking(r, False)
            os.set_blocking(w, False)  # set_wakeup_fd insists on it
            self._signal_pipe = (r, w)
            _OUR_WAKEUP_FDS.add(w)
            # Not an "internal" fd: while handlers exist, every turn polls, so a
            # loop that is always busy still sees its signals.
            self._watch(r, False, self._dispatch_signals, ())
        return self._signal_pipe[1]

    def _close_signal_pipe(self) -> None:
        """Close the pipe, and release the wake-up fd if it is still ours.

        Unlike asyncio, a loop removing its last handler leaves alone a wake-up
        fd that another loop has installed since: that loop's handlers go on
        working.
        """
        pipe, self._signal_pipe = self._signal_pipe, None
        if pipe is None:
            return
        r, w = pipe
        _OUR_WAKEUP_FDS.discard(w)
        try:
            current = signal.set_wakeup_fd(-1)
            if current not in (w, -1):
                signal.set_wakeup_fd(current)  # someone else's: put it back
        except (ValueError, OSError) as exc:  # ValueError: not the main thread
            logger.info("set_wakeup_fd(-1) failed: %s", exc)
        self._unwatch(r, False)
        os.close(r)
        os.close(w)

    def _dispatch_signals(self) -> None:
        pipe = self._signal_pipe
        if pipe is None:
            return
        try:
            data = os.read(pipe[0], 4096)
        except (BlockingIOError, InterruptedError):
            return
        handlers = self._signal_handlers or {}
        for signum in data:
            handle = handlers.get(signum)
            if handle is None:
                continue  # removed while the byte was in flight
            # The same handle runs once per delivery, in arrival order, after the
            # callbacks already queued: a signal is an event like I/O.
            self._ready.append(handle)
