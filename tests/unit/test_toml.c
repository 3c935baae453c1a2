/* test_toml.c - unit tests of the TOML parser (src/common/toml.c).
 *
 * Two parts:
 *   1. The toml-test conformance cases under tests/data/toml (found through
 *      RMQ_SOURCE_DIR): every valid/NAME.toml must parse and match its .json
 *      (toml-test's tagged JSON form, compared structurally; floats
 *      numerically, date/times after normalisation to millisecond precision),
 *      every invalid/NAME.toml must fail with a "line L, column C: reason" error.
 *   2. Hand-written tests of the API: error positions, node positions,
 *      document order, typed getters, integer limits, nesting limit, big
 *      tables (hash index), UTF-8 handling. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/toml.h"

/* ---- tiny JSON reader, only for the expected files ---------------------------- */

typedef enum { J_OBJ, J_ARR, J_STR, J_OTHER } jtype_t;

typedef struct jv {
    jtype_t t;
    char *s; /* J_STR: decoded bytes */
    size_t slen;
    size_t n;
    char **keys; /* J_OBJ */
    size_t *klens;
    struct jv **vals; /* J_OBJ, J_ARR */
} jv_t;

typedef struct {
    const char *s;
    size_t pos, len;
    int bad;
} jp_t;

static void jv_free(jv_t *v) {
    if (!v) return;
    for (size_t i = 0; i < v->n; i++) {
        if (v->keys) free(v->keys[i]);
        jv_free(v->vals[i]);
    }
    free(v->keys);
    free(v->klens);
    free(v->vals);
    free(v->s);
    free(v);
}

static void jws(jp_t *p) {
    while (p->pos < p->len && strchr(" \t\r\n", p->s[p->pos])) p->pos++;
}

static void jput(char **b, size_t *l, size_t *cap, const char *d, size_t n) {
    if (*l + n + 1 > *cap) {
        *cap = (*l + n + 1) * 2;
        *b = realloc(*b, *cap);
    }
    memcpy(*b + *l, d, n);
    *l += n;
    (*b)[*l] = 0;
}

static unsigned jhex4(jp_t *p) {
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p->pos < p->len ? p->s[p->pos++] : 0;
        v <<= 4;
        if (c >= '0' && c <= '9') v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f') v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F') v |= (unsigned)(c - 'A' + 10);
        else p->bad = 1;
    }
    return v;
}

static char *jstr(jp_t *p, size_t *outlen) {
    char *b = NULL;
    size_t l = 0, cap = 0;
    jput(&b, &l, &cap, "", 0);
    p->pos++; /* " */
    while (p->pos < p->len && p->s[p->pos] != '"') {
        char c = p->s[p->pos++];
        if (c != '\\') {
            jput(&b, &l, &cap, &c, 1);
            continue;
        }
        char e = p->s[p->pos++];
        char o;
        switch (e) {
        case 'n': o = '\n'; break;
        case 't': o = '\t'; break;
        case 'r': o = '\r'; break;
        case 'b': o = '\b'; break;
        case 'f': o = '\f'; break;
        case '/': o = '/'; break;
        case '\\': o = '\\'; break;
        case '"': o = '"'; break;
        case 'u': {
            unsigned cp = jhex4(p);
            if (cp >= 0xD800 && cp < 0xDC00 && p->pos + 1 < p->len && p->s[p->pos] == '\\' && p->s[p->pos + 1] == 'u') {
                p->pos += 2;
                unsigned lo = jhex4(p);
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            }
            char u[4];
            size_t n;
            if (cp < 0x80) { u[0] = (char)cp; n = 1; }
            else if (cp < 0x800) { u[0] = (char)(0xC0 | (cp >> 6)); u[1] = (char)(0x80 | (cp & 0x3F)); n = 2; }
            else if (cp < 0x10000) { u[0] = (char)(0xE0 | (cp >> 12)); u[1] = (char)(0x80 | ((cp >> 6) & 0x3F)); u[2] = (char)(0x80 | (cp & 0x3F)); n = 3; }
            else { u[0] = (char)(0xF0 | (cp >> 18)); u[1] = (char)(0x80 | ((cp >> 12) & 0x3F)); u[2] = (char)(0x80 | ((cp >> 6) & 0x3F)); u[3] = (char)(0x80 | (cp & 0x3F)); n = 4; }
            jput(&b, &l, &cap, u, n);
            continue;
        }
        default: p->bad = 1; o = e; break;
        }
        jput(&b, &l, &cap, &o, 1);
    }
    if (p->pos >= p->len) p->bad = 1;
    p->pos++;
    *outlen = l;
    return b;
}

