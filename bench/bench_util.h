/* bench_util.h - small helpers the benchmark programs share (header only:
 * every bench/bench_*.c is its own executable). */
#ifndef RMQ_BENCH_UTIL_H
#define RMQ_BENCH_UTIL_H

#include <stdint.h>

/* qsort comparator for uint64_t latencies. */
static inline int bench_cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

#endif
