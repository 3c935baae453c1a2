/* tier_cache.c - block cache for tiered reads (see tier_cache.h).
 *
 * Blocks live in a chained hash table and in one of two LRU lists (hot,
 * cold). A block is refcounted: the table holds one reference, every
 * reader copying from it another, so eviction never frees memory under a
 * reader. Misses are fetched outside the lock; two readers missing the same
 * block may both GET it, and the second insert is dropped. */
#include "storage/tier_cache.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"

typedef struct blk {
    uint64_t obj, idx;
    uint8_t *data;
    size_t len;
    int pool; /* 0 hot, 1 cold */
    atomic_int refs;
    bool in_table;
    struct blk *hnext;
    struct blk *prev, *next; /* LRU: head = most recent */
} blk_t;

typedef struct pool {
    blk_t *head, *tail;
    uint64_t bytes, high, low;
} pool_t;

struct rmq_tier_cache {
    rmq_tier_cache_config_t cfg;
    rmq_obj_store_t *os;
    pthread_mutex_t mu;
    blk_t **tab;
    size_t nb, n;
    pool_t pools[2];
    rmq_tier_cache_stats_t st;
};

static uint64_t bhash(uint64_t obj, uint64_t idx) {
    uint64_t x = obj * 0x9e3779b97f4a7c15ull ^ (idx + 0x632be59bd9b4e019ull);
    x ^= x >> 29;
    x *= 0xbf58476d1ce4e5b9ull;
    return x ^ (x >> 32);
}

rmq_tier_cache_t *rmq_tier_cache_new(const rmq_tier_cache_config_t *cfg, rmq_obj_store_t *os) {
    rmq_tier_cache_t *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->cfg = *cfg;
    if (c->cfg.hot_fraction <= 0 || c->cfg.hot_fraction >= 1) c->cfg.hot_fraction = 0.5;
    if (c->cfg.low_watermark <= 0 || c->cfg.low_watermark > 1) c->cfg.low_watermark = 0.9;
    if (!c->cfg.block_size) c->cfg.block_size = 1u << 20;
    if (!c->cfg.get_attempts) c->cfg.get_attempts = 3;
    c->os = os;
    c->nb = 256;
    c->tab = calloc(c->nb, sizeof *c->tab);
    if (!c->tab) {
        free(c);
        return NULL;
    }
    uint64_t hot = (uint64_t)((double)c->cfg.capacity_bytes * c->cfg.hot_fraction);
    c->pools[0].high = hot;
    c->pools[1].high = c->cfg.capacity_bytes - hot;
    for (int i = 0; i < 2; i++) c->pools[i].low = (uint64_t)((double)c->pools[i].high * c->cfg.low_watermark);
    pthread_mutex_init(&c->mu, NULL);
    return c;
}

static void blk_unref(blk_t *b) {
    if (atomic_fetch_sub(&b->refs, 1) == 1) {
        free(b->data);
        free(b);
    }
}

static void lru_unlink(pool_t *p, blk_t *b) {
    if (b->prev) b->prev->next = b->next;
    else p->head = b->next;
    if (b->next) b->next->prev = b->prev;
    else p->tail = b->prev;
    b->prev = b->next = NULL;
}

static void lru_push(pool_t *p, blk_t *b) {
    b->prev = NULL;
    b->next = p->head;
    if (p->head) p->head->prev = b;
    p->head = b;
    if (!p->tail) p->tail = b;
}

/* Unlink b from table and LRU (mu held); drops the table's reference. */
static void tab_remove(rmq_tier_cache_t *c, blk_t *b) {
    blk_t **pp = &c->tab[bhash(b->obj, b->idx) & (c->nb - 1)];
    while (*pp && *pp != b) pp = &(*pp)->hnext;
    if (*pp) *pp = b->hnext;
    c->n--;
    pool_t *p = &c->pools[b->pool];
    lru_unlink(p, b);
    p->bytes -= b->len;
    b->in_table = false;
    blk_unref(b);
}

