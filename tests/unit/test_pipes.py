"""``connect_read_pipe`` / ``connect_write_pipe``: bytes, EOF, flow control, endings.

Each test wires a protocol to one end of an ``os.pipe()`` (or a pty, or a
socket) and drives the other end by hand, so what the protocol sees is exactly
what the transport did.
"""

from __future__ import annotations

import asyncio
import os
import socket
import tempfile
from collections.abc import Iterator
from typing import Any

import pytest

Loop = asyncio.AbstractEventLoop


class Recorder(asyncio.Protocol):
    """Records every callback, in order; ``done`` resolves at connection_lost."""

    def __init__(self, loop: Loop, eof_keeps_open: bool = False) -> None:
        self.events: list[str] = []
        self.data = bytearray()
        self.exc: BaseException | None = None
        self.transport: Any = None
        self.done: asyncio.Future[None] = loop.create_future()
        self.eof_keeps_open = eof_keeps_open

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        self.events.append("made")

    def data_received(self, data: bytes) -> None:
        self.data += data
        if not self.events or self.events[-1] != "data":
            self.events.append("data")

    def eof_received(self) -> bool:
        self.events.append("eof")
        return self.eof_keeps_open

    def pause_writing(self) -> None:
        self.events.append("pause")

    def resume_writing(self) -> None:
        self.events.append("resume")

    def connection_lost(self, exc: BaseException | None) -> None:
        self.events.append("lost")
        self.exc = exc
        self.done.set_result(None)


class Pipe:
    """An ``os.pipe()`` whose ends are closed exactly once, by whoever owns them.

    An end handed to a transport (as a file object) is the transport's to
    close; closing its number again later could close an unrelated fd that
    reused it (the loop's epoll fd, say).
    """

    def __init__(self) -> None:
        self.r, self.w = os.pipe()
        self._ours = {self.r, self.w}

    def reader(self) -> Any:
        self._ours.discard(self.r)
        return open(self.r, "rb", buffering=0)

    def writer(self) -> Any:
        self._ours.discard(self.w)
        return open(self.w, "wb", buffering=0)

    def close_r(self) -> None:
        self._ours.discard(self.r)
        os.close(self.r)

    def close_w(self) -> None:
        self._ours.discard(self.w)
        os.close(self.w)

    def close(self) -> None:
        for fd in self._ours:
            os.close(fd)
        self._ours.clear()


@pytest.fixture
def pipe() -> Iterator[Pipe]:
    p = Pipe()
    try:
        yield p
    finally:
        p.close()


def drain(fd: int) -> bytes:
    os.set_blocking(fd, False)
    chunks = []
    while True:
        try:
            chunk = os.read(fd, 1 << 16)
        except BlockingIOError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


UVLOOP_DUPLEX = (
    "uvloop's write pipe is a duplex stream: the reader going away arrives as "
    "eof_received() first, and write() after the loss raises"
)


# -- reading ----------------------------------------------------------------------


def test_read_pipe_delivers_data_then_eof_then_lost(loop: Loop, pipe: Pipe) -> None:
    rfile = pipe.reader()

    async def main() -> Recorder:
        proto = Recorder(loop)
        transport, got = await loop.connect_read_pipe(lambda: proto, rfile)
        assert got is proto and proto.transport is transport
        assert proto.events == ["made"]  # connection_made has run by now
        assert transport.get_extra_info("pipe") is rfile
        os.write(pipe.w, b"hello ")
        await asyncio.sleep(0.01)
        os.write(pipe.w, b"world")
        pipe.close_w()
        await asyncio.wait_for(proto.done, 5)
        return proto

    proto = loop.run_until_complete(main())
    assert bytes(proto.data) == b"hello world"
    assert proto.events == ["made", "data", "eof", "lost"]
    assert proto.exc is None
    assert rfile.closed  # the transport owns the pipe object


