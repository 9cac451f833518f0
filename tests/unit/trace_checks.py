"""Reading Chrome trace-event JSON back in tests: the format's promises, and lookups.

Shared by the observe tests (unit and integration).
"""

from __future__ import annotations

import itertools
import json
from typing import Any

Event = dict[str, Any]


def check_trace(trace: dict[str, Any]) -> list[Event]:
    """The format's structural promises; returns the events, round-tripped through JSON."""
    events: list[Event] = json.loads(json.dumps(trace))["traceEvents"]
    timed = [e for e in events if e["ph"] != "M"]
    stamps = [e["ts"] for e in timed]
    assert stamps == sorted(stamps), "ts must never go back"
    starts = {e["id"]: e for e in timed if e["ph"] == "s"}
    finishes = {e["id"]: e for e in timed if e["ph"] == "f"}
    assert starts.keys() == finishes.keys(), "every flow start has a finish and back"
    tracks: dict[tuple[int, int], list[Event]] = {}
    for event in timed:
        if event["ph"] == "X":
            assert event["dur"] >= 0
            tracks.setdefault((event["pid"], event["tid"]), []).append(event)
    for slices in tracks.values():
        for before, after in itertools.pairwise(slices):
            assert after["ts"] >= before["ts"] + before["dur"], (before, after)
    for flow in (*starts.values(), *finishes.values()):
        assert any(
            s["ts"] <= flow["ts"] <= s["ts"] + s["dur"]
            for s in tracks.get((flow["pid"], flow["tid"]), [])
        ), f"flow event outside any slice of its track: {flow}"
    named = {e["tid"] for e in events if e["ph"] == "M" and e["name"] == "thread_name"}
    assert {e["tid"] for e in timed if e["ph"] == "X"} <= named
    return events


def track_of(events: list[Event], name: str) -> int:
    tids = [
        e["tid"]
        for e in events
        if e["ph"] == "M" and e["name"] == "thread_name" and e["args"]["name"] == name
    ]
    assert len(tids) == 1, (name, tids)
    return tids[0]


def slices_on(events: list[Event], tid: int) -> list[Event]:
    return [e for e in events if e["ph"] == "X" and e["tid"] == tid]


def arrow_into(events: list[Event], woken: Event) -> tuple[Event, Event]:
    """The flow (start, finish) that ends in the slice ``woken``."""
    for finish in events:
        if finish["ph"] == "f" and finish["tid"] == woken["tid"] and finish["ts"] == woken["ts"]:
            start = next(e for e in events if e["ph"] == "s" and e["id"] == finish["id"])
            return start, finish
    raise AssertionError(f"no arrow into {woken}")


def enclosing(events: list[Event], flow: Event) -> Event:
    return next(
        s for s in slices_on(events, flow["tid"]) if s["ts"] <= flow["ts"] <= s["ts"] + s["dur"]
    )
