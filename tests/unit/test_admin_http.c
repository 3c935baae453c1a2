/* test_admin_http.c - the admin REST server end to end over HTTP: started
 * in-process on port 0 with a fake in-memory backend and driven with libcurl.
 * Every endpoint's success and error paths (400/404/405/409/501/503 with a
 * leader hint), pagination and the limit cap, the asynchronous topic deletion
 * and its operation record, Prometheus and JSON metrics, the OpenAPI document
 * (equal to docs/openapi.json), the SSE stream (>= 2 events), and 429 with
 * the X-RateLimit-* / Retry-After headers once one category is exhausted
 * while the others still answer (fake clock: no refill during the test). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <unistd.h>
#include <cmocka.h>
#include <curl/curl.h>
#include <jansson.h>

#include "admin/admin.h"
#include "http_test_util.h"
#include "common/log.h"

/* ---- fake backend ---------------------------------------------------------------- */

#define MAXT 64

typedef struct ftopic {
    char name[64];
    int32_t parts;
    int32_t rf;
    char cfg_key[8][32];
    char cfg_val[8][32];
    int ncfg;
} ftopic_t;

typedef struct fake {
    pthread_mutex_t mu;
    ftopic_t topics[MAXT];
    int ntopics;
    bool ready;
    bool group_deleted;
    int deletes_run;
} fake_t;

static ftopic_t *find_topic(fake_t *f, const char *name) {
    for (int i = 0; i < f->ntopics; i++)
        if (strcmp(f->topics[i].name, name) == 0) return &f->topics[i];
    return NULL;
}

static rmq_err_t f_cluster(void *ud, rmq_arena_t *a, rmq_admin_cluster_t *out, rmq_admin_errinfo_t *ei) {
    (void)ud;
    (void)ei;
    out->cluster_id = "test-cluster";
    out->controller_id = 1;
    out->nbrokers = 3;
    out->brokers = rmq_arena_alloc(a, 3 * sizeof *out->brokers);
    const char *st[] = {"active", "active", "draining"};
    for (int i = 0; i < 3; i++) {
        out->brokers[i].id = i + 1;
        out->brokers[i].host = "127.0.0.1";
        out->brokers[i].port = 9092 + i;
        out->brokers[i].rack = i == 0 ? "rack-a" : NULL;
        out->brokers[i].status = st[i];
    }
    return 0;
}

static rmq_err_t f_health(void *ud, rmq_arena_t *a, rmq_admin_health_t *out, rmq_admin_errinfo_t *ei) {
    (void)ud;
    (void)ei;
    out->ok = true;
    out->ndetails = 1;
    out->details = rmq_arena_alloc(a, sizeof *out->details);
    out->details[0].name = "wal";
    out->details[0].value = "ok";
    return 0;
}

static bool f_ready(void *ud, char *why, size_t cap) {
    fake_t *f = ud;
    pthread_mutex_lock(&f->mu);
    bool r = f->ready;
    pthread_mutex_unlock(&f->mu);
    if (!r) snprintf(why, cap, "recovering the WAL");
    return r;
}

static rmq_err_t f_list_topics(void *ud, rmq_arena_t *a, rmq_admin_topic_list_t *out, rmq_admin_errinfo_t *ei) {
    (void)ei;
    fake_t *f = ud;
    pthread_mutex_lock(&f->mu);
    out->ntopics = (size_t)f->ntopics;
    out->topics = rmq_arena_alloc(a, (size_t)(f->ntopics + 1) * sizeof *out->topics);
    for (int i = 0; i < f->ntopics; i++) {
        out->topics[i].name = rmq_admin_strdup(a, f->topics[i].name);
        out->topics[i].partitions = f->topics[i].parts;
        out->topics[i].replication_factor = f->topics[i].rf;
    }
    pthread_mutex_unlock(&f->mu);
    return 0;
}

static rmq_err_t f_describe(void *ud, rmq_arena_t *a, const char *name, rmq_admin_topic_t *out,
                            rmq_admin_errinfo_t *ei) {
    fake_t *f = ud;
    if (strcmp(name, "redirect-me") == 0) {
        snprintf(ei->msg, sizeof ei->msg, "not the controller");
        snprintf(ei->leader_hint, sizeof ei->leader_hint, "10.0.0.7:9642");
        return RMQ_NOT_CONTROLLER;
    }
    pthread_mutex_lock(&f->mu);
    ftopic_t *t = find_topic(f, name);
    if (!t) {
        pthread_mutex_unlock(&f->mu);
        return RMQ_UNKNOWN_TOPIC_OR_PARTITION;
    }
    out->name = rmq_admin_strdup(a, t->name);
    out->partitions = t->parts;
    out->replication_factor = t->rf;
    out->nconfigs = (size_t)t->ncfg;
    out->configs = rmq_arena_alloc(a, (size_t)(t->ncfg + 1) * sizeof *out->configs);
    for (int i = 0; i < t->ncfg; i++) {
        out->configs[i].name = rmq_admin_strdup(a, t->cfg_key[i]);
        out->configs[i].value = rmq_admin_strdup(a, t->cfg_val[i]);
    }
    out->nparts = (size_t)t->parts;
    out->parts = rmq_arena_alloc(a, (size_t)t->parts * sizeof *out->parts);
    for (int i = 0; i < t->parts; i++) {
        rmq_admin_partition_t *p = &out->parts[i];
        p->partition = i;
        p->leader = 1;
        p->nreplicas = 1;
        p->replicas[0] = 1;
        p->nisr = 1;
        p->isr[0] = 1;
        p->log_start_offset = 0;
        p->high_watermark = 100 + i;
    }
    pthread_mutex_unlock(&f->mu);
    return 0;
}

