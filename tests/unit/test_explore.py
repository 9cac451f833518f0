"""Schedule exploration (``glassloop.testing.explore`` / ``replay``).

Three kinds of promise are checked.  Each freedom is really explored: both
outcomes of every choice show up across runs.  Each forbidden reordering
never happens, over many random schedules (random draws every decision, so
it is the strategy most likely to break a rule).  And what a failure reports
is usable: its token replays it, exactly, in a fresh loop; shrinking leaves
the deviations that matter; a program that is not deterministic under a fixed
schedule is told so.  glassloop only: the other loops cannot be steered.
"""

from __future__ import annotations

import asyncio
import random
import socket
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from glassloop.testing import (
    Deadlock,
    Livelock,
    ReplayDiverged,
    SimNet,
    exploration,
    explore,
    replay,
)

AsyncFn = Callable[[], Awaitable[Any]]

# A run that ends with the executor's join timing out in virtual time (the loop
# let time pass while the wake-up pipe was "late") warns; that must not happen.
pytestmark = pytest.mark.filterwarnings("error::RuntimeWarning")


def outcomes(
    fn: Callable[[list[str]], Awaitable[Any]], runs: int, strategy: str = "random"
) -> set[tuple[str, ...]]:
    """Every distinct list ``fn`` wrote, over ``runs`` schedules."""
    seen: set[tuple[str, ...]] = set()

    async def program() -> None:
        log: list[str] = []
        await fn(log)
        seen.add(tuple(log))

    report = explore(program, runs=runs, seed=1, strategy=strategy)
    assert not report.failed, str(report)
    assert report.runs == runs
    return seen


# -- each freedom is explored ---------------------------------------------------


async def two_readable_sockets(log: list[str]) -> None:
    """Two socket pairs made readable before the loop polls: one poll reports both."""
    loop = asyncio.get_running_loop()
    pairs = [socket.socketpair() for _ in range(2)]
    try:
        done = loop.create_future()
        for name, (a, b) in zip("ab", pairs, strict=True):
            a.setblocking(False)

            def ready(name: str = name, a: socket.socket = a) -> None:
                loop.remove_reader(a)
                log.append(name)
                if len(log) == 2:
                    done.set_result(None)

            loop.add_reader(a, ready)
            b.send(b"x")
        await done
    finally:
        for a, b in pairs:
            a.close()
            b.close()


def test_the_order_of_one_polls_events_is_explored() -> None:
    assert outcomes(two_readable_sockets, 60) == {("a", "b"), ("b", "a")}


