/* h_metadata.c - Metadata, DescribeCluster and ListOffsets: answers built
 * from the metadata state machine (topics, partitions, cluster id) and the
 * store's offsets. Metadata creates missing topics when auto-creation is on
 * in the broker config and the client allows it. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/broker_int.h"
#include "broker/cluster.h"
#include "broker/tier_glue.h"
#include "common/log.h"
#include "controller/meta_validate.h"
#include "protocol/record_batch.h"

typedef rmq_kmsg_metadata_response_metadata_response_topic_t rmq_mt_resp_t;
typedef rmq_kmsg_metadata_response_metadata_response_partition_t rmq_mp_resp_t;

static rmq_kstr_t rmq_cluster_id_str(rmq_req_t *req) {
    rmq_meta_uuid_t id;
    char txt[23] = "";
    if (rmq_meta_state_cluster_id(req->b->state, &id)) rmq_meta_uuid_to_base64(&id, txt);
    return rmq_req_kstr(req, txt);
}

/* Quorum mode: partition i of t as the controller sees it (read lock held):
 * the state's leader (LEADER_NOT_AVAILABLE when its replicas are fenced),
 * its replicas, ISR = the leader (no data replication yet), offline
 * replicas = those not registered. */
static void rmq_metadata_fill_cluster_partition(rmq_req_t *req, const rmq_meta_topic_t *t, int32_t i,
                                                rmq_mp_resp_t *pr) {
    rmq_broker_t *b = req->b;
    const rmq_meta_partition_t *mp = &t->partitions[i];
    int32_t n = mp->n_replicas;
    int32_t *reps = rmq_arena_alloc(&req->arena, (size_t)(n + 1) * sizeof *reps);
    int32_t *isr = rmq_arena_alloc(&req->arena, sizeof *isr);
    int32_t *off = rmq_arena_alloc(&req->arena, (size_t)(n + 1) * sizeof *off);
    if (!reps || !isr || !off) {
        pr->error_code = RMQ_UNKNOWN_SERVER_ERROR;
        return;
    }
    int32_t n_off = 0;
    for (int32_t k = 0; k < n; k++) {
        reps[k] = mp->replicas[k];
        if (!rmq_meta_state_find_broker(b->state, mp->replicas[k])) off[n_off++] = mp->replicas[k];
    }
    pr->partition_index = i;
    pr->leader_id = mp->leader;
    pr->leader_epoch = mp->leader_epoch;
    pr->error_code = mp->leader < 0 ? RMQ_LEADER_NOT_AVAILABLE : 0;
    pr->replica_nodes.n = n;
    pr->replica_nodes.v = reps;
    *isr = mp->leader;
    pr->isr_nodes.n = mp->leader < 0 ? 0 : 1;
    pr->isr_nodes.v = isr;
    pr->offline_replicas.n = n_off;
    pr->offline_replicas.v = off;
}

/* Fill one topic entry from the state (read lock held by caller). */
static void rmq_metadata_fill_topic(rmq_req_t *req, const rmq_meta_topic_t *t, rmq_mt_resp_t *tr,
                                    const rmq_kafka_msg_desc_t *pdd) {
    rmq_broker_t *b = req->b;
    tr->error_code = 0;
    tr->name = rmq_req_kstr(req, t->name);
    memcpy(tr->topic_id.b, t->id.b, 16);
    tr->is_internal = t->name[0] == '_' && t->name[1] == '_';
    rmq_mp_resp_t *pr = rmq_req_array(req, pdd, t->n_partitions);
    int32_t *node = rmq_arena_alloc(&req->arena, sizeof *node);
    if (!pr || !node) {
        tr->error_code = RMQ_UNKNOWN_SERVER_ERROR;
        return;
    }
    *node = b->o.node_id;
    tr->partitions.n = t->n_partitions;
    tr->partitions.v = pr;
    if (b->cluster) {
        for (int32_t i = 0; i < t->n_partitions; i++) rmq_metadata_fill_cluster_partition(req, t, i, &pr[i]);
        return;
    }
    for (int32_t i = 0; i < t->n_partitions; i++) {
        pr[i].error_code = 0;
        pr[i].partition_index = i;
        pr[i].leader_id = b->o.node_id;
        pr[i].leader_epoch = t->partitions[i].leader_epoch;
        pr[i].replica_nodes.n = 1;
        pr[i].replica_nodes.v = node;
        pr[i].isr_nodes.n = 1;
        pr[i].isr_nodes.v = node;
        pr[i].offline_replicas.n = 0;
    }
}

