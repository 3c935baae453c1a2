/* rustmq-bench.c - produce/consume throughput and latency benchmark over the
 * Kafka protocol (librdkafka), the `rustmq-bench` executable.
 *
 * Modes:
 *   produce       N producer threads (each its own rd_kafka_t) send fixed-size
 *                 messages at max rate or at --rate; throughput and produce
 *                 latency (enqueue -> delivery report) from a log-linear
 *                 histogram; errors by code.
 *   consume       N consumer threads (direct partition assignment, or a group
 *                 with --group) read the topic; throughput and end-to-end
 *                 latency from the monotonic send time the producer embeds in
 *                 the first 8 bytes of each payload (same machine only).
 *   e2e           consumers (from the end) and producers together: produce
 *                 figures plus end-to-end latency.
 *   mock-ceiling  the produce workload against librdkafka's in-process mock
 *                 cluster (rdkafka_mock.h): what the client alone can do here.
 *   selftest      checks the histogram, payload stamp and option parsing.
 * Every run also measures the disk's raw sequential write+fdatasync
 * bandwidth (--disk-probe-dir) and, in produce/e2e mode, the client ceiling,
 * so each figure reads as a ratio. Human-readable lines go to stdout and the
 * last line is `RESULT {json}`.
 *
 * This is a client tool: it links librdkafka and rmq_common only (buffers
 * for the JSON line, the monotonic clock), never the broker's modules. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "common/buf.h"
#include "bench_util.h" /* beside this file */
#include "common/clock.h"

/* ------------------------------------------------------------------------ */
/* Options                                                                  */

#define BENCH_MAX_X 64
#define BENCH_PAYLOAD_MAGIC 0x524d5142u /* "RMQB" after the 8-byte send time */

typedef enum { MODE_PRODUCE, MODE_CONSUME, MODE_E2E, MODE_CEILING, MODE_SELFTEST } bench_mode_t;

typedef struct {
    bench_mode_t mode;
    const char *mode_name;
    const char *bootstrap;
    const char *topic;
    int partitions;
    int replication;
    size_t msg_size;
    uint64_t count;      /* 0 = use duration */
    double duration;     /* seconds; used when count == 0 */
    const char *acks;    /* "0", "1", "all" */
    double linger_ms;    /* -1 = librdkafka default; librdkafka takes fractions of a ms */
    int batch_size;      /* -1 = librdkafka default */
    const char *compression;
    int producers;
    uint64_t rate;       /* total msgs/s over all producers, 0 = unlimited */
    uint64_t keys;       /* 0 = no key (sticky partitioner); N = keys "k0".."k<N-1>" in turn */
    bool client_stats;   /* produce: librdkafka's own latency split, a window a second */
    int consumers;
    const char *group;   /* NULL = direct assignment */
    bool from_end;
    int idle_ms;         /* consume: stop after this long without a message */
    bool no_ceiling;
    double ceiling_sec;
    const char *disk_dir;
    int disk_mb;         /* 0 = skip the disk probe */
    bool mock;
    uint64_t preload;    /* consume --mock: messages written before consuming */
    int nx;
    const char *xkey[BENCH_MAX_X];
    const char *xval[BENCH_MAX_X];
} bench_opts_t;

static void bench_opts_default(bench_opts_t *o) {
    memset(o, 0, sizeof(*o));
    o->bootstrap = "127.0.0.1:9092";
    o->topic = "rmq-bench";
    o->partitions = 12;
    o->replication = 1;
    o->msg_size = 1024;
    o->duration = 10.0;
    o->acks = "1";
    o->linger_ms = -1;
    o->batch_size = -1;
    o->compression = "none";
    o->producers = 1;
    o->consumers = 1;
    o->idle_ms = 3000;
    o->ceiling_sec = 3.0;
    o->disk_dir = ".";
    o->disk_mb = 256;
    o->preload = 200000;
}

static void usage(FILE *f) {
    fprintf(f,
        "usage: rustmq-bench produce|consume|e2e|mock-ceiling|selftest [options]\n"
        "\n"
        "modes:\n"
        "  produce        producers send messages; throughput, produce latency (delivery reports)\n"
        "  consume        consumers read the topic; throughput, end-to-end latency from payload stamp\n"
        "  e2e            consumers (from end) and producers together; adds end-to-end latency\n"
        "  mock-ceiling   produce workload against librdkafka's in-process mock (1 broker)\n"
        "  selftest       check histogram, payload stamp and option parsing; exit 0 if fine\n"
        "\n"
        "options:\n"
        "  --bootstrap HOST:PORT     broker (default 127.0.0.1:9092)\n"
        "  --mock                    start an in-process mock cluster and use it as bootstrap\n"
        "  --topic NAME              topic (default rmq-bench)\n"
        "  --partitions N            create the topic with N partitions if missing (default 12)\n"
        "  --replication N           replication factor when creating (default 1)\n"
        "  --msg-size BYTES          payload size, >= 8 (default 1024)\n"
        "  --count N                 total messages (produce: sent; consume: read)\n"
        "  --duration SEC            run length when --count is not given (default 10)\n"
        "  --acks 0|1|all            producer acks (default 1)\n"
        "  --linger-ms MS            producer linger.ms, fractions allowed (default: librdkafka's)\n"
        "  --batch-size BYTES        producer batch.size (default: librdkafka's)\n"
        "  --compression C           none|gzip|snappy|lz4|zstd (default none)\n"
        "  --producers N             producer threads, one rd_kafka_t each (default 1)\n"
        "  --rate MSGS_PER_SEC       total produce rate, 0 = unlimited (default 0)\n"
        "  --keys N                  key each message with one of N keys, in turn, so the client's\n"
        "                            hash partitioner spreads them over the partitions; 0 = no key\n"
        "                            (librdkafka's sticky partitioner fills one partition at a time)\n"
        "                            (default 0, at most 1000000)\n"
        "  --client-stats            produce/e2e: print librdkafka's own statistics for producer 0,\n"
        "                            a window a second: internal queue time (linger and batching),\n"
        "                            output-buffer wait and request round trip, p50/p99 ms\n"
        "  --consumers N             consumer threads (default 1)\n"
        "  --group ID                consume through a consumer group (default: direct assignment)\n"
        "  --from beginning|end      where consumers start (default: beginning for consume, end for e2e)\n"
        "  --idle-ms MS              consume: stop after MS without messages (default 3000)\n"
        "  --no-ceiling              skip the mock-ceiling reference run in produce/e2e\n"
        "  --ceiling-sec SEC         length of the ceiling run (default 3)\n"
        "  --disk-probe-dir DIR      where to measure write+fdatasync bandwidth (default ./)\n"
        "  --disk-probe-mb MB        size of that probe, 0 = skip (default 256)\n"
        "  --preload N               consume --mock: messages produced before consuming (default 200000)\n"
        "  -X key=value              librdkafka property for every client (repeatable)\n"
        "  -h, --help                this text\n"
        "\n"
        "Output: human-readable lines, then one line `RESULT {json}`.\n");
}

static bool parse_u64(const char *name, const char *s, uint64_t lo, uint64_t hi, uint64_t *out) {
    char *end = NULL;
    errno = 0;
    if (!s || !*s || *s == '-') goto bad;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end || v < lo || v > hi) goto bad;
    *out = v;
    return true;
bad:
    fprintf(stderr, "rustmq-bench: bad value for %s: '%s' (integer %" PRIu64 "..%" PRIu64 ")\n", name,
            s ? s : "", lo, hi);
    return false;
}

static bool parse_int(const char *name, const char *s, int lo, int hi, int *out) {
    uint64_t v;
    if (!parse_u64(name, s, (uint64_t)lo, (uint64_t)hi, &v)) return false;
    *out = (int)v;
    return true;
}

/* A decimal number (fractions allowed) above lo, or equal to it when
 * lo_ok, and at most hi; `what` names the range in the error. */
static bool parse_real(const char *name, const char *s, double lo, bool lo_ok, double hi, const char *what,
                       double *out) {
    char *end = NULL;
    errno = 0;
    double v = s ? strtod(s, &end) : 0;
    if (!s || !*s || errno || *end || !(lo_ok ? v >= lo : v > lo) || v > hi) {
        fprintf(stderr, "rustmq-bench: bad value for %s: '%s' (%s)\n", name, s ? s : "", what);
        return false;
    }
    *out = v;
    return true;
}

static bool parse_sec(const char *name, const char *s, double *out) {
    return parse_real(name, s, 0, false, 86400, "seconds > 0", out);
}

enum {
    OPT_BOOTSTRAP = 1000, OPT_TOPIC, OPT_PARTITIONS, OPT_REPLICATION, OPT_MSG_SIZE, OPT_COUNT,
    OPT_DURATION, OPT_ACKS, OPT_LINGER, OPT_BATCH, OPT_COMPRESSION, OPT_PRODUCERS, OPT_RATE,
    OPT_CONSUMERS, OPT_GROUP, OPT_FROM, OPT_IDLE, OPT_NO_CEILING, OPT_CEILING_SEC, OPT_DISK_DIR,
    OPT_DISK_MB, OPT_MOCK, OPT_PRELOAD, OPT_KEYS, OPT_CLIENT_STATS,
};

/* Parses argv (argv[0] is the program, argv[1] the mode). Returns 0 on
 * success, 1 when help was printed, -1 on a usage error (message printed).
 * The strings in *o point into argv (borrowed for the process lifetime). */
