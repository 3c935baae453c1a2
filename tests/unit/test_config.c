/* test_config.c - unit tests of the configuration loader (src/common/config.c).
 *
 * Loads every shipped file under config/ (through RMQ_SOURCE_DIR), checks that
 * config/broker.toml and config/controller.toml list every schema key with
 * exactly the embedded default, that docs/configuration.md documents every
 * key, and that bad input (unknown key/section, wrong type, out of range,
 * cross-field conflicts, bad environment values, TOML syntax errors) fails
 * with a message naming the file and line or the variable. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/config.h"
#include "common/toml.h"

static char tmpdir[256];

static const char *src_path(const char *rel) {
    static char buf[4096];
    const char *src = getenv("RMQ_SOURCE_DIR");
    snprintf(buf, sizeof buf, "%s/%s", src ? src : ".", rel);
    return buf;
}

/* write text to a fresh file in tmpdir; returns a static path */
static const char *write_tmp(const char *name, const char *text) {
    static char path[512];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    return path;
}

static void clear_env(void) {
    extern char **environ;
    for (;;) {
        char name[256] = "";
        for (char **e = environ; e && *e; e++) {
            if (strncmp(*e, "RUSTMQ_", 7) == 0) {
                const char *eq = strchr(*e, '=');
                snprintf(name, sizeof name, "%.*s", (int)(eq ? eq - *e : (long)strlen(*e)), *e);
                break;
            }
        }
        if (!name[0]) return;
        unsetenv(name);
    }
}

static int setup(void **state) {
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/rmq-test-config-XXXXXX");
    assert_non_null(mkdtemp(tmpdir));
    clear_env();
    return 0;
}

static int teardown(void **state) {
    (void)state;
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    int rc = system(cmd);
    (void)rc;
    clear_env();
    return 0;
}

/* field-by-field equality of two configs through the schema */
static bool same_field(const rmq_cfg_field_t *f, const void *a, const void *b, char *why, size_t wl) {
    const char *pa = (const char *)a + f->offset, *pb = (const char *)b + f->offset;
    switch (f->type) {
    case RMQ_CFG_INT32:
        if (*(const int32_t *)pa == *(const int32_t *)pb) return true;
        break;
    case RMQ_CFG_INT64:
        if (*(const int64_t *)pa == *(const int64_t *)pb) return true;
        break;
    case RMQ_CFG_SIZE:
        if (*(const uint64_t *)pa == *(const uint64_t *)pb) return true;
        break;
    case RMQ_CFG_BOOL:
        if (*(const bool *)pa == *(const bool *)pb) return true;
        break;
    case RMQ_CFG_DOUBLE:
        if (*(const double *)pa == *(const double *)pb) return true;
        break;
    case RMQ_CFG_STRING:
        if (strcmp(*(char *const *)pa, *(char *const *)pb) == 0) return true;
        break;
    case RMQ_CFG_STRARRAY: {
        const rmq_cfg_strv_t *x = (const void *)pa, *y = (const void *)pb;
        if (x->n != y->n) break;
        size_t i;
        for (i = 0; i < x->n && strcmp(x->items[i], y->items[i]) == 0; i++) {
        }
        if (i == x->n) return true;
        break;
    }
    }
    snprintf(why, wl, "%s.%s differs", f->section, f->key);
    return false;
}

static void test_defaults(void **state) {
    (void)state;
    rmq_broker_config_t c;
    assert_int_equal(rmq_cfg_broker_defaults(&c), RMQ_NONE);
    assert_int_equal(c.broker.id, 1);
    assert_string_equal(c.network.listen, "127.0.0.1:9092");
    assert_true(c.wal.capacity_bytes == 10ull << 30);
    assert_true(c.wal.segment_size_bytes == 128ull << 20);
    assert_true(c.wal.fsync_on_write);
    assert_string_equal(c.object_storage.storage_type, "local");
    assert_int_equal(c.controller.endpoints.n, 0);
    assert_int_equal(c.topics.retention_bytes, -1);
    assert_string_equal(c.log.level, "info");
    assert_string_equal(c.wal.path, ""); /* resolved only by load */
    rmq_cfg_broker_free(&c);

    char err[512];
    assert_int_equal(rmq_cfg_broker_load(NULL, &c, err, sizeof err), RMQ_NONE);
    assert_string_equal(c.wal.path, "./data/wal");
    assert_string_equal(c.object_storage.path, "./data/objects");
    assert_string_equal(c.network.advertised_listen, "127.0.0.1:9092");
    rmq_cfg_broker_free(&c);

    rmq_controller_config_t k;
    assert_int_equal(rmq_cfg_controller_load(NULL, &k, err, sizeof err), RMQ_NONE);
    assert_int_equal(k.controller.node_id, 1);
    assert_string_equal(k.controller.raft_listen, "127.0.0.1:9095");
    assert_string_equal(k.controller.rpc_listen, "127.0.0.1:9094");
    assert_string_equal(k.controller.http_listen, "127.0.0.1:9642");
    rmq_cfg_controller_free(&k);
}

