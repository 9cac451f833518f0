# cython: boundscheck=False, wraparound=False
"""The tape: the always-on observers' seam, a fixed ring of (entry, start time) records.

A flight recorder and a blocking detector must cost next to nothing, so the
kernel does not call them: it writes a record before each ready entry runs
and around each poll (``Scheduler.set_tape``), and they read the tape when
they need to, from their own threads.  What a record holds:

- an entry about to run: its callback, or for a task's step the task's name
  (not the task: a ring that kept finished tasks alive kept their
  coroutines and results too, and cost an aiohttp server 13 % of its CPU);
- a poll: ``None`` as it starts, its number of events when it returns;
- ``False`` when ``run_forever`` returns (the loop is not running);

each with the loop clock's time.  A record ends where the next begins, and
the newest is what the loop does now.

The ring is preallocated and never grows: the times are raw doubles in an
array, not float objects (a ring of 20 000 float objects made each record
free one last touched 20 000 records ago, cold in the cache), and records
are numbered, so a reader in another thread can tell whether the record it
saw is still the newest, and how many the ring has dropped.

Compiled (tape.pxd), :meth:`Tape.record` is a C call from the kernel; in the
pure build it is a method call per record.  Reads (:meth:`newest`,
:meth:`snapshot`) are safe from any thread: the compiled ones run without
releasing the GIL, and the pure ones check the record count around what
they read.
"""

from __future__ import annotations

from array import array
from typing import Any


class Tape:
    """A ring of the last ``records`` records: see the module's docstring."""

    def __init__(self, records: int) -> None:
        if records < 2:
            # (One slot would be written over while another thread reads it.)
            raise ValueError("a tape keeps at least 2 records")
        self.capacity: int = records
        self._entries: list[Any] = [None] * records
        times = array("d", bytes(8 * records))
        #: The times, for reads; ``_times`` is the same memory, for writes (a
        #: typed view in C, compiled: no float object per record).
        self._time_array: array[float] = times
        self._times: array[float] = times
        #: Records ever written: the newest is number ``count``, and record n
        #: is in slot ``(n - 1) % capacity``.
        self.count: int = 0
        #: The slot of the next record (``count % capacity``, kept, not computed).
        self._next: int = 0
        #: Records numbered before this tape's first (a copy's: see copy()).
        self._base: int = 0

    def record(self, entry: Any, time: float) -> None:
        """Write a record (the kernel's call, once per entry and twice per poll)."""
        at = self._next
        self._entries[at] = entry
        self._times[at] = time
        at += 1
        self._next = at if at < self.capacity else 0
        self.count += 1  # last: a reader checks it around what it reads

    def __len__(self) -> int:
        written = self.count - self._base
        return written if written < self.capacity else self.capacity

    @property
    def dropped(self) -> int:
        """Records numbered before the oldest it holds (written over, or never copied)."""
        return self.count - len(self)

    def newest(self) -> tuple[Any, float, int] | None:
        """The newest record: (entry, time, its number), or None if there is none.

        From another thread, a record written while this reads says None.
        """
        count = self.count
        if count == 0:
            return None
        at = (count - 1) % self.capacity
        entry = self._entries[at]
        time = self._time_array[at]
        if self.count != count:
            return None  # (pure build) a record was written meanwhile
        return entry, time, count

    def time_of(self, number: int) -> float | None:
        """The time of record ``number``, if the ring still holds it."""
        if number <= self._base or number > self.count:
            return None
        time = self._time_array[(number - 1) % self.capacity]
        if self.count - number >= self.capacity:
            return None  # written over (perhaps while this read it)
        return float(time)

    def snapshot(self, last: int | None = None) -> tuple[int, list[Any], list[float]]:
        """The newest ``last`` records (all it holds, by default), oldest first.

        Returns (the first one's number, entries, times).  A consistent copy
        from any thread: records written while it is taken (pure build), and
        the ones they wrote over, are left out.
        """
        before = self.count
        entries = list(self._entries)
        times = self._time_array.tolist()
        after = self.count
        # Good: numbers in (after - capacity, before]; slot of n: (n - 1) % capacity.
        first = max(after - self.capacity, self._base) + 1
        if last is not None:
            first = max(first, before - max(last, 0) + 1)
        start = before % self.capacity  # the slot of number before - capacity + 1
        entries = entries[start:] + entries[:start]
        times = times[start:] + times[:start]
        # Rotated, slot k holds number before - capacity + 1 + k.
        cut = first - (before - self.capacity + 1)
        return first, entries[cut:], times[cut:]

    def copy(self, records: int | None = None) -> Tape:
        """A new tape of ``records`` (this one's capacity by default) with the newest records.

        Record numbers carry over, so a reader's record number stays good.
        """
        capacity = records if records is not None else self.capacity
        first, entries, times = self.snapshot(capacity)
        tape: Tape = Tape(capacity)
        tape.count = tape._base = first - 1
        tape._next = tape.count % capacity
        for entry, time in zip(entries, times, strict=True):
            tape.record(entry, time)
        return tape
