"""What every benchmark child shares: the loops, the row table, the child's main.

A child process runs exactly one row on exactly one loop and prints one JSON
line on stdout::

    {"value": 1.23, "unit": "s", "params": {...}}        # a measurement
    {"error": "NotImplementedError: ...", "unit": "s"}    # the loop cannot run the row

The orchestrator (``run.py``) decides which child runs when; a child never
knows about the other loops.  This module imports no event loop at module
level, so ``run.py`` can read the row table without paying for them.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import resource
import sys
import traceback
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, Literal

#: The loops the suite compares, in the order a round runs them.
LOOP_NAMES: tuple[str, ...] = ("glassloop", "asyncio", "uvloop", "rloop")
#: glassloop with an observer attached (glassloop.observe), for what observing
#: costs: a Recorder, a FlightRecorder, a BlockingDetector alone.  Not in the
#: default round; ask with --loops glassloop,glassloop+trace,...
OBSERVED_LOOP_NAMES: tuple[str, ...] = ("glassloop+trace", "glassloop+flight", "glassloop+detector")
#: glassloop's two builds by name, so one report has both (glassloop.build):
#: ``glassloop-pure`` runs the child with GLASSLOOP_PURE=1 (the .py files even
#: where the compiled kernel is installed); ``glassloop-compiled`` insists on
#: the compiled one and reports n/a where it is not installed.  ``glassloop``
#: is whichever build is installed.  Not in the default round.
BUILD_LOOP_NAMES: tuple[str, ...] = ("glassloop-pure", "glassloop-compiled")


def loop_environment(name: str, env: dict[str, str]) -> dict[str, str]:
    """``env`` for a child that runs loop ``name``: GLASSLOOP_PURE set for glassloop-pure.

    Every other loop gets it unset, so a GLASSLOOP_PURE=1 left in the
    orchestrator's environment never turns ``glassloop`` into the pure build
    unseen.
    """
    env = dict(env)
    if name == "glassloop-pure":
        env["GLASSLOOP_PURE"] = "1"
    else:
        env.pop("GLASSLOOP_PURE", None)
    return env


def glassloop_build() -> str:
    """The build of glassloop this process imports: glassloop.build.describe()."""
    import glassloop.build

    return glassloop.build.describe()


Size = Literal["smoke", "full"]
Unit = Literal["s", "req/s", "bytes", "us/op"]


@dataclass
class Measurement:
    """One child's answer: ``value`` in ``unit``, and the sizes it ran with."""

    value: float
    unit: Unit
    params: dict[str, Any] = field(default_factory=dict)


class RowUnavailable(Exception):
    """The row cannot run here (a tool is missing): reported as n/a, not as a loop failure."""


RowBody = Callable[[Size], Coroutine[Any, Any, Measurement]]


@dataclass(frozen=True)
class Row:
    """One line of the report: what is measured, and the coroutine that measures it."""

    id: str
    group: str
    label: str
    unit: Unit
    body: RowBody
    #: External programs the row needs (checked by the orchestrator first).
    needs: tuple[str, ...] = ()
    #: Seconds the orchestrator waits for one child at full size.
    timeout: float = 120.0
    #: What ``--cpu C`` does: "together" runs the child and the client it
    #: starts on CPU C; "apart" runs the child (the server) on CPU C and its
    #: load generator on another CPU (:func:`load_cpu`), so that the server
    #: has a CPU to itself and the load generator does not take turns with
    #: it (the HTTP rows: wrk's own cost per request is of the order of the
    #: server's, and sharing CPUs with it made the server's share vary with
    #: how much CPU each request cost it).
    pin: Literal["together", "apart"] = "together"

    @property
    def lower_is_better(self) -> bool:
        return self.unit != "req/s"


def loop_factory(name: str) -> Callable[[], asyncio.AbstractEventLoop]:
    """The callable that makes a new loop of kind ``name`` (what ``loop_factory=`` takes)."""
    if name == "glassloop":
        import glassloop

        return glassloop.new_event_loop
    if name in BUILD_LOOP_NAMES:
        import glassloop
        import glassloop.build

        wanted = name.partition("-")[2]
        if glassloop.build.NAME != wanted:
            raise RowUnavailable(
                f"the {wanted} build of glassloop is not installed here "
                f"(this one is {glassloop.build.describe()})"
            )
        return glassloop.new_event_loop
    if name in OBSERVED_LOOP_NAMES:
        return _observed_loop_factory(name)
    if name == "asyncio":
        # The default Unix loop, named explicitly so no installed policy can change it.
        return asyncio.SelectorEventLoop
    if name == "uvloop":
        import uvloop

        return uvloop.new_event_loop
    if name == "rloop":
        import rloop

        return rloop.new_event_loop  # type: ignore[no-any-return]
    known = LOOP_NAMES + OBSERVED_LOOP_NAMES + BUILD_LOOP_NAMES
    raise ValueError(f"unknown loop {name!r}; expected one of {', '.join(known)}")


