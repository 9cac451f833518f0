"""The simulated network (``glassloop.testing.SimNet``): real protocol and stream code, in memory.

Each fault is checked with asyncio's own ``Protocol`` and stream code, and the
frameworks end to end (aiohttp client and server, FastAPI under uvicorn with
aiohttp and httpx as clients), all under virtual time.  And the promises:
nothing touches a real socket; the same seed gives the same run, event for
event; exploration can split the network's deliveries and says so.
"""

from __future__ import annotations

import asyncio
import socket
import time
from typing import Any

import pytest
from simnet_kit import no_real_sockets, run  # noqa: F401  (a fixture)

import glassloop
from glassloop.testing import SimNet, explore, replay


async def upper_server(host: str = "server.sim", port: int = 8080) -> asyncio.Server:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while line := await reader.readline():
            writer.write(line.upper())
            await writer.drain()
        writer.close()

    return await asyncio.start_server(handle, host, port)


@pytest.mark.usefixtures("no_real_sockets")
def test_a_stream_exchange_takes_the_links_latency_and_no_wall_time() -> None:
    net = SimNet(seed=1, latency=0.05)

    async def main() -> list[float]:
        loop = asyncio.get_running_loop()
        server = await upper_server()
        start = loop.time()
        reader, writer = await asyncio.open_connection("server.sim", 8080)
        connected = loop.time() - start
        writer.write(b"hello\n")
        reply = await reader.readline()
        answered = loop.time() - start
        assert reply == b"HELLO\n"
        assert writer.get_extra_info("peername") == (net.address_of("server.sim"), 8080)
        assert server.sockets[0].getsockname() == (net.address_of("server.sim"), 8080)
        writer.close()
        server.close()
        await server.wait_closed()
        return [connected, answered]

    wall = time.perf_counter()
    connected, answered = run(main, net)
    assert time.perf_counter() - wall < 2
    assert connected == pytest.approx(0.1)  # SYN there, SYN-ACK back
    assert answered == pytest.approx(0.2)  # and a request/reply round trip
    assert net.address_of("server.sim").startswith("198.18.")
    assert net.stats()["client.sim -> server.sim"] == {"bytes": 6, "chunks": 1, "writes": 1}


def test_links_have_their_own_latency_and_bandwidth() -> None:
    net = SimNet(latency=0.05)
    net.link("client.sim", "server.sim", latency=0.5, bandwidth=1000)

    async def main() -> float:
        loop = asyncio.get_running_loop()
        server = await upper_server()
        reader, writer = await asyncio.open_connection("server.sim", 8080)
        start = loop.time()
        writer.write(b"x" * 999 + b"\n")  # 1000 bytes: one second at 1000 B/s
        await reader.readline()
        writer.close()
        server.close()
        return loop.time() - start

    assert run(main, net) == pytest.approx(0.5 + 1.0 + 0.5 + 1.0)


class Collect(asyncio.Protocol):
    def __init__(self) -> None:
        self.chunks: list[bytes] = []
        self.lost: asyncio.Future[Exception | None] = asyncio.get_running_loop().create_future()
        self.eof = False

    def data_received(self, data: bytes) -> None:
        self.chunks.append(data)

    def eof_received(self) -> bool:
        self.eof = True
        return False  # then the transport closes, as asyncio's do

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost.set_result(exc)


def test_a_chunked_network_splits_writes_and_loses_nothing() -> None:
    data = bytes(range(256)) * 40  # 10 KiB

    async def main(net: SimNet) -> list[int]:
        received = Collect()

        class Send(asyncio.Protocol):
            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                transport.write(data)  # type: ignore[attr-defined]
                transport.close()

        server = await asyncio.get_running_loop().create_server(Send, "server.sim", 1)
        await asyncio.get_running_loop().create_connection(lambda: received, "server.sim", 1)
        await received.lost
        server.close()
        assert b"".join(received.chunks) == data
        return [len(chunk) for chunk in received.chunks]

    first = run(lambda: main(net), net := SimNet(seed=7, chunked=True))
    again = run(lambda: main(net2), net2 := SimNet(seed=7, chunked=True))
    assert len(first) > 1 and first == again  # the same seed splits the same way
    assert any("arrived as" in fault for fault in net.faults)
    whole = run(lambda: main(net3), net3 := SimNet(seed=7))
    assert whole == [len(data)]


