/* bench_wal.c - benchmark of the storage engine's WAL (src/storage).
 *
 * For each WAL write mode (plain pwritev + fdatasync, O_DIRECT, io_uring,
 * O_DIRECT + io_uring; --mode picks one, default all) it prints,
 * for 1 KiB records in 64 KiB and 1 MiB batches appended from 1, 4
 * and 16 threads with fsync on: MB/s, appends/s, fsyncs/s and the p50 /
 * p99 / p99.9 append-to-durable latency. Beside them it measures, in the
 * same run and on the same disk, the raw sequential write + fdatasync
 * bandwidth for the same write sizes (the ceiling), and the time to recover
 * a 1 GiB WAL (page cache dropped for the segment files with
 * POSIX_FADV_DONTNEED, and warm). Sealed segments are reclaimed at once, as
 * an infinitely fast uploader would, so runs are time-bound, not
 * capacity-bound.
 *
 * Usage: bench_wal [--mode plain|direct|uring|direct+uring|all] [--dir DIR]
 *                  [--seconds S] [--recovery-mib N] [--inflight K] [--no-recovery]
 * DIR must be on the disk to measure (default /tmp, which is ext4 here).
 * Prints figures only; it is never a timed test. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <ftw.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bench_util.h" /* beside this file */
#include "common/clock.h"
#include "common/log.h"
#include "storage/store.h"

static const char *g_base = "/tmp";
static double g_seconds = 3.0;
static uint64_t g_recovery_mib = 1024;
static int g_inflight = 1;
static bool g_recovery = true;

typedef struct mode {
    const char *name;
    bool direct, uring;
} mode_t_;
static const mode_t_ g_modes[4] = {
    {"plain", false, false}, {"direct", true, false}, {"uring", false, true}, {"direct+uring", true, true}};
static const mode_t_ *g_mode = &g_modes[0];

static int rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(p);
}

static char *mk_dir(void) {
    char *d = malloc(strlen(g_base) + 32);
    sprintf(d, "%s/rmq-bench-wal-XXXXXX", g_base);
    if (!mkdtemp(d)) {
        perror("mkdtemp");
        exit(1);
    }
    return d;
}

static void rm_dir(char *d) {
    nftw(d, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
    free(d);
}

/* ---------------- raw disk ceiling ---------------- */
/* Sequential pwrite of `chunk` bytes + fdatasync, in a loop (O_DIRECT from
 * an aligned buffer when direct): MB/s, and *fsyncs_per_s. */
static double raw_bandwidth(size_t chunk, double seconds, double *fsyncs_per_s, bool direct) {
    char *dir = mk_dir();
    char path[512];
    snprintf(path, sizeof(path), "%s/raw", dir);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | (direct ? O_DIRECT : 0), 0644);
    uint64_t fsz = 512ull << 20;
    if (fd < 0 || fallocate(fd, 0, 0, (off_t)fsz) < 0) {
        perror("raw file");
        exit(1);
    }
    fdatasync(fd);
    uint8_t *buf = NULL;
    if (posix_memalign((void **)&buf, 4096, chunk) != 0) exit(1);
    for (size_t i = 0; i < chunk; i++) buf[i] = (uint8_t)(i * 7);
    uint64_t t0 = rmq_mono_ns(), bytes = 0, n = 0, off = 0;
    while ((double)(rmq_mono_ns() - t0) < seconds * 1e9) {
        if (off + chunk > fsz) off = 0;
        if (pwrite(fd, buf, chunk, (off_t)off) != (ssize_t)chunk || fdatasync(fd) < 0) {
            perror("raw write");
            exit(1);
        }
        off += chunk;
        bytes += chunk;
        n++;
    }
    double secs = (double)(rmq_mono_ns() - t0) / 1e9;
    close(fd);
    free(buf);
    rm_dir(dir);
    *fsyncs_per_s = (double)n / secs;
    return (double)bytes / secs / 1e6;
}

/* ---------------- WAL appends ---------------- */
typedef struct reclaimer {
    rmq_store_t *st;
    pthread_mutex_t mu;
    pthread_cond_t cond;
    uint64_t ids[1024];
    size_t n;
    bool stop;
} reclaimer_t;

static void on_sealed(void *ud, const rmq_store_segment_info_t *seg) {
    reclaimer_t *r = ud;
    pthread_mutex_lock(&r->mu);
    if (r->n < 1024) r->ids[r->n++] = seg->segment_id;
    pthread_cond_signal(&r->cond);
    pthread_mutex_unlock(&r->mu);
}

