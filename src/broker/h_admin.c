/* h_admin.c - topic administration and producer ids: CreateTopics,
 * DeleteTopics, CreatePartitions, DescribeConfigs, AlterConfigs,
 * IncrementalAlterConfigs, InitProducerId, DeleteRecords.
 *
 * Every change is a command proposed to the metadata store (meta_store.h),
 * which validates it (names, partition counts, config keys and values) and
 * applies it; its Kafka error code and message go back to the client as is.
 * Proposals block the I/O thread for one fdatasync of the metadata log;
 * these are rare administrative calls.
 *
 * What the state machine cannot see is checked here, before proposing, with
 * Kafka's codes: a topic or config resource named twice in one request
 * (INVALID_REQUEST for every entry with that name, nothing done for it),
 * null config values, and IncrementalAlterConfigs APPEND/SUBTRACT, which
 * are turned into a SET of the resulting list (read from the current state,
 * so a concurrent change of the same key between the read and the proposal
 * can be overwritten, as with Kafka's own read-modify-write). */
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

/* ---- names given more than once in one request ---- */

/* One entry's key: kind (resource type, or name vs id) and the bytes. */
typedef struct rmq_dup_key {
    int32_t kind;
    rmq_kstr_t s; /* borrowed from the request */
    int32_t i;    /* the entry's index */
} rmq_dup_key_t;

static int rmq_dup_key_cmp(const void *pa, const void *pb) {
    const rmq_dup_key_t *a = pa, *b = pb;
    if (a->kind != b->kind) return a->kind < b->kind ? -1 : 1;
    if (a->s.len != b->s.len) return a->s.len < b->s.len ? -1 : 1;
    int c = a->s.len > 0 ? memcmp(a->s.ptr, b->s.ptr, (size_t)a->s.len) : 0;
    return c ? c : (a->i > b->i) - (a->i < b->i);
}

static bool rmq_dup_key_same(const rmq_dup_key_t *a, const rmq_dup_key_t *b) {
    return a->kind == b->kind && a->s.len == b->s.len &&
           (a->s.len <= 0 || !memcmp(a->s.ptr, b->s.ptr, (size_t)a->s.len));
}

/* Marks in the returned array (request arena, n entries) the entries of
 * keys[0..n) whose key occurs more than once. keys is reordered. NULL
 * when n <= 1 (nothing can repeat) or on OOM (then nothing is marked). */
static bool *rmq_find_dups(rmq_req_t *req, rmq_dup_key_t *keys, int32_t n) {
    if (n <= 1) return NULL;
    bool *dup = rmq_arena_alloc(&req->arena, (size_t)n * sizeof *dup);
    if (!dup) return NULL;
    memset(dup, 0, (size_t)n * sizeof *dup);
    qsort(keys, (size_t)n, sizeof *keys, rmq_dup_key_cmp);
    for (int32_t i = 1; i < n; i++)
        if (rmq_dup_key_same(&keys[i - 1], &keys[i])) dup[keys[i - 1].i] = dup[keys[i].i] = true;
    return dup;
}

/* Key array for rmq_find_dups (request arena), NULL when n <= 1 or OOM. */
static rmq_dup_key_t *rmq_dup_keys(rmq_req_t *req, int32_t n) {
    return n > 1 ? rmq_arena_alloc(&req->arena, (size_t)n * sizeof(rmq_dup_key_t)) : NULL;
}

/* Append ", name" (or "name" first) to msg[0..cap), truncating. */
static void rmq_msg_add_name(char *msg, size_t cap, rmq_kstr_t name) {
    size_t len = strlen(msg);
    if (len + 1 >= cap) return;
    snprintf(msg + len, cap - len, "%s%.*s", len ? ", " : "", name.len > 0 ? (int)name.len : 0,
             name.len > 0 ? name.ptr : "");
}

/* Kafka's ConfigAdminManager checks for one AlterConfigs or
 * IncrementalAlterConfigs resource (n configs, names[i] / values[i] /
 * deletes[i], deletes may be NULL): a key named twice, then a null value
 * in anything but a DELETE; RMQ_INVALID_REQUEST with Kafka's message. */
