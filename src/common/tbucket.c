/* tbucket.c - token bucket (see tbucket.h). */
#include "common/tbucket.h"

#include <math.h>

void rmq_tbucket_init(rmq_tbucket_t *b, double rate, double burst, uint64_t now_ns) {
    b->rate = rate > 0 ? rate : 0;
    b->burst = burst >= 1 ? burst : 1;
    b->tokens = b->burst;
    b->last_ns = now_ns;
}

void rmq_tbucket_refill(rmq_tbucket_t *b, uint64_t now_ns) {
    if (now_ns <= b->last_ns) return;
    double dt = (double)(now_ns - b->last_ns) / 1e9;
    b->tokens = fmin(b->burst, b->tokens + dt * b->rate);
    b->last_ns = now_ns;
}

bool rmq_tbucket_take(rmq_tbucket_t *b, uint64_t now_ns, double n) {
    if (b->rate <= 0) return true;
    rmq_tbucket_refill(b, now_ns);
    /* tolerate float rounding of refills that add up to a whole token */
    if (b->tokens + 1e-9 < n) return false;
    b->tokens = fmax(0, b->tokens - n);
    return true;
}

double rmq_tbucket_wait_s(const rmq_tbucket_t *b, double n) {
    if (b->rate <= 0 || b->tokens + 1e-9 >= n) return 0;
    return (n - b->tokens) / b->rate;
}
