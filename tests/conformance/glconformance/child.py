"""Inside the child process: run one CPython test module against the target.

The parent starts one child per module (``run.py --child ...``), so that a module that hangs
or crashes the interpreter costs only itself.  The child:

1. imports the target, wraps its ``Loop``/``Task`` constructors to count them, points asyncio's
   default policy at it and checks that this took (``instrument``);
2. imports the test module, builds the spec's extra classes in it and drops the classes they
   replace (``build_classes``);
3. loads the tests, leaves out excluded, filtered and already-reported ones, and reports the
   plan;
4. runs them through ``unittest.TestSuite`` (so class and module fixtures behave as under
   regrtest), streaming one result per test, each under the ``Watchdog``.
"""

from __future__ import annotations

import argparse
import importlib
import io
import sys
import time
import traceback
import unittest
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from types import ModuleType, TracebackType
from typing import Any

from . import exclusions, instrument
from .outcomes import CaseResult, EventWriter, Status, is_counted
from .specs import ExtraClass, ModuleSpec, Version
from .watchdog import ConformanceTimeout, Watchdog

ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None]

#: Resources a CPython test may ask for (``support.requires('network')``).  Everything but
#: the ones this machine (and CI) can't offer: no internet, no display, no sound.
ENABLED_RESOURCES = ("cpu", "decimal", "largefile", "subprocess", "tzdata", "walltime")

#: Worst first: what a test that reported several outcomes (subtests, a failing tearDown) is.
_SEVERITY: tuple[Status, ...] = (
    "timeout",
    "error",
    "failed",
    "xpass",
    "skipped",
    "xfail",
    "passed",
)

#: Captured output kept per failing test; enough for a log excerpt, not a log.
_OUTPUT_LIMIT = 8000


class SpecError(RuntimeError):
    """A spec names something the test module doesn't have: CPython changed, update specs.py."""


def lookup(root: Any, dotted: str) -> Any:
    """``root.a.b.c`` for ``dotted = "a.b.c"``."""
    obj = root
    for part in dotted.split("."):
        obj = getattr(obj, part)
    return obj


def resolve(dotted: str, module: ModuleType, target: ModuleType) -> Any:
    """The object a recipe names: rooted at ``target``, ``module`` or an importable module."""
    head, _, rest = dotted.partition(".")
    if head == "target":
        root: Any = target
    elif head == "module":
        root = module
    else:
        root = importlib.import_module(head)
    return lookup(root, rest) if rest else root


def make_attribute(recipe: str, module: ModuleType, target: ModuleType) -> Any:
    """Turn an ``ExtraClass`` attribute recipe (``"how:dotted"``) into the class attribute."""
    how, _, dotted = recipe.partition(":")
    obj = resolve(dotted, module, target)
    if how == "value":
        return obj
    if how == "staticmethod":
        return staticmethod(obj)
    if how == "loop_factory":

        def make_loop(self: Any) -> Any:
            return obj()

        return make_loop
    if how == "task_factory":

        def make_task(self: Any, coro: Any) -> Any:
            return obj(coro, loop=self.loop)

        return make_task
    raise SpecError(f"unknown recipe kind {how!r} in {recipe!r}")


def _missing_target_names(extra: ExtraClass, target: ModuleType) -> list[str]:
    names = []
    for _, recipe in extra.attrs:
        dotted = recipe.partition(":")[2]
        if dotted.startswith("target."):
            try:
                lookup(target, dotted.removeprefix("target."))
            except AttributeError:
                names.append(dotted)
    return names


