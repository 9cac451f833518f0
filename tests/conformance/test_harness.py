"""Tests of the conformance harness itself, not of glassloop.

They use the harness's asyncio-based reference target (``glconformance.baseline``) and tiny
fake unittest modules written to ``tmp_path``, so they pass whatever state glassloop is in
and never import CPython's ``test.test_asyncio`` modules.  The few that start child
processes keep their modules to a handful of millisecond tests.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import types
import unittest
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from glconformance import child, exclusions, outcomes, parent, report, specs

RUN = Path(__file__).resolve().parent / "run.py"
BASELINE = "glconformance.baseline"


# -- exclusions ---------------------------------------------------------------------------


def test_exclusions_parse_and_match_with_wildcards_and_versions() -> None:
    entries = exclusions.parse(
        textwrap.dedent(
            """
            [[exclude]]
            test = "test_tasks.*.test_task_repr"
            reason = "compares repr built from Task._fut_waiter"

            [[exclude]]
            test = "test.test_asyncio.test_locks.LockTests.test_repr"
            reason = "reads Lock._waiters"
            python = ">=3.12,<3.14"
            """
        )
    )
    on_311 = exclusions.Matcher(entries, (3, 11))
    on_312 = exclusions.Matcher(entries, (3, 12))
    task_id = "test.test_asyncio.test_tasks.GlassloopTask_CFuture_Tests.test_task_repr"
    assert on_311.reason_for(task_id) == "compares repr built from Task._fut_waiter"
    assert on_311.reason_for("test_tasks.X.test_task_repr_coro") is None  # no prefix match
    assert on_311.reason_for("test_locks.LockTests.test_repr") is None  # not on 3.11
    assert on_312.reason_for("test_locks.LockTests.test_repr") == "reads Lock._waiters"
    # The 3.12 entry never matched on 3.11 and isn't in force there: not stale.
    assert on_311.stale(["test_locks", "test_tasks"]) == []
    on_312.reason_for(task_id)
    assert on_312.stale(["test_tasks"]) == []
    assert [e.pattern for e in exclusions.Matcher(entries, (3, 12)).stale(["test_tasks"])] == [
        "test_tasks.*.test_task_repr"
    ]


@pytest.mark.parametrize(
    "body",
    [
        '[[exclude]]\ntest = "test_tasks.A.test_b"\n',  # no reason
        '[[exclude]]\nreason = "r"\n',  # no test
        '[[exclude]]\ntest = "t.A.b"\nreason = "r"\npython = "py3"\n',  # bad constraint
        '[[exclude]]\ntest = "t.A.b"\nreason = "r"\nwhy = "typo"\n',  # unknown key
        "exclude = 3\n",
        "[[exclude]\n",  # not TOML
    ],
)
def test_malformed_exclusions_are_rejected(body: str) -> None:
    with pytest.raises(exclusions.ExclusionError):
        exclusions.parse(body)


def test_version_constraints() -> None:
    assert exclusions.version_matches("3.12", (3, 12))
    assert not exclusions.version_matches("3.12", (3, 13))
    assert exclusions.version_matches(">=3.12", (3, 13))
    assert exclusions.version_matches(">3.11, <3.13", (3, 12))
    assert not exclusions.version_matches(">3.11, <3.13", (3, 13))


def test_repository_exclusion_list_is_valid() -> None:
    for entry in exclusions.load():
        assert entry.reason


# -- counting and verdict -------------------------------------------------------------------


def test_is_counted_needs_a_target_loop_or_a_target_task_in_a_task_class() -> None:
    assert outcomes.is_counted(1, 0, None)
    assert outcomes.is_counted(1, 0, "loop")
    assert outcomes.is_counted(0, 3, "task")
    assert not outcomes.is_counted(0, 3, "loop")
    assert not outcomes.is_counted(0, 3, None)
    assert not outcomes.is_counted(0, 0, "task")


def _result(status: outcomes.Status, counted: bool = True) -> outcomes.CaseResult:
    return outcomes.CaseResult(id=f"m.C.test_{status}", status=status, counted=counted)


def test_tally_and_percentages() -> None:
    results = [
        _result("passed"),
        _result("xfail"),
        _result("failed"),
        _result("error"),
        _result("timeout"),
        _result("crashed"),
        _result("lost"),
        _result("xpass"),
        _result("skipped"),
        _result("passed", counted=False),
        _result("failed", counted=False),
    ]
    counts = report.tally(results, excluded=2)
    assert (counts.passed, counts.failed, counts.skipped, counts.not_counted) == (2, 6, 1, 2)
    assert counts.pass_pct == pytest.approx(25.0)
    assert counts.excluded_pct == pytest.approx(20.0)  # 2 of 2 + 6 + 2


def _run_with(results: list[outcomes.CaseResult], excluded: int = 0) -> parent.ModuleRun:
    run = parent.ModuleRun("m")
    run.results = {r.id + str(i): r for i, r in enumerate(results)}
    run.excluded = [{"id": f"m.C.x{i}", "reason": "r"} for i in range(excluded)]
    return run


def _verdict(run: parent.ModuleRun, **limits: float) -> report.Verdict:
    _, total = report.format_table([run])
    return report.judge(
        [run],
        total,
        min_pass=limits.get("min_pass", 97.0),
        max_excluded=limits.get("max_excluded", 5.0),
    )


def test_thresholds_decide_the_exit_code() -> None:
    good = _run_with([_result("passed")] * 97 + [_result("failed")] * 3)
    assert _verdict(good).exit_code == 0
    bad = _run_with([_result("passed")] * 96 + [_result("failed")] * 4)
    assert _verdict(bad).exit_code == 1
    assert _verdict(bad, min_pass=95.0).exit_code == 0
    excluded = _run_with([_result("passed")] * 90, excluded=10)
    assert _verdict(excluded).exit_code == 1
    assert _verdict(excluded, max_excluded=10.0).exit_code == 0


def test_nothing_counted_or_a_broken_module_fails() -> None:
    assert _verdict(_run_with([_result("passed", counted=False)])).exit_code == 1
    broken = _run_with([_result("passed")] * 10)
    broken.fatal = "ImportError: no module"
    assert _verdict(broken).exit_code == 1


def test_summary_line_is_the_plain_ci_form() -> None:
    total = report.tally([_result("passed"), _result("failed"), _result("skipped")])
    assert report.summary_line(total) == "conformance: 1 passed, 1 failed, 1 skipped"


# -- specs and class building -----------------------------------------------------------------


def test_spec_json_round_trip_and_version_selection(monkeypatch: pytest.MonkeyPatch) -> None:
    for spec in specs.MODULES:
        assert specs.ModuleSpec.from_json(spec.to_json()) == spec
    opt_in = specs.ModuleSpec("test_opt_in_only", default=False)
    monkeypatch.setattr(specs, "MODULES", (*specs.MODULES, opt_in))
    on_311, missing = specs.select([], include_opt_in=False, version=(3, 11))
    names = [s.name for s in on_311]
    assert "test_tasks" in names and "test_events" in names
    assert "test_opt_in_only" not in names
    assert "test_eager_task_factory" not in names
    with_opt_in, _ = specs.select([], include_opt_in=True, version=(3, 11))
    assert "test_opt_in_only" in {s.name for s in with_opt_in}
    on_312, _ = specs.select([], include_opt_in=True, version=(3, 12))
    assert {"test_eager_task_factory", "test_events"} <= {s.name for s in on_312}
    _, missing = specs.select(["test_eager_task_factory"], include_opt_in=False, version=(3, 11))
    assert [s.name for s in missing] == ["test_eager_task_factory"]
    assert specs.find("test.test_asyncio.test_tasks").name == "test_tasks"
    assert specs.find("pkg.mod").module_path == "pkg.mod"
    with pytest.raises(KeyError):
        specs.find("test_nonexistent")


def _fake_modules() -> tuple[types.ModuleType, types.ModuleType]:
    """A per-loop test module shaped like test_sock_lowlevel, and a target."""
    module = types.ModuleType("fake_loops")

    class Mixin:
        def create_event_loop(self) -> object:
            raise NotImplementedError

        def test_uses_loop(self) -> None:
            pass

    class SelectorTests(Mixin, unittest.TestCase):
        def create_event_loop(self) -> object:
            return "asyncio loop"

    class Unrelated(unittest.TestCase):
        def test_other(self) -> None:
            pass

    for cls in (Mixin, SelectorTests, Unrelated):
        cls.__module__, cls.__qualname__ = module.__name__, cls.__name__
        setattr(module, cls.__name__, cls)
    module.unittest = unittest  # type: ignore[attr-defined]
    target = types.ModuleType("fake_target")
    target.new_event_loop = lambda: "target loop"  # type: ignore[attr-defined]

    class Task:
        def __init__(self, coro: object, *, loop: object) -> None:
            self.coro, self.loop = coro, loop

    target.Task = Task  # type: ignore[attr-defined]
    return module, target


def test_build_classes_adds_a_target_loop_class_and_drops_asyncios() -> None:
    module, target = _fake_modules()
    spec = specs.ModuleSpec(
        "fake_loops",
        import_name="fake_loops",
        classes=(
            specs.loop_class("GlassloopLoopTests", "Mixin", "unittest.TestCase"),
            specs.task_class(
                "GlassloopTaskTests",
                "Mixin",
                "unittest.TestCase",
                attrs=(("new_task", "task_factory:target.Task"), ("F", "value:asyncio.Future")),
            ),
            specs.task_class(
                "GlassloopNewerTests", "Mixin", "unittest.TestCase", min_python=(99, 0)
            ),
        ),
    )
    kinds, dropped, notes = child.build_classes(module, spec, target, (3, 12))
    assert kinds == {"GlassloopLoopTests": "loop", "GlassloopTaskTests": "task"}
    assert dropped == {module.SelectorTests}
    assert notes == []
    generated = module.GlassloopLoopTests("test_uses_loop")
    assert generated.create_event_loop() == "target loop"
    assert generated.id() == "fake_loops.GlassloopLoopTests.test_uses_loop"
    task_case = module.GlassloopTaskTests("test_uses_loop")
    task_case.loop = "L"
    assert task_case.new_task("coro").loop == "L"
    import asyncio

    assert task_case.F is asyncio.Future
    ids = [t.id() for t in child.collect_tests(module, dropped)]
    assert "fake_loops.SelectorTests.test_uses_loop" not in ids
    assert "fake_loops.Unrelated.test_other" in ids


def test_build_classes_skips_task_classes_when_the_target_has_no_task() -> None:
    module, target = _fake_modules()
    del target.Task
    spec = specs.ModuleSpec("fake_loops", classes=(specs.task_class("GlassloopT", "Mixin"),))
    kinds, _, notes = child.build_classes(module, spec, target, (3, 12))
    assert kinds == {}
    assert notes == ["GlassloopT not built: target has no target.Task"]


def test_build_classes_reports_a_renamed_mixin() -> None:
    module, target = _fake_modules()
    spec = specs.ModuleSpec("fake_loops", classes=(specs.loop_class("G", "Gone", "Mixin"),))
    with pytest.raises(child.SpecError):
        child.build_classes(module, spec, target, (3, 12))


def test_crash_summary_puts_the_main_thread_last_innermost_last() -> None:
    stderr = textwrap.dedent(
        """\
        some test output
        Fatal Python error: Segmentation fault

        Thread 0x00007f01 (most recent call first):
          File "/x/glconformance/watchdog.py", line 99 in _watch
          File "/usr/lib/threading.py", line 1 in run

        Thread 0x00007f02 (most recent call first):
          File "/x/executor.py", line 5 in worker

        Current thread 0x00007f03 (most recent call first):
          File "/x/loop.py", line 10 in poll
          File "/x/test_mod.py", line 3 in test_it
          File "/x/run.py", line 20 in <module>

        Extension modules: _testcapi (total: 1)
        """
    )
    summary = parent.crash_summary(stderr).splitlines()
    assert summary[0] == "Fatal Python error: Segmentation fault"
    assert not any("watchdog" in line for line in summary)
    assert summary[-1].endswith("line 10 in poll")
    assert summary.index('  File "/x/executor.py", line 5 in worker') < summary.index(
        "Current thread 0x00007f03, the main thread (most recent call last):"
    )
    assert parent.crash_summary("just\nsome\nlines", lines=2) == "some\nlines"


# -- end to end, in child processes ---------------------------------------------------------

FAKE_TESTS = """
import asyncio, os, unittest

