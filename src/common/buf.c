/* buf.c - see buf.h. */
#include "common/buf.h"

#include <stdlib.h>
#include <string.h>

#include "common/varint.h"

void rmq_buf_init(rmq_buf_t *b) { memset(b, 0, sizeof *b); }

void rmq_buf_free(rmq_buf_t *b) {
    free(b->data);
    memset(b, 0, sizeof *b);
}

void rmq_buf_reset(rmq_buf_t *b) {
    b->len = 0;
    b->oom = false;
}

rmq_err_t rmq_buf_reserve(rmq_buf_t *b, size_t n) {
    if (b->oom) return RMQ_ERR_NOMEM;
    if (n <= b->cap - b->len) return 0;
    if (n > SIZE_MAX / 2 - b->len) {
        b->oom = true;
        return RMQ_ERR_NOMEM;
    }
    size_t ncap = b->cap ? b->cap : 64;
    while (ncap - b->len < n) ncap *= 2;
    uint8_t *d = realloc(b->data, ncap);
    if (!d) {
        b->oom = true;
        return RMQ_ERR_NOMEM;
    }
    b->data = d;
    b->cap = ncap;
    return 0;
}

rmq_err_t rmq_buf_reserve_aligned(rmq_buf_t *b, size_t n, size_t align) {
    if (b->len != 0) return RMQ_ERR_INVALID_ARG;
    if (b->oom) return RMQ_ERR_NOMEM;
    if (b->cap >= n && ((uintptr_t)b->data & (align - 1)) == 0) return 0;
    void *d = NULL;
    if (posix_memalign(&d, align, n ? n : 1) != 0) return RMQ_ERR_NOMEM; /* b unchanged, still usable */
    free(b->data);
    b->data = d;
    b->cap = n ? n : 1;
    return 0;
}

uint8_t *rmq_buf_detach(rmq_buf_t *b, size_t *len) {
    uint8_t *d = b->data;
    if (len) *len = b->len;
    memset(b, 0, sizeof *b);
    return d;
}

uint8_t *rmq_buf_extend(rmq_buf_t *b, size_t n) {
    if (rmq_buf_reserve(b, n)) return NULL;
    uint8_t *p = b->data + b->len;
    b->len += n;
    return p;
}

void rmq_buf_put(rmq_buf_t *b, const void *p, size_t n) {
    if (!n) return;
    uint8_t *d = rmq_buf_extend(b, n);
    if (d) memcpy(d, p, n);
}

void rmq_buf_put_u8(rmq_buf_t *b, uint8_t v) { rmq_buf_put(b, &v, 1); }
void rmq_buf_put_i8(rmq_buf_t *b, int8_t v) { rmq_buf_put_u8(b, (uint8_t)v); }
void rmq_buf_put_u16(rmq_buf_t *b, uint16_t v) {
    uint8_t *d = rmq_buf_extend(b, 2);
    if (d) rmq_wbe16(d, v);
}
void rmq_buf_put_i16(rmq_buf_t *b, int16_t v) { rmq_buf_put_u16(b, (uint16_t)v); }
void rmq_buf_put_u32(rmq_buf_t *b, uint32_t v) {
    uint8_t *d = rmq_buf_extend(b, 4);
    if (d) rmq_wbe32(d, v);
}
void rmq_buf_put_i32(rmq_buf_t *b, int32_t v) { rmq_buf_put_u32(b, (uint32_t)v); }
void rmq_buf_put_u64(rmq_buf_t *b, uint64_t v) {
    uint8_t *d = rmq_buf_extend(b, 8);
    if (d) rmq_wbe64(d, v);
}
void rmq_buf_put_i64(rmq_buf_t *b, int64_t v) { rmq_buf_put_u64(b, (uint64_t)v); }
void rmq_buf_put_f64(rmq_buf_t *b, double v) {
    uint64_t u;
    memcpy(&u, &v, 8);
    rmq_buf_put_u64(b, u);
}
void rmq_buf_put_uvarint(rmq_buf_t *b, uint64_t v) {
    uint8_t tmp[RMQ_VARINT_MAX64];
    rmq_buf_put(b, tmp, rmq_uvarint_encode(tmp, v));
}
void rmq_buf_put_varint(rmq_buf_t *b, int32_t v) { rmq_buf_put_uvarint(b, rmq_zigzag32(v)); }
void rmq_buf_put_varlong(rmq_buf_t *b, int64_t v) { rmq_buf_put_uvarint(b, rmq_zigzag64(v)); }

