/* test_tier_storage.c - tiered storage below the broker: the object format
 * (plan, footer, trailer, key layout, corruption), the block cache (hot and
 * cold budgets, watermarks), the uploader against a real WAL and the local
 * object store (WAL space reclaimed only after the manifest commit, commit
 * failures retried, everything readable back byte-identical through the
 * tiered reader), injected object-store faults (PUT/GET errors, truncated
 * and corrupted bodies: retried or reported, never wrong bytes), and WAL
 * seeding for an empty-WAL restart. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "storage_test_util.h"

#include "common/crc32c.h"
#include "storage/objstore.h"
#include "storage/tier_cache.h"
#include "storage/tier_format.h"
#include "storage/tier_read.h"
#include "storage/tier_upload.h"
#include "storage/wal_format.h"

/* ---- format ---- */

static void test_format_roundtrip(void **st) {
    (void)st;
    /* two streams interleaved in file order, one with a gap */
    rmq_store_seg_entry_t e[6] = {
        {.stream_id = 2, .base_offset = 0, .record_count = 2, .max_ts = 50, .type = RMQ_WAL_DATA, .file_offset = 0, .len = 100},
        {.stream_id = 1, .base_offset = 10, .record_count = 1, .max_ts = 40, .type = RMQ_WAL_DATA, .file_offset = 164, .len = 36},
        {.stream_id = 2, .base_offset = 2, .record_count = 3, .max_ts = 70, .type = RMQ_WAL_DATA, .file_offset = 264, .len = 200},
        {.stream_id = 1, .base_offset = 11, .type = RMQ_WAL_TRIM, .file_offset = 528, .len = 0},
        {.stream_id = 1, .base_offset = 11, .record_count = 4, .max_ts = 45, .type = RMQ_WAL_DATA, .file_offset = 592, .len = 20},
        {.stream_id = 2, .base_offset = 9, .record_count = 1, .max_ts = 90, .type = RMQ_WAL_DATA, .file_offset = 676, .len = 10},
    };
    rmq_tier_plan_t p;
    assert_int_equal(rmq_tier_plan_build(e, 6, &p), 0);
    assert_int_equal(p.n_ranges, 3); /* s1 [10,15), s2 [0,5), s2 [9,10) */
    assert_int_equal(p.ranges[0].stream_id, 1);
    assert_int_equal(p.ranges[0].base_offset, 10);
    assert_int_equal(p.ranges[0].end_offset, 15);
    assert_int_equal(p.ranges[0].byte_offset, RMQ_TIER_HDR);
    assert_int_equal(p.ranges[0].byte_length, 64 + 36 + 64 + 20);
    assert_int_equal(p.ranges[0].max_ts, 45);
    assert_int_equal(p.ranges[1].base_offset, 0);
    assert_int_equal(p.ranges[1].end_offset, 5);
    assert_int_equal(p.ranges[2].base_offset, 9);
    assert_int_equal(p.first_ts, 40);
    assert_int_equal(p.n_items, 5);
    uint8_t *obj = calloc(1, p.total_size);
    rmq_tier_write_meta(&p, 77, 1234, obj);
    uint64_t seg;
    int64_t created;
    uint32_t nr;
    assert_int_equal(rmq_tier_header_decode(obj, &seg, &created, &nr), 0);
    assert_int_equal(seg, 77);
    assert_int_equal(created, 1234);
    assert_int_equal(nr, 3);
    uint64_t fo, fl;
    uint32_t crc;
    assert_int_equal(rmq_tier_trailer_decode(obj + p.total_size - RMQ_TIER_TRAILER, p.total_size, &fo, &fl, &crc), 0);
    assert_int_equal(fo, p.footer_off);
    rmq_tier_footer_t f;
    assert_int_equal(rmq_tier_footer_decode(obj + fo, (size_t)fl, crc, fo, &f), 0);
    assert_int_equal(f.n_ranges, 3);
    assert_int_equal(rmq_tier_footer_find(&f, 2, 4), 1);
    assert_int_equal(rmq_tier_footer_find(&f, 2, 9), 2);
    assert_int_equal(rmq_tier_footer_find(&f, 2, 6), -1);
    assert_int_equal(rmq_tier_footer_find(&f, 3, 0), -1);
    assert_int_equal(rmq_tier_footer_seek(&f, &f.ranges[0], 12), RMQ_TIER_HDR);
    rmq_tier_footer_free(&f);
    /* every bit flip in the footer is caught */
    for (uint64_t i = 0; i < fl; i += 3) {
        obj[fo + i] ^= 4;
        assert_int_not_equal(rmq_tier_footer_decode(obj + fo, (size_t)fl, crc, fo, &f), 0);
        obj[fo + i] ^= 4;
    }
    /* trailer pointing outside the object */
    assert_int_not_equal(rmq_tier_trailer_decode(obj + p.total_size - RMQ_TIER_TRAILER, p.total_size + 1, &fo, &fl, &crc), 0);
    free(obj);
    rmq_tier_plan_free(&p);

    char key[128];
    assert_int_equal(rmq_tier_object_key(key, sizeof key, "v1/CID", 42, 1700000000000), 0);
    assert_string_equal(key, "v1/CID/segments/00000000000000000042-1700000000000.obj");
    uint64_t id = 0;
    assert_int_equal(rmq_tier_key_parse(key, "v1/CID", &id), 0);
    assert_int_equal(id, 42);
    assert_int_equal(rmq_tier_key_parse(key, "v1/OTHER", &id), RMQ_ERR_PARSE);
    assert_int_equal(rmq_tier_key_parse("v1/CID/segments/42-1.obj", "v1/CID", &id), RMQ_ERR_PARSE);
    assert_int_equal(rmq_tier_object_key(key, 20, "v1/CID", 42, 1), RMQ_ERR_TOO_LARGE);

    /* backoff: within [d/2, d], doubling, capped */
    for (uint32_t a = 1; a < 12; a++)
        for (uint32_t r = 0; r < 50; r++) {
            uint32_t ms = rmq_tier_backoff_ms(100, 5000, a, r * 7919u);
            uint32_t d = 100u << (a - 1);
            if (d > 5000) d = 5000;
            assert_true(ms >= d / 2 && ms <= d);
        }
}

