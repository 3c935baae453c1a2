/* tier_upload.c - sealed segment -> object -> manifest commit -> reclaim
 * (see tier_upload.h), the bandwidth token bucket, backoff with jitter, and
 * seeding an empty WAL directory from the manifest. */
#include "storage/tier_upload.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/tbucket.h"
#include "storage/wal_format.h"

#define SUB "tier"
#define BUF_ROUND ((size_t)8 << 20) /* object buffer size granularity (buf_get) */
#define BUF_SLACK ((size_t)2 << 20) /* headroom above an object's size before rounding (rmq_tier_buffer_size) */

typedef struct ujob {
    struct ujob *next;
    uint64_t segment_id;
    size_t n;
    rmq_store_seg_entry_t *ents; /* owned copy */
} ujob_t;

struct rmq_tier_uploader {
    rmq_tier_upload_config_t cfg;
    char *prefix;
    rmq_obj_store_t *os;
    rmq_store_t *st;
    rmq_tier_commit_fn commit;
    void *commit_ud;
    pthread_mutex_t mu;
    pthread_cond_t cv, idle_cv;
    pthread_cond_t stop_cv; /* wait_or_stop's sleeps (cv's job signals stay with idle workers) */
    ujob_t *head, *tail;
    size_t queued, running;
    bool stop;
    pthread_t *threads;
    int nthreads;
    /* object buffers kept for the next upload (under mu): a fresh 128 MiB
     * allocation costs a page fault, a zeroed page and a memcg charge per
     * 4 KiB, about a quarter of the uploader's CPU */
    struct {
        uint8_t *p;
        size_t cap;
    } spare[2];
    /* token bucket (under mu) */
    double tokens;
    uint64_t tb_last_ns;
    /* local-disk write pacing (under mu; see pace_local) */
    rmq_tbucket_t pace;
    double ingest_bps;
    uint64_t ingest_last_ns, ingest_last_bytes, paced_ns;
    rmq_tier_upload_stats_t s;
};

/* n plus BUF_SLACK, rounded up to 8 MiB: objects of one WAL's segments
 * differ by up to a batch plus their metadata, so a segment-sized object is
 * sometimes just under a multiple of 8 MiB (a 128 MiB segment whose last
 * batch did not fit) and sometimes just over it (128 MiB of entries plus the
 * object's index). Rounding n itself gave both a 128 and a 136 MiB buffer,
 * and each flip between them a fresh one: 32k page faults in a third of the
 * standard set's latency steps. With the slack (more than a last batch
 * that did not fit, up to 1 MiB by default, and less than 8 MiB minus an
 * index) every object of a segment size that is a multiple of 8 MiB wants
 * the same size. Small objects get their own size. */
size_t rmq_tier_buffer_size(size_t n) {
    if (n + BUF_SLACK <= BUF_ROUND) return n ? n : 1;
    return (n + BUF_SLACK + BUF_ROUND - 1) / BUF_ROUND * BUF_ROUND;
}

/* An object buffer of at least n bytes, 4096-aligned (so the local backend
 * can write it with O_DIRECT): a kept one if it is large enough, else new.
 * The caller owns it and hands it back with buf_put. NULL if out of memory. */
static uint8_t *buf_get(rmq_tier_uploader_t *u, size_t n, size_t *cap) {
    pthread_mutex_lock(&u->mu);
    int best = -1; /* the smallest kept buffer that fits */
    for (int i = 0; i < 2; i++)
        if (u->spare[i].p && u->spare[i].cap >= n && (best < 0 || u->spare[i].cap < u->spare[best].cap)) best = i;
    if (best >= 0) {
        uint8_t *p = u->spare[best].p;
        *cap = u->spare[best].cap;
        u->spare[best].p = NULL;
        u->spare[best].cap = 0;
        pthread_mutex_unlock(&u->mu);
        return p;
    }
    pthread_mutex_unlock(&u->mu);
    size_t want = rmq_tier_buffer_size(n);
    void *p = NULL;
    if (posix_memalign(&p, 4096, want) != 0) return NULL;
    *cap = want;
    return p;
}

