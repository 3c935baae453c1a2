/* tier_glue.c - tiered storage wired into the broker (see tier_glue.h and
 * docs/tiering.md): object store from the broker options, the orphan sweep
 * and WAL seeding at start, the uploader's manifest commit (an
 * ObjectManifestAdd proposed through the metadata log), fetches of offsets
 * that left the WAL (manifest lookup on the I/O thread, the read on a tier
 * worker, the result posted back to the loop), and the retention thread
 * (time and size per topic: trims the store, commits ObjectManifestTrim,
 * deletes the objects that became deletable), and the deletion of a deleted
 * topic's objects (collected before the delete, deleted by the retention
 * thread once the manifest no longer holds them). */
#include "broker/tier_glue.h"
#include "common/clock.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "broker/broker_int.h"
#include "common/log.h"

#define SUB "tier"
#define RETENTION_CHECK_MS 1000
#define LOCAL_MAX_UPLOADS 2 /* concurrent uploads to the local backend (see rmq_btier_start) */
/* Segment ids, and so object ids and keys, of broker N in quorum mode lie in
 * [N << SEG_ID_BITS, (N + 1) << SEG_ID_BITS): every broker's WAL numbers its
 * segments from 1, and in one cluster-wide manifest two brokers' segment 1
 * would be one object (the second commit, same id and often the same key,
 * was taken as a repeat of the first and its ranges were lost). Embedded
 * mode keeps [0, 1 << SEG_ID_BITS), so existing data dirs are unchanged. */
#define SEG_ID_BITS 40

struct rmq_btier {
    rmq_obj_store_t *os;
    rmq_tier_uploader_t *up;
    rmq_tier_reader_t *rd;
    char prefix[64]; /* "v1/<cluster id>" */
    pthread_t ret_thr;
    bool ret_started;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stop;
    uint64_t retention_trims, objects_deleted, delete_failures; /* under mu */
    uint64_t id_lo, id_hi;   /* this broker's segment-id range (SEG_ID_BITS) */
    bool sweep_pending;      /* a topic was deleted elsewhere: sweep our dead objects (under mu) */
    char **gone;             /* keys of deleted topics' objects to check and delete (under mu, owned) */
    size_t n_gone, cap_gone;
};

/* ---- object deletion ---- */

static void delete_keys(rmq_btier_t *t, char *const *keys, size_t n);
static void delete_unused_now(rmq_broker_t *b, char **keys, size_t n);

/* Append copies of the result's deleted keys to *keys (n_keys of them,
 * owned; the array grows). false, keys untouched, if out of memory. */
static bool keys_add_result(char ***keys, size_t *n_keys, const rmq_meta_result_t *res) {
    if (!res || !res->n_deleted_keys) return true;
    char **v = realloc(*keys, (*n_keys + res->n_deleted_keys) * sizeof *v);
    if (!v) return false;
    *keys = v;
    for (size_t i = 0; i < res->n_deleted_keys; i++)
        if ((v[*n_keys] = strdup(res->deleted_keys[i]))) (*n_keys)++;
    return true;
}

/* After a command that may have killed objects (a trim, a commit dead on
 * arrival): delete the candidates (owned array of owned keys, freed here)
 * and the result's deleted keys that the manifest no longer holds. Not the
 * result alone: it names at most RMQ_META_RESULT_MAX_KEYS keys, and a
 * quorum-mode PROPOSE answer carries none. Calling thread. */
static void delete_dead(rmq_broker_t *b, char **cands, size_t n, const rmq_meta_result_t *res) {
    if (!keys_add_result(&cands, &n, res))
        RMQ_WARN(SUB, "msg=\"out of memory listing dead objects; the next start sweeps the rest\"");
    delete_unused_now(b, cands, n);
}