def test_a_reset_after_byte_n_delivers_n_bytes_then_connection_reset_error() -> None:
    net = SimNet(latency=0.01)
    net.reset_after("server.sim", 8080, 17)

    async def main() -> None:
        server = await upper_server()
        reader, writer = await asyncio.open_connection("server.sim", 8080)
        writer.write(b"a" * 40 + b"\n")
        with pytest.raises(ConnectionResetError):
            await reader.readexactly(41)
        server.close()

    run(main, net)
    assert "reset after byte 17" in net.faults[-1]


def test_a_partition_delays_bytes_until_it_heals_so_timeouts_fire() -> None:
    net = SimNet(latency=0.01)
    net.partition("client.sim", "server.sim", start=0.1, end=2.0)

    async def main() -> tuple[bool, float]:
        loop = asyncio.get_running_loop()
        server = await upper_server()
        reader, writer = await asyncio.open_connection("server.sim", 8080)
        await asyncio.sleep(0.2)  # inside the partition
        writer.write(b"ping\n")
        try:
            await asyncio.wait_for(reader.readline(), 0.5)
            timed_out = False
        except TimeoutError:
            timed_out = True
        line = await reader.readline()  # it arrives once the partition heals
        assert line == b"PING\n"
        writer.close()
        server.close()
        return timed_out, loop.time()

    timed_out, end = run(main, net)
    assert timed_out and end >= 2.0


def test_connection_refused_after_a_round_trip_and_connect_timeout_in_a_partition() -> None:
    net = SimNet(latency=0.05)
    net.partition("client.sim", "far.sim")

    async def main() -> None:
        loop = asyncio.get_running_loop()
        start = loop.time()
        with pytest.raises(ConnectionRefusedError):
            await asyncio.open_connection("server.sim", 9)
        assert loop.time() - start == pytest.approx(0.1)
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(asyncio.open_connection("far.sim", 80), 3.0)

    run(main, net)


def test_dns_failure_is_a_gaierror() -> None:
    net = SimNet()
    net.fail_dns("gone.sim")

    async def main() -> None:
        loop = asyncio.get_running_loop()
        with pytest.raises(socket.gaierror):
            await loop.getaddrinfo("gone.sim", 80)
        with pytest.raises(socket.gaierror):
            await asyncio.open_connection("gone.sim", 80)
        infos = await loop.getaddrinfo("any-name.sim", "80")
        assert infos[0][4] == (net.address_of("any-name.sim"), 80)

    run(main, net)
    assert net.faults == ["DNS failed for 'gone.sim'"] * 2


def test_a_reader_that_stops_reading_makes_its_sender_pause_writing() -> None:
    net = SimNet(latency=0.001)
    events: list[str] = []

    async def main() -> None:
        loop = asyncio.get_running_loop()
        server_side: list[asyncio.Transport] = []

        class Slow(asyncio.Protocol):
            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                server_side.append(transport)  # type: ignore[arg-type]
                transport.pause_reading()  # type: ignore[attr-defined]

        class Writer(asyncio.Protocol):
            def pause_writing(self) -> None:
                events.append("pause")

            def resume_writing(self) -> None:
                events.append("resume")

        await loop.create_server(Slow, "server.sim", 1)
        transport, _ = await loop.create_connection(Writer, "server.sim", 1)
        for _ in range(40):
            transport.write(b"x" * 8192)  # type: ignore[attr-defined]
            await asyncio.sleep(0.01)
        assert events == ["pause"]
        assert transport.get_write_buffer_size() > 64 * 1024  # type: ignore[attr-defined]
        server_side[0].resume_reading()
        await asyncio.sleep(0.1)
        assert events == ["pause", "resume"]
        transport.close()

    run(main, net)


def test_half_close_the_server_still_answers_after_the_clients_eof() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            body = await reader.read()  # to EOF
            writer.write(b"got %d" % len(body))
            writer.close()

        server = await asyncio.start_server(handle, "server.sim", 80)
        reader, writer = await asyncio.open_connection("server.sim", 80)
        writer.write(b"abc")
        writer.write_eof()
        assert await reader.read() == b"got 3"
        writer.close()
        server.close()
        assert loop.time() > 0

    run(main, SimNet(latency=0.01))


