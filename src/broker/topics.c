/* topics.c - the broker's view of topics and partitions: proposals to the
 * metadata store (serialised), topic creation with broker defaults, the
 * topic/partition -> stream id lookup, and the runtime partition table
 * (stream id -> rmq_partition_t with its lock, producer state, fetch
 * waiters and cached topic config). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/broker_int.h"
#include "broker/tier_glue.h"
#include "common/log.h"
#include "controller/meta_validate.h"
#include "protocol/record_batch.h"

rmq_err_t rmq_broker_propose(rmq_broker_t *b, const rmq_meta_cmd_t *cmd, rmq_meta_result_t *res) {
    pthread_mutex_lock(&b->meta_mu);
    rmq_err_t err = rmq_meta_store_propose_cmd(b->meta, cmd, res);
    pthread_mutex_unlock(&b->meta_mu);
    return err;
}

rmq_err_t rmq_broker_submit(rmq_broker_t *b, const rmq_meta_cmd_t *cmd, bool validate_only, char *msg, size_t cap) {
    rmq_meta_result_t res;
    rmq_meta_result_init(&res);
    rmq_err_t err;
    if (validate_only) {
        rmq_buf_t enc;
        rmq_buf_init(&enc);
        err = rmq_meta_cmd_encode(cmd, &enc);
        if (!err) err = rmq_meta_state_check(b->state, enc.data, enc.len, &res);
        rmq_buf_free(&enc);
    } else {
        err = rmq_broker_propose(b, cmd, &res);
    }
    if (msg && cap) snprintf(msg, cap, "%s", err ? res.msg : "");
    rmq_meta_result_free(&res);
    return err;
}

rmq_err_t rmq_broker_alter_topic(rmq_broker_t *b, const char *topic, const rmq_meta_cfg_alter_t *ops, uint32_t n,
                                 bool validate_only, char *msg, size_t cap) {
    rmq_meta_cmd_t cmd;
    memset(&cmd, 0, sizeof cmd);
    cmd.type = RMQ_META_CMD_ALTER_TOPIC_CONFIGS;
    cmd.u.alter_configs.name = topic;
    cmd.u.alter_configs.ops = ops;
    cmd.u.alter_configs.n_ops = n;
    return rmq_broker_submit(b, &cmd, validate_only, msg, cap);
}

rmq_err_t rmq_broker_create_partitions(rmq_broker_t *b, const char *topic, int32_t total, bool validate_only,
                                       char *msg, size_t cap) {
    rmq_meta_cmd_t cmd;
    memset(&cmd, 0, sizeof cmd);
    cmd.type = RMQ_META_CMD_CREATE_PARTITIONS;
    cmd.u.create_partitions.name = topic;
    cmd.u.create_partitions.total = total;
    return rmq_broker_submit(b, &cmd, validate_only, msg, cap);
}

rmq_err_t rmq_broker_create_topic(rmq_broker_t *b, const char *name, int32_t partitions, int16_t rf,
                                  const rmq_meta_kv_t *configs, uint32_t n_configs, bool validate_only,
                                  rmq_meta_uuid_t *topic_id, char *msg, size_t msglen) {
    if (msg && msglen) msg[0] = 0;
    if (partitions == -1) partitions = b->o.default_partitions;
    if (rf == -1) rf = b->o.default_replication_factor;
    rmq_meta_cmd_t cmd;
    memset(&cmd, 0, sizeof cmd);
    cmd.type = RMQ_META_CMD_CREATE_TOPIC;
    cmd.u.create_topic.name = name;
    cmd.u.create_topic.partitions = partitions;
    cmd.u.create_topic.replication_factor = rf;
    cmd.u.create_topic.configs = configs;
    cmd.u.create_topic.n_configs = n_configs;
    rmq_err_t err = rmq_meta_uuid_random(&cmd.u.create_topic.topic_id);
    if (err) return err;
    /* one live broker: a replication factor above 1 cannot be placed */
    err = rmq_meta_validate_replication_factor(rf, 1, msg, msglen);
    if (err) return err;
    err = rmq_broker_submit(b, &cmd, validate_only, msg, msglen);
    if (!err && topic_id) *topic_id = cmd.u.create_topic.topic_id;
    if (!err && !validate_only)
        RMQ_INFO("broker", "msg=\"topic created\" topic=%s partitions=%d", name, partitions);
    return err;
}

