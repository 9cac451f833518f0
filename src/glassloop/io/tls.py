"""TLS over any stream transport, on the standard library's ``ssl.MemoryBIO``.

This module owns glassloop's TLS layer: :class:`TLSProtocol` sits between a
plain ("raw") byte-stream transport and the application's protocol, and
:class:`SSLTransport` is what the application holds instead of the raw
transport.  :func:`start_tls` upgrades a connection that is already open
(``loop.start_tls``); ``create_connection``/``create_server`` with ``ssl=``
build a ``TLSProtocol`` and hand the raw socket transport to it.

The picture, one connection::

    app protocol  <-- plaintext --  SSLTransport / TLSProtocol  <-- records --  raw transport
                                    (SSLObject over two MemoryBIOs)

The whole life of the connection is one state machine, ``_Phase``::

    NEW -> HANDSHAKE -> OPEN -> FLUSHING -> SHUTDOWN -> CLOSED
                \\________________\\___________\\______/  (errors, abort, lost)

* Every event (bytes from the peer, raw EOF, the raw transport resuming our
  writes, the application writing, closing, resuming reading) only records
  what happened and calls :meth:`TLSProtocol._process`, which advances the
  machine.  Application callbacks run from inside ``_process`` and may call
  back into the transport; such calls are noted and handled when the callback
  returns, never re-entered.  That is what keeps a ``data_received`` that
  closes the transport from seeing a second, nested ``data_received``.
* Closing is graceful: queued application data is encrypted and handed to the
  raw transport first (FLUSHING), then our ``close_notify`` goes out and we
  wait for the peer's (SHUTDOWN), at most ``ssl_shutdown_timeout`` seconds.
  Data the peer still sends meanwhile is read (OpenSSL refuses to shut down
  with unread application data) and delivered unless the app paused reading.
* Flow control runs both ways.  Writing: plaintext waits in our backlog while
  the raw transport has paused us, and the application is paused while we are
  paused or the backlog is above the high-water mark.  Reading: when the
  application pauses reading we pause the raw transport too, so unread data
  stays in the kernel, not in our memory.
* Failures reach the application as ``connection_lost(exc)`` (or, during the
  handshake, the waiter's exception), after the raw transport is aborted.
  Nothing waits forever: the handshake and the shutdown each have a timer,
  and the shutdown timer stays armed until the raw transport has really gone.
"""

from __future__ import annotations

import asyncio
import collections
import enum
import logging
import ssl
import threading
import warnings
import weakref
from asyncio.constants import _SendfileMode as SendfileMode
from collections.abc import Callable, Iterable
from typing import Any, cast

from .stream import check_bytes_like, check_write_limits

logger = logging.getLogger("asyncio")

#: asyncio's defaults (``asyncio.constants``), in seconds.
SSL_HANDSHAKE_TIMEOUT = 60.0
SSL_SHUTDOWN_TIMEOUT = 30.0
#: How much one ``SSLObject.read`` asks for, and the size of one encrypted batch.
MAX_CHUNK = 256 * 1024
#: Default application write-buffer high-water mark, as asyncio's TLS transport:
#: a TLS record batch is larger than a socket send, so the mark is higher.
DEFAULT_HIGH_WATER = 512 * 1024
#: After this many writes to a closed connection, each one is logged.
_LOG_WRITES_AFTER_CLOSE = 5

#: ``SSLObject`` errors that only mean "feed me more bytes from the peer".
_WANT_MORE = (ssl.SSLWantReadError, ssl.SSLSyscallError)


class _Phase(enum.Enum):
    NEW = "new"  # no raw transport yet
    HANDSHAKE = "handshake"
    OPEN = "open"
    FLUSHING = "flushing"  # closing: queued app data goes out first
    SHUTDOWN = "shutdown"  # our close_notify is out; waiting for the peer's
    CLOSED = "closed"  # done, failed or aborted; waiting only for the raw transport


_scratch = threading.local()


def _receive_buffer() -> memoryview:
    """The buffer every TLSProtocol of this thread receives raw bytes into.

    Shared, so a connection does not hold 256 KiB it rarely uses (asyncio's
    does).  Sharing is safe because a transport calls ``get_buffer``,
    ``recv_into`` and ``buffer_updated`` back to back, and ``buffer_updated``
    copies the bytes into the connection's own ``MemoryBIO`` before anything
    else runs.  One per thread, because loops in other threads run at the
    same time.
    """
    view: memoryview | None = getattr(_scratch, "view", None)
    if view is None:
        view = _scratch.view = memoryview(bytearray(MAX_CHUNK))
    return view


