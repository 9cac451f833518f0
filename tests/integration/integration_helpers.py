"""Helpers for the integration tests: run on glassloop, serve in a thread.

``ServiceThread`` runs ``glassloop serve``'s ``Service`` on a glassloop loop
in a background thread, so a test can talk to it synchronously (curl, httpx)
the way a user would, from outside that loop.  Servers listen on port 0 (any
free port) on 127.0.0.1 only.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

import glassloop
from glassloop.apps.serve import ServeConfig, Service

T = TypeVar("T")


def run_on_glassloop(coro: Coroutine[Any, Any, T], timeout: float = 20.0) -> T:
    """Run ``coro`` to the end on a fresh glassloop loop, asserting it is one."""

    async def checked() -> T:
        assert type(asyncio.get_running_loop()) is glassloop.Loop
        return await asyncio.wait_for(coro, timeout)

    return glassloop.run(checked())


class ServiceThread:
    """A ``Service`` on its own glassloop loop in a daemon thread."""

    def __init__(self, config: ServeConfig) -> None:
        self.config = config
        self.service = Service(config)
        self.loop: asyncio.AbstractEventLoop | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="glassloop-serve", daemon=True)

    def start(self) -> ServiceThread:
        self._thread.start()
        if not self._ready.wait(15):
            raise RuntimeError("the service did not start within 15 s")
        if self._error is not None:
            raise self._error
        return self

    def _run(self) -> None:
        loop = glassloop.new_event_loop()
        self.loop = loop

        async def main() -> None:
            try:
                await self.service.start()
            except BaseException as exc:
                self._error = exc
                return
            finally:
                self._ready.set()
            await self.service.wait()

        try:
            loop.run_until_complete(main())
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            loop.close()

    def stop(self) -> None:
        if self.loop is not None and self._thread.is_alive():
            self.loop.call_soon_threadsafe(self.service.request_stop)
        self._thread.join(20)
        assert not self._thread.is_alive(), "the service did not stop within 20 s"

    def __enter__(self) -> ServiceThread:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def demo_config(**overrides: Any) -> ServeConfig:
    """The demo on free ports, quiet, with short timeouts for fast failure cases."""
    options: dict[str, Any] = {
        "port": 0,
        "phrases_port": 0,
        "access_log": False,
        "graceful_timeout": 2.0,
    }
    options.update(overrides)
    return ServeConfig(**options)
