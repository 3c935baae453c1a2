/* admin_groups.c - consumer groups for the admin REST API: list, describe
 * (members, their decoded assignments, committed offset / log end / lag per
 * partition) and delete, over the group coordinator (group.h), plus the
 * consumer-lag metric collector. Strings returned to the admin server are
 * copies in its arena. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/broker_int.h"
#include "broker/group.h"
#include "common/log.h"

static rmq_err_t rmq_bkg_list(void *ud, rmq_arena_t *a, rmq_admin_group_list_t *out, rmq_admin_errinfo_t *ei) {
    rmq_groups_t *g = rmq_broker_groups_core(ud);
    if (!g) {
        snprintf(ei->msg, sizeof ei->msg, "group coordinator not running");
        return RMQ_COORDINATOR_NOT_AVAILABLE;
    }
    size_t cap = 64, n;
    rmq_group_summary_t *s = NULL;
    for (;;) {
        rmq_group_summary_t *ns = realloc(s, cap * sizeof *s);
        if (!ns) {
            free(s);
            return RMQ_ERR_NOMEM;
        }
        s = ns;
        n = rmq_groups_list(g, s, cap);
        if (n <= cap) break;
        cap = n + 16;
    }
    out->groups = n ? rmq_arena_alloc(a, n * sizeof *out->groups) : NULL;
    for (size_t i = 0; out->groups && i < n; i++) {
        out->groups[i].group_id = rmq_admin_strdup(a, s[i].group_id);
        out->groups[i].state = rmq_group_state_name(s[i].state);
        out->groups[i].protocol_type = rmq_admin_strdup(a, s[i].protocol_type);
        out->groups[i].protocol = rmq_admin_strdup(a, s[i].protocol_name);
        out->groups[i].nmembers = (size_t)s[i].n_members;
    }
    out->ngroups = out->groups ? n : 0;
    free(s);
    return 0;
}

typedef struct {
    rmq_arena_t *a;
    rmq_admin_group_t *out;
} rmq_bkg_desc_ctx_t;

/* ConsumerProtocolAssignment: version i16, [topic str16, [partition i32]],
 * user_data bytes. Malformed bytes just give no assignments. */
static void rmq_bkg_assignments(rmq_arena_t *a, const uint8_t *p, size_t len, rmq_admin_member_t *m) {
    rmq_cur_t c;
    rmq_cur_init(&c, p, len);
    (void)rmq_cur_i16(&c);
    int32_t nt = rmq_cur_i32(&c);
    if (!rmq_cur_ok(&c) || nt <= 0 || (size_t)nt > len) return;
    size_t cap = 0;
    rmq_admin_tp_t *tps = NULL;
    for (int32_t i = 0; i < nt && rmq_cur_ok(&c); i++) {
        int16_t tl = rmq_cur_i16(&c);
        const uint8_t *tn = rmq_cur_bytes(&c, tl > 0 ? (size_t)tl : 0);
        int32_t np = rmq_cur_i32(&c);
        if (!rmq_cur_ok(&c) || tl < 0 || np < 0 || (size_t)np * 4 > rmq_cur_remaining(&c)) return;
        char *topic = rmq_arena_strndup(a, (const char *)tn, (size_t)tl);
        rmq_admin_tp_t *ntps = rmq_arena_alloc(a, (cap + (size_t)np) * sizeof *ntps);
        if (!ntps || !topic) return;
        if (cap) memcpy(ntps, tps, cap * sizeof *ntps);
        for (int32_t k = 0; k < np; k++) {
            ntps[cap + (size_t)k].topic = topic;
            ntps[cap + (size_t)k].partition = rmq_cur_i32(&c);
        }
        tps = ntps;
        cap += (size_t)np;
    }
    m->assignments = tps;
    m->nassign = cap;
}

static void rmq_bkg_desc_fn(void *ud, const rmq_group_summary_t *s, const rmq_group_member_desc_t *m, size_t n) {
    rmq_bkg_desc_ctx_t *x = ud;
    rmq_admin_group_t *o = x->out;
    o->group_id = rmq_admin_strdup(x->a, s->group_id);
    o->state = rmq_group_state_name(s->state);
    o->protocol_type = rmq_admin_strdup(x->a, s->protocol_type);
    o->protocol = rmq_admin_strdup(x->a, s->protocol_name);
    o->members = n ? rmq_arena_alloc(x->a, n * sizeof *o->members) : NULL;
    for (size_t i = 0; o->members && i < n; i++) {
        rmq_admin_member_t *d = &o->members[i];
        d->member_id = rmq_admin_strdup(x->a, m[i].member_id);
        d->group_instance_id = m[i].instance_id && *m[i].instance_id ? rmq_admin_strdup(x->a, m[i].instance_id) : NULL;
        d->client_id = rmq_admin_strdup(x->a, m[i].client_id ? m[i].client_id : "");
        d->client_host = rmq_admin_strdup(x->a, m[i].client_host ? m[i].client_host : "");
        if (strcmp(s->protocol_type, "consumer") == 0 && m[i].assignment_len)
            rmq_bkg_assignments(x->a, m[i].assignment, m[i].assignment_len, d);
    }
    o->nmembers = o->members ? n : 0;
}

