/* config.c - schema-driven configuration loader, see config.h.
 *
 * One generic engine works on a schema table (rmq_cfg_field_t[]) and a base
 * pointer to the struct the offsets point into. Every value, whatever its
 * origin (embedded default, TOML file, environment), goes through the same
 * typed setter and the same range/choice/format checks; the origin of each
 * field is remembered so that cross-field checks can name the file line or the
 * environment variable. The broker and controller loaders are thin wrappers
 * that add their cross-field checks and derived defaults. */
#include "common/config.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "common/toml.h"

#define KiB (INT64_C(1) << 10)
#define MiB (INT64_C(1) << 20)
#define GiB (INT64_C(1) << 30)
#define TiB (INT64_C(1) << 40)

#define LEVELS "trace|debug|info|warn|error"

/* ---- schemas -------------------------------------------------------------------- */

#define BF(sec, k, t, mn, mx, d, ch, chk, env, help) \
    {#sec, #k, t, offsetof(rmq_broker_config_t, sec.k), mn, mx, d, ch, chk, env, help}
#define CF(sec, k, t, mn, mx, d, ch, chk, env, help) \
    {#sec, #k, t, offsetof(rmq_controller_config_t, sec.k), mn, mx, d, ch, chk, env, help}

static const rmq_cfg_field_t broker_schema[] = {
    BF(broker, id, RMQ_CFG_INT32, 0, INT32_MAX, "1", NULL, 0, "RUSTMQ_BROKER_ID", "node id of this broker"),
    BF(broker, rack_id, RMQ_CFG_STRING, 0, 0, "", NULL, 0, "RUSTMQ_RACK_ID", "rack / availability zone for replica placement"),
    BF(broker, data_dir, RMQ_CFG_STRING, 0, 0, "./data", NULL, RMQ_CFG_CHECK_NONEMPTY, NULL, "base directory for local state"),
    BF(broker, latency_thread_slice_us, RMQ_CFG_INT64, 0, 100000, "100", NULL, 0, NULL, "CPU time slice asked for by the network and WAL writer threads, so they preempt on wakeup (Linux 6.12+; 0 = the kernel's default; under 100 counts as 100)"),
    BF(broker, latency_thread_nice, RMQ_CFG_INT64, -20, 0, "0", NULL, 0, NULL, "nice value of the network and WAL writer threads (0 = leave; negative needs CAP_SYS_NICE)"),

    BF(network, listen, RMQ_CFG_STRING, 0, 0, "127.0.0.1:9092", NULL, RMQ_CFG_CHECK_HOSTPORT, NULL, "Kafka protocol TCP listener"),
    BF(network, advertised_listen, RMQ_CFG_STRING, 0, 0, "", NULL, RMQ_CFG_CHECK_HOSTPORT_OR_EMPTY, NULL, "address given to clients in metadata (\"\" = listen)"),
    BF(network, quic_listen, RMQ_CFG_STRING, 0, 0, "", NULL, RMQ_CFG_CHECK_HOSTPORT_OR_EMPTY, NULL, "QUIC (UDP) listener (\"\" = disabled)"),
    BF(network, rpc_listen, RMQ_CFG_STRING, 0, 0, "127.0.0.1:9093", NULL, RMQ_CFG_CHECK_HOSTPORT, NULL, "inter-broker (replication) listener; reserved: validated, not opened until replication lands (docs/cluster.md)"),
    BF(network, max_connections, RMQ_CFG_INT64, 1, 1000000, "10000", NULL, 0, "RUSTMQ_MAX_CONNECTIONS", "maximum concurrent client connections"),
    BF(network, connection_timeout_ms, RMQ_CFG_INT64, 1000, 86400000, "600000", NULL, 0, NULL, "idle connection timeout"),
    BF(network, max_frame_bytes, RMQ_CFG_SIZE, 1024, INT32_MAX, "104857600", NULL, 0, NULL, "largest request frame accepted"),
    BF(network, max_inflight_requests, RMQ_CFG_INT64, 1, 1024, "64", NULL, 0, NULL, "pipelined requests per connection"),
    BF(network, max_buffered_request_bytes, RMQ_CFG_SIZE, 0, 64 * GiB, "536870912", NULL, 0, NULL, "memory budget for unfinished requests; above it clients are not read (0 = unlimited)"),
    BF(network, io_threads, RMQ_CFG_INT64, 1, 256, "2", NULL, 0, NULL, "network event-loop threads"),
    BF(network, socket_send_buffer_bytes, RMQ_CFG_SIZE, 0, GiB, "0", NULL, 0, NULL, "SO_SNDBUF (0 = OS default)"),
    BF(network, socket_receive_buffer_bytes, RMQ_CFG_SIZE, 0, GiB, "0", NULL, 0, NULL, "SO_RCVBUF (0 = OS default)"),

    BF(wal, path, RMQ_CFG_STRING, 0, 0, "", NULL, 0, "RUSTMQ_WAL_PATH", "WAL directory (\"\" = <data_dir>/wal)"),
    BF(wal, capacity_bytes, RMQ_CFG_SIZE, 16 * MiB, TiB, "10737418240", NULL, 0, NULL, "total WAL disk budget"),
    BF(wal, fsync_on_write, RMQ_CFG_BOOL, 0, 0, "true", NULL, 0, NULL, "fdatasync before acknowledging a write"),
    BF(wal, segment_size_bytes, RMQ_CFG_SIZE, MiB, 64 * GiB, "134217728", NULL, 0, NULL, "segment size; a full segment is uploaded (<= capacity_bytes; a larger size costs new page-cache memory, docs/storage.md)"),
    BF(wal, buffer_size, RMQ_CFG_SIZE, 512, GiB, "65536", NULL, 0, "RUSTMQ_BATCH_SIZE", "write buffer size (group commit batch)"),
    BF(wal, upload_interval_ms, RMQ_CFG_INT64, 1000, 86400000, "600000", NULL, 0, NULL, "upload a segment after this long even if not full"),
    BF(wal, flush_interval_ms, RMQ_CFG_INT64, 1, 600000, "1000", NULL, 0, NULL, "background flush period when fsync_on_write = false"),
    BF(wal, direct_io, RMQ_CFG_BOOL, 0, 0, "false", NULL, 0, NULL, "open segments with O_DIRECT"),
    BF(wal, io_uring, RMQ_CFG_BOOL, 0, 0, "false", NULL, 0, NULL, "use io_uring for WAL I/O where available"),
    BF(wal, prefill_segments, RMQ_CFG_BOOL, 0, 0, "true", NULL, 0, NULL, "write new segments through with zeros before use (first writes to preallocated blocks are slow)"),

    BF(cache, write_cache_size_bytes, RMQ_CFG_SIZE, MiB, TiB, "268435456", NULL, 0, NULL, "hot (tailing reads) cache budget"),
    BF(cache, read_cache_size_bytes, RMQ_CFG_SIZE, 0, TiB, "536870912", NULL, 0, "RUSTMQ_CACHE_SIZE", "cold (historical reads) cache budget"),
    BF(cache, eviction_policy, RMQ_CFG_STRING, 0, 0, "lru", "lru", 0, NULL, "cache eviction policy"),

    BF(object_storage, storage_type, RMQ_CFG_STRING, 0, 0, "local", "local|s3|gcs", 0, NULL, "object store backend"),
    BF(object_storage, path, RMQ_CFG_STRING, 0, 0, "", NULL, 0, NULL, "local backend directory (\"\" = <data_dir>/objects)"),
    BF(object_storage, bucket, RMQ_CFG_STRING, 0, 0, "", NULL, 0, "RUSTMQ_STORAGE_BUCKET", "bucket (s3/gcs; required there)"),
    BF(object_storage, region, RMQ_CFG_STRING, 0, 0, "", NULL, 0, "RUSTMQ_STORAGE_REGION", "region (s3/gcs)"),
    BF(object_storage, endpoint, RMQ_CFG_STRING, 0, 0, "", NULL, 0, NULL, "endpoint URL (\"\" = the provider's default)"),
    BF(object_storage, access_key, RMQ_CFG_STRING, 0, 0, "", NULL, 0, NULL, "access key id"),
    BF(object_storage, secret_key, RMQ_CFG_STRING, 0, 0, "", NULL, 0, NULL, "secret access key"),
    BF(object_storage, path_style, RMQ_CFG_BOOL, 0, 0, "true", NULL, 0, NULL, "path-style bucket addressing (MinIO, s3rver)"),
    BF(object_storage, multipart_threshold, RMQ_CFG_SIZE, 5 * MiB, 5 * GiB, "104857600", NULL, 0, NULL, "objects larger than this use multipart upload"),
    BF(object_storage, max_concurrent_uploads, RMQ_CFG_INT64, 1, 1000, "10", NULL, 0, NULL, "parallel uploads (the local backend runs at most 2)"),
    BF(object_storage, upload_bandwidth_bytes_per_sec, RMQ_CFG_SIZE, 0, TiB, "0", NULL, 0, NULL, "upload bandwidth cap (0 = unlimited)"),

    BF(controller, endpoints, RMQ_CFG_STRARRAY, 0, 0, "", NULL, RMQ_CFG_CHECK_ENDPOINTS, NULL, "controller RPC endpoints (empty = embedded single-voter controller)"),
    BF(controller, election_timeout_ms, RMQ_CFG_INT64, 100, 60000, "1000", NULL, 0, NULL, "embedded controller: Raft election timeout"),
    BF(controller, heartbeat_interval_ms, RMQ_CFG_INT64, 10, 10000, "100", NULL, 0, NULL, "broker -> controller heartbeat period (< election_timeout_ms)"),
    BF(controller, session_timeout_ms, RMQ_CFG_INT64, 1000, 300000, "10000", NULL, 0, NULL, "broker is fenced after this long without heartbeats"),

    BF(replication, min_in_sync_replicas, RMQ_CFG_INT64, 1, 16, "1", NULL, 0, NULL, "ISR size required for acks=all"),
    BF(replication, ack_timeout_ms, RMQ_CFG_INT64, 100, 600000, "5000", NULL, 0, NULL, "how long acks=all waits for followers"),
    BF(replication, max_replication_lag, RMQ_CFG_INT64, 100, 3600000, "30000", NULL, 0, NULL, "ms a follower may lag before it leaves the ISR"),

    BF(topics, auto_create, RMQ_CFG_BOOL, 0, 0, "true", NULL, 0, NULL, "create unknown topics on metadata/produce"),
    BF(topics, default_partitions, RMQ_CFG_INT64, 1, 100000, "1", NULL, 0, NULL, "partitions of auto-created topics"),
    BF(topics, default_replication_factor, RMQ_CFG_INT64, 1, 16, "1", NULL, 0, NULL, "replication factor of auto-created topics"),
    BF(topics, max_message_bytes, RMQ_CFG_SIZE, 1024, INT32_MAX, "1048588", NULL, 0, NULL, "largest record batch (<= network.max_frame_bytes)"),
    BF(topics, retention_ms, RMQ_CFG_INT64, -1, INT64_MAX, "604800000", NULL, 0, NULL, "default time retention (-1 = forever)"),
    BF(topics, retention_bytes, RMQ_CFG_INT64, -1, INT64_MAX, "-1", NULL, 0, NULL, "default size retention per partition (-1 = unlimited)"),

    BF(groups, initial_rebalance_delay_ms, RMQ_CFG_INT64, 0, 300000, "3000", NULL, 0, NULL, "delay before the first rebalance of a new group"),
    BF(groups, offsets_retention_minutes, RMQ_CFG_INT64, 1, 5256000, "10080", NULL, 0, NULL, "committed offsets of empty groups expire after this"),
    BF(groups, min_session_timeout_ms, RMQ_CFG_INT64, 1, 3600000, "6000", NULL, 0, NULL, "smallest session timeout a consumer may ask for"),
    BF(groups, max_session_timeout_ms, RMQ_CFG_INT64, 1, 3600000, "1800000", NULL, 0, NULL, "largest session timeout a consumer may ask for"),

    BF(etl, enabled, RMQ_CFG_BOOL, 0, 0, "false", NULL, 0, NULL, "run WASM ETL pipelines"),
    BF(etl, memory_limit_bytes, RMQ_CFG_SIZE, 64 * KiB, 4 * GiB, "67108864", NULL, 0, NULL, "linear memory limit per module instance"),
    BF(etl, execution_timeout_ms, RMQ_CFG_INT64, 1, 600000, "5000", NULL, 0, NULL, "time limit per invocation"),
    BF(etl, max_concurrent_executions, RMQ_CFG_INT64, 1, 10000, "100", NULL, 0, NULL, "parallel module invocations"),

    BF(admin, listen, RMQ_CFG_STRING, 0, 0, "127.0.0.1:9642", NULL, RMQ_CFG_CHECK_HOSTPORT, NULL, "REST admin API / metrics listener"),
    BF(admin, enabled, RMQ_CFG_BOOL, 0, 0, "true", NULL, 0, NULL, "serve the admin API"),
    BF(admin, rate_limit_enabled, RMQ_CFG_BOOL, 0, 0, "true", NULL, 0, NULL, "apply the rate limits below"),
    BF(admin, global_rps, RMQ_CFG_DOUBLE, 0, 1000000, "1000", NULL, 0, NULL, "requests per second for all clients together (0 = unlimited)"),
    BF(admin, global_burst, RMQ_CFG_DOUBLE, 0, 10000000, "2000", NULL, 0, NULL, "burst of the global bucket"),
    BF(admin, per_ip_rps, RMQ_CFG_DOUBLE, 0, 1000000, "50", NULL, 0, NULL, "requests per second per client IP (0 = unlimited)"),
    BF(admin, per_ip_burst, RMQ_CFG_DOUBLE, 0, 10000000, "100", NULL, 0, NULL, "burst per client IP"),
    BF(admin, max_tracked_ips, RMQ_CFG_INT64, 1, 10000000, "10000", NULL, 0, NULL, "client IPs tracked (least recently seen forgotten first)"),
    BF(admin, health_rps, RMQ_CFG_DOUBLE, 0, 1000000, "100", NULL, 0, NULL, "/health, /ready requests per second (burst 2x)"),
    BF(admin, read_rps, RMQ_CFG_DOUBLE, 0, 1000000, "30", NULL, 0, NULL, "read endpoints per second (burst 2x)"),
    BF(admin, write_rps, RMQ_CFG_DOUBLE, 0, 1000000, "10", NULL, 0, NULL, "write endpoints per second (burst 2x)"),
    BF(admin, cluster_rps, RMQ_CFG_DOUBLE, 0, 1000000, "5", NULL, 0, NULL, "cluster endpoints per second (burst 2x)"),

    BF(log, level, RMQ_CFG_STRING, 0, 0, "info", LEVELS, 0, "RUSTMQ_LOG_LEVEL", "log level"),
};

static const rmq_cfg_field_t controller_schema[] = {
    CF(controller, node_id, RMQ_CFG_INT32, 1, INT32_MAX, "1", NULL, 0, "RUSTMQ_CONTROLLER_ID", "Raft node id of this controller"),
    CF(controller, raft_listen, RMQ_CFG_STRING, 0, 0, "127.0.0.1:9095", NULL, RMQ_CFG_CHECK_HOSTPORT, NULL, "Raft transport listener"),
    CF(controller, rpc_listen, RMQ_CFG_STRING, 0, 0, "127.0.0.1:9094", NULL, RMQ_CFG_CHECK_HOSTPORT, NULL, "broker-facing RPC listener"),
    CF(controller, http_listen, RMQ_CFG_STRING, 0, 0, "127.0.0.1:9642", NULL, RMQ_CFG_CHECK_HOSTPORT_OR_EMPTY, NULL, "REST admin API and /metrics listener (\"\" = off)"),
    CF(controller, peers, RMQ_CFG_STRARRAY, 0, 0, "", NULL, RMQ_CFG_CHECK_PEERS, NULL, "voters as \"id@host:raft_port\" (empty = single voter)"),
    CF(controller, data_dir, RMQ_CFG_STRING, 0, 0, "./data/controller", NULL, RMQ_CFG_CHECK_NONEMPTY, NULL, "Raft log and snapshots"),
    CF(controller, election_timeout_ms, RMQ_CFG_INT64, 100, 60000, "1000", NULL, 0, NULL, "Raft election timeout"),
    CF(controller, heartbeat_interval_ms, RMQ_CFG_INT64, 10, 10000, "100", NULL, 0, NULL, "Raft heartbeat period (< election_timeout_ms)"),
    CF(controller, snapshot_threshold, RMQ_CFG_INT64, 16, 100000000, "10000", NULL, 0, NULL, "log entries between snapshots"),
    CF(log, level, RMQ_CFG_STRING, 0, 0, "info", LEVELS, 0, "RUSTMQ_LOG_LEVEL", "log level"),
};

#define NFIELDS(a) (sizeof(a) / sizeof((a)[0]))

const rmq_cfg_field_t *rmq_cfg_broker_schema(size_t *n) {
    if (n) *n = NFIELDS(broker_schema);
    return broker_schema;
}

const rmq_cfg_field_t *rmq_cfg_controller_schema(size_t *n) {
    if (n) *n = NFIELDS(controller_schema);
    return controller_schema;
}

/* ---- value parsing helpers ------------------------------------------------------------ */

rmq_err_t rmq_cfg_parse_size(const char *s, uint64_t *out) {
    if (!s || !out) return RMQ_ERR_INVALID_ARG;
    while (*s == ' ') s++;
    if (!isdigit((unsigned char)*s)) return RMQ_ERR_INVALID_ARG;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno == ERANGE) return RMQ_ERR_INVALID_ARG;
    while (*end == ' ') end++;
    uint64_t mul = 1;
    static const struct {
        const char *u;
        uint64_t m;
    } units[] = {{"", 1},
                 {"B", 1},
                 {"KiB", 1ull << 10},
                 {"MiB", 1ull << 20},
                 {"GiB", 1ull << 30},
                 {"TiB", 1ull << 40},
                 {"KB", 1000ull},
                 {"MB", 1000000ull},
                 {"GB", 1000000000ull},
                 {"TB", 1000000000000ull},
                 {"K", 1ull << 10},
                 {"M", 1ull << 20},
                 {"G", 1ull << 30},
                 {"T", 1ull << 40}};
    size_t i;
    for (i = 0; i < sizeof units / sizeof units[0]; i++)
        if (strcasecmp(end, units[i].u) == 0 && (units[i].u[0] || !*end)) break;
    if (i == sizeof units / sizeof units[0]) return RMQ_ERR_INVALID_ARG;
    mul = units[i].m;
    if (v > UINT64_MAX / mul) return RMQ_ERR_INVALID_ARG;
    *out = (uint64_t)v * mul;
    return RMQ_NONE;
}

/* "host:port" or "[v6]:port"; port 0..65535 (min_port 1 for endpoints) */
static bool hostport_ok(const char *s, int min_port, const char **why) {
    const char *colon = strrchr(s, ':');
    if (!colon || colon == s) return *why = "must be host:port", false;
    if (s[0] == '[' && colon[-1] != ']') return *why = "must be host:port ([v6addr]:port for IPv6)", false;
    if (s[0] != '[' && memchr(s, ':', (size_t)(colon - s))) return *why = "IPv6 addresses must be written [addr]:port", false;
    for (const char *c = s; c < colon; c++)
        if (isspace((unsigned char)*c)) return *why = "host must not contain spaces", false;
    const char *p = colon + 1;
    if (!*p) return *why = "missing port", false;
    long port = 0;
    for (; *p; p++) {
        if (!isdigit((unsigned char)*p)) return *why = "port must be a number", false;
        port = port * 10 + (*p - '0');
        if (port > 65535) return *why = "port must be between 0 and 65535", false;
    }
    if (port < min_port) return *why = "port must be between 1 and 65535", false;
    return true;
}

rmq_err_t rmq_cfg_parse_peer(const char *s, int32_t *id, char *host, size_t hostlen, uint16_t *port) {
    if (!s) return RMQ_ERR_INVALID_ARG;
    const char *at = strchr(s, '@');
    if (!at || at == s) return RMQ_ERR_INVALID_ARG;
    long long v = 0;
    for (const char *c = s; c < at; c++) {
        if (!isdigit((unsigned char)*c)) return RMQ_ERR_INVALID_ARG;
        v = v * 10 + (*c - '0');
        if (v > INT32_MAX) return RMQ_ERR_INVALID_ARG;
    }
    if (v < 1) return RMQ_ERR_INVALID_ARG;
    const char *why;
    if (!hostport_ok(at + 1, 1, &why)) return RMQ_ERR_INVALID_ARG;
    const char *colon = strrchr(at + 1, ':');
    if (id) *id = (int32_t)v;
    if (host && hostlen) {
        size_t hl = (size_t)(colon - (at + 1));
        if (hl >= hostlen) return RMQ_ERR_INVALID_ARG;
        memcpy(host, at + 1, hl);
        host[hl] = 0;
    }
    if (port) *port = (uint16_t)atoi(colon + 1);
    return RMQ_NONE;
}

/* ---- generic engine ---------------------------------------------------------------------- */

typedef struct {
    const rmq_cfg_field_t *schema;
    size_t n;
    void *base;
    const char *path;   /* file name for messages, or NULL */
    uint32_t *src_line; /* per field: line in the file, 0 = not from the file */
    const char **src_env; /* per field: environment variable that set it, or NULL */
    char *errbuf;
    size_t errlen;
} cfgctx_t;

#define FIELD_PTR(base, f) ((void *)((char *)(base) + (f)->offset))

static void free_field(void *base, const rmq_cfg_field_t *f) {
    void *p = FIELD_PTR(base, f);
    if (f->type == RMQ_CFG_STRING) {
        free(*(char **)p);
        *(char **)p = NULL;
    } else if (f->type == RMQ_CFG_STRARRAY) {
        rmq_cfg_strv_t *v = p;
        for (size_t i = 0; i < v->n; i++) free(v->items[i]);
        free(v->items);
        v->items = NULL;
        v->n = 0;
    }
}

static void free_all(const rmq_cfg_field_t *schema, size_t n, void *base) {
    for (size_t i = 0; i < n; i++) free_field(base, &schema[i]);
}

/* Where a field's value came from, for messages: "<file>:<line>",
 * "env RUSTMQ_X" or "default". */
static void origin(const cfgctx_t *c, size_t fi, char *buf, size_t len) {
    if (c->src_env && c->src_env[fi]) snprintf(buf, len, "env %s", c->src_env[fi]);
    else if (c->src_line && c->src_line[fi]) snprintf(buf, len, "%s:%u", c->path ? c->path : "?", (unsigned)c->src_line[fi]);
    else snprintf(buf, len, "default");
}

__attribute__((format(printf, 3, 4))) static rmq_err_t cfg_fail(cfgctx_t *c, rmq_err_t code, const char *fmt, ...) {
    if (c->errbuf && c->errlen) {
        int n = snprintf(c->errbuf, c->errlen, "config error: ");
        if (n >= 0 && (size_t)n < c->errlen) {
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(c->errbuf + n, c->errlen - (size_t)n, fmt, ap);
            va_end(ap);
        }
    }
    return code;
}

static bool choice_ok(const char *choices, const char *v) {
    size_t vl = strlen(v);
    const char *p = choices;
    while (*p) {
        const char *bar = strchr(p, '|');
        size_t l = bar ? (size_t)(bar - p) : strlen(p);
        if (l == vl && strncmp(p, v, l) == 0) return true;
        if (!bar) break;
        p = bar + 1;
    }
    return false;
}

/* Checks that apply to a finished string / list value. why receives the reason. */
static bool check_string(const rmq_cfg_field_t *f, const char *v, char *why, size_t wl) {
    const char *r;
    if (f->choices && !choice_ok(f->choices, v)) {
        snprintf(why, wl, "must be one of %s, got \"%s\"", f->choices, v);
        return false;
    }
    switch (f->check) {
    case RMQ_CFG_CHECK_NONEMPTY:
        if (!*v) return snprintf(why, wl, "must not be empty"), false;
        break;
    case RMQ_CFG_CHECK_HOSTPORT_OR_EMPTY:
        if (!*v) break;
        /* fallthrough */
    case RMQ_CFG_CHECK_HOSTPORT:
        if (!hostport_ok(v, 0, &r)) return snprintf(why, wl, "%s, got \"%s\"", r, v), false;
        break;
    case RMQ_CFG_CHECK_ENDPOINTS:
        if (!hostport_ok(v, 1, &r)) return snprintf(why, wl, "%s, got \"%s\"", r, v), false;
        break;
    case RMQ_CFG_CHECK_PEERS:
        if (rmq_cfg_parse_peer(v, NULL, NULL, 0, NULL) != RMQ_NONE)
            return snprintf(why, wl, "must be \"id@host:port\" with id >= 1, got \"%s\"", v), false;
        break;
    default:
        break;
    }
    return true;
}

static bool check_int_range(const rmq_cfg_field_t *f, int64_t v, char *why, size_t wl) {
    if (v < f->min || v > f->max) {
        snprintf(why, wl, "must be between %" PRId64 " and %" PRId64 ", got %" PRId64, f->min, f->max, v);
        return false;
    }
    return true;
}

static bool check_size_range(const rmq_cfg_field_t *f, uint64_t v, char *why, size_t wl) {
    if (v < (uint64_t)f->min || v > (uint64_t)f->max) {
        snprintf(why, wl, "must be between %" PRId64 " and %" PRId64 ", got %" PRIu64, f->min, f->max, v);
        return false;
    }
    return true;
}

static char *dupstr(const char *s, size_t n) {
    char *d = malloc(n + 1);
    if (!d) return NULL;
    memcpy(d, s, n);
    d[n] = 0;
    return d;
}

/* Store an owned string list (takes ownership of items on success). */
static void store_strv(void *base, const rmq_cfg_field_t *f, char **items, size_t n) {
    free_field(base, f);
    rmq_cfg_strv_t *v = FIELD_PTR(base, f);
    v->items = items;
    v->n = n;
}

static rmq_err_t check_peers_unique(char **items, size_t n, char *why, size_t wl) {
    for (size_t i = 0; i < n; i++) {
        int32_t a;
        if (rmq_cfg_parse_peer(items[i], &a, NULL, 0, NULL) != RMQ_NONE) continue;
        for (size_t j = i + 1; j < n; j++) {
            int32_t b;
            if (rmq_cfg_parse_peer(items[j], &b, NULL, 0, NULL) == RMQ_NONE && a == b) {
                snprintf(why, wl, "peer id %d appears twice", (int)a);
                return RMQ_ERR_CONFIG;
            }
        }
    }
    return RMQ_NONE;
}

/* Set field f from a textual value (defaults and environment). */
static rmq_err_t set_from_text(void *base, const rmq_cfg_field_t *f, const char *s, char *why, size_t wl) {
    void *p = FIELD_PTR(base, f);
    switch (f->type) {
    case RMQ_CFG_INT32:
    case RMQ_CFG_INT64: {
        char *end;
        errno = 0;
        long long v = strtoll(s, &end, 10);
        /* strtoll skips leading blanks but stops at trailing ones: take neither */
        if (!*s || isspace((unsigned char)*s) || *end || errno == ERANGE) return snprintf(why, wl, "expected an integer, got \"%s\"", s), RMQ_ERR_CONFIG;
        if (!check_int_range(f, v, why, wl)) return RMQ_ERR_CONFIG;
        if (f->type == RMQ_CFG_INT32) *(int32_t *)p = (int32_t)v;
        else *(int64_t *)p = v;
        return RMQ_NONE;
    }
    case RMQ_CFG_SIZE: {
        uint64_t v;
        if (rmq_cfg_parse_size(s, &v) != RMQ_NONE)
            return snprintf(why, wl, "expected a size in bytes (e.g. 1048576 or \"1MiB\"), got \"%s\"", s), RMQ_ERR_CONFIG;
        if (!check_size_range(f, v, why, wl)) return RMQ_ERR_CONFIG;
        *(uint64_t *)p = v;
        return RMQ_NONE;
    }
    case RMQ_CFG_BOOL:
        if (!strcasecmp(s, "true") || !strcmp(s, "1") || !strcasecmp(s, "yes") || !strcasecmp(s, "on")) *(bool *)p = true;
        else if (!strcasecmp(s, "false") || !strcmp(s, "0") || !strcasecmp(s, "no") || !strcasecmp(s, "off")) *(bool *)p = false;
        else return snprintf(why, wl, "expected true or false, got \"%s\"", s), RMQ_ERR_CONFIG;
        return RMQ_NONE;
    case RMQ_CFG_DOUBLE: {
        char *end;
        errno = 0;
        double v = strtod(s, &end);
        if (!*s || isspace((unsigned char)*s) || *end || errno == ERANGE || !isfinite(v)) return snprintf(why, wl, "expected a number, got \"%s\"", s), RMQ_ERR_CONFIG;
        if (v < (double)f->min || v > (double)f->max) return snprintf(why, wl, "must be between %" PRId64 " and %" PRId64 ", got %g", f->min, f->max, v), RMQ_ERR_CONFIG;
        *(double *)p = v;
        return RMQ_NONE;
    }
    case RMQ_CFG_STRING: {
        if (!check_string(f, s, why, wl)) return RMQ_ERR_CONFIG;
        char *d = dupstr(s, strlen(s));
        if (!d) return snprintf(why, wl, "out of memory"), RMQ_ERR_NOMEM;
        free(*(char **)p);
        *(char **)p = d;
        return RMQ_NONE;
    }
    case RMQ_CFG_STRARRAY: {
        /* comma-separated; empty string = empty list */
        char **items = NULL;
        size_t n = 0;
        const char *c = s;
        while (*c) {
            const char *comma = strchr(c, ',');
            size_t l = comma ? (size_t)(comma - c) : strlen(c);
            while (l && isspace((unsigned char)*c)) c++, l--;
            while (l && isspace((unsigned char)c[l - 1])) l--;
            char *item = dupstr(c, l);
            char **ni = item ? realloc(items, (n + 1) * sizeof(*ni)) : NULL;
            if (!ni) {
                free(item);
                for (size_t i = 0; i < n; i++) free(items[i]);
                free(items);
                return snprintf(why, wl, "out of memory"), RMQ_ERR_NOMEM;
            }
            items = ni;
            items[n++] = item;
            if (!check_string(f, item, why, wl)) {
                for (size_t i = 0; i < n; i++) free(items[i]);
                free(items);
                return RMQ_ERR_CONFIG;
            }
            if (!comma) break;
            c = comma + 1;
        }
        if (f->check == RMQ_CFG_CHECK_PEERS && check_peers_unique(items, n, why, wl) != RMQ_NONE) {
            for (size_t i = 0; i < n; i++) free(items[i]);
            free(items);
            return RMQ_ERR_CONFIG;
        }
        store_strv(base, f, items, n);
        return RMQ_NONE;
    }
    }
    return snprintf(why, wl, "unsupported type"), RMQ_ERR_CONFIG;
}

/* Set field f from a TOML node. */
static rmq_err_t set_from_node(void *base, const rmq_cfg_field_t *f, const rmq_toml_node_t *n, char *why, size_t wl) {
    rmq_toml_type_t t = rmq_toml_type(n);
    void *p = FIELD_PTR(base, f);
    switch (f->type) {
    case RMQ_CFG_INT32:
    case RMQ_CFG_INT64: {
        int64_t v;
        if (!rmq_toml_get_int(n, &v)) return snprintf(why, wl, "expected an integer, got %s", rmq_toml_type_name(t)), RMQ_ERR_CONFIG;
        if (!check_int_range(f, v, why, wl)) return RMQ_ERR_CONFIG;
        if (f->type == RMQ_CFG_INT32) *(int32_t *)p = (int32_t)v;
        else *(int64_t *)p = v;
        return RMQ_NONE;
    }
    case RMQ_CFG_SIZE: {
        int64_t iv;
        const char *s;
        uint64_t v;
        if (rmq_toml_get_int(n, &iv)) {
            if (iv < 0) return snprintf(why, wl, "must be between %" PRId64 " and %" PRId64 ", got %" PRId64, f->min, f->max, iv), RMQ_ERR_CONFIG;
            v = (uint64_t)iv;
        } else if (rmq_toml_get_string(n, &s, NULL)) {
            if (rmq_cfg_parse_size(s, &v) != RMQ_NONE)
                return snprintf(why, wl, "expected a size in bytes (e.g. 1048576 or \"1MiB\"), got \"%s\"", s), RMQ_ERR_CONFIG;
        } else {
            return snprintf(why, wl, "expected a size (integer or string like \"1MiB\"), got %s", rmq_toml_type_name(t)), RMQ_ERR_CONFIG;
        }
        if (!check_size_range(f, v, why, wl)) return RMQ_ERR_CONFIG;
        *(uint64_t *)p = v;
        return RMQ_NONE;
    }
    case RMQ_CFG_BOOL:
        if (!rmq_toml_get_bool(n, (bool *)p)) return snprintf(why, wl, "expected a boolean, got %s", rmq_toml_type_name(t)), RMQ_ERR_CONFIG;
        return RMQ_NONE;
    case RMQ_CFG_DOUBLE: {
        double v;
        int64_t iv;
        if (rmq_toml_get_int(n, &iv)) v = (double)iv;
        else if (!rmq_toml_get_float(n, &v)) return snprintf(why, wl, "expected a number, got %s", rmq_toml_type_name(t)), RMQ_ERR_CONFIG;
        if (!isfinite(v) || v < (double)f->min || v > (double)f->max)
            return snprintf(why, wl, "must be between %" PRId64 " and %" PRId64 ", got %g", f->min, f->max, v), RMQ_ERR_CONFIG;
        *(double *)p = v;
        return RMQ_NONE;
    }
    case RMQ_CFG_STRING: {
        const char *s;
        size_t l;
        if (!rmq_toml_get_string(n, &s, &l)) return snprintf(why, wl, "expected a string, got %s", rmq_toml_type_name(t)), RMQ_ERR_CONFIG;
        if (strlen(s) != l) return snprintf(why, wl, "string must not contain NUL characters"), RMQ_ERR_CONFIG;
        if (!check_string(f, s, why, wl)) return RMQ_ERR_CONFIG;
        char *d = dupstr(s, l);
        if (!d) return snprintf(why, wl, "out of memory"), RMQ_ERR_NOMEM;
        free(*(char **)p);
        *(char **)p = d;
        return RMQ_NONE;
    }
    case RMQ_CFG_STRARRAY: {
        if (t != RMQ_TOML_ARRAY) return snprintf(why, wl, "expected an array of strings, got %s", rmq_toml_type_name(t)), RMQ_ERR_CONFIG;
        size_t cnt = rmq_toml_array_len(n);
        char **items = cnt ? calloc(cnt, sizeof(*items)) : NULL;
        if (cnt && !items) return snprintf(why, wl, "out of memory"), RMQ_ERR_NOMEM;
        rmq_err_t e = RMQ_NONE;
        for (size_t i = 0; i < cnt && e == RMQ_NONE; i++) {
            const char *s;
            size_t l;
            const rmq_toml_node_t *it = rmq_toml_array_at(n, i);
            if (!rmq_toml_get_string(it, &s, &l)) {
                snprintf(why, wl, "item %zu: expected a string, got %s", i, rmq_toml_type_name(rmq_toml_type(it)));
                e = RMQ_ERR_CONFIG;
            } else if (strlen(s) != l) {
                snprintf(why, wl, "item %zu: string must not contain NUL characters", i);
                e = RMQ_ERR_CONFIG;
            } else if (!check_string(f, s, why, wl)) {
                e = RMQ_ERR_CONFIG;
            } else if (!(items[i] = dupstr(s, l))) {
                snprintf(why, wl, "out of memory");
                e = RMQ_ERR_NOMEM;
            }
        }
        if (e == RMQ_NONE && f->check == RMQ_CFG_CHECK_PEERS) e = check_peers_unique(items, cnt, why, wl);
        if (e != RMQ_NONE) {
            for (size_t i = 0; i < cnt; i++) free(items[i]);
            free(items);
            return e;
        }
        store_strv(base, f, items, cnt);
        return RMQ_NONE;
    }
    }
    return snprintf(why, wl, "unsupported type"), RMQ_ERR_CONFIG;
}

static rmq_err_t apply_defaults(const rmq_cfg_field_t *schema, size_t n, void *base) {
    char why[256];
    for (size_t i = 0; i < n; i++) {
        rmq_err_t e = set_from_text(base, &schema[i], schema[i].def, why, sizeof why);
        if (e != RMQ_NONE) {
            free_all(schema, n, base);
            return e;
        }
    }
    return RMQ_NONE;
}

static long find_field(const rmq_cfg_field_t *schema, size_t n, const char *sec, size_t seclen, const char *key,
                       size_t keylen) {
    for (size_t i = 0; i < n; i++)
        if (strlen(schema[i].section) == seclen && !strncmp(schema[i].section, sec, seclen) &&
            strlen(schema[i].key) == keylen && !strncmp(schema[i].key, key, keylen))
            return (long)i;
    return -1;
}

static bool section_known(const rmq_cfg_field_t *schema, size_t n, const char *sec, size_t seclen) {
    for (size_t i = 0; i < n; i++)
        if (strlen(schema[i].section) == seclen && !strncmp(schema[i].section, sec, seclen)) return true;
    return false;
}

static char *read_whole_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    struct stat st;
    if (fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode)) { /* fopen succeeds on a directory */
        fclose(f);
        errno = EISDIR;
        return NULL;
    }
    char *buf = NULL;
    size_t cap = 0, n = 0;
    for (;;) {
        if (n == cap) {
            cap = cap ? cap * 2 : 8192;
            if (cap > (64u << 20)) { /* a config file is never this big */
                free(buf);
                fclose(f);
                errno = EFBIG;
                return NULL;
            }
            char *nb = realloc(buf, cap);
            if (!nb) {
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = nb;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0) break;
    }
    bool err = ferror(f);
    fclose(f);
    if (err) {
        free(buf);
        errno = EIO;
        return NULL;
    }
    *len = n;
    return buf;
}

