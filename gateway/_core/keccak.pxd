# C-level entry points for other core modules (cimport gateway._core.keccak).

cdef void keccak256_c(const unsigned char *data, size_t n, unsigned char *out) noexcept nogil
cpdef bytes keccak256(object data)
