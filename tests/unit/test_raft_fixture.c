/* test_raft_fixture.c - the Raft metadata store.
 *
 * Part 1 (deterministic, no real time): a 3-server cluster in-process with
 * libraft's raft/fixture.h, every server running our fsm (raft_fsm.c) over
 * its own rmq_meta_state_t, applying real encoded metadata commands:
 * elections, leader loss, network partitions, kill/revive, snapshot
 * install to a lagging follower; replicas compared with
 * rmq_meta_state_equal and the meta index checked against the raft index.
 *
 * Part 2 (real libuv store, temp dirs): the embedded single voter opens
 * fast, proposes, survives a restart (log replay and snapshot + tail),
 * migrates an existing local metadata log, rejects a dir of another node,
 * and answers RMQ_NOT_CONTROLLER / barriers correctly. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <raft.h>
#include <raft/fixture.h>

#include "common/clock.h"
#include "common/log.h"
#include "controller/meta_cmd.h"
#include "controller/meta_log.h"
#include "controller/meta_state.h"
#include "controller/meta_store.h"
#include "controller/raft_fsm.h"
#include "controller/raft_store.h"

#define N 3

/* ---- commands ---- */

static rmq_meta_uuid_t uuid_n(uint32_t n) {
    rmq_meta_uuid_t u;
    memset(u.b, 0, 16);
    u.b[0] = 0xC0;
    u.b[12] = (uint8_t)(n >> 24);
    u.b[13] = (uint8_t)(n >> 16);
    u.b[14] = (uint8_t)(n >> 8);
    u.b[15] = (uint8_t)n;
    return u;
}

static void enc(const rmq_meta_cmd_t *c, rmq_buf_t *b) {
    rmq_buf_init(b);
    assert_int_equal(rmq_meta_cmd_encode(c, b), 0);
}

static void cmd_init(rmq_buf_t *b) {
    rmq_meta_cmd_t c = {.type = RMQ_META_CMD_INIT_CLUSTER};
    c.u.init_cluster.cluster_id = uuid_n(0xFFFF);
    enc(&c, b);
}

static void cmd_topic(rmq_buf_t *b, uint32_t n, int32_t parts) {
    char name[32];
    snprintf(name, sizeof name, "topic-%u", n);
    rmq_meta_cmd_t c = {.type = RMQ_META_CMD_CREATE_TOPIC};
    c.u.create_topic.name = name;
    c.u.create_topic.topic_id = uuid_n(n);
    c.u.create_topic.partitions = parts;
    c.u.create_topic.replication_factor = 1;
    enc(&c, b);
}

static void cmd_broker(rmq_buf_t *b, int32_t id, int64_t epoch) {
    rmq_meta_cmd_t c = {.type = RMQ_META_CMD_REGISTER_BROKER};
    c.u.register_broker.broker_id = id;
    c.u.register_broker.host = "127.0.0.1";
    c.u.register_broker.port = (uint16_t)(9000 + id);
    c.u.register_broker.rack = "";
    c.u.register_broker.epoch = epoch;
    enc(&c, b);
}

/* ---- fixture cluster ---- */

typedef struct {
    struct raft_fixture f;
    rmq_meta_state_t *state[N];
    rmq_raft_fsm_t fsm[N];
    uint64_t applied_raft_index[N]; /* last command index seen by the observer */
    int64_t applied_meta_index[N];
} cluster_t;

typedef struct {
    struct raft_apply req;
    int status;
    bool done;
} apply_t;

static void observe(void *ud, uint64_t raft_index, int64_t meta_index, rmq_meta_result_t *res, const uint8_t *cmd,
                    size_t len) {
    (void)res, (void)cmd, (void)len;
    cluster_t *c = ((void **)ud)[0];
    size_t i = (size_t)(uintptr_t)((void **)ud)[1];
    c->applied_raft_index[i] = raft_index;
    c->applied_meta_index[i] = meta_index;
}

static void *obs_ud[N][2];

