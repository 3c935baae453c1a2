/* meta_state.c - the metadata state machine (see meta_state.h): command
 * application, read APIs, and the snapshot codec.
 *
 * Layout: everything that restore replaces lives in `mbody_t`, so restore
 * builds a complete new body off to the side and swaps it in under the
 * write lock. Topics are owned by the name-ordered array `sorted`; the two
 * open-addressing hash maps (by name, by id; linear probing with backward
 * shift deletion, load <= 1/2) hold borrowed pointers. Every mutation
 * reserves all memory it needs before changing anything, so an OOM leaves
 * the state as it was. */
#include "controller/meta_state.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/arena.h"
#include "common/crc32c.h"
#include "controller/meta_validate.h"

#define SNAP_MAGIC 0x524D534Eu /* "RMSN" */
#define SNAP_VERSION 3 /* 2 = 1 + the object manifest section; 3 = 2 + partition replicas; restore reads all */

/* ---- hash maps of topics ---- */

typedef struct tmap {
    rmq_meta_topic_t **slots;
    size_t cap; /* power of two or 0 */
    size_t n;
    bool by_id;
} tmap_t;

static uint64_t mix64(uint64_t x) {
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    x ^= x >> 31;
    return x;
}

static uint64_t hash_name(const char *s) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
    return mix64(h);
}

static uint64_t hash_id(const rmq_meta_uuid_t *u) { return mix64(rmq_be64(u->b) ^ mix64(rmq_be64(u->b + 8))); }

static uint64_t tmap_hash(const tmap_t *m, const rmq_meta_topic_t *t) {
    return m->by_id ? hash_id(&t->id) : hash_name(t->name);
}

static rmq_meta_topic_t *tmap_get_name(const tmap_t *m, const char *name) {
    if (!m->cap) return NULL;
    size_t mask = m->cap - 1;
    for (size_t i = hash_name(name) & mask;; i = (i + 1) & mask) {
        rmq_meta_topic_t *t = m->slots[i];
        if (!t) return NULL;
        if (!strcmp(t->name, name)) return t;
    }
}

static rmq_meta_topic_t *tmap_get_id(const tmap_t *m, const rmq_meta_uuid_t *id) {
    if (!m->cap) return NULL;
    size_t mask = m->cap - 1;
    for (size_t i = hash_id(id) & mask;; i = (i + 1) & mask) {
        rmq_meta_topic_t *t = m->slots[i];
        if (!t) return NULL;
        if (rmq_meta_uuid_eq(&t->id, id)) return t;
    }
}

static void tmap_put_nogrow(tmap_t *m, rmq_meta_topic_t *t) {
    size_t mask = m->cap - 1;
    size_t i = tmap_hash(m, t) & mask;
    while (m->slots[i]) i = (i + 1) & mask;
    m->slots[i] = t;
    m->n++;
}

/* Make room for `total` entries. false on OOM (map unchanged). */
static bool tmap_reserve(tmap_t *m, size_t total) {
    if (total * 2 <= m->cap) return true;
    size_t ncap = m->cap ? m->cap : 16;
    while (ncap < total * 2) ncap *= 2;
    rmq_meta_topic_t **ns = calloc(ncap, sizeof *ns);
    if (!ns) return false;
    tmap_t nm = {ns, ncap, 0, m->by_id};
    for (size_t i = 0; i < m->cap; i++)
        if (m->slots[i]) tmap_put_nogrow(&nm, m->slots[i]);
    free(m->slots);
    *m = nm;
    return true;
}

static void tmap_del(tmap_t *m, const rmq_meta_topic_t *t) {
    if (!m->cap) return;
    size_t mask = m->cap - 1;
    size_t i = tmap_hash(m, t) & mask;
    while (m->slots[i] && m->slots[i] != t) i = (i + 1) & mask;
    if (!m->slots[i]) return;
    /* backward shift: move later members of the cluster into the hole if
     * their home slot is not cyclically within (hole, j]. */
    size_t j = i;
    for (;;) {
        j = (j + 1) & mask;
        if (!m->slots[j]) break;
        size_t k = tmap_hash(m, m->slots[j]) & mask;
        bool in_range = (i <= j) ? (i < k && k <= j) : (i < k || k <= j);
        if (!in_range) {
            m->slots[i] = m->slots[j];
            i = j;
        }
    }
    m->slots[i] = NULL;
    m->n--;
}

/* ---- state body ---- */

typedef struct mbody {
    bool has_cluster_id;
    rmq_meta_uuid_t cluster_id;
    int64_t last_index;
    uint64_t version;
    uint64_t next_stream_id;
    size_t total_partitions;
    tmap_t by_name;
    tmap_t by_id;
    rmq_meta_topic_t **sorted; /* owned topics, name order */
    size_t n_topics;
    size_t sorted_cap;
    rmq_meta_broker_t *brokers; /* id order */
    size_t n_brokers;
    size_t brokers_cap;
    /* object manifest */
    struct mobj **objs; /* owned, object id order */
    size_t n_objs, objs_cap;
    struct mstream *mstreams; /* stream id order */
    size_t n_ms, ms_cap;
} mbody_t;

/* An object of the manifest: its ranges as added (immutable) and how many
 * of them are still live (end > their stream's log start). */
typedef struct mobj {
    uint64_t id;
    char *key;
    uint64_t size;
    uint32_t n_ranges;
    rmq_meta_obj_range_t *ranges;
    uint32_t live;
} mobj_t;

/* A live range of a stream: ranges[ri] of obj. */
typedef struct mref {
    int64_t base, end;
    mobj_t *obj;
    uint32_t ri;
} mref_t;

typedef struct mstream {
    uint64_t id;
    int64_t log_start;
    mref_t *refs; /* sorted by base, non-overlapping */
    size_t n, cap;
} mstream_t;

struct rmq_meta_state {
    pthread_rwlock_t lock;
    rmq_meta_state_opts_t opts;
    mbody_t b;
};

static void body_init(mbody_t *b) {
    memset(b, 0, sizeof *b);
    b->by_id.by_id = true;
    b->next_stream_id = 1;
}

static void configs_free(rmq_meta_kv_t *kv, size_t n) {
    for (size_t i = 0; i < n; i++) {
        free((void *)kv[i].key);
        free((void *)kv[i].value);
    }
    free(kv);
}

static void topic_free(rmq_meta_topic_t *t) {
    if (!t) return;
    free(t->name);
    for (int32_t i = 0; t->partitions && i < t->n_partitions; i++) free(t->partitions[i].replicas);
    free(t->partitions);
    configs_free(t->configs, t->n_configs);
    free(t);
}

static void mobj_free(mobj_t *o) {
    if (!o) return;
    free(o->key);
    free(o->ranges);
    free(o);
}

static void body_free(mbody_t *b) {
    for (size_t i = 0; i < b->n_objs; i++) mobj_free(b->objs[i]);
    free(b->objs);
    for (size_t i = 0; i < b->n_ms; i++) free(b->mstreams[i].refs);
    free(b->mstreams);
    for (size_t i = 0; i < b->n_topics; i++) topic_free(b->sorted[i]);
    free(b->sorted);
    free(b->by_name.slots);
    free(b->by_id.slots);
    for (size_t i = 0; i < b->n_brokers; i++) {
        free(b->brokers[i].rack);
        free(b->brokers[i].host);
    }
    free(b->brokers);
    body_init(b);
}

