/* h_group.c - the ten group-coordinator handlers: FindCoordinator,
 * JoinGroup, SyncGroup, Heartbeat, LeaveGroup, OffsetCommit, OffsetFetch,
 * ListGroups, DescribeGroups, DeleteGroups.
 *
 * They translate the decoded Kafka structs into calls on the state machine
 * (group.h) and the offsets glue (group_store.c). JoinGroup and SyncGroup
 * may park: their completion callback runs under the groups lock on
 * whatever thread completed the rebalance, copies the result into the
 * request's arena (nobody else touches a parked request) and posts the
 * response to the connection's I/O thread. OffsetCommit and DeleteGroups
 * answer once their records are durable (WAL writer thread -> post).
 * Coordinator: the broker leading the group's __consumer_offsets partition
 * (group_store.c); on a controller quorum the others answer every group
 * request (except ListGroups) with NOT_COORDINATOR. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/broker_int.h"
#include "broker/group.h"
#include "common/clock.h"
#include "common/log.h"

/* ------------------------------------------------------------- helpers */

static void rmq_hg_finish_cb(void *ud) { rmq_req_finish(ud); }

/* Send req's response from any thread. */
static void rmq_hg_post_finish(rmq_req_t *req) {
    if (rmq_net_loop_post(req->loop, rmq_hg_finish_cb, req)) rmq_req_finish(req);
}

static const char *rmq_hg_cstr_or_null(rmq_req_t *req, rmq_kstr_t s) {
    return s.len < 0 ? NULL : rmq_req_cstr(req, s);
}

static rmq_kbytes_t rmq_hg_bytes(rmq_req_t *req, const uint8_t *p, size_t n) {
    rmq_kbytes_t r = {(const uint8_t *)"", 0};
    if (n == 0) return r;
    uint8_t *c = rmq_arena_alloc(&req->arena, n);
    if (!c) return r;
    memcpy(c, p, n);
    r.ptr = c;
    r.len = (int32_t)n;
    return r;
}

/* Kafka reports the client host as "/1.2.3.4". */
static const char *rmq_hg_client_host(rmq_req_t *req) {
    const char *peer = rmq_net_conn_peer(req->conn);
    char host[300];
    snprintf(host, sizeof host, "/%s", peer ? peer : "");
    char *colon = strrchr(host, ':');
    if (colon && colon != host) *colon = 0;
    if (host[1] == '[') { /* "[::1]" -> "::1" */
        memmove(host + 1, host + 2, strlen(host + 2) + 1);
        char *rb = strchr(host, ']');
        if (rb) *rb = 0;
    }
    return rmq_arena_strndup(&req->arena, host, strlen(host));
}

static rmq_groups_t *rmq_hg_core(rmq_req_t *req) { return rmq_broker_groups_core(req->b); }

/* ---------------------------------------------------- FindCoordinator */

static void rmq_hg_coordinator(rmq_req_t *req, int8_t key_type, rmq_kstr_t key, int16_t *err, rmq_kstr_t *msg,
                               int32_t *node, rmq_kstr_t *host, int32_t *port) {
    rmq_broker_t *b = req->b;
    if (key_type != 0) {
        *err = key_type == 1 ? RMQ_TRANSACTIONAL_ID_AUTHORIZATION_FAILED : RMQ_INVALID_REQUEST;
        *msg = rmq_req_kstr(req, key_type == 1 ? "transactions are not supported by this broker"
                                               : "unknown coordinator key type");
        *node = -1;
        *host = rmq_req_kstr(req, "");
        *port = -1;
        return;
    }
    if (!rmq_hg_core(req) || atomic_load(&b->stopping)) {
        *err = RMQ_COORDINATOR_NOT_AVAILABLE;
        *node = -1;
        *host = rmq_req_kstr(req, "");
        *port = -1;
        return;
    }
    /* the broker leading the group's __consumer_offsets partition */
    char h[256];
    int32_t id = -1, p = -1;
    rmq_err_t e = rmq_broker_groups_coordinator(b, rmq_req_cstr(req, key), &id, h, sizeof h, &p);
    *err = (int16_t)rmq_err_to_wire(e);
    *node = e ? -1 : id;
    *host = rmq_req_kstr(req, e ? "" : h);
    *port = e ? -1 : p;
}

void rmq_h_find_coordinator(rmq_req_t *req) {
    rmq_kmsg_find_coordinator_request_t *rq = req->body;
    rmq_kmsg_find_coordinator_response_t *r = rmq_req_new_response(req);
    if (!r) {
        rmq_req_finish(req);
        return;
    }
    if (req->hdr.api_version < 4) {
        rmq_hg_coordinator(req, rq->key_type, rq->key, &r->error_code, &r->error_message, &r->node_id, &r->host,
                           &r->port);
        rmq_req_finish(req);
        return;
    }
    const rmq_kafka_msg_desc_t *cd = rmq_kdesc_sub(&rmq_kmsg_find_coordinator_response_desc, "coordinators");
    int32_t n = rq->coordinator_keys.n > 0 ? rq->coordinator_keys.n : 0;
    rmq_kmsg_find_coordinator_response_coordinator_t *c = RMQ_REQ_ARRAY(req, cd, n, r->coordinators);
    for (int32_t i = 0; c && i < n; i++) {
        c[i].key = rq->coordinator_keys.v[i];
        rmq_hg_coordinator(req, rq->key_type, rq->coordinator_keys.v[i], &c[i].error_code, &c[i].error_message,
                           &c[i].node_id, &c[i].host, &c[i].port);
    }
    rmq_req_finish(req);
}

