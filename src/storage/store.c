/* store.c - the storage engine: shared WAL with group commit, per-stream
 * indexes, write cache, recovery and reclaim. See store.h for the API and
 * docs/storage.md for the design.
 *
 * Locks (always taken in this order, never the reverse):
 *   cb_mu (sealed callback) -> map_mu (stream table, rwlock) -> stream->mu
 *   -> q_mu (queue + write position + segment accounting) -> seg_mu
 *   (segment table, rwlock). cache_mu is a leaf: it is never held while
 *   another lock is taken.
 * Threads: the writer (writer_main: group commit, seals, reclaim
 * bookkeeping, checkpoints) and the preparer (preparer_main: the next spare
 * segment, so that its rename or preallocation and directory fsync - and
 * the prefill of a new one, seg_prefill - never stand in front of queued
 * appends).
 * Lifetimes: stream structs live until close (a deleted stream gets a new
 * generation); blobs (header + batch) are refcounted by the queue, the
 * index, the cache FIFO and read results; segments are freed by reclaim
 * (under seg_mu write lock) or at close.
 *
 * Write paths (chosen at open, see write_run): plain pwritev with RWF_DSYNC
 * (pwritev + fdatasync where that is refused);
 * O_DIRECT (the group is copied into a 4096-aligned buffer that starts with
 * the already written head of its first 4 KiB block and is zero-filled to
 * the next block boundary, so the on-disk format is unchanged); io_uring
 * (the group's writes and an fdatasync linked with IOSQE_IO_LINK, one
 * submission, completed on the CQEs); or both. */
#include "storage/store.h"
#include "common/metrics.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <linux/falloc.h>
#ifdef RMQ_HAVE_URING
#include <liburing.h>
#endif

#include "common/buf.h"
#include "common/clock.h"
#include "common/copy.h"
#include "common/log.h"
#include "storage/wal_format.h"

#define SUB "storage"

#define DIO_ALIGN 4096u             /* O_DIRECT offset, length and buffer alignment */
/* Reclaimed segment files kept for reuse: enough that reclaims arriving
 * together (uploads finish in bursts) are all kept instead of freeing
 * blocks (a synchronous discard on filesystems mounted with it, which
 * stalls the WAL's synced writes for tens of ms); at most half the WAL's
 * files. Pooled files count toward capacity_bytes: a reclaimed file leaves
 * the segment table as it enters the pool, and make_spare creates a new
 * file only when the pool is empty, so nsegs + npool <= max_files. */
#define WAL_POOL_MAX 4
#define DIO_CHUNK (8u << 20)        /* largest aligned buffer the writer assembles at once */
#define PREFILL_CHUNK (1u << 20)    /* zeros per O_DIRECT write when a fresh segment is prefilled */
#define RING_DEPTH 64u              /* io_uring submission queue entries */
#define RING_IOV_MAX 1024           /* iovecs per io_uring writev (IOV_MAX) */
#define PEND_SEAL 0xF0              /* internal queue marker of rmq_store_seal_active */
#define WAL_SLOW_NS (20ull * 1000000ull) /* a writer step or queue wait this long is logged */

/* A moment, for slow_step: the clock and the store's synced-write time so far. */
typedef struct wal_mark {
    uint64_t ns, synced;
} wal_mark_t;

/* writer steps timed by slow_step, each with its own log rate limit */
enum { SLOW_GROUP, SLOW_RECLAIM, SLOW_NEXT_SEGMENT, SLOW_FLUSH_EVICT, SLOW_QUEUE_WAIT, SLOW_NSTEPS };
static const char *const slow_step_names[SLOW_NSTEPS] = {"group-commit", "reclaim", "next-segment", "flush-evict",
                                                         "queue-wait"};

/* ------------------------------------------------------------------ */
/* blobs                                                                */

typedef struct blob {
    atomic_uint refs;
    uint32_t len;     /* payload length */
    uint8_t data[];   /* RMQ_WAL_HDR header + payload */
} blob_t;

static blob_t *blob_new(size_t len) {
    blob_t *b = malloc(sizeof(blob_t) + RMQ_WAL_HDR + len);
    if (!b) return NULL;
    atomic_init(&b->refs, 1);
    b->len = (uint32_t)len;
    return b;
}
static blob_t *blob_ref(blob_t *b) {
    atomic_fetch_add_explicit(&b->refs, 1, memory_order_relaxed);
    return b;
}
static void blob_unref(blob_t *b) {
    if (b && atomic_fetch_sub_explicit(&b->refs, 1, memory_order_acq_rel) == 1) free(b);
}

/* ------------------------------------------------------------------ */
/* streams                                                              */

typedef struct idx_ent {
    int64_t base;
    int32_t count;
    uint32_t len;
    int64_t max_ts;
    uint64_t seg_id; /* segment holding it; non-decreasing along a stream's index */
    uint64_t file_off;
    blob_t *blob;    /* write-cache copy (a reference) or NULL */
    bool gone;       /* its segment was reclaimed: not in the local WAL any more */
} idx_ent_t;

typedef struct stream {
    uint64_t id;
    pthread_mutex_t mu;
    uint32_t gen;
    bool deleted;
    int64_t log_start, hw, next;
    idx_ent_t *idx; /* live entries are idx[head..n) */
    size_t head, n, cap;
    struct stream *hnext;
} stream_t;

/* ------------------------------------------------------------------ */
/* segments                                                             */

typedef struct seg {
    uint64_t id;
    int fd;  /* buffered read/write fd: reads, recovery, fdatasync, zeroing */
    int wfd; /* O_DIRECT fd for the writer's data writes (direct_io), else -1 */
    char *path;
    uint64_t size;
    _Atomic uint64_t used; /* bytes of entries */
    bool sealed;           /* under q_mu */
    rmq_store_seg_entry_t *ents; /* writer-owned until sealed, then immutable */
    size_t nents, entcap;
} seg_t;

/* ------------------------------------------------------------------ */
/* queue                                                                */

typedef struct pend {
    struct pend *next;
    stream_t *s;
    uint32_t gen;
    uint8_t type; /* 0 = sync marker */
    seg_t *seg;
    uint64_t off;
    blob_t *blob;
    int64_t base;
    int32_t count;
    int64_t max_ts;
    uint32_t body_crc;
    rmq_store_append_cb cb;
    void *ud;
} pend_t;

typedef struct reclaim_req {
    struct reclaim_req *next;
    uint64_t seg_id;
    bool done;
    rmq_err_t err;
    seg_t *removed; /* out: taken out of the table; the requester unlinks and frees it */
} reclaim_req_t;

typedef struct cache_item {
    stream_t *s;
    int64_t base;
    blob_t *blob;
} cache_item_t;

struct rmq_store {
    rmq_store_config_t cfg;
    char *dir;
    const rmq_wal_io_t *io;
    const rmq_clock_t *clock;
    uint64_t max_files;

    pthread_rwlock_t map_mu;
    stream_t **buckets;
    size_t nbuckets, nstreams;

    pthread_rwlock_t seg_mu;
    seg_t **segs; /* sorted by id */
    size_t nsegs, segcap;

    pthread_mutex_t q_mu;
    pthread_cond_t q_cond;    /* wakes the writer */
    pthread_cond_t done_cond; /* spare ready, reclaim done */
    pthread_cond_t prep_cond; /* wakes the preparer: spare taken, room freed, stop */
    pend_t *qhead, *qtail;
    wal_mark_t q_since;  /* when the queue last went from empty to non-empty (see wal_mark) */
    seg_t *cur;          /* segment receiving new entries */
    uint64_t assign_off; /* next free byte in cur */
    seg_t *spare;
    /* reclaimed segments kept for reuse as the next spares (see make_spare
     * and process_reclaims), at most pool_max */
    seg_t *pool[WAL_POOL_MAX];
    size_t npool, pool_max;
    rmq_err_t spare_err;
    uint64_t spare_retry_ns;
    uint64_t next_seg_id; /* changed under q_mu and seg_mu (write) */
    reclaim_req_t *reclaims;
    bool stop;
    bool ro;
    bool wake_deferred; /* entries queued by a plugged thread, writer not woken yet */
    int spare_waiters;  /* appends in wait_spare: the preparer stops prefilling for them */
    char errmsg[256];

    /* the preparer thread (preparer_main) makes each next spare */
    pthread_t preparer;
    bool preparer_started;
    uint8_t *prefill_zeros; /* PREFILL_CHUNK zeros, 4096-aligned (preparer thread; freed at close) */
    bool prefill_off;       /* O_DIRECT refused here: prefill no more (preparer thread) */

    /* writer-thread state */
    pthread_t writer;
    bool writer_started;
    seg_t *wseg; /* last segment written */
    bool dirty;  /* written but not fdatasync'd (fsync_on_write = false) */
    uint64_t next_flush_ns;
    uint8_t *abuf;      /* direct_io: DIO_ALIGN-aligned group buffer (posix_memalign) */
    size_t abuf_cap;
    uint8_t *pblk;      /* direct_io: head of the last, partly written block */
    uint64_t pblk_seg;  /* ...of this segment id (0 = nothing cached) */
    uint64_t pblk_off;  /* ...starting at this block-aligned file offset */
    size_t pblk_len;    /* ...this many bytes long (< DIO_ALIGN) */
    bool dsync_off;     /* pwritev_dsync absent or refused (EOPNOTSUPP): pwritev + fdatasync */
    /* time in timed synced writes and fdatasyncs so far (see slow_step);
     * added to by the writer only, read by enqueuers too */
    _Atomic uint64_t synced_ns;
    uint64_t slow_last_ns[SLOW_NSTEPS], slow_suppressed[SLOW_NSTEPS]; /* slow-step log rate limit */
    uint64_t slow_supp_max_ns[SLOW_NSTEPS]; /* the longest of those not logged */
#ifdef RMQ_HAVE_URING
    struct io_uring ring; /* io_uring: used by the writer thread only */
    bool ring_ok;
#endif

    pthread_mutex_t cache_mu;
    cache_item_t *fifo;
    size_t fifo_head, fifo_n, fifo_cap;
    uint64_t cache_bytes;

    pthread_mutex_t cb_mu;
    rmq_store_sealed_cb sealed_cb;
    void *sealed_ud;

    _Atomic uint64_t st_appends, st_bytes, st_errors, st_groups, st_fsyncs;
    _Atomic uint64_t st_hist[RMQ_STORE_FSYNC_BUCKETS];
    uint64_t recovery_ms;
};

/* ------------------------------------------------------------------ */
/* helpers                                                              */

void rmq_store_config_default(rmq_store_config_t *cfg) {
    memset(cfg, 0, sizeof(*cfg));
    cfg->capacity_bytes = 1ull << 30;
    cfg->segment_size_bytes = 128ull << 20;
    cfg->fsync_on_write = true;
    cfg->flush_interval_ms = 100;
    cfg->write_cache_size_bytes = 64ull << 20;
    cfg->direct_io = false; /* O_DIRECT is faster; why it is not the default: docs/storage.md */
    cfg->prefill_segments = true;
}

static uint64_t now_ns(rmq_store_t *st) { return st->clock->mono_ns(st->clock->ud); }

static rmq_err_t errno_to_err(int neg) { return neg == -ENOSPC || neg == -EDQUOT ? RMQ_ERR_NOSPACE : RMQ_ERR_IO; }

static char *seg_path(const char *dir, uint64_t id) {
    size_t n = strlen(dir) + 32;
    char *p = malloc(n);
    if (p) snprintf(p, n, "%s/wal-%016" PRIx64 ".seg", dir, id);
    return p;
}

static char *dir_file(const char *dir, const char *name) {
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    if (p) snprintf(p, n, "%s/%s", dir, name);
    return p;
}

static int fsync_dir(rmq_store_t *st) {
    int fd = st->io->open(st->io->ud, st->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
    if (fd < 0) return fd;
    int r = st->io->fdatasync(st->io->ud, fd);
    st->io->close(st->io->ud, fd);
    return r;
}

static void hist_add(rmq_store_t *st, uint64_t ns) {
    uint64_t us = ns / 1000;
    int i = 0;
    while (i < RMQ_STORE_FSYNC_BUCKETS - 1 && us >= (1ull << i)) i++;
    atomic_fetch_add_explicit(&st->st_hist[i], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&st->st_fsyncs, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&st->synced_ns, ns, memory_order_relaxed);
    if (st->cfg.fsync_hist) rmq_hist_observe(st->cfg.fsync_hist, (double)ns / 1e9);
}

static int do_fdatasync(rmq_store_t *st, int fd) {
    uint64_t t0 = now_ns(st);
    int r = st->io->fdatasync(st->io->ud, fd);
    hist_add(st, now_ns(st) - t0);
    return r;
}

static wal_mark_t wal_mark(rmq_store_t *st) {
    return (wal_mark_t){now_ns(st), atomic_load_explicit(&st->synced_ns, memory_order_relaxed)};
}

/* Log a writer step that took WAL_SLOW_NS or more since `since` (writer
 * thread): every entry queued meanwhile waits for it, so a stall here is a
 * produce stall. The line tells how much of the time the device's synced
 * writes took and how much went elsewhere (a rename, a directory fsync, a
 * lock, no CPU). At most one line a second per step, so a frequent step
 * cannot hide a rare one; the next line of a step counts those of it left
 * out. */
static void slow_step(rmq_store_t *st, int step, wal_mark_t since) {
    wal_mark_t now_m = wal_mark(st);
    uint64_t now = now_m.ns, t0 = since.ns;
    if (now - t0 < WAL_SLOW_NS) return;
    if (st->slow_last_ns[step] && now - st->slow_last_ns[step] < 1000000000ull) {
        st->slow_suppressed[step]++;
        if (now - t0 > st->slow_supp_max_ns[step]) st->slow_supp_max_ns[step] = now - t0;
        return;
    }
    /* next-segment runs on the preparer, beside the writer (preparer_main) */
    RMQ_WARN(SUB, "msg=\"%s\" step=%s ms=%.1f synced_write_ms=%.1f suppressed=%" PRIu64,
             step == SLOW_NEXT_SEGMENT ? "slow WAL segment preparation" : "slow WAL writer step",
             slow_step_names[step], (double)(now - t0) / 1e6, (double)(now_m.synced - since.synced) / 1e6,
             st->slow_suppressed[step]);
    st->slow_last_ns[step] = now;
    st->slow_suppressed[step] = 0;
    st->slow_supp_max_ns[step] = 0;
}

/* Slow steps left out by the rate limit are otherwise only counted in the
 * next line of their step, which may never come: a run of back-to-back
 * slow synced writes at the end of a burst went unreported. So a second
 * after the last line of a step, the ones left out since are summed up in
 * one line. prep: the preparer's step, else the writer's; each thread
 * handles its own (the counters are that thread's). */
static bool slow_owned(int step, bool prep) { return (step == SLOW_NEXT_SEGMENT) == prep; }

/* When the next such summary is due (UINT64_MAX: none pending). */
static uint64_t slow_summary_at(const rmq_store_t *st, bool prep) {
    uint64_t at = UINT64_MAX;
    for (int i = 0; i < SLOW_NSTEPS; i++)
        if (slow_owned(i, prep) && st->slow_suppressed[i] && st->slow_last_ns[i] + 1000000000ull < at)
            at = st->slow_last_ns[i] + 1000000000ull;
    return at;
}

static void slow_summaries(rmq_store_t *st, bool prep, uint64_t now) {
    for (int i = 0; i < SLOW_NSTEPS; i++) {
        if (!slow_owned(i, prep) || !st->slow_suppressed[i] || now < st->slow_last_ns[i] + 1000000000ull) continue;
        RMQ_WARN(SUB, "msg=\"%s\" step=%s count=%" PRIu64 " max_ms=%.1f",
                 prep ? "slow WAL segment preparations not logged" : "slow WAL writer steps not logged",
                 slow_step_names[i], st->slow_suppressed[i], (double)st->slow_supp_max_ns[i] / 1e6);
        st->slow_last_ns[i] = now; /* still at most one line a second per step */
        st->slow_suppressed[i] = 0;
        st->slow_supp_max_ns[i] = 0;
    }
}

static void seg_free(rmq_store_t *st, seg_t *g) {
    if (!g) return;
    if (g->fd >= 0) st->io->close(st->io->ud, g->fd);
    if (g->wfd >= 0) st->io->close(st->io->ud, g->wfd);
    free(g->path);
    free(g->ents);
    free(g);
}

static rmq_err_t seg_add_ent(seg_t *g, const rmq_store_seg_entry_t *e) {
    if (g->nents == g->entcap) {
        size_t nc = g->entcap ? g->entcap * 2 : 64;
        rmq_store_seg_entry_t *ne = realloc(g->ents, nc * sizeof(*ne));
        if (!ne) return RMQ_ERR_NOMEM;
        g->ents = ne;
        g->entcap = nc;
    }
    g->ents[g->nents++] = *e;
    return RMQ_NONE;
}

/* Insert into the segment table (caller holds seg_mu for writing). */
static rmq_err_t segtab_add(rmq_store_t *st, seg_t *g) {
    if (st->nsegs == st->segcap) {
        size_t nc = st->segcap ? st->segcap * 2 : 16;
        seg_t **ns = realloc(st->segs, nc * sizeof(*ns));
        if (!ns) return RMQ_ERR_NOMEM;
        st->segs = ns;
        st->segcap = nc;
    }
    size_t i = st->nsegs;
    while (i > 0 && st->segs[i - 1]->id > g->id) {
        st->segs[i] = st->segs[i - 1];
        i--;
    }
    st->segs[i] = g;
    st->nsegs++;
    return RMQ_NONE;
}

/* Caller holds seg_mu (either mode). */
static seg_t *segtab_find(rmq_store_t *st, uint64_t id) {
    size_t lo = 0, hi = st->nsegs;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (st->segs[mid]->id < id) lo = mid + 1;
        else hi = mid;
    }
    return lo < st->nsegs && st->segs[lo]->id == id ? st->segs[lo] : NULL;
}