def _observed_loop_factory(name: str) -> Callable[[], asyncio.AbstractEventLoop]:
    import tempfile

    import glassloop
    from glassloop.observe import BlockingDetector, FlightRecorder, Recorder

    def new_loop() -> asyncio.AbstractEventLoop:
        loop = glassloop.new_event_loop()
        if name == "glassloop+trace":
            Recorder(loop)
        elif name == "glassloop+flight":
            FlightRecorder(loop, tempfile.gettempdir(), dump_signal=None)
        else:
            BlockingDetector(0.1, loop=loop)
        return loop

    return new_loop


def rss_bytes() -> int:
    """This process's resident set size now (not the peak), from /proc/self/statm."""
    with open("/proc/self/statm") as f:
        resident_pages = int(f.read().split()[1])
    return resident_pages * os.sysconf("SC_PAGE_SIZE")


def settled_rss() -> int:
    """RSS after a full garbage collection, so garbage does not count."""
    gc.collect()
    gc.collect()
    return rss_bytes()


def raise_nofile(wanted: int) -> int:
    """Raise the open-file soft limit towards ``wanted`` (up to the hard limit); return it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= wanted:
        return wanted
    new = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
    return new


def cpu_seconds() -> float:
    """This process's CPU time so far, user plus system.

    An I/O row's value is the client's wall time, which also pays for the
    client and the kernel, and an HTTP row's is wrk's, which a server shares
    a machine with; the server's own CPU time (a param of each run) is the
    share the loop under test is responsible for.
    """
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


#: The CPU a pin="apart" row's load generator runs on (set by child_main).
_load_cpu: int | None = None


def load_cpu() -> int | None:
    """The CPU this row's load generator is to run on, or None: let it float."""
    return _load_cpu


def on_cpu(cpu: int | None, cmd: list[str]) -> list[str]:
    """``cmd`` made to run on ``cpu`` only (as it is when ``cpu`` is None).

    Through a Python that sets its own affinity and then execs the command,
    so every thread the command starts inherits it (setting a running
    process's affinity reaches its first thread only), with no
    ``preexec_fn`` in a process that has threads.
    """
    if cpu is None:
        return cmd
    pin = (
        "import os, sys; os.sched_setaffinity(0, {int(sys.argv[1])}); "
        "os.execv(sys.argv[2], sys.argv[2:])"
    )
    return [sys.executable, "-c", pin, str(cpu), *cmd]


def _emit(payload: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(payload) + "\n")
    sys.stdout.flush()


def child_main(rows: dict[str, Row], argv: list[str] | None = None) -> None:
    """Run one row on one loop and print its JSON line; the entry point of every bench_*.py."""
    parser = argparse.ArgumentParser(description="Run one benchmark row on one event loop.")
    parser.add_argument(
        "--loop", required=True, choices=LOOP_NAMES + OBSERVED_LOOP_NAMES + BUILD_LOOP_NAMES
    )
    parser.add_argument("--row", required=True, choices=sorted(rows))
    parser.add_argument("--size", default="full", choices=("smoke", "full"))
    parser.add_argument(
        "--cpu",
        type=int,
        help="run on this CPU only, with the processes it starts (the load generator of a "
        "row with pin='apart' on another)",
    )
    global _load_cpu
    args = parser.parse_args(argv)
    row = rows[args.row]
    if args.cpu is not None:
        if row.pin == "apart":
            others = sorted(os.sched_getaffinity(0) - {args.cpu})
            _load_cpu = others[-1] if others else None
        os.sched_setaffinity(0, {args.cpu})
    size: Size = args.size
    try:
        factory = loop_factory(args.loop)
        with asyncio.Runner(loop_factory=factory) as runner:
            result = runner.run(row.body(size))
            if result.unit != row.unit:
                raise RuntimeError(f"row {row.id} measured {result.unit}, declared {row.unit}")
            _emit({"value": result.value, "unit": result.unit, "params": result.params})
            # The measurement is out.  Tearing down 100k tasks or 1M timers
            # would only make the run longer, so leave without it.
            os._exit(0)
    except RowUnavailable as exc:
        _emit({"unavailable": str(exc), "unit": row.unit})
        os._exit(0)
    except BaseException as exc:
        traceback.print_exc(file=sys.stderr)
        message = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        frames = traceback.extract_tb(exc.__traceback__)
        if frames:  # where it was raised: "NotImplementedError" alone says little
            last = frames[-1]
            message += f" (in {last.name}, {os.path.basename(last.filename)}:{last.lineno})"
        _emit({"error": message[:500], "unit": row.unit})
        sys.stderr.flush()
        os._exit(3)