/* ---------------------------------------------------------- JoinGroup */

static void rmq_hg_join_done(void *ud, const rmq_group_join_result_t *res) {
    rmq_req_t *req = ud;
    rmq_kmsg_join_group_response_t *r = req->resp;
    int16_t v = req->hdr.api_version;
    r->error_code = rmq_err_to_wire(res->err);
    r->generation_id = res->generation;
    r->protocol_type = rmq_req_kstr(req, res->protocol_type);
    /* protocol_name is nullable from v7 only */
    r->protocol_name = rmq_req_kstr(req, res->protocol_name ? res->protocol_name : (v >= 7 ? NULL : ""));
    r->leader = rmq_req_kstr(req, res->leader ? res->leader : "");
    r->member_id = rmq_req_kstr(req, res->member_id ? res->member_id : "");
    r->skip_assignment = res->skip_assignment;
    if (res->n_members) {
        const rmq_kafka_msg_desc_t *md = rmq_kdesc_sub(&rmq_kmsg_join_group_response_desc, "members");
        rmq_kmsg_join_group_response_join_group_response_member_t *m =
            rmq_req_array(req, md, (int32_t)res->n_members);
        r->members.n = m ? (int32_t)res->n_members : 0;
        r->members.v = m;
        for (size_t i = 0; m && i < res->n_members; i++) {
            m[i].member_id = rmq_req_kstr(req, res->members[i].member_id);
            m[i].group_instance_id = rmq_req_kstr(req, res->members[i].instance_id);
            m[i].metadata = rmq_hg_bytes(req, res->members[i].metadata, res->members[i].metadata_len);
        }
    }
    rmq_hg_post_finish(req);
}

void rmq_h_join_group(rmq_req_t *req) {
    rmq_kmsg_join_group_request_t *rq = req->body;
    rmq_kmsg_join_group_response_t *r = rmq_req_new_response(req);
    if (!r) {
        rmq_req_finish(req);
        return;
    }
    r->generation_id = -1;
    int16_t v = req->hdr.api_version;
    rmq_groups_t *g = rmq_hg_core(req);
    int32_t np = rq->protocols.n > 0 ? rq->protocols.n : 0;
    rmq_group_protocol_t *ps = np ? rmq_arena_alloc(&req->arena, (size_t)np * sizeof *ps) : NULL;
    rmq_err_t cerr = g ? rmq_broker_groups_check_coordinator(req->b, rmq_req_cstr(req, rq->group_id)) : RMQ_NONE;
    if (!g || (np && !ps) || cerr) {
        rmq_group_join_result_t res;
        memset(&res, 0, sizeof res);
        res.err = cerr ? cerr : g ? RMQ_UNKNOWN_SERVER_ERROR : RMQ_COORDINATOR_NOT_AVAILABLE;
        res.generation = -1;
        res.member_id = "";
        rmq_hg_join_done(req, &res);
        return;
    }
    for (int32_t i = 0; i < np; i++) {
        ps[i].name = rmq_req_cstr(req, rq->protocols.v[i].name);
        ps[i].meta = rq->protocols.v[i].metadata.ptr;
        ps[i].meta_len = rq->protocols.v[i].metadata.len > 0 ? (size_t)rq->protocols.v[i].metadata.len : 0;
    }
    rmq_group_join_args_t a;
    memset(&a, 0, sizeof a);
    a.group_id = rmq_req_cstr(req, rq->group_id);
    a.member_id = rmq_req_cstr(req, rq->member_id);
    a.instance_id = v >= 5 ? rmq_hg_cstr_or_null(req, rq->group_instance_id) : NULL;
    a.client_id = rmq_req_cstr(req, req->hdr.client_id);
    a.client_host = rmq_hg_client_host(req);
    a.protocol_type = rmq_req_cstr(req, rq->protocol_type);
    a.session_timeout_ms = rq->session_timeout_ms;
    a.rebalance_timeout_ms = v >= 1 ? rq->rebalance_timeout_ms : -1;
    a.protocols = ps;
    a.n_protocols = (size_t)np;
    a.require_known_member_id = v >= 4;
    a.now_ms = rmq_wall_ms();
    /* req belongs to the coordinator from here: do not touch it after */
    rmq_groups_join(g, &a, rmq_hg_join_done, req);
}

/* ---------------------------------------------------------- SyncGroup */

static void rmq_hg_sync_done(void *ud, const rmq_group_sync_result_t *res) {
    rmq_req_t *req = ud;
    rmq_kmsg_sync_group_response_t *r = req->resp;
    r->error_code = rmq_err_to_wire(res->err);
    r->protocol_type = rmq_req_kstr(req, res->protocol_type);
    r->protocol_name = rmq_req_kstr(req, res->protocol_name);
    r->assignment = rmq_hg_bytes(req, res->assignment, res->assignment_len);
    rmq_hg_post_finish(req);
}

