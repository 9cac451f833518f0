# Cython's declarations for poller.py (the optional compiled build): the
# epoll poller's state is C fields and ``poll``, which the kernel calls every
# turn that waits for I/O, runs in C (its loop over the events with C ints).
cimport cython

# The compiled poll: epoll_wait(2) into the poller's own array of events (a
# bytearray, grown to the number of fds watched), where the pure poll calls
# ``select.epoll.poll``, which allocates that array and a list of tuples
# every call.  The same timeout rounding (up, to whole milliseconds: a wait
# never ends before a timer is due), the GIL released while it may block,
# and an interrupted wait runs the signal handlers and returns no events.
cdef extern from *:
    """
    #include <errno.h>
    #include <limits.h>
    #include <math.h>
    #include <sys/epoll.h>

    static int gl_epoll_wait(int epfd, PyObject *buffer, Py_ssize_t maxevents, double timeout) {
        struct epoll_event *events;
        Py_ssize_t need;
        double ms;
        int wait_ms, n, error;
        if (maxevents > INT_MAX / (int)sizeof(struct epoll_event))
            maxevents = INT_MAX / (int)sizeof(struct epoll_event);
        need = maxevents * (Py_ssize_t)sizeof(struct epoll_event);
        if (PyByteArray_GET_SIZE(buffer) < need && PyByteArray_Resize(buffer, need) < 0)
            return -1;
        events = (struct epoll_event *)PyByteArray_AS_STRING(buffer);
        if (timeout < 0) {
            wait_ms = -1;
        } else {
            ms = ceil(timeout * 1e3);
            wait_ms = ms >= (double)INT_MAX ? INT_MAX : (int)ms;
        }
        if (wait_ms == 0) {
            n = epoll_wait(epfd, events, (int)maxevents, 0);
            error = errno;
        } else {
            Py_BEGIN_ALLOW_THREADS
            n = epoll_wait(epfd, events, (int)maxevents, wait_ms);
            error = errno;
            Py_END_ALLOW_THREADS
        }
        if (n < 0) {
            if (error == EINTR)
                return PyErr_CheckSignals() < 0 ? -1 : 0;
            errno = error;
            PyErr_SetFromErrno(PyExc_OSError);
            return -1;
        }
        return n;
    }

    static int gl_event_fd(PyObject *buffer, Py_ssize_t i) {
        return ((struct epoll_event *)PyByteArray_AS_STRING(buffer))[i].data.fd;
    }

    static int gl_event_mask(PyObject *buffer, Py_ssize_t i) {
        return (int)((struct epoll_event *)PyByteArray_AS_STRING(buffer))[i].events;
    }
    """
    int _epoll_wait "gl_epoll_wait" (int epfd, object buffer, Py_ssize_t maxevents, double timeout) except -1
    int _event_fd "gl_event_fd" (object buffer, Py_ssize_t i)
    int _event_mask "gl_event_mask" (object buffer, Py_ssize_t i)

cdef int _EPOLLIN
cdef int _EPOLLOUT

cdef int _events_for(list entry, int epollin, int epollout)


@cython.final
cdef class EpollPoller:
    cdef object _epoll
    cdef object _epoll_poll
    cdef int _epfd
    cdef bytearray _events
    cdef dict _map
    cdef public object fd_count

    cdef object _set(self, int fd, int slot, object handle)
    cdef object _remove(self, int fd, int slot)

    cpdef list poll(self, object timeout)
    @cython.locals(fd=int, mask=int, entry=list, fds=dict, size=Py_ssize_t, count=Py_ssize_t, i=Py_ssize_t)
    cpdef poll_into(self, object timeout, object append)
