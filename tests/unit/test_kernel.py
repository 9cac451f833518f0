"""The kernel's seams (clock, ready policy, hooks) and its promises about polling.

These are glassloop's own interfaces, so they run on glassloop only.
"""

from __future__ import annotations

import asyncio
import socket
from typing import Any, TypeVar

import pytest
from clocks import ManualClock

import glassloop
import glassloop.build
from glassloop.kernel import EpollPoller, FifoPolicy, Hooks
from glassloop.kernel.poller import Poller
from glassloop.kernel.tape import Tape

T = TypeVar("T")


class CountingPoller:
    """Wraps the real poller and counts the waits the kernel asks for."""

    def __init__(self) -> None:
        self.inner: Poller = EpollPoller()
        self.timeouts: list[float | None] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def __len__(self) -> int:
        return len(self.inner)

    def poll(self, timeout: float | None) -> list[Any]:
        self.timeouts.append(timeout)
        return self.inner.poll(timeout)


class Recorder(Hooks):
    def __init__(self) -> None:
        self.events: list[tuple[str, Any]] = []

    def task_created(self, task: Any) -> None:
        self.events.append(("created", task.get_name()))

    def step_started(self, task: Any) -> None:
        self.events.append(("start", task.get_name()))

    def step_ended(self, task: Any) -> None:
        self.events.append(("end", task.get_name()))

    def task_done(self, task: Any) -> None:
        self.events.append(("done", task.get_name()))

    def callback_ran(self, handle: Any, duration: float, end: float) -> None:
        assert duration >= 0
        self.events.append(("callback", None))

    def poll_waited(self, timeout: float | None, duration: float, nevents: int) -> None:
        self.events.append(("poll", nevents))


def test_no_poll_syscall_when_callbacks_are_ready_and_no_fd_is_watched() -> None:
    poller = CountingPoller()
    loop = glassloop.Loop(poller=poller)
    try:

        async def spin() -> None:
            for _ in range(100):
                await asyncio.sleep(0)

        loop.run_until_complete(spin())
        # 100 switches with only the wake-up fd registered: no turn needed a poll.
        assert poller.timeouts == []
    finally:
        loop.close()


def test_ready_work_polls_every_other_turn_without_blocking_when_an_fd_is_watched() -> None:
    poller = CountingPoller()
    loop = glassloop.Loop(poller=poller)
    a, b = socket.socketpair()
    try:
        loop.add_reader(a, lambda: None)

        async def spin() -> None:
            for _ in range(10):
                await asyncio.sleep(0)

        turns = 0
        run_once = loop._run_once

        def counted_turn() -> None:
            nonlocal turns
            turns += 1
            run_once()

        loop._run_once = counted_turn  # type: ignore[method-assign]
        loop.run_until_complete(spin())
        # I/O gets its chance at least every other turn while work keeps
        # coming (the kernel skips the peek right after a poll), but never by
        # blocking while work is ready.
        assert turns >= 10
        assert turns // 2 <= len(poller.timeouts) < turns
        assert set(poller.timeouts) == {0.0}
        loop.remove_reader(a)
    finally:
        a.close()
        b.close()
        loop.close()


def test_idle_loop_blocks_until_the_next_timer() -> None:
    poller = CountingPoller()
    loop = glassloop.Loop(poller=poller)
    try:
        loop.run_until_complete(asyncio.sleep(0.05))
        blocking = [t for t in poller.timeouts if t]
        assert blocking, poller.timeouts
        assert all(t is not None and t <= 0.05 for t in blocking)
    finally:
        loop.close()


def test_clock_seam_drives_timers() -> None:
    clock = ManualClock()
    loop = glassloop.Loop(clock=clock)
    try:
        order: list[str] = []
        loop.call_later(3600, order.append, "hour")
        loop.call_later(60, order.append, "minute")
        loop.call_later(7200, loop.stop)
        loop.run_forever()
        assert order == ["minute", "hour"]
        assert clock.now >= 1000.0 + 7200
        assert loop.time() == clock.now
    finally:
        loop.close()