void rmq_h_sync_group(rmq_req_t *req) {
    rmq_kmsg_sync_group_request_t *rq = req->body;
    rmq_kmsg_sync_group_response_t *r = rmq_req_new_response(req);
    if (!r) {
        rmq_req_finish(req);
        return;
    }
    r->assignment.ptr = (const uint8_t *)"";
    r->assignment.len = 0;
    int16_t v = req->hdr.api_version;
    rmq_groups_t *g = rmq_hg_core(req);
    int32_t na = rq->assignments.n > 0 ? rq->assignments.n : 0;
    rmq_group_assignment_t *as = na ? rmq_arena_alloc(&req->arena, (size_t)na * sizeof *as) : NULL;
    rmq_err_t cerr = g ? rmq_broker_groups_check_coordinator(req->b, rmq_req_cstr(req, rq->group_id)) : RMQ_NONE;
    if (!g || (na && !as) || cerr) {
        r->error_code = cerr ? (int16_t)rmq_err_to_wire(cerr) : g ? RMQ_UNKNOWN_SERVER_ERROR : RMQ_COORDINATOR_NOT_AVAILABLE;
        rmq_req_finish(req);
        return;
    }
    for (int32_t i = 0; i < na; i++) {
        as[i].member_id = rmq_req_cstr(req, rq->assignments.v[i].member_id);
        as[i].data = rq->assignments.v[i].assignment.ptr;
        as[i].len = rq->assignments.v[i].assignment.len > 0 ? (size_t)rq->assignments.v[i].assignment.len : 0;
    }
    rmq_group_sync_args_t a;
    memset(&a, 0, sizeof a);
    a.group_id = rmq_req_cstr(req, rq->group_id);
    a.member_id = rmq_req_cstr(req, rq->member_id);
    a.instance_id = v >= 3 ? rmq_hg_cstr_or_null(req, rq->group_instance_id) : NULL;
    a.protocol_type = v >= 5 ? rmq_hg_cstr_or_null(req, rq->protocol_type) : NULL;
    a.protocol_name = v >= 5 ? rmq_hg_cstr_or_null(req, rq->protocol_name) : NULL;
    a.generation = rq->generation_id;
    a.assignments = as;
    a.n_assignments = (size_t)na;
    a.now_ms = rmq_wall_ms();
    rmq_groups_sync(g, &a, rmq_hg_sync_done, req);
}

/* ------------------------------------------------ Heartbeat, LeaveGroup */

void rmq_h_heartbeat(rmq_req_t *req) {
    rmq_kmsg_heartbeat_request_t *rq = req->body;
    rmq_kmsg_heartbeat_response_t *r = rmq_req_new_response(req);
    if (!r) {
        rmq_req_finish(req);
        return;
    }
    rmq_groups_t *g = rmq_hg_core(req);
    rmq_err_t cerr = g ? rmq_broker_groups_check_coordinator(req->b, rmq_req_cstr(req, rq->group_id)) : RMQ_NONE;
    if (!g || cerr) {
        r->error_code = cerr ? (int16_t)rmq_err_to_wire(cerr) : RMQ_COORDINATOR_NOT_AVAILABLE;
    } else {
        r->error_code = rmq_err_to_wire(rmq_groups_heartbeat(
            g, rmq_req_cstr(req, rq->group_id), rmq_req_cstr(req, rq->member_id),
            req->hdr.api_version >= 3 ? rmq_hg_cstr_or_null(req, rq->group_instance_id) : NULL, rq->generation_id,
            rmq_wall_ms()));
    }
    rmq_req_finish(req);
}

void rmq_h_leave_group(rmq_req_t *req) {
    rmq_kmsg_leave_group_request_t *rq = req->body;
    rmq_kmsg_leave_group_response_t *r = rmq_req_new_response(req);
    if (!r) {
        rmq_req_finish(req);
        return;
    }
    rmq_groups_t *g = rmq_hg_core(req);
    const char *group = rmq_req_cstr(req, rq->group_id);
    int64_t now = rmq_wall_ms();
    rmq_err_t cerr = g ? rmq_broker_groups_check_coordinator(req->b, group) : RMQ_COORDINATOR_NOT_AVAILABLE;
    if (cerr) {
        r->error_code = (int16_t)rmq_err_to_wire(cerr);
        rmq_req_finish(req);
        return;
    }
    if (req->hdr.api_version < 3) {
        rmq_err_t err = rmq_groups_leave(g, group, rmq_req_cstr(req, rq->member_id), NULL, now);
        r->error_code = rmq_err_to_wire(err == RMQ_GROUP_ID_NOT_FOUND ? RMQ_UNKNOWN_MEMBER_ID : err);
        rmq_req_finish(req);
        return;
    }
    const rmq_kafka_msg_desc_t *md = rmq_kdesc_sub(&rmq_kmsg_leave_group_response_desc, "members");
    int32_t n = rq->members.n > 0 ? rq->members.n : 0;
    rmq_kmsg_leave_group_response_member_response_t *m = RMQ_REQ_ARRAY(req, md, n, r->members);
    for (int32_t i = 0; m && i < n; i++) {
        m[i].member_id = rq->members.v[i].member_id;
        m[i].group_instance_id = rq->members.v[i].group_instance_id;
        rmq_err_t err = rmq_groups_leave(g, group, rmq_req_cstr(req, rq->members.v[i].member_id),
                                         rmq_hg_cstr_or_null(req, rq->members.v[i].group_instance_id), now);
        m[i].error_code = rmq_err_to_wire(err == RMQ_GROUP_ID_NOT_FOUND ? RMQ_UNKNOWN_MEMBER_ID : err);
    }
    rmq_req_finish(req);
}

