"""What the simulated-network tests share: a run under a SimNet, proof nothing real was used."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest

import glassloop
from glassloop.testing import SimNet


def run(main: Callable[[], Awaitable[Any]], net: SimNet) -> Any:
    return glassloop.run(main(), network=net, virtual_time=True)


@pytest.fixture
def no_real_sockets(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Any real connect, bind, listen or send fails the test."""

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a real socket was used under a SimNet")

    for name in ("connect", "connect_ex", "bind", "listen", "send", "sendall", "sendto"):
        monkeypatch.setattr(socket.socket, name, refuse)
    yield


class Datagrams(asyncio.DatagramProtocol):
    """Records what a datagram endpoint hears; ``lost`` resolves at connection_lost."""

    def __init__(self) -> None:
        self.transport: Any = None
        self.datagrams: list[tuple[bytes, Any]] = []
        self.errors: list[Exception] = []
        self.lost: asyncio.Future[Exception | None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.datagrams.append((data, addr))

    def error_received(self, exc: Exception) -> None:
        self.errors.append(exc)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.lost.done():
            self.lost.set_result(exc)
