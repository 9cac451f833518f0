# Cython's declarations for datagram.py (the optional compiled build): the
# datagram transport is an extension type over stream.pxd's FdTransport, so
# its state is C fields (a Python subclass of FdTransport would reach the
# base's fields through descriptors, slower than the pure build's slots).
from glassloop.io.stream cimport FdTransport

# The compiled IPv4 path: recvfrom(2) and sendto(2) on the fd, where the pure
# build calls the socket's recvfrom and sendto.  The same system calls with
# the same flags (none), the same OSError subclasses from errno, retried on
# EINTR after the signal handlers ran (PEP 475), and the audit event
# socket.sendto raised as the socket's method raises it.  What they leave
# out: argument parsing, the address parsed from and formatted into a tuple
# per datagram (inet_pton and sprintf), and the release of the GIL around a
# call that never blocks (the socket is non-blocking).  The transport keeps
# the last peer it saw, as its tuple and its sockaddr: a datagram from that
# peer gets the same tuple, a datagram to it (the tuple received, or an equal
# one) goes to the stored sockaddr.  Any other address, and every IPv6 or
# Unix endpoint, goes through the socket's methods as in the pure build.
cdef extern from *:
    """
    #include <errno.h>
    #include <sys/socket.h>
    #include <netinet/in.h>
    #include <arpa/inet.h>

    typedef struct sockaddr_in gl_sin;

    /* Larger than any IPv4 datagram's payload (65 507 bytes).  Shared by
       every transport: the GIL is held from the receive to the copy. */
    #define GL_DGRAM_MAX (64 * 1024)
    static char gl_dgram_buffer[GL_DGRAM_MAX];

    static PyObject *gl_recvfrom4(int fd, Py_ssize_t size, gl_sin *sin, int *has_peer) {
        socklen_t len;
        ssize_t n;
        if (size > GL_DGRAM_MAX)
            size = GL_DGRAM_MAX;
        for (;;) {
            len = sizeof(*sin);
            n = recvfrom(fd, gl_dgram_buffer, (size_t)size, 0, (struct sockaddr *)sin, &len);
            if (n >= 0)
                break;
            if (errno != EINTR)
                return PyErr_SetFromErrno(PyExc_OSError);
            if (PyErr_CheckSignals() < 0)
                return NULL;
        }
        *has_peer = len >= (socklen_t)sizeof(*sin) && sin->sin_family == AF_INET;
        return PyBytes_FromStringAndSize(gl_dgram_buffer, n);
    }

    static int gl_same_sin(const gl_sin *a, const gl_sin *b) {
        return a->sin_addr.s_addr == b->sin_addr.s_addr && a->sin_port == b->sin_port;
    }

    /* The (host, port) tuple the socket module makes for an IPv4 address. */
    static PyObject *gl_sin_address(const gl_sin *sin) {
        char host[INET_ADDRSTRLEN];
        if (inet_ntop(AF_INET, &sin->sin_addr, host, sizeof(host)) == NULL)
            return PyErr_SetFromErrno(PyExc_OSError);
        return Py_BuildValue("(si)", host, (int)ntohs(sin->sin_port));
    }

    /* send(2) when sin is NULL (a connected endpoint), else sendto(2). */
    static Py_ssize_t gl_sendto4(int fd, PyObject *data, const gl_sin *sin) {
        Py_buffer view;
        const char *buf;
        Py_ssize_t len, n;
        int own_view = !PyBytes_CheckExact(data);
        if (own_view) {
            if (PyObject_GetBuffer(data, &view, PyBUF_SIMPLE) < 0)
                return -1;
            buf = (const char *)view.buf;
            len = view.len;
        } else {
            buf = PyBytes_AS_STRING(data);
            len = PyBytes_GET_SIZE(data);
        }
        for (;;) {
            if (sin == NULL)
                n = send(fd, buf, (size_t)len, 0);
            else
                n = sendto(fd, buf, (size_t)len, 0, (const struct sockaddr *)sin, sizeof(*sin));
            if (n >= 0)
                break;
            if (errno != EINTR) {
                PyErr_SetFromErrno(PyExc_OSError);
                break;
            }
            if (PyErr_CheckSignals() < 0)
                break;
        }
        if (own_view)
            PyBuffer_Release(&view);
        return n < 0 ? -1 : n;
    }

    static int gl_audit_sendto(PyObject *sock, PyObject *address) {
        return PySys_Audit("socket.sendto", "OO", sock, address);
    }
    """
    ctypedef struct gl_sin:
        pass
    object _recvfrom4 "gl_recvfrom4" (int fd, Py_ssize_t size, gl_sin *sin, int *has_peer)
    bint _same_sin "gl_same_sin" (const gl_sin *a, const gl_sin *b)
    object _sin_address "gl_sin_address" (const gl_sin *sin)
    Py_ssize_t _sendto4 "gl_sendto4" (int fd, object data, const gl_sin *sin) except -1
    int _audit_sendto "gl_audit_sendto" (object sock, object address) except -1


cdef class DatagramTransport(FdTransport):
    cdef dict __dict__
    cdef object __weakref__
    cdef public object _sock
    cdef public object _address
    cdef public bint _connected
    cdef public bint _inet4
    cdef public Py_ssize_t _buffer_size
    cdef public Py_ssize_t _read_size
    # The last peer: its address tuple (None until one is known) and sockaddr.
    cdef public object _peer
    cdef gl_sin _peer_sin

    cdef _send_one(self, object data, object addr)


cdef inline object _receive4(DatagramTransport t):
    """One datagram from an IPv4 socket; its sender is then ``t._peer``."""
    cdef gl_sin sin
    cdef int has_peer = 0
    data = _recvfrom4(t._fd, t._read_size, &sin, &has_peer)
    if not has_peer:
        t._peer = None
    elif t._peer is None or not _same_sin(&sin, &t._peer_sin):
        t._peer = _sin_address(&sin)
        t._peer_sin = sin
    return data


cdef inline bint _is_peer(DatagramTransport t, object addr):
    """Whether ``addr`` is the last peer's tuple, or an equal (host, port) of str and int."""
    peer = t._peer
    if addr is peer:
        return peer is not None
    return (
        peer is not None
        and type(addr) is tuple
        and len(<tuple>addr) == 2
        and type((<tuple>addr)[0]) is str
        and type((<tuple>addr)[1]) is int
        and addr == peer
    )
