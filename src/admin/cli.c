/* cli.c - rustmq-admin: argument parsing, the two transports (REST over
 * libcurl, or the in-process API core on the Kafka backend), the commands,
 * aligned tables / --json output, error messages with a hint of what to do,
 * and `serve-api` (the REST API standalone in front of a Kafka cluster). */
#include "admin/cli.h"

#include <curl/curl.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "admin/admin.h"
#include "admin/api.h"
#include "admin/kafka_backend.h"
#include "common/log.h"

#define DEFAULT_BOOTSTRAP "127.0.0.1:9092"

static const char USAGE[] =
    "usage: rustmq-admin [OPTIONS] COMMAND [ARGS]\n"
    "\n"
    "Manage a RustMQ (or any Kafka-compatible) cluster.\n"
    "\n"
    "Commands:\n"
    "  create-topic NAME PARTITIONS REPLICATION_FACTOR [--config KEY=VALUE ...]\n"
    "  list-topics\n"
    "  describe-topic NAME\n"
    "  delete-topic NAME\n"
    "  cluster-health\n"
    "  list-groups\n"
    "  describe-group GROUP_ID\n"
    "  serve-api [PORT]       run the admin REST API (default port 9642) in front of\n"
    "                         the cluster given by --bootstrap, until SIGINT/SIGTERM\n"
    "\n"
    "Options:\n"
    "  --bootstrap HOST:PORT  talk Kafka to this broker (default " DEFAULT_BOOTSTRAP ",\n"
    "                         or $RUSTMQ_BOOTSTRAP)\n"
    "  --api-url URL          use the admin REST API instead, e.g. http://127.0.0.1:9642\n"
    "                         (or $RUSTMQ_ADMIN_URL)\n"
    "  --json                 print the JSON document instead of a table\n"
    "  --timeout MS           per-request timeout (default 30000)\n"
    "  --listen HOST:PORT     serve-api listen address (default 127.0.0.1:9642)\n"
    "  --config KEY=VALUE     topic config for create-topic (repeatable)\n"
    "  -h, --help             this text;  --version  the version\n"
    "\n"
    "Exit codes:\n"
    "  0  success\n"
    "  1  the cluster refused or failed the request (message on stderr)\n"
    "  2  usage error\n"
    "  3  cannot connect, timed out, or the cluster is unavailable\n"
    "  4  the named topic, group or broker does not exist\n";

typedef struct cli {
    const char *bootstrap;
    const char *api_url;
    bool json;
    long timeout_ms;
    const char *listen;
    const char *configs[128];
    int nconfigs;
    const char *pos[8];
    int npos;
    /* in-process transport */
    rmq_admin_kafka_t *kafka;
    rmq_admin_api_t *api;
} cli_t;

/* ---- transport -------------------------------------------------------------------------- */

typedef struct qkv {
    char key[64];
    char val[256];
} qkv_t;

typedef struct qlist {
    qkv_t kv[8];
    int n;
} qlist_t;

static const char *q_lookup(void *ud, const char *key) {
    qlist_t *q = ud;
    for (int i = 0; i < q->n; i++)
        if (strcmp(q->kv[i].key, key) == 0) return q->kv[i].val;
    return NULL;
}

typedef struct membuf {
    char *p;
    size_t n;
} membuf_t;

static size_t mb_write(char *p, size_t sz, size_t n, void *ud) {
    membuf_t *m = ud;
    char *q = realloc(m->p, m->n + sz * n + 1);
    if (!q) return 0;
    m->p = q;
    memcpy(m->p + m->n, p, sz * n);
    m->n += sz * n;
    m->p[m->n] = 0;
    return sz * n;
}

/* Perform one API call. Returns 0 with *status and *out (owned, may be NULL
 * when the body is not JSON), or -1 when the cluster / server cannot be
 * reached (err says why). */
