/* metrics.c - the metrics registry (see metrics.h): families and series in
 * append-only lists under one registry mutex (taken only to create series,
 * register families and render), lock-free atomics on the hot path, the
 * Prometheus 0.0.4 text and JSON renderers, and the /proc based process
 * collectors. */
#include "common/metrics.h"

#include <dirent.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "common/clock.h"

/* finer between 0.5 and 10 ms: produce and WAL latencies live there, and
 * a p99 target of 5 ms needs more than the 2.5/5/10 ms steps to be read */
const double rmq_hist_buckets_seconds[] = {0.0001, 0.00025, 0.0005, 0.00075, 0.001, 0.0015, 0.002,
                                           0.003,  0.004,   0.005,  0.0075,  0.01,  0.025,  0.05,
                                           0.1,    0.25,    0.5,    1,       2.5,   5,      10};
const size_t rmq_hist_buckets_seconds_n = sizeof rmq_hist_buckets_seconds / sizeof rmq_hist_buckets_seconds[0];
const double rmq_hist_buckets_bytes[] = {64,         256,        1024,        4096,        16384,      65536,
                                         262144,     1048576,    4194304,     16777216,    67108864};
const size_t rmq_hist_buckets_bytes_n = sizeof rmq_hist_buckets_bytes / sizeof rmq_hist_buckets_bytes[0];

enum { RMQ_FAM_DIRECT = 0, RMQ_FAM_FN = 1, RMQ_FAM_COLLECTOR = 2 };

struct rmq_hist {
    const double *bounds; /* the family's, nb entries */
    size_t nb;
    _Atomic uint64_t sum_bits;
    _Atomic uint64_t buckets[RMQ_METRICS_MAX_BUCKETS + 1]; /* non-cumulative; [nb] = +Inf */
};

typedef struct rmq_series {
    rmq_counter_t counter;
    rmq_gauge_t gauge;
    struct rmq_hist hist;
    char *values[RMQ_METRICS_MAX_LABELS];
    struct rmq_series *next;
} rmq_series_t;

struct rmq_metric_family {
    rmq_metrics_t *reg;
    rmq_metric_type_t type;
    int kind;
    char *name;
    char *help;
    size_t nlabels;
    char *labels[RMQ_METRICS_MAX_LABELS];
    double bounds[RMQ_METRICS_MAX_BUCKETS];
    size_t nb;
    rmq_series_t *series;
    rmq_series_t **series_tail;
    double (*fn)(void *ud);
    void (*collect)(void *ud, rmq_metrics_sink_t *sink);
    void *ud;
    struct rmq_metric_family *next;
};

struct rmq_metrics {
    pthread_mutex_t mu;
    rmq_metric_family_t *head;
    rmq_metric_family_t **tail;
};

struct rmq_metrics_sink {
    rmq_metric_family_t *f;
    rmq_buf_t *out;
    bool json;
    size_t n; /* series written so far (JSON commas) */
};

/* ---- helpers --------------------------------------------------------------- */

static uint64_t rmq_dbits(double v) {
    uint64_t b;
    memcpy(&b, &v, sizeof b);
    return b;
}
static double rmq_bitsd(uint64_t b) {
    double v;
    memcpy(&v, &b, sizeof v);
    return v;
}

static bool rmq_metric_name_ok(const char *s) {
    if (!s || !*s) return false;
    for (size_t i = 0; s[i]; i++) {
        char c = s[i];
        bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
        if (!alpha && !(i > 0 && c >= '0' && c <= '9')) return false;
    }
    return true;
}

static bool rmq_label_name_ok(const char *s, size_t n) {
    if (n == 0) return false;
    if (n >= 2 && s[0] == '_' && s[1] == '_') return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
        if (!alpha && !(i > 0 && c >= '0' && c <= '9')) return false;
    }
    return true;
}

static bool rmq_ends_with(const char *s, const char *suf) {
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && memcmp(s + a - b, suf, b) == 0;
}

