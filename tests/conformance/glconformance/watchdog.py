"""Inside the child: stop a test that runs too long, without stopping the module.

Two stages, because a hung loop can swallow a polite interruption:

1. *Soft*: after ``timeout`` seconds, a watchdog thread sends SIGUSR2 to the main thread;
   its handler raises ``ConformanceTimeout`` where the test is stuck, which unittest records
   as an error of that test, and the run moves on.  If the test is still running ``grace``
   seconds later (the loop caught the exception, or cleanup hangs too) it tries again, up to
   ``strikes`` times.
2. *Hard*: ``faulthandler.dump_traceback_later`` dumps every thread's stack to stderr and
   exits the process; it runs on its own C thread, so it fires even if the main thread is
   stuck in C code holding the GIL.  The parent then reports the test and resumes the module
   after it.

Why SIGUSR2 sent with ``pthread_kill`` rather than ``signal.alarm``: a process-wide alarm may
be delivered to any thread, and only a signal delivered to the main thread interrupts its
blocking ``select()``; and ``test_events`` uses SIGALRM and ``setitimer`` itself, while no
``test_asyncio`` module touches SIGUSR2.  The handler is reinstalled before every test,
since a test may replace it.
"""

from __future__ import annotations

import faulthandler
import signal
import sys
import threading
import time
from types import FrameType

SIGNAL = signal.SIGUSR2


class ConformanceTimeout(BaseException):
    """Raised in the main thread when a test overruns.

    A ``BaseException`` so that ``except Exception`` in test or loop code doesn't swallow it;
    unittest still records it as an error of the running test.
    """


class Watchdog:
    """Per-test deadlines for the main thread.  ``arm`` at each test start, ``disarm`` at end."""

    def __init__(self, timeout: float, *, grace: float = 5.0, strikes: int = 3) -> None:
        self.timeout = timeout
        self.grace = grace
        self.strikes = strikes
        self.fired = 0
        self._label = ""
        self._deadline: float | None = None
        self._condition = threading.Condition()
        self._main_ident = threading.main_thread().ident or 0
        self._thread = threading.Thread(
            target=self._watch, name="conformance-watchdog", daemon=True
        )
        self._thread.start()

    @property
    def hard_timeout(self) -> float:
        """When the process is given up on: every soft strike has had its chance by then."""
        return self.timeout + self.grace * self.strikes + 5.0

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        # A late signal may land after the test finished: only raise for the armed test.
        with self._condition:
            armed = self._deadline is not None
            label = self._label
        if armed:
            raise ConformanceTimeout(
                f"{label} still running after {self.timeout:g}s (conformance per-test timeout)"
            )

    def arm(self, label: str) -> None:
        """Start the clock for the test (or fixture phase) called ``label``."""
        signal.signal(SIGNAL, self._on_signal)
        faulthandler.dump_traceback_later(self.hard_timeout, exit=True, file=sys.__stderr__)
        with self._condition:
            self._label = label
            self.fired = 0
            self._deadline = time.monotonic() + self.timeout
            self._condition.notify()

    def disarm(self) -> None:
        """Stop the clock; nothing fires until the next ``arm``."""
        faulthandler.cancel_dump_traceback_later()
        with self._condition:
            self._deadline = None
            self._condition.notify()

    def _watch(self) -> None:
        with self._condition:
            while True:
                if self._deadline is None:
                    self._condition.wait()
                    continue
                remaining = self._deadline - time.monotonic()
                if remaining > 0:
                    self._condition.wait(remaining)
                    continue
                if self.fired >= self.strikes:
                    self._deadline = None  # the hard timeout takes it from here
                    continue
                self.fired += 1
                self._deadline = time.monotonic() + self.grace
                signal.pthread_kill(self._main_ident, SIGNAL)
