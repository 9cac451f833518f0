"""Shared pieces for the socket-transport tests (TCP, Unix, UDP, sendfile).

Protocols that record what the transport told them, a raw-socket peer the
test drives by hand (so "the peer doesn't read" or "the peer resets" is
exactly that), and a bounded ``wait_until``.  Nothing here knows which loop
runs it: every helper goes through the loop's public API.
"""

from __future__ import annotations

import asyncio
import os
import socket
import struct
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

Loop = asyncio.AbstractEventLoop

#: Every wait in these tests is bounded; a real case takes milliseconds.
WAIT = 5.0


async def wait_until(predicate: Callable[[], bool], timeout: float = WAIT) -> None:
    """Poll ``predicate`` every few ms; fail (not hang) after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s: {predicate}")
        await asyncio.sleep(0.002)


def payload(size: int) -> bytes:
    """Random bytes: a lost, doubled or reordered chunk cannot compare equal."""
    return os.urandom(size)


class Recorder(asyncio.Protocol):
    """Records every callback in order; ``lost`` resolves at connection_lost.

    ``eof_keeps_open`` is what ``eof_received`` answers (True: half-open).
    ``raise_in_data`` makes ``data_received`` raise, to see where that goes.
    """

    def __init__(
        self,
        loop: Loop,
        *,
        eof_keeps_open: bool | None = None,
        raise_in_data: BaseException | None = None,
    ) -> None:
        self.loop = loop
        self.events: list[str] = []
        self.data = bytearray()
        self.exc: BaseException | None = None
        self.transport: Any = None
        self.made: asyncio.Future[None] = loop.create_future()
        self.eof: asyncio.Future[None] = loop.create_future()
        self.lost: asyncio.Future[BaseException | None] = loop.create_future()
        self.eof_keeps_open = eof_keeps_open
        self.raise_in_data = raise_in_data

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        self.events.append("made")
        self.made.set_result(None)

    def data_received(self, data: bytes) -> None:
        assert isinstance(data, bytes), type(data)
        self.data += data
        if not self.events or self.events[-1] != "data":
            self.events.append("data")
        if self.raise_in_data is not None:
            raise self.raise_in_data

    def eof_received(self) -> bool | None:
        self.events.append("eof")
        if not self.eof.done():
            self.eof.set_result(None)
        return self.eof_keeps_open

    def pause_writing(self) -> None:
        self.events.append("pause")

    def resume_writing(self) -> None:
        self.events.append("resume")

    def connection_lost(self, exc: BaseException | None) -> None:
        self.events.append("lost")
        self.exc = exc
        if not self.lost.done():
            self.lost.set_result(exc)

    async def received(self, size: int, timeout: float = WAIT) -> bytes:
        """Wait until ``size`` bytes have arrived; return them."""
        await wait_until(lambda: len(self.data) >= size or self.lost.done(), timeout)
        return bytes(self.data)


class BufferedRecorder(asyncio.BufferedProtocol):
    """A BufferedProtocol with a small fixed buffer, so a large payload takes many reads."""

    def __init__(self, loop: Loop, bufsize: int = 4096) -> None:
        self.buffer = bytearray(bufsize)
        self.data = bytearray()
        self.sizes_asked: list[int] = []
        self.events: list[str] = []
        self.transport: Any = None
        self.lost: asyncio.Future[BaseException | None] = loop.create_future()

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        self.events.append("made")

    def get_buffer(self, sizehint: int) -> memoryview:
        self.sizes_asked.append(sizehint)
        return memoryview(self.buffer)

    def buffer_updated(self, nbytes: int) -> None:
        assert 0 < nbytes <= len(self.buffer)
        self.data += self.buffer[:nbytes]
        if self.events[-1] != "data":
            self.events.append("data")

    def eof_received(self) -> bool | None:
        self.events.append("eof")
        return None

    def connection_lost(self, exc: BaseException | None) -> None:
        self.events.append("lost")
        if not self.lost.done():
            self.lost.set_result(exc)


@contextmanager
def tcp_listener(host: str = "127.0.0.1", backlog: int = 8) -> Iterator[socket.socket]:
    """A plain (blocking) listening socket on an ephemeral port, closed afterwards."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.bind((host, 0))
        sock.listen(backlog)
        yield sock
    finally:
        sock.close()


def closed_port(host: str = "127.0.0.1") -> int:
    """A TCP port on ``host`` that nothing listens on (bound then released)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
    return port


async def connect_to_raw_peer(
    loop: Loop,
    protocol: asyncio.BaseProtocol,
    listener: socket.socket,
) -> tuple[asyncio.Transport, socket.socket]:
    """Connect ``protocol`` to ``listener`` through the loop; return (transport, peer).

    The peer is a plain socket the test reads and writes by hand: that is how
    "a peer that doesn't read" or "a peer that resets" is made exactly.
    """
    host, port = listener.getsockname()[:2]
    transport, _ = await loop.create_connection(lambda: protocol, host, port)
    peer, _ = listener.accept()  # the handshake is done: this does not block
    return transport, peer


def reset(sock: socket.socket) -> None:
    """Close with SO_LINGER 0: the peer gets an RST, not a FIN."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def recv_all(sock: socket.socket, timeout: float = WAIT) -> bytes:
    """Read a blocking socket until EOF (bounded by ``timeout``)."""
    sock.settimeout(timeout)
    chunks: list[bytes] = []
    while True:
        chunk = sock.recv(1 << 20)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


async def recv_exactly(loop: Loop, sock: socket.socket, size: int) -> bytes:
    """Read ``size`` bytes from a plain socket in a thread (the loop keeps running)."""

    def read() -> bytes:
        sock.settimeout(WAIT)
        chunks = bytearray()
        while len(chunks) < size:
            chunk = sock.recv(min(1 << 20, size - len(chunks)))
            if not chunk:
                break
            chunks += chunk
        return bytes(chunks)

    return await loop.run_in_executor(None, read)


async def recv_until_eof(loop: Loop, sock: socket.socket) -> bytes:
    """Read a plain socket to EOF in a thread, so the loop can keep writing meanwhile."""
    return await loop.run_in_executor(None, recv_all, sock)