static cluster_t *cluster_new(unsigned threshold) {
    cluster_t *c = calloc(1, sizeof *c);
    assert_non_null(c);
    assert_int_equal(raft_fixture_initialize(&c->f), 0);
    for (size_t i = 0; i < N; i++) {
        c->state[i] = rmq_meta_state_new(NULL);
        assert_non_null(c->state[i]);
        obs_ud[i][0] = c;
        obs_ud[i][1] = (void *)(uintptr_t)i;
        rmq_raft_fsm_init(&c->fsm[i], c->state[i], 0, observe, obs_ud[i]);
        assert_int_equal(raft_fixture_grow(&c->f, &c->fsm[i].fsm), 0);
    }
    for (size_t i = 0; i < N; i++) {
        struct raft *r = raft_fixture_get(&c->f, (unsigned)i);
        c->fsm[i].raft = r;
        if (threshold) {
            raft_set_snapshot_threshold(r, threshold);
            raft_set_snapshot_trailing(r, threshold / 2);
        }
    }
    struct raft_configuration conf;
    assert_int_equal(raft_fixture_configuration(&c->f, N, &conf), 0);
    assert_int_equal(raft_fixture_bootstrap(&c->f, &conf), 0);
    raft_configuration_close(&conf);
    assert_int_equal(raft_fixture_start(&c->f), 0);
    return c;
}

static void cluster_free(cluster_t *c) {
    raft_fixture_close(&c->f);
    for (size_t i = 0; i < N; i++) rmq_meta_state_free(c->state[i]);
    free(c);
}

static void apply_cb(struct raft_apply *req, int status, void *result) {
    assert_null(result); /* results never travel through libraft */
    apply_t *a = req->data;
    a->status = status;
    a->done = true;
}

/* Propose b on the current leader, step until every live server applied it.
 * Returns the raft index of the entry. */
static raft_index propose(cluster_t *c, rmq_buf_t *b) {
    unsigned li = raft_fixture_leader_index(&c->f);
    assert_true(li < N);
    struct raft *r = raft_fixture_get(&c->f, li);
    apply_t *a = calloc(1, sizeof *a);
    a->req.data = a;
    struct raft_buffer buf;
    assert_int_equal(rmq_raft_entry_encode(b->data, b->len, &buf), 0);
    assert_int_equal(raft_apply(r, &a->req, &buf, 1, apply_cb), 0);
    raft_index idx = a->req.index;
    assert_true(raft_fixture_step_until_applied(&c->f, li, idx, 10000));
    assert_true(a->done);
    assert_int_equal(a->status, 0);
    for (unsigned i = 0; i < N; i++) {
        if (!raft_fixture_alive(&c->f, i)) continue;
        if (i != li && raft_fixture_saturated(&c->f, li, i)) continue;
        assert_true(raft_fixture_step_until_applied(&c->f, i, idx, 10000));
    }
    free(a);
    rmq_buf_free(b);
    return idx;
}

static void assert_all_equal(cluster_t *c) {
    for (size_t i = 1; i < N; i++) assert_true(rmq_meta_state_equal(c->state[0], c->state[i]));
}

static void partition(cluster_t *c, unsigned i) {
    for (unsigned j = 0; j < N; j++) {
        if (j == i) continue;
        raft_fixture_saturate(&c->f, i, j);
        raft_fixture_saturate(&c->f, j, i);
    }
}

static void heal(cluster_t *c, unsigned i) {
    for (unsigned j = 0; j < N; j++) {
        if (j == i) continue;
        raft_fixture_desaturate(&c->f, i, j);
        raft_fixture_desaturate(&c->f, j, i);
    }
}

/* ---- part 1: fixture ---- */

static void test_fixture_elect_and_apply(void **st) {
    (void)st;
    cluster_t *c = cluster_new(0);
    raft_fixture_elect(&c->f, 0);
    assert_int_equal(raft_fixture_leader_index(&c->f), 0);
    rmq_buf_t b;
    cmd_init(&b);
    propose(c, &b);
    cmd_broker(&b, 1, 1);
    propose(c, &b);
    cmd_topic(&b, 1, 3);
    raft_index idx = propose(c, &b);
    cmd_topic(&b, 1, 3); /* duplicate: applied as a deterministic rejection everywhere */
    raft_index dup = propose(c, &b);
    assert_true(dup > idx);
    for (size_t i = 0; i < N; i++) {
        assert_int_equal(rmq_meta_state_topic_count(c->state[i]), 1);
        assert_int_equal(rmq_meta_state_partition_count(c->state[i]), 3);
        /* the meta index is the raft index of the entry */
        assert_int_equal(rmq_meta_state_last_index(c->state[i]), (int64_t)dup);
        assert_int_equal(c->applied_raft_index[i], dup);
        assert_int_equal(c->fsm[i].n_rejected, 1);
        assert_true(rmq_meta_state_cluster_id(c->state[i], NULL));
    }
    assert_all_equal(c);
    cluster_free(c);
}