/* Keep p (owned by the caller until now) for a later upload, replacing a
 * smaller kept one, or free it. */
static void buf_put(rmq_tier_uploader_t *u, uint8_t *p, size_t cap) {
    if (!p) return;
    pthread_mutex_lock(&u->mu);
    size_t k = u->spare[0].cap <= u->spare[1].cap ? 0 : 1; /* the smaller (or empty) slot */
    if (!u->stop && u->spare[k].cap < cap) {
        uint8_t *old = u->spare[k].p;
        u->spare[k].p = p;
        u->spare[k].cap = cap;
        p = old;
    }
    pthread_mutex_unlock(&u->mu);
    free(p);
}

uint32_t rmq_tier_backoff_ms(uint32_t base_ms, uint32_t max_ms, uint32_t attempt, uint32_t rnd) {
    uint64_t d = base_ms;
    for (uint32_t i = 1; i < attempt && d < max_ms; i++) d *= 2;
    if (d > max_ms) d = max_ms;
    uint64_t half = d / 2;
    return (uint32_t)(half + (d - half ? rnd % (d - half + 1) : 0));
}

/* Sleep up to ns, waking early on stop. false if stopping. */
static bool wait_or_stop_ns(rmq_tier_uploader_t *u, uint64_t ns) {
    struct timespec dl = rmq_cond_deadline_ns(ns);
    pthread_mutex_lock(&u->mu);
    while (!u->stop)
        if (pthread_cond_timedwait(&u->stop_cv, &u->mu, &dl) == ETIMEDOUT) break;
    bool stop = u->stop;
    pthread_mutex_unlock(&u->mu);
    return !stop;
}
static bool wait_or_stop(rmq_tier_uploader_t *u, uint64_t ms) { return wait_or_stop_ns(u, ms * 1000000ull); }

/* Take n bytes from the bucket (debt allowed: waits until the balance is
 * non-negative, then spends), so the long-run rate is the limit. */
static bool throttle(rmq_tier_uploader_t *u, uint64_t n) {
    double rate = (double)u->cfg.bandwidth_bytes_per_sec;
    if (rate <= 0) return true;
    for (;;) {
        pthread_mutex_lock(&u->mu);
        uint64_t now = rmq_mono_ns();
        u->tokens += rate * (double)(now - u->tb_last_ns) / 1e9;
        if (u->tokens > rate) u->tokens = rate; /* burst: one second */
        u->tb_last_ns = now;
        if (u->tokens >= 0) {
            u->tokens -= (double)n;
            pthread_mutex_unlock(&u->mu);
            return true;
        }
        uint64_t wait = (uint64_t)(-u->tokens / rate * 1000.0) + 1;
        u->s.throttled_ms += wait;
        pthread_mutex_unlock(&u->mu);
        if (!wait_or_stop(u, wait)) return false;
    }
}

/* Pacing of the local backend's object writes (rmq_obj_set_pacer).
 *
 * An upload writes a whole segment (128 MiB by default) to the object
 * store. On the local backend that is the WAL's disk, and written as fast
 * as the disk goes it fills the device queue and its write cache for a
 * few hundred ms: every WAL synced write (group commit) in that window
 * waits behind it (measured: p99 of a 280 KiB RWF_DSYNC write 2.2-2.3 ms
 * beside bursty 276 MB/s of 1 MiB O_DIRECT writes, 1.0-1.1 ms beside the
 * same bytes spread evenly). So the writes are spread out: a shared token
 * bucket (common/tbucket.h, 2 MiB deep, so any chunk always fits)
 * refills at PACE_FACTOR times the WAL's recent append rate (an EWMA
 * sampled at most every 100 ms), at least PACE_FLOOR. That
 * keeps up with any steady load; when segments pile up (more than
 * PACE_BACKLOG queued or running) pacing stops until the backlog is gone. */
#define PACE_FACTOR 1.5
#define PACE_FLOOR (32.0 * 1048576.0)
#define PACE_BURST (2.0 * 1048576.0)
#define PACE_BACKLOG 2
#define PACE_SAMPLE_NS 100000000ull
#define PACE_TAU_S 1.0

