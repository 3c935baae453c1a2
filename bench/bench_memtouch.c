/* bench_memtouch.c - what a page the process has not touched before costs.
 *
 * A physical limit beside the broker's figures (bench/README.md, "Memory the
 * host took back"). On a virtual machine whose guest returns free memory to
 * the host (virtio free page reporting, a balloon), the first write to a
 * page that was handed back faults on the host as well as in the guest, and
 * costs many times a write to a page in use. Whatever grows into such memory
 * pays it: a new page-cache page under a WAL write, a fresh malloc arena,
 * tmpfs. This program measures it directly:
 *
 *   1. first touch: mmap --mib MiB of anonymous memory and write every byte,
 *      --piece-mib at a time, timing each piece (the kernel zeroes and maps
 *      each page on the way);
 *   2. second touch: munmap, map again at once and write it again (the pages
 *      the kernel hands out now are the ones just freed);
 *   3. rewrite: write the same mapping a third time (no faults: the memory
 *      bandwidth of pages in use).
 *
 * It prints GB/s for each pass (all pieces, and the slowest and fastest
 * piece of the first pass: a mix means only part of free memory was handed
 * back), and the kernel's free-page-reporting settings when they exist.
 * Nothing is asserted; the figures are read beside the broker's.
 *
 * With --hugepage the mappings are 2 MiB-aligned and madvise(MADV_HUGEPAGE)d
 * (what the uploader does with its object buffers): the guest then faults
 * once per 2 MiB instead of once per 4 KiB. The line "huge pages" says how
 * much of the mapping the kernel really backed with them.
 *
 * usage: bench_memtouch [--mib N] [--piece-mib N] [--hugepage]
 */
#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "common/clock.h"

typedef struct pass {
    double gbps;            /* whole pass */
    double slow, fast;      /* slowest and fastest piece, GB/s */
} pass_t;

/* Write every byte of p[0..len) in pieces of `piece` bytes; time each.
 * p: borrowed. */
static pass_t touch(uint8_t *p, size_t len, size_t piece, int val) {
    pass_t r = {0, 1e30, 0};
    uint64_t t0 = rmq_mono_ns();
    for (size_t off = 0; off < len; off += piece) {
        size_t n = len - off < piece ? len - off : piece;
        uint64_t a = rmq_mono_ns();
        memset(p + off, val, n);
        uint64_t b = rmq_mono_ns();
        double g = (double)n / (double)(b - a + 1);
        if (g < r.slow) r.slow = g;
        if (g > r.fast) r.fast = g;
    }
    r.gbps = (double)len / (double)(rmq_mono_ns() - t0 + 1);
    return r;
}

#define HUGE_SZ ((size_t)2 << 20)

/* A fresh private anonymous mapping of len bytes (2 MiB-aligned and
 * advised for huge pages when huge); exits on failure.
 * Returns: owned by the caller (unmap). */
static uint8_t *map(size_t len, bool huge) {
    size_t extra = huge ? HUGE_SZ : 0;
    void *p = mmap(NULL, len + extra, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        perror("bench_memtouch: mmap");
        exit(1);
    }
    if (!huge) return p;
    uintptr_t a = ((uintptr_t)p + HUGE_SZ - 1) & ~(uintptr_t)(HUGE_SZ - 1);
    if (a > (uintptr_t)p) munmap(p, a - (uintptr_t)p);
    if ((uintptr_t)p + len + extra > a + len) munmap((void *)(a + len), (uintptr_t)p + len + extra - (a + len));
    if (madvise((void *)a, len, MADV_HUGEPAGE) != 0) perror("bench_memtouch: madvise(MADV_HUGEPAGE)");
    return (uint8_t *)a;
}

/* kB of this process's anonymous memory in huge pages, -1 if unknown */
static long anon_huge_kb(void) {
    FILE *f = fopen("/proc/self/smaps_rollup", "r");
    if (!f) return -1;
    char line[256];
    long kb = -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "AnonHugePages: %ld kB", &kb) == 1) break;
    fclose(f);
    return kb;
}

static void print_reporting(void) {
    static const char *const keys[] = {"page_reporting_order", "min_free_ms", "max_waiting_mib", "reported_kib"};
    int any = 0;
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) {
        char path[128], v[64];
        snprintf(path, sizeof path, "/sys/module/page_reporting/parameters/%s", keys[i]);
        FILE *f = fopen(path, "r");
        if (!f) continue;
        if (fgets(v, sizeof v, f)) {
            v[strcspn(v, "\n")] = 0;
            printf("%s%s=%s", any++ ? " " : "free page reporting: ", keys[i], v);
        }
        fclose(f);
    }
    printf("%s\n", any ? "" : "free page reporting: no parameters exposed (/sys/module/page_reporting)");
}

int main(int argc, char **argv) {
    size_t mib = 4096, piece_mib = 64;
    bool huge = false;
    static const struct option lo[] = {{"mib", required_argument, 0, 'm'},
                                       {"piece-mib", required_argument, 0, 'p'},
                                       {"hugepage", no_argument, 0, 'H'},
                                       {"help", no_argument, 0, 'h'},
                                       {0, 0, 0, 0}};
    for (int c; (c = getopt_long(argc, argv, "", lo, NULL)) != -1;) {
        switch (c) {
        case 'm': mib = strtoull(optarg, NULL, 10); break;
        case 'p': piece_mib = strtoull(optarg, NULL, 10); break;
        case 'H': huge = true; break;
        default:
            fprintf(stderr, "usage: bench_memtouch [--mib N (default 4096)] [--piece-mib N (default 64)] [--hugepage]\n");
            return c == 'h' ? 0 : 2;
        }
    }
    if (mib == 0 || piece_mib == 0 || piece_mib > mib) {
        fprintf(stderr, "bench_memtouch: need 0 < --piece-mib <= --mib\n");
        return 2;
    }
    size_t len = mib << 20, piece = piece_mib << 20;

    uint8_t *p = map(len, huge);
    pass_t first = touch(p, len, piece, 1);
    long huge_kb = anon_huge_kb();
    munmap(p, len);
    p = map(len, huge);
    pass_t second = touch(p, len, piece, 2);
    pass_t third = touch(p, len, piece, 3);
    munmap(p, len);

    printf("memory touch, %zu MiB in %zu MiB pieces%s (GB/s):\n", mib, piece_mib,
           huge ? ", MADV_HUGEPAGE" : "");
    printf("  first touch         %6.2f  (pieces: slowest %.2f, fastest %.2f)\n", first.gbps, first.slow, first.fast);
    printf("  touch after free    %6.2f  (pieces: slowest %.2f, fastest %.2f)\n", second.gbps, second.slow,
           second.fast);
    printf("  rewrite, no faults  %6.2f\n", third.gbps);
    printf("huge pages after the first touch: %ld of %zu MiB\n", huge_kb < 0 ? -1 : huge_kb / 1024, mib);
    print_reporting();
    printf("RESULT {\"mib\":%zu,\"hugepage\":%s,\"first_gbps\":%.3f,\"first_slowest_gbps\":%.3f,\"after_free_gbps\":%.3f,"
           "\"rewrite_gbps\":%.3f}\n",
           mib, huge ? "true" : "false", first.gbps, first.slow, second.gbps, third.gbps);
    return 0;
}
