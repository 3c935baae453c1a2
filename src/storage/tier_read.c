/* tier_read.c - tiered reads (see tier_read.h): locate the batch in the
 * object (range start, or the footer's sparse index for a read from the
 * middle of a range), scan WAL entries through the block cache verifying
 * each one, and the hot/cold worker pool with read-ahead. */
#include "storage/tier_read.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "storage/tier_format.h"
#include "storage/wal_format.h"

#define FOOTER_SLOTS 32
#define SEQ_SLOTS 1024
#define MAX_PREFETCH_QUEUED 64

typedef struct job {
    struct job *next;
    bool prefetch;
    rmq_tier_loc_t loc;
    int64_t offset;    /* read */
    uint64_t byte_off; /* prefetch */
    size_t max_bytes;
    bool hot;
    rmq_tier_read_cb cb;
    void *ud;
} job_t;

typedef struct jqueue {
    job_t *head, *tail;
    size_t n, n_prefetch;
} jqueue_t;

typedef struct footer_slot {
    uint64_t obj; /* 0 = empty */
    uint64_t used;
    rmq_tier_footer_t f;
} footer_slot_t;

struct rmq_tier_reader {
    rmq_tier_reader_config_t cfg;
    rmq_obj_store_t *os;
    rmq_tier_cache_t *cache;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    jqueue_t q[2]; /* 0 hot, 1 cold */
    int cold_running;
    bool stop;
    pthread_t *threads;
    int nthreads;
    footer_slot_t footers[FOOTER_SLOTS];
    uint64_t footer_clock;
    struct {
        uint64_t stream;
        int64_t next;
    } seq[SEQ_SLOTS];
    rmq_tier_reader_stats_t st;
};

void rmq_tier_read_result_free(rmq_tier_read_result_t *r) {
    if (!r) return;
    free(r->data);
    memset(r, 0, sizeof *r);
}

/* ---- footers ---- */

/* Look up offset's position using the object's footer (cached decoded). */
static rmq_err_t footer_seek(rmq_tier_reader_t *r, const rmq_tier_loc_t *loc, int64_t offset, bool hot,
                             uint64_t *pos) {
    pthread_mutex_lock(&r->mu);
    for (int i = 0; i < FOOTER_SLOTS; i++) {
        footer_slot_t *s = &r->footers[i];
        if (s->obj != loc->object_id) continue;
        s->used = ++r->footer_clock;
        ptrdiff_t k = rmq_tier_footer_find(&s->f, loc->stream_id, offset);
        *pos = k >= 0 ? rmq_tier_footer_seek(&s->f, &s->f.ranges[k], offset) : loc->byte_offset;
        pthread_mutex_unlock(&r->mu);
        return RMQ_NONE;
    }
    pthread_mutex_unlock(&r->mu);
    uint8_t tr[RMQ_TIER_TRAILER];
    if (loc->object_size < RMQ_TIER_HDR + RMQ_TIER_TRAILER) return RMQ_ERR_CORRUPT;
    rmq_err_t err = rmq_tier_cache_read(r->cache, loc->key, loc->object_id, loc->object_size,
                                        loc->object_size - RMQ_TIER_TRAILER, RMQ_TIER_TRAILER, hot, tr);
    uint64_t foff = 0, flen = 0;
    uint32_t crc = 0;
    if (err) return err;
    if (rmq_tier_trailer_decode(tr, loc->object_size, &foff, &flen, &crc)) return RMQ_ERR_CORRUPT;
    uint8_t *fb = malloc(flen ? (size_t)flen : 1);
    if (!fb) return RMQ_ERR_NOMEM;
    err = rmq_tier_cache_read(r->cache, loc->key, loc->object_id, loc->object_size, foff, (size_t)flen, hot, fb);
    rmq_tier_footer_t f;
    if (!err && rmq_tier_footer_decode(fb, (size_t)flen, crc, foff, &f)) err = RMQ_ERR_CORRUPT; /* any mismatch */
    free(fb);
    if (err) return err;
    ptrdiff_t k = rmq_tier_footer_find(&f, loc->stream_id, offset);
    *pos = k >= 0 ? rmq_tier_footer_seek(&f, &f.ranges[k], offset) : loc->byte_offset;
    pthread_mutex_lock(&r->mu);
    footer_slot_t *victim = &r->footers[0];
    for (int i = 0; i < FOOTER_SLOTS; i++)
        if (r->footers[i].used < victim->used) victim = &r->footers[i];
    rmq_tier_footer_free(&victim->f);
    victim->f = f;
    victim->obj = loc->object_id;
    victim->used = ++r->footer_clock;
    pthread_mutex_unlock(&r->mu);
    return RMQ_NONE;
}

