"""Network bugs only a network fault reveals, each with its fixed twin (the corpus's simnet part).

Loopback never splits a message, never delays a reply past a timeout, never
resets a connection: these bugs pass every test on a real machine's loopback
and fail in production.  Each program below runs on a ``SimNet`` and is
explored with the network's faults as decisions of the schedule
(``SimNet(explored=...)``): the bug is found, its shrunk choices name the
fault, its token replays it, and the fixed twin never fails.

The shapes come from public bug reports:

- ``framing``: one ``data_received`` taken as one message:
  happyleavesaoc/python-snapcast#9 ("data_received sometimes receives less
  than complete JSON message"), ufodone/pyenvisalink#38 (frames split across
  reads parsed as malformed).
- ``length_prefix``: ``reader.read(4)`` for a 4-byte length header, which may
  return fewer bytes: the length-prefixed form of the same framing bug.
- ``stale_reply``: a request times out, the connection goes back to the pool
  with its reply still in flight, and the next request on it reads the old
  reply: redis/redis-py#2624 and #2665 (CVE-2023-28858/28859).
- ``double_charge``: a client retries a non-idempotent request after the
  connection was reset while the reply was in flight, and the server runs it
  twice (why HTTP clients, aiohttp's among them, retry only idempotent
  methods).
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Awaitable, Callable

import pytest

from glassloop.testing import SimNet, explore, replay

AsyncFn = Callable[[], Awaitable[None]]


async def echo_upper_server(host: str, port: int) -> asyncio.Server:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while line := await reader.readline():
                writer.write(line.upper())
                await writer.drain()
        finally:
            writer.close()

    return await asyncio.start_server(handle, host, port)


# -- framing: one data_received is one message ----------------------------------------


async def framing(fixed: bool) -> None:
    loop = asyncio.get_running_loop()
    replies: asyncio.Queue[bytes] = asyncio.Queue()

    class Client(asyncio.Protocol):
        def __init__(self) -> None:
            self.buffer = b""

        def data_received(self, data: bytes) -> None:
            if not fixed:
                replies.put_nowait(data)  # the bug: a chunk taken for a message
                return
            self.buffer += data
            while b"\n" in self.buffer:
                line, self.buffer = self.buffer.split(b"\n", 1)
                replies.put_nowait(line + b"\n")

    server = await echo_upper_server("svc.sim", 7)
    transport, _ = await loop.create_connection(Client, "svc.sim", 7)
    try:
        for word in (b"alpha\n", b"beta\n"):
            transport.write(word)  # type: ignore[attr-defined]
            reply = await asyncio.wait_for(replies.get(), 5)
            assert reply == word.upper(), f"got {reply!r} for {word!r}"
    finally:
        transport.close()
        server.close()


# -- length_prefix: read(4) for a 4-byte header ------------------------------------------


async def length_prefix(fixed: bool) -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        body = b"payload of twenty-six bytes"[:26]
        writer.write(struct.pack("!I", len(body)) + body)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "svc.sim", 9)
    reader, writer = await asyncio.open_connection("svc.sim", 9)
    try:
        header = await (reader.readexactly(4) if fixed else reader.read(4))
        assert len(header) == 4, f"a short header: {header!r}"
        (size,) = struct.unpack("!I", header)
        assert len(await reader.readexactly(size)) == 26
    finally:
        writer.close()
        server.close()


# -- stale_reply: a timed-out connection goes back to the pool ---------------------------


class Pool:
    """A one-connection pool, in the shape of an async Redis/SQL client's."""

    def __init__(self, host: str, port: int, fixed: bool) -> None:
        self.host, self.port, self.fixed = host, port, fixed
        self.idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []

    async def call(self, command: bytes, timeout: float) -> bytes:
        if self.idle:
            reader, writer = self.idle.pop()
        else:
            reader, writer = await asyncio.open_connection(self.host, self.port)
        writer.write(command + b"\n")
        try:
            reply = await asyncio.wait_for(reader.readline(), timeout)
        except TimeoutError:
            if self.fixed:
                writer.close()  # its reply may still come: never reuse it
            else:
                self.idle.append((reader, writer))
            raise
        self.idle.append((reader, writer))
        return reply

    def close(self) -> None:
        for _, writer in self.idle:
            writer.close()


