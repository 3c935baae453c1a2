/* clock.h - time sources behind a small interface.
 *
 * Modules that schedule or measure (WAL flush timer, fetch long-poll, group
 * session timeouts) take an rmq_clock_t so tests can drive time
 * deterministically. rmq_clock_system() is the real clock. */
#ifndef RMQ_COMMON_CLOCK_H
#define RMQ_COMMON_CLOCK_H

#include <stdint.h>

typedef struct rmq_clock {
    uint64_t (*mono_ns)(void *ud); /* monotonic nanoseconds */
    int64_t (*wall_ms)(void *ud);  /* Unix epoch milliseconds */
    void *ud;
} rmq_clock_t;

/* The process-wide real clock (static storage). */
const rmq_clock_t *rmq_clock_system(void);
uint64_t rmq_mono_ns(void);
int64_t rmq_wall_ms(void);

#endif
