/* sched.h - CPU scheduling hints for the threads on the produce path.
 *
 * A produce request crosses two broker threads twice: an I/O thread reads
 * it and hands its batches to the WAL writer, the writer's synced write
 * completes them, and the I/O thread writes the response. Each hand-over
 * wakes a thread. On a busy machine (on the benchmark VM: two cores shared
 * with the client) a woken thread can wait for the running task to use up
 * its time slice, or for the next tick (4 ms at HZ=250), before it runs,
 * and that wait lands in every request's latency.
 *
 * Two hints shorten it, applied by each such thread to itself:
 *  - a shorter time slice (Linux 6.12+, EEVDF custom slices: sched_setattr
 *    with sched_runtime; 0.1-100 ms; unprivileged). A waking thread whose
 *    slice is shorter than the running task's preempts it.
 *  - a nice value (negative needs CAP_SYS_NICE, root or RLIMIT_NICE): a
 *    larger share of the CPU, and earlier deadlines.
 * A hint that cannot be applied is logged once per process and otherwise
 * ignored: it never stops a thread. Threads inherit both from the thread
 * that creates them, so a hinted thread must not start background threads
 * (the broker's I/O threads and WAL writer start none; test_sched_hints.py
 * checks that every other thread keeps the kernel's defaults). Measured in bench/README.md
 * ("Scheduling hints for the produce path"). */
#ifndef RMQ_COMMON_SCHED_H
#define RMQ_COMMON_SCHED_H

#include <stdint.h>

typedef struct rmq_sched_hint {
    uint32_t slice_us; /* 0 = the kernel's default slice; else 100 .. 100000 (the kernel's bounds: others are clamped) */
    int nice;          /* 0 = leave the thread's nice value; else -20 .. 19 */
} rmq_sched_hint_t;

/* Apply h to the calling thread (who names it in log lines). Returns 0 when
 * everything asked for took effect, else the first failure as -errno:
 * -EPERM (nice not permitted; the slice is still applied), -EOPNOTSUPP (the
 * kernel keeps no custom slice, before 6.12), -EBUSY (the thread runs under
 * a real-time or other non-default policy someone chose: left alone). */
int rmq_sched_apply(const rmq_sched_hint_t *h, const char *who);

/* The time slice thread tid (0 = the caller) runs with, in ns, as
 * sched_getattr reports it; 0 when the kernel reports none or on error. */
uint64_t rmq_sched_slice_ns(int tid);

#endif