def test_the_default_clock_is_read_as_getattr_would_read_it() -> None:
    # The compiled kernel reads MonotonicClock's slots in C while the class is
    # as registered: a slot set after the loop took the clock, and an emptied
    # slot, must each answer what getattr answers (here in both builds).
    from glassloop.kernel.clock import MonotonicClock

    clock = MonotonicClock()
    loop = glassloop.Loop(clock=clock)
    try:
        clock.time = lambda: 1000.0  # type: ignore[method-assign]
        clock.resolution = 0.5
        assert loop.time() == 1000.0
        assert loop.call_later(10, print).when() == 1010.0
        fired: list[float] = []
        loop.call_at(1000.4, lambda: fired.append(loop.time()))  # due within the resolution
        loop.call_soon(loop.stop)
        loop.run_forever()
        assert fired == [1000.0]
        del clock.time
        with pytest.raises(AttributeError):
            loop.time()
        with pytest.raises(AttributeError):
            loop.call_later(1, print)
    finally:
        clock.time = lambda: 2000.0  # type: ignore[method-assign]
        loop.close()


class ReversePolicy(FifoPolicy):
    def order_timers(self, due: list[T]) -> list[T]:
        return list(reversed(due))


def test_ready_policy_reorders_timers_due_together_but_not_call_soon() -> None:
    loop = glassloop.Loop(ready_policy=ReversePolicy())
    try:
        order: list[str] = []
        when = loop.time() + 0.01
        loop.call_at(when, order.append, "t1")
        loop.call_at(when, order.append, "t2")
        loop.call_soon(order.append, "s1")
        loop.call_soon(order.append, "s2")
        loop.call_at(when + 0.02, loop.stop)
        loop.run_forever()
        # call_soon keeps asyncio's FIFO guarantee; simultaneous timers are open.
        assert order == ["s1", "s2", "t2", "t1"]
    finally:
        loop.close()


def test_hooks_see_task_lifecycle_and_callbacks() -> None:
    recorder = Recorder()
    loop = glassloop.Loop(hooks=recorder)
    try:

        async def child() -> int:
            await asyncio.sleep(0)
            return 1

        async def main() -> int:
            return await loop.create_task(child(), name="child")

        assert loop.run_until_complete(loop.create_task(main(), name="main")) == 1
        events = recorder.events
        names = [e for e in events if e[0] != "callback" and e[0] != "poll"]
        assert names[0] == ("created", "main")
        assert ("created", "child") in names
        assert names.count(("start", "child")) == 2  # before and after its sleep(0)
        assert names.index(("done", "child")) < names.index(("done", "main"))
        assert sum(1 for e in events if e[0] == "callback") >= 4
    finally:
        loop.close()


def test_an_observer_that_leaves_during_a_step_still_hears_it_end() -> None:
    # The compiled build steps an observed task on its fast path with the
    # kernel's bound hooks: read once per step, as the pure build's are.
    loop = glassloop.Loop()
    recorder = Recorder()
    try:

        async def leaves() -> str:
            loop.set_hooks(None)
            return "left"

        async def fails() -> None:
            await asyncio.sleep(0)
            loop.set_hooks(None)
            raise ValueError("boom")

        loop.set_hooks(recorder)
        assert loop.run_until_complete(loop.create_task(leaves(), name="leaves")) == "left"
        loop.set_hooks(recorder)
        task = loop.create_task(fails(), name="fails")
        with pytest.raises(ValueError, match="boom"):
            loop.run_until_complete(task)
        steps = [e for e in recorder.events if e[0] in ("start", "end", "done")]
        assert steps == [
            ("start", "leaves"),
            ("end", "leaves"),
            ("done", "leaves"),
            ("start", "fails"),
            ("end", "fails"),
            ("start", "fails"),
            ("end", "fails"),
            ("done", "fails"),
        ]
    finally:
        loop.close()


