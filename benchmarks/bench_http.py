"""HTTP rows: an aiohttp ``hello`` and the demo's FastAPI ``POST /add`` under uvicorn.

The server runs on the loop under test; wrk (another process, 50 connections)
loads it, started from a plain thread once the server listens.  With
``--cpu C`` the server runs on CPU C and wrk, with one thread, on another CPU
(``pin="apart"``): each has a CPU of its own, so the figure is what the
server can serve.  Without it both float and wrk has two threads.  Before
wrk's timed run a few requests go through, so the first requests' lazy
imports and caches are not counted.  The value is wrk's requests/s.

    python benchmarks/bench_http.py --loop glassloop --row aiohttp_hello --size smoke
"""

from __future__ import annotations

import asyncio
import http.client
import importlib.util
import os
import re
import shutil
import socket
import subprocess
import threading
from collections.abc import Awaitable, Callable
from typing import Any

from _common import (
    Measurement,
    Row,
    RowBody,
    RowUnavailable,
    Size,
    child_main,
    cpu_seconds,
    load_cpu,
    on_cpu,
)

HERE = os.path.dirname(os.path.abspath(__file__))
POST_ADD_LUA = os.path.join(HERE, "wrk_post_add.lua")
ADD_BODY = b'{"first_number": 2, "second_number": 3}'
CONNECTIONS = 50
FULL_SECONDS, SMOKE_SECONDS = 4, 1


def wrk_seconds(size: Size) -> int:
    return FULL_SECONDS if size == "full" else SMOKE_SECONDS


def warm_up(port: int, method: str, path: str, body: bytes | None, expect: bytes) -> None:
    """A few requests in series; the first answer must be right."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    headers = {"content-type": "application/json"} if body else {}
    for i in range(50):
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        data = response.read()
        if i == 0 and (response.status != 200 or data != expect):
            raise RuntimeError(f"{method} {path} answered {response.status} {data[:200]!r}")
    conn.close()


def run_wrk(port: int, path: str, seconds: int, script: str | None) -> dict[str, Any]:
    wrk = shutil.which("wrk")
    if wrk is None:
        raise RowUnavailable("wrk is not installed (benchmarks/setup.sh installs it)")
    cpu = load_cpu()
    threads = 2 if cpu is None else 1  # (two threads on one CPU would only take turns)
    cmd = [wrk, f"-t{threads}", f"-c{CONNECTIONS}", f"-d{seconds}s", "--timeout", "10s"]
    if script:
        cmd += ["-s", script]
    cmd.append(f"http://127.0.0.1:{port}{path}")
    out = subprocess.run(
        on_cpu(cpu, cmd), capture_output=True, text=True, timeout=seconds + 60, check=True
    )
    text = out.stdout
    match = re.search(r"Requests/sec:\s*([\d.]+)", text)
    if not match:
        raise RuntimeError(f"wrk printed no Requests/sec:\n{text}\n{out.stderr}")
    result: dict[str, Any] = {"rps": float(match.group(1)), "wrk_threads": threads, "wrk_cpu": cpu}
    if m := re.search(r"(\d+) requests in", text):
        result["requests"] = int(m.group(1))
    if m := re.search(r"Non-2xx or 3xx responses:\s*(\d+)", text):
        result["non_2xx"] = int(m.group(1))
    if m := re.search(r"Socket errors: (.*)", text):
        result["socket_errors"] = m.group(1).strip()
    return result


async def in_thread(fn: Callable[[], dict[str, Any] | None]) -> dict[str, Any] | None:
    """Run ``fn`` in a plain thread; one call_soon_threadsafe brings its result back."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[dict[str, Any] | None] = loop.create_future()

    def settle(value: dict[str, Any] | None, error: BaseException | None) -> None:
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(value)

    def work() -> None:
        try:
            value, error = fn(), None
        except BaseException as exc:
            value, error = None, exc
        loop.call_soon_threadsafe(settle, value, error)

    threading.Thread(target=work, name="load", daemon=True).start()
    return await future


