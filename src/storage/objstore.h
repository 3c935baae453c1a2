/* objstore.h - the object-store interface of RustMQ's tiered storage.
 *
 * Sealed WAL segments become immutable objects (the uploader puts them);
 * the tiered read path GETs byte ranges of them; retention lists and
 * batch-deletes them. All of that goes through rmq_obj_store_t, a struct of
 * function pointers (like canonical raft's raft_io) so backends are
 * swappable and tests can wrap a store to inject faults.
 *
 * Backends:
 *   local  - a directory (the embedded default; objstore_local.c)
 *   s3     - S3 over libcurl with our SigV4 signer (objstore_s3.c)
 *   gcs    - the S3 backend against GCS's XML API with HMAC keys
 *
 * Every call is synchronous and thread-safe (the uploader runs a few
 * worker threads; the read path calls get from a worker too). Errors:
 *   RMQ_ERR_NOT_FOUND   missing key (get/head)
 *   RMQ_ERR_AGAIN       retriable: HTTP 5xx/429/408, connection refused or
 *                       reset, server-side "SlowDown"
 *   RMQ_ERR_TIMEOUT     retriable: connect/total/low-speed timeout
 *   RMQ_ERR_CORRUPT     a GET body shorter (or longer) than Content-Length
 *                       or than the requested range: never silent short data
 *   RMQ_ERR_INVALID_ARG bad key, or a range starting past the end of the object
 *   RMQ_ERR_IO          other transport/server errors (auth, bad request)
 *   RMQ_ERR_NOSPACE     local backend: disk full
 *   RMQ_ERR_CONFIG      bad configuration / missing bucket or credentials
 * Nothing retries internally: the caller (uploader, read path) owns retry
 * policy. When st is non-NULL it receives the HTTP status (0 if none) and a
 * human-readable message. */
#ifndef RMQ_STORAGE_OBJSTORE_H
#define RMQ_STORAGE_OBJSTORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/config.h"
#include "common/err.h"

#define RMQ_OBJ_MSG_MAX 256
#define RMQ_OBJ_KEY_MAX 1024 /* S3's limit, in bytes */
#define RMQ_OBJ_DEFAULT_MULTIPART_THRESHOLD (100ull << 20)
#define RMQ_OBJ_DEFAULT_PART_SIZE (16ull << 20)
#define RMQ_OBJ_MIN_PART_SIZE (5ull << 20) /* S3's minimum except the last part */
#define RMQ_OBJ_DEFAULT_LIST_PAGE 1000

typedef enum { RMQ_OBJ_LOCAL = 0, RMQ_OBJ_S3 = 1, RMQ_OBJ_GCS = 2 } rmq_obj_type_t;

/* Configuration; all strings borrowed for the duration of rmq_obj_open only
 * (the store copies what it keeps). NULL and "" mean "not set". */
typedef struct rmq_obj_config {
    rmq_obj_type_t type;
    const char *root;          /* local: directory (created if missing) */
    const char *endpoint;      /* s3: "" = https://s3.<region>.amazonaws.com;
                                * gcs: "" = https://storage.googleapis.com */
    const char *region;        /* s3: "" = us-east-1; gcs: "" = auto */
    const char *bucket;        /* s3/gcs: required */
    bool path_style;           /* http://host/bucket/key vs http://bucket.host/key */
    const char *access_key;    /* "" = env AWS_ACCESS_KEY_ID */
    const char *secret_key;    /* "" = env AWS_SECRET_ACCESS_KEY */
    const char *session_token; /* "" = env AWS_SESSION_TOKEN (may stay unset) */
    uint64_t multipart_threshold; /* 0 = default; objects >= this use multipart */
    uint64_t part_size;           /* 0 = default; clamped to >= 5 MiB unless
                                   * allow_small_parts (tests against s3rver) */
    bool allow_small_parts;
    /* timeouts; 0 = default */
    long connect_timeout_ms;  /* default 5000 */
    long timeout_ms;          /* whole request; default 0 = none (low-speed guards) */
    long low_speed_limit;     /* bytes/s; default 1024 */
    long low_speed_time_s;    /* default 30 */
    size_t list_page_size;    /* default max-keys when the caller passes 0 */
} rmq_obj_config_t;

