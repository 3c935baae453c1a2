/* group.h - the Kafka group coordinator (classic protocol) and the
 * committed-offsets store.
 *
 * Two layers:
 *  - rmq_groups_t (group.c): the in-memory state machine of every group -
 *    members, generations, protocol selection, static membership, session
 *    and rebalance deadlines - plus the map of committed offsets. It knows
 *    neither sockets nor storage: it is driven by plain calls that carry the
 *    current time (rmq_groups_tick advances the timers), and requests that
 *    must wait (JoinGroup until the rebalance completes, a follower's
 *    SyncGroup until the leader's assignment) register a callback that is
 *    called exactly once, possibly from inside a later call on another
 *    thread. Unit tests drive it directly (tests/unit/test_group.c).
 *  - the broker glue (group_store.c, functions rmq_broker_groups_* in
 *    broker_int.h plus rmq_groups_lag below): the internal topic
 *    __consumer_offsets written through the storage engine, its replay at
 *    startup, offset retention, the ticker thread and the lag query.
 *
 * Threads and locking: one mutex protects everything in an rmq_groups_t.
 * Every public function takes it, except the *_locked ones, which must be
 * called between rmq_groups_lock and rmq_groups_unlock. Callbacks
 * (rmq_group_join_cb / rmq_group_sync_cb) run with the lock held: they must
 * copy what they need out of the result (its pointers die when the callback
 * returns) and must not call back into rmq_groups_*.
 *
 * Record format of __consumer_offsets (as Kafka writes it, so Kafka tools
 * can read it): key = int16 version 1, string group, string topic, int32
 * partition; value = int16 version 3, int64 offset, int32 leader epoch,
 * string metadata, int64 commit timestamp; a null value is a tombstone.
 * Strings are int16 length + bytes. */
#ifndef RMQ_BROKER_GROUP_H
#define RMQ_BROKER_GROUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "broker/broker.h"
#include "common/buf.h"
#include "common/err.h"

#define RMQ_GROUPS_OFFSETS_TOPIC "__consumer_offsets"
#define RMQ_GROUPS_MAX_METADATA 4096 /* bytes of commit metadata accepted */

typedef struct rmq_groups rmq_groups_t;

typedef struct rmq_groups_config {
    int64_t initial_rebalance_delay_ms; /* group.initial.rebalance.delay.ms */
    int64_t min_session_timeout_ms;
    int64_t max_session_timeout_ms;
    int64_t offsets_retention_ms; /* offsets of empty groups expire after this */
} rmq_groups_config_t;

typedef enum rmq_group_state {
    RMQ_GROUP_EMPTY = 0,
    RMQ_GROUP_PREPARING_REBALANCE,
    RMQ_GROUP_COMPLETING_REBALANCE,
    RMQ_GROUP_STABLE,
    RMQ_GROUP_DEAD,
} rmq_group_state_t;

/* "Empty", "PreparingRebalance", "CompletingRebalance", "Stable", "Dead"
 * (Kafka's spelling; static storage). */
const char *rmq_group_state_name(rmq_group_state_t s);
/* Parse Kafka's spelling (case-insensitive); -1 if unknown. */
int rmq_group_state_parse(const char *s, size_t len);

/* cfg copied. NULL on OOM. */
rmq_groups_t *rmq_groups_new(const rmq_groups_config_t *cfg);
/* Frees everything. Parked requests must have been answered
 * (rmq_groups_fail_waiters) first. NULL is a no-op. */
void rmq_groups_free(rmq_groups_t *g);

/* ---- JoinGroup ---- */

typedef struct rmq_group_protocol {
    const char *name;     /* borrowed for the call */
    const uint8_t *meta;  /* borrowed for the call */
    size_t meta_len;
} rmq_group_protocol_t;

typedef struct rmq_group_join_args {
    const char *group_id;
    const char *member_id;   /* "" = new member */
    const char *instance_id; /* NULL = dynamic member (group.instance.id) */
    const char *client_id, *client_host;
    const char *protocol_type;
    int32_t session_timeout_ms;
    int32_t rebalance_timeout_ms; /* -1 (JoinGroup v0) = session timeout */
    const rmq_group_protocol_t *protocols;
    size_t n_protocols;
    bool require_known_member_id; /* JoinGroup v4+: MEMBER_ID_REQUIRED flow */
    int64_t now_ms;
} rmq_group_join_args_t; /* everything borrowed for the call */

typedef struct rmq_group_member_info {
    const char *member_id;
    const char *instance_id; /* NULL if dynamic */
    const uint8_t *metadata; /* of the selected protocol */
    size_t metadata_len;
} rmq_group_member_info_t;

typedef struct rmq_group_join_result {
    rmq_err_t err;
    int32_t generation; /* -1 on error */
    const char *protocol_type, *protocol_name; /* NULL if none */
    const char *leader;    /* "" if none */
    const char *member_id; /* the member's id (also with MEMBER_ID_REQUIRED) */
    bool skip_assignment;  /* static leader rejoining a stable group */
    const rmq_group_member_info_t *members; /* the leader only, else none */
    size_t n_members;
} rmq_group_join_result_t; /* every pointer valid during the callback only */

