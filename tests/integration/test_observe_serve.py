"""``glassloop serve --trace``: the demo service's trace, read back.

A request to the FastAPI API is a task uvicorn creates from the transport's
read callback, which the poll ran because the socket became readable: the
trace must draw that chain, poll -> read callback -> the request's task, for
every request.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import httpx
from test_serve_cli import start_serve

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit"))
from trace_checks import arrow_into, check_trace, enclosing, slices_on

REQUESTS = 30


def test_a_traced_demo_draws_socket_readiness_to_each_request_task(tmp_path: Path) -> None:
    trace = tmp_path / "demo.json"
    served = start_serve("--phrases-port", "0", "--no-access-log", "--trace", str(trace))
    try:
        api = served.url("math API")
        phrases = served.url("phrases")
        with httpx.Client() as client:  # one keep-alive connection, many requests
            for i in range(REQUESTS):
                response = client.post(f"{api}/add", json={"first_number": i})
                assert response.json() == {"result": i + 1}
        assert httpx.get(phrases).status_code == 200
    finally:
        status, _, err = served.interrupt()
    assert status == 130, err
    assert f"written to {trace}" in err
    events = check_trace(json.loads(trace.read_text()))
    created = [e for e in events if e["ph"] == "i" and e["name"] == "created"]
    requests = [e for e in created if e["args"]["coroutine"].endswith("run_asgi")]
    assert len(requests) == REQUESTS
    for request in requests:
        first_step = slices_on(events, request["tid"])[0]
        start, _ = arrow_into(events, first_step)
        assert start["name"] == "created"
        read_callback = enclosing(events, start)
        assert read_callback["name"].endswith("_read_ready"), read_callback
        readiness, _ = arrow_into(events, read_callback)
        assert readiness["name"] == "io"
        assert enclosing(events, readiness)["name"] == "poll"
        assert "readable" in read_callback["args"]["woken_by"]
