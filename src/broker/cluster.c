/* cluster.c - the broker's controller link (see cluster.h): remote metadata
 * store, mirror + watcher thread, registration epoch file, heartbeat
 * thread. Owns three controller clients (one per thread that talks to the
 * quorum: proposers under prop_mu, the mirror sync under sync_mu, the
 * heartbeat thread alone), the mirror state and the threads. */
#include "broker/cluster.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/log.h"
#include "controller/ctl_client.h"
#include "controller/meta_cmd.h"

#define WATCH_IDLE_MS 50     /* watcher poll period when nothing is new */
#define WATCH_RETRY_MS 200   /* after a failed fetch */
#define SYNC_ROTATE_MS 500   /* no progress from one endpoint: try the next */
#define PROPOSE_SYNC_MS 10000 /* bound on waiting for our own write to reach the mirror */

struct rmq_cluster {
    rmq_cluster_opts_t o;
    char *data_dir, *rack, *host;
    uint16_t port;
    rmq_meta_state_t *mirror;
    rmq_meta_store_t store;
    rmq_ctl_client_t *prop_cl, *sync_cl, *hb_cl;
    pthread_mutex_t prop_mu, sync_mu;
    size_t sync_ep; /* endpoint the mirror fetches from (under sync_mu) */
    pthread_mutex_t mu; /* stop flag */
    pthread_cond_t cv;
    bool stop;
    pthread_t watcher, hb;
    bool watcher_started, hb_started;
    _Atomic int64_t epoch;
};

static uint64_t now_ms(void) { return rmq_mono_ns() / 1000000; }

/* Sleep up to ms unless stopping; true if stopping. */
static bool nap(rmq_cluster_t *c, uint32_t ms) {
    struct timespec ts = rmq_cond_deadline_ms(ms);
    pthread_mutex_lock(&c->mu);
    if (!c->stop) pthread_cond_timedwait(&c->cv, &c->mu, &ts);
    bool s = c->stop;
    pthread_mutex_unlock(&c->mu);
    return s;
}

static bool stopping(rmq_cluster_t *c) {
    pthread_mutex_lock(&c->mu);
    bool s = c->stop;
    pthread_mutex_unlock(&c->mu);
    return s;
}

/* ---- mirror sync ---- */

/* One FETCH into the mirror (sync_mu held). On a transport error the next
 * endpoint is used from then on. */
static rmq_err_t fetch_once(rmq_cluster_t *c, size_t *n, char *msg, size_t cap) {
    rmq_err_t e = rmq_ctl_client_fetch(c->sync_cl, c->sync_ep, c->mirror, 1000, n, msg, cap);
    if (e) c->sync_ep = (c->sync_ep + 1) % c->o.n_endpoints;
    return e;
}

rmq_err_t rmq_cluster_sync(rmq_cluster_t *c, int64_t index, uint32_t timeout_ms) {
    uint64_t deadline = now_ms() + timeout_ms, progress = now_ms();
    char msg[256];
    while (rmq_meta_state_last_index(c->mirror) < index) {
        if (now_ms() >= deadline) return RMQ_REQUEST_TIMED_OUT;
        if (stopping(c)) return RMQ_ERR_CLOSED;
        size_t n = 0;
        pthread_mutex_lock(&c->sync_mu);
        rmq_err_t e = fetch_once(c, &n, msg, sizeof msg);
        if (!e && n == 0 && now_ms() - progress >= SYNC_ROTATE_MS) {
            /* that endpoint is behind (a lagging or cut-off follower) */
            c->sync_ep = (c->sync_ep + 1) % c->o.n_endpoints;
            progress = now_ms();
        }
        pthread_mutex_unlock(&c->sync_mu);
        if (n) progress = now_ms();
        if (e || !n) usleep(e ? 20000 : 2000);
    }
    return RMQ_NONE;
}

/* A fingerprint of the mirror's topic/partition set: the sum of every
 * partition's stream id (ids are never reused) and the partition count. */
static uint64_t topics_fingerprint(rmq_meta_state_t *s) {
    uint64_t fp = 0;
    rmq_meta_state_rdlock(s);
    size_t nt = rmq_meta_state_topic_count_locked(s);
    for (size_t i = 0; i < nt; i++) {
        const rmq_meta_topic_t *t = rmq_meta_state_topic_at(s, i);
        for (int32_t p = 0; p < t->n_partitions; p++) fp += t->partitions[p].stream_id * 0x9e3779b97f4a7c15ull + 1;
    }
    rmq_meta_state_unlock(s);
    return fp;
}

