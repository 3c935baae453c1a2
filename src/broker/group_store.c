/* group_store.c - the group coordinator inside the broker: the committed
 * offsets stream (__consumer_offsets) written through the storage engine,
 * its replay at startup, offset retention, the ticker thread that drives
 * the state machine's timers, and the consumer-lag query.
 *
 * __consumer_offsets is a normal topic of the metadata store (marked
 * internal by its "__" prefix, cleanup.policy=compact) created on the first
 * commit, like Kafka does, so brokers that never see a group carry no
 * extra topic. A group's records all go to partition hash(group) % n, so
 * the stream order is the commit order of that group. Every OffsetCommit
 * becomes one RecordBatch (one record per partition, Kafka's key/value
 * format, see group.h); the in-memory map is updated only when the append
 * is durable, then the response goes out. At startup every partition is
 * read from its log start and the records are applied in order (last value
 * per key wins, null value = tombstone).
 *
 * Threads: the ticker thread calls rmq_groups_tick every
 * RMQ_GROUPS_TICK_MS and the retention check every
 * RMQ_GROUPS_RETENTION_CHECK_MS; append completions run on the WAL writer
 * thread. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "broker/broker_int.h"
#include "broker/group.h"
#include "common/clock.h"
#include "common/log.h"
#include "protocol/record_batch.h"

#define RMQ_GROUPS_TICK_MS 50
#define RMQ_GROUPS_RETENTION_CHECK_MS 60000
#define RMQ_GROUPS_OFFSETS_PARTITIONS 8
#define RMQ_GROUPS_REPLAY_CHUNK (4u << 20)

struct rmq_broker_groups {
    rmq_groups_t *core;
    pthread_t ticker;
    bool ticker_started;
    pthread_mutex_t mu; /* stop flag + cv, topic fields */
    pthread_cond_t cv;
    bool stop;
    int32_t n_parts; /* partitions of __consumer_offsets, 0 = not created yet */
    uint64_t *streams;
    atomic_int pending; /* appends not yet complete */
    int64_t retention_check_interval_ms;
};

rmq_groups_t *rmq_broker_groups_core(rmq_broker_t *b) { return b && b->groups ? b->groups->core : NULL; }

/* ---- the offsets topic ---- */

static uint32_t rmq_group_partition_hash(const char *group) {
    /* Java's String.hashCode, as Kafka's partitionFor uses (ASCII ids) */
    int32_t h = 0;
    for (const char *p = group; *p; p++) h = (int32_t)(31u * (uint32_t)h + (uint8_t)*p);
    return (uint32_t)(h == INT32_MIN ? 0 : (h < 0 ? -h : h));
}

/* Fill n_parts/streams from the metadata if the topic exists (mu held). */
static void rmq_groups_topic_lookup(rmq_broker_t *b, struct rmq_broker_groups *G) {
    rmq_meta_state_rdlock(b->state);
    const rmq_meta_topic_t *t = rmq_meta_state_find_topic(b->state, RMQ_GROUPS_OFFSETS_TOPIC);
    int32_t n = t ? t->n_partitions : 0;
    uint64_t *s = n > 0 ? calloc((size_t)n, sizeof *s) : NULL;
    for (int32_t i = 0; s && i < n; i++) s[i] = t->partitions[i].stream_id;
    rmq_meta_state_unlock(b->state);
    if (s) {
        free(G->streams);
        G->streams = s;
        G->n_parts = n;
    }
}

