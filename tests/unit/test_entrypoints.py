"""The ways users get glassloop to run their code: run, install, loop_factory, CLI.

These are the promises the README makes; each is checked the way a user would
use it, including in a fresh interpreter where import side effects matter.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import glassloop
from glassloop import cli

SRC = Path(__file__).resolve().parents[2] / "src"


def _python(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run a fresh interpreter that imports glassloop from this checkout."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SRC), env.get("PYTHONPATH")]))
    return subprocess.run(
        [sys.executable, *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
    )


@pytest.fixture
def default_policy() -> Iterator[None]:
    """Whatever a test installs, the next test starts from asyncio's own policy."""
    asyncio.set_event_loop_policy(None)
    try:
        yield
    finally:
        asyncio.set_event_loop_policy(None)


async def _loop_class() -> type[asyncio.AbstractEventLoop]:
    return type(asyncio.get_running_loop())


# -- library entry points -----------------------------------------------------------


def test_run_in_a_fresh_interpreter_prints_ok() -> None:
    code = "import glassloop, asyncio; print(glassloop.run(asyncio.sleep(0.01, 'ok')))"
    proc = _python("-c", code)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "ok\n"


def test_run_uses_a_glassloop_loop_and_closes_it(default_policy: None) -> None:
    loops: list[asyncio.AbstractEventLoop] = []

    async def main() -> str:
        loops.append(asyncio.get_running_loop())
        return "result"

    assert glassloop.run(main()) == "result"
    assert isinstance(loops[0], glassloop.Loop)
    assert loops[0].is_closed()


def test_run_propagates_exceptions(default_policy: None) -> None:
    async def main() -> None:
        raise LookupError("from main")

    with pytest.raises(LookupError, match="from main"):
        glassloop.run(main())


def test_run_debug_option_reaches_the_loop(default_policy: None) -> None:
    async def debug_flag() -> bool:
        return asyncio.get_running_loop().get_debug()

    assert glassloop.run(debug_flag(), debug=True) is True
    assert glassloop.run(debug_flag(), debug=False) is False


def test_new_event_loop_returns_a_fresh_loop() -> None:
    first, second = glassloop.new_event_loop(), glassloop.new_event_loop()
    try:
        assert isinstance(first, glassloop.Loop)
        assert isinstance(first, asyncio.AbstractEventLoop)
        assert first is not second
    finally:
        first.close()
        second.close()


def test_install_makes_asyncio_create_glassloop_loops(default_policy: None) -> None:
    glassloop.install()
    assert isinstance(asyncio.get_event_loop_policy(), glassloop.EventLoopPolicy)
    lp = asyncio.new_event_loop()
    try:
        assert isinstance(lp, glassloop.Loop)
    finally:
        lp.close()
    assert asyncio.run(_loop_class()) is glassloop.Loop


def test_without_install_asyncio_is_untouched(default_policy: None) -> None:
    assert asyncio.run(_loop_class()) is not glassloop.Loop


def test_runner_with_loop_factory() -> None:
    with asyncio.Runner(loop_factory=glassloop.new_event_loop) as runner:
        assert runner.run(_loop_class()) is glassloop.Loop


@pytest.mark.skipif(sys.version_info < (3, 12), reason="asyncio.run(loop_factory=) is new in 3.12")
def test_asyncio_run_with_loop_factory() -> None:
    result = asyncio.run(_loop_class(), loop_factory=glassloop.new_event_loop)  # type: ignore[call-arg]
    assert result is glassloop.Loop


# -- command line ------------------------------------------------------------------


PROBE = """\
import asyncio, json, sys

async def main():
    return type(asyncio.get_running_loop()).__name__

info = {"argv": sys.argv, "name": __name__, "loop": asyncio.run(main())}
with open(sys.argv[1], "w") as f:
    json.dump(info, f)
code = sys.argv[2] if len(sys.argv) > 2 else "0"
if code == "raise":
    raise ValueError("program failed")
sys.exit(int(code))
"""


@pytest.fixture
def probe(tmp_path: Path) -> Path:
    script = tmp_path / "probe.py"
    script.write_text(PROBE)
    return script


