"""The recorder's buffer as Chrome trace-event JSON (Perfetto, chrome://tracing).

The format is the "JSON Array/Object" trace-event format: one track (``tid``)
per task, named by the task's name; one for plain callbacks, one for polls,
one for blocking reports, one per foreign thread that called
``call_soon_threadsafe``.  Steps and callbacks are complete ("X") slices;
what woke each one is a flow ("s" in the waker's slice, "f" bound to the
woken slice), so Perfetto draws an arrow from waker to woken.  Counters ("C")
follow the ready queue, registered descriptors and pending timers at each
poll.  Times are microseconds from the first record.
"""

from __future__ import annotations

import json
import math
import os
from typing import Any

#: Track ids that are not tasks.
LOOP_TID = 1
POLL_TID = 2
BLOCK_TID = 3
#: Task n is track TASK_TID_BASE + n; foreign thread k is EXT_TID_BASE + k.
TASK_TID_BASE = 1000
EXT_TID_BASE = 100

_WAKE_WORDS = {
    "created": "created by",
    "future": "a future completed by",
    "yield": "its own yield in",
    "io": "I/O readiness seen by",
    "timer": "a timer armed by",
    "thread": "call_soon_threadsafe from",
    "soon": "call_soon in",
    "callback": "run by",
}


def _span(ts: float, te: float) -> float:
    """A duration with ``ts + dur <= te`` exactly, so back-to-back slices never overlap."""
    dur = max(0.0, te - ts)
    while ts + dur > te and dur > 0.0:
        dur = math.nextafter(dur, 0.0)
    return dur


def _where_text(where: Any) -> str:
    if where is None:
        return ""
    filename, line, function = where
    return f"{filename}:{line} in {function}"


