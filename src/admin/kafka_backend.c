/* kafka_backend.c - the admin backend over the Kafka protocol (see
 * kafka_backend.h). Each backend call turns into one or a few Kafka admin
 * requests: cluster/topics from Metadata; configs from DescribeConfigs; log
 * start / high watermark from ListOffsets sent to each partition leader;
 * topic mutations to the controller; group calls to the group coordinator
 * found with FindCoordinator; lag = log end (ListOffsets latest) - committed
 * offset (OffsetFetch). Everything returned lives in the caller's arena. */
#include "admin/kafka_backend.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin/kclient.h"
#include "protocol/kafka_msgs.h"

struct rmq_admin_kafka {
    rmq_kclient_t *kc;
};

#define KTIMEOUT_MS 30000

/* ---- helpers ------------------------------------------------------------------------- */

static const char *ks(rmq_arena_t *a, rmq_kstr_t s) { return s.len < 0 ? NULL : rmq_arena_strndup(a, s.ptr, (size_t)s.len); }

/* Transport failures come back with a message in ei already. */
static rmq_err_t kcall(rmq_admin_kafka_t *k, int32_t node, int16_t api, int16_t maxv, const void *req, rmq_arena_t *a,
                       void *resp, rmq_admin_errinfo_t *ei) {
    rmq_err_t rc = rmq_kclient_call(k->kc, node, api, maxv, req, a, resp, NULL, ei->msg, sizeof ei->msg);
    if (rc == RMQ_ERR_CLOSED || rc == RMQ_ERR_CORRUPT || rc == RMQ_ERR_BAD_LENGTH) rc = RMQ_ERR_IO;
    return rc;
}

/* Kafka error code from a response -> rmq_err_t with its message. */
static rmq_err_t kerr(int16_t code, rmq_kstr_t msg, const char *what, rmq_admin_errinfo_t *ei) {
    if (code == 0) return 0;
    if (msg.len > 0) snprintf(ei->msg, sizeof ei->msg, "%s: %.*s", what, (int)msg.len, msg.ptr);
    else snprintf(ei->msg, sizeof ei->msg, "%s: %s", what, rmq_err_name(code));
    return code;
}

/* Metadata for one topic (topic != NULL), all topics (all) or none; learns
 * node addresses. */
static rmq_err_t kmeta(rmq_admin_kafka_t *k, rmq_arena_t *a, const char *topic, bool all,
                       rmq_kmsg_metadata_response_t *resp, rmq_admin_errinfo_t *ei) {
    rmq_kmsg_metadata_request_t req;
    rmq_kafka_msg_init(&rmq_kmsg_metadata_request_desc, &req);
    rmq_kmsg_metadata_request_metadata_request_topic_t t;
    memset(&t, 0, sizeof t);
    if (topic) {
        t.name = rmq_kstr(topic);
        req.topics.n = 1;
        req.topics.v = &t;
    } else if (all) {
        req.topics.n = -1;
        req.topics.v = NULL;
    } else {
        req.topics.n = 0;
        req.topics.v = NULL;
    }
    req.allow_auto_topic_creation = false;
    rmq_err_t rc = kcall(k, RMQ_KCLIENT_ANY, RMQ_KAPI_METADATA, 9, &req, a, resp, ei);
    if (rc) return rc;
    for (int32_t i = 0; i < resp->brokers.n; i++) {
        rmq_kmsg_metadata_response_metadata_response_broker_t *b = &resp->brokers.v[i];
        if (b->host.len > 0) rmq_kclient_set_node(k->kc, b->node_id, b->host.ptr, (size_t)b->host.len, b->port);
    }
    return 0;
}

static void copy_i32s(const rmq_karr_i32_t *src, int32_t *dst, int32_t *n) {
    *n = 0;
    for (int32_t i = 0; i < src->n && i < RMQ_ADMIN_MAX_REPLICAS; i++) dst[(*n)++] = src->v[i];
}

/* ListOffsets (ts -2 earliest, -1 latest) for parts of topic, one request
 * per leader; out[i] = offset or -1. */