static void *reclaim_main(void *p) {
    reclaimer_t *r = p;
    pthread_mutex_lock(&r->mu);
    for (;;) {
        while (r->n == 0 && !r->stop) pthread_cond_wait(&r->cond, &r->mu);
        if (r->n == 0 && r->stop) break;
        uint64_t id = r->ids[0];
        memmove(r->ids, r->ids + 1, (--r->n) * sizeof(uint64_t));
        pthread_mutex_unlock(&r->mu);
        rmq_store_reclaim(r->st, id);
        pthread_mutex_lock(&r->mu);
    }
    pthread_mutex_unlock(&r->mu);
    return NULL;
}

typedef struct worker {
    rmq_store_t *st;
    int id;
    size_t batch;
    uint64_t deadline;
    uint64_t *lat;
    size_t nlat, caplat;
    uint64_t bytes;
    pthread_mutex_t mu;
    pthread_cond_t cond;
    int inflight;
} worker_t;

typedef struct op {
    worker_t *w;
    uint64_t t0;
} op_t;

static void op_done(void *ud, rmq_err_t err, int64_t off) {
    (void)off;
    op_t *o = ud;
    worker_t *w = o->w;
    uint64_t dt = rmq_mono_ns() - o->t0;
    if (err) {
        fprintf(stderr, "append failed: %s\n", rmq_err_name(err));
        exit(1);
    }
    pthread_mutex_lock(&w->mu);
    if (w->nlat == w->caplat) {
        w->caplat = w->caplat ? w->caplat * 2 : 4096;
        w->lat = realloc(w->lat, w->caplat * sizeof(uint64_t));
    }
    w->lat[w->nlat++] = dt;
    w->bytes += w->batch;
    w->inflight--;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->mu);
    free(o);
}

static void *worker_main(void *p) {
    worker_t *w = p;
    uint8_t *buf = malloc(w->batch);
    for (size_t i = 0; i < w->batch; i++) buf[i] = (uint8_t)(i * 13 + (size_t)w->id);
    int32_t records = (int32_t)(w->batch / 1024);
    while (rmq_mono_ns() < w->deadline) {
        pthread_mutex_lock(&w->mu);
        while (w->inflight >= g_inflight) pthread_cond_wait(&w->cond, &w->mu);
        w->inflight++;
        pthread_mutex_unlock(&w->mu);
        op_t *o = malloc(sizeof(*o));
        o->w = w;
        o->t0 = rmq_mono_ns();
        rmq_err_t e;
        while ((e = rmq_store_append(w->st, (uint64_t)w->id + 1, buf, w->batch, records, 0, op_done, o)) ==
               RMQ_ERR_WAL_FULL || e == RMQ_ERR_NOSPACE) {
            struct timespec ts = {0, 200000};
            nanosleep(&ts, NULL);
        }
        if (e) {
            fprintf(stderr, "append: %s\n", rmq_err_name(e));
            exit(1);
        }
    }
    pthread_mutex_lock(&w->mu);
    while (w->inflight > 0) pthread_cond_wait(&w->cond, &w->mu);
    pthread_mutex_unlock(&w->mu);
    free(buf);
    return NULL;
}

