/* test_kafka_codec.c - tests of the generated, descriptor-driven Kafka codec
 * (src/protocol/kafka_codec.c, kafka_msgs.c, kafka_api.c).
 *
 * - Round trip of every API / version / direction: a generic filler walks the
 *   descriptors and puts deterministic pseudo-random non-default values in
 *   every field present in that version; encode, decode (must consume all),
 *   re-encode, compare bytes.
 * - Malformed input: every truncation of every valid encoding, negative and
 *   oversized lengths, bad varints, huge array counts under an arena cap.
 * - Hand-checked wire bytes (so symmetric encoder/decoder bugs cannot hide).
 * - Golden request frames captured from real clients (tests/data/golden,
 *   recorded by tests/tools/capture_golden.py): decode header + body,
 *   re-encode, byte-identical. Same for the synth_*.bin frames in the fuzz
 *   corpus, written by capture_golden.py --synth with an independent Python
 *   encoder (covers flexible versions and tagged fields no client here sends). */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/arena.h"
#include "common/buf.h"
#include "protocol/kafka_api.h"
#include "protocol/kafka_codec.h"
#include "protocol/kafka_msgs.h"

/* ---- deterministic filler ------------------------------------------------------- */

static uint64_t rng_state;
static uint64_t rnd(void) { /* xorshift64* */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 2685821657736338717ULL;
}

static bool in_v(int16_t v, int16_t lo, int16_t hi) { return v >= lo && v <= hi; }

static void fill_struct(const rmq_kafka_msg_desc_t *d, int16_t v, void *obj, rmq_arena_t *a, int depth);

static size_t esize(const rmq_kafka_field_desc_t *f) {
    switch (f->type) {
    case RMQ_KT_BOOL: return sizeof(bool);
    case RMQ_KT_INT8: return 1;
    case RMQ_KT_INT16:
    case RMQ_KT_UINT16: return 2;
    case RMQ_KT_INT32: return 4;
    case RMQ_KT_INT64:
    case RMQ_KT_FLOAT64: return 8;
    case RMQ_KT_UUID: return 16;
    case RMQ_KT_STRING: return sizeof(rmq_kstr_t);
    case RMQ_KT_BYTES:
    case RMQ_KT_RECORDS: return sizeof(rmq_kbytes_t);
    default: return f->sub->size;
    }
}

static void fill_value(const rmq_kafka_field_desc_t *f, int16_t v, void *p, rmq_arena_t *a, int depth,
                       bool nullable) {
    uint64_t r = rnd();
    switch (f->type) {
    case RMQ_KT_BOOL: *(bool *)p = !(f->def_int != 0); break;
    case RMQ_KT_INT8: *(int8_t *)p = (int8_t)(f->def_int + 1 + (int64_t)(r % 100)); break;
    case RMQ_KT_INT16: *(int16_t *)p = (int16_t)(f->def_int + 1 + (int64_t)(r % 30000)); break;
    case RMQ_KT_UINT16: *(uint16_t *)p = (uint16_t)(f->def_int + 1 + (int64_t)(r % 60000)); break;
    case RMQ_KT_INT32: *(int32_t *)p = (int32_t)((int64_t)f->def_int + 1 + (int64_t)(r % 1000000)); break;
    case RMQ_KT_INT64: *(int64_t *)p = f->def_int + 1 + (int64_t)(r >> 4); break;
    case RMQ_KT_FLOAT64: *(double *)p = f->def_f64 + 0.5 + (double)(r % 1000); break;
    case RMQ_KT_UUID:
        for (int i = 0; i < 16; i++) ((uint8_t *)p)[i] = (uint8_t)(rnd() | 1);
        break;
    case RMQ_KT_STRING:
    case RMQ_KT_BYTES:
    case RMQ_KT_RECORDS: {
        int32_t len = (int32_t)(1 + r % 12);
        if (nullable && r % 7 == 0) len = -1;
        char *s = NULL;
        if (len > 0) {
            s = rmq_arena_alloc(a, (size_t)len);
            assert_non_null(s);
            for (int32_t i = 0; i < len; i++) s[i] = (char)('a' + rnd() % 26);
        }
        if (f->type == RMQ_KT_STRING) {
            ((rmq_kstr_t *)p)->ptr = s;
            ((rmq_kstr_t *)p)->len = len;
        } else {
            ((rmq_kbytes_t *)p)->ptr = (const uint8_t *)s;
            ((rmq_kbytes_t *)p)->len = len;
        }
        break;
    }
    case RMQ_KT_STRUCT: fill_struct(f->sub, v, p, a, depth + 1); break;
    }
}

