/* storage_test_util.h - helpers shared by the storage unit tests (header
 * only, included by tests/unit/test_wal.c and test_storage_crash.c): temp
 * directories on the real filesystem, a fault-injecting rmq_wal_io_t, and a
 * blocking append helper. */
#ifndef RMQ_TEST_STORAGE_UTIL_H
#define RMQ_TEST_STORAGE_UTIL_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <ftw.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "storage/store.h"

static inline int tu_rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(p);
}

/* Fresh directory under /tmp (ext4 here, not tmpfs). Caller frees with tu_rmdir. */
static char *tu_mkdir(void) {
    char *d = strdup("/tmp/rmq-wal-test-XXXXXX");
    if (!d || !mkdtemp(d)) abort();
    return d;
}

static inline void tu_rmdir(char *d) {
    nftw(d, tu_rm_cb, 16, FTW_DEPTH | FTW_PHYS);
    free(d);
}

static inline void tu_sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* ---- fault injection ---- */
typedef struct tu_fault_io {
    rmq_wal_io_t io;
    atomic_int max_write;       /* >0: each pwritev writes at most this many bytes */
    atomic_int fdatasync_ok;    /* >=0: that many more fdatasyncs succeed, then EIO */
    atomic_int fallocate_err;   /* nonzero: fallocate(mode 0) returns this (-ENOSPC) */
    atomic_int pwritev_err;     /* nonzero: pwritev returns this */
    atomic_int fdatasyncs;
} tu_fault_io_t;

static inline int tu_f_open(void *ud, const char *p, int fl, int mode) {
    (void)ud;
    return rmq_wal_io_default()->open(NULL, p, fl, mode);
}
static inline ssize_t tu_f_pwritev(void *ud, int fd, const struct iovec *iov, int n, off_t off) {
    tu_fault_io_t *f = ud;
    int e = atomic_load(&f->pwritev_err);
    if (e) return e;
    int mx = atomic_load(&f->max_write);
    if (mx > 0 && n > 0) {
        struct iovec one = iov[0];
        if (one.iov_len > (size_t)mx) one.iov_len = (size_t)mx;
        return rmq_wal_io_default()->pwritev(NULL, fd, &one, 1, off);
    }
    return rmq_wal_io_default()->pwritev(NULL, fd, iov, n, off);
}
static inline int tu_f_fdatasync(void *ud, int fd) {
    tu_fault_io_t *f = ud;
    atomic_fetch_add(&f->fdatasyncs, 1);
    int left = atomic_load(&f->fdatasync_ok);
    if (left >= 0) {
        if (left == 0) return -EIO;
        atomic_fetch_sub(&f->fdatasync_ok, 1);
    }
    return rmq_wal_io_default()->fdatasync(NULL, fd);
}
static inline int tu_f_fallocate(void *ud, int fd, int mode, off_t off, off_t len) {
    tu_fault_io_t *f = ud;
    int e = atomic_load(&f->fallocate_err);
    if (e && mode == 0) return e;
    return rmq_wal_io_default()->fallocate(NULL, fd, mode, off, len);
}
static inline ssize_t tu_f_pread(void *ud, int fd, void *b, size_t l, off_t o) {
    (void)ud;
    return rmq_wal_io_default()->pread(NULL, fd, b, l, o);
}
static inline int tu_f_close(void *ud, int fd) {
    (void)ud;
    return rmq_wal_io_default()->close(NULL, fd);
}
static inline int tu_f_unlink(void *ud, const char *p) {
    (void)ud;
    return rmq_wal_io_default()->unlink(NULL, p);
}
static inline int tu_f_rename(void *ud, const char *a, const char *b) {
    (void)ud;
    return rmq_wal_io_default()->rename(NULL, a, b);
}
static inline int64_t tu_f_fsize(void *ud, int fd) {
    (void)ud;
    return rmq_wal_io_default()->fsize(NULL, fd);
}
static inline int tu_f_list(void *ud, const char *d, void (*fn)(void *, const char *), void *arg) {
    (void)ud;
    return rmq_wal_io_default()->list(NULL, d, fn, arg);
}

static inline void tu_fault_init(tu_fault_io_t *f) {
    memset(f, 0, sizeof(*f));
    f->io = (rmq_wal_io_t){tu_f_open, tu_f_pwritev, tu_f_fdatasync, tu_f_fallocate, tu_f_pread,
                           tu_f_close, tu_f_unlink, tu_f_rename, tu_f_fsize, tu_f_list, f};
    atomic_store(&f->fdatasync_ok, -1);
}

/* ---- blocking append ---- */
typedef struct tu_done {
    pthread_mutex_t mu;
    pthread_cond_t cond;
    int done;
    rmq_err_t err;
    int64_t off;
} tu_done_t;

static inline void tu_done_cb(void *ud, rmq_err_t err, int64_t off) {
    tu_done_t *d = ud;
    pthread_mutex_lock(&d->mu);
    d->err = err;
    d->off = off;
    d->done = 1;
    pthread_cond_signal(&d->cond);
    pthread_mutex_unlock(&d->mu);
}

/* Append and wait for durability. Returns the sync error, else the
 * completion error; *off = assigned base offset. */
static inline rmq_err_t tu_append(rmq_store_t *st, uint64_t sid, const void *p, size_t len, int32_t cnt, int64_t ts,
                           int64_t *off) {
    tu_done_t d = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, -1};
    rmq_err_t e = rmq_store_append(st, sid, p, len, cnt, ts, tu_done_cb, &d);
    if (e) return e;
    pthread_mutex_lock(&d.mu);
    while (!d.done) pthread_cond_wait(&d.cond, &d.mu);
    pthread_mutex_unlock(&d.mu);
    if (off) *off = d.off;
    return d.err;
}

/* Deterministic batch content for (stream, offset): a fake 61-byte
 * Kafka-like header whose first 8 bytes hold the offset, then PRNG bytes. */
static inline uint64_t tu_mix(uint64_t x) {
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    x ^= x >> 31;
    return x;
}

static inline void tu_fill(uint8_t *p, size_t len, uint64_t sid, int64_t off) {
    uint64_t s = tu_mix(sid * 0x9e3779b97f4a7c15ull ^ (uint64_t)off ^ 0x5bd1e995ull);
    for (size_t i = 0; i < len; i += 8) {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        size_t n = len - i < 8 ? len - i : 8;
        memcpy(p + i, &s, n);
    }
    for (int i = 0; i < 8 && (size_t)i < len; i++) p[i] = (uint8_t)((uint64_t)off >> (56 - 8 * i));
}

#endif
