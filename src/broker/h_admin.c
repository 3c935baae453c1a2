/* h_admin.c - topic administration and producer ids: CreateTopics,
 * DeleteTopics, CreatePartitions, DescribeConfigs, AlterConfigs,
 * IncrementalAlterConfigs, InitProducerId, DeleteRecords.
 *
 * Every change is a command proposed to the metadata store (meta_store.h),
 * which validates it (names, partition counts, config keys and values) and
 * applies it; its Kafka error code and message go back to the client as is.
 * Proposals block the I/O thread for one fdatasync of the metadata log;
 * these are rare administrative calls. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/broker_int.h"
#include "common/log.h"
#include "controller/meta_validate.h"

#define RMQ_RES_TOPIC 2
#define RMQ_RES_BROKER 4
#define RMQ_CFG_SOURCE_STATIC_BROKER 4

static rmq_kstr_t rmq_msg_or_null(rmq_req_t *req, const char *msg) {
    return msg && *msg ? rmq_req_kstr(req, msg) : (rmq_kstr_t){NULL, -1};
}

/* ---- CreateTopics ---- */

void rmq_h_create_topics(rmq_req_t *req) {
    rmq_broker_t *b = req->b;
    rmq_kmsg_create_topics_request_t *rq = req->body;
    rmq_kmsg_create_topics_response_t *r = rmq_req_new_response(req);
    if (!r) {
        rmq_req_finish(req);
        return;
    }
    const rmq_kafka_msg_desc_t *td = rmq_kdesc_sub(&rmq_kmsg_create_topics_response_desc, "topics");
    int32_t n = rq->topics.n > 0 ? rq->topics.n : 0;
    rmq_kmsg_create_topics_response_creatable_topic_result_t *tr = RMQ_REQ_ARRAY(req, td, n, r->topics);
    for (int32_t i = 0; tr && i < n; i++) {
        const rmq_kmsg_create_topics_request_creatable_topic_t *t = &rq->topics.v[i];
        tr[i].name = t->name;
        char *name = rmq_req_cstr(req, t->name);
        char msg[256] = "";
        if (t->assignments.n > 0) {
            tr[i].error_code = RMQ_INVALID_REQUEST;
            tr[i].error_message = rmq_req_kstr(req, "manual replica assignments are not supported");
            continue;
        }
        int32_t nc = t->configs.n > 0 ? t->configs.n : 0;
        rmq_meta_kv_t *kv = nc ? rmq_arena_alloc(&req->arena, (size_t)nc * sizeof *kv) : NULL;
        int32_t k = 0;
        for (int32_t j = 0; j < nc && kv; j++) {
            if (t->configs.v[j].value.len < 0) continue; /* null value: keep the default */
            kv[k].key = rmq_req_cstr(req, t->configs.v[j].name);
            kv[k].value = rmq_req_cstr(req, t->configs.v[j].value);
            k++;
        }
        rmq_meta_uuid_t id;
        memset(&id, 0, sizeof id);
        rmq_err_t err = rmq_broker_create_topic(b, name, t->num_partitions, t->replication_factor, kv, (uint32_t)k,
                                                rq->validate_only, &id, msg, sizeof msg);
        tr[i].error_code = rmq_err_to_wire(err);
        tr[i].error_message = rmq_msg_or_null(req, msg);
        if (!err) {
            memcpy(tr[i].topic_id.b, id.b, 16);
            tr[i].num_partitions = t->num_partitions == -1 ? b->o.default_partitions : t->num_partitions;
            tr[i].replication_factor = t->replication_factor == -1 ? b->o.default_replication_factor
                                                                   : t->replication_factor;
        } else {
            tr[i].num_partitions = -1;
            tr[i].replication_factor = -1;
        }
        tr[i].configs.n = -1; /* v5+: we do not echo configs (nullable) */
    }
    rmq_req_finish(req);
}

/* ---- DeleteTopics ---- */


