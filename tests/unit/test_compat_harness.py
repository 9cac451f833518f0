"""Tests of the compat harness (compat/) itself: offline, a few seconds, no framework suite.

What must hold for its report to mean anything: in a glassloop run every way a suite makes a
loop gives a glassloop loop, and the counts say so; the per-test records fold pytest's phases
into the four columns correctly; the diff finds exactly the tests that pass on asyncio and
not on glassloop, minus exclusions.  Child processes stand in for a suite's processes, since
the start-up hook is only ever active in a fresh interpreter.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "compat"))

from glcompat import baseline, exclusions, report, results  # noqa: E402
from glcompat.runner import BOOT, load_run, pytest_command  # noqa: E402
from glcompat.suites import SUITES  # noqa: E402


def _env(tmp_path: Path, loop: str, extra_path: Path | None = None) -> dict[str, str]:
    env = dict(os.environ)
    paths = [str(BOOT), str(REPO / "src")] + ([str(extra_path)] if extra_path else [])
    env.update(
        PYTHONPATH=os.pathsep.join(paths),
        GLCOMPAT_LOOP=loop,
        GLCOMPAT_COUNTS=str(tmp_path / "counts"),
        GLCOMPAT_RESULTS=str(tmp_path / "results.jsonl"),
        GLCOMPAT_REPO=str(REPO),
        # Hermetic child pytest runs: only the plugins named with -p (an installed
        # glassloop's own pytest11 entry point may not match the src/ put first above).
        PYTEST_DISABLE_PLUGIN_AUTOLOAD="1",
    )
    return env


# A stand-in for uvicorn.config: its LOOP_FACTORIES name asyncio's SelectorEventLoop.
FAKE_UVICORN_CONFIG = """
LOOP_FACTORIES = {"none": None, "asyncio": "fake:asyncio", "auto": "fake:auto", "x": "y:z"}
"""

LOOP_KINDS = """
import asyncio, importlib, json, sys

def kind(loop):
    name = type(loop).__module__.split(".")[0]
    loop.close()
    return name

async def running():
    return type(asyncio.get_running_loop()).__module__.split(".")[0]

out = {
    "new_event_loop": kind(asyncio.new_event_loop()),
    "policy_reset": (asyncio.set_event_loop_policy(None), kind(asyncio.new_event_loop()))[1],
    "run": asyncio.run(running()),
    "explicit_selector": kind(asyncio.SelectorEventLoop()),
}
with asyncio.Runner() as runner:
    out["runner"] = runner.run(running())
config = importlib.import_module("uvicorn.config")
setup = config.LOOP_FACTORIES["asyncio"]
module, _, attr = setup.partition(":")
if module == "glcompat_boot":
    factory = getattr(importlib.import_module(module), attr)(use_subprocess=False)
    out["uvicorn_asyncio"] = kind(factory())
else:
    out["uvicorn_asyncio"] = setup