static void delete_keys(rmq_btier_t *t, char *const *keys, size_t n) {
    if (!n) return;
    rmq_obj_status_t st;
    rmq_err_t e = rmq_obj_delete(t->os, (const char *const *)keys, n, &st);
    for (size_t i = 0; i < n; i++) {
        uint64_t id;
        if (!rmq_tier_key_parse(keys[i], t->prefix, &id) && t->rd) rmq_tier_reader_forget(t->rd, id);
    }
    pthread_mutex_lock(&t->mu);
    if (e) t->delete_failures += n;
    else t->objects_deleted += n;
    pthread_mutex_unlock(&t->mu);
    if (e) /* the next start's orphan sweep retries */
        RMQ_WARN(SUB, "msg=\"object delete failed\" objects=%zu err=%s detail=\"%s\"", n, rmq_err_name(e), st.msg);
    else
        RMQ_INFO(SUB, "msg=\"objects deleted\" objects=%zu first=%s", n, keys[0]);
}

/* ---- manifest commit (uploader worker thread) ---- */

static rmq_err_t commit_manifest(void *ud, const rmq_tier_manifest_t *m, char *err, size_t errlen) {
    rmq_broker_t *b = ud;
    rmq_meta_obj_range_t *rs = calloc(m->n_ranges, sizeof *rs);
    if (!rs) return RMQ_ERR_NOMEM;
    for (size_t i = 0; i < m->n_ranges; i++)
        rs[i] = (rmq_meta_obj_range_t){m->ranges[i].stream_id,   m->ranges[i].base_offset,
                                       m->ranges[i].end_offset,  m->ranges[i].byte_offset,
                                       m->ranges[i].byte_length, m->ranges[i].max_ts};
    rmq_meta_cmd_t cmd;
    memset(&cmd, 0, sizeof cmd);
    cmd.type = RMQ_META_CMD_OBJECT_MANIFEST_ADD;
    cmd.u.manifest_add.key = m->key;
    cmd.u.manifest_add.object_id = m->object_id;
    cmd.u.manifest_add.size = m->size;
    cmd.u.manifest_add.n_ranges = (uint32_t)m->n_ranges;
    cmd.u.manifest_add.ranges = rs;
    rmq_meta_result_t res;
    rmq_meta_result_init(&res);
    rmq_err_t e = rmq_broker_propose(b, &cmd, &res);
    free(rs);
    if (e) {
        snprintf(err, errlen, "%s", res.msg);
    } else { /* dead on arrival (trimmed meanwhile): the manifest dropped it at once */
        char **k = malloc(sizeof *k);
        if (k && !(k[0] = strdup(m->key))) {
            free(k);
            k = NULL;
        }
        delete_dead(b, k, k ? 1 : 0, &res);
    }
    rmq_meta_result_free(&res);
    return e;
}

/* ---- start / stop ---- */

/* Delete the objects under our prefix that no manifest entry holds. At
 * startup (running = false, before the uploader) every such key is an
 * orphan of ours, except, in quorum mode, those outside our segment-id
 * range: another broker's object that is PUT but not committed yet. While
 * running (a topic deleted through another broker, whose result named our
 * objects to nobody), only keys in our range whose segment has left the WAL
 * are: a live segment's object may still be on its way to the manifest. */
static void sweep_orphans(rmq_broker_t *b, rmq_btier_t *t, bool running) {
    char prefix[96];
    snprintf(prefix, sizeof prefix, "%s/segments/", t->prefix);
    rmq_obj_list_t l;
    rmq_obj_list_init(&l);
    char *token = NULL;
    size_t swept = 0;
    for (;;) {
        rmq_obj_status_t st;
        rmq_err_t e = rmq_obj_list(t->os, prefix, token, 0, &l, &st);
        free(token);
        token = NULL;
        if (e) {
            RMQ_WARN(SUB, "msg=\"cannot list objects for the orphan sweep\" err=%s detail=\"%s\"", rmq_err_name(e),
                     st.msg);
            break;
        }
        char **gone = calloc(l.n ? l.n : 1, sizeof *gone);
        size_t ng = 0;
        for (size_t i = 0; gone && i < l.n; i++) {
            char *key = l.entries[i].key;
            uint64_t id = 0;
            /* in quorum mode other brokers' objects share the prefix: one
             * not committed yet is theirs to keep, not an orphan of ours */
            if ((b->cluster || running) &&
                (rmq_tier_key_parse(key, t->prefix, &id) || id < t->id_lo || id >= t->id_hi))
                continue;
            if (running && rmq_store_segment_live(b->store, id)) continue;
            if (!rmq_meta_state_manifest_has_key(b->state, key)) gone[ng++] = key;
        }
        delete_keys(t, gone, ng);
        swept += ng;
        free(gone);
        if (!l.truncated) break;
        token = strdup(l.next_token);
        if (!token) break;
    }
    rmq_obj_list_free(&l);
    if (swept) RMQ_INFO(SUB, "msg=\"orphan objects deleted\" objects=%zu", swept);
}

