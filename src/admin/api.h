/* api.h - the transport-free core of the admin REST API: routing, request
 * validation, calls into the backend, JSON documents, error mapping and the
 * long-running operation tracker.
 *
 * server.c wraps it in HTTP (libmicrohttpd: rate limiting, bodies, headers,
 * SSE); the rustmq-admin CLI in --bootstrap mode calls it in-process, so the
 * CLI's --json output is the REST API's JSON byte for byte in both modes.
 *
 * Thread-safety: rmq_admin_api_handle may run on many threads at once. */
#ifndef RMQ_ADMIN_API_H
#define RMQ_ADMIN_API_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "admin/admin.h"

typedef struct rmq_admin_api rmq_admin_api_t;

typedef enum {
    RMQ_ADMIN_ROUTE_NONE = -1, /* no such path */
    RMQ_ADMIN_ROUTE_STREAM = -2, /* GET /api/v1/metrics/stream: the transport streams */
} rmq_admin_route_special_t;

/* A reply: status plus either json (owned, json_decref) or text (owned,
 * free()) with its content type. Extra headers when non-empty. */
typedef struct rmq_admin_reply {
    int status;
    json_t *json;
    char *text;
    size_t text_len;
    const char *content_type; /* static */
    char leader_hint[256];    /* -> X-RustMQ-Leader header */
    char location[256];       /* -> Location header */
    char allow[64];           /* -> Allow header (405) */
} rmq_admin_reply_t;

void rmq_admin_reply_init(rmq_admin_reply_t *r);
void rmq_admin_reply_free(rmq_admin_reply_t *r);
/* Serialised body (owned by the caller, free()); *len set. JSON replies are
 * compact with a trailing newline. NULL on OOM. */
char *rmq_admin_reply_body(const rmq_admin_reply_t *r, size_t *len);

/* Query-string lookup supplied by the transport: value of key or NULL. */
typedef const char *(*rmq_admin_query_fn)(void *qud, const char *key);

/* cfg and be copied; be->ud / be->metrics borrowed. Starts the operation
 * thread. NULL on OOM. */
rmq_admin_api_t *rmq_admin_api_new(const rmq_admin_config_t *cfg, const rmq_admin_backend_t *be);
/* Finishes the running operation, fails the queued ones, frees. */
void rmq_admin_api_free(rmq_admin_api_t *api);

/* The rate-limit category of a request (by path and method). */
rmq_rl_category_t rmq_admin_api_category(const char *method, const char *path);

/* Handle one request. body: borrowed, may be NULL. Fills reply (status 0
 * with RMQ_ADMIN_ROUTE_STREAM returned for the SSE endpoint, which the
 * transport serves itself). Returns 0 normally. */
int rmq_admin_api_handle(rmq_admin_api_t *api, const char *method, const char *path, rmq_admin_query_fn q,
                         void *qud, const char *body, size_t body_len, rmq_admin_reply_t *reply);

/* The registry the API renders (the backend's or its own). */
rmq_metrics_t *rmq_admin_api_metrics(rmq_admin_api_t *api);
/* One metrics snapshot as compact JSON text (owned, free()); NULL on OOM. */
char *rmq_admin_api_metrics_json(rmq_admin_api_t *api, size_t *len);

/* JSON error document {"error": code, "message": msg} (new reference). */
json_t *rmq_admin_json_error(const char *code, const char *msg);

#endif