out["uvicorn_auto"] = config.LOOP_FACTORIES["auto"] == setup
out["uvicorn_other"] = config.LOOP_FACTORIES["x"]
print(json.dumps(out))
"""


def _run_loop_kinds(tmp_path: Path, loop: str) -> tuple[dict[str, object], dict[str, int]]:
    fake = tmp_path / "fake"
    (fake / "uvicorn").mkdir(parents=True)
    (fake / "uvicorn" / "__init__.py").write_text("")
    (fake / "uvicorn" / "config.py").write_text(FAKE_UVICORN_CONFIG)
    proc = subprocess.run(
        [sys.executable, "-c", LOOP_KINDS],
        env=_env(tmp_path, loop, fake),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    counts, processes = results.read_counts(tmp_path / "counts")
    assert processes == 1
    return json.loads(proc.stdout), counts


def test_glassloop_run_makes_every_new_loop_glassloop_and_counts_them(tmp_path: Path) -> None:
    kinds, counts = _run_loop_kinds(tmp_path, "glassloop")
    assert kinds == {
        "new_event_loop": "glassloop",
        "policy_reset": "glassloop",  # set_event_loop_policy(None) does not undo it
        "run": "glassloop",
        "runner": "glassloop",
        "explicit_selector": "asyncio",  # naming asyncio's class is left alone...
        "uvicorn_asyncio": "glassloop",
        "uvicorn_auto": True,
        "uvicorn_other": "y:z",
    }
    # ...and counted, so the report shows it.
    assert counts == {"glassloop": 5, "asyncio": 1}


def test_asyncio_run_only_counts(tmp_path: Path) -> None:
    kinds, counts = _run_loop_kinds(tmp_path, "asyncio")
    assert {k: v for k, v in kinds.items() if k.startswith(("new", "run", "policy"))} == {
        "new_event_loop": "asyncio",
        "policy_reset": "asyncio",
        "run": "asyncio",
        "runner": "asyncio",
    }
    assert kinds["uvicorn_asyncio"] == "fake:asyncio" and kinds["uvicorn_auto"] is False
    assert counts == {"glassloop": 0, "asyncio": 5}


def test_hook_is_inert_without_the_variable(tmp_path: Path) -> None:
    env = _env(tmp_path, "")
    code = "import asyncio; l = asyncio.new_event_loop(); print(type(l).__module__); l.close()"
    proc = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
    )
    assert proc.stdout.strip().startswith("asyncio"), proc.stderr
    assert not (tmp_path / "counts").exists()


SUITE = """
import asyncio, pytest

def test_pass():
    asyncio.run(asyncio.sleep(0))

def test_fail():
    loop = asyncio.new_event_loop()
    loop.close()
    assert type(loop).__name__ == "SelectorEventLoop"

@pytest.fixture
def broken():
    raise RuntimeError("setup broke")

def test_error(broken):
    pass

def test_prints_then_fails():
    print("said something")
    assert 0

@pytest.fixture
def broken_teardown():
    yield
    raise RuntimeError("teardown broke")

def test_teardown_error(broken_teardown):
    pass

def test_fail_and_teardown_error(broken_teardown):
    assert 0

def test_skip():
    pytest.skip("no")

@pytest.mark.xfail(strict=True)
def test_xfail():
    assert 0

@pytest.mark.xfail(strict=True)
def test_xpass_strict():
    pass

@pytest.mark.parametrize("x", [1, 2])
def test_param(x):
    asyncio.SelectorEventLoop().close()
