/* test_ratelimit.c - the admin API limiter on a fake clock (the bucket
 * itself: test_tbucket.c): the three layers (global, per IP, per category) and which one
 * refuses, header figures (limit, remaining, reset, retry-after), LRU
 * eviction at max_tracked_ips, idle expiry, disabled limiter. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "admin/ratelimit.h"

typedef struct fake_clock {
    uint64_t ns;
} fake_clock_t;

static uint64_t fake_mono(void *ud) { return ((fake_clock_t *)ud)->ns; }
static int64_t fake_wall(void *ud) { return (int64_t)(((fake_clock_t *)ud)->ns / 1000000); }

#define MS 1000000ull
#define SEC 1000000000ull

static void test_defaults_from_seed(void **st) {
    (void)st;
    rmq_ratelimit_config_t c;
    rmq_ratelimit_config_default(&c);
    assert_true(c.enabled);
    assert_true(c.global.rps == 1000 && c.global.burst == 2000);
    assert_true(c.per_ip.rps == 50 && c.per_ip.burst == 100);
    assert_true(c.category[RMQ_RL_HEALTH].rps == 100);
    assert_true(c.category[RMQ_RL_READ].rps == 30);
    assert_true(c.category[RMQ_RL_WRITE].rps == 10);
    assert_true(c.category[RMQ_RL_CLUSTER].rps == 5);
    assert_int_equal(c.max_tracked_ips, 10000);
    assert_string_equal(rmq_rl_category_name(RMQ_RL_CLUSTER), "cluster");
}

static void test_category_exhaustion_and_headers(void **st) {
    (void)st;
    fake_clock_t fc = {1000 * SEC};
    rmq_clock_t clk = {fake_mono, fake_wall, &fc};
    rmq_ratelimit_config_t c;
    rmq_ratelimit_config_default(&c);
    rmq_ratelimiter_t *rl = rmq_rl_new(&c, &clk);
    assert_non_null(rl);
    rmq_rl_decision_t d;
    /* write: 10 rps burst 20 */
    for (int i = 0; i < 20; i++) {
        rmq_rl_check(rl, "10.0.0.1", RMQ_RL_WRITE, &d);
        assert_true(d.allowed);
        assert_string_equal(d.scope, "write");
        assert_true(d.limit == 10);
        assert_int_equal(d.remaining, (uint64_t)(19 - i));
    }
    rmq_rl_check(rl, "10.0.0.1", RMQ_RL_WRITE, &d);
    assert_false(d.allowed);
    assert_string_equal(d.scope, "write");
    assert_true(d.limit == 10);
    assert_int_equal(d.remaining, 0);
    assert_int_equal(d.retry_after_s, 1); /* 0.1 s rounded up */
    assert_int_equal(d.reset_s, 2);      /* 20 tokens at 10/s */
    /* other categories still answer, even for the same client */
    rmq_rl_check(rl, "10.0.0.1", RMQ_RL_READ, &d);
    assert_true(d.allowed);
    rmq_rl_check(rl, "10.0.0.1", RMQ_RL_HEALTH, &d);
    assert_true(d.allowed);
    /* 100 ms later one write passes again */
    fc.ns += 100 * MS;
    rmq_rl_check(rl, "10.0.0.1", RMQ_RL_WRITE, &d);
    assert_true(d.allowed);
    rmq_rl_check(rl, "10.0.0.1", RMQ_RL_WRITE, &d);
    assert_false(d.allowed);
    rmq_rl_free(rl);
}

static void test_per_ip_and_global(void **st) {
    (void)st;
    fake_clock_t fc = {5 * SEC};
    rmq_clock_t clk = {fake_mono, fake_wall, &fc};
    rmq_ratelimit_config_t c;
    rmq_ratelimit_config_default(&c);
    c.per_ip = (rmq_rl_limit_t){2, 3};
    c.global = (rmq_rl_limit_t){100, 5};
    c.category[RMQ_RL_READ] = (rmq_rl_limit_t){0, 0}; /* unlimited */
    rmq_ratelimiter_t *rl = rmq_rl_new(&c, &clk);
    rmq_rl_decision_t d;
    for (int i = 0; i < 3; i++) {
        rmq_rl_check(rl, "1.1.1.1", RMQ_RL_READ, &d);
        assert_true(d.allowed);
    }
    rmq_rl_check(rl, "1.1.1.1", RMQ_RL_READ, &d);
    assert_false(d.allowed);
    assert_string_equal(d.scope, "ip");
    assert_true(d.limit == 2);
    /* a refused request costs nothing elsewhere: the global bucket has 2 left */
    rmq_rl_check(rl, "2.2.2.2", RMQ_RL_READ, &d);
    assert_true(d.allowed);
    rmq_rl_check(rl, "3.3.3.3", RMQ_RL_READ, &d);
    assert_true(d.allowed);
    rmq_rl_check(rl, "4.4.4.4", RMQ_RL_READ, &d);
    assert_false(d.allowed);
    assert_string_equal(d.scope, "global");
    assert_int_equal(rmq_rl_tracked_ips(rl), 4);
    /* no IP: the per-IP layer is skipped */
    fc.ns += SEC;
    rmq_rl_check(rl, NULL, RMQ_RL_READ, &d);
    assert_true(d.allowed);
    rmq_rl_free(rl);
}

