# Cython's declarations for datagram.py (the optional compiled build): the
# datagram transport is an extension type over stream.pxd's FdTransport, so
# its state is C fields (a Python subclass of FdTransport would reach the
# base's fields through descriptors, slower than the pure build's slots).
# It still receives and sends through its socket object's methods.
from glassloop.io.stream cimport FdTransport


cdef class DatagramTransport(FdTransport):
    cdef dict __dict__
    cdef object __weakref__
    cdef public object _sock
    cdef public object _address
    cdef public bint _connected
    cdef public Py_ssize_t _buffer_size
    cdef public Py_ssize_t _read_size

    cdef _send_one(self, object data, object addr)
