# C-level entry points for other core modules (cimport gateway._core.nonce).

from libc.stdint cimport uint64_t

cdef class NonceAllocator:
    # the whole mapped header; NULL once closed, which is what next_c checks
    cdef unsigned char *_map
    # the high-water mark inside _map
    cdef uint64_t *_word
    cdef int _unit_code
    cdef readonly str path
    cdef readonly str unit
    # 0 only with an exception set: a real nonce is never below the clock
    cdef unsigned long long next_c(self) except? 0
