/* buf.h - byte buffers and the bounds-checked read cursor.
 *
 * rmq_buf_t: a growable, heap-owned output buffer with big-endian and varint
 * writers. Allocation failure is sticky (b->oom) so encoders check once at
 * the end. The buffer owns `data`; rmq_buf_free releases it, rmq_buf_detach
 * hands ownership to the caller.
 *
 * rmq_cur_t: a read cursor over borrowed memory (the caller keeps the bytes
 * alive while views taken from the cursor are in use). Every read is bounds
 * checked; the first failure sets c->err (RMQ_ERR_TRUNCATED,
 * RMQ_ERR_BAD_VARINT, RMQ_ERR_BAD_LENGTH) and c->err_off (the byte offset),
 * and every later read returns zero/NULL, so a decoder checks c->err once
 * at its single exit. */
#ifndef RMQ_COMMON_BUF_H
#define RMQ_COMMON_BUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

typedef struct rmq_buf {
    uint8_t *data; /* owned */
    size_t len;
    size_t cap;
    bool oom;
} rmq_buf_t;

/* A part of a message kept out of its buffer (zero-copy): len bytes at ptr
 * (borrowed), which belong in front of byte `at` of the buffer. The Kafka
 * encoder notes records this way (rmq_kafka_encode_response_spliced) and
 * net writes them in place (rmq_net_slot_complete_ext). */
typedef struct rmq_buf_ext {
    size_t at;
    const void *ptr;
    size_t len;
} rmq_buf_ext_t;

void rmq_buf_init(rmq_buf_t *b);
/* Releases data; b is reusable after rmq_buf_init. */
void rmq_buf_free(rmq_buf_t *b);
/* Length back to 0, capacity kept, oom cleared. */
void rmq_buf_reset(rmq_buf_t *b);
/* Ensure room for n more bytes. Returns 0 or RMQ_ERR_NOMEM (also sets oom). */
rmq_err_t rmq_buf_reserve(rmq_buf_t *b, size_t n);
/* For an empty buffer: replace its storage with n bytes aligned to align (a
 * power of two, >= sizeof(void *)), so a reader can fill it with O_DIRECT.
 * The data stays free()-able; later growth (realloc) may lose the alignment.
 * RMQ_ERR_INVALID_ARG if b holds data. */
rmq_err_t rmq_buf_reserve_aligned(rmq_buf_t *b, size_t n, size_t align);
/* Transfer ownership of data to the caller (free() it); b becomes empty. */
uint8_t *rmq_buf_detach(rmq_buf_t *b, size_t *len);
/* Append n uninitialised bytes; returns a pointer to them valid until the
 * next write, or NULL on OOM. */
uint8_t *rmq_buf_extend(rmq_buf_t *b, size_t n);

void rmq_buf_put(rmq_buf_t *b, const void *p, size_t n);
void rmq_buf_put_u8(rmq_buf_t *b, uint8_t v);
void rmq_buf_put_i8(rmq_buf_t *b, int8_t v);
void rmq_buf_put_i16(rmq_buf_t *b, int16_t v);
void rmq_buf_put_u16(rmq_buf_t *b, uint16_t v);
void rmq_buf_put_i32(rmq_buf_t *b, int32_t v);
void rmq_buf_put_u32(rmq_buf_t *b, uint32_t v);
void rmq_buf_put_i64(rmq_buf_t *b, int64_t v);
void rmq_buf_put_u64(rmq_buf_t *b, uint64_t v);
void rmq_buf_put_f64(rmq_buf_t *b, double v);
void rmq_buf_put_uvarint(rmq_buf_t *b, uint64_t v);
void rmq_buf_put_varint(rmq_buf_t *b, int32_t v);  /* zigzag 32 */
void rmq_buf_put_varlong(rmq_buf_t *b, int64_t v); /* zigzag 64 */
/* Overwrite 4/8 bytes at off (must be within len). */
void rmq_buf_patch_i32(rmq_buf_t *b, size_t off, int32_t v);
void rmq_buf_patch_u32(rmq_buf_t *b, size_t off, uint32_t v);
void rmq_buf_patch_i64(rmq_buf_t *b, size_t off, int64_t v);

/* Big-endian helpers on raw memory (caller guarantees bounds). */
static inline uint16_t rmq_be16(const uint8_t *p) { return (uint16_t)((p[0] << 8) | p[1]); }
static inline uint32_t rmq_be32(const uint8_t *p) {
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}
static inline uint64_t rmq_be64(const uint8_t *p) { return ((uint64_t)rmq_be32(p) << 32) | rmq_be32(p + 4); }
static inline void rmq_wbe16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static inline void rmq_wbe32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16); p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v;
}
static inline void rmq_wbe64(uint8_t *p, uint64_t v) { rmq_wbe32(p, (uint32_t)(v >> 32)); rmq_wbe32(p + 4, (uint32_t)v); }

typedef struct rmq_cur {
    const uint8_t *p; /* borrowed */
    size_t len;
    size_t off;
    rmq_err_t err;  /* first error, sticky */
    size_t err_off; /* byte offset of the first error */
} rmq_cur_t;

void rmq_cur_init(rmq_cur_t *c, const void *p, size_t len);
static inline size_t rmq_cur_remaining(const rmq_cur_t *c) { return c->err ? 0 : c->len - c->off; }
static inline bool rmq_cur_ok(const rmq_cur_t *c) { return c->err == 0; }
/* Record an error at the current offset (keeps the first one). */
void rmq_cur_fail(rmq_cur_t *c, rmq_err_t err);

uint8_t rmq_cur_u8(rmq_cur_t *c);
int8_t rmq_cur_i8(rmq_cur_t *c);
int16_t rmq_cur_i16(rmq_cur_t *c);
uint16_t rmq_cur_u16(rmq_cur_t *c);
int32_t rmq_cur_i32(rmq_cur_t *c);
uint32_t rmq_cur_u32(rmq_cur_t *c);
int64_t rmq_cur_i64(rmq_cur_t *c);
double rmq_cur_f64(rmq_cur_t *c);
uint32_t rmq_cur_uvarint32(rmq_cur_t *c); /* max 5 bytes */
uint64_t rmq_cur_uvarint64(rmq_cur_t *c); /* max 10 bytes */
int32_t rmq_cur_varint(rmq_cur_t *c);     /* zigzag, max 5 bytes */
int64_t rmq_cur_varlong(rmq_cur_t *c);    /* zigzag, max 10 bytes */
/* A view of the next n bytes (borrowed from the cursor's memory), or NULL
 * with c->err set if fewer remain. n == 0 returns a non-NULL pointer. */
const uint8_t *rmq_cur_bytes(rmq_cur_t *c, size_t n);
void rmq_cur_skip(rmq_cur_t *c, size_t n);

#endif