static int bench_parse_args(int argc, char **argv, bench_opts_t *o) {
    static const struct option longopts[] = {
        {"bootstrap", required_argument, 0, OPT_BOOTSTRAP},
        {"topic", required_argument, 0, OPT_TOPIC},
        {"partitions", required_argument, 0, OPT_PARTITIONS},
        {"replication", required_argument, 0, OPT_REPLICATION},
        {"msg-size", required_argument, 0, OPT_MSG_SIZE},
        {"count", required_argument, 0, OPT_COUNT},
        {"duration", required_argument, 0, OPT_DURATION},
        {"acks", required_argument, 0, OPT_ACKS},
        {"linger-ms", required_argument, 0, OPT_LINGER},
        {"batch-size", required_argument, 0, OPT_BATCH},
        {"compression", required_argument, 0, OPT_COMPRESSION},
        {"producers", required_argument, 0, OPT_PRODUCERS},
        {"rate", required_argument, 0, OPT_RATE},
        {"consumers", required_argument, 0, OPT_CONSUMERS},
        {"group", required_argument, 0, OPT_GROUP},
        {"from", required_argument, 0, OPT_FROM},
        {"idle-ms", required_argument, 0, OPT_IDLE},
        {"no-ceiling", no_argument, 0, OPT_NO_CEILING},
        {"ceiling-sec", required_argument, 0, OPT_CEILING_SEC},
        {"disk-probe-dir", required_argument, 0, OPT_DISK_DIR},
        {"disk-probe-mb", required_argument, 0, OPT_DISK_MB},
        {"mock", no_argument, 0, OPT_MOCK},
        {"preload", required_argument, 0, OPT_PRELOAD},
        {"keys", required_argument, 0, OPT_KEYS},
        {"client-stats", no_argument, 0, OPT_CLIENT_STATS},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    bench_opts_default(o);
    if (argc < 2) {
        usage(stderr);
        return -1;
    }
    const char *m = argv[1];
    if (!strcmp(m, "-h") || !strcmp(m, "--help") || !strcmp(m, "help")) {
        usage(stdout);
        return 1;
    }
    if (!strcmp(m, "produce")) o->mode = MODE_PRODUCE;
    else if (!strcmp(m, "consume")) o->mode = MODE_CONSUME;
    else if (!strcmp(m, "e2e")) o->mode = MODE_E2E;
    else if (!strcmp(m, "mock-ceiling")) o->mode = MODE_CEILING;
    else if (!strcmp(m, "selftest")) o->mode = MODE_SELFTEST;
    else {
        fprintf(stderr, "rustmq-bench: unknown mode '%s'\n", m);
        usage(stderr);
        return -1;
    }
    o->mode_name = m;
    o->from_end = (o->mode == MODE_E2E);
    bool from_given = false, count_given = false, duration_given = false;

    /* getopt sees the mode word as its "program name". */
    optind = 1;
    opterr = 1;
    int c;
    uint64_t v;
    while ((c = getopt_long(argc - 1, argv + 1, "X:h", longopts, NULL)) != -1) {
        switch (c) {
        case OPT_BOOTSTRAP: o->bootstrap = optarg; break;
        case OPT_TOPIC:
            if (!*optarg) { fprintf(stderr, "rustmq-bench: empty --topic\n"); return -1; }
            o->topic = optarg;
            break;
        case OPT_PARTITIONS: if (!parse_int("--partitions", optarg, 1, 100000, &o->partitions)) return -1; break;
        case OPT_REPLICATION: if (!parse_int("--replication", optarg, 1, 64, &o->replication)) return -1; break;
        case OPT_MSG_SIZE:
            if (!parse_u64("--msg-size", optarg, 8, 64u << 20, &v)) return -1;
            o->msg_size = (size_t)v;
            break;
        case OPT_COUNT:
            if (!parse_u64("--count", optarg, 1, UINT64_MAX / 2, &o->count)) return -1;
            count_given = true;
            break;
        case OPT_DURATION: if (!parse_sec("--duration", optarg, &o->duration)) return -1; duration_given = true; break;
        case OPT_ACKS:
            if (strcmp(optarg, "0") && strcmp(optarg, "1") && strcmp(optarg, "all") && strcmp(optarg, "-1")) {
                fprintf(stderr, "rustmq-bench: --acks must be 0, 1 or all\n");
                return -1;
            }
            o->acks = strcmp(optarg, "-1") ? optarg : "all";
            break;
        case OPT_LINGER:
            if (!parse_real("--linger-ms", optarg, 0, true, 900000, "milliseconds 0..900000, fractions allowed",
                            &o->linger_ms))
                return -1;
            break;
        case OPT_BATCH: if (!parse_int("--batch-size", optarg, 1, 2147483647, &o->batch_size)) return -1; break;
        case OPT_COMPRESSION:
            if (strcmp(optarg, "none") && strcmp(optarg, "gzip") && strcmp(optarg, "snappy") &&
                strcmp(optarg, "lz4") && strcmp(optarg, "zstd")) {
                fprintf(stderr, "rustmq-bench: --compression must be none|gzip|snappy|lz4|zstd\n");
                return -1;
            }
            o->compression = optarg;
            break;
        case OPT_PRODUCERS: if (!parse_int("--producers", optarg, 1, 256, &o->producers)) return -1; break;
        case OPT_RATE: if (!parse_u64("--rate", optarg, 0, 1000000000, &o->rate)) return -1; break;
        case OPT_CONSUMERS: if (!parse_int("--consumers", optarg, 1, 256, &o->consumers)) return -1; break;
        case OPT_GROUP:
            if (!*optarg) { fprintf(stderr, "rustmq-bench: empty --group\n"); return -1; }
            o->group = optarg;
            break;
        case OPT_FROM:
            if (!strcmp(optarg, "beginning")) o->from_end = false;
            else if (!strcmp(optarg, "end")) o->from_end = true;
            else { fprintf(stderr, "rustmq-bench: --from must be beginning or end\n"); return -1; }
            from_given = true;
            break;
        case OPT_IDLE: if (!parse_int("--idle-ms", optarg, 1, 3600000, &o->idle_ms)) return -1; break;
        case OPT_NO_CEILING: o->no_ceiling = true; break;
        case OPT_CEILING_SEC: if (!parse_sec("--ceiling-sec", optarg, &o->ceiling_sec)) return -1; break;
        case OPT_DISK_DIR: o->disk_dir = optarg; break;
        case OPT_DISK_MB: if (!parse_int("--disk-probe-mb", optarg, 0, 1 << 20, &o->disk_mb)) return -1; break;
        case OPT_MOCK: o->mock = true; break;
        case OPT_KEYS: if (!parse_u64("--keys", optarg, 0, 1000000, &o->keys)) return -1; break;
        case OPT_CLIENT_STATS: o->client_stats = true; break;
        case OPT_PRELOAD: if (!parse_u64("--preload", optarg, 0, UINT64_MAX / 2, &o->preload)) return -1; break;
        case 'X': {
            char *eq = strchr(optarg, '=');
            if (!eq || eq == optarg) {
                fprintf(stderr, "rustmq-bench: -X wants key=value, got '%s'\n", optarg);
                return -1;
            }
            if (o->nx >= BENCH_MAX_X) {
                fprintf(stderr, "rustmq-bench: too many -X (max %d)\n", BENCH_MAX_X);
                return -1;
            }
            *eq = '\0';
            o->xkey[o->nx] = optarg;
            o->xval[o->nx] = eq + 1;
            o->nx++;
            break;
        }
        case 'h': usage(stdout); return 1;
        default: usage(stderr); return -1;
        }
    }
    if (optind < argc - 1) {
        fprintf(stderr, "rustmq-bench: unexpected argument '%s'\n", argv[optind + 1]);
        return -1;
    }
    if (count_given && duration_given) {
        fprintf(stderr, "rustmq-bench: give --count or --duration, not both\n");
        return -1;
    }
    if (o->mode == MODE_E2E && from_given && !o->from_end) {
        fprintf(stderr, "rustmq-bench: e2e consumers always start from the end\n");
        return -1;
    }
    (void)from_given;
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Log-linear histogram of nanosecond values (HDR style): values below 2^SUB
 * are exact; above, each power of two is split into 2^SUB equal buckets, so
 * the relative error is below 2^-SUB (0.8 % with SUB = 7). Fixed size,
 * O(1) record, mergeable. */

#define HIST_SUB 7
#define HIST_SUBN (1u << HIST_SUB)
#define HIST_NBUCKETS ((64 - HIST_SUB + 1) * HIST_SUBN)

typedef struct {
    uint64_t n, min, max;
    long double sum;
    uint64_t b[HIST_NBUCKETS];
} hist_t;

static void hist_init(hist_t *h) {
    memset(h, 0, sizeof(*h));
    h->min = UINT64_MAX;
}

static unsigned hist_index(uint64_t v) {
    if (v < HIST_SUBN) return (unsigned)v;
    unsigned e = 63u - (unsigned)__builtin_clzll(v);
    unsigned shift = e - HIST_SUB;
    return ((shift + 1) << HIST_SUB) + (unsigned)((v >> shift) - HIST_SUBN);
}

/* Lowest and highest value that land in bucket idx. */
static void hist_bucket_range(unsigned idx, uint64_t *lo, uint64_t *hi) {
    if (idx < HIST_SUBN) {
        *lo = *hi = idx;
        return;
    }
    unsigned shift = (idx >> HIST_SUB) - 1;
    uint64_t s = idx & (HIST_SUBN - 1);
    *lo = (s + HIST_SUBN) << shift;
    *hi = *lo + ((1ull << shift) - 1);
}

static void hist_record(hist_t *h, uint64_t v) {
    h->b[hist_index(v)]++;
    h->n++;
    h->sum += v;
    if (v < h->min) h->min = v;
    if (v > h->max) h->max = v;
}

static void hist_merge(hist_t *dst, const hist_t *src) {
    for (unsigned i = 0; i < HIST_NBUCKETS; i++) dst->b[i] += src->b[i];
    dst->n += src->n;
    dst->sum += src->sum;
    if (src->min < dst->min) dst->min = src->min;
    if (src->max > dst->max) dst->max = src->max;
}

/* Value at quantile q in [0,1]: the midpoint of the bucket holding the
 * ceil(q*n)-th smallest value, clamped to the exact min/max. 0 if empty. */
static uint64_t hist_quantile(const hist_t *h, double q) {
    if (h->n == 0) return 0;
    uint64_t rank = (uint64_t)ceil(q * (double)h->n);
    if (rank < 1) rank = 1;
    if (rank > h->n) rank = h->n;
    uint64_t acc = 0;
    for (unsigned i = 0; i < HIST_NBUCKETS; i++) {
        acc += h->b[i];
        if (acc >= rank) {
            uint64_t lo, hi;
            hist_bucket_range(i, &lo, &hi);
            uint64_t mid = lo + (hi - lo) / 2;
            if (mid < h->min) mid = h->min;
            if (mid > h->max) mid = h->max;
            return mid;
        }
    }
    return h->max;
}

/* The latency timeline of a duration run: one histogram per second of
 * enqueue, by_sec[0..nsec). A value enqueued before start is not placed; one
 * enqueued after the last second goes into it. */
static void timeline_record(hist_t *by_sec, unsigned nsec, uint64_t start_ns, uint64_t t0, uint64_t v) {
    if (t0 < start_ns) return;
    uint64_t sec = (t0 - start_ns) / 1000000000ull;
    hist_record(&by_sec[sec < nsec ? sec : nsec - 1], v);
}

/* Into out (initialized here): every second of the timeline but the first,
 * where client start-up (connections, the consumer's first fetches) lands. */
static void timeline_after_first(hist_t *out, const hist_t *by_sec, unsigned nsec) {
    hist_init(out);
    for (unsigned k = 1; k < nsec; k++) hist_merge(out, &by_sec[k]);
}

static double ns_ms(uint64_t ns) { return (double)ns / 1e6; }

/* ------------------------------------------------------------------------ */
/* Error counts, indexed by librdkafka error code. */

#define ERR_SLOTS (RD_KAFKA_RESP_ERR_END_ALL - RD_KAFKA_RESP_ERR__BEGIN + 1)

typedef struct {
    uint64_t c[ERR_SLOTS + 1]; /* last slot: codes outside the known range */
} errcount_t;

static void errcount_add(errcount_t *e, rd_kafka_resp_err_t err) {
    int i = (int)err - RD_KAFKA_RESP_ERR__BEGIN;
    if (i < 0 || i >= ERR_SLOTS) i = ERR_SLOTS;
    e->c[i]++;
}

static void errcount_merge(errcount_t *d, const errcount_t *s) {
    for (int i = 0; i <= ERR_SLOTS; i++) d->c[i] += s->c[i];
}

static uint64_t errcount_total(const errcount_t *e) {
    uint64_t t = 0;
    for (int i = 0; i <= ERR_SLOTS; i++) t += e->c[i];
    return t;
}

static const char *errcount_name(int slot) {
    if (slot == ERR_SLOTS) return "OTHER";
    return rd_kafka_err2name((rd_kafka_resp_err_t)(slot + RD_KAFKA_RESP_ERR__BEGIN));
}

static void errcount_print(const char *what, const errcount_t *e) {
    if (errcount_total(e) == 0) {
        printf("%s errors: none\n", what);
        return;
    }
    printf("%s errors:", what);
    for (int i = 0; i <= ERR_SLOTS; i++)
        if (e->c[i]) printf(" %s=%" PRIu64, errcount_name(i), e->c[i]);
    printf("\n");
}

/* ------------------------------------------------------------------------ */
/* JSON output into an rmq_buf_t (caller owns the buffer). */

static void jb_printf(rmq_buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void jb_printf(rmq_buf_t *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n <= 0) return;
    uint8_t *p = rmq_buf_extend(b, (size_t)n + 1);
    if (!p) return;
    va_start(ap, fmt);
    vsnprintf((char *)p, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len--; /* drop the NUL */
}

static void jb_str(rmq_buf_t *b, const char *s) {
    rmq_buf_put_u8(b, '"');
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') {
            rmq_buf_put_u8(b, '\\');
            rmq_buf_put_u8(b, *p);
        } else if (*p < 0x20) {
            jb_printf(b, "\\u%04x", *p);
        } else {
            rmq_buf_put_u8(b, *p);
        }
    }
    rmq_buf_put_u8(b, '"');
}

static void jb_num(rmq_buf_t *b, double v) {
    if (isfinite(v)) jb_printf(b, "%.3f", v);
    else jb_printf(b, "null");
}

static void jb_hist(rmq_buf_t *b, const hist_t *h) {
    if (h->n == 0) {
        jb_printf(b, "null");
        return;
    }
    jb_printf(b, "{\"count\":%" PRIu64 ",\"p50\":%.3f,\"p99\":%.3f,\"p999\":%.3f,\"max\":%.3f,\"mean\":%.3f}", h->n,
              ns_ms(hist_quantile(h, 0.50)), ns_ms(hist_quantile(h, 0.99)), ns_ms(hist_quantile(h, 0.999)),
              ns_ms(h->max), (double)(h->sum / h->n) / 1e6);
}

static void jb_errors(rmq_buf_t *b, const errcount_t *e) {
    jb_printf(b, "{");
    bool first = true;
    for (int i = 0; i <= ERR_SLOTS; i++) {
        if (!e->c[i]) continue;
        if (!first) jb_printf(b, ",");
        first = false;
        jb_str(b, errcount_name(i));
        jb_printf(b, ":%" PRIu64, e->c[i]);
    }
    jb_printf(b, "}");
}

/* ------------------------------------------------------------------------ */
/* Shared process state */

static atomic_bool g_interrupted;

static void on_sigint(int sig) {
    (void)sig;
    atomic_store(&g_interrupted, true);
}

static void sleep_ns(uint64_t ns) {
    struct timespec ts = {(time_t)(ns / 1000000000ull), (long)(ns % 1000000000ull)};
    while (nanosleep(&ts, &ts) == -1 && errno == EINTR && !atomic_load(&g_interrupted)) {}
}

static uint64_t xorshift64(uint64_t *s) {
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

static void fill_random(uint8_t *p, size_t n, uint64_t seed) {
    uint64_t s = seed | 1;
    for (size_t i = 0; i < n; i++) p[i] = (uint8_t)(xorshift64(&s) >> 24);
}

/* Payload stamp: bytes 0..7 the sender's CLOCK_MONOTONIC ns (big-endian);
 * bytes 8..11 a magic when the message is large enough, so foreign messages
 * on the topic are not mistaken for stamped ones. */
static void payload_stamp(uint8_t *p, size_t len, uint64_t ns) {
    rmq_wbe64(p, ns);
    if (len >= 12) rmq_wbe32(p + 8, BENCH_PAYLOAD_MAGIC);
}

/* Returns true and the send time when p holds a plausible stamp. */
static bool payload_read_stamp(const uint8_t *p, size_t len, uint64_t now, uint64_t *ns) {
    if (!p || len < 8) return false;
    if (len >= 12 && rmq_be32(p + 8) != BENCH_PAYLOAD_MAGIC) return false;
    uint64_t t = rmq_be64(p);
    if (t == 0 || t > now) return false;
    *ns = t;
    return true;
}

/* ------------------------------------------------------------------------ */
/* librdkafka configuration */

typedef struct {
    errcount_t errs;       /* client-level errors from error_cb */
    atomic_int printed;    /* how many were printed to stderr */
} client_errs_t;

static void on_client_error(rd_kafka_t *rk, int err, const char *reason, void *opaque);

/* Builds a conf for bootstrap with the -X passthrough applied last. Returns
 * NULL (message printed) on a bad property. Caller owns the conf (it passes
 * to rd_kafka_new or is destroyed). */
static rd_kafka_conf_t *bench_conf_new(const bench_opts_t *o, const char *bootstrap, bool producer) {
    char errstr[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    struct { const char *k; const char *v; } kv[8];
    int n = 0;
    char linger[32], batch[32];
    kv[n].k = "bootstrap.servers"; kv[n++].v = bootstrap;
    kv[n].k = "client.id"; kv[n++].v = "rustmq-bench";
    if (producer) {
        kv[n].k = "acks"; kv[n++].v = o->acks;
        kv[n].k = "compression.type"; kv[n++].v = o->compression;
        if (o->linger_ms >= 0) {
            snprintf(linger, sizeof(linger), "%g", o->linger_ms);
            kv[n].k = "linger.ms"; kv[n++].v = linger;
        }
        if (o->batch_size > 0) {
            snprintf(batch, sizeof(batch), "%d", o->batch_size);
            kv[n].k = "batch.size"; kv[n++].v = batch;
        }
    }
    for (int i = 0; i < n; i++) {
        if (rd_kafka_conf_set(conf, kv[i].k, kv[i].v, errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK) {
            fprintf(stderr, "rustmq-bench: %s=%s: %s\n", kv[i].k, kv[i].v, errstr);
            rd_kafka_conf_destroy(conf);
            return NULL;
        }
    }
    for (int i = 0; i < o->nx; i++) {
        if (rd_kafka_conf_set(conf, o->xkey[i], o->xval[i], errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK) {
            fprintf(stderr, "rustmq-bench: -X %s=%s: %s\n", o->xkey[i], o->xval[i], errstr);
            rd_kafka_conf_destroy(conf);
            return NULL;
        }
    }
    return conf;
}

static bool conf_set1(rd_kafka_conf_t *conf, const char *k, const char *v) {
    char errstr[512];
    if (rd_kafka_conf_set(conf, k, v, errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK) {
        fprintf(stderr, "rustmq-bench: %s=%s: %s\n", k, v, errstr);
        return false;
    }
    return true;
}

/* The producer settings in force (after -X), for the header line and JSON. */
typedef struct {
    char acks[16], linger_ms[32], batch_size[32], compression[32];
} prod_settings_t;

static void prod_settings_get(const bench_opts_t *o, prod_settings_t *s) {
    rd_kafka_conf_t *conf = bench_conf_new(o, "127.0.0.1:1", true);
    memset(s, 0, sizeof(*s));
    if (!conf) return;
    size_t n;
    n = sizeof(s->acks); if (rd_kafka_conf_get(conf, "acks", s->acks, &n) != RD_KAFKA_CONF_OK) strcpy(s->acks, "?");
    n = sizeof(s->linger_ms); if (rd_kafka_conf_get(conf, "linger.ms", s->linger_ms, &n) != RD_KAFKA_CONF_OK) strcpy(s->linger_ms, "?");
    n = sizeof(s->batch_size); if (rd_kafka_conf_get(conf, "batch.size", s->batch_size, &n) != RD_KAFKA_CONF_OK) strcpy(s->batch_size, "?");
    n = sizeof(s->compression); if (rd_kafka_conf_get(conf, "compression.type", s->compression, &n) != RD_KAFKA_CONF_OK) strcpy(s->compression, "?");
    if (!strcmp(s->acks, "-1")) strcpy(s->acks, "all");
    rd_kafka_conf_destroy(conf);
}

static void on_client_error(rd_kafka_t *rk, int err, const char *reason, void *opaque) {
    (void)rk;
    client_errs_t *ce = opaque;
    if (!ce) return;
    errcount_add(&ce->errs, (rd_kafka_resp_err_t)err);
    if (atomic_fetch_add(&ce->printed, 1) < 5)
        fprintf(stderr, "rustmq-bench: client error %s: %s\n", rd_kafka_err2name((rd_kafka_resp_err_t)err), reason);
}

/* ------------------------------------------------------------------------ */
/* In-process mock cluster (librdkafka's rdkafka_mock.h). */

typedef struct {
    rd_kafka_t *host;               /* the rd_kafka_t that owns the mock */
    rd_kafka_mock_cluster_t *mcluster;
    char bootstrap[256];
} bench_mock_t;

static rmq_err_t bench_mock_start(bench_mock_t *m, const char *topic, int partitions) {
    char errstr[512];
    memset(m, 0, sizeof(*m));
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (!conf_set1(conf, "log_level", "3")) {
        rd_kafka_conf_destroy(conf);
        return RMQ_ERR_INVALID_ARG;
    }
    m->host = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    if (!m->host) {
        fprintf(stderr, "rustmq-bench: mock host: %s\n", errstr);
        return RMQ_ERR_INVALID_ARG;
    }
    m->mcluster = rd_kafka_mock_cluster_new(m->host, 1);
    if (!m->mcluster) {
        fprintf(stderr, "rustmq-bench: rd_kafka_mock_cluster_new failed\n");
        rd_kafka_destroy(m->host);
        m->host = NULL;
        return RMQ_ERR_INVALID_ARG;
    }
    rd_kafka_resp_err_t err = rd_kafka_mock_topic_create(m->mcluster, topic, partitions, 1);
    if (err) {
        fprintf(stderr, "rustmq-bench: mock topic create: %s\n", rd_kafka_err2str(err));
        rd_kafka_mock_cluster_destroy(m->mcluster);
        rd_kafka_destroy(m->host);
        memset(m, 0, sizeof(*m));
        return RMQ_ERR_INVALID_ARG;
    }
    snprintf(m->bootstrap, sizeof(m->bootstrap), "%s", rd_kafka_mock_cluster_bootstraps(m->mcluster));
    return RMQ_NONE;
}

static void bench_mock_stop(bench_mock_t *m) {
    if (m->mcluster) rd_kafka_mock_cluster_destroy(m->mcluster);
    if (m->host) rd_kafka_destroy(m->host);
    memset(m, 0, sizeof(*m));
}

/* ------------------------------------------------------------------------ */
/* Topic: look it up, create it with AdminClient if missing. */

/* Returns the partition count of topic (>0), or 0 if the topic does not exist,
 * or -1 on a metadata failure. */
static int topic_partitions(rd_kafka_t *rk, const char *topic, int timeout_ms) {
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 1, NULL, &md, timeout_ms);
    if (err) {
        fprintf(stderr, "rustmq-bench: metadata: %s\n", rd_kafka_err2str(err));
        return -1;
    }
    int n = 0;
    for (int i = 0; i < md->topic_cnt; i++) {
        if (strcmp(md->topics[i].topic, topic)) continue;
        if (md->topics[i].err == RD_KAFKA_RESP_ERR_NO_ERROR) {
            n = md->topics[i].partition_cnt;
            for (int p = 0; p < md->topics[i].partition_cnt; p++)
                if (md->topics[i].partitions[p].leader < 0) n = -2; /* leaderless: not ready */
        }
    }
    rd_kafka_metadata_destroy(md);
    return n == -2 ? 0 : n;
}

/* Makes sure topic exists; *nparts gets its partition count. */
static rmq_err_t ensure_topic(const bench_opts_t *o, const char *bootstrap, int *nparts) {
    char errstr[512];
    rd_kafka_conf_t *conf = bench_conf_new(o, bootstrap, false);
    if (!conf) return RMQ_ERR_INVALID_ARG;
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    if (!rk) {
        fprintf(stderr, "rustmq-bench: admin client: %s\n", errstr);
        return RMQ_ERR_INVALID_ARG;
    }
    rmq_err_t ret = RMQ_NONE;
    int n = topic_partitions(rk, o->topic, 10000);
    if (n < 0) {
        ret = RMQ_ERR_INVALID_ARG;
        goto out;
    }
    if (n > 0) {
        if (n != o->partitions)
            printf("note: topic %s exists with %d partitions (asked %d); using it as is\n", o->topic, n,
                   o->partitions);
        *nparts = n;
        goto out;
    }
    rd_kafka_NewTopic_t *nt = rd_kafka_NewTopic_new(o->topic, o->partitions, o->replication, errstr, sizeof(errstr));
    if (!nt) {
        fprintf(stderr, "rustmq-bench: NewTopic: %s\n", errstr);
        ret = RMQ_ERR_INVALID_ARG;
        goto out;
    }
    rd_kafka_AdminOptions_t *ao = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
    rd_kafka_AdminOptions_set_operation_timeout(ao, 10000, errstr, sizeof(errstr));
    rd_kafka_AdminOptions_set_request_timeout(ao, 15000, errstr, sizeof(errstr));
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_CreateTopics(rk, &nt, 1, ao, q);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 20000);
    rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR__TIMED_OUT;
    const char *emsg = "no answer to CreateTopics";
    if (ev) {
        err = rd_kafka_event_error(ev);
        emsg = rd_kafka_event_error_string(ev);
        const rd_kafka_CreateTopics_result_t *res = rd_kafka_event_CreateTopics_result(ev);
        if (!err && res) {
            size_t cnt = 0;
            const rd_kafka_topic_result_t **tr = rd_kafka_CreateTopics_result_topics(res, &cnt);
            for (size_t i = 0; i < cnt; i++) {
                err = rd_kafka_topic_result_error(tr[i]);
                emsg = rd_kafka_topic_result_error_string(tr[i]);
            }
        }
    }
    if (err && err != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
        fprintf(stderr, "rustmq-bench: create topic %s: %s: %s\n", o->topic, rd_kafka_err2name(err),
                emsg ? emsg : "");
        ret = RMQ_ERR_INVALID_ARG;
    } else {
        printf("created topic %s with %d partitions (replication %d)\n", o->topic, o->partitions, o->replication);
    }
    if (ev) rd_kafka_event_destroy(ev);
    rd_kafka_queue_destroy(q);
    rd_kafka_AdminOptions_destroy(ao);
    rd_kafka_NewTopic_destroy(nt);
    if (ret) goto out;
    /* Wait until metadata shows the topic with leaders for every partition. */
    uint64_t deadline = rmq_mono_ns() + 15000000000ull;
    for (;;) {
        n = topic_partitions(rk, o->topic, 5000);
        if (n > 0) {
            *nparts = n;
            break;
        }
        if (rmq_mono_ns() > deadline || atomic_load(&g_interrupted)) {
            fprintf(stderr, "rustmq-bench: topic %s not visible in metadata after creation\n", o->topic);
            ret = RMQ_ERR_INVALID_ARG;
            break;
        }
        sleep_ns(200000000ull);
    }
out:
    rd_kafka_destroy(rk);
    return ret;
}

/* ------------------------------------------------------------------------ */
/* Disk probe: raw sequential write + fdatasync per 1 MiB block. */

typedef struct {
    bool done;
    double mb_per_s;
    double seconds;
    int mib;
    hist_t *fsync; /* fdatasync latencies, owned */
} disk_result_t;

static rmq_err_t disk_probe(const char *dir, int mib, disk_result_t *r) {
    char path[4096];
    memset(r, 0, sizeof(*r));
    if (mib <= 0) return RMQ_NONE;
    snprintf(path, sizeof(path), "%s/.rmq-bench-disk-probe.%ld", dir, (long)getpid());
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        fprintf(stderr, "rustmq-bench: disk probe: open %s: %s\n", path, strerror(errno));
        return RMQ_ERR_IO;
    }
    const size_t blk = 1u << 20;
    uint8_t *buf = NULL;
    if (posix_memalign((void **)&buf, 4096, blk)) {
        close(fd);
        unlink(path);
        return RMQ_ERR_NOMEM;
    }
    fill_random(buf, blk, 0x9e3779b97f4a7c15ull);
    r->fsync = malloc(sizeof(hist_t));
    if (!r->fsync) {
        free(buf);
        close(fd);
        unlink(path);
        return RMQ_ERR_NOMEM;
    }
    hist_init(r->fsync);
    rmq_err_t ret = RMQ_NONE;
    uint64_t t0 = rmq_mono_ns();
    for (int i = 0; i < mib && !atomic_load(&g_interrupted); i++) {
        buf[0] = (uint8_t)i; /* each block differs */
        size_t off = 0;
        while (off < blk) {
            ssize_t w = write(fd, buf + off, blk - off);
            if (w < 0) {
                if (errno == EINTR) continue;
                fprintf(stderr, "rustmq-bench: disk probe: write: %s\n", strerror(errno));
                ret = RMQ_ERR_IO;
                goto done;
            }
            off += (size_t)w;
        }
        uint64_t s0 = rmq_mono_ns();
        if (fdatasync(fd) != 0) {
            fprintf(stderr, "rustmq-bench: disk probe: fdatasync: %s\n", strerror(errno));
            ret = RMQ_ERR_IO;
            goto done;
        }
        hist_record(r->fsync, rmq_mono_ns() - s0);
        r->mib = i + 1;
    }
    r->seconds = (double)(rmq_mono_ns() - t0) / 1e9;
    r->mb_per_s = r->seconds > 0 ? (double)r->mib * (double)blk / 1e6 / r->seconds : 0;
    r->done = r->mib > 0;
done:
    free(buf);
    close(fd);
    unlink(path);
    return ret;
}

static void disk_print(const char *dir, const disk_result_t *d) {
    if (!d->done) return;
    printf("disk: sequential write+fdatasync per 1 MiB in %s: %.1f MB/s (%d MiB in %.2f s); "
           "fdatasync p50 %.3f ms p99 %.3f ms max %.3f ms\n",
           dir, d->mb_per_s, d->mib, d->seconds, ns_ms(hist_quantile(d->fsync, 0.5)),
           ns_ms(hist_quantile(d->fsync, 0.99)), ns_ms(d->fsync->max));
}

/* ------------------------------------------------------------------------ */
/* Producers */

typedef struct {
    uint64_t attempted;   /* produce() calls accepted or failed (not QUEUE_FULL) */
    uint64_t delivered;
    uint64_t failed;      /* delivery or enqueue failures */
    uint64_t bytes;       /* delivered payload bytes */
    double seconds;       /* start to last delivery report */
    hist_t *lat;          /* owned */
    hist_t *by_sec;       /* owned, nsec histograms: latency by second of enqueue (duration runs) */
    hist_t *after_first;  /* owned when nsec: by_sec[1..nsec) merged (timeline_after_first) */
    unsigned nsec;
    errcount_t errs;      /* enqueue + delivery errors */
    errcount_t client_errs;
    struct client_stat *cst; /* owned: producer 0's --client-stats windows, or NULL */
    unsigned ncst;
    bool ok;              /* all threads started */
} prod_result_t;

typedef struct prod_shared prod_shared_t;

/* One statistics window of librdkafka (statistics.interval.ms = 1000) for
 * the broker that took the most messages in it; ms. int_latency is the
 * time from produce() until the message is put in a request (linger and
 * batching), outbuf the request's wait before it is written to the socket,
 * rtt the request's round trip to the broker and back. */
typedef struct client_stat {
    double int50, int99, out50, out99, rtt50, rtt99;
    int64_t msgs; /* int_latency samples in the window */
} client_stat_t;

typedef struct {
    int idx;
    const bench_opts_t *o;
    const char *bootstrap;
    prod_shared_t *sh;
    pthread_t th;
    uint64_t my_count;
    uint64_t attempted, delivered, failed, bytes;
    uint64_t end_ns;
    hist_t *lat;
    hist_t *by_sec; /* owned, sh->nsec histograms, or NULL */
    client_stat_t *cst; /* owned, --client-stats windows (producer 0 only) */
    unsigned ncst, cst_cap;
    errcount_t errs;
    client_errs_t cerr;
    bool ok;
} prod_thread_t;

struct prod_shared {
    pthread_barrier_t ready;
    uint64_t start_ns;      /* written by thread 0 after the barrier, then start_set */
    atomic_uint_fast64_t start_set;
    double duration;
    uint64_t rate_per_thread_x1000; /* msgs per 1000 s, keeps fractions */
    unsigned nsec;                  /* seconds of the latency timeline, 0 = none */
};

/* Key number i as "k<i>" into buf (at least 21 bytes; not terminated);
 * returns its length. Cheaper than snprintf at a million messages a second. */
static size_t key_format(char *buf, uint64_t i) {
    char tmp[20];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + i % 10);
        i /= 10;
    } while (i);
    buf[0] = 'k';
    for (size_t j = 0; j < n; j++) buf[1 + j] = tmp[n - 1 - j];
    return n + 1;
}

static void prod_dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
    (void)rk;
    prod_thread_t *pt = opaque;
    if (m->err) {
        pt->failed++;
        errcount_add(&pt->errs, m->err);
        return;
    }
    uint64_t now = rmq_mono_ns();
    uint64_t t0 = (uint64_t)(uintptr_t)m->_private;
    pt->delivered++;
    pt->bytes += m->len;
    hist_record(pt->lat, now >= t0 ? now - t0 : 0);
    if (pt->by_sec) timeline_record(pt->by_sec, pt->sh->nsec, pt->sh->start_ns, t0, now >= t0 ? now - t0 : 0);
}

