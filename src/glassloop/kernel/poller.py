# cython: annotation_typing=False
"""The poller: which file descriptors are ready, and whose callbacks that wakes.

A poller owns the map fd -> (reader handle, writer handle) and hands the kernel
the handles to queue, so one poll costs one syscall plus a dict lookup per
event.  ``EpollPoller`` talks to ``select.epoll`` directly; ``SelectorPoller``
falls back to the standard ``selectors`` module (kqueue, poll or select) where
epoll does not exist.
"""

from __future__ import annotations

import select
import selectors
from collections.abc import Callable
from typing import Any, Protocol

try:  # the optional compiled build (setup.py): Cython reads this as a constant
    import cython  # type: ignore[import-not-found, import-untyped, unused-ignore]
except ImportError:  # pure Python, Cython not installed
    from ._compiled import cython_shim as cython

#: A registered callback; the kernel only needs ``_cancelled`` and ``_run()``.
Runnable = Any

# epoll's event bits, read once (poller.pxd makes them C ints when compiled);
# 1 and 4 where the platform has no epoll (only EpollPoller reads them).
_EPOLLIN: int = getattr(select, "EPOLLIN", 1)
_EPOLLOUT: int = getattr(select, "EPOLLOUT", 4)


class Poller(Protocol):
    """What the scheduler needs of a poller."""

    def set_reader(self, fd: int, handle: Runnable) -> Runnable | None:
        """Register ``handle`` to run when ``fd`` is readable; return the one it replaces."""
        ...

    def set_writer(self, fd: int, handle: Runnable) -> Runnable | None:
        """Register ``handle`` to run when ``fd`` is writable; return the one it replaces."""
        ...

    def remove_reader(self, fd: int) -> Runnable | None:
        """Forget the reader of ``fd``; return it, or None if there was none."""
        ...

    def remove_writer(self, fd: int) -> Runnable | None:
        """Forget the writer of ``fd``; return it, or None if there was none."""
        ...

    def get_reader(self, fd: int) -> Runnable | None: ...

    def get_writer(self, fd: int) -> Runnable | None: ...

    def poll(self, timeout: float | None) -> list[Runnable]:
        """Wait up to ``timeout`` seconds (None: forever) and return the handles to run."""
        ...

    def __len__(self) -> int:
        """How many file descriptors are registered."""
        ...

    #: The same count as a callable the scheduler asks every turn; where the
    #: poller can, a bound C method (``dict.__len__``), so asking costs no frame.
    fd_count: Callable[[], int]

    def close(self) -> None: ...


def _events_for(entry: list[Runnable | None], epollin: int, epollout: int) -> int:
    return (epollin if entry[0] is not None else 0) | (epollout if entry[1] is not None else 0)


class EpollPoller:
    """Level-triggered epoll, one registration per fd covering reader and writer."""

    __slots__ = ("_epfd", "_epoll", "_epoll_poll", "_events", "_map", "fd_count")

    def __init__(self) -> None:
        self._epoll = select.epoll()
        self._epoll_poll = self._epoll.poll  # bound once: poll() calls it every turn
        # The compiled poll's own: it calls epoll_wait on this fd, into this
        # buffer (poller.pxd), where the pure one calls the epoll object.
        self._epfd = self._epoll.fileno()
        self._events = bytearray()
        # fd -> [reader, writer]; a list so updates don't allocate.
        self._map: dict[int, list[Runnable | None]] = {}
        self.fd_count = self._map.__len__

    def __len__(self) -> int:
        return len(self._map)

    def _set(self, fd: int, slot: int, handle: Runnable) -> Runnable | None:
        entry = self._map.get(fd)
        if entry is None:
            entry = [None, None]
            entry[slot] = handle
            self._epoll.register(fd, _events_for(entry, _EPOLLIN, _EPOLLOUT))
            self._map[fd] = entry
            return None
        old = entry[slot]
        entry[slot] = handle
        events = _events_for(entry, _EPOLLIN, _EPOLLOUT)
        try:
            # Even when the mask is unchanged: this is how we learn that the fd
            # was closed while registered (the kernel dropped it from the epoll
            # set) and its number now names a new file, which must be watched.
            self._epoll.modify(fd, events)
        except FileNotFoundError:
            self._epoll.register(fd, events)
        except BaseException:
            entry[slot] = old
            raise
        return old

    def _remove(self, fd: int, slot: int) -> Runnable | None:
        entry = self._map.get(fd)
        if entry is None or entry[slot] is None:
            return None
        old = entry[slot]
        entry[slot] = None
        try:
            if entry[1 - slot] is None:
                del self._map[fd]
                self._epoll.unregister(fd)
            else:
                self._epoll.modify(fd, _events_for(entry, _EPOLLIN, _EPOLLOUT))
        except OSError:
            # The fd was closed behind our back: the kernel already dropped it.
            self._map.pop(fd, None)
        return old

    def set_reader(self, fd: int, handle: Runnable) -> Runnable | None:
        return self._set(fd, 0, handle)

    def set_writer(self, fd: int, handle: Runnable) -> Runnable | None:
        return self._set(fd, 1, handle)

    def remove_reader(self, fd: int) -> Runnable | None:
        return self._remove(fd, 0)

    def remove_writer(self, fd: int) -> Runnable | None:
        return self._remove(fd, 1)

    def get_reader(self, fd: int) -> Runnable | None:
        entry = self._map.get(fd)
        return None if entry is None else entry[0]

    def get_writer(self, fd: int) -> Runnable | None:
        entry = self._map.get(fd)
        return None if entry is None else entry[1]

    def poll(self, timeout: float | None) -> list[Runnable]:
        ready: list[Runnable] = []
        self.poll_into(timeout, ready.append)
        return ready

    def poll_into(self, timeout: float | None, append: Callable[[Runnable], object]) -> None:
        """``poll``, handing each handle to ``append`` as it is found.

        The scheduler's plain turn passes its ready deque's ``append``: no
        list is made, filled, copied into the deque and freed per poll.
        """
        if timeout is None:
            timeout = -1.0  # (a float: compiled, an int's conversion to double is a slow path)
        fds = self._map
        size = len(fds)
        if size < 1:
            size = 1
        if cython.compiled:
            # epoll_wait itself, and the events read from its array: no list
            # of tuples made and unpacked (poller.pxd).  An interrupted wait
            # returns no events, as below.
            events = self._events
            count = _epoll_wait(self._epfd, events, size, timeout)  # noqa: F821 (poller.pxd's)
        else:
            try:
                events = self._epoll_poll(timeout, size)
            except InterruptedError:
                return
            count = len(events)
        for i in range(count):
            if cython.compiled:
                fd = _event_fd(events, i)  # noqa: F821
                mask = _event_mask(events, i)  # noqa: F821
            else:
                fd, mask = events[i]
            entry = fds.get(fd)
            if entry is None:
                continue
            reader, writer = entry
            # Errors and hang-ups wake both sides, so each learns of it by trying.
            if reader is not None and mask & ~_EPOLLOUT:
                if reader._cancelled:
                    self.remove_reader(fd)
                else:
                    append(reader)
            if writer is not None and mask & ~_EPOLLIN:
                if writer._cancelled:
                    self.remove_writer(fd)
                else:
                    append(writer)

    def close(self) -> None:
        self._map.clear()
        self._epoll.close()


