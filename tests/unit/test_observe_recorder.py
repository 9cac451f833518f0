"""glassloop.observe.Recorder: causality in the timeline, and its Chrome/Perfetto export.

Glassloop only (the recorder listens on glassloop's kernel hooks), so these
tests make their own loop.  Every exported trace goes through
``trace_checks.check_trace``, which holds the structural promises of the format: a
flow start has its finish, slices of one track never overlap, times never go
back.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import socket
import threading
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import pytest
from trace_checks import arrow_into, check_trace, enclosing, slices_on, track_of

import glassloop
from glassloop.kernel.hooks import Hooks
from glassloop.observe import HookFanout, Recorder, chrome_trace


def record(
    body: Callable[[asyncio.AbstractEventLoop], Coroutine[Any, Any, Any]], **options: Any
) -> Recorder:
    loop = glassloop.new_event_loop()
    try:
        recorder = Recorder(loop, **options)
        loop.run_until_complete(body(loop))
        recorder.close()
        return recorder
    finally:
        loop.close()


def test_a_future_completed_by_task_a_wakes_task_b_with_an_arrow_from_a_to_b() -> None:
    async def body(loop: asyncio.AbstractEventLoop) -> None:
        fut = loop.create_future()

        async def a() -> None:
            await asyncio.sleep(0)
            fut.set_result("from a")

        async def b() -> str:
            return await fut  # type: ignore[no-any-return]

        tb = asyncio.create_task(b(), name="B")
        await asyncio.create_task(a(), name="A")
        assert await tb == "from a"

    events = check_trace(chrome_trace(record(body)))
    a_track, b_track = track_of(events, "A"), track_of(events, "B")
    b_steps = slices_on(events, b_track)
    assert len(b_steps) == 2  # starts and parks on the future; is woken and returns
    start, _finish = arrow_into(events, b_steps[1])
    assert start["tid"] == a_track and start["name"] == "future"
    waker = enclosing(events, start)
    assert waker == slices_on(events, a_track)[-1]  # the step that called set_result
    assert "a future completed by step of Task 'A'" in b_steps[1]["args"]["woken_by"]
    # B's first step ended parked on the future, at the await line.
    assert b_steps[0]["args"]["waits_on"] == "Future"
    assert b_steps[0]["args"]["stopped_at"].endswith(" in b")


def test_a_task_is_created_by_the_step_that_made_it() -> None:
    async def body(loop: asyncio.AbstractEventLoop) -> None:
        async def child() -> None:
            pass

        async def parent() -> None:
            await asyncio.sleep(0)
            await asyncio.create_task(child(), name="child")

        await asyncio.create_task(parent(), name="parent")

    recorder = record(body)
    events = check_trace(chrome_trace(recorder))
    first = slices_on(events, track_of(events, "child"))[0]
    start, _ = arrow_into(events, first)
    assert start["name"] == "created"
    assert enclosing(events, start) == slices_on(events, track_of(events, "parent"))[1]
    creators = recorder.creators()
    (child_tid,) = [tid for tid, (_, name) in creators.items() if name == "child"]
    parent_tid = creators[child_tid][0]
    assert parent_tid is not None and creators[parent_tid][1] == "parent"


def test_fd_readiness_wakes_the_transports_read_callback_which_wakes_the_reader() -> None:
    left, right = socket.socketpair()
    fds: list[int] = []

    async def body(loop: asyncio.AbstractEventLoop) -> None:
        reader, writer = await asyncio.open_connection(sock=left)
        fds.append(left.fileno())

        async def read() -> bytes:
            return await reader.readexactly(5)

        task = asyncio.create_task(read(), name="reader")
        await asyncio.sleep(0)
        right.sendall(b"hello")
        assert await task == b"hello"
        writer.close()
        await writer.wait_closed()

    try:
        events = check_trace(chrome_trace(record(body)))
    finally:
        right.close()
    callbacks = [
        s
        for s in slices_on(events, track_of(events, "loop callbacks"))
        if f"fd {fds[0]} readable" in s["args"].get("woken_by", "")
    ]
    assert callbacks, "the transport's read callback, woken by fd readiness"
    read_ready = callbacks[0]
    assert read_ready["name"].endswith("_read_ready")
    start, _ = arrow_into(events, read_ready)
    assert start["name"] == "io" and enclosing(events, start)["name"] == "poll"
    # ... and that callback completed the future the reader task awaited.
    woken = slices_on(events, track_of(events, "reader"))[-1]
    start, _ = arrow_into(events, woken)
    assert enclosing(events, start) == read_ready


def test_a_timer_wakes_a_sleep_armed_by_the_sleeping_step() -> None:
    async def body(loop: asyncio.AbstractEventLoop) -> None:
        async def sleeper() -> None:
            await asyncio.sleep(0.01)

        await asyncio.create_task(sleeper(), name="sleeper")

    events = check_trace(chrome_trace(record(body)))
    steps = slices_on(events, track_of(events, "sleeper"))
    assert len(steps) == 2
    start, _ = arrow_into(events, steps[1])
    timer_callback = enclosing(events, start)
    assert timer_callback["name"] == "_set_result_unless_cancelled"
    assert "a timer armed by step of Task 'sleeper'" in timer_callback["args"]["woken_by"]
    armed, _ = arrow_into(events, timer_callback)
    assert armed["name"] == "timer" and enclosing(events, armed) == steps[0]


def test_call_soon_threadsafe_from_another_thread_is_an_arrow_from_that_thread() -> None:
    async def body(loop: asyncio.AbstractEventLoop) -> None:
        done = loop.create_future()

        def from_thread() -> None:
            loop.call_soon_threadsafe(done.set_result, None)

        worker = threading.Thread(target=from_thread, name="worker")
        worker.start()
        await done
        worker.join()

    events = check_trace(chrome_trace(record(body)))
    thread_track = track_of(events, "thread worker")
    (marker,) = slices_on(events, thread_track)
    woken = [
        s
        for s in slices_on(events, track_of(events, "loop callbacks"))
        if "call_soon_threadsafe from" in s["args"].get("woken_by", "")
    ]
    assert [s["name"] for s in woken] == ["Future.set_result"]
    start, _ = arrow_into(events, woken[0])
    assert enclosing(events, start) == marker


def test_a_bare_yield_is_the_tasks_own_wake_up() -> None:
    async def body(loop: asyncio.AbstractEventLoop) -> None:
        async def spin() -> None:
            for _ in range(3):
                await asyncio.sleep(0)

        await asyncio.create_task(spin(), name="spin")

    events = check_trace(chrome_trace(record(body)))
    steps = slices_on(events, track_of(events, "spin"))
    assert len(steps) == 4
    for before, after in itertools.pairwise(steps):
        start, _ = arrow_into(events, after)
        assert start["name"] == "yield" and enclosing(events, start) == before
        assert before["args"]["waits_on"] == "its turn (a bare yield)"


def test_polls_and_counters_are_recorded() -> None:
    async def body(loop: asyncio.AbstractEventLoop) -> None:
        loop.call_later(10, lambda: None)
        await asyncio.sleep(0.005)

    events = check_trace(chrome_trace(record(body)))
    polls = slices_on(events, track_of(events, "poll"))
    assert any(p["args"]["timeout"] and p["args"]["timeout"] > 0 for p in polls)
    counters = [e for e in events if e["ph"] == "C"]
    assert counters and all(set(c["args"]) == {"ready", "fds", "timers"} for c in counters)
    assert any(c["args"]["timers"] >= 2 for c in counters)  # the sleep's and the 10 s one


def test_the_ring_buffer_keeps_the_newest_records_and_counts_the_rest() -> None:
    async def body(loop: asyncio.AbstractEventLoop) -> None:
        for _ in range(200):
            await asyncio.sleep(0)

    recorder = record(body, capacity=50)
    assert len(recorder.records) == 50
    assert recorder.dropped > 150
    trace = chrome_trace(recorder)
    assert trace["otherData"]["dropped_records"] == recorder.dropped
    events = check_trace(trace)
    labels = [e for e in events if e["ph"] == "M" and e["name"] == "process_labels"]
    assert f"{recorder.dropped} oldest records dropped" in labels[0]["args"]["labels"]


def _untimed(record: tuple[Any, ...]) -> tuple[Any, ...]:
    """A record with its times and CPU figures blanked: two recorders read the clock apart."""
    return tuple(
        _untimed(field) if type(field) is tuple else 0.0 if type(field) is float else field
        for field in record
    )


@pytest.mark.parametrize("capacity", [1, 1500, 2049])
def test_a_wrapped_ring_holds_exactly_the_newest_records_in_order(capacity: int) -> None:
    # The same loop, seen by a recorder big enough for everything and by a
    # small one that wraps: the small one's records are the big one's last
    # ``capacity``, in order, and what it dropped is counted exactly.
    # Threads' records (ext) are in both.
    async def body(loop: asyncio.AbstractEventLoop) -> None:
        async def worker(i: int) -> None:
            for _ in range(i % 5):
                await asyncio.sleep(0)

        for _ in range(20):
            await asyncio.gather(*(worker(i) for i in range(40)))
            await loop.run_in_executor(None, loop.call_soon_threadsafe, lambda: None)
            loop.call_soon(lambda: None)
            await asyncio.sleep(0)

    loop = glassloop.new_event_loop()
    try:
        everything = Recorder(loop, capacity=10**6, cpu_time=False)
        newest = Recorder(loop, capacity=capacity, cpu_time=False)
        loop.run_until_complete(body(loop))
        everything.close()
        newest.close()
    finally:
        loop.close()
    complete = list(everything.records)
    assert everything.dropped == 0
    assert len(complete) > 2 * 2049
    assert {r[0] for r in complete} >= {"task", "step", "cb", "poll", "ext", "done"}
    kept = list(newest.records)
    assert len(kept) == capacity
    assert newest.dropped == len(complete) - capacity
    assert [_untimed(r) for r in kept] == [_untimed(r) for r in complete[-capacity:]]


def test_records_written_from_other_threads_while_the_loop_records_are_all_kept() -> None:
    # call_soon_threadsafe from four threads, while the loop runs a chain of
    # callbacks and steps: every thread's call is one "ext" record of its
    # own (no two records given one slot of the ring), and every callback it
    # queued names that record as its waker.
    calls_per_thread = 400
    loop = glassloop.new_event_loop()
    ran = [0]

    def from_thread() -> None:
        ran[0] += 1

    async def body() -> None:
        def feed() -> None:
            for _ in range(calls_per_thread):
                loop.call_soon_threadsafe(from_thread)

        threads = [threading.Thread(target=feed) for _ in range(4)]
        for thread in threads:
            thread.start()
        while any(thread.is_alive() for thread in threads):
            await asyncio.sleep(0)
        for thread in threads:
            thread.join()
        for _ in range(10):
            await asyncio.sleep(0)

    try:
        recorder = Recorder(loop, capacity=10**6, cpu_time=False)
        loop.run_until_complete(body())
        recorder.close()
    finally:
        loop.close()
    records = recorder.records
    assert ran[0] == 4 * calls_per_thread
    assert recorder.dropped == 0
    assert all(
        type(r) is tuple and r[0] in {"task", "step", "cb", "poll", "ext", "done"} for r in records
    )
    ext_acts = [r[2] for r in records if r[0] == "ext"]
    assert len(ext_acts) == len(set(ext_acts)) == 4 * calls_per_thread
    woken = [r[6] for r in records if r[0] == "cb" and r[5] == from_thread.__qualname__]
    assert len(woken) == 4 * calls_per_thread
    assert all(wake is not None and wake[0] == "thread" for wake in woken)
    assert sorted(wake[1] for wake in woken) == sorted(ext_acts)


def test_export_writes_a_json_file(tmp_path: Path) -> None:
    async def body(loop: asyncio.AbstractEventLoop) -> None:
        await asyncio.sleep(0)

    recorder = record(body)
    path = tmp_path / "trace.json"
    recorder.export_chrome_trace(str(path))
    check_trace(json.loads(path.read_text()))
    assert list(tmp_path.iterdir()) == [path]


def test_observers_share_the_hooks_slot_and_leave_it_empty() -> None:
    loop = glassloop.new_event_loop()
    try:
        recorder = Recorder(loop)
        assert loop.hooks is recorder
        with Recorder(loop) as second:
            assert isinstance(loop.hooks, HookFanout)
            assert loop.hooks.members == (recorder, second)
            loop.run_until_complete(asyncio.sleep(0))
        assert any(r[0] == "step" for r in second.records)
        assert loop.hooks is recorder
        recorder.close()
        assert loop.hooks is None
        assert any(r[0] == "step" for r in recorder.records)
    finally:
        loop.close()


def cb_record(recorder: Recorder, name: str) -> tuple[Any, ...]:
    """The one callback record of ``recorder`` whose callback's name ends with ``name``."""
    (found,) = [r for r in recorder.records if r[0] == "cb" and r[5].endswith(name)]
    return found


