"""Exact decimal string <-> scaled integer conversion for the money path.

Prices and sizes cross the edges as decimal strings and live inside as
integers scaled by 10**decimals; the same integer is signed and sent in the
JSON body, so a conversion must never round. Floats are refused outright:
most decimal prices have no exact binary value, and silently accepting one
is how an order ends up signed for a different price than the one logged.

Parsing is a C loop over the ASCII bytes. Up to 19 significant digits fit a
uint64 and the scale-up is one 128-bit multiply, which covers every realistic
price and size; only larger mantissas go through Python int arithmetic.
Malformed input leaves the fast loop at once and is diagnosed by a separate,
slower pass (_raise_syntax), so the error codes cost nothing on valid input.
"""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_GET_SIZE, PyBytes_Check
from cpython.long cimport PyLong_Check, PyLong_AsLongLongAndOverflow
from cpython.unicode cimport PyUnicode_Check, PyUnicode_DecodeASCII
from cpython.bool cimport PyBool_Check

import re

cdef extern from "Python.h":
    const char *PyUnicode_AsUTF8AndSize(object s, Py_ssize_t *size) except NULL
    bint PyUnicode_IS_ASCII(object s)

cdef extern from "pylong.h":
    int gw_long_to_be(object v, unsigned char *out, size_t n, int is_signed) except -1

cdef extern from *:
    """
    #include <string.h>
    typedef unsigned __int128 gw_u128;

    static gw_u128 gw_pow10_u128[39];

    static void gw_init_pow10(void)
    {
        gw_u128 p = 1;
        for (int i = 0; i < 39; i++) {
            gw_pow10_u128[i] = p;
            p *= 10;
        }
    }

    /* 1 with *out = m * 10**k when the product fits in 128 bits, else 0. */
    static inline int gw_mul_pow10(unsigned long long m, int k, gw_u128 *out)
    {
        if (k > 38)
            return 0;
        return !__builtin_mul_overflow((gw_u128)m, gw_pow10_u128[k], out);
    }

    /* One allocation even for 128-bit magnitudes: negating a PyLong after the
     * fact would cost a second one, so the sign goes into the byte image. */
    static PyObject *gw_u128_to_pylong(gw_u128 v, int negative)
    {
        unsigned char b[17];
        if ((v >> 63) == 0) {
            long long s = (long long)v;
            return PyLong_FromLongLong(negative ? -s : s);
        }
        if (!negative && (v >> 64) == 0)
            return PyLong_FromUnsignedLongLong((unsigned long long)v);
        if (negative)
            v = ~v + 1;  /* low 128 bits of -v; the 17th byte carries the sign */
        for (int i = 0; i < 16; i++)
            b[i] = (unsigned char)(v >> (8 * i));
        b[16] = negative ? 0xFF : 0x00;
        return _PyLong_FromByteArray(b, 17, 1, 1);
    }

    static gw_u128 gw_u128_from_be(const unsigned char *be)
    {
        gw_u128 v = 0;
        for (int i = 0; i < 16; i++)
            v = (v << 8) | be[i];
        return v;
    }

    /* Writes the decimal digits of v backwards ending at end; returns the count.
     * 128-bit division is a libgcc call, so it only peels 19-digit chunks off
     * until the rest fits a uint64. */
    static Py_ssize_t gw_u128_digits(gw_u128 v, char *end)
    {
        const unsigned long long E19 = 10000000000000000000ULL;
        char *p = end;
        while ((v >> 64) != 0) {
            unsigned long long r = (unsigned long long)(v % E19);
            v /= E19;
            for (int i = 0; i < 19; i++) {
                *--p = (char)('0' + r % 10);
                r /= 10;
            }
        }
        unsigned long long u = (unsigned long long)v;
        do {
            *--p = (char)('0' + u % 10);
            u /= 10;
        } while (u);
        return (Py_ssize_t)(end - p);
    }
    """
    ctypedef struct gw_u128:
        pass
    void gw_init_pow10()
    bint gw_mul_pow10(unsigned long long m, int k, gw_u128 *out) noexcept nogil
    object gw_u128_to_pylong(gw_u128 v, int negative)
    gw_u128 gw_u128_from_be(const unsigned char *be) noexcept nogil
    Py_ssize_t gw_u128_digits(gw_u128 v, char *end) noexcept nogil

