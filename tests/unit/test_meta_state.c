/* test_meta_state.c - metadata commands (encode/decode round trips and
 * malformed input), validation, and the state machine (apply sequences,
 * errors, readers, snapshot/restore equivalence, a 10,000-partition topic). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/crc32c.h"
#include "controller/meta_cmd.h"
#include "controller/meta_state.h"
#include "controller/meta_validate.h"

/* ---- helpers ---- */

static rmq_meta_uuid_t uuid_n(uint8_t n) {
    rmq_meta_uuid_t u;
    memset(u.b, 0, 16);
    u.b[0] = 0xAB;
    u.b[15] = n;
    return u;
}

static void enc(const rmq_meta_cmd_t *c, rmq_buf_t *b) {
    rmq_buf_reset(b);
    assert_int_equal(rmq_meta_cmd_encode(c, b), 0);
}

static rmq_err_t apply_cmd(rmq_meta_state_t *s, const rmq_meta_cmd_t *c, int64_t index, rmq_meta_result_t *res) {
    rmq_buf_t b;
    rmq_buf_init(&b);
    enc(c, &b);
    rmq_err_t e = rmq_meta_state_apply(s, b.data, b.len, index, res);
    rmq_buf_free(&b);
    return e;
}

static rmq_err_t create_topic(rmq_meta_state_t *s, int64_t index, const char *name, uint8_t id, int32_t parts,
                              const rmq_meta_kv_t *cfg, uint32_t ncfg, rmq_meta_result_t *res) {
    rmq_meta_cmd_t c = {.type = RMQ_META_CMD_CREATE_TOPIC};
    c.u.create_topic.name = name;
    c.u.create_topic.topic_id = uuid_n(id);
    c.u.create_topic.partitions = parts;
    c.u.create_topic.replication_factor = 1;
    c.u.create_topic.configs = cfg;
    c.u.create_topic.n_configs = ncfg;
    return apply_cmd(s, &c, index, res);
}

/* ---- command codec ---- */

static void test_cmd_roundtrip_all_types(void **st) {
    (void)st;
    rmq_buf_t b;
    rmq_buf_init(&b);
    rmq_arena_t arena;
    rmq_arena_init(&arena, 1 << 20);
    rmq_meta_cmd_t d;

    rmq_meta_kv_t cfg[2] = {{"retention.ms", "1000"}, {"cleanup.policy", "compact,delete"}};
    rmq_meta_cmd_t c = {.type = RMQ_META_CMD_CREATE_TOPIC};
    c.u.create_topic.name = "orders";
    c.u.create_topic.topic_id = uuid_n(7);
    c.u.create_topic.partitions = 12;
    c.u.create_topic.replication_factor = 3;
    c.u.create_topic.configs = cfg;
    c.u.create_topic.n_configs = 2;
    enc(&c, &b);
    assert_int_equal(rmq_be32(b.data), RMQ_META_CMD_MAGIC);
    assert_int_equal(rmq_be16(b.data + 4), 1);
    assert_int_equal(rmq_be16(b.data + 6), RMQ_META_CMD_CREATE_TOPIC);
    assert_int_equal(rmq_be32(b.data + 8), b.len - 16);
    assert_int_equal(rmq_meta_cmd_decode(b.data, b.len, &arena, &d, NULL), 0);
    assert_int_equal(d.type, RMQ_META_CMD_CREATE_TOPIC);
    assert_string_equal(d.u.create_topic.name, "orders");
    assert_true(rmq_meta_uuid_eq(&d.u.create_topic.topic_id, &c.u.create_topic.topic_id));
    assert_int_equal(d.u.create_topic.partitions, 12);
    assert_int_equal(d.u.create_topic.replication_factor, 3);
    assert_int_equal(d.u.create_topic.n_configs, 2);
    assert_string_equal(d.u.create_topic.configs[1].key, "cleanup.policy");
    assert_string_equal(d.u.create_topic.configs[1].value, "compact,delete");

    c = (rmq_meta_cmd_t){.type = RMQ_META_CMD_DELETE_TOPIC};
    c.u.delete_topic.name = "orders";
    c.u.delete_topic.topic_id = uuid_n(7);
    enc(&c, &b);
    assert_int_equal(rmq_meta_cmd_decode(b.data, b.len, &arena, &d, NULL), 0);
    assert_string_equal(d.u.delete_topic.name, "orders");
    assert_true(rmq_meta_uuid_eq(&d.u.delete_topic.topic_id, &c.u.delete_topic.topic_id));

    c = (rmq_meta_cmd_t){.type = RMQ_META_CMD_CREATE_PARTITIONS};
    c.u.create_partitions.name = "x";
    c.u.create_partitions.total = 99;
    enc(&c, &b);
    assert_int_equal(rmq_meta_cmd_decode(b.data, b.len, &arena, &d, NULL), 0);
    assert_string_equal(d.u.create_partitions.name, "x");
    assert_int_equal(d.u.create_partitions.total, 99);

    rmq_meta_cfg_alter_t ops[2] = {{"retention.ms", RMQ_META_CFG_SET, "5"}, {"segment.ms", RMQ_META_CFG_DELETE, NULL}};
    c = (rmq_meta_cmd_t){.type = RMQ_META_CMD_ALTER_TOPIC_CONFIGS};
    c.u.alter_configs.name = "x";
    c.u.alter_configs.ops = ops;
    c.u.alter_configs.n_ops = 2;
    enc(&c, &b);
    assert_int_equal(rmq_meta_cmd_decode(b.data, b.len, &arena, &d, NULL), 0);
    assert_int_equal(d.u.alter_configs.n_ops, 2);
    assert_string_equal(d.u.alter_configs.ops[0].value, "5");
    assert_int_equal(d.u.alter_configs.ops[1].op, RMQ_META_CFG_DELETE);
    assert_string_equal(d.u.alter_configs.ops[1].value, "");

    c = (rmq_meta_cmd_t){.type = RMQ_META_CMD_REGISTER_BROKER};
    c.u.register_broker.broker_id = 4;
    c.u.register_broker.rack = "r1";
    c.u.register_broker.host = "10.0.0.4";
    c.u.register_broker.port = 9092;
    c.u.register_broker.epoch = 1234567890123LL;
    enc(&c, &b);
    assert_int_equal(rmq_meta_cmd_decode(b.data, b.len, &arena, &d, NULL), 0);
    assert_int_equal(d.u.register_broker.broker_id, 4);
    assert_string_equal(d.u.register_broker.rack, "r1");
    assert_string_equal(d.u.register_broker.host, "10.0.0.4");
    assert_int_equal(d.u.register_broker.port, 9092);
    assert_int_equal(d.u.register_broker.epoch, 1234567890123LL);

    c = (rmq_meta_cmd_t){.type = RMQ_META_CMD_INIT_CLUSTER};
    c.u.init_cluster.cluster_id = uuid_n(9);
    enc(&c, &b);
    assert_int_equal(b.len, 32);
    assert_int_equal(rmq_meta_cmd_decode(b.data, b.len, &arena, &d, NULL), 0);
    assert_true(rmq_meta_uuid_eq(&d.u.init_cluster.cluster_id, &c.u.init_cluster.cluster_id));

    /* reserved and unknown types cannot be encoded */
    size_t before = b.len;
    c.type = 11; /* no such type (yet) */
    assert_int_equal(rmq_meta_cmd_encode(&c, &b), RMQ_ERR_INVALID_ARG);
    assert_int_equal(b.len, before);

    rmq_arena_free(&arena);
    rmq_buf_free(&b);
}