static rmq_err_t load_file(cfgctx_t *c) {
    size_t len = 0;
    char *text = read_whole_file(c->path, &len);
    if (!text) return cfg_fail(c, RMQ_ERR_IO, "%s: cannot read: %s", c->path, strerror(errno));
    rmq_toml_t *doc = NULL;
    char terr[256];
    rmq_err_t e = rmq_toml_parse(text, len, &doc, terr, sizeof terr);
    free(text);
    if (e != RMQ_NONE) return cfg_fail(c, e, "%s: %s", c->path, terr);
    const rmq_toml_node_t *root = rmq_toml_root(doc);
    for (size_t si = 0; si < rmq_toml_table_count(root); si++) {
        const char *sec;
        size_t seclen;
        const rmq_toml_node_t *st = rmq_toml_table_at(root, si, &sec, &seclen);
        if (rmq_toml_type(st) != RMQ_TOML_TABLE) {
            e = cfg_fail(c, RMQ_ERR_CONFIG, "%s:%u: key %s: top-level keys are not allowed, put it in a [section]",
                         c->path, (unsigned)rmq_toml_line(st), sec);
            goto out;
        }
        if (!section_known(c->schema, c->n, sec, seclen)) {
            e = cfg_fail(c, RMQ_ERR_CONFIG, "%s:%u: unknown section [%s]", c->path, (unsigned)rmq_toml_line(st), sec);
            goto out;
        }
        for (size_t ki = 0; ki < rmq_toml_table_count(st); ki++) {
            const char *key;
            size_t keylen;
            const rmq_toml_node_t *v = rmq_toml_table_at(st, ki, &key, &keylen);
            long fi = find_field(c->schema, c->n, sec, seclen, key, keylen);
            if (fi < 0) {
                e = cfg_fail(c, RMQ_ERR_CONFIG, "%s:%u: unknown key %s.%s", c->path, (unsigned)rmq_toml_line(v), sec, key);
                goto out;
            }
            char why[256];
            e = set_from_node(c->base, &c->schema[fi], v, why, sizeof why);
            if (e != RMQ_NONE) {
                cfg_fail(c, e, "%s:%u: key %s.%s: %s", c->path, (unsigned)rmq_toml_line(v), sec, key, why);
                goto out;
            }
            c->src_line[fi] = rmq_toml_line(v);
        }
    }
out:
    rmq_toml_free(doc);
    return e;
}

