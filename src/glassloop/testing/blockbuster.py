"""blockbuster's allowances for asyncio's internals, extended to glassloop's.

blockbuster wraps blocking functions (``os.read``, ``os.stat``,
``os.sendfile``, lock acquisition ...) and raises when one runs on an event
loop's thread, except in a list of places named by file and function where
asyncio itself does so on purpose: starting a subprocess reads the child's
exec-error pipe, a Unix server checks and removes its socket file, sendfile
lets the kernel read the file, ``shutdown_default_executor`` joins a thread
that has already finished.  glassloop does the same work in its own files, so
those calls are flagged unless the same allowance is made for them.

No call here can be made without blocking (there is no non-blocking stat or
exec report), so the honest answer is to state the equivalence, once, in the
form blockbuster reads.  blockbuster itself is not imported: the caller passes
its ``BlockBuster`` object.
"""

from __future__ import annotations

from typing import Any

#: (blocking function as blockbuster names it, file, glassloop functions
#: that may call it, the asyncio function granted the same allowance).
ALLOWANCES: tuple[tuple[str, str, frozenset[str], str], ...] = (
    (
        "os.read",
        "glassloop/io/subprocess.py",
        frozenset({"_spawn"}),
        "asyncio/base_events.py: subprocess_exec, subprocess_shell",
    ),
    (
        "os.stat",
        "glassloop/io/sockets.py",
        frozenset({"create_unix_server", "_remove_stale_socket", "_remove_unix_socket_file"}),
        "asyncio/unix_events.py: create_unix_server, _stop_serving",
    ),
    (
        "os.unlink",
        "glassloop/io/sockets.py",
        frozenset({"_remove_unix_socket_file"}),
        "asyncio/unix_events.py: _stop_serving",
    ),
    (
        "os.sendfile",
        "glassloop/io/sendfile.py",
        frozenset({"_sock_sendfile_native"}),
        "asyncio/unix_events.py: _sock_sendfile_native_impl",
    ),
    (
        "threading.Lock.acquire",
        "glassloop/loop.py",
        frozenset({"shutdown_default_executor"}),
        "asyncio/base_events.py: shutdown_default_executor",
    ),
)


def allow_loop_internals(blockbuster: Any) -> Any:
    """Let ``blockbuster`` accept glassloop's internal calls as it accepts asyncio's.

    One line where the ``BlockBuster`` is made, e.g. in a conftest fixture
    (``from glassloop.testing import allow_loop_internals``)::

        with blockbuster_ctx() as bb:
            allow_loop_internals(bb)
            yield bb

    Functions this blockbuster version does not wrap are skipped.  Returns
    ``blockbuster`` for chaining.
    """
    functions = blockbuster.functions
    for name, filename, allowed, _asyncio_equivalent in ALLOWANCES:
        wrapped = functions.get(name)
        if wrapped is not None:
            wrapped.can_block_in(filename, set(allowed))
    return blockbuster