/* direct_io: open the writer's O_DIRECT fd of g (0 or -errno). */
static int seg_open_direct(rmq_store_t *st, seg_t *g) {
    int r = st->io->open(st->io->ud, g->path, O_WRONLY | O_DIRECT | O_CLOEXEC, 0);
    if (r < 0) return r;
    g->wfd = r;
    return 0;
}

static uint64_t seg_prefill(rmq_store_t *st, seg_t *g, uint64_t *ns);

/* Create and preallocate segment file `id`; durable (file + directory).
 * With cfg.prefill_segments, also write it through with zeros (seg_prefill;
 * *fill_ns gets that share of the time). Callers: the preparer before it
 * publishes the spare, and open before the writer starts. */
static rmq_err_t seg_create(rmq_store_t *st, uint64_t id, seg_t **out, uint64_t *fill_ns, char *msg,
                            size_t msglen) {
    *fill_ns = 0;
    seg_t *g = calloc(1, sizeof(*g));
    if (!g) return RMQ_ERR_NOMEM;
    g->id = id;
    g->fd = -1;
    g->wfd = -1;
    g->size = st->cfg.segment_size_bytes;
    g->path = seg_path(st->dir, id);
    if (!g->path) {
        free(g);
        return RMQ_ERR_NOMEM;
    }
    const char *what = "open";
    int r = st->io->open(st->io->ud, g->path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (r >= 0) {
        g->fd = r;
        what = "fallocate";
        r = st->io->fallocate(st->io->ud, g->fd, 0, 0, (off_t)g->size);
    }
    if (r >= 0) {
        what = "fdatasync";
        r = st->io->fdatasync(st->io->ud, g->fd);
    }
    if (r >= 0) {
        what = "fsync dir";
        r = fsync_dir(st);
    }
    bool dio_fail = false;
    if (r >= 0 && st->cfg.direct_io) {
        what = "open with O_DIRECT (set wal.direct_io = false if this filesystem has no O_DIRECT)";
        r = seg_open_direct(st, g);
        dio_fail = r == -EINVAL;
    }
    if (r < 0) {
        snprintf(msg, msglen, "create segment %s: %s: %s", g->path, what, strerror(-r));
        if (g->fd >= 0) st->io->unlink(st->io->ud, g->path);
        seg_free(st, g);
        return dio_fail ? RMQ_ERR_UNSUPPORTED : errno_to_err(r);
    }
    if (st->cfg.prefill_segments) seg_prefill(st, g, fill_ns);
    *out = g;
    return RMQ_NONE;
}

/* ------------------------------------------------------------------ */
/* stream table                                                         */

static size_t hash_id(uint64_t id, size_t nb) {
    id ^= id >> 33;
    id *= 0xff51afd7ed558ccdull;
    id ^= id >> 33;
    return (size_t)(id & (nb - 1));
}

/* Caller holds map_mu (either mode). */
static stream_t *map_find(rmq_store_t *st, uint64_t id) {
    for (stream_t *s = st->buckets[hash_id(id, st->nbuckets)]; s; s = s->hnext)
        if (s->id == id) return s;
    return NULL;
}

static stream_t *stream_lookup(rmq_store_t *st, uint64_t id) {
    pthread_rwlock_rdlock(&st->map_mu);
    stream_t *s = map_find(st, id);
    pthread_rwlock_unlock(&st->map_mu);
    return s;
}

/* Caller holds map_mu for writing (or is single-threaded). */
static stream_t *map_insert_locked(rmq_store_t *st, uint64_t id) {
    stream_t *s = map_find(st, id);
    if (s) return s;
    if (st->nstreams + 1 > st->nbuckets) {
        size_t nb = st->nbuckets * 2;
        stream_t **nbk = calloc(nb, sizeof(*nbk));
        if (nbk) {
            for (size_t i = 0; i < st->nbuckets; i++) {
                stream_t *x = st->buckets[i];
                while (x) {
                    stream_t *nx = x->hnext;
                    size_t h = hash_id(x->id, nb);
                    x->hnext = nbk[h];
                    nbk[h] = x;
                    x = nx;
                }
            }
            free(st->buckets);
            st->buckets = nbk;
            st->nbuckets = nb;
        }
    }
    s = calloc(1, sizeof(*s));
    if (!s) return NULL;
    s->id = id;
    pthread_mutex_init(&s->mu, NULL);
    size_t h = hash_id(id, st->nbuckets);
    s->hnext = st->buckets[h];
    st->buckets[h] = s;
    st->nstreams++;
    return s;
}

static stream_t *stream_get(rmq_store_t *st, uint64_t id) {
    stream_t *s = stream_lookup(st, id);
    if (s) return s;
    pthread_rwlock_wrlock(&st->map_mu);
    s = map_insert_locked(st, id);
    pthread_rwlock_unlock(&st->map_mu);
    return s;
}

/* Caller holds s->mu. */
static rmq_err_t idx_push(stream_t *s, const idx_ent_t *e) {
    if (s->n == s->cap) {
        if (s->head > 0 && s->head >= s->n / 2) {
            memmove(s->idx, s->idx + s->head, (s->n - s->head) * sizeof(*s->idx));
            s->n -= s->head;
            s->head = 0;
        } else {
            size_t nc = s->cap ? s->cap * 2 : 16;
            idx_ent_t *ni = realloc(s->idx, nc * sizeof(*ni));
            if (!ni) return RMQ_ERR_NOMEM;
            s->idx = ni;
            s->cap = nc;
        }
    }
    s->idx[s->n++] = *e;
    return RMQ_NONE;
}

/* First live index position whose batch ends after `offset`. Caller holds s->mu. */
static size_t idx_search(const stream_t *s, int64_t offset) {
    size_t lo = s->head, hi = s->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (s->idx[mid].base + s->idx[mid].count <= offset) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

/* Drop entries wholly below s->log_start. Caller holds s->mu. */
static void idx_trim_front(stream_t *s) {
    while (s->head < s->n && s->idx[s->head].base + s->idx[s->head].count <= s->log_start) {
        blob_unref(s->idx[s->head].blob);
        s->head++;
    }
    if (s->head == s->n) s->head = s->n = 0;
}

static void idx_clear(stream_t *s) {
    for (size_t i = s->head; i < s->n; i++) blob_unref(s->idx[i].blob);
    s->head = s->n = 0;
}

/* ------------------------------------------------------------------ */
/* write cache                                                          */

static void cache_push(rmq_store_t *st, stream_t *s, int64_t base, blob_t *b) {
    pthread_mutex_lock(&st->cache_mu);
    if (st->fifo_n == st->fifo_cap) {
        size_t nc = st->fifo_cap ? st->fifo_cap * 2 : 256;
        cache_item_t *nf = malloc(nc * sizeof(*nf));
        if (!nf) {
            pthread_mutex_unlock(&st->cache_mu);
            blob_unref(b);
            return;
        }
        for (size_t i = 0; i < st->fifo_n; i++) nf[i] = st->fifo[(st->fifo_head + i) % st->fifo_cap];
        free(st->fifo);
        st->fifo = nf;
        st->fifo_cap = nc;
        st->fifo_head = 0;
    }
    st->fifo[(st->fifo_head + st->fifo_n) % st->fifo_cap] = (cache_item_t){s, base, b};
    st->fifo_n++;
    st->cache_bytes += b->len;
    pthread_mutex_unlock(&st->cache_mu);
}

/* Evict oldest batches until the cache fits its budget. Call with no lock held. */
static void cache_evict(rmq_store_t *st) {
    pthread_mutex_lock(&st->cache_mu);
    while (st->cache_bytes > st->cfg.write_cache_size_bytes && st->fifo_n > 0) {
        cache_item_t it = st->fifo[st->fifo_head];
        st->fifo_head = (st->fifo_head + 1) % st->fifo_cap;
        st->fifo_n--;
        st->cache_bytes -= it.blob->len;
        pthread_mutex_unlock(&st->cache_mu);
        pthread_mutex_lock(&it.s->mu);
        size_t i = idx_search(it.s, it.base);
        if (i < it.s->n && it.s->idx[i].base == it.base && it.s->idx[i].blob == it.blob) {
            it.s->idx[i].blob = NULL;
            blob_unref(it.blob);
        }
        pthread_mutex_unlock(&it.s->mu);
        blob_unref(it.blob);
        pthread_mutex_lock(&st->cache_mu);
    }
    pthread_mutex_unlock(&st->cache_mu);
}

/* ------------------------------------------------------------------ */
/* submission                                                           */

static void set_ro_locked(rmq_store_t *st, const char *fmt, const char *what, int neg) {
    if (!st->ro) {
        st->ro = true;
        snprintf(st->errmsg, sizeof(st->errmsg), fmt, what, strerror(-neg));
        pthread_cond_broadcast(&st->done_cond); /* appends in wait_spare: no spare is coming */
    }
}

/* Wait (holding no stream lock) until a spare segment exists or cannot be
 * made; enqueue then either succeeds or reports why not. */
static void wait_spare(rmq_store_t *st) {
    uint64_t t0 = now_ns(st);
    pthread_mutex_lock(&st->q_mu);
    if (st->wake_deferred) { /* a plugged caller's entries go meanwhile */
        st->wake_deferred = false;
        pthread_cond_signal(&st->q_cond);
    }
    st->spare_waiters++; /* a prefill in progress stops at its next chunk (seg_prefill) */
    while (!st->spare && st->nsegs < st->max_files && st->spare_err == RMQ_NONE && !st->ro && !st->stop) {
        pthread_cond_signal(&st->prep_cond);
        pthread_cond_wait(&st->done_cond, &st->q_mu);
    }
    st->spare_waiters--;
    pthread_mutex_unlock(&st->q_mu);
    uint64_t waited = now_ns(st) - t0;
    if (waited >= WAL_SLOW_NS) /* at most once per segment switch and appending thread */
        RMQ_WARN(SUB, "msg=\"append waited for the next WAL segment\" ms=%.1f", (double)waited / 1e6);
}

static void fill_header(pend_t *p, uint32_t body_crc) {
    rmq_wal_hdr_t h = {
        .len = p->blob->len, .type = p->type, .stream_id = p->s->id, .base_offset = p->base,
        .record_count = p->count, .gen = p->gen, .max_ts = p->max_ts, .seg_id = p->seg->id,
    };
    rmq_wal_hdr_encode(p->blob->data, &h, p->blob->data + RMQ_WAL_HDR, body_crc);
}

static _Thread_local rmq_store_t *tls_plugged; /* see rmq_store_plug */

/* Append p to the writer's queue (caller holds q_mu; the queue owns p) and
 * wake the writer, unless this thread has the store plugged. */
static void queue_push_locked(rmq_store_t *st, pend_t *p) {
    p->next = NULL;
    bool was_empty = !st->qtail;
    if (was_empty) st->q_since = wal_mark(st);
    if (st->qtail) st->qtail->next = p;
    else st->qhead = p;
    st->qtail = p;
    if (tls_plugged == st) { /* the writer is woken at unplug */
        if (was_empty) st->wake_deferred = true;
        return;
    }
    if (was_empty || st->wake_deferred) {
        st->wake_deferred = false;
        pthread_cond_signal(&st->q_cond);
    }
}

void rmq_store_plug(rmq_store_t *st) { tls_plugged = st; }

void rmq_store_unplug(rmq_store_t *st) {
    if (tls_plugged != st) return;
    tls_plugged = NULL;
    pthread_mutex_lock(&st->q_mu);
    if (st->wake_deferred) {
        st->wake_deferred = false;
        pthread_cond_signal(&st->q_cond);
    }
    pthread_mutex_unlock(&st->q_mu);
}

/* Reserve WAL space for p (p->blob->len payload bytes) and queue it.
 * Caller holds p->s->mu (if any). On success the queue owns p (the writer
 * may free it at any moment: the caller must not touch p again) and
 * seg_id and file_off (may be NULL) say where it goes; on failure nothing
 * changed. */
static rmq_err_t enqueue(rmq_store_t *st, pend_t *p, uint64_t *seg_id, uint64_t *file_off) {
    pthread_mutex_lock(&st->q_mu);
    rmq_err_t err = RMQ_NONE;
    if (st->ro) err = RMQ_ERR_READ_ONLY;
    else if (st->stop) err = RMQ_ERR_CLOSED;
    if (err == RMQ_NONE && p->type != 0) {
        uint64_t need = RMQ_WAL_HDR + (uint64_t)p->blob->len;
        if (need > st->cfg.segment_size_bytes) err = RMQ_ERR_TOO_LARGE;
        while (err == RMQ_NONE && st->assign_off + need > st->cur->size) {
            if (st->spare) {
                st->cur = st->spare;
                st->spare = NULL;
                st->assign_off = 0;
                pthread_cond_signal(&st->prep_cond); /* make the next spare */
                break;
            }
            if (st->nsegs >= st->max_files) err = RMQ_ERR_WAL_FULL;
            else if (st->spare_err) {
                err = st->spare_err;
                pthread_cond_signal(&st->prep_cond);
            } else if (st->ro) err = RMQ_ERR_READ_ONLY;
            else if (st->stop) err = RMQ_ERR_CLOSED;
            else {
                /* the spare is being created: the caller drops its stream
                 * lock (the writer needs it to complete entries), waits in
                 * wait_spare and retries */
                pthread_cond_signal(&st->prep_cond);
                err = RMQ_ERR_AGAIN;
            }
        }
        if (err == RMQ_NONE) {
            p->seg = st->cur;
            p->off = st->assign_off;
            st->assign_off += need;
            fill_header(p, p->body_crc); /* before the writer can see p */
            if (seg_id) *seg_id = p->seg->id;
            if (file_off) *file_off = p->off;
        }
    }
    if (err == RMQ_NONE) queue_push_locked(st, p);
    pthread_mutex_unlock(&st->q_mu);
    return err;
}

static rmq_err_t append_impl(rmq_store_t *st, uint64_t stream_id, const void *batch, size_t len, size_t tail_off,
                             const uint32_t *tail_crc, int32_t record_count, int64_t max_timestamp,
                             rmq_store_append_cb cb, void *ud);

rmq_err_t rmq_store_append(rmq_store_t *st, uint64_t stream_id, const void *batch, size_t len,
                           int32_t record_count, int64_t max_timestamp, rmq_store_append_cb cb, void *ud) {
    return append_impl(st, stream_id, batch, len, 0, NULL, record_count, max_timestamp, cb, ud);
}

rmq_err_t rmq_store_append_crc(rmq_store_t *st, uint64_t stream_id, const void *batch, size_t len, size_t tail_off,
                               uint32_t tail_crc, int32_t record_count, int64_t max_timestamp,
                               rmq_store_append_cb cb, void *ud) {
    if (tail_off < 8 || tail_off > len) return RMQ_ERR_INVALID_ARG;
    return append_impl(st, stream_id, batch, len, tail_off, &tail_crc, record_count, max_timestamp, cb, ud);
}

/* tail_crc: NULL, or the CRC of batch[tail_off..len) (see rmq_store_append_crc). */
static rmq_err_t append_impl(rmq_store_t *st, uint64_t stream_id, const void *batch, size_t len, size_t tail_off,
                             const uint32_t *tail_crc, int32_t record_count, int64_t max_timestamp,
                             rmq_store_append_cb cb, void *ud) {
    if (!st || !batch || len < 8 || record_count <= 0 || len > UINT32_MAX) return RMQ_ERR_INVALID_ARG;
    if (len + RMQ_WAL_HDR > st->cfg.segment_size_bytes) return RMQ_ERR_TOO_LARGE;
    pend_t *p = calloc(1, sizeof(*p));
    blob_t *b = blob_new(len);
    stream_t *s = stream_get(st, stream_id);
    if (!p || !b || !s) {
        free(p);
        free(b);
        return RMQ_ERR_NOMEM;
    }
    uint8_t *payload = b->data + RMQ_WAL_HDR;
    memcpy(payload, batch, len);
    /* Combining with a known tail CRC costs ~0.2 us (a few dozen GF(2)
     * multiplications), a hardware CRC pass ~65 ns per KiB: below 4 KiB of
     * tail the pass is cheaper (the bytes were just copied, so cached). */
    uint32_t body_crc = tail_crc && len - tail_off >= 4096
                            ? rmq_wal_body_crc_from_tail(payload, len, tail_off, *tail_crc)
                            : rmq_wal_body_crc(payload, len); /* outside every lock */
    p->s = s;
    p->type = RMQ_WAL_DATA;
    p->blob = b;
    p->count = record_count;
    p->max_ts = max_timestamp;
    p->cb = cb;
    p->ud = ud;

retry:
    pthread_mutex_lock(&s->mu);
    if (s->next > INT64_MAX - record_count) {
        pthread_mutex_unlock(&s->mu);
        free(p);
        free(b);
        return RMQ_ERR_INVALID_ARG;
    }
    p->base = s->next;
    p->gen = s->gen;
    rmq_wbe64(payload, (uint64_t)p->base);
    idx_ent_t e = {.base = p->base, .count = record_count, .len = (uint32_t)len, .max_ts = max_timestamp};
    if (idx_push(s, &e) != RMQ_NONE) { /* reserve index room first: no failure after enqueue */
        pthread_mutex_unlock(&s->mu);
        free(p);
        free(b);
        return RMQ_ERR_NOMEM;
    }
    s->n--; /* slot reserved, filled below once the entry is queued */
    p->body_crc = body_crc;
    /* references for the index and the cache, taken while we still own b */
    bool cache = st->cfg.write_cache_size_bytes > 0;
    if (cache) {
        blob_ref(b);
        blob_ref(b);
    }
    rmq_err_t err = enqueue(st, p, &e.seg_id, &e.file_off); /* p belongs to the writer now */
    if (err != RMQ_NONE && cache) {
        blob_unref(b);
        blob_unref(b);
    }
    if (err == RMQ_ERR_AGAIN) {
        pthread_mutex_unlock(&s->mu);
        wait_spare(st);
        goto retry;
    }
    if (err != RMQ_NONE) {
        pthread_mutex_unlock(&s->mu);
        free(p);
        free(b);
        atomic_fetch_add_explicit(&st->st_errors, 1, memory_order_relaxed);
        return err;
    }
    if (cache) e.blob = b;
    s->idx[s->n++] = e;
    s->next = e.base + record_count;
    s->deleted = false;
    pthread_mutex_unlock(&s->mu);
    if (cache) {
        cache_push(st, s, e.base, b);
        cache_evict(st);
    }
    atomic_fetch_add_explicit(&st->st_appends, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&st->st_bytes, len, memory_order_relaxed);
    return RMQ_NONE;
}

/* ------------------------------------------------------------------ */
/* synchronous waits (trim, delete, sync)                              */

typedef struct waiter {
    pthread_mutex_t mu;
    pthread_cond_t cond;
    bool done;
    rmq_err_t err;
} waiter_t;

static void waiter_init(waiter_t *w) {
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cond, NULL);
    w->done = false;
    w->err = RMQ_NONE;
}
static void waiter_cb(void *ud, rmq_err_t err, int64_t off) {
    (void)off;
    waiter_t *w = ud;
    pthread_mutex_lock(&w->mu);
    w->err = err;
    w->done = true;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->mu);
}
static rmq_err_t waiter_wait(waiter_t *w) {
    /* a plugged thread's own entries (queued before the waited-for one)
     * must reach the writer: waiting plugged would wait forever */
    if (tls_plugged) rmq_store_unplug(tls_plugged);
    pthread_mutex_lock(&w->mu);
    while (!w->done) pthread_cond_wait(&w->cond, &w->mu);
    pthread_mutex_unlock(&w->mu);
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cond);
    return w->err;
}