static rmq_err_t rmq_check_alter_entries(rmq_req_t *req, int32_t n, const rmq_kstr_t *names,
                                         const rmq_kstr_t *values, const bool *deletes, char *msg, size_t cap) {
    rmq_dup_key_t *keys = rmq_dup_keys(req, n);
    for (int32_t i = 0; keys && i < n; i++) keys[i] = (rmq_dup_key_t){0, names[i], i};
    bool *dup = keys ? rmq_find_dups(req, keys, n) : NULL;
    for (int32_t i = 0; dup && i < n; i++)
        if (dup[i]) return rmq_meta_errf(RMQ_INVALID_REQUEST, msg, cap, "Error due to duplicate config keys");
    char nulls[200] = "";
    for (int32_t i = 0; i < n; i++)
        if (values[i].len < 0 && !(deletes && deletes[i])) rmq_msg_add_name(nulls, sizeof nulls, names[i]);
    if (*nulls) return rmq_meta_errf(RMQ_INVALID_REQUEST, msg, cap, "Null value not supported for : %s", nulls);
    return RMQ_NONE;
}

/* ---- topic config values as this broker reports them ---- */

/* Default of topic config d: the key table's, except max.message.bytes,
 * which is this broker's message.max.bytes. Static storage or buf. */
static const char *rmq_cfg_default(const rmq_broker_t *b, const rmq_meta_config_def_t *d, char *buf, size_t cap) {
    if (strcmp(d->name, "max.message.bytes") == 0) {
        snprintf(buf, cap, "%d", b->o.max_message_bytes);
        return buf;
    }
    return d->default_value;
}

/* Where a topic config's default comes from: STATIC_BROKER_CONFIG for
 * max.message.bytes when this broker's own message.max.bytes differs from
 * Kafka's built-in default, DEFAULT_CONFIG otherwise. */
static int8_t rmq_cfg_default_source(const rmq_broker_t *b, const rmq_meta_config_def_t *d) {
    char buf[32];
    const char *v = rmq_cfg_default(b, d, buf, sizeof buf);
    return strcmp(v, d->default_value) ? RMQ_CFG_SOURCE_STATIC_BROKER : RMQ_META_CFG_SOURCE_DEFAULT;
}

/* The broker-level config a topic config falls back to (Kafka's
 * LogConfig.TopicConfigSynonyms; each in the topic key's own unit). */
static const struct rmq_cfg_synonym {
    const char *topic, *broker;
} rmq_cfg_synonyms[] = {
    {"cleanup.policy", "log.cleanup.policy"},
    {"compression.type", "compression.type"},
    {"delete.retention.ms", "log.cleaner.delete.retention.ms"},
    {"file.delete.delay.ms", "log.segment.delete.delay.ms"},
    {"flush.messages", "log.flush.interval.messages"},
    {"flush.ms", "log.flush.interval.ms"},
    {"index.interval.bytes", "log.index.interval.bytes"},
    {"local.retention.bytes", "log.local.retention.bytes"},
    {"local.retention.ms", "log.local.retention.ms"},
    {"max.compaction.lag.ms", "log.cleaner.max.compaction.lag.ms"},
    {"max.message.bytes", "message.max.bytes"},
    {"message.downconversion.enable", "log.message.downconversion.enable"},
    {"message.timestamp.difference.max.ms", "log.message.timestamp.difference.max.ms"},
    {"message.timestamp.type", "log.message.timestamp.type"},
    {"min.cleanable.dirty.ratio", "log.cleaner.min.cleanable.ratio"},
    {"min.compaction.lag.ms", "log.cleaner.min.compaction.lag.ms"},
    {"min.insync.replicas", "min.insync.replicas"},
    {"preallocate", "log.preallocate"},
    {"retention.bytes", "log.retention.bytes"},
    {"retention.ms", "log.retention.ms"},
    {"segment.bytes", "log.segment.bytes"},
    {"segment.index.bytes", "log.index.size.max.bytes"},
    {"segment.jitter.ms", "log.roll.jitter.ms"},
    {"segment.ms", "log.roll.ms"},
    {"unclean.leader.election.enable", "unclean.leader.election.enable"},
};

/* NULL when topic_key has no broker-level synonym. A scan: DescribeConfigs
 * only, and no ordering of the table to keep. */
static const char *rmq_cfg_broker_synonym(const char *topic_key) {
    for (size_t i = 0; i < sizeof rmq_cfg_synonyms / sizeof rmq_cfg_synonyms[0]; i++)
        if (strcmp(rmq_cfg_synonyms[i].topic, topic_key) == 0) return rmq_cfg_synonyms[i].broker;
    return NULL;
}

