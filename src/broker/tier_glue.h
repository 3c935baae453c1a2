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

/* Timestamp lookup in the uploaded part of a stream: the base offset (at
 * least from) of the first manifest range at or after from whose max
 * timestamp >= ts, or -1. Range granularity (one stream's run of one
 * segment): the exact record is not searched inside the object. */
int64_t rmq_btier_offset_for_timestamp(rmq_broker_t *b, uint64_t stream, int64_t ts, int64_t from);

#endif
