/* h_produce.c - the Produce handler.
 *
 * For each partition: validate its one RecordBatch (Produce v3+ carries
 * exactly one; framing, CRC, every record, decompressing within a bound, and
 * the batches Kafka refuses from clients: control, a producer id without a
 * sequence, zstd below v7), enforce max.message.bytes and, on compacted
 * topics, keys, check the idempotent producer's sequence, then - under the
 * partition lock, so the offsets the store assigns follow the order of the
 * checks - append the batch to the store. The batch bytes are appended
 * straight from the request frame; the store writes the base offset into
 * its copy. The response goes out when every append is durable (acks 1 and
 * -1 both wait for the WAL; on one node the ISR is the leader) or, for
 * acks=0, no response is sent at all, and a failure closes the connection.
 * Completions arrive on the WAL writer thread and hop back to the
 * connection's I/O thread. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/broker_int.h"
#include "broker/cluster.h"
#include "common/clock.h"
#include "common/log.h"
#include "protocol/record_batch.h"

#define RMQ_PRODUCE_MAX_DECOMPRESSED (256u << 20)

typedef rmq_kmsg_produce_response_partition_produce_response_t rmq_pp_resp_t;

typedef struct rmq_produce_ctx {
    rmq_req_t *req;
    atomic_int pending; /* appends not yet complete, +1 while the handler runs */
    bool silent;        /* acks = 0 */
    bool off_loop;      /* finishing off the I/O thread (its loop is gone: shutdown) */
} rmq_produce_ctx_t;

typedef struct rmq_produce_op {
    rmq_produce_ctx_t *ctx;
    uint64_t start_ns;
    rmq_pp_resp_t *pr;
    rmq_partition_t *part;
    rmq_broker_t *b;
} rmq_produce_op_t;

/* acks=0 gets no response, so a failure would go unnoticed: as Kafka does,
 * close the connection (the client reconnects and refreshes its metadata).
 * net logs the close with the peer; the reason names the first failed
 * partition. Pipelined requests still unanswered on that connection are
 * dropped with it, as with any close. I/O thread. */
static void rmq_produce_close_if_failed(rmq_req_t *req) {
    const rmq_kmsg_produce_response_t *r = req->resp;
    int failed = 0;
    char why[256] = "";
    for (int32_t i = 0; r && i < r->responses.n; i++) {
        const rmq_kmsg_produce_response_topic_produce_response_t *t = &r->responses.v[i];
        for (int32_t j = 0; j < t->partition_responses.n; j++) {
            const rmq_pp_resp_t *pr = &t->partition_responses.v[j];
            if (pr->error_code == 0) continue;
            if (failed++ == 0)
                snprintf(why, sizeof why, "acks=0 produce failed: correlation_id=%d topic=%.*s partition=%d err=%s",
                         req->hdr.correlation_id, t->name.len > 0 ? (int)t->name.len : 0,
                         t->name.ptr ? t->name.ptr : "", pr->index, rmq_err_name(pr->error_code));
        }
    }
    if (!failed) return;
    if (failed > 1) {
        size_t n = strlen(why);
        snprintf(why + n, sizeof why - n, " (and %d more partitions)", failed - 1);
    }
    rmq_net_conn_close(req->conn, why);
}

static void rmq_produce_done(void *ud) {
    rmq_produce_ctx_t *ctx = ud;
    if (ctx->silent) {
        if (!ctx->off_loop) rmq_produce_close_if_failed(ctx->req); /* uv_close: loop thread only */
        rmq_req_finish_silent(ctx->req);
    } else {
        rmq_req_finish(ctx->req);
    }
}

/* Drop one pending count; the last one sends the response, directly when
 * on the I/O thread already, else by posting to it. */
static void rmq_produce_release(rmq_produce_ctx_t *ctx, bool on_loop) {
    if (atomic_fetch_sub(&ctx->pending, 1) != 1) return;
    if (on_loop) {
        rmq_produce_done(ctx);
    } else if (rmq_net_loop_post(ctx->req->loop, rmq_produce_done, ctx)) {
        ctx->off_loop = true;
        rmq_produce_done(ctx);
    }
}