@pytest.mark.skip_loop(
    "uvloop", reason="uvloop keeps a read pipe open when eof_received() returns True"
)
def test_read_pipe_closes_at_eof_even_if_the_protocol_wants_to_stay_open(
    loop: Loop, pipe: Pipe
) -> None:
    """A read pipe has no write side to keep: eof_received's answer cannot matter."""

    async def main() -> Recorder:
        proto = Recorder(loop, eof_keeps_open=True)
        await loop.connect_read_pipe(lambda: proto, pipe.reader())
        pipe.close_w()
        await asyncio.wait_for(proto.done, 5)
        return proto

    assert loop.run_until_complete(main()).events == ["made", "eof", "lost"]


def test_read_pipe_with_a_stream_reader(loop: Loop, pipe: Pipe) -> None:
    async def main() -> list[bytes]:
        reader = asyncio.StreamReader()
        transport, _ = await loop.connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(reader), pipe.reader()
        )
        os.write(pipe.w, b"line one\nline two\n")
        pipe.close_w()
        lines = [line async for line in reader]
        transport.close()  # uvloop keeps it open after EOF (see above); the others are done
        await asyncio.sleep(0)
        return lines

    assert loop.run_until_complete(main()) == [b"line one\n", b"line two\n"]


def test_paused_read_pipe_delivers_nothing_until_resumed(loop: Loop, pipe: Pipe) -> None:

    async def main() -> None:
        proto = Recorder(loop)
        transport, _ = await loop.connect_read_pipe(lambda: proto, pipe.reader())
        assert transport.is_reading()
        transport.pause_reading()
        transport.pause_reading()  # idempotent
        assert not transport.is_reading()
        os.write(pipe.w, b"held back")
        await asyncio.sleep(0.02)
        assert proto.data == b""
        transport.resume_reading()
        assert transport.is_reading()
        for _ in range(100):
            if proto.data:
                break
            await asyncio.sleep(0.005)
        assert proto.data == b"held back"
        transport.close()
        assert not transport.is_reading()
        await proto.done

    loop.run_until_complete(main())


@pytest.mark.skip_loop(
    "uvloop", reason="uvloop refuses add_*/remove_* on a pipe transport's fd, as on a socket's"
)
def test_a_pipe_transports_fd_is_not_guarded_like_a_sockets(loop: Loop, pipe: Pipe) -> None:
    """asyncio refuses add_reader & co. only on socket transports' fds; pipes' are free."""

    async def main() -> None:
        proto = Recorder(loop)
        transport, _ = await loop.connect_read_pipe(lambda: proto, pipe.reader())
        assert loop.remove_writer(pipe.r) is False  # nothing watches it for writing
        os.write(pipe.w, b"still reading")
        for _ in range(2500):  # at most ~5 s
            if len(proto.data) >= 13:
                break
            await asyncio.sleep(0.002)
        assert bytes(proto.data) == b"still reading"
        transport.close()
        await asyncio.wait_for(proto.done, 5)

    loop.run_until_complete(main())


def test_a_socket_transports_fd_is_guarded(loop: Loop) -> None:
    async def main() -> None:
        ours, theirs = socket.socketpair()
        with theirs:
            transport, _ = await loop.connect_accepted_socket(asyncio.Protocol, ours)
            with pytest.raises(RuntimeError, match="is used by transport"):
                loop.remove_writer(ours.fileno())
            with pytest.raises(RuntimeError, match="is used by transport"):
                loop.add_reader(ours.fileno(), lambda: None)
            transport.close()

    loop.run_until_complete(main())


def test_closing_a_read_pipe(loop: Loop, pipe: Pipe) -> None:

    async def main() -> Recorder:
        proto = Recorder(loop)
        transport, _ = await loop.connect_read_pipe(lambda: proto, pipe.reader())
        transport.close()
        assert transport.is_closing()
        transport.close()  # twice is harmless
        await asyncio.wait_for(proto.done, 5)
        return proto

    proto = loop.run_until_complete(main())
    assert proto.events == ["made", "lost"] and proto.exc is None


# -- writing ----------------------------------------------------------------------


