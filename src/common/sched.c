/* sched.c - see sched.h. sched_setattr/sched_getattr through syscall(2):
 * glibc before 2.41 (Debian 12 has 2.36) wraps neither. */
#include "common/sched.h"

#include <errno.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/log.h"

#define SUB "sched"
#define ATTR_SIZE_VER0 48u /* policy, flags, nice, priority, runtime, deadline, period */

/* struct sched_attr of <linux/sched/types.h> (uapi), up to the util clamps */
typedef struct rmq_sched_attr {
    uint32_t size;
    uint32_t sched_policy;
    uint64_t sched_flags;
    int32_t sched_nice;
    uint32_t sched_priority;
    uint64_t sched_runtime; /* SCHED_OTHER, Linux 6.12+: the requested slice */
    uint64_t sched_deadline;
    uint64_t sched_period;
    uint32_t sched_util_min, sched_util_max;
} rmq_sched_attr_t;

/* one line per process and kind: every I/O thread applies the same hint */
static atomic_bool g_said_nice, g_said_slice, g_said_policy, g_said_fail;

static bool first_time(atomic_bool *said) { return !atomic_exchange(said, true); }

static int get_attr(int tid, rmq_sched_attr_t *a) {
    memset(a, 0, sizeof *a);
    return syscall(SYS_sched_getattr, tid, a, (unsigned)sizeof *a, 0) == 0 ? 0 : -errno;
}

static int set_attr(int nice, uint64_t runtime_ns) {
    rmq_sched_attr_t a;
    memset(&a, 0, sizeof a);
    a.size = ATTR_SIZE_VER0;
    a.sched_policy = SCHED_OTHER;
    a.sched_nice = nice;
    a.sched_runtime = runtime_ns;
    return syscall(SYS_sched_setattr, 0, &a, 0) == 0 ? 0 : -errno;
}

uint64_t rmq_sched_slice_ns(int tid) {
    rmq_sched_attr_t a;
    if (get_attr(tid, &a) != 0 || a.sched_policy != SCHED_OTHER) return 0;
    return a.sched_runtime;
}

int rmq_sched_apply(const rmq_sched_hint_t *h, const char *who) {
    if (!h || (!h->slice_us && !h->nice)) return 0;
    rmq_sched_attr_t cur;
    int r = get_attr(0, &cur);
    if (r != 0) {
        if (first_time(&g_said_fail))
            RMQ_WARN(SUB, "msg=\"cannot read the thread's scheduling attributes; hints not applied\" thread=%s err=\"%s\"",
                     who, strerror(-r));
        return r;
    }
    if (cur.sched_policy != SCHED_OTHER) { /* chrt or a unit file chose otherwise: theirs wins */
        if (first_time(&g_said_policy))
            RMQ_INFO(SUB, "msg=\"thread runs under a non-default scheduling policy; hints not applied\" thread=%s "
                          "policy=%u", who, cur.sched_policy);
        return -EBUSY;
    }
    int rc = 0;
    int nice = h->nice ? h->nice : cur.sched_nice;
    /* the kernel's bounds, so that the read-back below compares like with like */
    uint32_t us = h->slice_us == 0 ? 0 : h->slice_us < 100 ? 100 : h->slice_us > 100000 ? 100000 : h->slice_us;
    uint64_t runtime = (uint64_t)us * 1000u;
    r = set_attr(nice, runtime);
    if (r == -EPERM && nice < cur.sched_nice) { /* raising priority needs CAP_SYS_NICE: keep the slice */
        if (first_time(&g_said_nice))
            RMQ_WARN(SUB, "msg=\"cannot raise the thread's priority (needs CAP_SYS_NICE or RLIMIT_NICE); "
                          "running at its nice value\" thread=%s nice=%d current=%d", who, nice, cur.sched_nice);
        rc = -EPERM;
        r = h->slice_us ? set_attr(cur.sched_nice, runtime) : 0;
    }
    if (r != 0) {
        if (first_time(&g_said_fail))
            RMQ_WARN(SUB, "msg=\"cannot apply scheduling hints\" thread=%s slice_us=%u nice=%d err=\"%s\"", who,
                     h->slice_us, nice, strerror(-r));
        return r;
    }
    if (h->slice_us) {
        /* before 6.12 the kernel takes sched_runtime of SCHED_OTHER and
         * ignores it; read back what it runs with */
        uint64_t got = rmq_sched_slice_ns(0);
        if (got != runtime) {
            if (first_time(&g_said_slice))
                RMQ_INFO(SUB, "msg=\"kernel keeps no custom time slice (Linux 6.12+); running with its default\" "
                              "thread=%s slice_us=%u reported_ns=%llu", who, h->slice_us, (unsigned long long)got);
            if (!rc) rc = -EOPNOTSUPP;
        }
    }
    RMQ_DEBUG(SUB, "msg=\"scheduling hints applied\" thread=%s slice_us=%u nice=%d rc=%d", who, h->slice_us,
              rc == -EPERM ? cur.sched_nice : nice, rc);
    return rc;
}