def test_detached_hooks_cost_nothing_and_base_hooks_count_as_detached() -> None:
    loop = glassloop.Loop()
    try:
        assert loop.hooks is None
        loop.set_hooks(Hooks())
        assert loop.hooks is None
        recorder = Recorder()
        loop.set_hooks(recorder)
        assert loop.hooks is recorder
        loop.set_hooks(None)
        loop.run_until_complete(asyncio.sleep(0))
        assert recorder.events == []
    finally:
        loop.close()


def test_the_kernel_calls_only_the_hook_groups_an_observer_listens_to() -> None:
    class TurnsOnly(Hooks):
        def __init__(self) -> None:
            self.polls = 0

        def poll_waited(self, timeout: float | None, duration: float, nevents: int) -> None:
            self.polls += 1

    class Steps(Hooks):
        def __init__(self) -> None:
            self.steps = 0

        def step_started(self, task: Any) -> None:
            self.steps += 1

    loop = glassloop.Loop()
    try:
        turns = TurnsOnly()
        loop.set_hooks(turns)
        # Tasks and the dispatch stay on their plain paths, calls stay unchecked.
        assert loop._task_hooks is None and not loop._entry_hooks and not loop._careful
        assert loop._observed  # the poll is timed for it

        async def work() -> None:
            for _ in range(3):
                await asyncio.sleep(0.001)

        loop.run_until_complete(work())
        assert turns.polls >= 3
        steps = Steps()
        loop.set_hooks(steps)
        assert loop._task_hooks is steps and not loop._entry_hooks
        loop.run_until_complete(work())
        assert steps.steps == 4
        loop.set_debug(True)
        assert loop._entry_hooks  # debug mode times each entry (slow-callback log)
    finally:
        loop.close()


def test_a_tape_records_each_entry_and_poll_without_hooks() -> None:
    loop = glassloop.Loop()
    try:
        with pytest.raises(TypeError, match=r"glassloop\.kernel\.tape\.Tape"):
            loop.set_tape([])  # type: ignore[arg-type]
        tape = Tape(100)
        loop.set_tape(tape)
        assert loop.tape is tape and loop._observed and loop.hooks is None
        newest: list[Any] = []

        def cb() -> None:
            newest.append(tape.newest())

        async def step() -> None:
            pass

        loop.call_soon(cb)
        task = loop.create_task(step())
        loop.call_later(0.001, loop.stop)  # a poll that waits for it
        loop.run_forever()
        first, entries, starts = tape.snapshot()
        assert first == 1 and len(entries) == len(starts) == tape.count == len(tape)
        assert all(type(t) is float for t in starts) and starts == sorted(starts)
        # Each entry by its callback (not its Handle), a task by its name (the tape
        # must not keep it alive), a poll by None before it and its number of
        # events after it, and the loop's stop by False.
        assert [e for e in entries if e is not None and type(e) is not int] == [
            cb,
            task.get_name(),
            loop.stop,
            False,
        ]
        number = entries.index(cb) + 1
        assert newest == [(cb, starts[number - 1], number)]  # the newest record: what runs now
        assert tape.time_of(number) == starts[number - 1]
        polls = [n for n, e in enumerate(entries) if e is None]
        assert polls and all(type(entries[n + 1]) is int for n in polls)
        loop.set_tape(None)
        assert not loop._observed
        loop.call_soon(loop.stop)
        loop.run_forever()
        assert tape.snapshot() == (1, entries, starts)  # detached: nothing more
    finally:
        loop.close()


def test_a_tape_is_a_fixed_ring_that_numbers_its_records() -> None:
    with pytest.raises(ValueError, match="at least 2"):
        Tape(1)
    tape = Tape(4)
    assert len(tape) == 0 and tape.newest() is None and tape.snapshot() == (1, [], [])
    for n in range(1, 11):
        tape.record(f"e{n}", float(n))
    # The last four, oldest first, numbered on from the first record ever.
    assert tape.snapshot() == (7, ["e7", "e8", "e9", "e10"], [7.0, 8.0, 9.0, 10.0])
    assert tape.snapshot(2) == (9, ["e9", "e10"], [9.0, 10.0])
    assert tape.newest() == ("e10", 10.0, 10)
    assert (len(tape), tape.count, tape.dropped) == (4, 10, 6)
    assert [tape.time_of(n) for n in (6, 7, 10, 11)] == [None, 7.0, 10.0, None]
    # A longer copy keeps the numbers and grows on from there.
    longer = tape.copy(8)
    assert longer.snapshot() == tape.snapshot() and longer.capacity == 8
    for n in range(11, 16):
        longer.record(f"e{n}", float(n))
    assert longer.snapshot()[0] == 8 and len(longer) == 8 and longer.dropped == 7
    assert tape.copy(2).snapshot() == (9, ["e9", "e10"], [9.0, 10.0])