static void klist_offsets(rmq_admin_kafka_t *k, rmq_arena_t *a, const char *topic, const int32_t *pidx,
                          const int32_t *leaders, size_t n, int64_t ts, int64_t *out) {
    for (size_t i = 0; i < n; i++) out[i] = -1;
    bool *done = rmq_arena_alloc(a, n + 1);
    rmq_kmsg_list_offsets_request_list_offsets_partition_t *ps = rmq_arena_alloc(a, (n + 1) * sizeof *ps);
    size_t *map = rmq_arena_alloc(a, (n + 1) * sizeof *map);
    if (!done || !ps || !map) return;
    for (size_t i = 0; i < n; i++) {
        if (done[i]) continue;
        int32_t leader = leaders[i];
        size_t m = 0;
        for (size_t j = i; j < n; j++)
            if (!done[j] && leaders[j] == leader) {
                done[j] = true;
                ps[m] = (rmq_kmsg_list_offsets_request_list_offsets_partition_t){pidx[j], -1, ts, 1};
                map[m++] = j;
            }
        if (leader < 0) continue;
        rmq_kmsg_list_offsets_request_list_offsets_topic_t t = {rmq_kstr(topic), {(int32_t)m, ps}};
        rmq_kmsg_list_offsets_request_t req;
        rmq_kafka_msg_init(&rmq_kmsg_list_offsets_request_desc, &req);
        req.replica_id = -1;
        req.topics.n = 1;
        req.topics.v = &t;
        rmq_kmsg_list_offsets_response_t resp;
        rmq_admin_errinfo_t ei;
        memset(&ei, 0, sizeof ei);
        if (kcall(k, leader, RMQ_KAPI_LIST_OFFSETS, 7, &req, a, &resp, &ei)) continue;
        for (int32_t x = 0; x < resp.topics.n; x++)
            for (int32_t y = 0; y < resp.topics.v[x].partitions.n; y++) {
                rmq_kmsg_list_offsets_response_list_offsets_partition_response_t *pr = &resp.topics.v[x].partitions.v[y];
                if (pr->error_code) continue;
                for (size_t q = 0; q < m; q++)
                    if (pidx[map[q]] == pr->partition_index) out[map[q]] = pr->offset;
            }
    }
}

/* ---- cluster ---------------------------------------------------------------------------------- */

static rmq_err_t kb_cluster(void *ud, rmq_arena_t *a, rmq_admin_cluster_t *out, rmq_admin_errinfo_t *ei) {
    rmq_admin_kafka_t *k = ud;
    rmq_kmsg_metadata_response_t md;
    rmq_err_t rc = kmeta(k, a, NULL, false, &md, ei);
    if (rc) return rc;
    out->cluster_id = ks(a, md.cluster_id);
    out->controller_id = md.controller_id;
    out->nbrokers = md.brokers.n > 0 ? (size_t)md.brokers.n : 0;
    out->brokers = rmq_arena_alloc(a, (out->nbrokers + 1) * sizeof *out->brokers);
    if (!out->brokers) return RMQ_ERR_NOMEM;
    for (size_t i = 0; i < out->nbrokers; i++) {
        rmq_kmsg_metadata_response_metadata_response_broker_t *b = &md.brokers.v[i];
        out->brokers[i] = (rmq_admin_broker_t){b->node_id, ks(a, b->host), b->port, ks(a, b->rack), "active"};
    }
    return 0;
}

static rmq_err_t kb_health(void *ud, rmq_arena_t *a, rmq_admin_health_t *out, rmq_admin_errinfo_t *ei) {
    rmq_admin_kafka_t *k = ud;
    rmq_kmsg_metadata_response_t md;
    rmq_err_t rc = kmeta(k, a, NULL, false, &md, ei);
    out->details = rmq_arena_alloc(a, 3 * sizeof *out->details);
    if (!out->details) return RMQ_ERR_NOMEM;
    out->details[0].name = "kafka";
    out->details[0].value = rmq_admin_strdup(a, rmq_kclient_bootstrap(k->kc));
    out->ndetails = 1;
    if (rc) {
        out->ok = false;
        out->status = "unhealthy";
        out->details[1].name = "error";
        out->details[1].value = rmq_admin_strdup(a, ei->msg);
        out->ndetails = 2;
        return 0;
    }
    char tmp[32];
    snprintf(tmp, sizeof tmp, "%d", md.brokers.n);
    out->details[1].name = "brokers";
    out->details[1].value = rmq_admin_strdup(a, tmp);
    out->ndetails = 2;
    out->ok = md.brokers.n > 0;
    return 0;
}

