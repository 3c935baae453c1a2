/* api.c - the admin REST API core (see api.h): route table, handlers that
 * validate input and call the backend, the JSON shape of every resource,
 * rmq_err_t -> HTTP status mapping, and the operation tracker (a queue plus
 * one worker thread running long operations such as topic deletion, with a
 * bounded history of finished records). */
#include "admin/api.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/buf.h"
#include "common/log.h"

/* ---- config / helpers ---------------------------------------------------------- */

void rmq_admin_config_default(rmq_admin_config_t *c) {
    memset(c, 0, sizeof *c);
    c->listen = "127.0.0.1:9642";
    c->max_connections = 128;
    c->request_timeout_s = 30;
    c->max_body_bytes = 1u << 20;
    c->sse_interval_ms = 1000;
    c->sse_max_streams = 16;
    c->operations_retained = 1000;
    c->default_page_limit = 100;
    c->max_page_limit = 1000;
    rmq_ratelimit_config_default(&c->rate_limit);
}

char *rmq_admin_strndup(rmq_arena_t *a, const char *s, size_t n) { return rmq_arena_strndup(a, s ? s : "", s ? n : 0); }
char *rmq_admin_strdup(rmq_arena_t *a, const char *s) { return rmq_admin_strndup(a, s, s ? strlen(s) : 0); }

int rmq_admin_http_status(rmq_err_t err) {
    switch (err) {
    case RMQ_NONE: return 200;
    case RMQ_INVALID_TOPIC_EXCEPTION:
    case RMQ_INVALID_PARTITIONS:
    case RMQ_INVALID_REPLICATION_FACTOR:
    case RMQ_INVALID_REPLICA_ASSIGNMENT:
    case RMQ_INVALID_CONFIG:
    case RMQ_INVALID_REQUEST:
    case RMQ_INVALID_GROUP_ID:
    case RMQ_POLICY_VIOLATION:
    case RMQ_ERR_INVALID_ARG:
    case RMQ_ERR_CONFIG:
    case RMQ_ERR_PARSE: return 400;
    case RMQ_TOPIC_AUTHORIZATION_FAILED:
    case RMQ_GROUP_AUTHORIZATION_FAILED:
    case RMQ_CLUSTER_AUTHORIZATION_FAILED: return 403;
    case RMQ_UNKNOWN_TOPIC_OR_PARTITION:
    case RMQ_UNKNOWN_TOPIC_ID:
    case RMQ_GROUP_ID_NOT_FOUND:
    case RMQ_RESOURCE_NOT_FOUND:
    case RMQ_ERR_NOT_FOUND: return 404;
    case RMQ_TOPIC_ALREADY_EXISTS:
    case RMQ_NON_EMPTY_GROUP:
    case RMQ_DUPLICATE_RESOURCE:
    case RMQ_REASSIGNMENT_IN_PROGRESS:
    case RMQ_ERR_EXISTS: return 409;
    case RMQ_THROTTLING_QUOTA_EXCEEDED: return 429;
    case RMQ_ERR_UNSUPPORTED:
    case RMQ_UNSUPPORTED_VERSION:
    case RMQ_TOPIC_DELETION_DISABLED: return 501;
    case RMQ_NOT_CONTROLLER:
    case RMQ_NOT_LEADER_OR_FOLLOWER:
    case RMQ_LEADER_NOT_AVAILABLE:
    case RMQ_NOT_COORDINATOR:
    case RMQ_COORDINATOR_NOT_AVAILABLE:
    case RMQ_COORDINATOR_LOAD_IN_PROGRESS:
    case RMQ_BROKER_NOT_AVAILABLE:
    case RMQ_REQUEST_TIMED_OUT:
    case RMQ_NETWORK_EXCEPTION:
    case RMQ_ERR_TIMEOUT:
    case RMQ_ERR_AGAIN:
    case RMQ_ERR_BUSY:
    case RMQ_ERR_CLOSED:
    case RMQ_ERR_IO: return 503;
    default: return 500;
    }
}

json_t *rmq_admin_json_error(const char *code, const char *msg) {
    return json_pack("{s:s, s:s}", "error", code ? code : "INTERNAL", "message", msg ? msg : "");
}

static json_t *rmq_jstr(const char *s) { return s ? json_string(s) : json_null(); }

/* ---- JSON shapes of resources ----------------------------------------------------- */

static json_t *rmq_json_broker(const rmq_admin_broker_t *b) {
    return json_pack("{s:i, s:o, s:i, s:o, s:s}", "id", (json_int_t)b->id, "host", rmq_jstr(b->host ? b->host : ""),
                     "port", (json_int_t)b->port, "rack", rmq_jstr(b->rack), "status",
                     b->status ? b->status : "active");
}

static json_t *rmq_json_kv_object(const rmq_admin_kv_t *kv, size_t n) {
    json_t *o = json_object();
    for (size_t i = 0; i < n; i++)
        if (kv[i].name) json_object_set_new(o, kv[i].name, rmq_jstr(kv[i].value));
    return o;
}

static json_t *rmq_json_i32_array(const int32_t *v, int32_t n) {
    json_t *a = json_array();
    for (int32_t i = 0; i < n && i < RMQ_ADMIN_MAX_REPLICAS; i++) json_array_append_new(a, json_integer(v[i]));
    return a;
}

static json_t *rmq_json_partition(const rmq_admin_partition_t *p) {
    return json_pack("{s:i, s:i, s:i, s:o, s:o, s:I, s:I}", "partition", (json_int_t)p->partition, "leader",
                     (json_int_t)p->leader, "leader_epoch", (json_int_t)p->leader_epoch, "replicas",
                     rmq_json_i32_array(p->replicas, p->nreplicas), "isr", rmq_json_i32_array(p->isr, p->nisr),
                     "log_start_offset", (json_int_t)p->log_start_offset, "high_watermark",
                     (json_int_t)p->high_watermark);
}

static json_t *rmq_json_topic_summary(const rmq_admin_topic_t *t) {
    return json_pack("{s:s, s:i, s:i, s:b}", "name", t->name ? t->name : "", "partitions",
                     (json_int_t)t->partitions, "replication_factor", (json_int_t)t->replication_factor, "internal",
                     t->internal);
}

static json_t *rmq_json_topic(const rmq_admin_topic_t *t) {
    json_t *o = rmq_json_topic_summary(t);
    json_object_set_new(o, "configs", rmq_json_kv_object(t->configs, t->nconfigs));
    json_t *parts = json_array();
    for (size_t i = 0; i < t->nparts; i++) json_array_append_new(parts, rmq_json_partition(&t->parts[i]));
    json_object_set_new(o, "partition_details", parts);
    return o;
}

