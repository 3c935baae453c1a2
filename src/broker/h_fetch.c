/* h_fetch.c - the Fetch handler and long polling.
 *
 * A fetch reads every requested partition from the store (whole batches,
 * at most partition_max_bytes each and max_bytes in total). As in Kafka
 * (KIP-74) only the response's first batch may exceed those limits: the
 * first partition with data gets its first batch whatever its size, every
 * later one only whole batches within min(partition_max_bytes, what is
 * left of max_bytes), possibly none. A partition error (unknown topic or
 * partition, offset out of range, fenced epoch, ...) answers at once. If
 * that gives fewer than min_bytes and max_wait_ms > 0, the fetch parks:
 * it registers a node on
 * each partition's waiter list and arms a timer on its I/O loop. A durable
 * append to any of those partitions (rmq_partition_wake, called from the
 * WAL writer thread) posts a wake-up to the fetch's loop, which re-reads;
 * the timer answers with whatever is there when max_wait_ms runs out. So
 * consumers are woken by data, not by polling timers.
 *
 * Ownership: the fetch context is heap memory owned by its loop thread,
 * kept alive by a reference count (the loop's own reference, one per
 * posted wake-up, one while its response is being written); the records
 * it returns (store reads held in place, owned copies, tier buffers) live
 * as long as the context, and net writes them from there (zero-copy). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "broker/broker_int.h"
#include "broker/cluster.h"
#include "broker/tier_glue.h"
#include "common/log.h"

typedef rmq_kmsg_fetch_response_partition_data_t rmq_fp_resp_t;
typedef struct rmq_fetch_ctx rmq_fetch_ctx_t;

struct rmq_fetch_node {
    rmq_fetch_ctx_t *ctx;
    rmq_fetch_node_t *next;
    bool linked; /* under the partition's mutex */
};

typedef struct rmq_fetch_part {
    bool known;
    uint64_t stream;
    rmq_partition_t *part;
    int64_t offset;
    int32_t max_bytes;
    rmq_fp_resp_t *pr;
    uint8_t *data; /* owned copy of the records returned (several batches) */
    rmq_store_read_t held; /* a single-batch read served in place, released after encoding */
    bool holding;
    rmq_fetch_node_t node;
    /* offsets that left the WAL are read from the object tier on a tier
     * worker (tier_glue.h); the result waits here for the next fill */
    bool tier_busy, tier_ready;
    int16_t tier_err;
    uint8_t *tier_data; /* owned until moved into data */
    size_t tier_len;
} rmq_fetch_part_t;

struct rmq_fetch_ctx {
    rmq_broker_t *b;
    rmq_req_t *req; /* NULL once answered */
    rmq_net_loop_t *loop;
    int n;
    rmq_fetch_part_t *ps; /* owned */
    int32_t min_bytes, max_bytes;
    atomic_int refs;
    atomic_bool wake_pending;
    bool done;
    uv_timer_t timer;
    int tier_pending; /* tier reads in flight (loop thread only) */
    bool no_wait;     /* answer as soon as the tier reads are in */
    bool read_error;  /* the last fill left a partition error: answer now */
};

/* Forget fp's records: the owned copy or the store read held for them. */
static void rmq_fetch_part_drop(rmq_fetch_part_t *fp) {
    free(fp->data);
    fp->data = NULL;
    if (fp->holding) rmq_store_read_release(&fp->held);
    fp->holding = false;
}

static void rmq_fetch_unref(rmq_fetch_ctx_t *ctx) {
    if (atomic_fetch_sub(&ctx->refs, 1) != 1) return;
    for (int i = 0; i < ctx->n; i++) rmq_fetch_part_drop(&ctx->ps[i]), free(ctx->ps[i].tier_data);
    free(ctx->ps);
    free(ctx);
}

/* Waiter lists are guarded by a striped lock of their own, not the
 * partition mutex: rmq_partition_wake runs on the WAL writer thread, and a
 * producer holds the partition mutex across rmq_store_append, which may
 * wait for that same writer thread (a new segment after a roll). */
#define RMQ_WAITER_LOCKS 64
static pthread_mutex_t rmq_waiter_mu[RMQ_WAITER_LOCKS] = {[0 ... RMQ_WAITER_LOCKS - 1] = PTHREAD_MUTEX_INITIALIZER};

