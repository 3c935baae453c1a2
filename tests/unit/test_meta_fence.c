/* test_meta_fence.c - broker fencing in the metadata state machine
 * (UnregisterBroker, PartitionChange, partition replicas, their snapshot
 * section and the restore of older snapshots) and the controller leader's
 * heartbeat table (ctl_fence.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/crc32c.h"
#include "controller/ctl_fence.h"
#include "controller/meta_cmd.h"
#include "controller/meta_state.h"

static int64_t g_index;

static rmq_meta_uuid_t uuid_n(uint8_t n) {
    rmq_meta_uuid_t u;
    memset(u.b, 0, 16);
    u.b[0] = 0xCD;
    u.b[15] = n;
    return u;
}

static rmq_err_t apply(rmq_meta_state_t *s, const rmq_meta_cmd_t *c) {
    rmq_buf_t b;
    rmq_buf_init(&b);
    assert_int_equal(rmq_meta_cmd_encode(c, &b), 0);
    rmq_err_t e = rmq_meta_state_apply(s, b.data, b.len, ++g_index, NULL);
    rmq_buf_free(&b);
    return e;
}

static rmq_err_t reg(rmq_meta_state_t *s, int32_t id, int64_t epoch) {
    rmq_meta_cmd_t c = {.type = RMQ_META_CMD_REGISTER_BROKER};
    c.u.register_broker.broker_id = id;
    c.u.register_broker.rack = "";
    c.u.register_broker.host = "127.0.0.1";
    c.u.register_broker.port = (uint16_t)(9000 + id);
    c.u.register_broker.epoch = epoch;
    return apply(s, &c);
}

static rmq_err_t unreg(rmq_meta_state_t *s, int32_t id, int64_t epoch) {
    rmq_meta_cmd_t c = {.type = RMQ_META_CMD_UNREGISTER_BROKER};
    c.u.unregister_broker.broker_id = id;
    c.u.unregister_broker.epoch = epoch;
    return apply(s, &c);
}

static rmq_err_t topic(rmq_meta_state_t *s, const char *name, uint8_t id, int32_t parts, int16_t rf) {
    rmq_meta_cmd_t c = {.type = RMQ_META_CMD_CREATE_TOPIC};
    c.u.create_topic.name = name;
    c.u.create_topic.topic_id = uuid_n(id);
    c.u.create_topic.partitions = parts;
    c.u.create_topic.replication_factor = rf;
    return apply(s, &c);
}

static rmq_err_t change(rmq_meta_state_t *s, uint8_t id, int32_t part, int32_t leader, int32_t epoch) {
    rmq_meta_cmd_t c = {.type = RMQ_META_CMD_PARTITION_CHANGE};
    c.u.partition_change.topic_id = uuid_n(id);
    c.u.partition_change.partition = part;
    c.u.partition_change.leader = leader;
    c.u.partition_change.leader_epoch = epoch;
    return apply(s, &c);
}

/* leader / epoch / replicas of topic name, partition p */
static rmq_meta_partition_t part_of(rmq_meta_state_t *s, const char *name, int32_t p, int32_t reps[8]) {
    rmq_meta_state_rdlock(s);
    const rmq_meta_topic_t *t = rmq_meta_state_find_topic(s, name);
    assert_non_null(t);
    assert_true(p < t->n_partitions);
    rmq_meta_partition_t out = t->partitions[p];
    assert_true(out.n_replicas <= 8);
    if (out.n_replicas) memcpy(reps, out.replicas, (size_t)out.n_replicas * sizeof *reps);
    out.replicas = reps;
    rmq_meta_state_unlock(s);
    return out;
}

static size_t broker_count(rmq_meta_state_t *s) {
    rmq_meta_state_rdlock(s);
    size_t n = rmq_meta_state_broker_count_locked(s);
    rmq_meta_state_unlock(s);
    return n;
}

/* ---- command codec ---- */

