/* meta_state.h - the cluster metadata state machine.
 *
 * The state is a pure function of the sequence of commands applied to it:
 * rmq_meta_state_apply consumes one encoded command (meta_cmd.h) with its
 * log index and nothing else (no clock, no randomness, no local config that
 * could differ between nodes except the opts fixed at creation), so the
 * same bytes replayed from the local log, from a snapshot plus log tail,
 * or through Raft's fsm apply() give the same state. Snapshots are bytes
 * (rmq_meta_state_snapshot / rmq_meta_state_restore), matching Raft's
 * fsm snapshot()/restore().
 *
 * Contents: cluster id (set once by InitCluster), last applied index, a
 * version counter (bumped by every successful change), the next stream id
 * (monotonic, never reused), registered brokers, and topics indexed by name
 * and by id (hash maps) plus a name-ordered array for iteration. Each
 * partition carries the uint64 stream id the storage engine uses, its
 * leader broker id and leader epoch. Topic configs store only overridden
 * keys; defaults come from meta_validate.h's table / the broker config.
 *
 * Thread safety: a pthread rwlock lives inside the state. apply and restore
 * take it for writing; the convenience readers below (marked "locks") take
 * it for reading. Readers returning pointers into the state (marked
 * "caller holds the read lock") must be called between
 * rmq_meta_state_rdlock() and rmq_meta_state_unlock(), and the pointers
 * die at unlock. Do not call a "locks" function while holding the lock
 * (no nesting), and never apply from inside a read section. */
#ifndef RMQ_CONTROLLER_META_STATE_H
#define RMQ_CONTROLLER_META_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/err.h"
#include "controller/meta_cmd.h"

typedef struct rmq_meta_state rmq_meta_state_t;

typedef struct rmq_meta_state_opts {
    /* Per-topic partition limit enforced at apply (<= 0: 100000). Must be the
     * same on every node of a quorum. */
    int32_t max_partitions;
} rmq_meta_state_opts_t;

typedef struct rmq_meta_partition {
    uint64_t stream_id;
    int32_t leader;       /* broker id, -1 if none (no broker registered yet, or
                             every replica is fenced) */
    int32_t leader_epoch; /* 0 at creation, +1 at every leader change */
    /* Brokers assigned to hold the partition (the first registered brokers
     * round-robin at creation, at most replication_factor of them; the
     * first broker to register adopts partitions created with none). The
     * leader is always one of them. Owned by the state. */
    int32_t *replicas;
    int32_t n_replicas;
} rmq_meta_partition_t;

typedef struct rmq_meta_topic {
    char *name;
    rmq_meta_uuid_t id;
    int16_t replication_factor;
    int32_t n_partitions;
    rmq_meta_partition_t *partitions; /* [n_partitions] */
    size_t n_configs;
    rmq_meta_kv_t *configs; /* overridden keys only, sorted by key */
    int64_t created_index;  /* log index of the CreateTopic */
} rmq_meta_topic_t;

typedef struct rmq_meta_broker {
    int32_t id;
    char *rack; /* "" = none */
    char *host;
    uint16_t port;
    int64_t epoch;
} rmq_meta_broker_t;

/* Outcome of applying one command. err is RMQ_NONE or a Kafka error code
 * (the command was a deterministic no-op) or an internal decode error.
 * stream_ids lists the streams the command created (CreateTopic,
 * CreatePartitions) or removed (DeleteTopic), in partition order; it is
 * owned by the result: free with rmq_meta_result_free. */
#define RMQ_META_RESULT_MAX_KEYS 32

typedef struct rmq_meta_result {
    rmq_err_t err;
    char msg[256];
    int64_t index;
    uint16_t type;
    rmq_meta_uuid_t topic_id; /* topic created/deleted/changed, zero otherwise */
    uint64_t *stream_ids;
    size_t n_stream_ids;
    /* Object keys the command made deletable (ObjectManifestTrim,
     * DeleteTopic, an ObjectManifestAdd that was dead on arrival): every
     * range they hold is below its stream's log start. Gone from the
     * manifest; the proposer deletes them from the object store. Stored
     * inline so results can be moved by plain struct copy; keys beyond
     * RMQ_META_RESULT_MAX_KEYS are only counted (n_deleted_dropped), and a
     * quorum-mode PROPOSE answer carries none: the broker deletes the keys
     * it collected before the command that the manifest no longer holds
     * (tier_glue.c, delete_dead), these are only added to them. */
    char deleted_keys[RMQ_META_RESULT_MAX_KEYS][RMQ_META_OBJ_KEY_MAX + 1];
    size_t n_deleted_keys;
    size_t n_deleted_dropped;
} rmq_meta_result_t;

