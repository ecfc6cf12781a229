"""keccak-256 (Ethereum's, not SHA3-256) over the C permutation in keccak_impl.h."""

from cpython.buffer cimport PyBUF_SIMPLE, PyObject_GetBuffer, PyBuffer_Release
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_GET_SIZE, PyBytes_FromStringAndSize, PyBytes_CheckExact

cdef extern from "keccak_impl.h" nogil:
    void keccak256_raw(const unsigned char *data, size_t n, unsigned char *out)


cdef void keccak256_c(const unsigned char *data, size_t n, unsigned char *out) noexcept nogil:
    keccak256_raw(data, n, out)


cpdef bytes keccak256(object data):
    """Return the 32-byte keccak-256 digest of a bytes-like object."""
    cdef unsigned char out[32]
    cdef Py_buffer view
    if PyBytes_CheckExact(data):
        keccak256_raw(<const unsigned char *>PyBytes_AS_STRING(data), <size_t>PyBytes_GET_SIZE(data), out)
    else:
        if isinstance(data, str):
            raise TypeError("keccak256 takes bytes, not str: encode the text first")
        PyObject_GetBuffer(data, &view, PyBUF_SIMPLE)
        try:
            keccak256_raw(<const unsigned char *>view.buf, <size_t>view.len, out)
        finally:
            PyBuffer_Release(&view)
    return PyBytes_FromStringAndSize(<char *>out, 32)
