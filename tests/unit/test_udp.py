"""UDP: ``create_datagram_endpoint`` and the datagram transport.

Loopback datagrams are never refused by the OS, so to see the transport's own
queue (and its flow control) at work, a few tests hand it a socket whose sends
can be made to fail with ``BlockingIOError`` -- exactly what a full send buffer
looks like to the transport.  uvloop moves datagrams in libuv, past any such
Python-level socket, so those tests don't apply to it.
"""

from __future__ import annotations

import asyncio
import gc
import os
import socket
import sys
import uuid
import warnings
import weakref
from collections.abc import Iterator
from typing import Any

import pytest
from transport_kit import WAIT, Loop, wait_until

UVLOOP_BYPASSES_SOCKET = "uvloop sends through libuv on the fd, not through the socket object"
ASYNCIO_3130 = sys.version_info[:3] == (3, 13, 0)
ASYNCIO_3130_COUNT = (
    "asyncio 3.13.0 counts 8 header bytes per queued datagram but uncounts only the "
    "data, so its buffer never drains to the low-water mark"
)


class DatagramRecorder(asyncio.DatagramProtocol):
    """Records datagrams, errors and flow-control calls; ``lost`` at connection_lost."""

    def __init__(self, loop: Loop) -> None:
        self.events: list[str] = []
        self.datagrams: list[tuple[bytes, Any]] = []
        self.errors: list[Exception] = []
        self.transport: Any = None
        self.lost: asyncio.Future[BaseException | None] = loop.create_future()

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        self.events.append("made")

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.datagrams.append((data, addr))

    def error_received(self, exc: Exception) -> None:
        self.errors.append(exc)

    def pause_writing(self) -> None:
        self.events.append("pause")

    def resume_writing(self) -> None:
        self.events.append("resume")

    def connection_lost(self, exc: BaseException | None) -> None:
        self.events.append("lost")
        if not self.lost.done():
            self.lost.set_result(exc)


class ChokingSocket(socket.socket):
    """A UDP socket whose sends fail with BlockingIOError while ``choked``."""

    choked = False

    def send(self, data: Any, flags: int = 0) -> int:
        if self.choked:
            raise BlockingIOError
        return super().send(data, flags)

    def sendto(self, data: Any, *args: Any) -> int:
        if self.choked:
            raise BlockingIOError
        return super().sendto(data, *args)


