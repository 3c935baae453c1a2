/* test_clock.c - unit tests for common/clock: the condition-variable
 * deadline every timed wait in the project takes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "common/clock.h"

static uint64_t realtime_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t ts_ns(struct timespec ts) { return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec; }

/* The deadline is rel_ns after the moment of the call (between the clock
 * read before and after it) and always normalized, for waits below a
 * second, of whole seconds, across a second boundary and of zero. */
static void test_cond_deadline(void **state) {
    (void)state;
    const uint64_t rels[] = {0, 1, 999999999ull, 1000000000ull, 1500000000ull, 3600ull * 1000000000ull + 7};
    for (size_t i = 0; i < sizeof rels / sizeof rels[0]; i++) {
        uint64_t before = realtime_ns();
        struct timespec d = rmq_cond_deadline_ns(rels[i]);
        uint64_t after = realtime_ns();
        assert_true(d.tv_nsec >= 0 && d.tv_nsec < 1000000000L);
        assert_true(ts_ns(d) >= before + rels[i]);
        assert_true(ts_ns(d) <= after + rels[i]);
    }
    uint64_t before = realtime_ns();
    struct timespec d = rmq_cond_deadline_ms(2500);
    uint64_t after = realtime_ns();
    assert_true(d.tv_nsec >= 0 && d.tv_nsec < 1000000000L);
    assert_true(ts_ns(d) >= before + 2500000000ull && ts_ns(d) <= after + 2500000000ull);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cond_deadline),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
