/* ctl_client.c - blocking controller RPC client (see ctl_client.h). Owns
 * one socket per endpoint and the endpoint -> node id cache used to follow
 * NOT_CONTROLLER redirects. */
#include "controller/ctl_client.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/clock.h"
#include "controller/ctl_proto.h"
#include "net/net.h"

struct rmq_ctl_client {
    size_t n;
    char *ep[RMQ_CTL_MAX_ENDPOINTS];
    int fd[RMQ_CTL_MAX_ENDPOINTS];
    int32_t node_id[RMQ_CTL_MAX_ENDPOINTS]; /* 0 = unknown */
    size_t leader;                          /* best guess */
    uint32_t timeout_ms;
    int32_t corr;
};

#define ATTEMPT_MS 3000 /* per-endpoint cap inside a leader call */

static uint64_t now_ms(void) { return rmq_mono_ns() / 1000000; }

static void msgset(char *msg, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void msgset(char *msg, size_t cap, const char *fmt, ...) {
    if (!msg || !cap) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, cap, fmt, ap);
    va_end(ap);
}

rmq_err_t rmq_ctl_client_new(const char *const *endpoints, size_t n, uint32_t timeout_ms, rmq_ctl_client_t **out) {
    *out = NULL;
    if (!n || n > RMQ_CTL_MAX_ENDPOINTS) return RMQ_ERR_INVALID_ARG;
    rmq_ctl_client_t *c = calloc(1, sizeof *c);
    if (!c) return RMQ_ERR_NOMEM;
    c->n = n;
    c->timeout_ms = timeout_ms ? timeout_ms : 10000;
    for (size_t i = 0; i < n; i++) {
        c->fd[i] = -1;
        c->ep[i] = strdup(endpoints[i]);
        if (!c->ep[i]) {
            rmq_ctl_client_free(c);
            return RMQ_ERR_NOMEM;
        }
    }
    *out = c;
    return RMQ_NONE;
}

void rmq_ctl_client_free(rmq_ctl_client_t *c) {
    if (!c) return;
    for (size_t i = 0; i < c->n; i++) {
        if (c->fd[i] >= 0) close(c->fd[i]);
        free(c->ep[i]);
    }
    free(c);
}

size_t rmq_ctl_client_endpoint_count(const rmq_ctl_client_t *c) { return c->n; }

static void drop(rmq_ctl_client_t *c, size_t i) {
    if (c->fd[i] >= 0) close(c->fd[i]);
    c->fd[i] = -1;
}

static rmq_err_t connect_ep(rmq_ctl_client_t *c, size_t i, uint64_t deadline, char *msg, size_t cap) {
    if (c->fd[i] >= 0) return RMQ_NONE;
    char host[256];
    int port;
    if (rmq_net_parse_hostport(c->ep[i], host, sizeof host, &port)) {
        msgset(msg, cap, "bad controller endpoint \"%s\"", c->ep[i]);
        return RMQ_ERR_INVALID_ARG;
    }
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai = NULL;
    char ps[16];
    snprintf(ps, sizeof ps, "%d", port);
    if (getaddrinfo(host, ps, &hints, &ai) || !ai) {
        msgset(msg, cap, "cannot resolve %s", c->ep[i]);
        return RMQ_NETWORK_EXCEPTION;
    }
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        freeaddrinfo(ai);
        return RMQ_NETWORK_EXCEPTION;
    }
    int rc = connect(fd, ai->ai_addr, ai->ai_addrlen);
    freeaddrinfo(ai);
    if (rc && errno != EINPROGRESS) {
        msgset(msg, cap, "connect %s: %s", c->ep[i], strerror(errno));
        close(fd);
        return RMQ_NETWORK_EXCEPTION;
    }
    if (rc) {
        struct pollfd p = {.fd = fd, .events = POLLOUT};
        uint64_t t = now_ms();
        int wait = deadline > t ? (int)(deadline - t) : 0;
        if (poll(&p, 1, wait) != 1) {
            msgset(msg, cap, "connect %s: timed out", c->ep[i]);
            close(fd);
            return RMQ_REQUEST_TIMED_OUT;
        }
        int err = 0;
        socklen_t el = sizeof err;
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el);
        if (err) {
            msgset(msg, cap, "connect %s: %s", c->ep[i], strerror(err));
            close(fd);
            return RMQ_NETWORK_EXCEPTION;
        }
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    c->fd[i] = fd;
    return RMQ_NONE;
}

