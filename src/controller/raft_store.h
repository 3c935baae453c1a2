/* raft_store.h - the Raft-backed metadata store: an rmq_meta_store_t
 * (meta_store.h) whose log is a libraft group driven by libuv (raft/uv.h).
 *
 * One store = one raft server = one thread running its own uv_loop. Every
 * call below is thread-safe: work for the raft thread (proposals, barriers,
 * membership changes, close) is queued under a mutex and the loop is woken
 * with uv_async_send. A proposal is copied into a raft_malloc'd buffer and
 * given to raft_apply; the fsm (raft_fsm.h) applies committed entries with
 * rmq_meta_state_apply and the proposal completes with that applied result.
 * A proposal on a node that is not the leader fails at once with
 * RMQ_NOT_CONTROLLER (message names the leader id and raft address;
 * rmq_raft_store_info gives them structured).
 *
 * Leader tracking: after every loop iteration the store samples raft's
 * state, term and leader; a change is logged ("leader changed" with term and
 * leader id) and published in rmq_raft_info_t. A node that becomes leader
 * appends a barrier so entries of earlier terms commit and apply at once,
 * and, if the state has no cluster id yet, proposes InitCluster with a
 * random id (the first leader of a new cluster does this exactly once; a
 * racing second proposal is rejected deterministically by the state).
 *
 * Two ways to open:
 *  - rmq_raft_store_open: a quorum member (rustmq-controller). TCP transport
 *    on raft_address; bootstrap with the given voters on a pristine dir
 *    (RAFT_CANTBOOTSTRAP on restart is normal: raft_start replays).
 *  - rmq_raft_store_open_embedded: the broker's in-process single voter.
 *    Same code path, but a transport that never listens or connects (no
 *    port is opened), bootstrapped with itself as the only voter; raft_start
 *    makes a lone voter leader at once, so open returns within milliseconds.
 *    A <data_dir>/meta/ local log (meta_log.h) found next to an empty raft
 *    dir is migrated: its state becomes <data_dir>/raft/seed.snapshot and
 *    meta/ is renamed meta.migrated/ (see docs/controller.md).
 *
 * Files: the raft dir holds libraft's segments, metadata1/2 and snapshots,
 * plus our "node" file (node id and bootstrap voter fingerprint) that stops
 * a data dir from another node or cluster being used by mistake. */
#ifndef RMQ_CONTROLLER_RAFT_STORE_H
#define RMQ_CONTROLLER_RAFT_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "controller/meta_state.h"
#include "controller/meta_store.h"
#include "controller/raft_fsm.h"

#define RMQ_RAFT_MAX_SERVERS 16
#define RMQ_RAFT_ADDR_MAX 64

typedef struct rmq_raft_store rmq_raft_store_t;

typedef struct rmq_raft_peer {
    int32_t id;
    char address[RMQ_RAFT_ADDR_MAX]; /* "host:port" (IPv4 dotted quad for the TCP transport) */
} rmq_raft_peer_t;

typedef struct rmq_raft_store_opts {
    const char *dir;          /* raft directory, created if missing (required) */
    int32_t node_id;          /* >= 1 */
    const char *raft_address; /* this node's "host:port"; NULL = embedded (no transport) */
    const rmq_raft_peer_t *peers; /* bootstrap voters incl. this node; n_peers == 0: this node alone */
    size_t n_peers;
    uint32_t election_timeout_ms;  /* 0 = 1000 */
    uint32_t heartbeat_ms;         /* 0 = 100; must be < election timeout */
    uint32_t snapshot_threshold;   /* 0 = 1024 */
    uint32_t snapshot_trailing;    /* 0 = threshold/2 (at least 1) */
    uint32_t connect_retry_ms;     /* 0 = 250 (TCP transport) */
    /* Join an existing cluster instead of bootstrapping: no raft_bootstrap,
     * the node waits for the leader's raft_add (add-voter RPC). peers may be
     * empty; the node file records "join" so a restart skips the check. */
    bool join;
    rmq_meta_state_opts_t state;
    /* Observer of every applied command (raft thread; see raft_fsm.h). */
    rmq_raft_applied_fn on_applied;
    void *on_applied_ud;
    rmq_raft_restored_fn on_restored; /* after a snapshot replaced the state */
    void *on_restored_ud;
} rmq_raft_store_opts_t;

typedef enum {
    RMQ_RAFT_UNAVAILABLE = 0,
    RMQ_RAFT_FOLLOWER = 1,
    RMQ_RAFT_CANDIDATE = 2,
    RMQ_RAFT_LEADER = 3,
} rmq_raft_role_t;

typedef struct rmq_raft_info {
    int32_t node_id;
    int state; /* rmq_raft_role_t */
    uint64_t term;
    int32_t leader_id; /* 0 = unknown */
    char leader_address[RMQ_RAFT_ADDR_MAX];
    uint64_t last_applied, commit_index, last_index; /* raft indexes */
    uint64_t leader_changes; /* observed since open */
    bool leader_ready;       /* leader and its first barrier applied */
    uint32_t n_servers;
    struct {
        int32_t id;
        char address[RMQ_RAFT_ADDR_MAX];
        int role; /* RAFT_VOTER / RAFT_STANDBY / RAFT_SPARE */
    } servers[RMQ_RAFT_MAX_SERVERS];
} rmq_raft_info_t;