static void test_codec_roundtrip(void **st) {
    (void)st;
    rmq_buf_t b;
    rmq_buf_init(&b);
    rmq_arena_t arena;
    rmq_arena_init(&arena, 1 << 16);
    rmq_meta_cmd_t c = {.type = RMQ_META_CMD_UNREGISTER_BROKER}, d;
    c.u.unregister_broker.broker_id = 7;
    c.u.unregister_broker.epoch = 123456789012345;
    assert_int_equal(rmq_meta_cmd_encode(&c, &b), 0);
    assert_int_equal(b.len, RMQ_META_CMD_HDR + 12);
    assert_int_equal(rmq_meta_cmd_decode(b.data, b.len, &arena, &d, NULL), 0);
    assert_int_equal(d.type, RMQ_META_CMD_UNREGISTER_BROKER);
    assert_int_equal(d.u.unregister_broker.broker_id, 7);
    assert_int_equal(d.u.unregister_broker.epoch, 123456789012345);
    /* truncated body */
    size_t off = 0;
    assert_int_not_equal(rmq_meta_cmd_decode(b.data, b.len - 1, &arena, &d, &off), 0);

    rmq_buf_reset(&b);
    c = (rmq_meta_cmd_t){.type = RMQ_META_CMD_PARTITION_CHANGE};
    c.u.partition_change.topic_id = uuid_n(9);
    c.u.partition_change.partition = 3;
    c.u.partition_change.leader = -1;
    c.u.partition_change.leader_epoch = 41;
    assert_int_equal(rmq_meta_cmd_encode(&c, &b), 0);
    assert_int_equal(b.len, RMQ_META_CMD_HDR + 28);
    assert_int_equal(rmq_meta_cmd_decode(b.data, b.len, &arena, &d, NULL), 0);
    assert_int_equal(d.type, RMQ_META_CMD_PARTITION_CHANGE);
    rmq_meta_uuid_t want = uuid_n(9);
    assert_true(rmq_meta_uuid_eq(&d.u.partition_change.topic_id, &want));
    assert_int_equal(d.u.partition_change.partition, 3);
    assert_int_equal(d.u.partition_change.leader, -1);
    assert_int_equal(d.u.partition_change.leader_epoch, 41);
    assert_string_equal(rmq_meta_cmd_type_name(RMQ_META_CMD_PARTITION_CHANGE), "PartitionChange");
    rmq_arena_free(&arena);
    rmq_buf_free(&b);
}

/* ---- state machine ---- */

static void test_replicas_assigned_round_robin(void **st) {
    (void)st;
    g_index = 0;
    rmq_meta_state_t *s = rmq_meta_state_new(NULL);
    assert_int_equal(reg(s, 1, 1), 0);
    assert_int_equal(reg(s, 2, 1), 0);
    assert_int_equal(reg(s, 3, 1), 0);
    assert_int_equal(topic(s, "t", 1, 4, 2), 0);
    int32_t r[8];
    int32_t want_leader[4] = {1, 2, 3, 1}, want_second[4] = {2, 3, 1, 2};
    for (int32_t p = 0; p < 4; p++) {
        rmq_meta_partition_t mp = part_of(s, "t", p, r);
        assert_int_equal(mp.n_replicas, 2);
        assert_int_equal(mp.leader, want_leader[p]);
        assert_int_equal(r[0], want_leader[p]);
        assert_int_equal(r[1], want_second[p]);
        assert_int_equal(mp.leader_epoch, 0);
    }
    /* rf above the broker count: as many replicas as brokers */
    assert_int_equal(topic(s, "wide", 2, 1, 5), 0);
    assert_int_equal(part_of(s, "wide", 0, r).n_replicas, 3);
    /* CreatePartitions assigns the new ones the same way */
    rmq_meta_cmd_t cp = {.type = RMQ_META_CMD_CREATE_PARTITIONS};
    cp.u.create_partitions.name = "t";
    cp.u.create_partitions.total = 6;
    assert_int_equal(apply(s, &cp), 0);
    rmq_meta_partition_t mp = part_of(s, "t", 5, r);
    assert_int_equal(mp.leader, 3);
    assert_int_equal(mp.n_replicas, 2);
    assert_int_equal(r[1], 1);
    rmq_meta_state_free(s);
}

