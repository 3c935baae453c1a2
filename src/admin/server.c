/* server.c - the HTTP side of the admin API (see admin.h): a libmicrohttpd
 * daemon (one thread per connection, so a Server-Sent Events stream can
 * block between events) on a listening socket we bind ourselves (for useful
 * bind errors and port 0), request bodies, the rate limiter in front of every
 * request (429 + X-RateLimit-* / Retry-After), response headers, request
 * metrics, and the SSE metrics stream. Routing and JSON are in api.c. */
#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "admin/admin.h"
#include "admin/api.h"
#include "common/buf.h"
#include "common/clock.h"
#include "common/log.h"

struct rmq_admin_server {
    rmq_admin_config_t cfg;
    rmq_admin_api_t *api;
    rmq_ratelimiter_t *rl;
    struct MHD_Daemon *mhd;
    int lfd;
    int port;
    const rmq_clock_t *clock;
    /* SSE streams and shutdown */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stopping;
    uint32_t sse_active;
    /* metrics */
    rmq_metric_family_t *m_requests;
    rmq_metric_family_t *m_duration;
    rmq_metric_family_t *m_limited;
    rmq_gauge_t *m_sse;
};

typedef struct rmq_conn_req {
    rmq_buf_t body;
    bool too_large;
    uint64_t start_ns;
} rmq_conn_req_t;

typedef struct rmq_sse {
    rmq_admin_server_t *s;
    char *pending; /* owned */
    size_t len, off;
    uint64_t next_ns;
    uint64_t interval_ns;
    uint64_t seq;
} rmq_sse_t;

/* ---- listen socket ------------------------------------------------------------------ */

static rmq_err_t rmq_admin_bind(const char *listen_addr, int *fd_out, int *port_out, char *errbuf, size_t errlen) {
    char host[256];
    const char *colon = strrchr(listen_addr ? listen_addr : "", ':');
    if (!listen_addr || !colon) {
        snprintf(errbuf, errlen, "admin listen address '%s' must be host:port", listen_addr ? listen_addr : "");
        return RMQ_ERR_CONFIG;
    }
    size_t hl = (size_t)(colon - listen_addr);
    if (hl >= sizeof host) hl = sizeof host - 1;
    memcpy(host, listen_addr, hl);
    host[hl] = 0;
    if (hl >= 2 && host[0] == '[' && host[hl - 1] == ']') {
        memmove(host, host + 1, hl - 2);
        host[hl - 2] = 0;
    }
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    int gai = getaddrinfo(host[0] ? host : NULL, colon + 1, &hints, &res);
    if (gai) {
        snprintf(errbuf, errlen, "admin listen address '%s': %s", listen_addr, gai_strerror(gai));
        return RMQ_ERR_CONFIG;
    }
    int fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(errbuf, errlen, "admin socket: %s", strerror(errno));
        freeaddrinfo(res);
        return RMQ_ERR_IO;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, res->ai_addr, res->ai_addrlen) || listen(fd, 128)) {
        snprintf(errbuf, errlen, "cannot listen on %s for the admin API: %s%s", listen_addr, strerror(errno),
                 errno == EADDRINUSE ? " (another process uses the port; set [admin] listen to a free one)" : "");
        close(fd);
        freeaddrinfo(res);
        return RMQ_ERR_IO;
    }
    freeaddrinfo(res);
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    getsockname(fd, (struct sockaddr *)&ss, &sl);
    *port_out = ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
                                         : ntohs(((struct sockaddr_in *)&ss)->sin_port);
    *fd_out = fd;
    return 0;
}

/* ---- helpers --------------------------------------------------------------------------- */

static void rmq_client_ip(struct MHD_Connection *c, char *buf, size_t cap) {
    buf[0] = 0;
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (!ci || !ci->client_addr) return;
    const struct sockaddr *sa = ci->client_addr;
    if (sa->sa_family == AF_INET) inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, buf, (socklen_t)cap);
    else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, buf, (socklen_t)cap);
}

static const char *rmq_query_mhd(void *qud, const char *key) {
    return MHD_lookup_connection_value((struct MHD_Connection *)qud, MHD_GET_ARGUMENT_KIND, key);
}

static void rmq_add_rl_headers(struct MHD_Response *resp, const rmq_rl_decision_t *d) {
    char tmp[32];
    if (d->limit <= 0) return;
    snprintf(tmp, sizeof tmp, "%.0f", d->limit);
    MHD_add_response_header(resp, "X-RateLimit-Limit", tmp);
    snprintf(tmp, sizeof tmp, "%llu", (unsigned long long)d->remaining);
    MHD_add_response_header(resp, "X-RateLimit-Remaining", tmp);
    snprintf(tmp, sizeof tmp, "%u", d->reset_s);
    MHD_add_response_header(resp, "X-RateLimit-Reset", tmp);
    if (!d->allowed) {
        snprintf(tmp, sizeof tmp, "%u", d->retry_after_s);
        MHD_add_response_header(resp, "Retry-After", tmp);
        MHD_add_response_header(resp, "X-RateLimit-Scope", d->scope);
    }
}

