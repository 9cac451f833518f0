# Cython's declarations for task.py (the optional compiled build): Task is an
# extension type laid out after the C future's struct, whose size the build
# passes in (GL_FUTURE_BASICSIZE = asyncio.Future.__basicsize__).
cimport _asyncio

from glassloop.kernel.scheduler cimport Scheduler, _call_on_loop

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

    /* asyncio.Future's done(), result() and get_loop(), called unbound (as
       task.py's _future_done(fut) etc. are): their C function itself when
       the method takes no arguments and fut is a Future, else the method. */
    typedef struct { PyObject *method; PyCFunction function; } gl_future_method;
    static PyTypeObject *gl_future_type = NULL;
    static gl_future_method gl_future_done_method, gl_future_result_method,
                            gl_future_get_loop_method;

    static int gl_bind_future_method(gl_future_method *m, PyObject *method) {
        m->function = NULL;
        Py_XSETREF(m->method, Py_NewRef(method));
        if (Py_IS_TYPE(method, &PyMethodDescr_Type)) {
            PyMethodDef *def = ((PyMethodDescrObject *)method)->d_method;
            if ((def->ml_flags & (METH_VARARGS | METH_FASTCALL | METH_NOARGS | METH_O |
                                  METH_KEYWORDS | METH_METHOD)) == METH_NOARGS)
                m->function = def->ml_meth;
        }
        return 0;
    }

    static PyObject *gl_use_future_methods(PyObject *future_type, PyObject *done,
                                           PyObject *result, PyObject *get_loop) {
        if (!PyType_Check(future_type)) {
            PyErr_SetString(PyExc_TypeError, "asyncio.Future must be a type");
            return NULL;
        }
        Py_XSETREF(gl_future_type, (PyTypeObject *)Py_NewRef(future_type));
        gl_bind_future_method(&gl_future_done_method, done);
        gl_bind_future_method(&gl_future_result_method, result);
        gl_bind_future_method(&gl_future_get_loop_method, get_loop);
        Py_RETURN_NONE;
    }

    static PyObject *gl_call_future_method(gl_future_method *m, PyObject *fut) {
        if (m->function != NULL && PyObject_TypeCheck(fut, gl_future_type))
            return m->function(fut, NULL);
        return PyObject_CallOneArg(m->method, fut);
    }
    /* An exact asyncio.Future's _asyncio_future_blocking, read and cleared
       through its getset's C functions (a data descriptor: no instance dict
       can hide it); anything else through getattr/setattr. */
    static getter gl_blocking_get = NULL;
    static setter gl_blocking_set = NULL;
    static void *gl_blocking_closure = NULL;

    static PyObject *gl_use_future_blocking(PyObject *descriptor) {
        if (Py_IS_TYPE(descriptor, &PyGetSetDescr_Type)) {
            PyGetSetDef *def = ((PyGetSetDescrObject *)descriptor)->d_getset;
            gl_blocking_get = def->get;
            gl_blocking_set = def->set;
            gl_blocking_closure = def->closure;
        }
        Py_RETURN_NONE;
    }

    /* An exact Task too, once gl_use_task_blocking has seen that its flag is
       the same getset (Task defines none of its own). */
    static PyTypeObject *gl_blocking_task_type = NULL;

    static PyObject *gl_use_task_blocking(PyObject *type) {
        if (!PyType_Check(type)) {
            PyErr_SetString(PyExc_TypeError, "Task must be a type");
            return NULL;
        }
        Py_XSETREF(gl_blocking_task_type, (PyTypeObject *)Py_NewRef(type));
        Py_RETURN_NONE;
    }

    /* The C future's method ``descriptor`` declared again for ``type`` (a
       subclass), as asyncio's C Task declares them for itself: the
       interpreter's specialized call of a method (3.11+) takes a descriptor
       of the object's exact type only.  None for a method that is handed its
       defining class (METH_METHOD, 3.12+: it finds the C module's state
       through that class, which must be the C module's own). */
    static PyObject *gl_method_for(PyObject *type, PyObject *descriptor) {
        PyMethodDef *method;
        if (!PyType_Check(type) || !Py_IS_TYPE(descriptor, &PyMethodDescr_Type) ||
                !PyType_IsSubtype((PyTypeObject *)type, PyDescr_TYPE(descriptor))) {
            PyErr_SetString(PyExc_TypeError, "a method descriptor of a base of type was expected");
            return NULL;
        }
        method = ((PyMethodDescrObject *)descriptor)->d_method;
        if (method->ml_flags & METH_METHOD)
            Py_RETURN_NONE;
        return PyDescr_NewMethod((PyTypeObject *)type, method);
    }

    #define GL_BLOCKING_IN_C(fut) (gl_blocking_get != NULL && gl_future_type != NULL && \
        (Py_IS_TYPE((fut), gl_future_type) || Py_IS_TYPE((fut), gl_blocking_task_type)))

    static PyObject *gl_future_blocking(PyObject *fut) {
        if (GL_BLOCKING_IN_C(fut))
            return gl_blocking_get(fut, gl_blocking_closure);
        return PyObject_GetAttrString(fut, "_asyncio_future_blocking");
    }

    static int gl_future_unblock(PyObject *fut) {
        if (GL_BLOCKING_IN_C(fut))
            return gl_blocking_set(fut, Py_False, gl_blocking_closure);
        return PyObject_SetAttrString(fut, "_asyncio_future_blocking", Py_False);
    }

    /* isinstance(obj, scheduler_type), the last class that passed remembered
       (a strong reference: its address cannot be reused).  A loop's class
       sits deep below Scheduler, and Cython's check walks its MRO each
       time: twice for every task made, once for every step. */
    static PyTypeObject *gl_kernel_class = NULL;

    static int gl_is_kernel(PyObject *obj, PyObject *scheduler_type) {
        PyTypeObject *cls = Py_TYPE(obj);
        if (cls == gl_kernel_class)
            return 1;
        if (!PyType_IsSubtype(cls, (PyTypeObject *)scheduler_type))
            return 0;
        Py_INCREF(cls);
        Py_XSETREF(gl_kernel_class, cls);
        return 1;
    }

    /* asyncio.Future.__init__(fut, **kwargs) (kwargs NULL: no arguments),
       through its tp_init. */
    static int gl_future_tp_init(PyObject *fut, PyObject *kwargs) {
        PyObject *no_args;
        int status;
        if (gl_future_type == NULL) {
            PyErr_SetString(PyExc_RuntimeError, "glassloop: asyncio.Future is not bound yet");
            return -1;
        }
        no_args = PyTuple_New(0);
        if (no_args == NULL)
            return -1;
        status = gl_future_type->tp_init(fut, no_args, kwargs);
        Py_DECREF(no_args);
        return status;
    }

    static int gl_future_init_bare(PyObject *fut) {
        return gl_future_tp_init(fut, NULL);
    }

    /* asyncio.Future.__init__(fut, loop=loop) */
    static int gl_future_init_loop(PyObject *fut, PyObject *loop) {
        PyObject *kwargs = gl_take_loop_kwargs(loop);
        int status;
        if (kwargs == NULL)
            return -1;
        status = gl_future_tp_init(fut, kwargs);
        gl_give_back_loop_kwargs(kwargs);
        return status;
    }

    /* asyncio.Future.__del__(fut): its tp_finalize, called in C. */
    static int gl_future_finalize(PyObject *fut) {
        if (gl_future_type == NULL || gl_future_type->tp_finalize == NULL) {
            PyErr_SetString(PyExc_SystemError, "glassloop: asyncio.Future has no tp_finalize");
            return -1;
        }
        gl_future_type->tp_finalize(fut);  /* reports its own errors, as __del__ does */
        return 0;
    }

    /* The compiled build's _name_counter(): a default task name's number. */
    static Py_ssize_t gl_task_count = 0;
    static PyObject *gl_next_task_number(void) {
        return PyLong_FromSsize_t(++gl_task_count);
    }

    /* asyncio's _enter_task(loop, task) and _leave_task(loop, task) (the
       C module's), for the compiled step: its dict of running tasks
       (_asyncio._current_tasks, which asyncio.current_task reads) read and
       written here when the call is as expected (no task running on loop;
       task the one running), the functions themselves called otherwise. */
    static PyObject *gl_current_tasks = NULL, *gl_enter_function = NULL,
                    *gl_leave_function = NULL;

    /* tasks: the dict, or None to always call the functions. */
    static PyObject *gl_use_current_tasks(PyObject *tasks, PyObject *enter, PyObject *leave) {
        if (tasks != Py_None && !PyDict_CheckExact(tasks)) {
            PyErr_SetString(PyExc_TypeError, "_asyncio._current_tasks must be a dict");
            return NULL;
        }
        Py_XSETREF(gl_enter_function, Py_NewRef(enter));
        Py_XSETREF(gl_leave_function, Py_NewRef(leave));
        Py_CLEAR(gl_current_tasks);
        if (tasks != Py_None)
            gl_current_tasks = Py_NewRef(tasks);
        Py_RETURN_NONE;
    }

    static int gl_call_task_function(PyObject *function, PyObject *loop, PyObject *task) {
        PyObject *result = PyObject_CallFunctionObjArgs(function, loop, task, NULL);
        if (result == NULL)
            return -1;
        Py_DECREF(result);
        return 0;
    }

    /* One dict lookup each way where asyncio's C task makes two (a lookup,
       then the store or the delete): enter inserts unless the loop has a
       task (the dict's size tells which), leave pops and puts back what was
       not ``task``.  The functions still say what is wrong. */
    static int gl_enter_task(PyObject *loop, PyObject *task) {
        if (gl_current_tasks != NULL) {
            Py_ssize_t size = PyDict_GET_SIZE(gl_current_tasks);
            if (PyDict_SetDefault(gl_current_tasks, loop, task) == NULL)  /* borrowed */
                return -1;
            if (PyDict_GET_SIZE(gl_current_tasks) != size)
                return 0;
        }
        return gl_call_task_function(gl_enter_function, loop, task);
    }

    /* dict.pop(key, None): a new reference */
    static PyObject *gl_dict_pop(PyObject *dict, PyObject *key) {
    #if PY_VERSION_HEX >= 0x030D0000
        PyObject *value;
        if (PyDict_Pop(dict, key, &value) < 0)
            return NULL;
        return value != NULL ? value : Py_NewRef(Py_None);
    #else
        return _PyDict_Pop(dict, key, Py_None);
    #endif
    }

    static int gl_leave_task(PyObject *loop, PyObject *task) {
        if (gl_current_tasks != NULL) {
            PyObject *running = gl_dict_pop(gl_current_tasks, loop);
            int status = 0;
            if (running == NULL)
                return -1;
            if (running == task) {
                Py_DECREF(running);
                return 0;
            }
            if (running != Py_None)
                status = PyDict_SetItem(gl_current_tasks, loop, running);
            Py_DECREF(running);
            if (status < 0)
                return -1;
        }
        return gl_call_task_function(gl_leave_function, loop, task);
    }

    /* asyncio's _register_task(task) (the C module's, 3.11-3.13): an add to
       the WeakSet that module holds (_all_tasks; _scheduled_tasks from 3.12),
       done as WeakSet.add does it when no removals wait: a weak reference
       with the set's own _remove callback, put in its data set, without the
       Python frame of add (every task made paid ~2 000 instructions for it).
       Anything else (removals waiting, no registry handed in) calls the
       function. */
    static PyObject *gl_tasks_data = NULL, *gl_tasks_remove = NULL,
                    *gl_tasks_pending = NULL, *gl_register_function = NULL;

    static PyObject *gl_use_task_registry(PyObject *data, PyObject *remove, PyObject *pending,
                                          PyObject *register_function) {
        if (data != Py_None && !(PySet_CheckExact(data) && PyList_CheckExact(pending))) {
            PyErr_SetString(PyExc_TypeError, "a WeakSet's data must be a set, its removals a list");
            return NULL;
        }
        Py_XSETREF(gl_register_function, Py_NewRef(register_function));
        Py_CLEAR(gl_tasks_data);
        Py_CLEAR(gl_tasks_remove);
        Py_CLEAR(gl_tasks_pending);
        if (data != Py_None) {
            gl_tasks_data = Py_NewRef(data);
            gl_tasks_remove = Py_NewRef(remove);
            gl_tasks_pending = Py_NewRef(pending);
        }
        Py_RETURN_NONE;
    }

    static int gl_register_task(PyObject *task) {
        PyObject *ref, *result;
        int status;
        if (gl_tasks_data != NULL && PyList_GET_SIZE(gl_tasks_pending) == 0) {
            ref = PyWeakref_NewRef(task, gl_tasks_remove);
            if (ref == NULL)
                return -1;
            status = PySet_Add(gl_tasks_data, ref);
            Py_DECREF(ref);
            return status;
        }
        if (gl_register_function == NULL) {
            PyErr_SetString(PyExc_RuntimeError, "glassloop: _register_task is not bound yet");
            return -1;
        }
        result = PyObject_CallOneArg(gl_register_function, task);
        if (result == NULL)
            return -1;
        Py_DECREF(result);
        return 0;
    }

    /* The entry points handed to the scheduler (scheduler.pxd's gl_task_entries). */
    static gl_task_entries gl_own_entries;

    static PyObject *gl_task_entries_capsule(PyObject *type, gl_task_run_t run, gl_task_wake_t wake,
                                             gl_task_name_t name) {
        if (!PyType_Check(type)) {
            PyErr_SetString(PyExc_TypeError, "Task must be a type");
            return NULL;
        }
        gl_own_entries.type = (PyTypeObject *)type;
        gl_own_entries.run = run;
        gl_own_entries.wake = wake;
        gl_own_entries.name = name;
        return PyCapsule_New(&gl_own_entries, GL_TASK_ENTRIES, NULL);
    }

    #define gl_future_done(fut) gl_call_future_method(&gl_future_done_method, (fut))
    #define gl_future_result(fut) gl_call_future_method(&gl_future_result_method, (fut))
    #define gl_future_get_loop(fut) gl_call_future_method(&gl_future_get_loop_method, (fut))

    /* What ``await task`` (and ``yield from task``) iterates over in the
       compiled build: the steps of task.py's pure __await__ (yield the task
       once if it is not done, then return its result()) without a generator
       and its frame per await.  On 3.11, whose await sends through am_send,
       the result is returned without a StopIteration.  An exact Task's done()
       and blocking flag are read in C; a subclass's through its methods and
       attributes; result() is always looked up, as an instance may carry its
       own (task.py's _cancelled_task_result).  A throw() or close() finishes
       it, as they finish the generator. */
    typedef struct {
        PyObject_HEAD
        PyObject *task;  /* NULL once finished */
        int exact;
        int yielded;
    } gl_task_await_iter;

    static PyTypeObject *gl_task_await_type = NULL;
    static PyObject *gl_str_done = NULL, *gl_str_result = NULL, *gl_str_blocking = NULL;

    static int gl_task_await_is_done(gl_task_await_iter *it) {
        PyObject *res = it->exact ? gl_future_done(it->task)
                                  : PyObject_CallMethodNoArgs(it->task, gl_str_done);
        int done;
        if (res == NULL)
            return -1;
        done = PyObject_IsTrue(res);
        Py_DECREF(res);
        return done;
    }

    static PySendResult gl_task_await_send(PyObject *self, PyObject *arg, PyObject **presult) {
        gl_task_await_iter *it = (gl_task_await_iter *)self;
        PyObject *task = it->task;
        int done, status;
        *presult = NULL;
        if (task == NULL) {  /* finished: as a finished generator */
            *presult = Py_NewRef(Py_None);
            return PYGEN_RETURN;
        }
        done = gl_task_await_is_done(it);
        if (done < 0)
            goto error;
        if (!done) {
            if (it->yielded) {
                PyErr_SetString(PyExc_RuntimeError, "await wasn't used with future");
                goto error;
            }
            if (it->exact && GL_BLOCKING_IN_C(task))
                status = gl_blocking_set(task, Py_True, gl_blocking_closure);
            else
                status = PyObject_SetAttr(task, gl_str_blocking, Py_True);
            if (status < 0)
                goto error;
            it->yielded = 1;
            *presult = Py_NewRef(task);
            return PYGEN_NEXT;
        }
        it->task = NULL;
        *presult = PyObject_CallMethodNoArgs(task, gl_str_result);
        Py_DECREF(task);
        return *presult == NULL ? PYGEN_ERROR : PYGEN_RETURN;
    error:
        Py_CLEAR(it->task);
        return PYGEN_ERROR;
    }

    /* A returned value, raised as a generator's: StopIteration(value). */
    static PyObject *gl_task_await_finish(PySendResult status, PyObject *result) {
        PyObject *stop;
        if (status != PYGEN_RETURN)
            return result;  /* the value yielded, or NULL with the error set */
        if (result == Py_None) {
            PyErr_SetNone(PyExc_StopIteration);
        } else {
            stop = PyObject_CallOneArg(PyExc_StopIteration, result);
            if (stop != NULL) {
                PyErr_SetObject(PyExc_StopIteration, stop);
                Py_DECREF(stop);
            }
        }
        Py_DECREF(result);
        return NULL;
    }

    static PyObject *gl_task_await_next(PyObject *self) {
        PyObject *result;
        PySendResult status = gl_task_await_send(self, Py_None, &result);
        return gl_task_await_finish(status, result);
    }

    static PyObject *gl_task_await_send_method(PyObject *self, PyObject *value) {
        PyObject *result;
        PySendResult status = gl_task_await_send(self, value, &result);
        return gl_task_await_finish(status, result);
    }

    static PyObject *gl_task_await_throw(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
        PyObject *kind, *value = Py_None, *tb = Py_None, *exc;
        if (nargs < 1 || nargs > 3) {
            PyErr_Format(PyExc_TypeError, "throw expected 1 to 3 arguments, got %zd", nargs);
            return NULL;
        }
        kind = args[0];
        if (nargs > 1)
            value = args[1];
        if (nargs > 2)
            tb = args[2];
        Py_CLEAR(((gl_task_await_iter *)self)->task);
        if (tb != Py_None && !PyTraceBack_Check(tb)) {
            PyErr_SetString(PyExc_TypeError, "throw() third argument must be a traceback object");
            return NULL;
        }
        if (PyExceptionInstance_Check(kind)) {
            if (value != Py_None) {
                PyErr_SetString(PyExc_TypeError, "instance exception may not have a separate value");
                return NULL;
            }
            exc = Py_NewRef(kind);
        } else if (PyExceptionClass_Check(kind)) {
            if (value != Py_None && PyObject_TypeCheck(value, (PyTypeObject *)kind))
                exc = Py_NewRef(value);
            else if (value == Py_None)
                exc = PyObject_CallNoArgs(kind);
            else if (PyTuple_Check(value))
                exc = PyObject_Call(kind, value, NULL);
            else
                exc = PyObject_CallOneArg(kind, value);
            if (exc == NULL)
                return NULL;
        } else {
            PyErr_Format(PyExc_TypeError,
                         "exceptions must be classes or instances deriving from BaseException, not %s",
                         Py_TYPE(kind)->tp_name);
            return NULL;
        }
        if (tb != Py_None && PyException_SetTraceback(exc, tb) < 0) {
            Py_DECREF(exc);
            return NULL;
        }
        PyErr_SetObject((PyObject *)Py_TYPE(exc), exc);
        Py_DECREF(exc);
        return NULL;
    }

    static PyObject *gl_task_await_close(PyObject *self, PyObject *unused) {
        Py_CLEAR(((gl_task_await_iter *)self)->task);
        Py_RETURN_NONE;
    }

    static int gl_task_await_traverse(PyObject *self, visitproc visit, void *arg) {
        Py_VISIT(Py_TYPE(self));
        Py_VISIT(((gl_task_await_iter *)self)->task);
        return 0;
    }

    static int gl_task_await_clear(PyObject *self) {
        Py_CLEAR(((gl_task_await_iter *)self)->task);
        return 0;
    }

    static void gl_task_await_dealloc(PyObject *self) {
        PyTypeObject *type = Py_TYPE(self);
        PyObject_GC_UnTrack(self);
        Py_CLEAR(((gl_task_await_iter *)self)->task);
        PyObject_GC_Del(self);
        Py_DECREF(type);
    }

    static PyMethodDef gl_task_await_methods[] = {
        {"send", (PyCFunction)gl_task_await_send_method, METH_O, NULL},
        {"throw", (PyCFunction)(void (*)(void))gl_task_await_throw, METH_FASTCALL, NULL},
        {"close", (PyCFunction)gl_task_await_close, METH_NOARGS, NULL},
        {NULL, NULL, 0, NULL}
    };

    static PyType_Slot gl_task_await_slots[] = {
        {Py_tp_dealloc, (void *)gl_task_await_dealloc},
        {Py_tp_traverse, (void *)gl_task_await_traverse},
        {Py_tp_clear, (void *)gl_task_await_clear},
        {Py_tp_iter, (void *)PyObject_SelfIter},
        {Py_tp_iternext, (void *)gl_task_await_next},
        {Py_am_send, (void *)gl_task_await_send},
        {Py_tp_methods, (void *)gl_task_await_methods},
        {0, NULL}
    };

    static PyType_Spec gl_task_await_spec = {
        "glassloop.kernel.task._TaskAwait", sizeof(gl_task_await_iter), 0,
        Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC, gl_task_await_slots
    };

    static PyObject *gl_task_await(PyObject *task, int exact) {
        gl_task_await_iter *it;
        if (gl_task_await_type == NULL) {
            gl_str_done = PyUnicode_InternFromString("done");
            gl_str_result = PyUnicode_InternFromString("result");
            gl_str_blocking = PyUnicode_InternFromString("_asyncio_future_blocking");
            if (gl_str_done == NULL || gl_str_result == NULL || gl_str_blocking == NULL)
                return NULL;
            gl_task_await_type = (PyTypeObject *)PyType_FromSpec(&gl_task_await_spec);
            if (gl_task_await_type == NULL)
                return NULL;
        }
        it = PyObject_GC_New(gl_task_await_iter, gl_task_await_type);
        if (it == NULL)
            return NULL;
        it->task = Py_NewRef(task);
        it->exact = exact;
        it->yielded = 0;
        PyObject_GC_Track((PyObject *)it);
        return (PyObject *)it;
    }
    """
    int _context_enter "PyContext_Enter" (object context) except -1
    int _context_exit "PyContext_Exit" (object context) except -1
    object _send "gl_task_send" (object coro, int *returned)
    object _use_future_methods "gl_use_future_methods" (object future_type, object done, object result, object get_loop)
    object _future_done "gl_future_done" (object fut)
    object _future_result "gl_future_result" (object fut)
    object _future_get_loop "gl_future_get_loop" (object fut)
    object _copy_context "PyContext_CopyCurrent" ()
    object _bind "PyMethod_New" (object function, object instance)
    object _use_future_blocking "gl_use_future_blocking" (object descriptor)
    object _future_blocking "gl_future_blocking" (object fut)
    object _use_task_blocking "gl_use_task_blocking" (object type)
    object _method_for "gl_method_for" (object type, object descriptor)
    int _future_unblock "gl_future_unblock" (object fut) except -1
    int _future_init_bare "gl_future_init_bare" (object fut) except -1
    int _future_init_loop "gl_future_init_loop" (object fut, object loop) except -1
    bint _is_kernel "gl_is_kernel" (object obj, type scheduler_type)
    object _use_task_registry "gl_use_task_registry" (object data, object remove, object pending, object register_function)
    int _register_task_c "gl_register_task" (object task) except -1
    int _future_del "gl_future_finalize" (object fut) except -1
    object _next_task_number "gl_next_task_number" ()
    object _task_await "gl_task_await" (object task, bint exact)
    object _use_current_tasks "gl_use_current_tasks" (object tasks, object enter, object leave)
    int _enter_task_c "gl_enter_task" (object loop, object task) except -1
    int _leave_task_c "gl_leave_task" (object loop, object task) except -1
    ctypedef int (*_task_run_t "gl_task_run_t")(object task) except -1
    ctypedef int (*_task_wake_t "gl_task_wake_t")(object task, object kernel, object fut) except -1
    ctypedef object (*_task_name_t "gl_task_name_t")(object task)
    object _task_entries_capsule "gl_task_entries_capsule" (object type, _task_run_t run, _task_wake_t wake, _task_name_t name)

cdef class Task(_asyncio.Future):
    cdef public bint _cancelled
    cdef public object _context
    cdef public object _coro
    cdef public object _fut_waiter
    cdef public Scheduler _kernel
    cdef public bint _log_destroy_pending
    cdef public bint _must_cancel
    cdef public object _name
    cdef public object _stack
    cdef public object _wake_fut
    cdef public Py_ssize_t _num_cancels_requested
    cdef public object _callback
    cdef public object _send_value
    cdef public object _cancelled_exc

    cdef _run_compiled(self)
    cdef _step_compiled(self, object woken_by)

cdef int _run_entry(object task) except -1
cdef int _wake_entry(object task, object kernel, object fut) except -1
cdef object _name_entry(object task)
