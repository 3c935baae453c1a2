/* test_wal.c - unit tests of the storage engine (src/storage): appends,
 * reads, offsets, write cache, recovery, trim/delete durability, reclaim and
 * back-pressure, and injected I/O faults (short writes, EIO on fdatasync,
 * ENOSPC, corrupted and torn tails), time-based sealing. Every test runs
 * once per WAL write mode (plain, O_DIRECT, io_uring, O_DIRECT + io_uring;
 * RMQ_WAL_MODES=plain,direct,... selects). The kill -9 crash test lives in
 * test_storage_crash.c. */
#include <fcntl.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <cmocka.h>

#include "common/buf.h"
#include "common/crc32c.h"
#include "common/log.h"
#include "storage/wal_format.h"
#include "storage_test_util.h"

static tu_mode_t g_mode = {"plain", false, false}; /* the mode of the group being run */

static rmq_store_config_t small_cfg(const char *dir) {
    rmq_store_config_t c;
    rmq_store_config_default(&c);
    tu_mode_apply(&c, &g_mode);
    c.dir = dir;
    c.segment_size_bytes = 256 * 1024;
    c.capacity_bytes = 4 * 1024 * 1024;
    c.write_cache_size_bytes = 1 << 20;
    return c;
}

static rmq_store_t *open_ok(const rmq_store_config_t *c, const rmq_wal_io_t *io) {
    rmq_store_t *st = NULL;
    char err[256];
    rmq_err_t e = rmq_store_open(c, io, &st, err, sizeof(err));
    if (e) fprintf(stderr, "open: %s: %s\n", rmq_err_name(e), err);
    assert_int_equal(e, RMQ_NONE);
    assert_non_null(st);
    return st;
}

/* Append a deterministic batch of len bytes; checks the offset. */
static void put(rmq_store_t *st, uint64_t sid, size_t len, int32_t cnt, int64_t expect_off) {
    uint8_t *b = malloc(len);
    tu_fill(b, len, sid, expect_off);
    memset(b, 0xEE, 8); /* the store must overwrite it */
    int64_t off = -2;
    assert_int_equal(tu_append(st, sid, b, len, cnt, 1000 + expect_off, &off), RMQ_NONE);
    assert_int_equal(off, expect_off);
    free(b);
}

/* Read the whole stream from `from` and check every batch against tu_fill;
 * returns the number of batches, *end = next offset. lens/cnt fixed. */
static int verify_stream(rmq_store_t *st, uint64_t sid, int64_t from, size_t len, int32_t cnt, int64_t *end) {
    int n = 0;
    int64_t off = from;
    uint8_t *exp = malloc(len);
    for (;;) {
        rmq_store_read_t r;
        rmq_err_t e = rmq_store_read(st, sid, off, 1 << 20, &r);
        assert_int_equal(e, RMQ_NONE);
        if (r.iovcnt == 0) {
            rmq_store_read_release(&r);
            break;
        }
        for (size_t i = 0; i < r.iovcnt; i++) {
            assert_int_equal(r.iov[i].iov_len, len);
            tu_fill(exp, len, sid, off);
            assert_memory_equal(r.iov[i].iov_base, exp, len);
            off += cnt;
            n++;
        }
        assert_int_equal(r.next_offset, off);
        rmq_store_read_release(&r);
    }
    free(exp);
    if (end) *end = off;
    return n;
}

static void test_roundtrip_and_reopen(void **state) {
    (void)state;
    char *dir = tu_mkdir();
    rmq_store_config_t c = small_cfg(dir);
    rmq_store_t *st = open_ok(&c, NULL);
    for (int i = 0; i < 60; i++)
        for (uint64_t s = 1; s <= 3; s++) put(st, s, 100 + (size_t)s * 10, 2, (int64_t)i * 2);
    int64_t ls, hw, le, end;
    for (uint64_t s = 1; s <= 3; s++) {
        rmq_store_stream_info(st, s, &ls, &hw, &le);
        assert_int_equal(ls, 0);
        assert_int_equal(hw, 120);
        assert_int_equal(le, 120);
        assert_int_equal(verify_stream(st, s, 0, 100 + s * 10, 2, &end), 60);
        assert_int_equal(end, 120);
    }
    rmq_store_close(st);
    st = open_ok(&c, NULL);
    uint64_t *ids;
    size_t n;
    assert_int_equal(rmq_store_list_streams(st, &ids, &n), RMQ_NONE);
    assert_int_equal(n, 3);
    free(ids);
    for (uint64_t s = 1; s <= 3; s++) {
        rmq_store_stream_info(st, s, &ls, &hw, &le);
        assert_int_equal(hw, 120);
        assert_int_equal(le, 120);
        assert_int_equal(verify_stream(st, s, 0, 100 + s * 10, 2, NULL), 60);
        put(st, s, 100 + s * 10, 2, 120);
    }
    assert_int_equal(verify_stream(st, 2, 0, 120, 2, &end), 61);
    rmq_store_close(st);
    tu_rmdir(dir);
}

/* ---- several threads appending to one stream ---- */
typedef struct cc_arg {
    rmq_store_t *st;
    int tid;
    int64_t offs[200];
    atomic_int done;
} cc_arg_t;

static void cc_cb(void *ud, rmq_err_t err, int64_t off) {
    (void)off;
    cc_arg_t *a = ud;
    assert_int_equal(err, RMQ_NONE);
    atomic_fetch_add(&a->done, 1);
}

static void *cc_thread(void *p) {
    cc_arg_t *a = p;
    for (int i = 0; i < 200; i++) {
        uint8_t b[64] = {0};
        b[8] = (uint8_t)a->tid;
        memcpy(b + 9, &i, sizeof(i));
        int64_t hw_before;
        rmq_store_stream_info(a->st, 7, NULL, NULL, &hw_before);
        assert_int_equal(rmq_store_append(a->st, 7, b, sizeof(b), 3, 0, cc_cb, a), RMQ_NONE);
        (void)hw_before;
    }
    return NULL;
}

static void test_concurrent_offsets(void **state) {
    (void)state;
    char *dir = tu_mkdir();
    rmq_store_config_t c = small_cfg(dir);
    rmq_store_t *st = open_ok(&c, NULL);
    cc_arg_t args[4];
    pthread_t th[4];
    for (int t = 0; t < 4; t++) {
        memset(&args[t], 0, sizeof(args[t]));
        args[t].st = st;
        args[t].tid = t;
        pthread_create(&th[t], NULL, cc_thread, &args[t]);
    }
    for (int t = 0; t < 4; t++) pthread_join(th[t], NULL);
    assert_int_equal(rmq_store_sync(st), RMQ_NONE);
    for (int t = 0; t < 4; t++) assert_int_equal(atomic_load(&args[t].done), 200);
    int64_t hw;
    rmq_store_stream_info(st, 7, NULL, &hw, NULL);
    assert_int_equal(hw, 4 * 200 * 3);
    /* every batch at the offset the file says, each thread's in call order */
    int last[4] = {-1, -1, -1, -1};
    int64_t off = 0;
    while (off < hw) {
        rmq_store_read_t r;
        assert_int_equal(rmq_store_read(st, 7, off, 4096, &r), RMQ_NONE);
        assert_true(r.iovcnt > 0);
        for (size_t i = 0; i < r.iovcnt; i++) {
            const uint8_t *b = r.iov[i].iov_base;
            assert_int_equal((int64_t)rmq_be64(b), off);
            int tid = b[8], seq;
            memcpy(&seq, b + 9, sizeof(seq));
            assert_int_equal(seq, last[tid] + 1);
            last[tid] = seq;
            off += 3;
        }
        rmq_store_read_release(&r);
    }
    for (int t = 0; t < 4; t++) assert_int_equal(last[t], 199);
    rmq_store_stats_t s;
    rmq_store_stats(st, &s);
    assert_int_equal(s.appends, 800);
    assert_true(s.fsyncs >= 1 && s.fsyncs <= 801); /* group commit may merge */
    rmq_store_close(st);
    tu_rmdir(dir);
}

static void test_read_semantics(void **state) {
    (void)state;
    char *dir = tu_mkdir();
    rmq_store_config_t c = small_cfg(dir);
    rmq_store_t *st = open_ok(&c, NULL);
    rmq_store_read_t r;
    /* unknown stream = empty */
    assert_int_equal(rmq_store_read(st, 99, 0, 100, &r), RMQ_NONE);
    assert_int_equal(r.iovcnt, 0);
    rmq_store_read_release(&r);
    for (int i = 0; i < 10; i++) put(st, 1, 1000, 10, i * 10);
    /* offset inside a batch returns that whole batch */
    assert_int_equal(rmq_store_read(st, 1, 25, 1, &r), RMQ_NONE);
    assert_int_equal(r.iovcnt, 1);
    assert_int_equal((int64_t)rmq_be64(r.iov[0].iov_base), 20);
    assert_int_equal(r.next_offset, 30);
    rmq_store_read_release(&r);
    /* max_bytes limits, but at least one batch */
    assert_int_equal(rmq_store_read(st, 1, 0, 2500, &r), RMQ_NONE);
    assert_int_equal(r.iovcnt, 2);
    assert_int_equal(r.bytes, 2000);
    rmq_store_read_release(&r);
    /* at end: empty; beyond: out of range */
    assert_int_equal(rmq_store_read(st, 1, 100, 2500, &r), RMQ_NONE);
    assert_int_equal(r.iovcnt, 0);
    rmq_store_read_release(&r);
    assert_int_equal(rmq_store_read(st, 1, 101, 2500, &r), RMQ_OFFSET_OUT_OF_RANGE);
    rmq_store_read_release(&r);
    /* timestamps: put() uses 1000 + base */
    int64_t o;
    assert_int_equal(rmq_store_offset_for_timestamp(st, 1, 1035, &o), RMQ_NONE);
    assert_int_equal(o, 40);
    assert_int_equal(rmq_store_offset_for_timestamp(st, 1, 0, &o), RMQ_NONE);
    assert_int_equal(o, 0);
    assert_int_equal(rmq_store_offset_for_timestamp(st, 1, 99999, &o), RMQ_NONE);
    assert_int_equal(o, -1);
    /* trim, then below log start is out of range */
    assert_int_equal(rmq_store_trim(st, 1, 35), RMQ_NONE);
    assert_int_equal(rmq_store_trim(st, 1, 1000), RMQ_OFFSET_OUT_OF_RANGE);
    assert_int_equal(rmq_store_read(st, 1, 34, 100, &r), RMQ_OFFSET_OUT_OF_RANGE);
    rmq_store_read_release(&r);
    assert_int_equal(rmq_store_read(st, 1, 35, 1, &r), RMQ_NONE);
    assert_int_equal((int64_t)rmq_be64(r.iov[0].iov_base), 30);
    rmq_store_read_release(&r);
    /* bad arguments */
    uint8_t b[8] = {0};
    assert_int_equal(rmq_store_append(st, 1, b, 7, 1, 0, NULL, NULL), RMQ_ERR_INVALID_ARG);
    assert_int_equal(rmq_store_append(st, 1, b, 8, 0, 0, NULL, NULL), RMQ_ERR_INVALID_ARG);
    uint8_t *big = calloc(1, c.segment_size_bytes);
    assert_int_equal(rmq_store_append(st, 1, big, c.segment_size_bytes, 1, 0, NULL, NULL), RMQ_ERR_TOO_LARGE);
    free(big);
    rmq_store_close(st);
    tu_rmdir(dir);
}

