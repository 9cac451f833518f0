"""Sockets: TCP and Unix stream transports, servers, and connecting.

``SocketTransport`` is the stream transport over a connected socket;
``Server`` accepts on listening sockets; ``SocketsMixin`` gives the loop
``create_connection``, ``create_server``, their Unix twins and
``connect_accepted_socket``, with asyncio's argument checks and messages.
TLS is layered on by ``io.tls`` (the raw transport carries a TLS protocol
that presents its own transport to the application).
"""

from __future__ import annotations

import asyncio
import collections
import errno
import itertools
import logging
import os
import socket
import ssl as ssl_module
import stat
import sys
from asyncio.constants import _SendfileMode as SendfileMode
from asyncio.trsock import TransportSocket
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from .stream import StreamTransport
from .tls import check_ssl_arguments, ssl_context_for

if TYPE_CHECKING:
    from ..loop import BaseLoop

    _LoopBase = BaseLoop
else:
    _LoopBase = object

logger = logging.getLogger("asyncio")

ProtocolFactory = Callable[[], asyncio.BaseProtocol]
_ACCEPT_RETRY_DELAY = 1.0
_HAS_IPV6 = socket.has_ipv6
_NOT_STREAM = "A Stream Socket was expected, got {!r}"


def _set_nodelay(sock: socket.socket) -> None:
    """asyncio turns Nagle off on TCP: small writes must not wait for ACKs.

    A stream socket of an IP family made with proto 0 is TCP too: ``socket.socket()``
    makes those (uvicorn's listeners, for one), and their accepted sockets
    inherit the 0.  asyncio only looks for IPPROTO_TCP and leaves Nagle on
    for them; uvloop turns it off, as we do.
    """
    if (
        sock.family in (socket.AF_INET, socket.AF_INET6)
        and sock.type == socket.SOCK_STREAM
        and sock.proto in (0, socket.IPPROTO_TCP)
    ):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class SocketTransport(StreamTransport):
    """A stream transport over a connected, non-blocking socket."""

    __slots__ = ("_server", "_sock")

    # What loop.sendfile reads, under asyncio's name: the kernel can copy to it.
    _sendfile_compatible = SendfileMode.TRY_NATIVE
    _guards_fd = True

    def __init__(
        self,
        loop: BaseLoop,
        sock: socket.socket,
        protocol: asyncio.BaseProtocol,
        *,
        waiter: asyncio.Future[None] | None = None,
        extra: dict[str, Any] | None = None,
        server: Server | None = None,
    ) -> None:
        self._sock: socket.socket | None = sock
        info = dict(extra or {})
        info["socket"] = TransportSocket(sock)
        try:
            info["sockname"] = sock.getsockname()
        except OSError:
            info["sockname"] = None
        if "peername" not in info:
            try:
                info["peername"] = sock.getpeername()
            except OSError:
                info["peername"] = None
        self._server: Server | None = None
        _set_nodelay(sock)
        self._io = sock
        super().__init__(loop, sock.fileno(), protocol, extra=info, waiter=waiter)
        # Last: a constructor that fails must not leave the server waiting
        # (wait_closed) on a transport that will never report connection_lost.
        if server is not None:
            self._server = server
            server._attach(self)

    def _shutdown_write(self) -> None:
        if self._sock is not None:
            try:
                self._sock.shutdown(socket.SHUT_WR)
            except OSError as exc:
                self._fatal_error(exc, "Fatal error on shutdown(SHUT_WR)")

    def _close_fd(self) -> None:
        sock, self._sock = self._sock, None
        if sock is not None:
            sock.close()

    def _connection_closed(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server._detach(self)


class Server(asyncio.AbstractServer):
    """Listening sockets plus what asyncio's ``Server`` promises about them."""

    def __init__(
        self,
        loop: SocketsMixin,
        sockets: Sequence[socket.socket],
        protocol_factory: ProtocolFactory,
        ssl_context: ssl_module.SSLContext | None,
        backlog: int,
        ssl_handshake_timeout: float | None,
        ssl_shutdown_timeout: float | None,
        unix_paths: dict[socket.socket, tuple[str, int]] | None = None,
    ) -> None:
        self._loop = loop
        self._sockets: list[socket.socket] | None = list(sockets)
        self._protocol_factory = protocol_factory
        self._ssl_context = ssl_context
        self._backlog = backlog
        self._ssl_handshake_timeout = ssl_handshake_timeout
        self._ssl_shutdown_timeout = ssl_shutdown_timeout
        self._serving = False
        self._serving_forever: asyncio.Future[None] | None = None
        self._clients: set[SocketTransport] = set()
        self._waiters: list[asyncio.Future[None]] | None = []
        self._unix_paths = unix_paths or {}

    def __repr__(self) -> str:
        return f"<{type(self).__name__} sockets={self.sockets!r}>"

    # -- bookkeeping of live connections ---------------------------------

    def _attach(self, transport: SocketTransport) -> None:
        # A connection accepted just before close() arrives here after it: it
        # is served like the others, and wait_closed waits for it too (even if
        # it had already been released: its condition no longer holds).
        self._clients.add(transport)
        if self._waiters is None:
            self._waiters = []

    def _detach(self, transport: SocketTransport) -> None:
        self._clients.discard(transport)
        if not self._clients and self._sockets is None:
            self._wake_waiters()

    def _wake_waiters(self) -> None:
        waiters, self._waiters = self._waiters, None
        for waiter in waiters or ():
            if not waiter.done():
                waiter.set_result(None)

    # -- the AbstractServer interface ---------------------------------------

    def get_loop(self) -> asyncio.AbstractEventLoop:
        return self._loop

    def is_serving(self) -> bool:
        return self._serving

    @property
    def sockets(self) -> tuple[TransportSocket, ...]:
        if self._sockets is None:
            return ()
        return tuple(TransportSocket(s) for s in self._sockets)

    def close(self) -> None:
        sockets, self._sockets = self._sockets, None
        if sockets is None:
            return
        for sock in sockets:
            self._loop._unwatch(sock.fileno(), False)
            path_inode = self._unix_paths.get(sock)
            sock.close()
            if path_inode is not None:
                _remove_unix_socket_file(*path_inode)
        self._serving = False
        forever = self._serving_forever
        if forever is not None and not forever.done():
            forever.cancel()
            self._serving_forever = None
        if not self._clients:
            self._wake_waiters()

    def close_clients(self) -> None:
        for transport in list(self._clients):
            transport.close()

    def abort_clients(self) -> None:
        for transport in list(self._clients):
            transport.abort()

    async def start_serving(self) -> None:
        self._start_serving()
        # One turn, so the accept watches are in place when this returns.
        await asyncio.sleep(0)

    def _start_serving(self) -> None:
        if self._serving or self._sockets is None:
            return
        self._serving = True
        for sock in self._sockets:
            sock.listen(self._backlog)
            self._loop._watch(sock.fileno(), False, self._accept, (sock,))

    async def serve_forever(self) -> None:
        if self._serving_forever is not None:
            raise RuntimeError(f"server {self!r} is already being awaited on serve_forever()")
        if self._sockets is None:
            raise RuntimeError(f"server {self!r} is closed")
        self._start_serving()
        self._serving_forever = self._loop.create_future()
        try:
            await self._serving_forever
        except asyncio.CancelledError:
            try:
                self.close()
                await self.wait_closed()
            finally:
                raise
        finally:
            self._serving_forever = None

    async def wait_closed(self) -> None:
        if sys.version_info < (3, 12) and self._sockets is None:
            return
        if self._waiters is None:
            return
        waiter = self._loop.create_future()
        self._waiters.append(waiter)
        await waiter

    # -- accepting -----------------------------------------------------------

    def _accept(self, listener: socket.socket) -> None:
        # Accept a batch per wake-up: under a connection storm one poll should
        # admit many clients, but never starve the rest of the loop.
        for _ in range(self._backlog):
            try:
                conn, addr = listener.accept()
            except (BlockingIOError, InterruptedError, ConnectionAbortedError):
                return
            except OSError as exc:
                if exc.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
                    # Out of descriptors or memory: report, back off, retry later.
                    self._loop.call_exception_handler(
                        {
                            "message": "socket.accept() out of system resource",
                            "exception": exc,
                            "socket": TransportSocket(listener),
                        }
                    )
                    self._loop._unwatch(listener.fileno(), False)
                    self._loop.call_later(_ACCEPT_RETRY_DELAY, self._resume_accepting, listener)
                    return
                raise
            conn.setblocking(False)
            self._loop.create_task(self._serve_connection(conn, addr))

    def _resume_accepting(self, listener: socket.socket) -> None:
        if self._serving and self._sockets is not None and listener in self._sockets:
            self._loop._watch(listener.fileno(), False, self._accept, (listener,))

    async def _serve_connection(self, conn: socket.socket, addr: Any) -> None:
        try:
            try:
                protocol = self._protocol_factory()
            except BaseException:
                conn.close()
                raise
            # If this fails, whoever holds conn by then (us or the transport) closes it.
            # Closing it here as well could close it under a transport's fd watch.
            await self._loop._make_stream_transport(
                conn,
                protocol,
                extra={"peername": addr},
                server=self,
                ssl_context=self._ssl_context,
                server_side=True,
                ssl_handshake_timeout=self._ssl_handshake_timeout,
                ssl_shutdown_timeout=self._ssl_shutdown_timeout,
                own_sock=True,
            )
        except (SystemExit, KeyboardInterrupt, GeneratorExit):
            # GeneratorExit: the loop is closing and this task is being
            # thrown away; asyncio says nothing then, neither do we.
            raise
        except BaseException as exc:
            report_incoming_failure(self._loop, exc)


def report_incoming_failure(loop: asyncio.AbstractEventLoop, exc: BaseException) -> None:
    """A connection a server accepted failed before its protocol had it (a bad TLS
    handshake, a failing protocol factory): asyncio's handler hears of it unless it
    is the peer's doing (an OSError, SSL errors among them), outside debug mode."""
    if loop.get_debug() or not isinstance(exc, (OSError, asyncio.CancelledError)):
        loop.call_exception_handler(
            {"message": "Error on transport creation for incoming connection", "exception": exc}
        )


def _remove_unix_socket_file(path: str, inode: int) -> None:
    """Remove our socket file on close, unless someone replaced it since."""
    try:
        if os.stat(path).st_ino == inode:
            os.unlink(path)
    except OSError:
        pass


def _interleave_families(infos: list[Any], first_count: int) -> list[Any]:
    """Happy Eyeballs order: alternate address families, ``first_count`` of the first."""
    by_family: collections.OrderedDict[int, list[Any]] = collections.OrderedDict()
    for info in infos:
        by_family.setdefault(info[0], []).append(info)
    queues = list(by_family.values())
    ordered: list[Any] = []
    if first_count > 1 and queues:
        ordered.extend(queues[0][: first_count - 1])
        del queues[0][: first_count - 1]
    for group in itertools.zip_longest(*queues):
        ordered.extend(info for info in group if info is not None)
    return ordered


def check_not_ssl_socket(sock: socket.socket) -> None:
    """An ``ssl.SSLSocket`` has its own TLS state: the loop would bypass it (asyncio's rule)."""
    if isinstance(sock, ssl_module.SSLSocket):
        raise TypeError("Socket cannot be of type SSLSocket")


class SocketsMixin(_LoopBase):
    """The loop's TCP and Unix socket methods."""

    async def _make_stream_transport(
        self,
        sock: socket.socket,
        protocol: asyncio.BaseProtocol,
        *,
        extra: dict[str, Any] | None = None,
        server: Server | None = None,
        ssl_context: ssl_module.SSLContext | None = None,
        server_side: bool = False,
        server_hostname: str | None = None,
        ssl_handshake_timeout: float | None = None,
        ssl_shutdown_timeout: float | None = None,
        own_sock: bool = False,
    ) -> asyncio.Transport:
        """Wrap a connected socket (and TLS, if asked) and wait until it is up.

        Once the raw transport exists it owns ``sock`` (closing it after
        unwatching it); before that, a socket we made (``own_sock``) is closed
        here if anything fails, and one the caller gave stays the caller's.
        """
        waiter = self.create_future()
        transport: asyncio.Transport
        try:
            if ssl_context is None:
                transport = SocketTransport(
                    self, sock, protocol, waiter=waiter, extra=extra, server=server
                )
                raw = transport
            else:
                from .tls import TLSProtocol

                tls = TLSProtocol(
                    self,
                    protocol,
                    ssl_context,
                    waiter,
                    server_side=server_side,
                    server_hostname=server_hostname,
                    ssl_handshake_timeout=ssl_handshake_timeout,
                    ssl_shutdown_timeout=ssl_shutdown_timeout,
                )
                raw = SocketTransport(self, sock, tls, extra=extra, server=server)
                transport = tls.app_transport
        except BaseException:
            if own_sock:
                sock.close()
            raise
        try:
            await waiter
        except BaseException:
            if self._closed:
                # The loop closed under us and this coroutine is being thrown
                # away (GeneratorExit): no callback can run any more, so the
                # transport cannot close the usual way; let go of the socket.
                raw._closing = True
                raw._close_fd()
                raw._fd = -1
            else:
                raw.close()
            raise
        return transport

    async def _connection_for_socket(
        self,
        sock: socket.socket,
        protocol_factory: ProtocolFactory,
        ssl: Any,
        server_hostname: str | None,
        ssl_handshake_timeout: float | None,
        ssl_shutdown_timeout: float | None,
        server_side: bool = False,
        own_sock: bool = False,
    ) -> tuple[asyncio.Transport, asyncio.BaseProtocol]:
        try:
            ssl_context = ssl_context_for(ssl, server_side=server_side)
            sock.setblocking(False)
            protocol = protocol_factory()
        except BaseException:
            # No transport owns the socket yet: one we made is ours to close
            # (one the caller gave stays theirs, as with asyncio).
            if own_sock:
                sock.close()
            raise
        transport = await self._make_stream_transport(
            sock,
            protocol,
            ssl_context=ssl_context,
            server_side=server_side,
            server_hostname=server_hostname,
            ssl_handshake_timeout=ssl_handshake_timeout,
            ssl_shutdown_timeout=ssl_shutdown_timeout,
            own_sock=own_sock,
        )
        return transport, protocol

    async def create_connection(  # type: ignore[override]
        self,
        protocol_factory: ProtocolFactory,
        host: str | None = None,
        port: int | None = None,
        *,
        ssl: Any = None,
        family: int = 0,
        proto: int = 0,
        flags: int = 0,
        sock: socket.socket | None = None,
        local_addr: tuple[str, int] | None = None,
        server_hostname: str | None = None,
        ssl_handshake_timeout: float | None = None,
        ssl_shutdown_timeout: float | None = None,
        happy_eyeballs_delay: float | None = None,
        interleave: int | None = None,
        all_errors: bool = False,
    ) -> tuple[asyncio.Transport, asyncio.BaseProtocol]:
        check_ssl_arguments(ssl, server_hostname, ssl_handshake_timeout, ssl_shutdown_timeout)
        own_sock = sock is None
        if ssl and server_hostname is None:
            if host is None:
                raise ValueError("You must set server_hostname when using ssl without a host")
            server_hostname = host
        if sock is not None:
            check_not_ssl_socket(sock)
            if host is not None or port is not None:
                raise ValueError("host/port and sock can not be specified at the same time")
            if sock.type != socket.SOCK_STREAM:
                raise ValueError(_NOT_STREAM.format(sock))
        else:
            if host is None and port is None:
                raise ValueError("host and port was not specified and no sock specified")
            if happy_eyeballs_delay is not None and interleave is None:
                interleave = 1
            infos = await self._resolve(
                host, port, family=family, type=socket.SOCK_STREAM, proto=proto, flags=flags
            )
            local_infos = None
            if local_addr is not None:
                local_infos = await self._resolve(
                    *local_addr,
                    family=family,
                    type=socket.SOCK_STREAM,
                    proto=proto,
                    flags=flags,
                    use="bind",
                )
            if interleave:
                infos = _interleave_families(infos, interleave)
            errors: list[OSError] = []
            try:
                if happy_eyeballs_delay is None:
                    for info in infos:
                        try:
                            sock = await self._connect_one(info, local_infos, errors)
                            break
                        except OSError:
                            continue
                else:
                    sock = await self._race_connects(
                        infos, local_infos, errors, happy_eyeballs_delay
                    )
                if sock is None:
                    raise _connect_failure(errors, all_errors)
            finally:
                # Every frame of the attempts holds this list, and each error's
                # traceback holds those frames: emptied, it keeps no error (nor
                # its frames) alive in a cycle after the call (CPython gh-124859).
                errors.clear()
        return await self._connection_for_socket(
            sock,
            protocol_factory,
            ssl,
            server_hostname,
            ssl_handshake_timeout,
            ssl_shutdown_timeout,
            own_sock=own_sock,
        )

    async def _connect_one(
        self, info: Any, local_infos: list[Any] | None, errors: list[OSError]
    ) -> socket.socket:
        family, type_, proto, _, address = info
        sock = None
        try:
            sock = socket.socket(family, type_, proto)
            sock.setblocking(False)
            if local_infos is not None:
                candidates = [li for li in local_infos if li[0] == family]
                if not candidates:
                    raise OSError(f"no matching local address with family={family} found")
                for local in candidates:
                    try:
                        sock.bind(local[4])
                        break
                    except OSError as exc:
                        errors.append(
                            OSError(
                                exc.errno,
                                f"error while attempting to bind on address {local[4]!r}: "
                                f"{(exc.strerror or '').lower()}",
                            )
                        )
                else:
                    raise errors.pop()
            await self.sock_connect(sock, address)
            return sock
        except OSError as exc:
            errors.append(exc)
            if sock is not None:
                sock.close()
            raise
        except BaseException:
            if sock is not None:
                sock.close()
            raise

    async def _race_connects(
        self,
        infos: list[Any],
        local_infos: list[Any] | None,
        errors: list[OSError],
        delay: float,
    ) -> socket.socket | None:
        """Happy Eyeballs (RFC 8305): stagger the attempts; the first connected socket wins.

        The next attempt starts ``delay`` seconds after the previous one, or at
        once when the previous one fails: a refused address must not hold the
        rest back for the whole delay.
        """
        winner: asyncio.Future[socket.socket | None] = self.create_future()
        attempts: list[asyncio.Task[None]] = []
        failed = 0

        async def attempt(info: Any) -> None:
            nonlocal failed
            try:
                sock = await self._connect_one(info, local_infos, errors)
            except OSError:
                failed += 1
                if failed == len(infos) and not winner.done():
                    winner.set_result(None)
                return
            except Exception as exc:
                # Not a network failure but a bug or a bad argument: say so, don't hang.
                if not winner.done():
                    winner.set_exception(exc)
                return
            if winner.done():
                sock.close()
            else:
                winner.set_result(sock)

        try:
            for info in infos:
                current = self.create_task(attempt(info))
                attempts.append(current)
                # Until some attempt wins, this one fails, or the delay is up.
                await asyncio.wait(
                    (winner, current), timeout=delay, return_when=asyncio.FIRST_COMPLETED
                )
                if winner.done():
                    break
            return await winner
        except BaseException:
            # Cancelled after an attempt connected: that socket is nobody else's to close.
            if winner.done() and not winner.cancelled() and winner.exception() is None:
                sock = winner.result()
                if sock is not None:
                    sock.close()
            raise
        finally:
            for task in attempts:
                task.cancel()
            if attempts:
                await asyncio.gather(*attempts, return_exceptions=True)

    async def create_server(  # type: ignore[override]
        self,
        protocol_factory: ProtocolFactory,
        host: str | Sequence[str] | None = None,
        port: int | None = None,
        *,
        family: int = socket.AF_UNSPEC,
        flags: int = socket.AI_PASSIVE,
        sock: socket.socket | None = None,
        backlog: int = 100,
        ssl: Any = None,
        reuse_address: bool | None = None,
        reuse_port: bool | None = None,
        keep_alive: bool | None = None,
        ssl_handshake_timeout: float | None = None,
        ssl_shutdown_timeout: float | None = None,
        start_serving: bool = True,
    ) -> Server:
        if isinstance(ssl, bool):
            raise TypeError("ssl argument must be an SSLContext or None")
        check_ssl_arguments(ssl, None, ssl_handshake_timeout, ssl_shutdown_timeout)
        if sock is not None:
            check_not_ssl_socket(sock)
        if host is not None or port is not None:
            if sock is not None:
                raise ValueError("host/port and sock can not be specified at the same time")
            sockets = await self._bind_listeners(
                host, port, family, flags, reuse_address, reuse_port, keep_alive
            )
        else:
            if sock is None:
                raise ValueError("Neither host/port nor sock were specified")
            if sock.type != socket.SOCK_STREAM:
                raise ValueError(_NOT_STREAM.format(sock))
            sockets = [sock]
        for listener in sockets:
            listener.setblocking(False)
        server = Server(
            self,
            sockets,
            protocol_factory,
            ssl,
            backlog,
            ssl_handshake_timeout,
            ssl_shutdown_timeout,
        )
        if start_serving:
            await server.start_serving()
        return server

    async def _bind_listeners(
        self,
        host: str | Sequence[str] | None,
        port: int | None,
        family: int,
        flags: int,
        reuse_address: bool | None,
        reuse_port: bool | None,
        keep_alive: bool | None,
    ) -> list[socket.socket]:
        if reuse_address is None:
            reuse_address = os.name == "posix" and sys.platform != "cygwin"
        hosts: Iterable[str | None]
        if host == "":
            hosts = [None]
        elif isinstance(host, str) or not isinstance(host, Iterable):
            hosts = [host]
        else:
            hosts = host
        groups = await asyncio.gather(
            *(
                self._resolve(
                    h,
                    port,
                    family=family,
                    type=socket.SOCK_STREAM,
                    proto=0,
                    flags=flags,
                    use="bind",
                )
                for h in hosts
            )
        )
        infos = dict.fromkeys(itertools.chain.from_iterable(groups))
        sockets: list[socket.socket] = []
        try:
            for af, socktype, proto, _, address in infos:
                try:
                    listener = socket.socket(af, socktype, proto)
                except OSError:
                    # An address family this host can't use (e.g. IPv6 off).
                    if self.get_debug():
                        logger.warning(
                            "create_server() failed to create socket.socket(%r, %r, %r)",
                            af,
                            socktype,
                            proto,
                            exc_info=True,
                        )
                    continue
                sockets.append(listener)
                if reuse_address:
                    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, True)
                if reuse_port:
                    if not hasattr(socket, "SO_REUSEPORT"):
                        raise ValueError("reuse_port not supported by socket module")
                    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
                if keep_alive:
                    listener.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, True)
                if _HAS_IPV6 and af == socket.AF_INET6 and hasattr(socket, "IPPROTO_IPV6"):
                    listener.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, True)
                try:
                    listener.bind(address)
                except OSError as exc:
                    raise OSError(
                        exc.errno,
                        f"error while attempting to bind on address {address!r}: "
                        f"{(exc.strerror or '').lower()}",
                    ) from None
        except BaseException:
            for listener in sockets:
                listener.close()
            raise
        return sockets

    async def create_unix_connection(  # type: ignore[override]
        self,
        protocol_factory: ProtocolFactory,
        path: str | None = None,
        *,
        ssl: Any = None,
        sock: socket.socket | None = None,
        server_hostname: str | None = None,
        ssl_handshake_timeout: float | None = None,
        ssl_shutdown_timeout: float | None = None,
    ) -> tuple[asyncio.Transport, asyncio.BaseProtocol]:
        check_ssl_arguments(ssl, server_hostname, ssl_handshake_timeout, ssl_shutdown_timeout)
        if ssl and server_hostname is None:
            raise ValueError("you have to pass server_hostname when using ssl")
        if path is not None:
            if sock is not None:
                raise ValueError("path and sock can not be specified at the same time")
            path = os.fspath(path)
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM, 0)
            try:
                sock.setblocking(False)
                await self.sock_connect(sock, path)
            except BaseException:
                sock.close()
                raise
        else:
            if sock is None:
                raise ValueError("no path and sock were specified")
            if sock.family != socket.AF_UNIX or sock.type != socket.SOCK_STREAM:
                raise ValueError(f"A UNIX Domain Stream Socket was expected, got {sock!r}")
        return await self._connection_for_socket(
            sock,
            protocol_factory,
            ssl,
            server_hostname,
            ssl_handshake_timeout,
            ssl_shutdown_timeout,
            own_sock=path is not None,
        )

    async def create_unix_server(  # type: ignore[override]
        self,
        protocol_factory: ProtocolFactory,
        path: str | None = None,
        *,
        sock: socket.socket | None = None,
        backlog: int = 100,
        ssl: Any = None,
        ssl_handshake_timeout: float | None = None,
        ssl_shutdown_timeout: float | None = None,
        start_serving: bool = True,
        cleanup_socket: bool = True,
    ) -> Server:
        if isinstance(ssl, bool):
            raise TypeError("ssl argument must be an SSLContext or None")
        check_ssl_arguments(ssl, None, ssl_handshake_timeout, ssl_shutdown_timeout)
        unix_paths: dict[socket.socket, tuple[str, int]] = {}
        if path is not None:
            if sock is not None:
                raise ValueError("path and sock can not be specified at the same time")
            path = os.fspath(path)
            abstract = path[0] in (0, "\x00") if path else False
            if not abstract:
                _remove_stale_socket(path)
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                sock.bind(path)
            except OSError as exc:
                sock.close()
                if exc.errno == errno.EADDRINUSE:
                    raise OSError(errno.EADDRINUSE, f"Address {path!r} is already in use") from None
                raise
            except BaseException:
                sock.close()
                raise
        else:
            if sock is None:
                raise ValueError("path was not specified, and no sock specified")
            if sock.family != socket.AF_UNIX or sock.type != socket.SOCK_STREAM:
                raise ValueError(f"A UNIX Domain Stream Socket was expected, got {sock!r}")
        if cleanup_socket and sys.version_info >= (3, 13):
            bound = sock.getsockname()
            if isinstance(bound, str) and bound and not bound.startswith("\x00"):
                try:
                    unix_paths[sock] = (bound, os.stat(bound).st_ino)
                except OSError:
                    pass
        sock.setblocking(False)
        server = Server(
            self,
            [sock],
            protocol_factory,
            ssl,
            backlog,
            ssl_handshake_timeout,
            ssl_shutdown_timeout,
            unix_paths,
        )
        if start_serving:
            await server.start_serving()
        return server

    async def start_tls(
        self,
        transport: asyncio.BaseTransport,
        protocol: asyncio.BaseProtocol,
        sslcontext: ssl_module.SSLContext,
        *,
        server_side: bool = False,
        server_hostname: str | None = None,
        ssl_handshake_timeout: float | None = None,
        ssl_shutdown_timeout: float | None = None,
    ) -> asyncio.Transport | None:
        from .tls import start_tls

        return await start_tls(
            self,
            transport,
            protocol,
            sslcontext,
            server_side=server_side,
            server_hostname=server_hostname,
            ssl_handshake_timeout=ssl_handshake_timeout,
            ssl_shutdown_timeout=ssl_shutdown_timeout,
        )

    async def connect_accepted_socket(  # type: ignore[override]
        self,
        protocol_factory: ProtocolFactory,
        sock: socket.socket,
        *,
        ssl: Any = None,
        ssl_handshake_timeout: float | None = None,
        ssl_shutdown_timeout: float | None = None,
    ) -> tuple[asyncio.Transport, asyncio.BaseProtocol]:
        if sock.type != socket.SOCK_STREAM:
            raise ValueError(_NOT_STREAM.format(sock))
        check_ssl_arguments(ssl, None, ssl_handshake_timeout, ssl_shutdown_timeout)
        check_not_ssl_socket(sock)
        return await self._connection_for_socket(
            sock,
            protocol_factory,
            ssl,
            None,
            ssl_handshake_timeout,
            ssl_shutdown_timeout,
            server_side=True,
        )


