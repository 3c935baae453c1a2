/* test_metrics.c - the metrics registry: Prometheus text exposition (HELP /
 * TYPE lines, _total, label escaping, value formatting, cumulative histogram
 * buckets with _sum/_count), idempotent and conflicting registration,
 * callback gauges and collectors, process metrics, JSON snapshot (parsed
 * back with jansson), unregister, and concurrent increments. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <pthread.h>
#include <cmocka.h>
#include <jansson.h>

#include "common/metrics.h"

static char *render(rmq_metrics_t *m) {
    rmq_buf_t b;
    rmq_buf_init(&b);
    assert_int_equal(rmq_metrics_render_prometheus(m, &b), 0);
    rmq_buf_put_u8(&b, 0);
    size_t n;
    return (char *)rmq_buf_detach(&b, &n);
}

static void test_counter_gauge_text(void **st) {
    (void)st;
    rmq_metrics_t *m = rmq_metrics_new();
    rmq_counter_t *c = rmq_counter_new(m, "rustmq_produce_requests", "Produce requests.");
    assert_non_null(c);
    rmq_counter_add(c, 41);
    rmq_counter_inc(c);
    /* same name again: same series (the name gained _total) */
    assert_ptr_equal(rmq_counter_new(m, "rustmq_produce_requests_total", "Produce requests."), c);
    rmq_gauge_t *g = rmq_gauge_new(m, "rustmq_wal_used_bytes", "WAL bytes in use.\nSecond line \\ backslash");
    rmq_gauge_set(g, 1.5);
    rmq_gauge_add(g, -0.25);
    assert_true(rmq_gauge_get(g) == 1.25);
    char *t = render(m);
    assert_non_null(strstr(t, "# HELP rustmq_produce_requests_total Produce requests.\n"
                              "# TYPE rustmq_produce_requests_total counter\n"
                              "rustmq_produce_requests_total 42\n"));
    assert_non_null(strstr(t, "# HELP rustmq_wal_used_bytes WAL bytes in use.\\nSecond line \\\\ backslash\n"
                              "# TYPE rustmq_wal_used_bytes gauge\n"
                              "rustmq_wal_used_bytes 1.25\n"));
    free(t);
    /* conflicting re-registration */
    assert_null(rmq_metrics_family(m, RMQ_METRIC_GAUGE, "rustmq_produce_requests_total", "x", NULL, NULL, 0));
    assert_null(rmq_metrics_family(m, RMQ_METRIC_GAUGE, "rustmq_wal_used_bytes", "x", "topic", NULL, 0));
    /* invalid names and labels */
    assert_null(rmq_metrics_family(m, RMQ_METRIC_GAUGE, "9bad", "x", NULL, NULL, 0));
    assert_null(rmq_metrics_family(m, RMQ_METRIC_GAUGE, "bad-name", "x", NULL, NULL, 0));
    assert_null(rmq_metrics_family(m, RMQ_METRIC_GAUGE, "ok_name", "x", "__reserved", NULL, 0));
    assert_null(rmq_metrics_family(m, RMQ_METRIC_GAUGE, "ok_name2", "x", "a,b,c,d,e", NULL, 0));
    assert_null(rmq_metrics_family(m, RMQ_METRIC_GAUGE, "ok_name3", "x", "a,a", NULL, 0));
    assert_null(rmq_metrics_family(m, RMQ_METRIC_HISTOGRAM, "ok_name4", "x", "le", NULL, 0));
    rmq_metrics_free(m);
}