static void test_write_cache(void **state) {
    (void)state;
    char *dir = tu_mkdir();
    rmq_store_config_t c = small_cfg(dir);
    rmq_store_t *st = open_ok(&c, NULL);
    for (int i = 0; i < 5; i++) put(st, 1, 5000, 1, i);
    rmq_store_read_t r1, r2;
    assert_int_equal(rmq_store_read(st, 1, 0, 1 << 20, &r1), RMQ_NONE);
    assert_int_equal(rmq_store_read(st, 1, 0, 1 << 20, &r2), RMQ_NONE);
    assert_int_equal(r1.iovcnt, 5);
    for (size_t i = 0; i < 5; i++) assert_ptr_equal(r1.iov[i].iov_base, r2.iov[i].iov_base); /* zero-copy */
    rmq_store_read_release(&r1);
    rmq_store_read_release(&r2);
    rmq_store_close(st);
    /* a 12 KB cache: old batches come from the file, still byte-identical */
    c.write_cache_size_bytes = 12000;
    st = open_ok(&c, NULL);
    for (int i = 5; i < 40; i++) put(st, 1, 5000, 1, i);
    rmq_store_stats_t s;
    rmq_store_stats(st, &s);
    assert_true(s.cache_bytes <= 12000);
    assert_int_equal(verify_stream(st, 1, 0, 5000, 1, NULL), 40);
    assert_int_equal(rmq_store_read(st, 1, 0, 1, &r1), RMQ_NONE);
    assert_int_equal(rmq_store_read(st, 1, 0, 1, &r2), RMQ_NONE);
    assert_ptr_not_equal(r1.iov[0].iov_base, r2.iov[0].iov_base); /* read from the WAL each time */
    rmq_store_read_release(&r1);
    rmq_store_read_release(&r2);
    rmq_store_close(st);
    tu_rmdir(dir);
}

static void test_short_writes(void **state) {
    (void)state;
    char *dir = tu_mkdir();
    tu_fault_io_t f;
    tu_fault_init(&f);
    /* O_DIRECT writes can only be cut at block boundaries */
    atomic_store(&f.max_write, g_mode.direct ? 8192 : 333);
    rmq_store_config_t c = small_cfg(dir);
    tu_fault_attach(&c, &f);
    rmq_store_t *st = open_ok(&c, &f.io);
    for (int i = 0; i < 40; i++) put(st, 5, 3000, 1, i);
    put(st, 6, 40000, 1, 0); /* several short writes in one group */
    if (g_mode.uring) assert_true(atomic_load(&f.uring_writes) > 40);
    rmq_store_close(st);
    st = open_ok(&c, NULL);
    int64_t end;
    assert_int_equal(verify_stream(st, 5, 0, 3000, 1, &end), 40);
    assert_int_equal(end, 40);
    rmq_store_read_t r;
    assert_int_equal(rmq_store_read(st, 6, 0, 1, &r), RMQ_NONE);
    uint8_t *exp = malloc(40000);
    tu_fill(exp, 40000, 6, 0);
    assert_int_equal(r.iov[0].iov_len, 40000);
    assert_memory_equal(r.iov[0].iov_base, exp, 40000);
    free(exp);
    rmq_store_read_release(&r);
    rmq_store_close(st);
    tu_rmdir(dir);
}

/* dsync: the io table offers pwritev_dsync (the default), so synced writes
 * are RWF_DSYNC writes; otherwise pwritev + fdatasync. */
static void fsync_eio_read_only(bool dsync) {
    char *dir = tu_mkdir();
    tu_fault_io_t f;
    tu_fault_init(&f);
    if (!dsync) f.io.pwritev_dsync = NULL;
    rmq_store_config_t c = small_cfg(dir);
    c.prefill_segments = false; /* its O_DIRECT opens would count below as the data path's */
    tu_fault_attach(&c, &f);
    rmq_store_t *st = open_ok(&c, &f.io);
    for (int i = 0; i < 10; i++) put(st, 1, 200, 1, i);
    assert_int_equal(rmq_store_sync(st), RMQ_NONE);
    /* the synced path under test was the one taken */
    if (g_mode.uring) assert_int_equal(atomic_load(&f.dsync_writes), 0);
    else if (dsync) assert_true(atomic_load(&f.dsync_writes) >= 10);
    else assert_int_equal(atomic_load(&f.dsync_writes), 0);
    assert_true(atomic_load(&f.fdatasyncs) >= 10);
    atomic_store(&f.fdatasync_ok, 0);
    uint8_t b[200];
    tu_fill(b, sizeof(b), 1, 10);
    int64_t off = 0;
    assert_int_equal(tu_append(st, 1, b, sizeof(b), 1, 0, &off), RMQ_ERR_IO);
    assert_int_equal(off, -1);
    /* no retry-and-carry-on: read-only from now on, with a clear reason */
    assert_int_equal(rmq_store_append(st, 1, b, sizeof(b), 1, 0, NULL, NULL), RMQ_ERR_READ_ONLY);
    assert_non_null(strstr(rmq_store_last_error(st), "fdatasync"));
    /* the failure came from the path under test */
    if (g_mode.uring) assert_non_null(strstr(rmq_store_last_error(st), "io_uring"));
    else assert_null(strstr(rmq_store_last_error(st), "io_uring"));
    if (g_mode.direct) assert_true(atomic_load(&f.direct_opens) > 0);
    else assert_int_equal(atomic_load(&f.direct_opens), 0);
    rmq_store_stats_t s;
    rmq_store_stats(st, &s);
    assert_true(s.read_only);
    int64_t hw;
    rmq_store_stream_info(st, 1, NULL, &hw, NULL);
    assert_int_equal(hw, 10); /* the failed batch never became visible */
    assert_int_equal(verify_stream(st, 1, 0, 200, 1, NULL), 10);
    atomic_store(&f.fdatasync_ok, -1);
    rmq_store_close(st);
    st = open_ok(&c, NULL);
    rmq_store_stream_info(st, 1, NULL, &hw, NULL);
    assert_true(hw >= 10); /* acknowledged data is there; the unacknowledged batch may be */
    int64_t end;
    verify_stream(st, 1, 0, 200, 1, &end);
    assert_int_equal(end, hw);
    put(st, 1, 200, 1, hw);
    rmq_store_close(st);
    tu_rmdir(dir);
}

static void test_fsync_eio_read_only(void **state) {
    (void)state;
    fsync_eio_read_only(true);
}

/* Where RWF_DSYNC is not offered (pwritev_dsync NULL, as on a kernel that
 * refuses it), a failed fdatasync fails the same way. */
static void test_fsync_eio_read_only_no_dsync(void **state) {
    (void)state;
    fsync_eio_read_only(false);
}

/* A kernel or filesystem that refuses RWF_DSYNC: the store says so once
 * and makes writes durable with pwritev + fdatasync instead. */
static void test_dsync_refused_falls_back(void **state) {
    (void)state;
    char *dir = tu_mkdir();
    tu_fault_io_t f;
    tu_fault_init(&f);
    atomic_store(&f.dsync_refused, 1);
    rmq_store_config_t c = small_cfg(dir);
    tu_fault_attach(&c, &f);
    rmq_store_t *st = open_ok(&c, &f.io);
    for (int i = 0; i < 10; i++) put(st, 1, 300, 1, i);
    assert_int_equal(atomic_load(&f.dsync_writes), g_mode.uring ? 0 : 1);
    assert_true(atomic_load(&f.fdatasyncs) >= 10);
    rmq_store_close(st);
    st = open_ok(&c, NULL);
    assert_int_equal(verify_stream(st, 1, 0, 300, 1, NULL), 10);
    rmq_store_close(st);
    tu_rmdir(dir);
}

static void test_pwrite_error(void **state) {
    (void)state;
    char *dir = tu_mkdir();
    tu_fault_io_t f;
    tu_fault_init(&f);
    rmq_store_config_t c = small_cfg(dir);
    tu_fault_attach(&c, &f);
    rmq_store_t *st = open_ok(&c, &f.io);
    put(st, 1, 100, 1, 0);
    atomic_store(&f.pwritev_err, -EIO);
    uint8_t b[100] = {0};
    assert_int_equal(tu_append(st, 1, b, sizeof(b), 1, 0, NULL), RMQ_ERR_IO);
    assert_int_equal(rmq_store_append(st, 2, b, sizeof(b), 1, 0, NULL, NULL), RMQ_ERR_READ_ONLY);
    assert_non_null(strstr(rmq_store_last_error(st), g_mode.uring ? "io_uring writev" : "pwritev"));
    rmq_store_close(st);
    tu_rmdir(dir);
}

static void test_enospc_backpressure(void **state) {
    (void)state;
    char *dir = tu_mkdir();
    tu_fault_io_t f;
    tu_fault_init(&f);
    rmq_store_config_t c = small_cfg(dir);
    c.segment_size_bytes = 64 * 1024;
    rmq_store_t *st = open_ok(&c, &f.io);
    tu_sleep_ms(50); /* let the writer preallocate its spare */
    atomic_store(&f.fallocate_err, -ENOSPC);
    int64_t next = 0;
    rmq_err_t e = RMQ_NONE;
    uint8_t b[10000];
    for (int i = 0; i < 30 && e == RMQ_NONE; i++) {
        tu_fill(b, sizeof(b), 3, next);
        int64_t off;
        e = tu_append(st, 3, b, sizeof(b), 1, 0, &off);
        if (e == RMQ_NONE) assert_int_equal(off, next++);
    }
    assert_int_equal(e, RMQ_ERR_NOSPACE);
    assert_true(rmq_err_retriable(e));
    assert_true(next >= 6); /* the first segment and the spare filled */
    atomic_store(&f.fallocate_err, 0);
    for (int tries = 0; tries < 100; tries++) { /* the writer retries the preallocation */
        tu_fill(b, sizeof(b), 3, next);
        e = tu_append(st, 3, b, sizeof(b), 1, 0, NULL);
        if (e == RMQ_NONE) break;
        assert_int_equal(e, RMQ_ERR_NOSPACE);
        tu_sleep_ms(20);
    }
    assert_int_equal(e, RMQ_NONE);
    next++;
    rmq_store_close(st);
    st = open_ok(&c, NULL);
    int64_t end;
    assert_int_equal(verify_stream(st, 3, 0, sizeof(b), 1, &end), next);
    rmq_store_close(st);
    tu_rmdir(dir);
}

/* ---- capacity, sealed segments, reclaim, checkpoint ---- */
typedef struct sealed_log {
    pthread_mutex_t mu;
    uint64_t ids[64];
    size_t entries[64];
    int n;
} sealed_log_t;

static void on_sealed(void *ud, const rmq_store_segment_info_t *seg) {
    sealed_log_t *l = ud;
    pthread_mutex_lock(&l->mu);
    if (l->n < 64) {
        l->ids[l->n] = seg->segment_id;
        l->entries[l->n] = seg->n_entries;
        l->n++;
    }
    pthread_mutex_unlock(&l->mu);
}

/* The uploader copies a sealed segment's entries from the write cache when
 * it still has them: the very bytes in the file; evicted entries, a wrong
 * file offset or an unknown stream are refused (the caller then preads). */
typedef struct first_sealed {
    pthread_mutex_t mu;
    uint64_t id;
    size_t n;
    rmq_store_seg_entry_t ents[16];
} first_sealed_t;

static void on_sealed_first(void *ud, const rmq_store_segment_info_t *seg) {
    first_sealed_t *f = ud;
    pthread_mutex_lock(&f->mu);
    if (!f->id && seg->n_entries <= 16) {
        f->id = seg->segment_id;
        f->n = seg->n_entries;
        memcpy(f->ents, seg->entries, seg->n_entries * sizeof(*seg->entries));
    }
    pthread_mutex_unlock(&f->mu);
}

