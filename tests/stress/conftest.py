"""The stress suite: load, faults and leaks, each body on glassloop, asyncio and uvloop.

Loopback only (127.0.0.1, ::1, Unix sockets in a temp dir); every wait is
bounded. Two sizes:

    pytest tests/stress                                   # small: what CI runs
    GLASSLOOP_STRESS_SIZE=full pytest tests/stress        # issue 3's numbers
    pytest tests/stress --stress-size=full --stress-loop=glassloop   # one loop
    python tests/stress/report.py --size full             # wall time, peak RSS

``--stress-size`` wins over ``GLASSLOOP_STRESS_SIZE``; the default is
``small`` (a couple of hundred connections, a few thousand cycles), sized to
take seconds per loop on a 2-core CI machine. ``full`` is 10 000 concurrent
connections, 100 000 connect/close cycles, 1 000 subprocesses and 100 000
thread-safe calls per thread, and takes minutes; see
``stress_support.SIZES`` for every number.

Like ``tests/unit``, a test that takes the ``loop`` fixture runs once per loop
(ids ``[glassloop]``, ``[asyncio]``, ``[uvloop]``), so a difference shows up
as one failing case beside passing ones. Tests that need many descriptors
raise the soft ``RLIMIT_NOFILE`` themselves and skip, saying why, if the hard
limit is too low for the size asked.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import resource
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from stress_support import (
    CLIENT_PEAK_RSS_KIB,
    LOOP_NAMES,
    SIZE_ENV,
    SIZES,
    HandlerCalls,
    LoopFactory,
    Size,
    loop_factory_for,
)

#: Where report.py asks for this run's numbers (peak RSS, outcomes) as JSON.
REPORT_ENV = "GLASSLOOP_STRESS_REPORT"
#: pytest-timeout's margin over a body's own asyncio.timeout, for set-up and teardown.
TIMEOUT_MARGIN = 30.0

_outcomes: dict[str, int] = {"passed": 0, "failed": 0, "skipped": 0}
#: Seconds each test's body took (its "call" phase), by node id.
_durations: dict[str, float] = {}


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--stress-size",
        choices=sorted(SIZES),
        default=None,
        help=f"stress suite size (default: ${SIZE_ENV}, else small)",
    )
    parser.addoption(
        "--stress-loop",
        action="append",
        choices=LOOP_NAMES,
        default=None,
        help="run the stress suite on this loop only (repeatable; default: all three)",
    )


def _size_name(config: pytest.Config) -> str:
    name: str | None = config.getoption("--stress-size")
    if name is None:
        name = os.environ.get(SIZE_ENV, "small") or "small"
    if name not in SIZES:
        raise pytest.UsageError(f"{SIZE_ENV}={name!r}: expected one of {', '.join(SIZES)}")
    return name


def pytest_configure(config: pytest.Config) -> None:
    _size_name(config)  # a bad size is a usage error before anything runs
    config.addinivalue_line(
        "markers",
        "skip_loop(name, reason): skip this stress test on the loop called name "
        "(glassloop, asyncio or uvloop) because that loop legitimately differs",
    )


def pytest_report_header(config: pytest.Config) -> str:
    return f"glassloop stress size: {_size_name(config)}"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    size = SIZES[_size_name(config)]
    only: list[str] | None = config.getoption("--stress-loop")
    here = Path(__file__).parent
    kept: list[pytest.Item] = []
    deselected: list[pytest.Item] = []
    for item in items:
        if here not in item.path.parents:
            kept.append(item)
            continue
        if item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(size.timeout + TIMEOUT_MARGIN))
        callspec = getattr(item, "callspec", None)
        loop_name = callspec.params.get("loop_name") if callspec is not None else None
        (deselected if only and loop_name not in only else kept).append(item)
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = kept


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when == "call":
        _durations[report.nodeid] = report.duration
    if report.when == "call" or (report.when == "setup" and not report.passed):
        key = "passed" if report.passed else "skipped" if report.skipped else "failed"
        _outcomes[key] += 1


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    path = os.environ.get(REPORT_ENV)
    if not path:
        return
    # ru_maxrss is in KiB on Linux. Not RUSAGE_CHILDREN: a forked child's
    # peak counts the parent pages it shared before exec.
    report = {
        "size": _size_name(session.config),
        "peak_rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        "client_peak_rss_kib": max(CLIENT_PEAK_RSS_KIB, default=None),
        "exitstatus": int(exitstatus),
        **_outcomes,
        "durations": _durations,
    }
    Path(path).write_text(json.dumps(report))


@pytest.fixture(scope="session")
def size(pytestconfig: pytest.Config) -> Size:
    """The size of this run (``--stress-size`` or ``$GLASSLOOP_STRESS_SIZE``)."""
    return SIZES[_size_name(pytestconfig)]


@pytest.fixture(params=LOOP_NAMES)
def loop_name(request: pytest.FixtureRequest) -> str:
    """The loop under test, after honouring ``skip_loop`` marks (as tests/unit)."""
    name: str = request.param
    if name == "uvloop":
        try:
            import uvloop  # noqa: F401
        except ImportError as exc:  # uvloop has no wheel for some interpreters
            pytest.skip(f"uvloop is not importable here: {exc}")
    if os.environ.get("GLASSLOOP_IGNORE_SKIP_LOOP"):
        return name  # to check that every recorded difference is still real
    for mark in request.node.iter_markers("skip_loop"):
        if mark.args and mark.args[0] == name:
            pytest.skip(f"{name} differs: {mark.kwargs.get('reason', 'no reason given')}")
    return name


@pytest.fixture
def loop(loop_name: str) -> Iterator[asyncio.AbstractEventLoop]:
    """A fresh loop of the kind under test, closed afterwards, never set as current."""
    factory: LoopFactory = loop_factory_for(loop_name)
    lp = factory()
    try:
        yield lp
    finally:
        if not lp.is_closed() and not lp.is_running():
            _drain(lp)
            lp.close()
        gc.collect()


def _drain(lp: asyncio.AbstractEventLoop) -> None:
    """Cancel what a failing test left behind, so it cannot leak into the next one."""
    try:
        pending = [t for t in asyncio.all_tasks(lp) if not t.done()]
        for task in pending:
            task.cancel()
        if pending:
            lp.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        lp.run_until_complete(lp.shutdown_asyncgens())
        lp.run_until_complete(lp.shutdown_default_executor())
    except Exception:  # the test already failed; its own error is the useful one
        pass


@pytest.fixture
def short_tmp() -> Iterator[Path]:
    """A fresh temp dir with a short path: Unix socket paths must fit in 108 bytes."""
    path = Path(tempfile.mkdtemp(prefix="glstress-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def handler_calls(loop: asyncio.AbstractEventLoop) -> HandlerCalls:
    """Record every exception-handler call on the loop under test (nothing is logged)."""
    calls = HandlerCalls()
    calls.install(loop)
    return calls