static void test_labels_escaping(void **st) {
    (void)st;
    rmq_metrics_t *m = rmq_metrics_new();
    rmq_metric_family_t *f =
        rmq_metrics_family(m, RMQ_METRIC_COUNTER, "rustmq_requests_total", "Requests by API.", "api,topic", NULL, 0);
    assert_non_null(f);
    const char *v1[] = {"Produce", "orders"};
    const char *v2[] = {"Fetch", "we\"ird\\to\npic"};
    rmq_counter_t *a = rmq_counter_with(f, v1);
    rmq_counter_t *b = rmq_counter_with(f, v2);
    assert_ptr_not_equal(a, b);
    assert_ptr_equal(rmq_counter_with(f, v1), a);
    assert_null(rmq_gauge_with(f, v1)); /* wrong type */
    rmq_counter_add(a, 3);
    rmq_counter_add(b, 7);
    char *t = render(m);
    assert_non_null(strstr(t, "rustmq_requests_total{api=\"Produce\",topic=\"orders\"} 3\n"));
    assert_non_null(strstr(t, "rustmq_requests_total{api=\"Fetch\",topic=\"we\\\"ird\\\\to\\npic\"} 7\n"));
    /* exactly one HELP and TYPE line per family */
    assert_null(strstr(strstr(t, "# TYPE rustmq_requests_total") + 1, "# TYPE rustmq_requests_total"));
    free(t);
    rmq_metrics_free(m);
}

static void test_value_format(void **st) {
    (void)st;
    char b[40];
    rmq_metrics_format_value(0, b, sizeof b);
    assert_string_equal(b, "0");
    rmq_metrics_format_value(-0.0, b, sizeof b);
    assert_string_equal(b, "0");
    rmq_metrics_format_value(123456789, b, sizeof b);
    assert_string_equal(b, "123456789");
    rmq_metrics_format_value(0.1, b, sizeof b);
    assert_string_equal(b, "0.1");
    rmq_metrics_format_value(INFINITY, b, sizeof b);
    assert_string_equal(b, "+Inf");
    rmq_metrics_format_value(-INFINITY, b, sizeof b);
    assert_string_equal(b, "-Inf");
    rmq_metrics_format_value(NAN, b, sizeof b);
    assert_string_equal(b, "NaN");
    rmq_metrics_format_value(1e300, b, sizeof b);
    assert_true(strtod(b, NULL) == 1e300);
    rmq_metrics_format_value(1.0 / 3.0, b, sizeof b);
    assert_true(strtod(b, NULL) == 1.0 / 3.0);
}

static void test_histogram_cumulative(void **st) {
    (void)st;
    rmq_metrics_t *m = rmq_metrics_new();
    const double bounds[] = {0.001, 0.01, 0.1, 1};
    rmq_metric_family_t *f = rmq_metrics_family(m, RMQ_METRIC_HISTOGRAM, "rustmq_produce_latency_seconds",
                                                "Produce latency.", "api", bounds, 4);
    const char *v[] = {"Produce"};
    rmq_hist_t *h = rmq_hist_with(f, v);
    assert_non_null(h);
    rmq_hist_observe(h, 0.0005); /* <= 0.001 */
    rmq_hist_observe(h, 0.001);  /* boundary belongs to le=0.001 */
    rmq_hist_observe(h, 0.05);   /* <= 0.1 */
    rmq_hist_observe(h, 5);      /* +Inf */
    rmq_hist_observe(h, NAN);    /* ignored */
    assert_int_equal(rmq_hist_count(h), 4);
    assert_true(fabs(rmq_hist_sum(h) - 5.0515) < 1e-12);
    char *t = render(m);
    const char *want = "# HELP rustmq_produce_latency_seconds Produce latency.\n"
                       "# TYPE rustmq_produce_latency_seconds histogram\n"
                       "rustmq_produce_latency_seconds_bucket{api=\"Produce\",le=\"0.001\"} 2\n"
                       "rustmq_produce_latency_seconds_bucket{api=\"Produce\",le=\"0.01\"} 2\n"
                       "rustmq_produce_latency_seconds_bucket{api=\"Produce\",le=\"0.1\"} 3\n"
                       "rustmq_produce_latency_seconds_bucket{api=\"Produce\",le=\"1\"} 3\n"
                       "rustmq_produce_latency_seconds_bucket{api=\"Produce\",le=\"+Inf\"} 4\n"
                       "rustmq_produce_latency_seconds_sum{api=\"Produce\"} 5.0515\n"
                       "rustmq_produce_latency_seconds_count{api=\"Produce\"} 4\n";
    assert_string_equal(t, want);
    free(t);
    /* default and byte layouts, bad layouts */
    rmq_hist_t *d = rmq_hist_new(m, "rustmq_x_seconds", "x", NULL, 0);
    assert_non_null(d);
    rmq_hist_t *bb = rmq_hist_new(m, "rustmq_batch_size_bytes", "x", rmq_hist_buckets_bytes, rmq_hist_buckets_bytes_n);
    rmq_hist_observe(bb, 1000);
    t = render(m);
    assert_non_null(strstr(t, "rustmq_x_seconds_bucket{le=\"0.0001\"} 0\n"));
    assert_non_null(strstr(t, "rustmq_batch_size_bytes_bucket{le=\"256\"} 0\n"));
    assert_non_null(strstr(t, "rustmq_batch_size_bytes_bucket{le=\"1024\"} 1\n"));
    free(t);
    const double bad[] = {1, 1};
    assert_null(rmq_hist_new(m, "rustmq_bad_seconds", "x", bad, 2));
    rmq_metrics_free(m);
}

