/* dispatch.c - from a frame to a handler and from a response object back to
 * bytes on the wire.
 *
 * The handler table below is the single source of truth for what the broker
 * serves: ApiVersions is answered from it (intersected with the codec's
 * ranges), and a request for an API or version outside it is refused. A
 * frame that does not decode closes its connection with a log line naming
 * the peer, the API/version and the byte offset of the problem. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/broker_int.h"
#include "common/clock.h"
#include "common/log.h"

/* Minimum versions: Produce v3 / Fetch v4 are the first that carry
 * RecordBatch v2; older MessageSet formats are not served
 * (docs/record-batch.md). */
static const rmq_handler_t rmq_handlers[] = {
    {0, 3, 11, rmq_h_produce},
    {1, 4, 16, rmq_h_fetch},
    {2, 0, 9, rmq_h_list_offsets},
    {3, 0, 12, rmq_h_metadata},
    {8, 0, 8, rmq_h_offset_commit},
    {9, 0, 8, rmq_h_offset_fetch},
    {10, 0, 4, rmq_h_find_coordinator},
    {11, 0, 9, rmq_h_join_group},
    {12, 0, 4, rmq_h_heartbeat},
    {13, 0, 5, rmq_h_leave_group},
    {14, 0, 5, rmq_h_sync_group},
    {15, 0, 5, rmq_h_describe_groups},
    {16, 0, 5, rmq_h_list_groups},
    {18, 0, 4, rmq_h_api_versions},
    {19, 0, 7, rmq_h_create_topics},
    {20, 0, 6, rmq_h_delete_topics},
    {21, 0, 2, rmq_h_delete_records},
    {22, 0, 5, rmq_h_init_producer_id},
    {32, 0, 4, rmq_h_describe_configs},
    {33, 0, 2, rmq_h_alter_configs},
    {37, 0, 3, rmq_h_create_partitions},
    {42, 0, 2, rmq_h_delete_groups},
    {44, 0, 1, rmq_h_incremental_alter_configs},
    {60, 0, 1, rmq_h_describe_cluster},
};

const rmq_kafka_msg_desc_t *rmq_kdesc_sub(const rmq_kafka_msg_desc_t *d, const char *field) {
    for (uint16_t i = 0; d && i < d->nfields; i++)
        if (strcmp(d->fields[i].name, field) == 0) return d->fields[i].sub;
    return NULL;
}

const rmq_handler_t *rmq_broker_handlers(size_t *n) {
    *n = sizeof rmq_handlers / sizeof rmq_handlers[0];
    return rmq_handlers;
}

static const rmq_handler_t *rmq_handler_find(int16_t key) {
    for (size_t i = 0; i < sizeof rmq_handlers / sizeof rmq_handlers[0]; i++)
        if (rmq_handlers[i].api_key == key) return &rmq_handlers[i];
    return NULL;
}

static void rmq_req_free(rmq_req_t *req) {
    rmq_arena_free(&req->arena);
    free(req->frame);
    rmq_net_conn_unref(req->conn);
    free(req);
}

void *rmq_req_new_response(rmq_req_t *req) {
    const rmq_kafka_msg_desc_t *d = rmq_kafka_response_desc(req->hdr.api_key);
    void *r = rmq_arena_alloc(&req->arena, d->size);
    if (r) rmq_kafka_msg_init(d, r);
    req->resp = r;
    return r;
}

void *rmq_req_array(rmq_req_t *req, const rmq_kafka_msg_desc_t *d, int32_t n) {
    if (n <= 0) return NULL;
    uint8_t *v = rmq_arena_alloc(&req->arena, (size_t)n * d->size);
    if (!v) return NULL;
    for (int32_t i = 0; i < n; i++) rmq_kafka_msg_init(d, v + (size_t)i * d->size);
    return v;
}