static void test_segment_copy_cached(void **state) {
    (void)state;
    char *dir = tu_mkdir();
    rmq_store_config_t c = small_cfg(dir);
    c.segment_size_bytes = 64 * 1024;
    c.write_cache_size_bytes = 35000; /* the newest 3 batches of 10000 bytes */
    rmq_store_t *st = open_ok(&c, NULL);
    first_sealed_t f = {PTHREAD_MUTEX_INITIALIZER, 0, 0, {{0}}};
    rmq_store_set_sealed_cb(st, on_sealed_first, &f);
    for (int64_t i = 0; i < 8; i++) put(st, 1, 10000, 1, i); /* 6 fit in a 64 KiB segment */
    for (int i = 0; i < 500; i++) { /* the callback runs on the writer thread */
        pthread_mutex_lock(&f.mu);
        bool seen = f.id != 0;
        pthread_mutex_unlock(&f.mu);
        if (seen) break;
        tu_sleep_ms(10);
    }
    pthread_mutex_lock(&f.mu);
    assert_int_not_equal(f.id, 0);
    assert_int_equal(f.n, 6);
    size_t len = RMQ_WAL_HDR + 10000;
    uint8_t *a = malloc(len), *b = malloc(len);
    int hits = 0;
    for (size_t k = 0; k < f.n; k++) {
        const rmq_store_seg_entry_t *e = &f.ents[k];
        assert_int_equal(rmq_store_segment_pread(st, f.id, e->file_offset, b, len), RMQ_NONE);
        memset(a, 0, len);
        if (rmq_store_segment_copy_cached(st, f.id, e->stream_id, e->base_offset, e->file_offset, a, len)) {
            assert_memory_equal(a, b, len);
            assert_int_equal(e->base_offset, 5); /* only the segment's last batch is among the newest 3 */
            hits++;
        }
    }
    assert_int_equal(hits, 1);
    const rmq_store_seg_entry_t *last = &f.ents[5];
    assert_false(rmq_store_segment_copy_cached(st, f.id, 1, 5, last->file_offset + 1, a, len));
    assert_false(rmq_store_segment_copy_cached(st, f.id, 2, 5, last->file_offset, a, len));
    assert_false(rmq_store_segment_copy_cached(st, f.id + 1, 1, 5, last->file_offset, a, len));
    assert_false(rmq_store_segment_copy_cached(st, f.id, 1, 5, last->file_offset, a, len - 1));
    pthread_mutex_unlock(&f.mu);
    free(a);
    free(b);
    rmq_store_close(st);
    tu_rmdir(dir);
}

static void test_full_reclaim_checkpoint(void **state) {
    (void)state;
    char *dir = tu_mkdir();
    rmq_store_config_t c = small_cfg(dir);
    c.segment_size_bytes = 64 * 1024;
    c.capacity_bytes = 4 * 64 * 1024;
    rmq_store_t *st = open_ok(&c, NULL);
    sealed_log_t sl = {PTHREAD_MUTEX_INITIALIZER, {0}, {0}, 0};
    rmq_store_set_sealed_cb(st, on_sealed, &sl);
    uint8_t b[10000];
    int64_t next[2] = {0, 0};
    rmq_err_t e = RMQ_NONE;
    for (int i = 0; i < 100 && e == RMQ_NONE; i++) {
        uint64_t sid = (uint64_t)(i % 2) + 1;
        tu_fill(b, sizeof(b), sid, next[sid - 1]);
        e = tu_append(st, sid, b, sizeof(b), 1, 0, NULL);
        if (e == RMQ_NONE) next[sid - 1]++;
    }
    assert_int_equal(e, RMQ_ERR_WAL_FULL);
    assert_true(rmq_err_retriable(e));
    assert_int_equal(next[0] + next[1], 4 * 6); /* 6 entries of 10064 bytes per 64 KiB segment */
    assert_int_equal(sl.n, 3);
    assert_int_equal(sl.entries[0], 6);
    /* nothing was overwritten: all data still readable */
    assert_int_equal(verify_stream(st, 1, 0, sizeof(b), 1, NULL), next[0]);
    /* the uploader reads a sealed segment, then reclaims it */
    uint8_t hdr[RMQ_WAL_HDR];
    assert_int_equal(rmq_store_segment_pread(st, sl.ids[0], 0, hdr, sizeof(hdr)), RMQ_NONE);
    assert_int_equal(rmq_be32(hdr), RMQ_WAL_MAGIC);
    assert_int_equal(rmq_store_reclaim(st, 12345), RMQ_ERR_INVALID_ARG);
    rmq_store_stats_t s;
    rmq_store_stats(st, &s);
    uint64_t entries_before = rmq_store_index_entries(st);
    assert_int_equal(entries_before, (uint64_t)(next[0] + next[1]));
    assert_int_equal(rmq_store_reclaim(st, s.segments_live ? sl.ids[0] : 0), RMQ_NONE);
    rmq_store_read_t r;
    assert_int_equal(rmq_store_read(st, 1, 0, 100, &r), RMQ_ERR_NOT_FOUND);
    rmq_store_read_release(&r);
    int64_t ws;
    rmq_store_stream_wal_start(st, 1, &ws);
    assert_int_equal(ws, 3);
    /* the reclaimed segment's 6 entries left the in-memory index (it would
     * otherwise grow by one entry per batch forever); a timestamp lookup
     * now answers from what is local, the manifest answers for the rest */
    assert_int_equal(rmq_store_index_entries(st), entries_before - 6);
    int64_t tso = -2;
    assert_int_equal(rmq_store_offset_for_timestamp(st, 1, 0, &tso), RMQ_NONE);
    assert_int_equal(tso, 3);
    /* room again (the writer preallocates a new segment) */
    e = RMQ_ERR_WAL_FULL;
    for (int tries = 0; tries < 100 && e != RMQ_NONE; tries++) {
        tu_fill(b, sizeof(b), 1, next[0]);
        e = tu_append(st, 1, b, sizeof(b), 1, 0, NULL);
        if (e) tu_sleep_ms(10);
    }
    assert_int_equal(e, RMQ_NONE);
    next[0]++;
    rmq_store_close(st);
    /* recovery knows where the reclaimed data went */
    st = open_ok(&c, NULL);
    int64_t ls, hw;
    rmq_store_stream_info(st, 1, &ls, &hw, NULL);
    assert_int_equal(ls, 0);
    assert_int_equal(hw, next[0]);
    rmq_store_stream_wal_start(st, 1, &ws);
    assert_int_equal(ws, 3);
    assert_int_equal(rmq_store_read(st, 1, 2, 100, &r), RMQ_ERR_NOT_FOUND);
    rmq_store_read_release(&r);
    int64_t end;
    assert_int_equal(verify_stream(st, 1, 3, sizeof(b), 1, &end), next[0] - 3);
    sealed_log_t sl2 = {PTHREAD_MUTEX_INITIALIZER, {0}, {0}, 0};
    rmq_store_set_sealed_cb(st, on_sealed, &sl2); /* recovered sealed segments are reported */
    assert_int_equal(sl2.n, 3); /* 2 and 3, and 4 which filled before the last append */
    assert_int_equal(sl2.ids[0], sl.ids[1]);
    /* reclaim everything sealed, reopen twice: offsets survive */
    for (int i = 0; i < sl2.n; i++) assert_int_equal(rmq_store_reclaim(st, sl2.ids[i]), RMQ_NONE);
    rmq_store_close(st);
    st = open_ok(&c, NULL);
    rmq_store_stream_info(st, 2, &ls, &hw, NULL);
    assert_int_equal(hw, next[1]);
    tu_fill(b, sizeof(b), 2, next[1]);
    int64_t off;
    assert_int_equal(tu_append(st, 2, b, sizeof(b), 1, 0, &off), RMQ_NONE);
    assert_int_equal(off, next[1]);
    rmq_store_close(st);
    st = open_ok(&c, NULL);
    rmq_store_stream_info(st, 2, &ls, &hw, NULL);
    assert_int_equal(hw, next[1] + 1);
    rmq_store_close(st);
    tu_rmdir(dir);
}

/* One round of test_reclaimed_segment_reused: reclaim segment `first`,
 * write until its file (held open by inode) reappears under a later id,
 * then two entries into it. Entries are 4096 bytes (4032 + 64 header), so
 * even the O_DIRECT writer's zero fill of the last block leaves the stale
 * header behind them in place: recovery must stop at its old segment id. */
#define REUSE_PAYLOAD 4032
/* Reclaim every sealed segment but `keep` (as the uploader would), so the
 * WAL never back-pressures the test. */
static void reclaim_sealed_except(rmq_store_t *st, sealed_log_t *sl, uint64_t keep) {
    pthread_mutex_lock(&sl->mu);
    int n = sl->n;
    uint64_t ids[64];
    memcpy(ids, sl->ids, (size_t)n * sizeof ids[0]);
    pthread_mutex_unlock(&sl->mu);
    for (int k = 0; k < n; k++)
        if (ids[k] != keep) (void)rmq_store_reclaim(st, ids[k]); /* already reclaimed: INVALID_ARG */
}

static uint64_t reuse_round(rmq_store_t *st, const char *dir, sealed_log_t *sl, uint64_t first, int64_t *next) {
    char path[4096];
    snprintf(path, sizeof path, "%s/wal-%016llx.seg", dir, (unsigned long long)first);
    int old = open(path, O_RDONLY);
    assert_true(old >= 0);
    struct stat before;
    assert_int_equal(fstat(old, &before), 0);
    assert_int_equal(rmq_store_reclaim(st, first), RMQ_NONE);
    uint64_t reused = 0;
    for (int i = 0; i < 80 && !reused; i++) {
        reclaim_sealed_except(st, sl, first);
        put(st, 1, REUSE_PAYLOAD, 1, *next);
        (*next)++;
        for (uint64_t id = first + 1; id < first + 12; id++) {
            char p2[4096];
            struct stat now;
            snprintf(p2, sizeof p2, "%s/wal-%016llx.seg", dir, (unsigned long long)id);
            if (stat(p2, &now) == 0 && now.st_ino == before.st_ino) reused = id;
        }
    }
    assert_true(reused != 0);
    struct stat after;
    assert_int_equal(fstat(old, &after), 0);
    assert_int_equal(after.st_nlink, 1); /* renamed, not deleted and re-created */
    assert_int_not_equal(access(path, F_OK), 0);
    /* write until the reused file holds two new entries (read through the
     * held fd: its leading headers carry the new id) */
    int fresh = 0;
    for (int i = 0; i < 80 && fresh < 2; i++) {
        reclaim_sealed_except(st, sl, first);
        put(st, 1, REUSE_PAYLOAD, 1, *next);
        (*next)++;
        uint8_t hh[RMQ_WAL_HDR];
        fresh = 0;
        while (fresh < 2 && pread(old, hh, sizeof hh, (off_t)fresh * 4096) == (ssize_t)sizeof hh &&
               rmq_be32(hh) == RMQ_WAL_MAGIC && rmq_be64(hh + 48) == reused)
            fresh++;
    }
    assert_int_equal(fresh, 2);
    /* the reused file: a few new entries, then right behind them a valid
     * old entry of segment `first` */
    uint8_t h[RMQ_WAL_HDR];
    off_t at = 0;
    for (;; at += 4096) {
        assert_int_equal(pread(old, h, sizeof h, at), (ssize_t)sizeof h);
        assert_int_equal(rmq_be32(h), RMQ_WAL_MAGIC);
        if (rmq_be64(h + 48) != reused) break;
    }
    assert_true(at >= 2 * 4096);
    assert_int_equal(rmq_be64(h + 48), first);
    close(old);
    return reused;
}

/* Warn-level log lines go to a pipe from begin to end; end restores
 * stderr and the info level and copies what was logged into out (cap
 * bytes, NUL-terminated). The pipe must not fill: a few lines only. */
static void log_capture_begin(int fds[2]) {
    assert_int_equal(pipe(fds), 0);
    rmq_log_set_fd(fds[1]);
    rmq_log_set_level(RMQ_LOG_WARN);
}

static void log_capture_end(int fds[2], char *out, size_t cap) {
    rmq_log_set_fd(2);
    rmq_log_set_level(RMQ_LOG_INFO);
    close(fds[1]);
    size_t n = 0;
    ssize_t r;
    while (n < cap - 1 && (r = read(fds[0], out + n, cap - 1 - n)) > 0) n += (size_t)r;
    out[n] = 0;
    close(fds[0]);
}