static rmq_err_t io_all(int fd, uint8_t *p, size_t n, bool wr, uint64_t deadline) {
    size_t off = 0;
    while (off < n) {
        ssize_t r = wr ? send(fd, p + off, n - off, MSG_NOSIGNAL) : recv(fd, p + off, n - off, 0);
        if (r > 0) {
            off += (size_t)r;
            continue;
        }
        if (r == 0) return RMQ_NETWORK_EXCEPTION;
        if (errno == EINTR) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) return RMQ_NETWORK_EXCEPTION;
        uint64_t t = now_ms();
        if (t >= deadline) return RMQ_REQUEST_TIMED_OUT;
        struct pollfd pf = {.fd = fd, .events = wr ? POLLOUT : POLLIN};
        poll(&pf, 1, (int)(deadline - t));
    }
    return RMQ_NONE;
}

/* One request/response on endpoint i. On success *resp holds the payload
 * after the correlation id (error i16 | body) and *err the error field. */
static rmq_err_t call(rmq_ctl_client_t *c, size_t i, uint16_t api, const uint8_t *body, size_t blen,
                      uint64_t deadline, rmq_buf_t *resp, char *msg, size_t cap) {
    rmq_err_t e = connect_ep(c, i, deadline, msg, cap);
    if (e) return e;
    int32_t corr = ++c->corr;
    rmq_buf_t req;
    rmq_buf_init(&req);
    rmq_buf_put_u32(&req, (uint32_t)(6 + blen));
    rmq_buf_put_u16(&req, api);
    rmq_buf_put_i32(&req, corr);
    rmq_buf_put(&req, body, blen);
    if (req.oom) {
        rmq_buf_free(&req);
        return RMQ_ERR_NOMEM;
    }
    e = io_all(c->fd[i], req.data, req.len, true, deadline);
    rmq_buf_free(&req);
    uint8_t hdr[4];
    if (!e) e = io_all(c->fd[i], hdr, 4, false, deadline);
    uint32_t n = e ? 0 : rmq_be32(hdr);
    if (!e && (n < 6 || n > RMQ_CTL_MAX_FRAME)) e = RMQ_CORRUPT_MESSAGE;
    if (!e) {
        rmq_buf_reset(resp);
        uint8_t *p = rmq_buf_extend(resp, n);
        if (!p) e = RMQ_ERR_NOMEM;
        if (!e) e = io_all(c->fd[i], p, n, false, deadline);
        if (!e && (int32_t)rmq_be32(p) != corr) e = RMQ_CORRUPT_MESSAGE;
    }
    if (e) {
        msgset(msg, cap, "controller %s: %s", c->ep[i], rmq_err_name(e));
        drop(c, i);
    }
    return e;
}

