/* kafka_codec.h - the generic, descriptor-driven Kafka protocol codec.
 *
 * Owns: the value types every generated message struct is made of (string /
 * bytes views, arrays, UUIDs), the descriptor types the generator
 * (tools/gen_kafka_codec.py -> kafka_msgs.{c,h}) fills, one generic decoder
 * and one generic encoder that walk those descriptors for any version, the
 * request/response headers, and whole-frame helpers for the broker's
 * connection layer. API names and version ranges live in kafka_api.h.
 *
 * Ownership rules (see docs/protocol.md):
 *  - Decoding is zero-copy: every rmq_kstr_t / rmq_kbytes_t in a decoded
 *    object points into the input frame, which the caller must keep alive and
 *    unmodified while the object is used.
 *  - Arrays (and the top-level body from rmq_kafka_decode_request) are
 *    allocated from the caller's arena; they die with rmq_arena_reset/free.
 *    Nothing a decoder returns is freed individually.
 *  - Encoders append to a caller-owned rmq_buf_t and only read the object;
 *    the strings/arrays in it stay owned by whoever built it.
 *
 * Errors: decode failures are RMQ_ERR_TRUNCATED (input ends early, including
 * lengths larger than what remains), RMQ_ERR_BAD_VARINT, RMQ_ERR_BAD_LENGTH
 * (negative length, null in a non-nullable field, tagged field size mismatch,
 * trailing bytes), RMQ_ERR_NOMEM (arena cap reached), RMQ_UNSUPPORTED_VERSION
 * (version outside validVersions), RMQ_ERR_UNSUPPORTED (unknown API key).
 * The _ex variants also report API key, version, field path and byte offset. */
#ifndef RMQ_PROTOCOL_KAFKA_CODEC_H
#define RMQ_PROTOCOL_KAFKA_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/arena.h"
#include "common/buf.h"
#include "common/err.h"

/* ---- value types -------------------------------------------------------- */

/* String view. len == -1: null. ptr is borrowed (frame or caller memory) and
 * NOT NUL-terminated. */
typedef struct rmq_kstr {
    const char *ptr;
    int32_t len;
} rmq_kstr_t;

/* Bytes / records view. len == -1: null. ptr borrowed. */
typedef struct rmq_kbytes {
    const uint8_t *ptr;
    int32_t len;
} rmq_kbytes_t;

typedef struct rmq_kuuid {
    uint8_t b[16];
} rmq_kuuid_t;

/* Arrays: n == -1 is null, v has n elements (arena-owned after decode). Every
 * array type has this exact layout; struct arrays in kafka_msgs.h too. */
#define RMQ_KARR_DECL(name, T) typedef struct name { int32_t n; T *v; } name##_t
RMQ_KARR_DECL(rmq_karr_bool, bool);
RMQ_KARR_DECL(rmq_karr_i8, int8_t);
RMQ_KARR_DECL(rmq_karr_i16, int16_t);
RMQ_KARR_DECL(rmq_karr_u16, uint16_t);
RMQ_KARR_DECL(rmq_karr_i32, int32_t);
RMQ_KARR_DECL(rmq_karr_i64, int64_t);
RMQ_KARR_DECL(rmq_karr_f64, double);
RMQ_KARR_DECL(rmq_karr_uuid, rmq_kuuid_t);
RMQ_KARR_DECL(rmq_karr_str, rmq_kstr_t);
RMQ_KARR_DECL(rmq_karr_bytes, rmq_kbytes_t);
RMQ_KARR_DECL(rmq_karr_any, void); /* generic view used by the codec */

/* Make a string view of a NUL-terminated C string (NULL -> null string). */
static inline rmq_kstr_t rmq_kstr(const char *s) {
    rmq_kstr_t r = {s, -1};
    if (s) {
        size_t n = 0;
        while (s[n]) n++;
        r.len = (int32_t)n;
    }
    return r;
}
static inline bool rmq_kstr_eq(rmq_kstr_t s, const char *z) {
    if (s.len < 0 || !z) return s.len < 0 && !z;
    for (int32_t i = 0; i < s.len; i++)
        if (!z[i] || z[i] != s.ptr[i]) return false;
    return z[s.len] == 0;
}

/* ---- descriptors (filled by the generator) ------------------------------ */

