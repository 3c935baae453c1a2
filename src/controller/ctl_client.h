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

/* Membership, on the leader. */
rmq_err_t rmq_ctl_client_add_voter(rmq_ctl_client_t *c, int32_t id, const char *raft_address, char *msg,
                                   size_t cap);
rmq_err_t rmq_ctl_client_remove_voter(rmq_ctl_client_t *c, int32_t id, char *msg, size_t cap);

#endif
