/* test_compression.c - the Kafka codecs of src/protocol/compression.c:
 * round trips for every codec and size class, the bound on decompression
 * (exact fit, one byte short, 64 MiB-of-zeros bombs against a 1 MiB bound
 * for each codec: fast, and the output buffer never grows past the bound),
 * snappy's two framings (raw and xerial), truncated and bit-flipped inputs
 * (an error, never a crash), concatenated gzip members / zstd frames, and
 * the lz4 frame header flags Kafka's Java client needs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <zstd.h>

#include "common/buf.h"
#include "common/clock.h"
#include "protocol/compression.h"

static const int all_codecs[] = {RMQ_CODEC_NONE, RMQ_CODEC_GZIP, RMQ_CODEC_SNAPPY, RMQ_CODEC_LZ4, RMQ_CODEC_ZSTD};
#define NCODECS (sizeof all_codecs / sizeof all_codecs[0])

/* Deterministic, partly compressible test data (caller frees). */
static uint8_t *make_data(size_t n, uint32_t seed) {
    uint8_t *p = malloc(n ? n : 1);
    assert_non_null(p);
    uint32_t x = seed * 2654435761u + 1;
    for (size_t i = 0; i < n; i++) {
        x = x * 1103515245u + 12345u;
        /* runs of text-like bytes mixed with noise */
        p[i] = (i / 37) % 3 == 0 ? (uint8_t)(x >> 24) : (uint8_t)('a' + (i % 23));
    }
    return p;
}

static void test_codec_names(void **state) {
    (void)state;
    for (size_t i = 0; i < NCODECS; i++)
        assert_int_equal(rmq_compress_codec_parse(rmq_compress_codec_name(all_codecs[i])), all_codecs[i]);
    assert_string_equal(rmq_compress_codec_name(2), "snappy");
    assert_string_equal(rmq_compress_codec_name(7), "unknown");
    assert_int_equal(rmq_compress_codec_parse("brotli"), -1);
    assert_int_equal(rmq_compress_codec_parse(NULL), -1);
}

static void test_round_trip_all_sizes(void **state) {
    (void)state;
    const size_t sizes[] = {0, 1, 17, 1000, 65536, 65537, 300 * 1024 + 5};
    for (size_t ci = 0; ci < NCODECS; ci++) {
        for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++) {
            size_t n = sizes[si];
            uint8_t *in = make_data(n, (uint32_t)(si + 1));
            rmq_buf_t c, d;
            rmq_buf_init(&c);
            rmq_buf_init(&d);
            /* Appending: existing contents of both buffers are preserved. */
            rmq_buf_put(&c, "XY", 2);
            rmq_buf_put(&d, "Z", 1);
            assert_int_equal(rmq_compress_any(all_codecs[ci], RMQ_COMPRESS_LEVEL_DEFAULT, in, n, &c), 0);
            assert_memory_equal(c.data, "XY", 2);
            assert_int_equal(rmq_decompress_any(all_codecs[ci], c.data + 2, c.len - 2, n, &d), 0);
            assert_int_equal(d.len, n + 1);
            assert_memory_equal(d.data, "Z", 1);
            if (n) assert_memory_equal(d.data + 1, in, n);
            /* A bound one byte short is a bomb for every codec. */
            if (n > 0) {
                size_t before = d.len;
                assert_int_equal(rmq_decompress_any(all_codecs[ci], c.data + 2, c.len - 2, n - 1, &d),
                                 RMQ_ERR_TOO_LARGE);
                assert_int_equal(d.len, before); /* restored on error */
            }
            rmq_buf_free(&c);
            rmq_buf_free(&d);
            free(in);
        }
    }
}

static void test_levels(void **state) {
    (void)state;
    uint8_t *in = make_data(50000, 9);
    const int codecs[] = {RMQ_CODEC_GZIP, RMQ_CODEC_LZ4, RMQ_CODEC_ZSTD};
    const int levels[] = {1, 9};
    for (size_t ci = 0; ci < 3; ci++)
        for (size_t li = 0; li < 2; li++) {
            rmq_buf_t c, d;
            rmq_buf_init(&c);
            rmq_buf_init(&d);
            assert_int_equal(rmq_compress_any(codecs[ci], levels[li], in, 50000, &c), 0);
            assert_int_equal(rmq_decompress_any(codecs[ci], c.data, c.len, 50000, &d), 0);
            assert_int_equal(d.len, 50000);
            assert_memory_equal(d.data, in, 50000);
            rmq_buf_free(&c);
            rmq_buf_free(&d);
        }
    rmq_buf_t c;
    rmq_buf_init(&c);
    assert_int_equal(rmq_compress_gzip(42, in, 10, &c), RMQ_ERR_INVALID_ARG);
    rmq_buf_free(&c);
    free(in);
}