static void run_case(size_t batch, int threads) {
    /* the disk is shared and noisy: measure its ceiling right before each case */
    double raw_fs;
    double raw_mbs = raw_bandwidth(batch, g_seconds < 1.5 ? g_seconds : 1.5, &raw_fs, false);
    char *dir = mk_dir();
    rmq_store_config_t c;
    rmq_store_config_default(&c);
    c.direct_io = g_mode->direct;
    c.io_uring = g_mode->uring;
    c.dir = dir;
    c.segment_size_bytes = 128ull << 20;
    c.capacity_bytes = 2048ull << 20;
    c.write_cache_size_bytes = 64ull << 20;
    rmq_store_t *st;
    char err[256];
    if (rmq_store_open(&c, NULL, &st, err, sizeof(err)) != RMQ_NONE) {
        fprintf(stderr, "open: %s\n", err);
        exit(1);
    }
    reclaimer_t rc = {.st = st, .mu = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};
    pthread_t rt;
    pthread_create(&rt, NULL, reclaim_main, &rc);
    rmq_store_set_sealed_cb(st, on_sealed, &rc);
    usleep(100000); /* let the spare segment be preallocated */
    rmq_store_stats_t s0, s1;
    rmq_store_stats(st, &s0);
    worker_t *ws = calloc((size_t)threads, sizeof(*ws));
    pthread_t *th = calloc((size_t)threads, sizeof(*th));
    uint64_t t0 = rmq_mono_ns();
    for (int i = 0; i < threads; i++) {
        ws[i] = (worker_t){.st = st, .id = i, .batch = batch, .deadline = t0 + (uint64_t)(g_seconds * 1e9)};
        pthread_mutex_init(&ws[i].mu, NULL);
        pthread_cond_init(&ws[i].cond, NULL);
        pthread_create(&th[i], NULL, worker_main, &ws[i]);
    }
    for (int i = 0; i < threads; i++) pthread_join(th[i], NULL);
    double secs = (double)(rmq_mono_ns() - t0) / 1e9;
    rmq_store_stats(st, &s1);
    rmq_store_set_sealed_cb(st, NULL, NULL);
    pthread_mutex_lock(&rc.mu);
    rc.stop = true;
    pthread_cond_signal(&rc.cond);
    pthread_mutex_unlock(&rc.mu);
    pthread_join(rt, NULL);
    size_t n = 0;
    uint64_t bytes = 0;
    for (int i = 0; i < threads; i++) {
        n += ws[i].nlat;
        bytes += ws[i].bytes;
    }
    uint64_t *all = malloc((n ? n : 1) * sizeof(uint64_t));
    size_t k = 0;
    for (int i = 0; i < threads; i++) {
        memcpy(all + k, ws[i].lat, ws[i].nlat * sizeof(uint64_t));
        k += ws[i].nlat;
        free(ws[i].lat);
    }
    qsort(all, n, sizeof(uint64_t), bench_cmp_u64);
    double mbs = (double)bytes / secs / 1e6;
#define PCT(p) (n ? (double)all[(size_t)((double)(n - 1) * (p))] / 1e3 : 0.0)
    printf("%-12s %-9s %3d  %9.1f  %8.0f  %8.0f  %9.0f  %9.0f  %9.0f  %9.1f  %5.0f%%\n", g_mode->name,
           batch >= (1u << 20) ? "1 MiB" : "64 KiB", threads, mbs, (double)n / secs, (double)(s1.fsyncs - s0.fsyncs) / secs, PCT(0.50), PCT(0.99), PCT(0.999),
           raw_mbs, raw_mbs > 0 ? 100.0 * mbs / raw_mbs : 0.0);
    fflush(stdout);
    free(all);
    free(ws);
    free(th);
    rmq_store_close(st);
    rm_dir(dir);
}

/* ---------------- recovery ---------------- */
static void evict_dir(const char *dir) {
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "%s", dir);
    /* fadvise every file in dir */
    FILE *p;
    snprintf(cmd, sizeof(cmd), "ls %s", dir);
    p = popen(cmd, "r");
    char name[256];
    while (p && fgets(name, sizeof(name), p)) {
        name[strcspn(name, "\n")] = 0;
        char path[900];
        snprintf(path, sizeof(path), "%s/%s", dir, name);
        int fd = open(path, O_RDONLY);
        if (fd >= 0) {
            fdatasync(fd);
            posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
            close(fd);
        }
    }
    if (p) pclose(p);
}

static void recovery_bench(void) {
    char *dir = mk_dir();
    rmq_store_config_t c;
    rmq_store_config_default(&c);
    c.direct_io = g_mode->direct;
    c.io_uring = g_mode->uring;
    c.dir = dir;
    c.segment_size_bytes = 128ull << 20;
    c.capacity_bytes = (g_recovery_mib << 20) + (256ull << 20);
    c.fsync_on_write = false;
    c.write_cache_size_bytes = 0;
    rmq_store_t *st;
    char err[256];
    if (rmq_store_open(&c, NULL, &st, err, sizeof(err)) != RMQ_NONE) {
        fprintf(stderr, "open: %s\n", err);
        exit(1);
    }
    size_t batch = 64 * 1024;
    uint8_t *buf = malloc(batch);
    for (size_t i = 0; i < batch; i++) buf[i] = (uint8_t)(i * 31);
    uint64_t target = g_recovery_mib << 20, written = 0;
    uint64_t t0 = rmq_mono_ns();
    for (uint64_t i = 0; written < target; i++) {
        rmq_err_t e = rmq_store_append(st, i % 1000 + 1, buf, batch, 64, (int64_t)i, NULL, NULL);
        if (e == RMQ_ERR_AGAIN || e == RMQ_ERR_NOSPACE) {
            usleep(1000);
            continue;
        }
        if (e) {
            fprintf(stderr, "fill: %s\n", rmq_err_name(e));
            exit(1);
        }
        written += batch + 64;
    }
    rmq_store_sync(st);
    double fill = (double)(rmq_mono_ns() - t0) / 1e9;
    rmq_store_close(st);
    evict_dir(dir);
    rmq_log_set_level(RMQ_LOG_INFO);
    t0 = rmq_mono_ns();
    if (rmq_store_open(&c, NULL, &st, err, sizeof(err)) != RMQ_NONE) {
        fprintf(stderr, "reopen: %s\n", err);
        exit(1);
    }
    double cold = (double)(rmq_mono_ns() - t0) / 1e6;
    rmq_store_close(st);
    t0 = rmq_mono_ns();
    if (rmq_store_open(&c, NULL, &st, err, sizeof(err)) != RMQ_NONE) exit(1);
    double warm = (double)(rmq_mono_ns() - t0) / 1e6;
    rmq_store_close(st);
    rmq_log_set_level(RMQ_LOG_WARN);
    printf("%-12s recovery of a %.2f GiB WAL (%" PRIu64 " entries of 64 KiB, 1000 streams): cold %.0f ms (%.0f MB/s), "
           "warm %.0f ms; fill took %.1f s\n",
           g_mode->name, (double)written / (1 << 30), written / (batch + 64), cold, (double)written / (cold / 1e3) / 1e6, warm, fill);
    free(buf);
    rm_dir(dir);
}