rmq_err_t rmq_broker_delete_topic(rmq_broker_t *b, const char *name, const rmq_meta_uuid_t *id, char *msg,
                                  size_t cap) {
    rmq_meta_cmd_t cmd;
    memset(&cmd, 0, sizeof cmd);
    cmd.type = RMQ_META_CMD_DELETE_TOPIC;
    cmd.u.delete_topic.name = name ? name : "";
    if (id) cmd.u.delete_topic.topic_id = *id;
    /* the topic's objects, while the manifest still lists them (the
     * result names at most RMQ_META_RESULT_MAX_KEYS of those that die) */
    char **keys = NULL;
    size_t nkeys = 0;
    rmq_err_t kerr = rmq_btier_topic_objects(b, name, id, &keys, &nkeys);
    if (kerr)
        RMQ_WARN("broker", "msg=\"cannot list a deleted topic's objects; the next start sweeps them\" topic=%s err=%s",
                 name && *name ? name : "(by id)", rmq_err_name(kerr));
    rmq_meta_result_t res;
    rmq_meta_result_init(&res);
    rmq_err_t err = rmq_broker_propose(b, &cmd, &res);
    if (msg && cap) snprintf(msg, cap, "%s", res.msg);
    if (!err) {
        for (size_t i = 0; i < res.n_stream_ids; i++) rmq_store_stream_delete(b->store, res.stream_ids[i]);
        RMQ_INFO("broker", "msg=\"topic deleted\" topic=%s partitions=%zu objects=%zu", name && *name ? name : "(by id)",
                 res.n_stream_ids, nkeys);
        rmq_btier_delete_unused(b, keys, nkeys, &res); /* takes keys */
    } else {
        rmq_btier_keys_free(keys, nkeys);
    }
    rmq_meta_result_free(&res);
    return err;
}

void rmq_partition_metrics(rmq_broker_t *b, rmq_partition_t *p, const char *topic) {
    if (p->m_produce_bytes || !b->metrics) return;
    const char *v[1] = {topic};
    if (b->m_produce_bytes) p->m_produce_bytes = rmq_counter_with(b->m_produce_bytes, v);
    if (b->m_produce_records) p->m_produce_records = rmq_counter_with(b->m_produce_records, v);
    if (b->m_fetch_bytes) p->m_fetch_bytes = rmq_counter_with(b->m_fetch_bytes, v);
}

rmq_err_t rmq_broker_stream_of(rmq_broker_t *b, const char *topic, int32_t partition, uint64_t *stream_id) {
    return rmq_meta_state_stream_id(b->state, topic, partition, stream_id);
}

/* ---- partition table ---- */

static uint64_t rmq_stream_hash(uint64_t x) {
    x ^= x >> 31;
    x *= 0x7fb5d329728ea185ull;
    x ^= x >> 27;
    return x;
}

rmq_partition_t *rmq_broker_partition(rmq_broker_t *b, uint64_t stream_id) {
    pthread_mutex_lock(&b->parts_mu);
    if (b->parts_cap) {
        size_t i = rmq_stream_hash(stream_id) & (b->parts_cap - 1);
        while (b->parts[i]) {
            if (b->parts[i]->stream_id == stream_id) {
                rmq_partition_t *p = b->parts[i];
                pthread_mutex_unlock(&b->parts_mu);
                return p;
            }
            i = (i + 1) & (b->parts_cap - 1);
        }
    }
    if ((b->parts_n + 1) * 2 > b->parts_cap) {
        size_t ncap = b->parts_cap ? b->parts_cap * 2 : 64;
        rmq_partition_t **nt = calloc(ncap, sizeof *nt);
        if (!nt) {
            pthread_mutex_unlock(&b->parts_mu);
            return NULL;
        }
        for (size_t k = 0; k < b->parts_cap; k++) {
            if (!b->parts[k]) continue;
            size_t j = rmq_stream_hash(b->parts[k]->stream_id) & (ncap - 1);
            while (nt[j]) j = (j + 1) & (ncap - 1);
            nt[j] = b->parts[k];
        }
        free(b->parts);
        b->parts = nt;
        b->parts_cap = ncap;
    }
    rmq_partition_t *p = calloc(1, sizeof *p);
    if (!p) {
        pthread_mutex_unlock(&b->parts_mu);
        return NULL;
    }
    p->stream_id = stream_id;
    p->cfg_version = UINT64_MAX;
    p->max_message_bytes = b->o.max_message_bytes;
    pthread_mutex_init(&p->mu, NULL);
    size_t i = rmq_stream_hash(stream_id) & (b->parts_cap - 1);
    while (b->parts[i]) i = (i + 1) & (b->parts_cap - 1);
    b->parts[i] = p;
    b->parts_n++;
    pthread_mutex_unlock(&b->parts_mu);
    return p;
}

