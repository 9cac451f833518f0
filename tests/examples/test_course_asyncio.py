"""The text's asyncio program: the same output on asyncio's loop and on glassloop."""

from __future__ import annotations

import re
from typing import Any

TIMESTAMP = re.compile(r"^\[\s*\d+\.\d\ds\] ")


def without_timestamps(out: str) -> list[str]:
    return [TIMESTAMP.sub("", line) for line in out.splitlines()]


def test_on_glassloop(run_example: Any) -> None:
    lines = without_timestamps(run_example("course_asyncio.py", "--seed", "7").stdout)
    assert lines[0] == "course program on glassloop.loop.Loop"
    assert lines[1].startswith("value() slept ")
    assert lines[2] == "value() got " + lines[1].split()[-1].rstrip("s")
    assert lines[3] == "ticker gave 0, 1; left suspended"
    assert lines[4] == "ticker: finally ran (closed by shutdown_asyncgens)"
    assert lines[5] == "running on glassloop.loop.Loop"
    assert lines[6] == "call_soon callback ran"
    assert any(line.endswith("(argument order)") for line in lines)
    assert "wait: 1 done first, cancelling 2 still pending" in lines
    assert "wait_for: gave up on a 10 s sleep after 0.1 s" in lines
    assert lines[-1] == "done on Loop"


def test_same_story_on_asyncio_and_glassloop(run_example: Any) -> None:
    """Seeded sleeps: the two loops print the same lines, loop names aside."""
    glass = without_timestamps(run_example("course_asyncio.py", "--seed", "3").stdout)
    plain = without_timestamps(
        run_example("course_asyncio.py", "--seed", "3", glassloop=False).stdout
    )

    def neutral(lines: list[str]) -> list[str]:
        return [re.sub(r"on \S+$", "on LOOP", line) for line in lines]

    assert plain[0] == "course program on asyncio.unix_events._UnixSelectorEventLoop"
    assert neutral(glass) == neutral(plain)
