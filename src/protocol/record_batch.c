/* record_batch.c - RecordBatch v2 parsing, validation, record iteration
 * and building. See record_batch.h for the format, the error codes and the
 * buffer ownership of each function. Decoding goes through rmq_cur_t and
 * never trusts a length from the input before checking it against the
 * bytes that remain. */
#include "protocol/record_batch.h"

#include <string.h>

#include "common/crc32c.h"
#include "common/varint.h"

/* Smallest possible record: length(1) attributes(1) timestampDelta(1)
 * offsetDelta(1) keyLength(1) valueLength(1) headerCount(1). */
#define RB_MIN_RECORD 7
#define RB_DEFAULT_MAX_DECOMPRESSED ((size_t)64 << 20)

rmq_err_t rmq_rb_header_parse(const uint8_t *p, size_t len, uint32_t flags, rmq_rb_header_t *h) {
    memset(h, 0, sizeof *h);
    /* magic sits at byte 16 in every format (v0/v1 MessageSet too), so an
     * old-format message is recognised before its (smaller) length trips
     * the v2 length checks. */
    if (len >= 17) {
        int8_t magic = (int8_t)p[16];
        if (magic == 0 || magic == 1) return RMQ_ERR_UNSUPPORTED;
        if (magic != 2) return RMQ_ERR_BAD_MAGIC;
    }
    if (len < RMQ_RB_HEADER_SIZE) return RMQ_ERR_TRUNCATED;
    rmq_cur_t c;
    rmq_cur_init(&c, p, RMQ_RB_HEADER_SIZE);
    h->base_offset = rmq_cur_i64(&c);
    h->batch_length = rmq_cur_i32(&c);
    h->partition_leader_epoch = rmq_cur_i32(&c);
    h->magic = rmq_cur_i8(&c);
    h->crc = rmq_cur_u32(&c);
    h->attributes = rmq_cur_i16(&c);
    h->last_offset_delta = rmq_cur_i32(&c);
    h->base_timestamp = rmq_cur_i64(&c);
    h->max_timestamp = rmq_cur_i64(&c);
    h->producer_id = rmq_cur_i64(&c);
    h->producer_epoch = rmq_cur_i16(&c);
    h->base_sequence = rmq_cur_i32(&c);
    h->record_count = rmq_cur_i32(&c);
    if (c.err) return c.err; /* cannot happen: 61 bytes are there */
    if (h->batch_length < RMQ_RB_MIN_BATCH_LENGTH) return RMQ_ERR_BAD_LENGTH;
    size_t size = rmq_rb_size(h);
    if (size > len) return RMQ_ERR_TRUNCATED;
    if (!(flags & RMQ_RB_F_NO_CRC)) {
        uint32_t crc = rmq_crc32c(0, p + RMQ_RB_ATTR_OFFSET, size - RMQ_RB_ATTR_OFFSET);
        if (crc != h->crc) return RMQ_ERR_BAD_CRC;
    }
    if (h->record_count < 0 || h->last_offset_delta < 0) return RMQ_INVALID_RECORD;
    if (flags & RMQ_RB_F_COMPACTED) {
        if ((int64_t)h->record_count > (int64_t)h->last_offset_delta + 1) return RMQ_INVALID_RECORD;
    } else if ((int64_t)h->record_count != (int64_t)h->last_offset_delta + 1) {
        return RMQ_INVALID_RECORD;
    }
    /* An uncompressed section must be able to hold `count` records. */
    if ((h->attributes & RMQ_RB_ATTR_CODEC_MASK) == RMQ_CODEC_NONE &&
        (uint64_t)h->record_count * RB_MIN_RECORD > size - RMQ_RB_HEADER_SIZE)
        return RMQ_ERR_CORRUPT;
    return 0;
}

/* ------------------------------------------------------------ batches */

void rmq_rb_batches_init(rmq_rb_batches_t *it, const uint8_t *p, size_t len, uint32_t flags) {
    memset(it, 0, sizeof *it);
    it->p = p;
    it->len = len;
    it->flags = flags;
}