/* ---- a fault-injecting object store wrapping the local one ---- */

typedef struct fault_store {
    rmq_obj_store_t base;
    rmq_obj_store_t *inner;
    atomic_int put_fail;  /* fail the next N puts with AGAIN */
    atomic_int get_fail;  /* fail the next N gets with AGAIN */
    atomic_int get_short; /* return the next N gets one byte short, claiming success */
    atomic_int get_flip;  /* flip a byte in the next N get bodies */
    atomic_int puts, gets;
} fault_store_t;

static rmq_err_t f_put(rmq_obj_store_t *s, const char *key, const void *d, size_t n, rmq_obj_status_t *st) {
    fault_store_t *f = (fault_store_t *)s;
    atomic_fetch_add(&f->puts, 1);
    if (atomic_load(&f->put_fail) > 0 && atomic_fetch_sub(&f->put_fail, 1) > 0)
        return rmq_obj_fail(st, RMQ_ERR_AGAIN, 503, "injected");
    return rmq_obj_put(f->inner, key, d, n, st);
}

static rmq_err_t f_get(rmq_obj_store_t *s, const char *key, uint64_t off, int64_t len, rmq_buf_t *out,
                       rmq_obj_status_t *st) {
    fault_store_t *f = (fault_store_t *)s;
    atomic_fetch_add(&f->gets, 1);
    if (atomic_load(&f->get_fail) > 0 && atomic_fetch_sub(&f->get_fail, 1) > 0)
        return rmq_obj_fail(st, RMQ_ERR_AGAIN, 500, "injected");
    size_t before = out->len;
    rmq_err_t e = rmq_obj_get(f->inner, key, off, len, out, st);
    if (e) return e;
    if (atomic_load(&f->get_short) > 0 && atomic_fetch_sub(&f->get_short, 1) > 0 && out->len > before) out->len--;
    if (atomic_load(&f->get_flip) > 0 && atomic_fetch_sub(&f->get_flip, 1) > 0 && out->len > before)
        out->data[before + (out->len - before) / 2] ^= 0x40;
    return 0;
}

static rmq_err_t f_head(rmq_obj_store_t *s, const char *key, uint64_t *size, rmq_obj_status_t *st) {
    return rmq_obj_head(((fault_store_t *)s)->inner, key, size, st);
}
static rmq_err_t f_list(rmq_obj_store_t *s, const char *prefix, const char *token, size_t max, rmq_obj_list_t *out,
                        rmq_obj_status_t *st) {
    return rmq_obj_list(((fault_store_t *)s)->inner, prefix, token, max, out, st);
}
static rmq_err_t f_del(rmq_obj_store_t *s, const char *const *keys, size_t n, rmq_obj_status_t *st) {
    return rmq_obj_delete(((fault_store_t *)s)->inner, keys, n, st);
}
static void f_close(rmq_obj_store_t *s) { (void)s; }
static const rmq_obj_ops_t fault_ops = {f_put, f_get, f_head, f_list, f_del, f_close};