static void test_fence_moves_leaders(void **st) {
    (void)st;
    g_index = 0;
    rmq_meta_state_t *s = rmq_meta_state_new(NULL);
    assert_int_equal(reg(s, 1, 10), 0);
    assert_int_equal(reg(s, 2, 20), 0);
    assert_int_equal(topic(s, "single", 1, 2, 1), 0); /* p0 on 1, p1 on 2 */
    assert_int_equal(topic(s, "dual", 2, 2, 2), 0);   /* p0 [1,2], p1 [2,1] */
    uint64_t v = rmq_meta_state_version(s);

    /* stale or unknown registrations are rejected and change nothing */
    assert_int_equal(unreg(s, 2, 19), RMQ_STALE_BROKER_EPOCH);
    assert_int_equal(unreg(s, 5, -1), RMQ_BROKER_NOT_AVAILABLE);
    assert_int_equal(rmq_meta_state_version(s), v);
    assert_int_equal(broker_count(s), 2);

    assert_int_equal(unreg(s, 2, 20), 0);
    assert_int_equal(broker_count(s), 1);
    int32_t r[8];
    rmq_meta_partition_t mp = part_of(s, "single", 0, r);
    assert_int_equal(mp.leader, 1); /* untouched */
    assert_int_equal(mp.leader_epoch, 0);
    mp = part_of(s, "single", 1, r);
    assert_int_equal(mp.leader, -1); /* its only replica is fenced */
    assert_int_equal(mp.leader_epoch, 1);
    assert_int_equal(mp.n_replicas, 1); /* still the home of the data */
    assert_int_equal(r[0], 2);
    mp = part_of(s, "dual", 1, r);
    assert_int_equal(mp.leader, 1); /* the live replica takes over */
    assert_int_equal(mp.leader_epoch, 1);
    mp = part_of(s, "dual", 0, r);
    assert_int_equal(mp.leader, 1);
    assert_int_equal(mp.leader_epoch, 0);

    /* the broker returns (new epoch): its leaderless partitions come back
     * to it; partitions a live replica took over stay there */
    assert_int_equal(reg(s, 2, 21), 0);
    mp = part_of(s, "single", 1, r);
    assert_int_equal(mp.leader, 2);
    assert_int_equal(mp.leader_epoch, 2);
    assert_int_equal(part_of(s, "dual", 1, r).leader, 1);

    /* fencing the last broker leaves everything leaderless; -1 = any epoch */
    assert_int_equal(unreg(s, 1, -1), 0);
    assert_int_equal(unreg(s, 2, -1), 0);
    assert_int_equal(broker_count(s), 0);
    for (int32_t p = 0; p < 2; p++) {
        assert_int_equal(part_of(s, "single", p, r).leader, -1);
        assert_int_equal(part_of(s, "dual", p, r).leader, -1);
    }
    /* broker 1 back: every partition it holds is led by it again */
    assert_int_equal(reg(s, 1, 11), 0);
    assert_int_equal(part_of(s, "single", 0, r).leader, 1);
    assert_int_equal(part_of(s, "single", 1, r).leader, -1); /* broker 2's */
    assert_int_equal(part_of(s, "dual", 0, r).leader, 1);
    assert_int_equal(part_of(s, "dual", 1, r).leader, 1);
    rmq_meta_state_free(s);
}