/* Re-seal a hand-modified command: fix length and CRC. */
static void reseal(uint8_t *p, size_t len) {
    rmq_wbe32(p + 8, (uint32_t)(len - 16));
    uint32_t crc = rmq_crc32c(0, p + 4, 8);
    crc = rmq_crc32c(crc, p + 16, len - 16);
    rmq_wbe32(p + 12, crc);
}

static void test_cmd_malformed(void **st) {
    (void)st;
    rmq_buf_t b;
    rmq_buf_init(&b);
    rmq_arena_t arena;
    rmq_arena_init(&arena, 1 << 20);
    rmq_meta_cmd_t d;
    size_t off;

    rmq_meta_kv_t cfg[1] = {{"retention.ms", "1000"}};
    rmq_meta_cmd_t c = {.type = RMQ_META_CMD_CREATE_TOPIC};
    c.u.create_topic.name = "t";
    c.u.create_topic.topic_id = uuid_n(1);
    c.u.create_topic.partitions = 1;
    c.u.create_topic.replication_factor = 1;
    c.u.create_topic.configs = cfg;
    c.u.create_topic.n_configs = 1;
    enc(&c, &b);
    uint8_t good[256];
    size_t n = b.len;
    memcpy(good, b.data, n);
    uint8_t m[256];

    /* every truncation fails (header or length/body mismatch) */
    for (size_t cut = 0; cut < n; cut++) {
        rmq_err_t e = rmq_meta_cmd_decode(good, cut, &arena, &d, &off);
        assert_int_equal(e, RMQ_ERR_TRUNCATED);
    }
    /* magic */
    memcpy(m, good, n);
    m[0] ^= 1;
    assert_int_equal(rmq_meta_cmd_decode(m, n, &arena, &d, &off), RMQ_ERR_BAD_MAGIC);
    assert_int_equal(off, 0);
    /* version */
    memcpy(m, good, n);
    m[5] = 2;
    assert_int_equal(rmq_meta_cmd_decode(m, n, &arena, &d, &off), RMQ_ERR_UNSUPPORTED);
    /* trailing byte after the frame */
    memcpy(m, good, n);
    m[n] = 0;
    assert_int_equal(rmq_meta_cmd_decode(m, n + 1, &arena, &d, &off), RMQ_ERR_BAD_LENGTH);
    /* every single-bit flip in the body is caught by the CRC */
    for (size_t i = 16; i < n; i++) {
        memcpy(m, good, n);
        m[i] ^= 0x10;
        assert_int_equal(rmq_meta_cmd_decode(m, n, &arena, &d, &off), RMQ_ERR_BAD_CRC);
    }
    /* type flip is caught by the CRC too (it is covered) */
    memcpy(m, good, n);
    m[7] = RMQ_META_CMD_DELETE_TOPIC;
    assert_int_equal(rmq_meta_cmd_decode(m, n, &arena, &d, &off), RMQ_ERR_BAD_CRC);
    /* resealed: reserved type, unknown type */
    m[7] = 11; /* no such type (yet) */
    reseal(m, n);
    assert_int_equal(rmq_meta_cmd_decode(m, n, &arena, &d, &off), RMQ_ERR_UNSUPPORTED);
    m[7] = 200;
    reseal(m, n);
    assert_int_equal(rmq_meta_cmd_decode(m, n, &arena, &d, &off), RMQ_ERR_UNSUPPORTED);
    /* resealed: body is a valid DeleteTopic prefix but with leftovers */
    memcpy(m, good, n);
    m[7] = RMQ_META_CMD_DELETE_TOPIC;
    reseal(m, n);
    assert_int_equal(rmq_meta_cmd_decode(m, n, &arena, &d, &off), RMQ_ERR_BAD_LENGTH);
    /* resealed: huge config count */
    memcpy(m, good, n);
    size_t cnt_off = 16 + 2 + 1 + 16 + 4 + 2;
    rmq_wbe32(m + cnt_off, 0x7fffffff);
    reseal(m, n);
    assert_int_equal(rmq_meta_cmd_decode(m, n, &arena, &d, &off), RMQ_ERR_BAD_LENGTH);
    assert_int_equal(off, cnt_off);
    /* resealed: NUL inside the topic name */
    memcpy(m, good, n);
    m[18] = 0;
    reseal(m, n);
    assert_int_equal(rmq_meta_cmd_decode(m, n, &arena, &d, &off), RMQ_ERR_CORRUPT);
    assert_int_equal(off, 18);
    /* resealed: name length runs past the end */
    memcpy(m, good, n);
    rmq_wbe16(m + 16, 5000);
    reseal(m, n);
    assert_int_equal(rmq_meta_cmd_decode(m, n, &arena, &d, &off), RMQ_ERR_TRUNCATED);

    /* bad alter op */
    rmq_meta_cfg_alter_t ops[1] = {{"retention.ms", RMQ_META_CFG_SET, "5"}};
    c = (rmq_meta_cmd_t){.type = RMQ_META_CMD_ALTER_TOPIC_CONFIGS};
    c.u.alter_configs.name = "x";
    c.u.alter_configs.ops = ops;
    c.u.alter_configs.n_ops = 1;
    enc(&c, &b);
    memcpy(m, b.data, b.len);
    size_t op_off = 16 + 3 + 4 + 2 + strlen("retention.ms");
    assert_int_equal(m[op_off], 0);
    m[op_off] = 7;
    reseal(m, b.len);
    assert_int_equal(rmq_meta_cmd_decode(m, b.len, &arena, &d, &off), RMQ_ERR_CORRUPT);
    assert_int_equal(off, op_off);

    /* arena cap reached */
    rmq_arena_t tiny;
    rmq_arena_init(&tiny, 16);
    assert_int_equal(rmq_meta_cmd_decode(good, n, &tiny, &d, &off), RMQ_ERR_NOMEM);
    rmq_arena_free(&tiny);

    rmq_arena_free(&arena);
    rmq_buf_free(&b);
}