/* WAL writer thread. */
static void rmq_produce_on_durable(void *ud, rmq_err_t err, int64_t base_offset) {
    rmq_produce_op_t *op = ud;
    if (op->b->m_append_latency) rmq_hist_observe(op->b->m_append_latency, (double)(rmq_mono_ns() - op->start_ns) / 1e9);
    if (err) {
        op->pr->error_code = rmq_err_to_wire(err);
        op->pr->base_offset = -1;
    } else if (op->pr->error_code == 0) {
        op->pr->base_offset = base_offset;
    }
    rmq_partition_wake(op->b, op->part);
    rmq_produce_release(op->ctx, false);
}

/* Append failures are logged at most once per 10 s: a full WAL rejects every
 * produce and would otherwise flood the log, but operators must see it. */
static void rmq_produce_log_append_error(const char *topic, int32_t partition, rmq_err_t err) {
    static atomic_uint_fast64_t last_ns;
    uint64_t now = rmq_mono_ns(), prev = atomic_load(&last_ns);
    if (prev && now - prev < 10000000000ull) return;
    if (!atomic_compare_exchange_strong(&last_ns, &prev, now)) return;
    RMQ_WARN("broker", "msg=\"append refused\" topic=%s partition=%d err=%s hint=\"%s\"", topic, partition,
             rmq_err_name(err),
             err == RMQ_ERR_WAL_FULL ? "WAL is at wal.capacity_bytes until uploaded segments are reclaimed"
                                     : "see earlier storage errors");
}

/* v8+ record_errors for a compacted topic's keyless records, as Kafka's
 * LogValidator reports them: one entry per record without a key, by its
 * index in the batch. Runs only on that refusal (a second walk of the
 * records, decompressing into a scratch buffer freed here); the list is
 * request-arena owned and stays empty on OOM or a walk error. */
static void rmq_produce_keyless_errors(rmq_req_t *req, const uint8_t *batch, size_t size, int64_t n_null,
                                       const char *topic, int32_t partition, rmq_pp_resp_t *pr) {
    if (req->hdr.api_version < 8 || n_null <= 0 || n_null > INT32_MAX) return;
    const rmq_kafka_msg_desc_t *ed = rmq_kdesc_sub(
        rmq_kdesc_sub(rmq_kdesc_sub(&rmq_kmsg_produce_response_desc, "responses"), "partition_responses"),
        "record_errors");
    rmq_kmsg_produce_response_batch_index_and_error_message_t *e = rmq_req_array(req, ed, (int32_t)n_null);
    char msg[384];
    snprintf(msg, sizeof msg, "Compacted topic cannot accept message without key in topic partition %s-%d.", topic,
             partition);
    rmq_kstr_t why = rmq_req_kstr(req, msg);
    rmq_rb_batches_t it;
    rmq_rb_batch_t bt;
    rmq_rb_batches_init(&it, batch, size, RMQ_RB_F_NO_CRC);
    if (!e || !why.ptr || !rmq_rb_batches_next(&it, &bt)) return;
    rmq_buf_t scratch;
    rmq_buf_init(&scratch);
    rmq_rb_iter_t ri;
    rmq_rb_record_t rec;
    int32_t k = 0;
    if (rmq_rb_iter_init(&ri, &bt, &scratch, RMQ_PRODUCE_MAX_DECOMPRESSED, 0) == RMQ_NONE) {
        for (int32_t i = 0; k < (int32_t)n_null && rmq_rb_iter_next(&ri, &rec); i++) {
            if (rec.key.len >= 0) continue;
            e[k].batch_index = i;
            e[k].batch_index_error_message = why;
            k++;
        }
    }
    rmq_buf_free(&scratch);
    pr->record_errors.n = k;
    pr->record_errors.v = e;
}

/* One partition's records: exactly one batch (Produce v3+), checked whole
 * before it is appended, so a partition's records are taken whole or
 * refused whole and a retry cannot duplicate a part. */
