# Cython's declarations for stream.py (the optional compiled build): the
# transports over one fd become extension types, their state C fields, so
# reading into the protocol and writing to the OS run in C.  Every field is
# public: the loop, sendfile, the subclasses (Python classes) and tests read
# and set them by name, as in the pure build.

# The compiled read and write: read(2) and write(2) on the transport's fd,
# where the pure build calls its socket's (or pipe adapter's) recv and send.
# The same system calls (recv and send with no flags are read and write on
# a socket), the same OSError subclasses from errno, without a Python call,
# argument parsing, or a release of the GIL around a call that never blocks
# (the fd is non-blocking).
cdef extern from *:
    """
    #include <unistd.h>

    /* A read of up to this much goes through one static buffer, and what
       came is copied into bytes of its size: cheaper than allocating the
       whole size and shrinking it (a malloc and a realloc).  Safe to share:
       the GIL is held from the read to the copy.  Page-aligned: the
       kernel's copy into it and ours out of it then start on a cache line
       and touch the fewest pages (at 32-byte alignment, where the linker
       put it, the 10 KiB echo rows cost the server ~0.6 % more CPU). */
    #define GL_STATIC_READ (32 * 1024)
    static char gl_read_buffer[GL_STATIC_READ] __attribute__((aligned(4096)));

    static PyObject *gl_read_fd(int fd, Py_ssize_t size) {
        PyObject *data;
        Py_ssize_t n;
        if (size <= GL_STATIC_READ) {
            n = read(fd, gl_read_buffer, (size_t)size);
            if (n < 0)
                return PyErr_SetFromErrno(PyExc_OSError);
            return PyBytes_FromStringAndSize(gl_read_buffer, n);
        }
        data = PyBytes_FromStringAndSize(NULL, size);
        if (data == NULL)
            return NULL;
        n = read(fd, PyBytes_AS_STRING(data), (size_t)size);
        if (n < 0) {
            Py_DECREF(data);
            return PyErr_SetFromErrno(PyExc_OSError);
        }
        if (n != size && _PyBytes_Resize(&data, n) < 0)
            return NULL;
        return data;
    }

    static Py_ssize_t gl_write_fd(int fd, PyObject *data) {
        Py_buffer view;
        Py_ssize_t n;
        if (PyBytes_CheckExact(data)) {
            n = write(fd, PyBytes_AS_STRING(data), (size_t)PyBytes_GET_SIZE(data));
        } else {
            if (PyObject_GetBuffer(data, &view, PyBUF_SIMPLE) < 0)
                return -1;
            n = write(fd, view.buf, (size_t)view.len);
            PyBuffer_Release(&view);
        }
        if (n < 0) {
            PyErr_SetFromErrno(PyExc_OSError);
            return -1;
        }
        return n;
    }
    """
    object _read_fd "gl_read_fd" (int fd, Py_ssize_t size)
    Py_ssize_t _write_fd "gl_write_fd" (int fd, object data) except -1

# The instance dict Cython's tp_new makes for every transport (``cdef dict
# __dict__`` below), dropped while still empty: the interpreter makes it
# again when an attribute is first set.  On 3.12+ a method load such as
# ``transport.write`` in Python code is specialized for an instance of a type
# with a dict slot only while that slot is empty (3.11 specializes either
# way, keyed by the dict's shape, so there it stays).
cdef extern from *:
    """
    static inline void gl_drop_empty_dict(PyObject *o) {
    #if PY_VERSION_HEX >= 0x030C0000
        Py_ssize_t offset = Py_TYPE(o)->tp_dictoffset;
        if (offset > 0) {
            PyObject **slot = (PyObject **)((char *)o + offset);
            if (*slot != NULL && PyDict_CheckExact(*slot) && PyDict_GET_SIZE(*slot) == 0)
                Py_CLEAR(*slot);
        }
    #endif
    }
    """
    void _drop_empty_dict "gl_drop_empty_dict" (object o)


cdef class FlowControl:
    cdef public object _loop
    cdef public object _protocol
    cdef public object _high_water
    cdef public object _low_water
    cdef public bint _protocol_paused


cdef class FdTransport(FlowControl):
    cdef public object _buffer
    cdef public object _extra
    cdef public object _fd
    cdef public Py_ssize_t _conn_lost
    cdef public bint _closing
    cdef public bint _paused
    cdef public bint _buffered
    cdef public bint _readable
    cdef public bint _at_eof


cdef class StreamTransport(FdTransport):
    cdef dict __dict__
    cdef object __weakref__
    cdef public bint _eof_written
    cdef public object _io
    cdef public bint _large_reads
    cdef public bint _sendfile_active