@pytest.fixture
def peer() -> Iterator[socket.socket]:
    """A plain UDP socket on loopback, for the endpoint under test to talk to."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(WAIT)
    try:
        yield sock
    finally:
        sock.close()


def closed_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def recv_in_thread(loop: Loop, sock: socket.socket) -> tuple[bytes, Any]:
    return await loop.run_in_executor(None, sock.recvfrom, 65536)


# -- creating endpoints -------------------------------------------------------------------


def test_local_addr_endpoint_receives_datagrams_with_their_source(
    loop: Loop, peer: socket.socket
) -> None:
    async def main() -> None:
        proto = DatagramRecorder(loop)
        transport, got = await loop.create_datagram_endpoint(
            lambda: proto, local_addr=("127.0.0.1", 0)
        )
        assert got is proto and proto.events == ["made"]
        sockname = transport.get_extra_info("sockname")
        assert sockname[0] == "127.0.0.1" and sockname[1] > 0
        assert transport.get_extra_info("peername") is None
        assert transport.get_extra_info("socket").type == socket.SOCK_DGRAM
        for data in (b"one", b"two" * 100, b"three" * 10000):
            peer.sendto(data, sockname)
        await wait_until(lambda: len(proto.datagrams) == 3)
        assert [d for d, _ in proto.datagrams] == [b"one", b"two" * 100, b"three" * 10000]
        assert {a for _, a in proto.datagrams} == {peer.getsockname()}
        transport.sendto(b"reply", peer.getsockname())
        assert await recv_in_thread(loop, peer) == (b"reply", sockname)
        transport.close()
        assert await asyncio.wait_for(proto.lost, WAIT) is None

    loop.run_until_complete(main())


def test_remote_addr_endpoint_is_connected(loop: Loop, peer: socket.socket) -> None:
    async def main() -> None:
        proto = DatagramRecorder(loop)
        transport, _ = await loop.create_datagram_endpoint(
            lambda: proto, remote_addr=peer.getsockname()
        )
        assert transport.get_extra_info("peername") == peer.getsockname()
        sockname = transport.get_extra_info("sockname")
        transport.sendto(b"no address")
        transport.sendto(b"its own address", peer.getsockname())
        assert await recv_in_thread(loop, peer) == (b"no address", sockname)
        assert await recv_in_thread(loop, peer) == (b"its own address", sockname)
        peer.sendto(b"back", sockname)
        await wait_until(lambda: bool(proto.datagrams))
        assert proto.datagrams == [(b"back", peer.getsockname())]
        with pytest.raises(ValueError):
            transport.sendto(b"elsewhere", ("127.0.0.1", closed_udp_port()))
        transport.close()
        await asyncio.wait_for(proto.lost, WAIT)

    loop.run_until_complete(main())


def test_local_and_remote_addr_together(loop: Loop, peer: socket.socket) -> None:
    async def main() -> None:
        transport, _ = await loop.create_datagram_endpoint(
            asyncio.DatagramProtocol,
            local_addr=("127.0.0.1", 0),
            remote_addr=peer.getsockname(),
        )
        transport.sendto(b"both")
        data, source = await recv_in_thread(loop, peer)
        assert data == b"both" and source == transport.get_extra_info("sockname")
        transport.close()

    loop.run_until_complete(main())


def test_remote_addr_may_be_a_host_name(loop: Loop, peer: socket.socket) -> None:
    async def main() -> None:
        port = peer.getsockname()[1]
        transport, _ = await loop.create_datagram_endpoint(
            asyncio.DatagramProtocol, remote_addr=("localhost", port), family=socket.AF_INET
        )
        transport.sendto(b"resolved")
        assert (await recv_in_thread(loop, peer))[0] == b"resolved"
        transport.close()

    loop.run_until_complete(main())


def test_unconnected_endpoint_sends_to_any_address(loop: Loop, peer: socket.socket) -> None:
    async def main() -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as other:
            other.bind(("127.0.0.1", 0))
            other.settimeout(WAIT)
            transport, _ = await loop.create_datagram_endpoint(
                asyncio.DatagramProtocol, local_addr=("127.0.0.1", 0)
            )
            transport.sendto(b"to peer", peer.getsockname())
            transport.sendto(b"to other", other.getsockname())
            assert (await recv_in_thread(loop, peer))[0] == b"to peer"
            assert (await recv_in_thread(loop, other))[0] == b"to other"
            transport.close()

    loop.run_until_complete(main())


def test_family_alone_makes_an_unbound_endpoint(loop: Loop, peer: socket.socket) -> None:
    async def main() -> None:
        proto = DatagramRecorder(loop)
        transport, _ = await loop.create_datagram_endpoint(lambda: proto, family=socket.AF_INET)
        assert transport.get_extra_info("socket").family == socket.AF_INET
        transport.sendto(b"first", peer.getsockname())  # binds to an ephemeral port
        data, source = await recv_in_thread(loop, peer)
        assert data == b"first"
        peer.sendto(b"answer", source)
        await wait_until(lambda: bool(proto.datagrams))
        assert proto.datagrams[0][0] == b"answer"
        transport.close()

    loop.run_until_complete(main())


def test_no_address_and_no_family_is_a_value_error(loop: Loop) -> None:
    async def main() -> None:
        with pytest.raises(ValueError):
            await loop.create_datagram_endpoint(asyncio.DatagramProtocol)

    loop.run_until_complete(main())


def test_endpoint_on_a_given_sock(loop: Loop, peer: socket.socket) -> None:
    async def main() -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind(("127.0.0.1", 0))
        proto = DatagramRecorder(loop)
        transport, _ = await loop.create_datagram_endpoint(lambda: proto, sock=sock)
        assert sock.gettimeout() == 0
        assert transport.get_extra_info("sockname") == sock.getsockname()
        peer.sendto(b"to the given sock", sock.getsockname())
        await wait_until(lambda: bool(proto.datagrams))
        assert proto.datagrams[0][0] == b"to the given sock"
        transport.close()
        await asyncio.wait_for(proto.lost, WAIT)
        assert sock.fileno() == -1  # the transport owned it

    loop.run_until_complete(main())


def test_sock_with_other_arguments_is_a_value_error(loop: Loop) -> None:
    async def main() -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            for kwargs in (
                {"local_addr": ("127.0.0.1", 0)},
                {"remote_addr": ("127.0.0.1", 9)},
                {"family": socket.AF_INET},
                {"reuse_port": True},
                {"allow_broadcast": True},
            ):
                with pytest.raises(ValueError):
                    await loop.create_datagram_endpoint(
                        asyncio.DatagramProtocol,
                        sock=sock,
                        **kwargs,
                    )

    loop.run_until_complete(main())


def test_a_stream_sock_is_a_value_error(loop: Loop) -> None:
    async def main() -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            with pytest.raises(ValueError):
                await loop.create_datagram_endpoint(asyncio.DatagramProtocol, sock=sock)

    loop.run_until_complete(main())


def test_bad_address_shapes_are_type_errors(loop: Loop) -> None:
    async def main() -> None:
        with pytest.raises(TypeError):
            await loop.create_datagram_endpoint(
                asyncio.DatagramProtocol,
                local_addr="127.0.0.1",
            )

    loop.run_until_complete(main())


def test_allow_broadcast_sets_so_broadcast(loop: Loop) -> None:
    async def main() -> None:
        transport, _ = await loop.create_datagram_endpoint(
            asyncio.DatagramProtocol, local_addr=("127.0.0.1", 0), allow_broadcast=True
        )
        sock = transport.get_extra_info("socket")
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST)
        transport.close()
        plain, _ = await loop.create_datagram_endpoint(
            asyncio.DatagramProtocol, local_addr=("127.0.0.1", 0)
        )
        assert not plain.get_extra_info("socket").getsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST)
        plain.close()

    loop.run_until_complete(main())


@pytest.mark.skipif(not hasattr(socket, "SO_REUSEPORT"), reason="no SO_REUSEPORT")
def test_reuse_port_lets_two_endpoints_share_a_port(loop: Loop) -> None:
    async def main() -> None:
        first, _ = await loop.create_datagram_endpoint(
            asyncio.DatagramProtocol, local_addr=("127.0.0.1", 0), reuse_port=True
        )
        port = first.get_extra_info("sockname")[1]
        second, _ = await loop.create_datagram_endpoint(
            asyncio.DatagramProtocol, local_addr=("127.0.0.1", port), reuse_port=True
        )
        assert second.get_extra_info("sockname")[1] == port
        with pytest.raises(OSError):
            await loop.create_datagram_endpoint(
                asyncio.DatagramProtocol, local_addr=("127.0.0.1", port)
            )
        first.close()
        second.close()

    loop.run_until_complete(main())


def test_reuse_address_true_is_refused(loop: Loop) -> None:
    """SO_REUSEADDR on UDP lets another process steal the port's datagrams.

    asyncio 3.11 removed the parameter (TypeError); uvloop keeps it and refuses True.
    """

    async def main() -> None:
        with pytest.raises((TypeError, ValueError)):
            await loop.create_datagram_endpoint(
                asyncio.DatagramProtocol,
                local_addr=("127.0.0.1", 0),
                reuse_address=True,  # type: ignore[call-arg,unused-ignore]
            )

    loop.run_until_complete(main())


@pytest.mark.skip_loop(
    "uvloop",
    reason="uvloop keeps the reuse_address parameter: None and False are accepted, "
    "True is a ValueError",
)
@pytest.mark.parametrize("value", [True, False, None])
def test_reuse_address_is_not_a_parameter_any_more(loop: Loop, value: bool | None) -> None:
    """asyncio 3.11 removed it: any value is an unexpected keyword argument."""

    async def main() -> None:
        with pytest.raises(TypeError, match="reuse_address"):
            await loop.create_datagram_endpoint(
                asyncio.DatagramProtocol,
                local_addr=("127.0.0.1", 0),
                reuse_address=value,  # type: ignore[call-arg,unused-ignore]
            )

    loop.run_until_complete(main())


@pytest.mark.skipif(not hasattr(socket, "AF_UNIX"), reason="no AF_UNIX")
@pytest.mark.skip_loop("uvloop", reason="uvloop wants a (host, port) local_addr even for AF_UNIX")
def test_unix_datagram_endpoint(loop: Loop) -> None:
    path = f"/tmp/gl-{uuid.uuid4().hex[:12]}.dgram"

    async def main() -> None:
        proto = DatagramRecorder(loop)
        transport, _ = await loop.create_datagram_endpoint(
            lambda: proto, local_addr=path, family=socket.AF_UNIX
        )
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sender:
            sender.sendto(b"over a path", path)
        await wait_until(lambda: bool(proto.datagrams))
        assert proto.datagrams[0][0] == b"over a path"
        transport.close()
        await asyncio.wait_for(proto.lost, WAIT)

    try:
        loop.run_until_complete(main())
    finally:
        if os.path.lexists(path):
            os.unlink(path)


@pytest.mark.skip_loop(
    "asyncio",
    reason="asyncio leaves the socket it made to the garbage collector (ResourceWarning) "
    "when protocol_factory raises",
)
@pytest.mark.skip_loop(
    "uvloop", reason="uvloop leaves an unclosed UDPTransport when protocol_factory raises"
)
def test_a_failing_protocol_factory_leaves_no_socket_behind(loop: Loop) -> None:
    def factory() -> asyncio.DatagramProtocol:
        raise ZeroDivisionError

    async def main() -> None:
        with pytest.raises(ZeroDivisionError):
            await loop.create_datagram_endpoint(factory, local_addr=("127.0.0.1", 0))

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        loop.run_until_complete(main())
        gc.collect()
    assert [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)] == []


# -- sending and errors -------------------------------------------------------------------


def test_sendto_rejects_non_bytes(loop: Loop, peer: socket.socket) -> None:
    async def main() -> None:
        transport, _ = await loop.create_datagram_endpoint(
            asyncio.DatagramProtocol, remote_addr=peer.getsockname()
        )
        for bad in ("text", 42, [b"list"]):
            with pytest.raises(TypeError):
                transport.sendto(bad)  # type: ignore[arg-type]
        transport.sendto(bytearray(b"ba"))
        transport.sendto(memoryview(b"mv"))
        assert (await recv_in_thread(loop, peer))[0] == b"ba"
        assert (await recv_in_thread(loop, peer))[0] == b"mv"
        transport.close()

    loop.run_until_complete(main())


@pytest.mark.skip_loop(
    "uvloop", reason="uvloop's sendto refuses a host name (ValueError: a DNS lookup is required)"
)
def test_each_of_several_peers_gets_its_own_replies(loop: Loop, peer: socket.socket) -> None:
    """Two peers take turns; every reply goes where it is addressed.

    The addresses are the tuple ``datagram_received`` got, an equal tuple made
    afresh, and one with a host name; the data bytes, a bytearray or a
    memoryview.  (The compiled build sends to the last peer it received from
    without parsing its address: this is what must not go astray.)
    """

    async def main() -> None:
        proto = DatagramRecorder(loop)
        transport, _ = await loop.create_datagram_endpoint(
            lambda: proto, local_addr=("127.0.0.1", 0)
        )
        sockname = transport.get_extra_info("sockname")
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as other:
            other.bind(("127.0.0.1", 0))
            other.settimeout(WAIT)
            senders = [peer, other, other, peer, other, peer]
            for i, sender in enumerate(senders):
                sender.sendto(b"%d" % i, sockname)
                await wait_until(lambda n=i + 1: len(proto.datagrams) == n)
                data, addr = proto.datagrams[-1]
                assert data == b"%d" % i and addr == sender.getsockname()
                replies = [
                    (b"as received " + data, addr),
                    (bytearray(b"afresh " + data), ("127.0.0.1", sender.getsockname()[1])),
                    (memoryview(b"by name " + data), ("localhost", sender.getsockname()[1])),
                ]
                for reply, to in replies:
                    transport.sendto(reply, to)
                for reply, _ in replies:
                    assert await recv_in_thread(loop, sender) == (bytes(reply), sockname)
            for sock in (peer, other):
                sock.setblocking(False)
                with pytest.raises(BlockingIOError):
                    sock.recvfrom(100)  # nothing went to the wrong peer
        transport.close()
        await asyncio.wait_for(proto.lost, WAIT)

    loop.run_until_complete(main())


AUDITED_SENDTO = """
import asyncio, socket, sys
audited = []
sys.addaudithook(lambda event, args: audited.append(args[1]) if event == "socket.sendto" else None)
if sys.argv[1] == "glassloop":
    import glassloop
    loop = glassloop.new_event_loop()
