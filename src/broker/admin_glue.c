/* admin_glue.c - the broker side of the admin plane: the metrics the broker
 * and its storage export, and the rmq_admin_backend_t the REST API
 * (src/admin) serves from in single-node mode.
 *
 * Hot-path metrics are handles resolved once: per API (an array indexed by
 * api key) and per partition (resolved with the topic name when the
 * partition's config is refreshed). Everything else is read at scrape time
 * through callbacks (WAL usage, connections, partitions, consumer lag).
 * Backend calls run on the admin server's threads; strings they return are
 * allocated from the arena the server passes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/broker_int.h"
#include "common/clock.h"
#include "common/log.h"
#include "broker/tier_glue.h"
#include "controller/ctl_admin.h"
#include "controller/meta_validate.h"

/* ---------------- metrics ---------------- */

static double rmq_m_connections(void *ud) {
    rmq_broker_t *b = ud;
    if (!b->net) return 0;
    rmq_net_stats_t st;
    rmq_net_get_stats(b->net, &st);
    return (double)st.connections_open;
}

static double rmq_m_partitions(void *ud) { return (double)rmq_meta_state_partition_count(((rmq_broker_t *)ud)->state); }
static double rmq_m_topics(void *ud) { return (double)rmq_meta_state_topic_count(((rmq_broker_t *)ud)->state); }

static void rmq_m_store(void *ud, rmq_metrics_sink_t *sink, int which) {
    rmq_broker_t *b = ud;
    if (!b->store) return;
    rmq_store_stats_t st;
    rmq_store_stats(b->store, &st);
    double v = 0;
    switch (which) {
    case 0: v = (double)st.usage_bytes; break;
    case 1: v = (double)st.capacity_bytes; break;
    case 2: v = (double)st.fsyncs; break;
    case 3: v = (double)st.append_bytes; break;
    case 4: v = (double)st.appends; break;
    case 5: v = (double)st.cache_bytes; break;
    case 6: v = st.read_only ? 1 : 0; break;
    default: break;
    }
    rmq_metrics_sink_add(sink, NULL, v);
}
static void rmq_m_wal_used(void *ud, rmq_metrics_sink_t *s) { rmq_m_store(ud, s, 0); }
static void rmq_m_wal_cap(void *ud, rmq_metrics_sink_t *s) { rmq_m_store(ud, s, 1); }
static void rmq_m_wal_fsyncs(void *ud, rmq_metrics_sink_t *s) { rmq_m_store(ud, s, 2); }
static void rmq_m_wal_bytes(void *ud, rmq_metrics_sink_t *s) { rmq_m_store(ud, s, 3); }
static void rmq_m_wal_appends(void *ud, rmq_metrics_sink_t *s) { rmq_m_store(ud, s, 4); }
static void rmq_m_wal_cache(void *ud, rmq_metrics_sink_t *s) { rmq_m_store(ud, s, 5); }
static void rmq_m_wal_ro(void *ud, rmq_metrics_sink_t *s) { rmq_m_store(ud, s, 6); }
static void rmq_m_wal_index(void *ud, rmq_metrics_sink_t *s) {
    rmq_broker_t *b = ud;
    if (b->store) rmq_metrics_sink_add(s, NULL, (double)rmq_store_index_entries(b->store));
}

