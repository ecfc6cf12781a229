"""Frames on the strategy socket: a 4-byte big-endian unsigned length, then
that many payload bytes.

The socket hands over arbitrary chunks, so a frame may straddle many reads
and one read may hold many frames. Frames are cut straight out of each chunk;
only the one frame left incomplete at the end of a chunk is copied aside, so
every byte is copied at most twice however the stream is chopped, and a chunk
of whole frames is never copied into a buffer at all.

The length comes from the peer, so it is checked against max_frame as soon as
its 4 bytes are in: nothing is allocated for the body up front (the pending
buffer only grows with bytes that actually arrived) and a bad length fails at
once instead of waiting for gigabytes that will never come.
"""

from cpython.buffer cimport PyBUF_SIMPLE, PyObject_GetBuffer, PyBuffer_Release
from cpython.bytes cimport PyBytes_FromStringAndSize, PyBytes_AS_STRING, PyBytes_GET_SIZE, PyBytes_CheckExact
from cpython.mem cimport PyMem_Free, PyMem_Realloc
from libc.stdint cimport uint32_t
from libc.string cimport memcpy

cdef enum:
    HEADER = 4
    # a pending buffer larger than this is freed once its frame is out, so an
    # idle connection does not keep its largest frame's worth of memory
    KEEP_CAPACITY = 65536
    MIN_CAPACITY = 256

cdef Py_ssize_t MAX_LENGTH = 0xFFFFFFFF


class FrameError(ValueError):
    """The byte stream is not valid framing; the connection cannot recover.

    frames holds the whole frames that came before the bad header in the same
    feed() call, so what the caller sees does not depend on how the stream
    happened to be chunked.
    """

    def __init__(self, message, frames=()):
        super().__init__(message)
        self.frames = list(frames)


cdef inline Py_ssize_t _be32(const unsigned char *p) noexcept nogil:
    return <Py_ssize_t>((<uint32_t>p[0] << 24) | (<uint32_t>p[1] << 16) | (<uint32_t>p[2] << 8) | <uint32_t>p[3])


cdef class FrameSplitter:
    """Turns chunks of the stream into frame payloads.

    feed(data) returns every frame completed by data, in order, and keeps the
    incomplete rest. A length of 0 or above max_frame raises FrameError, and
    so does every feed after it.
    """

    def __cinit__(self):
        self._buf = NULL
        self._len = 0
        self._cap = 0
        self._need = 0
        self._error = None

    def __init__(self, Py_ssize_t max_frame=1 << 20):
        if max_frame < 1 or max_frame > MAX_LENGTH:
            raise ValueError(f"max_frame must be between 1 and {MAX_LENGTH}, not {max_frame}")
        self.max_frame = max_frame

    def __dealloc__(self):
        PyMem_Free(self._buf)

    @property
    def buffered(self):
        """Bytes held back: the start of a frame not yet complete."""
        return self._len

    @property
    def failed(self):
        return self._error is not None

    cdef void _reset(self) noexcept:
        self._len = 0
        self._need = 0
        if self._cap > KEEP_CAPACITY:
            PyMem_Free(self._buf)
            self._buf = NULL
            self._cap = 0

    cdef int _append(self, const unsigned char *data, Py_ssize_t n) except -1:
        cdef Py_ssize_t want = self._len + n, cap
        cdef unsigned char *grown
        if want > self._cap:
            # doubling keeps byte-at-a-time feeding linear; capping at the
            # frame's size keeps a max_frame frame from costing 2x max_frame
            cap = max(want, 2 * self._cap, <Py_ssize_t>MIN_CAPACITY)
            if self._need and cap > self._need:
                cap = self._need
            grown = <unsigned char *>PyMem_Realloc(self._buf, cap)
            if grown == NULL:
                raise MemoryError()
            self._buf = grown
            self._cap = cap
        memcpy(self._buf + self._len, data, n)
        self._len = want
        return 0

    cdef Py_ssize_t _check(self, Py_ssize_t length, list frames) except -1:
        if length == 0:
            self._error = "zero-length frame"
        elif length > self.max_frame:
            self._error = f"frame length {length} exceeds max_frame {self.max_frame}"
        else:
            return length
        self._reset()
        raise FrameError(self._error, frames)

    cdef list feed_c(self, const unsigned char *data, Py_ssize_t n):
        cdef list frames = []
        cdef Py_ssize_t off = 0, take, length = 0
        if self._error is not None:
            raise FrameError(f"frame stream already failed: {self._error}")

        if self._len:
            # finish the pending frame from the front of data
            if self._len < HEADER:
                take = min(HEADER - self._len, n)
                self._append(data, take)
                off = take
                if self._len < HEADER:
                    return frames
                self._need = HEADER + self._check(_be32(self._buf), frames)
            take = min(self._need - self._len, n - off)
            self._append(data + off, take)
            off += take
            if self._len < self._need:
                return frames
            frames.append(PyBytes_FromStringAndSize(<char *>self._buf + HEADER, self._need - HEADER))
            self._reset()

        while n - off >= HEADER:
            length = self._check(_be32(data + off), frames)
            if n - off - HEADER < length:
                break
            frames.append(PyBytes_FromStringAndSize(<char *>data + off + HEADER, length))
            off += HEADER + length

        if off < n:
            if n - off >= HEADER:
                # the loop above already checked this header
                self._need = HEADER + length
            self._append(data + off, n - off)
        return frames

    def feed(self, data):
        """Add a chunk of the stream; return the payloads of the frames it completed."""
        cdef Py_buffer view
        if PyBytes_CheckExact(data):
            return self.feed_c(<const unsigned char *>PyBytes_AS_STRING(data), PyBytes_GET_SIZE(data))
        if isinstance(data, str):
            raise TypeError("FrameSplitter.feed takes bytes, not str")
        PyObject_GetBuffer(data, &view, PyBUF_SIMPLE)
        try:
            return self.feed_c(<const unsigned char *>view.buf, view.len)
        finally:
            PyBuffer_Release(&view)

    def __repr__(self):
        state = f"failed: {self._error}" if self._error is not None else f"buffered={self._len}"
        return f"<FrameSplitter max_frame={self.max_frame} {state}>"


cpdef bytes encode_frame(object payload):
    """Return the length prefix followed by payload."""
    cdef Py_buffer view
    cdef bytes out
    cdef unsigned char *p
    cdef Py_ssize_t n
    if isinstance(payload, str):
        raise TypeError("encode_frame takes bytes, not str: encode the text first")
    PyObject_GetBuffer(payload, &view, PyBUF_SIMPLE)
    try:
        n = view.len
        if n == 0:
            raise FrameError("empty payload: a zero-length frame is a protocol error")
        if n > MAX_LENGTH:
            raise FrameError(f"payload of {n} bytes does not fit a 4-byte length")
        out = PyBytes_FromStringAndSize(NULL, n + HEADER)
        p = <unsigned char *>PyBytes_AS_STRING(out)
        p[0] = <unsigned char>(n >> 24)
        p[1] = <unsigned char>(n >> 16)
        p[2] = <unsigned char>(n >> 8)
        p[3] = <unsigned char>n
        memcpy(p + HEADER, view.buf, n)
        return out
    finally:
        PyBuffer_Release(&view)