def test_a_tape_does_not_keep_a_finished_task_alive() -> None:
    import gc
    import weakref

    loop = glassloop.Loop()
    try:
        tape = Tape(500)
        loop.set_tape(tape)

        async def step() -> None:
            await asyncio.sleep(0)

        task = loop.create_task(step(), name="short-lived")
        gone = weakref.ref(task)
        loop.run_until_complete(task)
        del task
        gc.collect()
        # Its two steps are on the tape, by name; the task itself is gone.
        assert tape.snapshot()[1].count("short-lived") == 2
        assert gone() is None
    finally:
        loop.close()


def test_cancelled_timers_are_compacted_when_they_dominate_the_heap() -> None:
    loop = glassloop.Loop()
    try:
        handles = [loop.call_later(100 + i, lambda: None) for i in range(1000)]
        for handle in handles[:900]:
            handle.cancel()
        loop.call_soon(loop.stop)
        loop.run_forever()
        assert loop._timer_count() == 100
        pending = [
            timer
            for entry in loop._timers_at.values()
            for timer in (entry if isinstance(entry, list) else [entry])
        ]
        assert len(pending) == 100 and not any(timer.cancelled() for timer in pending)
    finally:
        loop.close()


@pytest.mark.parametrize("n", [1, 3])
def test_course_generators_and_native_coroutines_share_the_core(n: int) -> None:
    log: list[str] = []

    def sub(i: int) -> Any:
        yield
        return i * 10

    def worker(name: str) -> Any:
        total = 0
        for i in range(n):
            total += yield sub(i)
            log.append(f"{name}{i}")
        # A course-style task may also wait on asyncio's own awaitables.
        yield asyncio.sleep(0)
        return total

    scheduler = glassloop.Scheduler()
    try:
        a = scheduler.add_task(worker("a"))
        b = scheduler.add_task(worker("b"))
        scheduler.event_loop()
        expected = sum(i * 10 for i in range(n))
        assert scheduler.results == {a: expected, b: expected}
        assert log == [f"{name}{i}" for i in range(n) for name in "ab"]
    finally:
        scheduler.close()


def test_timers_due_at_the_same_time_run_in_the_order_scheduled() -> None:
    loop = glassloop.Loop()
    try:
        seen: list[int] = []
        when = loop.time() + 0.01
        handles = [loop.call_at(when, seen.append, i) for i in range(6)]
        loop.call_at(when - 0.005, seen.append, -1)
        handles[2].cancel()
        handles[4].cancel()
        loop.call_at(when + 0.01, loop.stop)
        loop.run_forever()
        assert seen == [-1, 0, 1, 3, 5]
        assert loop._timer_count() == 0
    finally:
        loop.close()


def test_compaction_keeps_live_timers_that_share_a_deadline() -> None:
    loop = glassloop.Loop()
    try:
        seen: list[int] = []
        when = loop.time() + 0.02
        shared = [loop.call_at(when, seen.append, i) for i in range(4)]
        doomed = [loop.call_later(100 + i, seen.append, -1) for i in range(300)]
        for handle in doomed + shared[1:3]:
            handle.cancel()
        loop.call_at(when + 0.01, loop.stop)
        loop.run_forever()
        assert seen == [0, 3]
        assert loop._timer_count() == 0
        assert all(not handle._scheduled for handle in doomed + shared)
    finally:
        loop.close()


class _Incomparable(float):
    """A real number whose ordering fails: the heap must not keep it."""

    def __lt__(self, other: object) -> bool:
        raise TypeError("no order here")

    __gt__ = __lt__


