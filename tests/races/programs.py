"""The race corpus: asyncio bug shapes from real projects, each with its fixed twin,
and programs that rely on asyncio's real guarantees.

Every bug passes in asyncio's default order (on an idle machine's loopback it
would pass every time) and fails under some schedule asyncio can produce: a
reply that comes late, two readable sockets handled in the other order,
executor results landing in another order.  The twin is the same program with
the fix.  The guarantee programs assert what asyncio promises (call_soon FIFO,
Lock/Queue fairness, Event waking every waiter, tasks starting in creation
order, gather's order): an explorer that reports them has invented a schedule
asyncio cannot produce.  Most programs talk over real loopback sockets; the
network bugs that only a network fault reveals are in test_net_races.py.

``BUGS`` lists (name, program(fixed: bool), what it uses, the shape's source);
``GUARANTEES`` lists (name, program).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

Program = Callable[[bool], Awaitable[None]]
Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def serve(handler: Handler) -> tuple[asyncio.Server, int]:
    """A loopback server whose connections ``handler`` serves; closed by the caller."""

    async def guarded(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await handler(reader, writer)
        finally:
            writer.close()

    server = await asyncio.start_server(guarded, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


async def upper(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while line := await reader.readline():
        writer.write(line.upper())
        await writer.drain()


async def stop(server: asyncio.Server, *writers: asyncio.StreamWriter) -> None:
    for writer in writers:
        writer.close()
    server.close()
    await server.wait_closed()


# -- 1. lost update: check-then-act across an await ------------------------------------


async def lost_update(fixed: bool) -> None:
    """A handler reads a balance, awaits the database, writes it back.

    Two requests 20 ms apart, 10 ms of database work: they overlap only when
    the first is read late, and then one update is lost.
    """
    state = {"n": 0}
    lock = asyncio.Lock()

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readline()
        async with lock if fixed else _nothing():
            seen = state["n"]
            await asyncio.sleep(0.01)
            state["n"] = seen + 1
        writer.write(b"ok\n")
        await writer.drain()

    server, port = await serve(handler)

    async def client(delay: float) -> None:
        await asyncio.sleep(delay)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"inc\n")
        await reader.readline()
        writer.close()

    try:
        await asyncio.gather(client(0), client(0.02))
    finally:
        await stop(server)
    assert state["n"] == 2, f"lost update: {state['n']}"


class _nothing:  # an async context manager that does nothing
    async def __aenter__(self) -> None:
        return None

    async def __aexit__(self, *exc: object) -> None:
        return None


# -- 2. stale reply: a timed-out connection goes back to the pool ------------------------


async def stale_reply(fixed: bool) -> None:
    """The CVE-2023-28858 shape: after a timeout the reply still comes, to the next caller."""
    server, port = await serve(upper)
    idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []

    async def call(command: bytes) -> bytes | None:
        reader, writer = idle.pop() if idle else await asyncio.open_connection("127.0.0.1", port)
        writer.write(command + b"\n")
        try:
            reply = await asyncio.wait_for(reader.readline(), 0.5)
        except TimeoutError:
            if fixed:
                writer.close()
            else:
                idle.append((reader, writer))
            return None
        idle.append((reader, writer))
        return reply

    try:
        for key in (b"get a", b"get b", b"get c"):
            reply = await call(key)
            assert reply in (None, key.upper() + b"\n"), f"asked {key!r}, got {reply!r}"
    finally:
        await stop(server, *(writer for _, writer in idle))


# -- 3. replies routed to the wrong waiter --------------------------------------------------


async def wrong_waiter(fixed: bool) -> None:
    """A client keeps one FIFO of waiters for two connections: it assumes replies come in
    the order requests went out, which holds on one connection, not across two."""
    server, port = await serve(upper)
    conns = [await asyncio.open_connection("127.0.0.1", port) for _ in range(2)]
    shared: list[asyncio.Future[bytes]] = []
    per_conn: list[list[asyncio.Future[bytes]]] = [[], []]
    loop = asyncio.get_running_loop()

    async def pump(index: int) -> None:
        reader = conns[index][0]
        while line := await reader.readline():
            waiters = per_conn[index] if fixed else shared
            waiters.pop(0).set_result(line)

    pumps = [asyncio.create_task(pump(i)) for i in range(2)]

    async def request(index: int, word: bytes) -> bytes:
        waiter = loop.create_future()
        (per_conn[index] if fixed else shared).append(waiter)
        conns[index][1].write(word + b"\n")
        return await waiter

    try:
        replies = await asyncio.gather(request(0, b"first"), request(1, b"second"))
        assert replies == [b"FIRST\n", b"SECOND\n"], f"replies crossed: {replies}"
    finally:
        await stop(server, *(writer for _, writer in conns))
        for task in pumps:
            task.cancel()


# -- 4. executor results assumed in submission order ------------------------------------------


async def executor_order(fixed: bool) -> None:
    """Results collected as jobs finish, then zipped with the inputs as if in order."""
    loop = asyncio.get_running_loop()
    inputs = [3, 5]
    if fixed:
        results = await asyncio.gather(*(loop.run_in_executor(None, _square, n) for n in inputs))
    else:
        results = []
        jobs = [loop.run_in_executor(None, _square, n) for n in inputs]
        for job in jobs:
            job.add_done_callback(lambda done: results.append(done.result()))
        await asyncio.wait(jobs)
    pairs = dict(zip(inputs, results, strict=True))
    assert pairs == {3: 9, 5: 25}, f"results matched to the wrong inputs: {pairs}"


def _square(n: int) -> int:
    time.sleep(0.001)
    return n * n


# -- 5. cache stampede ------------------------------------------------------------------------


async def cache_stampede(fixed: bool) -> None:
    """Two requests for a missing key: the second should find the first's fetch.

    It comes 20 ms after the first and the upstream answers at once, so by
    default the value is cached by then; a late upstream reply lets both fetch.
    """
    calls = []

    async def upstream(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        key = await reader.readline()
        calls.append(key)
        writer.write(b"value of " + key)
        await writer.drain()

    server, port = await serve(upstream)
    cache: dict[str, asyncio.Future[bytes] | bytes] = {}
    loop = asyncio.get_running_loop()

    async def fetch() -> bytes:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"k\n")
        value = await reader.readline()
        writer.close()
        return value

    async def get(delay: float) -> bytes:
        await asyncio.sleep(delay)
        entry = cache.get("k")
        if isinstance(entry, bytes):
            return entry
        if fixed:
            if entry is None:  # single flight: the first caller's fetch is shared
                entry = cache["k"] = loop.create_task(fetch())  # type: ignore[assignment]
            value = await entry  # type: ignore[misc]
        else:
            value = await fetch()
        cache["k"] = value
        return value

    try:
        await asyncio.gather(get(0), get(0.02))
    finally:
        await stop(server)
    assert len(calls) == 1, f"the upstream was asked {len(calls)} times"


# -- 6. a cancelled task leaves shared state half-updated --------------------------------------


async def half_updated(fixed: bool) -> None:
    """A transfer debits, awaits an audit log over the network, then credits; a timeout
    cancels it in between when the log's reply is late."""
    accounts = {"a": 100, "b": 0}
    server, port = await serve(upper)
    reader, writer = await asyncio.open_connection("127.0.0.1", port)

    async def transfer(amount: int) -> None:
        if fixed:
            writer.write(b"audit\n")  # log first; touch the accounts only after
            await reader.readline()
            accounts["a"] -= amount
            accounts["b"] += amount
            return
        accounts["a"] -= amount
        writer.write(b"audit\n")
        await reader.readline()
        accounts["b"] += amount

    try:
        try:
            await asyncio.wait_for(transfer(10), 1.0)
        except TimeoutError:
            pass
    finally:
        await stop(server, writer)
    assert accounts["a"] + accounts["b"] == 100, f"money lost: {accounts}"


