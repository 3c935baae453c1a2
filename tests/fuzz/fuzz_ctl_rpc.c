/* fuzz_ctl_rpc.c - libFuzzer target for the controller RPC protocol
 * (src/controller/ctl_proto.c request decoding as the server does it,
 * src/controller/ctl_client.c response decoding as the client does it).
 *
 * Input: selector u8, then the bytes for it:
 *   0  a request frame (api | corr | body) -> rmq_ctl_decode_request; an
 *      accepted request is re-encoded the way the client sends it and must
 *      decode to the same fields
 *   1  DESCRIBE body      -> rmq_ctl_decode_describe
 *   2  PROPOSE: error i16 | body -> rmq_ctl_decode_propose
 *   3  READ_STATE body    -> rmq_ctl_decode_read_state, snapshot restored
 *      into a fresh state
 *   4  FETCH body         -> rmq_ctl_apply_fetch into a fresh mirror state
 *   5  HEARTBEAT body     -> rmq_ctl_decode_heartbeat
 *   6  ADD/REMOVE_VOTER answer / NOT_CONTROLLER body: leader id i32 and str
 * (selector taken modulo 7). Seeds: tests/fuzz/corpus/ctl_rpc/. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/log.h"
#include "controller/ctl_client.h"
#include "controller/ctl_proto.h"
#include "controller/meta_state.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The client's request encoding (ctl_client.c call() + the bodies). */
static void encode_request(const rmq_ctl_request_t *r, rmq_buf_t *b) {
    rmq_buf_put_u16(b, r->api);
    rmq_buf_put_i32(b, r->corr);
    switch (r->api) {
    case RMQ_CTL_PROPOSE: rmq_buf_put(b, r->cmd, r->cmd_len); break;
    case RMQ_CTL_FETCH:
        rmq_buf_put_i64(b, r->from_index);
        rmq_buf_put_u32(b, r->max);
        break;
    case RMQ_CTL_ADD_VOTER:
        rmq_buf_put_i32(b, r->id);
        rmq_ctl_put_str(b, r->addr);
        break;
    case RMQ_CTL_REMOVE_VOTER: rmq_buf_put_i32(b, r->id); break;
    case RMQ_CTL_HEARTBEAT:
        rmq_buf_put_i32(b, r->id);
        rmq_buf_put_i64(b, r->epoch);
        rmq_buf_put_u32(b, r->session_timeout_ms);
        break;
    default: break;
    }
}

static void fuzz_request(const uint8_t *p, size_t n) {
    rmq_ctl_request_t r;
    rmq_err_t e = rmq_ctl_decode_request(p, n, &r);
    if (e == RMQ_ERR_CORRUPT) {
        if (n >= 6) abort(); /* only a short header may be unanswerable */
        return;
    }
    if (e == RMQ_UNSUPPORTED_VERSION || e == RMQ_INVALID_REQUEST) return;
    if (e != RMQ_NONE) abort();
    if (r.cmd && (r.cmd < p || r.cmd + r.cmd_len > p + n)) abort();
    if (r.api == RMQ_CTL_FETCH && (r.max == 0 || r.max > RMQ_CTL_FETCH_MAX)) abort();
    if (memchr(r.addr, 0, sizeof r.addr) == NULL) abort();
    rmq_buf_t b;
    rmq_buf_init(&b);
    encode_request(&r, &b);
    rmq_ctl_request_t r2;
    if (b.oom || rmq_ctl_decode_request(b.data, b.len, &r2) != RMQ_NONE) abort();
    if (r2.api != r.api || r2.corr != r.corr || r2.cmd_len != r.cmd_len || r2.from_index != r.from_index ||
        r2.max != r.max || r2.id != r.id || strcmp(r2.addr, r.addr) != 0 || r2.epoch != r.epoch ||
        r2.session_timeout_ms != r.session_timeout_ms)
        abort();
    if (r.cmd_len && memcmp(r.cmd, r2.cmd, r.cmd_len) != 0) abort();
    rmq_buf_free(&b);
}

static rmq_meta_state_t *fresh_state(void) {
    rmq_meta_state_opts_t opts = {.max_partitions = 5000}; /* bound memory per input */
    return rmq_meta_state_new(&opts);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static int init;
    if (!init) {
        rmq_log_set_level(RMQ_LOG_OFF);
        init = 1;
    }
    if (size < 1) return 0;
    const uint8_t *p = data + 1;
    size_t n = size - 1;
    switch (data[0] % 7) {
    case 0: fuzz_request(p, n); break;
    case 1: {
        rmq_ctl_describe_t d;
        rmq_err_t e = rmq_ctl_decode_describe(p, n, &d);
        if (e != RMQ_NONE && e != RMQ_CORRUPT_MESSAGE) abort();
        if (d.n_servers > 16 || !memchr(d.leader_address, 0, sizeof d.leader_address)) abort();
        break;
    }
    case 2: {
        if (n < 2) return 0;
        rmq_err_t ae = (int16_t)rmq_be16(p);
        rmq_meta_result_t res;
        rmq_meta_result_init(&res);
        rmq_err_t e = rmq_ctl_decode_propose(ae, p + 2, n - 2, &res);
        if (e != res.err || (e != ae && !(ae == RMQ_NONE && e == RMQ_CORRUPT_MESSAGE))) abort();
        if (!memchr(res.msg, 0, sizeof res.msg)) abort();
        for (size_t i = 0; i < res.n_stream_ids; i++) (void)res.stream_ids[i];
        rmq_meta_result_free(&res);
        break;
    }
    case 3: {
        int64_t idx = 0;
        const uint8_t *snap = NULL;
        size_t sl = 0;
        rmq_err_t e = rmq_ctl_decode_read_state(p, n, &idx, &snap, &sl);
        if (e == RMQ_NONE) {
            if (sl && (snap < p || snap + sl > p + n)) abort();
            rmq_meta_state_t *st = fresh_state();
            if (st) {
                (void)rmq_meta_state_restore(st, snap, sl);
                rmq_meta_state_free(st);
            }
        } else if (e != RMQ_CORRUPT_MESSAGE) {
            abort();
        }
        break;
    }
    case 4: {
        rmq_meta_state_t *st = fresh_state();
        if (!st) return 0;
        size_t applied = 0;
        int64_t before = rmq_meta_state_last_index(st);
        rmq_err_t e = rmq_ctl_apply_fetch(p, n, st, &applied);
        /* the mirror never moves back (an entry at an index the state refuses,
         * e.g. INT64_MAX, is counted by the client but leaves the index) */
        if (rmq_meta_state_last_index(st) < before) abort();
        if (e == RMQ_NONE && n && p[0] == 1 && applied != 1) abort();
        rmq_meta_state_free(st);
        break;
    }
    case 5: {
        int64_t li = -7;
        rmq_err_t e = rmq_ctl_decode_heartbeat(p, n, &li);
        if ((e == RMQ_NONE) != (n >= 8)) abort();
        if (e != RMQ_NONE && li != -7) abort();
        break;
    }
    case 6: {
        rmq_cur_t c;
        rmq_cur_init(&c, p, n);
        (void)rmq_cur_i32(&c);
        char text[256];
        rmq_ctl_get_str(&c, text, sizeof text);
        if (!memchr(text, 0, sizeof text)) abort();
        size_t bl;
        const uint8_t *bv = rmq_ctl_get_bytes(&c, &bl);
        if (bv && (bv < p || bv + bl > p + n)) abort();
        break;
    }
    }
    return 0;
}
