/* test_meta_manifest.c - the object manifest in the metadata state machine:
 * ObjectManifestAdd / ObjectManifestTrim encoding (round trip, malformed
 * input), apply semantics (lookup by offset, idempotent retries, overlap
 * rejection, trims that make objects deletable, stream deletion through
 * DeleteTopic), and snapshot/restore of the manifest (byte-identical,
 * v1 snapshots still readable, corrupt manifests rejected). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/crc32c.h"
#include "controller/meta_cmd.h"
#include "controller/meta_state.h"

static int64_t g_index;

static rmq_err_t apply_cmd(rmq_meta_state_t *s, const rmq_meta_cmd_t *c, rmq_meta_result_t *res) {
    rmq_buf_t b;
    rmq_buf_init(&b);
    assert_int_equal(rmq_meta_cmd_encode(c, &b), 0);
    rmq_err_t e = rmq_meta_state_apply(s, b.data, b.len, ++g_index, res);
    rmq_buf_free(&b);
    return e;
}

static rmq_err_t add_obj(rmq_meta_state_t *s, const char *key, uint64_t id, uint64_t size,
                         const rmq_meta_obj_range_t *r, uint32_t n, rmq_meta_result_t *res) {
    rmq_meta_cmd_t c = {.type = RMQ_META_CMD_OBJECT_MANIFEST_ADD};
    c.u.manifest_add.key = key;
    c.u.manifest_add.object_id = id;
    c.u.manifest_add.size = size;
    c.u.manifest_add.n_ranges = n;
    c.u.manifest_add.ranges = r;
    return apply_cmd(s, &c, res);
}

static rmq_err_t trim(rmq_meta_state_t *s, uint64_t stream, int64_t ls, rmq_meta_result_t *res) {
    rmq_meta_cmd_t c = {.type = RMQ_META_CMD_OBJECT_MANIFEST_TRIM};
    c.u.manifest_trim.stream_id = stream;
    c.u.manifest_trim.new_log_start = ls;
    return apply_cmd(s, &c, res);
}

static rmq_meta_obj_range_t R(uint64_t s, int64_t b, int64_t e, uint64_t bo, uint64_t bl, int64_t ts) {
    return (rmq_meta_obj_range_t){s, b, e, bo, bl, ts};
}

static void test_codec(void **st) {
    (void)st;
    rmq_meta_obj_range_t rs[2] = {R(7, 0, 10, 32, 1000, 111), R(9, 5, 6, 1032, 80, 222)};
    rmq_meta_cmd_t c = {.type = RMQ_META_CMD_OBJECT_MANIFEST_ADD};
    c.u.manifest_add.key = "v1/abc/segments/00000000000000000001-5.obj";
    c.u.manifest_add.object_id = 1;
    c.u.manifest_add.size = 2000;
    c.u.manifest_add.n_ranges = 2;
    c.u.manifest_add.ranges = rs;
    rmq_buf_t b;
    rmq_buf_init(&b);
    assert_int_equal(rmq_meta_cmd_encode(&c, &b), 0);
    assert_int_equal(b.len, 16 + 2 + strlen(c.u.manifest_add.key) + 8 + 8 + 4 + 2 * 48);
    rmq_arena_t arena;
    rmq_arena_init(&arena, 1 << 20);
    rmq_meta_cmd_t d;
    assert_int_equal(rmq_meta_cmd_decode(b.data, b.len, &arena, &d, NULL), 0);
    assert_int_equal(d.type, RMQ_META_CMD_OBJECT_MANIFEST_ADD);
    assert_string_equal(d.u.manifest_add.key, c.u.manifest_add.key);
    assert_int_equal(d.u.manifest_add.object_id, 1);
    assert_int_equal(d.u.manifest_add.size, 2000);
    assert_int_equal(d.u.manifest_add.n_ranges, 2);
    assert_memory_equal(d.u.manifest_add.ranges, rs, sizeof rs);
    /* canonical: re-encoding gives the same bytes */
    rmq_buf_t b2;
    rmq_buf_init(&b2);
    assert_int_equal(rmq_meta_cmd_encode(&d, &b2), 0);
    assert_int_equal(b2.len, b.len);
    assert_memory_equal(b2.data, b.data, b.len);
    /* a range count larger than the body can hold */
    uint8_t *m = malloc(b.len);
    memcpy(m, b.data, b.len);
    size_t cnt_off = 16 + 2 + strlen(c.u.manifest_add.key) + 16;
    m[cnt_off] = 0x7f;
    uint32_t crc = rmq_crc32c(0, m + 4, 8);
    crc = rmq_crc32c(crc, m + 16, b.len - 16);
    m[12] = (uint8_t)(crc >> 24), m[13] = (uint8_t)(crc >> 16), m[14] = (uint8_t)(crc >> 8), m[15] = (uint8_t)crc;
    size_t off = 0;
    assert_int_equal(rmq_meta_cmd_decode(m, b.len, &arena, &d, &off), RMQ_ERR_BAD_LENGTH);
    /* every truncation fails */
    for (size_t n = 0; n < b.len; n++) assert_int_not_equal(rmq_meta_cmd_decode(b.data, n, &arena, &d, NULL), 0);
    free(m);
    /* trim */
    rmq_meta_cmd_t t = {.type = RMQ_META_CMD_OBJECT_MANIFEST_TRIM};
    t.u.manifest_trim.stream_id = 42;
    t.u.manifest_trim.new_log_start = 1234;
    rmq_buf_reset(&b);
    assert_int_equal(rmq_meta_cmd_encode(&t, &b), 0);
    assert_int_equal(b.len, 32);
    assert_int_equal(rmq_meta_cmd_decode(b.data, b.len, &arena, &d, NULL), 0);
    assert_int_equal(d.u.manifest_trim.stream_id, 42);
    assert_int_equal(d.u.manifest_trim.new_log_start, 1234);
    /* a key that is too long cannot be encoded */
    char longkey[300];
    memset(longkey, 'k', sizeof longkey - 1);
    longkey[sizeof longkey - 1] = 0;
    c.u.manifest_add.key = longkey;
    size_t before = b.len;
    assert_int_equal(rmq_meta_cmd_encode(&c, &b), RMQ_ERR_INVALID_ARG);
    assert_int_equal(b.len, before);
    rmq_arena_free(&arena);
    rmq_buf_free(&b);
    rmq_buf_free(&b2);
}

