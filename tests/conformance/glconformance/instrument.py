"""Inside the child: point asyncio at the target, and count what the target creates.

Redirection.  On 3.11, 3.12 and 3.13 alike, ``asyncio.events._init_event_loop_policy``
builds the default policy lazily with ``from . import DefaultEventLoopPolicy``: it reads
the attribute of the ``asyncio`` *package* each time the policy is (re)created.  Every
test module's ``tearDownModule`` calls ``asyncio.set_event_loop_policy(None)``, which only
clears the policy; the next ``get_event_loop_policy()`` rebuilds it from that attribute.
So rebinding ``asyncio.DefaultEventLoopPolicy`` to the target's policy class survives those
resets, and covers ``asyncio.new_event_loop()``, ``asyncio.run()``, ``asyncio.Runner`` and
``IsolatedAsyncioTestCase`` (which build loops through the policy when given no factory).
``verify_redirection`` checks it on the running interpreter rather than trusting this note.

Counting.  ``Loop.__init__`` and ``Task.__init__`` of the target are wrapped to bump
counters; the child snapshots them around each test.  Subclasses are counted too, as long
as they call ``super().__init__``.
"""

from __future__ import annotations

import asyncio
import functools
import importlib
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any


class TargetError(RuntimeError):
    """The target package lacks what the harness needs, or redirection did not take."""


@dataclass
class Counters:
    """How many target loops and Tasks have been constructed so far in this process."""

    loops: int = 0
    tasks: int = 0


def load_target(name: str) -> ModuleType:
    """Import the package under test and check it has the names the harness uses."""
    try:
        target = importlib.import_module(name)
    except ImportError as exc:
        raise TargetError(
            f"cannot import target {name!r}: {exc} (is PYTHONPATH set, e.g. PYTHONPATH=src?)"
        ) from exc
    missing = [attr for attr in ("new_event_loop", "Loop") if not hasattr(target, attr)]
    if missing:
        raise TargetError(f"target {name!r} has no {', '.join(missing)}")
    return target


def policy_class(target: ModuleType) -> type[asyncio.AbstractEventLoopPolicy]:
    """The target's policy class; a target without one gets a minimal subclass of asyncio's."""
    policy = getattr(target, "EventLoopPolicy", None)
    if policy is not None:
        return policy  # type: ignore[no-any-return]
    factory: Callable[[], asyncio.AbstractEventLoop] = target.new_event_loop

    class TargetPolicy(asyncio.DefaultEventLoopPolicy):  # type: ignore[misc,valid-type]
        """Stand-in for targets that only export ``new_event_loop``."""

        def new_event_loop(self) -> asyncio.AbstractEventLoop:
            return factory()

    return TargetPolicy


def _wrap_init(cls: type, bump: Callable[[], None]) -> None:
    """Make ``cls.__init__`` call ``bump()`` first, whether ``__init__`` is own or inherited."""
    original = cls.__init__

    @functools.wraps(original)
    def counting_init(self: Any, *args: Any, **kwargs: Any) -> None:
        bump()
        original(self, *args, **kwargs)

    cls.__init__ = counting_init  # type: ignore[misc]


def install_counters(target: ModuleType) -> Counters:
    """Count target loop and Task constructions from now on."""
    counters = Counters()

    def bump_loops() -> None:
        counters.loops += 1

    def bump_tasks() -> None:
        counters.tasks += 1

    _wrap_init(target.Loop, bump_loops)
    task = getattr(target, "Task", None)
    if isinstance(task, type) and not _wrap_registration(task, bump_tasks):
        _wrap_init(task, bump_tasks)
    return counters


def _wrap_registration(task: type, bump: Callable[[], None]) -> bool:
    """Count Tasks where their module registers them with asyncio, if it does.

    Preferred over wrapping ``__init__``: a wrapper frame there would show in the
    ``_source_traceback`` that debug-mode tests inspect.
    """
    module = importlib.import_module(task.__module__)
    names = [
        n for n in ("_register_task", "_register_eager_task") if callable(getattr(module, n, None))
    ]
    if "_register_task" not in names:
        return False
    for name in names:
        original = getattr(module, name)

        def counting(t: Any, _original: Callable[[Any], None] = original) -> None:
            if isinstance(t, task):
                bump()
            _original(t)

        setattr(module, name, counting)
    return True


def redirect_policy(target: ModuleType) -> None:
    """Make the target's policy asyncio's default, surviving ``set_event_loop_policy(None)``."""
    asyncio.DefaultEventLoopPolicy = policy_class(target)  # type: ignore[misc]
    asyncio.set_event_loop_policy(None)


def verify_redirection(target: ModuleType) -> str:
    """Check, on this interpreter, that a reset policy still makes target loops.

    Returns a one-line description for the report; raises ``TargetError`` if it didn't work.
    """
    asyncio.set_event_loop_policy(None)
    policy = asyncio.get_event_loop_policy()
    loop = asyncio.new_event_loop()
    try:
        if not isinstance(loop, target.Loop):
            raise TargetError(
                f"asyncio.new_event_loop() made {type(loop).__module__}.{type(loop).__qualname__}"
                f" under policy {type(policy).__qualname__}, not a {target.__name__}.Loop"
            )
    finally:
        loop.close()
        asyncio.set_event_loop_policy(None)
    return f"default policy -> {type(policy).__module__}.{type(policy).__qualname__}"


class _ClosedLoopView:
    """What ``close_loop`` needs to see of a loop we already shut down and closed ourselves."""

    _default_executor = None

    def close(self) -> None:
        """Already closed by the shim."""

    def is_closed(self) -> bool:
        """Already closed by the shim."""
        return True


def patch_close_loop(test_utils: ModuleType) -> bool:
    """Let ``test_utils.TestCase.close_loop`` handle loops without ``_default_executor``.

    CPython's test base class (not any test) reads the private ``loop._default_executor`` when
    it cleans up a loop.  For a loop without that attribute the shim does the same cleanup
    with public API (``shutdown_default_executor()`` then ``close()``) and hands the
    original a closed stand-in, so its child-watcher checks still run.  Loops that have the
    attribute (asyncio's, or a target that mimics it) go through the original untouched.
    Returns whether the patch was applied.
    """
    case = getattr(test_utils, "TestCase", None)
    original = getattr(case, "close_loop", None) if case is not None else None
    if original is None or getattr(original, "_glconformance_shim", False):
        return False

    def close_loop(loop: Any) -> None:
        if hasattr(loop, "_default_executor"):
            original(loop)
            return
        if not loop.is_closed():
            loop.run_until_complete(loop.shutdown_default_executor())
        loop.close()
        original(_ClosedLoopView())

    close_loop._glconformance_shim = True  # type: ignore[attr-defined]
    case.close_loop = staticmethod(close_loop)  # type: ignore[union-attr]
    return True
