/* kafka_backend.h - an rmq_admin_backend_t that reaches a cluster over the
 * Kafka protocol (Metadata, CreateTopics, DeleteTopics, DescribeConfigs,
 * IncrementalAlterConfigs, CreatePartitions, ListGroups, FindCoordinator,
 * DescribeGroups, OffsetFetch, ListOffsets, DeleteGroups) through
 * admin/kclient.h. Serves `rustmq-admin serve-api` and the CLI's
 * --bootstrap mode; works against any Kafka-compatible broker. */
#ifndef RMQ_ADMIN_KAFKA_BACKEND_H
#define RMQ_ADMIN_KAFKA_BACKEND_H

#include "admin/admin.h"

typedef struct rmq_admin_kafka rmq_admin_kafka_t;

/* Connect to bootstrap ("host:port[,...]"). metrics may be NULL (borrowed).
 * On failure err says why (RMQ_ERR_IO: cannot connect). */
rmq_err_t rmq_admin_kafka_open(const char *bootstrap, uint32_t timeout_ms, rmq_admin_kafka_t **out, char *err,
                               size_t cap);
void rmq_admin_kafka_close(rmq_admin_kafka_t *k);
/* Fill be with this backend's functions; be->ud = k, be->metrics = metrics. */
void rmq_admin_kafka_backend(rmq_admin_kafka_t *k, rmq_metrics_t *metrics, rmq_admin_backend_t *be);

#endif
