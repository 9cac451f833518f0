"""Which CPython test modules the harness runs, and which extra test classes it builds in them.

Most ``test.test_asyncio`` modules need nothing: their tests call ``asyncio.new_event_loop()``,
``asyncio.run()`` or ``IsolatedAsyncioTestCase``, all of which go through the default policy
that the child process points at the target.  Two kinds of module need help, and a spec
describes that help as data (not code) so the parent can hand it to a child as JSON and
``test_harness.py`` can feed in specs for a fake module:

- *per-loop* modules (``test_sock_lowlevel``, ``test_events``, ...) build their loop in a
  ``create_event_loop``/``new_loop`` method of one concrete class per selector.  We add one
  class built from the same mixin whose factory returns ``target.new_event_loop()``, and drop
  asyncio's own per-loop classes: they test asyncio's selectors, not us.
- *per-Task* suites (``test_tasks.BaseTaskTests``, the eager task factory tests) are mixins
  parametrized by a Task class.  We add a variant with the target's Task.

To run a new module, add a ``ModuleSpec`` to ``MODULES``; ``default=False`` keeps it out of
the default run (and so out of CI) until glassloop is ready for it, while ``--module NAME``
or ``--all`` still runs it.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any, Literal

TEST_PACKAGE = "test.test_asyncio"

#: The prefix of every generated class; chosen so ``-k Glassloop`` selects exactly our classes.
GENERATED_PREFIX = "Glassloop"

ClassKind = Literal["loop", "task"]
Version = tuple[int, int]


@dataclass(frozen=True)
class ExtraClass:
    """A test class to build inside a CPython test module.

    ``bases`` and ``decorator`` are dotted names looked up in the test module's namespace
    (``"test_utils.TestCase"``, ``"add_subclass_tests"``).  ``attrs`` are class attributes,
    each a *recipe* ``"how:dotted.name"`` resolved in the child process, where ``dotted.name``
    starts with ``target`` (the package under test), ``module`` (the test module) or any
    importable module:

    - ``value:X``         the object X itself (``Task = glassloop.Task``);
    - ``staticmethod:X``  X wrapped in ``staticmethod`` (``current_task = ...``);
    - ``loop_factory:X``  a method ``(self) -> X()`` (``create_event_loop``);
    - ``task_factory:X``  a method ``(self, coro) -> X(coro, loop=self.loop)`` (``new_task``).

    ``kind`` decides what makes a test of this class count (see ``outcomes.is_counted``):
    "loop" classes count when a target loop was created, "task" classes also when a target
    Task was constructed (``BaseTaskTests`` runs on asyncio's ``TestLoop``).

    ``replaces`` names a base (a mixin) whose *other* subclasses in the module are dropped:
    asyncio's own per-loop classes.
    """

    name: str
    bases: tuple[str, ...]
    attrs: tuple[tuple[str, str], ...] = ()
    kind: ClassKind = "loop"
    replaces: str | None = None
    decorator: str | None = None
    min_python: Version = (3, 0)
    max_python: Version = (99, 0)


@dataclass(frozen=True)
class ModuleSpec:
    """One CPython test module and what the harness adds to it."""

    name: str
    import_name: str = ""
    classes: tuple[ExtraClass, ...] = ()
    min_python: Version = (3, 0)
    max_python: Version = (99, 0)
    default: bool = True
    note: str = ""

    @property
    def module_path(self) -> str:
        """The name to import: ``test.test_asyncio.<name>`` unless the spec says otherwise."""
        return self.import_name or f"{TEST_PACKAGE}.{self.name}"

    def applies_to(self, version: Version) -> bool:
        """Whether this module exists (and is meant to run) on Python ``version``."""
        return self.min_python <= version <= self.max_python

    def classes_for(self, version: Version) -> tuple[ExtraClass, ...]:
        """The extra classes that apply on Python ``version`` (their mixins may be newer)."""
        return tuple(c for c in self.classes if c.min_python <= version <= c.max_python)

    def to_json(self) -> str:
        """Serialize for the child's command line."""
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> ModuleSpec:
        """Inverse of ``to_json``; JSON lists come back as the tuples the dataclasses expect."""
        raw: dict[str, Any] = json.loads(text)
        classes = tuple(
            ExtraClass(
                name=c["name"],
                bases=tuple(c["bases"]),
                attrs=tuple((a, r) for a, r in c["attrs"]),
                kind=c["kind"],
                replaces=c["replaces"],
                decorator=c["decorator"],
                min_python=(c["min_python"][0], c["min_python"][1]),
                max_python=(c["max_python"][0], c["max_python"][1]),
            )
            for c in raw["classes"]
        )
        return cls(
            name=raw["name"],
            import_name=raw["import_name"],
            classes=classes,
            min_python=(raw["min_python"][0], raw["min_python"][1]),
            max_python=(raw["max_python"][0], raw["max_python"][1]),
            default=raw["default"],
            note=raw["note"],
        )


def loop_class(
    name: str, *bases: str, factory: str = "create_event_loop", replaces: str | None = None
) -> ExtraClass:
    """A per-loop class: asyncio's mixin with a factory method returning a target loop.

    ``replaces`` defaults to the first base, the mixin that asyncio's own classes share.
    """
    return ExtraClass(
        name=name,
        bases=bases,
        attrs=((factory, "loop_factory:target.new_event_loop"),),
        kind="loop",
        replaces=replaces or bases[0],
    )


def task_class(
    name: str,
    *bases: str,
    attrs: tuple[tuple[str, str], ...] = (("Task", "value:target.Task"),),
    decorator: str | None = None,
    min_python: Version = (3, 0),
) -> ExtraClass:
    """A per-Task class: asyncio's Task-parametrized mixin with the target's Task."""
    return ExtraClass(
        name=name,
        bases=bases,
        attrs=attrs,
        kind="task",
        decorator=decorator,
        min_python=min_python,
    )


_TASK_AND_C_FUTURE = (("Task", "value:target.Task"), ("Future", "value:asyncio.Future"))

MODULES: tuple[ModuleSpec, ...] = (
    ModuleSpec(
        "test_tasks",
        classes=(
            # Like CTask_CFuture_Tests: asyncio.Future is the C future when _asyncio exists.
            task_class(
                "GlassloopTask_CFuture_Tests",
                "BaseTaskTests",
                "SetMethodsTest",
                "test_utils.TestCase",
                attrs=_TASK_AND_C_FUTURE,
            ),
            # Like CTask_CFuture_SubclassTests: user subclasses of our Task must keep working.
            task_class(
                "GlassloopTask_CFuture_SubclassTests",
                "BaseTaskTests",
                "test_utils.TestCase",
                attrs=_TASK_AND_C_FUTURE,
                decorator="add_subclass_tests",
            ),
            # current_task() must see our Task; on 3.11 the mixin ignores current_task.
            task_class(
                "GlassloopCurrentLoopTests",
                "BaseCurrentLoopTests",
                "test_utils.TestCase",
                attrs=(
                    ("current_task", "staticmethod:asyncio.current_task"),
                    ("new_task", "task_factory:target.Task"),
                ),
            ),
        ),
        note="BaseTaskTests mostly runs on asyncio's TestLoop: there only Glassloop* classes count",
    ),
    ModuleSpec("test_locks"),
    ModuleSpec("test_queues"),
    ModuleSpec("test_taskgroups"),
    ModuleSpec("test_timeouts"),
    ModuleSpec("test_waitfor"),
    ModuleSpec(
        "test_sock_lowlevel",
        classes=(loop_class("GlassloopSockTests", "BaseSockTestsMixin", "test_utils.TestCase"),),
    ),
    ModuleSpec(
        "test_eager_task_factory",
        min_python=(3, 12),
        classes=(
            task_class(
                "GlassloopTaskEagerTaskFactoryLoopTests",
                "EagerTaskFactoryLoopTests",
                "test_utils.TestCase",
            ),
            task_class(
                "GlassloopTaskNonEagerTests", "BaseNonEagerTaskFactoryTests", "test_utils.TestCase"
            ),
            task_class(
                "GlassloopTaskEagerTests", "BaseEagerTaskFactoryTests", "test_utils.TestCase"
            ),
        ),
    ),
    # The transport modules (issue 3): in the default run since they pass on 3.11-3.13.
    ModuleSpec(
        "test_events",
        classes=(
            loop_class(
                "GlassloopEventLoopTests",
                "UnixEventLoopTestsMixin",
                "SubprocessTestsMixin",
                "test_utils.TestCase",
                replaces="EventLoopTestsMixin",
            ),
        ),
    ),
    ModuleSpec("test_streams"),
    ModuleSpec(
        "test_server",
        classes=(
            # Built on the selector class, not the mixin: it adds a unix-socket test of its own.
            loop_class(
                "GlassloopStartServerTests",
                "SelectorStartServerTests",
                factory="new_loop",
                replaces="BaseStartServer",
            ),
        ),
    ),
    ModuleSpec(
        "test_sendfile",
        classes=(loop_class("GlassloopSendfileTests", "SendfileTestsBase", "test_utils.TestCase"),),
    ),
    ModuleSpec("test_ssl"),
    ModuleSpec(
        "test_sslproto",
        classes=(
            loop_class(
                "GlassloopStartTLSTests", "BaseStartTLS", "unittest.TestCase", factory="new_loop"
            ),
        ),
    ),
    ModuleSpec("test_subprocess"),
    ModuleSpec("test_unix_events"),
    ModuleSpec(
        "test_buffered_proto",
        classes=(
            loop_class(
                "GlassloopBufferedProtocolTests",
                "BaseTestBufferedProtocol",
                "unittest.TestCase",
                factory="new_loop",
            ),
        ),
    ),
    ModuleSpec("test_protocols", note="ABC tests: no loop, nothing counts"),
    ModuleSpec("test_transports", note="ABC tests: no loop, nothing counts"),
    # Small modules whose tests reach the default policy; cheap to have.
    # (test_runners and test_pep492 install their own policy or loop: nothing would count.)
    ModuleSpec("test_threads"),
    ModuleSpec("test_context"),
    ModuleSpec("test_futures2"),
)

_BY_NAME = {spec.name: spec for spec in MODULES}


def find(name: str) -> ModuleSpec:
    """The spec called ``name`` (``test_tasks`` or ``test.test_asyncio.test_tasks``).

    A dotted name that is not in ``MODULES`` gets a plain spec, so any unittest module can be
    pointed at (handy for a module from a newer CPython, or a local reproduction).
    """
    short = name.removeprefix(f"{TEST_PACKAGE}.")
    if short in _BY_NAME:
        return _BY_NAME[short]
    if "." in name:
        return ModuleSpec(name.rsplit(".", 1)[1], import_name=name)
    known = ", ".join(sorted(_BY_NAME))
    raise KeyError(f"unknown module {name!r}; known: {known} (or give a dotted import path)")


def select(
    names: list[str], *, include_opt_in: bool, version: Version
) -> tuple[list[ModuleSpec], list[ModuleSpec]]:
    """The specs to run on ``version``, and the asked-for ones that don't exist there.

    With no names: every default module (every module with ``include_opt_in``).
    """
    if names:
        wanted = [find(n) for n in names]
    else:
        wanted = [s for s in MODULES if s.default or include_opt_in]
    runnable = [s for s in wanted if s.applies_to(version)]
    missing = [s for s in wanted if not s.applies_to(version)]
    return runnable, missing
