/* fuzz_tier_object.c - libFuzzer target for the tiered-storage object
 * format (src/storage/tier_format.c) and the tiered read path's entry walk
 * (rmq_tier_scan_entries, src/storage/tier_read.c): the bytes that come
 * back from S3/GCS or the local object directory.
 *
 * Input: flags u8, then one whole object. Flags bit 0: "seal" the footer
 * first (rewrite the trailer's CRC over the bytes it points at); bit 1:
 * seal every WAL entry found walking the footer's ranges (rewrite each
 * header's CRC over its payload), so the fuzzer gets past the checksums
 * into the footer validation and the entry walk. The target decodes the
 * header, the
 * trailer and (when the trailer points at one) the footer with its sparse
 * index, exactly as the reader does, then for the first ranges of the
 * footer builds the manifest location a broker would pass and scans the
 * range from memory: from its base offset, and from an offset in the middle
 * located through the sparse index (rmq_tier_footer_find/seek). Every
 * accepted result must be self-consistent (footer inside the object, at
 * least one batch, offsets moving forward, output within max_bytes plus
 * one batch). Also parses the input as an object key.
 * Seed corpus: tests/fuzz/corpus/tier_object/ (objects built with
 * rmq_tier_plan_build + rmq_tier_write_meta + rmq_wal_hdr_encode). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/crc32c.h"
#include "common/log.h"
#include "storage/tier_format.h"
#include "storage/tier_read.h"
#include "storage/wal_format.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct mem_obj {
    const uint8_t *p;
    size_t n;
} mem_obj_t;

/* Object bytes from memory (borrowed), bounds-checked like a ranged GET. */
static rmq_err_t mem_fetch(void *ud, uint64_t pos, size_t len, uint8_t *dst) {
    const mem_obj_t *m = ud;
    if (pos > m->n || len > m->n - pos) return RMQ_ERR_IO;
    memcpy(dst, m->p + pos, len);
    return RMQ_NONE;
}

static void scan_one(const rmq_tier_loc_t *loc, int64_t offset, uint64_t start, size_t max_bytes,
                     const mem_obj_t *m) {
    /* the preconditions rmq_tier_read checks before scanning */
    if (offset >= loc->end_offset || loc->byte_length < RMQ_WAL_HDR ||
        loc->byte_offset + loc->byte_length > loc->object_size)
        return;
    rmq_buf_t out;
    rmq_buf_init(&out);
    uint64_t pos = start;
    size_t nb = 0;
    int64_t next = 0;
    rmq_err_t e = rmq_tier_scan_entries(loc, offset, max_bytes, mem_fetch, (void *)m, &pos, &out, &nb, &next);
    if (e == RMQ_NONE) {
        if (nb == 0 || next <= offset || next > loc->end_offset) abort();
        if (pos > loc->byte_offset + loc->byte_length) abort();
        if (out.len < 8 * nb) abort(); /* every batch is at least 8 bytes */
    } else if (e != RMQ_ERR_CORRUPT && e != RMQ_ERR_IO && e != RMQ_ERR_NOMEM) {
        abort();
    }
    rmq_buf_free(&out);
}

/* Rewrite the trailer CRC of obj (when the trailer parses). */
static void seal_footer(uint8_t *obj, size_t size) {
    if (size < RMQ_TIER_HDR + RMQ_TIER_TRAILER) return;
    uint64_t foff, flen;
    uint32_t crc;
    if (rmq_tier_trailer_decode(obj + size - RMQ_TIER_TRAILER, size, &foff, &flen, &crc) != RMQ_NONE) return;
    rmq_wbe32(obj + size - RMQ_TIER_TRAILER + 16, rmq_crc32c(0, obj + foff, (size_t)flen));
}