/* error_cb shares the conf opaque with the DR callback: both get the
 * prod_thread_t, so this adapter finds the client-error counter in it. */
static void prod_error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque) {
    prod_thread_t *pt = opaque;
    on_client_error(rk, err, reason, &pt->cerr);
}

/* Reads {"p50":..,"p99":..} of one librdkafka histogram (µs) into ms. */
static void client_stat_pair(json_t *b, const char *name, double *p50, double *p99) {
    json_t *h = json_object_get(b, name);
    *p50 = json_number_value(json_object_get(h, "p50")) / 1000.0;
    *p99 = json_number_value(json_object_get(h, "p99")) / 1000.0;
}

/* stats_cb: json is librdkafka's (returning 0 lets it free it). Keeps one
 * window per call for producer 0. Runs in rd_kafka_poll of its thread. */
static int prod_stats_cb(rd_kafka_t *rk, char *json, size_t json_len, void *opaque) {
    (void)rk;
    prod_thread_t *pt = opaque;
    if (pt->idx != 0) return 0;
    json_t *root = json_loadb(json, json_len, 0, NULL);
    json_t *brokers = json_object_get(root, "brokers");
    const char *name;
    json_t *b, *best = NULL;
    int64_t best_n = -1;
    json_object_foreach(brokers, name, b) {
        if (json_integer_value(json_object_get(b, "nodeid")) < 0) continue; /* bootstrap entry */
        int64_t n = json_integer_value(json_object_get(json_object_get(b, "int_latency"), "cnt"));
        if (n > best_n) {
            best_n = n;
            best = b;
        }
    }
    if (best && pt->ncst == pt->cst_cap) {
        unsigned cap = pt->cst_cap ? pt->cst_cap * 2 : 16;
        client_stat_t *n = realloc(pt->cst, cap * sizeof(*n));
        if (n) {
            pt->cst = n;
            pt->cst_cap = cap;
        }
    }
    if (best && pt->ncst < pt->cst_cap) {
        client_stat_t *c = &pt->cst[pt->ncst++];
        client_stat_pair(best, "int_latency", &c->int50, &c->int99);
        client_stat_pair(best, "outbuf_latency", &c->out50, &c->out99);
        client_stat_pair(best, "rtt", &c->rtt50, &c->rtt99);
        c->msgs = best_n;
    }
    json_decref(root);
    return 0;
}