def test_an_observer_joining_or_leaving_while_an_entry_waits_never_takes_anothers_wake() -> None:
    # A lone recorder may keep what queued an entry on the entry itself
    # (compiled); observers attached or gone before the entry runs must
    # neither lose a wake nor claim another's.
    loop = glassloop.new_event_loop()
    first, second, third = Recorder(loop), Recorder(), Recorder()

    def queue() -> None:
        loop.call_soon(x)  # first is alone
        second.attach(loop)

    def x() -> None:
        loop.call_soon(y)  # both listen
        loop.call_soon(w)

    def y() -> None:
        pass

    def w() -> None:
        first.close()
        loop.call_soon(z)  # second is alone
        second.close()
        third.attach(loop)

    def z() -> None:
        done.set_result(None)

    try:
        done = loop.create_future()
        loop.call_soon(queue)
        loop.run_until_complete(done)
        third.close()
    finally:
        loop.close()
    assert cb_record(first, ".x")[6][:2] == ("soon", cb_record(first, ".queue")[4])
    assert cb_record(first, ".y")[6][:2] == ("soon", cb_record(first, ".x")[4])
    assert cb_record(second, ".x")[6] is None  # queued before it came
    assert cb_record(second, ".y")[6][:2] == ("soon", cb_record(second, ".x")[4])
    assert not [r for r in second.records if r[0] == "cb" and r[5].endswith(".z")]
    assert cb_record(third, ".z")[6] is None  # queued before it came, noted by second