"""


def test_plugin_writes_one_record_per_test_with_the_worst_phase(tmp_path: Path) -> None:
    (tmp_path / "test_fake.py").write_text(SUITE)
    matcher = exclusions.Matcher(
        exclusions.parse('[[exclude]]\ntest = "fw::test_fake.py::test_param[2]"\nreason = "r"\n'),
        (3, 11),
    )
    (tmp_path / "exclude.json").write_text(
        json.dumps({"suite": "fw", "patterns": matcher.regexes("fw")})
    )
    env = {**_env(tmp_path, "glassloop"), "GLCOMPAT_EXCLUDE": str(tmp_path / "exclude.json")}
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "glcompat_plugin", "-p", "no:cacheprovider",
         "-q", "test_fake.py"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 1, proc.stdout + proc.stderr
    got = results.read_results(tmp_path / "results.jsonl")
    outcomes = {k.split("::", 1)[1]: v.outcome for k, v in got.items()}
    assert outcomes == {
        "test_pass": "passed",
        "test_fail": "failed",
        "test_error": "error",
        "test_prints_then_fails": "failed",
        "test_teardown_error": "error",
        "test_fail_and_teardown_error": "failed",
        "test_skip": "skipped",
        "test_xfail": "skipped",
        "test_xpass_strict": "failed",
        "test_param[1]": "passed",
        "test_param[2]": "excluded",  # deselected: never ran
    }
    assert got["test_fake.py::test_error"].when == "setup"
    assert "setup broke" in got["test_fake.py::test_error"].longrepr
    assert "said something" in got["test_fake.py::test_prints_then_fails"].output
    assert got["test_fake.py::test_pass"].loops == (1, 0)
    assert got["test_fake.py::test_param[1]"].loops == (0, 1)
    counts, _ = results.read_counts(tmp_path / "counts")
    assert counts == {"glassloop": 2, "asyncio": 1}


def test_plugin_refuses_to_run_without_the_start_up_hook(tmp_path: Path) -> None:
    (tmp_path / "test_fake.py").write_text("def test_x():\n    pass\n")
    env = _env(tmp_path, "")
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "glcompat_plugin", "-q", "test_fake.py"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 4, proc.stdout + proc.stderr  # pytest's usage error
    assert "start-up hook is not active" in proc.stderr


def _run(loop: str, outcomes: dict[str, str]) -> results.LoopRun:
    run = results.LoopRun(suite="fw", loop=loop)
    run.tests = {
        k: results.TestResult(k, v, "call", longrepr=f"E   Boom: {k}") for k, v in outcomes.items()
    }
    return run


def test_compare_lists_regressions_exclusions_and_gains() -> None:
    reference = _run(
        "asyncio",
        {"t.py::a": "passed", "t.py::b[x]": "passed", "t.py::c": "passed", "t.py::d": "failed",
         "t.py::e": "passed", "t.py::f": "skipped", "t.py::g": "passed", "t.py::h": "excluded"},
    )  # fmt: skip
    glassloop = _run(
        "glassloop",
        {"t.py::a": "passed", "t.py::b[x]": "failed", "t.py::c": "error", "t.py::d": "passed",
         "t.py::f": "skipped", "t.py::g": "skipped", "t.py::new": "passed", "t.py::h": "excluded"},
    )  # fmt: skip
    entries = exclusions.parse(
        '[[exclude]]\ntest = "fw::t.py::b[x]"\nreason = "asserts the loop class"\n'
        '[[exclude]]\ntest = "fw::t.py::zz*"\nreason = "stale"\n'
        '[[exclude]]\ntest = "other::t.py::c"\nreason = "another suite"\n'
        '[[exclude]]\ntest = "fw::t.py::h"\nreason = "deselected"\n'
    )
    matcher = exclusions.Matcher(entries, (3, 11))
    comp = results.compare("fw", reference, glassloop, matcher)
    assert [(d.id, d.glassloop) for d in comp.regressions] == [
        ("t.py::c", "error"),
        ("t.py::e", "not run"),
        ("t.py::g", "skipped"),
    ]
    assert [(d.id, d.reason) for d in comp.excluded] == [
        ("t.py::b[x]", "asserts the loop class"),
        ("t.py::h", "deselected"),
    ]
    assert matcher.regexes("fw")[0] == r"fw::t\.py::b\[x\]\Z"
    assert [d.id for d in comp.gains] == ["t.py::d", "t.py::new"]
    assert [e.pattern for e in matcher.stale({"fw"})] == ["fw::t.py::zz*"]
    text = report.format_comparison(comp, glassloop, tracebacks=False)
    assert "- `t.py::c` (error in call): Boom: t.py::c" in text
    assert "not run" in text and "asserts the loop class" in text


def test_regressions_that_pass_when_rerun_alone_are_listed_not_counted() -> None:
    reference = _run("asyncio", {"t.py::a": "passed", "t.py::b": "passed", "t.py::c": "passed"})
    glassloop = _run("glassloop", {"t.py::a": "failed", "t.py::b": "failed", "t.py::c": "error"})
    comp = results.compare("fw", reference, glassloop, None)
    rerun = _run("glassloop", {"t.py::a": "passed", "t.py::b": "failed"})  # c did not run
    results.confirm(comp, rerun)
    assert [d.id for d in comp.regressions] == ["t.py::b", "t.py::c"]
    assert [d.id for d in comp.unconfirmed] == ["t.py::a"]
    text = report.format_comparison(comp, glassloop, tracebacks=False)
    assert "passed when rerun alone" in text and "`t.py::a`" in text


def test_exclusion_brackets_are_literal() -> None:
    assert exclusions.matches("fw::t.py::b[x]", "fw", "t.py::b[x]")
    assert not exclusions.matches("fw::t.py::b[xy]", "fw", "t.py::bx")
    assert exclusions.matches("fw::t.py::b[*]", "fw", "t.py::b[x-y]")
    assert not exclusions.matches("fw::t.py::b", "fw", "t.py::b[x]")


def test_shipped_exclusions_parse_and_name_known_suites() -> None:
    entries = exclusions.load()
    assert entries
    for entry in entries:
        assert entry.pattern.split("::", 1)[0] in SUITES, entry.pattern


def test_exclusions_need_a_suite_prefix(tmp_path: Path) -> None:
    path = tmp_path / "x.toml"
    path.write_text('[[exclude]]\ntest = "tests/t.py::a"\nreason = "r"\n')
    with pytest.raises(exclusions.ExclusionError):
        exclusions.load(path)


def test_pytest_command_keeps_the_suite_config_and_adds_the_plugin(tmp_path: Path) -> None:
    cmd = pytest_command(SUITES["uvicorn"], tmp_path, jobs=1, keyword="ws", extra=[])
    assert cmd[0] == str(tmp_path / "bin" / "pytest")  # not -m pytest: see pytest_command
    assert cmd[1:5] == ["-p", "glcompat_plugin", "-p", "no:cacheprovider"]
    assert "-n 8" not in " ".join(cmd) and "no:xdist" in cmd
    assert cmd[-3:] == ["-k", "ws", "tests"]
    cmd = pytest_command(SUITES["anyio"], tmp_path, jobs=2, keyword=None, extra=[])
    assert "-o" not in cmd and cmd[-3:] == ["-n", "2", "tests"]


def test_report_table_and_error_line() -> None:
    run = _run("glassloop", {"t.py::a": "passed", "t.py::b": "failed"})
    run.loop_counts = {"glassloop": 3, "asyncio": 0}
    run.seconds = 12.4
    table = report.format_table([run], {"fw": "1.0"})
    assert "| fw 1.0 | glassloop | 1      | 1      | 0     | 0       | 0        | 3 " in table
    diff = results.Difference("t.py::b", "passed", "failed", run.tests["t.py::b"])
    assert report.error_summary(diff) == "Boom: t.py::b"
    tb = textwrap.dedent("""\
        def test():
        >   x()
        E   ValueError: Invalid file descriptor: -1
        E   more
        """)
    diff.result = results.TestResult("t.py::b", "failed", longrepr=tb)
    assert report.error_summary(diff) == "ValueError: Invalid file descriptor: -1"


def test_glassloop_frame_and_grouping() -> None:
    tb = textwrap.dedent("""\
        ../../../src/glassloop/loop.py:674: in remove_reader
            self._ensure_fd_no_transport(fd)
        ../../../src/glassloop/loop.py:110: in _fileobj_to_fd
            raise ValueError(f"Invalid file descriptor: {fd}")
        E   ValueError: Invalid file descriptor: -1
        """)
    assert report.glassloop_frame(tb) == "glassloop/loop.py:110 (_fileobj_to_fd)"
    native = 'File "/x/src/glassloop/io/tls.py", line 42, in feed\n'
    assert report.glassloop_frame(native) == "glassloop/io/tls.py:42 (feed)"
    assert report.glassloop_frame("E   nothing here") is None
    comp = results.Comparison("fw")
    for n in (1, 2):
        result = results.TestResult(f"t.py::x{n}", "failed", longrepr=tb.replace("-1", f"-{n}"))
        comp.regressions.append(results.Difference(result.id, "passed", "failed", result))
    assert "- 2 x `ValueError: Invalid file descriptor: -N` at glassloop/loop.py:110" in (
        report.format_groups(comp)
    )


def test_load_run_reads_a_finished_run_folder(tmp_path: Path) -> None:
    suite = SUITES["anyio"]
    assert load_run(suite, "glassloop", tmp_path) is None  # never finished: nothing to report
    (tmp_path / "run.json").write_text('{"seconds": 12.5, "exit_code": 1, "timed_out": false}')
    (tmp_path / "results.jsonl").write_text(
        '{"id": "t.py::a", "outcome": "failed", "loops": [2, 0]}\n{"id": "t.py::b", "outc'
    )  # the second line was cut short by a kill: skipped
    (tmp_path / "counts").mkdir()
    (tmp_path / "counts" / "1.json").write_text('{"glassloop": 2, "asyncio": 0}')
    (tmp_path / "counts" / "2.json").write_text('{"glassloop": 1, "asyncio": 1}')
    (tmp_path / "pytest.log").write_text("x\n1 failed\n")
    run = load_run(suite, "glassloop", tmp_path)
    assert run is not None
    assert (run.seconds, run.exit_code, run.timed_out) == (12.5, 1, False)
    assert list(run.tests) == ["t.py::a"] and run.tests["t.py::a"].loops == (2, 0)
    assert (run.loop_counts, run.processes) == ({"glassloop": 3, "asyncio": 1}, 2)
    assert report.format_broken(run) is None


def test_error_line_of_an_exception_group() -> None:
    tb = "  | ExceptionGroup: many (2)\n    | ResourceWarning: subprocess 1 is still running\n"
    tb += "  +---\n"
    result = results.TestResult("t.py::a", "failed", longrepr=tb)
    diff = results.Difference("t.py::a", "passed", "failed", result)
    assert report.error_summary(diff) == "ResourceWarning: subprocess 1 is still running"


LEAKY_SUITE = """
import gc, warnings
import pytest

