/* broker.c - broker lifecycle: open the metadata store (an embedded
 * single-voter Raft controller; cluster id initialised on first start),
 * open the store (recovery), drop streams whose topics no longer exist,
 * bind the Kafka listener; and the orderly stop (stop accepting, drain
 * in-flight requests, flush, close). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "broker/broker_int.h"
#include "broker/cluster.h"
#include "broker/tier_glue.h"
#include "common/dirlock.h"
#include "common/clock.h"
#include "common/log.h"

static int rmq_mkdir_p(const char *path) {
    char tmp[4096];
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof tmp) return -1;
    memcpy(tmp, path, n + 1);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (mkdir(tmp, 0755) && errno != EEXIST) return -1;
        *p = '/';
    }
    if (mkdir(tmp, 0755) && errno != EEXIST) return -1;
    return 0;
}

static char *rmq_strdup0(const char *s) { return strdup(s ? s : ""); }

static rmq_err_t rmq_broker_init_cluster(rmq_broker_t *b, char *errbuf, size_t errlen) {
    rmq_meta_uuid_t id;
    if (rmq_meta_state_cluster_id(b->state, &id)) return 0;
    rmq_meta_cmd_t cmd;
    memset(&cmd, 0, sizeof cmd);
    cmd.type = RMQ_META_CMD_INIT_CLUSTER;
    rmq_err_t err = rmq_meta_uuid_random(&cmd.u.init_cluster.cluster_id);
    if (err) return err;
    rmq_meta_result_t res;
    rmq_meta_result_init(&res);
    err = rmq_broker_propose(b, &cmd, &res);
    if (err) snprintf(errbuf, errlen, "cannot initialise the cluster id: %s %s", rmq_err_name(err), res.msg);
    rmq_meta_result_free(&res);
    if (!err) {
        char txt[23];
        rmq_meta_uuid_to_base64(&cmd.u.init_cluster.cluster_id, txt);
        RMQ_INFO("broker", "msg=\"new cluster\" cluster_id=%s", txt);
    }
    return err;
}

static int rmq_u64_cmp(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Streams in the WAL whose topic was deleted while we were down (or whose
 * delete did not reach the store) are deleted now. Returns how many. */
static size_t rmq_broker_drop_orphans(rmq_broker_t *b) {
    uint64_t *ids = NULL;
    size_t n = 0;
    if (rmq_store_list_streams(b->store, &ids, &n)) return 0;
    /* collect live stream ids */
    size_t live_n = 0, live_cap = 0;
    uint64_t *live = NULL;
    rmq_meta_state_rdlock(b->state);
    size_t nt = rmq_meta_state_topic_count_locked(b->state);
    for (size_t i = 0; i < nt; i++) {
        const rmq_meta_topic_t *t = rmq_meta_state_topic_at(b->state, i);
        for (int32_t p = 0; p < t->n_partitions; p++) {
            if (live_n == live_cap) {
                live_cap = live_cap ? live_cap * 2 : 64;
                uint64_t *nl = realloc(live, live_cap * sizeof *nl);
                if (!nl) { /* an incomplete live set would delete live streams: do nothing */
                    rmq_meta_state_unlock(b->state);
                    RMQ_WARN("broker", "msg=\"out of memory listing live streams; orphan scan skipped\"");
                    free(live);
                    free(ids);
                    return 0;
                }
                live = nl;
            }
            live[live_n++] = t->partitions[p].stream_id;
        }
    }
    rmq_meta_state_unlock(b->state);
    if (live_n) qsort(live, live_n, sizeof *live, rmq_u64_cmp);
    size_t dropped = 0;
    for (size_t i = 0; i < n; i++) {
        bool found = live_n && bsearch(&ids[i], live, live_n, sizeof *live, rmq_u64_cmp);
        if (!found) {
            RMQ_INFO("broker", "msg=\"dropping stream of a deleted topic\" stream=%llu", (unsigned long long)ids[i]);
            rmq_store_stream_delete(b->store, ids[i]);
            dropped++;
        }
    }
    free(live);
    free(ids);
    return dropped;
}

/* Cluster watcher callback: the mirror's topic set changed (a topic may
 * have been deleted through another broker or the controller's API). */
static void rmq_broker_on_topics_changed(void *ud) {
    rmq_broker_t *b = ud;
    pthread_mutex_lock(&b->orphan_mu);
    /* we held data of a topic deleted through another broker: that
     * broker's delete could not name our objects of it, so sweep them */
    if (b->orphan_ready && rmq_broker_drop_orphans(b)) rmq_btier_request_sweep(b);
    pthread_mutex_unlock(&b->orphan_mu);
}

/* Whether a and b name one directory (however spelled: "data", "./data/",
 * a symlink); false when either does not exist yet. */
