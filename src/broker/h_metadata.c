/* h_metadata.c - Metadata, DescribeCluster and ListOffsets: answers built
 * from the metadata state machine (topics, partitions, cluster id) and the
 * store's offsets. Metadata creates missing topics when auto-creation is on
 * in the broker config and the client allows it. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/broker_int.h"
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

/* Refine a batch-level timestamp lookup to the first record whose
 * timestamp >= ts (Kafka's answer). *off is the batch base offset found by
 * the store; on success *off and *rec_ts are the record's. */
static void rmq_list_offsets_refine(rmq_broker_t *b, uint64_t stream, int64_t ts, int64_t *off, int64_t *rec_ts) {
    rmq_store_read_t rd;
    memset(&rd, 0, sizeof rd);
    if (rmq_store_read(b->store, stream, *off, 1, &rd) == 0 && rd.iovcnt > 0) {
        rmq_rb_batches_t it;
        rmq_rb_batch_t bt;
        rmq_rb_batches_init(&it, rd.iov[0].iov_base, rd.iov[0].iov_len, RMQ_RB_F_NO_CRC);
        if (rmq_rb_batches_next(&it, &bt)) {
            rmq_buf_t scratch;
            rmq_buf_init(&scratch);
            rmq_rb_iter_t ri;
            rmq_rb_record_t rec;
            if (rmq_rb_iter_init(&ri, &bt, &scratch, 256u << 20, 0) == 0) {
                while (rmq_rb_iter_next(&ri, &rec)) {
                    int64_t t = bt.h.base_timestamp + rec.timestamp_delta;
                    if (bt.h.attributes & RMQ_RB_ATTR_LOG_APPEND_TIME) t = bt.h.max_timestamp;
                    if (t >= ts) {
                        *off = bt.h.base_offset + rec.offset_delta;
                        *rec_ts = t;
                        break;
                    }
                }
            }
            rmq_buf_free(&scratch);
        }
    }
    rmq_store_read_release(&rd);
}

/* ListOffsets: -2 earliest, -1 latest, -3 max timestamp, else first offset
 * whose batch max timestamp >= the given timestamp. */
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
            pr[j].leader_epoch = 0;
            uint64_t stream;
            if (rmq_broker_stream_of(b, topic, p->partition_index, &stream)) {
                pr[j].error_code = RMQ_UNKNOWN_TOPIC_OR_PARTITION;
                continue;
            }
            int64_t ls = 0, hw = 0, off = -1;
            rmq_store_stream_info(b->store, stream, &ls, &hw, NULL);
            if (p->timestamp == -2) {
                off = ls;
            } else if (p->timestamp == -1 || p->timestamp == -3) {
                off = hw;
            } else {
                rmq_err_t err = rmq_store_offset_for_timestamp(b->store, stream, p->timestamp, &off);
                if (err) {
                    pr[j].error_code = rmq_err_to_wire(err);
                    continue;
                }
                /* below the local WAL (uploaded and reclaimed): the
                 * manifest; at and above it the local index is exact */
                int64_t ws = 0;
                rmq_store_stream_wal_start(b->store, stream, &ws);
                int64_t toff = ws > ls ? rmq_btier_offset_for_timestamp(b, stream, p->timestamp, ls) : -1;
                if (toff >= 0 && toff < ws) {
                    off = toff; /* range granularity; its timestamp is not known here */
                } else if (off >= 0) {
                    int64_t rec_ts = p->timestamp;
                    rmq_list_offsets_refine(b, stream, p->timestamp, &off, &rec_ts);
                    pr[j].timestamp = rec_ts;
                }
            }
            pr[j].offset = off;
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