/* Per-broker segment-id ranges (quorum mode, docs/tiering.md): the largest
 * object id inside a range, 0 when the range holds none. */
static void test_max_id_in_range(void **st) {
    (void)st;
    g_index = 0;
    rmq_meta_state_t *s = rmq_meta_state_new(NULL);
    uint64_t ids[] = {3, 5, (1ull << 40) + 2, (1ull << 40) + 9, (2ull << 40) + 7};
    for (size_t i = 0; i < sizeof ids / sizeof *ids; i++) {
        rmq_meta_obj_range_t r[1] = {R(10 + i, 0, 10, 32, 100, 4000)};
        char key[32];
        snprintf(key, sizeof key, "k%zu", i);
        assert_int_equal(add_obj(s, key, ids[i], 200, r, 1, NULL), 0);
    }
    assert_int_equal(rmq_meta_state_manifest_max_id_in(s, 0, 1ull << 40), 5);
    assert_int_equal(rmq_meta_state_manifest_max_id_in(s, 1ull << 40, 2ull << 40), (1ull << 40) + 9);
    assert_int_equal(rmq_meta_state_manifest_max_id_in(s, 2ull << 40, 3ull << 40), (2ull << 40) + 7);
    assert_int_equal(rmq_meta_state_manifest_max_id_in(s, 3ull << 40, 4ull << 40), 0);
    assert_int_equal(rmq_meta_state_manifest_max_id_in(s, 4, 5), 0);
    rmq_meta_state_free(s);
}