bool rmq_rb_batches_next(rmq_rb_batches_t *it, rmq_rb_batch_t *out) {
    if (it->err || it->partial || it->off >= it->len) return false;
    const uint8_t *p = it->p + it->off;
    size_t r = it->len - it->off;
    bool allow_partial = (it->flags & RMQ_RB_F_ALLOW_PARTIAL) != 0;
    /* Decide whether a short tail is a plausible partial batch. */
    bool is_short = false;
    if (r < RMQ_RB_LOG_OVERHEAD) {
        is_short = true;
    } else {
        int32_t blen = (int32_t)rmq_be32(p + 8);
        if (r >= 17 && p[16] != 2) {
            it->err = (p[16] == 0 || p[16] == 1) ? RMQ_ERR_UNSUPPORTED : RMQ_ERR_BAD_MAGIC;
        } else if (blen < RMQ_RB_MIN_BATCH_LENGTH) {
            it->err = RMQ_ERR_BAD_LENGTH;
        } else if ((size_t)blen + RMQ_RB_LOG_OVERHEAD > r) {
            is_short = true;
        }
    }
    if (!it->err && is_short) {
        if (allow_partial) {
            it->partial = true;
            it->partial_off = it->off;
            return false;
        }
        it->err = RMQ_ERR_TRUNCATED;
    }
    if (!it->err) it->err = rmq_rb_header_parse(p, r, it->flags, &out->h);
    if (it->err) {
        it->err_off = it->off;
        return false;
    }
    out->data = p;
    out->size = rmq_rb_size(&out->h);
    out->records = p + RMQ_RB_HEADER_SIZE;
    out->records_len = out->size - RMQ_RB_HEADER_SIZE;
    out->offset = it->off;
    it->off += out->size;
    return true;
}

/* ------------------------------------------------------------ records */

void rmq_rb_iter_init_plain(rmq_rb_iter_t *it, const uint8_t *rec, size_t len, int32_t count,
                            int32_t last_offset_delta, uint32_t flags) {
    memset(it, 0, sizeof *it);
    rmq_cur_init(&it->c, rec, len);
    it->count = count < 0 ? 0 : count;
    it->last_offset_delta = last_offset_delta;
    it->prev_offset_delta = -1;
    it->flags = flags;
}

rmq_err_t rmq_rb_iter_init(rmq_rb_iter_t *it, const rmq_rb_batch_t *b, rmq_buf_t *scratch, size_t max_decompressed,
                           uint32_t flags) {
    int codec = rmq_rb_codec(&b->h);
    rmq_rb_iter_init_plain(it, b->records, b->records_len, b->h.record_count, b->h.last_offset_delta, flags);
    if (codec == RMQ_CODEC_NONE) return 0;
    if (codec > RMQ_CODEC_MAX) return it->err = RMQ_UNSUPPORTED_COMPRESSION_TYPE;
    if (!scratch) return it->err = RMQ_ERR_INVALID_ARG;
    rmq_buf_reset(scratch);
    rmq_err_t e = rmq_decompress_any(codec, b->records, b->records_len, max_decompressed, scratch);
    if (e) return it->err = e;
    if ((uint64_t)b->h.record_count * RB_MIN_RECORD > scratch->len) return it->err = RMQ_ERR_CORRUPT;
    rmq_cur_init(&it->c, scratch->data, scratch->len);
    return 0;
}

/* Read a nullable length-prefixed byte string into *v. Returns false with
 * the cursor failed on a bad length (< -1, or more than remains). */
static bool read_bytes(rmq_cur_t *c, rmq_rb_bytes_t *v) {
    int32_t n = rmq_cur_varint(c);
    if (c->err) return false;
    if (n < -1) {
        rmq_cur_fail(c, RMQ_ERR_BAD_LENGTH);
        return false;
    }
    if (n == -1) {
        v->ptr = NULL;
        v->len = -1;
        return true;
    }
    v->ptr = rmq_cur_bytes(c, (size_t)n);
    v->len = n;
    return c->err == 0;
}

