/* producer_state.h - idempotent-producer bookkeeping for one partition.
 *
 * For every producer id that wrote to the partition we keep its epoch and
 * the sequence ranges and base offsets of its last RMQ_PRODUCER_KEEP batches
 * (Kafka keeps 5: the client's max in-flight for idempotence). A produce is
 * checked before offsets are assigned:
 *   - next in sequence              -> accepted, then recorded with its offset;
 *   - same range as a kept batch    -> duplicate: answered with the original offset;
 *   - any other sequence            -> OUT_OF_ORDER_SEQUENCE_NUMBER;
 *   - older epoch                   -> INVALID_PRODUCER_EPOCH (fenced);
 *   - newer epoch                   -> must start at sequence 0.
 * A producer idle for longer than the table's expiry (Kafka's
 * producer.id.expiration.ms, one day by default) is forgotten at the next
 * sweep, so the table does not grow with every producer that ever wrote;
 * a forgotten producer that comes back must start a new sequence.
 * Not thread-safe: the caller holds the partition lock. Memory is owned by
 * the table and released by rmq_producers_free. */
#ifndef RMQ_BROKER_PRODUCER_STATE_H
#define RMQ_BROKER_PRODUCER_STATE_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

#define RMQ_PRODUCER_KEEP 5
#define RMQ_PRODUCER_EXPIRE_MS 86400000 /* Kafka's producer.id.expiration.ms default */

typedef struct rmq_producers rmq_producers_t;

/* expire_ms: forget producers idle that long (0 = never). */
rmq_producers_t *rmq_producers_new(int64_t expire_ms);
void rmq_producers_free(rmq_producers_t *ps);

/* Check a batch (first_seq .. first_seq + count - 1, wrapping at INT32_MAX)
 * from pid/epoch. Returns 0 if it may be appended, RMQ_DUPLICATE_SEQUENCE_NUMBER
 * with *dup_base_offset set to the original batch's base offset (and
 * *dup_timestamp, unless NULL, to the timestamp it was recorded with),
 * RMQ_OUT_OF_ORDER_SEQUENCE_NUMBER, or RMQ_INVALID_PRODUCER_EPOCH. */
rmq_err_t rmq_producers_check(const rmq_producers_t *ps, int64_t pid, int16_t epoch, int32_t first_seq,
                              int32_t count, int64_t *dup_base_offset, int64_t *dup_timestamp);
/* Record an appended batch (after rmq_producers_check returned 0, or while
 * rebuilding state from the log at startup) written at now_ms (wall clock;
 * also when rebuilding from the log: batch timestamps are the clients'),
 * with the batch's max timestamp as stored (the append time on
 * LogAppendTime topics) in batch_ts, which a duplicate is answered with.
 * May sweep out expired producers. RMQ_ERR_NOMEM on OOM. */
rmq_err_t rmq_producers_record(rmq_producers_t *ps, int64_t pid, int16_t epoch, int32_t first_seq, int32_t count,
                               int64_t base_offset, int64_t now_ms, int64_t batch_ts);
size_t rmq_producers_count(const rmq_producers_t *ps);

#endif