def test_write_pipe_writes_and_closes(loop: Loop, pipe: Pipe) -> None:
    wfile = pipe.writer()

    async def main() -> Recorder:
        proto = Recorder(loop)
        transport, _ = await loop.connect_write_pipe(lambda: proto, wfile)
        assert transport.get_extra_info("pipe") is wfile
        assert transport.can_write_eof()
        transport.write(b"abc")
        transport.writelines([b"d", bytearray(b"e"), memoryview(b"f")])
        assert transport.get_write_buffer_size() == 0  # a pipe takes small writes at once
        transport.close()
        assert transport.is_closing()
        await asyncio.wait_for(proto.done, 5)
        return proto

    proto = loop.run_until_complete(main())
    assert proto.events == ["made", "lost"] and proto.exc is None
    assert wfile.closed
    assert os.read(pipe.r, 100) == b"abcdef"
    assert os.read(pipe.r, 100) == b""  # the write end is closed: EOF


@pytest.mark.skip_loop(
    "uvloop", reason="uvloop half-closes a write pipe on write_eof() instead of closing it"
)
def test_write_eof_closes_a_write_pipe(loop: Loop, pipe: Pipe) -> None:

    async def main() -> Recorder:
        proto = Recorder(loop)
        transport, _ = await loop.connect_write_pipe(lambda: proto, pipe.writer())
        transport.write(b"last words")
        transport.write_eof()
        assert transport.is_closing()
        await asyncio.wait_for(proto.done, 5)
        return proto

    proto = loop.run_until_complete(main())
    assert proto.exc is None
    assert drain(pipe.r) == b"last words"


def test_write_buffer_flow_control(loop: Loop, pipe: Pipe) -> None:
    """Above the high-water mark the protocol is paused; drained to the low one, resumed."""

    async def main() -> tuple[Recorder, bytes]:
        proto = Recorder(loop)
        transport, _ = await loop.connect_write_pipe(lambda: proto, pipe.writer())
        transport.set_write_buffer_limits(high=4096, low=1024)
        assert transport.get_write_buffer_limits() == (1024, 4096)
        payload = os.urandom(1 << 20)  # far more than a pipe holds (64 KiB on Linux)
        transport.write(payload)
        assert transport.get_write_buffer_size() > 4096
        assert proto.events == ["made", "pause"]
        received = bytearray()
        reader_fd = pipe.r
        os.set_blocking(reader_fd, False)
        while len(received) < len(payload):
            try:
                received += os.read(reader_fd, 1 << 16)
            except BlockingIOError:
                pass
            await asyncio.sleep(0)
        assert transport.get_write_buffer_size() == 0
        transport.close()
        await asyncio.wait_for(proto.done, 5)
        assert bytes(received) == payload
        return proto, bytes(received)

    proto, _ = loop.run_until_complete(main())
    assert proto.events == ["made", "pause", "resume", "lost"]


def test_close_flushes_what_is_buffered_abort_drops_it(loop: Loop) -> None:
    async def one(abort: bool) -> tuple[Recorder, bytes]:
        r, w = os.pipe()
        try:
            proto = Recorder(loop)
            transport, _ = await loop.connect_write_pipe(lambda: proto, open(w, "wb", buffering=0))
            payload = b"x" * (1 << 18)
            transport.write(payload)
            assert transport.get_write_buffer_size() > 0
            if abort:
                transport.abort()
            else:
                transport.close()
            received = bytearray()
            os.set_blocking(r, False)
            while True:
                try:
                    chunk = os.read(r, 1 << 16)
                except BlockingIOError:
                    await asyncio.sleep(0)
                    continue
                if not chunk:
                    break  # EOF: the transport has closed the write end
                received += chunk
            await asyncio.wait_for(proto.done, 5)
            return proto, bytes(received)
        finally:
            os.close(r)

    proto, received = loop.run_until_complete(one(abort=False))
    assert len(received) == 1 << 18 and proto.exc is None
    proto, received = loop.run_until_complete(one(abort=True))
    assert len(received) < 1 << 18 and proto.exc is None