static void test_uuid_base64(void **st) {
    (void)st;
    rmq_meta_uuid_t u, v;
    memset(u.b, 0, 16);
    char txt[23];
    rmq_meta_uuid_to_base64(&u, txt);
    assert_string_equal(txt, "AAAAAAAAAAAAAAAAAAAAAA");
    /* Kafka's Uuid.METADATA_TOPIC_ID = (0, 1) prints as AAAAAAAAAAAAAAAAAAAAAQ */
    u.b[15] = 1;
    rmq_meta_uuid_to_base64(&u, txt);
    assert_string_equal(txt, "AAAAAAAAAAAAAAAAAAAAAQ");
    for (int i = 0; i < 50; i++) {
        assert_int_equal(rmq_meta_uuid_random(&u), 0);
        assert_false(rmq_meta_uuid_is_zero(&u));
        assert_int_equal(u.b[6] >> 4, 4);
        rmq_meta_uuid_to_base64(&u, txt);
        assert_int_equal(strlen(txt), 22);
        assert_int_equal(rmq_meta_uuid_from_base64(txt, &v), 0);
        assert_true(rmq_meta_uuid_eq(&u, &v));
    }
    assert_int_equal(rmq_meta_uuid_from_base64("short", &v), RMQ_ERR_PARSE);
    assert_int_equal(rmq_meta_uuid_from_base64("AAAAAAAAAAAAAAAAAAAA+A", &v), RMQ_ERR_PARSE);
    assert_int_equal(rmq_meta_uuid_from_base64("AAAAAAAAAAAAAAAAAAAAAB", &v), RMQ_ERR_PARSE);
}

/* ---- validation ---- */

static void test_validate(void **st) {
    (void)st;
    char msg[256];
    assert_int_equal(rmq_meta_validate_topic_name("a.B_c-9", msg, sizeof msg), RMQ_NONE);
    assert_int_equal(rmq_meta_validate_topic_name("", msg, sizeof msg), RMQ_INVALID_TOPIC_EXCEPTION);
    assert_int_equal(rmq_meta_validate_topic_name(".", msg, sizeof msg), RMQ_INVALID_TOPIC_EXCEPTION);
    assert_int_equal(rmq_meta_validate_topic_name("..", msg, sizeof msg), RMQ_INVALID_TOPIC_EXCEPTION);
    assert_int_equal(rmq_meta_validate_topic_name("...", msg, sizeof msg), RMQ_NONE);
    assert_int_equal(rmq_meta_validate_topic_name("a b", msg, sizeof msg), RMQ_INVALID_TOPIC_EXCEPTION);
    assert_non_null(strstr(msg, "illegal"));
    assert_int_equal(rmq_meta_validate_topic_name("é", msg, sizeof msg), RMQ_INVALID_TOPIC_EXCEPTION);
    char longname[251];
    memset(longname, 'x', 250);
    longname[250] = 0;
    assert_int_equal(rmq_meta_validate_topic_name(longname, msg, sizeof msg), RMQ_INVALID_TOPIC_EXCEPTION);
    longname[249] = 0;
    assert_int_equal(rmq_meta_validate_topic_name(longname, msg, sizeof msg), RMQ_NONE);

    assert_int_equal(rmq_meta_validate_partitions(1, 0, msg, sizeof msg), RMQ_NONE);
    assert_int_equal(rmq_meta_validate_partitions(0, 0, msg, sizeof msg), RMQ_INVALID_PARTITIONS);
    assert_int_equal(rmq_meta_validate_partitions(-3, 0, msg, sizeof msg), RMQ_INVALID_PARTITIONS);
    assert_int_equal(rmq_meta_validate_partitions(100000, 0, msg, sizeof msg), RMQ_NONE);
    assert_int_equal(rmq_meta_validate_partitions(100001, 0, msg, sizeof msg), RMQ_INVALID_PARTITIONS);
    assert_int_equal(rmq_meta_validate_partitions(11, 10, msg, sizeof msg), RMQ_INVALID_PARTITIONS);

    assert_int_equal(rmq_meta_validate_replication_factor(1, 1, msg, sizeof msg), RMQ_NONE);
    assert_int_equal(rmq_meta_validate_replication_factor(0, 1, msg, sizeof msg), RMQ_INVALID_REPLICATION_FACTOR);
    assert_int_equal(rmq_meta_validate_replication_factor(3, 1, msg, sizeof msg), RMQ_INVALID_REPLICATION_FACTOR);
    assert_non_null(strstr(msg, "only 1 broker"));
    assert_int_equal(rmq_meta_validate_replication_factor(3, -1, msg, sizeof msg), RMQ_NONE);

    struct {
        const char *k, *v;
        rmq_err_t want;
    } cases[] = {
        {"retention.ms", "-1", RMQ_NONE},
        {"retention.ms", "-2", RMQ_INVALID_CONFIG},
        {"retention.ms", " 86400000 ", RMQ_NONE},
        {"retention.ms", "9223372036854775807", RMQ_NONE},
        {"retention.ms", "9223372036854775808", RMQ_INVALID_CONFIG},
        {"retention.ms", "1h", RMQ_INVALID_CONFIG},
        {"retention.ms", "", RMQ_INVALID_CONFIG},
        {"retention.bytes", "-1", RMQ_NONE},
        {"retention.bytes", "-5", RMQ_INVALID_CONFIG},
        {"segment.bytes", "14", RMQ_NONE},
        {"segment.bytes", "13", RMQ_INVALID_CONFIG},
        {"segment.bytes", "2147483648", RMQ_INVALID_CONFIG}, /* INT overflow */
        {"segment.ms", "0", RMQ_INVALID_CONFIG},
        {"segment.ms", "1", RMQ_NONE},
        {"cleanup.policy", "compact", RMQ_NONE},
        {"cleanup.policy", "compact, delete", RMQ_NONE},
        {"cleanup.policy", "compact,nope", RMQ_INVALID_CONFIG},
        {"cleanup.policy", "", RMQ_NONE}, /* Kafka's ValidList.in allows the empty list */
        {"cleanup.policy", " ", RMQ_NONE},
        {"cleanup.policy", "delete,", RMQ_INVALID_CONFIG}, /* an empty item is not */
        {"cleanup.policy", " , ", RMQ_INVALID_CONFIG},
        {"compression.type", "zstd", RMQ_NONE},
        {"compression.type", "producer", RMQ_NONE},
        {"compression.type", "brotli", RMQ_INVALID_CONFIG},
        {"max.message.bytes", "0", RMQ_NONE},
        {"max.message.bytes", "-1", RMQ_INVALID_CONFIG},
        {"min.insync.replicas", "0", RMQ_INVALID_CONFIG},
        {"min.insync.replicas", "2", RMQ_NONE},
        {"message.timestamp.type", "LogAppendTime", RMQ_NONE},
        {"message.timestamp.type", "logappendtime", RMQ_INVALID_CONFIG},
        {"min.cleanable.dirty.ratio", "0.25", RMQ_NONE},
        {"min.cleanable.dirty.ratio", "1.5", RMQ_INVALID_CONFIG},
        {"min.cleanable.dirty.ratio", "nan", RMQ_INVALID_CONFIG},
        {"preallocate", "TRUE", RMQ_NONE},
        {"preallocate", "yes", RMQ_INVALID_CONFIG},
        {"no.such.key", "1", RMQ_INVALID_CONFIG},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        msg[0] = 0;
        rmq_err_t e = rmq_meta_validate_config(cases[i].k, cases[i].v, msg, sizeof msg);
        if (e != cases[i].want) fail_msg("%s=%s: got %d want %d (%s)", cases[i].k, cases[i].v, e, cases[i].want, msg);
        if (e) assert_true(strlen(msg) > 0);
    }
    assert_int_equal(rmq_meta_validate_config("retention.ms", "-2", msg, sizeof msg), RMQ_INVALID_CONFIG);
    assert_string_equal(msg, "Invalid value -2 for configuration retention.ms: Value must be at least -1");
    assert_int_equal(rmq_meta_validate_config("bogus", "1", msg, sizeof msg), RMQ_INVALID_CONFIG);
    assert_string_equal(msg, "Unknown topic config name: bogus");

    /* the key table: sorted, every default passes its own validation */
    size_t n;
    const rmq_meta_config_def_t *defs = rmq_meta_config_defs(&n);
    assert_true(n >= 20);
    for (size_t i = 0; i < n; i++) {
        if (i) assert_true(strcmp(defs[i - 1].name, defs[i].name) < 0);
        assert_int_equal(rmq_meta_validate_config(defs[i].name, defs[i].default_value, msg, sizeof msg), RMQ_NONE);
        assert_ptr_equal(rmq_meta_config_find(defs[i].name), &defs[i]);
    }
    assert_int_equal(rmq_meta_config_find("retention.ms")->type, RMQ_META_CFG_LONG);
    assert_string_equal(rmq_meta_cfg_type_name(rmq_meta_config_find("cleanup.policy")->type), "LIST");
}