bool rmq_rb_iter_next(rmq_rb_iter_t *it, rmq_rb_record_t *r) {
    if (it->err) return false;
    if (it->index >= it->count) {
        if (rmq_cur_remaining(&it->c) != 0) it->err = RMQ_ERR_CORRUPT; /* bytes after the last record */
        return false;
    }
    memset(r, 0, sizeof *r);
    int32_t size = rmq_cur_varint(&it->c);
    if (it->c.err || size < RB_MIN_RECORD - 1 || (size_t)size > rmq_cur_remaining(&it->c)) {
        it->err = RMQ_ERR_CORRUPT;
        return false;
    }
    rmq_cur_t c;
    rmq_cur_init(&c, rmq_cur_bytes(&it->c, (size_t)size), (size_t)size);
    r->size = size;
    r->attributes = rmq_cur_i8(&c);
    r->timestamp_delta = rmq_cur_varlong(&c);
    r->offset_delta = rmq_cur_varint(&c);
    if (!read_bytes(&c, &r->key) || !read_bytes(&c, &r->value)) {
        it->err = RMQ_ERR_CORRUPT;
        return false;
    }
    r->header_count = rmq_cur_varint(&c);
    if (c.err) {
        it->err = RMQ_ERR_CORRUPT;
        return false;
    }
    if (r->header_count < 0) {
        it->err = RMQ_INVALID_RECORD;
        return false;
    }
    if ((size_t)r->header_count > rmq_cur_remaining(&c) / 2) { /* each header >= 2 bytes */
        it->err = RMQ_ERR_CORRUPT;
        return false;
    }
    r->headers = c.p + c.off;
    for (int32_t i = 0; i < r->header_count; i++) {
        int32_t klen = rmq_cur_varint(&c);
        if (c.err) break;
        if (klen < 0) {
            it->err = RMQ_INVALID_RECORD; /* header keys are never null */
            return false;
        }
        rmq_cur_skip(&c, (size_t)klen);
        rmq_rb_bytes_t v;
        if (!read_bytes(&c, &v)) break;
    }
    if (c.err || rmq_cur_remaining(&c) != 0) { /* bad header, or size disagrees with contents */
        it->err = RMQ_ERR_CORRUPT;
        return false;
    }
    r->headers_len = (size_t)(c.p + c.off - r->headers);
    if (it->flags & RMQ_RB_F_COMPACTED) {
        if (r->offset_delta <= it->prev_offset_delta || r->offset_delta > it->last_offset_delta) {
            it->err = RMQ_INVALID_RECORD;
            return false;
        }
    } else if (r->offset_delta != it->index ||
               (it->index == it->count - 1 && r->offset_delta != it->last_offset_delta)) {
        it->err = RMQ_INVALID_RECORD;
        return false;
    }
    it->prev_offset_delta = r->offset_delta;
    it->index++;
    return true;
}

void rmq_rb_hiter_init(rmq_rb_hiter_t *hi, const rmq_rb_record_t *r) {
    rmq_cur_init(&hi->c, r->headers, r->headers_len);
    hi->left = r->header_count;
}

bool rmq_rb_hiter_next(rmq_rb_hiter_t *hi, rmq_rb_bytes_t *key, rmq_rb_bytes_t *value) {
    if (hi->left <= 0 || hi->c.err) return false;
    if (!read_bytes(&hi->c, key) || key->len < 0 || !read_bytes(&hi->c, value)) {
        hi->left = 0;
        return false;
    }
    hi->left--;
    return true;
}

/* ------------------------------------------------------------ validate */

static rmq_err_t fail(rmq_rb_summary_t *s, rmq_err_t e, size_t off, int32_t rec, const char *what) {
    s->err_offset = off;
    s->err_record = rec;
    s->err_what = what;
    return e;
}

static const char *batch_err_what(rmq_err_t e) {
    switch (e) {
    case RMQ_ERR_TRUNCATED: return "batch truncated";
    case RMQ_ERR_BAD_LENGTH: return "batchLength below 49";
    case RMQ_ERR_UNSUPPORTED: return "message format v0/v1 (magic < 2) not supported";
    case RMQ_ERR_BAD_MAGIC: return "unknown magic";
    case RMQ_ERR_BAD_CRC: return "CRC-32C mismatch";
    case RMQ_INVALID_RECORD: return "record count inconsistent with lastOffsetDelta";
    case RMQ_ERR_CORRUPT: return "record count larger than the records section";
    default: return "invalid batch";
    }
}

static const char *record_err_what(rmq_err_t e) {
    switch (e) {
    case RMQ_ERR_TOO_LARGE: return "decompressed records exceed the bound";
    case RMQ_ERR_COMPRESSION: return "compressed records do not decode";
    case RMQ_UNSUPPORTED_COMPRESSION_TYPE: return "unknown compression codec";
    case RMQ_INVALID_RECORD: return "invalid record (offset delta, header key or header count)";
    case RMQ_ERR_CORRUPT: return "record lengths or varints do not fit";
    case RMQ_ERR_NOMEM: return "out of memory";
    default: return "invalid record";
    }
}