static json_t *rmq_json_group_summary(const rmq_admin_group_t *g) {
    return json_pack("{s:s, s:s, s:s}", "group_id", g->group_id ? g->group_id : "", "state",
                     g->state ? g->state : "Unknown", "protocol_type", g->protocol_type ? g->protocol_type : "");
}

static json_t *rmq_json_group(const rmq_admin_group_t *g) {
    json_t *o = rmq_json_group_summary(g);
    json_object_set_new(o, "protocol", json_string(g->protocol ? g->protocol : ""));
    json_t *members = json_array();
    for (size_t i = 0; i < g->nmembers; i++) {
        const rmq_admin_member_t *m = &g->members[i];
        json_t *as = json_array();
        for (size_t j = 0; j < m->nassign; j++)
            json_array_append_new(as, json_pack("{s:s, s:i}", "topic", m->assignments[j].topic ? m->assignments[j].topic : "",
                                                "partition", (json_int_t)m->assignments[j].partition));
        json_array_append_new(members,
                              json_pack("{s:s, s:o, s:s, s:s, s:o}", "member_id", m->member_id ? m->member_id : "",
                                        "group_instance_id", rmq_jstr(m->group_instance_id), "client_id",
                                        m->client_id ? m->client_id : "", "client_host",
                                        m->client_host ? m->client_host : "", "assignments", as));
    }
    json_object_set_new(o, "members", members);
    json_t *offs = json_array();
    int64_t total_lag = 0;
    bool lag_known = false;
    for (size_t i = 0; i < g->noffsets; i++) {
        const rmq_admin_group_offset_t *x = &g->offsets[i];
        json_array_append_new(offs, json_pack("{s:s, s:i, s:I, s:I, s:I}", "topic", x->topic ? x->topic : "",
                                              "partition", (json_int_t)x->partition, "committed_offset",
                                              (json_int_t)x->committed, "log_end_offset", (json_int_t)x->log_end,
                                              "lag", (json_int_t)x->lag));
        if (x->lag >= 0) {
            total_lag += x->lag;
            lag_known = true;
        }
    }
    json_object_set_new(o, "offsets", offs);
    json_object_set_new(o, "total_lag", lag_known ? json_integer(total_lag) : json_null());
    return o;
}

/* ---- operations --------------------------------------------------------------------- */

typedef enum { RMQ_OP_PENDING, RMQ_OP_RUNNING, RMQ_OP_COMPLETED, RMQ_OP_FAILED } rmq_op_state_t;

static const char *const rmq_op_state_names[] = {"pending", "running", "completed", "failed"};

typedef struct rmq_op {
    char id[40];
    char type[32];
    char target[256];
    rmq_op_state_t state;
    int64_t created_ms, started_ms, finished_ms;
    rmq_err_t err;
    char message[512];
    struct rmq_op *next; /* history list, newest first */
    struct rmq_op *qnext; /* pending queue */
} rmq_op_t;

struct rmq_admin_api {
    rmq_admin_config_t cfg;
    char listen_copy[256];
    rmq_admin_backend_t be;
    rmq_metrics_t *metrics;
    bool own_metrics;
    const rmq_clock_t *clock;
    int64_t start_ms;
    /* operations */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    rmq_op_t *ops; /* all records, newest first */
    size_t nops;
    rmq_op_t *qhead, *qtail;
    uint64_t next_op;
    bool stopping;
    pthread_t worker;
    bool worker_started;
};

static int64_t rmq_api_now_ms(rmq_admin_api_t *api) { return api->clock->wall_ms(api->clock->ud); }

static json_t *rmq_json_ts(int64_t ms) { return ms > 0 ? json_integer(ms) : json_null(); }

static json_t *rmq_json_op(const rmq_op_t *op) {
    json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:o, s:o, s:o}", "id", op->id, "type", op->type, "target",
                          op->target, "state", rmq_op_state_names[op->state], "created_at_ms",
                          rmq_json_ts(op->created_ms), "started_at_ms", rmq_json_ts(op->started_ms),
                          "finished_at_ms", rmq_json_ts(op->finished_ms));
    if (op->state == RMQ_OP_COMPLETED)
        json_object_set_new(o, "result", json_pack("{s:s}", "message", op->message));
    else if (op->state == RMQ_OP_FAILED)
        json_object_set_new(o, "result", json_pack("{s:s, s:s, s:i}", "error", rmq_err_name(op->err), "message",
                                                   op->message, "http_status",
                                                   (json_int_t)rmq_admin_http_status(op->err)));
    else
        json_object_set_new(o, "result", json_null());
    return o;
}

/* Drop the oldest finished records beyond the retention (mu held). */
static void rmq_ops_trim_locked(rmq_admin_api_t *api) {
    size_t keep = api->cfg.operations_retained ? api->cfg.operations_retained : 1;
    while (api->nops > keep) {
        rmq_op_t **pp = &api->ops, **victim = NULL;
        for (; *pp; pp = &(*pp)->next)
            if ((*pp)->state == RMQ_OP_COMPLETED || (*pp)->state == RMQ_OP_FAILED) victim = pp;
        if (!victim) return;
        rmq_op_t *v = *victim;
        *victim = v->next;
        free(v);
        api->nops--;
    }
}

static void *rmq_ops_worker(void *arg) {
    rmq_admin_api_t *api = arg;
    pthread_mutex_lock(&api->mu);
    for (;;) {
        while (!api->qhead && !api->stopping) pthread_cond_wait(&api->cv, &api->mu);
        if (!api->qhead) break;
        rmq_op_t *op = api->qhead;
        api->qhead = op->qnext;
        if (!api->qhead) api->qtail = NULL;
        op->state = RMQ_OP_RUNNING;
        op->started_ms = rmq_api_now_ms(api);
        char target[256];
        memcpy(target, op->target, sizeof target);
        pthread_mutex_unlock(&api->mu);

        rmq_arena_t a;
        rmq_arena_init(&a, 64u << 20);
        rmq_admin_errinfo_t ei;
        memset(&ei, 0, sizeof ei);
        rmq_err_t err = api->be.delete_topic ? api->be.delete_topic(api->be.ud, &a, target, &ei) : RMQ_ERR_UNSUPPORTED;
        rmq_arena_free(&a);

        pthread_mutex_lock(&api->mu);
        op->finished_ms = rmq_api_now_ms(api);
        op->err = err;
        if (err) {
            op->state = RMQ_OP_FAILED;
            snprintf(op->message, sizeof op->message, "%s", ei.msg[0] ? ei.msg : rmq_err_name(err));
        } else {
            op->state = RMQ_OP_COMPLETED;
            snprintf(op->message, sizeof op->message, "topic '%s' deleted", target);
        }
        rmq_ops_trim_locked(api);
        pthread_cond_broadcast(&api->cv);
    }
    /* stopping: fail whatever is still queued */
    for (rmq_op_t *op = api->qhead; op; op = op->qnext) {
        op->state = RMQ_OP_FAILED;
        op->err = RMQ_ERR_CLOSED;
        op->finished_ms = rmq_api_now_ms(api);
        snprintf(op->message, sizeof op->message, "admin server stopped before the operation ran");
    }
    api->qhead = api->qtail = NULL;
    pthread_mutex_unlock(&api->mu);
    return NULL;
}