/* Quorum mode: the registered (unfenced) brokers with their advertised
 * addresses, from the mirrored state. */
static void rmq_metadata_cluster_brokers(rmq_req_t *req, rmq_kmsg_metadata_response_t *r) {
    rmq_broker_t *b = req->b;
    const rmq_kafka_msg_desc_t *bd = rmq_kdesc_sub(&rmq_kmsg_metadata_response_desc, "brokers");
    rmq_meta_state_rdlock(b->state);
    size_t n = rmq_meta_state_broker_count_locked(b->state);
    rmq_kmsg_metadata_response_metadata_response_broker_t *br = rmq_req_array(req, bd, (int32_t)n);
    for (size_t i = 0; br && i < n; i++) {
        const rmq_meta_broker_t *m = rmq_meta_state_broker_at(b->state, i);
        br[i].node_id = m->id;
        br[i].host = rmq_req_kstr(req, m->host);
        br[i].port = m->port;
        br[i].rack = m->rack[0] ? rmq_req_kstr(req, m->rack) : (rmq_kstr_t){NULL, -1};
    }
    rmq_meta_state_unlock(b->state);
    r->brokers.n = br ? (int32_t)n : 0;
    r->brokers.v = br;
}

static void rmq_metadata_brokers(rmq_req_t *req, rmq_kmsg_metadata_response_t *r) {
    rmq_broker_t *b = req->b;
    if (b->cluster) {
        rmq_metadata_cluster_brokers(req, r);
        return;
    }
    const rmq_kafka_msg_desc_t *bd = rmq_kdesc_sub(&rmq_kmsg_metadata_response_desc, "brokers");
    rmq_kmsg_metadata_response_metadata_response_broker_t *br = rmq_req_array(req, bd, 1);
    if (!br) return;
    br->node_id = b->o.node_id;
    br->host = rmq_req_kstr(req, b->adv_host);
    br->port = b->adv_port;
    br->rack = b->o.rack && *b->o.rack ? rmq_req_kstr(req, b->o.rack) : (rmq_kstr_t){NULL, -1};
    r->brokers.n = 1;
    r->brokers.v = br;
}

/* Metadata v10 and v11 carry a topic id and a nullable name on the wire, but
 * only v12 resolves ids (the response's name becomes nullable there). Does
 * this request name a topic by id (or by a null name) below v12? */
static bool rmq_metadata_ids_before_v12(int16_t version, const rmq_kmsg_metadata_request_t *rq) {
    static const uint8_t zero[16];
    if (version >= 12) return false;
    for (int32_t i = 0; i < rq->topics.n; i++) {
        const rmq_kmsg_metadata_request_metadata_request_topic_t *q = &rq->topics.v[i];
        if (q->name.len < 0 || memcmp(q->topic_id.b, zero, sizeof zero) != 0) return true;
    }
    return false;
}