static pthread_mutex_t *rmq_waiter_lock(const rmq_partition_t *p) {
    return &rmq_waiter_mu[(p->stream_id * 0x9e3779b97f4a7c15ull) >> 58];
}

static void rmq_fetch_register(rmq_fetch_ctx_t *ctx) {
    for (int i = 0; i < ctx->n; i++) {
        rmq_fetch_part_t *fp = &ctx->ps[i];
        if (!fp->known) continue;
        pthread_mutex_lock(rmq_waiter_lock(fp->part));
        if (!fp->node.linked) {
            fp->node.ctx = ctx;
            fp->node.next = fp->part->waiters;
            fp->part->waiters = &fp->node;
            fp->node.linked = true;
        }
        pthread_mutex_unlock(rmq_waiter_lock(fp->part));
    }
}

static void rmq_fetch_deregister(rmq_fetch_ctx_t *ctx) {
    for (int i = 0; i < ctx->n; i++) {
        rmq_fetch_part_t *fp = &ctx->ps[i];
        if (!fp->known) continue;
        pthread_mutex_lock(rmq_waiter_lock(fp->part));
        if (fp->node.linked) {
            rmq_fetch_node_t **pp = &fp->part->waiters;
            while (*pp && *pp != &fp->node) pp = &(*pp)->next;
            if (*pp) *pp = fp->node.next;
            fp->node.linked = false;
        }
        pthread_mutex_unlock(rmq_waiter_lock(fp->part));
    }
}

static size_t rmq_fetch_from_tier(rmq_fetch_ctx_t *ctx, rmq_fetch_part_t *fp, size_t budget, bool min_one);

/* Read every partition into the response; returns the bytes gathered and
 * sets ctx->read_error if any partition ended with an error. */
static size_t rmq_fetch_fill(rmq_fetch_ctx_t *ctx) {
    rmq_broker_t *b = ctx->b;
    size_t total = 0;
    bool failed = false;
    /* max_bytes <= 0 leaves no budget: only the first batch (Kafka's
     * minOneMessage), like partition_max_bytes <= 0 */
    size_t max_total = ctx->max_bytes > 0 ? (size_t)ctx->max_bytes : 0;
    for (int i = 0; i < ctx->n; i++) {
        rmq_fetch_part_t *fp = &ctx->ps[i];
        rmq_fp_resp_t *pr = fp->pr;
        rmq_fetch_part_drop(fp);
        pr->records.ptr = NULL;
        pr->records.len = 0;
        if (!fp->known) { /* its error was set when the request was read */
            failed = true;
            continue;
        }
        int64_t ls = 0, hw = 0;
        rmq_store_stream_info(b->store, fp->stream, &ls, &hw, NULL);
        pr->high_watermark = hw;
        pr->last_stable_offset = hw;
        pr->log_start_offset = ls;
        pr->error_code = 0;
        if (fp->offset < ls || fp->offset > hw) {
            pr->error_code = RMQ_OFFSET_OUT_OF_RANGE;
            failed = true;
            continue;
        }
        if (fp->offset == hw) continue;
        /* KIP-74: until a partition has returned records, its first batch
         * is returned whatever its size; after that only whole batches
         * within min(partition_max_bytes, max_bytes left) */
        bool min_one = total == 0;
        size_t budget = (size_t)(fp->max_bytes > 0 ? fp->max_bytes : 0);
        size_t left = total >= max_total ? 0 : max_total - total;
        if (left < budget) budget = left;
        if (budget == 0 && !min_one) continue; /* budget spent */
        rmq_store_read_t rd;
        memset(&rd, 0, sizeof rd);
        rmq_err_t err = min_one ? rmq_store_read(b->store, fp->stream, fp->offset, budget, &rd)
                                : rmq_store_read_within(b->store, fp->stream, fp->offset, budget, &rd);
        if (err == RMQ_ERR_NOT_FOUND && b->tier) { /* below the WAL: the object tier */
            rmq_store_read_release(&rd);
            total += rmq_fetch_from_tier(ctx, fp, budget, min_one);
            if (pr->error_code) failed = true;
            continue;
        }
        if (err) {
            pr->error_code = err == RMQ_OFFSET_OUT_OF_RANGE ? RMQ_OFFSET_OUT_OF_RANGE : rmq_err_to_wire(err);
            failed = true;
            rmq_store_read_release(&rd);
            continue;
        }
        pr->high_watermark = rd.high_watermark;
        pr->last_stable_offset = rd.high_watermark;
        pr->log_start_offset = rd.log_start;
        if (rd.iovcnt == 1) {
            /* one batch (the common case with large producer batches): the
             * encoder copies it straight from the store's memory */
            pr->records.ptr = rd.iov[0].iov_base;
            pr->records.len = (int32_t)rd.bytes;
            total += rd.bytes;
            if (fp->part->m_fetch_bytes) rmq_counter_add(fp->part->m_fetch_bytes, rd.bytes);
            fp->held = rd;
            fp->holding = true;
            continue;
        }
        if (rd.bytes) {
            fp->data = malloc(rd.bytes);
            if (!fp->data) {
                pr->error_code = RMQ_KAFKA_STORAGE_ERROR;
                failed = true;
            } else {
                size_t off = 0;
                for (size_t k = 0; k < rd.iovcnt; k++) {
                    memcpy(fp->data + off, rd.iov[k].iov_base, rd.iov[k].iov_len);
                    off += rd.iov[k].iov_len;
                }
                pr->records.ptr = fp->data;
                pr->records.len = (int32_t)rd.bytes;
                total += rd.bytes;
                if (fp->part->m_fetch_bytes) rmq_counter_add(fp->part->m_fetch_bytes, rd.bytes);
            }
        }
        rmq_store_read_release(&rd);
    }
    ctx->read_error = failed;
    return total;
}

