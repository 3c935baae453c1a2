/* wal_format.c - encoders/decoders of WAL entry headers and checkpoints.
 * See wal_format.h for the layouts. */
#include "storage/wal_format.h"

#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/crc32c.h"

uint32_t rmq_wal_body_crc(const void *payload, size_t len) {
    return len > 8 ? rmq_crc32c(0, (const uint8_t *)payload + 8, len - 8) : 0;
}

uint32_t rmq_wal_body_crc_from_tail(const void *payload, size_t len, size_t tail_off, uint32_t tail_crc) {
    uint32_t head = rmq_crc32c(0, (const uint8_t *)payload + 8, tail_off - 8);
    return rmq_crc32c_combine(head, tail_crc, len - tail_off);
}

static uint32_t rmq_wal_finish_crc(uint32_t body_crc, const uint8_t *hdr, const void *payload, size_t len) {
    uint32_t crc = rmq_crc32c(body_crc, hdr + 8, RMQ_WAL_HDR - 8);
    if (len) crc = rmq_crc32c(crc, payload, len < 8 ? len : 8);
    return crc;
}

void rmq_wal_hdr_encode(uint8_t *out, const rmq_wal_hdr_t *h, const void *payload, uint32_t body_crc) {
    memset(out, 0, RMQ_WAL_HDR);
    rmq_wbe32(out, RMQ_WAL_MAGIC);
    rmq_wbe32(out + 8, h->len);
    out[12] = h->type;
    rmq_wbe64(out + 16, h->stream_id);
    rmq_wbe64(out + 24, (uint64_t)h->base_offset);
    rmq_wbe32(out + 32, (uint32_t)h->record_count);
    rmq_wbe32(out + 36, h->gen);
    rmq_wbe64(out + 40, (uint64_t)h->max_ts);
    rmq_wbe64(out + 48, h->seg_id);
    rmq_wbe32(out + 4, rmq_wal_finish_crc(body_crc, out, payload, h->len));
}

rmq_err_t rmq_wal_hdr_decode(const uint8_t *in, uint64_t expect_seg, uint64_t max_len, rmq_wal_hdr_t *h) {
    if (rmq_be32(in) != RMQ_WAL_MAGIC) return RMQ_ERR_BAD_MAGIC;
    h->len = rmq_be32(in + 8);
    h->type = in[12];
    h->stream_id = rmq_be64(in + 16);
    h->base_offset = (int64_t)rmq_be64(in + 24);
    h->record_count = (int32_t)rmq_be32(in + 32);
    h->gen = rmq_be32(in + 36);
    h->max_ts = (int64_t)rmq_be64(in + 40);
    h->seg_id = rmq_be64(in + 48);
    if (in[13] != 0 || in[14] != 0 || in[15] != 0 || rmq_be64(in + 56) != 0) return RMQ_ERR_CORRUPT;
    if (h->seg_id != expect_seg || h->len > max_len) return RMQ_ERR_CORRUPT;
    if (h->base_offset < 0) return RMQ_ERR_CORRUPT;
    switch (h->type) {
    case RMQ_WAL_DATA:
        if (h->record_count <= 0 || h->len < 8) return RMQ_ERR_CORRUPT;
        if (h->base_offset > INT64_MAX - h->record_count) return RMQ_ERR_CORRUPT;
        break;
    case RMQ_WAL_TRIM:
    case RMQ_WAL_DELETE:
        if (h->len != 0) return RMQ_ERR_CORRUPT;
        break;
    default:
        return RMQ_ERR_CORRUPT;
    }
    return RMQ_NONE;
}

bool rmq_wal_hdr_crc_ok(const uint8_t *hdr, const void *payload, size_t len) {
    return rmq_wal_finish_crc(rmq_wal_body_crc(payload, len), hdr, payload, len) == rmq_be32(hdr + 4);
}

