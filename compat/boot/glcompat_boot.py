"""Inside every process of a suite run: make new loops glassloop's, and count every loop made.

The harness puts this folder on ``PYTHONPATH``; ``sitecustomize`` imports this module at
interpreter start-up, so the pytest process *and* any Python child a test starts (uvicorn's
workers and reloader, aiohttp's leak checks) get the same treatment.  ``GLCOMPAT_LOOP``
chooses: ``glassloop`` redirects, ``asyncio`` only counts, anything else (unset) does
nothing at all, so the folder is inert outside a harness run.

Redirection, for ``glassloop``:

- asyncio builds its default policy lazily from the *package attribute*
  ``asyncio.DefaultEventLoopPolicy`` (``events._init_event_loop_policy``), also after every
  ``set_event_loop_policy(None)``.  Rebinding it (the conformance harness's
  ``redirect_policy``) covers ``asyncio.new_event_loop()`` (aiohttp's ``pyloop``
  ``loop_factory``), ``asyncio.run``/``asyncio.Runner`` without a ``loop_factory`` (anyio's
  ``asyncio`` backend, uvicorn's ``Server.run`` with ``loop="none"``), and
  ``IsolatedAsyncioTestCase``.
- uvicorn's ``loop="asyncio"``/``"auto"`` name ``uvicorn.loops.*_loop_factory``, which hand
  ``asyncio.SelectorEventLoop`` to ``asyncio.run`` as the factory, bypassing the policy.  When
  ``uvicorn.config`` is imported its ``LOOP_FACTORIES`` entries for both are pointed at
  :func:`uvicorn_setup`, which returns glassloop's factory.
- blockbuster (aiohttp's and anyio's conftests enable it) gets glassloop's documented
  allowances (``glassloop.testing.allow_loop_internals``) in every ``BlockBuster`` it makes,
  the one line a user of blockbuster adds on glassloop.
- Loops a test builds by naming an asyncio class (``asyncio.SelectorEventLoop()``) stay
  asyncio's: the counts show them, and the report lists the tests that made them.

Counting, for both loops: ``glassloop.Loop.__init__`` and ``asyncio.BaseEventLoop.__init__``
are wrapped (glassloop's loop is not a ``BaseEventLoop``, so the two never overlap).  Each
process writes its totals to ``$GLCOMPAT_COUNTS/<pid>.json`` at exit; the harness adds
them up.
"""

from __future__ import annotations

import asyncio
import atexit
import importlib.abc
import importlib.machinery
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

MODE_VAR = "GLCOMPAT_LOOP"
COUNTS_VAR = "GLCOMPAT_COUNTS"
#: The checkout whose tests/conformance holds the helpers shared with the conformance harness.
REPO_VAR = "GLCOMPAT_REPO"

#: Loops constructed in this process so far, by kind.
counts: dict[str, int] = {"glassloop": 0, "asyncio": 0}
mode: str = ""


def _bump(kind: str) -> Callable[[], None]:
    def bump() -> None:
        counts[kind] += 1

    return bump


def uvicorn_setup(use_subprocess: bool = False) -> Callable[[], asyncio.AbstractEventLoop]:
    """What uvicorn's ``loop="asyncio"`` resolves to in a glassloop run: glassloop's factory."""
    import glassloop

    return glassloop.new_event_loop


def _patch_uvicorn_config(module: ModuleType) -> None:
    factories = getattr(module, "LOOP_FACTORIES", None)
    if isinstance(factories, dict):
        for key in ("asyncio", "auto"):
            if key in factories:
                factories[key] = f"{__name__}:uvicorn_setup"


class _AfterImport(importlib.abc.MetaPathFinder):
    """Runs a patch right after a named module is executed, the first time it is imported.

    The framework is never imported early: a test that checks import-time behaviour sees the
    same order as without the harness.
    """

    def __init__(self, patches: dict[str, Callable[[ModuleType], None]]) -> None:
        self.patches = patches

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        patch = self.patches.pop(fullname, None)
        if patch is None:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec: importlib.machinery.ModuleSpec | None = finder.find_spec(fullname, path, target)
            if spec is None:
                continue
            loader = spec.loader
            if loader is not None and hasattr(loader, "exec_module"):

                def exec_module(
                    module: ModuleType,
                    original: Callable[[ModuleType], None] = loader.exec_module,
                    patch: Callable[[ModuleType], None] = patch,
                ) -> None:
                    original(module)
                    patch(module)

                loader.exec_module = exec_module  # type: ignore[method-assign]
            return spec
        return None


def _patch_blockbuster(module: ModuleType) -> None:
    """Every ``BlockBuster`` made in a glassloop run gets glassloop's one documented line.

    aiohttp's and anyio's conftests make one per test; blockbuster accepts
    asyncio's own internal blocking calls by file and function name, and
    ``glassloop.testing.allow_loop_internals`` is the line a user adds so it
    accepts glassloop's equivalents (README, "In your tests").  The harness
    adds it for them, as their conftest would on glassloop.
    """
    from glassloop.testing import allow_loop_internals

    cls: Any = getattr(module, "BlockBuster", None)
    if cls is None:
        return
    original = cls.__init__

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        allow_loop_internals(self)

    cls.__init__ = __init__


def write_counts() -> None:
    """Write this process's totals (idempotent: the same file is rewritten with the latest)."""
    folder = os.environ.get(COUNTS_VAR)
    if not folder:
        return
    try:
        Path(folder).mkdir(parents=True, exist_ok=True)
        data = {"pid": os.getpid(), "argv": sys.argv[:3], "mode": mode, **counts}
        (Path(folder) / f"{os.getpid()}.json").write_text(json.dumps(data))
    except OSError:
        pass


def _shared_helpers() -> ModuleType:
    """glconformance.instrument, the conformance harness's redirection and counting code."""
    repo = os.environ.get(REPO_VAR) or str(Path(__file__).resolve().parents[2])
    conformance = str(Path(repo) / "tests" / "conformance")
    if conformance not in sys.path:
        sys.path.append(conformance)
    from glconformance import instrument

    return instrument


def activate(chosen: str) -> None:
    """Install the counters and, for ``glassloop``, the redirection (once per process)."""
    global mode
    if mode:
        return
    mode = chosen
    instrument: Any = _shared_helpers()
    import glassloop

    instrument._wrap_init(glassloop.Loop, _bump("glassloop"))
    instrument._wrap_init(asyncio.BaseEventLoop, _bump("asyncio"))
    if chosen == "glassloop":
        instrument.redirect_policy(glassloop)
        patches = {
            "uvicorn.config": _patch_uvicorn_config,
            "blockbuster.blockbuster": _patch_blockbuster,
        }
        for name, patch in list(patches.items()):
            if name in sys.modules:
                patch(sys.modules[name])
                del patches[name]
        sys.meta_path.insert(0, _AfterImport(patches))
    atexit.register(write_counts)


def activate_from_environment() -> None:
    """What ``sitecustomize`` calls: act only inside a harness run."""
    chosen = os.environ.get(MODE_VAR, "")
    if chosen in ("glassloop", "asyncio"):
        activate(chosen)
