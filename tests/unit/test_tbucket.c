/* test_tbucket.c - the token bucket (common/tbucket.h) on explicit time:
 * burst, refill rate, the cap on idle refill, time going backwards, and
 * rate <= 0 as unlimited. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/tbucket.h"

#define MS 1000000ull
#define SEC 1000000000ull

static void test_bucket_refill_and_burst(void **st) {
    (void)st;
    rmq_tbucket_t b;
    rmq_tbucket_init(&b, 10, 20, 0);
    for (int i = 0; i < 20; i++) assert_true(rmq_tbucket_take(&b, 0, 1));
    assert_false(rmq_tbucket_take(&b, 0, 1));
    assert_true(rmq_tbucket_wait_s(&b, 1) > 0.099 && rmq_tbucket_wait_s(&b, 1) < 0.101);
    /* 10 rps: after 99 ms still nothing, after 100 ms exactly one token */
    assert_false(rmq_tbucket_take(&b, 99 * MS, 1));
    assert_true(rmq_tbucket_take(&b, 100 * MS, 1));
    assert_false(rmq_tbucket_take(&b, 100 * MS, 1));
    /* a long idle period refills only up to the burst */
    rmq_tbucket_refill(&b, 3600 * SEC);
    assert_true(b.tokens <= 20.0 && b.tokens >= 19.999);
    /* time going backwards never adds tokens */
    rmq_tbucket_refill(&b, 10 * SEC);
    assert_true(b.tokens <= 20.0);
    /* rps <= 0: unlimited */
    rmq_tbucket_t u;
    rmq_tbucket_init(&u, 0, 0, 0);
    for (int i = 0; i < 1000; i++) assert_true(rmq_tbucket_take(&u, 0, 1));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bucket_refill_and_burst),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