def test_slices_are_timed_on_the_loops_clock() -> None:
    seen: list[float] = []

    async def body(loop: asyncio.AbstractEventLoop) -> None:
        def inside() -> None:
            seen.append(loop.time())

        before = loop.time()
        loop.call_soon(inside)
        await asyncio.sleep(0)
        seen.extend((before, loop.time()))

    recorder = record(body)
    inside_at, before, after = seen
    _, start, end, *_ = cb_record(recorder, ".inside")
    assert before <= start <= inside_at <= end <= after


def test_hooks_do_not_change_the_order_callbacks_run_in() -> None:
    def run(observe: bool) -> list[str]:
        loop = glassloop.new_event_loop()
        order: list[str] = []
        try:
            if observe:
                Recorder(loop)

            async def worker(name: str) -> None:
                for i in range(3):
                    order.append(f"{name}{i}")
                    loop.call_soon(order.append, f"cb-{name}{i}")
                    await asyncio.sleep(0)

            async def main() -> None:
                await asyncio.gather(worker("x"), worker("y"))

            loop.run_until_complete(main())
            return order
        finally:
            loop.close()

    assert run(observe=True) == run(observe=False)


def test_a_bare_hooks_object_still_hears_the_new_hook_points() -> None:
    heard: list[str] = []

    class Listener(Hooks):
        def callback_scheduled(self, handle: Any) -> None:
            heard.append("scheduled")

        def callback_started(self, handle: Any) -> None:
            heard.append("started")

        def timers_due(self, timers: list[Any]) -> None:
            heard.append("due")

    loop = glassloop.Loop(hooks=Listener())
    try:
        loop.run_until_complete(asyncio.sleep(0.001))
    finally:
        loop.close()
    assert {"scheduled", "started", "due"} <= set(heard)


