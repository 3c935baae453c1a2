/* group.c - the group coordinator's state machine and the committed-offsets
 * map (see group.h for the model and the locking rules).
 *
 * Follows Kafka's classic GroupCoordinator: a group moves
 * Empty -> PreparingRebalance -> CompletingRebalance -> Stable and back to
 * PreparingRebalance whenever membership or protocols change. Joins park
 * until every known member has rejoined (or the rebalance timeout removes
 * the laggards); the first rebalance of an empty group waits
 * initial_rebalance_delay_ms (extended while members keep arriving, bounded
 * by the rebalance timeout) so a starting fleet does not cause one rebalance
 * per member. The leader gets every member's metadata for the selected
 * protocol (the first of the leader's protocols that all members support)
 * and its SyncGroup assignments are relayed untouched, so client-side
 * assignors (range, roundrobin, cooperative-sticky) work unchanged.
 *
 * Memory: groups, members and offsets are heap objects owned by the
 * rmq_groups_t; strings are copied in. */
#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "broker/group.h"
#include "common/log.h"

typedef struct rmq_gmember {
    char *id, *instance_id, *client_id, *client_host;
    int32_t session_timeout_ms, rebalance_timeout_ms;
    size_t n_protocols;
    char **proto_names;
    uint8_t **proto_meta;
    size_t *proto_meta_len;
    uint8_t *assignment;
    size_t assignment_len;
    int64_t last_heard_ms;
    rmq_group_join_cb join_cb; /* non-NULL: awaiting join */
    void *join_ud;
    rmq_group_sync_cb sync_cb; /* non-NULL: awaiting sync */
    void *sync_ud;
    bool is_new;
    bool synced; /* sent SyncGroup in the current CompletingRebalance */
    struct rmq_gmember *next;
} rmq_gmember_t;

typedef struct rmq_gpending {
    char *id;
    int64_t deadline_ms;
    struct rmq_gpending *next;
} rmq_gpending_t;

typedef struct rmq_goffset {
    rmq_group_offset_t v; /* v.topic and v.metadata owned (malloc) */
    uint64_t hash;
    struct rmq_goffset *next;
} rmq_goffset_t;

typedef struct rmq_group {
    char *id;
    uint64_t hash;
    rmq_group_state_t state;
    int32_t generation;
    char *protocol_type, *protocol_name, *leader;
    rmq_gmember_t *members;
    size_t n_members;
    rmq_gpending_t *pending;
    int64_t rebalance_deadline_ms; /* PreparingRebalance: join deadline; Completing: sync deadline */
    int64_t delay_until_ms;        /* initial delay active when > 0 */
    int64_t delay_max_ms;
    bool delay_new_member;
    int64_t empty_since_ms; /* when it last became Empty (0: never had members) */
    rmq_goffset_t **offs;
    size_t offs_cap, offs_n;
    struct rmq_group *next;
} rmq_group_t;

struct rmq_groups {
    pthread_mutex_t mu;
    rmq_groups_config_t cfg;
    rmq_group_t **tab;
    size_t cap, n;
    rmq_err_t closed; /* != 0: joins and syncs are answered with it */
};

/* ------------------------------------------------------------------ util */

static const char *const rmq_state_names[] = {"Empty", "PreparingRebalance", "CompletingRebalance", "Stable",
                                              "Dead"};

const char *rmq_group_state_name(rmq_group_state_t s) {
    return (unsigned)s < 5 ? rmq_state_names[s] : "Unknown";
}

int rmq_group_state_parse(const char *s, size_t len) {
    for (int i = 0; i < 5; i++)
        if (strlen(rmq_state_names[i]) == len && strncasecmp(rmq_state_names[i], s, len) == 0) return i;
    return -1;
}