static rmq_op_t *rmq_ops_submit(rmq_admin_api_t *api, const char *type, const char *target) {
    rmq_op_t *op = calloc(1, sizeof *op);
    if (!op) return NULL;
    pthread_mutex_lock(&api->mu);
    api->next_op++;
    snprintf(op->id, sizeof op->id, "op-%" PRId64 "-%" PRIu64, api->start_ms, api->next_op);
    snprintf(op->type, sizeof op->type, "%s", type);
    snprintf(op->target, sizeof op->target, "%s", target);
    op->state = RMQ_OP_PENDING;
    op->created_ms = rmq_api_now_ms(api);
    op->next = api->ops;
    api->ops = op;
    api->nops++;
    if (api->qtail) api->qtail->qnext = op;
    else api->qhead = op;
    api->qtail = op;
    pthread_cond_broadcast(&api->cv);
    pthread_mutex_unlock(&api->mu);
    return op;
}

/* ---- lifecycle ------------------------------------------------------------------------ */

rmq_admin_api_t *rmq_admin_api_new(const rmq_admin_config_t *cfg, const rmq_admin_backend_t *be) {
    rmq_admin_api_t *api = calloc(1, sizeof *api);
    if (!api) return NULL;
    api->cfg = *cfg;
    snprintf(api->listen_copy, sizeof api->listen_copy, "%s", cfg->listen ? cfg->listen : "");
    api->cfg.listen = api->listen_copy;
    if (api->cfg.max_page_limit == 0) api->cfg.max_page_limit = 1000;
    if (api->cfg.default_page_limit == 0 || api->cfg.default_page_limit > api->cfg.max_page_limit)
        api->cfg.default_page_limit = api->cfg.max_page_limit < 100 ? api->cfg.max_page_limit : 100;
    api->be = *be;
    api->clock = cfg->clock ? cfg->clock : rmq_clock_system();
    api->metrics = be->metrics;
    if (!api->metrics) {
        api->metrics = rmq_metrics_new();
        api->own_metrics = true;
        if (!api->metrics) {
            free(api);
            return NULL;
        }
        rmq_metrics_register_process(api->metrics);
    }
    api->start_ms = rmq_api_now_ms(api);
    pthread_mutex_init(&api->mu, NULL);
    pthread_cond_init(&api->cv, NULL);
    if (pthread_create(&api->worker, NULL, rmq_ops_worker, api) == 0) api->worker_started = true;
    if (!api->worker_started) {
        rmq_admin_api_free(api);
        return NULL;
    }
    return api;
}

void rmq_admin_api_free(rmq_admin_api_t *api) {
    if (!api) return;
    pthread_mutex_lock(&api->mu);
    api->stopping = true;
    pthread_cond_broadcast(&api->cv);
    pthread_mutex_unlock(&api->mu);
    if (api->worker_started) pthread_join(api->worker, NULL);
    rmq_op_t *op = api->ops;
    while (op) {
        rmq_op_t *n = op->next;
        free(op);
        op = n;
    }
    pthread_cond_destroy(&api->cv);
    pthread_mutex_destroy(&api->mu);
    if (api->own_metrics) rmq_metrics_free(api->metrics);
    free(api);
}

rmq_metrics_t *rmq_admin_api_metrics(rmq_admin_api_t *api) { return api->metrics; }

char *rmq_admin_api_metrics_json(rmq_admin_api_t *api, size_t *len) {
    rmq_buf_t b;
    rmq_buf_init(&b);
    if (rmq_metrics_render_json(api->metrics, &b)) {
        rmq_buf_free(&b);
        return NULL;
    }
    rmq_buf_put_u8(&b, 0);
    if (b.oom) {
        rmq_buf_free(&b);
        return NULL;
    }
    size_t n;
    char *s = (char *)rmq_buf_detach(&b, &n);
    *len = n - 1;
    return s;
}

/* ---- replies ---------------------------------------------------------------------------- */

void rmq_admin_reply_init(rmq_admin_reply_t *r) { memset(r, 0, sizeof *r); }

void rmq_admin_reply_free(rmq_admin_reply_t *r) {
    if (r->json) json_decref(r->json);
    free(r->text);
    rmq_admin_reply_init(r);
}

char *rmq_admin_reply_body(const rmq_admin_reply_t *r, size_t *len) {
    if (r->json) {
        char *s = json_dumps(r->json, JSON_COMPACT | JSON_PRESERVE_ORDER);
        if (!s) return NULL;
        size_t n = strlen(s);
        char *t = realloc(s, n + 2);
        if (!t) {
            free(s);
            return NULL;
        }
        t[n] = '\n';
        t[n + 1] = 0;
        *len = n + 1;
        return t;
    }
    char *t = malloc(r->text_len + 1);
    if (!t) return NULL;
    if (r->text_len) memcpy(t, r->text, r->text_len);
    t[r->text_len] = 0;
    *len = r->text_len;
    return t;
}

static void rmq_reply_json(rmq_admin_reply_t *r, int status, json_t *j) {
    r->status = status;
    if (r->json) json_decref(r->json);
    r->json = j ? j : rmq_admin_json_error("INTERNAL", "out of memory");
    if (!j) r->status = 500;
}

static void rmq_reply_err(rmq_admin_reply_t *r, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void rmq_reply_err(rmq_admin_reply_t *r, int status, const char *code, const char *fmt, ...) {
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    rmq_reply_json(r, status, rmq_admin_json_error(code, msg));
}

static void rmq_reply_backend_err(rmq_admin_reply_t *r, rmq_err_t err, const rmq_admin_errinfo_t *ei) {
    int status = rmq_admin_http_status(err);
    json_t *j = rmq_admin_json_error(rmq_err_name(err), ei->msg[0] ? ei->msg : rmq_err_name(err));
    if (j) json_object_set_new(j, "code", json_integer(err));
    if (ei->leader_hint[0]) {
        snprintf(r->leader_hint, sizeof r->leader_hint, "%s", ei->leader_hint);
        if (j) json_object_set_new(j, "leader_hint", json_string(ei->leader_hint));
    }
    rmq_reply_json(r, status, j);
}

static void rmq_reply_text(rmq_admin_reply_t *r, int status, char *text, size_t len, const char *ctype) {
    r->status = status;
    r->text = text;
    r->text_len = len;
    r->content_type = ctype;
}

/* ---- request helpers -------------------------------------------------------------------- */

typedef struct rmq_req {
    rmq_admin_api_t *api;
    const char *method;
    const char *path;
    rmq_admin_query_fn q;
    void *qud;
    const char *body;
    size_t body_len;
    rmq_admin_reply_t *r;
    rmq_arena_t arena;
    rmq_admin_errinfo_t ei;
} rmq_req_t;

static const char *rmq_query(rmq_req_t *rq, const char *key) { return rq->q ? rq->q(rq->qud, key) : NULL; }

/* Parse a decimal integer in [lo, hi]; false if malformed. */
static bool rmq_parse_i64(const char *s, int64_t lo, int64_t hi, int64_t *out) {
    if (!s || !*s) return false;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || *end || v < lo || v > hi) return false;
    *out = v;
    return true;
}

