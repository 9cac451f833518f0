"""The ready-policy seam: the order of what the OS leaves open.

asyncio guarantees FIFO order for ``call_soon``; that order is never changed.
What *is* open is what the operating system and the other threads decide:
which of the I/O events one poll reports is handled first (and whether an
event is seen this turn or a later one: the data may simply arrive later),
whether a timer that is due runs before this turn's callbacks or after them
(the clock may read a hair earlier), and on which turn a call made from
another thread lands.  A policy decides those, which is how ``testing``
explores interleavings that can really happen under asyncio.
"""

from __future__ import annotations

from typing import Any, Protocol, TypeVar

T = TypeVar("T")


class ReadyPolicy(Protocol):
    """Decides what the OS leaves open, each time the kernel meets it."""

    def order_io(self, events: list[T]) -> list[T]:
        """The I/O callbacks one poll made ready, in the order to queue them.

        Leaving one out means it was not seen this turn: pollers are
        level-triggered, so the next poll reports it again.
        """
        ...

    def order_timers(self, due: list[T]) -> list[T]:
        """The timers due this turn (deadline order) to queue now, a prefix of ``due``.

        A policy that runs fewer puts the rest back with the scheduler's
        ``_push_timer``: still due, they run next turn, after this turn's
        callbacks, and still in deadline order.
        """
        ...

    def threadsafe_arrived(self, handle: Any) -> bool:
        """A ``call_soon_threadsafe`` from another thread: True if the policy holds it.

        Called in the calling thread.  A policy that holds it queues it on
        the loop itself later; False lets the loop queue it now.
        """
        ...


class FifoPolicy:
    """asyncio's order: events in the order the OS reported them, everything at once."""

    __slots__ = ()

    def order_io(self, events: list[T]) -> list[T]:
        return events

    def order_timers(self, due: list[T]) -> list[T]:
        return due

    def threadsafe_arrived(self, handle: Any) -> bool:
        return False
