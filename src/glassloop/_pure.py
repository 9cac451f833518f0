"""``GLASSLOOP_PURE=1``: import glassloop's ``.py`` files, not its compiled modules.

Python prefers an extension module to the ``.py`` beside it; this finder,
put first on ``sys.meta_path`` before any glassloop submodule is imported,
answers for ``glassloop.*`` with the source file when there is one.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Sequence
from importlib.machinery import ModuleSpec
from types import ModuleType


class PureFinder:
    """A meta path finder: glassloop's submodules from source."""

    @classmethod
    def find_spec(
        cls, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        if path is None or not fullname.startswith("glassloop."):
            return None
        name = fullname.rpartition(".")[2]
        for entry in path:
            source = os.path.join(entry, name + ".py")
            if os.path.isfile(source):
                return importlib.util.spec_from_file_location(fullname, source)
        return None  # a package (its __init__.py) or not ours: the usual finders


def install() -> None:
    if PureFinder not in sys.meta_path:
        sys.meta_path.insert(0, PureFinder)
