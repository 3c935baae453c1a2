/* record_batch.h - Kafka RecordBatch v2 (magic 2): parse, validate, iterate,
 * build.
 *
 * Owns the byte format of a record batch and of the records inside it. The
 * broker calls rmq_rb_validate() on every produced partition blob before
 * assigning offsets (rmq_rb_set_base_offset) and appending the bytes
 * verbatim to storage; fetch paths walk stored blobs with rmq_rb_batches_*;
 * tests, the benchmark and internal topics build batches with rmq_rb_builder.
 * Compression is delegated to protocol/compression.h.
 *
 * Old formats: MessageSet v0/v1 (magic 0/1) is rejected, never converted:
 * RMQ_ERR_UNSUPPORTED, which the broker answers as UNSUPPORTED_VERSION
 * (docs/record-batch.md).
 *
 * Byte layout of a batch (big-endian; offsets from the batch start):
 *    0 baseOffset i64         (not covered by the CRC)
 *    8 batchLength i32        bytes after this field: batch size = 12 + it
 *   12 partitionLeaderEpoch   (not covered by the CRC)
 *   16 magic i8 (2)
 *   17 crc u32                CRC-32C of bytes 21 .. end of batch
 *   21 attributes i16         bits 0-2 codec, 3 LogAppendTime, 4 transactional,
 *                             5 control, 6 has delete horizon
 *   23 lastOffsetDelta i32
 *   27 baseTimestamp i64, 35 maxTimestamp i64
 *   43 producerId i64, 51 producerEpoch i16, 53 baseSequence i32
 *   57 records count i32
 *   61 records (compressed as a whole when codec != 0)
 * Record: length varint, attributes i8, timestampDelta varlong, offsetDelta
 * varint, keyLength varint (-1 = null), key, valueLength varint, value,
 * headerCount varint, headers [keyLength varint (>= 0), key, valueLength
 * varint (-1 = null), value].
 *
 * Error codes: RMQ_ERR_TRUNCATED (not enough bytes), RMQ_ERR_BAD_LENGTH
 * (batchLength < 49 or absurd), RMQ_ERR_UNSUPPORTED (magic 0/1),
 * RMQ_ERR_BAD_MAGIC (other magic), RMQ_ERR_BAD_CRC, RMQ_ERR_CORRUPT
 * (a record's varints/lengths do not fit; trailing bytes), RMQ_INVALID_RECORD
 * (well-formed but semantically invalid: counts/offset deltas inconsistent,
 * negative header key length; with the produce flags below: more than one
 * batch, a control batch, a producer id without a sequence),
 * RMQ_UNSUPPORTED_COMPRESSION_TYPE (codec 5..7; zstd under
 * RMQ_RB_F_NO_ZSTD), RMQ_ERR_COMPRESSION, RMQ_ERR_TOO_LARGE (decompression bound),
 * RMQ_ERR_NOMEM. rmq_err_to_wire maps the internal ones to CORRUPT_MESSAGE,
 * UNSUPPORTED_VERSION and MESSAGE_TOO_LARGE. */
#ifndef RMQ_PROTOCOL_RECORD_BATCH_H
#define RMQ_PROTOCOL_RECORD_BATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/err.h"
#include "protocol/compression.h"

#define RMQ_RB_HEADER_SIZE 61     /* bytes before the first record */
#define RMQ_RB_LOG_OVERHEAD 12    /* baseOffset + batchLength */
#define RMQ_RB_MIN_BATCH_LENGTH 49 /* RMQ_RB_HEADER_SIZE - RMQ_RB_LOG_OVERHEAD */
#define RMQ_RB_CRC_OFFSET 17
#define RMQ_RB_ATTR_OFFSET 21

#define RMQ_RB_ATTR_CODEC_MASK 0x07
#define RMQ_RB_ATTR_LOG_APPEND_TIME 0x08
#define RMQ_RB_ATTR_TRANSACTIONAL 0x10
#define RMQ_RB_ATTR_CONTROL 0x20
#define RMQ_RB_ATTR_DELETE_HORIZON 0x40

/* Flags for header parsing, batch iteration and rmq_rb_validate. */
#define RMQ_RB_F_NO_CRC 0x01        /* skip the CRC check (already verified) */
#define RMQ_RB_F_ALLOW_PARTIAL 0x02 /* a short last batch ends iteration (fetch) */
#define RMQ_RB_F_COMPACTED 0x04     /* allow gaps: count <= lastOffsetDelta + 1 */
/* rmq_rb_validate only - the rules Kafka applies to a client's Produce
 * (ProduceRequest.validateRecords, LogValidator.validateBatch). Header
 * fields only: no extra pass over the records. */
