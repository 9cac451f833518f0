"""Which frameworks' suites the harness runs, at which version, and what each needs.

A suite is data: where its tests come from (always the framework's sdist, at a pinned
version), how the framework itself is installed, which of its declared test requirements we
install, and the pytest options that stand in for its CI's.  Everything a suite needs that is
not the framework's own choice is a named, commented decision here, so a reader of the report
can see exactly how far the run is from "their suite, unchanged".

Requirements we drop, for every suite:

- ``uvloop``: each suite parametrizes some tests with it (aiohttp's ``uvloop_loop`` fixture,
  anyio's ``asyncio+uvloop`` backend, uvicorn's ``loop="auto"``).  Those tests exercise
  uvloop in both runs, never the loop under test, and would double the run time; without
  uvloop they skip on both sides (and uvicorn's "auto" falls back to asyncio's loop, which
  the glassloop run redirects).
- coverage, linters, type checkers, doc and release tools: not tests, and coverage's tracer
  would slow every run down for nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

#: How a requirement list is declared in the sdist: a pip requirements file, a PEP 735
#: dependency group, or an optional-dependencies extra of pyproject.toml.
RequirementSource = tuple[Literal["file", "group", "extra"], str]


@dataclass(frozen=True)
class Suite:
    """One framework's own test suite, as the harness fetches, installs and runs it."""

    name: str
    #: PyPI distribution name and the pinned version whose sdist holds the tests.
    dist: str
    version: str
    #: "sdist": pip install the unpacked sdist; "wheel": install the same version's wheel from
    #: PyPI (the tests still come from the sdist).
    install: Literal["sdist", "wheel"]
    #: The sdist's own test requirement declarations, read at install time.
    requirements: tuple[RequirementSource, ...] = ()
    #: Requirement names (normalized) not installed, each with why.
    drop: dict[str, str] = field(default_factory=dict)
    #: Names of COMMON_DROP that this suite needs after all, each with why.
    keep: dict[str, str] = field(default_factory=dict)
    #: Extra requirements the harness itself needs in the suite's venv.
    add: tuple[str, ...] = ()
    #: Replaces the suite's ini ``addopts`` when not None (their CI's -n/--cov options).
    addopts: str | None = None
    #: pytest arguments after the options (paths, -m), relative to the unpacked sdist.
    args: tuple[str, ...] = ("tests",)
    #: Per-test timeout in seconds passed to pytest-timeout; None keeps the suite's own.
    timeout: int | None = 60
    #: Wall-clock limit for one run of the whole suite on one loop.
    run_timeout: int = 1800


#: Not tests: dropped from every suite's requirements (see the module docstring).
COMMON_DROP: dict[str, str] = {
    "uvloop": "its tests exercise uvloop on both runs, not the loop under test",
    "winloop": "Windows only",
    "coverage": "coverage tracing only slows the runs",
    "pytest-cov": "coverage tracing only slows the runs",
    "coverage-conditional-plugin": "coverage only",
    "coverage-enable-subprocess": "coverage only",
    "mypy": "type checker, not a test",
    "ruff": "linter, not a test",
    "twine": "release tool",
}

#: Installed in every suite's venv: the harness's per-test timeout and --jobs.
HARNESS_REQUIREMENTS = ("pytest-timeout", "pytest-xdist")

SUITES: dict[str, Suite] = {
    suite.name: suite
    for suite in (
        Suite(
            name="aiohttp",
            dist="aiohttp",
            version="3.14.5",
            # Building from the sdist compiles the C parser and writer (minutes of gcc on a
            # shared 2-core machine); the wheel of the same version is the same code.
            install="wheel",
            # requirements/test.txt is aiohttp's own lock file for its CI test job.
            requirements=(("file", "requirements/test.txt"),),
            drop={
                # Used only by the autobahn job, which this run deselects (-m below).
                "python-on-whales": "docker client for the autobahn tests, deselected",
            },
            keep={
                # Installed, never activated (no --cov): pytest.ini's filterwarnings names
                # coverage.exceptions.CoverageWarning, and pytest refuses to start without it.
                "coverage": "pytest.ini's filterwarnings imports coverage.exceptions",
            },
            # pytest.ini's addopts minus xdist (--numprocesses=auto), coverage (--cov*),
            # --showlocals/--durations (noise) and --doctest-modules (tests/ has no doctests
            # that use a loop); the marker selection is aiohttp's default CI one.
            addopts="--strict-markers -ra",
            args=("-m", "not dev_mode and not autobahn and not internal", "tests"),
            timeout=60,
        ),
        Suite(
            name="uvicorn",
            dist="uvicorn",
            version="0.54.0",  # the newest on PyPI here (issue 10 says 0.55)
            install="sdist",
            # uvicorn[standard] minus uvloop, through the extra's own list (see drops).
            requirements=(("extra", "standard"), ("group", "dev")),
            drop={
                "types-click": "type stubs",
                "types-pyyaml": "type stubs",
                "uvicorn": "the group names uvicorn[standard] itself: installed from the sdist",
            },
            # pyproject's addopts minus "-n 8" (xdist; --jobs chooses).
            addopts="-rxXs --strict-config --strict-markers",
            timeout=60,
        ),
        Suite(
            name="anyio",
            dist="anyio",
            version="4.16.0",
            install="sdist",
            requirements=(("group", "test"),),
            # anyio's addopts load its own plugins (-p anyio, -p timeout): kept as they are.
            addopts=None,
            timeout=None,  # its own 20 s
        ),
    )
}
