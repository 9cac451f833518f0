"""Sharing a loop's one hooks slot between several observers.

The kernel holds a single hooks object (``None`` while nobody listens, so an
unobserved loop pays one test per hook point).  A recorder and a blocking
detector may both want to listen: :func:`attach` puts a :class:`HookFanout`
in the slot when a second observer arrives, and :func:`detach` takes it away
again when one is left, so a lone observer is called directly.
"""

from __future__ import annotations

from types import TracebackType
from typing import Any, Self

from ..kernel.hooks import Hooks


class HookFanout(Hooks):
    """Calls each member's hook in turn, in the order they were attached."""

    def __init__(self, members: list[Hooks]) -> None:
        self.members = tuple(members)

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
        for member in self.members:
            member.callback_started(handle)

    def callback_ran(self, handle: Any, duration: float) -> None:
        for member in self.members:
            member.callback_ran(handle, duration)

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


def attach(loop: Any, hooks: Hooks) -> None:
    """Add ``hooks`` to the loop's observers (a no-op if it is attached already)."""
    members = observers(loop)
    if not any(member is hooks for member in members):
        _install(loop, [*members, hooks])


def detach(loop: Any, hooks: Hooks) -> None:
    """Remove ``hooks`` from the loop's observers, if it is one of them."""
    members = observers(loop)
    _install(loop, [member for member in members if member is not hooks])


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