static rmq_err_t apply_env(cfgctx_t *c, const rmq_cfg_field_t *other, size_t nother) {
    char why[256];
    /* specific aliases first, the generic form wins if both are set */
    for (size_t i = 0; i < c->n; i++) {
        const rmq_cfg_field_t *f = &c->schema[i];
        if (!f->env) continue;
        const char *v = getenv(f->env);
        if (!v) continue;
        rmq_err_t e = set_from_text(c->base, f, v, why, sizeof why);
        if (e != RMQ_NONE) return cfg_fail(c, e, "env %s: key %s.%s: %s", f->env, f->section, f->key, why);
        c->src_env[i] = f->env;
    }
    for (char **ep = environ; ep && *ep; ep++) {
        const char *kv = *ep;
        if (strncmp(kv, "RUSTMQ_", 7) != 0) continue;
        const char *eq = strchr(kv, '=');
        const char *sep = strstr(kv + 7, "__");
        if (!eq || !sep || sep > eq) continue;
        char sec[64], key[64];
        size_t sl = (size_t)(sep - (kv + 7)), kl = (size_t)(eq - (sep + 2));
        if (sl == 0 || kl == 0 || sl >= sizeof sec || kl >= sizeof key) continue;
        for (size_t i = 0; i < sl; i++) sec[i] = (char)tolower((unsigned char)kv[7 + i]);
        for (size_t i = 0; i < kl; i++) key[i] = (char)tolower((unsigned char)sep[2 + i]);
        sec[sl] = key[kl] = 0;
        long fi = find_field(c->schema, c->n, sec, sl, key, kl);
        char name[160];
        snprintf(name, sizeof name, "%.*s", (int)(eq - kv), kv);
        if (fi < 0) {
            /* the broker and the controller may share one environment */
            if (find_field(other, nother, sec, sl, key, kl) < 0)
                RMQ_WARN("config", "msg=\"ignoring unknown configuration variable\" var=%s", name);
            continue;
        }
        rmq_err_t e = set_from_text(c->base, &c->schema[fi], eq + 1, why, sizeof why);
        if (e != RMQ_NONE) return cfg_fail(c, e, "env %s: key %s.%s: %s", name, sec, key, why);
        c->src_env[fi] = kv; /* "NAME=value" from environ; origin_name() prints up to '=' */
    }
    return RMQ_NONE;
}