static double cb_value(void *ud) { return *(double *)ud; }

static void collect_lag(void *ud, rmq_metrics_sink_t *s) {
    int *calls = ud;
    (*calls)++;
    const char *a[] = {"g1", "orders", "0"};
    const char *b[] = {"g1", "orders", "1"};
    rmq_metrics_sink_add(s, a, 10);
    rmq_metrics_sink_add(s, b, 0);
}

static void test_callbacks_and_unregister(void **st) {
    (void)st;
    rmq_metrics_t *m = rmq_metrics_new();
    double v = 77;
    assert_int_equal(rmq_gauge_fn(m, "rustmq_partitions", "Partitions led.", cb_value, &v), 0);
    int calls = 0;
    assert_int_equal(rmq_metrics_collector(m, RMQ_METRIC_GAUGE, "rustmq_consumer_lag", "Lag.", "group,topic,partition",
                                           collect_lag, &calls),
                     0);
    assert_int_not_equal(rmq_gauge_fn(m, "rustmq_partitions", "again", cb_value, &v), 0);
    char *t = render(m);
    assert_non_null(strstr(t, "rustmq_partitions 77\n"));
    assert_non_null(strstr(t, "rustmq_consumer_lag{group=\"g1\",topic=\"orders\",partition=\"0\"} 10\n"));
    assert_non_null(strstr(t, "rustmq_consumer_lag{group=\"g1\",topic=\"orders\",partition=\"1\"} 0\n"));
    free(t);
    assert_int_equal(calls, 1);
    v = 78;
    t = render(m);
    assert_non_null(strstr(t, "rustmq_partitions 78\n"));
    free(t);
    assert_int_equal(rmq_metrics_unregister(m, "rustmq_partitions"), 0);
    assert_int_equal(rmq_metrics_unregister(m, "rustmq_partitions"), RMQ_ERR_NOT_FOUND);
    t = render(m);
    assert_null(strstr(t, "rustmq_partitions"));
    free(t);
    /* the tail pointer survives removing the last family */
    assert_int_equal(rmq_metrics_unregister(m, "rustmq_consumer_lag"), 0);
    assert_non_null(rmq_counter_new(m, "rustmq_after", "x"));
    t = render(m);
    assert_non_null(strstr(t, "rustmq_after_total 0\n"));
    free(t);
    rmq_metrics_free(m);
}

static void test_process_metrics(void **st) {
    (void)st;
    rmq_metrics_t *m = rmq_metrics_new();
    assert_int_equal(rmq_metrics_register_process(m), 0);
    assert_int_equal(rmq_metrics_register_process(m), 0); /* idempotent */
    char *t = render(m);
    assert_non_null(strstr(t, "# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total "));
    const char *p = strstr(t, "\nprocess_resident_memory_bytes ");
    assert_non_null(p);
    assert_true(strtod(p + strlen("\nprocess_resident_memory_bytes "), NULL) > 1e5);
    p = strstr(t, "\nprocess_open_fds ");
    assert_non_null(p);
    assert_true(strtod(p + strlen("\nprocess_open_fds "), NULL) >= 3);
    p = strstr(t, "\nprocess_start_time_seconds ");
    assert_non_null(p);
    double start = strtod(p + strlen("\nprocess_start_time_seconds "), NULL);
    assert_true(start > 1.5e9 && start < 1e10);
    assert_non_null(strstr(t, "\nprocess_max_fds "));
    free(t);
    rmq_metrics_free(m);
}

