"""Latency histogram for the hot path: a C array of bucket counts and a ring
of recent samples, updated from the event loop thread only (no lock).

A prometheus-client Histogram takes a lock and walks Python objects per
observation; bench/bench_metrics.py measured that kind of bookkeeping at
several percent of an order's cost, this at well under one.
"""
from libc.stdint cimport int64_t, uint64_t

# nanoseconds; the exported bucket bounds are these over 1e9
cdef int64_t BOUNDS[N_BOUNDS]
BOUNDS[:] = [1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000,
             1000000, 2500000, 5000000, 10000000, 25000000, 50000000,
             100000000, 250000000, 500000000, 1000000000]

BUCKETS_NS = tuple(BOUNDS[i] for i in range(N_BOUNDS))


cdef class StageHistogram:

    cdef void observe_c(self, int64_t ns) noexcept:
        cdef int i = 0
        while i < N_BOUNDS and ns > BOUNDS[i]:
            i += 1
        self._counts[i] += 1
        self.count += 1
        self.sum_ns += ns

    def observe(self, int64_t ns):
        self.observe_c(ns)

    def observe_recent(self, int64_t ns, int64_t now_ns):
        """observe(), and keep (now, ns) for window_percentiles()."""
        cdef uint64_t slot = self._ring_n % RING
        self.observe_c(ns)
        self._ring_t[slot] = now_ns
        self._ring_v[slot] = ns
        self._ring_n += 1

    def bucket_counts(self):
        """Per-bucket (not cumulative) counts, the last one for +Inf."""
        return [self._counts[i] for i in range(N_BOUNDS + 1)]

    def recent(self):
        """The kept samples as a list of ns values, oldest first."""
        cdef uint64_t n = min(self._ring_n, <uint64_t>RING)
        cdef uint64_t start = self._ring_n - n
        return [self._ring_v[(start + i) % RING] for i in range(n)]

    def window_percentiles(self, int64_t now_ns, int64_t window_ns=60_000_000_000):
        """(count, p50, p99) in ns over the samples of the last window; None if none."""
        cdef uint64_t n = min(self._ring_n, <uint64_t>RING)
        cdef uint64_t start = self._ring_n - n, i, slot
        cdef int64_t horizon = now_ns - window_ns
        values = []
        for i in range(n):
            slot = (start + i) % RING
            if self._ring_t[slot] >= horizon:
                values.append(self._ring_v[slot])
        if not values:
            return None
        values.sort()
        k = len(values)
        return k, values[k // 2], values[min(k - 1, k * 99 // 100)]
