"""``python -m glassloop``: the same command line as ``glassloop``."""

import sys

from glassloop.cli import main

if __name__ == "__main__":
    sys.exit(main())