/* Preparing the next segment runs on the preparer thread, beside the group
 * commit; when it takes 20 ms or more it is logged with how much of it was
 * synced writes (here its fallocate sleeps 100 ms, no synced write).
 * Appends that do not wait for durability fill the new segment while the
 * next one is still being made: the appending thread waits for it and
 * logs that. */
static void test_slow_segment_preparation_logged(void **state) {
    (void)state;
    char *dir = tu_mkdir();
    tu_fault_io_t f;
    tu_fault_init(&f);
    rmq_store_config_t c = small_cfg(dir);
    c.segment_size_bytes = 64 * 1024;
    int fds[2];
    log_capture_begin(fds);
    rmq_store_t *st = open_ok(&c, &f.io);
    const size_t len = 1000;
    int64_t next = 0;
    for (; next < 10; next++) put(st, 4, len, 1, next); /* 10 KB: no segment switch */
    /* Each step logs at most once a second. On a loaded machine the first
     * spare (made at open) or these appends may already have been slow
     * enough to log; waiting past that second keeps such a line from
     * suppressing the ones this test looks for. */
    tu_sleep_ms(1100);
    atomic_store(&f.fallocate_delay_ms, 100);
    for (int i = 0; i < 150; i++, next++) put(st, 4, len, 1, next); /* two switches, each making a slow spare */
    uint8_t b[1000];
    for (int i = 0; i < 200; i++, next++) { /* 200 KB queued at once: cross a switch before the spare is made */
        tu_fill(b, len, 4, next);
        assert_int_equal(rmq_store_append(st, 4, b, len, 1, 0, NULL, NULL), RMQ_NONE);
    }
    assert_int_equal(rmq_store_sync(st), RMQ_NONE);
    rmq_store_close(st);
    char out[8192];
    log_capture_end(fds, out, sizeof out);
    /* the largest: the spare made at open may have been slow too */
    const char *key = "msg=\"slow WAL segment preparation\" step=next-segment ms=";
    double ms = 0;
    for (const char *line = strstr(out, key); line; line = strstr(line + 1, key)) {
        if (atof(line + strlen(key)) > ms) ms = atof(line + strlen(key));
        assert_non_null(strstr(line, " synced_write_ms="));
    }
    assert_true(ms >= 100.0);
    assert_non_null(strstr(out, "msg=\"append waited for the next WAL segment\" ms="));
    /* every append was made durable and keeps its offset */
    int64_t end;
    st = open_ok(&c, NULL);
    verify_stream(st, 4, 0, len, 1, &end);
    assert_int_equal(end, next);
    rmq_store_close(st);
    tu_rmdir(dir);
}

/* Append len bytes to sid at offset expect_off and wait for durability,
 * failing (not hanging) if it is not durable within 30 s; the gate of f is
 * opened first, so that nothing is left waiting on this frame. */
static void put_or_fail(rmq_store_t *st, tu_fault_io_t *f, uint64_t sid, size_t len, int64_t expect_off) {
    uint8_t *b = malloc(len);
    tu_fill(b, len, sid, expect_off);
    tu_done_t d = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, -1};
    assert_int_equal(rmq_store_append(st, sid, b, len, 1, 1000 + expect_off, tu_done_cb, &d), RMQ_NONE);
    free(b);
    if (!tu_done_wait_ms(&d, 30000)) {
        atomic_store(&f->fallocate_gate, 0); /* every gate: a test fails, it does not hang */
        atomic_store(&f->rename_gate, 0);
        atomic_store(&f->zero_gate, 0);
        tu_done_wait(&d);
        fail_msg("append at offset %" PRId64 " was not durable within 30 s", expect_off);
    }
    assert_int_equal(d.err, RMQ_NONE);
    assert_int_equal(d.off, expect_off);
}

/* Poll (up to 30 s) until the store's segment table holds n segments. */
static void wait_segments_live(rmq_store_t *st, uint64_t n) {
    rmq_store_stats_t s;
    for (int i = 0; i < 3000; i++) {
        rmq_store_stats(st, &s);
        if (s.segments_live == n) return;
        tu_sleep_ms(10);
    }
    fail_msg("segments_live is %" PRIu64 ", not %" PRIu64, s.segments_live, n);
}

/* Synced appends go on while the next segment is being made: with the
 * preparer held inside the fallocate of the third segment, appends into
 * the second one are written, synced and acknowledged. (When the writer
 * thread made the spare itself, they waited until it was done.) */
static void test_appends_go_on_while_next_segment_is_made(void **state) {
    (void)state;
    char *dir = tu_mkdir();
    tu_fault_io_t f;
    tu_fault_init(&f);
    rmq_store_config_t c = small_cfg(dir);
    c.segment_size_bytes = 64 * 1024;
    rmq_store_t *st = open_ok(&c, &f.io);
    wait_segments_live(st, 2); /* the tail and its spare */
    atomic_store(&f.fallocate_gate, 1);
    const size_t len = 1000; /* about 60 entries a segment */
    int64_t next = 0;
    for (; next < 70; next++) put_or_fail(st, &f, 6, len, next); /* into the spare: the third is due */
    for (int i = 0; i < 3000 && atomic_load(&f.gate_waiters) == 0; i++) tu_sleep_ms(10);
    assert_int_equal(atomic_load(&f.gate_waiters), 1); /* the preparer is in the fallocate */
    for (int i = 0; i < 20; i++, next++) put_or_fail(st, &f, 6, len, next);
    rmq_store_stats_t s;
    rmq_store_stats(st, &s);
    assert_int_equal(s.segments_live, 2);              /* and still is: the third is not made yet */
    assert_int_equal(atomic_load(&f.gate_waiters), 1);
    atomic_store(&f.fallocate_gate, 0);
    wait_segments_live(st, 3);
    put_or_fail(st, &f, 6, len, next++);
    rmq_store_close(st);
    int64_t end;
    st = open_ok(&c, NULL);
    assert_int_equal(verify_stream(st, 6, 0, len, 1, &end), next);
    assert_int_equal(end, next);
    rmq_store_close(st);
    tu_rmdir(dir);
}

/* The pooled path: while the preparer is held inside the rename of a
 * reclaimed file to the next segment id, synced appends into the current
 * segment complete and a reclaim writes its checkpoint. After the rename,
 * entries go into the renamed file, and a reopen brings back exactly what
 * was appended since the reclaimed segments: the checkpoint written during
 * the rename did not call the new segment reclaimed. */
static void test_checkpoint_while_pooled_segment_renamed(void **state) {
    (void)state;
    char *dir = tu_mkdir();
    tu_fault_io_t f;
    tu_fault_init(&f);
    rmq_store_config_t c = small_cfg(dir);
    c.segment_size_bytes = 64 * 1024;
    sealed_log_t sl = {.mu = PTHREAD_MUTEX_INITIALIZER};
    rmq_store_t *st = open_ok(&c, &f.io);
    rmq_store_set_sealed_cb(st, on_sealed, &sl);
    const size_t len = 1000;
    const int64_t per_seg = (int64_t)(c.segment_size_bytes / (RMQ_WAL_HDR + len));
    int64_t next = 0;
    for (; next < per_seg + 5; next++) put_or_fail(st, &f, 8, len, next); /* into segment 2 */
    /* segment 3 is made before a pooled file exists (a preparer slow to
     * start would otherwise take the pooled file for segment 3, and the
     * gate below would hold the switch into it) */
    wait_segments_live(st, 3);
    pthread_mutex_lock(&sl.mu);
    assert_int_equal(sl.n, 1);
    uint64_t first = sl.ids[0];
    pthread_mutex_unlock(&sl.mu);
    assert_int_equal(rmq_store_reclaim(st, first), RMQ_NONE); /* its file is pooled */
    atomic_store(&f.rename_gate, 1);
    for (; next < 2 * per_seg + 5; next++) put_or_fail(st, &f, 8, len, next); /* into segment 3 */
    for (int i = 0; i < 3000 && atomic_load(&f.gate_waiters) == 0; i++) tu_sleep_ms(10);
    assert_int_equal(atomic_load(&f.gate_waiters), 1); /* the preparer renames the pooled file */
    pthread_mutex_lock(&sl.mu);
    assert_int_equal(sl.n, 2);
    uint64_t second = sl.ids[1];
    pthread_mutex_unlock(&sl.mu);
    assert_int_equal(rmq_store_reclaim(st, second), RMQ_NONE); /* checkpoint meanwhile */
    for (int i = 0; i < 10; i++, next++) put_or_fail(st, &f, 8, len, next);
    assert_int_equal(atomic_load(&f.gate_waiters), 1); /* still held */
    atomic_store(&f.rename_gate, 0);
    int64_t end_target = next + per_seg; /* crosses into the renamed file */
    for (; next < end_target; next++) put_or_fail(st, &f, 8, len, next);
    pthread_mutex_lock(&sl.mu);
    assert_int_equal(sl.n, 3);
    pthread_mutex_unlock(&sl.mu);
    rmq_store_close(st);
    st = open_ok(&c, NULL);
    int64_t ws = -1, end = -1;
    rmq_store_stream_wal_start(st, 8, &ws);
    assert_int_equal(ws, 2 * per_seg); /* the first two segments are gone, nothing else */
    assert_int_equal(verify_stream(st, 8, ws, len, 1, &end), next - ws);
    assert_int_equal(end, next);
    rmq_store_close(st);
    tu_rmdir(dir);
}

/* Appends to stream sid from a thread, without waiting for durability:
 * n of them (0: no limit), stopping at the first that fails. */
typedef struct appender {
    rmq_store_t *st;
    uint64_t sid;
    size_t len;
    int64_t n;
    atomic_int returned; /* appends that returned */
    atomic_int last_err;
} appender_t;

static void *appender_main(void *arg) {
    appender_t *a = arg;
    uint8_t *b = malloc(a->len);
    for (int64_t i = 0; a->n == 0 || i < a->n; i++) {
        tu_fill(b, a->len, a->sid, i);
        rmq_err_t e = rmq_store_append(a->st, a->sid, b, a->len, 1, 1000 + i, NULL, NULL);
        atomic_store(&a->last_err, e);
        atomic_fetch_add(&a->returned, 1);
        if (e != RMQ_NONE) break;
    }
    free(b);
    return NULL;
}

/* An append that waits for the next segment (the preparer is held inside
 * its fallocate) is woken when the WAL turns read-only meanwhile: it
 * returns READ_ONLY at once instead of waiting for a segment that will
 * never be used. */
static void test_read_only_wakes_append_waiting_for_segment(void **state) {
    (void)state;
    char *dir = tu_mkdir();
    tu_fault_io_t f;
    tu_fault_init(&f);
    rmq_store_config_t c = small_cfg(dir);
    c.segment_size_bytes = 64 * 1024;
    c.fsync_on_write = false;      /* the writes leave the segment dirty... */
    c.flush_interval_ms = 600000;  /* ...until the rmq_store_sync below */
    tu_fault_attach(&c, &f);
    rmq_store_t *st = open_ok(&c, &f.io);
    wait_segments_live(st, 2);
    atomic_store(&f.fallocate_gate, 1);
    appender_t a = {.st = st, .sid = 7, .len = 1000};
    const int per_seg = (int)(c.segment_size_bytes / (RMQ_WAL_HDR + a.len));
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, appender_main, &a), 0);
    /* two segments' worth returned: the next one waits for the third */
    for (int i = 0; i < 3000 && (atomic_load(&a.returned) < 2 * per_seg || atomic_load(&f.gate_waiters) == 0); i++)
        tu_sleep_ms(10);
    assert_int_equal(atomic_load(&a.returned), 2 * per_seg);
    assert_int_equal(atomic_load(&f.gate_waiters), 1);
    atomic_store(&f.fdatasync_ok, 0);
    assert_int_equal(rmq_store_sync(st), RMQ_ERR_IO); /* the WAL is read-only now */
    for (int i = 0; i < 3000 && atomic_load(&a.returned) == 2 * per_seg; i++) tu_sleep_ms(10);
    bool woken = atomic_load(&a.returned) == 2 * per_seg + 1 && atomic_load(&f.gate_waiters) == 1;
    atomic_store(&f.fallocate_gate, 0);
    pthread_join(th, NULL);
    assert_true(woken); /* returned while the preparer was still held */
    assert_int_equal(atomic_load(&a.last_err), RMQ_ERR_READ_ONLY);
    atomic_store(&f.fdatasync_ok, -1);
    rmq_store_close(st);
    tu_rmdir(dir);
}