static void test_unknown_codec(void **state) {
    (void)state;
    rmq_buf_t b;
    rmq_buf_init(&b);
    assert_int_equal(rmq_compress_any(5, RMQ_COMPRESS_LEVEL_DEFAULT, "x", 1, &b), RMQ_ERR_UNSUPPORTED);
    assert_int_equal(rmq_decompress_any(7, "x", 1, 10, &b), RMQ_ERR_UNSUPPORTED);
    assert_int_equal(rmq_decompress_any(RMQ_CODEC_NONE, "abc", 3, 2, &b), RMQ_ERR_TOO_LARGE);
    rmq_buf_free(&b);
}

static void test_snappy_framings(void **state) {
    (void)state;
    size_t n = 100000; /* 4 xerial blocks of 32 KiB */
    uint8_t *in = make_data(n, 3);
    rmq_buf_t x, r, d;
    rmq_buf_init(&x);
    rmq_buf_init(&r);
    rmq_buf_init(&d);
    assert_int_equal(rmq_compress_snappy(in, n, &x), 0);
    static const uint8_t magic[16] = {0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0, 0, 0, 0, 1, 0, 0, 0, 1};
    assert_memory_equal(x.data, magic, 16);
    /* Walk the blocks: [int32 len][snappy block] until the end. */
    size_t off = 16, blocks = 0;
    while (off < x.len) {
        uint32_t bl = rmq_be32(x.data + off);
        off += 4 + bl;
        blocks++;
    }
    assert_int_equal(off, x.len);
    assert_int_equal(blocks, 4);
    assert_int_equal(rmq_decompress_snappy(x.data, x.len, n, &d), 0);
    assert_int_equal(d.len, n);
    assert_memory_equal(d.data, in, n);

    assert_int_equal(rmq_compress_snappy_raw(in, n, &r), 0);
    assert_true(r.len < 8 || memcmp(r.data, magic, 8) != 0);
    rmq_buf_reset(&d);
    assert_int_equal(rmq_decompress_snappy(r.data, r.len, n, &d), 0);
    assert_int_equal(d.len, n);
    assert_memory_equal(d.data, in, n);

    /* Xerial bound is cumulative over blocks. */
    rmq_buf_reset(&d);
    assert_int_equal(rmq_decompress_snappy(x.data, x.len, n - 1, &d), RMQ_ERR_TOO_LARGE);
    assert_int_equal(d.len, 0);
    /* Xerial with a block length past the end, and a dangling length prefix. */
    uint8_t *bad = malloc(x.len + 2);
    memcpy(bad, x.data, x.len);
    rmq_wbe32(bad + 16, 0x7fffffff);
    assert_int_equal(rmq_decompress_snappy(bad, x.len, n, &d), RMQ_ERR_COMPRESSION);
    memcpy(bad, x.data, x.len);
    bad[x.len] = 0;
    bad[x.len + 1] = 0;
    assert_int_equal(rmq_decompress_snappy(bad, x.len + 2, n, &d), RMQ_ERR_COMPRESSION);
    /* Header only: zero blocks, zero bytes. */
    assert_int_equal(rmq_decompress_snappy(x.data, 16, n, &d), 0);
    assert_int_equal(d.len, 0);
    free(bad);
    rmq_buf_free(&x);
    rmq_buf_free(&r);
    rmq_buf_free(&d);
    free(in);
}

static void test_lz4_frame_header(void **state) {
    (void)state;
    rmq_buf_t c;
    rmq_buf_init(&c);
    assert_int_equal(rmq_compress_lz4(RMQ_COMPRESS_LEVEL_DEFAULT, "hello hello hello", 17, &c), 0);
    static const uint8_t magic[4] = {0x04, 0x22, 0x4d, 0x18};
    assert_memory_equal(c.data, magic, 4);
    /* FLG: version 01, block independence, no content size/checksum;
     * BD: 64 KiB blocks (what Kafka's KafkaLZ4BlockInputStream reads). */
    assert_int_equal(c.data[4], 0x60);
    assert_int_equal(c.data[5], 0x40);
    rmq_buf_free(&c);
}