static void test_shipped_files(void **state) {
    (void)state;
    char err[512], why[256];
    size_t n;
    /* broker.toml == embedded defaults, key for key */
    rmq_broker_config_t def, file;
    assert_int_equal(rmq_cfg_broker_load(NULL, &def, err, sizeof err), RMQ_NONE);
    rmq_err_t e = rmq_cfg_broker_load(src_path("config/broker.toml"), &file, err, sizeof err);
    if (e) print_error("%s\n", err);
    assert_int_equal(e, RMQ_NONE);
    const rmq_cfg_field_t *bs = rmq_cfg_broker_schema(&n);
    for (size_t i = 0; i < n; i++) {
        if (!same_field(&bs[i], &def, &file, why, sizeof why)) print_error("broker.toml: %s\n", why);
        assert_true(same_field(&bs[i], &def, &file, why, sizeof why));
    }
    rmq_cfg_broker_free(&def);
    rmq_cfg_broker_free(&file);

    rmq_controller_config_t kd, kf;
    assert_int_equal(rmq_cfg_controller_load(NULL, &kd, err, sizeof err), RMQ_NONE);
    e = rmq_cfg_controller_load(src_path("config/controller.toml"), &kf, err, sizeof err);
    if (e) print_error("%s\n", err);
    assert_int_equal(e, RMQ_NONE);
    size_t kn;
    const rmq_cfg_field_t *ks = rmq_cfg_controller_schema(&kn);
    for (size_t i = 0; i < kn; i++) assert_true(same_field(&ks[i], &kd, &kf, why, sizeof why));
    rmq_cfg_controller_free(&kd);
    rmq_cfg_controller_free(&kf);

    /* every key is written out in the reference files and documented */
    const char *files[] = {"config/broker.toml", "config/controller.toml"};
    const rmq_cfg_field_t *schemas[] = {bs, ks};
    size_t counts[] = {n, kn};
    FILE *df = fopen(src_path("docs/configuration.md"), "r");
    assert_non_null(df);
    static char docs[1 << 17];
    size_t dl = fread(docs, 1, sizeof docs - 1, df);
    docs[dl] = 0;
    fclose(df);
    for (int fi = 0; fi < 2; fi++) {
        FILE *f = fopen(src_path(files[fi]), "r");
        assert_non_null(f);
        static char text[1 << 16];
        size_t tl = fread(text, 1, sizeof text - 1, f);
        fclose(f);
        rmq_toml_t *doc = NULL;
        assert_int_equal(rmq_toml_parse(text, tl, &doc, err, sizeof err), RMQ_NONE);
        for (size_t i = 0; i < counts[fi]; i++) {
            const rmq_cfg_field_t *fd = &schemas[fi][i];
            const rmq_toml_node_t *sec = rmq_toml_table_get(rmq_toml_root(doc), fd->section);
            if (!rmq_toml_table_get(sec, fd->key)) print_error("%s lacks %s.%s\n", files[fi], fd->section, fd->key);
            assert_non_null(rmq_toml_table_get(sec, fd->key));
            char needle[128];
            snprintf(needle, sizeof needle, "`%s.%s`", fd->section, fd->key);
            if (!strstr(docs, needle)) print_error("docs/configuration.md lacks %s\n", needle);
            assert_non_null(strstr(docs, needle));
        }
        rmq_toml_free(doc);
    }

    /* the examples load and say what they mean */
    assert_int_equal(rmq_cfg_broker_load(src_path("config/example-development.toml"), &file, err, sizeof err), RMQ_NONE);
    assert_false(file.wal.fsync_on_write);
    assert_true(file.wal.capacity_bytes == 1ull << 30);
    assert_string_equal(file.wal.path, "/tmp/rustmq-dev/wal");
    assert_string_equal(file.log.level, "debug");
    rmq_cfg_broker_free(&file);
    e = rmq_cfg_broker_load(src_path("config/example-production.toml"), &file, err, sizeof err);
    if (e) print_error("%s\n", err);
    assert_int_equal(e, RMQ_NONE);
    assert_string_equal(file.object_storage.storage_type, "s3");
    assert_string_equal(file.object_storage.bucket, "rustmq-prod-data");
    assert_int_equal(file.controller.endpoints.n, 3);
    assert_string_equal(file.controller.endpoints.items[2], "controller-3.rustmq.internal:9094");
    assert_true(file.wal.capacity_bytes == 200ull << 30);
    assert_true(file.object_storage.upload_bandwidth_bytes_per_sec == 500ull << 20);
    assert_string_equal(file.network.advertised_listen, "broker-101.rustmq.internal:9092");
    rmq_cfg_broker_free(&file);
}

