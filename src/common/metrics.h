/* metrics.h - the process-wide metrics registry: counters, gauges,
 * histograms and scrape-time callbacks, rendered as Prometheus text
 * exposition (format 0.0.4) or as a JSON snapshot.
 *
 * Model:
 *  - A registry (rmq_metrics_t) holds metric families. A family has a name,
 *    a help text, a type and 0..RMQ_METRICS_MAX_LABELS label names.
 *  - A family holds series, one per distinct tuple of label values. A series
 *    is created (or found) once under the registry lock and then cached by the
 *    caller: rmq_counter_inc / rmq_gauge_set / rmq_hist_observe on it are
 *    relaxed atomic operations, no lock, no allocation (the hot path).
 *  - Series live as long as the registry: the pointers stay valid until
 *    rmq_metrics_free.
 *  - Callback gauges (rmq_gauge_fn) and collectors (rmq_metrics_collector)
 *    are evaluated at scrape time, so the broker can expose WAL usage,
 *    partition counts, connections or consumer lag without pushing values.
 *    Their callbacks run on the scraping thread with the registry lock held:
 *    they must not call back into the registry.
 *
 * Names follow Prometheus conventions: the caller passes the full name with
 * the rustmq_ prefix and unit suffix (rustmq_produce_latency_seconds);
 * counter names get "_total" appended when they do not end in it. Registering
 * an existing name with the same type and labels returns the existing family
 * (so modules can register idempotently); a conflicting re-registration
 * returns NULL.
 *
 * Thread-safety: everything is safe to call from any thread. */
#ifndef RMQ_COMMON_METRICS_H
#define RMQ_COMMON_METRICS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/err.h"

#define RMQ_METRICS_MAX_LABELS 4
#define RMQ_METRICS_MAX_BUCKETS 32

typedef enum {
    RMQ_METRIC_COUNTER = 0,
    RMQ_METRIC_GAUGE = 1,
    RMQ_METRIC_HISTOGRAM = 2,
} rmq_metric_type_t;

typedef struct rmq_metrics rmq_metrics_t;
typedef struct rmq_metric_family rmq_metric_family_t;

/* Hot-path series handles. Only the first field is touched by the inline
 * functions below; the rest is private to metrics.c. */
typedef struct rmq_counter {
    _Atomic uint64_t v;
} rmq_counter_t;

typedef struct rmq_gauge {
    _Atomic uint64_t bits; /* IEEE-754 double bits */
} rmq_gauge_t;

typedef struct rmq_hist rmq_hist_t;

/* Standard bucket layouts (upper bounds, ascending; +Inf is implicit).
 * Seconds: 100 us .. 10 s in 1-2.5-5 steps. Bytes: 64 B .. 64 MiB in x4. */
extern const double rmq_hist_buckets_seconds[];
extern const size_t rmq_hist_buckets_seconds_n;
extern const double rmq_hist_buckets_bytes[];
extern const size_t rmq_hist_buckets_bytes_n;

/* ---- registry ------------------------------------------------------------ */

/* New empty registry (caller frees with rmq_metrics_free), NULL on OOM. */
rmq_metrics_t *rmq_metrics_new(void);
/* Frees the registry, every family and every series (handles die too). */
void rmq_metrics_free(rmq_metrics_t *r);

/* Register the standard process collectors: process_cpu_seconds_total,
 * process_resident_memory_bytes, process_virtual_memory_bytes,
 * process_open_fds, process_max_fds, process_start_time_seconds (read from
 * /proc/self at scrape time). Idempotent. */
rmq_err_t rmq_metrics_register_process(rmq_metrics_t *r);

/* Declare a family. labels: comma-separated label names ("api,topic"), NULL
 * or "" for none; at most RMQ_METRICS_MAX_LABELS; each must match
 * [a-zA-Z_][a-zA-Z0-9_]* and not start with "__"; "le" is reserved for
 * histograms. buckets/nbuckets only for histograms (NULL = seconds
 * layout). Strings are copied. Returns the family (owned by the registry), or
 * NULL on an invalid name, a conflicting re-registration or OOM. */
rmq_metric_family_t *rmq_metrics_family(rmq_metrics_t *r, rmq_metric_type_t type, const char *name,
                                        const char *help, const char *labels, const double *buckets,
                                        size_t nbuckets);

/* Find or create the series for these label values (array of the family's
 * label count; NULL when the family has no labels; values are copied, NULL
 * values count as ""). Takes the registry lock: call once and cache the
 * handle. NULL on type mismatch, wrong family or OOM. */