static bool kb_ready(void *ud, char *why, size_t cap) {
    rmq_admin_kafka_t *k = ud;
    rmq_arena_t a;
    rmq_arena_init(&a, 16u << 20);
    rmq_admin_errinfo_t ei;
    memset(&ei, 0, sizeof ei);
    rmq_kmsg_metadata_response_t md;
    rmq_err_t rc = kmeta(k, &a, NULL, false, &md, &ei);
    if (rc) snprintf(why, cap, "cluster unreachable: %s", ei.msg[0] ? ei.msg : rmq_err_name(rc));
    rmq_arena_free(&a);
    return rc == 0;
}

/* ---- topics ------------------------------------------------------------------------------------- */

static rmq_err_t kb_list_topics(void *ud, rmq_arena_t *a, rmq_admin_topic_list_t *out, rmq_admin_errinfo_t *ei) {
    rmq_admin_kafka_t *k = ud;
    rmq_kmsg_metadata_response_t md;
    rmq_err_t rc = kmeta(k, a, NULL, true, &md, ei);
    if (rc) return rc;
    out->topics = rmq_arena_alloc(a, ((size_t)(md.topics.n > 0 ? md.topics.n : 0) + 1) * sizeof *out->topics);
    if (!out->topics) return RMQ_ERR_NOMEM;
    out->ntopics = 0;
    for (int32_t i = 0; i < md.topics.n; i++) {
        rmq_kmsg_metadata_response_metadata_response_topic_t *t = &md.topics.v[i];
        if (t->error_code && t->error_code != RMQ_LEADER_NOT_AVAILABLE) continue;
        rmq_admin_topic_t *o = &out->topics[out->ntopics++];
        o->name = ks(a, t->name);
        o->partitions = t->partitions.n > 0 ? t->partitions.n : 0;
        o->replication_factor = t->partitions.n > 0 ? t->partitions.v[0].replica_nodes.n : 0;
        o->internal = t->is_internal;
    }
    return 0;
}

static rmq_err_t kb_describe_topic(void *ud, rmq_arena_t *a, const char *name, rmq_admin_topic_t *out,
                                   rmq_admin_errinfo_t *ei) {
    rmq_admin_kafka_t *k = ud;
    rmq_kmsg_metadata_response_t md;
    rmq_err_t rc = kmeta(k, a, name, false, &md, ei);
    if (rc) return rc;
    if (md.topics.n < 1) return RMQ_UNKNOWN_TOPIC_OR_PARTITION;
    rmq_kmsg_metadata_response_metadata_response_topic_t *t = &md.topics.v[0];
    if (t->error_code == RMQ_UNKNOWN_TOPIC_OR_PARTITION || t->error_code == RMQ_INVALID_TOPIC_EXCEPTION)
        return RMQ_UNKNOWN_TOPIC_OR_PARTITION;
    if (t->error_code && t->error_code != RMQ_LEADER_NOT_AVAILABLE)
        return kerr(t->error_code, (rmq_kstr_t){NULL, -1}, "metadata", ei);
    size_t np = t->partitions.n > 0 ? (size_t)t->partitions.n : 0;
    out->name = rmq_admin_strdup(a, name);
    out->partitions = (int32_t)np;
    out->internal = t->is_internal;
    out->replication_factor = np ? t->partitions.v[0].replica_nodes.n : 0;
    out->nparts = np;
    out->parts = rmq_arena_alloc(a, (np + 1) * sizeof *out->parts);
    int32_t *pidx = rmq_arena_alloc(a, (np + 1) * sizeof *pidx);
    int32_t *leaders = rmq_arena_alloc(a, (np + 1) * sizeof *leaders);
    int64_t *lso = rmq_arena_alloc(a, (np + 1) * sizeof *lso);
    int64_t *hw = rmq_arena_alloc(a, (np + 1) * sizeof *hw);
    if (!out->parts || !pidx || !leaders || !lso || !hw) return RMQ_ERR_NOMEM;
    for (size_t i = 0; i < np; i++) {
        rmq_kmsg_metadata_response_metadata_response_partition_t *p = &t->partitions.v[i];
        rmq_admin_partition_t *o = &out->parts[i];
        o->partition = p->partition_index;
        o->leader = p->leader_id;
        o->leader_epoch = p->leader_epoch;
        copy_i32s(&p->replica_nodes, o->replicas, &o->nreplicas);
        copy_i32s(&p->isr_nodes, o->isr, &o->nisr);
        pidx[i] = p->partition_index;
        leaders[i] = p->leader_id;
    }
    /* sort partitions by index (brokers may answer in any order) */
    for (size_t i = 1; i < np; i++)
        for (size_t j = i; j > 0 && out->parts[j - 1].partition > out->parts[j].partition; j--) {
            rmq_admin_partition_t tp = out->parts[j];
            out->parts[j] = out->parts[j - 1];
            out->parts[j - 1] = tp;
            int32_t x = pidx[j];
            pidx[j] = pidx[j - 1];
            pidx[j - 1] = x;
            x = leaders[j];
            leaders[j] = leaders[j - 1];
            leaders[j - 1] = x;
        }
    klist_offsets(k, a, name, pidx, leaders, np, -2, lso);
    klist_offsets(k, a, name, pidx, leaders, np, -1, hw);
    for (size_t i = 0; i < np; i++) {
        out->parts[i].log_start_offset = lso[i];
        out->parts[i].high_watermark = hw[i];
    }
    /* configs */
    rmq_kmsg_describe_configs_request_describe_configs_resource_t res;
    memset(&res, 0, sizeof res);
    res.resource_type = 2;
    res.resource_name = rmq_kstr(name);
    res.configuration_keys.n = -1;
    rmq_kmsg_describe_configs_request_t dreq;
    rmq_kafka_msg_init(&rmq_kmsg_describe_configs_request_desc, &dreq);
    dreq.resources.n = 1;
    dreq.resources.v = &res;
    rmq_kmsg_describe_configs_response_t dresp;
    rmq_admin_errinfo_t cei;
    memset(&cei, 0, sizeof cei);
    if (kcall(k, RMQ_KCLIENT_ANY, RMQ_KAPI_DESCRIBE_CONFIGS, 4, &dreq, a, &dresp, &cei) == 0 && dresp.results.n > 0 &&
        dresp.results.v[0].error_code == 0) {
        rmq_kmsg_describe_configs_response_describe_configs_result_t *r = &dresp.results.v[0];
        out->configs = rmq_arena_alloc(a, ((size_t)(r->configs.n > 0 ? r->configs.n : 0) + 1) * sizeof *out->configs);
        if (!out->configs) return RMQ_ERR_NOMEM;
        for (int32_t i = 0; i < r->configs.n; i++) {
            out->configs[out->nconfigs].name = ks(a, r->configs.v[i].name);
            out->configs[out->nconfigs].value = r->configs.v[i].is_sensitive ? NULL : ks(a, r->configs.v[i].value);
            out->nconfigs++;
        }
    }
    return 0;
}