/* The stream of the group's partition, creating the topic if needed. */
static rmq_err_t rmq_groups_stream_for(rmq_broker_t *b, const char *group, uint64_t *stream) {
    struct rmq_broker_groups *G = b->groups;
    pthread_mutex_lock(&G->mu);
    if (G->n_parts == 0) rmq_groups_topic_lookup(b, G);
    if (G->n_parts == 0) {
        rmq_meta_kv_t cfg[] = {{"cleanup.policy", "compact"}};
        char msg[256];
        rmq_err_t err = rmq_broker_create_topic(b, RMQ_GROUPS_OFFSETS_TOPIC, RMQ_GROUPS_OFFSETS_PARTITIONS, 1, cfg, 1,
                                                false, NULL, msg, sizeof msg);
        if (err && err != RMQ_TOPIC_ALREADY_EXISTS) {
            pthread_mutex_unlock(&G->mu);
            RMQ_ERROR("group", "msg=\"cannot create the offsets topic\" err=%s detail=\"%s\"", rmq_err_name(err), msg);
            return RMQ_COORDINATOR_NOT_AVAILABLE;
        }
        rmq_groups_topic_lookup(b, G);
        if (G->n_parts == 0) {
            pthread_mutex_unlock(&G->mu);
            return RMQ_COORDINATOR_NOT_AVAILABLE;
        }
    }
    *stream = G->streams[rmq_group_partition_hash(group) % (uint32_t)G->n_parts];
    pthread_mutex_unlock(&G->mu);
    return RMQ_NONE;
}

/* The stream of the group's offsets partition if the topic exists (no
 * creation: group requests must not block on the controller). */
static rmq_err_t rmq_groups_stream_lookup(rmq_broker_t *b, const char *group, uint64_t *stream) {
    struct rmq_broker_groups *G = b->groups;
    pthread_mutex_lock(&G->mu);
    if (G->n_parts == 0) rmq_groups_topic_lookup(b, G);
    rmq_err_t err = G->n_parts ? RMQ_NONE : RMQ_COORDINATOR_NOT_AVAILABLE;
    if (!err) *stream = G->streams[rmq_group_partition_hash(group) % (uint32_t)G->n_parts];
    pthread_mutex_unlock(&G->mu);
    return err;
}

/* The coordinator's node (and, if host != NULL, its address) from the
 * leader of the group's offsets partition; create: make the topic first if
 * it does not exist (FindCoordinator, as Kafka does). */
static rmq_err_t rmq_groups_coordinator_of(rmq_broker_t *b, const char *group, bool create, int32_t *node,
                                           char *host, size_t host_cap, int32_t *port) {
    if (!b->cluster) { /* embedded controller: the only broker */
        *node = b->o.node_id;
        if (host) snprintf(host, host_cap, "%s", b->adv_host);
        if (port) *port = b->adv_port;
        return RMQ_NONE;
    }
    uint64_t stream;
    rmq_err_t err = create ? rmq_groups_stream_for(b, group, &stream) : rmq_groups_stream_lookup(b, group, &stream);
    if (err) return err;
    err = RMQ_COORDINATOR_NOT_AVAILABLE;
    rmq_meta_state_rdlock(b->state);
    const rmq_meta_topic_t *t = rmq_meta_state_find_topic(b->state, RMQ_GROUPS_OFFSETS_TOPIC);
    for (int32_t i = 0; t && i < t->n_partitions; i++) {
        if (t->partitions[i].stream_id != stream) continue;
        const rmq_meta_broker_t *mb =
            t->partitions[i].leader >= 0 ? rmq_meta_state_find_broker(b->state, t->partitions[i].leader) : NULL;
        if (mb) {
            *node = mb->id;
            if (host) snprintf(host, host_cap, "%s", mb->host);
            if (port) *port = mb->port;
            err = RMQ_NONE;
        }
        break;
    }
    rmq_meta_state_unlock(b->state);
    return err;
}

rmq_err_t rmq_broker_groups_coordinator(rmq_broker_t *b, const char *group, int32_t *node, char *host, size_t host_cap,
                                        int32_t *port) {
    return rmq_groups_coordinator_of(b, group, true, node, host, host_cap, port);
}

rmq_err_t rmq_broker_groups_check_coordinator(rmq_broker_t *b, const char *group) {
    if (!b->cluster) return RMQ_NONE;
    int32_t node = -1;
    rmq_err_t err = rmq_groups_coordinator_of(b, group ? group : "", false, &node, NULL, 0, NULL);
    if (err) return err;
    return node == b->o.node_id ? RMQ_NONE : RMQ_NOT_COORDINATOR;
}

/* ---- appends ---- */

typedef struct rmq_groups_append_op {
    rmq_broker_t *b;
    rmq_broker_groups_write_cb cb;
    void *ud;
} rmq_groups_append_op_t;