/* origin printing for env entries that point into environ ("NAME=value") */
static void origin_name(const cfgctx_t *c, size_t fi, char *buf, size_t len) {
    if (c->src_env && c->src_env[fi]) {
        const char *e = c->src_env[fi];
        const char *eq = strchr(e, '=');
        snprintf(buf, len, "env %.*s", eq ? (int)(eq - e) : (int)strlen(e), e);
        return;
    }
    origin(c, fi, buf, len);
}

static long idx_of(const cfgctx_t *c, const char *sec, const char *key) {
    return find_field(c->schema, c->n, sec, strlen(sec), key, strlen(key));
}

/* "config error: <origin of a>: key a.b (v) <relation> c.d (w)" */
static rmq_err_t cross_fail(cfgctx_t *c, const char *s1, const char *k1, const char *rel, const char *s2,
                            const char *k2, const char *v1, const char *v2) {
    long a = idx_of(c, s1, k1), b = idx_of(c, s2, k2);
    char oa[300], ob[300];
    origin_name(c, (size_t)a, oa, sizeof oa);
    origin_name(c, (size_t)b, ob, sizeof ob);
    return cfg_fail(c, RMQ_ERR_CONFIG, "%s: key %s.%s (%s) %s key %s.%s (%s, from %s)", oa, s1, k1, v1, rel, s2, k2,
                    v2, ob);
}