typedef enum rmq_ktype {
    RMQ_KT_BOOL = 0,
    RMQ_KT_INT8,
    RMQ_KT_INT16,
    RMQ_KT_UINT16,
    RMQ_KT_INT32,
    RMQ_KT_INT64,
    RMQ_KT_FLOAT64,
    RMQ_KT_UUID,
    RMQ_KT_STRING,
    RMQ_KT_BYTES,
    RMQ_KT_RECORDS, /* nullable bytes holding a record batch / message set */
    RMQ_KT_STRUCT,
} rmq_ktype_t;

#define RMQ_KVER_MAX 0x7fff /* upper bound of an open "N+" range */

struct rmq_kafka_msg_desc;

/* One field of one (sub-)message. A field is on the wire in version v when
 * min_ver <= v <= max_ver; nullable when null_min <= v <= null_max; tagged
 * (flexible versions only) when tag >= 0 and tag_min <= v <= tag_max. The
 * generator orders each table: untagged fields in wire order, then tagged
 * fields by ascending tag. */
typedef struct rmq_kafka_field_desc {
    const char *name;                     /* snake_case C member name */
    const struct rmq_kafka_msg_desc *sub; /* struct type (RMQ_KT_STRUCT), else NULL */
    uint32_t offset;                      /* offsetof in the C struct */
    uint8_t type;                         /* rmq_ktype_t of the value / array element */
    uint8_t is_array;
    uint8_t def_null; /* default is null (strings, bytes, records, arrays) */
    int16_t min_ver, max_ver;
    int16_t null_min, null_max;
    int32_t tag; /* -1 if never tagged */
    int16_t tag_min, tag_max;
    int64_t def_int;     /* default for bool/int types */
    double def_f64;      /* default for float64 */
    const char *def_str; /* non-null string default; NULL means "" (or null if def_null) */
} rmq_kafka_field_desc_t;

/* A message (api_key >= 0) or a nested struct type (api_key == -1; versions
 * and flex_from copied from its message). */
typedef struct rmq_kafka_msg_desc {
    const char *name; /* JSON name, e.g. "ProduceRequest", "TopicProduceData" */
    int16_t api_key;
    int16_t min_ver, max_ver;
    int16_t flex_from; /* first flexible version, RMQ_KVER_MAX if none */
    uint32_t size;     /* sizeof the C struct */
    uint16_t nfields;
    const rmq_kafka_field_desc_t *fields;
} rmq_kafka_msg_desc_t;

/* Where and why a decode (or encode) failed. field/path name the innermost
 * field being read ("" if none, "header" for header errors). */
typedef struct rmq_kafka_decode_error {
    int16_t api_key;
    int16_t version;
    const char *field; /* static string */
    char path[128];    /* dotted path, e.g. "topic_data.partition_data.records" */
    size_t offset;     /* byte offset in the decoded buffer */
    rmq_err_t err;
} rmq_kafka_decode_error_t;

/* Human-readable one-line description of e into buf (always NUL-terminated). */
void rmq_kafka_decode_error_format(const rmq_kafka_decode_error_t *e, char *buf, size_t cap);

/* ---- generic codec ------------------------------------------------------ */

/* Fill obj (d->size bytes, caller-owned) with the JSON defaults: ints from
 * "default", null strings where the default is null, empty arrays, nested
 * structs recursively. */
void rmq_kafka_msg_init(const rmq_kafka_msg_desc_t *d, void *obj);

/* True if obj equals its defaults (the test for writing a tagged field). */
bool rmq_kafka_msg_is_default(const rmq_kafka_msg_desc_t *d, const void *obj);

/* Decode one message body of the given version from c into out (d->size
 * bytes, caller-owned; initialised first). Strings/bytes are views into c's
 * memory (borrowed: keep the frame alive); arrays are allocated from a (owned
 * by the arena). On failure c->err/c->err_off are set too. Does not require
 * the cursor to be at its end afterwards. */
rmq_err_t rmq_kafka_decode(const rmq_kafka_msg_desc_t *d, int16_t version, rmq_cur_t *c, rmq_arena_t *a,
                           void *out);
rmq_err_t rmq_kafka_decode_ex(const rmq_kafka_msg_desc_t *d, int16_t version, rmq_cur_t *c, rmq_arena_t *a,
                              void *out, rmq_kafka_decode_error_t *err /* may be NULL */);

/* Append the encoding of in (read only) at the given version to out
 * (caller-owned). Tagged fields are written only when not default. Fails with
 * RMQ_ERR_INVALID_ARG (null in a non-nullable field, array with n > 0 and
 * v == NULL, string too long), RMQ_UNSUPPORTED_VERSION or RMQ_ERR_NOMEM; on
 * failure out may hold a partial encoding past its old length. */