/* Learn the controller id (and node addresses) for a topic mutation. */
static int32_t kcontroller(rmq_admin_kafka_t *k, rmq_arena_t *a) {
    rmq_kmsg_metadata_response_t md;
    rmq_admin_errinfo_t ei;
    memset(&ei, 0, sizeof ei);
    if (kmeta(k, a, NULL, false, &md, &ei)) return RMQ_KCLIENT_ANY;
    for (int32_t i = 0; i < md.brokers.n; i++)
        if (md.brokers.v[i].node_id == md.controller_id) return md.controller_id;
    return RMQ_KCLIENT_ANY;
}

static rmq_err_t kb_create_topic(void *ud, rmq_arena_t *a, const rmq_admin_new_topic_t *nt, rmq_admin_errinfo_t *ei) {
    rmq_admin_kafka_t *k = ud;
    rmq_kmsg_create_topics_request_creatable_topic_t t;
    memset(&t, 0, sizeof t);
    t.name = rmq_kstr(nt->name);
    t.num_partitions = nt->partitions;
    t.replication_factor = (int16_t)nt->replication_factor;
    t.assignments.n = 0;
    rmq_kmsg_create_topics_request_creatable_topic_config_t *cfg = rmq_arena_alloc(a, (nt->nconfigs + 1) * sizeof *cfg);
    if (!cfg) return RMQ_ERR_NOMEM;
    for (size_t i = 0; i < nt->nconfigs; i++) {
        cfg[i].name = rmq_kstr(nt->configs[i].name);
        cfg[i].value = rmq_kstr(nt->configs[i].value);
    }
    t.configs.n = (int32_t)nt->nconfigs;
    t.configs.v = cfg;
    rmq_kmsg_create_topics_request_t req;
    rmq_kafka_msg_init(&rmq_kmsg_create_topics_request_desc, &req);
    req.topics.n = 1;
    req.topics.v = &t;
    req.timeout_ms = KTIMEOUT_MS;
    rmq_kmsg_create_topics_response_t resp;
    rmq_err_t rc = kcall(k, kcontroller(k, a), RMQ_KAPI_CREATE_TOPICS, 5, &req, a, &resp, ei);
    if (rc) return rc;
    if (resp.topics.n < 1) return RMQ_UNKNOWN_SERVER_ERROR;
    return kerr(resp.topics.v[0].error_code, resp.topics.v[0].error_message, nt->name, ei);
}