static void test_ip_lru_and_expiry(void **st) {
    (void)st;
    fake_clock_t fc = {1 * SEC};
    rmq_clock_t clk = {fake_mono, fake_wall, &fc};
    rmq_ratelimit_config_t c;
    rmq_ratelimit_config_default(&c);
    c.per_ip = (rmq_rl_limit_t){1, 1};
    c.max_tracked_ips = 3;
    c.ip_idle_ttl_ms = 10000;
    rmq_ratelimiter_t *rl = rmq_rl_new(&c, &clk);
    rmq_rl_decision_t d;
    rmq_rl_check(rl, "a", RMQ_RL_HEALTH, &d);
    assert_true(d.allowed);
    rmq_rl_check(rl, "b", RMQ_RL_HEALTH, &d);
    rmq_rl_check(rl, "c", RMQ_RL_HEALTH, &d);
    rmq_rl_check(rl, "a", RMQ_RL_HEALTH, &d); /* a is now most recent (and refused) */
    assert_false(d.allowed);
    assert_string_equal(d.scope, "ip");
    assert_int_equal(rmq_rl_tracked_ips(rl), 3);
    rmq_rl_check(rl, "d", RMQ_RL_HEALTH, &d); /* evicts b, the least recently seen */
    assert_int_equal(rmq_rl_tracked_ips(rl), 3);
    rmq_rl_check(rl, "a", RMQ_RL_HEALTH, &d);
    assert_false(d.allowed); /* a kept its empty bucket */
    rmq_rl_check(rl, "b", RMQ_RL_HEALTH, &d);
    assert_true(d.allowed); /* b was forgotten: fresh bucket (evicts c) */
    /* idle expiry */
    fc.ns += 11 * SEC;
    assert_int_equal(rmq_rl_tracked_ips(rl), 0);
    rmq_rl_free(rl);
}

static void test_many_ips_bounded(void **st) {
    (void)st;
    fake_clock_t fc = {1 * SEC};
    rmq_clock_t clk = {fake_mono, fake_wall, &fc};
    rmq_ratelimit_config_t c;
    rmq_ratelimit_config_default(&c);
    c.global.rps = 0;
    c.category[RMQ_RL_HEALTH].rps = 0;
    rmq_ratelimiter_t *rl = rmq_rl_new(&c, &clk);
    char ip[32];
    rmq_rl_decision_t d;
    for (int i = 0; i < 25000; i++) {
        snprintf(ip, sizeof ip, "10.%d.%d.%d", (i >> 16) & 255, (i >> 8) & 255, i & 255);
        rmq_rl_check(rl, ip, RMQ_RL_HEALTH, &d);
        assert_true(d.allowed);
    }
    assert_int_equal(rmq_rl_tracked_ips(rl), 10000);
    rmq_rl_free(rl);
}

static void test_disabled(void **st) {
    (void)st;
    rmq_ratelimit_config_t c;
    rmq_ratelimit_config_default(&c);
    c.enabled = false;
    c.category[RMQ_RL_CLUSTER] = (rmq_rl_limit_t){1, 1};
    rmq_ratelimiter_t *rl = rmq_rl_new(&c, NULL);
    rmq_rl_decision_t d;
    for (int i = 0; i < 50; i++) {
        rmq_rl_check(rl, "x", RMQ_RL_CLUSTER, &d);
        assert_true(d.allowed);
    }
    rmq_rl_free(rl);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults_from_seed),
        cmocka_unit_test(test_category_exhaustion_and_headers), cmocka_unit_test(test_per_ip_and_global),
        cmocka_unit_test(test_ip_lru_and_expiry), cmocka_unit_test(test_many_ips_bounded),
        cmocka_unit_test(test_disabled),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