static jv_t *jval(jp_t *p, int depth) {
    jws(p);
    if (p->pos >= p->len || depth > 200) {
        p->bad = 1;
        return NULL;
    }
    jv_t *v = calloc(1, sizeof(*v));
    char c = p->s[p->pos];
    if (c == '{' || c == '[') {
        v->t = c == '{' ? J_OBJ : J_ARR;
        p->pos++;
        jws(p);
        if (p->pos < p->len && p->s[p->pos] == (c == '{' ? '}' : ']')) {
            p->pos++;
            return v;
        }
        for (;;) {
            jws(p);
            char *k = NULL;
            size_t kl = 0;
            if (v->t == J_OBJ) {
                if (p->pos >= p->len || p->s[p->pos] != '"') { p->bad = 1; return v; }
                k = jstr(p, &kl);
                jws(p);
                if (p->pos >= p->len || p->s[p->pos] != ':') { p->bad = 1; free(k); return v; }
                p->pos++;
            }
            jv_t *e = jval(p, depth + 1);
            v->vals = realloc(v->vals, (v->n + 1) * sizeof(*v->vals));
            if (v->t == J_OBJ) {
                v->keys = realloc(v->keys, (v->n + 1) * sizeof(*v->keys));
                v->klens = realloc(v->klens, (v->n + 1) * sizeof(*v->klens));
                v->keys[v->n] = k;
                v->klens[v->n] = kl;
            }
            v->vals[v->n++] = e;
            if (p->bad) return v;
            jws(p);
            if (p->pos < p->len && p->s[p->pos] == ',') { p->pos++; continue; }
            if (p->pos < p->len && p->s[p->pos] == (c == '{' ? '}' : ']')) { p->pos++; return v; }
            p->bad = 1;
            return v;
        }
    }
    if (c == '"') {
        v->t = J_STR;
        v->s = jstr(p, &v->slen);
        return v;
    }
    v->t = J_OTHER;
    while (p->pos < p->len && !strchr(",]} \t\r\n", p->s[p->pos])) p->pos++;
    return v;
}

/* ---- file helpers -------------------------------------------------------------------- */

static char *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    size_t got = fread(b, 1, (size_t)n, f);
    fclose(f);
    b[got] = 0;
    *len = got;
    return b;
}