rmq_err_t rmq_wal_ckpt_encode(const rmq_wal_ckpt_t *c, uint8_t **out, size_t *out_len) {
    rmq_buf_t b;
    rmq_buf_init(&b);
    rmq_buf_put_u32(&b, RMQ_WAL_CKPT_MAGIC);
    rmq_buf_put_u32(&b, 1);
    rmq_buf_put_u32(&b, 0); /* crc, patched below */
    rmq_buf_put_u64(&b, c->pos_seg);
    rmq_buf_put_u64(&b, c->pos_off);
    rmq_buf_put_u64(&b, c->low_water);
    rmq_buf_put_u32(&b, c->n_reclaimed);
    for (uint32_t i = 0; i < c->n_reclaimed; i++) rmq_buf_put_u64(&b, c->reclaimed[i]);
    rmq_buf_put_u32(&b, c->n_streams);
    for (uint32_t i = 0; i < c->n_streams; i++) {
        rmq_buf_put_u64(&b, c->streams[i].id);
        rmq_buf_put_u32(&b, c->streams[i].gen);
        rmq_buf_put_i64(&b, c->streams[i].log_start);
        rmq_buf_put_i64(&b, c->streams[i].end);
    }
    if (b.oom) {
        rmq_buf_free(&b);
        return RMQ_ERR_NOMEM;
    }
    rmq_buf_patch_u32(&b, 8, rmq_crc32c(0, b.data + 12, b.len - 12));
    *out = rmq_buf_detach(&b, out_len);
    return RMQ_NONE;
}

rmq_err_t rmq_wal_ckpt_decode(const uint8_t *p, size_t len, rmq_wal_ckpt_t *c) {
    memset(c, 0, sizeof(*c));
    rmq_cur_t cur;
    rmq_cur_init(&cur, p, len);
    if (rmq_cur_u32(&cur) != RMQ_WAL_CKPT_MAGIC) return RMQ_ERR_BAD_MAGIC;
    if (rmq_cur_u32(&cur) != 1) return RMQ_ERR_UNSUPPORTED;
    uint32_t crc = rmq_cur_u32(&cur);
    if (!rmq_cur_ok(&cur)) return cur.err;
    if (rmq_crc32c(0, p + 12, len - 12) != crc) return RMQ_ERR_BAD_CRC;
    c->pos_seg = (uint64_t)rmq_cur_i64(&cur);
    c->pos_off = (uint64_t)rmq_cur_i64(&cur);
    c->low_water = (uint64_t)rmq_cur_i64(&cur);
    c->n_reclaimed = rmq_cur_u32(&cur);
    if (!rmq_cur_ok(&cur)) return cur.err;
    if ((uint64_t)c->n_reclaimed * 8 > rmq_cur_remaining(&cur)) return RMQ_ERR_BAD_LENGTH;
    if (c->n_reclaimed) {
        c->reclaimed = malloc((size_t)c->n_reclaimed * sizeof(uint64_t));
        if (!c->reclaimed) return RMQ_ERR_NOMEM;
        for (uint32_t i = 0; i < c->n_reclaimed; i++) c->reclaimed[i] = (uint64_t)rmq_cur_i64(&cur);
    }
    c->n_streams = rmq_cur_u32(&cur);
    if (!rmq_cur_ok(&cur) || (uint64_t)c->n_streams * 28 > rmq_cur_remaining(&cur)) {
        rmq_err_t e = cur.err ? cur.err : RMQ_ERR_BAD_LENGTH;
        rmq_wal_ckpt_free(c);
        return e;
    }
    if (c->n_streams) {
        c->streams = malloc((size_t)c->n_streams * sizeof(*c->streams));
        if (!c->streams) {
            rmq_wal_ckpt_free(c);
            return RMQ_ERR_NOMEM;
        }
        for (uint32_t i = 0; i < c->n_streams; i++) {
            c->streams[i].id = (uint64_t)rmq_cur_i64(&cur);
            c->streams[i].gen = rmq_cur_u32(&cur);
            c->streams[i].log_start = rmq_cur_i64(&cur);
            c->streams[i].end = rmq_cur_i64(&cur);
            if (c->streams[i].log_start < 0 || c->streams[i].end < c->streams[i].log_start) {
                rmq_wal_ckpt_free(c);
                return RMQ_ERR_CORRUPT;
            }
        }
    }
    if (!rmq_cur_ok(&cur) || rmq_cur_remaining(&cur) != 0) {
        rmq_err_t e = cur.err ? cur.err : RMQ_ERR_BAD_LENGTH;
        rmq_wal_ckpt_free(c);
        return e;
    }
    return RMQ_NONE;
}

void rmq_wal_ckpt_free(rmq_wal_ckpt_t *c) {
    free(c->reclaimed);
    free(c->streams);
    c->reclaimed = NULL;
    c->streams = NULL;
    c->n_reclaimed = c->n_streams = 0;
}