static void rmq_groups_on_durable(void *ud, rmq_err_t err, int64_t base_offset) {
    (void)base_offset;
    rmq_groups_append_op_t *op = ud;
    struct rmq_broker_groups *G = op->b->groups;
    if (op->cb) op->cb(op->ud, err);
    free(op);
    atomic_fetch_sub(&G->pending, 1);
}

rmq_err_t rmq_broker_groups_write(rmq_broker_t *b, const char *group_id, const rmq_groups_rec_t *recs, size_t n,
                                  rmq_broker_groups_write_cb cb, void *ud) {
    if (!b->groups || n == 0 || n > INT32_MAX) return RMQ_ERR_INVALID_ARG;
    uint64_t stream;
    rmq_err_t err = rmq_groups_stream_for(b, group_id, &stream);
    if (err) return err;
    rmq_rb_builder_t bld;
    rmq_rb_builder_init(&bld);
    rmq_buf_t k, v, batch;
    rmq_buf_init(&k);
    rmq_buf_init(&v);
    rmq_buf_init(&batch);
    int64_t now = rmq_wall_ms();
    for (size_t i = 0; i < n && !err; i++) {
        rmq_buf_reset(&k);
        rmq_buf_reset(&v);
        rmq_groups_encode_key(&k, group_id, recs[i].topic, recs[i].partition);
        if (recs[i].value) rmq_groups_encode_value(&v, recs[i].value);
        if (k.oom || v.oom) err = RMQ_ERR_NOMEM;
        else
            err = rmq_rb_builder_add(&bld, now, k.data, (int32_t)k.len, recs[i].value ? v.data : NULL,
                                     recs[i].value ? (int32_t)v.len : -1, NULL, 0);
    }
    rmq_rb_build_opts_t o;
    rmq_rb_build_opts_default(&o);
    if (!err) err = rmq_rb_builder_finish(&bld, &o, &batch);
    rmq_groups_append_op_t *op = err ? NULL : calloc(1, sizeof *op);
    if (!err && !op) err = RMQ_ERR_NOMEM;
    if (!err) {
        op->b = b;
        op->cb = cb;
        op->ud = ud;
        atomic_fetch_add(&b->groups->pending, 1);
        err = rmq_store_append(b->store, stream, batch.data, batch.len, (int32_t)n, now, rmq_groups_on_durable, op);
        if (err) {
            atomic_fetch_sub(&b->groups->pending, 1);
            free(op);
        }
    }
    rmq_buf_free(&k);
    rmq_buf_free(&v);
    rmq_buf_free(&batch);
    rmq_rb_builder_free(&bld);
    return err;
}

/* ---- replay ---- */

static rmq_err_t rmq_groups_replay_stream(rmq_broker_t *b, uint64_t stream, size_t *records) {
    int64_t start = 0, hw = 0;
    rmq_store_stream_info(b->store, stream, &start, &hw, NULL);
    int64_t off = start;
    rmq_buf_t scratch;
    rmq_buf_init(&scratch);
    rmq_err_t err = RMQ_NONE;
    while (off < hw && !err) {
        rmq_store_read_t rd;
        memset(&rd, 0, sizeof rd);
        err = rmq_store_read(b->store, stream, off, RMQ_GROUPS_REPLAY_CHUNK, &rd);
        if (err == RMQ_ERR_NOT_FOUND) {
            /* this stretch lives in the object tier only; skip to what the
             * WAL still has */
            int64_t ws = hw;
            rmq_store_stream_wal_start(b->store, stream, &ws);
            RMQ_WARN("group", "msg=\"offsets records not in the local WAL, skipped\" stream=%llu from=%lld to=%lld",
                     (unsigned long long)stream, (long long)off, (long long)ws);
            rmq_store_read_release(&rd);
            err = RMQ_NONE;
            if (ws <= off) break;
            off = ws;
            continue;
        }
        if (err || rd.iovcnt == 0 || rd.next_offset <= off) {
            rmq_store_read_release(&rd);
            break;
        }
        for (size_t i = 0; i < rd.iovcnt && !err; i++) {
            rmq_rb_batches_t it;
            rmq_rb_batch_t bt;
            rmq_rb_batches_init(&it, rd.iov[i].iov_base, rd.iov[i].iov_len, RMQ_RB_F_COMPACTED);
            while (!err && rmq_rb_batches_next(&it, &bt)) {
                if (rmq_rb_is_control(&bt.h)) continue;
                rmq_rb_iter_t ri;
                rmq_rb_record_t r;
                err = rmq_rb_iter_init(&ri, &bt, &scratch, 64u << 20, RMQ_RB_F_COMPACTED);
                while (!err && rmq_rb_iter_next(&ri, &r)) {
                    rmq_err_t e = rmq_groups_apply_record(b->groups->core, r.key.ptr, r.key.len, r.value.ptr,
                                                          r.value.len);
                    if (e == RMQ_ERR_NOMEM) err = e;
                    else if (e) RMQ_WARN("group", "msg=\"undecodable offsets record skipped\" stream=%llu",
                                         (unsigned long long)stream);
                    else (*records)++;
                }
                if (!err && ri.err) err = ri.err;
            }
            if (!err && it.err) err = it.err;
        }
        off = rd.next_offset;
        rmq_store_read_release(&rd);
    }
    rmq_buf_free(&scratch);
    return err;
}