static void test_adopt_replicaless(void **st) {
    (void)st;
    g_index = 0;
    rmq_meta_state_t *s = rmq_meta_state_new(NULL);
    /* created before any broker registered (embedded migration) */
    assert_int_equal(topic(s, "early", 1, 2, 1), 0);
    int32_t r[8];
    assert_int_equal(part_of(s, "early", 0, r).leader, -1);
    assert_int_equal(part_of(s, "early", 0, r).n_replicas, 0);
    assert_int_equal(reg(s, 4, 1), 0);
    for (int32_t p = 0; p < 2; p++) {
        rmq_meta_partition_t mp = part_of(s, "early", p, r);
        assert_int_equal(mp.leader, 4);
        assert_int_equal(mp.leader_epoch, 1);
        assert_int_equal(mp.n_replicas, 1);
        assert_int_equal(r[0], 4);
    }
    /* a re-registration (restart) changes no leadership */
    assert_int_equal(reg(s, 4, 2), 0);
    assert_int_equal(part_of(s, "early", 0, r).leader_epoch, 1);
    assert_int_equal(reg(s, 4, 2), RMQ_STALE_BROKER_EPOCH);
    rmq_meta_state_free(s);
}

static void test_partition_change(void **st) {
    (void)st;
    g_index = 0;
    rmq_meta_state_t *s = rmq_meta_state_new(NULL);
    assert_int_equal(reg(s, 1, 1), 0);
    assert_int_equal(reg(s, 2, 1), 0);
    assert_int_equal(reg(s, 3, 1), 0);
    assert_int_equal(topic(s, "t", 1, 1, 2), 0); /* [1,2], leader 1 */
    uint64_t v = rmq_meta_state_version(s);
    assert_int_equal(change(s, 9, 0, 2, 0), RMQ_UNKNOWN_TOPIC_ID);
    assert_int_equal(change(s, 1, 1, 2, 0), RMQ_UNKNOWN_TOPIC_OR_PARTITION);
    assert_int_equal(change(s, 1, 0, 2, 5), RMQ_FENCED_LEADER_EPOCH);
    assert_int_equal(change(s, 1, 0, 3, 0), RMQ_INVALID_REPLICA_ASSIGNMENT);
    assert_int_equal(change(s, 1, 0, -7, 0), RMQ_INVALID_REQUEST);
    assert_int_equal(rmq_meta_state_version(s), v);
    int32_t r[8];
    assert_int_equal(change(s, 1, 0, 2, 0), 0);
    assert_int_equal(part_of(s, "t", 0, r).leader, 2);
    assert_int_equal(part_of(s, "t", 0, r).leader_epoch, 1);
    /* the epoch is a compare-and-set: the old expectation fails now */
    assert_int_equal(change(s, 1, 0, 1, 0), RMQ_FENCED_LEADER_EPOCH);
    assert_int_equal(change(s, 1, 0, -1, -1), 0);
    assert_int_equal(part_of(s, "t", 0, r).leader, -1);
    /* a replica that is not registered cannot lead */
    assert_int_equal(unreg(s, 1, -1), 0);
    assert_int_equal(change(s, 1, 0, 1, -1), RMQ_BROKER_NOT_AVAILABLE);
    assert_int_equal(change(s, 1, 0, 2, 2), 0);
    assert_int_equal(part_of(s, "t", 0, r).leader, 2);
    rmq_meta_state_free(s);
}