typedef struct seed_ctx {
    rmq_broker_t *b;
    rmq_tier_seed_stream_t *v;
    size_t n, cap;
} seed_ctx_t;

static int seed_collect(void *ud, const rmq_meta_topic_t *t) {
    seed_ctx_t *c = ud;
    for (int32_t p = 0; p < t->n_partitions; p++) {
        if (c->n == c->cap) {
            size_t nc = c->cap ? c->cap * 2 : 64;
            rmq_tier_seed_stream_t *nv = realloc(c->v, nc * sizeof *nv);
            if (!nv) return 1;
            c->v = nv;
            c->cap = nc;
        }
        c->v[c->n++] = (rmq_tier_seed_stream_t){t->partitions[p].stream_id, 0, 0};
    }
    return 0;
}

rmq_err_t rmq_btier_prepare(rmq_broker_t *b, char *errbuf, size_t errlen) {
    const rmq_broker_opts_t *o = &b->o;
    rmq_btier_t *t = calloc(1, sizeof *t);
    if (!t) return RMQ_ERR_NOMEM;
    pthread_mutex_init(&t->mu, NULL);
    pthread_cond_init(&t->cv, NULL);
    b->tier = t;
    rmq_meta_uuid_t cid;
    char cid_txt[23] = "nocluster";
    if (rmq_meta_state_cluster_id(b->state, &cid)) rmq_meta_uuid_to_base64(&cid, cid_txt);
    snprintf(t->prefix, sizeof t->prefix, "v1/%s", cid_txt);
    t->id_lo = b->cluster ? (uint64_t)(uint32_t)b->o.node_id << SEG_ID_BITS : 0;
    t->id_hi = t->id_lo + (1ull << SEG_ID_BITS);

    const char *type = o->obj_type && *o->obj_type ? o->obj_type : "local";
    char root[4096];
    if (o->obj_path && *o->obj_path) snprintf(root, sizeof root, "%s", o->obj_path);
    else snprintf(root, sizeof root, "%s/objects", b->data_dir);
    rmq_obj_config_t oc;
    memset(&oc, 0, sizeof oc);
    oc.type = !strcmp(type, "s3") ? RMQ_OBJ_S3 : !strcmp(type, "gcs") ? RMQ_OBJ_GCS : RMQ_OBJ_LOCAL;
    oc.root = root;
    oc.endpoint = o->obj_endpoint;
    oc.region = o->obj_region;
    oc.bucket = o->obj_bucket;
    oc.path_style = o->obj_path_style;
    oc.access_key = o->obj_access_key;
    oc.secret_key = o->obj_secret_key;
    oc.multipart_threshold = o->obj_multipart_threshold;
    oc.allow_small_parts = true;
    rmq_obj_status_t st;
    rmq_err_t e = rmq_obj_open(&oc, &t->os, &st);
    if (e) {
        snprintf(errbuf, errlen, "cannot open the %s object store: %s", type, st.msg);
        return e;
    }
    sweep_orphans(b, t, false);

    /* an empty WAL directory continues every stream at its manifest end */
    seed_ctx_t sc = {.b = b};
    rmq_meta_state_foreach_topic(b->state, seed_collect, &sc);
    size_t k = 0;
    for (size_t i = 0; i < sc.n; i++) {
        int64_t ls = 0, end = 0;
        if (!rmq_meta_state_manifest_stream(b->state, sc.v[i].stream_id, &ls, &end, NULL, NULL)) continue;
        sc.v[k++] = (rmq_tier_seed_stream_t){sc.v[i].stream_id, ls, end};
    }
    /* above this broker's own objects (and in its range): keys never collide */
    uint64_t max_id = rmq_meta_state_manifest_max_id_in(b->state, t->id_lo, t->id_hi);
    bool seeded = false;
    e = rmq_tier_seed_wal(b->wal_dir, (max_id > t->id_lo ? max_id : t->id_lo) + 1, sc.v, k, &seeded, errbuf,
                          errlen);
    free(sc.v);
    return e;
}

