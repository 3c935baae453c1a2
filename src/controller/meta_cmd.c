/* meta_cmd.c - encoder/decoder of metadata commands (see meta_cmd.h and
 * docs/metadata.md for the format), plus UUID helpers. Pure functions: no
 * I/O except getrandom for rmq_meta_uuid_random. */
#include "controller/meta_cmd.h"

#include <errno.h>
#include <string.h>
#include <sys/random.h>

#include "common/crc32c.h"

const char *rmq_meta_cmd_type_name(uint16_t type) {
    switch (type) {
    case RMQ_META_CMD_INIT_CLUSTER: return "InitCluster";
    case RMQ_META_CMD_CREATE_TOPIC: return "CreateTopic";
    case RMQ_META_CMD_DELETE_TOPIC: return "DeleteTopic";
    case RMQ_META_CMD_CREATE_PARTITIONS: return "CreatePartitions";
    case RMQ_META_CMD_ALTER_TOPIC_CONFIGS: return "AlterTopicConfigs";
    case RMQ_META_CMD_REGISTER_BROKER: return "RegisterBroker";
    case RMQ_META_CMD_UNREGISTER_BROKER: return "UnregisterBroker";
    case RMQ_META_CMD_PARTITION_CHANGE: return "PartitionChange";
    case RMQ_META_CMD_OBJECT_MANIFEST_ADD: return "ObjectManifestAdd";
    case RMQ_META_CMD_OBJECT_MANIFEST_TRIM: return "ObjectManifestTrim";
    default: return "Unknown";
    }
}

/* ---- UUIDs ---- */

bool rmq_meta_uuid_is_zero(const rmq_meta_uuid_t *u) {
    for (int i = 0; i < 16; i++)
        if (u->b[i]) return false;
    return true;
}

bool rmq_meta_uuid_eq(const rmq_meta_uuid_t *a, const rmq_meta_uuid_t *b) {
    return memcmp(a->b, b->b, 16) == 0;
}

rmq_err_t rmq_meta_uuid_random(rmq_meta_uuid_t *out) {
    size_t got = 0;
    while (got < 16) {
        ssize_t n = getrandom(out->b + got, 16 - got, 0);
        if (n < 0) {
            if (errno == EINTR) continue;
            return RMQ_ERR_IO;
        }
        got += (size_t)n;
    }
    out->b[6] = (uint8_t)((out->b[6] & 0x0f) | 0x40); /* version 4 */
    out->b[8] = (uint8_t)((out->b[8] & 0x3f) | 0x80); /* RFC 4122 variant */
    return 0; /* version bits make it non-zero */
}

static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

void rmq_meta_uuid_to_base64(const rmq_meta_uuid_t *u, char out[23]) {
    size_t o = 0;
    size_t i = 0;
    for (; i + 3 <= 16; i += 3) {
        uint32_t v = ((uint32_t)u->b[i] << 16) | ((uint32_t)u->b[i + 1] << 8) | u->b[i + 2];
        out[o++] = b64url[(v >> 18) & 63];
        out[o++] = b64url[(v >> 12) & 63];
        out[o++] = b64url[(v >> 6) & 63];
        out[o++] = b64url[v & 63];
    }
    /* one byte left (16 = 5*3 + 1) */
    uint32_t v = (uint32_t)u->b[15] << 16;
    out[o++] = b64url[(v >> 18) & 63];
    out[o++] = b64url[(v >> 12) & 63];
    out[o] = '\0';
}

static int b64val(char ch) {
    const char *p = ch ? strchr(b64url, ch) : NULL;
    return p ? (int)(p - b64url) : -1;
}

rmq_err_t rmq_meta_uuid_from_base64(const char *s, rmq_meta_uuid_t *out) {
    if (!s || strlen(s) != 22) return RMQ_ERR_PARSE;
    int vals[22];
    for (int i = 0; i < 22; i++) {
        vals[i] = b64val(s[i]);
        if (vals[i] < 0) return RMQ_ERR_PARSE;
    }
    if (vals[21] & 15) return RMQ_ERR_PARSE; /* non-canonical trailing bits */
    size_t o = 0;
    for (int i = 0; i < 20; i += 4) {
        uint32_t v = ((uint32_t)vals[i] << 18) | ((uint32_t)vals[i + 1] << 12) | ((uint32_t)vals[i + 2] << 6) |
                     (uint32_t)vals[i + 3];
        out->b[o++] = (uint8_t)(v >> 16);
        out->b[o++] = (uint8_t)(v >> 8);
        out->b[o++] = (uint8_t)v;
    }
    out->b[15] = (uint8_t)((vals[20] << 2) | (vals[21] >> 4));
    return 0;
}