void rmq_metrics_format_value(double v, char *buf, size_t cap) {
    if (isnan(v)) {
        snprintf(buf, cap, "NaN");
    } else if (isinf(v)) {
        snprintf(buf, cap, v > 0 ? "+Inf" : "-Inf");
    } else if (v == floor(v) && fabs(v) < 1e15) {
        snprintf(buf, cap, "%.0f", v == 0 ? 0.0 : v);
    } else {
        snprintf(buf, cap, "%.15g", v);
        if (strtod(buf, NULL) != v) snprintf(buf, cap, "%.17g", v);
    }
}

static void rmq_put_str(rmq_buf_t *b, const char *s) { rmq_buf_put(b, s, strlen(s)); }

static void rmq_put_value(rmq_buf_t *b, double v) {
    char tmp[40];
    rmq_metrics_format_value(v, tmp, sizeof tmp);
    rmq_put_str(b, tmp);
}

/* Prometheus label value: backslash, double quote and newline escaped. */
static void rmq_put_label_value(rmq_buf_t *b, const char *s) {
    for (; *s; s++) {
        if (*s == '\\') rmq_put_str(b, "\\\\");
        else if (*s == '"') rmq_put_str(b, "\\\"");
        else if (*s == '\n') rmq_put_str(b, "\\n");
        else rmq_buf_put_u8(b, (uint8_t)*s);
    }
}

/* HELP text: backslash and newline escaped. */
static void rmq_put_help(rmq_buf_t *b, const char *s) {
    for (; *s; s++) {
        if (*s == '\\') rmq_put_str(b, "\\\\");
        else if (*s == '\n') rmq_put_str(b, "\\n");
        else rmq_buf_put_u8(b, (uint8_t)*s);
    }
}

static void rmq_put_json_str(rmq_buf_t *b, const char *s) {
    rmq_buf_put_u8(b, '"');
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"') rmq_put_str(b, "\\\"");
        else if (c == '\\') rmq_put_str(b, "\\\\");
        else if (c == '\n') rmq_put_str(b, "\\n");
        else if (c == '\r') rmq_put_str(b, "\\r");
        else if (c == '\t') rmq_put_str(b, "\\t");
        else if (c < 0x20) {
            char tmp[8];
            snprintf(tmp, sizeof tmp, "\\u%04x", c);
            rmq_put_str(b, tmp);
        } else rmq_buf_put_u8(b, c);
    }
    rmq_buf_put_u8(b, '"');
}

static void rmq_put_json_num(rmq_buf_t *b, double v) {
    if (!isfinite(v)) {
        rmq_put_json_str(b, isnan(v) ? "NaN" : (v > 0 ? "+Inf" : "-Inf"));
        return;
    }
    rmq_put_value(b, v);
}

/* ---- registry ------------------------------------------------------------------ */

rmq_metrics_t *rmq_metrics_new(void) {
    rmq_metrics_t *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    pthread_mutex_init(&r->mu, NULL);
    r->tail = &r->head;
    return r;
}

static void rmq_family_free(rmq_metric_family_t *f) {
    rmq_series_t *s = f->series;
    while (s) {
        rmq_series_t *n = s->next;
        for (size_t i = 0; i < f->nlabels; i++) free(s->values[i]);
        free(s);
        s = n;
    }
    for (size_t i = 0; i < f->nlabels; i++) free(f->labels[i]);
    free(f->name);
    free(f->help);
    free(f);
}

void rmq_metrics_free(rmq_metrics_t *r) {
    if (!r) return;
    rmq_metric_family_t *f = r->head;
    while (f) {
        rmq_metric_family_t *n = f->next;
        rmq_family_free(f);
        f = n;
    }
    pthread_mutex_destroy(&r->mu);
    free(r);
}

/* Full registered name: counters end in _total. Caller frees. */
static char *rmq_full_name(rmq_metric_type_t type, const char *name) {
    if (type != RMQ_METRIC_COUNTER || rmq_ends_with(name, "_total")) return strdup(name);
    size_t n = strlen(name);
    char *s = malloc(n + 7);
    if (s) {
        memcpy(s, name, n);
        memcpy(s + n, "_total", 7);
    }
    return s;
}

