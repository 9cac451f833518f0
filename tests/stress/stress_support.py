"""What the stress tests share: sizes, loop factories, resource gauges, echo protocols.

This module is imported both by the tests (pytest puts ``tests/stress`` on
``sys.path``) and by ``echo_client.py``, which runs as a separate process, so
it must not import pytest.
"""

from __future__ import annotations

import asyncio
import gc
import os
import random
import resource
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar, cast

LOOP_NAMES = ("glassloop", "asyncio", "uvloop")

#: The size knob's environment variable; ``--stress-size`` overrides it.
SIZE_ENV = "GLASSLOOP_STRESS_SIZE"

#: Connects in flight at once, from one process. Above the listen backlog,
#: Linux answers with SYN cookies and then drops the handshake's last ACK if
#: the accept queue is full: a client that only waits to read then waits
#: forever. 128 fits the smallest backlog a kernel caps us at (somaxconn's
#: default before Linux 5.4).
MAX_CONNECTING = 128
#: Listen backlog we ask for; the kernel caps it at somaxconn.
BACKLOG = 1024

#: Largest echo message: asyncio's default write high-water mark, so one
#: message can just tip a transport into ``pause_writing``.
MAX_MESSAGE = 64 * 1024

LoopFactory = Callable[[], asyncio.AbstractEventLoop]
P = TypeVar("P", bound=asyncio.BaseProtocol)

#: Peak RSS (KiB) the echo-client processes reported, for report.py's table.
CLIENT_PEAK_RSS_KIB: list[int] = []


def _timeout(default: float) -> float:
    """A size's bound on one test body; ``$GLASSLOOP_STRESS_TIMEOUT`` overrides it."""
    return float(os.environ.get("GLASSLOOP_STRESS_TIMEOUT") or default)


@dataclass(frozen=True)
class Size:
    """How hard each stress test pushes; ``small`` is CI's, ``full`` is issue 3's."""

    name: str
    #: Concurrent TCP/Unix connections echoing (test_stress_echo).
    echo_connections: int
    #: Messages each echo connection sends, one at a time, each checksummed.
    echo_messages: int
    #: Peers of each kind in the mixed-fault run (test_stress_faults).
    fault_peers: int
    #: Bytes the server streams to each slow reader.
    slow_reader_bytes: int
    #: Connections in the callback-exception run; every fifth one raises.
    exception_connections: int
    #: Connect/close cycles, and subprocesses, between leak measurements.
    connect_cycles: int
    subprocesses: int
    #: call_soon_threadsafe calls made by each of the hammering threads.
    threadsafe_calls: int
    #: Bound on one test body (asyncio.timeout); pytest-timeout adds a margin.
    timeout: float


SIZES = {
    "small": Size(
        name="small",
        echo_connections=200,
        echo_messages=4,
        fault_peers=8,
        slow_reader_bytes=1 << 20,
        exception_connections=50,
        connect_cycles=2_000,
        subprocesses=20,
        threadsafe_calls=2_000,
        timeout=_timeout(60.0),
    ),
    "full": Size(
        name="full",
        echo_connections=10_000,
        echo_messages=8,
        fault_peers=500,
        slow_reader_bytes=2 << 20,
        exception_connections=5_000,
        connect_cycles=100_000,
        subprocesses=1_000,
        threadsafe_calls=100_000,
        timeout=_timeout(900.0),
    ),
}


def loop_factory_for(name: str) -> LoopFactory:
    """A factory for a fresh loop of the named kind (never the installed policy's)."""
    if name == "asyncio":
        return asyncio.SelectorEventLoop
    if name == "uvloop":
        import uvloop

        return uvloop.new_event_loop
    if name == "glassloop":
        import glassloop

        factory: LoopFactory = glassloop.new_event_loop
        return factory
    raise ValueError(f"unknown loop {name!r}; expected one of {', '.join(LOOP_NAMES)}")


# -- resource gauges ----------------------------------------------------------------


