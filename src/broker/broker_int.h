/* broker_int.h - state shared by the broker's own files (not exported).
 *
 * Threads: requests run on the net I/O threads (one connection = one
 * thread); storage completions run on the WAL writer thread and hop back to
 * the request's I/O thread with rmq_net_loop_post. Per-partition state
 * (producer sequences, fetch waiters) sits behind the partition's mutex;
 * the partition table behind parts_mu; metadata behind the state's rwlock;
 * metadata proposals are serialised by meta_mu. */
#ifndef RMQ_BROKER_BROKER_INT_H
#define RMQ_BROKER_BROKER_INT_H

#include <pthread.h>
#include <stdatomic.h>

#include "broker/broker.h"
#include "admin/admin.h"
#include "broker/producer_state.h"
#include "common/metrics.h"
#include "common/arena.h"
#include "common/buf.h"
#include "controller/meta_cmd.h"
#include "controller/raft_store.h"
#include "controller/meta_state.h"
#include "controller/meta_store.h"
#include "net/net.h"
#include "protocol/kafka_api.h"
#include "protocol/kafka_codec.h"
#include "protocol/kafka_msgs.h"
#include "storage/store.h"

typedef struct rmq_fetch_node rmq_fetch_node_t;

#define RMQ_BROKER_MAX_API 72 /* api keys below this get per-API metrics */

typedef struct rmq_partition {
    uint64_t stream_id;
    pthread_mutex_t mu;
    rmq_producers_t *producers; /* under mu */
    rmq_fetch_node_t *waiters;  /* under mu */
    /* topic config cached per metadata version (under mu) */
    uint64_t cfg_version;
    int32_t max_message_bytes;
    int32_t leader_epoch; /* stamped into appended batches, as Kafka's leader does */
    bool log_append_time;
    bool compacted;        /* cleanup.policy contains "compact": keyless records refused */
    bool producers_loaded; /* producer state rebuilt from the log */
    /* per-topic metric series, resolved on first use (under mu) */
    rmq_counter_t *m_produce_bytes, *m_produce_records, *m_fetch_bytes;
} rmq_partition_t;

struct rmq_broker {
    rmq_broker_opts_t o;
    char *data_dir, *listen, *rack, *wal_dir, *admin_listen;
    char adv_host[256];
    int adv_port;
    int dir_lock_fd, wal_lock_fd; /* rmq_dirlock on data_dir and a WAL dir outside it; -1 = none */
    rmq_store_t *store;
    rmq_raft_store_t *meta_raft; /* embedded single-voter controller behind meta */
    struct rmq_cluster *cluster; /* controller quorum link (cluster.h); NULL = embedded */
    rmq_meta_store_t *meta;   /* proposals go through this interface */
    rmq_meta_state_t *state;
    pthread_mutex_t meta_mu;
    rmq_net_t *net;
    pthread_mutex_t parts_mu;
    /* the cluster watcher drops streams of topics deleted elsewhere while
     * the store is open (orphan_ready under orphan_mu) */
    pthread_mutex_t orphan_mu;
    bool orphan_ready;
    rmq_partition_t **parts; /* open-addressing by stream id */
    size_t parts_cap, parts_n;
    atomic_int_fast64_t next_pid;
    /* metrics (admin_glue.c): handles resolved once */
    rmq_metrics_t *metrics;
    rmq_counter_t *m_requests[RMQ_BROKER_MAX_API];
    rmq_hist_t *m_latency[RMQ_BROKER_MAX_API];
    rmq_metric_family_t *m_produce_bytes, *m_produce_records, *m_fetch_bytes;
    rmq_hist_t *m_append_latency, *m_fsync_latency;
    rmq_admin_server_t *admin;
    atomic_bool stopping;
    struct rmq_broker_groups *groups; /* group coordinator (group_store.c) */
    struct rmq_btier *tier; /* tiered storage (tier_glue.c), NULL if not running */
};

/* One request in flight. Owns the frame and an arena for the decoded body
 * and the response object; freed by rmq_req_finish. */
typedef struct rmq_req {
    rmq_broker_t *b;
    rmq_net_conn_t *conn;
    rmq_net_slot_t *slot;
    rmq_net_loop_t *loop;
    uint8_t *frame; /* owned */
    size_t frame_len;
    rmq_arena_t arena;
    rmq_kafka_request_header_t hdr;
    void *body;
    void *resp; /* response object (arena), encoded by rmq_req_finish */
    uint64_t start_ns;
} rmq_req_t;

typedef void (*rmq_handler_fn)(rmq_req_t *req);

typedef struct rmq_handler {
    int16_t api_key;
    int16_t min_version, max_version;
    rmq_handler_fn fn;
} rmq_handler_t;

/* dispatch.c */
void rmq_broker_on_frame(void *ud, rmq_net_conn_t *conn, rmq_net_slot_t *slot, uint8_t *frame, size_t len);
/* Encode req->resp as the response and send it; frees req. */
void rmq_req_finish(rmq_req_t *req);
/* rmq_req_finish, but records fields of at least 4 KiB are sent from where
 * they are (not copied into the response buffer): they must stay valid
 * until release(ud) runs on the loop thread (exactly once, also when the
 * response is dropped or cannot be encoded). */