static void expect_broker_err(const char *text, rmq_err_t code, const char *suffix) {
    const char *path = write_tmp("broker.toml", text);
    rmq_broker_config_t c;
    char err[512], want[1024];
    rmq_err_t e = rmq_cfg_broker_load(path, &c, err, sizeof err);
    assert_int_equal(e, code);
    snprintf(want, sizeof want, "config error: %s%s", path, suffix);
    if (strcmp(err, want) != 0) print_error("got  \"%s\"\nwant \"%s\"\n", err, want);
    assert_string_equal(err, want);
}

static void test_file_errors(void **state) {
    (void)state;
    expect_broker_err("[wal]\ncapacity_bytes = 1073741824\ncapcity_bytes = 5\n", RMQ_ERR_CONFIG,
                      ":3: unknown key wal.capcity_bytes");
    expect_broker_err("[broker]\nid = 1\n\n[walx]\npath = \"\"\n", RMQ_ERR_CONFIG, ":4: unknown section [walx]");
    expect_broker_err("[network.quic_config]\nmax_idle_timeout_ms = 1\n", RMQ_ERR_CONFIG,
                      ":1: unknown key network.quic_config");
    expect_broker_err("id = 1\n", RMQ_ERR_CONFIG, ":1: key id: top-level keys are not allowed, put it in a [section]");
    expect_broker_err("[wal]\nfsync_on_write = \"yes\"\n", RMQ_ERR_CONFIG,
                      ":2: key wal.fsync_on_write: expected a boolean, got string");
    expect_broker_err("[broker]\nid = \"broker-001\"\n", RMQ_ERR_CONFIG, ":2: key broker.id: expected an integer, got string");
    expect_broker_err("[wal]\n\ncapacity_bytes = 12\n", RMQ_ERR_CONFIG,
                      ":3: key wal.capacity_bytes: must be between 16777216 and 1099511627776, got 12");
    expect_broker_err("[wal]\ncapacity_bytes = \"12 parsecs\"\n", RMQ_ERR_CONFIG,
                      ":2: key wal.capacity_bytes: expected a size in bytes (e.g. 1048576 or \"1MiB\"), got \"12 parsecs\"");
    expect_broker_err("[broker]\nid = 2147483648\n", RMQ_ERR_CONFIG,
                      ":2: key broker.id: must be between 0 and 2147483647, got 2147483648");
    expect_broker_err("[log]\nlevel = \"verbose\"\n", RMQ_ERR_CONFIG,
                      ":2: key log.level: must be one of trace|debug|info|warn|error, got \"verbose\"");
    expect_broker_err("[cache]\neviction_policy = \"Lru\"\n", RMQ_ERR_CONFIG,
                      ":2: key cache.eviction_policy: must be one of lru, got \"Lru\"");
    expect_broker_err("[network]\nlisten = \"localhost\"\n", RMQ_ERR_CONFIG,
                      ":2: key network.listen: must be host:port, got \"localhost\"");
    expect_broker_err("[controller]\nendpoints = [\"c1:9094\", 7]\n", RMQ_ERR_CONFIG,
                      ":2: key controller.endpoints: item 1: expected a string, got integer");
    expect_broker_err("[controller]\nendpoints = [\"c1:0\"]\n", RMQ_ERR_CONFIG,
                      ":2: key controller.endpoints: port must be between 1 and 65535, got \"c1:0\"");
    /* TOML syntax error: line and column */
    expect_broker_err("[wal]\ncapacity_bytes = 1\nfsync_on_write true\n", RMQ_ERR_PARSE,
                      ": line 3, column 16: expected '=' after key");
    /* cross-field checks name both keys */
    char want[512];
    snprintf(want, sizeof want, ":3: key wal.segment_size_bytes (2147483648) must not exceed key wal.capacity_bytes "
                                "(1073741824, from %s/broker.toml:2)", tmpdir);
    expect_broker_err("[wal]\ncapacity_bytes = \"1GiB\"\nsegment_size_bytes = \"2GiB\"\n", RMQ_ERR_CONFIG, want);
    expect_broker_err("[object_storage]\nstorage_type = \"s3\"\n", RMQ_ERR_CONFIG,
                      ":2: key object_storage.storage_type (\"s3\") requires a non-empty key object_storage.bucket "
                      "(\"\", from default)");
    /* unreadable file */
    rmq_broker_config_t c;
    char err[512];
    assert_int_equal(rmq_cfg_broker_load("/nonexistent/rustmq.toml", &c, err, sizeof err), RMQ_ERR_IO);
    assert_non_null(strstr(err, "config error: /nonexistent/rustmq.toml: cannot read"));
    /* a directory: fopen succeeds on it, the message must still say why */
    assert_int_equal(rmq_cfg_broker_load(tmpdir, &c, err, sizeof err), RMQ_ERR_IO);
    assert_non_null(strstr(err, "Is a directory"));
}