typedef void (*rmq_group_join_cb)(void *ud, const rmq_group_join_result_t *r);

/* Handle a JoinGroup: cb(ud, result) is called exactly once, now (errors,
 * MEMBER_ID_REQUIRED, a rejoin that needs no rebalance) or when the
 * rebalance completes (from a later call or rmq_groups_tick). */
void rmq_groups_join(rmq_groups_t *g, const rmq_group_join_args_t *a, rmq_group_join_cb cb, void *ud);

/* ---- SyncGroup ---- */

typedef struct rmq_group_assignment {
    const char *member_id;
    const uint8_t *data;
    size_t len;
} rmq_group_assignment_t;

typedef struct rmq_group_sync_args {
    const char *group_id, *member_id;
    const char *instance_id;                  /* NULL = dynamic */
    const char *protocol_type, *protocol_name; /* NULL = not sent (SyncGroup < v5) */
    int32_t generation;
    const rmq_group_assignment_t *assignments; /* the leader's; borrowed for the call */
    size_t n_assignments;
    int64_t now_ms;
} rmq_group_sync_args_t;

typedef struct rmq_group_sync_result {
    rmq_err_t err;
    const char *protocol_type, *protocol_name; /* NULL if none */
    const uint8_t *assignment;                 /* the member's, untouched */
    size_t assignment_len;
} rmq_group_sync_result_t; /* valid during the callback only */

typedef void (*rmq_group_sync_cb)(void *ud, const rmq_group_sync_result_t *r);

/* Handle a SyncGroup: cb called exactly once, now or when the leader's
 * assignment arrives (or the rebalance is abandoned). */
void rmq_groups_sync(rmq_groups_t *g, const rmq_group_sync_args_t *a, rmq_group_sync_cb cb, void *ud);

/* ---- Heartbeat / LeaveGroup ---- */

/* RMQ_NONE, REBALANCE_IN_PROGRESS (rejoin), ILLEGAL_GENERATION,
 * UNKNOWN_MEMBER_ID, FENCED_INSTANCE_ID. Resets the session timer. */
rmq_err_t rmq_groups_heartbeat(rmq_groups_t *g, const char *group_id, const char *member_id,
                               const char *instance_id, int32_t generation, int64_t now_ms);
/* Remove one member (member_id "" with instance_id set: the static member
 * of that instance). RMQ_NONE, UNKNOWN_MEMBER_ID, FENCED_INSTANCE_ID;
 * GROUP_ID_NOT_FOUND when the group does not exist. */
rmq_err_t rmq_groups_leave(rmq_groups_t *g, const char *group_id, const char *member_id, const char *instance_id,
                           int64_t now_ms);

/* ---- timers, shutdown ---- */

/* Expire sessions, end rebalances whose deadline passed, end initial
 * delays, drop pending member ids nobody claimed. Call every few tens of
 * milliseconds. */
void rmq_groups_tick(rmq_groups_t *g, int64_t now_ms);
/* Answer every parked JoinGroup/SyncGroup with err (shutdown); from then
 * on every JoinGroup/SyncGroup is answered with err at once. */
void rmq_groups_fail_waiters(rmq_groups_t *g, rmq_err_t err);

/* ---- committed offsets ---- */

typedef struct rmq_group_offset {
    const char *topic; /* owned by the store; borrowed by readers under the lock */
    int32_t partition;
    int64_t offset;
    int32_t leader_epoch; /* -1 unknown */
    const char *metadata; /* "" if none */
    int64_t commit_timestamp_ms;
} rmq_group_offset_t;

/* May an OffsetCommit with this identity commit now? Follows Kafka:
 * generation < 0 on an empty (or missing: it is created) group is a simple
 * commit; otherwise REBALANCE_IN_PROGRESS while completing a rebalance,
 * UNKNOWN_MEMBER_ID, ILLEGAL_GENERATION, FENCED_INSTANCE_ID. A valid member
 * commit also counts as a heartbeat. INVALID_GROUP_ID for "". */
rmq_err_t rmq_groups_commit_check(rmq_groups_t *g, const char *group_id, int32_t generation, const char *member_id,
                                  const char *instance_id, int64_t now_ms);
/* Store one committed offset (after it is durable); strings copied.
 * Creates the group (Empty) if needed. */
rmq_err_t rmq_groups_offset_put(rmq_groups_t *g, const char *group_id, const rmq_group_offset_t *o);
/* Remove one committed offset (tombstone); no-op if absent. */
void rmq_groups_offset_delete(rmq_groups_t *g, const char *group_id, const char *topic, int32_t partition);

void rmq_groups_lock(rmq_groups_t *g);
void rmq_groups_unlock(rmq_groups_t *g);
/* The committed offset of group/topic/partition, NULL if none. Valid until
 * unlock. */
