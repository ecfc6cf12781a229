cdef enum FieldKind:
    KIND_UINT = 0
    KIND_INT = 1
    KIND_ADDRESS = 2
    KIND_BOOL = 3
    KIND_BYTESN = 4
    KIND_STRING = 5
    KIND_BYTES = 6

cdef enum:
    MAX_FIELDS = 64

cdef int encode_address(object value, unsigned char *out) except -1
cdef int encode_int(object value, int bits, bint signed, unsigned char *out) except -1

from libc.stdint cimport uint64_t

cdef class StructHasher:
    cdef readonly str type_name
    cdef readonly bytes type_hash
    cdef readonly bytes domain_separator
    cdef readonly tuple field_names
    cdef int n_fields
    cdef int kinds[MAX_FIELDS]
    cdef int sizes[MAX_FIELDS]
    cdef unsigned char prefix[66]
    # keccak state after the first 136-byte block of the last message, and that block:
    # adapters sign runs of orders whose first fields (account, product) repeat
    cdef uint64_t first_state[25]
    cdef unsigned char first_block[136]
    cdef bint first_valid
    cdef int _struct_hash(self, tuple values, unsigned char *out) except -1
    cdef void _hash_buffer(self, const unsigned char *buf, size_t n, unsigned char *out) noexcept
