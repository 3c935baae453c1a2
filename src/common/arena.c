/* arena.c - see arena.h. */
#include "common/arena.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct rmq_arena_chunk {
    rmq_arena_chunk_t *next;
    size_t cap;
    size_t used;
    _Alignas(16) unsigned char mem[];
};

#define RMQ_ARENA_CHUNK 8192

void rmq_arena_init(rmq_arena_t *a, size_t max_bytes) {
    a->head = NULL;
    a->used_total = 0;
    a->max_bytes = max_bytes;
}

void rmq_arena_free(rmq_arena_t *a) {
    rmq_arena_chunk_t *c = a->head;
    while (c) {
        rmq_arena_chunk_t *n = c->next;
        free(c);
        c = n;
    }
    a->head = NULL;
    a->used_total = 0;
}

void rmq_arena_reset(rmq_arena_t *a) {
    if (!a->head) return;
    rmq_arena_chunk_t *keep = a->head;
    while (keep->next) keep = keep->next; /* the first (smallest) chunk is last */
    rmq_arena_chunk_t *c = a->head;
    while (c != keep) {
        rmq_arena_chunk_t *n = c->next;
        free(c);
        c = n;
    }
    keep->used = 0;
    keep->next = NULL;
    a->head = keep;
    a->used_total = 0;
}

void *rmq_arena_alloc(rmq_arena_t *a, size_t n) {
    size_t need = (n + 15) & ~(size_t)15;
    if (need < n) return NULL;
    if (a->max_bytes && (need > a->max_bytes || a->used_total > a->max_bytes - need)) return NULL;
    rmq_arena_chunk_t *c = a->head;
    if (!c || c->cap - c->used < need) {
        size_t cap = need > RMQ_ARENA_CHUNK ? need : RMQ_ARENA_CHUNK;
        if (cap > SIZE_MAX - sizeof(*c)) return NULL;
        c = malloc(sizeof(*c) + cap);
        if (!c) return NULL;
        c->cap = cap;
        c->used = 0;
        c->next = a->head;
        a->head = c;
    }
    void *p = c->mem + c->used;
    c->used += need;
    a->used_total += need;
    memset(p, 0, n);
    return p;
}

char *rmq_arena_strndup(rmq_arena_t *a, const char *p, size_t n) {
    if (n == SIZE_MAX) return NULL;
    char *d = rmq_arena_alloc(a, n + 1);
    if (!d) return NULL;
    if (n) memcpy(d, p, n);
    d[n] = 0;
    return d;
}
