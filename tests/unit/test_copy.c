/* test_copy.c - rmq_copy_stream, and each of its loops this CPU has,
 * against memcpy: every head alignment of source and destination, lengths around the streaming threshold and the
 * 64-byte loop, a multi-MiB copy, and that nothing outside dst changes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "common/copy.h"

#define GUARD 64

static void fill(uint8_t *p, size_t n, uint32_t seed) {
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1103515245u + 12345u;
        p[i] = (uint8_t)(seed >> 16);
    }
}

/* Copies len bytes from src+soff to dst+doff and checks dst against the
 * source and the guard bytes around it against their old value. */
static void check_copy_path(int path, size_t len, size_t soff, size_t doff) {
    size_t cap = len + 2 * GUARD + 32;
    uint8_t *src = malloc(cap), *dst = malloc(cap), *ref = malloc(cap);
    assert_non_null(src);
    assert_non_null(dst);
    assert_non_null(ref);
    fill(src, cap, (uint32_t)(len * 31 + soff));
    fill(dst, cap, (uint32_t)(len * 17 + doff + 1));
    memcpy(ref, dst, cap);
    memcpy(ref + GUARD + doff, src + GUARD + soff, len);
    if (path < 0) rmq_copy_stream(dst + GUARD + doff, src + GUARD + soff, len);
    else rmq_copy_stream_force(path, dst + GUARD + doff, src + GUARD + soff, len);
    assert_memory_equal(dst, ref, cap);
    free(src);
    free(dst);
    free(ref);
}

/* the public entry point, then each loop this CPU has on its own */
static void check_copy(size_t len, size_t soff, size_t doff) {
    check_copy_path(-1, len, soff, doff);
    for (int path = 1; path <= rmq_copy_stream_path(); path++) check_copy_path(path, len, soff, doff);
}

static void test_small_lengths(void **s) {
    (void)s;
    for (size_t len = 0; len <= 200; len++) check_copy(len, len % 7, len % 13);
}

static void test_threshold_and_tails(void **s) {
    (void)s;
    /* around the threshold, the 64-byte loop, the four-page block */
    size_t lens[] = {4095, 4096, 4097, 4096 + 15, 4096 + 63, 4096 + 64, 4096 + 65, 8191,
                     16384 - 1, 16384, 16384 + 64 + 1, 16384 + 4096 + 63, 65536 + 17};
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++)
        for (size_t soff = 0; soff < 16; soff++)
            for (size_t doff = 0; doff < 16; doff++) check_copy(lens[i], soff, doff);
}

static void test_large(void **s) {
    (void)s;
    check_copy((size_t)3 << 20, 0, 0);
    check_copy(((size_t)3 << 20) + 37, 5, 11);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_small_lengths),
        cmocka_unit_test(test_threshold_and_tails),
        cmocka_unit_test(test_large),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
