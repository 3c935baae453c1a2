/* log.h - leveled, structured logging to stderr.
 *
 * One line per event, logfmt style:
 *   ts=2026-11-22T05:01:02.123Z level=info sub=net msg="client closed" peer=127.0.0.1:5000
 * The caller's format string produces everything after "sub=...". Lines are
 * formatted into a stack buffer and written with one write(2), so lines from
 * different threads never interleave. Level comes from rmq_log_set_level()
 * (config) or the RUSTMQ_LOG_LEVEL environment variable (rmq_log_init_env). */
#ifndef RMQ_COMMON_LOG_H
#define RMQ_COMMON_LOG_H

#include <stdarg.h>

typedef enum {
    RMQ_LOG_TRACE = 0,
    RMQ_LOG_DEBUG = 1,
    RMQ_LOG_INFO = 2,
    RMQ_LOG_WARN = 3,
    RMQ_LOG_ERROR = 4,
    RMQ_LOG_OFF = 5,
} rmq_log_level_t;

extern int rmq_log_level_current;

void rmq_log_set_level(rmq_log_level_t lvl);
/* Parse "trace|debug|info|warn|error|off" (case-insensitive). Returns -1 if invalid. */
int rmq_log_level_parse(const char *s);
const char *rmq_log_level_name(rmq_log_level_t lvl);
/* Apply RUSTMQ_LOG_LEVEL if set and valid; returns -1 if set but invalid. */
int rmq_log_init_env(void);
/* Redirect output to fd (default 2). For tests. */
void rmq_log_set_fd(int fd);

void rmq_log_write(rmq_log_level_t lvl, const char *sub, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void rmq_log_vwrite(rmq_log_level_t lvl, const char *sub, const char *fmt, va_list ap);

#define RMQ_LOG(lvl, sub, ...) \
    do { if ((int)(lvl) >= rmq_log_level_current) rmq_log_write((lvl), (sub), __VA_ARGS__); } while (0)
#define RMQ_TRACE(sub, ...) RMQ_LOG(RMQ_LOG_TRACE, sub, __VA_ARGS__)
#define RMQ_DEBUG(sub, ...) RMQ_LOG(RMQ_LOG_DEBUG, sub, __VA_ARGS__)
#define RMQ_INFO(sub, ...) RMQ_LOG(RMQ_LOG_INFO, sub, __VA_ARGS__)
#define RMQ_WARN(sub, ...) RMQ_LOG(RMQ_LOG_WARN, sub, __VA_ARGS__)
#define RMQ_ERROR(sub, ...) RMQ_LOG(RMQ_LOG_ERROR, sub, __VA_ARGS__)

#endif
