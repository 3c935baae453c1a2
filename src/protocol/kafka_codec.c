/* kafka_codec.c - the one generic Kafka decoder and encoder (see kafka_codec.h).
 *
 * Walks the generated descriptor tables (kafka_msgs.c): for each field present
 * in the requested version, read/write its value according to its type and
 * whether the version is flexible (compact lengths, tagged fields). Reads go
 * through rmq_cur_t (sticky error + offset); every length is checked against
 * the bytes remaining before anything is allocated from the arena. */
#include "protocol/kafka_codec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/kafka_api.h"

#define KMAX_DEPTH 16

static inline bool in_range(int16_t v, int16_t lo, int16_t hi) { return v >= lo && v <= hi; }
static inline bool f_present(const rmq_kafka_field_desc_t *f, int16_t v) { return in_range(v, f->min_ver, f->max_ver); }
static inline bool f_nullable(const rmq_kafka_field_desc_t *f, int16_t v) { return in_range(v, f->null_min, f->null_max); }
static inline bool f_tagged(const rmq_kafka_field_desc_t *f, int16_t v, bool flex) {
    return flex && f->tag >= 0 && in_range(v, f->tag_min, f->tag_max);
}

static size_t elem_size(const rmq_kafka_field_desc_t *f) {
    switch ((rmq_ktype_t)f->type) {
    case RMQ_KT_BOOL: return sizeof(bool);
    case RMQ_KT_INT8: return 1;
    case RMQ_KT_INT16:
    case RMQ_KT_UINT16: return 2;
    case RMQ_KT_INT32: return 4;
    case RMQ_KT_INT64:
    case RMQ_KT_FLOAT64: return 8;
    case RMQ_KT_UUID: return sizeof(rmq_kuuid_t);
    case RMQ_KT_STRING: return sizeof(rmq_kstr_t);
    case RMQ_KT_BYTES:
    case RMQ_KT_RECORDS: return sizeof(rmq_kbytes_t);
    case RMQ_KT_STRUCT: return f->sub->size;
    }
    return 1;
}

/* Smallest number of wire bytes one array element can take. */
static size_t min_wire_size(const rmq_kafka_field_desc_t *f, bool flex) {
    switch ((rmq_ktype_t)f->type) {
    case RMQ_KT_BOOL:
    case RMQ_KT_INT8: return 1;
    case RMQ_KT_INT16:
    case RMQ_KT_UINT16: return 2;
    case RMQ_KT_INT32: return 4;
    case RMQ_KT_INT64:
    case RMQ_KT_FLOAT64: return 8;
    case RMQ_KT_UUID: return 16;
    case RMQ_KT_STRING: return flex ? 1 : 2;
    case RMQ_KT_BYTES:
    case RMQ_KT_RECORDS: return flex ? 1 : 4;
    case RMQ_KT_STRUCT: return 1;
    }
    return 1;
}

/* ---- defaults ---------------------------------------------------------------- */

static void init_value(const rmq_kafka_field_desc_t *f, void *p) {
    switch ((rmq_ktype_t)f->type) {
    case RMQ_KT_BOOL: *(bool *)p = f->def_int != 0; break;
    case RMQ_KT_INT8: *(int8_t *)p = (int8_t)f->def_int; break;
    case RMQ_KT_INT16: *(int16_t *)p = (int16_t)f->def_int; break;
    case RMQ_KT_UINT16: *(uint16_t *)p = (uint16_t)f->def_int; break;
    case RMQ_KT_INT32: *(int32_t *)p = (int32_t)f->def_int; break;
    case RMQ_KT_INT64: *(int64_t *)p = f->def_int; break;
    case RMQ_KT_FLOAT64: *(double *)p = f->def_f64; break;
    case RMQ_KT_UUID: memset(p, 0, sizeof(rmq_kuuid_t)); break;
    case RMQ_KT_STRING: {
        rmq_kstr_t *s = p;
        if (f->def_null) {
            s->ptr = NULL;
            s->len = -1;
        } else {
            *s = rmq_kstr(f->def_str ? f->def_str : "");
        }
        break;
    }
    case RMQ_KT_BYTES:
    case RMQ_KT_RECORDS: {
        rmq_kbytes_t *b = p;
        b->ptr = NULL;
        b->len = f->def_null ? -1 : 0;
        break;
    }
    case RMQ_KT_STRUCT: rmq_kafka_msg_init(f->sub, p); break;
    }
}