/* -------------------------------------------------------- OffsetCommit */

typedef rmq_kmsg_offset_commit_response_offset_commit_response_partition_t rmq_oc_presp_t;

typedef struct rmq_hg_commit {
    rmq_req_t *req;
    const char *group;
    size_t n;
    rmq_groups_rec_t *recs;
    rmq_group_offset_t *vals;
    rmq_oc_presp_t **resp; /* response element of each record */
} rmq_hg_commit_t;

/* WAL writer thread: the commit is durable (or failed). */
static void rmq_hg_commit_durable(void *ud, rmq_err_t err) {
    rmq_hg_commit_t *c = ud;
    rmq_groups_t *g = rmq_broker_groups_core(c->req->b);
    for (size_t i = 0; i < c->n; i++) {
        if (err) c->resp[i]->error_code = rmq_err_to_wire(err);
        else if (g && rmq_groups_offset_put(g, c->group, &c->vals[i]))
            c->resp[i]->error_code = RMQ_UNKNOWN_SERVER_ERROR;
    }
    rmq_hg_post_finish(c->req);
}

void rmq_h_offset_commit(rmq_req_t *req) {
    rmq_kmsg_offset_commit_request_t *rq = req->body;
    rmq_kmsg_offset_commit_response_t *r = rmq_req_new_response(req);
    if (!r) {
        rmq_req_finish(req);
        return;
    }
    int16_t v = req->hdr.api_version;
    rmq_groups_t *g = rmq_hg_core(req);
    const char *group = rmq_req_cstr(req, rq->group_id);
    int64_t now = rmq_wall_ms();
    rmq_err_t cerr = g ? rmq_broker_groups_check_coordinator(req->b, group) : RMQ_NONE;
    rmq_err_t gerr = !g    ? RMQ_COORDINATOR_NOT_AVAILABLE
                     : cerr ? cerr
                        : rmq_groups_commit_check(g, group, v >= 1 ? rq->generation_id_or_member_epoch : -1,
                                                  v >= 1 ? rmq_req_cstr(req, rq->member_id) : "",
                                                  v >= 7 ? rmq_hg_cstr_or_null(req, rq->group_instance_id) : NULL,
                                                  now);
    const rmq_kafka_msg_desc_t *td = rmq_kdesc_sub(&rmq_kmsg_offset_commit_response_desc, "topics");
    const rmq_kafka_msg_desc_t *pd = rmq_kdesc_sub(td, "partitions");
    int32_t nt = rq->topics.n > 0 ? rq->topics.n : 0;
    rmq_kmsg_offset_commit_response_offset_commit_response_topic_t *tr = RMQ_REQ_ARRAY(req, td, nt, r->topics);
    size_t total = 0;
    for (int32_t i = 0; i < nt; i++) total += rq->topics.v[i].partitions.n > 0 ? (size_t)rq->topics.v[i].partitions.n : 0;
    rmq_hg_commit_t *c = rmq_arena_alloc(&req->arena, sizeof *c);
    if (c && total) {
        c->recs = rmq_arena_alloc(&req->arena, total * sizeof *c->recs);
        c->vals = rmq_arena_alloc(&req->arena, total * sizeof *c->vals);
        c->resp = rmq_arena_alloc(&req->arena, total * sizeof *c->resp);
        if (!c->recs || !c->vals || !c->resp) c = NULL;
    }
    if (!c && !gerr) gerr = RMQ_UNKNOWN_SERVER_ERROR;
    for (int32_t i = 0; tr && i < nt; i++) {
        const rmq_kmsg_offset_commit_request_offset_commit_request_topic_t *t = &rq->topics.v[i];
        int32_t np = t->partitions.n > 0 ? t->partitions.n : 0;
        rmq_oc_presp_t *pr = rmq_req_array(req, pd, np);
        tr[i].name = t->name;
        tr[i].partitions.n = pr ? np : 0;
        tr[i].partitions.v = pr;
        char *topic = rmq_req_cstr(req, t->name);
        for (int32_t j = 0; pr && j < np; j++) {
            const rmq_kmsg_offset_commit_request_offset_commit_request_partition_t *p = &t->partitions.v[j];
            pr[j].partition_index = p->partition_index;
            if (gerr) {
                pr[j].error_code = rmq_err_to_wire(gerr);
                continue;
            }
            uint64_t stream;
            if (!topic || rmq_broker_stream_of(req->b, topic, p->partition_index, &stream)) {
                pr[j].error_code = RMQ_UNKNOWN_TOPIC_OR_PARTITION;
                continue;
            }
            if (p->committed_metadata.len > RMQ_GROUPS_MAX_METADATA) {
                pr[j].error_code = RMQ_OFFSET_METADATA_TOO_LARGE;
                continue;
            }
            rmq_group_offset_t *o = &c->vals[c->n];
            o->topic = topic;
            o->partition = p->partition_index;
            o->offset = p->committed_offset;
            o->leader_epoch = v >= 6 ? p->committed_leader_epoch : -1;
            o->metadata = rmq_req_cstr(req, p->committed_metadata);
            o->commit_timestamp_ms = v == 1 && p->commit_timestamp >= 0 ? p->commit_timestamp : now;
            c->recs[c->n].topic = topic;
            c->recs[c->n].partition = p->partition_index;
            c->recs[c->n].value = o;
            c->resp[c->n] = &pr[j];
            c->n++;
        }
    }
    if (!c || c->n == 0) {
        rmq_req_finish(req);
        return;
    }
    c->req = req;
    c->group = group;
    rmq_err_t err = rmq_broker_groups_write(req->b, group, c->recs, c->n, rmq_hg_commit_durable, c);
    if (err) {
        for (size_t i = 0; i < c->n; i++)
            c->resp[i]->error_code = err == RMQ_COORDINATOR_NOT_AVAILABLE ? RMQ_COORDINATOR_NOT_AVAILABLE
                                                                          : rmq_err_to_wire(err);
        rmq_req_finish(req);
    }
}

