/* Big-endian two's-complement export of a Python int into a fixed buffer.
 * CPython has no public call for this before 3.13; the private one changed
 * arity in 3.13, so the difference is kept here in one place. */
#ifndef GATEWAY_PYLONG_H
#define GATEWAY_PYLONG_H
#include <Python.h>

static inline int gw_long_to_be(PyObject *v, unsigned char *out, size_t n, int is_signed)
{
#if PY_VERSION_HEX >= 0x030D0000
    return _PyLong_AsByteArray((PyLongObject *)v, out, n, 0, is_signed, 1);
#else
    return _PyLong_AsByteArray((PyLongObject *)v, out, n, 0, is_signed);
#endif
}
#endif