static void test_fixture_leader_killed(void **st) {
    (void)st;
    cluster_t *c = cluster_new(0);
    raft_fixture_elect(&c->f, 0);
    rmq_buf_t b;
    cmd_init(&b);
    propose(c, &b);
    for (uint32_t t = 1; t <= 3; t++) {
        cmd_topic(&b, t, 2);
        propose(c, &b);
    }
    raft_fixture_kill(&c->f, 0);
    assert_true(raft_fixture_step_until_has_no_leader(&c->f, 10000));
    assert_true(raft_fixture_step_until_has_leader(&c->f, 10000));
    unsigned nl = raft_fixture_leader_index(&c->f);
    assert_true(nl == 1 || nl == 2);
    assert_true(raft_fixture_get(&c->f, nl)->current_term > 1);
    for (uint32_t t = 4; t <= 6; t++) {
        cmd_topic(&b, t, 2);
        propose(c, &b);
    }
    assert_true(rmq_meta_state_equal(c->state[1], c->state[2]));
    assert_int_equal(rmq_meta_state_topic_count(c->state[0]), 3);
    /* the old leader comes back as a follower and catches up */
    raft_fixture_revive(&c->f, 0);
    raft_index last = raft_last_index(raft_fixture_get(&c->f, nl));
    assert_true(raft_fixture_step_until_applied(&c->f, 0, last, 20000));
    assert_int_equal(rmq_meta_state_topic_count(c->state[0]), 6);
    assert_all_equal(c);
    cluster_free(c);
}

static void test_fixture_partition_minority(void **st) {
    (void)st;
    cluster_t *c = cluster_new(0);
    raft_fixture_elect(&c->f, 0);
    rmq_buf_t b;
    cmd_init(&b);
    propose(c, &b);
    /* follower 2 isolated: the majority {0,1} keeps committing */
    partition(c, 2);
    for (uint32_t t = 1; t <= 5; t++) {
        cmd_topic(&b, t, 1);
        propose(c, &b);
    }
    assert_int_equal(rmq_meta_state_topic_count(c->state[0]), 5);
    assert_int_equal(rmq_meta_state_topic_count(c->state[2]), 0);
    heal(c, 2);
    raft_index last = raft_last_index(raft_fixture_get(&c->f, 0));
    assert_true(raft_fixture_step_until_applied(&c->f, 2, last, 20000));
    assert_all_equal(c);

    /* leader isolated: it cannot commit; the majority elects a new leader */
    unsigned old = raft_fixture_leader_index(&c->f);
    partition(c, old);
    struct raft *r = raft_fixture_get(&c->f, old);
    apply_t a = {0};
    a.req.data = &a;
    rmq_buf_t lost;
    cmd_topic(&lost, 99, 1);
    struct raft_buffer buf;
    assert_int_equal(rmq_raft_entry_encode(lost.data, lost.len, &buf), 0);
    rmq_buf_free(&lost);
    assert_int_equal(raft_apply(r, &a.req, &buf, 1, apply_cb), 0);
    assert_true(raft_fixture_step_until_has_no_leader(&c->f, 10000));
    assert_true(raft_fixture_step_until_has_leader(&c->f, 20000));
    unsigned nl = raft_fixture_leader_index(&c->f);
    assert_true(nl != old);
    /* the isolated leader stepped down and failed its uncommitted request */
    raft_fixture_step_until_elapsed(&c->f, 3000);
    assert_true(a.done);
    assert_int_not_equal(a.status, 0);
    cmd_topic(&b, 6, 1);
    propose(c, &b);
    heal(c, old);
    last = raft_last_index(raft_fixture_get(&c->f, nl));
    assert_true(raft_fixture_step_until_applied(&c->f, old, last, 20000));
    assert_all_equal(c);
    /* the lost proposal never applied anywhere */
    rmq_meta_state_rdlock(c->state[old]);
    assert_null(rmq_meta_state_find_topic(c->state[old], "topic-99"));
    assert_non_null(rmq_meta_state_find_topic(c->state[old], "topic-6"));
    rmq_meta_state_unlock(c->state[old]);
    cluster_free(c);
}