void *rmq_req_array_into(rmq_req_t *req, const rmq_kafka_msg_desc_t *d, int32_t n, int32_t *arr_n, void *arr_v) {
    void *v = rmq_req_array(req, d, n);
    *arr_n = v ? n : 0;
    memcpy(arr_v, &v, sizeof v); /* arr_v points at a T * member */
    return v;
}

char *rmq_req_cstr(rmq_req_t *req, rmq_kstr_t s) {
    if (s.len < 0) return rmq_arena_strndup(&req->arena, "", 0);
    return rmq_arena_strndup(&req->arena, s.ptr, (size_t)s.len);
}

rmq_kstr_t rmq_req_kstr(rmq_req_t *req, const char *s) {
    rmq_kstr_t r = {NULL, -1};
    if (!s) return r;
    size_t n = strlen(s);
    r.ptr = rmq_arena_strndup(&req->arena, s, n);
    r.len = r.ptr ? (int32_t)n : -1;
    return r;
}

void rmq_req_finish_silent(rmq_req_t *req) {
    rmq_broker_metrics_request(req->b, req->hdr.api_key, req->start_ns);
    rmq_net_slot_complete(req->slot, NULL, 0);
    rmq_req_free(req);
}

#define RMQ_ZC_MIN_RECORDS 4096 /* smaller records are copied: an iovec costs more than that */

void rmq_req_finish(rmq_req_t *req) { rmq_req_finish_zc(req, NULL, NULL); }

void rmq_req_finish_zc(rmq_req_t *req, void (*release)(void *ud), void *ud) {
    rmq_buf_t out;
    rmq_buf_init(&out);
    rmq_kafka_splices_t sp = {.min_len = RMQ_ZC_MIN_RECORDS};
    rmq_err_t err = RMQ_ERR_NOMEM;
    if (req->resp) {
        err = rmq_kafka_encode_response_spliced(req->hdr.api_key, req->hdr.api_version, req->hdr.correlation_id,
                                                req->resp, &out, release ? &sp : NULL);
    }
    if (err) {
        free(sp.v);
        if (release) release(ud);
        /* A response we cannot encode is a bug or OOM: drop the connection
         * rather than leave the client waiting forever. */
        RMQ_ERROR("broker", "msg=\"cannot encode response\" api=%s version=%d peer=%s err=%s",
                  rmq_kafka_api_name(req->hdr.api_key), req->hdr.api_version, rmq_net_conn_peer(req->conn),
                  rmq_err_name(err));
        rmq_buf_free(&out);
        rmq_net_slot_complete(req->slot, NULL, 0);
        rmq_net_conn_close(req->conn, "internal error encoding a response");
        rmq_req_free(req);
        return;
    }
    size_t len;
    uint8_t *data = rmq_buf_detach(&out, &len);
    rmq_broker_metrics_request(req->b, req->hdr.api_key, req->start_ns);
    rmq_net_slot_complete_ext(req->slot, data, len, sp.v, sp.n, release, ud); /* sp.v goes to net */
    rmq_req_free(req);
}

/* Fills r (the ApiVersions response of req, in req's arena) with every
 * supported api key and its version range; error_code is left to the caller. */
static void api_versions_fill(rmq_req_t *req, rmq_kmsg_api_versions_response_t *r) {
    size_t n;
    const rmq_handler_t *h = rmq_broker_handlers(&n);
    const rmq_kafka_msg_desc_t *kd = rmq_kdesc_sub(&rmq_kmsg_api_versions_response_desc, "api_keys");
    rmq_kmsg_api_versions_response_api_version_t *v = rmq_req_array(req, kd, (int32_t)n);
    int32_t k = 0;
    for (size_t i = 0; v && i < n; i++) {
        int16_t mn, mx;
        if (!rmq_kafka_api_intersect(h[i].api_key, h[i].min_version, h[i].max_version, &mn, &mx)) continue;
        v[k].api_key = h[i].api_key;
        v[k].min_version = mn;
        v[k].max_version = mx;
        k++;
    }
    r->api_keys.n = k;
    r->api_keys.v = v;
    r->throttle_time_ms = 0;
}