def chrome_trace(recorder: Any) -> dict[str, Any]:
    """The trace as a JSON-ready dict (``{"traceEvents": [...], ...}``)."""
    records = list(recorder.records)
    starts = [r[1] for r in records if isinstance(r[1], (int, float))]
    t0 = min(starts) if starts else 0.0

    def us(t: float) -> float:
        return round((t - t0) * 1e6, 3)

    pid = os.getpid()
    names: dict[int, str] = {LOOP_TID: "loop callbacks", POLL_TID: "poll"}
    slices: dict[int, tuple[int, float, float, str]] = {}  # act -> (tid, start, end, label)
    timed: list[tuple[float, int, dict[str, Any]]] = []
    woken: list[tuple[int, int, float, Any]] = []  # (act, tid, start_us, wake)
    ext_tids: dict[Any, int] = {}
    slice_args: dict[int, dict[str, Any]] = {}

    def add(ts: float, order: int, event: dict[str, Any]) -> None:
        timed.append((ts, order, event))

    for r in records:
        kind = r[0]
        if kind == "step":
            _, start, end, cpu, task_id, act, wake, where, waits_on, done, name = r
            tid = TASK_TID_BASE + task_id
            names[tid] = name
            ts, te = us(start), us(end)
            args: dict[str, Any] = {} if cpu is None else {"cpu_ms": round(cpu * 1000, 3)}
            if where is not None:
                args["stopped_at"] = _where_text(where)
            if waits_on:
                args["waits_on"] = waits_on
            if done:
                args["finished"] = True
            slices[act] = (tid, ts, te, f"step of Task {name!r}")
            slice_args[act] = args
            woken.append((act, tid, ts, wake))
            add(
                ts,
                0,
                {
                    "ph": "X",
                    "name": name,
                    "cat": "step",
                    "pid": pid,
                    "tid": tid,
                    "ts": ts,
                    "dur": _span(ts, te),
                    "args": args,
                },
            )
        elif kind == "cb":
            _, start, end, cpu, act, name, wake = r
            ts, te = us(start), us(end)
            slices[act] = (LOOP_TID, ts, te, f"callback {name}")
            slice_args[act] = {} if cpu is None else {"cpu_ms": round(cpu * 1000, 3)}
            woken.append((act, LOOP_TID, ts, wake))
            add(
                ts,
                0,
                {
                    "ph": "X",
                    "name": name,
                    "cat": "callback",
                    "pid": pid,
                    "tid": LOOP_TID,
                    "ts": ts,
                    "dur": _span(ts, te),
                    "args": slice_args[act],
                },
            )
        elif kind == "poll":
            _, start, end, act, timeout, nevents, nready, nfds, ntimers = r
            ts, te = us(start), us(end)
            slices[act] = (POLL_TID, ts, te, "poll")
            add(
                ts,
                0,
                {
                    "ph": "X",
                    "name": "poll",
                    "cat": "poll",
                    "pid": pid,
                    "tid": POLL_TID,
                    "ts": ts,
                    "dur": _span(ts, te),
                    "args": {"timeout": timeout, "events": nevents},
                },
            )
            if nready is not None:  # (the flight recorder's tape has no counters)
                add(
                    te,
                    1,
                    {
                        "ph": "C",
                        "name": "loop",
                        "pid": pid,
                        "ts": te,
                        "args": {"ready": nready, "fds": nfds, "timers": ntimers},
                    },
                )
        elif kind == "ext":
            _, when, act, ident, thread_name = r
            tid = ext_tids.setdefault(ident, EXT_TID_BASE + len(ext_tids))
            names[tid] = f"thread {thread_name}"
            ts = us(when)
            slices[act] = (tid, ts, ts, f"thread {thread_name}")
            add(
                ts,
                0,
                {
                    "ph": "X",
                    "name": "call_soon_threadsafe",
                    "cat": "thread",
                    "pid": pid,
                    "tid": tid,
                    "ts": ts,
                    "dur": 0,
                },
            )
        elif kind == "task":
            _, when, task_id, name, coro_name, creator, _ = r
            tid = TASK_TID_BASE + task_id
            names.setdefault(tid, name)
            add(
                us(when),
                2,
                {
                    "ph": "i",
                    "s": "t",
                    "name": "created",
                    "cat": "task",
                    "pid": pid,
                    "tid": tid,
                    "ts": us(when),
                    "args": {
                        "coroutine": coro_name,
                        "creator": "unknown"
                        if creator is None
                        else f"track {TASK_TID_BASE + creator}",
                    },
                },
            )
        elif kind == "done":
            _, when, task_id, state = r
            tid = TASK_TID_BASE + task_id
            add(
                us(when),
                2,
                {
                    "ph": "i",
                    "s": "t",
                    "name": state,
                    "cat": "task",
                    "pid": pid,
                    "tid": tid,
                    "ts": us(when),
                },
            )
        elif kind == "block":
            _, start, end, what, where = r
            names[BLOCK_TID] = "blocked loop"
            ts, te = us(start), us(end)
            add(
                ts,
                0,
                {
                    "ph": "X",
                    "name": f"blocked by {what}",
                    "cat": "block",
                    "pid": pid,
                    "tid": BLOCK_TID,
                    "ts": ts,
                    "dur": _span(ts, te),
                    "args": {"at": where},
                },
            )

    for act, tid, ts, wake in woken:
        if wake is None:
            continue
        wkind, waker, when, detail = wake
        source = slices.get(waker) if waker is not None else None
        text = _WAKE_WORDS.get(wkind, wkind)
        if source is not None:
            label = f"{text} {source[3]}"
        elif waker is None:
            label = f"{text} code outside the loop's callbacks"
        else:
            label = f"{text} a slice no longer in the buffer"
        if detail:
            label += f" ({detail})"
        # The woken slice's args say what woke it, arrow or not.
        slice_args[act]["woken_by"] = label
        if source is None:
            continue
        stid, sstart, send, _ = source
        at = min(max(us(when), sstart), sstart + _span(sstart, send))
        add(
            at,
            3,
            {"ph": "s", "id": act, "name": wkind, "cat": "wake", "pid": pid, "tid": stid, "ts": at},
        )
        add(
            ts,
            3,
            {
                "ph": "f",
                "bp": "e",
                "id": act,
                "name": wkind,
                "cat": "wake",
                "pid": pid,
                "tid": tid,
                "ts": ts,
            },
        )

    timed.sort(key=lambda item: (item[0], item[1]))
    events: list[dict[str, Any]] = [
        {
            "ph": "M",
            "name": "process_name",
            "pid": pid,
            "tid": 0,
            "ts": 0,
            "args": {"name": f"glassloop (pid {pid})"},
        },
    ]
    if recorder.dropped:
        events.append(
            {
                "ph": "M",
                "name": "process_labels",
                "pid": pid,
                "tid": 0,
                "ts": 0,
                "args": {"labels": f"{recorder.dropped} oldest records dropped"},
            }
        )
    for tid, name in sorted(names.items()):
        events.append(
            {
                "ph": "M",
                "name": "thread_name",
                "pid": pid,
                "tid": tid,
                "ts": 0,
                "args": {"name": name},
            }
        )
        events.append(
            {
                "ph": "M",
                "name": "thread_sort_index",
                "pid": pid,
                "tid": tid,
                "ts": 0,
                "args": {"sort_index": tid},
            }
        )
    events.extend(event for _, _, event in timed)
    return {
        "traceEvents": events,
        "displayTimeUnit": "ms",
        "otherData": {
            "producer": "glassloop.observe",
            "records": len(records),
            "capacity": recorder.capacity,
            "dropped_records": recorder.dropped,
        },
    }


def write_chrome_trace(recorder: Any, path: str) -> None:
    """Write :func:`chrome_trace` to ``path`` (atomically: a partial file is never left)."""
    trace = chrome_trace(recorder)
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as out:
        json.dump(trace, out, separators=(",", ":"))
    os.replace(tmp, path)