static void test_env_overrides(void **state) {
    (void)state;
    rmq_broker_config_t c;
    char err[512];
    const char *path = write_tmp("env.toml", "[wal]\ncapacity_bytes = \"2GiB\"\n[log]\nlevel = \"warn\"\n");
    setenv("RUSTMQ_BROKER_ID", "7", 1);
    setenv("RUSTMQ_RACK_ID", "rack-b", 1);
    setenv("RUSTMQ_LOG_LEVEL", "debug", 1);
    setenv("RUSTMQ_WAL_PATH", "/srv/wal", 1);
    setenv("RUSTMQ_STORAGE_BUCKET", "bkt", 1);
    setenv("RUSTMQ_STORAGE_REGION", "eu-west-1", 1);
    setenv("RUSTMQ_CACHE_SIZE", "1GiB", 1);
    setenv("RUSTMQ_MAX_CONNECTIONS", "123", 1);
    setenv("RUSTMQ_BATCH_SIZE", "131072", 1);
    setenv("RUSTMQ_WAL__CAPACITY_BYTES", "4294967296", 1);
    setenv("RUSTMQ_NETWORK__LISTEN", "0.0.0.0:19092", 1);
    setenv("RUSTMQ_CONTROLLER__ENDPOINTS", "c1:9094, c2:9094", 1);
    setenv("RUSTMQ_OBJECT_STORAGE__STORAGE_TYPE", "s3", 1);
    setenv("RUSTMQ_TOPICS__AUTO_CREATE", "false", 1);
    setenv("RUSTMQ_CONTROLLER__SNAPSHOT_THRESHOLD", "50", 1); /* controller key: ignored by the broker */
    rmq_err_t e = rmq_cfg_broker_load(path, &c, err, sizeof err);
    if (e) print_error("%s\n", err);
    assert_int_equal(e, RMQ_NONE);
    assert_int_equal(c.broker.id, 7);
    assert_string_equal(c.broker.rack_id, "rack-b");
    assert_string_equal(c.log.level, "debug"); /* env beats the file */
    assert_string_equal(c.wal.path, "/srv/wal");
    assert_string_equal(c.object_storage.bucket, "bkt");
    assert_string_equal(c.object_storage.region, "eu-west-1");
    assert_true(c.cache.read_cache_size_bytes == 1ull << 30);
    assert_int_equal(c.network.max_connections, 123);
    assert_true(c.wal.buffer_size == 131072);
    assert_true(c.wal.capacity_bytes == 4ull << 30);
    assert_string_equal(c.network.listen, "0.0.0.0:19092");
    assert_string_equal(c.network.advertised_listen, "0.0.0.0:19092");
    assert_int_equal(c.controller.endpoints.n, 2);
    assert_string_equal(c.controller.endpoints.items[1], "c2:9094");
    assert_string_equal(c.object_storage.storage_type, "s3");
    assert_false(c.topics.auto_create);
    rmq_cfg_broker_free(&c);

    /* the controller sees its own generic variable */
    rmq_controller_config_t k;
    assert_int_equal(rmq_cfg_controller_load(NULL, &k, err, sizeof err), RMQ_NONE);
    assert_int_equal(k.controller.snapshot_threshold, 50);
    assert_string_equal(k.log.level, "debug");
    rmq_cfg_controller_free(&k);
    clear_env();

    /* bad values name the variable */
    setenv("RUSTMQ_WAL__CAPACITY_BYTES", "12", 1);
    assert_int_equal(rmq_cfg_broker_load(NULL, &c, err, sizeof err), RMQ_ERR_CONFIG);
    assert_string_equal(err, "config error: env RUSTMQ_WAL__CAPACITY_BYTES: key wal.capacity_bytes: must be between "
                             "16777216 and 1099511627776, got 12");
    clear_env();
    setenv("RUSTMQ_BROKER_ID", "broker-001", 1);
    assert_int_equal(rmq_cfg_broker_load(NULL, &c, err, sizeof err), RMQ_ERR_CONFIG);
    assert_string_equal(err, "config error: env RUSTMQ_BROKER_ID: key broker.id: expected an integer, got \"broker-001\"");
    clear_env();
    setenv("RUSTMQ_WAL__FSYNC_ON_WRITE", "maybe", 1);
    assert_int_equal(rmq_cfg_broker_load(NULL, &c, err, sizeof err), RMQ_ERR_CONFIG);
    assert_string_equal(err, "config error: env RUSTMQ_WAL__FSYNC_ON_WRITE: key wal.fsync_on_write: expected true or "
                             "false, got \"maybe\"");
    clear_env();
    /* blanks around a number: refused on either side, not just after it */
    setenv("RUSTMQ_NETWORK__IO_THREADS", " 4", 1);
    assert_int_equal(rmq_cfg_broker_load(NULL, &c, err, sizeof err), RMQ_ERR_CONFIG);
    assert_string_equal(err, "config error: env RUSTMQ_NETWORK__IO_THREADS: key network.io_threads: expected an "
                             "integer, got \" 4\"");
    setenv("RUSTMQ_NETWORK__IO_THREADS", "4 ", 1);
    assert_int_equal(rmq_cfg_broker_load(NULL, &c, err, sizeof err), RMQ_ERR_CONFIG);
    clear_env();
    setenv("RUSTMQ_ADMIN__GLOBAL_RPS", " 5", 1);
    assert_int_equal(rmq_cfg_broker_load(NULL, &c, err, sizeof err), RMQ_ERR_CONFIG);
    clear_env();
    /* cross-field conflict introduced by the environment names the variable */
    setenv("RUSTMQ_WAL__SEGMENT_SIZE_BYTES", "20GiB", 1);
    assert_int_equal(rmq_cfg_broker_load(NULL, &c, err, sizeof err), RMQ_ERR_CONFIG);
    assert_string_equal(err, "config error: env RUSTMQ_WAL__SEGMENT_SIZE_BYTES: key wal.segment_size_bytes "
                             "(21474836480) must not exceed key wal.capacity_bytes (10737418240, from default)");
    clear_env();
    /* unknown generic names are ignored (warned), not fatal */
    setenv("RUSTMQ_NOPE__NOTHING", "1", 1);
    assert_int_equal(rmq_cfg_broker_load(NULL, &c, err, sizeof err), RMQ_NONE);
    rmq_cfg_broker_free(&c);
    clear_env();
}

