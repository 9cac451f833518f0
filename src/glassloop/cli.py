"""The ``glassloop`` command line (also ``python -m glassloop``).

``glassloop run`` is the zero-edit way in: an existing asyncio program runs on
glassloop without changing a line, because the policy is installed before the
program's first ``asyncio.run`` or ``new_event_loop``.  Subcommands are kept
in one table so later ones (trace, explore) slot in beside it.
``glassloop serve`` imports its web frameworks only when it runs, so the rest
of the command line works without them.  ``glassloop bench`` runs the
benchmark suite of a source checkout (``benchmarks/``, not part of the
installed package) in its quick mode.
"""

from __future__ import annotations

import argparse
import os
import runpy
import subprocess
import sys
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import glassloop

DESCRIPTION = "glassloop: an asyncio event loop you can read, see inside, and steer."

RUN_USAGE = (
    "glassloop run [-h] [--trace OUT.json] [--detect-blocking SECONDS] [--inspect] "
    "(SCRIPT | -m MODULE) [ARGS ...]"
)
RUN_DESCRIPTION = """\
Run a Python program with glassloop installed as the asyncio event loop policy,
so every asyncio.run(), asyncio.new_event_loop() and get_event_loop() in it
uses a glassloop.Loop.  The program sees sys.argv as if started with
"python SCRIPT ARGS" (or "python -m MODULE ARGS").
"""
RUN_EPILOG = """\
examples:
  glassloop run examples/course_asyncio.py
  glassloop run server.py --port 8080
  glassloop run -m http_tool --verbose
  glassloop run --trace out.json --detect-blocking 0.1 server.py

--trace writes a Chrome/Perfetto trace (open it at https://ui.perfetto.dev)
when the program ends, also by an exception or Ctrl-C.  Without editing the
command line: GLASSLOOP_TRACE=out.json and GLASSLOOP_DETECT_BLOCKING=0.1 do the
same for any program whose loops glassloop makes (uvicorn's glassloop loop too).
"""


def version() -> str:
    """The installed distribution's version, else the package's own."""
    try:
        from importlib.metadata import PackageNotFoundError
        from importlib.metadata import version as dist_version

        return dist_version("glassloop")
    except PackageNotFoundError:  # running from a source tree without install
        return glassloop.__version__


