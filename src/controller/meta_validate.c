/* meta_validate.c - topic name / partitions / replication factor / topic
 * config validation with Kafka's rules and messages, and the table of
 * topic config keys (see meta_validate.h). Pure functions, no state. */
#include "controller/meta_validate.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

rmq_err_t rmq_meta_errf(rmq_err_t err, char *msg, size_t cap, const char *fmt, ...) {
    if (msg && cap) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, cap, fmt, ap);
        va_end(ap);
    }
    return err;
}

#define L_MAX INT64_MAX
#define I_MAX INT32_MAX

/* Sorted by name (rmq_meta_config_find uses bsearch). */
static const rmq_meta_config_def_t defs[] = {
    {"cleanup.policy", RMQ_META_CFG_LIST, "delete", "Retention policy: delete and/or compact", false, 0, 0,
     "compact|delete"},
    {"compression.type", RMQ_META_CFG_STRING, "producer", "Final compression type of the topic", false, 0, 0,
     "uncompressed|zstd|lz4|snappy|gzip|producer"},
    {"delete.retention.ms", RMQ_META_CFG_LONG, "86400000", "How long delete tombstones are retained", false, 0,
     L_MAX, NULL},
    {"file.delete.delay.ms", RMQ_META_CFG_LONG, "60000", "Delay before deleting a file", false, 0, L_MAX, NULL},
    {"flush.messages", RMQ_META_CFG_LONG, "9223372036854775807", "Messages between forced fsyncs", false, 1,
     L_MAX, NULL},
    {"flush.ms", RMQ_META_CFG_LONG, "9223372036854775807", "Time between forced fsyncs", false, 0, L_MAX, NULL},
    {"index.interval.bytes", RMQ_META_CFG_INT, "4096", "Bytes between offset index entries", false, 0, I_MAX,
     NULL},
    {"local.retention.bytes", RMQ_META_CFG_LONG, "-2", "Local (hot) bytes to keep when tiering", false, -2,
     L_MAX, NULL},
    {"local.retention.ms", RMQ_META_CFG_LONG, "-2", "Local (hot) time to keep when tiering", false, -2, L_MAX,
     NULL},
    {"max.compaction.lag.ms", RMQ_META_CFG_LONG, "9223372036854775807", "Maximum time a message stays "
     "uncompacted", false, 1, L_MAX, NULL},
    {"max.message.bytes", RMQ_META_CFG_INT, "1048588", "Largest record batch size allowed", false, 0, I_MAX,
     NULL},
    {"message.downconversion.enable", RMQ_META_CFG_BOOLEAN, "true", "Down-convert for old consumers", false, 0,
     0, NULL},
    {"message.timestamp.difference.max.ms", RMQ_META_CFG_LONG, "9223372036854775807",
     "Maximum difference between broker and message timestamps", false, 0, L_MAX, NULL},
    {"message.timestamp.type", RMQ_META_CFG_STRING, "CreateTime", "Message timestamp type", false, 0, 0,
     "CreateTime|LogAppendTime"},
    {"min.cleanable.dirty.ratio", RMQ_META_CFG_DOUBLE, "0.5", "Dirty ratio that triggers compaction", false, 0,
     1, NULL},
    {"min.compaction.lag.ms", RMQ_META_CFG_LONG, "0", "Minimum time a message stays uncompacted", false, 0,
     L_MAX, NULL},
    {"min.insync.replicas", RMQ_META_CFG_INT, "1", "Minimum in-sync replicas for acks=all", false, 1, I_MAX,
     NULL},
    {"preallocate", RMQ_META_CFG_BOOLEAN, "false", "Preallocate segment files", false, 0, 0, NULL},
    {"remote.storage.enable", RMQ_META_CFG_BOOLEAN, "false", "Tier the topic to object storage", false, 0, 0,
     NULL},
    {"retention.bytes", RMQ_META_CFG_LONG, "-1", "Maximum partition size before deleting old data (-1: none)",
     false, -1, L_MAX, NULL},
    {"retention.ms", RMQ_META_CFG_LONG, "604800000", "Maximum age of data before deletion (-1: none)", false,
     -1, L_MAX, NULL},
    {"segment.bytes", RMQ_META_CFG_INT, "1073741824", "Segment file size", false, 14, I_MAX, NULL},
    {"segment.index.bytes", RMQ_META_CFG_INT, "10485760", "Offset index size", false, 4, I_MAX, NULL},
    {"segment.jitter.ms", RMQ_META_CFG_LONG, "0", "Random jitter on segment roll time", false, 0, L_MAX, NULL},
    {"segment.ms", RMQ_META_CFG_LONG, "604800000", "Time after which a segment is rolled", false, 1, L_MAX,
     NULL},
    {"unclean.leader.election.enable", RMQ_META_CFG_BOOLEAN, "false", "Allow out-of-sync replicas to lead",
     false, 0, 0, NULL},
};

