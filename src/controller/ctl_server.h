/* ctl_server.h - the controller's RPC listener (protocol in ctl_proto.h).
 *
 * One net I/O thread (src/net/net.h) accepts brokers and admin tools and
 * serves DESCRIBE, PROPOSE, READ_STATE, FETCH, ADD_VOTER and REMOVE_VOTER
 * against one raft store. Proposals, barriers and membership changes
 * complete on the raft thread; their responses are posted back to the
 * connection's I/O thread (rmq_net_loop_post). Non-leaders answer
 * NOT_CONTROLLER with the leader's id and raft address; FETCH is served by
 * any node from its own applied state and the ring of recent commands. */
#ifndef RMQ_CONTROLLER_CTL_SERVER_H
#define RMQ_CONTROLLER_CTL_SERVER_H

#include <stddef.h>

#include "common/err.h"
#include "controller/ctl_proto.h"
#include "controller/raft_store.h"

typedef struct rmq_ctl_server rmq_ctl_server_t;

typedef struct rmq_ctl_server_opts {
    const char *listen;     /* "host:port" (port 0 = any) */
    rmq_raft_store_t *raft; /* borrowed; must outlive the server */
    rmq_ctl_ring_t *ring;   /* borrowed; fed by the store's on_applied (see
                               rmq_ctl_ring_observer) */
} rmq_ctl_server_opts_t;

/* RMQ_ERR_IO with msg if the address cannot be bound. */
rmq_err_t rmq_ctl_server_start(const rmq_ctl_server_opts_t *opts, rmq_ctl_server_t **out, char *msg, size_t cap);
int rmq_ctl_server_port(const rmq_ctl_server_t *s);
/* Stop listening, finish in-flight responses (bounded), free. Call before
 * closing the raft store. NULL is a no-op. */
void rmq_ctl_server_stop(rmq_ctl_server_t *s);

/* Observers to put in rmq_raft_store_opts_t (ud = the ring): record every
 * applied command / reset on snapshot restore. */
void rmq_ctl_ring_observer(void *ring, uint64_t raft_index, int64_t meta_index, rmq_meta_result_t *res,
                           const uint8_t *cmd, size_t len);
void rmq_ctl_ring_restored(void *ring, int64_t meta_index);

#endif
