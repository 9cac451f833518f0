"""glassloop's pytest plugin: the ``@pytest.mark.glassloop`` marker.

``@pytest.mark.glassloop`` runs an ``async def`` test on a fresh glassloop loop
(``glassloop.run``), and ``@pytest.mark.glassloop(virtual_time=True)`` runs it
under virtual time, where its sleeps and timeouts take no wall time
(``glassloop.testing.VirtualClock``; ``autojump_threshold=`` is passed on to
it).  The test's fixtures are ordinary (synchronous) pytest fixtures.

Installing glassloop registers the plugin (the ``pytest11`` entry point);
``pytest -p glassloop.testing.pytest_plugin`` loads it from a checkout.  It
acts only on tests that carry the marker, so pytest-asyncio's and anyio's
plugins keep the tests that carry theirs.  Schedule exploration
(``explore=``, issue 12) is not here yet.
"""

from __future__ import annotations

import inspect
from typing import Any

import pytest

#: The marker's keyword arguments, and what each must be.
_OPTIONS = ("virtual_time", "autojump_threshold", "debug")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "glassloop(virtual_time=False, autojump_threshold=None, debug=None): run this "
        "async def test on a glassloop loop, under virtual time if asked",
    )


def run_options(marker: pytest.Mark) -> dict[str, Any]:
    """``glassloop.run``'s keyword arguments for a marker; TypeError for anything else."""
    if marker.args:
        raise TypeError(
            f"@pytest.mark.glassloop takes keyword arguments only ({', '.join(_OPTIONS)}), "
            f"not {marker.args!r}"
        )
    unknown = sorted(set(marker.kwargs) - set(_OPTIONS))
    if unknown:
        raise TypeError(
            f"@pytest.mark.glassloop got unknown option(s) {', '.join(unknown)}; "
            f"it takes {', '.join(_OPTIONS)}"
        )
    virtual_time = marker.kwargs.get("virtual_time", False)
    if not isinstance(virtual_time, bool):
        raise TypeError(
            f"@pytest.mark.glassloop's virtual_time must be True or False, "
            f"not {type(virtual_time).__name__} (a clock serves one loop: use "
            f"autojump_threshold= for its options)"
        )
    options: dict[str, Any] = {"debug": marker.kwargs.get("debug")}
    threshold = marker.kwargs.get("autojump_threshold")
    if threshold is not None:
        if not virtual_time:
            raise TypeError("@pytest.mark.glassloop's autojump_threshold needs virtual_time=True")
        from .virtual_time import VirtualClock

        # A clock per run: a parametrized test runs once per loop.
        options["virtual_time"] = VirtualClock(autojump_threshold=threshold)
    else:
        options["virtual_time"] = virtual_time
    return options


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    marker = pyfuncitem.get_closest_marker("glassloop")
    if marker is None:
        return None  # someone else's test
    function = pyfuncitem.obj
    if not inspect.iscoroutinefunction(function):
        raise TypeError(f"@pytest.mark.glassloop runs async def tests; {pyfuncitem.name} is not")
    options = run_options(marker)
    funcargs = pyfuncitem.funcargs
    arguments = {name: funcargs[name] for name in pyfuncitem._fixtureinfo.argnames}

    import glassloop

    glassloop.run(function(**arguments), **options)
    return True