async def reply_against_timeout(log: list[str]) -> None:
    """A reply sent at once over loopback, awaited with a 5 s timeout."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.readline()
            writer.write(b"pong\n")
            await writer.drain()
        finally:
            writer.close()  # also when the run ends first and cancels this

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    loop = asyncio.get_running_loop()
    start = loop.time()
    writer.write(b"ping\n")
    try:
        await asyncio.wait_for(reader.readline(), 5.0)
        log.append("reply")
    except TimeoutError:
        # A timeout fires at its deadline, never before.
        assert loop.time() - start >= 5.0
        log.append("timeout")
    finally:
        writer.close()
        server.close()
        await server.wait_closed()


def test_held_back_io_lets_virtual_time_pass_so_a_reply_can_lose_to_a_timeout() -> None:
    assert outcomes(reply_against_timeout, 60) == {("reply",), ("timeout",)}


async def reply_never_late() -> None:
    log: list[str] = []
    await reply_against_timeout(log)
    assert log == ["reply"], "the reply lost to the timeout"


def test_pct_finds_a_reply_losing_to_a_timeout_on_every_seed() -> None:
    for seed in range(10):
        report = explore(reply_never_late, runs=200, seed=seed)
        assert report.failed, f"seed {seed}: {report}"
        assert report.runs <= 100, f"seed {seed}: {report.runs} schedules"
        assert 1 <= len(report.choices) <= 2, report.choices
        with pytest.raises(AssertionError, match="lost to the timeout"):
            replay(reply_never_late, report.token)


def test_a_pct_delay_persists_over_the_same_events_next_asks() -> None:
    """PCT lowers a priority until a later change point: a delay chosen at a
    change point goes on, each time the same event is asked about again, with
    probability PCT_PERSIST; other events and other kinds are not touched."""
    lengths = set()
    for number in range(200):
        plan = exploration._pct_plan(random.Random(number), 1, 1)  # change point: decision 0
        assert plan(0, 2, ("io-late|sock a", 0)) == 1
        held = 1
        for index in range(1, 30):
            other = plan(index, 3, ("io-order|sock a,sock b", index))
            assert other == 0  # not a change point, not a delay
            if plan(index, 2, ("io-late|sock a", held)) == 0:
                break
            held += 1
        assert plan(99, 2, ("io-late|sock b", 0)) == 0
        lengths.add(held)
    assert {1, 2, 3} <= lengths  # geometric: 1 with probability 1/2, 2 with 1/4 ...


def test_a_delay_over_consecutive_turns_is_described_as_one_deviation() -> None:
    said = "fd 7's I/O was seen a turn later"
    deviations = [
        (3, 1, said, ("io-late|fd 7", 0)),
        (5, 1, said, ("io-late|fd 7", 1)),
        (8, 1, said, ("io-late|fd 7", 2)),
        (9, 1, "t ran after the callbacks ready before it", ("timer-late|t", 0)),
        (12, 1, said, ("io-late|fd 7", 4)),  # a later delay of the same socket: its own
    ]
    assert exploration._described(deviations) == [
        "fd 7's I/O was seen 3 turns later",
        "t ran after the callbacks ready before it",
        said,
    ]


async def timer_and_callback(log: list[str]) -> None:
    """A timer due in the same turn as a callback queued before the loop looked at the clock."""
    loop = asyncio.get_running_loop()
    done = loop.create_future()
    loop.call_at(loop.time(), log.append, "timer")
    loop.call_soon(log.append, "soon")
    loop.call_at(loop.time() + 1, done.set_result, None)
    await done


def test_a_due_timer_may_run_after_the_callbacks_ready_with_it() -> None:
    # asyncio's default: callbacks ready before the turn first, then due timers
    # join the batch after them; here "timer" is queued at turn one with "soon"
    # already queued, so both orders are possible only through lateness.
    seen = outcomes(timer_and_callback, 60)
    assert ("soon", "timer") in seen


async def timers_behind_a_callback(log: list[str]) -> None:
    """Two timers due in one turn, the first queueing a callback."""
    loop = asyncio.get_running_loop()

    def tick() -> None:
        log.append("tick")
        loop.call_soon(log.append, "after-tick")

    def schedule() -> None:
        # Deadlines already past when the loop next looks: both due in one turn.
        now = loop.time()
        loop.call_at(now - 0.002, tick)
        loop.call_at(now - 0.001, log.append, "timer")
        loop.call_at(now - 0.001, log.append, "same-deadline")

    loop.call_soon(schedule)
    await asyncio.sleep(1)


def test_a_late_timer_runs_after_callbacks_queued_by_earlier_timers() -> None:
    seen = outcomes(timers_behind_a_callback, 80)
    # asyncio's default, and the later deadlines a turn late; never the two
    # equal deadlines apart (they are due together or not at all).
    assert seen == {
        ("tick", "timer", "same-deadline", "after-tick"),
        ("tick", "after-tick", "timer", "same-deadline"),
    }


async def two_executor_jobs(log: list[str]) -> None:
    loop = asyncio.get_running_loop()
    first = loop.run_in_executor(None, time.sleep, 0.001)
    second = loop.run_in_executor(None, time.sleep, 0.001)
    first.add_done_callback(lambda _: log.append("first"))
    second.add_done_callback(lambda _: log.append("second"))
    await asyncio.gather(first, second)


def test_executor_results_land_in_either_order() -> None:
    assert outcomes(two_executor_jobs, 60) == {("first", "second"), ("second", "first")}


async def one_threads_calls(log: list[str]) -> None:
    loop = asyncio.get_running_loop()
    done = loop.create_future()

    def worker() -> None:
        for n in range(3):
            loop.call_soon_threadsafe(log.append, str(n))
        loop.call_soon_threadsafe(done.set_result, None)

    thread = threading.Thread(target=worker)
    thread.start()
    await done
    thread.join()


def test_one_threads_calls_land_in_the_order_it_made_them() -> None:
    assert outcomes(one_threads_calls, 60) == {("0", "1", "2")}


# -- what is never done -----------------------------------------------------------


async def fifo_and_wakeups(log: list[str]) -> None:
    """call_soon's FIFO, a wake-up after callbacks queued before it, deadline order."""
    loop = asyncio.get_running_loop()
    pairs = [socket.socketpair() for _ in range(2)]
    fired: list[tuple[float, float]] = []

    def at(when: float, name: str) -> None:
        fired.append((when, loop.time()))
        log.append(name)

    try:
        for n in range(3):
            loop.call_soon(log.append, f"soon{n}")
        fut = loop.create_future()

        async def waiter() -> None:
            await fut
            log.append("woken")

        task = asyncio.create_task(waiter())
        await asyncio.sleep(0)
        fut.set_result(None)  # queues the task's wake-up ...
        loop.call_soon(log.append, "after-wake")  # ... before this
        now = loop.time()
        for delay in (0.3, 0.1, 0.2):
            loop.call_at(now + delay, at, now + delay, f"t{delay}")
        for a, b in pairs:
            b.send(b"x")  # I/O events to give the explorer freedom meanwhile
            a.setblocking(False)
            loop.add_reader(a, a.recv, 1)
        await task
        await asyncio.sleep(1)
        for a, _ in pairs:
            loop.remove_reader(a)
        assert all(real >= when for when, real in fired), fired
    finally:
        for a, b in pairs:
            a.close()
            b.close()


