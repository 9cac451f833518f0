"""A small service with a handler that blocks its loop, for docs/observe.md.

Each request asks for a "report"; building it calls ``lookup``, a blocking
function (a synchronous database driver, say: here ``time.sleep``).  Called
straight from the handler it stops the whole loop, so ten concurrent
requests take ten lookups one after the other.  With ``--fixed`` it runs in a
thread (``asyncio.to_thread``) and the ten overlap.

    glassloop run --detect-blocking 0.1 --trace out.json examples/observe_blocking.py
    glassloop run examples/observe_blocking.py --fixed

The program serves on a free loopback port, sends itself ``--requests``
concurrent requests, prints how long they took, and exits.
"""

from __future__ import annotations

import argparse
import asyncio
import time


def lookup(key: str) -> str:
    """The blocking call: a synchronous driver waiting for its server."""
    time.sleep(0.15)
    return key.upper()


async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, fixed: bool) -> None:
    key = (await reader.readline()).decode().strip()
    if fixed:
        report = await asyncio.to_thread(lookup, key)
    else:
        report = lookup(key)  # blocks the loop: every other request waits
    writer.write(f"{report}\n".encode())
    await writer.drain()
    writer.close()
    await writer.wait_closed()


async def client(port: int, key: str) -> str:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"{key}\n".encode())
    answer = (await reader.readline()).decode().strip()
    writer.close()
    await writer.wait_closed()
    return answer


async def main(requests: int, fixed: bool) -> None:
    server = await asyncio.start_server(
        lambda r, w: handle(r, w, fixed), "127.0.0.1", 0, reuse_address=True
    )
    port = server.sockets[0].getsockname()[1]
    async with server:
        start = time.perf_counter()
        answers = await asyncio.gather(*(client(port, f"key{i}") for i in range(requests)))
        elapsed = time.perf_counter() - start
    assert answers == [f"KEY{i}" for i in range(requests)]
    print(f"{requests} requests in {elapsed:.2f} s ({'fixed' if fixed else 'blocking'} handler)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=10)
    parser.add_argument("--fixed", action="store_true", help="run the lookup in a thread")
    options = parser.parse_args()
    asyncio.run(main(options.requests, options.fixed))