/* Parse the JSON body into an object; replies 400 and returns NULL if not. */
static json_t *rmq_body_object(rmq_req_t *rq) {
    if (!rq->body || rq->body_len == 0) {
        rmq_reply_err(rq->r, 400, "INVALID_REQUEST", "a JSON object body is required");
        return NULL;
    }
    json_error_t je;
    json_t *j = json_loadb(rq->body, rq->body_len, JSON_REJECT_DUPLICATES, &je);
    if (!j) {
        rmq_reply_err(rq->r, 400, "INVALID_REQUEST", "request body is not valid JSON: %s (line %d column %d)",
                      je.text, je.line, je.column);
        return NULL;
    }
    if (!json_is_object(j)) {
        json_decref(j);
        rmq_reply_err(rq->r, 400, "INVALID_REQUEST", "request body must be a JSON object");
        return NULL;
    }
    return j;
}

static void rmq_reset_ei(rmq_req_t *rq) { memset(&rq->ei, 0, sizeof rq->ei); }

#define RMQ_NEED(fnname)                                                                                         \
    do {                                                                                                         \
        if (!rq->api->be.fnname) {                                                                               \
            rmq_reply_err(rq->r, 501, "UNSUPPORTED", "this server's backend does not implement " #fnname);       \
            return;                                                                                              \
        }                                                                                                        \
    } while (0)

/* ---- handlers ---------------------------------------------------------------------------------- */

static void h_health(rmq_req_t *rq) {
    rmq_admin_api_t *api = rq->api;
    rmq_admin_health_t h;
    memset(&h, 0, sizeof h);
    h.ok = true;
    rmq_err_t err = 0;
    if (api->be.health) {
        rmq_reset_ei(rq);
        err = api->be.health(api->be.ud, &rq->arena, &h, &rq->ei);
    }
    double uptime = (double)(rmq_api_now_ms(api) - api->start_ms) / 1000.0;
    if (err) {
        json_t *j = json_pack("{s:s, s:b, s:f, s:s}", "status", "unhealthy", "ok", 0, "uptime_seconds", uptime,
                              "message", rq->ei.msg[0] ? rq->ei.msg : rmq_err_name(err));
        rmq_reply_json(rq->r, 503, j);
        return;
    }
    const char *status = h.status ? h.status : (h.ok ? "healthy" : "unhealthy");
    json_t *j = json_pack("{s:s, s:b, s:f, s:s, s:o}", "status", status, "ok", h.ok, "uptime_seconds", uptime,
                          "version", RMQ_VERSION, "checks", rmq_json_kv_object(h.details, h.ndetails));
    rmq_reply_json(rq->r, h.ok ? 200 : 503, j);
}

static void h_ready(rmq_req_t *rq) {
    char why[256] = "";
    bool ok = rq->api->be.ready ? rq->api->be.ready(rq->api->be.ud, why, sizeof why) : true;
    if (ok) rmq_reply_json(rq->r, 200, json_pack("{s:b, s:s}", "ready", 1, "status", "ready"));
    else
        rmq_reply_json(rq->r, 503, json_pack("{s:b, s:s, s:s}", "ready", 0, "status", "not_ready", "reason",
                                              why[0] ? why : "not ready"));
}

static bool rmq_get_cluster(rmq_req_t *rq, rmq_admin_cluster_t *c) {
    memset(c, 0, sizeof *c);
    c->controller_id = -1;
    if (!rq->api->be.cluster) {
        rmq_reply_err(rq->r, 501, "UNSUPPORTED", "this server's backend does not implement cluster");
        return false;
    }
    rmq_reset_ei(rq);
    rmq_err_t err = rq->api->be.cluster(rq->api->be.ud, &rq->arena, c, &rq->ei);
    if (err) {
        rmq_reply_backend_err(rq->r, err, &rq->ei);
        return false;
    }
    return true;
}

static void h_cluster(rmq_req_t *rq) {
    rmq_admin_cluster_t c;
    if (!rmq_get_cluster(rq, &c)) return;
    json_t *brokers = json_array();
    for (size_t i = 0; i < c.nbrokers; i++) json_array_append_new(brokers, rmq_json_broker(&c.brokers[i]));
    rmq_reply_json(rq->r, 200,
                   json_pack("{s:o, s:i, s:i, s:o}", "cluster_id", rmq_jstr(c.cluster_id), "controller_id",
                             (json_int_t)c.controller_id, "broker_count", (json_int_t)c.nbrokers, "brokers", brokers));
}

static void h_cluster_health(rmq_req_t *rq) {
    rmq_admin_api_t *api = rq->api;
    rmq_admin_cluster_t c;
    if (!rmq_get_cluster(rq, &c)) return;
    size_t active = 0;
    for (size_t i = 0; i < c.nbrokers; i++)
        if (!c.brokers[i].status || strcmp(c.brokers[i].status, "active") == 0) active++;
    rmq_admin_health_t h;
    memset(&h, 0, sizeof h);
    h.ok = true;
    rmq_err_t err = 0;
    if (api->be.health) {
        rmq_reset_ei(rq);
        err = api->be.health(api->be.ud, &rq->arena, &h, &rq->ei);
        if (err) h.ok = false;
    }
    bool ok = h.ok && active > 0 && c.controller_id >= 0;
    const char *status = !ok ? (active > 0 ? "degraded" : "unhealthy")
                             : (active < c.nbrokers ? "degraded" : (h.status ? h.status : "healthy"));
    json_t *issues = json_array();
    if (err) json_array_append_new(issues, json_string(rq->ei.msg[0] ? rq->ei.msg : rmq_err_name(err)));
    if (active == 0) json_array_append_new(issues, json_string("no active broker"));
    if (active < c.nbrokers) json_array_append_new(issues, json_string("some brokers are not active"));
    if (c.controller_id < 0) json_array_append_new(issues, json_string("no controller is known"));
    if (!h.ok && !err) json_array_append_new(issues, json_string("health checks failing"));
    json_t *j = json_pack("{s:s, s:b, s:o, s:i, s:i, s:i, s:o, s:o}", "status", status, "healthy", ok, "cluster_id",
                          rmq_jstr(c.cluster_id), "controller_id", (json_int_t)c.controller_id, "brokers_active",
                          (json_int_t)active, "brokers_total", (json_int_t)c.nbrokers, "checks",
                          rmq_json_kv_object(h.details, h.ndetails), "issues", issues);
    rmq_reply_json(rq->r, 200, j);
}

static void h_brokers(rmq_req_t *rq) {
    const char *status = rmq_query(rq, "status");
    if (status && strcmp(status, "active") && strcmp(status, "inactive") && strcmp(status, "draining")) {
        rmq_reply_err(rq->r, 400, "INVALID_REQUEST", "status must be one of active, inactive, draining (got '%s')",
                      status);
        return;
    }
    rmq_admin_cluster_t c;
    if (!rmq_get_cluster(rq, &c)) return;
    json_t *arr = json_array();
    for (size_t i = 0; i < c.nbrokers; i++) {
        const char *st = c.brokers[i].status ? c.brokers[i].status : "active";
        if (status && strcmp(st, status)) continue;
        json_array_append_new(arr, rmq_json_broker(&c.brokers[i]));
    }
    rmq_reply_json(rq->r, 200, json_pack("{s:i, s:o}", "total_count", (json_int_t)json_array_size(arr), "brokers", arr));
}

static void h_broker(rmq_req_t *rq, const char *idtxt) {
    int64_t id;
    if (!rmq_parse_i64(idtxt, 0, INT32_MAX, &id)) {
        rmq_reply_err(rq->r, 400, "INVALID_REQUEST", "broker id must be a non-negative integer (got '%s')", idtxt);
        return;
    }
    rmq_admin_cluster_t c;
    if (!rmq_get_cluster(rq, &c)) return;
    for (size_t i = 0; i < c.nbrokers; i++)
        if (c.brokers[i].id == id) {
            json_t *j = rmq_json_broker(&c.brokers[i]);
            json_object_set_new(j, "is_controller", json_boolean(c.controller_id == id));
            rmq_reply_json(rq->r, 200, j);
            return;
        }
    rmq_reply_err(rq->r, 404, "BROKER_NOT_FOUND", "no broker with id %" PRId64 " (GET /api/v1/brokers lists them)", id);
}

static int rmq_topic_cmp(const void *a, const void *b) {
    const rmq_admin_topic_t *x = a, *y = b;
    return strcmp(x->name ? x->name : "", y->name ? y->name : "");
}

static void h_topics_list(rmq_req_t *rq) {
    rmq_admin_api_t *api = rq->api;
    int64_t page = 1, limit = api->cfg.default_page_limit;
    const char *ps = rmq_query(rq, "page"), *ls = rmq_query(rq, "limit");
    if (ps && !rmq_parse_i64(ps, 1, INT32_MAX, &page)) {
        rmq_reply_err(rq->r, 400, "INVALID_REQUEST", "page must be an integer >= 1 (got '%s')", ps);
        return;
    }
    if (ls && !rmq_parse_i64(ls, 1, INT64_MAX / 4, &limit)) {
        rmq_reply_err(rq->r, 400, "INVALID_REQUEST", "limit must be an integer >= 1 (got '%s')", ls);
        return;
    }
    if (limit > api->cfg.max_page_limit) limit = api->cfg.max_page_limit;
    RMQ_NEED(list_topics);
    rmq_admin_topic_list_t tl;
    memset(&tl, 0, sizeof tl);
    rmq_reset_ei(rq);
    rmq_err_t err = api->be.list_topics(api->be.ud, &rq->arena, &tl, &rq->ei);
    if (err) {
        rmq_reply_backend_err(rq->r, err, &rq->ei);
        return;
    }
    if (tl.ntopics > 1) qsort(tl.topics, tl.ntopics, sizeof *tl.topics, rmq_topic_cmp);
    json_t *arr = json_array();
    uint64_t start = (uint64_t)(page - 1) * (uint64_t)limit;
    for (uint64_t i = start; i < tl.ntopics && i < start + (uint64_t)limit; i++)
        json_array_append_new(arr, rmq_json_topic_summary(&tl.topics[i]));
    int64_t pages = ((int64_t)tl.ntopics + limit - 1) / limit;
    rmq_reply_json(rq->r, 200,
                   json_pack("{s:o, s:i, s:i, s:i, s:i}", "topics", arr, "total", (json_int_t)tl.ntopics, "page",
                             (json_int_t)page, "limit", (json_int_t)limit, "total_pages", (json_int_t)pages));
}

/* Read configs {"k": "v" | number | bool | null} into an arena array. */
static bool rmq_read_configs(rmq_req_t *rq, json_t *cfgs, bool allow_null, rmq_admin_kv_t **out, size_t *n) {
    *out = NULL;
    *n = 0;
    if (!cfgs || json_is_null(cfgs)) return true;
    if (!json_is_object(cfgs)) {
        rmq_reply_err(rq->r, 400, "INVALID_REQUEST", "configs must be an object of name -> value");
        return false;
    }
    size_t cnt = json_object_size(cfgs);
    rmq_admin_kv_t *kv = rmq_arena_alloc(&rq->arena, (cnt ? cnt : 1) * sizeof *kv);
    if (!kv) {
        rmq_reply_err(rq->r, 500, "INTERNAL", "out of memory");
        return false;
    }
    const char *key;
    json_t *val;
    size_t i = 0;
    json_object_foreach(cfgs, key, val) {
        char tmp[64];
        const char *v = NULL;
        if (json_is_string(val)) v = json_string_value(val);
        else if (json_is_integer(val)) {
            snprintf(tmp, sizeof tmp, "%" JSON_INTEGER_FORMAT, json_integer_value(val));
            v = tmp;
        } else if (json_is_real(val)) {
            snprintf(tmp, sizeof tmp, "%.17g", json_real_value(val));
            v = tmp;
        } else if (json_is_boolean(val)) v = json_is_true(val) ? "true" : "false";
        else if (json_is_null(val) && allow_null) v = NULL;
        else {
            rmq_reply_err(rq->r, 400, "INVALID_CONFIG", "config '%s' must be a string, number or boolean%s", key,
                          allow_null ? " (or null to reset it)" : "");
            return false;
        }
        kv[i].name = rmq_admin_strdup(&rq->arena, key);
        kv[i].value = v ? rmq_admin_strdup(&rq->arena, v) : NULL;
        i++;
    }
    *out = kv;
    *n = i;
    return true;
}

static bool rmq_json_int_field(rmq_req_t *rq, json_t *o, const char *k1, const char *k2, int64_t lo, int64_t hi,
                               int64_t def, int64_t *out) {
    json_t *v = json_object_get(o, k1);
    const char *used = k1;
    if (!v && k2) {
        v = json_object_get(o, k2);
        used = k2;
    }
    if (!v || json_is_null(v)) {
        *out = def;
        return true;
    }
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi) {
        rmq_reply_err(rq->r, 400, "INVALID_REQUEST", "%s must be an integer in [%" PRId64 ", %" PRId64 "]", used, lo,
                      hi);
        return false;
    }
    *out = json_integer_value(v);
    return true;
}

