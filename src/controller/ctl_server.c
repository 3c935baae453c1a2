/* ctl_server.c - controller RPC listener (see ctl_server.h, ctl_proto.h).
 * Owns the net server and the in-flight request contexts; the raft store
 * and the ring are borrowed. */
#include "controller/ctl_server.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"
#include "common/log.h"
#include "controller/ctl_fence.h"
#include "controller/meta_state.h"
#include "net/net.h"

#define FETCH_MAX_BYTES (4u << 20)
#define FENCE_TICK_MS 100

_Static_assert(RMQ_CTL_ADDR_MAX == RMQ_RAFT_ADDR_MAX, "controller RPC and raft address sizes differ");

struct rmq_ctl_server {
    rmq_net_t *net;
    rmq_raft_store_t *raft;
    rmq_ctl_ring_t *ring;
    /* broker liveness: heartbeats land in fence (I/O thread); the fencer
     * thread checks it every FENCE_TICK_MS and proposes UnregisterBroker */
    rmq_ctl_fence_t *fence;
    pthread_t fencer;
    bool fencer_started;
    pthread_mutex_t stop_mu;
    pthread_cond_t stop_cv;
    bool stop;
};

static uint64_t mono_ms(void) { return rmq_mono_ns() / 1000000; }

/* An asynchronous request waiting for the raft thread. */
typedef struct pend {
    rmq_ctl_server_t *srv;
    rmq_net_conn_t *conn;
    rmq_net_slot_t *slot;
    rmq_net_loop_t *loop;
    int32_t corr;
    rmq_buf_t resp;
} pend_t;

void rmq_ctl_ring_observer(void *ring, uint64_t raft_index, int64_t meta_index, rmq_meta_result_t *res,
                           const uint8_t *cmd, size_t len) {
    (void)raft_index, (void)res;
    rmq_ctl_ring_push(ring, meta_index, cmd, len);
}

void rmq_ctl_ring_restored(void *ring, int64_t meta_index) { rmq_ctl_ring_reset(ring, meta_index); }

/* The net module writes response bytes as given: the frame size is ours. */
static void resp_begin(rmq_buf_t *b, int32_t corr, rmq_err_t err) {
    rmq_buf_init(b);
    rmq_buf_put_u32(b, 0); /* size, patched by send_resp */
    rmq_buf_put_i32(b, corr);
    rmq_buf_put_i16(b, (int16_t)err);
}

static void send_resp(rmq_net_slot_t *slot, rmq_buf_t *b) {
    if (b->oom) {
        rmq_buf_free(b);
        rmq_net_slot_complete(slot, NULL, 0);
        return;
    }
    rmq_buf_patch_u32(b, 0, (uint32_t)(b->len - 4));
    size_t n;
    uint8_t *p = rmq_buf_detach(b, &n);
    rmq_net_slot_complete(slot, p, n);
}

static void not_leader_body(rmq_ctl_server_t *s, rmq_buf_t *b) {
    rmq_raft_info_t in;
    rmq_raft_store_info(s->raft, &in);
    rmq_buf_put_i32(b, in.leader_id == in.node_id ? 0 : in.leader_id);
    rmq_ctl_put_str(b, in.leader_id == in.node_id ? "" : in.leader_address);
}

static void reply_error(rmq_ctl_server_t *s, rmq_net_slot_t *slot, int32_t corr, rmq_err_t err) {
    rmq_buf_t b;
    resp_begin(&b, corr, err);
    if (err == RMQ_NOT_CONTROLLER) not_leader_body(s, &b);
    send_resp(slot, &b);
}

/* ---- async plumbing ---- */

static pend_t *pend_new(rmq_ctl_server_t *s, rmq_net_conn_t *conn, rmq_net_slot_t *slot, int32_t corr) {
    pend_t *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->srv = s;
    p->conn = conn;
    p->slot = slot;
    p->loop = rmq_net_conn_loop(conn);
    p->corr = corr;
    rmq_buf_init(&p->resp);
    rmq_net_conn_ref(conn);
    return p;
}