static void test_fixture_snapshot_install(void **st) {
    (void)st;
    cluster_t *c = cluster_new(8); /* snapshot every 8 entries, keep 4 */
    raft_fixture_elect(&c->f, 0);
    rmq_buf_t b;
    cmd_init(&b);
    propose(c, &b);
    raft_fixture_kill(&c->f, 2);
    for (uint32_t t = 1; t <= 30; t++) {
        cmd_topic(&b, t, 2);
        propose(c, &b);
    }
    cmd_broker(&b, 7, 3);
    propose(c, &b);
    assert_true(c->fsm[0].n_snapshots > 0);
    unsigned before = raft_fixture_n_recv(&c->f, 2, RAFT_IO_INSTALL_SNAPSHOT);
    raft_fixture_revive(&c->f, 2);
    raft_index last = raft_last_index(raft_fixture_get(&c->f, 0));
    assert_true(raft_fixture_step_until_applied(&c->f, 2, last, 30000));
    assert_true(raft_fixture_n_recv(&c->f, 2, RAFT_IO_INSTALL_SNAPSHOT) > before);
    assert_true(c->fsm[2].n_restores >= 1);
    assert_int_equal(rmq_meta_state_topic_count(c->state[2]), 30);
    assert_all_equal(c);
    /* after the install, plain replication goes on */
    cmd_topic(&b, 31, 1);
    propose(c, &b);
    assert_all_equal(c);
    cluster_free(c);
}

static void test_fixture_repeated_elections(void **st) {
    (void)st;
    cluster_t *c = cluster_new(16);
    raft_fixture_elect(&c->f, 0);
    rmq_buf_t b;
    cmd_init(&b);
    propose(c, &b);
    uint32_t t = 1;
    for (int round = 0; round < 4; round++) {
        unsigned li = raft_fixture_leader_index(&c->f);
        raft_fixture_depose(&c->f);
        assert_true(raft_fixture_step_until_has_leader(&c->f, 20000));
        assert_true(raft_fixture_leader_index(&c->f) < N);
        (void)li;
        for (int k = 0; k < 5; k++, t++) {
            cmd_topic(&b, t, 1);
            propose(c, &b);
        }
    }
    raft_index last = raft_last_index(raft_fixture_get(&c->f, raft_fixture_leader_index(&c->f)));
    for (unsigned i = 0; i < N; i++) assert_true(raft_fixture_step_until_applied(&c->f, i, last, 20000));
    assert_int_equal(rmq_meta_state_topic_count(c->state[0]), 20);
    assert_all_equal(c);
    cluster_free(c);
}

/* ---- part 2: the libuv store ---- */

static char tmpdir[256];

static int setup_tmp(void **st) {
    (void)st;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/rmq-raft-test-XXXXXX");
    assert_non_null(mkdtemp(tmpdir));
    return 0;
}

static int teardown_tmp(void **st) {
    (void)st;
    if (getenv("RMQ_KEEP_TMP")) return 0;
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    assert_int_equal(system(cmd), 0);
    return 0;
}

static rmq_err_t store_topic(rmq_meta_store_t *ms, uint32_t n, int32_t parts) {
    rmq_buf_t b;
    cmd_topic(&b, n, parts);
    rmq_meta_result_t res;
    rmq_err_t e = rmq_meta_store_propose(ms, b.data, b.len, &res);
    if (!e) assert_int_equal(res.n_stream_ids, (size_t)parts);
    rmq_meta_result_free(&res);
    rmq_buf_free(&b);
    return e;
}

