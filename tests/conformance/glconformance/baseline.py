"""A reference target made of asyncio itself: ``--target glconformance.baseline``.

Its loop is a plain subclass of asyncio's selector loop and its Task a plain subclass of
asyncio's pure-Python Task, so running the harness on it shows what the harness itself
costs: every failure here is caused by the redirection or by a test that insists on
asyncio's exact classes, not by glassloop.  It is also what the harness's own tests run.
"""

from __future__ import annotations

import asyncio
from asyncio import tasks


class Loop(asyncio.SelectorEventLoop):
    """asyncio's selector loop under another name, so the harness can count it."""


class Task(tasks._PyTask):  # type: ignore[name-defined,misc]
    """asyncio's pure-Python Task under another name, so the harness can count it."""


def new_event_loop() -> Loop:
    """A fresh baseline loop."""
    return Loop()


class EventLoopPolicy(asyncio.DefaultEventLoopPolicy):  # type: ignore[misc,valid-type]
    """asyncio's default policy making baseline loops."""

    def new_event_loop(self) -> Loop:
        return new_event_loop()