static void pend_deliver(void *ud) {
    pend_t *p = ud;
    send_resp(p->slot, &p->resp);
    rmq_net_conn_unref(p->conn);
    free(p);
}

/* From the raft thread: hand the built response to the connection's thread. */
static void pend_post(pend_t *p) {
    if (rmq_net_loop_post(p->loop, pend_deliver, p)) {
        /* net stopped: the connection is gone with it */
        rmq_buf_free(&p->resp);
        free(p);
    }
}

/* ---- handlers ---- */

static void h_describe(rmq_ctl_server_t *s, rmq_net_slot_t *slot, int32_t corr) {
    rmq_raft_info_t in;
    rmq_raft_store_info(s->raft, &in);
    rmq_meta_state_t *st = rmq_raft_store_state(s->raft);
    rmq_buf_t b;
    resp_begin(&b, corr, RMQ_NONE);
    rmq_buf_put_i32(&b, in.node_id);
    rmq_buf_put_u8(&b, (uint8_t)in.state);
    rmq_buf_put_i64(&b, (int64_t)in.term);
    rmq_buf_put_i32(&b, in.leader_id);
    rmq_ctl_put_str(&b, in.leader_address);
    rmq_buf_put_i64(&b, (int64_t)in.last_applied);
    rmq_buf_put_i64(&b, (int64_t)in.commit_index);
    rmq_buf_put_i64(&b, rmq_meta_state_last_index(st));
    rmq_buf_put_i64(&b, (int64_t)rmq_meta_state_version(st));
    rmq_meta_uuid_t cid;
    memset(&cid, 0, sizeof cid);
    bool has = rmq_meta_state_cluster_id(st, &cid);
    rmq_buf_put_u8(&b, has ? 1 : 0);
    rmq_buf_put(&b, cid.b, 16);
    rmq_buf_put_i32(&b, (int32_t)rmq_meta_state_topic_count(st));
    rmq_buf_put_u8(&b, in.leader_ready ? 1 : 0);
    rmq_buf_put_u16(&b, (uint16_t)in.n_servers);
    for (uint32_t i = 0; i < in.n_servers; i++) {
        rmq_buf_put_i32(&b, in.servers[i].id);
        rmq_ctl_put_str(&b, in.servers[i].address);
        rmq_buf_put_u8(&b, (uint8_t)in.servers[i].role);
    }
    send_resp(slot, &b);
}

static void on_proposed(void *ud, rmq_meta_result_t *res) {
    pend_t *p = ud;
    resp_begin(&p->resp, p->corr, res->err);
    if (res->err == RMQ_NOT_CONTROLLER) {
        not_leader_body(p->srv, &p->resp);
    } else {
        rmq_buf_put_i64(&p->resp, res->index);
        rmq_buf_put(&p->resp, res->topic_id.b, 16);
        rmq_ctl_put_str(&p->resp, res->msg);
        rmq_buf_put_u32(&p->resp, (uint32_t)res->n_stream_ids);
        for (size_t i = 0; i < res->n_stream_ids; i++) rmq_buf_put_u64(&p->resp, res->stream_ids[i]);
    }
    pend_post(p);
}

static void h_propose(rmq_ctl_server_t *s, rmq_net_conn_t *conn, rmq_net_slot_t *slot, int32_t corr,
                      const uint8_t *body, size_t len) {
    pend_t *p = pend_new(s, conn, slot, corr);
    if (!p) {
        reply_error(s, slot, corr, RMQ_ERR_NOMEM);
        return;
    }
    rmq_meta_store_t *ms = rmq_raft_store_store(s->raft);
    char msg[256];
    rmq_err_t e = ms->ops->propose(ms->impl, body, len, on_proposed, p, msg, sizeof msg);
    if (e) {
        rmq_net_conn_unref(conn);
        rmq_buf_free(&p->resp);
        free(p);
        reply_error(s, slot, corr, e);
    }
}

