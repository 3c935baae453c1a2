/* wal_format.h - on-disk formats of the WAL: entry headers and the
 * checkpoint file. Pure functions over caller memory (no I/O, no
 * allocation except rmq_wal_ckpt_decode's stream array), shared by the
 * writer, recovery, and the fuzz target.
 *
 * Segment file "wal-<id as 16 hex digits>.seg": preallocated to the segment
 * size, a sequence of entries from offset 0, zeros after the last one.
 * The layout is the same in every write mode (plain, O_DIRECT, io_uring):
 * O_DIRECT writes whole 4 KiB blocks by rewriting the head of the last,
 * partly written block with identical bytes and zero-filling after the
 * group, i.e. the zeros that follow the last entry anyway. "RWL1" is the
 * format version; a change of layout must change the magic.
 * Entry = 64-byte header + payload (no padding):
 *    0 u32 magic 'RWL1'        4 u32 crc (see below)
 *    8 u32 payload length     12 u8 type, u8 flags(0), u16 reserved(0)
 *   16 u64 stream id          24 i64 base offset
 *   32 i32 record count       36 u32 stream generation
 *   40 i64 max timestamp      48 u64 segment id (must match the file)
 *   56 u64 reserved (0)
 * All integers big-endian. The CRC-32C runs over payload[8..len), then
 * header bytes [8,64), then payload[0..8): the appending thread checksums
 * the batch body before it knows its offset and position, and the cheap
 * 64-byte remainder is done once those are assigned. Types: DATA (payload = a Kafka RecordBatch,
 * verbatim but for its first 8 bytes = base offset), TRIM (base offset =
 * new log start, no payload), DELETE (generation = the stream's new
 * generation, no payload).
 *
 * Checkpoint file "checkpoint" (replaced atomically with rename):
 *   u32 magic 'RWCK', u32 version 1, u32 crc32c of everything after it,
 *   u64 pos_seg, u64 pos_off   (every entry before this WAL position is
 *                               reflected in the stream table below)
 *   u64 low_water              (segments with id < low_water are reclaimed)
 *   u32 n_reclaimed, u64 ids[] (reclaimed segments with id >= low_water)
 *   u32 n_streams, {u64 id, u32 gen, i64 log_start, i64 end}[]
 */
#ifndef RMQ_STORAGE_WAL_FORMAT_H
#define RMQ_STORAGE_WAL_FORMAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

#define RMQ_WAL_MAGIC 0x52574c31u /* "RWL1" */
#define RMQ_WAL_HDR 64
#define RMQ_WAL_CKPT_MAGIC 0x5257434bu /* "RWCK" */

enum { RMQ_WAL_DATA = 1, RMQ_WAL_TRIM = 2, RMQ_WAL_DELETE = 3 };

typedef struct rmq_wal_hdr {
    uint32_t len;
    uint8_t type;
    uint64_t stream_id;
    int64_t base_offset;
    int32_t record_count;
    uint32_t gen;
    int64_t max_ts;
    uint64_t seg_id;
} rmq_wal_hdr_t;

/* CRC of payload[8..len) (borrowed); 0 for len <= 8. */
uint32_t rmq_wal_body_crc(const void *payload, size_t len);
/* The same value when the caller already knows tail_crc = CRC-32C of
 * payload[tail_off..len) (8 <= tail_off <= len; a Kafka RecordBatch's own,
 * verified CRC at offset 21): only payload[8..tail_off) is read. */
uint32_t rmq_wal_body_crc_from_tail(const void *payload, size_t len, size_t tail_off, uint32_t tail_crc);
/* Write the 64-byte header into out (caller-owned, >= 64 bytes); body_crc
 * from rmq_wal_body_crc over the same payload (borrowed; its first 8 bytes,
 * which must already hold the base offset, are checksummed here). */
void rmq_wal_hdr_encode(uint8_t *out, const rmq_wal_hdr_t *h, const void *payload, uint32_t body_crc);
/* Parse and sanity-check a header (magic, type, reserved fields, seg id ==
 * expect_seg, len <= max_len). Does NOT check the CRC (payload may not be in
 * memory yet). Returns 0, RMQ_ERR_BAD_MAGIC or RMQ_ERR_CORRUPT. */
rmq_err_t rmq_wal_hdr_decode(const uint8_t *in, uint64_t expect_seg, uint64_t max_len, rmq_wal_hdr_t *h);
/* Verify the CRC of a header + its payload (both borrowed). */
bool rmq_wal_hdr_crc_ok(const uint8_t *hdr, const void *payload, size_t len);

typedef struct rmq_wal_ckpt_stream {
    uint64_t id;
    uint32_t gen;
    int64_t log_start;
    int64_t end;
} rmq_wal_ckpt_stream_t;

typedef struct rmq_wal_ckpt {
    uint64_t pos_seg, pos_off;
    uint64_t low_water;
    uint32_t n_reclaimed;
    uint64_t *reclaimed;            /* malloc'd, owned by the struct */
    uint32_t n_streams;
    rmq_wal_ckpt_stream_t *streams; /* malloc'd, owned by the struct */
} rmq_wal_ckpt_t;

/* Encode into a malloc'd buffer (*out, caller frees). */
rmq_err_t rmq_wal_ckpt_encode(const rmq_wal_ckpt_t *c, uint8_t **out, size_t *out_len);
/* Decode p[0..len) (borrowed); on success c owns malloc'd arrays (free with
 * rmq_wal_ckpt_free). Never trusts a count before checking what remains. */
rmq_err_t rmq_wal_ckpt_decode(const uint8_t *p, size_t len, rmq_wal_ckpt_t *c);
void rmq_wal_ckpt_free(rmq_wal_ckpt_t *c);

#endif
