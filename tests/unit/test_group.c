/* test_group.c - the group coordinator's state machine driven directly
 * (no sockets, time passed explicitly): the MEMBER_ID_REQUIRED join flow,
 * join/sync/heartbeat, a second member forcing a rebalance, session expiry,
 * rebalance timeout, leave, static membership (rejoin without rebalance,
 * fencing), protocol selection and inconsistent protocols, the delayed
 * initial rebalance, generation checks, the committed-offsets map with its
 * record format, tombstones and retention, list/describe/delete. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "broker/group.h"

/* ---- captured callback results ---- */

typedef struct join_res {
    int calls;
    rmq_err_t err;
    int32_t gen;
    char member_id[400], leader[400], proto[64];
    size_t n_members;
    char members[8][400];
    bool skip;
} join_res_t;

typedef struct sync_res {
    int calls;
    rmq_err_t err;
    char assignment[64];
    size_t len;
} sync_res_t;

static void on_join(void *ud, const rmq_group_join_result_t *r) {
    join_res_t *j = ud;
    j->calls++;
    j->err = r->err;
    j->gen = r->generation;
    snprintf(j->member_id, sizeof j->member_id, "%s", r->member_id ? r->member_id : "");
    snprintf(j->leader, sizeof j->leader, "%s", r->leader ? r->leader : "");
    snprintf(j->proto, sizeof j->proto, "%s", r->protocol_name ? r->protocol_name : "");
    j->n_members = r->n_members;
    j->skip = r->skip_assignment;
    for (size_t i = 0; i < r->n_members && i < 8; i++)
        snprintf(j->members[i], sizeof j->members[i], "%s", r->members[i].member_id);
}

static void on_sync(void *ud, const rmq_group_sync_result_t *r) {
    sync_res_t *s = ud;
    s->calls++;
    s->err = r->err;
    s->len = r->assignment_len < sizeof s->assignment - 1 ? r->assignment_len : sizeof s->assignment - 1;
    memcpy(s->assignment, r->assignment ? (const char *)r->assignment : "", s->len);
    s->assignment[s->len] = 0;
}

static rmq_groups_t *new_groups(int64_t delay) {
    rmq_groups_config_t c = {.initial_rebalance_delay_ms = delay,
                             .min_session_timeout_ms = 1000,
                             .max_session_timeout_ms = 60000,
                             .offsets_retention_ms = 60000};
    rmq_groups_t *g = rmq_groups_new(&c);
    assert_non_null(g);
    return g;
}

static const rmq_group_protocol_t P_RANGE[] = {{"range", (const uint8_t *)"mr", 2}};

static void join(rmq_groups_t *g, const char *member, const char *inst, const rmq_group_protocol_t *ps, size_t np,
                 int64_t now, join_res_t *out) {
    memset(out, 0, sizeof *out);
    rmq_group_join_args_t a = {.group_id = "g",
                               .member_id = member,
                               .instance_id = inst,
                               .client_id = "cli",
                               .client_host = "/127.0.0.1",
                               .protocol_type = "consumer",
                               .session_timeout_ms = 10000,
                               .rebalance_timeout_ms = 20000,
                               .protocols = ps,
                               .n_protocols = np,
                               .require_known_member_id = true,
                               .now_ms = now};
    rmq_groups_join(g, &a, on_join, out);
}

static void sync_(rmq_groups_t *g, const char *member, const char *inst, int32_t gen,
                  const rmq_group_assignment_t *as, size_t n, int64_t now, sync_res_t *out) {
    memset(out, 0, sizeof *out);
    rmq_group_sync_args_t a = {.group_id = "g",
                               .member_id = member,
                               .instance_id = inst,
                               .generation = gen,
                               .assignments = as,
                               .n_assignments = n,
                               .now_ms = now};
    rmq_groups_sync(g, &a, on_sync, out);
}

static rmq_group_state_t state_of(rmq_groups_t *g) {
    rmq_group_summary_t s;
    assert_int_equal(rmq_groups_summary(g, "g", &s), 0);
    return s.state;
}

