/* test_ctl_admin.c - the controller's REST admin API (src/controller/ctl_admin.c)
 * over real HTTP: an embedded single-voter Raft store in a temp dir (the
 * same code path as a quorum member, without network transport), the admin
 * server on port 0, libcurl requests. Checks health/ready from the Raft
 * state, that creates, config changes, partition growth and deletes go
 * through Raft into the state machine, error mapping (409, 400, 404), that
 * group endpoints are not served, and the rustmq_controller_* metrics. The
 * follower path (503 NOT_CONTROLLER) needs a second voter: it is covered by
 * tests/integration/test_controller.py::test_http_admin_api. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <ftw.h>
#include <sys/stat.h>
#include <cmocka.h>

#include "common/log.h"
#include "controller/ctl_admin.h"
#include "controller/meta_state.h"
#include "http_test_util.h"

typedef struct fx {
    char dir[64];
    rmq_raft_store_t *raft;
    rmq_meta_state_t *state;
    rmq_metrics_t *metrics;
    rmq_ctl_admin_t *adm;
    char base[64];
} fx_t;

static int rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb, (void)flag, (void)ftw;
    return remove(p);
}

static int setup(void **state) {
    fx_t *f = calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/rmq-ctladmin-XXXXXX");
    if (!mkdtemp(f->dir)) return -1;
    rmq_meta_store_t *store = NULL;
    char msg[256];
    if (rmq_raft_store_open_embedded(f->dir, 1, NULL, &f->raft, &store, &f->state, msg, sizeof msg)) {
        fprintf(stderr, "raft: %s\n", msg);
        return -1;
    }
    if (!rmq_raft_store_wait_leader(f->raft, 10000)) return -1;
    f->metrics = rmq_metrics_new();
    if (rmq_ctl_admin_start("127.0.0.1:0", f->raft, f->metrics, 2, 1, &f->adm, msg, sizeof msg)) {
        fprintf(stderr, "admin: %s\n", msg);
        return -1;
    }
    snprintf(f->base, sizeof f->base, "http://127.0.0.1:%d", rmq_ctl_admin_port(f->adm));
    *state = f;
    return 0;
}

static int teardown(void **state) {
    fx_t *f = *state;
    rmq_ctl_admin_stop(f->adm);
    rmq_raft_store_close(f->raft);
    rmq_metrics_free(f->metrics);
    nftw(f->dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
    free(f);
    return 0;
}

static const char *jstr(json_t *o, const char *k) { return json_string_value(json_object_get(o, k)); }

static void test_health_and_ready(void **state) {
    fx_t *f = *state;
    resp_t r = th_request(f->base, "GET", "/health", NULL);
    assert_int_equal(r.status, 200);
    json_t *checks = json_object_get(r.json, "checks");
    assert_string_equal(jstr(checks, "raft_role"), "leader");
    assert_string_equal(jstr(checks, "raft_leader"), "1");
    assert_string_equal(jstr(checks, "brokers_registered"), "0");
    assert_string_equal(jstr(r.json, "status"), "degraded"); /* no broker yet */
    resp_free(&r);
    r = th_request(f->base, "GET", "/ready", NULL);
    assert_int_equal(r.status, 200);
    resp_free(&r);
    r = th_request(f->base, "GET", "/api/v1/cluster", NULL);
    assert_int_equal(r.status, 200);
    assert_int_equal(json_integer_value(json_object_get(r.json, "controller_id")), 1);
    assert_true(strlen(jstr(r.json, "cluster_id")) == 22);
    resp_free(&r);
}