rmq_err_t rmq_kafka_encode(const rmq_kafka_msg_desc_t *d, int16_t version, const void *in, rmq_buf_t *out);
rmq_err_t rmq_kafka_encode_ex(const rmq_kafka_msg_desc_t *d, int16_t version, const void *in, rmq_buf_t *out,
                              rmq_kafka_decode_error_t *err /* may be NULL */);

/* ---- headers ------------------------------------------------------------ */

typedef struct rmq_kafka_request_header {
    int16_t api_key;
    int16_t api_version;
    int32_t correlation_id;
    rmq_kstr_t client_id;   /* nullable; view into the frame */
    int8_t header_version;  /* 0, 1 or 2 (as decoded / to encode) */
} rmq_kafka_request_header_t;

/* Request header version for api_key/version: 2 when the request version is
 * flexible, else 1 (unknown APIs: 1). */
int rmq_kafka_request_header_version(int16_t api_key, int16_t api_version);
/* Response header version: 1 when the response version is flexible, else 0;
 * ApiVersions responses always use 0. */
int rmq_kafka_response_header_version(int16_t api_key, int16_t api_version);

/* Decode a request header from c (header_version chosen from the api key and
 * version read). client_id is a view into c's memory; tagged fields of v2 are
 * skipped. */
rmq_err_t rmq_kafka_decode_request_header(rmq_cur_t *c, rmq_kafka_request_header_t *h);
/* Append a request header (h->header_version decides the layout) to out. */
rmq_err_t rmq_kafka_encode_request_header(const rmq_kafka_request_header_t *h, rmq_buf_t *out);
/* Append a response header of the given header version (0 or 1) to out. */
rmq_err_t rmq_kafka_encode_response_header(int32_t correlation_id, int header_version, rmq_buf_t *out);
/* Decode a response header of the given version; *correlation_id out. */
rmq_err_t rmq_kafka_decode_response_header(rmq_cur_t *c, int header_version, int32_t *correlation_id);

/* ---- whole frames ------------------------------------------------------- */

/* Decode a request frame (bytes after the 4-byte size prefix; borrowed, keep
 * alive while *body is used): header into *h, then the body into a new object
 * allocated from a (arena-owned), returned in *body with its descriptor in
 * *desc. The whole frame must be consumed (trailing bytes: BAD_LENGTH).
 * Unknown api key: RMQ_ERR_UNSUPPORTED; version outside the codec's range:
 * RMQ_UNSUPPORTED_VERSION. In both cases *h is filled so the caller can
 * answer; *body and *desc are NULL on every failure. */
rmq_err_t rmq_kafka_decode_request(const uint8_t *frame, size_t len, rmq_arena_t *a, rmq_kafka_request_header_t *h,
                                   void **body, const rmq_kafka_msg_desc_t **desc,
                                   rmq_kafka_decode_error_t *err /* may be NULL */);

/* Append a whole response frame to out (caller-owned): 4-byte size prefix,
 * response header (version from api_key/version), body (read only). */
rmq_err_t rmq_kafka_encode_response(int16_t api_key, int16_t version, int32_t correlation_id, const void *body,
                                    rmq_buf_t *out);
/* Records fields left out of the output buffer (zero-copy responses): the
 * encoder writes a records field of at least min_len bytes as its length
 * prefix only and notes here where its bytes belong - at byte `at` of the
 * output buffer (before what follows there). The frame is then the buffer
 * with each part's bytes inserted at its `at`, in order. ptr is borrowed
 * from the encoded object: it must stay valid until the frame is sent. */
typedef struct rmq_kafka_splices {
    rmq_buf_ext_t *v;      /* malloc'd, owned by the caller (free(v)) */
    size_t n, cap;
    size_t min_len;        /* smaller records fields are copied as usual */
    size_t total;          /* bytes of all splices */
} rmq_kafka_splices_t;

/* rmq_kafka_encode_response, but records fields of at least sp->min_len
 * bytes (outside tagged fields) are appended to sp instead of copied, and
 * the size prefix counts them. sp NULL: the same as
 * rmq_kafka_encode_response. */
rmq_err_t rmq_kafka_encode_response_spliced(int16_t api_key, int16_t version, int32_t correlation_id,
                                            const void *body, rmq_buf_t *out, rmq_kafka_splices_t *sp);
/* Append a whole request frame to out: size prefix, header (h->header_version
 * is recomputed from the api key/version), body. For clients and tests. */
rmq_err_t rmq_kafka_encode_request(const rmq_kafka_request_header_t *h, const void *body, rmq_buf_t *out);

#endif