/* A segment the preparer creates (no reclaimed file to reuse) is written
 * through with zeros before it is published as the spare, a new WAL's
 * first segment before open returns, and the entries later written over
 * those zeros all come back after a reopen. */
static void test_fresh_segment_prefilled(void **state) {
    (void)state;
    char *dir = tu_mkdir();
    tu_fault_io_t f;
    tu_fault_init(&f);
    rmq_store_config_t c = small_cfg(dir);
    assert_true(c.prefill_segments); /* the default */
    /* the gate holds every zero write after the first segment's */
    atomic_store(&f.zero_gate, 1);
    atomic_store(&f.zero_gate_after, (long long)c.segment_size_bytes);
    rmq_store_t *st = open_ok(&c, &f.io);
    /* open prefilled the new WAL's first segment before returning: the
     * preparer, started after it, is held at the spare's first chunk */
    for (int i = 0; i < 3000 && atomic_load(&f.gate_waiters) == 0; i++) tu_sleep_ms(10);
    assert_int_equal(atomic_load(&f.gate_waiters), 1);
    assert_int_equal(atomic_load(&f.zero_bytes), (long long)c.segment_size_bytes);
    rmq_store_stats_t ss;
    rmq_store_stats(st, &ss);
    assert_int_equal(ss.segments_live, 1); /* the spare is not published yet */
    atomic_store(&f.zero_gate, 0);
    wait_segments_live(st, 2); /* the spare is published only after its prefill */
    assert_int_equal(atomic_load(&f.zero_bytes), 2 * (long long)c.segment_size_bytes);
    const size_t len = 1000;
    const int64_t n = (int64_t)(2.5 * (double)c.segment_size_bytes / (double)(RMQ_WAL_HDR + len));
    for (int64_t i = 0; i < n; i++) put(st, 4, len, 1, i); /* into the spare and the next fresh one */
    assert_int_equal(rmq_store_sync(st), RMQ_NONE);
    rmq_store_close(st);
    int64_t end;
    st = open_ok(&c, NULL);
    assert_int_equal(verify_stream(st, 4, 0, len, 1, &end), n);
    assert_int_equal(end, n);
    rmq_store_close(st);

    /* switched off: no zeros are written */
    char *dir2 = tu_mkdir();
    tu_fault_init(&f);
    c = small_cfg(dir2);
    c.prefill_segments = false;
    st = open_ok(&c, &f.io);
    wait_segments_live(st, 2);
    for (int64_t i = 0; i < n; i++) put(st, 4, len, 1, i);
    assert_int_equal(rmq_store_sync(st), RMQ_NONE);
    rmq_store_close(st);
    assert_int_equal(atomic_load(&f.zero_bytes), 0);
    tu_rmdir(dir2);
    tu_rmdir(dir);
}

/* Where the filesystem refuses O_DIRECT (tmpfs), segments are used as
 * fallocate made them: one info line says so, no zeros are written, and
 * appends across new segments work as before. */
static void test_prefill_skipped_without_o_direct(void **state) {
    (void)state;
    if (g_mode.direct) skip(); /* there the WAL itself cannot open */
    char *dir = tu_mkdir();
    tu_fault_io_t f;
    tu_fault_init(&f);
    atomic_store(&f.direct_open_err, -EINVAL);
    rmq_store_config_t c = small_cfg(dir);
    int fds[2];
    log_capture_begin(fds);
    rmq_log_set_level(RMQ_LOG_INFO);
    rmq_store_t *st = open_ok(&c, &f.io);
    wait_segments_live(st, 2);
    const size_t len = 1000;
    const int64_t n = (int64_t)(3.5 * (double)c.segment_size_bytes / (double)(RMQ_WAL_HDR + len));
    for (int64_t i = 0; i < n; i++) put(st, 4, len, 1, i);
    assert_int_equal(rmq_store_sync(st), RMQ_NONE);
    rmq_store_close(st);
    char out[8192];
    log_capture_end(fds, out, sizeof out);
    const char *key = "msg=\"WAL segments not prefilled: the filesystem refuses O_DIRECT\"";
    const char *line = strstr(out, key);
    assert_non_null(line);
    assert_null(strstr(line + 1, key)); /* once, not per segment */
    assert_null(strstr(out, "cannot prefill"));
    assert_int_equal(atomic_load(&f.direct_opens), 1); /* not retried for later segments */
    assert_int_equal(atomic_load(&f.zero_bytes), 0);
    int64_t end;
    st = open_ok(&c, NULL);
    assert_int_equal(verify_stream(st, 4, 0, len, 1, &end), n);
    rmq_store_close(st);
    tu_rmdir(dir);
}

/* An append that fills the current segment while the preparer is still
 * prefilling the next one waits for one chunk of zeros, not for the whole
 * prefill: the preparer stops after the chunk it is in and publishes the
 * segment, whose unfilled rest then takes entries like any preallocated
 * space. Every entry comes back after a reopen. */
static void test_waiting_append_stops_prefill(void **state) {
    (void)state;
    char *dir = tu_mkdir();
    tu_fault_io_t f;
    tu_fault_init(&f);
    rmq_store_config_t c = small_cfg(dir);
    c.segment_size_bytes = 2u << 20; /* two prefill chunks of 1 MiB */
    c.capacity_bytes = 4u << 20;     /* two segments: no third one (and no prefill of it) to race the count */
    atomic_store(&f.zero_gate, 1);
    atomic_store(&f.zero_gate_after, (long long)c.segment_size_bytes); /* open's prefill of the first segment */
    rmq_store_t *st = open_ok(&c, &f.io);
    for (int i = 0; i < 3000 && atomic_load(&f.gate_waiters) == 0; i++) tu_sleep_ms(10);
    assert_int_equal(atomic_load(&f.gate_waiters), 1); /* the preparer is in the first chunk of the spare */
    appender_t a = {.st = st, .sid = 8, .len = 1000};
    const int per_seg = (int)(c.segment_size_bytes / (RMQ_WAL_HDR + a.len));
    a.n = per_seg + per_seg / 2;
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, appender_main, &a), 0);
    /* the tail is full: the next append waits for the spare */
    for (int i = 0; i < 3000 && atomic_load(&a.returned) < per_seg; i++) tu_sleep_ms(10);
    tu_sleep_ms(50);
    assert_int_equal(atomic_load(&a.returned), per_seg);
    assert_int_equal(atomic_load(&f.gate_waiters), 1);
    atomic_store(&f.zero_gate, 0);
    pthread_join(th, NULL);
    assert_int_equal(atomic_load(&a.last_err), RMQ_NONE);
    assert_int_equal(atomic_load(&a.returned), a.n); /* all of them, none failed */
    /* the first segment (by open) and the spare's first chunk were written,
     * the spare's second chunk never started */
    assert_int_equal(atomic_load(&f.zero_bytes), (long long)c.segment_size_bytes + (1 << 20));
    assert_int_equal(rmq_store_sync(st), RMQ_NONE);
    rmq_store_close(st);
    int64_t end;
    st = open_ok(&c, NULL);
    assert_int_equal(verify_stream(st, 8, 0, a.len, 1, &end), a.n);
    rmq_store_close(st);
    tu_rmdir(dir);
}

/* Slow steps the once-a-second limit leaves out are summed up a second
 * after the step's last line, by the writer on its own, with no append to
 * wake it: a run of slow synced writes at the end of a burst is reported
 * (count and the longest) without waiting for the next slow step or close. */
static void test_suppressed_slow_steps_summarized(void **state) {
    (void)state;
    char *dir = tu_mkdir();
    tu_fault_io_t f;
    tu_fault_init(&f);
    rmq_store_config_t c = small_cfg(dir);
    tu_fault_attach(&c, &f);
    int fds[2];
    log_capture_begin(fds);
    rmq_store_t *st = open_ok(&c, &f.io);
    wait_segments_live(st, 2);
    tu_sleep_ms(1100); /* past any line of the open */
    atomic_store(&f.sync_delay_ms, 40);
    for (int i = 0; i < 5; i++) put(st, 3, 500, 1, i); /* five slow groups: one line, four left out */
    atomic_store(&f.sync_delay_ms, 0);
    tu_sleep_ms(1500); /* idle: only the writer's own timer can report them */
    char out[8192];
    log_capture_end(fds, out, sizeof out); /* before close: close would wake the writer anyway */
    rmq_store_close(st);
    const char *key = "msg=\"slow WAL writer steps not logged\" step=group-commit count=";
    const char *line = strstr(out, key);
    assert_non_null(line);
    int count = atoi(line + strlen(key));
    assert_true(count >= 3 && count <= 4);
    const char *mx = strstr(line, " max_ms=");
    assert_non_null(mx);
    assert_true(atof(mx + 8) >= 35.0);
    tu_rmdir(dir);
}

/* An entry queued while the writer is in a slow synced write (every sync
 * sleeps 60 ms) waits for it: the queue-wait line gives that synced write
 * as most of the wait, so it reads as the device and not as time the
 * fsync histogram misses. */
static void test_queue_wait_synced_share_logged(void **state) {
    (void)state;
    char *dir = tu_mkdir();
    tu_fault_io_t f;
    tu_fault_init(&f);
    rmq_store_config_t c = small_cfg(dir);
    tu_fault_attach(&c, &f); /* io_uring modes: the delay applies to the ring's fsyncs too */
    int fds[2];
    log_capture_begin(fds);
    rmq_store_t *st = open_ok(&c, &f.io);
    tu_sleep_ms(50); /* let the writer preallocate its spare (its fsyncs are not synced writes) */
    atomic_store(&f.sync_delay_ms, 60);
    uint8_t b[1000];
    tu_fill(b, sizeof b, 5, 0);
    assert_int_equal(rmq_store_append(st, 5, b, sizeof b, 1, 0, NULL, NULL), RMQ_NONE);
    tu_sleep_ms(10); /* the writer took it and sleeps in its synced write */
    tu_fill(b, sizeof b, 5, 1);
    assert_int_equal(rmq_store_append(st, 5, b, sizeof b, 1, 0, NULL, NULL), RMQ_NONE);
    assert_int_equal(rmq_store_sync(st), RMQ_NONE);
    atomic_store(&f.sync_delay_ms, 0);
    rmq_store_close(st);
    char out[8192];
    log_capture_end(fds, out, sizeof out);
    const char *key = "msg=\"slow WAL writer step\" step=queue-wait ms=";
    const char *line = strstr(out, key);
    assert_non_null(line);
    double wait_ms = atof(line + strlen(key));
    const char *sw = strstr(line, " synced_write_ms=");
    assert_non_null(sw);
    assert_true(wait_ms >= 20.0);
    assert_true(atof(sw + strlen(" synced_write_ms=")) >= wait_ms / 2);
    int64_t end;
    st = open_ok(&c, NULL);
    verify_stream(st, 5, 0, sizeof b, 1, &end);
    assert_int_equal(end, 2);
    rmq_store_close(st);
    tu_rmdir(dir);
}

/* A reclaimed segment's file is reused (renamed) as a later segment instead
 * of being freed, also for a segment recovered at open (O_DIRECT modes must
 * open its write fd under the new name). Recovery must stop at the reused
 * file's stale entries and bring back exactly what was appended. */