def test_an_observed_call_soon_refuses_what_the_plain_one_refuses() -> None:
    loop = glassloop.new_event_loop()
    try:
        Recorder(loop)

        async def coroutine_function() -> None:
            pass

        with pytest.raises(TypeError, match="coroutines cannot be used with call_soon"):
            loop.call_soon(coroutine_function)
        with pytest.raises(TypeError, match="a callable object was expected"):
            loop.call_soon(42)  # type: ignore[arg-type]
        assert not loop._ready  # nothing was queued
    finally:
        loop.close()


def test_debug_mode_and_a_recorder_together_still_draw_who_woke_whom() -> None:
    loop = glassloop.new_event_loop()
    loop.set_debug(True)  # tasks are stepped by Handles then, not queued as themselves
    try:
        recorder = Recorder(loop)

        async def a(fut: asyncio.Future[int]) -> None:
            await asyncio.sleep(0)
            fut.set_result(1)

        async def b(fut: asyncio.Future[int]) -> int:
            return await fut

        async def main() -> None:
            fut = loop.create_future()
            tb = loop.create_task(b(fut), name="B")
            await loop.create_task(a(fut), name="A")
            assert await tb == 1

        loop.run_until_complete(main())
        recorder.close()
    finally:
        loop.close()
    events = check_trace(chrome_trace(recorder))
    woken = slices_on(events, track_of(events, "B"))[-1]
    start, _ = arrow_into(events, woken)
    step_handle = enclosing(events, start)  # the Handle that ran B's step ...
    assert step_handle["tid"] == track_of(events, "loop callbacks")
    start, _ = arrow_into(events, step_handle)  # ... was queued by A's last step
    assert enclosing(events, start) == slices_on(events, track_of(events, "A"))[-1]