/* --------------------------------------------------------- OffsetFetch */

typedef rmq_kmsg_offset_fetch_response_offset_fetch_response_partition_t rmq_of_part_t;
typedef rmq_kmsg_offset_fetch_response_offset_fetch_response_topic_t rmq_of_topic_t;

/* Topic/partition list gathered for "all offsets of the group". */
typedef struct rmq_hg_all {
    rmq_req_t *req;
    const char **topics;
    int32_t *parts;
    rmq_group_offset_t *vals;
    size_t n, cap;
} rmq_hg_all_t;

static void rmq_hg_collect(void *ud, const rmq_group_offset_t *o) {
    rmq_hg_all_t *a = ud;
    if (a->n >= a->cap) return;
    a->vals[a->n] = *o;
    a->vals[a->n].topic = rmq_arena_strndup(&a->req->arena, o->topic, strlen(o->topic));
    a->vals[a->n].metadata = rmq_arena_strndup(&a->req->arena, o->metadata, strlen(o->metadata));
    a->n++;
}

static int rmq_hg_cmp_off(const void *x, const void *y) {
    const rmq_group_offset_t *a = x, *b = y;
    int c = strcmp(a->topic, b->topic);
    return c ? c : (a->partition > b->partition) - (a->partition < b->partition);
}

static void rmq_hg_fill_part(rmq_req_t *req, rmq_of_part_t *p, int32_t idx, const rmq_group_offset_t *o) {
    p->partition_index = idx;
    p->committed_offset = o ? o->offset : -1;
    p->committed_leader_epoch = o ? o->leader_epoch : -1;
    p->metadata = rmq_req_kstr(req, o ? o->metadata : "");
    p->error_code = RMQ_NONE;
}

/* Answer one group's fetch: topics NULL (n < 0) = everything committed.
 * Fills out_topics and out_n with arena arrays of the v0-7 layout (the v8
 * group layout has the same fields, so both use it). */