rmq_err_t rmq_broker_metrics_init(rmq_broker_t *b) {
    rmq_metrics_t *m = rmq_metrics_new();
    if (!m) return RMQ_ERR_NOMEM;
    b->metrics = m;
    rmq_metrics_register_process(m);
    rmq_metric_family_t *req = rmq_metrics_family(m, RMQ_METRIC_COUNTER, "rustmq_requests",
                                                  "Kafka requests handled, by API", "api", NULL, 0);
    rmq_metric_family_t *lat = rmq_metrics_family(m, RMQ_METRIC_HISTOGRAM, "rustmq_request_latency_seconds",
                                                  "time from a request's arrival to its response, by API", "api",
                                                  rmq_hist_buckets_seconds, rmq_hist_buckets_seconds_n);
    b->m_produce_bytes = rmq_metrics_family(m, RMQ_METRIC_COUNTER, "rustmq_produce_bytes",
                                            "record batch bytes appended, by topic", "topic", NULL, 0);
    b->m_produce_records = rmq_metrics_family(m, RMQ_METRIC_COUNTER, "rustmq_produce_records",
                                              "records appended, by topic", "topic", NULL, 0);
    b->m_fetch_bytes = rmq_metrics_family(m, RMQ_METRIC_COUNTER, "rustmq_fetch_bytes",
                                          "record batch bytes returned to consumers, by topic", "topic", NULL, 0);
    b->m_append_latency = rmq_hist_new(m, "rustmq_wal_append_latency_seconds",
                                       "time from a produce append to its WAL durability", rmq_hist_buckets_seconds,
                                       rmq_hist_buckets_seconds_n);
    b->m_fsync_latency = rmq_hist_new(m, "rustmq_wal_fsync_latency_seconds", "duration of each WAL sync: an fdatasync, or a write with RWF_DSYNC (write and sync in one)",
                                      rmq_hist_buckets_seconds, rmq_hist_buckets_seconds_n);
    size_t n;
    const rmq_handler_t *h = rmq_broker_handlers(&n);
    for (size_t i = 0; i < n; i++) {
        const char *api = rmq_kafka_api_name(h[i].api_key);
        if (h[i].api_key < 0 || h[i].api_key >= RMQ_BROKER_MAX_API) continue;
        if (req) b->m_requests[h[i].api_key] = rmq_counter_with(req, &api);
        if (lat) b->m_latency[h[i].api_key] = rmq_hist_with(lat, &api);
    }
    rmq_gauge_fn(m, "rustmq_connections", "open client connections", rmq_m_connections, b);
    rmq_gauge_fn(m, "rustmq_partitions", "partitions (this broker leads all of them)", rmq_m_partitions, b);
    rmq_gauge_fn(m, "rustmq_topics", "topics", rmq_m_topics, b);
    rmq_metrics_collector(m, RMQ_METRIC_GAUGE, "rustmq_wal_used_bytes", "bytes of live WAL entries", NULL,
                          rmq_m_wal_used, b);
    rmq_metrics_collector(m, RMQ_METRIC_GAUGE, "rustmq_wal_capacity_bytes", "WAL disk budget", NULL, rmq_m_wal_cap,
                          b);
    rmq_metrics_collector(m, RMQ_METRIC_COUNTER, "rustmq_wal_fsyncs_total", "WAL fdatasync calls", NULL,
                          rmq_m_wal_fsyncs, b);
    rmq_metrics_collector(m, RMQ_METRIC_COUNTER, "rustmq_wal_append_bytes_total", "bytes appended to the WAL",
                          NULL, rmq_m_wal_bytes, b);
    rmq_metrics_collector(m, RMQ_METRIC_COUNTER, "rustmq_wal_appends_total", "batches appended to the WAL", NULL,
                          rmq_m_wal_appends, b);
    rmq_metrics_collector(m, RMQ_METRIC_GAUGE, "rustmq_write_cache_bytes", "bytes held by the write cache", NULL,
                          rmq_m_wal_cache, b);
    rmq_metrics_collector(m, RMQ_METRIC_GAUGE, "rustmq_wal_read_only",
                          "1 when the WAL refused writes after an I/O failure", NULL, rmq_m_wal_ro, b);
    rmq_metrics_collector(m, RMQ_METRIC_GAUGE, "rustmq_wal_index_entries",
                          "in-memory offset index entries (batches in the local WAL), all partitions", NULL,
                          rmq_m_wal_index, b);
    rmq_broker_tier_metrics(b);
    return 0;
}

