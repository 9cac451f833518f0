# cython: annotation_typing=False
"""The byte-stream transport over one non-blocking file descriptor.

Sockets (TCP, Unix) and pipes share everything here: reading into the
protocol (plain or buffered), the write buffer with its high/low water marks,
pausing and resuming either side, half-close, and the difference between
``close`` (flush what is buffered, then ``connection_lost(None)``) and
``abort`` (drop it).  A subclass says only how bytes move through its fd:
:attr:`_io`, :meth:`_shutdown_write`,
:meth:`_close_fd`.

Writes go straight to the OS while nothing is buffered, so the common case
costs one syscall and no copy; only what the OS refuses is buffered.
"""

from __future__ import annotations

import asyncio
import logging
import operator
import sys
import warnings
from typing import TYPE_CHECKING, Any

from ..kernel._compiled import set_class_attributes

if TYPE_CHECKING:
    from ..loop import BaseLoop

try:  # the optional compiled build (setup.py): Cython reads this as a constant
    import cython  # type: ignore[import-not-found, import-untyped, unused-ignore]
except ImportError:  # pure Python, Cython not installed
    from ..kernel._compiled import cython_shim as cython

_COMPILED: bool = cython.compiled

logger = logging.getLogger("asyncio")

#: The size of the loop's one read buffer (datagram transports receive into it).
MAX_READ = 256 * 1024
#: What a stream read asks the OS for.  It reads into bytes of its own: the
#: data is copied once, and what the OS did not fill is given back in place
#: when the bytes shrink to fit.  (Reading into the loop's buffer and copying
#: out what came cost a second copy: 0.2 µs a 1 KiB read, 0.45 µs at 10 KiB.)
#: A read that comes back this full means a bulk transfer.
LARGE_READ = 32 * 1024
#: What a read asks for after a full one: under glibc's initial mmap threshold
#: (128 KiB), so the bytes come from the heap, not from an mmap per read.
BULK_READ = 120 * 1024
#: asyncio's default write-buffer high-water mark.
DEFAULT_HIGH_WATER = 64 * 1024
#: Held here: a transport collected at interpreter exit may outlive the warnings module.
_warn = warnings.warn
#: After this many writes to a lost connection, say so once per write.
_LOG_WRITES_AFTER_LOSS = 5


def check_write_limits(
    high: int | None, low: int | None, default_high: int = DEFAULT_HIGH_WATER
) -> tuple[int, int]:
    """asyncio's rule for ``set_write_buffer_limits`` arguments; returns ``(high, low)``.

    ``default_high`` is the mark when neither is given (TLS transports use a larger one).
    """
    if high is None:
        high = default_high if low is None else 4 * low
    if low is None:
        low = high // 4
    if not high >= low >= 0:
        raise ValueError(f"high ({high!r}) must be >= low ({low!r}) must be >= 0")
    return high, low


def check_bytes_like(data: object) -> None:
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"data argument must be a bytes-like object, not {type(data).__name__!r}")


class FlowControl:
    """Write-side flow control: tell the protocol to pause above ``high``, resume at ``low``.

    Shared by stream and datagram transports; subclasses provide
    ``get_write_buffer_size`` and ``_protocol``.
    """

    # Empty: the slots live on the concrete transports (StreamTransport), so
    # mixing these in never clashes with asyncio's slotted BaseTransport. Hidden
    # from mypy, which would hold these mixins' own assignments against them.
    if not TYPE_CHECKING:
        __slots__ = ()

    _loop: BaseLoop
    _protocol: Any
    _high_water: int
    _low_water: int
    _protocol_paused: bool

    def get_write_buffer_size(self) -> int:
        raise NotImplementedError

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        self._high_water, self._low_water = check_write_limits(high, low)
        self._maybe_pause_protocol()

    def get_write_buffer_limits(self) -> tuple[int, int]:
        return (self._low_water, self._high_water)

    def _maybe_pause_protocol(self) -> None:
        if self._protocol_paused or self.get_write_buffer_size() <= self._high_water:
            return
        self._protocol_paused = True
        self._call_protocol("pause_writing")

    def _maybe_resume_protocol(self) -> None:
        if self._protocol_paused and self.get_write_buffer_size() <= self._low_water:
            self._protocol_paused = False
            self._call_protocol("resume_writing")

    def _call_protocol(self, method: str) -> None:
        try:
            getattr(self._protocol, method)()
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._loop.call_exception_handler(
                {
                    "message": f"protocol.{method}() failed",
                    "exception": exc,
                    "transport": self,
                    "protocol": self._protocol,
                }
            )