class Leaky:
    '''Left in a cycle by a failing fixture, as anyio's unbound IPv6 socket is.'''
    def __init__(self):
        self.me = self
    def __del__(self):
        warnings.warn("unclosed leaky", ResourceWarning)

@pytest.fixture
def leaks():
    thing = Leaky()
    raise OSError("bind failed")
    yield thing

def test_leaks(leaks):
    pass

def test_next():
    gc.collect()  # any later test in which the collector runs
"""


def test_a_failed_test_collects_its_garbage_before_the_next_test(tmp_path: Path) -> None:
    """The ResourceWarning of a failing test's leak is charged to it, not to a later test."""
    (tmp_path / "test_fake.py").write_text(LEAKY_SUITE)
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "glcompat_plugin", "-p", "no:cacheprovider",
         "-W", "error", "-q", "test_fake.py"],
        cwd=tmp_path, env=_env(tmp_path, "asyncio"), capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip
    got = results.read_results(tmp_path / "results.jsonl")
    assert got["test_fake.py::test_leaks"].outcome == "error", proc.stdout
    assert got["test_fake.py::test_next"].outcome == "passed", proc.stdout
    assert "ERROR at teardown of test_leaks" in proc.stdout, proc.stdout
    assert "unclosed leaky" in proc.stdout.split("ERROR at teardown of test_leaks")[1]


