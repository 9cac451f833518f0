"""``glassloop ps PID``: the task tree of another, running process that allowed it.

A process opts in (``glassloop run --inspect``, ``GLASSLOOP_INSPECT=1``) and
then serves one question on a Unix socket, ``tree``, answered with
:func:`format_task_tree` of each of its glassloop loops.  The socket lives in
a directory only its user can enter (``$TMPDIR/glassloop-UID/PID.sock``, mode
0700, the socket 0600), a peer of another user is refused (``SO_PEERCRED``),
and nothing sent is ever run: a request is a word compared with a constant.
It is served from its own thread, so it answers while the loop is blocked
(the tree then shows the blocker as running now).  Unused, it costs a thread
waiting in ``accept``.
"""

from __future__ import annotations

import contextlib
import os
import socket
import stat
import struct
import tempfile
import threading
import weakref
from typing import Any

from .tree import format_task_tree

INSPECT_ENV = "GLASSLOOP_INSPECT"

_loops: weakref.WeakSet[Any] = weakref.WeakSet()
_server: InspectServer | None = None
_lock = threading.Lock()


def socket_dir() -> str:
    return os.path.join(tempfile.gettempdir(), f"glassloop-{os.getuid()}")


def socket_path(pid: int) -> str:
    """Where process ``pid`` listens, if it allowed inspection."""
    return os.path.join(socket_dir(), f"{pid}.sock")


def _private_dir() -> str:
    """The socket directory, made 0700 and checked to be ours alone."""
    path = socket_dir()
    with contextlib.suppress(FileExistsError):
        os.mkdir(path, 0o700)
    info = os.lstat(path)
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():
        raise PermissionError(f"{path} is not a directory of this user")
    if info.st_mode & 0o077:
        os.chmod(path, 0o700)
    return path


class InspectServer:
    """Answers ``tree`` on this process's inspection socket, from a daemon thread."""

    def __init__(self) -> None:
        _private_dir()
        self.path = socket_path(os.getpid())
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)  # a dead process with our pid left it
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old_umask = os.umask(0o177)
        try:
            self._sock.bind(self.path)
        finally:
            os.umask(old_umask)
        self._sock.listen(4)
        self._thread = threading.Thread(target=self._serve, name="glassloop-inspect", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return  # closed
            with conn:
                try:
                    self._answer(conn)
                except Exception as exc:  # a bad peer must not end the server
                    with contextlib.suppress(OSError):
                        conn.sendall(f"error: {type(exc).__name__}: {exc}\n".encode())

    def _answer(self, conn: socket.socket) -> None:
        peercred = getattr(socket, "SO_PEERCRED", None)
        if peercred is not None:  # Linux; elsewhere the 0700 directory is the guard
            creds = conn.getsockopt(socket.SOL_SOCKET, peercred, struct.calcsize("3i"))
            _, uid, _ = struct.unpack("3i", creds)
            if uid != os.getuid():
                conn.sendall(b"error: another user\n")
                return
        conn.settimeout(5.0)
        request = conn.recv(64).strip()
        if request != b"tree":
            conn.sendall(b"error: the only request is 'tree'\n")
            return
        conn.sendall(describe_loops().encode())

    def close(self) -> None:
        self._sock.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)


def describe_loops() -> str:
    """The task tree of every loop registered for inspection."""
    parts = [f"process {os.getpid()}\n"]
    loops = list(_loops)
    if not loops:
        parts.append("no glassloop loop yet\n")
    for index, loop in enumerate(loops, 1):
        state = "closed" if loop.is_closed() else "running" if loop.is_running() else "idle"
        parts.append(f"loop {index} ({state})\n")
        if not loop.is_closed():
            for attempt in range(3):  # the loop thread may change the task set meanwhile
                try:
                    parts.append(format_task_tree(loop))
                    break
                except RuntimeError:
                    if attempt == 2:
                        parts.append("the tasks kept changing; try again\n")
    return "".join(parts)


def allow_inspection(loop: Any) -> None:
    """Serve ``loop``'s task tree to ``glassloop ps`` (starts the server once per process)."""
    global _server
    with _lock:
        _loops.add(loop)
        if _server is None:
            import atexit

            _server = InspectServer()
            atexit.register(_server.close)


def ask(pid: int, request: str = "tree", timeout: float = 10.0) -> str:
    """What process ``pid`` answers; FileNotFoundError if it did not allow inspection."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect(socket_path(pid))
        sock.sendall(request.encode() + b"\n")
        sock.shutdown(socket.SHUT_WR)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks).decode()