static void test_embedded_open_restart(void **st) {
    (void)st;
    char dir[400];
    snprintf(dir, sizeof dir, "%s/b1", tmpdir);
    mkdir(dir, 0755);
    rmq_raft_store_t *rs;
    rmq_meta_store_t *ms;
    rmq_meta_state_t *state;
    char msg[256];
    uint64_t t0 = rmq_mono_ns();
    if (rmq_raft_store_open_embedded(dir, 1, NULL, &rs, &ms, &state, msg, sizeof msg)) fail_msg("%s", msg);
    uint64_t open_ms = (rmq_mono_ns() - t0) / 1000000;
    print_message("embedded open (new cluster): %llu ms\n", (unsigned long long)open_ms);
    assert_true(open_ms < 2000);
    assert_string_equal(ms->ops->name, "raft");
    assert_true(rmq_meta_state_cluster_id(state, NULL));
    for (uint32_t t = 1; t <= 10; t++) assert_int_equal(store_topic(ms, t, 2), 0);
    assert_int_equal(store_topic(ms, 3, 2), RMQ_TOPIC_ALREADY_EXISTS);
    assert_int_equal(rmq_raft_store_barrier_sync(rs, msg, sizeof msg), 0);
    rmq_raft_info_t in;
    rmq_raft_store_info(rs, &in);
    assert_int_equal(in.state, RMQ_RAFT_LEADER);
    assert_int_equal(in.leader_id, 1);
    assert_int_equal(in.n_servers, 1);
    /* a copy of the state to compare after restart */
    rmq_buf_t snap;
    rmq_buf_init(&snap);
    assert_int_equal(rmq_meta_state_snapshot(state, &snap), 0);
    rmq_meta_state_t *copy = rmq_meta_state_new(NULL);
    assert_int_equal(rmq_meta_state_restore(copy, snap.data, snap.len), 0);
    rmq_buf_free(&snap);
    ms->ops->close(ms->impl);

    t0 = rmq_mono_ns();
    if (rmq_raft_store_open_embedded(dir, 1, NULL, &rs, &ms, &state, msg, sizeof msg)) fail_msg("%s", msg);
    open_ms = (rmq_mono_ns() - t0) / 1000000;
    print_message("embedded open (restart, replay): %llu ms\n", (unsigned long long)open_ms);
    assert_true(rmq_meta_state_equal(copy, state));
    assert_int_equal(store_topic(ms, 11, 1), 0);
    rmq_meta_state_free(copy);
    rmq_raft_store_close(rs);

    /* wrong node id on the same dir: refused with a clear message */
    assert_int_equal(rmq_raft_store_open_embedded(dir, 2, NULL, &rs, &ms, &state, msg, sizeof msg), RMQ_ERR_CONFIG);
    assert_non_null(strstr(msg, "belongs to controller node 1"));
}

static void test_embedded_snapshot_restart(void **st) {
    (void)st;
    char dir[400];
    snprintf(dir, sizeof dir, "%s/b2", tmpdir);
    mkdir(dir, 0755);
    char sdir[500];
    snprintf(sdir, sizeof sdir, "%s/ctl", dir);
    rmq_raft_store_opts_t o = {0};
    o.dir = sdir;
    o.node_id = 5;
    o.snapshot_threshold = 16;
    o.snapshot_trailing = 4;
    rmq_raft_store_t *rs;
    char msg[256];
    if (rmq_raft_store_open(&o, NULL, &rs, msg, sizeof msg)) fail_msg("%s", msg);
    assert_true(rmq_raft_store_wait_leader(rs, 5000));
    rmq_meta_store_t *ms = rmq_raft_store_store(rs);
    /* wait for InitCluster, then 60 topics -> several snapshots */
    for (int i = 0; i < 500 && !rmq_meta_state_cluster_id(rmq_raft_store_state(rs), NULL); i++) usleep(10000);
    for (uint32_t t = 1; t <= 60; t++) assert_int_equal(store_topic(ms, t, 1), 0);
    rmq_buf_t snap;
    rmq_buf_init(&snap);
    assert_int_equal(rmq_meta_state_snapshot(rmq_raft_store_state(rs), &snap), 0);
    rmq_meta_state_t *copy = rmq_meta_state_new(NULL);
    assert_int_equal(rmq_meta_state_restore(copy, snap.data, snap.len), 0);
    rmq_buf_free(&snap);
    rmq_raft_store_close(rs);
    char cmd[700];
    snprintf(cmd, sizeof cmd, "ls %s/raft | grep -q '^snapshot-'", sdir);
    assert_int_equal(system(cmd), 0);

    if (rmq_raft_store_open(&o, NULL, &rs, msg, sizeof msg)) fail_msg("%s", msg);
    assert_true(rmq_raft_store_wait_leader(rs, 5000));
    assert_int_equal(rmq_raft_store_barrier_sync(rs, msg, sizeof msg), 0);
    assert_true(rmq_meta_state_equal(copy, rmq_raft_store_state(rs)));
    rmq_meta_state_free(copy);
    rmq_raft_store_close(rs);
}