rmq_err_t rmq_ctl_decode_describe(const uint8_t *body, size_t len, rmq_ctl_describe_t *d) {
    rmq_cur_t c, *cur = &c;
    rmq_cur_init(cur, body, len);
    memset(d, 0, sizeof *d);
    d->node_id = rmq_cur_i32(cur);
    d->role = rmq_cur_u8(cur);
    d->term = rmq_cur_i64(cur);
    d->leader_id = rmq_cur_i32(cur);
    rmq_ctl_get_str(cur, d->leader_address, sizeof d->leader_address);
    d->last_applied = rmq_cur_i64(cur);
    d->commit_index = rmq_cur_i64(cur);
    d->meta_index = rmq_cur_i64(cur);
    d->meta_version = rmq_cur_i64(cur);
    d->has_cluster = rmq_cur_u8(cur) != 0;
    const uint8_t *id = rmq_cur_bytes(cur, 16);
    if (id) memcpy(d->cluster_id.b, id, 16);
    d->topics = rmq_cur_i32(cur);
    d->leader_ready = rmq_cur_u8(cur) != 0;
    uint16_t n = rmq_cur_u16(cur);
    for (uint16_t i = 0; i < n && rmq_cur_ok(cur); i++) {
        int32_t sid = rmq_cur_i32(cur);
        char addr[64];
        rmq_ctl_get_str(cur, addr, sizeof addr);
        int role = rmq_cur_u8(cur);
        if (i < 16) {
            d->servers[i].id = sid;
            snprintf(d->servers[i].address, sizeof d->servers[i].address, "%s", addr);
            d->servers[i].role = role;
            d->n_servers = (uint32_t)i + 1;
        }
    }
    return rmq_cur_ok(cur) ? RMQ_NONE : RMQ_CORRUPT_MESSAGE;
}

static rmq_err_t describe_until(rmq_ctl_client_t *c, size_t i, rmq_ctl_describe_t *out, uint64_t deadline,
                                char *msg, size_t cap) {
    if (i >= c->n) return RMQ_ERR_INVALID_ARG;
    rmq_buf_t r;
    rmq_buf_init(&r);
    rmq_err_t e = call(c, i, RMQ_CTL_DESCRIBE, NULL, 0, deadline, &r, msg, cap);
    if (!e) {
        e = (int16_t)rmq_be16(r.data + 4); /* call() checked len >= 6 */
        if (!e) {
            e = rmq_ctl_decode_describe(r.data + 6, r.len - 6, out);
            if (!e) c->node_id[i] = out->node_id;
        }
    }
    rmq_buf_free(&r);
    return e;
}

rmq_err_t rmq_ctl_client_describe(rmq_ctl_client_t *c, size_t i, rmq_ctl_describe_t *out, char *msg, size_t cap) {
    return describe_until(c, i, out, now_ms() + c->timeout_ms, msg, cap);
}

static void pause_ms(unsigned ms) { usleep(ms * 1000); }

/* Point c->leader at the endpoint of node `id` (describing unknown ones). */
static bool locate(rmq_ctl_client_t *c, int32_t id, uint64_t deadline) {
    for (size_t i = 0; i < c->n; i++)
        if (c->node_id[i] == id) {
            c->leader = i;
            return true;
        }
    for (size_t i = 0; i < c->n; i++) {
        if (c->node_id[i]) continue;
        rmq_ctl_describe_t d;
        uint64_t dl = now_ms() + 1000;
        if (!describe_until(c, i, &d, dl < deadline ? dl : deadline, NULL, 0) && d.node_id == id) {
            c->leader = i;
            return true;
        }
    }
    return false;
}

rmq_err_t rmq_ctl_client_find_leader(rmq_ctl_client_t *c, size_t *endpoint, char *msg, size_t cap) {
    uint64_t deadline = now_ms() + c->timeout_ms;
    msgset(msg, cap, "no controller leader within %u ms", c->timeout_ms);
    while (now_ms() < deadline) {
        for (size_t k = 0; k < c->n; k++) {
            size_t i = (c->leader + k) % c->n;
            rmq_ctl_describe_t d;
            uint64_t dl = now_ms() + 1000;
            if (describe_until(c, i, &d, dl < deadline ? dl : deadline, NULL, 0)) continue;
            if (d.role == 3 && d.leader_ready) {
                c->leader = i;
                *endpoint = i;
                return RMQ_NONE;
            }
        }
        pause_ms(50);
    }
    return RMQ_NOT_CONTROLLER;
}

/* A leader-only call with redirects. On RMQ_NONE, *resp holds the response
 * payload (corr | err | body) of the leader and *app_err its error field
 * (may itself be an application error). */
