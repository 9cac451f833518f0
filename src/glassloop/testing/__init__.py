"""Ring 3's tools for testing asyncio code on glassloop (``glassloop.testing``).

Public: :func:`allow_loop_internals`, which lets blockbuster (the blocking-call
detector aiohttp's and anyio's own suites enable) accept glassloop's internal
calls as it accepts asyncio's.
"""

from .blockbuster import allow_loop_internals

__all__ = ["allow_loop_internals"]