static rmq_err_t kb_delete_topic(void *ud, rmq_arena_t *a, const char *name, rmq_admin_errinfo_t *ei) {
    rmq_admin_kafka_t *k = ud;
    rmq_kstr_t nm = rmq_kstr(name);
    rmq_kmsg_delete_topics_request_t req;
    rmq_kafka_msg_init(&rmq_kmsg_delete_topics_request_desc, &req);
    req.topic_names.n = 1;
    req.topic_names.v = &nm;
    req.timeout_ms = KTIMEOUT_MS;
    rmq_kmsg_delete_topics_response_t resp;
    rmq_err_t rc = kcall(k, kcontroller(k, a), RMQ_KAPI_DELETE_TOPICS, 5, &req, a, &resp, ei);
    if (rc) return rc;
    if (resp.responses.n < 1) return RMQ_UNKNOWN_SERVER_ERROR;
    return kerr(resp.responses.v[0].error_code, resp.responses.v[0].error_message, name, ei);
}

static rmq_err_t kb_alter_configs(void *ud, rmq_arena_t *a, const char *name, const rmq_admin_kv_t *kv, size_t n,
                                  rmq_admin_errinfo_t *ei) {
    rmq_admin_kafka_t *k = ud;
    rmq_kmsg_incremental_alter_configs_request_alterable_config_t *c = rmq_arena_alloc(a, (n + 1) * sizeof *c);
    if (!c) return RMQ_ERR_NOMEM;
    for (size_t i = 0; i < n; i++) {
        c[i].name = rmq_kstr(kv[i].name);
        c[i].config_operation = kv[i].value ? 0 : 1; /* SET : DELETE (back to default) */
        c[i].value = rmq_kstr(kv[i].value);
    }
    rmq_kmsg_incremental_alter_configs_request_alter_configs_resource_t res = {2, rmq_kstr(name), {(int32_t)n, c}};
    rmq_kmsg_incremental_alter_configs_request_t req;
    rmq_kafka_msg_init(&rmq_kmsg_incremental_alter_configs_request_desc, &req);
    req.resources.n = 1;
    req.resources.v = &res;
    rmq_kmsg_incremental_alter_configs_response_t resp;
    rmq_err_t rc = kcall(k, kcontroller(k, a), RMQ_KAPI_INCREMENTAL_ALTER_CONFIGS, 1, &req, a, &resp, ei);
    if (rc) return rc;
    if (resp.responses.n < 1) return RMQ_UNKNOWN_SERVER_ERROR;
    return kerr(resp.responses.v[0].error_code, resp.responses.v[0].error_message, name, ei);
}

static rmq_err_t kb_create_partitions(void *ud, rmq_arena_t *a, const char *name, int32_t total, rmq_admin_errinfo_t *ei) {
    rmq_admin_kafka_t *k = ud;
    rmq_kmsg_create_partitions_request_create_partitions_topic_t t = {rmq_kstr(name), total, {-1, NULL}};
    rmq_kmsg_create_partitions_request_t req;
    rmq_kafka_msg_init(&rmq_kmsg_create_partitions_request_desc, &req);
    req.topics.n = 1;
    req.topics.v = &t;
    req.timeout_ms = KTIMEOUT_MS;
    rmq_kmsg_create_partitions_response_t resp;
    rmq_err_t rc = kcall(k, kcontroller(k, a), RMQ_KAPI_CREATE_PARTITIONS, 3, &req, a, &resp, ei);
    if (rc) return rc;
    if (resp.results.n < 1) return RMQ_UNKNOWN_SERVER_ERROR;
    return kerr(resp.results.v[0].error_code, resp.results.v[0].error_message, name, ei);
}

/* ---- groups ------------------------------------------------------------------------------------------ */

