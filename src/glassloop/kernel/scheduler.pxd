# Cython's declarations for scheduler.py (the optional compiled build):
# Scheduler becomes an extension type whose state lives in C fields.

# What the compiled call_soon (scheduler.py's ``if cython.compiled:`` branch)
# reads in C: a bound method's ``__func__`` and ``__self__``.
cdef extern from *:
    """
    static PyObject *gl_method_function(PyObject *method) {
        return Py_NewRef(PyMethod_GET_FUNCTION(method));
    }
    static PyObject *gl_method_self(PyObject *method) {
        return Py_NewRef(PyMethod_GET_SELF(method));
    }
    """
    object _method_function "gl_method_function" (object method)
    object _method_self "gl_method_self" (object method)
    # Handle._run's: a callback's Context entered and left in C.
    int _context_enter "PyContext_Enter" (object context) except -1
    int _context_exit "PyContext_Exit" (object context) except -1

cdef class Scheduler:
    cdef dict __dict__
    cdef public object _ready
    cdef object _ready_append
    cdef object _ready_popleft
    cdef public list _timers
    cdef public dict _timers_at
    cdef public object _sorted_key
    cdef public Py_ssize_t _timer_total
    cdef public Py_ssize_t _cancelled_timers
    cdef public bint _stopping
    cdef public bint _closed
    cdef public bint _debug
    cdef public bint _careful
    cdef public bint _entry_hooks
    cdef public bint _entry_tasks
    cdef public bint _observed
    cdef public bint _inline_batch
    cdef public bint _reorder
    cdef public bint _polled_last_turn
    cdef public object _hooks
    cdef public object _task_hooks
    cdef public object _tape
    cdef public object _clock
    cdef public object _poller
    cdef public object _ready_policy
    cdef public Py_ssize_t _internal_fds

    cpdef _run_once(self)
    cdef _call_soon_careful(self, object callback, tuple args, object context)
    cdef _run_ready_typed(self)

cdef class Handle:
    cdef object __weakref__
    cdef public object _args
    cdef public object _callback
    cdef public bint _cancelled
    cdef public object _context
    cdef public object _loop
    cdef public object _repr
    cdef public object _source_traceback
    cpdef _run(self)

cdef class TimerHandle(Handle):
    cdef public bint _scheduled
    cdef public object _when
