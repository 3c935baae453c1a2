/* store.h - the broker's storage engine: one shared write-ahead log for all
 * partitions ("streams"), group commit, per-stream offset indexes, a write
 * cache for tailing readers, crash recovery and the reclaim hook used by the
 * object-storage tier.
 *
 * Batches are opaque bytes (a Kafka RecordBatch in practice): the store only
 * writes the assigned base offset as a big-endian int64 into the first 8
 * bytes of its copy. It never includes protocol/ or broker/ headers.
 *
 * Threads: appends, reads and info calls may come from any thread. One WAL
 * writer thread writes everything pending with one vectored write and one
 * fdatasync (group commit; optionally O_DIRECT from aligned buffers and/or
 * submitted through io_uring, see rmq_store_config_t) and runs the
 * completion callbacks. Callbacks run
 * on that writer thread: they must be quick and must not call the
 * synchronous functions (trim, stream_delete, reclaim, sync, seal_active)
 * - that would deadlock. Appending from a callback is allowed.
 *
 * See docs/storage.md for the format, recovery and failure semantics. */
#ifndef RMQ_STORAGE_STORE_H
#define RMQ_STORAGE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "common/clock.h"
#include "common/err.h"
#include "common/sched.h"
#include "storage/wal_io.h"

typedef struct rmq_store_config {
    const char *dir;             /* WAL directory (borrowed for open; created if missing) */
    uint64_t capacity_bytes;     /* bound on all segment files together */
    uint64_t segment_size_bytes; /* each preallocated segment file */
    bool fsync_on_write;         /* true: complete appends after fdatasync */
    uint32_t flush_interval_ms;  /* fsync_on_write=false: background flush period */
    uint64_t write_cache_size_bytes; /* recent batches kept in memory (0 = none) */
    bool direct_io;              /* O_DIRECT writes from 4096-aligned buffers (segment
                                    size must be a multiple of 4096; the filesystem must
                                    support O_DIRECT, else open fails: ERR_UNSUPPORTED) */
    bool io_uring;               /* submit writes + fdatasync through io_uring (open fails
                                    with ERR_UNSUPPORTED if the ring cannot be set up) */
    bool prefill_segments;       /* write each newly created segment through once with
                                    zeros (O_DIRECT, on the preparer thread) before it
                                    takes appends; skipped where O_DIRECT is refused */
    rmq_sched_hint_t writer_sched; /* the WAL writer thread's CPU scheduling hint (zero = none) */
    const rmq_clock_t *clock;    /* NULL = rmq_clock_system() */
    rmq_wal_uring_hook_fn uring_hook; /* tests only (fault injection on the io_uring path):
                                         NULL = none; see storage/wal_io.h */
    void *uring_hook_ud;
    struct rmq_hist *fsync_hist; /* optional: every fdatasync's duration in seconds (borrowed, common/metrics.h) */
} rmq_store_config_t;

/* Defaults: capacity 1 GiB, segments 128 MiB, fsync on, flush 100 ms, cache
 * 64 MiB, O_DIRECT on, no io_uring (the winners of bench/bench_wal.c),
 * dir NULL (caller must set it). */
void rmq_store_config_default(rmq_store_config_t *cfg);

typedef struct rmq_store rmq_store_t;

/* Completion of an append: err == RMQ_NONE and the assigned base offset once
 * the batch is durable (per fsync_on_write), or an error (RMQ_ERR_IO when
 * the write/fdatasync of its group failed, RMQ_ERR_READ_ONLY when the WAL
 * had already failed). Called exactly once, on the WAL writer thread. */
typedef void (*rmq_store_append_cb)(void *ud, rmq_err_t err, int64_t base_offset);

/* Open (or create) the store in cfg->dir and run recovery: scan from the
 * checkpoint, verify CRCs, truncate a torn tail, rebuild indexes; logs the
 * duration. io NULL = real syscalls (io is borrowed and must outlive the
 * store). On failure *out is NULL and errbuf (may be NULL) says why. */
