/* bench_sync.c - latency of the WAL's synced write beside other disk traffic.
 *
 * Reproduces the measurements behind two storage choices (docs/storage.md,
 * docs/tiering.md, bench/README.md "Then"): the WAL's group commit as one
 * pwritev2(RWF_DSYNC) instead of pwritev + fdatasync, and pacing the local
 * object store's uploads. Open-loop arrivals at --rate per second; the one
 * writer thread takes everything that has arrived (at most 64 arrivals), writes
 * it and makes it durable with --mode, then records for each arrival
 * "durable - arrival" (the queueing a group commit adds is in the figure). The
 * file is written once beforehand, so writes land on allocated blocks as in a
 * reused WAL segment. Optional background: a thread writing 1 MiB O_DIRECT
 * chunks to another file at --bg-mbps, either spread evenly or, with
 * --bg-burst, 128 MiB at a time as fast as the disk takes them (an unpaced
 * segment upload). Prints p50/p90/p99/p99.9/max and, beside them, the same
 * writer without background traffic (the disk's own floor in this run).
 *
 * usage: bench_sync [--dir D] [--mode dsync|fdatasync] [--size BYTES]
 *                   [--rate N] [--seconds S] [--bg-mbps M] [--bg-burst]
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "bench_util.h" /* beside this file */
#include "common/clock.h"

#define FILE_BYTES (1ull << 30)
#define BG_FILE_BYTES (512ull << 20)
#define BG_CHUNK (1u << 20)
#define MAX_GROUP 64

typedef struct opts {
    const char *dir;
    int dsync;
    size_t size;
    int rate, seconds, bg_mbps, bg_burst;
} opts_t;

static atomic_int g_bg_stop;

typedef struct bg_arg {
    const opts_t *o;
    char path[4096];
    uint64_t bytes;
} bg_arg_t;

/* Background writer: 1 MiB O_DIRECT chunks at bg_mbps, evenly or in 128 MiB bursts. */
static void *bg_main(void *p) {
    bg_arg_t *a = p;
    int fd = open(a->path, O_RDWR | O_CREAT | O_DIRECT | O_CLOEXEC, 0644);
    void *buf = NULL;
    if (fd < 0 || posix_memalign(&buf, 4096, BG_CHUNK) != 0) {
        fprintf(stderr, "bench_sync: background file %s: %s\n", a->path, strerror(errno));
        if (fd >= 0) close(fd);
        return NULL;
    }
    memset(buf, 0x5a, BG_CHUNK);
    uint64_t t0 = rmq_mono_ns(), off = 0;
    for (uint64_t i = 0; !atomic_load(&g_bg_stop); i++) {
        uint64_t slot = a->o->bg_burst ? (i / 128) * 128 : i; /* bursts: 128 chunks share one due time */
        uint64_t due = t0 + slot * 1000000000ull / (uint64_t)a->o->bg_mbps;
        while (rmq_mono_ns() < due && !atomic_load(&g_bg_stop)) usleep(100);
        if (off >= BG_FILE_BYTES) off = 0;
        if (pwrite(fd, buf, BG_CHUNK, (off_t)off) != (ssize_t)BG_CHUNK) break;
        off += BG_CHUNK;
        a->bytes += BG_CHUNK;
    }
    free(buf);
    close(fd);
    return NULL;
}

/* One measured run; lat (n entries, caller-owned) receives the latencies. */
static int run(const opts_t *o, int fd, const uint8_t *buf, uint64_t *lat, size_t n) {
    uint64_t t0 = rmq_mono_ns() + 1000000ull, off = 0;
    size_t done = 0;
    while (done < n) {
        uint64_t now = rmq_mono_ns();
        size_t avail = 0;
        while (done + avail < n && avail < MAX_GROUP &&
               t0 + (uint64_t)(done + avail) * 1000000000ull / (uint64_t)o->rate <= now)
            avail++;
        if (!avail) continue; /* spin: the writer of a WAL is woken at once too */
        struct iovec v = {(void *)buf, o->size * avail};
        if (off + v.iov_len > FILE_BYTES) off = 0;
        ssize_t w = o->dsync ? pwritev2(fd, &v, 1, (off_t)off, RWF_DSYNC) : pwritev(fd, &v, 1, (off_t)off);
        if (w != (ssize_t)v.iov_len || (!o->dsync && fdatasync(fd) != 0)) {
            fprintf(stderr, "bench_sync: write: %s\n", w < 0 ? strerror(errno) : "short write");
            return -1;
        }
        off += v.iov_len;
        uint64_t end = rmq_mono_ns();
        for (size_t i = 0; i < avail; i++) lat[done + i] = end - (t0 + (uint64_t)(done + i) * 1000000000ull / (uint64_t)o->rate);
        done += avail;
    }
    return 0;
}