const rmq_meta_config_def_t *rmq_meta_config_defs(size_t *n) {
    if (n) *n = sizeof defs / sizeof defs[0];
    return defs;
}

static int def_cmp(const void *k, const void *e) {
    return strcmp((const char *)k, ((const rmq_meta_config_def_t *)e)->name);
}

const rmq_meta_config_def_t *rmq_meta_config_find(const char *key) {
    if (!key) return NULL;
    return bsearch(key, defs, sizeof defs / sizeof defs[0], sizeof defs[0], def_cmp);
}

const char *rmq_meta_cfg_type_name(rmq_meta_cfg_type_t t) {
    switch (t) {
    case RMQ_META_CFG_BOOLEAN: return "BOOLEAN";
    case RMQ_META_CFG_STRING: return "STRING";
    case RMQ_META_CFG_INT: return "INT";
    case RMQ_META_CFG_SHORT: return "SHORT";
    case RMQ_META_CFG_LONG: return "LONG";
    case RMQ_META_CFG_DOUBLE: return "DOUBLE";
    case RMQ_META_CFG_LIST: return "LIST";
    case RMQ_META_CFG_CLASS: return "CLASS";
    case RMQ_META_CFG_PASSWORD: return "PASSWORD";
    default: return "UNKNOWN";
    }
}

/* ---- names, counts ---- */

rmq_err_t rmq_meta_validate_topic_name(const char *name, char *msg, size_t cap) {
    if (!name || !*name) return rmq_meta_errf(RMQ_INVALID_TOPIC_EXCEPTION, msg, cap, "Topic name is illegal, it can't be empty");
    if (!strcmp(name, ".") || !strcmp(name, ".."))
        return rmq_meta_errf(RMQ_INVALID_TOPIC_EXCEPTION, msg, cap, "Topic name cannot be \".\" or \"..\"");
    size_t n = strlen(name);
    if (n > RMQ_META_TOPIC_NAME_MAX)
        return rmq_meta_errf(RMQ_INVALID_TOPIC_EXCEPTION, msg, cap,
                             "Topic name is illegal, it can't be longer than %d characters, topic name: %.64s...",
                             RMQ_META_TOPIC_NAME_MAX, name);
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)name[i];
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '.' ||
                  ch == '_' || ch == '-';
        if (!ok)
            return rmq_meta_errf(RMQ_INVALID_TOPIC_EXCEPTION, msg, cap,
                                 "Topic name \"%.249s\" is illegal, it contains a character other than ASCII "
                                 "alphanumerics, '.', '_' and '-'",
                                 name);
    }
    return RMQ_NONE;
}

rmq_err_t rmq_meta_validate_partitions(int32_t partitions, int32_t max_partitions, char *msg, size_t cap) {
    if (max_partitions <= 0) max_partitions = RMQ_META_DEFAULT_MAX_PARTITIONS;
    if (partitions < 1)
        return rmq_meta_errf(RMQ_INVALID_PARTITIONS, msg, cap, "Number of partitions must be larger than 0.");
    if (partitions > max_partitions)
        return rmq_meta_errf(RMQ_INVALID_PARTITIONS, msg, cap,
                             "Number of partitions %d exceeds the maximum of %d.", partitions, max_partitions);
    return RMQ_NONE;
}

rmq_err_t rmq_meta_validate_replication_factor(int32_t rf, int32_t live_brokers, char *msg, size_t cap) {
    if (rf < 1)
        return rmq_meta_errf(RMQ_INVALID_REPLICATION_FACTOR, msg, cap,
                             "Replication factor must be larger than 0.");
    if (live_brokers >= 0 && rf > live_brokers)
        return rmq_meta_errf(RMQ_INVALID_REPLICATION_FACTOR, msg, cap,
                             "Unable to replicate the partition %d time(s): The target replication factor of %d "
                             "cannot be reached because only %d broker(s) are registered.",
                             rf, rf, live_brokers);
    return RMQ_NONE;
}