static void fill_struct(const rmq_kafka_msg_desc_t *d, int16_t v, void *obj, rmq_arena_t *a, int depth) {
    rmq_kafka_msg_init(d, obj);
    for (uint16_t i = 0; i < d->nfields; i++) {
        const rmq_kafka_field_desc_t *f = &d->fields[i];
        if (!in_v(v, f->min_ver, f->max_ver)) continue;
        void *p = (char *)obj + f->offset;
        bool nullable = in_v(v, f->null_min, f->null_max);
        if (!f->is_array) {
            fill_value(f, v, p, a, depth, nullable);
            continue;
        }
        rmq_karr_any_t *arr = p;
        uint64_t r = rnd();
        if (nullable && r % 5 == 0) {
            arr->n = -1;
            arr->v = NULL;
            continue;
        }
        int32_t n = depth >= 2 ? 1 : (int32_t)(1 + r % 3);
        size_t es = esize(f);
        char *e = rmq_arena_alloc(a, (size_t)n * es);
        assert_non_null(e);
        for (int32_t j = 0; j < n; j++) fill_value(f, v, e + (size_t)j * es, a, depth, false);
        arr->n = n;
        arr->v = e;
    }
}

/* ---- round trip of everything ---------------------------------------------------- */

static size_t total_encodings, total_bytes, total_truncations;

static void roundtrip_one(const rmq_kafka_msg_desc_t *d, int16_t v, int seed, bool truncations) {
    rmq_arena_t a;
    rmq_arena_init(&a, 64u << 20);
    rng_state = 0x9E3779B97F4A7C15ULL ^ ((uint64_t)d->api_key << 32) ^ ((uint64_t)v << 16) ^ (uint64_t)seed ^
                (d->name[strlen(d->name) - 1] == 't' ? 1ULL << 40 : 0);
    void *obj = rmq_arena_alloc(&a, d->size);
    fill_struct(d, v, obj, &a, 0);

    rmq_buf_t b1, b2;
    rmq_buf_init(&b1);
    rmq_buf_init(&b2);
    rmq_kafka_decode_error_t e;
    rmq_err_t rc = rmq_kafka_encode_ex(d, v, obj, &b1, &e);
    if (rc) fail_msg("encode %s v%d: %s at %s", d->name, v, rmq_err_name(rc), e.path);

    void *obj2 = rmq_arena_alloc(&a, d->size);
    rmq_cur_t c;
    rmq_cur_init(&c, b1.data, b1.len);
    rc = rmq_kafka_decode_ex(d, v, &c, &a, obj2, &e);
    if (rc) {
        char msg[256];
        rmq_kafka_decode_error_format(&e, msg, sizeof msg);
        fail_msg("decode %s v%d: %s", d->name, v, msg);
    }
    assert_int_equal(c.off, b1.len); /* consumed everything */
    rc = rmq_kafka_encode(d, v, obj2, &b2);
    assert_int_equal(rc, RMQ_NONE);
    if (b1.len != b2.len || (b1.len && memcmp(b1.data, b2.data, b1.len) != 0))
        fail_msg("re-encode of %s v%d differs (%zu vs %zu bytes)", d->name, v, b1.len, b2.len);
    total_encodings++;
    total_bytes += b1.len;

    if (truncations) {
        /* Every strict prefix must fail with TRUNCATED, never crash. */
        for (size_t cut = 0; cut < b1.len; cut++) {
            rmq_arena_reset(&a);
            void *o = rmq_arena_alloc(&a, d->size);
            rmq_cur_init(&c, b1.data, cut);
            rc = rmq_kafka_decode(d, v, &c, &a, o);
            if (rc != RMQ_ERR_TRUNCATED)
                fail_msg("%s v%d cut at %zu/%zu: got %s", d->name, v, cut, b1.len, rmq_err_name(rc));
            total_truncations++;
        }
    }
    rmq_buf_free(&b1);
    rmq_buf_free(&b2);
    rmq_arena_free(&a);
}

static void test_roundtrip_all(void **state) {
    (void)state;
    size_t nver = 0;
    assert_int_equal(rmq_kafka_api_count(), 28);
    for (size_t i = 0; i < rmq_kafka_api_count(); i++) {
        const rmq_kafka_api_info_t *api = rmq_kafka_api_at(i);
        assert_non_null(api->request);
        assert_non_null(api->response);
        for (int16_t v = api->min_version; v <= api->max_version; v++) {
            for (int seed = 0; seed < 3; seed++) {
                roundtrip_one(api->request, v, seed, seed == 0);
                roundtrip_one(api->response, v, seed, seed == 0);
            }
            nver++;
        }
    }
    print_message("round-tripped %zu api versions, %zu encodings, %zu bytes; %zu truncated decodes\n", nver,
                  total_encodings, total_bytes, total_truncations);
    assert_true(total_truncations > 10000);
    assert_int_equal(nver, 179); /* sum of validVersions ranges of the 28 APIs */
}

/* ---- api table and headers ------------------------------------------------------------- */