/* A joins through MEMBER_ID_REQUIRED and becomes a one-member stable group. */
static void make_one(rmq_groups_t *g, char *a_id, int64_t now) {
    join_res_t j;
    join(g, "", NULL, P_RANGE, 1, now, &j);
    assert_int_equal(j.calls, 1);
    assert_int_equal(j.err, RMQ_MEMBER_ID_REQUIRED);
    assert_true(strncmp(j.member_id, "cli-", 4) == 0);
    strcpy(a_id, j.member_id);
    join(g, a_id, NULL, P_RANGE, 1, now, &j);
    assert_int_equal(j.calls, 1);
    assert_int_equal(j.err, 0);
    assert_int_equal(j.gen, 1);
    assert_string_equal(j.leader, a_id);
    assert_int_equal(j.n_members, 1);
    assert_string_equal(j.proto, "range");
    assert_int_equal(state_of(g), RMQ_GROUP_COMPLETING_REBALANCE);
    rmq_group_assignment_t as[] = {{a_id, (const uint8_t *)"A-all", 5}};
    sync_res_t s;
    sync_(g, a_id, NULL, 1, as, 1, now, &s);
    assert_int_equal(s.calls, 1);
    assert_int_equal(s.err, 0);
    assert_string_equal(s.assignment, "A-all");
    assert_int_equal(state_of(g), RMQ_GROUP_STABLE);
}

static void test_join_sync_two_members(void **st) {
    (void)st;
    rmq_groups_t *g = new_groups(0);
    char a[400], b[400];
    make_one(g, a, 1000);
    /* B arrives: A must rejoin */
    join_res_t jb, ja;
    join(g, "", NULL, P_RANGE, 1, 1100, &jb);
    assert_int_equal(jb.err, RMQ_MEMBER_ID_REQUIRED);
    strcpy(b, jb.member_id);
    join(g, b, NULL, P_RANGE, 1, 1100, &jb);
    assert_int_equal(jb.calls, 0); /* parked */
    assert_int_equal(state_of(g), RMQ_GROUP_PREPARING_REBALANCE);
    assert_int_equal(rmq_groups_heartbeat(g, "g", a, NULL, 1, 1200), RMQ_REBALANCE_IN_PROGRESS);
    /* A commits with its current generation during the rebalance: allowed */
    assert_int_equal(rmq_groups_commit_check(g, "g", 1, a, NULL, 1200), 0);
    join(g, a, NULL, P_RANGE, 1, 1300, &ja);
    assert_int_equal(ja.calls, 1);
    assert_int_equal(jb.calls, 1);
    assert_int_equal(ja.gen, 2);
    assert_int_equal(jb.gen, 2);
    assert_string_equal(ja.leader, a);
    assert_int_equal(ja.n_members, 2); /* leader sees everyone */
    assert_int_equal(jb.n_members, 0);
    /* commits during CompletingRebalance are refused */
    assert_int_equal(rmq_groups_commit_check(g, "g", 2, a, NULL, 1300), RMQ_REBALANCE_IN_PROGRESS);
    /* follower syncs first and waits for the leader */
    sync_res_t sa, sb;
    sync_(g, b, NULL, 2, NULL, 0, 1400, &sb);
    assert_int_equal(sb.calls, 0);
    sync_res_t bad;
    sync_(g, b, NULL, 1, NULL, 0, 1400, &bad);
    assert_int_equal(bad.err, RMQ_ILLEGAL_GENERATION);
    rmq_group_assignment_t as[] = {{a, (const uint8_t *)"A", 1}, {b, (const uint8_t *)"B\0x", 3}};
    sync_(g, a, NULL, 2, as, 2, 1500, &sa);
    assert_int_equal(sa.calls, 1);
    assert_int_equal(sb.calls, 1);
    assert_string_equal(sa.assignment, "A");
    assert_int_equal(sb.len, 3); /* relayed untouched */
    assert_memory_equal(sb.assignment, "B\0x", 3);
    assert_int_equal(state_of(g), RMQ_GROUP_STABLE);
    /* heartbeats and generation checks */
    assert_int_equal(rmq_groups_heartbeat(g, "g", a, NULL, 2, 1600), 0);
    assert_int_equal(rmq_groups_heartbeat(g, "g", b, NULL, 1, 1600), RMQ_ILLEGAL_GENERATION);
    assert_int_equal(rmq_groups_heartbeat(g, "g", "nobody", NULL, 2, 1600), RMQ_UNKNOWN_MEMBER_ID);
    assert_int_equal(rmq_groups_heartbeat(g, "nogroup", a, NULL, 2, 1600), RMQ_UNKNOWN_MEMBER_ID);
    assert_int_equal(rmq_groups_commit_check(g, "g", 1, a, NULL, 1600), RMQ_ILLEGAL_GENERATION);
    assert_int_equal(rmq_groups_commit_check(g, "g", 2, "x", NULL, 1600), RMQ_UNKNOWN_MEMBER_ID);
    assert_int_equal(rmq_groups_commit_check(g, "g", -1, "", NULL, 1600), RMQ_UNKNOWN_MEMBER_ID);
    /* a follower rejoining with the same protocols in Stable: no rebalance */
    join(g, b, NULL, P_RANGE, 1, 1700, &jb);
    assert_int_equal(jb.calls, 1);
    assert_int_equal(jb.gen, 2);
    assert_int_equal(state_of(g), RMQ_GROUP_STABLE);
    /* B leaves: rebalance, A alone at generation 3 */
    assert_int_equal(rmq_groups_leave(g, "g", b, NULL, 1800), 0);
    assert_int_equal(rmq_groups_leave(g, "g", b, NULL, 1800), RMQ_UNKNOWN_MEMBER_ID);
    assert_int_equal(state_of(g), RMQ_GROUP_PREPARING_REBALANCE);
    join(g, a, NULL, P_RANGE, 1, 1900, &ja);
    assert_int_equal(ja.gen, 3);
    assert_int_equal(ja.n_members, 1);
    /* the last member leaves: Empty, and generation moves on */
    assert_int_equal(rmq_groups_leave(g, "g", a, NULL, 2000), 0);
    rmq_group_summary_t s;
    assert_int_equal(rmq_groups_summary(g, "g", &s), 0);
    assert_int_equal(s.state, RMQ_GROUP_EMPTY);
    assert_int_equal(s.generation, 4);
    assert_string_equal(rmq_group_state_name(s.state), "Empty");
    /* simple (generation -1) commits are fine on an empty group */
    assert_int_equal(rmq_groups_commit_check(g, "g", -1, "", NULL, 2000), 0);
    rmq_groups_free(g);
}