static void test_concatenated(void **state) {
    (void)state;
    const int codecs[] = {RMQ_CODEC_GZIP, RMQ_CODEC_LZ4, RMQ_CODEC_ZSTD};
    for (size_t ci = 0; ci < 3; ci++) {
        rmq_buf_t c, d;
        rmq_buf_init(&c);
        rmq_buf_init(&d);
        assert_int_equal(rmq_compress_any(codecs[ci], RMQ_COMPRESS_LEVEL_DEFAULT, "first-", 6, &c), 0);
        assert_int_equal(rmq_compress_any(codecs[ci], RMQ_COMPRESS_LEVEL_DEFAULT, "second", 6, &c), 0);
        assert_int_equal(rmq_decompress_any(codecs[ci], c.data, c.len, 100, &d), 0);
        assert_int_equal(d.len, 12);
        assert_memory_equal(d.data, "first-second", 12);
        /* Trailing garbage after a complete stream is an error. */
        rmq_buf_put(&c, "\x01\x02\x03", 3);
        rmq_buf_reset(&d);
        assert_int_not_equal(rmq_decompress_any(codecs[ci], c.data, c.len, 100, &d), 0);
        assert_int_equal(d.len, 0);
        rmq_buf_free(&c);
        rmq_buf_free(&d);
    }
}

/* Every strict prefix of a compressed stream is rejected (and the one-byte
 * flips either fail or decode within the bound), without crashing. */
static void test_truncated_and_flipped(void **state) {
    (void)state;
    size_t n = 3000;
    uint8_t *in = make_data(n, 5);
    for (size_t ci = 1; ci < NCODECS; ci++) {
        int codec = all_codecs[ci];
        rmq_buf_t c, d;
        rmq_buf_init(&c);
        rmq_buf_init(&d);
        assert_int_equal(rmq_compress_any(codec, RMQ_COMPRESS_LEVEL_DEFAULT, in, n, &c), 0);
        for (size_t cut = 0; cut < c.len; cut++) {
            rmq_buf_reset(&d);
            rmq_err_t e = rmq_decompress_any(codec, c.data, cut, n, &d);
            /* xerial snappy cut exactly at a block boundary is a valid
             * shorter stream; all others must fail. */
            if (e == 0) {
                assert_int_equal(codec, RMQ_CODEC_SNAPPY);
                assert_true(d.len < n);
                assert_memory_equal(d.data, in, d.len);
            } else {
                assert_true(e == RMQ_ERR_COMPRESSION || e == RMQ_ERR_TOO_LARGE);
                assert_int_equal(d.len, 0);
            }
        }
        uint8_t *m = malloc(c.len);
        for (size_t i = 0; i < c.len; i++) {
            memcpy(m, c.data, c.len);
            m[i] ^= (uint8_t)(1u << (i % 8));
            rmq_buf_reset(&d);
            rmq_err_t e = rmq_decompress_any(codec, m, c.len, n, &d);
            assert_true(e == 0 || e == RMQ_ERR_COMPRESSION || e == RMQ_ERR_TOO_LARGE);
            assert_true(d.len <= n);
        }
        free(m);
        rmq_buf_free(&c);
        rmq_buf_free(&d);
    }
    free(in);
}

/* 64 MiB of zeros compressed by each codec, decompressed with a 1 MiB
 * bound: RMQ_ERR_TOO_LARGE quickly, and the output buffer's capacity never
 * exceeds the bound. */
static void test_bombs(void **state) {
    (void)state;
    const size_t big = (size_t)64 << 20, bound = (size_t)1 << 20;
    uint8_t *zeros = calloc(big, 1);
    assert_non_null(zeros);
    for (size_t ci = 1; ci < NCODECS; ci++) {
        int codec = all_codecs[ci];
        rmq_buf_t c, d;
        rmq_buf_init(&c);
        rmq_buf_init(&d);
        assert_int_equal(rmq_compress_any(codec, RMQ_COMPRESS_LEVEL_DEFAULT, zeros, big, &c), 0);
        uint64_t t0 = rmq_mono_ns();
        assert_int_equal(rmq_decompress_any(codec, c.data, c.len, bound, &d), RMQ_ERR_TOO_LARGE);
        uint64_t dt = rmq_mono_ns() - t0;
        assert_int_equal(d.len, 0);
        assert_true(d.cap <= bound);
        print_message("bomb %-6s 64 MiB zeros -> %zu bytes compressed; rejected at 1 MiB in %.2f ms, cap %zu\n",
                      rmq_compress_codec_name(codec), c.len, dt / 1e6, d.cap);
        assert_true(dt < 2000000000ull); /* well under 2 s even under ASan */
        /* Raw snappy declares 64 MiB up front: rejected before allocating. */
        if (codec == RMQ_CODEC_SNAPPY) {
            rmq_buf_t r, d2;
            rmq_buf_init(&r);
            rmq_buf_init(&d2);
            assert_int_equal(rmq_compress_snappy_raw(zeros, big, &r), 0);
            assert_int_equal(rmq_decompress_snappy(r.data, r.len, bound, &d2), RMQ_ERR_TOO_LARGE);
            assert_int_equal(d2.cap, 0);
            rmq_buf_free(&r);
            rmq_buf_free(&d2);
        }
        rmq_buf_free(&c);
        rmq_buf_free(&d);
    }
    free(zeros);
}

