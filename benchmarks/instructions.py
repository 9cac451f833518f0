"""Instructions per operation, counted by callgrind: figures that do not wobble with the machine.

Wall-clock rows (run.py) need alternating runs on a quiet machine; an
instruction count is the same whatever else the machine does, so it is the
figure to compare one change against the next.  Each workload runs under
``valgrind --tool=callgrind`` at two sizes and the difference is divided by
the difference in size, which cancels start-up and imports.

    python benchmarks/instructions.py                       # every row, glassloop and asyncio
    python benchmarks/instructions.py --rows chain,pingpong --loops glassloop,asyncio,uvloop
    python benchmarks/instructions.py --workload glassloop spawn 1000   # one run, no valgrind
    python benchmarks/instructions.py --loops glassloop-compiled,glassloop-pure  # both builds
    python benchmarks/instructions.py --rows aiohttp --loops glassloop,glassloop+detector \
        --loop-thread   # the loop thread alone, not the watchdog

Rows (one "op" each): ``chain`` a call_soon that schedules the next;
``sleep0`` one round of 10 tasks each doing ``await asyncio.sleep(0)``;
``spawn`` create_task of a tiny coroutine, gathered; ``spawnonly`` the same
without gather; ``pingpong`` a set_result/await round trip between two
tasks; ``timers`` a call_later with a 0-20 ms delay, all fired; ``rearm`` a
timer cancelled and armed again with call_later (ten of them, each once a
turn: an HTTP server's keep-alive timers); ``futs`` an
``await`` of a future that a call_soon completes; ``aiohttp`` one request to
bench_http.py's aiohttp hello server, sent by a client process (plain
blocking sockets, 10 keep-alive connections each with one request in flight)
that valgrind does not follow: the count is the server's alone; ``fastapi``
one ``POST /add`` to bench_http.py's server of the demo's FastAPI math API on
uvicorn, the same way; ``echo`` and
``streams`` one 1 KiB round trip to bench_io.py's TCP echo servers (a
``Protocol``; asyncio streams), one connection, from io_client.py in another
process, likewise not counted; ``udp`` one 1 KiB datagram round trip to
bench_io.py's UDP echo, the same way.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Coroutine
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_sched  # the scheduling rows' own bodies
from _common import BUILD_LOOP_NAMES, glassloop_build, loop_environment, loop_factory
from bench_http import ADD_BODY

ROWS = (
    "chain",
    "sleep0",
    "spawn",
    "spawnonly",
    "pingpong",
    "timers",
    "rearm",
    "futs",
    "aiohttp",
    "fastapi",
    "echo",
    "streams",
    "udp",
)
SIZES = {
    "sleep0": (2_000, 6_000),
    "spawn": (10_000, 30_000),
    "spawnonly": (10_000, 30_000),
    # Both sizes past the point where an observer's ring is full (the
    # Recorder's 100 000 records: ~10 a request): filling a ring keeps every
    # object it holds alive, which sets off garbage collections that a full
    # ring, dropping one record per record added, no longer causes.
    "aiohttp": (12_000, 18_000),
    "fastapi": (6_000, 12_000),
    "echo": (10_000, 30_000),
    "streams": (10_000, 30_000),
    "udp": (10_000, 30_000),
}
#: The aiohttp row's client: connections, each with one request in flight.
HTTP_CONNECTIONS = 10
HTTP_REQUESTS = {
    "aiohttp": (b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", b"Hello, World!"),
    "fastapi": (
        b"POST /add HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n%s" % (len(ADD_BODY), ADD_BODY),
        b'{"result":5}',
    ),
}
#: The echo rows' message.
ECHO_BYTES = 1024
DEFAULT_SIZES = (20_000, 60_000)
#: An observed loop's sizes, where they differ: past the Recorder's ring
#: filling (one record a callback on the chain), for the reason given for
#: aiohttp above.  Counted between 20 000 and 60 000 callbacks, a traced
#: chain also paid for the collections of a filling ring and, at exit, for
#: freeing every record kept: about 0.8k instructions a callback more than a
#: long run pays (a full ring frees one old record per new one instead).
OBSERVED_SIZES = {"chain": (120_000, 160_000)}


def new_loop(name: str) -> asyncio.AbstractEventLoop:
    if name == "glassloop":
        import glassloop

        return glassloop.new_event_loop()
    if name.startswith(("glassloop+", "glassloop-")):  # observed (+trace...), a build (-pure...)
        return loop_factory(name)()
    if name == "uvloop":
        import uvloop

        return uvloop.new_event_loop()
    return asyncio.new_event_loop()


Workload = Callable[[], Coroutine[Any, Any, None]]


def workloads(loop: asyncio.AbstractEventLoop, n: int) -> dict[str, Workload]:
    """The rows, at size n; those shared with bench_sched.py are its own bodies."""

    async def spawnonly() -> None:
        tasks = [loop.create_task(bench_sched.tiny(i)) for i in range(n)]
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        assert tasks[-1].done()

    async def futs() -> None:
        for _ in range(n):
            fut = loop.create_future()
            loop.call_soon(fut.set_result, None)
            await fut

    async def http_client_process(row: str, port: int) -> None:
        client = await asyncio.create_subprocess_exec(
            sys.executable, os.path.abspath(__file__), "--http-client", row, str(port), str(n)
        )
        assert await client.wait() == 0, "the HTTP client failed"

    async def aiohttp() -> None:
        from bench_http import start_hello

        runner, port = await start_hello()
        try:
            await http_client_process("aiohttp", port)
        finally:
            await runner.cleanup()

    async def fastapi() -> None:
        from bench_http import start_math_api

        stop, port = await start_math_api()
        try:
            await http_client_process("fastapi", port)
        finally:
            await stop()

    async def io_client(mode: str, address: str) -> None:
        """Run io_client.py's ``mode`` for ``n`` round trips of ECHO_BYTES against ``address``."""
        import bench_io

        client = await asyncio.create_subprocess_exec(
            sys.executable,
            bench_io.CLIENT,
            mode,
            "--address",
            address,
            "--size",
            str(ECHO_BYTES),
            "--rounds",
            str(n),
            stdout=asyncio.subprocess.DEVNULL,
        )
        assert await client.wait() == 0, f"the {mode} client failed"

    async def echo(kind: str) -> None:
        import bench_io

        server, address = await bench_io.start_server(kind, "tcp", "")
        try:
            await io_client("echo", address)
        finally:
            server.close()

    async def udp() -> None:
        import socket

        import bench_io

        transport, _ = await loop.create_datagram_endpoint(
            bench_io.UDPEcho, local_addr=("127.0.0.1", 0), family=socket.AF_INET
        )
        try:
            await io_client("udp", f"127.0.0.1:{transport.get_extra_info('sockname')[1]}")
        finally:
            transport.close()

    return {
        "chain": lambda: bench_sched.chain(n),
        "sleep0": lambda: bench_sched.switching(10, n),
        "spawn": lambda: bench_sched.spawn(n),
        "spawnonly": spawnonly,
        "pingpong": lambda: bench_sched.pingpong(n),
        "timers": lambda: bench_sched.timers(bench_sched.timer_delays(n)),
        "rearm": lambda: bench_sched.rearm(n),
        "futs": futs,
        "aiohttp": aiohttp,
        "fastapi": fastapi,
        "echo": lambda: echo("protocol"),
        "streams": lambda: echo("streams"),
        "udp": udp,
    }