static void test_json_snapshot(void **st) {
    (void)st;
    rmq_metrics_t *m = rmq_metrics_new();
    rmq_metric_family_t *f = rmq_metrics_family(m, RMQ_METRIC_COUNTER, "rustmq_bytes_in", "Bytes \"in\".", "topic", NULL, 0);
    const char *v[] = {"t\n1"};
    rmq_counter_add(rmq_counter_with(f, v), 5);
    rmq_gauge_set(rmq_gauge_new(m, "rustmq_inf", "x"), INFINITY);
    const double bounds[] = {1, 2};
    rmq_hist_observe(rmq_hist_new(m, "rustmq_h_seconds", "h", bounds, 2), 1.5);
    rmq_buf_t b;
    rmq_buf_init(&b);
    assert_int_equal(rmq_metrics_render_json(m, &b), 0);
    json_error_t je;
    json_t *j = json_loadb((const char *)b.data, b.len, 0, &je);
    assert_non_null(j);
    json_t *ms = json_object_get(j, "metrics");
    assert_int_equal(json_array_size(ms), 3);
    json_t *c = json_array_get(ms, 0);
    assert_string_equal(json_string_value(json_object_get(c, "name")), "rustmq_bytes_in_total");
    assert_string_equal(json_string_value(json_object_get(c, "type")), "counter");
    assert_string_equal(json_string_value(json_object_get(c, "help")), "Bytes \"in\".");
    json_t *s0 = json_array_get(json_object_get(c, "series"), 0);
    assert_string_equal(json_string_value(json_object_get(json_object_get(s0, "labels"), "topic")), "t\n1");
    assert_int_equal(json_integer_value(json_object_get(s0, "value")), 5);
    json_t *g = json_array_get(json_object_get(json_array_get(ms, 1), "series"), 0);
    assert_string_equal(json_string_value(json_object_get(g, "value")), "+Inf");
    json_t *h = json_array_get(json_object_get(json_array_get(ms, 2), "series"), 0);
    assert_int_equal(json_integer_value(json_object_get(h, "count")), 1);
    json_t *bk = json_object_get(h, "buckets");
    assert_int_equal(json_array_size(bk), 3);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(bk, 0), "count")), 0);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(bk, 1), "count")), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(bk, 2), "le")), "+Inf");
    assert_true(json_integer_value(json_object_get(j, "timestamp_ms")) > 0);
    json_decref(j);
    rmq_buf_free(&b);
    rmq_metrics_free(m);
}

typedef struct thr_arg {
    rmq_counter_t *c;
    rmq_hist_t *h;
    rmq_gauge_t *g;
} thr_arg_t;

static void *hammer(void *p) {
    thr_arg_t *a = p;
    for (int i = 0; i < 100000; i++) {
        rmq_counter_inc(a->c);
        rmq_hist_observe(a->h, 0.002);
        rmq_gauge_add(a->g, 1);
    }
    return NULL;
}

static void test_concurrent(void **st) {
    (void)st;
    rmq_metrics_t *m = rmq_metrics_new();
    thr_arg_t a = {rmq_counter_new(m, "rustmq_c", "c"), rmq_hist_new(m, "rustmq_h", "h", NULL, 0),
                   rmq_gauge_new(m, "rustmq_g", "g")};
    pthread_t t[4];
    for (int i = 0; i < 4; i++) pthread_create(&t[i], NULL, hammer, &a);
    for (int i = 0; i < 4; i++) pthread_join(t[i], NULL);
    assert_int_equal(rmq_counter_get(a.c), 400000);
    assert_int_equal(rmq_hist_count(a.h), 400000);
    assert_true(rmq_gauge_get(a.g) == 400000);
    assert_true(fabs(rmq_hist_sum(a.h) - 800) < 1e-6);
    rmq_metrics_free(m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counter_gauge_text), cmocka_unit_test(test_labels_escaping),
        cmocka_unit_test(test_value_format),       cmocka_unit_test(test_histogram_cumulative),
        cmocka_unit_test(test_callbacks_and_unregister), cmocka_unit_test(test_process_metrics),
        cmocka_unit_test(test_json_snapshot),      cmocka_unit_test(test_concurrent),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
