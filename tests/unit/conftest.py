"""One test body, three loops: glassloop, asyncio and uvloop.

A test that takes the ``loop`` (or ``loop_factory``) fixture runs once per loop,
with ids ``[glassloop]``, ``[asyncio]`` and ``[uvloop]``.  asyncio is the
reference; uvloop is a second opinion on what is contract and what is accident.
So a behaviour difference shows up as a failing ``[glassloop]`` case next to
passing ones, not as a guess.

Where uvloop (or asyncio itself on some Python) legitimately differs, the test
says so with ``@pytest.mark.skip_loop("uvloop", reason="...")`` (optionally
``condition=sys.version_info >= (3, 13)``); the reason is
part of the record of what the contract is.  ``GLASSLOOP_IGNORE_SKIP_LOOP=1``
runs those cases anyway, to check that each recorded difference is still real.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

LOOP_NAMES = ("glassloop", "asyncio", "uvloop")

#: A hung loop must not eat the whole CI budget; real cases take milliseconds.
UNIT_TEST_TIMEOUT = 20

LoopFactory = Callable[[], asyncio.AbstractEventLoop]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "skip_loop(name, reason, condition=True): skip this test on the loop called "
        "name (glassloop, asyncio or uvloop), when condition holds, because that "
        "loop legitimately differs",
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # This hook sees every collected item, conformance ones too: only ours.
    here = Path(__file__).parent
    for item in items:
        if here in item.path.parents and item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(UNIT_TEST_TIMEOUT))


def _factory_for(name: str) -> LoopFactory:
    if name == "asyncio":
        # Not asyncio.new_event_loop(): that follows the installed policy, and
        # a test that installs glassloop must not turn the reference into it.
        return asyncio.SelectorEventLoop
    if name == "uvloop":
        try:
            import uvloop
        except ImportError as exc:  # uvloop has no wheel for some interpreters
            pytest.skip(f"uvloop is not importable here: {exc}")
        return uvloop.new_event_loop
    try:
        import glassloop
    except ImportError as exc:
        pytest.fail(f"glassloop does not import: {exc!r}")
    factory: Any = getattr(glassloop, "new_event_loop", None)
    if factory is None:
        pytest.fail("glassloop.new_event_loop does not exist yet")
    return factory  # type: ignore[no-any-return]


@pytest.fixture(params=LOOP_NAMES)
def loop_name(request: pytest.FixtureRequest) -> str:
    """The name of the loop under test, after honouring ``skip_loop`` marks."""
    name: str = request.param
    if os.environ.get("GLASSLOOP_IGNORE_SKIP_LOOP"):
        return name  # to check that every recorded difference is still real
    for mark in request.node.iter_markers("skip_loop"):
        if mark.args and mark.args[0] == name and mark.kwargs.get("condition", True):
            pytest.skip(f"{name} differs: {mark.kwargs.get('reason', 'no reason given')}")
    return name


@pytest.fixture
def loop_factory(loop_name: str) -> LoopFactory:
    """A callable making a fresh loop of the kind under test."""
    return _factory_for(loop_name)


@pytest.fixture
def loop(loop_factory: LoopFactory) -> Iterator[asyncio.AbstractEventLoop]:
    """A fresh loop, closed afterwards; it is never set as the current loop.

    Tests reach it through the loop's own methods or, inside coroutines,
    ``asyncio.get_running_loop()``, which is what real code does.
    """
    with _collector_sees_only_this_test():
        lp = loop_factory()
        try:
            yield lp
        finally:
            if not lp.is_closed() and not lp.is_running():
                _drain(lp)
                lp.close()
            # Pending-task and unclosed-resource warnings belong to this test.
            gc.collect()


@contextlib.contextmanager
def _collector_sees_only_this_test() -> Iterator[None]:
    """Freeze what is alive before the test, so the teardown's ``gc.collect()`` is cheap.

    A full collection walks every tracked object: in the whole suite's run that is
    every test module, framework and pytest item (~150,000 objects, ~0.1 s a
    collect on our CI machine), paid by each of the ~1,200 tests that take ``loop``:
    more than half the suite's time.  ``gc.freeze()`` moves what is alive now out of
    the collector's sight, so the teardown's collect walks only what the test made,
    and that is where a leaked loop, transport or task is.  ``gc.unfreeze()``
    afterwards gives the collector the whole heap back.

    A frozen object is also invisible to ``gc.get_referrers`` and ``gc.get_objects``
    (the orphaned-await lint and the "who holds this error" tests ask them), so
    while frozen those two thaw the heap first: they see every object, as without
    the freeze, and that test's teardown collect is then a full one.
    """
    get_referrers, get_objects = gc.get_referrers, gc.get_objects

    def thawed(ask: Callable[..., list[Any]]) -> Callable[..., list[Any]]:
        def asking(*args: Any, **kwargs: Any) -> list[Any]:
            gc.unfreeze()
            return ask(*args, **kwargs)

        return asking

    gc.freeze()
    gc.get_referrers, gc.get_objects = thawed(get_referrers), thawed(get_objects)
    try:
        yield
    finally:
        gc.get_referrers, gc.get_objects = get_referrers, get_objects
        gc.unfreeze()


def _drain(lp: asyncio.AbstractEventLoop) -> None:
    """Cancel what a failing test left behind so it cannot leak into the next one."""
    try:
        pending = [t for t in asyncio.all_tasks(lp) if not t.done()]
        for task in pending:
            task.cancel()
        if pending:
            lp.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        lp.run_until_complete(lp.shutdown_asyncgens())
    except Exception:  # the test already failed; its own error is the useful one
        pass