def open_fds() -> list[int]:
    """This process's open file descriptors (Linux ``/proc``).

    Listing a directory takes a descriptor of its own, which shows up in the
    listing and is closed by the time it returns; ``fstat`` weeds it out.
    """
    fds = []
    for name in os.listdir("/proc/self/fd"):
        try:
            os.fstat(int(name))
        except OSError:
            continue
        fds.append(int(name))
    return sorted(fds)


def rss_bytes() -> int:
    """Resident set size now (not the peak): what a leak makes grow."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def live_children() -> list[int]:
    """Pids of this process's children that exist (running or zombie)."""
    pids: list[int] = []
    for task in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{task}/children") as children:
                pids.extend(int(pid) for pid in children.read().split())
        except FileNotFoundError:  # a thread that just ended
            continue
    return sorted(pids)


@dataclass(frozen=True)
class Gauges:
    """A snapshot of what a leak would show: descriptors, memory, Python objects."""

    fds: tuple[int, ...]
    rss: int
    objects: int

    @classmethod
    def take(cls) -> Gauges:
        # Collect twice: the first pass may run finalizers that free more.
        gc.collect()
        gc.collect()
        return cls(tuple(open_fds()), rss_bytes(), len(gc.get_objects()))

    @classmethod
    async def settle_and_take(cls) -> Gauges:
        """``take``, from a coroutine, once the loop has let go of what woke us.

        Every loop keeps the handle it is running alive until its turn ends,
        and that handle holds what we awaited (a finished ``gather`` with all
        its tasks, say). Two turns of the loop let it go; no time passes.
        """
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        return cls.take()


def ensure_fd_limit(needed: int) -> str | None:
    """Raise the soft RLIMIT_NOFILE to at least ``needed``; the reason it can't, or None.

    The default soft limit on many systems (1024) is far below what
    thousands of connections need, while the hard limit usually allows it.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= needed:
        return None
    if hard != resource.RLIM_INFINITY and hard < needed:
        return (
            f"needs {needed} open files but the hard RLIMIT_NOFILE is {hard} "
            f"(raise it with `ulimit -Hn {needed}` as root, or use a smaller size)"
        )
    resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))
    return None


class Dialer:
    """Connects to a port on 127.0.0.1, at most ``MAX_CONNECTING`` connects at a time."""

    def __init__(self, port: int) -> None:
        self.port = port
        self._gate = asyncio.Semaphore(MAX_CONNECTING)

    async def connect(self, factory: Callable[[], P]) -> tuple[asyncio.Transport, P]:
        async with self._gate:
            loop = asyncio.get_running_loop()
            return await loop.create_connection(factory, "127.0.0.1", self.port)


class HandlerCalls(list[dict[str, Any]]):
    """The contexts a loop's exception handler received, in order."""

    def install(self, loop: asyncio.AbstractEventLoop) -> None:
        loop.set_exception_handler(lambda _loop, context: self.append(context))


# -- echo messages ---------------------------------------------------------------------


def message_sizes(rng: random.Random, count: int) -> list[int]:
    """``count`` sizes in 1 B .. 64 KiB, log-uniform so tiny and large are both common.

    Uniform sizes would make almost every message tens of KiB; real traffic
    (and the bugs at buffer edges) lives at every scale.
    """
    return [min(MAX_MESSAGE, max(1, int(2 ** rng.uniform(0, 16.0001)))) for _ in range(count)]