static void *prod_thread_main(void *arg) {
    prod_thread_t *pt = arg;
    const bench_opts_t *o = pt->o;
    prod_shared_t *sh = pt->sh;
    char errstr[512];
    rd_kafka_t *rk = NULL;
    rd_kafka_topic_t *rkt = NULL;
    uint8_t *payload = malloc(o->msg_size);
    rd_kafka_conf_t *conf = bench_conf_new(o, pt->bootstrap, true);
    if (conf && payload) {
        rd_kafka_conf_set_opaque(conf, pt);
        rd_kafka_conf_set_dr_msg_cb(conf, prod_dr_cb);
        rd_kafka_conf_set_error_cb(conf, prod_error_cb);
        if (o->client_stats && pt->idx == 0) {
            rd_kafka_conf_set_stats_cb(conf, prod_stats_cb);
            if (rd_kafka_conf_set(conf, "statistics.interval.ms", "1000", errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK)
                fprintf(stderr, "rustmq-bench: statistics.interval.ms: %s\n", errstr);
        }
        rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
        if (!rk) fprintf(stderr, "rustmq-bench: producer %d: %s\n", pt->idx, errstr);
    } else if (conf) {
        rd_kafka_conf_destroy(conf);
    }
    if (rk) {
        rkt = rd_kafka_topic_new(rk, o->topic, NULL);
        /* Warm up: connect and learn the topic before the clock starts. */
        const struct rd_kafka_metadata *md = NULL;
        if (rkt && rd_kafka_metadata(rk, 0, rkt, &md, 10000) == RD_KAFKA_RESP_ERR_NO_ERROR) rd_kafka_metadata_destroy(md);
    }
    pt->ok = rk && rkt && payload;
    if (payload) fill_random(payload, o->msg_size, 0x1234567ull + (uint64_t)pt->idx * 7919);

    pthread_barrier_wait(&sh->ready);
    if (pt->idx == 0) {
        sh->start_ns = rmq_mono_ns();
        atomic_store(&sh->start_set, 1);
    }
    while (!atomic_load(&sh->start_set)) sleep_ns(10000);
    uint64_t t0 = sh->start_ns;
    if (!pt->ok) goto out;

    uint64_t deadline = o->count ? UINT64_MAX : t0 + (uint64_t)(sh->duration * 1e9);
    uint64_t sent = 0; /* messages handed to librdkafka (successfully or not) */
    for (;;) {
        if (o->count && sent >= pt->my_count) break;
        if (atomic_load(&g_interrupted)) break;
        uint64_t now = rmq_mono_ns();
        if (now >= deadline) break;
        if (sh->rate_per_thread_x1000) {
            /* due time of message #sent: t0 + sent / rate */
            uint64_t due = t0 + (uint64_t)((long double)sent * 1e12L / (long double)sh->rate_per_thread_x1000);
            if (now < due) {
                uint64_t wait = due - now;
                if (wait >= 2000000) rd_kafka_poll(rk, (int)(wait / 1000000) - 1);
                else {
                    rd_kafka_poll(rk, 0);
                    sleep_ns(wait);
                }
                continue;
            }
        }
        payload_stamp(payload, o->msg_size, now);
        char key[21];
        size_t klen = o->keys ? key_format(key, (sent + (uint64_t)pt->idx * 7919u) % o->keys) : 0;
        if (rd_kafka_produce(rkt, RD_KAFKA_PARTITION_UA, RD_KAFKA_MSG_F_COPY, payload, o->msg_size,
                             klen ? key : NULL, klen, (void *)(uintptr_t)now) == -1) {
            rd_kafka_resp_err_t err = rd_kafka_last_error();
            if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
                rd_kafka_poll(rk, 1);
                continue;
            }
            errcount_add(&pt->errs, err);
            pt->failed++;
        }
        sent++;
        if ((sent & 31) == 0) rd_kafka_poll(rk, 0);
    }
    pt->attempted = sent;
    /* Drain: wait for every delivery report (bounded). */
    uint64_t flush_deadline = rmq_mono_ns() + 60000000000ull;
    while (rd_kafka_outq_len(rk) > 0 && rmq_mono_ns() < flush_deadline) {
        rd_kafka_poll(rk, 50);
        if (atomic_load(&g_interrupted)) {
            rd_kafka_purge(rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
            rd_kafka_poll(rk, 100);
            break;
        }
    }
    if (rd_kafka_outq_len(rk) > 0) {
        rd_kafka_purge(rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        rd_kafka_poll(rk, 500);
    }
out:
    pt->end_ns = rmq_mono_ns();
    if (rkt) rd_kafka_topic_destroy(rkt);
    if (rk) rd_kafka_destroy(rk);
    free(payload);
    return NULL;
}


/* Runs the produce workload of o against bootstrap. count/duration/rate come
 * from o. r->lat is allocated here; the caller frees it (prod_result_free). */
static rmq_err_t produce_run(const bench_opts_t *o, const char *bootstrap, prod_result_t *r) {
    memset(r, 0, sizeof(*r));
    r->lat = malloc(sizeof(hist_t));
    prod_thread_t *pts = calloc((size_t)o->producers, sizeof(prod_thread_t));
    prod_shared_t *sh = calloc(1, sizeof(*sh));
    if (!r->lat || !pts || !sh) {
        free(pts);
        free(sh);
        return RMQ_ERR_NOMEM;
    }
    hist_init(r->lat);
    pthread_barrier_init(&sh->ready, NULL, (unsigned)o->producers);
    sh->duration = o->duration;
    sh->rate_per_thread_x1000 = o->rate ? (o->rate * 1000 + (uint64_t)o->producers - 1) / (uint64_t)o->producers : 0;
    /* the timeline: one histogram per started second of a duration run */
    sh->nsec = o->count ? 0 : (unsigned)ceil(o->duration);
    if (sh->nsec > 3600) sh->nsec = 3600;
    rmq_err_t ret = RMQ_NONE;
    int started = 0;
    for (int i = 0; i < o->producers; i++) {
        prod_thread_t *pt = &pts[i];
        pt->idx = i;
        pt->o = o;
        pt->bootstrap = bootstrap;
        pt->sh = sh;
        pt->my_count = o->count / (uint64_t)o->producers + ((uint64_t)i < o->count % (uint64_t)o->producers);
        pt->lat = malloc(sizeof(hist_t));
        if (!pt->lat) {
            ret = RMQ_ERR_NOMEM;
            break;
        }
        hist_init(pt->lat);
        if (sh->nsec) {
            pt->by_sec = malloc(sh->nsec * sizeof(hist_t));
            if (!pt->by_sec) {
                ret = RMQ_ERR_NOMEM;
                break;
            }
            for (unsigned k = 0; k < sh->nsec; k++) hist_init(&pt->by_sec[k]);
        }
    }
    if (ret == RMQ_NONE && sh->nsec) {
        r->by_sec = malloc(sh->nsec * sizeof(hist_t));
        r->after_first = malloc(sizeof(hist_t));
        if (!r->by_sec || !r->after_first) ret = RMQ_ERR_NOMEM;
        else {
            r->nsec = sh->nsec;
            for (unsigned k = 0; k < sh->nsec; k++) hist_init(&r->by_sec[k]);
        }
    }
    if (ret == RMQ_NONE) {
        for (int i = 0; i < o->producers; i++) {
            if (pthread_create(&pts[i].th, NULL, prod_thread_main, &pts[i]) != 0) {
                fprintf(stderr, "rustmq-bench: pthread_create failed\n");
                abort(); /* the barrier would never release */
            }
            started++;
        }
        for (int i = 0; i < started; i++) pthread_join(pts[i].th, NULL);
    }
    uint64_t end = 0;
    r->ok = true;
    for (int i = 0; i < o->producers; i++) {
        prod_thread_t *pt = &pts[i];
        if (!pt->lat) continue;
        r->ok = r->ok && pt->ok;
        r->attempted += pt->attempted;
        r->delivered += pt->delivered;
        r->failed += pt->failed;
        r->bytes += pt->bytes;
        hist_merge(r->lat, pt->lat);
        for (unsigned k = 0; r->by_sec && pt->by_sec && k < r->nsec; k++) hist_merge(&r->by_sec[k], &pt->by_sec[k]);
        free(pt->by_sec);
        if (pt->cst) {
            r->cst = pt->cst; /* producer 0's, moved */
            r->ncst = pt->ncst;
        }
        errcount_merge(&r->errs, &pt->errs);
        errcount_merge(&r->client_errs, &pt->cerr.errs);
        if (pt->end_ns > end) end = pt->end_ns;
        free(pt->lat);
    }
    if (ret == RMQ_NONE) r->seconds = (double)(end - sh->start_ns) / 1e9;
    if (ret == RMQ_NONE && r->nsec) timeline_after_first(r->after_first, r->by_sec, r->nsec);
    pthread_barrier_destroy(&sh->ready);
    free(sh);
    free(pts);
    if (ret == RMQ_NONE && !r->ok) ret = RMQ_ERR_INVALID_ARG;
    return ret;
}

static void prod_result_free(prod_result_t *r) {
    free(r->lat);
    r->lat = NULL;
    free(r->by_sec);
    r->by_sec = NULL;
    free(r->after_first);
    r->after_first = NULL;
    r->nsec = 0;
    free(r->cst);
    r->cst = NULL;
    r->ncst = 0;
}

static double rate_of(uint64_t n, double sec) { return sec > 0 ? (double)n / sec : 0; }

/* "<label> latency ms <what>: p50 .. p99 .. p99.9 .. max .." */
static void prod_print_lat(const char *label, const char *what, const hist_t *h) {
    printf("%s latency ms %s: p50 %.3f  p99 %.3f  p99.9 %.3f  max %.3f\n", label, what, ns_ms(hist_quantile(h, 0.5)),
           ns_ms(hist_quantile(h, 0.99)), ns_ms(hist_quantile(h, 0.999)), ns_ms(h->max));
}

static void prod_print(const char *label, const prod_result_t *r) {
    printf("%s: %" PRIu64 " messages delivered in %.3f s = %.0f msg/s, %.1f MB/s", label, r->delivered, r->seconds,
           rate_of(r->delivered, r->seconds), rate_of(r->bytes, r->seconds) / 1e6);
    if (r->failed) printf(" (%" PRIu64 " failed)", r->failed);
    printf("\n");
    if (r->lat->n) prod_print_lat(label, "(enqueue -> delivery report)", r->lat);
    if (r->nsec > 1 && r->lat->n) {
        /* where in the run the tail is: a start-up ramp and a steady miss
         * look alike in the p99 of the whole run */
        printf("%s p99 ms by second of enqueue:", label);
        for (unsigned k = 0; k < r->nsec; k++)
            if (r->by_sec[k].n) printf(" %.2f", ns_ms(hist_quantile(&r->by_sec[k], 0.99)));
            else printf(" -");
        printf("\n");
        if (r->after_first->n) prod_print_lat(label, "after the first second", r->after_first);
    }
    if (r->ncst) {
        /* window k covers second k of the client's life (it starts before
         * the clock: connect and metadata), not exactly second k above */
        printf("%s client (librdkafka stats, a window a second) ms p50/p99:\n", label);
        printf("  internal queue (linger, batching):");
        for (unsigned k = 0; k < r->ncst; k++) printf(" %.2f/%.2f", r->cst[k].int50, r->cst[k].int99);
        printf("\n  output buffer:");
        for (unsigned k = 0; k < r->ncst; k++) printf(" %.2f/%.2f", r->cst[k].out50, r->cst[k].out99);
        printf("\n  request round trip:");
        for (unsigned k = 0; k < r->ncst; k++) printf(" %.2f/%.2f", r->cst[k].rtt50, r->cst[k].rtt99);
        printf("\n");
    }
    errcount_print(label, &r->errs);
    if (errcount_total(&r->client_errs)) errcount_print("client", &r->client_errs);
}

static void jb_prod(rmq_buf_t *b, const prod_result_t *r) {
    jb_printf(b, "{\"messages\":%" PRIu64 ",\"failed\":%" PRIu64 ",\"seconds\":", r->delivered, r->failed);
    jb_num(b, r->seconds);
    jb_printf(b, ",\"msgs_per_s\":");
    jb_num(b, rate_of(r->delivered, r->seconds));
    jb_printf(b, ",\"mb_per_s\":");
    jb_num(b, rate_of(r->bytes, r->seconds) / 1e6);
    jb_printf(b, ",\"latency_ms\":");
    jb_hist(b, r->lat);
    if (r->nsec) {
        jb_printf(b, ",\"latency_by_second_ms\":[");
        for (unsigned k = 0; k < r->nsec; k++) {
            if (k) jb_printf(b, ",");
            jb_hist(b, &r->by_sec[k]);
        }
        jb_printf(b, "],\"latency_after_first_second_ms\":");
        jb_hist(b, r->after_first);
    }
    jb_printf(b, ",\"errors\":");
    jb_errors(b, &r->errs);
    jb_printf(b, ",\"client_errors\":");
    jb_errors(b, &r->client_errs);
    jb_printf(b, "}");
}

/* ------------------------------------------------------------------------ */
/* Consumers */

typedef struct cons_shared {
    atomic_bool stop;
    atomic_uint_fast64_t consumed;
    atomic_uint_fast64_t last_ns;
    atomic_int ready;   /* threads with an assignment */
    atomic_int done;    /* threads that finished on their own (EOF on all) */
    bool stop_at_eof;
    int nparts;
} cons_shared_t;

typedef struct {
    int idx;
    const bench_opts_t *o;
    const char *bootstrap;
    cons_shared_t *sh;
    pthread_t th;
    uint64_t msgs, bytes, unstamped;
    uint64_t first_ns, last_ns;
    hist_t *lat;
    errcount_t errs;
    client_errs_t cerr;
    bool *eof;       /* per partition, owned */
    int nassigned, neof;
    bool assigned_flag;
    bool ok;
} cons_thread_t;

static void cons_error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque) {
    cons_thread_t *ct = opaque;
    on_client_error(rk, err, reason, &ct->cerr);
}

/* Assignment at explicit offsets: the high watermark for --from end (so the
 * start point is fixed before producers begin), else BEGINNING (direct) or
 * INVALID (group: committed offset, else auto.offset.reset=earliest). */
static void cons_set_start_offsets(cons_thread_t *ct, rd_kafka_t *rk, rd_kafka_topic_partition_list_t *l) {
    for (int i = 0; i < l->cnt; i++) {
        rd_kafka_topic_partition_t *tp = &l->elems[i];
        if (ct->o->from_end) {
            int64_t lo = 0, hi = 0;
            rd_kafka_resp_err_t err = rd_kafka_query_watermark_offsets(rk, tp->topic, tp->partition, &lo, &hi, 10000);
            tp->offset = err ? RD_KAFKA_OFFSET_END : hi;
            if (err) errcount_add(&ct->errs, err);
        } else {
            tp->offset = ct->o->group ? RD_KAFKA_OFFSET_INVALID : RD_KAFKA_OFFSET_BEGINNING;
        }
    }
}

static void cons_rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t *parts,
                              void *opaque) {
    cons_thread_t *ct = opaque;
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        cons_set_start_offsets(ct, rk, parts);
        rd_kafka_assign(rk, parts);
        ct->nassigned = parts->cnt;
        if (!ct->assigned_flag) {
            ct->assigned_flag = true;
            atomic_fetch_add(&ct->sh->ready, 1);
        }
    } else {
        rd_kafka_assign(rk, NULL);
        ct->nassigned = 0;
    }
}