/* ---- config values ---- */

/* Trimmed copy of s into out[0..cap); false if it does not fit. */
static bool trim_copy(const char *s, char *out, size_t cap) {
    while (*s && isspace((unsigned char)*s)) s++;
    size_t n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1])) n--;
    if (n >= cap) return false;
    memcpy(out, s, n);
    out[n] = '\0';
    return true;
}

static bool parse_i64(const char *s, int64_t *v) {
    if (!*s) return false;
    errno = 0;
    char *end = NULL;
    long long x = strtoll(s, &end, 10);
    if (errno || *end || end == s) return false;
    *v = x;
    return true;
}

/* Whether item[0..n) is one of the '|'-separated allowed values. */
static bool in_allowed(const char *allowed, const char *item, size_t n) {
    const char *p = allowed;
    while (*p) {
        const char *e = strchr(p, '|');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len == n && !memcmp(p, item, n)) return true;
        if (!e) break;
        p = e + 1;
    }
    return false;
}

rmq_err_t rmq_meta_validate_config(const char *key, const char *value, char *msg, size_t cap) {
    const rmq_meta_config_def_t *d = rmq_meta_config_find(key);
    if (!d) return rmq_meta_errf(RMQ_INVALID_CONFIG, msg, cap, "Unknown topic config name: %.200s", key ? key : "");
    if (!value)
        return rmq_meta_errf(RMQ_INVALID_CONFIG, msg, cap, "Null value not supported for topic configs: %s",
                             d->name);
    char v[512];
    if (!trim_copy(value, v, sizeof v))
        return rmq_meta_errf(RMQ_INVALID_CONFIG, msg, cap, "Invalid value for configuration %s: value too long",
                             d->name);
    switch (d->type) {
    case RMQ_META_CFG_INT:
    case RMQ_META_CFG_SHORT:
    case RMQ_META_CFG_LONG: {
        int64_t x;
        int64_t lo = d->type == RMQ_META_CFG_LONG ? INT64_MIN : d->type == RMQ_META_CFG_INT ? INT32_MIN : INT16_MIN;
        int64_t hi = d->type == RMQ_META_CFG_LONG ? INT64_MAX : d->type == RMQ_META_CFG_INT ? INT32_MAX : INT16_MAX;
        if (!parse_i64(v, &x) || x < lo || x > hi)
            return rmq_meta_errf(RMQ_INVALID_CONFIG, msg, cap,
                                 "Invalid value %.64s for configuration %s: Not a number of type %s", v, d->name,
                                 rmq_meta_cfg_type_name(d->type));
        if (x < d->min)
            return rmq_meta_errf(RMQ_INVALID_CONFIG, msg, cap,
                                 "Invalid value %.64s for configuration %s: Value must be at least %lld", v,
                                 d->name, (long long)d->min);
        if (x > d->max)
            return rmq_meta_errf(RMQ_INVALID_CONFIG, msg, cap,
                                 "Invalid value %.64s for configuration %s: Value must be no more than %lld", v,
                                 d->name, (long long)d->max);
        return RMQ_NONE;
    }
    case RMQ_META_CFG_DOUBLE: {
        errno = 0;
        char *end = NULL;
        double x = *v ? strtod(v, &end) : 0;
        if (!*v || errno || *end || !isfinite(x))
            return rmq_meta_errf(RMQ_INVALID_CONFIG, msg, cap,
                                 "Invalid value %.64s for configuration %s: Not a number of type DOUBLE", v, d->name);
        if (x < (double)d->min || x > (double)d->max)
            return rmq_meta_errf(RMQ_INVALID_CONFIG, msg, cap,
                                 "Invalid value %.64s for configuration %s: Value must be between %lld and %lld", v,
                                 d->name, (long long)d->min, (long long)d->max);
        return RMQ_NONE;
    }
    case RMQ_META_CFG_BOOLEAN:
        if (strcasecmp(v, "true") && strcasecmp(v, "false"))
            return rmq_meta_errf(RMQ_INVALID_CONFIG, msg, cap,
                                 "Invalid value %.64s for configuration %s: Expected value to be either true or false",
                                 v, d->name);
        return RMQ_NONE;
    case RMQ_META_CFG_STRING:
        if (d->allowed && !in_allowed(d->allowed, v, strlen(v)))
            return rmq_meta_errf(RMQ_INVALID_CONFIG, msg, cap,
                                 "Invalid value %.64s for configuration %s: String must be one of: %s", v, d->name,
                                 d->allowed);
        return RMQ_NONE;
    case RMQ_META_CFG_LIST: {
        /* an empty list is valid, as with Kafka's ValidList.in(...): an
         * empty cleanup.policy (e.g. what SUBTRACT leaves) means neither
         * delete nor compact */
        if (!*v) return RMQ_NONE;
        const char *p = v;
        for (;;) {
            const char *e = strchr(p, ',');
            const char *ie = e ? e : p + strlen(p);
            const char *is = p;
            while (is < ie && isspace((unsigned char)*is)) is++;
            while (ie > is && isspace((unsigned char)ie[-1])) ie--;
            if (d->allowed && !in_allowed(d->allowed, is, (size_t)(ie - is)))
                return rmq_meta_errf(RMQ_INVALID_CONFIG, msg, cap,
                                     "Invalid value %.64s for configuration %s: String must be one of: %s", v,
                                     d->name, d->allowed);
            if (!e) break;
            p = e + 1;
        }
        return RMQ_NONE;
    }
    default:
        return RMQ_NONE;
    }
}