rmq_err_t rmq_rb_validate(const uint8_t *p, size_t len, const rmq_rb_limits_t *lim, rmq_rb_summary_t *out) {
    memset(out, 0, sizeof *out);
    out->max_timestamp = -1;
    out->batch_max_timestamp = -1;
    out->err_record = -1;
    out->first_null_key = -1;
    size_t budget = lim ? lim->max_decompressed_bytes : RB_DEFAULT_MAX_DECOMPRESSED;
    uint32_t flags = lim ? lim->flags : 0;
    rmq_buf_t own;
    rmq_buf_init(&own);
    rmq_buf_t *scratch = lim && lim->scratch ? lim->scratch : &own;
    rmq_err_t err = 0;

    /* Kafka's ProduceRequest.validateRecords, before anything else (and so
     * before the CRC): zstd below Produce v7, then a second batch. Only a
     * whole v2 first batch is looked at; anything else fails below. */
    if ((flags & (RMQ_RB_F_ONE_BATCH | RMQ_RB_F_NO_ZSTD)) && len >= RMQ_RB_HEADER_SIZE && p[16] == 2) {
        int32_t blen = (int32_t)rmq_be32(p + 8);
        if (blen >= RMQ_RB_MIN_BATCH_LENGTH && (size_t)blen <= len - RMQ_RB_LOG_OVERHEAD) {
            size_t first = RMQ_RB_LOG_OVERHEAD + (size_t)blen;
            if ((flags & RMQ_RB_F_NO_ZSTD) &&
                (rmq_be16(p + RMQ_RB_ATTR_OFFSET) & RMQ_RB_ATTR_CODEC_MASK) == RMQ_CODEC_ZSTD) {
                err = fail(out, RMQ_UNSUPPORTED_COMPRESSION_TYPE, 0, -1,
                           "zstd compression needs Produce v7 or later");
                goto done;
            }
            if ((flags & RMQ_RB_F_ONE_BATCH) && first < len) {
                err = fail(out, RMQ_INVALID_RECORD, first, -1,
                           "bytes after the first record batch (Produce v3+ carries exactly one per partition)");
                goto done;
            }
        }
    }

    rmq_rb_batches_t bi;
    rmq_rb_batch_t b;
    rmq_rb_batches_init(&bi, p, len, flags);
    while (rmq_rb_batches_next(&bi, &b)) {
        const rmq_rb_header_t *h = &b.h;
        int codec = rmq_rb_codec(h);
        /* LogValidator.validateBatch for batches from clients */
        if (flags & RMQ_RB_F_CLIENT) {
            if (rmq_rb_is_control(h)) {
                err = fail(out, RMQ_INVALID_RECORD, b.offset, -1, "clients are not allowed to write control records");
                goto done;
            }
            if (h->producer_id >= 0 && h->base_sequence < 0) {
                err = fail(out, RMQ_INVALID_RECORD, b.offset, -1,
                           "invalid sequence number: baseSequence < 0 with a producerId");
                goto done;
            }
        }
        if (out->batches == 0) {
            out->first_timestamp = h->base_timestamp;
            out->producer_id = h->producer_id;
            out->producer_epoch = h->producer_epoch;
            out->base_sequence = h->base_sequence;
            out->codec = codec;
            out->transactional = rmq_rb_is_transactional(h);
            out->control = rmq_rb_is_control(h);
            out->log_append_time = (h->attributes & RMQ_RB_ATTR_LOG_APPEND_TIME) != 0;
        } else if (codec != out->codec) {
            out->mixed_codecs = true;
        }
        if (h->max_timestamp > out->batch_max_timestamp) out->batch_max_timestamp = h->max_timestamp;

        rmq_rb_iter_t it;
        rmq_err_t e = rmq_rb_iter_init(&it, &b, scratch, budget, flags);
        if (e) {
            err = fail(out, e, b.offset, -1, record_err_what(e));
            goto done;
        }
        if (codec != RMQ_CODEC_NONE) {
            budget -= scratch->len;
            out->decompressed_bytes += scratch->len;
        }
        rmq_rb_record_t r;
        while (rmq_rb_iter_next(&it, &r)) {
            if (out->records == 0 && out->batches == 0) out->first_offset_delta = r.offset_delta;
            int64_t ts = (int64_t)((uint64_t)h->base_timestamp + (uint64_t)r.timestamp_delta);
            if (ts > out->max_timestamp) out->max_timestamp = ts;
            if (r.key.len < 0 && out->null_keys++ == 0) out->first_null_key = it.index - 1;
            out->records++;
        }
        if (it.err) {
            err = fail(out, it.err, b.offset, it.index, record_err_what(it.err));
            goto done;
        }
        out->batches++;
        out->offset_span += (int64_t)h->last_offset_delta + 1;
        out->last_offset_delta = h->last_offset_delta;
        out->valid_bytes = b.offset + b.size;
    }
    if (bi.err) {
        err = fail(out, bi.err, bi.err_off, -1, batch_err_what(bi.err));
        goto done;
    }
    out->partial = bi.partial;
    if (out->batches == 0) err = fail(out, RMQ_INVALID_RECORD, 0, -1, "no complete record batch");
done:
    rmq_buf_free(&own);
    return err;
}