gw_init_pow10()

cdef enum:
    # 10**77 is the largest power of ten below 2**256, the widest EVM integer
    MAX_DECIMALS = 77
    # 39 digits of a u128 magnitude + 77 fractional zeros + sign, "0." and slack
    FMT_BUF = 160

U128_MAX = (1 << 128) - 1
cdef object _U128_MAX = U128_MAX
cdef tuple _POW10 = tuple(10 ** i for i in range(MAX_DECIMALS + 1))
# int() refuses longer digit strings (CPython's int_max_str_digits guard)
cdef Py_ssize_t _INT_STR_CHUNK = 4000
_NON_FINITE = re.compile(r"inf|infinity|s?nan[0-9]*")
# one way to match each digit run: an ambiguous pattern backtracks quadratically on long input
_EXPONENT = re.compile(r"[0-9]*(?:\.[0-9]*)?e[+-]?[0-9]*")


class FixedPointError(ValueError):
    """A decimal string that is not an exact value at the requested scale.

    code is a short machine string for metrics and venue error mapping:
    empty, whitespace, not_finite, exponent, sign_not_allowed, bad_char,
    missing_digits, excess_precision, out_of_range.
    """

    def __init__(self, code, message):
        ValueError.__init__(self, message)
        self.code = code

    def __reduce__(self):
        # the default would call cls(message) and lose the code across processes
        return (type(self), (self.code, self.args[0]))


cdef str _show(object text):
    # a bad feed line can be megabytes; the message only needs to identify it
    if len(text) > 64:
        return f"{text[:64]!r}... ({len(text)} chars)"
    return repr(text)


cdef _fail(str code, str message):
    raise FixedPointError(code, message)


cdef _check_decimals(int decimals, str name):
    if decimals < 0 or decimals > MAX_DECIMALS:
        raise ValueError(f"{name} must be in 0..{MAX_DECIMALS}, got {decimals}")


cdef _raise_syntax(object text, bint signed):
    """Diagnose input the fast loop rejected; always raises FixedPointError.

    The checks run from the most specific explanation to the least, so
    "1e-5" is reported as an exponent rather than as a misplaced sign.
    """
    cdef str s
    cdef str body
    cdef str lowered
    cdef Py_ssize_t i
    shown = _show(text)
    # positions stay aligned with the bytes: each undecodable byte becomes one U+FFFD
    s = text.decode("ascii", "replace") if PyBytes_Check(text) else text
    if len(s) == 0:
        _fail("empty", f"empty input {shown} is not a decimal number")
    for i, ch in enumerate(s):
        if ch.isspace():
            _fail("whitespace", f"whitespace at position {i} in {shown}: decimal strings must not be padded")
    body = s[1:] if s[0] in "+-" else s
    lowered = body.lower()
    # the spellings Decimal and float() accept, including NaN diagnostic payloads
    if _NON_FINITE.fullmatch(lowered):
        _fail("not_finite", f"{shown} is not a finite number")
    if _EXPONENT.fullmatch(lowered) and any("0" <= c <= "9" for c in lowered):
        _fail("exponent", f"exponent notation is not accepted: {shown}; write the digits out")
    if "+" in s:
        _fail("sign_not_allowed", f"'+' is not accepted: {shown}")
    if s[0] == "-" and not signed:
        _fail("sign_not_allowed", f"negative value {shown} where only non-negative values are allowed")
    for i, ch in enumerate(s):
        if ch == "-" and i > 0:
            _fail("bad_char", f"'-' at position {i} in {shown}: a sign may only lead")
        if not ("0" <= ch <= "9" or ch == "." or ch == "-"):
            what = f"byte 0x{text[i]:02x}" if PyBytes_Check(text) and ch == "\ufffd" else repr(ch)
            _fail("bad_char", f"{what} at position {i} in {shown} is not an ASCII digit or '.'")
    if body.count(".") > 1:
        _fail("bad_char", f"more than one '.' in {shown}")
    int_part, dot, frac_part = body.partition(".")
    if not int_part or (dot and not frac_part):
        _fail("missing_digits",
              f"{shown} needs digits on both sides of the '.'" if dot else f"{shown} has no digits")
    # unreachable unless the fast loop and this pass disagree; never return normally
    _fail("bad_char", f"{shown} is not a decimal number")


