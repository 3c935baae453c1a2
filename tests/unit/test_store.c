/* test_store.c - unit tests of the storage engine's read budgets
 * (src/storage/store.c): rmq_store_read returns whole batches up to
 * max_bytes but always the first one (it may exceed the budget), and
 * rmq_store_read_within returns only whole batches that fit, possibly none
 * (Fetch after the response's first batch, KIP-74). Both from the write
 * cache and from the WAL file (cache off), and for a batch that left the
 * local WAL (RMQ_ERR_NOT_FOUND whatever the budget, so the object tier is
 * asked). Plain writes only: the budget rule does not depend on the write
 * mode (test_wal.c repeats reads in every mode). */
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "common/buf.h"
#include "storage_test_util.h"

#define BATCH 1000 /* bytes of each test batch */
#define COUNT 10   /* records per batch: batch i holds offsets [10 i, 10 i + 10) */

static rmq_store_t *open_store(const char *dir, uint64_t cache_bytes) {
    rmq_store_config_t c;
    rmq_store_config_default(&c);
    c.dir = dir;
    c.direct_io = false;
    c.io_uring = false;
    c.segment_size_bytes = 256 * 1024;
    c.capacity_bytes = 4 * 1024 * 1024;
    c.write_cache_size_bytes = cache_bytes;
    rmq_store_t *st = NULL;
    char err[256];
    rmq_err_t e = rmq_store_open(&c, NULL, &st, err, sizeof err);
    if (e) fprintf(stderr, "open: %s: %s\n", rmq_err_name(e), err);
    assert_int_equal(e, RMQ_NONE);
    return st;
}

static void put_batches(rmq_store_t *st, uint64_t sid, int n) {
    uint8_t b[BATCH];
    for (int i = 0; i < n; i++) {
        int64_t off = -1;
        tu_fill(b, sizeof b, sid, (int64_t)i * COUNT);
        assert_int_equal(tu_append(st, sid, b, sizeof b, COUNT, 0, &off), RMQ_NONE);
        assert_int_equal(off, (int64_t)i * COUNT);
    }
}

/* Read with `within` (rmq_store_read_within) or not; check the batches
 * returned: n of them, starting with the one holding offset first. */
static void expect_read(rmq_store_t *st, bool within, int64_t offset, size_t max_bytes, size_t n, int64_t first) {
    rmq_store_read_t r;
    rmq_err_t e = within ? rmq_store_read_within(st, 1, offset, max_bytes, &r)
                         : rmq_store_read(st, 1, offset, max_bytes, &r);
    assert_int_equal(e, RMQ_NONE);
    assert_int_equal(r.iovcnt, n);
    assert_int_equal(r.bytes, n * BATCH);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(r.iov[i].iov_len, BATCH);
        assert_int_equal((int64_t)rmq_be64(r.iov[i].iov_base), first + (int64_t)i * COUNT);
    }
    assert_int_equal(r.next_offset, n ? first + (int64_t)n * COUNT : offset);
    assert_int_equal(r.high_watermark, 5 * COUNT);
    rmq_store_read_release(&r);
}

static void check_budgets(rmq_store_t *st) {
    /* rmq_store_read: at least one batch, however small the budget */
    expect_read(st, false, 0, 0, 1, 0);
    expect_read(st, false, 0, 1, 1, 0);
    expect_read(st, false, 25, 999, 1, 20);
    expect_read(st, false, 0, 2500, 2, 0);
    expect_read(st, false, 0, 1 << 20, 5, 0);
    /* rmq_store_read_within: only batches that fit */
    expect_read(st, true, 0, 0, 0, 0);
    expect_read(st, true, 0, 1, 0, 0);
    expect_read(st, true, 0, BATCH - 1, 0, 0);
    expect_read(st, true, 25, BATCH - 1, 0, 20); /* inside a batch: that batch or nothing */
    expect_read(st, true, 25, BATCH, 1, 20);
    expect_read(st, true, 0, 2 * BATCH, 2, 0);
    expect_read(st, true, 0, 2500, 2, 0);
    expect_read(st, true, 10, 1 << 20, 4, 10);
    /* the ends of the stream behave as rmq_store_read's */
    expect_read(st, true, 5 * COUNT, 1, 0, 0);
    rmq_store_read_t r;
    assert_int_equal(rmq_store_read_within(st, 1, 5 * COUNT + 1, 1, &r), RMQ_OFFSET_OUT_OF_RANGE);
    rmq_store_read_release(&r);
    assert_int_equal(rmq_store_read_within(st, 99, 0, 1, &r), RMQ_NONE); /* unknown stream: empty */
    assert_int_equal(r.iovcnt, 0);
    rmq_store_read_release(&r);
}