/* ------------------------------------------------------------ builder */

void rmq_rb_build_opts_default(rmq_rb_build_opts_t *o) {
    memset(o, 0, sizeof *o);
    o->partition_leader_epoch = -1;
    o->producer_id = -1;
    o->producer_epoch = -1;
    o->base_sequence = -1;
    o->codec = RMQ_CODEC_NONE;
    o->level = RMQ_COMPRESS_LEVEL_DEFAULT;
}

void rmq_rb_builder_init(rmq_rb_builder_t *b) {
    memset(b, 0, sizeof *b);
    rmq_buf_init(&b->recs);
    rmq_buf_init(&b->tmp);
}

void rmq_rb_builder_reset(rmq_rb_builder_t *b) {
    rmq_buf_reset(&b->recs);
    rmq_buf_reset(&b->tmp);
    b->count = 0;
    b->base_timestamp = 0;
    b->max_timestamp = 0;
    b->err = 0;
}

void rmq_rb_builder_free(rmq_rb_builder_t *b) {
    rmq_buf_free(&b->recs);
    rmq_buf_free(&b->tmp);
    memset(b, 0, sizeof *b);
}

static bool bytes_arg_ok(const void *p, int32_t n) { return n >= -1 && (n <= 0 || p != NULL); }

static void put_bytes(rmq_buf_t *o, const void *p, int32_t n) {
    rmq_buf_put_varint(o, n < 0 ? -1 : n);
    if (n > 0) rmq_buf_put(o, p, (size_t)n);
}

rmq_err_t rmq_rb_builder_add(rmq_rb_builder_t *b, int64_t timestamp, const void *key, int32_t key_len,
                             const void *value, int32_t value_len, const rmq_rb_kv_t *headers, int32_t n_headers) {
    if (b->err) return b->err;
    if (!bytes_arg_ok(key, key_len) || !bytes_arg_ok(value, value_len) || n_headers < 0 ||
        (n_headers > 0 && !headers) || b->count == INT32_MAX)
        return RMQ_ERR_INVALID_ARG;
    for (int32_t i = 0; i < n_headers; i++)
        if (headers[i].key_len < 0 || !bytes_arg_ok(headers[i].key, headers[i].key_len) ||
            !bytes_arg_ok(headers[i].value, headers[i].value_len))
            return RMQ_ERR_INVALID_ARG;
    if (b->count == 0) {
        b->base_timestamp = timestamp;
        b->max_timestamp = timestamp;
    } else if (timestamp > b->max_timestamp) {
        b->max_timestamp = timestamp;
    }
    rmq_buf_t *t = &b->tmp;
    rmq_buf_reset(t);
    rmq_buf_put_i8(t, 0); /* record attributes: unused */
    rmq_buf_put_varlong(t, (int64_t)((uint64_t)timestamp - (uint64_t)b->base_timestamp));
    rmq_buf_put_varint(t, b->count);
    put_bytes(t, key, key_len);
    put_bytes(t, value, value_len);
    rmq_buf_put_varint(t, n_headers);
    for (int32_t i = 0; i < n_headers; i++) {
        put_bytes(t, headers[i].key, headers[i].key_len);
        put_bytes(t, headers[i].value, headers[i].value_len);
    }
    if (!t->oom && t->len > INT32_MAX) return b->err = RMQ_ERR_TOO_LARGE;
    rmq_buf_put_varint(&b->recs, (int32_t)t->len);
    rmq_buf_put(&b->recs, t->data, t->len);
    if (t->oom || b->recs.oom) return b->err = RMQ_ERR_NOMEM;
    b->count++;
    return 0;
}