void rmq_h_metadata(rmq_req_t *req) {
    rmq_broker_t *b = req->b;
    rmq_kmsg_metadata_request_t *rq = req->body;
    rmq_kmsg_metadata_response_t *r = rmq_req_new_response(req);
    if (!r) {
        rmq_req_finish(req);
        return;
    }
    rmq_metadata_brokers(req, r);
    r->cluster_id = rmq_cluster_id_str(req);
    r->controller_id = b->o.node_id;
    const rmq_kafka_msg_desc_t *td = rmq_kdesc_sub(&rmq_kmsg_metadata_response_desc, "topics");
    const rmq_kafka_msg_desc_t *pdd = rmq_kdesc_sub(td, "partitions");
    bool all = rq->topics.n < 0 || (req->hdr.api_version == 0 && rq->topics.n == 0);
    if (all) {
        rmq_meta_state_rdlock(b->state);
        size_t n = rmq_meta_state_topic_count_locked(b->state);
        rmq_mt_resp_t *tr = rmq_req_array(req, td, (int32_t)n);
        for (size_t i = 0; tr && i < n; i++) rmq_metadata_fill_topic(req, rmq_meta_state_topic_at(b->state, i), &tr[i], pdd);
        r->topics.n = tr ? (int32_t)n : 0;
        r->topics.v = tr;
        rmq_meta_state_unlock(b->state);
        rmq_req_finish(req);
        return;
    }
    int32_t n = rq->topics.n;
    rmq_mt_resp_t *tr = RMQ_REQ_ARRAY(req, td, n, r->topics);
    if (tr && rmq_metadata_ids_before_v12(req->hdr.api_version, rq)) {
        /* Kafka rejects topic ids (and so null names) below v12 with
         * INVALID_REQUEST for every topic of the request; the response's
         * name is not nullable there, so a null one is answered as "". */
        for (int32_t i = 0; i < n; i++) {
            const rmq_kmsg_metadata_request_metadata_request_topic_t *q = &rq->topics.v[i];
            tr[i].error_code = RMQ_INVALID_REQUEST;
            tr[i].name = q->name.len >= 0 ? q->name : rmq_req_kstr(req, "");
            tr[i].topic_id = q->topic_id;
        }
        rmq_req_finish(req);
        return;
    }
    /* allow_auto_topic_creation exists from v4; older clients implied true */
    bool client_allows = req->hdr.api_version < 4 || rq->allow_auto_topic_creation;
    for (int32_t i = 0; tr && i < n; i++) {
        const rmq_kmsg_metadata_request_metadata_request_topic_t *q = &rq->topics.v[i];
        tr[i].name = q->name;
        tr[i].topic_id = q->topic_id;
        char *name = NULL;
        if (q->name.len >= 0) name = rmq_req_cstr(req, q->name);
        rmq_meta_state_rdlock(b->state);
        const rmq_meta_topic_t *t = name ? rmq_meta_state_find_topic(b->state, name)
                                         : rmq_meta_state_find_topic_id(b->state, (const rmq_meta_uuid_t *)&q->topic_id);
        if (t) rmq_metadata_fill_topic(req, t, &tr[i], pdd);
        rmq_meta_state_unlock(b->state);
        if (t) continue;
        if (!name) {
            tr[i].error_code = RMQ_UNKNOWN_TOPIC_ID;
            continue;
        }
        char msg[256];
        if (rmq_meta_validate_topic_name(name, msg, sizeof msg)) {
            tr[i].error_code = RMQ_INVALID_TOPIC_EXCEPTION;
            continue;
        }
        if (!(b->o.auto_create_topics && client_allows)) {
            tr[i].error_code = RMQ_UNKNOWN_TOPIC_OR_PARTITION;
            continue;
        }
        rmq_err_t err = rmq_broker_create_topic(b, name, -1, -1, NULL, 0, false, NULL, msg, sizeof msg);
        if (err && err != RMQ_TOPIC_ALREADY_EXISTS) {
            tr[i].error_code = rmq_err_to_wire(err);
            continue;
        }
        RMQ_INFO("broker", "msg=\"auto-created topic\" topic=%s peer=%s", name, rmq_net_conn_peer(req->conn));
        rmq_meta_state_rdlock(b->state);
        t = rmq_meta_state_find_topic(b->state, name);
        if (t) rmq_metadata_fill_topic(req, t, &tr[i], pdd);
        else tr[i].error_code = RMQ_LEADER_NOT_AVAILABLE;
        rmq_meta_state_unlock(b->state);
    }
    rmq_req_finish(req);
}