static rmq_err_t f_create(void *ud, rmq_arena_t *a, const rmq_admin_new_topic_t *nt, rmq_admin_errinfo_t *ei) {
    (void)a;
    fake_t *f = ud;
    if (strchr(nt->name, ' ') || strlen(nt->name) >= 64) {
        snprintf(ei->msg, sizeof ei->msg, "topic name '%s' is invalid", nt->name);
        return RMQ_INVALID_TOPIC_EXCEPTION;
    }
    if (nt->replication_factor > 3) return RMQ_INVALID_REPLICATION_FACTOR;
    pthread_mutex_lock(&f->mu);
    if (find_topic(f, nt->name)) {
        pthread_mutex_unlock(&f->mu);
        return RMQ_TOPIC_ALREADY_EXISTS;
    }
    ftopic_t *t = &f->topics[f->ntopics++];
    memset(t, 0, sizeof *t);
    snprintf(t->name, sizeof t->name, "%s", nt->name);
    t->parts = nt->partitions > 0 ? nt->partitions : 1;
    t->rf = nt->replication_factor > 0 ? nt->replication_factor : 1;
    for (size_t i = 0; i < nt->nconfigs && i < 8; i++) {
        snprintf(t->cfg_key[i], 32, "%s", nt->configs[i].name);
        snprintf(t->cfg_val[i], 32, "%s", nt->configs[i].value);
        t->ncfg++;
    }
    pthread_mutex_unlock(&f->mu);
    return 0;
}

static rmq_err_t f_delete(void *ud, rmq_arena_t *a, const char *name, rmq_admin_errinfo_t *ei) {
    (void)a;
    (void)ei;
    fake_t *f = ud;
    usleep(20000); /* long-running */
    pthread_mutex_lock(&f->mu);
    f->deletes_run++;
    for (int i = 0; i < f->ntopics; i++)
        if (strcmp(f->topics[i].name, name) == 0) {
            f->topics[i] = f->topics[--f->ntopics];
            pthread_mutex_unlock(&f->mu);
            return 0;
        }
    pthread_mutex_unlock(&f->mu);
    return RMQ_UNKNOWN_TOPIC_OR_PARTITION;
}

static rmq_err_t f_alter(void *ud, rmq_arena_t *a, const char *name, const rmq_admin_kv_t *kv, size_t n,
                         rmq_admin_errinfo_t *ei) {
    (void)a;
    fake_t *f = ud;
    pthread_mutex_lock(&f->mu);
    ftopic_t *t = find_topic(f, name);
    rmq_err_t err = 0;
    if (!t) err = RMQ_UNKNOWN_TOPIC_OR_PARTITION;
    for (size_t i = 0; !err && i < n; i++) {
        if (strcmp(kv[i].name, "retention.ms") && strcmp(kv[i].name, "cleanup.policy")) {
            snprintf(ei->msg, sizeof ei->msg, "unknown config '%s'", kv[i].name);
            err = RMQ_INVALID_CONFIG;
            break;
        }
        int k = 0;
        while (k < t->ncfg && strcmp(t->cfg_key[k], kv[i].name)) k++;
        if (!kv[i].value) {
            if (k < t->ncfg) {
                t->ncfg--;
                memcpy(t->cfg_key[k], t->cfg_key[t->ncfg], 32);
                memcpy(t->cfg_val[k], t->cfg_val[t->ncfg], 32);
            }
            continue;
        }
        if (k == t->ncfg && t->ncfg < 8) t->ncfg++;
        snprintf(t->cfg_key[k], 32, "%s", kv[i].name);
        snprintf(t->cfg_val[k], 32, "%s", kv[i].value);
    }
    pthread_mutex_unlock(&f->mu);
    return err;
}

static rmq_err_t f_create_parts(void *ud, rmq_arena_t *a, const char *name, int32_t total, rmq_admin_errinfo_t *ei) {
    (void)a;
    fake_t *f = ud;
    pthread_mutex_lock(&f->mu);
    ftopic_t *t = find_topic(f, name);
    rmq_err_t err = 0;
    if (!t) err = RMQ_UNKNOWN_TOPIC_OR_PARTITION;
    else if (total <= t->parts) {
        snprintf(ei->msg, sizeof ei->msg, "topic has %d partitions; the new count must be larger", t->parts);
        err = RMQ_INVALID_PARTITIONS;
    } else t->parts = total;
    pthread_mutex_unlock(&f->mu);
    return err;
}

static rmq_err_t f_list_groups(void *ud, rmq_arena_t *a, rmq_admin_group_list_t *out, rmq_admin_errinfo_t *ei) {
    (void)ei;
    fake_t *f = ud;
    pthread_mutex_lock(&f->mu);
    bool del = f->group_deleted;
    pthread_mutex_unlock(&f->mu);
    out->ngroups = del ? 1 : 2;
    out->groups = rmq_arena_alloc(a, 2 * sizeof *out->groups);
    out->groups[0] = (rmq_admin_group_t){.group_id = "payments", .state = "Stable", .protocol_type = "consumer"};
    if (!del) out->groups[1] = (rmq_admin_group_t){.group_id = "idle", .state = "Empty", .protocol_type = "consumer"};
    return 0;
}

