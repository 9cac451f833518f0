"""The clock seam: where the scheduler gets "now" and how long it may sleep.

The kernel never calls ``time.monotonic`` itself; it asks its clock.  That is the
whole of what lets ring 3 swap in virtual time without touching the kernel.
"""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    """What the scheduler needs of a clock."""

    #: Timers due within this many seconds of "now" are treated as due, so a
    #: timer set for ``now + tiny`` never makes the loop spin on a zero wait.
    resolution: float

    def time(self) -> float:
        """The current time in seconds, never going backwards."""
        ...

    def wait_timeout(self, timeout: float | None) -> float | None:
        """How long the poller may really block when it would block ``timeout``.

        A real clock returns ``timeout`` unchanged; a virtual clock can jump to
        the deadline and answer 0 so sleeps finish at once.
        """
        ...


class MonotonicClock:
    """The default clock: ``time.monotonic``, as asyncio uses."""

    __slots__ = ("resolution", "time")

    def __init__(self) -> None:
        self.resolution: float = time.get_clock_info("monotonic").resolution
        # Bound once: the hot path calls ``clock.time()`` every loop turn and the
        # builtin is cheaper than a Python-level method.
        self.time = time.monotonic

    def wait_timeout(self, timeout: float | None) -> float | None:
        return timeout
