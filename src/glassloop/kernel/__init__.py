"""Ring 1: the scheduler, the Task, and the seams (clock, ready policy, hooks, tape)."""

from .clock import Clock, MonotonicClock
from .hooks import Hooks
from .poller import EpollPoller, Poller, SelectorPoller, default_poller
from .ready import FifoPolicy, ReadyPolicy
from .scheduler import Scheduler
from .tape import Tape
from .task import Task

__all__ = [
    "Clock",
    "EpollPoller",
    "FifoPolicy",
    "Hooks",
    "MonotonicClock",
    "Poller",
    "ReadyPolicy",
    "Scheduler",
    "SelectorPoller",
    "Tape",
    "Task",
    "default_poller",
]
