"""``glassloop view``: the trace as one self-contained page, rendered in a real headless Chromium.

The Chromium cases need Debian's ``chromium`` package (``apt-get install -y
chromium``); without it they skip, saying so.  The screenshot is kept in
``$GLASSLOOP_ARTEFACTS`` (default: the test's temporary directory) as the
test's artefact.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

import glassloop
from glassloop import cli
from glassloop.observe import Recorder
from glassloop.observe.viewer import render_html

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="Debian's chromium is not installed (apt-get install -y chromium)"
)


def make_trace(path: Path) -> None:
    loop = glassloop.new_event_loop()
    try:
        recorder = Recorder(loop)

        async def fetch(fut: asyncio.Future[str]) -> None:
            await asyncio.sleep(0.002)
            fut.set_result("</script><!-- data")

        async def handler() -> str:
            fut = loop.create_future()
            task = asyncio.create_task(fetch(fut), name="fetch")
            result = await fut
            await task
            return result

        async def main() -> None:
            await asyncio.create_task(handler(), name="handler")

        loop.run_until_complete(main())
        recorder.close()
        recorder.export_chrome_trace(str(path))
    finally:
        loop.close()


def test_the_page_is_self_contained_and_carries_the_trace(tmp_path: Path) -> None:
    trace_path = tmp_path / "t.json"
    make_trace(trace_path)
    trace = json.loads(trace_path.read_text())
    trace["traceEvents"][0]["args"]["name"] = "</script><!-- tricky"
    page = render_html(trace)
    assert not re.search(r"\b(src|href)=", page), "nothing fetched from anywhere"
    assert "http" not in page.replace("http-equiv", "")
    island = page.split('id="trace">', 1)[1].split("</script>", 1)[0]
    assert json.loads(island) == trace  # "<" escaped, the data intact


def test_cli_view_writes_the_page(tmp_path: Path) -> None:
    trace_path = tmp_path / "t.json"
    make_trace(trace_path)
    assert cli.main(["view", str(trace_path), "-o", str(tmp_path / "out.html")]) == 0
    assert "glassloop trace" in (tmp_path / "out.html").read_text()
    assert cli.main(["view", str(trace_path)]) == 0
    assert (tmp_path / "t.html").exists()
    assert cli.main(["view", str(tmp_path / "missing.json")]) == 1


def chromium(*args: str, profile: Path) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    return subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            f"--user-data-dir={profile}",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@needs_chromium
def test_chromium_renders_the_lanes_and_the_critical_path(tmp_path: Path) -> None:
    trace_path = tmp_path / "t.json"
    make_trace(trace_path)
    page = tmp_path / "t.html"
    assert cli.main(["view", str(trace_path), "-o", str(page)]) == 0
    url = page.as_uri() + "#critical=handler"
    dom = chromium("--dump-dom", url, profile=tmp_path / "profile")
    assert dom.returncode == 0, dom.stderr[-2000:]
    status = re.search(r'<span id="status">(\d+) slices in (\d+) lanes, (\d+) wake-ups', dom.stdout)
    assert status is not None, dom.stdout[-3000:]
    assert int(status.group(1)) >= 5 and int(status.group(3)) >= 4
    # handler's end <- the fetch step that set the result <- the timer callback
    # <- fetch's first step (which armed it) <- handler's step (which made fetch).
    path = re.search(r"critical path of handler</h3><p>(\d+) slices", dom.stdout)
    assert path is not None and int(path.group(1)) >= 5
    items = re.findall(r"<li><a data-i=\"\d+\">([^<]*)</a>", dom.stdout)
    assert items[:3] == ["handler", "fetch", "_set_result_unless_cancelled"]
    artefacts = Path(os.environ.get("GLASSLOOP_ARTEFACTS", tmp_path))
    artefacts.mkdir(parents=True, exist_ok=True)
    shot = artefacts / "glassloop-view.png"
    result = chromium(
        f"--screenshot={shot}", "--window-size=1400,500", url, profile=tmp_path / "profile2"
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