def check_tls_timeout(name: str, value: float | None, default: float) -> float:
    """asyncio's rule: ``None`` means the default, anything else must be positive."""
    if value is None:
        return default
    if value <= 0:
        raise ValueError(f"{name} should be a positive number, got {value}")
    return value


def tls_timeouts(handshake: float | None, shutdown: float | None) -> tuple[float, float]:
    """``(ssl_handshake_timeout, ssl_shutdown_timeout)`` as given, or their defaults.

    The one place the two are checked: by ``TLSProtocol``, and by the loop
    methods before they connect, bind or accept anything.
    """
    return (
        check_tls_timeout("ssl_handshake_timeout", handshake, SSL_HANDSHAKE_TIMEOUT),
        check_tls_timeout("ssl_shutdown_timeout", shutdown, SSL_SHUTDOWN_TIMEOUT),
    )


def check_ssl_arguments(
    given: Any,
    server_hostname: str | None,
    ssl_handshake_timeout: float | None,
    ssl_shutdown_timeout: float | None,
) -> None:
    """asyncio's checks of the TLS arguments a connection or server method takes.

    The one place for them: the socket methods and the simulated network's
    (``testing.simnet``) both call it before they connect or bind anything.
    """
    if server_hostname is not None and not given:
        raise ValueError("server_hostname is only meaningful with ssl")
    if ssl_handshake_timeout is not None and not given:
        raise ValueError("ssl_handshake_timeout is only meaningful with ssl")
    if ssl_shutdown_timeout is not None and not given:
        raise ValueError("ssl_shutdown_timeout is only meaningful with ssl")
    if given:
        # asyncio finds a bad value only when it builds the TLS layer: after
        # connecting, or at each accepted connection of a server that then
        # never serves anyone.  Same error and message, before any of that.
        tls_timeouts(ssl_handshake_timeout, ssl_shutdown_timeout)


def ssl_context_for(given: Any, server_side: bool) -> ssl.SSLContext | None:
    """The context ``ssl=`` stands for: none, the one given, or a client's default (``True``)."""
    if not given:
        return None
    if isinstance(given, ssl.SSLContext):
        return given
    if server_side:
        # A default context is a client's: the server's certificate must be given.
        raise ValueError("Server side SSL needs a valid SSLContext")
    return ssl.create_default_context()


def _default_client_context(server_hostname: str | None) -> ssl.SSLContext:
    # ``ssl=True`` on a client: the secure default, minus the hostname check
    # when there is no name to check against (as asyncio).
    context = ssl.create_default_context()
    if not server_hostname:
        context.check_hostname = False
    return context


