"""Sending files: ``sock_sendfile`` and ``loop.sendfile``.

The fast path hands the copy to the kernel (``os.sendfile``); where that can't
work (a TLS transport, a file object without a descriptor) and the caller
allows it, the file is read in chunks and written with flow control.
"""

from __future__ import annotations

import asyncio
import errno
import io
import os
import socket
from asyncio.constants import _SendfileMode as SendfileMode
from typing import TYPE_CHECKING, Any

from .sockets import SocketTransport

if TYPE_CHECKING:
    from ..loop import BaseLoop

    _LoopBase = BaseLoop
else:
    _LoopBase = object

#: Chunk size of the read-and-write fallback.
_FALLBACK_CHUNK = 256 * 1024
#: Largest single os.sendfile call (Linux caps one call near 2 GiB anyway); in
#: practice one call sends what the socket buffer takes, then the loop runs.
_NATIVE_CHUNK = 1 << 30


def _check_sendfile_arguments(sock: socket.socket, file: Any, offset: Any, count: Any) -> None:
    if "b" not in getattr(file, "mode", "b"):
        raise ValueError("file should be opened in binary mode")
    if sock.type != socket.SOCK_STREAM:
        raise ValueError("only SOCK_STREAM type sockets are supported")
    if count is not None:
        if not isinstance(count, int):
            raise TypeError(f"count must be a positive integer (got {count!r})")
        if count <= 0:
            raise ValueError(f"count must be a positive integer (got {count!r})")
    if not isinstance(offset, int):
        raise TypeError(f"offset must be a non-negative integer (got {offset!r})")
    if offset < 0:
        raise ValueError(f"offset must be a non-negative integer (got {offset!r})")


class _FlowWatcher(asyncio.Protocol):
    """Stands in for the protocol while sendfile writes, to learn of pauses.

    Reading is paused meanwhile, as asyncio does: what the peer sends waits in
    the kernel for the real protocol (which may be a BufferedProtocol, whose
    buffer only it can provide).  The end of the connection still reaches it.
    """

    def __init__(self, loop: BaseLoop, transport: asyncio.Transport) -> None:
        self._loop = loop
        self._transport = transport
        self._inner: Any = transport.get_protocol()
        self._resumed: asyncio.Future[None] | None = None
        self._paused = bool(getattr(transport, "_protocol_paused", False))
        self._was_paused = self._paused
        self._lost: BaseException | None = None
        #: What the native path waits on; failed if the connection goes meanwhile.
        self.writable: asyncio.Future[None] | None = None
        is_reading = getattr(transport, "is_reading", None)
        self._was_reading = bool(is_reading and is_reading())
        if self._was_reading:
            transport.pause_reading()
        transport.set_protocol(self)

    async def drain(self) -> None:
        if self._lost is not None:
            raise self._lost
        if self._paused:
            self._resumed = self._loop.create_future()
            await self._resumed

    def pause_writing(self) -> None:
        self._paused = True

    def resume_writing(self) -> None:
        self._paused = False
        if self._resumed is not None and not self._resumed.done():
            self._resumed.set_result(None)

    def data_received(self, data: bytes) -> None:
        self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        result: bool | None = self._inner.eof_received()
        return result

    def connection_lost(self, exc: BaseException | None) -> None:
        self._lost = exc or ConnectionError("Connection closed during sendfile")
        for waiter in (self._resumed, self.writable):
            if waiter is not None and not waiter.done():
                waiter.set_exception(self._lost)
        self._inner.connection_lost(exc)

    def check(self) -> None:
        """Raise if the connection is gone: nothing more can be sent."""
        if self._lost is not None:
            raise self._lost

    def release(self) -> None:
        """Give the transport back to the real protocol as it was, telling it of a missed resume."""
        self._transport.set_protocol(self._inner)
        if self._was_reading:
            self._transport.resume_reading()
        if self._was_paused and not self._paused and self._lost is None:
            self._inner.resume_writing()


