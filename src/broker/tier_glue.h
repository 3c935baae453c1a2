/* tier_glue.h - the broker's side of tiered storage (docs/tiering.md):
 * opens the object store, seeds an empty WAL from the manifest, runs the
 * uploader (committing manifest entries through the metadata log), the
 * tiered reader for fetches below the local WAL, and retention.
 *
 * Lifecycle (broker.c): rmq_btier_prepare after the metadata is open and
 * before the store opens; rmq_btier_start after the store opened;
 * rmq_btier_stop after the network stopped and before the store closes. */
#ifndef RMQ_BROKER_TIER_GLUE_H
#define RMQ_BROKER_TIER_GLUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "controller/meta_state.h"
#include "net/net.h"
#include "storage/tier_read.h"
#include "storage/tier_upload.h"

typedef struct rmq_broker rmq_broker_t;
typedef struct rmq_btier rmq_btier_t;

rmq_err_t rmq_btier_prepare(rmq_broker_t *b, char *errbuf, size_t errlen);
rmq_err_t rmq_btier_start(rmq_broker_t *b, char *errbuf, size_t errlen);
void rmq_btier_stop(rmq_broker_t *b);

/* Completion of a tiered fetch read, on the loop thread: data (malloc'd,
 * whole batches, ownership moves to the callee; NULL when err != 0). */
typedef void (*rmq_btier_fetch_done)(void *ud, rmq_err_t err, uint8_t *data, size_t len);
/* Called instead of done, on a tier worker thread, when the loop is gone:
 * may only drop references. */
typedef void (*rmq_btier_fetch_abandon)(void *ud);

/* Read batches of stream from offset (the store answered RMQ_ERR_NOT_FOUND)
 * on a tier worker; done runs later on `loop`. RMQ_NONE = started (exactly
 * one of done/abandon will be called); otherwise nothing is called:
 * RMQ_ERR_NOT_FOUND (no tier / no manifest range), RMQ_ERR_NOMEM, RMQ_ERR_CLOSED. */
rmq_err_t rmq_btier_fetch_async(rmq_broker_t *b, rmq_net_loop_t *loop, uint64_t stream, int64_t offset,
                                size_t max_bytes, rmq_btier_fetch_done done, rmq_btier_fetch_abandon abandon,
                                void *ud);

typedef struct rmq_btier_stats {
    rmq_tier_upload_stats_t upload;
    rmq_tier_reader_stats_t read;
    uint64_t retention_trims, objects_deleted, delete_failures;
} rmq_btier_stats_t;
/* false if tiering is not running. */
bool rmq_btier_stats(rmq_broker_t *b, rmq_btier_stats_t *out);

/* Deleting a topic (topics.c): before the DeleteTopic is proposed,
 * rmq_btier_topic_objects collects the keys of every object holding a live
 * range of the topic (by id when id is non-NULL, else by name), sorted and
 * without duplicates; *keys is malloc'd, as is each key: the caller owns
 * them until it hands them to rmq_btier_delete_unused. After the topic is
 * gone, rmq_btier_delete_unused takes ownership of keys (and copies the
 * result's deleted_keys, which covers an object committed in between) and
 * queues them for the retention thread, which deletes each one the manifest
 * no longer holds (an object shared with a live topic stays, and goes when
 * its last range is trimmed). The object I/O happens off the caller's
 * thread, so an I/O loop may call both. Without tiering, both do nothing
 * (rmq_btier_delete_unused frees keys). */
rmq_err_t rmq_btier_topic_objects(rmq_broker_t *b, const char *name, const rmq_meta_uuid_t *id, char ***keys,
                                  size_t *n);
void rmq_btier_delete_unused(rmq_broker_t *b, char **keys, size_t n, const rmq_meta_result_t *res);
/* A topic was deleted through another broker (quorum mode): its result
 * named our objects of it to nobody. The retention thread then deletes the
 * objects in our segment-id range that no manifest entry holds and whose
 * segment has left our WAL. Any thread; does nothing without tiering. */
void rmq_btier_request_sweep(rmq_broker_t *b);
/* Frees keys[0..n) and keys (NULL is fine). */
void rmq_btier_keys_free(char **keys, size_t n);

/* Timestamp lookup in the uploaded part of a stream: the base offset (at
 * least from) of the first manifest range at or after from whose max
 * timestamp >= ts, or -1. Range granularity (one stream's run of one
 * segment): the exact record is not searched inside the object. */
int64_t rmq_btier_offset_for_timestamp(rmq_broker_t *b, uint64_t stream, int64_t ts, int64_t from);

#endif