/* Under mu: refresh the EWMA of the WAL append rate (a lock-free counter
 * read: no store lock is taken under mu). */
static void pace_sample(rmq_tier_uploader_t *u, uint64_t now) {
    if (u->ingest_last_ns && now - u->ingest_last_ns < PACE_SAMPLE_NS) return;
    uint64_t bytes = rmq_store_append_bytes(u->st);
    if (u->ingest_last_ns) {
        double dt = (double)(now - u->ingest_last_ns) / 1e9;
        double bps = (double)(bytes - u->ingest_last_bytes) / dt;
        double a = dt / PACE_TAU_S > 1.0 ? 1.0 : dt / PACE_TAU_S;
        /* rises at once, decays with the time constant: a burst is paced
         * at its own rate, not at the average before it */
        u->ingest_bps = bps > u->ingest_bps ? bps : u->ingest_bps + a * (bps - u->ingest_bps);
    }
    u->ingest_last_ns = now;
    u->ingest_last_bytes = bytes;
}

/* rmq_obj_pace_fn: wait (sleeping, off every lock) until n bytes fit the
 * pace, and say so (true); returns false at once while catching up or
 * stopping (the backend then writes larger chunks). */
static bool pace_local(void *ud, size_t n) {
    rmq_tier_uploader_t *u = ud;
    for (;;) {
        pthread_mutex_lock(&u->mu);
        uint64_t now = rmq_mono_ns();
        pace_sample(u, now); /* also while catching up: the EWMA keeps tracking the WAL */
        if (u->stop || u->queued + u->running > PACE_BACKLOG) {
            pthread_mutex_unlock(&u->mu);
            return false;
        }
        rmq_tbucket_refill(&u->pace, now); /* tokens earned so far at the old rate */
        u->pace.rate = u->ingest_bps * PACE_FACTOR > PACE_FLOOR ? u->ingest_bps * PACE_FACTOR : PACE_FLOOR;
        double want = (double)n < PACE_BURST ? (double)n : PACE_BURST; /* a larger n could never fit */
        if (rmq_tbucket_take(&u->pace, now, want)) {
            pthread_mutex_unlock(&u->mu);
            return true;
        }
        uint64_t wait_ns = (uint64_t)(rmq_tbucket_wait_s(&u->pace, want) * 1e9) + 1;
        u->paced_ns += wait_ns;
        pthread_mutex_unlock(&u->mu);
        if (!wait_or_stop_ns(u, wait_ns)) return false; /* stopping: the rest goes out unpaced, stop waits for it */
    }
}

/* Fill obj with the planned entries. An entry still in the write cache is
 * copied from there: the bytes the WAL wrote, never read back, so there is
 * nothing to verify (a segment is sealed and uploaded while its newest
 * write_cache_size_bytes are still cached, which saved the uploader's CRC
 * pass and most of its reads, bench/README.md). The others are read out of
 * the segment, coalescing runs that are contiguous both in the file and in
 * the object, and each one's WAL CRC is checked. */
static rmq_err_t fill_object(rmq_tier_uploader_t *u, uint64_t seg, const rmq_tier_plan_t *p, uint8_t *obj) {
    bool *cached = calloc(p->n_items ? p->n_items : 1, sizeof *cached);
    if (!cached) return RMQ_ERR_NOMEM;
    uint64_t hits = 0;
    for (size_t k = 0; k < p->n_items; k++) {
        const rmq_tier_item_t *it = &p->items[k];
        cached[k] = rmq_store_segment_copy_cached(u->st, seg, it->stream_id, it->base_offset, it->file_off,
                                                  obj + it->obj_off, it->len);
        hits += cached[k];
    }
    rmq_err_t err = RMQ_NONE;
    size_t i = 0;
    while (i < p->n_items && !err) {
        if (cached[i]) {
            i++;
            continue;
        }
        size_t j = i + 1;
        uint64_t len = p->items[i].len;
        while (j < p->n_items && !cached[j] && p->items[j].file_off == p->items[i].file_off + len &&
               p->items[j].obj_off == p->items[i].obj_off + len && len < (8u << 20)) {
            len += p->items[j].len;
            j++;
        }
        err = rmq_store_segment_pread(u->st, seg, p->items[i].file_off, obj + p->items[i].obj_off, len);
        for (size_t k = i; k < j && !err; k++) {
            const uint8_t *e = obj + p->items[k].obj_off;
            rmq_wal_hdr_t h;
            if (rmq_wal_hdr_decode(e, seg, p->items[k].len - RMQ_WAL_HDR, &h) ||
                h.len != p->items[k].len - RMQ_WAL_HDR || !rmq_wal_hdr_crc_ok(e, e + RMQ_WAL_HDR, h.len))
                err = RMQ_ERR_CORRUPT;
        }
        i = j;
    }
    free(cached);
    pthread_mutex_lock(&u->mu);
    u->s.entries_from_cache += hits;
    u->s.entries_read += p->n_items - hits;
    pthread_mutex_unlock(&u->mu);
    return err;
}

