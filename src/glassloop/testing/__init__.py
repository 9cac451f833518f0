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

from typing import TYPE_CHECKING, Any

from .blockbuster import allow_loop_internals
from .virtual_time import Deadlock, VirtualClock

if TYPE_CHECKING:
    from .exploration import Livelock, ReplayDiverged, Report, explore, replay, run_schedule
    from .simnet import SimNet

#: Loaded on first use: the pytest plugin imports this package in every
#: pytest run of every environment glassloop is installed in.
_LAZY = {
    "Livelock": "exploration",
    "ReplayDiverged": "exploration",
    "Report": "exploration",
    "explore": "exploration",
    "replay": "exploration",
    "run_schedule": "exploration",
    "SimNet": "simnet",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


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
