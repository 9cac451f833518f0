"""UDP on the simulated network: asyncio's ``DatagramProtocol`` code, under virtual time.

What UDP really does and TCP hides: datagrams are lost, arrive twice or out
of order, and a partition drops them (no retransmission).  Each fault is
seeded, scriptable per link and recorded; the transport's contract is
asyncio's (``ConnectionRefusedError`` through ``error_received`` on a
connected endpoint only, its argument errors and exception types).
"""

from __future__ import annotations

import asyncio
import errno
import socket
from typing import Any

import pytest
from simnet_kit import Datagrams, no_real_sockets, run  # noqa: F401  (a fixture)

from glassloop.testing import SimNet, explore, replay

pytestmark = pytest.mark.usefixtures("no_real_sockets")


async def echo_endpoint(host: str = "dns.sim", port: int = 53) -> asyncio.DatagramTransport:
    """A UDP server that sends every datagram back to where it came from, upper-cased."""

    class Echo(asyncio.DatagramProtocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            self.transport: Any = transport

        def datagram_received(self, data: bytes, addr: Any) -> None:
            self.transport.sendto(data.upper(), addr)

    transport, _ = await asyncio.get_running_loop().create_datagram_endpoint(
        Echo, local_addr=(host, port)
    )
    return transport


async def connected_client(
    host: str = "dns.sim", port: int = 53
) -> tuple[asyncio.DatagramTransport, Datagrams]:
    client = Datagrams()
    transport, _ = await asyncio.get_running_loop().create_datagram_endpoint(
        lambda: client, remote_addr=(host, port)
    )
    return transport, client


async def settle() -> None:
    """Long enough for every datagram of these tests to land (virtual time)."""
    await asyncio.sleep(5)


def test_a_datagram_exchange_takes_the_links_latency() -> None:
    net = SimNet(seed=1, latency=0.05)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        server = await echo_endpoint()
        transport, client = await connected_client()
        start = loop.time()
        transport.sendto(b"hello")
        while not client.datagrams:
            await asyncio.sleep(0.01)
        assert loop.time() - start == pytest.approx(0.1, abs=0.011)
        dns = net.address_of("dns.sim")
        assert client.datagrams == [(b"HELLO", (dns, 53))]
        assert transport.get_extra_info("peername") == (dns, 53)
        here = transport.get_extra_info("sockname")
        assert here[0] == net.address_of("client.sim") and here[1] > 0
        assert server.get_extra_info("sockname") == (dns, 53)
        assert server.get_extra_info("peername") is None
        assert transport.get_extra_info("socket").type == socket.SOCK_DGRAM
        transport.close()
        assert transport.is_closing()
        assert await client.lost is None
        server.close()

    run(main, net)
    assert net.stats()["client.sim -> dns.sim"] == {
        "datagrams": 1,
        "lost": 0,
        "duplicated": 0,
        "reordered": 0,
    }


def test_unconnected_endpoints_send_anywhere_and_see_each_sender() -> None:
    net = SimNet(latency=0.01)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        await echo_endpoint("a.sim", 7)
        await echo_endpoint("b.sim", 7)
        me = Datagrams()
        transport, _ = await loop.create_datagram_endpoint(lambda: me, local_addr=("me.sim", 0))
        transport.sendto(b"x", ("a.sim", 7))
        transport.sendto(b"y", (net.address_of("b.sim"), 7))
        await settle()
        assert sorted(me.datagrams) == [
            (b"X", (net.address_of("a.sim"), 7)),
            (b"Y", (net.address_of("b.sim"), 7)),
        ]
        transport.close()

    run(main, net)


def test_port_unreachable_is_reported_to_a_connected_endpoint_only() -> None:
    """Linux hands the ICMP error to connected UDP sockets; asyncio calls error_received."""
    net = SimNet(latency=0.05)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        transport, client = await connected_client("nobody.sim", 9)
        start = loop.time()
        transport.sendto(b"anyone there?")
        while not client.errors:
            await asyncio.sleep(0.01)
        assert loop.time() - start == pytest.approx(0.1, abs=0.011)  # the ICMP came back
        assert isinstance(client.errors[0], ConnectionRefusedError)
        assert not transport.is_closing()  # the endpoint lives on
        transport.sendto(b"again")
        await settle()
        assert len(client.errors) == 2

        loose = Datagrams()
        other, _ = await loop.create_datagram_endpoint(lambda: loose, local_addr=("me.sim", 0))
        other.sendto(b"hello?", ("nobody.sim", 9))
        await settle()
        assert loose.errors == [] and not other.is_closing()
        transport.close()
        other.close()

    run(main, net)


def test_a_connected_endpoint_hears_only_its_peer() -> None:
    net = SimNet(latency=0.01)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        listener = Datagrams()
        await loop.create_datagram_endpoint(lambda: listener, local_addr=("srv.sim", 5000))
        transport, client = await connected_client("srv.sim", 5000)
        transport.sendto(b"hi")
        await settle()
        reply_to = listener.datagrams[0][1]
        stranger, _ = await loop.create_datagram_endpoint(
            asyncio.DatagramProtocol, local_addr=("stranger.sim", 0)
        )
        stranger.sendto(b"spoof", reply_to)
        listener.transport.sendto(b"real", reply_to)
        await settle()
        assert client.datagrams == [(b"real", (net.address_of("srv.sim"), 5000))]

    run(main, net)


def test_bad_arguments_raise_what_asyncio_raises() -> None:
    net = SimNet()
    net.fail_dns("gone.sim")

    async def main() -> None:
        loop = asyncio.get_running_loop()
        with pytest.raises(ValueError, match="unexpected address family"):
            await loop.create_datagram_endpoint(asyncio.DatagramProtocol)
        with pytest.raises(TypeError, match="2-tuple"):
            await loop.create_datagram_endpoint(asyncio.DatagramProtocol, local_addr="x.sim")
        with pytest.raises(socket.gaierror):
            await loop.create_datagram_endpoint(
                asyncio.DatagramProtocol, remote_addr=("gone.sim", 53)
            )
        first, _ = await loop.create_datagram_endpoint(
            asyncio.DatagramProtocol, local_addr=("a.sim", 53)
        )
        with pytest.raises(OSError) as info:
            await loop.create_datagram_endpoint(asyncio.DatagramProtocol, local_addr=("a.sim", 53))
        assert info.value.errno == errno.EADDRINUSE
        await loop.create_server(asyncio.Protocol, "a.sim", 53)  # TCP's ports are its own

        transport, client = await connected_client("a.sim", 53)
        with pytest.raises(TypeError, match="bytes-like"):
            transport.sendto("text")
        with pytest.raises(ValueError, match="Invalid address"):
            transport.sendto(b"x", ("a.sim", 53))  # asyncio compares the resolved address
        transport.sendto(b"x", (net.address_of("a.sim"), 53))
        transport.sendto(b"x" * 65508)
        assert isinstance(client.errors[-1], OSError)
        assert client.errors[-1].errno == errno.EMSGSIZE

        loose = Datagrams()
        other, _ = await loop.create_datagram_endpoint(lambda: loose, local_addr=("me.sim", 0))
        other.sendto(b"x", ("gone.sim", 53))
        assert isinstance(loose.errors[-1], socket.gaierror)
        handled: list[dict[str, Any]] = []
        loop.set_exception_handler(lambda _loop, context: handled.append(context))
        other.sendto(b"x")  # no address on an unconnected endpoint: a fatal error, as asyncio
        assert isinstance(await loose.lost, TypeError)
        assert handled[0]["message"] == "Fatal write error on datagram transport"
        other.sendto(b"x", ("a.sim", 53))  # lost endpoint: dropped, not raised
        first.close()
        transport.close()

    run(main, net)


def test_close_and_abort_lose_the_endpoint_once_and_free_its_port() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        for end in ("close", "abort"):
            proto = Datagrams()
            transport, _ = await loop.create_datagram_endpoint(
                lambda proto=proto: proto, local_addr=("a.sim", 99)
            )
            getattr(transport, end)()
            getattr(transport, end)()
            assert transport.is_closing()
            assert await proto.lost is None
        # Closed, the port is free again.
        await loop.create_datagram_endpoint(asyncio.DatagramProtocol, local_addr=("a.sim", 99))

    run(main, SimNet())


def burst(net: SimNet, count: int = 300) -> list[int]:
    """Send ``count`` numbered datagrams 1 ms apart; return the numbers as they arrived."""

    async def main() -> list[int]:
        loop = asyncio.get_running_loop()
        sink = Datagrams()
        await loop.create_datagram_endpoint(lambda: sink, local_addr=("sink.sim", 9000))
        transport, _ = await connected_client("sink.sim", 9000)
        for number in range(count):
            transport.sendto(number.to_bytes(2, "big"))
            await asyncio.sleep(0.001)
        await settle()
        return [int.from_bytes(data, "big") for data, _ in sink.datagrams]

    arrived: list[int] = run(main, net)
    return arrived


def test_loss_duplication_and_reordering_are_seeded_counted_and_told() -> None:
    settings = {"latency": 0.01, "loss": 0.1, "duplicate": 0.05, "reorder": 0.1}
    net = SimNet(seed=4, **settings)
    arrived = burst(net)
    stats = net.stats()["client.sim -> sink.sim"]
    assert stats["datagrams"] == 300
    assert 10 < stats["lost"] < 60 and 3 < stats["duplicated"] < 40
    assert 10 < stats["reordered"] < 60
    assert len(arrived) == 300 - stats["lost"] + stats["duplicated"]
    assert len(set(arrived)) == 300 - stats["lost"]
    assert arrived != sorted(arrived)  # some overtook others
    words = "\n".join(net.faults)
    assert "client.sim:40000 -> sink.sim:9000 (2 bytes) was lost" in words
    assert "arrived twice" in words and "(reordered)" in words

    again = SimNet(seed=4, **settings)
    assert burst(again) == arrived and again.faults == net.faults
    assert burst(SimNet(seed=5, **settings)) != arrived
    assert burst(SimNet(seed=4, latency=0.01)) == list(range(300))  # no chances, no faults


def test_a_link_sets_its_own_chances_and_other_links_keep_the_defaults() -> None:
    net = SimNet(latency=0.01)
    net.link("client.sim", "sink.sim", loss=1.0)
    assert burst(net, 20) == []
    assert net.stats()["client.sim -> sink.sim"]["lost"] == 20
    net = SimNet(latency=0.01, loss=1.0)
    net.link("client.sim", "sink.sim", loss=0.0, reorder=0.0)
    assert burst(net, 20) == list(range(20))
    with pytest.raises(ValueError, match="probability"):
        net.link("a.sim", "b.sim", loss=1.5)
    with pytest.raises(TypeError, match="probability"):
        SimNet(duplicate="often")  # type: ignore[arg-type]


def test_link_settings_add_up_and_keep_the_networks_bandwidth() -> None:
    net = SimNet(latency=0.01, bandwidth=1000)
    net.link("a.sim", "b.sim", latency=0.5)
    net.link("a.sim", "b.sim", loss=0.5)
    link = net._link("a.sim", "b.sim")
    assert (link.latency, link.bandwidth, link.loss) == (0.5, 1000, 0.5)
    net.link("A.sim", "b.sim", bandwidth=float("inf"))  # names are case-blind
    assert link.bandwidth is None


def test_a_partition_drops_datagrams_sent_while_it_lasts() -> None:
    net = SimNet(latency=0.01)
    net.partition("client.sim", "sink.sim", start=0.1, end=0.2)
    arrived = burst(net, 300)
    lost = net.stats()["client.sim -> sink.sim"]["lost"]
    assert 95 <= lost <= 115  # about 100 ms worth, at one per ms (and those in flight at 0.1)
    assert len(arrived) == 300 - lost and arrived == sorted(arrived)
    assert any("are cut apart" in fault for fault in net.faults)


async def ask_once() -> None:
    """A UDP client that waits for its answer and never asks again (the bug)."""
    await echo_endpoint()
    transport, client = await connected_client()
    transport.sendto(b"query")
    async with asyncio.timeout(3):
        while not client.datagrams:
            await asyncio.sleep(0.05)
    transport.close()


def test_exploration_loses_a_datagram_and_names_it() -> None:
    net = SimNet(latency=0.01, explored=("loss",))
    report = explore(ask_once, runs=50, network=net)
    assert report.failed and isinstance(report.error, TimeoutError)
    assert len(report.choices) == 1 and report.choices[0].endswith("was lost")
    with pytest.raises(TimeoutError):
        replay(ask_once, report.token or "", network=net)