static void *cons_thread_main(void *arg) {
    cons_thread_t *ct = arg;
    const bench_opts_t *o = ct->o;
    cons_shared_t *sh = ct->sh;
    char errstr[512], gid[128];
    rd_kafka_t *rk = NULL;
    rd_kafka_queue_t *q = NULL;
    rd_kafka_message_t **batch = calloc(1024, sizeof(*batch));
    rd_kafka_conf_t *conf = bench_conf_new(o, ct->bootstrap, false);
    if (!conf || !batch) goto fail;
    if (o->group) {
        snprintf(gid, sizeof(gid), "%s", o->group);
    } else {
        /* librdkafka wants a group.id for assign(); it is never joined. */
        snprintf(gid, sizeof(gid), "rmq-bench-direct-%ld-%d", (long)getpid(), ct->idx);
    }
    if (!conf_set1(conf, "group.id", gid) ||
        !conf_set1(conf, "enable.auto.commit", o->group ? "true" : "false") ||
        !conf_set1(conf, "enable.auto.offset.store", o->group ? "true" : "false") ||
        !conf_set1(conf, "auto.offset.reset", o->from_end ? "latest" : "earliest") ||
        !conf_set1(conf, "enable.partition.eof", (sh->stop_at_eof && !o->group) ? "true" : "false")) {
        rd_kafka_conf_destroy(conf);
        goto fail;
    }
    rd_kafka_conf_set_opaque(conf, ct);
    rd_kafka_conf_set_error_cb(conf, cons_error_cb);
    if (o->group) rd_kafka_conf_set_rebalance_cb(conf, cons_rebalance_cb);
    rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr));
    if (!rk) {
        fprintf(stderr, "rustmq-bench: consumer %d: %s\n", ct->idx, errstr);
        goto fail;
    }
    rd_kafka_poll_set_consumer(rk);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(sh->nparts);
    if (o->group) {
        rd_kafka_topic_partition_list_add(l, o->topic, RD_KAFKA_PARTITION_UA);
        rd_kafka_resp_err_t err = rd_kafka_subscribe(rk, l);
        rd_kafka_topic_partition_list_destroy(l);
        if (err) {
            fprintf(stderr, "rustmq-bench: subscribe: %s\n", rd_kafka_err2str(err));
            goto fail;
        }
    } else {
        for (int p = ct->idx; p < sh->nparts; p += o->consumers) rd_kafka_topic_partition_list_add(l, o->topic, p);
        cons_set_start_offsets(ct, rk, l);
        ct->nassigned = l->cnt;
        rd_kafka_resp_err_t err = l->cnt ? rd_kafka_assign(rk, l) : RD_KAFKA_RESP_ERR_NO_ERROR;
        rd_kafka_topic_partition_list_destroy(l);
        if (err) {
            fprintf(stderr, "rustmq-bench: assign: %s\n", rd_kafka_err2str(err));
            goto fail;
        }
        ct->assigned_flag = true;
        atomic_fetch_add(&sh->ready, 1);
    }
    q = rd_kafka_queue_get_consumer(rk);
    ct->ok = true;
    if (!o->group && ct->nassigned == 0) {
        /* more consumers than partitions: nothing to read */
        atomic_fetch_add(&sh->done, 1);
        goto out;
    }
    while (!atomic_load(&sh->stop) && !atomic_load(&g_interrupted)) {
        /* Block for one message, then take whatever else is already queued:
         * consume_batch_queue with a timeout would wait for a full batch and
         * add up to that timeout to the measured latency. */
        batch[0] = rd_kafka_consumer_poll(rk, 100);
        if (!batch[0]) continue;
        ssize_t more = rd_kafka_consume_batch_queue(q, 0, batch + 1, 1023);
        ssize_t n = 1 + (more > 0 ? more : 0);
        uint64_t now = rmq_mono_ns();
        uint64_t got = 0;
        for (ssize_t i = 0; i < n; i++) {
            rd_kafka_message_t *m = batch[i];
            if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
                if (m->partition >= 0 && m->partition < sh->nparts && !ct->eof[m->partition]) {
                    ct->eof[m->partition] = true;
                    ct->neof++;
                }
            } else if (m->err) {
                errcount_add(&ct->errs, m->err);
            } else {
                got++;
                ct->bytes += m->len;
                uint64_t ts;
                if (payload_read_stamp(m->payload, m->len, now, &ts)) hist_record(ct->lat, now - ts);
                else ct->unstamped++;
            }
            rd_kafka_message_destroy(m);
        }
        if (got) {
            if (!ct->first_ns) ct->first_ns = now;
            ct->last_ns = now;
            ct->msgs += got;
            atomic_fetch_add(&sh->consumed, got);
            atomic_store(&sh->last_ns, now);
        }
        if (sh->stop_at_eof && !o->group && ct->neof >= ct->nassigned) {
            atomic_fetch_add(&sh->done, 1);
            break;
        }
    }