class SSLTransport(asyncio.Transport):
    """The transport the application sees: plaintext in, plaintext out.

    Named as asyncio's and uvloop's TLS transports are (code, CPython's tests
    among it, looks for "ssl" in the class name to tell a TLS transport).

    Everything is delegated to the :class:`TLSProtocol` that owns it; this
    class only keeps the "closed" flag so ``is_closing`` stays true after the
    protocol lets go.
    """

    # Another start_tls() may layer TLS over this one (TLS in TLS, e.g. a proxy).
    _start_tls_compatible = True
    # loop.sendfile must encrypt what it sends: read-and-write, never os.sendfile.
    _sendfile_compatible = SendfileMode.FALLBACK

    def __init__(self, tls: TLSProtocol) -> None:
        super().__init__()
        self._tls = tls
        self._closed = False

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"<SSLTransport {state} over {self._tls._raw!r}>"

    def __del__(self, _warn: Any = warnings.warn) -> None:
        # Only a transport the application was given can be forgotten by it.
        if not self._closed and getattr(self, "_tls", None) and self._tls._app_connected:
            self._closed = True
            _warn(f"unclosed transport {self!r}", ResourceWarning, source=self)

    # -- information -----------------------------------------------------------

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._tls._get_extra_info(name, default)

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self._tls._set_app_protocol(protocol)

    def get_protocol(self) -> asyncio.BaseProtocol:
        protocol: asyncio.BaseProtocol = self._tls._app
        return protocol

    # -- closing ---------------------------------------------------------------

    def is_closing(self) -> bool:
        return self._closed

    def close(self) -> None:
        """Flush what is queued, exchange ``close_notify``, then ``connection_lost(None)``."""
        if not self._closed:
            self._closed = True
            self._tls._close_from_app()

    def abort(self) -> None:
        """Drop what is queued and drop the connection now."""
        self._closed = True
        self._tls._abort_from_app()

    # -- reading -----------------------------------------------------------------

    def is_reading(self) -> bool:
        return not self._closed and self._tls._app_reading()

    def pause_reading(self) -> None:
        self._tls._pause_app_reading()

    def resume_reading(self) -> None:
        self._tls._resume_app_reading()

    # -- writing -----------------------------------------------------------------

    def write(self, data: Any) -> None:
        check_bytes_like(data)
        if data:
            self._tls._write_app(data)

    def writelines(self, list_of_data: Iterable[Any]) -> None:
        # One join, so a header and a body become one record batch.
        data = b"".join(list_of_data)
        if data:
            self._tls._write_app(data)

    def can_write_eof(self) -> bool:
        # TLS has no half-close that asyncio exposes: close_notify ends both
        # directions for the application.
        return False

    def write_eof(self) -> None:
        raise NotImplementedError("TLS transports cannot write EOF; use close()")

    def get_write_buffer_size(self) -> int:
        """Plaintext not yet encrypted plus records not yet given to the raw transport.

        What the raw transport itself buffers is its own (as in asyncio); its
        pausing us is what pauses the application.
        """
        return self._tls._write_buffer_size()

    def get_write_buffer_limits(self) -> tuple[int, int]:
        return (self._tls._low_water, self._tls._high_water)

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        self._tls._high_water, self._tls._low_water = check_write_limits(
            high, low, DEFAULT_HIGH_WATER
        )
        self._tls._update_app_writing()

    @property
    def _ssl_protocol(self) -> TLSProtocol:
        # asyncio's private name for the TLS protocol.  Code in the wild reads
        # ``transport._ssl_protocol._extra["ssl_object"]`` or calls its
        # ``pause_writing()`` before closing; both work here too.
        return self._tls

    @property
    def _protocol_paused(self) -> bool:
        # glassloop's sendfile fallback asks transports this (FlowControl's name).
        return self._tls._app_writing_paused