static void test_snapshot_replicas(void **st) {
    (void)st;
    g_index = 0;
    rmq_meta_state_t *s = rmq_meta_state_new(NULL);
    assert_int_equal(topic(s, "a0", 1, 1, 1), 0); /* replicaless until 1 registers */
    assert_int_equal(reg(s, 1, 1), 0);
    assert_int_equal(reg(s, 2, 1), 0);
    assert_int_equal(topic(s, "b1", 2, 3, 2), 0);
    assert_int_equal(topic(s, "c2", 3, 2, 1), 0);
    assert_int_equal(unreg(s, 2, 1), 0);
    rmq_buf_t snap;
    rmq_buf_init(&snap);
    assert_int_equal(rmq_meta_state_snapshot(s, &snap), 0);
    assert_int_equal(rmq_be16(snap.data + 4), 3);
    rmq_meta_state_t *s2 = rmq_meta_state_new(NULL);
    assert_int_equal(rmq_meta_state_restore(s2, snap.data, snap.len), 0);
    assert_true(rmq_meta_state_equal(s, s2));
    /* a replica changed in the copy makes the states differ */
    assert_int_equal(reg(s2, 2, 5), 0);
    assert_false(rmq_meta_state_equal(s, s2));

    /* corrupt replica sections are refused, the state stays */
    size_t n = snap.len;
    uint8_t *m = malloc(n);
    memcpy(m, snap.data, n);
    /* last partition of c2: u16 count | i32 id, just before the CRC; make
     * the id negative */
    rmq_wbe32(m + n - 8, 0xFFFFFFF0u);
    rmq_wbe32(m + n - 4, rmq_crc32c(0, m, n - 4));
    assert_int_equal(rmq_meta_state_restore(s2, m, n), RMQ_ERR_CORRUPT);
    /* a count above the replication factor */
    memcpy(m, snap.data, n);
    rmq_wbe16(m + n - 10, 2);
    rmq_wbe32(m + n - 4, rmq_crc32c(0, m, n - 4));
    assert_int_not_equal(rmq_meta_state_restore(s2, m, n), 0);

    /* a version 2 snapshot (no replicas section): the leader becomes the
     * one replica of each partition */
    size_t sect = 0;
    rmq_meta_state_rdlock(s);
    for (size_t i = 0; i < rmq_meta_state_topic_count_locked(s); i++) {
        const rmq_meta_topic_t *t = rmq_meta_state_topic_at(s, i);
        for (int32_t p = 0; p < t->n_partitions; p++) sect += 2 + 4 * (size_t)t->partitions[p].n_replicas;
    }
    rmq_meta_state_unlock(s);
    size_t n2 = n - sect;
    memcpy(m, snap.data, n2 - 4);
    rmq_wbe16(m + 4, 2);
    rmq_wbe32(m + n2 - 4, rmq_crc32c(0, m, n2 - 4));
    rmq_meta_state_t *s3 = rmq_meta_state_new(NULL);
    assert_int_equal(rmq_meta_state_restore(s3, m, n2), 0);
    int32_t r[8];
    rmq_meta_partition_t mp = part_of(s3, "b1", 0, r);
    assert_int_equal(mp.leader, 1);
    assert_int_equal(mp.n_replicas, 1);
    assert_int_equal(r[0], 1);
    mp = part_of(s3, "c2", 1, r); /* was led by 2, fenced: no leader, no replica known */
    assert_int_equal(mp.leader, -1);
    assert_int_equal(mp.n_replicas, 0);
    free(m);
    rmq_buf_free(&snap);
    rmq_meta_state_free(s);
    rmq_meta_state_free(s2);
    rmq_meta_state_free(s3);
}

/* ---- heartbeat table ---- */