/* A zstd frame claiming a small content size must not be trusted: the
 * bound is enforced on what actually comes out. Build a frame for 2 MiB
 * and ask with a 1 MiB bound; and a declared window above the cap. */
static void test_zstd_bound_independent_of_header(void **state) {
    (void)state;
    size_t n = (size_t)2 << 20;
    uint8_t *in = make_data(n, 11);
    rmq_buf_t c, d;
    rmq_buf_init(&c);
    rmq_buf_init(&d);
    assert_int_equal(rmq_compress_zstd(1, in, n, &c), 0);
    assert_int_equal(rmq_decompress_zstd(c.data, c.len, n / 2, &d), RMQ_ERR_TOO_LARGE);
    assert_true(d.cap <= n / 2);
    assert_int_equal(rmq_decompress_zstd(c.data, c.len, n, &d), 0);
    assert_memory_equal(d.data, in, n);
    /* Empty and garbage inputs. */
    rmq_buf_reset(&d);
    assert_int_equal(rmq_decompress_zstd("", 0, 10, &d), RMQ_ERR_COMPRESSION);
    assert_int_equal(rmq_decompress_zstd("garbage!", 8, 10, &d), RMQ_ERR_COMPRESSION);
    assert_int_equal(rmq_decompress_lz4("", 0, 10, &d), RMQ_ERR_COMPRESSION);
    assert_int_equal(rmq_decompress_gzip("", 0, 10, &d), RMQ_ERR_COMPRESSION);
    assert_int_equal(rmq_decompress_snappy("", 0, 10, &d), RMQ_ERR_COMPRESSION);
    rmq_buf_free(&c);
    rmq_buf_free(&d);
    free(in);
}

/* A streamed zstd frame (no content size) declaring a 128 MiB window: the
 * decoder's window is capped from max_out, so it is refused as too large
 * with a small bound, and accepted with a large one. */
static void test_zstd_window_cap(void **state) {
    (void)state;
    ZSTD_CCtx *cc = ZSTD_createCCtx();
    assert_non_null(cc);
    assert_false(ZSTD_isError(ZSTD_CCtx_setParameter(cc, ZSTD_c_windowLog, 27)));
    assert_false(ZSTD_isError(ZSTD_CCtx_setParameter(cc, ZSTD_c_contentSizeFlag, 0)));
    uint8_t frame[256];
    ZSTD_outBuffer ob = {frame, sizeof frame, 0};
    ZSTD_inBuffer ib = {"windowed", 8, 0};
    /* e_continue first: the size is unknown when the header is written. */
    assert_false(ZSTD_isError(ZSTD_compressStream2(cc, &ob, &ib, ZSTD_e_continue)));
    ZSTD_inBuffer none = {NULL, 0, 0};
    assert_int_equal(ZSTD_compressStream2(cc, &ob, &none, ZSTD_e_end), 0);
    ZSTD_freeCCtx(cc);
    rmq_buf_t d;
    rmq_buf_init(&d);
    assert_int_equal(rmq_decompress_zstd(frame, ob.pos, 1 << 20, &d), RMQ_ERR_TOO_LARGE);
    assert_int_equal(rmq_decompress_zstd(frame, ob.pos, (size_t)128 << 20, &d), 0);
    assert_int_equal(d.len, 8);
    assert_memory_equal(d.data, "windowed", 8);
    rmq_buf_free(&d);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_codec_names),
        cmocka_unit_test(test_round_trip_all_sizes),
        cmocka_unit_test(test_levels),
        cmocka_unit_test(test_unknown_codec),
        cmocka_unit_test(test_snappy_framings),
        cmocka_unit_test(test_lz4_frame_header),
        cmocka_unit_test(test_concatenated),
        cmocka_unit_test(test_truncated_and_flipped),
        cmocka_unit_test(test_bombs),
        cmocka_unit_test(test_zstd_bound_independent_of_header),
        cmocka_unit_test(test_zstd_window_cap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
