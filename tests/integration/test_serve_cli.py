"""``glassloop serve`` as a user runs it: a process, a banner, Ctrl-C.

These start the real command in a subprocess (on free ports), read where it
says it listens, talk to it, and stop it with SIGINT: it must drain what is in
flight, say it stopped, exit 130 (0 for SIGTERM), and print no traceback --
also when Ctrl-C is pressed twice, however soon after the first.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

BANNER_END = "Press Ctrl-C to stop."
URL = re.compile(r"http://127\.0\.0\.1:\d+\S*")


class Served:
    def __init__(self, process: subprocess.Popen[str], banner: list[str]) -> None:
        self.process = process
        self.banner = banner

    def url(self, name: str) -> str:
        """The URL on the banner line that starts with ``name``."""
        for line in self.banner:
            if line.strip().startswith(name):
                match = URL.search(line)
                assert match, line
                return match.group(0)
        raise AssertionError(f"no {name!r} line in the banner: {self.banner}")

    def interrupt(self) -> tuple[int, str, str]:
        """Ctrl-C; the exit status and the rest of stdout and stderr."""
        self.process.send_signal(signal.SIGINT)
        out, err = self.process.communicate(timeout=20)
        return self.process.returncode, out, err


def start_serve(*args: str, cwd: Path | None = None) -> Served:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    process = subprocess.Popen(
        [sys.executable, "-m", "glassloop", "serve", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=cwd,
        env=env,
    )
    banner: list[str] = []
    timer = threading.Timer(20, process.kill)  # a hung startup must not hang the test
    timer.start()
    try:
        assert process.stdout is not None
        for line in process.stdout:
            banner.append(line.rstrip("\n"))
            if line.strip() == BANNER_END:
                break
    finally:
        timer.cancel()
    if not banner or banner[-1] != BANNER_END:
        process.kill()
        _, err = process.communicate()
        pytest.fail(f"glassloop serve did not start: {banner} {err}")
    return Served(process, banner)


@pytest.fixture
def served_demo() -> Iterator[Served]:
    served = start_serve("--phrases-port", "0")
    try:
        yield served
    finally:
        if served.process.poll() is None:
            served.process.kill()
            served.process.communicate()


def test_demo_banner_curl_and_ctrl_c(served_demo: Served) -> None:
    banner = served_demo.banner
    assert banner[0].startswith("glassloop serve: the Async API demo, on one glassloop.Loop")
    api = served_demo.url("math API")
    phrases = served_demo.url("phrases")
    assert served_demo.url("API docs") == f"{api}/docs"
    assert "phrase upstream (embedded)" in "\n".join(banner)

    response = httpx.post(f"{api}/add", json={"first_number": 2})
    assert response.text == '{"result":3}'
    assert httpx.get(f"{api}/loop").json() == {"loop": "glassloop.Loop"}
    phrase = httpx.get(phrases).text
    assert phrase and phrase == phrase.upper()

    status, out, err = served_demo.interrupt()
    assert status == 130, err
    assert "SIGINT, stopping" in out
    assert out.rstrip().endswith("glassloop serve: stopped")
    assert '"POST /add HTTP/1.1" 200' in out  # uvicorn's access log
    assert '[phrases] 127.0.0.1 - "GET / HTTP/1.1" 200' in out  # aiohttp's
    assert "Traceback" not in err and "Error" not in err, err


SLOW_APP = '''
"""A plain ASGI app with a slow endpoint, for the graceful-stop test."""
import asyncio


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                print("app: lifespan shutdown", flush=True)
                await send({"type": "lifespan.shutdown.complete"})
                return
    loop = type(asyncio.get_running_loop())
    if scope["path"] == "/slow":
        await asyncio.sleep(0.8)
    body = f"{scope['path']} served by {loop.__module__}.{loop.__qualname__}".encode()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": body})
'''


def test_serve_any_asgi_app_and_drain_in_flight_requests_on_ctrl_c(tmp_path: Path) -> None:
    (tmp_path / "slowapp.py").write_text(textwrap.dedent(SLOW_APP))
    served = start_serve("slowapp:app", "--no-access-log", cwd=tmp_path)
    try:
        assert served.banner[0].startswith("glassloop serve: slowapp:app, on one glassloop.Loop")
        url = served.url("slowapp:app")
        assert httpx.get(f"{url}/fast").text == "/fast served by glassloop.loop.Loop"
        with ThreadPoolExecutor(1) as pool:
            slow = pool.submit(httpx.get, f"{url}/slow", timeout=10)
            # Let the request reach the app, then Ctrl-C while it sleeps.
            threading.Event().wait(0.3)
            status, out, err = served.interrupt()
            response = slow.result()
    finally:
        if served.process.poll() is None:
            served.process.kill()
    assert response.status_code == 200
    assert response.text == "/slow served by glassloop.loop.Loop"
    assert status == 130, err
    assert "app: lifespan shutdown" in out
    assert out.rstrip().endswith("glassloop serve: stopped")
    assert "Traceback" not in err, err


@pytest.mark.parametrize(
    "gap",
    [
        0.02,  # the second while the first stop runs: a forced stop
        0.3,  # the second around the time everything has stopped
    ],
)
def test_ctrl_c_twice_stops_quietly_with_130(served_demo: Served, gap: float) -> None:
    served_demo.process.send_signal(signal.SIGINT)
    time.sleep(gap)
    status, out, err = served_demo.interrupt()
    assert status == 130, err
    assert "SIGINT, stopping" in out
    assert "Traceback" not in err and "CancelledError" not in err, err
    assert "KeyboardInterrupt" not in err, err


def test_forced_stop_cancels_requests_in_one_line_and_runs_the_lifespan_shutdown(
    tmp_path: Path,
) -> None:
    (tmp_path / "slowapp.py").write_text(textwrap.dedent(SLOW_APP.replace("0.8", "30")))
    served = start_serve("slowapp:app", "--no-access-log", cwd=tmp_path)
    try:
        url = served.url("slowapp:app")
        with ThreadPoolExecutor(1) as pool:
            slow = pool.submit(httpx.get, f"{url}/slow", timeout=20)
            threading.Event().wait(0.3)  # the request is in the app's sleep now
            served.process.send_signal(signal.SIGINT)
            threading.Event().wait(0.3)
            status, out, err = served.interrupt()
            response = slow.result()
    finally:
        if served.process.poll() is None:
            served.process.kill()
    assert status == 130, err
    assert "stopping now, without waiting for requests" in out
    assert "app: lifespan shutdown" in out
    assert response.status_code == 500  # uvicorn's answer to a request cut short
    assert "Traceback" not in err, err
    assert err.count("request cancelled: the server stopped without waiting for it") == 1, err


def test_sigterm_stops_cleanly_too(served_demo: Served) -> None:
    served_demo.process.send_signal(signal.SIGTERM)
    out, err = served_demo.process.communicate(timeout=20)
    assert served_demo.process.returncode == 0, err
    assert "SIGTERM, stopping" in out
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["no_such_module_xyz:app"], "cannot import module 'no_such_module_xyz'"),
        (["--factory"], "--factory needs an APP"),
        (["--port", "70000"], "port must be 0..65535"),
        (["x:app", "--upstream", "http://127.0.0.1:1/get"], "--upstream is for the demo"),
    ],
)
def test_usage_errors_are_one_clear_line(args: list[str], message: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "glassloop", "serve", *args],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode != 0
    assert message in result.stderr
    assert "Traceback" not in result.stderr