static rmq_err_t f_describe_group(void *ud, rmq_arena_t *a, const char *g, rmq_admin_group_t *out,
                                  rmq_admin_errinfo_t *ei) {
    (void)ud;
    (void)ei;
    if (strcmp(g, "payments")) return RMQ_GROUP_ID_NOT_FOUND;
    out->group_id = "payments";
    out->state = "Stable";
    out->protocol_type = "consumer";
    out->protocol = "range";
    out->nmembers = 1;
    out->members = rmq_arena_alloc(a, sizeof *out->members);
    out->members[0].member_id = "m-1";
    out->members[0].client_id = "svc";
    out->members[0].client_host = "/10.0.0.9";
    out->members[0].nassign = 1;
    out->members[0].assignments = rmq_arena_alloc(a, sizeof(rmq_admin_tp_t));
    out->members[0].assignments[0] = (rmq_admin_tp_t){"orders", 0};
    out->noffsets = 1;
    out->offsets = rmq_arena_alloc(a, sizeof *out->offsets);
    out->offsets[0] = (rmq_admin_group_offset_t){"orders", 0, 90, 100, 10};
    return 0;
}

static rmq_err_t f_delete_group(void *ud, rmq_arena_t *a, const char *g, rmq_admin_errinfo_t *ei) {
    (void)a;
    (void)ei;
    fake_t *f = ud;
    if (strcmp(g, "payments") == 0) return RMQ_NON_EMPTY_GROUP;
    pthread_mutex_lock(&f->mu);
    rmq_err_t err = (strcmp(g, "idle") == 0 && !f->group_deleted) ? 0 : RMQ_GROUP_ID_NOT_FOUND;
    if (!err) f->group_deleted = true;
    pthread_mutex_unlock(&f->mu);
    return err;
}

/* ---- fixture ------------------------------------------------------------------------------------ */

typedef struct fixture {
    fake_t fake;
    rmq_metrics_t *metrics;
    rmq_admin_server_t *srv;
    char base[64];
} fixture_t;

static uint64_t frozen_mono(void *ud) { return *(uint64_t *)ud; }
static int64_t frozen_wall(void *ud) { return (int64_t)(*(uint64_t *)ud / 1000000); }
static uint64_t g_frozen_ns = 1000000000000ull;
static const rmq_clock_t g_frozen_clock = {frozen_mono, frozen_wall, &g_frozen_ns};

static fixture_t *start_server(bool strict_limits) {
    fixture_t *fx = calloc(1, sizeof *fx);
    pthread_mutex_init(&fx->fake.mu, NULL);
    fx->fake.ready = true;
    fx->metrics = rmq_metrics_new();
    rmq_metrics_register_process(fx->metrics);
    rmq_admin_backend_t be = {
        .ud = &fx->fake,
        .cluster = f_cluster,
        .health = f_health,
        .ready = f_ready,
        .list_topics = f_list_topics,
        .describe_topic = f_describe,
        .create_topic = f_create,
        .delete_topic = f_delete,
        .alter_topic_configs = f_alter,
        .create_partitions = f_create_parts,
        .list_groups = f_list_groups,
        .describe_group = f_describe_group,
        .delete_group = f_delete_group,
        .metrics = fx->metrics,
    };
    rmq_admin_config_t cfg;
    rmq_admin_config_default(&cfg);
    cfg.listen = "127.0.0.1:0";
    if (strict_limits) {
        cfg.clock = &g_frozen_clock; /* no refill while the test runs */
        cfg.rate_limit.category[RMQ_RL_WRITE] = (rmq_rl_limit_t){1, 3};
    } else {
        cfg.rate_limit.enabled = false;
    }
    char err[256];
    assert_int_equal(rmq_admin_server_start(&cfg, &be, &fx->srv, err, sizeof err), 0);
    assert_true(rmq_admin_server_port(fx->srv) > 0);
    snprintf(fx->base, sizeof fx->base, "http://127.0.0.1:%d", rmq_admin_server_port(fx->srv));
    return fx;
}

static void stop_server(fixture_t *fx) {
    rmq_admin_server_stop(fx->srv);
    rmq_metrics_free(fx->metrics);
    pthread_mutex_destroy(&fx->fake.mu);
    free(fx);
}

/* ---- HTTP client ----------------------------------------------------------------------------------- */

static resp_t req(fixture_t *fx, const char *method, const char *path, const char *body) {
    return th_request(fx->base, method, path, body);
}

static bool has_header(const resp_t *r, const char *name_value) {
    return r->headers && strcasestr(r->headers, name_value) != NULL;
}

static const char *jstr(json_t *o, const char *k) { return json_string_value(json_object_get(o, k)); }
static json_int_t jint(json_t *o, const char *k) { return json_integer_value(json_object_get(o, k)); }

static void expect_error(resp_t *r, long status, const char *code) {
    if (r->status != status) fprintf(stderr, "unexpected %ld: %s\n", r->status, r->body ? r->body : "");
    assert_int_equal(r->status, status);
    assert_non_null(r->json);
    assert_string_equal(jstr(r->json, "error"), code);
    assert_non_null(jstr(r->json, "message"));
    assert_true(has_header(r, "Content-Type: application/json"));
}