/* ------------------------------------------------------------------ */
/* writer thread                                                        */

typedef struct seal_list {
    seg_t *segs[8];
    size_t n;
} seal_list_t;

/* Mark g sealed and remember it for the callback (writer thread). */
static void seal_segment(rmq_store_t *st, seg_t *g, seal_list_t *sl) {
    pthread_mutex_lock(&st->cb_mu);
    pthread_mutex_lock(&st->q_mu);
    g->sealed = true;
    pthread_mutex_unlock(&st->q_mu);
    if (st->sealed_cb) {
        rmq_store_segment_info_t info = {g->id, g->path, atomic_load(&g->used), g->nents, g->ents};
        st->sealed_cb(st->sealed_ud, &info);
    }
    pthread_mutex_unlock(&st->cb_mu);
    (void)sl;
}

#ifdef RMQ_HAVE_URING
static int uring_hook(rmq_store_t *st, int op, int fd, int res) {
    return st->cfg.uring_hook ? st->cfg.uring_hook(st->cfg.uring_hook_ud, op, fd, res) : res;
}

/* io_uring path: write iov[0..cnt) (borrowed until return) at off to fd and,
 * when sync, fdatasync it, as one submission of linked SQEs (writev... ->
 * fsync(IORING_FSYNC_DATASYNC), IOSQE_IO_LINK), then wait for every CQE.
 * A short write cancels the rest of the chain: what was written is kept and
 * the remainder plus the fsync are submitted again. Any error (write or
 * fsync) is returned, never retried. 0 or -errno; *what names the step. */
static int ring_write(rmq_store_t *st, int fd, const struct iovec *iov, int cnt, off_t off, bool sync,
                      const char **what) {
    struct iovec stackv[64];
    struct iovec *v = cnt <= 64 ? stackv : malloc((size_t)cnt * sizeof(*v));
    if (!v) {
        *what = "io_uring writev (out of memory)";
        return -ENOMEM;
    }
    memcpy(v, iov, (size_t)cnt * sizeof(*v));
    int cur = 0, zero_tries = 0, r = 0;
    bool need_sync = sync;
    while (cur < cnt || need_sync) {
        size_t want[RING_DEPTH];
        int wres[RING_DEPTH];
        unsigned nw = 0;
        int ci = cur;
        off_t o = off;
        struct io_uring_sqe *sqe = NULL;
        while (ci < cnt && nw < RING_DEPTH - 1) {
            int k = cnt - ci < RING_IOV_MAX ? cnt - ci : RING_IOV_MAX;
            size_t bytes = 0;
            for (int i = 0; i < k; i++) bytes += v[ci + i].iov_len;
            sqe = io_uring_get_sqe(&st->ring); /* the ring is empty: never NULL */
            io_uring_prep_writev(sqe, fd, v + ci, (unsigned)k, (uint64_t)o);
            sqe->flags |= IOSQE_IO_LINK;
            sqe->user_data = nw;
            wres[nw] = -ECANCELED;
            want[nw++] = bytes;
            o += (off_t)bytes;
            ci += k;
        }
        bool with_sync = need_sync && ci == cnt;
        unsigned nsqe = nw;
        int fres = -ECANCELED;
        if (with_sync) {
            sqe = io_uring_get_sqe(&st->ring);
            io_uring_prep_fsync(sqe, fd, IORING_FSYNC_DATASYNC);
            sqe->user_data = RING_DEPTH;
            nsqe++;
        } else if (sqe) {
            sqe->flags &= (uint8_t)~IOSQE_IO_LINK; /* chains never span submissions */
        }
        uint64_t t0 = now_ns(st);
        unsigned submitted = 0;
        while (submitted < nsqe) {
            int n = io_uring_submit(&st->ring);
            if (n == -EINTR || n == -EAGAIN) continue;
            if (n <= 0) {
                if (n == 0) n = -EIO; /* nothing taken although SQEs are queued */
                /* cannot tell what reached the kernel: give up (read-only) */
                *what = "io_uring submit";
                r = n;
                goto out;
            }
            submitted += (unsigned)n;
        }
        for (unsigned got = 0; got < submitted; got++) {
            struct io_uring_cqe *cqe;
            int w;
            while ((w = io_uring_wait_cqe(&st->ring, &cqe)) == -EINTR) {
            }
            if (w < 0) {
                *what = "io_uring wait";
                r = w;
                goto out;
            }
            uint64_t ud = cqe->user_data;
            int res = cqe->res;
            io_uring_cqe_seen(&st->ring, cqe);
            if (ud == RING_DEPTH) fres = uring_hook(st, RMQ_WAL_URING_FSYNC, fd, res);
            else if (ud < nw) wres[ud] = uring_hook(st, RMQ_WAL_URING_WRITE, fd, res);
        }
        size_t prog = 0;
        bool all = true;
        for (unsigned i = 0; i < nw; i++) {
            int res = wres[i];
            if (res >= 0 && (size_t)res == want[i]) {
                prog += want[i];
                continue;
            }
            all = false;
            if (res >= 0) {
                prog += (size_t)res;
            } else if (res != -ECANCELED && res != -EINTR && res != -EAGAIN) {
                *what = "io_uring writev";
                r = res;
                goto out;
            }
            break;
        }
        if (all && with_sync) {
            hist_add(st, now_ns(st) - t0); /* write + fdatasync of the last chain */
            if (fres < 0) {
                *what = "io_uring fdatasync";
                r = fres;
                goto out;
            }
            need_sync = false;
        }
        if (prog == 0 && !all) {
            if (++zero_tries > 8) {
                *what = "io_uring writev (no progress)";
                r = -EIO;
                goto out;
            }
            continue;
        }
        zero_tries = 0;
        off += (off_t)prog;
        while (cur < cnt && prog >= v[cur].iov_len) {
            prog -= v[cur].iov_len;
            cur++;
        }
        if (cur < cnt && prog > 0) {
            v[cur].iov_base = (char *)v[cur].iov_base + prog;
            v[cur].iov_len -= prog;
        }
    }
out:
    if (v != stackv) free(v);
    return r;
}
#endif

/* Write iov[0..cnt) (borrowed) at off to fd and, when sync, make it durable:
 * through the ring (io_uring) or with pwritev + fdatasync. 0 or -errno;
 * *what names the failed step. */
static int write_sync(rmq_store_t *st, int fd, const struct iovec *iov, int cnt, off_t off, bool sync,
                      const char **what) {
#ifdef RMQ_HAVE_URING
    if (st->ring_ok) return ring_write(st, fd, iov, cnt, off, sync, what);
#endif
    if (sync && !st->dsync_off) {
        /* One write whose range is durable when it returns: the kernel
         * syncs just that range, where fdatasync also waits on the whole
         * file (measured in docs/storage.md: p99 under concurrent upload
         * writes 0.6-1.0 ms against 1.2-12 ms). The duration goes to the
         * fsync histogram: it is this write's time to durability. */
        uint64_t t0 = now_ns(st);
        int r = rmq_wal_io_pwritev_dsync_all(st->io, fd, iov, cnt, off);
        if (r != -EOPNOTSUPP) {
            hist_add(st, now_ns(st) - t0);
            if (r < 0) *what = "pwritev2 with RWF_DSYNC (write + fdatasync in one call)";
            return r;
        }
        /* refused before writing anything: the kernel or filesystem lacks
         * it; the plain write + fdatasync below is equivalent */
        RMQ_WARN(SUB, "msg=\"RWF_DSYNC writes not supported here, using write + fdatasync\"");
        st->dsync_off = true;
    }
    int r = rmq_wal_io_pwritev_all(st->io, fd, iov, cnt, off);
    if (r < 0) {
        *what = "pwritev";
        return r;
    }
    if (sync) {
        r = do_fdatasync(st, fd);
        if (r < 0) *what = "fdatasync";
    }
    return r;
}

/* direct_io: write a run through g's O_DIRECT fd. The run is copied into
 * the aligned buffer after the head of its first block (the bytes of that
 * block already on disk, cached in pblk or read back), zero-filled up to
 * the next block boundary and written in DIO_CHUNK pieces, each one synced
 * when sync is set: an RWF_DSYNC write makes only its own range durable (a
 * device with FUA flushes nothing else), so syncing just the last piece
 * could acknowledge a group whose first pieces sit in a volatile cache.
 * The rewritten head is byte-identical to what is on disk
 * and the zero tail is what a preallocated segment holds after its last
 * entry, so the format and recovery are the same as for the plain path. */
static int write_run_direct(rmq_store_t *st, seg_t *g, pend_t **run, size_t n, bool sync, const char **what) {
    uint64_t start = run[0]->off;
    uint64_t blk = start & ~(uint64_t)(DIO_ALIGN - 1);
    size_t pre = (size_t)(start - blk);
    uint64_t total = pre;
    for (size_t i = 0; i < n; i++) total += RMQ_WAL_HDR + (uint64_t)run[i]->blob->len;
    uint64_t want = (total + DIO_ALIGN - 1) & ~(uint64_t)(DIO_ALIGN - 1);
    if (want > DIO_CHUNK) want = DIO_CHUNK;
    if (st->abuf_cap < want) {
        void *nb = NULL;
        if (posix_memalign(&nb, DIO_ALIGN, (size_t)want) != 0) {
            *what = "pwritev (aligned buffer: out of memory)";
            return -ENOMEM;
        }
        free(st->abuf);
        st->abuf = nb;
        st->abuf_cap = (size_t)want;
    }
    size_t cap = st->abuf_cap, fill = 0;
    if (pre) {
        if (st->pblk_seg == g->id && st->pblk_off == blk && st->pblk_len == pre) {
            memcpy(st->abuf, st->pblk, pre);
        } else {
            int r = rmq_wal_io_pread_all(st->io, g->fd, st->abuf, pre, (off_t)blk);
            if (r < 0) {
                *what = "pread (head of the partly written block)";
                return r;
            }
        }
        fill = pre;
    }
    st->pblk_seg = 0; /* invalid until this run is written */
    uint64_t woff = blk;
    struct iovec v;
    for (size_t i = 0; i < n; i++) {
        const uint8_t *src = run[i]->blob->data;
        size_t left = RMQ_WAL_HDR + (size_t)run[i]->blob->len;
        while (left > 0) {
            size_t k = cap - fill < left ? cap - fill : left;
            memcpy(st->abuf + fill, src, k);
            fill += k;
            src += k;
            left -= k;
            if (fill == cap && (left > 0 || i + 1 < n)) {
                v = (struct iovec){st->abuf, cap};
                int r = write_sync(st, g->wfd, &v, 1, (off_t)woff, sync, what);
                if (r < 0) return r;
                woff += cap;
                fill = 0;
            }
        }
    }
    size_t padded = (fill + DIO_ALIGN - 1) & ~(size_t)(DIO_ALIGN - 1);
    memset(st->abuf + fill, 0, padded - fill);
    v = (struct iovec){st->abuf, padded};
    int r = write_sync(st, g->wfd, &v, 1, (off_t)woff, sync, what);
    if (r < 0) return r;
    size_t tail = fill & (DIO_ALIGN - 1);
    memcpy(st->pblk, st->abuf + fill - tail, tail);
    st->pblk_off = woff + fill - tail;
    st->pblk_len = tail;
    st->pblk_seg = g->id;
    return 0;
}

