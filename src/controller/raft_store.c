/* raft_store.c - the Raft-backed metadata store (see raft_store.h).
 *
 * Owns: the raft thread and its uv_loop, libraft's struct raft with the
 * libuv raft_io (raft_uv_init) and either the TCP transport
 * (raft_uv_tcp_init) or a null transport (embedded single voter), the op
 * queue that carries work from other threads to the raft thread, the list
 * of proposals waiting for their entry to apply, the published status
 * (rmq_raft_info_t), the "node" identity file and the seed snapshot of a
 * migrated local log. The state machine itself is meta_state.c, fed through
 * raft_fsm.c. */
#include "controller/raft_store.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <raft.h>
#include <raft/uv.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "common/buf.h"
#include "common/clock.h"
#include "common/config.h"
#include "common/crc32c.h"
#include "common/log.h"
#include "controller/meta_log.h"

#define SEED_MAGIC "RMQSEED1"
#define NODE_FILE "node"
#define SEED_FILE "seed.snapshot"

typedef enum { OP_PROPOSE = 1, OP_BARRIER, OP_ADD, OP_REMOVE, OP_CLOSE } op_kind_t;

typedef struct op {
    struct op *next;  /* queue link */
    struct op *pnext; /* pending-proposal link (raft thread) */
    op_kind_t kind;
    rmq_raft_store_t *s;
    /* propose */
    uint8_t *cmd; /* malloc'd copy, freed once handed to raft_apply */
    size_t len;
    rmq_meta_done_fn done;
    void *done_ud;
    rmq_meta_result_t res;
    bool have_res;
    struct raft_apply apply_req;
    /* barrier */
    struct raft_barrier barrier_req;
    bool internal; /* the leader's own first barrier */
    /* membership */
    struct raft_change change_req;
    int32_t id;
    char addr[RMQ_RAFT_ADDR_MAX];
    int stage;
    rmq_raft_op_cb cb;
    void *cb_ud;
} op_t;

struct rmq_raft_store {
    rmq_meta_store_t store;
    rmq_meta_state_t *state;
    bool own_state;
    rmq_raft_fsm_t fsm;
    rmq_raft_applied_fn user_applied;
    void *user_applied_ud;

    char dir[4096];
    char raft_dir[4200];
    int32_t node_id;
    bool embedded;

    uv_loop_t loop;
    uv_async_t wake;
    uv_check_t check;
    pthread_t thread;
    bool thread_started;
    struct raft_io io;
    struct raft_uv_transport transport;
    bool tcp_transport;
    struct raft raft;
    bool raft_inited;

    pthread_mutex_t mu; /* queue, closing, info */
    pthread_cond_t cv;  /* info changes */
    op_t *q_head, *q_tail;
    bool closing;
    bool wake_closed;
    rmq_raft_info_t info;

    /* raft thread only */
    op_t *pending;
    int last_state;
    uint64_t last_term;
    int32_t last_leader;
    bool init_proposed;
    bool closed_raft;
};

/* ------------------------------------------------------------------------------------------------ */

static rmq_err_t msgf(rmq_err_t e, char *msg, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static rmq_err_t msgf(rmq_err_t e, char *msg, size_t cap, const char *fmt, ...) {
    if (msg && cap) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, cap, fmt, ap);
        va_end(ap);
    }
    return e;
}

static rmq_err_t map_raft_err(int rv) {
    switch (rv) {
    case 0: return RMQ_NONE;
    case RAFT_NOTLEADER:
    case RAFT_LEADERSHIPLOST: return RMQ_NOT_CONTROLLER;
    case RAFT_SHUTDOWN:
    case RAFT_CANCELED: return RMQ_ERR_CLOSED;
    case RAFT_CANTCHANGE:
    case RAFT_BUSY: return RMQ_ERR_BUSY;
    case RAFT_BADID:
    case RAFT_DUPLICATEID:
    case RAFT_DUPLICATEADDRESS:
    case RAFT_BADROLE:
    case RAFT_NOTFOUND:
    case RAFT_INVALID: return RMQ_INVALID_REQUEST;
    case RAFT_NOMEM: return RMQ_ERR_NOMEM;
    case RAFT_NOSPACE: return RMQ_ERR_NOSPACE;
    case RAFT_TOOBIG: return RMQ_ERR_TOO_LARGE;
    case RAFT_CORRUPT:
    case RAFT_MALFORMED: return RMQ_ERR_CORRUPT;
    default: return RMQ_ERR_IO;
    }
}

/* "not the leader" text naming the known leader (info under mu or a copy). */
static void not_leader_msg(const rmq_raft_info_t *in, char *msg, size_t cap) {
    if (!msg || !cap) return;
    if (in->leader_id > 0)
        snprintf(msg, cap, "controller %d is not the leader; leader is %d at %s (term %llu)", in->node_id,
                 in->leader_id, in->leader_address, (unsigned long long)in->term);
    else
        snprintf(msg, cap, "controller %d is not the leader and no leader is known (term %llu)", in->node_id,
                 (unsigned long long)in->term);
}

/* ---- null transport: the embedded single voter never talks to anyone ---- */

static int null_init(struct raft_uv_transport *t, raft_id id, const char *address) {
    (void)t, (void)id, (void)address;
    return 0;
}
static int null_listen(struct raft_uv_transport *t, raft_uv_accept_cb cb) {
    (void)t, (void)cb;
    return 0;
}
static int null_connect(struct raft_uv_transport *t, struct raft_uv_connect *req, raft_id id, const char *address,
                        raft_uv_connect_cb cb) {
    (void)req, (void)id, (void)address, (void)cb;
    snprintf(t->errmsg, sizeof t->errmsg, "embedded raft has no network");
    return RAFT_NOCONNECTION;
}
static void null_close(struct raft_uv_transport *t, raft_uv_transport_close_cb cb) {
    if (cb) cb(t);
}

/* ---- op queue ---- */

static rmq_err_t enqueue(rmq_raft_store_t *s, op_t *op, bool allow_closing) {
    pthread_mutex_lock(&s->mu);
    if (s->closing && !allow_closing) {
        pthread_mutex_unlock(&s->mu);
        return RMQ_ERR_CLOSED;
    }
    op->next = NULL;
    if (s->q_tail)
        s->q_tail->next = op;
    else
        s->q_head = op;
    s->q_tail = op;
    if (!s->wake_closed) uv_async_send(&s->wake); /* under mu: the handle cannot close meanwhile */
    pthread_mutex_unlock(&s->mu);
    return RMQ_NONE;
}

static void op_free(op_t *op) {
    if (!op) return;
    free(op->cmd);
    rmq_meta_result_free(&op->res);
    free(op);
}

static op_t *op_new(rmq_raft_store_t *s, op_kind_t kind) {
    op_t *op = calloc(1, sizeof *op);
    if (!op) return NULL;
    op->s = s;
    op->kind = kind;
    rmq_meta_result_init(&op->res);
    return op;
}

/* ---- proposals (raft thread) ---- */