static bool retriable_put(rmq_err_t e) { return e != RMQ_ERR_INVALID_ARG; }

static void process(rmq_tier_uploader_t *u, ujob_t *j, unsigned *seed) {
    rmq_tier_plan_t plan;
    rmq_err_t err = rmq_tier_plan_build(j->ents, j->n, &plan);
    if (err) {
        RMQ_ERROR(SUB, "msg=\"cannot plan object\" segment=%llu err=%s", (unsigned long long)j->segment_id,
                  rmq_err_name(err));
        return;
    }
    if (plan.n_ranges == 0) { /* only control entries: nothing to keep */
        err = rmq_store_reclaim(u->st, j->segment_id);
        pthread_mutex_lock(&u->mu);
        if (!err) u->s.segments_reclaimed++, u->s.segments_empty++;
        pthread_mutex_unlock(&u->mu);
        rmq_tier_plan_free(&plan);
        return;
    }
    size_t obj_cap = 0;
    uint8_t *obj = buf_get(u, plan.total_size, &obj_cap);
    char key[RMQ_OBJ_KEY_MAX];
    if (!obj) {
        RMQ_ERROR(SUB, "msg=\"out of memory building object\" segment=%llu bytes=%llu",
                  (unsigned long long)j->segment_id, (unsigned long long)plan.total_size);
        rmq_tier_plan_free(&plan);
        return;
    }
    err = fill_object(u, j->segment_id, &plan, obj);
    if (err) {
        /* a corrupt sealed segment cannot be made whole by retrying: keep
         * it in the WAL (it will back-pressure) and say so loudly */
        RMQ_ERROR(SUB, "msg=\"segment cannot be uploaded\" segment=%llu err=%s", (unsigned long long)j->segment_id,
                  rmq_err_name(err));
        goto out;
    }
    rmq_tier_write_meta(&plan, j->segment_id, rmq_wall_ms(), obj);
    rmq_tier_object_key(key, sizeof key, u->prefix, j->segment_id, plan.first_ts);
    if (!throttle(u, plan.total_size)) goto out;
    for (uint32_t attempt = 1;; attempt++) {
        rmq_obj_status_t st;
        err = rmq_obj_put(u->os, key, obj, plan.total_size, &st);
        pthread_mutex_lock(&u->mu);
        u->s.put_requests++;
        if (err) u->s.upload_failures++;
        else u->s.objects_uploaded++, u->s.bytes_uploaded += plan.total_size;
        pthread_mutex_unlock(&u->mu);
        if (!err) break;
        if (!retriable_put(err)) {
            RMQ_ERROR(SUB, "msg=\"object PUT refused\" key=%s err=%s http=%d detail=\"%s\"", key, rmq_err_name(err),
                      st.http_status, st.msg);
        }
        uint32_t ms = rmq_tier_backoff_ms(u->cfg.retry_base_ms, u->cfg.retry_max_ms, attempt, (uint32_t)rand_r(seed));
        RMQ_WARN(SUB, "msg=\"object PUT failed, retrying\" key=%s attempt=%u err=%s http=%d backoff_ms=%u detail=\"%s\"",
                 key, attempt, rmq_err_name(err), st.http_status, ms, st.msg);
        pthread_mutex_lock(&u->mu);
        u->s.upload_retries++;
        pthread_mutex_unlock(&u->mu);
        if (!wait_or_stop(u, ms)) goto out;
    }
    buf_put(u, obj, obj_cap);
    obj = NULL;
    rmq_tier_manifest_t m = {key, j->segment_id, plan.total_size, plan.n_ranges, plan.ranges};
    for (uint32_t attempt = 1;; attempt++) {
        char msg[256] = "";
        err = u->commit(u->commit_ud, &m, msg, sizeof msg);
        if (!err) break;
        pthread_mutex_lock(&u->mu);
        u->s.commit_failures++;
        pthread_mutex_unlock(&u->mu);
        uint32_t ms = rmq_tier_backoff_ms(u->cfg.retry_base_ms, u->cfg.retry_max_ms, attempt, (uint32_t)rand_r(seed));
        RMQ_WARN(SUB, "msg=\"manifest commit failed, retrying\" key=%s attempt=%u err=%s backoff_ms=%u detail=\"%s\"",
                 key, attempt, rmq_err_name(err), ms, msg);
        if (!wait_or_stop(u, ms)) goto out;
    }
    err = rmq_store_reclaim(u->st, j->segment_id);
    if (err) {
        RMQ_ERROR(SUB, "msg=\"reclaim failed\" segment=%llu err=%s", (unsigned long long)j->segment_id,
                  rmq_err_name(err));
    } else {
        pthread_mutex_lock(&u->mu);
        u->s.segments_reclaimed++;
        pthread_mutex_unlock(&u->mu);
        RMQ_DEBUG(SUB, "msg=\"segment uploaded\" key=%s bytes=%llu ranges=%zu", key,
                  (unsigned long long)plan.total_size, plan.n_ranges);
    }
out:
    buf_put(u, obj, obj_cap);
    rmq_tier_plan_free(&plan);
}

