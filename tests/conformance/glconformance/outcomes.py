"""What one test did, as the child reports it and the parent adds it up.

A child streams JSON lines ("events") to a results file as it goes, so that whatever it
managed to report survives if it later hangs or dies:

- ``plan``: every test id it will run, and the excluded ones with their reasons;
- ``start``: a test is about to run (a ``start`` with no ``result`` marks the culprit of a crash);
- ``result``: one ``CaseResult``;
- ``done``: the child finished normally;
- ``fatal``: the child could not run the module at all (import error, broken redirection).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

Status = Literal[
    "passed", "failed", "error", "skipped", "xfail", "xpass", "timeout", "crashed", "lost"
]
Kind = Literal["test", "fixture"]

#: unittest's expected failure is a success of the test as written.
PASSING: frozenset[str] = frozenset({"passed", "xfail"})
#: Everything that should have passed and didn't, including what the harness had to give up on.
FAILING: frozenset[str] = frozenset({"failed", "error", "xpass", "timeout", "crashed", "lost"})


def is_counted(loops: int, tasks: int, class_kind: str | None) -> bool:
    """Whether a test says anything about the target.

    It does if a target loop was created while it ran.  Tests of the harness's Task-variant
    classes run on asyncio's ``TestLoop`` with the target's Task, so for them a constructed
    target Task is enough.  Anywhere else a target Task without a target loop would mean
    something patched asyncio globally, which is not what the test was written for.
    """
    return loops > 0 or (class_kind == "task" and tasks > 0)


@dataclass
class CaseResult:
    """The outcome of one test (or of a failing class/module fixture, ``kind="fixture"``)."""

    id: str
    status: Status
    counted: bool
    loops: int = 0
    tasks: int = 0
    duration: float = 0.0
    detail: str = ""
    output: str = ""
    kind: Kind = "test"

    @property
    def failing(self) -> bool:
        """Whether it counts against the pass percentage (if counted)."""
        return self.status in FAILING

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CaseResult:
        """Inverse of ``to_dict``."""
        return cls(**data)


class EventWriter:
    """Appends events to the results file, flushing each so a crash loses nothing written."""

    def __init__(self, path: Path) -> None:
        self._file = path.open("a", encoding="utf-8")

    def emit(self, event: str, **payload: Any) -> None:
        """Write one event line."""
        self._file.write(json.dumps({"event": event, **payload}) + "\n")
        self._file.flush()

    def close(self) -> None:
        """Close the file (the child exits right after)."""
        self._file.close()


def read_events(path: Path) -> Iterator[dict[str, Any]]:
    """The events in a results file; a torn last line (the child died mid-write) is skipped."""
    if not path.exists():
        return
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            try:
                yield json.loads(line)
            except json.JSONDecodeError:
                continue
