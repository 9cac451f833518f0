"""The hooks seam: how observers learn what the kernel does.

The kernel keeps ``None`` instead of a hooks object while nobody listens, so an
unobserved loop pays one ``is not None`` test per hook point and nothing more.
Observers (ring 3) subclass :class:`Hooks` and override what they need.

Causality is reported where it happens: ``callback_scheduled`` is called by
whoever queues or arms something (``call_soon``, a future waking the task that
awaits it, ``call_soon_threadsafe`` from another thread, ``call_later``), so
an observer can note what was running then; ``io_ready`` and ``timers_due``
say which queued entries the poller and the clock released.  Hooks must not
schedule anything or change what they are given: observing never reorders.
"""

from __future__ import annotations

from typing import Any

#: The hooks about a task's life, called by the Task itself.
TASK_HOOKS = ("task_created", "step_started", "step_ended", "task_done")
#: The hooks around each ready entry, called by the kernel's dispatch.
ENTRY_HOOKS = ("callback_started", "callback_ran")


class Hooks:
    """No-op base for observers of the kernel; every method may be overridden.

    The kernel calls only the hooks an observer listens to (see
    :meth:`listens`), group by group: an observer that does not override
    the task or per-entry hooks (a blocking detector on the tape) leaves
    tasks and the dispatch on their plain paths.
    """

    #: Whether :meth:`callback_started` and :meth:`callback_ran` are also
    #: called for a task queued as itself.  Such an entry *is* the task's
    #: step, which :meth:`step_started`/:meth:`step_ended` report; an observer
    #: of steps that has no use for the entry as well says ``False``, and the
    #: kernel runs those entries without the two calls and their timing.
    entries_include_tasks: bool = True

    def listens(self, name: str) -> bool:
        """Whether this observer overrides hook ``name`` (a no-op base method is not listening)."""
        return getattr(type(self), name) is not getattr(Hooks, name)

    def task_created(self, task: Any) -> None:
        """A task was created (before its first step is scheduled)."""

    def step_started(self, task: Any) -> None:
        """The task is about to run one step of its coroutine."""

    def step_ended(self, task: Any) -> None:
        """The task's step returned control to the loop (blocked, yielded or done)."""

    def task_done(self, task: Any) -> None:
        """The task finished: result, exception or cancellation."""

    def callback_ran(self, handle: Any, duration: float, end: float) -> None:
        """A ready callback ran for ``duration`` seconds (of the loop's clock), until ``end``.

        ``end`` is the clock's time read to measure the duration: an
        observer that wants the time the callback ended need not read the
        clock again.
        """

    def poll_waited(self, timeout: float | None, duration: float, nevents: int) -> None:
        """The poller was asked to wait up to ``timeout`` and returned ``nevents``."""

    def callback_started(self, handle: Any) -> None:
        """A ready entry (a ``Handle``, or a task queued as itself) is about to run."""

    def callback_scheduled(self, handle: Any) -> None:
        """Something was queued or armed by the code running now, maybe in another thread.

        ``handle`` is a ``Handle``, a ``TimerHandle`` (not due yet), or a task
        queued as itself with the future that woke it in ``_wake_fut``.
        """

    def threadsafe_scheduled(self, handle: Any) -> None:
        """``call_soon_threadsafe`` queued ``handle``; called in the calling thread.

        That thread may or may not be the loop's.  By default the same as
        :meth:`callback_scheduled`, which is otherwise only called in the
        loop's thread.
        """
        self.callback_scheduled(handle)

    def io_ready(self, handles: list[Any]) -> None:
        """One poll made these watch handles ready (they join the ready queue now)."""

    def timers_due(self, timers: list[Any]) -> None:
        """These timers fell due this turn (they join the ready queue now)."""

    def fd_watched(self, fd: int, writing: bool, handle: Any) -> None:
        """``handle`` now runs when ``fd`` is readable (or writable)."""