void rmq_kafka_msg_init(const rmq_kafka_msg_desc_t *d, void *obj) {
    memset(obj, 0, d->size);
    for (uint16_t i = 0; i < d->nfields; i++) {
        const rmq_kafka_field_desc_t *f = &d->fields[i];
        void *p = (char *)obj + f->offset;
        if (f->is_array) {
            rmq_karr_any_t *arr = p;
            arr->n = f->def_null ? -1 : 0;
            arr->v = NULL;
        } else {
            init_value(f, p);
        }
    }
}

static bool value_is_default(const rmq_kafka_field_desc_t *f, const void *p) {
    switch ((rmq_ktype_t)f->type) {
    case RMQ_KT_BOOL: return *(const bool *)p == (f->def_int != 0);
    case RMQ_KT_INT8: return *(const int8_t *)p == (int8_t)f->def_int;
    case RMQ_KT_INT16: return *(const int16_t *)p == (int16_t)f->def_int;
    case RMQ_KT_UINT16: return *(const uint16_t *)p == (uint16_t)f->def_int;
    case RMQ_KT_INT32: return *(const int32_t *)p == (int32_t)f->def_int;
    case RMQ_KT_INT64: return *(const int64_t *)p == f->def_int;
    case RMQ_KT_FLOAT64: return memcmp(p, &f->def_f64, sizeof(double)) == 0;
    case RMQ_KT_UUID: {
        static const rmq_kuuid_t zero;
        return memcmp(p, &zero, sizeof zero) == 0;
    }
    case RMQ_KT_STRING: {
        const rmq_kstr_t *s = p;
        if (f->def_null) return s->len < 0;
        if (s->len < 0) return false;
        const char *d = f->def_str ? f->def_str : "";
        return strlen(d) == (size_t)s->len && (s->len == 0 || memcmp(d, s->ptr, (size_t)s->len) == 0);
    }
    case RMQ_KT_BYTES:
    case RMQ_KT_RECORDS: {
        const rmq_kbytes_t *b = p;
        return f->def_null ? b->len < 0 : b->len == 0;
    }
    case RMQ_KT_STRUCT: return rmq_kafka_msg_is_default(f->sub, p);
    }
    return true;
}

static bool field_is_default(const rmq_kafka_field_desc_t *f, const void *obj) {
    const void *p = (const char *)obj + f->offset;
    if (f->is_array) {
        const rmq_karr_any_t *arr = p;
        return f->def_null ? arr->n < 0 : arr->n == 0;
    }
    return value_is_default(f, p);
}

bool rmq_kafka_msg_is_default(const rmq_kafka_msg_desc_t *d, const void *obj) {
    for (uint16_t i = 0; i < d->nfields; i++)
        if (!field_is_default(&d->fields[i], obj)) return false;
    return true;
}

/* ---- error reporting ---------------------------------------------------------- */

typedef struct kctx {
    int16_t ver;
    bool flex;
    const rmq_kafka_msg_desc_t *top;
    const rmq_kafka_field_desc_t *stack[KMAX_DEPTH];
    int depth;
    rmq_kafka_decode_error_t *err; /* may be NULL */
    bool recorded;
    /* decode */
    rmq_cur_t *c;
    rmq_arena_t *a;
    /* encode */
    rmq_buf_t *b;
    rmq_err_t eerr;
    rmq_buf_t *root;            /* the output buffer (b differs inside a tagged field) */
    rmq_kafka_splices_t *sp;    /* may be NULL: copy every records field */
} kctx_t;

static inline void push(kctx_t *x, const rmq_kafka_field_desc_t *f) {
    if (x->depth < KMAX_DEPTH) x->stack[x->depth] = f;
    x->depth++;
}

static void err_fill(rmq_kafka_decode_error_t *e, int16_t api_key, int16_t ver, rmq_err_t err, size_t off,
                     const char *field) {
    e->api_key = api_key;
    e->version = ver;
    e->err = err;
    e->offset = off;
    e->field = field;
    snprintf(e->path, sizeof e->path, "%s", field);
}

