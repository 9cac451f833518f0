"""FastAPI under uvicorn on glassloop, driven by httpx.

Two ways in: uvicorn's own ``--loop`` hook (``glassloop:uvicorn_loop_factory``
through ``uvicorn.Config``), and the demo ``Service`` with an httpx client on
the same glassloop loop, so both ends of 100 concurrent requests are ours.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from integration_helpers import demo_config, run_on_glassloop
from pydantic import BaseModel

import glassloop
from glassloop.apps.serve import Service


class Echo(BaseModel):
    n: int
    text: str


def make_app() -> FastAPI:
    app = FastAPI()

    @app.get("/loop")
    async def loop() -> dict[str, str]:
        return {"loop": type(asyncio.get_running_loop()).__qualname__}

    @app.post("/echo")
    async def echo(item: Echo) -> Echo:
        await asyncio.sleep(0.01)  # let requests overlap
        return Echo(n=item.n * 2, text=item.text[::-1])

    return app


@pytest.fixture
def uvicorn_with_loop_option() -> Iterator[str]:
    """``uvicorn.Server(...).run()`` with ``loop="glassloop:uvicorn_loop_factory"``."""
    sock = socket.create_server(("127.0.0.1", 0))
    config = uvicorn.Config(
        make_app(), loop="glassloop:uvicorn_loop_factory", log_level="warning", lifespan="on"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(15)
        assert not thread.is_alive()


def test_uvicorn_loop_option_runs_the_app_on_glassloop(uvicorn_with_loop_option: str) -> None:
    assert httpx.get(f"{uvicorn_with_loop_option}/loop").json() == {"loop": "Loop"}
    response = httpx.post(f"{uvicorn_with_loop_option}/echo", json={"n": 21, "text": "abc"})
    assert response.json() == {"n": 42, "text": "cba"}


def test_uvicorn_loop_factory_serves_both_uvicorn_hooks() -> None:
    # uvicorn >= 0.36 uses it as the factory itself ...
    config = uvicorn.Config(make_app(), loop="glassloop:uvicorn_loop_factory")
    factory = config.get_loop_factory()
    assert factory is glassloop.uvicorn_loop_factory
    loop = factory()
    try:
        assert isinstance(loop, glassloop.Loop)
    finally:
        loop.close()
    # ... older uvicorn called it as a set-up function that installs a policy.
    saved = asyncio.get_event_loop_policy()
    try:
        assert glassloop.uvicorn_loop_factory(use_subprocess=False) is None
        assert isinstance(asyncio.get_event_loop_policy(), glassloop.EventLoopPolicy)
    finally:
        asyncio.set_event_loop_policy(saved)


def test_100_concurrent_requests_client_and_server_on_one_glassloop_loop() -> None:
    async def main() -> list[httpx.Response]:
        async with Service(demo_config()) as service:
            limits = httpx.Limits(max_connections=100)
            async with httpx.AsyncClient(base_url=service.api_url, limits=limits) as client:
                requests = [
                    client.post("/add", json={"first_number": i, "second_number": i})
                    for i in range(100)
                ]
                return await asyncio.gather(*requests)

    responses = run_on_glassloop(main())
    assert [r.status_code for r in responses] == [200] * 100
    assert [r.json()["result"] for r in responses] == [2 * i for i in range(100)]


def test_100_concurrent_requests_from_outside_the_loop(uvicorn_with_loop_option: str) -> None:
    """The server's loop is glassloop; the client is asyncio's, in another thread."""

    async def main() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=uvicorn_with_loop_option) as client:
            return await asyncio.gather(
                *(client.post("/echo", json={"n": i, "text": f"#{i}"}) for i in range(100))
            )

    with asyncio.Runner(loop_factory=asyncio.SelectorEventLoop) as runner:
        responses = runner.run(main())
    assert [r.json() for r in responses] == [
        {"n": 2 * i, "text": f"#{i}"[::-1]} for i in range(100)
    ]