rmq_err_t rmq_rb_builder_finish(rmq_rb_builder_t *b, const rmq_rb_build_opts_t *o, rmq_buf_t *out) {
    if (b->err) return b->err;
    if (o->codec < 0 || o->codec > RMQ_CODEC_MAX) return RMQ_ERR_UNSUPPORTED;
    size_t start = out->len;
    int16_t attrs = (int16_t)o->codec;
    if (o->log_append_time) attrs |= RMQ_RB_ATTR_LOG_APPEND_TIME;
    if (o->transactional) attrs |= RMQ_RB_ATTR_TRANSACTIONAL;
    if (o->control) attrs |= RMQ_RB_ATTR_CONTROL;
    rmq_buf_put_i64(out, o->base_offset);
    rmq_buf_put_i32(out, 0); /* batchLength, patched below */
    rmq_buf_put_i32(out, o->partition_leader_epoch);
    rmq_buf_put_i8(out, 2);
    rmq_buf_put_u32(out, 0); /* crc, patched below */
    rmq_buf_put_i16(out, attrs);
    rmq_buf_put_i32(out, b->count > 0 ? b->count - 1 : 0);
    rmq_buf_put_i64(out, b->count > 0 ? b->base_timestamp : -1);
    rmq_buf_put_i64(out, b->count > 0 ? b->max_timestamp : -1);
    rmq_buf_put_i64(out, o->producer_id);
    rmq_buf_put_i16(out, o->producer_epoch);
    rmq_buf_put_i32(out, o->base_sequence);
    rmq_buf_put_i32(out, b->count);
    if (out->oom) {
        out->len = start;
        return RMQ_ERR_NOMEM;
    }
    rmq_err_t e = rmq_compress_any(o->codec, o->level, b->recs.data, b->recs.len, out);
    if (e) {
        out->len = start;
        return e;
    }
    size_t size = out->len - start;
    if (size - RMQ_RB_LOG_OVERHEAD > INT32_MAX) {
        out->len = start;
        return RMQ_ERR_TOO_LARGE;
    }
    rmq_buf_patch_i32(out, start + 8, (int32_t)(size - RMQ_RB_LOG_OVERHEAD));
    rmq_buf_patch_u32(out, start + RMQ_RB_CRC_OFFSET,
                      rmq_crc32c(0, out->data + start + RMQ_RB_ATTR_OFFSET, size - RMQ_RB_ATTR_OFFSET));
    return 0;
}

/* Write maxTimestamp (and set attribute bits or_attrs) of the whole batch
 * batch[0..size), then recompute the CRC over the changed bytes. */
static rmq_err_t rb_rewrite_max_timestamp(uint8_t *batch, size_t size, int64_t ts, uint16_t or_attrs) {
    if (size < RMQ_RB_HEADER_SIZE || batch[16] != 2 ||
        (size_t)(int32_t)rmq_be32(batch + 8) + RMQ_RB_LOG_OVERHEAD != size)
        return RMQ_ERR_INVALID_ARG;
    uint16_t attrs = rmq_be16(batch + RMQ_RB_ATTR_OFFSET);
    rmq_wbe16(batch + RMQ_RB_ATTR_OFFSET, (uint16_t)(attrs | or_attrs));
    rmq_wbe64(batch + 35, (uint64_t)ts);
    rmq_wbe32(batch + RMQ_RB_CRC_OFFSET, rmq_crc32c(0, batch + RMQ_RB_ATTR_OFFSET, size - RMQ_RB_ATTR_OFFSET));
    return 0;
}

rmq_err_t rmq_rb_set_log_append_time(uint8_t *batch, size_t size, int64_t ts) {
    return rb_rewrite_max_timestamp(batch, size, ts, RMQ_RB_ATTR_LOG_APPEND_TIME);
}

rmq_err_t rmq_rb_set_max_timestamp(uint8_t *batch, size_t size, int64_t ts) {
    return rb_rewrite_max_timestamp(batch, size, ts, 0);
}