def _finished_run(folder: Path, outcomes: dict[str, str], seconds: float = 3.0) -> None:
    folder.mkdir(parents=True)
    (folder / "run.json").write_text(
        json.dumps({"seconds": seconds, "exit_code": 1, "timed_out": False})
    )
    (folder / "results.jsonl").write_text(
        "".join(json.dumps({"id": k, "outcome": v}) + "\n" for k, v in outcomes.items())
    )
    (folder / "pytest.log").write_text("done\n")


def test_baseline_round_trip_and_refusals(tmp_path: Path) -> None:
    run = _run("asyncio", {"t.py::b": "passed", "t.py::a": "failed"})
    run.seconds, run.loop_counts, run.processes = 7.25, {"glassloop": 0, "asyncio": 4}, 2
    path = baseline.path_for("fw", "1.0", "3.11", tmp_path)
    assert path.name == "fw-1.0-py3.11.json"
    assert baseline.load(path, "fw", "1.0", "3.11") is None  # none stored yet
    baseline.write(run, "1.0", "3.11", path)
    assert path.read_text().splitlines()[1:3] == ['  "t.py::a": "failed",', '  "t.py::b": "passed"']
    got = baseline.load(path, "fw", "1.0", "3.11")
    assert got is not None and got.baseline and got.loop == "asyncio"
    assert {k: v.outcome for k, v in got.tests.items()} == {
        "t.py::a": "failed",
        "t.py::b": "passed",
    }
    assert (got.seconds, got.loop_counts, got.processes) == (7.2, run.loop_counts, 2)
    with pytest.raises(ValueError, match=r"not the baseline of fw 2\.0"):
        baseline.load(path, "fw", "2.0", "3.11")  # another version's file is never used
    with pytest.raises(ValueError, match="live asyncio run"):
        baseline.write(_run("glassloop", {"t.py::a": "passed"}), "1.0", "3.11", path)
    with pytest.raises(ValueError, match="live asyncio run"):
        baseline.write(got, "1.0", "3.11", path)
    with pytest.raises(ValueError, match="did not finish"):
        baseline.write(_run("asyncio", {}), "1.0", "3.11", path)