else:
    loop = asyncio.SelectorEventLoop()

class Echo(asyncio.DatagramProtocol):
    def connection_made(self, transport):
        self.transport = transport
    def datagram_received(self, data, addr):
        self.transport.sendto(data, addr)
        self.transport.sendto(data, ("127.0.0.1", addr[1]))

async def main():
    transport, _ = await loop.create_datagram_endpoint(Echo, local_addr=("127.0.0.1", 0))
    sockname = transport.get_extra_info("sockname")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as peer:
        peer.bind(("127.0.0.1", 0))
        peer.setblocking(False)
        for _ in range(2):
            await loop.sock_sendto(peer, b"ping", sockname)
            for _ in range(2):
                assert await loop.sock_recvfrom(peer, 100) == (b"ping", sockname)
        print(audited == [sockname, peer.getsockname(), peer.getsockname()] * 2, audited)
    transport.close()

loop.run_until_complete(main())
loop.close()
"""


@pytest.mark.skip_loop("uvloop", reason=UVLOOP_BYPASSES_SOCKET)
def test_sendto_raises_the_socket_sendto_audit_event(loop_name: str) -> None:
    """Audit hooks see each datagram sent to an address, as socket.sendto raises them."""
    import subprocess

    done = subprocess.run(
        [sys.executable, "-c", AUDITED_SENDTO, loop_name],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("True "), done.stdout


def test_port_unreachable_reaches_error_received_and_the_endpoint_lives(loop: Loop) -> None:
    async def main() -> None:
        proto = DatagramRecorder(loop)
        transport, _ = await loop.create_datagram_endpoint(
            lambda: proto, remote_addr=("127.0.0.1", closed_udp_port())
        )
        transport.sendto(b"anyone there?")
        # Linux reports the ICMP error on the next socket call; a second send
        # makes sure there is one even if the first got in before the ICMP.
        await asyncio.sleep(0.05)
        transport.sendto(b"hello?")
        await wait_until(lambda: bool(proto.errors))
        assert isinstance(proto.errors[0], ConnectionRefusedError)
        assert not transport.is_closing()
        assert proto.events == ["made"]
        transport.close()
        assert await asyncio.wait_for(proto.lost, WAIT) is None

    loop.run_until_complete(main())


@pytest.mark.skip_loop("uvloop", reason=UVLOOP_BYPASSES_SOCKET)
@pytest.mark.skip_loop("asyncio", reason=ASYNCIO_3130_COUNT, condition=ASYNCIO_3130)
def test_queued_datagrams_count_in_the_write_buffer_and_flow_control(
    loop: Loop, peer: socket.socket
) -> None:
    async def main() -> None:
        sock = ChokingSocket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind(("127.0.0.1", 0))
        proto = DatagramRecorder(loop)
        transport: Any
        transport, _ = await loop.create_datagram_endpoint(lambda: proto, sock=sock)
        assert transport.get_write_buffer_size() == 0
        transport.set_write_buffer_limits(high=2500, low=0)
        sock.choked = True
        for i in range(5):
            transport.sendto(bytes([i]) * 1000, peer.getsockname())
        assert transport.get_write_buffer_size() >= 5000
        assert proto.events == ["made", "pause"]
        sock.choked = False
        await wait_until(lambda: transport.get_write_buffer_size() == 0)
        assert proto.events == ["made", "pause", "resume"]
        for i in range(5):
            assert await recv_in_thread(loop, peer) == (bytes([i]) * 1000, sock.getsockname())
        transport.close()
        await asyncio.wait_for(proto.lost, WAIT)

    loop.run_until_complete(main())


@pytest.mark.skip_loop("uvloop", reason=UVLOOP_BYPASSES_SOCKET)
def test_queued_datagrams_keep_their_order_behind_the_queue(
    loop: Loop, peer: socket.socket
) -> None:
    async def main() -> None:
        sock = ChokingSocket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind(("127.0.0.1", 0))
        transport, _ = await loop.create_datagram_endpoint(asyncio.DatagramProtocol, sock=sock)
        sock.choked = True
        transport.sendto(b"first", peer.getsockname())
        sock.choked = False
        transport.sendto(b"second", peer.getsockname())  # must queue behind "first"
        assert (await recv_in_thread(loop, peer))[0] == b"first"
        assert (await recv_in_thread(loop, peer))[0] == b"second"
        transport.close()

    loop.run_until_complete(main())


@pytest.mark.skip_loop("uvloop", reason=UVLOOP_BYPASSES_SOCKET)
@pytest.mark.skip_loop("asyncio", reason=ASYNCIO_3130_COUNT, condition=ASYNCIO_3130)
def test_a_datagram_queued_from_resume_writing_is_still_sent(
    loop: Loop, peer: socket.socket
) -> None:
    """resume_writing may send at once; if that send queues, the queue must still drain."""
    sock = ChokingSocket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))

    class SendsOnResume(DatagramRecorder):
        def resume_writing(self) -> None:
            super().resume_writing()
            if self.events.count("resume") > 1:
                return
            sock.choked = True  # the OS refuses this one: it has to be queued
            self.transport.sendto(b"sent from resume_writing", peer.getsockname())
            loop.call_later(0.01, setattr, sock, "choked", False)

    async def main() -> None:
        proto = SendsOnResume(loop)
        transport: Any
        transport, _ = await loop.create_datagram_endpoint(lambda: proto, sock=sock)
        transport.set_write_buffer_limits(high=0)
        sock.choked = True
        transport.sendto(b"first", peer.getsockname())
        assert proto.events == ["made", "pause"]
        sock.choked = False
        assert (await recv_in_thread(loop, peer))[0] == b"first"
        assert (await recv_in_thread(loop, peer))[0] == b"sent from resume_writing"
        await wait_until(lambda: transport.get_write_buffer_size() == 0)
        transport.close()
        await asyncio.wait_for(proto.lost, WAIT)

    loop.run_until_complete(main())


@pytest.mark.skip_loop("uvloop", reason=UVLOOP_BYPASSES_SOCKET)
@pytest.mark.skip_loop("asyncio", reason=ASYNCIO_3130_COUNT, condition=ASYNCIO_3130)
@pytest.mark.skip_loop(
    "asyncio",
    reason="asyncio's _sendto_ready calls connection_lost again after a close() made in "
    "resume_writing, and that second call fails on the cleared socket",
)
def test_close_from_resume_writing_loses_the_endpoint_once(loop: Loop, peer: socket.socket) -> None:
    sock = ChokingSocket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))

    class ClosesWhenDrained(DatagramRecorder):
        def resume_writing(self) -> None:
            super().resume_writing()
            self.transport.close()

    async def main() -> ClosesWhenDrained:
        loop.set_exception_handler(lambda _loop, context: errors.append(context))
        proto = ClosesWhenDrained(loop)
        transport: Any
        transport, _ = await loop.create_datagram_endpoint(lambda: proto, sock=sock)
        transport.set_write_buffer_limits(high=0)
        sock.choked = True
        transport.sendto(b"last", peer.getsockname())
        sock.choked = False
        assert (await recv_in_thread(loop, peer))[0] == b"last"
        assert await asyncio.wait_for(proto.lost, WAIT) is None
        await asyncio.sleep(0.02)
        return proto

    errors: list[dict[str, Any]] = []
    assert loop.run_until_complete(main()).events == ["made", "pause", "resume", "lost"]
    assert errors == []


@pytest.mark.skip_loop("uvloop", reason=UVLOOP_BYPASSES_SOCKET)
def test_close_sends_queued_datagrams_first(loop: Loop, peer: socket.socket) -> None:
    async def main() -> None:
        sock = ChokingSocket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind(("127.0.0.1", 0))
        proto = DatagramRecorder(loop)
        transport, _ = await loop.create_datagram_endpoint(lambda: proto, sock=sock)
        sock.choked = True
        transport.sendto(b"queued", peer.getsockname())
        transport.close()
        assert transport.is_closing()
        await asyncio.sleep(0.02)
        assert not proto.lost.done()  # still holding a datagram
        sock.choked = False
        assert await asyncio.wait_for(proto.lost, WAIT) is None
        assert (await recv_in_thread(loop, peer))[0] == b"queued"

    loop.run_until_complete(main())


@pytest.mark.skip_loop("uvloop", reason=UVLOOP_BYPASSES_SOCKET)
def test_abort_drops_queued_datagrams(loop: Loop, peer: socket.socket) -> None:
    async def main() -> None:
        sock = ChokingSocket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind(("127.0.0.1", 0))
        proto = DatagramRecorder(loop)
        transport, _ = await loop.create_datagram_endpoint(lambda: proto, sock=sock)
        sock.choked = True
        transport.sendto(b"dropped", peer.getsockname())
        transport.abort()
        assert await asyncio.wait_for(proto.lost, WAIT) is None
        peer.settimeout(0.05)
        with pytest.raises(TimeoutError):
            peer.recvfrom(100)

    loop.run_until_complete(main())


def test_close_and_abort_call_connection_lost_once(loop: Loop, peer: socket.socket) -> None:
    async def main() -> None:
        for end in ("close", "abort"):
            proto = DatagramRecorder(loop)
            transport, _ = await loop.create_datagram_endpoint(
                lambda p=proto: p,  # type: ignore[misc]
                remote_addr=peer.getsockname(),
            )
            getattr(transport, end)()
            assert transport.is_closing()
            transport.close()
            transport.abort()
            assert await asyncio.wait_for(proto.lost, WAIT) is None
            await asyncio.sleep(0.01)
            assert proto.events == ["made", "lost"]

    loop.run_until_complete(main())


@pytest.mark.parametrize("end", ["close", "abort"])
def test_a_closed_endpoint_frees_its_protocol_without_waiting_for_gc(
    loop: Loop, peer: socket.socket, end: str
) -> None:
    """As for streams (test_tcp.py): the transport drops its protocol at connection_lost."""

    async def main() -> weakref.ref[DatagramRecorder]:
        proto = DatagramRecorder(loop)
        transport, _ = await loop.create_datagram_endpoint(
            lambda: proto, remote_addr=peer.getsockname()
        )
        getattr(transport, end)()
        await asyncio.wait_for(asyncio.shield(proto.lost), WAIT)
        await asyncio.sleep(0)
        assert transport.get_protocol() is None
        return weakref.ref(proto)

    gc.collect()
    gc.disable()
    try:
        ref = loop.run_until_complete(main())
        assert ref() is None, gc.get_referrers(ref())
    finally:
        gc.enable()


@pytest.mark.skip_loop("uvloop", reason="uvloop raises on sendto after close")
def test_sendto_after_close_on_a_connected_endpoint_is_dropped(
    loop: Loop, peer: socket.socket
) -> None:
    async def main() -> None:
        proto = DatagramRecorder(loop)
        transport, _ = await loop.create_datagram_endpoint(
            lambda: proto, remote_addr=peer.getsockname()
        )
        transport.close()
        await asyncio.wait_for(proto.lost, WAIT)
        for _ in range(3):
            transport.sendto(b"late")
        assert proto.errors == []

    loop.run_until_complete(main())


@pytest.mark.skip_loop(
    "asyncio",
    reason="asyncio's sendto on an unconnected endpoint after connection_lost raises "
    "AttributeError from its cleared transport",
)
def test_sendto_after_close_on_an_unconnected_endpoint_is_dropped(
    loop: Loop, peer: socket.socket
) -> None:
    async def main() -> list[dict[str, Any]]:
        contexts: list[dict[str, Any]] = []
        loop.set_exception_handler(lambda _loop, context: contexts.append(context))
        proto = DatagramRecorder(loop)
        transport, _ = await loop.create_datagram_endpoint(
            lambda: proto, local_addr=("127.0.0.1", 0)
        )
        transport.close()
        await asyncio.wait_for(proto.lost, WAIT)
        for _ in range(3):
            transport.sendto(b"late", peer.getsockname())
        await asyncio.sleep(0.01)
        assert proto.errors == []
        return contexts

    assert loop.run_until_complete(main()) == []


def test_exception_in_datagram_received_goes_to_the_handler(
    loop: Loop, peer: socket.socket
) -> None:
    error = ValueError("protocol bug")

    class Failing(DatagramRecorder):
        def datagram_received(self, data: bytes, addr: Any) -> None:
            super().datagram_received(data, addr)
            raise error

    async def main() -> list[dict[str, Any]]:
        contexts: list[dict[str, Any]] = []
        loop.set_exception_handler(lambda _loop, context: contexts.append(context))
        proto = Failing(loop)
        transport, _ = await loop.create_datagram_endpoint(
            lambda: proto, local_addr=("127.0.0.1", 0)
        )
        peer.sendto(b"boom", transport.get_extra_info("sockname"))
        await wait_until(lambda: bool(contexts))
        transport.close()
        await asyncio.wait_for(proto.lost, WAIT)
        return contexts

    contexts = loop.run_until_complete(main())
    assert contexts[0].get("exception") is error