static void test_reclaimed_segment_reused(void **state) {
    (void)state;
    char *dir = tu_mkdir();
    rmq_store_config_t c = small_cfg(dir);
    c.segment_size_bytes = 64 * 1024;
    c.capacity_bytes = 6 * 64 * 1024;
    int64_t next = 0;
    for (int round = 0; round < 2; round++) {
        rmq_store_t *st = open_ok(&c, NULL);
        sealed_log_t sl = {PTHREAD_MUTEX_INITIALIZER, {0}, {0}, 0};
        rmq_store_set_sealed_cb(st, on_sealed, &sl); /* round 1: the recovered sealed segments first */
        if (round == 0)
            for (int i = 0; i < 18; i++) { /* fills segment 1, spills into 2 */
                put(st, 1, REUSE_PAYLOAD, 1, next);
                next++;
            }
        pthread_mutex_lock(&sl.mu);
        assert_true(sl.n >= 1);
        uint64_t first = sl.ids[0];
        pthread_mutex_unlock(&sl.mu);
        uint64_t reused = reuse_round(st, dir, &sl, first, &next);
        if (round == 0) { /* leave the reused segment sealed and unreclaimed: round 1 reuses it as recovered */
            bool sealed = false;
            for (int i = 0; i < 80 && !sealed; i++) {
                put(st, 1, REUSE_PAYLOAD, 1, next);
                next++;
                pthread_mutex_lock(&sl.mu);
                for (int k = 0; k < sl.n; k++) sealed |= sl.ids[k] == reused;
                pthread_mutex_unlock(&sl.mu);
            }
            assert_true(sealed);
        }
        rmq_store_close(st);
        st = open_ok(&c, NULL); /* the stale old entries behind the new ones must not come back */
        int64_t ls, hw;
        rmq_store_stream_info(st, 1, &ls, &hw, NULL);
        assert_int_equal(hw, next);
        int64_t ws, end;
        rmq_store_stream_wal_start(st, 1, &ws);
        verify_stream(st, 1, ws, REUSE_PAYLOAD, 1, &end);
        assert_int_equal(end, next);
        rmq_store_close(st);
    }
    rmq_store_t *st = open_ok(&c, NULL);
    put(st, 1, REUSE_PAYLOAD, 1, next); /* appends continue at the right offset */
    rmq_store_close(st);
    tu_rmdir(dir);
}

/* Appends of a plugged thread (a produce request's partitions) go to the
 * writer together at unplug: one group commit, one synced write. A plugged
 * thread that waits on the writer (rmq_store_sync) is unplugged first
 * instead of waiting forever. */
static void test_plugged_appends_one_group(void **state) {
    (void)state;
    char *dir = tu_mkdir();
    rmq_store_config_t c = small_cfg(dir);
    rmq_store_t *st = open_ok(&c, NULL);
    put(st, 1, 300, 1, 0);
    for (int round = 0; round < 2; round++) {
        rmq_store_stats_t a, z;
        rmq_store_stats(st, &a);
        tu_done_t d[5];
        rmq_store_plug(st);
        for (int i = 0; i < 5; i++) {
            d[i] = (tu_done_t){PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, -1};
            uint8_t b[300];
            tu_fill(b, sizeof b, 1, 1 + round * 5 + i);
            assert_int_equal(rmq_store_append(st, 1, b, sizeof b, 1, 0, tu_done_cb, &d[i]), RMQ_NONE);
        }
        if (round == 0) rmq_store_unplug(st);
        else assert_int_equal(rmq_store_sync(st), RMQ_NONE); /* still plugged */
        for (int i = 0; i < 5; i++) {
            tu_done_wait(&d[i]);
            assert_int_equal(d[i].err, RMQ_NONE);
            assert_int_equal(d[i].off, 1 + round * 5 + i);
        }
        rmq_store_stats(st, &z);
        assert_int_equal(z.groups - a.groups, 1);
        assert_int_equal(z.fsyncs - a.fsyncs, 1);
    }
    rmq_store_unplug(st); /* not plugged: no-op */
    rmq_store_close(st);
    st = open_ok(&c, NULL);
    assert_int_equal(verify_stream(st, 1, 0, 300, 1, NULL), 11);
    rmq_store_close(st);
    tu_rmdir(dir);
}

/* direct_io: a group larger than the 8 MiB aligned buffer goes out in
 * several O_DIRECT writes, and every one of them is an RWF_DSYNC write: it
 * makes only its own range durable, so syncing the last alone could
 * acknowledge data still in a volatile device cache. */
static void test_direct_large_group_every_piece_synced(void **state) {
    (void)state;
    if (!g_mode.direct || g_mode.uring) skip(); /* the plain path writes a group in one call */
    char *dir = tu_mkdir();
    tu_fault_io_t f;
    tu_fault_init(&f);
    rmq_store_config_t c = small_cfg(dir);
    c.segment_size_bytes = 32u << 20;
    c.capacity_bytes = 64u << 20;
    tu_fault_attach(&c, &f);
    rmq_store_t *st = open_ok(&c, &f.io);
    size_t len = 12u << 20; /* one batch, one group: an 8 MiB piece and the rest */
    uint8_t *b = malloc(len);
    tu_fill(b, len, 1, 0);
    assert_int_equal(tu_append(st, 1, b, len, 1, 0, NULL), RMQ_NONE);
    assert_int_equal(atomic_load(&f.dsync_writes), 2);
    free(b);
    rmq_store_close(st);
    st = open_ok(&c, NULL);
    assert_int_equal(verify_stream(st, 1, 0, len, 1, NULL), 1);
    rmq_store_close(st);
    tu_rmdir(dir);
}

/* Segments reclaimed together (uploads finish in bursts) are all kept and
 * reused as the next spares, oldest first: no reclaimed file is deleted
 * while the pool (half the WAL's files, at most 4) has room. */
static void test_reclaims_together_all_reused(void **state) {
    (void)state;
    char *dir = tu_mkdir();
    rmq_store_config_t c = small_cfg(dir);
    c.segment_size_bytes = 64 * 1024;
    c.capacity_bytes = 8 * 64 * 1024; /* pool: 4 */
    rmq_store_t *st = open_ok(&c, NULL);
    sealed_log_t sl = {PTHREAD_MUTEX_INITIALIZER, {0}, {0}, 0};
    rmq_store_set_sealed_cb(st, on_sealed, &sl);
    int64_t next = 0;
    for (int i = 0; i < 80; i++) {
        pthread_mutex_lock(&sl.mu);
        int n = sl.n;
        pthread_mutex_unlock(&sl.mu);
        if (n >= 3) break;
        put(st, 1, REUSE_PAYLOAD, 1, next++);
    }
    pthread_mutex_lock(&sl.mu);
    assert_true(sl.n >= 3);
    uint64_t ids[3] = {sl.ids[0], sl.ids[1], sl.ids[2]};
    pthread_mutex_unlock(&sl.mu);
    int fds[3];
    for (int k = 0; k < 3; k++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/wal-%016llx.seg", dir, (unsigned long long)ids[k]);
        fds[k] = open(path, O_RDONLY);
        assert_true(fds[k] >= 0);
    }
    for (int k = 0; k < 3; k++) assert_int_equal(rmq_store_reclaim(st, ids[k]), RMQ_NONE);
    /* append until all three files carry new segments, reclaiming nothing else */
    uint64_t newid[3] = {0, 0, 0};
    for (int i = 0; i < 200 && !newid[2]; i++) {
        put(st, 1, REUSE_PAYLOAD, 1, next++);
        for (int k = 0; k < 3; k++) {
            struct stat held;
            assert_int_equal(fstat(fds[k], &held), 0);
            assert_int_equal(held.st_nlink, 1); /* never deleted: renamed or still pooled */
            for (uint64_t id = ids[2] + 1; id < ids[2] + 16 && !newid[k]; id++) {
                char p2[4096];
                struct stat now;
                snprintf(p2, sizeof p2, "%s/wal-%016llx.seg", dir, (unsigned long long)id);
                if (stat(p2, &now) == 0 && now.st_ino == held.st_ino) newid[k] = id;
            }
        }
    }
    for (int k = 0; k < 3; k++) assert_true(newid[k] != 0);
    assert_true(newid[0] < newid[1] && newid[1] < newid[2]); /* oldest reclaimed first */
    for (int k = 0; k < 3; k++) close(fds[k]);
    rmq_store_close(st);
    st = open_ok(&c, NULL);
    int64_t ws, end;
    rmq_store_stream_wal_start(st, 1, &ws);
    verify_stream(st, 1, ws, REUSE_PAYLOAD, 1, &end);
    assert_int_equal(end, next);
    rmq_store_close(st);
    tu_rmdir(dir);
}

/* rmq_store_append_crc (the produce path: the Kafka batch's own CRC seeds
 * the entry checksum) writes entries that read back, survive recovery's
 * verification and interleave with ordinary appends; a wrong caller CRC is
 * caught by recovery. */
static void test_append_with_known_crc(void **state) {
    (void)state;
    char *dir = tu_mkdir();
    rmq_store_config_t c = small_cfg(dir);
    rmq_store_t *st = open_ok(&c, NULL);
    uint8_t b[12000];
    for (int64_t off = 0; off < 40; off++) {
        size_t len = 100 + (size_t)off * 290; /* up to ~11 KiB: both sides of the 4 KiB combine threshold */
        tu_fill(b, len, 1, off);
        uint32_t crc = rmq_crc32c(0, b + 21, len - 21);
        int64_t got = -1;
        assert_int_equal(tu_append_ex(st, 1, b, len, 1, 0, 21, off % 2 ? NULL : &crc, &got), RMQ_NONE);
        assert_int_equal(got, off);
    }
    /* the caller's CRC really is what gets written: a wrong one (on a
     * batch large enough to take the combine path) is acknowledged, then
     * fails verification, so recovery ends the stream before it */
    size_t blen = 9000;
    tu_fill(b, blen, 1, 40);
    uint32_t bad = rmq_crc32c(0, b + 21, blen - 21) ^ 1u;
    assert_int_equal(tu_append_ex(st, 1, b, blen, 1, 0, 21, &bad, NULL), RMQ_NONE);
    assert_int_equal(rmq_store_append_crc(st, 1, b, 100, 7, 0, 1, 0, tu_done_cb, NULL), RMQ_ERR_INVALID_ARG);
    assert_int_equal(rmq_store_append_crc(st, 1, b, 100, 101, 0, 1, 0, tu_done_cb, NULL), RMQ_ERR_INVALID_ARG);
    rmq_store_close(st);
    st = open_ok(&c, NULL); /* recovery verifies every entry's CRC */
    int64_t ls, hw;
    rmq_store_stream_info(st, 1, &ls, &hw, NULL);
    assert_int_equal(hw, 40);
    uint8_t exp[12000];
    for (int64_t off = 0; off < 40; off++) {
        rmq_store_read_t r;
        assert_int_equal(rmq_store_read(st, 1, off, 1, &r), RMQ_NONE);
        assert_int_equal(r.iovcnt, 1);
        size_t len = 100 + (size_t)off * 290; /* up to ~11 KiB: both sides of the 4 KiB combine threshold */
        tu_fill(exp, len, 1, off);
        assert_int_equal(r.iov[0].iov_len, len);
        assert_memory_equal(r.iov[0].iov_base, exp, len);
        rmq_store_read_release(&r);
    }
    rmq_store_close(st);
    tu_rmdir(dir);
}

static void test_trim_delete_durable(void **state) {
    (void)state;
    char *dir = tu_mkdir();
    rmq_store_config_t c = small_cfg(dir);
    rmq_store_t *st = open_ok(&c, NULL);
    for (int i = 0; i < 10; i++) {
        put(st, 1, 300, 1, i);
        put(st, 2, 300, 1, i);
    }
    assert_int_equal(rmq_store_trim(st, 1, 4), RMQ_NONE);
    assert_int_equal(rmq_store_stream_delete(st, 2), RMQ_NONE);
    rmq_store_close(st);
    st = open_ok(&c, NULL);
    int64_t ls, hw, le;
    rmq_store_stream_info(st, 1, &ls, &hw, &le);
    assert_int_equal(ls, 4);
    assert_int_equal(hw, 10);
    assert_int_equal(verify_stream(st, 1, 4, 300, 1, NULL), 6);
    rmq_store_stream_info(st, 2, &ls, &hw, &le);
    assert_int_equal(hw, 0);
    uint64_t *ids;
    size_t n;
    rmq_store_list_streams(st, &ids, &n);
    assert_int_equal(n, 1);
    assert_int_equal(ids[0], 1);
    free(ids);
    put(st, 2, 300, 1, 0); /* a new stream 2 */
    put(st, 2, 300, 1, 1);
    rmq_store_close(st);
    st = open_ok(&c, NULL);
    rmq_store_stream_info(st, 2, &ls, &hw, &le);
    assert_int_equal(hw, 2);
    assert_int_equal(verify_stream(st, 2, 0, 300, 1, NULL), 2);
    rmq_store_close(st);
    tu_rmdir(dir);
}

