"""The Twisted and aiohttp examples, on glassloop."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import aiohttp
import httpx
from aiohttp import web

import course_aiohttp
import glassloop
from glassloop.apps.phrases import PHRASES

EXAMPLE = Path(course_aiohttp.__file__).resolve()

# -- Twisted ----------------------------------------------------------------------------


def test_twisted_example_output(run_example: Any) -> None:
    """Run as a program: installing a reactor is once per process."""
    out = run_example("course_twisted.py", glassloop=False).stdout
    lines = re.sub(r"127\.0\.0\.1:\d+", "127.0.0.1:PORT", out).splitlines()
    assert lines == [
        "reactor: AsyncioSelectorReactor over glassloop.loop.Loop",
        "42",
        "OOPS! ValueError: invalid literal for int() with base 10: 'forty-one'",
        "the text's chain on bad input:",
        "OOPS!",
        "None",  # the text's chain went on after its errback
        "echo server listening on 127.0.0.1:PORT",
        "echoed: hello",
        "echoed: twisted",
        "reactor stopped",
    ]


# -- aiohttp ----------------------------------------------------------------------------


async def _get(upstream: str | None) -> tuple[int, str]:
    runner = web.AppRunner(await course_aiohttp.make_app(upstream))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        async with aiohttp.ClientSession() as session:
            async with session.get(f"http://{host}:{port}/") as response:
                return response.status, await response.text()
    finally:
        await runner.cleanup()


def test_aiohttp_phrase_is_upper_cased() -> None:
    status, text = glassloop.run(_get(None))
    assert status == 200
    assert text in {p.upper() for p in PHRASES}


def test_aiohttp_dead_upstream_is_a_502() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}/get"
    status, text = glassloop.run(_get(dead))
    assert status == 502
    assert text.startswith("phrase upstream failed: Cannot connect to host 127.0.0.1")


def test_aiohttp_script_under_glassloop_run_and_ctrl_c() -> None:
    """``web.run_app`` under ``glassloop run``: serves, then stops on SIGINT."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, "-m", "glassloop", "run", str(EXAMPLE), "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ, PYTHONUNBUFFERED="1"),
    )
    timer = threading.Timer(30, process.kill)
    timer.start()
    try:
        assert process.stdout is not None
        for line in process.stdout:
            if line.startswith("======== Running on"):
                break
        response = httpx.get(f"http://127.0.0.1:{port}/", timeout=10)
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=20)
    finally:
        timer.cancel()
        if process.poll() is None:
            process.kill()
    assert response.status_code == 200
    assert response.text in {p.upper() for p in PHRASES}
    assert process.returncode == 0, err
    assert "Traceback" not in err
