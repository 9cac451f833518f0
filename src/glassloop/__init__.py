"""glassloop: an asyncio event loop you can read, see inside, and steer.

Everything public is re-exported here; other modules are internal.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Coroutine
from typing import Any, TypeVar

from .apps.uvicorn_loop import uvicorn_loop_factory
from .course import Scheduler
from .kernel.task import Task
from .loop import Loop, new_event_loop
from .policy import EventLoopPolicy, install

__version__ = "0.1.0"

if any(os.environ.get(f"GLASSLOOP_{name}") for name in ("TRACE", "DETECT_BLOCKING", "INSPECT")):
    # Observation asked from outside the program: every loop new_event_loop
    # makes (the policy's, glassloop.run's, uvicorn's) is then observed.
    from .observe.env import enable_from_environment

    enable_from_environment()

T = TypeVar("T")


def run(main: Coroutine[Any, Any, T], *, debug: bool | None = None) -> T:
    """``asyncio.run`` on a fresh glassloop loop."""
    if sys.version_info >= (3, 12):
        return asyncio.run(main, debug=debug, loop_factory=new_event_loop)
    with asyncio.Runner(debug=debug, loop_factory=new_event_loop) as runner:
        return runner.run(main)


__all__ = [
    "EventLoopPolicy",
    "Loop",
    "Scheduler",
    "Task",
    "__version__",
    "install",
    "new_event_loop",
    "run",
    "uvicorn_loop_factory",
]