#define RMQ_RB_F_ONE_BATCH 0x08 /* exactly one batch: bytes after it -> RMQ_INVALID_RECORD (Produce v3+) */
#define RMQ_RB_F_NO_ZSTD 0x10   /* a zstd batch -> RMQ_UNSUPPORTED_COMPRESSION_TYPE (Produce < v7) */
#define RMQ_RB_F_CLIENT 0x20    /* a control batch, or producerId >= 0 with baseSequence < 0 -> RMQ_INVALID_RECORD */

typedef struct rmq_rb_header {
    int64_t base_offset;
    int32_t batch_length;
    int32_t partition_leader_epoch;
    int8_t magic;
    uint32_t crc;
    int16_t attributes;
    int32_t last_offset_delta;
    int64_t base_timestamp;
    int64_t max_timestamp;
    int64_t producer_id;
    int16_t producer_epoch;
    int32_t base_sequence;
    int32_t record_count;
} rmq_rb_header_t;

static inline int rmq_rb_codec(const rmq_rb_header_t *h) { return h->attributes & RMQ_RB_ATTR_CODEC_MASK; }
static inline bool rmq_rb_is_transactional(const rmq_rb_header_t *h) {
    return (h->attributes & RMQ_RB_ATTR_TRANSACTIONAL) != 0;
}
static inline bool rmq_rb_is_control(const rmq_rb_header_t *h) { return (h->attributes & RMQ_RB_ATTR_CONTROL) != 0; }
/* Bytes the whole batch occupies (12 + batchLength). */
static inline size_t rmq_rb_size(const rmq_rb_header_t *h) { return RMQ_RB_LOG_OVERHEAD + (size_t)h->batch_length; }

/* Parse and check the batch at p[0..len) (borrowed): enough bytes for the
 * header and the whole batch, batchLength >= 49, magic == 2 (0/1 ->
 * RMQ_ERR_UNSUPPORTED), CRC-32C (unless RMQ_RB_F_NO_CRC), record count >= 0,
 * lastOffsetDelta >= 0, and count == lastOffsetDelta + 1 (or, with
 * RMQ_RB_F_COMPACTED, count <= lastOffsetDelta + 1). Bytes after the batch
 * are ignored. */
rmq_err_t rmq_rb_header_parse(const uint8_t *p, size_t len, uint32_t flags, rmq_rb_header_t *h);

/* ---- iterating the batches of a "records" blob ---- */

typedef struct rmq_rb_batch {
    rmq_rb_header_t h;
    const uint8_t *data;    /* whole batch, borrowed from the blob */
    size_t size;            /* 12 + batchLength */
    const uint8_t *records; /* data + 61: records section (compressed or not) */
    size_t records_len;
    size_t offset; /* byte offset of the batch within the blob */
} rmq_rb_batch_t;

typedef struct rmq_rb_batches {
    const uint8_t *p; /* borrowed */
    size_t len;
    size_t off;
    uint32_t flags;
    rmq_err_t err;       /* first error, sticky (0 at a clean end) */
    size_t err_off;      /* blob offset of the failing batch */
    bool partial;        /* iteration ended at a partial trailing batch */
    size_t partial_off;  /* where that partial batch starts */
} rmq_rb_batches_t;

/* Iterate the concatenated batches in p[0..len) (borrowed; keep it alive
 * while batch views are used). flags: RMQ_RB_F_*. */
void rmq_rb_batches_init(rmq_rb_batches_t *it, const uint8_t *p, size_t len, uint32_t flags);
/* Next batch (views borrow the blob). Returns false at the end or on error:
 * then it->err is 0 for a clean end (it->partial set if a partial trailing
 * batch was skipped under RMQ_RB_F_ALLOW_PARTIAL) or the error. Without
 * ALLOW_PARTIAL a short tail is RMQ_ERR_TRUNCATED. A tail counts as partial
 * only if it is shorter than 12 bytes or shorter than its batchLength says
 * (it must still be a plausible batch start: batchLength >= 49 and, when
 * the magic byte is present, magic == 2). */
bool rmq_rb_batches_next(rmq_rb_batches_t *it, rmq_rb_batch_t *out);

/* ---- iterating the records of one batch ---- */

/* A byte-string view: len == -1 means null (ptr is NULL then). */
typedef struct rmq_rb_bytes {
    const uint8_t *ptr;
    int32_t len;
} rmq_rb_bytes_t;

typedef struct rmq_rb_record {
    int32_t size; /* the record's length field (bytes after it) */
    int8_t attributes;
    int64_t timestamp_delta;
    int32_t offset_delta;
    rmq_rb_bytes_t key;
    rmq_rb_bytes_t value;
    int32_t header_count;
    const uint8_t *headers; /* raw header section, already validated */
    size_t headers_len;
} rmq_rb_record_t;