# -- 7. a commit retried after a timeout ------------------------------------------------------


async def retried_commit(fixed: bool) -> None:
    """The client times out waiting for "committed" and sends the commit again; the server
    applies it twice unless the request carries an id it remembers."""
    applied: list[str] = []
    seen: set[str] = set()

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while line := await reader.readline():
            request_id, amount = line.decode().split()
            if not fixed or request_id not in seen:
                seen.add(request_id)
                applied.append(amount)
            writer.write(b"committed\n")
            await writer.drain()

    server, port = await serve(handler)
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        for _attempt in range(2):
            writer.write(b"tx-1 10\n")
            try:
                await asyncio.wait_for(reader.readline(), 1.0)
                break
            except TimeoutError:
                continue
    finally:
        await stop(server, writer)
    assert len(applied) <= 1, f"applied {len(applied)} times"


# -- 8. messages interleaved on one stream -----------------------------------------------------


async def interleaved_writes(fixed: bool) -> None:
    """Two tasks each write a header, await a lookup, then write the body, on one stream."""
    server, port = await serve(upper)
    lookup_reader, lookup_writer = await asyncio.open_connection("127.0.0.1", port)
    sink: list[bytes] = []
    lock = asyncio.Lock()

    class Wire:
        def write(self, data: bytes) -> None:
            sink.append(data)

    wire = Wire()
    lookups = asyncio.Lock()

    async def lookup(name: bytes) -> bytes:
        async with lookups:
            lookup_writer.write(name + b"\n")
            return await lookup_reader.readline()

    async def send(name: bytes, delay: float) -> None:
        await asyncio.sleep(delay)
        async with lock if fixed else _nothing():
            wire.write(b"BEGIN " + name)
            body = await lookup(name)
            wire.write(b"BODY " + body.strip())

    try:
        await asyncio.gather(send(b"x", 0), send(b"y", 0.01))
    finally:
        await stop(server, lookup_writer)
    for begin, body in zip(sink[::2], sink[1::2], strict=True):
        assert begin.split()[1].upper() == body.split()[1], f"interleaved: {sink}"