/* Record the innermost field path once (called on the way out of recursion). */
static void record(kctx_t *x, rmq_err_t err, size_t off) {
    if (x->recorded) return;
    x->recorded = true;
    if (!x->err) return;
    rmq_kafka_decode_error_t *e = x->err;
    e->api_key = x->top->api_key;
    e->version = x->ver;
    e->err = err;
    e->offset = off;
    int depth = x->depth < KMAX_DEPTH ? x->depth : KMAX_DEPTH;
    e->field = depth > 0 ? x->stack[depth - 1]->name : "";
    size_t n = 0;
    e->path[0] = 0;
    for (int i = 0; i < depth && n < sizeof e->path; i++) {
        int w = snprintf(e->path + n, sizeof e->path - n, "%s%s", i ? "." : "", x->stack[i]->name);
        if (w < 0) break;
        n += (size_t)w;
    }
}

void rmq_kafka_decode_error_format(const rmq_kafka_decode_error_t *e, char *buf, size_t cap) {
    if (!cap) return;
    snprintf(buf, cap, "kafka %s api_key=%d (%s) version=%d field=%s offset=%zu", rmq_err_name(e->err),
             e->api_key, rmq_kafka_api_name(e->api_key), e->version, e->path[0] ? e->path : "-", e->offset);
}

/* ---- decoder ---------------------------------------------------------------- */

static void dec_struct(kctx_t *x, const rmq_kafka_msg_desc_t *d, void *obj);

/* Length prefix of a string/bytes/array: int16 or int32 (classic) or
 * uvarint(len+1) (compact). Returns -1 for null, < -1 never (fails instead). */
static int64_t dec_len(kctx_t *x, bool wide) {
    rmq_cur_t *c = x->c;
    size_t start = c->off;
    int64_t n;
    if (x->flex)
        n = (int64_t)rmq_cur_uvarint32(c) - 1;
    else
        n = wide ? rmq_cur_i32(c) : rmq_cur_i16(c);
    if (c->err) return 0;
    if (n < -1) {
        c->off = start; /* report the offset of the length itself */
        rmq_cur_fail(c, RMQ_ERR_BAD_LENGTH);
        return 0;
    }
    return n;
}

static void dec_value(kctx_t *x, const rmq_kafka_field_desc_t *f, void *p, bool nullable) {
    rmq_cur_t *c = x->c;
    switch ((rmq_ktype_t)f->type) {
    case RMQ_KT_BOOL: *(bool *)p = rmq_cur_u8(c) != 0; break;
    case RMQ_KT_INT8: *(int8_t *)p = rmq_cur_i8(c); break;
    case RMQ_KT_INT16: *(int16_t *)p = rmq_cur_i16(c); break;
    case RMQ_KT_UINT16: *(uint16_t *)p = rmq_cur_u16(c); break;
    case RMQ_KT_INT32: *(int32_t *)p = rmq_cur_i32(c); break;
    case RMQ_KT_INT64: *(int64_t *)p = rmq_cur_i64(c); break;
    case RMQ_KT_FLOAT64: *(double *)p = rmq_cur_f64(c); break;
    case RMQ_KT_UUID: {
        const uint8_t *q = rmq_cur_bytes(c, 16);
        if (q) memcpy(p, q, 16);
        break;
    }
    case RMQ_KT_STRING:
    case RMQ_KT_BYTES:
    case RMQ_KT_RECORDS: {
        size_t start = c->off;
        int64_t n = dec_len(x, f->type != RMQ_KT_STRING);
        if (c->err) return;
        const void *q = NULL;
        if (n < 0) {
            if (!nullable) {
                c->off = start;
                rmq_cur_fail(c, RMQ_ERR_BAD_LENGTH);
                return;
            }
        } else {
            if (f->type == RMQ_KT_STRING && n > 0x7fff) { /* Kafka strings fit an int16, compact ones too */
                c->off = start;
                rmq_cur_fail(c, RMQ_ERR_BAD_LENGTH);
                return;
            }
            q = rmq_cur_bytes(c, (size_t)n); /* TRUNCATED if n > remaining */
            if (!q) return;
        }
        if (f->type == RMQ_KT_STRING) {
            rmq_kstr_t *s = p;
            s->ptr = q;
            s->len = (int32_t)n;
        } else {
            rmq_kbytes_t *b = p;
            b->ptr = q;
            b->len = (int32_t)n;
        }
        break;
    }
    case RMQ_KT_STRUCT: dec_struct(x, f->sub, p); break;
    }
}