static void test_api_table(void **state) {
    (void)state;
    static const int16_t keys[] = {18, 3, 0, 1, 2, 19, 20, 37, 32, 33, 44, 10, 11, 14, 12, 13, 8, 9, 16, 15, 42,
                                   22, 60, 17, 36, 21, 23, 61};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        const rmq_kafka_api_info_t *a = rmq_kafka_api_info(keys[i]);
        assert_non_null(a);
        assert_int_equal(a->api_key, keys[i]);
        assert_int_equal(a->request->api_key, keys[i]);
        assert_int_equal(a->response->api_key, keys[i]);
    }
    assert_null(rmq_kafka_api_info(4));
    assert_null(rmq_kafka_api_info(-1));
    assert_string_equal(rmq_kafka_api_name(0), "Produce");
    assert_string_equal(rmq_kafka_api_name(18), "ApiVersions");
    assert_string_equal(rmq_kafka_api_name(999), "Unknown");
    const rmq_kafka_api_info_t *p = rmq_kafka_api_info(RMQ_KAPI_PRODUCE);
    assert_int_equal(p->min_version, 0);
    assert_int_equal(p->max_version, 11);
    assert_int_equal(p->flexible_from, 9);
    assert_int_equal(rmq_kafka_api_info(RMQ_KAPI_SASL_HANDSHAKE)->flexible_from, RMQ_KVER_MAX);
    int16_t lo, hi;
    assert_true(rmq_kafka_api_intersect(RMQ_KAPI_FETCH, 4, 40, &lo, &hi));
    assert_int_equal(lo, 4);
    assert_int_equal(hi, 17);
    assert_false(rmq_kafka_api_intersect(RMQ_KAPI_FETCH, 18, 20, &lo, &hi));
    assert_true(rmq_kafka_api_version_supported(RMQ_KAPI_METADATA, 12));
    assert_false(rmq_kafka_api_version_supported(RMQ_KAPI_METADATA, 13));

    assert_int_equal(rmq_kafka_request_header_version(RMQ_KAPI_API_VERSIONS, 3), 2);
    assert_int_equal(rmq_kafka_request_header_version(RMQ_KAPI_API_VERSIONS, 2), 1);
    assert_int_equal(rmq_kafka_response_header_version(RMQ_KAPI_API_VERSIONS, 3), 0);
    assert_int_equal(rmq_kafka_response_header_version(RMQ_KAPI_METADATA, 9), 1);
    assert_int_equal(rmq_kafka_response_header_version(RMQ_KAPI_METADATA, 8), 0);
    assert_int_equal(rmq_kafka_request_header_version(RMQ_KAPI_PRODUCE, 9), 2);
    assert_int_equal(rmq_kafka_request_header_version(RMQ_KAPI_SASL_HANDSHAKE, 1), 1);
    assert_int_equal(rmq_kafka_request_header_version(RMQ_KAPI_DESCRIBE_CLUSTER, 0), 2);
}

static void test_defaults(void **state) {
    (void)state;
    rmq_kmsg_produce_request_t pr;
    rmq_kafka_msg_init(&rmq_kmsg_produce_request_desc, &pr);
    assert_int_equal(pr.transactional_id.len, -1);
    assert_int_equal(pr.topic_data.n, 0);
    rmq_kmsg_fetch_request_t fr;
    rmq_kafka_msg_init(&rmq_kmsg_fetch_request_desc, &fr);
    assert_int_equal(fr.replica_id, -1);
    assert_int_equal(fr.max_bytes, 0x7fffffff);
    assert_int_equal(fr.cluster_id.len, -1);
    assert_int_equal(fr.replica_state.replica_id, -1);
    assert_int_equal(fr.replica_state.replica_epoch, -1);
    assert_true(rmq_kafka_msg_is_default(&rmq_kmsg_fetch_request_desc, &fr));
    fr.replica_state.replica_epoch = 3;
    assert_false(rmq_kafka_msg_is_default(&rmq_kmsg_fetch_request_desc, &fr));
    rmq_kmsg_api_versions_response_t av;
    rmq_kafka_msg_init(&rmq_kmsg_api_versions_response_desc, &av);
    assert_int_equal(av.finalized_features_epoch, -1);
    assert_false(av.zk_migration_ready);
}

/* ---- hand-checked wire bytes ----------------------------------------------------------- */