static const char *data_dir(void) {
    static char buf[4096];
    const char *src = getenv("RMQ_SOURCE_DIR");
    snprintf(buf, sizeof buf, "%s/tests/data/toml", src ? src : ".");
    return buf;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* sorted list of *.toml names in dir; caller frees */
static char **list_toml(const char *dir, size_t *count) {
    DIR *d = opendir(dir);
    char **names = NULL;
    size_t n = 0;
    if (d) {
        struct dirent *e;
        while ((e = readdir(d))) {
            size_t l = strlen(e->d_name);
            if (l > 5 && strcmp(e->d_name + l - 5, ".toml") == 0) {
                names = realloc(names, (n + 1) * sizeof(*names));
                names[n++] = strdup(e->d_name);
            }
        }
        closedir(d);
    }
    if (n) qsort(names, n, sizeof(*names), cmp_str);
    *count = n;
    return names;
}

/* ---- comparison with the tagged JSON ----------------------------------------------------- */

static const jv_t *jget(const jv_t *o, const char *k) {
    for (size_t i = 0; i < o->n; i++)
        if (strcmp(o->keys[i], k) == 0) return o->vals[i];
    return NULL;
}

static bool is_tagged(const jv_t *v) {
    if (v->t != J_OBJ || v->n != 2) return false;
    const jv_t *t = jget(v, "type"), *val = jget(v, "value");
    return t && val && t->t == J_STR && val->t == J_STR;
}

/* uppercase T/Z, ' ' -> 'T', fraction cut to milliseconds (trailing zeros
 * dropped), +00:00 -> Z */
static void norm_dt(const char *in, char *out, size_t outlen) {
    size_t o = 0;
    for (size_t i = 0; in[i] && o + 1 < outlen; i++) {
        char c = in[i];
        if (c == 't' || (c == ' ' && i == 10)) c = 'T';
        if (c == 'z') c = 'Z';
        if (c == '.') {
            char frac[4] = {0};
            size_t k = 0;
            i++;
            while (in[i] >= '0' && in[i] <= '9') {
                if (k < 3) frac[k++] = in[i];
                i++;
            }
            while (k > 0 && frac[k - 1] == '0') frac[--k] = 0;
            if (k) {
                out[o++] = '.';
                for (size_t j = 0; j < k && o + 1 < outlen; j++) out[o++] = frac[j];
            }
            i--;
            continue;
        }
        out[o++] = c;
    }
    out[o] = 0;
    size_t l = strlen(out);
    if (l >= 6 && (strcmp(out + l - 6, "+00:00") == 0 || strcmp(out + l - 6, "-00:00") == 0)) strcpy(out + l - 6, "Z");
}

static bool cmp_node(const rmq_toml_node_t *n, const jv_t *j, char *why, size_t wl, const char *path) {
    rmq_toml_type_t t = rmq_toml_type(n);
    if (!j) return snprintf(why, wl, "%s: bad expected JSON", path), false;
    if (t == RMQ_TOML_TABLE) {
        if (j->t != J_OBJ || is_tagged(j)) return snprintf(why, wl, "%s: got a table", path), false;
        if (rmq_toml_table_count(n) != j->n)
            return snprintf(why, wl, "%s: table has %zu keys, expected %zu", path, rmq_toml_table_count(n), j->n), false;
        for (size_t i = 0; i < j->n; i++) {
            const rmq_toml_node_t *c = rmq_toml_table_getn(n, j->keys[i], j->klens[i]);
            char sub[512];
            snprintf(sub, sizeof sub, "%s.%s", path, j->keys[i]);
            if (!c) return snprintf(why, wl, "%s: missing", sub), false;
            if (!cmp_node(c, j->vals[i], why, wl, sub)) return false;
        }
        return true;
    }
    if (t == RMQ_TOML_ARRAY) {
        if (j->t != J_ARR) return snprintf(why, wl, "%s: got an array", path), false;
        if (rmq_toml_array_len(n) != j->n)
            return snprintf(why, wl, "%s: array has %zu items, expected %zu", path, rmq_toml_array_len(n), j->n), false;
        for (size_t i = 0; i < j->n; i++) {
            char sub[512];
            snprintf(sub, sizeof sub, "%s[%zu]", path, i);
            if (!cmp_node(rmq_toml_array_at(n, i), j->vals[i], why, wl, sub)) return false;
        }
        return true;
    }
    if (!is_tagged(j)) return snprintf(why, wl, "%s: got a %s, expected a table/array", path, rmq_toml_type_name(t)), false;
    const char *et = jget(j, "type")->s;
    const jv_t *ev = jget(j, "value");
    static const char *tagname[] = {[RMQ_TOML_STRING] = "string",      [RMQ_TOML_INT] = "integer",
                                    [RMQ_TOML_FLOAT] = "float",        [RMQ_TOML_BOOL] = "bool",
                                    [RMQ_TOML_DATETIME] = "datetime",  [RMQ_TOML_DATETIME_LOCAL] = "datetime-local",
                                    [RMQ_TOML_DATE_LOCAL] = "date-local", [RMQ_TOML_TIME_LOCAL] = "time-local"};
    if (strcmp(et, tagname[t]) != 0) return snprintf(why, wl, "%s: got %s, expected %s", path, tagname[t], et), false;
    switch (t) {
    case RMQ_TOML_STRING: {
        const char *s;
        size_t l;
        rmq_toml_get_string(n, &s, &l);
        if (l != ev->slen || memcmp(s, ev->s, l) != 0)
            return snprintf(why, wl, "%s: got string \"%s\", expected \"%s\"", path, s, ev->s), false;
        return true;
    }
    case RMQ_TOML_INT: {
        int64_t v;
        rmq_toml_get_int(n, &v);
        if (v != strtoll(ev->s, NULL, 10))
            return snprintf(why, wl, "%s: got %lld, expected %s", path, (long long)v, ev->s), false;
        return true;
    }
    case RMQ_TOML_FLOAT: {
        double v;
        rmq_toml_get_float(n, &v);
        const char *e = ev->s;
        bool ok;
        if (strcmp(e, "nan") == 0 || strcmp(e, "+nan") == 0 || strcmp(e, "-nan") == 0) ok = isnan(v);
        else if (strcmp(e, "inf") == 0 || strcmp(e, "+inf") == 0) ok = isinf(v) && v > 0;
        else if (strcmp(e, "-inf") == 0) ok = isinf(v) && v < 0;
        else {
            double x = strtod(e, NULL);
            ok = v == x || fabs(v - x) <= 1e-15 * fabs(x);
        }
        if (!ok) return snprintf(why, wl, "%s: got %.17g, expected %s", path, v, e), false;
        return true;
    }
    case RMQ_TOML_BOOL: {
        bool b;
        rmq_toml_get_bool(n, &b);
        if (strcmp(b ? "true" : "false", ev->s) != 0) return snprintf(why, wl, "%s: bool mismatch", path), false;
        return true;
    }
    default: {
        char got[80], a[80], b[80];
        rmq_toml_datetime_format(n, got, sizeof got);
        norm_dt(got, a, sizeof a);
        norm_dt(ev->s, b, sizeof b);
        if (strcmp(a, b) != 0) return snprintf(why, wl, "%s: got %s, expected %s", path, got, ev->s), false;
        return true;
    }
    }
}

/* ---- conformance suites ------------------------------------------------------------------- */

static void test_suite_valid(void **state) {
    (void)state;
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/valid", data_dir());
    size_t n;
    char **names = list_toml(dir, &n);
    assert_true(n >= 60);
    int failures = 0;
    for (size_t i = 0; i < n; i++) {
        char path[8400], jpath[8400], err[256], why[1024];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        snprintf(jpath, sizeof jpath, "%.*s.json", (int)(strlen(path) - 5), path);
        size_t len, jlen;
        char *text = read_file(path, &len);
        char *jtext = read_file(jpath, &jlen);
        assert_non_null(text);
        assert_non_null(jtext);
        rmq_toml_t *doc = NULL;
        rmq_err_t e = rmq_toml_parse(text, len, &doc, err, sizeof err);
        if (e != RMQ_NONE) {
            printf("FAIL valid/%s: %s\n", names[i], err);
            failures++;
        } else {
            jp_t jp = {.s = jtext, .len = jlen};
            jv_t *exp = jval(&jp, 0);
            assert_false(jp.bad);
            if (!cmp_node(rmq_toml_root(doc), exp, why, sizeof why, "")) {
                printf("FAIL valid/%s: %s\n", names[i], why);
                failures++;
            }
            jv_free(exp);
        }
        rmq_toml_free(doc);
        free(text);
        free(jtext);
        free(names[i]);
    }
    free(names);
    printf("toml-test valid: %zu cases, %d failures\n", n, failures);
    assert_int_equal(failures, 0);
}

static void test_suite_invalid(void **state) {
    (void)state;
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/invalid", data_dir());
    size_t n;
    char **names = list_toml(dir, &n);
    assert_true(n >= 60);
    int failures = 0;
    for (size_t i = 0; i < n; i++) {
        char path[8400], err[256];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        size_t len;
        char *text = read_file(path, &len);
        assert_non_null(text);
        rmq_toml_t *doc = NULL;
        rmq_err_t e = rmq_toml_parse(text, len, &doc, err, sizeof err);
        unsigned line = 0, col = 0;
        int consumed = 0;
        if (e == RMQ_NONE) {
            printf("FAIL invalid/%s: parsed without error\n", names[i]);
            failures++;
        } else if (sscanf(err, "line %u, column %u: %n", &line, &col, &consumed) != 2 || line == 0 || col == 0 ||
                   consumed == 0 || err[consumed] == 0) {
            printf("FAIL invalid/%s: error without line/column/reason: %s\n", names[i], err);
            failures++;
        } else if (getenv("RMQ_TOML_VERBOSE")) {
            printf("ok invalid/%s: %s\n", names[i], err);
        }
        assert_null(doc);
        free(text);
        free(names[i]);
    }
    free(names);
    printf("toml-test invalid: %zu cases, %d failures\n", n, failures);
    assert_int_equal(failures, 0);
}

/* ---- API tests ------------------------------------------------------------------------------- */

static rmq_toml_t *parse_ok(const char *s) {
    rmq_toml_t *doc = NULL;
    char err[256];
    rmq_err_t e = rmq_toml_parse(s, strlen(s), &doc, err, sizeof err);
    if (e != RMQ_NONE) print_error("unexpected parse error: %s\n", err);
    assert_int_equal(e, RMQ_NONE);
    return doc;
}

static void expect_err(const char *s, const char *msg) {
    rmq_toml_t *doc = (rmq_toml_t *)1;
    char err[256];
    rmq_err_t e = rmq_toml_parse(s, strlen(s), &doc, err, sizeof err);
    assert_int_equal(e, RMQ_ERR_PARSE);
    assert_null(doc);
    if (strcmp(err, msg) != 0) print_error("got error \"%s\", expected \"%s\"\n", err, msg);
    assert_string_equal(err, msg);
}

static void test_error_positions(void **state) {
    (void)state;
    expect_err("a = 1\nb = 2\n[x]\nkey  value\n", "line 4, column 6: expected '=' after key");
    expect_err("a = 1\na = 2\n", "line 2, column 1: duplicate key 'a'");
    expect_err("[t]\n[t]\n", "line 2, column 1: table 't' is defined twice");
    expect_err("x = \"abc\n", "line 1, column 5: unterminated string");
    expect_err("x = 1\ny = 9223372036854775808\n", "line 2, column 5: integer overflows 64 bits");
    expect_err("s = \"\\uD800\"", "line 1, column 6: escape \\uD800 is not a Unicode scalar value");
    /* columns count code points, not bytes */
    expect_err("s = \"\xc3\xa9\xc3\xa9\" x", "line 1, column 10: expected end of line after value");
    expect_err("ok = 1\nbad = \"\xff\"\n", "line 2, column 8: invalid UTF-8 byte 0xff");
    expect_err("d = 2023-02-29", "line 1, column 5: day 29 out of range for 2023-02");
    expect_err("a = [1, 2", "line 1, column 10: unterminated array, expected ']'");
    expect_err("s = \"\"\"abc\n\ndef", "line 3, column 4: unterminated multi-line string opened on line 1");
    expect_err("a = { b = 1,\n c = 2 }", "line 1, column 13: newlines are not allowed in an inline table");
}

static void test_node_positions_and_order(void **state) {
    (void)state;
    rmq_toml_t *doc = parse_ok("# header\nzeta = 1\nalpha = \"\"\"\nx\"\"\"\n\n[wal]\n  capacity = 10\n  path = 'p'\n"
                               "[[peers]]\nid = 1\n[[peers]]\nid = 2\n");
    const rmq_toml_node_t *root = rmq_toml_root(doc);
    assert_int_equal(rmq_toml_table_count(root), 4);
    const char *k;
    size_t kl;
    const char *want[] = {"zeta", "alpha", "wal", "peers"};
    for (size_t i = 0; i < 4; i++) {
        assert_non_null(rmq_toml_table_at(root, i, &k, &kl));
        assert_string_equal(k, want[i]);
        assert_int_equal(kl, strlen(want[i]));
    }
    assert_null(rmq_toml_table_at(root, 4, &k, &kl));
    const rmq_toml_node_t *zeta = rmq_toml_table_get(root, "zeta");
    assert_int_equal(rmq_toml_line(zeta), 2);
    assert_int_equal(rmq_toml_col(zeta), 8);
    const rmq_toml_node_t *alpha = rmq_toml_table_get(root, "alpha");
    assert_int_equal(rmq_toml_line(alpha), 3);
    assert_int_equal(rmq_toml_col(alpha), 9);
    const rmq_toml_node_t *wal = rmq_toml_table_get(root, "wal");
    assert_int_equal(rmq_toml_type(wal), RMQ_TOML_TABLE);
    assert_int_equal(rmq_toml_line(wal), 6);
    const rmq_toml_node_t *cap = rmq_toml_table_get(wal, "capacity");
    assert_int_equal(rmq_toml_line(cap), 7);
    assert_int_equal(rmq_toml_col(cap), 14);
    int64_t v;
    assert_true(rmq_toml_get_int(cap, &v));
    assert_int_equal(v, 10);
    /* typed getters refuse other types */
    const char *s;
    double d;
    bool b;
    assert_false(rmq_toml_get_string(cap, &s, NULL));
    assert_false(rmq_toml_get_float(cap, &d));
    assert_false(rmq_toml_get_bool(cap, &b));
    assert_true(rmq_toml_get_string(rmq_toml_table_get(wal, "path"), &s, NULL));
    assert_string_equal(s, "p");
    const rmq_toml_node_t *peers = rmq_toml_table_get(root, "peers");
    assert_int_equal(rmq_toml_array_len(peers), 2);
    assert_true(rmq_toml_get_int(rmq_toml_table_get(rmq_toml_array_at(peers, 1), "id"), &v));
    assert_int_equal(v, 2);
    assert_int_equal(rmq_toml_line(rmq_toml_array_at(peers, 1)), 11);
    assert_null(rmq_toml_array_at(peers, 2));
    assert_null(rmq_toml_table_get(root, "missing"));
    assert_null(rmq_toml_table_get(cap, "x"));
    rmq_toml_free(doc);
}

static void test_integers_and_floats(void **state) {
    (void)state;
    rmq_toml_t *doc = parse_ok("max = 9223372036854775807\nmin = -9223372036854775808\nhex = 0x7FFFFFFFFFFFFFFF\n"
                               "bin = 0b1010\noct = 0o17\nf = 6.02e+23\nneg0 = -0.0\nu = 1_000_000\n");
    const rmq_toml_node_t *r = rmq_toml_root(doc);
    int64_t v;
    assert_true(rmq_toml_get_int(rmq_toml_table_get(r, "max"), &v));
    assert_true(v == INT64_MAX);
    assert_true(rmq_toml_get_int(rmq_toml_table_get(r, "min"), &v));
    assert_true(v == INT64_MIN);
    assert_true(rmq_toml_get_int(rmq_toml_table_get(r, "hex"), &v));
    assert_true(v == INT64_MAX);
    assert_true(rmq_toml_get_int(rmq_toml_table_get(r, "bin"), &v));
    assert_int_equal(v, 10);
    assert_true(rmq_toml_get_int(rmq_toml_table_get(r, "oct"), &v));
    assert_int_equal(v, 15);
    assert_true(rmq_toml_get_int(rmq_toml_table_get(r, "u"), &v));
    assert_int_equal(v, 1000000);
    double d;
    assert_true(rmq_toml_get_float(rmq_toml_table_get(r, "f"), &d));
    assert_true(d == 6.02e23);
    assert_true(rmq_toml_get_float(rmq_toml_table_get(r, "neg0"), &d));
    assert_true(d == 0.0 && signbit(d));
    rmq_toml_free(doc);
    rmq_toml_t *bad = NULL;
    char err[256];
    assert_int_equal(rmq_toml_parse("x = 0x8000000000000000", 22, &bad, err, sizeof err), RMQ_ERR_PARSE);
    assert_int_equal(rmq_toml_parse("x = -9223372036854775809", 24, &bad, err, sizeof err), RMQ_ERR_PARSE);
    assert_int_equal(rmq_toml_parse("x = 1e400", 9, &bad, err, sizeof err), RMQ_ERR_PARSE);
    assert_int_equal(rmq_toml_parse("x = 01", 6, &bad, err, sizeof err), RMQ_ERR_PARSE);
    assert_int_equal(rmq_toml_parse("x = 1__0", 8, &bad, err, sizeof err), RMQ_ERR_PARSE);
    assert_int_equal(rmq_toml_parse("x = 1.", 6, &bad, err, sizeof err), RMQ_ERR_PARSE);
    assert_int_equal(rmq_toml_parse("x = .5", 6, &bad, err, sizeof err), RMQ_ERR_PARSE);
}

static void test_strings_utf8(void **state) {
    (void)state;
    rmq_toml_t *doc = parse_ok("a = \"\\U0001F600\\u00e9\\u0000z\"\nb = '''\n\\n raw'''\n\"\\u0000key\" = 1\n");
    const rmq_toml_node_t *r = rmq_toml_root(doc);
    const char *s;
    size_t l;
    assert_true(rmq_toml_get_string(rmq_toml_table_get(r, "a"), &s, &l));
    assert_int_equal(l, 8);
    assert_memory_equal(s, "\xF0\x9F\x98\x80\xC3\xA9\0z", 8);
    assert_true(rmq_toml_get_string(rmq_toml_table_get(r, "b"), &s, &l));
    assert_string_equal(s, "\\n raw");
    assert_non_null(rmq_toml_table_getn(r, "\0key", 4));
    rmq_toml_free(doc);
    /* overlong encoding and lone continuation byte are rejected */
    rmq_toml_t *bad = NULL;
    assert_int_equal(rmq_toml_parse("a = \"\xC0\xAF\"", 8, &bad, NULL, 0), RMQ_ERR_PARSE);
    assert_int_equal(rmq_toml_parse("# \x80", 3, &bad, NULL, 0), RMQ_ERR_PARSE);
    assert_int_equal(rmq_toml_parse("a = \"\xED\xA0\x80\"", 9, &bad, NULL, 0), RMQ_ERR_PARSE); /* surrogate */
    assert_int_equal(rmq_toml_parse("a = \"\\U00110000\"", 16, &bad, NULL, 0), RMQ_ERR_PARSE);
    /* BOM at the start is fine */
    doc = parse_ok("\xEF\xBB\xBFx = 1");
    assert_non_null(rmq_toml_table_get(rmq_toml_root(doc), "x"));
    rmq_toml_free(doc);
}

static void test_datetimes(void **state) {
    (void)state;
    rmq_toml_t *doc = parse_ok("odt = 1979-05-27T00:32:00.999999-07:00\nld = 2024-02-29\nlt = 23:59:60\n"
                               "ldt = 1979-05-27 07:32:00\n");
    const rmq_toml_node_t *r = rmq_toml_root(doc);
    rmq_toml_datetime_t dt;
    const rmq_toml_node_t *odt = rmq_toml_table_get(r, "odt");
    assert_int_equal(rmq_toml_type(odt), RMQ_TOML_DATETIME);
    assert_true(rmq_toml_get_datetime(odt, &dt));
    assert_int_equal(dt.year, 1979);
    assert_int_equal(dt.minute, 32);
    assert_int_equal(dt.nanosecond, 999999000);
    assert_int_equal(dt.offset_minutes, -420);
    char buf[64];
    rmq_toml_datetime_format(odt, buf, sizeof buf);
    assert_string_equal(buf, "1979-05-27T00:32:00.999999-07:00");
    assert_int_equal(rmq_toml_type(rmq_toml_table_get(r, "ld")), RMQ_TOML_DATE_LOCAL);
    /* fields a local date does not carry are zero (regression: found by fuzz_toml) */
    rmq_toml_t *d2 = parse_ok("d = 9999-12-31\n");
    assert_true(rmq_toml_get_datetime(rmq_toml_table_get(rmq_toml_root(d2), "d"), &dt));
    assert_int_equal(dt.year, 9999);
    assert_int_equal(dt.hour, 0);
    assert_int_equal(dt.minute, 0);
    rmq_toml_free(d2);
    assert_int_equal(rmq_toml_type(rmq_toml_table_get(r, "lt")), RMQ_TOML_TIME_LOCAL);
    rmq_toml_datetime_format(rmq_toml_table_get(r, "ldt"), buf, sizeof buf);
    assert_string_equal(buf, "1979-05-27T07:32:00");
    assert_false(rmq_toml_get_datetime(r, &dt));
    rmq_toml_free(doc);
}

static void test_nesting_limit(void **state) {
    (void)state;
    char buf[1024];
    /* 64 levels are fine, 65 are not */
    for (int depth = 64; depth <= 65; depth++) {
        size_t l = 0;
        l += (size_t)sprintf(buf + l, "a = ");
        for (int i = 0; i < depth; i++) buf[l++] = '[';
        for (int i = 0; i < depth; i++) buf[l++] = ']';
        buf[l] = 0;
        rmq_toml_t *doc = NULL;
        char err[256];
        rmq_err_t e = rmq_toml_parse(buf, l, &doc, err, sizeof err);
        if (depth == 64) {
            assert_int_equal(e, RMQ_NONE);
            rmq_toml_free(doc);
        } else {
            assert_int_equal(e, RMQ_ERR_PARSE);
            assert_non_null(strstr(err, "nesting deeper than 64"));
        }
    }
    /* inline tables count too; 200000 nested would blow the stack without the limit */
    size_t big = 200000;
    char *s = malloc(big * 3 + 16);
    size_t l = (size_t)sprintf(s, "a = ");
    for (size_t i = 0; i < big; i++) s[l++] = '{', s[l++] = 'b', s[l++] = '=';
    s[l] = 0;
    rmq_toml_t *doc = NULL;
    assert_int_equal(rmq_toml_parse(s, l, &doc, NULL, 0), RMQ_ERR_PARSE);
    free(s);
}

static void test_big_table_hash(void **state) {
    (void)state;
    size_t n = 5000;
    char *s = malloc(n * 32);
    size_t l = 0;
    for (size_t i = 0; i < n; i++) l += (size_t)sprintf(s + l, "key%zu = %zu\n", i, i * 3);
    l += (size_t)sprintf(s + l, "key77 = 1\n"); /* duplicate must still be found through the hash */
    rmq_toml_t *doc = NULL;
    char err[256];
    assert_int_equal(rmq_toml_parse(s, l, &doc, err, sizeof err), RMQ_ERR_PARSE);
    assert_string_equal(err, "line 5001, column 1: duplicate key 'key77'");
    doc = NULL;
    assert_int_equal(rmq_toml_parse(s, l - strlen("key77 = 1\n"), &doc, err, sizeof err), RMQ_NONE);
    const rmq_toml_node_t *r = rmq_toml_root(doc);
    assert_int_equal(rmq_toml_table_count(r), n);
    for (size_t i = 0; i < n; i++) {
        char k[32];
        snprintf(k, sizeof k, "key%zu", i);
        int64_t v;
        assert_true(rmq_toml_get_int(rmq_toml_table_get(r, k), &v));
        assert_int_equal(v, (int64_t)(i * 3));
        const char *kk;
        rmq_toml_table_at(r, i, &kk, NULL);
        assert_string_equal(kk, k);
    }
    rmq_toml_free(doc);
    free(s);
}

static void test_empty_and_args(void **state) {
    (void)state;
    rmq_toml_t *doc = NULL;
    assert_int_equal(rmq_toml_parse("", 0, &doc, NULL, 0), RMQ_NONE);
    assert_int_equal(rmq_toml_table_count(rmq_toml_root(doc)), 0);
    rmq_toml_free(doc);
    assert_int_equal(rmq_toml_parse(NULL, 0, &doc, NULL, 0), RMQ_NONE);
    rmq_toml_free(doc);
    assert_int_equal(rmq_toml_parse(NULL, 5, &doc, NULL, 0), RMQ_ERR_INVALID_ARG);
    rmq_toml_free(NULL);
    /* not NUL-terminated: the parser must stop at len */
    const char text[] = {'a', '=', '1'};
    assert_int_equal(rmq_toml_parse(text, sizeof text, &doc, NULL, 0), RMQ_NONE);
    rmq_toml_free(doc);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_suite_valid),
        cmocka_unit_test(test_suite_invalid),
        cmocka_unit_test(test_error_positions),
        cmocka_unit_test(test_node_positions_and_order),
        cmocka_unit_test(test_integers_and_floats),
        cmocka_unit_test(test_strings_utf8),
        cmocka_unit_test(test_datetimes),
        cmocka_unit_test(test_nesting_limit),
        cmocka_unit_test(test_big_table_hash),
        cmocka_unit_test(test_empty_and_args),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