static int call(cli_t *c, const char *method, const char *path, json_t *body, long *status, json_t **out, char *err,
                size_t cap) {
    *out = NULL;
    *status = 0;
    char *bodytxt = body ? json_dumps(body, JSON_COMPACT) : NULL;
    if (c->api_url) {
        char url[1024];
        size_t ul = strlen(c->api_url);
        while (ul && c->api_url[ul - 1] == '/') ul--;
        snprintf(url, sizeof url, "%.*s%s", (int)ul, c->api_url, path);
        CURL *h = curl_easy_init();
        membuf_t mb = {0};
        struct curl_slist *hd = curl_slist_append(NULL, "Content-Type: application/json");
        curl_easy_setopt(h, CURLOPT_URL, url);
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, mb_write);
        curl_easy_setopt(h, CURLOPT_WRITEDATA, &mb);
        curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, c->timeout_ms);
        curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, c->timeout_ms < 10000 ? c->timeout_ms : 10000L);
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, hd);
        curl_easy_setopt(h, CURLOPT_USERAGENT, "rustmq-admin/" RMQ_VERSION);
        if (bodytxt) curl_easy_setopt(h, CURLOPT_POSTFIELDS, bodytxt);
        CURLcode rc = curl_easy_perform(h);
        if (rc == CURLE_OK) curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
        curl_easy_cleanup(h);
        curl_slist_free_all(hd);
        free(bodytxt);
        if (rc != CURLE_OK) {
            snprintf(err, cap, "cannot reach the admin API at %s: %s", c->api_url, curl_easy_strerror(rc));
            free(mb.p);
            return -1;
        }
        if (mb.p) *out = json_loadb(mb.p, mb.n, 0, NULL);
        free(mb.p);
        return 0;
    }
    /* in-process: split the query string */
    char p[1024];
    snprintf(p, sizeof p, "%s", path);
    qlist_t q = {0};
    char *qs = strchr(p, '?');
    if (qs) {
        *qs++ = 0;
        char *save = NULL;
        for (char *t = strtok_r(qs, "&", &save); t && q.n < 8; t = strtok_r(NULL, "&", &save)) {
            char *eq = strchr(t, '=');
            if (!eq) continue;
            *eq = 0;
            snprintf(q.kv[q.n].key, sizeof q.kv[q.n].key, "%s", t);
            snprintf(q.kv[q.n].val, sizeof q.kv[q.n].val, "%s", eq + 1);
            q.n++;
        }
    }
    rmq_admin_reply_t r;
    rmq_admin_api_handle(c->api, method, p, q_lookup, &q, bodytxt, bodytxt ? strlen(bodytxt) : 0, &r);
    free(bodytxt);
    *status = r.status;
    if (r.json) {
        *out = r.json;
        r.json = NULL;
    } else if (r.text) {
        *out = json_loadb(r.text, r.text_len, 0, NULL);
    }
    rmq_admin_reply_free(&r);
    /* the Kafka side could not be reached */
    if (*status == 503 && *out) {
        const char *code = json_string_value(json_object_get(*out, "error"));
        if (code && (strcmp(code, "ERR_IO") == 0 || strcmp(code, "ERR_TIMEOUT") == 0 || strcmp(code, "ERR_CLOSED") == 0)) {
            snprintf(err, cap, "cannot reach the cluster at %s: %s", c->bootstrap,
                     json_string_value(json_object_get(*out, "message")));
            json_decref(*out);
            *out = NULL;
            return -1;
        }
    }
    return 0;
}

/* ---- output --------------------------------------------------------------------------------- */

typedef struct table {
    int ncols;
    int nrows;
    char *cells[4096][8]; /* owned */
} table_t;

static table_t *table_new(int ncols, const char *const *heads) {
    table_t *t = calloc(1, sizeof *t);
    t->ncols = ncols;
    for (int i = 0; i < ncols; i++) t->cells[0][i] = strdup(heads[i]);
    t->nrows = 1;
    return t;
}

static void table_add(table_t *t, const char *const *vals) {
    if (t->nrows >= 4096) return;
    for (int i = 0; i < t->ncols; i++) t->cells[t->nrows][i] = strdup(vals[i] ? vals[i] : "");
    t->nrows++;
}

static void table_print(table_t *t) {
    size_t w[8] = {0};
    for (int r = 0; r < t->nrows; r++)
        for (int i = 0; i < t->ncols; i++)
            if (strlen(t->cells[r][i]) > w[i]) w[i] = strlen(t->cells[r][i]);
    for (int r = 0; r < t->nrows; r++) {
        for (int i = 0; i < t->ncols; i++) {
            if (i == t->ncols - 1) printf("%s", t->cells[r][i]);
            else printf("%-*s  ", (int)w[i], t->cells[r][i]);
        }
        printf("\n");
    }
    for (int r = 0; r < t->nrows; r++)
        for (int i = 0; i < t->ncols; i++) free(t->cells[r][i]);
    free(t);
}