/* Write one run of entries that are contiguous in segment g; fdatasync if
 * configured. Returns 0 or -errno and sets *what. */
static int write_run(rmq_store_t *st, seg_t *g, pend_t **run, size_t n, const char **what) {
    bool sync = st->cfg.fsync_on_write;
    int r;
    if (st->cfg.direct_io) {
        r = write_run_direct(st, g, run, n, sync, what);
    } else {
        struct iovec *iov = malloc(n * sizeof(*iov));
        if (!iov) {
            *what = "pwritev (out of memory)";
            return -ENOMEM;
        }
        for (size_t i = 0; i < n; i++) {
            iov[i].iov_base = run[i]->blob->data;
            iov[i].iov_len = RMQ_WAL_HDR + (size_t)run[i]->blob->len;
        }
        r = write_sync(st, g->fd, iov, (int)n, (off_t)run[0]->off, sync, what);
        free(iov);
        if (r == 0 && !sync && st->io->writeback) {
            /* fsync_on_write = false: push the run to the disk now, so the
             * next fdatasync (flush tick, segment switch) waits for the
             * last few writes, not for a whole interval of dirty pages
             * (that wait blocked every append behind it: p99 46-72 ms at
             * 300 MB/s, bench/README.md) */
            uint64_t end = run[n - 1]->off + RMQ_WAL_HDR + run[n - 1]->blob->len;
            (void)st->io->writeback(st->io->ud, g->fd, (off_t)run[0]->off, (off_t)(end - run[0]->off));
        }
    }
    if (r < 0) return r;
    atomic_fetch_add_explicit(&st->st_groups, 1, memory_order_relaxed);
    if (!sync) st->dirty = true;
    return 0;
}

static rmq_err_t write_checkpoint(rmq_store_t *st, const uint64_t *excl, size_t nexcl, char *msg, size_t msglen);

/* rmq_store_seal_active's marker reached the writer (writer thread, after
 * every entry queued before it is written and completed, so the stream
 * table matches the WAL position): make the sealed segment durable, move
 * the write position to the empty segment `next`, record that in the
 * checkpoint (position next/0 tells recovery the older tail is sealed, as a
 * valid entry in `next` would), then seal it. Any failure here turns the
 * WAL read-only, like every other failed write. */
static rmq_err_t seal_active_now(rmq_store_t *st, seg_t *next) {
    seg_t *old = st->wseg;
    if (old == next) return RMQ_NONE;
    const char *what = "fdatasync";
    int r = 0;
    char msg[256] = "";
    if (old && st->dirty) {
        r = do_fdatasync(st, old->fd);
        if (r == 0) st->dirty = false;
    }
    if (r == 0) {
        st->wseg = next;
        if (write_checkpoint(st, NULL, 0, msg, sizeof(msg)) != RMQ_NONE) {
            what = msg;
            r = -EIO;
        }
    }
    if (r < 0) {
        pthread_mutex_lock(&st->q_mu);
        set_ro_locked(st, "WAL seal: %s failed: %s; the WAL is now read-only", what, r);
        pthread_mutex_unlock(&st->q_mu);
        RMQ_ERROR(SUB, "msg=\"sealing the active segment failed, read-only\" detail=\"%s\" err=\"%s\"", what,
                  strerror(-r));
        return RMQ_ERR_IO;
    }
    if (old) seal_segment(st, old, NULL);
    return RMQ_NONE;
}

/* Write a group of queued entries (in queue order) and complete them. */
static void process_group(rmq_store_t *st, pend_t *list) {
    size_t n = 0;
    for (pend_t *p = list; p; p = p->next) n++;
    pend_t **all = malloc(n * sizeof(*all));
    bool *ok = calloc(n ? n : 1, sizeof(bool));
    rmq_err_t fail_err = RMQ_NONE;
    seal_list_t sl = {.n = 0};
    bool have_marker = false;
    size_t k = 0;
    for (pend_t *p = list; p; p = p->next) all[k++] = p;
    if (!all || !ok) {
        /* Cannot even track the group: fail it without writing. Nothing of it
         * reached the disk, so offsets stay consistent only if we stop here. */
        pthread_mutex_lock(&st->q_mu);
        set_ro_locked(st, "%s: %s", "group commit", -ENOMEM);
        pthread_mutex_unlock(&st->q_mu);
        for (pend_t *p = list, *nx; p; p = nx) {
            nx = p->next;
            if (p->cb) p->cb(p->ud, RMQ_ERR_NOMEM, -1);
            blob_unref(p->blob);
            free(p);
        }
        free(all);
        free(ok);
        return;
    }
    pthread_mutex_lock(&st->q_mu);
    bool ro = st->ro;
    pthread_mutex_unlock(&st->q_mu);
    if (ro) fail_err = RMQ_ERR_READ_ONLY;

    pend_t **run = malloc(n * sizeof(*run));
    size_t i = 0;
    while (i < n && fail_err == RMQ_NONE && run) {
        if (all[i]->type == 0) {
            have_marker = true;
            ok[i++] = true;
            continue;
        }
        if (all[i]->type == PEND_SEAL) { /* always last: handled after the completions */
            i++;
            continue;
        }
        seg_t *g = all[i]->seg;
        size_t rn = 0;
        size_t j = i;
        uint64_t expect = all[i]->off;
        for (; j < n; j++) {
            if (all[j]->type == 0) {
                have_marker = true;
                continue;
            }
            if (all[j]->type == PEND_SEAL || all[j]->seg != g || all[j]->off != expect) break;
            expect += RMQ_WAL_HDR + all[j]->blob->len;
            run[rn++] = all[j];
        }
        const char *what = NULL;
        int r = 0;
        if (st->wseg != g) {
            if (st->wseg) {
                if (st->dirty) {
                    r = do_fdatasync(st, st->wseg->fd);
                    what = "fdatasync";
                    st->dirty = false;
                }
                if (r == 0) {
                    if (sl.n < 8) sl.segs[sl.n++] = st->wseg;
                    else seal_segment(st, st->wseg, NULL);
                }
            }
            if (r == 0) st->wseg = g;
        }
        if (r == 0) r = write_run(st, g, run, rn, &what);
        if (r < 0) {
            pthread_mutex_lock(&st->q_mu);
            set_ro_locked(st, "WAL %s failed: %s; the WAL is now read-only", what, r);
            pthread_mutex_unlock(&st->q_mu);
            RMQ_ERROR(SUB, "msg=\"WAL write failed, read-only\" op=%s segment=%" PRIu64 " err=\"%s\"", what,
                      g->id, strerror(-r));
            fail_err = RMQ_ERR_IO;
            break;
        }
        for (size_t q = 0; q < rn; q++) {
            rmq_store_seg_entry_t se = {run[q]->s->id, run[q]->gen, run[q]->base, run[q]->count, run[q]->max_ts,
                                        run[q]->type, run[q]->off, run[q]->blob->len};
            (void)seg_add_ent(g, &se); /* metadata for the uploader; a miss only costs upload detail */
        }
        atomic_store(&g->used, expect);
        for (size_t q = i; q < j; q++) ok[q] = true;
        i = j;
    }
    if (!run) fail_err = RMQ_ERR_NOMEM;
    free(run);
    for (; i < n; i++)
        if (all[i]->type == 0) have_marker = true;
    if (have_marker && fail_err == RMQ_NONE && st->dirty && st->wseg) {
        int r = do_fdatasync(st, st->wseg->fd);
        if (r < 0) {
            pthread_mutex_lock(&st->q_mu);
            set_ro_locked(st, "WAL %s failed: %s; the WAL is now read-only", "fdatasync", r);
            pthread_mutex_unlock(&st->q_mu);
            fail_err = RMQ_ERR_IO;
            for (size_t q = 0; q < n; q++)
                if (all[q]->type == 0) ok[q] = false;
        } else {
            st->dirty = false;
        }
    }
    /* advance high watermarks, then complete in order */
    for (size_t q = 0; q < n; q++) {
        pend_t *p = all[q];
        if (ok[q] && p->type == RMQ_WAL_DATA) {
            pthread_mutex_lock(&p->s->mu);
            if (p->gen == p->s->gen && p->base + p->count > p->s->hw) p->s->hw = p->base + p->count;
            pthread_mutex_unlock(&p->s->mu);
        }
    }
    pend_t *seal_p = NULL;
    for (size_t q = 0; q < n; q++) {
        pend_t *p = all[q];
        if (p->type == PEND_SEAL) {
            seal_p = p;
            continue;
        }
        if (p->cb) p->cb(p->ud, ok[q] ? RMQ_NONE : (fail_err ? fail_err : RMQ_ERR_IO), ok[q] ? p->base : -1);
        if (!ok[q]) atomic_fetch_add_explicit(&st->st_errors, 1, memory_order_relaxed);
        blob_unref(p->blob);
        free(p);
    }
    free(all);
    free(ok);
    for (size_t q = 0; q < sl.n; q++) seal_segment(st, sl.segs[q], NULL);
    if (seal_p) {
        rmq_err_t e = fail_err ? fail_err : seal_active_now(st, seal_p->seg);
        seal_p->cb(seal_p->ud, e, -1);
        free(seal_p);
    }
}

/* Turn the pooled, reclaimed segment g into segment id: rename its file
 * (its blocks stay allocated, its stale entries carry the old segment id
 * in their CRC-covered header, so recovery stops at the first of them as
 * it does at zeros) and reset its bookkeeping. On failure g is unlinked
 * and freed and the caller creates a fresh file. Preparer thread. */
static rmq_err_t seg_recycle(rmq_store_t *st, seg_t *g, uint64_t id, seg_t **out) {
    char *path = seg_path(st->dir, id);
    int r = path ? st->io->rename(st->io->ud, g->path, path) : -ENOMEM;
    bool renamed = r == 0;
    if (renamed) {
        RMQ_DEBUG(SUB, "msg=\"segment reused\" from=%" PRIu64 " to=%" PRIu64, g->id, id);
        free(g->path);
        g->path = path; /* the file's name from now on, also for the cleanup below */
        path = NULL;
        r = fsync_dir(st);
    }
    if (r == 0 && st->cfg.direct_io && g->wfd < 0) r = seg_open_direct(st, g); /* recovered sealed segments have none */
    if (r < 0) {
        RMQ_WARN(SUB, "msg=\"cannot reuse reclaimed segment, creating a new one\" path=%s err=\"%s\"", g->path,
                 strerror(-r));
        st->io->unlink(st->io->ud, g->path);
        free(path);
        seg_free(st, g);
        return RMQ_ERR_IO;
    }
    g->id = id;
    atomic_store(&g->used, 0);
    g->sealed = false;
    g->nents = 0;
    *out = g;
    return RMQ_NONE;
}

/* Write a fresh segment through once with zeros before it takes appends
 * (wal.prefill_segments). fallocate leaves its blocks unwritten: the first
 * synced write to each of them also converts the extent and, on a thin
 * virtual disk, makes the host allocate. Measured through the broker
 * (bench/README.md, "Fresh WAL segments"): synced writes of 20-130 ms into
 * a fresh segment against 0.5 ms into a reused one, and the segment the
 * WAL was left in after a burst gave the next produce burst a p99 of
 * 100-500 ms in its first second. Zeros written here, in 1 MiB O_DIRECT
 * writes (no page cache) on the preparer thread, cost the writer nothing.
 *
 * Preparer thread, before g is published, or open, before the writer
 * starts in its new first segment: nothing else writes to g, so the zeros
 * can never land on an entry. Stops early - the rest stays as
 * fallocate left it, correct and only slower - when an append waits for
 * the spare (wait_spare), or the store stops or turns read-only. Returns
 * the bytes filled; *ns gets the time taken. */
static uint64_t seg_prefill(rmq_store_t *st, seg_t *g, uint64_t *ns) {
    uint64_t t0 = now_ns(st), done = 0;
    *ns = 0;
    if (st->prefill_off) return 0;
    if (!st->prefill_zeros) {
        void *z = NULL;
        if (posix_memalign(&z, DIO_ALIGN, PREFILL_CHUNK) != 0) return 0;
        memset(z, 0, PREFILL_CHUNK);
        st->prefill_zeros = z;
    }
    int fd = g->wfd; /* direct_io: the writer's own O_DIRECT fd, unused so far */
    bool own = fd < 0;
    if (own) fd = st->io->open(st->io->ud, g->path, O_WRONLY | O_DIRECT | O_CLOEXEC, 0);
    if (fd < 0) {
        if (fd == -EINVAL) { /* no O_DIRECT on this filesystem (tmpfs: nothing to gain either) */
            st->prefill_off = true;
            RMQ_INFO(SUB, "msg=\"WAL segments not prefilled: the filesystem refuses O_DIRECT\" dir=%s", st->dir);
        } else {
            RMQ_WARN(SUB, "msg=\"cannot prefill WAL segment\" segment=%" PRIu64 " op=open err=\"%s\"", g->id,
                     strerror(-fd));
        }
        return 0;
    }
    const uint64_t end = g->size / DIO_ALIGN * DIO_ALIGN; /* O_DIRECT lengths are whole blocks */
    int r = 0;
    while (done < end) {
        pthread_mutex_lock(&st->q_mu);
        bool stop = st->spare_waiters > 0 || st->stop || st->ro;
        pthread_mutex_unlock(&st->q_mu);
        if (stop) break;
        uint64_t n = end - done < PREFILL_CHUNK ? end - done : PREFILL_CHUNK;
        struct iovec v = {st->prefill_zeros, (size_t)n};
        r = rmq_wal_io_pwritev_all(st->io, fd, &v, 1, (off_t)done);
        if (r < 0) break;
        done += n;
    }
    if (own) st->io->close(st->io->ud, fd);
    /* the converted extents durable now, not in the first synced write */
    if (r >= 0 && done) r = st->io->fdatasync(st->io->ud, g->fd);
    if (r < 0) /* the segment is still usable as fallocate made it; a failing disk shows in the writes */
        RMQ_WARN(SUB, "msg=\"cannot prefill WAL segment\" segment=%" PRIu64 " err=\"%s\"", g->id, strerror(-r));
    *ns = now_ns(st) - t0;
    RMQ_DEBUG(SUB, "msg=\"WAL segment prefilled\" segment=%" PRIu64 " bytes=%" PRIu64 " of=%" PRIu64 " ms=%.1f", g->id,
              done, g->size, (double)*ns / 1e6);
    return done;
}

/* Make the next spare if there is room: a pooled file renamed, else a new
 * preallocated one (seg_create prefills it when configured). Preparer thread. *fill_ns
 * gets the prefill's share of the time (not a slow step: appends never wait
 * for it). Returns whether it tried (false: no spare is wanted any more). */