void rmq_broker_metrics_request(rmq_broker_t *b, int16_t api_key, uint64_t start_ns) {
    if (api_key < 0 || api_key >= RMQ_BROKER_MAX_API) return;
    if (b->m_requests[api_key]) rmq_counter_inc(b->m_requests[api_key]);
    if (b->m_latency[api_key]) rmq_hist_observe(b->m_latency[api_key], (double)(rmq_mono_ns() - start_ns) / 1e9);
}

/* Object-storage tier counters, read at scrape time (tier_glue.h). */
typedef enum {
    RMQ_MT_UP_OBJECTS, RMQ_MT_UP_BYTES, RMQ_MT_UP_FAILURES, RMQ_MT_UP_RETRIES, RMQ_MT_PUTS,
    RMQ_MT_GET_BYTES, RMQ_MT_GETS, RMQ_MT_DELETED, RMQ_MT_CACHE_HITS, RMQ_MT_CACHE_MISSES, RMQ_MT_UP_PENDING,
    RMQ_MT_UP_PACED, RMQ_MT_UP_ENTRIES
} rmq_mt_kind_t;

static void rmq_m_tier(rmq_broker_t *b, rmq_metrics_sink_t *sink, rmq_mt_kind_t k) {
    rmq_btier_stats_t t;
    if (!rmq_btier_stats(b, &t)) return;
    const rmq_tier_cache_stats_t *c = &t.read.cache;
    double v = 0;
    switch (k) {
    case RMQ_MT_UP_OBJECTS: v = (double)t.upload.objects_uploaded; break;
    case RMQ_MT_UP_BYTES: v = (double)t.upload.bytes_uploaded; break;
    case RMQ_MT_UP_FAILURES: v = (double)t.upload.upload_failures; break;
    case RMQ_MT_UP_RETRIES: v = (double)t.upload.upload_retries; break;
    case RMQ_MT_PUTS: v = (double)t.upload.put_requests; break;
    case RMQ_MT_GET_BYTES: v = (double)c->get_bytes; break;
    case RMQ_MT_GETS: v = (double)c->get_requests; break;
    case RMQ_MT_DELETED: v = (double)t.objects_deleted; break;
    case RMQ_MT_UP_PENDING: v = (double)(t.upload.queued + t.upload.running); break;
    case RMQ_MT_UP_PACED: v = (double)t.upload.paced_ns / 1e9; break;
    case RMQ_MT_CACHE_HITS:
    case RMQ_MT_CACHE_MISSES: {
        const char *hot[1] = {"read_hot"}, *cold[1] = {"read_cold"};
        bool hits = k == RMQ_MT_CACHE_HITS;
        rmq_metrics_sink_add(sink, hot, (double)(hits ? c->hot_hits : c->hot_misses));
        rmq_metrics_sink_add(sink, cold, (double)(hits ? c->cold_hits : c->cold_misses));
        return;
    }
    case RMQ_MT_UP_ENTRIES: {
        const char *wc[1] = {"write_cache"}, *sg[1] = {"segment"};
        rmq_metrics_sink_add(sink, wc, (double)t.upload.entries_from_cache);
        rmq_metrics_sink_add(sink, sg, (double)t.upload.entries_read);
        return;
    }
    }
    rmq_metrics_sink_add(sink, NULL, v);
}
#define RMQ_MT_FN(name, kind) \
    static void name(void *ud, rmq_metrics_sink_t *s) { rmq_m_tier(ud, s, kind); }
RMQ_MT_FN(rmq_mt_up_objects, RMQ_MT_UP_OBJECTS)
RMQ_MT_FN(rmq_mt_up_bytes, RMQ_MT_UP_BYTES)
RMQ_MT_FN(rmq_mt_up_failures, RMQ_MT_UP_FAILURES)
RMQ_MT_FN(rmq_mt_up_retries, RMQ_MT_UP_RETRIES)
RMQ_MT_FN(rmq_mt_puts, RMQ_MT_PUTS)
RMQ_MT_FN(rmq_mt_get_bytes, RMQ_MT_GET_BYTES)
RMQ_MT_FN(rmq_mt_gets, RMQ_MT_GETS)
RMQ_MT_FN(rmq_mt_deleted, RMQ_MT_DELETED)
RMQ_MT_FN(rmq_mt_hits, RMQ_MT_CACHE_HITS)
RMQ_MT_FN(rmq_mt_misses, RMQ_MT_CACHE_MISSES)
RMQ_MT_FN(rmq_mt_up_pending, RMQ_MT_UP_PENDING)
RMQ_MT_FN(rmq_mt_up_paced, RMQ_MT_UP_PACED)
RMQ_MT_FN(rmq_mt_up_entries, RMQ_MT_UP_ENTRIES)