static rmq_err_t leader_call(rmq_ctl_client_t *c, uint16_t api, const uint8_t *body, size_t blen, rmq_buf_t *resp,
                             rmq_err_t *app_err, char *msg, size_t cap) {
    uint64_t deadline = now_ms() + c->timeout_ms;
    rmq_err_t last = RMQ_REQUEST_TIMED_OUT;
    char lmsg[256] = "no controller answered";
    size_t tried = 0;
    while (now_ms() < deadline) {
        size_t i = c->leader % c->n;
        /* one unresponsive endpoint (a SIGSTOPped or partitioned process
         * whose kernel still accepts) must not eat the whole budget */
        uint64_t attempt = now_ms() + ATTEMPT_MS;
        rmq_err_t e = call(c, i, api, body, blen, attempt < deadline ? attempt : deadline, resp, lmsg, sizeof lmsg);
        if (e) {
            last = e;
            c->leader = (i + 1) % c->n;
            if (++tried % c->n == 0) pause_ms(50);
            continue;
        }
        rmq_cur_t cur;
        rmq_cur_init(&cur, resp->data + 4, resp->len - 4);
        rmq_err_t ae = rmq_cur_i16(&cur);
        if (ae == RMQ_NOT_CONTROLLER) {
            int32_t lid = rmq_cur_i32(&cur);
            last = RMQ_NOT_CONTROLLER;
            snprintf(lmsg, sizeof lmsg, "controller %s is not the leader (leader %d)", c->ep[i], lid);
            if (lid > 0 && lid != c->node_id[i] && locate(c, lid, deadline)) continue;
            c->leader = (i + 1) % c->n;
            if (++tried % c->n == 0) pause_ms(50);
            continue;
        }
        *app_err = ae;
        return RMQ_NONE;
    }
    msgset(msg, cap, "%s", lmsg);
    return last;
}

rmq_err_t rmq_ctl_decode_propose(rmq_err_t ae, const uint8_t *body, size_t len, rmq_meta_result_t *res) {
    rmq_cur_t cur;
    rmq_cur_init(&cur, body, len);
    res->err = ae;
    res->index = rmq_cur_i64(&cur);
    const uint8_t *tid = rmq_cur_bytes(&cur, 16);
    if (tid) memcpy(res->topic_id.b, tid, 16);
    rmq_ctl_get_str(&cur, res->msg, sizeof res->msg);
    uint32_t n = rmq_cur_u32(&cur);
    if (rmq_cur_ok(&cur) && n && (size_t)n * 8 <= rmq_cur_remaining(&cur)) {
        res->stream_ids = malloc(n * sizeof *res->stream_ids);
        if (res->stream_ids) {
            for (uint32_t i = 0; i < n; i++) res->stream_ids[i] = (uint64_t)rmq_cur_i64(&cur);
            res->n_stream_ids = n;
        }
    }
    if (!rmq_cur_ok(&cur) && !ae) {
        res->err = RMQ_CORRUPT_MESSAGE;
        snprintf(res->msg, sizeof res->msg, "malformed PROPOSE response");
    }
    return res->err;
}

rmq_err_t rmq_ctl_client_propose(rmq_ctl_client_t *c, const uint8_t *cmd, size_t len, rmq_meta_result_t *res) {
    rmq_meta_result_init(res);
    rmq_buf_t r;
    rmq_buf_init(&r);
    rmq_err_t ae = 0;
    rmq_err_t e = leader_call(c, RMQ_CTL_PROPOSE, cmd, len, &r, &ae, res->msg, sizeof res->msg);
    if (e) {
        res->err = e;
        rmq_buf_free(&r);
        return e;
    }
    rmq_ctl_decode_propose(ae, r.data + 6, r.len - 6, res);
    rmq_buf_free(&r);
    return res->err;
}