/* ---- CreateTopics ---- */

/* CreateTopics v5+ configs of a created topic: every topic config, in
 * name order, with the value the request set (kv[0..nkv)) or the default,
 * like DescribeConfigs would answer. Arena-owned (empty on OOM). */
static void rmq_created_configs(rmq_req_t *req, const rmq_meta_kv_t *kv, int32_t nkv,
                                rmq_kmsg_create_topics_response_creatable_topic_result_t *tr,
                                const rmq_kafka_msg_desc_t *cd) {
    size_t nd;
    const rmq_meta_config_def_t *defs = rmq_meta_config_defs(&nd);
    rmq_kmsg_create_topics_response_creatable_topic_configs_t *c = RMQ_REQ_ARRAY(req, cd, (int32_t)nd, tr->configs);
    for (size_t i = 0; c && i < nd; i++) {
        const char *v = NULL;
        for (int32_t j = 0; j < nkv && !v; j++)
            if (strcmp(kv[j].key, defs[i].name) == 0) v = kv[j].value;
        bool over = v != NULL;
        char buf[32];
        if (!over) v = rmq_cfg_default(req->b, &defs[i], buf, sizeof buf);
        c[i].name = rmq_req_kstr(req, defs[i].name);
        c[i].value = defs[i].sensitive ? (rmq_kstr_t){NULL, -1} : rmq_req_kstr(req, v);
        c[i].read_only = false;
        c[i].config_source = over ? RMQ_META_CFG_SOURCE_DYNAMIC_TOPIC : rmq_cfg_default_source(req->b, &defs[i]);
        c[i].is_sensitive = defs[i].sensitive;
    }
}

