/* ctl_admin.c - rustmq-controller's REST admin API backend (see ctl_admin.h).
 * Owns the admin server it starts; the raft store and metrics registry are
 * borrowed. Every function reads the state machine under its read lock and
 * copies what it returns into the request's arena. */
#include "controller/ctl_admin.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "controller/meta_state.h"
#include "controller/meta_store.h"
#include "controller/meta_validate.h"

struct rmq_ctl_admin {
    rmq_raft_store_t *raft;
    rmq_metrics_t *metrics;
    int32_t default_partitions;
    int16_t default_rf;
    rmq_admin_server_t *srv;
};

static const char *role_name(int state) {
    switch (state) {
    case RMQ_RAFT_LEADER: return "leader";
    case RMQ_RAFT_CANDIDATE: return "candidate";
    case RMQ_RAFT_FOLLOWER: return "follower";
    default: return "unavailable";
    }
}

/* A not-leader answer naming the leader (id and raft address: the
 * controller does not know its peers' HTTP listeners). */
static rmq_err_t not_leader(const rmq_raft_info_t *in, rmq_admin_errinfo_t *ei) {
    if (in->leader_id > 0)
        snprintf(ei->msg, sizeof ei->msg,
                 "controller %d is not the leader; the leader is controller %d (raft address %s): send writes to its "
                 "http_listen",
                 in->node_id, in->leader_id, in->leader_address);
    else
        snprintf(ei->msg, sizeof ei->msg, "controller %d is not the leader and no leader is known (election running)",
                 in->node_id);
    return RMQ_NOT_CONTROLLER;
}

/* On the leader: a Raft barrier, so the read that follows sees every
 * committed change (linearizable). On a follower: nothing (its applied
 * state). */
static void read_barrier(rmq_ctl_admin_t *c) {
    if (!rmq_raft_store_is_leader(c->raft)) return;
    char msg[128];
    if (rmq_raft_store_barrier_sync(c->raft, msg, sizeof msg) != RMQ_NONE)
        RMQ_DEBUG("controller", "msg=\"admin read barrier failed, reading applied state\" detail=\"%s\"", msg);
}

static rmq_meta_state_t *state_of(rmq_ctl_admin_t *c) { return rmq_raft_store_state(c->raft); }

static rmq_err_t ca_cluster(void *ud, rmq_arena_t *a, rmq_admin_cluster_t *out, rmq_admin_errinfo_t *ei) {
    (void)ei;
    rmq_ctl_admin_t *c = ud;
    read_barrier(c);
    rmq_raft_info_t in;
    rmq_raft_store_info(c->raft, &in);
    rmq_meta_state_t *s = state_of(c);
    out->cluster_id = rmq_ctl_admin_cluster_id(s, a);
    out->controller_id = in.leader_id > 0 ? in.leader_id : -1;
    return rmq_ctl_admin_brokers(s, a, 0, &out->brokers, &out->nbrokers);
}

static rmq_err_t ca_health(void *ud, rmq_arena_t *a, rmq_admin_health_t *out, rmq_admin_errinfo_t *ei) {
    (void)ei;
    rmq_ctl_admin_t *c = ud;
    rmq_raft_info_t in;
    rmq_raft_store_info(c->raft, &in);
    rmq_meta_state_t *s = state_of(c);
    rmq_meta_state_rdlock(s);
    size_t brokers = rmq_meta_state_broker_count_locked(s);
    rmq_meta_state_unlock(s);
    char term[24], leader[24], applied[24], nb[24], voters[24];
    snprintf(term, sizeof term, "%llu", (unsigned long long)in.term);
    snprintf(leader, sizeof leader, "%d", in.leader_id > 0 ? in.leader_id : -1);
    snprintf(applied, sizeof applied, "%llu", (unsigned long long)in.last_applied);
    snprintf(nb, sizeof nb, "%zu", brokers);
    snprintf(voters, sizeof voters, "%u", in.n_servers);
    out->details = rmq_arena_alloc(a, 6 * sizeof *out->details);
    if (!out->details) return RMQ_ERR_NOMEM;
    out->details[0] = (rmq_admin_kv_t){"raft_role", role_name(in.state)};
    out->details[1] = (rmq_admin_kv_t){"raft_term", rmq_admin_strdup(a, term)};
    out->details[2] = (rmq_admin_kv_t){"raft_leader", rmq_admin_strdup(a, leader)};
    out->details[3] = (rmq_admin_kv_t){"raft_last_applied", rmq_admin_strdup(a, applied)};
    out->details[4] = (rmq_admin_kv_t){"raft_servers", rmq_admin_strdup(a, voters)};
    out->details[5] = (rmq_admin_kv_t){"brokers_registered", rmq_admin_strdup(a, nb)};
    out->ndetails = 6;
    out->ok = in.leader_id > 0;
    out->status = !out->ok ? "unhealthy" : brokers == 0 ? "degraded" : "healthy";
    return RMQ_NONE;
}

