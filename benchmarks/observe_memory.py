"""Memory of the observers on a long run of the demo service under load.

Runs ``glassloop serve``'s demo (the math API on uvicorn, the aiohttp phrase
service and its embedded upstream) in this process, on one glassloop loop with
an observer attached, and loads both services with wrk (one process each, one
thread, 10 connections) for ``--seconds``, in rounds of ``--every`` seconds.
After each round it samples the process's RSS and the observer's buffer.

    python benchmarks/observe_memory.py --observer recorder --seconds 600
    python benchmarks/observe_memory.py --observer flight --seconds 600
    python benchmarks/observe_memory.py --observer none --seconds 600   # the control

What must hold: the buffer never holds more than its capacity, and RSS stops
growing once the buffer is full (the ring replaces, it does not accumulate).
The last lines compare RSS at the first round where the buffer was full with
RSS at the end; with ``--observer none`` the same figures are the control.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import threading
import time
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
POST_ADD_LUA = os.path.join(HERE, "wrk_post_add.lua")


def rss_mib() -> float:
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def wrk(url: str, seconds: int, script: str | None) -> int:
    """Requests wrk completed against ``url`` in ``seconds`` (non-2xx ones are an error)."""
    cmd = ["wrk", "-t1", "-c10", f"-d{seconds}s", "--timeout", "10s"]
    if script:
        cmd += ["-s", script]
    out = subprocess.run(
        [*cmd, url], capture_output=True, text=True, timeout=seconds + 60, check=True
    ).stdout
    if "Non-2xx" in out:
        raise RuntimeError(f"{url}: some responses were not 2xx:\n{out}")
    for line in out.splitlines():
        if "requests in" in line:
            return int(line.split()[0])
    raise RuntimeError(f"wrk printed no request count:\n{out}")


def buffer_state(observer: Any) -> tuple[int, int, int]:
    """(records held, capacity, dropped so far) of the observer's ring."""
    if observer is None:
        return 0, 0, 0
    recorder = getattr(observer, "recorder", observer)
    if hasattr(recorder, "tape"):  # the flight recorder's window on the loop's tape
        tape = recorder.tape
        held = min(len(tape), recorder.capacity) if tape is not None else 0
        return held, recorder.capacity, recorder.dropped
    return len(recorder.records), recorder.capacity, recorder.dropped


async def main_async(args: argparse.Namespace) -> int:
    import tempfile

    from glassloop.apps.serve import ServeConfig, Service
    from glassloop.observe import FlightRecorder, Recorder

    loop = asyncio.get_running_loop()
    observer: Any = None
    if args.observer == "recorder":
        observer = Recorder(loop)
    elif args.observer == "flight":
        observer = FlightRecorder(loop, tempfile.gettempdir(), dump_signal=None)
    config = ServeConfig(port=0, phrases_port=0, access_log=False)
    service = Service(config)
    await service.start()
    rows: list[tuple[float, float, int, int, int, int]] = []
    done = loop.create_future()

    def load() -> None:
        start = time.monotonic()
        try:
            while time.monotonic() - start < args.seconds:
                results: list[int] = []
                phrases = threading.Thread(
                    target=lambda out=results: out.append(
                        wrk(service.phrases_url, args.every, None)
                    )
                )
                phrases.start()
                api = wrk(f"{service.api_url}/add", args.every, POST_ADD_LUA)
                phrases.join()
                held, capacity, dropped = buffer_state(observer)
                requests = api + (results[0] if results else 0)
                now = time.monotonic() - start
                rows.append((now, rss_mib(), requests, held, capacity, dropped))
                print(
                    f"{rows[-1][0]:7.0f} s  RSS {rows[-1][1]:7.1f} MiB  "
                    f"{requests:7d} requests  buffer {held}/{capacity}  dropped {dropped}",
                    flush=True,
                )
            loop.call_soon_threadsafe(done.set_result, None)
        except BaseException as exc:
            loop.call_soon_threadsafe(done.set_exception, exc)

    threading.Thread(target=load, name="load", daemon=True).start()
    try:
        await done
    finally:
        service.request_stop(force=True)
        await service.stop()
    over = [r for r in rows if r[4] and r[3] > r[4]]
    full = next((r for r in rows if r[4] and r[3] == r[4]), None)
    print()
    print(f"observer: {args.observer}; {len(rows)} rounds; {sum(r[2] for r in rows)} requests")
    print(f"RSS first round {rows[0][1]:.1f} MiB, max {max(r[1] for r in rows):.1f} MiB, "
          f"end {rows[-1][1]:.1f} MiB")  # fmt: skip
    if full is not None:
        print(f"buffer full from {full[0]:.0f} s at RSS {full[1]:.1f} MiB; RSS growth since: "
              f"{rows[-1][1] - full[1]:+.1f} MiB")  # fmt: skip
    if over:
        print(f"FAIL: the buffer held more than its capacity in {len(over)} round(s)")
        return 1
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--observer", choices=("recorder", "flight", "none"), default="recorder")
    parser.add_argument("--seconds", type=int, default=600)
    parser.add_argument("--every", type=int, default=10, help="seconds per round (10)")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print("wrk is not installed (benchmarks/setup.sh installs it)", file=sys.stderr)
        return 2
    import glassloop

    return glassloop.run(main_async(args))


if __name__ == "__main__":
    sys.exit(main())
