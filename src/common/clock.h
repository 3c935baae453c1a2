/* clock.h - time sources behind a small interface.
 *
 * Modules that schedule or measure (WAL flush timer, fetch long-poll, group
 * session timeouts) take an rmq_clock_t so tests can drive time
 * deterministically. rmq_clock_system() is the real clock. */
#ifndef RMQ_COMMON_CLOCK_H
#define RMQ_COMMON_CLOCK_H

#include <stdint.h>
#include <time.h>

typedef struct rmq_clock {
    uint64_t (*mono_ns)(void *ud); /* monotonic nanoseconds */
    int64_t (*wall_ms)(void *ud);  /* Unix epoch milliseconds */
    void *ud;
} rmq_clock_t;

/* The process-wide real clock (static storage). */
const rmq_clock_t *rmq_clock_system(void);
uint64_t rmq_mono_ns(void);
int64_t rmq_wall_ms(void);

/* The CLOCK_REALTIME moment rel_ns from now, normalized (tv_nsec below
 * 1e9): the absolute deadline pthread_cond_timedwait takes for a relative
 * wait on a default condition variable. */
struct timespec rmq_cond_deadline_ns(uint64_t rel_ns);
static inline struct timespec rmq_cond_deadline_ms(uint64_t rel_ms) { return rmq_cond_deadline_ns(rel_ms * 1000000ull); }

#endif