/* ---- tests ---------------------------------------------------------------------------------------------- */

static void test_health_ready(void **st) {
    (void)st;
    fixture_t *fx = start_server(false);
    resp_t r = req(fx, "GET", "/health", NULL);
    assert_int_equal(r.status, 200);
    assert_string_equal(jstr(r.json, "status"), "healthy");
    assert_string_equal(jstr(json_object_get(r.json, "checks"), "wal"), "ok");
    resp_free(&r);
    r = req(fx, "GET", "/ready", NULL);
    assert_int_equal(r.status, 200);
    assert_true(json_is_true(json_object_get(r.json, "ready")));
    resp_free(&r);
    fx->fake.ready = false;
    r = req(fx, "GET", "/ready", NULL);
    assert_int_equal(r.status, 503);
    assert_string_equal(jstr(r.json, "reason"), "recovering the WAL");
    resp_free(&r);
    stop_server(fx);
}

static void test_cluster_brokers(void **st) {
    (void)st;
    fixture_t *fx = start_server(false);
    resp_t r = req(fx, "GET", "/api/v1/cluster", NULL);
    assert_int_equal(r.status, 200);
    assert_string_equal(jstr(r.json, "cluster_id"), "test-cluster");
    assert_int_equal(jint(r.json, "controller_id"), 1);
    assert_int_equal(json_array_size(json_object_get(r.json, "brokers")), 3);
    json_t *b0 = json_array_get(json_object_get(r.json, "brokers"), 0);
    assert_string_equal(jstr(b0, "rack"), "rack-a");
    assert_int_equal(jint(b0, "port"), 9092);
    resp_free(&r);
    r = req(fx, "GET", "/api/v1/cluster/health", NULL);
    assert_int_equal(r.status, 200);
    assert_string_equal(jstr(r.json, "status"), "degraded"); /* one broker draining */
    assert_int_equal(jint(r.json, "brokers_active"), 2);
    assert_int_equal(jint(r.json, "brokers_total"), 3);
    resp_free(&r);
    r = req(fx, "GET", "/api/v1/brokers", NULL);
    assert_int_equal(r.status, 200);
    assert_int_equal(jint(r.json, "total_count"), 3);
    resp_free(&r);
    r = req(fx, "GET", "/api/v1/brokers?status=draining", NULL);
    assert_int_equal(jint(r.json, "total_count"), 1);
    assert_int_equal(jint(json_array_get(json_object_get(r.json, "brokers"), 0), "id"), 3);
    resp_free(&r);
    r = req(fx, "GET", "/api/v1/brokers?status=sleeping", NULL);
    expect_error(&r, 400, "INVALID_REQUEST");
    resp_free(&r);
    r = req(fx, "GET", "/api/v1/brokers/2", NULL);
    assert_int_equal(r.status, 200);
    assert_int_equal(jint(r.json, "id"), 2);
    assert_false(json_is_true(json_object_get(r.json, "is_controller")));
    resp_free(&r);
    r = req(fx, "GET", "/api/v1/brokers/42", NULL);
    expect_error(&r, 404, "BROKER_NOT_FOUND");
    resp_free(&r);
    r = req(fx, "GET", "/api/v1/brokers/abc", NULL);
    expect_error(&r, 400, "INVALID_REQUEST");
    resp_free(&r);
    stop_server(fx);
}