void rmq_h_create_topics(rmq_req_t *req) {
    rmq_broker_t *b = req->b;
    rmq_kmsg_create_topics_request_t *rq = req->body;
    rmq_kmsg_create_topics_response_t *r = rmq_req_new_response(req);
    if (!r) {
        rmq_req_finish(req);
        return;
    }
    const rmq_kafka_msg_desc_t *td = rmq_kdesc_sub(&rmq_kmsg_create_topics_response_desc, "topics");
    const rmq_kafka_msg_desc_t *cd = rmq_kdesc_sub(td, "configs");
    int32_t n = rq->topics.n > 0 ? rq->topics.n : 0;
    rmq_kmsg_create_topics_response_creatable_topic_result_t *tr = RMQ_REQ_ARRAY(req, td, n, r->topics);
    rmq_dup_key_t *keys = rmq_dup_keys(req, n);
    for (int32_t i = 0; keys && i < n; i++) keys[i] = (rmq_dup_key_t){0, rq->topics.v[i].name, i};
    bool *dup = keys ? rmq_find_dups(req, keys, n) : NULL;
    char client[128];
    snprintf(client, sizeof client, "%.*s", req->hdr.client_id.len > 0 ? (int)req->hdr.client_id.len : 0,
             req->hdr.client_id.len > 0 ? req->hdr.client_id.ptr : "");
    for (int32_t i = 0; tr && i < n; i++) {
        const rmq_kmsg_create_topics_request_creatable_topic_t *t = &rq->topics.v[i];
        tr[i].name = t->name;
        tr[i].num_partitions = -1;
        tr[i].replication_factor = -1;
        tr[i].configs.n = 0; /* v5+: the created topic's configs, empty on error (as Kafka) */
        char *name = rmq_req_cstr(req, t->name);
        char msg[512] = "";
        rmq_err_t err = RMQ_NONE;
        int32_t nc = t->configs.n > 0 ? t->configs.n : 0;
        rmq_meta_kv_t *kv = nc ? rmq_arena_alloc(&req->arena, (size_t)nc * sizeof *kv) : NULL;
        if (dup && dup[i]) {
            err = rmq_meta_errf(RMQ_INVALID_REQUEST, msg, sizeof msg,
                                "Create topics request from client `%s` contains multiple entries for the "
                                "following topics: %.249s",
                                client, name ? name : "");
        } else if (t->assignments.n > 0) {
            err = rmq_meta_errf(RMQ_INVALID_REQUEST, msg, sizeof msg, "%s", "manual replica assignments are not supported");
        } else if (nc && !kv) {
            err = RMQ_ERR_NOMEM;
        }
        for (int32_t j = 0; !err && j < nc; j++) {
            kv[j].key = rmq_req_cstr(req, t->configs.v[j].name);
            kv[j].value = rmq_req_cstr(req, t->configs.v[j].value);
            /* Kafka: INVALID_CONFIG "Null value not supported for topic configs: <key>" */
            if (t->configs.v[j].value.len < 0) err = rmq_meta_validate_config(kv[j].key, NULL, msg, sizeof msg);
        }
        rmq_meta_uuid_t id;
        memset(&id, 0, sizeof id);
        if (!err)
            err = rmq_broker_create_topic(b, name, t->num_partitions, t->replication_factor, kv, (uint32_t)nc,
                                          rq->validate_only, &id, msg, sizeof msg);
        tr[i].error_code = rmq_err_to_wire(err);
        tr[i].error_message = rmq_msg_or_null(req, err ? msg : NULL);
        if (!err) {
            memcpy(tr[i].topic_id.b, id.b, 16);
            tr[i].num_partitions = t->num_partitions == -1 ? b->o.default_partitions : t->num_partitions;
            tr[i].replication_factor = t->replication_factor == -1 ? b->o.default_replication_factor
                                                                   : t->replication_factor;
            rmq_created_configs(req, kv, nc, &tr[i], cd);
        }
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
    /* a name, or (v6, no name) an id, given twice: Kafka answers
     * INVALID_REQUEST for it and deletes nothing for it */
    rmq_dup_key_t *keys = rmq_dup_keys(req, n);
    for (int32_t i = 0; keys && i < n; i++) {
        if (!v6) {
            keys[i] = (rmq_dup_key_t){0, rq->topic_names.v[i], i};
        } else if (rq->topics.v[i].name.len >= 0) {
            keys[i] = (rmq_dup_key_t){0, rq->topics.v[i].name, i};
        } else {
            rmq_kstr_t id = {(const char *)rq->topics.v[i].topic_id.b, 16};
            keys[i] = (rmq_dup_key_t){1, id, i};
        }
    }
    bool *dup = keys ? rmq_find_dups(req, keys, n) : NULL;
    for (int32_t i = 0; tr && i < n; i++) {
        char msg[256] = "";
        rmq_err_t err;
        if (v6) {
            const rmq_kmsg_delete_topics_request_delete_topic_state_t *t = &rq->topics.v[i];
            tr[i].name = t->name;
            tr[i].topic_id = t->topic_id;
            char *name = t->name.len >= 0 ? rmq_req_cstr(req, t->name) : NULL;
            if (!name) { /* by id: answer with the name it resolves to, as Kafka does */
                rmq_meta_state_rdlock(b->state);
                const rmq_meta_topic_t *mt =
                    rmq_meta_state_find_topic_id(b->state, (const rmq_meta_uuid_t *)&t->topic_id);
                if (mt) tr[i].name = rmq_req_kstr(req, mt->name);
                rmq_meta_state_unlock(b->state);
            }
            if (dup && dup[i])
                err = rmq_meta_errf(RMQ_INVALID_REQUEST, msg, sizeof msg, "%s",
                                    name ? "Duplicate topic name." : "Duplicate topic id.");
            else
                err = rmq_broker_delete_topic(b, name, (const rmq_meta_uuid_t *)&t->topic_id, msg, sizeof msg);
        } else {
            tr[i].name = rq->topic_names.v[i];
            if (dup && dup[i])
                err = rmq_meta_errf(RMQ_INVALID_REQUEST, msg, sizeof msg, "%s", "Duplicate topic name.");
            else
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
    rmq_dup_key_t *keys = rmq_dup_keys(req, n);
    for (int32_t i = 0; keys && i < n; i++) keys[i] = (rmq_dup_key_t){0, rq->topics.v[i].name, i};
    bool *dup = keys ? rmq_find_dups(req, keys, n) : NULL;
    for (int32_t i = 0; tr && i < n; i++) {
        const rmq_kmsg_create_partitions_request_create_partitions_topic_t *t = &rq->topics.v[i];
        tr[i].name = t->name;
        if (dup && dup[i]) {
            tr[i].error_code = RMQ_INVALID_REQUEST;
            tr[i].error_message = rmq_req_kstr(req, "Duplicate topic in request.");
            continue;
        }
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

/* DescribeConfigs include_synonyms (v1+), as Kafka's ConfigHelper lists
 * them, highest precedence first: the topic's own override
 * (DYNAMIC_TOPIC_CONFIG) when there is one, then the broker-level config
 * it falls back to, with the value this broker uses. Arena-owned; an
 * empty list on OOM. */
static void rmq_topic_synonyms(rmq_req_t *req, const rmq_meta_config_def_t *d, bool over, const char *val,
                               rmq_dc_entry_t *e, const rmq_kafka_msg_desc_t *ed) {
    const rmq_kafka_msg_desc_t *sd = rmq_kdesc_sub(ed, "synonyms");
    const char *bkey = rmq_cfg_broker_synonym(d->name);
    int32_t n = (over ? 1 : 0) + (bkey ? 1 : 0);
    rmq_kmsg_describe_configs_response_describe_configs_synonym_t *sy = n ? rmq_req_array(req, sd, n) : NULL;
    if (!sy) return;
    rmq_kstr_t hidden = {NULL, -1};
    int32_t k = 0;
    if (over) {
        sy[k].name = rmq_req_kstr(req, d->name);
        sy[k].value = d->sensitive ? hidden : rmq_req_kstr(req, val);
        sy[k].source = RMQ_META_CFG_SOURCE_DYNAMIC_TOPIC;
        k++;
    }
    if (bkey) {
        char buf[32];
        sy[k].name = rmq_req_kstr(req, bkey);
        sy[k].value = d->sensitive ? hidden : rmq_req_kstr(req, rmq_cfg_default(req->b, d, buf, sizeof buf));
        sy[k].source = rmq_cfg_default_source(req->b, d);
        k++;
    }
    e->synonyms.n = k;
    e->synonyms.v = sy;
}

static void rmq_describe_topic(rmq_req_t *req, const char *topic, const rmq_karr_str_t *keys, bool docs,
                               bool synonyms, rmq_kmsg_describe_configs_response_describe_configs_result_t *res,
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
        const char *v = over ? val : rmq_cfg_default(req->b, &defs[i], val, sizeof val);
        e[k].name = rmq_req_kstr(req, defs[i].name);
        e[k].value = defs[i].sensitive ? (rmq_kstr_t){NULL, -1} : rmq_req_kstr(req, v);
        e[k].read_only = false;
        e[k].is_default = !over;
        e[k].config_source = over ? RMQ_META_CFG_SOURCE_DYNAMIC_TOPIC : rmq_cfg_default_source(req->b, &defs[i]);
        e[k].is_sensitive = defs[i].sensitive;
        e[k].synonyms.n = 0;
        if (synonyms) rmq_topic_synonyms(req, &defs[i], over, val, &e[k], ed);
        e[k].config_type = (int8_t)defs[i].type;
        e[k].documentation = docs && defs[i].doc ? rmq_req_kstr(req, defs[i].doc) : (rmq_kstr_t){NULL, -1};
        k++;
    }
    res->configs.n = k;
    res->configs.v = e;
}

static void rmq_describe_broker(rmq_req_t *req, const rmq_karr_str_t *keys, bool synonyms,
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
        /* a static broker config is its own only synonym */
        rmq_kmsg_describe_configs_response_describe_configs_synonym_t *sy =
            synonyms ? rmq_req_array(req, rmq_kdesc_sub(ed, "synonyms"), 1) : NULL;
        if (sy) {
            sy->name = e[k].name;
            sy->value = e[k].value;
            sy->source = RMQ_CFG_SOURCE_STATIC_BROKER;
            e[k].synonyms.n = 1;
            e[k].synonyms.v = sy;
        }
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
            rmq_describe_topic(req, name, &q->configuration_keys, rq->include_documentation,
                               req->hdr.api_version >= 1 && rq->include_synonyms, &res[i], ed);
        } else if (q->resource_type == RMQ_RES_BROKER) {
            if (*name && atoi(name) != b->o.node_id) {
                res[i].error_code = RMQ_INVALID_REQUEST;
                res[i].error_message = rmq_req_kstr(req, "unknown broker id");
            } else {
                rmq_describe_broker(req, &q->configuration_keys, req->hdr.api_version >= 1 && rq->include_synonyms,
                                    &res[i], ed);
            }
        } else {
            res[i].error_code = RMQ_INVALID_REQUEST;
            res[i].error_message = rmq_req_kstr(req, "unsupported resource type");
        }
    }
    rmq_req_finish(req);
}

/* ---- AlterConfigs / IncrementalAlterConfigs ---- */

/* A resource (same type and name) given twice in one AlterConfigs or
 * IncrementalAlterConfigs request: Kafka answers INVALID_REQUEST for each
 * entry and changes nothing for it. */
#define RMQ_DUP_RESOURCE_MSG "Each resource must appear at most once."

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
    rmq_dup_key_t *keys = rmq_dup_keys(req, n);
    for (int32_t i = 0; keys && i < n; i++)
        keys[i] = (rmq_dup_key_t){rq->resources.v[i].resource_type, rq->resources.v[i].resource_name, i};
    bool *dup = keys ? rmq_find_dups(req, keys, n) : NULL;
    for (int32_t i = 0; res && i < n; i++) {
        const rmq_kmsg_alter_configs_request_alter_configs_resource_t *q = &rq->resources.v[i];
        res[i].resource_type = q->resource_type;
        res[i].resource_name = q->resource_name;
        int32_t nc = q->configs.n > 0 ? q->configs.n : 0;
        char msg[256] = "";
        rmq_err_t err = RMQ_NONE;
        if (dup && dup[i]) {
            err = rmq_meta_errf(RMQ_INVALID_REQUEST, msg, sizeof msg, "%s", RMQ_DUP_RESOURCE_MSG);
        } else {
            rmq_kstr_t *names = nc ? rmq_arena_alloc(&req->arena, (size_t)nc * 2 * sizeof *names) : NULL;
            if (nc && !names) err = RMQ_ERR_NOMEM;
            for (int32_t m = 0; names && m < nc; m++) {
                names[m] = q->configs.v[m].name;
                names[nc + m] = q->configs.v[m].value;
            }
            if (!err) err = rmq_check_alter_entries(req, nc, names, names + nc, NULL, msg, sizeof msg);
        }
        if (!err && q->resource_type != RMQ_RES_TOPIC)
            err = rmq_meta_errf(RMQ_INVALID_REQUEST, msg, sizeof msg, "%s", "only topic configs can be altered");
        if (err) {
            res[i].error_code = rmq_err_to_wire(err);
            res[i].error_message = rmq_msg_or_null(req, msg);
            continue;
        }
        char *topic = rmq_req_cstr(req, q->resource_name);
        /* AlterConfigs replaces the whole set: delete overrides not named */
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
            /* with its message, as Kafka: Sarama 1.22 reads only the
             * message and took a null one for success */
            rmq_meta_errf(RMQ_UNKNOWN_TOPIC_OR_PARTITION, msg, sizeof msg, "Topic '%s' does not exist.", topic ? topic : "");
            res[i].error_code = RMQ_UNKNOWN_TOPIC_OR_PARTITION;
            res[i].error_message = rmq_msg_or_null(req, msg);
            continue;
        }
        for (int32_t m = 0; ops && m < nc; m++) {
            ops[k].key = rmq_req_cstr(req, q->configs.v[m].name);
            ops[k].op = RMQ_META_CFG_SET; /* values are not null (checked above) */
            ops[k].value = rmq_req_cstr(req, q->configs.v[m].value);
            k++;
        }
        err = ops ? rmq_broker_alter_topic(b, topic, ops, k, rq->validate_only, msg, sizeof msg) : RMQ_ERR_NOMEM;
        res[i].error_code = rmq_err_to_wire(err);
        res[i].error_message = rmq_msg_or_null(req, err ? msg : NULL);
    }
    rmq_req_finish(req);
}

