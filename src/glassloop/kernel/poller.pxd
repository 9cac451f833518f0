# Cython's declarations for poller.py (the optional compiled build): the
# epoll poller's state is C fields and ``poll``, which the kernel calls every
# turn that waits for I/O, runs in C (its loop over the events with C ints).
cimport cython

cdef int _EPOLLIN
cdef int _EPOLLOUT

cdef int _events_for(list entry, int epollin, int epollout)


@cython.final
cdef class EpollPoller:
    cdef object _epoll
    cdef object _epoll_poll
    cdef dict _map
    cdef public object fd_count

    cdef object _set(self, int fd, int slot, object handle)
    cdef object _remove(self, int fd, int slot)

    @cython.locals(fd=int, mask=int, entry=list, fds=dict, size=Py_ssize_t)
    cpdef list poll(self, object timeout)