const rmq_group_offset_t *rmq_groups_offset_find_locked(rmq_groups_t *g, const char *group_id, const char *topic,
                                                        int32_t partition);
/* Call fn for every committed offset of the group (in no order). Returns
 * how many there were; 0 if the group does not exist. */
size_t rmq_groups_offsets_each_locked(rmq_groups_t *g, const char *group_id,
                                      void (*fn)(void *ud, const rmq_group_offset_t *o), void *ud);

/* Encode the key and value of a commit record (appended to caller-owned
 * buffers). */
void rmq_groups_encode_key(rmq_buf_t *out, const char *group_id, const char *topic, int32_t partition);
void rmq_groups_encode_value(rmq_buf_t *out, const rmq_group_offset_t *o);
/* Apply one record of __consumer_offsets (key/value borrowed; value NULL /
 * vlen -1 = tombstone). Records other than offset commits (group metadata,
 * key version 2) are skipped. RMQ_ERR_CORRUPT if undecodable. */
rmq_err_t rmq_groups_apply_record(rmq_groups_t *g, const uint8_t *key, int32_t klen, const uint8_t *value,
                                  int32_t vlen);

/* Offsets whose retention ran out: groups that are Empty (no members) keep
 * their offsets for offsets_retention_ms after the later of the time they
 * became empty and the commit. Calls fn for each expired offset (so the
 * caller can write tombstones), removes them, and forgets groups left with
 * neither members nor offsets. Returns the number expired. */
size_t rmq_groups_expire_offsets(rmq_groups_t *g, int64_t now_ms,
                                 void (*fn)(void *ud, const char *group_id, const rmq_group_offset_t *o), void *ud);

/* ---- listing, describing, deleting ---- */

typedef struct rmq_group_summary {
    char group_id[256];     /* truncated if longer */
    rmq_group_state_t state;
    char protocol_type[64]; /* "" if none */
    char protocol_name[64]; /* "" unless Stable/CompletingRebalance */
    int32_t generation;
    int32_t n_members;
    int32_t n_offsets;
} rmq_group_summary_t;

/* Fill out[0..cap) with the known groups; returns how many exist (may be >
 * cap: call again with a larger array). */
size_t rmq_groups_list(rmq_groups_t *g, rmq_group_summary_t *out, size_t cap);
/* Summary of one group; RMQ_GROUP_ID_NOT_FOUND if unknown. */
rmq_err_t rmq_groups_summary(rmq_groups_t *g, const char *group_id, rmq_group_summary_t *out);

typedef struct rmq_group_member_desc {
    const char *member_id, *instance_id, *client_id, *client_host;
    const uint8_t *metadata; /* of the selected protocol ("" if none) */
    size_t metadata_len;
    const uint8_t *assignment;
    size_t assignment_len;
} rmq_group_member_desc_t;

/* Describe a group under the lock: fn(ud, summary, members, n) (pointers
 * valid during the call). RMQ_GROUP_ID_NOT_FOUND if unknown (fn not
 * called). */
rmq_err_t rmq_groups_describe(rmq_groups_t *g, const char *group_id,
                              void (*fn)(void *ud, const rmq_group_summary_t *s, const rmq_group_member_desc_t *m,
                                         size_t n),
                              void *ud);

/* DeleteGroups for one group: GROUP_ID_NOT_FOUND, NON_EMPTY_GROUP, or
 * RMQ_NONE after calling fn for every committed offset (so the caller can
 * write tombstones) and forgetting the group. */
rmq_err_t rmq_groups_delete(rmq_groups_t *g, const char *group_id,
                            void (*fn)(void *ud, const char *group_id, const rmq_group_offset_t *o), void *ud);

/* ---- consumer lag (broker glue, group_store.c) ---- */

typedef struct rmq_group_lag {
    char topic[256];
    int32_t partition;
    int64_t committed; /* committed offset */
    int64_t log_end;   /* high watermark of the partition (-1 if the topic is gone) */
    int64_t lag;       /* log_end - committed, >= 0 (0 if unknown) */
} rmq_group_lag_t;

/* Lag of every partition the group has committed offsets for: fills
 * out[0..cap) (caller-owned) and returns in *n how many there are (may be >
 * cap). Cost: one hash lookup and one rmq_store_stream_info per partition,
 * no I/O. RMQ_GROUP_ID_NOT_FOUND if the group is unknown, RMQ_ERR_CLOSED if
 * the coordinator is not running. For the admin API and metrics. */
rmq_err_t rmq_groups_lag(rmq_broker_t *b, const char *group_id, rmq_group_lag_t *out, size_t cap, size_t *n);
/* The coordinator's state machine of a running broker (NULL if not
 * running), for rmq_groups_list / rmq_groups_summary / describe. */
rmq_groups_t *rmq_broker_groups_core(rmq_broker_t *b);

#endif