static rmq_err_t kb_list_groups(void *ud, rmq_arena_t *a, rmq_admin_group_list_t *out, rmq_admin_errinfo_t *ei) {
    rmq_admin_kafka_t *k = ud;
    rmq_kmsg_metadata_response_t md;
    rmq_err_t rc = kmeta(k, a, NULL, false, &md, ei);
    if (rc) return rc;
    size_t cap = 16, n = 0;
    rmq_admin_group_t *gs = malloc(cap * sizeof *gs);
    if (!gs) return RMQ_ERR_NOMEM;
    int32_t nb = md.brokers.n > 0 ? md.brokers.n : 0;
    /* each coordinator lists only its own groups: ask every broker */
    for (int32_t b = 0; b <= nb; b++) {
        if (b == nb && nb > 0) break;
        int32_t node = nb ? md.brokers.v[b].node_id : RMQ_KCLIENT_ANY;
        rmq_kmsg_list_groups_request_t req;
        rmq_kafka_msg_init(&rmq_kmsg_list_groups_request_desc, &req);
        req.states_filter.n = 0;
        req.types_filter.n = 0;
        rmq_kmsg_list_groups_response_t resp;
        rc = kcall(k, node, RMQ_KAPI_LIST_GROUPS, 4, &req, a, &resp, ei);
        if (!rc && resp.error_code) rc = kerr(resp.error_code, (rmq_kstr_t){NULL, -1}, "ListGroups", ei);
        if (rc) {
            free(gs);
            return rc;
        }
        for (int32_t i = 0; i < resp.groups.n; i++) {
            if (n == cap) {
                rmq_admin_group_t *ng = realloc(gs, 2 * cap * sizeof *gs);
                if (!ng) {
                    free(gs);
                    return RMQ_ERR_NOMEM;
                }
                gs = ng;
                cap *= 2;
            }
            rmq_kmsg_list_groups_response_listed_group_t *g = &resp.groups.v[i];
            memset(&gs[n], 0, sizeof gs[n]);
            gs[n].group_id = ks(a, g->group_id);
            gs[n].protocol_type = ks(a, g->protocol_type);
            gs[n].state = g->group_state.len > 0 ? ks(a, g->group_state) : "Unknown";
            n++;
        }
    }
    out->groups = rmq_arena_alloc(a, (n + 1) * sizeof *out->groups);
    if (!out->groups) {
        free(gs);
        return RMQ_ERR_NOMEM;
    }
    if (n) memcpy(out->groups, gs, n * sizeof *gs);
    out->ngroups = n;
    free(gs);
    return 0;
}

/* Coordinator node of group (address learned), or ANY if FindCoordinator
 * is not offered. */
static rmq_err_t kcoordinator(rmq_admin_kafka_t *k, rmq_arena_t *a, const char *group, int32_t *node,
                              rmq_admin_errinfo_t *ei) {
    *node = RMQ_KCLIENT_ANY;
    rmq_kmsg_find_coordinator_request_t req;
    rmq_kafka_msg_init(&rmq_kmsg_find_coordinator_request_desc, &req);
    req.key = rmq_kstr(group);
    req.key_type = 0;
    rmq_kmsg_find_coordinator_response_t resp;
    rmq_err_t rc = kcall(k, RMQ_KCLIENT_ANY, RMQ_KAPI_FIND_COORDINATOR, 3, &req, a, &resp, ei);
    if (rc == RMQ_ERR_UNSUPPORTED) {
        ei->msg[0] = 0;
        return 0;
    }
    if (rc) return rc;
    if (resp.error_code) return kerr(resp.error_code, resp.error_message, "FindCoordinator", ei);
    rmq_kclient_set_node(k->kc, resp.node_id, resp.host.ptr, resp.host.len > 0 ? (size_t)resp.host.len : 0, resp.port);
    *node = resp.node_id;
    return 0;
}

/* ConsumerProtocol assignment bytes -> topic/partition list (arena). */
static void parse_assignment(rmq_arena_t *a, rmq_kbytes_t b, rmq_admin_member_t *m) {
    if (b.len <= 0) return;
    rmq_cur_t c;
    rmq_cur_init(&c, b.ptr, (size_t)b.len);
    (void)rmq_cur_i16(&c); /* version */
    int32_t nt = rmq_cur_i32(&c);
    if (!rmq_cur_ok(&c) || nt < 0 || (size_t)nt > rmq_cur_remaining(&c)) return;
    size_t cap = 0;
    /* first pass: count */
    rmq_cur_t c2 = c;
    for (int32_t i = 0; i < nt && rmq_cur_ok(&c2); i++) {
        int16_t sl = rmq_cur_i16(&c2);
        rmq_cur_skip(&c2, sl > 0 ? (size_t)sl : 0);
        int32_t np = rmq_cur_i32(&c2);
        if (np < 0 || (size_t)np > rmq_cur_remaining(&c2) / 4) return;
        rmq_cur_skip(&c2, (size_t)np * 4);
        cap += (size_t)np;
    }
    if (!rmq_cur_ok(&c2)) return;
    m->assignments = rmq_arena_alloc(a, (cap + 1) * sizeof *m->assignments);
    if (!m->assignments) return;
    for (int32_t i = 0; i < nt; i++) {
        int16_t sl = rmq_cur_i16(&c);
        const uint8_t *s = rmq_cur_bytes(&c, sl > 0 ? (size_t)sl : 0);
        const char *topic = rmq_arena_strndup(a, (const char *)s, sl > 0 ? (size_t)sl : 0);
        int32_t np = rmq_cur_i32(&c);
        for (int32_t j = 0; j < np; j++) m->assignments[m->nassign++] = (rmq_admin_tp_t){topic, rmq_cur_i32(&c)};
    }
}

