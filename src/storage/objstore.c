/* objstore.c - the backend-independent part of the object-store interface
 * (objstore.h): open by config type, dispatch through the ops table, list
 * result ownership, key validation and status messages. Backends live in
 * objstore_local.c and objstore_s3.c. */
#include "storage/objstore.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

rmq_err_t rmq_obj_fail(rmq_obj_status_t *st, rmq_err_t err, int http_status, const char *fmt, ...) {
    if (st) {
        st->http_status = http_status;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(st->msg, sizeof(st->msg), fmt, ap);
        va_end(ap);
    }
    return err;
}

static void st_clear(rmq_obj_status_t *st) {
    if (st) {
        st->http_status = 0;
        st->msg[0] = '\0';
    }
}

rmq_err_t rmq_obj_config_from_broker(const rmq_broker_config_t *bc, rmq_obj_config_t *out) {
    memset(out, 0, sizeof(*out));
    const char *t = bc->object_storage.storage_type ? bc->object_storage.storage_type : "local";
    if (strcmp(t, "local") == 0) out->type = RMQ_OBJ_LOCAL;
    else if (strcmp(t, "s3") == 0) out->type = RMQ_OBJ_S3;
    else if (strcmp(t, "gcs") == 0) out->type = RMQ_OBJ_GCS;
    else return RMQ_ERR_CONFIG;
    out->root = bc->object_storage.path;
    out->endpoint = bc->object_storage.endpoint;
    out->region = bc->object_storage.region;
    out->bucket = bc->object_storage.bucket;
    out->path_style = bc->object_storage.path_style;
    out->access_key = bc->object_storage.access_key;
    out->secret_key = bc->object_storage.secret_key;
    out->multipart_threshold = bc->object_storage.multipart_threshold;
    return 0;
}

rmq_err_t rmq_obj_open(const rmq_obj_config_t *cfg, rmq_obj_store_t **out, rmq_obj_status_t *st) {
    st_clear(st);
    *out = NULL;
    if (!cfg) return rmq_obj_fail(st, RMQ_ERR_CONFIG, 0, "no object store config");
    switch (cfg->type) {
    case RMQ_OBJ_LOCAL:
        return rmq_obj_local_open(cfg, out, st);
    case RMQ_OBJ_S3:
    case RMQ_OBJ_GCS:
        return rmq_s3_open(cfg, out, st);
    }
    return rmq_obj_fail(st, RMQ_ERR_CONFIG, 0, "unknown object store type %d", (int)cfg->type);
}

void rmq_obj_close(rmq_obj_store_t *s) {
    if (s && s->ops && s->ops->close) s->ops->close(s);
}

void rmq_obj_set_pacer(rmq_obj_store_t *s, rmq_obj_pace_fn fn, void *ud) {
    s->pace = fn;
    s->pace_ud = fn ? ud : NULL;
}

rmq_err_t rmq_obj_put(rmq_obj_store_t *s, const char *key, const void *data, size_t len, rmq_obj_status_t *st) {
    st_clear(st);
    if (!rmq_obj_key_valid(key)) return rmq_obj_fail(st, RMQ_ERR_INVALID_ARG, 0, "invalid object key");
    if (!data && len) return rmq_obj_fail(st, RMQ_ERR_INVALID_ARG, 0, "NULL data");
    return s->ops->put(s, key, data, len, st);
}

rmq_err_t rmq_obj_get(rmq_obj_store_t *s, const char *key, uint64_t offset, int64_t length, rmq_buf_t *out,
                      rmq_obj_status_t *st) {
    st_clear(st);
    if (!rmq_obj_key_valid(key)) return rmq_obj_fail(st, RMQ_ERR_INVALID_ARG, 0, "invalid object key");
    if (length < -1) return rmq_obj_fail(st, RMQ_ERR_INVALID_ARG, 0, "negative length");
    if (length > 0 && offset > UINT64_MAX - (uint64_t)length)
        return rmq_obj_fail(st, RMQ_ERR_INVALID_ARG, 0, "range overflows");
    return s->ops->get(s, key, offset, length, out, st);
}

rmq_err_t rmq_obj_head(rmq_obj_store_t *s, const char *key, uint64_t *size, rmq_obj_status_t *st) {
    st_clear(st);
    if (!rmq_obj_key_valid(key)) return rmq_obj_fail(st, RMQ_ERR_INVALID_ARG, 0, "invalid object key");
    return s->ops->head(s, key, size, st);
}

rmq_err_t rmq_obj_list(rmq_obj_store_t *s, const char *prefix, const char *token, size_t max_keys,
                       rmq_obj_list_t *out, rmq_obj_status_t *st) {
    st_clear(st);
    rmq_obj_list_free(out);
    if (prefix && strlen(prefix) > RMQ_OBJ_KEY_MAX) return rmq_obj_fail(st, RMQ_ERR_INVALID_ARG, 0, "prefix too long");
    return s->ops->list(s, prefix && *prefix ? prefix : NULL, token && *token ? token : NULL, max_keys, out, st);
}

rmq_err_t rmq_obj_delete(rmq_obj_store_t *s, const char *const *keys, size_t n, rmq_obj_status_t *st) {
    st_clear(st);
    for (size_t i = 0; i < n; i++)
        if (!rmq_obj_key_valid(keys[i])) return rmq_obj_fail(st, RMQ_ERR_INVALID_ARG, 0, "invalid object key");
    if (n == 0) return 0;
    return s->ops->del(s, keys, n, st);
}

void rmq_obj_list_init(rmq_obj_list_t *l) { memset(l, 0, sizeof(*l)); }

void rmq_obj_list_free(rmq_obj_list_t *l) {
    for (size_t i = 0; i < l->n; i++) free(l->entries[i].key);
    free(l->entries);
    free(l->next_token);
    memset(l, 0, sizeof(*l));
}

rmq_err_t rmq_obj_list_push(rmq_obj_list_t *l, const char *key, size_t n, uint64_t size) {
    if (l->n == l->cap) {
        size_t nc = l->cap ? l->cap * 2 : 64;
        rmq_obj_entry_t *ne = realloc(l->entries, nc * sizeof(*ne));
        if (!ne) return RMQ_ERR_NOMEM;
        l->entries = ne;
        l->cap = nc;
    }
    char *k = malloc(n + 1);
    if (!k) return RMQ_ERR_NOMEM;
    memcpy(k, key, n);
    k[n] = '\0';
    l->entries[l->n].key = k;
    l->entries[l->n].size = size;
    l->n++;
    return 0;
}

bool rmq_obj_key_valid(const char *key) {
    if (!key || !*key || key[0] == '/') return false;
    size_t n = strlen(key);
    if (n > RMQ_OBJ_KEY_MAX) return false;
    size_t seg = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i == n || key[i] == '/') {
            size_t l = i - seg;
            if (l == 0) return false;
            if (l == 1 && key[seg] == '.') return false;
            if (l == 2 && key[seg] == '.' && key[seg + 1] == '.') return false;
            seg = i + 1;
            continue;
        }
        unsigned char c = (unsigned char)key[i];
        if (c < 0x20 || c == 0x7f) return false;
    }
    return true;
}