rmq_counter_t *rmq_counter_with(rmq_metric_family_t *f, const char *const *values);
rmq_gauge_t *rmq_gauge_with(rmq_metric_family_t *f, const char *const *values);
rmq_hist_t *rmq_hist_with(rmq_metric_family_t *f, const char *const *values);

/* Shorthand for an unlabelled family + its single series. */
rmq_counter_t *rmq_counter_new(rmq_metrics_t *r, const char *name, const char *help);
rmq_gauge_t *rmq_gauge_new(rmq_metrics_t *r, const char *name, const char *help);
rmq_hist_t *rmq_hist_new(rmq_metrics_t *r, const char *name, const char *help, const double *buckets,
                         size_t nbuckets);

/* Unlabelled gauge evaluated at scrape time: fn(ud) must be thread-safe and
 * quick; called with the registry lock held. */
rmq_err_t rmq_gauge_fn(rmq_metrics_t *r, const char *name, const char *help, double (*fn)(void *ud), void *ud);

/* Labelled scrape-time collector: at every scrape fn(ud, sink) is called and
 * reports any number of series with rmq_metrics_sink_add. type is COUNTER or
 * GAUGE. */
typedef struct rmq_metrics_sink rmq_metrics_sink_t;
rmq_err_t rmq_metrics_collector(rmq_metrics_t *r, rmq_metric_type_t type, const char *name, const char *help,
                                const char *labels, void (*fn)(void *ud, rmq_metrics_sink_t *sink), void *ud);
/* Report one series from a collector; values as in rmq_counter_with
 * (borrowed for the call only). */
void rmq_metrics_sink_add(rmq_metrics_sink_t *sink, const char *const *values, double v);

/* Remove a family (any kind) by its name as registered (counters: with
 * "_total"). Handles into it become invalid. Meant for callbacks whose ud is
 * about to die. Returns RMQ_ERR_NOT_FOUND if absent. */
rmq_err_t rmq_metrics_unregister(rmq_metrics_t *r, const char *name);

/* ---- hot path ----------------------------------------------------------- */

static inline void rmq_counter_add(rmq_counter_t *c, uint64_t n) {
    if (c) atomic_fetch_add_explicit(&c->v, n, memory_order_relaxed);
}
static inline void rmq_counter_inc(rmq_counter_t *c) { rmq_counter_add(c, 1); }
static inline uint64_t rmq_counter_get(const rmq_counter_t *c) {
    return c ? atomic_load_explicit(&((rmq_counter_t *)c)->v, memory_order_relaxed) : 0;
}

void rmq_gauge_set(rmq_gauge_t *g, double v);
void rmq_gauge_add(rmq_gauge_t *g, double d); /* CAS loop; d may be negative */
double rmq_gauge_get(const rmq_gauge_t *g);

/* Record one observation: one relaxed add to its bucket and to the count,
 * one CAS on the sum. NaN observations are ignored. */
void rmq_hist_observe(rmq_hist_t *h, double v);
uint64_t rmq_hist_count(const rmq_hist_t *h);
double rmq_hist_sum(const rmq_hist_t *h);

/* ---- rendering ------------------------------------------------------------ */

/* Append the Prometheus text exposition (format 0.0.4: # HELP / # TYPE
 * lines, label values escaped, histograms as cumulative _bucket{le=...} plus
 * _sum and _count) of every family to out (caller-owned). Returns
 * RMQ_ERR_NOMEM if out ran out of memory. */
rmq_err_t rmq_metrics_render_prometheus(rmq_metrics_t *r, rmq_buf_t *out);

/* Append a JSON snapshot to out (caller-owned):
 * {"timestamp_ms":N,"metrics":[{"name":..,"type":"counter|gauge|histogram",
 *   "help":..,"series":[{"labels":{..},"value":x} |
 *   {"labels":{..},"count":n,"sum":x,"buckets":[{"le":b,"count":cumulative},..]}]}]}
 * Non-finite values are written as strings ("+Inf", "-Inf", "NaN"). */
rmq_err_t rmq_metrics_render_json(rmq_metrics_t *r, rmq_buf_t *out);

/* Format a sample value the way the exposition does ("+Inf", "NaN",
 * integers without exponent, else %.17g). buf >= 32 bytes. */
void rmq_metrics_format_value(double v, char *buf, size_t cap);

#endif