static void report(const char *label, uint64_t *lat, size_t n) {
    qsort(lat, n, sizeof *lat, bench_cmp_u64);
    printf("%-34s p50 %.3f  p90 %.3f  p99 %.3f  p99.9 %.3f  max %.3f ms\n", label, lat[n / 2] / 1e6,
           lat[n * 9 / 10] / 1e6, lat[n * 99 / 100] / 1e6, lat[n * 999 / 1000] / 1e6, lat[n - 1] / 1e6);
}

int main(int argc, char **argv) {
    opts_t o = {".", 1, 280 * 1024, 970, 6, 276, 0};
    static const struct option lo[] = {{"dir", 1, 0, 'd'},     {"mode", 1, 0, 'm'},    {"size", 1, 0, 's'},
                                       {"rate", 1, 0, 'r'},    {"seconds", 1, 0, 't'}, {"bg-mbps", 1, 0, 'b'},
                                       {"bg-burst", 0, 0, 'B'}, {"help", 0, 0, 'h'},    {0, 0, 0, 0}};
    for (int c; (c = getopt_long(argc, argv, "", lo, NULL)) != -1;) {
        switch (c) {
        case 'd': o.dir = optarg; break;
        case 'm':
            if (strcmp(optarg, "dsync") && strcmp(optarg, "fdatasync")) goto usage;
            o.dsync = strcmp(optarg, "dsync") == 0;
            break;
        case 's': o.size = strtoul(optarg, NULL, 10); break;
        case 'r': o.rate = atoi(optarg); break;
        case 't': o.seconds = atoi(optarg); break;
        case 'b': o.bg_mbps = atoi(optarg); break;
        case 'B': o.bg_burst = 1; break;
        default: goto usage;
        }
    }
    if (o.size == 0 || o.size > (1u << 20) || o.rate <= 0 || o.seconds <= 0 || o.bg_mbps < 0) goto usage;
    char path[4096];
    snprintf(path, sizeof path, "%s/bench_sync.%d.dat", o.dir, (int)getpid());
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    uint8_t *buf = malloc(o.size * MAX_GROUP);
    size_t n = (size_t)o.rate * (size_t)o.seconds;
    uint64_t *lat = malloc(n * sizeof *lat);
    if (fd < 0 || !buf || !lat) {
        fprintf(stderr, "bench_sync: %s: %s\n", path, strerror(errno));
        return 1;
    }
    memset(buf, 0xa5, o.size * MAX_GROUP);
    /* allocate and write every block once: later writes are overwrites */
    for (uint64_t off = 0; off < FILE_BYTES; off += o.size * MAX_GROUP)
        if (pwrite(fd, buf, o.size * MAX_GROUP, (off_t)off) < 0) {
            fprintf(stderr, "bench_sync: prepare %s: %s\n", path, strerror(errno));
            unlink(path);
            return 1;
        }
    fdatasync(fd);
    printf("bench_sync: %zu-byte writes at %d/s for %d s, %s, dir %s\n", o.size, o.rate, o.seconds,
           o.dsync ? "pwritev2(RWF_DSYNC)" : "pwritev + fdatasync", o.dir);
    int rc = run(&o, fd, buf, lat, n);
    if (rc == 0) report("alone (the disk's floor):", lat, n);
    if (rc == 0 && o.bg_mbps > 0) {
        bg_arg_t a = {.o = &o, .bytes = 0};
        snprintf(a.path, sizeof a.path, "%s/bench_sync_bg.%d.dat", o.dir, (int)getpid());
        pthread_t th;
        atomic_store(&g_bg_stop, 0);
        if (pthread_create(&th, NULL, bg_main, &a) != 0) {
            fprintf(stderr, "bench_sync: cannot start the background writer thread\n");
            return 1;
        }
        uint64_t b0 = rmq_mono_ns();
        rc = run(&o, fd, buf, lat, n);
        atomic_store(&g_bg_stop, 1);
        pthread_join(th, NULL);
        double secs = (double)(rmq_mono_ns() - b0) / 1e9;
        char label[96];
        snprintf(label, sizeof label, "beside %.0f MB/s %s:", (double)a.bytes / secs / 1e6,
                 o.bg_burst ? "in 128 MiB bursts" : "spread evenly");
        if (rc == 0) report(label, lat, n);
        unlink(a.path);
    }
    unlink(path);
    free(lat);
    free(buf);
    close(fd);
    return rc ? 1 : 0;
usage:
    fprintf(stderr, "usage: bench_sync [--dir D] [--mode dsync|fdatasync] [--size BYTES<=1MiB] [--rate N]\n"
                    "                  [--seconds S] [--bg-mbps M (0 = none)] [--bg-burst]\n");
    return 2;
}