def test_fifo_wakeups_and_deadlines_are_never_reordered() -> None:
    seen = outcomes(fifo_and_wakeups, 400)
    assert seen == {
        ("soon0", "soon1", "soon2", "woken", "after-wake", "t0.1", "t0.2", "t0.3"),
    }


# -- failures: tokens, replay, shrinking -----------------------------------------------


async def racy_counter() -> None:
    """Check-then-act across a read: two clients bump a shared counter."""
    state = {"n": 0}

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.readline()
            seen = state["n"]
            await asyncio.sleep(0.01)  # e.g. a database call
            state["n"] = seen + 1
            writer.write(b"ok\n")
            await writer.drain()
        finally:
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]

    async def client(delay: float) -> None:
        await asyncio.sleep(delay)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"inc\n")
        await reader.readline()
        writer.close()

    try:
        await asyncio.gather(client(0), client(0.02))
    finally:
        server.close()
        await server.wait_closed()
    assert state["n"] == 2, f"lost update: {state['n']}"


def test_a_race_is_found_shrunk_and_replayed_exactly() -> None:
    report = explore(racy_counter, runs=500, seed=0)
    assert report.failed, str(report)
    assert isinstance(report.error, AssertionError)
    assert report.token is not None and report.token.startswith("v1-")
    assert 1 <= len(report.choices) <= 3, report.choices
    assert report.timeline is not None and report.timeline["traceEvents"]
    text = str(report)
    assert "lost update" in text and f"glassloop replay {report.token}" in text
    for _ in range(5):
        with pytest.raises(AssertionError, match="lost update"):
            replay(racy_counter, report.token)


async def leaves_work_behind() -> None:
    async def background() -> None:
        while True:
            await asyncio.sleep(0.01)

    asyncio.get_running_loop().create_task(background())
    await asyncio.sleep(0.05)


