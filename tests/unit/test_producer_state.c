/* test_producer_state.c - idempotent producer sequence checks: in order,
 * duplicates answered with the original offset, gaps, fencing, epoch bumps,
 * wrap-around and many producers, and expiry of idle producers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "broker/producer_state.h"

static void test_sequence_rules(void **s) {
    (void)s;
    rmq_producers_t *ps = rmq_producers_new(0);
    int64_t dup = -1;
    /* unknown producer must start at 0 */
    assert_int_equal(rmq_producers_check(ps, 7, 0, 5, 1, &dup, NULL), RMQ_OUT_OF_ORDER_SEQUENCE_NUMBER);
    assert_int_equal(rmq_producers_check(ps, 7, 0, 0, 10, &dup, NULL), 0);
    assert_int_equal(rmq_producers_record(ps, 7, 0, 0, 10, 100, 1000, -1), 0);
    /* next in order */
    assert_int_equal(rmq_producers_check(ps, 7, 0, 10, 5, &dup, NULL), 0);
    assert_int_equal(rmq_producers_record(ps, 7, 0, 10, 5, 110, 1000, 1700000000123), 0);
    /* duplicates of kept batches answer the original offsets and timestamps */
    int64_t ts = 0;
    assert_int_equal(rmq_producers_check(ps, 7, 0, 0, 10, &dup, &ts), RMQ_DUPLICATE_SEQUENCE_NUMBER);
    assert_int_equal(dup, 100);
    assert_int_equal(ts, -1);
    assert_int_equal(rmq_producers_check(ps, 7, 0, 10, 5, &dup, &ts), RMQ_DUPLICATE_SEQUENCE_NUMBER);
    assert_int_equal(dup, 110);
    assert_int_equal(ts, 1700000000123);
    /* a gap */
    assert_int_equal(rmq_producers_check(ps, 7, 0, 16, 1, &dup, NULL), RMQ_OUT_OF_ORDER_SEQUENCE_NUMBER);
    /* overlapping but not identical range */
    assert_int_equal(rmq_producers_check(ps, 7, 0, 12, 5, &dup, NULL), RMQ_OUT_OF_ORDER_SEQUENCE_NUMBER);
    /* fenced epoch, then a bump that must restart at 0 */
    assert_int_equal(rmq_producers_record(ps, 7, 2, 0, 1, 200, 1000, -1), 0);
    assert_int_equal(rmq_producers_check(ps, 7, 1, 0, 1, &dup, NULL), RMQ_INVALID_PRODUCER_EPOCH);
    assert_int_equal(rmq_producers_check(ps, 7, 3, 4, 1, &dup, NULL), RMQ_OUT_OF_ORDER_SEQUENCE_NUMBER);
    assert_int_equal(rmq_producers_check(ps, 7, 3, 0, 1, &dup, NULL), 0);
    assert_int_equal(rmq_producers_check(ps, 7, 2, 1, 1, &dup, NULL), 0);
    rmq_producers_free(ps);
}

static void test_keeps_last_five(void **s) {
    (void)s;
    rmq_producers_t *ps = rmq_producers_new(0);
    int64_t dup;
    for (int i = 0; i < 8; i++) {
        assert_int_equal(rmq_producers_check(ps, 1, 0, i * 2, 2, &dup, NULL), 0);
        assert_int_equal(rmq_producers_record(ps, 1, 0, i * 2, 2, 1000 + i * 2, 1000, -1), 0);
    }
    /* batches 3..7 are kept, 0..2 are too old to be recognised */
    for (int i = 3; i < 8; i++) {
        assert_int_equal(rmq_producers_check(ps, 1, 0, i * 2, 2, &dup, NULL), RMQ_DUPLICATE_SEQUENCE_NUMBER);
        assert_int_equal(dup, 1000 + i * 2);
    }
    assert_int_equal(rmq_producers_check(ps, 1, 0, 0, 2, &dup, NULL), RMQ_OUT_OF_ORDER_SEQUENCE_NUMBER);
    rmq_producers_free(ps);
}

