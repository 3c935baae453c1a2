/* ctl_proto.c - controller RPC field helpers and the applied-command ring
 * FETCH serves from (see ctl_proto.h). */
#include "controller/ctl_proto.h"

#include <stdlib.h>
#include <string.h>

void rmq_ctl_put_str(rmq_buf_t *b, const char *s) {
    size_t n = s ? strlen(s) : 0;
    if (n > 65535) n = 65535;
    rmq_buf_put_u16(b, (uint16_t)n);
    rmq_buf_put(b, s ? s : "", n);
}

void rmq_ctl_put_bytes(rmq_buf_t *b, const void *p, size_t n) {
    rmq_buf_put_u32(b, (uint32_t)n);
    rmq_buf_put(b, p, n);
}

void rmq_ctl_get_str(rmq_cur_t *c, char *out, size_t cap) {
    uint16_t n = rmq_cur_u16(c);
    const uint8_t *p = rmq_cur_bytes(c, n);
    if (!cap) return;
    if (!p) {
        out[0] = 0;
        return;
    }
    size_t k = n < cap - 1 ? n : cap - 1;
    memcpy(out, p, k);
    out[k] = 0;
}

const uint8_t *rmq_ctl_get_bytes(rmq_cur_t *c, size_t *n) {
    uint32_t len = rmq_cur_u32(c);
    const uint8_t *p = rmq_cur_bytes(c, len);
    *n = p ? len : 0;
    return p;
}

rmq_err_t rmq_ctl_decode_request(const uint8_t *frame, size_t len, rmq_ctl_request_t *req) {
    memset(req, 0, sizeof *req);
    rmq_cur_t c;
    rmq_cur_init(&c, frame, len);
    req->api = rmq_cur_u16(&c);
    req->corr = rmq_cur_i32(&c);
    if (!rmq_cur_ok(&c)) return RMQ_ERR_CORRUPT;
    switch (req->api) {
    case RMQ_CTL_DESCRIBE:
    case RMQ_CTL_READ_STATE: return RMQ_NONE;
    case RMQ_CTL_PROPOSE:
        req->cmd = frame + c.off;
        req->cmd_len = len - c.off;
        return RMQ_NONE;
    case RMQ_CTL_FETCH:
        req->from_index = rmq_cur_i64(&c);
        req->max = rmq_cur_u32(&c);
        if (!rmq_cur_ok(&c)) return RMQ_INVALID_REQUEST;
        if (req->max == 0 || req->max > RMQ_CTL_FETCH_MAX) req->max = RMQ_CTL_FETCH_MAX;
        return RMQ_NONE;
    case RMQ_CTL_ADD_VOTER:
    case RMQ_CTL_REMOVE_VOTER:
        req->id = rmq_cur_i32(&c);
        if (req->api == RMQ_CTL_ADD_VOTER) rmq_ctl_get_str(&c, req->addr, sizeof req->addr);
        if (!rmq_cur_ok(&c) || req->id < 1 || (req->api == RMQ_CTL_ADD_VOTER && !req->addr[0]))
            return RMQ_INVALID_REQUEST;
        return RMQ_NONE;
    case RMQ_CTL_HEARTBEAT:
        req->id = rmq_cur_i32(&c);
        req->epoch = rmq_cur_i64(&c);
        req->session_timeout_ms = rmq_cur_u32(&c);
        if (!rmq_cur_ok(&c) || req->id < 0) return RMQ_INVALID_REQUEST;
        return RMQ_NONE;
    default: return RMQ_UNSUPPORTED_VERSION;
    }
}

rmq_err_t rmq_ctl_ring_init(rmq_ctl_ring_t *r, size_t cap, size_t max_bytes, int64_t base) {
    memset(r, 0, sizeof *r);
    r->e = calloc(cap ? cap : 1, sizeof *r->e);
    if (!r->e) return RMQ_ERR_NOMEM;
    r->cap = cap ? cap : 1;
    r->max_bytes = max_bytes;
    r->base = base;
    pthread_mutex_init(&r->mu, NULL);
    return RMQ_NONE;
}

static void ring_clear(rmq_ctl_ring_t *r) {
    for (size_t i = 0; i < r->n; i++) free(r->e[(r->head + i) % r->cap].cmd);
    r->n = 0;
    r->head = 0;
    r->bytes = 0;
}

void rmq_ctl_ring_free(rmq_ctl_ring_t *r) {
    if (!r->e) return;
    ring_clear(r);
    free(r->e);
    r->e = NULL;
    pthread_mutex_destroy(&r->mu);
}

static void evict_one(rmq_ctl_ring_t *r) {
    rmq_ctl_ring_entry_t *e = &r->e[r->head];
    r->base = e->index;
    r->bytes -= e->len;
    free(e->cmd);
    e->cmd = NULL;
    r->head = (r->head + 1) % r->cap;
    r->n--;
}

void rmq_ctl_ring_push(rmq_ctl_ring_t *r, int64_t index, const uint8_t *cmd, size_t len) {
    pthread_mutex_lock(&r->mu);
    uint8_t *copy = malloc(len ? len : 1);
    if (!copy) {
        ring_clear(r);
        r->base = index;
        pthread_mutex_unlock(&r->mu);
        return;
    }
    memcpy(copy, cmd, len);
    while (r->n == r->cap || (r->n && r->bytes + len > r->max_bytes)) evict_one(r);
    rmq_ctl_ring_entry_t *e = &r->e[(r->head + r->n) % r->cap];
    e->index = index;
    e->cmd = copy;
    e->len = len;
    r->n++;
    r->bytes += len;
    pthread_mutex_unlock(&r->mu);
}

void rmq_ctl_ring_reset(rmq_ctl_ring_t *r, int64_t index) {
    pthread_mutex_lock(&r->mu);
    ring_clear(r);
    r->base = index;
    pthread_mutex_unlock(&r->mu);
}

bool rmq_ctl_ring_fetch(rmq_ctl_ring_t *r, int64_t from, uint32_t max, size_t max_bytes, rmq_buf_t *out) {
    pthread_mutex_lock(&r->mu);
    if (from < r->base) {
        pthread_mutex_unlock(&r->mu);
        return false;
    }
    size_t count_off = out->len;
    rmq_buf_put_u32(out, 0);
    uint32_t n = 0;
    size_t bytes = 0;
    for (size_t i = 0; i < r->n && n < max; i++) {
        const rmq_ctl_ring_entry_t *e = &r->e[(r->head + i) % r->cap];
        if (e->index <= from) continue;
        if (n > 0 && bytes + e->len > max_bytes) break;
        rmq_buf_put_i64(out, e->index);
        rmq_ctl_put_bytes(out, e->cmd, e->len);
        bytes += e->len;
        n++;
    }
    rmq_buf_patch_u32(out, count_off, n);
    pthread_mutex_unlock(&r->mu);
    return true;
}