static void *watcher_main(void *ud) {
    rmq_cluster_t *c = ud;
    bool failing = false;
    uint64_t fp = topics_fingerprint(c->mirror);
    int64_t checked = rmq_meta_state_last_index(c->mirror);
    while (!stopping(c)) {
        size_t n = 0;
        char msg[256] = "";
        pthread_mutex_lock(&c->sync_mu);
        int64_t before = rmq_meta_state_last_index(c->mirror);
        rmq_err_t e = fetch_once(c, &n, msg, sizeof msg);
        int64_t after = rmq_meta_state_last_index(c->mirror);
        pthread_mutex_unlock(&c->sync_mu);
        /* the mirror also advances under proposers (their own sync):
         * compare whenever its index moved, whoever applied */
        if (after != checked && c->o.on_topics_changed) {
            checked = after;
            uint64_t now_fp = topics_fingerprint(c->mirror);
            if (now_fp != fp) c->o.on_topics_changed(c->o.on_topics_changed_ud);
            fp = now_fp;
        }
        if (e) {
            if (!failing)
                RMQ_WARN("cluster", "msg=\"metadata watch failed; retrying on the next controller\" err=%s detail=\"%s\" "
                                    "applied_index=%lld",
                         rmq_err_name(e), msg, (long long)after);
            failing = true;
            nap(c, WATCH_RETRY_MS);
            continue;
        }
        if (failing)
            RMQ_INFO("cluster", "msg=\"metadata watch resumed\" from_index=%lld applied_index=%lld", (long long)before,
                     (long long)after);
        failing = false;
        if (n == 0) nap(c, WATCH_IDLE_MS);
    }
    return NULL;
}

/* ---- remote store ---- */

static rmq_err_t st_propose(void *impl, const uint8_t *cmd, size_t len, rmq_meta_done_fn done, void *ud, char *msg,
                            size_t cap) {
    rmq_cluster_t *c = impl;
    rmq_meta_result_t res;
    pthread_mutex_lock(&c->prop_mu);
    rmq_ctl_client_propose(c->prop_cl, cmd, len, &res);
    pthread_mutex_unlock(&c->prop_mu);
    if (res.index <= 0) {
        /* not applied (no leader reachable, transport failure) */
        rmq_err_t e = res.err ? res.err : RMQ_NOT_CONTROLLER;
        if (msg && cap) snprintf(msg, cap, "%s", res.msg[0] ? res.msg : "no controller leader");
        rmq_meta_result_free(&res);
        return e;
    }
    if (rmq_cluster_sync(c, res.index, PROPOSE_SYNC_MS))
        RMQ_WARN("cluster", "msg=\"proposal applied by the controller but not yet mirrored here\" index=%lld",
                 (long long)res.index);
    done(ud, &res);
    rmq_meta_result_free(&res);
    return RMQ_NONE;
}

static rmq_meta_state_t *st_state(void *impl) { return ((rmq_cluster_t *)impl)->mirror; }

static void st_close(void *impl) { rmq_cluster_stop(impl); }

static const rmq_meta_store_ops_t remote_ops = {"controller", st_propose, st_state, st_close};

/* ---- epoch file ---- */

rmq_err_t rmq_cluster_next_epoch(const char *data_dir, rmq_meta_state_t *state, int32_t broker_id, int64_t *epoch,
                                 char *msg, size_t cap) {
    char path[4096], tmp[4200];
    snprintf(path, sizeof path, "%s/broker.epoch", data_dir);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    int64_t last = 0;
    FILE *f = fopen(path, "r");
    if (f) {
        long long v = 0;
        if (fscanf(f, "%lld", &v) == 1 && v > 0) last = v;
        fclose(f);
    }
    rmq_meta_state_rdlock(state);
    const rmq_meta_broker_t *br = rmq_meta_state_find_broker(state, broker_id);
    if (br && br->epoch > last) last = br->epoch;
    rmq_meta_state_unlock(state);
    int64_t next = last + 1;
    char txt[32];
    int n = snprintf(txt, sizeof txt, "%" PRId64 "\n", next);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    bool ok = fd >= 0 && write(fd, txt, (size_t)n) == n && fsync(fd) == 0;
    int err = errno;
    if (fd >= 0) close(fd);
    if (ok && rename(tmp, path) != 0) {
        ok = false;
        err = errno;
    }
    if (ok) {
        int dfd = open(data_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0) {
            fsync(dfd);
            close(dfd);
        }
    }
    if (!ok) {
        if (msg && cap) snprintf(msg, cap, "cannot write %s: %s", path, strerror(err));
        return RMQ_ERR_IO;
    }
    *epoch = next;
    return RMQ_NONE;
}