static void test_known_bytes_api_versions(void **state) {
    (void)state;
    /* ApiVersions v3 response: error 0, ApiKeys [{0, 0, 11}], throttle 7,
     * FinalizedFeaturesEpoch (tag 1) = 5, other tagged fields default. */
    rmq_kmsg_api_versions_response_t r;
    rmq_kafka_msg_init(&rmq_kmsg_api_versions_response_desc, &r);
    rmq_kmsg_api_versions_response_api_version_t k = {0, 0, 11};
    r.api_keys.n = 1;
    r.api_keys.v = &k;
    r.throttle_time_ms = 7;
    r.finalized_features_epoch = 5;
    static const uint8_t want[] = {
        0x00, 0x00,                                           /* error_code */
        0x02,                                                 /* compact array: 1 element */
        0x00, 0x00, 0x00, 0x00, 0x00, 0x0b, 0x00,             /* key 0, min 0, max 11, no tags */
        0x00, 0x00, 0x00, 0x07,                               /* throttle_time_ms */
        0x01,                                                 /* one tagged field */
        0x01, 0x08, 0, 0, 0, 0, 0, 0, 0, 5,                   /* tag 1, size 8, int64 5 */
    };
    rmq_buf_t b;
    rmq_buf_init(&b);
    assert_int_equal(rmq_kafka_encode_response(RMQ_KAPI_API_VERSIONS, 3, 0x01020304, &r, &b), RMQ_NONE);
    assert_int_equal(b.len, 4 + 4 + sizeof want);
    assert_int_equal(rmq_be32(b.data), 4 + sizeof want);
    assert_int_equal(rmq_be32(b.data + 4), 0x01020304); /* response header v0: no tagged fields */
    assert_memory_equal(b.data + 8, want, sizeof want);

    /* v0: classic int32 array, no throttle, no tags. */
    rmq_buf_reset(&b);
    assert_int_equal(rmq_kafka_encode(&rmq_kmsg_api_versions_response_desc, 0, &r, &b), RMQ_NONE);
    static const uint8_t want0[] = {0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 11};
    assert_int_equal(b.len, sizeof want0);
    assert_memory_equal(b.data, want0, sizeof want0);
    rmq_buf_free(&b);

    /* ApiVersions v3 request as a client sends it (header v2). */
    static const uint8_t req[] = {
        0x00, 0x12, 0x00, 0x03, 0x00, 0x00, 0x00, 0x2a, /* key 18, v3, corr 42 */
        0x00, 0x03, 'c', 'l', 'i',                      /* client_id: classic string */
        0x00,                                           /* header tagged fields */
        0x05, 'l', 'i', 'b', 'k',                       /* compact "libk" */
        0x04, '1', '.', '0',                            /* compact "1.0" */
        0x00,                                           /* body tagged fields */
    };
    rmq_arena_t a;
    rmq_arena_init(&a, 1 << 20);
    rmq_kafka_request_header_t h;
    void *body;
    const rmq_kafka_msg_desc_t *d;
    assert_int_equal(rmq_kafka_decode_request(req, sizeof req, &a, &h, &body, &d, NULL), RMQ_NONE);
    assert_ptr_equal(d, &rmq_kmsg_api_versions_request_desc);
    assert_int_equal(h.api_key, 18);
    assert_int_equal(h.api_version, 3);
    assert_int_equal(h.correlation_id, 42);
    assert_int_equal(h.header_version, 2);
    assert_true(rmq_kstr_eq(h.client_id, "cli"));
    rmq_kmsg_api_versions_request_t *avr = body;
    assert_true(rmq_kstr_eq(avr->client_software_name, "libk"));
    assert_true(rmq_kstr_eq(avr->client_software_version, "1.0"));
    /* zero-copy: the view points into the frame */
    assert_ptr_equal(avr->client_software_name.ptr, (const char *)req + 15);
    rmq_arena_free(&a);
}

static void test_known_bytes_produce_v3(void **state) {
    (void)state;
    static const uint8_t rec[] = {1, 2, 3};
    rmq_kmsg_produce_request_partition_produce_data_t pd = {.index = 2, .records = {rec, 3}};
    rmq_kmsg_produce_request_topic_produce_data_t td = {.name = rmq_kstr("t"), .partition_data = {1, &pd}};
    rmq_kmsg_produce_request_t pr;
    rmq_kafka_msg_init(&rmq_kmsg_produce_request_desc, &pr);
    pr.acks = -1;
    pr.timeout_ms = 1000;
    pr.topic_data.n = 1;
    pr.topic_data.v = &td;
    static const uint8_t want[] = {
        0xff, 0xff,             /* transactional_id null */
        0xff, 0xff,             /* acks -1 */
        0x00, 0x00, 0x03, 0xe8, /* timeout */
        0, 0, 0, 1, 0, 1, 't',  /* 1 topic "t" */
        0, 0, 0, 1, 0, 0, 0, 2, /* 1 partition, index 2 */
        0, 0, 0, 3, 1, 2, 3,    /* records */
    };
    rmq_buf_t b;
    rmq_buf_init(&b);
    assert_int_equal(rmq_kafka_encode(&rmq_kmsg_produce_request_desc, 3, &pr, &b), RMQ_NONE);
    assert_int_equal(b.len, sizeof want);
    assert_memory_equal(b.data, want, sizeof want);
    /* v2 has no transactional_id */
    rmq_buf_reset(&b);
    assert_int_equal(rmq_kafka_encode(&rmq_kmsg_produce_request_desc, 2, &pr, &b), RMQ_NONE);
    assert_int_equal(b.len, sizeof want - 2);
    assert_memory_equal(b.data, want + 2, sizeof want - 2);
    /* non-nullable null is refused by the encoder */
    td.name.len = -1;
    td.name.ptr = NULL;
    rmq_buf_reset(&b);
    rmq_kafka_decode_error_t e;
    assert_int_equal(rmq_kafka_encode_ex(&rmq_kmsg_produce_request_desc, 3, &pr, &b, &e), RMQ_ERR_INVALID_ARG);
    assert_string_equal(e.path, "topic_data.name");
    /* unsupported version */
    assert_int_equal(rmq_kafka_encode(&rmq_kmsg_produce_request_desc, 12, &pr, &b), RMQ_UNSUPPORTED_VERSION);
    rmq_buf_free(&b);
}