cdef object _digits_to_int(bytes digits):
    cdef Py_ssize_t n = len(digits), half
    if n <= _INT_STR_CHUNK:
        return int(digits)
    half = n // 2
    # the object cast keeps ** in Python ints; with C operands Cython would use pow() on doubles
    return _digits_to_int(digits[:half]) * (<object>10) ** (n - half) + _digits_to_int(digits[half:])


cdef _out_of_range(object text, int decimals, object max_value):
    cdef str limit = format_scaled_c(max_value, decimals)
    if len(limit) > 64:
        limit = f"{limit[:64]}... ({len(limit)} chars)"
    _fail("out_of_range", f"{_show(text)} is out of range: its magnitude exceeds the maximum {limit}")


cdef object parse_scaled_c(object text, int decimals, bint signed, object max_value):
    cdef const char *buf
    cdef Py_ssize_t n, i, int_start, int_end, frac_start, frac_end, sig_start, nint, nfrac, nd
    cdef bint neg = False, default_max
    cdef unsigned long long m
    cdef gw_u128 r
    cdef int k

    if PyUnicode_Check(text):
        if not PyUnicode_IS_ASCII(text):
            # cannot be valid, and skipping the UTF-8 conversion avoids caching a copy on the str
            _raise_syntax(text, signed)
        buf = PyUnicode_AsUTF8AndSize(text, &n)
    elif PyBytes_Check(text):
        buf = PyBytes_AS_STRING(text)
        n = PyBytes_GET_SIZE(text)
    else:
        raise TypeError(
            f"decimal strings are required (str or bytes), got {type(text).__name__}: "
            "floats are never accepted since most prices have no exact binary value")
    _check_decimals(decimals, "decimals")
    if max_value is None or max_value is _U128_MAX:
        max_value = _U128_MAX
        default_max = True
    else:
        if not PyLong_Check(max_value) or PyBool_Check(max_value):
            raise TypeError(f"max_value must be an int, got {type(max_value).__name__}")
        if max_value < 0:
            raise ValueError(f"max_value must be >= 0, got {max_value}")
        default_max = False

    i = 0
    if n > 0 and buf[0] == b'-':
        neg = True
        i = 1
    int_start = i
    while i < n and <unsigned char>(buf[i] - 48) < 10:
        i += 1
    int_end = i
    frac_start = frac_end = i
    if i < n and buf[i] == b'.':
        i += 1
        frac_start = i
        while i < n and <unsigned char>(buf[i] - 48) < 10:
            i += 1
        frac_end = i
        if frac_end == frac_start:
            i = -1
    if i != n or int_end == int_start or (neg and not signed):
        _raise_syntax(text, signed)

    # trailing zeros do not change the value, so they do not count as precision
    while frac_end > frac_start and buf[frac_end - 1] == b'0':
        frac_end -= 1
    nfrac = frac_end - frac_start
    if nfrac > decimals:
        _fail("excess_precision",
              f"{_show(text)} has {nfrac} fractional digits, more than the {decimals} this field allows")
    while int_start < int_end and buf[int_start] == b'0':
        int_start += 1
    nint = int_end - int_start
    k = decimals - <int>nfrac
    sig_start = frac_start
    if nint == 0:
        while sig_start < frac_end and buf[sig_start] == b'0':
            sig_start += 1
    nd = nint + (frac_end - sig_start)
    if nd == 0:
        return 0

    if nd <= 19:
        m = 0
        for i in range(int_start, int_end):
            m = m * 10 + <unsigned long long>(buf[i] - 48)
        for i in range(sig_start, frac_end):
            m = m * 10 + <unsigned long long>(buf[i] - 48)
        if gw_mul_pow10(m, k, &r):
            value = gw_u128_to_pylong(r, neg)
            if default_max:
                return value
            if (-value if neg else value) > max_value:
                _out_of_range(text, decimals, max_value)
            return value
        if default_max:
            _out_of_range(text, decimals, max_value)
        value = m * _POW10[k]
    else:
        # value >= 10**(nint + decimals - 1); refuse early when that alone
        # exceeds max_value, so a megabyte of digits costs one scan, not a bignum
        if nint > 0 and (nint + decimals - 1) * 3321928 // 1000000 >= max_value.bit_length():
            _out_of_range(text, decimals, max_value)
        value = _digits_to_int(buf[int_start:int_end] + buf[sig_start:frac_end]) * _POW10[k]
    if value > max_value:
        _out_of_range(text, decimals, max_value)
    return -value if neg else value