typedef struct rmq_obj_status {
    int http_status;            /* 0 when no HTTP exchange happened */
    char msg[RMQ_OBJ_MSG_MAX];  /* "" on success */
} rmq_obj_status_t;

typedef struct rmq_obj_entry {
    char *key;     /* owned by the list result */
    uint64_t size;
} rmq_obj_entry_t;

/* One page of a listing. Caller-owned: release with rmq_obj_list_free. */
typedef struct rmq_obj_list {
    rmq_obj_entry_t *entries; /* sorted by key (byte order) */
    size_t n;
    size_t cap;
    bool truncated;     /* more pages follow */
    char *next_token;   /* owned; non-NULL iff truncated: pass to the next call */
} rmq_obj_list_t;

typedef struct rmq_obj_store rmq_obj_store_t;

typedef struct rmq_obj_ops {
    /* Store data[0..len) (borrowed) under key, atomically replacing any
     * previous object: readers see the old or the new object, never a part. */
    rmq_err_t (*put)(rmq_obj_store_t *s, const char *key, const void *data, size_t len, rmq_obj_status_t *st);
    /* Append bytes [offset, offset+length) of key to out (caller-owned,
     * not reset). length -1 = to the end. Exactly length bytes or an error. */
    rmq_err_t (*get)(rmq_obj_store_t *s, const char *key, uint64_t offset, int64_t length, rmq_buf_t *out,
                     rmq_obj_status_t *st);
    rmq_err_t (*head)(rmq_obj_store_t *s, const char *key, uint64_t *size, rmq_obj_status_t *st);
    /* One page of keys starting with prefix (NULL/"" = all), after the
     * position in token (NULL = from the start), at most max_keys (0 =
     * default). out must be rmq_obj_list_init'ed; it is cleared first. */
    rmq_err_t (*list)(rmq_obj_store_t *s, const char *prefix, const char *token, size_t max_keys,
                      rmq_obj_list_t *out, rmq_obj_status_t *st);
    /* Delete keys[0..n) (borrowed). Missing keys are not an error. */
    rmq_err_t (*del)(rmq_obj_store_t *s, const char *const *keys, size_t n, rmq_obj_status_t *st);
    void (*close)(rmq_obj_store_t *s);
} rmq_obj_ops_t;

/* Called by a backend that writes the local disk (local) before each chunk
 * a put writes but the first, with the chunk's size; it may sleep (it runs
 * on the putting thread) to spread a large object's writes out so they do
 * not crowd the WAL's synced writes on the same disk. Returns true when it
 * is pacing (the writes share the disk with a live WAL: the backend keeps
 * its next chunk small, 256 KiB, so a synced write queues behind less),
 * false when it let the chunk through unpaced (catching up, stopping: the
 * next chunk is 1 MiB, fewer writes for the same bytes). */
typedef bool (*rmq_obj_pace_fn)(void *ud, size_t bytes);

struct rmq_obj_store {
    const rmq_obj_ops_t *ops;
    const char *name; /* "local", "s3", "gcs" (static) */
    void *impl;       /* backend state */
    rmq_obj_pace_fn pace; /* NULL = unpaced; see rmq_obj_set_pacer */
    void *pace_ud;
};

/* Fill out from the broker's [object_storage] section (bc must have been
 * resolved by the config loader: path "" already became <data_dir>/objects).
 * Strings in out are borrowed from bc. Fields with no config key (part_size,
 * session_token, timeouts) are left 0/NULL = defaults / environment.
 * Returns 0 or RMQ_ERR_CONFIG for an unknown storage_type. */
rmq_err_t rmq_obj_config_from_broker(const rmq_broker_config_t *bc, rmq_obj_config_t *out);