static void rmq_reply_topic(rmq_req_t *rq, const char *name, int status) {
    rmq_admin_api_t *api = rq->api;
    RMQ_NEED(describe_topic);
    rmq_admin_topic_t t;
    memset(&t, 0, sizeof t);
    rmq_reset_ei(rq);
    rmq_err_t err = api->be.describe_topic(api->be.ud, &rq->arena, name, &t, &rq->ei);
    if (err) {
        if (err == RMQ_UNKNOWN_TOPIC_OR_PARTITION && !rq->ei.msg[0])
            snprintf(rq->ei.msg, sizeof rq->ei.msg, "topic '%s' does not exist", name);
        rmq_reply_backend_err(rq->r, err, &rq->ei);
        return;
    }
    if (!t.name) t.name = name;
    rmq_reply_json(rq->r, status, rmq_json_topic(&t));
}

static void h_topic_create(rmq_req_t *rq) {
    rmq_admin_api_t *api = rq->api;
    json_t *o = rmq_body_object(rq);
    if (!o) return;
    rmq_admin_new_topic_t nt;
    memset(&nt, 0, sizeof nt);
    json_t *name = json_object_get(o, "name");
    int64_t parts, rf;
    if (!json_is_string(name) || json_string_length(name) == 0) {
        rmq_reply_err(rq->r, 400, "INVALID_REQUEST", "\"name\" (a non-empty string) is required");
        goto out;
    }
    nt.name = rmq_admin_strdup(&rq->arena, json_string_value(name));
    if (!rmq_json_int_field(rq, o, "partitions", "partition_count", 1, 1000000, -1, &parts)) goto out;
    if (!rmq_json_int_field(rq, o, "replication_factor", NULL, 1, 32767, -1, &rf)) goto out;
    nt.partitions = (int32_t)parts;
    nt.replication_factor = (int32_t)rf;
    rmq_admin_kv_t *kv;
    if (!rmq_read_configs(rq, json_object_get(o, "configs"), false, &kv, &nt.nconfigs)) goto out;
    nt.configs = kv;
    if (!api->be.create_topic) {
        rmq_reply_err(rq->r, 501, "UNSUPPORTED", "this server's backend does not implement create_topic");
        goto out;
    }
    rmq_reset_ei(rq);
    rmq_err_t err = api->be.create_topic(api->be.ud, &rq->arena, &nt, &rq->ei);
    if (err) {
        if (err == RMQ_TOPIC_ALREADY_EXISTS && !rq->ei.msg[0])
            snprintf(rq->ei.msg, sizeof rq->ei.msg, "topic '%s' already exists", nt.name);
        rmq_reply_backend_err(rq->r, err, &rq->ei);
        goto out;
    }
    snprintf(rq->r->location, sizeof rq->r->location, "/api/v1/topics/%s", nt.name);
    if (api->be.describe_topic) {
        rmq_reply_topic(rq, nt.name, 201);
        if (rq->r->status != 201) {
            /* created but not yet visible: answer with what was asked */
            rmq_admin_reply_free(rq->r);
            snprintf(rq->r->location, sizeof rq->r->location, "/api/v1/topics/%s", nt.name);
            rmq_reply_json(rq->r, 201, json_pack("{s:s, s:I, s:I}", "name", nt.name, "partitions", (json_int_t)parts,
                                                 "replication_factor", (json_int_t)rf));
        }
    } else {
        rmq_reply_json(rq->r, 201, json_pack("{s:s, s:I, s:I}", "name", nt.name, "partitions", (json_int_t)parts,
                                             "replication_factor", (json_int_t)rf));
    }
out:
    json_decref(o);
}