/* ---- malformed input ------------------------------------------------------------------- */

static rmq_err_t decode_bytes(const rmq_kafka_msg_desc_t *d, int16_t v, const uint8_t *p, size_t n, rmq_arena_t *a,
                              rmq_kafka_decode_error_t *e) {
    rmq_cur_t c;
    rmq_cur_init(&c, p, n);
    void *obj = rmq_arena_alloc(a, d->size);
    assert_non_null(obj);
    return rmq_kafka_decode_ex(d, v, &c, a, obj, e);
}

static void test_malformed(void **state) {
    (void)state;
    rmq_arena_t a;
    rmq_arena_init(&a, 64 * 1024); /* capped: nothing may allocate more */
    rmq_kafka_decode_error_t e;
    const rmq_kafka_msg_desc_t *pd = &rmq_kmsg_produce_request_desc;

    /* huge topic count, classic int32: 2 billion elements with 7 bytes left */
    static const uint8_t huge[] = {0xff, 0xff, 0, 1, 0, 0, 0, 1, 0x7f, 0xff, 0xff, 0xff, 0, 1, 't', 0, 0, 0, 0};
    assert_int_equal(decode_bytes(pd, 3, huge, sizeof huge, &a, &e), RMQ_ERR_TRUNCATED);
    assert_string_equal(e.field, "topic_data");
    assert_int_equal(e.offset, 8);
    assert_int_equal(e.api_key, 0);
    assert_int_equal(e.version, 3);
    assert_true(a.used_total < 4096);

    /* negative array length other than -1 */
    static const uint8_t neg[] = {0xff, 0xff, 0, 1, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xfe};
    assert_int_equal(decode_bytes(pd, 3, neg, sizeof neg, &a, &e), RMQ_ERR_BAD_LENGTH);
    /* null (-1) for a non-nullable array */
    static const uint8_t nularr[] = {0xff, 0xff, 0, 1, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff};
    assert_int_equal(decode_bytes(pd, 3, nularr, sizeof nularr, &a, &e), RMQ_ERR_BAD_LENGTH);
    /* negative string length -5, and null in a non-nullable string */
    static const uint8_t negstr[] = {0xff, 0xfb, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0};
    assert_int_equal(decode_bytes(pd, 3, negstr, sizeof negstr, &a, &e), RMQ_ERR_BAD_LENGTH);
    assert_string_equal(e.field, "transactional_id");
    assert_int_equal(e.offset, 0);
    static const uint8_t nulname[] = {0xff, 0xff, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0xff, 0xff, 0, 0, 0, 0};
    assert_int_equal(decode_bytes(pd, 3, nulname, sizeof nulname, &a, &e), RMQ_ERR_BAD_LENGTH);
    assert_string_equal(e.path, "topic_data.name");
    assert_int_equal(e.offset, 12);
    /* compact string longer than Kafka's 32767 limit */
    static const uint8_t longstr[] = {0x81, 0x80, 0x02, 'x'};
    assert_int_equal(decode_bytes(pd, 9, longstr, sizeof longstr, &a, &e), RMQ_ERR_BAD_LENGTH);
    /* oversized string length */
    static const uint8_t bigstr[] = {0x7f, 0xff, 'x'};
    assert_int_equal(decode_bytes(pd, 3, bigstr, sizeof bigstr, &a, &e), RMQ_ERR_TRUNCATED);
    /* oversized records length (int32) */
    static const uint8_t bigrec[] = {0xff, 0xff, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 1, 't',
                                     0,    0,    0, 1, 0, 0, 0, 0, 0x7f, 0xff, 0xff, 0xff, 1};
    assert_int_equal(decode_bytes(pd, 3, bigrec, sizeof bigrec, &a, &e), RMQ_ERR_TRUNCATED);
    assert_string_equal(e.path, "topic_data.partition_data.records");

    /* flexible (v9): compact lengths */
    static const uint8_t badvar[] = {0x00, 0xff, 0xff, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01};
    assert_int_equal(decode_bytes(pd, 9, badvar, sizeof badvar, &a, &e), RMQ_ERR_BAD_VARINT);
    static const uint8_t hugevar[] = {0x00, 0xff, 0xff, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x02, 't'};
    assert_int_equal(decode_bytes(pd, 9, hugevar, sizeof hugevar, &a, &e), RMQ_ERR_TRUNCATED);
    assert_true(a.used_total < 4096);
    /* varint truncated in the middle */
    static const uint8_t cutvar[] = {0x00, 0xff, 0xff, 0, 0, 0, 1, 0x80};
    assert_int_equal(decode_bytes(pd, 9, cutvar, sizeof cutvar, &a, &e), RMQ_ERR_TRUNCATED);

    /* tagged fields: unknown tag skipped, known tag decoded, bad sizes rejected */
    const rmq_kafka_msg_desc_t *avd = &rmq_kmsg_api_versions_response_desc;
    static const uint8_t tags_ok[] = {0, 0, 1, 0, 0, 0, 0, /* err, 0 keys, throttle */
                                      2,                   /* two tagged fields */
                                      1, 8, 0, 0, 0, 0, 0, 0, 0, 9, /* tag 1 = 9 */
                                      77, 3, 0xaa, 0xbb, 0xcc};     /* unknown tag 77 */
    rmq_cur_t c;
    rmq_cur_init(&c, tags_ok, sizeof tags_ok);
    rmq_kmsg_api_versions_response_t av;
    assert_int_equal(rmq_kafka_decode(avd, 3, &c, &a, &av), RMQ_NONE);
    assert_int_equal(c.off, sizeof tags_ok);
    assert_int_equal(av.finalized_features_epoch, 9);
    assert_int_equal(av.api_keys.n, 0);
    static const uint8_t tag_short[] = {0, 0, 1, 0, 0, 0, 0, 1, 1, 4, 0, 0, 0, 9};
    assert_int_equal(decode_bytes(avd, 3, tag_short, sizeof tag_short, &a, &e), RMQ_ERR_TRUNCATED);
    assert_string_equal(e.field, "finalized_features_epoch");
    static const uint8_t tag_long[] = {0, 0, 1, 0, 0, 0, 0, 1, 1, 9, 0, 0, 0, 0, 0, 0, 0, 9, 0};
    assert_int_equal(decode_bytes(avd, 3, tag_long, sizeof tag_long, &a, &e), RMQ_ERR_BAD_LENGTH);
    static const uint8_t tag_over[] = {0, 0, 1, 0, 0, 0, 0, 1, 77, 50, 0};
    assert_int_equal(decode_bytes(avd, 3, tag_over, sizeof tag_over, &a, &e), RMQ_ERR_TRUNCATED);
    static const uint8_t tag_count_huge[] = {0, 0, 1, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f};
    assert_int_equal(decode_bytes(avd, 3, tag_count_huge, sizeof tag_count_huge, &a, &e), RMQ_ERR_TRUNCATED);

    /* arena cap: a valid frame whose arrays do not fit the cap gives NOMEM */
    rmq_arena_t tiny;
    rmq_arena_init(&tiny, 256);
    uint8_t many[6 + 2000 * 6];
    size_t n = 0;
    many[n++] = 0, many[n++] = 0; /* error */
    rmq_wbe32(many + n, 2000);
    n += 4;
    for (int i = 0; i < 2000; i++) {
        memset(many + n, 0, 6);
        n += 6;
    }
    rmq_cur_init(&c, many, n);
    void *obj = malloc(avd->size);
    assert_int_equal(rmq_kafka_decode(avd, 0, &c, &tiny, obj), RMQ_ERR_NOMEM);
    assert_true(tiny.used_total <= 256);
    free(obj);
    rmq_arena_free(&tiny);

    /* version outside the valid range */
    assert_int_equal(decode_bytes(pd, 12, huge, sizeof huge, &a, &e), RMQ_UNSUPPORTED_VERSION);
    rmq_arena_free(&a);
}