async def stale_reply(fixed: bool) -> None:
    server = await echo_upper_server("db.sim", 6379)
    pool = Pool("db.sim", 6379, fixed)
    try:
        for key in (b"get a", b"get b", b"get c"):
            try:
                reply = await pool.call(key, timeout=0.5)
            except TimeoutError:
                continue  # the caller gives up on this one: fine
            assert reply == key.upper() + b"\n", f"asked {key!r}, got {reply!r}"
    finally:
        pool.close()
        server.close()


# -- double_charge: a non-idempotent request retried after a reset ------------------------


async def double_charge(fixed: bool) -> None:
    charged: list[str] = []
    seen_ids: set[str] = set()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = (await reader.readline()).decode().split()
            if request:
                key, amount = request
                if not fixed or key not in seen_ids:  # the fix: an idempotency key
                    seen_ids.add(key)
                    charged.append(amount)
                writer.write(b"ok\n")
                await writer.drain()
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "pay.sim", 443)
    confirmed = False
    try:
        for _attempt in range(3):  # the client retries on a lost connection
            reader, writer = await asyncio.open_connection("pay.sim", 443)
            try:
                writer.write(b"order-1 10\n")
                if await reader.readline() == b"ok\n":
                    confirmed = True
                    break
            except ConnectionError:
                continue
            finally:
                writer.close()
    finally:
        server.close()
    # Never twice; and once the client was told "ok", exactly once.
    assert len(charged) <= 1, f"charged {len(charged)} times"
    assert charged == ["10"] or not confirmed


# -- the table --------------------------------------------------------------------------


def net(explored: tuple[str, ...]) -> SimNet:
    return SimNet(seed=0, latency=0.01, explored=explored)


CASES: list[tuple[str, Callable[[bool], Awaitable[None]], tuple[str, ...], str]] = [
    ("framing", framing, ("split",), "was split after byte"),
    ("length_prefix", length_prefix, ("split",), "was split after byte"),
    ("stale_reply", stale_reply, ("delay",), "was delayed by"),
    ("double_charge", double_charge, ("reset",), "was reset after byte"),
]


def program(fn: Callable[[bool], Awaitable[None]], fixed: bool) -> AsyncFn:
    async def run() -> None:
        await fn(fixed)

    return run


@pytest.mark.parametrize(("name", "fn", "explored", "fault"), CASES, ids=[c[0] for c in CASES])
def test_the_bug_is_found_named_and_replayed(
    name: str, fn: Callable[[bool], Awaitable[None]], explored: tuple[str, ...], fault: str
) -> None:
    bug = program(fn, fixed=False)
    network = net(explored)
    report = explore(bug, runs=300, seed=0, network=network)
    assert report.failed, f"{name}: not found in 300 schedules"
    assert isinstance(report.error, AssertionError), report
    assert any(fault in choice for choice in report.choices), report.choices
    assert len(report.choices) <= 3, report.choices
    assert report.nondeterminism is None, report.nondeterminism
    for _ in range(3):
        with pytest.raises(AssertionError):
            replay(bug, report.token or "", network=network)


@pytest.mark.parametrize(("name", "fn", "explored", "fault"), CASES, ids=[c[0] for c in CASES])
def test_the_bug_passes_on_a_perfect_network_and_the_fix_never_fails(
    name: str, fn: Callable[[bool], Awaitable[None]], explored: tuple[str, ...], fault: str
) -> None:
    import glassloop

    glassloop.run(fn(False), network=net(explored), virtual_time=True)  # loopback-like: passes
    report = explore(program(fn, fixed=True), runs=300, seed=0, network=net(explored))
    assert not report.failed, str(report)