static void test_topic_lifecycle_through_raft(void **state) {
    fx_t *f = *state;
    resp_t r = th_request(f->base, "POST", "/api/v1/topics",
                          "{\"name\":\"orders\",\"configs\":{\"retention.ms\":\"60000\"}}");
    assert_int_equal(r.status, 201);
    assert_int_equal(json_integer_value(json_object_get(r.json, "partitions")), 2); /* the default given at start */
    resp_free(&r);
    /* it is in the replicated state machine */
    rmq_meta_state_rdlock(f->state);
    const rmq_meta_topic_t *t = rmq_meta_state_find_topic(f->state, "orders");
    assert_non_null(t);
    assert_int_equal(t->n_partitions, 2);
    rmq_meta_state_unlock(f->state);
    char v[64];
    bool over = false;
    assert_int_equal(rmq_meta_state_config(f->state, "orders", "retention.ms", v, sizeof v, &over), RMQ_NONE);
    assert_string_equal(v, "60000");
    assert_true(over);
    /* duplicates and bad input keep their Kafka meaning */
    r = th_request(f->base, "POST", "/api/v1/topics", "{\"name\":\"orders\",\"partitions\":1}");
    assert_int_equal(r.status, 409);
    assert_string_equal(jstr(r.json, "error"), "TOPIC_ALREADY_EXISTS");
    resp_free(&r);
    r = th_request(f->base, "POST", "/api/v1/topics", "{\"name\":\"bad/name\",\"partitions\":1}");
    assert_int_equal(r.status, 400);
    resp_free(&r);
    r = th_request(f->base, "GET", "/api/v1/topics/nope", NULL);
    assert_int_equal(r.status, 404);
    resp_free(&r);
    /* configs and partitions */
    r = th_request(f->base, "PUT", "/api/v1/topics/orders", "{\"configs\":{\"retention.ms\":\"120000\"}}");
    assert_true(r.status == 200 || r.status == 202);
    resp_free(&r);
    assert_int_equal(rmq_meta_state_config(f->state, "orders", "retention.ms", v, sizeof v, &over), RMQ_NONE);
    assert_string_equal(v, "120000");
    r = th_request(f->base, "POST", "/api/v1/topics/orders/partitions", "{\"count\":5}");
    assert_true(r.status == 200 || r.status == 202);
    resp_free(&r);
    r = th_request(f->base, "GET", "/api/v1/topics/orders", NULL);
    assert_int_equal(r.status, 200);
    json_t *parts = json_object_get(r.json, "partition_details");
    assert_int_equal(json_array_size(parts), 5);
    /* nothing uploaded: offsets unknown to the controller */
    assert_int_equal(json_integer_value(json_object_get(json_array_get(parts, 0), "high_watermark")), -1);
    resp_free(&r);
    /* delete: asynchronous operation, applied through Raft */
    r = th_request(f->base, "DELETE", "/api/v1/topics/orders", NULL);
    assert_int_equal(r.status, 202);
    resp_free(&r);
    for (int i = 0; i < 200 && rmq_meta_state_find_topic(f->state, "orders"); i++) {
        struct timespec ts = {0, 10 * 1000000};
        nanosleep(&ts, NULL);
    }
    rmq_meta_state_rdlock(f->state);
    assert_null(rmq_meta_state_find_topic(f->state, "orders"));
    rmq_meta_state_unlock(f->state);
}

static void test_groups_not_here_and_metrics(void **state) {
    fx_t *f = *state;
    resp_t r = th_request(f->base, "GET", "/api/v1/consumer-groups", NULL);
    assert_int_equal(r.status, 501);
    assert_non_null(r.json);
    assert_string_equal(jstr(r.json, "error"), "UNSUPPORTED");
    resp_free(&r);
    r = th_request(f->base, "GET", "/metrics", NULL);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "rustmq_controller_raft{field=\"is_leader\"} 1"));
    assert_non_null(strstr(r.body, "rustmq_controller_raft{field=\"term\"}"));
    assert_non_null(strstr(r.body, "rustmq_controller_metadata{kind=\"brokers\"} 0"));
    assert_non_null(strstr(r.body, "rustmq_controller_leader_changes_total"));
    resp_free(&r);
}

int main(void) {
    rmq_log_set_level(RMQ_LOG_WARN);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_health_and_ready, setup, teardown),
        cmocka_unit_test_setup_teardown(test_topic_lifecycle_through_raft, setup, teardown),
        cmocka_unit_test_setup_teardown(test_groups_not_here_and_metrics, setup, teardown),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