out:
    if (q) rd_kafka_queue_destroy(q);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    free(batch);
    return NULL;
fail:
    free(batch);
    if (rk) rd_kafka_destroy(rk);
    atomic_fetch_add(&sh->done, 1);
    return NULL;
}

typedef struct {
    uint64_t msgs, bytes, unstamped;
    double seconds; /* first to last message received */
    hist_t *lat;    /* owned */
    errcount_t errs, client_errs;
    bool ok;
} cons_result_t;

typedef struct {
    cons_shared_t sh;
    cons_thread_t *cts; /* cap slots, zeroed; owned */
    int cap;            /* slots allocated */
    int n;              /* threads started */
} cons_group_t;

/* Starts o->consumers threads; returns when all have an assignment or after
 * 30 s. The caller stops them with cons_stop. */
static rmq_err_t cons_start(cons_group_t *g, const bench_opts_t *o, const char *bootstrap, int nparts,
                           bool stop_at_eof) {
    memset(g, 0, sizeof(*g));
    g->sh.stop_at_eof = stop_at_eof;
    g->sh.nparts = nparts;
    g->cts = calloc((size_t)o->consumers, sizeof(cons_thread_t));
    if (!g->cts) return RMQ_ERR_NOMEM;
    g->cap = o->consumers;
    for (int i = 0; i < o->consumers; i++) {
        cons_thread_t *ct = &g->cts[i];
        ct->idx = i;
        ct->o = o;
        ct->bootstrap = bootstrap;
        ct->sh = &g->sh;
        ct->lat = malloc(sizeof(hist_t));
        ct->eof = calloc((size_t)nparts, sizeof(bool));
        if (!ct->lat || !ct->eof) return RMQ_ERR_NOMEM;
        hist_init(ct->lat);
        if (pthread_create(&ct->th, NULL, cons_thread_main, ct) != 0) return RMQ_ERR_INVALID_ARG;
        g->n++;
    }
    uint64_t deadline = rmq_mono_ns() + 30000000000ull;
    /* a group leaves members beyond the partition count idle */
    int want = o->group ? (o->consumers < nparts ? o->consumers : nparts) : o->consumers;
    while (atomic_load(&g->sh.ready) + atomic_load(&g->sh.done) < want && rmq_mono_ns() < deadline &&
           !atomic_load(&g_interrupted))
        sleep_ns(10000000);
    if (atomic_load(&g->sh.ready) == 0) {
        fprintf(stderr, "rustmq-bench: no consumer got an assignment\n");
        return RMQ_ERR_INVALID_ARG;
    }
    return RMQ_NONE;
}

/* Stops and joins the consumers; fills r (r->lat owned by r). */
static void cons_stop(cons_group_t *g, cons_result_t *r) {
    memset(r, 0, sizeof(*r));
    atomic_store(&g->sh.stop, true);
    r->lat = malloc(sizeof(hist_t));
    if (r->lat) hist_init(r->lat);
    uint64_t first = UINT64_MAX, last = 0;
    r->ok = true;
    for (int i = 0; i < g->n; i++) {
        cons_thread_t *ct = &g->cts[i];
        pthread_join(ct->th, NULL);
        r->ok = r->ok && ct->ok;
        r->msgs += ct->msgs;
        r->bytes += ct->bytes;
        r->unstamped += ct->unstamped;
        if (ct->first_ns && ct->first_ns < first) first = ct->first_ns;
        if (ct->last_ns > last) last = ct->last_ns;
        if (r->lat) hist_merge(r->lat, ct->lat);
        errcount_merge(&r->errs, &ct->errs);
        errcount_merge(&r->client_errs, &ct->cerr.errs);
    }
    for (int i = 0; g->cts && i < g->cap; i++) {
        free(g->cts[i].lat);
        free(g->cts[i].eof);
    }
    r->seconds = (last > first) ? (double)(last - first) / 1e9 : 0;
    free(g->cts);
    g->cts = NULL;
}

static void cons_result_free(cons_result_t *r) {
    free(r->lat);
    r->lat = NULL;
}

/* backlog: consumers started at the beginning, so the stamp measures how old
 * each message was when read, not the delivery path. */
static void cons_print(const cons_result_t *r, bool backlog) {
    printf("consume: %" PRIu64 " messages in %.3f s (first to last) = %.0f msg/s, %.1f MB/s\n", r->msgs, r->seconds,
           rate_of(r->msgs, r->seconds), rate_of(r->bytes, r->seconds) / 1e6);
    if (r->lat && r->lat->n)
        printf("%s ms (producer send -> consumer receipt): p50 %.3f  p99 %.3f  p99.9 %.3f  max %.3f\n",
               backlog ? "message age at receipt (backlog read, not a latency)" : "end-to-end latency", ns_ms(hist_quantile(r->lat, 0.5)), ns_ms(hist_quantile(r->lat, 0.99)),
               ns_ms(hist_quantile(r->lat, 0.999)), ns_ms(r->lat->max));
    if (r->unstamped) printf("note: %" PRIu64 " messages carried no rustmq-bench stamp (no latency)\n", r->unstamped);
    errcount_print("consume", &r->errs);
    if (errcount_total(&r->client_errs)) errcount_print("client", &r->client_errs);
}

static void jb_cons(rmq_buf_t *b, const cons_result_t *r) {
    jb_printf(b, "{\"messages\":%" PRIu64 ",\"seconds\":", r->msgs);
    jb_num(b, r->seconds);
    jb_printf(b, ",\"msgs_per_s\":");
    jb_num(b, rate_of(r->msgs, r->seconds));
    jb_printf(b, ",\"mb_per_s\":");
    jb_num(b, rate_of(r->bytes, r->seconds) / 1e6);
    jb_printf(b, ",\"e2e_latency_ms\":");
    if (r->lat) jb_hist(b, r->lat);
    else jb_printf(b, "null");
    jb_printf(b, ",\"errors\":");
    jb_errors(b, &r->errs);
    jb_printf(b, ",\"client_errors\":");
    jb_errors(b, &r->client_errs);
    jb_printf(b, "}");
}

/* ------------------------------------------------------------------------ */
/* Ceiling: the produce workload against a fresh in-process mock. */

typedef struct {
    bool done;
    prod_result_t r;
} ceiling_t;

static rmq_err_t ceiling_run(const bench_opts_t *o, ceiling_t *c) {
    memset(c, 0, sizeof(*c));
    bench_mock_t m;
    rmq_err_t err = bench_mock_start(&m, o->topic, o->partitions);
    if (err) return err;
    bench_opts_t co = *o;
    co.count = 0;
    co.duration = o->ceiling_sec;
    co.rate = 0;
    err = produce_run(&co, m.bootstrap, &c->r);
    bench_mock_stop(&m);
    c->done = (err == RMQ_NONE);
    if (c->done)
        printf("client ceiling (librdkafka vs in-process mock): %.0f msg/s (%.1f MB/s, %d producer%s, %.1f s)\n",
               rate_of(c->r.delivered, c->r.seconds), rate_of(c->r.bytes, c->r.seconds) / 1e6, o->producers,
               o->producers == 1 ? "" : "s", c->r.seconds);
    return err;
}

/* ------------------------------------------------------------------------ */
/* Modes */

typedef struct {
    disk_result_t disk;
    ceiling_t ceiling;
    bool have_prod, have_cons;
    prod_result_t prod;
    cons_result_t cons;
    int nparts;
    prod_settings_t ps;
} run_t;

static void print_header(const bench_opts_t *o, const char *bootstrap, const prod_settings_t *ps) {
    printf("rustmq-bench %s: bootstrap=%s%s topic=%s partitions=%d msg-size=%zu", o->mode_name, bootstrap,
           o->mock ? " (in-process mock)" : "", o->topic, o->partitions, o->msg_size);
    if (o->mode != MODE_CONSUME)
        printf(" acks=%s linger.ms=%s batch.size=%s compression=%s producers=%d rate=%s", ps->acks, ps->linger_ms,
               ps->batch_size, ps->compression, o->producers, o->rate ? "" : "unlimited");
    if (o->mode != MODE_CONSUME && o->rate) printf("%" PRIu64, o->rate);
    if (o->mode != MODE_CONSUME && o->keys) printf(" keys=%" PRIu64, o->keys);
    if (o->mode == MODE_CONSUME || o->mode == MODE_E2E)
        printf(" consumers=%d %s from=%s", o->consumers, o->group ? "group" : "direct-assign",
               o->from_end ? "end" : "beginning");
    if (o->mode == MODE_CEILING) printf(" duration=%.1fs", o->ceiling_sec);
    else if (o->count) printf(" count=%" PRIu64, o->count);
    else printf(" duration=%.1fs", o->duration);
    printf("\n");
}