static void test_topics_crud(void **st) {
    (void)st;
    fixture_t *fx = start_server(false);
    resp_t r = req(fx, "POST", "/api/v1/topics",
                   "{\"name\":\"orders\",\"partitions\":3,\"replication_factor\":1,\"configs\":{\"retention.ms\":60000}}");
    assert_int_equal(r.status, 201);
    assert_true(has_header(&r, "Location: /api/v1/topics/orders"));
    assert_string_equal(jstr(r.json, "name"), "orders");
    assert_int_equal(jint(r.json, "partitions"), 3);
    assert_string_equal(jstr(json_object_get(r.json, "configs"), "retention.ms"), "60000");
    assert_int_equal(json_array_size(json_object_get(r.json, "partition_details")), 3);
    resp_free(&r);
    r = req(fx, "POST", "/api/v1/topics", "{\"name\":\"orders\",\"partitions\":1}");
    expect_error(&r, 409, "TOPIC_ALREADY_EXISTS");
    assert_int_equal(jint(r.json, "code"), 36);
    resp_free(&r);
    r = req(fx, "POST", "/api/v1/topics", "{\"name\":\"bad name\"}");
    expect_error(&r, 400, "INVALID_TOPIC_EXCEPTION");
    resp_free(&r);
    r = req(fx, "POST", "/api/v1/topics", "{\"name\":\"x\",\"replication_factor\":9}");
    expect_error(&r, 400, "INVALID_REPLICATION_FACTOR");
    resp_free(&r);
    r = req(fx, "POST", "/api/v1/topics", "{\"partitions\":1}");
    expect_error(&r, 400, "INVALID_REQUEST");
    resp_free(&r);
    r = req(fx, "POST", "/api/v1/topics", "{\"name\":\"x\",\"partitions\":0}");
    expect_error(&r, 400, "INVALID_REQUEST");
    resp_free(&r);
    r = req(fx, "POST", "/api/v1/topics", "{not json");
    expect_error(&r, 400, "INVALID_REQUEST");
    resp_free(&r);
    r = req(fx, "POST", "/api/v1/topics", "{\"name\":\"x\",\"configs\":{\"a\":[1]}}");
    expect_error(&r, 400, "INVALID_CONFIG");
    resp_free(&r);

    r = req(fx, "GET", "/api/v1/topics/orders", NULL);
    assert_int_equal(r.status, 200);
    json_t *p2 = json_array_get(json_object_get(r.json, "partition_details"), 2);
    assert_int_equal(jint(p2, "high_watermark"), 102);
    assert_int_equal(jint(p2, "leader"), 1);
    assert_int_equal(json_array_size(json_object_get(p2, "isr")), 1);
    resp_free(&r);
    r = req(fx, "GET", "/api/v1/topics/nope", NULL);
    expect_error(&r, 404, "UNKNOWN_TOPIC_OR_PARTITION");
    assert_non_null(strstr(jstr(r.json, "message"), "nope"));
    resp_free(&r);

    /* alter configs: set, reset, unknown key, unknown topic, bad body */
    r = req(fx, "PUT", "/api/v1/topics/orders", "{\"configs\":{\"cleanup.policy\":\"compact\",\"retention.ms\":null}}");
    assert_int_equal(r.status, 200);
    assert_string_equal(jstr(json_object_get(r.json, "configs"), "cleanup.policy"), "compact");
    assert_null(json_object_get(json_object_get(r.json, "configs"), "retention.ms"));
    resp_free(&r);
    r = req(fx, "PUT", "/api/v1/topics/orders", "{\"configs\":{\"bogus\":\"1\"}}");
    expect_error(&r, 400, "INVALID_CONFIG");
    assert_non_null(strstr(jstr(r.json, "message"), "bogus"));
    resp_free(&r);
    r = req(fx, "PUT", "/api/v1/topics/nope", "{\"configs\":{\"retention.ms\":\"1\"}}");
    expect_error(&r, 404, "UNKNOWN_TOPIC_OR_PARTITION");
    resp_free(&r);
    r = req(fx, "PUT", "/api/v1/topics/orders", "{\"configs\":{}}");
    expect_error(&r, 400, "INVALID_REQUEST");
    resp_free(&r);

    /* partitions */
    r = req(fx, "GET", "/api/v1/topics/orders/partitions", NULL);
    assert_int_equal(r.status, 200);
    assert_int_equal(jint(r.json, "partition_count"), 3);
    assert_int_equal(json_array_size(json_object_get(r.json, "partitions")), 3);
    resp_free(&r);
    r = req(fx, "POST", "/api/v1/topics/orders/partitions", "{\"count\":5}");
    assert_int_equal(r.status, 200);
    assert_int_equal(jint(r.json, "partition_count"), 5);
    resp_free(&r);
    r = req(fx, "POST", "/api/v1/topics/orders/partitions", "{\"count\":2}");
    expect_error(&r, 400, "INVALID_PARTITIONS");
    resp_free(&r);
    r = req(fx, "POST", "/api/v1/topics/nope/partitions", "{\"count\":2}");
    expect_error(&r, 404, "UNKNOWN_TOPIC_OR_PARTITION");
    resp_free(&r);
    r = req(fx, "GET", "/api/v1/topics/nope/partitions", NULL);
    expect_error(&r, 404, "UNKNOWN_TOPIC_OR_PARTITION");
    resp_free(&r);

    /* not the controller: 503 with the leader hint in a header and the body */
    r = req(fx, "GET", "/api/v1/topics/redirect-me", NULL);
    expect_error(&r, 503, "NOT_CONTROLLER");
    assert_true(has_header(&r, "X-RustMQ-Leader: 10.0.0.7:9642"));
    assert_string_equal(jstr(r.json, "leader_hint"), "10.0.0.7:9642");
    resp_free(&r);

    /* asynchronous delete */
    r = req(fx, "DELETE", "/api/v1/topics/orders", NULL);
    assert_int_equal(r.status, 202);
    const char *state = jstr(r.json, "state");
    assert_true(strcmp(state, "pending") == 0 || strcmp(state, "running") == 0);
    char opid[64], path[128];
    snprintf(opid, sizeof opid, "%s", jstr(r.json, "operation_id"));
    assert_true(has_header(&r, "Location: /api/v1/operations/"));
    resp_free(&r);
    snprintf(path, sizeof path, "/api/v1/operations/%s", opid);
    int tries = 0;
    for (;;) {
        r = req(fx, "GET", path, NULL);
        assert_int_equal(r.status, 200);
        if (strcmp(jstr(r.json, "state"), "completed") == 0) break;
        assert_string_not_equal(jstr(r.json, "state"), "failed");
        resp_free(&r);
        assert_true(++tries < 200);
        usleep(10000);
    }
    assert_string_equal(jstr(r.json, "type"), "delete_topic");
    assert_string_equal(jstr(r.json, "target"), "orders");
    assert_true(jint(r.json, "finished_at_ms") >= jint(r.json, "created_at_ms"));
    resp_free(&r);
    r = req(fx, "GET", "/api/v1/topics/orders", NULL);
    expect_error(&r, 404, "UNKNOWN_TOPIC_OR_PARTITION");
    resp_free(&r);
    r = req(fx, "DELETE", "/api/v1/topics/orders", NULL);
    expect_error(&r, 404, "UNKNOWN_TOPIC_OR_PARTITION");
    resp_free(&r);
    r = req(fx, "GET", "/api/v1/operations", NULL);
    assert_int_equal(r.status, 200);
    assert_int_equal(jint(r.json, "total"), 1);
    assert_string_equal(jstr(json_array_get(json_object_get(r.json, "operations"), 0), "id"), opid);
    resp_free(&r);
    r = req(fx, "GET", "/api/v1/operations/op-nope", NULL);
    expect_error(&r, 404, "OPERATION_NOT_FOUND");
    resp_free(&r);
    assert_int_equal(fx->fake.deletes_run, 1);
    stop_server(fx);
}

