"""I/O rows: echo servers on the loop under test, loaded by io_client.py in another process.

Three server styles -- a ``Protocol`` that writes back what ``data_received``
got, asyncio streams (``read`` / ``write`` / ``drain``) and a
``BufferedProtocol`` reading into one preallocated buffer -- over TCP and Unix
sockets, at 1, 10 and 100 KiB messages and 1, 10 and 100 connections; and a
UDP datagram echo.  The client times the round trips (its own perf_counter,
after every connection has done one untimed round trip), so the value is the
wall time of a fixed amount of work.

    python benchmarks/bench_io.py --loop uvloop --row tcp_protocol_1k_c10 --size smoke
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable
from functools import partial
from typing import Any, cast

from _common import Measurement, Row, Size, child_main, cpu_seconds

CLIENT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "io_client.py")

#: Message sizes: label -> bytes.
SIZES = {"1k": 1024, "10k": 10 * 1024, "100k": 100 * 1024}
#: Round trips per row, over all connections together, by message size.
FULL_ROUND_TRIPS = {"1k": 25_000, "10k": 20_000, "100k": 8_000}
SMOKE_ROUND_TRIPS = {"1k": 200, "10k": 100, "100k": 20}
CONNS = (1, 10, 100)
UDP_FULL, UDP_SMOKE = 20_000, 200

READ_SIZE = 256 * 1024


# -- the client process -------------------------------------------------------


def spawn_client(*args: str) -> subprocess.Popen[bytes]:
    """Start io_client.py with ``args``; stdin and stdout are pipes, stderr is ours."""
    return subprocess.Popen(
        [sys.executable, CLIENT, *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )


def process_exit(proc: subprocess.Popen[bytes]) -> asyncio.Future[int]:
    """A future for ``proc``'s exit status, waited for in a plain thread.

    A thread (not the loop's child watcher or executor) so that every loop
    sees the same thing: one wake-up through call_soon_threadsafe.
    """
    loop = asyncio.get_running_loop()
    future: asyncio.Future[int] = loop.create_future()

    def settle(status: int) -> None:
        if not future.done():
            future.set_result(status)

    def wait() -> None:
        status = proc.wait()
        loop.call_soon_threadsafe(settle, status)

    threading.Thread(target=wait, name="client-waiter", daemon=True).start()
    return future


def client_result(proc: subprocess.Popen[bytes], status: int) -> dict[str, Any]:
    assert proc.stdout is not None
    out = proc.stdout.read().decode(errors="replace").strip()
    if status != 0 or not out:
        raise RuntimeError(f"io_client exited with status {status} (its stderr is above)")
    result: dict[str, Any] = json.loads(out.splitlines()[-1])
    return result


# -- the servers --------------------------------------------------------------


class EchoProtocol(asyncio.Protocol):
    """Writes back whatever arrives."""

    transport: asyncio.Transport

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's and rloop's transports are not asyncio.Transport subclasses.
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self.transport.write(data)


class EchoBufferedProtocol(asyncio.BufferedProtocol):
    """Reads into one buffer shared by every connection, writes a copy back.

    The copy is needed: a transport may keep what it could not send yet, and
    the next read reuses the buffer.
    """

    buffer = memoryview(bytearray(READ_SIZE))
    transport: asyncio.Transport

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's and rloop's transports are not asyncio.Transport subclasses.
        self.transport = cast(asyncio.Transport, transport)

    def get_buffer(self, sizehint: int) -> memoryview:
        return self.buffer

    def buffer_updated(self, nbytes: int) -> None:
        self.transport.write(bytes(self.buffer[:nbytes]))


async def stream_echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while data := await reader.read(READ_SIZE):
        writer.write(data)
        await writer.drain()
    writer.close()


async def start_server(kind: str, family: str, where: str) -> tuple[asyncio.AbstractServer, str]:
    """Start an echo server of ``kind``; return it and the address for the client."""
    loop = asyncio.get_running_loop()
    factory: Callable[[], asyncio.BaseProtocol]
    if kind == "protocol":
        factory = EchoProtocol
    elif kind == "buffered":
        factory = EchoBufferedProtocol
    server: asyncio.AbstractServer
    if family == "tcp":
        if kind == "streams":
            server = await asyncio.start_server(stream_echo, "127.0.0.1", 0, backlog=1024)
        else:
            server = await loop.create_server(factory, "127.0.0.1", 0, backlog=1024)
        port = server.sockets[0].getsockname()[1]
        return server, f"127.0.0.1:{port}"
    path = os.path.join(where, "echo.sock")
    if kind == "streams":
        server = await asyncio.start_unix_server(stream_echo, path, backlog=1024)
    else:
        server = await loop.create_unix_server(factory, path, backlog=1024)
    return server, path


async def echo_row(family: str, kind: str, size_label: str, conns: int, size: Size) -> Measurement:
    total = (FULL_ROUND_TRIPS if size == "full" else SMOKE_ROUND_TRIPS)[size_label]
    rounds = max(1, total // conns)
    nbytes = SIZES[size_label]
    with tempfile.TemporaryDirectory(prefix="glassloop-bench-") as where:
        server, address = await start_server(kind, family, where)
        cpu_before = cpu_seconds()
        proc = spawn_client(
            "echo",
            "--family",
            family,
            "--address",
            address,
            "--size",
            str(nbytes),
            "--conns",
            str(conns),
            "--rounds",
            str(rounds),
        )
        status = await process_exit(proc)
        server_cpu = cpu_seconds() - cpu_before
        result = client_result(proc, status)
        server.close()
    return Measurement(
        result["elapsed"],
        "s",
        {
            "message_bytes": nbytes,
            "connections": conns,
            "round_trips": result["round_trips"],
            "server_cpu_s": server_cpu,
        },
    )


class UDPEcho(asyncio.DatagramProtocol):
    transport: asyncio.DatagramTransport

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        self.transport.sendto(data, addr)


async def udp_echo(size_label: str, size: Size) -> Measurement:
    rounds = UDP_FULL if size == "full" else UDP_SMOKE
    nbytes = SIZES[size_label]
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(
        UDPEcho, local_addr=("127.0.0.1", 0), family=socket.AF_INET
    )
    port = transport.get_extra_info("sockname")[1]
    cpu_before = cpu_seconds()
    proc = spawn_client(
        "udp", "--address", f"127.0.0.1:{port}", "--size", str(nbytes), "--rounds", str(rounds)
    )
    status = await process_exit(proc)
    server_cpu = cpu_seconds() - cpu_before
    result = client_result(proc, status)
    transport.close()
    return Measurement(
        result["elapsed"],
        "s",
        {
            "datagram_bytes": nbytes,
            "round_trips": result["round_trips"],
            "resent": result["resent"],
            "server_cpu_s": server_cpu,
        },
    )


def _rows() -> list[Row]:
    rows = []
    names = {"protocol": "Protocol", "streams": "streams", "buffered": "BufferedProtocol"}
    for family in ("tcp", "unix"):
        for kind in ("protocol", "streams", "buffered"):
            for size_label in SIZES:
                for conns in CONNS:
                    label = (
                        f"{family.upper() if family == 'tcp' else 'Unix'} {names[kind]} echo, "
                        f"{size_label[:-1]} KiB × {conns} conn"
                    )
                    rows.append(
                        Row(
                            f"{family}_{kind}_{size_label}_c{conns}",
                            "io",
                            label,
                            "s",
                            partial(echo_row, family, kind, size_label, conns),
                        )
                    )
    for size_label in ("1k", "10k"):
        rows.append(
            Row(
                f"udp_echo_{size_label}",
                "io",
                f"UDP echo, {size_label[:-1]} KiB datagrams",
                "s",
                partial(udp_echo, size_label),
            )
        )
    return rows


ROWS: dict[str, Row] = {row.id: row for row in _rows()}

if __name__ == "__main__":
    child_main(ROWS)