static void test_wraparound_and_many(void **s) {
    (void)s;
    rmq_producers_t *ps = rmq_producers_new(0);
    int64_t dup;
    assert_int_equal(rmq_producers_record(ps, 9, 0, 0, 1, 0, 1000, -1), 0);
    assert_int_equal(rmq_producers_record(ps, 9, 0, INT32_MAX - 1, 2, 5, 1000, -1), 0);
    assert_int_equal(rmq_producers_check(ps, 9, 0, 0, 3, &dup, NULL), 0); /* wrapped */
    for (int64_t pid = 100; pid < 5100; pid++) assert_int_equal(rmq_producers_record(ps, pid, 0, 0, 1, pid, 1000, -1), 0);
    assert_int_equal(rmq_producers_count(ps), 5001);
    for (int64_t pid = 100; pid < 5100; pid += 97) {
        assert_int_equal(rmq_producers_check(ps, pid, 0, 0, 1, &dup, NULL), RMQ_DUPLICATE_SEQUENCE_NUMBER);
        assert_int_equal(dup, pid);
        assert_int_equal(rmq_producers_check(ps, pid, 0, 1, 1, &dup, NULL), 0);
    }
    rmq_producers_free(ps);
}

/* Producers idle past the expiry are forgotten at the next sweep (the table
 * does not keep every producer that ever wrote); active ones stay, and a
 * forgotten one must restart its sequence like a new producer. */
static void test_expiry(void **state) {
    (void)state;
    const int64_t day = 86400000;
    rmq_producers_t *ps = rmq_producers_new(day);
    int64_t dup = -1;
    for (int64_t pid = 1; pid <= 1000; pid++) assert_int_equal(rmq_producers_record(ps, pid, 0, 0, 1, pid, 0, -1), 0);
    assert_int_equal(rmq_producers_count(ps), 1000);
    /* pid 1 keeps writing; the others go quiet */
    assert_int_equal(rmq_producers_record(ps, 1, 0, 1, 1, 2000, day / 2, -1), 0);
    /* not yet expired: nothing dropped, duplicates still recognised */
    assert_int_equal(rmq_producers_record(ps, 2000, 0, 0, 1, 3000, day - 1, -1), 0);
    assert_int_equal(rmq_producers_count(ps), 1001);
    assert_int_equal(rmq_producers_check(ps, 500, 0, 0, 1, &dup, NULL), RMQ_DUPLICATE_SEQUENCE_NUMBER);
    /* a day after their last write the 999 idle ones are gone; the sweep is
     * triggered by a third producer so pid 1 survives only on its day/2 write */
    assert_int_equal(rmq_producers_record(ps, 3000, 0, 0, 1, 4000, day + day / 4, -1), 0);
    assert_int_equal(rmq_producers_count(ps), 3); /* pids 1, 2000, 3000 */
    assert_int_equal(rmq_producers_check(ps, 500, 0, 1, 1, &dup, NULL), RMQ_OUT_OF_ORDER_SEQUENCE_NUMBER);
    assert_int_equal(rmq_producers_check(ps, 500, 0, 0, 1, &dup, NULL), 0); /* starts over */
    dup = -1;
    assert_int_equal(rmq_producers_check(ps, 1, 0, 1, 1, &dup, NULL), RMQ_DUPLICATE_SEQUENCE_NUMBER);
    assert_int_equal(dup, 2000); /* the batch written at day/2 */
    assert_int_equal(rmq_producers_check(ps, 1, 0, 2, 1, &dup, NULL), 0);
    /* 0 = never expire */
    rmq_producers_t *forever = rmq_producers_new(0);
    assert_int_equal(rmq_producers_record(forever, 5, 0, 0, 1, 1, 0, -1), 0);
    assert_int_equal(rmq_producers_record(forever, 6, 0, 0, 1, 2, 100 * day, -1), 0);
    assert_int_equal(rmq_producers_count(forever), 2);
    rmq_producers_free(forever);
    rmq_producers_free(ps);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_expiry),
        cmocka_unit_test(test_sequence_rules),
        cmocka_unit_test(test_keeps_last_five),
        cmocka_unit_test(test_wraparound_and_many),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