rmq_err_t rmq_store_open(const rmq_store_config_t *cfg, const rmq_wal_io_t *io, rmq_store_t **out,
                         char *errbuf, size_t errlen);
/* Write and complete everything pending, flush, join the threads, free.
 * No call may be in progress or made afterwards. NULL is a no-op. */
void rmq_store_close(rmq_store_t *st);

/* Append one batch (batch[0..len) borrowed for the call only; the store
 * copies it). len >= 8 and record_count >= 1. The base offset is assigned
 * now, under the stream's lock, so concurrent appends to one stream get
 * dense offsets in call order; cb(ud, err, base_offset) reports durability.
 * Synchronous errors (cb NOT called): RMQ_ERR_WAL_FULL (no room until a
 * segment is reclaimed; retriable back-pressure), RMQ_ERR_NOSPACE (the disk
 * refused to preallocate a segment; retriable), RMQ_ERR_READ_ONLY (after an
 * I/O failure), RMQ_ERR_TOO_LARGE (batch bigger than a segment),
 * RMQ_ERR_INVALID_ARG, RMQ_ERR_NOMEM. */
rmq_err_t rmq_store_append(rmq_store_t *st, uint64_t stream_id, const void *batch, size_t len,
                           int32_t record_count, int64_t max_timestamp, rmq_store_append_cb cb, void *ud);
/* rmq_store_append for a caller that already holds tail_crc = CRC-32C of
 * batch[tail_off..len) (8 <= tail_off <= len), e.g. a Kafka RecordBatch's
 * verified CRC at offset 21: the entry's checksum is derived from it
 * (rmq_crc32c_combine) instead of a second pass over the batch. A wrong
 * tail_crc makes the entry fail verification on every later read. */
rmq_err_t rmq_store_append_crc(rmq_store_t *st, uint64_t stream_id, const void *batch, size_t len, size_t tail_off,
                               uint32_t tail_crc, int32_t record_count, int64_t max_timestamp,
                               rmq_store_append_cb cb, void *ud);

/* Result of a read. iov[i] points at one whole batch: refcounted write-cache
 * memory (zero-copy) or memory read from the WAL file; all of it stays valid
 * until rmq_store_read_release. */
typedef struct rmq_store_read {
    struct iovec *iov; /* owned by the result */
    size_t iovcnt;
    size_t bytes;           /* sum of iov lengths */
    int64_t next_offset;    /* offset after the last batch returned */
    int64_t log_start;
    int64_t high_watermark;
    void **refs_;  /* private */
    size_t nrefs_; /* private */
} rmq_store_read_t;

/* Read whole batches starting with the one containing `offset`, up to
 * max_bytes (at least one whole batch if any is available), durable data
 * only (below the high watermark), in order. offset < log start or > high
 * watermark: RMQ_OFFSET_OUT_OF_RANGE; == high watermark: empty result.
 * RMQ_ERR_NOT_FOUND: the batch at `offset` is no longer in the local WAL (its
 * segment was reclaimed: read it from the object tier). RMQ_ERR_CORRUPT: the
 * WAL bytes failed their CRC. Release out with rmq_store_read_release
 * (also required after an error: it is a no-op then). Unknown streams read
 * as empty streams. */
rmq_err_t rmq_store_read(rmq_store_t *st, uint64_t stream_id, int64_t offset, size_t max_bytes,
                         rmq_store_read_t *out);
/* rmq_store_read without the "at least one batch" rule: only whole batches
 * that fit in max_bytes. The batch at `offset` being local but larger than
 * max_bytes gives an empty result (RMQ_NONE, iovcnt 0, next_offset =
 * offset); everything else is as rmq_store_read (RMQ_ERR_NOT_FOUND when the
 * batch at `offset` is no longer local, whatever its size). For Fetch after
 * the response's first batch (KIP-74: only that one may exceed the limits). */
rmq_err_t rmq_store_read_within(rmq_store_t *st, uint64_t stream_id, int64_t offset, size_t max_bytes,
                                rmq_store_read_t *out);
