"""Compiled EIP-712 hashing for one fixed struct type.

A venue adapter builds one StructHasher per struct it signs (through
gateway.eip712.StructType, which computes the type hash and domain separator
with the general encoder). Per message it then only encodes the field values
into one stack buffer and runs keccak twice: no dicts, no type parsing.
"""

from cpython.bytes cimport PyBytes_FromStringAndSize, PyBytes_AS_STRING, PyBytes_GET_SIZE, PyBytes_Check
from cpython.long cimport PyLong_Check
from cpython.unicode cimport PyUnicode_Check
from cpython.bool cimport PyBool_Check
from libc.stdint cimport uint64_t
from libc.string cimport memcmp, memcpy, memset

from gateway._core.keccak cimport keccak256_c

cdef extern from "keccak_impl.h" nogil:
    void keccak_absorb_blocks(uint64_t *s, const unsigned char *data, size_t nblocks)
    void keccak256_finish(uint64_t *s, const unsigned char *data, size_t n, unsigned char *out)

cdef extern from "pylong.h":
    int gw_long_to_be(object v, unsigned char *out, size_t n, int is_signed) except -1

cdef extern from "Python.h":
    const char *PyUnicode_AsUTF8AndSize(object s, Py_ssize_t *size) except NULL

KINDS = {
    "uint": KIND_UINT, "int": KIND_INT, "address": KIND_ADDRESS, "bool": KIND_BOOL,
    "bytesN": KIND_BYTESN, "string": KIND_STRING, "bytes": KIND_BYTES,
}


cdef inline int _hexval(unsigned char c) noexcept nogil:
    if 48 <= c <= 57:
        return c - 48
    if 97 <= c <= 102:
        return c - 87
    if 65 <= c <= 70:
        return c - 55
    return -1


cdef int encode_address(object value, unsigned char *out) except -1:
    """Write a 20-byte address right-aligned into the 32-byte word at out."""
    cdef const char *s
    cdef Py_ssize_t n, i
    cdef int hi, lo
    memset(out, 0, 12)
    if PyUnicode_Check(value):
        s = PyUnicode_AsUTF8AndSize(value, &n)
        if n != 42 or s[0] != b'0' or (s[1] != b'x' and s[1] != b'X'):
            raise ValueError(f"address must be 0x followed by 40 hex digits, got {value!r}")
        for i in range(20):
            hi = _hexval(s[2 + 2 * i])
            lo = _hexval(s[3 + 2 * i])
            if hi < 0 or lo < 0:
                raise ValueError(f"address has a non-hex digit: {value!r}")
            out[12 + i] = <unsigned char>(hi * 16 + lo)
        return 0
    if PyBytes_Check(value) and PyBytes_GET_SIZE(value) == 20:
        memcpy(out + 12, PyBytes_AS_STRING(value), 20)
        return 0
    raise TypeError(f"address must be a 0x-hex str or 20 bytes, got {type(value).__name__}")


cdef int encode_int(object value, int bits, bint signed, unsigned char *out) except -1:
    """Write value as a 32-byte big-endian word, checking it fits in (u)int<bits>."""
    cdef int i, top
    cdef unsigned char fill
    if bits < 8 or bits > 256 or bits % 8:
        # the checks below index out[] by bits: never outside the 32-byte word
        raise ValueError(f"{'int' if signed else 'uint'}{bits} is not an EIP-712 type (8 to 256 bits, in steps of 8)")
    if not PyLong_Check(value) or PyBool_Check(value):
        raise TypeError(f"{'int' if signed else 'uint'}{bits} takes an int, got {type(value).__name__}")
    try:
        gw_long_to_be(value, out, 32, signed)
    except OverflowError:
        raise ValueError(f"{value} does not fit in {'int' if signed else 'uint'}{bits}") from None
    if bits == 256:
        return 0
    top = 32 - bits // 8
    fill = 0xFF if (signed and (out[0] & 0x80)) else 0
    for i in range(top):
        if out[i] != fill:
            raise ValueError(f"{value} does not fit in {'int' if signed else 'uint'}{bits}")
    if signed and ((out[top] & 0x80) != (fill & 0x80)):
        raise ValueError(f"{value} does not fit in int{bits}")
    return 0


def _check_width(name, str kind, size) -> None:
    """The widths EIP-712 has: uint/int 8 to 256 bits in steps of 8, bytes1 to bytes32; each
    value is copied into one 32-byte word, so anything else would write past it."""
    if kind in ("uint", "int"):
        if not isinstance(size, int) or not 8 <= size <= 256 or size % 8:
            raise ValueError(f"field {name!r}: {kind}{size} is not an EIP-712 type "
                             f"({kind} takes 8 to 256 bits, in steps of 8)")
    elif kind == "bytesN":
        if not isinstance(size, int) or not 1 <= size <= 32:
            raise ValueError(f"field {name!r}: bytes{size} is not an EIP-712 type (bytes1 to bytes32)")