static void h_topic_alter(rmq_req_t *rq, const char *name) {
    rmq_admin_api_t *api = rq->api;
    json_t *o = rmq_body_object(rq);
    if (!o) return;
    json_t *cfgs = json_object_get(o, "configs");
    rmq_admin_kv_t *kv;
    size_t n;
    if (!cfgs || !json_is_object(cfgs) || json_object_size(cfgs) == 0) {
        rmq_reply_err(rq->r, 400, "INVALID_REQUEST",
                      "body must be {\"configs\": {\"name\": \"value\" | null, ...}} with at least one entry");
        goto out;
    }
    if (!rmq_read_configs(rq, cfgs, true, &kv, &n)) goto out;
    if (!api->be.alter_topic_configs) {
        rmq_reply_err(rq->r, 501, "UNSUPPORTED", "this server's backend does not implement alter_topic_configs");
        goto out;
    }
    rmq_reset_ei(rq);
    rmq_err_t err = api->be.alter_topic_configs(api->be.ud, &rq->arena, name, kv, n, &rq->ei);
    if (err) {
        if (err == RMQ_UNKNOWN_TOPIC_OR_PARTITION && !rq->ei.msg[0])
            snprintf(rq->ei.msg, sizeof rq->ei.msg, "topic '%s' does not exist", name);
        rmq_reply_backend_err(rq->r, err, &rq->ei);
        goto out;
    }
    rmq_reply_topic(rq, name, 200);
out:
    json_decref(o);
}

static void h_topic_delete(rmq_req_t *rq, const char *name) {
    rmq_admin_api_t *api = rq->api;
    RMQ_NEED(delete_topic);
    /* unknown topics are refused now, not in the operation */
    if (api->be.describe_topic) {
        rmq_admin_topic_t t;
        memset(&t, 0, sizeof t);
        rmq_reset_ei(rq);
        rmq_err_t err = api->be.describe_topic(api->be.ud, &rq->arena, name, &t, &rq->ei);
        if (err) {
            if (err == RMQ_UNKNOWN_TOPIC_OR_PARTITION && !rq->ei.msg[0])
                snprintf(rq->ei.msg, sizeof rq->ei.msg, "topic '%s' does not exist", name);
            rmq_reply_backend_err(rq->r, err, &rq->ei);
            return;
        }
    }
    rmq_op_t *op = rmq_ops_submit(api, "delete_topic", name);
    if (!op) {
        rmq_reply_err(rq->r, 500, "INTERNAL", "out of memory");
        return;
    }
    pthread_mutex_lock(&api->mu);
    json_t *j = rmq_json_op(op);
    pthread_mutex_unlock(&api->mu);
    json_object_set_new(j, "operation_id", json_string(json_string_value(json_object_get(j, "id"))));
    snprintf(rq->r->location, sizeof rq->r->location, "/api/v1/operations/%s",
             json_string_value(json_object_get(j, "id")));
    rmq_reply_json(rq->r, 202, j);
}