static rmq_err_t register_cmd(rmq_meta_store_t *store, rmq_meta_state_t *state, const char *data_dir, int32_t id,
                              const char *rack, const char *host, uint16_t port, int64_t *epoch_out, char *msg,
                              size_t cap) {
    rmq_err_t e = RMQ_NONE;
    for (int attempt = 0; attempt < 3; attempt++) {
        int64_t epoch;
        e = rmq_cluster_next_epoch(data_dir, state, id, &epoch, msg, cap);
        if (e) return e;
        rmq_meta_cmd_t cmd = {.type = RMQ_META_CMD_REGISTER_BROKER};
        cmd.u.register_broker.broker_id = id;
        cmd.u.register_broker.rack = rack ? rack : "";
        cmd.u.register_broker.host = host;
        cmd.u.register_broker.port = port;
        cmd.u.register_broker.epoch = epoch;
        rmq_meta_result_t res;
        e = rmq_meta_store_propose_cmd(store, &cmd, &res);
        if (e && msg && cap) snprintf(msg, cap, "RegisterBroker: %s %s", rmq_err_name(e), res.msg);
        rmq_meta_result_free(&res);
        if (!e) {
            if (epoch_out) *epoch_out = epoch;
            RMQ_INFO("cluster", "msg=\"broker registered\" broker=%d epoch=%lld host=%s port=%u", id, (long long)epoch,
                     host, port);
            return RMQ_NONE;
        }
        /* a newer registration exists than we knew of (lost epoch file,
         * stale mirror): next_epoch reads the state again */
        if (e != RMQ_STALE_BROKER_EPOCH) break;
    }
    return e;
}

rmq_err_t rmq_cluster_register_local(rmq_meta_store_t *store, const char *data_dir, int32_t broker_id,
                                     const char *rack, const char *host, uint16_t port, char *msg, size_t cap) {
    return register_cmd(store, rmq_meta_store_state(store), data_dir, broker_id, rack, host, port, NULL, msg, cap);
}

/* ---- heartbeats ---- */

static void *hb_main(void *ud) {
    rmq_cluster_t *c = ud;
    bool failing = false;
    while (!nap(c, c->o.heartbeat_ms)) {
        char msg[256] = "";
        int64_t idx = 0;
        rmq_err_t e = rmq_ctl_client_heartbeat(c->hb_cl, c->o.broker_id, atomic_load(&c->epoch),
                                               c->o.session_timeout_ms, &idx, msg, sizeof msg);
        if (e == RMQ_STALE_BROKER_EPOCH) {
            RMQ_WARN("cluster", "msg=\"fenced by the controller (heartbeats missed); registering again\" broker=%d "
                                "epoch=%lld",
                     c->o.broker_id, (long long)atomic_load(&c->epoch));
            /* the mirror must know the fence before the next epoch is chosen */
            rmq_cluster_sync(c, idx, c->o.session_timeout_ms);
            int64_t ep = 0;
            e = register_cmd(&c->store, c->mirror, c->data_dir, c->o.broker_id, c->rack, c->host, c->port, &ep, msg,
                             sizeof msg);
            if (!e) atomic_store(&c->epoch, ep);
        }
        if (e && !failing)
            RMQ_WARN("cluster", "msg=\"controller heartbeat failed\" broker=%d err=%s detail=\"%s\"", c->o.broker_id,
                     rmq_err_name(e), msg);
        else if (!e && failing)
            RMQ_INFO("cluster", "msg=\"controller heartbeats resumed\" broker=%d", c->o.broker_id);
        failing = e != RMQ_NONE;
    }
    return NULL;
}

/* ---- lifecycle ---- */