void rmq_req_finish_zc(rmq_req_t *req, void (*release)(void *ud), void *ud);
/* Send no response (acks=0 produce); frees req. */
void rmq_req_finish_silent(rmq_req_t *req);
/* Allocate and default-initialise the response object of req's API. */
void *rmq_req_new_response(rmq_req_t *req);
/* Arena-allocated zeroed array of n response elements of desc's struct type,
 * each initialised to defaults. */
void *rmq_req_array(rmq_req_t *req, const rmq_kafka_msg_desc_t *elem_desc, int32_t n);
/* rmq_req_array, then store the result in the response array member arr
 * (any generated {int32_t n; T *v;}): n elements, or an empty array when
 * n <= 0 or on OOM. Returns the elements (NULL then). */
void *rmq_req_array_into(rmq_req_t *req, const rmq_kafka_msg_desc_t *elem_desc, int32_t n, int32_t *arr_n,
                         void *arr_v);
#define RMQ_REQ_ARRAY(rq_, desc_, count_, arr_) \
    rmq_req_array_into((rq_), (desc_), (count_), &(arr_).n, &(arr_).v)
/* Copy s into the request arena as a NUL-terminated string ("" for null). */
char *rmq_req_cstr(rmq_req_t *req, rmq_kstr_t s);
rmq_kstr_t rmq_req_kstr(rmq_req_t *req, const char *s); /* arena copy as view */
const rmq_handler_t *rmq_broker_handlers(size_t *n);
/* Descriptor of the struct type of d's field `field` (arrays of structs and
 * nested structs), NULL if none: used to default-initialise response
 * elements with rmq_req_array. */
const rmq_kafka_msg_desc_t *rmq_kdesc_sub(const rmq_kafka_msg_desc_t *d, const char *field);

/* Kafka's Partition.checkCurrentLeaderEpoch once an epoch is to be checked:
 * older than the partition's leader epoch is FENCED_LEADER_EPOCH, newer
 * UNKNOWN_LEADER_EPOCH (which epochs are "no check" differs: Fetch skips
 * every negative one, ListOffsets only -1). */
static inline rmq_err_t rmq_leader_epoch_cmp(int32_t want, int32_t leader) {
    return want < leader ? RMQ_FENCED_LEADER_EPOCH : want > leader ? RMQ_UNKNOWN_LEADER_EPOCH : RMQ_NONE;
}

/* partitions.c */
/* Runtime state of a stream, created on first use. Never freed before stop. */
rmq_partition_t *rmq_broker_partition(rmq_broker_t *b, uint64_t stream_id);
void rmq_broker_partitions_free(rmq_broker_t *b);
/* Refresh the cached topic config and leader epoch of p (partition
 * `partition` of topic) from the metadata (p->mu held). */
void rmq_partition_refresh_config(rmq_broker_t *b, rmq_partition_t *p, const char *topic, int32_t partition);
/* Producer state, rebuilt from the stored batches on first use (p->mu held). */
rmq_producers_t *rmq_partition_producers(rmq_broker_t *b, rmq_partition_t *p);

/* meta glue (topics.c) */
/* Propose cmd through the metadata log (serialised); res filled. */
rmq_err_t rmq_broker_propose(rmq_broker_t *b, const rmq_meta_cmd_t *cmd, rmq_meta_result_t *res);
/* Create topic with defaults for -1 values; validate_only runs the checks only. */
rmq_err_t rmq_broker_create_topic(rmq_broker_t *b, const char *name, int32_t partitions, int16_t rf,
                                  const rmq_meta_kv_t *configs, uint32_t n_configs, bool validate_only,
                                  rmq_meta_uuid_t *topic_id, char *msg, size_t msglen);
/* Propose cmd, or with validate_only only run the state machine's checks
 * against the current state; msg (may be NULL) gets the reason on error. */
rmq_err_t rmq_broker_submit(rmq_broker_t *b, const rmq_meta_cmd_t *cmd, bool validate_only, char *msg, size_t cap);
rmq_err_t rmq_broker_alter_topic(rmq_broker_t *b, const char *topic, const rmq_meta_cfg_alter_t *ops, uint32_t n,
                                 bool validate_only, char *msg, size_t cap);
rmq_err_t rmq_broker_create_partitions(rmq_broker_t *b, const char *topic, int32_t total, bool validate_only,
                                       char *msg, size_t cap);
/* Look up topic/partition -> stream id; RMQ_UNKNOWN_TOPIC_OR_PARTITION. */
rmq_err_t rmq_broker_stream_of(rmq_broker_t *b, const char *topic, int32_t partition, uint64_t *stream_id);

/* Delete a topic (by name, or by id when id is non-NULL and name empty)
 * and its streams. */
rmq_err_t rmq_broker_delete_topic(rmq_broker_t *b, const char *name, const rmq_meta_uuid_t *id, char *msg,
                                  size_t cap);
/* Resolve p's per-topic metric series (p->mu held). */
void rmq_partition_metrics(rmq_broker_t *b, rmq_partition_t *p, const char *topic);

