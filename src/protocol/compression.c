/* compression.c - Kafka record codecs over zlib, snappy-c, lz4frame and
 * zstd, with bounded decompression. See compression.h for the contract
 * (append to a caller-owned rmq_buf_t, restore its length on error, never
 * grow the output past max_out).
 *
 * How the bound is kept: output room is grown in steps (the larger of 64 KiB
 * and what was produced so far, capped at max_out - produced) by an exact
 * realloc of the rmq_buf_t's storage, not by rmq_buf_reserve's doubling, so
 * the allocation never exceeds the bytes already in the buffer plus max_out.
 * Once max_out bytes are out and the stream is not finished, the decoder is
 * asked for one more byte into a stack probe: if it yields one, the input
 * is a bomb (RMQ_ERR_TOO_LARGE). */
#include "protocol/compression.h"

#include <limits.h>
#include <lz4frame.h>
#include <snappy-c.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>
#include <zstd_errors.h>

#define STEP_MIN ((size_t)64 * 1024)
#define STEP_MAX ((size_t)1 << 30) /* zlib's avail_out is a uInt */

static const uint8_t xerial_magic[8] = {0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0x00};

const char *rmq_compress_codec_name(int codec) {
    switch (codec) {
    case RMQ_CODEC_NONE: return "none";
    case RMQ_CODEC_GZIP: return "gzip";
    case RMQ_CODEC_SNAPPY: return "snappy";
    case RMQ_CODEC_LZ4: return "lz4";
    case RMQ_CODEC_ZSTD: return "zstd";
    default: return "unknown";
    }
}

int rmq_compress_codec_parse(const char *name) {
    for (int c = 0; c <= RMQ_CODEC_MAX; c++)
        if (name && strcmp(name, rmq_compress_codec_name(c)) == 0) return c;
    return -1;
}

/* Ensure exactly `want` bytes of spare room after b->len (exact realloc, no
 * doubling, so the caller controls the bound). b stays owned by the caller. */
static rmq_err_t room(rmq_buf_t *b, size_t want) {
    if (b->oom) return RMQ_ERR_NOMEM;
    if (b->cap - b->len >= want) return 0;
    if (want > SIZE_MAX - b->len) return RMQ_ERR_NOMEM;
    size_t ncap = b->len + want;
    uint8_t *d = realloc(b->data, ncap ? ncap : 1);
    if (!d) {
        b->oom = true;
        return RMQ_ERR_NOMEM;
    }
    b->data = d;
    b->cap = ncap;
    return 0;
}

/* Next output window for a bounded decoder that has produced `produced` of
 * at most `max_out` bytes (produced < max_out). Reuses spare capacity. */
static rmq_err_t next_window(rmq_buf_t *b, size_t produced, size_t max_out, size_t hint, uint8_t **dst,
                             size_t *dstlen) {
    size_t left = max_out - produced;
    size_t spare = b->cap - b->len;
    size_t step;
    if (spare > 0) {
        step = spare;
    } else {
        step = produced > STEP_MIN ? produced : STEP_MIN;
        if (hint > step) step = hint;
    }
    if (step > left) step = left;
    if (step > STEP_MAX) step = STEP_MAX;
    rmq_err_t e = room(b, step);
    if (e) return e;
    *dst = b->data + b->len;
    *dstlen = step;
    return 0;
}

/* Output-size hint from the input size: compressed data usually expands
 * 2-10x; start at 4x (bounded by max_out in next_window). */
static size_t size_hint(size_t len) { return len > SIZE_MAX / 4 ? SIZE_MAX : len * 4; }

/* ------------------------------------------------------------------ gzip */

