"""Child processes: spawning, their pipes, and learning that they exited.

``ProcessIO`` gives the loop ``subprocess_exec`` and ``subprocess_shell`` (with
asyncio's argument checks), which is all ``asyncio.create_subprocess_exec`` and
``create_subprocess_shell`` need.  ``SubprocessTransport`` owns one child: its
``Popen`` object, a pipe transport per piped standard stream, and the watch on
its exit.

Exit is watched without asyncio's child watchers: where the kernel has pidfds
(Linux 5.3+), the child's pidfd is just another fd the loop polls; elsewhere a
thread blocks until the child exits and wakes the loop.  Either way the child
is reaped in the loop thread, and only that child: no ``waitpid(-1)`` that
would steal other libraries' children, no SIGCHLD handler.

Ordering is asyncio's: the protocol's ``connection_made`` comes first (the
pipe transports already exist then), ``pipe_data_received`` for a pipe comes
before its ``pipe_connection_lost``, and ``connection_lost`` comes last, once
the process has exited *and* every pipe is closed.  ``Process.wait()`` of
asyncio (``SubprocessTransport._wait``) resolves at that point.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import os
import signal
import subprocess
import threading
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from .pipes import _PipeTransport

if TYPE_CHECKING:
    from ..loop import BaseLoop

    _LoopBase = BaseLoop
else:
    _LoopBase = object

logger = logging.getLogger("asyncio")

P = TypeVar("P", bound=asyncio.BaseProtocol)

#: What asyncio reports when a child's status was taken by someone else.
UNKNOWN_RETURNCODE = 255

#: False once pidfd_open has said the kernel lacks it: don't ask for every child.
_pidfds_work = hasattr(os, "pidfd_open")


def _open_pidfd(pid: int) -> int | None:
    global _pidfds_work
    if not _pidfds_work:
        return None
    try:
        return os.pidfd_open(pid)
    except OSError:
        # ENOSYS (old kernel), EPERM (seccomp sandbox), ESRCH (already reaped by
        # someone else): the thread fallback copes with all of them.
        _pidfds_work = False
        return None


def _format_pipe(fd: Any) -> str:
    if fd == subprocess.PIPE:
        return "<pipe>"
    if fd == subprocess.STDOUT:
        return "<stdout>"
    return repr(fd)


class _PipeProtocol(asyncio.Protocol):
    """One child pipe's protocol: forwards its events to the process, tagged with its fd."""

    def __init__(self, process: SubprocessTransport, fd: int) -> None:
        self.process = process
        self.fd = fd
        self.transport: Any = None
        self.disconnected = False

    def __repr__(self) -> str:
        return f"<{type(self).__name__} fd={self.fd} transport={self.transport!r}>"

    def data_received(self, data: bytes) -> None:
        self.process._pipe_data_received(self.fd, data)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def connection_lost(self, exc: Exception | None) -> None:
        self.disconnected = True
        self.process._pipe_connection_lost(self.fd, exc)

    # stdin's flow control is the process protocol's (asyncio's stdin.drain() relies on it).

    def pause_writing(self) -> None:
        protocol = self.process._protocol
        if protocol is not None:
            protocol.pause_writing()

    def resume_writing(self) -> None:
        protocol = self.process._protocol
        if protocol is not None:
            protocol.resume_writing()