void rmq_store_read_release(rmq_store_read_t *r);

/* Offsets of a stream (any out pointer may be NULL). high_watermark = durable
 * end, log_end = assigned end (>= high_watermark). Unknown stream: all 0. */
rmq_err_t rmq_store_stream_info(rmq_store_t *st, uint64_t stream_id, int64_t *log_start,
                                int64_t *high_watermark, int64_t *log_end);
/* Lowest offset still readable from the local WAL (== high watermark when
 * nothing is local). Offsets in [log_start, wal_start) are in the object tier. */
rmq_err_t rmq_store_stream_wal_start(rmq_store_t *st, uint64_t stream_id, int64_t *wal_start);
/* Base offset of the first durable batch still in the local WAL whose max
 * timestamp >= ts, or -1 (reclaimed batches are the object tier's: see the
 * manifest's per-range max timestamps). */
rmq_err_t rmq_store_offset_for_timestamp(rmq_store_t *st, uint64_t stream_id, int64_t ts, int64_t *offset);
/* DeleteRecords: move the log start to new_log_start (<= high watermark;
 * -1 = high watermark). Durable (a TRIM entry in the WAL) before it returns;
 * survives recovery. Blocks: never call from a store callback. */
rmq_err_t rmq_store_trim(rmq_store_t *st, uint64_t stream_id, int64_t new_log_start);
/* Delete a stream (durable DELETE entry, blocks like trim). A later append
 * to the same id starts a new, empty stream at offset 0. */
rmq_err_t rmq_store_stream_delete(rmq_store_t *st, uint64_t stream_id);
/* Ids of all live (non-deleted, non-empty-and-never-written excluded)
 * streams, in no particular order. *ids is malloc'd: caller frees. */
rmq_err_t rmq_store_list_streams(rmq_store_t *st, uint64_t **ids, size_t *n);
/* Block until everything appended so far is durable (fdatasync'd). */
rmq_err_t rmq_store_sync(rmq_store_t *st);

/* Plugging (like the block layer's): between rmq_store_plug and
 * rmq_store_unplug, appends made by the calling thread are queued without
 * waking the writer; unplug wakes it once. A caller appending several
 * batches that are acknowledged together (a produce request's partitions)
 * so gets them into one group commit instead of having the writer start
 * on the first and sync the rest in a second round. Per thread: appends
 * of other threads wake the writer as usual (and also take the plugged
 * entries along). The caller must unplug before it waits on anything the
 * writer does (a durability callback, rmq_store_sync). */
void rmq_store_plug(rmq_store_t *st);
void rmq_store_unplug(rmq_store_t *st);

/* ---- reclaim hook for the object-storage tier ---- */
typedef struct rmq_store_seg_entry {
    uint64_t stream_id;
    uint32_t gen;
    int64_t base_offset;
    int32_t record_count;
    int64_t max_ts;
    uint8_t type;         /* RMQ_WAL_DATA / TRIM / DELETE (storage/wal_format.h) */
    uint64_t file_offset; /* of the 64-byte entry header in the segment file */
    uint32_t len;         /* payload bytes (the batch), after the header */
} rmq_store_seg_entry_t;

typedef struct rmq_store_segment_info {
    uint64_t segment_id;
    const char *path;                     /* borrowed for the call */
    uint64_t used_bytes;
    size_t n_entries;
    const rmq_store_seg_entry_t *entries; /* borrowed for the call, in file order */
} rmq_store_segment_info_t;

typedef void (*rmq_store_sealed_cb)(void *ud, const rmq_store_segment_info_t *seg);

/* Register the sealed-segment callback (NULL to clear). It is called at once
 * (on the caller's thread) for every already sealed, unreclaimed segment -
 * e.g. recovered ones - and then on the writer thread whenever a segment
 * fills and its data is durable. */