/* Uploads are background work: run them at a lower CPU priority and in the
 * best-effort I/O class's lowest level, so produce/fetch threads and the
 * WAL's fdatasync win when the two cores or the disk are busy. */
static void lower_priority(void) {
    pid_t tid = (pid_t)syscall(SYS_gettid);
    /* nice 10, not SCHED_IDLE: an idle-class thread that holds a lock the
     * produce path needs would make it wait behind every other task */
    if (setpriority(PRIO_PROCESS, (id_t)tid, 10) != 0)
        RMQ_DEBUG(SUB, "msg=\"cannot lower uploader priority\" err=\"%s\"", strerror(errno));
    /* ioprio_set(IOPRIO_WHO_PROCESS, tid, IOPRIO_PRIO_VALUE(IOPRIO_CLASS_BE, 7)) */
    if (syscall(SYS_ioprio_set, 1, (int)tid, (2 << 13) | 7) != 0)
        RMQ_DEBUG(SUB, "msg=\"cannot lower uploader I/O priority\" err=\"%s\"", strerror(errno));
}

static void *worker_main(void *arg) {
    rmq_tier_uploader_t *u = arg;
    pthread_setname_np(pthread_self(), "rmq-upload");
    unsigned seed = (unsigned)(rmq_mono_ns() ^ (uintptr_t)&seed);
    lower_priority();
    pthread_mutex_lock(&u->mu);
    for (;;) {
        while (!u->stop && !u->head) pthread_cond_wait(&u->cv, &u->mu);
        if (u->stop) break;
        ujob_t *j = u->head;
        u->head = j->next;
        if (!u->head) u->tail = NULL;
        u->queued--;
        u->running++;
        pthread_mutex_unlock(&u->mu);
        process(u, j, &seed);
        free(j->ents);
        free(j);
        pthread_mutex_lock(&u->mu);
        u->running--;
        if (!u->running && !u->queued) pthread_cond_broadcast(&u->idle_cv);
    }
    pthread_mutex_unlock(&u->mu);
    return NULL;
}