static void rmq_count_request(rmq_admin_server_t *s, const char *method, rmq_rl_category_t cat, int status,
                              uint64_t start_ns) {
    char code[8];
    snprintf(code, sizeof code, "%d", status);
    const char *m = method;
    if (strcmp(m, "GET") && strcmp(m, "POST") && strcmp(m, "PUT") && strcmp(m, "DELETE") && strcmp(m, "HEAD"))
        m = "OTHER";
    const char *v[3] = {m, rmq_rl_category_name(cat), code};
    rmq_counter_inc(rmq_counter_with(s->m_requests, v));
    const char *cv[1] = {rmq_rl_category_name(cat)};
    uint64_t now = s->clock->mono_ns(s->clock->ud);
    rmq_hist_observe(rmq_hist_with(s->m_duration, cv), now > start_ns ? (double)(now - start_ns) / 1e9 : 0);
}

static enum MHD_Result rmq_send_text(struct MHD_Connection *c, int status, char *body, size_t len,
                                     const char *ctype, const rmq_rl_decision_t *d, const rmq_admin_reply_t *r) {
    struct MHD_Response *resp = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Type", ctype);
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    if (d) rmq_add_rl_headers(resp, d);
    if (r) {
        if (r->location[0]) MHD_add_response_header(resp, "Location", r->location);
        if (r->allow[0]) MHD_add_response_header(resp, "Allow", r->allow);
        if (r->leader_hint[0]) MHD_add_response_header(resp, "X-RustMQ-Leader", r->leader_hint);
    }
    enum MHD_Result ret = MHD_queue_response(c, (unsigned)status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static enum MHD_Result rmq_send_error(struct MHD_Connection *c, int status, const char *code, const char *msg,
                                      const rmq_rl_decision_t *d) {
    rmq_admin_reply_t r;
    rmq_admin_reply_init(&r);
    r.status = status;
    r.json = rmq_admin_json_error(code, msg);
    size_t len = 0;
    char *body = rmq_admin_reply_body(&r, &len);
    rmq_admin_reply_free(&r);
    if (!body) return MHD_NO;
    return rmq_send_text(c, status, body, len, "application/json", d, NULL);
}

/* ---- SSE ------------------------------------------------------------------------------------ */

static ssize_t rmq_sse_read(void *cls, uint64_t pos, char *buf, size_t max) {
    (void)pos;
    rmq_sse_t *st = cls;
    rmq_admin_server_t *s = st->s;
    if (st->off >= st->len) {
        free(st->pending);
        st->pending = NULL;
        st->len = st->off = 0;
        /* wait for the next tick or shutdown */
        pthread_mutex_lock(&s->mu);
        for (;;) {
            if (s->stopping) {
                pthread_mutex_unlock(&s->mu);
                return MHD_CONTENT_READER_END_OF_STREAM;
            }
            uint64_t now = rmq_mono_ns();
            if (now >= st->next_ns) break;
            uint64_t wait = st->next_ns - now;
            if (wait > 200000000ull) wait = 200000000ull; /* re-check stop flag */
            struct timespec ts = rmq_cond_deadline_ns(wait);
            pthread_cond_timedwait(&s->cv, &s->mu, &ts);
        }
        pthread_mutex_unlock(&s->mu);
        st->next_ns += st->interval_ns;
        size_t jl = 0;
        char *json = rmq_admin_api_metrics_json(s->api, &jl);
        if (!json) return MHD_CONTENT_READER_END_WITH_ERROR;
        rmq_buf_t b;
        rmq_buf_init(&b);
        char head[64];
        int hn = snprintf(head, sizeof head, "event: metrics\nid: %llu\ndata: ", (unsigned long long)++st->seq);
        rmq_buf_put(&b, head, (size_t)hn);
        rmq_buf_put(&b, json, jl); /* compact JSON: no newlines inside */
        rmq_buf_put(&b, "\n\n", 2);
        free(json);
        if (b.oom) {
            rmq_buf_free(&b);
            return MHD_CONTENT_READER_END_WITH_ERROR;
        }
        st->pending = (char *)rmq_buf_detach(&b, &st->len);
    }
    size_t n = st->len - st->off;
    if (n > max) n = max;
    memcpy(buf, st->pending + st->off, n);
    st->off += n;
    return (ssize_t)n;
}

static void rmq_sse_free(void *cls) {
    rmq_sse_t *st = cls;
    rmq_admin_server_t *s = st->s;
    pthread_mutex_lock(&s->mu);
    s->sse_active--;
    pthread_mutex_unlock(&s->mu);
    rmq_gauge_add(s->m_sse, -1);
    free(st->pending);
    free(st);
}

static enum MHD_Result rmq_start_sse(rmq_admin_server_t *s, struct MHD_Connection *c, const rmq_rl_decision_t *d) {
    uint64_t interval_ms = s->cfg.sse_interval_ms ? s->cfg.sse_interval_ms : 1000;
    const char *iv = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "interval_ms");
    if (iv) {
        char *end;
        unsigned long long v = strtoull(iv, &end, 10);
        if (*end || v < 100 || v > 60000)
            return rmq_send_error(c, 400, "INVALID_REQUEST", "interval_ms must be an integer in [100, 60000]", d);
        interval_ms = v;
    }
    pthread_mutex_lock(&s->mu);
    if (s->sse_active >= (s->cfg.sse_max_streams ? s->cfg.sse_max_streams : 16)) {
        pthread_mutex_unlock(&s->mu);
        return rmq_send_error(c, 503, "TOO_MANY_STREAMS",
                              "too many concurrent metrics streams; poll /api/v1/metrics instead", d);
    }
    s->sse_active++;
    pthread_mutex_unlock(&s->mu);
    rmq_sse_t *st = calloc(1, sizeof *st);
    if (!st) {
        pthread_mutex_lock(&s->mu);
        s->sse_active--;
        pthread_mutex_unlock(&s->mu);
        return MHD_NO;
    }
    st->s = s;
    st->interval_ns = interval_ms * 1000000ull;
    st->next_ns = rmq_mono_ns();
    rmq_gauge_add(s->m_sse, 1);
    struct MHD_Response *resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16384, rmq_sse_read, st, rmq_sse_free);
    if (!resp) {
        rmq_sse_free(st);
        return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Type", "text/event-stream");
    MHD_add_response_header(resp, "Cache-Control", "no-cache");
    MHD_add_response_header(resp, "X-Accel-Buffering", "no");
    rmq_add_rl_headers(resp, d);
    enum MHD_Result ret = MHD_queue_response(c, 200, resp);
    MHD_destroy_response(resp);
    return ret;
}

/* ---- request handler ---------------------------------------------------------------------------- */

static enum MHD_Result rmq_ahc(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                               const char *version, const char *upload_data, size_t *upload_data_size,
                               void **con_cls) {
    (void)version;
    rmq_admin_server_t *s = cls;
    rmq_conn_req_t *cr = *con_cls;
    if (!cr) {
        cr = calloc(1, sizeof *cr);
        if (!cr) return MHD_NO;
        rmq_buf_init(&cr->body);
        cr->start_ns = s->clock->mono_ns(s->clock->ud);
        *con_cls = cr;
        return MHD_YES;
    }
    if (*upload_data_size) {
        if (cr->body.len + *upload_data_size > s->cfg.max_body_bytes) cr->too_large = true;
        else rmq_buf_put(&cr->body, upload_data, *upload_data_size);
        *upload_data_size = 0;
        return MHD_YES;
    }

    rmq_rl_category_t cat = rmq_admin_api_category(method, url);
    char ip[64];
    rmq_client_ip(c, ip, sizeof ip);
    rmq_rl_decision_t d;
    rmq_rl_check(s->rl, ip, cat, &d);
    if (!d.allowed) {
        const char *v[1] = {d.scope};
        rmq_counter_inc(rmq_counter_with(s->m_limited, v));
        char msg[256];
        snprintf(msg, sizeof msg, "rate limit exceeded (%s: %.0f requests/s); retry after %u s", d.scope, d.limit,
                 d.retry_after_s);
        rmq_count_request(s, method, cat, 429, cr->start_ns);
        return rmq_send_error(c, 429, "RATE_LIMITED", msg, &d);
    }
    if (cr->too_large || cr->body.oom) {
        char msg[128];
        snprintf(msg, sizeof msg, "request body larger than %u bytes", s->cfg.max_body_bytes);
        rmq_count_request(s, method, cat, 413, cr->start_ns);
        return rmq_send_error(c, 413, "PAYLOAD_TOO_LARGE", msg, &d);
    }

    rmq_admin_reply_t r;
    int rc = rmq_admin_api_handle(s->api, method, url, rmq_query_mhd, c, (const char *)cr->body.data, cr->body.len, &r);
    if (rc == RMQ_ADMIN_ROUTE_STREAM) {
        rmq_admin_reply_free(&r);
        rmq_count_request(s, method, cat, 200, cr->start_ns);
        return rmq_start_sse(s, c, &d);
    }
    size_t len = 0;
    char *body = rmq_admin_reply_body(&r, &len);
    if (!body) {
        rmq_admin_reply_free(&r);
        return MHD_NO;
    }
    rmq_count_request(s, method, cat, r.status, cr->start_ns);
    enum MHD_Result ret =
        rmq_send_text(c, r.status, body, len, r.content_type ? r.content_type : "application/json", &d, &r);
    rmq_admin_reply_free(&r);
    return ret;
}

static void rmq_completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe) {
    (void)cls;
    (void)c;
    (void)toe;
    rmq_conn_req_t *cr = *con_cls;
    if (!cr) return;
    rmq_buf_free(&cr->body);
    free(cr);
    *con_cls = NULL;
}

