/* test_varint.c - unsigned and zigzag varints: known encodings, limits,
 * truncation and overlong inputs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "common/varint.h"

static void test_known_encodings(void **s) {
    (void)s;
    uint8_t b[10];
    assert_int_equal(rmq_uvarint_encode(b, 0), 1);
    assert_int_equal(b[0], 0);
    assert_int_equal(rmq_uvarint_encode(b, 300), 2);
    assert_int_equal(b[0], 0xac);
    assert_int_equal(b[1], 0x02);
    assert_int_equal(rmq_uvarint_encode(b, UINT64_MAX), 10);
    assert_int_equal(rmq_uvarint_size(UINT64_MAX), 10);
    assert_int_equal(rmq_uvarint_size(127), 1);
    assert_int_equal(rmq_uvarint_size(128), 2);
}

static void test_zigzag(void **s) {
    (void)s;
    assert_int_equal(rmq_zigzag32(0), 0);
    assert_int_equal(rmq_zigzag32(-1), 1);
    assert_int_equal(rmq_zigzag32(1), 2);
    assert_int_equal(rmq_zigzag32(-2), 3);
    assert_int_equal(rmq_zigzag32(INT32_MAX), 0xfffffffeu);
    assert_int_equal(rmq_zigzag32(INT32_MIN), 0xffffffffu);
    int32_t v32[] = {0, 1, -1, 63, -64, 64, INT32_MAX, INT32_MIN, 123456, -123456};
    for (size_t i = 0; i < sizeof v32 / sizeof v32[0]; i++)
        assert_int_equal(rmq_unzigzag32(rmq_zigzag32(v32[i])), v32[i]);
    int64_t v64[] = {0, 1, -1, INT64_MAX, INT64_MIN, 1LL << 40, -(1LL << 40)};
    for (size_t i = 0; i < sizeof v64 / sizeof v64[0]; i++)
        assert_true(rmq_unzigzag64(rmq_zigzag64(v64[i])) == v64[i]);
}

static void test_roundtrip(void **s) {
    (void)s;
    uint8_t b[10];
    uint64_t vals[] = {0, 1, 127, 128, 16383, 16384, 0xffffffffu, 1ull << 35, UINT64_MAX - 1, UINT64_MAX};
    for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
        size_t n = rmq_uvarint_encode(b, vals[i]);
        uint64_t out = 0;
        assert_int_equal(rmq_uvarint_decode(b, n, RMQ_VARINT_MAX64, &out), (int)n);
        assert_true(out == vals[i]);
        /* every truncation reports 0 (need more) */
        for (size_t k = 0; k < n; k++) assert_int_equal(rmq_uvarint_decode(b, k, RMQ_VARINT_MAX64, &out), 0);
    }
}

static void test_limits(void **s) {
    (void)s;
    uint64_t out;
    /* 32-bit: 5 bytes max, value must fit */
    uint8_t max32[] = {0xff, 0xff, 0xff, 0xff, 0x0f};
    assert_int_equal(rmq_uvarint_decode(max32, 5, RMQ_VARINT_MAX32, &out), 5);
    assert_true(out == 0xffffffffu);
    uint8_t over32[] = {0xff, 0xff, 0xff, 0xff, 0x1f};
    assert_int_equal(rmq_uvarint_decode(over32, 5, RMQ_VARINT_MAX32, &out), -1);
    uint8_t long32[] = {0x80, 0x80, 0x80, 0x80, 0x80, 0x00};
    assert_int_equal(rmq_uvarint_decode(long32, 6, RMQ_VARINT_MAX32, &out), -1);
    /* 64-bit: 10th byte may only be 0 or 1 */
    uint8_t over64[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02};
    assert_int_equal(rmq_uvarint_decode(over64, 10, RMQ_VARINT_MAX64, &out), -1);
    uint8_t eleven[11];
    memset(eleven, 0x80, sizeof eleven);
    assert_int_equal(rmq_uvarint_decode(eleven, 11, RMQ_VARINT_MAX64, &out), -1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_known_encodings),
        cmocka_unit_test(test_zigzag),
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_limits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