static void on_read_barrier(void *ud, rmq_err_t err, const char *msg) {
    (void)msg;
    pend_t *p = ud;
    resp_begin(&p->resp, p->corr, err);
    if (err == RMQ_NOT_CONTROLLER) {
        not_leader_body(p->srv, &p->resp);
    } else if (!err) {
        rmq_meta_state_t *st = rmq_raft_store_state(p->srv->raft);
        rmq_buf_t snap;
        rmq_buf_init(&snap);
        /* the raft thread is the only writer and it is here: index and
         * snapshot are the same point in the log */
        int64_t idx = rmq_meta_state_last_index(st);
        if (rmq_meta_state_snapshot(st, &snap)) {
            rmq_buf_free(&p->resp);
            resp_begin(&p->resp, p->corr, RMQ_ERR_NOMEM);
        } else {
            rmq_buf_put_i64(&p->resp, idx);
            rmq_ctl_put_bytes(&p->resp, snap.data, snap.len);
        }
        rmq_buf_free(&snap);
    }
    pend_post(p);
}

static void h_read_state(rmq_ctl_server_t *s, rmq_net_conn_t *conn, rmq_net_slot_t *slot, int32_t corr) {
    if (!rmq_raft_store_is_leader(s->raft)) {
        reply_error(s, slot, corr, RMQ_NOT_CONTROLLER);
        return;
    }
    pend_t *p = pend_new(s, conn, slot, corr);
    if (!p) {
        reply_error(s, slot, corr, RMQ_ERR_NOMEM);
        return;
    }
    rmq_err_t e = rmq_raft_store_barrier(s->raft, on_read_barrier, p);
    if (e) {
        rmq_net_conn_unref(conn);
        free(p);
        reply_error(s, slot, corr, e);
    }
}

static void h_fetch(rmq_ctl_server_t *s, rmq_net_slot_t *slot, int32_t corr, int64_t from, uint32_t max) {
    rmq_buf_t b;
    resp_begin(&b, corr, RMQ_NONE);
    size_t mode_off = b.len;
    rmq_buf_put_u8(&b, 0);
    if (!rmq_ctl_ring_fetch(s->ring, from, max, FETCH_MAX_BYTES, &b)) {
        b.len = mode_off;
        rmq_buf_put_u8(&b, 1);
        rmq_meta_state_t *st = rmq_raft_store_state(s->raft);
        rmq_buf_t snap;
        rmq_buf_init(&snap);
        /* informational: the client continues from the restored state's own
         * index, which may be a little newer than this one */
        int64_t idx = rmq_meta_state_last_index(st);
        if (rmq_meta_state_snapshot(st, &snap)) {
            rmq_buf_free(&snap);
            rmq_buf_free(&b);
            reply_error(s, slot, corr, RMQ_ERR_NOMEM);
            return;
        }
        rmq_buf_put_i64(&b, idx);
        rmq_ctl_put_bytes(&b, snap.data, snap.len);
        rmq_buf_free(&snap);
    }
    send_resp(slot, &b);
}

static void on_change(void *ud, rmq_err_t err, const char *msg) {
    pend_t *p = ud;
    resp_begin(&p->resp, p->corr, err);
    if (err == RMQ_NOT_CONTROLLER)
        not_leader_body(p->srv, &p->resp);
    else
        rmq_ctl_put_str(&p->resp, msg);
    pend_post(p);
}

