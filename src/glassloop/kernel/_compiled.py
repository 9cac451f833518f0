"""What the optional compiled build of the kernel (setup.py, Cython) needs of its source.

Helpers both builds run, so that they end up with the same classes and the
same recorded stacks; nothing here is needed by the interpreted build alone.
"""

from __future__ import annotations

import gc
import os
import sys
import types
from typing import Any

#: What ``import cython`` gives a module where Cython is not installed (the
#: pure build): ``cython.compiled`` is False, and the decorators the compiled
#: modules use change nothing.  Each compiled module imports ``cython`` itself
#: (Cython reads that import as its own, and ``cython.compiled`` as a
#: constant) and falls back to this.  A module, not a class: the
#: ``cython.compiled`` tests the pure build runs in its hot paths are then a
#: specialized read (on 3.11 a class attribute is a generic lookup, some two
#: hundred instructions; three of them per traced callback cost the pure
#: chain 3 %).
cython_shim = types.ModuleType("cython")
vars(cython_shim).update(
    compiled=False, freelist=lambda size: lambda cls: cls, cclass=lambda cls: cls
)


def set_class_attributes(cls: type[Any], **attributes: Any) -> None:
    """Put ``attributes`` in ``cls``'s own namespace, as if its class body had them.

    For what a compiled build cannot have in a class body: a class attribute
    holding a descriptor made by a call (mypyc turns it into an instance
    attribute), ``__class__`` (``setattr`` on a class would take it for the
    class's own type), and any attribute of an extension type (Cython's are
    immutable).  The interpreted build runs this too, so both builds end up
    with the same class.  Not for special methods (``__repr__``, ``__lt__``,
    ``__hash__``): the namespace changes, the type's slots do not, so in
    either build they would not take.
    """
    namespace = next(r for r in gc.get_referents(cls.__dict__) if type(r) is dict)
    namespace.update(attributes)
    sys._clear_type_cache()  # the method cache may remember the old lookups


#: Where glassloop's own code lives (a recorded stack's frames to drop).
_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep


def drop_own_frames(stack: list[Any]) -> None:
    """Drop glassloop's frames from the end of a recorded stack (debug mode's origins).

    A handle, timer or task records where it was made; that is our caller,
    not us.  Counting our own frames would not do: compiled functions have
    none, so the count differs between the builds.
    """
    while len(stack) > 1 and stack[-1][0].startswith(_PACKAGE_DIR):
        del stack[-1]