/* ---- APPEND / SUBTRACT on LIST configs ---- */

typedef struct list_item {
    const char *p;
    size_t n;
} list_item_t;

/* Next comma-separated item of *s, trimmed; false at the end. Empty items
 * are returned too (n == 0); callers skip them. */
static bool next_item(const char **s, list_item_t *it) {
    const char *p = *s;
    if (!p) return false;
    const char *e = strchr(p, ',');
    const char *ie = e ? e : p + strlen(p);
    while (p < ie && isspace((unsigned char)*p)) p++;
    while (ie > p && isspace((unsigned char)ie[-1])) ie--;
    it->p = p;
    it->n = (size_t)(ie - p);
    *s = e ? e + 1 : NULL;
    return true;
}

static bool item_eq(const list_item_t *a, const list_item_t *b) { return a->n == b->n && !memcmp(a->p, b->p, a->n); }

#define LIST_ITEMS_MAX 256

rmq_err_t rmq_meta_config_list_op(const char *key, const char *cur, const char *operand, bool append, char *out,
                                  size_t cap, char *msg, size_t mcap) {
    const char *opname = append ? "APPEND" : "SUBTRACT";
    const rmq_meta_config_def_t *d = rmq_meta_config_find(key);
    if (!d || d->type != RMQ_META_CFG_LIST)
        return rmq_meta_errf(RMQ_INVALID_CONFIG, msg, mcap, "Can't %s to key %.200s because its type is not LIST.",
                             opname, key ? key : "");
    if (!operand)
        return rmq_meta_errf(RMQ_INVALID_REQUEST, msg, mcap, "Null value not supported for : %s", d->name);
    if (!cur) cur = d->default_value;
    list_item_t items[LIST_ITEMS_MAX];
    size_t n = 0;
    list_item_t it;
    const char *s = cur;
    while (next_item(&s, &it)) {
        if (!it.n) continue;
        if (n == LIST_ITEMS_MAX) goto too_long;
        items[n++] = it;
    }
    s = operand;
    while (next_item(&s, &it)) {
        if (!it.n) continue;
        size_t k = 0;
        while (k < n && !item_eq(&items[k], &it)) k++;
        if (append) {
            if (k < n) continue; /* already there: not added twice */
            if (n == LIST_ITEMS_MAX) goto too_long;
            items[n++] = it;
        } else if (k < n) { /* the first occurrence goes */
            memmove(&items[k], &items[k + 1], (n - k - 1) * sizeof items[0]);
            n--;
        }
    }
    size_t len = 0;
    for (size_t k = 0; k < n; k++) {
        size_t need = items[k].n + (k ? 1 : 0);
        if (len + need >= cap) goto too_long;
        if (k) out[len++] = ',';
        memcpy(out + len, items[k].p, items[k].n);
        len += items[k].n;
    }
    if (!cap) goto too_long;
    out[len] = '\0';
    return RMQ_NONE;
too_long:
    return rmq_meta_errf(RMQ_INVALID_CONFIG, msg, mcap, "Invalid value for configuration %s: value too long", d->name);
}