def _report(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def test_cli_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main(["--version"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("glassloop ")
    assert glassloop.__version__ in out


def test_cli_without_a_command_prints_help_and_fails(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main([]) == 2
    assert "run" in capsys.readouterr().err


def test_cli_run_script_on_glassloop_with_its_argv(
    probe: Path, tmp_path: Path, default_policy: None
) -> None:
    out = tmp_path / "out.json"
    assert cli.main(["run", str(probe), str(out), "0", "--their-flag"]) == 0
    report = _report(out)
    assert report == {
        "argv": [str(probe), str(out), "0", "--their-flag"],
        "name": "__main__",
        "loop": "Loop",
    }


def test_cli_run_returns_the_programs_exit_status(
    probe: Path, tmp_path: Path, default_policy: None
) -> None:
    assert cli.main(["run", str(probe), str(tmp_path / "out.json"), "3"]) == 3


def test_cli_run_reports_the_programs_exception(
    probe: Path, tmp_path: Path, default_policy: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["run", str(probe), str(tmp_path / "out.json"), "raise"]) == 1
    err = capsys.readouterr().err
    assert "ValueError: program failed" in err
    assert str(probe) in err


def test_cli_run_restores_argv_and_path(probe: Path, tmp_path: Path, default_policy: None) -> None:
    argv, path = sys.argv[:], sys.path[:]
    cli.main(["run", str(probe), str(tmp_path / "out.json")])
    assert sys.argv == argv
    assert sys.path == path


def test_cli_run_missing_script(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["run", "/nonexistent/script.py"]) == 2
    assert "/nonexistent/script.py" in capsys.readouterr().err


def test_cli_run_script_imports_its_sibling_modules(tmp_path: Path, default_policy: None) -> None:
    (tmp_path / "sibling_for_cli_test.py").write_text("VALUE = 'sibling'\n")
    out = tmp_path / "out.txt"
    (tmp_path / "main.py").write_text(
        textwrap.dedent(
            f"""\
            import sibling_for_cli_test
            open({str(out)!r}, "w").write(sibling_for_cli_test.VALUE)
            """
        )
    )
    assert cli.main(["run", str(tmp_path / "main.py")]) == 0
    assert out.read_text() == "sibling"
    sys.modules.pop("sibling_for_cli_test", None)


def test_cli_run_module(
    probe: Path, tmp_path: Path, default_policy: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "out.json"
    assert cli.main(["run", "-m", "probe", str(out), "0", "--x"]) == 0
    report = _report(out)
    assert report["loop"] == "Loop"
    assert report["name"] == "__main__"
    assert report["argv"][1:] == [str(out), "0", "--x"]
    assert Path(report["argv"][0]).resolve() == probe.resolve()


def test_cli_run_missing_module(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert cli.main(["run", "-m", "no_such_module_for_glassloop"]) == 1
    assert "no_such_module_for_glassloop" in capsys.readouterr().err


def test_python_dash_m_glassloop_runs_a_script(probe: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.json"
    proc = _python("-m", "glassloop", "run", str(probe), str(out), "4")
    assert proc.returncode == 4, proc.stderr
    assert _report(out)["loop"] == "Loop"


def test_python_dash_m_glassloop_help() -> None:
    proc = _python("-m", "glassloop", "--help")
    assert proc.returncode == 0
    assert "run" in proc.stdout
    assert proc.stdout.startswith("usage: glassloop")


# -- glassloop bench ----------------------------------------------------------------


def test_cli_bench_runs_the_suites_quick_mode(tmp_path: Path) -> None:
    """From another directory too: the suite is found beside the imported source."""
    out = tmp_path / "bench"
    proc = _python(
        "-m",
        "glassloop",
        "bench",
        *("--only", "call_soon_chain", "--loops", "glassloop", "--out", str(out)),
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    report = (out / "report.md").read_text()
    assert "Mode: **smoke**" in report  # the quick mode, without asking for it
    assert "call_soon chain" in report
    assert json.loads((out / "results.json").read_text())


def test_cli_bench_says_where_the_suite_is_when_it_is_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """An install without a checkout (a wheel, site-packages) has no benchmarks/."""
    installed = tmp_path / "site-packages" / "glassloop"
    installed.mkdir(parents=True)
    monkeypatch.setattr(cli, "__file__", str(installed / "cli.py"))
    monkeypatch.chdir(tmp_path)
    assert cli.main(["bench"]) == 2
    err = capsys.readouterr().err
    assert "benchmarks/run.py" in err and "clone of the repository" in err


def test_cli_bench_full_and_smoke_contradict(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main(["bench", "--full", "--smoke"])
    assert info.value.code == 2
    assert "contradict" in capsys.readouterr().err


def test_cli_only_bench_passes_unknown_options_on(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main(["serve", "--runs"])
    assert info.value.code == 2
    assert "unrecognized arguments: --runs" in capsys.readouterr().err