static bool ca_ready(void *ud, char *why, size_t cap) {
    rmq_ctl_admin_t *c = ud;
    rmq_raft_info_t in;
    rmq_raft_store_info(c->raft, &in);
    if (in.leader_id <= 0) {
        snprintf(why, cap, "no Raft leader known (term %llu)", (unsigned long long)in.term);
        return false;
    }
    if (in.state == RMQ_RAFT_LEADER && !in.leader_ready) {
        snprintf(why, cap, "leader of term %llu is still applying earlier entries", (unsigned long long)in.term);
        return false;
    }
    return true;
}

char *rmq_ctl_admin_cluster_id(rmq_meta_state_t *s, rmq_arena_t *a) {
    rmq_meta_uuid_t id;
    char txt[23] = "";
    if (rmq_meta_state_cluster_id(s, &id)) rmq_meta_uuid_to_base64(&id, txt);
    return rmq_admin_strdup(a, txt);
}

rmq_err_t rmq_ctl_admin_brokers(rmq_meta_state_t *s, rmq_arena_t *a, size_t spare, rmq_admin_broker_t **out,
                                size_t *n) {
    rmq_meta_state_rdlock(s);
    size_t nb = rmq_meta_state_broker_count_locked(s);
    rmq_admin_broker_t *v = nb + spare ? rmq_arena_alloc(a, (nb + spare) * sizeof *v) : NULL;
    if (nb + spare && !v) {
        rmq_meta_state_unlock(s);
        return RMQ_ERR_NOMEM;
    }
    for (size_t i = 0; i < nb; i++) {
        const rmq_meta_broker_t *b = rmq_meta_state_broker_at(s, i);
        v[i].id = b->id;
        v[i].host = rmq_admin_strdup(a, b->host);
        v[i].port = b->port;
        v[i].rack = b->rack && *b->rack ? rmq_admin_strdup(a, b->rack) : NULL;
        v[i].status = "active";
    }
    rmq_meta_state_unlock(s);
    *out = v;
    *n = nb;
    return RMQ_NONE;
}

rmq_err_t rmq_ctl_admin_topic_list(rmq_meta_state_t *s, rmq_arena_t *a, rmq_admin_topic_list_t *out) {
    rmq_meta_state_rdlock(s);
    size_t n = rmq_meta_state_topic_count_locked(s);
    out->topics = n ? rmq_arena_alloc(a, n * sizeof *out->topics) : NULL;
    if (n && !out->topics) {
        rmq_meta_state_unlock(s);
        return RMQ_ERR_NOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        const rmq_meta_topic_t *t = rmq_meta_state_topic_at(s, i);
        memset(&out->topics[i], 0, sizeof out->topics[i]);
        out->topics[i].name = rmq_admin_strdup(a, t->name);
        out->topics[i].partitions = t->n_partitions;
        out->topics[i].replication_factor = t->replication_factor;
        out->topics[i].internal = t->name[0] == '_' && t->name[1] == '_';
    }
    out->ntopics = n;
    rmq_meta_state_unlock(s);
    return RMQ_NONE;
}