static void test_session_and_rebalance_timeouts(void **st) {
    (void)st;
    rmq_groups_t *g = new_groups(0);
    char a[400], b[400];
    make_one(g, a, 0);
    join_res_t jb, ja;
    join(g, "", NULL, P_RANGE, 1, 10, &jb);
    strcpy(b, jb.member_id);
    join(g, b, NULL, P_RANGE, 1, 10, &jb);
    join(g, a, NULL, P_RANGE, 1, 20, &ja);
    assert_int_equal(ja.gen, 2);
    sync_res_t sa, sb;
    sync_(g, b, NULL, 2, NULL, 0, 30, &sb);
    rmq_group_assignment_t as[] = {{a, (const uint8_t *)"A", 1}, {b, (const uint8_t *)"B", 1}};
    sync_(g, a, NULL, 2, as, 2, 30, &sa);
    assert_int_equal(state_of(g), RMQ_GROUP_STABLE);
    /* A keeps heartbeating, B goes silent: B expires after its session */
    for (int64_t t = 1000; t <= 9000; t += 1000) {
        assert_int_equal(rmq_groups_heartbeat(g, "g", a, NULL, 2, t), 0);
        rmq_groups_tick(g, t);
    }
    assert_int_equal(state_of(g), RMQ_GROUP_STABLE);
    assert_int_equal(rmq_groups_heartbeat(g, "g", a, NULL, 2, 10020), 0);
    rmq_groups_tick(g, 10030);
    assert_int_equal(state_of(g), RMQ_GROUP_PREPARING_REBALANCE);
    assert_int_equal(rmq_groups_heartbeat(g, "g", b, NULL, 2, 10040), RMQ_UNKNOWN_MEMBER_ID);
    join(g, a, NULL, P_RANGE, 1, 10050, &ja);
    assert_int_equal(ja.gen, 3);
    assert_int_equal(ja.n_members, 1);
    sync_(g, a, NULL, 3, as, 1, 10060, &sa);
    assert_int_equal(state_of(g), RMQ_GROUP_STABLE);

    /* rebalance timeout: C joins, A never rejoins -> A removed at deadline */
    join_res_t jc;
    join(g, "", NULL, P_RANGE, 1, 11000, &jc);
    char c[400];
    strcpy(c, jc.member_id);
    join(g, c, NULL, P_RANGE, 1, 11000, &jc);
    assert_int_equal(jc.calls, 0);
    for (int64_t t = 12000; t <= 30000; t += 2000) { /* A stays alive but does not rejoin */
        assert_int_equal(rmq_groups_heartbeat(g, "g", a, NULL, 3, t), RMQ_REBALANCE_IN_PROGRESS);
        rmq_groups_tick(g, t);
    }
    assert_int_equal(jc.calls, 0);
    rmq_groups_tick(g, 11000 + 20001);
    assert_int_equal(jc.calls, 1);
    assert_int_equal(jc.gen, 4);
    assert_int_equal(jc.n_members, 1);
    assert_string_equal(jc.leader, c);
    /* the leader never syncs: after the rebalance timeout it is removed */
    rmq_groups_tick(g, 11000 + 20001 + 20001);
    rmq_group_summary_t s;
    assert_int_equal(rmq_groups_summary(g, "g", &s), 0);
    assert_int_equal(s.state, RMQ_GROUP_EMPTY);
    assert_int_equal(s.n_members, 0);
    rmq_groups_free(g);
}

