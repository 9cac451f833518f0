"""Run CPython's own asyncio test suite with glassloop as the event loop.

Usage: ``python tests/conformance/run.py [options]`` (``--help`` lists them).  It runs
under whichever interpreter starts it, against that interpreter's ``test.test_asyncio``.
The same file is the entry point of the per-module child processes (``--child``, internal).
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, so make the harness package next to this file importable.
sys.path.insert(0, str(Path(__file__).resolve().parent))

if __name__ == "__main__":
    if "--child" in sys.argv[1:]:
        from glconformance import child

        sys.exit(child.main(sys.argv[1:]))
    from glconformance import cli

    sys.exit(cli.main())