void rmq_broker_partitions_free(rmq_broker_t *b) {
    for (size_t i = 0; i < b->parts_cap; i++) {
        rmq_partition_t *p = b->parts[i];
        if (!p) continue;
        rmq_producers_free(p->producers);
        pthread_mutex_destroy(&p->mu);
        free(p);
    }
    free(b->parts);
    b->parts = NULL;
    b->parts_cap = b->parts_n = 0;
}

/* Kafka's LogConfig.compact: cleanup.policy is a list ("compact,delete")
 * that contains "compact". */
static bool cleanup_policy_compacts(const char *val) {
    for (const char *t = val; *t;) {
        while (*t == ' ' || *t == ',') t++;
        size_t n = strcspn(t, ",");
        size_t m = n;
        while (m && t[m - 1] == ' ') m--;
        if (m == 7 && memcmp(t, "compact", 7) == 0) return true;
        t += n;
    }
    return false;
}

void rmq_partition_refresh_config(rmq_broker_t *b, rmq_partition_t *p, const char *topic, int32_t partition) {
    uint64_t v = rmq_meta_state_version(b->state);
    if (v == p->cfg_version) return;
    rmq_meta_state_rdlock(b->state);
    const rmq_meta_topic_t *t = rmq_meta_state_find_topic(b->state, topic);
    p->leader_epoch = t && partition >= 0 && partition < t->n_partitions ? t->partitions[partition].leader_epoch : -1;
    rmq_meta_state_unlock(b->state);
    char val[64];
    bool over = false;
    p->max_message_bytes = b->o.max_message_bytes;
    if (rmq_meta_state_config(b->state, topic, "max.message.bytes", val, sizeof val, &over) == 0 && over)
        p->max_message_bytes = (int32_t)strtol(val, NULL, 10);
    p->log_append_time = false;
    if (rmq_meta_state_config(b->state, topic, "message.timestamp.type", val, sizeof val, &over) == 0)
        p->log_append_time = strcmp(val, "LogAppendTime") == 0;
    char policy[512]; /* cleanup.policy values validate up to 511 bytes */
    p->compacted = rmq_meta_state_config(b->state, topic, "cleanup.policy", policy, sizeof policy, NULL) == 0 &&
                   cleanup_policy_compacts(policy);
    p->cfg_version = v;
}

/* Rebuild the idempotent producers' state from the batches in the log, so a
 * producer that retries after a broker restart is still recognised. */
rmq_producers_t *rmq_partition_producers(rmq_broker_t *b, rmq_partition_t *p) {
    if (!p->producers) p->producers = rmq_producers_new(RMQ_PRODUCER_EXPIRE_MS);
    if (!p->producers || p->producers_loaded) return p->producers;
    p->producers_loaded = true;
    int64_t ws = 0, hw = 0;
    rmq_store_stream_info(b->store, p->stream_id, NULL, &hw, NULL);
    /* the batches still in the local WAL: the recent ones, which are what
     * a retrying producer can repeat (uploaded ones are not re-read) */
    rmq_store_stream_wal_start(b->store, p->stream_id, &ws);
    /* rebuilt entries count as written now: batch timestamps are the
     * clients' (CreateTime), possibly far in the past or future */
    int64_t now = rmq_wall_ms();
    int64_t off = ws;
    while (off < hw) {
        rmq_store_read_t rd;
        memset(&rd, 0, sizeof rd);
        if (rmq_store_read(b->store, p->stream_id, off, 1u << 20, &rd) || rd.iovcnt == 0) {
            rmq_store_read_release(&rd);
            break;
        }
        for (size_t k = 0; k < rd.iovcnt; k++) {
            const uint8_t *d = rd.iov[k].iov_base;
            if (rd.iov[k].iov_len < RMQ_RB_HEADER_SIZE) continue;
            int64_t pid = (int64_t)rmq_be64(d + 43);
            int16_t epoch = (int16_t)rmq_be16(d + 51);
            int32_t seq = (int32_t)rmq_be32(d + 53);
            if (pid >= 0 && seq >= 0)
                rmq_producers_record(p->producers, pid, epoch, seq, rmq_rb_peek_last_offset_delta(d) + 1,
                                     rmq_rb_peek_base_offset(d), now, rmq_rb_peek_max_timestamp(d));
        }
        off = rd.next_offset;
        rmq_store_read_release(&rd);
    }
    return p->producers;
}