static void test_static_membership(void **st) {
    (void)st;
    rmq_groups_t *g = new_groups(0);
    join_res_t j1, j2;
    /* static members get an id without MEMBER_ID_REQUIRED */
    join(g, "", "inst-1", P_RANGE, 1, 0, &j1);
    assert_int_equal(j1.calls, 1);
    assert_int_equal(j1.err, 0);
    assert_int_equal(j1.gen, 1);
    char s1[400];
    strcpy(s1, j1.member_id);
    join(g, "", "inst-2", P_RANGE, 1, 0, &j2);
    assert_int_equal(j2.calls, 0); /* rebalance: s1 must rejoin */
    join(g, s1, "inst-1", P_RANGE, 1, 10, &j1);
    assert_int_equal(j1.gen, 2);
    assert_int_equal(j2.gen, 2);
    char s2[400];
    strcpy(s2, j2.member_id);
    sync_res_t a, b;
    rmq_group_assignment_t as[] = {{s1, (const uint8_t *)"P1", 2}, {s2, (const uint8_t *)"P2", 2}};
    sync_(g, s2, "inst-2", 2, NULL, 0, 20, &b);
    sync_(g, s1, "inst-1", 2, as, 2, 20, &a);
    assert_string_equal(b.assignment, "P2");
    assert_int_equal(state_of(g), RMQ_GROUP_STABLE);

    /* inst-2 restarts (new process, no member id) within its session:
     * same generation, same assignment, no rebalance */
    join_res_t j2b;
    join(g, "", "inst-2", P_RANGE, 1, 3000, &j2b);
    assert_int_equal(j2b.calls, 1);
    assert_int_equal(j2b.err, 0);
    assert_int_equal(j2b.gen, 2);
    assert_string_not_equal(j2b.member_id, s2);
    assert_int_equal(state_of(g), RMQ_GROUP_STABLE);
    sync_res_t b2;
    sync_(g, j2b.member_id, "inst-2", 2, NULL, 0, 3010, &b2);
    assert_int_equal(b2.err, 0);
    assert_string_equal(b2.assignment, "P2");
    /* the old incarnation is fenced */
    assert_int_equal(rmq_groups_heartbeat(g, "g", s2, "inst-2", 2, 3020), RMQ_FENCED_INSTANCE_ID);
    assert_int_equal(rmq_groups_commit_check(g, "g", 2, s2, "inst-2", 3020), RMQ_FENCED_INSTANCE_ID);
    join_res_t jold;
    join(g, s2, "inst-2", P_RANGE, 1, 3030, &jold);
    assert_int_equal(jold.err, RMQ_FENCED_INSTANCE_ID);
    assert_int_equal(rmq_groups_leave(g, "g", s2, "inst-2", 3040), RMQ_FENCED_INSTANCE_ID);
    assert_int_equal(rmq_groups_heartbeat(g, "g", j2b.member_id, "inst-2", 2, 3050), 0);
    /* the static leader restarting: no rebalance, told to skip assignment */
    join_res_t j1b;
    join(g, "", "inst-1", P_RANGE, 1, 3100, &j1b);
    assert_int_equal(j1b.gen, 2);
    assert_true(j1b.skip);
    assert_string_equal(j1b.leader, j1b.member_id);
    assert_int_equal(state_of(g), RMQ_GROUP_STABLE);
    /* leaving by instance id (admin removeMembers style) */
    assert_int_equal(rmq_groups_leave(g, "g", "", "inst-1", 3200), 0);
    assert_int_equal(state_of(g), RMQ_GROUP_PREPARING_REBALANCE);
    assert_int_equal(rmq_groups_leave(g, "g", "", "inst-9", 3200), RMQ_UNKNOWN_MEMBER_ID);
    rmq_groups_free(g);
}