static void *retention_main(void *arg);

rmq_err_t rmq_btier_start(rmq_broker_t *b, char *errbuf, size_t errlen) {
    rmq_btier_t *t = b->tier;
    const rmq_broker_opts_t *o = &b->o;
    rmq_tier_reader_config_t rc;
    memset(&rc, 0, sizeof rc);
    rc.cache.capacity_bytes = o->read_cache_bytes;
    rc.workers = 4;
    t->rd = rmq_tier_reader_new(&rc, t->os);
    if (!t->rd) {
        snprintf(errbuf, errlen, "cannot start the tiered reader");
        return RMQ_ERR_NOMEM;
    }
    rmq_tier_upload_config_t uc;
    memset(&uc, 0, sizeof uc);
    uc.key_prefix = t->prefix;
    uc.max_concurrent_uploads = o->max_concurrent_uploads;
    /* The local backend writes every object to one disk, through one shared
     * pacer: a third upload at once adds no bandwidth, only another object
     * buffer of a segment's size, faulted in fresh because the uploader
     * keeps two (32k page faults per 128 MiB, in a third of the standard
     * benchmark's latency steps; bench/README.md "Two uploads at a time"). */
    if (!strcmp(t->os->name, "local") && uc.max_concurrent_uploads > LOCAL_MAX_UPLOADS)
        uc.max_concurrent_uploads = LOCAL_MAX_UPLOADS;
    uc.bandwidth_bytes_per_sec = o->upload_bandwidth_bytes_per_sec;
    rmq_err_t e = rmq_tier_uploader_start(&uc, t->os, b->store, commit_manifest, b, &t->up);
    if (e) {
        snprintf(errbuf, errlen, "cannot start the uploader: %s", rmq_err_name(e));
        return e;
    }
    rmq_store_set_sealed_cb(b->store, rmq_tier_uploader_on_sealed, t->up);
    if (pthread_create(&t->ret_thr, NULL, retention_main, b) == 0) t->ret_started = true;
    RMQ_INFO(SUB, "msg=\"tiered storage started\" backend=%s prefix=%s uploads=%d read_cache=%llu", t->os->name,
             t->prefix, uc.max_concurrent_uploads, (unsigned long long)o->read_cache_bytes);
    return RMQ_NONE;
}

void rmq_btier_stop(rmq_broker_t *b) {
    rmq_btier_t *t = b->tier;
    if (!t) return;
    pthread_mutex_lock(&t->mu);
    t->stop = true;
    pthread_cond_broadcast(&t->cv);
    pthread_mutex_unlock(&t->mu);
    if (t->ret_started) pthread_join(t->ret_thr, NULL);
    if (b->store) rmq_store_set_sealed_cb(b->store, NULL, NULL);
    rmq_tier_uploader_stop(t->up);
    rmq_tier_reader_free(t->rd);
    rmq_obj_close(t->os);
    rmq_btier_keys_free(t->gone, t->n_gone); /* queued after the thread stopped: the next start sweeps them */
    pthread_mutex_destroy(&t->mu);
    pthread_cond_destroy(&t->cv);
    free(t);
    b->tier = NULL;
}

bool rmq_btier_stats(rmq_broker_t *b, rmq_btier_stats_t *out) {
    rmq_btier_t *t = b->tier;
    memset(out, 0, sizeof *out);
    if (!t || !t->up || !t->rd) return false;
    rmq_tier_uploader_stats(t->up, &out->upload);
    rmq_tier_reader_stats(t->rd, &out->read);
    pthread_mutex_lock(&t->mu);
    out->retention_trims = t->retention_trims;
    out->objects_deleted = t->objects_deleted;
    out->delete_failures = t->delete_failures;
    pthread_mutex_unlock(&t->mu);
    return true;
}