class FdTransport(FlowControl):
    """What every transport over one fd shares: its lifecycle and read pausing.

    ``close`` lets buffered writes drain before ``connection_lost(None)``;
    ``abort`` and fatal errors drop them.  Subclasses keep a ``_buffer`` (any
    container with ``clear``) and provide ``_read_ready``/``_close_fd``.
    """

    if not TYPE_CHECKING:  # see FlowControl
        __slots__ = ()

    _buffer: Any
    _extra: dict[str, Any]
    _fd: int
    _conn_lost: int
    _closing: bool
    _paused: bool
    _buffered: bool
    #: False for a transport that only writes (a write pipe).
    _readable: bool
    #: EOF was read: nothing more can come, so resume_reading must not watch
    #: the fd again (it would read EOF again and call eof_received twice).
    _at_eof: bool
    #: Whether the loop's add_reader/add_writer/remove_* refuse this fd while
    #: we own it.  asyncio guards socket transports only (its pipe transports
    #: never register), so code that touches a pipe transport's fd works on
    #: glassloop as there.
    _guards_fd = False

    def _init_fd_transport(
        self,
        loop: BaseLoop,
        fd: int,
        protocol: asyncio.BaseProtocol,
        extra: dict[str, Any] | None,
        readable: bool = True,
    ) -> None:
        # What asyncio's BaseTransport.__init__ does, done here: a compiled
        # transport is not a subclass of it (see StreamTransport).
        self._extra = {} if extra is None else extra
        self._readable = readable
        self._at_eof = False
        self._loop = loop
        self._fd = fd
        if self._guards_fd:
            loop._transports[fd] = self
        self._conn_lost = 0
        self._closing = False
        self._paused = False  # reading
        self._protocol_paused = False  # writing
        self._high_water, self._low_water = check_write_limits(None, None)
        self._protocol = None
        self._buffered = False
        self.set_protocol(protocol)
        if cython.compiled:
            _drop_empty_dict(self)  # noqa: F821  (stream.pxd)

    def _read_ready(self) -> None:
        raise NotImplementedError

    def _clear_buffer(self) -> None:
        self._buffer.clear()

    def _close_fd(self) -> None:
        raise NotImplementedError

    def __repr__(self) -> str:
        state = "closed" if self._fd < 0 else ("closing" if self._closing else "open")
        return f"<{type(self).__name__} fd={self._fd} {state}>"

    def __del__(self) -> None:
        if getattr(self, "_fd", -1) >= 0 and not self._closing and self._conn_lost == 0:
            _warn(f"unclosed transport {self!r}", ResourceWarning, source=self)
            self._close_fd()
            self._fd = -1

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._extra.get(name, default)

    def get_protocol(self) -> Any:
        return self._protocol

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self._protocol = protocol
        self._buffered = isinstance(protocol, asyncio.BufferedProtocol)

    def is_closing(self) -> bool:
        return self._closing

    def is_reading(self) -> bool:
        return self._readable and not self._paused and not self._closing

    def pause_reading(self) -> None:
        if self._closing or self._paused or not self._readable:
            return
        self._paused = True
        self._loop._unwatch(self._fd, False)

    def resume_reading(self) -> None:
        if self._closing or not self._paused or not self._readable:
            return
        self._paused = False
        if not self._at_eof:
            self._loop._watch(self._fd, False, self._read_ready, ())

    def _start_reading(self) -> None:
        if not self._closing and not self._paused and self._fd >= 0:
            self._loop._watch(self._fd, False, self._read_ready, ())

    def close(self) -> None:
        if self._closing:
            return
        self._closing = True
        self._loop._unwatch(self._fd, False)
        if not self._buffer:
            self._conn_lost += 1
            self._loop._unwatch(self._fd, True)
            self._loop.call_soon(self._call_connection_lost, None)

    def abort(self) -> None:
        self._force_close(None)

    def _fatal_error(self, exc: BaseException, message: str) -> None:
        if isinstance(exc, OSError):
            # Resets and broken pipes are the peer's doing: the protocol hears of
            # it through connection_lost; only debug mode logs it.
            if self._loop.get_debug():
                logger.debug("%r: %s", self, message, exc_info=True)
        else:
            self._loop.call_exception_handler(
                {
                    "message": message,
                    "exception": exc,
                    "transport": self,
                    "protocol": self._protocol,
                }
            )
        self._force_close(exc)

    def _force_close(self, exc: BaseException | None) -> None:
        if self._conn_lost:
            return
        if self._buffer:
            self._clear_buffer()
            self._loop._unwatch(self._fd, True)
        if not self._closing:
            self._closing = True
            self._loop._unwatch(self._fd, False)
        self._conn_lost += 1
        self._loop.call_soon(self._call_connection_lost, exc)

    def _call_connection_lost(self, exc: BaseException | None) -> None:
        try:
            self._protocol.connection_lost(exc)
        finally:
            if self._fd >= 0:
                # Nothing may stay watched once the fd is closed: the next file to
                # get this number would inherit the registration (and never fire).
                self._loop._unwatch(self._fd, False)
                self._loop._unwatch(self._fd, True)
            self._close_fd()
            self._fd = -1
            # Let go of the protocol, as asyncio's transports do: one that keeps
            # its transport (most do) would otherwise form a cycle with it, and
            # all it holds would wait for a full gc pass (issue 14: 500 slow
            # readers' 2 MiB each were the stress suite's peak RSS).
            self._protocol = None
            self._connection_closed()

    def _connection_closed(self) -> None:
        """After connection_lost: subclasses detach from servers and the like."""