/* ---- retention ---- */

typedef struct rmq_groups_tomb {
    char *group, *topic;
    int32_t partition;
} rmq_groups_tomb_t;

typedef struct rmq_groups_tombs {
    rmq_groups_tomb_t *v;
    size_t n, cap;
} rmq_groups_tombs_t;

static void rmq_groups_collect_tomb(void *ud, const char *group_id, const rmq_group_offset_t *o) {
    rmq_groups_tombs_t *t = ud;
    if (t->n == t->cap) {
        size_t nc = t->cap ? t->cap * 2 : 64;
        rmq_groups_tomb_t *nv = realloc(t->v, nc * sizeof *nv);
        if (!nv) return;
        t->v = nv;
        t->cap = nc;
    }
    t->v[t->n].group = strdup(group_id);
    t->v[t->n].topic = strdup(o->topic);
    t->v[t->n].partition = o->partition;
    if (t->v[t->n].group && t->v[t->n].topic) t->n++;
    else {
        free(t->v[t->n].group);
        free(t->v[t->n].topic);
    }
}

/* Write tombstones for the collected offsets, one batch per group. */
static void rmq_groups_write_tombs(rmq_broker_t *b, rmq_groups_tombs_t *t) {
    size_t i = 0;
    while (i < t->n) {
        size_t j = i;
        while (j < t->n && strcmp(t->v[j].group, t->v[i].group) == 0) j++;
        rmq_groups_rec_t *recs = calloc(j - i, sizeof *recs);
        for (size_t k = i; recs && k < j; k++) {
            recs[k - i].topic = t->v[k].topic;
            recs[k - i].partition = t->v[k].partition;
            recs[k - i].value = NULL;
        }
        rmq_err_t err = recs ? rmq_broker_groups_write(b, t->v[i].group, recs, j - i, NULL, NULL) : RMQ_ERR_NOMEM;
        if (err)
            RMQ_WARN("group", "msg=\"cannot write offset tombstones\" group=%s err=%s", t->v[i].group,
                     rmq_err_name(err));
        free(recs);
        i = j;
    }
    for (size_t k = 0; k < t->n; k++) {
        free(t->v[k].group);
        free(t->v[k].topic);
    }
    free(t->v);
    memset(t, 0, sizeof *t);
}

size_t rmq_broker_groups_expire(rmq_broker_t *b, int64_t now_ms) {
    rmq_groups_tombs_t t;
    memset(&t, 0, sizeof t);
    size_t n = rmq_groups_expire_offsets(b->groups->core, now_ms, rmq_groups_collect_tomb, &t);
    if (n) RMQ_INFO("group", "msg=\"expired committed offsets\" count=%zu", n);
    rmq_groups_write_tombs(b, &t);
    return n;
}