static bool make_spare(rmq_store_t *st, uint64_t *fill_ns) {
    *fill_ns = 0;
    pthread_mutex_lock(&st->q_mu);
    bool need = !st->spare && st->nsegs < st->max_files && !st->stop && !st->ro;
    uint64_t id = st->next_seg_id;
    seg_t *pooled = NULL;
    if (need && st->npool) { /* oldest first */
        pooled = st->pool[0];
        memmove(st->pool, st->pool + 1, --st->npool * sizeof(*st->pool));
    }
    if (!need) pthread_cond_broadcast(&st->done_cond); /* read-only or stopping meanwhile */
    pthread_mutex_unlock(&st->q_mu);
    if (!need) return false;
    char msg[256];
    seg_t *g = NULL;
    rmq_err_t err = pooled ? seg_recycle(st, pooled, id, &g) : RMQ_ERR_IO;
    if (err != RMQ_NONE) err = seg_create(st, id, &g, fill_ns, msg, sizeof(msg));
    pthread_mutex_lock(&st->q_mu);
    if (err == RMQ_NONE) {
        pthread_rwlock_wrlock(&st->seg_mu);
        err = segtab_add(st, g);
        /* with the segment table: write_checkpoint reads both under seg_mu */
        if (err == RMQ_NONE) st->next_seg_id = id + 1;
        pthread_rwlock_unlock(&st->seg_mu);
        if (err != RMQ_NONE) {
            st->io->unlink(st->io->ud, g->path);
            seg_free(st, g);
        } else {
            st->spare = g;
            st->spare_err = RMQ_NONE;
        }
    }
    if (err != RMQ_NONE) {
        if (st->spare_err == RMQ_NONE)
            RMQ_WARN(SUB, "msg=\"cannot preallocate WAL segment, back-pressure\" err=%s detail=\"%s\"",
                     rmq_err_name(err), msg);
        st->spare_err = err;
        st->spare_retry_ns = now_ns(st) + 50ull * 1000000ull;
    }
    pthread_cond_broadcast(&st->done_cond);
    pthread_mutex_unlock(&st->q_mu);
    return true;
}

/* Write the checkpoint file atomically. live_excl: segment ids about to be
 * reclaimed (treated as not live). Writer thread (or open). */
static rmq_err_t write_checkpoint(rmq_store_t *st, const uint64_t *excl, size_t nexcl, char *msg, size_t msglen) {
    rmq_wal_ckpt_t c = {0};
    c.pos_seg = st->wseg ? st->wseg->id : 0;
    c.pos_off = st->wseg ? atomic_load(&st->wseg->used) : 0;
    /* segments: live ones are in the table (minus excl); every id below
     * next_seg_id that is not live is reclaimed. seg_mu keeps the two
     * consistent: the preparer adds a spare and moves next_seg_id past it
     * under the write lock (make_spare). */
    pthread_rwlock_rdlock(&st->seg_mu);
    const uint64_t next_id = st->next_seg_id;
    uint64_t low = next_id;
    for (size_t i = 0; i < st->nsegs; i++) {
        bool ex = false;
        for (size_t j = 0; j < nexcl; j++) ex |= excl[j] == st->segs[i]->id;
        if (!ex && st->segs[i]->id < low) low = st->segs[i]->id;
    }
    c.low_water = low;
    size_t cap = 0;
    for (uint64_t id = low; id < next_id; id++) {
        seg_t *g = segtab_find(st, id);
        bool ex = false;
        for (size_t j = 0; j < nexcl; j++) ex |= excl[j] == id;
        if (g && !ex) continue;
        if (c.n_reclaimed == cap) {
            cap = cap ? cap * 2 : 16;
            uint64_t *nr = realloc(c.reclaimed, cap * sizeof(uint64_t));
            if (!nr) break;
            c.reclaimed = nr;
        }
        c.reclaimed[c.n_reclaimed++] = id;
    }
    pthread_rwlock_unlock(&st->seg_mu);
    pthread_rwlock_rdlock(&st->map_mu);
    c.streams = malloc((st->nstreams ? st->nstreams : 1) * sizeof(*c.streams));
    if (c.streams) {
        for (size_t b = 0; b < st->nbuckets; b++)
            for (stream_t *s = st->buckets[b]; s; s = s->hnext) {
                pthread_mutex_lock(&s->mu);
                c.streams[c.n_streams++] = (rmq_wal_ckpt_stream_t){s->id, s->gen, s->log_start, s->hw};
                pthread_mutex_unlock(&s->mu);
            }
    }
    pthread_rwlock_unlock(&st->map_mu);
    uint8_t *buf = NULL;
    size_t len = 0;
    rmq_err_t err = c.streams ? rmq_wal_ckpt_encode(&c, &buf, &len) : RMQ_ERR_NOMEM;
    rmq_wal_ckpt_free(&c);
    if (err) {
        snprintf(msg, msglen, "checkpoint: out of memory");
        return err;
    }
    char *tmp = dir_file(st->dir, "checkpoint.tmp"), *fin = dir_file(st->dir, "checkpoint");
    const char *what = "open";
    int r = -ENOMEM;
    if (tmp && fin) r = st->io->open(st->io->ud, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (r >= 0) {
        int fd = r;
        struct iovec v = {buf, len};
        what = "write";
        r = rmq_wal_io_pwritev_all(st->io, fd, &v, 1, 0);
        if (r == 0) {
            what = "fdatasync";
            r = st->io->fdatasync(st->io->ud, fd);
        }
        st->io->close(st->io->ud, fd);
        if (r == 0) {
            what = "rename";
            r = st->io->rename(st->io->ud, tmp, fin);
        }
        if (r == 0) {
            what = "fsync dir";
            r = fsync_dir(st);
        }
    }
    if (r < 0) snprintf(msg, msglen, "checkpoint %s: %s", what, strerror(-r));
    free(buf);
    free(tmp);
    free(fin);
    return r < 0 ? errno_to_err(r) : RMQ_NONE;
}

/* Mark the entries of reclaimed segment id as gone. Entries are appended in
 * segment order, so a stream's seg_ids never decrease along its index: a
 * binary search finds the segment's run, and the work (done on the writer
 * thread, under each stream's lock) is proportional to that run, not to
 * the stream's whole history. */
static void forget_segment(rmq_store_t *st, uint64_t id) {
    pthread_rwlock_rdlock(&st->map_mu);
    for (size_t b = 0; b < st->nbuckets; b++)
        for (stream_t *s = st->buckets[b]; s; s = s->hnext) {
            pthread_mutex_lock(&s->mu);
            size_t lo = s->head, hi = s->n;
            while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                if (s->idx[mid].seg_id < id) lo = mid + 1;
                else hi = mid;
            }
            for (size_t i = lo; i < s->n && s->idx[i].seg_id == id; i++) {
                s->idx[i].gone = true;
                blob_unref(s->idx[i].blob);
                s->idx[i].blob = NULL;
            }
            /* Entries no longer in the WAL are served from the object tier
             * (the manifest locates them), so a gone prefix leaves the index:
             * otherwise it grows by one entry per batch for the broker's
             * whole life (GBs per hour at 10k batches/s). Segments are
             * mostly reclaimed oldest first; an earlier one reclaimed late
             * sweeps the later gone runs with it. idx_push reuses the room. */
            while (s->head < s->n && s->idx[s->head].gone) s->head++;
            if (s->head == s->n) s->head = s->n = 0;
            pthread_mutex_unlock(&s->mu);
        }
    pthread_rwlock_unlock(&st->map_mu);
}

static void process_reclaims(rmq_store_t *st, reclaim_req_t *list) {
    char msg[256] = "";
    uint64_t ids[64];
    reclaim_req_t *reqs[64];
    size_t n = 0;
    rmq_err_t err = RMQ_NONE;
    if (st->dirty && st->wseg) { /* the checkpoint claims everything before it is durable */
        int r = do_fdatasync(st, st->wseg->fd);
        if (r < 0) {
            pthread_mutex_lock(&st->q_mu);
            set_ro_locked(st, "WAL %s failed: %s; the WAL is now read-only", "fdatasync", r);
            pthread_mutex_unlock(&st->q_mu);
            err = RMQ_ERR_IO;
        } else {
            st->dirty = false;
        }
    }
    while (list) {
        n = 0;
        reclaim_req_t *batch = list;
        reclaim_req_t *last = list;
        for (reclaim_req_t *r = list; r && n < 64; r = r->next) {
            reqs[n] = r;
            ids[n++] = r->seg_id;
            last = r;
        }
        list = last->next;
        rmq_err_t e = err;
        if (e == RMQ_NONE) e = write_checkpoint(st, ids, n, msg, sizeof(msg));
        if (e == RMQ_NONE) {
            for (size_t i = 0; i < n; i++) {
                pthread_mutex_lock(&st->cb_mu);
                pthread_mutex_lock(&st->q_mu);
                pthread_rwlock_wrlock(&st->seg_mu);
                seg_t *g = segtab_find(st, ids[i]);
                if (g) {
                    size_t k = 0;
                    while (st->segs[k] != g) k++;
                    memmove(st->segs + k, st->segs + k + 1, (st->nsegs - k - 1) * sizeof(*st->segs));
                    st->nsegs--;
                }
                pthread_rwlock_unlock(&st->seg_mu);
                pthread_mutex_unlock(&st->q_mu);
                pthread_mutex_unlock(&st->cb_mu);
                if (g) {
                    forget_segment(st, g->id);
                    /* Keep the file for reuse as a later spare: freeing a
                     * segment's blocks (on a filesystem mounted with
                     * discard, a synchronous DISCARD of the whole segment)
                     * stalled WAL fdatasyncs for ~25 ms per reclaim, and a
                     * fresh preallocated file costs a fallocate plus
                     * extent conversion on every later fdatasync. */
                    pthread_mutex_lock(&st->q_mu);
                    if (st->npool < st->pool_max && !st->ro && !st->stop && g->size == st->cfg.segment_size_bytes) {
                        st->pool[st->npool++] = g;
                        g = NULL;
                    }
                    pthread_mutex_unlock(&st->q_mu);
                    /* otherwise unlink + close go to the requester: the last
                     * close of a 128 MiB file drops its page cache and
                     * frees its blocks, which would stall the group commit */
                    if (g) reqs[i]->removed = g;
                }
            }
        } else {
            RMQ_WARN(SUB, "msg=\"reclaim failed\" err=%s detail=\"%s\"", rmq_err_name(e), msg);
        }
        pthread_mutex_lock(&st->q_mu);
        for (reclaim_req_t *r = batch;; r = r->next) {
            r->err = e;
            r->done = true;
            if (r == last) break;
        }
        pthread_cond_broadcast(&st->done_cond);
        pthread_cond_signal(&st->q_cond);
        pthread_cond_signal(&st->prep_cond); /* room freed, maybe a file pooled */
        pthread_mutex_unlock(&st->q_mu);
    }
}

static void flush_now(rmq_store_t *st) {
    if (!st->dirty || !st->wseg) return;
    int r = do_fdatasync(st, st->wseg->fd);
    if (r < 0) {
        pthread_mutex_lock(&st->q_mu);
        set_ro_locked(st, "WAL %s failed: %s; the WAL is now read-only", "fdatasync", r);
        pthread_mutex_unlock(&st->q_mu);
        RMQ_ERROR(SUB, "msg=\"WAL background flush failed, read-only\" err=\"%s\"", strerror(-r));
    }
    st->dirty = false;
}

/* Wait on c (with q_mu held) until woken, or until the monotonic deadline
 * (UINT64_MAX: no deadline; now: the clock read just before). */
static void cond_wait_until(rmq_store_t *st, pthread_cond_t *c, uint64_t deadline, uint64_t now) {
    if (deadline == UINT64_MAX) {
        pthread_cond_wait(c, &st->q_mu);
        return;
    }
    /* condvar uses CLOCK_REALTIME; convert the relative wait */
    struct timespec ts = rmq_cond_deadline_ns(deadline > now ? deadline - now : 0);
    pthread_cond_timedwait(c, &st->q_mu, &ts);
}

/* The preparer: makes the next spare segment whenever the current one was
 * taken (and there is room), so that its rename or preallocation and
 * directory fsync (5-7 ms on this machine's disk, at every segment switch)
 * run beside the group commit instead of in front of the appends queued
 * meanwhile. An append only waits for it when it fills the new segment
 * before the next one is ready (wait_spare). */
static void *preparer_main(void *arg) {
    rmq_store_t *st = arg;
    pthread_setname_np(pthread_self(), "rmq-wal-prep");
    pthread_mutex_lock(&st->q_mu);
    while (!st->stop) {
        uint64_t now = now_ns(st);
        uint64_t summary_at = slow_summary_at(st, true);
        if (now >= summary_at) {
            pthread_mutex_unlock(&st->q_mu);
            slow_summaries(st, true, now);
            pthread_mutex_lock(&st->q_mu);
            continue;
        }
        bool room = !st->spare && st->nsegs < st->max_files && !st->ro;
        if (room && (st->spare_err == RMQ_NONE || now >= st->spare_retry_ns)) {
            pthread_mutex_unlock(&st->q_mu);
            wal_mark_t m = wal_mark(st);
            uint64_t fill_ns;
            bool made = make_spare(st, &fill_ns);
            m.ns += fill_ns; /* the prefill is not a slow step: appends never wait for it */
            if (made) slow_step(st, SLOW_NEXT_SEGMENT, m);
            pthread_mutex_lock(&st->q_mu);
            continue;
        }
        uint64_t until = room ? st->spare_retry_ns : UINT64_MAX;
        cond_wait_until(st, &st->prep_cond, summary_at < until ? summary_at : until, now);
    }
    pthread_mutex_unlock(&st->q_mu);
    return NULL;
}

static void *writer_main(void *arg) {
    rmq_store_t *st = arg;
    pthread_setname_np(pthread_self(), "rmq-wal");
    rmq_sched_apply(&st->cfg.writer_sched, "rmq-wal");
    uint64_t interval = (uint64_t)(st->cfg.flush_interval_ms ? st->cfg.flush_interval_ms : 1) * 1000000ull;
    st->next_flush_ns = now_ns(st) + interval;
    for (;;) {
        pthread_mutex_lock(&st->q_mu);
        for (;;) {
            uint64_t now = now_ns(st);
            bool flush_due = !st->cfg.fsync_on_write && st->dirty && now >= st->next_flush_ns;
            uint64_t summary_at = slow_summary_at(st, false);
            if (st->qhead || st->reclaims || flush_due || st->stop || now >= summary_at) break;
            uint64_t until = !st->cfg.fsync_on_write && st->dirty ? st->next_flush_ns : UINT64_MAX;
            cond_wait_until(st, &st->q_cond, summary_at < until ? summary_at : until, now);
        }
        pend_t *list = st->qhead;
        wal_mark_t q_since = st->q_since;
        st->qhead = st->qtail = NULL;
        reclaim_req_t *rl = st->reclaims;
        st->reclaims = NULL;
        bool stopping = st->stop && !list && !rl;
        pthread_mutex_unlock(&st->q_mu);
        slow_summaries(st, false, now_ns(st));
        /* queued entries waited that long for the writer (busy with the
         * steps below in its last round, or not given a CPU); the synced
         * share is the writes the writer finished meanwhile */
        if (list) slow_step(st, SLOW_QUEUE_WAIT, q_since);
        wal_mark_t m = wal_mark(st);
        while (list) { /* a seal marker ends its group (see seal_active_now) */
            pend_t *rest = NULL;
            for (pend_t *p = list; p; p = p->next)
                if (p->type == PEND_SEAL) {
                    rest = p->next;
                    p->next = NULL;
                    break;
                }
            process_group(st, list);
            list = rest;
        }
        slow_step(st, SLOW_GROUP, m);
        if (rl) {
            m = wal_mark(st);
            process_reclaims(st, rl);
            slow_step(st, SLOW_RECLAIM, m);
        }
        m = wal_mark(st);
        if (!st->cfg.fsync_on_write && st->dirty && now_ns(st) >= st->next_flush_ns) {
            flush_now(st);
            st->next_flush_ns = now_ns(st) + interval;
        } else if (!st->dirty) {
            st->next_flush_ns = now_ns(st) + interval;
        }
        cache_evict(st);
        slow_step(st, SLOW_FLUSH_EVICT, m);
        if (stopping) break;
    }
    flush_now(st);
    return NULL;
}