static void print_json(json_t *j) {
    char *s = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    if (s) {
        printf("%s\n", s);
        free(s);
    }
}

static const char *js(json_t *o, const char *k) {
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "";
}

static char *jnum(json_t *o, const char *k, char *buf, size_t cap) {
    json_t *v = json_object_get(o, k);
    if (json_is_integer(v)) snprintf(buf, cap, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    else if (json_is_string(v)) snprintf(buf, cap, "%s", json_string_value(v));
    else snprintf(buf, cap, "-");
    return buf;
}

static char *jarr_ints(json_t *a, char *buf, size_t cap) {
    size_t n = 0;
    buf[0] = 0;
    size_t i;
    json_t *v;
    json_array_foreach(a, i, v) {
        n += (size_t)snprintf(buf + n, n < cap ? cap - n : 0, "%s%" JSON_INTEGER_FORMAT, i ? "," : "", json_integer_value(v));
        if (n >= cap) break;
    }
    return buf;
}

/* Report an error reply; returns the exit code. */
static int report(cli_t *c, long status, json_t *j, const char *what) {
    (void)c;
    const char *code = j ? js(j, "error") : "";
    const char *msg = j ? js(j, "message") : "";
    fprintf(stderr, "error: %s: %s%s%s%s\n", what, msg[0] ? msg : "request failed", code[0] ? " [" : "", code,
            code[0] ? "]" : "");
    if (j && json_object_get(j, "leader_hint"))
        fprintf(stderr, "hint: retry against the leader at %s\n", js(j, "leader_hint"));
    if (status == 404)
        fprintf(stderr, "hint: 'rustmq-admin list-topics' / 'rustmq-admin list-groups' show what exists\n");
    else if (status == 409 && strcmp(code, "NON_EMPTY_GROUP") == 0)
        fprintf(stderr, "hint: stop the group's consumers first, then delete it\n");
    else if (status == 409)
        fprintf(stderr, "hint: pick another name, or 'rustmq-admin describe-topic NAME' to inspect it\n");
    else if (status == 400)
        fprintf(stderr, "hint: check the arguments ('rustmq-admin --help')\n");
    else if (status == 429)
        fprintf(stderr, "hint: the admin API is rate limited; wait a moment and retry\n");
    else if (status == 501)
        fprintf(stderr, "hint: the cluster does not offer this operation\n");
    if (status == 404) return RMQ_CLI_EXIT_NOTFOUND;
    if (status == 503) return RMQ_CLI_EXIT_CONNECT;
    return RMQ_CLI_EXIT_ERROR;
}

static int connect_fail(cli_t *c, const char *err) {
    fprintf(stderr, "error: %s\n", err);
    if (c->api_url)
        fprintf(stderr, "hint: check that the broker (or 'rustmq-admin serve-api') runs and --api-url points at its "
                        "admin port\n");
    else
        fprintf(stderr, "hint: check that a broker runs there, or pass --bootstrap HOST:PORT (Kafka port) or "
                        "--api-url http://HOST:9642\n");
    return RMQ_CLI_EXIT_CONNECT;
}

/* Run one call; on success *out holds the document (caller decrefs). */
static int run(cli_t *c, const char *method, const char *path, json_t *body, long want, json_t **out, const char *what) {
    long status;
    char err[768] = "";
    json_t *j = NULL;
    if (call(c, method, path, body, &status, &j, err, sizeof err)) return connect_fail(c, err);
    if (status != want && !(want == 200 && status == 201)) {
        int rc = report(c, status, j, what);
        if (j) json_decref(j);
        return rc;
    }
    if (!j) {
        fprintf(stderr, "error: %s: the server answered %ld without a JSON document\n", what, status);
        return RMQ_CLI_EXIT_ERROR;
    }
    *out = j;
    return 0;
}

/* ---- commands --------------------------------------------------------------------------------- */

static bool parse_int(const char *s, long lo, long hi, long *out) {
    char *end;
    long v = strtol(s, &end, 10);
    if (!*s || *end || v < lo || v > hi) return false;
    *out = v;
    return true;
}

static int usage_err(const char *fmt, const char *arg) {
    fprintf(stderr, "error: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n(run 'rustmq-admin --help' for usage)\n");
    return RMQ_CLI_EXIT_USAGE;
}

static int cmd_create_topic(cli_t *c) {
    if (c->npos != 4) return usage_err("%s", "create-topic needs NAME PARTITIONS REPLICATION_FACTOR");
    long parts, rf;
    if (!parse_int(c->pos[2], 1, 1000000, &parts)) return usage_err("PARTITIONS must be a positive integer (got '%s')", c->pos[2]);
    if (!parse_int(c->pos[3], 1, 32767, &rf))
        return usage_err("REPLICATION_FACTOR must be a positive integer (got '%s')", c->pos[3]);
    json_t *cfg = json_object();
    for (int i = 0; i < c->nconfigs; i++) {
        const char *eq = strchr(c->configs[i], '=');
        if (!eq || eq == c->configs[i]) {
            json_decref(cfg);
            return usage_err("--config takes KEY=VALUE (got '%s')", c->configs[i]);
        }
        char key[256];
        snprintf(key, sizeof key, "%.*s", (int)(eq - c->configs[i]), c->configs[i]);
        json_object_set_new(cfg, key, json_string(eq + 1));
    }
    json_t *body = json_pack("{s:s, s:I, s:I, s:o}", "name", c->pos[1], "partitions", (json_int_t)parts,
                             "replication_factor", (json_int_t)rf, "configs", cfg);
    json_t *j = NULL;
    int rc = run(c, "POST", "/api/v1/topics", body, 201, &j, "create-topic");
    json_decref(body);
    if (rc) return rc;
    if (c->json) print_json(j);
    else printf("Created topic %s with %ld partitions and replication factor %ld.\n", c->pos[1], parts, rf);
    json_decref(j);
    return 0;
}

static int cmd_list_topics(cli_t *c) {
    json_t *all = json_array();
    long page = 1, total = 0;
    for (;;) {
        char path[128];
        snprintf(path, sizeof path, "/api/v1/topics?page=%ld&limit=1000", page);
        json_t *j = NULL;
        int rc = run(c, "GET", path, NULL, 200, &j, "list-topics");
        if (rc) {
            json_decref(all);
            return rc;
        }
        json_t *ts = json_object_get(j, "topics");
        json_array_extend(all, ts);
        total = (long)json_integer_value(json_object_get(j, "total"));
        size_t got = json_array_size(ts);
        json_decref(j);
        if (got == 0 || (long)json_array_size(all) >= total) break;
        page++;
    }
    if (c->json) {
        json_t *doc = json_pack("{s:o, s:I}", "topics", all, "total", (json_int_t)total);
        print_json(doc);
        json_decref(doc);
        return 0;
    }
    const char *heads[] = {"TOPIC", "PARTITIONS", "REPLICATION_FACTOR"};
    table_t *t = table_new(3, heads);
    size_t i;
    json_t *v;
    json_array_foreach(all, i, v) {
        char a[32], b[32];
        const char *row[] = {js(v, "name"), jnum(v, "partitions", a, sizeof a), jnum(v, "replication_factor", b, sizeof b)};
        table_add(t, row);
    }
    table_print(t);
    json_decref(all);
    return 0;
}

static void path_for(char *buf, size_t cap, const char *prefix, const char *name) {
    /* names are [a-zA-Z0-9._-] for topics; percent-encode anything else */
    size_t n = (size_t)snprintf(buf, cap, "%s", prefix);
    for (const unsigned char *p = (const unsigned char *)name; *p && n + 4 < cap; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '.' ||
            *p == '_' || *p == '-')
            buf[n++] = (char)*p;
        else n += (size_t)snprintf(buf + n, cap - n, "%%%02X", *p);
    }
    buf[n] = 0;
}