void rmq_tier_cache_free(rmq_tier_cache_t *c) {
    if (!c) return;
    for (size_t i = 0; i < c->nb; i++) {
        blk_t *b = c->tab[i];
        while (b) {
            blk_t *nx = b->hnext;
            blk_unref(b);
            b = nx;
        }
    }
    free(c->tab);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

uint32_t rmq_tier_cache_block_size(const rmq_tier_cache_t *c) { return c->cfg.block_size; }

static blk_t *tab_find(rmq_tier_cache_t *c, uint64_t obj, uint64_t idx) {
    for (blk_t *b = c->tab[bhash(obj, idx) & (c->nb - 1)]; b; b = b->hnext)
        if (b->obj == obj && b->idx == idx) return b;
    return NULL;
}

static void tab_grow(rmq_tier_cache_t *c) {
    size_t nn = c->nb * 2;
    blk_t **nt = calloc(nn, sizeof *nt);
    if (!nt) return; /* longer chains, still correct */
    for (size_t i = 0; i < c->nb; i++) {
        blk_t *b = c->tab[i];
        while (b) {
            blk_t *nx = b->hnext;
            size_t h = bhash(b->obj, b->idx) & (nn - 1);
            b->hnext = nt[h];
            nt[h] = b;
            b = nx;
        }
    }
    free(c->tab);
    c->tab = nt;
    c->nb = nn;
}

/* Evict pool p down to its low watermark once it is above its high one. */
static void pool_evict(rmq_tier_cache_t *c, int pi) {
    pool_t *p = &c->pools[pi];
    if (p->bytes <= p->high) return;
    while (p->tail && p->bytes > p->low) {
        tab_remove(c, p->tail);
        c->st.evictions++;
    }
}

static void sleep_ms(unsigned ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* GET one block (retrying retriable errors) into a new blk_t (refs = 1). */
static rmq_err_t fetch_block(rmq_tier_cache_t *c, const char *key, uint64_t obj, uint64_t idx, uint64_t size,
                             blk_t **out) {
    uint64_t off = idx * c->cfg.block_size;
    size_t len = (size_t)(size - off < c->cfg.block_size ? size - off : c->cfg.block_size);
    rmq_buf_t buf;
    rmq_buf_init(&buf);
    /* block-aligned so the local backend can read its whole blocks with O_DIRECT */
    (void)rmq_buf_reserve_aligned(&buf, len, 4096); /* a failure only costs that */
    rmq_err_t err = RMQ_ERR_IO;
    rmq_obj_status_t st;
    for (uint32_t attempt = 0; attempt < c->cfg.get_attempts; attempt++) {
        if (attempt) {
            pthread_mutex_lock(&c->mu);
            c->st.get_retries++;
            pthread_mutex_unlock(&c->mu);
            sleep_ms(20u << attempt);
        }
        rmq_buf_reset(&buf);
        err = rmq_obj_get(c->os, key, off, (int64_t)len, &buf, &st);
        pthread_mutex_lock(&c->mu);
        c->st.get_requests++;
        if (!err) c->st.get_bytes += buf.len;
        else c->st.get_failures++;
        pthread_mutex_unlock(&c->mu);
        if (!err && buf.len != len) err = RMQ_ERR_CORRUPT; /* the backend promises exact lengths */
        if (!err || !(err == RMQ_ERR_AGAIN || err == RMQ_ERR_TIMEOUT || err == RMQ_ERR_CORRUPT)) break;
        RMQ_WARN("tier", "msg=\"object GET failed, retrying\" key=%s offset=%llu err=%s detail=\"%s\"", key,
                 (unsigned long long)off, rmq_err_name(err), st.msg);
    }
    if (err) {
        rmq_buf_free(&buf);
        return err;
    }
    blk_t *b = calloc(1, sizeof *b);
    if (!b) {
        rmq_buf_free(&buf);
        return RMQ_ERR_NOMEM;
    }
    b->obj = obj;
    b->idx = idx;
    b->data = rmq_buf_detach(&buf, &b->len); /* ownership moves from the buffer */
    atomic_init(&b->refs, 1);
    *out = b;
    return RMQ_NONE;
}

/* A referenced block (obj, idx), from the cache or fetched and inserted. */
static rmq_err_t get_block(rmq_tier_cache_t *c, const char *key, uint64_t obj, uint64_t idx, uint64_t size, bool hot,
                           blk_t **out) {
    int pi = hot ? 0 : 1;
    pthread_mutex_lock(&c->mu);
    blk_t *b = tab_find(c, obj, idx);
    if (b) {
        atomic_fetch_add(&b->refs, 1);
        pool_t *p = &c->pools[b->pool];
        lru_unlink(p, b);
        lru_push(p, b);
        if (hot) c->st.hot_hits++;
        else c->st.cold_hits++;
        pthread_mutex_unlock(&c->mu);
        *out = b;
        return RMQ_NONE;
    }
    if (hot) c->st.hot_misses++;
    else c->st.cold_misses++;
    pthread_mutex_unlock(&c->mu);
    rmq_err_t err = fetch_block(c, key, obj, idx, size, &b);
    if (err) return err;
    pthread_mutex_lock(&c->mu);
    blk_t *other = tab_find(c, obj, idx);
    if (other) { /* someone else fetched it meanwhile */
        atomic_fetch_add(&other->refs, 1);
        pthread_mutex_unlock(&c->mu);
        blk_unref(b);
        *out = other;
        return RMQ_NONE;
    }
    b->pool = pi;
    b->in_table = true;
    atomic_fetch_add(&b->refs, 1); /* the table's reference */
    size_t h = bhash(obj, idx) & (c->nb - 1);
    b->hnext = c->tab[h];
    c->tab[h] = b;
    c->n++;
    lru_push(&c->pools[pi], b);
    c->pools[pi].bytes += b->len;
    pool_evict(c, pi);
    if (c->n > c->nb) tab_grow(c);
    pthread_mutex_unlock(&c->mu);
    *out = b;
    return RMQ_NONE;
}

rmq_err_t rmq_tier_cache_read(rmq_tier_cache_t *c, const char *key, uint64_t object_id, uint64_t object_size,
                              uint64_t off, size_t len, bool hot, void *dst) {
    if (off > object_size || len > object_size - off) return RMQ_ERR_INVALID_ARG;
    uint8_t *d = dst;
    uint64_t bs = c->cfg.block_size;
    while (len > 0) {
        uint64_t idx = off / bs, in = off % bs;
        blk_t *b;
        rmq_err_t err = get_block(c, key, object_id, idx, object_size, hot, &b);
        if (err) return err;
        size_t n = (size_t)(b->len - in < len ? b->len - in : len);
        memcpy(d, b->data + in, n);
        blk_unref(b);
        d += n;
        off += n;
        len -= n;
    }
    return RMQ_NONE;
}

rmq_err_t rmq_tier_cache_prefetch(rmq_tier_cache_t *c, const char *key, uint64_t object_id, uint64_t object_size,
                                  uint64_t off, bool hot) {
    if (off >= object_size) return RMQ_ERR_INVALID_ARG;
    if (rmq_tier_cache_contains(c, object_id, off)) return RMQ_NONE;
    blk_t *b;
    rmq_err_t err = get_block(c, key, object_id, off / c->cfg.block_size, object_size, hot, &b);
    if (!err) blk_unref(b);
    return err;
}

bool rmq_tier_cache_contains(rmq_tier_cache_t *c, uint64_t object_id, uint64_t off) {
    pthread_mutex_lock(&c->mu);
    bool in = tab_find(c, object_id, off / c->cfg.block_size) != NULL;
    pthread_mutex_unlock(&c->mu);
    return in;
}

void rmq_tier_cache_invalidate(rmq_tier_cache_t *c, uint64_t object_id) {
    pthread_mutex_lock(&c->mu);
    for (size_t i = 0; i < c->nb; i++) {
        blk_t *b = c->tab[i];
        while (b) {
            blk_t *nx = b->hnext;
            if (b->obj == object_id) tab_remove(c, b);
            b = nx;
        }
    }
    pthread_mutex_unlock(&c->mu);
}

void rmq_tier_cache_stats(rmq_tier_cache_t *c, rmq_tier_cache_stats_t *out) {
    pthread_mutex_lock(&c->mu);
    *out = c->st;
    out->hot_bytes = c->pools[0].bytes;
    out->cold_bytes = c->pools[1].bytes;
    pthread_mutex_unlock(&c->mu);
}