class EchoClient(asyncio.Protocol):
    """Client side of the echo exchange: send one message, wait for exactly its echo.

    One message is in flight at a time, so any byte that comes back beyond
    the message's length (a duplicate) or short of it (a loss) shows up, and
    the CRC-32 of what came back (position-sensitive) shows reordering.
    """

    def __init__(self) -> None:
        loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._need = 0
        self._waiter: asyncio.Future[None] | None = None
        self.closed: asyncio.Future[BaseException | None] = loop.create_future()
        #: CRC-32 and length of every byte sent, for the server to compare with.
        self.sent_crc = 0
        self.sent_bytes = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # cast, not isinstance: uvloop's transports don't subclass asyncio's.
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        waiter = self._waiter
        if waiter is not None and len(self._buffer) >= self._need and not waiter.done():
            waiter.set_result(None)

    def eof_received(self) -> bool | None:
        self._wake(ConnectionError("EOF before the whole echo came back"))
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self._wake(exc or ConnectionError("connection lost before the whole echo came back"))
        if not self.closed.done():
            self.closed.set_result(exc)

    def _wake(self, exc: BaseException) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)

    async def exchange(self, message: bytes) -> None:
        """Send ``message`` and check that exactly it comes back; raise AssertionError if not."""
        assert self.transport is not None
        if self.closed.done():  # nothing will wake a waiter any more
            raise ConnectionError(f"connection already lost ({self.closed.result()!r})")
        loop = asyncio.get_running_loop()
        self._need = len(message)
        self._waiter = loop.create_future()
        self.transport.write(message)
        self.sent_crc = zlib.crc32(message, self.sent_crc)
        self.sent_bytes += len(message)
        if len(self._buffer) < self._need:
            await self._waiter
        self._waiter = None
        echoed = bytes(self._buffer)
        self._buffer.clear()
        if len(echoed) != len(message):
            raise AssertionError(f"sent {len(message)} bytes, {len(echoed)} came back")
        if zlib.crc32(echoed) != zlib.crc32(message):
            raise AssertionError(f"the echo of a {len(message)}-byte message differs (CRC-32)")


class EchoServer(asyncio.Protocol):
    """Echo every byte, with backpressure, and record what came in for the checks.

    Reading pauses while the peer doesn't take our writes (``pause_writing``),
    so a slow peer costs at most one high-water mark of memory.
    """

    def __init__(self, stats: ServerStats) -> None:
        self.stats = stats
        self.transport: asyncio.Transport | None = None
        self.received_crc = 0
        self.received_bytes = 0
        self.pauses = 0
        self.lost: BaseException | bool | None = False  # False until connection_lost

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # cast, not isinstance: uvloop's transports don't subclass asyncio's.
        self.transport = cast(asyncio.Transport, transport)
        self.stats.opened(self)

    def data_received(self, data: bytes) -> None:
        assert self.transport is not None
        self.received_crc = zlib.crc32(data, self.received_crc)
        self.received_bytes += len(data)
        self.transport.write(data)

    def pause_writing(self) -> None:
        assert self.transport is not None
        self.pauses += 1
        self.transport.pause_reading()

    def resume_writing(self) -> None:
        assert self.transport is not None
        self.transport.resume_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = exc
        self.stats.closed(self)


class BufferedEchoServer(EchoServer, asyncio.BufferedProtocol):
    """The same echo, read through ``get_buffer``/``buffer_updated``.

    Transports read into a buffered protocol on a separate code path
    (``recv_into`` instead of ``recv``); it deserves the same load. One
    buffer serves every connection, because ``buffer_updated`` copies out
    before the next ``get_buffer``: 10 000 private 64 KiB buffers would
    dominate the peak RSS we report for the loop.
    """

    _shared = bytearray(MAX_MESSAGE)

    def get_buffer(self, sizehint: int) -> memoryview:
        return memoryview(self._shared)

    def buffer_updated(self, nbytes: int) -> None:
        self.data_received(bytes(self._shared[:nbytes]))


class ServerStats:
    """Live and peak connection counts of a server; wait for a number of losses."""

    def __init__(self, *, keep_protocols: bool = True) -> None:
        self.open = 0
        self.peak = 0
        #: Every protocol, for checks after the run; a leak test must not keep
        #: them (its own bookkeeping would be the growth it measures).
        self.protocols: list[EchoServer] = []
        self._keep = keep_protocols
        self.lost = 0
        self._changed = asyncio.Event()

    def opened(self, protocol: EchoServer) -> None:
        if self._keep:
            self.protocols.append(protocol)
        self.open += 1
        self.peak = max(self.peak, self.open)

    def closed(self, protocol: EchoServer) -> None:
        self.open -= 1
        self.lost += 1
        self._changed.set()

    async def wait_lost(self, count: int) -> None:
        """Return once ``count`` connections in all have called ``connection_lost``."""
        while self.lost < count:
            self._changed.clear()
            await self._changed.wait()