static int cmd_describe_topic(cli_t *c) {
    if (c->npos != 2) return usage_err("%s", "describe-topic needs NAME");
    char path[600];
    path_for(path, sizeof path, "/api/v1/topics/", c->pos[1]);
    json_t *j = NULL;
    int rc = run(c, "GET", path, NULL, 200, &j, "describe-topic");
    if (rc) return rc;
    if (c->json) {
        print_json(j);
        json_decref(j);
        return 0;
    }
    char a[32], b[32];
    printf("Topic: %s  Partitions: %s  Replication factor: %s%s\n", js(j, "name"), jnum(j, "partitions", a, sizeof a),
           jnum(j, "replication_factor", b, sizeof b), json_is_true(json_object_get(j, "internal")) ? "  (internal)" : "");
    json_t *cfg = json_object_get(j, "configs");
    if (json_object_size(cfg)) {
        printf("Configs:\n");
        const char *k;
        json_t *v;
        json_object_foreach(cfg, k, v) printf("  %s=%s\n", k, json_is_string(v) ? json_string_value(v) : "(hidden)");
    }
    const char *heads[] = {"PARTITION", "LEADER", "REPLICAS", "ISR", "LOG_START", "HIGH_WATERMARK"};
    table_t *t = table_new(6, heads);
    size_t i;
    json_t *p;
    json_array_foreach(json_object_get(j, "partition_details"), i, p) {
        char c0[32], c1[32], c2[256], c3[256], c4[32], c5[32];
        const char *row[] = {jnum(p, "partition", c0, sizeof c0), jnum(p, "leader", c1, sizeof c1),
                             jarr_ints(json_object_get(p, "replicas"), c2, sizeof c2),
                             jarr_ints(json_object_get(p, "isr"), c3, sizeof c3), jnum(p, "log_start_offset", c4, sizeof c4),
                             jnum(p, "high_watermark", c5, sizeof c5)};
        table_add(t, row);
    }
    table_print(t);
    json_decref(j);
    return 0;
}

