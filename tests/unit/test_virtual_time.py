"""Virtual time (``glassloop.testing.VirtualClock``): jumps only when the program is durably idle.

Two kinds of promise are checked.  Time jumps: sleeps and timeouts of hours
finish at once, with ``loop.time()`` exactly on each deadline.  And time does
*not* jump while anything outside the loop could still make progress (an
executor job, a thread, a child process, a socket): the shape of trio#456, a
timeout around a job that really takes 50 ms, must never fire early, so
those tests run it hundreds of times.  glassloop only: the other loops have
no virtual time.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import gc
import inspect
import math
import os
import re
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
import warnings
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

import glassloop
from glassloop.kernel import Hooks
from glassloop.testing import Deadlock, VirtualClock

T = TypeVar("T")

#: "Finishes without real waiting", stated loosely enough to hold on a loaded
#: machine: the virtual hours these tests sleep would take hours for real.
NO_REAL_WAIT = 5.0
#: How many times the trio#456 shapes run.
RUNS = 200
#: How many run at once (so that RUNS jobs of 50 ms take about half a second).
CONCURRENT = 20


def run_virtual(main: Callable[[], Awaitable[T]], clock: VirtualClock | None = None) -> T:
    """glassloop.run(main(), virtual_time=...), with the wall time it took checked loosely."""

    async def wrapper() -> T:
        return await main()

    started = time.monotonic()
    result = glassloop.run(wrapper(), virtual_time=clock if clock is not None else True)
    assert time.monotonic() - started < NO_REAL_WAIT * 4  # nothing real took minutes
    return result


def virtual_clock() -> VirtualClock:
    clock = asyncio.get_running_loop()._clock  # type: ignore[attr-defined]
    assert isinstance(clock, VirtualClock)
    return clock


# -- jumps ----------------------------------------------------------------------


def test_hour_long_sleeps_finish_at_once_with_loop_time_on_each_deadline() -> None:
    delays = [3600.0, 0.001, 7200.5, 1e-6, 86400.0 * 30, 0.1]

    async def main() -> list[tuple[float, float]]:
        loop = asyncio.get_running_loop()
        seen = []
        for delay in delays:
            deadline = loop.time() + delay  # what call_later computes
            await asyncio.sleep(delay)
            seen.append((deadline, loop.time()))
        assert virtual_clock().jumps == len(delays)
        return seen

    started = time.monotonic()
    seen = run_virtual(main)
    assert time.monotonic() - started < NO_REAL_WAIT
    for deadline, woke in seen:
        assert woke == deadline


def test_a_new_virtual_loop_starts_at_zero_and_stands_still_while_callbacks_run() -> None:
    loop = glassloop.new_event_loop(virtual_time=True)
    try:
        assert isinstance(loop.clock, VirtualClock)
        assert loop.time() == 0.0

        async def busy() -> float:
            start = loop.time()
            for _ in range(200):
                await asyncio.sleep(0)
            time.sleep(0.01)  # CPU time spent in a callback is not waiting
            return float(loop.time() - start)

        assert loop.run_until_complete(busy()) == 0.0
    finally:
        loop.close()


def test_wait_for_and_timeout_expire_exactly_at_the_virtual_deadline() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        start = loop.time()
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(loop.create_future(), 10)
        assert loop.time() == start + 10

        start = loop.time()
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(2.5):
                await asyncio.sleep(3600)
        assert loop.time() == start + 2.5

        # A deadline beaten by a shorter sleep does not fire.
        start = loop.time()
        async with asyncio.timeout(2.5):
            await asyncio.sleep(2.4)
        assert loop.time() == start + 2.4

    run_virtual(main)


def test_call_later_order_is_kept_with_equal_deadlines_in_scheduling_order() -> None:
    async def main() -> list[tuple[str, float]]:
        loop = asyncio.get_running_loop()
        fired: list[tuple[str, float]] = []
        done = loop.create_future()
        plan = [("c", 30.0), ("a", 10.0), ("b1", 20.0), ("b2", 20.0), ("d", 1e-4), ("b3", 20.0)]
        start = loop.time()

        def fire(name: str) -> None:
            fired.append((name, loop.time() - start))

        for name, delay in plan:
            loop.call_later(delay, fire, name)
        loop.call_later(31, done.set_result, None)
        await done
        return fired

    fired = run_virtual(main)
    assert [name for name, _ in fired] == ["d", "a", "b1", "b2", "b3", "c"]
    assert [at for _, at in fired] == [1e-4, 10.0, 20.0, 20.0, 20.0, 30.0]


def test_twenty_tasks_sleeping_hours_each_wake_at_their_own_deadlines() -> None:
    async def sleeper(i: int, wakes: list[tuple[int, float]]) -> None:
        loop = asyncio.get_running_loop()
        for step in range(5):
            await asyncio.sleep(3600 * (i + 1) + step)
            wakes.append((i, loop.time()))

    async def main() -> list[tuple[int, float]]:
        wakes: list[tuple[int, float]] = []
        async with asyncio.TaskGroup() as group:
            for i in range(20):
                group.create_task(sleeper(i, wakes))
        return wakes

    wakes = run_virtual(main)
    assert len(wakes) == 100
    assert [at for _, at in wakes] == sorted(at for _, at in wakes)
    assert max(at for _, at in wakes) == 20 * 3600 * 5 + (0 + 1 + 2 + 3 + 4)


# -- no jump while work runs outside the loop (trio#456) -------------------------


async def _timeouts_around(
    start_work: Callable[[], Awaitable[object]], runs: int = RUNS
) -> tuple[int, int]:
    """Run ``start_work`` ``runs`` times, CONCURRENT at once, each in a 1 s virtual timeout.

    Returns (how many timed out, how many jumps the clock made meanwhile).
    """
    clock = virtual_clock()
    jumps_before = clock.jumps
    timed_out = 0

    async def worker(count: int) -> None:
        nonlocal timed_out
        for _ in range(count):
            try:
                async with asyncio.timeout(1):
                    await start_work()
            except TimeoutError:
                timed_out += 1

    async with asyncio.TaskGroup() as group:
        for _ in range(CONCURRENT):
            group.create_task(worker(runs // CONCURRENT))
    return timed_out, clock.jumps - jumps_before


def test_a_timeout_around_an_executor_job_never_fires_early() -> None:
    async def main() -> tuple[int, int]:
        loop = asyncio.get_running_loop()
        with concurrent.futures.ThreadPoolExecutor(CONCURRENT) as pool:
            return await _timeouts_around(lambda: loop.run_in_executor(pool, time.sleep, 0.05))

    assert run_virtual(main) == (0, 0)


def test_a_process_pool_job_holds_time_back_but_the_idle_pool_does_not() -> None:
    async def main() -> tuple[int, int, float]:
        loop = asyncio.get_running_loop()
        with concurrent.futures.ProcessPoolExecutor(2) as pool:
            timed_out, jumps = await _timeouts_around(
                lambda: loop.run_in_executor(pool, time.sleep, 0.05), runs=CONCURRENT
            )
            # The pool's processes and threads are alive and idle: time jumps.
            woke = loop.create_future()
            timer = loop.call_later(3600, lambda: woke.set_result(loop.time()))
            off_by = await woke - timer.when()
        return timed_out, jumps, off_by

    assert run_virtual(main) == (0, 0, 0.0)


def test_a_timeout_around_to_thread_never_fires_early_nor_does_the_executor_join() -> None:
    async def main() -> tuple[int, int]:
        return await _timeouts_around(lambda: asyncio.to_thread(time.sleep, 0.05))

    # asyncio.run joins the default executor inside a 300 s timeout (3.12+):
    # it must not expire, with its warning, while the workers are joined.
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        assert run_virtual(main) == (0, 0)


def test_a_timeout_around_a_thread_that_sleeps_then_calls_back_never_fires_early() -> None:
    def sleep_then_set(loop: asyncio.AbstractEventLoop, fut: asyncio.Future[None]) -> None:
        time.sleep(0.05)
        loop.call_soon_threadsafe(fut.set_result, None)

    async def one() -> None:
        loop = asyncio.get_running_loop()
        fut = loop.create_future()
        threading.Thread(target=sleep_then_set, args=(loop, fut)).start()
        await fut

    assert run_virtual(lambda: _timeouts_around(one)) == (0, 0)


def test_a_timeout_around_a_threading_timer_never_fires_early() -> None:
    async def one() -> None:
        loop = asyncio.get_running_loop()
        fut = loop.create_future()
        threading.Timer(0.05, loop.call_soon_threadsafe, (fut.set_result, None)).start()
        await fut

    assert run_virtual(lambda: _timeouts_around(one, runs=CONCURRENT * 2)) == (0, 0)


def test_getaddrinfo_in_a_virtual_timeout_does_not_time_out_falsely() -> None:
    async def main() -> tuple[int, int]:
        loop = asyncio.get_running_loop()
        return await _timeouts_around(lambda: loop.getaddrinfo("localhost", 80), runs=CONCURRENT)

    assert run_virtual(main) == (0, 0)


SLEEPER = "import time; time.sleep({})"


def test_a_timeout_around_a_running_child_does_not_fire_early() -> None:
    async def main() -> tuple[int, float, int]:
        loop = asyncio.get_running_loop()
        start = loop.time()
        async with asyncio.timeout(1):
            proc = await asyncio.create_subprocess_exec(sys.executable, "-c", SLEEPER.format(0.2))
            returncode = await proc.wait()
        return returncode, loop.time() - start, virtual_clock().jumps

    returncode, elapsed, jumps = run_virtual(main)
    assert (returncode, jumps) == (0, 0)
    # While the child ran, virtual time ran at real speed (loosely: the loop
    # may lose a little of it running callbacks on a busy machine).
    assert 0.1 < elapsed < 1


def test_a_timeout_shorter_than_a_running_child_fires_in_real_time_without_waiting_for_it() -> None:
    async def main() -> tuple[int | None, float, float]:
        loop = asyncio.get_running_loop()
        proc = await asyncio.create_subprocess_exec(sys.executable, "-c", SLEEPER.format(0.5))
        deadline = loop.time() + 0.05
        try:
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(proc.wait(), 0.05)
            still_running = proc.returncode
            fired_at = loop.time()
        finally:
            proc.kill()
            await proc.wait()
        return still_running, fired_at, deadline

    still_running, fired_at, deadline = run_virtual(main)
    assert still_running is None  # it timed out while the child still ran ...
    assert fired_at >= deadline  # ... and not before its deadline


def test_virtual_time_jumps_again_once_the_outside_work_is_done() -> None:
    async def main() -> tuple[float, int]:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, time.sleep, 0.01)
        proc = await asyncio.create_subprocess_exec(sys.executable, "-c", "pass")
        await proc.wait()
        # Time ran at real speed since the last real wait, up to now: the
        # timer's own deadline is the one to compare with.
        woke = loop.create_future()
        timer = loop.call_later(3600, lambda: woke.set_result(loop.time()))
        return await woke - timer.when(), virtual_clock().jumps

    assert run_virtual(main) == (0.0, 1)


def test_time_jumps_again_after_a_thread_that_ends_without_waking_the_loop() -> None:
    async def main() -> tuple[float, int]:
        loop = asyncio.get_running_loop()
        threading.Thread(target=time.sleep, args=(0.05,)).start()
        woke = loop.create_future()
        timer = loop.call_later(3600, lambda: woke.set_result(loop.time()))
        return await woke - timer.when(), virtual_clock().jumps

    started = time.monotonic()
    assert run_virtual(main) == (0.0, 1)
    assert time.monotonic() - started < NO_REAL_WAIT


# -- real file descriptors ---------------------------------------------------------


@pytest.fixture
def socketpair() -> Iterator[tuple[socket.socket, socket.socket]]:
    a, b = socket.socketpair()
    a.setblocking(False)
    try:
        yield a, b
    finally:
        a.close()
        b.close()


def _outside_thread(
    delay: float, action: Callable[[], object]
) -> tuple[threading.Event, threading.Thread]:
    """A thread started now, before the loop exists: virtual time does not wait for it.

    It runs ``action`` ``delay`` seconds after the returned event is set.
    """
    go = threading.Event()

    def body() -> None:
        if go.wait(10):
            time.sleep(delay)
            action()

    thread = threading.Thread(target=body, daemon=True)
    thread.start()
    return go, thread


def test_with_a_socket_registered_time_does_not_jump_so_a_late_peer_is_not_timed_out(
    socketpair: tuple[socket.socket, socket.socket],
) -> None:
    a, b = socketpair
    go, _ = _outside_thread(0.1, lambda: b.send(b"late"))

    async def main() -> tuple[bytes, int]:
        loop = asyncio.get_running_loop()
        go.set()
        data = await asyncio.wait_for(loop.sock_recv(a, 10), 1)
        return data, virtual_clock().jumps

    assert run_virtual(main) == (b"late", 0)


def test_with_a_socket_registered_a_sleep_waits_for_real(
    socketpair: tuple[socket.socket, socket.socket],
) -> None:
    a, _ = socketpair

    async def main() -> tuple[int, float]:
        loop = asyncio.get_running_loop()
        loop.add_reader(a, lambda: None)
        started = time.monotonic()
        await asyncio.sleep(0.1)
        loop.remove_reader(a)
        return virtual_clock().jumps, time.monotonic() - started

    jumps, wall = run_virtual(main)
    assert jumps == 0
    assert wall >= 0.09  # it waited: the socket could have answered meanwhile


def test_autojump_threshold_jumps_after_that_much_real_quiet_on_the_sockets(
    socketpair: tuple[socket.socket, socket.socket],
) -> None:
    a, _ = socketpair

    async def main() -> tuple[float, float, int]:
        loop = asyncio.get_running_loop()
        loop.add_reader(a, lambda: None)
        deadline = loop.time() + 3600
        started = time.monotonic()
        await asyncio.sleep(3600)
        wall = time.monotonic() - started
        loop.remove_reader(a)
        return loop.time() - deadline, wall, virtual_clock().jumps

    off_by, wall, jumps = run_virtual(main, VirtualClock(autojump_threshold=0.05))
    assert (off_by, jumps) == (0.0, 1)
    assert 0.04 < wall < NO_REAL_WAIT


def test_autojump_threshold_starts_over_when_io_comes(
    socketpair: tuple[socket.socket, socket.socket],
) -> None:
    a, b = socketpair

    # Three messages 0.1 s apart: each arrives before a 0.3 s threshold runs out.
    def send_three() -> None:
        for _ in range(3):
            b.send(b"x")
            time.sleep(0.1)

    go, _ = _outside_thread(0.1, send_three)

    async def main() -> tuple[bytes, int]:
        loop = asyncio.get_running_loop()
        go.set()
        received = b""
        async with asyncio.timeout(1):  # virtual: frozen while the threshold runs
            while len(received) < 3:
                received += await loop.sock_recv(a, 10)
        return received, virtual_clock().jumps

    assert run_virtual(main, VirtualClock(autojump_threshold=0.3)) == (b"xxx", 0)


def test_data_already_readable_is_seen_before_any_jump(
    socketpair: tuple[socket.socket, socket.socket],
) -> None:
    a, b = socketpair

    async def main() -> int:
        loop = asyncio.get_running_loop()
        got = asyncio.Event()

        def read() -> None:
            a.recv(100)
            got.set()

        loop.add_reader(a, read)
        for _ in range(50):
            got.clear()
            # With a threshold of 0 the clock jumps as soon as it may: a real
            # poll would see the readable socket before the timeout, so must we.
            async with asyncio.timeout(1):
                b.send(b"here already")
                await got.wait()
        loop.remove_reader(a)
        return virtual_clock().jumps

    assert run_virtual(main, VirtualClock(autojump_threshold=0)) == 0


@pytest.mark.skipif(not hasattr(signal, "SIGUSR1"), reason="needs SIGUSR1")
def test_a_signal_already_sent_is_handled_before_any_jump() -> None:
    async def main() -> tuple[float, int]:
        loop = asyncio.get_running_loop()
        got = asyncio.Event()
        loop.add_signal_handler(signal.SIGUSR1, got.set)
        try:
            start = loop.time()
            async with asyncio.timeout(1):
                os.kill(os.getpid(), signal.SIGUSR1)
                await got.wait()
            # A signal handler does not hold time back: a sleep still jumps.
            await asyncio.sleep(60)
            return loop.time() - start, virtual_clock().jumps
        finally:
            loop.remove_signal_handler(signal.SIGUSR1)

    assert run_virtual(main) == (60.0, 1)


# -- deadlock ------------------------------------------------------------------------


def test_a_deadlocked_program_raises_deadlock_instead_of_hanging() -> None:
    async def stuck() -> None:
        await asyncio.get_running_loop().create_future()

    async def main() -> None:
        await asyncio.sleep(10)  # time passes first; then nothing can happen
        await asyncio.gather(stuck(), stuck())

    started = time.monotonic()
    with pytest.raises(Deadlock, match="would wait forever") as raised:
        glassloop.run(main(), virtual_time=True)
    assert time.monotonic() - started < NO_REAL_WAIT
    assert "3 task(s) waiting" in str(raised.value)
    assert "stuck()" in str(raised.value)


@pytest.mark.parametrize("when", [math.inf, 1e301])
def test_a_timer_that_is_never_due_does_not_count_as_a_way_out(when: float) -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        loop.call_at(when, lambda: None)
        await loop.create_future()

    with pytest.raises(Deadlock):
        glassloop.run(main(), virtual_time=True)


class PollCounter(Hooks):
    def __init__(self) -> None:
        self.polls = 0

    def poll_waited(self, timeout: float | None, waited: float, nevents: int) -> None:
        self.polls += 1


def test_with_raise_on_deadlock_false_a_stuck_loop_blocks_like_a_real_one() -> None:
    loop = glassloop.new_event_loop(virtual_time=VirtualClock(raise_on_deadlock=False))
    fut: asyncio.Future[str] = loop.create_future()
    # Started before the loop runs but after it was made: a program thread.
    go, _ = _outside_thread(0.2, lambda: loop.call_soon_threadsafe(fut.set_result, "woken"))
    counter = PollCounter()
    loop.set_hooks(counter)
    try:
        clock = loop.clock
        assert isinstance(clock, VirtualClock)
        # The thread is the program's own, so time waits for it; make it one
        # the clock does not know, to see the loop block with nothing to wait on.
        clock._outside_threads.update(threading.enumerate())
        go.set()
        started = time.monotonic()
        assert loop.run_until_complete(fut) == "woken"
        assert time.monotonic() - started >= 0.15  # it blocked until woken ...
        assert counter.polls < 10  # ... in the poll, not spinning
    finally:
        loop.close()


@pytest.mark.skipif(not hasattr(signal, "SIGUSR1"), reason="needs SIGUSR1")
def test_a_program_waiting_only_for_a_signal_blocks_for_it() -> None:
    pid = os.getpid()
    go, thread = _outside_thread(0.1, lambda: os.kill(pid, signal.SIGUSR1))

    async def main() -> str:
        loop = asyncio.get_running_loop()
        got: asyncio.Future[str] = loop.create_future()
        loop.add_signal_handler(signal.SIGUSR1, got.set_result, "signalled")
        try:
            go.set()
            return await got
        finally:
            loop.remove_signal_handler(signal.SIGUSR1)

    try:
        assert run_virtual(main) == "signalled"
    finally:
        # Should the loop not have waited, the signal must not kill the run.
        signal.signal(signal.SIGUSR1, signal.SIG_IGN)
        thread.join(5)
        signal.signal(signal.SIGUSR1, signal.SIG_DFL)


def test_the_readme_example_times_out_at_once_at_the_virtual_deadline() -> None:
    readme = Path(__file__).resolve().parents[2] / "README.md"
    blocks = re.findall(r"```python\n(.*?)```", readme.read_text(), flags=re.DOTALL)
    [example] = [textwrap.dedent(block) for block in blocks if "virtual_time=True" in block]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(readme.parent / "src"), env.get("PYTHONPATH")])
    )
    done = subprocess.run(
        [sys.executable, "-X", "dev", "-c", example],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["timed out at 3600.0"]
    assert "Warning" not in done.stderr, done.stderr


# -- options -------------------------------------------------------------------------


def test_bad_options_are_refused_with_type_errors() -> None:
    with pytest.raises(TypeError, match="virtual_time must be True, False or"):
        glassloop.new_event_loop(virtual_time="yes")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="unexpected keyword argument"):
        glassloop.new_event_loop(virtual=True)  # type: ignore[call-arg]

    async def main() -> None:
        pass

    coro = main()
    with pytest.raises(TypeError, match="not int"):
        glassloop.run(coro, virtual_time=1)  # type: ignore[arg-type]
    assert (
        inspect.getcoroutinestate(coro) == inspect.CORO_CLOSED
    )  # closed: no "never awaited" warning later
    coro = main()
    with pytest.raises(TypeError, match="unexpected keyword argument"):
        glassloop.run(coro, virtual_tim=True)  # type: ignore[call-arg]
    coro.close()

    with pytest.raises(TypeError, match="autojump_threshold"):
        VirtualClock(autojump_threshold="1")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="autojump_threshold"):
        VirtualClock(autojump_threshold=-1)
    with pytest.raises(TypeError, match="start"):
        VirtualClock(start="0")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="start"):
        VirtualClock(start=math.nan)
    with pytest.raises(TypeError, match="raise_on_deadlock"):
        VirtualClock(raise_on_deadlock=None)  # type: ignore[arg-type]


def test_a_clock_serves_one_loop_and_can_start_anywhere() -> None:
    clock = VirtualClock(start=1e6)
    loop = glassloop.new_event_loop(virtual_time=clock)
    try:
        assert loop.time() == 1e6
        assert loop.run_until_complete(asyncio.sleep(5, "slept")) == "slept"
        assert loop.time() == 1e6 + 5
        unraisable: list[Any] = []
        hook, sys.unraisablehook = sys.unraisablehook, unraisable.append
        try:
            with pytest.raises(RuntimeError, match="already serves"):
                glassloop.new_event_loop(virtual_time=clock)
            gc.collect()
        finally:
            sys.unraisablehook = hook
        # The loop whose __init__ raised is dropped quietly (its __del__ once
        # raised AttributeError on the compiled build, where _closed is a C
        # field that reads False before __init__ sets it).
        assert unraisable == []
    finally:
        loop.close()


def test_a_far_deadline_still_fires_where_the_resolution_is_lost_in_rounding() -> None:
    loop = glassloop.new_event_loop(virtual_time=VirtualClock(start=1e12))
    try:
        assert loop.run_until_complete(asyncio.sleep(1, "woke")) == "woke"
        assert loop.time() >= 1e12 + 1
    finally:
        loop.close()


# -- with the other seams -------------------------------------------------------------


def test_with_hooks_attached_the_threshold_and_the_jumps_still_hold(
    socketpair: tuple[socket.socket, socket.socket],
) -> None:
    # With hooks the scheduler reads the clock just before its poll as well
    # as after: the threshold must not take the first read for "no I/O came".
    a, b = socketpair
    go, _ = _outside_thread(0.1, lambda: b.send(b"late"))
    loop = glassloop.new_event_loop(virtual_time=VirtualClock(autojump_threshold=0.3))
    counter = PollCounter()
    loop.set_hooks(counter)

    async def main() -> tuple[bytes, float]:
        go.set()
        async with asyncio.timeout(1):
            data = await loop.sock_recv(a, 10)
        loop.add_reader(a, lambda: None)
        start = loop.time()
        await asyncio.sleep(3600)
        loop.remove_reader(a)
        return data, loop.time() - start

    try:
        assert loop.run_until_complete(main()) == (b"late", 3600.0)
        assert counter.polls > 0
    finally:
        loop.close()


def test_patching_loop_time_over_a_virtual_clock_makes_it_answer_as_a_real_one() -> None:
    loop = glassloop.new_event_loop(virtual_time=True)
    try:
        loop.time = time.monotonic  # the asyncio way of faking time
        started = time.monotonic()
        loop.run_until_complete(asyncio.sleep(0.05))
        assert time.monotonic() - started >= 0.04  # the timers follow the patch
        del loop.time
        loop.run_until_complete(asyncio.sleep(3600))
        assert loop.time() == 3600.0
    finally:
        loop.close()


def test_debug_mode_times_callbacks_without_moving_virtual_time() -> None:
    async def main() -> float:
        loop = asyncio.get_running_loop()
        start = loop.time()
        for _ in range(10):
            await asyncio.sleep(0)
        await asyncio.sleep(5)
        return float(loop.time() - start)

    loop = glassloop.new_event_loop(virtual_time=True)
    loop.set_debug(True)
    try:
        assert loop.run_until_complete(main()) == 5.0
    finally:
        loop.close()