/* Position of name in sorted (or where it would go). */
static size_t sorted_lower(const mbody_t *b, const char *name) {
    size_t lo = 0, hi = b->n_topics;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(b->sorted[mid]->name, name) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Reserve room for one more topic in every index. */
static bool body_reserve_topic(mbody_t *b) {
    if (b->n_topics == b->sorted_cap) {
        size_t nc = b->sorted_cap ? b->sorted_cap * 2 : 16;
        rmq_meta_topic_t **ns = realloc(b->sorted, nc * sizeof *ns);
        if (!ns) return false;
        b->sorted = ns;
        b->sorted_cap = nc;
    }
    return tmap_reserve(&b->by_name, b->n_topics + 1) && tmap_reserve(&b->by_id, b->n_topics + 1);
}

/* Insert t (ownership moves to b). Caller reserved and checked absence. */
static void body_insert_topic(mbody_t *b, rmq_meta_topic_t *t) {
    size_t pos = sorted_lower(b, t->name);
    memmove(b->sorted + pos + 1, b->sorted + pos, (b->n_topics - pos) * sizeof *b->sorted);
    b->sorted[pos] = t;
    b->n_topics++;
    tmap_put_nogrow(&b->by_name, t);
    tmap_put_nogrow(&b->by_id, t);
    b->total_partitions += (size_t)t->n_partitions;
}

/* Unlink t from every index (caller frees it). */
static void body_remove_topic(mbody_t *b, rmq_meta_topic_t *t) {
    size_t pos = sorted_lower(b, t->name);
    if (pos < b->n_topics && b->sorted[pos] == t) {
        memmove(b->sorted + pos, b->sorted + pos + 1, (b->n_topics - pos - 1) * sizeof *b->sorted);
        b->n_topics--;
    }
    tmap_del(&b->by_name, t);
    tmap_del(&b->by_id, t);
    b->total_partitions -= (size_t)t->n_partitions;
}

static size_t broker_lower(const mbody_t *b, int32_t id) {
    size_t lo = 0, hi = b->n_brokers;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (b->brokers[mid].id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static rmq_meta_broker_t *body_find_broker(const mbody_t *b, int32_t id) {
    size_t pos = broker_lower(b, id);
    return pos < b->n_brokers && b->brokers[pos].id == id ? &b->brokers[pos] : NULL;
}

static bool body_reserve_broker(mbody_t *b) {
    if (b->n_brokers < b->brokers_cap) return true;
    size_t nc = b->brokers_cap ? b->brokers_cap * 2 : 4;
    rmq_meta_broker_t *nb = realloc(b->brokers, nc * sizeof *nb);
    if (!nb) return false;
    b->brokers = nb;
    b->brokers_cap = nc;
    return true;
}

/* Replicas and leader of a new partition: min(rf, registered) brokers
 * round-robin from index `partition`, the first one leading; none and
 * leader -1 if no broker is registered. false on OOM (p untouched). */
static bool assign_replicas(const mbody_t *b, rmq_meta_partition_t *p, int64_t partition, int16_t rf) {
    size_t n = b->n_brokers < (size_t)(rf > 0 ? rf : 1) ? b->n_brokers : (size_t)(rf > 0 ? rf : 1);
    int32_t *reps = NULL;
    if (n) {
        reps = malloc(n * sizeof *reps);
        if (!reps) return false;
        for (size_t k = 0; k < n; k++) reps[k] = b->brokers[((size_t)partition + k) % b->n_brokers].id;
    }
    p->replicas = reps;
    p->n_replicas = (int32_t)n;
    p->leader = n ? reps[0] : -1;
    p->leader_epoch = 0;
    return true;
}

static bool part_has_replica(const rmq_meta_partition_t *p, int32_t id) {
    for (int32_t k = 0; k < p->n_replicas; k++)
        if (p->replicas[k] == id) return true;
    return false;
}

/* ---- results ---- */

void rmq_meta_result_init(rmq_meta_result_t *r) { memset(r, 0, sizeof *r); }

void rmq_meta_result_free(rmq_meta_result_t *r) {
    r->n_deleted_keys = 0;
    r->n_deleted_dropped = 0;
    free(r->stream_ids);
    r->stream_ids = NULL;
    r->n_stream_ids = 0;
}

static rmq_err_t res_err(rmq_meta_result_t *r, rmq_err_t err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static rmq_err_t res_err(rmq_meta_result_t *r, rmq_err_t err, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->msg, sizeof r->msg, fmt, ap);
    va_end(ap);
    r->err = err;
    return err;
}

static rmq_err_t res_oom(rmq_meta_result_t *r) { return res_err(r, RMQ_ERR_NOMEM, "out of memory"); }

/* ---- command handlers: check, then (unless dry) mutate ---- */

typedef struct applyctx {
    mbody_t *b;
    const rmq_meta_state_opts_t *opts;
    int64_t index;
    bool dry;
    rmq_meta_result_t *res;
} applyctx_t;

static rmq_err_t check_configs(const rmq_meta_kv_t *kv, uint32_t n, rmq_meta_result_t *r) {
    for (uint32_t i = 0; i < n; i++) {
        rmq_err_t e = rmq_meta_validate_config(kv[i].key, kv[i].value, r->msg, sizeof r->msg);
        if (e) return r->err = e;
        for (uint32_t j = 0; j < i; j++)
            if (!strcmp(kv[i].key, kv[j].key))
                return res_err(r, RMQ_INVALID_CONFIG, "Duplicate config key: %s", kv[i].key);
    }
    return RMQ_NONE;
}

static int kv_cmp(const void *a, const void *b) {
    return strcmp(((const rmq_meta_kv_t *)a)->key, ((const rmq_meta_kv_t *)b)->key);
}

/* Owned, sorted copy of kv[0..n). NULL on OOM (n > 0). */
static rmq_meta_kv_t *configs_dup(const rmq_meta_kv_t *kv, size_t n) {
    if (!n) return NULL;
    rmq_meta_kv_t *out = calloc(n, sizeof *out);
    if (!out) return NULL;
    for (size_t i = 0; i < n; i++) {
        out[i].key = strdup(kv[i].key);
        out[i].value = strdup(kv[i].value);
        if (!out[i].key || !out[i].value) {
            configs_free(out, n);
            return NULL;
        }
    }
    qsort(out, n, sizeof *out, kv_cmp);
    return out;
}

static void ms_drop_stream(mbody_t *b, uint64_t id, rmq_meta_result_t *r);

static rmq_err_t do_init_cluster(applyctx_t *a, const rmq_meta_cmd_t *c) {
    const rmq_meta_uuid_t *id = &c->u.init_cluster.cluster_id;
    if (rmq_meta_uuid_is_zero(id)) return res_err(a->res, RMQ_INVALID_REQUEST, "Cluster id must not be zero");
    if (a->b->has_cluster_id) {
        if (rmq_meta_uuid_eq(id, &a->b->cluster_id)) return RMQ_NONE;
        return res_err(a->res, RMQ_INCONSISTENT_CLUSTER_ID, "Cluster id is already set to a different value");
    }
    if (a->dry) return RMQ_NONE;
    a->b->has_cluster_id = true;
    a->b->cluster_id = *id;
    return RMQ_NONE;
}

/* Whether names x and y are equal once '.' and '_' are treated as the same
 * character (Kafka's topic name collision: both map to '_' in metric names). */
static bool names_collide(const char *x, const char *y) {
    for (; *x && *y; x++, y++)
        if (*x != *y && !((*x == '.' || *x == '_') && (*y == '.' || *y == '_'))) return false;
    return !*x && !*y;
}

/* An existing topic whose name collides with name (see names_collide), or
 * NULL. O(topics), and only for names with a '.' or '_'. */
static const rmq_meta_topic_t *colliding_topic(const mbody_t *b, const char *name) {
    if (!strpbrk(name, "._")) return NULL;
    size_t n = strlen(name);
    for (size_t i = 0; i < b->n_topics; i++) {
        const char *t = b->sorted[i]->name;
        if (strlen(t) == n && names_collide(t, name)) return b->sorted[i];
    }
    return NULL;
}

static rmq_err_t do_create_topic(applyctx_t *a, const rmq_meta_cmd_t *c) {
    const __typeof__(c->u.create_topic) *ct = &c->u.create_topic;
    mbody_t *b = a->b;
    rmq_meta_result_t *r = a->res;
    rmq_err_t e = rmq_meta_validate_topic_name(ct->name, r->msg, sizeof r->msg);
    if (e) return r->err = e;
    if (tmap_get_name(&b->by_name, ct->name))
        return res_err(r, RMQ_TOPIC_ALREADY_EXISTS, "Topic '%s' already exists.", ct->name);
    /* a proposal-time rule (Kafka checks it at request time): only in a
     * dry run and rmq_meta_state_precheck, never when an entry is applied,
     * so a log written before the rule replays as it did */
    const rmq_meta_topic_t *other = a->dry ? colliding_topic(b, ct->name) : NULL;
    if (other)
        return res_err(r, RMQ_INVALID_TOPIC_EXCEPTION, "Topic '%s' collides with existing topic: %s", ct->name,
                       other->name);
    if (rmq_meta_uuid_is_zero(&ct->topic_id))
        return res_err(r, RMQ_INVALID_REQUEST, "Topic id of '%s' must not be zero", ct->name);
    if (tmap_get_id(&b->by_id, &ct->topic_id)) {
        char txt[23];
        rmq_meta_uuid_to_base64(&ct->topic_id, txt);
        return res_err(r, RMQ_TOPIC_ALREADY_EXISTS, "Topic id %s is already in use", txt);
    }
    e = rmq_meta_validate_partitions(ct->partitions, a->opts->max_partitions, r->msg, sizeof r->msg);
    if (e) return r->err = e;
    e = rmq_meta_validate_replication_factor(ct->replication_factor, -1, r->msg, sizeof r->msg);
    if (e) return r->err = e;
    e = check_configs(ct->configs, ct->n_configs, r);
    if (e) return e;
    if (b->next_stream_id > UINT64_MAX - (uint64_t)ct->partitions)
        return res_err(r, RMQ_POLICY_VIOLATION, "Stream id space exhausted");
    r->topic_id = ct->topic_id;
    if (a->dry) return RMQ_NONE;

    size_t np = (size_t)ct->partitions;
    rmq_meta_topic_t *t = calloc(1, sizeof *t);
    uint64_t *ids = calloc(np, sizeof *ids);
    if (!t || !ids) goto oom;
    t->name = strdup(ct->name);
    t->partitions = calloc(np, sizeof *t->partitions);
    t->configs = configs_dup(ct->configs, ct->n_configs);
    if (!t->name || !t->partitions || (ct->n_configs && !t->configs)) goto oom;
    t->n_configs = ct->n_configs;
    t->id = ct->topic_id;
    t->replication_factor = ct->replication_factor;
    t->n_partitions = ct->partitions;
    t->created_index = a->index;
    if (!body_reserve_topic(b)) goto oom;
    for (size_t i = 0; i < np; i++) {
        t->partitions[i].stream_id = b->next_stream_id + i;
        if (!assign_replicas(b, &t->partitions[i], (int64_t)i, t->replication_factor)) goto oom;
        ids[i] = t->partitions[i].stream_id;
    }
    b->next_stream_id += np;
    body_insert_topic(b, t);
    r->stream_ids = ids;
    r->n_stream_ids = np;
    return RMQ_NONE;
oom:
    free(ids);
    topic_free(t);
    return res_oom(r);
}

static rmq_err_t do_delete_topic(applyctx_t *a, const rmq_meta_cmd_t *c) {
    const __typeof__(c->u.delete_topic) *dt = &c->u.delete_topic;
    mbody_t *b = a->b;
    rmq_meta_result_t *r = a->res;
    bool by_name = dt->name && *dt->name;
    bool by_id = !rmq_meta_uuid_is_zero(&dt->topic_id);
    rmq_meta_topic_t *t = NULL;
    if (by_id) {
        t = tmap_get_id(&b->by_id, &dt->topic_id);
        if (!t) return res_err(r, RMQ_UNKNOWN_TOPIC_ID, "This server does not host this topic ID.");
        if (by_name && strcmp(t->name, dt->name))
            return res_err(r, RMQ_INCONSISTENT_TOPIC_ID, "Topic id does not match topic name '%s'", dt->name);
    } else if (by_name) {
        t = tmap_get_name(&b->by_name, dt->name);
        if (!t)
            return res_err(r, RMQ_UNKNOWN_TOPIC_OR_PARTITION, "This server does not host this topic-partition.");
    } else {
        return res_err(r, RMQ_INVALID_REQUEST, "DeleteTopic needs a topic name or id");
    }
    r->topic_id = t->id;
    if (a->dry) return RMQ_NONE;
    uint64_t *ids = calloc((size_t)t->n_partitions, sizeof *ids);
    if (!ids) return res_oom(r);
    for (int32_t i = 0; i < t->n_partitions; i++) ids[i] = t->partitions[i].stream_id;
    r->stream_ids = ids;
    r->n_stream_ids = (size_t)t->n_partitions;
    for (size_t i = 0; i < r->n_stream_ids; i++) ms_drop_stream(b, ids[i], r); /* its tiered data dies too */
    body_remove_topic(b, t);
    topic_free(t);
    return RMQ_NONE;
}

static rmq_err_t do_create_partitions(applyctx_t *a, const rmq_meta_cmd_t *c) {
    const __typeof__(c->u.create_partitions) *cp = &c->u.create_partitions;
    mbody_t *b = a->b;
    rmq_meta_result_t *r = a->res;
    rmq_meta_topic_t *t = cp->name ? tmap_get_name(&b->by_name, cp->name) : NULL;
    if (!t) return res_err(r, RMQ_UNKNOWN_TOPIC_OR_PARTITION, "This server does not host this topic-partition.");
    r->topic_id = t->id;
    if (cp->total < t->n_partitions)
        return res_err(r, RMQ_INVALID_PARTITIONS,
                       "Topic currently has %d partitions, which is higher than the requested %d.", t->n_partitions,
                       cp->total);
    if (cp->total == t->n_partitions)
        return res_err(r, RMQ_INVALID_PARTITIONS, "Topic already has %d partitions.", t->n_partitions);
    rmq_err_t e = rmq_meta_validate_partitions(cp->total, a->opts->max_partitions, r->msg, sizeof r->msg);
    if (e) return r->err = e;
    if (b->next_stream_id > UINT64_MAX - (uint64_t)cp->total)
        return res_err(r, RMQ_POLICY_VIOLATION, "Stream id space exhausted");
    if (a->dry) return RMQ_NONE;
    size_t old = (size_t)t->n_partitions, nn = (size_t)cp->total, add = nn - old;
    uint64_t *ids = calloc(add, sizeof *ids);
    rmq_meta_partition_t *np = ids ? realloc(t->partitions, nn * sizeof *np) : NULL;
    if (!np) {
        free(ids);
        return res_oom(r);
    }
    t->partitions = np; /* bigger block; n_partitions moves only on success */
    for (size_t i = old; i < nn; i++) {
        if (!assign_replicas(b, &np[i], (int64_t)i, t->replication_factor)) {
            for (size_t k = old; k < i; k++) free(np[k].replicas);
            free(ids);
            return res_oom(r);
        }
        np[i].stream_id = b->next_stream_id + (i - old);
        ids[i - old] = np[i].stream_id;
    }
    b->next_stream_id += add;
    t->n_partitions = cp->total;
    b->total_partitions += add;
    r->stream_ids = ids;
    r->n_stream_ids = add;
    return RMQ_NONE;
}

static rmq_err_t do_alter_configs(applyctx_t *a, const rmq_meta_cmd_t *c) {
    const __typeof__(c->u.alter_configs) *ac = &c->u.alter_configs;
    rmq_meta_result_t *r = a->res;
    rmq_meta_topic_t *t = ac->name ? tmap_get_name(&a->b->by_name, ac->name) : NULL;
    if (!t) return res_err(r, RMQ_UNKNOWN_TOPIC_OR_PARTITION, "This server does not host this topic-partition.");
    r->topic_id = t->id;
    for (uint32_t i = 0; i < ac->n_ops; i++) {
        const rmq_meta_cfg_alter_t *op = &ac->ops[i];
        if (op->op == RMQ_META_CFG_SET) {
            rmq_err_t e = rmq_meta_validate_config(op->key, op->value, r->msg, sizeof r->msg);
            if (e) return r->err = e;
        } else if (!rmq_meta_config_find(op->key)) {
            return res_err(r, RMQ_INVALID_CONFIG, "Unknown topic config name: %.200s", op->key ? op->key : "");
        }
        for (uint32_t j = 0; j < i; j++)
            if (!strcmp(op->key, ac->ops[j].key))
                return res_err(r, RMQ_INVALID_REQUEST, "Error due to duplicate config keys: %s", op->key);
    }
    if (a->dry) return RMQ_NONE;

    /* Build the new override set aside: old entries not touched + SETs. */
    size_t cap = t->n_configs + ac->n_ops, n = 0;
    rmq_meta_kv_t *kv = cap ? calloc(cap, sizeof *kv) : NULL;
    if (cap && !kv) return res_oom(r);
    for (size_t i = 0; i < t->n_configs; i++) {
        bool touched = false;
        for (uint32_t j = 0; j < ac->n_ops && !touched; j++) touched = !strcmp(ac->ops[j].key, t->configs[i].key);
        if (touched) continue;
        kv[n].key = strdup(t->configs[i].key);
        kv[n].value = strdup(t->configs[i].value);
        n++;
        if (!kv[n - 1].key || !kv[n - 1].value) goto oom;
    }
    for (uint32_t j = 0; j < ac->n_ops; j++) {
        if (ac->ops[j].op != RMQ_META_CFG_SET) continue;
        kv[n].key = strdup(ac->ops[j].key);
        kv[n].value = strdup(ac->ops[j].value);
        n++;
        if (!kv[n - 1].key || !kv[n - 1].value) goto oom;
    }
    if (n) qsort(kv, n, sizeof *kv, kv_cmp);
    configs_free(t->configs, t->n_configs);
    if (!n) {
        free(kv);
        kv = NULL;
    }
    t->configs = kv;
    t->n_configs = n;
    return RMQ_NONE;
oom:
    configs_free(kv, n);
    return res_oom(r);
}

static rmq_err_t do_register_broker(applyctx_t *a, const rmq_meta_cmd_t *c) {
    const __typeof__(c->u.register_broker) *rb = &c->u.register_broker;
    mbody_t *b = a->b;
    rmq_meta_result_t *r = a->res;
    if (rb->broker_id < 0) return res_err(r, RMQ_INVALID_REQUEST, "Broker id %d must be >= 0", rb->broker_id);
    if (!rb->host || !*rb->host) return res_err(r, RMQ_INVALID_REQUEST, "Broker %d has no host", rb->broker_id);
    rmq_meta_broker_t *old = body_find_broker(b, rb->broker_id);
    if (old && rb->epoch <= old->epoch)
        return res_err(r, RMQ_STALE_BROKER_EPOCH, "Broker %d epoch %lld is not newer than the registered %lld",
                       rb->broker_id, (long long)rb->epoch, (long long)old->epoch);
    if (a->dry) return RMQ_NONE;
    char *rack = strdup(rb->rack ? rb->rack : "");
    char *host = strdup(rb->host);
    if (!rack || !host || (!old && !body_reserve_broker(b))) {
        free(rack);
        free(host);
        return res_oom(r);
    }
    if (!old) {
        size_t pos = broker_lower(b, rb->broker_id);
        memmove(b->brokers + pos + 1, b->brokers + pos, (b->n_brokers - pos) * sizeof *b->brokers);
        b->n_brokers++;
        old = &b->brokers[pos];
    } else {
        free(old->rack);
        free(old->host);
    }
    old->id = rb->broker_id;
    old->rack = rack;
    old->host = host;
    old->port = rb->port;
    old->epoch = rb->epoch;
    /* Leaderless partitions this broker holds (it is a replica: it was
     * fenced, or every replica was) or that have no replica at all
     * (created before any broker registered: adopted) get this broker as
     * leader, with a new leader epoch. The adopted ones need a replica
     * array; on OOM they stay leaderless (deterministic on every node only
     * up to OOM, like every other OOM path here). */
    for (size_t i = 0; i < b->n_topics; i++) {
        rmq_meta_topic_t *t = b->sorted[i];
        for (int32_t p = 0; p < t->n_partitions; p++) {
            rmq_meta_partition_t *pp = &t->partitions[p];
            if (pp->leader >= 0) continue;
            if (pp->n_replicas == 0) {
                int32_t *reps = malloc(sizeof *reps);
                if (!reps) continue;
                reps[0] = rb->broker_id;
                pp->replicas = reps;
                pp->n_replicas = 1;
            } else if (!part_has_replica(pp, rb->broker_id)) {
                continue;
            }
            pp->leader = rb->broker_id;
            pp->leader_epoch++;
        }
    }
    return RMQ_NONE;
}

/* Fence: the registration (id, epoch) ends. Every partition it leads moves
 * to its first other replica that is still registered, or becomes
 * leaderless (-1) until a replica registers again; either way with a new
 * leader epoch. One command, so no reader ever sees a partition led by an
 * unregistered broker. */
static rmq_err_t do_unregister_broker(applyctx_t *a, const rmq_meta_cmd_t *c) {
    const __typeof__(c->u.unregister_broker) *ub = &c->u.unregister_broker;
    mbody_t *b = a->b;
    rmq_meta_result_t *r = a->res;
    rmq_meta_broker_t *old = body_find_broker(b, ub->broker_id);
    if (!old) return res_err(r, RMQ_BROKER_NOT_AVAILABLE, "Broker %d is not registered", ub->broker_id);
    if (ub->epoch >= 0 && ub->epoch != old->epoch)
        return res_err(r, RMQ_STALE_BROKER_EPOCH, "Broker %d is registered with epoch %lld, not %lld",
                       ub->broker_id, (long long)old->epoch, (long long)ub->epoch);
    if (a->dry) return RMQ_NONE;
    free(old->rack);
    free(old->host);
    size_t pos = (size_t)(old - b->brokers);
    memmove(b->brokers + pos, b->brokers + pos + 1, (b->n_brokers - pos - 1) * sizeof *b->brokers);
    b->n_brokers--;
    for (size_t i = 0; i < b->n_topics; i++) {
        rmq_meta_topic_t *t = b->sorted[i];
        for (int32_t p = 0; p < t->n_partitions; p++) {
            rmq_meta_partition_t *pp = &t->partitions[p];
            if (pp->leader != ub->broker_id) continue;
            int32_t nl = -1;
            for (int32_t k = 0; k < pp->n_replicas && nl < 0; k++)
                if (pp->replicas[k] != ub->broker_id && body_find_broker(b, pp->replicas[k])) nl = pp->replicas[k];
            pp->leader = nl;
            pp->leader_epoch++;
        }
    }
    return RMQ_NONE;
}

/* Leader change of one partition, compare-and-set on the leader epoch. */
static rmq_err_t do_partition_change(applyctx_t *a, const rmq_meta_cmd_t *c) {
    const __typeof__(c->u.partition_change) *pc = &c->u.partition_change;
    rmq_meta_result_t *r = a->res;
    rmq_meta_topic_t *t = tmap_get_id(&a->b->by_id, &pc->topic_id);
    if (!t) return res_err(r, RMQ_UNKNOWN_TOPIC_ID, "This server does not host this topic ID.");
    r->topic_id = t->id;
    if (pc->partition < 0 || pc->partition >= t->n_partitions)
        return res_err(r, RMQ_UNKNOWN_TOPIC_OR_PARTITION, "Topic '%s' has no partition %d", t->name, pc->partition);
    rmq_meta_partition_t *pp = &t->partitions[pc->partition];
    if (pc->leader_epoch >= 0 && pc->leader_epoch != pp->leader_epoch)
        return res_err(r, RMQ_FENCED_LEADER_EPOCH, "Partition %s-%d is at leader epoch %d, not %d", t->name,
                       pc->partition, pp->leader_epoch, pc->leader_epoch);
    if (pc->leader < -1) return res_err(r, RMQ_INVALID_REQUEST, "Leader %d is not a broker id", pc->leader);
    if (pc->leader >= 0 && !part_has_replica(pp, pc->leader))
        return res_err(r, RMQ_INVALID_REPLICA_ASSIGNMENT, "Broker %d is not a replica of %s-%d", pc->leader,
                       t->name, pc->partition);
    if (pc->leader >= 0 && !body_find_broker(a->b, pc->leader))
        return res_err(r, RMQ_BROKER_NOT_AVAILABLE, "Broker %d is not registered", pc->leader);
    if (a->dry) return RMQ_NONE;
    pp->leader = pc->leader;
    pp->leader_epoch++;
    return RMQ_NONE;
}

/* ---- object manifest ---- */

static size_t ms_lower(const mbody_t *b, uint64_t id) {
    size_t lo = 0, hi = b->n_ms;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (b->mstreams[mid].id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static mstream_t *ms_find(const mbody_t *b, uint64_t id) {
    size_t pos = ms_lower(b, id);
    return pos < b->n_ms && b->mstreams[pos].id == id ? &b->mstreams[pos] : NULL;
}

static size_t obj_lower(const mbody_t *b, uint64_t id) {
    size_t lo = 0, hi = b->n_objs;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (b->objs[mid]->id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static mobj_t *obj_find(const mbody_t *b, uint64_t id) {
    size_t pos = obj_lower(b, id);
    return pos < b->n_objs && b->objs[pos]->id == id ? b->objs[pos] : NULL;
}

/* First ref of m whose end > off. */
static size_t ref_first_after(const mstream_t *m, int64_t off) {
    size_t lo = 0, hi = m->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (m->refs[mid].end <= off)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Record that key became deletable (past the inline capacity only counted:
 * the broker's startup sweep deletes objects the manifest does not know). */
static void res_push_key(rmq_meta_result_t *r, const char *key) {
    if (r->n_deleted_keys < RMQ_META_RESULT_MAX_KEYS)
        snprintf(r->deleted_keys[r->n_deleted_keys++], sizeof r->deleted_keys[0], "%s", key);
    else
        r->n_deleted_dropped++;
}

/* Remove obj from the object array and free it (its key goes to r). */
static void obj_remove(mbody_t *b, mobj_t *o, rmq_meta_result_t *r) {
    size_t pos = obj_lower(b, o->id);
    if (pos < b->n_objs && b->objs[pos] == o) {
        memmove(b->objs + pos, b->objs + pos + 1, (b->n_objs - pos - 1) * sizeof *b->objs);
        b->n_objs--;
    }
    if (r) res_push_key(r, o->key);
    mobj_free(o);
}

/* Drop refs [0, k) of m: their ranges die. */
static void ms_drop_front(mbody_t *b, mstream_t *m, size_t k, rmq_meta_result_t *r) {
    for (size_t i = 0; i < k; i++) {
        mobj_t *o = m->refs[i].obj;
        if (--o->live == 0) obj_remove(b, o, r);
    }
    if (k && m->n > k) memmove(m->refs, m->refs + k, (m->n - k) * sizeof *m->refs);
    m->n -= k;
}

/* The stream is gone (TRIM_ALL, DeleteTopic): every range of it dies. */
static void ms_drop_stream(mbody_t *b, uint64_t id, rmq_meta_result_t *r) {
    size_t pos = ms_lower(b, id);
    if (pos >= b->n_ms || b->mstreams[pos].id != id) return;
    mstream_t *m = &b->mstreams[pos];
    ms_drop_front(b, m, m->n, r);
    free(m->refs);
    memmove(b->mstreams + pos, b->mstreams + pos + 1, (b->n_ms - pos - 1) * sizeof *b->mstreams);
    b->n_ms--;
}

static bool key_ok(const char *k) { return k && *k && strlen(k) <= RMQ_META_OBJ_KEY_MAX; }

static bool range_ok(const rmq_meta_obj_range_t *x, uint64_t size) {
    return x->stream_id != 0 && x->base_offset >= 0 && x->end_offset > x->base_offset && x->byte_length > 0 &&
           x->byte_offset <= size && x->byte_length <= size - x->byte_offset;
}

static rmq_err_t do_manifest_add(applyctx_t *a, const rmq_meta_cmd_t *c) {
    const __typeof__(c->u.manifest_add) *ma = &c->u.manifest_add;
    mbody_t *b = a->b;
    rmq_meta_result_t *r = a->res;
    if (!key_ok(ma->key)) return res_err(r, RMQ_INVALID_REQUEST, "Object key must be 1..%u bytes", RMQ_META_OBJ_KEY_MAX);
    if (ma->object_id == 0) return res_err(r, RMQ_INVALID_REQUEST, "Object id must not be zero");
    if (ma->n_ranges == 0) return res_err(r, RMQ_INVALID_REQUEST, "Object %s holds no ranges", ma->key);
    mobj_t *dup = obj_find(b, ma->object_id);
    if (dup) {
        if (!strcmp(dup->key, ma->key)) return RMQ_NONE; /* retried commit: idempotent */
        return res_err(r, RMQ_INVALID_REQUEST, "Object id %llu is already %s", (unsigned long long)ma->object_id,
                       dup->key);
    }
    for (uint32_t i = 0; i < ma->n_ranges; i++) {
        const rmq_meta_obj_range_t *x = &ma->ranges[i];
        if (!range_ok(x, ma->size))
            return res_err(r, RMQ_INVALID_REQUEST, "Range %u of object %s is invalid", i, ma->key);
        for (uint32_t j = 0; j < i; j++) {
            const rmq_meta_obj_range_t *y = &ma->ranges[j];
            if (y->stream_id == x->stream_id && y->base_offset < x->end_offset && x->base_offset < y->end_offset)
                return res_err(r, RMQ_INVALID_REQUEST, "Ranges %u and %u of object %s overlap", j, i, ma->key);
        }
        const mstream_t *m = ms_find(b, x->stream_id);
        if (!m) continue;
        size_t k = ref_first_after(m, x->base_offset);
        if (k < m->n && m->refs[k].base < x->end_offset)
            return res_err(r, RMQ_INVALID_REQUEST,
                           "Range %lld..%lld of stream %llu in object %s overlaps object %llu",
                           (long long)x->base_offset, (long long)x->end_offset, (unsigned long long)x->stream_id,
                           ma->key, (unsigned long long)m->refs[k].obj->id);
    }
    if (a->dry) return RMQ_NONE;

    /* reserve everything first: object, its slot, streams, refs */
    mobj_t *o = calloc(1, sizeof *o);
    if (!o) return res_oom(r);
    o->key = strdup(ma->key);
    o->ranges = malloc(ma->n_ranges * sizeof *o->ranges);
    if (!o->key || !o->ranges) goto oom;
    memcpy(o->ranges, ma->ranges, ma->n_ranges * sizeof *o->ranges);
    o->id = ma->object_id;
    o->size = ma->size;
    o->n_ranges = ma->n_ranges;
    if (b->n_objs == b->objs_cap) {
        size_t nc = b->objs_cap ? b->objs_cap * 2 : 16;
        mobj_t **no = realloc(b->objs, nc * sizeof *no);
        if (!no) goto oom;
        b->objs = no;
        b->objs_cap = nc;
    }
    if (b->n_ms + ma->n_ranges > b->ms_cap) {
        size_t nc = b->ms_cap ? b->ms_cap : 16;
        while (nc < b->n_ms + ma->n_ranges) nc *= 2;
        mstream_t *nm = realloc(b->mstreams, nc * sizeof *nm);
        if (!nm) goto oom;
        b->mstreams = nm;
        b->ms_cap = nc;
    }
    for (uint32_t i = 0; i < ma->n_ranges; i++) {
        mstream_t *m = ms_find(b, ma->ranges[i].stream_id);
        if (!m) {
            mstream_t nm = {.id = ma->ranges[i].stream_id};
            size_t pos = ms_lower(b, nm.id);
            memmove(b->mstreams + pos + 1, b->mstreams + pos, (b->n_ms - pos) * sizeof *b->mstreams);
            b->mstreams[pos] = nm; /* an empty stream entry changes nothing observable until a range lands */
            b->n_ms++;
            m = &b->mstreams[pos];
        }
        if (m->n + ma->n_ranges > m->cap) {
            size_t nc = m->cap ? m->cap : 8;
            while (nc < m->n + ma->n_ranges) nc *= 2;
            mref_t *nr = realloc(m->refs, nc * sizeof *nr);
            if (!nr) goto oom;
            m->refs = nr;
            m->cap = nc;
        }
    }
    /* mutate (no allocation below except result keys) */
    for (uint32_t i = 0; i < ma->n_ranges; i++) {
        const rmq_meta_obj_range_t *x = &o->ranges[i];
        mstream_t *m = ms_find(b, x->stream_id);
        if (x->end_offset <= m->log_start) continue; /* already trimmed: dead on arrival */
        size_t k = ref_first_after(m, x->base_offset);
        memmove(m->refs + k + 1, m->refs + k, (m->n - k) * sizeof *m->refs);
        m->refs[k] = (mref_t){x->base_offset, x->end_offset, o, i};
        m->n++;
        o->live++;
    }
    if (o->live == 0) {
        res_push_key(r, o->key);
        mobj_free(o);
        return RMQ_NONE;
    }
    size_t pos = obj_lower(b, o->id);
    memmove(b->objs + pos + 1, b->objs + pos, (b->n_objs - pos) * sizeof *b->objs);
    b->objs[pos] = o;
    b->n_objs++;
    return RMQ_NONE;
oom:
    /* stream entries created above stay (empty, harmless: same as a trim to 0) */
    mobj_free(o);
    return res_oom(r);
}

static rmq_err_t do_manifest_trim(applyctx_t *a, const rmq_meta_cmd_t *c) {
    const __typeof__(c->u.manifest_trim) *mt = &c->u.manifest_trim;
    mbody_t *b = a->b;
    rmq_meta_result_t *r = a->res;
    if (mt->stream_id == 0) return res_err(r, RMQ_INVALID_REQUEST, "Stream id must not be zero");
    if (mt->new_log_start < 0) return res_err(r, RMQ_INVALID_REQUEST, "Log start must be >= 0");
    mstream_t *m = ms_find(b, mt->stream_id);
    if (a->dry) return RMQ_NONE;
    if (mt->new_log_start == RMQ_META_TRIM_ALL) {
        ms_drop_stream(b, mt->stream_id, r);
        return RMQ_NONE;
    }
    if (!m) {
        if (b->n_ms == b->ms_cap) {
            size_t nc = b->ms_cap ? b->ms_cap * 2 : 16;
            mstream_t *nm = realloc(b->mstreams, nc * sizeof *nm);
            if (!nm) return res_oom(r);
            b->mstreams = nm;
            b->ms_cap = nc;
        }
        size_t pos = ms_lower(b, mt->stream_id);
        memmove(b->mstreams + pos + 1, b->mstreams + pos, (b->n_ms - pos) * sizeof *b->mstreams);
        b->mstreams[pos] = (mstream_t){.id = mt->stream_id, .log_start = mt->new_log_start};
        b->n_ms++;
        return RMQ_NONE;
    }
    if (mt->new_log_start <= m->log_start) return RMQ_NONE; /* log start never moves back */
    m->log_start = mt->new_log_start;
    ms_drop_front(b, m, ref_first_after(m, m->log_start), r);
    return RMQ_NONE;
}

static rmq_err_t run_cmd(applyctx_t *a, const uint8_t *p, size_t len) {
    rmq_arena_t arena;
    rmq_arena_init(&arena, 16 * len + 65536);
    rmq_meta_cmd_t cmd;
    size_t off = 0;
    rmq_err_t e = rmq_meta_cmd_decode(p, len, &arena, &cmd, &off);
    if (e) {
        if (len >= 8) a->res->type = rmq_be16(p + 6);
        res_err(a->res, e, "malformed metadata command: %s at byte %zu", rmq_err_name(e), off);
        rmq_arena_free(&arena);
        return e;
    }
    a->res->type = cmd.type;
    switch (cmd.type) {
    case RMQ_META_CMD_INIT_CLUSTER: e = do_init_cluster(a, &cmd); break;
    case RMQ_META_CMD_CREATE_TOPIC: e = do_create_topic(a, &cmd); break;
    case RMQ_META_CMD_DELETE_TOPIC: e = do_delete_topic(a, &cmd); break;
    case RMQ_META_CMD_CREATE_PARTITIONS: e = do_create_partitions(a, &cmd); break;
    case RMQ_META_CMD_ALTER_TOPIC_CONFIGS: e = do_alter_configs(a, &cmd); break;
    case RMQ_META_CMD_REGISTER_BROKER: e = do_register_broker(a, &cmd); break;
    case RMQ_META_CMD_UNREGISTER_BROKER: e = do_unregister_broker(a, &cmd); break;
    case RMQ_META_CMD_PARTITION_CHANGE: e = do_partition_change(a, &cmd); break;
    case RMQ_META_CMD_OBJECT_MANIFEST_ADD: e = do_manifest_add(a, &cmd); break;
    case RMQ_META_CMD_OBJECT_MANIFEST_TRIM: e = do_manifest_trim(a, &cmd); break;
    default: e = res_err(a->res, RMQ_ERR_UNSUPPORTED, "unsupported command type %u", cmd.type); break;
    }
    rmq_arena_free(&arena);
    a->res->err = e;
    return e;
}

/* ---- public: lifecycle, apply ---- */

rmq_meta_state_t *rmq_meta_state_new(const rmq_meta_state_opts_t *opts) {
    rmq_meta_state_t *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    /* Writer preference: a stream of short reads from many I/O threads
     * must not starve apply. (Non-recursive: readers must not nest.) */
    pthread_rwlockattr_t attr;
    pthread_rwlockattr_init(&attr);
    pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    int rc = pthread_rwlock_init(&s->lock, &attr);
    pthread_rwlockattr_destroy(&attr);
    if (rc) {
        free(s);
        return NULL;
    }
    if (opts) s->opts = *opts;
    if (s->opts.max_partitions <= 0) s->opts.max_partitions = RMQ_META_DEFAULT_MAX_PARTITIONS;
    body_init(&s->b);
    return s;
}

void rmq_meta_state_free(rmq_meta_state_t *s) {
    if (!s) return;
    body_free(&s->b);
    pthread_rwlock_destroy(&s->lock);
    free(s);
}

rmq_err_t rmq_meta_state_apply(rmq_meta_state_t *s, const uint8_t *cmd, size_t len, int64_t index,
                               rmq_meta_result_t *res) {
    rmq_meta_result_t local;
    rmq_meta_result_t *r = res ? res : &local;
    rmq_meta_result_init(r);
    r->index = index;
    pthread_rwlock_wrlock(&s->lock);
    if (index <= s->b.last_index || index == INT64_MAX) {
        pthread_rwlock_unlock(&s->lock);
        res_err(r, RMQ_ERR_INVALID_ARG, "index %lld is not after the last applied index", (long long)index);
        if (!res) rmq_meta_result_free(r);
        return RMQ_ERR_INVALID_ARG;
    }
    applyctx_t a = {&s->b, &s->opts, index, false, r};
    rmq_err_t e = run_cmd(&a, cmd, len);
    if (e != RMQ_ERR_NOMEM) {
        s->b.last_index = index;
        if (e == RMQ_NONE) s->b.version++;
    }
    pthread_rwlock_unlock(&s->lock);
    if (!res) rmq_meta_result_free(r);
    return e;
}

rmq_err_t rmq_meta_state_check(rmq_meta_state_t *s, const uint8_t *cmd, size_t len, rmq_meta_result_t *res) {
    rmq_meta_result_t local;
    rmq_meta_result_t *r = res ? res : &local;
    rmq_meta_result_init(r);
    pthread_rwlock_rdlock(&s->lock);
    applyctx_t a = {&s->b, &s->opts, s->b.last_index + 1, true, r};
    rmq_err_t e = run_cmd(&a, cmd, len);
    pthread_rwlock_unlock(&s->lock);
    return e;
}

rmq_err_t rmq_meta_state_precheck(rmq_meta_state_t *s, const uint8_t *p, size_t len, rmq_meta_result_t *res) {
    rmq_meta_result_init(res);
    if (len < 8 || rmq_be16(p + 6) != RMQ_META_CMD_CREATE_TOPIC) return RMQ_NONE; /* the only such rule today */
    rmq_arena_t arena;
    rmq_arena_init(&arena, 16 * len + 65536);
    rmq_meta_cmd_t cmd;
    size_t off = 0;
    rmq_err_t e = rmq_meta_cmd_decode(p, len, &arena, &cmd, &off);
    if (!e && cmd.type == RMQ_META_CMD_CREATE_TOPIC) {
        pthread_rwlock_rdlock(&s->lock);
        const rmq_meta_topic_t *other = tmap_get_name(&s->b.by_name, cmd.u.create_topic.name)
                                            ? NULL /* "already exists" is apply's answer */
                                            : colliding_topic(&s->b, cmd.u.create_topic.name);
        if (other)
            e = res_err(res, RMQ_INVALID_TOPIC_EXCEPTION, "Topic '%s' collides with existing topic: %s",
                        cmd.u.create_topic.name, other->name);
        pthread_rwlock_unlock(&s->lock);
    } else {
        e = RMQ_NONE; /* a malformed command is apply's to refuse */
    }
    rmq_arena_free(&arena);
    return e;
}

/* ---- snapshot codec ---- */

rmq_err_t rmq_meta_state_snapshot(rmq_meta_state_t *s, rmq_buf_t *out) {
    size_t start = out->len;
    pthread_rwlock_rdlock(&s->lock);
    const mbody_t *b = &s->b;
    rmq_buf_put_u32(out, SNAP_MAGIC);
    rmq_buf_put_u16(out, SNAP_VERSION);
    rmq_buf_put_u16(out, 0); /* flags */
    rmq_buf_put_u8(out, b->has_cluster_id ? 1 : 0);
    rmq_buf_put(out, b->cluster_id.b, 16);
    rmq_buf_put_i64(out, b->last_index);
    rmq_buf_put_u64(out, b->version);
    rmq_buf_put_u64(out, b->next_stream_id);
    rmq_buf_put_u32(out, (uint32_t)b->n_brokers);
    for (size_t i = 0; i < b->n_brokers; i++) {
        const rmq_meta_broker_t *br = &b->brokers[i];
        rmq_buf_put_i32(out, br->id);
        rmq_meta_put_str(out, br->rack);
        rmq_meta_put_str(out, br->host);
        rmq_buf_put_u16(out, br->port);
        rmq_buf_put_i64(out, br->epoch);
    }
    rmq_buf_put_u32(out, (uint32_t)b->n_topics);
    for (size_t i = 0; i < b->n_topics; i++) {
        const rmq_meta_topic_t *t = b->sorted[i];
        rmq_meta_put_str(out, t->name);
        rmq_buf_put(out, t->id.b, 16);
        rmq_buf_put_i16(out, t->replication_factor);
        rmq_buf_put_i64(out, t->created_index);
        rmq_buf_put_u32(out, (uint32_t)t->n_partitions);
        for (int32_t p = 0; p < t->n_partitions; p++) {
            rmq_buf_put_u64(out, t->partitions[p].stream_id);
            rmq_buf_put_i32(out, t->partitions[p].leader);
            rmq_buf_put_i32(out, t->partitions[p].leader_epoch);
        }
        rmq_buf_put_u32(out, (uint32_t)t->n_configs);
        for (size_t k = 0; k < t->n_configs; k++) {
            rmq_meta_put_str(out, t->configs[k].key);
            rmq_meta_put_str(out, t->configs[k].value);
        }
    }
    /* v2: object manifest */
    rmq_buf_put_u32(out, (uint32_t)b->n_objs);
    for (size_t i = 0; i < b->n_objs; i++) {
        const mobj_t *o = b->objs[i];
        rmq_buf_put_u64(out, o->id);
        rmq_meta_put_str(out, o->key);
        rmq_buf_put_u64(out, o->size);
        rmq_buf_put_u32(out, o->n_ranges);
        for (uint32_t k = 0; k < o->n_ranges; k++) {
            const rmq_meta_obj_range_t *x = &o->ranges[k];
            rmq_buf_put_u64(out, x->stream_id);
            rmq_buf_put_i64(out, x->base_offset);
            rmq_buf_put_i64(out, x->end_offset);
            rmq_buf_put_u64(out, x->byte_offset);
            rmq_buf_put_u64(out, x->byte_length);
            rmq_buf_put_i64(out, x->max_ts);
        }
    }
    rmq_buf_put_u32(out, (uint32_t)b->n_ms);
    for (size_t i = 0; i < b->n_ms; i++) {
        rmq_buf_put_u64(out, b->mstreams[i].id);
        rmq_buf_put_i64(out, b->mstreams[i].log_start);
    }
    /* v3: replicas of every partition, topics in name order */
    for (size_t i = 0; i < b->n_topics; i++) {
        const rmq_meta_topic_t *t = b->sorted[i];
        for (int32_t p = 0; p < t->n_partitions; p++) {
            rmq_buf_put_u16(out, (uint16_t)t->partitions[p].n_replicas);
            for (int32_t k = 0; k < t->partitions[p].n_replicas; k++)
                rmq_buf_put_i32(out, t->partitions[p].replicas[k]);
        }
    }
    pthread_rwlock_unlock(&s->lock);
    if (out->oom) return RMQ_ERR_NOMEM;
    rmq_buf_put_u32(out, rmq_crc32c(0, out->data + start, out->len - start));
    return out->oom ? RMQ_ERR_NOMEM : 0;
}


/* malloc'ed copy of a u16-prefixed string; NULL with c->err set on error. */
static char *cur_dupstr(rmq_cur_t *c) {
    uint16_t n = rmq_cur_u16(c);
    const uint8_t *p = rmq_cur_bytes(c, n);
    if (!p) return NULL;
    if (n && memchr(p, 0, n)) {
        rmq_cur_fail(c, RMQ_ERR_CORRUPT);
        return NULL;
    }
    char *s = strndup((const char *)p, n);
    if (!s) rmq_cur_fail(c, RMQ_ERR_NOMEM);
    return s;
}

/* Decode the manifest section of a v2 snapshot into nb and rebuild the
 * per-stream live ranges, checking consistency (ids ascending, valid keys
 * and ranges, no overlap, every object has a live range). */
static void snap_decode_manifest(rmq_cur_t *c, mbody_t *nb) {
    uint32_t no = rmq_cur_u32(c);
    if (rmq_cur_ok(c) && no > rmq_cur_remaining(c) / 22) rmq_cur_fail(c, RMQ_ERR_CORRUPT);
    if (rmq_cur_ok(c) && no) {
        nb->objs = calloc(no, sizeof *nb->objs);
        if (!nb->objs) rmq_cur_fail(c, RMQ_ERR_NOMEM);
        nb->objs_cap = no;
    }
    for (uint32_t i = 0; i < no && rmq_cur_ok(c); i++) {
        mobj_t *o = calloc(1, sizeof *o);
        if (!o) {
            rmq_cur_fail(c, RMQ_ERR_NOMEM);
            break;
        }
        nb->objs[nb->n_objs++] = o;
        o->id = (uint64_t)rmq_cur_i64(c);
        o->key = cur_dupstr(c);
        o->size = (uint64_t)rmq_cur_i64(c);
        uint32_t nr = rmq_cur_u32(c);
        if (rmq_cur_ok(c) && (nr == 0 || nr > rmq_cur_remaining(c) / 48)) rmq_cur_fail(c, RMQ_ERR_CORRUPT);
        if (rmq_cur_ok(c)) {
            o->ranges = calloc(nr, sizeof *o->ranges);
            if (!o->ranges) rmq_cur_fail(c, RMQ_ERR_NOMEM);
        }
        for (uint32_t k = 0; k < nr && rmq_cur_ok(c); k++) {
            rmq_meta_obj_range_t *x = &o->ranges[k];
            x->stream_id = (uint64_t)rmq_cur_i64(c);
            x->base_offset = rmq_cur_i64(c);
            x->end_offset = rmq_cur_i64(c);
            x->byte_offset = (uint64_t)rmq_cur_i64(c);
            x->byte_length = (uint64_t)rmq_cur_i64(c);
            x->max_ts = rmq_cur_i64(c);
            if (rmq_cur_ok(c) && !range_ok(x, o->size)) rmq_cur_fail(c, RMQ_ERR_CORRUPT);
        }
        if (rmq_cur_ok(c)) o->n_ranges = nr;
        if (rmq_cur_ok(c) && (o->id == 0 || !key_ok(o->key) || (i && nb->objs[i - 1]->id >= o->id)))
            rmq_cur_fail(c, RMQ_ERR_CORRUPT);
    }
    uint32_t ns = rmq_cur_u32(c);
    if (rmq_cur_ok(c) && ns > rmq_cur_remaining(c) / 16) rmq_cur_fail(c, RMQ_ERR_CORRUPT);
    if (rmq_cur_ok(c) && ns) {
        nb->mstreams = calloc(ns, sizeof *nb->mstreams);
        if (!nb->mstreams) rmq_cur_fail(c, RMQ_ERR_NOMEM);
        nb->ms_cap = ns;
    }
    for (uint32_t i = 0; i < ns && rmq_cur_ok(c); i++) {
        mstream_t *m = &nb->mstreams[i];
        m->id = (uint64_t)rmq_cur_i64(c);
        m->log_start = rmq_cur_i64(c);
        if (rmq_cur_ok(c) && (m->id == 0 || m->log_start < 0 || (i && nb->mstreams[i - 1].id >= m->id)))
            rmq_cur_fail(c, RMQ_ERR_CORRUPT);
        if (rmq_cur_ok(c)) nb->n_ms = i + 1;
    }
    /* rebuild the live ranges: objects in id order, each stream's refs sorted by base */
    for (size_t i = 0; i < nb->n_objs && rmq_cur_ok(c); i++) {
        mobj_t *o = nb->objs[i];
        for (uint32_t k = 0; k < o->n_ranges && rmq_cur_ok(c); k++) {
            const rmq_meta_obj_range_t *x = &o->ranges[k];
            mstream_t *m = ms_find(nb, x->stream_id);
            if (!m || x->end_offset <= m->log_start) continue;
            size_t at = ref_first_after(m, x->base_offset);
            if (at < m->n && m->refs[at].base < x->end_offset) {
                rmq_cur_fail(c, RMQ_ERR_CORRUPT); /* overlap */
                break;
            }
            if (m->n == m->cap) {
                size_t nc = m->cap ? m->cap * 2 : 8;
                mref_t *nr = realloc(m->refs, nc * sizeof *nr);
                if (!nr) {
                    rmq_cur_fail(c, RMQ_ERR_NOMEM);
                    break;
                }
                m->refs = nr;
                m->cap = nc;
            }
            memmove(m->refs + at + 1, m->refs + at, (m->n - at) * sizeof *m->refs);
            m->refs[at] = (mref_t){x->base_offset, x->end_offset, o, k};
            m->n++;
            o->live++;
        }
        if (rmq_cur_ok(c) && o->live == 0) rmq_cur_fail(c, RMQ_ERR_CORRUPT);
    }
}

/* The v3 replicas section (older snapshots: the leader, if any, is the one
 * replica). Replica ids are >= 0 and distinct, at most replication_factor
 * of them, and a leader is one of them. */
static void snap_decode_replicas(rmq_cur_t *c, mbody_t *nb, uint16_t version) {
    for (size_t i = 0; i < nb->n_topics && rmq_cur_ok(c); i++) {
        rmq_meta_topic_t *t = nb->sorted[i];
        for (int32_t p = 0; p < t->n_partitions && rmq_cur_ok(c); p++) {
            rmq_meta_partition_t *pp = &t->partitions[p];
            uint32_t n = version >= 3 ? rmq_cur_u16(c) : (pp->leader >= 0 ? 1u : 0u);
            if (rmq_cur_ok(c) && (n > (uint32_t)t->replication_factor ||
                                  (version >= 3 && n * 4u > rmq_cur_remaining(c))))
                rmq_cur_fail(c, RMQ_ERR_CORRUPT);
            if (!rmq_cur_ok(c) || n == 0) continue;
            pp->replicas = malloc(n * sizeof *pp->replicas);
            if (!pp->replicas) {
                rmq_cur_fail(c, RMQ_ERR_NOMEM);
                break;
            }
            for (uint32_t k = 0; k < n; k++) {
                pp->replicas[k] = version >= 3 ? rmq_cur_i32(c) : pp->leader;
                for (uint32_t j = 0; j < k; j++)
                    if (pp->replicas[j] == pp->replicas[k]) rmq_cur_fail(c, RMQ_ERR_CORRUPT);
                if (pp->replicas[k] < 0) rmq_cur_fail(c, RMQ_ERR_CORRUPT);
            }
            pp->n_replicas = (int32_t)n;
            if (rmq_cur_ok(c) && pp->leader >= 0 && !part_has_replica(pp, pp->leader)) rmq_cur_fail(c, RMQ_ERR_CORRUPT);
        }
    }
}

/* Decode a snapshot body (after the 8-byte header, before the CRC) into nb
 * (initialised, empty), checking its internal consistency. */
static rmq_err_t snap_decode(rmq_cur_t *c, mbody_t *nb, uint16_t version) {
    uint8_t has = rmq_cur_u8(c);
    const uint8_t *cid = rmq_cur_bytes(c, 16);
    if (cid) memcpy(nb->cluster_id.b, cid, 16);
    if (has > 1) rmq_cur_fail(c, RMQ_ERR_CORRUPT);
    nb->has_cluster_id = has == 1;
    nb->last_index = rmq_cur_i64(c);
    nb->version = (uint64_t)rmq_cur_i64(c);
    nb->next_stream_id = (uint64_t)rmq_cur_i64(c);
    if (rmq_cur_ok(c) && (nb->last_index < 0 || nb->last_index == INT64_MAX || nb->next_stream_id == 0))
        rmq_cur_fail(c, RMQ_ERR_CORRUPT);

    uint32_t nbk = rmq_cur_u32(c);
    if (rmq_cur_ok(c) && nbk > rmq_cur_remaining(c) / 18) rmq_cur_fail(c, RMQ_ERR_CORRUPT);
    for (uint32_t i = 0; i < nbk && rmq_cur_ok(c); i++) {
        if (!body_reserve_broker(nb)) {
            rmq_cur_fail(c, RMQ_ERR_NOMEM);
            break;
        }
        rmq_meta_broker_t *br = &nb->brokers[nb->n_brokers];
        memset(br, 0, sizeof *br);
        br->id = rmq_cur_i32(c);
        br->rack = cur_dupstr(c);
        br->host = cur_dupstr(c);
        br->port = rmq_cur_u16(c);
        br->epoch = rmq_cur_i64(c);
        nb->n_brokers++; /* owned by nb from here on, even if incomplete */
        if (rmq_cur_ok(c) && (br->id < 0 || (i && br->id <= nb->brokers[i - 1].id)))
            rmq_cur_fail(c, RMQ_ERR_CORRUPT);
    }

    uint32_t nt = rmq_cur_u32(c);
    if (rmq_cur_ok(c) && nt > rmq_cur_remaining(c) / 36) rmq_cur_fail(c, RMQ_ERR_CORRUPT);
    for (uint32_t i = 0; i < nt && rmq_cur_ok(c); i++) {
        rmq_meta_topic_t *t = calloc(1, sizeof *t);
        if (!t) {
            rmq_cur_fail(c, RMQ_ERR_NOMEM);
            break;
        }
        t->name = cur_dupstr(c);
        const uint8_t *id = rmq_cur_bytes(c, 16);
        if (id) memcpy(t->id.b, id, 16);
        t->replication_factor = rmq_cur_i16(c);
        t->created_index = rmq_cur_i64(c);
        uint32_t np = rmq_cur_u32(c);
        if (rmq_cur_ok(c) && (np == 0 || np > INT32_MAX || np > rmq_cur_remaining(c) / 16))
            rmq_cur_fail(c, RMQ_ERR_CORRUPT);
        if (rmq_cur_ok(c)) {
            t->partitions = calloc(np, sizeof *t->partitions);
            if (!t->partitions) rmq_cur_fail(c, RMQ_ERR_NOMEM);
        }
        for (uint32_t p = 0; p < np && rmq_cur_ok(c); p++) {
            t->partitions[p].stream_id = (uint64_t)rmq_cur_i64(c);
            t->partitions[p].leader = rmq_cur_i32(c);
            t->partitions[p].leader_epoch = rmq_cur_i32(c);
            if (rmq_cur_ok(c) && (t->partitions[p].stream_id == 0 || t->partitions[p].stream_id >= nb->next_stream_id))
                rmq_cur_fail(c, RMQ_ERR_CORRUPT);
        }
        if (rmq_cur_ok(c)) t->n_partitions = (int32_t)np;
        uint32_t nc = rmq_cur_u32(c);
        if (rmq_cur_ok(c) && nc > rmq_cur_remaining(c) / 4) rmq_cur_fail(c, RMQ_ERR_CORRUPT);
        if (rmq_cur_ok(c) && nc) {
            t->configs = calloc(nc, sizeof *t->configs);
            if (!t->configs) rmq_cur_fail(c, RMQ_ERR_NOMEM);
        }
        for (uint32_t k = 0; k < nc && rmq_cur_ok(c); k++) {
            t->configs[k].key = cur_dupstr(c);
            t->configs[k].value = cur_dupstr(c);
            t->n_configs = k + 1;
            if (rmq_cur_ok(c) && (rmq_meta_validate_config(t->configs[k].key, t->configs[k].value, NULL, 0) ||
                                  (k && strcmp(t->configs[k - 1].key, t->configs[k].key) >= 0)))
                rmq_cur_fail(c, RMQ_ERR_CORRUPT);
        }
        if (rmq_cur_ok(c) &&
            (rmq_meta_validate_topic_name(t->name, NULL, 0) || t->replication_factor < 1 ||
             rmq_meta_uuid_is_zero(&t->id) || tmap_get_name(&nb->by_name, t->name) ||
             tmap_get_id(&nb->by_id, &t->id) || (nb->n_topics && strcmp(nb->sorted[nb->n_topics - 1]->name, t->name) >= 0)))
            rmq_cur_fail(c, RMQ_ERR_CORRUPT);
        if (rmq_cur_ok(c) && !body_reserve_topic(nb)) rmq_cur_fail(c, RMQ_ERR_NOMEM);
        if (!rmq_cur_ok(c)) {
            topic_free(t);
            break;
        }
        body_insert_topic(nb, t);
    }
    if (version >= 2) snap_decode_manifest(c, nb);
    snap_decode_replicas(c, nb, version);
    if (rmq_cur_ok(c) && rmq_cur_remaining(c)) rmq_cur_fail(c, RMQ_ERR_CORRUPT);
    return c->err;
}

rmq_err_t rmq_meta_state_restore(rmq_meta_state_t *s, const uint8_t *p, size_t len) {
    if (len < 12) return RMQ_ERR_TRUNCATED;
    if (rmq_be32(p) != SNAP_MAGIC) return RMQ_ERR_BAD_MAGIC;
    uint16_t version = rmq_be16(p + 4);
    if (version < 1 || version > SNAP_VERSION) return RMQ_ERR_UNSUPPORTED;
    if (rmq_crc32c(0, p, len - 4) != rmq_be32(p + len - 4)) return RMQ_ERR_BAD_CRC;
    rmq_cur_t c;
    rmq_cur_init(&c, p + 8, len - 12);
    mbody_t nb;
    body_init(&nb);
    rmq_err_t e = snap_decode(&c, &nb, version);
    if (e) {
        body_free(&nb);
        return e;
    }
    pthread_rwlock_wrlock(&s->lock);
    mbody_t old = s->b;
    s->b = nb;
    pthread_rwlock_unlock(&s->lock);
    body_free(&old);
    return 0;
}

/* ---- readers ---- */

void rmq_meta_state_rdlock(rmq_meta_state_t *s) { pthread_rwlock_rdlock(&s->lock); }
void rmq_meta_state_unlock(rmq_meta_state_t *s) { pthread_rwlock_unlock(&s->lock); }

const rmq_meta_topic_t *rmq_meta_state_find_topic(const rmq_meta_state_t *s, const char *name) {
    return name ? tmap_get_name(&s->b.by_name, name) : NULL;
}

const rmq_meta_topic_t *rmq_meta_state_find_topic_id(const rmq_meta_state_t *s, const rmq_meta_uuid_t *id) {
    return tmap_get_id(&s->b.by_id, id);
}

size_t rmq_meta_state_topic_count_locked(const rmq_meta_state_t *s) { return s->b.n_topics; }

const rmq_meta_topic_t *rmq_meta_state_topic_at(const rmq_meta_state_t *s, size_t i) {
    return i < s->b.n_topics ? s->b.sorted[i] : NULL;
}

size_t rmq_meta_state_broker_count_locked(const rmq_meta_state_t *s) { return s->b.n_brokers; }

const rmq_meta_broker_t *rmq_meta_state_broker_at(const rmq_meta_state_t *s, size_t i) {
    return i < s->b.n_brokers ? &s->b.brokers[i] : NULL;
}

const rmq_meta_broker_t *rmq_meta_state_find_broker(const rmq_meta_state_t *s, int32_t id) {
    return body_find_broker(&s->b, id);
}

const char *rmq_meta_topic_config(const rmq_meta_topic_t *t, const char *key) {
    size_t lo = 0, hi = t->n_configs;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(t->configs[mid].key, key);
        if (!c) return t->configs[mid].value;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

size_t rmq_meta_state_topic_count(rmq_meta_state_t *s) {
    pthread_rwlock_rdlock(&s->lock);
    size_t n = s->b.n_topics;
    pthread_rwlock_unlock(&s->lock);
    return n;
}

size_t rmq_meta_state_partition_count(rmq_meta_state_t *s) {
    pthread_rwlock_rdlock(&s->lock);
    size_t n = s->b.total_partitions;
    pthread_rwlock_unlock(&s->lock);
    return n;
}

int64_t rmq_meta_state_last_index(rmq_meta_state_t *s) {
    pthread_rwlock_rdlock(&s->lock);
    int64_t n = s->b.last_index;
    pthread_rwlock_unlock(&s->lock);
    return n;
}

uint64_t rmq_meta_state_version(rmq_meta_state_t *s) {
    pthread_rwlock_rdlock(&s->lock);
    uint64_t n = s->b.version;
    pthread_rwlock_unlock(&s->lock);
    return n;
}

uint64_t rmq_meta_state_next_stream_id(rmq_meta_state_t *s) {
    pthread_rwlock_rdlock(&s->lock);
    uint64_t n = s->b.next_stream_id;
    pthread_rwlock_unlock(&s->lock);
    return n;
}

bool rmq_meta_state_cluster_id(rmq_meta_state_t *s, rmq_meta_uuid_t *out) {
    pthread_rwlock_rdlock(&s->lock);
    bool has = s->b.has_cluster_id;
    if (has && out) *out = s->b.cluster_id;
    pthread_rwlock_unlock(&s->lock);
    return has;
}

rmq_err_t rmq_meta_state_stream_id(rmq_meta_state_t *s, const char *topic, int32_t partition, uint64_t *out) {
    rmq_err_t e = RMQ_UNKNOWN_TOPIC_OR_PARTITION;
    pthread_rwlock_rdlock(&s->lock);
    const rmq_meta_topic_t *t = topic ? tmap_get_name(&s->b.by_name, topic) : NULL;
    if (t && partition >= 0 && partition < t->n_partitions) {
        *out = t->partitions[partition].stream_id;
        e = RMQ_NONE;
    }
    pthread_rwlock_unlock(&s->lock);
    return e;
}

rmq_err_t rmq_meta_state_config(rmq_meta_state_t *s, const char *topic, const char *key, char *out, size_t cap,
                                bool *overridden) {
    const rmq_meta_config_def_t *d = rmq_meta_config_find(key);
    if (!d) return RMQ_INVALID_CONFIG;
    rmq_err_t e = RMQ_UNKNOWN_TOPIC_OR_PARTITION;
    pthread_rwlock_rdlock(&s->lock);
    const rmq_meta_topic_t *t = topic ? tmap_get_name(&s->b.by_name, topic) : NULL;
    if (t) {
        const char *v = rmq_meta_topic_config(t, key);
        if (overridden) *overridden = v != NULL;
        if (!v) v = d->default_value;
        size_t n = strlen(v);
        e = n < cap ? RMQ_NONE : RMQ_ERR_TOO_LARGE;
        if (cap) {
            size_t c = n < cap ? n : cap - 1;
            memcpy(out, v, c);
            out[c] = '\0';
        }
    }
    pthread_rwlock_unlock(&s->lock);
    return e;
}

int rmq_meta_state_foreach_topic(rmq_meta_state_t *s, int (*fn)(void *ud, const rmq_meta_topic_t *t), void *ud) {
    int rc = 0;
    pthread_rwlock_rdlock(&s->lock);
    for (size_t i = 0; i < s->b.n_topics && !rc; i++) rc = fn(ud, s->b.sorted[i]);
    pthread_rwlock_unlock(&s->lock);
    return rc;
}

static bool topic_equal(const rmq_meta_topic_t *x, const rmq_meta_topic_t *y) {
    if (strcmp(x->name, y->name) || !rmq_meta_uuid_eq(&x->id, &y->id) ||
        x->replication_factor != y->replication_factor || x->n_partitions != y->n_partitions ||
        x->n_configs != y->n_configs || x->created_index != y->created_index)
        return false;
    for (int32_t p = 0; p < x->n_partitions; p++)
        if (x->partitions[p].stream_id != y->partitions[p].stream_id ||
            x->partitions[p].leader != y->partitions[p].leader ||
            x->partitions[p].leader_epoch != y->partitions[p].leader_epoch ||
            x->partitions[p].n_replicas != y->partitions[p].n_replicas ||
            (x->partitions[p].n_replicas &&
             memcmp(x->partitions[p].replicas, y->partitions[p].replicas,
                    (size_t)x->partitions[p].n_replicas * sizeof *x->partitions[p].replicas)))
            return false;
    for (size_t k = 0; k < x->n_configs; k++)
        if (strcmp(x->configs[k].key, y->configs[k].key) || strcmp(x->configs[k].value, y->configs[k].value))
            return false;
    return true;
}

bool rmq_meta_state_equal(rmq_meta_state_t *a, rmq_meta_state_t *b) {
    pthread_rwlock_rdlock(&a->lock);
    pthread_rwlock_rdlock(&b->lock);
    const mbody_t *x = &a->b, *y = &b->b;
    bool eq = x->has_cluster_id == y->has_cluster_id && rmq_meta_uuid_eq(&x->cluster_id, &y->cluster_id) &&
              x->last_index == y->last_index && x->version == y->version &&
              x->next_stream_id == y->next_stream_id && x->total_partitions == y->total_partitions &&
              x->n_topics == y->n_topics && x->n_brokers == y->n_brokers;
    for (size_t i = 0; eq && i < x->n_brokers; i++) {
        const rmq_meta_broker_t *p = &x->brokers[i], *q = &y->brokers[i];
        eq = p->id == q->id && !strcmp(p->rack, q->rack) && !strcmp(p->host, q->host) && p->port == q->port &&
             p->epoch == q->epoch;
    }
    for (size_t i = 0; eq && i < x->n_topics; i++) eq = topic_equal(x->sorted[i], y->sorted[i]);
    eq = eq && x->n_objs == y->n_objs && x->n_ms == y->n_ms;
    for (size_t i = 0; eq && i < x->n_objs; i++) {
        const mobj_t *p = x->objs[i], *q = y->objs[i];
        eq = p->id == q->id && !strcmp(p->key, q->key) && p->size == q->size && p->n_ranges == q->n_ranges &&
             p->live == q->live && !memcmp(p->ranges, q->ranges, p->n_ranges * sizeof *p->ranges);
    }
    for (size_t i = 0; eq && i < x->n_ms; i++) {
        const mstream_t *p = &x->mstreams[i], *q = &y->mstreams[i];
        eq = p->id == q->id && p->log_start == q->log_start && p->n == q->n;
        for (size_t k = 0; eq && k < p->n; k++)
            eq = p->refs[k].base == q->refs[k].base && p->refs[k].end == q->refs[k].end &&
                 p->refs[k].obj->id == q->refs[k].obj->id && p->refs[k].ri == q->refs[k].ri;
    }
    /* the id index must agree too */
    for (size_t i = 0; eq && i < x->n_topics; i++)
        eq = tmap_get_id(&y->by_id, &x->sorted[i]->id) == y->sorted[i];
    pthread_rwlock_unlock(&b->lock);
    pthread_rwlock_unlock(&a->lock);
    return eq;
}

/* ---- object manifest readers ---- */

rmq_err_t rmq_meta_state_manifest_find(rmq_meta_state_t *s, uint64_t stream_id, int64_t from, size_t max,
                                       rmq_meta_obj_loc_t **out, size_t *n) {
    *out = NULL;
    *n = 0;
    rmq_err_t e = RMQ_NONE;
    pthread_rwlock_rdlock(&s->lock);
    const mstream_t *m = ms_find(&s->b, stream_id);
    if (m) {
        size_t k = ref_first_after(m, from);
        size_t cnt = m->n - k;
        if (max && cnt > max) cnt = max;
        if (cnt) {
            rmq_meta_obj_loc_t *v = malloc(cnt * sizeof *v);
            if (!v) {
                e = RMQ_ERR_NOMEM;
            } else {
                for (size_t i = 0; i < cnt; i++) {
                    const mref_t *rf = &m->refs[k + i];
                    snprintf(v[i].key, sizeof v[i].key, "%s", rf->obj->key);
                    v[i].object_id = rf->obj->id;
                    v[i].object_size = rf->obj->size;
                    v[i].range = rf->obj->ranges[rf->ri];
                }
                *out = v;
                *n = cnt;
            }
        }
    }
    pthread_rwlock_unlock(&s->lock);
    return e;
}

bool rmq_meta_state_manifest_stream(rmq_meta_state_t *s, uint64_t stream_id, int64_t *log_start, int64_t *end,
                                    uint64_t *bytes, size_t *n_ranges) {
    pthread_rwlock_rdlock(&s->lock);
    const mstream_t *m = ms_find(&s->b, stream_id);
    if (m) {
        uint64_t sum = 0;
        for (size_t k = 0; k < m->n; k++) sum += m->refs[k].obj->ranges[m->refs[k].ri].byte_length;
        if (log_start) *log_start = m->log_start;
        if (end) *end = m->n ? m->refs[m->n - 1].end : m->log_start;
        if (bytes) *bytes = sum;
        if (n_ranges) *n_ranges = m->n;
    }
    pthread_rwlock_unlock(&s->lock);
    return m != NULL;
}

bool rmq_meta_state_manifest_has_key(rmq_meta_state_t *s, const char *key) {
    bool found = false;
    pthread_rwlock_rdlock(&s->lock);
    for (size_t i = 0; i < s->b.n_objs && !found; i++) found = !strcmp(s->b.objs[i]->key, key);
    pthread_rwlock_unlock(&s->lock);
    return found;
}

uint64_t rmq_meta_state_manifest_max_id_in(rmq_meta_state_t *s, uint64_t lo, uint64_t hi) {
    pthread_rwlock_rdlock(&s->lock);
    uint64_t best = 0;
    for (size_t i = s->b.n_objs; i-- > 0;) { /* objs are sorted by id */
        uint64_t id = s->b.objs[i]->id;
        if (id < lo) break;
        if (id < hi) {
            best = id;
            break;
        }
    }
    pthread_rwlock_unlock(&s->lock);
    return best;
}

void rmq_meta_state_manifest_totals(rmq_meta_state_t *s, size_t *objects, uint64_t *bytes, uint64_t *max_object_id) {
    pthread_rwlock_rdlock(&s->lock);
    uint64_t sum = 0;
    for (size_t i = 0; i < s->b.n_objs; i++) sum += s->b.objs[i]->size;
    if (objects) *objects = s->b.n_objs;
    if (bytes) *bytes = sum;
    if (max_object_id) *max_object_id = s->b.n_objs ? s->b.objs[s->b.n_objs - 1]->id : 0;
    pthread_rwlock_unlock(&s->lock);
}
