/* meta_validate.h - Kafka-compatible validation of topic names, partition
 * counts, replication factors and topic configs, and the table of every
 * topic config key (type, default) that DescribeConfigs answers from.
 *
 * Used twice: by the broker before proposing a command (to answer
 * CreateTopics/AlterConfigs with the right error and message, including
 * checks that depend on live state such as the number of live brokers), and
 * by the state machine when applying (deterministic checks only), so a
 * command that reached the log without validation still cannot corrupt the
 * state.
 *
 * Every check returns a Kafka error code from common/err.h (RMQ_NONE when
 * fine) and, on error, writes a human-readable message into msg[0..cap)
 * (NUL-terminated, truncated if needed; msg may be NULL) that the broker
 * puts into the response's error_message. */
#ifndef RMQ_CONTROLLER_META_VALIDATE_H
#define RMQ_CONTROLLER_META_VALIDATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

#define RMQ_META_TOPIC_NAME_MAX 249
#define RMQ_META_DEFAULT_MAX_PARTITIONS 100000

/* Kafka's DescribeConfigs ConfigType values (KIP-226 / DescribeConfigs v3+). */
typedef enum rmq_meta_cfg_type {
    RMQ_META_CFG_UNKNOWN = 0,
    RMQ_META_CFG_BOOLEAN = 1,
    RMQ_META_CFG_STRING = 2,
    RMQ_META_CFG_INT = 3,
    RMQ_META_CFG_SHORT = 4,
    RMQ_META_CFG_LONG = 5,
    RMQ_META_CFG_DOUBLE = 6,
    RMQ_META_CFG_LIST = 7,
    RMQ_META_CFG_CLASS = 8,
    RMQ_META_CFG_PASSWORD = 9,
} rmq_meta_cfg_type_t;

/* Kafka's DescribeConfigs ConfigSource values the broker uses. */
#define RMQ_META_CFG_SOURCE_DYNAMIC_TOPIC 1
#define RMQ_META_CFG_SOURCE_DEFAULT 5

/* One topic config key. All strings static. default_value is Kafka's
 * built-in default; a broker whose own config sets a different default
 * (e.g. log.retention.ms in broker.toml) reports that instead. */
typedef struct rmq_meta_config_def {
    const char *name;
    rmq_meta_cfg_type_t type;
    const char *default_value;
    const char *doc;
    bool sensitive;
    /* numeric range (INT/LONG/SHORT/DOUBLE), inclusive */
    int64_t min;
    int64_t max;
    /* STRING/LIST: '|'-separated allowed values, NULL = any */
    const char *allowed;
} rmq_meta_config_def_t;

/* The table of every supported topic config key, in name order. *n gets
 * its length. Static storage. */
const rmq_meta_config_def_t *rmq_meta_config_defs(size_t *n);
/* Definition of key, or NULL if unknown. */
const rmq_meta_config_def_t *rmq_meta_config_find(const char *key);
/* Kafka's type name ("LONG", "LIST", ...). */
const char *rmq_meta_cfg_type_name(rmq_meta_cfg_type_t t);

/* Topic name: 1..249 chars of [a-zA-Z0-9._-], not "." or "..".
 * RMQ_INVALID_TOPIC_EXCEPTION otherwise. */
rmq_err_t rmq_meta_validate_topic_name(const char *name, char *msg, size_t cap);
/* Partition count 1..max_partitions (max <= 0 means the default 100000).
 * RMQ_INVALID_PARTITIONS otherwise. */
rmq_err_t rmq_meta_validate_partitions(int32_t partitions, int32_t max_partitions, char *msg, size_t cap);
/* Replication factor >= 1 and, when live_brokers >= 0, <= live_brokers.
 * RMQ_INVALID_REPLICATION_FACTOR otherwise. */
rmq_err_t rmq_meta_validate_replication_factor(int32_t rf, int32_t live_brokers, char *msg, size_t cap);
/* One config key=value: key known, value parses as its type and is within
 * range / allowed values. RMQ_INVALID_CONFIG otherwise (value NULL is
 * invalid for every key). */
rmq_err_t rmq_meta_validate_config(const char *key, const char *value, char *msg, size_t cap);

/* IncrementalAlterConfigs APPEND (append = true) or SUBTRACT on the LIST
 * config key, like Kafka: cur is its current value (borrowed; NULL = not
 * overridden, then the key's default), operand the comma-separated items
 * to add or remove. Items are trimmed and empty ones ignored; APPEND adds
 * the items not present yet, in order (appending a present item changes
 * nothing); SUBTRACT removes the first occurrence of each item (absent ones
 * are ignored; the result may be the empty list). The result, items joined
 * by ",", is written to out[0..cap) (NUL-terminated); the caller then SETs
 * it, so it is validated like any value. Errors: RMQ_INVALID_CONFIG (key
 * unknown or not a LIST: "Can't APPEND to key retention.ms because its
 * type is not LIST."; result longer than cap - 1), RMQ_INVALID_REQUEST
 * (operand NULL). */
rmq_err_t rmq_meta_config_list_op(const char *key, const char *cur, const char *operand, bool append, char *out,
                                  size_t cap, char *msg, size_t mcap);

/* Format into msg (if non-NULL) and return err. Shared helper. */
rmq_err_t rmq_meta_errf(rmq_err_t err, char *msg, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