static void test_embedded_migrates_meta_log(void **st) {
    (void)st;
    char dir[400];
    snprintf(dir, sizeof dir, "%s/b3", tmpdir);
    mkdir(dir, 0755);
    rmq_meta_log_opts_t lo = {0};
    lo.data_dir = dir;
    rmq_meta_log_t *l;
    char msg[256];
    assert_int_equal(rmq_meta_log_open(&lo, &l, msg, sizeof msg), 0);
    for (uint32_t t = 1; t <= 5; t++) assert_int_equal(store_topic(rmq_meta_log_store(l), t, 3), 0);
    rmq_buf_t snap;
    rmq_buf_init(&snap);
    assert_int_equal(rmq_meta_state_snapshot(rmq_meta_log_state(l), &snap), 0);
    rmq_meta_state_t *before = rmq_meta_state_new(NULL);
    assert_int_equal(rmq_meta_state_restore(before, snap.data, snap.len), 0);
    rmq_buf_free(&snap);
    int64_t old_index = rmq_meta_state_last_index(before);
    uint64_t next_stream = rmq_meta_state_next_stream_id(before);
    rmq_meta_log_close(l);

    rmq_raft_store_t *rs;
    rmq_meta_store_t *ms;
    rmq_meta_state_t *state;
    if (rmq_raft_store_open_embedded(dir, 1, NULL, &rs, &ms, &state, msg, sizeof msg)) fail_msg("%s", msg);
    assert_true(rmq_meta_state_equal(before, state)); /* nothing proposed yet: identical */
    assert_int_equal(store_topic(ms, 6, 1), 0);
    assert_true(rmq_meta_state_last_index(state) > old_index);
    uint64_t sid;
    assert_int_equal(rmq_meta_state_stream_id(state, "topic-6", 0, &sid), 0);
    assert_int_equal(sid, next_stream); /* stream ids continue, never reused */
    rmq_raft_store_close(rs);
    char p[600];
    snprintf(p, sizeof p, "%s/meta.migrated", dir);
    struct stat sb;
    assert_int_equal(stat(p, &sb), 0);
    snprintf(p, sizeof p, "%s/meta", dir);
    assert_int_not_equal(stat(p, &sb), 0);
    /* restart: seed + raft log replay give the same state */
    if (rmq_raft_store_open_embedded(dir, 1, NULL, &rs, &ms, &state, msg, sizeof msg)) fail_msg("%s", msg);
    assert_int_equal(rmq_meta_state_topic_count(state), 6);
    assert_int_equal(rmq_meta_state_stream_id(state, "topic-6", 0, &sid), 0);
    assert_int_equal(sid, next_stream);
    rmq_raft_store_close(rs);
    rmq_meta_state_free(before);
}