static int cmd_delete_topic(cli_t *c) {
    if (c->npos != 2) return usage_err("%s", "delete-topic needs NAME");
    char path[600];
    path_for(path, sizeof path, "/api/v1/topics/", c->pos[1]);
    json_t *j = NULL;
    int rc = run(c, "DELETE", path, NULL, 202, &j, "delete-topic");
    if (rc) return rc;
    char op[128];
    snprintf(op, sizeof op, "/api/v1/operations/%s", js(j, "operation_id"));
    json_decref(j);
    /* wait for the operation to finish */
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        j = NULL;
        rc = run(c, "GET", op, NULL, 200, &j, "delete-topic (operation status)");
        if (rc) return rc;
        const char *st = js(j, "state");
        if (strcmp(st, "completed") == 0) break;
        if (strcmp(st, "failed") == 0) {
            json_t *res = json_object_get(j, "result");
            long status = (long)json_integer_value(json_object_get(res, "http_status"));
            rc = report(c, status ? status : 500, res, "delete-topic");
            json_decref(j);
            return rc;
        }
        json_decref(j);
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        if ((now.tv_sec - t0.tv_sec) * 1000 > c->timeout_ms) {
            fprintf(stderr, "error: delete-topic: still running after %ld ms (operation %s)\n", c->timeout_ms, op);
            return RMQ_CLI_EXIT_CONNECT;
        }
        usleep(50000);
    }
    if (c->json) print_json(j);
    else printf("Deleted topic %s.\n", c->pos[1]);
    json_decref(j);
    return 0;
}

static int cmd_cluster_health(cli_t *c) {
    json_t *h = NULL, *b = NULL;
    int rc = run(c, "GET", "/api/v1/cluster/health", NULL, 200, &h, "cluster-health");
    if (rc) return rc;
    rc = run(c, "GET", "/api/v1/brokers", NULL, 200, &b, "cluster-health");
    if (rc) {
        json_decref(h);
        return rc;
    }
    json_object_set(h, "brokers", json_object_get(b, "brokers"));
    bool healthy = json_is_true(json_object_get(h, "healthy"));
    if (c->json) print_json(h);
    else {
        char a[32], x[32], y[32];
        printf("Status: %s\n", js(h, "status"));
        printf("Cluster id: %s\n", json_is_string(json_object_get(h, "cluster_id")) ? js(h, "cluster_id") : "-");
        printf("Controller: %s\n", jnum(h, "controller_id", a, sizeof a));
        printf("Brokers: %s active of %s\n", jnum(h, "brokers_active", x, sizeof x), jnum(h, "brokers_total", y, sizeof y));
        size_t i;
        json_t *v;
        json_array_foreach(json_object_get(h, "issues"), i, v) printf("Issue: %s\n", json_string_value(v));
        const char *heads[] = {"ID", "HOST", "PORT", "RACK", "STATUS"};
        table_t *t = table_new(5, heads);
        json_array_foreach(json_object_get(b, "brokers"), i, v) {
            char c0[32], c2[32];
            const char *row[] = {jnum(v, "id", c0, sizeof c0), js(v, "host"), jnum(v, "port", c2, sizeof c2),
                                 json_is_string(json_object_get(v, "rack")) ? js(v, "rack") : "-", js(v, "status")};
            table_add(t, row);
        }
        table_print(t);
    }
    json_decref(h);
    json_decref(b);
    if (!healthy) fprintf(stderr, "error: the cluster is not healthy\n");
    return healthy ? 0 : RMQ_CLI_EXIT_ERROR;
}

