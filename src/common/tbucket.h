/* tbucket.h - one token bucket (rate per second, capacity `burst`) on
 * caller-supplied monotonic time. Shared by the admin API's rate limiter
 * (admin/ratelimit.c) and the uploader's pacing of local-disk object writes
 * (storage/tier_upload.c). Not thread-safe on its own: callers hold their
 * own lock. */
#ifndef RMQ_COMMON_TBUCKET_H
#define RMQ_COMMON_TBUCKET_H

#include <stdbool.h>
#include <stdint.h>

typedef struct rmq_tbucket {
    double rate;  /* tokens per second; <= 0 = unlimited */
    double burst; /* capacity */
    double tokens;
    uint64_t last_ns;
} rmq_tbucket_t;

/* A full bucket. rate <= 0 means unlimited; burst < 1 is raised to 1. */
void rmq_tbucket_init(rmq_tbucket_t *b, double rate, double burst, uint64_t now_ns);
/* Add the tokens earned since the last call (capped at burst). */
void rmq_tbucket_refill(rmq_tbucket_t *b, uint64_t now_ns);
/* Refill, then take n tokens if available. */
bool rmq_tbucket_take(rmq_tbucket_t *b, uint64_t now_ns, double n);
/* Seconds until n tokens are available (0 if they are), after a refill. */
double rmq_tbucket_wait_s(const rmq_tbucket_t *b, double n);

#endif
