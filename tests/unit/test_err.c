/* test_err.c - error table: names, classes, wire mapping. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "common/err.h"

static void test_names(void **s) {
    (void)s;
    assert_string_equal(rmq_err_name(RMQ_NONE), "NONE");
    assert_string_equal(rmq_err_name(3), "UNKNOWN_TOPIC_OR_PARTITION");
    assert_string_equal(rmq_err_name(RMQ_UNKNOWN_SERVER_ERROR), "UNKNOWN_SERVER_ERROR");
    assert_string_equal(rmq_err_name(RMQ_ERR_WAL_FULL), "ERR_WAL_FULL");
    assert_string_equal(rmq_err_name(31337), "UNKNOWN_CODE");
    assert_int_equal(RMQ_OUT_OF_ORDER_SEQUENCE_NUMBER, 45);
    assert_int_equal(RMQ_MESSAGE_TOO_LARGE, 10);
    assert_int_equal(RMQ_UNSUPPORTED_VERSION, 35);
}

static void test_classes(void **s) {
    (void)s;
    assert_int_equal(rmq_err_class(RMQ_NOT_LEADER_OR_FOLLOWER), RMQ_ERRCLASS_REFRESH);
    assert_int_equal(rmq_err_class(RMQ_REQUEST_TIMED_OUT), RMQ_ERRCLASS_RETRIABLE);
    assert_int_equal(rmq_err_class(RMQ_MESSAGE_TOO_LARGE), RMQ_ERRCLASS_FATAL);
    assert_true(rmq_err_retriable(RMQ_ERR_WAL_FULL));
    assert_false(rmq_err_retriable(RMQ_ERR_BAD_CRC));
    assert_true(rmq_err_is_internal(RMQ_ERR_NOMEM));
    assert_false(rmq_err_is_internal(RMQ_UNKNOWN_SERVER_ERROR));
}

static void test_wire(void **s) {
    (void)s;
    assert_int_equal(rmq_err_to_wire(RMQ_NONE), 0);
    assert_int_equal(rmq_err_to_wire(RMQ_INVALID_CONFIG), RMQ_INVALID_CONFIG);
    assert_int_equal(rmq_err_to_wire(RMQ_ERR_WAL_FULL), RMQ_REQUEST_TIMED_OUT);
    assert_int_equal(rmq_err_to_wire(RMQ_ERR_BAD_CRC), RMQ_CORRUPT_MESSAGE);
    assert_int_equal(rmq_err_to_wire(RMQ_ERR_READ_ONLY), RMQ_KAFKA_STORAGE_ERROR);
    assert_int_equal(rmq_err_to_wire(RMQ_ERR_TOO_LARGE), RMQ_MESSAGE_TOO_LARGE);
    /* every internal code maps to a wire code (>= -1),
     * and never to an internal code */
    for (int e = -1000; e >= -1023; e--) {
        int16_t w = rmq_err_to_wire(e);
        assert_true(w >= -1);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_classes),
        cmocka_unit_test(test_wire),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