static void test_controller_checks(void **state) {
    (void)state;
    rmq_controller_config_t k;
    char err[512];
    const char *p = write_tmp("ctl.toml", "[controller]\nnode_id = 2\npeers = [\"1@10.0.0.1:9095\", \"2@10.0.0.2:9095\", "
                                          "\"3@[::1]:9095\"]\n");
    rmq_err_t e = rmq_cfg_controller_load(p, &k, err, sizeof err);
    if (e) print_error("%s\n", err);
    assert_int_equal(e, RMQ_NONE);
    assert_int_equal(k.controller.peers.n, 3);
    int32_t id;
    char host[64];
    uint16_t port;
    assert_int_equal(rmq_cfg_parse_peer(k.controller.peers.items[2], &id, host, sizeof host, &port), RMQ_NONE);
    assert_int_equal(id, 3);
    assert_string_equal(host, "[::1]");
    assert_int_equal(port, 9095);
    rmq_cfg_controller_free(&k);

    p = write_tmp("ctl.toml", "[controller]\nnode_id = 4\npeers = [\"1@h1:9095\", \"2@h2:9095\"]\n");
    assert_int_equal(rmq_cfg_controller_load(p, &k, err, sizeof err), RMQ_ERR_CONFIG);
    assert_non_null(strstr(err, "key controller.node_id (4) must appear in key controller.peers"));
    p = write_tmp("ctl.toml", "[controller]\npeers = [\"1@h1:9095\", \"1@h2:9095\"]\n");
    assert_int_equal(rmq_cfg_controller_load(p, &k, err, sizeof err), RMQ_ERR_CONFIG);
    assert_non_null(strstr(err, ":2: key controller.peers: peer id 1 appears twice"));
    p = write_tmp("ctl.toml", "[controller]\npeers = [\"h1:9095\"]\n");
    assert_int_equal(rmq_cfg_controller_load(p, &k, err, sizeof err), RMQ_ERR_CONFIG);
    assert_non_null(strstr(err, "must be \"id@host:port\""));
    p = write_tmp("ctl.toml", "[controller]\nelection_timeout_ms = 100\nheartbeat_interval_ms = 100\n");
    assert_int_equal(rmq_cfg_controller_load(p, &k, err, sizeof err), RMQ_ERR_CONFIG);
    assert_non_null(strstr(err, "key controller.heartbeat_interval_ms (100) must be less than key controller.election_timeout_ms"));
    p = write_tmp("ctl.toml", "[wal]\npath = \"x\"\n");
    assert_int_equal(rmq_cfg_controller_load(p, &k, err, sizeof err), RMQ_ERR_CONFIG);
    assert_non_null(strstr(err, ":1: unknown section [wal]"));
}

