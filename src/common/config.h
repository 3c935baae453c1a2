/* config.h - validated broker and controller configuration.
 *
 * A schema-driven loader: one table per process lists every {section, key,
 * type, offset into the config struct, min, max, default, allowed values,
 * environment alias}. Loading = defaults, then the TOML file (parsed with
 * common/toml.h), then environment overrides, then cross-field checks and
 * derived defaults (wal.path = <data_dir>/wal, ...). Anything unknown, of the
 * wrong type or out of range stops the load with one message such as
 *   config error: /etc/rustmq/broker.toml:12: key wal.capacity_bytes: must be
 *   between 16777216 and 1099511627776, got 12
 * Environment: the aliases listed in docs/configuration.md (RUSTMQ_BROKER_ID,
 * RUSTMQ_WAL_PATH, ...) and the generic RUSTMQ_<SECTION>__<KEY> form
 * (RUSTMQ_WAL__CAPACITY_BYTES=...); a bad value names the variable.
 *
 * Strings in the structs are owned by the struct (malloc'd); release them with
 * rmq_cfg_broker_free / rmq_cfg_controller_free. Sizes accept an integer
 * number of bytes or a string with a unit ("10GiB", "128 MiB", "64KB"). */
#ifndef RMQ_COMMON_CONFIG_H
#define RMQ_COMMON_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

/* A list of strings, owned by the config struct. */
typedef struct rmq_cfg_strv {
    char **items;
    size_t n;
} rmq_cfg_strv_t;

typedef struct rmq_broker_config {
    struct {
        int32_t id;
        char *rack_id;
        char *data_dir;
        int64_t latency_thread_slice_us; /* I/O + WAL writer threads: 0 = kernel default */
        int64_t latency_thread_nice;     /* 0 = leave; negative needs CAP_SYS_NICE */
    } broker;
    struct {
        char *listen;
        char *advertised_listen; /* resolved: "" -> listen */
        char *quic_listen;       /* "" = QUIC disabled */
        char *rpc_listen;
        int64_t max_connections;
        int64_t connection_timeout_ms;
        uint64_t max_frame_bytes;
        int64_t max_inflight_requests;
        uint64_t max_buffered_request_bytes; /* 0 = unlimited */
        int64_t io_threads;
        uint64_t socket_send_buffer_bytes;    /* 0 = OS default */
        uint64_t socket_receive_buffer_bytes; /* 0 = OS default */
    } network;
    struct {
        char *path; /* resolved: "" -> <data_dir>/wal */
        uint64_t capacity_bytes;
        bool fsync_on_write;
        uint64_t segment_size_bytes;
        uint64_t buffer_size;
        int64_t upload_interval_ms;
        int64_t flush_interval_ms;
        bool direct_io;
        bool io_uring;
        bool prefill_segments;
    } wal;
    struct {
        uint64_t write_cache_size_bytes;
        uint64_t read_cache_size_bytes;
        char *eviction_policy; /* "lru" */
    } cache;
    struct {
        char *storage_type; /* "local" | "s3" | "gcs" */
        char *path;         /* local backend; resolved: "" -> <data_dir>/objects */
        char *bucket;
        char *region;
        char *endpoint;
        char *access_key;
        char *secret_key;
        bool path_style;
        uint64_t multipart_threshold;
        int64_t max_concurrent_uploads;
        uint64_t upload_bandwidth_bytes_per_sec; /* 0 = unlimited */
    } object_storage;
    struct {
        rmq_cfg_strv_t endpoints; /* empty = embedded single-voter controller */
        int64_t election_timeout_ms;
        int64_t heartbeat_interval_ms;
        int64_t session_timeout_ms;
    } controller;
    struct {
        int64_t min_in_sync_replicas;
        int64_t ack_timeout_ms;
        int64_t max_replication_lag; /* ms a follower may lag before leaving the ISR */
    } replication;
    struct {
        bool auto_create;
        int64_t default_partitions;
        int64_t default_replication_factor;
        uint64_t max_message_bytes;
        int64_t retention_ms;    /* -1 = forever */
        int64_t retention_bytes; /* -1 = unlimited */
    } topics;
    struct {
        int64_t initial_rebalance_delay_ms;
        int64_t offsets_retention_minutes;
        int64_t min_session_timeout_ms;
        int64_t max_session_timeout_ms;
    } groups;
    struct {
        bool enabled;
        uint64_t memory_limit_bytes;
        int64_t execution_timeout_ms;
        int64_t max_concurrent_executions;
    } etl;
    struct {
        char *listen;
        bool enabled;
        bool rate_limit_enabled;
        double global_rps, global_burst, per_ip_rps, per_ip_burst;
        int64_t max_tracked_ips;
        double health_rps, read_rps, write_rps, cluster_rps;
    } admin;
    struct {
        char *level; /* trace|debug|info|warn|error */
    } log;
} rmq_broker_config_t;