static void test_fence_table(void **st) {
    (void)st;
    g_index = 0;
    rmq_meta_state_t *s = rmq_meta_state_new(NULL);
    assert_int_equal(reg(s, 1, 10), 0);
    assert_int_equal(reg(s, 2, 20), 0);
    rmq_ctl_fence_t *f = rmq_ctl_fence_new();
    rmq_ctl_fence_victim_t v[4];

    /* not leader: nothing tracked, nothing fenced */
    assert_int_equal(rmq_ctl_fence_expired(f, s, false, 1000, v, 4), 0);
    assert_int_equal(rmq_ctl_fence_tracked(f), 0);
    /* heartbeats are checked against the registration */
    assert_int_equal(rmq_ctl_fence_heartbeat(f, s, 1, 9, 2000, 1000), RMQ_STALE_BROKER_EPOCH);
    assert_int_equal(rmq_ctl_fence_heartbeat(f, s, 3, 1, 2000, 1000), RMQ_STALE_BROKER_EPOCH);

    /* becoming leader at t=1000: every registered broker gets a grace
     * period of the default timeout */
    assert_int_equal(rmq_ctl_fence_expired(f, s, true, 1000, v, 4), 0);
    assert_int_equal(rmq_ctl_fence_tracked(f), 2);
    assert_int_equal(rmq_ctl_fence_heartbeat(f, s, 1, 10, 2000, 1500), 0);
    assert_int_equal(rmq_ctl_fence_heartbeat(f, s, 2, 20, 3000, 1500), 0);
    assert_int_equal(rmq_ctl_fence_heartbeat(f, s, 1, 10, 2000, 3000), 0);
    /* broker 2 silent since 1500 with a 3000 ms session */
    assert_int_equal(rmq_ctl_fence_expired(f, s, true, 4500, v, 4), 0);
    assert_int_equal(rmq_ctl_fence_expired(f, s, true, 4501, v, 4), 1);
    assert_int_equal(v[0].broker_id, 2);
    assert_int_equal(v[0].epoch, 20);
    assert_int_equal(v[0].silent_ms, 3001);
    /* reported once per timeout while the fence is pending */
    assert_int_equal(rmq_ctl_fence_expired(f, s, true, 4600, v, 4), 0);
    /* broker 1 missed its 2000 ms session too (last 3000) */
    assert_int_equal(rmq_ctl_fence_expired(f, s, true, 5001, v, 4), 1);
    assert_int_equal(v[0].broker_id, 1);
    /* retried after another timeout each if the fence did not apply */
    assert_int_equal(rmq_ctl_fence_expired(f, s, true, 6900, v, 4), 0);
    assert_int_equal(rmq_ctl_fence_expired(f, s, true, 7502, v, 4), 2);
    assert_int_equal(v[0].broker_id, 1);
    assert_int_equal(v[1].broker_id, 2);

    /* broker 2 fenced in the state: forgotten, its heartbeats are stale */
    assert_int_equal(unreg(s, 2, 20), 0);
    rmq_ctl_fence_expired(f, s, true, 7600, v, 4);
    assert_int_equal(rmq_ctl_fence_tracked(f), 1);
    assert_int_equal(rmq_ctl_fence_heartbeat(f, s, 2, 20, 3000, 7600), RMQ_STALE_BROKER_EPOCH);
    /* it registers again: its clock starts at the first check after that */
    assert_int_equal(reg(s, 2, 21), 0);
    assert_int_equal(rmq_ctl_fence_expired(f, s, true, 8000, v, 4), 0);
    assert_int_equal(rmq_ctl_fence_heartbeat(f, s, 2, 21, 3000, 8100), 0);
    assert_int_equal(rmq_ctl_fence_heartbeat(f, s, 1, 10, 2000, 8100), 0);
    assert_int_equal(rmq_ctl_fence_expired(f, s, true, 9000, v, 4), 0);

    /* losing leadership drops the table; regaining it restarts the grace */
    assert_int_equal(rmq_ctl_fence_expired(f, s, false, 20000, v, 4), 0);
    assert_int_equal(rmq_ctl_fence_tracked(f), 0);
    assert_int_equal(rmq_ctl_fence_expired(f, s, true, 50000, v, 4), 0);
    assert_int_equal(rmq_ctl_fence_expired(f, s, true, 50000 + RMQ_CTL_FENCE_DEFAULT_TIMEOUT_MS, v, 4), 0);
    assert_int_equal(rmq_ctl_fence_expired(f, s, true, 50001 + RMQ_CTL_FENCE_DEFAULT_TIMEOUT_MS, v, 4), 2);
    rmq_ctl_fence_free(f);
    rmq_meta_state_free(s);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_codec_roundtrip),
        cmocka_unit_test(test_replicas_assigned_round_robin),
        cmocka_unit_test(test_fence_moves_leaders),
        cmocka_unit_test(test_adopt_replicaless),
        cmocka_unit_test(test_partition_change),
        cmocka_unit_test(test_snapshot_replicas),
        cmocka_unit_test(test_fence_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
