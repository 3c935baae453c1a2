/* ratelimit.c - the three-layer admin API limiter over common/tbucket.h
 * (see ratelimit.h). Per-IP buckets live in a chained hash table threaded on an
 * LRU list (most recently seen first): expiry pops idle entries from the
 * tail, and when the table is full the least recently seen IP is evicted. */
#include "admin/ratelimit.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static const char *const rmq_rl_cat_names[RMQ_RL_NCAT] = {"health", "read", "write", "cluster"};

const char *rmq_rl_category_name(rmq_rl_category_t c) {
    return (unsigned)c < RMQ_RL_NCAT ? rmq_rl_cat_names[c] : "unknown";
}

void rmq_ratelimit_config_default(rmq_ratelimit_config_t *c) {
    memset(c, 0, sizeof *c);
    c->enabled = true;
    c->global = (rmq_rl_limit_t){1000, 2000};
    c->per_ip = (rmq_rl_limit_t){50, 100};
    c->category[RMQ_RL_HEALTH] = (rmq_rl_limit_t){100, 200};
    c->category[RMQ_RL_READ] = (rmq_rl_limit_t){30, 60};
    c->category[RMQ_RL_WRITE] = (rmq_rl_limit_t){10, 20};
    c->category[RMQ_RL_CLUSTER] = (rmq_rl_limit_t){5, 10};
    c->max_tracked_ips = 10000;
    c->ip_idle_ttl_ms = 300000;
}

typedef struct rmq_rl_ip {
    char ip[48];
    uint64_t hash;
    uint64_t last_seen_ns;
    rmq_tbucket_t bucket;
    struct rmq_rl_ip *hnext;             /* hash chain */
    struct rmq_rl_ip *lru_prev, *lru_next; /* lru_prev toward the head (newest) */
} rmq_rl_ip_t;

struct rmq_ratelimiter {
    pthread_mutex_t mu;
    rmq_ratelimit_config_t cfg;
    const rmq_clock_t *clock;
    rmq_tbucket_t global;
    rmq_tbucket_t cat[RMQ_RL_NCAT];
    rmq_rl_ip_t **table;
    size_t nslots; /* power of two */
    size_t nips;
    rmq_rl_ip_t *lru_head, *lru_tail;
};

static uint64_t rmq_rl_now(const rmq_ratelimiter_t *rl) { return rl->clock->mono_ns(rl->clock->ud); }

rmq_ratelimiter_t *rmq_rl_new(const rmq_ratelimit_config_t *cfg, const rmq_clock_t *clock) {
    rmq_ratelimiter_t *rl = calloc(1, sizeof *rl);
    if (!rl) return NULL;
    rl->cfg = *cfg;
    if (rl->cfg.max_tracked_ips == 0) rl->cfg.max_tracked_ips = 1;
    rl->clock = clock ? clock : rmq_clock_system();
    size_t slots = 16;
    while (slots < (size_t)rl->cfg.max_tracked_ips * 2 && slots < ((size_t)1 << 24)) slots <<= 1;
    rl->table = calloc(slots, sizeof *rl->table);
    if (!rl->table) {
        free(rl);
        return NULL;
    }
    rl->nslots = slots;
    pthread_mutex_init(&rl->mu, NULL);
    uint64_t now = rmq_rl_now(rl);
    rmq_tbucket_init(&rl->global, rl->cfg.global.rps, rl->cfg.global.burst, now);
    for (int i = 0; i < RMQ_RL_NCAT; i++) rmq_tbucket_init(&rl->cat[i], rl->cfg.category[i].rps, rl->cfg.category[i].burst, now);
    return rl;
}

void rmq_rl_free(rmq_ratelimiter_t *rl) {
    if (!rl) return;
    rmq_rl_ip_t *e = rl->lru_head;
    while (e) {
        rmq_rl_ip_t *n = e->lru_next;
        free(e);
        e = n;
    }
    free(rl->table);
    pthread_mutex_destroy(&rl->mu);
    free(rl);
}

static uint64_t rmq_rl_hash(const char *s) {
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) h = (h ^ (uint8_t)*s) * 1099511628211ull;
    return h;
}

static void rmq_rl_lru_unlink(rmq_ratelimiter_t *rl, rmq_rl_ip_t *e) {
    if (e->lru_prev) e->lru_prev->lru_next = e->lru_next;
    else rl->lru_head = e->lru_next;
    if (e->lru_next) e->lru_next->lru_prev = e->lru_prev;
    else rl->lru_tail = e->lru_prev;
    e->lru_prev = e->lru_next = NULL;
}

static void rmq_rl_lru_push_front(rmq_ratelimiter_t *rl, rmq_rl_ip_t *e) {
    e->lru_prev = NULL;
    e->lru_next = rl->lru_head;
    if (rl->lru_head) rl->lru_head->lru_prev = e;
    rl->lru_head = e;
    if (!rl->lru_tail) rl->lru_tail = e;
}