void rmq_ctl_admin_topic_configs(rmq_meta_state_t *s, rmq_arena_t *a, const char *name, int32_t max_message_bytes,
                                 rmq_admin_topic_t *out) {
    size_t nd;
    const rmq_meta_config_def_t *defs = rmq_meta_config_defs(&nd);
    out->configs = rmq_arena_alloc(a, nd * sizeof *out->configs);
    size_t k = 0;
    for (size_t i = 0; out->configs && i < nd; i++) {
        char val[1024];
        bool over = false;
        if (rmq_meta_state_config(s, name, defs[i].name, val, sizeof val, &over)) continue;
        if (!over && max_message_bytes > 0 && strcmp(defs[i].name, "max.message.bytes") == 0)
            snprintf(val, sizeof val, "%d", max_message_bytes);
        out->configs[k].name = defs[i].name;
        out->configs[k].value = defs[i].sensitive ? NULL : rmq_admin_strdup(a, val);
        k++;
    }
    out->nconfigs = k;
}

static rmq_err_t ca_list_topics(void *ud, rmq_arena_t *a, rmq_admin_topic_list_t *out, rmq_admin_errinfo_t *ei) {
    (void)ei;
    rmq_ctl_admin_t *c = ud;
    read_barrier(c);
    return rmq_ctl_admin_topic_list(state_of(c), a, out);
}

rmq_err_t rmq_ctl_admin_topic_describe(rmq_meta_state_t *s, rmq_arena_t *a, const char *name, rmq_admin_topic_t *out,
                                       uint64_t **streams, rmq_admin_errinfo_t *ei) {
    *streams = NULL;
    rmq_meta_state_rdlock(s);
    const rmq_meta_topic_t *t = rmq_meta_state_find_topic(s, name);
    if (!t) {
        rmq_meta_state_unlock(s);
        snprintf(ei->msg, sizeof ei->msg, "topic '%s' does not exist", name);
        return RMQ_UNKNOWN_TOPIC_OR_PARTITION;
    }
    out->name = rmq_admin_strdup(a, t->name);
    out->partitions = t->n_partitions;
    out->replication_factor = t->replication_factor;
    out->internal = t->name[0] == '_' && t->name[1] == '_';
    out->parts = t->n_partitions ? rmq_arena_alloc(a, (size_t)t->n_partitions * sizeof *out->parts) : NULL;
    uint64_t *ids = t->n_partitions ? malloc((size_t)t->n_partitions * sizeof *ids) : NULL;
    if (t->n_partitions && (!out->parts || !ids)) {
        rmq_meta_state_unlock(s);
        free(ids);
        return RMQ_ERR_NOMEM;
    }
    for (int32_t i = 0; i < t->n_partitions; i++) {
        const rmq_meta_partition_t *mp = &t->partitions[i];
        rmq_admin_partition_t *p = &out->parts[i];
        memset(p, 0, sizeof *p);
        p->partition = i;
        p->leader = mp->leader;
        p->leader_epoch = mp->leader_epoch;
        for (int32_t r = 0; r < mp->n_replicas && r < RMQ_ADMIN_MAX_REPLICAS; r++) p->replicas[p->nreplicas++] = mp->replicas[r];
        if (mp->leader >= 0) p->isr[p->nisr++] = mp->leader; /* no follower replication yet: the leader alone */
        p->log_start_offset = p->high_watermark = -1;
        ids[i] = mp->stream_id;
    }
    out->nparts = (size_t)t->n_partitions;
    rmq_meta_state_unlock(s);
    *streams = ids;
    return RMQ_NONE;
}