typedef struct rmq_controller_config {
    struct {
        int32_t node_id;
        char *raft_listen;
        char *rpc_listen;
        char *http_listen;
        rmq_cfg_strv_t peers; /* "id@host:port"; empty = single voter */
        char *data_dir;
        int64_t election_timeout_ms;
        int64_t heartbeat_interval_ms;
        int64_t snapshot_threshold;
    } controller;
    struct {
        char *level;
    } log;
} rmq_controller_config_t;

/* ---- schema (also used by the docs test) ---- */

typedef enum {
    RMQ_CFG_INT32 = 1,
    RMQ_CFG_INT64,
    RMQ_CFG_SIZE, /* uint64 bytes; integer or "10GiB" */
    RMQ_CFG_BOOL,
    RMQ_CFG_STRING,
    RMQ_CFG_STRARRAY,
    RMQ_CFG_DOUBLE,
} rmq_cfg_type_t;

typedef enum {
    RMQ_CFG_CHECK_NONE = 0,
    RMQ_CFG_CHECK_NONEMPTY,
    RMQ_CFG_CHECK_HOSTPORT,          /* host:port, port 0..65535 */
    RMQ_CFG_CHECK_HOSTPORT_OR_EMPTY, /* "" or host:port */
    RMQ_CFG_CHECK_ENDPOINTS,         /* every item host:port, port 1..65535 */
    RMQ_CFG_CHECK_PEERS,             /* every item id@host:port, ids unique */
} rmq_cfg_check_t;

typedef struct rmq_cfg_field {
    const char *section;
    const char *key;
    rmq_cfg_type_t type;
    size_t offset;
    int64_t min, max;     /* INT32/INT64/SIZE (SIZE as uint64 within int64 range) */
    const char *def;      /* default, written as in an environment variable */
    const char *choices;  /* "a|b|c" for enumerated strings, else NULL */
    rmq_cfg_check_t check;
    const char *env;      /* extra environment alias, or NULL */
    const char *help;     /* one line for docs */
} rmq_cfg_field_t;

/* The static schemas; *n receives the number of entries. */
const rmq_cfg_field_t *rmq_cfg_broker_schema(size_t *n);
const rmq_cfg_field_t *rmq_cfg_controller_schema(size_t *n);

/* ---- broker ---- */

/* Fill *out with the embedded defaults (owned strings; free with
 * rmq_cfg_broker_free). Fails only on out-of-memory. */
rmq_err_t rmq_cfg_broker_defaults(rmq_broker_config_t *out);
/* Defaults, then the file at path (NULL = no file), then the environment,
 * then validation. On failure *out holds nothing (already freed), the error
 * is RMQ_ERR_CONFIG (or RMQ_ERR_PARSE for TOML syntax, RMQ_ERR_IO for an
 * unreadable file, RMQ_ERR_NOMEM) and errbuf holds "config error: ...". */
rmq_err_t rmq_cfg_broker_load(const char *path, rmq_broker_config_t *out, char *errbuf, size_t errlen);
void rmq_cfg_broker_free(rmq_broker_config_t *cfg);

/* ---- controller ---- */

rmq_err_t rmq_cfg_controller_defaults(rmq_controller_config_t *out);
rmq_err_t rmq_cfg_controller_load(const char *path, rmq_controller_config_t *out, char *errbuf, size_t errlen);
void rmq_cfg_controller_free(rmq_controller_config_t *cfg);

/* Parse a size: "123", "64KiB", "10 GiB", "1GB" (KB/MB/GB/TB are powers of
 * 1000, KiB/MiB/GiB/TiB powers of 1024, "B" allowed). */
rmq_err_t rmq_cfg_parse_size(const char *s, uint64_t *out);

/* Split "id@host:port" into its parts (host written to host[hostlen]). */
rmq_err_t rmq_cfg_parse_peer(const char *s, int32_t *id, char *host, size_t hostlen, uint16_t *port);

#endif
