"""Ring 3's tools for testing asyncio code on glassloop (``glassloop.testing``).

Public: :class:`VirtualClock`, the clock that makes sleeps and timeouts finish
at once while ``loop.time()`` jumps to each deadline (and :class:`Deadlock`,
what it raises when nothing can ever wake the loop); and
:func:`explore` and :func:`replay`, which try a program under the schedules
asyncio can produce and replay the one that failed (``exploration.py``); and
:class:`SimNet`, an in-memory network with seeded faults that a loop's
networking goes through (``simnet.py``); and
:func:`allow_loop_internals`, which lets blockbuster (the blocking-call
detector aiohttp's and anyio's own suites enable) accept glassloop's internal
calls as it accepts asyncio's.
"""

from .blockbuster import allow_loop_internals
from .exploration import Livelock, ReplayDiverged, Report, explore, replay, run_schedule
from .simnet import SimNet
from .virtual_time import Deadlock, VirtualClock

__all__ = [
    "Deadlock",
    "Livelock",
    "ReplayDiverged",
    "Report",
    "SimNet",
    "VirtualClock",
    "allow_loop_internals",
    "explore",
    "replay",
    "run_schedule",
]