/* ---- strings ---- */

void rmq_meta_put_str(rmq_buf_t *b, const char *s) {
    size_t n = s ? strlen(s) : 0;
    rmq_buf_put_u16(b, (uint16_t)n);
    rmq_buf_put(b, s, n);
}

const char *rmq_meta_get_str(rmq_cur_t *c, rmq_arena_t *arena) {
    uint16_t n = rmq_cur_u16(c);
    const uint8_t *p = rmq_cur_bytes(c, n);
    if (!p) return NULL;
    if (n && memchr(p, 0, n)) {
        c->off -= n;
        rmq_cur_fail(c, RMQ_ERR_CORRUPT);
        return NULL;
    }
    char *s = rmq_arena_strndup(arena, (const char *)p, n);
    if (!s) rmq_cur_fail(c, RMQ_ERR_NOMEM);
    return s;
}

static bool str_ok(const char *s) { return !s || strlen(s) <= RMQ_META_STR_MAX; }

/* ---- encode ---- */

rmq_err_t rmq_meta_cmd_encode(const rmq_meta_cmd_t *cmd, rmq_buf_t *out) {
    size_t start = out->len;
    if (out->oom) return RMQ_ERR_NOMEM;
    rmq_buf_put_u32(out, RMQ_META_CMD_MAGIC);
    rmq_buf_put_u16(out, RMQ_META_CMD_VERSION);
    rmq_buf_put_u16(out, cmd->type);
    rmq_buf_put_u32(out, 0); /* length, patched */
    rmq_buf_put_u32(out, 0); /* crc, patched */
    size_t body = out->len;
    rmq_err_t err = 0;

    switch (cmd->type) {
    case RMQ_META_CMD_INIT_CLUSTER:
        rmq_buf_put(out, cmd->u.init_cluster.cluster_id.b, 16);
        break;
    case RMQ_META_CMD_CREATE_TOPIC: {
        const __typeof__(cmd->u.create_topic) *c = &cmd->u.create_topic;
        if (!str_ok(c->name) || (c->n_configs && !c->configs)) {
            err = RMQ_ERR_INVALID_ARG;
            break;
        }
        rmq_meta_put_str(out, c->name);
        rmq_buf_put(out, c->topic_id.b, 16);
        rmq_buf_put_i32(out, c->partitions);
        rmq_buf_put_i16(out, c->replication_factor);
        rmq_buf_put_u32(out, c->n_configs);
        for (uint32_t i = 0; i < c->n_configs; i++) {
            if (!str_ok(c->configs[i].key) || !str_ok(c->configs[i].value)) {
                err = RMQ_ERR_INVALID_ARG;
                break;
            }
            rmq_meta_put_str(out, c->configs[i].key);
            rmq_meta_put_str(out, c->configs[i].value);
        }
        break;
    }
    case RMQ_META_CMD_DELETE_TOPIC:
        if (!str_ok(cmd->u.delete_topic.name)) {
            err = RMQ_ERR_INVALID_ARG;
            break;
        }
        rmq_meta_put_str(out, cmd->u.delete_topic.name);
        rmq_buf_put(out, cmd->u.delete_topic.topic_id.b, 16);
        break;
    case RMQ_META_CMD_CREATE_PARTITIONS:
        if (!str_ok(cmd->u.create_partitions.name)) {
            err = RMQ_ERR_INVALID_ARG;
            break;
        }
        rmq_meta_put_str(out, cmd->u.create_partitions.name);
        rmq_buf_put_i32(out, cmd->u.create_partitions.total);
        break;
    case RMQ_META_CMD_ALTER_TOPIC_CONFIGS: {
        const __typeof__(cmd->u.alter_configs) *c = &cmd->u.alter_configs;
        if (!str_ok(c->name) || (c->n_ops && !c->ops)) {
            err = RMQ_ERR_INVALID_ARG;
            break;
        }
        rmq_meta_put_str(out, c->name);
        rmq_buf_put_u32(out, c->n_ops);
        for (uint32_t i = 0; i < c->n_ops; i++) {
            const rmq_meta_cfg_alter_t *op = &c->ops[i];
            if (!str_ok(op->key) || !str_ok(op->value) || op->op > RMQ_META_CFG_DELETE) {
                err = RMQ_ERR_INVALID_ARG;
                break;
            }
            rmq_meta_put_str(out, op->key);
            rmq_buf_put_u8(out, op->op);
            rmq_meta_put_str(out, op->op == RMQ_META_CFG_SET ? op->value : NULL);
        }
        break;
    }
    case RMQ_META_CMD_REGISTER_BROKER: {
        const __typeof__(cmd->u.register_broker) *c = &cmd->u.register_broker;
        if (!str_ok(c->rack) || !str_ok(c->host)) {
            err = RMQ_ERR_INVALID_ARG;
            break;
        }
        rmq_buf_put_i32(out, c->broker_id);
        rmq_meta_put_str(out, c->rack);
        rmq_meta_put_str(out, c->host);
        rmq_buf_put_u16(out, c->port);
        rmq_buf_put_i64(out, c->epoch);
        break;
    }
    case RMQ_META_CMD_UNREGISTER_BROKER:
        rmq_buf_put_i32(out, cmd->u.unregister_broker.broker_id);
        rmq_buf_put_i64(out, cmd->u.unregister_broker.epoch);
        break;
    case RMQ_META_CMD_PARTITION_CHANGE: {
        const __typeof__(cmd->u.partition_change) *c = &cmd->u.partition_change;
        rmq_buf_put(out, c->topic_id.b, 16);
        rmq_buf_put_i32(out, c->partition);
        rmq_buf_put_i32(out, c->leader);
        rmq_buf_put_i32(out, c->leader_epoch);
        break;
    }
    case RMQ_META_CMD_OBJECT_MANIFEST_ADD: {
        const __typeof__(cmd->u.manifest_add) *c = &cmd->u.manifest_add;
        if (!c->key || strlen(c->key) > RMQ_META_OBJ_KEY_MAX || (c->n_ranges && !c->ranges)) {
            err = RMQ_ERR_INVALID_ARG;
            break;
        }
        rmq_meta_put_str(out, c->key);
        rmq_buf_put_u64(out, c->object_id);
        rmq_buf_put_u64(out, c->size);
        rmq_buf_put_u32(out, c->n_ranges);
        for (uint32_t i = 0; i < c->n_ranges; i++) {
            const rmq_meta_obj_range_t *r = &c->ranges[i];
            rmq_buf_put_u64(out, r->stream_id);
            rmq_buf_put_i64(out, r->base_offset);
            rmq_buf_put_i64(out, r->end_offset);
            rmq_buf_put_u64(out, r->byte_offset);
            rmq_buf_put_u64(out, r->byte_length);
            rmq_buf_put_i64(out, r->max_ts);
        }
        break;
    }
    case RMQ_META_CMD_OBJECT_MANIFEST_TRIM:
        rmq_buf_put_u64(out, cmd->u.manifest_trim.stream_id);
        rmq_buf_put_i64(out, cmd->u.manifest_trim.new_log_start);
        break;
    default:
        err = RMQ_ERR_INVALID_ARG;
        break;
    }
    if (!err && out->oom) err = RMQ_ERR_NOMEM;
    if (!err && out->len - body > UINT32_MAX) err = RMQ_ERR_INVALID_ARG;
    if (err) {
        if (!out->oom) out->len = start;
        return err;
    }
    rmq_buf_patch_u32(out, start + 8, (uint32_t)(out->len - body));
    uint32_t crc = rmq_crc32c(0, out->data + start + 4, 8);
    crc = rmq_crc32c(crc, out->data + body, out->len - body);
    rmq_buf_patch_u32(out, start + 12, crc);
    return 0;
}