/* Kafka's AlterConfigOp.OpType ids */
enum { RMQ_OP_SET = 0, RMQ_OP_DELETE = 1, RMQ_OP_APPEND = 2, RMQ_OP_SUBTRACT = 3 };

/* The SET that APPEND/SUBTRACT of value to/from key of topic amounts to:
 * the current override (or the default) with the items added/removed.
 * *out is the new list (request arena). */
static rmq_err_t rmq_list_op_value(rmq_req_t *req, const char *topic, const char *key, const char *value,
                                   bool append, const char **out, char *msg, size_t cap) {
    /* validate the key first: a non-LIST key is INVALID_CONFIG even for an
     * unknown topic */
    char res[1024];
    rmq_err_t err = rmq_meta_config_list_op(key, "", value, append, res, sizeof res, msg, cap);
    if (err) return err;
    char *cur = NULL;
    bool found;
    rmq_meta_state_rdlock(req->b->state);
    const rmq_meta_topic_t *t = rmq_meta_state_find_topic(req->b->state, topic);
    found = t != NULL;
    const char *v = t ? rmq_meta_topic_config(t, key) : NULL;
    if (v) cur = rmq_arena_strndup(&req->arena, v, strlen(v));
    rmq_meta_state_unlock(req->b->state);
    if (!found)
        return rmq_meta_errf(RMQ_UNKNOWN_TOPIC_OR_PARTITION, msg, cap, "%s",
                             "This server does not host this topic-partition.");
    if (v && !cur) return RMQ_ERR_NOMEM;
    err = rmq_meta_config_list_op(key, cur, value, append, res, sizeof res, msg, cap);
    if (err) return err;
    char *copy = rmq_arena_strndup(&req->arena, res, strlen(res));
    *out = copy;
    return copy ? RMQ_NONE : RMQ_ERR_NOMEM;
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
    rmq_dup_key_t *keys = rmq_dup_keys(req, n);
    for (int32_t i = 0; keys && i < n; i++)
        keys[i] = (rmq_dup_key_t){rq->resources.v[i].resource_type, rq->resources.v[i].resource_name, i};
    bool *dup = keys ? rmq_find_dups(req, keys, n) : NULL;
    for (int32_t i = 0; res && i < n; i++) {
        const rmq_kmsg_incremental_alter_configs_request_alter_configs_resource_t *q = &rq->resources.v[i];
        res[i].resource_type = q->resource_type;
        res[i].resource_name = q->resource_name;
        int32_t nc = q->configs.n > 0 ? q->configs.n : 0;
        char msg[256] = "";
        rmq_err_t err = RMQ_NONE;
        if (dup && dup[i]) {
            err = rmq_meta_errf(RMQ_INVALID_REQUEST, msg, sizeof msg, "%s", RMQ_DUP_RESOURCE_MSG);
        } else {
            rmq_kstr_t *names = nc ? rmq_arena_alloc(&req->arena, (size_t)nc * 2 * sizeof *names) : NULL;
            bool *deletes = nc ? rmq_arena_alloc(&req->arena, (size_t)nc * sizeof *deletes) : NULL;
            if (nc && (!names || !deletes)) err = RMQ_ERR_NOMEM;
            for (int32_t m = 0; names && deletes && m < nc; m++) {
                names[m] = q->configs.v[m].name;
                names[nc + m] = q->configs.v[m].value;
                deletes[m] = q->configs.v[m].config_operation == RMQ_OP_DELETE;
            }
            if (!err) err = rmq_check_alter_entries(req, nc, names, names + nc, deletes, msg, sizeof msg);
        }
        if (!err && q->resource_type != RMQ_RES_TOPIC)
            err = rmq_meta_errf(RMQ_INVALID_REQUEST, msg, sizeof msg, "%s", "only topic configs can be altered");
        char *topic = rmq_req_cstr(req, q->resource_name);
        rmq_meta_cfg_alter_t *ops = err ? NULL : rmq_arena_alloc(&req->arena, ((size_t)nc + 1) * sizeof *ops);
        if (!err && !ops) err = RMQ_ERR_NOMEM;
        for (int32_t m = 0; !err && m < nc; m++) {
            int8_t op = q->configs.v[m].config_operation;
            ops[m].key = rmq_req_cstr(req, q->configs.v[m].name);
            ops[m].value = rmq_req_cstr(req, q->configs.v[m].value);
            if (op == RMQ_OP_SET) {
                ops[m].op = RMQ_META_CFG_SET;
            } else if (op == RMQ_OP_DELETE) {
                ops[m].op = RMQ_META_CFG_DELETE;
            } else if (op == RMQ_OP_APPEND || op == RMQ_OP_SUBTRACT) {
                /* a list config: SET the list with the items added/removed */
                ops[m].op = RMQ_META_CFG_SET;
                err = rmq_list_op_value(req, topic, ops[m].key, ops[m].value, op == RMQ_OP_APPEND, &ops[m].value,
                                        msg, sizeof msg);
            } else {
                err = rmq_meta_errf(RMQ_INVALID_REQUEST, msg, sizeof msg, "Unknown operation type %d", op);
            }
        }
        if (!err) err = rmq_broker_alter_topic(req->b, topic, ops, (uint32_t)nc, rq->validate_only, msg, sizeof msg);
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