/* ---- fetch ---- */

typedef struct fetch_job {
    rmq_net_loop_t *loop;
    rmq_btier_fetch_done done;
    rmq_btier_fetch_abandon abandon;
    void *ud;
    rmq_err_t err;
    uint8_t *data;
    size_t len;
} fetch_job_t;

static void fetch_on_loop(void *arg) {
    fetch_job_t *j = arg;
    j->done(j->ud, j->err, j->data, j->len);
    free(j);
}

static void fetch_on_read(void *ud, rmq_err_t err, rmq_tier_read_result_t *res) {
    fetch_job_t *j = ud;
    j->err = err;
    if (!err) {
        j->data = res->data; /* ownership moves to the job */
        j->len = res->len;
        res->data = NULL;
    }
    rmq_tier_read_result_free(res);
    if (rmq_net_loop_post(j->loop, fetch_on_loop, j)) {
        free(j->data);
        j->abandon(j->ud);
        free(j);
    }
}

rmq_err_t rmq_btier_fetch_async(rmq_broker_t *b, rmq_net_loop_t *loop, uint64_t stream, int64_t offset,
                                size_t max_bytes, rmq_btier_fetch_done done, rmq_btier_fetch_abandon abandon,
                                void *ud) {
    rmq_btier_t *t = b->tier;
    if (!t || !t->rd) return RMQ_ERR_NOT_FOUND;
    rmq_meta_obj_loc_t *v = NULL;
    size_t n = 0;
    rmq_err_t e = rmq_meta_state_manifest_find(b->state, stream, offset, 1, &v, &n);
    if (e) return e;
    if (!n) return RMQ_ERR_NOT_FOUND;
    int64_t tier_end = 0;
    rmq_meta_state_manifest_stream(b->state, stream, NULL, &tier_end, NULL, NULL);
    rmq_tier_loc_t loc;
    memset(&loc, 0, sizeof loc);
    snprintf(loc.key, sizeof loc.key, "%s", v[0].key);
    loc.object_id = v[0].object_id;
    loc.object_size = v[0].object_size;
    loc.stream_id = stream;
    loc.base_offset = v[0].range.base_offset;
    loc.end_offset = v[0].range.end_offset;
    loc.byte_offset = v[0].range.byte_offset;
    loc.byte_length = v[0].range.byte_length;
    free(v);
    /* hot: the stream's newest object (the tail live consumers catch up
     * on); everything older is a backfill and uses the cold budget */
    bool hot = loc.end_offset == tier_end;
    fetch_job_t *j = calloc(1, sizeof *j);
    if (!j) return RMQ_ERR_NOMEM;
    j->loop = loop;
    j->done = done;
    j->abandon = abandon;
    j->ud = ud;
    e = rmq_tier_read_async(t->rd, &loc, offset < loc.base_offset ? loc.base_offset : offset, max_bytes, hot,
                            fetch_on_read, j);
    if (e) free(j);
    return e;
}

/* ---- retention ---- */

typedef struct ret_item {
    uint64_t stream;
    int64_t ms, bytes;
} ret_item_t;

typedef struct ret_ctx {
    rmq_broker_t *b;
    ret_item_t *v;
    size_t n, cap;
} ret_ctx_t;

static int64_t topic_long(const rmq_meta_topic_t *t, const char *key, int64_t dflt) {
    const char *v = rmq_meta_topic_config(t, key);
    return v ? strtoll(v, NULL, 10) : dflt;
}

