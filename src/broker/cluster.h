/* cluster.h - the broker's link to a controller quorum (broker configured
 * with [controller] endpoints; docs/cluster.md).
 *
 * Three parts, all behind one handle:
 *  - a remote rmq_meta_store_t (meta_store.h): propose sends the encoded
 *    command to the controller leader with ctl_client (redirects on
 *    NOT_CONTROLLER are followed there), and completes only once the local
 *    mirror has applied the command's index, so the proposer reads its own
 *    write (CreateTopics then Metadata on the same broker sees the topic);
 *  - the mirror: an rmq_meta_state_t kept current by a watcher thread that
 *    FETCHes every command applied after the mirror's last index (in
 *    order, none lost; after a reconnect it resumes from that index; a
 *    snapshot replaces the mirror when the controller no longer has the
 *    tail). Request handlers read it like the embedded state;
 *  - registration and liveness: RegisterBroker with an epoch that grows
 *    across restarts (<data_dir>/broker.epoch, and above whatever the
 *    controller last saw), then a heartbeat thread. A heartbeat answered
 *    STALE_BROKER_EPOCH means the controller fenced this broker: it
 *    registers again with a new epoch and takes back the leaderless
 *    partitions it holds.
 *
 * The embedded (single-node) broker uses none of this except
 * rmq_cluster_register_local, which registers it in its own store. */
#ifndef RMQ_BROKER_CLUSTER_H
#define RMQ_BROKER_CLUSTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "controller/meta_state.h"
#include "controller/meta_store.h"

typedef struct rmq_cluster rmq_cluster_t;

typedef struct rmq_cluster_opts {
    const char *const *endpoints; /* controller RPC "host:port" (copied) */
    size_t n_endpoints;
    int32_t broker_id;
    const char *rack;     /* "" = none */
    const char *data_dir; /* holds broker.epoch */
    uint32_t heartbeat_ms;       /* 0 = 500 */
    uint32_t session_timeout_ms; /* 0 = 10000; sent with every heartbeat */
    uint32_t startup_timeout_ms; /* wait for a controller leader and the first sync; 0 = 60000 */
    /* Called on the watcher thread after the mirror applied commands that
     * changed the set of topics or partitions (e.g. a DeleteTopic proposed
     * through another broker), so the broker can drop local streams of
     * deleted topics. Must not call back into the cluster. NULL = none. */
    void (*on_topics_changed)(void *ud);
    void *on_topics_changed_ud;
} rmq_cluster_opts_t;

/* Connect to the quorum, wait for a leader and a cluster id, bring the
 * mirror up to the leader's applied index and start the watcher. Does not
 * register yet. RMQ_ERR_CONFIG (bad endpoints), RMQ_REQUEST_TIMED_OUT (no
 * controller within startup_timeout_ms), RMQ_ERR_NOMEM; msg says more. */
rmq_err_t rmq_cluster_start(const rmq_cluster_opts_t *o, rmq_cluster_t **out, char *msg, size_t cap);

/* Register with the advertised Kafka address (host borrowed) and start the
 * heartbeats. Waits until the mirror shows the registration. */
rmq_err_t rmq_cluster_register(rmq_cluster_t *c, const char *host, uint16_t port, char *msg, size_t cap);

/* The remote store and the mirror (both borrowed; live until stop). */
rmq_meta_store_t *rmq_cluster_store(rmq_cluster_t *c);
rmq_meta_state_t *rmq_cluster_state(rmq_cluster_t *c);

/* Current registration epoch (0 before registering). */
int64_t rmq_cluster_epoch(rmq_cluster_t *c);

/* Bring the mirror up to at least `index` (blocking, bounded by
 * timeout_ms). RMQ_NONE or RMQ_REQUEST_TIMED_OUT. */
rmq_err_t rmq_cluster_sync(rmq_cluster_t *c, int64_t index, uint32_t timeout_ms);

/* Stop heartbeats, unregister (controlled shutdown: the partitions this
 * broker leads move away at once instead of after the session timeout),
 * stop the watcher, free. NULL is a no-op. */
void rmq_cluster_stop(rmq_cluster_t *c);

/* Who may serve topic/partition according to state (read-locks it):
 * RMQ_NONE if broker `self` leads it, RMQ_NOT_LEADER_OR_FOLLOWER if another
 * broker does, RMQ_LEADER_NOT_AVAILABLE if nobody does (its replicas are
 * fenced), RMQ_UNKNOWN_TOPIC_OR_PARTITION. */
rmq_err_t rmq_cluster_check_leader(rmq_meta_state_t *state, const char *topic, int32_t partition, int32_t self);

/* Next registration epoch of broker_id: above the one in <data_dir>/broker.epoch
 * and above the one registered in state; persisted (write, fsync, rename)
 * before it is returned. RMQ_ERR_IO with msg if the file cannot be written. */
rmq_err_t rmq_cluster_next_epoch(const char *data_dir, rmq_meta_state_t *state, int32_t broker_id, int64_t *epoch,
                                 char *msg, size_t cap);

/* Embedded mode: register broker_id in the local store (same command as
 * the cluster path; epoch from rmq_cluster_next_epoch). */
rmq_err_t rmq_cluster_register_local(rmq_meta_store_t *store, const char *data_dir, int32_t broker_id,
                                     const char *rack, const char *host, uint16_t port, char *msg, size_t cap);

#endif