static void h_change(rmq_ctl_server_t *s, rmq_net_conn_t *conn, rmq_net_slot_t *slot, int32_t corr, int api,
                     int32_t id, const char *addr) {
    if (!rmq_raft_store_is_leader(s->raft)) {
        reply_error(s, slot, corr, RMQ_NOT_CONTROLLER);
        return;
    }
    pend_t *p = pend_new(s, conn, slot, corr);
    if (!p) {
        reply_error(s, slot, corr, RMQ_ERR_NOMEM);
        return;
    }
    RMQ_INFO("ctl", "msg=\"membership change requested\" op=%s id=%d address=%s",
             api == RMQ_CTL_ADD_VOTER ? "add_voter" : "remove_voter", id, addr);
    rmq_err_t e = api == RMQ_CTL_ADD_VOTER ? rmq_raft_store_add_voter(s->raft, id, addr, on_change, p)
                                           : rmq_raft_store_remove_voter(s->raft, id, on_change, p);
    if (e) {
        rmq_net_conn_unref(conn);
        free(p);
        reply_error(s, slot, corr, e);
    }
}

static void h_heartbeat(rmq_ctl_server_t *s, rmq_net_slot_t *slot, int32_t corr, int32_t id, int64_t epoch,
                        uint32_t timeout) {
    rmq_raft_info_t in;
    rmq_raft_store_info(s->raft, &in);
    if (in.state != RMQ_RAFT_LEADER || !in.leader_ready) {
        reply_error(s, slot, corr, RMQ_NOT_CONTROLLER);
        return;
    }
    rmq_meta_state_t *st = rmq_raft_store_state(s->raft);
    rmq_err_t e = rmq_ctl_fence_heartbeat(s->fence, st, id, epoch, timeout, mono_ms());
    rmq_buf_t b;
    resp_begin(&b, corr, e);
    rmq_buf_put_i64(&b, rmq_meta_state_last_index(st));
    send_resp(slot, &b);
}

/* Fencer thread: while this node leads, fence registrations whose
 * heartbeats stopped (UnregisterBroker with their epoch: a broker that
 * re-registered meanwhile is not touched, the state rejects the stale
 * epoch). */
static void *fencer_main(void *ud) {
    rmq_ctl_server_t *s = ud;
    rmq_meta_store_t *ms = rmq_raft_store_store(s->raft);
    rmq_meta_state_t *st = rmq_raft_store_state(s->raft);
    pthread_mutex_lock(&s->stop_mu);
    while (!s->stop) {
        struct timespec ts = rmq_cond_deadline_ms(FENCE_TICK_MS);
        pthread_cond_timedwait(&s->stop_cv, &s->stop_mu, &ts);
        if (s->stop) break;
        pthread_mutex_unlock(&s->stop_mu);
        rmq_raft_info_t in;
        rmq_raft_store_info(s->raft, &in);
        rmq_ctl_fence_victim_t v[16];
        size_t n = rmq_ctl_fence_expired(s->fence, st, in.state == RMQ_RAFT_LEADER && in.leader_ready, mono_ms(), v,
                                         sizeof v / sizeof v[0]);
        for (size_t i = 0; i < n; i++) {
            rmq_meta_cmd_t cmd = {.type = RMQ_META_CMD_UNREGISTER_BROKER};
            cmd.u.unregister_broker.broker_id = v[i].broker_id;
            cmd.u.unregister_broker.epoch = v[i].epoch;
            rmq_meta_result_t res;
            rmq_err_t e = rmq_meta_store_propose_cmd(ms, &cmd, &res);
            if (e == RMQ_NONE)
                RMQ_WARN("ctl", "msg=\"broker fenced: no heartbeat within its session timeout\" broker=%d epoch=%lld "
                                "silent_ms=%llu index=%lld",
                         v[i].broker_id, (long long)v[i].epoch, (unsigned long long)v[i].silent_ms,
                         (long long)res.index);
            else
                RMQ_INFO("ctl", "msg=\"fencing a broker did not apply\" broker=%d epoch=%lld err=%s detail=\"%s\"",
                         v[i].broker_id, (long long)v[i].epoch, rmq_err_name(e), res.msg);
            rmq_meta_result_free(&res);
        }
        pthread_mutex_lock(&s->stop_mu);
    }
    pthread_mutex_unlock(&s->stop_mu);
    return NULL;
}

