# Cython's declarations for task.py (the optional compiled build): Task is an
# extension type laid out after the C future's struct, whose size the build
# passes in (GL_FUTURE_BASICSIZE = asyncio.Future.__basicsize__).
cimport _asyncio

cdef class Task(_asyncio.Future):
    cdef public bint _cancelled
    cdef public object _context
    cdef public object _coro
    cdef public object _fut_waiter
    cdef public object _kernel
    cdef public bint _log_destroy_pending
    cdef public bint _must_cancel
    cdef public object _name
    cdef public object _stack
    cdef public object _wake_fut
    cdef public Py_ssize_t _num_cancels_requested
    cdef public object _callback
    cdef public object _send_value
    cdef public object _cancelled_exc
