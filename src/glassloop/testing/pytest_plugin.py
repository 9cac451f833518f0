"""glassloop's pytest plugin: the ``@pytest.mark.glassloop`` marker.

``@pytest.mark.glassloop`` runs an ``async def`` test on a fresh glassloop loop
(``glassloop.run``), and ``@pytest.mark.glassloop(virtual_time=True)`` runs it
under virtual time, where its sleeps and timeouts take no wall time
(``glassloop.testing.VirtualClock``; ``autojump_threshold=`` is passed on to
it).  The test's fixtures are ordinary (synchronous) pytest fixtures.

Installing glassloop registers the plugin (the ``pytest11`` entry point);
``pytest -p glassloop.testing.pytest_plugin`` loads it from a checkout.  It
acts only on tests that carry the marker, so pytest-asyncio's and anyio's
plugins keep the tests that carry theirs.

``@pytest.mark.glassloop(explore=200)`` runs the test under 200 schedules
asyncio can produce (``glassloop.testing.explore``; under virtual time unless
``virtual_time=False``; ``seed=``, ``strategy=``, ``depth=`` are passed on),
and a failure carries the line that replays it.  On the command line,
``--glassloop-explore N`` explores every test with the marker,
``--glassloop-seed S`` sets the seed and ``--glassloop-replay TOKEN`` replays
one schedule.  The test's fixtures are made once and shared by its runs.
"""

from __future__ import annotations

import inspect
from typing import Any

import pytest

#: The marker's keyword arguments, and what each must be.
_OPTIONS = ("virtual_time", "autojump_threshold", "debug")
#: The marker's exploration options.
_EXPLORE_OPTIONS = ("explore", "seed", "strategy", "depth")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("glassloop", "glassloop schedule exploration")
    group.addoption(
        "--glassloop-explore",
        type=int,
        metavar="N",
        help="run each @pytest.mark.glassloop test under N schedules asyncio can produce",
    )
    group.addoption(
        "--glassloop-seed", type=int, metavar="S", help="the seed of those explorations"
    )
    group.addoption(
        "--glassloop-replay",
        metavar="TOKEN",
        help="replay the schedule TOKEN (printed by a failing exploration) on the selected test",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "glassloop(virtual_time=False, autojump_threshold=None, debug=None, explore=None, "
        "seed=0, strategy='pct', depth=3): run this async def test on a glassloop loop, "
        "under virtual time if asked; explore=N tries N schedules asyncio can produce",
    )


def run_options(marker: pytest.Mark) -> dict[str, Any]:
    """``glassloop.run``'s keyword arguments for a marker; TypeError for anything else."""
    if marker.args:
        raise TypeError(
            f"@pytest.mark.glassloop takes keyword arguments only ({', '.join(_OPTIONS)}), "
            f"not {marker.args!r}"
        )
    unknown = sorted(set(marker.kwargs) - set(_OPTIONS) - set(_EXPLORE_OPTIONS))
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
    config = pyfuncitem.config
    token = config.getoption("glassloop_replay")
    runs = config.getoption("glassloop_explore") or marker.kwargs.get("explore")
    if token is not None or runs:
        _explore(pyfuncitem, marker, function, arguments, runs, token)
        return True

    import glassloop

    glassloop.run(function(**arguments), **options)
    return True


def _explore(
    item: pytest.Function,
    marker: pytest.Mark,
    function: Any,
    arguments: dict[str, Any],
    runs: Any,
    token: str | None,
) -> None:
    from .exploration import explore, replay

    def program() -> Any:
        return function(**arguments)

    if token is not None:
        replay(program, token)
        return
    if not isinstance(runs, int) or isinstance(runs, bool):
        raise TypeError(f"@pytest.mark.glassloop's explore must be an int, not {runs!r}")
    seed = item.config.getoption("glassloop_seed")
    if seed is None:
        seed = marker.kwargs.get("seed", 0)
    report = explore(
        program,
        runs=runs,
        seed=seed,
        strategy=marker.kwargs.get("strategy", "pct"),
        depth=marker.kwargs.get("depth", 3),
        virtual_time=marker.kwargs.get("virtual_time", True),
    )
    if not report.failed:
        return
    assert report.error is not None
    lines = [f"glassloop: failed after {report.runs} schedule(s) (seed {seed})"]
    if report.choices:
        lines.append("the choices that made the difference:")
        lines.extend(f"  - {choice}" for choice in report.choices)
    if report.nondeterminism:
        lines.append(f"warning: {report.nondeterminism}")
    lines.append(f"replay: pytest '{item.nodeid}' --glassloop-replay {report.token}")
    report.error.add_note("\n".join(lines))
    raise report.error