void rmq_h_describe_cluster(rmq_req_t *req) {
    rmq_broker_t *b = req->b;
    rmq_kmsg_describe_cluster_response_t *r = rmq_req_new_response(req);
    if (!r) {
        rmq_req_finish(req);
        return;
    }
    /* KIP-919: a broker describes brokers (1); asking it for controllers (2)
     * is MISMATCHED_ENDPOINT_TYPE, any other type UNSUPPORTED_ENDPOINT_TYPE
     * (INVALID_REQUEST at v0, which has no such field), as Kafka answers. */
    const rmq_kmsg_describe_cluster_request_t *q = req->body;
    r->endpoint_type = 1;
    if (req->hdr.api_version >= 1 && q->endpoint_type != 1) {
        r->error_code = q->endpoint_type == 2 ? RMQ_MISMATCHED_ENDPOINT_TYPE : RMQ_UNSUPPORTED_ENDPOINT_TYPE;
        r->endpoint_type = q->endpoint_type;
        char msg[128];
        snprintf(msg, sizeof msg, "this broker describes endpoint type 1 (brokers), not %d", q->endpoint_type);
        r->error_message = rmq_req_kstr(req, msg);
        r->cluster_id = rmq_req_kstr(req, ""); /* Kafka's error answer: defaults */
        r->controller_id = -1;
        rmq_req_finish(req);
        return;
    }
    r->error_code = 0;
    r->cluster_id = rmq_cluster_id_str(req);
    r->controller_id = b->o.node_id;
    const rmq_kafka_msg_desc_t *bd = rmq_kdesc_sub(&rmq_kmsg_describe_cluster_response_desc, "brokers");
    if (b->cluster) { /* the registered brokers, as the controller sees them */
        rmq_meta_state_rdlock(b->state);
        size_t n = rmq_meta_state_broker_count_locked(b->state);
        rmq_kmsg_describe_cluster_response_describe_cluster_broker_t *cb = rmq_req_array(req, bd, (int32_t)n);
        for (size_t i = 0; cb && i < n; i++) {
            const rmq_meta_broker_t *m = rmq_meta_state_broker_at(b->state, i);
            cb[i].broker_id = m->id;
            cb[i].host = rmq_req_kstr(req, m->host);
            cb[i].port = m->port;
            cb[i].rack = m->rack[0] ? rmq_req_kstr(req, m->rack) : (rmq_kstr_t){NULL, -1};
        }
        rmq_meta_state_unlock(b->state);
        r->brokers.n = cb ? (int32_t)n : 0;
        r->brokers.v = cb;
        rmq_req_finish(req);
        return;
    }
    rmq_kmsg_describe_cluster_response_describe_cluster_broker_t *br = rmq_req_array(req, bd, 1);
    if (br) {
        br->broker_id = b->o.node_id;
        br->host = rmq_req_kstr(req, b->adv_host);
        br->port = b->adv_port;
        br->rack = b->o.rack && *b->o.rack ? rmq_req_kstr(req, b->o.rack) : (rmq_kstr_t){NULL, -1};
        r->brokers.n = 1;
        r->brokers.v = br;
    }
    rmq_req_finish(req);
}

/* ---- ListOffsets ----
 *
 * Special timestamps (Kafka's ListOffsetsRequest). Like Kafka's broker, the
 * meaning does not depend on the request version: a client only sends -3, -4
 * and -5 from the versions that introduced them. */
#define RMQ_LO_LATEST (-1)
#define RMQ_LO_EARLIEST (-2)
#define RMQ_LO_MAX_TIMESTAMP (-3)    /* v7+, KIP-734 */
#define RMQ_LO_EARLIEST_LOCAL (-4)   /* v8+, KIP-405 */
#define RMQ_LO_LATEST_TIERED (-5)    /* v9+, KIP-1005 */

/* Local batch bytes one lookup may read when it has to walk past the batch
 * the offset index pointed at (only around a DeleteRecords cut inside a
 * batch, or after a failed probe), and the size of each store read. */
#define RMQ_LO_WALK_BYTES (16u << 20)
#define RMQ_LO_READ_BYTES (1u << 20)

static int64_t rmq_lo_record_ts(const rmq_rb_batch_t *bt, const rmq_rb_record_t *r) {
    if (bt->h.attributes & RMQ_RB_ATTR_LOG_APPEND_TIME) return bt->h.max_timestamp;
    return bt->h.base_timestamp + r->timestamp_delta;
}

