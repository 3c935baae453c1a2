/* test_ctl_rpc.c - the controller RPC: the applied-command ring, and a
 * server over a single-voter raft store driven by the blocking client
 * (describe, propose with applied results, linearizable read, watch/fetch
 * into a mirror state with tail and snapshot fallback, membership errors). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/log.h"
#include "controller/ctl_client.h"
#include "controller/ctl_proto.h"
#include "controller/ctl_server.h"
#include "controller/meta_cmd.h"
#include "controller/meta_state.h"
#include "controller/raft_store.h"

static void test_ring(void **st) {
    (void)st;
    rmq_ctl_ring_t r;
    assert_int_equal(rmq_ctl_ring_init(&r, 4, 1000, 0), 0);
    uint8_t cmd[10] = {1, 2, 3};
    for (int64_t i = 1; i <= 3; i++) rmq_ctl_ring_push(&r, i * 2, cmd, sizeof cmd);
    rmq_buf_t b;
    rmq_buf_init(&b);
    assert_true(rmq_ctl_ring_fetch(&r, 0, 100, 1 << 20, &b));
    assert_int_equal(rmq_be32(b.data), 3);
    rmq_buf_reset(&b);
    assert_true(rmq_ctl_ring_fetch(&r, 3, 100, 1 << 20, &b)); /* > 3: indexes 4 and 6 */
    assert_int_equal(rmq_be32(b.data), 2);
    assert_int_equal((int64_t)rmq_be64(b.data + 4), 4);
    rmq_buf_reset(&b);
    assert_true(rmq_ctl_ring_fetch(&r, 0, 1, 1 << 20, &b)); /* max 1 */
    assert_int_equal(rmq_be32(b.data), 1);
    /* overflow: 2 more push out the oldest; base moves to 2 then 4 */
    rmq_ctl_ring_push(&r, 8, cmd, sizeof cmd);
    rmq_ctl_ring_push(&r, 10, cmd, sizeof cmd);
    assert_int_equal(r.base, 2);
    rmq_buf_reset(&b);
    assert_false(rmq_ctl_ring_fetch(&r, 1, 100, 1 << 20, &b)); /* older than the tail: snapshot */
    assert_true(rmq_ctl_ring_fetch(&r, 2, 100, 1 << 20, &b));
    assert_int_equal(rmq_be32(b.data), 4);
    /* byte cap evicts too */
    uint8_t big[400] = {0};
    rmq_ctl_ring_push(&r, 12, big, sizeof big);
    rmq_ctl_ring_push(&r, 14, big, sizeof big);
    rmq_ctl_ring_push(&r, 16, big, sizeof big);
    assert_true(r.bytes <= 1000);
    assert_int_equal(r.base, 12);
    rmq_ctl_ring_reset(&r, 100);
    rmq_buf_reset(&b);
    assert_false(rmq_ctl_ring_fetch(&r, 50, 100, 1 << 20, &b));
    rmq_buf_free(&b);
    rmq_ctl_ring_free(&r);
}

typedef struct {
    char dir[128];
    rmq_ctl_ring_t ring;
    rmq_raft_store_t *rs;
    rmq_ctl_server_t *srv;
    rmq_ctl_client_t *cli;
    char ep[64];
} env_t;

static void env_up(env_t *e, size_t ring_cap) {
    memset(e, 0, sizeof *e);
    snprintf(e->dir, sizeof e->dir, "/tmp/rmq-ctl-test-XXXXXX");
    assert_non_null(mkdtemp(e->dir));
    assert_int_equal(rmq_ctl_ring_init(&e->ring, ring_cap, 1 << 20, 0), 0);
    rmq_raft_store_opts_t o = {0};
    o.dir = e->dir;
    o.node_id = 1;
    o.on_applied = rmq_ctl_ring_observer;
    o.on_applied_ud = &e->ring;
    o.on_restored = rmq_ctl_ring_restored;
    o.on_restored_ud = &e->ring;
    char msg[256];
    if (rmq_raft_store_open(&o, NULL, &e->rs, msg, sizeof msg)) fail_msg("%s", msg);
    assert_true(rmq_raft_store_wait_leader(e->rs, 5000));
    rmq_ctl_server_opts_t so = {.listen = "127.0.0.1:0", .raft = e->rs, .ring = &e->ring};
    if (rmq_ctl_server_start(&so, &e->srv, msg, sizeof msg)) fail_msg("%s", msg);
    snprintf(e->ep, sizeof e->ep, "127.0.0.1:%d", rmq_ctl_server_port(e->srv));
    const char *eps[] = {e->ep};
    assert_int_equal(rmq_ctl_client_new(eps, 1, 5000, &e->cli), 0);
    /* wait for the leader's InitCluster */
    for (int i = 0; i < 500 && !rmq_meta_state_cluster_id(rmq_raft_store_state(e->rs), NULL); i++) usleep(10000);
    assert_true(rmq_meta_state_cluster_id(rmq_raft_store_state(e->rs), NULL));
}