static void dec_array(kctx_t *x, const rmq_kafka_field_desc_t *f, rmq_karr_any_t *arr, bool nullable) {
    rmq_cur_t *c = x->c;
    size_t start = c->off;
    int64_t n = dec_len(x, true);
    if (c->err) return;
    if (n < 0) {
        if (!nullable) {
            c->off = start;
            rmq_cur_fail(c, RMQ_ERR_BAD_LENGTH);
            return;
        }
        arr->n = -1;
        arr->v = NULL;
        return;
    }
    /* Never trust the count: every element takes at least min_wire_size bytes. */
    if ((uint64_t)n > rmq_cur_remaining(c) / min_wire_size(f, x->flex)) {
        c->off = start;
        rmq_cur_fail(c, RMQ_ERR_TRUNCATED);
        return;
    }
    arr->n = (int32_t)n;
    arr->v = NULL;
    if (n == 0) return;
    size_t es = elem_size(f);
    char *v = rmq_arena_alloc(x->a, (size_t)n * es);
    if (!v) {
        rmq_cur_fail(c, RMQ_ERR_NOMEM);
        return;
    }
    arr->v = v;
    for (int64_t i = 0; i < n && !c->err; i++) {
        void *e = v + (size_t)i * es;
        if (f->type == RMQ_KT_STRUCT) rmq_kafka_msg_init(f->sub, e);
        dec_value(x, f, e, false);
    }
}

static void dec_field(kctx_t *x, const rmq_kafka_field_desc_t *f, void *obj) {
    void *p = (char *)obj + f->offset;
    bool nullable = f_nullable(f, x->ver);
    if (f->is_array)
        dec_array(x, f, p, nullable);
    else
        dec_value(x, f, p, nullable);
}

static void dec_tagged(kctx_t *x, const rmq_kafka_msg_desc_t *d, void *obj) {
    rmq_cur_t *c = x->c;
    uint32_t count = rmq_cur_uvarint32(c);
    for (uint32_t i = 0; i < count && !c->err; i++) {
        uint32_t tag = rmq_cur_uvarint32(c);
        uint32_t size = rmq_cur_uvarint32(c);
        if (c->err) return;
        if (size > rmq_cur_remaining(c)) {
            rmq_cur_fail(c, RMQ_ERR_TRUNCATED);
            return;
        }
        const rmq_kafka_field_desc_t *f = NULL;
        for (uint16_t j = 0; j < d->nfields; j++) {
            const rmq_kafka_field_desc_t *g = &d->fields[j];
            if (g->tag == (int32_t)tag && f_present(g, x->ver) && f_tagged(g, x->ver, x->flex)) {
                f = g;
                break;
            }
        }
        if (!f) { /* unknown tag: skip its bytes */
            rmq_cur_skip(c, size);
            continue;
        }
        /* Decode within a window of exactly `size` bytes; offsets stay absolute. */
        rmq_cur_t win = *c;
        win.len = c->off + size;
        x->c = &win;
        push(x, f);
        dec_field(x, f, obj);
        if (!win.err && win.off != win.len) rmq_cur_fail(&win, RMQ_ERR_BAD_LENGTH);
        x->c = c;
        if (win.err) {
            record(x, win.err, win.err_off);
            c->err = win.err;
            c->err_off = win.err_off;
            x->depth--;
            return;
        }
        x->depth--;
        c->off = win.off;
    }
}

static void dec_struct(kctx_t *x, const rmq_kafka_msg_desc_t *d, void *obj) {
    for (uint16_t i = 0; i < d->nfields; i++) {
        const rmq_kafka_field_desc_t *f = &d->fields[i];
        if (!f_present(f, x->ver) || f_tagged(f, x->ver, x->flex)) continue;
        push(x, f);
        dec_field(x, f, obj);
        if (x->c->err) {
            record(x, x->c->err, x->c->err_off);
            x->depth--;
            return;
        }
        x->depth--;
    }
    if (x->flex) {
        dec_tagged(x, d, obj);
        if (x->c->err) record(x, x->c->err, x->c->err_off);
    }
}