def test_the_trace_and_the_decisions_end_with_the_program() -> None:
    """What the runner does after the main task (cancelling what it left
    running) can't change how the run ended: it is neither traced nor steered,
    so a replay's trace can't differ by when the kernel delivered a late FIN."""
    outcome = exploration._run(
        leaves_work_behind, exploration._default_plan, exploration._Setup(True, None)
    )
    assert outcome.error is None and outcome.choices.closed
    assert outcome.events[-1] == "task #1"  # main's last step; task #2's cancellation: not
    assert outcome.events.count("task #2") == 5  # its steps while main ran
    assert outcome.choices.choose("io-late", 2, "x", lambda v: "") == 0
    assert not outcome.choices.decisions  # asked after the end: asyncio's order, unrecorded


def test_the_default_schedule_of_the_racy_counter_passes() -> None:
    # The race needs a deviation: asyncio's own order gets it right.
    report = explore(racy_counter, runs=1, seed=0)
    assert not report.failed and report.runs == 1


def test_random_finds_it_too_and_shrinking_removes_what_does_not_matter() -> None:
    report = explore(racy_counter, runs=500, seed=3, strategy="random")
    assert report.failed
    assert report.deviations_before_shrinking >= len(report.choices)
    assert len(report.choices) <= 3


def test_bounded_exploration_finds_it_and_a_clean_run_is_a_guarantee() -> None:
    found = explore(racy_counter, runs=5000, strategy="bounded", deviations=1)
    assert found.failed and len(found.choices) == 1

    async def fixed() -> None:
        await asyncio.sleep(0)

    clean = explore(fixed, runs=100, strategy="bounded", deviations=2)
    assert not clean.failed and clean.exhausted
    assert "every schedule within the deviation bound" in str(clean)


def test_an_exception_in_the_default_order_is_found_in_the_first_run() -> None:
    async def broken() -> None:
        raise KeyError("always")

    report = explore(broken, runs=10)
    assert report.failed and report.runs == 1 and report.choices == []
    assert "default order" in str(report)
    with pytest.raises(KeyError):
        replay(broken, report.token)  # type: ignore[arg-type]


def test_a_deadlock_is_a_failure_with_the_waiting_tasks() -> None:
    async def stuck() -> None:
        await asyncio.get_running_loop().create_future()

    report = explore(stuck, runs=3)
    assert report.failed and isinstance(report.error, Deadlock)
    assert "waiting" in str(report.error)


def test_a_livelock_is_a_failure_with_the_task_tree(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(exploration, "MAX_TURNS", 500)

    async def spin() -> None:
        async def forever() -> None:
            while True:
                await asyncio.sleep(0)

        await asyncio.create_task(forever(), name="spinner")

    report = explore(spin, runs=2)
    assert report.failed and isinstance(report.error, Livelock)
    assert "spinner" in str(report.error)


def test_uncontrolled_nondeterminism_is_reported_not_hidden() -> None:
    async def coin() -> None:
        loop = asyncio.get_running_loop()
        if random.random() < 0.5:  # unseeded: outside the schedule's control
            loop.call_soon(lambda: None)
        await asyncio.sleep(0)
        raise RuntimeError("boom")

    found = None
    for _ in range(20):
        report = explore(coin, runs=1)
        if report.nondeterminism:
            found = report
            break
    assert found is not None and "diverged" in (found.nondeterminism or "")


def test_replaying_a_token_whose_run_does_not_fail_and_differs_raises_replay_diverged() -> None:
    async def fine() -> None:
        await asyncio.sleep(0)

    token = explore(racy_counter, runs=500).token
    assert token is not None
    with pytest.raises(ReplayDiverged):
        replay(fine, token)


# -- bad input --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"runs": 0}, ValueError),
        ({"runs": "10"}, TypeError),
        ({"strategy": "shuffle"}, ValueError),
        ({"depth": 0}, ValueError),
        ({"seed": 1.5}, TypeError),
        ({"virtual_time": "yes"}, TypeError),
        ({"deviations": -1}, ValueError),
    ],
)
def test_bad_options_are_refused(kwargs: dict[str, Any], error: type[Exception]) -> None:
    async def fine() -> None:
        pass

    with pytest.raises(error):
        explore(fine, **kwargs)


