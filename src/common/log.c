/* log.c - see log.h. */
#include "common/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

int rmq_log_level_current = RMQ_LOG_INFO;
static int rmq_log_fd = 2;

static const char *const rmq_log_names[] = {"trace", "debug", "info", "warn", "error", "off"};

void rmq_log_set_level(rmq_log_level_t lvl) { rmq_log_level_current = (int)lvl; }
void rmq_log_set_fd(int fd) { rmq_log_fd = fd; }

const char *rmq_log_level_name(rmq_log_level_t lvl) {
    if ((int)lvl < 0 || lvl > RMQ_LOG_OFF) return "?";
    return rmq_log_names[lvl];
}

int rmq_log_level_parse(const char *s) {
    if (!s) return -1;
    for (int i = 0; i <= RMQ_LOG_OFF; i++)
        if (strcasecmp(s, rmq_log_names[i]) == 0) return i;
    if (strcasecmp(s, "warning") == 0) return RMQ_LOG_WARN;
    return -1;
}

int rmq_log_init_env(void) {
    const char *v = getenv("RUSTMQ_LOG_LEVEL");
    if (!v || !*v) return 0;
    int l = rmq_log_level_parse(v);
    if (l < 0) return -1;
    rmq_log_set_level((rmq_log_level_t)l);
    return 0;
}

void rmq_log_vwrite(rmq_log_level_t lvl, const char *sub, const char *fmt, va_list ap) {
    char line[4096];
    struct timeval tv;
    struct tm tm;
    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    int n = snprintf(line, sizeof line, "ts=%04d-%02d-%02dT%02d:%02d:%02d.%03dZ level=%s sub=%s ",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     (int)(tv.tv_usec / 1000), rmq_log_level_name(lvl), sub ? sub : "-");
    if (n < 0) return;
    size_t off = (size_t)n;
    if (off < sizeof line) {
        int m = vsnprintf(line + off, sizeof line - off, fmt, ap);
        if (m > 0) off += (size_t)m;
    }
    if (off >= sizeof line - 1) off = sizeof line - 2; /* truncated line */
    line[off++] = '\n';
    ssize_t w = write(rmq_log_fd, line, off);
    (void)w;
}

void rmq_log_write(rmq_log_level_t lvl, const char *sub, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    rmq_log_vwrite(lvl, sub, fmt, ap);
    va_end(ap);
}