static void h_partitions_list(rmq_req_t *rq, const char *name) {
    rmq_reply_topic(rq, name, 200);
    if (rq->r->status != 200 || !rq->r->json) return;
    json_t *t = rq->r->json;
    json_t *j = json_pack("{s:s, s:O, s:O}", "topic", name, "partition_count", json_object_get(t, "partitions"),
                          "partitions", json_object_get(t, "partition_details"));
    rmq_reply_json(rq->r, 200, j);
}

static void h_partitions_create(rmq_req_t *rq, const char *name) {
    rmq_admin_api_t *api = rq->api;
    json_t *o = rmq_body_object(rq);
    if (!o) return;
    int64_t count;
    if (!rmq_json_int_field(rq, o, "count", "partition_count", 1, 1000000, 0, &count)) goto out;
    if (count == 0) {
        rmq_reply_err(rq->r, 400, "INVALID_REQUEST", "\"count\" (the new total number of partitions) is required");
        goto out;
    }
    if (!api->be.create_partitions) {
        rmq_reply_err(rq->r, 501, "UNSUPPORTED", "this server's backend does not implement create_partitions");
        goto out;
    }
    rmq_reset_ei(rq);
    rmq_err_t err = api->be.create_partitions(api->be.ud, &rq->arena, name, (int32_t)count, &rq->ei);
    if (err) {
        if (err == RMQ_UNKNOWN_TOPIC_OR_PARTITION && !rq->ei.msg[0])
            snprintf(rq->ei.msg, sizeof rq->ei.msg, "topic '%s' does not exist", name);
        rmq_reply_backend_err(rq->r, err, &rq->ei);
        goto out;
    }
    rmq_reply_json(rq->r, 200, json_pack("{s:s, s:I}", "topic", name, "partition_count", (json_int_t)count));
out:
    json_decref(o);
}

static int rmq_group_cmp(const void *a, const void *b) {
    const rmq_admin_group_t *x = a, *y = b;
    return strcmp(x->group_id ? x->group_id : "", y->group_id ? y->group_id : "");
}

static void h_groups_list(rmq_req_t *rq) {
    rmq_admin_api_t *api = rq->api;
    RMQ_NEED(list_groups);
    rmq_admin_group_list_t gl;
    memset(&gl, 0, sizeof gl);
    rmq_reset_ei(rq);
    rmq_err_t err = api->be.list_groups(api->be.ud, &rq->arena, &gl, &rq->ei);
    if (err) {
        rmq_reply_backend_err(rq->r, err, &rq->ei);
        return;
    }
    if (gl.ngroups > 1) qsort(gl.groups, gl.ngroups, sizeof *gl.groups, rmq_group_cmp);
    json_t *arr = json_array();
    for (size_t i = 0; i < gl.ngroups; i++) json_array_append_new(arr, rmq_json_group_summary(&gl.groups[i]));
    rmq_reply_json(rq->r, 200, json_pack("{s:o, s:i}", "groups", arr, "total", (json_int_t)gl.ngroups));
}

static void h_group_get(rmq_req_t *rq, const char *id) {
    rmq_admin_api_t *api = rq->api;
    RMQ_NEED(describe_group);
    rmq_admin_group_t g;
    memset(&g, 0, sizeof g);
    rmq_reset_ei(rq);
    rmq_err_t err = api->be.describe_group(api->be.ud, &rq->arena, id, &g, &rq->ei);
    if (err) {
        if (err == RMQ_GROUP_ID_NOT_FOUND && !rq->ei.msg[0])
            snprintf(rq->ei.msg, sizeof rq->ei.msg, "consumer group '%s' does not exist", id);
        rmq_reply_backend_err(rq->r, err, &rq->ei);
        return;
    }
    if (!g.group_id) g.group_id = id;
    rmq_reply_json(rq->r, 200, rmq_json_group(&g));
}

static void h_group_delete(rmq_req_t *rq, const char *id) {
    rmq_admin_api_t *api = rq->api;
    RMQ_NEED(delete_group);
    rmq_reset_ei(rq);
    rmq_err_t err = api->be.delete_group(api->be.ud, &rq->arena, id, &rq->ei);
    if (err) {
        if (err == RMQ_GROUP_ID_NOT_FOUND && !rq->ei.msg[0])
            snprintf(rq->ei.msg, sizeof rq->ei.msg, "consumer group '%s' does not exist", id);
        if (err == RMQ_NON_EMPTY_GROUP && !rq->ei.msg[0])
            snprintf(rq->ei.msg, sizeof rq->ei.msg, "consumer group '%s' still has members; stop its consumers first",
                     id);
        rmq_reply_backend_err(rq->r, err, &rq->ei);
        return;
    }
    rmq_reply_json(rq->r, 200, json_pack("{s:s, s:b}", "group_id", id, "deleted", 1));
}

static void h_ops_list(rmq_req_t *rq) {
    rmq_admin_api_t *api = rq->api;
    json_t *arr = json_array();
    pthread_mutex_lock(&api->mu);
    for (rmq_op_t *op = api->ops; op; op = op->next) json_array_append_new(arr, rmq_json_op(op));
    pthread_mutex_unlock(&api->mu);
    rmq_reply_json(rq->r, 200, json_pack("{s:o, s:i}", "operations", arr, "total", (json_int_t)json_array_size(arr)));
}

static void h_op_get(rmq_req_t *rq, const char *id) {
    rmq_admin_api_t *api = rq->api;
    json_t *j = NULL;
    pthread_mutex_lock(&api->mu);
    for (rmq_op_t *op = api->ops; op; op = op->next)
        if (strcmp(op->id, id) == 0) {
            j = rmq_json_op(op);
            break;
        }
    pthread_mutex_unlock(&api->mu);
    if (j) rmq_reply_json(rq->r, 200, j);
    else rmq_reply_err(rq->r, 404, "OPERATION_NOT_FOUND", "no operation '%s' (it may have expired from the history)", id);
}

static void h_metrics_json(rmq_req_t *rq) {
    size_t len;
    char *s = rmq_admin_api_metrics_json(rq->api, &len);
    if (!s) rmq_reply_err(rq->r, 500, "INTERNAL", "out of memory");
    else rmq_reply_text(rq->r, 200, s, len, "application/json");
}

static void h_metrics_prom(rmq_req_t *rq) {
    rmq_buf_t b;
    rmq_buf_init(&b);
    if (rmq_metrics_render_prometheus(rq->api->metrics, &b)) {
        rmq_buf_free(&b);
        rmq_reply_err(rq->r, 500, "INTERNAL", "out of memory");
        return;
    }
    size_t n;
    char *s = (char *)rmq_buf_detach(&b, &n);
    if (!s) {
        s = strdup("");
        n = 0;
    }
    rmq_reply_text(rq->r, 200, s, n, "text/plain; version=0.0.4; charset=utf-8");
}