/* ApiVersions request of a version we do not know: Kafka answers with a v0
 * response carrying UNSUPPORTED_VERSION and the list, so the client can
 * retry with a version we support. */
static void rmq_req_api_versions_fallback(rmq_req_t *req) {
    req->hdr.api_version = 0;
    rmq_kmsg_api_versions_response_t *r = rmq_req_new_response(req);
    if (r) {
        api_versions_fill(req, r);
        r->error_code = RMQ_UNSUPPORTED_VERSION;
    }
    rmq_req_finish(req); /* sends r and frees req (and r with its arena) */
}

void rmq_h_api_versions(rmq_req_t *req) {
    rmq_kmsg_api_versions_response_t *r = req->resp ? req->resp : rmq_req_new_response(req);
    if (r) {
        api_versions_fill(req, r);
        r->error_code = 0;
    }
    rmq_req_finish(req);
}

void rmq_broker_on_frame(void *ud, rmq_net_conn_t *conn, rmq_net_slot_t *slot, uint8_t *frame, size_t len) {
    rmq_broker_t *b = ud;
    rmq_req_t *req = calloc(1, sizeof *req);
    if (!req) {
        free(frame);
        rmq_net_slot_complete(slot, NULL, 0);
        rmq_net_conn_close(conn, "out of memory");
        return;
    }
    req->b = b;
    req->conn = conn;
    rmq_net_conn_ref(conn);
    req->slot = slot;
    req->loop = rmq_net_conn_loop(conn);
    req->frame = frame;
    req->frame_len = len;
    req->start_ns = rmq_mono_ns();
    /* decoded structures of a frame never need more than a few times the
     * frame; the cap stops a hostile array count from costing memory */
    rmq_arena_init(&req->arena, len * 16 + (1u << 20));

    rmq_kafka_decode_error_t de;
    memset(&de, 0, sizeof de);
    const rmq_kafka_msg_desc_t *desc = NULL;
    rmq_err_t err = rmq_kafka_decode_request(frame, len, &req->arena, &req->hdr, &req->body, &desc, &de);
    const rmq_handler_t *h = err == RMQ_ERR_TRUNCATED && len < 8 ? NULL : rmq_handler_find(req->hdr.api_key);

    if (req->hdr.api_key == RMQ_KAPI_API_VERSIONS && (err == RMQ_UNSUPPORTED_VERSION ||
                                   (h && (req->hdr.api_version > h->max_version)))) {
        rmq_req_api_versions_fallback(req);
        return;
    }
    if (err || !h || req->hdr.api_version < h->min_version || req->hdr.api_version > h->max_version) {
        char why[512];
        if (err) {
            char detail[400];
            rmq_kafka_decode_error_format(&de, detail, sizeof detail);
            snprintf(why, sizeof why, "malformed request: %s", detail);
        } else if (!h) {
            snprintf(why, sizeof why, "unsupported api key %d (%s)", req->hdr.api_key,
                     rmq_kafka_api_name(req->hdr.api_key));
        } else {
            snprintf(why, sizeof why, "unsupported %s version %d (supported %d..%d)",
                     rmq_kafka_api_name(req->hdr.api_key), req->hdr.api_version, h->min_version, h->max_version);
        }
        rmq_net_slot_complete(slot, NULL, 0);
        rmq_net_conn_close(conn, why);
        rmq_req_free(req);
        return;
    }
    /* Produce and Fetch connections are spread over the I/O threads first */
    if (req->hdr.api_key == RMQ_KAPI_PRODUCE || req->hdr.api_key == RMQ_KAPI_FETCH) rmq_net_conn_mark_busy(conn);
    RMQ_TRACE("broker", "msg=\"request\" api=%s version=%d corr=%d peer=%s", rmq_kafka_api_name(req->hdr.api_key),
              req->hdr.api_version, req->hdr.correlation_id, rmq_net_conn_peer(conn));
    h->fn(req);
}