def build_classes(
    module: ModuleType, spec: ModuleSpec, target: ModuleType, version: Version
) -> tuple[dict[str, str], set[type], list[str]]:
    """Create the spec's extra classes in ``module``.

    Returns the kind of each generated class by name, the classes to leave out (asyncio's
    own per-loop classes), and notes for the report (classes skipped because the target
    lacks a name they need, e.g. a target without a ``Task``).
    """
    kinds: dict[str, str] = {}
    dropped: set[type] = set()
    notes: list[str] = []
    generated: list[type] = []
    for extra in spec.classes_for(version):
        missing = _missing_target_names(extra, target)
        if missing:
            notes.append(f"{extra.name} not built: target has no {', '.join(missing)}")
            continue
        try:
            bases = tuple(lookup(module, name) for name in extra.bases)
        except AttributeError as exc:
            raise SpecError(f"{spec.name}: base of {extra.name} not found: {exc}") from exc
        namespace: dict[str, Any] = {
            "__module__": module.__name__,
            "__qualname__": extra.name,
            "__doc__": f"Built by the glassloop conformance harness from {', '.join(extra.bases)}.",
        }
        for attr, recipe in extra.attrs:
            namespace[attr] = make_attribute(recipe, module, target)
        cls: type = type(extra.name, bases, namespace)
        if extra.decorator:
            cls = lookup(module, extra.decorator)(cls)
        setattr(module, extra.name, cls)
        kinds[extra.name] = extra.kind
        generated.append(cls)
        if extra.replaces:
            try:
                replaced = lookup(module, extra.replaces)
            except AttributeError as exc:
                raise SpecError(f"{spec.name}: {extra.replaces} not found: {exc}") from exc
            dropped.update(
                obj
                for obj in vars(module).values()
                if isinstance(obj, type)
                and issubclass(obj, replaced)
                and issubclass(obj, unittest.TestCase)
            )
    dropped.difference_update(generated)
    return kinds, dropped, notes


def collect_tests(module: ModuleType, dropped: set[type]) -> list[unittest.TestCase]:
    """The module's tests, in unittest's usual order, minus the dropped classes."""
    loader = unittest.TestLoader()
    tests: list[unittest.TestCase] = []
    for name in sorted(vars(module)):
        obj = getattr(module, name)
        if isinstance(obj, type) and issubclass(obj, unittest.TestCase) and obj not in dropped:
            tests.extend(_flatten(loader.loadTestsFromTestCase(obj)))
    return tests


def _flatten(suite: Iterable[Any]) -> Iterable[unittest.TestCase]:
    for item in suite:
        if isinstance(item, unittest.TestCase):
            yield item
        else:
            yield from _flatten(item)


def keyword_match(test_id: str, keywords: Sequence[str]) -> bool:
    """``-k``: case-insensitive substring of the short id; several keywords are OR-ed."""
    if not keywords:
        return True
    lowered = test_id.lower()
    return any(k.lower() in lowered for k in keywords)


