# Cython's declarations for recorder.py (the optional compiled build): the
# state and hooks every traced event pays for (_Recording) become an
# extension type whose fields are C slots; Recorder stays a Python class
# over it.

cimport cython

from glassloop.kernel.scheduler cimport Handle, Scheduler, _monotonic
from glassloop.kernel.task cimport Task

cdef class _Recording:
    cdef public Py_ssize_t capacity
    cdef Py_ssize_t _count
    cdef object _numbers
    # The ring's columns (recorder.py's _Recording.__init__): typed views
    # of the arrays, written in C; the object columns are lists.
    cdef signed char[::1] _kinds
    cdef double[::1] _starts
    cdef double[::1] _ends
    cdef double[::1] _cpus
    cdef double[::1] _woken_at
    cdef long long[::1] _tids
    cdef long long[::1] _acts
    cdef long long[::1] _wakers
    cdef list _names
    cdef list _wheres
    cdef list _waits
    cdef list _wake_kinds
    cdef list _wake_details
    cdef public object _cpu
    cdef public double _cpu_slice
    cdef public double _cpu_mark
    cdef public double _cpu_mark_at
    cdef public object _act_numbers
    cdef public object _tid_numbers
    cdef public dict _task_ids
    cdef public dict _pending
    cdef public list _stack
    cdef public object _poll_act
    cdef public object _poll_end
    cdef public object _fds
    cdef public dict _fd_names
    cdef public object _loop
    cdef public object _time
    cdef public bint _c_clock

    cpdef _use_clock(self, object time_function)
    @cython.locals(at=Py_ssize_t)
    cdef Py_ssize_t _slot(self) except -1
    cdef _record(self, tuple record)
    @cython.locals(at=Py_ssize_t)
    cdef Py_ssize_t _put_slice(self, double start, double end, object cpu, object act, tuple wake) except -1
    @cython.locals(at=Py_ssize_t)
    cdef _put_task(self, double now, object tid, object name, object coro_name, object creator, object act)
    cdef object _row(self, object at)
    cdef _expect(self, object entry, tuple wake)
    cdef _trim_pending(self)
    cdef Py_ssize_t _tid_of(self, object task) except -1
    cdef double _slice_cpu(self, double start, double end) except? -1.0

cdef extern from *:
    """
    /* suspended_at's reads of a frame, without a lookup by name. */
    static PyObject *gl_frame_code(PyObject *frame) {
        return (PyObject *)PyFrame_GetCode((PyFrameObject *)frame);
    }
    static int gl_frame_lasti(PyObject *frame) {
        return PyFrame_GetLasti((PyFrameObject *)frame);
    }
    /* id(obj), as the builtin computes it, without the call to the builtin:
       recorder.py's calls of id() are this C call, compiled. */
    #define gl_id(obj) PyLong_FromVoidPtr((void *)(obj))
    /* A Python function's (or a bound method's function's) ``__qualname__``,
       read from its struct; None for any other callable. */
    static PyObject *gl_qualname(PyObject *callback) {
        if (PyMethod_Check(callback))
            callback = PyMethod_GET_FUNCTION(callback);
        if (PyFunction_Check(callback))
            return Py_NewRef(((PyFunctionObject *)callback)->func_qualname);
        Py_RETURN_NONE;
    }
    """
    object _frame_code "gl_frame_code" (object frame)
    void _untrack "PyObject_GC_UnTrack" (object obj)
    int _frame_lasti "gl_frame_lasti" (object frame)
    object _qualname "gl_qualname" (object callback)
    object id "gl_id" (object obj)

# Module globals read at every traced step: C variables, so that their
# ``get`` is a C call rather than a method found by name.
cdef dict _LINKS
cdef dict _WHERE
cdef object _UNSEEN
# What a ring slot holds, and a slice's missing CPU time.
cdef signed char _TUPLE, _CB, _STEP, _STEP_DONE, _TASK, _DONE
cdef double _NAN

cpdef object suspended_at(object coro, bint awaits_task=*)
cpdef str describe_awaitable(object obj)
cdef str _coro_name(object task)
cdef object _link_frame(object link)
cdef object _link_names(type kind)
