/* compression.h - the Kafka record compression codecs (gzip, snappy, lz4,
 * zstd), both directions, with a hard bound on every decompression.
 *
 * Owns: turning the compressed "records" section of a RecordBatch v2 into
 * plain bytes and back. record_batch.c calls rmq_decompress_any() when it
 * iterates or validates a compressed batch, and rmq_compress_any() when the
 * builder finishes a compressed batch. Nothing here knows about batches.
 *
 * Codec ids are Kafka's attributes bits 0..2 (RMQ_CODEC_*).
 *
 * Buffers: every function APPENDS its output to a caller-owned rmq_buf_t
 * (the caller frees it with rmq_buf_free); the input is borrowed and only
 * read during the call. On error, out->len is restored to its value on
 * entry (capacity may have grown).
 *
 * Bounds: every rmq_decompress_* takes max_out, the most bytes it may append.
 * Output space is grown in steps and never beyond max_out (plus a 1-byte
 * probe on the stack), so a compression bomb returns RMQ_ERR_TOO_LARGE as
 * soon as the decoder has produced max_out bytes and still has more, without
 * allocating past the bound. Sizes declared inside the data (snappy's
 * preamble, zstd's frame content size, lz4's content size) are never
 * trusted for allocation; a declared size above max_out fails at once.
 *
 * Errors: RMQ_ERR_TOO_LARGE (output would exceed max_out), RMQ_ERR_COMPRESSION
 * (corrupt, truncated or trailing garbage), RMQ_ERR_UNSUPPORTED (codec id not
 * 0..4), RMQ_ERR_NOMEM. */
#ifndef RMQ_PROTOCOL_COMPRESSION_H
#define RMQ_PROTOCOL_COMPRESSION_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/err.h"

typedef enum rmq_codec {
    RMQ_CODEC_NONE = 0,
    RMQ_CODEC_GZIP = 1,
    RMQ_CODEC_SNAPPY = 2,
    RMQ_CODEC_LZ4 = 3,
    RMQ_CODEC_ZSTD = 4,
} rmq_codec_t;

#define RMQ_CODEC_MAX 4
/* Pass as `level` to get the codec's default level. */
#define RMQ_COMPRESS_LEVEL_DEFAULT (-1000)
/* Block size of the xerial snappy framing we write (Java client: 32 KiB). */
#define RMQ_SNAPPY_XERIAL_BLOCK (32 * 1024)

/* "none", "gzip", "snappy", "lz4", "zstd" or "unknown" (static storage). */
const char *rmq_compress_codec_name(int codec);
/* Parse the names above (case-sensitive). Returns the id or -1. */
int rmq_compress_codec_parse(const char *name);

/* Compress in[0..len) with codec (NONE copies) and append to out.
 * level: codec level or RMQ_COMPRESS_LEVEL_DEFAULT (ignored by snappy). */
rmq_err_t rmq_compress_any(int codec, int level, const void *in, size_t len, rmq_buf_t *out);
/* Decompress in[0..len) with codec (NONE copies) appending at most max_out
 * bytes to out. */
rmq_err_t rmq_decompress_any(int codec, const void *in, size_t len, size_t max_out, rmq_buf_t *out);

/* gzip: zlib deflate with the gzip wrapper / inflate with windowBits 15+32
 * (gzip or zlib header auto-detected; concatenated gzip members accepted). */
rmq_err_t rmq_compress_gzip(int level, const void *in, size_t len, rmq_buf_t *out);
rmq_err_t rmq_decompress_gzip(const void *in, size_t len, size_t max_out, rmq_buf_t *out);

/* snappy: compress writes Kafka's xerial framing (what the Java client
 * writes); _raw writes one plain snappy block (what librdkafka writes).
 * Decompress accepts both: xerial if the input starts with the 8-byte xerial
 * magic, else one raw snappy block. */
rmq_err_t rmq_compress_snappy(const void *in, size_t len, rmq_buf_t *out);
rmq_err_t rmq_compress_snappy_raw(const void *in, size_t len, rmq_buf_t *out);
rmq_err_t rmq_decompress_snappy(const void *in, size_t len, size_t max_out, rmq_buf_t *out);

/* lz4: the standard LZ4 frame format (lz4frame.h), 64 KiB independent blocks,
 * correct header checksum (Kafka magic v2). Decompress accepts any valid
 * frame, and concatenated frames. */
rmq_err_t rmq_compress_lz4(int level, const void *in, size_t len, rmq_buf_t *out);
rmq_err_t rmq_decompress_lz4(const void *in, size_t len, size_t max_out, rmq_buf_t *out);

/* zstd: one frame; decompress streams (frame content size ignored), accepts
 * concatenated frames, and caps the decoder window at
 * clamp(2^ceil(log2(max_out)), 8 MiB, 128 MiB) so its own memory is bounded. */
rmq_err_t rmq_compress_zstd(int level, const void *in, size_t len, rmq_buf_t *out);
rmq_err_t rmq_decompress_zstd(const void *in, size_t len, size_t max_out, rmq_buf_t *out);

#endif