static rmq_err_t kb_describe_group(void *ud, rmq_arena_t *a, const char *group, rmq_admin_group_t *out,
                                   rmq_admin_errinfo_t *ei) {
    rmq_admin_kafka_t *k = ud;
    int32_t node;
    rmq_err_t rc = kcoordinator(k, a, group, &node, ei);
    if (rc) return rc;
    rmq_kstr_t g = rmq_kstr(group);
    rmq_kmsg_describe_groups_request_t req;
    rmq_kafka_msg_init(&rmq_kmsg_describe_groups_request_desc, &req);
    req.groups.n = 1;
    req.groups.v = &g;
    rmq_kmsg_describe_groups_response_t resp;
    rc = kcall(k, node, RMQ_KAPI_DESCRIBE_GROUPS, 5, &req, a, &resp, ei);
    if (rc) return rc;
    if (resp.groups.n < 1) return RMQ_GROUP_ID_NOT_FOUND;
    rmq_kmsg_describe_groups_response_described_group_t *dg = &resp.groups.v[0];
    if (dg->error_code) return kerr(dg->error_code, (rmq_kstr_t){NULL, -1}, group, ei);
    if (rmq_kstr_eq(dg->group_state, "Dead")) return RMQ_GROUP_ID_NOT_FOUND;
    out->group_id = rmq_admin_strdup(a, group);
    out->state = ks(a, dg->group_state);
    out->protocol_type = ks(a, dg->protocol_type);
    out->protocol = ks(a, dg->protocol_data);
    out->nmembers = dg->members.n > 0 ? (size_t)dg->members.n : 0;
    out->members = rmq_arena_alloc(a, (out->nmembers + 1) * sizeof *out->members);
    if (!out->members) return RMQ_ERR_NOMEM;
    for (size_t i = 0; i < out->nmembers; i++) {
        rmq_kmsg_describe_groups_response_described_group_member_t *m = &dg->members.v[i];
        rmq_admin_member_t *o = &out->members[i];
        o->member_id = ks(a, m->member_id);
        o->group_instance_id = ks(a, m->group_instance_id);
        o->client_id = ks(a, m->client_id);
        o->client_host = ks(a, m->client_host);
        if (out->protocol_type && strcmp(out->protocol_type, "consumer") == 0) parse_assignment(a, m->member_assignment, o);
    }
    /* committed offsets (all topics) and lag */
    rmq_kmsg_offset_fetch_request_t oreq;
    rmq_kafka_msg_init(&rmq_kmsg_offset_fetch_request_desc, &oreq);
    oreq.group_id = g;
    oreq.topics.n = -1;
    rmq_kmsg_offset_fetch_response_t oresp;
    rmq_admin_errinfo_t oei;
    memset(&oei, 0, sizeof oei);
    if (kcall(k, node, RMQ_KAPI_OFFSET_FETCH, 7, &oreq, a, &oresp, &oei) || oresp.error_code) return 0;
    size_t total = 0;
    for (int32_t i = 0; i < oresp.topics.n; i++) total += (size_t)(oresp.topics.v[i].partitions.n > 0 ? oresp.topics.v[i].partitions.n : 0);
    out->offsets = rmq_arena_alloc(a, (total + 1) * sizeof *out->offsets);
    if (!out->offsets) return RMQ_ERR_NOMEM;
    for (int32_t i = 0; i < oresp.topics.n; i++) {
        rmq_kmsg_offset_fetch_response_offset_fetch_response_topic_t *t = &oresp.topics.v[i];
        const char *tn = ks(a, t->name);
        size_t first = out->noffsets;
        for (int32_t j = 0; j < t->partitions.n; j++) {
            if (t->partitions.v[j].error_code) continue;
            out->offsets[out->noffsets++] =
                (rmq_admin_group_offset_t){tn, t->partitions.v[j].partition_index, t->partitions.v[j].committed_offset, -1, -1};
        }
        size_t cnt = out->noffsets - first;
        if (!cnt || !tn) continue;
        rmq_kmsg_metadata_response_t md;
        rmq_admin_errinfo_t mei;
        memset(&mei, 0, sizeof mei);
        if (kmeta(k, a, tn, false, &md, &mei) || md.topics.n < 1) continue;
        int32_t *pidx = rmq_arena_alloc(a, cnt * sizeof *pidx);
        int32_t *leaders = rmq_arena_alloc(a, cnt * sizeof *leaders);
        int64_t *end = rmq_arena_alloc(a, cnt * sizeof *end);
        if (!pidx || !leaders || !end) return RMQ_ERR_NOMEM;
        for (size_t q = 0; q < cnt; q++) {
            pidx[q] = out->offsets[first + q].partition;
            leaders[q] = -1;
            for (int32_t p = 0; p < md.topics.v[0].partitions.n; p++)
                if (md.topics.v[0].partitions.v[p].partition_index == pidx[q]) leaders[q] = md.topics.v[0].partitions.v[p].leader_id;
        }
        klist_offsets(k, a, tn, pidx, leaders, cnt, -1, end);
        for (size_t q = 0; q < cnt; q++) {
            rmq_admin_group_offset_t *o = &out->offsets[first + q];
            o->log_end = end[q];
            if (end[q] >= 0 && o->committed >= 0) o->lag = end[q] > o->committed ? end[q] - o->committed : 0;
        }
    }
    return 0;
}