static void test_decode_request_frames(void **state) {
    (void)state;
    rmq_arena_t a;
    rmq_arena_init(&a, 1 << 20);
    rmq_kafka_request_header_t h;
    void *body;
    const rmq_kafka_msg_desc_t *d;
    rmq_kafka_decode_error_t e;
    /* Heartbeat v0 round trip through the frame helpers */
    rmq_kmsg_heartbeat_request_t hb;
    rmq_kafka_msg_init(&rmq_kmsg_heartbeat_request_desc, &hb);
    hb.group_id = rmq_kstr("g");
    hb.generation_id = 4;
    hb.member_id = rmq_kstr("m");
    rmq_kafka_request_header_t hh = {.api_key = 12, .api_version = 0, .correlation_id = 9, .client_id = rmq_kstr(NULL)};
    rmq_buf_t b;
    rmq_buf_init(&b);
    assert_int_equal(rmq_kafka_encode_request(&hh, &hb, &b), RMQ_NONE);
    assert_int_equal(rmq_be32(b.data), b.len - 4);
    assert_int_equal(rmq_kafka_decode_request(b.data + 4, b.len - 4, &a, &h, &body, &d, &e), RMQ_NONE);
    assert_int_equal(h.client_id.len, -1);
    assert_int_equal(((rmq_kmsg_heartbeat_request_t *)body)->generation_id, 4);
    /* trailing byte */
    rmq_buf_put_u8(&b, 0);
    assert_int_equal(rmq_kafka_decode_request(b.data + 4, b.len - 4, &a, &h, &body, &d, &e), RMQ_ERR_BAD_LENGTH);
    assert_null(body);
    /* unknown api and bad version: header still filled */
    uint8_t unk[] = {0x03, 0xe7, 0, 0, 0, 0, 0, 5, 0xff, 0xff};
    assert_int_equal(rmq_kafka_decode_request(unk, sizeof unk, &a, &h, &body, &d, &e), RMQ_ERR_UNSUPPORTED);
    assert_int_equal(h.correlation_id, 5);
    uint8_t badv[] = {0, 18, 0, 9, 0, 0, 0, 6, 0xff, 0xff, 0};
    assert_int_equal(rmq_kafka_decode_request(badv, sizeof badv, &a, &h, &body, &d, &e), RMQ_UNSUPPORTED_VERSION);
    assert_int_equal(h.correlation_id, 6);
    assert_int_equal(h.api_key, 18);
    /* truncated header */
    assert_int_equal(rmq_kafka_decode_request(badv, 5, &a, &h, &body, &d, &e), RMQ_ERR_TRUNCATED);
    char msg[200];
    rmq_kafka_decode_error_format(&e, msg, sizeof msg);
    assert_non_null(strstr(msg, "ERR_TRUNCATED"));

    /* response frame: Metadata v9 uses header v1 (one tagged-field byte) */
    rmq_kmsg_metadata_response_t mr;
    rmq_kafka_msg_init(&rmq_kmsg_metadata_response_desc, &mr);
    rmq_buf_reset(&b);
    assert_int_equal(rmq_kafka_encode_response(3, 9, 77, &mr, &b), RMQ_NONE);
    rmq_cur_t c;
    rmq_cur_init(&c, b.data + 4, b.len - 4);
    int32_t corr;
    assert_int_equal(rmq_kafka_decode_response_header(&c, 1, &corr), RMQ_NONE);
    assert_int_equal(corr, 77);
    assert_int_equal(c.off, 5);
    void *mr2 = rmq_arena_alloc(&a, sizeof mr);
    assert_int_equal(rmq_kafka_decode(&rmq_kmsg_metadata_response_desc, 9, &c, &a, mr2), RMQ_NONE);
    assert_int_equal(c.off, c.len);
    rmq_buf_free(&b);
    rmq_arena_free(&a);
}