static void pending_remove(rmq_raft_store_t *s, op_t *op) {
    for (op_t **pp = &s->pending; *pp; pp = &(*pp)->pnext) {
        if (*pp == op) {
            *pp = op->pnext;
            return;
        }
    }
}

static void finish_propose(op_t *op, rmq_err_t err, const char *why) {
    if (err) {
        rmq_meta_result_free(&op->res);
        rmq_meta_result_init(&op->res);
        op->res.err = err;
        snprintf(op->res.msg, sizeof op->res.msg, "%s", why ? why : rmq_err_name(err));
    } else if (!op->have_res) {
        op->res.err = RMQ_UNKNOWN_SERVER_ERROR;
        snprintf(op->res.msg, sizeof op->res.msg, "applied without a result");
    }
    if (op->done) op->done(op->done_ud, &op->res);
    op_free(op);
}

static void on_apply_done(struct raft_apply *req, int status, void *result) {
    (void)result;
    op_t *op = req->data;
    rmq_raft_store_t *s = op->s;
    pending_remove(s, op);
    if (status == 0) {
        finish_propose(op, RMQ_NONE, NULL);
        return;
    }
    char why[256];
    rmq_err_t e = map_raft_err(status);
    if (e == RMQ_NOT_CONTROLLER) {
        rmq_raft_info_t in;
        rmq_raft_store_info(s, &in);
        snprintf(why, sizeof why, "leadership lost before the proposal committed (outcome unknown: it may still "
                                  "apply under the new leader): %s",
                 raft_strerror(status));
    } else {
        snprintf(why, sizeof why, "raft: %s", raft_strerror(status));
    }
    finish_propose(op, e, why);
}

/* fsm observer: attach the applied result to the proposal of this index. */
static void on_fsm_applied(void *ud, uint64_t raft_index, int64_t meta_index, rmq_meta_result_t *res,
                           const uint8_t *cmd, size_t len) {
    rmq_raft_store_t *s = ud;
    for (op_t *op = s->pending; op; op = op->pnext) {
        if (op->apply_req.index == raft_index) {
            if (s->user_applied) s->user_applied(s->user_applied_ud, raft_index, meta_index, res, cmd, len);
            op->res = *res; /* move, incl. stream ids */
            res->stream_ids = NULL;
            res->n_stream_ids = 0;
            op->have_res = true;
            return;
        }
    }
    if (s->user_applied) s->user_applied(s->user_applied_ud, raft_index, meta_index, res, cmd, len);
}

static void run_propose(rmq_raft_store_t *s, op_t *op) {
    /* proposal-time rules (meta_state.h): refused before the log, so the
     * log never holds an entry that a replay would judge differently */
    rmq_meta_result_t pre;
    rmq_err_t pe = rmq_meta_state_precheck(s->state, op->cmd, op->len, &pre);
    if (pe) {
        finish_propose(op, pe, pre.msg);
        rmq_meta_result_free(&pre);
        return;
    }
    rmq_meta_result_free(&pre);
    struct raft_buffer buf;
    if (rmq_raft_entry_encode(op->cmd, op->len, &buf)) {
        finish_propose(op, RMQ_ERR_NOMEM, "out of memory or command too large");
        return;
    }
    free(op->cmd);
    op->cmd = NULL;
    void *base = buf.base;
    op->apply_req.data = op;
    int rv = raft_apply(&s->raft, &op->apply_req, &buf, 1, on_apply_done);
    if (rv) {
        raft_free(base);
        char why[256];
        rmq_err_t e = map_raft_err(rv);
        if (e == RMQ_NOT_CONTROLLER) {
            rmq_raft_info_t in;
            rmq_raft_store_info(s, &in);
            not_leader_msg(&in, why, sizeof why);
        } else {
            snprintf(why, sizeof why, "raft_apply: %s", raft_strerror(rv));
        }
        finish_propose(op, e, why);
        return;
    }
    op->pnext = s->pending;
    s->pending = op;
}

/* ---- barrier and membership (raft thread) ---- */

static void propose_init_cluster(rmq_raft_store_t *s);

static void finish_op(op_t *op, rmq_err_t e, const char *msg) {
    if (op->cb) op->cb(op->cb_ud, e, msg ? msg : "");
    op_free(op);
}

static void on_barrier_done(struct raft_barrier *req, int status) {
    op_t *op = req->data;
    rmq_raft_store_t *s = op->s;
    if (op->internal) {
        if (status == 0) {
            pthread_mutex_lock(&s->mu);
            if (s->info.state == RMQ_RAFT_LEADER) s->info.leader_ready = true;
            pthread_cond_broadcast(&s->cv);
            pthread_mutex_unlock(&s->mu);
            RMQ_INFO("raft", "msg=\"leader ready\" node=%d term=%llu applied=%llu", s->node_id,
                     (unsigned long long)s->raft.current_term, (unsigned long long)raft_last_applied(&s->raft));
            propose_init_cluster(s);
        }
        op_free(op);
        return;
    }
    char why[200];
    snprintf(why, sizeof why, "barrier: %s", status ? raft_strerror(status) : "ok");
    finish_op(op, map_raft_err(status), status ? why : "");
}

static void run_barrier(rmq_raft_store_t *s, op_t *op) {
    op->barrier_req.data = op;
    int rv = raft_barrier(&s->raft, &op->barrier_req, on_barrier_done);
    if (rv) {
        char why[256];
        if (map_raft_err(rv) == RMQ_NOT_CONTROLLER) {
            rmq_raft_info_t in;
            rmq_raft_store_info(s, &in);
            not_leader_msg(&in, why, sizeof why);
        } else {
            snprintf(why, sizeof why, "raft_barrier: %s", raft_strerror(rv));
        }
        if (op->internal) {
            op_free(op);
            return;
        }
        finish_op(op, map_raft_err(rv), why);
    }
}

static void on_change_done(struct raft_change *req, int status);

static void change_fail(op_t *op, int rv, const char *what) {
    char why[400];
    rmq_err_t e = map_raft_err(rv);
    if (e == RMQ_NOT_CONTROLLER) {
        rmq_raft_info_t in;
        rmq_raft_store_info(op->s, &in);
        not_leader_msg(&in, why, sizeof why);
    } else {
        snprintf(why, sizeof why, "%s %d: %s (%s)", what, op->id, raft_strerror(rv), raft_errmsg(&op->s->raft));
    }
    RMQ_WARN("raft", "msg=\"membership change failed\" op=%s id=%d err=\"%s\"", what, op->id, why);
    finish_op(op, e, why);
}

static void on_change_done(struct raft_change *req, int status) {
    op_t *op = req->data;
    rmq_raft_store_t *s = op->s;
    if (status) {
        change_fail(op, status, op->kind == OP_ADD ? (op->stage == 1 ? "add" : "promote") : "remove");
        return;
    }
    if (op->kind == OP_ADD && op->stage == 1) {
        op->stage = 2;
        op->change_req.data = op;
        int rv = raft_assign(&s->raft, &op->change_req, (raft_id)op->id, RAFT_VOTER, on_change_done);
        if (rv) change_fail(op, rv, "promote");
        return;
    }
    RMQ_INFO("raft", "msg=\"membership changed\" op=%s id=%d address=%s", op->kind == OP_ADD ? "add_voter" : "remove_voter",
             op->id, op->addr);
    finish_op(op, RMQ_NONE, "ok");
}