void rmq_h_delete_topics(rmq_req_t *req) {
    rmq_broker_t *b = req->b;
    rmq_kmsg_delete_topics_request_t *rq = req->body;
    rmq_kmsg_delete_topics_response_t *r = rmq_req_new_response(req);
    if (!r) {
        rmq_req_finish(req);
        return;
    }
    const rmq_kafka_msg_desc_t *td = rmq_kdesc_sub(&rmq_kmsg_delete_topics_response_desc, "responses");
    bool v6 = req->hdr.api_version >= 6;
    int32_t n = v6 ? rq->topics.n : rq->topic_names.n;
    if (n < 0) n = 0;
    rmq_kmsg_delete_topics_response_deletable_topic_result_t *tr = RMQ_REQ_ARRAY(req, td, n, r->responses);
    for (int32_t i = 0; tr && i < n; i++) {
        char msg[256] = "";
        rmq_err_t err;
        if (v6) {
            const rmq_kmsg_delete_topics_request_delete_topic_state_t *t = &rq->topics.v[i];
            tr[i].name = t->name;
            tr[i].topic_id = t->topic_id;
            char *name = t->name.len >= 0 ? rmq_req_cstr(req, t->name) : NULL;
            err = rmq_broker_delete_topic(b, name, (const rmq_meta_uuid_t *)&t->topic_id, msg, sizeof msg);
        } else {
            tr[i].name = rq->topic_names.v[i];
            err = rmq_broker_delete_topic(b, rmq_req_cstr(req, rq->topic_names.v[i]), NULL, msg, sizeof msg);
        }
        tr[i].error_code = rmq_err_to_wire(err);
        tr[i].error_message = rmq_msg_or_null(req, err ? msg : NULL);
    }
    rmq_req_finish(req);
}

/* ---- CreatePartitions ---- */

void rmq_h_create_partitions(rmq_req_t *req) {
    rmq_broker_t *b = req->b;
    rmq_kmsg_create_partitions_request_t *rq = req->body;
    rmq_kmsg_create_partitions_response_t *r = rmq_req_new_response(req);
    if (!r) {
        rmq_req_finish(req);
        return;
    }
    const rmq_kafka_msg_desc_t *td = rmq_kdesc_sub(&rmq_kmsg_create_partitions_response_desc, "results");
    int32_t n = rq->topics.n > 0 ? rq->topics.n : 0;
    rmq_kmsg_create_partitions_response_create_partitions_topic_result_t *tr = RMQ_REQ_ARRAY(req, td, n, r->results);
    for (int32_t i = 0; tr && i < n; i++) {
        const rmq_kmsg_create_partitions_request_create_partitions_topic_t *t = &rq->topics.v[i];
        tr[i].name = t->name;
        if (t->assignments.n > 0) {
            tr[i].error_code = RMQ_INVALID_REQUEST;
            tr[i].error_message = rmq_req_kstr(req, "manual replica assignments are not supported");
            continue;
        }
        char msg[256];
        rmq_err_t err =
            rmq_broker_create_partitions(b, rmq_req_cstr(req, t->name), t->count, rq->validate_only, msg, sizeof msg);
        tr[i].error_code = rmq_err_to_wire(err);
        tr[i].error_message = rmq_msg_or_null(req, err ? msg : NULL);
    }
    rmq_req_finish(req);
}

/* ---- DescribeConfigs ---- */

typedef rmq_kmsg_describe_configs_response_describe_configs_resource_result_t rmq_dc_entry_t;

static bool rmq_key_wanted(const rmq_karr_str_t *keys, const char *name) {
    if (keys->n < 0) return true;
    for (int32_t i = 0; i < keys->n; i++)
        if (rmq_kstr_eq(keys->v[i], name)) return true;
    return false;
}

