/* test_buf.c - rmq_buf_t writers and the rmq_cur_t read cursor: round trips,
 * sticky errors with offsets, bounds on every read. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "common/buf.h"

static void test_write_read_roundtrip(void **s) {
    (void)s;
    rmq_buf_t b;
    rmq_buf_init(&b);
    rmq_buf_put_i8(&b, -5);
    rmq_buf_put_i16(&b, -300);
    rmq_buf_put_i32(&b, 0x12345678);
    rmq_buf_put_i64(&b, -1234567890123LL);
    rmq_buf_put_f64(&b, 3.5);
    rmq_buf_put_uvarint(&b, 300);
    rmq_buf_put_varint(&b, -64);
    rmq_buf_put_varlong(&b, INT64_MIN);
    rmq_buf_put(&b, "abc", 3);
    assert_false(b.oom);
    /* big-endian on the wire */
    assert_int_equal(b.data[3], 0x12);
    assert_int_equal(b.data[6], 0x78);

    rmq_cur_t c;
    rmq_cur_init(&c, b.data, b.len);
    assert_int_equal(rmq_cur_i8(&c), -5);
    assert_int_equal(rmq_cur_i16(&c), -300);
    assert_int_equal(rmq_cur_i32(&c), 0x12345678);
    assert_true(rmq_cur_i64(&c) == -1234567890123LL);
    assert_true(rmq_cur_f64(&c) == 3.5);
    assert_int_equal(rmq_cur_uvarint32(&c), 300);
    assert_int_equal(rmq_cur_varint(&c), -64);
    assert_true(rmq_cur_varlong(&c) == INT64_MIN);
    const uint8_t *p = rmq_cur_bytes(&c, 3);
    assert_non_null(p);
    assert_memory_equal(p, "abc", 3);
    assert_int_equal(rmq_cur_remaining(&c), 0);
    assert_int_equal(c.err, 0);
    rmq_buf_free(&b);
}

static void test_sticky_truncation(void **s) {
    (void)s;
    uint8_t d[6] = {0, 0, 0, 1, 0xff, 0xff};
    rmq_cur_t c;
    rmq_cur_init(&c, d, sizeof d);
    assert_int_equal(rmq_cur_i32(&c), 1);
    assert_int_equal(rmq_cur_i32(&c), 0); /* only 2 bytes left */
    assert_int_equal(c.err, RMQ_ERR_TRUNCATED);
    assert_int_equal(c.err_off, 4);
    /* later reads keep failing, first error and offset kept */
    assert_int_equal(rmq_cur_i8(&c), 0);
    assert_null(rmq_cur_bytes(&c, 1));
    assert_int_equal(c.err_off, 4);
    assert_int_equal(rmq_cur_remaining(&c), 0);
}

static void test_bad_varint(void **s) {
    (void)s;
    uint8_t d[7] = {0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00};
    rmq_cur_t c;
    rmq_cur_init(&c, d, sizeof d);
    (void)rmq_cur_uvarint32(&c);
    assert_int_equal(c.err, RMQ_ERR_BAD_VARINT);
    assert_int_equal(c.err_off, 0);
    uint8_t t[2] = {0x80, 0x80};
    rmq_cur_init(&c, t, sizeof t);
    (void)rmq_cur_varlong(&c);
    assert_int_equal(c.err, RMQ_ERR_TRUNCATED);
}

static void test_huge_length_request(void **s) {
    (void)s;
    uint8_t d[4] = {1, 2, 3, 4};
    rmq_cur_t c;
    rmq_cur_init(&c, d, sizeof d);
    assert_null(rmq_cur_bytes(&c, SIZE_MAX));
    assert_int_equal(c.err, RMQ_ERR_TRUNCATED);
}

static void test_patch_detach_extend(void **s) {
    (void)s;
    rmq_buf_t b;
    rmq_buf_init(&b);
    rmq_buf_put_i32(&b, 0);
    for (int i = 0; i < 10000; i++) rmq_buf_put_u8(&b, (uint8_t)i);
    rmq_buf_patch_i32(&b, 0, (int32_t)(b.len - 4));
    assert_int_equal(rmq_be32(b.data), 10000);
    rmq_buf_patch_i32(&b, b.len, 1); /* out of range: ignored, no overflow */
    uint8_t *e = rmq_buf_extend(&b, 16);
    assert_non_null(e);
    memset(e, 7, 16);
    size_t len;
    uint8_t *d = rmq_buf_detach(&b, &len);
    assert_int_equal(len, 4 + 10000 + 16);
    assert_int_equal(d[len - 1], 7);
    assert_null(b.data);
    free(d);
    rmq_buf_reset(&b);
    rmq_buf_free(&b);
}

static void test_reserve_aligned(void **s) {
    (void)s;
    rmq_buf_t b;
    rmq_buf_init(&b);
    assert_int_equal(rmq_buf_reserve_aligned(&b, 8192, 4096), 0);
    assert_int_equal((uintptr_t)b.data % 4096, 0);
    assert_true(b.cap >= 8192);
    uint8_t *p = rmq_buf_extend(&b, 8192);
    assert_ptr_equal(p, b.data); /* fits: no reallocation */
    memset(p, 7, 8192);
    assert_int_equal(rmq_buf_reserve_aligned(&b, 16, 4096), RMQ_ERR_INVALID_ARG); /* holds data */
    rmq_buf_reset(&b);
    assert_int_equal(rmq_buf_reserve_aligned(&b, 100, 4096), 0); /* already big and aligned: kept */
    assert_int_equal(b.cap >= 8192, true);
    rmq_buf_put_u32(&b, 0x01020304); /* still an ordinary buffer */
    size_t len = 0;
    uint8_t *d = rmq_buf_detach(&b, &len);
    assert_int_equal(len, 4);
    assert_int_equal(d[0], 1);
    free(d); /* detached aligned storage is free()-able */
}

static void test_reserve_overflow(void **s) {
    (void)s;
    rmq_buf_t b;
    rmq_buf_init(&b);
    assert_int_equal(rmq_buf_reserve(&b, SIZE_MAX - 8), RMQ_ERR_NOMEM);
    assert_true(b.oom);
    rmq_buf_put_u8(&b, 1); /* sticky: ignored */
    assert_int_equal(b.len, 0);
    rmq_buf_free(&b);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_write_read_roundtrip),
        cmocka_unit_test(test_sticky_truncation),
        cmocka_unit_test(test_bad_varint),
        cmocka_unit_test(test_huge_length_request),
        cmocka_unit_test(test_patch_detach_extend),
        cmocka_unit_test(test_reserve_overflow),
        cmocka_unit_test(test_reserve_aligned),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