async def load(
    port: int,
    method: str,
    path: str,
    body: bytes | None,
    expect: bytes,
    size: Size,
    script: str | None,
) -> Measurement:
    if shutil.which("wrk") is None:
        raise RowUnavailable("wrk is not installed (benchmarks/setup.sh installs it)")
    await in_thread(lambda: warm_up(port, method, path, body, expect))
    seconds = wrk_seconds(size)
    cpu_before = cpu_seconds()
    result = await in_thread(lambda: run_wrk(port, path, seconds, script))
    server_cpu = cpu_seconds() - cpu_before
    assert result is not None
    if result.get("non_2xx"):
        raise RuntimeError(f"{result['non_2xx']} responses were not 2xx")
    if result.get("requests"):
        # (It includes the load thread's start of wrk, the same for every loop.)
        result["server_cpu_us_per_request"] = server_cpu / result["requests"] * 1e6
    return Measurement(
        result["rps"], "req/s", {"connections": CONNECTIONS, "seconds": seconds, **result}
    )


def listening_socket() -> tuple[socket.socket, int]:
    """A bound, listening TCP socket on loopback, and its port.

    The protocol is given as IPPROTO_TCP, as getaddrinfo gives it when a
    server binds host and port itself: asyncio sets TCP_NODELAY on accepted
    connections only when the listening socket says so, and without it a
    response written in two parts waits for the client's delayed ACK.  The
    port is read here because some loops (rloop) detach the socket object.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(1024)
    sock.setblocking(False)
    return sock, sock.getsockname()[1]


async def start_hello() -> tuple[Any, int]:
    """aiohttp's hello server (GET / answers "Hello, World!") on loopback: its runner and port.

    This row's server, and the one benchmarks/instructions.py counts.
    """
    from aiohttp import web

    async def hello(request: web.Request) -> web.Response:
        return web.Response(text="Hello, World!")

    app = web.Application()
    app.router.add_get("/", hello)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    sock, port = listening_socket()
    await web.SockSite(runner, sock).start()
    return runner, port


async def aiohttp_hello(size: Size) -> Measurement:
    runner, port = await start_hello()
    try:
        return await load(port, "GET", "/", None, b"Hello, World!", size, None)
    finally:
        await runner.cleanup()


async def start_math_api() -> tuple[Callable[[], Awaitable[None]], int]:
    """The demo's FastAPI math API on uvicorn, on loopback: a function stopping it, and its port.

    This row's server, and the one benchmarks/instructions.py counts.
    """
    import uvicorn

    from glassloop.apps.math_api import app

    sock, port = listening_socket()
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on")
    server = uvicorn.Server(config)
    serving = asyncio.ensure_future(server.serve(sockets=[sock]))
    while not server.started:
        if serving.done():
            serving.result()  # startup failed: raise why
            raise RuntimeError("uvicorn stopped before it started")
        await asyncio.sleep(0.01)

    async def stop() -> None:
        server.should_exit = True
        await serving

    return stop, port


async def fastapi_add(size: Size) -> Measurement:
    stop, port = await start_math_api()
    try:
        measurement = await load(
            port, "POST", "/add", ADD_BODY, b'{"result":5}', size, POST_ADD_LUA
        )
        http_impl = "httptools" if importlib.util.find_spec("httptools") else "h11"
        measurement.params["uvicorn_http"] = http_impl
        return measurement
    finally:
        await stop()


def _rows() -> list[Row]:
    rows: list[tuple[str, str, RowBody]] = [
        ("aiohttp_hello", "aiohttp hello (GET /), wrk -c50", aiohttp_hello),
        ("fastapi_add", "FastAPI POST /add on uvicorn, wrk -c50", fastapi_add),
    ]
    return [
        Row(id_, "http", label, "req/s", body, needs=("wrk",), timeout=120.0, pin="apart")
        for id_, label, body in rows
    ]


ROWS: dict[str, Row] = {row.id: row for row in _rows()}

if __name__ == "__main__":
    child_main(ROWS)