static void rmq_describe_topic(rmq_req_t *req, const char *topic, const rmq_karr_str_t *keys, bool docs,
                               rmq_kmsg_describe_configs_response_describe_configs_result_t *res,
                               const rmq_kafka_msg_desc_t *ed) {
    size_t nd;
    const rmq_meta_config_def_t *defs = rmq_meta_config_defs(&nd);
    rmq_dc_entry_t *e = rmq_req_array(req, ed, (int32_t)nd);
    if (!e) {
        res->error_code = RMQ_UNKNOWN_SERVER_ERROR;
        return;
    }
    int32_t k = 0;
    for (size_t i = 0; i < nd; i++) {
        if (!rmq_key_wanted(keys, defs[i].name)) continue;
        char val[1024];
        bool over = false;
        rmq_err_t err = rmq_meta_state_config(req->b->state, topic, defs[i].name, val, sizeof val, &over);
        if (err == RMQ_UNKNOWN_TOPIC_OR_PARTITION) {
            res->error_code = RMQ_UNKNOWN_TOPIC_OR_PARTITION;
            res->error_message = rmq_req_kstr(req, "unknown topic");
            return;
        }
        if (err && err != RMQ_ERR_TOO_LARGE) continue;
        if (!over && strcmp(defs[i].name, "max.message.bytes") == 0)
            snprintf(val, sizeof val, "%d", req->b->o.max_message_bytes);
        e[k].name = rmq_req_kstr(req, defs[i].name);
        e[k].value = defs[i].sensitive ? (rmq_kstr_t){NULL, -1} : rmq_req_kstr(req, val);
        e[k].read_only = false;
        e[k].is_default = !over;
        e[k].config_source = over ? RMQ_META_CFG_SOURCE_DYNAMIC_TOPIC : RMQ_META_CFG_SOURCE_DEFAULT;
        e[k].is_sensitive = defs[i].sensitive;
        e[k].synonyms.n = 0;
        e[k].config_type = (int8_t)defs[i].type;
        e[k].documentation = docs && defs[i].doc ? rmq_req_kstr(req, defs[i].doc) : (rmq_kstr_t){NULL, -1};
        k++;
    }
    res->configs.n = k;
    res->configs.v = e;
}

static void rmq_describe_broker(rmq_req_t *req, const rmq_karr_str_t *keys,
                                rmq_kmsg_describe_configs_response_describe_configs_result_t *res,
                                const rmq_kafka_msg_desc_t *ed) {
    rmq_broker_t *b = req->b;
    char v[6][64];
    const char *names[6] = {"broker.id", "auto.create.topics.enable", "num.partitions",
                            "default.replication.factor", "message.max.bytes", "log.dirs"};
    snprintf(v[0], sizeof v[0], "%d", b->o.node_id);
    snprintf(v[1], sizeof v[1], "%s", b->o.auto_create_topics ? "true" : "false");
    snprintf(v[2], sizeof v[2], "%d", b->o.default_partitions);
    snprintf(v[3], sizeof v[3], "%d", b->o.default_replication_factor);
    snprintf(v[4], sizeof v[4], "%d", b->o.max_message_bytes);
    snprintf(v[5], sizeof v[5], "%.63s", b->wal_dir);
    const int8_t types[6] = {RMQ_META_CFG_INT, RMQ_META_CFG_BOOLEAN, RMQ_META_CFG_INT, RMQ_META_CFG_SHORT,
                             RMQ_META_CFG_INT, RMQ_META_CFG_STRING};
    rmq_dc_entry_t *e = rmq_req_array(req, ed, 6);
    int32_t k = 0;
    for (int i = 0; e && i < 6; i++) {
        if (!rmq_key_wanted(keys, names[i])) continue;
        e[k].name = rmq_req_kstr(req, names[i]);
        e[k].value = rmq_req_kstr(req, v[i]);
        e[k].read_only = true;
        e[k].is_default = false;
        e[k].config_source = RMQ_CFG_SOURCE_STATIC_BROKER;
        e[k].config_type = types[i];
        e[k].synonyms.n = 0;
        k++;
    }
    res->configs.n = k;
    res->configs.v = e;
}