/* ---- reads ---- */

static void queue_prefetch(rmq_tier_reader_t *r, const rmq_tier_loc_t *loc, uint64_t byte_off, bool hot);

rmq_err_t rmq_tier_scan_entries(const rmq_tier_loc_t *loc, int64_t offset, size_t max_bytes, rmq_tier_fetch_fn fetch,
                                void *ud, uint64_t *pos_io, rmq_buf_t *out, size_t *n_batches, int64_t *next_offset) {
    uint64_t end = loc->byte_offset + loc->byte_length;
    uint64_t pos = *pos_io;
    if (pos < loc->byte_offset || pos >= end) pos = loc->byte_offset; /* footer disagrees: scan the range */
    rmq_err_t err = RMQ_NONE;
    int64_t next = offset;
    size_t nb = 0;
    while (!err && pos < end) {
        uint8_t hdr[RMQ_WAL_HDR];
        if (end - pos < RMQ_WAL_HDR) {
            err = RMQ_ERR_CORRUPT;
            break;
        }
        err = fetch(ud, pos, RMQ_WAL_HDR, hdr);
        if (err) break;
        rmq_wal_hdr_t h;
        if (rmq_wal_hdr_decode(hdr, loc->object_id, end - pos - RMQ_WAL_HDR, &h) || h.type != RMQ_WAL_DATA ||
            h.stream_id != loc->stream_id || h.record_count <= 0 || h.base_offset < loc->base_offset ||
            h.base_offset + h.record_count > loc->end_offset || h.len < 8) {
            err = RMQ_ERR_CORRUPT;
            break;
        }
        if (h.base_offset + h.record_count <= offset) { /* before the wanted batch */
            pos += RMQ_WAL_HDR + h.len;
            continue;
        }
        if (nb > 0 && out->len + h.len > max_bytes) break;
        uint8_t *dst = rmq_buf_extend(out, h.len);
        if (!dst) {
            err = RMQ_ERR_NOMEM;
            break;
        }
        err = fetch(ud, pos + RMQ_WAL_HDR, h.len, dst);
        if (err) break;
        if (!rmq_wal_hdr_crc_ok(hdr, dst, h.len)) {
            err = RMQ_ERR_CORRUPT;
            break;
        }
        nb++;
        next = h.base_offset + h.record_count;
        pos += RMQ_WAL_HDR + h.len;
    }
    if (!err && nb == 0) err = RMQ_ERR_CORRUPT; /* the range promised a batch at or after offset */
    *pos_io = pos;
    *n_batches = nb;
    *next_offset = next;
    return err;
}

typedef struct cache_fetch {
    rmq_tier_reader_t *r;
    const rmq_tier_loc_t *loc;
    bool hot;
} cache_fetch_t;

static rmq_err_t fetch_cached(void *ud, uint64_t pos, size_t len, uint8_t *dst) {
    cache_fetch_t *cf = ud;
    return rmq_tier_cache_read(cf->r->cache, cf->loc->key, cf->loc->object_id, cf->loc->object_size, pos, len,
                               cf->hot, dst);
}