static void rmq_produce_partition(rmq_req_t *req, rmq_produce_ctx_t *ctx, const char *topic,
                                  const rmq_kmsg_produce_request_partition_produce_data_t *pd, rmq_pp_resp_t *pr) {
    rmq_broker_t *b = req->b;
    pr->index = pd->index;
    pr->base_offset = -1;
    pr->log_append_time_ms = -1;
    pr->log_start_offset = -1;
    uint64_t stream;
    if (rmq_broker_stream_of(b, topic, pd->index, &stream)) {
        pr->error_code = RMQ_UNKNOWN_TOPIC_OR_PARTITION;
        return;
    }
    if (b->cluster) { /* quorum mode: only the partition's leader appends */
        rmq_err_t le = rmq_cluster_check_leader(b->state, topic, pd->index, b->o.node_id);
        if (le) {
            pr->error_code = rmq_err_to_wire(le);
            return;
        }
    }
    if (pd->records.len <= 0) { /* null or empty: no batch (ProduceRequest.validateRecords) */
        pr->error_code = RMQ_INVALID_RECORD;
        pr->error_message = rmq_req_kstr(req, "no record batch (Produce v3+ carries exactly one per partition)");
        return;
    }
    rmq_partition_t *part = rmq_broker_partition(b, stream);
    if (!part) {
        pr->error_code = RMQ_KAFKA_STORAGE_ERROR;
        return;
    }
    rmq_rb_summary_t sum;
    uint32_t flags = RMQ_RB_F_ONE_BATCH | RMQ_RB_F_CLIENT | (req->hdr.api_version < 7 ? RMQ_RB_F_NO_ZSTD : 0);
    rmq_rb_limits_t lim = {.max_decompressed_bytes = RMQ_PRODUCE_MAX_DECOMPRESSED, .flags = flags, .scratch = NULL};
    rmq_err_t err = rmq_rb_validate(pd->records.ptr, (size_t)pd->records.len, &lim, &sum);
    rmq_rb_header_t h;
    if (!err && sum.batches != 1) err = RMQ_INVALID_RECORD; /* RMQ_RB_F_ONE_BATCH guarantees it */
    if (!err) err = rmq_rb_header_parse(pd->records.ptr, (size_t)pd->records.len, RMQ_RB_F_NO_CRC, &h);
    if (err) {
        pr->error_code = rmq_err_to_wire(err);
        char msg[256];
        snprintf(msg, sizeof msg, "invalid record batch at byte %zu: %s (%s)", sum.err_offset,
                 sum.err_what ? sum.err_what : "", rmq_err_name(err));
        pr->error_message = rmq_req_kstr(req, msg);
        RMQ_DEBUG("broker", "msg=\"produce rejected\" topic=%s partition=%d peer=%s reason=\"%s\"", topic, pd->index,
                  rmq_net_conn_peer(req->conn), msg);
        return;
    }
    uint8_t *batch = (uint8_t *)pd->records.ptr; /* points into req->frame, which we own */
    size_t size = rmq_rb_size(&h);

    pthread_mutex_lock(&part->mu);
    rmq_partition_refresh_config(b, part, topic, pd->index);
    rmq_partition_metrics(b, part, topic);
    if (size > (size_t)part->max_message_bytes) {
        pr->error_code = RMQ_MESSAGE_TOO_LARGE;
        char msg[160];
        snprintf(msg, sizeof msg, "batch of %zu bytes exceeds max.message.bytes %d", size, part->max_message_bytes);
        pr->error_message = rmq_req_kstr(req, msg);
        pthread_mutex_unlock(&part->mu);
        return;
    }
    /* Null keys were counted by the walk above (no second pass); a compacted
     * topic refuses them, after the size check, as Kafka orders them. */
    if (sum.null_keys > 0 && part->compacted) {
        pr->error_code = RMQ_INVALID_RECORD;
        char msg[160];
        snprintf(msg, sizeof msg, "Compacted topic cannot accept message without key (record %d, %lld keyless)",
                 sum.first_null_key, (long long)sum.null_keys);
        pr->error_message = rmq_req_kstr(req, msg);
        pthread_mutex_unlock(&part->mu);
        rmq_produce_keyless_errors(req, batch, size, sum.null_keys, topic, pd->index, pr);
        return;
    }
    int64_t now = rmq_wall_ms();
    int64_t log_start = 0, log_end = 0;
    rmq_store_stream_info(b->store, stream, &log_start, NULL, &log_end);
    rmq_producers_t *ps = NULL;
    if (h.producer_id >= 0) { /* RMQ_RB_F_CLIENT: then base_sequence >= 0 */
        ps = rmq_partition_producers(b, part);
        int64_t dup = -1, dup_ts = -1;
        rmq_err_t serr = ps ? rmq_producers_check(ps, h.producer_id, h.producer_epoch, h.base_sequence,
                                                  h.last_offset_delta + 1, &dup, &dup_ts)
                            : RMQ_ERR_NOMEM;
        if (serr == RMQ_DUPLICATE_SEQUENCE_NUMBER) {
            /* already appended: answer with the original offset (and, on a
             * LogAppendTime topic, the original append time) */
            pr->base_offset = dup;
            pr->log_start_offset = log_start;
            if (part->log_append_time) pr->log_append_time_ms = dup_ts;
            pthread_mutex_unlock(&part->mu);
            return;
        }
        if (serr) {
            pr->error_code = rmq_err_to_wire(serr);
            pthread_mutex_unlock(&part->mu);
            return;
        }
    }
    int64_t max_ts = h.max_timestamp;
    if (part->log_append_time) {
        rmq_rb_set_log_append_time(batch, size, now);
        max_ts = now;
        pr->log_append_time_ms = now;
    } else if (sum.max_timestamp != h.max_timestamp) {
        /* The header's maxTimestamp is the producer's claim; Kafka's
         * LogValidator replaces it with the largest record timestamp
         * (setMaxTimestamp, new CRC). Timestamp lookups, MAX_TIMESTAMP and
         * time retention read the header, so a producer that leaves it -1
         * (Sarama 1.22) or wrong must not reach the log as it is. */
        rmq_rb_set_max_timestamp(batch, size, sum.max_timestamp);
        max_ts = sum.max_timestamp;
    }
    /* the leader's epoch in partitionLeaderEpoch, as Kafka's LogValidator
     * sets it (outside the batch CRC, which starts at the attributes) */
    rmq_rb_set_leader_epoch(batch, part->leader_epoch);
    pr->log_start_offset = log_start;
    rmq_produce_op_t *op = rmq_arena_alloc(&req->arena, sizeof *op);
    if (!op) {
        pr->error_code = RMQ_KAFKA_STORAGE_ERROR;
        pthread_mutex_unlock(&part->mu);
        return;
    }
    op->ctx = ctx;
    op->start_ns = rmq_mono_ns();
    op->pr = pr;
    op->part = part;
    op->b = b;
    atomic_fetch_add(&ctx->pending, 1);
    /* the batch's own CRC (verified by rmq_rb_validate, or rewritten with
     * the log-append time) seeds the WAL checksum: one pass less */
    err = rmq_store_append_crc(b->store, stream, batch, size, RMQ_RB_ATTR_OFFSET, rmq_be32(batch + RMQ_RB_CRC_OFFSET),
                               h.last_offset_delta + 1, max_ts, rmq_produce_on_durable, op);
    if (err) {
        atomic_fetch_sub(&ctx->pending, 1);
        pr->error_code = rmq_err_to_wire(err);
        pr->log_start_offset = -1;
        pr->log_append_time_ms = -1;
        rmq_produce_log_append_error(topic, pd->index, err);
        pthread_mutex_unlock(&part->mu);
        return;
    }
    if (ps) rmq_producers_record(ps, h.producer_id, h.producer_epoch, h.base_sequence, h.last_offset_delta + 1,
                                 log_end, now, max_ts);
    if (part->m_produce_bytes) rmq_counter_add(part->m_produce_bytes, size);
    if (part->m_produce_records) rmq_counter_add(part->m_produce_records, (uint64_t)h.record_count);
    pthread_mutex_unlock(&part->mu);
}