static void test_apply_find_trim(void **st) {
    (void)st;
    g_index = 0;
    rmq_meta_state_t *s = rmq_meta_state_new(NULL);
    rmq_meta_result_t res;
    /* object 1: stream 1 [0,100), stream 2 [0,10); object 2: stream 1 [100,250) */
    rmq_meta_obj_range_t o1[2] = {R(1, 0, 100, 32, 5000, 1000), R(2, 0, 10, 5032, 700, 1500)};
    rmq_meta_obj_range_t o2[1] = {R(1, 100, 250, 32, 9000, 2000)};
    rmq_meta_result_init(&res);
    assert_int_equal(add_obj(s, "k1", 1, 6000, o1, 2, &res), 0);
    rmq_meta_result_free(&res);
    /* out-of-order commit of a later object is fine */
    rmq_meta_obj_range_t o3[1] = {R(1, 250, 300, 32, 800, 3000)};
    assert_int_equal(add_obj(s, "k3", 3, 900, o3, 1, NULL), 0);
    assert_int_equal(add_obj(s, "k2", 2, 9100, o2, 1, NULL), 0);
    size_t nobj = 0;
    uint64_t bytes = 0, maxid = 0;
    rmq_meta_state_manifest_totals(s, &nobj, &bytes, &maxid);
    assert_int_equal(nobj, 3);
    assert_int_equal(bytes, 6000 + 9100 + 900);
    assert_int_equal(maxid, 3);

    rmq_meta_obj_loc_t *v = NULL;
    size_t n = 0;
    assert_int_equal(rmq_meta_state_manifest_find(s, 1, 120, 0, &v, &n), 0);
    assert_int_equal(n, 2);
    assert_string_equal(v[0].key, "k2");
    assert_int_equal(v[0].range.base_offset, 100);
    assert_int_equal(v[0].object_size, 9100);
    assert_string_equal(v[1].key, "k3");
    free(v);
    assert_int_equal(rmq_meta_state_manifest_find(s, 1, 0, 1, &v, &n), 0);
    assert_int_equal(n, 1);
    assert_string_equal(v[0].key, "k1");
    free(v);
    assert_int_equal(rmq_meta_state_manifest_find(s, 1, 300, 0, &v, &n), 0);
    assert_int_equal(n, 0);
    assert_null(v);
    assert_int_equal(rmq_meta_state_manifest_find(s, 77, 0, 0, &v, &n), 0);
    assert_int_equal(n, 0);

    int64_t ls = -1, end = -1;
    size_t nr = 0;
    assert_true(rmq_meta_state_manifest_stream(s, 1, &ls, &end, &bytes, &nr));
    assert_int_equal(ls, 0);
    assert_int_equal(end, 300);
    assert_int_equal(bytes, 5000 + 9000 + 800);
    assert_int_equal(nr, 3);
    assert_false(rmq_meta_state_manifest_stream(s, 99, &ls, NULL, NULL, NULL));
    assert_true(rmq_meta_state_manifest_has_key(s, "k2"));
    assert_false(rmq_meta_state_manifest_has_key(s, "k9"));

    /* idempotent retry of the same object; the same id under another key is refused */
    uint64_t ver = rmq_meta_state_version(s);
    assert_int_equal(add_obj(s, "k2", 2, 9100, o2, 1, NULL), 0);
    rmq_meta_result_init(&res);
    assert_int_equal(add_obj(s, "other", 2, 9100, o2, 1, &res), RMQ_INVALID_REQUEST);
    rmq_meta_result_free(&res);
    /* overlapping an existing range is refused, state unchanged */
    rmq_meta_obj_range_t bad[1] = {R(1, 200, 260, 0, 10, 1)};
    assert_int_equal(add_obj(s, "k4", 4, 10, bad, 1, NULL), RMQ_INVALID_REQUEST);
    /* invalid ranges: empty, past the object's size, two overlapping in one object */
    rmq_meta_obj_range_t e1[1] = {R(1, 400, 400, 0, 10, 1)};
    assert_int_equal(add_obj(s, "k5", 5, 10, e1, 1, NULL), RMQ_INVALID_REQUEST);
    rmq_meta_obj_range_t e2[1] = {R(1, 400, 410, 5, 10, 1)};
    assert_int_equal(add_obj(s, "k5", 5, 10, e2, 1, NULL), RMQ_INVALID_REQUEST);
    rmq_meta_obj_range_t e3[2] = {R(1, 400, 410, 0, 5, 1), R(1, 405, 420, 5, 5, 1)};
    assert_int_equal(add_obj(s, "k5", 5, 10, e3, 2, NULL), RMQ_INVALID_REQUEST);
    assert_int_equal(add_obj(s, "", 5, 10, e2, 0, NULL), RMQ_INVALID_REQUEST);
    assert_int_equal(rmq_meta_state_version(s), ver + 1); /* only the idempotent retry counted */

    /* trim stream 1 to 150: object 1 still has stream 2's range */
    rmq_meta_result_init(&res);
    assert_int_equal(trim(s, 1, 150, &res), 0);
    assert_int_equal(res.n_deleted_keys, 0);
    rmq_meta_result_free(&res);
    assert_true(rmq_meta_state_manifest_stream(s, 1, &ls, &end, NULL, &nr));
    assert_int_equal(ls, 150);
    assert_int_equal(nr, 2); /* [100,250) still holds offsets >= 150 */
    /* trim stream 2 past its range: object 1 becomes deletable */
    rmq_meta_result_init(&res);
    assert_int_equal(trim(s, 2, 10, &res), 0);
    assert_int_equal(res.n_deleted_keys, 1);
    assert_string_equal(res.deleted_keys[0], "k1");
    rmq_meta_result_free(&res);
    assert_false(rmq_meta_state_manifest_has_key(s, "k1"));
    /* moving back is a no-op */
    assert_int_equal(trim(s, 1, 10, NULL), 0);
    assert_true(rmq_meta_state_manifest_stream(s, 1, &ls, NULL, NULL, NULL));
    assert_int_equal(ls, 150);
    /* a range that arrives already below the log start is dead on arrival */
    rmq_meta_obj_range_t dead[1] = {R(2, 0, 5, 0, 10, 1)};
    rmq_meta_result_init(&res);
    assert_int_equal(add_obj(s, "k6", 6, 10, dead, 1, &res), 0);
    assert_int_equal(res.n_deleted_keys, 1);
    assert_string_equal(res.deleted_keys[0], "k6");
    rmq_meta_result_free(&res);
    /* trim to the end: everything of stream 1 goes */
    rmq_meta_result_init(&res);
    assert_int_equal(trim(s, 1, 300, &res), 0);
    assert_int_equal(res.n_deleted_keys, 2);
    rmq_meta_result_free(&res);
    assert_true(rmq_meta_state_manifest_stream(s, 1, &ls, &end, &bytes, &nr));
    assert_int_equal(ls, 300);
    assert_int_equal(end, 300);
    assert_int_equal(nr, 0);
    rmq_meta_state_manifest_totals(s, &nobj, &bytes, &maxid);
    assert_int_equal(nobj, 0);
    /* trim of an unknown stream records its log start */
    assert_int_equal(trim(s, 50, 7, NULL), 0);
    assert_true(rmq_meta_state_manifest_stream(s, 50, &ls, &end, NULL, NULL));
    assert_int_equal(ls, 7);
    assert_int_equal(end, 7);
    rmq_meta_state_free(s);
}

