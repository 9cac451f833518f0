"""Per-host settings (``net.host``): a host on a slow line, a host that goes down.

A host's settings are its links' defaults, below what ``net.link`` sets for a
pair; a host that is down loses its connections, refuses new ones, cannot
reach out and drops datagrams, then serves again when it is back.  Real
stream and datagram code, under virtual time.
"""

from __future__ import annotations

import asyncio
import errno

import pytest
from simnet_kit import Datagrams, no_real_sockets, run  # noqa: F401  (a fixture)
from test_simnet import upper_server

from glassloop.testing import SimNet

pytestmark = pytest.mark.usefixtures("no_real_sockets")


async def round_trip(host: str) -> float:
    loop = asyncio.get_running_loop()
    server = await upper_server(host, 80)
    reader, writer = await asyncio.open_connection(host, 80)
    start = loop.time()
    writer.write(b"ping\n")
    assert await reader.readline() == b"PING\n"
    took = loop.time() - start
    writer.close()
    await writer.wait_closed()
    server.close()
    await server.wait_closed()
    return took


def test_a_hosts_settings_are_its_links_defaults_and_the_worse_end_counts() -> None:
    net = SimNet(latency=0.01)
    net.host("slow.sim", latency=0.5)
    assert run(lambda: round_trip("slow.sim"), net) == pytest.approx(1.0)
    assert run(lambda: round_trip("fast.sim"), net.fresh()) == pytest.approx(0.02)

    net = SimNet(latency=0.01, bandwidth=10_000)
    net.host("client.sim", latency=0.2, bandwidth=1_000)
    net.host("api.sim", latency=0.1, bandwidth=5_000, loss=0.5)
    link = net._link("client.sim", "api.sim")
    assert (link.latency, link.bandwidth, link.loss) == (0.2, 1_000, 0.5)
    net.link("client.sim", "api.sim", latency=0.05)  # a pair's own setting comes first
    assert (link.latency, link.bandwidth) == (0.05, 1_000)
    assert net._link("other.sim", "else.sim").latency == 0.01


def test_bad_host_settings_are_refused() -> None:
    net = SimNet()
    with pytest.raises(ValueError, match="latency"):
        net.host("a.sim", latency=-1)
    with pytest.raises(TypeError, match="down"):
        net.host("a.sim", down=3.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="after start"):
        net.host("a.sim", down=(3.0, 1.0))
    with pytest.raises(ValueError, match="probability"):
        net.host("a.sim", loss=2)


async def outage_story() -> list[tuple[float, str]]:
    """A client and a service on api.sim, which is down from t = 1 to t = 3."""
    loop = asyncio.get_running_loop()
    story: list[tuple[float, str]] = []

    def tell(what: str) -> None:
        story.append((round(loop.time(), 3), what))

    async def service(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while line := await reader.readline():
                writer.write(line.upper())
        except ConnectionResetError:
            tell("service: its connection was reset")
            await asyncio.sleep(1)  # now t = 2, its host still down: it cannot reach out
            try:
                await asyncio.open_connection("db.sim", 5432)
            except OSError as exc:
                tell(f"service: connect out failed, errno {errno.errorcode[exc.errno or 0]}")
        writer.close()

    server = await asyncio.start_server(service, "api.sim", 80)
    reader, writer = await asyncio.open_connection("api.sim", 80)
    writer.write(b"before\n")
    tell(f"client: {(await reader.readline()).decode().strip()}")
    try:
        await reader.readline()  # nothing more comes: the host goes down at t = 1
    except ConnectionResetError:
        tell("client: its connection was reset")
    writer.close()
    await asyncio.sleep(1.5 - loop.time())
    try:
        await asyncio.open_connection("api.sim", 80)
    except ConnectionRefusedError:
        tell("client: connect refused")
    await asyncio.sleep(3.5 - loop.time())
    reader, writer = await asyncio.open_connection("api.sim", 80)  # back up, still listening
    writer.write(b"after\n")
    tell(f"client: {(await reader.readline()).decode().strip()}")
    writer.close()
    await writer.wait_closed()
    server.close()
    await server.wait_closed()
    return story


def test_a_host_that_goes_down_resets_refuses_and_comes_back() -> None:
    net = SimNet(seed=1, latency=0.01)
    net.host("api.sim", down=(1.0, 3.0))
    story = run(outage_story, net)
    assert story == [
        (0.04, "client: BEFORE"),
        (1.0, "service: its connection was reset"),
        (1.01, "client: its connection was reset"),  # once the reset crossed the link
        (1.52, "client: connect refused"),  # after a round trip
        (2.0, "service: connect out failed, errno ENETUNREACH"),
        (3.54, "client: AFTER"),
    ]
    assert "api.sim was down from 1 s to 3 s: its connections reset (1)" in net.faults
    again = net.fresh()
    assert run(outage_story, again) == story and again.log == net.log


def test_datagrams_to_or_from_a_down_host_are_dropped() -> None:
    net = SimNet(latency=0.01)
    net.host("dns.sim", down=(1.0, 2.0))

    async def main() -> list[bytes]:
        loop = asyncio.get_running_loop()
        sink = Datagrams()
        await loop.create_datagram_endpoint(lambda: sink, local_addr=("dns.sim", 53))
        transport, _ = await loop.create_datagram_endpoint(
            asyncio.DatagramProtocol, remote_addr=("dns.sim", 53)
        )
        for when, data in ((0.5, b"up"), (1.5, b"down"), (2.5, b"up again")):
            await asyncio.sleep(when - loop.time())
            transport.sendto(data)
        await asyncio.sleep(1)
        transport.close()
        return [data for data, _ in sink.datagrams]

    assert run(main, net) == [b"up", b"up again"]
    assert net.stats()["client.sim -> dns.sim"]["lost"] == 1
    assert any(fault.endswith("was dropped: dns.sim was down") for fault in net.faults)
