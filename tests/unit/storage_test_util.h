/* storage_test_util.h - helpers shared by the storage unit tests (header
 * only, included by tests/unit/test_wal.c, test_storage_crash.c,
 * test_tier_storage.c and test_objstore_local.c): temp directories on the
 * real filesystem and whether they take O_DIRECT, the WAL write modes
 * (plain, O_DIRECT, io_uring, both) the tests are repeated in, a
 * fault-injecting rmq_wal_io_t (plus the io_uring result hook), and
 * blocking append and completion helpers. */
#ifndef RMQ_TEST_STORAGE_UTIL_H
#define RMQ_TEST_STORAGE_UTIL_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdbool.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "storage/store.h"

static inline int tu_rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(p);
}

/* Fresh directory under /tmp (ext4 here, not tmpfs). Caller frees with tu_rmdir. */
static inline char *tu_mkdir(void) {
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

/* ---- write modes ---- */
typedef struct tu_mode {
    const char *name;
    bool direct, uring;
} tu_mode_t;

static const tu_mode_t tu_all_modes[4] = {
    {"plain", false, false}, {"direct", true, false}, {"uring", false, true}, {"direct+uring", true, true}};

/* The modes to test: RMQ_WAL_MODES="plain,uring" (names as above) or all
 * four; io_uring modes only in builds with liburing. Fills out (>= 4
 * slots), returns the count. */
static inline int tu_modes(tu_mode_t *out) {
    const char *env = getenv("RMQ_WAL_MODES");
    int n = 0;
    for (int i = 0; i < 4; i++) {
#ifndef RMQ_HAVE_URING
        if (tu_all_modes[i].uring) continue;
#endif
        if (env && *env) {
            bool found = false;
            const char *p = env;
            size_t l = strlen(tu_all_modes[i].name);
            while (*p) {
                size_t k = strcspn(p, ",");
                if (k == l && strncmp(p, tu_all_modes[i].name, l) == 0) found = true;
                p += k;
                if (*p == ',') p++;
            }
            if (!found) continue;
        }
        out[n++] = tu_all_modes[i];
    }
    return n;
}

static inline void tu_mode_apply(rmq_store_config_t *c, const tu_mode_t *m) {
    c->direct_io = m->direct;
    c->io_uring = m->uring;
}

/* ---- fault injection ---- */
typedef struct tu_fault_io {
    rmq_wal_io_t io;
    atomic_int max_write;       /* >0: each pwritev writes at most this many bytes */
    atomic_int fdatasync_ok;    /* >=0: that many more fdatasyncs succeed, then EIO */
    atomic_int fallocate_err;   /* nonzero: fallocate(mode 0) returns this (-ENOSPC) */
    atomic_int fallocate_delay_ms; /* >0: fallocate(mode 0) sleeps this long first (a slow disk) */
    atomic_int fallocate_gate;     /* nonzero: fallocate(mode 0) blocks until it is 0 again */
    atomic_int rename_gate;        /* nonzero: a rename to a segment file blocks until it is 0 again */
    atomic_int gate_waiters;       /* fallocates, renames and zero writes blocked at their gates now */
    atomic_int last_direct_fd;     /* the fd last opened with O_DIRECT (-1: none, or closed) */
    atomic_llong zero_bytes;       /* bytes of all-zero single-buffer writes to last_direct_fd (a prefill) */
    atomic_int zero_gate;          /* nonzero: such a write blocks until it is 0 again */
    atomic_llong zero_gate_after;  /* ... once this many zero bytes have gone through */
    atomic_int direct_open_err;    /* nonzero: an open with O_DIRECT returns this (-EINVAL: tmpfs) */
    atomic_int sync_delay_ms;      /* >0: every synced write or fdatasync sleeps this long first */
    atomic_int pwritev_err;     /* nonzero: pwritev returns this */
    atomic_int fdatasyncs;      /* fdatasync calls, RWF_DSYNC writes and io_uring fsyncs */
    atomic_int uring_init_err;  /* nonzero: io_uring_queue_init "fails" with this */
    atomic_int direct_opens;    /* opens with O_DIRECT */
    atomic_int uring_writes;    /* io_uring write completions seen */
    atomic_int dsync_writes;    /* pwritev_dsync calls */
    atomic_int dsync_refused;   /* nonzero: pwritev_dsync returns -EOPNOTSUPP */
    atomic_int writebacks;      /* writeback calls */
    atomic_llong wb_bytes;      /* bytes they covered */
    atomic_llong wb_end;        /* end of the furthest range given */
} tu_fault_io_t;

static inline int tu_f_open(void *ud, const char *p, int fl, int mode) {
    tu_fault_io_t *f = ud;
    if (fl & O_DIRECT) atomic_fetch_add(&f->direct_opens, 1);
    int e = atomic_load(&f->direct_open_err);
    if (e && (fl & O_DIRECT)) return e;
    int fd = rmq_wal_io_default()->open(NULL, p, fl, mode);
    if (fd >= 0 && (fl & O_DIRECT)) atomic_store(&f->last_direct_fd, fd);
    return fd;
}
/* A write of one all-zero buffer to the last O_DIRECT fd: a segment prefill
 * (the store's entries are never all zeros). */
static inline bool tu_f_is_zero_write(tu_fault_io_t *f, int fd, const struct iovec *iov, int n) {
    if (n != 1 || fd != atomic_load(&f->last_direct_fd)) return false;
    const uint8_t *p = iov[0].iov_base;
    for (size_t i = 0; i < iov[0].iov_len; i++)
        if (p[i]) return false;
    return true;
}
typedef ssize_t (*tu_writev_fn)(void *ud, int fd, const struct iovec *iov, int n, off_t off);
/* A write through wr (a real syscall) with the write faults applied:
 * pwritev_err fails it, max_write makes it short. */
static inline ssize_t tu_f_write_faulted(tu_fault_io_t *f, tu_writev_fn wr, int fd, const struct iovec *iov, int n,
                                         off_t off) {
    int e = atomic_load(&f->pwritev_err);
    if (e) return e;
    int mx = atomic_load(&f->max_write);
    if (mx > 0 && n > 0) {
        struct iovec one = iov[0];
        if (one.iov_len > (size_t)mx) one.iov_len = (size_t)mx;
        return wr(NULL, fd, &one, 1, off);
    }
    return wr(NULL, fd, iov, n, off);
}
static inline ssize_t tu_f_pwritev(void *ud, int fd, const struct iovec *iov, int n, off_t off) {
    tu_fault_io_t *f = ud;
    if (tu_f_is_zero_write(f, fd, iov, n)) {
        if (atomic_load(&f->zero_gate) && atomic_load(&f->zero_bytes) >= atomic_load(&f->zero_gate_after)) {
            atomic_fetch_add(&f->gate_waiters, 1);
            while (atomic_load(&f->zero_gate)) tu_sleep_ms(1);
            atomic_fetch_sub(&f->gate_waiters, 1);
        }
        ssize_t r = tu_f_write_faulted(f, rmq_wal_io_default()->pwritev, fd, iov, n, off);
        if (r > 0) atomic_fetch_add(&f->zero_bytes, (long long)r);
        return r;
    }
    return tu_f_write_faulted(f, rmq_wal_io_default()->pwritev, fd, iov, n, off);
}
/* The fdatasync budget shared by the syscall and the io_uring fsync. */
static inline int tu_f_sync_fault(tu_fault_io_t *f) {
    atomic_fetch_add(&f->fdatasyncs, 1);
    int delay = atomic_load(&f->sync_delay_ms);
    if (delay > 0) tu_sleep_ms(delay);
    /* take one from the budget atomically: the WAL writer and its segment
     * preparer sync concurrently */
    int left = atomic_load(&f->fdatasync_ok);
    while (left > 0 && !atomic_compare_exchange_weak(&f->fdatasync_ok, &left, left - 1)) {
    }
    return left == 0 ? -EIO : 0;
}
static inline int tu_f_fdatasync(void *ud, int fd) {
    int r = tu_f_sync_fault(ud);
    return r ? r : rmq_wal_io_default()->fdatasync(NULL, fd);
}
/* io_uring result hook (rmq_store_config_t.uring_hook): the same faults as
 * the syscalls - pwritev_err fails writes, max_write makes them short (the
 * store rewrites the rest), fdatasync_ok fails fsyncs - plus init errors. */
static inline int tu_f_uring(void *ud, int op, int fd, int res) {
    tu_fault_io_t *f = ud;
    (void)fd;
    if (op == RMQ_WAL_URING_INIT) {
        int e = atomic_load(&f->uring_init_err);
        return e ? e : res;
    }
    if (op == RMQ_WAL_URING_FSYNC) {
        int r = tu_f_sync_fault(f);
        return r ? r : res;
    }
    atomic_fetch_add(&f->uring_writes, 1);
    int e = atomic_load(&f->pwritev_err);
    if (e) return e;
    int mx = atomic_load(&f->max_write);
    if (mx > 0 && res > mx) return mx;
    return res;
}
/* RWF_DSYNC write: the write faults, then the sync budget (a refused
 * sync fails the call with EIO after nothing was written). */
static inline ssize_t tu_f_pwritev_dsync(void *ud, int fd, const struct iovec *iov, int n, off_t off) {
    tu_fault_io_t *f = ud;
    atomic_fetch_add(&f->dsync_writes, 1);
    if (atomic_load(&f->dsync_refused)) return -EOPNOTSUPP;
    int e = atomic_load(&f->pwritev_err);
    if (e) return e; /* a failed write does not reach the sync */
    int r = tu_f_sync_fault(f);
    if (r) return r;
    return tu_f_write_faulted(f, rmq_wal_io_default()->pwritev_dsync, fd, iov, n, off);
}
static inline int tu_f_writeback(void *ud, int fd, off_t off, off_t len) {
    tu_fault_io_t *f = ud;
    atomic_fetch_add(&f->writebacks, 1);
    atomic_fetch_add(&f->wb_bytes, (long long)len);
    long long end = (long long)(off + len), cur = atomic_load(&f->wb_end);
    while (end > cur && !atomic_compare_exchange_weak(&f->wb_end, &cur, end)) {
    }
    return rmq_wal_io_default()->writeback(NULL, fd, off, len);
}
static inline int tu_f_fallocate(void *ud, int fd, int mode, off_t off, off_t len) {
    tu_fault_io_t *f = ud;
    int e = atomic_load(&f->fallocate_err);
    if (e && mode == 0) return e;
    int delay = atomic_load(&f->fallocate_delay_ms);
    if (delay > 0 && mode == 0) tu_sleep_ms(delay);
    if (mode == 0 && atomic_load(&f->fallocate_gate)) {
        atomic_fetch_add(&f->gate_waiters, 1);
        while (atomic_load(&f->fallocate_gate)) tu_sleep_ms(1);
        atomic_fetch_sub(&f->gate_waiters, 1);
    }
    return rmq_wal_io_default()->fallocate(NULL, fd, mode, off, len);
}
static inline ssize_t tu_f_pread(void *ud, int fd, void *b, size_t l, off_t o) {
    (void)ud;
    return rmq_wal_io_default()->pread(NULL, fd, b, l, o);
}
static inline int tu_f_close(void *ud, int fd) {
    tu_fault_io_t *f = ud;
    int d = fd;
    atomic_compare_exchange_strong(&f->last_direct_fd, &d, -1);
    return rmq_wal_io_default()->close(NULL, fd);
}
static inline int tu_f_unlink(void *ud, const char *p) {
    (void)ud;
    return rmq_wal_io_default()->unlink(NULL, p);
}
static inline int tu_f_rename(void *ud, const char *a, const char *b) {
    tu_fault_io_t *f = ud;
    if (strstr(b, ".seg") && atomic_load(&f->rename_gate)) { /* not the checkpoint's rename */
        atomic_fetch_add(&f->gate_waiters, 1);
        while (atomic_load(&f->rename_gate)) tu_sleep_ms(1);
        atomic_fetch_sub(&f->gate_waiters, 1);
    }
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
    f->io = (rmq_wal_io_t){.open = tu_f_open,
                           .pwritev = tu_f_pwritev,
                           .fdatasync = tu_f_fdatasync,
                           .pwritev_dsync = tu_f_pwritev_dsync,
                           .writeback = tu_f_writeback,
                           .fallocate = tu_f_fallocate,
                           .pread = tu_f_pread,
                           .close = tu_f_close,
                           .unlink = tu_f_unlink,
                           .rename = tu_f_rename,
                           .fsize = tu_f_fsize,
                           .list = tu_f_list,
                           .ud = f};
    atomic_store(&f->fdatasync_ok, -1);
    atomic_store(&f->last_direct_fd, -1);
}

/* Route the io_uring path's results of a store opened with c through f. */
static inline void tu_fault_attach(rmq_store_config_t *c, tu_fault_io_t *f) {
    c->uring_hook = tu_f_uring;
    c->uring_hook_ud = f;
}

/* Does the filesystem holding dir take O_DIRECT (tmpfs may not)? */
static inline bool tu_dir_takes_odirect(const char *dir) {
    char probe[4096];
    snprintf(probe, sizeof probe, "%s/dio-probe", dir);
    int fd = open(probe, O_CREAT | O_WRONLY | O_DIRECT, 0644);
    if (fd < 0) return false;
    close(fd);
    unlink(probe);
    return true;
}

/* ---- blocking append ---- */
typedef struct tu_done {
    pthread_mutex_t mu;
    pthread_cond_t cond;
    int done;
    rmq_err_t err;
    int64_t off;
} tu_done_t;

/* Block until d's completion has run. */
static inline void tu_done_wait(tu_done_t *d) {
    pthread_mutex_lock(&d->mu);
    while (!d->done) pthread_cond_wait(&d->cond, &d->mu);
    pthread_mutex_unlock(&d->mu);
}

/* Wait at most ms for d's completion; true if it ran. For tests whose
 * broken version would block forever: they fail instead of hanging. */
static inline bool tu_done_wait_ms(tu_done_t *d, int ms) {
    struct timespec ts = rmq_cond_deadline_ms((uint64_t)ms);
    pthread_mutex_lock(&d->mu);
    int r = 0;
    while (!d->done && r == 0) r = pthread_cond_timedwait(&d->cond, &d->mu, &ts);
    bool done = d->done;
    pthread_mutex_unlock(&d->mu);
    return done;
}

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
 * completion error; *off = assigned base offset. With tail_crc, the append
 * goes through rmq_store_append_crc(tail_off, *tail_crc). */
static inline rmq_err_t tu_append_ex(rmq_store_t *st, uint64_t sid, const void *p, size_t len, int32_t cnt,
                                     int64_t ts, size_t tail_off, const uint32_t *tail_crc, int64_t *off) {
    tu_done_t d = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, -1};
    rmq_err_t e = tail_crc ? rmq_store_append_crc(st, sid, p, len, tail_off, *tail_crc, cnt, ts, tu_done_cb, &d)
                           : rmq_store_append(st, sid, p, len, cnt, ts, tu_done_cb, &d);
    if (e) return e;
    tu_done_wait(&d);
    if (off) *off = d.off;
    return d.err;
}

static inline rmq_err_t tu_append(rmq_store_t *st, uint64_t sid, const void *p, size_t len, int32_t cnt, int64_t ts,
                                  int64_t *off) {
    return tu_append_ex(st, sid, p, len, cnt, ts, 0, NULL, off);
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