int main(int argc, char **argv) {
    const char *mode = "all";
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--dir") && i + 1 < argc) g_base = argv[++i];
        else if (!strcmp(argv[i], "--mode") && i + 1 < argc) mode = argv[++i];
        else if (!strcmp(argv[i], "--seconds") && i + 1 < argc) g_seconds = atof(argv[++i]);
        else if (!strcmp(argv[i], "--recovery-mib") && i + 1 < argc) g_recovery_mib = (uint64_t)atoll(argv[++i]);
        else if (!strcmp(argv[i], "--inflight") && i + 1 < argc) g_inflight = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--no-recovery")) g_recovery = false;
        else {
            fprintf(stderr,
                    "usage: %s [--mode plain|direct|uring|direct+uring|all] [--dir DIR] [--seconds S] "
                    "[--recovery-mib N] [--inflight K] [--no-recovery]\n",
                    argv[0]);
            return 2;
        }
    }
    const mode_t_ *run[4];
    int nrun = 0;
    for (int m = 0; m < 4; m++)
        if (!strcmp(mode, "all") || !strcmp(mode, g_modes[m].name)) run[nrun++] = &g_modes[m];
    if (nrun == 0) {
        fprintf(stderr, "unknown --mode %s\n", mode);
        return 2;
    }
    if (g_inflight < 1) g_inflight = 1;
    rmq_log_set_level(RMQ_LOG_WARN);
    printf("bench_wal: dir=%s mode=%s seconds/case=%.1f in-flight appends/thread=%d, 1 KiB records, "
           "fsync_on_write=true\n",
           g_base, mode, g_seconds, g_inflight);
    double f64, f1m, d64, d1m;
    double raw64 = raw_bandwidth(64 * 1024, g_seconds, &f64, false);
    double raw1m = raw_bandwidth(1 << 20, g_seconds, &f1m, false);
    double draw64 = raw_bandwidth(64 * 1024, g_seconds, &d64, true);
    double draw1m = raw_bandwidth(1 << 20, g_seconds, &d1m, true);
    printf("raw sequential write+fdatasync, same disk: 64 KiB writes %.1f MB/s (%.0f fsyncs/s), "
           "1 MiB writes %.1f MB/s (%.0f fsyncs/s)\n", raw64, f64, raw1m, f1m);
    printf("raw O_DIRECT write+fdatasync, same disk:   64 KiB writes %.1f MB/s (%.0f fsyncs/s), "
           "1 MiB writes %.1f MB/s (%.0f fsyncs/s)\n\n", draw64, d64, draw1m, d1m);
    printf("raw MB/s column: plain pwrite+fdatasync of the batch size, measured again just before each case\n");
    printf("mode         batch   thr       MB/s  appends/s  fsyncs/s   p50 us     p99 us   p99.9 us   raw MB/s  %%raw\n");
    size_t batches[2] = {64 * 1024, 1 << 20};
    int threads[3] = {1, 4, 16};
    for (int m = 0; m < nrun; m++) {
        g_mode = run[m];
        for (int b = 0; b < 2; b++)
            for (int t = 0; t < 3; t++) run_case(batches[b], threads[t]);
    }
    printf("\n");
    if (g_recovery)
        for (int m = 0; m < nrun; m++) {
            g_mode = run[m];
            double rf;
            double rraw = raw_bandwidth(1 << 20, 1.0, &rf, false);
            printf("(raw 1 MiB write+fdatasync just before: %.1f MB/s)\n", rraw);
            recovery_bench();
        }
    return 0;
}
