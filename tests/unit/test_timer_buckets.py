"""The kernel's timer buckets against a model: a plain list sorted by (deadline, order scheduled).

The scheduler keeps timers in 1/1024 s buckets, sorts a bucket only when it
falls due, and keeps the bucket the clock is inside sorted latest first
(see kernel/scheduler.py).  Whatever mix of deadlines, cancellations and
clock steps, each turn must run exactly the timers due by then, in the order
asyncio's heap would: by deadline, and in the order scheduled among equal
deadlines.  A clock moved by the test drives the turns one at a time.
"""

from __future__ import annotations

import random
from typing import Any

import pytest
from clocks import SteppedClock

import glassloop


class Model:
    """What should fire: every live timer, by (deadline, scheduling order)."""

    def __init__(self, loop: glassloop.Loop, clock: SteppedClock, rng: random.Random) -> None:
        self.loop, self.clock, self.rng = loop, clock, rng
        self.pending: dict[int, tuple[float, Any]] = {}  # seq -> (when, handle)
        self.fired: list[int] = []
        self.seq = 0
        self.used_deadlines: list[float] = []
        self.spawning = True

    def deadline(self) -> float:
        now, rng = self.clock.now, self.rng
        kind = rng.random()
        if kind < 0.2 and self.used_deadlines:
            return rng.choice(self.used_deadlines)  # an equal deadline: FIFO among them
        if kind < 0.3:
            return now - rng.random() * 0.01  # already due
        if kind < 0.8:
            return now + rng.random() * 0.003  # this bucket or the next few
        return now + rng.random() * 0.2

    def schedule(self) -> None:
        when = self.deadline()
        self.used_deadlines.append(when)
        seq = self.seq
        self.seq += 1
        handle = self.loop.call_at(when, self.fire, seq)
        self.pending[seq] = (when, handle)

    def fire(self, seq: int) -> None:
        self.fired.append(seq)
        # Some callbacks schedule more: pushes while the clock is inside a bucket.
        if self.spawning and self.rng.random() < 0.3:
            self.schedule()

    def cancel_some(self, share: float) -> None:
        for seq in [s for s in self.pending if self.rng.random() < share]:
            self.pending.pop(seq)[1].cancel()

    def due(self, end: float) -> list[int]:
        due = sorted((when, seq) for seq, (when, _) in self.pending.items() if when < end)
        return [seq for _, seq in due]

    def turn(self) -> None:
        """One loop turn; checks that exactly the due timers ran, in order."""
        expected = self.due(self.clock.now + self.clock.resolution)
        self.fired.clear()
        self.loop._run_once()
        # Timers scheduled by the callbacks are pending now, not fired.
        assert self.fired == expected
        for seq in expected:
            del self.pending[seq]


@pytest.mark.parametrize("seed", range(12))
def test_timers_fire_by_deadline_then_fifo_whatever_the_steps(seed: int) -> None:
    rng = random.Random(seed)
    clock = SteppedClock()
    loop = glassloop.Loop(clock=clock)
    model = Model(loop, clock, rng)
    try:
        for _ in range(300):
            for _ in range(rng.randrange(0, 12)):
                model.schedule()
            if rng.random() < 0.2:
                model.cancel_some(rng.choice((0.1, 0.7)))  # 0.7: enough to compact
            clock.now += rng.choice((0.0, rng.random() * 0.0005, rng.random() * 0.004))
            model.turn()
        # The rest, however far ahead.
        model.spawning = False
        clock.now += 1.0
        model.turn()
        assert not model.pending
    finally:
        loop.close()


def test_next_wait_is_the_earliest_deadline_inside_a_crowded_bucket() -> None:
    clock = SteppedClock()
    loop = glassloop.Loop(clock=clock)
    try:
        base = 1000.0005
        # All in one 1/1024 s bucket, scheduled latest first.
        for i in range(50, 0, -1):
            loop.call_at(base + i * 1e-6, lambda: None)
        assert loop._next_deadline() == base + 1e-6
        loop.call_at(base, lambda: None)  # into the bucket now kept sorted
        assert loop._next_deadline() == base
        clock.now = base + 25.5e-6
        loop._run_once()
        assert loop._timer_count() == 51 - 26
        assert loop._next_deadline() == base + 26e-6
    finally:
        loop.close()


@pytest.mark.parametrize("when", [float("inf"), float("-inf"), 1e305, -1e305, 10**30, 2**-40])
def test_extreme_deadlines_keep_their_order(when: float) -> None:
    clock = SteppedClock()
    loop = glassloop.Loop(clock=clock)
    try:
        order: list[str] = []
        loop.call_at(when, order.append, "extreme")
        loop.call_at(1000.5, order.append, "middle")
        clock.now = 1001.0
        loop._run_once()
        expected_now = ["extreme", "middle"] if when < 1000.5 else ["middle"]
        assert order == expected_now
    finally:
        loop.close()


def test_compacting_keeps_fifo_in_the_bucket_kept_sorted() -> None:
    clock = SteppedClock()
    loop = glassloop.Loop(clock=clock)
    try:
        fired: list[int] = []
        base = 1000.0005  # one bucket holds everything below
        handles = []
        for i in range(300):
            # Pairs of equal deadlines, scheduled out of deadline order.
            handles.append(loop.call_at(base + ((i * 7) % 150) * 1e-7, fired.append, i))
        clock.now = base + 10e-7  # inside the bucket: it is sorted latest first
        loop._run_once()
        first = list(fired)
        # More than half (compaction), keeping both timers of the pairs i, i + 150.
        cancelled = set()
        for i, h in enumerate(handles):
            if i % 150 >= 75 and i not in first:
                h.cancel()
                cancelled.add(id(h))
        assert len(cancelled) > 100
        clock.now += 1.0
        loop._run_once()  # compacts, then runs the rest
        loop._run_once()
        kept = [(h.when(), i) for i, h in enumerate(handles) if id(h) not in cancelled]
        assert first + fired[len(first) :] == [i for _, i in sorted(kept)]
    finally:
        loop.close()
