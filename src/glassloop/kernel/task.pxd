# Cython's declarations for task.py (the optional compiled build): Task is an
# extension type laid out after the C future's struct, whose size the build
# passes in (GL_FUTURE_BASICSIZE = asyncio.Future.__basicsize__).
cimport _asyncio

from glassloop.kernel.scheduler cimport Scheduler

# What the compiled step (task.py's ``if cython.compiled:`` methods) calls in
# C where the pure build calls Python: public C API only.
cdef extern from *:
    """
    /* coro.send(None) for a type with am_send (a native coroutine), without
       the StopIteration: a body that returns sets *returned and hands back
       its value, as PyIter_Send does (asyncio's C Task steps this way). */
    static PyObject *gl_task_send(PyObject *coro, int *returned) {
        PyObject *result = NULL;
        switch (PyIter_Send(coro, Py_None, &result)) {
        case PYGEN_RETURN:
            *returned = 1;
            return result;
        case PYGEN_NEXT:
            return result;
        default:
            return NULL;
        }
    }
    """
    int _context_enter "PyContext_Enter" (object context) except -1
    int _context_exit "PyContext_Exit" (object context) except -1
    object _send "gl_task_send" (object coro, int *returned)

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

    cdef _step_compiled(self, object woken_by)