void rmq_broker_tier_metrics(rmq_broker_t *b) {
    static const struct {
        const char *name, *help, *labels;
        void (*fn)(void *, rmq_metrics_sink_t *);
    } defs[] = {
        {"rustmq_object_uploads_total", "WAL segments uploaded as objects", NULL, rmq_mt_up_objects},
        {"rustmq_object_upload_bytes_total", "bytes uploaded to the object store", NULL, rmq_mt_up_bytes},
        {"rustmq_object_upload_failures_total", "uploads that failed after their retries", NULL, rmq_mt_up_failures},
        {"rustmq_object_upload_retries_total", "upload attempts retried", NULL, rmq_mt_up_retries},
        {"rustmq_object_upload_paced_seconds_total",
         "time local-disk object writes waited so they do not crowd the WAL's synced writes", NULL, rmq_mt_up_paced},
        {"rustmq_object_upload_entries_total",
         "WAL entries put into objects, by where they came from (write_cache: copied from memory; segment: read "
         "back from the WAL file and CRC-checked)",
         "source", rmq_mt_up_entries},
        {"rustmq_object_put_requests_total", "PUT requests sent to the object store", NULL, rmq_mt_puts},
        {"rustmq_object_get_bytes_total", "bytes read from the object store", NULL, rmq_mt_get_bytes},
        {"rustmq_object_get_requests_total", "ranged GET requests sent to the object store", NULL, rmq_mt_gets},
        {"rustmq_objects_deleted_total", "objects deleted by retention", NULL, rmq_mt_deleted},
        {"rustmq_cache_hits_total", "read cache hits, by cache", "cache", rmq_mt_hits},
        {"rustmq_cache_misses_total", "read cache misses, by cache", "cache", rmq_mt_misses},
    };
    for (size_t i = 0; i < sizeof defs / sizeof defs[0]; i++)
        rmq_metrics_collector(b->metrics, RMQ_METRIC_COUNTER, defs[i].name, defs[i].help, defs[i].labels, defs[i].fn,
                              b);
    rmq_metrics_collector(b->metrics, RMQ_METRIC_GAUGE, "rustmq_object_uploads_pending",
                          "sealed WAL segments queued for upload or uploading now", NULL, rmq_mt_up_pending, b);
}

/* ---------------- backend ---------------- */

static rmq_err_t rmq_bk_cluster(void *ud, rmq_arena_t *a, rmq_admin_cluster_t *out, rmq_admin_errinfo_t *ei) {
    (void)ei;
    rmq_broker_t *b = ud;
    out->cluster_id = rmq_ctl_admin_cluster_id(b->state, a);
    /* embedded: this broker runs the controller; with a quorum the leader
     * is the controllers' business (their own admin API reports it) */
    out->controller_id = b->cluster ? -1 : b->o.node_id;
    rmq_err_t err = rmq_ctl_admin_brokers(b->state, a, 1, &out->brokers, &out->nbrokers);
    if (err) return err;
    bool self_listed = false;
    for (size_t i = 0; i < out->nbrokers; i++)
        if (out->brokers[i].id == b->o.node_id) {
            self_listed = true;
            if (atomic_load(&b->stopping)) out->brokers[i].status = "draining";
        }
    if (!self_listed) { /* not (yet, or any more) registered: still say who answers */
        rmq_admin_broker_t *o = &out->brokers[out->nbrokers++];
        o->id = b->o.node_id;
        o->host = rmq_admin_strdup(a, b->adv_host);
        o->port = b->adv_port;
        o->rack = b->rack && *b->rack ? rmq_admin_strdup(a, b->rack) : NULL;
        o->status = atomic_load(&b->stopping) ? "draining" : "inactive";
    }
    return 0;
}

