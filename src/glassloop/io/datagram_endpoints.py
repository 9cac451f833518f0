"""The loop's ``create_datagram_endpoint``: UDP and Unix datagram endpoints.

Argument checks and socket set-up as asyncio's; the transport itself is
datagram.py's.
"""

from __future__ import annotations

import asyncio
import collections
import os
import socket
import stat
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .datagram import DatagramTransport

if TYPE_CHECKING:
    from ..loop import BaseLoop

    _LoopBase = BaseLoop
else:
    _LoopBase = object


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
