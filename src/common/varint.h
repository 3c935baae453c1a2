/* varint.h - unsigned LEB128 varints and zigzag signed varints as used by
 * Kafka (RecordBatch v2 records, compact strings/arrays, tagged fields).
 * Pure functions on caller-owned memory; no allocation. */
#ifndef RMQ_COMMON_VARINT_H
#define RMQ_COMMON_VARINT_H

#include <stddef.h>
#include <stdint.h>

#define RMQ_VARINT_MAX32 5
#define RMQ_VARINT_MAX64 10

static inline uint32_t rmq_zigzag32(int32_t v) { return ((uint32_t)v << 1) ^ (uint32_t)(v >> 31); }
static inline int32_t rmq_unzigzag32(uint32_t v) { return (int32_t)((v >> 1) ^ (~(v & 1) + 1)); }
static inline uint64_t rmq_zigzag64(int64_t v) { return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63); }
static inline int64_t rmq_unzigzag64(uint64_t v) { return (int64_t)((v >> 1) ^ (~(v & 1) + 1)); }

/* Encode v into out (caller provides >= RMQ_VARINT_MAX64 bytes). Returns bytes written. */
size_t rmq_uvarint_encode(uint8_t *out, uint64_t v);
/* Bytes rmq_uvarint_encode would write. */
size_t rmq_uvarint_size(uint64_t v);
/* Decode at most maxbytes (5 for 32-bit, 10 for 64-bit) from p[0..len).
 * Returns bytes consumed (>0), 0 if truncated, -1 if longer than maxbytes or
 * overflowing 64 bits / 32 bits when maxbytes == 5. */
int rmq_uvarint_decode(const uint8_t *p, size_t len, int maxbytes, uint64_t *out);

#endif
