"""The exclusion list: CPython tests that glassloop is not expected to pass, and why.

A test belongs here only when it inspects asyncio's *private* internals (``loop._ready``,
``loop._selector``, mocks of ``BaseEventLoop`` methods, ``_asyncio`` C internals...), so
no other loop could pass it either.  The list lives in ``tests/conformance/excluded.toml``;
every entry must give a reason, which the report shows next to the test, and may be limited
to some Python versions because CPython's tests change between releases.

Entries match *short test ids* (``test_tasks.GlassloopTask_CFuture_Tests.test_foo``, i.e.
without the ``test.test_asyncio.`` prefix) with shell-style wildcards, so one entry can
cover a test in every class that inherits it (``test_tasks.*.test_foo``).
"""

from __future__ import annotations

import operator
import re
import tomllib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path

from .specs import TEST_PACKAGE, Version

DEFAULT_PATH = Path(__file__).resolve().parent.parent / "excluded.toml"

_COMPARATORS: dict[str, Callable[[Version, Version], bool]] = {
    ">=": operator.ge,
    "<=": operator.le,
    "==": operator.eq,
    "!=": operator.ne,
    ">": operator.gt,
    "<": operator.lt,
}
_CONSTRAINT = re.compile(r"^\s*(>=|<=|==|!=|>|<)?\s*(\d+)\.(\d+)\s*$")


class ExclusionError(ValueError):
    """The exclusion file is malformed; raised early so a typo can't silently run a test."""


def short_id(test_id: str) -> str:
    """A unittest id without the ``test.test_asyncio.`` prefix, as the report shows it."""
    return test_id.removeprefix(f"{TEST_PACKAGE}.")


def version_matches(constraint: str, version: Version) -> bool:
    """Whether ``version`` satisfies ``constraint``: comma-separated ``>=3.12``-style terms.

    A bare ``3.12`` means exactly that minor version, the common case for a test that
    only exists (or only peeks at internals) in one release.
    """
    for term in constraint.split(","):
        found = _CONSTRAINT.match(term)
        if not found:
            raise ExclusionError(f"bad python constraint {term!r} (want e.g. '>=3.12' or '3.11')")
        op = _COMPARATORS[found.group(1) or "=="]
        if not op(version, (int(found.group(2)), int(found.group(3)))):
            return False
    return True


@dataclass(frozen=True)
class Exclusion:
    """One entry of the list: a test-id pattern, why it is excluded, and where it applies."""

    pattern: str
    reason: str
    python: str = ""

    def applies_to(self, version: Version) -> bool:
        """Whether the entry is in force on Python ``version``."""
        return not self.python or version_matches(self.python, version)

    def matches(self, test_id: str) -> bool:
        """Whether the entry covers ``test_id`` (full or short form)."""
        return fnmatchcase(short_id(test_id), short_id(self.pattern))

    @property
    def module(self) -> str:
        """The test module the pattern is about, used to spot stale entries."""
        return short_id(self.pattern).split(".", 1)[0]


def parse(text: str, *, source: str = "<exclusions>") -> list[Exclusion]:
    """Parse the TOML text of an exclusion list, checking every entry has a pattern and reason."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ExclusionError(f"{source}: {exc}") from exc
    entries = data.get("exclude", [])
    if not isinstance(entries, list):
        raise ExclusionError(f"{source}: 'exclude' must be an array of tables ([[exclude]])")
    result = []
    for number, entry in enumerate(entries, 1):
        if not isinstance(entry, dict):
            raise ExclusionError(f"{source}: entry {number} is not a table")
        unknown = set(entry) - {"test", "reason", "python"}
        if unknown:
            raise ExclusionError(f"{source}: entry {number} has unknown keys {sorted(unknown)}")
        pattern = str(entry.get("test", "")).strip()
        reason = str(entry.get("reason", "")).strip()
        if not pattern:
            raise ExclusionError(f"{source}: entry {number} has no 'test'")
        if not reason:
            raise ExclusionError(
                f"{source}: entry {number} ({pattern}) has no 'reason': name the private "
                "asyncio detail the test depends on"
            )
        python = str(entry.get("python", "")).strip()
        if python:
            version_matches(python, (3, 0))  # validate the syntax now, not at match time
        result.append(Exclusion(pattern, reason, python))
    return result


def load(path: Path = DEFAULT_PATH) -> list[Exclusion]:
    """Read the exclusion list at ``path``; a missing file means no exclusions."""
    if not path.exists():
        return []
    return parse(path.read_text(encoding="utf-8"), source=str(path))


class Matcher:
    """The entries in force on one Python version, and which of them matched anything."""

    def __init__(self, entries: Iterable[Exclusion], version: Version) -> None:
        self.entries = [e for e in entries if e.applies_to(version)]
        self.used: set[int] = set()

    def reason_for(self, test_id: str) -> str | None:
        """The reason ``test_id`` is excluded, or None when it should run."""
        for index, entry in enumerate(self.entries):
            if entry.matches(test_id):
                self.used.add(index)
                return entry.reason
        return None

    def stale(self, modules_run_in_full: Iterable[str]) -> list[Exclusion]:
        """Entries about a fully-run module that matched no test: renamed or removed tests."""
        full = set(modules_run_in_full)
        return [
            entry
            for index, entry in enumerate(self.entries)
            if index not in self.used and entry.module in full
        ]