/* Split "a,b" into f->labels. Returns false on invalid names. */
static bool rmq_family_set_labels(rmq_metric_family_t *f, const char *labels) {
    if (!labels || !*labels) return true;
    const char *p = labels;
    while (*p) {
        const char *e = strchr(p, ',');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        while (n && *p == ' ') p++, n--;
        while (n && p[n - 1] == ' ') n--;
        if (f->nlabels >= RMQ_METRICS_MAX_LABELS || !rmq_label_name_ok(p, n)) return false;
        if (f->type == RMQ_METRIC_HISTOGRAM && n == 2 && memcmp(p, "le", 2) == 0) return false;
        char *l = strndup(p, n);
        if (!l) return false;
        for (size_t i = 0; i < f->nlabels; i++)
            if (strcmp(f->labels[i], l) == 0) {
                free(l);
                return false;
            }
        f->labels[f->nlabels++] = l;
        if (!e) break;
        p = e + 1;
    }
    return true;
}

static bool rmq_family_same_labels(const rmq_metric_family_t *a, const rmq_metric_family_t *b) {
    if (a->nlabels != b->nlabels) return false;
    for (size_t i = 0; i < a->nlabels; i++)
        if (strcmp(a->labels[i], b->labels[i])) return false;
    return true;
}

static rmq_metric_family_t *rmq_family_find_locked(rmq_metrics_t *r, const char *name) {
    for (rmq_metric_family_t *f = r->head; f; f = f->next)
        if (strcmp(f->name, name) == 0) return f;
    return NULL;
}

static rmq_metric_family_t *rmq_family_register(rmq_metrics_t *r, rmq_metric_type_t type, int kind,
                                                const char *name, const char *help, const char *labels,
                                                const double *buckets, size_t nbuckets) {
    if (!r || !rmq_metric_name_ok(name)) return NULL;
    if (type == RMQ_METRIC_HISTOGRAM) {
        if (!buckets) {
            buckets = rmq_hist_buckets_seconds;
            nbuckets = rmq_hist_buckets_seconds_n;
        }
        if (nbuckets == 0 || nbuckets > RMQ_METRICS_MAX_BUCKETS) return NULL;
        for (size_t i = 0; i < nbuckets; i++)
            if (!isfinite(buckets[i]) || (i && buckets[i] <= buckets[i - 1])) return NULL;
    }
    rmq_metric_family_t *f = calloc(1, sizeof *f);
    if (!f) return NULL;
    f->reg = r;
    f->type = type;
    f->kind = kind;
    f->name = rmq_full_name(type, name);
    f->help = strdup(help ? help : "");
    f->series_tail = &f->series;
    if (type == RMQ_METRIC_HISTOGRAM) {
        memcpy(f->bounds, buckets, nbuckets * sizeof(double));
        f->nb = nbuckets;
    }
    if (!f->name || !f->help || !rmq_family_set_labels(f, labels)) {
        rmq_family_free(f);
        return NULL;
    }
    pthread_mutex_lock(&r->mu);
    rmq_metric_family_t *old = rmq_family_find_locked(r, f->name);
    if (old) {
        bool same = old->type == type && old->kind == kind && kind == RMQ_FAM_DIRECT &&
                    rmq_family_same_labels(old, f) && old->nb == f->nb &&
                    (f->nb == 0 || memcmp(old->bounds, f->bounds, f->nb * sizeof(double)) == 0);
        pthread_mutex_unlock(&r->mu);
        rmq_family_free(f);
        return same ? old : NULL;
    }
    *r->tail = f;
    r->tail = &f->next;
    pthread_mutex_unlock(&r->mu);
    return f;
}

rmq_metric_family_t *rmq_metrics_family(rmq_metrics_t *r, rmq_metric_type_t type, const char *name,
                                        const char *help, const char *labels, const double *buckets,
                                        size_t nbuckets) {
    return rmq_family_register(r, type, RMQ_FAM_DIRECT, name, help, labels, buckets, nbuckets);
}