@pytest.mark.skip_loop("uvloop", reason=UVLOOP_DUPLEX)
def test_reader_going_away_is_connection_lost(loop: Loop, pipe: Pipe) -> None:
    """With nothing buffered, the peer closing is a clean end, noticed without writing."""

    async def main() -> Recorder:
        proto = Recorder(loop)
        await loop.connect_write_pipe(lambda: proto, pipe.writer())
        pipe.close_r()
        await asyncio.wait_for(proto.done, 5)
        return proto

    proto = loop.run_until_complete(main())
    assert proto.events == ["made", "lost"] and proto.exc is None


@pytest.mark.skip_loop("uvloop", reason=UVLOOP_DUPLEX)
def test_reader_going_away_with_data_buffered_is_a_broken_pipe(loop: Loop, pipe: Pipe) -> None:

    async def main() -> Recorder:
        proto = Recorder(loop)
        transport, _ = await loop.connect_write_pipe(lambda: proto, pipe.writer())
        transport.write(b"x" * (1 << 18))
        assert transport.get_write_buffer_size() > 0
        pipe.close_r()
        await asyncio.wait_for(proto.done, 5)
        transport.write(b"into the void")  # after the loss: dropped, no exception
        return proto

    proto = loop.run_until_complete(main())
    assert isinstance(proto.exc, BrokenPipeError)


@pytest.mark.skip_loop("uvloop", reason=UVLOOP_DUPLEX)
def test_write_pipe_over_a_socket_notices_the_peer_closing(loop: Loop) -> None:
    rsock, wsock = socket.socketpair()

    async def main() -> Recorder:
        proto = Recorder(loop)
        transport, _ = await loop.connect_write_pipe(
            lambda: proto, open(wsock.detach(), "wb", buffering=0)
        )
        transport.write(b"1")
        assert rsock.recv(10) == b"1"
        rsock.close()
        await asyncio.wait_for(proto.done, 5)
        return proto

    assert loop.run_until_complete(main()).events == ["made", "lost"]


@pytest.mark.skip_loop(
    "uvloop",
    reason="uvloop (libuv) does not deliver a raw pty slave's input to connect_read_pipe here",
)
def test_pty_both_ways(loop: Loop) -> None:
    """Character devices are pipes too (a terminal is the classic case)."""
    master, slave = os.openpty()

    async def main() -> tuple[bytes, bytes]:
        import tty

        tty.setraw(slave)
        read_proto = Recorder(loop)
        write_proto = Recorder(loop)
        rt, _ = await loop.connect_read_pipe(lambda: read_proto, open(slave, "rb", buffering=0))
        wt, _ = await loop.connect_write_pipe(
            lambda: write_proto, open(os.dup(slave), "wb", buffering=0)
        )
        wt.write(b"to the terminal")
        os.write(master, b"from the terminal")
        to_terminal = b""
        for _ in range(200):
            try:
                os.set_blocking(master, False)
                to_terminal += os.read(master, 100)
            except BlockingIOError:
                pass
            if len(to_terminal) >= 15 and len(read_proto.data) >= 17:
                break
            await asyncio.sleep(0.005)
        rt.close()
        wt.close()
        await asyncio.wait_for(asyncio.gather(read_proto.done, write_proto.done), 5)
        return to_terminal, bytes(read_proto.data)

    try:
        assert loop.run_until_complete(main()) == (b"to the terminal", b"from the terminal")
    finally:
        os.close(master)


# -- what is refused --------------------------------------------------------------


@pytest.mark.skip_loop("uvloop", reason="uvloop (libuv) aborts the whole process on a regular file")
def test_regular_files_are_refused(loop: Loop) -> None:
    """A regular file always polls ready: a transport over it would spin."""
    with tempfile.TemporaryFile() as f:
        with pytest.raises(ValueError):
            loop.run_until_complete(loop.connect_read_pipe(asyncio.Protocol, f))
        with pytest.raises(ValueError):
            loop.run_until_complete(loop.connect_write_pipe(asyncio.Protocol, f))
        assert not f.closed  # refused, so not taken over either