class AsyncioDatagramTransport(asyncio.DatagramTransport, asyncio.Transport):
    """What asyncio's own datagram transport is an instance of: both of these."""

    __slots__ = ()


# The compiled build's transports are extension types (stream.pxd): their
# state is C fields and their read and write paths C code.  An extension type
# cannot derive from asyncio's transport classes (a Python class with a slot
# of its own, ``_extra``: the two layouts conflict), so there they derive from
# none and answer isinstance checks through ``__class__`` (see
# answers_isinstance_as), as Task answers for asyncio.Task.  The pure build's
# derive from asyncio's, as before.
class _NoAsyncioBase:
    """The compiled build's stand-in for asyncio's classes: nothing (an extension
    type's other bases must be classes of this kind, not ``object``)."""

    __slots__ = ()


if TYPE_CHECKING or not _COMPILED:
    TransportBase = asyncio.Transport
    DatagramTransportBase = AsyncioDatagramTransport
else:
    TransportBase = DatagramTransportBase = _NoAsyncioBase


def answers_isinstance_as(cls: type[Any], asyncio_class: type[Any]) -> None:
    """Compiled build: ``isinstance(t, asyncio_class)`` is true for ``cls``'s instances.

    The instance check falls back to ``t.__class__`` when ``type(t)`` is not
    a subclass; ``type(t)`` and ``isinstance(t, cls)`` still tell the truth.
    The getter is a C callable, not a Python function.
    """
    if _COMPILED:
        set_class_attributes(
            cls,
            _asyncio_class=asyncio_class,
            __class__=property(operator.attrgetter("_asyncio_class")),
        )


