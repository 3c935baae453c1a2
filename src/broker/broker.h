/* broker.h - the Kafka broker: wires the frame server (net), the request
 * handlers, the storage engine (store) and the metadata store together.
 *
 * bin/broker.c fills rmq_broker_opts_t from the validated configuration and
 * calls rmq_broker_start / rmq_broker_stop; nothing else is global. */
#ifndef RMQ_BROKER_BROKER_H
#define RMQ_BROKER_BROKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "common/sched.h"

typedef struct rmq_broker rmq_broker_t;

typedef struct rmq_broker_opts {
    int32_t node_id;
    const char *rack;
    const char *data_dir;         /* metadata under <data_dir>/meta */
    const char *listen;           /* Kafka TCP "host:port" */
    const char *advertised;       /* "" = listen */
    int io_threads;
    uint32_t max_connections;
    uint32_t max_frame_bytes;
    uint32_t max_inflight;
    uint32_t idle_timeout_ms;
    uint64_t max_buffered_bytes; /* net memory budget, 0 = unlimited */
    int sndbuf, rcvbuf;
    rmq_sched_hint_t latency_sched; /* I/O threads and WAL writer (common/sched.h); zero = none */
    /* storage */
    const char *wal_dir;
    uint64_t wal_capacity_bytes;
    uint64_t wal_segment_bytes;
    bool fsync_on_write;
    uint64_t upload_interval_ms; /* seal the active segment this often (0 = size trigger only) */
    uint32_t flush_interval_ms;
    uint64_t write_cache_bytes;
    bool direct_io, io_uring, prefill_segments;
    /* topics */
    bool auto_create_topics;
    int32_t default_partitions;
    int16_t default_replication_factor;
    int32_t max_message_bytes; /* broker default for max.message.bytes */
    uint32_t shutdown_timeout_ms;
    /* admin REST API (single-node mode: served by the broker) */
    bool admin_enabled;
    const char *admin_listen;
    bool admin_rl_enabled;
    double admin_rl_global_rps, admin_rl_global_burst, admin_rl_ip_rps, admin_rl_ip_burst;
    uint32_t admin_rl_max_ips;
    double admin_rl_category_rps[4]; /* health, read, write, cluster (burst 2x) */
    /* consumer groups ([groups]; 0 = Kafka's default) */
    int64_t group_initial_rebalance_delay_ms;
    int64_t group_min_session_timeout_ms;
    int64_t group_max_session_timeout_ms;
    int64_t offsets_retention_minutes;
    /* controller quorum ([controller]; docs/cluster.md). No endpoints = the
     * embedded single-voter controller (single-node mode). Borrowed. */
    const char *const *controller_endpoints;
    size_t n_controller_endpoints;
    uint32_t controller_heartbeat_ms;
    uint32_t controller_session_timeout_ms;
    /* tiered storage (docs/tiering.md); strings borrowed until stop.
     * obj_type NULL/"" = "local" under <data_dir>/objects. */
    const char *obj_type, *obj_path, *obj_bucket, *obj_region, *obj_endpoint, *obj_access_key, *obj_secret_key;
    bool obj_path_style;
    uint64_t obj_multipart_threshold;        /* 0 = backend default */
    int32_t max_concurrent_uploads;          /* 0 = 2 */
    uint64_t upload_bandwidth_bytes_per_sec; /* 0 = unlimited */
    uint64_t read_cache_bytes;               /* tiered read cache, hot + cold (0 = none) */
    int64_t retention_ms, retention_bytes;   /* topic defaults; 0 = Kafka's, -1 = unlimited */
} rmq_broker_opts_t;

/* Open storage (recovery) and metadata, bind the listener and start the I/O
 * threads. On failure errbuf says why and *out is NULL. */
rmq_err_t rmq_broker_start(const rmq_broker_opts_t *o, rmq_broker_t **out, char *errbuf, size_t errlen);
/* The bound Kafka port. */
int rmq_broker_port(const rmq_broker_t *b);
/* "host:port" of the Kafka listener as bound (port 0 resolved) into buf. */
void rmq_broker_listener(const rmq_broker_t *b, char *buf, size_t cap);
/* Stop accepting, finish in-flight requests (up to shutdown_timeout_ms),
 * flush storage, free everything. */
void rmq_broker_stop(rmq_broker_t *b);

#endif