static rmq_obj_store_t *open_local(const char *root) {
    rmq_obj_config_t oc;
    memset(&oc, 0, sizeof oc);
    oc.type = RMQ_OBJ_LOCAL;
    oc.root = root;
    rmq_obj_store_t *os = NULL;
    assert_int_equal(rmq_obj_open(&oc, &os, NULL), 0);
    return os;
}

/* ---- the cache ---- */

static void test_cache_budgets(void **st) {
    (void)st;
    char *dir = tu_mkdir();
    rmq_obj_store_t *os = open_local(dir);
    size_t sz = 64 * 4096;
    uint8_t *data = malloc(sz);
    for (size_t i = 0; i < sz; i++) data[i] = (uint8_t)(i * 31 + (i >> 12));
    assert_int_equal(rmq_obj_put(os, "o/hot", data, sz, NULL), 0);
    assert_int_equal(rmq_obj_put(os, "o/cold", data, sz, NULL), 0);
    rmq_tier_cache_config_t cc = {.capacity_bytes = 16 * 4096, .hot_fraction = 0.5, .block_size = 4096};
    rmq_tier_cache_t *c = rmq_tier_cache_new(&cc, os);
    uint8_t buf[20000];
    /* the hot tail: 4 blocks */
    for (int k = 0; k < 4; k++) {
        assert_int_equal(rmq_tier_cache_read(c, "o/hot", 1, sz, (uint64_t)k * 4096 + 100, 5000, true, buf), 0);
        assert_memory_equal(buf, data + k * 4096 + 100, 5000);
    }
    /* a backfill over the whole cold object */
    for (size_t off = 0; off + 10000 <= sz; off += 10000) {
        assert_int_equal(rmq_tier_cache_read(c, "o/cold", 2, sz, off, 10000, false, buf), 0);
        assert_memory_equal(buf, data + off, 10000);
    }
    rmq_tier_cache_stats_t s;
    rmq_tier_cache_stats(c, &s);
    assert_true(s.cold_bytes <= 8 * 4096);
    assert_true(s.evictions > 0);
    /* the hot blocks survived the backfill */
    for (int k = 0; k < 5; k++) assert_true(rmq_tier_cache_contains(c, 1, (uint64_t)k * 4096));
    uint64_t misses = s.hot_misses;
    assert_int_equal(rmq_tier_cache_read(c, "o/hot", 1, sz, 0, 4096 * 4, true, buf), 0);
    rmq_tier_cache_stats(c, &s);
    assert_int_equal(s.hot_misses, misses);
    /* out of range */
    assert_int_equal(rmq_tier_cache_read(c, "o/hot", 1, sz, sz - 1, 2, true, buf), RMQ_ERR_INVALID_ARG);
    rmq_tier_cache_invalidate(c, 1);
    assert_false(rmq_tier_cache_contains(c, 1, 0));
    rmq_tier_cache_free(c);
    free(data);
    rmq_obj_close(os);
    tu_rmdir(dir);
}

/* ---- uploader + reader against a real WAL ---- */

typedef struct rec_manifest {
    pthread_mutex_t mu;
    atomic_int fail_commits;
    size_t n;
    struct {
        char key[256];
        uint64_t id, size;
        size_t nr;
        rmq_tier_range_t *r;
    } m[256];
    rmq_store_t *st; /* to check the segment is not reclaimed before commit */
    atomic_int reclaimed_before_commit;
} rec_manifest_t;

/* An empty manifest recorder for uploads from st; free with rec_manifest_free. */
static rec_manifest_t *rec_manifest_new(rmq_store_t *st) {
    rec_manifest_t *rm = calloc(1, sizeof *rm);
    assert_non_null(rm);
    pthread_mutex_init(&rm->mu, NULL);
    rm->st = st;
    return rm;
}

static void rec_manifest_free(rec_manifest_t *rm) {
    for (size_t i = 0; i < rm->n; i++) free(rm->m[i].r);
    pthread_mutex_destroy(&rm->mu);
    free(rm);
}