static void test_budget_from_cache(void **state) {
    (void)state;
    char *dir = tu_mkdir();
    rmq_store_t *st = open_store(dir, 1 << 20);
    put_batches(st, 1, 5);
    check_budgets(st);
    rmq_store_close(st);
    tu_rmdir(dir);
}

static void test_budget_from_wal_file(void **state) {
    (void)state;
    char *dir = tu_mkdir();
    rmq_store_t *st = open_store(dir, 0); /* no write cache: every read is a pread */
    put_batches(st, 1, 5);
    check_budgets(st);
    rmq_store_close(st);
    /* and after recovery */
    st = open_store(dir, 0);
    check_budgets(st);
    rmq_store_close(st);
    tu_rmdir(dir);
}

typedef struct sealed_ids {
    pthread_mutex_t mu;
    uint64_t ids[8];
    int n;
} sealed_ids_t;

static void on_sealed(void *ud, const rmq_store_segment_info_t *seg) {
    sealed_ids_t *s = ud;
    pthread_mutex_lock(&s->mu);
    if (s->n < 8) s->ids[s->n++] = seg->segment_id;
    pthread_mutex_unlock(&s->mu);
}

/* A batch that is no longer local is RMQ_ERR_NOT_FOUND for both reads,
 * whatever the budget: the caller must ask the object tier, not take the
 * empty answer that means "does not fit". */
static void test_within_reclaimed_is_not_found(void **state) {
    (void)state;
    char *dir = tu_mkdir();
    rmq_store_t *st = open_store(dir, 1 << 20);
    sealed_ids_t sl = {PTHREAD_MUTEX_INITIALIZER, {0}, 0};
    rmq_store_set_sealed_cb(st, on_sealed, &sl);
    put_batches(st, 1, 3);
    assert_int_equal(rmq_store_seal_active(st), RMQ_NONE);
    assert_int_equal(sl.n, 1);
    uint8_t b[BATCH];
    tu_fill(b, sizeof b, 1, 30);
    assert_int_equal(tu_append(st, 1, b, sizeof b, COUNT, 0, NULL), RMQ_NONE); /* offsets 30..39, local */
    assert_int_equal(rmq_store_reclaim(st, sl.ids[0]), RMQ_NONE);
    rmq_store_read_t r;
    size_t budgets[] = {0, 1, BATCH - 1, BATCH, 1 << 20};
    for (size_t i = 0; i < sizeof budgets / sizeof budgets[0]; i++) {
        assert_int_equal(rmq_store_read_within(st, 1, 10, budgets[i], &r), RMQ_ERR_NOT_FOUND);
        rmq_store_read_release(&r);
        assert_int_equal(rmq_store_read(st, 1, 10, budgets[i], &r), RMQ_ERR_NOT_FOUND);
        rmq_store_read_release(&r);
    }
    /* the local batch after them: the usual budget rule */
    assert_int_equal(rmq_store_read_within(st, 1, 30, BATCH - 1, &r), RMQ_NONE);
    assert_int_equal(r.iovcnt, 0);
    rmq_store_read_release(&r);
    assert_int_equal(rmq_store_read_within(st, 1, 30, BATCH, &r), RMQ_NONE);
    assert_int_equal(r.iovcnt, 1);
    rmq_store_read_release(&r);
    rmq_store_set_sealed_cb(st, NULL, NULL);
    rmq_store_close(st);
    tu_rmdir(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_budget_from_cache),
        cmocka_unit_test(test_budget_from_wal_file),
        cmocka_unit_test(test_within_reclaimed_is_not_found),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