static void print_ratios(const run_t *run) {
    double disk = run->disk.done ? run->disk.mb_per_s : 0;
    if (run->have_prod && run->prod.seconds > 0) {
        double mbs = rate_of(run->prod.bytes, run->prod.seconds) / 1e6;
        double mps = rate_of(run->prod.delivered, run->prod.seconds);
        double c = run->ceiling.done ? rate_of(run->ceiling.r.delivered, run->ceiling.r.seconds) : 0;
        if (c > 0) printf("ratio: produce = %.1f%% of client ceiling\n", 100.0 * mps / c);
        if (disk > 0) printf("ratio: produce = %.1f%% of disk write+fdatasync bandwidth\n", 100.0 * mbs / disk);
    }
    if (run->have_cons && run->cons.seconds > 0 && disk > 0)
        printf("ratio: consume = %.1f%% of disk write+fdatasync bandwidth\n",
               100.0 * rate_of(run->cons.bytes, run->cons.seconds) / 1e6 / disk);
}

static void print_result_json(const bench_opts_t *o, const char *bootstrap, const run_t *run) {
    rmq_buf_t b;
    rmq_buf_init(&b);
    jb_printf(&b, "{\"mode\":");
    jb_str(&b, o->mode_name);
    jb_printf(&b, ",\"bootstrap\":");
    jb_str(&b, bootstrap);
    jb_printf(&b, ",\"mock\":%s,\"topic\":", o->mock ? "true" : "false");
    jb_str(&b, o->topic);
    jb_printf(&b, ",\"partitions\":%d,\"msg_size\":%zu,\"acks\":", run->nparts ? run->nparts : o->partitions,
              o->msg_size);
    jb_str(&b, run->ps.acks);
    jb_printf(&b, ",\"linger_ms\":");
    jb_str(&b, run->ps.linger_ms);
    jb_printf(&b, ",\"batch_size\":");
    jb_str(&b, run->ps.batch_size);
    jb_printf(&b, ",\"compression\":");
    jb_str(&b, run->ps.compression);
    jb_printf(&b, ",\"producers\":%d,\"consumers\":%d,\"rate\":%" PRIu64 ",\"keys\":%" PRIu64 ",\"group\":",
              o->mode == MODE_CONSUME ? 0 : o->producers,
              (o->mode == MODE_CONSUME || o->mode == MODE_E2E) ? o->consumers : 0, o->rate,
              o->mode == MODE_CONSUME ? 0 : o->keys);
    if (o->group) jb_str(&b, o->group);
    else jb_printf(&b, "null");
    jb_printf(&b, ",\"disk\":");
    if (run->disk.done) {
        jb_printf(&b, "{\"dir\":");
        jb_str(&b, o->disk_dir);
        jb_printf(&b, ",\"mib\":%d,\"mb_per_s\":", run->disk.mib);
        jb_num(&b, run->disk.mb_per_s);
        jb_printf(&b, ",\"fdatasync_ms\":");
        jb_hist(&b, run->disk.fsync);
        jb_printf(&b, "}");
    } else {
        jb_printf(&b, "null");
    }
    jb_printf(&b, ",\"ceiling\":");
    if (run->ceiling.done) {
        jb_printf(&b, "{\"msgs_per_s\":");
        jb_num(&b, rate_of(run->ceiling.r.delivered, run->ceiling.r.seconds));
        jb_printf(&b, ",\"mb_per_s\":");
        jb_num(&b, rate_of(run->ceiling.r.bytes, run->ceiling.r.seconds) / 1e6);
        jb_printf(&b, ",\"seconds\":");
        jb_num(&b, run->ceiling.r.seconds);
        jb_printf(&b, "}");
    } else {
        jb_printf(&b, "null");
    }
    jb_printf(&b, ",\"produce\":");
    if (run->have_prod) jb_prod(&b, &run->prod);
    else jb_printf(&b, "null");
    jb_printf(&b, ",\"consume\":");
    if (run->have_cons) jb_cons(&b, &run->cons);
    else jb_printf(&b, "null");
    jb_printf(&b, "}");
    if (!b.oom) printf("RESULT %.*s\n", (int)b.len, (const char *)b.data);
    rmq_buf_free(&b);
}

/* consume (and e2e) main loop: waits for the stop condition. */
static void cons_wait(cons_group_t *g, const bench_opts_t *o, uint64_t target, uint64_t deadline_ns, bool e2e,
                      atomic_bool *producers_done) {
    uint64_t start = rmq_mono_ns();
    uint64_t first_wait_ns = 15000000000ull;
    for (;;) {
        if (atomic_load(&g_interrupted)) return;
        uint64_t now = rmq_mono_ns();
        uint64_t consumed = atomic_load(&g->sh.consumed);
        if (target && consumed >= target) return;
        if (now >= deadline_ns) return;
        if (atomic_load(&g->sh.done) >= g->n) return;
        uint64_t last = atomic_load(&g->sh.last_ns);
        if (!e2e || (producers_done && atomic_load(producers_done))) {
            uint64_t ref = last ? last : start;
            uint64_t idle = last ? (uint64_t)o->idle_ms * 1000000ull : first_wait_ns;
            if (last && e2e && ref < start) ref = start;
            if (now > ref && now - ref > idle) return;
        }
        sleep_ns(20000000);
    }
}

typedef struct {
    const bench_opts_t *o;
    const char *bootstrap;
    prod_result_t *r;
    rmq_err_t err;
    atomic_bool *done;
} e2e_prod_arg_t;

static void *e2e_prod_main(void *arg) {
    e2e_prod_arg_t *a = arg;
    a->err = produce_run(a->o, a->bootstrap, a->r);
    atomic_store(a->done, true);
    return NULL;
}

static int run_bench(bench_opts_t *o) {
    run_t run;
    memset(&run, 0, sizeof(run));
    bench_mock_t mock;
    memset(&mock, 0, sizeof(mock));
    const char *bootstrap = o->bootstrap;
    int rc = 0;
    prod_settings_get(o, &run.ps);
    if (!run.ps.acks[0]) return 2; /* bad -X, already reported */

    if (o->mode == MODE_CEILING) {
        print_header(o, "in-process mock", &run.ps);
        disk_probe(o->disk_dir, o->disk_mb, &run.disk);
        disk_print(o->disk_dir, &run.disk);
        if (ceiling_run(o, &run.ceiling) != RMQ_NONE) rc = 1;
        if (run.ceiling.done) {
            prod_print("mock-ceiling produce", &run.ceiling.r);
            run.have_prod = true;
            run.prod = run.ceiling.r;
            run.ceiling.done = false; /* no ratio of the ceiling to itself */
            print_ratios(&run);
            run.ceiling.done = true;
        }
        run.nparts = o->partitions;
        print_result_json(o, "in-process mock", &run);
        run.have_prod = false;
        goto done;
    }

    if (o->mock) {
        if (bench_mock_start(&mock, o->topic, o->partitions) != RMQ_NONE) return 1;
        bootstrap = mock.bootstrap;
    }
    print_header(o, bootstrap, &run.ps);
    disk_probe(o->disk_dir, o->disk_mb, &run.disk);
    disk_print(o->disk_dir, &run.disk);
    if ((o->mode == MODE_PRODUCE || o->mode == MODE_E2E) && !o->no_ceiling) ceiling_run(o, &run.ceiling);
    if (atomic_load(&g_interrupted)) goto done;
    if (ensure_topic(o, bootstrap, &run.nparts) != RMQ_NONE) {
        rc = 1;
        goto done;
    }

    if (o->mode == MODE_PRODUCE) {
        if (produce_run(o, bootstrap, &run.prod) != RMQ_NONE) rc = 1;
        run.have_prod = run.prod.lat != NULL;
        if (run.have_prod) prod_print("produce", &run.prod);
    } else if (o->mode == MODE_CONSUME) {
        if (o->mock && o->preload && !o->from_end) {
            bench_opts_t po = *o;
            po.count = o->preload;
            po.rate = 0;
            prod_result_t pr;
            if (produce_run(&po, bootstrap, &pr) == RMQ_NONE)
                printf("preloaded %" PRIu64 " messages into the mock in %.2f s (the mock keeps only the newest "
                       "few MB of each partition)\n", pr.delivered, pr.seconds);
            else
                rc = 1;
            prod_result_free(&pr);
        }
        cons_group_t g;
        uint64_t target = o->count;
        bool stop_at_eof = !o->from_end && !o->count;
        if (cons_start(&g, o, bootstrap, run.nparts, stop_at_eof) == RMQ_NONE) {
            uint64_t deadline = o->count ? UINT64_MAX : rmq_mono_ns() + (uint64_t)(o->duration * 1e9);
            cons_wait(&g, o, target, deadline, false, NULL);
        } else {
            rc = 1;
        }
        cons_stop(&g, &run.cons);
        run.have_cons = run.cons.lat != NULL;
        if (run.have_cons) cons_print(&run.cons, !o->from_end);
    } else if (o->mode == MODE_E2E) {
        cons_group_t g;
        if (cons_start(&g, o, bootstrap, run.nparts, false) != RMQ_NONE) {
            cons_stop(&g, &run.cons);
            cons_result_free(&run.cons);
            rc = 1;
            goto done;
        }
        atomic_bool pdone = false;
        pthread_t pth;
        e2e_prod_arg_t pa = {o, bootstrap, &run.prod, RMQ_NONE, &pdone};
        if (pthread_create(&pth, NULL, e2e_prod_main, &pa) != 0) abort();
        /* run until producers are done, then drain: the consumers should see
         * every delivered message; idle-ms bounds the wait */
        while (!atomic_load(&pdone) && !atomic_load(&g_interrupted)) sleep_ns(20000000);
        pthread_join(pth, NULL);
        if (pa.err != RMQ_NONE) rc = 1;
        cons_wait(&g, o, run.prod.delivered, UINT64_MAX, true, &pdone);
        cons_stop(&g, &run.cons);
        run.have_prod = run.prod.lat != NULL;
        run.have_cons = run.cons.lat != NULL;
        if (run.have_prod) prod_print("produce", &run.prod);
        if (run.have_cons) {
            cons_print(&run.cons, false);
            if (run.cons.msgs < run.prod.delivered)
                printf("note: consumers saw %" PRIu64 " of %" PRIu64 " delivered messages\n", run.cons.msgs,
                       run.prod.delivered);
        }
    }
    print_ratios(&run);
    print_result_json(o, bootstrap, &run);
done:
    if (run.have_prod) prod_result_free(&run.prod);
    if (run.ceiling.done || run.ceiling.r.lat) prod_result_free(&run.ceiling.r);
    if (run.have_cons) cons_result_free(&run.cons);
    free(run.disk.fsync);
    if (o->mock) bench_mock_stop(&mock);
    if (atomic_load(&g_interrupted)) rc = 130;
    return rc;
}

/* ------------------------------------------------------------------------ */
/* selftest: behaviour checks that need no broker. */

static int st_fail;
#define ST_CHECK(cond, ...)                                   \
    do {                                                      \
        if (!(cond)) {                                        \
            st_fail++;                                        \
            printf("FAIL %s:%d: ", __FILE__, __LINE__);       \
            printf(__VA_ARGS__);                              \
            printf("\n");                                     \
        }                                                     \
    } while (0)