rmq_err_t rmq_broker_groups_delete(rmq_broker_t *b, const char *group_id, rmq_broker_groups_write_cb cb, void *ud,
                                   bool *async) {
    *async = false;
    rmq_groups_tombs_t t;
    memset(&t, 0, sizeof t);
    rmq_err_t err = rmq_groups_delete(b->groups->core, group_id, rmq_groups_collect_tomb, &t);
    if (err || t.n == 0) {
        rmq_groups_write_tombs(b, &t);
        return err;
    }
    rmq_groups_rec_t *recs = calloc(t.n, sizeof *recs);
    for (size_t k = 0; recs && k < t.n; k++) {
        recs[k].topic = t.v[k].topic;
        recs[k].partition = t.v[k].partition;
    }
    err = recs ? rmq_broker_groups_write(b, group_id, recs, t.n, cb, ud) : RMQ_ERR_NOMEM;
    if (!err) *async = true;
    free(recs);
    for (size_t k = 0; k < t.n; k++) {
        free(t.v[k].group);
        free(t.v[k].topic);
    }
    free(t.v);
    return err ? RMQ_KAFKA_STORAGE_ERROR : RMQ_NONE;
}

/* ---- ticker ---- */

static void *rmq_groups_ticker(void *arg) {
    rmq_broker_t *b = arg;
    pthread_setname_np(pthread_self(), "rmq-groups");
    struct rmq_broker_groups *G = b->groups;
    int64_t next_expire = rmq_wall_ms() + G->retention_check_interval_ms;
    pthread_mutex_lock(&G->mu);
    while (!G->stop) {
        struct timespec ts = rmq_cond_deadline_ms(RMQ_GROUPS_TICK_MS);
        pthread_cond_timedwait(&G->cv, &G->mu, &ts);
        if (G->stop) break;
        pthread_mutex_unlock(&G->mu);
        int64_t now = rmq_wall_ms();
        rmq_groups_tick(G->core, now);
        if (now >= next_expire) {
            rmq_broker_groups_expire(b, now);
            next_expire = now + G->retention_check_interval_ms;
        }
        pthread_mutex_lock(&G->mu);
    }
    pthread_mutex_unlock(&G->mu);
    return NULL;
}

/* ---- lifecycle ---- */

rmq_err_t rmq_broker_groups_open(rmq_broker_t *b, char *errbuf, size_t errlen) {
    struct rmq_broker_groups *G = calloc(1, sizeof *G);
    if (!G) return RMQ_ERR_NOMEM;
    rmq_groups_config_t cfg;
    cfg.initial_rebalance_delay_ms = b->o.group_initial_rebalance_delay_ms;
    cfg.min_session_timeout_ms = b->o.group_min_session_timeout_ms;
    cfg.max_session_timeout_ms = b->o.group_max_session_timeout_ms;
    cfg.offsets_retention_ms = b->o.offsets_retention_minutes * 60000;
    /* zeroed opts (embedders that do not set them) get Kafka's defaults */
    if (cfg.max_session_timeout_ms <= 0) cfg.max_session_timeout_ms = 1800000;
    if (cfg.min_session_timeout_ms <= 0) cfg.min_session_timeout_ms = 6000;
    if (cfg.offsets_retention_ms <= 0) cfg.offsets_retention_ms = 7LL * 24 * 3600 * 1000;
    if (cfg.initial_rebalance_delay_ms < 0) cfg.initial_rebalance_delay_ms = 0;
    G->core = rmq_groups_new(&cfg);
    if (!G->core) {
        free(G);
        return RMQ_ERR_NOMEM;
    }
    pthread_mutex_init(&G->mu, NULL);
    pthread_cond_init(&G->cv, NULL);
    atomic_init(&G->pending, 0);
    G->retention_check_interval_ms = RMQ_GROUPS_RETENTION_CHECK_MS;
    b->groups = G;

    uint64_t t0 = rmq_mono_ns();
    size_t records = 0;
    rmq_groups_topic_lookup(b, G);
    for (int32_t i = 0; i < G->n_parts; i++) {
        rmq_err_t err = rmq_groups_replay_stream(b, G->streams[i], &records);
        if (err) {
            snprintf(errbuf, errlen, "cannot replay %s partition %d: %s", RMQ_GROUPS_OFFSETS_TOPIC, i,
                     rmq_err_name(err));
            return err;
        }
    }
    if (G->n_parts)
        RMQ_INFO("group", "msg=\"committed offsets loaded\" records=%zu groups=%zu ms=%llu", records,
                 rmq_groups_list(G->core, NULL, 0), (unsigned long long)((rmq_mono_ns() - t0) / 1000000));
    /* expire what ran out while we were down */
    rmq_broker_groups_expire(b, rmq_wall_ms());
    if (pthread_create(&G->ticker, NULL, rmq_groups_ticker, b)) {
        snprintf(errbuf, errlen, "cannot start the group coordinator thread: %s", strerror(errno));
        return RMQ_ERR_NOMEM;
    }
    G->ticker_started = true;
    return RMQ_NONE;
}

