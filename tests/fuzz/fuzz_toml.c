/* fuzz_toml.c - libFuzzer target for the TOML parser (src/common/toml.c).
 *
 * Parses arbitrary bytes; on success walks the whole tree through the public
 * API (types, positions, typed getters, date/time formatting, key lookups
 * through the hash index and by iteration) and frees it. On failure checks the
 * error message has the documented "line L, column C: reason" shape.
 * Seed corpus: tests/fuzz/corpus/toml/ (the shipped config files and a
 * selection of the toml-test cases). */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/toml.h"

static size_t walk(const rmq_toml_node_t *n, int depth) {
    size_t count = 1;
    if (depth > 10000) abort(); /* the parser bounds depth; a cycle would be a bug */
    if (rmq_toml_line(n) == 0 || rmq_toml_col(n) == 0) abort();
    (void)rmq_toml_type_name(rmq_toml_type(n));
    switch (rmq_toml_type(n)) {
    case RMQ_TOML_TABLE: {
        size_t c = rmq_toml_table_count(n);
        for (size_t i = 0; i < c; i++) {
            const char *k;
            size_t kl;
            const rmq_toml_node_t *v = rmq_toml_table_at(n, i, &k, &kl);
            if (!v || k[kl] != 0) abort();
            if (rmq_toml_table_getn(n, k, kl) != v) abort(); /* keys are unique */
            count += walk(v, depth + 1);
        }
        if (rmq_toml_table_at(n, c, NULL, NULL)) abort();
        break;
    }
    case RMQ_TOML_ARRAY: {
        size_t c = rmq_toml_array_len(n);
        for (size_t i = 0; i < c; i++) count += walk(rmq_toml_array_at(n, i), depth + 1);
        if (rmq_toml_array_at(n, c)) abort();
        break;
    }
    case RMQ_TOML_STRING: {
        const char *s;
        size_t l;
        if (!rmq_toml_get_string(n, &s, &l) || s[l] != 0) abort();
        break;
    }
    case RMQ_TOML_INT: {
        int64_t v;
        if (!rmq_toml_get_int(n, &v)) abort();
        break;
    }
    case RMQ_TOML_FLOAT: {
        double d;
        if (!rmq_toml_get_float(n, &d)) abort();
        break;
    }
    case RMQ_TOML_BOOL: {
        bool b;
        if (!rmq_toml_get_bool(n, &b)) abort();
        break;
    }
    default: {
        rmq_toml_datetime_t dt;
        char buf[64];
        if (!rmq_toml_get_datetime(n, &dt)) abort();
        size_t l = rmq_toml_datetime_format(n, buf, sizeof buf);
        if (l == 0 || l >= sizeof buf || strlen(buf) != l) abort();
        if (dt.month < 0 || dt.month > 12 || dt.hour > 23 || dt.second > 60) abort();
        break;
    }
    }
    return count;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    rmq_toml_t *doc = NULL;
    char err[256];
    rmq_err_t e = rmq_toml_parse((const char *)data, size, &doc, err, sizeof err);
    if (e == RMQ_NONE) {
        if (!doc) abort();
        walk(rmq_toml_root(doc), 0);
        rmq_toml_free(doc);
    } else {
        unsigned line, col;
        if (doc) abort();
        if (e == RMQ_ERR_PARSE && sscanf(err, "line %u, column %u: ", &line, &col) != 2) abort();
    }
    return 0;
}