static int cmd_list_groups(cli_t *c) {
    json_t *j = NULL;
    int rc = run(c, "GET", "/api/v1/consumer-groups", NULL, 200, &j, "list-groups");
    if (rc) return rc;
    if (c->json) print_json(j);
    else {
        const char *heads[] = {"GROUP", "STATE", "PROTOCOL_TYPE"};
        table_t *t = table_new(3, heads);
        size_t i;
        json_t *v;
        json_array_foreach(json_object_get(j, "groups"), i, v) {
            const char *row[] = {js(v, "group_id"), js(v, "state"), js(v, "protocol_type")};
            table_add(t, row);
        }
        table_print(t);
    }
    json_decref(j);
    return 0;
}

static int cmd_describe_group(cli_t *c) {
    if (c->npos != 2) return usage_err("%s", "describe-group needs GROUP_ID");
    char path[600];
    path_for(path, sizeof path, "/api/v1/consumer-groups/", c->pos[1]);
    json_t *j = NULL;
    int rc = run(c, "GET", path, NULL, 200, &j, "describe-group");
    if (rc) return rc;
    if (c->json) {
        print_json(j);
        json_decref(j);
        return 0;
    }
    char a[32];
    printf("Group: %s  State: %s  Protocol: %s/%s  Total lag: %s\n", js(j, "group_id"), js(j, "state"),
           js(j, "protocol_type"), js(j, "protocol"), jnum(j, "total_lag", a, sizeof a));
    const char *mh[] = {"MEMBER", "CLIENT_ID", "HOST", "ASSIGNMENTS"};
    table_t *t = table_new(4, mh);
    size_t i, k;
    json_t *m, *as;
    json_array_foreach(json_object_get(j, "members"), i, m) {
        char buf[1024];
        size_t n = 0;
        buf[0] = 0;
        json_array_foreach(json_object_get(m, "assignments"), k, as) {
            n += (size_t)snprintf(buf + n, n < sizeof buf ? sizeof buf - n : 0, "%s%s-%" JSON_INTEGER_FORMAT, k ? "," : "",
                                  js(as, "topic"), json_integer_value(json_object_get(as, "partition")));
            if (n >= sizeof buf) break;
        }
        const char *row[] = {js(m, "member_id"), js(m, "client_id"), js(m, "client_host"), buf};
        table_add(t, row);
    }
    if (t->nrows > 1) table_print(t);
    else {
        printf("(no active members)\n");
        for (int r = 0; r < t->nrows; r++)
            for (int x = 0; x < t->ncols; x++) free(t->cells[r][x]);
        free(t);
    }
    const char *oh[] = {"TOPIC", "PARTITION", "COMMITTED", "LOG_END", "LAG"};
    t = table_new(5, oh);
    json_array_foreach(json_object_get(j, "offsets"), i, m) {
        char c1[32], c2[32], c3[32], c4[32];
        const char *row[] = {js(m, "topic"), jnum(m, "partition", c1, sizeof c1), jnum(m, "committed_offset", c2, sizeof c2),
                             jnum(m, "log_end_offset", c3, sizeof c3), jnum(m, "lag", c4, sizeof c4)};
        table_add(t, row);
    }
    table_print(t);
    json_decref(j);
    return 0;
}