/* Walk the local batches from offset `from` (>= the log start) towards hw,
 * reading at most RMQ_LO_WALK_BYTES. Records below `from` (the part of a
 * batch cut by DeleteRecords) are skipped. want_max false: stop at the first
 * record whose timestamp >= ts; true: the first record with the largest
 * timestamp. *off / *rec_ts: that record, or -1 / -1. Returns true when the
 * answer is final (found, or hw reached); false when the walk stopped early
 * (a batch no longer local, the byte bound): *stop = first offset not
 * looked at, and *off / *rec_ts are the answer for [from, *stop) only. */
static bool rmq_lo_walk(rmq_broker_t *b, uint64_t stream, int64_t from, int64_t hw, bool want_max, int64_t ts,
                        int64_t *off, int64_t *rec_ts, int64_t *stop) {
    *off = -1;
    *rec_ts = -1;
    int64_t at = from;
    size_t budget = RMQ_LO_WALK_BYTES;
    size_t chunk = 1; /* one batch first: the answer is nearly always in it */
    bool found = false;
    rmq_buf_t scratch;
    rmq_buf_init(&scratch);
    while (!found && at < hw && budget > 0) {
        rmq_store_read_t rd;
        memset(&rd, 0, sizeof rd);
        if (rmq_store_read(b->store, stream, at, chunk, &rd) != RMQ_NONE || rd.iovcnt == 0 ||
            rd.next_offset <= at) {
            rmq_store_read_release(&rd);
            break;
        }
        for (size_t k = 0; k < rd.iovcnt && !found; k++) {
            rmq_rb_batches_t it;
            rmq_rb_batch_t bt;
            rmq_rb_batches_init(&it, rd.iov[k].iov_base, rd.iov[k].iov_len, RMQ_RB_F_NO_CRC);
            while (!found && rmq_rb_batches_next(&it, &bt)) {
                if (bt.h.base_offset + bt.h.last_offset_delta < from) continue;
                if (want_max ? *off >= 0 && bt.h.max_timestamp <= *rec_ts : bt.h.max_timestamp < ts) continue;
                rmq_rb_iter_t ri;
                rmq_rb_record_t rec;
                if (rmq_rb_iter_init(&ri, &bt, &scratch, 256u << 20, 0) != RMQ_NONE) continue;
                while (rmq_rb_iter_next(&ri, &rec)) {
                    int64_t o = bt.h.base_offset + rec.offset_delta;
                    if (o < from) continue;
                    int64_t t = rmq_lo_record_ts(&bt, &rec);
                    if (want_max ? *off < 0 || t > *rec_ts : t >= ts) {
                        *off = o;
                        *rec_ts = t;
                        if (!want_max) {
                            found = true;
                            break;
                        }
                    }
                }
            }
        }
        budget = rd.bytes >= budget ? 0 : budget - rd.bytes;
        at = rd.next_offset;
        chunk = RMQ_LO_READ_BYTES;
        rmq_store_read_release(&rd);
    }
    rmq_buf_free(&scratch);
    *stop = at;
    return found || at >= hw;
}

/* Timestamp >= 0: the first record at or after the log start whose
 * timestamp >= ts (Kafka's answer), or -1 / -1 when there is none. Never
 * below the log start: the store's index points at a batch, which
 * DeleteRecords may have cut in the middle. */
static rmq_err_t rmq_lo_by_timestamp(rmq_broker_t *b, uint64_t stream, int64_t ts, int64_t ls, int64_t hw,
                                     int64_t *off, int64_t *rec_ts) {
    *off = -1;
    *rec_ts = -1;
    int64_t boff = -1;
    rmq_err_t err = rmq_store_offset_for_timestamp(b->store, stream, ts, &boff);
    if (err) return err;
    /* below the local WAL (uploaded and reclaimed): the manifest; at and
     * above it the local index is exact */
    int64_t ws = 0;
    rmq_store_stream_wal_start(b->store, stream, &ws);
    int64_t toff = ws > ls ? rmq_btier_offset_for_timestamp(b, stream, ts, ls) : -1;
    if (toff >= 0 && toff < ws) {
        *off = toff; /* range granularity (docs/tiering.md); its timestamp is not known here */
        return RMQ_NONE;
    }
    if (boff < 0) return RMQ_NONE;
    if (boff < ls) boff = ls;
    int64_t stop = boff;
    if (!rmq_lo_walk(b, stream, boff, hw, false, ts, off, rec_ts, &stop)) {
        /* not decided within the bound: every record in [boff, stop) is
         * older than ts, so stop is at or before the answer, never after */
        *off = stop;
        *rec_ts = -1;
    }
    return RMQ_NONE;
}

