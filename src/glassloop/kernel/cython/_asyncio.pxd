# The C future, as much of it as a subclass needs: its size (the build passes
# GL_FUTURE_BASICSIZE = asyncio.Future.__basicsize__), not its fields.
cdef extern from *:
    """
    #ifndef GL_FUTURE_BASICSIZE
    #error "GL_FUTURE_BASICSIZE must be asyncio.Future.__basicsize__"
    #endif
    typedef struct {
        PyObject_HEAD
        char gl_opaque[GL_FUTURE_BASICSIZE - sizeof(PyObject)];
    } GLFutureObj;
    """
    ctypedef class _asyncio.Future [object GLFutureObj, check_size ignore]:
        pass