static void h_openapi(rmq_req_t *rq) {
    char *s = strdup(rmq_admin_openapi_json);
    if (!s) rmq_reply_err(rq->r, 500, "INTERNAL", "out of memory");
    else rmq_reply_text(rq->r, 200, s, strlen(s), "application/json");
}

/* ---- routing ------------------------------------------------------------------------------------ */

/* Split path into at most 6 segments (in buf, borrowed). */
static size_t rmq_split_path(const char *path, char *buf, size_t cap, char **seg, size_t maxseg) {
    size_t n = strlen(path);
    if (n >= cap) return (size_t)-1;
    memcpy(buf, path, n + 1);
    size_t ns = 0;
    char *p = buf;
    while (*p) {
        while (*p == '/') p++;
        if (!*p) break;
        if (ns == maxseg) return (size_t)-1;
        seg[ns++] = p;
        while (*p && *p != '/') p++;
        if (*p) *p++ = 0;
    }
    return ns;
}

rmq_rl_category_t rmq_admin_api_category(const char *method, const char *path) {
    if (strcmp(path, "/health") == 0 || strcmp(path, "/ready") == 0 || strcmp(path, "/metrics") == 0 ||
        strcmp(path, "/api/v1/cluster/health") == 0)
        return RMQ_RL_HEALTH;
    if (strncmp(path, "/api/v1/cluster", 15) == 0 || strncmp(path, "/api/v1/brokers", 15) == 0) return RMQ_RL_CLUSTER;
    if (strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0) return RMQ_RL_READ;
    return RMQ_RL_WRITE;
}

static bool rmq_method_is(const char *m, const char *want) {
    return strcmp(m, want) == 0 || (strcmp(want, "GET") == 0 && strcmp(m, "HEAD") == 0);
}

int rmq_admin_api_handle(rmq_admin_api_t *api, const char *method, const char *path, rmq_admin_query_fn q,
                         void *qud, const char *body, size_t body_len, rmq_admin_reply_t *reply) {
    rmq_admin_reply_init(reply);
    rmq_req_t rq = {.api = api, .method = method, .path = path, .q = q, .qud = qud, .body = body, .body_len = body_len, .r = reply};
    rmq_arena_init(&rq.arena, 256u << 20);
    char buf[1024];
    char *seg[8];
    size_t ns = rmq_split_path(path, buf, sizeof buf, seg, 8);
    const char *allow = NULL;
    int rc = 0;
#define SEG(i, s) (ns > (i) && strcmp(seg[i], (s)) == 0)
#define ROUTE(m, call)                                                                                           \
    do {                                                                                                         \
        if (rmq_method_is(method, m)) {                                                                          \
            call;                                                                                                \
            goto done;                                                                                           \
        }                                                                                                        \
    } while (0)
    if (ns == (size_t)-1) goto notfound;
    if (ns == 1 && SEG(0, "health")) {
        allow = "GET";
        ROUTE("GET", h_health(&rq));
    } else if (ns == 1 && SEG(0, "ready")) {
        allow = "GET";
        ROUTE("GET", h_ready(&rq));
    } else if (ns == 1 && SEG(0, "metrics")) {
        allow = "GET";
        ROUTE("GET", h_metrics_prom(&rq));
    } else if (ns >= 2 && SEG(0, "api") && SEG(1, "v1")) {
        if (ns == 3 && SEG(2, "cluster")) {
            allow = "GET";
            ROUTE("GET", h_cluster(&rq));
        } else if (ns == 4 && SEG(2, "cluster") && SEG(3, "health")) {
            allow = "GET";
            ROUTE("GET", h_cluster_health(&rq));
        } else if (ns == 3 && SEG(2, "brokers")) {
            allow = "GET";
            ROUTE("GET", h_brokers(&rq));
        } else if (ns == 4 && SEG(2, "brokers")) {
            allow = "GET";
            ROUTE("GET", h_broker(&rq, seg[3]));
        } else if (ns == 3 && SEG(2, "topics")) {
            allow = "GET, POST";
            ROUTE("GET", h_topics_list(&rq));
            ROUTE("POST", h_topic_create(&rq));
        } else if (ns == 4 && SEG(2, "topics")) {
            allow = "GET, PUT, DELETE";
            ROUTE("GET", rmq_reply_topic(&rq, seg[3], 200));
            ROUTE("PUT", h_topic_alter(&rq, seg[3]));
            ROUTE("DELETE", h_topic_delete(&rq, seg[3]));
        } else if (ns == 5 && SEG(2, "topics") && SEG(4, "partitions")) {
            allow = "GET, POST";
            ROUTE("GET", h_partitions_list(&rq, seg[3]));
            ROUTE("POST", h_partitions_create(&rq, seg[3]));
        } else if (ns == 3 && SEG(2, "consumer-groups")) {
            allow = "GET";
            ROUTE("GET", h_groups_list(&rq));
        } else if (ns == 4 && SEG(2, "consumer-groups")) {
            allow = "GET, DELETE";
            ROUTE("GET", h_group_get(&rq, seg[3]));
            ROUTE("DELETE", h_group_delete(&rq, seg[3]));
        } else if (ns == 3 && SEG(2, "operations")) {
            allow = "GET";
            ROUTE("GET", h_ops_list(&rq));
        } else if (ns == 4 && SEG(2, "operations")) {
            allow = "GET";
            ROUTE("GET", h_op_get(&rq, seg[3]));
        } else if (ns == 3 && SEG(2, "metrics")) {
            allow = "GET";
            ROUTE("GET", h_metrics_json(&rq));
        } else if (ns == 4 && SEG(2, "metrics") && SEG(3, "stream")) {
            allow = "GET";
            if (rmq_method_is(method, "GET")) {
                rc = RMQ_ADMIN_ROUTE_STREAM;
                goto done;
            }
        } else if (ns == 3 && SEG(2, "openapi.json")) {
            allow = "GET";
            ROUTE("GET", h_openapi(&rq));
        }
    }
    if (allow) {
        snprintf(reply->allow, sizeof reply->allow, "%s", allow);
        rmq_reply_err(reply, 405, "METHOD_NOT_ALLOWED", "%s is not allowed on %s (allowed: %s)", method, path, allow);
        goto done;
    }
notfound:
    rmq_reply_err(reply, 404, "NOT_FOUND", "no such endpoint: %s %s (see /api/v1/openapi.json)", method, path);
done:
#undef SEG
#undef ROUTE
    rmq_arena_free(&rq.arena);
    return rc;
}