class _PrintVersion(argparse.Action):
    """``--version``: one line, as is (argparse's own action wraps it at 80 columns)."""

    def __init__(self, option_strings: list[str], dest: str, **kwargs: Any) -> None:
        super().__init__(
            option_strings,
            dest,
            nargs=0,
            default=argparse.SUPPRESS,
            help="show the version and which build runs (compiled or pure), and exit",
        )

    def __call__(self, parser: argparse.ArgumentParser, *args: Any, **kwargs: Any) -> None:
        from .build import describe

        print(f"glassloop {version()}, build: {describe()}")
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="glassloop",
        description=DESCRIPTION,
        epilog='Run "glassloop COMMAND --help" for the options of one command.',
    )
    parser.add_argument("--version", action=_PrintVersion)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands")

    run = commands.add_parser(
        "run",
        help="run a script or module with glassloop as the asyncio loop",
        usage=RUN_USAGE,
        description=RUN_DESCRIPTION,
        epilog=RUN_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    # REMAINDER on both: everything after the script (or after -m MODULE) belongs
    # to the program, including options that look like ours, exactly as with
    # "python script.py --help".
    run.add_argument(
        "-m",
        dest="module",
        nargs=argparse.REMAINDER,
        metavar="MODULE",
        help="-m MODULE [ARGS ...]: run a library module as a script, like python -m",
    )
    _add_observe_options(run)
    run.add_argument("script", nargs="?", metavar="SCRIPT", help="path of the Python script to run")
    run.add_argument("args", nargs=argparse.REMAINDER, metavar="ARGS", help="passed to the program")
    run.set_defaults(handler=_cmd_run, command_parser=run)
    _add_serve_parser(commands)
    _add_bench_parser(commands)
    _add_explore_parsers(commands)
    view = commands.add_parser(
        "view",
        help="write a trace (from run --trace) as one self-contained HTML page",
        description="Write TRACE.json as one HTML page that works offline: a lane per "
        "task, zoom and pan, a click on a step shows where it stopped and what woke "
        "it, search by task name, the critical path of a task.",
    )
    view.add_argument(
        "trace", metavar="TRACE.json", help="a trace written by glassloop run --trace"
    )
    view.add_argument("-o", "--output", metavar="OUT.html", help="default: TRACE.html")
    view.set_defaults(handler=_cmd_view, command_parser=view)
    ps = commands.add_parser(
        "ps",
        help="print the task tree of a running glassloop process (run with --inspect)",
        description="Print every pending task of process PID, what it awaits and who "
        "awaits it.  The process must have allowed it: glassloop run --inspect, or "
        "GLASSLOOP_INSPECT=1; only the same user can ask.  It answers even while its "
        "loop is blocked.",
    )
    ps.add_argument("pid", type=int, metavar="PID")
    ps.set_defaults(handler=_cmd_ps, command_parser=ps)
    return parser


EXPLORE_EPILOG = """\
TARGET is FILE::FUNC, an async function taking no arguments, e.g.
  glassloop explore tests/races/corpus/stampede.py::bug --runs 500
Only schedules asyncio itself can produce are tried (see glassloop.testing.explore).
Exit status: 0 when no schedule failed, 1 when one did (its replay line is printed).
"""


def _add_explore_parsers(commands: Any) -> None:
    explore = commands.add_parser(
        "explore",
        help="run an async function under many schedules asyncio can produce",
        description="Run TARGET under up to N schedules that asyncio can produce "
        "(seeded), stop at the first that fails, shrink it and print how to replay it.",
        epilog=EXPLORE_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    explore.add_argument("target", metavar="FILE::FUNC")
    explore.add_argument("--runs", type=_positive_int, default=1000, metavar="N")
    explore.add_argument("--seed", type=int, default=0, metavar="S")
    explore.add_argument("--strategy", choices=("pct", "random", "bounded"), default="pct")
    explore.add_argument("--depth", type=_positive_int, default=3, metavar="D")
    explore.add_argument(
        "--deviations", type=int, default=2, metavar="K", help="bounded: the deviation bound"
    )
    explore.add_argument(
        "--real-time", action="store_true", help="the real clock instead of virtual time"
    )
    explore.add_argument(
        "--trace", metavar="OUT.json", help="write the failing run's Chrome/Perfetto trace"
    )
    explore.set_defaults(handler=_cmd_explore, command_parser=explore)
    replay = commands.add_parser(
        "replay",
        help="run an async function again under the schedule a token names",
        description="Replay the schedule TOKEN (printed by glassloop explore) on TARGET: "
        "exit 1 with the same traceback if it fails again.",
    )
    replay.add_argument("token", metavar="TOKEN")
    replay.add_argument("target", metavar="FILE::FUNC")
    replay.set_defaults(handler=_cmd_replay, command_parser=replay)


def load_target(parser: argparse.ArgumentParser, target: str) -> Callable[[], Any]:
    """FILE::FUNC, loaded as ``__main__`` is not: its module gets a name of its own."""
    import importlib.util
    import inspect

    path, sep, name = target.rpartition("::")
    if not sep or not path or not name:
        parser.error(f"TARGET must be FILE::FUNC, not {target!r}")
    file = Path(path)
    if not file.is_file():
        parser.error(f"no such file: {path}")
    module_name = f"_glassloop_target_{abs(hash(str(file.resolve())))}"
    spec = importlib.util.spec_from_file_location(module_name, file)
    if spec is None or spec.loader is None:
        parser.error(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    sys.path.insert(0, str(file.resolve().parent))
    spec.loader.exec_module(module)
    fn = getattr(module, name, None)
    if fn is None:
        parser.error(f"{path} has no {name!r}")
    if not inspect.iscoroutinefunction(fn):
        parser.error(f"{target} is not an async function (async def {name}(): ...)")
    result: Callable[[], Any] = fn
    return result


def _cmd_explore(parser: argparse.ArgumentParser, options: argparse.Namespace) -> int:
    import json

    from .testing import explore

    fn = load_target(parser, options.target)
    show = sys.stderr.isatty()

    def progress(done: int, total: int) -> None:
        if show and (done == total or done % max(1, total // 100) == 0):
            filled = done * 30 // total
            print(
                f"\r[{'#' * filled}{'.' * (30 - filled)}] {done}/{total}", end="", file=sys.stderr
            )

    report = explore(
        fn,
        runs=options.runs,
        seed=options.seed,
        strategy=options.strategy,
        depth=options.depth,
        deviations=options.deviations,
        virtual_time=not options.real_time,
        progress=progress,
        target=options.target,
    )
    if show:
        print(file=sys.stderr)
    print(report)
    if report.failed and options.trace and report.timeline is not None:
        Path(options.trace).write_text(json.dumps(report.timeline))
        print(f"trace of the failing run: {options.trace}")
    return 1 if report.failed else 0


def _cmd_replay(parser: argparse.ArgumentParser, options: argparse.Namespace) -> int:
    from .testing import replay

    fn = load_target(parser, options.target)
    try:
        replay(fn, options.token)
    except ValueError as exc:
        if "replay token" in str(exc):
            parser.error(str(exc))
        traceback.print_exc()
        return 1
    except Exception:
        traceback.print_exc()
        return 1
    print(f"{options.target} did not fail under {options.token}")
    return 0


def _cmd_ps(parser: argparse.ArgumentParser, options: argparse.Namespace) -> int:
    from .observe.inspect import ask

    try:
        answer = ask(options.pid)
    except (FileNotFoundError, ConnectionRefusedError):
        print(
            f"glassloop ps: process {options.pid} does not allow inspection "
            "(start it with glassloop run --inspect, or GLASSLOOP_INSPECT=1)",
            file=sys.stderr,
        )
        return 1
    except OSError as exc:
        print(f"glassloop ps: {exc}", file=sys.stderr)
        return 1
    sys.stdout.write(answer)
    return 1 if answer.startswith("error:") else 0


def _cmd_view(parser: argparse.ArgumentParser, options: argparse.Namespace) -> int:
    from .observe.viewer import write_html

    output = options.output or str(Path(options.trace).with_suffix(".html"))
    try:
        write_html(options.trace, output)
    except (OSError, ValueError) as exc:
        print(f"glassloop view: {exc}", file=sys.stderr)
        return 1
    print(f"glassloop view: wrote {output}", file=sys.stderr)
    return 0


SERVE_USAGE = (
    "glassloop serve [-h] [APP] [options] [--trace OUT.json] [--detect-blocking S] [--inspect]"
)
SERVE_DESCRIPTION = """\
Serve HTTP on a glassloop loop, in this process, until Ctrl-C.

With no APP: the course's "Async API" demo -- the FastAPI math API under
uvicorn (POST /add, /subtract, /multiply, /divide; docs at /docs) and the
aiohttp phrase service on a second port (GET / answers an upper-cased phrase
fetched from a fish-text style upstream; by default an embedded one on
loopback).  With APP ("module:attribute"): that ASGI app under uvicorn.
Port 0 picks any free port; the startup lines say where everything listens.
Ctrl-C lets requests in flight finish and exits with status 130 (SIGTERM: 0);
a second Ctrl-C stops without waiting for them.
"""
SERVE_EPILOG = """\
examples:
  glassloop serve
  curl -X POST localhost:8000/add -H 'content-type: application/json' \\
       -d '{"first_number": 2}'
  glassloop serve --port 9000 --phrases-port 9001 --upstream http://127.0.0.1:7000/get
  glassloop serve main:app --host 0.0.0.0
  glassloop serve myproject.asgi:create_app --factory --app-dir src

The same loop under uvicorn's own command line (uvicorn >= 0.36):
  uvicorn main:app --loop glassloop:uvicorn_loop_factory
"""


def _add_serve_parser(commands: Any) -> None:
    serve = commands.add_parser(
        "serve",
        help="serve the demo Async API (or any ASGI app) on glassloop",
        usage=SERVE_USAGE,
        description=SERVE_DESCRIPTION,
        epilog=SERVE_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    serve.add_argument(
        "app",
        nargs="?",
        metavar="APP",
        help='an ASGI app as "module:attribute" (default: the demo)',
    )
    where = serve.add_argument_group("where to listen")
    where.add_argument("--host", default="127.0.0.1", help="address to listen on (%(default)s)")
    where.add_argument(
        "--port", type=_port, default=8000, help="the API's (or APP's) port (%(default)s)"
    )
    where.add_argument(
        "--phrases-port",
        type=_port,
        default=8080,
        metavar="PORT",
        help="the phrase service's port (%(default)s)",
    )
    demo = serve.add_argument_group("the demo's phrase service")
    demo.add_argument(
        "--upstream",
        metavar="URL",
        help="a fish-text style phrase API, e.g. https://fish-text.ru/get "
        "(default: start an embedded one on loopback)",
    )
    demo.add_argument(
        "--upstream-timeout",
        type=_positive_float,
        default=5.0,
        metavar="SECONDS",
        help="answer 502 when the upstream takes longer (%(default)s)",
    )
    app = serve.add_argument_group("with APP")
    app.add_argument("--factory", action="store_true", help="APP is a factory returning the app")
    app.add_argument(
        "--app-dir", default=".", metavar="DIR", help="import APP from here (%(default)s)"
    )
    logs = serve.add_argument_group("logging")
    logs.add_argument(
        "--no-access-log", dest="access_log", action="store_false", help="don't log each request"
    )
    logs.add_argument(
        "--log-level",
        default="warning",
        choices=["critical", "error", "warning", "info", "debug", "trace"],
        help="uvicorn's own messages (%(default)s)",
    )
    _add_observe_options(serve.add_argument_group("seeing inside (as with glassloop run)"))
    serve.set_defaults(handler=_cmd_serve, command_parser=serve)


def _add_observe_options(group: Any) -> None:
    """--trace, --detect-blocking, --inspect: the same on run and serve."""
    group.add_argument(
        "--trace",
        metavar="OUT.json",
        help="record every glassloop loop and write a Chrome/Perfetto trace there at exit",
    )
    group.add_argument(
        "--detect-blocking",
        type=_positive_float,
        metavar="SECONDS",
        help="report (with the blocking line) any step or callback that holds the loop longer",
    )
    group.add_argument(
        "--inspect",
        action="store_true",
        help="let 'glassloop ps PID' (same user only) print the task tree",
    )


def _observed(options: argparse.Namespace, run: Callable[[], int]) -> int:
    """``run()`` with the observation the options ask for; the trace written however it ends."""
    if options.trace is None and options.detect_blocking is None and not options.inspect:
        return run()
    from .observe.env import configure, write_traces

    configure(trace=options.trace, detect_blocking=options.detect_blocking, inspect=options.inspect)
    try:
        return run()
    finally:
        if options.trace is not None:
            write_traces()


BENCH_USAGE = "glassloop bench [-h] [--full] [RUN_OPTIONS ...]"
BENCH_DESCRIPTION = """\
Run the benchmark suite (benchmarks/run.py in a source checkout) on glassloop,
asyncio, uvloop and rloop, side by side.  By default its quick mode (--smoke:
tiny sizes, one run, results in a temporary folder; seconds to a minute):
numbers to check that everything runs, not to compare.  --full is the real
run (about 20 minutes on 2 cores), written to benchmarks/results/.

Every other option goes to benchmarks/run.py as it is (--only, --runs,
--loops, --out, --list, ...; "python benchmarks/run.py --help" lists them).
The suite is not part of the installed package: run this from a clone of
the repository (or with the checkout's glassloop installed, from anywhere).
Without wrk the HTTP rows are skipped (benchmarks/setup.sh installs it).
"""
BENCH_EPILOG = """\
examples:
  glassloop bench                              # quick mode, every row
  glassloop bench --only sched --loops glassloop,asyncio
  glassloop bench --list
  glassloop bench --full                       # the full run (bash scripts/bench.sh
                                               # also installs the [bench] extra and wrk)
"""


def _add_bench_parser(commands: Any) -> None:
    bench = commands.add_parser(
        "bench",
        help="run the benchmark suite's quick mode (from a source checkout)",
        usage=BENCH_USAGE,
        description=BENCH_DESCRIPTION,
        epilog=BENCH_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        # run.py's options pass through unknown: none may be read as ours.
        allow_abbrev=False,
    )
    bench.add_argument(
        "--full", action="store_true", help="the full run instead of the quick (--smoke) mode"
    )
    bench.set_defaults(handler=_cmd_bench, command_parser=bench, passes_options_on=True)


def find_benchmarks() -> Path | None:
    """benchmarks/run.py of the checkout glassloop was imported from, else of the cwd.

    The suite lives beside ``src/`` in the repository and is not installed, so
    an editable install (or PYTHONPATH=src) finds it from its own source;
    any other install finds it only when run from a checkout.
    """
    here = Path(__file__).resolve().parent  # <checkout>/src/glassloop
    for root in (here.parent.parent, Path.cwd()):
        candidate = root / "benchmarks" / "run.py"
        if candidate.is_file():
            return candidate
    return None


def _cmd_bench(parser: argparse.ArgumentParser, options: argparse.Namespace) -> int:
    run_py = find_benchmarks()
    if run_py is None:
        print(
            "glassloop bench: the benchmark suite (benchmarks/run.py) is not here: it comes "
            "with the source repository, not the installed package.  Run this from a clone "
            "of the repository.",
            file=sys.stderr,
        )
        return 2
    extra: list[str] = list(options.extra)
    if not options.full and "--smoke" not in extra:
        extra.insert(0, "--smoke")
    elif options.full and "--smoke" in extra:
        parser.error("--full and --smoke contradict each other")
    try:
        return subprocess.call([sys.executable, str(run_py), *extra])
    except KeyboardInterrupt:  # the suite has stopped its children; no traceback
        return 130


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"port must be 0..65535 (0: any free port), got {port}")
    return port


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be more than 0, got {text}")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be more than 0, got {text}")
    return value


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``glassloop`` command; returns the process exit status."""
    parser = build_parser()
    options, extra = parser.parse_known_args(sys.argv[1:] if argv is None else argv)
    if extra and not getattr(options, "passes_options_on", False):
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    options.extra = extra
    handler: Callable[[argparse.ArgumentParser, argparse.Namespace], int] | None = getattr(
        options, "handler", None
    )
    if handler is None:
        parser.print_help(sys.stderr)
        return 2
    # Errors are reported with the subcommand's own usage line.
    return handler(options.command_parser, options)


def _cmd_run(parser: argparse.ArgumentParser, options: argparse.Namespace) -> int:
    return _observed(options, lambda: _run_program(parser, options))


def _run_program(parser: argparse.ArgumentParser, options: argparse.Namespace) -> int:
    module: list[str] | None = options.module
    if module is not None:
        if not module:
            parser.error("-m needs a module name")
        if options.script is not None:  # argparse cannot tell "-m x" from "x -m"
            parser.error("give a SCRIPT or -m MODULE, not both")
        return run_module(module[0], module[1:])
    if options.script is None:
        parser.error("give a SCRIPT to run (or -m MODULE)")
    script: str = options.script
    return run_script(script, list(options.args))


def _cmd_serve(parser: argparse.ArgumentParser, options: argparse.Namespace) -> int:
    try:
        from .apps import serve
    except ImportError as exc:  # the [demo] extra is not installed
        print(
            f"glassloop serve: {exc.name or exc} is not installed; "
            "install the demo's dependencies with: pip install 'glassloop[demo]'",
            file=sys.stderr,
        )
        return 1
    if options.app is None and options.factory:
        parser.error("--factory needs an APP")
    if options.app is not None and options.upstream is not None:
        parser.error("--upstream is for the demo; it means nothing with an APP")
    config = serve.ServeConfig(
        app=options.app,
        factory=options.factory,
        app_dir=options.app_dir,
        host=options.host,
        port=options.port,
        phrases_port=options.phrases_port,
        upstream=options.upstream,
        upstream_timeout=options.upstream_timeout,
        access_log=options.access_log,
        log_level=options.log_level,
    )

    def run() -> int:
        try:
            return serve.run(config, glassloop.new_event_loop)
        except KeyboardInterrupt:  # Ctrl-C before our handlers were in place
            return 130

    return _observed(options, run)


def run_script(path: str, args: Sequence[str]) -> int:
    """Run the file at ``path`` as ``__main__`` on glassloop, like ``python path args``."""
    if not os.path.exists(path):
        print(f"glassloop run: can't open file {path!r}: no such file", file=sys.stderr)
        return 2
    # "python dir/script.py" puts dir first on sys.path, so the script's
    # sibling modules import; do the same.
    script_dir = os.path.dirname(os.path.abspath(path))
    return _run_as_main(
        [path, *args], script_dir, lambda: runpy.run_path(path, run_name="__main__")
    )


def run_module(name: str, args: Sequence[str]) -> int:
    """Run module ``name`` as ``__main__`` on glassloop, like ``python -m name args``."""
    # argv[0] is replaced by the module's file path once runpy finds it.
    return _run_as_main(
        [name, *args],
        os.getcwd(),
        lambda: runpy.run_module(name, run_name="__main__", alter_sys=True),
    )


def _run_as_main(argv: list[str], path0: str, run: Callable[[], object]) -> int:
    glassloop.install()
    saved_argv, saved_path = sys.argv[:], sys.path[:]
    sys.argv = argv
    if sys.path:
        sys.path[0] = path0
    else:
        sys.path.insert(0, path0)
    try:
        run()
    except SystemExit as exc:
        return _exit_status(exc)
    except ImportError as exc:
        if exc.__traceback__ is not None and _only_runner_frames(exc.__traceback__):
            print(f"glassloop run: {exc}", file=sys.stderr)  # e.g. no module named x
            return 1
        _print_program_traceback(exc)
        return 1
    except Exception as exc:
        _print_program_traceback(exc)
        return 1
    finally:
        sys.argv, sys.path[:] = saved_argv, saved_path
    return 0


def _exit_status(exc: SystemExit) -> int:
    """Mirror the interpreter: None is 0, an int is itself, anything else is printed and 1."""
    code = exc.code
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return 1


_RUNNER_FILES = {os.path.abspath(__file__), os.path.abspath(runpy.__file__)}


def _is_runner_frame(tb: TracebackType) -> bool:
    filename = tb.tb_frame.f_code.co_filename
    return os.path.abspath(filename) in _RUNNER_FILES or filename.startswith("<frozen ")


def _only_runner_frames(tb: TracebackType | None) -> bool:
    while tb is not None:
        if not _is_runner_frame(tb):
            return False
        tb = tb.tb_next
    return True


def _print_program_traceback(exc: BaseException) -> None:
    """Print the traceback from the program's first frame on, as ``python`` would.

    The frames of this module and runpy say nothing about the user's bug.
    """
    tb = exc.__traceback__
    while tb is not None and _is_runner_frame(tb):
        tb = tb.tb_next
    traceback.print_exception(type(exc), exc, tb if tb is not None else exc.__traceback__)
