"""``glassloop view``: a trace as one self-contained HTML page (no network, all inline).

Perfetto is the full tool; this page is for a quick look anywhere, offline,
and for what Perfetto does not show: a lane per task with its steps, a click
on a step shows where it stopped and what woke it (a click on the waker goes
there), a search box keeps the lanes whose name matches, and the **critical
path** of a task: its last step, the step or callback that woke it, what woke
that, and so on back to the start, drawn as a chain of arrows.

The page reads its trace from a JSON island in itself.  A URL fragment
``#critical=NAME`` opens it with NAME's critical path shown, which is also how
the tests look at a rendered page (``--dump-dom``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

#: The page, with ``__TRACE__`` where the trace goes (package data beside this module).
_PAGE = Path(__file__).with_name("viewer.html")


def render_html(trace: dict[str, Any]) -> str:
    """The page for ``trace`` (a Chrome trace-event dict), with the trace inline."""
    data = json.dumps(trace, separators=(",", ":"))
    # Inside <script>, "</script" or "<!--" would end or confuse the element:
    # every "<" (only ever inside JSON strings) becomes its \\u escape.
    data = data.replace("<", "\\u003c")
    return _PAGE.read_text(encoding="utf-8").replace("__TRACE__", data)


def write_html(trace_path: str | Path, html_path: str | Path) -> None:
    """Read a trace JSON file and write its viewer page."""
    trace = json.loads(Path(trace_path).read_text(encoding="utf-8"))
    if isinstance(trace, list):
        trace = {"traceEvents": trace}
    Path(html_path).write_text(render_html(trace), encoding="utf-8")
