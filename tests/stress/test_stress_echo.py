"""Many concurrent connections echoing random-sized messages, none corrupted.

The server is a protocol-based echo server on the loop under test, in this
process (a plain ``Protocol`` and a ``BufferedProtocol``, which transports
feed through a different path); the clients run in a second process (``echo_client.py``) on the same
kind of loop. That module's docstring says why two processes. Both ends keep
CRC-32s: the client checks each echo, and the per-connection totals of what
the client sent must equal what the server received.
"""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest
from stress_support import (
    BACKLOG,
    CLIENT_PEAK_RSS_KIB,
    BufferedEchoServer,
    EchoServer,
    HandlerCalls,
    ServerStats,
    Size,
    ensure_fd_limit,
)

CLIENT = Path(__file__).with_name("echo_client.py")
#: Descriptors beyond one per connection: the loop's own, pytest's, the listener.
FD_HEADROOM = 256
#: After the clients exit, how long the server may take to see every EOF.
CLOSE_GRACE = 30.0


def _ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


FAMILIES = [
    pytest.param("tcp4", id="tcp4"),
    pytest.param(
        "tcp6",
        id="tcp6",
        marks=pytest.mark.skipif(not _ipv6_loopback(), reason="no IPv6 loopback (::1) here"),
    ),
    pytest.param("unix", id="unix"),
]


async def _start_server(
    family: str, reads: str, stats: ServerStats, tmp: Path
) -> tuple[asyncio.AbstractServer, list[str]]:
    """An echo server for ``family`` and the client's arguments to reach it."""
    loop = asyncio.get_running_loop()
    protocol = EchoServer if reads == "plain" else BufferedEchoServer
    if family == "unix":
        path = str(tmp / "echo.sock")
        server = await loop.create_unix_server(lambda: protocol(stats), path, backlog=BACKLOG)
        return server, ["--unix", path]
    host = "127.0.0.1" if family == "tcp4" else "::1"
    server = await loop.create_server(lambda: protocol(stats), host, 0, backlog=BACKLOG)
    port = server.sockets[0].getsockname()[1]
    return server, ["--tcp", host, str(port)]


@pytest.mark.parametrize("reads", ["plain", "buffered"])
@pytest.mark.parametrize("family", FAMILIES)
def test_concurrent_connections_echo_every_byte(
    loop: asyncio.AbstractEventLoop,
    loop_name: str,
    handler_calls: HandlerCalls,
    size: Size,
    family: str,
    reads: str,
    short_tmp: Path,
) -> None:
    """All connections open at once, every message echoed intact, every close clean."""
    n = size.echo_connections
    reason = ensure_fd_limit(n + FD_HEADROOM)
    if reason is not None:
        pytest.skip(f"{size.name} size: {reason}")

    async def main() -> tuple[dict[str, Any], ServerStats]:
        stats = ServerStats()
        server, where = await _start_server(family, reads, stats, short_tmp)
        command = [
            sys.executable,
            str(CLIENT),
            "--loop",
            loop_name,
            *where,
            "--connections",
            str(n),
            "--messages",
            str(size.echo_messages),
            "--seed",
            str(n),
            "--timeout",
            str(size.timeout),
        ]
        # Files, not pipes: nobody has to drain them while we serve.
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            child = subprocess.Popen(command, stdout=out, stderr=err)
            try:
                async with asyncio.timeout(size.timeout + CLOSE_GRACE):
                    # The loop under test serves while a worker thread waits
                    # for the child: the child's exit is our only signal.
                    status = await loop.run_in_executor(None, child.wait)
                    out.seek(0)
                    err.seek(0)
                    stdout, stderr = out.read().decode(), err.read().decode()
                    assert status == 0, f"echo client exited {status}:\n{stdout}\n{stderr}"
                    report: dict[str, Any] = json.loads(stdout)
                    CLIENT_PEAK_RSS_KIB.append(report["peak_rss_kib"])
                    await stats.wait_lost(n)
            finally:
                if child.poll() is None:
                    child.kill()
                    child.wait()
                server.close()
                await server.wait_closed()
        return report, stats

    report, stats = loop.run_until_complete(main())

    assert report["errors"] == [] and report["error_count"] == 0
    assert report["connected"] == n
    assert stats.peak == n, "the clients hold every connection open at once"
    assert stats.lost == n and stats.open == 0
    assert [p.lost for p in stats.protocols if p.lost is not None] == []
    # What each client sent is what one server-side connection received, no
    # more, no less, in the same order (CRC-32 is position-sensitive).
    client_streams = sorted(tuple(s) for s in report["streams"])
    server_streams = sorted((p.received_bytes, p.received_crc) for p in stats.protocols)
    assert server_streams == client_streams
    assert all(nbytes > 0 for nbytes, _ in server_streams)
    assert handler_calls == []