def test_calls_it_cannot_simulate_are_refused_clearly() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        with socket.socket() as sock, pytest.raises(NotImplementedError, match="not simulated"):
            await loop.connect_accepted_socket(asyncio.Protocol, sock)
        await upper_server()
        with pytest.raises(OSError, match="address already in use"):
            await upper_server()

    run(main, SimNet())


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"latency": -1}, ValueError),
        ({"latency": "fast"}, TypeError),
        ({"seed": 1.5}, TypeError),
        ({"bandwidth": 0}, ValueError),
    ],
)
def test_bad_settings_are_refused(kwargs: dict[str, Any], error: type[Exception]) -> None:
    with pytest.raises(error):
        SimNet(**kwargs)


def test_a_simnet_serves_one_loop() -> None:
    net = SimNet()
    glassloop.run(asyncio.sleep(0), network=net)
    with pytest.raises(RuntimeError, match="fresh"):
        glassloop.new_event_loop(network=net)
    glassloop.run(asyncio.sleep(0), network=net.fresh())
    with pytest.raises(TypeError):
        glassloop.new_event_loop(network="net")  # type: ignore[arg-type]


# -- frameworks, unchanged ----------------------------------------------------------


async def aiohttp_exchange(requests: int) -> float:
    import aiohttp
    from aiohttp import web

    async def double(request: web.Request) -> web.Response:
        return web.json_response({"n": int(request.query["n"]) * 2})

    app = web.Application()
    app.router.add_get("/", double)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "api.sim", 80).start()
    loop = asyncio.get_running_loop()
    start = loop.time()
    try:
        async with aiohttp.ClientSession() as session:
            for n in range(requests):
                async with session.get(f"http://api.sim/?n={n}") as response:
                    assert (await response.json())["n"] == 2 * n
    finally:
        await runner.cleanup()
    return loop.time() - start


@pytest.mark.usefixtures("no_real_sockets")
def test_aiohttp_client_and_server_1000_requests_in_virtual_time() -> None:
    net = SimNet(seed=3, latency=0.05)
    wall = time.perf_counter()
    virtual = run(lambda: aiohttp_exchange(1000), net)
    assert virtual >= 1000 * 0.1  # a round trip each, on one kept-alive connection
    assert time.perf_counter() - wall < 5
    assert net.stats()["client.sim -> api.sim"]["writes"] == 1000


def test_the_same_seed_gives_the_same_aiohttp_exchange_event_for_event() -> None:
    logs = []
    for _ in range(2):
        net = SimNet(seed=11, latency=0.02, chunked=True)
        run(lambda: aiohttp_exchange(20), net)
        logs.append(net.log)
    assert logs[0] == logs[1] and len(logs[0]) > 40
    other = SimNet(seed=12, latency=0.02, chunked=True)
    run(lambda: aiohttp_exchange(20), other)
    assert other.log != logs[0]


@pytest.mark.usefixtures("no_real_sockets")
def test_fastapi_under_uvicorn_answers_aiohttp_and_httpx() -> None:
    import aiohttp
    import httpx
    import uvicorn
    from fastapi import FastAPI

    app = FastAPI()

    @app.get("/add")
    async def add(a: int, b: int) -> dict[str, int]:
        return {"sum": a + b}

    async def main() -> None:
        config = uvicorn.Config(app, host="api.sim", port=8000, log_level="warning")
        server = uvicorn.Server(config)
        serving = asyncio.create_task(server.serve())
        while not server.started:
            await asyncio.sleep(0.01)
        async with aiohttp.ClientSession() as session:
            async with session.get("http://api.sim:8000/add?a=2&b=3") as response:
                assert await response.json() == {"sum": 5}
        async with httpx.AsyncClient() as client:
            reply = await client.get("http://api.sim:8000/add?a=4&b=5")
            assert reply.json() == {"sum": 9}
        server.should_exit = True
        await serving

    run(main, SimNet(seed=2, latency=0.03))


# -- jitter: connections overtake each other, bytes within one never do -------------


