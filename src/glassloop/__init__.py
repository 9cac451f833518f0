"""glassloop: an asyncio event loop you can read, see inside, and steer.

Everything public is re-exported here; other modules are internal.

PYTEST_DONT_REWRITE: installing glassloop registers a pytest plugin, so pytest
marks this package for assertion rewriting and warns when it was imported
before pytest started (``glassloop run -m pytest``, a sitecustomize); suites
that turn warnings into errors then fail to start.  The loop's own asserts are
invariants, not test assertions: they are never rewritten.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import os
import sys
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, TypeVar

if os.environ.get("GLASSLOOP_PURE"):
    # The pure-Python build even where the compiled one is installed: the
    # kernel's .py files, imported before anything imports the kernel.
    from ._pure import install as _use_pure_build

    _use_pure_build()

from .apps.uvicorn_loop import uvicorn_loop_factory
from .course import Scheduler
from .kernel.task import Task
from .loop import Loop, check_virtual_time, new_event_loop
from .policy import EventLoopPolicy, install

if TYPE_CHECKING:
    from .testing.simnet import SimNet
    from .testing.virtual_time import VirtualClock

__version__ = "0.1.0"

if any(os.environ.get(f"GLASSLOOP_{name}") for name in ("TRACE", "DETECT_BLOCKING", "INSPECT")):
    # Observation asked from outside the program: every loop new_event_loop
    # makes (the policy's, glassloop.run's, uvicorn's) is then observed.
    from .observe.env import enable_from_environment

    enable_from_environment()

T = TypeVar("T")


def run(
    main: Coroutine[Any, Any, T],
    *,
    debug: bool | None = None,
    virtual_time: bool | VirtualClock = False,
    network: SimNet | None = None,
) -> T:
    """``asyncio.run`` on a fresh glassloop loop.

    ``virtual_time`` is ``new_event_loop``'s: ``True``, or a
    ``glassloop.testing.VirtualClock`` with its options; so is ``network``,
    a ``glassloop.testing.SimNet``.
    """
    if virtual_time is False and network is None:
        factory: Callable[[], Loop] = new_event_loop
    else:
        try:
            check_virtual_time(virtual_time)
        except TypeError:
            if inspect.iscoroutine(main):
                main.close()  # it will never run: no "never awaited" warning on top
            raise
        factory = functools.partial(new_event_loop, virtual_time=virtual_time, network=network)
    if sys.version_info >= (3, 12):
        return asyncio.run(main, debug=debug, loop_factory=factory)
    with asyncio.Runner(debug=debug, loop_factory=factory) as runner:
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