static void env_down(env_t *e) {
    rmq_ctl_client_free(e->cli);
    rmq_ctl_server_stop(e->srv);
    rmq_raft_store_close(e->rs);
    rmq_ctl_ring_free(&e->ring);
    char cmd[200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", e->dir);
    assert_int_equal(system(cmd), 0);
}

static rmq_err_t create(env_t *e, const char *name, int32_t parts, rmq_meta_result_t *res) {
    rmq_meta_cmd_t c = {.type = RMQ_META_CMD_CREATE_TOPIC};
    c.u.create_topic.name = name;
    c.u.create_topic.partitions = parts;
    c.u.create_topic.replication_factor = 1;
    rmq_meta_uuid_random(&c.u.create_topic.topic_id);
    return rmq_ctl_client_propose_cmd(e->cli, &c, res);
}

static void test_server_roundtrip(void **st) {
    (void)st;
    env_t e;
    env_up(&e, 1024);
    rmq_ctl_describe_t d;
    char msg[256];
    assert_int_equal(rmq_ctl_client_describe(e.cli, 0, &d, msg, sizeof msg), 0);
    assert_int_equal(d.node_id, 1);
    assert_int_equal(d.role, RMQ_RAFT_LEADER);
    assert_int_equal(d.leader_id, 1);
    assert_true(d.has_cluster);
    assert_int_equal(d.n_servers, 1);
    size_t ep;
    assert_int_equal(rmq_ctl_client_find_leader(e.cli, &ep, msg, sizeof msg), 0);
    assert_int_equal(ep, 0);

    rmq_meta_result_t res;
    assert_int_equal(create(&e, "alpha", 4, &res), 0);
    assert_int_equal(res.n_stream_ids, 4);
    assert_true(res.index > 0);
    int64_t first = res.index;
    rmq_meta_result_free(&res);
    assert_int_equal(create(&e, "alpha", 4, &res), RMQ_TOPIC_ALREADY_EXISTS);
    assert_non_null(strstr(res.msg, "already exists"));
    assert_true(res.index > first);
    rmq_meta_result_free(&res);
    /* a malformed command is applied as a rejection, never crashes */
    uint8_t junk[20] = {0x52, 0x4D, 0x4D, 0x43};
    assert_int_not_equal(rmq_ctl_client_propose(e.cli, junk, sizeof junk, &res), 0);
    rmq_meta_result_free(&res);

    /* linearizable read equals the server's state */
    rmq_meta_state_t *copy = rmq_meta_state_new(NULL);
    int64_t idx;
    assert_int_equal(rmq_ctl_client_read_state(e.cli, copy, &idx, msg, sizeof msg), 0);
    assert_true(rmq_meta_state_equal(copy, rmq_raft_store_state(e.rs)));
    assert_int_equal(idx, rmq_meta_state_last_index(copy));
    rmq_meta_state_free(copy);

    /* watch: a mirror fed by FETCH becomes identical */
    rmq_meta_state_t *mirror = rmq_meta_state_new(NULL);
    size_t n;
    assert_int_equal(rmq_ctl_client_fetch(e.cli, 0, mirror, 100, &n, msg, sizeof msg), 0);
    assert_true(n >= 3);
    assert_true(rmq_meta_state_equal(mirror, rmq_raft_store_state(e.rs)));
    assert_int_equal(create(&e, "beta", 1, &res), 0);
    rmq_meta_result_free(&res);
    assert_int_equal(rmq_ctl_client_fetch(e.cli, 0, mirror, 100, &n, msg, sizeof msg), 0);
    assert_int_equal(n, 1);
    assert_true(rmq_meta_state_equal(mirror, rmq_raft_store_state(e.rs)));
    assert_int_equal(rmq_ctl_client_fetch(e.cli, 0, mirror, 100, &n, msg, sizeof msg), 0);
    assert_int_equal(n, 0);
    rmq_meta_state_free(mirror);

    /* membership: removing an unknown voter is a clean error */
    assert_int_not_equal(rmq_ctl_client_remove_voter(e.cli, 42, msg, sizeof msg), 0);
    env_down(&e);
}

static void test_fetch_snapshot_fallback(void **st) {
    (void)st;
    env_t e;
    env_up(&e, 4); /* tiny tail */
    rmq_meta_result_t res;
    char name[32];
    for (int i = 0; i < 12; i++) {
        snprintf(name, sizeof name, "t%d", i);
        assert_int_equal(create(&e, name, 1, &res), 0);
        rmq_meta_result_free(&res);
    }
    rmq_meta_state_t *mirror = rmq_meta_state_new(NULL);
    size_t n;
    char msg[256];
    assert_int_equal(rmq_ctl_client_fetch(e.cli, 0, mirror, 100, &n, msg, sizeof msg), 0);
    assert_int_equal(n, 1); /* one snapshot */
    assert_true(rmq_meta_state_equal(mirror, rmq_raft_store_state(e.rs)));
    for (int i = 12; i < 14; i++) {
        snprintf(name, sizeof name, "t%d", i);
        assert_int_equal(create(&e, name, 1, &res), 0);
        rmq_meta_result_free(&res);
    }
    assert_int_equal(rmq_ctl_client_fetch(e.cli, 0, mirror, 100, &n, msg, sizeof msg), 0);
    assert_int_equal(n, 2); /* the tail again */
    assert_true(rmq_meta_state_equal(mirror, rmq_raft_store_state(e.rs)));
    rmq_meta_state_free(mirror);
    env_down(&e);
}

static void test_client_no_server(void **st) {
    (void)st;
    const char *eps[] = {"127.0.0.1:1"};
    rmq_ctl_client_t *c;
    assert_int_equal(rmq_ctl_client_new(eps, 1, 300, &c), 0);
    rmq_meta_result_t res;
    uint8_t cmd[16] = {0};
    rmq_err_t e = rmq_ctl_client_propose(c, cmd, sizeof cmd, &res);
    assert_true(e == RMQ_NETWORK_EXCEPTION || e == RMQ_REQUEST_TIMED_OUT);
    rmq_meta_result_free(&res);
    rmq_ctl_client_free(c);
    assert_int_equal(rmq_ctl_client_new(NULL, 0, 300, &c), RMQ_ERR_INVALID_ARG);
}

int main(void) {
    rmq_log_set_level(RMQ_LOG_WARN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ring),
        cmocka_unit_test(test_server_roundtrip),
        cmocka_unit_test(test_fetch_snapshot_fallback),
        cmocka_unit_test(test_client_no_server),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