def _remove_stale_socket(path: str) -> None:
    """A socket file left by a dead server would make bind fail: remove it."""
    try:
        if stat.S_ISSOCK(os.stat(path).st_mode):
            os.remove(path)
    except FileNotFoundError:
        pass
    except OSError as exc:
        logger.error("Unable to check or remove stale UNIX socket %r: %r", path, exc)


def check_port(port: Any, use: str) -> None:
    """Refuse a port outside 0-65535 as ``socket.bind``/``connect`` would.

    Ports may be ints or numeric strings (asyncio accepts "8080"); service
    names ("http") are left to the resolver.
    """
    if isinstance(port, int):
        value = port
    elif isinstance(port, (str, bytes)) and port.isdigit():
        value = int(port)
    else:
        return
    if not 0 <= value <= 65535:
        raise OverflowError(f"{use}(): port must be 0-65535.")


def is_numeric_host(host: Any) -> bool:
    if not isinstance(host, str):
        return False
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            socket.inet_pton(family, host.partition("%")[0])
        except (OSError, ValueError):
            continue
        return True
    return False


def _connect_failure(errors: list[OSError], all_errors: bool) -> BaseException:
    if all_errors:
        return ExceptionGroup("create_connection failed", errors)
    if len(errors) == 1:
        return errors[0]
    messages = {str(exc) for exc in errors}
    if len(messages) == 1:
        return errors[0]
    return OSError(f"Multiple exceptions: {', '.join(str(exc) for exc in errors)}")
