/* admin.h - the admin REST API server and the backend interface it runs on.
 *
 * The server (libmicrohttpd, one thread per connection, JSON via jansson)
 * knows nothing of the broker: everything it serves comes through
 * rmq_admin_backend_t, a table of function pointers plus a user pointer that
 * the embedding process fills. The broker implements it over its own state;
 * `rustmq-admin serve-api` implements it over the Kafka protocol
 * (rmq_admin_kafka_backend_*, admin/kafka_backend.h). A test implements it
 * with fakes.
 *
 * Memory: every backend call gets an arena (rmq_arena_t, owned by the
 * server, freed after the response is built). Everything the backend puts in
 * its output structs (strings, arrays) must be allocated from that arena or be
 * static; nothing is freed individually. rmq_admin_strdup helps.
 *
 * Errors: a backend call returns 0 or an rmq_err_t (Kafka codes preferred:
 * UNKNOWN_TOPIC_OR_PARTITION, TOPIC_ALREADY_EXISTS, INVALID_PARTITIONS, ...)
 * and may write a human-readable message and, for NOT_CONTROLLER /
 * NOT_LEADER_OR_FOLLOWER, a leader hint ("host:port" of where to go) into
 * the rmq_admin_errinfo_t. The server maps codes to HTTP statuses (see
 * rmq_admin_http_status). A NULL function pointer means "not supported"
 * (HTTP 501). Backend functions may be called from several server threads at
 * once and must be thread-safe. */
#ifndef RMQ_ADMIN_ADMIN_H
#define RMQ_ADMIN_ADMIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "admin/ratelimit.h"
#include "common/arena.h"
#include "common/clock.h"
#include "common/err.h"
#include "common/metrics.h"

#define RMQ_ADMIN_DEFAULT_PORT 9642

/* ---- data exchanged with the backend ----------------------------------------- */

typedef struct rmq_admin_errinfo {
    char msg[512];         /* "" = use the error name */
    char leader_hint[256]; /* "host:port" for not-leader errors, else "" */
} rmq_admin_errinfo_t;

typedef struct rmq_admin_kv {
    const char *name;
    const char *value; /* NULL = null (sensitive or unknown) */
} rmq_admin_kv_t;

typedef struct rmq_admin_broker {
    int32_t id;
    const char *host;
    int32_t port;
    const char *rack;   /* NULL = none */
    const char *status; /* "active" | "inactive" | "draining" (NULL = "active") */
} rmq_admin_broker_t;

typedef struct rmq_admin_cluster {
    const char *cluster_id;
    int32_t controller_id; /* -1 = unknown */
    size_t nbrokers;
    rmq_admin_broker_t *brokers;
} rmq_admin_cluster_t;

typedef struct rmq_admin_health {
    bool ok;
    const char *status; /* "healthy" | "degraded" | "unhealthy"; NULL = from ok */
    size_t ndetails;
    rmq_admin_kv_t *details; /* free-form checks, e.g. {"wal","ok"} */
} rmq_admin_health_t;

#define RMQ_ADMIN_MAX_REPLICAS 16

typedef struct rmq_admin_partition {
    int32_t partition;
    int32_t leader; /* -1 = none */
    int32_t leader_epoch;
    int32_t nreplicas, nisr;
    int32_t replicas[RMQ_ADMIN_MAX_REPLICAS];
    int32_t isr[RMQ_ADMIN_MAX_REPLICAS];
    int64_t log_start_offset; /* -1 = unknown */
    int64_t high_watermark;   /* -1 = unknown */
} rmq_admin_partition_t;

typedef struct rmq_admin_topic {
    const char *name;
    int32_t partitions;
    int32_t replication_factor;
    bool internal;
    size_t nconfigs; /* describe only (list: 0) */
    rmq_admin_kv_t *configs;
    size_t nparts; /* describe only (list: 0) */
    rmq_admin_partition_t *parts;
} rmq_admin_topic_t;

typedef struct rmq_admin_topic_list {
    size_t ntopics;
    rmq_admin_topic_t *topics; /* sorted by name by the server */
} rmq_admin_topic_list_t;

typedef struct rmq_admin_new_topic {
    const char *name;
    int32_t partitions;         /* -1 = broker default */
    int32_t replication_factor; /* -1 = broker default */
    size_t nconfigs;
    const rmq_admin_kv_t *configs;
} rmq_admin_new_topic_t;

typedef struct rmq_admin_tp {
    const char *topic;
    int32_t partition;
} rmq_admin_tp_t;

typedef struct rmq_admin_member {
    const char *member_id;
    const char *group_instance_id; /* NULL = none */
    const char *client_id;
    const char *client_host;
    size_t nassign;
    rmq_admin_tp_t *assignments;
} rmq_admin_member_t;

typedef struct rmq_admin_group_offset {
    const char *topic;
    int32_t partition;
    int64_t committed; /* -1 = none */
    int64_t log_end;   /* -1 = unknown */
    int64_t lag;       /* -1 = unknown */
} rmq_admin_group_offset_t;

typedef struct rmq_admin_group {
    const char *group_id;
    const char *state;         /* "Stable", "Empty", "PreparingRebalance", ... */
    const char *protocol_type; /* "consumer" */
    const char *protocol;      /* assignor, describe only */
    size_t nmembers;
    rmq_admin_member_t *members; /* describe only */
    size_t noffsets;
    rmq_admin_group_offset_t *offsets; /* describe only */
} rmq_admin_group_t;

typedef struct rmq_admin_group_list {
    size_t ngroups;
    rmq_admin_group_t *groups;
} rmq_admin_group_list_t;

