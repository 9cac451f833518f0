# cython: annotation_typing=False
"""The datagram transport: a UDP (or Unix datagram) endpoint over one socket.

The loop's ``create_datagram_endpoint`` is in datagram_endpoints.py; this
module is the transport alone, which the compiled build compiles
(datagram.pxd).  Datagrams are sent at once while nothing is queued; what the OS refuses waits
in a queue of ``(bytes, address)`` that counts towards flow control.  Errors
the OS reports for one datagram (ICMP port unreachable, for instance) go to
``protocol.error_received`` and the endpoint keeps working, as asyncio does.
"""

from __future__ import annotations

import asyncio
import collections
import socket
from asyncio.trsock import TransportSocket
from typing import TYPE_CHECKING, Any

from .stream import (
    AsyncioDatagramTransport,
    DatagramTransportBase,
    FdTransport,
    answers_isinstance_as,
    check_bytes_like,
    logger,
    set_result_unless_cancelled,
)

if TYPE_CHECKING:
    from ..loop import BaseLoop

try:  # the optional compiled build (setup.py): Cython reads this as a constant
    import cython  # type: ignore[import-not-found, import-untyped, unused-ignore]
except ImportError:  # pure Python, Cython not installed
    from ..kernel._compiled import cython_shim as cython

#: Queued bytes are counted with this much per datagram for its headers, so a
#: stream of empty datagrams still fills the buffer.
_HEADER_SIZE = 8
#: What one read of a UDP socket asks for: more than any UDP datagram can
#: carry (65 507 bytes over IPv4, 65 527 over IPv6), under glibc's initial mmap
#: threshold (128 KiB).  A Unix datagram can be larger: those go through the
#: loop's buffer, which is as large as asyncio's reads.
_UDP_READ = 64 * 1024
_IP_FAMILIES = (socket.AF_INET, socket.AF_INET6)


class DatagramTransport(FdTransport, DatagramTransportBase):
    """A datagram endpoint over one non-blocking socket."""

    _guards_fd = True

    def __init__(
        self,
        loop: BaseLoop,
        sock: socket.socket,
        protocol: asyncio.BaseProtocol,
        *,
        address: Any = None,
        waiter: asyncio.Future[None] | None = None,
    ) -> None:
        extra: dict[str, Any] = {"socket": TransportSocket(sock)}
        try:
            extra["sockname"] = sock.getsockname()
        except OSError:
            extra["sockname"] = None
        try:
            extra["peername"] = sock.getpeername()
        except OSError:
            extra["peername"] = None
        self._sock: socket.socket | None = sock
        self._address = address
        self._connected = extra["peername"] is not None
        # Into bytes of its own, as stream reads (see stream.py), or 0: through
        # the loop's buffer and a copy out.
        self._read_size = _UDP_READ if sock.family in _IP_FAMILIES else 0
        # The compiled build's own recvfrom/sendto (datagram.pxd) and the
        # last peer it saw: IPv4 only, and not for a socket subclass, whose
        # own recvfrom/sendto are then called as in the pure build.
        self._inet4 = sock.family == socket.AF_INET and type(sock) is socket.socket
        self._peer = None
        self._buffer: collections.deque[tuple[bytes, Any]] = collections.deque()
        self._buffer_size = 0
        self._init_fd_transport(loop, sock.fileno(), protocol, extra)
        loop.call_soon(protocol.connection_made, self)
        loop.call_soon(self._start_reading)
        if waiter is not None:
            loop.call_soon(set_result_unless_cancelled, waiter, None)

    def get_write_buffer_size(self) -> int:
        return self._buffer_size

    def _clear_buffer(self) -> None:
        self._buffer.clear()
        self._buffer_size = 0

    def _close_fd(self) -> None:
        sock, self._sock = self._sock, None
        if sock is not None:
            sock.close()

    def _read_ready(self) -> None:
        if self._conn_lost or self._sock is None:
            return
        try:
            if cython.compiled and self._inet4:
                data = _receive4(self)  # noqa: F821 (datagram.pxd)
                addr = self._peer
            elif self._read_size:
                data, addr = self._sock.recvfrom(self._read_size)
            else:
                view = self._loop._read_buffer
                nbytes, addr = self._sock.recvfrom_into(view)
                data = view[:nbytes].tobytes()
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self._protocol.error_received(exc)
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._fatal_error(exc, "Fatal read error on datagram transport")
        else:
            self._protocol.datagram_received(data, addr)

    def sendto(self, data: Any, addr: Any = None) -> None:
        if type(data) is not bytes:  # (the common case, without a call)
            check_bytes_like(data)
        if self._address is not None:
            if addr not in (None, self._address):
                raise ValueError(f"Invalid address: must be None or {self._address}")
            addr = self._address
        if self._conn_lost:
            # Closed or lost: drop it, connected or not (the socket may be gone).
            if self._conn_lost >= 5:
                logger.warning("socket.send() raised exception.")
            self._conn_lost += 1
            return
        if not self._buffer:
            try:
                self._send_one(data, addr)
                return
            except (BlockingIOError, InterruptedError):
                self._loop._watch(self._fd, True, self._write_ready, ())
            except OSError as exc:
                self._protocol.error_received(exc)
                return
            except (SystemExit, KeyboardInterrupt):
                raise
            except BaseException as exc:
                self._fatal_error(exc, "Fatal write error on datagram transport")
                return
        self._buffer.append((bytes(data), addr))
        self._buffer_size += len(data) + _HEADER_SIZE
        self._maybe_pause_protocol()

    if not cython.compiled:

        def _send_one(self, data: Any, addr: Any) -> None:
            assert self._sock is not None
            if self._connected:
                self._sock.send(data)
            else:
                self._sock.sendto(data, addr)

    else:

        def _send_one(self, data: Any, addr: Any) -> None:
            # The same, on the fd itself for an IPv4 endpoint connected or
            # sending to its last peer (datagram.pxd).
            assert self._sock is not None
            if not self._inet4:
                if self._connected:
                    self._sock.send(data)
                else:
                    self._sock.sendto(data, addr)
            elif self._connected:
                _sendto4(self._fd, data, cython.NULL)  # noqa: F821 (datagram.pxd)
            elif _is_peer(self, addr):  # noqa: F821
                _audit_sendto(self._sock, addr)  # noqa: F821
                _sendto4(self._fd, data, cython.address(self._peer_sin))  # noqa: F821
            else:
                self._sock.sendto(data, addr)

    def _write_ready(self) -> None:
        buffer = self._buffer
        while buffer:
            data, addr = buffer[0]
            try:
                self._send_one(data, addr)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                buffer.popleft()
                self._buffer_size -= len(data) + _HEADER_SIZE
                self._protocol.error_received(exc)
                return
            except (SystemExit, KeyboardInterrupt):
                raise
            except BaseException as exc:
                self._fatal_error(exc, "Fatal write error on datagram transport")
                return
            buffer.popleft()
            self._buffer_size -= len(data) + _HEADER_SIZE
        # resume_writing may queue another datagram (keep watching for it) or
        # close/abort the endpoint (connection_lost is then already scheduled).
        self._maybe_resume_protocol()
        if buffer:
            return
        self._loop._unwatch(self._fd, True)
        if self._closing and not self._conn_lost:
            self._conn_lost += 1
            self._call_connection_lost(None)


answers_isinstance_as(DatagramTransport, AsyncioDatagramTransport)
