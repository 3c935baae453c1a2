/* controller.c - main() of rustmq-controller: one member of the Raft
 * controller quorum (raft store + RPC listener), plus the `ctl` admin
 * subcommand that talks to a running quorum over the controller RPC.
 * Wiring only: the logic lives in src/controller/raft_store.c,
 * ctl_server.c and ctl_client.c.
 *
 * Exit codes (docs/controller.md): 0 clean stop, 1 runtime failure (bind,
 * raft storage I/O), 2 usage or configuration error (bad peers list, own
 * id missing, duplicate ids, unparseable addresses), 3 data dir of another
 * node or cluster, or corrupt raft data, 4 no quorum within
 * --startup-timeout-ms (only with that flag; by default the controller
 * keeps retrying and logs a warning every 5 s). ctl: 0 ok, 1 request failed,
 * 2 usage. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/dirlock.h"
#include "common/clock.h"
#include "common/config.h"
#include "common/log.h"
#include "common/metrics.h"
#include "controller/ctl_admin.h"
#include "controller/ctl_client.h"
#include "controller/ctl_proto.h"
#include "controller/ctl_server.h"
#include "controller/meta_cmd.h"
#include "controller/meta_state.h"
#include "controller/raft_store.h"

enum { EXIT_RUNTIME = 1, EXIT_USAGE = 2, EXIT_DATADIR = 3, EXIT_NO_QUORUM = 4 };

static void usage(FILE *f) {
    fprintf(f,
            "usage: rustmq-controller [--config FILE] [--join] [--startup-timeout-ms N] [--help] [--version]\n"
            "       rustmq-controller ctl --endpoints HOST:PORT[,HOST:PORT...] COMMAND [ARGS]\n"
            "\n"
            "Runs one voter of the RustMQ controller quorum (Raft over libraft/libuv):\n"
            "cluster metadata (topics, partitions, brokers) replicated to every voter.\n"
            "Serves the REST admin API and Prometheus /metrics on controller.http_listen\n"
            "(docs/admin-api.md; writes on the leader, consumer groups on the brokers).\n"
            "\n"
            "  --config FILE           TOML configuration (config/controller.toml, docs/controller.md)\n"
            "  --join                  start with an empty data dir without bootstrapping; wait to be\n"
            "                          added by `ctl add-voter` on the current quorum\n"
            "  --startup-timeout-ms N  exit with code 4 if no leader is known within N ms of start\n"
            "                          (default: keep retrying, warn every 5 s)\n"
            "  --help, --version\n"
            "\n"
            "ctl commands (output: one JSON object per line):\n"
            "  describe                       status of every endpoint\n"
            "  leader                         the leader's endpoint and node id\n"
            "  create-topic NAME PARTS [RF]   propose CreateTopic on the leader\n"
            "  delete-topic NAME              propose DeleteTopic\n"
            "  topics                         linearizable read (raft barrier) of all topics\n"
            "  add-voter ID RAFT_ADDR         raft_add + raft_assign(voter)\n"
            "  remove-voter ID                raft_remove\n"
            "\n"
            "Exit codes: 0 ok; 1 runtime failure; 2 usage/config error; 3 data dir of another\n"
            "node or cluster (or corrupt raft data); 4 no quorum within --startup-timeout-ms.\n"
            "SIGTERM/SIGINT stop the controller cleanly.\n");
}

/* ---------------------------------------------------------------- ctl ---- */

static void json_str(const char *s) {
    putchar('"');
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            printf("\\%c", *s);
        else if ((unsigned char)*s < 0x20)
            printf("\\u%04x", *s);
        else
            putchar(*s);
    }
    putchar('"');
}

static int ctl_topic_cb(void *ud, const rmq_meta_topic_t *t) {
    (void)ud;
    char id[23];
    rmq_meta_uuid_to_base64(&t->id, id);
    printf("{\"topic\":");
    json_str(t->name);
    printf(",\"id\":\"%s\",\"partitions\":%d,\"replication_factor\":%d}\n", id, t->n_partitions,
           t->replication_factor);
    return 0;
}