/* Open the backend named by cfg->type. *out is owned by the caller: release
 * with rmq_obj_close. Returns 0, RMQ_ERR_CONFIG (message in st), RMQ_ERR_IO,
 * RMQ_ERR_NOMEM. */
rmq_err_t rmq_obj_open(const rmq_obj_config_t *cfg, rmq_obj_store_t **out, rmq_obj_status_t *st);
rmq_err_t rmq_obj_local_open(const rmq_obj_config_t *cfg, rmq_obj_store_t **out, rmq_obj_status_t *st);
rmq_err_t rmq_s3_open(const rmq_obj_config_t *cfg, rmq_obj_store_t **out, rmq_obj_status_t *st);
/* Set (fn non-NULL) or clear the write pacer of s; backends that do not
 * write the local disk (s3, gcs) ignore it. No put may be in flight. */
void rmq_obj_set_pacer(rmq_obj_store_t *s, rmq_obj_pace_fn fn, void *ud);
/* Close and free a store (NULL ok). No calls may be in flight. */
void rmq_obj_close(rmq_obj_store_t *s);

/* Dispatchers over s->ops (st may be NULL). */
rmq_err_t rmq_obj_put(rmq_obj_store_t *s, const char *key, const void *data, size_t len, rmq_obj_status_t *st);
rmq_err_t rmq_obj_get(rmq_obj_store_t *s, const char *key, uint64_t offset, int64_t length, rmq_buf_t *out,
                      rmq_obj_status_t *st);
rmq_err_t rmq_obj_head(rmq_obj_store_t *s, const char *key, uint64_t *size, rmq_obj_status_t *st);
rmq_err_t rmq_obj_list(rmq_obj_store_t *s, const char *prefix, const char *token, size_t max_keys,
                       rmq_obj_list_t *out, rmq_obj_status_t *st);
rmq_err_t rmq_obj_delete(rmq_obj_store_t *s, const char *const *keys, size_t n, rmq_obj_status_t *st);

void rmq_obj_list_init(rmq_obj_list_t *l);
/* Frees the entries, keys and token; l is reusable afterwards. */
void rmq_obj_list_free(rmq_obj_list_t *l);
/* Append a copy of key (n bytes) with size. Returns 0 or RMQ_ERR_NOMEM. */
rmq_err_t rmq_obj_list_push(rmq_obj_list_t *l, const char *key, size_t n, uint64_t size);

/* Key syntax shared by all backends: 1..RMQ_OBJ_KEY_MAX bytes, no NUL, no
 * leading '/', no empty, "." or ".." segments, no control bytes. */
bool rmq_obj_key_valid(const char *key);
/* Fill st (NULL ok) with a formatted message and return err. */
rmq_err_t rmq_obj_fail(rmq_obj_status_t *st, rmq_err_t err, int http_status, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* ---- S3 XML response parsers (objstore_s3.c), exposed for tests and the
 * fuzzer. Inputs are borrowed bytes from the network (any content); each
 * parser is bounds checked and returns RMQ_ERR_PARSE on malformed XML. */

/* ListObjectsV2 result: appends Contents (Key, Size) to out, sets
 * truncated/next_token. */
rmq_err_t rmq_s3_parse_list(const void *xml, size_t len, rmq_obj_list_t *out);
/* InitiateMultipartUploadResult: *upload_id is malloc'ed (caller frees). */
rmq_err_t rmq_s3_parse_upload_id(const void *xml, size_t len, char **upload_id);
/* <Error><Code/><Message/></Error>: copies into code/message (truncated,
 * NUL-terminated). Returns RMQ_ERR_NOT_FOUND when there is no Error element. */
rmq_err_t rmq_s3_parse_error(const void *xml, size_t len, char *code, size_t code_cap, char *message,
                             size_t message_cap);
/* DeleteResult: *n_errors = number of <Error> entries; the first one's
 * Key/Code/Message go into first (NUL-terminated, may be truncated). */
rmq_err_t rmq_s3_parse_delete_result(const void *xml, size_t len, size_t *n_errors, char *first, size_t first_cap);

#endif
