# Cython's declarations for recorder.py (the optional compiled build): the
# state and hooks every traced event pays for (_Recording) become an
# extension type whose fields are C slots; Recorder stays a Python class
# over it.

cdef class _Recording:
    cdef public object records
    cdef public Py_ssize_t capacity
    cdef public Py_ssize_t dropped
    cdef public object _cpu
    cdef public double _cpu_slice
    cdef public double _cpu_mark
    cdef public double _cpu_mark_at
    cdef public object _next_act
    cdef public object _next_tid
    cdef public dict _task_ids
    cdef public dict _pending
    cdef public list _stack
    cdef public object _poll_act
    cdef public object _poll_end
    cdef public object _fds
    cdef public object _loop
    cdef public object _time

    cdef _record(self, tuple record)
    cdef _expect(self, object entry, tuple wake)
    cdef _trim_pending(self)
    cdef Py_ssize_t _tid_of(self, object task) except -1
    cdef double _slice_cpu(self, double start, double end) except? -1.0

cpdef object suspended_at(object coro)
cdef object _link_frame(object link)
cdef object _link_names(type kind)
