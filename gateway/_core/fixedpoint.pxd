# C-level entry points for other core modules (cimport gateway._core.fixedpoint).
#
# max_value=None means the default bound 2**128 - 1, so a caller that has no
# bound of its own keeps the fast path without holding the module's constant.

cdef object parse_scaled_c(object text, int decimals, bint signed, object max_value)
cdef str format_scaled_c(object value, int decimals)
cdef object rescale_c(object value, int from_decimals, int to_decimals)