void rmq_h_describe_configs(rmq_req_t *req) {
    rmq_broker_t *b = req->b;
    rmq_kmsg_describe_configs_request_t *rq = req->body;
    rmq_kmsg_describe_configs_response_t *r = rmq_req_new_response(req);
    if (!r) {
        rmq_req_finish(req);
        return;
    }
    const rmq_kafka_msg_desc_t *rd = rmq_kdesc_sub(&rmq_kmsg_describe_configs_response_desc, "results");
    const rmq_kafka_msg_desc_t *ed = rmq_kdesc_sub(rd, "configs");
    int32_t n = rq->resources.n > 0 ? rq->resources.n : 0;
    rmq_kmsg_describe_configs_response_describe_configs_result_t *res = RMQ_REQ_ARRAY(req, rd, n, r->results);
    for (int32_t i = 0; res && i < n; i++) {
        const rmq_kmsg_describe_configs_request_describe_configs_resource_t *q = &rq->resources.v[i];
        res[i].resource_type = q->resource_type;
        res[i].resource_name = q->resource_name;
        res[i].configs.n = 0;
        char *name = rmq_req_cstr(req, q->resource_name);
        if (q->resource_type == RMQ_RES_TOPIC) {
            rmq_describe_topic(req, name, &q->configuration_keys, rq->include_documentation, &res[i], ed);
        } else if (q->resource_type == RMQ_RES_BROKER) {
            if (*name && atoi(name) != b->o.node_id) {
                res[i].error_code = RMQ_INVALID_REQUEST;
                res[i].error_message = rmq_req_kstr(req, "unknown broker id");
            } else {
                rmq_describe_broker(req, &q->configuration_keys, &res[i], ed);
            }
        } else {
            res[i].error_code = RMQ_INVALID_REQUEST;
            res[i].error_message = rmq_req_kstr(req, "unsupported resource type");
        }
    }
    rmq_req_finish(req);
}

/* ---- AlterConfigs / IncrementalAlterConfigs ---- */

void rmq_h_alter_configs(rmq_req_t *req) {
    rmq_broker_t *b = req->b;
    rmq_kmsg_alter_configs_request_t *rq = req->body;
    rmq_kmsg_alter_configs_response_t *r = rmq_req_new_response(req);
    if (!r) {
        rmq_req_finish(req);
        return;
    }
    const rmq_kafka_msg_desc_t *rd = rmq_kdesc_sub(&rmq_kmsg_alter_configs_response_desc, "responses");
    int32_t n = rq->resources.n > 0 ? rq->resources.n : 0;
    rmq_kmsg_alter_configs_response_alter_configs_resource_response_t *res = RMQ_REQ_ARRAY(req, rd, n, r->responses);
    for (int32_t i = 0; res && i < n; i++) {
        const rmq_kmsg_alter_configs_request_alter_configs_resource_t *q = &rq->resources.v[i];
        res[i].resource_type = q->resource_type;
        res[i].resource_name = q->resource_name;
        if (q->resource_type != RMQ_RES_TOPIC) {
            res[i].error_code = RMQ_INVALID_REQUEST;
            res[i].error_message = rmq_req_kstr(req, "only topic configs can be altered");
            continue;
        }
        char *topic = rmq_req_cstr(req, q->resource_name);
        /* AlterConfigs replaces the whole set: delete overrides not named */
        int32_t nc = q->configs.n > 0 ? q->configs.n : 0;
        rmq_meta_state_rdlock(b->state);
        const rmq_meta_topic_t *t = rmq_meta_state_find_topic(b->state, topic);
        size_t nold = t ? t->n_configs : 0;
        rmq_meta_cfg_alter_t *ops = rmq_arena_alloc(&req->arena, ((size_t)nc + nold + 1) * sizeof *ops);
        uint32_t k = 0;
        for (size_t j = 0; t && ops && j < nold; j++) {
            bool kept = false;
            for (int32_t m = 0; m < nc && !kept; m++) kept = rmq_kstr_eq(q->configs.v[m].name, t->configs[j].key);
            if (kept) continue;
            ops[k].key = rmq_arena_strndup(&req->arena, t->configs[j].key, strlen(t->configs[j].key));
            ops[k].op = RMQ_META_CFG_DELETE;
            ops[k].value = NULL;
            k++;
        }
        rmq_meta_state_unlock(b->state);
        if (!t) {
            res[i].error_code = RMQ_UNKNOWN_TOPIC_OR_PARTITION;
            continue;
        }
        for (int32_t m = 0; ops && m < nc; m++) {
            ops[k].key = rmq_req_cstr(req, q->configs.v[m].name);
            ops[k].op = q->configs.v[m].value.len < 0 ? RMQ_META_CFG_DELETE : RMQ_META_CFG_SET;
            ops[k].value = rmq_req_cstr(req, q->configs.v[m].value);
            k++;
        }
        char msg[256] = "";
        rmq_err_t err = ops ? rmq_broker_alter_topic(b, topic, ops, k, rq->validate_only, msg, sizeof msg) : RMQ_ERR_NOMEM;
        res[i].error_code = rmq_err_to_wire(err);
        res[i].error_message = rmq_msg_or_null(req, err ? msg : NULL);
    }
    rmq_req_finish(req);
}