void rmq_broker_groups_stop(rmq_broker_t *b) {
    struct rmq_broker_groups *G = b->groups;
    if (!G) return;
    pthread_mutex_lock(&G->mu);
    G->stop = true;
    pthread_cond_broadcast(&G->cv);
    pthread_mutex_unlock(&G->mu);
    if (G->ticker_started) pthread_join(G->ticker, NULL);
    G->ticker_started = false;
    /* parked joins/syncs must not hold up the drain: clients re-find the
     * coordinator and retry */
    rmq_groups_fail_waiters(G->core, RMQ_COORDINATOR_NOT_AVAILABLE);
}

void rmq_broker_groups_close(rmq_broker_t *b) {
    struct rmq_broker_groups *G = b->groups;
    if (!G) return;
    rmq_broker_groups_stop(b);
    /* appends in flight call back into the core: let them finish */
    for (int i = 0; i < 10000 && atomic_load(&G->pending) > 0; i++) {
        struct timespec d = {0, 1000000};
        nanosleep(&d, NULL);
    }
    if (atomic_load(&G->pending) > 0) {
        RMQ_WARN("group", "msg=\"offset appends still pending at close; leaking the coordinator\" pending=%d",
                 atomic_load(&G->pending));
        b->groups = NULL;
        return;
    }
    rmq_groups_free(G->core);
    pthread_mutex_destroy(&G->mu);
    pthread_cond_destroy(&G->cv);
    free(G->streams);
    free(G);
    b->groups = NULL;
}

/* ---- lag ---- */

typedef struct rmq_lag_ctx {
    rmq_broker_t *b;
    rmq_group_lag_t *out;
    size_t cap, n;
} rmq_lag_ctx_t;

static void rmq_lag_one(void *ud, const rmq_group_offset_t *o) {
    rmq_lag_ctx_t *c = ud;
    if (c->n < c->cap) {
        rmq_group_lag_t *l = &c->out[c->n];
        snprintf(l->topic, sizeof l->topic, "%s", o->topic);
        l->partition = o->partition;
        l->committed = o->offset;
        l->log_end = -1;
        l->lag = 0;
        uint64_t stream;
        if (rmq_broker_stream_of(c->b, o->topic, o->partition, &stream) == 0) {
            int64_t hw = 0;
            rmq_store_stream_info(c->b->store, stream, NULL, &hw, NULL);
            l->log_end = hw;
            l->lag = o->offset >= 0 && hw > o->offset ? hw - o->offset : (o->offset < 0 ? hw : 0);
        }
    }
    c->n++;
}

rmq_err_t rmq_groups_lag(rmq_broker_t *b, const char *group_id, rmq_group_lag_t *out, size_t cap, size_t *n) {
    *n = 0;
    rmq_groups_t *g = rmq_broker_groups_core(b);
    if (!g) return RMQ_ERR_CLOSED;
    rmq_lag_ctx_t c = {b, out, cap, 0};
    rmq_groups_lock(g);
    rmq_group_summary_t s;
    (void)s;
    size_t k = rmq_groups_offsets_each_locked(g, group_id, rmq_lag_one, &c);
    rmq_groups_unlock(g);
    if (k == 0) {
        rmq_err_t err = rmq_groups_summary(g, group_id, &s);
        if (err) return err;
    }
    *n = c.n;
    return RMQ_NONE;
}
