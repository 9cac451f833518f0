"""``uvicorn --loop glassloop:uvicorn_loop_factory``: uvicorn's custom-loop hook.

uvicorn changed what ``--loop module:callable`` means.  Since 0.36 the
callable *is* the loop factory: uvicorn passes it to ``asyncio.run`` as
``loop_factory``, which calls it with no arguments for a new loop.  Before
0.36 it was a set-up function called as ``callable(use_subprocess=...)``,
expected to install an event loop policy and return nothing.  One function
serves both, told apart by that argument, so the same command line works
whichever uvicorn a user has.  It imports nothing from uvicorn.
"""

from __future__ import annotations

from typing import overload

from ..loop import Loop, new_event_loop
from ..policy import install


@overload
def uvicorn_loop_factory() -> Loop: ...
@overload
def uvicorn_loop_factory(use_subprocess: bool) -> None: ...
def uvicorn_loop_factory(use_subprocess: bool | None = None) -> Loop | None:
    """A new glassloop loop (uvicorn >= 0.36), or install glassloop's policy (older)."""
    if use_subprocess is None:
        return new_event_loop()
    install()
    return None