/* Path of segment file `id` (the first one is 1). */
static void seg_file(const char *dir, unsigned id, char *out, size_t n) {
    snprintf(out, n, "%s/wal-%016x.seg", dir, id);
}

static void patch_file(const char *path, off_t off, const void *p, size_t n) {
    int fd = open(path, O_WRONLY);
    assert_true(fd >= 0);
    assert_int_equal(pwrite(fd, p, n, off), (ssize_t)n);
    close(fd);
}

static void test_corrupt_and_torn_tail(void **state) {
    (void)state;
    char *dir = tu_mkdir();
    rmq_store_config_t c = small_cfg(dir);
    rmq_store_t *st = open_ok(&c, NULL);
    for (int i = 0; i < 20; i++) put(st, 1, 1000, 1, i);
    rmq_store_close(st);
    char path[512];
    seg_file(dir, 1, path, sizeof(path));
    /* flip one payload byte of the last entry */
    off_t last = 19 * (RMQ_WAL_HDR + 1000);
    uint8_t x = 0x5a;
    patch_file(path, last + RMQ_WAL_HDR + 500, &x, 1);
    st = open_ok(&c, NULL);
    int64_t hw;
    rmq_store_stream_info(st, 1, NULL, &hw, NULL);
    assert_int_equal(hw, 19);
    assert_int_equal(verify_stream(st, 1, 0, 1000, 1, NULL), 19);
    /* a shorter entry now sits where the corrupt one was; the rest of the
     * old bytes must never be resurrected */
    put(st, 1, 1000 - RMQ_WAL_HDR - 200, 1, 19);
    rmq_store_close(st);
    st = open_ok(&c, NULL);
    rmq_store_stream_info(st, 1, NULL, &hw, NULL);
    assert_int_equal(hw, 20);
    rmq_store_close(st);
    /* torn tail: half a header of garbage, then a valid-looking old copy */
    uint8_t garbage[40];
    memset(garbage, 0xA7, sizeof(garbage));
    off_t end = 19 * (RMQ_WAL_HDR + 1000) + RMQ_WAL_HDR + (1000 - RMQ_WAL_HDR - 200);
    patch_file(path, end, garbage, sizeof(garbage));
    st = open_ok(&c, NULL);
    rmq_store_stream_info(st, 1, NULL, &hw, NULL);
    assert_int_equal(hw, 20);
    put(st, 1, 1000, 1, 20);
    rmq_store_close(st);
    st = open_ok(&c, NULL);
    rmq_store_stream_info(st, 1, NULL, &hw, NULL);
    assert_int_equal(hw, 21);
    /* entries 0..18 are 1000 bytes, 19 is shorter, 20 is 1000 */
    rmq_store_read_t r;
    assert_int_equal(rmq_store_read(st, 1, 19, 1, &r), RMQ_NONE);
    assert_int_equal(r.iov[0].iov_len, 1000 - RMQ_WAL_HDR - 200);
    rmq_store_read_release(&r);
    assert_int_equal(rmq_store_read(st, 1, 20, 1, &r), RMQ_NONE);
    uint8_t exp[1000];
    tu_fill(exp, sizeof(exp), 1, 20);
    assert_memory_equal(r.iov[0].iov_base, exp, 1000);
    rmq_store_read_release(&r);
    rmq_store_close(st);
    tu_rmdir(dir);
}

/* A same-sized entry replacing a corrupt one must not resurrect the valid
 * old entry that followed it (recovery zeroes the tail it truncates). */
static void test_no_ghost_after_truncation(void **state) {
    (void)state;
    char *dir = tu_mkdir();
    rmq_store_config_t c = small_cfg(dir);
    rmq_store_t *st = open_ok(&c, NULL);
    for (int i = 0; i < 20; i++) put(st, 1, 1000, 1, i);
    rmq_store_close(st);
    char path[512];
    seg_file(dir, 1, path, sizeof(path));
    uint8_t x = 0x5a;
    patch_file(path, 18 * (RMQ_WAL_HDR + 1000) + 30, &x, 1); /* header of entry 18 */
    st = open_ok(&c, NULL);
    int64_t hw;
    rmq_store_stream_info(st, 1, NULL, &hw, NULL);
    assert_int_equal(hw, 18);
    put(st, 2, 1000, 1, 0); /* exactly where entry 18 was */
    rmq_store_close(st);
    st = open_ok(&c, NULL); /* old entry 19 (base 19) would be a gap: open would fail */
    rmq_store_stream_info(st, 1, NULL, &hw, NULL);
    assert_int_equal(hw, 18);
    rmq_store_stream_info(st, 2, NULL, &hw, NULL);
    assert_int_equal(hw, 1);
    rmq_store_close(st);
    tu_rmdir(dir);
}

static void test_corrupt_sealed_segment_detected(void **state) {
    (void)state;
    char *dir = tu_mkdir();
    rmq_store_config_t c = small_cfg(dir);
    c.segment_size_bytes = 64 * 1024;
    rmq_store_t *st = open_ok(&c, NULL);
    for (int i = 0; i < 20; i++) put(st, 1, 10000, 1, i); /* > 3 segments */
    rmq_store_close(st);
    /* corrupt the 2nd entry of the first segment: its later entries would be
     * lost, and the next segment continues after them -> refuse to open */
    char path[512];
    seg_file(dir, 1, path, sizeof(path));
    uint8_t x = 0x11;
    patch_file(path, (RMQ_WAL_HDR + 10000) + RMQ_WAL_HDR + 20, &x, 1);
    rmq_store_t *st2 = NULL;
    char err[256];
    assert_int_equal(rmq_store_open(&c, NULL, &st2, err, sizeof(err)), RMQ_ERR_CORRUPT);
    assert_null(st2);
    assert_non_null(strstr(err, "stream 1"));
    tu_rmdir(dir);
}

static void test_fsync_off_background_flush(void **state) {
    (void)state;
    char *dir = tu_mkdir();
    tu_fault_io_t f;
    tu_fault_init(&f);
    rmq_store_config_t c = small_cfg(dir);
    c.fsync_on_write = false;
    c.flush_interval_ms = 10;
    rmq_store_t *st = open_ok(&c, &f.io);
    int base = atomic_load(&f.fdatasyncs);
    for (int i = 0; i < 20; i++) put(st, 1, 500, 1, i);
    int after_puts = atomic_load(&f.fdatasyncs);
    assert_true(after_puts - base < 20); /* completions did not wait for fdatasync */
    /* the 10 ms background flush runs with no append to prompt it: waited
     * for (bounded) rather than given a fixed 60 ms, which a loaded
     * sanitizer run once missed */
    for (int waited = 0; atomic_load(&f.fdatasyncs) <= after_puts && waited < 30000; waited += 10) tu_sleep_ms(10);
    assert_true(atomic_load(&f.fdatasyncs) > after_puts); /* background flush ran */
    put(st, 1, 500, 1, 20);
    assert_int_equal(rmq_store_sync(st), RMQ_NONE);
    rmq_store_close(st);
    st = open_ok(&c, NULL);
    assert_int_equal(verify_stream(st, 1, 0, 500, 1, NULL), 21);
    rmq_store_close(st);
    tu_rmdir(dir);
}

/* fsync_on_write = false: every written run is handed to the disk at once
 * (writeback), so a flush or segment switch never waits for a whole
 * interval of dirty pages; with fsync on, the synced write does it, and
 * with O_DIRECT there are no dirty pages: writeback is never asked for. */
static void test_fsync_off_writeback_started(void **state) {
    (void)state;
    for (int fs = 0; fs <= 1; fs++) {
        char *dir = tu_mkdir();
        tu_fault_io_t f;
        tu_fault_init(&f);
        rmq_store_config_t c = small_cfg(dir);
        c.fsync_on_write = fs == 1;
        c.flush_interval_ms = 600000; /* no flush tick during the test */
        rmq_store_t *st = open_ok(&c, &f.io);
        for (int i = 0; i < 20; i++) put(st, 1, 500, 1, i);
        rmq_store_stats_t s;
        rmq_store_stats(st, &s);
        if (fs || c.direct_io) { /* O_DIRECT writes leave no dirty pages behind */
            assert_int_equal(atomic_load(&f.writebacks), 0);
        } else {
            /* one call per written group, covering exactly what was written */
            assert_int_equal(atomic_load(&f.writebacks), (int)s.groups);
            assert_int_equal(atomic_load(&f.wb_bytes), (long long)s.append_bytes + 20LL * RMQ_WAL_HDR);
            assert_int_equal(atomic_load(&f.wb_end), (long long)s.append_bytes + 20LL * RMQ_WAL_HDR);
        }
        rmq_store_close(st);
        st = open_ok(&c, NULL);
        assert_int_equal(verify_stream(st, 1, 0, 500, 1, NULL), 20);
        rmq_store_close(st);
        tu_rmdir(dir);
    }
}

/* ---- time-based sealing ---- */
static void test_seal_active(void **state) {
    (void)state;
    char *dir = tu_mkdir();
    rmq_store_config_t c = small_cfg(dir);
    rmq_store_t *st = open_ok(&c, NULL);
    sealed_log_t sl = {PTHREAD_MUTEX_INITIALIZER, {0}, {0}, 0};
    rmq_store_set_sealed_cb(st, on_sealed, &sl);
    assert_int_equal(rmq_store_seal_active(st), RMQ_NONE); /* empty: nothing to seal */
    assert_int_equal(sl.n, 0);
    for (int i = 0; i < 5; i++) {
        put(st, 1, 700, 1, i);
        put(st, 2, 900, 2, i * 2);
    }
    assert_int_equal(rmq_store_seal_active(st), RMQ_NONE);
    assert_int_equal(sl.n, 1); /* fired before seal_active returned */
    assert_int_equal(sl.ids[0], 1);
    assert_int_equal(sl.entries[0], 10);
    assert_int_equal(rmq_store_seal_active(st), RMQ_NONE); /* the new segment is empty */
    assert_int_equal(sl.n, 1);
    rmq_store_stats_t s;
    rmq_store_stats(st, &s);
    assert_int_equal(s.segments_sealed, 1);
    put(st, 1, 700, 1, 5); /* goes to the new segment */
    put(st, 1, 700, 1, 6);
    assert_int_equal(verify_stream(st, 1, 0, 700, 1, NULL), 7);
    /* the uploader reads the sealed segment and reclaims it */
    uint8_t hdr[RMQ_WAL_HDR];
    assert_int_equal(rmq_store_segment_pread(st, 1, 0, hdr, sizeof(hdr)), RMQ_NONE);
    assert_int_equal(rmq_be32(hdr), RMQ_WAL_MAGIC);
    assert_int_equal(rmq_store_reclaim(st, 1), RMQ_NONE);
    rmq_store_read_t r;
    assert_int_equal(rmq_store_read(st, 1, 0, 100, &r), RMQ_ERR_NOT_FOUND);
    rmq_store_read_release(&r);
    int64_t ws;
    rmq_store_stream_wal_start(st, 1, &ws);
    assert_int_equal(ws, 5);
    assert_int_equal(verify_stream(st, 1, 5, 700, 1, NULL), 2);
    /* seal again (segment 2 holds offsets 5, 6) */
    assert_int_equal(rmq_store_seal_active(st), RMQ_NONE);
    assert_int_equal(sl.n, 2);
    assert_int_equal(sl.entries[1], 2);
    uint64_t second = sl.ids[1];
    assert_true(second > 1);
    rmq_store_close(st);
    /* reopen: the sealed segment stays sealed (reported at once), offsets continue */
    st = open_ok(&c, NULL);
    sealed_log_t sl2 = {PTHREAD_MUTEX_INITIALIZER, {0}, {0}, 0};
    rmq_store_set_sealed_cb(st, on_sealed, &sl2);
    assert_int_equal(sl2.n, 1);
    assert_int_equal(sl2.ids[0], second);
    put(st, 1, 700, 1, 7);
    assert_int_equal(sl2.n, 1);
    assert_int_equal(rmq_store_reclaim(st, second), RMQ_NONE);
    int64_t ls, hw;
    rmq_store_stream_info(st, 1, &ls, &hw, NULL);
    assert_int_equal(ls, 0);
    assert_int_equal(hw, 8);
    rmq_store_stream_wal_start(st, 1, &ws);
    assert_int_equal(ws, 7);
    rmq_store_stream_info(st, 2, NULL, &hw, NULL);
    assert_int_equal(hw, 10);
    rmq_store_close(st);
    tu_rmdir(dir);
}