void rmq_meta_result_init(rmq_meta_result_t *r);
void rmq_meta_result_free(rmq_meta_result_t *r);

/* Create an empty state (opts may be NULL). NULL on OOM. Free with
 * rmq_meta_state_free. */
rmq_meta_state_t *rmq_meta_state_new(const rmq_meta_state_opts_t *opts);
void rmq_meta_state_free(rmq_meta_state_t *s);

/* Apply the encoded command cmd[0..len) (borrowed) at log index `index`.
 * Takes the write lock. index must be > the last applied index (and less
 * than INT64_MAX), otherwise
 * RMQ_ERR_INVALID_ARG and nothing changes. Otherwise the index is always
 * consumed (last applied = index), even when the command is malformed or
 * rejected, so every replica makes the same decision. res (may be NULL)
 * receives the outcome; the return value equals res->err. */
rmq_err_t rmq_meta_state_apply(rmq_meta_state_t *s, const uint8_t *cmd, size_t len, int64_t index,
                               rmq_meta_result_t *res);
/* Dry run: the checks apply would make against the current state, without
 * changing anything (CreateTopics validate_only). Takes the read lock. */
rmq_err_t rmq_meta_state_check(rmq_meta_state_t *s, const uint8_t *cmd, size_t len, rmq_meta_result_t *res);
/* Rules checked only when a command is proposed, never when it is applied,
 * so entries already in a log replay as they did when written (today: a new
 * topic whose name collides with an existing one on '.' vs '_', Kafka's
 * INVALID_TOPIC_EXCEPTION). rmq_meta_state_check includes them. res is
 * initialised here; the caller frees it. */
rmq_err_t rmq_meta_state_precheck(rmq_meta_state_t *s, const uint8_t *cmd, size_t len, rmq_meta_result_t *res);

/* Append a self-contained snapshot of the state to out (out owns its
 * memory; caller frees). Takes the read lock. RMQ_ERR_NOMEM on OOM. */
rmq_err_t rmq_meta_state_snapshot(rmq_meta_state_t *s, rmq_buf_t *out);
/* Replace the whole state with the snapshot p[0..len) (borrowed). The
 * snapshot is fully decoded and checked before anything changes: on error
 * (RMQ_ERR_BAD_MAGIC, RMQ_ERR_UNSUPPORTED, RMQ_ERR_BAD_CRC,
 * RMQ_ERR_TRUNCATED, RMQ_ERR_CORRUPT, RMQ_ERR_NOMEM) the state is unchanged.
 * Takes the write lock. */
rmq_err_t rmq_meta_state_restore(rmq_meta_state_t *s, const uint8_t *p, size_t len);

/* ---- read section ---- */
void rmq_meta_state_rdlock(rmq_meta_state_t *s);
void rmq_meta_state_unlock(rmq_meta_state_t *s);

/* Caller holds the read lock. */
const rmq_meta_topic_t *rmq_meta_state_find_topic(const rmq_meta_state_t *s, const char *name);
const rmq_meta_topic_t *rmq_meta_state_find_topic_id(const rmq_meta_state_t *s, const rmq_meta_uuid_t *id);
size_t rmq_meta_state_topic_count_locked(const rmq_meta_state_t *s);
/* i-th topic in name (strcmp) order, i < topic count. */
const rmq_meta_topic_t *rmq_meta_state_topic_at(const rmq_meta_state_t *s, size_t i);
size_t rmq_meta_state_broker_count_locked(const rmq_meta_state_t *s);
/* i-th registered broker in id order. */
const rmq_meta_broker_t *rmq_meta_state_broker_at(const rmq_meta_state_t *s, size_t i);
const rmq_meta_broker_t *rmq_meta_state_find_broker(const rmq_meta_state_t *s, int32_t id);
/* Overridden value of key for topic t, or NULL (then the default applies). */
const char *rmq_meta_topic_config(const rmq_meta_topic_t *t, const char *key);