static void run_change(rmq_raft_store_t *s, op_t *op) {
    op->change_req.data = op;
    int rv;
    if (op->kind == OP_ADD) {
        op->stage = 1;
        rv = raft_add(&s->raft, &op->change_req, (raft_id)op->id, op->addr, on_change_done);
    } else {
        rv = raft_remove(&s->raft, &op->change_req, (raft_id)op->id, on_change_done);
    }
    if (rv) change_fail(op, rv, op->kind == OP_ADD ? "add" : "remove");
}

static void on_init_cluster_done(void *ud, rmq_meta_result_t *res) {
    rmq_raft_store_t *s = ud;
    if (res->err == RMQ_NONE) {
        rmq_meta_uuid_t id;
        char txt[23] = "";
        if (rmq_meta_state_cluster_id(s->state, &id)) rmq_meta_uuid_to_base64(&id, txt);
        RMQ_INFO("raft", "msg=\"cluster initialised\" cluster_id=%s index=%lld", txt, (long long)res->index);
    } else if (res->err != RMQ_INCONSISTENT_CLUSTER_ID) {
        RMQ_WARN("raft", "msg=\"InitCluster proposal failed; the next leader retries\" err=%s detail=\"%s\"",
                 rmq_err_name(res->err), res->msg);
        s->init_proposed = false;
    }
}

static void propose_init_cluster(rmq_raft_store_t *s) {
    if (s->init_proposed || rmq_meta_state_cluster_id(s->state, NULL)) return;
    rmq_meta_cmd_t c = {.type = RMQ_META_CMD_INIT_CLUSTER};
    if (rmq_meta_uuid_random(&c.u.init_cluster.cluster_id)) return;
    rmq_buf_t b;
    rmq_buf_init(&b);
    if (rmq_meta_cmd_encode(&c, &b)) {
        rmq_buf_free(&b);
        return;
    }
    op_t *op = op_new(s, OP_PROPOSE);
    if (!op) {
        rmq_buf_free(&b);
        return;
    }
    size_t n;
    op->cmd = rmq_buf_detach(&b, &n);
    op->len = n;
    op->done = on_init_cluster_done;
    op->done_ud = s;
    s->init_proposed = true;
    run_propose(s, op);
}

/* ---- status tracking (raft thread, after every loop iteration) ---- */

static int role_of(int st) {
    switch (st) {
    case RAFT_FOLLOWER: return RMQ_RAFT_FOLLOWER;
    case RAFT_CANDIDATE: return RMQ_RAFT_CANDIDATE;
    case RAFT_LEADER: return RMQ_RAFT_LEADER;
    default: return RMQ_RAFT_UNAVAILABLE;
    }
}

static const char *role_name(int r) {
    switch (r) {
    case RMQ_RAFT_FOLLOWER: return "follower";
    case RMQ_RAFT_CANDIDATE: return "candidate";
    case RMQ_RAFT_LEADER: return "leader";
    default: return "unavailable";
    }
}

static void sample_status(rmq_raft_store_t *s) {
    if (s->closed_raft) return;
    struct raft *r = &s->raft;
    int st = role_of(raft_state(r));
    raft_id lid = 0;
    const char *laddr = NULL;
    raft_leader(r, &lid, &laddr);
    uint64_t term = r->current_term;
    bool became_leader = st == RMQ_RAFT_LEADER && s->last_state != RMQ_RAFT_LEADER;
    bool leader_changed = (int32_t)lid != s->last_leader || term != s->last_term || st != s->last_state;

    pthread_mutex_lock(&s->mu);
    rmq_raft_info_t *in = &s->info;
    in->state = st;
    in->term = term;
    in->leader_id = (int32_t)lid;
    snprintf(in->leader_address, sizeof in->leader_address, "%s", laddr ? laddr : "");
    in->last_applied = raft_last_applied(r);
    in->commit_index = r->commit_index;
    in->last_index = raft_last_index(r);
    if (st != RMQ_RAFT_LEADER) in->leader_ready = false;
    unsigned n = r->configuration.n < RMQ_RAFT_MAX_SERVERS ? r->configuration.n : RMQ_RAFT_MAX_SERVERS;
    in->n_servers = n;
    for (unsigned i = 0; i < n; i++) {
        in->servers[i].id = (int32_t)r->configuration.servers[i].id;
        snprintf(in->servers[i].address, sizeof in->servers[i].address, "%s",
                 r->configuration.servers[i].address ? r->configuration.servers[i].address : "");
        in->servers[i].role = r->configuration.servers[i].role;
    }
    if (leader_changed && ((int32_t)lid != s->last_leader || st != s->last_state)) in->leader_changes++;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);

    if ((int32_t)lid != s->last_leader || (term != s->last_term && st == RMQ_RAFT_LEADER) || became_leader) {
        if (lid)
            RMQ_INFO("raft", "msg=\"leader changed\" node=%d term=%llu leader=%llu leader_address=%s role=%s",
                     s->node_id, (unsigned long long)term, lid, laddr ? laddr : "", role_name(st));
        else
            RMQ_INFO("raft", "msg=\"no leader\" node=%d term=%llu role=%s", s->node_id, (unsigned long long)term,
                     role_name(st));
    } else if (term != s->last_term) {
        RMQ_DEBUG("raft", "msg=\"term changed\" node=%d term=%llu role=%s", s->node_id, (unsigned long long)term,
                  role_name(st));
    }
    s->last_state = st;
    s->last_term = term;
    s->last_leader = (int32_t)lid;

    if (became_leader) {
        s->init_proposed = false;
        op_t *op = op_new(s, OP_BARRIER);
        if (op) {
            op->internal = true;
            run_barrier(s, op);
        }
    }
}

static void on_check(uv_check_t *h) { sample_status(h->data); }

/* ---- close ---- */

static void on_handle_closed(uv_handle_t *h) { (void)h; }