static int cmd_serve_api(cli_t *c) {
    if (c->npos > 2) return usage_err("%s", "serve-api takes at most one argument, PORT");
    if (c->api_url) return usage_err("%s", "serve-api talks Kafka to the cluster: use --bootstrap, not --api-url");
    char listen[300];
    snprintf(listen, sizeof listen, "%s", c->listen ? c->listen : "127.0.0.1:9642");
    if (c->npos == 2) {
        long port;
        if (!parse_int(c->pos[1], 0, 65535, &port)) return usage_err("PORT must be 0..65535 (got '%s')", c->pos[1]);
        char *colon = strrchr(listen, ':');
        size_t hl = colon ? (size_t)(colon - listen) : 0;
        char host[256];
        snprintf(host, sizeof host, "%.*s", (int)hl, listen);
        snprintf(listen, sizeof listen, "%s:%ld", host[0] ? host : "127.0.0.1", port);
    }
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL); /* before any thread starts */
    rmq_metrics_t *m = rmq_metrics_new();
    rmq_metrics_register_process(m);
    rmq_admin_backend_t be;
    rmq_admin_kafka_backend(c->kafka, m, &be);
    rmq_admin_config_t cfg;
    rmq_admin_config_default(&cfg);
    cfg.listen = listen;
    rmq_admin_server_t *srv = NULL;
    char err[512];
    if (rmq_admin_server_start(&cfg, &be, &srv, err, sizeof err)) {
        fprintf(stderr, "error: %s\n", err);
        rmq_metrics_free(m);
        return RMQ_CLI_EXIT_CONNECT;
    }
    char host[256];
    const char *colon = strrchr(listen, ':');
    snprintf(host, sizeof host, "%.*s", (int)(colon - listen), listen);
    printf("rustmq-admin serving the admin API on http://%s:%d for the cluster at %s (Ctrl-C stops)\n", host,
           rmq_admin_server_port(srv), c->bootstrap);
    fflush(stdout);
    int sig = 0;
    sigwait(&set, &sig);
    RMQ_INFO("admin", "msg=\"stopping\" signal=%d", sig);
    rmq_admin_server_stop(srv);
    rmq_metrics_free(m);
    return 0;
}

/* ---- main -------------------------------------------------------------------------------------- */

int rmq_admin_cli_main(int argc, char **argv) {
    cli_t c;
    memset(&c, 0, sizeof c);
    c.timeout_ms = 30000;
    rmq_log_init_env();
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *val = NULL;
#define OPT(name)                                                                                               \
    (strcmp(a, name) == 0 ? (i + 1 < argc ? (val = argv[++i], 1) : (fprintf(stderr, "error: %s needs a value\n", name), exit(RMQ_CLI_EXIT_USAGE), 0)) \
                          : (strncmp(a, name "=", strlen(name) + 1) == 0 ? (val = a + strlen(name) + 1, 1) : 0))
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0 || strcmp(a, "help") == 0) {
            fputs(USAGE, stdout);
            return 0;
        } else if (strcmp(a, "--version") == 0) {
            printf("rustmq-admin %s\n", RMQ_VERSION);
            return 0;
        } else if (strcmp(a, "--json") == 0) {
            c.json = true;
        } else if (OPT("--bootstrap")) {
            c.bootstrap = val;
        } else if (OPT("--api-url")) {
            c.api_url = val;
        } else if (OPT("--timeout")) {
            long t;
            if (!parse_int(val, 1, 3600000, &t)) return usage_err("--timeout takes milliseconds (got '%s')", val);
            c.timeout_ms = t;
        } else if (OPT("--listen")) {
            c.listen = val;
        } else if (OPT("--config")) {
            if (c.nconfigs < 128) c.configs[c.nconfigs++] = val;
        } else if (a[0] == '-' && a[1] == '-') {
            return usage_err("unknown option '%s'", a);
        } else {
            if (c.npos >= 8) return usage_err("too many arguments ('%s')", a);
            c.pos[c.npos++] = a;
        }
