"""``loop.sendfile`` (over a transport) and ``loop.sock_sendfile`` (over a bare socket).

The promises checked: the peer gets exactly ``file[offset:offset+count]``,
the return value is the number of bytes sent, the file position ends just
after them, a file without a descriptor still works through the fallback (or
raises ``SendfileNotAvailableError`` when the fallback is off), and the
transport is the same after sendfile as before -- reading state, write limits,
protocol -- so the conversation can carry on.
"""

from __future__ import annotations

import asyncio
import io
import os
import socket
import ssl
import sys
import tempfile
from collections.abc import Iterator
from typing import IO, Any

import pytest
from transport_kit import (
    WAIT,
    BufferedRecorder,
    Loop,
    Recorder,
    connect_to_raw_peer,
    payload,
    recv_exactly,
    recv_until_eof,
    tcp_listener,
)

SIZE = 3 * 1024 * 1024 + 123  # several socket buffers, and not a round number

UVLOOP_NO_SENDFILE = "uvloop's transports don't support loop.sendfile (RuntimeError)"
UVLOOP_NO_SOCK_SENDFILE = "uvloop's sock_sendfile raises NotImplementedError"


@pytest.fixture(scope="module")
def content() -> bytes:
    return payload(SIZE)


@pytest.fixture
def datafile(content: bytes) -> Iterator[IO[bytes]]:
    with tempfile.TemporaryFile() as f:
        f.write(content)
        f.seek(0)
        yield f


@pytest.fixture
def sock_pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    """A connected TCP pair: (ours, non-blocking, for sock_sendfile; the peer, blocking)."""
    with tcp_listener() as listener:
        ours = socket.create_connection(listener.getsockname())
        peer, _ = listener.accept()
    ours.setblocking(False)
    try:
        yield ours, peer
    finally:
        ours.close()
        peer.close()


# -- loop.sendfile over a transport -------------------------------------------------------


@pytest.mark.skip_loop("uvloop", reason=UVLOOP_NO_SENDFILE)
def test_sendfile_sends_the_whole_file(loop: Loop, datafile: IO[bytes], content: bytes) -> None:
    async def main() -> None:
        with tcp_listener() as listener:
            transport, peer = await connect_to_raw_peer(loop, asyncio.Protocol(), listener)
            with peer:
                receiving = asyncio.ensure_future(recv_exactly(loop, peer, SIZE))
                sent = await asyncio.wait_for(loop.sendfile(transport, datafile), WAIT)
                assert sent == SIZE
                assert await receiving == content
                assert datafile.tell() == SIZE
                transport.close()

    loop.run_until_complete(main())


@pytest.mark.skip_loop("uvloop", reason=UVLOOP_NO_SENDFILE)
def test_sendfile_offset_and_count_send_that_slice(
    loop: Loop, datafile: IO[bytes], content: bytes
) -> None:
    offset, count = 1000, 2 * 1024 * 1024

    async def main() -> None:
        with tcp_listener() as listener:
            transport, peer = await connect_to_raw_peer(loop, asyncio.Protocol(), listener)
            with peer:
                receiving = asyncio.ensure_future(recv_exactly(loop, peer, count))
                sent = await loop.sendfile(transport, datafile, offset, count)
                assert sent == count
                assert await receiving == content[offset : offset + count]
                assert datafile.tell() == offset + count
                transport.close()

    loop.run_until_complete(main())


@pytest.mark.skip_loop("uvloop", reason=UVLOOP_NO_SENDFILE)
def test_sendfile_count_beyond_the_end_stops_at_the_end(
    loop: Loop, datafile: IO[bytes], content: bytes
) -> None:
    offset = SIZE - 5000

    async def main() -> None:
        with tcp_listener() as listener:
            transport, peer = await connect_to_raw_peer(loop, asyncio.Protocol(), listener)
            with peer:
                sent = await loop.sendfile(transport, datafile, offset, 10 * SIZE)
                assert sent == 5000
                transport.close()
                assert await recv_until_eof(loop, peer) == content[offset:]
                assert datafile.tell() == SIZE

    loop.run_until_complete(main())