static rmq_series_t *rmq_series_get(rmq_metric_family_t *f, rmq_metric_type_t type, const char *const *values) {
    if (!f || f->type != type || f->kind != RMQ_FAM_DIRECT) return NULL;
    if (f->nlabels && !values) return NULL;
    rmq_metrics_t *r = f->reg;
    pthread_mutex_lock(&r->mu);
    for (rmq_series_t *s = f->series; s; s = s->next) {
        size_t i = 0;
        for (; i < f->nlabels; i++)
            if (strcmp(s->values[i], values[i] ? values[i] : "")) break;
        if (i == f->nlabels) {
            pthread_mutex_unlock(&r->mu);
            return s;
        }
    }
    rmq_series_t *s = calloc(1, sizeof *s);
    bool ok = s != NULL;
    for (size_t i = 0; ok && i < f->nlabels; i++) {
        s->values[i] = strdup(values[i] ? values[i] : "");
        ok = s->values[i] != NULL;
    }
    if (!ok) {
        if (s)
            for (size_t i = 0; i < f->nlabels; i++) free(s->values[i]);
        free(s);
        pthread_mutex_unlock(&r->mu);
        return NULL;
    }
    s->hist.bounds = f->bounds;
    s->hist.nb = f->nb;
    *f->series_tail = s;
    f->series_tail = &s->next;
    pthread_mutex_unlock(&r->mu);
    return s;
}

rmq_counter_t *rmq_counter_with(rmq_metric_family_t *f, const char *const *values) {
    rmq_series_t *s = rmq_series_get(f, RMQ_METRIC_COUNTER, values);
    return s ? &s->counter : NULL;
}
rmq_gauge_t *rmq_gauge_with(rmq_metric_family_t *f, const char *const *values) {
    rmq_series_t *s = rmq_series_get(f, RMQ_METRIC_GAUGE, values);
    return s ? &s->gauge : NULL;
}
rmq_hist_t *rmq_hist_with(rmq_metric_family_t *f, const char *const *values) {
    rmq_series_t *s = rmq_series_get(f, RMQ_METRIC_HISTOGRAM, values);
    return s ? &s->hist : NULL;
}

rmq_counter_t *rmq_counter_new(rmq_metrics_t *r, const char *name, const char *help) {
    return rmq_counter_with(rmq_metrics_family(r, RMQ_METRIC_COUNTER, name, help, NULL, NULL, 0), NULL);
}
rmq_gauge_t *rmq_gauge_new(rmq_metrics_t *r, const char *name, const char *help) {
    return rmq_gauge_with(rmq_metrics_family(r, RMQ_METRIC_GAUGE, name, help, NULL, NULL, 0), NULL);
}
rmq_hist_t *rmq_hist_new(rmq_metrics_t *r, const char *name, const char *help, const double *buckets,
                         size_t nbuckets) {
    return rmq_hist_with(rmq_metrics_family(r, RMQ_METRIC_HISTOGRAM, name, help, NULL, buckets, nbuckets), NULL);
}

rmq_err_t rmq_gauge_fn(rmq_metrics_t *r, const char *name, const char *help, double (*fn)(void *ud), void *ud) {
    if (!fn) return RMQ_ERR_INVALID_ARG;
    rmq_metric_family_t *f = rmq_family_register(r, RMQ_METRIC_GAUGE, RMQ_FAM_FN, name, help, NULL, NULL, 0);
    if (!f) return RMQ_ERR_INVALID_ARG;
    pthread_mutex_lock(&r->mu);
    f->fn = fn;
    f->ud = ud;
    pthread_mutex_unlock(&r->mu);
    return 0;
}

rmq_err_t rmq_metrics_collector(rmq_metrics_t *r, rmq_metric_type_t type, const char *name, const char *help,
                                const char *labels, void (*fn)(void *ud, rmq_metrics_sink_t *sink), void *ud) {
    if (!fn || type == RMQ_METRIC_HISTOGRAM) return RMQ_ERR_INVALID_ARG;
    /* register and set the callback under one lock so a concurrent scrape
     * never sees a collector without its function */
    rmq_metric_family_t *f = rmq_family_register(r, type, RMQ_FAM_COLLECTOR, name, help, labels, NULL, 0);
    if (!f) return RMQ_ERR_INVALID_ARG;
    pthread_mutex_lock(&r->mu);
    f->collect = fn;
    f->ud = ud;
    pthread_mutex_unlock(&r->mu);
    return 0;
}