static void rmq_fetch_on_timer_closed(uv_handle_t *h) { rmq_fetch_unref(h->data); }

static void rmq_fetch_release_records(void *ud) { rmq_fetch_unref(ud); }

/* Send the response. Records of 4 KiB and more are not copied into it: net
 * writes them from the store's blobs, the owned copies or the tier buffers
 * this context holds, and drops the context's extra reference once they
 * are written (the parts are released with the context). */
static void rmq_fetch_answer(rmq_fetch_ctx_t *ctx) {
    ctx->done = true;
    rmq_fetch_deregister(ctx);
    uv_timer_stop(&ctx->timer);
    rmq_req_t *req = ctx->req;
    ctx->req = NULL;
    atomic_fetch_add(&ctx->refs, 1);
    rmq_req_finish_zc(req, rmq_fetch_release_records, ctx);
    uv_close((uv_handle_t *)&ctx->timer, rmq_fetch_on_timer_closed);
}

static void rmq_fetch_on_timeout(uv_timer_t *t) {
    rmq_fetch_ctx_t *ctx = t->data;
    if (ctx->done) return;
    rmq_fetch_deregister(ctx);
    if (!rmq_net_conn_closed(ctx->req->conn)) rmq_fetch_fill(ctx); /* nobody to read it */
    rmq_fetch_answer(ctx);
}

static void rmq_fetch_check_or_park(rmq_fetch_ctx_t *ctx);

/* I/O thread: data arrived on one of our partitions. */
static void rmq_fetch_on_wake(void *ud) {
    rmq_fetch_ctx_t *ctx = ud;
    atomic_store(&ctx->wake_pending, false);
    if (!ctx->done) {
        rmq_fetch_deregister(ctx);
        rmq_fetch_check_or_park(ctx);
    }
    rmq_fetch_unref(ctx);
}

static void rmq_fetch_post_wake(rmq_fetch_ctx_t *ctx) {
    if (atomic_exchange(&ctx->wake_pending, true)) return;
    atomic_fetch_add(&ctx->refs, 1);
    if (rmq_net_loop_post(ctx->loop, rmq_fetch_on_wake, ctx)) {
        atomic_store(&ctx->wake_pending, false);
        atomic_fetch_sub(&ctx->refs, 1); /* loop gone: the timer/stop path answers */
    }
}

void rmq_partition_wake(rmq_broker_t *b, rmq_partition_t *p) {
    (void)b;
    pthread_mutex_lock(rmq_waiter_lock(p));
    rmq_fetch_node_t *n = p->waiters;
    p->waiters = NULL;
    for (; n; n = n->next) {
        n->linked = false;
        rmq_fetch_post_wake(n->ctx);
    }
    pthread_mutex_unlock(rmq_waiter_lock(p));
}