/* ---- decode ---- */

static rmq_err_t fail_at(size_t *err_off, size_t off, rmq_err_t err) {
    if (err_off) *err_off = off;
    return err;
}

rmq_err_t rmq_meta_cmd_decode(const uint8_t *p, size_t len, rmq_arena_t *arena, rmq_meta_cmd_t *out,
                              size_t *err_off) {
    memset(out, 0, sizeof *out);
    if (len < RMQ_META_CMD_HDR) return fail_at(err_off, len, RMQ_ERR_TRUNCATED);
    if (rmq_be32(p) != RMQ_META_CMD_MAGIC) return fail_at(err_off, 0, RMQ_ERR_BAD_MAGIC);
    if (rmq_be16(p + 4) != RMQ_META_CMD_VERSION) return fail_at(err_off, 4, RMQ_ERR_UNSUPPORTED);
    uint16_t type = rmq_be16(p + 6);
    uint32_t blen = rmq_be32(p + 8);
    if (blen > len - RMQ_META_CMD_HDR) return fail_at(err_off, len, RMQ_ERR_TRUNCATED);
    if (blen < len - RMQ_META_CMD_HDR) return fail_at(err_off, 8, RMQ_ERR_BAD_LENGTH);
    uint32_t crc = rmq_crc32c(0, p + 4, 8);
    crc = rmq_crc32c(crc, p + RMQ_META_CMD_HDR, blen);
    if (crc != rmq_be32(p + 12)) return fail_at(err_off, 12, RMQ_ERR_BAD_CRC);

    rmq_cur_t cur;
    rmq_cur_t *c = &cur;
    rmq_cur_init(c, p + RMQ_META_CMD_HDR, blen);
    out->type = type;
    switch (type) {
    case RMQ_META_CMD_INIT_CLUSTER: {
        const uint8_t *id = rmq_cur_bytes(c, 16);
        if (id) memcpy(out->u.init_cluster.cluster_id.b, id, 16);
        break;
    }
    case RMQ_META_CMD_CREATE_TOPIC: {
        __typeof__(out->u.create_topic) *t = &out->u.create_topic;
        t->name = rmq_meta_get_str(c, arena);
        const uint8_t *id = rmq_cur_bytes(c, 16);
        if (id) memcpy(t->topic_id.b, id, 16);
        t->partitions = rmq_cur_i32(c);
        t->replication_factor = rmq_cur_i16(c);
        uint32_t n = rmq_cur_u32(c);
        if (!rmq_cur_ok(c)) break;
        if (n > rmq_cur_remaining(c) / 4) { /* each pair needs >= 4 bytes */
            c->off -= 4;
            rmq_cur_fail(c, RMQ_ERR_BAD_LENGTH);
            break;
        }
        rmq_meta_kv_t *kv = n ? rmq_arena_alloc(arena, (size_t)n * sizeof *kv) : NULL;
        if (n && !kv) {
            rmq_cur_fail(c, RMQ_ERR_NOMEM);
            break;
        }
        for (uint32_t i = 0; i < n && rmq_cur_ok(c); i++) {
            kv[i].key = rmq_meta_get_str(c, arena);
            kv[i].value = rmq_meta_get_str(c, arena);
        }
        t->n_configs = n;
        t->configs = kv;
        break;
    }
    case RMQ_META_CMD_DELETE_TOPIC: {
        out->u.delete_topic.name = rmq_meta_get_str(c, arena);
        const uint8_t *id = rmq_cur_bytes(c, 16);
        if (id) memcpy(out->u.delete_topic.topic_id.b, id, 16);
        break;
    }
    case RMQ_META_CMD_CREATE_PARTITIONS:
        out->u.create_partitions.name = rmq_meta_get_str(c, arena);
        out->u.create_partitions.total = rmq_cur_i32(c);
        break;
    case RMQ_META_CMD_ALTER_TOPIC_CONFIGS: {
        __typeof__(out->u.alter_configs) *a = &out->u.alter_configs;
        a->name = rmq_meta_get_str(c, arena);
        uint32_t n = rmq_cur_u32(c);
        if (!rmq_cur_ok(c)) break;
        if (n > rmq_cur_remaining(c) / 5) { /* key len 2 + op 1 + value len 2 */
            c->off -= 4;
            rmq_cur_fail(c, RMQ_ERR_BAD_LENGTH);
            break;
        }
        rmq_meta_cfg_alter_t *ops = n ? rmq_arena_alloc(arena, (size_t)n * sizeof *ops) : NULL;
        if (n && !ops) {
            rmq_cur_fail(c, RMQ_ERR_NOMEM);
            break;
        }
        for (uint32_t i = 0; i < n && rmq_cur_ok(c); i++) {
            ops[i].key = rmq_meta_get_str(c, arena);
            ops[i].op = rmq_cur_u8(c);
            if (rmq_cur_ok(c) && ops[i].op > RMQ_META_CFG_DELETE) {
                c->off -= 1;
                rmq_cur_fail(c, RMQ_ERR_CORRUPT);
            }
            ops[i].value = rmq_meta_get_str(c, arena);
            if (rmq_cur_ok(c) && ops[i].op == RMQ_META_CFG_DELETE && ops[i].value[0]) {
                /* canonical form: DELETE carries an empty value */
                c->off -= strlen(ops[i].value) + 2;
                rmq_cur_fail(c, RMQ_ERR_CORRUPT);
            }
        }
        a->n_ops = n;
        a->ops = ops;
        break;
    }
    case RMQ_META_CMD_REGISTER_BROKER: {
        __typeof__(out->u.register_broker) *r = &out->u.register_broker;
        r->broker_id = rmq_cur_i32(c);
        r->rack = rmq_meta_get_str(c, arena);
        r->host = rmq_meta_get_str(c, arena);
        r->port = rmq_cur_u16(c);
        r->epoch = rmq_cur_i64(c);
        break;
    }
    case RMQ_META_CMD_UNREGISTER_BROKER:
        out->u.unregister_broker.broker_id = rmq_cur_i32(c);
        out->u.unregister_broker.epoch = rmq_cur_i64(c);
        break;
    case RMQ_META_CMD_PARTITION_CHANGE: {
        __typeof__(out->u.partition_change) *pc = &out->u.partition_change;
        const uint8_t *id = rmq_cur_bytes(c, 16);
        if (id) memcpy(pc->topic_id.b, id, 16);
        pc->partition = rmq_cur_i32(c);
        pc->leader = rmq_cur_i32(c);
        pc->leader_epoch = rmq_cur_i32(c);
        break;
    }
    case RMQ_META_CMD_OBJECT_MANIFEST_ADD: {
        __typeof__(out->u.manifest_add) *m = &out->u.manifest_add;
        m->key = rmq_meta_get_str(c, arena);
        m->object_id = (uint64_t)rmq_cur_i64(c);
        m->size = (uint64_t)rmq_cur_i64(c);
        uint32_t n = rmq_cur_u32(c);
        if (!rmq_cur_ok(c)) break;
        if (n > rmq_cur_remaining(c) / 48) { /* each range is 48 bytes */
            c->off -= 4;
            rmq_cur_fail(c, RMQ_ERR_BAD_LENGTH);
            break;
        }
        rmq_meta_obj_range_t *rs = n ? rmq_arena_alloc(arena, (size_t)n * sizeof *rs) : NULL;
        if (n && !rs) {
            rmq_cur_fail(c, RMQ_ERR_NOMEM);
            break;
        }
        for (uint32_t i = 0; i < n && rmq_cur_ok(c); i++) {
            rs[i].stream_id = (uint64_t)rmq_cur_i64(c);
            rs[i].base_offset = rmq_cur_i64(c);
            rs[i].end_offset = rmq_cur_i64(c);
            rs[i].byte_offset = (uint64_t)rmq_cur_i64(c);
            rs[i].byte_length = (uint64_t)rmq_cur_i64(c);
            rs[i].max_ts = rmq_cur_i64(c);
        }
        m->n_ranges = n;
        m->ranges = rs;
        break;
    }
    case RMQ_META_CMD_OBJECT_MANIFEST_TRIM:
        out->u.manifest_trim.stream_id = (uint64_t)rmq_cur_i64(c);
        out->u.manifest_trim.new_log_start = rmq_cur_i64(c);
        break;
    default:
        return fail_at(err_off, 6, RMQ_ERR_UNSUPPORTED);
    }
    if (rmq_cur_ok(c) && rmq_cur_remaining(c) != 0) rmq_cur_fail(c, RMQ_ERR_BAD_LENGTH);
    if (!rmq_cur_ok(c)) {
        rmq_err_t err = c->err;
        size_t off = RMQ_META_CMD_HDR + c->err_off;
        memset(out, 0, sizeof *out);
        return fail_at(err_off, off, err);
    }
    return 0;
}
