/* kclient.c - the blocking admin Kafka client (see kclient.h): connect with
 * a timeout, ApiVersions v0 on every new connection, request framing through
 * rmq_kafka_encode_request, response reading with a size cap, header and
 * correlation-id check, body decode with the codec into the caller's arena. */
#include "admin/kclient.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/buf.h"
#include "protocol/kafka_api.h"
#include "protocol/kafka_codec.h"
#include "protocol/kafka_msgs.h"

#define RMQ_KC_MAX_NODES 64
#define RMQ_KC_MAX_APIS 128
#define RMQ_KC_MAX_FRAME (64u << 20)

typedef struct rmq_kc_conn {
    int32_t node; /* RMQ_KCLIENT_ANY for the bootstrap connection */
    char host[256];
    int32_t port;
    int fd;
    int16_t vmin[RMQ_KC_MAX_APIS], vmax[RMQ_KC_MAX_APIS]; /* vmax < 0: not offered */
} rmq_kc_conn_t;

struct rmq_kclient {
    pthread_mutex_t mu;
    uint32_t timeout_ms;
    int32_t corr;
    char bootstrap[512];
    char boot_used[300];
    rmq_kc_conn_t conns[RMQ_KC_MAX_NODES + 1]; /* [0] bootstrap */
    size_t nconns;
};

static int rmq_kc_connect_addr(const char *host, int32_t port, uint32_t timeout_ms, char *err, size_t cap) {
    char ps[16];
    snprintf(ps, sizeof ps, "%d", port);
    struct addrinfo hints, *res = NULL, *ai;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    int g = getaddrinfo(host, ps, &hints, &res);
    if (g) {
        snprintf(err, cap, "cannot resolve %s: %s", host, gai_strerror(g));
        return -1;
    }
    int fd = -1;
    for (ai = res; ai; ai = ai->ai_next) {
        fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0) continue;
        int rc = connect(fd, ai->ai_addr, ai->ai_addrlen);
        if (rc && errno == EINPROGRESS) {
            struct pollfd p = {fd, POLLOUT, 0};
            int pr = poll(&p, 1, (int)timeout_ms);
            if (pr == 1) {
                int soerr = 0;
                socklen_t sl = sizeof soerr;
                getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl);
                rc = soerr ? -1 : 0;
                errno = soerr;
            } else {
                rc = -1;
                if (pr == 0) errno = ETIMEDOUT;
            }
        }
        if (rc == 0) break;
        snprintf(err, cap, "cannot connect to %s:%d: %s", host, port, strerror(errno));
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0) return -1;
    int fl = fcntl(fd, F_GETFL);
    fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
    struct timeval tv = {(time_t)(timeout_ms / 1000), (suseconds_t)((timeout_ms % 1000) * 1000)};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

static rmq_err_t rmq_kc_write_all(int fd, const uint8_t *p, size_t n) {
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR) continue;
            return (errno == EAGAIN || errno == EWOULDBLOCK) ? RMQ_ERR_TIMEOUT : RMQ_ERR_IO;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static rmq_err_t rmq_kc_read_all(int fd, uint8_t *p, size_t n) {
    while (n) {
        ssize_t r = recv(fd, p, n, 0);
        if (r == 0) return RMQ_ERR_CLOSED;
        if (r < 0) {
            if (errno == EINTR) continue;
            return (errno == EAGAIN || errno == EWOULDBLOCK) ? RMQ_ERR_TIMEOUT : RMQ_ERR_IO;
        }
        p += r;
        n -= (size_t)r;
    }
    return 0;
}

/* One round trip on c: frame out, response frame (arena-owned) back; the
 * cursor is positioned after the response header. */
