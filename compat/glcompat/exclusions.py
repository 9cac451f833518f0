"""compat/excluded.toml: suite tests that differ on glassloop for reasons that are not its defect.

The file has the conformance harness's format and is parsed by its parser (entries need a
``test`` and a ``reason``, may carry a ``python`` constraint); see
``tests/conformance/glconformance/exclusions.py``.  Only the matching differs: an entry's
``test`` is ``SUITE::NODEID`` (``uvicorn::tests/test_compat.py::test_x``), and pytest node ids
carry ``[param]`` brackets, which shell wildcards would read as character classes.  So here a
pattern's ``*`` and ``?`` are wildcards and everything else, brackets included, is literal.

Excluded tests are deselected on both loops (as the conformance harness does not run its
excluded tests): what they leak on their way out can't fail the tests after them.  The report
lists them with their reason.  Entries also apply when a report is made from stored runs
(``--no-run``), to tests that did run.
"""

from __future__ import annotations

import re
import sys
from functools import cache
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests" / "conformance"))

from glconformance.exclusions import (
    Exclusion,
    ExclusionError,
    parse,
)

from .suites import SUITES

DEFAULT_PATH = Path(__file__).resolve().parent.parent / "excluded.toml"

__all__ = ["DEFAULT_PATH", "Exclusion", "ExclusionError", "Matcher", "load", "parse"]


@cache
def _regex(pattern: str) -> re.Pattern[str]:
    parts = [".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern]
    return re.compile("".join(parts) + r"\Z")


def matches(pattern: str, suite: str, test_id: str) -> bool:
    """Whether ``pattern`` (``SUITE::NODEID`` with * and ?) covers ``test_id`` of ``suite``."""
    return _regex(pattern).match(f"{suite}::{test_id}") is not None


def load(path: Path = DEFAULT_PATH) -> list[Exclusion]:
    """The entries of ``path`` (none if it is missing), validated by the shared parser."""
    if not path.exists():
        return []
    entries = parse(path.read_text(encoding="utf-8"), source=str(path))
    for entry in entries:
        if entry.pattern.split("::", 1)[0] not in SUITES:
            raise ExclusionError(
                f"{path}: {entry.pattern!r} is not SUITE::NODEID with SUITE one of {list(SUITES)}"
            )
    return entries


class Matcher:
    """The entries in force on one Python version, and which of them matched anything."""

    def __init__(self, entries: list[Exclusion], version: tuple[int, int]) -> None:
        self.entries = [e for e in entries if e.applies_to(version)]
        self.used: set[int] = set()

    def reason_for(self, suite: str, test_id: str) -> str | None:
        """Why ``test_id`` of ``suite`` is excluded, or None when it counts."""
        for index, entry in enumerate(self.entries):
            if matches(entry.pattern, suite, test_id):
                self.used.add(index)
                return entry.reason
        return None

    def regexes(self, suite: str) -> list[str]:
        """The entries of ``suite`` as regexes over ``SUITE::NODEID``, for the run's plugin."""
        prefix = f"{suite}::"
        return [_regex(e.pattern).pattern for e in self.entries if e.pattern.startswith(prefix)]

    def stale(self, suites_run_in_full: set[str]) -> list[Exclusion]:
        """Entries of a fully-run suite that matched no test: renamed or removed tests."""
        return [
            entry
            for index, entry in enumerate(self.entries)
            if index not in self.used and entry.pattern.split("::", 1)[0] in suites_run_in_full
        ]