rmq_err_t rmq_tier_read(rmq_tier_reader_t *r, const rmq_tier_loc_t *loc, int64_t offset, size_t max_bytes, bool hot,
                        rmq_tier_read_result_t *out) {
    memset(out, 0, sizeof *out);
    if (offset >= loc->end_offset || loc->byte_length < RMQ_WAL_HDR ||
        loc->byte_offset + loc->byte_length > loc->object_size)
        return RMQ_ERR_INVALID_ARG;
    uint64_t pos = loc->byte_offset;
    rmq_err_t err = RMQ_NONE;
    uint64_t end = loc->byte_offset + loc->byte_length;
    if (offset > loc->base_offset) err = footer_seek(r, loc, offset, hot, &pos);
    rmq_buf_t buf;
    rmq_buf_init(&buf);
    int64_t next = offset;
    size_t nb = 0;
    if (!err) {
        cache_fetch_t cf = {r, loc, hot};
        err = rmq_tier_scan_entries(loc, offset, max_bytes, fetch_cached, &cf, &pos, &buf, &nb, &next);
    }
    pthread_mutex_lock(&r->mu);
    r->st.reads++;
    if (err) r->st.read_errors++;
    if (err == RMQ_ERR_CORRUPT) r->st.corrupt++;
    size_t si = (size_t)(loc->stream_id * 0x9e3779b97f4a7c15ull >> 54) % SEQ_SLOTS;
    bool sequential = r->seq[si].stream == loc->stream_id && r->seq[si].next == offset;
    if (!err) {
        r->st.read_bytes += buf.len;
        r->seq[si].stream = loc->stream_id;
        r->seq[si].next = next;
    }
    pthread_mutex_unlock(&r->mu);
    if (err) {
        if (err == RMQ_ERR_CORRUPT) {
            RMQ_ERROR("tier", "msg=\"object data failed verification\" key=%s stream=%llu offset=%lld", loc->key,
                      (unsigned long long)loc->stream_id, (long long)offset);
            rmq_tier_cache_invalidate(r->cache, loc->object_id);
            rmq_tier_reader_forget(r, loc->object_id);
        }
        rmq_buf_free(&buf);
        return err;
    }
    if ((sequential || offset == loc->base_offset) && pos < end) {
        uint64_t bs = rmq_tier_cache_block_size(r->cache);
        for (uint32_t k = 0; k < r->cfg.readahead_blocks; k++) {
            uint64_t at = (pos / bs + k) * bs;
            if (at < pos) at = pos;
            if (at >= end) break;
            if (!rmq_tier_cache_contains(r->cache, loc->object_id, at)) queue_prefetch(r, loc, at, hot);
        }
    }
    out->data = rmq_buf_detach(&buf, &out->len);
    out->n_batches = nb;
    out->next_offset = next;
    return RMQ_NONE;
}

/* ---- worker pool ---- */

static void q_push(jqueue_t *q, job_t *j) {
    j->next = NULL;
    if (q->tail) q->tail->next = j;
    else q->head = j;
    q->tail = j;
    q->n++;
    if (j->prefetch) q->n_prefetch++;
}

static job_t *q_pop(jqueue_t *q) {
    job_t *j = q->head;
    if (!j) return NULL;
    q->head = j->next;
    if (!q->head) q->tail = NULL;
    q->n--;
    if (j->prefetch) q->n_prefetch--;
    return j;
}

static void run_job(rmq_tier_reader_t *r, job_t *j) {
    if (j->prefetch) {
        rmq_tier_cache_prefetch(r->cache, j->loc.key, j->loc.object_id, j->loc.object_size, j->byte_off, j->hot);
        return;
    }
    rmq_tier_read_result_t res;
    rmq_err_t err = rmq_tier_read(r, &j->loc, j->offset, j->max_bytes, j->hot, &res);
    j->cb(j->ud, err, &res);
}

static void *worker_main(void *arg) {
    rmq_tier_reader_t *r = arg;
    pthread_setname_np(pthread_self(), "rmq-tier-read");
    pthread_mutex_lock(&r->mu);
    for (;;) {
        job_t *j = NULL;
        bool cold = false;
        while (!r->stop) {
            j = q_pop(&r->q[0]);
            if (j) break;
            if (r->cold_running < r->cfg.max_cold_workers && (j = q_pop(&r->q[1]))) {
                cold = true;
                r->cold_running++;
                break;
            }
            pthread_cond_wait(&r->cv, &r->mu);
        }
        if (!j) break;
        if (j->prefetch) r->st.prefetches++;
        pthread_mutex_unlock(&r->mu);
        run_job(r, j);
        free(j);
        pthread_mutex_lock(&r->mu);
        if (cold) {
            r->cold_running--;
            pthread_cond_broadcast(&r->cv);
        }
    }
    pthread_mutex_unlock(&r->mu);
    return NULL;
}

