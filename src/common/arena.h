/* arena.h - bump allocator for per-request decode state.
 *
 * A decoded request's arrays and copied strings live in one arena that the
 * connection frees (or resets) when the response has been sent: no per-field
 * free, no leaks on error paths. Memory is 16-byte aligned. A size cap
 * (max_bytes, 0 = unlimited) bounds what a hostile frame can make us
 * allocate; past it rmq_arena_alloc returns NULL. */
#ifndef RMQ_COMMON_ARENA_H
#define RMQ_COMMON_ARENA_H

#include <stddef.h>

typedef struct rmq_arena_chunk rmq_arena_chunk_t;

typedef struct rmq_arena {
    rmq_arena_chunk_t *head; /* owned chain */
    size_t used_total;
    size_t max_bytes;
} rmq_arena_t;

void rmq_arena_init(rmq_arena_t *a, size_t max_bytes);
/* Free every chunk. The arena is reusable afterwards. */
void rmq_arena_free(rmq_arena_t *a);
/* Free all but keep (at most) the first chunk for reuse. */
void rmq_arena_reset(rmq_arena_t *a);
/* Zeroed memory owned by the arena, or NULL (OOM or over max_bytes). */
void *rmq_arena_alloc(rmq_arena_t *a, size_t n);
/* Copy of p[0..n) plus a NUL terminator, owned by the arena. */
char *rmq_arena_strndup(rmq_arena_t *a, const char *p, size_t n);

#endif
