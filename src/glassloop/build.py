"""Which build of glassloop runs: the compiled kernel, or the pure-Python reference.

``pip install`` compiles the kernel's hot modules and the recorder when it
can (setup.py); ``GLASSLOOP_PURE=1`` in the environment of a program makes it import the
``.py`` files even where the compiled ones are installed (glassloop/__init__.py),
which is how one installation runs the test suite on both builds.

    >>> import glassloop.build
    >>> glassloop.build.NAME          # "pure" or "compiled"
    >>> glassloop.build.describe()    # "pure (scheduler=py, task=py, ..., recorder=py)"
"""

from __future__ import annotations

from importlib.machinery import EXTENSION_SUFFIXES

from .io import datagram, stream
from .kernel import poller, scheduler, tape, task
from .observe import recorder

#: The modules a compiled build compiles (setup.py's COMPILED).
MODULES = (scheduler, task, tape, poller, stream, datagram, recorder)


def _compiled(module: object) -> bool:
    path = getattr(module, "__file__", None) or ""
    return path.endswith(tuple(EXTENSION_SUFFIXES))


#: ``"compiled"`` when every module of MODULES is an extension module,
#: ``"pure"`` when none is, ``"mixed"`` for a partial build (never shipped).
NAME = (
    "compiled"
    if all(map(_compiled, MODULES))
    else "mixed"
    if any(map(_compiled, MODULES))
    else "pure"
)


def describe() -> str:
    """The build and each module's form, for ``glassloop --version``, bug and benchmark reports."""
    parts = [f"{m.__name__.rpartition('.')[2]}={'C' if _compiled(m) else 'py'}" for m in MODULES]
    return f"{NAME} ({', '.join(parts)})"