BUGS: list[tuple[str, Program, str, str]] = [
    (
        "lost_update",
        lost_update,
        "loopback",
        "check-then-act across an await (a read-modify-write split by a database call)",
    ),
    (
        "stale_reply",
        stale_reply,
        "loopback",
        "redis/redis-py#2624 and #2665 (CVE-2023-28858/28859): a cancelled command's reply "
        "read by the next command on the pooled connection",
    ),
    (
        "wrong_waiter",
        wrong_waiter,
        "loopback",
        "replies matched to waiters by order across connections (the shape behind "
        "MagicStack/asyncpg#537's 'another operation is in progress' confusion)",
    ),
    (
        "executor_order",
        executor_order,
        "threads",
        "results collected in completion order and zipped with inputs",
    ),
    (
        "cache_stampede",
        cache_stampede,
        "loopback",
        "a cache stampede: concurrent misses all fetch from the upstream",
    ),
    (
        "half_updated",
        half_updated,
        "loopback",
        "a timeout cancels a task between two writes that keep an invariant",
    ),
    (
        "retried_commit",
        retried_commit,
        "loopback",
        "a non-idempotent request retried after a timeout whose reply was late",
    ),
    (
        "interleaved_writes",
        interleaved_writes,
        "loopback",
        "two writers interleave a framed message on one stream across an await",
    ),
]


# -- guarantees asyncio gives: never failing under any legal schedule --------------------------


async def fifo_with_io() -> None:
    """call_soon's FIFO holds while sockets come and go around it."""
    server, port = await serve(upper)
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    loop = asyncio.get_running_loop()
    order: list[int] = []
    for n in range(10):
        loop.call_soon(order.append, n)
        writer.write(b"x\n")
    for _ in range(10):
        await reader.readline()
    await stop(server, writer)
    assert order == list(range(10)), order