static void test_pagination(void **st) {
    (void)st;
    fixture_t *fx = start_server(false);
    for (int i = 0; i < 7; i++) {
        char body[128];
        snprintf(body, sizeof body, "{\"name\":\"t%d\",\"partitions\":1}", 6 - i);
        resp_t r = req(fx, "POST", "/api/v1/topics", body);
        assert_int_equal(r.status, 201);
        resp_free(&r);
    }
    resp_t r = req(fx, "GET", "/api/v1/topics", NULL);
    assert_int_equal(jint(r.json, "total"), 7);
    assert_int_equal(jint(r.json, "page"), 1);
    assert_int_equal(jint(r.json, "limit"), 100);
    assert_string_equal(jstr(json_array_get(json_object_get(r.json, "topics"), 0), "name"), "t0"); /* sorted */
    resp_free(&r);
    r = req(fx, "GET", "/api/v1/topics?page=2&limit=3", NULL);
    assert_int_equal(r.status, 200);
    json_t *ts = json_object_get(r.json, "topics");
    assert_int_equal(json_array_size(ts), 3);
    assert_string_equal(jstr(json_array_get(ts, 0), "name"), "t3");
    assert_int_equal(jint(r.json, "total_pages"), 3);
    resp_free(&r);
    r = req(fx, "GET", "/api/v1/topics?page=3&limit=3", NULL);
    assert_int_equal(json_array_size(json_object_get(r.json, "topics")), 1);
    resp_free(&r);
    r = req(fx, "GET", "/api/v1/topics?page=9&limit=3", NULL);
    assert_int_equal(r.status, 200);
    assert_int_equal(json_array_size(json_object_get(r.json, "topics")), 0);
    resp_free(&r);
    r = req(fx, "GET", "/api/v1/topics?limit=5000", NULL);
    assert_int_equal(jint(r.json, "limit"), 1000);
    resp_free(&r);
    r = req(fx, "GET", "/api/v1/topics?page=0", NULL);
    expect_error(&r, 400, "INVALID_REQUEST");
    resp_free(&r);
    r = req(fx, "GET", "/api/v1/topics?limit=abc", NULL);
    expect_error(&r, 400, "INVALID_REQUEST");
    resp_free(&r);
    stop_server(fx);
}

static void test_groups(void **st) {
    (void)st;
    fixture_t *fx = start_server(false);
    resp_t r = req(fx, "GET", "/api/v1/consumer-groups", NULL);
    assert_int_equal(r.status, 200);
    assert_int_equal(jint(r.json, "total"), 2);
    assert_string_equal(jstr(json_array_get(json_object_get(r.json, "groups"), 0), "group_id"), "idle");
    resp_free(&r);
    r = req(fx, "GET", "/api/v1/consumer-groups/payments", NULL);
    assert_int_equal(r.status, 200);
    assert_string_equal(jstr(r.json, "protocol"), "range");
    json_t *m0 = json_array_get(json_object_get(r.json, "members"), 0);
    assert_string_equal(jstr(m0, "client_id"), "svc");
    assert_string_equal(jstr(json_array_get(json_object_get(m0, "assignments"), 0), "topic"), "orders");
    json_t *o0 = json_array_get(json_object_get(r.json, "offsets"), 0);
    assert_int_equal(jint(o0, "lag"), 10);
    assert_int_equal(jint(o0, "committed_offset"), 90);
    assert_int_equal(jint(r.json, "total_lag"), 10);
    resp_free(&r);
    r = req(fx, "GET", "/api/v1/consumer-groups/ghost", NULL);
    expect_error(&r, 404, "GROUP_ID_NOT_FOUND");
    resp_free(&r);
    r = req(fx, "DELETE", "/api/v1/consumer-groups/payments", NULL);
    expect_error(&r, 409, "NON_EMPTY_GROUP");
    resp_free(&r);
    r = req(fx, "DELETE", "/api/v1/consumer-groups/idle", NULL);
    assert_int_equal(r.status, 200);
    assert_true(json_is_true(json_object_get(r.json, "deleted")));
    resp_free(&r);
    r = req(fx, "DELETE", "/api/v1/consumer-groups/idle", NULL);
    expect_error(&r, 404, "GROUP_ID_NOT_FOUND");
    resp_free(&r);
    stop_server(fx);
}

