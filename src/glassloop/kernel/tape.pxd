# Cython's declarations for tape.py (the optional compiled build): the ring's
# fields are C fields, its times a C array of doubles (a typed view of the
# same array the pure build indexes), and ``record`` a C call from the
# kernel (final: no override to look for).
cimport cython


@cython.final
cdef class Tape:
    cdef object __weakref__
    cdef readonly Py_ssize_t capacity
    cdef list _entries
    cdef object _time_array
    cdef double[::1] _times
    cdef readonly Py_ssize_t count
    cdef Py_ssize_t _next
    cdef Py_ssize_t _base

    @cython.locals(at=Py_ssize_t)
    cpdef record(self, object entry, double time)