@pytest.mark.parametrize(
    ("when", "error"),
    [
        ("soon", TypeError),
        (float("nan"), ValueError),
        (object(), TypeError),
        (_Incomparable(1e9), TypeError),
    ],
)
def test_a_deadline_the_heap_cannot_order_is_refused_and_the_loop_goes_on(
    when: object, error: type[Exception]
) -> None:
    loop = glassloop.Loop()
    try:
        seen: list[str] = []
        loop.call_later(0.001, seen.append, "before")
        with pytest.raises(error):
            loop.call_at(when, seen.append, "bad")  # type: ignore[arg-type]
        loop.call_later(0.002, seen.append, "after")
        loop.run_until_complete(asyncio.sleep(0.01))
        assert seen == ["before", "after"]
        assert loop._timer_count() == 0 and not loop._timers and not loop._timers_at
    finally:
        loop.close()


@pytest.mark.parametrize(
    ("when", "error"), [(_Incomparable(1e9), TypeError), (10**400, OverflowError)]
)
def test_a_bad_deadline_is_refused_even_with_no_timer_pending(
    when: object, error: type[Exception]
) -> None:
    loop = glassloop.Loop()
    try:
        with pytest.raises(error):
            loop.call_at(when, print)  # type: ignore[arg-type]
        assert loop._timer_count() == 0 and not loop._timers
        loop.run_until_complete(asyncio.sleep(0.001))
    finally:
        loop.close()


def test_an_observer_of_steps_alone_is_not_told_of_task_entries() -> None:
    class Entries(Hooks):
        def __init__(self) -> None:
            self.started: list[Any] = []
            self.ran: list[Any] = []

        def callback_started(self, handle: Any) -> None:
            self.started.append(handle)

        def callback_ran(self, handle: Any, duration: float, end: float) -> None:
            self.ran.append(handle)

    class StepsOnly(Entries):
        entries_include_tasks = False

    async def work() -> None:
        await asyncio.sleep(0)  # the task is queued as itself: an entry with no Handle
        asyncio.get_running_loop().call_soon(lambda: None)
        await asyncio.sleep(0)

    for observer, tasks_told in ((Entries(), True), (StepsOnly(), False)):
        loop = glassloop.Loop()
        try:
            loop.set_hooks(observer)
            loop.run_until_complete(work())
        finally:
            loop.close()
        told_tasks = [h for h in observer.started if isinstance(h, asyncio.Task)]
        assert bool(told_tasks) is tasks_told
        assert observer.ran == observer.started  # every start has its end, in order
        # Handles are told of either way (the lambda's, run_until_complete's own).
        assert any(not isinstance(h, asyncio.Task) for h in observer.started)


def test_both_plain_batch_paths_run_the_same_entries_in_the_same_order() -> None:
    # The pure build runs the ready batch inline in _run_once, the compiled
    # build in _run_ready_typed (chosen once, by _inline_batch): either one,
    # forced on this build, runs handles, timers and tasks queued as
    # themselves in FIFO order, skips the cancelled, and leaves later
    # callbacks to the next turn.
    def run(inline: bool) -> list[Any]:
        loop = glassloop.Loop()
        try:
            assert loop._inline_batch is (glassloop.build.NAME == "pure")
            loop._inline_batch = inline
            order: list[Any] = []

            async def worker(name: str) -> None:
                order.append((name, 1))
                await asyncio.sleep(0)
                order.append((name, 2))

            async def main() -> None:
                loop.call_soon(order.append, "a")
                loop.call_soon(order.append, "skipped").cancel()
                tasks = [loop.create_task(worker(n)) for n in "xy"]
                loop.call_soon(lambda: loop.call_soon(order.append, "next turn"))
                loop.call_later(0, order.append, "timer")
                loop.call_soon(order.append, "b")
                await asyncio.gather(*tasks)

            loop.run_until_complete(main())
            assert loop._inline_batch is inline
            return order
        finally:
            loop.close()

    assert run(True) == run(False)
    assert "skipped" not in run(False)
