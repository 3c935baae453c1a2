/* kclient.h - a tiny blocking Kafka client for admin tools: one TCP
 * connection per broker node, ApiVersions negotiation on connect, and one
 * synchronous request/response call built on the protocol codec
 * (protocol/kafka_codec.h). Used by the Kafka admin backend behind
 * `rustmq-admin --bootstrap` and `rustmq-admin serve-api`.
 *
 * Calls are serialised by one mutex (admin traffic is light); a broken
 * connection is reopened once per call. Node addresses are learned from
 * Metadata / FindCoordinator responses by the caller (rmq_kclient_set_node). */
#ifndef RMQ_ADMIN_KCLIENT_H
#define RMQ_ADMIN_KCLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "common/arena.h"
#include "common/err.h"

typedef struct rmq_kclient rmq_kclient_t;

#define RMQ_KCLIENT_ANY (-1) /* any node: the bootstrap connection */

/* bootstrap: "host:port[,host:port...]" (copied). Connects to the first
 * reachable address and negotiates versions. On failure err says why and
 * the result is RMQ_ERR_IO / RMQ_ERR_TIMEOUT / RMQ_ERR_CONFIG. */
rmq_err_t rmq_kclient_open(const char *bootstrap, uint32_t timeout_ms, rmq_kclient_t **out, char *err, size_t cap);
void rmq_kclient_close(rmq_kclient_t *kc);

/* Remember node id -> host:port (host copied). */
void rmq_kclient_set_node(rmq_kclient_t *kc, int32_t node, const char *host, size_t host_len, int32_t port);

/* Send one request of api_key to node (RMQ_KCLIENT_ANY = bootstrap) at
 * min(max_version, broker's max) and decode the response into resp (the
 * response struct of that API, initialised here). The response frame and
 * everything the decoded struct points to live in arena a. *version_out (may
 * be NULL) gets the version used. RMQ_ERR_UNSUPPORTED when the broker does not
 * offer the API at a version we can speak (err names the API). */
rmq_err_t rmq_kclient_call(rmq_kclient_t *kc, int32_t node, int16_t api_key, int16_t max_version, const void *req,
                           rmq_arena_t *a, void *resp, int16_t *version_out, char *err, size_t cap);

/* "host:port" of the bootstrap connection (static inside kc). */
const char *rmq_kclient_bootstrap(const rmq_kclient_t *kc);

#endif