static rmq_err_t ca_describe_topic(void *ud, rmq_arena_t *a, const char *name, rmq_admin_topic_t *out,
                                   rmq_admin_errinfo_t *ei) {
    rmq_ctl_admin_t *c = ud;
    read_barrier(c);
    rmq_meta_state_t *s = state_of(c);
    uint64_t *streams = NULL;
    rmq_err_t err = rmq_ctl_admin_topic_describe(s, a, name, out, &streams, ei);
    if (err) return err;
    for (size_t i = 0; i < out->nparts; i++) { /* the manifest takes the lock itself */
        int64_t ls = -1, end = -1;
        if (!rmq_meta_state_manifest_stream(s, streams[i], &ls, &end, NULL, NULL)) ls = end = -1;
        out->parts[i].log_start_offset = ls;
        out->parts[i].high_watermark = end;
    }
    free(streams);
    rmq_ctl_admin_topic_configs(s, a, name, 0, out);
    return RMQ_NONE;
}

/* Propose cmd on the leader and wait for its applied result. */
static rmq_err_t propose(rmq_ctl_admin_t *c, const rmq_meta_cmd_t *cmd, rmq_admin_errinfo_t *ei) {
    rmq_raft_info_t in;
    rmq_raft_store_info(c->raft, &in);
    if (in.state != RMQ_RAFT_LEADER) return not_leader(&in, ei);
    rmq_meta_result_t res;
    rmq_meta_result_init(&res);
    rmq_err_t err = rmq_meta_store_propose_cmd(rmq_raft_store_store(c->raft), cmd, &res);
    if (err == RMQ_NOT_CONTROLLER) {
        rmq_raft_store_info(c->raft, &in);
        not_leader(&in, ei);
    } else if (err && res.msg[0]) {
        snprintf(ei->msg, sizeof ei->msg, "%s", res.msg);
    }
    rmq_meta_result_free(&res);
    return err;
}

static rmq_err_t ca_create_topic(void *ud, rmq_arena_t *a, const rmq_admin_new_topic_t *t, rmq_admin_errinfo_t *ei) {
    rmq_ctl_admin_t *c = ud;
    int32_t parts = t->partitions == -1 ? c->default_partitions : t->partitions;
    int32_t rf = t->replication_factor == -1 ? c->default_rf : t->replication_factor;
    if (rf > INT16_MAX) {
        snprintf(ei->msg, sizeof ei->msg, "replication factor %d is above %d", rf, INT16_MAX);
        return RMQ_INVALID_REPLICATION_FACTOR;
    }
    rmq_meta_kv_t *kv = t->nconfigs ? rmq_arena_alloc(a, t->nconfigs * sizeof *kv) : NULL;
    if (t->nconfigs && !kv) return RMQ_ERR_NOMEM;
    for (size_t i = 0; i < t->nconfigs; i++) {
        kv[i].key = t->configs[i].name;
        kv[i].value = t->configs[i].value ? t->configs[i].value : "";
    }
    rmq_meta_state_t *s = state_of(c);
    rmq_meta_state_rdlock(s);
    int32_t live = (int32_t)rmq_meta_state_broker_count_locked(s);
    rmq_meta_state_unlock(s);
    /* no broker registered yet: the topic is created unplaced and the
     * first broker to register adopts it (as for CreateTopics) */
    rmq_err_t err = rmq_meta_validate_replication_factor(rf, live > 0 ? live : rf, ei->msg, sizeof ei->msg);
    if (err) return err;
    rmq_meta_cmd_t cmd;
    memset(&cmd, 0, sizeof cmd);
    cmd.type = RMQ_META_CMD_CREATE_TOPIC;
    cmd.u.create_topic.name = t->name;
    cmd.u.create_topic.partitions = parts;
    cmd.u.create_topic.replication_factor = (int16_t)rf;
    cmd.u.create_topic.configs = kv;
    cmd.u.create_topic.n_configs = (uint32_t)t->nconfigs;
    err = rmq_meta_uuid_random(&cmd.u.create_topic.topic_id);
    if (err) return err;
    err = propose(c, &cmd, ei);
    if (!err) RMQ_INFO("controller", "msg=\"topic created (admin API)\" topic=%s partitions=%d", t->name, parts);
    return err;
}