def http_client(row: str, port: int, n: int) -> None:
    """Send ``n`` of ``row``'s requests over HTTP_CONNECTIONS keep-alive connections.

    Each connection has one request in flight at a time.
    """
    import selectors
    import socket

    request, expect = HTTP_REQUESTS[row]
    selector = selectors.DefaultSelector()
    buffers: dict[socket.socket, bytes] = {}
    sent = done = 0
    for _ in range(min(HTTP_CONNECTIONS, n)):
        conn = socket.create_connection(("127.0.0.1", port))
        conn.sendall(request)
        sent += 1
        buffers[conn] = b""
        selector.register(conn, selectors.EVENT_READ)
    while done < n:
        for key, _ in selector.select(timeout=30):
            conn = key.fileobj
            assert isinstance(conn, socket.socket)
            data = conn.recv(65536)
            if not data:
                raise RuntimeError("the server closed a connection")
            buffered = buffers[conn] + data
            head, sep, body = buffered.partition(b"\r\n\r\n")
            if not sep:
                buffers[conn] = buffered
                continue
            length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
            if len(body) < length:
                buffers[conn] = buffered
                continue
            assert body[:length] == expect, body
            buffers[conn] = body[length:]
            done += 1
            if sent < n:
                conn.sendall(request)
                sent += 1
    for conn in buffers:
        conn.close()


