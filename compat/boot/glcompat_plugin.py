"""pytest plugin of a harness run (``-p glcompat_plugin``): one JSON line per test, and proof.

Per test it writes ``{"id", "outcome", "when", "duration", "longrepr", "loops"}`` (and
``output``, the captured output, for a failure) to
``$GLCOMPAT_RESULTS`` as soon as the test's teardown is reported, so a run killed by the
harness's overall timeout still leaves every finished test behind.  ``outcome`` is one of
passed, failed (the test body, or a strict xpass), error (setup or teardown) and skipped
(xfail included), the four columns of the report.  ``loops`` is ``[glassloop, asyncio]``:
the loops constructed in the test's process while it ran, so the report can name the tests
of a glassloop run that still made asyncio loops.

After a test whose setup or body failed, its teardown collects garbage (``gc.collect()``)
before pytest looks for unraisable exceptions: a failure often leaves what it held in a
reference cycle through its traceback (anyio's ``server_sock`` fixture makes an IPv6 socket,
fails to bind it and never closes it), and the ``ResourceWarning`` of its collection would
otherwise land in whichever later test the collector happens to run in, a different one on
each loop since their allocations differ.  Collected here, it is charged to the test that
leaked it, on both loops alike.

At start-up it refuses to run (a usage error, so the run fails loudly) when the process was
not started by the harness with the start-up hook active: a glassloop run that silently ran
on asyncio would report a false parity.
"""

from __future__ import annotations

import gc
import json
import os
import re
from collections.abc import Generator
from typing import Any

import glcompat_boot
import pytest

try:  # pytest >= 8.4 checks for unraisable exceptions after each phase with this
    from _pytest.unraisableexception import collect_unraisable as _collect_unraisable
except ImportError:  # older: its own per-phase hook wrappers catch them as they happen
    _collect_unraisable = None

RESULTS_VAR = "GLCOMPAT_RESULTS"
#: A JSON file: {"suite": name, "patterns": [regex, ...]} of the tests not to run.
EXCLUDE_VAR = "GLCOMPAT_EXCLUDE"
#: Cap on the traceback text kept per test: enough to classify, not a log.
LONGREPR_LIMIT = 12000
OUTPUT_LIMIT = 4000
_RANK = {"failed": 3, "error": 2, "passed": 1, "skipped": 0}
#: Tests whose setup or call failed, until their teardown has collected garbage.
_failed: set[str] = set()


def _outcome(report: pytest.TestReport) -> str | None:
    """This phase's contribution to the test's outcome (None: nothing to say)."""
    if report.when == "call":
        if hasattr(report, "wasxfail"):
            return "skipped" if report.skipped else ("failed" if report.failed else "passed")
        return {"passed": "passed", "failed": "failed", "skipped": "skipped"}[report.outcome]
    if report.failed:
        return "error"
    if report.skipped:
        return "skipped"
    return None