rmq_err_t rmq_kafka_decode_ex(const rmq_kafka_msg_desc_t *d, int16_t version, rmq_cur_t *c, rmq_arena_t *a,
                              void *out, rmq_kafka_decode_error_t *err) {
    rmq_kafka_msg_init(d, out);
    if (c->err) {
        if (err) err_fill(err, d->api_key, version, c->err, c->err_off, "");
        return c->err;
    }
    if (version < d->min_ver || version > d->max_ver) {
        if (err) err_fill(err, d->api_key, version, RMQ_UNSUPPORTED_VERSION, c->off, "");
        return RMQ_UNSUPPORTED_VERSION;
    }
    kctx_t x = {.ver = version, .flex = version >= d->flex_from, .top = d, .err = err, .c = c, .a = a};
    dec_struct(&x, d, out);
    if (c->err) {
        record(&x, c->err, c->err_off);
        return c->err;
    }
    return RMQ_NONE;
}

rmq_err_t rmq_kafka_decode(const rmq_kafka_msg_desc_t *d, int16_t version, rmq_cur_t *c, rmq_arena_t *a,
                           void *out) {
    return rmq_kafka_decode_ex(d, version, c, a, out, NULL);
}

/* ---- encoder ---------------------------------------------------------------- */

static void enc_struct(kctx_t *x, const rmq_kafka_msg_desc_t *d, const void *obj);

static void enc_fail(kctx_t *x, rmq_err_t err) {
    if (x->eerr) return;
    x->eerr = err;
    record(x, err, x->b->len);
}

static void enc_len(kctx_t *x, int64_t n, bool wide) {
    if (x->flex)
        rmq_buf_put_uvarint(x->b, (uint64_t)(n + 1));
    else if (wide)
        rmq_buf_put_i32(x->b, (int32_t)n);
    else
        rmq_buf_put_i16(x->b, (int16_t)n);
}

static void enc_value(kctx_t *x, const rmq_kafka_field_desc_t *f, const void *p, bool nullable) {
    rmq_buf_t *b = x->b;
    switch ((rmq_ktype_t)f->type) {
    case RMQ_KT_BOOL: rmq_buf_put_u8(b, *(const bool *)p ? 1 : 0); break;
    case RMQ_KT_INT8: rmq_buf_put_i8(b, *(const int8_t *)p); break;
    case RMQ_KT_INT16: rmq_buf_put_i16(b, *(const int16_t *)p); break;
    case RMQ_KT_UINT16: rmq_buf_put_u16(b, *(const uint16_t *)p); break;
    case RMQ_KT_INT32: rmq_buf_put_i32(b, *(const int32_t *)p); break;
    case RMQ_KT_INT64: rmq_buf_put_i64(b, *(const int64_t *)p); break;
    case RMQ_KT_FLOAT64: rmq_buf_put_f64(b, *(const double *)p); break;
    case RMQ_KT_UUID: rmq_buf_put(b, p, 16); break;
    case RMQ_KT_STRING:
    case RMQ_KT_BYTES:
    case RMQ_KT_RECORDS: {
        const void *ptr;
        int32_t len;
        if (f->type == RMQ_KT_STRING) {
            ptr = ((const rmq_kstr_t *)p)->ptr;
            len = ((const rmq_kstr_t *)p)->len;
            if (len > 0x7fff) { /* Kafka strings are at most int16 long */
                enc_fail(x, RMQ_ERR_INVALID_ARG);
                return;
            }
        } else {
            ptr = ((const rmq_kbytes_t *)p)->ptr;
            len = ((const rmq_kbytes_t *)p)->len;
        }
        if (len < 0) {
            if (!nullable) {
                enc_fail(x, RMQ_ERR_INVALID_ARG);
                return;
            }
            enc_len(x, -1, f->type != RMQ_KT_STRING);
            return;
        }
        if (len > 0 && !ptr) {
            enc_fail(x, RMQ_ERR_INVALID_ARG);
            return;
        }
        enc_len(x, len, f->type != RMQ_KT_STRING);
        if (f->type == RMQ_KT_RECORDS && x->sp && b == x->root && (size_t)len >= x->sp->min_len) {
            if (x->sp->n == x->sp->cap) { /* referenced, not copied: see rmq_kafka_encode_response_spliced */
                size_t nc = x->sp->cap ? x->sp->cap * 2 : 16;
                rmq_buf_ext_t *nv = realloc(x->sp->v, nc * sizeof(*nv));
                if (!nv) {
                    enc_fail(x, RMQ_ERR_NOMEM);
                    return;
                }
                x->sp->v = nv;
                x->sp->cap = nc;
            }
            x->sp->v[x->sp->n++] = (rmq_buf_ext_t){b->len, ptr, (size_t)len};
            x->sp->total += (size_t)len;
        } else if (len) {
            rmq_buf_put(b, ptr, (size_t)len);
        }
        break;
    }
    case RMQ_KT_STRUCT: enc_struct(x, f->sub, p); break;
    }
}