cdef str _place_point(const char *digits, Py_ssize_t n, bint neg, int decimals, char *out):
    """Render the digit run digits[0:n] (nonzero value) with decimals implied places."""
    cdef Py_ssize_t pos = 0, t = 0, j, keep
    if neg:
        out[pos] = b'-'
        pos += 1
    while t < decimals and t < n and digits[n - 1 - t] == b'0':
        t += 1
    if n > decimals:
        for j in range(n - decimals):
            out[pos] = digits[j]
            pos += 1
    else:
        out[pos] = b'0'
        pos += 1
    keep = decimals - t
    if keep > 0:
        out[pos] = b'.'
        pos += 1
        if n > decimals:
            for j in range(n - decimals, n - t):
                out[pos] = digits[j]
                pos += 1
        else:
            for j in range(decimals - n):
                out[pos] = b'0'
                pos += 1
            for j in range(n - t):
                out[pos] = digits[j]
                pos += 1
    return PyUnicode_DecodeASCII(out, pos, NULL)


cdef str format_scaled_c(object value, int decimals):
    cdef long long sv
    cdef int overflow = 0
    cdef unsigned long long u
    cdef bint neg
    cdef char digits[48]
    cdef char out[FMT_BUF]
    cdef unsigned char be[16]
    cdef Py_ssize_t n
    cdef str s, int_part, frac_part
    if not PyLong_Check(value) or PyBool_Check(value):
        raise TypeError(f"format_scaled takes an int, got {type(value).__name__}")
    _check_decimals(decimals, "decimals")
    sv = PyLong_AsLongLongAndOverflow(value, &overflow)
    if overflow == 0:
        if sv == 0:
            return "0"
        neg = sv < 0
        # LLONG_MIN has no positive counterpart, so negate in unsigned arithmetic
        u = (0ULL - <unsigned long long>sv) if neg else <unsigned long long>sv
        n = 0
        while u:
            digits[47 - n] = <char>(48 + u % 10)
            u //= 10
            n += 1
        return _place_point(digits + 48 - n, n, neg, decimals, out)
    neg = value < 0
    magnitude = -value if neg else value
    if magnitude.bit_length() <= 128:
        gw_long_to_be(magnitude, be, 16, 0)
        n = gw_u128_digits(gw_u128_from_be(be), digits + 48)
        return _place_point(digits + 48 - n, n, neg, decimals, out)
    s = str(magnitude)
    if decimals == 0:
        return "-" + s if neg else s
    s = s.rjust(decimals + 1, "0")
    int_part = s[:-decimals]
    frac_part = s[-decimals:].rstrip("0")
    s = int_part + "." + frac_part if frac_part else int_part
    return "-" + s if neg else s


cdef object rescale_c(object value, int from_decimals, int to_decimals):
    if not PyLong_Check(value) or PyBool_Check(value):
        raise TypeError(f"rescale takes an int, got {type(value).__name__}")
    _check_decimals(from_decimals, "from_decimals")
    _check_decimals(to_decimals, "to_decimals")
    if to_decimals >= from_decimals:
        return value * _POW10[to_decimals - from_decimals]
    q, rem = divmod(value, _POW10[from_decimals - to_decimals])
    if rem:
        _fail("excess_precision",
              f"rescaling {_show(str(value))} from {from_decimals} to {to_decimals} decimals "
              "would drop nonzero digits")
    return q


def parse_scaled(text, int decimals, *, bint signed=False, max_value=U128_MAX):
    """Parse a decimal string into an integer scaled by 10**decimals, exactly.

    Accepts str or bytes of ASCII digits with at most one '.', digits on both
    sides of it, and a leading '-' only when signed. Raises FixedPointError
    (with .code) for anything that is not exactly representable within
    max_value, and TypeError for non-string input such as floats.
    """
    return parse_scaled_c(text, decimals, signed, max_value)


def format_scaled(value, int decimals):
    """The shortest exact decimal string for value / 10**decimals."""
    return format_scaled_c(value, decimals)


def rescale(value, int from_decimals, int to_decimals):
    """Move value from one scale to another; refuses to drop nonzero digits."""
    return rescale_c(value, from_decimals, to_decimals)