/* A crash right after sealing (the child exits without closing the store,
 * as kill -9 would): recovery keeps the segment sealed, its data readable,
 * and appends go to a new segment. */
static void test_seal_then_crash(void **state) {
    (void)state;
    char *dir = tu_mkdir();
    rmq_store_config_t c = small_cfg(dir);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        rmq_store_t *st = NULL;
        if (rmq_store_open(&c, NULL, &st, NULL, 0) != RMQ_NONE) _exit(2);
        uint8_t b[3000];
        for (int i = 0; i < 7; i++) {
            tu_fill(b, sizeof(b), 4, i);
            int64_t off;
            if (tu_append(st, 4, b, sizeof(b), 1, 1000 + i, &off) != RMQ_NONE || off != i) _exit(3);
        }
        if (rmq_store_seal_active(st) != RMQ_NONE) _exit(4);
        _exit(0); /* no close, no flush: a crash */
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    rmq_store_t *st = open_ok(&c, NULL);
    sealed_log_t sl = {PTHREAD_MUTEX_INITIALIZER, {0}, {0}, 0};
    rmq_store_set_sealed_cb(st, on_sealed, &sl);
    assert_int_equal(sl.n, 1);
    assert_int_equal(sl.ids[0], 1);
    assert_int_equal(sl.entries[0], 7);
    assert_int_equal(verify_stream(st, 4, 0, 3000, 1, NULL), 7);
    put(st, 4, 3000, 1, 7); /* not into the sealed segment */
    assert_int_equal(sl.n, 1);
    assert_int_equal(rmq_store_reclaim(st, 1), RMQ_NONE);
    int64_t ws;
    rmq_store_stream_wal_start(st, 4, &ws);
    assert_int_equal(ws, 7);
    assert_int_equal(verify_stream(st, 4, 7, 3000, 1, NULL), 1);
    rmq_store_close(st);
    st = open_ok(&c, NULL);
    int64_t hw;
    rmq_store_stream_info(st, 4, NULL, &hw, NULL);
    assert_int_equal(hw, 8);
    rmq_store_close(st);
    tu_rmdir(dir);
}

/* A WAL written in one mode recovers and continues in another (the format
 * does not depend on the mode): here plain -> the mode under test -> plain,
 * with tails that end inside a 4 KiB block. */
static void test_mode_switch(void **state) {
    (void)state;
    char *dir = tu_mkdir();
    rmq_store_config_t c = small_cfg(dir);
    rmq_store_config_t plain = c;
    plain.direct_io = plain.io_uring = false;
    rmq_store_t *st = open_ok(&plain, NULL);
    for (int i = 0; i < 9; i++) put(st, 3, 1234, 1, i);
    rmq_store_close(st);
    st = open_ok(&c, NULL);
    assert_int_equal(verify_stream(st, 3, 0, 1234, 1, NULL), 9);
    for (int i = 9; i < 30; i++) put(st, 3, 1234, 1, i);
    rmq_store_close(st);
    st = open_ok(&plain, NULL);
    int64_t end;
    assert_int_equal(verify_stream(st, 3, 0, 1234, 1, &end), 30);
    put(st, 3, 1234, 1, 30);
    rmq_store_close(st);
    st = open_ok(&c, NULL);
    assert_int_equal(verify_stream(st, 3, 0, 1234, 1, &end), 31);
    rmq_store_close(st);
    tu_rmdir(dir);
}

static void test_mode_open_errors(void **state) {
    (void)state;
    char *dir = tu_mkdir();
    rmq_store_config_t c = small_cfg(dir);
    rmq_store_t *st = NULL;
    char err[512];
    if (g_mode.direct) {
        c.segment_size_bytes = 256 * 1024 + 512;
        assert_int_equal(rmq_store_open(&c, NULL, &st, err, sizeof(err)), RMQ_ERR_CONFIG);
        assert_non_null(strstr(err, "direct_io"));
        c.segment_size_bytes = 256 * 1024;
    }
    if (g_mode.uring) {
        tu_fault_io_t f;
        tu_fault_init(&f);
        atomic_store(&f.uring_init_err, -EPERM); /* as under a seccomp filter */
        tu_fault_attach(&c, &f);
        assert_int_equal(rmq_store_open(&c, &f.io, &st, err, sizeof(err)), RMQ_ERR_UNSUPPORTED);
        assert_null(st);
        assert_non_null(strstr(err, "wal.io_uring = false"));
        assert_non_null(strstr(err, "io_uring_queue_init"));
    }
    tu_rmdir(dir);
}

static void test_format_codecs(void **state) {
    (void)state;
    uint8_t payload[100];
    for (int i = 0; i < 100; i++) payload[i] = (uint8_t)i;
    rmq_wal_hdr_t h = {100, RMQ_WAL_DATA, 42, 7, 3, 1, 99, 5}, d;
    uint8_t hdr[RMQ_WAL_HDR];
    rmq_wal_hdr_encode(hdr, &h, payload, rmq_wal_body_crc(payload, 100));
    for (size_t t = 8; t <= 100; t += 13) /* a known tail CRC gives the same body CRC */
        assert_int_equal(rmq_wal_body_crc_from_tail(payload, 100, t, rmq_crc32c(0, payload + t, 100 - t)),
                         rmq_wal_body_crc(payload, 100));
    assert_int_equal(rmq_wal_hdr_decode(hdr, 5, 100, &d), RMQ_NONE);
    assert_int_equal(d.stream_id, 42);
    assert_int_equal(d.base_offset, 7);
    assert_true(rmq_wal_hdr_crc_ok(hdr, payload, 100));
    payload[50] ^= 1;
    assert_false(rmq_wal_hdr_crc_ok(hdr, payload, 100));
    assert_int_equal(rmq_wal_hdr_decode(hdr, 6, 100, &d), RMQ_ERR_CORRUPT); /* other segment */
    assert_int_equal(rmq_wal_hdr_decode(hdr, 5, 99, &d), RMQ_ERR_CORRUPT);  /* too long */
    hdr[0] ^= 1;
    assert_int_equal(rmq_wal_hdr_decode(hdr, 5, 100, &d), RMQ_ERR_BAD_MAGIC);

    uint64_t rec[2] = {3, 5};
    rmq_wal_ckpt_stream_t ss[1] = {{9, 2, 10, 20}};
    rmq_wal_ckpt_t c = {1, 2, 3, 2, rec, 1, ss}, c2;
    uint8_t *buf;
    size_t len;
    assert_int_equal(rmq_wal_ckpt_encode(&c, &buf, &len), RMQ_NONE);
    assert_int_equal(rmq_wal_ckpt_decode(buf, len, &c2), RMQ_NONE);
    assert_int_equal(c2.n_reclaimed, 2);
    assert_int_equal(c2.reclaimed[1], 5);
    assert_int_equal(c2.streams[0].end, 20);
    rmq_wal_ckpt_free(&c2);
    for (size_t cut = 0; cut < len; cut++) assert_int_not_equal(rmq_wal_ckpt_decode(buf, cut, &c2), RMQ_NONE);
    buf[len - 1] ^= 1;
    assert_int_equal(rmq_wal_ckpt_decode(buf, len, &c2), RMQ_ERR_BAD_CRC);
    free(buf);
}

static void test_config_errors(void **state) {
    (void)state;
    rmq_store_config_t c;
    rmq_store_config_default(&c);
    rmq_store_t *st = NULL;
    char err[128];
    assert_int_equal(rmq_store_open(&c, NULL, &st, err, sizeof(err)), RMQ_ERR_CONFIG);
    c.dir = "/tmp/rmq-never-created";
    c.capacity_bytes = c.segment_size_bytes;
    assert_int_equal(rmq_store_open(&c, NULL, &st, err, sizeof(err)), RMQ_ERR_CONFIG);
    assert_null(st);
}

int main(void) {
    rmq_log_set_level(RMQ_LOG_WARN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_format_codecs),
        cmocka_unit_test(test_config_errors),
        cmocka_unit_test(test_roundtrip_and_reopen),
        cmocka_unit_test(test_concurrent_offsets),
        cmocka_unit_test(test_read_semantics),
        cmocka_unit_test(test_write_cache),
        cmocka_unit_test(test_short_writes),
        cmocka_unit_test(test_fsync_eio_read_only),
        cmocka_unit_test(test_fsync_eio_read_only_no_dsync),
        cmocka_unit_test(test_dsync_refused_falls_back),
        cmocka_unit_test(test_reclaims_together_all_reused),
        cmocka_unit_test(test_plugged_appends_one_group),
        cmocka_unit_test(test_pwrite_error),
        cmocka_unit_test(test_enospc_backpressure),
        cmocka_unit_test(test_slow_segment_preparation_logged),
        cmocka_unit_test(test_appends_go_on_while_next_segment_is_made),
        cmocka_unit_test(test_read_only_wakes_append_waiting_for_segment),
        cmocka_unit_test(test_checkpoint_while_pooled_segment_renamed),
        cmocka_unit_test(test_fresh_segment_prefilled),
        cmocka_unit_test(test_waiting_append_stops_prefill),
        cmocka_unit_test(test_prefill_skipped_without_o_direct),
        cmocka_unit_test(test_suppressed_slow_steps_summarized),
        cmocka_unit_test(test_queue_wait_synced_share_logged),
        cmocka_unit_test(test_segment_copy_cached),
        cmocka_unit_test(test_direct_large_group_every_piece_synced),
        cmocka_unit_test(test_full_reclaim_checkpoint),
        cmocka_unit_test(test_reclaimed_segment_reused),
        cmocka_unit_test(test_append_with_known_crc),
        cmocka_unit_test(test_trim_delete_durable),
        cmocka_unit_test(test_corrupt_and_torn_tail),
        cmocka_unit_test(test_no_ghost_after_truncation),
        cmocka_unit_test(test_corrupt_sealed_segment_detected),
        cmocka_unit_test(test_fsync_off_background_flush),
        cmocka_unit_test(test_fsync_off_writeback_started),
        cmocka_unit_test(test_seal_active),
        cmocka_unit_test(test_seal_then_crash),
        cmocka_unit_test(test_mode_switch),
        cmocka_unit_test(test_mode_open_errors),
    };
    tu_mode_t modes[4];
    int nm = tu_modes(modes);
    int failed = 0;
    for (int m = 0; m < nm; m++) {
        g_mode = modes[m];
        char name[64];
        snprintf(name, sizeof(name), "wal mode %s", modes[m].name);
        fprintf(stderr, "==== WAL write mode: %s ====\n", modes[m].name);
        failed += _cmocka_run_group_tests(name, tests, sizeof(tests) / sizeof(tests[0]), NULL, NULL);
    }
    return failed;
}