static void on_frame(void *ud, rmq_net_conn_t *conn, rmq_net_slot_t *slot, uint8_t *frame, size_t len) {
    rmq_ctl_server_t *s = ud;
    rmq_ctl_request_t rq;
    rmq_err_t e = rmq_ctl_decode_request(frame, len, &rq);
    if (e == RMQ_ERR_CORRUPT) {
        free(frame);
        rmq_net_slot_complete(slot, NULL, 0);
        rmq_net_conn_close(conn, "short controller RPC header");
        return;
    }
    if (e) {
        reply_error(s, slot, rq.corr, e);
        free(frame);
        return;
    }
    switch (rq.api) {
    case RMQ_CTL_DESCRIBE: h_describe(s, slot, rq.corr); break;
    case RMQ_CTL_PROPOSE: h_propose(s, conn, slot, rq.corr, rq.cmd, rq.cmd_len); break;
    case RMQ_CTL_READ_STATE: h_read_state(s, conn, slot, rq.corr); break;
    case RMQ_CTL_FETCH: h_fetch(s, slot, rq.corr, rq.from_index, rq.max); break;
    case RMQ_CTL_ADD_VOTER:
    case RMQ_CTL_REMOVE_VOTER: h_change(s, conn, slot, rq.corr, rq.api, rq.id, rq.addr); break;
    case RMQ_CTL_HEARTBEAT: h_heartbeat(s, slot, rq.corr, rq.id, rq.epoch, rq.session_timeout_ms); break;
    default: reply_error(s, slot, rq.corr, RMQ_UNSUPPORTED_VERSION); break;
    }
    free(frame);
}

rmq_err_t rmq_ctl_server_start(const rmq_ctl_server_opts_t *o, rmq_ctl_server_t **out, char *msg, size_t cap) {
    *out = NULL;
    rmq_ctl_server_t *s = calloc(1, sizeof *s);
    if (!s) return RMQ_ERR_NOMEM;
    s->raft = o->raft;
    s->ring = o->ring;
    s->fence = rmq_ctl_fence_new();
    if (!s->fence) {
        free(s);
        return RMQ_ERR_NOMEM;
    }
    pthread_mutex_init(&s->stop_mu, NULL);
    pthread_cond_init(&s->stop_cv, NULL);
    rmq_net_config_t nc;
    memset(&nc, 0, sizeof nc);
    nc.listen = o->listen;
    nc.io_threads = 1;
    nc.max_frame_bytes = RMQ_CTL_MAX_FRAME;
    nc.max_inflight = 64;
    nc.max_connections = 1024;
    nc.idle_timeout_ms = 0;
    nc.on_frame = on_frame;
    nc.ud = s;
    rmq_err_t e = rmq_net_start(&nc, &s->net, msg, cap);
    if (e) {
        rmq_ctl_server_stop(s);
        return e;
    }
    if (pthread_create(&s->fencer, NULL, fencer_main, s)) {
        snprintf(msg, cap, "cannot start the fencer thread");
        rmq_ctl_server_stop(s);
        return RMQ_ERR_IO;
    }
    s->fencer_started = true;
    *out = s;
    return RMQ_NONE;
}

int rmq_ctl_server_port(const rmq_ctl_server_t *s) { return rmq_net_port(s->net); }

void rmq_ctl_server_stop(rmq_ctl_server_t *s) {
    if (!s) return;
    if (s->fencer_started) {
        pthread_mutex_lock(&s->stop_mu);
        s->stop = true;
        pthread_cond_signal(&s->stop_cv);
        pthread_mutex_unlock(&s->stop_mu);
        pthread_join(s->fencer, NULL);
    }
    if (s->net) rmq_net_stop(s->net, 2000);
    pthread_mutex_destroy(&s->stop_mu);
    pthread_cond_destroy(&s->stop_cv);
    rmq_ctl_fence_free(s->fence);
    free(s);
}