class SendfileMixin(_LoopBase):
    """The loop's ``sock_sendfile`` and ``sendfile``."""

    async def sock_sendfile(
        self,
        sock: socket.socket,
        file: Any,
        offset: int = 0,
        count: int | None = None,
        *,
        fallback: bool | None = True,
    ) -> int:
        self._check_socket(sock)
        _check_sendfile_arguments(sock, file, offset, count)
        try:
            return await self._sock_sendfile_native(sock, file, offset, count)
        except asyncio.SendfileNotAvailableError:
            if not fallback:
                raise
        return await self._sendfile_by_reading(sock, file, offset, count)

    async def _sock_sendfile_native(
        self,
        sock: socket.socket,
        file: Any,
        offset: int,
        count: int | None,
        watcher: _FlowWatcher | None = None,
    ) -> int:
        if not hasattr(os, "sendfile"):
            raise asyncio.SendfileNotAvailableError("os.sendfile() is not available")
        try:
            fileno = file.fileno()
        except (AttributeError, io.UnsupportedOperation) as exc:
            raise asyncio.SendfileNotAvailableError("not a regular file") from exc
        try:
            size = os.fstat(fileno).st_size
        except OSError:
            raise asyncio.SendfileNotAvailableError("not a regular file") from None
        remaining = (size - offset) if count is None else min(count, max(size - offset, 0))
        sent_total = 0
        try:
            while remaining > 0:
                if watcher is not None:
                    watcher.check()
                try:
                    sent = os.sendfile(
                        sock.fileno(), fileno, offset + sent_total, min(remaining, _NATIVE_CHUNK)
                    )
                except (BlockingIOError, InterruptedError):
                    await self._writable(sock, watcher)
                    continue
                except OSError as exc:
                    if sent_total == 0 and exc.errno in (
                        errno.ENOTSOCK,
                        errno.EINVAL,
                        errno.EOPNOTSUPP,
                        errno.ENOSYS,
                    ):
                        raise asyncio.SendfileNotAvailableError(
                            "os.sendfile() cannot send this file"
                        ) from exc
                    raise
                if sent == 0:
                    break  # end of file came early
                sent_total += sent
                remaining -= sent
                if remaining > 0:
                    # One call per wake-up, as asyncio does: a peer that reads as
                    # fast as we send must not let this keep the loop to itself.
                    await self._writable(sock, watcher)
            return sent_total
        finally:
            if sent_total > 0:
                file.seek(offset + sent_total)

    async def _writable(self, sock: socket.socket, watcher: _FlowWatcher | None = None) -> None:
        """Wait until ``sock`` can take more; under a transport, fail if it is lost meanwhile."""
        fut: asyncio.Future[None] = self.create_future()
        fd = sock.fileno()
        handle = self._watch(fd, True, _set_if_pending, (fut,))
        if watcher is not None:
            watcher.writable = fut
        try:
            await fut
        finally:
            if watcher is not None:
                watcher.writable = None
            # A transport closing meanwhile has already dropped (cancelled) the
            # watch, and its fd number may be someone else's by now.
            if not handle.cancelled():
                self._unwatch(fd, True)

    async def _sendfile_by_reading(
        self, sock: socket.socket, file: Any, offset: int, count: int | None
    ) -> int:
        sent_total = 0
        if offset:
            file.seek(offset)
        try:
            while count is None or sent_total < count:
                size = (
                    _FALLBACK_CHUNK if count is None else min(_FALLBACK_CHUNK, count - sent_total)
                )
                data = await self.run_in_executor(None, file.read, size)
                if not data:
                    break
                await self.sock_sendall(sock, data)
                sent_total += len(data)
            return sent_total
        finally:
            if sent_total:
                file.seek(offset + sent_total)

    async def sendfile(
        self,
        transport: asyncio.WriteTransport,
        file: Any,
        offset: int = 0,
        count: int | None = None,
        *,
        fallback: bool = True,
    ) -> int:
        if transport.is_closing():
            raise RuntimeError("Transport is closing")
        # Transports say what they allow under asyncio's attribute, so a
        # third-party transport that declares it works here as under asyncio;
        # one that doesn't (pipes, datagrams) is refused, fallback or not.
        mode = getattr(transport, "_sendfile_compatible", SendfileMode.UNSUPPORTED)
        if mode is SendfileMode.UNSUPPORTED:
            raise RuntimeError(f"sendfile is not supported for transport {transport!r}")
        if (
            mode is SendfileMode.TRY_NATIVE
            and isinstance(transport, SocketTransport)
            and transport._sock is not None
        ):
            _check_sendfile_arguments(transport._sock, file, offset, count)
            try:
                return await self._sendfile_native(transport, file, offset, count)
            except asyncio.SendfileNotAvailableError:
                if not fallback:
                    raise
        if not fallback:
            raise RuntimeError(
                f"fallback is disabled and native sendfile is not supported for "
                f"transport {transport!r}"
            )
        return await self._sendfile_by_writing(transport, file, offset, count)

    async def _sendfile_native(
        self, transport: SocketTransport, file: Any, offset: int, count: int | None
    ) -> int:
        """Native sendfile under a transport: flush its buffer, then let the kernel copy.

        Named and shaped as asyncio's private hook (``_sendfile_native`` over a
        transport, ``_sock_sendfile_native`` over a socket), so code and tests
        that replace it to force the fallback work on glassloop too.

        The transport comes back as it was: reading paused or not, its write limits.
        """
        was_reading = transport.is_reading()
        transport.pause_reading()
        try:
            if transport.get_write_buffer_size():
                await self._flush_transport(transport)
            assert transport._sock is not None
            # Stands in for the protocol meanwhile, so that a close or abort (ours
            # or the peer's) ends the wait for writability instead of hanging it.
            watcher = _FlowWatcher(self, transport)
            transport._sendfile_active = True
            try:
                return await self._sock_sendfile_native(
                    transport._sock, file, offset, count, watcher
                )
            finally:
                transport._sendfile_active = False
                watcher.release()
        finally:
            if was_reading:
                transport.resume_reading()

    async def _flush_transport(self, transport: SocketTransport) -> None:
        """Wait until everything written before sendfile has gone to the OS."""
        low, high = transport.get_write_buffer_limits()
        watcher = _FlowWatcher(self, transport)
        try:
            # With a high-water mark of 0 any buffered byte pauses the writer and
            # only an empty buffer resumes it: drain() waits for exactly that.
            transport.set_write_buffer_limits(0)
            while transport.get_write_buffer_size():
                await watcher.drain()
        finally:
            transport.set_write_buffer_limits(high, low)
            watcher.release()

    async def _sendfile_by_writing(
        self, transport: asyncio.WriteTransport, file: Any, offset: int, count: int | None
    ) -> int:
        watcher = _FlowWatcher(self, transport)  # type: ignore[arg-type]
        sent_total = 0
        if offset:
            file.seek(offset)
        try:
            while count is None or sent_total < count:
                await watcher.drain()
                size = (
                    _FALLBACK_CHUNK if count is None else min(_FALLBACK_CHUNK, count - sent_total)
                )
                data = await self.run_in_executor(None, file.read, size)
                if not data:
                    break
                transport.write(data)
                sent_total += len(data)
            await watcher.drain()
            return sent_total
        finally:
            watcher.release()
            if sent_total:
                file.seek(offset + sent_total)


def _set_if_pending(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)
