from libc.stdint cimport int64_t, uint64_t

cdef enum:
    N_BOUNDS = 19        # 1 us .. 1 s, 1-2.5-5 per decade
    RING = 65536         # recent samples kept for windowed percentiles

cdef class StageHistogram:
    cdef uint64_t _counts[N_BOUNDS + 1]
    cdef readonly uint64_t count
    cdef readonly int64_t sum_ns
    cdef int64_t _ring_t[RING]
    cdef int64_t _ring_v[RING]
    cdef uint64_t _ring_n
    cdef void observe_c(self, int64_t ns) noexcept