static void enc_field(kctx_t *x, const rmq_kafka_field_desc_t *f, const void *obj) {
    const void *p = (const char *)obj + f->offset;
    bool nullable = f_nullable(f, x->ver);
    if (!f->is_array) {
        enc_value(x, f, p, nullable);
        return;
    }
    const rmq_karr_any_t *arr = p;
    if (arr->n < 0) {
        if (!nullable) {
            enc_fail(x, RMQ_ERR_INVALID_ARG);
            return;
        }
        enc_len(x, -1, true);
        return;
    }
    if (arr->n > 0 && !arr->v) {
        enc_fail(x, RMQ_ERR_INVALID_ARG);
        return;
    }
    enc_len(x, arr->n, true);
    size_t es = elem_size(f);
    for (int32_t i = 0; i < arr->n && !x->eerr; i++)
        enc_value(x, f, (const char *)arr->v + (size_t)i * es, false);
}

static void enc_struct(kctx_t *x, const rmq_kafka_msg_desc_t *d, const void *obj) {
    uint32_t ntag = 0;
    for (uint16_t i = 0; i < d->nfields && !x->eerr; i++) {
        const rmq_kafka_field_desc_t *f = &d->fields[i];
        if (!f_present(f, x->ver)) continue;
        if (f_tagged(f, x->ver, x->flex)) {
            if (!field_is_default(f, obj)) ntag++;
            continue;
        }
        push(x, f);
        enc_field(x, f, obj);
        x->depth--;
    }
    if (!x->flex || x->eerr) return;
    rmq_buf_put_uvarint(x->b, ntag);
    if (!ntag) return;
    /* Tagged fields are in ascending tag order in the table. Each is encoded
     * into a scratch buffer first because its size precedes it. */
    rmq_buf_t *outer = x->b;
    for (uint16_t i = 0; i < d->nfields && !x->eerr; i++) {
        const rmq_kafka_field_desc_t *f = &d->fields[i];
        if (!f_present(f, x->ver) || !f_tagged(f, x->ver, x->flex) || field_is_default(f, obj)) continue;
        rmq_buf_t tmp;
        rmq_buf_init(&tmp);
        x->b = &tmp;
        push(x, f);
        enc_field(x, f, obj);
        x->depth--;
        x->b = outer;
        if (tmp.oom) enc_fail(x, RMQ_ERR_NOMEM);
        if (!x->eerr) {
            rmq_buf_put_uvarint(outer, (uint32_t)f->tag);
            rmq_buf_put_uvarint(outer, tmp.len);
            rmq_buf_put(outer, tmp.data, tmp.len);
        }
        rmq_buf_free(&tmp);
    }
}

static rmq_err_t encode_sp(const rmq_kafka_msg_desc_t *d, int16_t version, const void *in, rmq_buf_t *out,
                           rmq_kafka_decode_error_t *err, rmq_kafka_splices_t *sp) {
    if (version < d->min_ver || version > d->max_ver) {
        if (err) err_fill(err, d->api_key, version, RMQ_UNSUPPORTED_VERSION, out->len, "");
        return RMQ_UNSUPPORTED_VERSION;
    }
    kctx_t x = {.ver = version, .flex = version >= d->flex_from, .top = d, .err = err, .b = out, .root = out,
                .sp = sp};
    enc_struct(&x, d, in);
    if (!x.eerr && out->oom) {
        x.eerr = RMQ_ERR_NOMEM;
        record(&x, x.eerr, out->len);
    }
    return x.eerr;
}