rmq_err_t rmq_compress_gzip(int level, const void *in, size_t len, rmq_buf_t *out) {
    size_t start = out->len;
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    if (level == RMQ_COMPRESS_LEVEL_DEFAULT) level = Z_DEFAULT_COMPRESSION;
    if (level < Z_DEFAULT_COMPRESSION || level > 9) return RMQ_ERR_INVALID_ARG;
    int rc = deflateInit2(&zs, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
    if (rc == Z_MEM_ERROR) return RMQ_ERR_NOMEM;
    if (rc != Z_OK) return RMQ_ERR_COMPRESSION;
    const uint8_t *src = in;
    size_t left = len;
    rmq_err_t err = 0;
    for (;;) {
        uInt chunk = left > STEP_MAX ? (uInt)STEP_MAX : (uInt)left;
        zs.next_in = (Bytef *)(uintptr_t)src;
        zs.avail_in = chunk;
        int flush = chunk == left ? Z_FINISH : Z_NO_FLUSH;
        do {
            size_t want = deflateBound(&zs, zs.avail_in) + 64;
            if ((err = room(out, want))) goto done;
            zs.next_out = out->data + out->len;
            zs.avail_out = (uInt)(want > STEP_MAX ? STEP_MAX : want);
            uInt before = zs.avail_out;
            rc = deflate(&zs, flush);
            out->len += before - zs.avail_out;
            if (rc == Z_STREAM_ERROR) {
                err = RMQ_ERR_COMPRESSION;
                goto done;
            }
        } while (flush == Z_FINISH ? rc != Z_STREAM_END : zs.avail_in > 0);
        src += chunk;
        left -= chunk;
        if (flush == Z_FINISH) break;
    }
done:
    deflateEnd(&zs);
    if (err) out->len = start;
    return err;
}

rmq_err_t rmq_decompress_gzip(const void *in, size_t len, size_t max_out, rmq_buf_t *out) {
    if (len > UINT_MAX) return RMQ_ERR_TOO_LARGE;
    size_t start = out->len, produced = 0;
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    int rc = inflateInit2(&zs, 15 + 32);
    if (rc == Z_MEM_ERROR) return RMQ_ERR_NOMEM;
    if (rc != Z_OK) return RMQ_ERR_COMPRESSION;
    zs.next_in = (Bytef *)(uintptr_t)in;
    zs.avail_in = (uInt)len;
    rmq_err_t err = 0;
    for (;;) {
        uint8_t probe;
        bool probing = produced == max_out;
        uint8_t *dst;
        size_t dstlen;
        if (probing) {
            dst = &probe;
            dstlen = 1;
        } else if ((err = next_window(out, produced, max_out, size_hint(len), &dst, &dstlen))) {
            goto done;
        }
        uInt in_before = zs.avail_in;
        zs.next_out = dst;
        zs.avail_out = (uInt)dstlen;
        rc = inflate(&zs, Z_NO_FLUSH);
        size_t got = dstlen - zs.avail_out;
        if (probing && got) {
            err = RMQ_ERR_TOO_LARGE;
            goto done;
        }
        out->len += got;
        produced += got;
        if (rc == Z_STREAM_END) {
            if (zs.avail_in == 0) break;
            /* Another gzip member follows (GZIPInputStream accepts these). */
            if (zs.avail_in >= 2 && zs.next_in[0] == 0x1f && zs.next_in[1] == 0x8b) {
                if (inflateReset(&zs) != Z_OK) {
                    err = RMQ_ERR_COMPRESSION;
                    goto done;
                }
                continue;
            }
            err = RMQ_ERR_COMPRESSION; /* trailing garbage */
            goto done;
        }
        if (rc == Z_MEM_ERROR) {
            err = RMQ_ERR_NOMEM;
            goto done;
        }
        if (rc != Z_OK && rc != Z_BUF_ERROR) {
            err = RMQ_ERR_COMPRESSION;
            goto done;
        }
        /* Input exhausted with output room left: truncated stream. */
        if (zs.avail_in == 0 && zs.avail_out > 0) {
            err = RMQ_ERR_COMPRESSION;
            goto done;
        }
        if (got == 0 && zs.avail_in == in_before) {
            err = RMQ_ERR_COMPRESSION; /* no progress */
            goto done;
        }
    }
done:
    inflateEnd(&zs);
    if (err) out->len = start;
    return err;
}

/* ---------------------------------------------------------------- snappy */

rmq_err_t rmq_compress_snappy_raw(const void *in, size_t len, rmq_buf_t *out) {
    size_t bound = snappy_max_compressed_length(len);
    rmq_err_t e = room(out, bound);
    if (e) return e;
    size_t olen = bound;
    if (snappy_compress((const char *)in, len, (char *)out->data + out->len, &olen) != SNAPPY_OK)
        return RMQ_ERR_COMPRESSION;
    out->len += olen;
    return 0;
}

rmq_err_t rmq_compress_snappy(const void *in, size_t len, rmq_buf_t *out) {
    size_t start = out->len;
    rmq_buf_put(out, xerial_magic, sizeof xerial_magic);
    rmq_buf_put_i32(out, 1); /* version */
    rmq_buf_put_i32(out, 1); /* minimum compatible version */
    if (out->oom) {
        out->len = start;
        return RMQ_ERR_NOMEM;
    }
    const uint8_t *src = in;
    size_t left = len;
    while (left > 0) {
        size_t blk = left < RMQ_SNAPPY_XERIAL_BLOCK ? left : RMQ_SNAPPY_XERIAL_BLOCK;
        size_t bound = snappy_max_compressed_length(blk);
        rmq_err_t e = room(out, 4 + bound);
        if (e) {
            out->len = start;
            return e;
        }
        size_t olen = bound;
        if (snappy_compress((const char *)src, blk, (char *)out->data + out->len + 4, &olen) != SNAPPY_OK) {
            out->len = start;
            return RMQ_ERR_COMPRESSION;
        }
        rmq_wbe32(out->data + out->len, (uint32_t)olen);
        out->len += 4 + olen;
        src += blk;
        left -= blk;
    }
    return 0;
}

/* One raw snappy block, its declared size checked against `max_out` before
 * any allocation. Appends; on error out->len is unchanged. cap_limit: the
 * capacity out may be grown to ahead of need (xerial: start + bound, so
 * growth doubles instead of one realloc per 32 KiB block). */
static rmq_err_t snappy_block(const uint8_t *in, size_t len, size_t max_out, size_t cap_limit, rmq_buf_t *out) {
    size_t ulen;
    if (len == 0 || snappy_uncompressed_length((const char *)in, len, &ulen) != SNAPPY_OK)
        return RMQ_ERR_COMPRESSION;
    if (ulen > max_out) return RMQ_ERR_TOO_LARGE;
    /* A snappy element emits at most 64 bytes per byte of input (a 2-byte
     * copy tag of length 64 is ~32x; be generous): a declared size far above
     * that cannot be valid, refuse it before allocating. */
    if (ulen / 64 > len) return RMQ_ERR_COMPRESSION;
    size_t want = ulen;
    if (out->cap - out->len < ulen) {
        size_t dbl = out->cap > (SIZE_MAX / 2) ? SIZE_MAX : out->cap * 2;
        if (dbl > cap_limit) dbl = cap_limit;
        if (dbl > out->len + want) want = dbl - out->len;
    }
    rmq_err_t e = room(out, want);
    if (e) return e;
    char dummy;
    char *dst = ulen ? (char *)out->data + out->len : &dummy;
    size_t got = ulen;
    if (snappy_uncompress((const char *)in, len, dst, &got) != SNAPPY_OK || got != ulen)
        return RMQ_ERR_COMPRESSION;
    out->len += ulen;
    return 0;
}

rmq_err_t rmq_decompress_snappy(const void *in, size_t len, size_t max_out, rmq_buf_t *out) {
    const uint8_t *p = in;
    if (len < sizeof xerial_magic || memcmp(p, xerial_magic, sizeof xerial_magic) != 0)
        return snappy_block(p, len, max_out, 0, out);
    /* xerial: magic, int32 version, int32 compat, then [int32 len][block]... */
    size_t start = out->len, off = 16, produced = 0;
    if (len < 16) return RMQ_ERR_COMPRESSION;
    rmq_err_t err = 0;
    while (off < len) {
        if (len - off < 4) {
            err = RMQ_ERR_COMPRESSION;
            break;
        }
        uint32_t blen = rmq_be32(p + off);
        off += 4;
        if (blen > len - off) {
            err = RMQ_ERR_COMPRESSION;
            break;
        }
        size_t before = out->len;
        if ((err = snappy_block(p + off, blen, max_out - produced, max_out > SIZE_MAX - start ? SIZE_MAX : start + max_out, out))) break;
        produced += out->len - before;
        off += blen;
    }
    if (err) out->len = start;
    return err;
}

/* ------------------------------------------------------------------- lz4 */

rmq_err_t rmq_compress_lz4(int level, const void *in, size_t len, rmq_buf_t *out) {
    LZ4F_preferences_t prefs;
    memset(&prefs, 0, sizeof prefs);
    prefs.frameInfo.blockSizeID = LZ4F_max64KB;
    prefs.frameInfo.blockMode = LZ4F_blockIndependent;
    prefs.frameInfo.contentChecksumFlag = LZ4F_noContentChecksum;
    prefs.frameInfo.frameType = LZ4F_frame;
    prefs.compressionLevel = level == RMQ_COMPRESS_LEVEL_DEFAULT ? 0 : level;
    size_t bound = LZ4F_compressFrameBound(len, &prefs);
    rmq_err_t e = room(out, bound);
    if (e) return e;
    size_t r = LZ4F_compressFrame(out->data + out->len, bound, in, len, &prefs);
    if (LZ4F_isError(r)) return RMQ_ERR_COMPRESSION;
    out->len += r;
    return 0;
}

rmq_err_t rmq_decompress_lz4(const void *in, size_t len, size_t max_out, rmq_buf_t *out) {
    LZ4F_dctx *d = NULL;
    if (LZ4F_isError(LZ4F_createDecompressionContext(&d, LZ4F_VERSION))) return RMQ_ERR_NOMEM;
    size_t start = out->len, produced = 0;
    const uint8_t *src = in;
    size_t left = len;
    rmq_err_t err = 0;
    for (;;) {
        uint8_t probe;
        bool probing = produced == max_out;
        uint8_t *dst;
        size_t dstlen;
        if (probing) {
            dst = &probe;
            dstlen = 1;
        } else if ((err = next_window(out, produced, max_out, size_hint(len), &dst, &dstlen))) {
            break;
        }
        size_t srclen = left;
        size_t r = LZ4F_decompress(d, dst, &dstlen, src, &srclen, NULL);
        if (LZ4F_isError(r)) {
            err = RMQ_ERR_COMPRESSION;
            break;
        }
        if (probing && dstlen) {
            err = RMQ_ERR_TOO_LARGE;
            break;
        }
        out->len += dstlen;
        produced += dstlen;
        src += srclen;
        left -= srclen;
        if (r == 0 && left == 0) break; /* frame complete, all input used */
        if (dstlen == 0 && srclen == 0) {
            err = RMQ_ERR_COMPRESSION; /* truncated frame */
            break;
        }
        /* r == 0 with input left: a concatenated frame follows; the context
         * is ready for it. */
    }
    LZ4F_freeDecompressionContext(d);
    if (err) out->len = start;
    return err;
}

/* ------------------------------------------------------------------ zstd */

rmq_err_t rmq_compress_zstd(int level, const void *in, size_t len, rmq_buf_t *out) {
    size_t bound = ZSTD_compressBound(len);
    if (ZSTD_isError(bound)) return RMQ_ERR_TOO_LARGE;
    rmq_err_t e = room(out, bound);
    if (e) return e;
    size_t r = ZSTD_compress(out->data + out->len, bound, in, len,
                             level == RMQ_COMPRESS_LEVEL_DEFAULT ? ZSTD_CLEVEL_DEFAULT : level);
    if (ZSTD_isError(r)) return RMQ_ERR_COMPRESSION;
    out->len += r;
    return 0;
}

static int zstd_window_log(size_t max_out) {
    int lg = 23; /* 8 MiB: what common streaming producers declare */
    while (lg < 27 && ((size_t)1 << lg) < max_out) lg++;
    return lg;
}

static rmq_err_t zstd_err(size_t r) {
    switch (ZSTD_getErrorCode(r)) {
    case ZSTD_error_frameParameter_windowTooLarge: return RMQ_ERR_TOO_LARGE;
    case ZSTD_error_memory_allocation: return RMQ_ERR_NOMEM;
    default: return RMQ_ERR_COMPRESSION;
    }
}

rmq_err_t rmq_decompress_zstd(const void *in, size_t len, size_t max_out, rmq_buf_t *out) {
    ZSTD_DCtx *d = ZSTD_createDCtx();
    if (!d) return RMQ_ERR_NOMEM;
    if (ZSTD_isError(ZSTD_DCtx_setParameter(d, ZSTD_d_windowLogMax, zstd_window_log(max_out)))) {
        ZSTD_freeDCtx(d);
        return RMQ_ERR_COMPRESSION;
    }
    size_t start = out->len, produced = 0;
    ZSTD_inBuffer ib = {in, len, 0};
    rmq_err_t err = 0;
    if (len == 0) err = RMQ_ERR_COMPRESSION;
    while (!err) {
        uint8_t probe;
        bool probing = produced == max_out;
        uint8_t *dst;
        size_t dstlen;
        if (probing) {
            dst = &probe;
            dstlen = 1;
        } else if ((err = next_window(out, produced, max_out, size_hint(len), &dst, &dstlen))) {
            break;
        }
        ZSTD_outBuffer ob = {dst, dstlen, 0};
        size_t in_before = ib.pos;
        size_t r = ZSTD_decompressStream(d, &ob, &ib);
        if (ZSTD_isError(r)) {
            err = zstd_err(r);
            break;
        }
        if (probing && ob.pos) {
            err = RMQ_ERR_TOO_LARGE;
            break;
        }
        out->len += ob.pos;
        produced += ob.pos;
        if (r == 0 && ib.pos == ib.size) break; /* last frame complete and flushed */
        if (ib.pos == ib.size && ob.pos < ob.size) {
            err = RMQ_ERR_COMPRESSION; /* truncated: decoder wants more input */
            break;
        }
        if (ob.pos == 0 && ib.pos == in_before) {
            err = RMQ_ERR_COMPRESSION; /* no progress */
            break;
        }
    }
    ZSTD_freeDCtx(d);
    if (err) out->len = start;
    return err;
}

/* ------------------------------------------------------------- dispatch */

rmq_err_t rmq_compress_any(int codec, int level, const void *in, size_t len, rmq_buf_t *out) {
    switch (codec) {
    case RMQ_CODEC_NONE:
        rmq_buf_put(out, in, len);
        return out->oom ? RMQ_ERR_NOMEM : 0;
    case RMQ_CODEC_GZIP: return rmq_compress_gzip(level, in, len, out);
    case RMQ_CODEC_SNAPPY: return rmq_compress_snappy(in, len, out);
    case RMQ_CODEC_LZ4: return rmq_compress_lz4(level, in, len, out);
    case RMQ_CODEC_ZSTD: return rmq_compress_zstd(level, in, len, out);
    default: return RMQ_ERR_UNSUPPORTED;
    }
}

rmq_err_t rmq_decompress_any(int codec, const void *in, size_t len, size_t max_out, rmq_buf_t *out) {
    switch (codec) {
    case RMQ_CODEC_NONE:
        if (len > max_out) return RMQ_ERR_TOO_LARGE;
        rmq_buf_put(out, in, len);
        return out->oom ? RMQ_ERR_NOMEM : 0;
    case RMQ_CODEC_GZIP: return rmq_decompress_gzip(in, len, max_out, out);
    case RMQ_CODEC_SNAPPY: return rmq_decompress_snappy(in, len, max_out, out);
    case RMQ_CODEC_LZ4: return rmq_decompress_lz4(in, len, max_out, out);
    case RMQ_CODEC_ZSTD: return rmq_decompress_zstd(in, len, max_out, out);
    default: return RMQ_ERR_UNSUPPORTED;
    }
}