static char *join_path(const char *dir, const char *leaf) {
    size_t dl = strlen(dir);
    while (dl > 1 && dir[dl - 1] == '/') dl--;
    size_t ll = strlen(leaf);
    char *p = malloc(dl + 1 + ll + 1);
    if (!p) return NULL;
    memcpy(p, dir, dl);
    p[dl] = '/';
    memcpy(p + dl + 1, leaf, ll + 1);
    return p;
}

typedef rmq_err_t (*post_fn)(cfgctx_t *c);

static rmq_err_t load_generic(const rmq_cfg_field_t *schema, size_t n, const rmq_cfg_field_t *other, size_t nother,
                              void *base, const char *path, post_fn post, char *errbuf, size_t errlen) {
    if (errbuf && errlen) errbuf[0] = 0;
    uint32_t *lines = calloc(n, sizeof(*lines));
    const char **envs = calloc(n, sizeof(*envs));
    cfgctx_t c = {.schema = schema, .n = n, .base = base, .path = path, .src_line = lines, .src_env = envs,
                  .errbuf = errbuf, .errlen = errlen};
    if (!lines || !envs) {
        free(lines);
        free(envs);
        return cfg_fail(&c, RMQ_ERR_NOMEM, "out of memory");
    }
    rmq_err_t e = apply_defaults(schema, n, base);
    if (e != RMQ_NONE) {
        cfg_fail(&c, e, "out of memory");
    } else {
        if (path) e = load_file(&c);
        if (e == RMQ_NONE) e = apply_env(&c, other, nother);
        if (e == RMQ_NONE) e = post(&c);
        if (e != RMQ_NONE) free_all(schema, n, base);
    }
    free(lines);
    free(envs);
    return e;
}

