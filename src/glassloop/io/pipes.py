"""Pipe transports: one direction of bytes over a pipe, FIFO, socket or tty.

``ReadPipeTransport`` and ``WritePipeTransport`` are the stream transport of
``io.stream`` with the fd moved by ``os.read``/``os.write`` and asyncio's pipe
rules on top: regular files are refused (they are always "ready", so a loop
would spin on them), a read pipe is finished at EOF whatever ``eof_received``
answers (there is no write side to keep open), and a write pipe's
``write_eof`` is its ``close``.  ``PipesMixin`` gives the loop
``connect_read_pipe`` and ``connect_write_pipe``; subprocesses use the
transports directly.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import stat
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

from .stream import StreamTransport

if TYPE_CHECKING:
    from ..loop import BaseLoop

    _LoopBase = BaseLoop
else:
    _LoopBase = object

logger = logging.getLogger("asyncio")

P = TypeVar("P", bound=asyncio.BaseProtocol)


def _pipe_mode(pipe: Any) -> tuple[int, int]:
    """``(fd, st_mode)`` of a pipe object, or ValueError if polling it is meaningless."""
    fd = pipe.fileno()
    mode = os.fstat(fd).st_mode
    if not (stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode) or stat.S_ISCHR(mode)):
        raise ValueError("Pipe transport is only for pipes, sockets and character devices")
    return fd, mode


class _PipeTransport(StreamTransport):
    """What both directions share: the pipe object is closed with the transport."""

    _pipe: Any = None

    def _open_pipe(self, pipe: Any) -> tuple[int, int]:
        fd, mode = _pipe_mode(pipe)
        os.set_blocking(fd, False)
        self._pipe = pipe
        return fd, mode

    def _close_fd(self) -> None:
        pipe, self._pipe = self._pipe, None
        if pipe is not None:
            pipe.close()

    def _shutdown_write(self) -> None:
        self.close()

    def _discard(self) -> None:
        """The loop is closed: close the pipe now, no callbacks can run any more."""
        self._closing = True
        self._close_fd()
        self._fd = -1

    def __del__(self) -> None:
        # A pipe object someone else has already taken away is not ours to warn about.
        if self._pipe is not None:
            super().__del__()


class ReadPipeTransport(_PipeTransport):
    """The reading end of a pipe; asyncio's ``connect_read_pipe`` transport."""

    def __init__(
        self,
        loop: BaseLoop,
        pipe: Any,
        protocol: asyncio.BaseProtocol,
        waiter: asyncio.Future[None] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        fd, _ = self._open_pipe(pipe)
        self._io = _PipeIO(fd, writable=False)
        info = dict(extra or {})
        info["pipe"] = pipe
        super().__init__(loop, fd, protocol, extra=info, waiter=waiter)

    def _read_eof(self) -> None:
        if self._loop.get_debug():
            logger.info("%r was closed by peer", self)
        self._at_eof = True
        try:
            self._protocol.eof_received()
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._fatal_error(exc, "Fatal error: protocol.eof_received() call failed.")
            return
        self.close()

    def write(self, data: Any) -> None:
        _cannot_write(data)

    def writelines(self, list_of_data: Any) -> None:
        _cannot_write(list_of_data)

    def can_write_eof(self) -> bool:
        return False

    def write_eof(self) -> None:
        _cannot_write(None)


class WritePipeTransport(_PipeTransport):
    """The writing end of a pipe; asyncio's ``connect_write_pipe`` transport.

    A pipe has no way to say "the reader went away" except an error on the next
    write, so for FIFOs and sockets we also watch the fd for readability: the
    kernel reports a hang-up (or error) there when the other end is closed, and
    the protocol hears ``connection_lost`` without having to write first.
    """

    def __init__(
        self,
        loop: BaseLoop,
        pipe: Any,
        protocol: asyncio.BaseProtocol,
        waiter: asyncio.Future[None] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        fd, mode = self._open_pipe(pipe)
        self._io = _PipeIO(fd, writable=True)
        info = dict(extra or {})
        info["pipe"] = pipe
        super().__init__(loop, fd, protocol, extra=info, waiter=waiter, readable=False)
        if stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode):
            # After connection_made, which the base has just queued.
            loop.call_soon(self._watch_for_hangup)

    def _watch_for_hangup(self) -> None:
        if not self._closing and self._fd >= 0:
            self._loop._watch(self._fd, False, self._peer_closed, ())

    def _peer_closed(self) -> None:
        if self._loop.get_debug():
            logger.info("%r was closed by peer", self)
        # Data still buffered can never be delivered: that is a broken pipe.
        self._force_close(BrokenPipeError() if self._buffer else None)

    def write_eof(self) -> None:
        # The reader sees EOF when the last writer closes: that is all write_eof can mean.
        self.close()

    # A write pipe is a WriteTransport only: asyncio's answers NotImplementedError
    # (from ReadTransport's defaults) to the reading calls, so code that probes
    # for them keeps working the same way on glassloop.
    def pause_reading(self) -> None:
        raise NotImplementedError

    def resume_reading(self) -> None:
        raise NotImplementedError

    def is_reading(self) -> bool:
        raise NotImplementedError


class _PipeIO:
    """A pipe's fd with the socket-style calls StreamTransport makes on its ``_io``."""

    __slots__ = ("recv", "recv_into", "send")

    def __init__(self, fd: int, *, writable: bool) -> None:
        # Partials, not methods: no Python frame between the transport and the syscall.
        self.recv: Callable[[int], bytes] = functools.partial(os.read, fd)
        self.recv_into: Callable[[Any], int] = functools.partial(_readinto, fd)
        self.send: Callable[[Any], int] = (
            functools.partial(os.write, fd) if writable else _cannot_write
        )


def _readinto(fd: int, buf: Any) -> int:
    return os.readv(fd, (buf,))


def _cannot_write(data: object) -> NoReturn:
    raise NotImplementedError("a read pipe transport cannot write")


class PipesMixin(_LoopBase):
    """Loop methods connecting protocols to existing pipes."""

    async def connect_read_pipe(
        self, protocol_factory: Callable[[], P], pipe: Any
    ) -> tuple[ReadPipeTransport, P]:
        protocol = protocol_factory()
        waiter: asyncio.Future[None] = self.create_future()
        transport = ReadPipeTransport(self, pipe, protocol, waiter)
        return await self._pipe_connected(transport, protocol, waiter)

    async def connect_write_pipe(
        self, protocol_factory: Callable[[], P], pipe: Any
    ) -> tuple[WritePipeTransport, P]:
        protocol = protocol_factory()
        waiter: asyncio.Future[None] = self.create_future()
        transport = WritePipeTransport(self, pipe, protocol, waiter)
        return await self._pipe_connected(transport, protocol, waiter)

    async def _pipe_connected(
        self, transport: Any, protocol: P, waiter: asyncio.Future[None]
    ) -> tuple[Any, P]:
        """Return once connection_made has run; a cancelled connect closes the pipe."""
        try:
            await waiter
        except BaseException:
            transport.close()
            raise
        if self.get_debug():
            logger.debug("Connected pipe %r to protocol %r", transport, protocol)
        return transport, protocol