static void test_store_config_errors(void **st) {
    (void)st;
    char msg[300];
    rmq_raft_peer_t peers[8];
    size_t n;
    char *dup[] = {"1@127.0.0.1:9001", "1@127.0.0.1:9002"};
    assert_int_equal(rmq_raft_parse_peers(dup, 2, 1, peers, 8, &n, msg, sizeof msg), RMQ_ERR_CONFIG);
    assert_non_null(strstr(msg, "duplicate node id 1"));
    char *noself[] = {"1@127.0.0.1:9001", "2@127.0.0.1:9002"};
    assert_int_equal(rmq_raft_parse_peers(noself, 2, 3, peers, 8, &n, msg, sizeof msg), RMQ_ERR_CONFIG);
    assert_non_null(strstr(msg, "own node id 3"));
    char *bad[] = {"x@127.0.0.1:9001"};
    assert_int_equal(rmq_raft_parse_peers(bad, 1, 1, peers, 8, &n, msg, sizeof msg), RMQ_ERR_CONFIG);
    char *name[] = {"1@localhost:9001"};
    assert_int_equal(rmq_raft_parse_peers(name, 1, 1, peers, 8, &n, msg, sizeof msg), RMQ_ERR_CONFIG);
    assert_non_null(strstr(msg, "IPv4"));
    char *sameaddr[] = {"1@127.0.0.1:9001", "2@127.0.0.1:9001"};
    assert_int_equal(rmq_raft_parse_peers(sameaddr, 2, 1, peers, 8, &n, msg, sizeof msg), RMQ_ERR_CONFIG);
    char *ok[] = {"2@127.0.0.1:9002", "1@127.0.0.1:9001", "3@127.0.0.1:9003"};
    assert_int_equal(rmq_raft_parse_peers(ok, 3, 1, peers, 8, &n, msg, sizeof msg), 0);
    assert_int_equal(n, 3);
    assert_string_equal(peers[1].address, "127.0.0.1:9001");

    /* a data dir bootstrapped by other voters is refused */
    char dir[400];
    snprintf(dir, sizeof dir, "%s/c1", tmpdir);
    rmq_raft_store_opts_t o = {0};
    o.dir = dir;
    o.node_id = 1;
    o.raft_address = "127.0.0.1:0";
    rmq_raft_peer_t p1[1] = {{1, "127.0.0.1:0"}};
    o.peers = p1;
    o.n_peers = 1;
    rmq_raft_store_t *rs;
    /* port 0 is refused as an address */
    assert_int_equal(rmq_raft_store_open(&o, NULL, &rs, msg, sizeof msg), RMQ_ERR_CONFIG);
    /* write a node file as if another cluster had bootstrapped here */
    char raftd[500];
    snprintf(raftd, sizeof raftd, "%s/raft", dir);
    mkdir(dir, 0755);
    mkdir(raftd, 0755);
    char nf[500];
    snprintf(nf, sizeof nf, "%s/node", dir);
    FILE *f = fopen(nf, "w");
    fputs("node_id=1\nvoters=1@127.0.0.1:7001,2@127.0.0.1:7002,3@127.0.0.1:7003\n", f);
    fclose(f);
    o.raft_address = "127.0.0.1:7101";
    rmq_raft_peer_t p3[3] = {{1, "127.0.0.1:7101"}, {2, "127.0.0.1:7102"}, {3, "127.0.0.1:7103"}};
    o.peers = p3;
    o.n_peers = 3;
    assert_int_equal(rmq_raft_store_open(&o, NULL, &rs, msg, sizeof msg), RMQ_ERR_CONFIG);
    assert_non_null(strstr(msg, "another cluster"));
    /* own id missing from peers */
    o.node_id = 4;
    o.raft_address = "127.0.0.1:7104";
    assert_int_equal(rmq_raft_store_open(&o, NULL, &rs, msg, sizeof msg), RMQ_ERR_CONFIG);
    assert_non_null(strstr(msg, "own node id 4"));
}

int main(void) {
    rmq_log_set_level(RMQ_LOG_WARN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fixture_elect_and_apply),
        cmocka_unit_test(test_fixture_leader_killed),
        cmocka_unit_test(test_fixture_partition_minority),
        cmocka_unit_test(test_fixture_snapshot_install),
        cmocka_unit_test(test_fixture_repeated_elections),
        cmocka_unit_test(test_embedded_open_restart),
        cmocka_unit_test(test_embedded_snapshot_restart),
        cmocka_unit_test(test_embedded_migrates_meta_log),
        cmocka_unit_test(test_store_config_errors),
    };
    return cmocka_run_group_tests(tests, setup_tmp, teardown_tmp);
}