rmq_err_t rmq_cluster_start(const rmq_cluster_opts_t *o, rmq_cluster_t **out, char *msg, size_t cap) {
    *out = NULL;
    if (!o->n_endpoints || o->n_endpoints > RMQ_CTL_MAX_ENDPOINTS) {
        snprintf(msg, cap, "controller.endpoints: 1..%d endpoints required", RMQ_CTL_MAX_ENDPOINTS);
        return RMQ_ERR_CONFIG;
    }
    rmq_cluster_t *c = calloc(1, sizeof *c);
    if (!c) return RMQ_ERR_NOMEM;
    c->o = *o;
    if (!c->o.heartbeat_ms) c->o.heartbeat_ms = 500;
    if (!c->o.session_timeout_ms) c->o.session_timeout_ms = 10000;
    if (!c->o.startup_timeout_ms) c->o.startup_timeout_ms = 60000;
    c->data_dir = strdup(o->data_dir ? o->data_dir : ".");
    c->rack = strdup(o->rack ? o->rack : "");
    c->o.endpoints = NULL;
    pthread_mutex_init(&c->prop_mu, NULL);
    pthread_mutex_init(&c->sync_mu, NULL);
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->cv, NULL);
    c->mirror = rmq_meta_state_new(NULL);
    c->store.ops = &remote_ops;
    c->store.impl = c;
    rmq_err_t e = RMQ_ERR_NOMEM;
    if (!c->data_dir || !c->rack || !c->mirror) goto fail;
    /* heartbeats must fail over well within the session timeout */
    uint32_t hb_to = c->o.session_timeout_ms / 2;
    if ((e = rmq_ctl_client_new(o->endpoints, o->n_endpoints, 10000, &c->prop_cl)) ||
        (e = rmq_ctl_client_new(o->endpoints, o->n_endpoints, 5000, &c->sync_cl)) ||
        (e = rmq_ctl_client_new(o->endpoints, o->n_endpoints, hb_to, &c->hb_cl))) {
        snprintf(msg, cap, "controller.endpoints: %s", rmq_err_name(e));
        if (e == RMQ_ERR_INVALID_ARG) e = RMQ_ERR_CONFIG;
        goto fail;
    }
    /* a leader that has initialised the cluster, then its applied index */
    uint64_t deadline = now_ms() + c->o.startup_timeout_ms;
    int64_t target = -1;
    char lmsg[256] = "no controller answered";
    while (now_ms() < deadline) {
        size_t ep;
        rmq_ctl_describe_t d;
        if (!rmq_ctl_client_find_leader(c->sync_cl, &ep, lmsg, sizeof lmsg) &&
            !rmq_ctl_client_describe(c->sync_cl, ep, &d, lmsg, sizeof lmsg) && d.has_cluster) {
            c->sync_ep = ep;
            target = d.meta_index;
            break;
        }
        usleep(100000);
    }
    if (target < 0) {
        snprintf(msg, cap, "no controller leader with a cluster id within %u ms: %s", c->o.startup_timeout_ms, lmsg);
        e = RMQ_REQUEST_TIMED_OUT;
        goto fail;
    }
    uint64_t left = deadline > now_ms() ? deadline - now_ms() : 1;
    if (rmq_cluster_sync(c, target, (uint32_t)left)) {
        snprintf(msg, cap, "could not fetch the metadata up to index %lld from the controllers", (long long)target);
        e = RMQ_REQUEST_TIMED_OUT;
        goto fail;
    }
    if (pthread_create(&c->watcher, NULL, watcher_main, c)) {
        snprintf(msg, cap, "cannot start the metadata watcher thread");
        e = RMQ_ERR_IO;
        goto fail;
    }
    c->watcher_started = true;
    RMQ_INFO("cluster", "msg=\"metadata mirrored from the controller quorum\" endpoints=%zu applied_index=%lld",
             o->n_endpoints, (long long)rmq_meta_state_last_index(c->mirror));
    *out = c;
    return RMQ_NONE;
fail:
    rmq_cluster_stop(c);
    return e;
}