static void rmq_fetch_check_or_park(rmq_fetch_ctx_t *ctx) {
    if (rmq_net_conn_closed(ctx->req->conn)) { /* the client is gone: read nothing more, answer (net drops it) */
        rmq_fetch_answer(ctx);
        return;
    }
    size_t got = rmq_fetch_fill(ctx);
    if (ctx->tier_pending) return; /* resumed by rmq_fetch_tier_done */
    /* a partition error answers at once, like Kafka (errorReadingData):
     * a consumer resetting an out-of-range offset must not wait max_wait */
    if (got >= (size_t)ctx->min_bytes || ctx->read_error || atomic_load(&ctx->b->stopping)) {
        rmq_fetch_answer(ctx);
        return;
    }
    rmq_fetch_register(ctx);
    /* data that became durable between the read and the registration
     * would not wake us: look once more */
    for (int i = 0; i < ctx->n; i++) {
        rmq_fetch_part_t *fp = &ctx->ps[i];
        if (!fp->known) continue;
        int64_t hw = 0;
        rmq_store_stream_info(ctx->b->store, fp->stream, NULL, &hw, NULL);
        if (hw != fp->pr->high_watermark) {
            rmq_fetch_post_wake(ctx);
            break;
        }
    }
}

void rmq_h_fetch(rmq_req_t *req) {
    rmq_broker_t *b = req->b;
    rmq_kmsg_fetch_request_t *rq = req->body;
    rmq_kmsg_fetch_response_t *r = rmq_req_new_response(req);
    if (!r) {
        rmq_req_finish(req);
        return;
    }
    r->session_id = 0; /* no incremental fetch sessions: every fetch is full */
    /* Session epoch 0 (open a session) and -1 (sessionless) are full
     * fetches, served as such without creating a session. Any other epoch
     * continues a session, and we know none: Kafka's FetchManager answers
     * FETCH_SESSION_ID_NOT_FOUND at the top level, with no partitions, and
     * the client falls back to a full fetch. */
    if (rq->session_epoch != 0 && rq->session_epoch != -1) {
        r->error_code = RMQ_FETCH_SESSION_ID_NOT_FOUND;
        rmq_req_finish(req);
        return;
    }
    int total = 0;
    for (int32_t i = 0; i < rq->topics.n; i++) total += rq->topics.v[i].partitions.n > 0 ? rq->topics.v[i].partitions.n : 0;
    rmq_fetch_ctx_t *ctx = calloc(1, sizeof *ctx);
    rmq_fetch_part_t *ps = total ? calloc((size_t)total, sizeof *ps) : NULL;
    if (!ctx || (total && !ps)) {
        free(ctx);
        free(ps);
        r->error_code = RMQ_UNKNOWN_SERVER_ERROR;
        rmq_req_finish(req);
        return;
    }
    ctx->b = b;
    ctx->req = req;
    ctx->loop = req->loop;
    ctx->n = total;
    ctx->ps = ps;
    ctx->min_bytes = rq->min_bytes;
    ctx->max_bytes = rq->max_bytes;
    atomic_init(&ctx->refs, 1);
    atomic_init(&ctx->wake_pending, false);
    uv_timer_init(rmq_net_loop_uv(req->loop), &ctx->timer);
    ctx->timer.data = ctx;

    const rmq_kafka_msg_desc_t *td = rmq_kdesc_sub(&rmq_kmsg_fetch_response_desc, "responses");
    const rmq_kafka_msg_desc_t *pdd = rmq_kdesc_sub(td, "partitions");
    int32_t nt = rq->topics.n > 0 ? rq->topics.n : 0;
    rmq_kmsg_fetch_response_fetchable_topic_response_t *tr = RMQ_REQ_ARRAY(req, td, nt, r->responses);
    int k = 0;
    for (int32_t i = 0; tr && i < nt; i++) {
        const rmq_kmsg_fetch_request_fetch_topic_t *t = &rq->topics.v[i];
        tr[i].topic = t->topic;
        tr[i].topic_id = t->topic_id;
        int32_t np = t->partitions.n > 0 ? t->partitions.n : 0;
        /* v9+ current_leader_epoch (negative = no check, as Kafka's
         * FetchRequest.optionalEpoch): the partitions' leader epochs,
         * looked up only if a partition of this topic asks */
        bool by_id = req->hdr.api_version >= 13; /* topic ids replace names */
        bool want_epoch = false;
        for (int32_t j = 0; j < np; j++) want_epoch |= t->partitions.v[j].current_leader_epoch >= 0;
        int32_t *lepoch = want_epoch ? rmq_arena_alloc(&req->arena, (size_t)np * sizeof *lepoch) : NULL;
        char *topic = NULL;
        if (!by_id) topic = rmq_req_cstr(req, t->topic);
        if (by_id || lepoch) {
            rmq_meta_state_rdlock(b->state);
            const rmq_meta_topic_t *mt =
                by_id ? rmq_meta_state_find_topic_id(b->state, (const rmq_meta_uuid_t *)&t->topic_id) /* v13+ */
                      : (topic ? rmq_meta_state_find_topic(b->state, topic) : NULL);
            if (mt && by_id) topic = rmq_arena_strndup(&req->arena, mt->name, strlen(mt->name));
            for (int32_t j = 0; lepoch && j < np; j++) {
                int32_t q = t->partitions.v[j].partition;
                lepoch[j] = mt && q >= 0 && q < mt->n_partitions ? mt->partitions[q].leader_epoch : -1;
            }
            rmq_meta_state_unlock(b->state);
        }
        rmq_fp_resp_t *pr = RMQ_REQ_ARRAY(req, pdd, np, tr[i].partitions);
        for (int32_t j = 0; pr && j < np; j++, k++) {
            const rmq_kmsg_fetch_request_fetch_partition_t *p = &t->partitions.v[j];
            rmq_fetch_part_t *fp = &ps[k];
            fp->pr = &pr[j];
            pr[j].partition_index = p->partition;
            pr[j].high_watermark = -1;
            pr[j].last_stable_offset = -1;
            pr[j].log_start_offset = -1;
            pr[j].records.len = 0;
            fp->offset = p->fetch_offset;
            fp->max_bytes = p->partition_max_bytes;
            if (!topic) { /* only an unresolved topic id: a known one with an unknown partition is 3 */
                pr[j].error_code = by_id ? RMQ_UNKNOWN_TOPIC_ID : RMQ_UNKNOWN_TOPIC_OR_PARTITION;
                continue;
            }
            if (rmq_broker_stream_of(b, topic, p->partition, &fp->stream)) {
                pr[j].error_code = RMQ_UNKNOWN_TOPIC_OR_PARTITION;
                continue;
            }
            if (p->current_leader_epoch >= 0) { /* Kafka's Partition.checkCurrentLeaderEpoch */
                int32_t le = lepoch ? lepoch[j] : -1;
                if (!lepoch || le < 0) {
                    pr[j].error_code = lepoch ? RMQ_UNKNOWN_TOPIC_OR_PARTITION : RMQ_UNKNOWN_SERVER_ERROR;
                    continue;
                }
                rmq_err_t ee = rmq_leader_epoch_cmp(p->current_leader_epoch, le);
                if (ee) {
                    pr[j].error_code = ee;
                    continue;
                }
            }
            if (b->cluster) { /* quorum mode: only the partition's leader serves it */
                rmq_err_t le = rmq_cluster_check_leader(b->state, topic, p->partition, b->o.node_id);
                if (le) {
                    pr[j].error_code = rmq_err_to_wire(le);
                    continue;
                }
            }
            fp->part = rmq_broker_partition(b, fp->stream);
            fp->known = fp->part != NULL;
            if (fp->part && !fp->part->m_fetch_bytes) {
                pthread_mutex_lock(&fp->part->mu);
                rmq_partition_metrics(b, fp->part, topic);
                pthread_mutex_unlock(&fp->part->mu);
            }
            if (!fp->known) pr[j].error_code = RMQ_KAFKA_STORAGE_ERROR;
        }
    }
    ctx->n = k;
    if (rq->max_wait_ms <= 0 || rq->min_bytes <= 0) {
        ctx->no_wait = true;
        rmq_fetch_fill(ctx);
        if (ctx->tier_pending) return; /* answered by rmq_fetch_tier_done */
        rmq_fetch_answer(ctx);
        return;
    }
    uv_timer_start(&ctx->timer, rmq_fetch_on_timeout, (uint64_t)rq->max_wait_ms, 0);
    rmq_fetch_check_or_park(ctx);
}

