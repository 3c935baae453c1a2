/* tier_format.c - object layout planning, header/footer/trailer codecs and
 * the key layout of tiered storage (see tier_format.h). No I/O. */
#include "storage/tier_format.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/crc32c.h"
#include "storage/wal_format.h"

typedef struct ent_ref {
    uint64_t stream_id;
    size_t idx; /* into the entry list (file order) */
} ent_ref_t;

static int ent_ref_cmp(const void *a, const void *b) {
    const ent_ref_t *x = a, *y = b;
    if (x->stream_id != y->stream_id) return x->stream_id < y->stream_id ? -1 : 1;
    return x->idx < y->idx ? -1 : x->idx > y->idx; /* file order = offset order within a stream */
}

void rmq_tier_plan_free(rmq_tier_plan_t *p) {
    if (!p) return;
    free(p->ranges);
    free(p->sparse);
    free(p->items);
    memset(p, 0, sizeof *p);
}

rmq_err_t rmq_tier_plan_build(const rmq_store_seg_entry_t *ents, size_t n, rmq_tier_plan_t *out) {
    memset(out, 0, sizeof *out);
    size_t nd = 0;
    for (size_t i = 0; i < n; i++) nd += ents[i].type == RMQ_WAL_DATA && ents[i].record_count > 0;
    ent_ref_t *refs = nd ? malloc(nd * sizeof *refs) : NULL;
    out->items = nd ? malloc(nd * sizeof *out->items) : NULL;
    /* worst case: every entry its own range and a sparse point */
    out->ranges = nd ? malloc(nd * sizeof *out->ranges) : NULL;
    out->sparse = nd ? malloc(nd * sizeof *out->sparse) : NULL;
    if (nd && (!refs || !out->items || !out->ranges || !out->sparse)) {
        free(refs);
        rmq_tier_plan_free(out);
        return RMQ_ERR_NOMEM;
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (ents[i].type == RMQ_WAL_DATA && ents[i].record_count > 0) refs[k++] = (ent_ref_t){ents[i].stream_id, i};
    if (nd) qsort(refs, nd, sizeof *refs, ent_ref_cmp); /* refs is NULL when nd == 0 */
    uint64_t pos = RMQ_TIER_HDR;
    uint64_t last_point = 0;
    rmq_tier_range_t *cur = NULL;
    bool have_ts = false;
    for (size_t j = 0; j < nd; j++) {
        const rmq_store_seg_entry_t *e = &ents[refs[j].idx];
        uint32_t len = RMQ_WAL_HDR + e->len;
        if (!cur || cur->stream_id != e->stream_id || cur->end_offset != e->base_offset) {
            cur = &out->ranges[out->n_ranges++];
            *cur = (rmq_tier_range_t){.stream_id = e->stream_id,
                                      .base_offset = e->base_offset,
                                      .end_offset = e->base_offset,
                                      .byte_offset = pos,
                                      .max_ts = e->max_ts,
                                      .first_sparse = (uint32_t)out->n_sparse};
            out->sparse[out->n_sparse++] = (rmq_tier_sparse_t){e->base_offset, pos};
            cur->n_sparse = 1;
            last_point = pos;
        } else if (pos - last_point >= RMQ_TIER_SPARSE_EVERY) {
            out->sparse[out->n_sparse++] = (rmq_tier_sparse_t){e->base_offset, pos};
            cur->n_sparse++;
            last_point = pos;
        }
        cur->end_offset = e->base_offset + e->record_count;
        cur->byte_length += len;
        if (e->max_ts > cur->max_ts) cur->max_ts = e->max_ts;
        if (!have_ts || e->max_ts < out->first_ts) out->first_ts = e->max_ts;
        have_ts = true;
        out->items[out->n_items++] = (rmq_tier_item_t){e->file_offset, pos, len, e->stream_id, e->base_offset};
        pos += len;
    }
    free(refs);
    out->footer_off = pos;
    out->footer_len = (uint64_t)out->n_ranges * RMQ_TIER_RANGE_REC + (uint64_t)out->n_sparse * RMQ_TIER_SPARSE_REC;
    out->total_size = pos + out->footer_len + RMQ_TIER_TRAILER;
    return RMQ_NONE;
}

void rmq_tier_write_meta(const rmq_tier_plan_t *p, uint64_t segment_id, int64_t created_ms, uint8_t *obj) {
    rmq_wbe32(obj, RMQ_TIER_OBJ_MAGIC);
    rmq_wbe16(obj + 4, RMQ_TIER_OBJ_VERSION);
    rmq_wbe16(obj + 6, 0);
    rmq_wbe64(obj + 8, segment_id);
    rmq_wbe64(obj + 16, (uint64_t)created_ms);
    rmq_wbe32(obj + 24, (uint32_t)p->n_ranges);
    rmq_wbe32(obj + 28, 0);
    uint8_t *f = obj + p->footer_off;
    for (size_t i = 0; i < p->n_ranges; i++, f += RMQ_TIER_RANGE_REC) {
        const rmq_tier_range_t *r = &p->ranges[i];
        rmq_wbe64(f, r->stream_id);
        rmq_wbe64(f + 8, (uint64_t)r->base_offset);
        rmq_wbe64(f + 16, (uint64_t)r->end_offset);
        rmq_wbe64(f + 24, r->byte_offset);
        rmq_wbe64(f + 32, r->byte_length);
        rmq_wbe64(f + 40, (uint64_t)r->max_ts);
        rmq_wbe32(f + 48, r->first_sparse);
        rmq_wbe32(f + 52, r->n_sparse);
    }
    for (size_t i = 0; i < p->n_sparse; i++, f += RMQ_TIER_SPARSE_REC) {
        rmq_wbe64(f, (uint64_t)p->sparse[i].offset);
        rmq_wbe64(f + 8, p->sparse[i].byte_off);
    }
    uint8_t *t = obj + p->footer_off + p->footer_len;
    rmq_wbe64(t, p->footer_off);
    rmq_wbe64(t + 8, p->footer_len);
    rmq_wbe32(t + 16, rmq_crc32c(0, obj + p->footer_off, (size_t)p->footer_len));
    rmq_wbe32(t + 20, 0);
    rmq_wbe32(t + 24, RMQ_TIER_FTR_MAGIC);
    rmq_wbe16(t + 28, RMQ_TIER_OBJ_VERSION);
    rmq_wbe16(t + 30, 0);
}

rmq_err_t rmq_tier_header_decode(const uint8_t *p, uint64_t *segment_id, int64_t *created_ms, uint32_t *n_ranges) {
    if (rmq_be32(p) != RMQ_TIER_OBJ_MAGIC) return RMQ_ERR_BAD_MAGIC;
    if (rmq_be16(p + 4) != RMQ_TIER_OBJ_VERSION) return RMQ_ERR_UNSUPPORTED;
    if (rmq_be16(p + 6) != 0 || rmq_be32(p + 28) != 0) return RMQ_ERR_CORRUPT;
    if (segment_id) *segment_id = rmq_be64(p + 8);
    if (created_ms) *created_ms = (int64_t)rmq_be64(p + 16);
    if (n_ranges) *n_ranges = rmq_be32(p + 24);
    return RMQ_NONE;
}

rmq_err_t rmq_tier_trailer_decode(const uint8_t *p, uint64_t obj_size, uint64_t *footer_off, uint64_t *footer_len,
                                  uint32_t *footer_crc) {
    if (rmq_be32(p + 24) != RMQ_TIER_FTR_MAGIC) return RMQ_ERR_BAD_MAGIC;
    if (rmq_be16(p + 28) != RMQ_TIER_OBJ_VERSION) return RMQ_ERR_UNSUPPORTED;
    uint64_t off = rmq_be64(p), len = rmq_be64(p + 8);
    if (obj_size < RMQ_TIER_HDR + RMQ_TIER_TRAILER || off < RMQ_TIER_HDR ||
        off > obj_size - RMQ_TIER_TRAILER || len != obj_size - RMQ_TIER_TRAILER - off || rmq_be32(p + 20) != 0)
        return RMQ_ERR_CORRUPT;
    *footer_off = off;
    *footer_len = len;
    *footer_crc = rmq_be32(p + 16);
    return RMQ_NONE;
}

void rmq_tier_footer_free(rmq_tier_footer_t *f) {
    if (!f) return;
    free(f->ranges);
    free(f->sparse);
    memset(f, 0, sizeof *f);
}

rmq_err_t rmq_tier_footer_decode(const uint8_t *p, size_t len, uint32_t crc, uint64_t footer_off,
                                 rmq_tier_footer_t *out) {
    memset(out, 0, sizeof *out);
    if (rmq_crc32c(0, p, len) != crc) return RMQ_ERR_BAD_CRC;
    /* the record counts follow from the sparse totals: ranges first, then
     * sparse points; walk ranges until their sparse counts account for the rest */
    size_t nr = 0, ns = 0;
    size_t off = 0;
    while (off + RMQ_TIER_RANGE_REC <= len) {
        uint32_t first = rmq_be32(p + off + 48), cnt = rmq_be32(p + off + 52);
        if (first != ns || cnt == 0) return RMQ_ERR_CORRUPT;
        ns += cnt;
        nr++;
        off += RMQ_TIER_RANGE_REC;
        if (ns > (len - off) / RMQ_TIER_SPARSE_REC) return RMQ_ERR_CORRUPT;
        if (len - off == ns * RMQ_TIER_SPARSE_REC) break;
    }
    if (off + ns * RMQ_TIER_SPARSE_REC != len) return RMQ_ERR_CORRUPT;
    out->ranges = nr ? calloc(nr, sizeof *out->ranges) : NULL;
    out->sparse = ns ? calloc(ns, sizeof *out->sparse) : NULL;
    if ((nr && !out->ranges) || (ns && !out->sparse)) {
        rmq_tier_footer_free(out);
        return RMQ_ERR_NOMEM;
    }
    out->n_ranges = nr;
    out->n_sparse = ns;
    const uint8_t *sp = p + nr * RMQ_TIER_RANGE_REC;
    for (size_t i = 0; i < ns; i++) {
        out->sparse[i].offset = (int64_t)rmq_be64(sp + i * RMQ_TIER_SPARSE_REC);
        out->sparse[i].byte_off = rmq_be64(sp + i * RMQ_TIER_SPARSE_REC + 8);
    }
    for (size_t i = 0; i < nr; i++) {
        const uint8_t *f = p + i * RMQ_TIER_RANGE_REC;
        rmq_tier_range_t *r = &out->ranges[i];
        r->stream_id = rmq_be64(f);
        r->base_offset = (int64_t)rmq_be64(f + 8);
        r->end_offset = (int64_t)rmq_be64(f + 16);
        r->byte_offset = rmq_be64(f + 24);
        r->byte_length = rmq_be64(f + 32);
        r->max_ts = (int64_t)rmq_be64(f + 40);
        r->first_sparse = rmq_be32(f + 48);
        r->n_sparse = rmq_be32(f + 52);
        bool ok = r->base_offset >= 0 && r->end_offset > r->base_offset && r->byte_offset >= RMQ_TIER_HDR &&
                  r->byte_offset <= footer_off && r->byte_length <= footer_off - r->byte_offset &&
                  r->byte_length >= RMQ_WAL_HDR;
        if (ok && i) {
            const rmq_tier_range_t *q = &out->ranges[i - 1];
            ok = q->stream_id < r->stream_id || (q->stream_id == r->stream_id && q->end_offset <= r->base_offset);
        }
        for (uint32_t k = 0; ok && k < r->n_sparse; k++) {
            const rmq_tier_sparse_t *s = &out->sparse[r->first_sparse + k];
            ok = s->offset >= r->base_offset && s->offset < r->end_offset && s->byte_off >= r->byte_offset &&
                 s->byte_off < r->byte_offset + r->byte_length;
            if (ok && k) ok = s->offset > out->sparse[r->first_sparse + k - 1].offset;
        }
        if (!ok) {
            rmq_tier_footer_free(out);
            return RMQ_ERR_CORRUPT;
        }
    }
    return RMQ_NONE;
}

ptrdiff_t rmq_tier_footer_find(const rmq_tier_footer_t *f, uint64_t stream_id, int64_t offset) {
    size_t lo = 0, hi = f->n_ranges;
    while (lo < hi) { /* first range with (stream, end) > (stream_id, offset) */
        size_t mid = lo + (hi - lo) / 2;
        const rmq_tier_range_t *r = &f->ranges[mid];
        if (r->stream_id < stream_id || (r->stream_id == stream_id && r->end_offset <= offset))
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < f->n_ranges && f->ranges[lo].stream_id == stream_id && f->ranges[lo].base_offset <= offset)
        return (ptrdiff_t)lo;
    return -1;
}

uint64_t rmq_tier_footer_seek(const rmq_tier_footer_t *f, const rmq_tier_range_t *r, int64_t offset) {
    uint64_t pos = r->byte_offset;
    for (uint32_t k = 0; k < r->n_sparse; k++) {
        const rmq_tier_sparse_t *s = &f->sparse[r->first_sparse + k];
        if (s->offset > offset) break;
        pos = s->byte_off;
    }
    return pos;
}

rmq_err_t rmq_tier_object_key(char *out, size_t cap, const char *prefix, uint64_t segment_id, int64_t first_ts) {
    int n = snprintf(out, cap, "%s/segments/%020" PRIu64 "-%" PRId64 ".obj", prefix, segment_id, first_ts);
    return n < 0 || (size_t)n >= cap ? RMQ_ERR_TOO_LARGE : RMQ_NONE;
}

rmq_err_t rmq_tier_key_parse(const char *key, const char *prefix, uint64_t *segment_id) {
    size_t pl = strlen(prefix);
    if (strncmp(key, prefix, pl) || strncmp(key + pl, "/segments/", 10)) return RMQ_ERR_PARSE;
    const char *p = key + pl + 10;
    uint64_t id = 0;
    for (int i = 0; i < 20; i++) {
        if (p[i] < '0' || p[i] > '9') return RMQ_ERR_PARSE;
        if (id > (UINT64_MAX - (uint64_t)(p[i] - '0')) / 10) return RMQ_ERR_PARSE;
        id = id * 10 + (uint64_t)(p[i] - '0');
    }
    p += 20;
    if (*p++ != '-') return RMQ_ERR_PARSE;
    if (*p == '-') p++;
    if (*p < '0' || *p > '9') return RMQ_ERR_PARSE;
    while (*p >= '0' && *p <= '9') p++;
    if (strcmp(p, ".obj")) return RMQ_ERR_PARSE;
    *segment_id = id;
    return RMQ_NONE;
}