void rmq_h_incremental_alter_configs(rmq_req_t *req) {
    rmq_kmsg_incremental_alter_configs_request_t *rq = req->body;
    rmq_kmsg_incremental_alter_configs_response_t *r = rmq_req_new_response(req);
    if (!r) {
        rmq_req_finish(req);
        return;
    }
    const rmq_kafka_msg_desc_t *rd = rmq_kdesc_sub(&rmq_kmsg_incremental_alter_configs_response_desc, "responses");
    int32_t n = rq->resources.n > 0 ? rq->resources.n : 0;
    rmq_kmsg_incremental_alter_configs_response_alter_configs_resource_response_t *res = RMQ_REQ_ARRAY(req, rd, n, r->responses);
    for (int32_t i = 0; res && i < n; i++) {
        const rmq_kmsg_incremental_alter_configs_request_alter_configs_resource_t *q = &rq->resources.v[i];
        res[i].resource_type = q->resource_type;
        res[i].resource_name = q->resource_name;
        if (q->resource_type != RMQ_RES_TOPIC) {
            res[i].error_code = RMQ_INVALID_REQUEST;
            res[i].error_message = rmq_req_kstr(req, "only topic configs can be altered");
            continue;
        }
        int32_t nc = q->configs.n > 0 ? q->configs.n : 0;
        rmq_meta_cfg_alter_t *ops = rmq_arena_alloc(&req->arena, ((size_t)nc + 1) * sizeof *ops);
        rmq_err_t err = ops ? 0 : RMQ_ERR_NOMEM;
        char msg[256] = "";
        for (int32_t m = 0; ops && m < nc && !err; m++) {
            int8_t op = q->configs.v[m].config_operation;
            ops[m].key = rmq_req_cstr(req, q->configs.v[m].name);
            ops[m].value = rmq_req_cstr(req, q->configs.v[m].value);
            if (op == 0) {
                ops[m].op = RMQ_META_CFG_SET;
            } else if (op == 1) {
                ops[m].op = RMQ_META_CFG_DELETE;
            } else {
                /* APPEND/SUBTRACT apply to list configs; only cleanup.policy
                 * is a list here and SET covers it */
                err = RMQ_INVALID_REQUEST;
                snprintf(msg, sizeof msg, "config operation %d (APPEND/SUBTRACT) is not supported; use SET", op);
            }
        }
        if (!err) err = rmq_broker_alter_topic(req->b, rmq_req_cstr(req, q->resource_name), ops, (uint32_t)nc,
                                               rq->validate_only, msg, sizeof msg);
        res[i].error_code = rmq_err_to_wire(err);
        res[i].error_message = rmq_msg_or_null(req, err ? msg : NULL);
    }
    rmq_req_finish(req);
}