def run_workload(loop_name: str, row: str, n: int) -> None:
    # (Imported before the loop runs: no blocked loop.)
    if row == "aiohttp":
        import aiohttp.web  # noqa: F401
    elif row == "fastapi":
        import uvicorn  # noqa: F401

        import glassloop.apps.math_api  # noqa: F401
    loop = new_loop(loop_name)
    try:
        loop.run_until_complete(workloads(loop, n)[row]())
    finally:
        loop.close()


def count(loop_name: str, row: str, n: int, loop_thread: bool = False) -> int:
    """Instructions of one whole process running ``row`` at size ``n``.

    ``loop_thread``: of its main thread (the loop's) alone.  An observer's
    watchdog thread wakes every few milliseconds of *wall* time, and under
    valgrind a run takes some fifty times longer, so counted per operation
    it would weigh fifty times what it weighs at full speed.
    """
    with tempfile.TemporaryDirectory() as folder:
        out_file = os.path.join(folder, "callgrind.out")
        cmd = [
            "valgrind",
            "--tool=callgrind",
            f"--callgrind-out-file={out_file}",
            *(["--separate-threads=yes"] if loop_thread else []),
            sys.executable,
            os.path.abspath(__file__),
            "--workload",
            loop_name,
            row,
            str(n),
        ]
        env = loop_environment(loop_name, dict(os.environ))
        out = subprocess.run(cmd, capture_output=True, text=True, check=False, env=env)
        match = re.search(r"Collected : (\d+)", out.stderr)
        if out.returncode != 0 or match is None:
            raise RuntimeError(f"{' '.join(cmd)} failed:\n{out.stderr[-2000:]}")
        if not loop_thread:
            return int(match.group(1))
        with open(out_file + "-01") as f:  # thread 1: the main thread
            totals = re.search(r"^totals: (\d+)", f.read(), re.MULTILINE)
        if totals is None:
            raise RuntimeError(f"no totals in {out_file}-01")
        return int(totals.group(1))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", default=",".join(ROWS))
    parser.add_argument("--loops", default="glassloop,asyncio")
    parser.add_argument("--workload", nargs=3, metavar=("LOOP", "ROW", "N"))
    parser.add_argument("--http-client", nargs=3, metavar=("ROW", "PORT", "N"))
    parser.add_argument(
        "--loop-thread",
        action="store_true",
        help="count the main (loop) thread alone, not an observer's watchdog thread",
    )
    args = parser.parse_args(argv)
    if args.http_client:
        row, port, n = args.http_client
        http_client(row, int(port), int(n))
        return 0
    if args.workload:
        loop_name, row, n = args.workload
        run_workload(loop_name, row, int(n))
        return 0
    if shutil.which("valgrind") is None:
        print("valgrind is not installed (apt-get install valgrind)", file=sys.stderr)
        return 2
    rows = [r for r in args.rows.split(",") if r]
    loops = [name for name in args.loops.split(",") if name]
    unknown = [r for r in rows if r not in ROWS]
    if unknown:
        parser.error(f"unknown rows {unknown}; rows are {', '.join(ROWS)}")
    what = "the loop thread's instructions" if args.loop_thread else "instructions"
    print(f"{what} per op (callgrind), Python {sys.version.split()[0]}")
    if any(name == "glassloop" or name.startswith("glassloop+") for name in loops):
        print(f"glassloop: {glassloop_build()}")
    for name in loops:
        if name in BUILD_LOOP_NAMES:
            build = subprocess.run(
                [sys.executable, "-c", "import glassloop.build as b; print(b.describe())"],
                capture_output=True,
                text=True,
                env=loop_environment(name, dict(os.environ)),
                check=False,
            ).stdout.strip()
            print(f"{name}: {build or 'glassloop does not import'}")
    print("| row | " + " | ".join(loops) + " |")
    print("|---|" + "---:|" * len(loops))
    for row in rows:
        cells = []
        for loop_name in loops:
            small, large = SIZES.get(row, DEFAULT_SIZES)
            if loop_name.startswith("glassloop+"):
                small, large = OBSERVED_SIZES.get(row, (small, large))
            big = count(loop_name, row, large, args.loop_thread)
            per_op = (big - count(loop_name, row, small, args.loop_thread)) / (large - small)
            cells.append(f"{per_op:,.0f}")
        print(f"| {row} | " + " | ".join(cells) + " |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