/* Is there a durable local batch whose max timestamp >= ts? */
static bool rmq_lo_local_reaches(rmq_broker_t *b, uint64_t stream, int64_t ts) {
    int64_t o = -1;
    return rmq_store_offset_for_timestamp(b->store, stream, ts, &o) == RMQ_NONE && o >= 0;
}

/* The largest batch max timestamp of the local index, given one that is
 * reached (rmq_lo_local_reaches(lo)): galloping then bisection over the
 * timestamp with rmq_store_offset_for_timestamp as the probe. Each probe is
 * one walk of the stream's in-memory index under its lock (no log I/O);
 * when the last batch holds the largest timestamp (the usual case, lo is
 * its max) that is a single probe, at most about 128 otherwise. */
static int64_t rmq_lo_local_max_ts(rmq_broker_t *b, uint64_t stream, int64_t lo) {
    uint64_t step = 1;
    int64_t hi;
    for (;;) {
        uint64_t room = (uint64_t)INT64_MAX - (uint64_t)lo; /* INT64_MAX - lo, exact */
        if (room == 0) return lo;
        if (step > room) step = room;
        int64_t x = (int64_t)((uint64_t)lo + step);
        if (!rmq_lo_local_reaches(b, stream, x)) {
            hi = x;
            break;
        }
        lo = x;
        if (step <= UINT64_MAX / 2) step <<= 1;
    }
    while ((uint64_t)hi - (uint64_t)lo > 1) { /* reaches(lo), !reaches(hi) */
        int64_t mid = (int64_t)((uint64_t)lo + ((uint64_t)hi - (uint64_t)lo) / 2);
        if (rmq_lo_local_reaches(b, stream, mid)) lo = mid;
        else hi = mid;
    }
    return lo;
}

/* MAX_TIMESTAMP in the local WAL: the first record at or after the log
 * start with the largest timestamp, or -1 / -1. */
static void rmq_lo_local_max(rmq_broker_t *b, uint64_t stream, int64_t ls, int64_t ws, int64_t hw, int64_t *off,
                             int64_t *rec_ts) {
    *off = -1;
    *rec_ts = -1;
    if (hw <= ls) return;
    /* a lower bound for the probe: the last batch's max timestamp */
    int64_t lo = INT64_MIN;
    bool have = false;
    rmq_store_read_t rd;
    memset(&rd, 0, sizeof rd);
    if (rmq_store_read(b->store, stream, hw - 1, 1, &rd) == RMQ_NONE && rd.iovcnt > 0) {
        rmq_rb_batches_t it;
        rmq_rb_batch_t bt;
        rmq_rb_batches_init(&it, rd.iov[rd.iovcnt - 1].iov_base, rd.iov[rd.iovcnt - 1].iov_len, RMQ_RB_F_NO_CRC);
        while (rmq_rb_batches_next(&it, &bt)) {
            lo = bt.h.max_timestamp;
            have = true;
        }
    }
    rmq_store_read_release(&rd);
    if (!have && !rmq_lo_local_reaches(b, stream, INT64_MIN)) return; /* nothing local */
    int64_t m = rmq_lo_local_max_ts(b, stream, lo);
    int64_t start = -1, stop = 0;
    rmq_store_offset_for_timestamp(b->store, stream, m, &start);
    if (start >= 0 && rmq_lo_walk(b, stream, start < ls ? ls : start, hw, false, m, off, rec_ts, &stop) &&
        *off >= 0)
        return;
    /* The batch with the largest max timestamp was cut by DeleteRecords
     * below that record (or could not be read): walk the retained local
     * records, at most RMQ_LO_WALK_BYTES of them. Past that bound the answer
     * is the largest timestamp within it. */
    rmq_lo_walk(b, stream, ws > ls ? ws : ls, hw, true, 0, off, rec_ts, &stop);
}

