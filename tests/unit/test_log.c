/* test_log.c - level parsing, filtering and the logfmt line shape. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "common/log.h"

static void test_parse(void **s) {
    (void)s;
    assert_int_equal(rmq_log_level_parse("info"), RMQ_LOG_INFO);
    assert_int_equal(rmq_log_level_parse("WARN"), RMQ_LOG_WARN);
    assert_int_equal(rmq_log_level_parse("warning"), RMQ_LOG_WARN);
    assert_int_equal(rmq_log_level_parse("loud"), -1);
    assert_int_equal(rmq_log_level_parse(NULL), -1);
    setenv("RUSTMQ_LOG_LEVEL", "bogus", 1);
    assert_int_equal(rmq_log_init_env(), -1);
    setenv("RUSTMQ_LOG_LEVEL", "debug", 1);
    assert_int_equal(rmq_log_init_env(), 0);
    assert_int_equal(rmq_log_level_current, RMQ_LOG_DEBUG);
    unsetenv("RUSTMQ_LOG_LEVEL");
}

static void test_output_and_filter(void **s) {
    (void)s;
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    rmq_log_set_fd(fds[1]);
    rmq_log_set_level(RMQ_LOG_WARN);
    RMQ_INFO("net", "msg=\"hidden\"");
    RMQ_WARN("net", "msg=\"client closed\" peer=%s", "127.0.0.1:5000");
    rmq_log_set_fd(2);
    close(fds[1]);
    char out[1024] = {0};
    ssize_t n = read(fds[0], out, sizeof out - 1);
    close(fds[0]);
    assert_true(n > 0);
    assert_null(strstr(out, "hidden"));
    assert_non_null(strstr(out, "level=warn sub=net msg=\"client closed\" peer=127.0.0.1:5000\n"));
    assert_true(strncmp(out, "ts=", 3) == 0);
    rmq_log_set_level(RMQ_LOG_INFO);
}

static void test_long_line_truncated(void **s) {
    (void)s;
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    rmq_log_set_fd(fds[1]);
    char big[8000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = 0;
    RMQ_ERROR("t", "msg=%s", big);
    rmq_log_set_fd(2);
    close(fds[1]);
    char out[8192];
    ssize_t n = read(fds[0], out, sizeof out);
    close(fds[0]);
    assert_true(n > 0 && n <= 4096);
    assert_int_equal(out[n - 1], '\n');
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_output_and_filter),
        cmocka_unit_test(test_long_line_truncated),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