static rmq_err_t rec_commit(void *ud, const rmq_tier_manifest_t *m, char *err, size_t errlen) {
    rec_manifest_t *r = ud;
    if (atomic_load(&r->fail_commits) > 0 && atomic_fetch_sub(&r->fail_commits, 1) > 0) {
        snprintf(err, errlen, "injected commit failure");
        return RMQ_ERR_AGAIN;
    }
    /* the segment must still be in the WAL while we commit */
    uint8_t b;
    if (rmq_store_segment_pread(r->st, m->object_id, 0, &b, 1) != 0) atomic_fetch_add(&r->reclaimed_before_commit, 1);
    pthread_mutex_lock(&r->mu);
    assert_true(r->n < 256);
    snprintf(r->m[r->n].key, sizeof r->m[r->n].key, "%s", m->key);
    r->m[r->n].id = m->object_id;
    r->m[r->n].size = m->size;
    r->m[r->n].nr = m->n_ranges;
    r->m[r->n].r = malloc(m->n_ranges * sizeof *m->ranges);
    memcpy(r->m[r->n].r, m->ranges, m->n_ranges * sizeof *m->ranges);
    r->n++;
    pthread_mutex_unlock(&r->mu);
    return 0;
}

/* Find the manifest range of stream s holding offset off. */
static bool rec_find(rec_manifest_t *r, uint64_t s, int64_t off, rmq_tier_loc_t *loc) {
    for (size_t i = 0; i < r->n; i++)
        for (size_t k = 0; k < r->m[i].nr; k++) {
            const rmq_tier_range_t *x = &r->m[i].r[k];
            if (x->stream_id == s && x->base_offset <= off && off < x->end_offset) {
                memset(loc, 0, sizeof *loc);
                snprintf(loc->key, sizeof loc->key, "%s", r->m[i].key);
                loc->object_id = r->m[i].id;
                loc->object_size = r->m[i].size;
                loc->stream_id = s;
                loc->base_offset = x->base_offset;
                loc->end_offset = x->end_offset;
                loc->byte_offset = x->byte_offset;
                loc->byte_length = x->byte_length;
                return true;
            }
        }
    return false;
}

typedef struct done_w {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int pending;
    int errors;
} done_w_t;