def test_a_fanout_tells_task_entries_only_to_members_that_want_them() -> None:
    class Entries(Hooks):
        def __init__(self) -> None:
            self.tasks = 0
            self.handles = 0

        def callback_started(self, handle: Any) -> None:
            if isinstance(handle, asyncio.Task):
                self.tasks += 1
            else:
                self.handles += 1

    wants, recorder_like = Entries(), Entries()
    recorder_like.entries_include_tasks = False
    loop = glassloop.new_event_loop()
    try:
        loop.set_hooks(HookFanout([wants, recorder_like]))

        async def work() -> None:
            for _ in range(3):
                await asyncio.sleep(0)

        loop.run_until_complete(work())
    finally:
        loop.close()
    assert wants.tasks >= 3 and recorder_like.tasks == 0
    assert recorder_like.handles == wants.handles > 0


def test_long_slices_carry_their_cpu_time_and_short_ones_none() -> None:
    import time

    def spin(seconds: float) -> None:
        end = time.thread_time() + seconds
        while time.thread_time() < end:
            pass

    async def body(loop: asyncio.AbstractEventLoop) -> None:
        async def computing() -> None:
            await asyncio.sleep(0)
            spin(0.05)

        async def sleeping() -> None:
            await asyncio.sleep(0)
            time.sleep(0.05)  # on the loop thread, but not on its CPU

        await asyncio.create_task(computing(), name="computing")
        await asyncio.create_task(sleeping(), name="sleeping")
        loop.call_soon(spin, 0.03)
        await asyncio.sleep(0.001)

    recorder = record(body)
    steps = {r[10]: r for r in recorder.records if r[0] == "step" and r[2] - r[1] > 0.02}
    computing, sleeping = steps["computing"], steps["sleeping"]
    assert 0.04 <= computing[3] <= computing[2] - computing[1]
    assert sleeping[3] < 0.02 < sleeping[2] - sleeping[1]
    spun = [r for r in recorder.records if r[0] == "cb" and r[5].endswith("spin")]
    assert len(spun) == 1 and 0.025 <= spun[0][3] <= spun[0][2] - spun[0][1]
    short = [r for r in recorder.records if r[0] in ("cb", "step") and r[2] - r[1] < 0.0005]
    assert short and all(r[3] is None for r in short)
    events = check_trace(chrome_trace(recorder))
    assert any(e.get("args", {}).get("cpu_ms", 0) >= 40 for e in events if e["ph"] == "X")
    off = record(body, cpu_time=False)
    assert all(r[3] is None for r in off.records if r[0] in ("cb", "step"))


