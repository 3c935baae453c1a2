/* test_crc32c.c - CRC-32C against published vectors (RFC 3720 appendix B.4,
 * and the classic "123456789" check value), hardware vs portable paths. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "common/crc32c.h"

static void test_check_value(void **s) {
    (void)s;
    assert_int_equal(rmq_crc32c(0, "123456789", 9), 0xE3069283u);
    assert_int_equal(rmq_crc32c_sw(0, "123456789", 9), 0xE3069283u);
    assert_int_equal(rmq_crc32c(0, "", 0), 0);
}

static void test_rfc3720(void **s) {
    (void)s;
    uint8_t b[48];
    memset(b, 0, 32);
    assert_int_equal(rmq_crc32c(0, b, 32), 0x8A9136AAu);
    memset(b, 0xff, 32);
    assert_int_equal(rmq_crc32c(0, b, 32), 0x62A8AB43u);
    for (int i = 0; i < 32; i++) b[i] = (uint8_t)i;
    assert_int_equal(rmq_crc32c(0, b, 32), 0x46DD794Eu);
    for (int i = 0; i < 32; i++) b[i] = (uint8_t)(31 - i);
    assert_int_equal(rmq_crc32c(0, b, 32), 0x113FDB5Cu);
    static const uint8_t iscsi[48] = {0x01, 0xc0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                                      0x14, 0, 0, 0, 0, 0, 0x04, 0, 0, 0, 0, 0x14, 0, 0, 0, 0x18,
                                      0x28, 0, 0, 0, 0, 0, 0, 0, 0x02, 0, 0, 0, 0, 0, 0, 0};
    assert_int_equal(rmq_crc32c(0, iscsi, 48), 0xD9963A56u);
}

/* combine(CRC(A), CRC(B), |B|) == CRC(A||B) for every split of buffers of
 * many sizes, including empty parts and lengths past 2^k boundaries. */
static void test_combine(void **s) {
    (void)s;
    static uint8_t buf[70000];
    uint32_t x = 12345;
    for (size_t i = 0; i < sizeof buf; i++) {
        x = x * 1103515245u + 12345u;
        buf[i] = (uint8_t)(x >> 16);
    }
    static const size_t lens[] = {0, 1, 7, 8, 13, 64, 1000, 4096, 65536, 70000};
    for (size_t li = 0; li < sizeof lens / sizeof lens[0]; li++) {
        size_t n = lens[li];
        uint32_t whole = rmq_crc32c(0, buf, n);
        static const size_t cuts[] = {0, 1, 8, 21, 500, 4095, 65535};
        for (size_t ci = 0; ci < sizeof cuts / sizeof cuts[0]; ci++) {
            size_t a = cuts[ci] < n ? cuts[ci] : n;
            uint32_t c1 = rmq_crc32c(0, buf, a), c2 = rmq_crc32c(0, buf + a, n - a);
            assert_int_equal(rmq_crc32c_combine(c1, c2, n - a), whole);
        }
    }
    assert_int_equal(rmq_crc32c_combine(0, 0, 0), 0);
}

static void test_incremental_and_paths_agree(void **s) {
    (void)s;
    uint8_t buf[4099];
    uint32_t x = 12345;
    for (size_t i = 0; i < sizeof buf; i++) {
        x = x * 1103515245u + 12345u;
        buf[i] = (uint8_t)(x >> 16);
    }
    for (size_t off = 0; off < 9; off++) {
        for (size_t len = 0; len < 300; len += 7) {
            uint32_t a = rmq_crc32c(0, buf + off, len);
            uint32_t b = rmq_crc32c_sw(0, buf + off, len);
            assert_int_equal(a, b);
        }
    }
    uint32_t whole = rmq_crc32c(0, buf, sizeof buf);
    uint32_t part = rmq_crc32c(0, buf, 1000);
    part = rmq_crc32c(part, buf + 1000, sizeof buf - 1000);
    assert_int_equal(whole, part);
}

/* Lengths that end in each of the hardware path's stages: the three-stream
 * rounds of 3 x 4096 and 3 x 1024 bytes (rmq_crc32c_hw3), the single 8-byte
 * stream and the byte tail, from every start alignment, against the
 * table-driven path; with a non-zero starting CRC too. */
static void test_three_stream_rounds(void **s) {
    (void)s;
    size_t cap = 3 * 4096 * 3 + 3 * 1024 * 2 + 64;
    uint8_t *buf = malloc(cap);
    assert_non_null(buf);
    uint32_t x = 777;
    for (size_t i = 0; i < cap; i++) {
        x = x * 1103515245u + 12345u;
        buf[i] = (uint8_t)(x >> 16);
    }
    size_t lens[] = {3071, 3072, 3073, 3079, 3080, 6143, 6144, 6151, 3 * 4096 - 1, 3 * 4096, 3 * 4096 + 1,
                     3 * 4096 + 3072, 3 * 4096 + 3072 + 13, 2 * 3 * 4096 + 2 * 3072 + 15, cap - 8};
    for (size_t off = 0; off < 8; off++) {
        for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
            assert_int_equal(rmq_crc32c(0, buf + off, lens[i]), rmq_crc32c_sw(0, buf + off, lens[i]));
            assert_int_equal(rmq_crc32c(0xdeadbeef, buf + off, lens[i]), rmq_crc32c_sw(0xdeadbeef, buf + off, lens[i]));
        }
    }
    /* 0..13000 bytes one by one from an odd address */
    for (size_t len = 0; len <= 13000; len++)
        assert_int_equal(rmq_crc32c(7, buf + 3, len), rmq_crc32c_sw(7, buf + 3, len));
    free(buf);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_check_value),
        cmocka_unit_test(test_rfc3720),
        cmocka_unit_test(test_incremental_and_paths_agree),
        cmocka_unit_test(test_combine),
        cmocka_unit_test(test_three_stream_rounds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