static void test_sizes(void **state) {
    (void)state;
    uint64_t v;
    assert_int_equal(rmq_cfg_parse_size("0", &v), RMQ_NONE);
    assert_true(v == 0);
    assert_int_equal(rmq_cfg_parse_size("64KiB", &v), RMQ_NONE);
    assert_true(v == 65536);
    assert_int_equal(rmq_cfg_parse_size("10 GiB", &v), RMQ_NONE);
    assert_true(v == 10ull << 30);
    assert_int_equal(rmq_cfg_parse_size("1GB", &v), RMQ_NONE);
    assert_true(v == 1000000000ull);
    assert_int_equal(rmq_cfg_parse_size("512b", &v), RMQ_NONE);
    assert_true(v == 512);
    assert_int_equal(rmq_cfg_parse_size("-1", &v), RMQ_ERR_INVALID_ARG);
    assert_int_equal(rmq_cfg_parse_size("1.5GiB", &v), RMQ_ERR_INVALID_ARG);
    assert_int_equal(rmq_cfg_parse_size("99999999999TiB", &v), RMQ_ERR_INVALID_ARG);
    assert_int_equal(rmq_cfg_parse_size("", &v), RMQ_ERR_INVALID_ARG);
    assert_int_equal(rmq_cfg_parse_size("12 parsecs", &v), RMQ_ERR_INVALID_ARG);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_shipped_files),
        cmocka_unit_test(test_file_errors),
        cmocka_unit_test(test_env_overrides),
        cmocka_unit_test(test_controller_checks),
        cmocka_unit_test(test_sizes),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