class SelectorPoller:
    """The portable fallback over ``selectors.DefaultSelector``."""

    __slots__ = ("_selector", "fd_count")

    def __init__(self) -> None:
        self._selector = selectors.DefaultSelector()
        self.fd_count = self.__len__

    def __len__(self) -> int:
        return len(self._selector.get_map())

    def _entry(self, fd: int) -> list[Runnable | None] | None:
        try:
            key = self._selector.get_key(fd)
        except KeyError:
            return None
        entry: list[Runnable | None] = key.data
        return entry

    def _set(self, fd: int, slot: int, handle: Runnable) -> Runnable | None:
        entry = self._entry(fd)
        if entry is None:
            entry = [None, None]
            entry[slot] = handle
            self._selector.register(fd, _events_for(entry, 1, 2), entry)
            return None
        old = entry[slot]
        entry[slot] = handle
        self._selector.modify(fd, _events_for(entry, 1, 2), entry)
        return old

    def _remove(self, fd: int, slot: int) -> Runnable | None:
        entry = self._entry(fd)
        if entry is None or entry[slot] is None:
            return None
        old = entry[slot]
        entry[slot] = None
        if entry[1 - slot] is None:
            self._selector.unregister(fd)
        else:
            self._selector.modify(fd, _events_for(entry, 1, 2), entry)
        return old

    def set_reader(self, fd: int, handle: Runnable) -> Runnable | None:
        return self._set(fd, 0, handle)

    def set_writer(self, fd: int, handle: Runnable) -> Runnable | None:
        return self._set(fd, 1, handle)

    def remove_reader(self, fd: int) -> Runnable | None:
        return self._remove(fd, 0)

    def remove_writer(self, fd: int) -> Runnable | None:
        return self._remove(fd, 1)

    def get_reader(self, fd: int) -> Runnable | None:
        entry = self._entry(fd)
        return None if entry is None else entry[0]

    def get_writer(self, fd: int) -> Runnable | None:
        entry = self._entry(fd)
        return None if entry is None else entry[1]

    def poll(self, timeout: float | None) -> list[Runnable]:
        ready: list[Runnable] = []
        for key, mask in self._selector.select(timeout):
            reader, writer = key.data
            if reader is not None and mask & selectors.EVENT_READ:
                if reader._cancelled:
                    self.remove_reader(key.fd)
                else:
                    ready.append(reader)
            if writer is not None and mask & selectors.EVENT_WRITE:
                if writer._cancelled:
                    self.remove_writer(key.fd)
                else:
                    ready.append(writer)
        return ready

    def close(self) -> None:
        self._selector.close()


def default_poller() -> Poller:
    """epoll where the OS has it, else the best the ``selectors`` module offers."""
    if hasattr(select, "epoll"):
        return EpollPoller()
    return SelectorPoller()
