"""How asyncio's policy machinery is pointed at glassloop (like ``uvloop.install``)."""

from __future__ import annotations

import asyncio

from .loop import Loop, new_event_loop


class EventLoopPolicy(asyncio.DefaultEventLoopPolicy):
    """asyncio's default policy, except that new loops are glassloop loops."""

    def new_event_loop(self) -> Loop:
        return new_event_loop()


def install() -> None:
    """Make ``asyncio.new_event_loop()`` and ``asyncio.run()`` use glassloop."""
    asyncio.set_event_loop_policy(EventLoopPolicy())
