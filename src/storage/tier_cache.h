/* tier_cache.h - the read cache of tiered storage: fixed-size blocks of
 * objects fetched with ranged GETs, kept in two LRU pools with separate
 * budgets ("hot" for reads near a stream's tail, "cold" for backfill), each
 * evicted from its high watermark (its budget) down to its low watermark,
 * so a consumer replaying old data only ever evicts cold blocks.
 *
 * Blocks are keyed by (object id, block index); object ids are WAL segment
 * ids, never reused for different content. Thread-safe (one mutex; GETs and
 * copies run outside it, blocks are refcounted). */
#ifndef RMQ_STORAGE_TIER_CACHE_H
#define RMQ_STORAGE_TIER_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "storage/objstore.h"

typedef struct rmq_tier_cache_config {
    uint64_t capacity_bytes; /* both pools together (0 = no caching: blocks live only while copied) */
    double hot_fraction;     /* share of capacity for the hot pool (0 = 0.5) */
    double low_watermark;    /* evict down to this fraction of a pool's budget (0 = 0.9) */
    uint32_t block_size;     /* 0 = 1 MiB */
    uint32_t get_attempts;   /* GET tries per block on retriable errors (0 = 3) */
} rmq_tier_cache_config_t;

typedef struct rmq_tier_cache_stats {
    uint64_t hot_hits, hot_misses, cold_hits, cold_misses;
    uint64_t get_requests, get_bytes, get_failures, get_retries;
    uint64_t evictions;
    uint64_t hot_bytes, cold_bytes; /* in use now */
} rmq_tier_cache_stats_t;

typedef struct rmq_tier_cache rmq_tier_cache_t;

/* os is borrowed and must outlive the cache. NULL on OOM. */
rmq_tier_cache_t *rmq_tier_cache_new(const rmq_tier_cache_config_t *cfg, rmq_obj_store_t *os);
void rmq_tier_cache_free(rmq_tier_cache_t *c);
uint32_t rmq_tier_cache_block_size(const rmq_tier_cache_t *c);

/* Copy bytes [off, off + len) of object (key, object_id, object_size) into
 * dst (caller-owned, len bytes), fetching missing blocks with one ranged GET
 * each; a fetched block is charged to the hot or the cold pool. Errors are
 * the object store's (after get_attempts tries for retriable ones) or
 * RMQ_ERR_INVALID_ARG for a range outside the object. */
rmq_err_t rmq_tier_cache_read(rmq_tier_cache_t *c, const char *key, uint64_t object_id, uint64_t object_size,
                              uint64_t off, size_t len, bool hot, void *dst);
/* Fetch the block holding off unless cached (read-ahead). */
rmq_err_t rmq_tier_cache_prefetch(rmq_tier_cache_t *c, const char *key, uint64_t object_id, uint64_t object_size,
                                  uint64_t off, bool hot);
bool rmq_tier_cache_contains(rmq_tier_cache_t *c, uint64_t object_id, uint64_t off);
/* Drop the cached blocks of an object (verification failure, deletion). */
void rmq_tier_cache_invalidate(rmq_tier_cache_t *c, uint64_t object_id);
void rmq_tier_cache_stats(rmq_tier_cache_t *c, rmq_tier_cache_stats_t *out);

#endif