void rmq_tier_uploader_on_sealed(void *ud, const rmq_store_segment_info_t *seg) {
    rmq_tier_uploader_t *u = ud;
    ujob_t *j = calloc(1, sizeof *j);
    if (j && seg->n_entries) j->ents = malloc(seg->n_entries * sizeof *j->ents);
    if (!j || (seg->n_entries && !j->ents)) {
        /* the segment stays in the WAL; the next start re-offers it */
        RMQ_ERROR(SUB, "msg=\"out of memory queueing segment\" segment=%llu", (unsigned long long)seg->segment_id);
        free(j);
        return;
    }
    j->segment_id = seg->segment_id;
    j->n = seg->n_entries;
    if (j->n) memcpy(j->ents, seg->entries, j->n * sizeof *j->ents);
    pthread_mutex_lock(&u->mu);
    if (u->stop) {
        pthread_mutex_unlock(&u->mu);
        free(j->ents);
        free(j);
        return;
    }
    if (u->tail) u->tail->next = j;
    else u->head = j;
    u->tail = j;
    u->queued++;
    pthread_cond_signal(&u->cv);
    pthread_mutex_unlock(&u->mu);
}

rmq_err_t rmq_tier_uploader_start(const rmq_tier_upload_config_t *cfg, rmq_obj_store_t *os, rmq_store_t *st,
                                  rmq_tier_commit_fn commit, void *commit_ud, rmq_tier_uploader_t **out) {
    *out = NULL;
    rmq_tier_uploader_t *u = calloc(1, sizeof *u);
    if (!u) return RMQ_ERR_NOMEM;
    u->cfg = *cfg;
    if (u->cfg.max_concurrent_uploads <= 0) u->cfg.max_concurrent_uploads = 2;
    if (!u->cfg.retry_base_ms) u->cfg.retry_base_ms = 100;
    if (!u->cfg.retry_max_ms) u->cfg.retry_max_ms = 10000;
    u->prefix = strdup(cfg->key_prefix ? cfg->key_prefix : "v1/default");
    u->threads = calloc((size_t)u->cfg.max_concurrent_uploads, sizeof *u->threads);
    if (!u->prefix || !u->threads) {
        free(u->prefix);
        free(u->threads);
        free(u);
        return RMQ_ERR_NOMEM;
    }
    u->cfg.key_prefix = u->prefix;
    u->os = os;
    u->st = st;
    u->commit = commit;
    u->commit_ud = commit_ud;
    u->tb_last_ns = rmq_mono_ns();
    pthread_mutex_init(&u->mu, NULL);
    pthread_cond_init(&u->cv, NULL);
    pthread_cond_init(&u->idle_cv, NULL);
    pthread_cond_init(&u->stop_cv, NULL);
    rmq_tbucket_init(&u->pace, PACE_FLOOR, PACE_BURST, rmq_mono_ns());
    rmq_obj_set_pacer(os, pace_local, u);
    for (int i = 0; i < u->cfg.max_concurrent_uploads; i++) {
        if (pthread_create(&u->threads[i], NULL, worker_main, u)) break;
        u->nthreads++;
    }
    if (!u->nthreads) {
        rmq_tier_uploader_stop(u);
        return RMQ_ERR_NOMEM;
    }
    *out = u;
    return RMQ_NONE;
}

bool rmq_tier_uploader_wait_idle(rmq_tier_uploader_t *u, uint32_t timeout_ms) {
    struct timespec dl = rmq_cond_deadline_ms(timeout_ms);
    pthread_mutex_lock(&u->mu);
    while ((u->queued || u->running) && !u->stop)
        if (pthread_cond_timedwait(&u->idle_cv, &u->mu, &dl) == ETIMEDOUT) break;
    bool idle = !u->queued && !u->running;
    pthread_mutex_unlock(&u->mu);
    return idle;
}

void rmq_tier_uploader_stop(rmq_tier_uploader_t *u) {
    if (!u) return;
    pthread_mutex_lock(&u->mu);
    u->stop = true;
    pthread_cond_broadcast(&u->cv);
    pthread_cond_broadcast(&u->idle_cv);
    pthread_cond_broadcast(&u->stop_cv);
    pthread_mutex_unlock(&u->mu);
    for (int i = 0; i < u->nthreads; i++) pthread_join(u->threads[i], NULL);
    rmq_obj_set_pacer(u->os, NULL, NULL);
    while (u->head) {
        ujob_t *j = u->head;
        u->head = j->next;
        free(j->ents);
        free(j);
    }
    for (size_t i = 0; i < 2; i++) free(u->spare[i].p);
    pthread_mutex_destroy(&u->mu);
    pthread_cond_destroy(&u->cv);
    pthread_cond_destroy(&u->idle_cv);
    pthread_cond_destroy(&u->stop_cv);
    free(u->threads);
    free(u->prefix);
    free(u);
}