/* ---- convenience readers (locks) ---- */
size_t rmq_meta_state_topic_count(rmq_meta_state_t *s);
size_t rmq_meta_state_partition_count(rmq_meta_state_t *s); /* over all topics */
int64_t rmq_meta_state_last_index(rmq_meta_state_t *s);
uint64_t rmq_meta_state_version(rmq_meta_state_t *s);
uint64_t rmq_meta_state_next_stream_id(rmq_meta_state_t *s);
/* Cluster id; false if no InitCluster was applied yet. */
bool rmq_meta_state_cluster_id(rmq_meta_state_t *s, rmq_meta_uuid_t *out);
/* Stream id of topic/partition: RMQ_NONE or RMQ_UNKNOWN_TOPIC_OR_PARTITION. */
rmq_err_t rmq_meta_state_stream_id(rmq_meta_state_t *s, const char *topic, int32_t partition, uint64_t *out);
/* Effective config value of key for topic, copied into out[0..cap):
 * *overridden says whether it is a topic override (DYNAMIC_TOPIC_CONFIG) or
 * the default (DEFAULT_CONFIG; Kafka's default from the key table).
 * RMQ_UNKNOWN_TOPIC_OR_PARTITION, RMQ_INVALID_CONFIG (unknown key) or
 * RMQ_ERR_TOO_LARGE (out too small; out holds a truncated copy). */
rmq_err_t rmq_meta_state_config(rmq_meta_state_t *s, const char *topic, const char *key, char *out, size_t cap,
                                bool *overridden);
/* Call fn for every topic in name order under the read lock; fn must not
 * call back into the state. Stops early if fn returns non-zero (returned). */
int rmq_meta_state_foreach_topic(rmq_meta_state_t *s, int (*fn)(void *ud, const rmq_meta_topic_t *t), void *ud);

/* ---- object manifest (tiered storage), see docs/tiering.md ----
 * Objects (key, id, size, the stream ranges they hold) and per stream the
 * tiered log start. A range is live while end_offset > its stream's log
 * start; an object leaves the manifest once none of its ranges is live. */
typedef struct rmq_meta_obj_loc {
    char key[RMQ_META_OBJ_KEY_MAX + 1];
    uint64_t object_id, object_size;
    rmq_meta_obj_range_t range;
} rmq_meta_obj_loc_t;

/* Locks. Live ranges of stream_id with end_offset > from, in offset order,
 * at most max (0 = all). *out is malloc'd (caller frees; NULL when *n is
 * 0). RMQ_NONE or RMQ_ERR_NOMEM. */
rmq_err_t rmq_meta_state_manifest_find(rmq_meta_state_t *s, uint64_t stream_id, int64_t from, size_t max,
                                       rmq_meta_obj_loc_t **out, size_t *n);
/* Locks. Tiered extent of a stream: log start, end (largest live range end,
 * or the log start), live bytes, live range count. false (outputs
 * untouched) if the manifest has no entry for the stream. Any out may be NULL. */
bool rmq_meta_state_manifest_stream(rmq_meta_state_t *s, uint64_t stream_id, int64_t *log_start, int64_t *end,
                                    uint64_t *bytes, size_t *n_ranges);
/* Locks. Is key an object of the manifest? */
bool rmq_meta_state_manifest_has_key(rmq_meta_state_t *s, const char *key);
/* Locks. Object count, their total size, the largest object id (0 if none). */
void rmq_meta_state_manifest_totals(rmq_meta_state_t *s, size_t *objects, uint64_t *bytes, uint64_t *max_object_id);
/* Locks. The largest object id in [lo, hi), 0 if none (a broker's own
 * segment-id range in quorum mode, docs/tiering.md). */
uint64_t rmq_meta_state_manifest_max_id_in(rmq_meta_state_t *s, uint64_t lo, uint64_t hi);

/* Deep equality of two states (content, counters and indexes; not opts).
 * Takes both read locks (a and b must differ). For tests and checks. */
bool rmq_meta_state_equal(rmq_meta_state_t *a, rmq_meta_state_t *b);

#endif