static void rmq_hg_fetch_group(rmq_req_t *req, const char *group, int32_t nreq,
                               const rmq_kmsg_offset_fetch_request_offset_fetch_request_topic_t *topics,
                               rmq_of_topic_t **out_topics, int32_t *out_n) {
    rmq_groups_t *g = rmq_hg_core(req);
    const rmq_kafka_msg_desc_t *td = rmq_kdesc_sub(&rmq_kmsg_offset_fetch_response_desc, "topics");
    const rmq_kafka_msg_desc_t *pd = rmq_kdesc_sub(td, "partitions");
    *out_topics = NULL;
    *out_n = 0;
    if (nreq >= 0) {
        rmq_of_topic_t *tr = rmq_req_array(req, td, nreq);
        if (!tr) return;
        rmq_groups_lock(g);
        for (int32_t i = 0; i < nreq; i++) {
            tr[i].name = topics[i].name;
            int32_t np = topics[i].partition_indexes.n > 0 ? topics[i].partition_indexes.n : 0;
            rmq_of_part_t *pr = RMQ_REQ_ARRAY(req, pd, np, tr[i].partitions);
            char *tn = rmq_req_cstr(req, topics[i].name);
            for (int32_t j = 0; pr && j < np; j++) {
                int32_t idx = topics[i].partition_indexes.v[j];
                rmq_hg_fill_part(req, &pr[j], idx, tn ? rmq_groups_offset_find_locked(g, group, tn, idx) : NULL);
            }
        }
        rmq_groups_unlock(g);
        *out_topics = tr;
        *out_n = nreq;
        return;
    }
    rmq_hg_all_t all;
    memset(&all, 0, sizeof all);
    all.req = req;
    rmq_groups_lock(g);
    /* first pass (cap 0) only counts */
    size_t cnt = rmq_groups_offsets_each_locked(g, group, rmq_hg_collect, &all);
    all.cap = cnt;
    all.vals = cnt ? rmq_arena_alloc(&req->arena, cnt * sizeof *all.vals) : NULL;
    if (all.vals) rmq_groups_offsets_each_locked(g, group, rmq_hg_collect, &all);
    rmq_groups_unlock(g);
    if (all.n == 0) return;
    qsort(all.vals, all.n, sizeof *all.vals, rmq_hg_cmp_off);
    int32_t nt = 0;
    for (size_t i = 0; i < all.n; i++) nt += i == 0 || strcmp(all.vals[i].topic, all.vals[i - 1].topic) != 0;
    rmq_of_topic_t *tr = rmq_req_array(req, td, nt);
    if (!tr) return;
    size_t i = 0;
    for (int32_t t = 0; t < nt; t++) {
        size_t j = i;
        while (j < all.n && strcmp(all.vals[j].topic, all.vals[i].topic) == 0) j++;
        rmq_of_part_t *pr = rmq_req_array(req, pd, (int32_t)(j - i));
        tr[t].name = rmq_req_kstr(req, all.vals[i].topic);
        tr[t].partitions.n = pr ? (int32_t)(j - i) : 0;
        tr[t].partitions.v = pr;
        for (size_t k = i; pr && k < j; k++) rmq_hg_fill_part(req, &pr[k - i], all.vals[k].partition, &all.vals[k]);
        i = j;
    }
    *out_topics = tr;
    *out_n = nt;
}

void rmq_h_offset_fetch(rmq_req_t *req) {
    rmq_kmsg_offset_fetch_request_t *rq = req->body;
    rmq_kmsg_offset_fetch_response_t *r = rmq_req_new_response(req);
    if (!r) {
        rmq_req_finish(req);
        return;
    }
    int16_t v = req->hdr.api_version;
    if (!rmq_hg_core(req)) {
        r->error_code = RMQ_COORDINATOR_NOT_AVAILABLE;
        rmq_req_finish(req);
        return;
    }
    if (v < 8) {
        const char *group = rmq_req_cstr(req, rq->group_id);
        if (!group || !*group) {
            r->error_code = RMQ_INVALID_GROUP_ID;
            rmq_req_finish(req);
            return;
        }
        rmq_err_t cerr = rmq_broker_groups_check_coordinator(req->b, group);
        if (cerr) { /* not -1 offsets: a client would reset its position */
            r->error_code = (int16_t)rmq_err_to_wire(cerr);
            rmq_req_finish(req);
            return;
        }
        rmq_of_topic_t *tr;
        int32_t n;
        /* null topics (v2+) = all committed offsets */
        rmq_hg_fetch_group(req, group, v >= 2 ? rq->topics.n : (rq->topics.n > 0 ? rq->topics.n : 0), rq->topics.v,
                           &tr, &n);
        r->topics.n = n;
        r->topics.v = tr;
        rmq_req_finish(req);
        return;
    }
    /* v8+: several groups; the group layout mirrors the v0-7 one */
    const rmq_kafka_msg_desc_t *gd = rmq_kdesc_sub(&rmq_kmsg_offset_fetch_response_desc, "groups");
    int32_t ng = rq->groups.n > 0 ? rq->groups.n : 0;
    rmq_kmsg_offset_fetch_response_offset_fetch_response_group_t *gr = RMQ_REQ_ARRAY(req, gd, ng, r->groups);
    for (int32_t i = 0; gr && i < ng; i++) {
        const rmq_kmsg_offset_fetch_request_offset_fetch_request_group_t *q = &rq->groups.v[i];
        gr[i].group_id = q->group_id;
        const char *group = rmq_req_cstr(req, q->group_id);
        if (!group || !*group) {
            gr[i].error_code = RMQ_INVALID_GROUP_ID;
            continue;
        }
        rmq_err_t cerr = rmq_broker_groups_check_coordinator(req->b, group);
        if (cerr) {
            gr[i].error_code = (int16_t)rmq_err_to_wire(cerr);
            continue;
        }
        /* request topics of the group form have the same layout as v0-7 */
        rmq_of_topic_t *tr;
        int32_t n;
        rmq_hg_fetch_group(req, group, q->topics.n,
                           (const rmq_kmsg_offset_fetch_request_offset_fetch_request_topic_t *)q->topics.v, &tr, &n);
        const rmq_kafka_msg_desc_t *td = rmq_kdesc_sub(gd, "topics");
        const rmq_kafka_msg_desc_t *pd = rmq_kdesc_sub(td, "partitions");
        rmq_kmsg_offset_fetch_response_offset_fetch_response_topics_t *gt = RMQ_REQ_ARRAY(req, td, n, gr[i].topics);
        for (int32_t t = 0; gt && t < n; t++) {
            gt[t].name = tr[t].name;
            int32_t np = tr[t].partitions.n;
            rmq_kmsg_offset_fetch_response_offset_fetch_response_partitions_t *gp = RMQ_REQ_ARRAY(req, pd, np, gt[t].partitions);
            for (int32_t k = 0; gp && k < np; k++) {
                gp[k].partition_index = tr[t].partitions.v[k].partition_index;
                gp[k].committed_offset = tr[t].partitions.v[k].committed_offset;
                gp[k].committed_leader_epoch = tr[t].partitions.v[k].committed_leader_epoch;
                gp[k].metadata = tr[t].partitions.v[k].metadata;
                gp[k].error_code = tr[t].partitions.v[k].error_code;
            }
        }
    }
    rmq_req_finish(req);
}

