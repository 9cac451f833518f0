"""glassloop's optional compiled build: the kernel's own ``.py`` files, compiled by Cython.

The pure-Python package is the reference and installs anywhere; when Cython
and a C compiler are present, ``pip install`` also compiles the kernel's hot
modules and the recorder (pure-Python mode: the ``.py`` files plus the
``.pxd`` files beside them).  Nothing else changes: the same modules, imported under the same names.

    pip install glassloop                     # compiled if it can be, else pure
    GLASSLOOP_PURE=1 pip install glassloop     # pure, no compiler asked
    GLASSLOOP_COMPILE=1 pip install glassloop  # compiled, or fail loudly (CI)
    pip install -e .                           # editable: always pure

``glassloop.build.NAME`` says which one runs ("compiled" or "pure").
"""

from __future__ import annotations

import os
import sys
import warnings

from setuptools import setup
from setuptools.command.build_ext import build_ext

#: The modules compiled, in the order they matter (the hot path first).
COMPILED = (
    "glassloop.kernel.scheduler",
    "glassloop.kernel.task",
    "glassloop.kernel.tape",
    "glassloop.kernel.poller",
    "glassloop.io.stream",
    "glassloop.io.datagram",
    "glassloop.observe.recorder",
)


#: The Pythons the compiled build is tested on (scripts/test.sh); on any
#: other, pip installs the pure package (a new CPython may change the C
#: future that Task is laid over: 3.12 made it a heap type, 3.13 moved its
#: dict and weak references out of its struct).
#: GLASSLOOP_COMPILE_UNTESTED=1 compiles there anyway, to work on it.
TESTED_PYTHONS = ((3, 11), (3, 12), (3, 13))

#: ``Py_TPFLAGS_HEAPTYPE``: a type made at run time (a class statement, a type spec).
_HEAPTYPE = 1 << 9


def _untested_here() -> str:
    """Why this interpreter gets the pure package, or "" where the compiled build is tested.

    A free-threaded CPython (3.13t) is not one of them whatever its version:
    the compiled kernel counts on the GIL (one static read buffer per module,
    one reused ``loop=`` dict, caches of asyncio's C objects).
    """
    import sysconfig

    version = f"{sys.version_info[0]}.{sys.version_info[1]}"
    if sys.version_info[:2] not in TESTED_PYTHONS:
        return f"Python {version} (setup.py, TESTED_PYTHONS)"
    if sysconfig.get_config_var("Py_GIL_DISABLED"):
        return f"a free-threaded Python {version} (the compiled kernel counts on the GIL)"
    return ""


def _extensions() -> list:
    if os.environ.get("GLASSLOOP_PURE") or sys.implementation.name != "cpython":
        return []
    untested = _untested_here()
    if untested and not os.environ.get("GLASSLOOP_COMPILE_UNTESTED"):
        if os.environ.get("GLASSLOOP_COMPILE"):
            raise SystemExit(f"glassloop: the compiled build is not supported on {untested} yet")
        return []
    try:
        from Cython.Build import cythonize
    except ImportError:
        if os.environ.get("GLASSLOOP_COMPILE"):
            raise
        return []
    import asyncio

    from setuptools import Extension

    # The C future's size: task.pxd lays Task out after it.
    macros = [("GL_FUTURE_BASICSIZE", str(asyncio.Future.__basicsize__))]
    task_macros = list(macros)
    if asyncio.Future.__flags__ & _HEAPTYPE:
        # From 3.12 the C future is a heap type, and a subclass of it must be
        # one too: its dealloc drops a reference to the instance's type, which
        # only a heap type's instances hold (a static Task type lost one per
        # task and was freed), and from 3.13 its methods find their module
        # through the type, which a static type cannot give (a segfault in
        # Future.result).  Cython makes heap types from type specs; the
        # scheduler's types subclass nothing of CPython's and stay static.
        task_macros.append(("CYTHON_USE_TYPE_SPECS", "1"))
    if (3, 12) <= sys.version_info < (3, 14):
        # Cython caches a module global, and a cpdef method's "not overridden
        # by a Python subclass" answer, keyed by dict version tags; from
        # 3.12a5, where CPython deprecated the tag, it stops by default, and
        # every such global read becomes a dict lookup (six in a task step)
        # and every cpdef call on a Loop (a Python subclass) an attribute
        # lookup.  3.12 and 3.13 still give every dict change a new tag.
        macros.append(("CYTHON_USE_DICT_VERSIONS", "1"))
        task_macros.append(("CYTHON_USE_DICT_VERSIONS", "1"))
    extensions = [
        Extension(
            name,
            ["src/" + name.replace(".", "/") + ".py"],
            define_macros=task_macros if name == "glassloop.kernel.task" else macros,
        )
        for name in COMPILED
    ]
    try:
        return cythonize(
            extensions,
            include_path=["src/glassloop/kernel/cython"],
            build_dir="build/cython",  # the generated C, out of the source tree
            compiler_directives={"language_level": 3},
        )
    except Exception as exc:  # Cython refused the source: still a pure package
        if os.environ.get("GLASSLOOP_COMPILE"):
            raise
        warnings.warn(f"glassloop: Cython failed ({exc}); pure Python", stacklevel=1)
        return []


class OptionalBuildExt(build_ext):
    """All or nothing: a failed compile leaves the pure package, with a warning."""

    def run(self) -> None:
        if getattr(self, "editable_mode", False):
            # An editable install (pip install -e) stays pure: compiled modules
            # in src/ would be imported instead of the .py files being edited.
            return
        try:
            super().run()
        except Exception as exc:  # no compiler, no headers, a compile error
            if os.environ.get("GLASSLOOP_COMPILE"):
                raise
            for output in self.get_outputs():
                if os.path.exists(output):
                    os.remove(output)
            # Nothing compiled: the wheel is the pure one (PureWheelTag).
            self.distribution.ext_modules = []
            warnings.warn(
                f"glassloop: the compiled kernel was not built ({exc}); pure Python", stacklevel=1
            )


try:  # setuptools >= 70.1 has bdist_wheel; before, the wheel package did
    from setuptools.command.bdist_wheel import bdist_wheel
except ImportError:
    from wheel.bdist_wheel import bdist_wheel


class PureWheelTag(bdist_wheel):
    """A wheel whose compile failed is pure: tag it py3-none-any, not for this CPython.

    bdist_wheel decides purity before the build runs (there are extensions
    to build then); OptionalBuildExt drops them when their compile fails, and
    the tag, asked for after the build, says what the wheel holds.
    """

    def get_tag(self) -> tuple[str, str, str]:
        if not self.distribution.has_ext_modules():
            self.root_is_pure = True
        return super().get_tag()


setup(
    ext_modules=_extensions(),
    cmdclass={"build_ext": OptionalBuildExt, "bdist_wheel": PureWheelTag},
)
