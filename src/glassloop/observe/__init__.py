"""Ring 3's observe: see what an async program is doing, on the kernel's hooks seam.

- :class:`Recorder` keeps a bounded timeline of steps, callbacks and polls,
  each with what woke it, and exports it as Chrome/Perfetto trace JSON;
- :class:`BlockingDetector` reports a step or callback that holds the loop,
  with the blocking line, while it still blocks;
- :func:`task_tree` / :func:`format_task_tree` show every pending task, what
  it awaits and who created it;
- :func:`lint` finds long steps, busy self-wakes, orphaned awaits, await cycles;
- :class:`FlightRecorder` records all the time in a small ring and dumps it
  on a stall, an exception or SIGUSR1.

Nothing here runs unless attached: an unobserved loop pays one ``is not None``
test per hook point.
"""

from __future__ import annotations

from .attach import HookFanout, attach, detach, observers
from .blocking import BlockingDetector, BlockReport
from .chrome import chrome_trace, write_chrome_trace
from .flight import FLIGHT_CAPACITY, FlightRecorder
from .lints import Finding, lint
from .recorder import DEFAULT_CAPACITY, Recorder
from .tree import TaskNode, format_task_tree, task_tree

__all__ = [
    "DEFAULT_CAPACITY",
    "FLIGHT_CAPACITY",
    "BlockReport",
    "BlockingDetector",
    "Finding",
    "FlightRecorder",
    "HookFanout",
    "Recorder",
    "TaskNode",
    "attach",
    "chrome_trace",
    "detach",
    "format_task_tree",
    "lint",
    "observers",
    "task_tree",
    "write_chrome_trace",
]