static bool rmq_same_dir(const char *a, const char *b) {
    struct stat sa, sb;
    return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

rmq_err_t rmq_broker_start(const rmq_broker_opts_t *o, rmq_broker_t **out, char *errbuf, size_t errlen) {
    *out = NULL;
    rmq_broker_t *b = calloc(1, sizeof *b);
    if (!b) return RMQ_ERR_NOMEM;
    b->o = *o;
    b->dir_lock_fd = b->wal_lock_fd = -1;
    b->data_dir = rmq_strdup0(o->data_dir);
    b->listen = rmq_strdup0(o->listen);
    b->rack = rmq_strdup0(o->rack);
    b->wal_dir = rmq_strdup0(o->wal_dir);
    b->o.data_dir = b->data_dir;
    b->o.listen = b->listen;
    b->o.rack = b->rack;
    b->o.wal_dir = b->wal_dir;
    b->o.advertised = NULL;
    b->admin_listen = rmq_strdup0(o->admin_listen);
    b->o.admin_listen = b->admin_listen;
    pthread_mutex_init(&b->meta_mu, NULL);
    pthread_mutex_init(&b->parts_mu, NULL);
    pthread_mutex_init(&b->orphan_mu, NULL);
    atomic_init(&b->next_pid, rmq_wall_ms() * 1000);
    rmq_err_t err = rmq_broker_metrics_init(b);
    if (err) goto fail;
    const char *adv = o->advertised && *o->advertised ? o->advertised : o->listen;
    if (rmq_net_parse_hostport(adv, b->adv_host, sizeof b->adv_host, &b->adv_port)) {
        snprintf(errbuf, errlen, "invalid advertised address '%s'", adv);
        err = RMQ_ERR_CONFIG;
        goto fail;
    }
    if (rmq_mkdir_p(b->data_dir)) {
        snprintf(errbuf, errlen, "cannot create data directory %s: %s", b->data_dir, strerror(errno));
        err = RMQ_ERR_IO;
        goto fail;
    }
    /* one broker per data directory and per WAL directory, before the Raft
     * log or the WAL is opened: two writers corrupt both. The WAL directory
     * has its own lock even below data_dir: another broker's wal.path may
     * name it while its data_dir is elsewhere. */
    err = rmq_dirlock_acquire(b->data_dir, &b->dir_lock_fd, errbuf, errlen);
    if (err) goto fail;
    if (b->wal_dir && *b->wal_dir && !rmq_same_dir(b->wal_dir, b->data_dir)) {
        err = rmq_dirlock_acquire(b->wal_dir, &b->wal_lock_fd, errbuf, errlen);
        if (err) goto fail;
    }

    if (o->n_controller_endpoints) {
        /* a controller quorum: metadata mirrored from it, proposals
         * forwarded to its leader (cluster.h, docs/cluster.md) */
        rmq_cluster_opts_t co = {
            .endpoints = o->controller_endpoints,
            .n_endpoints = o->n_controller_endpoints,
            .broker_id = o->node_id,
            .rack = b->rack,
            .data_dir = b->data_dir,
            .heartbeat_ms = o->controller_heartbeat_ms,
            .session_timeout_ms = o->controller_session_timeout_ms,
            .on_topics_changed = rmq_broker_on_topics_changed,
            .on_topics_changed_ud = b,
        };
        err = rmq_cluster_start(&co, &b->cluster, errbuf, errlen);
        if (err) goto fail;
        b->meta = rmq_cluster_store(b->cluster);
        b->state = rmq_cluster_state(b->cluster);
    } else {
        /* no controller endpoints: an embedded single-voter Raft controller,
         * the same code path as the quorum (docs/controller.md) */
        err = rmq_raft_store_open_embedded(b->data_dir, o->node_id, NULL, &b->meta_raft, &b->meta, &b->state, errbuf,
                                           errlen);
        if (err) goto fail;
    }
    err = rmq_broker_init_cluster(b, errbuf, errlen);
    if (err) goto fail;
    err = rmq_btier_prepare(b, errbuf, errlen); /* object store; seeds an empty WAL from the manifest */
    if (err) goto fail;

    rmq_store_config_t sc;
    rmq_store_config_default(&sc);
    sc.dir = b->wal_dir;
    sc.capacity_bytes = o->wal_capacity_bytes;
    sc.segment_size_bytes = o->wal_segment_bytes;
    sc.fsync_on_write = o->fsync_on_write;
    sc.flush_interval_ms = o->flush_interval_ms;
    sc.write_cache_size_bytes = o->write_cache_bytes;
    sc.direct_io = o->direct_io;
    sc.io_uring = o->io_uring;
    sc.prefill_segments = o->prefill_segments;
    sc.writer_sched = o->latency_sched;
    sc.fsync_hist = b->m_fsync_latency;
    uint64_t t0 = rmq_mono_ns();
    err = rmq_store_open(&sc, NULL, &b->store, errbuf, errlen);
    if (err) goto fail;
    RMQ_INFO("broker", "msg=\"storage open\" wal=%s recovery_ms=%llu", b->wal_dir,
             (unsigned long long)((rmq_mono_ns() - t0) / 1000000));
    pthread_mutex_lock(&b->orphan_mu);
    rmq_broker_drop_orphans(b);
    b->orphan_ready = true; /* from now on also when the mirror changes */
    pthread_mutex_unlock(&b->orphan_mu);
    err = rmq_btier_start(b, errbuf, errlen); /* uploads sealed segments, serves reads below the WAL */
    if (err) goto fail;
    err = rmq_broker_groups_open(b, errbuf, errlen);
    if (err) goto fail;

    rmq_net_config_t nc;
    memset(&nc, 0, sizeof nc);
    nc.listen = b->listen;
    nc.io_threads = o->io_threads;
    nc.max_frame_bytes = o->max_frame_bytes;
    nc.max_inflight = o->max_inflight;
    nc.max_connections = o->max_connections;
    nc.idle_timeout_ms = o->idle_timeout_ms;
    nc.max_buffered_bytes = o->max_buffered_bytes;
    nc.sndbuf = o->sndbuf;
    nc.rcvbuf = o->rcvbuf;
    nc.io_sched = o->latency_sched;
    nc.on_frame = rmq_broker_on_frame;
    nc.ud = b;
    err = rmq_net_start(&nc, &b->net, errbuf, errlen);
    if (err) goto fail;
    if (b->adv_port == 0) b->adv_port = rmq_net_port(b->net);
    /* RegisterBroker (a new epoch per start): the state lists this broker
     * with its advertised address; with a quorum, heartbeats start */
    err = b->cluster ? rmq_cluster_register(b->cluster, b->adv_host, (uint16_t)b->adv_port, errbuf, errlen)
                     : rmq_cluster_register_local(b->meta, b->data_dir, o->node_id, b->rack, b->adv_host,
                                                  (uint16_t)b->adv_port, errbuf, errlen);
    if (err) goto fail;
    rmq_broker_admin_groups_metrics(b);
    err = rmq_broker_admin_start(b, errbuf, errlen);
    if (err) goto fail;
    *out = b;
    return 0;
fail:
    rmq_broker_stop(b);
    return err;
}

int rmq_broker_port(const rmq_broker_t *b) { return rmq_net_port(b->net); }

void rmq_broker_listener(const rmq_broker_t *b, char *buf, size_t cap) {
    char host[256];
    int port;
    if (rmq_net_parse_hostport(b->listen, host, sizeof host, &port)) snprintf(host, sizeof host, "?");
    snprintf(buf, cap, strchr(host, ':') ? "[%s]:%d" : "%s:%d", host, rmq_net_port(b->net));
}

void rmq_broker_stop(rmq_broker_t *b) {
    if (!b) return;
    atomic_store(&b->stopping, true);
    rmq_broker_admin_stop(b);
    rmq_broker_groups_stop(b);
    if (b->net) {
        /* parked fetches answer on their timers; wake them now */
        pthread_mutex_lock(&b->parts_mu);
        size_t cap = b->parts_cap;
        rmq_partition_t **parts = b->parts;
        pthread_mutex_unlock(&b->parts_mu);
        for (size_t i = 0; i < cap; i++)
            if (parts[i]) rmq_partition_wake(b, parts[i]);
        rmq_net_shutdown(b->net, b->o.shutdown_timeout_ms ? b->o.shutdown_timeout_ms : 30000);
    }
    rmq_broker_groups_close(b);
    rmq_btier_stop(b); /* before the store closes: the uploader reclaims segments */
    pthread_mutex_lock(&b->orphan_mu);
    b->orphan_ready = false;
    pthread_mutex_unlock(&b->orphan_mu);
    if (b->store) {
        rmq_store_sync(b->store);
        rmq_store_close(b->store);
        b->store = NULL;
    }
    if (b->meta_raft) rmq_raft_store_close(b->meta_raft);
    if (b->cluster) rmq_cluster_stop(b->cluster); /* unregisters: controlled shutdown */
    rmq_broker_partitions_free(b);
    rmq_net_free(b->net); /* last: tier reads and group timers may post to a loop until they stop */
    b->net = NULL;
    rmq_metrics_free(b->metrics);
    pthread_mutex_destroy(&b->meta_mu);
    pthread_mutex_destroy(&b->parts_mu);
    pthread_mutex_destroy(&b->orphan_mu);
    rmq_dirlock_release(b->wal_lock_fd); /* last: everything under the dirs is closed */
    rmq_dirlock_release(b->dir_lock_fd);
    free(b->data_dir);
    free(b->listen);
    free(b->rack);
    free(b->wal_dir);
    free(b->admin_listen);
    free(b);
}
