"""Subprocesses: asyncio's high-level API, the protocol's event order, and reaping.

The children are tiny Python or shell programs; each test bounds its waits, so
a lost exit notification fails the test instead of hanging the run.
"""

from __future__ import annotations

import asyncio
import gc
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest

Loop = asyncio.AbstractEventLoop
PY = sys.executable
PIPE = asyncio.subprocess.PIPE

#: Reads stdin to the end, echoes it upper-cased to stdout, says "err" on stderr.
ECHO_UPPER = (
    "import sys; data = sys.stdin.buffer.read(); "
    "sys.stdout.buffer.write(data.upper()); sys.stderr.write('err'); sys.exit(7)"
)
SLEEP_FOREVER = "import time; time.sleep(60)"


def run(loop: Loop, coro: Any, timeout: float = 15) -> Any:
    return loop.run_until_complete(asyncio.wait_for(coro, timeout))


# -- asyncio's high-level API ------------------------------------------------------


def test_communicate(loop: Loop) -> None:
    async def main() -> tuple[bytes, bytes, int | None]:
        proc = await asyncio.create_subprocess_exec(
            PY, "-c", ECHO_UPPER, stdin=PIPE, stdout=PIPE, stderr=PIPE
        )
        out, err = await proc.communicate(b"hello")
        return out, err, proc.returncode

    assert run(loop, main()) == (b"HELLO", b"err", 7)


def test_communicate_with_more_than_a_pipe_holds(loop: Loop) -> None:
    """Both directions exceed the pipe buffer: flow control must interleave them."""
    payload = os.urandom(1 << 20)

    async def main() -> bytes:
        proc = await asyncio.create_subprocess_exec(
            PY,
            "-c",
            "import sys, shutil; shutil.copyfileobj(sys.stdin.buffer, sys.stdout.buffer)",
            stdin=PIPE,
            stdout=PIPE,
        )
        out, _ = await proc.communicate(payload)
        assert proc.returncode == 0
        return out

    assert run(loop, main()) == payload


def test_shell(loop: Loop) -> None:
    async def main() -> tuple[bytes, int]:
        proc = await asyncio.create_subprocess_shell("echo $((6 * 7)); exit 3", stdout=PIPE)
        assert proc.stdout is not None
        out = await proc.stdout.read()
        return out, await proc.wait()

    assert run(loop, main()) == (b"42\n", 3)


def test_stderr_to_stdout(loop: Loop) -> None:
    async def main() -> bytes:
        proc = await asyncio.create_subprocess_shell(
            "echo out; echo err 1>&2", stdout=PIPE, stderr=subprocess.STDOUT
        )
        out, err = await proc.communicate()
        assert err is None
        return out

    assert run(loop, main()) == b"out\nerr\n"


def test_line_by_line_interaction(loop: Loop) -> None:
    code = "import sys\nfor line in sys.stdin:\n    print(line.strip()[::-1], flush=True)"

    async def main() -> list[bytes]:
        proc = await asyncio.create_subprocess_exec(PY, "-c", code, stdin=PIPE, stdout=PIPE)
        assert proc.stdin is not None and proc.stdout is not None
        answers = []
        for word in (b"abc", b"glassloop"):
            proc.stdin.write(word + b"\n")
            await proc.stdin.drain()
            answers.append(await proc.stdout.readline())
        proc.stdin.close()
        assert await proc.wait() == 0
        return answers

    assert run(loop, main()) == [b"cba\n", b"poolssalg\n"]


def test_output_written_just_before_exit_is_not_lost(loop: Loop) -> None:
    code = "import sys; sys.stdout.write('x' * 300000); sys.exit(1)"

    async def main() -> tuple[int, int]:
        proc = await asyncio.create_subprocess_exec(PY, "-c", code, stdout=PIPE)
        assert proc.stdout is not None
        await asyncio.sleep(0.2)  # it has exited (or is blocked writing) by now
        data = await proc.stdout.read()
        return len(data), await proc.wait()

    assert run(loop, main()) == (300000, 1)