static void test_protocols(void **st) {
    (void)st;
    rmq_groups_t *g = new_groups(0);
    rmq_group_protocol_t pa[] = {{"roundrobin", (const uint8_t *)"a1", 2}, {"range", (const uint8_t *)"a2", 2}};
    rmq_group_protocol_t pb[] = {{"range", (const uint8_t *)"b2", 2}, {"roundrobin", (const uint8_t *)"b1", 2}};
    rmq_group_protocol_t pc[] = {{"cooperative-sticky", (const uint8_t *)"c", 1}};
    join_res_t ja, jb, jc;
    join(g, "", NULL, pa, 2, 0, &ja);
    char a[400];
    strcpy(a, ja.member_id);
    join(g, a, NULL, pa, 2, 0, &ja);
    assert_string_equal(ja.proto, "roundrobin");
    join(g, "", NULL, pc, 1, 0, &jc);
    assert_int_equal(jc.err, RMQ_INCONSISTENT_GROUP_PROTOCOL);
    join(g, "", NULL, pb, 2, 0, &jb);
    char b[400];
    strcpy(b, jb.member_id);
    join(g, b, NULL, pb, 2, 0, &jb);
    join(g, a, NULL, pa, 2, 10, &ja);
    /* both support both: the leader's (A's) first preference wins */
    assert_string_equal(ja.proto, "roundrobin");
    assert_string_equal(jb.proto, "roundrobin");
    assert_int_equal(ja.n_members, 2);
    /* wrong protocol type */
    join_res_t jx;
    memset(&jx, 0, sizeof jx);
    rmq_group_join_args_t x = {.group_id = "g", .member_id = "", .protocol_type = "connect",
                               .session_timeout_ms = 10000, .rebalance_timeout_ms = 10000, .protocols = pb,
                               .n_protocols = 2, .now_ms = 20};
    rmq_groups_join(g, &x, on_join, &jx);
    assert_int_equal(jx.err, RMQ_INCONSISTENT_GROUP_PROTOCOL);
    /* session timeout bounds and group id */
    x.protocol_type = "consumer";
    x.session_timeout_ms = 999;
    rmq_groups_join(g, &x, on_join, &jx);
    assert_int_equal(jx.err, RMQ_INVALID_SESSION_TIMEOUT);
    x.session_timeout_ms = 60001;
    rmq_groups_join(g, &x, on_join, &jx);
    assert_int_equal(jx.err, RMQ_INVALID_SESSION_TIMEOUT);
    x.session_timeout_ms = 10000;
    x.group_id = "";
    rmq_groups_join(g, &x, on_join, &jx);
    assert_int_equal(jx.err, RMQ_INVALID_GROUP_ID);
    /* unknown member id on an unknown group */
    x.group_id = "other";
    x.member_id = "ghost";
    rmq_groups_join(g, &x, on_join, &jx);
    assert_int_equal(jx.err, RMQ_UNKNOWN_MEMBER_ID);
    rmq_groups_free(g);
}

