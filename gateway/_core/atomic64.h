/* 64-bit atomics on a word that other processes map too (nonce.pyx).
 *
 * The GCC/Clang __atomic builtins, wrapped so Cython can declare them. The
 * word lives in a MAP_SHARED page, so an atomic that fell back to a lock
 * would guard it with a lock private to this process and stop being atomic
 * for the others: refuse to build where 64-bit atomics are not lock-free.
 */
#ifndef GATEWAY_ATOMIC64_H
#define GATEWAY_ATOMIC64_H

#include <stdint.h>

_Static_assert(__atomic_always_lock_free(sizeof(uint64_t), 0),
               "gateway nonce file needs lock-free 64-bit atomics");

/* Acquire is enough: the value is only a guess that the CAS below checks. */
static inline uint64_t gw_atomic_load_u64(const uint64_t *p)
{
    return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

/* Strong CAS: a spurious failure would only cost another clock read, but the
 * strong form keeps the retry loop's reasoning simple. On failure *expected
 * receives the current value. Returns nonzero when desired was stored. */
static inline int gw_atomic_cas_u64(uint64_t *p, uint64_t *expected, uint64_t desired)
{
    return __atomic_compare_exchange_n(p, expected, desired, 0,
                                       __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
}

static inline void gw_atomic_store_u64(uint64_t *p, uint64_t v)
{
    __atomic_store_n(p, v, __ATOMIC_SEQ_CST);
}

#endif
