/* meta_store.h - the "replicator" interface in front of the metadata state
 * machine: something that makes an encoded command durable (and, later,
 * replicated), gives it a log index, applies it to the state, and reports
 * the applied result.
 *
 * Implementations: the local durable log (meta_log.h: append + fdatasync +
 * apply, synchronous) today; a Raft implementation later (raft_apply, then
 * the fsm apply callback runs rmq_meta_state_apply and completes the
 * proposal). Callers (the broker's CreateTopics/DeleteTopics/... handlers)
 * only see this interface plus the read APIs of meta_state.h. */
#ifndef RMQ_CONTROLLER_META_STORE_H
#define RMQ_CONTROLLER_META_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "controller/meta_cmd.h"
#include "controller/meta_state.h"

/* Completion of a proposal. res is borrowed for the call; done may take
 * ownership of res->stream_ids by setting it to NULL. May run on any thread,
 * possibly before propose returns (local log: always). */
typedef void (*rmq_meta_done_fn)(void *ud, rmq_meta_result_t *res);

typedef struct rmq_meta_store_ops {
    const char *name; /* "local-log", "raft" */
    /* Take cmd[0..len) (borrowed; copied before return if needed). Returns 0
     * if the proposal was accepted: then done is called exactly once with
     * the applied result (which may be a rejection like TOPIC_ALREADY_EXISTS).
     * Returns an error (RMQ_ERR_IO, RMQ_ERR_NOSPACE, RMQ_NOT_CONTROLLER, ...)
     * if it was not: then done is never called, and msg[0..cap) says why. */
    rmq_err_t (*propose)(void *impl, const uint8_t *cmd, size_t len, rmq_meta_done_fn done, void *ud, char *msg,
                         size_t cap);
    rmq_meta_state_t *(*state)(void *impl); /* borrowed, lives as long as impl */
    void (*close)(void *impl);
} rmq_meta_store_ops_t;

typedef struct rmq_meta_store {
    const rmq_meta_store_ops_t *ops;
    void *impl;
} rmq_meta_store_t;

/* Propose and wait for the applied result (blocking the calling thread; do
 * not call from the thread that runs the store's own event loop). res is
 * filled (initialised here; caller frees with rmq_meta_result_free) both
 * when the proposal fails (res->err = that error) and when it applied.
 * Returns res->err. */
rmq_err_t rmq_meta_store_propose(rmq_meta_store_t *st, const uint8_t *cmd, size_t len, rmq_meta_result_t *res);
/* Encode cmd and propose it (same contract as rmq_meta_store_propose). */
rmq_err_t rmq_meta_store_propose_cmd(rmq_meta_store_t *st, const rmq_meta_cmd_t *cmd, rmq_meta_result_t *res);
/* The state machine behind the store (borrowed). */
rmq_meta_state_t *rmq_meta_store_state(rmq_meta_store_t *st);

#endif
