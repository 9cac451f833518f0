"""The clock seam: where the scheduler gets "now" and how long it may sleep.

The kernel never calls ``time.monotonic`` itself; it asks its clock.  That is the
whole of what lets ring 3 swap in virtual time without touching the kernel.
"""

from __future__ import annotations

import time
from collections.abc import Callable
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


# Optional, and so not part of the protocol: a clock with an ``attach(scheduler)``
# method is handed the scheduler that installs it (Scheduler.__init__ and
# set_clock).  A virtual clock needs it to ask whether the loop is durably idle
# (Scheduler._outside_work) before it jumps; a real clock has nothing to ask.


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


class PatchedClock:
    """The clock ``loop.time = fake`` installs: asyncio's way of faking time.

    asyncio's loop asks ``self.time()`` for every deadline, so code that fakes
    time there (aiohttp's tests, time-faking tools) expects timers to follow
    the fake.  Assigning ``loop.time`` wraps the callable in this clock, so
    the kernel keeps reading one slot per turn whoever set it; deleting the
    assignment (``unittest.mock.patch`` does) puts the previous clock back.
    """

    __slots__ = ("previous", "resolution", "time")

    def __init__(self, time_function: Callable[[], float], previous: Clock) -> None:
        self.time = time_function
        self.resolution = previous.resolution
        #: The clock to go back to when the patch is removed.
        self.previous = previous

    def wait_timeout(self, timeout: float | None) -> float | None:
        return self.previous.wait_timeout(timeout)
