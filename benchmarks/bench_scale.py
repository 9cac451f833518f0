"""Scale rows: memory per idle task and per idle TCP connection, cost of a timer op.

Memory is the growth of this process's resident set (RSS, after a full
garbage collection) divided by the number of things added, so it includes
everything they drag along (an idle task's coroutine frame and the future it
waits on; an idle connection's socket, transport, protocol and the loop's
poller entry).

    python benchmarks/bench_scale.py --loop asyncio --row mem_idle_task --size smoke
"""

from __future__ import annotations

import asyncio
import random
from functools import partial
from time import perf_counter
from typing import Any, cast

from _common import Measurement, Row, Size, child_main, raise_nofile, settled_rss
from bench_io import client_result, process_exit, spawn_client


async def mem_idle_task(size: Size) -> Measurement:
    """Bytes per task awaiting its own future (created with loop.create_future)."""
    n = 100_000 if size == "full" else 5_000
    loop = asyncio.get_running_loop()

    async def idle(future: asyncio.Future[None]) -> None:
        await future

    # The lists that keep everything alive exist before the baseline, so
    # their slots are not counted.
    futures: list[asyncio.Future[None] | None] = [None] * n
    tasks: list[asyncio.Task[None] | None] = [None] * n
    before = settled_rss()
    for i in range(n):
        future: asyncio.Future[None] = loop.create_future()
        futures[i] = future
        tasks[i] = loop.create_task(idle(future))
    await asyncio.sleep(0)  # every task takes its first step and blocks on its future
    await asyncio.sleep(0)
    after = settled_rss()
    return Measurement((after - before) / n, "bytes", {"tasks": n, "rss_delta": after - before})


async def mem_idle_tcp_connection(size: Size) -> Measurement:
    """Bytes per accepted, idle TCP connection on the server side."""
    n = 10_000 if size == "full" else 200
    batch = 500 if size == "full" else 50
    raise_nofile(n + 256)
    loop = asyncio.get_running_loop()
    all_connected: asyncio.Future[None] = loop.create_future()
    accepted = 0

    class Idle(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            nonlocal accepted
            accepted += 1
            if accepted % batch == 0 or accepted == n:
                # Let the client open its next batch (it waits for this byte).
                cast(asyncio.Transport, transport).write(b"k")
            if accepted == n and not all_connected.done():
                all_connected.set_result(None)

    server = await loop.create_server(Idle, "127.0.0.1", 0, backlog=1024)
    port = server.sockets[0].getsockname()[1]
    before = settled_rss()
    proc = spawn_client(
        "idle", "--address", f"127.0.0.1:{port}", "--conns", str(n), "--batch", str(batch)
    )
    exited = process_exit(proc)
    waits: list[asyncio.Future[Any]] = [all_connected, exited]
    await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    if not all_connected.done():
        raise RuntimeError(f"the client exited after {accepted} of {n} connections")
    after = settled_rss()
    assert proc.stdin is not None
    proc.stdin.close()  # the client closes its connections and exits
    client_result(proc, await exited)
    server.close()
    return Measurement(
        (after - before) / n, "bytes", {"connections": n, "rss_delta": after - before}
    )


def _noop() -> None:
    pass


async def timer_ops(pending_full: int, size: Size) -> Measurement:
    """Microseconds per call_later + cancel with ``pending`` timers already scheduled.

    The pending timers are due in one to two hours.  Half of the measured
    timers are due in one to two seconds, before every pending one (a push to
    the top of a heap, as a timer that is about to fire), half among the
    pending ones.  Each is cancelled at once; every 1000 operations the loop
    runs one iteration, where loops that drop cancelled timers lazily do so.
    """
    pending = pending_full if size == "full" else pending_full // 100
    ops = 200_000 if size == "full" else 2_000
    loop = asyncio.get_running_loop()
    rng = random.Random(11)
    keep = [loop.call_later(3600.0 * (1.0 + rng.random()), _noop) for _ in range(pending)]
    delays = [(1.0 if i % 2 else 3600.0) * (1.0 + rng.random()) for i in range(ops)]
    await asyncio.sleep(0)
    start = perf_counter()
    for first in range(0, ops, 1000):
        for delay in delays[first : first + 1000]:
            loop.call_later(delay, _noop).cancel()
        await asyncio.sleep(0)
    elapsed = perf_counter() - start
    assert len(keep) == pending
    return Measurement(elapsed / ops * 1e6, "us/op", {"pending": pending, "ops": ops})


def _rows() -> list[Row]:
    rows = [
        Row("mem_idle_task", "scale", "memory per idle task (100k tasks)", "bytes", mem_idle_task),
        Row(
            "mem_idle_tcp_conn",
            "scale",
            "memory per idle TCP connection (10k)",
            "bytes",
            mem_idle_tcp_connection,
        ),
    ]
    for pending, name in ((1_000, "1k"), (10_000, "10k"), (100_000, "100k"), (1_000_000, "1M")):
        rows.append(
            Row(
                f"timer_op_{name}",
                "scale",
                f"timer op (call_later + cancel), {name} pending",
                "us/op",
                partial(timer_ops, pending),
                timeout=300.0,
            )
        )
    return rows


ROWS: dict[str, Row] = {row.id: row for row in _rows()}

if __name__ == "__main__":
    child_main(ROWS)
