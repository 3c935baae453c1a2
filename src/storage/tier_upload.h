/* tier_upload.h - the uploader of tiered storage: turns every sealed WAL
 * segment into one object (tier_format.h), PUTs it, has the caller commit
 * its manifest entry, and only then reclaims the segment's WAL space.
 *
 * Pipeline per segment (one worker of max_concurrent_uploads):
 *   plan the object from the segment's entry list -> read the entries with
 *   rmq_store_segment_pread (coalesced) and verify their WAL CRCs -> wait
 *   for the bandwidth token bucket -> PUT (retried with exponential backoff
 *   and full jitter) -> commit_fn (the broker proposes ObjectManifestAdd and
 *   returns once it is durable in the metadata log; retried the same way) ->
 *   rmq_store_reclaim. A crash anywhere before the reclaim only means the
 *   segment is uploaded again after restart (same key, same object id: the
 *   manifest treats the repeat as idempotent).
 *
 * Storage never includes controller headers: the manifest goes out through
 * rmq_tier_commit_fn. Also here: rmq_tier_seed_wal, which lets a broker
 * restarted with an empty WAL directory continue every stream at the
 * offsets the manifest knows (see docs/tiering.md). */
#ifndef RMQ_STORAGE_TIER_UPLOAD_H
#define RMQ_STORAGE_TIER_UPLOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/clock.h"
#include "common/err.h"
#include "storage/objstore.h"
#include "storage/store.h"
#include "storage/tier_format.h"

/* What one uploaded object holds; everything borrowed for the call. */
typedef struct rmq_tier_manifest {
    const char *key;
    uint64_t object_id; /* = the WAL segment id */
    uint64_t size;
    size_t n_ranges;
    const rmq_tier_range_t *ranges;
} rmq_tier_manifest_t;

/* Make the manifest entry durable (e.g. propose ObjectManifestAdd and wait
 * for it to commit). Called on an uploader worker thread; may block.
 * Return RMQ_NONE only once it is durable; any error is retried with
 * backoff (err[0..errlen) may say why). */
typedef rmq_err_t (*rmq_tier_commit_fn)(void *ud, const rmq_tier_manifest_t *m, char *err, size_t errlen);

typedef struct rmq_tier_upload_config {
    const char *key_prefix;           /* "v1/<cluster id>"; copied */
    int max_concurrent_uploads;       /* 0 = 2 */
    uint64_t bandwidth_bytes_per_sec; /* 0 = unlimited */
    uint32_t retry_base_ms;           /* 0 = 100 */
    uint32_t retry_max_ms;            /* 0 = 10000 */
} rmq_tier_upload_config_t;

typedef struct rmq_tier_upload_stats {
    uint64_t objects_uploaded, bytes_uploaded; /* PUTs that succeeded */
    uint64_t put_requests, upload_failures, upload_retries;
    uint64_t commit_failures, segments_reclaimed, segments_empty;
    uint64_t queued, running; /* now */
    uint64_t throttled_ms;    /* time spent waiting for the bandwidth limit */
    uint64_t paced_ns;        /* time local-disk object writes waited for pacing */
    uint64_t entries_from_cache, entries_read; /* WAL entries copied from the write cache / read from the segment */
} rmq_tier_upload_stats_t;

typedef struct rmq_tier_uploader rmq_tier_uploader_t;

/* Size of the object buffer the uploader allocates for an object of n
 * bytes (kept buffers of at least this size are reused): segment-sized
 * objects of one WAL all map to the same size. Exposed for tests. */
size_t rmq_tier_buffer_size(size_t n);

/* Start the workers. os, st borrowed: they must outlive the uploader (stop
 * it before closing the store). Register afterwards with
 * rmq_store_set_sealed_cb(st, rmq_tier_uploader_on_sealed, *out). */
rmq_err_t rmq_tier_uploader_start(const rmq_tier_upload_config_t *cfg, rmq_obj_store_t *os, rmq_store_t *st,
                                  rmq_tier_commit_fn commit, void *commit_ud, rmq_tier_uploader_t **out);
/* The store's sealed-segment callback (ud = the uploader): copies the
 * entry list and queues the segment. Quick; never blocks on I/O. */
void rmq_tier_uploader_on_sealed(void *ud, const rmq_store_segment_info_t *seg);
/* Wait until nothing is queued or running, up to timeout_ms. true if idle. */
bool rmq_tier_uploader_wait_idle(rmq_tier_uploader_t *u, uint32_t timeout_ms);
/* Stop: workers finish the step they are in (a PUT or commit in flight
 * completes; retries stop), queued segments stay in the WAL for the next
 * start. Unregister the sealed callback first. NULL ok. */
void rmq_tier_uploader_stop(rmq_tier_uploader_t *u);
void rmq_tier_uploader_stats(rmq_tier_uploader_t *u, rmq_tier_upload_stats_t *out);

/* Backoff before retry number `attempt` (1-based): full jitter in
 * [d/2, d] with d = min(max_ms, base_ms * 2^(attempt-1)); rnd is a caller
 * random value. Exposed for tests. */
uint32_t rmq_tier_backoff_ms(uint32_t base_ms, uint32_t max_ms, uint32_t attempt, uint32_t rnd);

/* ---- empty-WAL restart ---- */
typedef struct rmq_tier_seed_stream {
    uint64_t stream_id;
    int64_t log_start, end; /* from the manifest */
} rmq_tier_seed_stream_t;

/* If dir holds no checkpoint and no segment file (new or wiped WAL), write a
 * checkpoint that starts the streams at their manifest end (reads below it
 * return RMQ_ERR_NOT_FOUND: the object tier) and the segment ids at
 * next_segment_id (> every object id this broker uploaded, and in its own
 * id range in quorum mode, so keys never collide). Nothing is written for a
 * new WAL without streams that starts at 1 anyway. *seeded says whether it
 * wrote one. Creates dir if missing. */
rmq_err_t rmq_tier_seed_wal(const char *dir, uint64_t next_segment_id, const rmq_tier_seed_stream_t *streams,
                            size_t n, bool *seeded, char *err, size_t errlen);

#endif