static void rmq_rl_remove(rmq_ratelimiter_t *rl, rmq_rl_ip_t *e) {
    rmq_rl_ip_t **pp = &rl->table[e->hash & (rl->nslots - 1)];
    while (*pp && *pp != e) pp = &(*pp)->hnext;
    if (*pp) *pp = e->hnext;
    rmq_rl_lru_unlink(rl, e);
    rl->nips--;
    free(e);
}

/* Forget IPs idle for longer than the TTL (they sit at the LRU tail). */
static void rmq_rl_expire(rmq_ratelimiter_t *rl, uint64_t now) {
    uint64_t ttl = rl->cfg.ip_idle_ttl_ms * 1000000ull;
    while (rl->lru_tail && now > rl->lru_tail->last_seen_ns && now - rl->lru_tail->last_seen_ns > ttl)
        rmq_rl_remove(rl, rl->lru_tail);
}

static rmq_rl_ip_t *rmq_rl_ip_get(rmq_ratelimiter_t *rl, const char *ip, uint64_t now) {
    uint64_t h = rmq_rl_hash(ip);
    size_t slot = h & (rl->nslots - 1);
    for (rmq_rl_ip_t *e = rl->table[slot]; e; e = e->hnext)
        if (e->hash == h && strcmp(e->ip, ip) == 0) {
            rmq_rl_lru_unlink(rl, e);
            rmq_rl_lru_push_front(rl, e);
            e->last_seen_ns = now;
            return e;
        }
    if (rl->nips >= rl->cfg.max_tracked_ips && rl->lru_tail) rmq_rl_remove(rl, rl->lru_tail);
    rmq_rl_ip_t *e = calloc(1, sizeof *e);
    if (!e) return NULL;
    size_t n = strlen(ip);
    if (n >= sizeof e->ip) n = sizeof e->ip - 1;
    memcpy(e->ip, ip, n);
    e->hash = h;
    e->last_seen_ns = now;
    rmq_tbucket_init(&e->bucket, rl->cfg.per_ip.rps, rl->cfg.per_ip.burst, now);
    e->hnext = rl->table[slot];
    rl->table[slot] = e;
    rmq_rl_lru_push_front(rl, e);
    rl->nips++;
    return e;
}

static uint32_t rmq_rl_ceil_s(double s) {
    if (s <= 0) return 0;
    double c = ceil(s - 1e-9);
    return c > 86400 ? 86400 : (uint32_t)c;
}

static void rmq_rl_describe(const rmq_tbucket_t *b, const char *scope, bool allowed, rmq_rl_decision_t *out) {
    out->allowed = allowed;
    out->scope = scope;
    out->limit = b->rate;
    out->remaining = b->rate > 0 ? (uint64_t)floor(b->tokens + 1e-9) : 0;
    out->reset_s = b->rate > 0 ? rmq_rl_ceil_s((b->burst - b->tokens) / b->rate) : 0;
    out->retry_after_s = 0;
    if (!allowed) {
        uint32_t w = rmq_rl_ceil_s(rmq_tbucket_wait_s(b, 1));
        out->retry_after_s = w < 1 ? 1 : w;
    }
}

void rmq_rl_check(rmq_ratelimiter_t *rl, const char *ip, rmq_rl_category_t cat, rmq_rl_decision_t *out) {
    if ((unsigned)cat >= RMQ_RL_NCAT) cat = RMQ_RL_READ;
    pthread_mutex_lock(&rl->mu);
    if (!rl->cfg.enabled) {
        memset(out, 0, sizeof *out);
        out->allowed = true;
        out->scope = rmq_rl_category_name(cat);
        pthread_mutex_unlock(&rl->mu);
        return;
    }
    uint64_t now = rmq_rl_now(rl);
    rmq_rl_expire(rl, now);
    rmq_tbucket_t *layers[3];
    const char *scopes[3];
    size_t n = 0;
    layers[n] = &rl->global;
    scopes[n++] = "global";
    if (ip && *ip && rl->cfg.per_ip.rps > 0) {
        rmq_rl_ip_t *e = rmq_rl_ip_get(rl, ip, now);
        if (e) {
            layers[n] = &e->bucket;
            scopes[n++] = "ip";
        }
    }
    layers[n] = &rl->cat[cat];
    scopes[n++] = rmq_rl_category_name(cat);
    for (size_t i = 0; i < n; i++) {
        rmq_tbucket_t *b = layers[i];
        if (b->rate <= 0) continue;
        rmq_tbucket_refill(b, now);
        if (b->tokens + 1e-9 < 1) {
            rmq_rl_describe(b, scopes[i], false, out);
            pthread_mutex_unlock(&rl->mu);
            return;
        }
    }
    for (size_t i = 0; i < n; i++) rmq_tbucket_take(layers[i], now, 1);
    rmq_rl_describe(layers[n - 1], scopes[n - 1], true, out);
    pthread_mutex_unlock(&rl->mu);
}

size_t rmq_rl_tracked_ips(rmq_ratelimiter_t *rl) {
    pthread_mutex_lock(&rl->mu);
    rmq_rl_expire(rl, rmq_rl_now(rl));
    size_t n = rl->nips;
    pthread_mutex_unlock(&rl->mu);
    return n;
}