static rmq_err_t rmq_kc_roundtrip(rmq_kclient_t *kc, rmq_kc_conn_t *c, int16_t api_key, int16_t ver, const void *req,
                                  rmq_arena_t *a, rmq_cur_t *cur, char *err, size_t cap) {
    rmq_kafka_request_header_t h = {api_key, ver, ++kc->corr, rmq_kstr("rustmq-admin"), 0};
    rmq_buf_t out;
    rmq_buf_init(&out);
    rmq_err_t rc = rmq_kafka_encode_request(&h, req, &out);
    if (rc || out.oom) {
        snprintf(err, cap, "cannot encode %s v%d request: %s", rmq_kafka_api_name(api_key), ver, rmq_err_name(rc ? rc : RMQ_ERR_NOMEM));
        rmq_buf_free(&out);
        return rc ? rc : RMQ_ERR_NOMEM;
    }
    rc = rmq_kc_write_all(c->fd, out.data, out.len);
    rmq_buf_free(&out);
    uint8_t szb[4];
    if (!rc) rc = rmq_kc_read_all(c->fd, szb, 4);
    if (rc) {
        snprintf(err, cap, "%s:%d: %s while waiting for the %s response", c->host, c->port,
                 rc == RMQ_ERR_TIMEOUT ? "timed out" : rc == RMQ_ERR_CLOSED ? "connection closed" : strerror(errno),
                 rmq_kafka_api_name(api_key));
        return rc;
    }
    uint32_t sz = rmq_be32(szb);
    if (sz < 4 || sz > RMQ_KC_MAX_FRAME) {
        snprintf(err, cap, "%s:%d sent an invalid frame size %u", c->host, c->port, sz);
        return RMQ_ERR_BAD_LENGTH;
    }
    uint8_t *frame = rmq_arena_alloc(a, sz);
    if (!frame) return RMQ_ERR_NOMEM;
    rc = rmq_kc_read_all(c->fd, frame, sz);
    if (rc) {
        snprintf(err, cap, "%s:%d: connection lost reading the %s response", c->host, c->port, rmq_kafka_api_name(api_key));
        return rc;
    }
    rmq_cur_init(cur, frame, sz);
    int32_t corr = 0;
    rc = rmq_kafka_decode_response_header(cur, rmq_kafka_response_header_version(api_key, ver), &corr);
    if (!rc && corr != h.correlation_id) rc = RMQ_ERR_CORRUPT;
    if (rc) snprintf(err, cap, "%s:%d sent a bad %s response header", c->host, c->port, rmq_kafka_api_name(api_key));
    return rc;
}

static void rmq_kc_drop(rmq_kc_conn_t *c) {
    if (c->fd >= 0) close(c->fd);
    c->fd = -1;
}

/* Make sure c is connected and its versions are known. */
static rmq_err_t rmq_kc_ensure(rmq_kclient_t *kc, rmq_kc_conn_t *c, char *err, size_t cap) {
    if (c->fd >= 0) return 0;
    c->fd = rmq_kc_connect_addr(c->host, c->port, kc->timeout_ms, err, cap);
    if (c->fd < 0) return RMQ_ERR_IO;
    rmq_arena_t a;
    rmq_arena_init(&a, 1u << 20);
    rmq_kmsg_api_versions_request_t req;
    rmq_kafka_msg_init(&rmq_kmsg_api_versions_request_desc, &req);
    rmq_cur_t cur;
    rmq_err_t rc = rmq_kc_roundtrip(kc, c, RMQ_KAPI_API_VERSIONS, 0, &req, &a, &cur, err, cap);
    rmq_kmsg_api_versions_response_t resp;
    if (!rc) rc = rmq_kafka_decode(&rmq_kmsg_api_versions_response_desc, 0, &cur, &a, &resp);
    if (!rc && resp.error_code) rc = resp.error_code;
    if (rc) {
        if (!err[0]) snprintf(err, cap, "%s:%d: ApiVersions failed: %s", c->host, c->port, rmq_err_name(rc));
        rmq_arena_free(&a);
        rmq_kc_drop(c);
        return rc;
    }
    for (int i = 0; i < RMQ_KC_MAX_APIS; i++) c->vmax[i] = -1;
    for (int32_t i = 0; i < resp.api_keys.n; i++) {
        int16_t k = resp.api_keys.v[i].api_key;
        if (k >= 0 && k < RMQ_KC_MAX_APIS) {
            c->vmin[k] = resp.api_keys.v[i].min_version;
            c->vmax[k] = resp.api_keys.v[i].max_version;
        }
    }
    rmq_arena_free(&a);
    return 0;
}

rmq_err_t rmq_kclient_open(const char *bootstrap, uint32_t timeout_ms, rmq_kclient_t **out, char *err, size_t cap) {
    *out = NULL;
    err[0] = 0;
    rmq_kclient_t *kc = calloc(1, sizeof *kc);
    if (!kc) return RMQ_ERR_NOMEM;
    pthread_mutex_init(&kc->mu, NULL);
    kc->timeout_ms = timeout_ms ? timeout_ms : 10000;
    snprintf(kc->bootstrap, sizeof kc->bootstrap, "%s", bootstrap ? bootstrap : "");
    for (size_t i = 0; i < sizeof kc->conns / sizeof kc->conns[0]; i++) kc->conns[i].fd = -1;
    kc->nconns = 1;
    char list[512];
    snprintf(list, sizeof list, "%s", kc->bootstrap);
    rmq_err_t rc = RMQ_ERR_CONFIG;
    char *save = NULL;
    for (char *tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        while (*tok == ' ') tok++;
        char *colon = strrchr(tok, ':');
        if (!colon || colon == tok) {
            snprintf(err, cap, "bootstrap address '%s' must be host:port", tok);
            rc = RMQ_ERR_CONFIG;
            continue;
        }
        rmq_kc_conn_t *c = &kc->conns[0];
        c->node = RMQ_KCLIENT_ANY;
        size_t hl = (size_t)(colon - tok);
        if (hl >= sizeof c->host) hl = sizeof c->host - 1;
        memcpy(c->host, tok, hl);
        c->host[hl] = 0;
        c->port = atoi(colon + 1);
        err[0] = 0;
        rc = rmq_kc_ensure(kc, c, err, cap);
        if (!rc) {
            snprintf(kc->boot_used, sizeof kc->boot_used, "%s:%d", c->host, c->port);
            break;
        }
        if (rc != RMQ_ERR_CONFIG) rc = RMQ_ERR_IO;
    }
    if (rc) {
        if (!err[0]) snprintf(err, cap, "no bootstrap address given");
        rmq_kclient_close(kc);
        return rc;
    }
    *out = kc;
    return 0;
}