cdef class StructHasher:
    """Hashes messages of one struct type under one domain.

    fields: sequence of (name, kind, size) where kind is a key of KINDS and
    size is the bit width for uint/int and the byte length for bytesN.
    """

    def __init__(self, str type_name, bytes type_hash, bytes domain_separator, fields):
        cdef int i
        if len(type_hash) != 32 or len(domain_separator) != 32:
            raise ValueError("type_hash and domain_separator must be 32 bytes")
        fields = tuple(fields)
        if len(fields) > MAX_FIELDS:
            raise ValueError(f"a fast-path struct holds at most {MAX_FIELDS} fields")
        self.type_name = type_name
        self.type_hash = type_hash
        self.domain_separator = domain_separator
        self.n_fields = len(fields)
        self.field_names = tuple(f[0] for f in fields)
        for i, (name, kind, size) in enumerate(fields):
            if kind not in KINDS:
                raise ValueError(f"field {name!r}: kind {kind!r} has no fast path")
            _check_width(name, kind, size)
            self.kinds[i] = KINDS[kind]
            self.sizes[i] = size
        self.prefix[0] = 0x19
        self.prefix[1] = 0x01
        memcpy(self.prefix + 2, PyBytes_AS_STRING(domain_separator), 32)

    cdef int _struct_hash(self, tuple values, unsigned char *out) except -1:
        cdef unsigned char buf[32 * (MAX_FIELDS + 1)]
        cdef unsigned char *w
        cdef int i, kind
        cdef const char *s
        cdef Py_ssize_t n
        cdef object v
        if len(values) != self.n_fields:
            raise ValueError(f"{self.type_name} takes {self.n_fields} values, got {len(values)}")
        memcpy(buf, PyBytes_AS_STRING(self.type_hash), 32)
        for i in range(self.n_fields):
            w = buf + 32 * (i + 1)
            v = values[i]
            kind = self.kinds[i]
            try:
                if kind == KIND_UINT:
                    encode_int(v, self.sizes[i], False, w)
                elif kind == KIND_ADDRESS:
                    encode_address(v, w)
                elif kind == KIND_BOOL:
                    if not PyBool_Check(v):
                        raise TypeError(f"bool takes True or False, got {type(v).__name__}")
                    memset(w, 0, 32)
                    w[31] = 1 if v is True else 0
                elif kind == KIND_INT:
                    encode_int(v, self.sizes[i], True, w)
                elif kind == KIND_STRING:
                    if not PyUnicode_Check(v):
                        raise TypeError(f"string takes str, got {type(v).__name__}")
                    s = PyUnicode_AsUTF8AndSize(v, &n)
                    keccak256_c(<const unsigned char *>s, <size_t>n, w)
                elif kind == KIND_BYTES:
                    if not PyBytes_Check(v):
                        raise TypeError(f"bytes takes bytes, got {type(v).__name__}")
                    keccak256_c(<const unsigned char *>PyBytes_AS_STRING(v), <size_t>PyBytes_GET_SIZE(v), w)
                else:  # KIND_BYTESN
                    if self.sizes[i] < 1 or self.sizes[i] > 32:  # never copy past the 32-byte slot
                        raise ValueError(f"bytes{self.sizes[i]} is not an EIP-712 type")
                    if not PyBytes_Check(v) or PyBytes_GET_SIZE(v) != self.sizes[i]:
                        raise TypeError(f"bytes{self.sizes[i]} takes exactly {self.sizes[i]} bytes")
                    memset(w, 0, 32)
                    memcpy(w, PyBytes_AS_STRING(v), self.sizes[i])
            except (TypeError, ValueError) as exc:
                raise type(exc)(f"{self.type_name}.{self.field_names[i]}: {exc}") from None
        self._hash_buffer(buf, <size_t>(32 * (self.n_fields + 1)), out)
        return 0

    cdef void _hash_buffer(self, const unsigned char *buf, size_t n, unsigned char *out) noexcept:
        cdef uint64_t state[25]
        if n <= 136:
            keccak256_c(buf, n, out)
            return
        if self.first_valid and memcmp(buf, self.first_block, 136) == 0:
            memcpy(state, self.first_state, sizeof(state))
        else:
            memset(state, 0, sizeof(state))
            keccak_absorb_blocks(state, buf, 1)
            memcpy(self.first_state, state, sizeof(state))
            memcpy(self.first_block, buf, 136)
            self.first_valid = True
        keccak256_finish(state, buf + 136, n - 136, out)

    def struct_hash(self, tuple values):
        """hashStruct(message) for values given in field order."""
        cdef unsigned char out[32]
        self._struct_hash(values, out)
        return PyBytes_FromStringAndSize(<char *>out, 32)

    def digest(self, tuple values):
        """The 32-byte EIP-712 digest keccak(0x1901 ‖ domainSeparator ‖ hashStruct)."""
        cdef unsigned char msg[66]
        cdef unsigned char out[32]
        memcpy(msg, self.prefix, 34)
        self._struct_hash(values, msg + 34)
        keccak256_c(msg, 66, out)
        return PyBytes_FromStringAndSize(<char *>out, 32)