typedef struct rmq_rb_iter {
    rmq_cur_t c; /* over the (decompressed) records section, borrowed */
    int32_t count;
    int32_t index;
    int32_t last_offset_delta; /* from the batch header */
    int32_t prev_offset_delta;
    uint32_t flags;
    rmq_err_t err; /* sticky; 0 at a clean end */
} rmq_rb_iter_t;

/* Start iterating b's records. If the batch is compressed, its records are
 * decompressed into *scratch (caller-owned, reset first, at most
 * max_decompressed bytes; free with rmq_buf_free) and the record views
 * borrow scratch; otherwise they borrow the batch bytes and scratch is not
 * touched (may be NULL then). Views stay valid until scratch is reused or
 * the blob freed. flags: RMQ_RB_F_COMPACTED relaxes offset deltas from
 * exactly 0..n-1 to strictly ascending and <= lastOffsetDelta. */
rmq_err_t rmq_rb_iter_init(rmq_rb_iter_t *it, const rmq_rb_batch_t *b, rmq_buf_t *scratch, size_t max_decompressed,
                           uint32_t flags);
/* Start iterating an already plain records section rec[0..len) (borrowed)
 * holding `count` records. */
void rmq_rb_iter_init_plain(rmq_rb_iter_t *it, const uint8_t *rec, size_t len, int32_t count,
                            int32_t last_offset_delta, uint32_t flags);
/* Next record. Returns false at the end or on error (it->err). At the end
 * it checks that exactly `count` records used up every byte. */
bool rmq_rb_iter_next(rmq_rb_iter_t *it, rmq_rb_record_t *r);

/* Record headers: key is a non-null string view, value may be null. */
typedef struct rmq_rb_hiter {
    rmq_cur_t c;
    int32_t left;
} rmq_rb_hiter_t;

void rmq_rb_hiter_init(rmq_rb_hiter_t *hi, const rmq_rb_record_t *r);
/* Next header (views borrow the record's memory); false when done. The
 * section was validated by rmq_rb_iter_next, so no error can occur. */
bool rmq_rb_hiter_next(rmq_rb_hiter_t *hi, rmq_rb_bytes_t *key, rmq_rb_bytes_t *value);

/* ---- produce-path validation ---- */

typedef struct rmq_rb_limits {
    size_t max_decompressed_bytes; /* total over every batch of the blob */
    uint32_t flags;                /* RMQ_RB_F_* */
    rmq_buf_t *scratch; /* optional caller-owned decompression buffer to reuse; NULL = internal */
} rmq_rb_limits_t;

typedef struct rmq_rb_summary {
    int32_t batches;
    int64_t records;
    int64_t offset_span;        /* sum of (lastOffsetDelta + 1): offsets the blob takes */
    int32_t first_offset_delta; /* first record of the first batch (0) */
    int32_t last_offset_delta;  /* lastOffsetDelta of the last batch */
    int64_t max_timestamp;      /* max over records of base + delta (-1 if none) */
    int64_t batch_max_timestamp; /* max of the headers' maxTimestamp */
    int64_t first_timestamp;    /* first batch's baseTimestamp */
    int64_t producer_id;        /* first batch's */
    int16_t producer_epoch;
    int32_t base_sequence;
    int codec;                  /* first batch's */
    bool mixed_codecs;          /* batches do not all use the same codec */
    bool transactional;         /* first batch's */
    bool control;               /* first batch's */
    bool log_append_time;       /* first batch's timestamp type */
    bool partial;               /* a partial tail was skipped (RMQ_RB_F_ALLOW_PARTIAL) */
    size_t valid_bytes;         /* bytes of whole, valid batches */
    size_t decompressed_bytes;
    int64_t null_keys;          /* records with a null key (compacted topics refuse them) */
    int32_t first_null_key;     /* index within its batch of the first such record, or -1 */
    /* On error: */
    size_t err_offset;   /* blob offset of the failing batch */
    int32_t err_record;  /* index of the failing record, or -1 */
    const char *err_what; /* static description, or NULL */
} rmq_rb_summary_t;

/* Check every batch of p[0..len) (borrowed): header, CRC, and every record
 * (decompressing within lim->max_decompressed_bytes in total; varints,
 * lengths, key/value/header lengths, offset deltas exactly 0..n-1 unless
 * RMQ_RB_F_COMPACTED). An empty blob is RMQ_INVALID_RECORD. Fills *out
 * (also on error: err_*). lim may be NULL (64 MiB bound, no flags).
 * RMQ_RB_F_ONE_BATCH and RMQ_RB_F_NO_ZSTD are checked from the first
 * batch's header before its CRC (Kafka's order: ProduceRequest checks them
 * first), RMQ_RB_F_CLIENT after the header, before any record is read.
 * Null keys are counted (out->null_keys), not refused: whether the topic
 * is compacted is the caller's business, and the count is free here. */
