"""Sharing a loop's one hooks slot, and its one tape, between several observers.

The kernel holds a single hooks object (``None`` while nobody listens, so an
unobserved loop pays one test per hook point).  A recorder and a blocking
detector may both want to listen: :func:`attach` puts a :class:`HookFanout`
in the slot when a second observer arrives, and :func:`detach` takes it away
again when one is left, so a lone observer is called directly.

The kernel also holds a single tape (``Scheduler.set_tape``).  A flight
recorder wants the last thousands of records, a blocking detector only the
newest: :func:`share_tape` keeps one tape as long as the longest request and
swaps in a longer copy when a bigger one arrives, so observers of a tape read
``loop.tape`` each time and never keep the tape itself.
"""

from __future__ import annotations

import threading
import time
import weakref
from types import TracebackType
from typing import Any, Self

from ..kernel.hooks import Hooks
from ..kernel.tape import Tape


class HookFanout(Hooks):
    """Calls each member's hook in turn, in the order they were attached."""

    def __init__(self, members: list[Hooks]) -> None:
        self.members = tuple(members)
        self.entries_include_tasks = any(member.entries_include_tasks for member in members)
        #: Members told of every entry, and those not told of task entries.
        self._all_entries = tuple(m for m in members if m.entries_include_tasks)

    def listens(self, name: str) -> bool:
        return any(member.listens(name) for member in self.members)

    def task_created(self, task: Any) -> None:
        for member in self.members:
            member.task_created(task)

    def step_started(self, task: Any) -> None:
        for member in self.members:
            member.step_started(task)

    def step_ended(self, task: Any) -> None:
        for member in self.members:
            member.step_ended(task)

    def task_done(self, task: Any) -> None:
        for member in self.members:
            member.task_done(task)

    def callback_started(self, handle: Any) -> None:
        # (A task queued as itself has no ``_callback``.)
        for member in self.members if handle._callback is not None else self._all_entries:
            member.callback_started(handle)

    def callback_ran(self, handle: Any, duration: float, end: float) -> None:
        for member in self.members if handle._callback is not None else self._all_entries:
            member.callback_ran(handle, duration, end)

    def callback_scheduled(self, handle: Any) -> None:
        for member in self.members:
            member.callback_scheduled(handle)

    def threadsafe_scheduled(self, handle: Any) -> None:
        for member in self.members:
            member.threadsafe_scheduled(handle)

    def poll_waited(self, timeout: float | None, duration: float, nevents: int) -> None:
        for member in self.members:
            member.poll_waited(timeout, duration, nevents)

    def io_ready(self, handles: list[Any]) -> None:
        for member in self.members:
            member.io_ready(handles)

    def timers_due(self, timers: list[Any]) -> None:
        for member in self.members:
            member.timers_due(timers)

    def fd_watched(self, fd: int, writing: bool, handle: Any) -> None:
        for member in self.members:
            member.fd_watched(fd, writing, handle)


def observers(loop: Any) -> list[Hooks]:
    """The observers attached to ``loop``, in attachment order."""
    current = loop.hooks
    if current is None:
        return []
    if isinstance(current, HookFanout):
        return list(current.members)
    return [current]


def _install(loop: Any, members: list[Hooks]) -> None:
    if not members:
        loop.set_hooks(None)
    elif len(members) == 1:
        loop.set_hooks(members[0])
    else:
        loop.set_hooks(HookFanout(members))


#: Held while the hooks slot is rewritten: a blocking detector's watchdog
#: attaches it from its own thread while the loop thread may attach or detach.
#: (The kernel reads the slot without it: every state between two writes is
#: one observer set or the other.)
_slot_lock = threading.RLock()


def attach(loop: Any, hooks: Hooks) -> None:
    """Add ``hooks`` to the loop's observers (a no-op if it is attached already)."""
    with _slot_lock:
        members = observers(loop)
        if not any(member is hooks for member in members):
            _install(loop, [*members, hooks])


def detach(loop: Any, hooks: Hooks) -> None:
    """Remove ``hooks`` from the loop's observers, if it is one of them."""
    with _slot_lock:
        members = observers(loop)
        if any(member is hooks for member in members):
            _install(loop, [member for member in members if member is not hooks])


#: A shared tape -> the observers it serves, each with the records it wants kept.
#: (A tape not in here was set by hand, with ``loop.set_tape``.)
_OWNERS: weakref.WeakKeyDictionary[Tape, dict[object, int]] = weakref.WeakKeyDictionary()