rmq_err_t rmq_kafka_encode_ex(const rmq_kafka_msg_desc_t *d, int16_t version, const void *in, rmq_buf_t *out,
                              rmq_kafka_decode_error_t *err) {
    return encode_sp(d, version, in, out, err, NULL);
}

rmq_err_t rmq_kafka_encode(const rmq_kafka_msg_desc_t *d, int16_t version, const void *in, rmq_buf_t *out) {
    return rmq_kafka_encode_ex(d, version, in, out, NULL);
}

/* ---- headers ----------------------------------------------------------------- */

int rmq_kafka_request_header_version(int16_t api_key, int16_t api_version) {
    const rmq_kafka_api_info_t *i = rmq_kafka_api_info(api_key);
    return i && api_version >= i->request->flex_from ? 2 : 1;
}

int rmq_kafka_response_header_version(int16_t api_key, int16_t api_version) {
    if (api_key == 18) return 0; /* ApiVersions: always v0 so any client can parse it */
    const rmq_kafka_api_info_t *i = rmq_kafka_api_info(api_key);
    return i && api_version >= i->response->flex_from ? 1 : 0;
}

static void skip_tagged(rmq_cur_t *c) {
    uint32_t n = rmq_cur_uvarint32(c);
    for (uint32_t i = 0; i < n && !c->err; i++) {
        (void)rmq_cur_uvarint32(c);
        uint32_t size = rmq_cur_uvarint32(c);
        rmq_cur_skip(c, size);
    }
}

rmq_err_t rmq_kafka_decode_request_header(rmq_cur_t *c, rmq_kafka_request_header_t *h) {
    h->api_key = rmq_cur_i16(c);
    h->api_version = rmq_cur_i16(c);
    h->correlation_id = rmq_cur_i32(c);
    h->client_id.ptr = NULL;
    h->client_id.len = -1;
    h->header_version = (int8_t)rmq_kafka_request_header_version(h->api_key, h->api_version);
    /* client_id is a classic nullable string even in header v2. */
    int16_t n = rmq_cur_i16(c);
    if (c->err) return c->err;
    if (n < -1) {
        rmq_cur_fail(c, RMQ_ERR_BAD_LENGTH);
        return c->err;
    }
    if (n >= 0) {
        h->client_id.ptr = (const char *)rmq_cur_bytes(c, (size_t)n);
        h->client_id.len = n;
    }
    if (h->header_version >= 2) skip_tagged(c);
    return c->err;
}

rmq_err_t rmq_kafka_encode_request_header(const rmq_kafka_request_header_t *h, rmq_buf_t *out) {
    rmq_buf_put_i16(out, h->api_key);
    rmq_buf_put_i16(out, h->api_version);
    rmq_buf_put_i32(out, h->correlation_id);
    if (h->header_version >= 1) {
        if (h->client_id.len > 0x7fff || (h->client_id.len > 0 && !h->client_id.ptr)) return RMQ_ERR_INVALID_ARG;
        rmq_buf_put_i16(out, (int16_t)(h->client_id.len < 0 ? -1 : h->client_id.len));
        if (h->client_id.len > 0) rmq_buf_put(out, h->client_id.ptr, (size_t)h->client_id.len);
    }
    if (h->header_version >= 2) rmq_buf_put_uvarint(out, 0);
    return out->oom ? RMQ_ERR_NOMEM : RMQ_NONE;
}

rmq_err_t rmq_kafka_encode_response_header(int32_t correlation_id, int header_version, rmq_buf_t *out) {
    rmq_buf_put_i32(out, correlation_id);
    if (header_version >= 1) rmq_buf_put_uvarint(out, 0);
    return out->oom ? RMQ_ERR_NOMEM : RMQ_NONE;
}

rmq_err_t rmq_kafka_decode_response_header(rmq_cur_t *c, int header_version, int32_t *correlation_id) {
    *correlation_id = rmq_cur_i32(c);
    if (header_version >= 1) skip_tagged(c);
    return c->err;
}

/* ---- frames -------------------------------------------------------------------- */