@pytest.mark.parametrize(
    ("method", "sig"), [("terminate", signal.SIGTERM), ("kill", signal.SIGKILL)]
)
def test_terminate_and_kill(loop: Loop, method: str, sig: int) -> None:
    async def main() -> int:
        proc = await asyncio.create_subprocess_exec(PY, "-c", SLEEP_FOREVER)
        getattr(proc, method)()
        return await proc.wait()

    assert run(loop, main()) == -sig


def test_send_signal(loop: Loop) -> None:
    code = (
        "import signal, sys, time\n"
        "signal.signal(signal.SIGUSR1, lambda *a: sys.exit(5))\n"
        "print('ready', flush=True)\n"
        "time.sleep(60)"
    )

    async def main() -> int:
        proc = await asyncio.create_subprocess_exec(PY, "-c", code, stdout=PIPE)
        assert proc.stdout is not None
        assert await proc.stdout.readline() == b"ready\n"
        proc.send_signal(signal.SIGUSR1)
        return await proc.wait()

    assert run(loop, main()) == 5


def test_wait_can_be_cancelled_and_called_again(loop: Loop) -> None:
    async def main() -> int:
        proc = await asyncio.create_subprocess_exec(PY, "-c", SLEEP_FOREVER)
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(proc.wait(), 0.05)
        proc.kill()
        return await proc.wait()

    assert run(loop, main()) == -signal.SIGKILL


def test_many_at_once(loop: Loop) -> None:
    async def one(i: int) -> bytes:
        proc = await asyncio.create_subprocess_exec("echo", str(i), stdout=PIPE)
        out, _ = await proc.communicate()
        return out

    async def main() -> list[bytes]:
        return await asyncio.gather(*(one(i) for i in range(20)))

    assert run(loop, main()) == [f"{i}\n".encode() for i in range(20)]


UVLOOP_EXTRA_FD = "uvloop ends this with one more fd open than it started with"


def open_fds_after_warming_up(loop: Loop) -> int:
    """How many fds are open once the loop has made whatever it keeps for children.

    (uvloop opens one on its first subprocess and keeps it.)
    """

    async def warm_up() -> None:
        proc = await asyncio.create_subprocess_exec("true")
        await proc.wait()

    run(loop, warm_up())
    gc.collect()
    return len(os.listdir("/proc/self/fd"))


@pytest.mark.skip_loop("uvloop", reason=UVLOOP_EXTRA_FD)
def test_a_missing_program_raises_and_leaks_no_fds(loop: Loop) -> None:
    async def main() -> None:
        await asyncio.create_subprocess_exec("/nonexistent/program", stdin=PIPE, stdout=PIPE)

    before = open_fds_after_warming_up(loop)
    with pytest.raises(FileNotFoundError):
        run(loop, main())
    gc.collect()
    assert len(os.listdir("/proc/self/fd")) == before


@pytest.mark.skip_loop("uvloop", reason=UVLOOP_EXTRA_FD)
def test_cancelled_creation_kills_the_child(loop: Loop) -> None:
    async def main() -> None:
        task = asyncio.ensure_future(
            asyncio.create_subprocess_exec(PY, "-c", SLEEP_FOREVER, stdout=PIPE)
        )
        await asyncio.sleep(0)  # the child is spawned; its pipes are not connected yet
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    before = open_fds_after_warming_up(loop)
    run(loop, main())
    # Nothing of the child is left: its pipes are closed (and it was reaped).
    assert len(os.listdir("/proc/self/fd")) == before


# -- the protocol level: argument checks and event order -----------------------------