class SubprocessTransport(asyncio.SubprocessTransport):
    """A running child process as asyncio sees it."""

    def __init__(
        self,
        loop: ProcessIO,
        protocol: asyncio.BaseProtocol,
        popen: subprocess.Popen[bytes],
        waiter: asyncio.Future[None] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(extra)
        self._loop = loop
        self._protocol: Any = protocol
        self._proc: subprocess.Popen[bytes] | None = popen
        self._pid = popen.pid
        self._returncode: int | None = None
        self._closed = False
        self._finished = False
        self._exit_waiters: list[asyncio.Future[int]] = []
        # Events that happen before connection_made has run wait here.
        self._pending: collections.deque[tuple[Callable[..., object], tuple[Any, ...]]] | None = (
            collections.deque()
        )
        # False if the pipes could not be connected: the caller never got this
        # transport, so its protocol must not hear of it.
        self._protocol_connected = True
        self._pidfd: int | None = None
        self._extra: dict[str, Any]
        self._extra["subprocess"] = popen

        self._pipes: dict[int, _PipeProtocol] = {}
        for fd, pipe in enumerate((popen.stdin, popen.stdout, popen.stderr)):
            if pipe is not None:
                self._pipes[fd] = _PipeProtocol(self, fd)
        self._watch_exit()
        # A task of its own, as in asyncio: cancelling the caller must not leave
        # half the pipes unconnected, and connect_*_pipe is public, so it is
        # what a loop subclass or a test sees being called.
        loop.create_task(self._connect_pipes(waiter))

    def __repr__(self) -> str:
        info = [type(self).__name__]
        if self._closed:
            info.append("closed")
        info.append(f"pid={self._pid}")
        info.append("running" if self._returncode is None else f"returncode={self._returncode}")
        for fd, name in ((0, "stdin"), (1, "stdout"), (2, "stderr")):
            pipe = self._pipes.get(fd)
            if pipe is not None:
                info.append(f"{name}={pipe.transport!r}")
        return f"<{' '.join(info)}>"

    def __del__(self, _warn: Any = warnings.warn) -> None:
        if not getattr(self, "_closed", True):
            _warn(f"unclosed transport {self!r}", ResourceWarning, source=self)
            self.close()

    # -- the SubprocessTransport interface ----------------------------------

    def get_pid(self) -> int:
        return self._pid

    def get_returncode(self) -> int | None:
        return self._returncode

    def get_pipe_transport(self, fd: int) -> Any:
        pipe = self._pipes.get(fd)
        return None if pipe is None else pipe.transport

    def get_protocol(self) -> Any:
        return self._protocol

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self._protocol = protocol

    def is_closing(self) -> bool:
        return self._closed

    def _check_proc(self) -> subprocess.Popen[bytes]:
        if self._proc is None:
            raise ProcessLookupError()
        return self._proc

    def send_signal(self, sig: int) -> None:
        self._check_proc()
        if self._returncode is not None:
            # Reaped: the pid may already name another process.
            return
        try:
            if self._pidfd is not None:
                signal.pidfd_send_signal(self._pidfd, sig)
            else:
                os.kill(self._pid, sig)
        except ProcessLookupError:
            pass  # exited; its exit is on its way to us

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        loop_alive = not self._loop.is_closed()
        for pipe in self._pipes.values():
            transport = pipe.transport
            if transport is None:
                continue
            if loop_alive or not isinstance(transport, _PipeTransport):
                transport.close()
            else:
                transport._discard()  # close() would schedule on a closed loop
        proc = self._proc
        if proc is not None and self._returncode is None and self._child_running(proc):
            if self._loop.get_debug():
                logger.warning("Close running child process: kill %r", self)
            try:
                # Through Popen, as asyncio does: callers may have wrapped it.
                proc.kill()
            except (ProcessLookupError, PermissionError):
                pass

    def _child_running(self, proc: subprocess.Popen[bytes]) -> bool:
        """Has the child not exited yet?  Asked without reaping it."""
        if proc.returncode is not None:
            return False
        try:
            exited = os.waitid(os.P_PID, self._pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:
            return False  # already reaped by someone else
        return exited is None

    async def _wait(self) -> int:
        """The return code, once the process has exited and its pipes are closed.

        asyncio's ``Process.wait()`` calls this private method by name.
        """
        if self._returncode is not None:
            return self._returncode
        waiter: asyncio.Future[int] = self._loop.create_future()
        self._exit_waiters.append(waiter)
        return await waiter

    # -- events, in asyncio's order -------------------------------------------

    async def _connect_pipes(self, waiter: asyncio.Future[None] | None) -> None:
        proc = self._proc
        assert proc is not None
        loop = self._loop
        connects = (
            (0, proc.stdin, loop.connect_write_pipe),
            (1, proc.stdout, loop.connect_read_pipe),
            (2, proc.stderr, loop.connect_read_pipe),
        )
        try:
            for fd, pipe, connect in connects:
                if pipe is None:
                    continue
                pipe_protocol = self._pipes[fd]
                transport, _ = await connect(lambda p=pipe_protocol: p, pipe)  # type: ignore[misc]
                if self._closed:
                    transport.close()  # closed while we were connecting
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._protocol_connected = False
            self._abandon_unconnected_pipes()
            self._release_pending()
            if waiter is not None and not waiter.cancelled():
                waiter.set_exception(exc)
            return
        loop.call_soon(self._connection_made, waiter)

    def _abandon_unconnected_pipes(self) -> None:
        proc = self._proc
        for fd, pipe_protocol in self._pipes.items():
            if pipe_protocol.transport is None and not pipe_protocol.disconnected:
                pipe_protocol.disconnected = True
                if proc is not None:
                    pipe = (proc.stdin, proc.stdout, proc.stderr)[fd]
                    if pipe is not None:
                        pipe.close()
        self._try_finish()

    def _deliver(self, callback: Callable[..., object], *args: Any) -> None:
        if self._pending is not None:
            self._pending.append((callback, args))
        else:
            self._loop.call_soon(callback, *args)

    def _notify(self, method: str, *args: Any) -> None:
        """Call the protocol, looked up now: set_protocol may have replaced it."""
        if self._protocol_connected:
            getattr(self._protocol, method)(*args)

    def _release_pending(self) -> None:
        pending, self._pending = self._pending, None
        for callback, args in pending or ():
            self._loop.call_soon(callback, *args)

    def _connection_made(self, waiter: asyncio.Future[None] | None) -> None:
        try:
            self._protocol.connection_made(self)
        finally:
            self._release_pending()
            if waiter is not None and not waiter.cancelled():
                waiter.set_result(None)

    def _pipe_data_received(self, fd: int, data: bytes) -> None:
        self._deliver(self._notify, "pipe_data_received", fd, data)

    def _pipe_connection_lost(self, fd: int, exc: Exception | None) -> None:
        self._deliver(self._notify, "pipe_connection_lost", fd, exc)
        self._try_finish()

    def _process_exited(self, returncode: int) -> None:
        if self._returncode is not None:
            return
        if self._loop.get_debug():
            logger.info("%r exited with return code %r", self, returncode)
        self._returncode = returncode
        if self._proc is not None and self._proc.returncode is None:
            # So Popen neither waits for it again nor warns that it still runs.
            self._proc.returncode = returncode
        self._deliver(self._notify, "process_exited")
        self._try_finish()

    def _try_finish(self) -> None:
        if self._finished or self._returncode is None:
            return
        if all(pipe.disconnected for pipe in self._pipes.values()):
            self._finished = True
            self._deliver(self._call_connection_lost, None)

    def _call_connection_lost(self, exc: Exception | None) -> None:
        try:
            self._notify("connection_lost", exc)
        finally:
            waiters, self._exit_waiters = self._exit_waiters, []
            for waiter in waiters:
                if not waiter.cancelled():
                    waiter.set_result(self._returncode)  # type: ignore[arg-type]
            self._proc = None
            self._protocol = None

    # -- watching for the exit ------------------------------------------------

    def _watch_exit(self) -> None:
        self._loop._children_alive().add(self)
        pidfd = _open_pidfd(self._pid)
        if pidfd is not None:
            self._pidfd = pidfd
            self._loop._watch(pidfd, False, self._reap, ())
            return
        thread = threading.Thread(
            target=self._wait_in_thread, name=f"glassloop-waitpid-{self._pid}", daemon=True
        )
        thread.start()

    def _wait_in_thread(self) -> None:
        """The fallback: block until the child exits, then let the loop reap it.

        ``WNOWAIT`` leaves the child a zombie, so the loop thread stays the one
        place that reaps (``close()`` there can still tell "exited" from "gone").
        """
        pid = self._pid
        try:
            os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT)
        except ChildProcessError:
            pass  # reaped elsewhere: _reap will say so
        try:
            self._loop.call_soon_threadsafe(self._reap)
        except RuntimeError:  # the loop closed meanwhile: no one to tell
            _reap_quietly(pid)

    def _reap(self) -> None:
        """Collect the exit status; with a pidfd, called when it becomes readable."""
        proc = self._proc
        try:
            pid, status = os.waitpid(self._pid, os.WNOHANG)
        except ChildProcessError:
            if proc is not None and proc.returncode is not None:
                returncode = proc.returncode  # Popen.wait()/poll() took it first
            else:
                logger.warning(
                    "Unknown child process pid %d, will report returncode %d",
                    self._pid,
                    UNKNOWN_RETURNCODE,
                )
                returncode = UNKNOWN_RETURNCODE
        else:
            if pid == 0:
                return  # not exited after all; the watch stays
            returncode = os.waitstatus_to_exitcode(status)
        self._stop_watching()
        self._process_exited(returncode)

    def _stop_watching(self) -> None:
        self._loop._children_alive().discard(self)
        pidfd, self._pidfd = self._pidfd, None
        if pidfd is not None:
            self._loop._unwatch(pidfd, False)
            os.close(pidfd)

    def _orphan(self) -> None:
        """The loop is closing under a live child: reap it in a thread, tell no one."""
        pidfd, self._pidfd = self._pidfd, None
        if pidfd is None:
            return  # the waiter thread is already on it
        os.close(pidfd)
        threading.Thread(
            target=_reap_quietly, args=(self._pid, True), name="glassloop-orphan", daemon=True
        ).start()


def _abandon(popen: subprocess.Popen[bytes]) -> None:
    """A child we could not take charge of: kill it and reap it off the loop."""
    for pipe in (popen.stdin, popen.stdout, popen.stderr):
        if pipe is not None:
            pipe.close()
    try:
        os.kill(popen.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    popen.returncode = -signal.SIGKILL  # so Popen.__del__ doesn't try again
    threading.Thread(target=_reap_quietly, args=(popen.pid, True), daemon=True).start()


def _reap_quietly(pid: int, block: bool = False) -> None:
    try:
        os.waitpid(pid, 0 if block else os.WNOHANG)
    except ChildProcessError:
        pass


class ProcessIO(_LoopBase):
    """Loop methods that start child processes."""

    _children: set[SubprocessTransport] | None = None

    def _children_alive(self) -> set[SubprocessTransport]:
        children = self._children
        if children is None:
            children = self._children = set()
        return children

    def close(self) -> None:
        super().close()
        children, self._children = self._children, None
        for child in children or ():
            child._orphan()

    async def subprocess_exec(
        self,
        protocol_factory: Callable[[], P],
        program: Any,
        *args: Any,
        stdin: Any = subprocess.PIPE,
        stdout: Any = subprocess.PIPE,
        stderr: Any = subprocess.PIPE,
        universal_newlines: bool = False,
        shell: bool = False,
        bufsize: int = 0,
        encoding: str | None = None,
        errors: str | None = None,
        text: bool | None = None,
        **kwargs: Any,
    ) -> tuple[SubprocessTransport, P]:
        if universal_newlines:
            raise ValueError("universal_newlines must be False")
        if shell:
            raise ValueError("shell must be False")
        _check_binary(bufsize, text, encoding, errors)
        protocol = protocol_factory()
        if self.get_debug():
            # Only the program: arguments may hold secrets (and be huge).
            _log_spawn(f"execute program {program!r}", stdin, stdout, stderr)
        transport = await self._spawn(
            protocol, (program, *args), False, stdin, stdout, stderr, bufsize, kwargs
        )
        return transport, protocol

    async def subprocess_shell(
        self,
        protocol_factory: Callable[[], P],
        cmd: bytes | str,
        *,
        stdin: Any = subprocess.PIPE,
        stdout: Any = subprocess.PIPE,
        stderr: Any = subprocess.PIPE,
        universal_newlines: bool = False,
        shell: bool = True,
        bufsize: int = 0,
        encoding: str | None = None,
        errors: str | None = None,
        text: bool | None = None,
        **kwargs: Any,
    ) -> tuple[SubprocessTransport, P]:
        if not isinstance(cmd, (bytes, str)):
            raise ValueError("cmd must be a string")
        if universal_newlines:
            raise ValueError("universal_newlines must be False")
        if not shell:
            raise ValueError("shell must be True")
        _check_binary(bufsize, text, encoding, errors)
        protocol = protocol_factory()
        if self.get_debug():
            _log_spawn(f"run shell command {cmd!r}", stdin, stdout, stderr)
        transport = await self._spawn(protocol, cmd, True, stdin, stdout, stderr, bufsize, kwargs)
        return transport, protocol

    async def _spawn(
        self,
        protocol: asyncio.BaseProtocol,
        args: Any,
        shell: bool,
        stdin: Any,
        stdout: Any,
        stderr: Any,
        bufsize: int,
        popen_kwargs: dict[str, Any],
    ) -> SubprocessTransport:
        self._check_closed()
        # Looked up on the module each time, so tests may patch subprocess.Popen.
        popen = subprocess.Popen(
            args,
            shell=shell,
            stdin=stdin,
            stdout=stdout,
            stderr=stderr,
            universal_newlines=False,
            bufsize=bufsize,
            **popen_kwargs,
        )
        waiter: asyncio.Future[None] = self.create_future()
        try:
            transport = SubprocessTransport(self, protocol, popen, waiter)
        except BaseException:
            _abandon(popen)
            raise
        try:
            await waiter
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException:
            # Cancelled before the caller got the transport: nobody else can
            # clean up, so kill the child and wait until it is reaped.
            transport.close()
            await transport._wait()
            raise
        if self.get_debug():
            logger.debug("%r started", transport)
        return transport


def _check_binary(
    bufsize: int, text: bool | None, encoding: str | None, errors: str | None
) -> None:
    """Transports carry bytes: refuse Popen's text-mode arguments as asyncio does."""
    if bufsize != 0:
        raise ValueError("bufsize must be 0")
    if text:
        raise ValueError("text must be False")
    if encoding is not None:
        raise ValueError("encoding must be None")
    if errors is not None:
        raise ValueError("errors must be None")


def _log_spawn(message: str, stdin: Any, stdout: Any, stderr: Any) -> None:
    info = [message]
    if stdin is not None:
        info.append(f"stdin={_format_pipe(stdin)}")
    if stdout is not None and stderr == subprocess.STDOUT:
        info.append(f"stdout=stderr={_format_pipe(stdout)}")
    else:
        if stdout is not None:
            info.append(f"stdout={_format_pipe(stdout)}")
        if stderr is not None:
            info.append(f"stderr={_format_pipe(stderr)}")
    logger.debug(" ".join(info))