static void test_delete_stream(void **st) {
    (void)st;
    g_index = 0;
    rmq_meta_state_t *s = rmq_meta_state_new(NULL);
    rmq_meta_cmd_t c = {.type = RMQ_META_CMD_CREATE_TOPIC};
    rmq_meta_uuid_t id = {{1, 2, 3}};
    c.u.create_topic.name = "t";
    c.u.create_topic.topic_id = id;
    c.u.create_topic.partitions = 2;
    c.u.create_topic.replication_factor = 1;
    assert_int_equal(apply_cmd(s, &c, NULL), 0); /* streams 1 and 2 */
    rmq_meta_obj_range_t a[2] = {R(1, 0, 10, 0, 10, 1), R(2, 0, 10, 10, 10, 1)};
    rmq_meta_obj_range_t b[1] = {R(2, 10, 20, 0, 10, 1)};
    rmq_meta_obj_range_t x[1] = {R(9, 0, 10, 0, 10, 1)};
    assert_int_equal(add_obj(s, "a", 1, 20, a, 2, NULL), 0);
    assert_int_equal(add_obj(s, "b", 2, 10, b, 1, NULL), 0);
    assert_int_equal(add_obj(s, "x", 3, 10, x, 1, NULL), 0);
    /* TRIM_ALL of stream 1: object a still holds stream 2 */
    rmq_meta_result_t res;
    rmq_meta_result_init(&res);
    assert_int_equal(trim(s, 1, RMQ_META_TRIM_ALL, &res), 0);
    assert_int_equal(res.n_deleted_keys, 0);
    rmq_meta_result_free(&res);
    assert_false(rmq_meta_state_manifest_stream(s, 1, NULL, NULL, NULL, NULL));
    /* deleting the topic drops stream 2 too: a and b are deletable, x stays */
    rmq_meta_cmd_t d = {.type = RMQ_META_CMD_DELETE_TOPIC};
    d.u.delete_topic.name = "t";
    rmq_meta_result_init(&res);
    assert_int_equal(apply_cmd(s, &d, &res), 0);
    assert_int_equal(res.n_deleted_keys, 2);
    assert_true((!strcmp(res.deleted_keys[0], "a") && !strcmp(res.deleted_keys[1], "b")) ||
                (!strcmp(res.deleted_keys[0], "b") && !strcmp(res.deleted_keys[1], "a")));
    rmq_meta_result_free(&res);
    assert_true(rmq_meta_state_manifest_has_key(s, "x"));
    assert_false(rmq_meta_state_manifest_has_key(s, "a"));
    /* more deletable objects than a result lists inline: the rest is counted */
    for (uint64_t o = 0; o < 40; o++) {
        rmq_meta_obj_range_t r1[1] = {R(20, (int64_t)o * 10, (int64_t)o * 10 + 10, 0, 10, 1)};
        char key[32];
        snprintf(key, sizeof key, "many/%llu", (unsigned long long)o);
        assert_int_equal(add_obj(s, key, 100 + o, 10, r1, 1, NULL), 0);
    }
    rmq_meta_result_init(&res);
    assert_int_equal(trim(s, 20, 400, &res), 0);
    assert_int_equal(res.n_deleted_keys, RMQ_META_RESULT_MAX_KEYS);
    assert_int_equal(res.n_deleted_dropped, 40 - RMQ_META_RESULT_MAX_KEYS);
    assert_string_equal(res.deleted_keys[0], "many/0");
    rmq_meta_result_t moved = res; /* plain struct copies are moves */
    rmq_meta_result_free(&res);
    assert_string_equal(moved.deleted_keys[1], "many/1");
    rmq_meta_result_free(&moved);
    rmq_meta_state_free(s);
}