/* ---------------------------------------------------------- ListGroups */

void rmq_h_list_groups(rmq_req_t *req) {
    rmq_kmsg_list_groups_request_t *rq = req->body;
    rmq_kmsg_list_groups_response_t *r = rmq_req_new_response(req);
    if (!r) {
        rmq_req_finish(req);
        return;
    }
    int16_t v = req->hdr.api_version;
    rmq_groups_t *g = rmq_hg_core(req);
    if (!g) {
        r->error_code = RMQ_COORDINATOR_NOT_AVAILABLE;
        rmq_req_finish(req);
        return;
    }
    size_t cap = 0, n = 0;
    rmq_group_summary_t *s = NULL;
    for (;;) {
        n = rmq_groups_list(g, s, cap);
        if (n <= cap) break;
        cap = n + 16;
        s = rmq_arena_alloc(&req->arena, cap * sizeof *s);
        if (!s) {
            r->error_code = RMQ_UNKNOWN_SERVER_ERROR;
            rmq_req_finish(req);
            return;
        }
    }
    const rmq_kafka_msg_desc_t *ld = rmq_kdesc_sub(&rmq_kmsg_list_groups_response_desc, "groups");
    rmq_kmsg_list_groups_response_listed_group_t *l = rmq_req_array(req, ld, (int32_t)n);
    int32_t k = 0;
    for (size_t i = 0; l && i < n; i++) {
        if (v >= 4 && rq->states_filter.n > 0) {
            bool ok = false;
            for (int32_t f = 0; f < rq->states_filter.n && !ok; f++)
                ok = rmq_group_state_parse(rq->states_filter.v[f].ptr, (size_t)(rq->states_filter.v[f].len > 0
                                                                                     ? rq->states_filter.v[f].len
                                                                                     : 0)) == (int)s[i].state;
            if (!ok) continue;
        }
        if (v >= 5 && rq->types_filter.n > 0) {
            bool ok = false;
            for (int32_t f = 0; f < rq->types_filter.n && !ok; f++)
                ok = rq->types_filter.v[f].len == 7 && strncasecmp(rq->types_filter.v[f].ptr, "classic", 7) == 0;
            if (!ok) continue;
        }
        l[k].group_id = rmq_req_kstr(req, s[i].group_id);
        l[k].protocol_type = rmq_req_kstr(req, s[i].protocol_type);
        l[k].group_state = rmq_req_kstr(req, rmq_group_state_name(s[i].state));
        l[k].group_type = rmq_req_kstr(req, "classic");
        k++;
    }
    r->groups.n = l ? k : 0;
    r->groups.v = l;
    rmq_req_finish(req);
}

/* ------------------------------------------------------ DescribeGroups */

typedef rmq_kmsg_describe_groups_response_described_group_t rmq_dg_t;

typedef struct rmq_hg_desc {
    rmq_req_t *req;
    rmq_dg_t *d;
} rmq_hg_desc_t;

static void rmq_hg_describe_one(void *ud, const rmq_group_summary_t *s, const rmq_group_member_desc_t *m, size_t n) {
    rmq_hg_desc_t *c = ud;
    rmq_req_t *req = c->req;
    rmq_dg_t *d = c->d;
    d->group_state = rmq_req_kstr(req, rmq_group_state_name(s->state));
    d->protocol_type = rmq_req_kstr(req, s->protocol_type);
    bool stable = s->state == RMQ_GROUP_STABLE;
    d->protocol_data = rmq_req_kstr(req, stable ? s->protocol_name : "");
    const rmq_kafka_msg_desc_t *md =
        rmq_kdesc_sub(rmq_kdesc_sub(&rmq_kmsg_describe_groups_response_desc, "groups"), "members");
    rmq_kmsg_describe_groups_response_described_group_member_t *mv = RMQ_REQ_ARRAY(req, md, (int32_t)n, d->members);
    for (size_t i = 0; mv && i < n; i++) {
        mv[i].member_id = rmq_req_kstr(req, m[i].member_id);
        mv[i].group_instance_id = rmq_req_kstr(req, m[i].instance_id);
        mv[i].client_id = rmq_req_kstr(req, m[i].client_id);
        mv[i].client_host = rmq_req_kstr(req, m[i].client_host);
        /* like Kafka: metadata and assignment only once the group is stable */
        mv[i].member_metadata = rmq_hg_bytes(req, m[i].metadata, stable ? m[i].metadata_len : 0);
        mv[i].member_assignment = rmq_hg_bytes(req, m[i].assignment, stable ? m[i].assignment_len : 0);
    }
}