static int ret_collect(void *ud, const rmq_meta_topic_t *t) {
    ret_ctx_t *c = ud;
    int64_t ms = topic_long(t, "retention.ms", c->b->o.retention_ms ? c->b->o.retention_ms : 604800000);
    int64_t by = topic_long(t, "retention.bytes", c->b->o.retention_bytes ? c->b->o.retention_bytes : -1);
    for (int32_t p = 0; p < t->n_partitions; p++) {
        if (c->n == c->cap) {
            size_t nc = c->cap ? c->cap * 2 : 64;
            ret_item_t *nv = realloc(c->v, nc * sizeof *nv);
            if (!nv) return 1;
            c->v = nv;
            c->cap = nc;
        }
        c->v[c->n++] = (ret_item_t){t->partitions[p].stream_id, ms, by};
    }
    return 0;
}

/* Trim the manifest of stream to log start ls and delete the objects that
 * died. v[0..n) (borrowed) are the stream's live ranges read before the
 * trim: the keys of those ending at or below ls are the candidates (see
 * delete_dead: the result may name only some of them, or none). */
static void propose_trim(rmq_broker_t *b, uint64_t stream, int64_t ls, const rmq_meta_obj_loc_t *v, size_t n) {
    rmq_meta_cmd_t cmd;
    memset(&cmd, 0, sizeof cmd);
    cmd.type = RMQ_META_CMD_OBJECT_MANIFEST_TRIM;
    cmd.u.manifest_trim.stream_id = stream;
    cmd.u.manifest_trim.new_log_start = ls;
    rmq_meta_result_t res;
    rmq_meta_result_init(&res);
    rmq_err_t e = rmq_broker_propose(b, &cmd, &res);
    if (e) {
        RMQ_WARN(SUB, "msg=\"manifest trim failed\" stream=%llu err=%s", (unsigned long long)stream, rmq_err_name(e));
    } else {
        size_t nk = 0;
        char **keys = malloc((n ? n : 1) * sizeof *keys);
        for (size_t k = 0; keys && k < n; k++)
            if (v[k].range.end_offset <= ls && (keys[nk] = strdup(v[k].key))) nk++;
        delete_dead(b, keys, nk, &res);
    }
    rmq_meta_result_free(&res);
}

static void retention_pass(rmq_broker_t *b) {
    ret_ctx_t c = {.b = b};
    rmq_meta_state_foreach_topic(b->state, ret_collect, &c);
    int64_t now = rmq_wall_ms();
    for (size_t i = 0; i < c.n; i++) {
        const ret_item_t *it = &c.v[i];
        int64_t mls = 0;
        if (!rmq_meta_state_manifest_stream(b->state, it->stream, &mls, NULL, NULL, NULL)) continue;
        int64_t sls = 0, hw = 0;
        rmq_store_stream_info(b->store, it->stream, &sls, &hw, NULL);
        int64_t new_ls = sls > mls ? sls : mls; /* DeleteRecords moved the store's start */
        rmq_meta_obj_loc_t *v = NULL;
        size_t n = 0;
        if (rmq_meta_state_manifest_find(b->state, it->stream, mls, 0, &v, &n)) continue;
        uint64_t total = 0;
        for (size_t k = 0; k < n; k++) total += v[k].range.byte_length;
        for (size_t k = 0; k < n && k < 8; k++) { /* <= 8 ranges a pass keeps results small */
            const rmq_meta_obj_range_t *r = &v[k].range;
            bool by_time = it->ms >= 0 && r->max_ts < now - it->ms;
            bool by_size = it->bytes >= 0 && total - r->byte_length >= (uint64_t)it->bytes;
            if (!by_time && !by_size) break;
            total -= r->byte_length;
            if (r->end_offset > new_ls) new_ls = r->end_offset;
        }
        if (new_ls > hw) new_ls = hw;
        if (new_ls <= mls) {
            free(v);
            continue;
        }
        if (new_ls > sls) {
            rmq_err_t e = rmq_store_trim(b->store, it->stream, new_ls);
            if (e) {
                RMQ_WARN(SUB, "msg=\"retention trim failed\" stream=%llu err=%s", (unsigned long long)it->stream,
                         rmq_err_name(e));
                free(v);
                continue;
            }
        }
        RMQ_INFO(SUB, "msg=\"retention\" stream=%llu log_start=%lld", (unsigned long long)it->stream,
                 (long long)new_ls);
        propose_trim(b, it->stream, new_ls, v, n);
        free(v);
        pthread_mutex_lock(&b->tier->mu);
        b->tier->retention_trims++;
        pthread_mutex_unlock(&b->tier->mu);
    }
    free(c.v);
}