void rmq_buf_patch_i32(rmq_buf_t *b, size_t off, int32_t v) {
    if (!b->oom && off + 4 <= b->len) rmq_wbe32(b->data + off, (uint32_t)v);
}
void rmq_buf_patch_u32(rmq_buf_t *b, size_t off, uint32_t v) {
    if (!b->oom && off + 4 <= b->len) rmq_wbe32(b->data + off, v);
}
void rmq_buf_patch_i64(rmq_buf_t *b, size_t off, int64_t v) {
    if (!b->oom && off + 8 <= b->len) rmq_wbe64(b->data + off, (uint64_t)v);
}

/* ---- cursor ---- */

void rmq_cur_init(rmq_cur_t *c, const void *p, size_t len) {
    c->p = p;
    c->len = len;
    c->off = 0;
    c->err = 0;
    c->err_off = 0;
}

void rmq_cur_fail(rmq_cur_t *c, rmq_err_t err) {
    if (c->err) return;
    c->err = err;
    c->err_off = c->off;
}

static inline const uint8_t *rmq_cur_take(rmq_cur_t *c, size_t n) {
    if (c->err) return NULL;
    if (n > c->len - c->off) {
        rmq_cur_fail(c, RMQ_ERR_TRUNCATED);
        return NULL;
    }
    const uint8_t *p = c->p + c->off;
    c->off += n;
    return p;
}

uint8_t rmq_cur_u8(rmq_cur_t *c) {
    const uint8_t *p = rmq_cur_take(c, 1);
    return p ? p[0] : 0;
}
int8_t rmq_cur_i8(rmq_cur_t *c) { return (int8_t)rmq_cur_u8(c); }
uint16_t rmq_cur_u16(rmq_cur_t *c) {
    const uint8_t *p = rmq_cur_take(c, 2);
    return p ? rmq_be16(p) : 0;
}
int16_t rmq_cur_i16(rmq_cur_t *c) { return (int16_t)rmq_cur_u16(c); }
uint32_t rmq_cur_u32(rmq_cur_t *c) {
    const uint8_t *p = rmq_cur_take(c, 4);
    return p ? rmq_be32(p) : 0;
}
int32_t rmq_cur_i32(rmq_cur_t *c) { return (int32_t)rmq_cur_u32(c); }
int64_t rmq_cur_i64(rmq_cur_t *c) {
    const uint8_t *p = rmq_cur_take(c, 8);
    return p ? (int64_t)rmq_be64(p) : 0;
}
double rmq_cur_f64(rmq_cur_t *c) {
    uint64_t u = (uint64_t)rmq_cur_i64(c);
    double d;
    memcpy(&d, &u, 8);
    return d;
}

static uint64_t rmq_cur_uv(rmq_cur_t *c, int maxbytes) {
    if (c->err) return 0;
    uint64_t v = 0;
    int n = rmq_uvarint_decode(c->p + c->off, c->len - c->off, maxbytes, &v);
    if (n == 0) {
        rmq_cur_fail(c, RMQ_ERR_TRUNCATED);
        return 0;
    }
    if (n < 0) {
        rmq_cur_fail(c, RMQ_ERR_BAD_VARINT);
        return 0;
    }
    c->off += (size_t)n;
    return v;
}

uint32_t rmq_cur_uvarint32(rmq_cur_t *c) { return (uint32_t)rmq_cur_uv(c, RMQ_VARINT_MAX32); }
uint64_t rmq_cur_uvarint64(rmq_cur_t *c) { return rmq_cur_uv(c, RMQ_VARINT_MAX64); }
int32_t rmq_cur_varint(rmq_cur_t *c) { return rmq_unzigzag32((uint32_t)rmq_cur_uv(c, RMQ_VARINT_MAX32)); }
int64_t rmq_cur_varlong(rmq_cur_t *c) { return rmq_unzigzag64(rmq_cur_uv(c, RMQ_VARINT_MAX64)); }

const uint8_t *rmq_cur_bytes(rmq_cur_t *c, size_t n) { return rmq_cur_take(c, n); }
void rmq_cur_skip(rmq_cur_t *c, size_t n) { (void)rmq_cur_take(c, n); }