/* ---- broker --------------------------------------------------------------------------------- */

static rmq_err_t broker_post(cfgctx_t *c) {
    rmq_broker_config_t *b = c->base;
    char v1[64], v2[64];
    if (b->wal.segment_size_bytes > b->wal.capacity_bytes) {
        snprintf(v1, sizeof v1, "%" PRIu64, b->wal.segment_size_bytes);
        snprintf(v2, sizeof v2, "%" PRIu64, b->wal.capacity_bytes);
        return cross_fail(c, "wal", "segment_size_bytes", "must not exceed", "wal", "capacity_bytes", v1, v2);
    }
    if (b->topics.max_message_bytes > b->network.max_frame_bytes) {
        snprintf(v1, sizeof v1, "%" PRIu64, b->topics.max_message_bytes);
        snprintf(v2, sizeof v2, "%" PRIu64, b->network.max_frame_bytes);
        return cross_fail(c, "topics", "max_message_bytes", "must not exceed", "network", "max_frame_bytes", v1, v2);
    }
    if (b->groups.min_session_timeout_ms > b->groups.max_session_timeout_ms) {
        snprintf(v1, sizeof v1, "%" PRId64, b->groups.min_session_timeout_ms);
        snprintf(v2, sizeof v2, "%" PRId64, b->groups.max_session_timeout_ms);
        return cross_fail(c, "groups", "min_session_timeout_ms", "must not exceed", "groups", "max_session_timeout_ms",
                          v1, v2);
    }
    if (b->controller.heartbeat_interval_ms >= b->controller.election_timeout_ms) {
        snprintf(v1, sizeof v1, "%" PRId64, b->controller.heartbeat_interval_ms);
        snprintf(v2, sizeof v2, "%" PRId64, b->controller.election_timeout_ms);
        return cross_fail(c, "controller", "heartbeat_interval_ms", "must be less than", "controller",
                          "election_timeout_ms", v1, v2);
    }
    if (b->controller.heartbeat_interval_ms >= b->controller.session_timeout_ms) {
        snprintf(v1, sizeof v1, "%" PRId64, b->controller.heartbeat_interval_ms);
        snprintf(v2, sizeof v2, "%" PRId64, b->controller.session_timeout_ms);
        return cross_fail(c, "controller", "heartbeat_interval_ms", "must be less than", "controller",
                          "session_timeout_ms", v1, v2);
    }
    if (strcmp(b->object_storage.storage_type, "local") != 0 && !b->object_storage.bucket[0]) {
        snprintf(v1, sizeof v1, "\"%s\"", b->object_storage.storage_type);
        return cross_fail(c, "object_storage", "storage_type", "requires a non-empty", "object_storage", "bucket", v1,
                          "\"\"");
    }
    /* derived defaults */
    if (!b->wal.path[0]) {
        char *p = join_path(b->broker.data_dir, "wal");
        if (!p) return cfg_fail(c, RMQ_ERR_NOMEM, "out of memory");
        free(b->wal.path);
        b->wal.path = p;
    }
    if (!b->object_storage.path[0]) {
        char *p = join_path(b->broker.data_dir, "objects");
        if (!p) return cfg_fail(c, RMQ_ERR_NOMEM, "out of memory");
        free(b->object_storage.path);
        b->object_storage.path = p;
    }
    if (!b->network.advertised_listen[0]) {
        char *p = dupstr(b->network.listen, strlen(b->network.listen));
        if (!p) return cfg_fail(c, RMQ_ERR_NOMEM, "out of memory");
        free(b->network.advertised_listen);
        b->network.advertised_listen = p;
    }
    return RMQ_NONE;
}