class TLSProtocol(asyncio.BufferedProtocol):
    """TLS between a raw stream transport (below) and the application protocol (above).

    ``waiter`` gets ``None`` when the handshake succeeds (after the app's
    ``connection_made`` when ``call_connection_made``), or the exception that
    ended it: an ``ssl.SSLError`` (certificate verification failing is an
    ``ssl.SSLCertVerificationError``), ``ConnectionAbortedError`` on the
    handshake timeout, ``ConnectionResetError`` when the peer goes away.
    """

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        app_protocol: asyncio.BaseProtocol,
        sslcontext: ssl.SSLContext | None,
        waiter: asyncio.Future[None] | None,
        server_side: bool = False,
        server_hostname: str | None = None,
        call_connection_made: bool = True,
        ssl_handshake_timeout: float | None = None,
        ssl_shutdown_timeout: float | None = None,
    ) -> None:
        self._handshake_timeout, self._shutdown_timeout = tls_timeouts(
            ssl_handshake_timeout, ssl_shutdown_timeout
        )
        if sslcontext is None:
            if server_side:
                raise ValueError("Server side SSL needs a valid SSLContext")
            sslcontext = _default_client_context(server_hostname)
        self._loop = loop
        self._waiter = waiter
        self._server_side = server_side
        self._context = sslcontext
        self._incoming = ssl.MemoryBIO()
        self._outgoing = ssl.MemoryBIO()
        # A server never sends a name; an empty name means "none" (as asyncio).
        hostname = server_hostname if (server_hostname and not server_side) else None
        self._sslobj = sslcontext.wrap_bio(
            self._incoming, self._outgoing, server_side=server_side, server_hostname=hostname
        )
        self._extra: dict[str, Any] = {"sslcontext": sslcontext}

        self._phase = _Phase.NEW
        #: connection_lost came before connection_made (start_tls on a closing transport).
        self._lost_before_made = False
        self._raw: asyncio.Transport | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._handshake_started = 0.0
        # The first error decides what the application hears in connection_lost.
        self._fatal_exc: BaseException | None = None

        # Above: the application.
        self._app: Any = None
        self._app_buffered = False
        self._set_app_protocol(app_protocol)
        self._call_connection_made = call_connection_made
        self._app_connected = False  # handshake done and the app knows the transport
        self._app_told_eof = False
        self._app_lost = False
        # Strong until the connection is lost, then weak: the transport points
        # at us, and a cycle would keep the SSLContext alive until a gc run.
        self._app_transport: SSLTransport | None = SSLTransport(self)
        self._app_transport_ref = weakref.ref(self._app_transport)

        # Incoming side.
        self._recv_view = _receive_buffer()
        self._app_reading_paused = False
        self._raw_reading_paused = False  # we paused the raw transport
        self._raw_eof = False  # the raw transport saw EOF
        self._peer_closed = False  # the peer's close_notify was read

        # Outgoing side.
        self._backlog: collections.deque[bytes | memoryview] = collections.deque()
        self._backlog_size = 0
        self._raw_writing_paused = False  # the raw transport paused us
        self._app_writing_paused = False  # we paused the application
        self._high_water, self._low_water = check_write_limits(None, None, DEFAULT_HIGH_WATER)
        self._lost_writes = 0

        # The re-entrancy guard of _process (see the module docstring).
        self._processing = False
        self._again = False
        self._resume_handle: asyncio.Handle | None = None

    def __repr__(self) -> str:
        side = "server" if self._server_side else "client"
        return f"<TLSProtocol {side} {self._phase.value}>"

    # == the raw transport's protocol interface ==================================

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """The raw connection is up: start the handshake and its timer."""
        if self._lost_before_made:
            # start_tls on a transport that was already closing: its
            # connection_lost reached us first, and start_tls has returned None.
            return
        if self._phase is not _Phase.NEW:
            raise RuntimeError(f"{self!r}: connection_made() called twice")
        self._raw = cast(asyncio.Transport, transport)
        self._phase = _Phase.HANDSHAKE
        if self._loop.get_debug():
            logger.debug("%r starts the TLS handshake", self)
            self._handshake_started = self._loop.time()
        self._timer = self._loop.call_later(self._handshake_timeout, self._on_handshake_timeout)
        self._process()

    def get_buffer(self, sizehint: int) -> memoryview:
        self._recv_view = _receive_buffer()
        return self._recv_view

    def buffer_updated(self, nbytes: int) -> None:
        self._incoming.write(self._recv_view[:nbytes])
        self._process()

    def data_received(self, data: bytes) -> None:
        """For raw transports that ignore ``BufferedProtocol``."""
        self._incoming.write(data)
        self._process()

    def eof_received(self) -> bool:
        """The peer half-closed TCP.  We close the raw transport ourselves, when done."""
        self._raw_eof = True
        if self._loop.get_debug():
            logger.debug("%r received EOF", self)
        if self._phase in (_Phase.NEW, _Phase.HANDSHAKE):
            self._fail_handshake(ConnectionResetError("Connection lost during the TLS handshake"))
            return False
        if self._phase is _Phase.CLOSED:
            return False
        self._process()
        # Keep the raw transport open unless we are done with it: the shutdown
        # (or a paused application that still has data to read) decides.
        return not self._closed()

    def pause_writing(self) -> None:
        """The raw transport's buffer is full: hold plaintext back, pause the app."""
        self._raw_writing_paused = True
        self._update_app_writing()

    def resume_writing(self) -> None:
        self._raw_writing_paused = False
        self._process()

    def connection_lost(self, exc: BaseException | None) -> None:
        """The raw transport is gone: tell whoever is waiting, exactly once."""
        self._cancel_timer()
        if self._resume_handle is not None:
            self._resume_handle.cancel()
            self._resume_handle = None
        reason = exc if exc is not None else self._fatal_exc
        self._fatal_exc = None  # its traceback would keep frames (and cycles) alive
        self._lost_before_made = self._phase is _Phase.NEW
        self._phase = _Phase.CLOSED
        self._raw = None
        self._backlog.clear()
        self._backlog_size = 0
        self._outgoing.read()
        self._mark_app_closed()
        self._app_transport = None
        if self._waiter is not None:
            # Still waiting means the handshake never finished (a finished or
            # failed one has already told the waiter).  Lost cleanly before it
            # even started is start_tls on a closing transport: asyncio's
            # start_tls then returns None, and so does ours.
            if reason is None and self._lost_before_made:
                self._wake_waiter(None)
            else:
                self._wake_waiter(
                    reason or ConnectionResetError("Connection lost during the TLS handshake")
                )
        app, self._app = self._app, None
        # start_tls's protocol was connected before we existed: if the raw
        # transport is lost before the handshake could start, it hears so
        # from us (asyncio's SSLProtocol does the same).
        owed = self._app_connected or (self._lost_before_made and not self._call_connection_made)
        if owed and not self._app_lost:
            self._app_lost = True
            # Let go of the app before calling it: an app that keeps its
            # transport must not form a cycle through us (no gc run needed
            # to free the connection, its SSLContext included).
            app.connection_lost(reason)

    @property
    def app_transport(self) -> SSLTransport:
        """The transport the application protocol talks to."""
        transport = self._app_transport or self._app_transport_ref()
        if transport is None:
            raise RuntimeError(f"{self!r}: the application's transport is gone")
        return transport

    def _mark_app_closed(self) -> None:
        transport = self._app_transport_ref()
        if transport is not None:
            transport._closed = True

    # == the state machine ===========================================================

    def _closed(self) -> bool:
        # A method, not an inline test: callbacks change the phase behind
        # the back of any narrowing a type checker did.
        return self._phase is _Phase.CLOSED

    def _process(self, first_step: Callable[[], None] | None = None) -> None:
        """Advance the connection as far as the bytes and flags we have allow.

        Re-entrant calls (from application callbacks) only ask for another
        round; the outer call runs it once the callback has returned.
        ``first_step`` replaces the first round when the caller knows that
        only part of it can have work (a write needs no read attempt).
        """
        if self._processing:
            self._again = True
            return
        self._processing = True
        step = first_step or self._step
        try:
            while True:
                self._again = False
                step()
                step = self._step
                if not self._again or self._closed():
                    break
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._fatal(exc, "Fatal error on TLS connection")
        finally:
            self._processing = False

    def _step(self) -> None:
        if self._phase is _Phase.HANDSHAKE:
            self._do_handshake()
            return
        if self._phase not in (_Phase.OPEN, _Phase.FLUSHING, _Phase.SHUTDOWN):
            return
        self._read_from_peer()
        if self._phase in (_Phase.OPEN, _Phase.FLUSHING):
            self._encrypt_backlog()
        if self._phase is _Phase.FLUSHING and not self._backlog:
            self._send_close_notify()
        if self._phase is _Phase.SHUTDOWN and (self._peer_closed or self._raw_eof):
            self._finish()

    # -- handshake -------------------------------------------------------------------

    def _do_handshake(self) -> None:
        try:
            self._sslobj.do_handshake()
        except _WANT_MORE:
            self._send_outgoing()
            return
        except Exception as exc:
            # Send our alert first, so the peer learns why.
            self._send_outgoing()
            self._fail_handshake(exc)
            return
        self._send_outgoing()
        self._cancel_timer()
        sslobj = self._sslobj
        try:
            peercert = sslobj.getpeercert()
        except Exception as exc:
            self._fail_handshake(exc)
            return
        self._extra.update(
            peercert=peercert,
            cipher=sslobj.cipher(),
            compression=sslobj.compression(),
            ssl_object=sslobj,
        )
        if self._loop.get_debug():
            took = self._loop.time() - self._handshake_started
            logger.debug("%r: TLS handshake took %.1f ms", self, took * 1e3)
        self._phase = _Phase.OPEN
        if self._call_connection_made:
            try:
                self._app.connection_made(self.app_transport)
            except (SystemExit, KeyboardInterrupt):
                raise
            except BaseException as exc:
                self._wake_waiter(exc)
                self._fatal(exc, "Fatal error: protocol.connection_made() call failed.")
                return
        self._app_connected = True
        self._wake_waiter(None)
        if self._app_reading_paused:
            self._pause_raw_reading()
        # Application data may have come with the peer's last handshake flight.
        self._again = True

    def _on_handshake_timeout(self) -> None:
        self._timer = None
        if self._phase in (_Phase.NEW, _Phase.HANDSHAKE):
            self._fail_handshake(
                ConnectionAbortedError(
                    f"SSL handshake is taking longer than {self._handshake_timeout} "
                    f"seconds: aborting the connection"
                )
            )

    def _fail_handshake(self, exc: BaseException) -> None:
        if isinstance(exc, ssl.CertificateError):
            message = "SSL handshake failed on verifying the certificate"
        else:
            message = "SSL handshake failed"
        self._wake_waiter(exc)
        self._fatal(exc, message)

    def _wake_waiter(self, exc: BaseException | None) -> None:
        waiter, self._waiter = self._waiter, None
        if waiter is None or waiter.done():
            return
        if exc is None:
            waiter.set_result(None)
        else:
            waiter.set_exception(exc)

    # -- reading ---------------------------------------------------------------------

    def _read_from_peer(self) -> None:
        """Decrypt what has arrived; notice the peer's close_notify or EOF."""
        if self._peer_closed:
            return
        closing = self._phase is not _Phase.OPEN
        deliver = not self._app_reading_paused and not self._app_lost
        if not deliver and not closing:
            # The application paused: leave the data where it is (the raw
            # transport is paused too) until it resumes.
            return
        if deliver and self._app_buffered:
            peer_closed = self._read_into_app()
        else:
            peer_closed = self._read_copied(deliver)
        if self._closed():
            return
        self._send_outgoing()  # e.g. a KeyUpdate answer
        if peer_closed:
            self._peer_closed = True
            self._peer_done()
        elif self._raw_eof and not self._app_reading_paused:
            # TCP EOF without close_notify, and everything before it delivered.
            self._peer_done()

    def _read_copied(self, deliver: bool) -> bool:
        """Read all the plaintext there is; hand it to ``data_received`` in one piece."""
        chunks: list[bytes] = []
        peer_closed = False
        sslobj = self._sslobj
        while True:
            try:
                chunk = sslobj.read(MAX_CHUNK)
            except _WANT_MORE:
                break
            except ssl.SSLZeroReturnError:
                peer_closed = True
                break
            if not chunk:
                peer_closed = True
                break
            chunks.append(chunk)
        if chunks and deliver:
            data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
            try:
                self._app.data_received(data)
            except (SystemExit, KeyboardInterrupt):
                raise
            except BaseException as exc:
                self._fatal(exc, "Fatal error: protocol.data_received() call failed.")
        return peer_closed

    def _read_into_app(self) -> bool:
        """Decrypt straight into the application's buffers, as many as it takes."""
        sslobj = self._sslobj
        while True:
            app = self._app
            try:
                buf = app.get_buffer(-1)
                size = len(buf)
                if not size:
                    raise RuntimeError("get_buffer() returned an empty buffer")
            except (SystemExit, KeyboardInterrupt):
                raise
            except BaseException as exc:
                self._fatal(exc, "Fatal error: protocol.get_buffer() call failed.")
                return False
            view = memoryview(buf)
            filled = 0
            peer_closed = False
            try:
                while filled < size:
                    count: int = sslobj.read(size - filled, view[filled:])  # type: ignore[assignment]
                    if not count:
                        peer_closed = True
                        break
                    filled += count
            except _WANT_MORE:
                pass
            except ssl.SSLZeroReturnError:
                peer_closed = True
            finally:
                view.release()
            if filled:
                try:
                    app.buffer_updated(filled)
                except (SystemExit, KeyboardInterrupt):
                    raise
                except BaseException as exc:
                    self._fatal(exc, "Fatal error: protocol.buffer_updated() call failed.")
                    return False
            if peer_closed or filled < size:
                return peer_closed
            # The buffer is full, so there may be more; unless the app changed
            # its mind in buffer_updated (paused, closed, swapped protocols).
            if self._app_reading_paused or self._closed():
                return False
            if not self._app_buffered:
                return self._read_copied(True)

    def _peer_done(self) -> None:
        """The peer will send no more: tell the app, then close our side too."""
        if self._app_connected and not self._app_told_eof and not self._app_lost:
            self._app_told_eof = True
            try:
                keep_open = self._app.eof_received()
            except (SystemExit, KeyboardInterrupt):
                raise
            except BaseException as exc:
                self._fatal(exc, "Fatal error: protocol.eof_received() call failed.")
                return
            if keep_open:
                logger.warning("returning true from eof_received() has no effect when using ssl")
        if self._phase is _Phase.OPEN:
            self._begin_close()

    # -- writing -----------------------------------------------------------------

    def _write_app(self, data: bytes | bytearray | memoryview) -> None:
        if self._phase not in (_Phase.NEW, _Phase.HANDSHAKE, _Phase.OPEN) or (
            self._app_transport is None or self._app_transport._closed
        ):
            self._lost_writes += 1
            if self._lost_writes >= _LOG_WRITES_AFTER_CLOSE:
                logger.warning("TLS connection is closed; write() ignored")
            return
        # Keep our own copy of anything mutable: the caller may reuse it.
        self._backlog.append(data if isinstance(data, bytes) else bytes(data))
        self._backlog_size += len(self._backlog[-1])
        if self._processing:
            self._again = True
            return
        if self._phase is _Phase.OPEN:
            self._process(self._encrypt_backlog)
        else:
            self._update_app_writing()

    def _encrypt_backlog(self) -> None:
        """Encrypt queued plaintext while the raw transport takes it."""
        backlog = self._backlog
        sslobj = self._sslobj
        while backlog and not self._raw_writing_paused and self._raw is not None:
            data = backlog[0]
            piece = data if len(data) <= MAX_CHUNK else memoryview(data)[:MAX_CHUNK]
            try:
                sent = sslobj.write(piece)
            except _WANT_MORE:
                # Renegotiation wants the peer's bytes first; data resumes us.
                break
            if sent == len(data):
                backlog.popleft()
            else:
                # A view, not a copy: a big write is sent in many pieces.
                backlog[0] = memoryview(data)[sent:]
            self._backlog_size -= sent
            # raw.write may call our pause_writing() before it returns.
            self._send_outgoing()
        self._update_app_writing()

    def _send_outgoing(self) -> None:
        # Handshake messages, alerts and close_notify go out even while the
        # raw transport has paused us: they are small and must not wait.
        if self._outgoing.pending and self._raw is not None:
            self._raw.write(self._outgoing.read())

    def _write_buffer_size(self) -> int:
        return self._backlog_size + self._outgoing.pending

    def _update_app_writing(self) -> None:
        """Pause or resume the application's writing; a failing callback is reported."""
        size = self._write_buffer_size()
        if not self._app_writing_paused:
            if not self._app_connected or not (self._raw_writing_paused or size > self._high_water):
                return
            self._app_writing_paused = True
            method = "pause_writing"
        else:
            if self._raw_writing_paused or size > self._low_water:
                return
            self._app_writing_paused = False
            method = "resume_writing"
        if self._app_lost:
            return
        try:
            getattr(self._app, method)()
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._loop.call_exception_handler(
                {
                    "message": f"protocol.{method}() failed",
                    "exception": exc,
                    "transport": self.app_transport,
                    "protocol": self._app,
                }
            )

    # -- closing -------------------------------------------------------------------

    def _begin_close(self) -> None:
        """OPEN -> FLUSHING: no more app writes; the shutdown clock starts."""
        self._phase = _Phase.FLUSHING
        self._mark_app_closed()
        self._cancel_timer()
        self._timer = self._loop.call_later(self._shutdown_timeout, self._on_shutdown_timeout)
        # The peer's close_notify must get through even if the app paused reading.
        if self._raw_reading_paused and self._raw is not None:
            self._raw_reading_paused = False
            self._raw.resume_reading()
        self._again = True

    def _send_close_notify(self) -> None:
        """FLUSHING -> SHUTDOWN, once the backlog is encrypted."""
        # OpenSSL refuses to shut down over unread application data.
        self._read_from_peer()
        if self._phase is not _Phase.FLUSHING:
            return
        self._phase = _Phase.SHUTDOWN
        if self._raw_eof:
            # The peer closed TCP without close_notify: it has dropped TLS, so
            # answer in kind (as asyncio and uvloop do) and just close.
            return
        try:
            self._sslobj.unwrap()
        except _WANT_MORE:
            pass  # sent; the peer's close_notify is still to come
        else:
            self._peer_closed = True
        self._send_outgoing()

    def _finish(self) -> None:
        """Both close_notifys exchanged (or the peer is gone): close the raw transport.

        The shutdown timer stays armed: if the raw transport cannot flush its
        buffer in time, it is aborted rather than left hanging.
        """
        self._phase = _Phase.CLOSED
        if self._raw is not None:
            self._raw.close()

    def _on_shutdown_timeout(self) -> None:
        self._timer = None
        if self._raw is not None:
            if self._fatal_exc is None:
                self._fatal_exc = TimeoutError("SSL shutdown timed out")
            self._phase = _Phase.CLOSED
            self._raw.abort()

    def _close_from_app(self) -> None:
        if self._phase in (_Phase.NEW, _Phase.HANDSHAKE):
            # Nobody has the transport yet in the usual flows; asyncio aborts too.
            self._abort(ConnectionAbortedError("TLS transport closed during the handshake"))
        elif self._phase is _Phase.OPEN:
            self._begin_close()
            self._process()

    def _abort_from_app(self) -> None:
        if self._phase in (_Phase.NEW, _Phase.HANDSHAKE):
            self._abort(ConnectionAbortedError("TLS transport aborted during the handshake"))
        elif self._phase is not _Phase.CLOSED or self._raw is not None:
            self._abort(None)

    def _abort(self, waiter_exc: BaseException | None) -> None:
        self._phase = _Phase.CLOSED
        self._mark_app_closed()
        self._backlog.clear()
        self._backlog_size = 0
        if waiter_exc is not None:
            self._wake_waiter(waiter_exc)
        if self._raw is not None:
            self._raw.abort()

    def _fatal(self, exc: BaseException, message: str) -> None:
        """An error ends the connection: report it as asyncio does, then abort."""
        if isinstance(exc, OSError):
            # Peer trouble (resets, bad certificates, corrupt records): the
            # application hears of it; only debug mode logs it.
            if self._loop.get_debug():
                logger.debug("%r: %s", self, message, exc_info=exc)
        elif not isinstance(exc, asyncio.CancelledError):
            self._loop.call_exception_handler(
                {
                    "message": message,
                    "exception": exc,
                    "transport": self._raw,
                    "protocol": self,
                }
            )
        if self._fatal_exc is None:
            self._fatal_exc = exc
        self._cancel_timer()
        self._abort(None)

    def _cancel_timer(self) -> None:
        timer, self._timer = self._timer, None
        if timer is not None:
            timer.cancel()

    # == what SSLTransport asks of us ==================================================

    def _get_extra_info(self, name: str, default: Any = None) -> Any:
        if name in self._extra:
            return self._extra[name]
        if self._raw is not None:
            return self._raw.get_extra_info(name, default)
        return default

    def _set_app_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self._app = protocol
        self._app_buffered = isinstance(protocol, asyncio.BufferedProtocol)

    def _app_reading(self) -> bool:
        return not self._app_reading_paused and self._phase in (
            _Phase.NEW,
            _Phase.HANDSHAKE,
            _Phase.OPEN,
        )

    def _pause_app_reading(self) -> None:
        if self._app_reading_paused:
            return
        self._app_reading_paused = True
        if self._resume_handle is not None:
            self._resume_handle.cancel()
            self._resume_handle = None
        if self._phase is _Phase.OPEN:
            self._pause_raw_reading()

    def _pause_raw_reading(self) -> None:
        if not self._raw_reading_paused and self._raw is not None:
            self._raw_reading_paused = True
            self._raw.pause_reading()

    def _resume_app_reading(self) -> None:
        if not self._app_reading_paused:
            return
        self._app_reading_paused = False
        if self._raw_reading_paused and self._raw is not None:
            self._raw_reading_paused = False
            self._raw.resume_reading()
        # Plaintext (or the peer's EOF) may be waiting from before the pause;
        # deliver it on the next turn, not inside the app's resume_reading().
        if self._resume_handle is None and self._phase is not _Phase.CLOSED:
            self._resume_handle = self._loop.call_soon(self._resumed)

    def _resumed(self) -> None:
        self._resume_handle = None
        self._process()


