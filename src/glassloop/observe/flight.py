"""The flight recorder: always recording, in a small ring, dumped when something goes wrong.

A :class:`Recorder` with a small buffer (the last ``capacity`` records,
12-16 MiB at the default) runs all the time; nothing is written until one
of three things happens:

- a **stall**: a step or callback holds the loop longer than ``stall``
  seconds (a :class:`BlockingDetector` notices it while it lasts, so the dump
  is written from the watchdog thread even if the loop never recovers);
- an **exception** reaches the loop's exception handler (the previous
  handler still runs afterwards);
- the process receives ``SIGUSR1`` (``kill -USR1 PID``), to look at a
  process that seems wrong.

Each dump is a Chrome/Perfetto trace of what led up to it, in ``directory``,
named ``glassloop-flight-PID-N-REASON.json``.  Dumps of one reason are at
least ``min_interval`` seconds apart, so an exception storm writes one file.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from types import FrameType
from typing import Any

from .attach import ClosedOnExit
from .blocking import BlockingDetector, BlockReport
from .chrome import write_chrome_trace
from .recorder import Recorder

logger = logging.getLogger("glassloop.observe")

#: Records kept by default: 12-16 MiB (300-400 bytes a record, measured).
FLIGHT_CAPACITY = 40_000


class FlightRecorder(ClosedOnExit):
    """Keeps the last ``capacity`` records of ``loop``; dumps them on a stall, error or SIGUSR1."""

    def __init__(
        self,
        loop: Any,
        directory: str = ".",
        *,
        capacity: int = FLIGHT_CAPACITY,
        stall: float | None = 0.5,
        dump_signal: int | None = signal.SIGUSR1,
        on_exception: bool = True,
        min_interval: float = 10.0,
        cpu_time: bool = False,
    ) -> None:
        self.loop = loop
        self.directory = directory
        self.min_interval = min_interval
        #: Paths written so far, oldest first.
        self.dumps: list[str] = []
        self._last: dict[str, float] = {}
        self._count = 0
        self._lock = threading.Lock()
        self.recorder = Recorder(loop, capacity=capacity, cpu_time=cpu_time)
        self.detector: BlockingDetector | None = None
        if stall is not None:
            self.detector = BlockingDetector(
                stall, loop=loop, callback=self._on_block, recorder=self.recorder
            )
        self._signal = None
        self._previous_signal: Any = None
        if dump_signal is not None and threading.current_thread() is threading.main_thread():
            self._previous_signal = signal.signal(dump_signal, self._on_signal)
            self._signal = dump_signal
        self._previous_handler: Any = None
        self._handling_exceptions = on_exception
        if on_exception:
            self._previous_handler = loop.get_exception_handler()
            loop.set_exception_handler(self._on_exception)

    def dump(self, reason: str = "request") -> str | None:
        """Write the buffer now; returns the path (None if one of ``reason`` was just written)."""
        with self._lock:
            now = time.monotonic()
            last = self._last.get(reason)
            if last is not None and now - last < self.min_interval:
                return None
            self._last[reason] = now
            self._count += 1
            name = f"glassloop-flight-{os.getpid()}-{self._count}-{reason}.json"
            path = os.path.join(self.directory, name)
        try:
            write_chrome_trace(self.recorder, path)
        except OSError as exc:
            logger.error("glassloop: the flight recorder could not write %s: %s", path, exc)
            return None
        self.dumps.append(path)
        logger.warning("glassloop: flight recorder dump (%s) written to %s", reason, path)
        return path

    def _on_block(self, report: BlockReport) -> None:
        if not report.ended:
            self.dump("stall")

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self.dump("signal")

    def _on_exception(self, loop: Any, context: dict[str, Any]) -> None:
        self.dump("exception")
        if self._previous_handler is not None:
            self._previous_handler(loop, context)
        else:
            loop.default_exception_handler(context)

    def close(self) -> None:
        """Stop recording and give back the signal and exception handlers."""
        if self._signal is not None:
            signal.signal(self._signal, self._previous_signal)
            self._signal = None
        if self._handling_exceptions and self.loop.get_exception_handler() == self._on_exception:
            self.loop.set_exception_handler(self._previous_handler)
        self._handling_exceptions = False
        if self.detector is not None:
            self.detector.close()
        self.recorder.close()
