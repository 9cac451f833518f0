"""Clocks the kernel tests drive by hand (the kernel's clock seam)."""

from __future__ import annotations

from glassloop.kernel import MonotonicClock


class ManualClock(MonotonicClock):
    """A clock that only moves when told to, and jumps to deadlines instead of sleeping."""

    def __init__(self) -> None:
        super().__init__()
        self.now = 1000.0
        self.time = self.read  # type: ignore[method-assign]

    def read(self) -> float:
        return self.now

    def wait_timeout(self, timeout: float | None) -> float | None:
        if timeout:
            self.now += timeout
        return 0.0


class SteppedClock(ManualClock):
    """Time moves only when the test moves it; a poll never blocks or jumps."""

    def wait_timeout(self, timeout: float | None) -> float | None:
        return 0.0
