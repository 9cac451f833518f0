"""The echo clients of ``test_stress_echo``, run as a second process.

Usage (the test starts it; by hand only to debug)::

    python tests/stress/echo_client.py --loop glassloop --tcp 127.0.0.1 PORT \\
        --connections 200 --messages 4 --seed 1

It opens every connection first, each with its first message echoed (a
bounded number in flight, so the server's accept queue never overflows), so
all of them are open at once; then each sends its other messages one at a
time and checks each echo's length and CRC-32; then it closes them all. It
prints one JSON object on stdout: per connection the bytes sent and their
CRC-32 (for the server side to compare with what it received), and any
errors. The exit status is 0 only if every echo came back intact.

Why a second process: a server and its clients on one loop share one
scheduler, so the loop's FIFO order lines their reads and writes up in
lockstep, which is not what a server sees in production and hides races;
two processes also use both cores and keep the server's descriptor count at
one per connection (10 000 connections in one process would need 20 000).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import resource
import sys
import time
from collections.abc import Iterator
from typing import Any

from stress_support import (
    LOOP_NAMES,
    MAX_CONNECTING,
    MAX_MESSAGE,
    EchoClient,
    ensure_fd_limit,
    loop_factory_for,
    message_sizes,
)

#: Errors quoted in the report; the count is always complete.
MAX_QUOTED_ERRORS = 20


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--loop", choices=LOOP_NAMES, required=True)
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--tcp", nargs=2, metavar=("HOST", "PORT"))
    where.add_argument("--unix", metavar="PATH")
    parser.add_argument("--connections", type=int, required=True)
    parser.add_argument("--messages", type=int, required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--timeout", type=float, default=60.0)
    return parser.parse_args(argv)


def script(index: int, args: argparse.Namespace) -> Iterator[bytes]:
    """Connection ``index``'s messages, made as they are sent (they would not all fit)."""
    rng = random.Random(args.seed * 1_000_003 + index)
    sizes = message_sizes(rng, args.messages)
    if index == 0:
        # The edges are always covered, whatever the dice say.
        sizes[0] = 1
        sizes[-1] = MAX_MESSAGE
    for size in sizes:
        yield rng.randbytes(size)


async def connect(
    args: argparse.Namespace, gate: asyncio.Semaphore, index: int
) -> tuple[EchoClient, Iterator[bytes]]:
    """Connect and exchange the first message, holding one of the gate's places.

    Waiting for the first echo (not just the connect) bounds the connections
    the server has not accepted yet: a Unix connect completes as soon as it
    is queued, and a queue beyond the listen backlog makes asyncio (and
    glassloop) return a "connected" transport over an unconnected socket.
    """
    loop = asyncio.get_running_loop()
    messages = script(index, args)
    async with gate:
        if args.unix is not None:
            transport, protocol = await loop.create_unix_connection(EchoClient, args.unix)
        else:
            host, port = args.tcp
            transport, protocol = await loop.create_connection(EchoClient, host, int(port))
        try:
            await protocol.exchange(next(messages))
        except BaseException:
            transport.abort()
            raise
    return protocol, messages


async def talk(client: EchoClient, messages: Iterator[bytes]) -> None:
    for message in messages:
        await client.exchange(message)


async def run(args: argparse.Namespace) -> dict[str, Any]:
    errors: list[str] = []
    started = time.monotonic()
    async with asyncio.timeout(args.timeout):
        gate = asyncio.Semaphore(MAX_CONNECTING)
        connected = await asyncio.gather(
            *(connect(args, gate, i) for i in range(args.connections)), return_exceptions=True
        )
        opened = [c for c in connected if isinstance(c, tuple)]
        clients = [client for client, _ in opened]
        errors.extend(f"connect: {c!r}" for c in connected if not isinstance(c, tuple))
        all_open = time.monotonic()
        # Every connection is open now; the server's peak must equal their number.
        outcomes = await asyncio.gather(
            *(talk(client, messages) for client, messages in opened), return_exceptions=True
        )
        errors.extend(f"connection {i}: {o!r}" for i, o in enumerate(outcomes) if o is not None)
        exchanged = time.monotonic()
        for client in clients:
            assert client.transport is not None
            client.transport.close()
        for lost in await asyncio.gather(*(client.closed for client in clients)):
            if lost is not None:
                errors.append(f"connection_lost({lost!r}) on a clean close")
    return {
        "loop": args.loop,
        "connected": len(clients),
        "streams": [[c.sent_bytes, c.sent_crc] for c in clients],
        "errors": errors[:MAX_QUOTED_ERRORS],
        "error_count": len(errors),
        "peak_rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        "seconds": {
            "connect": round(all_open - started, 3),
            "exchange": round(exchanged - all_open, 3),
            "close": round(time.monotonic() - exchanged, 3),
        },
    }


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    reason = ensure_fd_limit(args.connections + 64)
    if reason is not None:
        print(json.dumps({"error_count": 1, "errors": [reason]}))
        return 2
    with asyncio.Runner(loop_factory=loop_factory_for(args.loop)) as runner:
        report = runner.run(run(args))
    print(json.dumps(report))
    return 0 if report["error_count"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
