"""Run frameworks' own test suites (aiohttp, uvicorn, anyio) on glassloop and on asyncio.

Usage: ``python compat/run.py [--suites aiohttp,uvicorn,anyio] [--python 3.11]
[--loops glassloop,asyncio] [-k EXPR] [--jobs 1] [--out report.md] [--report-only]``
(``--help`` lists every option; compat/README.md says what it does and how long it takes).
Exit status 1 when a test that passes on asyncio fails on glassloop and is not excluded,
or a run broke; 0 otherwise, and always with ``--report-only``; 2 on usage errors.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script: make the harness package next to this file importable.
sys.path.insert(0, str(Path(__file__).resolve().parent))

if __name__ == "__main__":
    from glcompat import cli

    sys.exit(cli.main())