static rmq_err_t rmq_bk_health(void *ud, rmq_arena_t *a, rmq_admin_health_t *out, rmq_admin_errinfo_t *ei) {
    (void)ei;
    rmq_broker_t *b = ud;
    rmq_store_stats_t st;
    memset(&st, 0, sizeof st);
    if (b->store) rmq_store_stats(b->store, &st);
    out->details = rmq_arena_alloc(a, 4 * sizeof *out->details);
    if (!out->details) return RMQ_ERR_NOMEM;
    char usage[64];
    snprintf(usage, sizeof usage, "%.1f%%",
             st.capacity_bytes ? 100.0 * (double)st.usage_bytes / (double)st.capacity_bytes : 0.0);
    bool full = st.capacity_bytes && st.usage_bytes + (st.capacity_bytes / 50) >= st.capacity_bytes;
    out->details[0] = (rmq_admin_kv_t){"wal", st.read_only ? "read-only" : "ok"};
    out->details[1] = (rmq_admin_kv_t){"wal_usage", rmq_admin_strdup(a, usage)};
    out->details[2] = (rmq_admin_kv_t){"metadata", b->state ? "ok" : "unavailable"};
    out->details[3] = (rmq_admin_kv_t){"listener", b->net ? "ok" : "down"};
    out->ndetails = 4;
    out->ok = !st.read_only && b->state && b->net;
    out->status = !out->ok ? "unhealthy" : full ? "degraded" : "healthy";
    return 0;
}

static bool rmq_bk_ready(void *ud, char *why, size_t cap) {
    rmq_broker_t *b = ud;
    if (atomic_load(&b->stopping)) {
        snprintf(why, cap, "shutting down");
        return false;
    }
    if (!b->net) {
        snprintf(why, cap, "Kafka listener not started");
        return false;
    }
    return true;
}

static rmq_err_t rmq_bk_list_topics(void *ud, rmq_arena_t *a, rmq_admin_topic_list_t *out, rmq_admin_errinfo_t *ei) {
    (void)ei;
    rmq_broker_t *b = ud;
    return rmq_ctl_admin_topic_list(b->state, a, out);
}

static rmq_err_t rmq_bk_describe_topic(void *ud, rmq_arena_t *a, const char *name, rmq_admin_topic_t *out,
                                       rmq_admin_errinfo_t *ei) {
    rmq_broker_t *b = ud;
    uint64_t *streams = NULL;
    rmq_err_t err = rmq_ctl_admin_topic_describe(b->state, a, name, out, &streams, ei);
    if (err) return err;
    for (size_t i = 0; i < out->nparts; i++) {
        int64_t ls = -1, hw = -1;
        rmq_store_stream_info(b->store, streams[i], &ls, &hw, NULL);
        out->parts[i].log_start_offset = ls;
        out->parts[i].high_watermark = hw;
    }
    free(streams);
    rmq_ctl_admin_topic_configs(b->state, a, name, b->o.max_message_bytes, out);
    return 0;
}

static rmq_err_t rmq_bk_create_topic(void *ud, rmq_arena_t *a, const rmq_admin_new_topic_t *t,
                                     rmq_admin_errinfo_t *ei) {
    rmq_broker_t *b = ud;
    rmq_meta_kv_t *kv = t->nconfigs ? rmq_arena_alloc(a, t->nconfigs * sizeof *kv) : NULL;
    if (t->nconfigs && !kv) return RMQ_ERR_NOMEM;
    for (size_t i = 0; i < t->nconfigs; i++) {
        kv[i].key = t->configs[i].name;
        kv[i].value = t->configs[i].value ? t->configs[i].value : "";
    }
    if (t->replication_factor > INT16_MAX) return RMQ_INVALID_REPLICATION_FACTOR;
    return rmq_broker_create_topic(b, t->name, t->partitions, (int16_t)t->replication_factor, kv,
                                   (uint32_t)t->nconfigs, false, NULL, ei->msg, sizeof ei->msg);
}