static void on_raft_closed(struct raft *r) {
    rmq_raft_store_t *s = r->data;
    raft_uv_close(&s->io);
    if (s->tcp_transport) raft_uv_tcp_close(&s->transport);
    pthread_mutex_lock(&s->mu);
    s->wake_closed = true;
    uv_close((uv_handle_t *)&s->wake, on_handle_closed);
    uv_close((uv_handle_t *)&s->check, on_handle_closed);
    s->info.state = RMQ_RAFT_UNAVAILABLE;
    s->info.leader_ready = false;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

static void on_wake(uv_async_t *h) {
    rmq_raft_store_t *s = h->data;
    pthread_mutex_lock(&s->mu);
    op_t *list = s->q_head;
    s->q_head = s->q_tail = NULL;
    pthread_mutex_unlock(&s->mu);
    while (list) {
        op_t *op = list;
        list = op->next;
        if (s->closed_raft) {
            /* after raft_close: fail whatever is left */
            if (op->kind == OP_PROPOSE)
                finish_propose(op, RMQ_ERR_CLOSED, "metadata store closed");
            else if (op->kind == OP_CLOSE)
                op_free(op);
            else
                finish_op(op, RMQ_ERR_CLOSED, "metadata store closed");
            continue;
        }
        switch (op->kind) {
        case OP_PROPOSE: run_propose(s, op); break;
        case OP_BARRIER: run_barrier(s, op); break;
        case OP_ADD:
        case OP_REMOVE: run_change(s, op); break;
        case OP_CLOSE:
            op_free(op);
            s->closed_raft = true;
            uv_check_stop(&s->check);
            raft_close(&s->raft, on_raft_closed);
            break;
        }
    }
}

static void *loop_main(void *arg) {
    rmq_raft_store_t *s = arg;
    pthread_setname_np(pthread_self(), "rmq-raft");
    uv_run(&s->loop, UV_RUN_DEFAULT);
    return NULL;
}

/* ---- files: node identity, seed snapshot ---- */

static rmq_err_t mkdir_p(const char *path, char *msg, size_t cap) {
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s", path);
    for (char *p = tmp + 1; *p; p++) {
        if (*p == '/') {
            *p = 0;
            if (mkdir(tmp, 0755) && errno != EEXIST) return msgf(RMQ_ERR_IO, msg, cap, "mkdir %s: %s", tmp, strerror(errno));
            *p = '/';
        }
    }
    if (mkdir(tmp, 0755) && errno != EEXIST) return msgf(RMQ_ERR_IO, msg, cap, "mkdir %s: %s", tmp, strerror(errno));
    return RMQ_NONE;
}

static bool path_exists(const char *p) {
    struct stat st;
    return stat(p, &st) == 0;
}

/* A raft dir is pristine if libraft has written nothing into it yet. */
static bool raft_dir_pristine(const char *raft_dir) {
    DIR *d = opendir(raft_dir);
    if (!d) return true;
    bool pristine = true;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!strncmp(e->d_name, "metadata", 8) || !strncmp(e->d_name, "open-", 5) ||
            !strncmp(e->d_name, "snapshot-", 9) || (e->d_name[0] >= '0' && e->d_name[0] <= '9')) {
            pristine = false;
            break;
        }
    }
    closedir(d);
    return pristine;
}

static rmq_err_t write_file_atomic(const char *path, const void *p, size_t n, char *msg, size_t cap) {
    char tmp[4300];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return msgf(RMQ_ERR_IO, msg, cap, "open %s: %s", tmp, strerror(errno));
    const uint8_t *c = p;
    size_t off = 0;
    while (off < n) {
        ssize_t w = write(fd, c + off, n - off);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            int er = errno;
            close(fd);
            unlink(tmp);
            return msgf(er == ENOSPC ? RMQ_ERR_NOSPACE : RMQ_ERR_IO, msg, cap, "write %s: %s", tmp, strerror(er));
        }
        off += (size_t)w;
    }
    if (fsync(fd)) {
        int er = errno;
        close(fd);
        unlink(tmp);
        return msgf(RMQ_ERR_IO, msg, cap, "fsync %s: %s", tmp, strerror(er));
    }
    close(fd);
    if (rename(tmp, path)) return msgf(RMQ_ERR_IO, msg, cap, "rename %s: %s", tmp, strerror(errno));
    char dir[4300];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash) {
        *slash = 0;
        int dfd = open(dir[0] ? dir : "/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0) {
            fsync(dfd);
            close(dfd);
        }
    }
    return RMQ_NONE;
}

static rmq_err_t read_file(const char *path, uint8_t **out, size_t *n, size_t max) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return errno == ENOENT ? RMQ_ERR_NOT_FOUND : RMQ_ERR_IO;
    struct stat st;
    if (fstat(fd, &st) || (size_t)st.st_size > max) {
        close(fd);
        return RMQ_ERR_TOO_LARGE;
    }
    uint8_t *buf = malloc((size_t)st.st_size + 1);
    if (!buf) {
        close(fd);
        return RMQ_ERR_NOMEM;
    }
    size_t off = 0;
    while (off < (size_t)st.st_size) {
        ssize_t r = read(fd, buf + off, (size_t)st.st_size - off);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        off += (size_t)r;
    }
    close(fd);
    buf[off] = 0;
    *out = buf;
    *n = off;
    return RMQ_NONE;
}

static int cmp_peer(const void *a, const void *b) {
    const rmq_raft_peer_t *x = a, *y = b;
    return (x->id > y->id) - (x->id < y->id);
}

/* The bootstrap voter set as text: "1@127.0.0.1:9095,2@..." sorted by id. */
static void voters_fingerprint(const rmq_raft_peer_t *peers, size_t n, char *out, size_t cap) {
    rmq_raft_peer_t sorted[RMQ_RAFT_MAX_SERVERS];
    if (n > RMQ_RAFT_MAX_SERVERS) n = RMQ_RAFT_MAX_SERVERS;
    memcpy(sorted, peers, n * sizeof *peers);
    qsort(sorted, n, sizeof *sorted, cmp_peer);
    size_t off = 0;
    out[0] = 0;
    for (size_t i = 0; i < n && off < cap; i++)
        off += (size_t)snprintf(out + off, cap - off, "%s%d@%s", i ? "," : "", sorted[i].id, sorted[i].address);
}

