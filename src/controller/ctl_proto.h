/* ctl_proto.h - the controller RPC protocol (brokers and admin tools talk
 * to rustmq-controller with it; docs/controller.md has the byte layout).
 *
 * Transport: TCP, frames of a 4-byte big-endian size then the payload (the
 * net module's framing). All integers big-endian; str = u16 length + bytes;
 * bytes = u32 length + bytes.
 *   request payload:  api u16 | correlation i32 | body
 *   response payload: correlation i32 | error i16 (rmq_err_t, wire code or
 *                     internal) | body
 * A response with error NOT_CONTROLLER has body: leader_id i32 (0 =
 * unknown) | leader raft address str. Clients then find the leader's RPC
 * endpoint among the endpoints they know (DESCRIBE gives each one's node
 * id) and retry there: redirect, not forwarding.
 *
 * Also: the growable ring of recently applied commands that FETCH (watch)
 * serves from (rmq_ctl_ring_t), shared by the server and tests. */
#ifndef RMQ_CONTROLLER_CTL_PROTO_H
#define RMQ_CONTROLLER_CTL_PROTO_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/err.h"
#include "controller/meta_cmd.h"

enum {
    /* -> node_id i32 | role u8 | term i64 | leader_id i32 | leader_addr str |
     *    last_applied i64 | commit i64 | meta_index i64 | meta_version i64 |
     *    has_cluster u8 | cluster_id uuid | topics i32 | leader_ready u8 |
     *    n u16 × (id i32 | address str | role u8) */
    RMQ_CTL_DESCRIBE = 1,
    /* body = one encoded metadata command (meta_cmd.h). Leader only.
     * -> (error = the applied result) index i64 | topic_id uuid | msg str |
     *    n u32 × stream_id u64 */
    RMQ_CTL_PROPOSE = 2,
    /* Linearizable read: the leader runs raft_barrier, then answers
     * -> meta_index i64 | snapshot bytes (rmq_meta_state_snapshot) */
    RMQ_CTL_READ_STATE = 3,
    /* Watch: from_index i64 | max u32. Any node, from its applied state.
     * -> mode u8 (0 = entries, 1 = snapshot) |
     *    mode 0: n u32 × (index i64 | command bytes), ascending, all
     *            applied commands with index > from_index (up to max)
     *    mode 1: index i64 | snapshot bytes (from_index is older than the
     *            retained tail: restore it, then fetch from the restored
     *            state's last index; the index field is informational) */
    RMQ_CTL_FETCH = 4,
    /* id i32 | raft address str. Leader only. -> empty */
    RMQ_CTL_ADD_VOTER = 5,
    /* id i32. Leader only. -> empty */
    RMQ_CTL_REMOVE_VOTER = 6,
    /* Broker liveness (ctl_fence.h): broker_id i32 | epoch i64 |
     * session_timeout_ms u32. Leader only. error NONE: that registration
     * is current and its session restarts; STALE_BROKER_EPOCH: not
     * registered with that epoch (fenced): register again.
     * -> meta_index i64 (the leader's applied index) */
    RMQ_CTL_HEARTBEAT = 7,
};

#define RMQ_CTL_MAX_FRAME (64u << 20)
#define RMQ_CTL_ADDR_MAX 64 /* = RMQ_RAFT_ADDR_MAX (raft_store.h) */
#define RMQ_CTL_FETCH_MAX 10000 /* FETCH max 0 or above this means this */

/* A decoded request frame (the payload after the 4-byte size). Views point
 * into the frame (borrowed: keep it alive while the request is used). */
typedef struct rmq_ctl_request {
    uint16_t api;
    int32_t corr;
    /* PROPOSE: the encoded command (the rest of the frame) */
    const uint8_t *cmd;
    size_t cmd_len;
    /* FETCH */
    int64_t from_index;
    uint32_t max; /* 1..RMQ_CTL_FETCH_MAX */
    /* ADD_VOTER / REMOVE_VOTER: voter id (>= 1) and raft address (ADD only,
     * non-empty); HEARTBEAT: broker id (>= 0) */
    int32_t id;
    char addr[RMQ_CTL_ADDR_MAX];
    /* HEARTBEAT */
    int64_t epoch;
    uint32_t session_timeout_ms;
} rmq_ctl_request_t;

/* Decode a request frame (borrowed; views in *req point into it). Returns
 * RMQ_NONE; RMQ_ERR_CORRUPT when the frame is shorter than api | corr (no
 * correlation id to answer: close the connection); otherwise req->api and
 * req->corr are set and the error is the answer to send:
 * RMQ_UNSUPPORTED_VERSION (unknown api) or RMQ_INVALID_REQUEST (malformed
 * or invalid body). DESCRIBE and READ_STATE ignore their body. */
rmq_err_t rmq_ctl_decode_request(const uint8_t *frame, size_t len, rmq_ctl_request_t *req);

/* str / bytes helpers (rmq_buf_t owns its memory; cursor reads are
 * borrowed views into the frame). get_str copies into out[cap] (truncates);
 * get_bytes returns a view and its length. */
void rmq_ctl_put_str(rmq_buf_t *b, const char *s);
void rmq_ctl_put_bytes(rmq_buf_t *b, const void *p, size_t n);
void rmq_ctl_get_str(rmq_cur_t *c, char *out, size_t cap);
const uint8_t *rmq_ctl_get_bytes(rmq_cur_t *c, size_t *n);

/* ---- ring of applied commands (for FETCH) ---- */

typedef struct rmq_ctl_ring_entry {
    int64_t index;
    uint8_t *cmd; /* owned */
    size_t len;
} rmq_ctl_ring_entry_t;

typedef struct rmq_ctl_ring {
    pthread_mutex_t mu;
    rmq_ctl_ring_entry_t *e; /* circular, cap entries */
    size_t cap, head, n;
    size_t bytes, max_bytes;
    /* every applied command with index > base is in the ring */
    int64_t base;
} rmq_ctl_ring_t;

/* cap entries, max_bytes of command bytes; base = the state's index when
 * the ring starts observing. RMQ_ERR_NOMEM. */
rmq_err_t rmq_ctl_ring_init(rmq_ctl_ring_t *r, size_t cap, size_t max_bytes, int64_t base);
void rmq_ctl_ring_free(rmq_ctl_ring_t *r);
/* Append (copies cmd). Evicts the oldest entries beyond cap/max_bytes (base
 * moves up). Out of memory: the ring is cleared and base = index, so
 * fetchers fall back to a snapshot. */
void rmq_ctl_ring_push(rmq_ctl_ring_t *r, int64_t index, const uint8_t *cmd, size_t len);
/* A snapshot replaced the state at index: forget everything before. */
void rmq_ctl_ring_reset(rmq_ctl_ring_t *r, int64_t index);
/* Append entries with index > from (at most max, at most max_bytes of
 * commands) to out as "n u32 × (index i64 | bytes)". Returns false (nothing
 * written) if from < base: the caller must send a snapshot instead. */
bool rmq_ctl_ring_fetch(rmq_ctl_ring_t *r, int64_t from, uint32_t max, size_t max_bytes, rmq_buf_t *out);

#endif