rmq_err_t rmq_rb_validate(const uint8_t *p, size_t len, const rmq_rb_limits_t *lim, rmq_rb_summary_t *out);

/* ---- builder ---- */

typedef struct rmq_rb_kv {
    const void *key; /* header key, not null */
    int32_t key_len;
    const void *value; /* NULL with value_len -1 = null */
    int32_t value_len;
} rmq_rb_kv_t;

typedef struct rmq_rb_builder {
    rmq_buf_t recs; /* owned: encoded records so far */
    rmq_buf_t tmp;  /* owned: one record body */
    int32_t count;
    int64_t base_timestamp;
    int64_t max_timestamp;
    rmq_err_t err; /* sticky */
} rmq_rb_builder_t;

typedef struct rmq_rb_build_opts {
    int64_t base_offset;
    int32_t partition_leader_epoch; /* -1 if unknown */
    int64_t producer_id;            /* -1 none */
    int16_t producer_epoch;         /* -1 none */
    int32_t base_sequence;          /* -1 none */
    int codec;                      /* RMQ_CODEC_* */
    int level;                      /* RMQ_COMPRESS_LEVEL_DEFAULT */
    bool transactional;
    bool control;
    bool log_append_time;
} rmq_rb_build_opts_t;

/* Default options: everything -1/none, codec NONE, default level. */
void rmq_rb_build_opts_default(rmq_rb_build_opts_t *o);

void rmq_rb_builder_init(rmq_rb_builder_t *b);
/* Drop the records, keep the buffers. */
void rmq_rb_builder_reset(rmq_rb_builder_t *b);
void rmq_rb_builder_free(rmq_rb_builder_t *b);
/* Append one record (inputs are copied). key/value NULL with len -1 is
 * null. The first record's timestamp is the batch base timestamp. The
 * offset delta is the record index. */
rmq_err_t rmq_rb_builder_add(rmq_rb_builder_t *b, int64_t timestamp, const void *key, int32_t key_len,
                             const void *value, int32_t value_len, const rmq_rb_kv_t *headers, int32_t n_headers);
/* Append one complete batch holding the added records to *out (caller-owned
 * rmq_buf_t), compressing with o->codec and computing lengths and CRC.
 * The builder keeps its records (reset it to start another batch). An empty
 * builder yields a valid empty batch (count 0, lastOffsetDelta 0 — only
 * useful with RMQ_RB_F_COMPACTED). */
rmq_err_t rmq_rb_builder_finish(rmq_rb_builder_t *b, const rmq_rb_build_opts_t *o, rmq_buf_t *out);

/* ---- in-place helpers (caller guarantees the batch bytes are there) ---- */

/* Rewrite baseOffset (bytes 0..7). Not covered by the CRC. */
static inline void rmq_rb_set_base_offset(uint8_t *batch, int64_t base) { rmq_wbe64(batch, (uint64_t)base); }
/* Rewrite partitionLeaderEpoch (bytes 12..15). Not covered by the CRC. */
static inline void rmq_rb_set_leader_epoch(uint8_t *batch, int32_t e) { rmq_wbe32(batch + 12, (uint32_t)e); }
/* Fast reads from a batch known to hold at least 61 bytes. */
static inline int64_t rmq_rb_peek_base_offset(const uint8_t *batch) { return (int64_t)rmq_be64(batch); }
static inline int32_t rmq_rb_peek_last_offset_delta(const uint8_t *batch) { return (int32_t)rmq_be32(batch + 23); }
static inline int64_t rmq_rb_peek_max_timestamp(const uint8_t *batch) { return (int64_t)rmq_be64(batch + 35); }
static inline int32_t rmq_rb_peek_record_count(const uint8_t *batch) { return (int32_t)rmq_be32(batch + 57); }
/* Switch a whole batch batch[0..size) to LogAppendTime: set attribute bit 3,
 * write max_timestamp, recompute the CRC. */
rmq_err_t rmq_rb_set_log_append_time(uint8_t *batch, size_t size, int64_t ts);
/* Write max_timestamp of a whole batch batch[0..size) (timestamp type
 * unchanged) and recompute the CRC: what Kafka's LogValidator does with
 * setMaxTimestamp when a producer's header disagrees with its records
 * (Sarama 1.22 always sends -1). RMQ_ERR_INVALID_ARG if batch[0..size) is
 * not one whole v2 batch. */
rmq_err_t rmq_rb_set_max_timestamp(uint8_t *batch, size_t size, int64_t ts);

#endif