void rmq_h_describe_groups(rmq_req_t *req) {
    rmq_kmsg_describe_groups_request_t *rq = req->body;
    rmq_kmsg_describe_groups_response_t *r = rmq_req_new_response(req);
    if (!r) {
        rmq_req_finish(req);
        return;
    }
    rmq_groups_t *g = rmq_hg_core(req);
    const rmq_kafka_msg_desc_t *gd = rmq_kdesc_sub(&rmq_kmsg_describe_groups_response_desc, "groups");
    int32_t n = rq->groups.n > 0 ? rq->groups.n : 0;
    rmq_dg_t *d = RMQ_REQ_ARRAY(req, gd, n, r->groups);
    for (int32_t i = 0; d && i < n; i++) {
        d[i].group_id = rq->groups.v[i];
        d[i].group_state = rmq_req_kstr(req, "Dead");
        d[i].protocol_type = rmq_req_kstr(req, "");
        d[i].protocol_data = rmq_req_kstr(req, "");
        if (!g) {
            d[i].error_code = RMQ_COORDINATOR_NOT_AVAILABLE;
            continue;
        }
        const char *id = rmq_req_cstr(req, rq->groups.v[i]);
        if (!id || !*id) {
            d[i].error_code = RMQ_INVALID_GROUP_ID;
            continue;
        }
        rmq_err_t cerr = rmq_broker_groups_check_coordinator(req->b, id);
        if (cerr) {
            d[i].error_code = (int16_t)rmq_err_to_wire(cerr);
            continue;
        }
        rmq_hg_desc_t c = {req, &d[i]};
        /* an unknown group is described as Dead with no error, like Kafka
         * before DescribeGroups v6 */
        rmq_groups_describe(g, id, rmq_hg_describe_one, &c);
    }
    rmq_req_finish(req);
}

/* -------------------------------------------------------- DeleteGroups */

typedef struct rmq_hg_del {
    rmq_req_t *req;
    atomic_int pending;
} rmq_hg_del_t;

typedef struct rmq_hg_del_op {
    rmq_hg_del_t *ctx;
    rmq_kmsg_delete_groups_response_deletable_group_result_t *res;
} rmq_hg_del_op_t;

static void rmq_hg_del_release(rmq_hg_del_t *ctx) {
    if (atomic_fetch_sub(&ctx->pending, 1) == 1) rmq_hg_post_finish(ctx->req);
}

static void rmq_hg_del_durable(void *ud, rmq_err_t err) {
    rmq_hg_del_op_t *op = ud;
    if (err) op->res->error_code = rmq_err_to_wire(err);
    rmq_hg_del_release(op->ctx);
}

void rmq_h_delete_groups(rmq_req_t *req) {
    rmq_kmsg_delete_groups_request_t *rq = req->body;
    rmq_kmsg_delete_groups_response_t *r = rmq_req_new_response(req);
    rmq_hg_del_t *ctx = rmq_arena_alloc(&req->arena, sizeof *ctx);
    if (!r || !ctx) {
        rmq_req_finish(req);
        return;
    }
    ctx->req = req;
    atomic_init(&ctx->pending, 1);
    const rmq_kafka_msg_desc_t *rd = rmq_kdesc_sub(&rmq_kmsg_delete_groups_response_desc, "results");
    int32_t n = rq->groups_names.n > 0 ? rq->groups_names.n : 0;
    rmq_kmsg_delete_groups_response_deletable_group_result_t *res = RMQ_REQ_ARRAY(req, rd, n, r->results);
    bool have = rmq_hg_core(req) != NULL;
    for (int32_t i = 0; res && i < n; i++) {
        res[i].group_id = rq->groups_names.v[i];
        const char *id = rmq_req_cstr(req, rq->groups_names.v[i]);
        if (!have) {
            res[i].error_code = RMQ_COORDINATOR_NOT_AVAILABLE;
            continue;
        }
        if (!id || !*id) {
            res[i].error_code = RMQ_INVALID_GROUP_ID;
            continue;
        }
        rmq_err_t cerr = rmq_broker_groups_check_coordinator(req->b, id);
        if (cerr) {
            res[i].error_code = (int16_t)rmq_err_to_wire(cerr);
            continue;
        }
        rmq_hg_del_op_t *op = rmq_arena_alloc(&req->arena, sizeof *op);
        if (!op) {
            res[i].error_code = RMQ_UNKNOWN_SERVER_ERROR;
            continue;
        }
        op->ctx = ctx;
        op->res = &res[i];
        bool async = false;
        atomic_fetch_add(&ctx->pending, 1);
        rmq_err_t err = rmq_broker_groups_delete(req->b, id, rmq_hg_del_durable, op, &async);
        if (!async) {
            /* when async, the durability callback owns res[i] */
            res[i].error_code = rmq_err_to_wire(err);
            atomic_fetch_sub(&ctx->pending, 1);
        }
    }
    rmq_hg_del_release(ctx);
}