/* ---- lifecycle ------------------------------------------------------------------------------------ */

rmq_err_t rmq_admin_server_start(const rmq_admin_config_t *cfg, const rmq_admin_backend_t *be,
                                 rmq_admin_server_t **out, char *errbuf, size_t errlen) {
    *out = NULL;
    if (errlen) errbuf[0] = 0;
    rmq_admin_server_t *s = calloc(1, sizeof *s);
    if (!s) return RMQ_ERR_NOMEM;
    s->cfg = *cfg;
    s->lfd = -1;
    s->clock = cfg->clock ? cfg->clock : rmq_clock_system();
    if (s->cfg.max_body_bytes == 0) s->cfg.max_body_bytes = 1u << 20;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    rmq_err_t err = rmq_admin_bind(cfg->listen ? cfg->listen : "127.0.0.1:9642", &s->lfd, &s->port, errbuf, errlen);
    if (err) goto fail;
    s->api = rmq_admin_api_new(cfg, be);
    s->rl = rmq_rl_new(&cfg->rate_limit, s->clock);
    if (!s->api || !s->rl) {
        err = RMQ_ERR_NOMEM;
        snprintf(errbuf, errlen, "out of memory starting the admin API");
        goto fail;
    }
    s->cfg.listen = NULL; /* not kept: the api holds its own copy */
    rmq_metrics_t *m = rmq_admin_api_metrics(s->api);
    s->m_requests = rmq_metrics_family(m, RMQ_METRIC_COUNTER, "rustmq_admin_http_requests_total",
                                       "Admin API HTTP requests by method, rate-limit category and status code.",
                                       "method,category,code", NULL, 0);
    s->m_duration = rmq_metrics_family(m, RMQ_METRIC_HISTOGRAM, "rustmq_admin_http_request_duration_seconds",
                                       "Admin API request handling time.", "category", NULL, 0);
    s->m_limited = rmq_metrics_family(m, RMQ_METRIC_COUNTER, "rustmq_admin_rate_limited_total",
                                      "Admin API requests refused with 429, by the limit that refused them.", "scope",
                                      NULL, 0);
    s->m_sse = rmq_gauge_new(m, "rustmq_admin_sse_clients", "Open /api/v1/metrics/stream connections.");
    s->mhd = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION, 0, NULL, NULL, rmq_ahc,
                              s, MHD_OPTION_LISTEN_SOCKET, s->lfd, MHD_OPTION_CONNECTION_LIMIT,
                              (unsigned)(cfg->max_connections ? cfg->max_connections : 128),
                              MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)(cfg->request_timeout_s ? cfg->request_timeout_s : 30),
                              MHD_OPTION_NOTIFY_COMPLETED, rmq_completed, s, MHD_OPTION_END);
    if (!s->mhd) {
        err = RMQ_ERR_IO;
        snprintf(errbuf, errlen, "cannot start the admin HTTP server on port %d", s->port);
        goto fail;
    }
    s->lfd = -1; /* owned by the daemon now: MHD_stop_daemon closes it */
    RMQ_INFO("admin", "msg=\"admin API listening\" port=%d", s->port);
    *out = s;
    return 0;
fail:
    if (s->lfd >= 0) close(s->lfd);
    rmq_admin_api_free(s->api);
    rmq_rl_free(s->rl);
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mu);
    free(s);
    return err;
}

int rmq_admin_server_port(const rmq_admin_server_t *s) { return s ? s->port : -1; }

void rmq_admin_server_stop(rmq_admin_server_t *s) {
    if (!s) return;
    pthread_mutex_lock(&s->mu);
    s->stopping = true;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    MHD_stop_daemon(s->mhd); /* joins connection threads (SSE readers see stopping), closes the socket */
    rmq_admin_api_free(s->api);
    rmq_rl_free(s->rl);
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mu);
    free(s);
}