def share_tape(loop: Any, owner: object, records: int) -> None:
    """Put ``owner`` on the loop's tape, keeping at least its last ``records`` records."""
    if records < 2:
        raise ValueError("a tape keeps at least 2 records")
    tape = loop.tape
    if tape is not None and tape not in _OWNERS:
        raise RuntimeError("this loop's tape was set by hand (loop.set_tape): it is not shared")
    owners = dict(_OWNERS[tape]) if tape is not None else {}
    owners[owner] = records
    _install_tape(loop, tape, owners)


def release_tape(loop: Any, owner: object) -> None:
    """Take ``owner`` off the loop's tape; the last one out removes the tape."""
    tape = loop.tape
    owners = _OWNERS.get(tape) if tape is not None else None
    if owners is None or owner not in owners:
        return
    _install_tape(loop, tape, {other: n for other, n in owners.items() if other is not owner})


def running_entry(loop: Any) -> tuple[Any, float, int] | None:
    """What ``loop`` runs now, from its tape: (entry, when it started, its record's number).

    The entry is a callback, or the name of the task whose step runs.
    ``None`` while it waits in a poll, is stopped, or has no tape.  Read from
    any thread.  The number is the record's identity: the same number
    newest on the tape at two looks means the same entry still runs.
    """
    if loop._thread_id is None:
        return None  # not running: its last entry is over
    tape: Tape | None = loop.tape
    newest = tape.newest() if tape is not None else None
    if newest is None:
        return None
    entry = newest[0]
    if entry is None or entry is False or type(entry) is int:
        return None  # in a poll, just out of one, or stopped
    return newest


def still_running(loop: Any, number: int) -> bool:
    """Whether record ``number`` is still the newest on ``loop``'s tape (its entry runs on)."""
    tape = loop.tape
    return tape is not None and tape.count == number


class EntryWatch:
    """A watchdog thread's view of the entry holding ``loop``: how long, and when to look again.

    Looking costs the loop more than it seems: on a one-CPU server each look
    wakes the watchdog, which must take the GIL from the loop thread (a
    detector looking every 10 ms made the loop thread's involuntary context
    switches under load 26 times the bare loop's).  So a watchdog looks when
    the entry it saw running could first have held the loop ``limit``
    seconds, or ``limit`` after a look that found the loop waiting: the
    first look that can find a hold of ``limit`` comes as it reaches it.
    """

    #: The shortest sleep between looks (an entry just short of the limit).
    SHORTEST = 0.001

    def __init__(self, loop: Any, limit: float) -> None:
        self.loop = loop
        self.limit = limit
        #: The record number of the entry seen at the last look (its identity).
        self.seen: int | None = None
        #: When that entry began (``time.monotonic``), as well as it is known.
        self.since = 0.0

    def look(self) -> tuple[Any, int, float] | None:
        """(entry, its record's number, seconds it has held the loop), or None if idle.

        Under the loop's own clock the tape says when the entry began; under
        another (virtual time) it is timed from the look that first saw it.
        """
        running = running_entry(self.loop)
        if running is None:
            self.seen = None  # waiting in a poll, or stopped: never a hold
            return None
        entry, started, number = running
        now = time.monotonic()
        if number != self.seen:
            self.seen = number
            self.since = started if self.loop.time is time.monotonic else now
        return entry, number, now - self.since

    def next_look(self, held: float | None) -> float:
        """Seconds to sleep after a look that found ``held`` (None: the loop waited)."""
        if held is None or held >= self.limit:
            return self.limit
        return max(self.limit - held, self.SHORTEST)


def _install_tape(loop: Any, old: Tape | None, owners: dict[object, int]) -> None:
    if not owners:
        loop.set_tape(None)
        return
    length = max(owners.values())
    if old is not None and old.capacity == length:
        _OWNERS[old] = owners
        return
    # A copy keeps the newest records (and their numbers), so a dump taken
    # just after a bigger observer arrives still has the past.
    tape = old.copy(length) if old is not None else Tape(length)
    _OWNERS[tape] = owners
    loop.set_tape(tape)


def tape_owners(loop: Any) -> list[object]:
    """The observers on the loop's tape, in the order they came."""
    tape = loop.tape
    owners = _OWNERS.get(tape) if tape is not None else None
    return list(owners) if owners is not None else []


class ClosedOnExit:
    """``with observer:`` closes it (detaches it from its loop) on the way out."""

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