static void test_snapshot(void **st) {
    (void)st;
    g_index = 0;
    rmq_meta_state_t *s = rmq_meta_state_new(NULL);
    for (uint64_t o = 1; o <= 50; o++) {
        rmq_meta_obj_range_t rs[3];
        for (int k = 0; k < 3; k++)
            rs[k] = R(1 + (uint64_t)k, (int64_t)(o - 1) * 100, (int64_t)o * 100, (uint64_t)k * 100, 100,
                      (int64_t)(o * 10 + (uint64_t)k));
        char key[64];
        snprintf(key, sizeof key, "v1/c/segments/%020llu-1.obj", (unsigned long long)o);
        assert_int_equal(add_obj(s, key, o, 300, rs, 3, NULL), 0);
    }
    assert_int_equal(trim(s, 1, 1000, NULL), 0);
    assert_int_equal(trim(s, 2, 2050, NULL), 0);
    rmq_buf_t snap;
    rmq_buf_init(&snap);
    assert_int_equal(rmq_meta_state_snapshot(s, &snap), 0);
    rmq_meta_state_t *r = rmq_meta_state_new(NULL);
    assert_int_equal(rmq_meta_state_restore(r, snap.data, snap.len), 0);
    assert_true(rmq_meta_state_equal(s, r));
    rmq_buf_t snap2;
    rmq_buf_init(&snap2);
    assert_int_equal(rmq_meta_state_snapshot(r, &snap2), 0);
    assert_int_equal(snap2.len, snap.len);
    assert_memory_equal(snap2.data, snap.data, snap.len);
    /* the restored state keeps behaving the same */
    rmq_meta_obj_loc_t *v;
    size_t n;
    assert_int_equal(rmq_meta_state_manifest_find(r, 2, 2060, 0, &v, &n), 0);
    assert_int_equal(n, 30);
    assert_int_equal(v[0].range.base_offset, 2000);
    free(v);
    rmq_meta_result_t res;
    rmq_meta_result_init(&res);
    g_index = rmq_meta_state_last_index(r);
    assert_int_equal(trim(r, 3, 5000, &res), 0);
    /* objects 1..10 had all three streams below their starts now */
    assert_int_equal(res.n_deleted_keys, 10);
    rmq_meta_result_free(&res);

    /* a manifest with an overlap or an object without live ranges is corrupt */
    rmq_meta_state_t *q = rmq_meta_state_new(NULL);
    size_t mf = snap.len - 4 - 4 - 3 * 16; /* streams section: u32 count + 3 x (id, start), then crc */
    uint8_t *m = malloc(snap.len);
    memcpy(m, snap.data, snap.len);
    /* stream 1's log start -> beyond every range: objects 1..10 lose their last live range */
    m[mf + 4 + 8 + 6] = 0x7f;
    m[mf + 4 + 8 + 7] = 0x00;
    uint32_t crc = rmq_crc32c(0, m, snap.len - 4);
    m[snap.len - 4] = (uint8_t)(crc >> 24), m[snap.len - 3] = (uint8_t)(crc >> 16);
    m[snap.len - 2] = (uint8_t)(crc >> 8), m[snap.len - 1] = (uint8_t)crc;
    /* objects 1..10 now only have stream 3 live ranges: still valid; so also
     * kill stream 3: set its start high */
    m[mf + 4 + 32 + 8 + 6] = 0x7f;
    crc = rmq_crc32c(0, m, snap.len - 4);
    m[snap.len - 4] = (uint8_t)(crc >> 24), m[snap.len - 3] = (uint8_t)(crc >> 16);
    m[snap.len - 2] = (uint8_t)(crc >> 8), m[snap.len - 1] = (uint8_t)crc;
    assert_int_equal(rmq_meta_state_restore(q, m, snap.len), RMQ_ERR_CORRUPT);
    assert_int_equal(rmq_meta_state_last_index(q), 0); /* unchanged */
    /* truncated manifest sections */
    for (size_t cut = 1; cut < 200; cut += 7) {
        size_t len = snap.len - cut;
        memcpy(m, snap.data, len - 4);
        crc = rmq_crc32c(0, m, len - 4);
        m[len - 4] = (uint8_t)(crc >> 24), m[len - 3] = (uint8_t)(crc >> 16);
        m[len - 2] = (uint8_t)(crc >> 8), m[len - 1] = (uint8_t)crc;
        assert_int_not_equal(rmq_meta_state_restore(q, m, len), 0);
    }
    /* a v1 snapshot (no manifest section) still restores */
    rmq_meta_state_t *e = rmq_meta_state_new(NULL);
    rmq_buf_t es;
    rmq_buf_init(&es);
    assert_int_equal(rmq_meta_state_snapshot(e, &es), 0);
    size_t v1len = es.len - 8; /* drop the two empty manifest counts */
    memcpy(m, es.data, v1len - 4);
    m[5] = 1;
    crc = rmq_crc32c(0, m, v1len - 4);
    m[v1len - 4] = (uint8_t)(crc >> 24), m[v1len - 3] = (uint8_t)(crc >> 16);
    m[v1len - 2] = (uint8_t)(crc >> 8), m[v1len - 1] = (uint8_t)crc;
    assert_int_equal(rmq_meta_state_restore(q, m, v1len), 0);
    assert_true(rmq_meta_state_equal(q, e));
    free(m);
    rmq_buf_free(&es);
    rmq_meta_state_free(e);
    rmq_meta_state_free(q);
    rmq_buf_free(&snap);
    rmq_buf_free(&snap2);
    rmq_meta_state_free(r);
    rmq_meta_state_free(s);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_codec),
        cmocka_unit_test(test_apply_find_trim),
        cmocka_unit_test(test_max_id_in_range),
        cmocka_unit_test(test_delete_stream),
        cmocka_unit_test(test_snapshot),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
