"""examples/observe_blocking.py, as docs/observe.md runs it: found, then fixed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "observe_blocking.py"


def glassloop_run(*args: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "glassloop", "run", *args],
        capture_output=True,
        text=True,
        timeout=45,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result


def test_the_detector_names_the_blocking_line_and_the_fix_silences_it(tmp_path: Path) -> None:
    trace = tmp_path / "demo.json"
    blocking = glassloop_run(
        "--detect-blocking", "0.1", "--trace", str(trace), str(EXAMPLE), "--requests", "3"
    )
    assert "3 requests in" in blocking.stdout and "(blocking handler)" in blocking.stdout
    reports = [line for line in blocking.stderr.splitlines() if "has blocked the loop" in line]
    assert len(reports) == 3
    assert all(line.endswith("observe_blocking.py:25 in lookup") for line in reports)
    assert "    time.sleep(0.15)" in blocking.stderr
    events = json.loads(trace.read_text())["traceEvents"]
    assert sum(1 for e in events if e.get("cat") == "block") == 3
    fixed = glassloop_run("--detect-blocking", "0.1", str(EXAMPLE), "--requests", "3", "--fixed")
    assert "(fixed handler)" in fixed.stdout
    assert "blocked" not in fixed.stderr