#undef OPT
    }
    if (c.npos == 0) {
        fputs(USAGE, stderr);
        return RMQ_CLI_EXIT_USAGE;
    }
    const char *cmd = c.pos[0];
    static const char *const cmds[] = {"create-topic", "list-topics", "describe-topic", "delete-topic",
                                       "cluster-health", "list-groups", "describe-group", "serve-api"};
    bool known = false;
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) known |= strcmp(cmd, cmds[i]) == 0;
    if (!known) return usage_err("unknown command '%s'", cmd);
    if (c.nconfigs && strcmp(cmd, "create-topic")) return usage_err("%s", "--config is only for create-topic");
    if ((strcmp(cmd, "list-topics") == 0 || strcmp(cmd, "cluster-health") == 0 || strcmp(cmd, "list-groups") == 0) &&
        c.npos != 1)
        return usage_err("'%s' takes no arguments", cmd);
    /* arguments are checked before connecting anywhere */
    if (strcmp(cmd, "create-topic") == 0) {
        long v;
        if (c.npos != 4) return usage_err("%s", "create-topic needs NAME PARTITIONS REPLICATION_FACTOR");
        if (!parse_int(c.pos[2], 1, 1000000, &v))
            return usage_err("PARTITIONS must be a positive integer (got '%s')", c.pos[2]);
        if (!parse_int(c.pos[3], 1, 32767, &v))
            return usage_err("REPLICATION_FACTOR must be a positive integer (got '%s')", c.pos[3]);
        for (int i = 0; i < c.nconfigs; i++)
            if (!strchr(c.configs[i], '=') || c.configs[i][0] == '=')
                return usage_err("--config takes KEY=VALUE (got '%s')", c.configs[i]);
    }
    if ((strcmp(cmd, "describe-topic") == 0 || strcmp(cmd, "delete-topic") == 0) && c.npos != 2)
        return usage_err("'%s' needs NAME", cmd);
    if (strcmp(cmd, "describe-group") == 0 && c.npos != 2) return usage_err("%s", "describe-group needs GROUP_ID");
    if (strcmp(cmd, "serve-api") == 0) {
        long v;
        if (c.npos > 2) return usage_err("%s", "serve-api takes at most one argument, PORT");
        if (c.npos == 2 && !parse_int(c.pos[1], 0, 65535, &v)) return usage_err("PORT must be 0..65535 (got '%s')", c.pos[1]);
        if (c.api_url) return usage_err("%s", "serve-api talks Kafka to the cluster: use --bootstrap, not --api-url");
    }
    if (c.bootstrap && c.api_url) return usage_err("%s", "give either --bootstrap or --api-url, not both");
    if (!c.bootstrap && !c.api_url) {
        if (getenv("RUSTMQ_ADMIN_URL") && *getenv("RUSTMQ_ADMIN_URL")) c.api_url = getenv("RUSTMQ_ADMIN_URL");
        else if (getenv("RUSTMQ_BOOTSTRAP") && *getenv("RUSTMQ_BOOTSTRAP")) c.bootstrap = getenv("RUSTMQ_BOOTSTRAP");
        else c.bootstrap = DEFAULT_BOOTSTRAP;
    }
    if (strcmp(cmd, "serve-api") == 0 && !c.bootstrap) c.bootstrap = DEFAULT_BOOTSTRAP;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int rc;
    if (c.bootstrap) {
        char err[512];
        if (rmq_admin_kafka_open(c.bootstrap, (uint32_t)c.timeout_ms, &c.kafka, err, sizeof err)) {
            rc = connect_fail(&c, err);
            curl_global_cleanup();
            return rc;
        }
        if (strcmp(cmd, "serve-api")) {
            rmq_admin_config_t cfg;
            rmq_admin_config_default(&cfg);
            rmq_admin_backend_t be;
            rmq_admin_kafka_backend(c.kafka, NULL, &be);
            c.api = rmq_admin_api_new(&cfg, &be);
            if (!c.api) {
                fprintf(stderr, "error: out of memory\n");
                rmq_admin_kafka_close(c.kafka);
                return RMQ_CLI_EXIT_ERROR;
            }
        }
    }
    if (strcmp(cmd, "create-topic") == 0) rc = cmd_create_topic(&c);
    else if (strcmp(cmd, "list-topics") == 0) rc = cmd_list_topics(&c);
    else if (strcmp(cmd, "describe-topic") == 0) rc = cmd_describe_topic(&c);
    else if (strcmp(cmd, "delete-topic") == 0) rc = cmd_delete_topic(&c);
    else if (strcmp(cmd, "cluster-health") == 0) rc = cmd_cluster_health(&c);
    else if (strcmp(cmd, "list-groups") == 0) rc = cmd_list_groups(&c);
    else if (strcmp(cmd, "describe-group") == 0) rc = cmd_describe_group(&c);
    else rc = cmd_serve_api(&c);
    rmq_admin_api_free(c.api);
    rmq_admin_kafka_close(c.kafka);
    curl_global_cleanup();
    return rc;
}