static void queue_prefetch(rmq_tier_reader_t *r, const rmq_tier_loc_t *loc, uint64_t byte_off, bool hot) {
    pthread_mutex_lock(&r->mu);
    jqueue_t *q = &r->q[hot ? 0 : 1];
    if (r->stop || q->n_prefetch >= MAX_PREFETCH_QUEUED) {
        pthread_mutex_unlock(&r->mu);
        return;
    }
    pthread_mutex_unlock(&r->mu);
    job_t *j = calloc(1, sizeof *j);
    if (!j) return;
    j->prefetch = true;
    j->loc = *loc;
    j->byte_off = byte_off;
    j->hot = hot;
    pthread_mutex_lock(&r->mu);
    q_push(q, j);
    pthread_cond_signal(&r->cv);
    pthread_mutex_unlock(&r->mu);
}

rmq_err_t rmq_tier_read_async(rmq_tier_reader_t *r, const rmq_tier_loc_t *loc, int64_t offset, size_t max_bytes,
                              bool hot, rmq_tier_read_cb cb, void *ud) {
    job_t *j = calloc(1, sizeof *j);
    if (!j) return RMQ_ERR_NOMEM;
    j->loc = *loc;
    j->offset = offset;
    j->max_bytes = max_bytes;
    j->hot = hot;
    j->cb = cb;
    j->ud = ud;
    pthread_mutex_lock(&r->mu);
    if (r->stop) {
        pthread_mutex_unlock(&r->mu);
        free(j);
        return RMQ_ERR_CLOSED;
    }
    q_push(&r->q[hot ? 0 : 1], j);
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
    return RMQ_NONE;
}

rmq_tier_reader_t *rmq_tier_reader_new(const rmq_tier_reader_config_t *cfg, rmq_obj_store_t *os) {
    rmq_tier_reader_t *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    r->cfg = *cfg;
    if (r->cfg.workers <= 0) r->cfg.workers = 4;
    if (r->cfg.max_cold_workers <= 0 || r->cfg.max_cold_workers >= r->cfg.workers)
        r->cfg.max_cold_workers = r->cfg.workers > 1 ? r->cfg.workers - 1 : 1;
    if (!r->cfg.readahead_blocks) r->cfg.readahead_blocks = 2;
    r->os = os;
    r->cache = rmq_tier_cache_new(&r->cfg.cache, os);
    r->threads = calloc((size_t)r->cfg.workers, sizeof *r->threads);
    if (!r->cache || !r->threads) {
        rmq_tier_cache_free(r->cache);
        free(r->threads);
        free(r);
        return NULL;
    }
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->cv, NULL);
    for (int i = 0; i < r->cfg.workers; i++) {
        if (pthread_create(&r->threads[i], NULL, worker_main, r)) break;
        r->nthreads++;
    }
    if (r->nthreads == 0) {
        rmq_tier_reader_free(r);
        return NULL;
    }
    return r;
}

void rmq_tier_reader_free(rmq_tier_reader_t *r) {
    if (!r) return;
    pthread_mutex_lock(&r->mu);
    r->stop = true;
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
    for (int i = 0; i < r->nthreads; i++) pthread_join(r->threads[i], NULL);
    for (int qi = 0; qi < 2; qi++) {
        job_t *j;
        while ((j = q_pop(&r->q[qi]))) {
            if (!j->prefetch) {
                rmq_tier_read_result_t res = {0};
                j->cb(j->ud, RMQ_ERR_CLOSED, &res);
            }
            free(j);
        }
    }
    for (int i = 0; i < FOOTER_SLOTS; i++) rmq_tier_footer_free(&r->footers[i].f);
    rmq_tier_cache_free(r->cache);
    free(r->threads);
    pthread_mutex_destroy(&r->mu);
    pthread_cond_destroy(&r->cv);
    free(r);
}

void rmq_tier_reader_forget(rmq_tier_reader_t *r, uint64_t object_id) {
    rmq_tier_cache_invalidate(r->cache, object_id);
    pthread_mutex_lock(&r->mu);
    for (int i = 0; i < FOOTER_SLOTS; i++)
        if (r->footers[i].obj == object_id) {
            rmq_tier_footer_free(&r->footers[i].f);
            r->footers[i].obj = 0;
            r->footers[i].used = 0;
        }
    pthread_mutex_unlock(&r->mu);
}

void rmq_tier_reader_stats(rmq_tier_reader_t *r, rmq_tier_reader_stats_t *out) {
    pthread_mutex_lock(&r->mu);
    *out = r->st;
    pthread_mutex_unlock(&r->mu);
    rmq_tier_cache_stats(r->cache, &out->cache);
}