static rmq_err_t ca_delete_topic(void *ud, rmq_arena_t *a, const char *name, rmq_admin_errinfo_t *ei) {
    (void)a;
    rmq_meta_cmd_t cmd;
    memset(&cmd, 0, sizeof cmd);
    cmd.type = RMQ_META_CMD_DELETE_TOPIC;
    cmd.u.delete_topic.name = name;
    rmq_err_t err = propose(ud, &cmd, ei);
    if (!err) RMQ_INFO("controller", "msg=\"topic deleted (admin API)\" topic=%s", name);
    return err;
}

static rmq_err_t ca_alter(void *ud, rmq_arena_t *a, const char *name, const rmq_admin_kv_t *configs, size_t n,
                          rmq_admin_errinfo_t *ei) {
    rmq_meta_cfg_alter_t *ops = n ? rmq_arena_alloc(a, n * sizeof *ops) : NULL;
    if (n && !ops) return RMQ_ERR_NOMEM;
    for (size_t i = 0; i < n; i++) {
        ops[i].key = configs[i].name;
        ops[i].op = configs[i].value ? RMQ_META_CFG_SET : RMQ_META_CFG_DELETE;
        ops[i].value = configs[i].value;
    }
    rmq_meta_cmd_t cmd;
    memset(&cmd, 0, sizeof cmd);
    cmd.type = RMQ_META_CMD_ALTER_TOPIC_CONFIGS;
    cmd.u.alter_configs.name = name;
    cmd.u.alter_configs.ops = ops;
    cmd.u.alter_configs.n_ops = (uint32_t)n;
    return propose(ud, &cmd, ei);
}

static rmq_err_t ca_create_partitions(void *ud, rmq_arena_t *a, const char *name, int32_t total,
                                      rmq_admin_errinfo_t *ei) {
    (void)a;
    rmq_meta_cmd_t cmd;
    memset(&cmd, 0, sizeof cmd);
    cmd.type = RMQ_META_CMD_CREATE_PARTITIONS;
    cmd.u.create_partitions.name = name;
    cmd.u.create_partitions.total = total;
    return propose(ud, &cmd, ei);
}

/* ---- metrics: the raft state at scrape time ---- */

static void ca_metric_raft(void *ud, rmq_metrics_sink_t *sink) {
    rmq_ctl_admin_t *c = ud;
    rmq_raft_info_t in;
    rmq_raft_store_info(c->raft, &in);
    const char *v[1];
    v[0] = "term", rmq_metrics_sink_add(sink, v, (double)in.term);
    v[0] = "leader_id", rmq_metrics_sink_add(sink, v, (double)(in.leader_id > 0 ? in.leader_id : -1));
    v[0] = "is_leader", rmq_metrics_sink_add(sink, v, in.state == RMQ_RAFT_LEADER ? 1.0 : 0.0);
    v[0] = "commit_index", rmq_metrics_sink_add(sink, v, (double)in.commit_index);
    v[0] = "last_applied", rmq_metrics_sink_add(sink, v, (double)in.last_applied);
    v[0] = "last_index", rmq_metrics_sink_add(sink, v, (double)in.last_index);
    v[0] = "servers", rmq_metrics_sink_add(sink, v, (double)in.n_servers);
}

static void ca_metric_leader_changes(void *ud, rmq_metrics_sink_t *sink) {
    rmq_ctl_admin_t *c = ud;
    rmq_raft_info_t in;
    rmq_raft_store_info(c->raft, &in);
    rmq_metrics_sink_add(sink, NULL, (double)in.leader_changes);
}