/* Check (or, on a pristine dir, write) <dir>/node: "node_id=N\nvoters=...\n". */
static rmq_err_t check_node_file(rmq_raft_store_t *s, const char *voters, bool pristine, char *msg, size_t cap) {
    char path[4300];
    snprintf(path, sizeof path, "%s/" NODE_FILE, s->dir);
    uint8_t *data = NULL;
    size_t n = 0;
    rmq_err_t e = read_file(path, &data, &n, 1 << 16);
    if (e == RMQ_ERR_NOT_FOUND) {
        char text[2048];
        int len = snprintf(text, sizeof text, "node_id=%d\nvoters=%s\n", s->node_id, voters);
        if (!pristine)
            RMQ_WARN("raft", "msg=\"raft data without a node file; adopting it\" dir=%s node=%d", s->dir, s->node_id);
        return write_file_atomic(path, text, (size_t)len, msg, cap);
    }
    if (e) return msgf(e, msg, cap, "cannot read %s: %s", path, rmq_err_name(e));
    int32_t stored_id = -1;
    char stored_voters[2048] = "";
    char *save = NULL;
    for (char *line = strtok_r((char *)data, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (!strncmp(line, "node_id=", 8)) stored_id = (int32_t)strtol(line + 8, NULL, 10);
        if (!strncmp(line, "voters=", 7)) snprintf(stored_voters, sizeof stored_voters, "%s", line + 7);
    }
    free(data);
    if (stored_id != s->node_id) {
        return msgf(RMQ_ERR_CONFIG, msg, cap,
                    "data dir %s belongs to controller node %d, not node %d (wrong data_dir or node_id)", s->dir,
                    stored_id, s->node_id);
    }
    if (strcmp(stored_voters, "join") && strcmp(voters, "join") && strcmp(stored_voters, voters)) {
        return msgf(RMQ_ERR_CONFIG, msg, cap,
                    "data dir %s was bootstrapped by another cluster (voters %s) but the configured peers are %s; "
                    "keep the original peers list (change membership with add-voter/remove-voter) or use an "
                    "empty data dir",
                    s->dir, stored_voters, voters);
    }
    if (pristine && strcmp(stored_voters, voters)) {
        /* node file left from a wiped raft dir: rewrite */
        char text[2048];
        int len = snprintf(text, sizeof text, "node_id=%d\nvoters=%s\n", s->node_id, voters);
        return write_file_atomic(path, text, (size_t)len, msg, cap);
    }
    return RMQ_NONE;
}

/* Seed: magic(8) | meta index i64 | len u32 | crc32c u32 | snapshot bytes. */
static rmq_err_t load_seed(rmq_raft_store_t *s, int64_t *offset, char *msg, size_t cap) {
    char path[4300];
    snprintf(path, sizeof path, "%s/" SEED_FILE, s->dir);
    uint8_t *data = NULL;
    size_t n = 0;
    rmq_err_t e = read_file(path, &data, &n, (size_t)1 << 32);
    if (e == RMQ_ERR_NOT_FOUND) {
        *offset = 0;
        return RMQ_NONE;
    }
    if (e) return msgf(e, msg, cap, "cannot read %s: %s", path, rmq_err_name(e));
    if (n < 24 || memcmp(data, SEED_MAGIC, 8) || rmq_be32(data + 16) != n - 24 ||
        rmq_crc32c(0, data + 24, n - 24) != rmq_be32(data + 20)) {
        free(data);
        return msgf(RMQ_ERR_CORRUPT, msg, cap, "seed snapshot %s is corrupt", path);
    }
    int64_t idx = (int64_t)rmq_be64(data + 8);
    e = rmq_meta_state_restore(s->state, data + 24, n - 24);
    free(data);
    if (e) return msgf(e, msg, cap, "seed snapshot %s does not restore: %s", path, rmq_err_name(e));
    *offset = idx;
    RMQ_INFO("raft", "msg=\"seeded state from migrated metadata log\" index_offset=%lld topics=%zu", (long long)idx,
             rmq_meta_state_topic_count(s->state));
    return RMQ_NONE;
}

/* Embedded: a local log at <data_dir>/meta and a pristine raft dir: seed it. */
static rmq_err_t migrate_meta_log(const char *data_dir, const char *store_dir, const rmq_meta_state_opts_t *sopts,
                                  char *msg, size_t cap) {
    char meta_dir[4300];
    snprintf(meta_dir, sizeof meta_dir, "%s/meta", data_dir);
    if (!path_exists(meta_dir)) return RMQ_NONE;
    rmq_meta_log_opts_t lo;
    memset(&lo, 0, sizeof lo);
    lo.data_dir = data_dir;
    if (sopts) lo.state = *sopts;
    rmq_meta_log_t *l = NULL;
    char lmsg[256] = "";
    rmq_err_t e = rmq_meta_log_open(&lo, &l, lmsg, sizeof lmsg);
    if (e) return msgf(e, msg, cap, "cannot read the metadata log to migrate it: %s", lmsg);
    rmq_meta_state_t *st = rmq_meta_log_state(l);
    rmq_buf_t b;
    rmq_buf_init(&b);
    rmq_buf_extend(&b, 24);
    e = rmq_meta_state_snapshot(st, &b);
    int64_t idx = rmq_meta_state_last_index(st);
    size_t topics = rmq_meta_state_topic_count(st);
    rmq_meta_log_close(l);
    if (e || b.oom) {
        rmq_buf_free(&b);
        return msgf(RMQ_ERR_NOMEM, msg, cap, "out of memory migrating the metadata log");
    }
    memcpy(b.data, SEED_MAGIC, 8);
    rmq_wbe64(b.data + 8, (uint64_t)idx);
    rmq_wbe32(b.data + 16, (uint32_t)(b.len - 24));
    rmq_wbe32(b.data + 20, rmq_crc32c(0, b.data + 24, b.len - 24));
    char path[4300];
    snprintf(path, sizeof path, "%s/" SEED_FILE, store_dir);
    e = write_file_atomic(path, b.data, b.len, msg, cap);
    rmq_buf_free(&b);
    if (e) return e;
    char moved[4400];
    snprintf(moved, sizeof moved, "%s/meta.migrated", data_dir);
    if (path_exists(moved)) snprintf(moved, sizeof moved, "%s/meta.migrated.%lld", data_dir, (long long)time(NULL));
    if (rename(meta_dir, moved))
        return msgf(RMQ_ERR_IO, msg, cap, "cannot rename %s to %s: %s", meta_dir, moved, strerror(errno));
    RMQ_INFO("raft", "msg=\"migrated local metadata log into raft\" from=%s kept_as=%s last_index=%lld topics=%zu",
             meta_dir, moved, (long long)idx, topics);
    return RMQ_NONE;
}

/* ---- peers ---- */

rmq_err_t rmq_raft_parse_peers(char *const *items, size_t n, int32_t self_id, rmq_raft_peer_t *peers, size_t cap,
                               size_t *n_out, char *msg, size_t cap_msg) {
    if (n > cap) return msgf(RMQ_ERR_CONFIG, msg, cap_msg, "too many peers: %zu (at most %zu)", n, cap);
    bool self_found = false;
    for (size_t i = 0; i < n; i++) {
        int32_t id = 0;
        char host[48];
        uint16_t port = 0;
        if (rmq_cfg_parse_peer(items[i], &id, host, sizeof host, &port) || port == 0)
            return msgf(RMQ_ERR_CONFIG, msg, cap_msg, "peer \"%s\": must be \"id@a.b.c.d:port\" with id >= 1",
                        items[i]);
        struct in_addr a;
        if (inet_pton(AF_INET, host, &a) != 1)
            return msgf(RMQ_ERR_CONFIG, msg, cap_msg,
                        "peer \"%s\": host must be an IPv4 address (the raft TCP transport does not resolve names)",
                        items[i]);
        for (size_t j = 0; j < i; j++) {
            if (peers[j].id == id)
                return msgf(RMQ_ERR_CONFIG, msg, cap_msg, "peer \"%s\": duplicate node id %d", items[i], id);
        }
        peers[i].id = id;
        snprintf(peers[i].address, sizeof peers[i].address, "%s:%u", host, port);
        for (size_t j = 0; j < i; j++) {
            if (!strcmp(peers[j].address, peers[i].address))
                return msgf(RMQ_ERR_CONFIG, msg, cap_msg, "peer \"%s\": address used twice", items[i]);
        }
        if (id == self_id) self_found = true;
    }
    if (self_id > 0 && n > 0 && !self_found)
        return msgf(RMQ_ERR_CONFIG, msg, cap_msg, "own node id %d is not in the peers list", self_id);
    *n_out = n;
    return RMQ_NONE;
}

/* ---- generic store ops ---- */

static rmq_err_t st_propose(void *impl, const uint8_t *cmd, size_t len, rmq_meta_done_fn done, void *ud, char *msg,
                            size_t cap) {
    rmq_raft_store_t *s = impl;
    pthread_mutex_lock(&s->mu);
    bool leader = s->info.state == RMQ_RAFT_LEADER;
    rmq_raft_info_t in = s->info;
    pthread_mutex_unlock(&s->mu);
    if (!leader) {
        not_leader_msg(&in, msg, cap);
        return RMQ_NOT_CONTROLLER;
    }
    op_t *op = op_new(s, OP_PROPOSE);
    if (!op) return msgf(RMQ_ERR_NOMEM, msg, cap, "out of memory");
    op->cmd = malloc(len ? len : 1);
    if (!op->cmd) {
        op_free(op);
        return msgf(RMQ_ERR_NOMEM, msg, cap, "out of memory");
    }
    memcpy(op->cmd, cmd, len);
    op->len = len;
    op->done = done;
    op->done_ud = ud;
    rmq_err_t e = enqueue(s, op, false);
    if (e) {
        op_free(op);
        return msgf(e, msg, cap, "metadata store is closing");
    }
    return RMQ_NONE;
}

static rmq_meta_state_t *st_state(void *impl) { return ((rmq_raft_store_t *)impl)->state; }
static void st_close(void *impl) { rmq_raft_store_close(impl); }

static const rmq_meta_store_ops_t raft_ops = {"raft", st_propose, st_state, st_close};

/* ---- open / close ---- */

static void store_free(rmq_raft_store_t *s) {
    if (s->own_state) rmq_meta_state_free(s->state);
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

/* Tear down a store whose raft thread never started (open failed). */
static void abort_open(rmq_raft_store_t *s) {
    if (s->raft_inited) {
        s->closed_raft = true;
        raft_close(&s->raft, on_raft_closed);
    } else {
        raft_uv_close(&s->io);
        if (s->tcp_transport) raft_uv_tcp_close(&s->transport);
        uv_close((uv_handle_t *)&s->wake, on_handle_closed);
        uv_close((uv_handle_t *)&s->check, on_handle_closed);
    }
    uv_run(&s->loop, UV_RUN_DEFAULT);
    uv_loop_close(&s->loop);
    store_free(s);
}

static rmq_err_t open_common(const rmq_raft_store_opts_t *o, rmq_meta_state_t *state, bool embedded,
                             const char *voters_fp, bool pristine, int64_t offset_hint, rmq_raft_store_t *s,
                             char *msg, size_t cap);

rmq_err_t rmq_raft_store_open(const rmq_raft_store_opts_t *o, rmq_meta_state_t *state, rmq_raft_store_t **out,
                              char *msg, size_t cap) {
    *out = NULL;
    if (msg && cap) msg[0] = 0;
    if (!o || !o->dir || !o->dir[0] || o->node_id < 1)
        return msgf(RMQ_ERR_CONFIG, msg, cap, "raft store needs a directory and a node id >= 1");
    bool embedded = o->raft_address == NULL;
    rmq_raft_peer_t self = {.id = o->node_id};
    const rmq_raft_peer_t *peers = o->peers;
    size_t n_peers = o->n_peers;
    if (!embedded) {
        struct in_addr a;
        char host[64];
        const char *colon = strrchr(o->raft_address, ':');
        size_t hl = colon ? (size_t)(colon - o->raft_address) : 0;
        if (!colon || hl == 0 || hl >= sizeof host || atoi(colon + 1) <= 0 || atoi(colon + 1) > 65535)
            return msgf(RMQ_ERR_CONFIG, msg, cap, "raft_listen \"%s\" must be a.b.c.d:port", o->raft_address);
        memcpy(host, o->raft_address, hl);
        host[hl] = 0;
        if (inet_pton(AF_INET, host, &a) != 1)
            return msgf(RMQ_ERR_CONFIG, msg, cap, "raft_listen \"%s\": host must be an IPv4 address", o->raft_address);
    }
    snprintf(self.address, sizeof self.address, "%s", embedded ? "embedded" : o->raft_address);
    if (n_peers == 0) {
        peers = &self;
        n_peers = 1;
    }
    bool self_in = false;
    for (size_t i = 0; i < n_peers; i++) {
        if (peers[i].id == o->node_id) {
            self_in = true;
            if (!embedded && strcmp(peers[i].address, o->raft_address))
                return msgf(RMQ_ERR_CONFIG, msg, cap,
                            "peers list gives node %d the address %s but raft_listen is %s", o->node_id,
                            peers[i].address, o->raft_address);
        }
        for (size_t j = 0; j < i; j++)
            if (peers[j].id == peers[i].id)
                return msgf(RMQ_ERR_CONFIG, msg, cap, "duplicate node id %d in peers", peers[i].id);
    }
    if (!self_in && !o->join) return msgf(RMQ_ERR_CONFIG, msg, cap, "own node id %d is not in the peers list", o->node_id);
    if (n_peers > RMQ_RAFT_MAX_SERVERS) return msgf(RMQ_ERR_CONFIG, msg, cap, "too many peers");

    rmq_raft_store_t *s = calloc(1, sizeof *s);
    if (!s) return msgf(RMQ_ERR_NOMEM, msg, cap, "out of memory");
    snprintf(s->dir, sizeof s->dir, "%s", o->dir);
    snprintf(s->raft_dir, sizeof s->raft_dir, "%s/raft", o->dir);
    s->node_id = o->node_id;
    s->embedded = embedded;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    rmq_err_t e = mkdir_p(s->raft_dir, msg, cap);
    if (e) {
        store_free(s);
        return e;
    }
    bool pristine = raft_dir_pristine(s->raft_dir);
    char fp[2048];
    voters_fingerprint(peers, n_peers, fp, sizeof fp);
    e = open_common(o, state, embedded, o->join ? "join" : fp, pristine, 0, s, msg, cap);
    if (e) return e;
    *out = s;
    return RMQ_NONE;
}

/* The part shared by both modes once s has its dirs. On failure s is freed
 * and a non-zero error is returned with msg filled. */
static rmq_err_t open_common(const rmq_raft_store_opts_t *o, rmq_meta_state_t *state, bool embedded,
                             const char *voters_fp, bool pristine, int64_t offset_hint, rmq_raft_store_t *s,
                             char *msg, size_t cap) {
    (void)offset_hint;
    rmq_err_t e = check_node_file(s, voters_fp, pristine, msg, cap);
    if (e) {
        store_free(s);
        return e;
    }
    if (state) {
        s->state = state;
    } else {
        s->state = rmq_meta_state_new(&o->state);
        s->own_state = true;
        if (!s->state) {
            store_free(s);
            return msgf(RMQ_ERR_NOMEM, msg, cap, "out of memory");
        }
    }
    int64_t offset = 0;
    e = load_seed(s, &offset, msg, cap);
    if (e) {
        store_free(s);
        return e;
    }
    s->user_applied = o->on_applied;
    s->user_applied_ud = o->on_applied_ud;
    rmq_raft_fsm_init(&s->fsm, s->state, offset, on_fsm_applied, s);
    s->fsm.on_restored = o->on_restored;
    s->fsm.on_restored_ud = o->on_restored_ud;
    s->info.node_id = s->node_id;
    s->last_leader = -1;
    s->last_state = -1;

    if (uv_loop_init(&s->loop)) {
        store_free(s);
        return msgf(RMQ_ERR_IO, msg, cap, "uv_loop_init failed");
    }
    uv_async_init(&s->loop, &s->wake, on_wake);
    s->wake.data = s;
    uv_check_init(&s->loop, &s->check);
    s->check.data = s;

    int rv;
    if (embedded) {
        memset(&s->transport, 0, sizeof s->transport);
        s->transport.init = null_init;
        s->transport.listen = null_listen;
        s->transport.connect = null_connect;
        s->transport.close = null_close;
    } else {
        rv = raft_uv_tcp_init(&s->transport, &s->loop);
        if (rv) {
            uv_close((uv_handle_t *)&s->wake, on_handle_closed);
            uv_close((uv_handle_t *)&s->check, on_handle_closed);
            uv_run(&s->loop, UV_RUN_DEFAULT);
            uv_loop_close(&s->loop);
            store_free(s);
            return msgf(RMQ_ERR_IO, msg, cap, "raft tcp transport: %s", raft_strerror(rv));
        }
        s->tcp_transport = true;
    }
    rv = raft_uv_init(&s->io, &s->loop, s->raft_dir, &s->transport);
    if (rv) {
        e = msgf(RMQ_ERR_IO, msg, cap, "raft storage in %s: %s (%s)", s->raft_dir, raft_strerror(rv), s->io.errmsg);
        if (s->tcp_transport) raft_uv_tcp_close(&s->transport);
        uv_close((uv_handle_t *)&s->wake, on_handle_closed);
        uv_close((uv_handle_t *)&s->check, on_handle_closed);
        uv_run(&s->loop, UV_RUN_DEFAULT);
        uv_loop_close(&s->loop);
        store_free(s);
        return e;
    }
    /* keep libraft's default segment size: smaller ones were seen to corrupt closed segments */
    raft_uv_set_connect_retry_delay(&s->io, o->connect_retry_ms ? o->connect_retry_ms : 250);
    char addr[RMQ_RAFT_ADDR_MAX];
    snprintf(addr, sizeof addr, "%s", embedded ? "embedded" : o->raft_address);
    rv = raft_init(&s->raft, &s->io, &s->fsm.fsm, (raft_id)s->node_id, addr);
    if (rv) {
        e = msgf(RMQ_ERR_IO, msg, cap, "raft_init: %s (%s)", raft_strerror(rv), raft_errmsg(&s->raft));
        abort_open(s);
        return e;
    }
    s->raft_inited = true;
    s->raft.data = s;
    s->fsm.raft = &s->raft;
    unsigned et = o->election_timeout_ms ? o->election_timeout_ms : 1000;
    unsigned hb = o->heartbeat_ms ? o->heartbeat_ms : 100;
    if (hb >= et) hb = et / 2 ? et / 2 : 1;
    raft_set_election_timeout(&s->raft, et);
    raft_set_heartbeat_timeout(&s->raft, hb);
    unsigned thr = o->snapshot_threshold ? o->snapshot_threshold : 1024;
    unsigned trail = o->snapshot_trailing ? o->snapshot_trailing : (thr / 2 ? thr / 2 : 1);
    raft_set_snapshot_threshold(&s->raft, thr);
    raft_set_snapshot_trailing(&s->raft, trail);
    raft_set_pre_vote(&s->raft, true);

    bool join = !strcmp(voters_fp, "join");
    if (!join) {
        struct raft_configuration conf;
        raft_configuration_init(&conf);
        rv = 0;
        if (o->n_peers == 0) {
            rv = raft_configuration_add(&conf, (raft_id)s->node_id, addr, RAFT_VOTER);
        } else {
            for (size_t i = 0; i < o->n_peers && !rv; i++)
                rv = raft_configuration_add(&conf, (raft_id)o->peers[i].id, o->peers[i].address, RAFT_VOTER);
        }
        if (!rv) rv = raft_bootstrap(&s->raft, &conf);
        raft_configuration_close(&conf);
        if (rv && rv != RAFT_CANTBOOTSTRAP) {
            e = msgf(RMQ_ERR_IO, msg, cap, "raft_bootstrap: %s (%s)", raft_strerror(rv), raft_errmsg(&s->raft));
            abort_open(s);
            return e;
        }
        if (rv == 0) RMQ_INFO("raft", "msg=\"bootstrapped new raft group\" node=%d voters=%s", s->node_id, voters_fp);
    }
    rv = raft_start(&s->raft);
    if (rv) {
        e = msgf(rv == RAFT_CORRUPT || rv == RAFT_MALFORMED ? RMQ_ERR_CORRUPT : RMQ_ERR_IO, msg, cap,
                 "raft_start: %s (%s)", raft_strerror(rv), raft_errmsg(&s->raft));
        abort_open(s);
        return e;
    }
    uv_check_start(&s->check, on_check);
    sample_status(s);
    s->store.ops = &raft_ops;
    s->store.impl = s;
    if (pthread_create(&s->thread, NULL, loop_main, s)) {
        e = msgf(RMQ_ERR_IO, msg, cap, "cannot start the raft thread");
        abort_open(s);
        return e;
    }
    s->thread_started = true;
    RMQ_INFO("raft", "msg=\"raft started\" node=%d address=%s dir=%s embedded=%s election_timeout_ms=%u "
                     "heartbeat_ms=%u snapshot_threshold=%u meta_index=%lld",
             s->node_id, addr, s->raft_dir, embedded ? "true" : "false", et, hb, thr,
             (long long)rmq_meta_state_last_index(s->state));
    return RMQ_NONE;
}

void rmq_raft_store_close(rmq_raft_store_t *s) {
    if (!s) return;
    pthread_mutex_lock(&s->mu);
    bool already = s->closing;
    s->closing = true;
    pthread_mutex_unlock(&s->mu);
    if (already) return;
    op_t *op = op_new(s, OP_CLOSE);
    if (op) enqueue(s, op, true);
    if (s->thread_started) pthread_join(s->thread, NULL);
    /* any op queued between the close op and the loop ending */
    op_t *list = s->q_head;
    s->q_head = s->q_tail = NULL;
    while (list) {
        op_t *o = list;
        list = o->next;
        if (o->kind == OP_PROPOSE)
            finish_propose(o, RMQ_ERR_CLOSED, "metadata store closed");
        else if (o->kind == OP_CLOSE)
            op_free(o);
        else
            finish_op(o, RMQ_ERR_CLOSED, "metadata store closed");
    }
    while (s->pending) {
        op_t *p = s->pending;
        s->pending = p->pnext;
        finish_propose(p, RMQ_ERR_CLOSED, "metadata store closed");
    }
    uv_loop_close(&s->loop);
    RMQ_INFO("raft", "msg=\"raft stopped\" node=%d", s->node_id);
    store_free(s);
}

rmq_err_t rmq_raft_store_open_embedded(const char *data_dir, int32_t node_id, const rmq_meta_state_opts_t *sopts,
                                       rmq_raft_store_t **raft, rmq_meta_store_t **store,
                                       rmq_meta_state_t **state, char *msg, size_t cap) {
    *raft = NULL;
    if (store) *store = NULL;
    if (state) *state = NULL;
    if (!data_dir || !data_dir[0]) return msgf(RMQ_ERR_CONFIG, msg, cap, "embedded controller needs a data dir");
    if (node_id < 1) node_id = 1;
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/meta-raft", data_dir);
    char raft_dir[4300];
    snprintf(raft_dir, sizeof raft_dir, "%s/raft", dir);
    rmq_err_t e = mkdir_p(raft_dir, msg, cap);
    if (e) return e;
    if (raft_dir_pristine(raft_dir)) {
        e = migrate_meta_log(data_dir, dir, sopts, msg, cap);
        if (e) return e;
    }
    rmq_raft_store_opts_t o;
    memset(&o, 0, sizeof o);
    o.dir = dir;
    o.node_id = node_id;
    o.raft_address = NULL;
    o.election_timeout_ms = 1000;
    o.heartbeat_ms = 100;
    o.snapshot_threshold = 1024;
    if (sopts) o.state = *sopts;
    rmq_raft_store_t *s = NULL;
    e = rmq_raft_store_open(&o, NULL, &s, msg, cap);
    if (e) return e;
    /* a lone voter leads right after raft_start; wait for the cluster id */
    uint64_t deadline = (uint64_t)time(NULL) + 10;
    bool ok = false;
    pthread_mutex_lock(&s->mu);
    while (!ok) {
        ok = s->info.leader_ready && rmq_meta_state_cluster_id(s->state, NULL);
        if (ok || (uint64_t)time(NULL) >= deadline) break;
        struct timespec ts = rmq_cond_deadline_ms(5);
        pthread_cond_timedwait(&s->cv, &s->mu, &ts);
    }
    pthread_mutex_unlock(&s->mu);
    if (!ok) {
        rmq_raft_store_close(s);
        return msgf(RMQ_ERR_TIMEOUT, msg, cap, "embedded raft did not become leader within 10 s");
    }
    *raft = s;
    if (store) *store = &s->store;
    if (state) *state = s->state;
    return RMQ_NONE;
}

rmq_meta_store_t *rmq_raft_store_store(rmq_raft_store_t *s) { return &s->store; }
rmq_meta_state_t *rmq_raft_store_state(rmq_raft_store_t *s) { return s->state; }

void rmq_raft_store_info(rmq_raft_store_t *s, rmq_raft_info_t *out) {
    pthread_mutex_lock(&s->mu);
    *out = s->info;
    pthread_mutex_unlock(&s->mu);
}

bool rmq_raft_store_is_leader(rmq_raft_store_t *s) {
    pthread_mutex_lock(&s->mu);
    bool l = s->info.state == RMQ_RAFT_LEADER;
    pthread_mutex_unlock(&s->mu);
    return l;
}

bool rmq_raft_store_wait_leader(rmq_raft_store_t *s, uint32_t timeout_ms) {
    struct timespec ts = rmq_cond_deadline_ms(timeout_ms);
    pthread_mutex_lock(&s->mu);
    int rc = 0;
    while (s->info.leader_id <= 0 && rc == 0) rc = pthread_cond_timedwait(&s->cv, &s->mu, &ts);
    bool ok = s->info.leader_id > 0;
    pthread_mutex_unlock(&s->mu);
    return ok;
}

rmq_err_t rmq_raft_store_barrier(rmq_raft_store_t *s, rmq_raft_op_cb cb, void *ud) {
    op_t *op = op_new(s, OP_BARRIER);
    if (!op) return RMQ_ERR_NOMEM;
    op->cb = cb;
    op->cb_ud = ud;
    rmq_err_t e = enqueue(s, op, false);
    if (e) op_free(op);
    return e;
}

rmq_err_t rmq_raft_store_add_voter(rmq_raft_store_t *s, int32_t id, const char *address, rmq_raft_op_cb cb,
                                   void *ud) {
    if (id < 1 || !address || !address[0] || strlen(address) >= RMQ_RAFT_ADDR_MAX) return RMQ_ERR_INVALID_ARG;
    op_t *op = op_new(s, OP_ADD);
    if (!op) return RMQ_ERR_NOMEM;
    op->id = id;
    snprintf(op->addr, sizeof op->addr, "%s", address);
    op->cb = cb;
    op->cb_ud = ud;
    rmq_err_t e = enqueue(s, op, false);
    if (e) op_free(op);
    return e;
}

rmq_err_t rmq_raft_store_remove_voter(rmq_raft_store_t *s, int32_t id, rmq_raft_op_cb cb, void *ud) {
    if (id < 1) return RMQ_ERR_INVALID_ARG;
    op_t *op = op_new(s, OP_REMOVE);
    if (!op) return RMQ_ERR_NOMEM;
    op->id = id;
    op->cb = cb;
    op->cb_ud = ud;
    rmq_err_t e = enqueue(s, op, false);
    if (e) op_free(op);
    return e;
}

/* ---- blocking wrappers ---- */

typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool done;
    rmq_err_t err;
    char msg[400];
} syncw_t;

static void sync_cb(void *ud, rmq_err_t err, const char *msg) {
    syncw_t *w = ud;
    pthread_mutex_lock(&w->mu);
    w->err = err;
    snprintf(w->msg, sizeof w->msg, "%s", msg ? msg : "");
    w->done = true;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

static rmq_err_t sync_wait(syncw_t *w, rmq_err_t queued, char *msg, size_t cap) {
    if (!queued) {
        pthread_mutex_lock(&w->mu);
        while (!w->done) pthread_cond_wait(&w->cv, &w->mu);
        pthread_mutex_unlock(&w->mu);
    } else {
        w->err = queued;
        snprintf(w->msg, sizeof w->msg, "%s", rmq_err_name(queued));
    }
    if (msg && cap) snprintf(msg, cap, "%s", w->msg);
    pthread_cond_destroy(&w->cv);
    pthread_mutex_destroy(&w->mu);
    return w->err;
}

#define SYNCW_INIT(w)                        \
    syncw_t w;                               \
    memset(&w, 0, sizeof w);                 \
    pthread_mutex_init(&w.mu, NULL);         \
    pthread_cond_init(&w.cv, NULL)

rmq_err_t rmq_raft_store_barrier_sync(rmq_raft_store_t *s, char *msg, size_t cap) {
    SYNCW_INIT(w);
    return sync_wait(&w, rmq_raft_store_barrier(s, sync_cb, &w), msg, cap);
}

rmq_err_t rmq_raft_store_add_voter_sync(rmq_raft_store_t *s, int32_t id, const char *address, char *msg,
                                        size_t cap) {
    SYNCW_INIT(w);
    return sync_wait(&w, rmq_raft_store_add_voter(s, id, address, sync_cb, &w), msg, cap);
}

rmq_err_t rmq_raft_store_remove_voter_sync(rmq_raft_store_t *s, int32_t id, char *msg, size_t cap) {
    SYNCW_INIT(w);
    return sync_wait(&w, rmq_raft_store_remove_voter(s, id, sync_cb, &w), msg, cap);
}