/* Time trigger for uploads: seal the active WAL segment once it is older
 * than wal.upload_interval_ms (a size trigger seals it when it fills), so
 * data of a quiet broker still reaches the object store. */
static void seal_if_due(rmq_broker_t *b, uint64_t *last_ms) {
    uint64_t now = rmq_mono_ns() / 1000000;
    if (!b->o.upload_interval_ms || now - *last_ms < b->o.upload_interval_ms) return;
    *last_ms = now;
    rmq_err_t err = rmq_store_seal_active(b->store);
    if (err && err != RMQ_ERR_WAL_FULL && err != RMQ_ERR_NOSPACE)
        RMQ_WARN(SUB, "msg=\"time-triggered seal failed\" err=%s", rmq_err_name(err));
}

/* ---- objects of deleted topics ---- */

void rmq_btier_keys_free(char **keys, size_t n) {
    for (size_t i = 0; i < n; i++) free(keys[i]);
    free(keys);
}

static int cmp_key(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Sort keys[0..n) and drop duplicates; returns the new count. */
static size_t keys_unique(char **keys, size_t n) {
    if (n < 2) return n;
    qsort(keys, n, sizeof *keys, cmp_key);
    size_t k = 1;
    for (size_t i = 1; i < n; i++) {
        if (!strcmp(keys[i], keys[k - 1])) free(keys[i]);
        else keys[k++] = keys[i];
    }
    return k;
}

rmq_err_t rmq_btier_topic_objects(rmq_broker_t *b, const char *name, const rmq_meta_uuid_t *id, char ***keys,
                                  size_t *n) {
    *keys = NULL;
    *n = 0;
    if (!b->tier) return RMQ_NONE;
    uint64_t *streams = NULL;
    size_t ns = 0;
    rmq_meta_state_rdlock(b->state);
    const rmq_meta_topic_t *tp = id ? rmq_meta_state_find_topic_id(b->state, id)
                                    : rmq_meta_state_find_topic(b->state, name ? name : "");
    bool nomem = false; /* tp is only valid under the lock */
    if (tp && tp->n_partitions > 0) {
        streams = malloc((size_t)tp->n_partitions * sizeof *streams);
        nomem = !streams;
        for (int32_t p = 0; streams && p < tp->n_partitions; p++) streams[ns++] = tp->partitions[p].stream_id;
    }
    rmq_meta_state_unlock(b->state);
    if (nomem) return RMQ_ERR_NOMEM;
    rmq_err_t err = RMQ_NONE;
    char **v = NULL;
    size_t nv = 0, cap = 0;
    for (size_t i = 0; i < ns && !err; i++) {
        rmq_meta_obj_loc_t *locs = NULL;
        size_t nl = 0;
        err = rmq_meta_state_manifest_find(b->state, streams[i], INT64_MIN, 0, &locs, &nl);
        for (size_t k = 0; k < nl && !err; k++) {
            if (nv == cap) {
                size_t nc = cap ? cap * 2 : 64;
                char **nvv = realloc(v, nc * sizeof *nvv);
                if (!nvv) {
                    err = RMQ_ERR_NOMEM;
                    break;
                }
                v = nvv;
                cap = nc;
            }
            if (!(v[nv] = strdup(locs[k].key))) err = RMQ_ERR_NOMEM;
            else nv++;
        }
        free(locs);
    }
    free(streams);
    if (!err) nv = keys_unique(v, nv); /* one object holds a range of every partition */
    if (err) {
        rmq_btier_keys_free(v, nv);
        return err;
    }
    *keys = v;
    *n = nv;
    return RMQ_NONE;
}

void rmq_btier_delete_unused(rmq_broker_t *b, char **keys, size_t n, const rmq_meta_result_t *res) {
    rmq_btier_t *t = b->tier;
    bool ok = keys_add_result(&keys, &n, res);
    if (!t || !n) {
        rmq_btier_keys_free(keys, n);
        return;
    }
    pthread_mutex_lock(&t->mu);
    if (ok && t->n_gone + n > t->cap_gone) {
        size_t nc = t->cap_gone ? t->cap_gone : 64;
        while (nc < t->n_gone + n) nc *= 2;
        char **ng = realloc(t->gone, nc * sizeof *ng);
        if (ng) {
            t->gone = ng;
            t->cap_gone = nc;
        }
        ok = ng != NULL;
    }
    if (!ok) {
        pthread_mutex_unlock(&t->mu);
        RMQ_WARN(SUB, "msg=\"out of memory queueing a deleted topic's objects; the next start sweeps them\" "
                      "objects=%zu",
                 n);
        rmq_btier_keys_free(keys, n);
        return;
    }
    for (size_t i = 0; i < n; i++) t->gone[t->n_gone++] = keys[i];
    pthread_cond_broadcast(&t->cv);
    pthread_mutex_unlock(&t->mu);
    free(keys);
}

void rmq_btier_request_sweep(rmq_broker_t *b) {
    rmq_btier_t *t = b->tier;
    if (!t) return;
    pthread_mutex_lock(&t->mu);
    t->sweep_pending = true;
    pthread_cond_broadcast(&t->cv);
    pthread_mutex_unlock(&t->mu);
}

/* On the retention thread: delete the queued keys (owned, freed here) that
 * the manifest no longer holds, in batches. */
static void delete_unused_now(rmq_broker_t *b, char **keys, size_t n) {
    if (!n) {
        free(keys);
        return;
    }
    n = keys_unique(keys, n);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (rmq_meta_state_manifest_has_key(b->state, keys[i])) free(keys[i]); /* shared with a live topic */
        else keys[k++] = keys[i];
    }
    for (size_t i = 0; i < k; i += 256) delete_keys(b->tier, keys + i, k - i < 256 ? k - i : 256);
    rmq_btier_keys_free(keys, k);
}

