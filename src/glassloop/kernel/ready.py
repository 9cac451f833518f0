"""The ready-policy seam: the order of what the OS leaves open.

asyncio guarantees FIFO order for ``call_soon``; that order is never changed.
What *is* open is the order in which I/O events reported by one poll, and timers
that fall due in the same turn, join the ready queue.  A policy may reorder
those, which is how testing explores interleavings that can really happen.
"""

from __future__ import annotations

from typing import Protocol, TypeVar

T = TypeVar("T")


class ReadyPolicy(Protocol):
    """Orders a batch of simultaneously ready events before they are queued."""

    def order(self, batch: list[T]) -> list[T]:
        """Return ``batch`` in the order its members should run."""
        ...


class FifoPolicy:
    """asyncio's order: events in the order the OS reported them."""

    __slots__ = ()

    def order(self, batch: list[T]) -> list[T]:
        return batch