def use_loop():
    asyncio.new_event_loop().close()

def setUpModule():
    pass

def tearDownModule():
    asyncio.set_event_loop_policy(None)   # what every test_asyncio module does

class A(unittest.TestCase):
    def test_1_pass(self):
        use_loop()

    def test_2_fail(self):
        use_loop()
        print("diagnostic output")
        self.fail("boom")

    def test_3_not_counted(self):
        pass

    def test_4_excluded(self):
        use_loop()

    def test_5_skip(self):
        use_loop()
        self.skipTest("not here")

    @unittest.expectedFailure
    def test_6_xfail(self):
        use_loop()
        self.fail("expected")

    def test_7_subtests(self):
        use_loop()
        for i in range(3):
            with self.subTest(i=i):
                self.assertLess(i, 2)

    def test_8_after_policy_reset(self):
        asyncio.set_event_loop_policy(None)
        use_loop()

class B(unittest.TestCase):
    def test_1_hang(self):
        loop = asyncio.new_event_loop()
        try:
            loop.run_until_complete(asyncio.sleep(3600))
        finally:
            loop.close()

    def test_2_crash(self):
        use_loop()
        if os.environ.get("FAKE_CRASH"):
            os.abort()

    def test_3_after_crash(self):
        use_loop()
"""


@pytest.fixture
def fake_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    package = tmp_path / "fakeconf"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "mod.py").write_text(FAKE_TESTS)
    (tmp_path / "excluded.toml").write_text(
        '[[exclude]]\ntest = "fakeconf.mod.A.test_4_*"\nreason = "reads loop._ready"\n'
        '[[exclude]]\ntest = "fakeconf.mod.A.test_gone"\nreason = "stale entry"\n'
    )
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    return tmp_path


def _run_module(tmp: Path, **options: object) -> parent.ModuleRun:
    spec = specs.ModuleSpec("mod", import_name="fakeconf.mod")
    run_options = parent.RunOptions(
        target=BASELINE, exclusions=tmp / "excluded.toml", test_timeout=0.5, grace=0.5
    )
    for key, value in options.items():
        setattr(run_options, key, value)
    return parent.run_module(spec, run_options)


def test_child_counts_statuses_and_exclusions(fake_package: Path) -> None:
    run = _run_module(fake_package)
    assert run.fatal is None and run.crashes == []
    status = {
        k.removeprefix("fakeconf.mod."): (r.status, r.counted) for k, r in run.results.items()
    }
    assert status == {
        "A.test_1_pass": ("passed", True),
        "A.test_2_fail": ("failed", True),
        "A.test_3_not_counted": ("passed", False),
        "A.test_5_skip": ("skipped", True),
        "A.test_6_xfail": ("xfail", True),
        "A.test_7_subtests": ("failed", True),
        "A.test_8_after_policy_reset": ("passed", True),
        "B.test_1_hang": ("timeout", True),
        "B.test_2_crash": ("passed", True),
        "B.test_3_after_crash": ("passed", True),
    }
    assert run.excluded == [{"id": "fakeconf.mod.A.test_4_excluded", "reason": "reads loop._ready"}]
    failing = run.results["fakeconf.mod.A.test_2_fail"]
    assert "AssertionError: boom" in failing.detail
    assert failing.output == "diagnostic output\n"
    assert "ConformanceTimeout" in run.results["fakeconf.mod.B.test_1_hang"].detail
    assert run.info["redirect"] == "default policy -> glconformance.baseline.EventLoopPolicy"
    counts = report.tally_run(run)
    assert (counts.passed, counts.failed, counts.skipped, counts.excluded) == (5, 3, 1, 1)


def test_a_crashing_child_is_resumed_after_the_culprit(
    fake_package: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_CRASH", "1")
    run = _run_module(fake_package, keywords=["B.test_2", "B.test_3"])
    assert [r.status for r in run.results.values()] == ["crashed", "passed"]
    crashed = run.results["fakeconf.mod.B.test_2_crash"]
    assert crashed.counted and "SIGABRT" in crashed.detail
    assert crashed.detail.rstrip().endswith("in test_2_crash")
    assert run.restarts == 1 and len(run.crashes) == 1


def test_tests_left_when_giving_up_count_as_lost_failures(
    fake_package: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_CRASH", "1")
    run = _run_module(fake_package, keywords=["B.test_2", "B.test_3"], max_restarts=0)
    assert [r.status for r in run.results.values()] == ["crashed", "lost"]
    assert report.tally_run(run).failed == 2


def test_a_module_that_cannot_be_imported_is_reported_broken(fake_package: Path) -> None:
    spec = specs.ModuleSpec("nope", import_name="fakeconf.nope")
    run = parent.run_module(spec, parent.RunOptions(target=BASELINE))
    assert run.fatal is not None and "fakeconf.nope" in run.fatal
    assert run.results == {}


def test_cli_end_to_end_json_filters_and_exit_code(fake_package: Path) -> None:
    out = fake_package / "out.json"
    command = [
        sys.executable,
        str(RUN),
        "--target",
        BASELINE,
        "-m",
        "fakeconf.mod",
        "-k",
        "a.test_1",
        "-k",
        "A.TEST_2",
        "--exclusions",
        str(fake_package / "excluded.toml"),
        "--json",
        str(out),
        "--failures",
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1, done.stdout + done.stderr  # 50% pass < 97%
    assert "FAILED: fakeconf.mod.A.test_2_fail" in done.stdout
    assert done.stdout.rstrip().endswith("conformance: 1 passed, 1 failed, 0 skipped")
    data = json.loads(out.read_text())
    assert data["total"]["passed"] == 1 and data["ok"] is False
    assert report.failed_ids(out) == {"fakeconf.mod.A.test_2_fail"}
    again = subprocess.run(
        [
            *command[:2],
            "--target",
            BASELINE,
            "--only-failed",
            str(out),
            "--min-pass",
            "0",
            "-m",
            "fakeconf.mod",
            "--exclusions",
            str(fake_package / "excluded.toml"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert again.returncode == 0, again.stdout + again.stderr
    assert "conformance: 0 passed, 1 failed, 0 skipped" in again.stdout