static void test_routing_errors_and_docs(void **st) {
    (void)st;
    fixture_t *fx = start_server(false);
    resp_t r = req(fx, "GET", "/api/v1/nothing", NULL);
    expect_error(&r, 404, "NOT_FOUND");
    resp_free(&r);
    r = req(fx, "PATCH", "/api/v1/topics", "{}");
    expect_error(&r, 405, "METHOD_NOT_ALLOWED");
    assert_true(has_header(&r, "Allow: GET, POST"));
    resp_free(&r);
    r = req(fx, "DELETE", "/health", NULL);
    expect_error(&r, 405, "METHOD_NOT_ALLOWED");
    resp_free(&r);

    /* metrics: Prometheus text with our request counter and process metrics */
    r = req(fx, "GET", "/metrics", NULL);
    assert_int_equal(r.status, 200);
    assert_true(has_header(&r, "Content-Type: text/plain; version=0.0.4"));
    assert_non_null(strstr(r.body, "# TYPE rustmq_admin_http_requests_total counter\n"));
    assert_non_null(strstr(r.body, "rustmq_admin_http_requests_total{method=\"GET\",category=\"read\",code=\"404\"} 1\n"));
    assert_non_null(strstr(r.body, "process_resident_memory_bytes "));
    assert_non_null(strstr(r.body, "rustmq_admin_http_request_duration_seconds_bucket{category=\"read\",le=\"+Inf\"}"));
    resp_free(&r);
    r = req(fx, "GET", "/api/v1/metrics", NULL);
    assert_int_equal(r.status, 200);
    assert_non_null(r.json);
    assert_true(json_array_size(json_object_get(r.json, "metrics")) > 5);
    resp_free(&r);

    /* OpenAPI document equals docs/openapi.json */
    r = req(fx, "GET", "/api/v1/openapi.json", NULL);
    assert_int_equal(r.status, 200);
    assert_non_null(r.json);
    assert_string_equal(jstr(r.json, "openapi"), "3.0.3");
    const char *src = getenv("RMQ_SOURCE_DIR");
    char path[1024];
    snprintf(path, sizeof path, "%s/docs/openapi.json", src ? src : ".");
    json_error_t je;
    json_t *doc = json_load_file(path, 0, &je);
    if (!doc) fprintf(stderr, "cannot load %s: %s\n", path, je.text);
    assert_non_null(doc);
    assert_true(json_equal(doc, r.json));
    /* every route the server has is documented */
    const char *paths[] = {"/health", "/ready", "/metrics", "/api/v1/cluster", "/api/v1/cluster/health",
                           "/api/v1/brokers", "/api/v1/brokers/{brokerId}", "/api/v1/topics",
                           "/api/v1/topics/{topicName}", "/api/v1/topics/{topicName}/partitions",
                           "/api/v1/consumer-groups", "/api/v1/consumer-groups/{groupId}", "/api/v1/operations",
                           "/api/v1/operations/{operationId}", "/api/v1/metrics", "/api/v1/metrics/stream",
                           "/api/v1/openapi.json"};
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++)
        assert_non_null(json_object_get(json_object_get(doc, "paths"), paths[i]));
    json_decref(doc);
    resp_free(&r);
    stop_server(fx);
}

/* ---- SSE ------------------------------------------------------------------------------------------------ */

typedef struct sse_state {
    char buf[1 << 16];
    size_t len;
    int events;
} sse_state_t;

static size_t sse_write(char *p, size_t sz, size_t n, void *ud) {
    sse_state_t *s = ud;
    size_t k = sz * n;
    if (s->len + k >= sizeof s->buf) k = sizeof s->buf - 1 - s->len;
    memcpy(s->buf + s->len, p, k);
    s->len += k;
    s->buf[s->len] = 0;
    s->events = 0;
    for (const char *q = s->buf; (q = strstr(q, "event: metrics\n")); q++) s->events++;
    /* stop after two complete events (terminated by a blank line) */
    int done = 0;
    for (const char *q = s->buf; (q = strstr(q, "\n\n")); q += 2) done++;
    return done >= 2 ? 0 : sz * n; /* 0 aborts the transfer */
}

static void test_sse_stream(void **st) {
    (void)st;
    fixture_t *fx = start_server(false);
    sse_state_t *s = calloc(1, sizeof *s);
    char url[256];
    snprintf(url, sizeof url, "%s/api/v1/metrics/stream?interval_ms=150", fx->base);
    CURL *c = curl_easy_init();
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sse_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, s);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
    uint64_t t0 = rmq_mono_ns();
    CURLcode rc = curl_easy_perform(c);
    uint64_t t1 = rmq_mono_ns();
    assert_int_equal(rc, CURLE_WRITE_ERROR); /* we aborted after two events */
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    assert_int_equal(status, 200);
    char *ct = NULL;
    curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ct);
    assert_non_null(ct);
    assert_string_equal(ct, "text/event-stream");
    curl_easy_cleanup(c);
    assert_true(s->events >= 2);
    assert_true(t1 - t0 >= 140000000ull); /* the second event waited one interval */
    /* each event's data line is one JSON document */
    const char *d = strstr(s->buf, "data: ");
    assert_non_null(d);
    const char *e = strchr(d, '\n');
    json_t *j = json_loadb(d + 6, (size_t)(e - d - 6), 0, NULL);
    assert_non_null(j);
    assert_non_null(json_object_get(j, "metrics"));
    json_decref(j);
    assert_non_null(strstr(s->buf, "id: 2\n"));
    free(s);
    resp_t r = req(fx, "GET", "/api/v1/metrics/stream?interval_ms=5", NULL);
    expect_error(&r, 400, "INVALID_REQUEST");
    resp_free(&r);
    /* a stream still open at shutdown ends promptly */
    stop_server(fx);
}

/* ---- 429 ------------------------------------------------------------------------------------------------ */

