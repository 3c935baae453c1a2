/* broker.c - main() of rustmq-broker: parse the command line, load and
 * validate the configuration, start the broker, wait for SIGTERM/SIGINT,
 * stop it cleanly. Nothing else lives here. */
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "broker/broker.h"
#include "common/config.h"
#include "common/log.h"

static void rmq_usage(FILE *f) {
    fprintf(f,
            "usage: rustmq-broker [--config FILE] [--help] [--version]\n"
            "\n"
            "Starts a RustMQ broker: a Kafka-compatible message queue.\n"
            "With no --config it runs on embedded defaults: data under ./data,\n"
            "Kafka listener on 127.0.0.1:9092, an embedded single-node controller.\n"
            "\n"
            "  --config FILE   TOML configuration (see config/broker.toml, docs/configuration.md)\n"
            "  --help          this text\n"
            "  --version       print the version and exit\n"
            "\n"
            "Environment: RUSTMQ_LOG_LEVEL, RUSTMQ_BROKER_ID, RUSTMQ_WAL_PATH, ... and\n"
            "RUSTMQ_<SECTION>__<KEY> override file values (docs/configuration.md).\n"
            "SIGTERM/SIGINT stop the broker gracefully (in-flight requests finish, the WAL is flushed).\n");
}

/* One malloc arena for the whole process (before any thread starts). A
 * write-cache batch is allocated by the I/O thread that received it and
 * freed by whichever thread evicts it, and glibc returns freed memory to
 * the arena it came from: with per-thread arenas, a producer whose
 * connection lands on another I/O thread than the previous one makes that
 * thread's arena grow by the whole write cache (256 MiB of new pages,
 * 70-96k page faults zeroed on the I/O thread) while the old arena's free
 * memory sits unused. Measured: p99 produce 50-450 ms instead of ~6 ms for
 * the first 1-2 s (bench/README.md, "step-3 stalls"). An operator's
 * GLIBC_TUNABLES=glibc.malloc.arena_max=N is kept. */
static void rmq_malloc_one_arena(void) {
    const char *t = getenv("GLIBC_TUNABLES");
    if (t && strstr(t, "arena_max")) return;
    mallopt(M_ARENA_MAX, 1);
}

