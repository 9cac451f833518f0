"""Ring 1: the scheduler, the Task, and the three seams (clock, ready policy, hooks)."""

from .clock import Clock, MonotonicClock
from .hooks import Hooks
from .poller import EpollPoller, Poller, SelectorPoller, default_poller
from .ready import FifoPolicy, ReadyPolicy
from .scheduler import Scheduler
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
    "Task",
    "default_poller",
]