static rmq_err_t rmq_bkg_describe(void *ud, rmq_arena_t *a, const char *group, rmq_admin_group_t *out,
                                  rmq_admin_errinfo_t *ei) {
    rmq_broker_t *b = ud;
    rmq_groups_t *g = rmq_broker_groups_core(b);
    if (!g) return RMQ_COORDINATOR_NOT_AVAILABLE;
    rmq_bkg_desc_ctx_t x = {a, out};
    rmq_err_t err = rmq_groups_describe(g, group, rmq_bkg_desc_fn, &x);
    if (err) {
        snprintf(ei->msg, sizeof ei->msg, "consumer group '%s' does not exist", group);
        return err;
    }
    size_t cap = 256, n = 0;
    rmq_group_lag_t *lag = NULL;
    for (;;) {
        rmq_group_lag_t *nl = realloc(lag, cap * sizeof *lag);
        if (!nl) {
            free(lag);
            return RMQ_ERR_NOMEM;
        }
        lag = nl;
        err = rmq_groups_lag(b, group, lag, cap, &n);
        if (err || n <= cap) break;
        cap = n + 16;
    }
    if (!err && n) {
        out->offsets = rmq_arena_alloc(a, n * sizeof *out->offsets);
        for (size_t i = 0; out->offsets && i < n; i++) {
            out->offsets[i].topic = rmq_admin_strdup(a, lag[i].topic);
            out->offsets[i].partition = lag[i].partition;
            out->offsets[i].committed = lag[i].committed;
            out->offsets[i].log_end = lag[i].log_end;
            out->offsets[i].lag = lag[i].log_end < 0 ? -1 : lag[i].lag;
        }
        out->noffsets = out->offsets ? n : 0;
    }
    free(lag);
    return 0;
}

typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool done;
    rmq_err_t err;
} rmq_bkg_wait_t;

static void rmq_bkg_deleted(void *ud, rmq_err_t err) {
    rmq_bkg_wait_t *w = ud;
    pthread_mutex_lock(&w->mu);
    w->done = true;
    w->err = err;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

/* Runs on an admin server thread: wait until the tombstones are durable. */
static rmq_err_t rmq_bkg_delete(void *ud, rmq_arena_t *a, const char *group, rmq_admin_errinfo_t *ei) {
    (void)a;
    rmq_bkg_wait_t w = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false, 0};
    bool async = false;
    rmq_err_t err = rmq_broker_groups_delete(ud, group, rmq_bkg_deleted, &w, &async);
    if (!err && async) {
        pthread_mutex_lock(&w.mu);
        while (!w.done) pthread_cond_wait(&w.cv, &w.mu);
        pthread_mutex_unlock(&w.mu);
        err = w.err;
    }
    if (err == RMQ_NON_EMPTY_GROUP) snprintf(ei->msg, sizeof ei->msg, "consumer group '%s' still has members", group);
    else if (err == RMQ_GROUP_ID_NOT_FOUND) snprintf(ei->msg, sizeof ei->msg, "consumer group '%s' does not exist", group);
    return err;
}

void rmq_broker_admin_groups_backend(rmq_admin_backend_t *be) {
    be->list_groups = rmq_bkg_list;
    be->describe_group = rmq_bkg_describe;
    be->delete_group = rmq_bkg_delete;
}

/* rustmq_consumer_group_lag{group,topic,partition}: computed at scrape time. */
static void rmq_bkg_lag_collect(void *ud, rmq_metrics_sink_t *sink) {
    rmq_broker_t *b = ud;
    rmq_groups_t *g = rmq_broker_groups_core(b);
    if (!g) return;
    rmq_group_summary_t *s = malloc(256 * sizeof *s);
    rmq_group_lag_t *lag = malloc(256 * sizeof *lag);
    size_t n = s && lag ? rmq_groups_list(g, s, 256) : 0;
    if (n > 256) n = 256; /* the metric covers the first 256 groups */
    for (size_t i = 0; i < n; i++) {
        size_t nl = 0;
        if (rmq_groups_lag(b, s[i].group_id, lag, 256, &nl)) continue;
        if (nl > 256) nl = 256;
        for (size_t k = 0; k < nl; k++) {
            char part[16];
            snprintf(part, sizeof part, "%d", lag[k].partition);
            const char *vals[3] = {s[i].group_id, lag[k].topic, part};
            rmq_metrics_sink_add(sink, vals, (double)lag[k].lag);
        }
    }
    free(s);
    free(lag);
}

void rmq_broker_admin_groups_metrics(rmq_broker_t *b) {
    rmq_metrics_collector(b->metrics, RMQ_METRIC_GAUGE, "rustmq_consumer_group_lag",
                          "committed offset behind the high watermark, per group and partition",
                          "group,topic,partition", rmq_bkg_lag_collect, b);
}