static void test_rate_limit_429(void **st) {
    (void)st;
    fixture_t *fx = start_server(true); /* write: 1 rps, burst 3, frozen clock */
    for (int i = 0; i < 3; i++) {
        char body[64];
        snprintf(body, sizeof body, "{\"name\":\"rl%d\"}", i);
        resp_t r = req(fx, "POST", "/api/v1/topics", body);
        assert_int_equal(r.status, 201);
        assert_true(has_header(&r, "X-RateLimit-Limit: 1"));
        char rem[64];
        snprintf(rem, sizeof rem, "X-RateLimit-Remaining: %d", 2 - i);
        assert_true(has_header(&r, rem));
        resp_free(&r);
    }
    resp_t r = req(fx, "POST", "/api/v1/topics", "{\"name\":\"rl9\"}");
    expect_error(&r, 429, "RATE_LIMITED");
    assert_true(has_header(&r, "X-RateLimit-Limit: 1\r\n"));
    assert_true(has_header(&r, "X-RateLimit-Remaining: 0\r\n"));
    assert_true(has_header(&r, "X-RateLimit-Reset: 3\r\n"));
    assert_true(has_header(&r, "Retry-After: 1\r\n"));
    assert_true(has_header(&r, "X-RateLimit-Scope: write"));
    resp_free(&r);
    r = req(fx, "DELETE", "/api/v1/topics/rl0", NULL);
    expect_error(&r, 429, "RATE_LIMITED");
    resp_free(&r);
    /* the topic was not created by the refused request */
    r = req(fx, "GET", "/api/v1/topics/rl9", NULL);
    expect_error(&r, 404, "UNKNOWN_TOPIC_OR_PARTITION");
    resp_free(&r);
    /* other categories still answer */
    r = req(fx, "GET", "/health", NULL);
    assert_int_equal(r.status, 200);
    assert_true(has_header(&r, "X-RateLimit-Limit: 100"));
    resp_free(&r);
    r = req(fx, "GET", "/api/v1/topics", NULL);
    assert_int_equal(r.status, 200);
    assert_int_equal(jint(r.json, "total"), 3);
    resp_free(&r);
    r = req(fx, "GET", "/api/v1/cluster", NULL);
    assert_int_equal(r.status, 200);
    resp_free(&r);
    /* cluster: 5 rps burst 10 -> 9 more pass, then 429 */
    for (int i = 0; i < 9; i++) {
        r = req(fx, "GET", "/api/v1/brokers", NULL);
        assert_int_equal(r.status, 200);
        resp_free(&r);
    }
    r = req(fx, "GET", "/api/v1/brokers", NULL);
    expect_error(&r, 429, "RATE_LIMITED");
    assert_true(has_header(&r, "X-RateLimit-Limit: 5\r\n"));
    resp_free(&r);
    r = req(fx, "GET", "/metrics", NULL);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "rustmq_admin_rate_limited_total{scope=\"write\"} 2\n"));
    assert_non_null(strstr(r.body, "rustmq_admin_rate_limited_total{scope=\"cluster\"} 1\n"));
    resp_free(&r);
    stop_server(fx);
}

static void test_bind_conflict(void **st) {
    (void)st;
    fixture_t *fx = start_server(false);
    rmq_admin_config_t cfg;
    rmq_admin_config_default(&cfg);
    char listen[64];
    snprintf(listen, sizeof listen, "127.0.0.1:%d", rmq_admin_server_port(fx->srv));
    cfg.listen = listen;
    rmq_admin_backend_t be = {0};
    rmq_admin_server_t *s2 = NULL;
    char err[256];
    assert_int_not_equal(rmq_admin_server_start(&cfg, &be, &s2, err, sizeof err), 0);
    assert_null(s2);
    assert_non_null(strstr(err, "in use"));
    cfg.listen = "nonsense";
    assert_int_not_equal(rmq_admin_server_start(&cfg, &be, &s2, err, sizeof err), 0);
    stop_server(fx);
    /* an empty backend answers 501 and still serves health */
    cfg.listen = "127.0.0.1:0";
    assert_int_equal(rmq_admin_server_start(&cfg, &be, &s2, err, sizeof err), 0);
    fixture_t tmp;
    memset(&tmp, 0, sizeof tmp);
    snprintf(tmp.base, sizeof tmp.base, "http://127.0.0.1:%d", rmq_admin_server_port(s2));
    resp_t r = req(&tmp, "GET", "/api/v1/topics", NULL);
    expect_error(&r, 501, "UNSUPPORTED");
    resp_free(&r);
    r = req(&tmp, "GET", "/health", NULL);
    assert_int_equal(r.status, 200);
    resp_free(&r);
    r = req(&tmp, "GET", "/metrics", NULL);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "process_cpu_seconds_total"));
    resp_free(&r);
    rmq_admin_server_stop(s2);
}

int main(void) {
    rmq_log_set_level(RMQ_LOG_WARN);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_health_ready),   cmocka_unit_test(test_cluster_brokers),
        cmocka_unit_test(test_topics_crud),    cmocka_unit_test(test_pagination),
        cmocka_unit_test(test_groups),         cmocka_unit_test(test_routing_errors_and_docs),
        cmocka_unit_test(test_sse_stream),     cmocka_unit_test(test_rate_limit_429),
        cmocka_unit_test(test_bind_conflict),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