rmq_err_t rmq_metrics_unregister(rmq_metrics_t *r, const char *name) {
    if (!r || !name) return RMQ_ERR_INVALID_ARG;
    pthread_mutex_lock(&r->mu);
    rmq_metric_family_t **pp = &r->head, *prev = NULL;
    while (*pp && strcmp((*pp)->name, name)) {
        prev = *pp;
        pp = &(*pp)->next;
    }
    rmq_metric_family_t *f = *pp;
    if (!f) {
        pthread_mutex_unlock(&r->mu);
        return RMQ_ERR_NOT_FOUND;
    }
    *pp = f->next;
    if (r->tail == &f->next) r->tail = prev ? &prev->next : &r->head;
    pthread_mutex_unlock(&r->mu);
    rmq_family_free(f);
    return 0;
}

/* ---- hot path ---------------------------------------------------------------------- */

void rmq_gauge_set(rmq_gauge_t *g, double v) {
    if (g) atomic_store_explicit(&g->bits, rmq_dbits(v), memory_order_relaxed);
}

void rmq_gauge_add(rmq_gauge_t *g, double d) {
    if (!g) return;
    uint64_t old = atomic_load_explicit(&g->bits, memory_order_relaxed);
    while (!atomic_compare_exchange_weak_explicit(&g->bits, &old, rmq_dbits(rmq_bitsd(old) + d),
                                                  memory_order_relaxed, memory_order_relaxed)) {
    }
}

double rmq_gauge_get(const rmq_gauge_t *g) {
    return g ? rmq_bitsd(atomic_load_explicit(&((rmq_gauge_t *)g)->bits, memory_order_relaxed)) : 0;
}

void rmq_hist_observe(rmq_hist_t *h, double v) {
    if (!h || isnan(v)) return;
    /* binary search for the first bound >= v */
    size_t lo = 0, hi = h->nb;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (v <= h->bounds[mid]) hi = mid;
        else lo = mid + 1;
    }
    atomic_fetch_add_explicit(&h->buckets[lo], 1, memory_order_relaxed);
    uint64_t old = atomic_load_explicit(&h->sum_bits, memory_order_relaxed);
    while (!atomic_compare_exchange_weak_explicit(&h->sum_bits, &old, rmq_dbits(rmq_bitsd(old) + v),
                                                  memory_order_relaxed, memory_order_relaxed)) {
    }
}

uint64_t rmq_hist_count(const rmq_hist_t *h) {
    if (!h) return 0;
    uint64_t n = 0;
    for (size_t i = 0; i <= h->nb; i++)
        n += atomic_load_explicit(&((rmq_hist_t *)h)->buckets[i], memory_order_relaxed);
    return n;
}

double rmq_hist_sum(const rmq_hist_t *h) {
    return h ? rmq_bitsd(atomic_load_explicit(&((rmq_hist_t *)h)->sum_bits, memory_order_relaxed)) : 0;
}

/* ---- rendering ---------------------------------------------------------------------- */

static const char *rmq_type_name(rmq_metric_type_t t) {
    return t == RMQ_METRIC_COUNTER ? "counter" : t == RMQ_METRIC_GAUGE ? "gauge" : "histogram";
}

/* {a="x",b="y"[,le="..."]} or nothing when there are no labels at all. */
static void rmq_prom_labels(rmq_buf_t *b, const rmq_metric_family_t *f, const char *const *values,
                            const char *le) {
    if (f->nlabels == 0 && !le) return;
    rmq_buf_put_u8(b, '{');
    for (size_t i = 0; i < f->nlabels; i++) {
        if (i) rmq_buf_put_u8(b, ',');
        rmq_put_str(b, f->labels[i]);
        rmq_put_str(b, "=\"");
        rmq_put_label_value(b, values && values[i] ? values[i] : "");
        rmq_buf_put_u8(b, '"');
    }
    if (le) {
        if (f->nlabels) rmq_buf_put_u8(b, ',');
        rmq_put_str(b, "le=\"");
        rmq_put_str(b, le);
        rmq_buf_put_u8(b, '"');
    }
    rmq_buf_put_u8(b, '}');
}

