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
/* 1 if the hardware path is in use. */
int rmq_crc32c_hw_available(void);

#endif