/* ---- InitProducerId ---- */

void rmq_h_init_producer_id(rmq_req_t *req) {
    rmq_broker_t *b = req->b;
    rmq_kmsg_init_producer_id_request_t *rq = req->body;
    rmq_kmsg_init_producer_id_response_t *r = rmq_req_new_response(req);
    if (!r) {
        rmq_req_finish(req);
        return;
    }
    if (rq->transactional_id.len >= 0) {
        r->error_code = RMQ_TRANSACTIONAL_ID_AUTHORIZATION_FAILED;
        r->producer_id = -1;
        r->producer_epoch = -1;
        rmq_req_finish(req);
        return;
    }
    if (rq->producer_id >= 0 && rq->producer_epoch >= 0 && rq->producer_epoch < INT16_MAX - 1) {
        /* KIP-360: an idempotent producer bumps its epoch after an error */
        r->producer_id = rq->producer_id;
        r->producer_epoch = (int16_t)(rq->producer_epoch + 1);
    } else {
        /* ids are unique across restarts: they start at wall-clock ms * 1000 */
        r->producer_id = atomic_fetch_add(&b->next_pid, 1);
        r->producer_epoch = 0;
    }
    r->error_code = 0;
    rmq_req_finish(req);
}

/* ---- DeleteRecords ---- */

void rmq_h_delete_records(rmq_req_t *req) {
    rmq_broker_t *b = req->b;
    rmq_kmsg_delete_records_request_t *rq = req->body;
    rmq_kmsg_delete_records_response_t *r = rmq_req_new_response(req);
    if (!r) {
        rmq_req_finish(req);
        return;
    }
    const rmq_kafka_msg_desc_t *td = rmq_kdesc_sub(&rmq_kmsg_delete_records_response_desc, "topics");
    const rmq_kafka_msg_desc_t *pdd = rmq_kdesc_sub(td, "partitions");
    int32_t nt = rq->topics.n > 0 ? rq->topics.n : 0;
    rmq_kmsg_delete_records_response_delete_records_topic_result_t *tr = RMQ_REQ_ARRAY(req, td, nt, r->topics);
    for (int32_t i = 0; tr && i < nt; i++) {
        const rmq_kmsg_delete_records_request_delete_records_topic_t *t = &rq->topics.v[i];
        tr[i].name = t->name;
        char *topic = rmq_req_cstr(req, t->name);
        int32_t np = t->partitions.n > 0 ? t->partitions.n : 0;
        rmq_kmsg_delete_records_response_delete_records_partition_result_t *pr = RMQ_REQ_ARRAY(req, pdd, np, tr[i].partitions);
        for (int32_t j = 0; pr && j < np; j++) {
            const rmq_kmsg_delete_records_request_delete_records_partition_t *p = &t->partitions.v[j];
            pr[j].partition_index = p->partition_index;
            pr[j].low_watermark = -1;
            uint64_t stream;
            if (rmq_broker_stream_of(b, topic, p->partition_index, &stream)) {
                pr[j].error_code = RMQ_UNKNOWN_TOPIC_OR_PARTITION;
                continue;
            }
            int64_t ls = 0, hw = 0;
            rmq_store_stream_info(b->store, stream, &ls, &hw, NULL);
            if (p->offset < -1 || p->offset > hw) {
                pr[j].error_code = RMQ_OFFSET_OUT_OF_RANGE;
                continue;
            }
            rmq_err_t err = p->offset < ls && p->offset != -1 ? 0 : rmq_store_trim(b->store, stream, p->offset);
            pr[j].error_code = rmq_err_to_wire(err);
            rmq_store_stream_info(b->store, stream, &ls, NULL, NULL);
            pr[j].low_watermark = ls;
        }
    }
    rmq_req_finish(req);
}