/* IncrementalAlterConfigs APPEND / SUBTRACT on list configs */
static void test_config_list_op(void **st) {
    (void)st;
    char out[64], msg[256];
    struct {
        const char *cur, *operand;
        bool append;
        const char *want;
    } cases[] = {
        {NULL, "compact", true, "delete,compact"},       /* from the default list */
        {"delete,compact", "delete", false, "compact"}, /* the first occurrence goes */
        {NULL, "delete", true, "delete"},                /* present: not added twice */
        {"compact", "delete,compact,delete", true, "compact,delete"},
        {NULL, "delete", false, ""},                     /* empty list: SET validates it */
        {NULL, "compact", false, "delete"},              /* absent: ignored */
        {"compact, delete", " delete ", false, "compact"}, /* items are trimmed */
        {"", "compact", true, "compact"},
        {"delete", ",,", true, "delete"},                /* empty items are ignored */
        {"delete,delete", "delete", false, "delete"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        msg[0] = 0;
        rmq_err_t e = rmq_meta_config_list_op("cleanup.policy", cases[i].cur, cases[i].operand, cases[i].append, out,
                                              sizeof out, msg, sizeof msg);
        if (e || strcmp(out, cases[i].want))
            fail_msg("case %zu: %s %s %s: got %d '%s' want '%s' (%s)", i, cases[i].cur ? cases[i].cur : "(default)",
                     cases[i].append ? "APPEND" : "SUBTRACT", cases[i].operand, e, e ? "" : out, cases[i].want, msg);
        assert_int_equal(rmq_meta_validate_config("cleanup.policy", out, msg, sizeof msg), RMQ_NONE);
    }
    /* the result is validated by the SET it becomes, not here */
    assert_int_equal(rmq_meta_config_list_op("cleanup.policy", NULL, "shred", true, out, sizeof out, msg, sizeof msg),
                     RMQ_NONE);
    assert_string_equal(out, "delete,shred");
    assert_int_equal(rmq_meta_validate_config("cleanup.policy", out, msg, sizeof msg), RMQ_INVALID_CONFIG);
    /* not a LIST key, or unknown: Kafka's INVALID_CONFIG */
    assert_int_equal(rmq_meta_config_list_op("retention.ms", NULL, "5", true, out, sizeof out, msg, sizeof msg),
                     RMQ_INVALID_CONFIG);
    assert_string_equal(msg, "Can't APPEND to key retention.ms because its type is not LIST.");
    assert_int_equal(rmq_meta_config_list_op("compression.type", NULL, "zstd", false, out, sizeof out, msg, sizeof msg),
                     RMQ_INVALID_CONFIG);
    assert_string_equal(msg, "Can't SUBTRACT to key compression.type because its type is not LIST.");
    assert_int_equal(rmq_meta_config_list_op("no.such.key", NULL, "x", true, out, sizeof out, msg, sizeof msg),
                     RMQ_INVALID_CONFIG);
    assert_int_equal(rmq_meta_config_list_op("cleanup.policy", NULL, NULL, true, out, sizeof out, msg, sizeof msg),
                     RMQ_INVALID_REQUEST);
    /* a result that does not fit */
    char small[8];
    assert_int_equal(rmq_meta_config_list_op("cleanup.policy", NULL, "compact", true, small, sizeof small, msg,
                                             sizeof msg),
                     RMQ_INVALID_CONFIG);
    assert_int_equal(rmq_meta_config_list_op("cleanup.policy", NULL, "compact", true, small, 0, msg, sizeof msg),
                     RMQ_INVALID_CONFIG);
}

/* ---- state machine ---- */

/* Kafka refuses a topic whose name equals an existing one's once '.' and
 * '_' are taken as the same character (their metric names would clash).
 * It is a proposal-time rule: the dry run and rmq_meta_state_precheck
 * refuse it, apply does not, so a log written before the rule replays. */
static rmq_err_t create_prechecks(rmq_meta_state_t *s, const char *name, int id, rmq_meta_result_t *r,
                                  rmq_err_t *check_err) {
    rmq_meta_cmd_t c = {.type = RMQ_META_CMD_CREATE_TOPIC};
    c.u.create_topic.name = name;
    c.u.create_topic.topic_id = uuid_n(id);
    c.u.create_topic.partitions = 1;
    c.u.create_topic.replication_factor = 1;
    rmq_buf_t b;
    rmq_buf_init(&b);
    enc(&c, &b);
    rmq_meta_result_t cr;
    *check_err = rmq_meta_state_check(s, b.data, b.len, &cr);
    rmq_meta_result_free(&cr);
    rmq_err_t e = rmq_meta_state_precheck(s, b.data, b.len, r);
    rmq_buf_free(&b);
    return e;
}

static void test_state_name_collision(void **st) {
    (void)st;
    rmq_meta_state_t *s = rmq_meta_state_new(NULL);
    assert_non_null(s);
    rmq_meta_result_t r;
    rmq_meta_result_init(&r);
    rmq_err_t ce;
    int64_t idx = 1;
    assert_int_equal(create_topic(s, idx++, "orders.eu", 1, 1, NULL, 0, &r), RMQ_NONE);
    rmq_meta_result_free(&r);
    uint64_t v = rmq_meta_state_version(s);
    assert_int_equal(create_prechecks(s, "orders_eu", 2, &r, &ce), RMQ_INVALID_TOPIC_EXCEPTION);
    assert_int_equal(ce, RMQ_INVALID_TOPIC_EXCEPTION);
    assert_string_equal(r.msg, "Topic 'orders_eu' collides with existing topic: orders.eu");
    rmq_meta_result_free(&r);
    assert_int_equal(rmq_meta_state_version(s), v);
    assert_int_equal(create_prechecks(s, "a.b_c", 3, &r, &ce), RMQ_NONE); /* nothing to collide with yet */
    assert_int_equal(ce, RMQ_NONE);
    rmq_meta_result_free(&r);
    /* the exact name is apply's "already exists"; other names are fine */
    assert_int_equal(create_prechecks(s, "orders.eu", 4, &r, &ce), RMQ_NONE);
    assert_int_equal(ce, RMQ_TOPIC_ALREADY_EXISTS);
    rmq_meta_result_free(&r);
    assert_int_equal(create_prechecks(s, "orders-eu", 5, &r, &ce), RMQ_NONE);
    rmq_meta_result_free(&r);
    assert_int_equal(create_topic(s, idx++, "a_b.c", 7, 1, NULL, 0, &r), RMQ_NONE);
    rmq_meta_result_free(&r);
    assert_int_equal(create_prechecks(s, "a.b_c", 8, &r, &ce), RMQ_INVALID_TOPIC_EXCEPTION);
    assert_string_equal(r.msg, "Topic 'a.b_c' collides with existing topic: a_b.c");
    rmq_meta_result_free(&r);
    /* replay of a log written before the rule: apply takes the entry */
    assert_int_equal(create_topic(s, idx++, "orders_eu", 9, 1, NULL, 0, &r), RMQ_NONE);
    rmq_meta_result_free(&r);
    assert_int_equal(rmq_meta_state_topic_count(s), 3);
    /* once the colliding topics are gone, the name is free */
    rmq_meta_cmd_t d = {.type = RMQ_META_CMD_DELETE_TOPIC};
    d.u.delete_topic.name = "orders.eu";
    assert_int_equal(apply_cmd(s, &d, idx++, &r), RMQ_NONE);
    rmq_meta_result_free(&r);
    d.u.delete_topic.name = "orders_eu";
    assert_int_equal(apply_cmd(s, &d, idx++, &r), RMQ_NONE);
    rmq_meta_result_free(&r);
    assert_int_equal(create_prechecks(s, "orders_eu", 10, &r, &ce), RMQ_NONE);
    assert_int_equal(ce, RMQ_NONE);
    rmq_meta_result_free(&r);
    rmq_meta_state_free(s);
}

static void test_state_sequence(void **st) {
    (void)st;
    rmq_meta_state_t *s = rmq_meta_state_new(NULL);
    assert_non_null(s);
    rmq_meta_result_t r;
    int64_t idx = 1;

    rmq_meta_cmd_t ic = {.type = RMQ_META_CMD_INIT_CLUSTER};
    ic.u.init_cluster.cluster_id = uuid_n(200);
    assert_int_equal(apply_cmd(s, &ic, idx++, &r), RMQ_NONE);
    rmq_meta_uuid_t cid;
    assert_true(rmq_meta_state_cluster_id(s, &cid));
    assert_true(rmq_meta_uuid_eq(&cid, &ic.u.init_cluster.cluster_id));
    ic.u.init_cluster.cluster_id = uuid_n(201);
    assert_int_equal(apply_cmd(s, &ic, idx++, &r), RMQ_INCONSISTENT_CLUSTER_ID);

    rmq_meta_kv_t cfg[1] = {{"retention.ms", "60000"}};
    assert_int_equal(create_topic(s, idx++, "beta", 1, 3, cfg, 1, &r), RMQ_NONE);
    assert_int_equal(r.n_stream_ids, 3);
    assert_int_equal(r.stream_ids[0], 1);
    assert_int_equal(r.stream_ids[2], 3);
    rmq_meta_uuid_t id1 = uuid_n(1);
    assert_true(rmq_meta_uuid_eq(&r.topic_id, &id1));
    rmq_meta_result_free(&r);
    assert_int_equal(create_topic(s, idx++, "alpha", 2, 2, NULL, 0, &r), RMQ_NONE);
    rmq_meta_result_free(&r);

    /* errors, each a no-op that still consumes its index */
    uint64_t v = rmq_meta_state_version(s);
    assert_int_equal(create_topic(s, idx++, "beta", 3, 1, NULL, 0, &r), RMQ_TOPIC_ALREADY_EXISTS);
    assert_string_equal(r.msg, "Topic 'beta' already exists.");
    assert_int_equal(create_topic(s, idx++, "gamma", 1, 1, NULL, 0, &r), RMQ_TOPIC_ALREADY_EXISTS); /* id reuse */
    assert_int_equal(create_topic(s, idx++, "bad name", 4, 1, NULL, 0, &r), RMQ_INVALID_TOPIC_EXCEPTION);
    assert_int_equal(create_topic(s, idx++, "gamma", 4, 0, NULL, 0, &r), RMQ_INVALID_PARTITIONS);
    assert_int_equal(create_topic(s, idx++, "gamma", 4, 100001, NULL, 0, &r), RMQ_INVALID_PARTITIONS);
    rmq_meta_kv_t badcfg[1] = {{"segment.bytes", "10"}};
    assert_int_equal(create_topic(s, idx++, "gamma", 4, 1, badcfg, 1, &r), RMQ_INVALID_CONFIG);
    rmq_meta_kv_t dupcfg[2] = {{"retention.ms", "1"}, {"retention.ms", "2"}};
    assert_int_equal(create_topic(s, idx++, "gamma", 4, 1, dupcfg, 2, &r), RMQ_INVALID_CONFIG);
    rmq_meta_cmd_t ct = {.type = RMQ_META_CMD_CREATE_TOPIC};
    ct.u.create_topic.name = "gamma";
    ct.u.create_topic.topic_id = uuid_n(4);
    ct.u.create_topic.partitions = 1;
    ct.u.create_topic.replication_factor = 0;
    assert_int_equal(apply_cmd(s, &ct, idx++, &r), RMQ_INVALID_REPLICATION_FACTOR);
    ct.u.create_topic.replication_factor = 1;
    ct.u.create_topic.topic_id = uuid_n(0);
    ct.u.create_topic.topic_id.b[0] = 0;
    assert_int_equal(apply_cmd(s, &ct, idx++, &r), RMQ_INVALID_REQUEST);
    assert_int_equal(rmq_meta_state_version(s), v);
    assert_int_equal(rmq_meta_state_last_index(s), idx - 1);
    assert_int_equal(rmq_meta_state_topic_count(s), 2);
    /* malformed bytes: rejected, index consumed */
    uint8_t junk[20] = {0};
    assert_int_equal(rmq_meta_state_apply(s, junk, sizeof junk, idx++, &r), RMQ_ERR_BAD_MAGIC);
    assert_int_equal(rmq_meta_state_last_index(s), idx - 1);
    /* stale index: rejected, not consumed */
    assert_int_equal(create_topic(s, 3, "delta", 9, 1, NULL, 0, &r), RMQ_ERR_INVALID_ARG);
    assert_int_equal(rmq_meta_state_last_index(s), idx - 1);

    /* create partitions */
    rmq_meta_cmd_t cp = {.type = RMQ_META_CMD_CREATE_PARTITIONS};
    cp.u.create_partitions.name = "alpha";
    cp.u.create_partitions.total = 5;
    assert_int_equal(apply_cmd(s, &cp, idx++, &r), RMQ_NONE);
    assert_int_equal(r.n_stream_ids, 3);
    assert_int_equal(r.stream_ids[0], 6);
    assert_int_equal(r.stream_ids[2], 8);
    rmq_meta_result_free(&r);
    cp.u.create_partitions.total = 5;
    assert_int_equal(apply_cmd(s, &cp, idx++, &r), RMQ_INVALID_PARTITIONS);
    cp.u.create_partitions.total = 2;
    assert_int_equal(apply_cmd(s, &cp, idx++, &r), RMQ_INVALID_PARTITIONS);
    assert_non_null(strstr(r.msg, "higher than the requested 2"));
    cp.u.create_partitions.name = "nope";
    cp.u.create_partitions.total = 9;
    assert_int_equal(apply_cmd(s, &cp, idx++, &r), RMQ_UNKNOWN_TOPIC_OR_PARTITION);

    uint64_t sid = 0;
    assert_int_equal(rmq_meta_state_stream_id(s, "alpha", 4, &sid), RMQ_NONE);
    assert_int_equal(sid, 8);
    assert_int_equal(rmq_meta_state_stream_id(s, "alpha", 5, &sid), RMQ_UNKNOWN_TOPIC_OR_PARTITION);
    assert_int_equal(rmq_meta_state_stream_id(s, "alpha", -1, &sid), RMQ_UNKNOWN_TOPIC_OR_PARTITION);
    assert_int_equal(rmq_meta_state_stream_id(s, "zzz", 0, &sid), RMQ_UNKNOWN_TOPIC_OR_PARTITION);
    assert_int_equal(rmq_meta_state_partition_count(s), 8);

    /* alter configs */
    char val[64];
    bool over = true;
    assert_int_equal(rmq_meta_state_config(s, "beta", "retention.ms", val, sizeof val, &over), RMQ_NONE);
    assert_string_equal(val, "60000");
    assert_true(over);
    assert_int_equal(rmq_meta_state_config(s, "beta", "segment.ms", val, sizeof val, &over), RMQ_NONE);
    assert_string_equal(val, "604800000");
    assert_false(over);
    assert_int_equal(rmq_meta_state_config(s, "beta", "bogus", val, sizeof val, &over), RMQ_INVALID_CONFIG);
    assert_int_equal(rmq_meta_state_config(s, "nope", "segment.ms", val, sizeof val, &over),
                     RMQ_UNKNOWN_TOPIC_OR_PARTITION);
    assert_int_equal(rmq_meta_state_config(s, "beta", "segment.ms", val, 4, &over), RMQ_ERR_TOO_LARGE);
    assert_string_equal(val, "604");

    rmq_meta_cfg_alter_t ops[3] = {{"retention.ms", RMQ_META_CFG_DELETE, NULL},
                                   {"cleanup.policy", RMQ_META_CFG_SET, "compact"},
                                   {"segment.bytes", RMQ_META_CFG_SET, "1048576"}};
    rmq_meta_cmd_t ac = {.type = RMQ_META_CMD_ALTER_TOPIC_CONFIGS};
    ac.u.alter_configs.name = "beta";
    ac.u.alter_configs.ops = ops;
    ac.u.alter_configs.n_ops = 3;
    assert_int_equal(apply_cmd(s, &ac, idx++, &r), RMQ_NONE);
    rmq_meta_state_rdlock(s);
    const rmq_meta_topic_t *t = rmq_meta_state_find_topic(s, "beta");
    assert_non_null(t);
    assert_int_equal(t->n_configs, 2);
    assert_string_equal(t->configs[0].key, "cleanup.policy"); /* sorted */
    assert_string_equal(rmq_meta_topic_config(t, "segment.bytes"), "1048576");
    assert_null(rmq_meta_topic_config(t, "retention.ms"));
    rmq_meta_state_unlock(s);
    /* one bad op rejects the whole alter */
    ops[0] = (rmq_meta_cfg_alter_t){"retention.ms", RMQ_META_CFG_SET, "7"};
    ops[1] = (rmq_meta_cfg_alter_t){"min.insync.replicas", RMQ_META_CFG_SET, "0"};
    ac.u.alter_configs.n_ops = 2;
    assert_int_equal(apply_cmd(s, &ac, idx++, &r), RMQ_INVALID_CONFIG);
    assert_int_equal(rmq_meta_state_config(s, "beta", "retention.ms", val, sizeof val, &over), RMQ_NONE);
    assert_false(over);
    ops[1] = (rmq_meta_cfg_alter_t){"retention.ms", RMQ_META_CFG_DELETE, NULL};
    assert_int_equal(apply_cmd(s, &ac, idx++, &r), RMQ_INVALID_REQUEST); /* duplicate key */
    ops[0] = (rmq_meta_cfg_alter_t){"unknown.key", RMQ_META_CFG_DELETE, NULL};
    ac.u.alter_configs.n_ops = 1;
    assert_int_equal(apply_cmd(s, &ac, idx++, &r), RMQ_INVALID_CONFIG);
    ac.u.alter_configs.name = "nope";
    assert_int_equal(apply_cmd(s, &ac, idx++, &r), RMQ_UNKNOWN_TOPIC_OR_PARTITION);

    /* iteration in name order */
    rmq_meta_state_rdlock(s);
    assert_int_equal(rmq_meta_state_topic_count_locked(s), 2);
    assert_string_equal(rmq_meta_state_topic_at(s, 0)->name, "alpha");
    assert_string_equal(rmq_meta_state_topic_at(s, 1)->name, "beta");
    assert_null(rmq_meta_state_topic_at(s, 2));
    rmq_meta_uuid_t id2 = uuid_n(2);
    assert_ptr_equal(rmq_meta_state_find_topic_id(s, &id2), rmq_meta_state_topic_at(s, 0));
    assert_int_equal(rmq_meta_state_topic_at(s, 0)->partitions[0].leader, -1);
    rmq_meta_state_unlock(s);

    /* register a broker: leaderless partitions get it, epoch bumps */
    rmq_meta_cmd_t rb = {.type = RMQ_META_CMD_REGISTER_BROKER};
    rb.u.register_broker.broker_id = 1;
    rb.u.register_broker.host = "localhost";
    rb.u.register_broker.port = 9092;
    rb.u.register_broker.epoch = 10;
    assert_int_equal(apply_cmd(s, &rb, idx++, &r), RMQ_NONE);
    assert_int_equal(apply_cmd(s, &rb, idx++, &r), RMQ_STALE_BROKER_EPOCH);
    rb.u.register_broker.epoch = 11;
    rb.u.register_broker.port = 9093;
    assert_int_equal(apply_cmd(s, &rb, idx++, &r), RMQ_NONE);
    rb.u.register_broker.host = "";
    rb.u.register_broker.epoch = 12;
    assert_int_equal(apply_cmd(s, &rb, idx++, &r), RMQ_INVALID_REQUEST);
    rmq_meta_state_rdlock(s);
    assert_int_equal(rmq_meta_state_broker_count_locked(s), 1);
    assert_int_equal(rmq_meta_state_find_broker(s, 1)->port, 9093);
    assert_string_equal(rmq_meta_state_find_broker(s, 1)->rack, "");
    const rmq_meta_topic_t *a = rmq_meta_state_find_topic(s, "alpha");
    assert_int_equal(a->partitions[4].leader, 1);
    assert_int_equal(a->partitions[4].leader_epoch, 1);
    rmq_meta_state_unlock(s);
    /* topics created after registration get the leader directly */
    assert_int_equal(create_topic(s, idx++, "gamma", 5, 2, NULL, 0, &r), RMQ_NONE);
    rmq_meta_result_free(&r);
    rmq_meta_state_rdlock(s);
    assert_int_equal(rmq_meta_state_find_topic(s, "gamma")->partitions[1].leader, 1);
    assert_int_equal(rmq_meta_state_find_topic(s, "gamma")->partitions[1].leader_epoch, 0);
    rmq_meta_state_unlock(s);

    /* delete by name, by id, mismatches */
    rmq_meta_cmd_t dt = {.type = RMQ_META_CMD_DELETE_TOPIC};
    dt.u.delete_topic.name = "alpha";
    dt.u.delete_topic.topic_id = uuid_n(1);
    assert_int_equal(apply_cmd(s, &dt, idx++, &r), RMQ_INCONSISTENT_TOPIC_ID);
    dt.u.delete_topic.topic_id = uuid_n(0);
    dt.u.delete_topic.topic_id.b[0] = 0;
    assert_int_equal(apply_cmd(s, &dt, idx++, &r), RMQ_NONE);
    assert_int_equal(r.n_stream_ids, 5);
    assert_int_equal(r.stream_ids[0], 4);
    assert_int_equal(r.stream_ids[4], 8);
    rmq_meta_result_free(&r);
    assert_int_equal(apply_cmd(s, &dt, idx++, &r), RMQ_UNKNOWN_TOPIC_OR_PARTITION);
    dt.u.delete_topic.name = "";
    assert_int_equal(apply_cmd(s, &dt, idx++, &r), RMQ_INVALID_REQUEST);
    dt.u.delete_topic.topic_id = uuid_n(1);
    assert_int_equal(apply_cmd(s, &dt, idx++, &r), RMQ_NONE);
    rmq_meta_result_free(&r);
    assert_int_equal(apply_cmd(s, &dt, idx++, &r), RMQ_UNKNOWN_TOPIC_ID);
    assert_int_equal(rmq_meta_state_topic_count(s), 1);
    assert_int_equal(rmq_meta_state_partition_count(s), 2);
    /* stream ids are never reused; names are */
    assert_int_equal(create_topic(s, idx++, "alpha", 6, 1, NULL, 0, &r), RMQ_NONE);
    assert_int_equal(r.stream_ids[0], 11);
    rmq_meta_result_free(&r);

    /* dry-run check does not change anything */
    rmq_buf_t b;
    rmq_buf_init(&b);
    ct.u.create_topic.name = "delta";
    ct.u.create_topic.topic_id = uuid_n(77);
    enc(&ct, &b);
    uint64_t ver = rmq_meta_state_version(s);
    assert_int_equal(rmq_meta_state_check(s, b.data, b.len, &r), RMQ_NONE);
    assert_int_equal(rmq_meta_state_topic_count(s), 2);
    assert_int_equal(rmq_meta_state_version(s), ver);
    ct.u.create_topic.name = "alpha";
    enc(&ct, &b);
    assert_int_equal(rmq_meta_state_check(s, b.data, b.len, &r), RMQ_TOPIC_ALREADY_EXISTS);
    rmq_buf_free(&b);

    rmq_meta_state_free(s);
}

static int collect_names(void *ud, const rmq_meta_topic_t *t) {
    char **out = ud;
    strcat(*out, t->name);
    strcat(*out, ",");
    return 0;
}

static void test_snapshot_restore(void **st) {
    (void)st;
    rmq_meta_state_t *s = rmq_meta_state_new(NULL);
    rmq_meta_result_t r;
    int64_t idx = 1;
    rmq_meta_cmd_t ic = {.type = RMQ_META_CMD_INIT_CLUSTER};
    ic.u.init_cluster.cluster_id = uuid_n(100);
    assert_int_equal(apply_cmd(s, &ic, idx++, &r), RMQ_NONE);
    rmq_meta_cmd_t rb = {.type = RMQ_META_CMD_REGISTER_BROKER};
    rb.u.register_broker.broker_id = 3;
    rb.u.register_broker.rack = "rack-a";
    rb.u.register_broker.host = "h3";
    rb.u.register_broker.port = 1;
    rb.u.register_broker.epoch = 1;
    assert_int_equal(apply_cmd(s, &rb, idx++, &r), RMQ_NONE);
    rb.u.register_broker.broker_id = 1;
    assert_int_equal(apply_cmd(s, &rb, idx++, &r), RMQ_NONE);
    const char *names[] = {"zeta", "a", "m.n", "b_c", "b-c", "x"};
    rmq_meta_kv_t cfg[2] = {{"retention.ms", "5"}, {"compression.type", "lz4"}};
    for (int i = 0; i < 6; i++) {
        assert_int_equal(create_topic(s, idx++, names[i], (uint8_t)(i + 1), i + 1, cfg, (uint32_t)(i % 3), &r),
                         RMQ_NONE);
        rmq_meta_result_free(&r);
    }
    rmq_meta_cmd_t dt = {.type = RMQ_META_CMD_DELETE_TOPIC};
    dt.u.delete_topic.name = "m.n";
    assert_int_equal(apply_cmd(s, &dt, idx++, &r), RMQ_NONE);
    rmq_meta_result_free(&r);

    rmq_buf_t snap;
    rmq_buf_init(&snap);
    assert_int_equal(rmq_meta_state_snapshot(s, &snap), 0);

    rmq_meta_state_t *s2 = rmq_meta_state_new(NULL);
    /* s2 has content that restore must replace */
    assert_int_equal(create_topic(s2, 1, "old", 50, 2, NULL, 0, &r), RMQ_NONE);
    rmq_meta_result_free(&r);
    assert_false(rmq_meta_state_equal(s, s2));
    assert_int_equal(rmq_meta_state_restore(s2, snap.data, snap.len), 0);
    assert_true(rmq_meta_state_equal(s, s2));
    /* snapshot of the restored state is byte-identical */
    rmq_buf_t snap2;
    rmq_buf_init(&snap2);
    assert_int_equal(rmq_meta_state_snapshot(s2, &snap2), 0);
    assert_int_equal(snap.len, snap2.len);
    assert_memory_equal(snap.data, snap2.data, snap.len);
    char namebuf[256] = "";
    char *np = namebuf;
    rmq_meta_state_foreach_topic(s2, collect_names, &np);
    assert_string_equal(namebuf, "a,b-c,b_c,x,zeta,");
    /* both continue identically */
    assert_int_equal(create_topic(s, idx, "new", 60, 3, NULL, 0, &r), RMQ_NONE);
    rmq_meta_result_free(&r);
    assert_int_equal(create_topic(s2, idx, "new", 60, 3, NULL, 0, &r), RMQ_NONE);
    rmq_meta_result_free(&r);
    assert_true(rmq_meta_state_equal(s, s2));

    /* corrupt snapshots are rejected and leave the state unchanged */
    uint8_t *m = malloc(snap.len);
    for (size_t i = 0; i < snap.len; i += 7) {
        memcpy(m, snap.data, snap.len);
        m[i] ^= 0x40;
        rmq_err_t e = rmq_meta_state_restore(s2, m, snap.len);
        assert_true(e == RMQ_ERR_BAD_CRC || e == RMQ_ERR_BAD_MAGIC || e == RMQ_ERR_UNSUPPORTED);
    }
    for (size_t cut = 0; cut < snap.len; cut += 5) assert_int_not_equal(rmq_meta_state_restore(s2, snap.data, cut), 0);
    /* CRC-valid but inconsistent snapshots: bad flag byte; a stream id at
     * or beyond next_stream_id */
    memcpy(m, snap.data, snap.len);
    m[8] = 2;
    rmq_wbe32(m + snap.len - 4, rmq_crc32c(0, m, snap.len - 4));
    assert_int_equal(rmq_meta_state_restore(s2, m, snap.len), RMQ_ERR_CORRUPT);
    memcpy(m, snap.data, snap.len);
    rmq_wbe64(m + 8 + 1 + 16 + 8 + 8, 2); /* next_stream_id = 2 */
    rmq_wbe32(m + snap.len - 4, rmq_crc32c(0, m, snap.len - 4));
    assert_int_equal(rmq_meta_state_restore(s2, m, snap.len), RMQ_ERR_CORRUPT);
    assert_true(rmq_meta_state_equal(s, s2));
    free(m);

    rmq_buf_free(&snap);
    rmq_buf_free(&snap2);
    rmq_meta_state_free(s);
    rmq_meta_state_free(s2);
}

static void test_many_partitions_and_topics(void **st) {
    (void)st;
    rmq_meta_state_t *s = rmq_meta_state_new(NULL);
    rmq_meta_result_t r;
    assert_int_equal(create_topic(s, 1, "big", 1, 10000, NULL, 0, &r), RMQ_NONE);
    assert_int_equal(r.n_stream_ids, 10000);
    assert_int_equal(r.stream_ids[9999], 10000);
    rmq_meta_result_free(&r);
    uint64_t sid;
    assert_int_equal(rmq_meta_state_stream_id(s, "big", 9999, &sid), RMQ_NONE);
    assert_int_equal(sid, 10000);
    /* 3,000 topics: hash lookups, deletion with backward shift */
    char name[32];
    rmq_buf_t b;
    rmq_buf_init(&b);
    int64_t idx = 2;
    for (int i = 0; i < 3000; i++) {
        snprintf(name, sizeof name, "t%04d", i);
        rmq_meta_cmd_t c = {.type = RMQ_META_CMD_CREATE_TOPIC};
        c.u.create_topic.name = name;
        c.u.create_topic.topic_id = uuid_n(0);
        rmq_wbe32(c.u.create_topic.topic_id.b + 4, (uint32_t)i + 1);
        c.u.create_topic.partitions = 2;
        c.u.create_topic.replication_factor = 1;
        enc(&c, &b);
        assert_int_equal(rmq_meta_state_apply(s, b.data, b.len, idx++, NULL), RMQ_NONE);
    }
    for (int i = 0; i < 3000; i += 2) {
        snprintf(name, sizeof name, "t%04d", i);
        rmq_meta_cmd_t c = {.type = RMQ_META_CMD_DELETE_TOPIC};
        c.u.delete_topic.name = name;
        enc(&c, &b);
        assert_int_equal(rmq_meta_state_apply(s, b.data, b.len, idx++, NULL), RMQ_NONE);
    }
    assert_int_equal(rmq_meta_state_topic_count(s), 1501);
    assert_int_equal(rmq_meta_state_partition_count(s), 10000 + 3000);
    rmq_meta_state_rdlock(s);
    for (int i = 0; i < 3000; i++) {
        snprintf(name, sizeof name, "t%04d", i);
        const rmq_meta_topic_t *t = rmq_meta_state_find_topic(s, name);
        rmq_meta_uuid_t id = uuid_n(0);
        rmq_wbe32(id.b + 4, (uint32_t)i + 1);
        if (i % 2) {
            assert_non_null(t);
            assert_ptr_equal(rmq_meta_state_find_topic_id(s, &id), t);
            assert_int_equal(t->partitions[1].stream_id, 10000 + 2 * (uint64_t)i + 2);
        } else {
            assert_null(t);
            assert_null(rmq_meta_state_find_topic_id(s, &id));
        }
    }
    for (size_t i = 1; i < rmq_meta_state_topic_count_locked(s); i++)
        assert_true(strcmp(rmq_meta_state_topic_at(s, i - 1)->name, rmq_meta_state_topic_at(s, i)->name) < 0);
    rmq_meta_state_unlock(s);

    rmq_buf_reset(&b);
    assert_int_equal(rmq_meta_state_snapshot(s, &b), 0);
    rmq_meta_state_t *s2 = rmq_meta_state_new(NULL);
    assert_int_equal(rmq_meta_state_restore(s2, b.data, b.len), 0);
    assert_true(rmq_meta_state_equal(s, s2));
    rmq_meta_state_free(s2);
    rmq_buf_free(&b);
    rmq_meta_state_free(s);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cmd_roundtrip_all_types),
        cmocka_unit_test(test_cmd_malformed),
        cmocka_unit_test(test_uuid_base64),
        cmocka_unit_test(test_validate),
        cmocka_unit_test(test_config_list_op),
        cmocka_unit_test(test_state_name_collision),
        cmocka_unit_test(test_state_sequence),
        cmocka_unit_test(test_snapshot_restore),
        cmocka_unit_test(test_many_partitions_and_topics),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