/* ---- reads from the object tier ---- */

typedef struct rmq_fetch_tier_ref {
    rmq_fetch_ctx_t *ctx;
    rmq_fetch_part_t *fp;
} rmq_fetch_tier_ref_t;

/* Loop thread: a tier read finished. Keep the result for the next fill and
 * resume the fetch once every tier read is in. */
static void rmq_fetch_tier_done(void *ud, rmq_err_t err, uint8_t *data, size_t len) {
    rmq_fetch_tier_ref_t *ref = ud;
    rmq_fetch_ctx_t *ctx = ref->ctx;
    rmq_fetch_part_t *fp = ref->fp;
    free(ref);
    fp->tier_busy = false;
    ctx->tier_pending--;
    if (ctx->done) {
        free(data);
    } else {
        if (err && err != RMQ_ERR_CLOSED)
            RMQ_WARN("fetch", "msg=\"tiered read failed\" stream=%llu offset=%lld err=%s",
                     (unsigned long long)fp->stream, (long long)fp->offset, rmq_err_name(err));
        free(fp->tier_data);
        fp->tier_data = data;
        fp->tier_len = len;
        fp->tier_err = err ? RMQ_KAFKA_STORAGE_ERROR : 0; /* retriable: the client fetches again */
        fp->tier_ready = true;
        if (ctx->tier_pending == 0) {
            if (ctx->no_wait) {
                rmq_fetch_fill(ctx);
                if (!ctx->tier_pending) rmq_fetch_answer(ctx);
            } else {
                rmq_fetch_deregister(ctx);
                rmq_fetch_check_or_park(ctx);
            }
        }
    }
    rmq_fetch_unref(ctx);
}

