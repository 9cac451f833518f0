"""glassloop under blockbuster: its internal calls are accepted as asyncio's are.

blockbuster (enabled by aiohttp's and anyio's own test suites) raises
``BlockingError`` for a blocking call on the loop's thread unless the call is
made from a place it allows; asyncio's own internals are on its list, and
``glassloop.testing.allow_loop_internals`` puts glassloop's equivalents there.
Each operation below fails under blockbuster without that line (checked in the
first test) and passes with it.
"""

from __future__ import annotations

import ast
import asyncio
import socket
import sys
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import pytest

import glassloop
from glassloop.testing import allow_loop_internals
from glassloop.testing.blockbuster import ALLOWANCES

blockbuster = pytest.importorskip("blockbuster")

SRC = Path(glassloop.__file__).parent.parent


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    (tmp_path / "payload").write_bytes(b"x" * 200_000)
    return tmp_path


def _subprocess(_: Path) -> Callable[[], Awaitable[None]]:
    async def op() -> None:
        proc = await asyncio.create_subprocess_exec(sys.executable, "-c", "pass")
        assert await proc.wait() == 0

    return op


def _unix_server(workdir: Path) -> Callable[[], Awaitable[None]]:
    path = str(workdir / "sock")

    async def op() -> None:
        # One start: a second one would find a stale socket file on 3.11/3.12
        # and remove it, which blockbuster flags under asyncio as well.
        server = await asyncio.start_unix_server(lambda r, w: w.close(), path)
        _reader, writer = await asyncio.open_unix_connection(path)
        writer.close()
        await writer.wait_closed()
        server.close()
        await server.wait_closed()

    return op


def _sendfile(workdir: Path) -> Callable[[], Awaitable[None]]:
    payload = open(workdir / "payload", "rb")  # opened here, off the loop

    async def op() -> None:
        loop = asyncio.get_running_loop()
        a, b = socket.socketpair()
        a.setblocking(False)
        b.setblocking(False)

        async def receive() -> int:
            received = 0
            while received < 200_000:
                received += len(await loop.sock_recv(b, 65536))
            return received

        receiving = asyncio.ensure_future(receive())
        try:
            assert await loop.sock_sendfile(a, payload) == 200_000
            assert await receiving == 200_000
        finally:
            receiving.cancel()
            a.close()
            b.close()
            payload.close()

    return op


def _executor(_: Path) -> Callable[[], Awaitable[None]]:
    async def op() -> None:
        loop = asyncio.get_running_loop()
        assert await loop.run_in_executor(None, sum, [1, 2]) == 3
        await loop.shutdown_default_executor()

    return op


OPERATIONS = {
    "subprocess": _subprocess,
    "unix-server": _unix_server,
    "sendfile": _sendfile,
    "executor-shutdown": _executor,
}


def _run_under_blockbuster(op: Callable[[], Awaitable[None]], allow: bool) -> None:
    loop = glassloop.new_event_loop()
    try:
        with blockbuster.blockbuster_ctx() as bb:
            if allow:
                allow_loop_internals(bb)
            loop.run_until_complete(op())
    finally:
        loop.close()


#: ``shutdown_default_executor`` joins a thread that has, almost always,
#: already finished (an unheld lock passes blockbuster's check), so whether it
#: is flagged without the allowance is a race: it is only checked with it.
ALWAYS_FLAGGED = [name for name in OPERATIONS if name != "executor-shutdown"]


@pytest.mark.parametrize("name", ALWAYS_FLAGGED)
def test_flagged_without_the_allowances(name: str, workdir: Path) -> None:
    if name == "subprocess" and sys.version_info >= (3, 13):
        pytest.skip("3.13 starts a subprocess without a call blockbuster flags")
    with pytest.raises(blockbuster.BlockingError):
        _run_under_blockbuster(OPERATIONS[name](workdir), allow=False)


@pytest.mark.parametrize("name", OPERATIONS)
def test_accepted_with_the_allowances(name: str, workdir: Path) -> None:
    _run_under_blockbuster(OPERATIONS[name](workdir), allow=True)


def _functions_in(path: Path) -> Iterator[str]:
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            yield node.name


@pytest.mark.parametrize("entry", ALLOWANCES, ids=lambda e: f"{e[0]}@{e[1]}")
def test_every_allowance_names_a_real_function(
    entry: tuple[str, str, frozenset[str], str],
) -> None:
    """A renamed function would silently lose its allowance: catch that here."""
    name, filename, allowed, _ = entry
    path = SRC / filename
    assert path.is_file(), path
    missing = allowed - set(_functions_in(path))
    assert not missing, f"{filename} has no {sorted(missing)}"
    # And the allowed function really makes that call (or calls what does).
    assert name.rsplit(".", 1)[-1] in path.read_text() or name.startswith("threading")