/* MAX_TIMESTAMP (KIP-734): the offset and timestamp of the record with the
 * largest timestamp at or after the log start (the first such record), or
 * -1 / -1 for an empty log. Below the local WAL the manifest ranges' max
 * timestamps are used: the offset is then the start of the range holding it
 * (range granularity, as for timestamp lookups, docs/tiering.md). On a tie
 * the exact local record wins. */
static void rmq_lo_max_timestamp(rmq_broker_t *b, uint64_t stream, int64_t ls, int64_t hw, int64_t *off,
                                 int64_t *rec_ts) {
    int64_t ws = 0;
    rmq_store_stream_wal_start(b->store, stream, &ws);
    bool tiered = false;
    int64_t t_off = -1, t_ts = -1;
    for (int64_t at = ls; ws > ls;) {
        rmq_meta_obj_loc_t *locs = NULL;
        size_t n = 0;
        if (rmq_meta_state_manifest_find(b->state, stream, at, 64, &locs, &n) != RMQ_NONE || n == 0) {
            free(locs);
            break;
        }
        bool past = false;
        for (size_t i = 0; i < n && !past; i++) {
            const rmq_meta_obj_range_t *r = &locs[i].range;
            if (r->base_offset >= ws) past = true;
            else if (!tiered || r->max_ts > t_ts) {
                tiered = true;
                t_ts = r->max_ts;
                t_off = r->base_offset > ls ? r->base_offset : ls;
            }
        }
        at = locs[n - 1].range.end_offset;
        free(locs);
        if (past || n < 64) break;
    }
    rmq_lo_local_max(b, stream, ls, ws, hw, off, rec_ts);
    if (tiered && (*off < 0 || t_ts > *rec_ts)) {
        *off = t_off;
        *rec_ts = t_ts;
    }
}

/* LATEST_TIERED (KIP-1005): the highest offset uploaded to object storage
 * (the last offset of the stream's live manifest ranges), -1 when nothing
 * is uploaded. */
static int64_t rmq_lo_latest_tiered(rmq_broker_t *b, uint64_t stream) {
    int64_t end = 0;
    size_t n = 0;
    if (!rmq_meta_state_manifest_stream(b->state, stream, NULL, &end, NULL, &n) || n == 0) return -1;
    return end - 1;
}

/* The partition's leader epoch (the one Metadata reports) in *epoch, and
 * current_leader_epoch (v4+, else -1) checked against it, like Kafka's
 * Partition.checkCurrentLeaderEpoch: -1 = not checked, older =
 * FENCED_LEADER_EPOCH, newer = UNKNOWN_LEADER_EPOCH. */
static rmq_err_t rmq_lo_check_epoch(rmq_broker_t *b, const char *topic, int32_t partition, int32_t want,
                                    int32_t *epoch) {
    rmq_err_t err = RMQ_NONE;
    rmq_meta_state_rdlock(b->state);
    const rmq_meta_topic_t *t = rmq_meta_state_find_topic(b->state, topic);
    if (!t || partition < 0 || partition >= t->n_partitions) {
        err = RMQ_UNKNOWN_TOPIC_OR_PARTITION;
    } else {
        *epoch = t->partitions[partition].leader_epoch;
        if (want != -1) err = rmq_leader_epoch_cmp(want, *epoch);
    }
    rmq_meta_state_unlock(b->state);
    return err;
}

/* ListOffsets: -2 earliest, -1 latest (high watermark), -3 the record with
 * the largest timestamp, -4 earliest local, -5 latest tiered, else the
 * first record whose timestamp >= the given one. */
