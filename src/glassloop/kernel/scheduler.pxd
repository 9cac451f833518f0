# Cython's declarations for scheduler.py (the optional compiled build):
# Scheduler becomes an extension type whose state lives in C fields.

cimport cython

from glassloop.kernel.poller cimport EpollPoller
from glassloop.kernel.tape cimport Tape

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
    /* The compiled call_soon's, call_later's and call_at's test of a
       callback (the pure build's lines in those methods): 1 when
       ``callback`` needs no closer look, a function or a bound method of
       one whose code is no coroutine's, or a built-in method; 0 when
       _check_callback must look. */
    static int gl_plain_callback(PyObject *callback, int coroutine_flags) {
        PyObject *func = PyMethod_Check(callback) ? PyMethod_GET_FUNCTION(callback) : callback;
        if (PyFunction_Check(func))
            return !(((PyCodeObject *)PyFunction_GET_CODE(func))->co_flags & coroutine_flags);
        return Py_IS_TYPE(func, &PyCFunction_Type);
    }

    /* A call with loop=loop made with one {"loop": ...} dict, reused while no
       call holds it (a call nested inside another gets a new one): the C
       future's __init__, Future(loop=loop) and Task(coro, loop=loop) each
       cost a dict made and freed otherwise (task.pxd calls them too). */
    static PyObject *gl_loop_kwargs = NULL;
    static int gl_loop_kwargs_busy = 0;

    static PyObject *gl_loop_key = NULL;  /* "loop", interned once */

    static PyObject *gl_take_loop_kwargs(PyObject *loop) {
        PyObject *kwargs;
        if (gl_loop_kwargs == NULL) {
            gl_loop_key = PyUnicode_InternFromString("loop");
            if (gl_loop_key == NULL)
                return NULL;
            gl_loop_kwargs = PyDict_New();
            if (gl_loop_kwargs == NULL)
                return NULL;
        }
        if (gl_loop_kwargs_busy) {
            kwargs = PyDict_New();
        } else {
            gl_loop_kwargs_busy = 1;
            kwargs = Py_NewRef(gl_loop_kwargs);
        }
        if (kwargs != NULL && PyDict_SetItem(kwargs, gl_loop_key, loop) < 0) {
            if (kwargs == gl_loop_kwargs)
                gl_loop_kwargs_busy = 0;
            Py_CLEAR(kwargs);
        }
        return kwargs;
    }

    static void gl_give_back_loop_kwargs(PyObject *kwargs) {
        if (kwargs == gl_loop_kwargs) {
            /* (None, not removed: the next call reuses the slot) */
            if (PyDict_SetItem(kwargs, gl_loop_key, Py_None) < 0)
                PyErr_WriteUnraisable(kwargs);
            gl_loop_kwargs_busy = 0;
        }
        Py_XDECREF(kwargs);
    }

    /* callable(*args, loop=loop) */
    static PyObject *gl_call_on_loop(PyObject *callable, PyObject *args, PyObject *loop) {
        PyObject *kwargs = gl_take_loop_kwargs(loop), *result = NULL;
        if (kwargs != NULL)
            result = PyObject_Call(callable, args, kwargs);
        gl_give_back_loop_kwargs(kwargs);
        return result;
    }

    /* The compiled Task's entry points (task.py hands them over when it is
       imported, in a capsule): the ready batch steps a task, and call_soon
       queues one woken by its future, with a C call each where the pure
       build calls ``task._run()`` and reads and sets the task's attributes. */
    typedef int (*gl_task_run_t)(PyObject *task);
    typedef int (*gl_task_wake_t)(PyObject *task, PyObject *kernel, PyObject *fut);
    typedef PyObject *(*gl_task_name_t)(PyObject *task);
    typedef struct {
        PyTypeObject *type;
        gl_task_run_t run;   /* ``if not task._cancelled: task._run()`` */
        gl_task_wake_t wake; /* 1, with _wake_fut set, if task._kernel is kernel; else 0 */
        gl_task_name_t name; /* ``task.get_name()`` (a new reference) */
    } gl_task_entries;
    #define GL_TASK_ENTRIES "glassloop.kernel.task.entries"
    static gl_task_entries gl_tasks = {NULL, NULL, NULL, NULL};

    static PyObject *gl_use_task_entries(PyObject *capsule) {
        gl_task_entries *entries = (gl_task_entries *)PyCapsule_GetPointer(capsule, GL_TASK_ENTRIES);
        if (entries == NULL)
            return NULL;
        Py_INCREF(entries->type);  /* kept for good: the type outlives every loop */
        gl_tasks = *entries;
        Py_RETURN_NONE;
    }

    /* An exact Task (a subclass may override _run). */
    static int gl_is_task(PyObject *obj) {
        return gl_tasks.type != NULL && Py_IS_TYPE(obj, gl_tasks.type);
    }

    /* A Task or a subclass's instance (its fields are the Task's). */
    static int gl_is_task_instance(PyObject *obj) {
        return gl_tasks.type != NULL && PyObject_TypeCheck(obj, gl_tasks.type);
    }

    static int gl_run_task(PyObject *task) { return gl_tasks.run(task); }

    static int gl_wake_task(PyObject *task, PyObject *kernel, PyObject *fut) {
        return gl_tasks.wake(task, kernel, fut);
    }

    static PyObject *gl_task_name(PyObject *task) { return gl_tasks.name(task); }

    /* ``time.monotonic()`` as a C double: the clock it reads on Linux and
       the arithmetic of its conversion (nanoseconds, then seconds, exact
       for whole seconds), so the two agree to the bit, without a call
       through Python or a float object.  For timing read in C (the
       observed batch, the recorder), when the loop's clock is the default. */
    #include <time.h>
    static double gl_monotonic(void) {
        struct timespec ts;
        long long ns;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ns = (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
        if (ns % 1000000000LL == 0)
            return (double)(ns / 1000000000LL);
        return (double)ns / 1e9;
    }

    /* A clock's ``time`` and ``resolution`` (the kernel reads both every
       turn with a timer, and ``time`` for every loop.time()),
       read where the member descriptor of a __slots__ class would read them
       for clock.py's own clocks: a C load where getattr costs a type lookup
       and a descriptor call (some 130 instructions).  Only while the class is
       as it was registered (its version tag unchanged: assigning to the class
       drops the tag), and only for a slot that is set; anything else through
       getattr, which also raises what getattr raises. */
    #include "structmember.h"
    #define GL_CLOCK_TYPES 2
    typedef struct {
        PyTypeObject *type;
        unsigned int version;
        Py_ssize_t offset[2];  /* time, resolution */
    } gl_clock_slots;
    static gl_clock_slots gl_clock_types[GL_CLOCK_TYPES];
    static PyObject *gl_clock_names[2] = {NULL, NULL};

    static PyObject *gl_clock_name(int which) {  /* borrowed */
        if (gl_clock_names[which] == NULL)
            gl_clock_names[which] = PyUnicode_InternFromString(which ? "resolution" : "time");
        return gl_clock_names[which];
    }

    static PyObject *gl_use_clock_slots(int index, PyObject *type) {
        gl_clock_slots slots;
        int i;
        if (index < 0 || index >= GL_CLOCK_TYPES || !PyType_Check(type)) {
            PyErr_SetString(PyExc_TypeError, "a clock class and its index were expected");
            return NULL;
        }
        slots.type = (PyTypeObject *)type;
        for (i = 0; i < 2; i++) {
            PyObject *descr, *name = gl_clock_name(i);
            PyMemberDef *member;
            if (name == NULL)
                return NULL;
            descr = _PyType_Lookup(slots.type, name);  /* borrowed; tags the type */
            if (descr == NULL || !Py_IS_TYPE(descr, &PyMemberDescr_Type))
                Py_RETURN_NONE;  /* not a slot: getattr it is */
            member = ((PyMemberDescrObject *)descr)->d_member;
            if (member->type != T_OBJECT_EX)
                Py_RETURN_NONE;
            slots.offset[i] = member->offset;
        }
        if (!(slots.type->tp_flags & Py_TPFLAGS_VALID_VERSION_TAG))
            Py_RETURN_NONE;
        slots.version = slots.type->tp_version_tag;
        Py_XDECREF(gl_clock_types[index].type);
        Py_INCREF(type);
        gl_clock_types[index] = slots;
        Py_RETURN_NONE;
    }

    static PyObject *gl_clock_attr(PyObject *clock, int which) {
        PyTypeObject *type = Py_TYPE(clock);
        int i;
        for (i = 0; i < GL_CLOCK_TYPES; i++) {
            gl_clock_slots *slots = &gl_clock_types[i];
            if (slots->type == type) {
                if ((type->tp_flags & Py_TPFLAGS_VALID_VERSION_TAG) &&
                        type->tp_version_tag == slots->version) {
                    PyObject *value = *(PyObject **)((char *)clock + slots->offset[which]);
                    if (value != NULL)
                        return Py_NewRef(value);
                }
                break;
            }
        }
        {
            PyObject *name = gl_clock_name(which);
            return name == NULL ? NULL : PyObject_GetAttr(clock, name);
        }
    }
    """
    object _method_function "gl_method_function" (object method)
    object _call_on_loop "gl_call_on_loop" (object callable, tuple args, object loop)
    object _method_self "gl_method_self" (object method)
    bint _plain_callback "gl_plain_callback" (object callback, int coroutine_flags)
    object _use_task_entries_c "gl_use_task_entries" (object capsule)
    bint _is_task "gl_is_task" (object obj)
    bint _is_task_instance "gl_is_task_instance" (object obj)
    int _run_task "gl_run_task" (object task) except -1
    int _wake_task "gl_wake_task" (object task, object kernel, object fut) except -1
    object _task_name "gl_task_name" (object task)
    double _monotonic "gl_monotonic" () nogil
    object _use_clock_slots "gl_use_clock_slots" (int index, object type)
    object _clock_attr "gl_clock_attr" (object clock, int which)
    # Handle._run's: a callback's Context entered and left in C.
    int _context_enter "PyContext_Enter" (object context) except -1
    int _context_exit "PyContext_Exit" (object context) except -1

# The timer buckets' constants: C doubles, so that a deadline's bucket is C
# arithmetic.
cdef double _BUCKETS
cdef double _HUGE

cdef class Scheduler:
    cdef dict __dict__
    cdef public object _ready
    cdef object _ready_append
    cdef object _ready_extend
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
    cdef object _on_scheduled
    cdef object _on_started
    cdef object _on_ran
    cdef object _on_step_started
    cdef object _on_step_ended
    cdef object _on_task_done
    cdef public object _task_hooks
    cdef public object _tape
    cdef public object _clock
    cdef public object _poller
    cdef public object _ready_policy
    cdef public Py_ssize_t _internal_fds
    cdef public object _thread_id
    cdef public object _task_factory

    cpdef _run_once(self)
    # The timer path (every call_later, every cancel, each turn with a
    # cancelled timer): C calls within the kernel.  _push_timer and
    # _timer_handle_cancelled stay callable from Python (loop.py's careful
    # path and exploration push timers; asyncio's TimerHandle.cancel counts).
    @cython.locals(real=double)
    cpdef _push_timer(self, object timer)
    cpdef _timer_handle_cancelled(self, object handle)
    cdef _schedule_timer(self, object when, object callback, tuple args, object context, str method)
    cdef _drop_cancelled_timers(self)
    cdef _call_soon_careful(self, object callback, tuple args, object context)
    cdef _run_ready_typed(self)
    cdef _run_ready_observed(self)

cdef class Handle:
    cdef object __weakref__
    cdef public tuple _args
    cdef public object _callback
    cdef public bint _cancelled
    cdef public object _context
    cdef public object _loop
    cdef public object _repr
    cdef public object _source_traceback
    # Compiled only (the pure build's observer keeps a dict): a note an
    # observer leaves on an entry when it is queued, for itself when the
    # entry runs, and which observer left it.  The kernel never reads them.
    cdef public object _note
    cdef public object _noted_by
    cpdef _run(self)
    cpdef cancel(self)

# loop.time's C descriptor (its type's get/set/delete slots).
cdef class ClockTime:
    pass

cdef class TimerHandle(Handle):
    cdef public bint _scheduled
    cdef public object _when
    cpdef cancel(self)