def test_where_a_step_stopped_is_found_through_coroutines_and_generators() -> None:
    from glassloop.observe.recorder import suspended_at

    def line_of(marker: str) -> int:
        source = Path(__file__).read_text().splitlines()
        return next(i for i, text in enumerate(source, 1) if text.rstrip().endswith(marker))

    class Frameless:
        def __await__(self) -> Any:  # an iterator with no frame, as a future's
            return iter([None])

    class Generator:
        def __await__(self) -> Any:  # a generator link, as a Task's __await__
            yield None  # here: generator

    async def two_points() -> None:
        await Frameless()  # here: one
        await Frameless()  # here: two
        await Generator()

    async def outer() -> None:
        await two_points()

    async def agen() -> Any:
        await Frameless()
        yield 1

    async def iterates() -> None:
        async for _ in agen():  # here: async for
            pass

    # One code object, three suspension points, each looked at twice (the
    # second answer comes from the cache of points seen).
    for _ in range(2):
        coro = outer()
        coro.send(None)
        assert suspended_at(coro) == (__file__, line_of("# here: one"), "two_points")
        coro.send(None)
        assert suspended_at(coro) == (__file__, line_of("# here: two"), "two_points")
        coro.send(None)
        assert suspended_at(coro) == (__file__, line_of("# here: generator"), "__await__")
        coro.close()
        # An async generator's step object shows no frame: the chain stops
        # at the frame that iterates it.
        loops = iterates()
        loops.send(None)
        assert suspended_at(loops) == (__file__, line_of("# here: async for"), "iterates")
        loops.close()


def test_a_step_that_awaits_a_task_stopped_at_its_await_not_in_the_task() -> None:
    # A glassloop Task's __await__ is a generator (asyncio's is a C iterator
    # with no frame): the step's record names the await in the caller, as a
    # trace of the same program on asyncio would, never a line of task.py.
    source = Path(__file__).read_text().splitlines()
    line = next(i for i, text in enumerate(source, 1) if text.rstrip().endswith("# awaits"))

    async def body(loop: asyncio.AbstractEventLoop) -> None:
        async def child() -> None:
            await asyncio.sleep(0.01)

        async def parent() -> None:
            await loop.create_task(child(), name="child")  # awaits

        await loop.create_task(parent(), name="parent")

    recorder = record(body)
    parked = [r for r in recorder.records if r[0] == "step" and r[10] == "parent" and not r[9]]
    assert parked and all(r[7] == (__file__, line, "parent") for r in parked)
    assert all(r[8] == "Task 'child'" for r in parked)