class Recorder(asyncio.SubprocessProtocol):
    """Records events in order and checks what asyncio guarantees about it."""

    def __init__(self, loop: Loop) -> None:
        self.events: list[Any] = []
        self.data: dict[int, bytes] = {1: b"", 2: b""}
        self.done = loop.create_future()
        self.transport: Any = None
        self.pipes_at_connection: dict[int, Any] = {}

    def connection_made(self, transport: Any) -> None:
        assert not self.events, "connection_made must come first"
        self.transport = transport
        # The pipe transports already exist when the protocol is told.
        self.pipes_at_connection = {fd: transport.get_pipe_transport(fd) for fd in (0, 1, 2)}
        self.events.append("made")

    def pipe_data_received(self, fd: int, data: bytes) -> None:
        assert ("pipe_lost", fd) not in self.events, "data after the pipe closed"
        self.data[fd] += data

    def pipe_connection_lost(self, fd: int, exc: Exception | None) -> None:
        self.events.append(("pipe_lost", fd))

    def process_exited(self) -> None:
        self.events.append("exited")

    def connection_lost(self, exc: Exception | None) -> None:
        self.events.append("lost")
        self.done.set_result(None)


def test_protocol_event_order(loop: Loop) -> None:
    async def main() -> tuple[Recorder, Any]:
        transport, proto = await loop.subprocess_exec(lambda: Recorder(loop), PY, "-c", ECHO_UPPER)
        assert proto.events == ["made"]  # connection_made ran before we got here
        assert transport.get_pid() > 0
        assert transport.get_returncode() is None
        stdin: Any = transport.get_pipe_transport(0)
        stdin.write(b"abc")
        stdin.close()
        await asyncio.wait_for(proto.done, 10)
        return proto, transport

    proto, transport = loop.run_until_complete(main())
    assert proto.data == {1: b"ABC", 2: b"err"}
    assert all(proto.pipes_at_connection[fd] is not None for fd in (0, 1, 2))
    # connection_lost last, after the exit and every pipe, in whatever order those came.
    assert proto.events[0] == "made" and proto.events[-1] == "lost"
    assert sorted(map(str, proto.events[1:-1])) == sorted(
        map(str, ["exited", ("pipe_lost", 0), ("pipe_lost", 1), ("pipe_lost", 2)])
    )
    assert transport.get_returncode() == 7
    transport.close()


def test_closing_the_transport_kills_a_running_child(loop: Loop) -> None:
    async def main() -> int | None:
        transport, proto = await loop.subprocess_exec(
            lambda: Recorder(loop), PY, "-c", SLEEP_FOREVER
        )
        transport.close()
        await asyncio.wait_for(proto.done, 10)
        return transport.get_returncode()

    assert run(loop, main()) == -signal.SIGKILL


def test_pipes_that_are_not_piped_have_no_transport(loop: Loop) -> None:
    async def main() -> list[Any]:
        transport, proto = await loop.subprocess_exec(
            lambda: Recorder(loop), "true", stdin=subprocess.DEVNULL, stderr=None
        )
        await asyncio.wait_for(proto.done, 10)
        pipes = [transport.get_pipe_transport(fd) for fd in (0, 1, 2)]
        transport.close()
        return pipes

    stdin, stdout, stderr = run(loop, main())
    assert stdin is None and stdout is not None and stderr is None


