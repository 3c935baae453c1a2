/* test_dirlock.c - rmq_dirlock: a second lock on a held directory is
 * refused with the holder's pid, a released or closed lock is free again,
 * missing parents are created, and a path that is a file is an I/O error. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "common/dirlock.h"

static char g_base[256];

static int setup(void **s) {
    (void)s;
    snprintf(g_base, sizeof g_base, "/tmp/rmq-test-dirlock-XXXXXX");
    return mkdtemp(g_base) ? 0 : -1;
}

static int teardown(void **s) {
    (void)s;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_base);
    return system(cmd) == 0 ? 0 : -1;
}

static void test_second_lock_refused(void **s) {
    (void)s;
    char dir[300], err[512];
    snprintf(dir, sizeof dir, "%s/data/nested", g_base); /* parents missing */
    int a = -1, b = -1;
    assert_int_equal(rmq_dirlock_acquire(dir, &a, err, sizeof err), RMQ_NONE);
    assert_true(a >= 0);
    struct stat st;
    assert_int_equal(stat(dir, &st), 0);
    /* flock conflicts between open file descriptions, also in one process */
    assert_int_equal(rmq_dirlock_acquire(dir, &b, err, sizeof err), RMQ_ERR_BUSY);
    assert_int_equal(b, -1);
    char pid[32];
    snprintf(pid, sizeof pid, "pid %ld", (long)getpid());
    assert_non_null(strstr(err, pid));
    assert_non_null(strstr(err, "in use by another process"));
    assert_non_null(strstr(err, dir));
    rmq_dirlock_release(a);
    assert_int_equal(rmq_dirlock_acquire(dir, &b, err, sizeof err), RMQ_NONE);
    rmq_dirlock_release(b);
    rmq_dirlock_release(-1); /* nothing */
}

static void test_lock_dies_with_its_process(void **s) {
    (void)s;
    char dir[300], err[512];
    snprintf(dir, sizeof dir, "%s/child", g_base);
    int p[2];
    assert_int_equal(pipe(p), 0);
    pid_t c = fork();
    assert_true(c >= 0);
    if (c == 0) {
        int fd;
        char e[256];
        char ok = rmq_dirlock_acquire(dir, &fd, e, sizeof e) == RMQ_NONE ? 'y' : 'n';
        if (write(p[1], &ok, 1) != 1) _exit(2);
        pause(); /* killed below, without releasing */
        _exit(0);
    }
    char ok = 0;
    assert_int_equal(read(p[0], &ok, 1), 1);
    assert_int_equal(ok, 'y');
    int fd = -1;
    assert_int_equal(rmq_dirlock_acquire(dir, &fd, err, sizeof err), RMQ_ERR_BUSY);
    char pid[32];
    snprintf(pid, sizeof pid, "pid %ld", (long)c);
    assert_non_null(strstr(err, pid));
    kill(c, SIGKILL);
    waitpid(c, NULL, 0);
    assert_int_equal(rmq_dirlock_acquire(dir, &fd, err, sizeof err), RMQ_NONE);
    rmq_dirlock_release(fd);
    close(p[0]);
    close(p[1]);
}

static void test_file_in_the_way(void **s) {
    (void)s;
    char path[300], err[512];
    snprintf(path, sizeof path, "%s/afile", g_base);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fclose(f);
    int fd = -1;
    assert_int_equal(rmq_dirlock_acquire(path, &fd, err, sizeof err), RMQ_ERR_IO);
    assert_int_equal(fd, -1);
    assert_non_null(strstr(err, path));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_second_lock_refused),
        cmocka_unit_test(test_lock_dies_with_its_process),
        cmocka_unit_test(test_file_in_the_way),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