static rmq_err_t rmq_bk_delete_topic(void *ud, rmq_arena_t *a, const char *name, rmq_admin_errinfo_t *ei) {
    (void)a;
    return rmq_broker_delete_topic(ud, name, NULL, ei->msg, sizeof ei->msg);
}

static rmq_err_t rmq_bk_alter(void *ud, rmq_arena_t *a, const char *name, const rmq_admin_kv_t *configs, size_t n,
                              rmq_admin_errinfo_t *ei) {
    rmq_broker_t *b = ud;
    rmq_meta_cfg_alter_t *ops = n ? rmq_arena_alloc(a, n * sizeof *ops) : NULL;
    if (n && !ops) return RMQ_ERR_NOMEM;
    for (size_t i = 0; i < n; i++) {
        ops[i].key = configs[i].name;
        ops[i].op = configs[i].value ? RMQ_META_CFG_SET : RMQ_META_CFG_DELETE;
        ops[i].value = configs[i].value;
    }
    return rmq_broker_alter_topic(b, name, ops, (uint32_t)n, false, ei->msg, sizeof ei->msg);
}

static rmq_err_t rmq_bk_create_partitions(void *ud, rmq_arena_t *a, const char *name, int32_t total,
                                          rmq_admin_errinfo_t *ei) {
    (void)a;
    return rmq_broker_create_partitions(ud, name, total, false, ei->msg, sizeof ei->msg);
}

rmq_err_t rmq_broker_admin_start(rmq_broker_t *b, char *errbuf, size_t errlen) {
    if (!b->o.admin_enabled || !b->o.admin_listen || !*b->o.admin_listen) return 0;
    rmq_admin_config_t ac;
    rmq_admin_config_default(&ac);
    ac.listen = b->o.admin_listen;
    if (b->o.admin_rl_max_ips) { /* from [admin] in the config (0 = opts not filled: seed defaults) */
        rmq_ratelimit_config_t *rl = &ac.rate_limit;
        rl->enabled = b->o.admin_rl_enabled;
        rl->global = (rmq_rl_limit_t){b->o.admin_rl_global_rps, b->o.admin_rl_global_burst};
        rl->per_ip = (rmq_rl_limit_t){b->o.admin_rl_ip_rps, b->o.admin_rl_ip_burst};
        rl->max_tracked_ips = b->o.admin_rl_max_ips;
        for (int c = 0; c < RMQ_RL_NCAT && c < 4; c++)
            rl->category[c] = (rmq_rl_limit_t){b->o.admin_rl_category_rps[c], 2 * b->o.admin_rl_category_rps[c]};
    }
    rmq_admin_backend_t be;
    memset(&be, 0, sizeof be);
    be.ud = b;
    be.cluster = rmq_bk_cluster;
    be.health = rmq_bk_health;
    be.ready = rmq_bk_ready;
    be.list_topics = rmq_bk_list_topics;
    be.describe_topic = rmq_bk_describe_topic;
    be.create_topic = rmq_bk_create_topic;
    be.delete_topic = rmq_bk_delete_topic;
    be.alter_topic_configs = rmq_bk_alter;
    be.create_partitions = rmq_bk_create_partitions;
    rmq_broker_admin_groups_backend(&be);
    be.metrics = b->metrics;
    rmq_err_t err = rmq_admin_server_start(&ac, &be, &b->admin, errbuf, errlen);
    if (!err)
        RMQ_INFO("broker", "msg=\"admin API listening\" listen=%s port=%d", b->o.admin_listen,
                 rmq_admin_server_port(b->admin));
    return err;
}

void rmq_broker_admin_stop(rmq_broker_t *b) {
    if (b->admin) rmq_admin_server_stop(b->admin);
    b->admin = NULL;
}