static void ca_metric_meta(void *ud, rmq_metrics_sink_t *sink) {
    rmq_ctl_admin_t *c = ud;
    rmq_meta_state_t *s = state_of(c);
    rmq_meta_state_rdlock(s);
    size_t brokers = rmq_meta_state_broker_count_locked(s);
    rmq_meta_state_unlock(s);
    size_t objects = 0;
    uint64_t bytes = 0;
    rmq_meta_state_manifest_totals(s, &objects, &bytes, NULL);
    const char *v[1];
    v[0] = "brokers", rmq_metrics_sink_add(sink, v, (double)brokers);
    v[0] = "topics", rmq_metrics_sink_add(sink, v, (double)rmq_meta_state_topic_count(s));
    v[0] = "partitions", rmq_metrics_sink_add(sink, v, (double)rmq_meta_state_partition_count(s));
    v[0] = "objects", rmq_metrics_sink_add(sink, v, (double)objects);
    v[0] = "object_bytes", rmq_metrics_sink_add(sink, v, (double)bytes);
}

rmq_err_t rmq_ctl_admin_start(const char *listen, rmq_raft_store_t *raft, rmq_metrics_t *metrics,
                              int32_t default_partitions, int16_t default_rf, rmq_ctl_admin_t **out, char *errbuf,
                              size_t errlen) {
    *out = NULL;
    rmq_ctl_admin_t *c = calloc(1, sizeof *c);
    if (!c) return RMQ_ERR_NOMEM;
    c->raft = raft;
    c->metrics = metrics;
    c->default_partitions = default_partitions > 0 ? default_partitions : 1;
    c->default_rf = default_rf > 0 ? default_rf : 1;
    if (metrics) {
        rmq_metrics_collector(metrics, RMQ_METRIC_GAUGE, "rustmq_controller_raft",
                              "this controller's Raft state: term, leader_id (-1 unknown), is_leader, commit_index, "
                              "last_applied, last_index, servers",
                              "field", ca_metric_raft, c);
        rmq_metrics_collector(metrics, RMQ_METRIC_COUNTER, "rustmq_controller_leader_changes_total",
                              "leader changes observed since start", NULL, ca_metric_leader_changes, c);
        rmq_metrics_collector(metrics, RMQ_METRIC_GAUGE, "rustmq_controller_metadata",
                              "applied metadata: registered brokers, topics, partitions, manifest objects and bytes",
                              "kind", ca_metric_meta, c);
    }
    rmq_admin_config_t ac;
    rmq_admin_config_default(&ac);
    ac.listen = listen;
    rmq_admin_backend_t be;
    memset(&be, 0, sizeof be);
    be.ud = c;
    be.cluster = ca_cluster;
    be.health = ca_health;
    be.ready = ca_ready;
    be.list_topics = ca_list_topics;
    be.describe_topic = ca_describe_topic;
    be.create_topic = ca_create_topic;
    be.delete_topic = ca_delete_topic;
    be.alter_topic_configs = ca_alter;
    be.create_partitions = ca_create_partitions;
    be.metrics = metrics; /* groups: NULL, answered 501 (they live on the brokers) */
    rmq_err_t err = rmq_admin_server_start(&ac, &be, &c->srv, errbuf, errlen);
    if (err) {
        if (metrics) {
            rmq_metrics_unregister(metrics, "rustmq_controller_raft");
            rmq_metrics_unregister(metrics, "rustmq_controller_leader_changes_total");
            rmq_metrics_unregister(metrics, "rustmq_controller_metadata");
        }
        free(c);
        return err;
    }
    *out = c;
    return RMQ_NONE;
}

int rmq_ctl_admin_port(const rmq_ctl_admin_t *a) { return a ? rmq_admin_server_port(a->srv) : -1; }

void rmq_ctl_admin_stop(rmq_ctl_admin_t *a) {
    if (!a) return;
    rmq_admin_server_stop(a->srv);
    if (a->metrics) {
        rmq_metrics_unregister(a->metrics, "rustmq_controller_raft");
        rmq_metrics_unregister(a->metrics, "rustmq_controller_leader_changes_total");
        rmq_metrics_unregister(a->metrics, "rustmq_controller_metadata");
    }
    free(a);
}