static int ctl_main(int argc, char **argv) {
    const char *eps = NULL;
    int i = 0;
    uint32_t timeout = 15000;
    for (; i < argc; i++) {
        if (!strcmp(argv[i], "--endpoints") && i + 1 < argc)
            eps = argv[++i];
        else if (!strncmp(argv[i], "--endpoints=", 12))
            eps = argv[i] + 12;
        else if (!strcmp(argv[i], "--timeout-ms") && i + 1 < argc)
            timeout = (uint32_t)atoi(argv[++i]);
        else
            break;
    }
    if (!eps || i >= argc) {
        usage(stderr);
        return EXIT_USAGE;
    }
    const char *list[RMQ_CTL_MAX_ENDPOINTS];
    char *copy = strdup(eps), *save = NULL;
    size_t n = 0;
    for (char *t = strtok_r(copy, ",", &save); t && n < RMQ_CTL_MAX_ENDPOINTS; t = strtok_r(NULL, ",", &save))
        list[n++] = t;
    rmq_ctl_client_t *c;
    if (rmq_ctl_client_new(list, n, timeout, &c)) {
        free(copy);
        fprintf(stderr, "rustmq-controller ctl: bad endpoints\n");
        return EXIT_USAGE;
    }
    const char *cmd = argv[i];
    int rc = 0;
    char msg[512] = "";
    if (!strcmp(cmd, "describe")) {
        for (size_t k = 0; k < n; k++) {
            rmq_ctl_describe_t d;
            rmq_err_t e = rmq_ctl_client_describe(c, k, &d, msg, sizeof msg);
            printf("{\"endpoint\":\"%s\"", list[k]);
            if (e) {
                printf(",\"error\":\"%s\"}\n", rmq_err_name(e));
                continue;
            }
            char cid[23] = "";
            if (d.has_cluster) rmq_meta_uuid_to_base64(&d.cluster_id, cid);
            static const char *roles[] = {"unavailable", "follower", "candidate", "leader"};
            printf(",\"node_id\":%d,\"role\":\"%s\",\"term\":%lld,\"leader_id\":%d,\"leader_ready\":%s,"
                   "\"last_applied\":%lld,\"commit_index\":%lld,\"meta_index\":%lld,\"meta_version\":%lld,"
                   "\"cluster_id\":\"%s\",\"topics\":%d,\"voters\":[",
                   d.node_id, roles[d.role & 3], (long long)d.term, d.leader_id, d.leader_ready ? "true" : "false",
                   (long long)d.last_applied, (long long)d.commit_index, (long long)d.meta_index,
                   (long long)d.meta_version, cid, d.topics);
            int first = 1;
            for (uint32_t s = 0; s < d.n_servers; s++) {
                if (d.servers[s].role != 1) continue;
                printf("%s%d", first ? "" : ",", d.servers[s].id);
                first = 0;
            }
            printf("]}\n");
        }
    } else if (!strcmp(cmd, "leader")) {
        size_t ep;
        rmq_err_t e = rmq_ctl_client_find_leader(c, &ep, msg, sizeof msg);
        if (e) {
            fprintf(stderr, "rustmq-controller ctl: %s\n", msg);
            rc = 1;
        } else {
            rmq_ctl_describe_t d;
            rmq_ctl_client_describe(c, ep, &d, NULL, 0);
            printf("{\"endpoint\":\"%s\",\"node_id\":%d,\"term\":%lld}\n", list[ep], d.node_id, (long long)d.term);
        }
    } else if (!strcmp(cmd, "create-topic") && i + 2 < argc) {
        rmq_meta_cmd_t mc = {.type = RMQ_META_CMD_CREATE_TOPIC};
        mc.u.create_topic.name = argv[i + 1];
        mc.u.create_topic.partitions = atoi(argv[i + 2]);
        mc.u.create_topic.replication_factor = (int16_t)(i + 3 < argc ? atoi(argv[i + 3]) : 1);
        rmq_meta_uuid_random(&mc.u.create_topic.topic_id);
        rmq_meta_result_t res;
        uint64_t t0 = rmq_mono_ns();
        rmq_err_t e = rmq_ctl_client_propose_cmd(c, &mc, &res);
        printf("{\"error\":\"%s\",\"index\":%lld,\"ms\":%.1f,\"msg\":", rmq_err_name(e), (long long)res.index,
               (double)(rmq_mono_ns() - t0) / 1e6);
        json_str(res.msg);
        printf("}\n");
        rmq_meta_result_free(&res);
        rc = e ? 1 : 0;
    } else if (!strcmp(cmd, "delete-topic") && i + 1 < argc) {
        rmq_meta_cmd_t mc = {.type = RMQ_META_CMD_DELETE_TOPIC};
        mc.u.delete_topic.name = argv[i + 1];
        rmq_meta_result_t res;
        rmq_err_t e = rmq_ctl_client_propose_cmd(c, &mc, &res);
        printf("{\"error\":\"%s\",\"index\":%lld,\"msg\":", rmq_err_name(e), (long long)res.index);
        json_str(res.msg);
        printf("}\n");
        rmq_meta_result_free(&res);
        rc = e ? 1 : 0;
    } else if (!strcmp(cmd, "topics")) {
        rmq_meta_state_t *st = rmq_meta_state_new(NULL);
        int64_t idx = 0;
        rmq_err_t e = rmq_ctl_client_read_state(c, st, &idx, msg, sizeof msg);
        if (e) {
            fprintf(stderr, "rustmq-controller ctl: %s\n", msg);
            rc = 1;
        } else {
            printf("{\"index\":%lld,\"topic_count\":%zu}\n", (long long)idx, rmq_meta_state_topic_count(st));
            rmq_meta_state_foreach_topic(st, ctl_topic_cb, NULL);
        }
        rmq_meta_state_free(st);
    } else if (!strcmp(cmd, "add-voter") && i + 2 < argc) {
        rmq_err_t e = rmq_ctl_client_add_voter(c, atoi(argv[i + 1]), argv[i + 2], msg, sizeof msg);
        printf("{\"error\":\"%s\",\"msg\":", rmq_err_name(e));
        json_str(msg);
        printf("}\n");
        rc = e ? 1 : 0;
    } else if (!strcmp(cmd, "remove-voter") && i + 1 < argc) {
        rmq_err_t e = rmq_ctl_client_remove_voter(c, atoi(argv[i + 1]), msg, sizeof msg);
        printf("{\"error\":\"%s\",\"msg\":", rmq_err_name(e));
        json_str(msg);
        printf("}\n");
        rc = e ? 1 : 0;
    } else {
        usage(stderr);
        rc = EXIT_USAGE;
    }
    fflush(stdout);
    rmq_ctl_client_free(c);
    free(copy);
    return rc;
}