static void rmq_json_labels(rmq_buf_t *b, const rmq_metric_family_t *f, const char *const *values) {
    rmq_put_str(b, "\"labels\":{");
    for (size_t i = 0; i < f->nlabels; i++) {
        if (i) rmq_buf_put_u8(b, ',');
        rmq_put_json_str(b, f->labels[i]);
        rmq_buf_put_u8(b, ':');
        rmq_put_json_str(b, values && values[i] ? values[i] : "");
    }
    rmq_buf_put_u8(b, '}');
}

static void rmq_emit_value(rmq_metrics_sink_t *k, const char *const *values, double v) {
    rmq_buf_t *b = k->out;
    if (k->json) {
        if (k->n) rmq_buf_put_u8(b, ',');
        rmq_buf_put_u8(b, '{');
        rmq_json_labels(b, k->f, values);
        rmq_put_str(b, ",\"value\":");
        rmq_put_json_num(b, v);
        rmq_buf_put_u8(b, '}');
    } else {
        rmq_put_str(b, k->f->name);
        rmq_prom_labels(b, k->f, values, NULL);
        rmq_buf_put_u8(b, ' ');
        rmq_put_value(b, v);
        rmq_buf_put_u8(b, '\n');
    }
    k->n++;
}

void rmq_metrics_sink_add(rmq_metrics_sink_t *sink, const char *const *values, double v) {
    if (sink) rmq_emit_value(sink, values, v);
}

static void rmq_emit_hist(rmq_metrics_sink_t *k, const char *const *values, rmq_hist_t *h) {
    rmq_buf_t *b = k->out;
    const rmq_metric_family_t *f = k->f;
    uint64_t cum[RMQ_METRICS_MAX_BUCKETS + 1];
    uint64_t acc = 0;
    for (size_t i = 0; i <= h->nb; i++) {
        acc += atomic_load_explicit(&h->buckets[i], memory_order_relaxed);
        cum[i] = acc;
    }
    double sum = rmq_hist_sum(h);
    char le[40];
    if (k->json) {
        if (k->n) rmq_buf_put_u8(b, ',');
        rmq_buf_put_u8(b, '{');
        rmq_json_labels(b, f, values);
        rmq_put_str(b, ",\"count\":");
        rmq_put_value(b, (double)acc);
        rmq_put_str(b, ",\"sum\":");
        rmq_put_json_num(b, sum);
        rmq_put_str(b, ",\"buckets\":[");
        for (size_t i = 0; i <= h->nb; i++) {
            if (i) rmq_buf_put_u8(b, ',');
            rmq_put_str(b, "{\"le\":");
            if (i < h->nb) rmq_put_value(b, h->bounds[i]);
            else rmq_put_str(b, "\"+Inf\"");
            rmq_put_str(b, ",\"count\":");
            rmq_put_value(b, (double)cum[i]);
            rmq_buf_put_u8(b, '}');
        }
        rmq_put_str(b, "]}");
    } else {
        for (size_t i = 0; i <= h->nb; i++) {
            if (i < h->nb) rmq_metrics_format_value(h->bounds[i], le, sizeof le);
            else snprintf(le, sizeof le, "+Inf");
            rmq_put_str(b, f->name);
            rmq_put_str(b, "_bucket");
            rmq_prom_labels(b, f, values, le);
            rmq_buf_put_u8(b, ' ');
            rmq_put_value(b, (double)cum[i]);
            rmq_buf_put_u8(b, '\n');
        }
        rmq_put_str(b, f->name);
        rmq_put_str(b, "_sum");
        rmq_prom_labels(b, f, values, NULL);
        rmq_buf_put_u8(b, ' ');
        rmq_put_value(b, sum);
        rmq_buf_put_u8(b, '\n');
        rmq_put_str(b, f->name);
        rmq_put_str(b, "_count");
        rmq_prom_labels(b, f, values, NULL);
        rmq_buf_put_u8(b, ' ');
        rmq_put_value(b, (double)acc);
        rmq_buf_put_u8(b, '\n');
    }
    k->n++;
}

