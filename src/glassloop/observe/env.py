"""Observing every glassloop loop of a process, switched on from outside the program.

Two ways in, for programs nobody wants to edit: ``glassloop run --trace
out.json [--detect-blocking 0.1] SCRIPT`` calls :func:`configure`, and the
environment variables ``GLASSLOOP_TRACE=out.json`` and
``GLASSLOOP_DETECT_BLOCKING=0.1`` (and ``GLASSLOOP_INSPECT=1``, for
``glassloop ps``) do the same for any process that makes
its loops with ``glassloop.new_event_loop`` (the policy, ``glassloop.run``,
``uvicorn --loop glassloop:uvicorn_loop_factory``).  Each such loop gets a
:class:`Recorder` and/or a :class:`BlockingDetector`; the traces are written
when the process exits, by an exception or Ctrl-C too (``atexit``), or
earlier by :func:`write_traces`.  In a trace path, ``%p`` becomes the process
id (one file per worker); a process with several loops writes the first to
the path and the others to ``NAME-2.json``, ``NAME-3.json``...
"""

from __future__ import annotations

import atexit
import dataclasses
import os
import sys
from typing import Any

from ..loop import new_loop_callbacks
from .blocking import BlockingDetector
from .inspect import INSPECT_ENV, allow_inspection
from .recorder import Recorder

TRACE_ENV = "GLASSLOOP_TRACE"
BLOCKING_ENV = "GLASSLOOP_DETECT_BLOCKING"


@dataclasses.dataclass(frozen=True)
class Settings:
    trace: str | None = None
    detect_blocking: float | None = None
    inspect: bool = False


_configured: Settings | None = None
_recorders: list[Recorder] = []
_detectors: list[BlockingDetector] = []
_written: dict[int, str] = {}
_atexit_registered = False
_final_written = False
_trace_path: str | None = None


def enable() -> None:
    """Have ``glassloop.new_event_loop`` call :func:`observe_new_loop` on each new loop."""
    if observe_new_loop not in new_loop_callbacks:
        new_loop_callbacks.append(observe_new_loop)


def enable_from_environment() -> None:
    """:func:`enable` if GLASSLOOP_TRACE or GLASSLOOP_DETECT_BLOCKING is set.

    ``import glassloop`` calls it (importing this module only then).
    """
    if os.environ.get(TRACE_ENV) or os.environ.get(BLOCKING_ENV) or _inspect_from_env():
        enable()


def _inspect_from_env() -> bool:
    return os.environ.get(INSPECT_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def configure(
    trace: str | None = None, detect_blocking: float | None = None, inspect: bool = False
) -> None:
    """Observe every glassloop loop made from now on (overrides the environment)."""
    global _configured
    _configured = Settings(
        trace=os.path.abspath(trace) if trace else None,
        detect_blocking=detect_blocking,
        inspect=inspect,
    )
    enable()


def settings() -> Settings:
    """What :func:`configure` asked, else what the environment asks."""
    if _configured is not None:
        return _configured
    trace = os.environ.get(TRACE_ENV) or None
    blocking_text = os.environ.get(BLOCKING_ENV) or None
    blocking = None
    if blocking_text is not None:
        try:
            blocking = float(blocking_text)
        except ValueError:
            print(f"glassloop: ignoring {BLOCKING_ENV}={blocking_text!r}", file=sys.stderr)
        else:
            if blocking <= 0:
                blocking = None
    return Settings(trace=trace, detect_blocking=blocking, inspect=_inspect_from_env())


def observe_new_loop(loop: Any) -> None:
    """Attach what :func:`settings` asks for to a new loop."""
    global _atexit_registered, _trace_path
    wanted = settings()
    recorder = None
    if wanted.trace:
        if _trace_path is None:
            # Resolved now: the program may change directory before it exits.
            _trace_path = os.path.abspath(wanted.trace)
        recorder = Recorder(loop)
        _recorders.append(recorder)
        if not _atexit_registered:
            atexit.register(_write_at_exit)
            _atexit_registered = True
    if wanted.detect_blocking:
        _detectors.append(BlockingDetector(wanted.detect_blocking, loop=loop, recorder=recorder))
    if wanted.inspect:
        allow_inspection(loop)


def _path_for(index: int) -> str:
    assert _trace_path is not None
    path = _trace_path.replace("%p", str(os.getpid()))
    if index == 0:
        return path
    stem, ext = os.path.splitext(path)
    return f"{stem}-{index + 1}{ext or '.json'}"


def _write_at_exit() -> None:
    if not _final_written:
        write_traces()


def write_traces(*, quiet: bool = False) -> list[str]:
    """Write the trace of every loop observed so far; returns the paths written.

    Called at exit unless called before (``glassloop run`` calls it when the
    program ends, however it ends).
    """
    global _final_written
    _final_written = True
    for detector in _detectors:
        detector.flush()  # a block that ended the program goes on its timeline
    paths: list[str] = []
    for index, recorder in enumerate(_recorders):
        path = _written.get(index) or _path_for(index)
        try:
            recorder.export_chrome_trace(path)
        except OSError as exc:
            print(f"glassloop: could not write the trace {path}: {exc}", file=sys.stderr)
            continue
        _written[index] = path
        paths.append(path)
        if not quiet:
            dropped = f", {recorder.dropped} oldest dropped" if recorder.dropped else ""
            print(
                f"glassloop: trace of {len(recorder.records)} records{dropped} written to {path}"
                " (open it in https://ui.perfetto.dev)",
                file=sys.stderr,
            )
    return paths
