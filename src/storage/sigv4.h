/* sigv4.h - AWS Signature Version 4 request signing (our own, over OpenSSL
 * libcrypto's SHA-256 / HMAC), used by the S3 object-store backend
 * (objstore_s3.c) and proven against AWS's published test vectors
 * (tests/unit/test_sigv4.c).
 *
 * The signer builds the canonical request (method, canonical URI, canonical
 * query string, canonical headers, signed headers, payload hash), the string
 * to sign, the derived signing key and the Authorization header value. It
 * always adds x-amz-date, adds x-amz-security-token when the credentials
 * carry a session token, and adds x-amz-content-sha256 when asked to (S3
 * requires it on every request). The caller sends exactly those headers plus
 * the ones it passed in.
 *
 * Path and query inputs are *raw* (not percent-encoded): the signer encodes
 * them (RFC 3986 unreserved characters kept, everything else %XX with upper
 * case hex; '/' kept in the path). The same encoded forms must be used on the
 * wire: rmq_sigv4_encode_path / rmq_sigv4_canonical_query give them. */
#ifndef RMQ_STORAGE_SIGV4_H
#define RMQ_STORAGE_SIGV4_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/err.h"

#define RMQ_SIGV4_UNSIGNED_PAYLOAD "UNSIGNED-PAYLOAD"

typedef struct rmq_sigv4_creds {
    const char *access_key;    /* borrowed */
    const char *secret_key;    /* borrowed */
    const char *session_token; /* borrowed; NULL or "" = none */
} rmq_sigv4_creds_t;

typedef struct rmq_sigv4_header {
    const char *name;  /* borrowed; any case */
    const char *value; /* borrowed; trimmed and space-collapsed when signed */
} rmq_sigv4_header_t;

typedef struct rmq_sigv4_param {
    const char *key;   /* borrowed, raw (not encoded) */
    const char *value; /* borrowed, raw; NULL or "" gives "key=" */
} rmq_sigv4_param_t;

typedef struct rmq_sigv4_request {
    const char *method; /* "GET", "PUT", ... */
    const char *path;   /* raw path starting with '/', e.g. "/bucket/my key" */
    const rmq_sigv4_param_t *query; /* borrowed, any order; may be NULL */
    size_t n_query;
    const rmq_sigv4_header_t *headers; /* must include Host; duplicates are
                                        * joined with ',' in order */
    size_t n_headers;
    const void *body; /* borrowed; hashed when payload_hash is NULL */
    size_t body_len;
    const char *payload_hash; /* NULL = hex SHA-256 of body; or a
                               * precomputed hex hash or UNSIGNED-PAYLOAD */
} rmq_sigv4_request_t;

typedef struct rmq_sigv4_params {
    const char *region;   /* e.g. "us-east-1", "auto" for GCS */
    const char *service;  /* "s3" */
    const char *amz_date; /* "YYYYMMDDTHHMMSSZ" (16 chars) */
    bool normalize_path;  /* generic AWS services: remove dot segments and
                           * empty segments. S3: false (keys are literal). */
    bool add_content_sha256; /* add and sign x-amz-content-sha256 (S3: true) */
} rmq_sigv4_params_t;

typedef struct rmq_sigv4_out {
    rmq_buf_t canonical_request; /* NUL-terminated text (len excludes NUL) */
    rmq_buf_t string_to_sign;    /* NUL-terminated */
    rmq_buf_t signed_headers;    /* NUL-terminated, "host;x-amz-date" */
    rmq_buf_t authorization;     /* NUL-terminated Authorization value */
    char signature[65];          /* lower-case hex */
    char payload_hash[65];       /* hex hash or "UNSIGNED-PAYLOAD" */
} rmq_sigv4_out_t;

void rmq_sigv4_out_init(rmq_sigv4_out_t *o);
/* Releases the buffers in o (o stays reusable after rmq_sigv4_out_init). */
void rmq_sigv4_out_free(rmq_sigv4_out_t *o);

/* Sign a request. All inputs borrowed; out must be initialised (its buffers
 * are reset and refilled; caller frees with rmq_sigv4_out_free). Returns 0,
 * RMQ_ERR_INVALID_ARG (missing credentials/date/host, bad header name),
 * RMQ_ERR_NOMEM, or RMQ_ERR_IO (libcrypto failure). Thread-safe. */
rmq_err_t rmq_sigv4_sign(const rmq_sigv4_creds_t *creds, const rmq_sigv4_params_t *params,
                         const rmq_sigv4_request_t *req, rmq_sigv4_out_t *out);

/* Append the URI encoding of s[0..n) to out: unreserved bytes
 * (A-Z a-z 0-9 - . _ ~) are kept, '/' kept when keep_slash, everything else
 * becomes %XX. out owned by the caller. */
void rmq_sigv4_uri_encode(rmq_buf_t *out, const char *s, size_t n, bool keep_slash);
/* The canonical (and wire) form of a raw path; appended to out, no NUL. */
void rmq_sigv4_encode_path(rmq_buf_t *out, const char *path, bool normalize);
/* The canonical query string (sorted by encoded key then value, each
 * encoded, "k=" for empty values); appended to out, no NUL. */
rmq_err_t rmq_sigv4_canonical_query(rmq_buf_t *out, const rmq_sigv4_param_t *q, size_t n);

/* Hex SHA-256 of data into hex[65] (NUL-terminated). Returns 0 or RMQ_ERR_IO. */
rmq_err_t rmq_sigv4_sha256_hex(const void *data, size_t len, char hex[65]);
/* Format a UNIX time as "YYYYMMDDTHHMMSSZ" into buf[17]. */
void rmq_sigv4_amz_date(int64_t unix_secs, char buf[17]);

#endif