static uint64_t rmq_ghash(const char *s, size_t n, uint64_t h) {
    if (!h) h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++) {
        h ^= (uint8_t)s[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

static uint64_t rmq_ghash_str(const char *s) { return rmq_ghash(s, strlen(s), 0); }

static uint64_t rmq_ohash(const char *topic, int32_t partition) {
    uint64_t h = rmq_ghash(topic, strlen(topic), 0);
    h ^= (uint64_t)(uint32_t)partition * 0x9e3779b97f4a7c15ull;
    return h ^ (h >> 29);
}

static char *rmq_gstrdup(const char *s) { return strdup(s ? s : ""); }

static bool rmq_streq(const char *a, const char *b) {
    if (!a || !b) return a == b;
    return strcmp(a, b) == 0;
}

static void rmq_new_member_id(const char *client_id, char *out, size_t cap) {
    uint8_t r[16];
    if (getrandom(r, sizeof r, 0) != (ssize_t)sizeof r) {
        static _Atomic uint64_t seq;
        uint64_t x = ++seq ^ (uint64_t)(uintptr_t)out;
        memcpy(r, &x, 8);
        memcpy(r + 8, &x, 8);
    }
    snprintf(out, cap,
             "%.200s-%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
             client_id && *client_id ? client_id : "member", r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8],
             r[9], r[10], r[11], r[12], r[13], r[14], r[15]);
}

/* --------------------------------------------------------- group table */

rmq_groups_t *rmq_groups_new(const rmq_groups_config_t *cfg) {
    rmq_groups_t *g = calloc(1, sizeof *g);
    if (!g) return NULL;
    g->cfg = *cfg;
    g->cap = 64;
    g->tab = calloc(g->cap, sizeof *g->tab);
    if (!g->tab) {
        free(g);
        return NULL;
    }
    pthread_mutex_init(&g->mu, NULL);
    return g;
}

static void rmq_member_free(rmq_gmember_t *m) {
    free(m->id);
    free(m->instance_id);
    free(m->client_id);
    free(m->client_host);
    for (size_t i = 0; i < m->n_protocols; i++) {
        free(m->proto_names[i]);
        free(m->proto_meta[i]);
    }
    free(m->proto_names);
    free(m->proto_meta);
    free(m->proto_meta_len);
    free(m->assignment);
    free(m);
}

static void rmq_offset_free(rmq_goffset_t *o) {
    free((char *)o->v.topic);
    free((char *)o->v.metadata);
    free(o);
}

static void rmq_group_free(rmq_group_t *grp) {
    while (grp->members) {
        rmq_gmember_t *m = grp->members;
        grp->members = m->next;
        rmq_member_free(m);
    }
    while (grp->pending) {
        rmq_gpending_t *p = grp->pending;
        grp->pending = p->next;
        free(p->id);
        free(p);
    }
    for (size_t i = 0; i < grp->offs_cap; i++) {
        while (grp->offs && grp->offs[i]) {
            rmq_goffset_t *o = grp->offs[i];
            grp->offs[i] = o->next;
            rmq_offset_free(o);
        }
    }
    free(grp->offs);
    free(grp->id);
    free(grp->protocol_type);
    free(grp->protocol_name);
    free(grp->leader);
    free(grp);
}

void rmq_groups_free(rmq_groups_t *g) {
    if (!g) return;
    for (size_t i = 0; i < g->cap; i++) {
        while (g->tab[i]) {
            rmq_group_t *grp = g->tab[i];
            g->tab[i] = grp->next;
            rmq_group_free(grp);
        }
    }
    free(g->tab);
    pthread_mutex_destroy(&g->mu);
    free(g);
}

void rmq_groups_lock(rmq_groups_t *g) { pthread_mutex_lock(&g->mu); }
void rmq_groups_unlock(rmq_groups_t *g) { pthread_mutex_unlock(&g->mu); }

static rmq_group_t *rmq_group_find(rmq_groups_t *g, const char *id) {
    if (!id) return NULL;
    uint64_t h = rmq_ghash_str(id);
    for (rmq_group_t *grp = g->tab[h & (g->cap - 1)]; grp; grp = grp->next)
        if (grp->hash == h && strcmp(grp->id, id) == 0) return grp;
    return NULL;
}

static rmq_group_t *rmq_group_create(rmq_groups_t *g, const char *id) {
    if (g->n + 1 > g->cap) {
        size_t ncap = g->cap * 2;
        rmq_group_t **nt = calloc(ncap, sizeof *nt);
        if (!nt) return NULL;
        for (size_t i = 0; i < g->cap; i++) {
            while (g->tab[i]) {
                rmq_group_t *grp = g->tab[i];
                g->tab[i] = grp->next;
                grp->next = nt[grp->hash & (ncap - 1)];
                nt[grp->hash & (ncap - 1)] = grp;
            }
        }
        free(g->tab);
        g->tab = nt;
        g->cap = ncap;
    }
    rmq_group_t *grp = calloc(1, sizeof *grp);
    if (!grp || !(grp->id = strdup(id))) {
        free(grp);
        return NULL;
    }
    grp->hash = rmq_ghash_str(id);
    grp->state = RMQ_GROUP_EMPTY;
    grp->leader = NULL;
    grp->next = g->tab[grp->hash & (g->cap - 1)];
    g->tab[grp->hash & (g->cap - 1)] = grp;
    g->n++;
    return grp;
}

static void rmq_group_remove(rmq_groups_t *g, rmq_group_t *grp) {
    rmq_group_t **pp = &g->tab[grp->hash & (g->cap - 1)];
    while (*pp && *pp != grp) pp = &(*pp)->next;
    if (*pp) {
        *pp = grp->next;
        g->n--;
    }
    rmq_group_free(grp);
}

static rmq_gmember_t *rmq_member_find(rmq_group_t *grp, const char *id) {
    for (rmq_gmember_t *m = grp->members; m; m = m->next)
        if (strcmp(m->id, id) == 0) return m;
    return NULL;
}

static rmq_gmember_t *rmq_member_by_instance(rmq_group_t *grp, const char *inst) {
    if (!inst) return NULL;
    for (rmq_gmember_t *m = grp->members; m; m = m->next)
        if (m->instance_id && strcmp(m->instance_id, inst) == 0) return m;
    return NULL;
}

static rmq_gpending_t **rmq_pending_find(rmq_group_t *grp, const char *id) {
    rmq_gpending_t **pp = &grp->pending;
    while (*pp && strcmp((*pp)->id, id) != 0) pp = &(*pp)->next;
    return *pp ? pp : NULL;
}

static void rmq_pending_remove(rmq_group_t *grp, const char *id) {
    rmq_gpending_t **pp = rmq_pending_find(grp, id);
    if (!pp) return;
    rmq_gpending_t *p = *pp;
    *pp = p->next;
    free(p->id);
    free(p);
}

/* Kafka's isStaticMemberFenced: the instance is registered under another
 * member id. */
static bool rmq_static_fenced(rmq_group_t *grp, const char *member_id, const char *inst) {
    rmq_gmember_t *m = rmq_member_by_instance(grp, inst);
    return m && strcmp(m->id, member_id) != 0;
}

/* ------------------------------------------------------ join completion */

static void rmq_join_reply_err(rmq_group_join_cb cb, void *ud, rmq_err_t err, const char *member_id) {
    rmq_group_join_result_t r;
    memset(&r, 0, sizeof r);
    r.err = err;
    r.generation = -1;
    r.leader = "";
    r.member_id = member_id ? member_id : "";
    cb(ud, &r);
}

static void rmq_sync_reply_err(rmq_group_sync_cb cb, void *ud, rmq_err_t err) {
    rmq_group_sync_result_t r;
    memset(&r, 0, sizeof r);
    r.err = err;
    cb(ud, &r);
}

static int rmq_member_proto_index(const rmq_gmember_t *m, const char *name) {
    for (size_t i = 0; i < m->n_protocols; i++)
        if (strcmp(m->proto_names[i], name) == 0) return (int)i;
    return -1;
}

/* Leader's preference order, first protocol every member supports. */
static const char *rmq_group_select_protocol(rmq_group_t *grp, rmq_gmember_t *leader) {
    for (size_t i = 0; i < leader->n_protocols; i++) {
        const char *p = leader->proto_names[i];
        bool all = true;
        for (rmq_gmember_t *m = grp->members; m && all; m = m->next) all = rmq_member_proto_index(m, p) >= 0;
        if (all) return p;
    }
    return NULL;
}

/* Deliver a join result to one member (leader gets the member list). */
static void rmq_join_reply_member(rmq_group_t *grp, rmq_gmember_t *m, rmq_group_member_info_t *infos, size_t n,
                                  bool skip_assignment) {
    rmq_group_join_cb cb = m->join_cb;
    void *ud = m->join_ud;
    m->join_cb = NULL;
    m->join_ud = NULL;
    m->is_new = false;
    if (!cb) return;
    rmq_group_join_result_t r;
    memset(&r, 0, sizeof r);
    r.err = RMQ_NONE;
    r.generation = grp->generation;
    r.protocol_type = grp->protocol_type;
    r.protocol_name = grp->protocol_name;
    r.leader = grp->leader ? grp->leader : "";
    r.member_id = m->id;
    r.skip_assignment = skip_assignment;
    bool is_leader = grp->leader && strcmp(grp->leader, m->id) == 0;
    if (is_leader) {
        r.members = infos;
        r.n_members = n;
    }
    cb(ud, &r);
}

/* Member list with the selected protocol's metadata (malloc'd; caller frees). */
static rmq_group_member_info_t *rmq_group_member_infos(rmq_group_t *grp, size_t *n) {
    *n = 0;
    rmq_group_member_info_t *v = calloc(grp->n_members ? grp->n_members : 1, sizeof *v);
    if (!v) return NULL;
    for (rmq_gmember_t *m = grp->members; m; m = m->next) {
        int pi = grp->protocol_name ? rmq_member_proto_index(m, grp->protocol_name) : -1;
        v[*n].member_id = m->id;
        v[*n].instance_id = m->instance_id;
        v[*n].metadata = pi >= 0 ? m->proto_meta[pi] : (const uint8_t *)"";
        v[*n].metadata_len = pi >= 0 ? m->proto_meta_len[pi] : 0;
        (*n)++;
    }
    return v;
}

static void rmq_member_unlink(rmq_group_t *grp, rmq_gmember_t *m) {
    rmq_gmember_t **pp = &grp->members;
    while (*pp && *pp != m) pp = &(*pp)->next;
    if (*pp) {
        *pp = m->next;
        grp->n_members--;
    }
    if (grp->leader && strcmp(grp->leader, m->id) == 0) {
        free(grp->leader);
        grp->leader = grp->members ? strdup(grp->members->id) : NULL;
    }
}

/* Remove a member, answering its parked requests with err. */
static void rmq_member_remove(rmq_group_t *grp, rmq_gmember_t *m, rmq_err_t err) {
    if (m->join_cb) rmq_join_reply_err(m->join_cb, m->join_ud, err, m->id);
    if (m->sync_cb) rmq_sync_reply_err(m->sync_cb, m->sync_ud, err);
    m->join_cb = NULL;
    m->sync_cb = NULL;
    rmq_member_unlink(grp, m);
    rmq_member_free(m);
}

static int32_t rmq_group_max_rebalance_timeout(rmq_group_t *grp) {
    int32_t t = 0;
    for (rmq_gmember_t *m = grp->members; m; m = m->next)
        if (m->rebalance_timeout_ms > t) t = m->rebalance_timeout_ms;
    return t;
}

static void rmq_group_complete_join(rmq_groups_t *g, rmq_group_t *grp, int64_t now) {
    /* members that did not rejoin in time are out */
    for (rmq_gmember_t *m = grp->members, *nx; m; m = nx) {
        nx = m->next;
        if (!m->join_cb) {
            RMQ_INFO("group", "msg=\"member did not rejoin in time, removed\" group=%s member=%s", grp->id, m->id);
            rmq_member_remove(grp, m, RMQ_UNKNOWN_MEMBER_ID);
        }
    }
    grp->delay_until_ms = 0;
    grp->generation++;
    free(grp->protocol_name);
    grp->protocol_name = NULL;
    if (grp->n_members == 0) {
        grp->state = RMQ_GROUP_EMPTY;
        grp->empty_since_ms = now;
        free(grp->leader);
        grp->leader = NULL;
        RMQ_INFO("group", "msg=\"group is empty\" group=%s generation=%d", grp->id, grp->generation);
        return;
    }
    rmq_gmember_t *leader = grp->leader ? rmq_member_find(grp, grp->leader) : NULL;
    if (!leader) {
        leader = grp->members;
        free(grp->leader);
        grp->leader = strdup(leader->id);
    }
    const char *proto = rmq_group_select_protocol(grp, leader);
    if (!proto) {
        /* joins are checked for a common protocol, so this means members
         * changed under us: everyone must rejoin */
        for (rmq_gmember_t *m = grp->members, *nx; m; m = nx) {
            nx = m->next;
            rmq_member_remove(grp, m, RMQ_INCONSISTENT_GROUP_PROTOCOL);
        }
        grp->state = RMQ_GROUP_EMPTY;
        grp->empty_since_ms = now;
        return;
    }
    grp->protocol_name = strdup(proto);
    grp->state = RMQ_GROUP_COMPLETING_REBALANCE;
    grp->rebalance_deadline_ms = now + rmq_group_max_rebalance_timeout(grp);
    RMQ_INFO("group", "msg=\"rebalance: joined\" group=%s generation=%d members=%zu protocol=%s leader=%s", grp->id,
             grp->generation, grp->n_members, proto, grp->leader);
    size_t n;
    rmq_group_member_info_t *infos = rmq_group_member_infos(grp, &n);
    for (rmq_gmember_t *m = grp->members; m; m = m->next) {
        m->synced = false;
        m->last_heard_ms = now;
        free(m->assignment);
        m->assignment = NULL;
        m->assignment_len = 0;
        rmq_join_reply_member(grp, m, infos ? infos : NULL, infos ? n : 0, false);
    }
    free(infos);
    (void)g;
}

static void rmq_group_try_complete_join(rmq_groups_t *g, rmq_group_t *grp, int64_t now) {
    if (grp->state != RMQ_GROUP_PREPARING_REBALANCE || grp->delay_until_ms > 0) return;
    if (grp->pending) return;
    for (rmq_gmember_t *m = grp->members; m; m = m->next)
        if (!m->join_cb) return;
    rmq_group_complete_join(g, grp, now);
}

static void rmq_group_prepare_rebalance(rmq_groups_t *g, rmq_group_t *grp, int64_t now, const char *why) {
    if (grp->state == RMQ_GROUP_PREPARING_REBALANCE) return;
    if (grp->state == RMQ_GROUP_COMPLETING_REBALANCE) {
        for (rmq_gmember_t *m = grp->members; m; m = m->next) {
            if (m->sync_cb) rmq_sync_reply_err(m->sync_cb, m->sync_ud, RMQ_REBALANCE_IN_PROGRESS);
            m->sync_cb = NULL;
            m->sync_ud = NULL;
            free(m->assignment);
            m->assignment = NULL;
            m->assignment_len = 0;
        }
    }
    int32_t rt = rmq_group_max_rebalance_timeout(grp);
    if (grp->state == RMQ_GROUP_EMPTY && g->cfg.initial_rebalance_delay_ms > 0) {
        int64_t d = g->cfg.initial_rebalance_delay_ms < rt ? g->cfg.initial_rebalance_delay_ms : rt;
        grp->delay_until_ms = now + (d > 0 ? d : 1);
        grp->delay_max_ms = now + (rt > d ? rt : d);
        grp->delay_new_member = false;
    } else {
        grp->delay_until_ms = 0;
    }
    RMQ_INFO("group", "msg=\"preparing rebalance\" group=%s generation=%d reason=\"%s\"", grp->id, grp->generation,
             why);
    grp->state = RMQ_GROUP_PREPARING_REBALANCE;
    grp->rebalance_deadline_ms = now + rt;
}

/* After a member left or expired. */
static void rmq_group_after_removal(rmq_groups_t *g, rmq_group_t *grp, int64_t now, const char *why) {
    switch (grp->state) {
    case RMQ_GROUP_STABLE:
    case RMQ_GROUP_COMPLETING_REBALANCE:
        rmq_group_prepare_rebalance(g, grp, now, why);
        rmq_group_try_complete_join(g, grp, now);
        break;
    case RMQ_GROUP_PREPARING_REBALANCE:
        rmq_group_try_complete_join(g, grp, now);
        break;
    default:
        break;
    }
}

/* ------------------------------------------------------------ JoinGroup */

static rmq_err_t rmq_member_set_protocols(rmq_gmember_t *m, const rmq_group_join_args_t *a) {
    size_t n = a->n_protocols;
    char **names = calloc(n ? n : 1, sizeof *names);
    uint8_t **meta = calloc(n ? n : 1, sizeof *meta);
    size_t *lens = calloc(n ? n : 1, sizeof *lens);
    bool ok = names && meta && lens;
    for (size_t i = 0; ok && i < n; i++) {
        names[i] = strdup(a->protocols[i].name ? a->protocols[i].name : "");
        meta[i] = malloc(a->protocols[i].meta_len ? a->protocols[i].meta_len : 1);
        ok = names[i] && meta[i];
        if (ok && a->protocols[i].meta_len) memcpy(meta[i], a->protocols[i].meta, a->protocols[i].meta_len);
        lens[i] = a->protocols[i].meta_len;
    }
    if (!ok) {
        for (size_t i = 0; names && meta && i < n; i++) {
            free(names[i]);
            free(meta[i]);
        }
        free(names);
        free(meta);
        free(lens);
        return RMQ_ERR_NOMEM;
    }
    for (size_t i = 0; i < m->n_protocols; i++) {
        free(m->proto_names[i]);
        free(m->proto_meta[i]);
    }
    free(m->proto_names);
    free(m->proto_meta);
    free(m->proto_meta_len);
    m->proto_names = names;
    m->proto_meta = meta;
    m->proto_meta_len = lens;
    m->n_protocols = n;
    return RMQ_NONE;
}

/* Same protocol names and metadata as the member has. */
static bool rmq_member_same_protocols(const rmq_gmember_t *m, const rmq_group_join_args_t *a) {
    if (m->n_protocols != a->n_protocols) return false;
    for (size_t i = 0; i < a->n_protocols; i++) {
        if (!rmq_streq(m->proto_names[i], a->protocols[i].name)) return false;
        if (m->proto_meta_len[i] != a->protocols[i].meta_len) return false;
        if (a->protocols[i].meta_len && memcmp(m->proto_meta[i], a->protocols[i].meta, a->protocols[i].meta_len))
            return false;
    }
    return true;
}

/* Kafka's supportsProtocols: an empty group takes any non-empty type and
 * list; otherwise same type and at least one protocol every other member
 * also supports. */
static bool rmq_group_supports(rmq_group_t *grp, const rmq_group_join_args_t *a, const rmq_gmember_t *self) {
    if (!a->protocol_type || !*a->protocol_type || a->n_protocols == 0) return false;
    bool others = false;
    for (rmq_gmember_t *m = grp->members; m; m = m->next) others |= m != self;
    if (!others) return true;
    if (!rmq_streq(grp->protocol_type, a->protocol_type)) return false;
    for (size_t i = 0; i < a->n_protocols; i++) {
        bool all = true;
        for (rmq_gmember_t *m = grp->members; m && all; m = m->next)
            if (m != self) all = rmq_member_proto_index(m, a->protocols[i].name) >= 0;
        if (all) return true;
    }
    return false;
}

static void rmq_member_update(rmq_gmember_t *m, const rmq_group_join_args_t *a) {
    m->session_timeout_ms = a->session_timeout_ms;
    m->rebalance_timeout_ms = a->rebalance_timeout_ms;
    if (!rmq_member_same_protocols(m, a)) rmq_member_set_protocols(m, a);
    m->last_heard_ms = a->now_ms;
}

static rmq_gmember_t *rmq_member_new(const char *id, const rmq_group_join_args_t *a) {
    rmq_gmember_t *m = calloc(1, sizeof *m);
    if (!m) return NULL;
    m->id = strdup(id);
    m->instance_id = a->instance_id ? strdup(a->instance_id) : NULL;
    m->client_id = rmq_gstrdup(a->client_id);
    m->client_host = rmq_gstrdup(a->client_host);
    if (!m->id || (a->instance_id && !m->instance_id) || !m->client_id || !m->client_host ||
        rmq_member_set_protocols(m, a)) {
        rmq_member_free(m);
        return NULL;
    }
    m->session_timeout_ms = a->session_timeout_ms;
    m->rebalance_timeout_ms = a->rebalance_timeout_ms;
    m->last_heard_ms = a->now_ms;
    m->is_new = true;
    return m;
}

static void rmq_group_add_member_and_rebalance(rmq_groups_t *g, rmq_group_t *grp, const char *id,
                                               const rmq_group_join_args_t *a, rmq_group_join_cb cb, void *ud) {
    rmq_gmember_t *m = rmq_member_new(id, a);
    if (!m) {
        rmq_join_reply_err(cb, ud, RMQ_UNKNOWN_SERVER_ERROR, id);
        return;
    }
    if (!grp->protocol_type || grp->n_members == 0) {
        free(grp->protocol_type);
        grp->protocol_type = strdup(a->protocol_type);
    }
    /* append: the first member becomes leader */
    rmq_gmember_t **pp = &grp->members;
    while (*pp) pp = &(*pp)->next;
    *pp = m;
    grp->n_members++;
    if (!grp->leader) grp->leader = strdup(m->id);
    m->join_cb = cb;
    m->join_ud = ud;
    rmq_pending_remove(grp, id);
    if (grp->state == RMQ_GROUP_PREPARING_REBALANCE && grp->delay_until_ms > 0) grp->delay_new_member = true;
    if (grp->state != RMQ_GROUP_PREPARING_REBALANCE) rmq_group_prepare_rebalance(g, grp, a->now_ms, "member joined");
    /* the rebalance deadline follows the largest timeout of the members */
    int64_t dl = a->now_ms + m->rebalance_timeout_ms;
    if (grp->delay_until_ms == 0 && dl > grp->rebalance_deadline_ms) grp->rebalance_deadline_ms = dl;
    rmq_group_try_complete_join(g, grp, a->now_ms);
}

/* A rejoin of a known member (or a static member whose id was replaced). */
static void rmq_group_update_member_and_rebalance(rmq_groups_t *g, rmq_group_t *grp, rmq_gmember_t *m,
                                                  const rmq_group_join_args_t *a, rmq_group_join_cb cb, void *ud) {
    bool same = rmq_member_same_protocols(m, a);
    rmq_member_update(m, a);
    if (m->join_cb) /* a duplicate join replaces the old one */
        rmq_join_reply_err(m->join_cb, m->join_ud, RMQ_REBALANCE_IN_PROGRESS, m->id);
    m->join_cb = cb;
    m->join_ud = ud;
    switch (grp->state) {
    case RMQ_GROUP_PREPARING_REBALANCE:
        rmq_group_try_complete_join(g, grp, a->now_ms);
        break;
    case RMQ_GROUP_COMPLETING_REBALANCE:
        if (same) {
            /* the join response was lost: send it again */
            size_t n;
            rmq_group_member_info_t *infos = rmq_group_member_infos(grp, &n);
            rmq_join_reply_member(grp, m, infos, infos ? n : 0, false);
            free(infos);
        } else {
            rmq_group_prepare_rebalance(g, grp, a->now_ms, "member changed its protocols");
            rmq_group_try_complete_join(g, grp, a->now_ms);
        }
        break;
    case RMQ_GROUP_STABLE: {
        bool leader = grp->leader && strcmp(grp->leader, m->id) == 0;
        if (leader || !same) {
            rmq_group_prepare_rebalance(g, grp, a->now_ms, leader ? "leader rejoined" : "member changed its protocols");
            rmq_group_try_complete_join(g, grp, a->now_ms);
        } else {
            rmq_join_reply_member(grp, m, NULL, 0, false);
        }
        break;
    }
    default:
        rmq_join_reply_err(cb, ud, RMQ_UNKNOWN_MEMBER_ID, m->id);
        m->join_cb = NULL;
        break;
    }
}

static void rmq_group_join_static_unknown_id(rmq_groups_t *g, rmq_group_t *grp, rmq_gmember_t *old,
                                             const rmq_group_join_args_t *a, rmq_group_join_cb cb, void *ud) {
    char nid[320];
    rmq_new_member_id(a->client_id, nid, sizeof nid);
    char *id = strdup(nid);
    if (!id) {
        rmq_join_reply_err(cb, ud, RMQ_UNKNOWN_SERVER_ERROR, "");
        return;
    }
    RMQ_INFO("group", "msg=\"static member rejoined, id replaced\" group=%s instance=%s old=%s new=%s", grp->id,
             a->instance_id, old->id, id);
    /* the old incarnation is fenced */
    if (old->join_cb) rmq_join_reply_err(old->join_cb, old->join_ud, RMQ_FENCED_INSTANCE_ID, old->id);
    if (old->sync_cb) rmq_sync_reply_err(old->sync_cb, old->sync_ud, RMQ_FENCED_INSTANCE_ID);
    old->join_cb = NULL;
    old->sync_cb = NULL;
    if (grp->leader && strcmp(grp->leader, old->id) == 0) {
        free(grp->leader);
        grp->leader = strdup(id);
    }
    free(old->id);
    old->id = id;
    free(old->client_id);
    old->client_id = rmq_gstrdup(a->client_id);
    free(old->client_host);
    old->client_host = rmq_gstrdup(a->client_host);
    switch (grp->state) {
    case RMQ_GROUP_STABLE: {
        /* no rebalance unless the selected protocol would change */
        rmq_member_update(old, a);
        rmq_gmember_t *leader = grp->leader ? rmq_member_find(grp, grp->leader) : NULL;
        const char *sel = leader ? rmq_group_select_protocol(grp, leader) : NULL;
        if (sel && rmq_streq(sel, grp->protocol_name)) {
            bool is_leader = grp->leader && strcmp(grp->leader, old->id) == 0;
            old->join_cb = cb;
            old->join_ud = ud;
            size_t n = 0;
            rmq_group_member_info_t *infos = is_leader ? rmq_group_member_infos(grp, &n) : NULL;
            rmq_join_reply_member(grp, old, infos, n, is_leader);
            free(infos);
        } else {
            old->join_cb = cb;
            old->join_ud = ud;
            rmq_group_prepare_rebalance(g, grp, a->now_ms, "static member rejoined with other protocols");
            rmq_group_try_complete_join(g, grp, a->now_ms);
        }
        break;
    }
    case RMQ_GROUP_COMPLETING_REBALANCE:
        rmq_member_update(old, a);
        old->join_cb = cb;
        old->join_ud = ud;
        rmq_group_prepare_rebalance(g, grp, a->now_ms, "static member rejoined during sync");
        rmq_group_try_complete_join(g, grp, a->now_ms);
        break;
    default:
        rmq_group_update_member_and_rebalance(g, grp, old, a, cb, ud);
        break;
    }
}

void rmq_groups_join(rmq_groups_t *g, const rmq_group_join_args_t *a, rmq_group_join_cb cb, void *ud) {
    const char *mid = a->member_id ? a->member_id : "";
    if (!a->group_id || !*a->group_id) {
        rmq_join_reply_err(cb, ud, RMQ_INVALID_GROUP_ID, mid);
        return;
    }
    if (a->session_timeout_ms < g->cfg.min_session_timeout_ms ||
        a->session_timeout_ms > g->cfg.max_session_timeout_ms) {
        rmq_join_reply_err(cb, ud, RMQ_INVALID_SESSION_TIMEOUT, mid);
        return;
    }
    rmq_group_join_args_t args = *a;
    if (args.rebalance_timeout_ms <= 0) args.rebalance_timeout_ms = args.session_timeout_ms;
    a = &args;
    pthread_mutex_lock(&g->mu);
    if (g->closed) {
        rmq_join_reply_err(cb, ud, g->closed, mid);
        pthread_mutex_unlock(&g->mu);
        return;
    }
    rmq_group_t *grp = rmq_group_find(g, a->group_id);
    if (!grp) {
        if (*mid) {
            pthread_mutex_unlock(&g->mu);
            rmq_join_reply_err(cb, ud, RMQ_UNKNOWN_MEMBER_ID, mid);
            return;
        }
        grp = rmq_group_create(g, a->group_id);
        if (!grp) {
            pthread_mutex_unlock(&g->mu);
            rmq_join_reply_err(cb, ud, RMQ_UNKNOWN_SERVER_ERROR, mid);
            return;
        }
    }
    rmq_gmember_t *self = *mid ? rmq_member_find(grp, mid) : rmq_member_by_instance(grp, a->instance_id);
    if (!rmq_group_supports(grp, a, self)) {
        rmq_join_reply_err(cb, ud, RMQ_INCONSISTENT_GROUP_PROTOCOL, mid);
        pthread_mutex_unlock(&g->mu);
        return;
    }
    if (!*mid) {
        rmq_gmember_t *old = rmq_member_by_instance(grp, a->instance_id);
        if (old) {
            rmq_group_join_static_unknown_id(g, grp, old, a, cb, ud);
        } else {
            char nid[320];
            rmq_new_member_id(a->client_id, nid, sizeof nid);
            if (a->require_known_member_id && !a->instance_id) {
                rmq_gpending_t *p = calloc(1, sizeof *p);
                if (p && (p->id = strdup(nid))) {
                    p->deadline_ms = a->now_ms + a->session_timeout_ms;
                    p->next = grp->pending;
                    grp->pending = p;
                } else {
                    free(p);
                }
                rmq_join_reply_err(cb, ud, RMQ_MEMBER_ID_REQUIRED, nid);
            } else {
                rmq_group_add_member_and_rebalance(g, grp, nid, a, cb, ud);
            }
        }
        pthread_mutex_unlock(&g->mu);
        return;
    }
    /* known member id */
    if (a->instance_id && rmq_static_fenced(grp, mid, a->instance_id)) {
        rmq_join_reply_err(cb, ud, RMQ_FENCED_INSTANCE_ID, mid);
    } else if (rmq_pending_find(grp, mid)) {
        rmq_group_add_member_and_rebalance(g, grp, mid, a, cb, ud);
    } else if (!self || grp->state == RMQ_GROUP_DEAD || grp->state == RMQ_GROUP_EMPTY) {
        rmq_join_reply_err(cb, ud, RMQ_UNKNOWN_MEMBER_ID, mid);
    } else {
        rmq_group_update_member_and_rebalance(g, grp, self, a, cb, ud);
    }
    pthread_mutex_unlock(&g->mu);
}

/* ------------------------------------------------------------ SyncGroup */

static void rmq_sync_reply_member(rmq_group_t *grp, rmq_gmember_t *m) {
    rmq_group_sync_cb cb = m->sync_cb;
    void *ud = m->sync_ud;
    m->sync_cb = NULL;
    m->sync_ud = NULL;
    if (!cb) return;
    rmq_group_sync_result_t r;
    memset(&r, 0, sizeof r);
    r.protocol_type = grp->protocol_type;
    r.protocol_name = grp->protocol_name;
    r.assignment = m->assignment ? m->assignment : (const uint8_t *)"";
    r.assignment_len = m->assignment_len;
    cb(ud, &r);
}

void rmq_groups_sync(rmq_groups_t *g, const rmq_group_sync_args_t *a, rmq_group_sync_cb cb, void *ud) {
    pthread_mutex_lock(&g->mu);
    rmq_group_t *grp = rmq_group_find(g, a->group_id);
    rmq_gmember_t *m = grp && a->member_id ? rmq_member_find(grp, a->member_id) : NULL;
    rmq_err_t err = RMQ_NONE;
    if (g->closed) err = g->closed;
    else if (!grp) err = RMQ_UNKNOWN_MEMBER_ID;
    else if (a->instance_id && rmq_static_fenced(grp, a->member_id ? a->member_id : "", a->instance_id))
        err = RMQ_FENCED_INSTANCE_ID;
    else if (!m) err = RMQ_UNKNOWN_MEMBER_ID;
    else if (a->generation != grp->generation) err = RMQ_ILLEGAL_GENERATION;
    else if ((a->protocol_type && !rmq_streq(a->protocol_type, grp->protocol_type)) ||
             (a->protocol_name && !rmq_streq(a->protocol_name, grp->protocol_name)))
        err = RMQ_INCONSISTENT_GROUP_PROTOCOL;
    else if (grp->state == RMQ_GROUP_EMPTY || grp->state == RMQ_GROUP_DEAD) err = RMQ_UNKNOWN_MEMBER_ID;
    else if (grp->state == RMQ_GROUP_PREPARING_REBALANCE) err = RMQ_REBALANCE_IN_PROGRESS;
    if (err) {
        rmq_sync_reply_err(cb, ud, err);
        pthread_mutex_unlock(&g->mu);
        return;
    }
    m->last_heard_ms = a->now_ms;
    if (grp->state == RMQ_GROUP_STABLE) {
        m->sync_cb = cb;
        m->sync_ud = ud;
        rmq_sync_reply_member(grp, m);
        pthread_mutex_unlock(&g->mu);
        return;
    }
    /* CompletingRebalance: park; the leader's assignment completes it */
    if (m->sync_cb) rmq_sync_reply_err(m->sync_cb, m->sync_ud, RMQ_REBALANCE_IN_PROGRESS);
    m->sync_cb = cb;
    m->sync_ud = ud;
    m->synced = true;
    if (grp->leader && strcmp(grp->leader, m->id) == 0) {
        for (rmq_gmember_t *x = grp->members; x; x = x->next) {
            free(x->assignment);
            x->assignment = NULL;
            x->assignment_len = 0;
        }
        for (size_t i = 0; i < a->n_assignments; i++) {
            rmq_gmember_t *x = a->assignments[i].member_id ? rmq_member_find(grp, a->assignments[i].member_id) : NULL;
            if (!x || x->assignment) continue;
            x->assignment = malloc(a->assignments[i].len ? a->assignments[i].len : 1);
            if (!x->assignment) continue;
            if (a->assignments[i].len) memcpy(x->assignment, a->assignments[i].data, a->assignments[i].len);
            x->assignment_len = a->assignments[i].len;
        }
        grp->state = RMQ_GROUP_STABLE;
        RMQ_INFO("group", "msg=\"group stable\" group=%s generation=%d members=%zu", grp->id, grp->generation,
                 grp->n_members);
        for (rmq_gmember_t *x = grp->members; x; x = x->next) rmq_sync_reply_member(grp, x);
    }
    pthread_mutex_unlock(&g->mu);
}

/* ------------------------------------------------- Heartbeat, LeaveGroup */

rmq_err_t rmq_groups_heartbeat(rmq_groups_t *g, const char *group_id, const char *member_id, const char *instance_id,
                               int32_t generation, int64_t now_ms) {
    pthread_mutex_lock(&g->mu);
    rmq_group_t *grp = rmq_group_find(g, group_id);
    rmq_gmember_t *m = grp && member_id ? rmq_member_find(grp, member_id) : NULL;
    rmq_err_t err = RMQ_NONE;
    if (!grp) err = RMQ_UNKNOWN_MEMBER_ID;
    else if (instance_id && rmq_static_fenced(grp, member_id ? member_id : "", instance_id))
        err = RMQ_FENCED_INSTANCE_ID;
    else if (!m) err = RMQ_UNKNOWN_MEMBER_ID;
    else if (generation != grp->generation) err = RMQ_ILLEGAL_GENERATION;
    else if (grp->state == RMQ_GROUP_EMPTY || grp->state == RMQ_GROUP_DEAD) err = RMQ_UNKNOWN_MEMBER_ID;
    else {
        m->last_heard_ms = now_ms;
        if (grp->state == RMQ_GROUP_PREPARING_REBALANCE) err = RMQ_REBALANCE_IN_PROGRESS;
    }
    pthread_mutex_unlock(&g->mu);
    return err;
}

rmq_err_t rmq_groups_leave(rmq_groups_t *g, const char *group_id, const char *member_id, const char *instance_id,
                           int64_t now_ms) {
    pthread_mutex_lock(&g->mu);
    rmq_group_t *grp = rmq_group_find(g, group_id);
    rmq_err_t err = RMQ_NONE;
    const char *mid = member_id ? member_id : "";
    rmq_gmember_t *m = NULL;
    if (!grp) {
        err = RMQ_GROUP_ID_NOT_FOUND;
    } else if (instance_id) {
        m = rmq_member_by_instance(grp, instance_id);
        if (!m) err = RMQ_UNKNOWN_MEMBER_ID;
        else if (*mid && strcmp(m->id, mid) != 0) err = RMQ_FENCED_INSTANCE_ID;
    } else if (rmq_pending_find(grp, mid)) {
        rmq_pending_remove(grp, mid);
        rmq_group_try_complete_join(g, grp, now_ms);
        pthread_mutex_unlock(&g->mu);
        return RMQ_NONE;
    } else {
        m = rmq_member_find(grp, mid);
        if (!m) err = RMQ_UNKNOWN_MEMBER_ID;
    }
    if (!err) {
        RMQ_INFO("group", "msg=\"member left\" group=%s member=%s", grp->id, m->id);
        rmq_member_remove(grp, m, RMQ_UNKNOWN_MEMBER_ID);
        rmq_group_after_removal(g, grp, now_ms, "member left");
    }
    pthread_mutex_unlock(&g->mu);
    return err;
}

/* ---------------------------------------------------------------- timers */

static void rmq_group_tick(rmq_groups_t *g, rmq_group_t *grp, int64_t now) {
    /* pending member ids nobody claimed */
    for (rmq_gpending_t **pp = &grp->pending; *pp;) {
        if ((*pp)->deadline_ms <= now) {
            rmq_gpending_t *p = *pp;
            *pp = p->next;
            free(p->id);
            free(p);
        } else {
            pp = &(*pp)->next;
        }
    }
    /* session expiry: members awaiting a join are kept until the rebalance
     * deadline decides about them */
    bool removed = false;
    for (rmq_gmember_t *m = grp->members, *nx; m; m = nx) {
        nx = m->next;
        if (m->join_cb) continue;
        if (m->last_heard_ms + m->session_timeout_ms <= now) {
            RMQ_INFO("group", "msg=\"member session expired\" group=%s member=%s session_timeout_ms=%d", grp->id,
                     m->id, m->session_timeout_ms);
            rmq_member_remove(grp, m, RMQ_UNKNOWN_MEMBER_ID);
            removed = true;
        }
    }
    if (removed) rmq_group_after_removal(g, grp, now, "member session expired");
    if (grp->state == RMQ_GROUP_PREPARING_REBALANCE) {
        if (grp->delay_until_ms > 0) {
            if (now >= grp->delay_until_ms) {
                if (grp->delay_new_member && now < grp->delay_max_ms) {
                    int64_t d = g->cfg.initial_rebalance_delay_ms;
                    grp->delay_until_ms = now + d < grp->delay_max_ms ? now + d : grp->delay_max_ms;
                    grp->delay_new_member = false;
                } else {
                    rmq_group_complete_join(g, grp, now);
                }
            }
        } else if (now >= grp->rebalance_deadline_ms) {
            rmq_group_complete_join(g, grp, now);
        } else {
            rmq_group_try_complete_join(g, grp, now);
        }
    } else if (grp->state == RMQ_GROUP_COMPLETING_REBALANCE && now >= grp->rebalance_deadline_ms) {
        /* the leader (or some followers) never sent SyncGroup */
        for (rmq_gmember_t *m = grp->members, *nx; m; m = nx) {
            nx = m->next;
            if (!m->synced) {
                RMQ_INFO("group", "msg=\"member did not sync in time, removed\" group=%s member=%s", grp->id, m->id);
                rmq_member_remove(grp, m, RMQ_UNKNOWN_MEMBER_ID);
            }
        }
        rmq_group_prepare_rebalance(g, grp, now, "sync timed out");
        rmq_group_try_complete_join(g, grp, now);
    }
}

void rmq_groups_tick(rmq_groups_t *g, int64_t now_ms) {
    pthread_mutex_lock(&g->mu);
    for (size_t i = 0; i < g->cap; i++)
        for (rmq_group_t *grp = g->tab[i]; grp; grp = grp->next) rmq_group_tick(g, grp, now_ms);
    pthread_mutex_unlock(&g->mu);
}

void rmq_groups_fail_waiters(rmq_groups_t *g, rmq_err_t err) {
    pthread_mutex_lock(&g->mu);
    g->closed = err ? err : RMQ_COORDINATOR_NOT_AVAILABLE;
    for (size_t i = 0; i < g->cap; i++)
        for (rmq_group_t *grp = g->tab[i]; grp; grp = grp->next)
            for (rmq_gmember_t *m = grp->members; m; m = m->next) {
                if (m->join_cb) rmq_join_reply_err(m->join_cb, m->join_ud, err, m->id);
                if (m->sync_cb) rmq_sync_reply_err(m->sync_cb, m->sync_ud, err);
                m->join_cb = NULL;
                m->sync_cb = NULL;
            }
    pthread_mutex_unlock(&g->mu);
}

/* --------------------------------------------------------------- offsets */

rmq_err_t rmq_groups_commit_check(rmq_groups_t *g, const char *group_id, int32_t generation, const char *member_id,
                                  const char *instance_id, int64_t now_ms) {
    if (!group_id || !*group_id) return RMQ_INVALID_GROUP_ID;
    const char *mid = member_id ? member_id : "";
    pthread_mutex_lock(&g->mu);
    rmq_group_t *grp = rmq_group_find(g, group_id);
    rmq_err_t err = RMQ_NONE;
    if (!grp) {
        if (generation < 0) {
            if (!rmq_group_create(g, group_id)) err = RMQ_UNKNOWN_SERVER_ERROR;
        } else {
            err = RMQ_ILLEGAL_GENERATION;
        }
    } else if (instance_id && rmq_static_fenced(grp, mid, instance_id)) {
        err = RMQ_FENCED_INSTANCE_ID;
    } else if (generation < 0 && grp->state == RMQ_GROUP_EMPTY) {
        err = RMQ_NONE;
    } else if (grp->state == RMQ_GROUP_COMPLETING_REBALANCE) {
        err = RMQ_REBALANCE_IN_PROGRESS;
    } else {
        rmq_gmember_t *m = rmq_member_find(grp, mid);
        if (!m) err = RMQ_UNKNOWN_MEMBER_ID;
        else if (generation != grp->generation) err = RMQ_ILLEGAL_GENERATION;
        else m->last_heard_ms = now_ms;
    }
    pthread_mutex_unlock(&g->mu);
    return err;
}

static rmq_goffset_t **rmq_offset_slot(rmq_group_t *grp, const char *topic, int32_t partition, uint64_t h) {
    if (!grp->offs_cap) return NULL;
    rmq_goffset_t **pp = &grp->offs[h & (grp->offs_cap - 1)];
    while (*pp && !((*pp)->hash == h && (*pp)->v.partition == partition && strcmp((*pp)->v.topic, topic) == 0))
        pp = &(*pp)->next;
    return pp;
}

static rmq_err_t rmq_offset_put_locked(rmq_group_t *grp, const rmq_group_offset_t *o) {
    uint64_t h = rmq_ohash(o->topic, o->partition);
    rmq_goffset_t **pp = rmq_offset_slot(grp, o->topic, o->partition, h);
    char *meta = rmq_gstrdup(o->metadata);
    if (!meta) return RMQ_ERR_NOMEM;
    if (pp && *pp) {
        rmq_goffset_t *x = *pp;
        free((char *)x->v.metadata);
        x->v.metadata = meta;
        x->v.offset = o->offset;
        x->v.leader_epoch = o->leader_epoch;
        x->v.commit_timestamp_ms = o->commit_timestamp_ms;
        return RMQ_NONE;
    }
    if (grp->offs_n + 1 > grp->offs_cap) {
        size_t ncap = grp->offs_cap ? grp->offs_cap * 2 : 16;
        rmq_goffset_t **nt = calloc(ncap, sizeof *nt);
        if (!nt) {
            free(meta);
            return RMQ_ERR_NOMEM;
        }
        for (size_t i = 0; i < grp->offs_cap; i++) {
            while (grp->offs[i]) {
                rmq_goffset_t *x = grp->offs[i];
                grp->offs[i] = x->next;
                x->next = nt[x->hash & (ncap - 1)];
                nt[x->hash & (ncap - 1)] = x;
            }
        }
        free(grp->offs);
        grp->offs = nt;
        grp->offs_cap = ncap;
    }
    rmq_goffset_t *x = calloc(1, sizeof *x);
    char *topic = strdup(o->topic);
    if (!x || !topic) {
        free(x);
        free(topic);
        free(meta);
        return RMQ_ERR_NOMEM;
    }
    x->v = *o;
    x->v.topic = topic;
    x->v.metadata = meta;
    x->hash = h;
    x->next = grp->offs[h & (grp->offs_cap - 1)];
    grp->offs[h & (grp->offs_cap - 1)] = x;
    grp->offs_n++;
    return RMQ_NONE;
}

rmq_err_t rmq_groups_offset_put(rmq_groups_t *g, const char *group_id, const rmq_group_offset_t *o) {
    if (!group_id || !o || !o->topic) return RMQ_ERR_INVALID_ARG;
    pthread_mutex_lock(&g->mu);
    rmq_group_t *grp = rmq_group_find(g, group_id);
    if (!grp) grp = rmq_group_create(g, group_id);
    rmq_err_t err = grp ? rmq_offset_put_locked(grp, o) : RMQ_ERR_NOMEM;
    pthread_mutex_unlock(&g->mu);
    return err;
}

static void rmq_offset_delete_locked(rmq_group_t *grp, const char *topic, int32_t partition) {
    rmq_goffset_t **pp = rmq_offset_slot(grp, topic, partition, rmq_ohash(topic, partition));
    if (!pp || !*pp) return;
    rmq_goffset_t *x = *pp;
    *pp = x->next;
    grp->offs_n--;
    rmq_offset_free(x);
}

void rmq_groups_offset_delete(rmq_groups_t *g, const char *group_id, const char *topic, int32_t partition) {
    pthread_mutex_lock(&g->mu);
    rmq_group_t *grp = rmq_group_find(g, group_id);
    if (grp) {
        rmq_offset_delete_locked(grp, topic, partition);
        if (grp->n_members == 0 && grp->offs_n == 0 && grp->state == RMQ_GROUP_EMPTY && !grp->pending)
            rmq_group_remove(g, grp);
    }
    pthread_mutex_unlock(&g->mu);
}

const rmq_group_offset_t *rmq_groups_offset_find_locked(rmq_groups_t *g, const char *group_id, const char *topic,
                                                        int32_t partition) {
    rmq_group_t *grp = rmq_group_find(g, group_id);
    if (!grp || !topic) return NULL;
    rmq_goffset_t **pp = rmq_offset_slot(grp, topic, partition, rmq_ohash(topic, partition));
    return pp && *pp ? &(*pp)->v : NULL;
}

size_t rmq_groups_offsets_each_locked(rmq_groups_t *g, const char *group_id,
                                      void (*fn)(void *ud, const rmq_group_offset_t *o), void *ud) {
    rmq_group_t *grp = rmq_group_find(g, group_id);
    if (!grp) return 0;
    for (size_t i = 0; i < grp->offs_cap; i++)
        for (rmq_goffset_t *x = grp->offs[i]; x; x = x->next) fn(ud, &x->v);
    return grp->offs_n;
}

/* ---- record format ---- */

static void rmq_put_kstr(rmq_buf_t *out, const char *s) {
    size_t n = s ? strlen(s) : 0;
    if (n > INT16_MAX) n = INT16_MAX;
    rmq_buf_put_i16(out, (int16_t)n);
    rmq_buf_put(out, s ? s : "", n);
}

void rmq_groups_encode_key(rmq_buf_t *out, const char *group_id, const char *topic, int32_t partition) {
    rmq_buf_put_i16(out, 1);
    rmq_put_kstr(out, group_id);
    rmq_put_kstr(out, topic);
    rmq_buf_put_i32(out, partition);
}

void rmq_groups_encode_value(rmq_buf_t *out, const rmq_group_offset_t *o) {
    rmq_buf_put_i16(out, 3);
    rmq_buf_put_i64(out, o->offset);
    rmq_buf_put_i32(out, o->leader_epoch);
    rmq_put_kstr(out, o->metadata);
    rmq_buf_put_i64(out, o->commit_timestamp_ms);
}

/* Read an int16-length string into a NUL-terminated malloc'd copy. */
static char *rmq_cur_kstr_dup(rmq_cur_t *c) {
    int16_t n = rmq_cur_i16(c);
    if (n < 0) {
        rmq_cur_fail(c, RMQ_ERR_BAD_LENGTH);
        return NULL;
    }
    const uint8_t *p = rmq_cur_bytes(c, (size_t)n);
    if (!p) return NULL;
    char *s = malloc((size_t)n + 1);
    if (!s) return NULL;
    memcpy(s, p, (size_t)n);
    s[n] = 0;
    return s;
}

rmq_err_t rmq_groups_apply_record(rmq_groups_t *g, const uint8_t *key, int32_t klen, const uint8_t *value,
                                  int32_t vlen) {
    if (!key || klen < 2) return RMQ_ERR_CORRUPT;
    rmq_cur_t c;
    rmq_cur_init(&c, key, (size_t)klen);
    int16_t kv = rmq_cur_i16(&c);
    if (kv != 0 && kv != 1) return RMQ_NONE; /* group metadata or newer records: not ours to apply */
    char *group = rmq_cur_kstr_dup(&c);
    char *topic = rmq_cur_kstr_dup(&c);
    int32_t partition = rmq_cur_i32(&c);
    rmq_err_t err = rmq_cur_ok(&c) && group && topic ? RMQ_NONE : RMQ_ERR_CORRUPT;
    if (!err && (!value || vlen < 0)) {
        rmq_groups_offset_delete(g, group, topic, partition);
    } else if (!err) {
        rmq_cur_t v;
        rmq_cur_init(&v, value, (size_t)vlen);
        int16_t vv = rmq_cur_i16(&v);
        rmq_group_offset_t o;
        memset(&o, 0, sizeof o);
        o.topic = topic;
        o.partition = partition;
        o.offset = rmq_cur_i64(&v);
        o.leader_epoch = vv >= 3 ? rmq_cur_i32(&v) : -1;
        char *meta = rmq_cur_kstr_dup(&v);
        o.metadata = meta;
        o.commit_timestamp_ms = rmq_cur_i64(&v);
        if (vv < 0 || vv > 4 || !rmq_cur_ok(&v) || !meta) err = RMQ_ERR_CORRUPT;
        else err = rmq_groups_offset_put(g, group, &o);
        free(meta);
    }
    free(group);
    free(topic);
    return err;
}

size_t rmq_groups_expire_offsets(rmq_groups_t *g, int64_t now_ms,
                                 void (*fn)(void *ud, const char *group_id, const rmq_group_offset_t *o), void *ud) {
    size_t n = 0;
    pthread_mutex_lock(&g->mu);
    for (size_t i = 0; i < g->cap; i++) {
        for (rmq_group_t *grp = g->tab[i], *nx; grp; grp = nx) {
            nx = grp->next;
            if (grp->state != RMQ_GROUP_EMPTY) continue;
            for (size_t k = 0; k < grp->offs_cap; k++) {
                for (rmq_goffset_t **pp = &grp->offs[k]; *pp;) {
                    rmq_goffset_t *x = *pp;
                    int64_t base = x->v.commit_timestamp_ms > grp->empty_since_ms ? x->v.commit_timestamp_ms
                                                                                  : grp->empty_since_ms;
                    if (base + g->cfg.offsets_retention_ms <= now_ms) {
                        if (fn) fn(ud, grp->id, &x->v);
                        *pp = x->next;
                        grp->offs_n--;
                        rmq_offset_free(x);
                        n++;
                    } else {
                        pp = &x->next;
                    }
                }
            }
            if (grp->n_members == 0 && grp->offs_n == 0 && !grp->pending) rmq_group_remove(g, grp);
        }
    }
    pthread_mutex_unlock(&g->mu);
    return n;
}

/* ------------------------------------------------ list, describe, delete */

static void rmq_group_fill_summary(const rmq_group_t *grp, rmq_group_summary_t *s) {
    memset(s, 0, sizeof *s);
    snprintf(s->group_id, sizeof s->group_id, "%s", grp->id);
    s->state = grp->state;
    snprintf(s->protocol_type, sizeof s->protocol_type, "%s", grp->protocol_type ? grp->protocol_type : "");
    if (grp->state == RMQ_GROUP_STABLE || grp->state == RMQ_GROUP_COMPLETING_REBALANCE)
        snprintf(s->protocol_name, sizeof s->protocol_name, "%s", grp->protocol_name ? grp->protocol_name : "");
    s->generation = grp->generation;
    s->n_members = (int32_t)grp->n_members;
    s->n_offsets = (int32_t)grp->offs_n;
}

size_t rmq_groups_list(rmq_groups_t *g, rmq_group_summary_t *out, size_t cap) {
    size_t n = 0;
    pthread_mutex_lock(&g->mu);
    for (size_t i = 0; i < g->cap; i++)
        for (rmq_group_t *grp = g->tab[i]; grp; grp = grp->next) {
            if (n < cap) rmq_group_fill_summary(grp, &out[n]);
            n++;
        }
    pthread_mutex_unlock(&g->mu);
    return n;
}

rmq_err_t rmq_groups_summary(rmq_groups_t *g, const char *group_id, rmq_group_summary_t *out) {
    pthread_mutex_lock(&g->mu);
    rmq_group_t *grp = rmq_group_find(g, group_id);
    if (grp) rmq_group_fill_summary(grp, out);
    pthread_mutex_unlock(&g->mu);
    return grp ? RMQ_NONE : RMQ_GROUP_ID_NOT_FOUND;
}

rmq_err_t rmq_groups_describe(rmq_groups_t *g, const char *group_id,
                              void (*fn)(void *ud, const rmq_group_summary_t *s, const rmq_group_member_desc_t *m,
                                         size_t n),
                              void *ud) {
    pthread_mutex_lock(&g->mu);
    rmq_group_t *grp = rmq_group_find(g, group_id);
    if (!grp) {
        pthread_mutex_unlock(&g->mu);
        return RMQ_GROUP_ID_NOT_FOUND;
    }
    rmq_group_summary_t s;
    rmq_group_fill_summary(grp, &s);
    rmq_group_member_desc_t *v = calloc(grp->n_members ? grp->n_members : 1, sizeof *v);
    size_t n = 0;
    for (rmq_gmember_t *m = grp->members; v && m; m = m->next, n++) {
        int pi = grp->protocol_name ? rmq_member_proto_index(m, grp->protocol_name) : -1;
        v[n].member_id = m->id;
        v[n].instance_id = m->instance_id;
        v[n].client_id = m->client_id;
        v[n].client_host = m->client_host;
        v[n].metadata = pi >= 0 ? m->proto_meta[pi] : (const uint8_t *)"";
        v[n].metadata_len = pi >= 0 ? m->proto_meta_len[pi] : 0;
        v[n].assignment = m->assignment ? m->assignment : (const uint8_t *)"";
        v[n].assignment_len = m->assignment_len;
    }
    fn(ud, &s, v, n);
    free(v);
    pthread_mutex_unlock(&g->mu);
    return RMQ_NONE;
}

rmq_err_t rmq_groups_delete(rmq_groups_t *g, const char *group_id,
                            void (*fn)(void *ud, const char *group_id, const rmq_group_offset_t *o), void *ud) {
    pthread_mutex_lock(&g->mu);
    rmq_group_t *grp = rmq_group_find(g, group_id);
    rmq_err_t err = RMQ_NONE;
    if (!grp) err = RMQ_GROUP_ID_NOT_FOUND;
    else if (grp->n_members > 0 || grp->state != RMQ_GROUP_EMPTY) err = RMQ_NON_EMPTY_GROUP;
    else {
        for (size_t i = 0; fn && i < grp->offs_cap; i++)
            for (rmq_goffset_t *x = grp->offs[i]; x; x = x->next) fn(ud, grp->id, &x->v);
        RMQ_INFO("group", "msg=\"group deleted\" group=%s offsets=%zu", grp->id, grp->offs_n);
        rmq_group_remove(g, grp);
    }
    pthread_mutex_unlock(&g->mu);
    return err;
}