/* ------------------------------------------------------------------ */
/* recovery                                                             */

typedef struct rec_ctx {
    rmq_store_t *st;
    bool have_ckpt;
    uint64_t pos_seg, pos_off;
    uint64_t entries, bytes;
    char *msg;
    size_t msglen;
} rec_ctx_t;

static void stream_reset(stream_t *s, uint32_t gen) {
    idx_clear(s);
    s->gen = gen;
    s->log_start = s->hw = s->next = 0;
}

/* Apply one valid entry found at (g, off). Single-threaded (open). */
static rmq_err_t rec_apply(rec_ctx_t *rc, seg_t *g, uint64_t off, const rmq_wal_hdr_t *h) {
    rmq_store_t *st = rc->st;
    bool pre = rc->have_ckpt && (g->id < rc->pos_seg || (g->id == rc->pos_seg && off < rc->pos_off));
    idx_ent_t e = {h->base_offset, h->record_count, h->len, h->max_ts, g->id, off, NULL, false};
    if (pre) { /* state already in the checkpoint: only learn locations */
        if (h->type != RMQ_WAL_DATA) return RMQ_NONE;
        stream_t *s = map_find(st, h->stream_id);
        int64_t end = h->base_offset + h->record_count;
        if (!s || h->gen != s->gen || end <= s->log_start || end > s->hw) return RMQ_NONE;
        if (s->n > s->head && s->idx[s->n - 1].base + s->idx[s->n - 1].count > h->base_offset) return RMQ_NONE;
        return idx_push(s, &e);
    }
    stream_t *s = map_insert_locked(st, h->stream_id);
    if (!s) return RMQ_ERR_NOMEM;
    switch (h->type) {
    case RMQ_WAL_DATA:
        if (h->gen < s->gen) return RMQ_NONE; /* queued before a delete */
        if (h->gen > s->gen) stream_reset(s, h->gen);
        if (h->base_offset != s->hw) {
            snprintf(rc->msg, rc->msglen,
                     "stream %" PRIu64 ": entry at segment %" PRIu64 " offset %" PRIu64 " has base offset %" PRId64
                     ", expected %" PRId64 " (gap or overlap in durable data)",
                     h->stream_id, g->id, off, h->base_offset, s->hw);
            return RMQ_ERR_CORRUPT;
        }
        s->hw = s->next = h->base_offset + h->record_count;
        s->deleted = false;
        return idx_push(s, &e);
    case RMQ_WAL_TRIM:
        if (h->gen != s->gen) return RMQ_NONE;
        if (h->base_offset > s->hw) {
            snprintf(rc->msg, rc->msglen, "stream %" PRIu64 ": trim to %" PRId64 " beyond end %" PRId64,
                     h->stream_id, h->base_offset, s->hw);
            return RMQ_ERR_CORRUPT;
        }
        if (h->base_offset > s->log_start) {
            s->log_start = h->base_offset;
            idx_trim_front(s);
        }
        return RMQ_NONE;
    case RMQ_WAL_DELETE:
        if (h->gen > s->gen) {
            stream_reset(s, h->gen);
            s->deleted = true;
        }
        return RMQ_NONE;
    }
    return RMQ_ERR_CORRUPT;
}

typedef struct scanbuf {
    uint8_t *p;
    size_t cap;
    uint64_t off; /* file offset of p[0] */
    size_t len;
} scanbuf_t;

static rmq_err_t scan_fill(rmq_store_t *st, seg_t *g, scanbuf_t *b, uint64_t off, size_t need, char *msg, size_t ml) {
    if (need > b->cap) {
        uint8_t *np = realloc(b->p, need);
        if (!np) return RMQ_ERR_NOMEM;
        b->p = np;
        b->cap = need;
    }
    size_t n = b->cap;
    if (n > g->size - off) n = (size_t)(g->size - off);
    int r = rmq_wal_io_pread_all(st->io, g->fd, b->p, n, (off_t)off);
    if (r < 0) {
        snprintf(msg, ml, "read %s at %" PRIu64 ": %s", g->path, off, strerror(-r));
        return RMQ_ERR_IO;
    }
    b->off = off;
    b->len = n;
    return RMQ_NONE;
}

/* Scan one segment up to its first invalid entry; *stop = where it ended. */
static rmq_err_t rec_scan(rec_ctx_t *rc, seg_t *g, scanbuf_t *b, uint64_t *stop) {
    uint64_t off = 0;
    b->len = 0;
    b->off = 0;
    rmq_err_t err = RMQ_NONE;
    while (off + RMQ_WAL_HDR <= g->size) {
        if (off < b->off || off + RMQ_WAL_HDR > b->off + b->len) {
            err = scan_fill(rc->st, g, b, off, RMQ_WAL_HDR, rc->msg, rc->msglen);
            if (err) return err;
        }
        const uint8_t *hp = b->p + (off - b->off);
        rmq_wal_hdr_t h;
        if (rmq_wal_hdr_decode(hp, g->id, g->size - off - RMQ_WAL_HDR, &h) != RMQ_NONE) break;
        uint64_t need = RMQ_WAL_HDR + (uint64_t)h.len;
        if (off + need > b->off + b->len) {
            err = scan_fill(rc->st, g, b, off, (size_t)need, rc->msg, rc->msglen);
            if (err) return err;
            hp = b->p;
        }
        if (!rmq_wal_hdr_crc_ok(hp, hp + RMQ_WAL_HDR, h.len)) break;
        err = rec_apply(rc, g, off, &h);
        if (err) return err;
        rmq_store_seg_entry_t se = {h.stream_id, h.gen, h.base_offset, h.record_count, h.max_ts, h.type, off, h.len};
        if (seg_add_ent(g, &se) != RMQ_NONE) return RMQ_ERR_NOMEM;
        rc->entries++;
        rc->bytes += need;
        off += need;
    }
    *stop = off;
    return RMQ_NONE;
}

/* Zero [from, size) of the tail segment so no stale bytes of a torn write
 * can ever line up behind newer entries, then make it durable. */
static rmq_err_t zero_tail(rmq_store_t *st, seg_t *g, uint64_t from, char *msg, size_t ml) {
    if (from >= g->size) return RMQ_NONE;
    int r = st->io->fallocate(st->io->ud, g->fd, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, (off_t)from,
                              (off_t)(g->size - from));
    if (r == -EOPNOTSUPP || r == -EINVAL || r == -ENOSYS) {
        static const uint8_t zeros[65536];
        r = 0;
        for (uint64_t o = from; o < g->size && r == 0;) {
            size_t n = g->size - o < sizeof(zeros) ? (size_t)(g->size - o) : sizeof(zeros);
            struct iovec v = {(void *)zeros, n};
            r = rmq_wal_io_pwritev_all(st->io, g->fd, &v, 1, (off_t)o);
            o += n;
        }
    }
    if (r == 0) r = st->io->fdatasync(st->io->ud, g->fd);
    if (r < 0) {
        snprintf(msg, ml, "truncate torn tail of %s: %s", g->path, strerror(-r));
        return errno_to_err(r);
    }
    return RMQ_NONE;
}

typedef struct name_list {
    uint64_t *ids;
    size_t n, cap;
    bool has_ckpt, has_tmp, oom;
} name_list_t;

static void collect_name(void *arg, const char *name) {
    name_list_t *nl = arg;
    if (strcmp(name, "checkpoint") == 0) {
        nl->has_ckpt = true;
        return;
    }
    if (strcmp(name, "checkpoint.tmp") == 0) {
        nl->has_tmp = true;
        return;
    }
    unsigned long long id;
    char tail[8];
    if (strlen(name) != 24 || sscanf(name, "wal-%16llx%7s", &id, tail) != 2 || strcmp(tail, ".seg") != 0) return;
    if (nl->n == nl->cap) {
        size_t nc = nl->cap ? nl->cap * 2 : 32;
        uint64_t *ni = realloc(nl->ids, nc * sizeof(uint64_t));
        if (!ni) {
            nl->oom = true;
            return;
        }
        nl->ids = ni;
        nl->cap = nc;
    }
    nl->ids[nl->n++] = id;
}

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static rmq_err_t read_checkpoint(rmq_store_t *st, rmq_wal_ckpt_t *c, char *msg, size_t ml) {
    char *path = dir_file(st->dir, "checkpoint");
    if (!path) return RMQ_ERR_NOMEM;
    int fd = st->io->open(st->io->ud, path, O_RDONLY | O_CLOEXEC, 0);
    free(path);
    if (fd < 0) {
        snprintf(msg, ml, "open checkpoint: %s", strerror(-fd));
        return RMQ_ERR_IO;
    }
    int64_t sz = st->io->fsize(st->io->ud, fd);
    rmq_err_t err = RMQ_NONE;
    uint8_t *buf = NULL;
    if (sz < 0 || sz > (1ll << 32)) {
        snprintf(msg, ml, "checkpoint: bad size");
        err = RMQ_ERR_CORRUPT;
    } else if (!(buf = malloc(sz ? (size_t)sz : 1))) {
        err = RMQ_ERR_NOMEM;
    } else {
        int r = rmq_wal_io_pread_all(st->io, fd, buf, (size_t)sz, 0);
        if (r < 0) {
            snprintf(msg, ml, "read checkpoint: %s", strerror(-r));
            err = RMQ_ERR_IO;
        } else {
            err = rmq_wal_ckpt_decode(buf, (size_t)sz, c);
            if (err) snprintf(msg, ml, "checkpoint is corrupt: %s", rmq_err_name(err));
        }
    }
    free(buf);
    st->io->close(st->io->ud, fd);
    return err;
}

static rmq_err_t recover(rmq_store_t *st, char *msg, size_t ml) {
    uint64_t t0 = now_ns(st);
    name_list_t nl = {0};
    int r = st->io->list(st->io->ud, st->dir, collect_name, &nl);
    if (r < 0 || nl.oom) {
        free(nl.ids);
        snprintf(msg, ml, "list %s: %s", st->dir, r < 0 ? strerror(-r) : "out of memory");
        return r < 0 ? RMQ_ERR_IO : RMQ_ERR_NOMEM;
    }
    if (nl.has_tmp) {
        char *tmp = dir_file(st->dir, "checkpoint.tmp");
        if (tmp) st->io->unlink(st->io->ud, tmp);
        free(tmp);
    }
    rec_ctx_t rc = {.st = st, .msg = msg, .msglen = ml};
    rmq_wal_ckpt_t c = {0};
    rmq_err_t err = RMQ_NONE;
    if (nl.has_ckpt) {
        err = read_checkpoint(st, &c, msg, ml);
        if (err) {
            free(nl.ids);
            return err;
        }
        rc.have_ckpt = true;
        rc.pos_seg = c.pos_seg;
        rc.pos_off = c.pos_off;
        for (uint32_t i = 0; i < c.n_streams; i++) {
            stream_t *s = map_insert_locked(st, c.streams[i].id);
            if (!s) {
                err = RMQ_ERR_NOMEM;
                break;
            }
            s->gen = c.streams[i].gen;
            s->log_start = c.streams[i].log_start;
            s->hw = s->next = c.streams[i].end;
            s->deleted = s->gen > 0 && s->hw == 0;
        }
    }
    if (nl.n) qsort(nl.ids, nl.n, sizeof(uint64_t), cmp_u64);
    uint64_t max_id = 0;
    if (rc.have_ckpt && c.low_water > 0) max_id = c.low_water - 1;
    for (uint32_t i = 0; i < c.n_reclaimed; i++)
        if (c.reclaimed[i] > max_id) max_id = c.reclaimed[i];
    scanbuf_t sb = {0};
    sb.cap = (size_t)(st->cfg.segment_size_bytes < (4u << 20) ? st->cfg.segment_size_bytes : (4u << 20));
    sb.p = malloc(sb.cap);
    if (!sb.p) err = RMQ_ERR_NOMEM;
    seg_t *tail = NULL;
    uint64_t tail_stop = 0;
    for (size_t i = 0; i < nl.n && err == RMQ_NONE; i++) {
        uint64_t id = nl.ids[i];
        if (id == 0) continue;
        if (id > max_id) max_id = id;
        char *path = seg_path(st->dir, id);
        if (!path) {
            err = RMQ_ERR_NOMEM;
            break;
        }
        bool reclaimed = rc.have_ckpt && id < c.low_water;
        for (uint32_t k = 0; k < c.n_reclaimed; k++) reclaimed |= c.reclaimed[k] == id;
        if (reclaimed) { /* crash between checkpoint and unlink */
            st->io->unlink(st->io->ud, path);
            free(path);
            continue;
        }
        seg_t *g = calloc(1, sizeof(*g));
        if (!g) {
            free(path);
            err = RMQ_ERR_NOMEM;
            break;
        }
        g->id = id;
        g->path = path;
        g->wfd = -1;
        g->fd = st->io->open(st->io->ud, path, O_RDWR | O_CLOEXEC, 0);
        int64_t sz = g->fd >= 0 ? st->io->fsize(st->io->ud, g->fd) : g->fd;
        if (g->fd < 0 || sz < 0) {
            snprintf(msg, ml, "open %s: %s", path, strerror((int)-(g->fd < 0 ? g->fd : sz)));
            seg_free(st, g);
            err = RMQ_ERR_IO;
            break;
        }
        g->size = (uint64_t)sz;
        uint64_t stop = 0;
        err = rec_scan(&rc, g, &sb, &stop);
        atomic_store(&g->used, stop);
        if (err == RMQ_NONE) err = segtab_add(st, g);
        if (err) {
            seg_free(st, g);
            break;
        }
        if (g->nents > 0 || !tail) {
            tail = g;
            tail_stop = stop;
        }
    }
    free(sb.p);
    free(nl.ids);
    st->next_seg_id = max_id + 1;
    /* segments after the tail never received a valid entry: remove them */
    while (err == RMQ_NONE && st->nsegs > 0 && st->segs[st->nsegs - 1] != tail) {
        seg_t *g = st->segs[--st->nsegs];
        st->io->unlink(st->io->ud, g->path);
        seg_free(st, g);
    }
    if (err == RMQ_NONE && rc.have_ckpt && tail &&
        (rc.pos_seg > tail->id || (rc.pos_seg == tail->id && rc.pos_off > tail_stop))) {
        /* durable data before the checkpoint position is missing */
        if (!(rc.pos_off == 0 && rc.pos_seg > tail->id)) {
            snprintf(msg, ml, "WAL ends at segment %" PRIu64 " offset %" PRIu64 " before checkpoint position %" PRIu64
                              "/%" PRIu64, tail->id, tail_stop, rc.pos_seg, rc.pos_off);
            err = RMQ_ERR_CORRUPT;
        }
    }
    for (size_t i = 0; i < st->nsegs && err == RMQ_NONE; i++)
        if (st->segs[i] != tail) st->segs[i]->sealed = true;
    if (err == RMQ_NONE && tail) {
        /* A checkpoint at the start of a later segment means the tail was
         * sealed (rmq_store_seal_active) before that segment got an entry. */
        bool sealed_by_ckpt = rc.have_ckpt && rc.pos_off == 0 && rc.pos_seg > tail->id;
        if ((tail->size != st->cfg.segment_size_bytes || sealed_by_ckpt) && tail_stop > 0) {
            /* segment size changed, or sealed: seal the old tail, start a new one */
            tail->sealed = true;
            tail = NULL;
        } else if (st->cfg.direct_io && tail->size % DIO_ALIGN != 0) {
            snprintf(msg, ml, "tail segment %s: size %" PRIu64 " is not a multiple of %u (wal.direct_io)",
                     tail->path, tail->size, DIO_ALIGN);
            err = RMQ_ERR_CONFIG;
        } else {
            err = zero_tail(st, tail, tail_stop, msg, ml);
            if (err == RMQ_NONE && st->cfg.direct_io) {
                int r = seg_open_direct(st, tail);
                if (r < 0) {
                    snprintf(msg, ml, "open %s with O_DIRECT: %s; set wal.direct_io = false", tail->path,
                             strerror(-r));
                    err = r == -EINVAL ? RMQ_ERR_UNSUPPORTED : RMQ_ERR_IO;
                }
            }
        }
    }
    if (err == RMQ_NONE && !tail) {
        if (tail_stop == 0 && st->nsegs > 0 && st->segs[st->nsegs - 1]->nents == 0 &&
            st->segs[st->nsegs - 1]->size != st->cfg.segment_size_bytes) {
            seg_t *g = st->segs[--st->nsegs];
            st->io->unlink(st->io->ud, g->path);
            seg_free(st, g);
        }
        /* the writer starts in this one at once: seg_create prefills it
         * before the preparer and the writer exist (nothing stops it early) */
        uint64_t fill_ns;
        err = seg_create(st, st->next_seg_id, &tail, &fill_ns, msg, ml);
        if (err == RMQ_NONE) {
            st->next_seg_id++;
            err = segtab_add(st, tail);
            if (err) seg_free(st, tail);
        }
        tail_stop = 0;
    }
    if (err == RMQ_NONE) {
        st->cur = tail;
        st->assign_off = tail_stop;
        st->wseg = tail;
        atomic_store(&tail->used, tail_stop);
        /* a checkpoint position beyond the (possibly new) tail would make
         * future entries look older than the checkpoint: rewrite it */
        if (rc.have_ckpt && (rc.pos_seg > tail->id || (rc.pos_seg == tail->id && rc.pos_off > tail_stop)))
            err = write_checkpoint(st, NULL, 0, msg, ml);
    }
    rmq_wal_ckpt_free(&c);
    if (err) return err;
    st->recovery_ms = (now_ns(st) - t0) / 1000000ull;
    RMQ_INFO(SUB,
             "msg=\"WAL recovered\" dir=%s segments=%zu entries=%" PRIu64 " bytes=%" PRIu64
             " streams=%zu tail_segment=%" PRIu64 " tail_offset=%" PRIu64 " checkpoint=%s duration_ms=%.3f",
             st->dir, st->nsegs, rc.entries, rc.bytes, st->nstreams, st->cur->id, tail_stop,
             rc.have_ckpt ? "yes" : "no", (double)(now_ns(st) - t0) / 1e6);
    return RMQ_NONE;
}