static void *retention_main(void *arg) {
    rmq_broker_t *b = arg;
    pthread_setname_np(pthread_self(), "rmq-retention");
    rmq_btier_t *t = b->tier;
    uint64_t last_seal_ms = rmq_mono_ns() / 1000000;
    for (;;) {
        struct timespec dl = rmq_cond_deadline_ms(RETENTION_CHECK_MS);
        pthread_mutex_lock(&t->mu);
        while (!t->stop && !t->n_gone && !t->sweep_pending && pthread_cond_timedwait(&t->cv, &t->mu, &dl) == 0) {
        }
        bool stop = t->stop, sweep = t->sweep_pending;
        t->sweep_pending = false;
        char **gone = t->gone;
        size_t n_gone = t->n_gone;
        t->gone = NULL;
        t->n_gone = t->cap_gone = 0;
        pthread_mutex_unlock(&t->mu);
        if (stop) {
            rmq_btier_keys_free(gone, n_gone);
            break;
        }
        delete_unused_now(b, gone, n_gone);
        if (sweep) sweep_orphans(b, t, true);
        seal_if_due(b, &last_seal_ms);
        retention_pass(b);
    }
    return NULL;
}

int64_t rmq_btier_offset_for_timestamp(rmq_broker_t *b, uint64_t stream, int64_t ts, int64_t from) {
    int64_t at = from;
    for (;;) {
        rmq_meta_obj_loc_t *locs = NULL;
        size_t n = 0;
        if (rmq_meta_state_manifest_find(b->state, stream, at, 64, &locs, &n) != RMQ_NONE || n == 0) {
            free(locs);
            return -1;
        }
        for (size_t i = 0; i < n; i++)
            if (locs[i].range.max_ts >= ts) {
                int64_t off = locs[i].range.base_offset > from ? locs[i].range.base_offset : from;
                free(locs);
                return off;
            }
        at = locs[n - 1].range.end_offset;
        free(locs);
        if (n < 64) return -1;
    }
}