static void append_cb(void *ud, rmq_err_t err, int64_t off) {
    (void)off;
    done_w_t *w = ud;
    pthread_mutex_lock(&w->mu);
    w->pending--;
    if (err) w->errors++;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

#define DONE_W_INIT {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0}

/* Count one more append in flight (before rmq_store_append with append_cb). */
static void done_w_add(done_w_t *w) {
    pthread_mutex_lock(&w->mu);
    w->pending++;
    pthread_mutex_unlock(&w->mu);
}

/* Wait until every counted append completed. */
static void done_w_wait(done_w_t *w) {
    pthread_mutex_lock(&w->mu);
    while (w->pending) pthread_cond_wait(&w->cv, &w->mu);
    pthread_mutex_unlock(&w->mu);
}

/* Deterministic batch content: 8-byte offset slot + bytes from (stream, index). */
static size_t make_batch(uint8_t *b, uint64_t s, int64_t idx) {
    size_t len = 200 + (size_t)((s * 131 + (uint64_t)idx * 17) % 3000);
    memset(b, 0, 8);
    for (size_t i = 8; i < len; i++) b[i] = (uint8_t)(s * 7 + (uint64_t)idx * 13 + i);
    return len;
}

#define NSTREAMS 3
#define NBATCH 1500

static void run_upload_and_read(bool faults) {
    char *wal = tu_mkdir(), *objs = tu_mkdir();
    rmq_store_config_t sc;
    rmq_store_config_default(&sc);
    sc.dir = wal;
    sc.segment_size_bytes = 512 << 10;
    sc.capacity_bytes = 2 << 20; /* 4 segments; we write ~3.4 MiB */
    sc.fsync_on_write = false;
    sc.write_cache_size_bytes = 64 << 10;
    rmq_store_t *st = NULL;
    char err[256];
    assert_int_equal(rmq_store_open(&sc, NULL, &st, err, sizeof err), 0);
    rmq_obj_store_t *local = open_local(objs);
    fault_store_t fs = {.base = {&fault_ops, "fault", NULL}, .inner = local};
    rmq_obj_store_t *os = faults ? &fs.base : local;
    if (faults) {
        atomic_store(&fs.put_fail, 3);
    }
    rec_manifest_t *rm = rec_manifest_new(st);
    if (faults) atomic_store(&rm->fail_commits, 2);
    rmq_tier_upload_config_t uc = {.key_prefix = "v1/TEST", .max_concurrent_uploads = 2, .retry_base_ms = 5,
                                   .retry_max_ms = 50};
    rmq_tier_uploader_t *u = NULL;
    assert_int_equal(rmq_tier_uploader_start(&uc, os, st, rec_commit, rm, &u), 0);
    rmq_store_set_sealed_cb(st, rmq_tier_uploader_on_sealed, u);

    done_w_t w = DONE_W_INIT;
    uint8_t batch[4096];
    int full_waits = 0;
    for (int64_t i = 0; i < NBATCH; i++) {
        for (uint64_t s = 1; s <= NSTREAMS; s++) {
            size_t len = make_batch(batch, s, i);
            done_w_add(&w);
            rmq_err_t e;
            int tries = 0;
            while ((e = rmq_store_append(st, s, batch, len, 1, 1000 + i, append_cb, &w)) == RMQ_ERR_WAL_FULL) {
                full_waits++;
                assert_true(++tries < 2000); /* never stuck: reclaim frees space */
                tu_sleep_ms(2);
            }
            assert_int_equal(e, 0);
        }
    }
    done_w_wait(&w);
    assert_int_equal(w.errors, 0);
    assert_true(rmq_tier_uploader_wait_idle(u, 20000));
    rmq_tier_upload_stats_t us;
    rmq_tier_uploader_stats(u, &us);
    assert_true(us.objects_uploaded >= 5);
    assert_int_equal(us.segments_reclaimed, us.objects_uploaded);
    /* the 64 KiB write cache holds at most an eighth of a 512 KiB segment:
     * most entries were read back from the file (and CRC-checked); the
     * read-back below checks every uploaded entry byte for byte */
    assert_true(us.entries_read > 0);
    assert_true(us.entries_from_cache + us.entries_read >= us.objects_uploaded);
    assert_int_equal(atomic_load(&rm->reclaimed_before_commit), 0);
    if (faults) {
        assert_true(us.upload_retries >= 3);
        assert_true(us.commit_failures >= 2);
    }
    rmq_store_stats_t ss;
    rmq_store_stats(st, &ss);
    assert_true(ss.allocated_bytes <= sc.capacity_bytes);

    /* read everything back: the WAL when local, else the tier */
    rmq_tier_reader_config_t rc = {.cache = {.capacity_bytes = 1 << 20, .block_size = 64 << 10}, .workers = 2};
    rmq_tier_reader_t *rd = rmq_tier_reader_new(&rc, os);
    assert_non_null(rd);
    size_t from_tier = 0;
    int64_t last_injected = -1;
    for (uint64_t s = 1; s <= NSTREAMS; s++) {
        int64_t off = 0;
        while (off < NBATCH) {
            rmq_store_read_t r;
            rmq_err_t e = rmq_store_read(st, s, off, 20000, &r);
            if (e == 0) {
                assert_true(r.iovcnt > 0);
                for (size_t k = 0; k < r.iovcnt; k++) {
                    size_t len = make_batch(batch, s, off + (int64_t)k);
                    assert_int_equal(r.iov[k].iov_len, len);
                    assert_memory_equal((uint8_t *)r.iov[k].iov_base + 8, batch + 8, len - 8);
                }
                off = r.next_offset;
                rmq_store_read_release(&r);
                continue;
            }
            rmq_store_read_release(&r);
            assert_int_equal(e, RMQ_ERR_NOT_FOUND);
            rmq_tier_loc_t loc;
            assert_true(rec_find(rm, s, off, &loc));
            bool inject = faults && off != last_injected;
            last_injected = off;
            if (inject && off % 7 == 0) {
                atomic_store(&fs.get_flip, 1);
                rmq_tier_reader_forget(rd, loc.object_id);
            }
            if (inject && off % 11 == 0) {
                atomic_store(&fs.get_short, 1);
                rmq_tier_reader_forget(rd, loc.object_id);
            }
            rmq_tier_read_result_t res;
            e = rmq_tier_read(rd, &loc, off, 20000, false, &res);
            if (faults && e) { /* a retriable error is allowed, wrong bytes are not */
                assert_true(e == RMQ_ERR_CORRUPT || e == RMQ_ERR_AGAIN);
                atomic_store(&fs.get_flip, 0);
                atomic_store(&fs.get_short, 0);
                continue;
            }
            assert_int_equal(e, 0);
            size_t pos = 0;
            for (size_t k = 0; k < res.n_batches; k++) {
                int64_t o = off + (int64_t)k;
                size_t len = make_batch(batch, s, o);
                assert_true(pos + len <= res.len);
                assert_int_equal((int64_t)rmq_be64(res.data + pos), o); /* the WAL-assigned base offset */
                assert_memory_equal(res.data + pos + 8, batch + 8, len - 8);
                pos += len;
            }
            assert_int_equal(pos, res.len);
            assert_int_equal(res.next_offset, off + (int64_t)res.n_batches);
            from_tier += res.n_batches;
            off = res.next_offset;
            rmq_tier_read_result_free(&res);
        }
    }
    assert_true(from_tier > NBATCH);
    /* a read from the middle of a range uses the footer's sparse index */
    rmq_tier_loc_t loc;
    assert_true(rec_find(rm, 2, 100, &loc));
    rmq_tier_read_result_t res;
    assert_int_equal(rmq_tier_read(rd, &loc, 100, 1, true, &res), 0);
    assert_int_equal(res.n_batches, 1);
    assert_int_equal((int64_t)rmq_be64(res.data), 100);
    rmq_tier_read_result_free(&res);
    rmq_tier_reader_stats_t rs;
    rmq_tier_reader_stats(rd, &rs);
    if (faults) assert_true(rs.corrupt > 0 || rs.cache.get_retries > 0);
    rmq_tier_reader_free(rd);

    rmq_store_set_sealed_cb(st, NULL, NULL);
    rmq_tier_uploader_stop(u);
    rmq_store_close(st);
    rec_manifest_free(rm);
    rmq_obj_close(local);
    tu_rmdir(wal);
    tu_rmdir(objs);
}

/* The uploader paces a large object's local O_DIRECT writes (its token
 * bucket holds 2 MiB, so an 8 MiB segment must wait for most of its
 * chunks) and reports the wait; the object is still complete. Without
 * O_DIRECT here the writes are buffered and nothing is paced. */
/* Every object of a WAL's full segments gets the same buffer size, whether
 * its segment ended a batch short of the segment size or its index pushed
 * it past it: a kept buffer then always fits the next object. */
static void test_upload_buffer_size(void **st) {
    (void)st;
    const size_t MiB = 1u << 20;
    size_t segs[] = {16 * MiB, 128 * MiB, 1024 * MiB};
    for (size_t i = 0; i < sizeof segs / sizeof *segs; i++) {
        size_t want = rmq_tier_buffer_size(segs[i]);
        assert_true(want >= segs[i] + 512 * 1024);
        assert_int_equal(want % (8 * MiB), 0);
        /* a last batch of up to 1 MiB that did not fit .. an index of 512 KiB */
        for (size_t n = segs[i] - MiB; n <= segs[i] + 512 * 1024; n += 4096)
            assert_int_equal(rmq_tier_buffer_size(n), want);
    }
    /* small objects (time-triggered seals, small segments) get their size */
    assert_int_equal(rmq_tier_buffer_size(0), 1);
    assert_int_equal(rmq_tier_buffer_size(20000), 20000);
    assert_int_equal(rmq_tier_buffer_size(5 * MiB), 5 * MiB);
}

static void test_upload_paced(void **st) {
    (void)st;
    char *wal = tu_mkdir(), *objs = tu_mkdir();
    bool dio = tu_dir_takes_odirect(objs);
    rmq_store_config_t sc;
    rmq_store_config_default(&sc);
    sc.dir = wal;
    sc.segment_size_bytes = 8 << 20;
    sc.capacity_bytes = 32 << 20;
    sc.fsync_on_write = false;
    rmq_store_t *stor = NULL;
    char err[256];
    assert_int_equal(rmq_store_open(&sc, NULL, &stor, err, sizeof err), 0);
    rmq_obj_store_t *os = open_local(objs);
    rec_manifest_t *rm = rec_manifest_new(stor);
    rmq_tier_upload_config_t uc = {.key_prefix = "v1/TEST", .max_concurrent_uploads = 1};
    rmq_tier_uploader_t *u = NULL;
    assert_int_equal(rmq_tier_uploader_start(&uc, os, stor, rec_commit, rm, &u), 0);
    rmq_store_set_sealed_cb(stor, rmq_tier_uploader_on_sealed, u);
    done_w_t w = DONE_W_INIT;
    uint8_t batch[4096];
    int64_t i = 0;
    for (uint64_t total = 0; total < (9u << 20); i++) { /* fills segment 1, spills into 2 */
        size_t len = make_batch(batch, 1, i);
        done_w_add(&w);
        assert_int_equal(rmq_store_append(stor, 1, batch, len, 1, 1000 + i, append_cb, &w), 0);
        total += len;
    }
    done_w_wait(&w);
    assert_int_equal(w.errors, 0);
    /* the sealed callback may run just after the last completion: wait for
     * the upload itself, not only for an idle uploader */
    rmq_tier_upload_stats_t us;
    for (int k = 0; k < 2000; k++) {
        assert_true(rmq_tier_uploader_wait_idle(u, 20000));
        rmq_tier_uploader_stats(u, &us);
        if (us.objects_uploaded >= 1) break;
        tu_sleep_ms(10);
    }
    assert_true(us.objects_uploaded >= 1);
    assert_int_equal(us.segments_reclaimed, us.objects_uploaded);
    /* the default 64 MiB write cache still holds all 9 MiB appended: every
     * entry of the object was copied from memory, none read back (and the
     * read-back below checks them byte for byte) */
    assert_true(us.entries_from_cache > 0);
    assert_int_equal(us.entries_read, 0);
    if (dio) assert_true(us.paced_ns > 0);
    else assert_int_equal(us.paced_ns, 0);
    /* the paced object holds every batch of the segment */
    rmq_tier_loc_t loc;
    assert_true(rec_find(rm, 1, 0, &loc));
    rmq_tier_reader_config_t rc = {.cache = {.capacity_bytes = 16 << 20, .block_size = 1 << 20}, .workers = 1};
    rmq_tier_reader_t *rd = rmq_tier_reader_new(&rc, os);
    assert_non_null(rd);
    int64_t off = 0;
    while (off < i) {
        rmq_tier_loc_t l;
        if (!rec_find(rm, 1, off, &l)) break; /* the rest is still in the WAL */
        rmq_tier_read_result_t res;
        assert_int_equal(rmq_tier_read(rd, &l, off, 1 << 20, false, &res), 0);
        size_t pos = 0;
        for (size_t k = 0; k < res.n_batches; k++) {
            size_t len = make_batch(batch, 1, off + (int64_t)k);
            assert_int_equal((int64_t)rmq_be64(res.data + pos), off + (int64_t)k);
            assert_memory_equal(res.data + pos + 8, batch + 8, len - 8);
            pos += len;
        }
        assert_true(res.n_batches > 0);
        off = res.next_offset;
        rmq_tier_read_result_free(&res);
    }
    assert_true(off > 0);
    rmq_tier_reader_free(rd);
    rmq_store_set_sealed_cb(stor, NULL, NULL);
    rmq_tier_uploader_stop(u);
    rmq_store_close(stor);
    rec_manifest_free(rm);
    rmq_obj_close(os);
    tu_rmdir(wal);
    tu_rmdir(objs);
}

static void test_upload_read(void **st) {
    (void)st;
    run_upload_and_read(false);
}

static void test_upload_read_faults(void **st) {
    (void)st;
    run_upload_and_read(true);
}

/* ---- async reads ---- */

typedef struct async_w {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool done;
    rmq_err_t err;
    rmq_tier_read_result_t res;
} async_w_t;

static void async_cb(void *ud, rmq_err_t err, rmq_tier_read_result_t *res) {
    async_w_t *w = ud;
    pthread_mutex_lock(&w->mu);
    w->err = err;
    w->res = *res;
    w->done = true;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

static void test_async_and_seed(void **st) {
    (void)st;
    /* an object built by hand: one stream, 3 batches */
    char *objs = tu_mkdir();
    rmq_obj_store_t *os = open_local(objs);
    uint8_t payload[3][100];
    rmq_store_seg_entry_t e[3];
    for (int i = 0; i < 3; i++) {
        memset(payload[i], 'a' + i, 100);
        rmq_wbe64(payload[i], (uint64_t)(5 + i));
        e[i] = (rmq_store_seg_entry_t){.stream_id = 9, .base_offset = 5 + i, .record_count = 1, .max_ts = 7,
                                       .type = RMQ_WAL_DATA, .file_offset = (uint64_t)i * 164, .len = 100};
    }
    rmq_tier_plan_t p;
    assert_int_equal(rmq_tier_plan_build(e, 3, &p), 0);
    uint8_t *obj = calloc(1, p.total_size);
    for (int i = 0; i < 3; i++) {
        rmq_wal_hdr_t h = {.len = 100, .type = RMQ_WAL_DATA, .stream_id = 9, .base_offset = 5 + i,
                           .record_count = 1, .max_ts = 7, .seg_id = 3};
        rmq_wal_hdr_encode(obj + p.items[i].obj_off, &h, payload[i], rmq_wal_body_crc(payload[i], 100));
        memcpy(obj + p.items[i].obj_off + 64, payload[i], 100);
    }
    rmq_tier_write_meta(&p, 3, 1, obj);
    assert_int_equal(rmq_obj_put(os, "k/3", obj, p.total_size, NULL), 0);
    rmq_tier_loc_t loc = {.key = "k/3", .object_id = 3, .object_size = p.total_size, .stream_id = 9,
                          .base_offset = 5, .end_offset = 8, .byte_offset = p.ranges[0].byte_offset,
                          .byte_length = p.ranges[0].byte_length};
    rmq_tier_reader_config_t rc = {.cache = {.capacity_bytes = 1 << 20}, .workers = 2};
    rmq_tier_reader_t *rd = rmq_tier_reader_new(&rc, os);
    async_w_t w = {.done = false};
    pthread_mutex_init(&w.mu, NULL);
    pthread_cond_init(&w.cv, NULL);
    assert_int_equal(rmq_tier_read_async(rd, &loc, 6, 1 << 20, false, async_cb, &w), 0);
    pthread_mutex_lock(&w.mu);
    while (!w.done) pthread_cond_wait(&w.cv, &w.mu);
    pthread_mutex_unlock(&w.mu);
    assert_int_equal(w.err, 0);
    assert_int_equal(w.res.n_batches, 2);
    assert_int_equal(w.res.len, 200);
    assert_memory_equal(w.res.data, payload[1], 100);
    assert_memory_equal(w.res.data + 100, payload[2], 100);
    rmq_tier_read_result_free(&w.res);
    /* an object id that does not match the entries' segment id never validates */
    rmq_tier_loc_t bad = loc;
    bad.object_id = 4;
    rmq_tier_read_result_t res;
    assert_int_equal(rmq_tier_read(rd, &bad, 5, 100, true, &res), RMQ_ERR_CORRUPT);
    assert_int_equal(rmq_tier_read(rd, &loc, 8, 100, true, &res), RMQ_ERR_INVALID_ARG);
    rmq_tier_reader_free(rd);
    free(obj);
    rmq_tier_plan_free(&p);
    rmq_obj_close(os);
    tu_rmdir(objs);

    /* seeding: an empty WAL continues the streams at the manifest's end */
    char *wal = tu_mkdir();
    rmq_tier_seed_stream_t ss[2] = {{1, 10, 500}, {2, 0, 42}};
    bool seeded = false;
    char err[256];
    assert_int_equal(rmq_tier_seed_wal(wal, 17, ss, 2, &seeded, err, sizeof err), 0);
    assert_true(seeded);
    rmq_store_config_t sc;
    rmq_store_config_default(&sc);
    sc.dir = wal;
    sc.segment_size_bytes = 1 << 20;
    sc.capacity_bytes = 4 << 20;
    rmq_store_t *stt = NULL;
    assert_int_equal(rmq_store_open(&sc, NULL, &stt, err, sizeof err), 0);
    int64_t ls, hw;
    rmq_store_stream_info(stt, 1, &ls, &hw, NULL);
    assert_int_equal(ls, 10);
    assert_int_equal(hw, 500);
    rmq_store_read_t r;
    assert_int_equal(rmq_store_read(stt, 1, 20, 1000, &r), RMQ_ERR_NOT_FOUND);
    rmq_store_read_release(&r);
    assert_int_equal(rmq_store_read(stt, 1, 5, 1000, &r), RMQ_OFFSET_OUT_OF_RANGE);
    rmq_store_read_release(&r);
    /* new appends continue at the end, in a segment with a fresh id */
    done_w_t dw = {.pending = 1};
    pthread_mutex_init(&dw.mu, NULL);
    pthread_cond_init(&dw.cv, NULL);
    uint8_t b[64] = {0};
    assert_int_equal(rmq_store_append(stt, 2, b, sizeof b, 1, 1, append_cb, &dw), 0);
    pthread_mutex_lock(&dw.mu);
    while (dw.pending) pthread_cond_wait(&dw.cv, &dw.mu);
    pthread_mutex_unlock(&dw.mu);
    rmq_store_stream_info(stt, 2, NULL, &hw, NULL);
    assert_int_equal(hw, 43);
    rmq_store_close(stt);
    char segpath[512];
    snprintf(segpath, sizeof segpath, "%s/wal-%016llx.seg", wal, 17ull);
    assert_int_equal(access(segpath, F_OK), 0);
    /* a WAL directory in use is never seeded again */
    assert_int_equal(rmq_tier_seed_wal(wal, 99, ss, 2, &seeded, err, sizeof err), 0);
    assert_false(seeded);
    tu_rmdir(wal);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_format_roundtrip),
        cmocka_unit_test(test_cache_budgets),
        cmocka_unit_test(test_upload_read),
        cmocka_unit_test(test_upload_paced),
        cmocka_unit_test(test_upload_buffer_size),
        cmocka_unit_test(test_upload_read_faults),
        cmocka_unit_test(test_async_and_seed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