@pytest.mark.parametrize("token", ["", "v1-xyz", "v2-00000000", "v1-00000000-1x", 12])
def test_bad_tokens_are_refused(token: Any) -> None:
    async def fine() -> None:
        pass

    with pytest.raises((ValueError, TypeError)):
        replay(fine, token)


def test_a_function_that_is_not_async_is_refused_as_a_failure_of_its_run() -> None:
    def plain() -> int:
        return 1

    report = explore(plain, runs=2)  # type: ignore[arg-type]
    assert report.failed and isinstance(report.error, TypeError)
    assert "async function" in str(report.error)


# -- Hypothesis draws the schedule ---------------------------------------------------


def test_hypothesis_shrinks_the_data_and_the_schedule_together() -> None:
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from glassloop.testing import run_schedule

    failures: list[tuple[int, str]] = []

    @settings(
        max_examples=150,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(clients=st.integers(1, 4), data=st.data())
    def check(clients: int, data: st.DataObject) -> None:
        async def program() -> None:
            await racy_counter_for(clients)

        try:
            # On a simulated network: the run depends on nothing but the
            # draws, as Hypothesis needs (real sockets on a loaded machine
            # may hand bytes over a poll later, and the draws then differ).
            run_schedule(program, data, network=SimNet(latency=0.001, explored=("delay",)))
        except AssertionError as exc:
            failures.append((clients, str(exc)))
            raise

    with pytest.raises(AssertionError, match="lost update"):
        check()
    # Hypothesis's final, shrunk example: the fewest clients that can race.
    assert failures[-1][0] == 2, failures[-3:]


async def racy_counter_for(clients: int) -> None:
    """``racy_counter`` on a simulated network: clients 200 ms apart, 150 ms of database work."""
    state = {"n": 0}

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.readline()
            seen = state["n"]
            await asyncio.sleep(0.15)
            state["n"] = seen + 1
            writer.write(b"ok\n")
            await writer.drain()
        finally:
            writer.close()

    server = await asyncio.start_server(serve, "counter.sim", 80)

    async def client(delay: float) -> None:
        await asyncio.sleep(delay)
        reader, writer = await asyncio.open_connection("counter.sim", 80)
        writer.write(b"inc\n")
        await reader.readline()
        writer.close()

    try:
        await asyncio.gather(*(client(0.2 * n) for n in range(clients)))
    finally:
        server.close()
        await server.wait_closed()
    assert state["n"] == clients, f"lost update: {state['n']} of {clients}"


# -- executor jobs take their real time ----------------------------------------------


async def timeout_around_a_job(timeout: float) -> str:
    loop = asyncio.get_running_loop()
    try:
        await asyncio.wait_for(loop.run_in_executor(None, time.sleep, 0.05), timeout)
    except TimeoutError:
        return "timeout"
    return "done"


def test_a_timeout_longer_than_a_job_never_fires_trio_456() -> None:
    async def program() -> None:
        assert await timeout_around_a_job(1.0) == "done"

    report = explore(program, runs=20, strategy="random")
    assert not report.failed, str(report)


def test_a_timeout_shorter_than_a_job_fires_as_under_asyncio() -> None:
    async def program() -> None:
        assert await timeout_around_a_job(0.01) == "timeout"

    report = explore(program, runs=10, strategy="random")
    assert not report.failed, str(report)


def test_a_run_waiting_on_real_io_that_never_comes_is_stopped_not_left_to_hang(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import glassloop.testing.exploration as exploration

    monkeypatch.setattr(exploration, "MAX_RUN_SECONDS", 0.5)

    async def deadlocked() -> None:
        # A real listening socket keeps virtual time from jumping; the future
        # is one nobody will ever complete.
        server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
        async with server:
            await asyncio.get_running_loop().create_future()

    started = time.monotonic()
    report = explore(deadlocked, runs=3, seed=0, shrink=False)
    assert report.failed and isinstance(report.error, Livelock), report
    assert "0.5 s of real time" in str(report.error)
    assert "deadlocked" in str(report.error)  # the stuck task's frame is named
    assert time.monotonic() - started < 30
