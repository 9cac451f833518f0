"""Where glassloop differed from asyncio, found by the frameworks' own suites.

aiohttp's, uvicorn's and anyio's test suites (run by ``compat/``) and
differential testing of random programs against asyncio found each of these;
every test here failed on glassloop before its fix.  Like the rest of
``tests/unit`` each body runs on glassloop, asyncio and uvloop, so asyncio is
the reference for what "right" means.
"""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import pytest

Loop = asyncio.AbstractEventLoop


# -- watches on a socket that has been closed since --------------------------


UVLOOP_LOSES_CLOSED_SOCKETS = (
    "uvloop looks a closed socket up by its fd (-1) and returns None or raises OSError(EBADF)"
)


@pytest.mark.skip_loop("uvloop", reason=UVLOOP_LOSES_CLOSED_SOCKETS)
@pytest.mark.parametrize("writing", [False, True], ids=["reader", "writer"])
def test_remove_watch_after_the_socket_was_closed(loop: Loop, writing: bool) -> None:
    """anyio closes a socket while a read waits on it, then removes the reader."""
    a, b = socket.socketpair()
    try:
        add = loop.add_writer if writing else loop.add_reader
        remove = loop.remove_writer if writing else loop.remove_reader
        add(a, lambda: None)
        a.close()  # fileno() is -1 from now on
        assert remove(a) is True
        # Found once; after that a closed socket is just an invalid file object.
        with pytest.raises(ValueError, match="Invalid file descriptor: -1"):
            remove(a)
    finally:
        a.close()
        b.close()


def test_remove_watch_of_a_closed_socket_that_was_never_watched(loop: Loop) -> None:
    a, b = socket.socketpair()
    a.close()
    b.close()
    with pytest.raises(ValueError, match="Invalid file descriptor: -1"):
        loop.remove_reader(a)


@pytest.mark.skip_loop("uvloop", reason=UVLOOP_LOSES_CLOSED_SOCKETS)
def test_a_closed_socket_watch_does_not_outlive_its_removal(loop: Loop) -> None:
    """Once removed, the closed socket's number may name a new socket: not watched."""
    a, b = socket.socketpair()
    try:
        loop.add_reader(a, lambda: None)
        a.close()
        assert loop.remove_reader(a) is True
        c, d = socket.socketpair()  # may well reuse a's number
        try:
            assert loop.remove_reader(c) is False
            assert loop.remove_writer(c) is False
        finally:
            c.close()
            d.close()
    finally:
        b.close()