/* ------------------------------------------------------------------ */
/* open / close                                                         */

static void store_free(rmq_store_t *st) {
    if (st->buckets) {
        for (size_t b = 0; b < st->nbuckets; b++) {
            stream_t *s = st->buckets[b];
            while (s) {
                stream_t *nx = s->hnext;
                idx_clear(s);
                free(s->idx);
                pthread_mutex_destroy(&s->mu);
                free(s);
                s = nx;
            }
        }
    }
    free(st->buckets);
    for (size_t i = 0; i < st->npool; i++) seg_free(st, st->pool[i]); /* reclaimed: the next recovery removes them */
#ifdef RMQ_HAVE_URING
    if (st->ring_ok) io_uring_queue_exit(&st->ring);
#endif
    free(st->abuf);
    free(st->pblk);
    free(st->prefill_zeros);
    for (size_t i = 0; i < st->nsegs; i++) seg_free(st, st->segs[i]);
    free(st->segs);
    for (size_t i = 0; i < st->fifo_n; i++) blob_unref(st->fifo[(st->fifo_head + i) % st->fifo_cap].blob);
    free(st->fifo);
    pthread_rwlock_destroy(&st->map_mu);
    pthread_rwlock_destroy(&st->seg_mu);
    pthread_mutex_destroy(&st->q_mu);
    pthread_cond_destroy(&st->q_cond);
    pthread_cond_destroy(&st->done_cond);
    pthread_cond_destroy(&st->prep_cond);
    pthread_mutex_destroy(&st->cache_mu);
    pthread_mutex_destroy(&st->cb_mu);
    free(st->dir);
    free(st);
}

rmq_err_t rmq_store_open(const rmq_store_config_t *cfg, const rmq_wal_io_t *io, rmq_store_t **out,
                         char *errbuf, size_t errlen) {
    char tmpbuf[256];
    if (!errbuf || errlen == 0) {
        errbuf = tmpbuf;
        errlen = sizeof(tmpbuf);
    }
    errbuf[0] = 0;
    *out = NULL;
    if (!cfg || !cfg->dir || !cfg->dir[0]) {
        snprintf(errbuf, errlen, "storage: dir is not set");
        return RMQ_ERR_CONFIG;
    }
    if (cfg->segment_size_bytes < 4096 || cfg->segment_size_bytes > (1ull << 40)) {
        snprintf(errbuf, errlen, "storage: segment_size_bytes must be between 4 KiB and 1 TiB");
        return RMQ_ERR_CONFIG;
    }
    if (cfg->capacity_bytes / cfg->segment_size_bytes < 2) {
        snprintf(errbuf, errlen, "storage: capacity_bytes must hold at least 2 segments");
        return RMQ_ERR_CONFIG;
    }
    if (cfg->direct_io && cfg->segment_size_bytes % DIO_ALIGN != 0) {
        snprintf(errbuf, errlen, "storage: wal.direct_io needs segment_size_bytes to be a multiple of %u",
                 DIO_ALIGN);
        return RMQ_ERR_CONFIG;
    }
#ifndef RMQ_HAVE_URING
    if (cfg->io_uring) {
        snprintf(errbuf, errlen, "storage: wal.io_uring = true but this build has no liburing; "
                                 "set wal.io_uring = false");
        return RMQ_ERR_UNSUPPORTED;
    }
#endif
    rmq_store_t *st = calloc(1, sizeof(*st));
    if (!st) return RMQ_ERR_NOMEM;
    st->cfg = *cfg;
    st->dir = strdup(cfg->dir);
    st->cfg.dir = st->dir;
    st->io = io ? io : rmq_wal_io_default();
    st->dsync_off = st->io->pwritev_dsync == NULL;
    st->clock = cfg->clock ? cfg->clock : rmq_clock_system();
    st->max_files = cfg->capacity_bytes / cfg->segment_size_bytes;
    st->pool_max = st->max_files / 2 < WAL_POOL_MAX ? st->max_files / 2 : WAL_POOL_MAX;
    if (st->pool_max < 1) st->pool_max = 1;
    st->nbuckets = 1024;
    st->buckets = calloc(st->nbuckets, sizeof(*st->buckets));
    pthread_rwlock_init(&st->map_mu, NULL);
    pthread_rwlock_init(&st->seg_mu, NULL);
    pthread_mutex_init(&st->q_mu, NULL);
    pthread_cond_init(&st->q_cond, NULL);
    pthread_cond_init(&st->done_cond, NULL);
    pthread_cond_init(&st->prep_cond, NULL);
    pthread_mutex_init(&st->cache_mu, NULL);
    pthread_mutex_init(&st->cb_mu, NULL);
    if (cfg->direct_io && posix_memalign((void **)&st->pblk, DIO_ALIGN, DIO_ALIGN) != 0) st->pblk = NULL;
    if (!st->dir || !st->buckets || (cfg->direct_io && !st->pblk)) {
        store_free(st);
        return RMQ_ERR_NOMEM;
    }
#ifdef RMQ_HAVE_URING
    if (cfg->io_uring) {
        int r = io_uring_queue_init(RING_DEPTH, &st->ring, 0);
        int hr = uring_hook(st, RMQ_WAL_URING_INIT, -1, r);
        if (r == 0 && hr < 0) io_uring_queue_exit(&st->ring);
        if (hr < 0) {
            snprintf(errbuf, errlen,
                     "storage: wal.io_uring = true but io_uring_queue_init failed: %s (io_uring blocked by "
                     "seccomp, a container runtime or kernel.io_uring_disabled?); set wal.io_uring = false to use "
                     "pwritev + fdatasync",
                     strerror(-hr));
            store_free(st);
            return RMQ_ERR_UNSUPPORTED;
        }
        st->ring_ok = true;
    }
#endif
    if (st->io == rmq_wal_io_default() && mkdir(st->dir, 0755) < 0 && errno != EEXIST) {
        snprintf(errbuf, errlen, "storage: mkdir %s: %s", st->dir, strerror(errno));
        store_free(st);
        return RMQ_ERR_IO;
    }
    rmq_err_t err = recover(st, errbuf, errlen);
    if (err) {
        store_free(st);
        return err;
    }
    if (pthread_create(&st->writer, NULL, writer_main, st) != 0) {
        snprintf(errbuf, errlen, "storage: cannot start the WAL writer thread");
        store_free(st);
        return RMQ_ERR_NOMEM;
    }
    st->writer_started = true;
    if (pthread_create(&st->preparer, NULL, preparer_main, st) != 0) {
        snprintf(errbuf, errlen, "storage: cannot start the WAL segment preparer thread");
        rmq_store_close(st); /* stops and joins the writer, frees st */
        return RMQ_ERR_NOMEM;
    }
    st->preparer_started = true;
    *out = st;
    return RMQ_NONE;
}

void rmq_store_close(rmq_store_t *st) {
    if (!st) return;
    pthread_mutex_lock(&st->q_mu);
    st->stop = true;
    pthread_cond_broadcast(&st->q_cond);
    pthread_cond_broadcast(&st->done_cond);
    pthread_cond_broadcast(&st->prep_cond);
    pthread_mutex_unlock(&st->q_mu);
    if (st->preparer_started) pthread_join(st->preparer, NULL);
    if (st->writer_started) pthread_join(st->writer, NULL);
    if (st->spare && st->spare->nents == 0) {
        /* keep it: a preallocated empty segment is harmless and recovery
         * removes it if unused */
    }
    store_free(st);
}

/* ------------------------------------------------------------------ */
/* reads                                                                */

typedef struct rd_item {
    blob_t *blob; /* cache hit (a reference) or NULL */
    uint64_t seg_id, file_off;
    int64_t base;
    int32_t count;
    uint32_t len;
    uint32_t gen;
} rd_item_t;

void rmq_store_read_release(rmq_store_read_t *r) {
    if (!r) return;
    for (size_t i = 0; i < r->nrefs_; i++) blob_unref(r->refs_[i]);
    free(r->refs_);
    free(r->iov);
    memset(r, 0, sizeof(*r));
}

/* Read one entry from its segment into a new blob; verifies it. */
static rmq_err_t read_from_wal(rmq_store_t *st, uint64_t stream_id, const rd_item_t *it, blob_t **out) {
    blob_t *b = blob_new(it->len);
    if (!b) return RMQ_ERR_NOMEM;
    rmq_err_t err = RMQ_NONE;
    pthread_rwlock_rdlock(&st->seg_mu);
    seg_t *g = segtab_find(st, it->seg_id);
    if (!g) err = RMQ_ERR_NOT_FOUND;
    else if (rmq_wal_io_pread_all(st->io, g->fd, b->data, RMQ_WAL_HDR + (size_t)it->len, (off_t)it->file_off) < 0)
        err = RMQ_ERR_IO;
    pthread_rwlock_unlock(&st->seg_mu);
    if (err == RMQ_NONE) {
        rmq_wal_hdr_t h;
        if (rmq_wal_hdr_decode(b->data, it->seg_id, it->len, &h) != RMQ_NONE || h.len != it->len ||
            h.stream_id != stream_id || h.base_offset != it->base || h.type != RMQ_WAL_DATA ||
            !rmq_wal_hdr_crc_ok(b->data, b->data + RMQ_WAL_HDR, h.len))
            err = RMQ_ERR_CORRUPT;
    }
    if (err) {
        free(b);
        if (err == RMQ_ERR_CORRUPT)
            RMQ_ERROR(SUB, "msg=\"WAL entry failed verification on read\" stream=%" PRIu64 " segment=%" PRIu64
                           " offset=%" PRIu64, stream_id, it->seg_id, it->file_off);
        return err;
    }
    *out = b;
    return RMQ_NONE;
}

/* rmq_store_read (min_one: the first batch even if it exceeds max_bytes)
 * and rmq_store_read_within (!min_one: only batches that fit). Inlined
 * into both with a constant flag: the budget test stays one comparison. */
static inline __attribute__((always_inline)) rmq_err_t
store_read(rmq_store_t *st, uint64_t stream_id, int64_t offset, size_t max_bytes, bool min_one, rmq_store_read_t *out) {
    memset(out, 0, sizeof(*out));
    stream_t *s = stream_lookup(st, stream_id);
    if (!s) {
        out->next_offset = 0;
        return offset == 0 ? RMQ_NONE : RMQ_OFFSET_OUT_OF_RANGE;
    }
    pthread_mutex_lock(&s->mu);
    out->log_start = s->log_start;
    out->high_watermark = s->hw;
    out->next_offset = offset;
    if (offset < s->log_start || offset > s->hw) {
        pthread_mutex_unlock(&s->mu);
        return RMQ_OFFSET_OUT_OF_RANGE;
    }
    if (offset == s->hw) {
        pthread_mutex_unlock(&s->mu);
        return RMQ_NONE;
    }
    size_t i = idx_search(s, offset);
    size_t cnt = 0;
    size_t bytes = 0;
    int64_t expect = -1;
    bool over = false; /* stopped by max_bytes */
    for (size_t k = i; k < s->n; k++) {
        const idx_ent_t *e = &s->idx[k];
        if (e->base + e->count > s->hw || e->gone) break;
        if (k == i ? e->base > offset : e->base != expect) break;
        if ((cnt > 0 || !min_one) && bytes + e->len > max_bytes) {
            over = true;
            break;
        }
        bytes += e->len;
        expect = e->base + e->count;
        cnt++;
    }
    if (cnt == 0) {
        pthread_mutex_unlock(&s->mu);
        /* the first batch is local but larger than max_bytes (!min_one):
         * an empty result; otherwise it is not in the local WAL: object tier */
        return over ? RMQ_NONE : RMQ_ERR_NOT_FOUND;
    }
    rd_item_t stackit[32];
    rd_item_t *items = cnt <= 32 ? stackit : malloc(cnt * sizeof(*items));
    out->iov = malloc(cnt * sizeof(*out->iov));
    out->refs_ = malloc(cnt * sizeof(void *));
    if (!items || !out->iov || !out->refs_) {
        pthread_mutex_unlock(&s->mu);
        if (items != stackit) free(items);
        rmq_store_read_release(out);
        return RMQ_ERR_NOMEM;
    }
    uint32_t gen = s->gen;
    for (size_t k = 0; k < cnt; k++) {
        const idx_ent_t *e = &s->idx[i + k];
        items[k] = (rd_item_t){e->blob ? blob_ref(e->blob) : NULL, e->seg_id, e->file_off, e->base, e->count,
                               e->len, gen};
    }
    pthread_mutex_unlock(&s->mu);
    rmq_err_t err = RMQ_NONE;
    size_t k = 0;
    for (; k < cnt; k++) {
        blob_t *b = items[k].blob;
        if (!b) {
            err = read_from_wal(st, stream_id, &items[k], &b);
            if (err) break;
        }
        out->refs_[out->nrefs_++] = b;
        out->iov[out->iovcnt].iov_base = b->data + RMQ_WAL_HDR;
        out->iov[out->iovcnt].iov_len = b->len;
        out->iovcnt++;
        out->bytes += b->len;
        out->next_offset = items[k].base + items[k].count;
    }
    for (size_t q = k; q < cnt; q++) blob_unref(items[q].blob);
    if (items != stackit) free(items);
    if (err && out->iovcnt == 0) {
        rmq_store_read_release(out);
        out->next_offset = offset;
        return err;
    }
    return RMQ_NONE; /* a later batch failing only shortens the result */
}