static void rmq_render_family(rmq_metric_family_t *f, rmq_buf_t *out, bool json, bool first) {
    if (json) {
        if (!first) rmq_buf_put_u8(out, ',');
        rmq_put_str(out, "{\"name\":");
        rmq_put_json_str(out, f->name);
        rmq_put_str(out, ",\"type\":\"");
        rmq_put_str(out, rmq_type_name(f->type));
        rmq_put_str(out, "\",\"help\":");
        rmq_put_json_str(out, f->help);
        rmq_put_str(out, ",\"series\":[");
    } else {
        rmq_put_str(out, "# HELP ");
        rmq_put_str(out, f->name);
        rmq_buf_put_u8(out, ' ');
        rmq_put_help(out, f->help);
        rmq_put_str(out, "\n# TYPE ");
        rmq_put_str(out, f->name);
        rmq_buf_put_u8(out, ' ');
        rmq_put_str(out, rmq_type_name(f->type));
        rmq_buf_put_u8(out, '\n');
    }
    rmq_metrics_sink_t k = {f, out, json, 0};
    if (f->kind == RMQ_FAM_FN) {
        if (f->fn) rmq_emit_value(&k, NULL, f->fn(f->ud));
    } else if (f->kind == RMQ_FAM_COLLECTOR) {
        if (f->collect) f->collect(f->ud, &k);
    } else {
        for (rmq_series_t *s = f->series; s; s = s->next) {
            const char *const *vals = (const char *const *)s->values;
            if (f->type == RMQ_METRIC_COUNTER) rmq_emit_value(&k, vals, (double)rmq_counter_get(&s->counter));
            else if (f->type == RMQ_METRIC_GAUGE) rmq_emit_value(&k, vals, rmq_gauge_get(&s->gauge));
            else rmq_emit_hist(&k, vals, &s->hist);
        }
    }
    if (json) rmq_put_str(out, "]}");
}

rmq_err_t rmq_metrics_render_prometheus(rmq_metrics_t *r, rmq_buf_t *out) {
    if (!r || !out) return RMQ_ERR_INVALID_ARG;
    pthread_mutex_lock(&r->mu);
    for (rmq_metric_family_t *f = r->head; f; f = f->next) rmq_render_family(f, out, false, false);
    pthread_mutex_unlock(&r->mu);
    return out->oom ? RMQ_ERR_NOMEM : 0;
}

rmq_err_t rmq_metrics_render_json(rmq_metrics_t *r, rmq_buf_t *out) {
    if (!r || !out) return RMQ_ERR_INVALID_ARG;
    char tmp[64];
    snprintf(tmp, sizeof tmp, "{\"timestamp_ms\":%lld,\"metrics\":[", (long long)rmq_wall_ms());
    rmq_put_str(out, tmp);
    pthread_mutex_lock(&r->mu);
    bool first = true;
    for (rmq_metric_family_t *f = r->head; f; f = f->next) {
        rmq_render_family(f, out, true, first);
        first = false;
    }
    pthread_mutex_unlock(&r->mu);
    rmq_put_str(out, "]}");
    return out->oom ? RMQ_ERR_NOMEM : 0;
}

/* ---- process collectors ------------------------------------------------------------------ */

typedef struct rmq_proc_stat {
    double utime_s, stime_s, start_s, vsize, rss;
    bool ok;
} rmq_proc_stat_t;