/* ---- the backend ------------------------------------------------------------------ */

typedef struct rmq_admin_backend {
    void *ud;
    /* Cluster id, controller and the broker list. */
    rmq_err_t (*cluster)(void *ud, rmq_arena_t *a, rmq_admin_cluster_t *out, rmq_admin_errinfo_t *ei);
    /* Liveness details (GET /health, /api/v1/cluster/health). */
    rmq_err_t (*health)(void *ud, rmq_arena_t *a, rmq_admin_health_t *out, rmq_admin_errinfo_t *ei);
    /* Readiness (GET /ready): true when the process can serve traffic; why
     * says what is missing otherwise. NULL = always ready. */
    bool (*ready)(void *ud, char *why, size_t cap);
    rmq_err_t (*list_topics)(void *ud, rmq_arena_t *a, rmq_admin_topic_list_t *out, rmq_admin_errinfo_t *ei);
    /* Full description: configs and per-partition leader, replicas, ISR, log
     * start and high watermark. UNKNOWN_TOPIC_OR_PARTITION if absent. */
    rmq_err_t (*describe_topic)(void *ud, rmq_arena_t *a, const char *name, rmq_admin_topic_t *out,
                                rmq_admin_errinfo_t *ei);
    rmq_err_t (*create_topic)(void *ud, rmq_arena_t *a, const rmq_admin_new_topic_t *t, rmq_admin_errinfo_t *ei);
    /* May be slow (runs on the server's operation thread, not a request). */
    rmq_err_t (*delete_topic)(void *ud, rmq_arena_t *a, const char *name, rmq_admin_errinfo_t *ei);
    /* Set (value != NULL) or reset to default (value == NULL) the given keys. */
    rmq_err_t (*alter_topic_configs)(void *ud, rmq_arena_t *a, const char *name, const rmq_admin_kv_t *configs,
                                     size_t n, rmq_admin_errinfo_t *ei);
    /* Grow the topic to total_count partitions. */
    rmq_err_t (*create_partitions)(void *ud, rmq_arena_t *a, const char *name, int32_t total_count,
                                   rmq_admin_errinfo_t *ei);
    rmq_err_t (*list_groups)(void *ud, rmq_arena_t *a, rmq_admin_group_list_t *out, rmq_admin_errinfo_t *ei);
    /* GROUP_ID_NOT_FOUND if the group does not exist. */
    rmq_err_t (*describe_group)(void *ud, rmq_arena_t *a, const char *group, rmq_admin_group_t *out,
                                rmq_admin_errinfo_t *ei);
    /* NON_EMPTY_GROUP if it has members, GROUP_ID_NOT_FOUND if unknown. */
    rmq_err_t (*delete_group)(void *ud, rmq_arena_t *a, const char *group, rmq_admin_errinfo_t *ei);
    /* Registry rendered by /metrics and /api/v1/metrics (borrowed; may be
     * NULL: the server then uses a private one). The server registers its own
     * rustmq_admin_* metrics in it. */
    rmq_metrics_t *metrics;
} rmq_admin_backend_t;

/* ---- the server -------------------------------------------------------------------- */

typedef struct rmq_admin_config {
    const char *listen;            /* "host:port" (port 0 = ephemeral); default "127.0.0.1:9642" */
    uint32_t max_connections;      /* default 128 */
    uint32_t request_timeout_s;    /* idle connection timeout, default 30 */
    uint32_t max_body_bytes;       /* request body cap, default 1 MiB */
    uint32_t sse_interval_ms;      /* /api/v1/metrics/stream period, default 1000 */
    uint32_t sse_max_streams;      /* concurrent SSE clients, default 16 */
    uint32_t operations_retained;  /* finished operation records kept, default 1000 */
    uint32_t default_page_limit;   /* default 100 */
    uint32_t max_page_limit;       /* default 1000 */
    rmq_ratelimit_config_t rate_limit;
    const rmq_clock_t *clock;      /* NULL = system clock (rate limiter, timestamps) */
} rmq_admin_config_t;

void rmq_admin_config_default(rmq_admin_config_t *c);

typedef struct rmq_admin_server rmq_admin_server_t;

/* Bind and start serving. cfg is copied (listen string too); be is copied,
 * be->ud and be->metrics are borrowed and must outlive the server. On
 * failure errbuf says why (e.g. the port is in use) and *out is NULL. */
rmq_err_t rmq_admin_server_start(const rmq_admin_config_t *cfg, const rmq_admin_backend_t *be,
                                 rmq_admin_server_t **out, char *errbuf, size_t errlen);
/* The bound TCP port (resolves port 0). */
int rmq_admin_server_port(const rmq_admin_server_t *s);
/* Stop accepting, end SSE streams, wait for in-flight requests and the
 * operation thread (a running topic deletion is finished first), free all. */
void rmq_admin_server_stop(rmq_admin_server_t *s);

/* HTTP status for a backend error: 400 invalid input, 404 unknown,
 * 409 conflict, 429 throttled, 501 unsupported, 503 not leader / not ready /
 * timeout, 500 otherwise. */
int rmq_admin_http_status(rmq_err_t err);

/* Helpers for backends: copies owned by the arena ("" for NULL on OOM-free
 * paths; NULL only on OOM). */
char *rmq_admin_strdup(rmq_arena_t *a, const char *s);
char *rmq_admin_strndup(rmq_arena_t *a, const char *s, size_t n);

/* The OpenAPI 3.0 document served at /api/v1/openapi.json (static, NUL
 * terminated; identical to docs/openapi.json). */
extern const char rmq_admin_openapi_json[];

#endif
