/* producer_state.c - see producer_state.h. Open-addressing hash table keyed
 * by producer id, each entry holding a ring of the last batches. */
#include "broker/producer_state.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    int32_t first_seq, last_seq;
    int64_t base_offset;
    int64_t timestamp; /* the batch's max timestamp as stored */
} rmq_pbatch_t;

typedef struct {
    int64_t pid; /* -1 = empty slot */
    int16_t epoch;
    uint8_t nkept, head; /* ring of kept batches; head = most recent */
    int64_t last_ms;     /* latest write (wall ms) */
    rmq_pbatch_t kept[RMQ_PRODUCER_KEEP];
} rmq_pentry_t;

struct rmq_producers {
    rmq_pentry_t *tab;
    size_t cap, count;
    int64_t expire_ms;     /* 0 = never */
    int64_t next_sweep_ms; /* no sweep before this (wall ms) */
};

static uint64_t rmq_pid_hash(int64_t pid) {
    uint64_t x = (uint64_t)pid;
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    return x;
}

rmq_producers_t *rmq_producers_new(int64_t expire_ms) {
    rmq_producers_t *ps = calloc(1, sizeof(rmq_producers_t));
    if (ps) ps->expire_ms = expire_ms > 0 ? expire_ms : 0;
    return ps;
}

void rmq_producers_free(rmq_producers_t *ps) {
    if (!ps) return;
    free(ps->tab);
    free(ps);
}

size_t rmq_producers_count(const rmq_producers_t *ps) { return ps->count; }

static rmq_pentry_t *rmq_producers_find(const rmq_producers_t *ps, int64_t pid) {
    if (!ps->cap) return NULL;
    size_t i = rmq_pid_hash(pid) & (ps->cap - 1);
    while (ps->tab[i].pid != -1) {
        if (ps->tab[i].pid == pid) return &ps->tab[i];
        i = (i + 1) & (ps->cap - 1);
    }
    return NULL;
}

/* Rehash into a table of ncap slots, dropping entries last written before
 * min_ms (open addressing: removal is a rebuild). */
static rmq_err_t rmq_producers_rebuild(rmq_producers_t *ps, size_t ncap, int64_t min_ms) {
    rmq_pentry_t *nt = malloc(ncap * sizeof *nt);
    if (!nt) return RMQ_ERR_NOMEM;
    for (size_t i = 0; i < ncap; i++) nt[i].pid = -1;
    ps->count = 0;
    for (size_t i = 0; i < ps->cap; i++) {
        if (ps->tab[i].pid == -1 || ps->tab[i].last_ms < min_ms) continue;
        ps->count++;
        size_t j = rmq_pid_hash(ps->tab[i].pid) & (ncap - 1);
        while (nt[j].pid != -1) j = (j + 1) & (ncap - 1);
        nt[j] = ps->tab[i];
    }
    free(ps->tab);
    ps->tab = nt;
    ps->cap = ncap;
    return 0;
}

static rmq_err_t rmq_producers_grow(rmq_producers_t *ps) {
    return rmq_producers_rebuild(ps, ps->cap ? ps->cap * 2 : 16, INT64_MIN);
}

/* Forget producers idle for expire_ms, at most once per tenth of it (and
 * at least once a minute); shrinks the table when it got mostly empty. */
static void rmq_producers_sweep(rmq_producers_t *ps, int64_t now_ms) {
    if (!ps->expire_ms || now_ms < ps->next_sweep_ms) return;
    int64_t every = ps->expire_ms / 10 < 60000 ? ps->expire_ms / 10 : 60000;
    ps->next_sweep_ms = now_ms + (every > 0 ? every : 1);
    size_t live = 0;
    for (size_t i = 0; i < ps->cap; i++)
        if (ps->tab[i].pid != -1 && ps->tab[i].last_ms >= now_ms - ps->expire_ms) live++;
    if (live == ps->count) return;
    size_t ncap = 16;
    while ((live + 1) * 4 > ncap * 3) ncap *= 2;
    (void)rmq_producers_rebuild(ps, ncap, now_ms - ps->expire_ms); /* OOM: keep the old table */
}

static int32_t rmq_seq_add(int32_t seq, int32_t n) {
    /* sequences wrap from INT32_MAX to 0 */
    int64_t v = (int64_t)seq + n;
    if (v > INT32_MAX) v -= (int64_t)INT32_MAX + 1;
    return (int32_t)v;
}

rmq_err_t rmq_producers_check(const rmq_producers_t *ps, int64_t pid, int16_t epoch, int32_t first_seq,
                              int32_t count, int64_t *dup_base_offset, int64_t *dup_timestamp) {
    if (first_seq < 0 || count <= 0) return RMQ_OUT_OF_ORDER_SEQUENCE_NUMBER;
    const rmq_pentry_t *e = rmq_producers_find(ps, pid);
    if (!e || e->nkept == 0) return first_seq == 0 ? 0 : RMQ_OUT_OF_ORDER_SEQUENCE_NUMBER;
    if (epoch < e->epoch) return RMQ_INVALID_PRODUCER_EPOCH;
    if (epoch > e->epoch) return first_seq == 0 ? 0 : RMQ_OUT_OF_ORDER_SEQUENCE_NUMBER;
    int32_t last_seq = rmq_seq_add(first_seq, count - 1);
    for (int k = 0; k < e->nkept; k++) {
        const rmq_pbatch_t *b = &e->kept[(e->head + RMQ_PRODUCER_KEEP - k) % RMQ_PRODUCER_KEEP];
        if (b->first_seq == first_seq && b->last_seq == last_seq) {
            *dup_base_offset = b->base_offset;
            if (dup_timestamp) *dup_timestamp = b->timestamp;
            return RMQ_DUPLICATE_SEQUENCE_NUMBER;
        }
    }
    const rmq_pbatch_t *last = &e->kept[e->head];
    if (first_seq != rmq_seq_add(last->last_seq, 1)) return RMQ_OUT_OF_ORDER_SEQUENCE_NUMBER;
    return 0;
}

rmq_err_t rmq_producers_record(rmq_producers_t *ps, int64_t pid, int16_t epoch, int32_t first_seq, int32_t count,
                               int64_t base_offset, int64_t now_ms, int64_t batch_ts) {
    rmq_producers_sweep(ps, now_ms);
    rmq_pentry_t *e = rmq_producers_find(ps, pid);
    if (!e) {
        if ((ps->count + 1) * 4 > ps->cap * 3) {
            rmq_err_t err = rmq_producers_grow(ps);
            if (err) return err;
        }
        size_t i = rmq_pid_hash(pid) & (ps->cap - 1);
        while (ps->tab[i].pid != -1) i = (i + 1) & (ps->cap - 1);
        e = &ps->tab[i];
        memset(e, 0, sizeof *e);
        e->pid = pid;
        e->last_ms = now_ms;
        ps->count++;
    }
    if (epoch != e->epoch || e->nkept == 0) {
        e->epoch = epoch;
        e->nkept = 0;
        e->head = 0;
    } else {
        e->head = (uint8_t)((e->head + 1) % RMQ_PRODUCER_KEEP);
    }
    rmq_pbatch_t *b = &e->kept[e->head];
    b->first_seq = first_seq;
    b->last_seq = rmq_seq_add(first_seq, count - 1);
    b->base_offset = base_offset;
    b->timestamp = batch_ts;
    if (e->nkept < RMQ_PRODUCER_KEEP) e->nkept++;
    if (now_ms > e->last_ms) e->last_ms = now_ms;
    return 0;
}
