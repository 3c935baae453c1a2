/* ctl_admin.h - the REST admin API of rustmq-controller (controller.http_listen):
 * an rmq_admin_backend_t over the controller's own Raft-replicated metadata,
 * served by the same admin server (src/admin/server.c) the brokers use.
 *
 * Reads (cluster, brokers, topics) come from the state machine; on the leader
 * they are linearizable (a Raft barrier first), on a follower they are its
 * applied state, which may lag the leader by the replication delay. Writes
 * (create/delete topic, alter configs, create partitions) are proposed through
 * Raft on the leader; a follower answers NOT_CONTROLLER (HTTP 503) naming the
 * leader. Consumer groups live on the brokers (the group coordinator): those
 * endpoints answer 501 here. Partition offsets are brokers' knowledge too:
 * log_start_offset and high_watermark are the uploaded (object-tier) range
 * from the object manifest, -1 when nothing is uploaded yet. */
#ifndef RMQ_CONTROLLER_CTL_ADMIN_H
#define RMQ_CONTROLLER_CTL_ADMIN_H

#include "admin/admin.h"
#include "common/metrics.h"
#include "controller/raft_store.h"

typedef struct rmq_ctl_admin rmq_ctl_admin_t;

/* Start serving on listen ("host:port"). raft (borrowed) must outlive the
 * server. metrics: the controller's registry (borrowed; the server adds its
 * rustmq_admin_* metrics to it); this module registers the raft gauges.
 * default_partitions / default_rf: used when a create request omits them.
 * On failure errbuf says why (e.g. the port is in use). */
rmq_err_t rmq_ctl_admin_start(const char *listen, rmq_raft_store_t *raft, rmq_metrics_t *metrics,
                              int32_t default_partitions, int16_t default_rf, rmq_ctl_admin_t **out, char *errbuf,
                              size_t errlen);
/* The bound port. */
int rmq_ctl_admin_port(const rmq_ctl_admin_t *a);
/* Stop the server and free. NULL is a no-op. */
void rmq_ctl_admin_stop(rmq_ctl_admin_t *a);

/* Helpers shared with the broker's admin backend (src/broker/admin_glue.c),
 * both over a metadata state (borrowed; they take its locks). Results are
 * allocated in the request arena a. */
/* The cluster id as base64 text ("" before the cluster is initialised). */
char *rmq_ctl_admin_cluster_id(rmq_meta_state_t *s, rmq_arena_t *a);
/* The registered brokers, all "active" (a fenced broker is unregistered),
 * in an array with `spare` free slots after them for the caller; *n = the
 * registered count. RMQ_ERR_NOMEM. */
rmq_err_t rmq_ctl_admin_brokers(rmq_meta_state_t *s, rmq_arena_t *a, size_t spare, rmq_admin_broker_t **out,
                                size_t *n);
/* Every topic's summary. */
rmq_err_t rmq_ctl_admin_topic_list(rmq_meta_state_t *s, rmq_arena_t *a, rmq_admin_topic_list_t *out);
/* Topic name's header and partitions (leader, epoch, replicas; ISR = the
 * leader; offsets -1 for the caller to fill). *streams: the partitions'
 * stream ids, malloc'd (caller frees). UNKNOWN_TOPIC_OR_PARTITION if absent. */
rmq_err_t rmq_ctl_admin_topic_describe(rmq_meta_state_t *s, rmq_arena_t *a, const char *name, rmq_admin_topic_t *out,
                                       uint64_t **streams, rmq_admin_errinfo_t *ei);
/* out->configs: every known topic config of topic name with its effective
 * value (sensitive ones as NULL). max_message_bytes > 0 replaces the
 * max.message.bytes default (a broker's own limit) when not overridden. */
void rmq_ctl_admin_topic_configs(rmq_meta_state_t *s, rmq_arena_t *a, const char *name, int32_t max_message_bytes,
                                 rmq_admin_topic_t *out);

#endif