rmq_err_t rmq_ctl_client_propose_cmd(rmq_ctl_client_t *c, const rmq_meta_cmd_t *cmd, rmq_meta_result_t *res) {
    rmq_buf_t b;
    rmq_buf_init(&b);
    rmq_err_t e = rmq_meta_cmd_encode(cmd, &b);
    if (e) {
        rmq_meta_result_init(res);
        res->err = e;
        snprintf(res->msg, sizeof res->msg, "cannot encode command: %s", rmq_err_name(e));
        rmq_buf_free(&b);
        return e;
    }
    e = rmq_ctl_client_propose(c, b.data, b.len, res);
    rmq_buf_free(&b);
    return e;
}

rmq_err_t rmq_ctl_decode_read_state(const uint8_t *body, size_t len, int64_t *index, const uint8_t **snap,
                                    size_t *snap_len) {
    rmq_cur_t cur;
    rmq_cur_init(&cur, body, len);
    *index = rmq_cur_i64(&cur);
    *snap = rmq_ctl_get_bytes(&cur, snap_len);
    return rmq_cur_ok(&cur) ? RMQ_NONE : RMQ_CORRUPT_MESSAGE;
}

rmq_err_t rmq_ctl_client_read_state(rmq_ctl_client_t *c, rmq_meta_state_t *into, int64_t *index, char *msg,
                                    size_t cap) {
    rmq_buf_t r;
    rmq_buf_init(&r);
    rmq_err_t ae = 0;
    rmq_err_t e = leader_call(c, RMQ_CTL_READ_STATE, NULL, 0, &r, &ae, msg, cap);
    if (!e && ae) {
        msgset(msg, cap, "READ_STATE: %s", rmq_err_name(ae));
        e = ae;
    }
    if (!e) {
        int64_t idx = 0;
        size_t n = 0;
        const uint8_t *snap = NULL;
        e = rmq_ctl_decode_read_state(r.data + 6, r.len - 6, &idx, &snap, &n);
        if (!e) e = rmq_meta_state_restore(into, snap, n);
        if (e) msgset(msg, cap, "READ_STATE: bad snapshot: %s", rmq_err_name(e));
        if (!e && index) *index = idx;
    }
    rmq_buf_free(&r);
    return e;
}

rmq_err_t rmq_ctl_apply_fetch(const uint8_t *body, size_t len, rmq_meta_state_t *mirror, size_t *n_applied) {
    if (n_applied) *n_applied = 0;
    rmq_cur_t cur;
    rmq_cur_init(&cur, body, len);
    rmq_err_t e = RMQ_NONE;
    uint8_t mode = rmq_cur_u8(&cur);
    if (mode == 1) {
        (void)rmq_cur_i64(&cur);
        size_t n;
        const uint8_t *snap = rmq_ctl_get_bytes(&cur, &n);
        e = rmq_cur_ok(&cur) ? rmq_meta_state_restore(mirror, snap, n) : RMQ_CORRUPT_MESSAGE;
        if (!e && n_applied) *n_applied = 1;
    } else {
        uint32_t n = rmq_cur_u32(&cur);
        for (uint32_t k = 0; k < n && rmq_cur_ok(&cur); k++) {
            int64_t idx = rmq_cur_i64(&cur);
            size_t clen;
            const uint8_t *cmd = rmq_ctl_get_bytes(&cur, &clen);
            if (!rmq_cur_ok(&cur)) break;
            if (idx <= rmq_meta_state_last_index(mirror)) continue;
            rmq_meta_state_apply(mirror, cmd, clen, idx, NULL); /* rejections are part of the log too */
            if (n_applied) (*n_applied)++;
        }
        if (!rmq_cur_ok(&cur)) e = RMQ_CORRUPT_MESSAGE;
    }
    return e;
}

