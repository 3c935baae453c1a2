/* crc32c.h - CRC-32C (Castagnoli), as used by Kafka RecordBatch v2 and our
 * WAL entries. Uses the SSE4.2 crc32 instruction when the CPU has it
 * (checked once at runtime), else a slicing-by-8 table implementation. */
#ifndef RMQ_COMMON_CRC32C_H
#define RMQ_COMMON_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* Extend crc (start with 0) over buf[0..len). Returns the new CRC. */
uint32_t rmq_crc32c(uint32_t crc, const void *buf, size_t len);
/* Same, forced portable path (for tests and comparison). */
uint32_t rmq_crc32c_sw(uint32_t crc, const void *buf, size_t len);
/* The CRC of A followed by B from crc1 = CRC(A) and crc2 = CRC(B), where B
 * is len2 bytes long, without the bytes: crc1 is multiplied by x^(8*len2)
 * modulo the polynomial (O(log len2) steps) and crc2 added. Lets the WAL
 * reuse a Kafka batch's already verified CRC instead of a second pass. */
uint32_t rmq_crc32c_combine(uint32_t crc1, uint32_t crc2, size_t len2);
/* 1 if the hardware path is in use. */
int rmq_crc32c_hw_available(void);

#endif