void rmq_store_set_sealed_cb(rmq_store_t *st, rmq_store_sealed_cb cb, void *ud);
/* Time-based sealing (the object tier's upload_interval_ms): if the active
 * segment holds any entry, seal it now instead of when it fills - later
 * appends go to a new segment, the old one is made durable, the sealed
 * callback fires for it (before this returns) and it can be reclaimed like
 * any sealed segment. The seal survives a crash (recorded in the
 * checkpoint). RMQ_NONE also when the active segment is empty (nothing to
 * do). Errors: RMQ_ERR_WAL_FULL / RMQ_ERR_NOSPACE (no segment to move to:
 * retriable, like append), RMQ_ERR_READ_ONLY, RMQ_ERR_CLOSED, RMQ_ERR_IO
 * (the seal could not be made durable: the WAL turned read-only). Blocks:
 * call from any thread except store callbacks. */
rmq_err_t rmq_store_seal_active(rmq_store_t *st);
/* Read bytes of a sealed segment (for the uploader): buf (caller-owned)
 * gets len bytes at off. RMQ_ERR_NOT_FOUND if not a live sealed segment. */
rmq_err_t rmq_store_segment_pread(rmq_store_t *st, uint64_t segment_id, uint64_t off, void *buf, size_t len);
/* Copy one entry of segment segment_id - the one at file_off, of stream
 * stream_id with batch base_offset, len = 64-byte header + payload - out
 * of the write cache into dst (caller-owned, len bytes), if the cache
 * still holds it. These are the bytes the WAL wrote, never read back from
 * a disk, so the caller need not check their CRC again. dst is written
 * with streaming stores (rmq_copy_stream): it is meant for a buffer the
 * CPU will not read soon. false when the cache no longer has it (read it
 * with rmq_store_segment_pread). */
bool rmq_store_segment_copy_cached(rmq_store_t *st, uint64_t segment_id, uint64_t stream_id, int64_t base_offset,
                                   uint64_t file_off, void *dst, size_t len);
/* Is segment_id still in the WAL (active, or sealed and not reclaimed)? An
 * object of a segment that is not may be deleted once no manifest entry
 * holds it; one of a live segment may still be on its way to the manifest. */
bool rmq_store_segment_live(rmq_store_t *st, uint64_t segment_id);
/* The data of sealed segment segment_id is safe elsewhere: write a
 * checkpoint (atomically) recording it, then delete the file and free its
 * space. Blocks until done. Reads of its batches then return
 * RMQ_ERR_NOT_FOUND. RMQ_ERR_INVALID_ARG if not a sealed live segment. */
rmq_err_t rmq_store_reclaim(rmq_store_t *st, uint64_t segment_id);

/* ---- stats for metrics ---- */
#define RMQ_STORE_FSYNC_BUCKETS 24 /* bucket i counts fsyncs taking < 2^i us (last: the rest) */
typedef struct rmq_store_stats {
    uint64_t appends, append_bytes, append_errors;
    uint64_t groups;          /* group commits (vectored writes) */
    uint64_t fsyncs;
    uint64_t fsync_hist_us[RMQ_STORE_FSYNC_BUCKETS];
    uint64_t usage_bytes;     /* bytes of WAL entries in live segments */
    uint64_t allocated_bytes; /* segment files on disk (preallocated) */
    uint64_t capacity_bytes;
    uint64_t cache_bytes;     /* write cache in use */
    uint64_t segments_live, segments_sealed;
    uint64_t recovery_ms;     /* duration of the last open's recovery */
    bool read_only;
} rmq_store_stats_t;

void rmq_store_stats(rmq_store_t *st, rmq_store_stats_t *out);
/* Bytes appended since open (stats' append_bytes) without taking any lock:
 * for callers that sample it often (the uploader's pacing). */
uint64_t rmq_store_append_bytes(rmq_store_t *st);
/* In-memory offset index entries of all streams (about one per batch in
 * the local WAL). Walks every stream under its lock: for a metrics scrape,
 * not for a hot path. */
uint64_t rmq_store_index_entries(rmq_store_t *st);
/* Why the store went read-only ("" if it did not). Static until close. */
const char *rmq_store_last_error(rmq_store_t *st);

#endif