void rmq_kclient_close(rmq_kclient_t *kc) {
    if (!kc) return;
    for (size_t i = 0; i < kc->nconns; i++) rmq_kc_drop(&kc->conns[i]);
    pthread_mutex_destroy(&kc->mu);
    free(kc);
}

const char *rmq_kclient_bootstrap(const rmq_kclient_t *kc) { return kc->boot_used; }

void rmq_kclient_set_node(rmq_kclient_t *kc, int32_t node, const char *host, size_t host_len, int32_t port) {
    if (node < 0 || !host) return;
    pthread_mutex_lock(&kc->mu);
    char h[256];
    if (host_len >= sizeof h) host_len = sizeof h - 1;
    memcpy(h, host, host_len);
    h[host_len] = 0;
    rmq_kc_conn_t *c = NULL;
    for (size_t i = 1; i < kc->nconns; i++)
        if (kc->conns[i].node == node) c = &kc->conns[i];
    if (!c && kc->nconns < sizeof kc->conns / sizeof kc->conns[0]) {
        c = &kc->conns[kc->nconns++];
        c->fd = -1;
        c->node = node;
    }
    if (c && (strcmp(c->host, h) || c->port != port)) {
        rmq_kc_drop(c);
        snprintf(c->host, sizeof c->host, "%s", h);
        c->port = port;
    }
    pthread_mutex_unlock(&kc->mu);
}

rmq_err_t rmq_kclient_call(rmq_kclient_t *kc, int32_t node, int16_t api_key, int16_t max_version, const void *req,
                           rmq_arena_t *a, void *resp, int16_t *version_out, char *err, size_t cap) {
    err[0] = 0;
    const rmq_kafka_api_info_t *info = rmq_kafka_api_info(api_key);
    if (!info || api_key >= RMQ_KC_MAX_APIS) return RMQ_ERR_UNSUPPORTED;
    pthread_mutex_lock(&kc->mu);
    rmq_kc_conn_t *c = &kc->conns[0];
    if (node >= 0)
        for (size_t i = 1; i < kc->nconns; i++)
            if (kc->conns[i].node == node) c = &kc->conns[i];
    rmq_err_t rc = 0;
    for (int attempt = 0; attempt < 2; attempt++) {
        rc = rmq_kc_ensure(kc, c, err, cap);
        if (rc) break;
        int16_t v = max_version;
        if (v > c->vmax[api_key]) v = c->vmax[api_key];
        if (v > info->max_version) v = info->max_version;
        if (c->vmax[api_key] < 0 || v < c->vmin[api_key] || v < info->min_version) {
            snprintf(err, cap, "the broker at %s:%d does not support the %s API (needed for this command)", c->host,
                     c->port, info->name);
            rc = RMQ_ERR_UNSUPPORTED;
            break;
        }
        rmq_cur_t cur;
        rc = rmq_kc_roundtrip(kc, c, api_key, v, req, a, &cur, err, cap);
        if (rc == RMQ_ERR_CLOSED || rc == RMQ_ERR_IO) {
            rmq_kc_drop(c); /* stale connection: reconnect once */
            continue;
        }
        if (!rc) {
            rmq_kafka_decode_error_t de;
            rc = rmq_kafka_decode_ex(info->response, v, &cur, a, resp, &de);
            if (rc) {
                char d[256];
                rmq_kafka_decode_error_format(&de, d, sizeof d);
                snprintf(err, cap, "cannot decode the %s v%d response from %s:%d: %s", info->name, v, c->host, c->port, d);
            }
        }
        if (rc) rmq_kc_drop(c);
        if (version_out) *version_out = v;
        break;
    }
    pthread_mutex_unlock(&kc->mu);
    return rc;
}