class StreamingResult(unittest.TestResult):
    """A ``TestResult`` that reports each test as one ``result`` event when it stops.

    It also brackets every test with the watchdog, captures the test's stdout/stderr
    (kept only for tests that don't pass), and attributes target loops and Tasks created
    since the previous report to the test, so loops made in ``setUpClass`` count for the
    first test of the class.
    """

    def __init__(
        self,
        writer: EventWriter,
        counters: instrument.Counters,
        class_kinds: dict[str, str],
        watchdog: Watchdog | None,
    ) -> None:
        super().__init__()
        self._writer = writer
        self._counters = counters
        self._kinds = class_kinds
        self._watchdog = watchdog
        self._seen = (0, 0)
        self._status: list[Status] = []
        self._details: list[str] = []
        self._started = 0.0
        self._saved_streams: tuple[Any, Any] | None = None
        self._capture = io.StringIO()

    # -- bracketing ---------------------------------------------------------

    def startTest(self, test: unittest.TestCase) -> None:
        super().startTest(test)
        test_id = exclusions.short_id(test.id())
        self._status, self._details = [], []
        self._writer.emit("start", id=test_id)
        if self._watchdog is not None:
            self._watchdog.arm(test_id)
        self._capture = io.StringIO()
        self._saved_streams = (sys.stdout, sys.stderr)
        sys.stdout = sys.stderr = self._capture
        self._started = time.monotonic()

    def stopTest(self, test: unittest.TestCase) -> None:
        duration = time.monotonic() - self._started
        if self._saved_streams is not None:
            sys.stdout, sys.stderr = self._saved_streams
            self._saved_streams = None
        test_id = exclusions.short_id(test.id())
        if self._watchdog is not None:
            # Keep a deadline on what runs between tests: tearDownClass, the next setUpClass.
            self._watchdog.arm(f"fixtures after {test_id}")
        status = self._worst() or "passed"
        output = self._capture.getvalue() if status not in ("passed", "xfail") else ""
        loops, tasks = self._take_counts()
        kind = self._kinds.get(type(test).__name__)
        result = CaseResult(
            id=test_id,
            status=status,
            counted=is_counted(loops, tasks, kind),
            loops=loops,
            tasks=tasks,
            duration=round(duration, 4),
            detail="\n".join(self._details),
            output=output[-_OUTPUT_LIMIT:],
        )
        self._writer.emit("result", **result.to_dict())
        super().stopTest(test)

    def _take_counts(self) -> tuple[int, int]:
        now = (self._counters.loops, self._counters.tasks)
        loops, tasks = now[0] - self._seen[0], now[1] - self._seen[1]
        self._seen = now
        return loops, tasks

    def _worst(self) -> Status | None:
        for status in _SEVERITY:
            if status in self._status:
                return status
        return None

    def _record(self, status: Status, detail: str) -> None:
        self._status.append(status)
        if detail:
            self._details.append(detail)

    def _format(self, err: ExcInfo, test: unittest.TestCase) -> str:
        return self._exc_info_to_string(err, test)  # type: ignore[attr-defined,no-any-return]

    # -- outcomes -------------------------------------------------------------

    def addSuccess(self, test: unittest.TestCase) -> None:
        super().addSuccess(test)
        self._record("passed", "")

    def addFailure(self, test: unittest.TestCase, err: ExcInfo) -> None:
        super().addFailure(test, err)
        self._record("failed", self._format(err, test))

    def addError(self, test: Any, err: ExcInfo) -> None:
        super().addError(test, err)
        status: Status = "timeout" if issubclass(err[0], ConformanceTimeout) else "error"
        text = self._format(err, test)
        if isinstance(test, unittest.TestCase):
            self._record(status, text)
            return
        # A class or module fixture failed (unittest passes a stand-in "test" with no
        # startTest): report it on its own line, since the tests it guarded never run.
        loops, tasks = self._take_counts()
        fixture = CaseResult(
            id=exclusions.short_id(str(test.id())),
            status=status,
            counted=True,
            loops=loops,
            tasks=tasks,
            detail=text,
            kind="fixture",
        )
        self._writer.emit("result", **fixture.to_dict())

    def addSkip(self, test: unittest.TestCase, reason: str) -> None:
        super().addSkip(test, reason)
        self._record("skipped", reason)

    def addExpectedFailure(self, test: unittest.TestCase, err: ExcInfo) -> None:
        super().addExpectedFailure(test, err)
        self._record("xfail", "")

    def addUnexpectedSuccess(self, test: unittest.TestCase) -> None:
        super().addUnexpectedSuccess(test)
        self._record("xpass", "unexpected success of a test marked @expectedFailure")

    def addSubTest(
        self, test: unittest.TestCase, subtest: unittest.TestCase, err: ExcInfo | None
    ) -> None:
        super().addSubTest(test, subtest, err)
        if err is None:
            return
        if issubclass(err[0], ConformanceTimeout):
            status: Status = "timeout"
        elif issubclass(err[0], test.failureException):
            status = "failed"
        else:
            status = "error"
        self._record(status, f"{subtest.id()}\n{self._format(err, test)}")


def configure_test_support() -> None:
    """Set what regrtest would: which optional resources tests may use."""
    from test import support

    support.use_resources = list(ENABLED_RESOURCES)