@pytest.mark.skip_loop("uvloop", reason=UVLOOP_NO_SENDFILE)
def test_sendfile_of_an_empty_file_sends_nothing(loop: Loop) -> None:
    async def main() -> None:
        with tcp_listener() as listener, tempfile.TemporaryFile() as empty:
            transport, peer = await connect_to_raw_peer(loop, asyncio.Protocol(), listener)
            with peer:
                assert await loop.sendfile(transport, empty) == 0
                transport.close()
                assert await recv_until_eof(loop, peer) == b""

    loop.run_until_complete(main())


@pytest.mark.skip_loop("uvloop", reason=UVLOOP_NO_SENDFILE)
def test_sendfile_keeps_order_with_writes_before_and_after(
    loop: Loop, datafile: IO[bytes], content: bytes
) -> None:
    """What was written before goes first (even if still buffered); the transport works after."""
    header, trailer = payload(6 * 1024 * 1024), b"--trailer--"

    async def main() -> None:
        with tcp_listener() as listener:
            proto = Recorder(loop)
            transport, peer = await connect_to_raw_peer(loop, proto, listener)
            with peer:
                transport.write(header)
                assert transport.get_write_buffer_size() > 0  # the peer hasn't read yet
                receiving = asyncio.ensure_future(recv_until_eof(loop, peer))
                assert await loop.sendfile(transport, datafile) == SIZE
                transport.write(trailer)
                transport.close()
                assert await receiving == header + content + trailer
                assert await asyncio.wait_for(proto.lost, WAIT) is None

    loop.run_until_complete(main())


@pytest.mark.skip_loop("uvloop", reason=UVLOOP_NO_SENDFILE)
def test_sendfile_reads_what_arrived_meanwhile_afterwards(
    loop: Loop, datafile: IO[bytes], content: bytes
) -> None:
    async def main() -> None:
        with tcp_listener() as listener:
            proto = Recorder(loop)
            transport, peer = await connect_to_raw_peer(loop, proto, listener)
            with peer:
                peer.sendall(b"sent by the peer during sendfile")
                receiving = asyncio.ensure_future(recv_exactly(loop, peer, SIZE))
                await loop.sendfile(transport, datafile)
                assert await receiving == content
                assert transport.is_reading()
                assert await proto.received(32) == b"sent by the peer during sendfile"
                transport.close()

    loop.run_until_complete(main())


@pytest.mark.skip_loop("uvloop", reason=UVLOOP_NO_SENDFILE)
def test_sendfile_leaves_paused_reading_paused(loop: Loop, datafile: IO[bytes]) -> None:
    async def main() -> None:
        with tcp_listener() as listener:
            proto = Recorder(loop)
            transport, peer = await connect_to_raw_peer(loop, proto, listener)
            with peer:
                transport.pause_reading()
                peer.sendall(b"not yet")
                receiving = asyncio.ensure_future(recv_exactly(loop, peer, SIZE))
                await loop.sendfile(transport, datafile)
                await receiving
                assert not transport.is_reading()
                await asyncio.sleep(0.02)
                assert proto.data == b""  # the user paused reading; sendfile must not resume it
                transport.resume_reading()
                assert await proto.received(7) == b"not yet"
                transport.close()

    loop.run_until_complete(main())


@pytest.mark.skip_loop("uvloop", reason=UVLOOP_NO_SENDFILE)
def test_sendfile_leaves_the_write_buffer_limits_alone(loop: Loop, datafile: IO[bytes]) -> None:
    async def main() -> None:
        with tcp_listener() as listener:
            transport, peer = await connect_to_raw_peer(loop, asyncio.Protocol(), listener)
            with peer:
                transport.set_write_buffer_limits(high=1 << 20, low=1 << 10)
                transport.write(payload(6 * 1024 * 1024))  # buffered: sendfile must flush it
                receiving = asyncio.ensure_future(recv_exactly(loop, peer, 6 * 1024 * 1024 + SIZE))
                await loop.sendfile(transport, datafile)
                await receiving
                assert transport.get_write_buffer_limits() == (1 << 10, 1 << 20)
                transport.close()

    loop.run_until_complete(main())


@pytest.mark.skip_loop("uvloop", reason=UVLOOP_NO_SENDFILE)
def test_sendfile_falls_back_for_a_file_without_a_descriptor(loop: Loop, content: bytes) -> None:
    async def main() -> None:
        with tcp_listener() as listener:
            transport, peer = await connect_to_raw_peer(loop, asyncio.Protocol(), listener)
            with peer:
                memfile = io.BytesIO(content)
                receiving = asyncio.ensure_future(recv_exactly(loop, peer, SIZE - 10))
                assert await loop.sendfile(transport, memfile, 10) == SIZE - 10
                assert await receiving == content[10:]
                assert memfile.tell() == SIZE
                transport.close()

    loop.run_until_complete(main())