/* Kafka refuses the whole request (TRANSACTIONAL_ID_AUTHORIZATION_FAILED)
 * when a partition's first batch is transactional and there is no
 * transactional_id (KafkaApis.handleProduceRequest). Header bytes only. */
static bool rmq_produce_has_txn_batch(const rmq_kmsg_produce_request_t *rq) {
    for (int32_t i = 0; i < rq->topic_data.n; i++) {
        const rmq_kmsg_produce_request_topic_produce_data_t *t = &rq->topic_data.v[i];
        for (int32_t j = 0; j < t->partition_data.n; j++) {
            const uint8_t *p = t->partition_data.v[j].records.ptr;
            int32_t len = t->partition_data.v[j].records.len;
            if (len < RMQ_RB_HEADER_SIZE || p[16] != 2) continue;
            int32_t blen = (int32_t)rmq_be32(p + 8);
            if (blen < RMQ_RB_MIN_BATCH_LENGTH || blen > len - RMQ_RB_LOG_OVERHEAD) continue; /* no whole batch */
            if (rmq_be16(p + RMQ_RB_ATTR_OFFSET) & RMQ_RB_ATTR_TRANSACTIONAL) return true;
        }
    }
    return false;
}

void rmq_h_produce(rmq_req_t *req) {
    rmq_kmsg_produce_request_t *rq = req->body;
    rmq_kmsg_produce_response_t *r = rmq_req_new_response(req);
    rmq_produce_ctx_t *ctx = rmq_arena_alloc(&req->arena, sizeof *ctx);
    if (!r || !ctx) {
        rmq_req_finish(req);
        return;
    }
    ctx->req = req;
    atomic_init(&ctx->pending, 1);
    ctx->silent = rq->acks == 0;
    ctx->off_loop = false; /* the arena does not zero */
    const rmq_kafka_msg_desc_t *td = rmq_kdesc_sub(&rmq_kmsg_produce_response_desc, "responses");
    const rmq_kafka_msg_desc_t *pdd = rmq_kdesc_sub(td, "partition_responses");
    int32_t nt = rq->topic_data.n > 0 ? rq->topic_data.n : 0;
    rmq_kmsg_produce_response_topic_produce_response_t *tr = RMQ_REQ_ARRAY(req, td, nt, r->responses);
    /* all partitions of the request into one group commit (they are
     * answered together) */
    /* transactions are not supported: a transactional_id, or a
     * transactional batch without one, is refused for every partition */
    const char *txn_refused = NULL;
    if (rq->transactional_id.len >= 0) txn_refused = "transactions are not supported by this broker";
    else if (rmq_produce_has_txn_batch(rq))
        txn_refused = "transactional record batch without a transactional_id (transactions are not supported by "
                      "this broker)";
    rmq_store_plug(req->b->store);
    for (int32_t i = 0; tr && i < nt; i++) {
        const rmq_kmsg_produce_request_topic_produce_data_t *t = &rq->topic_data.v[i];
        tr[i].name = t->name;
        int32_t np = t->partition_data.n > 0 ? t->partition_data.n : 0;
        rmq_pp_resp_t *pr = RMQ_REQ_ARRAY(req, pdd, np, tr[i].partition_responses);
        char *topic = rmq_req_cstr(req, t->name);
        for (int32_t j = 0; pr && topic && j < np; j++) {
            if (rq->acks != 0 && rq->acks != 1 && rq->acks != -1) {
                pr[j].index = t->partition_data.v[j].index;
                pr[j].error_code = RMQ_INVALID_REQUIRED_ACKS;
                pr[j].base_offset = -1;
                continue;
            }
            if (txn_refused) {
                pr[j].index = t->partition_data.v[j].index;
                pr[j].error_code = RMQ_TRANSACTIONAL_ID_AUTHORIZATION_FAILED;
                pr[j].error_message = rmq_req_kstr(req, txn_refused);
                pr[j].base_offset = -1;
                continue;
            }
            rmq_produce_partition(req, ctx, topic, &t->partition_data.v[j], &pr[j]);
        }
    }
    rmq_store_unplug(req->b->store);
    rmq_produce_release(ctx, true);
}
