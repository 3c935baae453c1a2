/* ratelimit.h - token-bucket rate limiting for the admin REST API.
 *
 * Three layers are checked for every request: one global bucket, one bucket
 * per client IP (at most max_tracked_ips, least-recently-seen evicted first,
 * idle entries expire after ip_idle_ttl_ms), and one bucket per endpoint
 * category (health, read, write, cluster). A request passes only if every
 * layer has a token; then one token is taken from each, so a request refused
 * by one layer costs nothing in the others.
 *
 * Time comes from an rmq_clock_t (monotonic ns), so tests drive it
 * deterministically. All functions are thread-safe (one mutex: the admin
 * API is not a hot path). */
#ifndef RMQ_ADMIN_RATELIMIT_H
#define RMQ_ADMIN_RATELIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/clock.h"
#include "common/tbucket.h"

/* rps <= 0 disables that bucket (unlimited). burst < 1 is raised to 1. */
typedef struct rmq_rl_limit {
    double rps;
    double burst;
} rmq_rl_limit_t;

typedef enum {
    RMQ_RL_HEALTH = 0,
    RMQ_RL_READ = 1,
    RMQ_RL_WRITE = 2,
    RMQ_RL_CLUSTER = 3,
    RMQ_RL_NCAT = 4,
} rmq_rl_category_t;

const char *rmq_rl_category_name(rmq_rl_category_t c); /* "health", ... */

typedef struct rmq_ratelimit_config {
    bool enabled;
    rmq_rl_limit_t global;              /* seed: 1000 rps, burst 2000 */
    rmq_rl_limit_t per_ip;              /* seed: 50 rps, burst 100 */
    rmq_rl_limit_t category[RMQ_RL_NCAT]; /* seed: 100 / 30 / 10 / 5 rps, bursts 2x */
    uint32_t max_tracked_ips;           /* seed: 10000 */
    uint64_t ip_idle_ttl_ms;            /* an IP unseen this long is forgotten; default 300000 */
} rmq_ratelimit_config_t;

/* Seed defaults (enabled). */
void rmq_ratelimit_config_default(rmq_ratelimit_config_t *c);

/* Outcome of one check. limit/remaining/reset_s describe the bucket that
 * refused the request, or (when allowed) the category bucket; limit is its
 * rate per second (0 = unlimited). */
typedef struct rmq_rl_decision {
    bool allowed;
    const char *scope;      /* "global", "ip", or the category name (static) */
    double limit;
    uint64_t remaining;     /* whole tokens left */
    uint32_t reset_s;       /* seconds until that bucket is full again */
    uint32_t retry_after_s; /* when refused: seconds until a token is there (>= 1) */
} rmq_rl_decision_t;

typedef struct rmq_ratelimiter rmq_ratelimiter_t;

/* cfg is copied; clock borrowed (NULL = system clock). NULL on OOM. */
rmq_ratelimiter_t *rmq_rl_new(const rmq_ratelimit_config_t *cfg, const rmq_clock_t *clock);
void rmq_rl_free(rmq_ratelimiter_t *rl);
/* Check and (if allowed) consume one token from each layer. ip: the client
 * address as text (borrowed; NULL or "" skips the per-IP layer). */
void rmq_rl_check(rmq_ratelimiter_t *rl, const char *ip, rmq_rl_category_t cat, rmq_rl_decision_t *out);
/* Number of client IPs currently tracked (after expiring idle ones). */
size_t rmq_rl_tracked_ips(rmq_ratelimiter_t *rl);

#endif
