"""UDP (and Unix datagram) endpoints: ``create_datagram_endpoint`` and its transport.

Datagrams are sent at once while nothing is queued; what the OS refuses waits
in a queue of ``(bytes, address)`` that counts towards flow control.  Errors
the OS reports for one datagram (ICMP port unreachable, for instance) go to
``protocol.error_received`` and the endpoint keeps working, as asyncio does.
"""

from __future__ import annotations

import asyncio
import collections
import os
import socket
import stat
from asyncio.trsock import TransportSocket
from collections.abc import Callable
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

    _LoopBase = BaseLoop
else:
    _LoopBase = object

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
            if self._read_size:
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

    def _send_one(self, data: Any, addr: Any) -> None:
        assert self._sock is not None
        if self._connected:
            self._sock.send(data)
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


class DatagramMixin(_LoopBase):
    """The loop's ``create_datagram_endpoint``."""

    async def create_datagram_endpoint(  # type: ignore[override]
        self,
        protocol_factory: Callable[[], asyncio.BaseProtocol],
        local_addr: Any = None,
        remote_addr: Any = None,
        *,
        family: int = 0,
        proto: int = 0,
        flags: int = 0,
        reuse_port: bool | None = None,
        allow_broadcast: bool | None = None,
        sock: socket.socket | None = None,
    ) -> tuple[asyncio.DatagramTransport, asyncio.BaseProtocol]:
        # No reuse_address: asyncio 3.11 removed it (SO_REUSEADDR on UDP lets
        # another process take the port's datagrams), so passing it at all is
        # the TypeError of an unknown keyword, as there.
        own_sock = sock is None
        if sock is not None:
            if sock.type != socket.SOCK_DGRAM:
                raise ValueError(f"A datagram socket was expected, got {sock!r}")
            given = {
                "local_addr": local_addr,
                "remote_addr": remote_addr,
                "family": family,
                "proto": proto,
                "flags": flags,
                "reuse_port": reuse_port,
                "allow_broadcast": allow_broadcast,
            }
            if any(given.values()):
                problems = ", ".join(f"{k}={v}" for k, v in given.items() if v)
                raise ValueError(
                    f"socket modifier keyword arguments can not be used when sock "
                    f"is specified. ({problems})"
                )
            sock.setblocking(False)
            address = None
        else:
            sock, address = await self._open_datagram_socket(
                local_addr, remote_addr, family, proto, flags, reuse_port, allow_broadcast
            )
        try:
            protocol = protocol_factory()
        except BaseException:
            # No transport has the socket yet: one we made is ours to close.
            if own_sock:
                sock.close()
            raise
        waiter = self.create_future()
        transport = DatagramTransport(self, sock, protocol, address=address, waiter=waiter)
        try:
            await waiter
        except BaseException:
            transport.close()
            raise
        return transport, protocol

    async def _open_datagram_socket(
        self,
        local_addr: Any,
        remote_addr: Any,
        family: int,
        proto: int,
        flags: int,
        reuse_port: bool | None,
        allow_broadcast: bool | None,
    ) -> tuple[socket.socket, Any]:
        unix = family == getattr(socket, "AF_UNIX", None)
        if not (local_addr or remote_addr):
            if family == 0:
                raise ValueError("unexpected address family")
            candidates: list[tuple[int, Any, Any]] = [(family, None, None)]
        elif unix:
            for addr in (local_addr, remote_addr):
                if addr is not None and not isinstance(addr, (str, bytes, os.PathLike)):
                    raise TypeError("string is expected")
            if local_addr and isinstance(local_addr, str) and local_addr[0] not in (0, "\x00"):
                try:
                    if stat.S_ISSOCK(os.stat(local_addr).st_mode):
                        os.remove(local_addr)
                except FileNotFoundError:
                    pass
            candidates = [(family, local_addr, remote_addr)]
        else:
            candidates = await self._datagram_candidates(
                local_addr, remote_addr, family, proto, flags
            )
        errors: list[OSError] = []
        for fam, local, remote in candidates:
            sock = None
            try:
                sock = socket.socket(fam, socket.SOCK_DGRAM, proto)
                if reuse_port:
                    if not hasattr(socket, "SO_REUSEPORT"):
                        raise ValueError("reuse_port not supported by socket module")
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
                if allow_broadcast:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
                sock.setblocking(False)
                if local_addr:
                    sock.bind(local)
                if remote_addr:
                    if not allow_broadcast:
                        await self.sock_connect(sock, remote)
                    return sock, remote
                return sock, None
            except OSError as exc:
                if sock is not None:
                    sock.close()
                errors.append(exc)
            except BaseException:
                if sock is not None:
                    sock.close()
                raise
        # Not raised from the list: this frame holding it would keep the error,
        # its traceback and so this frame alive in a cycle.
        first, errors = errors[0], []
        try:
            raise first
        finally:
            del first

    async def _datagram_candidates(
        self, local_addr: Any, remote_addr: Any, family: int, proto: int, flags: int
    ) -> list[tuple[int, Any, Any]]:
        """(family, local, remote) triples to try, pairing addresses of one family."""
        by_key: dict[tuple[int, int], list[Any]] = collections.OrderedDict()
        for index, addr in ((0, local_addr), (1, remote_addr)):
            if addr is None:
                continue
            if not (isinstance(addr, tuple) and len(addr) == 2):
                raise TypeError("2-tuple is expected")
            infos = await self._resolve(
                addr[0],
                addr[1],
                family=family,
                type=socket.SOCK_DGRAM,
                proto=proto,
                flags=flags,
                use="connect" if index else "bind",
            )
            for fam, _, pro, _, address in infos:
                entry = by_key.setdefault((fam, pro), [None, None])
                if entry[index] is None:
                    entry[index] = address
        pairs = [
            (fam, local, remote)
            for (fam, _), (local, remote) in by_key.items()
            if not (local_addr and local is None) and not (remote_addr and remote is None)
        ]
        if not pairs:
            raise ValueError("can not get address information")
        return pairs