@pytest.mark.skip_loop("uvloop", reason=UVLOOP_NO_SENDFILE)
def test_sendfile_fallback_keeps_a_buffered_protocol_working(loop: Loop, content: bytes) -> None:
    """Data arriving while the fallback copies must reach the BufferedProtocol afterwards."""

    async def main() -> None:
        with tcp_listener() as listener:
            proto = BufferedRecorder(loop)
            transport, peer = await connect_to_raw_peer(loop, proto, listener)
            with peer:
                peer.sendall(b"arrives during sendfile")
                receiving = asyncio.ensure_future(recv_exactly(loop, peer, SIZE))
                await loop.sendfile(transport, io.BytesIO(content))
                assert await receiving == content
                for _ in range(200):
                    if len(proto.data) >= 23 or proto.lost.done():
                        break
                    await asyncio.sleep(0.005)
                assert bytes(proto.data) == b"arrives during sendfile"
                assert not transport.is_closing()
                transport.close()

    loop.run_until_complete(main())


@pytest.mark.skip_loop("uvloop", reason=UVLOOP_NO_SENDFILE)
def test_sendfile_without_fallback_on_a_file_without_a_descriptor_raises(
    loop: Loop, content: bytes
) -> None:
    async def main() -> None:
        with tcp_listener() as listener:
            transport, peer = await connect_to_raw_peer(loop, asyncio.Protocol(), listener)
            with peer:
                with pytest.raises(asyncio.SendfileNotAvailableError):
                    await loop.sendfile(transport, io.BytesIO(content), fallback=False)
                transport.write(b"still usable")
                assert await recv_exactly(loop, peer, 12) == b"still usable"
                transport.close()

    loop.run_until_complete(main())


@pytest.mark.skip_loop("uvloop", reason=UVLOOP_NO_SENDFILE)
def test_sendfile_argument_errors(loop: Loop, datafile: IO[bytes]) -> None:
    async def main() -> None:
        with tcp_listener() as listener:
            transport, peer = await connect_to_raw_peer(loop, asyncio.Protocol(), listener)
            with peer, tempfile.TemporaryFile("w+") as textfile:
                with pytest.raises(ValueError):
                    await loop.sendfile(transport, textfile)  # type: ignore[arg-type]
                for count in (0, -1):
                    with pytest.raises(ValueError):
                        await loop.sendfile(transport, datafile, 0, count)
                with pytest.raises(TypeError):
                    await loop.sendfile(transport, datafile, 0, "1")  # type: ignore[arg-type]
                with pytest.raises(ValueError):
                    await loop.sendfile(transport, datafile, -1)
                with pytest.raises(TypeError):
                    await loop.sendfile(transport, datafile, 1.5)  # type: ignore[arg-type]
                assert datafile.tell() == 0
                transport.close()
                with pytest.raises(RuntimeError):
                    await loop.sendfile(transport, datafile)  # closing

    loop.run_until_complete(main())


def test_sendfile_on_a_datagram_transport_is_refused(loop: Loop, datafile: IO[bytes]) -> None:
    async def main() -> None:
        transport, _ = await loop.create_datagram_endpoint(
            asyncio.DatagramProtocol, local_addr=("127.0.0.1", 0)
        )
        with pytest.raises((RuntimeError, NotImplementedError)):
            await loop.sendfile(transport, datafile)  # type: ignore[arg-type]
        transport.close()

    loop.run_until_complete(main())


@pytest.mark.skip_loop("uvloop", reason=UVLOOP_NO_SENDFILE)
def test_write_during_sendfile_is_refused(loop: Loop) -> None:
    big = payload(16 * 1024 * 1024)  # more than the socket buffers: sendfile must wait

    async def main() -> None:
        with tcp_listener() as listener, tempfile.TemporaryFile() as f:
            f.write(big)
            f.seek(0)
            transport, peer = await connect_to_raw_peer(loop, asyncio.Protocol(), listener)
            with peer:
                sending = asyncio.ensure_future(loop.sendfile(transport, f))
                for _ in range(10):  # the peer doesn't read yet: sendfile is stuck midway
                    await asyncio.sleep(0)
                assert not sending.done()
                with pytest.raises(RuntimeError):
                    transport.write(b"interleaved")
                assert await recv_exactly(loop, peer, len(big)) == big
                assert await asyncio.wait_for(sending, WAIT) == len(big)
                transport.write(b"after")  # fine again
                assert await recv_exactly(loop, peer, 5) == b"after"
                transport.close()

    loop.run_until_complete(main())