class Recorder:
    """Folds the setup/call/teardown reports of each test into one record and writes it."""

    def __init__(self, path: str | None) -> None:
        self.path = path
        self.pending: dict[str, dict[str, Any]] = {}
        self.start: dict[str, tuple[int, int]] = {}

    def snapshot(self) -> tuple[int, int]:
        counts = glcompat_boot.counts
        return counts["glassloop"], counts["asyncio"]

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_protocol(self, item: pytest.Item) -> Generator[None, None, None]:
        self.start[item.nodeid] = self.snapshot()
        yield

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, Any, None]:
        outcome = yield
        if call.when == "teardown":
            before = self.start.pop(item.nodeid, self.snapshot())
            after = self.snapshot()
            report = outcome.get_result()
            report.user_properties = [
                *report.user_properties,
                ("glcompat_loops", [after[0] - before[0], after[1] - before[1]]),
            ]

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.failed and report.when != "teardown":
            _failed.add(report.nodeid)
        if self.path is None:
            return
        record = self.pending.setdefault(
            report.nodeid,
            {"id": report.nodeid, "outcome": None, "when": "", "duration": 0.0,
             "longrepr": "", "loops": [0, 0]},
        )  # fmt: skip
        record["duration"] += report.duration
        phase = _outcome(report)
        # The worst phase decides (a failed body stays failed when teardown also errs); a
        # skip counts only when nothing else was said (a skip in setup means no call).
        current = record["outcome"]
        if phase is not None and (current is None or _RANK[phase] > _RANK[current]):
            record["outcome"] = phase
            record["when"] = report.when
            if report.longrepr is not None and phase != "passed":
                record["longrepr"] = str(report.longrepr)[-LONGREPR_LIMIT:]
                # What the test printed and logged: a child process's error, a loop's
                # logged exception, often says more than the assertion does.
                sections = "".join(f"--- {n} ---\n{c}\n" for n, c in report.sections)
                record["output"] = sections[-OUTPUT_LIMIT:]
        for name, value in report.user_properties:
            if name == "glcompat_loops":
                record["loops"] = value
        if report.when == "teardown":
            self.pending.pop(report.nodeid, None)
            record["outcome"] = record["outcome"] or "passed"
            with open(self.path, "a", encoding="utf-8") as out:
                out.write(json.dumps(record) + "\n")


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_teardown(item: pytest.Item) -> Generator[None, object, object]:
    """After a failed setup or body, collect garbage once the test is fully torn down.

    The outermost wrapper: the fixtures are finalized and pytest's setup state has let go of
    the failure by the time ``yield`` returns, so the failed test's cycles are unreachable.
    What their collection reports (a ``ResourceWarning`` from ``__del__``) is then checked at
    once, as pytest checks it after each phase, and so belongs to this test's teardown.
    """
    try:
        return (yield)
    finally:
        if item.nodeid in _failed:
            _failed.discard(item.nodeid)
            gc.collect()
            if _collect_unraisable is not None:
                _collect_unraisable(item.config)


def pytest_configure(config: pytest.Config) -> None:
    if not glcompat_boot.mode:
        raise pytest.UsageError(
            "glcompat_plugin: the start-up hook is not active (compat/boot must be on "
            "PYTHONPATH and GLCOMPAT_LOOP set): run the suite through compat/run.py"
        )
    worker = hasattr(config, "workerinput")  # an xdist worker: the controller writes results
    config.pluginmanager.register(
        Recorder(None if worker else os.environ.get(RESULTS_VAR)), "glcompat_recorder"
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Deselect the excluded tests, on both loops, as the conformance harness does.

    Not running them (rather than running and ignoring them) keeps their side effects, a
    connector or a process they leak on their way out, out of the tests that follow.  They
    are recorded with the outcome "excluded", so the report still lists them.
    """
    path = os.environ.get(EXCLUDE_VAR)
    if not path:
        return
    with open(path, encoding="utf-8") as src:
        spec = json.load(src)
    patterns = [re.compile(p) for p in spec["patterns"]]
    if not patterns:
        return
    keep: list[pytest.Item] = []
    dropped: list[pytest.Item] = []
    for item in items:
        key = f"{spec['suite']}::{item.nodeid}"
        (dropped if any(p.match(key) for p in patterns) else keep).append(item)
    if not dropped:
        return
    config.hook.pytest_deselected(items=dropped)
    items[:] = keep
    # Under xdist each worker collects (and deselects) everything: each writes the records,
    # and the reader keeps one per id.
    results = os.environ.get(RESULTS_VAR)
    if results:
        with open(results, "a", encoding="utf-8") as out:
            for item in dropped:
                record = {"id": item.nodeid, "outcome": "excluded", "loops": [0, 0]}
                out.write(json.dumps(record) + "\n")


def pytest_sessionfinish(session: pytest.Session) -> None:
    glcompat_boot.write_counts()