/* ------------------------------------------------------------- server ---- */

int main(int argc, char **argv) {
    if (argc > 1 && !strcmp(argv[1], "ctl")) {
        rmq_log_init_env();
        if (rmq_log_level_current < RMQ_LOG_WARN) rmq_log_set_level(RMQ_LOG_WARN);
        return ctl_main(argc - 2, argv + 2);
    }
    const char *config_path = NULL;
    bool join = false;
    long startup_timeout_ms = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(argv[i], "--version")) {
            printf("rustmq-controller %s\n", RMQ_VERSION);
            return 0;
        } else if (!strcmp(argv[i], "--config") && i + 1 < argc) {
            config_path = argv[++i];
        } else if (!strncmp(argv[i], "--config=", 9)) {
            config_path = argv[i] + 9;
        } else if (!strcmp(argv[i], "--join")) {
            join = true;
        } else if (!strcmp(argv[i], "--startup-timeout-ms") && i + 1 < argc) {
            startup_timeout_ms = atol(argv[++i]);
        } else if (!strcmp(argv[i], "--config") || !strcmp(argv[i], "--startup-timeout-ms")) {
            fprintf(stderr, "rustmq-controller: %s needs a value\n\n", argv[i]);
            usage(stderr);
            return EXIT_USAGE;
        } else {
            fprintf(stderr, "rustmq-controller: unknown argument '%s'\n\n", argv[i]);
            usage(stderr);
            return EXIT_USAGE;
        }
    }
    rmq_controller_config_t cfg;
    char err[1024];
    if (rmq_cfg_controller_load(config_path, &cfg, err, sizeof err)) {
        fprintf(stderr, "rustmq-controller: %s\n", err);
        return EXIT_USAGE;
    }
    int lvl = rmq_log_level_parse(cfg.log.level);
    if (lvl >= 0) rmq_log_set_level((rmq_log_level_t)lvl);
    rmq_log_init_env();

    rmq_raft_peer_t peers[RMQ_RAFT_MAX_SERVERS];
    size_t n_peers = 0;
    if (rmq_raft_parse_peers(cfg.controller.peers.items, cfg.controller.peers.n, join ? 0 : cfg.controller.node_id,
                             peers, RMQ_RAFT_MAX_SERVERS, &n_peers, err, sizeof err)) {
        fprintf(stderr, "rustmq-controller: config error: controller.peers: %s\n", err);
        rmq_cfg_controller_free(&cfg);
        return EXIT_USAGE;
    }

    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    rmq_ctl_ring_t ring;
    if (rmq_ctl_ring_init(&ring, 8192, 16u << 20, 0)) {
        rmq_cfg_controller_free(&cfg);
        return EXIT_RUNTIME;
    }
    rmq_raft_store_opts_t o;
    memset(&o, 0, sizeof o);
    o.dir = cfg.controller.data_dir;
    o.node_id = cfg.controller.node_id;
    o.raft_address = cfg.controller.raft_listen;
    o.peers = peers;
    o.n_peers = n_peers;
    o.join = join;
    o.election_timeout_ms = (uint32_t)cfg.controller.election_timeout_ms;
    o.heartbeat_ms = (uint32_t)cfg.controller.heartbeat_interval_ms;
    o.snapshot_threshold = (uint32_t)cfg.controller.snapshot_threshold;
    o.on_applied = rmq_ctl_ring_observer;
    o.on_applied_ud = &ring;
    o.on_restored = rmq_ctl_ring_restored;
    o.on_restored_ud = &ring;
    /* one controller per data directory: two writers corrupt the Raft log */
    int lock_fd = -1;
    rmq_err_t e = rmq_dirlock_acquire(cfg.controller.data_dir, &lock_fd, err, sizeof err);
    if (e) {
        RMQ_ERROR("main", "msg=\"cannot lock the data directory\" err=%s detail=\"%s\"", rmq_err_name(e), err);
        fprintf(stderr, "rustmq-controller: %s\n", err);
        rmq_ctl_ring_free(&ring);
        rmq_cfg_controller_free(&cfg);
        return EXIT_DATADIR;
    }
    rmq_raft_store_t *rs = NULL;
    e = rmq_raft_store_open(&o, NULL, &rs, err, sizeof err);
    if (e) {
        RMQ_ERROR("main", "msg=\"cannot start the raft store\" err=%s detail=\"%s\"", rmq_err_name(e), err);
        fprintf(stderr, "rustmq-controller: %s\n", err);
        rmq_ctl_ring_free(&ring);
        rmq_cfg_controller_free(&cfg);
        return e == RMQ_ERR_CONFIG && strstr(err, "data dir") ? EXIT_DATADIR
               : e == RMQ_ERR_CONFIG                          ? EXIT_USAGE
               : e == RMQ_ERR_CORRUPT                         ? EXIT_DATADIR
                                                              : EXIT_RUNTIME;
    }
    rmq_ctl_server_opts_t so = {.listen = cfg.controller.rpc_listen, .raft = rs, .ring = &ring};
    rmq_ctl_server_t *srv = NULL;
    e = rmq_ctl_server_start(&so, &srv, err, sizeof err);
    if (e) {
        RMQ_ERROR("main", "msg=\"cannot start the controller RPC listener\" listen=%s detail=\"%s\"",
                  cfg.controller.rpc_listen, err);
        fprintf(stderr, "rustmq-controller: %s\n", err);
        rmq_raft_store_close(rs);
        rmq_ctl_ring_free(&ring);
        rmq_cfg_controller_free(&cfg);
        return EXIT_RUNTIME;
    }
    /* the REST admin API and /metrics on http_listen ("" = off) */
    rmq_metrics_t *metrics = NULL;
    rmq_ctl_admin_t *adm = NULL;
    const char *http = cfg.controller.http_listen ? cfg.controller.http_listen : "";
    if (*http) {
        metrics = rmq_metrics_new();
        if (metrics) rmq_metrics_register_process(metrics);
        if (!metrics) snprintf(err, sizeof err, "out of memory");
        e = metrics ? rmq_ctl_admin_start(http, rs, metrics, 1, 1, &adm, err, sizeof err) : RMQ_ERR_NOMEM;
        if (e) {
            RMQ_ERROR("main", "msg=\"cannot start the admin API\" listen=%s detail=\"%s\"", http, err);
            fprintf(stderr, "rustmq-controller: controller.http_listen %s: %s\n", http, err);
            rmq_metrics_free(metrics);
            rmq_ctl_server_stop(srv);
            rmq_raft_store_close(rs);
            rmq_ctl_ring_free(&ring);
            rmq_cfg_controller_free(&cfg);
            return EXIT_RUNTIME;
        }
    }
    RMQ_INFO("main",
             "msg=\"ready\" version=%s node_id=%d raft_listen=%s rpc_listen=%s http_listen=%s voters=%zu data_dir=%s",
             RMQ_VERSION, cfg.controller.node_id, cfg.controller.raft_listen, cfg.controller.rpc_listen,
             *http ? http : "off", n_peers ? n_peers : 1, cfg.controller.data_dir);

    uint64_t start = rmq_mono_ns() / 1000000, last_warn = start, no_leader_since = start;
    bool ever_leader = false;
    int rc = 0, sig = 0;
    for (;;) {
        struct timespec ts = {0, 200 * 1000000};
        sig = sigtimedwait(&set, NULL, &ts);
        if (sig == SIGTERM || sig == SIGINT) break;
        uint64_t now = rmq_mono_ns() / 1000000;
        rmq_raft_info_t in;
        rmq_raft_store_info(rs, &in);
        if (in.leader_id > 0) {
            ever_leader = true;
            no_leader_since = now;
            continue;
        }
        if (!ever_leader && startup_timeout_ms > 0 && now - start >= (uint64_t)startup_timeout_ms) {
            RMQ_ERROR("main", "msg=\"no quorum within the startup timeout; exiting\" startup_timeout_ms=%ld "
                              "node_id=%d term=%llu voters=%u",
                      startup_timeout_ms, in.node_id, (unsigned long long)in.term, in.n_servers);
            rc = EXIT_NO_QUORUM;
            break;
        }
        if (now - no_leader_since >= 5000 && now - last_warn >= 5000) {
            last_warn = now;
            RMQ_WARN("main", "msg=\"no leader: waiting for a quorum of voters (check that a majority of peers are "
                             "running and reachable on their raft_listen)\" node_id=%d term=%llu role=%d "
                             "voters=%u waited_ms=%llu",
                     in.node_id, (unsigned long long)in.term, in.state, in.n_servers,
                     (unsigned long long)(now - no_leader_since));
        }
    }
    if (sig == SIGTERM || sig == SIGINT) RMQ_INFO("main", "msg=\"stopping\" signal=%s", sig == SIGINT ? "SIGINT" : "SIGTERM");
    rmq_ctl_admin_stop(adm);
    rmq_ctl_server_stop(srv);
    rmq_raft_store_close(rs);
    rmq_metrics_free(metrics);
    rmq_ctl_ring_free(&ring);
    rmq_cfg_controller_free(&cfg);
    RMQ_INFO("main", "msg=\"stopped\"");
    return rc;
}