/* Rewrite the CRC of each WAL entry that parses, walking f's ranges. */
static void seal_entries(uint8_t *obj, size_t size, uint64_t seg, const rmq_tier_footer_t *f) {
    for (size_t i = 0; i < f->n_ranges; i++) {
        uint64_t pos = f->ranges[i].byte_offset, end = pos + f->ranges[i].byte_length;
        while (end - pos >= RMQ_WAL_HDR && end <= size) {
            rmq_wal_hdr_t h;
            if (rmq_wal_hdr_decode(obj + pos, seg, end - pos - RMQ_WAL_HDR, &h) != RMQ_NONE || h.len < 8) break;
            uint8_t *pl = obj + pos + RMQ_WAL_HDR;
            rmq_wal_hdr_encode(obj + pos, &h, pl, rmq_wal_body_crc(pl, h.len));
            pos += RMQ_WAL_HDR + h.len;
        }
    }
}

static void run(const uint8_t *data, size_t size, int flags) {
    /* key parse (keys come back from object listings) */
    {
        char key[320];
        size_t k = size < sizeof key - 1 ? size : sizeof key - 1;
        memcpy(key, data, k);
        key[k] = 0;
        uint64_t sid;
        (void)rmq_tier_key_parse(key, "v1/c1", &sid);
    }
    uint64_t seg = 0;
    int64_t created = 0;
    uint32_t n_ranges = 0;
    if (size >= RMQ_TIER_HDR) (void)rmq_tier_header_decode(data, &seg, &created, &n_ranges);
    if (size < RMQ_TIER_HDR + RMQ_TIER_TRAILER) return;
    uint64_t foff = 0, flen = 0;
    uint32_t crc = 0;
    if (rmq_tier_trailer_decode(data + size - RMQ_TIER_TRAILER, size, &foff, &flen, &crc) != RMQ_NONE) return;
    if (foff < RMQ_TIER_HDR || foff > size - RMQ_TIER_TRAILER || flen > size - RMQ_TIER_TRAILER - foff) abort();
    rmq_tier_footer_t f;
    if (rmq_tier_footer_decode(data + foff, (size_t)flen, crc, foff, &f) != RMQ_NONE) return;
    if (flags & 2) seal_entries((uint8_t *)data, size, seg, &f); /* data is our private copy then */
    mem_obj_t m = {data, size};
    for (size_t i = 0; i < f.n_ranges && i < 8; i++) {
        const rmq_tier_range_t *r = &f.ranges[i];
        if (r->first_sparse > f.n_sparse || r->n_sparse > f.n_sparse - r->first_sparse) abort();
        if (r->byte_offset + r->byte_length > foff || r->end_offset <= r->base_offset) abort();
        if (rmq_tier_footer_find(&f, r->stream_id, r->base_offset) < 0) abort();
        rmq_tier_loc_t loc;
        memset(&loc, 0, sizeof loc);
        strcpy(loc.key, "fuzz");
        loc.object_id = seg;
        loc.object_size = size;
        loc.stream_id = r->stream_id;
        loc.base_offset = r->base_offset;
        loc.end_offset = r->end_offset;
        loc.byte_offset = r->byte_offset;
        loc.byte_length = r->byte_length;
        scan_one(&loc, r->base_offset, r->byte_offset, 1, &m);
        scan_one(&loc, r->base_offset, r->byte_offset, 1 << 20, &m);
        int64_t mid = r->base_offset + (r->end_offset - r->base_offset) / 2;
        ptrdiff_t k = rmq_tier_footer_find(&f, r->stream_id, mid);
        uint64_t at = k >= 0 ? rmq_tier_footer_seek(&f, &f.ranges[k], mid) : r->byte_offset;
        scan_one(&loc, mid, at, 4096, &m);
    }
    rmq_tier_footer_free(&f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static int init;
    if (!init) {
        rmq_log_set_level(RMQ_LOG_OFF);
        init = 1;
    }
    if (size < 1) return 0;
    int flags = data[0];
    data++;
    size--;
    if (!(flags & 3)) {
        run(data, size, 0);
        return 0;
    }
    uint8_t *copy = malloc(size ? size : 1); /* exact size: reads past the object are caught */
    if (!copy) return 0;
    memcpy(copy, data, size);
    if (flags & 1) seal_footer(copy, size);
    run(copy, size, flags);
    free(copy);
    return 0;
}
