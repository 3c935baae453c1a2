/* ctl_fence.c - the controller leader's broker heartbeat table and fencing
 * decision (see ctl_fence.h). Owns a small array of tracked registrations
 * kept in broker id order; the metadata state is only read. */
#include "controller/ctl_fence.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

typedef struct fentry {
    int32_t id;
    int64_t epoch;
    uint64_t last_ms;     /* last heartbeat (or start of the grace period) */
    uint32_t timeout_ms;
    uint64_t reported_ms; /* 0 = not reported as expired yet */
} fentry_t;

struct rmq_ctl_fence {
    pthread_mutex_t mu;
    fentry_t *e;
    size_t n, cap;
    bool leader;
};

rmq_ctl_fence_t *rmq_ctl_fence_new(void) {
    rmq_ctl_fence_t *f = calloc(1, sizeof *f);
    if (!f) return NULL;
    pthread_mutex_init(&f->mu, NULL);
    return f;
}

void rmq_ctl_fence_free(rmq_ctl_fence_t *f) {
    if (!f) return;
    pthread_mutex_destroy(&f->mu);
    free(f->e);
    free(f);
}

static uint32_t clamp_timeout(uint32_t t) {
    if (t < RMQ_CTL_FENCE_MIN_TIMEOUT_MS) return RMQ_CTL_FENCE_MIN_TIMEOUT_MS;
    if (t > RMQ_CTL_FENCE_MAX_TIMEOUT_MS) return RMQ_CTL_FENCE_MAX_TIMEOUT_MS;
    return t;
}

/* Entry of id (f->mu held), inserted in id order if missing; NULL on OOM. */
static fentry_t *entry(rmq_ctl_fence_t *f, int32_t id, bool create) {
    size_t lo = 0, hi = f->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (f->e[mid].id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < f->n && f->e[lo].id == id) return &f->e[lo];
    if (!create) return NULL;
    if (f->n == f->cap) {
        size_t nc = f->cap ? f->cap * 2 : 8;
        fentry_t *ne = realloc(f->e, nc * sizeof *ne);
        if (!ne) return NULL;
        f->e = ne;
        f->cap = nc;
    }
    memmove(f->e + lo + 1, f->e + lo, (f->n - lo) * sizeof *f->e);
    f->n++;
    memset(&f->e[lo], 0, sizeof f->e[lo]);
    f->e[lo].id = id;
    f->e[lo].timeout_ms = RMQ_CTL_FENCE_DEFAULT_TIMEOUT_MS;
    return &f->e[lo];
}

rmq_err_t rmq_ctl_fence_heartbeat(rmq_ctl_fence_t *f, rmq_meta_state_t *state, int32_t broker_id, int64_t epoch,
                                  uint32_t timeout_ms, uint64_t now_ms) {
    rmq_meta_state_rdlock(state);
    const rmq_meta_broker_t *br = rmq_meta_state_find_broker(state, broker_id);
    bool current = br && br->epoch == epoch;
    rmq_meta_state_unlock(state);
    if (!current) return RMQ_STALE_BROKER_EPOCH;
    pthread_mutex_lock(&f->mu);
    fentry_t *x = entry(f, broker_id, true);
    if (x) {
        x->epoch = epoch;
        x->last_ms = now_ms;
        x->timeout_ms = clamp_timeout(timeout_ms);
        x->reported_ms = 0;
    }
    pthread_mutex_unlock(&f->mu);
    return x ? RMQ_NONE : RMQ_ERR_NOMEM;
}

size_t rmq_ctl_fence_expired(rmq_ctl_fence_t *f, rmq_meta_state_t *state, bool is_leader, uint64_t now_ms,
                             rmq_ctl_fence_victim_t *out, size_t cap) {
    pthread_mutex_lock(&f->mu);
    if (!is_leader) {
        f->n = 0;
        f->leader = false;
        pthread_mutex_unlock(&f->mu);
        return 0;
    }
    bool fresh = !f->leader;
    f->leader = true;
    if (fresh) f->n = 0;
    /* follow the registrations: new ones (or new epochs) start their clock
     * now, unregistered ones are forgotten */
    rmq_meta_state_rdlock(state);
    size_t nb = rmq_meta_state_broker_count_locked(state);
    for (size_t i = 0; i < nb; i++) {
        const rmq_meta_broker_t *br = rmq_meta_state_broker_at(state, i);
        fentry_t *x = entry(f, br->id, true);
        if (!x) continue; /* OOM: not tracked, so never fenced by mistake */
        if (x->last_ms == 0 || x->epoch != br->epoch) {
            x->epoch = br->epoch;
            x->last_ms = now_ms;
            x->reported_ms = 0;
        }
    }
    size_t w = 0;
    for (size_t i = 0; i < f->n; i++) {
        const rmq_meta_broker_t *br = rmq_meta_state_find_broker(state, f->e[i].id);
        if (br) f->e[w++] = f->e[i];
    }
    f->n = w;
    rmq_meta_state_unlock(state);
    size_t k = 0;
    for (size_t i = 0; i < f->n && k < cap; i++) {
        fentry_t *x = &f->e[i];
        if (now_ms < x->last_ms || now_ms - x->last_ms <= x->timeout_ms) continue;
        if (x->reported_ms && now_ms - x->reported_ms < x->timeout_ms) continue;
        x->reported_ms = now_ms;
        out[k].broker_id = x->id;
        out[k].epoch = x->epoch;
        out[k].silent_ms = now_ms - x->last_ms;
        k++;
    }
    pthread_mutex_unlock(&f->mu);
    return k;
}

size_t rmq_ctl_fence_tracked(rmq_ctl_fence_t *f) {
    pthread_mutex_lock(&f->mu);
    size_t n = f->n;
    pthread_mutex_unlock(&f->mu);
    return n;
}
