/* clock.c - see clock.h. */
#include "common/clock.h"

#include <time.h>

uint64_t rmq_mono_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int64_t rmq_wall_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct timespec rmq_cond_deadline_ns(uint64_t rel_ns) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t ns = (uint64_t)ts.tv_nsec + rel_ns % 1000000000ull;
    ts.tv_sec += (time_t)(rel_ns / 1000000000ull + ns / 1000000000ull);
    ts.tv_nsec = (long)(ns % 1000000000ull);
    return ts;
}

static uint64_t rmq_sys_mono(void *ud) { (void)ud; return rmq_mono_ns(); }
static int64_t rmq_sys_wall(void *ud) { (void)ud; return rmq_wall_ms(); }

static const rmq_clock_t rmq_clock_sys = {rmq_sys_mono, rmq_sys_wall, 0};

const rmq_clock_t *rmq_clock_system(void) { return &rmq_clock_sys; }