static void test_initial_delay(void **st) {
    (void)st;
    rmq_groups_t *g = new_groups(3000);
    join_res_t j[3];
    char id[3][400];
    for (int i = 0; i < 3; i++) {
        join(g, "", NULL, P_RANGE, 1, 100 * i, &j[i]);
        strcpy(id[i], j[i].member_id);
        join(g, id[i], NULL, P_RANGE, 1, 100 * i, &j[i]);
        assert_int_equal(j[i].calls, 0);
    }
    rmq_groups_tick(g, 2999);
    assert_int_equal(j[0].calls, 0);
    /* new members arrived during the delay: it is extended once more */
    rmq_groups_tick(g, 3000);
    assert_int_equal(j[0].calls, 0);
    rmq_groups_tick(g, 6000);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(j[i].calls, 1);
        assert_int_equal(j[i].gen, 1); /* one rebalance for the whole fleet */
    }
    assert_int_equal(j[0].n_members, 3);
    rmq_groups_free(g);
}

static void test_offsets_and_records(void **st) {
    (void)st;
    rmq_groups_t *g = new_groups(0);
    rmq_group_offset_t o = {"topic-a", 3, 42, 7, "meta!", 1000};
    assert_int_equal(rmq_groups_commit_check(g, "simple", -1, "", NULL, 1000), 0);
    assert_int_equal(rmq_groups_commit_check(g, "nogroup", 5, "m", NULL, 1000), RMQ_ILLEGAL_GENERATION);
    assert_int_equal(rmq_groups_commit_check(g, "", -1, "", NULL, 1000), RMQ_INVALID_GROUP_ID);
    /* encode then apply (what replay does) */
    rmq_buf_t k, v;
    rmq_buf_init(&k);
    rmq_buf_init(&v);
    rmq_groups_encode_key(&k, "simple", o.topic, o.partition);
    rmq_groups_encode_value(&v, &o);
    /* Kafka's layout: version 1 key, version 3 value */
    assert_int_equal(k.data[1], 1);
    assert_int_equal(k.len, 2 + 2 + 6 + 2 + 7 + 4);
    assert_int_equal(v.data[1], 3);
    assert_int_equal(v.len, 2 + 8 + 4 + 2 + 5 + 8);
    assert_int_equal(rmq_groups_apply_record(g, k.data, (int32_t)k.len, v.data, (int32_t)v.len), 0);
    rmq_groups_lock(g);
    const rmq_group_offset_t *f = rmq_groups_offset_find_locked(g, "simple", "topic-a", 3);
    assert_non_null(f);
    assert_int_equal(f->offset, 42);
    assert_int_equal(f->leader_epoch, 7);
    assert_string_equal(f->metadata, "meta!");
    assert_int_equal(f->commit_timestamp_ms, 1000);
    assert_null(rmq_groups_offset_find_locked(g, "simple", "topic-a", 4));
    rmq_groups_unlock(g);
    /* last value wins */
    o.offset = 50;
    assert_int_equal(rmq_groups_offset_put(g, "simple", &o), 0);
    for (int p = 0; p < 100; p++) {
        rmq_group_offset_t x = {"many", p, p * 10, -1, "", 1000};
        assert_int_equal(rmq_groups_offset_put(g, "simple", &x), 0);
    }
    rmq_groups_lock(g);
    assert_int_equal(rmq_groups_offset_find_locked(g, "simple", "topic-a", 3)->offset, 50);
    assert_int_equal(rmq_groups_offset_find_locked(g, "simple", "many", 77)->offset, 770);
    rmq_groups_unlock(g);
    /* tombstone */
    assert_int_equal(rmq_groups_apply_record(g, k.data, (int32_t)k.len, NULL, -1), 0);
    rmq_groups_lock(g);
    assert_null(rmq_groups_offset_find_locked(g, "simple", "topic-a", 3));
    rmq_groups_unlock(g);
    /* corrupt and foreign records */
    assert_int_equal(rmq_groups_apply_record(g, k.data, 5, v.data, (int32_t)v.len), RMQ_ERR_CORRUPT);
    const uint8_t meta_key[] = {0, 2, 0, 1, 'x'};
    assert_int_equal(rmq_groups_apply_record(g, meta_key, 5, NULL, -1), 0);
    /* retention: empty group, commit at 1000, retention 60000 */
    size_t n = rmq_groups_expire_offsets(g, 60999, NULL, NULL);
    assert_int_equal(n, 0);
    n = rmq_groups_expire_offsets(g, 61000, NULL, NULL);
    assert_int_equal(n, 100);
    rmq_group_summary_t s;
    assert_int_equal(rmq_groups_summary(g, "simple", &s), RMQ_GROUP_ID_NOT_FOUND); /* forgotten */
    rmq_buf_free(&k);
    rmq_buf_free(&v);
    rmq_groups_free(g);
}