static rmq_proc_stat_t rmq_proc_read(void) {
    rmq_proc_stat_t ps = {0};
    char buf[2048];
    FILE *fp = fopen("/proc/self/stat", "r");
    if (!fp) return ps;
    size_t n = fread(buf, 1, sizeof buf - 1, fp);
    fclose(fp);
    buf[n] = 0;
    /* the command name may contain spaces and parentheses: fields start
     * after the last ')' (field 3, state) */
    char *p = strrchr(buf, ')');
    if (!p) return ps;
    p += 2;
    unsigned long long f[64] = {0};
    int idx = 3;
    char *save = NULL;
    for (char *tok = strtok_r(p, " ", &save); tok && idx < 64; tok = strtok_r(NULL, " ", &save), idx++)
        f[idx] = strtoull(tok, NULL, 10);
    long tck = sysconf(_SC_CLK_TCK);
    long page = sysconf(_SC_PAGESIZE);
    if (tck <= 0) tck = 100;
    ps.utime_s = (double)f[14] / (double)tck;
    ps.stime_s = (double)f[15] / (double)tck;
    ps.vsize = (double)f[23];
    ps.rss = (double)f[24] * (double)page;
    double btime = 0;
    fp = fopen("/proc/stat", "r");
    if (fp) {
        char line[256];
        while (fgets(line, sizeof line, fp))
            if (strncmp(line, "btime ", 6) == 0) {
                btime = strtod(line + 6, NULL);
                break;
            }
        fclose(fp);
    }
    ps.start_s = btime + (double)f[22] / (double)tck;
    ps.ok = true;
    return ps;
}

static double rmq_proc_cpu(void *ud) {
    (void)ud;
    rmq_proc_stat_t ps = rmq_proc_read();
    return ps.utime_s + ps.stime_s;
}
static double rmq_proc_rss(void *ud) {
    (void)ud;
    return rmq_proc_read().rss;
}
static double rmq_proc_vsize(void *ud) {
    (void)ud;
    return rmq_proc_read().vsize;
}
static double rmq_proc_start(void *ud) {
    (void)ud;
    return rmq_proc_read().start_s;
}
static double rmq_proc_open_fds(void *ud) {
    (void)ud;
    DIR *d = opendir("/proc/self/fd");
    if (!d) return NAN;
    double n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.') n++;
    closedir(d);
    return n - 1; /* the directory stream's own descriptor */
}
static double rmq_proc_max_fds(void *ud) {
    (void)ud;
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl)) return NAN;
    return rl.rlim_cur == RLIM_INFINITY ? INFINITY : (double)rl.rlim_cur;
}

static void rmq_proc_cpu_collect(void *ud, rmq_metrics_sink_t *sink) {
    rmq_metrics_sink_add(sink, NULL, rmq_proc_cpu(ud));
}

rmq_err_t rmq_metrics_register_process(rmq_metrics_t *r) {
    if (!r) return RMQ_ERR_INVALID_ARG;
    pthread_mutex_lock(&r->mu);
    bool have = rmq_family_find_locked(r, "process_cpu_seconds_total") != NULL;
    pthread_mutex_unlock(&r->mu);
    if (have) return 0;
    rmq_err_t err = rmq_metrics_collector(r, RMQ_METRIC_COUNTER, "process_cpu_seconds_total",
                                          "Total user and system CPU time spent in seconds.", NULL,
                                          rmq_proc_cpu_collect, NULL);
    if (!err) err = rmq_gauge_fn(r, "process_resident_memory_bytes", "Resident memory size in bytes.",
                                 rmq_proc_rss, NULL);
    if (!err) err = rmq_gauge_fn(r, "process_virtual_memory_bytes", "Virtual memory size in bytes.",
                                 rmq_proc_vsize, NULL);
    if (!err) err = rmq_gauge_fn(r, "process_open_fds", "Number of open file descriptors.", rmq_proc_open_fds,
                                 NULL);
    if (!err) err = rmq_gauge_fn(r, "process_max_fds", "Maximum number of open file descriptors.",
                                 rmq_proc_max_fds, NULL);
    if (!err) err = rmq_gauge_fn(r, "process_start_time_seconds",
                                 "Start time of the process since unix epoch in seconds.", rmq_proc_start, NULL);
    return err;
}