void rmq_tier_uploader_stats(rmq_tier_uploader_t *u, rmq_tier_upload_stats_t *out) {
    pthread_mutex_lock(&u->mu);
    *out = u->s;
    out->queued = u->queued;
    out->running = u->running;
    out->paced_ns = u->paced_ns;
    pthread_mutex_unlock(&u->mu);
}

/* ---- seeding an empty WAL directory ---- */

static int mkdir_p(const char *path) {
    char tmp[4096];
    size_t n = strlen(path);
    if (!n || n >= sizeof tmp) return -1;
    memcpy(tmp, path, n + 1);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (mkdir(tmp, 0755) && errno != EEXIST) return -1;
        *p = '/';
    }
    return mkdir(tmp, 0755) && errno != EEXIST ? -1 : 0;
}

static int write_all(int fd, const uint8_t *p, size_t n) {
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

rmq_err_t rmq_tier_seed_wal(const char *dir, uint64_t next_segment_id, const rmq_tier_seed_stream_t *streams,
                            size_t n, bool *seeded, char *err, size_t errlen) {
    *seeded = false;
    if (mkdir_p(dir)) {
        snprintf(err, errlen, "cannot create %s: %s", dir, strerror(errno));
        return RMQ_ERR_IO;
    }
    DIR *d = opendir(dir);
    if (!d) {
        snprintf(err, errlen, "cannot list %s: %s", dir, strerror(errno));
        return RMQ_ERR_IO;
    }
    bool used = false;
    struct dirent *de;
    while ((de = readdir(d))) {
        size_t l = strlen(de->d_name);
        if (!strcmp(de->d_name, "checkpoint") ||
            (!strncmp(de->d_name, "wal-", 4) && l > 8 && !strcmp(de->d_name + l - 4, ".seg")))
            used = true;
    }
    closedir(d);
    if (used || (n == 0 && next_segment_id <= 1)) return RMQ_NONE;
    rmq_wal_ckpt_t c = {0};
    c.pos_seg = next_segment_id;
    c.pos_off = 0;
    c.low_water = next_segment_id;
    c.streams = calloc(n, sizeof *c.streams);
    if (!c.streams) return RMQ_ERR_NOMEM;
    for (size_t i = 0; i < n; i++) {
        if (streams[i].end <= 0) continue;
        c.streams[c.n_streams++] = (rmq_wal_ckpt_stream_t){streams[i].stream_id, 0, streams[i].log_start,
                                                           streams[i].end};
    }
    uint8_t *buf = NULL;
    size_t len = 0;
    bool write = c.n_streams || next_segment_id > 1; /* else a fresh WAL starts at 1 by itself */
    rmq_err_t e = write ? rmq_wal_ckpt_encode(&c, &buf, &len) : RMQ_NONE;
    free(c.streams);
    if (e || !write) return e;
    char tmp[4096], fin[4096];
    snprintf(tmp, sizeof tmp, "%s/checkpoint.tmp", dir);
    snprintf(fin, sizeof fin, "%s/checkpoint", dir);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    bool ok = fd >= 0 && !write_all(fd, buf, len) && !fdatasync(fd);
    if (fd >= 0 && close(fd)) ok = false;
    if (ok && rename(tmp, fin)) ok = false;
    if (!ok) {
        snprintf(err, errlen, "cannot write %s: %s", fin, strerror(errno));
        free(buf);
        return RMQ_ERR_IO;
    }
    free(buf);
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    *seeded = true;
    RMQ_INFO(SUB, "msg=\"WAL seeded from the object manifest\" dir=%s streams=%u next_segment=%llu", dir,
             c.n_streams, (unsigned long long)next_segment_id);
    return RMQ_NONE;
}