static int selftest(void) {
    int checks_before = st_fail;
    /* 1. bucket ranges cover every value exactly once and contain it */
    uint64_t probe[] = {0, 1, 127, 128, 129, 255, 256, 1000, 4095, 4096, 123456789, 1ull << 40, UINT64_MAX};
    for (size_t i = 0; i < sizeof(probe) / sizeof(probe[0]); i++) {
        unsigned idx = hist_index(probe[i]);
        uint64_t lo, hi;
        hist_bucket_range(idx, &lo, &hi);
        ST_CHECK(idx < HIST_NBUCKETS, "index %u out of range for %" PRIu64, idx, probe[i]);
        ST_CHECK(lo <= probe[i] && probe[i] <= hi, "value %" PRIu64 " not in [%" PRIu64 ",%" PRIu64 "]", probe[i], lo,
                 hi);
        ST_CHECK(probe[i] < 128 ? lo == hi : (double)(hi - lo) <= (double)lo / 128.0 + 1,
                 "bucket too wide for %" PRIu64, probe[i]);
    }
    for (unsigned i = 1; i < HIST_NBUCKETS; i++) {
        uint64_t lo0, hi0, lo1, hi1;
        hist_bucket_range(i - 1, &lo0, &hi0);
        hist_bucket_range(i, &lo1, &hi1);
        if (hi0 == UINT64_MAX) break;
        ST_CHECK(lo1 == hi0 + 1, "gap between buckets %u and %u", i - 1, i);
        if (lo1 != hi0 + 1) break;
    }
    /* 2. quantiles within 1 % of the exact ones on a skewed distribution */
    enum { N = 200000 };
    uint64_t *v = malloc(N * sizeof(uint64_t));
    hist_t *h = malloc(sizeof(hist_t)), *h2 = malloc(sizeof(hist_t));
    if (!v || !h || !h2) return 2;
    hist_init(h);
    hist_init(h2);
    uint64_t s = 42;
    for (int i = 0; i < N; i++) {
        /* log-uniform between 10 us and 100 ms */
        double u = (double)(xorshift64(&s) >> 11) / 9007199254740992.0;
        v[i] = (uint64_t)(1e4 * pow(1e4, u));
        hist_record(i % 2 ? h : h2, v[i]);
    }
    hist_merge(h, h2);
    qsort(v, N, sizeof(uint64_t), bench_cmp_u64);
    double qs[] = {0.5, 0.9, 0.99, 0.999, 1.0};
    for (size_t i = 0; i < sizeof(qs) / sizeof(qs[0]); i++) {
        uint64_t rank = (uint64_t)ceil(qs[i] * N);
        uint64_t exact = v[rank - 1];
        uint64_t got = hist_quantile(h, qs[i]);
        double rel = fabs((double)got - (double)exact) / (double)exact;
        ST_CHECK(rel < 0.01, "q%.3f: hist %" PRIu64 " exact %" PRIu64 " (%.2f%%)", qs[i], got, exact, rel * 100);
    }
    ST_CHECK(h->n == N && h->min == v[0] && h->max == v[N - 1], "count/min/max wrong after merge");
    hist_t *e = malloc(sizeof(hist_t));
    if (!e) return 2;
    hist_init(e);
    ST_CHECK(hist_quantile(e, 0.99) == 0, "empty histogram quantile");
    hist_record(e, 5);
    ST_CHECK(hist_quantile(e, 0.5) == 5 && hist_quantile(e, 1.0) == 5, "single small value not exact");
    free(e);

    /* 2b. the latency timeline: by second of enqueue, the last second takes
     * the overrun, nothing before the start; "after the first second"
     * leaves out exactly second 0 */
    hist_t *tl = malloc(3 * sizeof(hist_t)), *af = malloc(sizeof(hist_t));
    for (unsigned k = 0; k < 3; k++) hist_init(&tl[k]);
    const uint64_t t_start = 10000000000ull;
    timeline_record(tl, 3, t_start, t_start - 1, 999);                   /* before the start: dropped */
    timeline_record(tl, 3, t_start, t_start, 100);                       /* second 0 */
    timeline_record(tl, 3, t_start, t_start + 999999999ull, 101);        /* still second 0 */
    timeline_record(tl, 3, t_start, t_start + 1000000000ull, 200);       /* second 1 */
    timeline_record(tl, 3, t_start, t_start + 2500000000ull, 300);       /* second 2 */
    timeline_record(tl, 3, t_start, t_start + 7000000000ull, 400);       /* past the end: second 2 */
    ST_CHECK(tl[0].n == 2 && tl[0].min == 100 && tl[0].max == 101, "timeline second 0: n=%" PRIu64, tl[0].n);
    ST_CHECK(tl[1].n == 1 && tl[1].min == 200, "timeline second 1: n=%" PRIu64, tl[1].n);
    ST_CHECK(tl[2].n == 2 && tl[2].min == 300 && tl[2].max == 400, "timeline last second: n=%" PRIu64, tl[2].n);
    timeline_after_first(af, tl, 3);
    ST_CHECK(af->n == 3 && af->min == 200 && af->max == 400, "after the first second: n=%" PRIu64, af->n);
    free(tl);
    free(af);
    free(v);
    free(h);
    free(h2);

    /* 3. payload stamp round trip and rejection of foreign payloads */
    uint8_t p[64];
    memset(p, 0xab, sizeof(p));
    payload_stamp(p, sizeof(p), 123456789ull);
    uint64_t ts = 0;
    ST_CHECK(payload_read_stamp(p, sizeof(p), 200000000ull, &ts) && ts == 123456789ull, "stamp round trip");
    ST_CHECK(!payload_read_stamp(p, sizeof(p), 100ull, &ts), "stamp from the future accepted");
    p[9] ^= 1;
    ST_CHECK(!payload_read_stamp(p, sizeof(p), 200000000ull, &ts), "bad magic accepted");
    ST_CHECK(!payload_read_stamp(p, 7, 200000000ull, &ts), "short payload accepted");
    payload_stamp(p, 8, 77);
    ST_CHECK(payload_read_stamp(p, 8, 100, &ts) && ts == 77, "8-byte payload stamp");

    /* 4. option parsing */
    {
        char a0[] = "rustmq-bench", a1[] = "produce", a2[] = "--count", a3[] = "1000", a4[] = "--acks", a5[] = "all",
             a6[] = "-X", a7[] = "queue.buffering.max.ms=3", a8[] = "--partitions", a9[] = "3",
             a10[] = "--compression", a11[] = "zstd";
        char *av[] = {a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, NULL};
        bench_opts_t o;
        int r = bench_parse_args(12, av, &o);
        ST_CHECK(r == 0 && o.mode == MODE_PRODUCE && o.count == 1000 && !strcmp(o.acks, "all") && o.nx == 1 &&
                     !strcmp(o.xkey[0], "queue.buffering.max.ms") && !strcmp(o.xval[0], "3") && o.partitions == 3 &&
                     !strcmp(o.compression, "zstd") && o.msg_size == 1024,
                 "parse produce args");
    }
    {
        char a0[] = "rustmq-bench", a1[] = "e2e", a2[] = "--from", a3[] = "end", a4[] = "--rate", a5[] = "5000";
        char *av[] = {a0, a1, a2, a3, a4, a5, NULL};
        bench_opts_t o;
        ST_CHECK(bench_parse_args(6, av, &o) == 0 && o.mode == MODE_E2E && o.from_end && o.rate == 5000 &&
                     o.keys == 0,
                 "parse e2e args");
    }
    {
        char a0[] = "rustmq-bench", a1[] = "produce", a2[] = "--keys", a3[] = "48";
        char *av[] = {a0, a1, a2, a3, NULL};
        bench_opts_t o;
        ST_CHECK(bench_parse_args(4, av, &o) == 0 && o.keys == 48, "parse --keys");
        char a4[] = "1000001";
        av[3] = a4;
        fprintf(stderr, "(selftest: the next error line is expected)\n");
        ST_CHECK(bench_parse_args(4, av, &o) == -1, "--keys 1000001 accepted");
        char k[21];
        size_t n = key_format(k, 0);
        ST_CHECK(n == 2 && !memcmp(k, "k0", 2), "key 0");
        n = key_format(k, 999999);
        ST_CHECK(n == 7 && !memcmp(k, "k999999", 7), "key 999999");
        n = key_format(k, UINT64_MAX);
        ST_CHECK(n == 21 && !memcmp(k, "k18446744073709551615", 21), "key UINT64_MAX");
    }
    {
        /* --client-stats: the broker with the most messages in the window,
         * not the bootstrap entry (nodeid -1); librdkafka's µs become ms */
        char a0[] = "rustmq-bench", a1[] = "produce", a2[] = "--client-stats";
        char *av[] = {a0, a1, a2, NULL};
        bench_opts_t o;
        ST_CHECK(bench_parse_args(3, av, &o) == 0 && o.client_stats, "parse --client-stats");
        char js[] = "{\"brokers\":{"
                    "\"b:9/bootstrap\":{\"nodeid\":-1,\"int_latency\":{\"cnt\":9999,\"p50\":1,\"p99\":1}},"
                    "\"b:9/1\":{\"nodeid\":1,\"int_latency\":{\"cnt\":10,\"p50\":5,\"p99\":6}},"
                    "\"b:9/2\":{\"nodeid\":2,\"int_latency\":{\"cnt\":500,\"p50\":900,\"p99\":2100},"
                    "\"outbuf_latency\":{\"p50\":100,\"p99\":400},\"rtt\":{\"p50\":150,\"p99\":2000}}}}";
        prod_thread_t pt;
        memset(&pt, 0, sizeof pt);
        ST_CHECK(prod_stats_cb(NULL, js, strlen(js), &pt) == 0 && pt.ncst == 1, "stats window kept");
        ST_CHECK(pt.ncst == 1 && pt.cst[0].msgs == 500 && pt.cst[0].int50 == 0.9 && pt.cst[0].int99 == 2.1 &&
                     pt.cst[0].out99 == 0.4 && pt.cst[0].rtt50 == 0.15 && pt.cst[0].rtt99 == 2.0,
                 "stats of the busiest broker in ms");
        pt.idx = 1; /* only producer 0 keeps windows */
        ST_CHECK(prod_stats_cb(NULL, js, strlen(js), &pt) == 0 && pt.ncst == 1, "producer 1 keeps none");
        free(pt.cst);
    }
    {
        /* linger.ms takes fractions: 0.5 reaches librdkafka as 0.5 */
        char a0[] = "rustmq-bench", a1[] = "produce", a2[] = "--linger-ms", a3[] = "0.5";
        char *av[] = {a0, a1, a2, a3, NULL};
        bench_opts_t o;
        ST_CHECK(bench_parse_args(4, av, &o) == 0 && o.linger_ms == 0.5, "parse --linger-ms 0.5");
        rd_kafka_conf_t *conf = bench_conf_new(&o, "127.0.0.1:9", true);
        char v[32] = "";
        size_t vn = sizeof v;
        ST_CHECK(conf && rd_kafka_conf_get(conf, "linger.ms", v, &vn) == RD_KAFKA_CONF_OK && !strcmp(v, "0.5"),
                 "linger.ms in the client conf: '%s'", v);
        if (conf) rd_kafka_conf_destroy(conf);
        char a4[] = "-1";
        av[3] = a4;
        fprintf(stderr, "(selftest: the next error line is expected)\n");
        ST_CHECK(bench_parse_args(4, av, &o) == -1, "--linger-ms -1 accepted");
        char a5[] = "0.5ms";
        av[3] = a5;
        fprintf(stderr, "(selftest: the next error line is expected)\n");
        ST_CHECK(bench_parse_args(4, av, &o) == -1, "--linger-ms 0.5ms accepted");
    }
    {
        char a0[] = "rustmq-bench", a1[] = "produce", a2[] = "--acks", a3[] = "2";
        char *av[] = {a0, a1, a2, a3, NULL};
        bench_opts_t o;
        fprintf(stderr, "(selftest: the next error line is expected)\n");
        ST_CHECK(bench_parse_args(4, av, &o) == -1, "--acks 2 accepted");
    }
    {
        char a0[] = "rustmq-bench", a1[] = "consume", a2[] = "--msg-size", a3[] = "4";
        char *av[] = {a0, a1, a2, a3, NULL};
        bench_opts_t o;
        fprintf(stderr, "(selftest: the next error line is expected)\n");
        ST_CHECK(bench_parse_args(4, av, &o) == -1, "--msg-size 4 accepted");
    }

    /* 5. JSON string escaping */
    {
        rmq_buf_t b;
        rmq_buf_init(&b);
        jb_str(&b, "a\"b\\c\n");
        const char want[] = "\"a\\\"b\\\\c\\u000a\"";
        ST_CHECK(b.len == strlen(want) && !memcmp(b.data, want, b.len), "json escape: %.*s", (int)b.len,
                 (const char *)b.data);
        rmq_buf_free(&b);
    }
    int failed = st_fail - checks_before;
    printf("selftest: %s\n", failed ? "FAILED" : "ok");
    return failed ? 1 : 0;
}

/* ------------------------------------------------------------------------ */

int main(int argc, char **argv) {
    bench_opts_t o;
    int r = bench_parse_args(argc, argv, &o);
    if (r == 1) return 0;
    if (r < 0) return 2;
    if (o.mode == MODE_SELFTEST) return selftest();
    setvbuf(stdout, NULL, _IOLBF, 0);
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_sigint;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    return run_bench(&o);
}