static void count_cb(void *ud, const char *group_id, const rmq_group_offset_t *o) {
    (void)group_id;
    (void)o;
    (*(int *)ud)++;
}

static void describe_cb(void *ud, const rmq_group_summary_t *s, const rmq_group_member_desc_t *m, size_t n) {
    int *out = ud;
    out[0] = (int)s->state;
    out[1] = (int)n;
    out[2] = n ? (int)m[0].assignment_len : -1;
}

static void test_list_describe_delete(void **st) {
    (void)st;
    rmq_groups_t *g = new_groups(0);
    char a[400];
    make_one(g, a, 0);
    rmq_group_offset_t o = {"t", 0, 5, -1, "", 0};
    assert_int_equal(rmq_groups_offset_put(g, "g", &o), 0);
    assert_int_equal(rmq_groups_offset_put(g, "other", &o), 0);
    rmq_group_summary_t s[4];
    assert_int_equal(rmq_groups_list(g, s, 4), 2);
    int d[3] = {-1, -1, -1};
    assert_int_equal(rmq_groups_describe(g, "g", describe_cb, d), 0);
    assert_int_equal(d[0], RMQ_GROUP_STABLE);
    assert_int_equal(d[1], 1);
    assert_int_equal(d[2], 5);
    assert_int_equal(rmq_groups_describe(g, "nope", describe_cb, d), RMQ_GROUP_ID_NOT_FOUND);
    int cnt = 0;
    assert_int_equal(rmq_groups_delete(g, "g", count_cb, &cnt), RMQ_NON_EMPTY_GROUP);
    assert_int_equal(rmq_groups_delete(g, "nope", count_cb, &cnt), RMQ_GROUP_ID_NOT_FOUND);
    assert_int_equal(rmq_groups_delete(g, "other", count_cb, &cnt), 0);
    assert_int_equal(cnt, 1);
    assert_int_equal(rmq_groups_list(g, s, 4), 1);
    /* parked requests are answered at shutdown */
    join_res_t jb;
    char b[400];
    join(g, "", NULL, P_RANGE, 1, 10, &jb);
    strcpy(b, jb.member_id);
    join(g, b, NULL, P_RANGE, 1, 10, &jb);
    assert_int_equal(jb.calls, 0);
    rmq_groups_fail_waiters(g, RMQ_COORDINATOR_NOT_AVAILABLE);
    assert_int_equal(jb.calls, 1);
    assert_int_equal(jb.err, RMQ_COORDINATOR_NOT_AVAILABLE);
    join(g, "", NULL, P_RANGE, 1, 20, &jb);
    assert_int_equal(jb.err, RMQ_COORDINATOR_NOT_AVAILABLE);
    rmq_groups_free(g);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_join_sync_two_members), cmocka_unit_test(test_session_and_rebalance_timeouts),
        cmocka_unit_test(test_static_membership),     cmocka_unit_test(test_protocols),
        cmocka_unit_test(test_initial_delay),         cmocka_unit_test(test_offsets_and_records),
        cmocka_unit_test(test_list_describe_delete),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
