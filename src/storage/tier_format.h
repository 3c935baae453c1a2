/* tier_format.h - the object format of tiered storage and its key layout.
 * Pure functions over caller memory: the uploader (tier_upload.c) plans and
 * writes objects with them, the reader (tier_read.c) parses them, and
 * tests/fuzzers can drive them without I/O.
 *
 * One sealed WAL segment becomes one object (all integers big-endian):
 *
 *   header (32 B)  magic u32 "RMQO" | version u16 (1) | flags u16 (0) |
 *                  segment id u64 | created ms i64 | n_ranges u32 | 0 u32
 *   data           the segment's DATA entries, verbatim (64-byte WAL entry
 *                  header + batch, wal_format.h), regrouped so that each
 *                  stream range is contiguous: ranges sorted by (stream id,
 *                  base offset), entries of a range in offset order
 *   footer         n_ranges x range record (56 B):
 *                    stream u64 | base i64 | end i64 | byte offset u64 |
 *                    byte length u64 | max ts i64 | first sparse u32 | n sparse u32
 *                  then the sparse index: n x (offset i64, byte offset u64),
 *                  one point at the first entry of every range and then at
 *                  the first entry starting >= RMQ_TIER_SPARSE_EVERY bytes
 *                  after the previous point
 *   trailer (32 B) footer offset u64 | footer length u64 | footer crc32c u32 |
 *                  0 u32 | magic u32 "RMQF" | version u16 (1) | 0 u16
 *
 * Because entries keep their WAL headers (whose CRC covers the segment id),
 * every batch read back from an object is verified with the WAL's own CRC,
 * and an entry from another object never validates. A range is one
 * contiguous byte extent, so the manifest's (byte offset, byte length) is
 * enough to read a stream sequentially with ranged GETs.
 *
 * Key layout: "<prefix>/segments/<segment id, 20 digits>-<first ts ms>.obj"
 * with prefix = "v1/<cluster id>" (the "v1" is the key layout version). */
#ifndef RMQ_STORAGE_TIER_FORMAT_H
#define RMQ_STORAGE_TIER_FORMAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "storage/store.h"

#define RMQ_TIER_OBJ_MAGIC 0x524D514Fu /* "RMQO" */
#define RMQ_TIER_FTR_MAGIC 0x524D5146u /* "RMQF" */
#define RMQ_TIER_OBJ_VERSION 1
#define RMQ_TIER_HDR 32
#define RMQ_TIER_TRAILER 32
#define RMQ_TIER_RANGE_REC 56
#define RMQ_TIER_SPARSE_REC 16
#define RMQ_TIER_SPARSE_EVERY (256u << 10)

typedef struct rmq_tier_range {
    uint64_t stream_id;
    int64_t base_offset, end_offset; /* [base, end) */
    uint64_t byte_offset, byte_length; /* in the object */
    int64_t max_ts;
    uint32_t first_sparse, n_sparse; /* into the sparse index */
} rmq_tier_range_t;

typedef struct rmq_tier_sparse {
    int64_t offset;    /* base offset of an entry */
    uint64_t byte_off; /* its position in the object */
} rmq_tier_sparse_t;

/* Where one WAL entry (header + payload) goes: file_off in the segment,
 * obj_off in the object, len = 64 + payload. */
typedef struct rmq_tier_item {
    uint64_t file_off;
    uint64_t obj_off;
    uint32_t len;
    uint64_t stream_id; /* the entry's stream and batch base offset (to find */
    int64_t base_offset; /* it in the write cache: rmq_store_segment_copy_cached) */
} rmq_tier_item_t;

/* The layout of an object built from a segment. All arrays malloc'd, owned
 * by the plan (rmq_tier_plan_free). */
typedef struct rmq_tier_plan {
    rmq_tier_range_t *ranges;
    size_t n_ranges;
    rmq_tier_sparse_t *sparse;
    size_t n_sparse;
    rmq_tier_item_t *items; /* copy list, in object order */
    size_t n_items;
    uint64_t footer_off, footer_len, total_size;
    int64_t first_ts; /* smallest batch max timestamp (0 if none) */
} rmq_tier_plan_t;

/* Plan the object for a segment's entries (borrowed; file order). Only DATA
 * entries are kept; a stream's entries that are not offset-contiguous start
 * a new range. An empty plan (n_ranges == 0) means nothing to upload.
 * RMQ_NONE or RMQ_ERR_NOMEM. */
rmq_err_t rmq_tier_plan_build(const rmq_store_seg_entry_t *ents, size_t n, rmq_tier_plan_t *out);
void rmq_tier_plan_free(rmq_tier_plan_t *p);

/* Write header, footer and trailer of the planned object into obj
 * (caller-owned, p->total_size bytes); the data bytes at the items'
 * obj_off are the caller's job (before or after). */
void rmq_tier_write_meta(const rmq_tier_plan_t *p, uint64_t segment_id, int64_t created_ms, uint8_t *obj);

/* Parse a header (32 bytes, borrowed). RMQ_ERR_BAD_MAGIC / ERR_UNSUPPORTED /
 * ERR_CORRUPT. */
rmq_err_t rmq_tier_header_decode(const uint8_t *p, uint64_t *segment_id, int64_t *created_ms, uint32_t *n_ranges);
/* Parse the trailer (the last 32 bytes of an object of obj_size bytes):
 * footer position (checked to lie between the header and the trailer) and CRC. */
rmq_err_t rmq_tier_trailer_decode(const uint8_t *p, uint64_t obj_size, uint64_t *footer_off, uint64_t *footer_len,
                                  uint32_t *footer_crc);

/* A decoded footer: arrays malloc'd, owned (rmq_tier_footer_free). */
typedef struct rmq_tier_footer {
    rmq_tier_range_t *ranges;
    size_t n_ranges;
    rmq_tier_sparse_t *sparse;
    size_t n_sparse;
} rmq_tier_footer_t;

/* Decode footer bytes p[0..len) (borrowed) after checking crc; validates
 * every record against footer_off (data must end before the footer) and
 * sorting. RMQ_ERR_BAD_CRC, ERR_CORRUPT, ERR_NOMEM. */
rmq_err_t rmq_tier_footer_decode(const uint8_t *p, size_t len, uint32_t crc, uint64_t footer_off,
                                 rmq_tier_footer_t *out);
void rmq_tier_footer_free(rmq_tier_footer_t *f);
/* Byte position to start scanning for `offset` inside range r of f: the
 * last sparse point <= offset (r's start if none). */
uint64_t rmq_tier_footer_seek(const rmq_tier_footer_t *f, const rmq_tier_range_t *r, int64_t offset);
/* Index of the range of f holding (stream, offset), or -1. */
ptrdiff_t rmq_tier_footer_find(const rmq_tier_footer_t *f, uint64_t stream_id, int64_t offset);

/* "<prefix>/segments/<20-digit id>-<first_ts>.obj" into out[0..cap).
 * RMQ_ERR_TOO_LARGE if it does not fit. */
rmq_err_t rmq_tier_object_key(char *out, size_t cap, const char *prefix, uint64_t segment_id, int64_t first_ts);
/* Parse a key of that layout under prefix: RMQ_NONE and *segment_id, or
 * RMQ_ERR_PARSE. */
rmq_err_t rmq_tier_key_parse(const char *key, const char *prefix, uint64_t *segment_id);

#endif