def _supports_start_tls(transport: object) -> bool:
    from .sockets import SocketTransport

    if isinstance(transport, (SocketTransport, SSLTransport)):
        return True
    # asyncio's own socket transports say so with this flag.
    return bool(getattr(transport, "_start_tls_compatible", False))


async def start_tls(
    loop: asyncio.AbstractEventLoop,
    transport: asyncio.BaseTransport,
    protocol: asyncio.BaseProtocol,
    sslcontext: ssl.SSLContext,
    *,
    server_side: bool = False,
    server_hostname: str | None = None,
    ssl_handshake_timeout: float | None = None,
    ssl_shutdown_timeout: float | None = None,
) -> asyncio.Transport | None:
    """``loop.start_tls``: upgrade an open connection; return the TLS transport.

    ``protocol`` keeps its place: it gets no second ``connection_made``, and
    talks plaintext through the returned transport.  If the handshake fails
    (or the caller is cancelled) the connection is closed and the error raised.
    """
    if not isinstance(sslcontext, ssl.SSLContext):
        raise TypeError(
            f"sslcontext is expected to be an instance of ssl.SSLContext, got {sslcontext!r}"
        )
    if not _supports_start_tls(transport):
        raise TypeError(f"transport {transport!r} is not supported by start_tls()")
    assert isinstance(transport, asyncio.Transport)
    waiter: asyncio.Future[None] = loop.create_future()
    tls = TLSProtocol(
        loop,
        protocol,
        sslcontext,
        waiter,
        server_side=server_side,
        server_hostname=server_hostname,
        call_connection_made=False,
        ssl_handshake_timeout=ssl_handshake_timeout,
        ssl_shutdown_timeout=ssl_shutdown_timeout,
    )
    # Pause first: no byte may reach the TLS protocol before connection_made.
    transport.pause_reading()
    transport.set_protocol(tls)
    made = loop.call_soon(tls.connection_made, transport)
    resumed = loop.call_soon(transport.resume_reading)
    app_transport = tls.app_transport  # before the wait: a lost connection lets go of it
    try:
        await waiter
    except BaseException:
        transport.close()
        made.cancel()
        resumed.cancel()
        raise
    if tls._lost_before_made:
        return None  # the transport was closing: asyncio answers None too
    return app_transport