/* ---- golden frames from real clients ------------------------------------------------------ */

static int cmp_str(const void *x, const void *y) { return strcmp(*(char *const *)x, *(char *const *)y); }

/* Decode every <prefix>*.bin frame in RMQ_SOURCE_DIR/<rel>, check its name
 * matches the decoded _<api>_v<ver>, re-encode, require identical bytes.
 * Returns the number of frames; counts api keys seen into apis_seen[64]. */
static size_t check_frames_dir(const char *rel, const char *prefix, int *apis_seen) {
    const char *src = getenv("RMQ_SOURCE_DIR");
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/%s", src ? src : ".", rel);
    DIR *dh = opendir(dir);
    if (!dh) fail_msg("cannot open %s (set RMQ_SOURCE_DIR)", dir);
    char *names[1024];
    size_t nn = 0;
    struct dirent *de;
    while ((de = readdir(dh)) && nn < 1024) {
        size_t l = strlen(de->d_name);
        if (l > 4 && strcmp(de->d_name + l - 4, ".bin") == 0 && strncmp(de->d_name, prefix, strlen(prefix)) == 0)
            names[nn++] = strdup(de->d_name);
    }
    closedir(dh);
    qsort(names, nn, sizeof names[0], cmp_str);
    static uint8_t frame[1 << 20];
    for (size_t i = 0; i < nn; i++) {
        char path[4400];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        FILE *f = fopen(path, "rb");
        assert_non_null(f);
        size_t len = fread(frame, 1, sizeof frame, f);
        fclose(f);
        rmq_arena_t a;
        rmq_arena_init(&a, 16 << 20);
        rmq_kafka_request_header_t h;
        void *body;
        const rmq_kafka_msg_desc_t *d;
        rmq_kafka_decode_error_t e;
        rmq_err_t rc = rmq_kafka_decode_request(frame, len, &a, &h, &body, &d, &e);
        if (rc) {
            char msg[256];
            rmq_kafka_decode_error_format(&e, msg, sizeof msg);
            fail_msg("%s: %s", names[i], msg);
        }
        /* the file name records api and version: <client>_<api>_v<ver>.bin */
        char want_suffix[64];
        snprintf(want_suffix, sizeof want_suffix, "_%s_v%d.bin", rmq_kafka_api_name(h.api_key), h.api_version);
        if (!strstr(names[i], want_suffix)) fail_msg("%s: decoded as %s", names[i], want_suffix);
        if (h.api_key >= 0 && h.api_key < 64) apis_seen[h.api_key]++;
        rmq_buf_t b;
        rmq_buf_init(&b);
        assert_int_equal(rmq_kafka_encode_request(&h, body, &b), RMQ_NONE);
        if (b.len - 4 != len || memcmp(b.data + 4, frame, len) != 0)
            fail_msg("%s: re-encoding differs (%zu vs %zu bytes)", names[i], b.len - 4, len);
        rmq_buf_free(&b);
        rmq_arena_free(&a);
        free(names[i]);
    }
    return nn;
}

