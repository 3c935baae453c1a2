/* tier_read.h - the tiered read path: reads whole batches of one stream
 * from an uploaded object, through the block cache (tier_cache.h), with
 * every WAL entry's CRC verified, and a worker pool so network I/O never
 * runs on a caller's event loop.
 *
 * The caller (the broker) looks up the manifest entry for (stream, offset)
 * and passes it as an rmq_tier_loc_t; storage never sees metadata types.
 * Hot and cold reads are separated twice: their blocks are charged to
 * separate cache pools, and cold jobs may occupy at most max_cold_workers
 * workers, so a backfill never starves reads near the tail.
 * Sequential readers (a read starting where the previous read of the
 * stream ended) get read-ahead: the next blocks are prefetched. */
#ifndef RMQ_STORAGE_TIER_READ_H
#define RMQ_STORAGE_TIER_READ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/err.h"
#include "storage/objstore.h"
#include "storage/tier_cache.h"

/* One object range of a stream (a manifest entry). */
typedef struct rmq_tier_loc {
    char key[256];
    uint64_t object_id, object_size;
    uint64_t stream_id;
    int64_t base_offset, end_offset;
    uint64_t byte_offset, byte_length;
} rmq_tier_loc_t;

typedef struct rmq_tier_read_result {
    uint8_t *data; /* whole batches back to back; malloc'd, owned by the result */
    size_t len;
    size_t n_batches;
    int64_t next_offset; /* offset after the last batch */
} rmq_tier_read_result_t;

void rmq_tier_read_result_free(rmq_tier_read_result_t *r);

typedef struct rmq_tier_reader_config {
    rmq_tier_cache_config_t cache;
    int workers;              /* 0 = 4 */
    int max_cold_workers;     /* 0 = workers - 1 (at least 1) */
    uint32_t readahead_blocks; /* 0 = 2 */
} rmq_tier_reader_config_t;

typedef struct rmq_tier_reader_stats {
    uint64_t reads, read_bytes, read_errors, corrupt, prefetches;
    rmq_tier_cache_stats_t cache;
} rmq_tier_reader_stats_t;

typedef struct rmq_tier_reader rmq_tier_reader_t;

/* os borrowed (must outlive the reader). Starts the workers. NULL on failure. */
rmq_tier_reader_t *rmq_tier_reader_new(const rmq_tier_reader_config_t *cfg, rmq_obj_store_t *os);
/* Stop the workers (queued jobs complete with RMQ_ERR_CLOSED) and free. */
void rmq_tier_reader_free(rmq_tier_reader_t *r);

/* Blocking read (worker threads, tests): batches of loc's stream from the
 * one containing `offset` (or the first after it), up to max_bytes but at
 * least one, within loc's range. out is filled on success (free with
 * rmq_tier_read_result_free). RMQ_ERR_INVALID_ARG (offset not below the
 * range end), RMQ_ERR_CORRUPT (an entry failed verification: the cached
 * blocks of the object are dropped so a retry re-fetches), or the object
 * store's error. Never returns unverified bytes. */
rmq_err_t rmq_tier_read(rmq_tier_reader_t *r, const rmq_tier_loc_t *loc, int64_t offset, size_t max_bytes, bool hot,
                        rmq_tier_read_result_t *out);

/* res is owned by the callee (free with rmq_tier_read_result_free); it is
 * empty when err != 0. Runs on a reader worker thread. */
typedef void (*rmq_tier_read_cb)(void *ud, rmq_err_t err, rmq_tier_read_result_t *res);
/* Queue rmq_tier_read on a worker; cb is called exactly once (also with
 * RMQ_ERR_CLOSED at shutdown) unless this returns an error (RMQ_ERR_NOMEM,
 * RMQ_ERR_CLOSED). loc is copied. */
rmq_err_t rmq_tier_read_async(rmq_tier_reader_t *r, const rmq_tier_loc_t *loc, int64_t offset, size_t max_bytes,
                              bool hot, rmq_tier_read_cb cb, void *ud);
/* Reads len bytes at byte position pos of the object into dst (caller-owned,
 * len bytes). Returns RMQ_NONE or the storage error. */
typedef rmq_err_t (*rmq_tier_fetch_fn)(void *ud, uint64_t pos, size_t len, uint8_t *dst);

/* The entry walk of rmq_tier_read, over any byte source (the reader passes
 * the block cache; fuzzers and tests pass memory): starting at *pos (moved
 * to loc's range start if outside [byte_offset, byte_offset+byte_length)),
 * decode each WAL entry header (rmq_wal_hdr_decode with loc->object_id),
 * require a DATA entry of loc's stream inside loc's offsets, skip entries
 * that end at or before `offset`, and append the payloads of the following
 * batches to out (caller-owned) after checking each one's CRC, up to
 * max_bytes but at least one batch. On return *pos is the byte position
 * after the last consumed entry, *n_batches and *next_offset (offset after
 * the last appended batch; `offset` if none) are set. RMQ_ERR_CORRUPT (an
 * entry failed verification, or no batch at or after offset in the range),
 * RMQ_ERR_NOMEM or fetch's error; out may hold partial data on error. */
rmq_err_t rmq_tier_scan_entries(const rmq_tier_loc_t *loc, int64_t offset, size_t max_bytes, rmq_tier_fetch_fn fetch,
                                void *ud, uint64_t *pos, rmq_buf_t *out, size_t *n_batches, int64_t *next_offset);

/* Drop cached data of a deleted object. */
void rmq_tier_reader_forget(rmq_tier_reader_t *r, uint64_t object_id);
void rmq_tier_reader_stats(rmq_tier_reader_t *r, rmq_tier_reader_stats_t *out);

#endif
