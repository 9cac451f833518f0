"""anyio's asyncio backend on glassloop (``backend_options={"loop_factory": ...}``).

anyio leans on asyncio's corners -- cancel scopes built on ``Task.cancel`` and
``uncancel``, ``call_soon_threadsafe`` from worker threads, the socket
methods -- so it is a good test that frameworks can't tell the difference.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import anyio
import anyio.abc
import pytest
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

import glassloop

T = TypeVar("T")


def run(main: Callable[[], Awaitable[T]]) -> T:
    async def checked() -> T:
        assert type(asyncio.get_running_loop()) is glassloop.Loop
        with anyio.fail_after(10):
            return await main()

    return anyio.run(
        checked, backend="asyncio", backend_options={"loop_factory": glassloop.new_event_loop}
    )


def test_task_group_runs_children_concurrently() -> None:
    async def main() -> list[int]:
        done: list[int] = []

        async def child(i: int) -> None:
            await anyio.sleep(0.05 - i * 0.01)
            done.append(i)

        start = anyio.current_time()
        async with anyio.create_task_group() as tg:
            for i in range(5):
                tg.start_soon(child, i)
        assert anyio.current_time() - start < 0.3
        return done

    assert run(main) == [4, 3, 2, 1, 0]


def test_task_group_error_cancels_siblings() -> None:
    cancelled: list[bool] = []

    async def main() -> None:
        async def sibling() -> None:
            try:
                await anyio.sleep(10)
            except anyio.get_cancelled_exc_class():
                cancelled.append(True)
                raise

        async def failing() -> None:
            await anyio.sleep(0.01)
            raise ValueError("boom")

        with pytest.raises(ExceptionGroup) as info:
            async with anyio.create_task_group() as tg:
                tg.start_soon(sibling)
                tg.start_soon(failing)
        assert info.group_contains(ValueError)

    run(main)
    assert cancelled == [True]


def test_timeouts_and_cancel_scopes() -> None:
    async def main() -> None:
        with anyio.move_on_after(0.05) as scope:
            await anyio.sleep(10)
        assert scope.cancelled_caught

        with pytest.raises(TimeoutError):
            with anyio.fail_after(0.05):
                await anyio.sleep(10)

        with anyio.CancelScope() as outer:
            with anyio.CancelScope(shield=True):
                outer.cancel()
                await anyio.sleep(0.01)  # shielded: still sleeps
            await anyio.sleep(10)  # not shielded: cancelled here
        assert outer.cancelled_caught

    run(main)


def test_memory_streams_and_synchronisation() -> None:
    async def main() -> list[int]:
        send: MemoryObjectSendStream[int]
        receive: MemoryObjectReceiveStream[int]
        send, receive = anyio.create_memory_object_stream[int](max_buffer_size=2)
        got: list[int] = []
        event = anyio.Event()
        limit = anyio.Semaphore(1)

        async def producer() -> None:
            async with send:
                for i in range(20):
                    await send.send(i)
            event.set()

        async def consumer() -> None:
            async with receive:
                async for item in receive:
                    async with limit:
                        got.append(item)

        async with anyio.create_task_group() as tg:
            tg.start_soon(producer)
            tg.start_soon(consumer)
            await event.wait()
        return got

    assert run(main) == list(range(20))


def test_worker_threads_and_calls_back_into_the_loop() -> None:
    async def main() -> tuple[str, int]:
        def blocking() -> str:
            time.sleep(0.02)
            # From the worker thread, run something on the glassloop loop.
            return anyio.from_thread.run(loop_name)

        async def loop_name() -> str:
            return type(asyncio.get_running_loop()).__qualname__

        name = await anyio.to_thread.run_sync(blocking)
        results = [0] * 8

        async def worker(i: int) -> None:
            results[i] = await anyio.to_thread.run_sync(lambda: threading.get_ident() and i * i)

        async with anyio.create_task_group() as tg:
            for i in range(8):
                tg.start_soon(worker, i)
        return name, sum(results)

    assert run(main) == ("Loop", sum(i * i for i in range(8)))


def test_tcp_listener_and_connect() -> None:
    async def main() -> list[bytes]:
        async def handle(stream: anyio.abc.SocketStream) -> None:
            async with stream:
                async for data in stream:
                    await stream.send(data.upper())

        listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
        port = listener.extra(anyio.abc.SocketAttribute.local_port)
        replies: list[bytes] = []
        async with listener, anyio.create_task_group() as tg:
            tg.start_soon(listener.serve, handle)

            async def client(i: int) -> None:
                async with await anyio.connect_tcp("127.0.0.1", port) as stream:
                    await stream.send(f"hello {i}".encode())
                    replies.append(await stream.receive())

            async with anyio.create_task_group() as clients:
                for i in range(10):
                    clients.start_soon(client, i)
            tg.cancel_scope.cancel()
        return sorted(replies)

    assert run(main) == sorted(f"HELLO {i}".encode() for i in range(10))


def test_udp_round_trip() -> None:
    async def main() -> tuple[bytes, Any]:
        async with (
            await anyio.create_udp_socket(local_host="127.0.0.1") as server,
            await anyio.create_udp_socket(local_host="127.0.0.1") as client,
        ):
            address = server.extra(anyio.abc.SocketAttribute.local_address)
            await client.sendto(b"ping", *address)
            data, sender = await server.receive()
            await server.sendto(data + b"/pong", *sender)
            return await client.receive()

    data, _ = run(main)
    assert data == b"ping/pong"