/* Tier worker thread, the loop is gone: only drop the reference. */
static void rmq_fetch_tier_abandon(void *ud) {
    rmq_fetch_tier_ref_t *ref = ud;
    rmq_fetch_ctx_t *ctx = ref->ctx;
    free(ref);
    rmq_fetch_unref(ctx);
}

/* Bytes of the whole batches at the start of data[0..len) that fit in
 * budget (min_one: the first batch whatever its size). The tier reader
 * always returns at least one batch, and the budget may have shrunk since
 * the read was started (an earlier partition got data meanwhile). */
static size_t rmq_fetch_fit(const uint8_t *data, size_t len, size_t budget, bool min_one) {
    size_t off = 0;
    while (len - off >= 12) {
        size_t n = 12 + (size_t)rmq_be32(data + off + 8); /* base offset, batch length, then the rest */
        if (n > len - off) break;
        if (off + n > budget && !(off == 0 && min_one)) break;
        off += n;
    }
    return off;
}

/* The records of fp from the tier: a finished read's result (bytes
 * returned), or start one (0 bytes now; the fetch resumes when it lands). */
static size_t rmq_fetch_from_tier(rmq_fetch_ctx_t *ctx, rmq_fetch_part_t *fp, size_t budget, bool min_one) {
    rmq_fp_resp_t *pr = fp->pr;
    if (fp->tier_ready) {
        fp->tier_ready = false;
        if (fp->tier_err || !fp->tier_data) {
            pr->error_code = fp->tier_err ? fp->tier_err : RMQ_KAFKA_STORAGE_ERROR;
            return 0;
        }
        size_t len = rmq_fetch_fit(fp->tier_data, fp->tier_len, budget, min_one);
        if (len == 0) { /* its first batch does not fit what is left */
            free(fp->tier_data);
            fp->tier_data = NULL;
            return 0;
        }
        fp->data = fp->tier_data;
        fp->tier_data = NULL;
        pr->records.ptr = fp->data;
        pr->records.len = (int32_t)len;
        return len;
    }
    if (fp->tier_busy) return 0;
    rmq_fetch_tier_ref_t *ref = malloc(sizeof *ref);
    if (!ref) {
        pr->error_code = RMQ_KAFKA_STORAGE_ERROR;
        return 0;
    }
    ref->ctx = ctx;
    ref->fp = fp;
    atomic_fetch_add(&ctx->refs, 1);
    rmq_err_t e = rmq_btier_fetch_async(ctx->b, ctx->loop, fp->stream, fp->offset, budget, rmq_fetch_tier_done,
                                        rmq_fetch_tier_abandon, ref);
    if (e) {
        atomic_fetch_sub(&ctx->refs, 1);
        free(ref);
        pr->error_code = RMQ_KAFKA_STORAGE_ERROR;
        return 0;
    }
    fp->tier_busy = true;
    ctx->tier_pending++;
    return 0;
}