static void test_golden(void **state) {
    (void)state;
    int apis_seen[64] = {0};
    size_t nn = check_frames_dir("tests/data/golden", "", apis_seen);
    assert_true(nn >= 20);
    /* what the capture must at least have covered */
    assert_true(apis_seen[RMQ_KAPI_API_VERSIONS] > 0);
    assert_true(apis_seen[RMQ_KAPI_METADATA] > 0);
    assert_true(apis_seen[RMQ_KAPI_PRODUCE] > 0);
    assert_true(apis_seen[RMQ_KAPI_FETCH] > 0);
    assert_true(apis_seen[RMQ_KAPI_LIST_OFFSETS] > 0);
    assert_true(apis_seen[RMQ_KAPI_INIT_PRODUCER_ID] > 0);
    assert_true(apis_seen[RMQ_KAPI_FIND_COORDINATOR] > 0);
    assert_true(apis_seen[RMQ_KAPI_CREATE_TOPICS] > 0);
    print_message("golden: %zu client frames decoded and re-encoded byte-identically\n", nn);
}

/* Frames written by capture_golden.py --synth with its own (Python) encoder:
 * lowest, highest and first flexible request version of every API with every
 * field set, tagged ones included. An independent check of the wire format
 * where no real client here sends those versions. */
static void test_synthetic_frames(void **state) {
    (void)state;
    int apis_seen[64] = {0};
    size_t nn = check_frames_dir("tests/fuzz/corpus/kafka_request", "synth_", apis_seen);
    assert_true(nn >= 56);
    for (size_t i = 0; i < rmq_kafka_api_count(); i++) assert_true(apis_seen[rmq_kafka_api_at(i)->api_key] >= 1);
    print_message("synthetic: %zu frames decoded and re-encoded byte-identically\n", nn);
}

/* Zero-copy responses: records of at least min_len bytes are left out of
 * the buffer and noted as splices; the buffer with the splices inserted is
 * byte for byte the copied encoding, size prefix included. Fetch v12
 * (flexible: compact lengths) and v11 (int32 lengths), three partitions of
 * which the small one is copied. */
static void test_spliced_response(void **s) {
    (void)s;
    static uint8_t big1[5000], big2[9000], small[100];
    for (size_t i = 0; i < sizeof big1; i++) big1[i] = (uint8_t)(i * 7);
    for (size_t i = 0; i < sizeof big2; i++) big2[i] = (uint8_t)(i * 13);
    memset(small, 0x5a, sizeof small);
    for (int16_t ver = 11; ver <= 12; ver++) {
        rmq_kmsg_fetch_response_t r;
        rmq_kafka_msg_init(&rmq_kmsg_fetch_response_desc, &r);
        rmq_kmsg_fetch_response_fetchable_topic_response_t t;
        memset(&t, 0, sizeof t);
        t.topic = (rmq_kstr_t){"t", 1};
        rmq_kmsg_fetch_response_partition_data_t pd[3];
        const uint8_t *recs[3] = {big1, small, big2};
        const int32_t lens[3] = {sizeof big1, sizeof small, sizeof big2};
        for (int i = 0; i < 3; i++) {
            memset(&pd[i], 0, sizeof pd[i]);
            pd[i].partition_index = i;
            pd[i].records = (rmq_kbytes_t){recs[i], lens[i]};
        }
        t.partitions.n = 3;
        t.partitions.v = pd;
        r.responses.n = 1;
        r.responses.v = &t;
        rmq_buf_t whole, cut;
        rmq_buf_init(&whole);
        rmq_buf_init(&cut);
        assert_int_equal(rmq_kafka_encode_response(RMQ_KAPI_FETCH, ver, 42, &r, &whole), RMQ_NONE);
        rmq_kafka_splices_t sp = {.min_len = 4096};
        assert_int_equal(rmq_kafka_encode_response_spliced(RMQ_KAPI_FETCH, ver, 42, &r, &cut, &sp), RMQ_NONE);
        assert_int_equal(sp.n, 2);
        assert_ptr_equal(sp.v[0].ptr, big1);
        assert_ptr_equal(sp.v[1].ptr, big2);
        assert_int_equal(sp.total, sizeof big1 + sizeof big2);
        assert_int_equal(cut.len + sp.total, whole.len);
        /* reassemble */
        uint8_t *flat = malloc(whole.len);
        size_t at = 0, o = 0;
        for (size_t i = 0; i < sp.n; i++) {
            memcpy(flat + o, cut.data + at, sp.v[i].at - at);
            o += sp.v[i].at - at;
            memcpy(flat + o, sp.v[i].ptr, sp.v[i].len);
            o += sp.v[i].len;
            at = sp.v[i].at;
        }
        memcpy(flat + o, cut.data + at, cut.len - at);
        o += cut.len - at;
        assert_int_equal(o, whole.len);
        assert_memory_equal(flat, whole.data, whole.len);
        assert_int_equal(rmq_be32(cut.data), (int32_t)(whole.len - 4)); /* the prefix counts the splices */
        free(flat);
        free(sp.v);
        rmq_buf_free(&whole);
        rmq_buf_free(&cut);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_api_table),
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_known_bytes_api_versions),
        cmocka_unit_test(test_known_bytes_produce_v3),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_decode_request_frames),
        cmocka_unit_test(test_roundtrip_all),
        cmocka_unit_test(test_golden),
        cmocka_unit_test(test_synthetic_frames),
        cmocka_unit_test(test_spliced_response),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