/* Completion of a barrier or membership change: err RMQ_NONE on success,
 * RMQ_NOT_CONTROLLER if this node is not (or stopped being) the leader,
 * RMQ_ERR_CLOSED at shutdown, RMQ_INVALID_REQUEST / RMQ_ERR_INVALID_ARG for
 * a bad change; msg (borrowed for the call) says more. Runs on the raft
 * thread: do not block in it. */
typedef void (*rmq_raft_op_cb)(void *ud, rmq_err_t err, const char *msg);

/* Open a quorum member. state: the state machine to feed (borrowed, must
 * outlive the store; NULL = the store creates and owns one). On failure
 * *out is NULL and msg says why: RMQ_ERR_CONFIG (bad peers/ids/address, dir
 * of another node or cluster), RMQ_ERR_IO (dir, bind, raft storage),
 * RMQ_ERR_CORRUPT (unreadable raft data), RMQ_ERR_NOMEM. */
rmq_err_t rmq_raft_store_open(const rmq_raft_store_opts_t *opts, rmq_meta_state_t *state, rmq_raft_store_t **out,
                              char *msg, size_t cap);

/* Open the broker's embedded single voter under <data_dir>/raft (migrating
 * <data_dir>/meta as described above), wait until it leads and the cluster
 * has an id (bounded: 10 s), and return the generic store and its state
 * (both borrowed from the raft store; they live until
 * rmq_raft_store_close). opts may be NULL (defaults; snapshot threshold
 * 1024). Drop-in for rmq_meta_log_open + rmq_meta_log_store/state. */
rmq_err_t rmq_raft_store_open_embedded(const char *data_dir, int32_t node_id, const rmq_meta_state_opts_t *opts,
                                       rmq_raft_store_t **raft, rmq_meta_store_t **store,
                                       rmq_meta_state_t **state, char *msg, size_t cap);

/* Stop the raft server (pending proposals complete with RMQ_NOT_CONTROLLER
 * or RMQ_ERR_CLOSED), join the thread, free. NULL is a no-op. Never call it
 * from the raft thread (a done/op callback). */
void rmq_raft_store_close(rmq_raft_store_t *s);

/* The generic store view (borrowed; its close op closes the raft store). */
rmq_meta_store_t *rmq_raft_store_store(rmq_raft_store_t *s);
rmq_meta_state_t *rmq_raft_store_state(rmq_raft_store_t *s);

/* Snapshot of the published raft status (copy; thread-safe). */
void rmq_raft_store_info(rmq_raft_store_t *s, rmq_raft_info_t *out);
bool rmq_raft_store_is_leader(rmq_raft_store_t *s);
/* Wait until some leader is known (this node or another) or timeout_ms
 * passes. Returns true if one is known. */
bool rmq_raft_store_wait_leader(rmq_raft_store_t *s, uint32_t timeout_ms);

/* Asynchronous operations (queued to the raft thread). Return RMQ_NONE if
 * queued (cb runs exactly once) or RMQ_ERR_CLOSED / RMQ_ERR_NOMEM (cb never
 * runs). */
/* raft_barrier: cb once every entry before it is applied here (leader only):
 * after that, reads of the state are linearizable. */
rmq_err_t rmq_raft_store_barrier(rmq_raft_store_t *s, rmq_raft_op_cb cb, void *ud);
/* raft_add (as spare) then raft_assign(VOTER): the new node must be running
 * with an empty dir and the same cluster's peers. */
rmq_err_t rmq_raft_store_add_voter(rmq_raft_store_t *s, int32_t id, const char *address, rmq_raft_op_cb cb,
                                   void *ud);
rmq_err_t rmq_raft_store_remove_voter(rmq_raft_store_t *s, int32_t id, rmq_raft_op_cb cb, void *ud);

/* Blocking wrappers (do not call on the raft thread). */
rmq_err_t rmq_raft_store_barrier_sync(rmq_raft_store_t *s, char *msg, size_t cap);
rmq_err_t rmq_raft_store_add_voter_sync(rmq_raft_store_t *s, int32_t id, const char *address, char *msg,
                                        size_t cap);
rmq_err_t rmq_raft_store_remove_voter_sync(rmq_raft_store_t *s, int32_t id, char *msg, size_t cap);

/* Parse the controller peers list ("id@host:port", ...) into peers[]
 * (cap entries) and check it: ids >= 1 and unique, addresses unique and
 * IPv4 "a.b.c.d:port" with port 1..65535, and (self_id > 0) self_id present.
 * RMQ_ERR_CONFIG with msg naming the bad item. */
rmq_err_t rmq_raft_parse_peers(char *const *items, size_t n, int32_t self_id, rmq_raft_peer_t *peers, size_t cap,
                               size_t *n_out, char *msg, size_t cap_msg);

#endif