class StreamTransport(FdTransport, TransportBase):
    """A read/write stream over one fd; subclasses move the bytes."""

    # Slots for our own state: memory per idle connection is a benchmarked
    # figure (10 000 connections are a normal server's day).  And a __dict__,
    # as asyncio's transports have: frameworks and their tests set attributes
    # on transports (wrapping ``write``, for one).  It costs no memory until
    # something is assigned, and on 3.11+ methods are still looked up at full
    # speed while it is empty (the instance's dict is "managed").
    #: ``_sendfile_active``: True while loop.sendfile hands the fd to the kernel.
    __slots__ = (
        "__dict__",
        "__weakref__",
        "_at_eof",
        "_buffer",
        "_buffered",
        "_closing",
        "_conn_lost",
        "_eof_written",
        "_fd",
        "_high_water",
        "_io",
        "_large_reads",
        "_loop",
        "_low_water",
        "_paused",
        "_protocol",
        "_protocol_paused",
        "_readable",
        "_sendfile_active",
    )

    #: Set by subclasses before ``__init__`` runs: what the bytes move
    #: through, with socket-style ``recv``/``recv_into``/``send`` calls (the
    #: socket itself; a small adapter over a pipe's fd). Not bound methods
    #: cached per transport: at 10 000 connections they cost more memory
    #: than the lookups they save cost time.
    _io: Any

    def __init__(
        self,
        loop: BaseLoop,
        fd: int,
        protocol: asyncio.BaseProtocol,
        *,
        extra: dict[str, Any] | None = None,
        waiter: asyncio.Future[None] | None = None,
        readable: bool = True,
    ) -> None:
        self._buffer = bytearray()
        self._eof_written = False
        self._sendfile_active = False
        self._large_reads = False
        self._init_fd_transport(loop, fd, protocol, extra, readable)
        loop.call_soon(protocol.connection_made, self)
        if readable:
            # Only after connection_made: the protocol must see it first.
            loop.call_soon(self._start_reading)
        if waiter is not None:
            loop.call_soon(set_result_unless_cancelled, waiter, None)

    # -- what subclasses provide -----------------------------------------

    def _shutdown_write(self) -> None:
        """Half-close: the peer sees EOF, we can still read."""
        raise NotImplementedError

    # -- the Transport interface ---------------------------------------------

    def get_write_buffer_size(self) -> int:
        return len(self._buffer)

    def write(self, data: Any) -> None:
        if type(data) is not bytes:  # (the common case, without a call)
            check_bytes_like(data)
            if type(data) is memoryview and data.nbytes != len(data):
                # A view of ints (or 2-D): what was sent is counted in bytes,
                # so slice it by bytes too, or a partial send loses the rest.
                data = data.cast("B")
        if self._eof_written:
            raise RuntimeError("Cannot call write() after write_eof()")
        if self._sendfile_active:
            raise RuntimeError("unable to write; sendfile is in progress")
        if not data:
            return
        if self._conn_lost:
            if self._conn_lost >= _LOG_WRITES_AFTER_LOSS:
                logger.warning("socket.send() raised exception.")
            self._conn_lost += 1
            return
        if not self._buffer:
            try:
                if cython.compiled:
                    sent = _write_fd(self._fd, data)  # noqa: F821 (stream.pxd's, as below)
                else:
                    sent = self._io.send(data)
            except (BlockingIOError, InterruptedError):
                sent = 0
            except (SystemExit, KeyboardInterrupt):
                raise
            except BaseException as exc:
                self._fatal_error(exc, "Fatal write error on transport")
                return
            if sent == len(data):
                return
            data = memoryview(data)[sent:]
            self._loop._watch(self._fd, True, self._write_ready, ())
        self._buffer += data
        self._maybe_pause_protocol()

    def writelines(self, list_of_data: Any) -> None:
        if sys.version_info >= (3, 12):
            # asyncio 3.12+ refuses these in writelines' own name; 3.11 in write's.
            if self._eof_written:
                raise RuntimeError("Cannot call writelines() after write_eof()")
            if self._sendfile_active:
                raise RuntimeError("unable to writelines; sendfile is in progress")
        # One send for the lot: a header and a body written separately would
        # otherwise cost two syscalls (and two packets with TCP_NODELAY).
        self.write(b"".join(list_of_data))

    def _write_ready(self) -> None:
        if self._conn_lost:
            return
        buffer = self._buffer
        try:
            if cython.compiled:
                sent = _write_fd(self._fd, buffer)  # noqa: F821
            else:
                sent = self._io.send(buffer)
        except (BlockingIOError, InterruptedError):
            return
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._loop._unwatch(self._fd, True)
            buffer.clear()
            self._fatal_error(exc, "Fatal write error on transport")
            return
        if sent:
            del buffer[:sent]
        self._maybe_resume_protocol()  # may write more, or close/abort
        if buffer:
            return
        self._loop._unwatch(self._fd, True)
        if self._conn_lost:
            return  # resume_writing closed or aborted: connection_lost is already scheduled
        if self._closing:
            self._conn_lost += 1
            self._call_connection_lost(None)
        elif self._eof_written:
            self._shutdown_write()

    def can_write_eof(self) -> bool:
        return True

    def write_eof(self) -> None:
        if self._closing or self._eof_written:
            return
        self._eof_written = True
        if not self._buffer:
            self._shutdown_write()

    # -- reading -------------------------------------------------------------

    def _read_ready(self) -> None:
        if self._conn_lost:
            return
        if self._buffered:
            self._read_into_protocol()
            return
        try:
            size = BULK_READ if self._large_reads else LARGE_READ
            if cython.compiled:
                data = _read_fd(self._fd, size)  # noqa: F821
            else:
                data = self._io.recv(size)
            self._large_reads = len(data) >= LARGE_READ
        except (BlockingIOError, InterruptedError):
            return
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._fatal_error(exc, "Fatal read error on transport")
            return
        if not data:
            self._read_eof()
            return
        try:
            self._protocol.data_received(data)
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._fatal_error(exc, "Fatal error: protocol.data_received() call failed.")

    def _read_into_protocol(self) -> None:
        protocol = self._protocol
        try:
            buf = protocol.get_buffer(-1)
            if not len(buf):
                raise RuntimeError("get_buffer() returned an empty buffer")
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._fatal_error(exc, "Fatal error: protocol.get_buffer() call failed.")
            return
        try:
            nbytes = self._io.recv_into(buf)
        except (BlockingIOError, InterruptedError):
            return
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._fatal_error(exc, "Fatal read error on transport")
            return
        if not nbytes:
            self._read_eof()
            return
        try:
            protocol.buffer_updated(nbytes)
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._fatal_error(exc, "Fatal error: protocol.buffer_updated() call failed.")

    def _read_eof(self) -> None:
        if self._loop.get_debug():
            logger.debug("%r received EOF", self)
        # Before the protocol hears of it: eof_received may pause and resume reading.
        self._at_eof = True
        try:
            keep_open = self._protocol.eof_received()
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._fatal_error(exc, "Fatal error: protocol.eof_received() call failed.")
            return
        if keep_open:
            # Half-open: we may still write; just stop watching for reads.
            self._loop._unwatch(self._fd, False)
        else:
            self.close()

    # -- endings ---------------------------------------------------------------


answers_isinstance_as(StreamTransport, asyncio.Transport)


def set_result_unless_cancelled(fut: asyncio.Future[Any], result: Any) -> None:
    if not fut.cancelled():
        fut.set_result(result)