def test_a_baseline_regression_counts_only_if_asyncio_passes_it_live() -> None:
    ref = _run("asyncio", {"t.py::a": "passed", "t.py::b": "passed", "t.py::c": "passed"})
    ref.baseline = "2026-12-01"
    comp = results.compare("fw", ref, _run("glassloop", dict.fromkeys(ref.tests, "failed")), None)
    live = _run("asyncio", {"t.py::a": "passed", "t.py::b": "failed"})  # c: not run
    results.confirm_reference(comp, live)
    assert [d.id for d in comp.regressions] == ["t.py::a"]
    assert [(d.id, d.reference) for d in comp.reference_fails] == [
        ("t.py::b", "passed in the baseline, failed now"),
        ("t.py::c", "passed in the baseline, not run now"),
    ]
    text = report.format_comparison(comp, _run("glassloop", {}), tracebacks=False)
    assert "fail on glassloop and on asyncio when rerun alone here (2, not counted)" in text
    assert "| asyncio (baseline 2026-12-01) |" in report.format_table([ref], {"fw": "1"})


def test_cli_compares_a_glassloop_run_with_the_stored_baseline(tmp_path: Path) -> None:
    from glcompat import cli

    suite = SUITES["uvicorn"]
    cache, stored = tmp_path / "cache", tmp_path / "baseline"
    _finished_run(
        cache / "runs" / "uvicorn-py3.11-asyncio",
        {"t.py::a": "passed", "t.py::b": "passed", "t.py::c": "failed"},
    )
    argv = ["--suites", "uvicorn", "--cache", str(cache), "--baseline-dir", str(stored), "--no-run"]
    assert cli.main([*argv, "--loops", "asyncio", "--write-baseline"]) == 0
    assert baseline.path_for("uvicorn", suite.version, "3.11", stored).exists()
    _finished_run(
        cache / "runs" / "uvicorn-py3.11-glassloop",
        {"t.py::a": "passed", "t.py::b": "error", "t.py::c": "passed"},
    )
    (cache / "runs" / "uvicorn-py3.11-asyncio" / "run.json").unlink()  # only the file is left
    out = tmp_path / "report.md"
    assert cli.main([*argv, "--baseline", "--out", str(out)]) == 1
    text = out.read_text()
    assert "### uvicorn: pass on asyncio, not on glassloop (1)" in text
    assert "- `t.py::b` (error" in text
    assert "`t.py::c` (asyncio: failed)" in text  # a gain, noted
    assert "compat: 1 regression(s) in uvicorn 1" in text
    assert cli.main([*argv, "--write-baseline", "-k", "x"]) == 2  # a part is never a baseline
