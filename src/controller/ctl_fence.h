/* ctl_fence.h - broker liveness on the controller leader: the heartbeat
 * table and the decision which registrations to fence.
 *
 * Brokers registered in the metadata state (RegisterBroker) send HEARTBEAT
 * RPCs (ctl_proto.h) to the controller leader with their id, registration
 * epoch and session timeout. The table lives in memory on the leader only:
 * it is not replicated. A node that becomes leader starts every registered
 * broker's clock at "now" (a grace period of one session timeout), so a
 * leader change never fences a live broker. A registration that is not
 * heard from for its session timeout is returned by rmq_ctl_fence_expired;
 * the caller proposes UnregisterBroker(id, epoch) for it (meta_cmd.h),
 * which moves the partitions it leads to a live replica or makes them
 * leaderless, atomically in one command.
 *
 * Pure logic: time is passed in (ms, any monotonic origin) and the state is
 * only read, so unit tests drive it directly. Thread-safe (one mutex). */
#ifndef RMQ_CONTROLLER_CTL_FENCE_H
#define RMQ_CONTROLLER_CTL_FENCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "controller/meta_state.h"

/* Session timeout assumed for a broker not heard from since this node
 * became leader (the broker config default, [controller] session_timeout_ms). */
#define RMQ_CTL_FENCE_DEFAULT_TIMEOUT_MS 10000u
#define RMQ_CTL_FENCE_MIN_TIMEOUT_MS 100u
#define RMQ_CTL_FENCE_MAX_TIMEOUT_MS 300000u

typedef struct rmq_ctl_fence rmq_ctl_fence_t;

typedef struct rmq_ctl_fence_victim {
    int32_t broker_id;
    int64_t epoch;
    uint64_t silent_ms; /* how long it was not heard from */
} rmq_ctl_fence_victim_t;

/* NULL on OOM. */
rmq_ctl_fence_t *rmq_ctl_fence_new(void);
void rmq_ctl_fence_free(rmq_ctl_fence_t *f);

/* A HEARTBEAT from (broker_id, epoch) at now_ms. Checked against state
 * (read-locks it): RMQ_NONE and the clock restarts if that exact
 * registration is current; RMQ_STALE_BROKER_EPOCH if the broker is not
 * registered (fenced) or registered with another epoch: it must register
 * again. timeout_ms is clamped to [MIN, MAX]. RMQ_ERR_NOMEM. */
rmq_err_t rmq_ctl_fence_heartbeat(rmq_ctl_fence_t *f, rmq_meta_state_t *state, int32_t broker_id, int64_t epoch,
                                  uint32_t timeout_ms, uint64_t now_ms);

/* Periodic check. is_leader: whether this node currently leads (with its
 * first barrier applied). On a not-leader -> leader transition every
 * registered broker's clock starts at now_ms. When not leader the table is
 * dropped and nothing is returned. Otherwise fills out[0..cap) with the
 * registrations silent for longer than their timeout and returns how many
 * (each is reported at most once per fence_retry_ms = its timeout, so a
 * proposal that failed is retried). */
size_t rmq_ctl_fence_expired(rmq_ctl_fence_t *f, rmq_meta_state_t *state, bool is_leader, uint64_t now_ms,
                             rmq_ctl_fence_victim_t *out, size_t cap);

/* Number of brokers tracked (tests, metrics). */
size_t rmq_ctl_fence_tracked(rmq_ctl_fence_t *f);

#endif