static rmq_err_t kb_delete_group(void *ud, rmq_arena_t *a, const char *group, rmq_admin_errinfo_t *ei) {
    rmq_admin_kafka_t *k = ud;
    int32_t node;
    rmq_err_t rc = kcoordinator(k, a, group, &node, ei);
    if (rc) return rc;
    rmq_kstr_t g = rmq_kstr(group);
    rmq_kmsg_delete_groups_request_t req;
    rmq_kafka_msg_init(&rmq_kmsg_delete_groups_request_desc, &req);
    req.groups_names.n = 1;
    req.groups_names.v = &g;
    rmq_kmsg_delete_groups_response_t resp;
    rc = kcall(k, node, RMQ_KAPI_DELETE_GROUPS, 2, &req, a, &resp, ei);
    if (rc) return rc;
    if (resp.results.n < 1) return RMQ_UNKNOWN_SERVER_ERROR;
    return kerr(resp.results.v[0].error_code, (rmq_kstr_t){NULL, -1}, group, ei);
}

/* ---- lifecycle ------------------------------------------------------------------------------------------- */

rmq_err_t rmq_admin_kafka_open(const char *bootstrap, uint32_t timeout_ms, rmq_admin_kafka_t **out, char *err,
                               size_t cap) {
    *out = NULL;
    rmq_admin_kafka_t *k = calloc(1, sizeof *k);
    if (!k) return RMQ_ERR_NOMEM;
    rmq_err_t rc = rmq_kclient_open(bootstrap, timeout_ms, &k->kc, err, cap);
    if (rc) {
        free(k);
        return rc;
    }
    *out = k;
    return 0;
}

void rmq_admin_kafka_close(rmq_admin_kafka_t *k) {
    if (!k) return;
    rmq_kclient_close(k->kc);
    free(k);
}

void rmq_admin_kafka_backend(rmq_admin_kafka_t *k, rmq_metrics_t *metrics, rmq_admin_backend_t *be) {
    memset(be, 0, sizeof *be);
    be->ud = k;
    be->cluster = kb_cluster;
    be->health = kb_health;
    be->ready = kb_ready;
    be->list_topics = kb_list_topics;
    be->describe_topic = kb_describe_topic;
    be->create_topic = kb_create_topic;
    be->delete_topic = kb_delete_topic;
    be->alter_topic_configs = kb_alter_configs;
    be->create_partitions = kb_create_partitions;
    be->list_groups = kb_list_groups;
    be->describe_group = kb_describe_group;
    be->delete_group = kb_delete_group;
    be->metrics = metrics;
}