/* admin_glue.c / admin_groups.c */
rmq_err_t rmq_broker_metrics_init(rmq_broker_t *b);
void rmq_broker_tier_metrics(rmq_broker_t *b);
void rmq_broker_metrics_request(rmq_broker_t *b, int16_t api_key, uint64_t start_ns);
rmq_err_t rmq_broker_admin_start(rmq_broker_t *b, char *errbuf, size_t errlen);
void rmq_broker_admin_stop(rmq_broker_t *b);
void rmq_broker_admin_groups_backend(rmq_admin_backend_t *be);
void rmq_broker_admin_groups_metrics(rmq_broker_t *b);

/* fetch.c */
void rmq_partition_wake(rmq_broker_t *b, rmq_partition_t *p);

/* handlers, one per API (h_*.c) */
void rmq_h_api_versions(rmq_req_t *req);
void rmq_h_metadata(rmq_req_t *req);
void rmq_h_describe_cluster(rmq_req_t *req);
void rmq_h_produce(rmq_req_t *req);
void rmq_h_fetch(rmq_req_t *req);
void rmq_h_list_offsets(rmq_req_t *req);
void rmq_h_create_topics(rmq_req_t *req);
void rmq_h_delete_topics(rmq_req_t *req);
void rmq_h_create_partitions(rmq_req_t *req);
void rmq_h_describe_configs(rmq_req_t *req);
void rmq_h_alter_configs(rmq_req_t *req);
void rmq_h_incremental_alter_configs(rmq_req_t *req);
void rmq_h_init_producer_id(rmq_req_t *req);
void rmq_h_delete_records(rmq_req_t *req);

/* group coordinator glue (group_store.c; the state machine is group.h) */
/* Create the coordinator, replay __consumer_offsets, start its timers.
 * Call after storage and metadata are open. */
rmq_err_t rmq_broker_groups_open(rmq_broker_t *b, char *errbuf, size_t errlen);
/* Stop the timers and answer parked JoinGroup/SyncGroup requests (before
 * the network drains). Idempotent. */
void rmq_broker_groups_stop(rmq_broker_t *b);
/* Wait for offset appends in flight, free (after the network stopped,
 * before the store closes). NULL-safe, idempotent. */
void rmq_broker_groups_close(rmq_broker_t *b);
/* One record of __consumer_offsets: value NULL = tombstone. Borrowed. */
typedef struct rmq_groups_rec {
    const char *topic;
    int32_t partition;
    const struct rmq_group_offset *value;
} rmq_groups_rec_t;
/* Called once on the WAL writer thread when the batch is durable (err 0)
 * or failed. */
/* The group's coordinator: the broker leading the group's partition of
 * __consumer_offsets (created here if missing), as Kafka does, so members
 * bootstrapped through different brokers of a cluster meet in one place.
 * Embedded controller: always this broker. host (>= 256 bytes) gets a copy.
 * RMQ_NONE, or COORDINATOR_NOT_AVAILABLE (no leader / topic cannot be made). */
rmq_err_t rmq_broker_groups_coordinator(rmq_broker_t *b, const char *group, int32_t *node, char *host, size_t host_cap,
                                        int32_t *port);
/* RMQ_NONE if this broker coordinates group, else NOT_COORDINATOR (or
 * COORDINATOR_NOT_AVAILABLE while the offsets topic does not exist or its
 * partition has no leader): what group requests answer elsewhere. A lookup
 * only: it never creates the topic (no controller round trip). */
rmq_err_t rmq_broker_groups_check_coordinator(rmq_broker_t *b, const char *group);
typedef void (*rmq_broker_groups_write_cb)(void *ud, rmq_err_t err);
/* Append the group's records as one batch to its __consumer_offsets
 * partition (created on first use). recs borrowed for the call. On a
 * synchronous error cb is not called. */
rmq_err_t rmq_broker_groups_write(rmq_broker_t *b, const char *group_id, const rmq_groups_rec_t *recs, size_t n,
                                  rmq_broker_groups_write_cb cb, void *ud);
/* DeleteGroups of one group: forget it and write tombstones for its
 * offsets; *async true when cb will be called once they are durable. */
rmq_err_t rmq_broker_groups_delete(rmq_broker_t *b, const char *group_id, rmq_broker_groups_write_cb cb, void *ud,
                                   bool *async);
/* Expire offsets per retention now (the ticker runs it periodically). */
size_t rmq_broker_groups_expire(rmq_broker_t *b, int64_t now_ms);

/* group handlers (h_group.c) */
void rmq_h_find_coordinator(rmq_req_t *req);
void rmq_h_join_group(rmq_req_t *req);
void rmq_h_sync_group(rmq_req_t *req);
void rmq_h_heartbeat(rmq_req_t *req);
void rmq_h_leave_group(rmq_req_t *req);
void rmq_h_offset_commit(rmq_req_t *req);
void rmq_h_offset_fetch(rmq_req_t *req);
void rmq_h_list_groups(rmq_req_t *req);
void rmq_h_describe_groups(rmq_req_t *req);
void rmq_h_delete_groups(rmq_req_t *req);

#endif