def _parse(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="run.py --child", description=__doc__)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--spec", required=True, help="ModuleSpec as JSON")
    parser.add_argument("--target", required=True)
    parser.add_argument("--results", required=True, type=Path)
    parser.add_argument("--exclusions", type=Path, default=exclusions.DEFAULT_PATH)
    parser.add_argument("-k", dest="keywords", action="append", default=[])
    parser.add_argument("--include-file", type=Path)
    parser.add_argument("--skip-file", type=Path)
    parser.add_argument("--timeout", type=float, default=60.0)
    parser.add_argument("--grace", type=float, default=5.0)
    parser.add_argument("--no-compat", action="store_true")
    parser.add_argument("--collect-only", action="store_true")
    return parser.parse_args(argv)


def _read_ids(path: Path | None) -> set[str]:
    if path is None:
        return set()
    return {line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()}


def prepare(
    args: argparse.Namespace, writer: EventWriter
) -> tuple[list[unittest.TestCase], instrument.Counters, dict[str, str]]:
    """Steps 1-3 of the module docstring; emits the ``plan`` event."""
    version: Version = (sys.version_info[0], sys.version_info[1])
    spec = ModuleSpec.from_json(args.spec)
    target = instrument.load_target(args.target)
    counters = instrument.install_counters(target)
    instrument.redirect_policy(target)
    redirect_note = instrument.verify_redirection(target)
    configure_test_support()
    module = importlib.import_module(spec.module_path)
    shims: list[str] = []
    test_utils = sys.modules.get("test.test_asyncio.utils")
    if test_utils is not None and not args.no_compat and instrument.patch_close_loop(test_utils):
        shims.append(
            "test_utils.TestCase.close_loop cleans up loops lacking _default_executor"
            " with public API (others go through CPython's code unchanged)"
        )
    kinds, dropped, notes = build_classes(module, spec, target, version)
    matcher = exclusions.Matcher(exclusions.load(args.exclusions), version)
    include = _read_ids(args.include_file)
    skip = _read_ids(args.skip_file)
    planned: list[str] = []
    excluded: list[dict[str, str]] = []
    to_run: list[unittest.TestCase] = []
    for test in collect_tests(module, dropped):
        test_id = exclusions.short_id(test.id())
        if include and test_id not in include:
            continue
        if not keyword_match(test_id, args.keywords):
            continue
        reason = matcher.reason_for(test_id)
        if reason is not None:
            excluded.append({"id": test_id, "reason": reason})
            continue
        planned.append(test_id)
        if test_id not in skip:
            to_run.append(test)
    writer.emit(
        "plan",
        tests=planned,
        excluded=excluded,
        python=sys.version,
        executable=sys.executable,
        target=args.target,
        target_file=str(getattr(target, "__file__", "")),
        redirect=redirect_note,
        shims=shims,
        generated=sorted(kinds),
        dropped=sorted(cls.__qualname__ for cls in dropped),
        notes=notes,
        resumed=len(planned) - len(to_run),
    )
    # The redirection check made a loop: don't let the first test inherit it.
    counters.loops = counters.tasks = 0
    return to_run, counters, kinds


def main(argv: Sequence[str], *, make_watchdog: Callable[..., Watchdog] = Watchdog) -> int:
    """Run one module; the exit code only says whether the child itself worked."""
    args = _parse(argv)
    writer = EventWriter(args.results)
    try:
        tests, counters, kinds = prepare(args, writer)
    except Exception as exc:  # report anything: the parent only sees this file and stderr
        writer.emit(
            "fatal",
            message=f"{type(exc).__name__}: {exc}",
            traceback="".join(traceback.format_exception(exc)),
        )
        writer.close()
        return 3
    if args.collect_only:
        writer.emit("done", ran=0)
        writer.close()
        return 0
    watchdog = make_watchdog(args.timeout, grace=args.grace) if args.timeout > 0 else None
    result = StreamingResult(writer, counters, kinds, watchdog)
    if watchdog is not None:
        watchdog.arm("module and class fixtures")
    unittest.TestSuite(tests).run(result)
    if watchdog is not None:
        watchdog.disarm()
    writer.emit("done", ran=result.testsRun)
    writer.close()
    return 0
