"""The hooks seam: how observers learn what the kernel does.

The kernel keeps ``None`` instead of a hooks object while nobody listens, so an
unobserved loop pays one ``is not None`` test per hook point and nothing more.
Observers (ring 3) subclass :class:`Hooks` and override what they need.
"""

from __future__ import annotations

from typing import Any


class Hooks:
    """No-op base for observers of the kernel; every method may be overridden."""

    def task_created(self, task: Any) -> None:
        """A task was created (before its first step is scheduled)."""

    def step_started(self, task: Any) -> None:
        """The task is about to run one step of its coroutine."""

    def step_ended(self, task: Any) -> None:
        """The task's step returned control to the loop (blocked, yielded or done)."""

    def task_done(self, task: Any) -> None:
        """The task finished: result, exception or cancellation."""

    def callback_ran(self, handle: Any, duration: float) -> None:
        """A ready callback ran for ``duration`` seconds (of the loop's clock)."""

    def poll_waited(self, timeout: float | None, duration: float, nevents: int) -> None:
        """The poller was asked to wait up to ``timeout`` and returned ``nevents``."""