rmq_err_t rmq_ctl_client_fetch(rmq_ctl_client_t *c, size_t endpoint, rmq_meta_state_t *mirror, uint32_t max,
                               size_t *n_applied, char *msg, size_t cap) {
    if (n_applied) *n_applied = 0;
    if (endpoint >= c->n) return RMQ_ERR_INVALID_ARG;
    rmq_buf_t body, r;
    rmq_buf_init(&body);
    rmq_buf_init(&r);
    int64_t from = rmq_meta_state_last_index(mirror);
    rmq_buf_put_i64(&body, from);
    rmq_buf_put_u32(&body, max);
    rmq_err_t e = call(c, endpoint, RMQ_CTL_FETCH, body.data, body.len, now_ms() + c->timeout_ms, &r, msg, cap);
    rmq_buf_free(&body);
    if (e) {
        rmq_buf_free(&r);
        return e;
    }
    e = (int16_t)rmq_be16(r.data + 4); /* call() checked len >= 6 */
    if (!e) e = rmq_ctl_apply_fetch(r.data + 6, r.len - 6, mirror, n_applied);
    if (e) msgset(msg, cap, "FETCH from %s: %s", c->ep[endpoint], rmq_err_name(e));
    rmq_buf_free(&r);
    return e;
}

rmq_err_t rmq_ctl_decode_heartbeat(const uint8_t *body, size_t len, int64_t *leader_index) {
    rmq_cur_t cur;
    rmq_cur_init(&cur, body, len);
    int64_t idx = rmq_cur_i64(&cur);
    if (!rmq_cur_ok(&cur)) return RMQ_CORRUPT_MESSAGE;
    if (leader_index) *leader_index = idx;
    return RMQ_NONE;
}

rmq_err_t rmq_ctl_client_heartbeat(rmq_ctl_client_t *c, int32_t broker_id, int64_t epoch, uint32_t session_timeout_ms,
                                   int64_t *leader_index, char *msg, size_t cap) {
    rmq_buf_t body, r;
    rmq_buf_init(&body);
    rmq_buf_init(&r);
    rmq_buf_put_i32(&body, broker_id);
    rmq_buf_put_i64(&body, epoch);
    rmq_buf_put_u32(&body, session_timeout_ms);
    rmq_err_t ae = 0;
    rmq_err_t e = body.oom ? RMQ_ERR_NOMEM : leader_call(c, RMQ_CTL_HEARTBEAT, body.data, body.len, &r, &ae, msg, cap);
    if (!e) {
        (void)rmq_ctl_decode_heartbeat(r.data + 6, r.len - 6, leader_index); /* the index is optional */
        e = ae;
        if (e) msgset(msg, cap, "HEARTBEAT: %s", rmq_err_name(e));
    }
    rmq_buf_free(&body);
    rmq_buf_free(&r);
    return e;
}

static rmq_err_t change(rmq_ctl_client_t *c, uint16_t api, int32_t id, const char *addr, char *msg, size_t cap) {
    rmq_buf_t body, r;
    rmq_buf_init(&body);
    rmq_buf_init(&r);
    rmq_buf_put_i32(&body, id);
    if (api == RMQ_CTL_ADD_VOTER) rmq_ctl_put_str(&body, addr);
    rmq_err_t ae = 0;
    rmq_err_t e = leader_call(c, api, body.data, body.len, &r, &ae, msg, cap);
    if (!e) {
        rmq_cur_t cur;
        rmq_cur_init(&cur, r.data + 6, r.len - 6);
        char text[256] = "";
        rmq_ctl_get_str(&cur, text, sizeof text);
        msgset(msg, cap, "%s", text);
        e = ae;
    }
    rmq_buf_free(&body);
    rmq_buf_free(&r);
    return e;
}

rmq_err_t rmq_ctl_client_add_voter(rmq_ctl_client_t *c, int32_t id, const char *raft_address, char *msg,
                                   size_t cap) {
    return change(c, RMQ_CTL_ADD_VOTER, id, raft_address, msg, cap);
}

rmq_err_t rmq_ctl_client_remove_voter(rmq_ctl_client_t *c, int32_t id, char *msg, size_t cap) {
    return change(c, RMQ_CTL_REMOVE_VOTER, id, NULL, msg, cap);
}
