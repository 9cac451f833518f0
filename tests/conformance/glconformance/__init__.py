"""The conformance harness: CPython's own ``test.test_asyncio`` run with glassloop as the loop.

The harness is split by who runs the code:

- ``cli`` and ``parent`` run in the process the user started.  They pick the modules,
  start one child process per module, survive its hangs and crashes, and add up results.
- ``child``, ``instrument`` and ``watchdog`` run inside that child process.  They point
  asyncio's default policy at the target, count loop and Task creations per test, and
  stream one JSON line per test back to the parent.
- ``specs`` (which modules, and which extra test classes to build in them),
  ``exclusions``, ``outcomes`` and ``report`` are plain data and arithmetic shared by both,
  kept free of process handling so ``test_harness.py`` can test them directly.
"""
