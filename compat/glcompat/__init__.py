"""The compat harness: frameworks' own test suites, unchanged, on glassloop and on asyncio.

Split by where the code runs:

- ``cli``, ``prepare`` (sdist, venv), ``runner`` (one pytest run per suite and loop),
  ``results`` and ``report`` run in the process the user started.
- ``compat/boot`` (not this package) runs inside the suites' processes: ``sitecustomize``
  and ``glcompat_boot`` make new loops glassloop's and count every loop, ``glcompat_plugin``
  writes one JSON line per test.  It imports nothing from here: it runs in the suites' venvs.
"""