async def lock_fairness() -> None:
    """Waiters acquire an asyncio.Lock in the order they asked (with I/O in between)."""
    server, port = await serve(upper)
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    lock = asyncio.Lock()
    order: list[int] = []

    async def worker(n: int) -> None:
        async with lock:
            order.append(n)
            writer.write(b"ping\n")
            await reader.readline()

    await asyncio.gather(*(worker(n) for n in range(5)))
    await stop(server, writer)
    assert order == list(range(5)), order


async def queue_fifo() -> None:
    """Queue getters are served in the order they waited; items in the order put."""
    queue: asyncio.Queue[int] = asyncio.Queue()
    got: list[tuple[int, int]] = []

    async def getter(n: int) -> None:
        got.append((n, await queue.get()))

    getters = [asyncio.create_task(getter(n)) for n in range(4)]
    await asyncio.sleep(0)
    server, port = await serve(upper)
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    for item in range(4):
        writer.write(b"x\n")
        await reader.readline()
        queue.put_nowait(item * 10)
    await asyncio.gather(*getters)
    await stop(server, writer)
    assert sorted(got) == [(0, 0), (1, 10), (2, 20), (3, 30)], got


async def event_wakes_all() -> None:
    """Event.set() wakes every waiter, whenever each got to wait."""
    event = asyncio.Event()
    woken: list[int] = []

    async def waiter(n: int) -> None:
        await event.wait()
        woken.append(n)

    tasks = [asyncio.create_task(waiter(n)) for n in range(5)]
    server, port = await serve(upper)
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"go\n")
    await reader.readline()
    event.set()
    await asyncio.gather(*tasks)
    await stop(server, writer)
    assert sorted(woken) == list(range(5)), woken


async def tasks_start_in_order() -> None:
    """Tasks created in one step start in creation order, and gather keeps its order."""
    started: list[int] = []
    server, port = await serve(upper)

    async def job(n: int) -> int:
        started.append(n)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"%d\n" % n)
        reply = int(await reader.readline())
        writer.close()
        return reply

    results = await asyncio.gather(*(asyncio.create_task(job(n)) for n in range(5)))
    await stop(server)
    assert started == list(range(5)), started
    assert results == list(range(5)), results


async def wakeup_after_earlier_callbacks() -> None:
    """A task woken by a future runs after the callbacks queued before the wake-up."""
    loop = asyncio.get_running_loop()
    order: list[str] = []
    fut: asyncio.Future[None] = loop.create_future()

    async def waiter() -> None:
        await fut
        order.append("task")

    task = asyncio.create_task(waiter())
    await asyncio.sleep(0)
    loop.call_soon(order.append, "before")
    fut.set_result(None)
    loop.call_soon(order.append, "after")
    await task
    await asyncio.sleep(0)
    assert order == ["before", "task", "after"], order


async def sleep_deadlines_in_order() -> None:
    """Sleeps of different lengths end in the order of their deadlines."""
    ended: list[float] = []

    async def sleeper(delay: float) -> None:
        await asyncio.sleep(delay)
        ended.append(delay)

    server, port = await serve(upper)
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    sleepers = [asyncio.create_task(sleeper(d)) for d in (0.3, 0.1, 0.2)]
    writer.write(b"x\n")
    await reader.readline()
    await asyncio.gather(*sleepers)
    await stop(server, writer)
    assert ended == [0.1, 0.2, 0.3], ended


GUARANTEES: list[tuple[str, Callable[[], Awaitable[None]]]] = [
    ("fifo_with_io", fifo_with_io),
    ("lock_fairness", lock_fairness),
    ("queue_fifo", queue_fifo),
    ("event_wakes_all", event_wakes_all),
    ("tasks_start_in_order", tasks_start_in_order),
    ("wakeup_after_earlier_callbacks", wakeup_after_earlier_callbacks),
    ("sleep_deadlines_in_order", sleep_deadlines_in_order),
]