rmq_err_t rmq_store_read(rmq_store_t *st, uint64_t stream_id, int64_t offset, size_t max_bytes,
                         rmq_store_read_t *out) {
    return store_read(st, stream_id, offset, max_bytes, true, out);
}

rmq_err_t rmq_store_read_within(rmq_store_t *st, uint64_t stream_id, int64_t offset, size_t max_bytes,
                                rmq_store_read_t *out) {
    return store_read(st, stream_id, offset, max_bytes, false, out);
}

/* ------------------------------------------------------------------ */
/* stream operations                                                    */

rmq_err_t rmq_store_stream_info(rmq_store_t *st, uint64_t stream_id, int64_t *log_start, int64_t *high_watermark,
                                int64_t *log_end) {
    int64_t a = 0, b = 0, c = 0;
    stream_t *s = stream_lookup(st, stream_id);
    if (s) {
        pthread_mutex_lock(&s->mu);
        a = s->log_start;
        b = s->hw;
        c = s->next;
        pthread_mutex_unlock(&s->mu);
    }
    if (log_start) *log_start = a;
    if (high_watermark) *high_watermark = b;
    if (log_end) *log_end = c;
    return RMQ_NONE;
}

rmq_err_t rmq_store_stream_wal_start(rmq_store_t *st, uint64_t stream_id, int64_t *wal_start) {
    *wal_start = 0;
    stream_t *s = stream_lookup(st, stream_id);
    if (!s) return RMQ_NONE;
    pthread_mutex_lock(&s->mu);
    int64_t ws = s->hw;
    for (size_t k = s->n; k > s->head; k--) {
        const idx_ent_t *e = &s->idx[k - 1];
        if (e->base + e->count > s->hw) continue; /* not durable yet */
        if (e->gone || e->base + e->count != ws) break;
        ws = e->base;
    }
    *wal_start = ws < s->log_start ? s->log_start : ws;
    pthread_mutex_unlock(&s->mu);
    return RMQ_NONE;
}

rmq_err_t rmq_store_offset_for_timestamp(rmq_store_t *st, uint64_t stream_id, int64_t ts, int64_t *offset) {
    *offset = -1;
    stream_t *s = stream_lookup(st, stream_id);
    if (!s) return RMQ_NONE;
    pthread_mutex_lock(&s->mu);
    for (size_t k = s->head; k < s->n; k++) {
        const idx_ent_t *e = &s->idx[k];
        if (e->base + e->count > s->hw) break;
        if (e->gone) continue; /* reclaimed out of order: the manifest's */
        if (e->max_ts >= ts) {
            *offset = e->base < s->log_start ? s->log_start : e->base;
            break;
        }
    }
    pthread_mutex_unlock(&s->mu);
    return RMQ_NONE;
}

static pend_t *control_pend(stream_t *s, uint8_t type, waiter_t *w) {
    pend_t *p = calloc(1, sizeof(*p));
    if (!p) return NULL;
    p->blob = blob_new(0);
    if (!p->blob) {
        free(p);
        return NULL;
    }
    p->s = s;
    p->type = type;
    p->cb = waiter_cb;
    p->ud = w;
    return p;
}

rmq_err_t rmq_store_trim(rmq_store_t *st, uint64_t stream_id, int64_t new_log_start) {
    stream_t *s = stream_lookup(st, stream_id);
    if (!s) return new_log_start <= 0 ? RMQ_NONE : RMQ_OFFSET_OUT_OF_RANGE;
    waiter_t w;
    waiter_init(&w);
    pend_t *p = control_pend(s, RMQ_WAL_TRIM, &w);
    if (!p) return RMQ_ERR_NOMEM;
    int64_t want = new_log_start;
retry:
    pthread_mutex_lock(&s->mu);
    new_log_start = want < 0 ? s->hw : want;
    rmq_err_t err = RMQ_NONE;
    if (new_log_start > s->hw) err = RMQ_OFFSET_OUT_OF_RANGE;
    else if (new_log_start <= s->log_start) err = -1; /* nothing to do */
    if (err == RMQ_NONE) {
        p->base = new_log_start;
        p->gen = s->gen;
        err = enqueue(st, p, NULL, NULL);
        if (err == RMQ_NONE) {
            s->log_start = new_log_start;
            idx_trim_front(s);
        }
    }
    pthread_mutex_unlock(&s->mu);
    if (err == RMQ_ERR_AGAIN) {
        wait_spare(st);
        goto retry;
    }
    if (err != RMQ_NONE) {
        blob_unref(p->blob);
        free(p);
        return err == -1 ? RMQ_NONE : err;
    }
    return waiter_wait(&w);
}

rmq_err_t rmq_store_stream_delete(rmq_store_t *st, uint64_t stream_id) {
    stream_t *s = stream_lookup(st, stream_id);
    if (!s) return RMQ_NONE;
    waiter_t w;
    waiter_init(&w);
    pend_t *p = control_pend(s, RMQ_WAL_DELETE, &w);
    if (!p) return RMQ_ERR_NOMEM;
    rmq_err_t err;
    for (;;) {
        pthread_mutex_lock(&s->mu);
        uint32_t gen = s->gen + 1;
        p->gen = gen;
        err = enqueue(st, p, NULL, NULL); /* on success p belongs to the writer */
        if (err == RMQ_NONE) {
            stream_reset(s, gen);
            s->deleted = true;
        }
        pthread_mutex_unlock(&s->mu);
        if (err != RMQ_ERR_AGAIN) break;
        wait_spare(st);
    }
    if (err != RMQ_NONE) {
        blob_unref(p->blob);
        free(p);
        return err;
    }
    return waiter_wait(&w);
}

rmq_err_t rmq_store_list_streams(rmq_store_t *st, uint64_t **ids, size_t *n) {
    *ids = NULL;
    *n = 0;
    pthread_rwlock_rdlock(&st->map_mu);
    uint64_t *v = malloc((st->nstreams ? st->nstreams : 1) * sizeof(uint64_t));
    if (!v) {
        pthread_rwlock_unlock(&st->map_mu);
        return RMQ_ERR_NOMEM;
    }
    size_t k = 0;
    for (size_t b = 0; b < st->nbuckets; b++)
        for (stream_t *s = st->buckets[b]; s; s = s->hnext) {
            pthread_mutex_lock(&s->mu);
            if (!s->deleted) v[k++] = s->id;
            pthread_mutex_unlock(&s->mu);
        }
    pthread_rwlock_unlock(&st->map_mu);
    *ids = v;
    *n = k;
    return RMQ_NONE;
}

rmq_err_t rmq_store_sync(rmq_store_t *st) {
    waiter_t w;
    waiter_init(&w);
    pend_t *p = calloc(1, sizeof(*p));
    if (!p) return RMQ_ERR_NOMEM;
    p->type = 0;
    p->cb = waiter_cb;
    p->ud = &w;
    rmq_err_t err = enqueue(st, p, NULL, NULL);
    if (err) {
        free(p);
        return err;
    }
    return waiter_wait(&w);
}

rmq_err_t rmq_store_seal_active(rmq_store_t *st) {
    waiter_t w;
    waiter_init(&w);
    pend_t *p = calloc(1, sizeof(*p));
    if (!p) return RMQ_ERR_NOMEM;
    p->type = PEND_SEAL;
    p->cb = waiter_cb;
    p->ud = &w;
    for (;;) {
        rmq_err_t err = RMQ_NONE;
        bool wait = false;
        pthread_mutex_lock(&st->q_mu);
        if (st->ro) err = RMQ_ERR_READ_ONLY;
        else if (st->stop) err = RMQ_ERR_CLOSED;
        else if (st->assign_off == 0) err = -1; /* nothing in the active segment */
        else if (st->spare) {
            /* later entries go to the spare; the marker follows every entry
             * of the old segment through the queue */
            st->cur = st->spare;
            st->spare = NULL;
            st->assign_off = 0;
            pthread_cond_signal(&st->prep_cond); /* make the next spare */
            p->seg = st->cur;
            queue_push_locked(st, p);
            pthread_mutex_unlock(&st->q_mu);
            return waiter_wait(&w);
        } else if (st->nsegs >= st->max_files) err = RMQ_ERR_WAL_FULL;
        else if (st->spare_err) {
            err = st->spare_err;
            pthread_cond_signal(&st->prep_cond);
        } else wait = true;
        pthread_mutex_unlock(&st->q_mu);
        if (!wait) {
            free(p);
            return err == -1 ? RMQ_NONE : err;
        }
        wait_spare(st); /* the spare is being created */
    }
}

/* ------------------------------------------------------------------ */
/* reclaim hook                                                         */

void rmq_store_set_sealed_cb(rmq_store_t *st, rmq_store_sealed_cb cb, void *ud) {
    pthread_mutex_lock(&st->cb_mu);
    st->sealed_cb = cb;
    st->sealed_ud = ud;
    if (cb) {
        pthread_mutex_lock(&st->q_mu);
        pthread_rwlock_rdlock(&st->seg_mu);
        size_t n = 0;
        seg_t **v = malloc((st->nsegs ? st->nsegs : 1) * sizeof(*v));
        for (size_t i = 0; v && i < st->nsegs; i++)
            if (st->segs[i]->sealed) v[n++] = st->segs[i];
        pthread_rwlock_unlock(&st->seg_mu);
        pthread_mutex_unlock(&st->q_mu);
        /* segments cannot be freed meanwhile: reclaim takes cb_mu */
        for (size_t i = 0; i < n; i++) {
            rmq_store_segment_info_t info = {v[i]->id, v[i]->path, atomic_load(&v[i]->used), v[i]->nents,
                                             v[i]->ents};
            cb(ud, &info);
        }
        free(v);
    }
    pthread_mutex_unlock(&st->cb_mu);
}

bool rmq_store_segment_copy_cached(rmq_store_t *st, uint64_t segment_id, uint64_t stream_id, int64_t base_offset,
                                   uint64_t file_off, void *dst, size_t len) {
    stream_t *s = stream_lookup(st, stream_id);
    if (!s) return false;
    blob_t *b = NULL;
    pthread_mutex_lock(&s->mu);
    size_t i = idx_search(s, base_offset);
    if (i < s->n) {
        const idx_ent_t *e = &s->idx[i];
        if (e->base == base_offset && e->seg_id == segment_id && e->file_off == file_off && e->blob &&
            RMQ_WAL_HDR + (size_t)e->blob->len == len)
            b = blob_ref(e->blob);
    }
    pthread_mutex_unlock(&s->mu);
    if (!b) return false;
    /* outside the stream lock (the reference keeps b), and around the
     * caches: dst is an object buffer the disk or the network reads by DMA */
    rmq_copy_stream(dst, b->data, len);
    blob_unref(b);
    return true;
}

bool rmq_store_segment_live(rmq_store_t *st, uint64_t segment_id) {
    pthread_rwlock_rdlock(&st->seg_mu);
    bool live = segtab_find(st, segment_id) != NULL;
    pthread_rwlock_unlock(&st->seg_mu);
    return live;
}

rmq_err_t rmq_store_segment_pread(rmq_store_t *st, uint64_t segment_id, uint64_t off, void *buf, size_t len) {
    /* Look the segment up under the locks, but read without them: a long
     * read must not hold seg_mu, or the writer (which takes q_mu, then
     * seg_mu for writing when it adds the next segment) would stall every
     * append behind the uploader's I/O. The dup'd fd keeps the file alive
     * even if the segment is reclaimed meanwhile. */
    pthread_mutex_lock(&st->q_mu);
    pthread_rwlock_rdlock(&st->seg_mu);
    seg_t *g = segtab_find(st, segment_id);
    bool ok = g && g->sealed;
    rmq_err_t err = RMQ_ERR_NOT_FOUND;
    int fd = -1;
    if (ok) {
        if (off > g->size || len > g->size - off) {
            err = RMQ_ERR_INVALID_ARG;
        } else {
            fd = fcntl(g->fd, F_DUPFD_CLOEXEC, 0);
            err = fd < 0 ? RMQ_ERR_IO : RMQ_NONE;
        }
    }
    pthread_rwlock_unlock(&st->seg_mu);
    pthread_mutex_unlock(&st->q_mu);
    if (fd >= 0) {
        err = rmq_wal_io_pread_all(st->io, fd, buf, len, (off_t)off) < 0 ? RMQ_ERR_IO : RMQ_NONE;
        close(fd);
    }
    return err;
}

rmq_err_t rmq_store_reclaim(rmq_store_t *st, uint64_t segment_id) {
    reclaim_req_t req = {.seg_id = segment_id};
    pthread_mutex_lock(&st->q_mu);
    pthread_rwlock_rdlock(&st->seg_mu);
    seg_t *g = segtab_find(st, segment_id);
    bool ok = g && g->sealed;
    pthread_rwlock_unlock(&st->seg_mu);
    if (!ok || st->stop) {
        pthread_mutex_unlock(&st->q_mu);
        return st->stop ? RMQ_ERR_CLOSED : RMQ_ERR_INVALID_ARG;
    }
    req.next = st->reclaims;
    st->reclaims = &req;
    pthread_cond_signal(&st->q_cond);
    while (!req.done) pthread_cond_wait(&st->done_cond, &st->q_mu);
    pthread_mutex_unlock(&st->q_mu);
    if (req.removed) { /* off the writer thread: see process_reclaims */
        st->io->unlink(st->io->ud, req.removed->path);
        RMQ_DEBUG(SUB, "msg=\"segment reclaimed\" segment=%" PRIu64, req.removed->id);
        seg_free(st, req.removed);
    }
    return req.err;
}

/* ------------------------------------------------------------------ */
/* stats                                                                */

void rmq_store_stats(rmq_store_t *st, rmq_store_stats_t *o) {
    memset(o, 0, sizeof(*o));
    o->appends = atomic_load(&st->st_appends);
    o->append_bytes = atomic_load(&st->st_bytes);
    o->append_errors = atomic_load(&st->st_errors);
    o->groups = atomic_load(&st->st_groups);
    o->fsyncs = atomic_load(&st->st_fsyncs);
    for (int i = 0; i < RMQ_STORE_FSYNC_BUCKETS; i++) o->fsync_hist_us[i] = atomic_load(&st->st_hist[i]);
    pthread_mutex_lock(&st->q_mu);
    pthread_rwlock_rdlock(&st->seg_mu);
    for (size_t i = 0; i < st->nsegs; i++) {
        o->usage_bytes += atomic_load(&st->segs[i]->used);
        o->allocated_bytes += st->segs[i]->size;
        o->segments_live++;
        if (st->segs[i]->sealed) o->segments_sealed++;
    }
    pthread_rwlock_unlock(&st->seg_mu);
    o->read_only = st->ro;
    pthread_mutex_unlock(&st->q_mu);
    o->capacity_bytes = st->cfg.capacity_bytes;
    pthread_mutex_lock(&st->cache_mu);
    o->cache_bytes = st->cache_bytes;
    pthread_mutex_unlock(&st->cache_mu);
    o->recovery_ms = st->recovery_ms;
}

uint64_t rmq_store_append_bytes(rmq_store_t *st) { return atomic_load(&st->st_bytes); }

uint64_t rmq_store_index_entries(rmq_store_t *st) {
    uint64_t n = 0;
    pthread_rwlock_rdlock(&st->map_mu);
    for (size_t b = 0; b < st->nbuckets; b++)
        for (stream_t *s = st->buckets[b]; s; s = s->hnext) {
            pthread_mutex_lock(&s->mu);
            n += s->n - s->head;
            pthread_mutex_unlock(&s->mu);
        }
    pthread_rwlock_unlock(&st->map_mu);
    return n;
}

const char *rmq_store_last_error(rmq_store_t *st) {
    pthread_mutex_lock(&st->q_mu);
    const char *m = st->ro ? st->errmsg : "";
    pthread_mutex_unlock(&st->q_mu);
    return m;
}