/* Let 1000s of client connections open without EMFILE. */
static void rmq_raise_nofile(void) {
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

int main(int argc, char **argv) {
    rmq_malloc_one_arena();
    const char *config_path = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            rmq_usage(stdout);
            return 0;
        } else if (strcmp(argv[i], "--version") == 0) {
            printf("rustmq-broker %s\n", RMQ_VERSION);
            return 0;
        } else if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) {
            config_path = argv[++i];
        } else if (strncmp(argv[i], "--config=", 9) == 0) {
            config_path = argv[i] + 9;
        } else if (strcmp(argv[i], "--config") == 0) {
            fprintf(stderr, "rustmq-broker: --config needs a FILE\n\n");
            rmq_usage(stderr);
            return 2;
        } else {
            fprintf(stderr, "rustmq-broker: unknown argument '%s'\n\n", argv[i]);
            rmq_usage(stderr);
            return 2;
        }
    }

    rmq_broker_config_t cfg;
    char err[1024];
    if (rmq_cfg_broker_load(config_path, &cfg, err, sizeof err)) {
        fprintf(stderr, "rustmq-broker: %s\n", err);
        return 2;
    }
    int lvl = rmq_log_level_parse(cfg.log.level);
    if (lvl >= 0) rmq_log_set_level((rmq_log_level_t)lvl);
    rmq_raise_nofile();

    char wal_dir[4096];
    if (cfg.wal.path && *cfg.wal.path) snprintf(wal_dir, sizeof wal_dir, "%s", cfg.wal.path);
    else snprintf(wal_dir, sizeof wal_dir, "%s/wal", cfg.broker.data_dir);

    rmq_broker_opts_t o;
    memset(&o, 0, sizeof o);
    o.node_id = cfg.broker.id;
    o.rack = cfg.broker.rack_id;
    o.data_dir = cfg.broker.data_dir;
    o.listen = cfg.network.listen;
    o.advertised = cfg.network.advertised_listen;
    o.io_threads = (int)cfg.network.io_threads;
    o.max_connections = (uint32_t)cfg.network.max_connections;
    o.max_frame_bytes = (uint32_t)cfg.network.max_frame_bytes;
    o.max_inflight = (uint32_t)cfg.network.max_inflight_requests;
    o.idle_timeout_ms = (uint32_t)cfg.network.connection_timeout_ms;
    o.max_buffered_bytes = cfg.network.max_buffered_request_bytes;
    o.sndbuf = (int)cfg.network.socket_send_buffer_bytes;
    o.rcvbuf = (int)cfg.network.socket_receive_buffer_bytes;
    o.latency_sched.slice_us = (uint32_t)cfg.broker.latency_thread_slice_us;
    o.latency_sched.nice = (int)cfg.broker.latency_thread_nice;
    o.wal_dir = wal_dir;
    o.wal_capacity_bytes = (uint64_t)cfg.wal.capacity_bytes;
    o.wal_segment_bytes = (uint64_t)cfg.wal.segment_size_bytes;
    o.fsync_on_write = cfg.wal.fsync_on_write;
    o.upload_interval_ms = (uint64_t)cfg.wal.upload_interval_ms;
    o.flush_interval_ms = (uint32_t)cfg.wal.flush_interval_ms;
    o.write_cache_bytes = (uint64_t)cfg.cache.write_cache_size_bytes;
    o.direct_io = cfg.wal.direct_io;
    o.io_uring = cfg.wal.io_uring;
    o.prefill_segments = cfg.wal.prefill_segments;
    o.auto_create_topics = cfg.topics.auto_create;
    o.default_partitions = (int32_t)cfg.topics.default_partitions;
    o.default_replication_factor = (int16_t)cfg.topics.default_replication_factor;
    o.max_message_bytes = (int32_t)cfg.topics.max_message_bytes;
    o.shutdown_timeout_ms = 30000;
    o.admin_enabled = cfg.admin.enabled;
    o.admin_listen = cfg.admin.listen;
    o.admin_rl_enabled = cfg.admin.rate_limit_enabled;
    o.admin_rl_global_rps = cfg.admin.global_rps;
    o.admin_rl_global_burst = cfg.admin.global_burst;
    o.admin_rl_ip_rps = cfg.admin.per_ip_rps;
    o.admin_rl_ip_burst = cfg.admin.per_ip_burst;
    o.admin_rl_max_ips = (uint32_t)cfg.admin.max_tracked_ips;
    o.admin_rl_category_rps[0] = cfg.admin.health_rps;
    o.admin_rl_category_rps[1] = cfg.admin.read_rps;
    o.admin_rl_category_rps[2] = cfg.admin.write_rps;
    o.admin_rl_category_rps[3] = cfg.admin.cluster_rps;
    o.group_initial_rebalance_delay_ms = cfg.groups.initial_rebalance_delay_ms;
    o.group_min_session_timeout_ms = cfg.groups.min_session_timeout_ms;
    o.group_max_session_timeout_ms = cfg.groups.max_session_timeout_ms;
    o.offsets_retention_minutes = cfg.groups.offsets_retention_minutes;
    o.controller_endpoints = (const char *const *)cfg.controller.endpoints.items;
    o.n_controller_endpoints = cfg.controller.endpoints.n;
    o.controller_heartbeat_ms = (uint32_t)cfg.controller.heartbeat_interval_ms;
    o.controller_session_timeout_ms = (uint32_t)cfg.controller.session_timeout_ms;
    /* tiered storage */
    o.obj_type = cfg.object_storage.storage_type;
    o.obj_path = cfg.object_storage.path;
    o.obj_bucket = cfg.object_storage.bucket;
    o.obj_region = cfg.object_storage.region;
    o.obj_endpoint = cfg.object_storage.endpoint;
    o.obj_access_key = cfg.object_storage.access_key;
    o.obj_secret_key = cfg.object_storage.secret_key;
    o.obj_path_style = cfg.object_storage.path_style;
    o.obj_multipart_threshold = cfg.object_storage.multipart_threshold;
    o.max_concurrent_uploads = (int32_t)cfg.object_storage.max_concurrent_uploads;
    o.upload_bandwidth_bytes_per_sec = cfg.object_storage.upload_bandwidth_bytes_per_sec;
    o.read_cache_bytes = cfg.cache.read_cache_size_bytes;
    o.retention_ms = cfg.topics.retention_ms;
    o.retention_bytes = cfg.topics.retention_bytes;

    /* Block the stop signals before any thread starts so only sigwait sees them. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    rmq_broker_t *b = NULL;
    if (rmq_broker_start(&o, &b, err, sizeof err)) {
        RMQ_ERROR("main", "msg=\"startup failed\" reason=\"%s\"", err);
        rmq_cfg_broker_free(&cfg);
        return 1;
    }
    char listener[300];
    rmq_broker_listener(b, listener, sizeof listener);
    RMQ_INFO("main", "msg=\"ready\" version=%s node_id=%d listeners=PLAINTEXT://%s data_dir=%s wal=%s", RMQ_VERSION,
             o.node_id, listener, o.data_dir, wal_dir);
    int sig = 0;
    sigwait(&set, &sig);
    RMQ_INFO("main", "msg=\"stopping\" signal=%s", sig == SIGINT ? "SIGINT" : "SIGTERM");
    rmq_broker_stop(b);
    RMQ_INFO("main", "msg=\"stopped\"");
    rmq_cfg_broker_free(&cfg);
    return 0;
}