void rmq_h_list_offsets(rmq_req_t *req) {
    rmq_broker_t *b = req->b;
    rmq_kmsg_list_offsets_request_t *rq = req->body;
    rmq_kmsg_list_offsets_response_t *r = rmq_req_new_response(req);
    if (!r) {
        rmq_req_finish(req);
        return;
    }
    const rmq_kafka_msg_desc_t *td = rmq_kdesc_sub(&rmq_kmsg_list_offsets_response_desc, "topics");
    const rmq_kafka_msg_desc_t *pdd = rmq_kdesc_sub(td, "partitions");
    int32_t nt = rq->topics.n > 0 ? rq->topics.n : 0;
    rmq_kmsg_list_offsets_response_list_offsets_topic_response_t *tr = RMQ_REQ_ARRAY(req, td, nt, r->topics);
    for (int32_t i = 0; tr && i < nt; i++) {
        const rmq_kmsg_list_offsets_request_list_offsets_topic_t *t = &rq->topics.v[i];
        tr[i].name = t->name;
        char *topic = rmq_req_cstr(req, t->name);
        int32_t np = t->partitions.n > 0 ? t->partitions.n : 0;
        rmq_kmsg_list_offsets_response_list_offsets_partition_response_t *pr = RMQ_REQ_ARRAY(req, pdd, np, tr[i].partitions);
        for (int32_t j = 0; pr && topic && j < np; j++) {
            const rmq_kmsg_list_offsets_request_list_offsets_partition_t *p = &t->partitions.v[j];
            pr[j].partition_index = p->partition_index;
            pr[j].timestamp = -1;
            pr[j].offset = -1;
            pr[j].leader_epoch = -1;
            uint64_t stream;
            if (rmq_broker_stream_of(b, topic, p->partition_index, &stream)) {
                pr[j].error_code = RMQ_UNKNOWN_TOPIC_OR_PARTITION;
                continue;
            }
            int32_t epoch = -1;
            rmq_err_t eerr = rmq_lo_check_epoch(b, topic, p->partition_index,
                                                req->hdr.api_version >= 4 ? p->current_leader_epoch : -1, &epoch);
            if (!eerr && b->cluster) /* quorum mode: only the leader's store has the partition */
                eerr = rmq_cluster_check_leader(b->state, topic, p->partition_index, b->o.node_id);
            if (eerr) {
                pr[j].error_code = rmq_err_to_wire(eerr);
                continue;
            }
            int64_t ls = 0, hw = 0, off = -1, ts = -1;
            rmq_store_stream_info(b->store, stream, &ls, &hw, NULL);
            if (p->timestamp == RMQ_LO_EARLIEST) {
                off = ls;
            } else if (p->timestamp == RMQ_LO_LATEST) {
                off = hw;
            } else if (p->timestamp == RMQ_LO_MAX_TIMESTAMP) {
                rmq_lo_max_timestamp(b, stream, ls, hw, &off, &ts);
            } else if (p->timestamp == RMQ_LO_EARLIEST_LOCAL) {
                /* Kafka answers the local log start, the first offset its
                 * local segments hold (below it only remote storage has
                 * data). RustMQ serves the whole log from log start on:
                 * fetches below the WAL are read back from the object
                 * tier transparently, so no offset between the log start
                 * and the WAL start is "remote only" for a client. The
                 * earliest offset this broker serves is the log start. */
                off = ls;
            } else if (p->timestamp == RMQ_LO_LATEST_TIERED) {
                off = rmq_lo_latest_tiered(b, stream);
            } else {
                rmq_err_t err = rmq_lo_by_timestamp(b, stream, p->timestamp, ls, hw, &off, &ts);
                if (err) {
                    pr[j].error_code = rmq_err_to_wire(err);
                    continue;
                }
            }
            pr[j].offset = off;
            pr[j].timestamp = ts;
            /* No per-offset epoch history is kept (Kafka answers the
             * epoch of the batch holding the offset): a found offset
             * carries the partition's current leader epoch, none -1. */
            if (off >= 0) pr[j].leader_epoch = epoch;
            if (req->hdr.api_version == 0) {
                int64_t *v = rmq_arena_alloc(&req->arena, sizeof *v);
                if (v && off >= 0) {
                    *v = off;
                    pr[j].old_style_offsets.n = 1;
                    pr[j].old_style_offsets.v = v;
                }
            }
        }
    }
    rmq_req_finish(req);
}