@pytest.mark.skip_loop("uvloop", reason=UVLOOP_NO_SENDFILE)
def test_other_tasks_run_between_the_chunks_of_a_native_sendfile(
    loop: Loop, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fast peer must not let one sendfile keep the loop to itself.

    Each os.sendfile call here sends at most 16 KiB (as a socket whose buffer
    drains as fast as it fills would), so no call ever has to wait: between
    calls, the loop must still let a ticking task run.
    """
    chunk, chunks = 16 * 1024, 32
    content = payload(chunk * chunks)
    real_sendfile = os.sendfile
    ticks = 0
    ticks_at_call: list[int] = []

    def small_sendfile(out_fd: int, in_fd: int, offset: int | None, count: int) -> int:
        ticks_at_call.append(ticks)
        return real_sendfile(out_fd, in_fd, offset, min(count, chunk))

    monkeypatch.setattr(os, "sendfile", small_sendfile)

    async def tick() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    async def main() -> None:
        with tcp_listener() as listener, tempfile.TemporaryFile() as f:
            f.write(content)
            f.seek(0)
            transport, peer = await connect_to_raw_peer(loop, asyncio.Protocol(), listener)
            with peer:
                receiving = asyncio.ensure_future(recv_exactly(loop, peer, len(content)))
                ticker = asyncio.ensure_future(tick())
                await asyncio.sleep(0)
                assert await asyncio.wait_for(loop.sendfile(transport, f), WAIT) == len(content)
                ticker.cancel()
                assert await receiving == content
                transport.close()
        sends = ticks_at_call
        assert len(sends) >= chunks
        stalls = [i for i in range(1, len(sends)) if sends[i] == sends[i - 1]]
        assert stalls == [], f"no other task ran between sendfile calls {stalls}"

    loop.run_until_complete(main())


@pytest.mark.skip_loop("uvloop", reason=UVLOOP_NO_SENDFILE)
def test_write_eof_during_sendfile_half_closes_and_fails_the_sendfile(loop: Loop) -> None:
    """asyncio's contract: write_eof is not refused mid-sendfile (write and writelines are).

    The write side shuts down at once, so the rest of the file can't go: the
    sendfile fails with a broken pipe, and the file position says how much
    went -- exactly what the peer gets before its EOF.
    """
    big = payload(16 * 1024 * 1024)
    # asyncio 3.12+ names writelines in its refusal; 3.11 goes through write().
    method = "writelines" if sys.version_info >= (3, 12) else "write"

    async def main() -> None:
        with tcp_listener() as listener, tempfile.TemporaryFile() as f:
            f.write(big)
            f.seek(0)
            transport, peer = await connect_to_raw_peer(loop, asyncio.Protocol(), listener)
            with peer:
                sending = asyncio.ensure_future(loop.sendfile(transport, f))
                for _ in range(10):  # the peer doesn't read yet: sendfile is stuck midway
                    await asyncio.sleep(0)
                assert not sending.done()
                with pytest.raises(RuntimeError, match="unable to write; sendfile is in progress"):
                    transport.write(b"x")
                with pytest.raises(
                    RuntimeError, match=f"unable to {method}; sendfile is in progress"
                ):
                    transport.writelines([b"x"])
                transport.write_eof()
                received = await recv_until_eof(loop, peer)
                with pytest.raises(ConnectionError):
                    await asyncio.wait_for(sending, WAIT)
                assert 0 < len(received) < len(big)
                assert received == big[: len(received)]
                assert f.tell() == len(received)
                with pytest.raises(
                    RuntimeError, match=rf"Cannot call {method}\(\) after write_eof"
                ):
                    transport.writelines([b"x"])
                transport.close()

    loop.run_until_complete(main())


@pytest.mark.skip_loop("uvloop", reason=UVLOOP_NO_SENDFILE)
@pytest.mark.skip_loop(
    "asyncio",
    reason="asyncio's native sendfile waits forever for writability on a transport "
    "closed or aborted meanwhile",
)
@pytest.mark.parametrize("ending", ["close", "abort"])
def test_ending_the_transport_during_sendfile_fails_it(loop: Loop, ending: str) -> None:
    big = payload(32 * 1024 * 1024)

    async def main() -> None:
        with tcp_listener() as listener, tempfile.TemporaryFile() as f:
            f.write(big)
            f.seek(0)
            proto = Recorder(loop)
            transport, peer = await connect_to_raw_peer(loop, proto, listener)
            with peer:
                sending = asyncio.ensure_future(loop.sendfile(transport, f))
                for _ in range(10):  # the peer doesn't read: sendfile waits midway
                    await asyncio.sleep(0)
                assert not sending.done()
                getattr(transport, ending)()
                with pytest.raises(ConnectionError):
                    await asyncio.wait_for(sending, WAIT)
                assert await asyncio.wait_for(proto.lost, WAIT) is None
                assert proto.events == ["made", "lost"]
                assert 0 < f.tell() < len(big)  # the position says how much went
            # The loop is still sound: a new connection (likely on the same fd
            # number) gets its events.
            again = Recorder(loop)
            transport, peer = await connect_to_raw_peer(loop, again, listener)
            with peer:
                peer.sendall(b"fresh")
                assert await again.received(5) == b"fresh"
                transport.close()

    loop.run_until_complete(main())


@pytest.mark.skip_loop("uvloop", reason=UVLOOP_NO_SENDFILE)
@pytest.mark.parametrize("fallback", [True, False])
def test_sendfile_on_a_pipe_transport_is_refused_even_with_fallback(
    loop: Loop, datafile: IO[bytes], fallback: bool
) -> None:
    """asyncio allows sendfile only on transports that say so; a pipe's doesn't."""

    async def main() -> None:
        read_fd, write_fd = os.pipe()
        with open(read_fd, "rb", buffering=0) as reader:
            transport, _ = await loop.connect_write_pipe(
                asyncio.Protocol, open(write_fd, "wb", buffering=0)
            )
            with pytest.raises(RuntimeError, match="sendfile is not supported for transport"):
                await loop.sendfile(transport, datafile, fallback=fallback)
            assert datafile.tell() == 0
            transport.close()
            await asyncio.sleep(0)
            assert reader.read() == b""  # nothing was written

    loop.run_until_complete(main())


# -- loop.sock_sendfile over a bare socket ------------------------------------------------


@pytest.mark.skip_loop("uvloop", reason=UVLOOP_NO_SOCK_SENDFILE)
def test_sock_sendfile_sends_the_whole_file(
    loop: Loop, sock_pair: tuple[socket.socket, socket.socket], datafile: IO[bytes], content: bytes
) -> None:
    ours, peer = sock_pair

    async def main() -> None:
        receiving = asyncio.ensure_future(recv_exactly(loop, peer, SIZE))
        assert await asyncio.wait_for(loop.sock_sendfile(ours, datafile), WAIT) == SIZE
        assert await receiving == content
        assert datafile.tell() == SIZE

    loop.run_until_complete(main())


@pytest.mark.skip_loop("uvloop", reason=UVLOOP_NO_SOCK_SENDFILE)
def test_sock_sendfile_offset_and_count(
    loop: Loop, sock_pair: tuple[socket.socket, socket.socket], datafile: IO[bytes], content: bytes
) -> None:
    ours, peer = sock_pair

    async def main() -> None:
        receiving = asyncio.ensure_future(recv_exactly(loop, peer, 100_000))
        assert await loop.sock_sendfile(ours, datafile, 5, 100_000) == 100_000
        assert await receiving == content[5:100_005]
        assert datafile.tell() == 100_005

    loop.run_until_complete(main())


@pytest.mark.skip_loop("uvloop", reason=UVLOOP_NO_SOCK_SENDFILE)
def test_sock_sendfile_falls_back_for_a_file_without_a_descriptor(
    loop: Loop, sock_pair: tuple[socket.socket, socket.socket], content: bytes
) -> None:
    ours, peer = sock_pair

    async def main() -> None:
        memfile = io.BytesIO(content)
        receiving = asyncio.ensure_future(recv_exactly(loop, peer, SIZE - 7))
        assert await loop.sock_sendfile(ours, memfile, 7) == SIZE - 7
        assert await receiving == content[7:]
        assert memfile.tell() == SIZE

    loop.run_until_complete(main())


@pytest.mark.skip_loop("uvloop", reason=UVLOOP_NO_SOCK_SENDFILE)
def test_sock_sendfile_without_fallback_raises_sendfile_not_available(
    loop: Loop, sock_pair: tuple[socket.socket, socket.socket], content: bytes
) -> None:
    ours, _ = sock_pair

    async def main() -> None:
        memfile = io.BytesIO(content)
        with pytest.raises(asyncio.SendfileNotAvailableError):
            await loop.sock_sendfile(ours, memfile, fallback=False)
        assert memfile.tell() == 0
        assert issubclass(asyncio.SendfileNotAvailableError, RuntimeError)

    loop.run_until_complete(main())


@pytest.mark.skip_loop("uvloop", reason=UVLOOP_NO_SOCK_SENDFILE)
def test_sock_sendfile_argument_errors(
    loop: Loop, sock_pair: tuple[socket.socket, socket.socket], datafile: IO[bytes]
) -> None:
    ours, _ = sock_pair

    async def main() -> None:
        bad_calls: list[tuple[type[Exception], Any, tuple[Any, ...]]] = [
            (ValueError, ours, (datafile, 0, 0)),
            (ValueError, ours, (datafile, -1)),
            (TypeError, ours, (datafile, 0, 1.5)),
            (TypeError, ours, (datafile, "0")),
        ]
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.setblocking(False)
            bad_calls.append((ValueError, udp, (datafile,)))
            with tempfile.TemporaryFile("w+") as textfile:
                bad_calls.append((ValueError, ours, (textfile,)))
                for error, sock, args in bad_calls:
                    with pytest.raises(error):
                        await loop.sock_sendfile(sock, *args)
        assert datafile.tell() == 0

    loop.run_until_complete(main())


@pytest.mark.skip_loop("uvloop", reason=UVLOOP_NO_SOCK_SENDFILE)
def test_sock_sendfile_refuses_an_ssl_socket(
    loop: Loop, sock_pair: tuple[socket.socket, socket.socket], datafile: IO[bytes]
) -> None:
    """The kernel would send the file as plaintext past the socket's TLS layer."""
    ours, peer = sock_pair
    context = ssl.create_default_context()
    tls_sock = context.wrap_socket(
        ours.dup(), server_hostname="localhost", do_handshake_on_connect=False
    )
    tls_sock.setblocking(False)
    peer.setblocking(False)

    async def main() -> None:
        with tls_sock:
            with pytest.raises(TypeError, match="Socket cannot be of type SSLSocket"):
                await loop.sock_sendfile(tls_sock, datafile)
        assert datafile.tell() == 0
        await asyncio.sleep(0.02)
        with pytest.raises(BlockingIOError):
            peer.recv(1)  # not a byte went out

    loop.run_until_complete(main())


@pytest.mark.skip_loop("uvloop", reason=UVLOOP_NO_SOCK_SENDFILE)
def test_sock_sendfile_to_a_closed_peer_raises_a_connection_error(
    loop: Loop, sock_pair: tuple[socket.socket, socket.socket], datafile: IO[bytes]
) -> None:
    ours, peer = sock_pair
    peer.close()

    async def main() -> None:
        with pytest.raises((ConnectionError, OSError)):
            for _ in range(50):  # the first sends may land in the buffer before the RST
                datafile.seek(0)
                await asyncio.wait_for(loop.sock_sendfile(ours, datafile), WAIT)

    loop.run_until_complete(main())


@pytest.mark.skip_loop("uvloop", reason=UVLOOP_NO_SOCK_SENDFILE)
def test_sendfile_uses_a_real_file_descriptor_path(loop: Loop, tmp_path: Any) -> None:
    """A named file opened in binary mode, like a web server's static file."""
    path = os.path.join(str(tmp_path), "static.bin")
    with open(path, "wb") as f:
        f.write(b"static content\n" * 1000)

    async def main() -> None:
        with tcp_listener() as listener:
            ours = socket.create_connection(listener.getsockname())
            peer, _ = listener.accept()
            with ours, peer, open(path, "rb") as f:
                ours.setblocking(False)
                assert await loop.sock_sendfile(ours, f) == 15000
                ours.shutdown(socket.SHUT_WR)
                assert await recv_until_eof(loop, peer) == b"static content\n" * 1000

    loop.run_until_complete(main())
