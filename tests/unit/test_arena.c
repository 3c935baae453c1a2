/* test_arena.c - bump allocator: alignment, zeroing, caps, reset. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "common/arena.h"

static void test_alloc_align_zero(void **s) {
    (void)s;
    rmq_arena_t a;
    rmq_arena_init(&a, 0);
    for (int i = 1; i < 2000; i += 13) {
        unsigned char *p = rmq_arena_alloc(&a, (size_t)i);
        assert_non_null(p);
        assert_int_equal((uintptr_t)p % 16, 0);
        for (int k = 0; k < i; k++) assert_int_equal(p[k], 0);
        memset(p, 0xab, (size_t)i);
    }
    char *d = rmq_arena_strndup(&a, "hello world", 5);
    assert_string_equal(d, "hello");
    void *big = rmq_arena_alloc(&a, 1 << 20);
    assert_non_null(big);
    rmq_arena_reset(&a);
    assert_int_equal(a.used_total, 0);
    assert_non_null(rmq_arena_alloc(&a, 100));
    rmq_arena_free(&a);
}

static void test_cap(void **s) {
    (void)s;
    rmq_arena_t a;
    rmq_arena_init(&a, 4096);
    assert_non_null(rmq_arena_alloc(&a, 4000));
    assert_null(rmq_arena_alloc(&a, 200));
    assert_null(rmq_arena_alloc(&a, SIZE_MAX));
    assert_null(rmq_arena_strndup(&a, "x", SIZE_MAX));
    rmq_arena_free(&a);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_alloc_align_zero),
        cmocka_unit_test(test_cap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