rmq_err_t rmq_cfg_broker_defaults(rmq_broker_config_t *out) {
    if (!out) return RMQ_ERR_INVALID_ARG;
    memset(out, 0, sizeof(*out));
    return apply_defaults(broker_schema, NFIELDS(broker_schema), out);
}

rmq_err_t rmq_cfg_broker_load(const char *path, rmq_broker_config_t *out, char *errbuf, size_t errlen) {
    if (!out) return RMQ_ERR_INVALID_ARG;
    memset(out, 0, sizeof(*out));
    return load_generic(broker_schema, NFIELDS(broker_schema), controller_schema, NFIELDS(controller_schema), out,
                        path, broker_post, errbuf, errlen);
}

void rmq_cfg_broker_free(rmq_broker_config_t *cfg) {
    if (cfg) free_all(broker_schema, NFIELDS(broker_schema), cfg);
}

/* ---- controller ------------------------------------------------------------------------------ */

static rmq_err_t controller_post(cfgctx_t *c) {
    rmq_controller_config_t *k = c->base;
    char v1[64], v2[64];
    if (k->controller.heartbeat_interval_ms >= k->controller.election_timeout_ms) {
        snprintf(v1, sizeof v1, "%" PRId64, k->controller.heartbeat_interval_ms);
        snprintf(v2, sizeof v2, "%" PRId64, k->controller.election_timeout_ms);
        return cross_fail(c, "controller", "heartbeat_interval_ms", "must be less than", "controller",
                          "election_timeout_ms", v1, v2);
    }
    if (k->controller.peers.n) {
        bool found = false;
        for (size_t i = 0; i < k->controller.peers.n; i++) {
            int32_t id;
            if (rmq_cfg_parse_peer(k->controller.peers.items[i], &id, NULL, 0, NULL) == RMQ_NONE &&
                id == k->controller.node_id)
                found = true;
        }
        if (!found) {
            snprintf(v1, sizeof v1, "%d", (int)k->controller.node_id);
            return cross_fail(c, "controller", "node_id", "must appear in", "controller", "peers", v1, "list");
        }
    }
    return RMQ_NONE;
}

rmq_err_t rmq_cfg_controller_defaults(rmq_controller_config_t *out) {
    if (!out) return RMQ_ERR_INVALID_ARG;
    memset(out, 0, sizeof(*out));
    return apply_defaults(controller_schema, NFIELDS(controller_schema), out);
}

rmq_err_t rmq_cfg_controller_load(const char *path, rmq_controller_config_t *out, char *errbuf, size_t errlen) {
    if (!out) return RMQ_ERR_INVALID_ARG;
    memset(out, 0, sizeof(*out));
    return load_generic(controller_schema, NFIELDS(controller_schema), broker_schema, NFIELDS(broker_schema), out,
                        path, controller_post, errbuf, errlen);
}

void rmq_cfg_controller_free(rmq_controller_config_t *cfg) {
    if (cfg) free_all(controller_schema, NFIELDS(controller_schema), cfg);
}