@pytest.mark.parametrize(
    "kwargs",
    [
        {"universal_newlines": True},
        {"shell": True},
        {"bufsize": 4096},
        {"text": True},
        {"encoding": "utf-8"},
        {"errors": "strict"},
    ],
)
def test_subprocess_exec_refuses_text_mode_and_shell(loop: Loop, kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        run(loop, loop.subprocess_exec(asyncio.SubprocessProtocol, "true", **kwargs))


@pytest.mark.parametrize(
    "kwargs",
    [
        {"universal_newlines": True},
        {"shell": False},
        {"bufsize": 4096},
        {"text": True},
        {"encoding": "utf-8"},
        {"errors": "strict"},
    ],
)
def test_subprocess_shell_refuses_text_mode_and_no_shell(
    loop: Loop, kwargs: dict[str, Any]
) -> None:
    with pytest.raises(ValueError):
        run(loop, loop.subprocess_shell(asyncio.SubprocessProtocol, "true", **kwargs))


@pytest.mark.skip_loop("uvloop", reason="uvloop raises TypeError for a non-string command")
def test_subprocess_shell_wants_a_string(loop: Loop) -> None:
    with pytest.raises(ValueError):
        run(loop, loop.subprocess_shell(asyncio.SubprocessProtocol, ["echo", "hi"]))  # type: ignore[arg-type]


@pytest.mark.skip_loop("uvloop", reason="uvloop's transport has no Popen object to offer")
def test_the_popen_object_is_extra_info(loop: Loop) -> None:
    async def main() -> None:
        transport, proto = await loop.subprocess_exec(lambda: Recorder(loop), "true")
        popen = transport.get_extra_info("subprocess")
        assert isinstance(popen, subprocess.Popen) and popen.pid == transport.get_pid()
        await asyncio.wait_for(proto.done, 10)
        assert popen.returncode == 0  # the loop's reaping is reflected there too
        transport.close()
        assert transport.is_closing()

    run(loop, main())


def test_signalling_a_finished_process(loop: Loop) -> None:
    async def main() -> None:
        proc = await asyncio.create_subprocess_exec("true")
        assert await proc.wait() == 0
        # The transport is done with the process: there is nothing left to signal.
        with pytest.raises(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)

    run(loop, main())


# -- glassloop's reaping ------------------------------------------------------------


@pytest.fixture
def glassloop_loop() -> Iterator[Loop]:
    import glassloop

    lp = glassloop.new_event_loop()
    try:
        yield lp
    finally:
        lp.close()


@pytest.fixture
def without_pidfds(monkeypatch: pytest.MonkeyPatch) -> None:
    """Force the fallback: a thread waits for the child instead of a pidfd."""
    import glassloop.io.subprocess as gl_subprocess

    monkeypatch.setattr(gl_subprocess, "_pidfds_work", False)


def test_thread_fallback_reaps_and_reports(glassloop_loop: Loop, without_pidfds: None) -> None:
    async def main() -> tuple[bytes, int | None, int]:
        proc = await asyncio.create_subprocess_exec(
            PY, "-c", ECHO_UPPER, stdin=PIPE, stdout=PIPE, stderr=PIPE
        )
        out, _ = await proc.communicate(b"fallback")
        killed = await asyncio.create_subprocess_exec(PY, "-c", SLEEP_FOREVER)
        killed.kill()
        return out, proc.returncode, await killed.wait()

    assert run(glassloop_loop, main()) == (b"FALLBACK", 7, -signal.SIGKILL)


def test_a_status_taken_by_popen_is_still_reported(glassloop_loop: Loop) -> None:
    """If someone reaps the child through its Popen object, its code is used, not 255."""

    async def main() -> int | None:
        transport, proto = await glassloop_loop.subprocess_exec(
            lambda: Recorder(glassloop_loop), PY, "-c", "import sys; sys.exit(4)"
        )
        transport.get_extra_info("subprocess").wait()  # blocking, on purpose
        await asyncio.wait_for(proto.done, 10)
        transport.close()
        return transport.get_returncode()

    assert run(glassloop_loop, main()) == 4


@pytest.mark.usefixtures("without_pidfds")
def test_close_reaps_children_left_running_with_the_thread_fallback(
    glassloop_loop: Loop,
) -> None:
    _close_reaps_children_left_running(glassloop_loop)


def test_close_reaps_children_left_running(glassloop_loop: Loop) -> None:
    _close_reaps_children_left_running(glassloop_loop)


def _close_reaps_children_left_running(lp: Loop) -> None:
    async def main() -> Any:
        transport, _ = await lp.subprocess_exec(
            asyncio.SubprocessProtocol,
            PY,
            "-c",
            SLEEP_FOREVER,
            stdin=None,
            stdout=None,
            stderr=None,
        )
        return transport

    transport = run(lp, main())
    pid = transport.get_pid()
    lp.close()  # the child still runs: nobody asked for it to be killed
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break  # reaped: not even a zombie is left
        time.sleep(0.01)
    else:
        pytest.fail(f"child {pid} was left a zombie after the loop closed")
    transport._proc.returncode = -9  # keep Popen.__del__ from warning that it runs
    transport.close()