rmq_err_t rmq_cluster_register(rmq_cluster_t *c, const char *host, uint16_t port, char *msg, size_t cap) {
    free(c->host);
    c->host = strdup(host);
    if (!c->host) return RMQ_ERR_NOMEM;
    c->port = port;
    int64_t ep = 0;
    rmq_err_t e = register_cmd(&c->store, c->mirror, c->data_dir, c->o.broker_id, c->rack, c->host, c->port, &ep, msg,
                               cap);
    if (e) return e;
    atomic_store(&c->epoch, ep);
    /* a first heartbeat right away: it tells the leader our session
     * timeout (until then it assumes the default) */
    char hmsg[256];
    rmq_err_t he = rmq_ctl_client_heartbeat(c->hb_cl, c->o.broker_id, ep, c->o.session_timeout_ms, NULL, hmsg,
                                            sizeof hmsg);
    if (he) RMQ_WARN("cluster", "msg=\"first controller heartbeat failed\" err=%s detail=\"%s\"", rmq_err_name(he), hmsg);
    if (!c->hb_started) {
        if (pthread_create(&c->hb, NULL, hb_main, c)) {
            snprintf(msg, cap, "cannot start the heartbeat thread");
            return RMQ_ERR_IO;
        }
        c->hb_started = true;
    }
    return RMQ_NONE;
}

rmq_meta_store_t *rmq_cluster_store(rmq_cluster_t *c) { return &c->store; }
rmq_meta_state_t *rmq_cluster_state(rmq_cluster_t *c) { return c->mirror; }
int64_t rmq_cluster_epoch(rmq_cluster_t *c) { return atomic_load(&c->epoch); }

void rmq_cluster_stop(rmq_cluster_t *c) {
    if (!c) return;
    pthread_mutex_lock(&c->mu);
    c->stop = true;
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
    if (c->hb_started) pthread_join(c->hb, NULL);
    c->hb_started = false;
    int64_t ep = atomic_load(&c->epoch);
    if (ep > 0 && c->hb_cl) {
        /* controlled shutdown: leave now rather than after the session
         * timeout. Through the heartbeat client (its thread is gone): its
         * timeout is half the session, so a stop with the quorum down does
         * not hang for long. */
        rmq_meta_cmd_t cmd = {.type = RMQ_META_CMD_UNREGISTER_BROKER};
        cmd.u.unregister_broker.broker_id = c->o.broker_id;
        cmd.u.unregister_broker.epoch = ep;
        rmq_buf_t b;
        rmq_buf_init(&b);
        rmq_meta_result_t res;
        rmq_meta_result_init(&res);
        if (!rmq_meta_cmd_encode(&cmd, &b)) {
            rmq_ctl_client_propose(c->hb_cl, b.data, b.len, &res);
            RMQ_INFO("cluster", "msg=\"broker unregistered (controlled shutdown)\" broker=%d epoch=%lld err=%s",
                     c->o.broker_id, (long long)ep, rmq_err_name(res.err));
        }
        rmq_meta_result_free(&res);
        rmq_buf_free(&b);
        atomic_store(&c->epoch, 0);
    }
    if (c->watcher_started) pthread_join(c->watcher, NULL);
    c->watcher_started = false;
    rmq_ctl_client_free(c->prop_cl);
    rmq_ctl_client_free(c->sync_cl);
    rmq_ctl_client_free(c->hb_cl);
    rmq_meta_state_free(c->mirror);
    pthread_mutex_destroy(&c->prop_mu);
    pthread_mutex_destroy(&c->sync_mu);
    pthread_mutex_destroy(&c->mu);
    pthread_cond_destroy(&c->cv);
    free(c->data_dir);
    free(c->rack);
    free(c->host);
    free(c);
}

rmq_err_t rmq_cluster_check_leader(rmq_meta_state_t *state, const char *topic, int32_t partition, int32_t self) {
    rmq_meta_state_rdlock(state);
    const rmq_meta_topic_t *t = rmq_meta_state_find_topic(state, topic);
    rmq_err_t e;
    if (!t || partition < 0 || partition >= t->n_partitions)
        e = RMQ_UNKNOWN_TOPIC_OR_PARTITION;
    else if (t->partitions[partition].leader == self)
        e = RMQ_NONE;
    else if (t->partitions[partition].leader < 0)
        e = RMQ_LEADER_NOT_AVAILABLE;
    else
        e = RMQ_NOT_LEADER_OR_FOLLOWER;
    rmq_meta_state_unlock(state);
    return e;
}
