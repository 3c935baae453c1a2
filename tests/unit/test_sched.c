/* test_sched.c - scheduling hints (common/sched.h), each applied in a
 * thread of its own and read back from the kernel: the time slice
 * (sched_getattr), the nice value (getpriority), raising priority without
 * permission (a child that dropped root: the slice still applies, -EPERM and
 * one warning), a non-default policy left alone, and no hint = no change. */
#include <errno.h>
#include <grp.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/log.h"
#include "common/sched.h"

typedef struct {
    rmq_sched_hint_t h;
    int policy; /* set first (SCHED_OTHER: leave) */
    int rc;
    uint64_t slice_before, slice_after;
    int nice_after;
} run_t;

static void *hint_thread(void *arg) {
    run_t *r = arg;
    if (r->policy == SCHED_BATCH) {
        struct sched_param p = {0};
        assert_int_equal(pthread_setschedparam(pthread_self(), SCHED_BATCH, &p), 0);
    }
    r->slice_before = rmq_sched_slice_ns(0);
    r->rc = rmq_sched_apply(&r->h, "test");
    r->slice_after = rmq_sched_slice_ns(0);
    errno = 0;
    r->nice_after = getpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid));
    return NULL;
}

static void run_in_thread(run_t *r) {
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, hint_thread, r), 0);
    assert_int_equal(pthread_join(th, NULL), 0);
}

/* The kernel reports a slice for SCHED_OTHER threads from 6.12 on. */
static bool kernel_has_slices(void) {
    run_t r = {.h = {0}, .policy = SCHED_OTHER};
    run_in_thread(&r);
    return r.slice_before != 0;
}

/* sched_getattr itself answers (a seccomp policy may refuse it: then no
 * hint can be read back, and the slice tests have nothing to check). */
static bool getattr_works(void) {
    uint8_t attr[56];
    return syscall(SYS_sched_getattr, 0, attr, sizeof attr, 0) == 0;
}

static void test_slice_applied(void **state) {
    (void)state;
    if (!getattr_works()) skip();
    if (!kernel_has_slices()) {
        /* an older kernel: the hint reports that it did not take */
        run_t r = {.h = {.slice_us = 100}, .policy = SCHED_OTHER};
        run_in_thread(&r);
        assert_int_equal(r.rc, -EOPNOTSUPP);
        skip();
    }
    run_t r = {.h = {.slice_us = 100}, .policy = SCHED_OTHER};
    run_in_thread(&r);
    assert_int_equal(r.rc, 0);
    assert_int_equal(r.slice_after, 100000);
    assert_true(r.slice_before != 100000); /* the default is longer */
    /* outside the kernel's bounds (0.1 .. 100 ms): clamped to them */
    run_t lo = {.h = {.slice_us = 20}, .policy = SCHED_OTHER};
    run_in_thread(&lo);
    assert_int_equal(lo.rc, 0);
    assert_int_equal(lo.slice_after, 100000);
    run_t hi = {.h = {.slice_us = 500000}, .policy = SCHED_OTHER};
    run_in_thread(&hi);
    assert_int_equal(hi.rc, 0);
    assert_int_equal(hi.slice_after, 100000000);
}

static void test_nice_applied(void **state) {
    (void)state;
    int base = getpriority(PRIO_PROCESS, 0);
    /* lowering priority needs no permission */
    run_t r = {.h = {.slice_us = 0, .nice = 7}, .policy = SCHED_OTHER};
    run_in_thread(&r);
    assert_int_equal(r.rc, 0);
    assert_int_equal(r.nice_after, base < 7 ? 7 : base);
    /* and only that thread: this one keeps its own */
    assert_int_equal(getpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid)), base);
}

static void test_no_hint_no_change(void **state) {
    (void)state;
    int base = getpriority(PRIO_PROCESS, 0);
    run_t r = {.h = {0}, .policy = SCHED_OTHER};
    run_in_thread(&r);
    assert_int_equal(r.rc, 0);
    assert_int_equal(r.slice_after, r.slice_before);
    assert_int_equal(r.nice_after, base);
}

/* A thread someone put under another policy (chrt, a unit file) keeps it. */
static void test_other_policy_left_alone(void **state) {
    (void)state;
    run_t r = {.h = {.slice_us = 100, .nice = 5}, .policy = SCHED_BATCH};
    run_in_thread(&r);
    assert_int_equal(r.rc, -EBUSY);
    assert_int_equal(r.nice_after, getpriority(PRIO_PROCESS, 0));
}

/* Without CAP_SYS_NICE a negative nice is refused: the thread keeps its
 * nice value, still gets its slice, and one warning says why. Run in a
 * child that dropped root (when the tests run as root). */
static void test_raise_without_permission(void **state) {
    (void)state;
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        if (geteuid() == 0 && (setgroups(0, NULL) != 0 || setresgid(65534, 65534, 65534) != 0 ||
                               setresuid(65534, 65534, 65534) != 0))
            _exit(10);
        int base = getpriority(PRIO_PROCESS, 0);
        rmq_log_set_fd(fds[1]);
        bool slices = kernel_has_slices();
        run_t r = {.h = {.slice_us = 100, .nice = -5}, .policy = SCHED_OTHER};
        run_in_thread(&r);
        run_t again = r; /* a second thread: no second warning */
        run_in_thread(&again);
        if (r.rc != -EPERM || again.rc != -EPERM) _exit(11);
        if (r.nice_after != base) _exit(12);
        if (slices && r.slice_after != 100000) _exit(13);
        _exit(0);
    }
    close(fds[1]);
    char out[4096];
    size_t n = 0;
    ssize_t k;
    while (n < sizeof out - 1 && (k = read(fds[0], out + n, sizeof out - 1 - n)) > 0) n += (size_t)k;
    out[n] = 0;
    close(fds[0]);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    const char *key = "msg=\"cannot raise the thread's priority";
    const char *line = strstr(out, key);
    assert_non_null(line);
    assert_null(strstr(line + 1, key));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_slice_applied),
        cmocka_unit_test(test_nice_applied),
        cmocka_unit_test(test_no_hint_no_change),
        cmocka_unit_test(test_other_policy_left_alone),
        cmocka_unit_test(test_raise_without_permission),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
