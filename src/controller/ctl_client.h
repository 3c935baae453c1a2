/* ctl_client.h - blocking client of the controller RPC protocol
 * (ctl_proto.h), for admin tools, tests and brokers configured with
 * controller endpoints.
 *
 * Knows a list of controller RPC endpoints ("host:port"); keeps one TCP
 * connection per endpoint, reconnecting as needed. Leader-only calls
 * (propose, linearizable read, membership) go to the last known leader; a
 * NOT_CONTROLLER answer names the leader's node id, which the client maps
 * to an endpoint with DESCRIBE and retries there, until timeout_ms has
 * passed in total (leader elections included). A client is used by one
 * thread at a time. */
#ifndef RMQ_CONTROLLER_CTL_CLIENT_H
#define RMQ_CONTROLLER_CTL_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "controller/meta_cmd.h"
#include "controller/meta_state.h"

#define RMQ_CTL_MAX_ENDPOINTS 16

typedef struct rmq_ctl_client rmq_ctl_client_t;

typedef struct rmq_ctl_describe {
    int32_t node_id;
    int role; /* rmq_raft_role_t */
    int64_t term;
    int32_t leader_id;
    char leader_address[64];
    int64_t last_applied, commit_index; /* raft */
    int64_t meta_index, meta_version;   /* state machine */
    bool has_cluster;
    rmq_meta_uuid_t cluster_id;
    int32_t topics;
    bool leader_ready;
    uint32_t n_servers;
    struct {
        int32_t id;
        char address[64];
        int role; /* RAFT_VOTER=1, RAFT_STANDBY=0, RAFT_SPARE=2 */
    } servers[16];
} rmq_ctl_describe_t;

/* endpoints are copied. timeout_ms bounds every public call (0 = 10000).
 * RMQ_ERR_INVALID_ARG (no endpoints, too many), RMQ_ERR_NOMEM. */
rmq_err_t rmq_ctl_client_new(const char *const *endpoints, size_t n, uint32_t timeout_ms, rmq_ctl_client_t **out);
void rmq_ctl_client_free(rmq_ctl_client_t *c);
size_t rmq_ctl_client_endpoint_count(const rmq_ctl_client_t *c);

/* DESCRIBE one endpoint (index into the list). Transport failures:
 * RMQ_NETWORK_EXCEPTION / RMQ_REQUEST_TIMED_OUT with msg. */
rmq_err_t rmq_ctl_client_describe(rmq_ctl_client_t *c, size_t endpoint, rmq_ctl_describe_t *out, char *msg,
                                  size_t cap);
/* Find the leader (DESCRIBE every endpoint until one says it leads and is
 * ready). Returns its endpoint index in *endpoint. */
rmq_err_t rmq_ctl_client_find_leader(rmq_ctl_client_t *c, size_t *endpoint, char *msg, size_t cap);

/* Propose an encoded command on the leader. res is initialised here (free
 * with rmq_meta_result_free); returns res->err: the applied result, or
 * RMQ_NOT_CONTROLLER / RMQ_REQUEST_TIMED_OUT if no leader answered in time. */
rmq_err_t rmq_ctl_client_propose(rmq_ctl_client_t *c, const uint8_t *cmd, size_t len, rmq_meta_result_t *res);
rmq_err_t rmq_ctl_client_propose_cmd(rmq_ctl_client_t *c, const rmq_meta_cmd_t *cmd, rmq_meta_result_t *res);

/* Linearizable read: the leader runs a barrier and sends its state, which
 * replaces *into (restore). *index (may be NULL) gets the state's index. */
rmq_err_t rmq_ctl_client_read_state(rmq_ctl_client_t *c, rmq_meta_state_t *into, int64_t *index, char *msg,
                                    size_t cap);

/* Watch step: fetch what `endpoint` applied after mirror's last index and
 * apply it to mirror (commands in order with their indexes, or a snapshot
 * restore when the endpoint no longer has the tail). *n_applied (may be
 * NULL) counts commands applied (a snapshot counts as 1). */
rmq_err_t rmq_ctl_client_fetch(rmq_ctl_client_t *c, size_t endpoint, rmq_meta_state_t *mirror, uint32_t max,
                               size_t *n_applied, char *msg, size_t cap);

/* Broker liveness (RMQ_CTL_HEARTBEAT) on the leader: RMQ_NONE, or
 * RMQ_STALE_BROKER_EPOCH when (broker_id, epoch) is not the current
 * registration (fenced: register again), or a transport/leader error.
 * *leader_index (may be NULL) gets the leader's applied metadata index. */
rmq_err_t rmq_ctl_client_heartbeat(rmq_ctl_client_t *c, int32_t broker_id, int64_t epoch, uint32_t session_timeout_ms,
                                   int64_t *leader_index, char *msg, size_t cap);

/* ---- response body decoders ----
 * Used by the calls above and by tests/fuzz/fuzz_ctl_rpc.c. body[0..len)
 * is a response payload after its correlation id and error field
 * (borrowed). */

/* DESCRIBE body into *out (zeroed first; servers beyond 16 are skipped).
 * RMQ_NONE or RMQ_CORRUPT_MESSAGE. */
rmq_err_t rmq_ctl_decode_describe(const uint8_t *body, size_t len, rmq_ctl_describe_t *out);
/* PROPOSE body with its error field app_err into res (initialised by the
 * caller; res->stream_ids malloc'd, freed by rmq_meta_result_free).
 * Returns res->err: app_err, or RMQ_CORRUPT_MESSAGE when app_err is NONE
 * and the body is malformed. */
rmq_err_t rmq_ctl_decode_propose(rmq_err_t app_err, const uint8_t *body, size_t len, rmq_meta_result_t *res);
/* READ_STATE body: index and a view of the snapshot bytes (into body).
 * RMQ_NONE or RMQ_CORRUPT_MESSAGE. */
rmq_err_t rmq_ctl_decode_read_state(const uint8_t *body, size_t len, int64_t *index, const uint8_t **snap,
                                    size_t *snap_len);
/* FETCH body applied to mirror: a snapshot restore (mode 1, counts 1 in
 * *n_applied) or the commands with an index above mirror's in order (mode
 * 0; rejected commands are applied too, they are part of the log). A
 * malformed entry list stops at the first bad entry after applying the
 * good ones before it. *n_applied (may be NULL) is set to the count. RMQ_NONE,
 * RMQ_CORRUPT_MESSAGE or the restore's error. */
rmq_err_t rmq_ctl_apply_fetch(const uint8_t *body, size_t len, rmq_meta_state_t *mirror, size_t *n_applied);
/* HEARTBEAT body: *leader_index (may be NULL) set only when well formed.
 * RMQ_NONE or RMQ_CORRUPT_MESSAGE. */
rmq_err_t rmq_ctl_decode_heartbeat(const uint8_t *body, size_t len, int64_t *leader_index);

/* Membership, on the leader. */
rmq_err_t rmq_ctl_client_add_voter(rmq_ctl_client_t *c, int32_t id, const char *raft_address, char *msg,
                                   size_t cap);
rmq_err_t rmq_ctl_client_remove_voter(rmq_ctl_client_t *c, int32_t id, char *msg, size_t cap);

#endif
