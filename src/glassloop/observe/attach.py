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
``loop.tape`` each time and never keep the deque itself.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from types import TracebackType
from typing import Any, Self

from ..kernel.hooks import Hooks


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


class SharedTape(deque[Any]):
    """A loop's tape with the observers it serves: observer -> records it wants kept."""

    owners: dict[object, int]


def share_tape(loop: Any, owner: object, records: int) -> None:
    """Put ``owner`` on the loop's tape, keeping at least its last ``records`` records."""
    if records < 1:
        raise ValueError("a tape keeps at least 1 record")
    tape = loop.tape
    if tape is not None and not isinstance(tape, SharedTape):
        raise RuntimeError("this loop's tape was set by hand (loop.set_tape): it is not shared")
    owners = dict(tape.owners) if tape is not None else {}
    owners[owner] = records
    _install_tape(loop, tape, owners)


def release_tape(loop: Any, owner: object) -> None:
    """Take ``owner`` off the loop's tape; the last one out removes the tape."""
    tape = loop.tape
    if not isinstance(tape, SharedTape) or owner not in tape.owners:
        return
    owners = {other: n for other, n in tape.owners.items() if other is not owner}
    _install_tape(loop, tape, owners)


def running_entry(loop: Any) -> tuple[Any, float] | None:
    """What ``loop`` runs now, from its tape: (entry, the float its record started at).

    The entry is a callback, or the name of the task whose step runs.

    ``None`` while it waits in a poll, is stopped, or has no tape.  Read from
    any thread: the two items are the tape's newest, read without a lock, so
    a read that falls between a record's two appends says ``None`` too.
    The float is the record's identity: the same object newest on the tape
    at two looks means the same entry still runs.
    """
    if loop._thread_id is None:
        return None  # not running: its last entry is over
    tape = loop.tape
    try:
        started = tape[-1]
        entry = tape[-2]
    except (IndexError, TypeError):
        return None
    if type(started) is not float or entry is None or entry is False:
        return None
    if type(entry) is int or type(entry) is float:
        return None  # just out of a poll, or between a record's two appends
    return entry, started


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
        #: The start float of the entry seen at the last look (its identity).
        self.seen: float | None = None
        #: When that entry began (``time.monotonic``), as well as it is known.
        self.since = 0.0
        #: Counts the entries seen: a block's number.
        self.number = 0

    def look(self) -> tuple[Any, float, float] | None:
        """(entry, its start float on the tape, seconds it has held the loop), or None if idle.

        Under the loop's own clock the tape says when the entry began; under
        another (virtual time) it is timed from the look that first saw it.
        """
        running = running_entry(self.loop)
        if running is None:
            self.seen = None  # waiting in a poll, or stopped: never a hold
            return None
        entry, started = running
        now = time.monotonic()
        if started is not self.seen:
            self.seen, self.number = started, self.number + 1
            self.since = started if self.loop.time is time.monotonic else now
        return entry, started, now - self.since

    def next_look(self, held: float | None) -> float:
        """Seconds to sleep after a look that found ``held`` (None: the loop waited)."""
        if held is None or held >= self.limit:
            return self.limit
        return max(self.limit - held, self.SHORTEST)


def tape_owners(loop: Any) -> list[object]:
    """The observers on the loop's tape, in the order they came."""
    tape = loop.tape
    return list(tape.owners) if isinstance(tape, SharedTape) else []


def _install_tape(loop: Any, old: SharedTape | None, owners: dict[object, int]) -> None:
    if not owners:
        loop.set_tape(None)
        return
    length = 2 * max(owners.values())
    if old is not None and old.maxlen == length:
        old.owners = owners
        return
    # A copy keeps the newest records (pairs: the length is even), so a
    # dump taken just after a bigger observer arrives still has the past.
    tape = SharedTape(old if old is not None else (), maxlen=length)
    tape.owners = owners
    loop.set_tape(tape)


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