rmq_err_t rmq_kafka_decode_request(const uint8_t *frame, size_t len, rmq_arena_t *a, rmq_kafka_request_header_t *h,
                                   void **body, const rmq_kafka_msg_desc_t **desc, rmq_kafka_decode_error_t *err) {
    *body = NULL;
    *desc = NULL;
    rmq_cur_t c;
    rmq_cur_init(&c, frame, len);
    rmq_err_t rc = rmq_kafka_decode_request_header(&c, h);
    if (rc) {
        if (err) err_fill(err, h->api_key, h->api_version, rc, c.err_off, "header");
        return rc;
    }
    const rmq_kafka_api_info_t *info = rmq_kafka_api_info(h->api_key);
    if (!info) {
        if (err) err_fill(err, h->api_key, h->api_version, RMQ_ERR_UNSUPPORTED, 0, "header");
        return RMQ_ERR_UNSUPPORTED;
    }
    const rmq_kafka_msg_desc_t *d = info->request;
    if (h->api_version < d->min_ver || h->api_version > d->max_ver) {
        if (err) err_fill(err, h->api_key, h->api_version, RMQ_UNSUPPORTED_VERSION, 2, "header");
        return RMQ_UNSUPPORTED_VERSION;
    }
    void *obj = rmq_arena_alloc(a, d->size);
    if (!obj) {
        if (err) err_fill(err, h->api_key, h->api_version, RMQ_ERR_NOMEM, c.off, "");
        return RMQ_ERR_NOMEM;
    }
    rc = rmq_kafka_decode_ex(d, h->api_version, &c, a, obj, err);
    if (rc) return rc;
    if (c.off != c.len) {
        if (err) err_fill(err, h->api_key, h->api_version, RMQ_ERR_BAD_LENGTH, c.off, "(trailing bytes)");
        return RMQ_ERR_BAD_LENGTH;
    }
    *body = obj;
    *desc = d;
    return RMQ_NONE;
}

rmq_err_t rmq_kafka_encode_response_spliced(int16_t api_key, int16_t version, int32_t correlation_id,
                                            const void *body, rmq_buf_t *out, rmq_kafka_splices_t *sp) {
    const rmq_kafka_api_info_t *info = rmq_kafka_api_info(api_key);
    if (!info) return RMQ_ERR_UNSUPPORTED;
    size_t start = out->len, ext0 = sp ? sp->total : 0;
    rmq_buf_put_i32(out, 0);
    rmq_err_t rc = rmq_kafka_encode_response_header(correlation_id, rmq_kafka_response_header_version(api_key, version),
                                                    out);
    if (!rc) rc = encode_sp(info->response, version, body, out, NULL, sp);
    size_t body_len = out->len - start - 4 + (sp ? sp->total - ext0 : 0);
    if (!rc && body_len > INT32_MAX) rc = RMQ_ERR_TOO_LARGE;
    if (rc) return rc;
    rmq_buf_patch_i32(out, start, (int32_t)body_len);
    return RMQ_NONE;
}

rmq_err_t rmq_kafka_encode_response(int16_t api_key, int16_t version, int32_t correlation_id, const void *body,
                                    rmq_buf_t *out) {
    return rmq_kafka_encode_response_spliced(api_key, version, correlation_id, body, out, NULL);
}

rmq_err_t rmq_kafka_encode_request(const rmq_kafka_request_header_t *h, const void *body, rmq_buf_t *out) {
    const rmq_kafka_api_info_t *info = rmq_kafka_api_info(h->api_key);
    if (!info) return RMQ_ERR_UNSUPPORTED;
    rmq_kafka_request_header_t hh = *h;
    hh.header_version = (int8_t)rmq_kafka_request_header_version(h->api_key, h->api_version);
    size_t start = out->len;
    rmq_buf_put_i32(out, 0);
    rmq_err_t rc = rmq_kafka_encode_request_header(&hh, out);
    if (!rc) rc = rmq_kafka_encode(info->request, h->api_version, body, out);
    if (!rc && out->len - start - 4 > INT32_MAX) rc = RMQ_ERR_TOO_LARGE;
    if (rc) return rc;
    rmq_buf_patch_i32(out, start, (int32_t)(out->len - start - 4));
    return RMQ_NONE;
}