async def two_connections_race(lines: int = 1) -> tuple[list[str], dict[str, bytes]]:
    """Two connections each send ``lines`` numbered lines at once (a write each) to
    an upper-casing server; return which connection each delivery of a reply
    went to, in the order they came, and what each connection received."""
    loop = asyncio.get_running_loop()
    server = await upper_server("api.sim", 80)
    order: list[str] = []
    received = {"a": b"", "b": b""}
    done = asyncio.Event()

    class Client(asyncio.Protocol):
        def __init__(self, name: str) -> None:
            self.name = name

        def data_received(self, data: bytes) -> None:
            order.append(self.name)
            received[self.name] += data
            if all(got.count(b"\n") == lines for got in received.values()):
                done.set()

    ends = {
        name: (await loop.create_connection(lambda name=name: Client(name), "api.sim", 80))[0]
        for name in "ab"
    }
    for number in range(lines):
        for name, transport in ends.items():
            transport.write(b"%s%d\n" % (name.encode(), number))  # type: ignore[attr-defined]
    await done.wait()
    for transport in ends.values():
        transport.close()
    server.close()
    await server.wait_closed()
    return order, received


def test_jitter_lets_two_connections_replies_arrive_in_either_order() -> None:
    firsts = set()
    for seed in range(20):
        order, _ = run(two_connections_race, SimNet(seed=seed, latency=0.01, jitter=0.02))
        firsts.add(order[0])
    assert firsts == {"a", "b"}
    # Without jitter the network keeps the send order across connections too.
    for seed in range(5):
        order, _ = run(two_connections_race, SimNet(seed=seed, latency=0.01))
        assert order[0] == "a"


def test_jitter_never_reorders_bytes_within_a_connection() -> None:
    calm, _ = run(lambda: two_connections_race(30), SimNet(seed=0, latency=0.01))
    overtaken = 0
    for seed in range(10):
        net = SimNet(seed=seed, latency=0.01, jitter=0.05, chunked=seed % 2 == 1)
        order, received = run(lambda: two_connections_race(30), net)
        for name in "ab":
            expected = b"".join(b"%s%d\n" % (name.upper().encode(), n) for n in range(30))
            assert received[name] == expected
        if not net.chunked:  # (chunks alone would make the order differ)
            overtaken += order != calm  # the connections' deliveries interleaved otherwise
    assert overtaken == 5  # so the order within each connection was really at stake


async def replies_in_send_order() -> None:
    order, _ = await two_connections_race()
    assert order[0] == "a", "b's reply overtook a's"


def test_exploration_reorders_connections_with_a_delay_and_names_it() -> None:
    """Jitter's explored form: a "delay" decision holds one write back."""
    net = SimNet(latency=0.01, explored=("delay",))
    report = explore(replies_in_send_order, runs=100, network=net)
    assert report.failed and isinstance(report.error, AssertionError)
    assert len(report.choices) == 1 and "was delayed by" in report.choices[0]
    with pytest.raises(AssertionError, match="overtook"):
        replay(replies_in_send_order, report.token or "", network=net)


def test_a_links_jitter_is_its_own() -> None:
    net = SimNet(latency=0.01, jitter=0.5)
    net.link("client.sim", "api.sim", jitter=0)
    order, _ = run(two_connections_race, net)
    assert order[0] == "a" and net._link("api.sim", "client.sim").jitter == 0
    assert net._link("x.sim", "y.sim").jitter == 0.5
    with pytest.raises(ValueError, match="jitter"):
        SimNet(jitter=-1)


# -- exploration splits deliveries ---------------------------------------------------


async def one_read_per_message() -> None:
    """A client that assumes one data_received per message (a classic framing bug)."""
    loop = asyncio.get_running_loop()
    got: asyncio.Future[bytes] = loop.create_future()

    class Client(asyncio.Protocol):
        def data_received(self, data: bytes) -> None:
            if not got.done():
                got.set_result(data)

    server = await upper_server()
    transport, _ = await loop.create_connection(Client, "server.sim", 8080)
    transport.write(b"hello world\n")  # type: ignore[attr-defined]
    reply = await got
    transport.close()
    server.close()
    assert reply == b"HELLO WORLD\n", f"got a partial message: {reply!r}"


def test_exploration_splits_deliveries_and_names_the_split() -> None:
    net = SimNet(latency=0.01)
    report = explore(one_read_per_message, runs=200, network=net)
    assert report.failed and isinstance(report.error, AssertionError)
    assert len(report.choices) == 1 and "was split after byte" in report.choices[0]
    with pytest.raises(AssertionError, match="partial message"):
        replay(one_read_per_message, report.token or "", network=net)
