# C-level entry points for other core modules (cimport gateway._core.framing).

cdef class FrameSplitter:
    # the one pending partial frame, its header included; never more than one
    cdef unsigned char *_buf
    cdef Py_ssize_t _len
    cdef Py_ssize_t _cap
    # header + payload size of the pending frame once its header is in, else 0
    cdef Py_ssize_t _need
    cdef readonly Py_ssize_t max_frame
    # why the stream broke; once set, every feed raises
    cdef str _error
    # for a protocol that already holds a pointer (e.g. a BufferedProtocol)
    cdef list feed_c(self, const unsigned char *data, Py_ssize_t n)
    cdef int _append(self, const unsigned char *data, Py_ssize_t n) except -1
    cdef Py_ssize_t _check(self, Py_ssize_t length, list frames) except -1
    cdef void _reset(self) noexcept

cpdef bytes encode_frame(object payload)
