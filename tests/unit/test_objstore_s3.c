/* test_objstore_s3.c - the S3 backend (src/storage/objstore_s3.c) against a
 * real S3-protocol server, s3rver (npm; tests/tools/s3rver.sh installs it
 * into tests/integration/.node/). The test forks s3rver on a free loopback
 * port for the whole group; when it is not installed (or node is missing)
 * it prints "SKIP: ..." and passes.
 *
 * Covers put/get/head, byte ranges and their errors, keys that need URI
 * encoding, empty objects, ListObjectsV2 pagination over several pages,
 * multipart upload (s3rver ignores the 5 MiB part minimum, so small parts
 * are used), multi-object delete, NOT_FOUND, concurrent use from threads,
 * and one run through tests/tools/faultproxy.py showing that injected
 * 500/503/stalls/resets/truncations come back as RMQ_ERR_AGAIN /
 * RMQ_ERR_TIMEOUT / RMQ_ERR_CORRUPT and never as silent short data.
 *
 * The parser-only tests (XML responses) run even without s3rver. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "storage/objstore.h"

#define BUCKET "rmq-test"

static struct {
    bool available;
    char src[1024];
    char dir[64];
    pid_t pid;
    pid_t proxy; /* faultproxy.py, killed in teardown even after a failed assert */
    int port;
    rmq_obj_store_t *s;
} G;

static int rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(p);
}

static int free_port(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK), .sin_port = 0};
    socklen_t l = sizeof a;
    if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || getsockname(fd, (struct sockaddr *)&a, &l) != 0) {
        close(fd);
        return -1;
    }
    close(fd);
    return ntohs(a.sin_port);
}

static bool port_open(int port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
                            .sin_port = htons((uint16_t)port)};
    bool ok = connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
    close(fd);
    return ok;
}

static void source_dir(char *out, size_t cap) {
    const char *env = getenv("RMQ_SOURCE_DIR");
    if (env && *env) {
        snprintf(out, cap, "%s", env);
        return;
    }
    snprintf(out, cap, "%s", __FILE__); /* .../tests/unit/test_objstore_s3.c */
    char *p = strstr(out, "/tests/unit/");
    if (p) *p = '\0';
    else snprintf(out, cap, ".");
}

static rmq_obj_store_t *open_store(int port, long timeout_ms) {
    char ep[64];
    snprintf(ep, sizeof ep, "http://127.0.0.1:%d", port);
    rmq_obj_config_t cfg = {.type = RMQ_OBJ_S3,
                            .endpoint = ep,
                            .region = "us-east-1",
                            .bucket = BUCKET,
                            .path_style = true,
                            .access_key = "S3RVER",
                            .secret_key = "S3RVER",
                            .multipart_threshold = 1 << 20,
                            .part_size = 256 << 10,
                            .allow_small_parts = true,
                            .connect_timeout_ms = 2000,
                            .timeout_ms = timeout_ms,
                            .low_speed_time_s = 5};
    rmq_obj_store_t *s = NULL;
    rmq_obj_status_t st;
    if (rmq_obj_open(&cfg, &s, &st) != 0) {
        fprintf(stderr, "open: %s\n", st.msg);
        return NULL;
    }
    return s;
}

static int group_setup(void **state) {
    (void)state;
    source_dir(G.src, sizeof G.src);
    char bin[1200];
    snprintf(bin, sizeof bin, "%s/tests/integration/.node/node_modules/.bin/s3rver", G.src);
    if (access(bin, X_OK) != 0 || system("command -v node >/dev/null 2>&1") != 0) {
        printf("SKIP: s3rver not installed (run tests/tools/s3rver.sh install)\n");
        return 0;
    }
    snprintf(G.dir, sizeof G.dir, "/tmp/rmq-s3rver-XXXXXX");
    if (!mkdtemp(G.dir)) return -1;
    G.port = free_port();
    char data[128], logp[128], port[16];
    snprintf(data, sizeof data, "%s/data", G.dir);
    snprintf(logp, sizeof logp, "%s/s3rver.log", G.dir);
    snprintf(port, sizeof port, "%d", G.port);
    mkdir(data, 0755);
    G.pid = fork();
    if (G.pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGTERM); /* never outlive a crashed test */
        int fd = open(logp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        setenv("NODE_OPTIONS", "--openssl-legacy-provider", 1);
        execl(bin, "s3rver", "-d", data, "-a", "127.0.0.1", "-p", port, "--silent", "--configure-bucket", BUCKET,
              (char *)NULL);
        _exit(127);
    }
    /* ready when the port accepts and the bucket answers a list */
    for (int i = 0; i < 300; i++) {
        int wst;
        if (waitpid(G.pid, &wst, WNOHANG) == G.pid) {
            fprintf(stderr, "s3rver exited early; see %s\n", logp);
            G.pid = 0;
            return -1;
        }
        if (port_open(G.port)) {
            if (!G.s) G.s = open_store(G.port, 10000);
            rmq_obj_list_t l;
            rmq_obj_list_init(&l);
            rmq_err_t err = rmq_obj_list(G.s, NULL, NULL, 1, &l, NULL);
            rmq_obj_list_free(&l);
            if (err == 0) {
                G.available = true;
                return 0;
            }
        }
        usleep(50000);
    }
    fprintf(stderr, "s3rver did not become ready on port %d\n", G.port);
    return -1;
}

static int group_teardown(void **state) {
    (void)state;
    rmq_obj_close(G.s);
    if (G.proxy > 0) {
        kill(G.proxy, SIGTERM);
        waitpid(G.proxy, NULL, 0);
    }
    if (G.pid > 0) {
        kill(G.pid, SIGTERM);
        waitpid(G.pid, NULL, 0);
    }
    if (G.dir[0]) nftw(G.dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
    return 0;
}

#define NEED_S3()                                                                                                     \
    do {                                                                                                              \
        if (!G.available) {                                                                                           \
            printf("SKIP: s3rver not installed (run tests/tools/s3rver.sh install)\n");                             \
            return;                                                                                                   \
        }                                                                                                             \
    } while (0)

static uint8_t *pattern(size_t n, unsigned seed) {
    uint8_t *d = malloc(n ? n : 1);
    uint32_t x = seed * 2654435761u + 1;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        d[i] = (uint8_t)x;
    }
    return d;
}

static void must(rmq_err_t err, const rmq_obj_status_t *st) {
    if (err) fprintf(stderr, "error %s: %s\n", rmq_err_name(err), st->msg);
    assert_int_equal(err, 0);
}

/* s3rver's multi-object delete races with itself when several keys share a
 * directory (500 "ENOENT scandir"); the objects are gone after a retry. The
 * error correctly comes back as RMQ_ERR_AGAIN, and retrying is the caller's
 * job, as it will be the uploader's and retention's. */
static rmq_err_t delete_retry(rmq_obj_store_t *s, const char *const *keys, size_t n, rmq_obj_status_t *st) {
    rmq_err_t err = RMQ_ERR_AGAIN;
    for (int attempt = 0; attempt < 8 && err == RMQ_ERR_AGAIN; attempt++) err = rmq_obj_delete(s, keys, n, st);
    return err;
}

/* Note: s3rver 3.7.1 answers "Range: bytes=0-0" with the whole object (its
 * end=0 is falsy); our client reports that as RMQ_ERR_CORRUPT, so the
 * ranges below avoid a 1-byte read at offset 0. */
static void test_put_get_head(void **state) {
    (void)state;
    NEED_S3();
    rmq_obj_status_t st;
    size_t n = 70000;
    uint8_t *d = pattern(n, 1);
    must(rmq_obj_put(G.s, "seg/0001.obj", d, n, &st), &st);
    uint64_t size = 0;
    must(rmq_obj_head(G.s, "seg/0001.obj", &size, &st), &st);
    assert_int_equal(size, n);
    rmq_buf_t b;
    rmq_buf_init(&b);
    must(rmq_obj_get(G.s, "seg/0001.obj", 0, -1, &b, &st), &st);
    assert_int_equal(b.len, n);
    assert_memory_equal(b.data, d, n);
    /* ranges */
    struct {
        uint64_t off;
        int64_t len;
    } r[] = {{0, 2}, {1, 10}, {69999, 1}, {1000, 50000}, {60000, -1}, {0, (int64_t)70000}};
    for (size_t i = 0; i < sizeof r / sizeof r[0]; i++) {
        rmq_buf_reset(&b);
        must(rmq_obj_get(G.s, "seg/0001.obj", r[i].off, r[i].len, &b, &st), &st);
        size_t want = r[i].len < 0 ? n - r[i].off : (size_t)r[i].len;
        assert_int_equal(b.len, want);
        assert_memory_equal(b.data, d + r[i].off, want);
    }
    /* a range running past the end: the server clamps it, we refuse short data */
    rmq_buf_reset(&b);
    assert_int_equal(rmq_obj_get(G.s, "seg/0001.obj", 69990, 100, &b, &st), RMQ_ERR_CORRUPT);
    assert_int_equal(b.len, 0);
    /* starting past the end: 416 */
    assert_int_equal(rmq_obj_get(G.s, "seg/0001.obj", 80000, 10, &b, &st), RMQ_ERR_INVALID_ARG);
    assert_int_equal(st.http_status, 416);
    assert_int_equal(b.len, 0);
    /* zero-length read checks existence only */
    assert_int_equal(rmq_obj_get(G.s, "seg/0001.obj", 5, 0, &b, &st), 0);
    assert_int_equal(rmq_obj_get(G.s, "seg/none", 0, 0, &b, &st), RMQ_ERR_NOT_FOUND);
    /* missing keys */
    assert_int_equal(rmq_obj_get(G.s, "seg/none", 0, -1, &b, &st), RMQ_ERR_NOT_FOUND);
    assert_int_equal(st.http_status, 404);
    assert_int_equal(rmq_obj_head(G.s, "seg/none", &size, &st), RMQ_ERR_NOT_FOUND);
    assert_int_equal(b.len, 0);
    /* empty object */
    must(rmq_obj_put(G.s, "seg/empty", NULL, 0, &st), &st);
    must(rmq_obj_head(G.s, "seg/empty", &size, &st), &st);
    assert_int_equal(size, 0);
    must(rmq_obj_get(G.s, "seg/empty", 0, -1, &b, &st), &st);
    assert_int_equal(b.len, 0);
    rmq_buf_free(&b);
    free(d);
}

static void test_key_encoding(void **state) {
    (void)state;
    NEED_S3();
    rmq_obj_status_t st;
    const char *keys[] = {"enc/a b", "enc/plus+sign", "enc/amp&eq=q?x", "enc/\xe1\x88\xb4-utf8", "enc/tilde~_.-",
                          "enc/pct%41"};
    size_t nk = sizeof keys / sizeof keys[0];
    for (size_t i = 0; i < nk; i++) must(rmq_obj_put(G.s, keys[i], keys[i], strlen(keys[i]), &st), &st);
    rmq_buf_t b;
    rmq_buf_init(&b);
    for (size_t i = 0; i < nk; i++) {
        rmq_buf_reset(&b);
        must(rmq_obj_get(G.s, keys[i], 0, -1, &b, &st), &st);
        assert_int_equal(b.len, strlen(keys[i]));
        assert_memory_equal(b.data, keys[i], b.len);
    }
    rmq_buf_free(&b);
    /* listing decodes the XML back to the same keys */
    rmq_obj_list_t l;
    rmq_obj_list_init(&l);
    must(rmq_obj_list(G.s, "enc/", NULL, 100, &l, &st), &st);
    assert_int_equal(l.n, nk);
    for (size_t i = 0; i < nk; i++) {
        bool found = false;
        for (size_t j = 0; j < l.n; j++) found |= strcmp(l.entries[j].key, keys[i]) == 0;
        if (!found) fprintf(stderr, "key %s not listed\n", keys[i]);
        assert_true(found);
    }
    rmq_obj_list_free(&l);
    must(delete_retry(G.s, keys, nk, &st), &st);
}

static void test_list_pagination_and_delete(void **state) {
    (void)state;
    NEED_S3();
    rmq_obj_status_t st;
    char *keys[25];
    for (int i = 0; i < 25; i++) {
        char k[64];
        snprintf(k, sizeof k, "pg/%02d/seg-%d", i % 5, i);
        keys[i] = strdup(k);
        must(rmq_obj_put(G.s, k, k, (size_t)i, &st), &st);
    }
    must(rmq_obj_put(G.s, "pgx-outside", "x", 1, &st), &st);
    rmq_obj_list_t l;
    rmq_obj_list_init(&l);
    char *token = NULL, *prev = NULL;
    int pages = 0, total = 0;
    do {
        must(rmq_obj_list(G.s, "pg/", token, 7, &l, &st), &st);
        pages++;
        assert_true(l.n <= 7);
        for (size_t i = 0; i < l.n; i++) {
            assert_int_equal(strncmp(l.entries[i].key, "pg/", 3), 0);
            if (prev) assert_true(strcmp(prev, l.entries[i].key) < 0);
            free(prev);
            prev = strdup(l.entries[i].key);
            int idx = atoi(strrchr(l.entries[i].key, '-') + 1);
            assert_int_equal(l.entries[i].size, idx);
            total++;
        }
        free(token);
        token = l.truncated ? strdup(l.next_token) : NULL;
        rmq_obj_list_free(&l);
    } while (token && pages < 20);
    free(prev);
    assert_int_equal(total, 25);
    assert_int_equal(pages, 4);

    /* batch delete, with a key that does not exist */
    const char *del[26];
    for (int i = 0; i < 25; i++) del[i] = keys[i];
    del[25] = "pg/never-existed";
    must(delete_retry(G.s, del, 26, &st), &st);
    must(rmq_obj_list(G.s, "pg/", NULL, 100, &l, &st), &st);
    assert_int_equal(l.n, 0);
    assert_false(l.truncated);
    rmq_obj_list_free(&l);
    must(rmq_obj_list(G.s, "pgx", NULL, 100, &l, &st), &st);
    assert_int_equal(l.n, 1);
    rmq_obj_list_free(&l);
    rmq_buf_t b;
    rmq_buf_init(&b);
    assert_int_equal(rmq_obj_get(G.s, keys[3], 0, -1, &b, &st), RMQ_ERR_NOT_FOUND);
    rmq_buf_free(&b);
    for (int i = 0; i < 25; i++) free(keys[i]);
}

static void test_multipart(void **state) {
    (void)state;
    NEED_S3();
    rmq_obj_status_t st;
    size_t n = (1 << 20) + 300000; /* threshold 1 MiB, parts 256 KiB: 6 parts */
    uint8_t *d = pattern(n, 7);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    must(rmq_obj_put(G.s, "mp/big.obj", d, n, &st), &st);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    uint64_t size;
    must(rmq_obj_head(G.s, "mp/big.obj", &size, &st), &st);
    assert_int_equal(size, n);
    rmq_buf_t b;
    rmq_buf_init(&b);
    must(rmq_obj_get(G.s, "mp/big.obj", 0, -1, &b, &st), &st);
    assert_int_equal(b.len, n);
    assert_memory_equal(b.data, d, n);
    /* a range across a part boundary */
    rmq_buf_reset(&b);
    must(rmq_obj_get(G.s, "mp/big.obj", (256 << 10) - 100, 200, &b, &st), &st);
    assert_memory_equal(b.data, d + (256 << 10) - 100, 200);
    printf("multipart put of %zu bytes in 6 parts: %.1f ms\n", n,
           (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6);
    rmq_buf_free(&b);
    free(d);
    const char *k[] = {"mp/big.obj"};
    must(delete_retry(G.s, k, 1, &st), &st);
}

typedef struct thr {
    int id;
    int failures;
} thr_t;

static void *worker(void *arg) {
    thr_t *t = arg;
    rmq_buf_t b;
    rmq_buf_init(&b);
    for (int i = 0; i < 10; i++) {
        char key[64];
        snprintf(key, sizeof key, "thr/%d/%d", t->id, i);
        size_t n = 1000 + (size_t)(t->id * 100 + i);
        uint8_t *d = pattern(n, (unsigned)(t->id * 1000 + i));
        rmq_obj_status_t st;
        if (rmq_obj_put(G.s, key, d, n, &st) != 0) t->failures++;
        rmq_buf_reset(&b);
        if (rmq_obj_get(G.s, key, 10, 500, &b, &st) != 0 || b.len != 500 || memcmp(b.data, d + 10, 500) != 0)
            t->failures++;
        free(d);
    }
    rmq_buf_free(&b);
    return NULL;
}

static void test_threads(void **state) {
    (void)state;
    NEED_S3();
    pthread_t th[4];
    thr_t ts[4];
    for (int i = 0; i < 4; i++) {
        ts[i] = (thr_t){.id = i};
        pthread_create(&th[i], NULL, worker, &ts[i]);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(ts[i].failures, 0);
    }
    rmq_obj_list_t l;
    rmq_obj_list_init(&l);
    rmq_obj_status_t st;
    must(rmq_obj_list(G.s, "thr/", NULL, 1000, &l, &st), &st);
    assert_int_equal(l.n, 40);
    const char *keys[40];
    for (size_t i = 0; i < l.n; i++) keys[i] = l.entries[i].key;
    must(delete_retry(G.s, keys, l.n, &st), &st);
    rmq_obj_list_free(&l);
}

/* ---- through the fault-injecting proxy ---- */
static pid_t start_proxy(int upstream, int *port, const char *extra_rates) {
    char script[1200], up[32];
    snprintf(script, sizeof script, "%s/tests/tools/faultproxy.py", G.src);
    snprintf(up, sizeof up, "127.0.0.1:%d", upstream);
    int pfd[2];
    if (pipe(pfd) != 0) return -1;
    pid_t pid = fork();
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        dup2(pfd[1], 1);
        close(pfd[0]);
        close(pfd[1]);
        char cmd[2048];
        snprintf(cmd, sizeof cmd, "exec /usr/bin/python3 %s --upstream %s --seed 42 %s", script, up, extra_rates);
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    close(pfd[1]);
    char line[64] = "";
    size_t got = 0;
    while (got < sizeof line - 1) {
        ssize_t r = read(pfd[0], line + got, 1);
        if (r <= 0 || line[got] == '\n') break;
        got++;
    }
    line[got] = '\0';
    close(pfd[0]);
    if (sscanf(line, "LISTENING %d", port) != 1) {
        kill(pid, SIGTERM);
        waitpid(pid, NULL, 0);
        return -1;
    }
    return pid;
}

static void test_fault_proxy(void **state) {
    (void)state;
    NEED_S3();
    if (access("/usr/bin/python3", X_OK) != 0) {
        printf("SKIP: /usr/bin/python3 not available for faultproxy.py\n");
        return;
    }
    rmq_obj_status_t st;
    size_t n = 200000;
    uint8_t *d = pattern(n, 99);
    must(rmq_obj_put(G.s, "fault/obj", d, n, &st), &st);

    int pport = 0;
    pid_t proxy = start_proxy(G.port, &pport,
                              "--p500 0.1 --p503 0.1 --reset 0.1 --truncate 0.2 --stall 0.05 --stall-seconds 3");
    assert_true(proxy > 0);
    G.proxy = proxy;
    rmq_obj_store_t *fs = open_store(pport, 1000);
    assert_non_null(fs);

    int ok = 0, again = 0, timeout = 0, corrupt = 0;
    rmq_buf_t b;
    rmq_buf_init(&b);
    for (int i = 0; i < 40; i++) {
        uint64_t off = (uint64_t)(i * 4099) % 100000;
        int64_t len = i % 4 == 0 ? -1 : 50000 + i;
        size_t want = len < 0 ? n - off : (size_t)len;
        rmq_buf_reset(&b);
        rmq_buf_put(&b, "pre", 3); /* get appends; errors must leave this alone */
        rmq_err_t err = rmq_obj_get(fs, "fault/obj", off, len, &b, &st);
        if (err == 0) {
            ok++;
            assert_int_equal(b.len, 3 + want);
            assert_memory_equal(b.data + 3, d + off, want);
            continue;
        }
        assert_int_equal(b.len, 3); /* never partial data */
        assert_true(st.msg[0] != '\0');
        if (err == RMQ_ERR_AGAIN) again++;
        else if (err == RMQ_ERR_TIMEOUT) timeout++;
        else if (err == RMQ_ERR_CORRUPT) corrupt++;
        else {
            fprintf(stderr, "unexpected %s: %s\n", rmq_err_name(err), st.msg);
            fail();
        }
    }
    /* puts through the proxy: success or a retriable error; a success is whole */
    int put_ok = 0, put_retry = 0;
    for (int i = 0; i < 10; i++) {
        char key[32];
        snprintf(key, sizeof key, "fault/put-%d", i);
        rmq_err_t err = rmq_obj_put(fs, key, d, 100000, &st);
        if (err == 0) {
            put_ok++;
            rmq_buf_reset(&b);
            must(rmq_obj_get(G.s, key, 0, -1, &b, &st), &st);
            assert_int_equal(b.len, 100000);
            assert_memory_equal(b.data, d, 100000);
        } else {
            assert_true(err == RMQ_ERR_AGAIN || err == RMQ_ERR_TIMEOUT);
            put_retry++;
        }
    }
    /* list through the proxy: a truncated/failed page is an error, not a short page */
    int list_ok = 0, list_err = 0;
    for (int i = 0; i < 10; i++) {
        rmq_obj_list_t l;
        rmq_obj_list_init(&l);
        rmq_err_t err = rmq_obj_list(fs, "fault/put-", NULL, 100, &l, &st);
        if (err == 0) {
            list_ok++;
            /* a PUT whose answer was lost may still have landed */
            assert_true(l.n >= (size_t)put_ok && l.n <= 10);
        } else {
            assert_int_equal(l.n, 0);
            list_err++;
        }
        rmq_obj_list_free(&l);
    }
    printf("faultproxy GETs: ok=%d again=%d timeout=%d corrupt=%d; PUTs ok=%d retriable=%d; LISTs ok=%d err=%d\n",
           ok, again, timeout, corrupt, put_ok, put_retry, list_ok, list_err);
    assert_true(ok > 0);
    assert_true(again > 0);
    assert_true(corrupt > 0);
    assert_true(ok + again + timeout + corrupt == 40);
    rmq_buf_free(&b);
    rmq_obj_close(fs);
    kill(proxy, SIGTERM);
    waitpid(proxy, NULL, 0);
    G.proxy = 0;
    free(d);
}

static void test_connection_refused(void **state) {
    (void)state;
    int port = free_port();
    rmq_obj_store_t *s = open_store(port, 2000);
    assert_non_null(s);
    rmq_buf_t b;
    rmq_buf_init(&b);
    rmq_obj_status_t st;
    assert_int_equal(rmq_obj_get(s, "x", 0, -1, &b, &st), RMQ_ERR_AGAIN);
    assert_true(rmq_err_retriable(RMQ_ERR_AGAIN));
    rmq_buf_free(&b);
    rmq_obj_close(s);
}

/* ---- XML parsers (no server needed) ---- */
static void test_parse_list(void **state) {
    (void)state;
    const char *xml =
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        "<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Name>b</Name><Prefix>p/</Prefix>"
        "<KeyCount>2</KeyCount><MaxKeys>2</MaxKeys><IsTruncated>true</IsTruncated>"
        "<Contents><Key>p/a&amp;b&lt;c&gt;&quot;&apos;&#65;&#x42;&#x1234;</Key><LastModified>x</LastModified>"
        "<ETag>&quot;abc&quot;</ETag><Size>123</Size><StorageClass>STANDARD</StorageClass></Contents>"
        "<!-- comment --><Contents><Key><![CDATA[p/<raw>]]></Key><Size>18446744073709551615</Size></Contents>"
        "<NextContinuationToken>tok/+=</NextContinuationToken></ListBucketResult>";
    rmq_obj_list_t l;
    rmq_obj_list_init(&l);
    assert_int_equal(rmq_s3_parse_list(xml, strlen(xml), &l), 0);
    assert_int_equal(l.n, 2);
    assert_string_equal(l.entries[0].key, "p/a&b<c>\"'AB\xe1\x88\xb4");
    assert_int_equal(l.entries[0].size, 123);
    assert_string_equal(l.entries[1].key, "p/<raw>");
    assert_true(l.entries[1].size == UINT64_MAX);
    assert_true(l.truncated);
    assert_string_equal(l.next_token, "tok/+=");
    rmq_obj_list_free(&l);

    const char *bad[] = {
        "",
        "<ListBucketResult>",
        "<ListBucketResult><Contents><Key>a</Key></Contents></ListBucketResult>",             /* no size */
        "<ListBucketResult><Contents><Key>a</Key><Size>-1</Size></Contents></ListBucketResult>",
        "<ListBucketResult><Contents><Key>a</Key><Size>18446744073709551616</Size></Contents></ListBucketResult>",
        "<ListBucketResult><Contents><Key>a&bogus;</Key><Size>1</Size></Contents></ListBucketResult>",
        "<ListBucketResult><Contents><Key>a&#0;</Key><Size>1</Size></Contents></ListBucketResult>",
        "<ListBucketResult><Contents><Key>a&#xD800;</Key><Size>1</Size></Contents></ListBucketResult>",
        "<ListBucketResult><IsTruncated>true</IsTruncated></ListBucketResult>", /* no token */
        "<ListBucketResult><IsTruncated>maybe</IsTruncated></ListBucketResult>",
        "<ListBucketResult></Wrong>",
        "<Other/>",
        "<ListBucketResult/><ListBucketResult/>",
        "<ListBucketResult><a><b><c><d><e><f><g><h><i><j><k><l><m><n><o><p><q></q></p></o></n></m></l></k></j></i>"
        "</h></g></f></e></d></c></b></a></ListBucketResult>",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        rmq_obj_list_init(&l);
        rmq_err_t err = rmq_s3_parse_list(bad[i], strlen(bad[i]), &l);
        if (err == 0) fprintf(stderr, "accepted bad list %zu\n", i);
        assert_int_not_equal(err, 0);
        rmq_obj_list_free(&l);
    }
    /* an empty, complete listing */
    const char *empty = "<ListBucketResult><IsTruncated>false</IsTruncated><KeyCount>0</KeyCount></ListBucketResult>";
    rmq_obj_list_init(&l);
    assert_int_equal(rmq_s3_parse_list(empty, strlen(empty), &l), 0);
    assert_int_equal(l.n, 0);
    assert_false(l.truncated);
    rmq_obj_list_free(&l);
}

static void test_parse_others(void **state) {
    (void)state;
    const char *init = "<?xml version=\"1.0\"?><InitiateMultipartUploadResult><Bucket>b</Bucket><Key>k</Key>"
                       "<UploadId>VXBsb2FkIElE&amp;x</UploadId></InitiateMultipartUploadResult>";
    char *id = NULL;
    assert_int_equal(rmq_s3_parse_upload_id(init, strlen(init), &id), 0);
    assert_string_equal(id, "VXBsb2FkIElE&x");
    free(id);
    const char *noid = "<InitiateMultipartUploadResult><Bucket>b</Bucket></InitiateMultipartUploadResult>";
    assert_int_not_equal(rmq_s3_parse_upload_id(noid, strlen(noid), &id), 0);
    assert_null(id);

    const char *err = "<?xml version=\"1.0\"?>\n<Error><Code>NoSuchKey</Code><Message>The key &lt;k&gt; does not "
                      "exist</Message><Key>k</Key></Error>";
    char code[32], msg[64];
    assert_int_equal(rmq_s3_parse_error(err, strlen(err), code, sizeof code, msg, sizeof msg), 0);
    assert_string_equal(code, "NoSuchKey");
    assert_string_equal(msg, "The key <k> does not exist");
    char tiny[4];
    assert_int_equal(rmq_s3_parse_error(err, strlen(err), tiny, sizeof tiny, msg, sizeof msg), 0);
    assert_string_equal(tiny, "NoS");
    const char *ok = "<CompleteMultipartUploadResult><ETag>x</ETag></CompleteMultipartUploadResult>";
    assert_int_equal(rmq_s3_parse_error(ok, strlen(ok), code, sizeof code, msg, sizeof msg), RMQ_ERR_NOT_FOUND);

    const char *dr = "<DeleteResult><Deleted><Key>a</Key></Deleted><Error><Key>b</Key><Code>AccessDenied</Code>"
                     "<Message>no</Message></Error><Error><Key>c</Key><Code>InternalError</Code></Error>"
                     "</DeleteResult>";
    size_t nerr = 0;
    char first[128];
    assert_int_equal(rmq_s3_parse_delete_result(dr, strlen(dr), &nerr, first, sizeof first), 0);
    assert_int_equal(nerr, 2);
    assert_string_equal(first, "b: AccessDenied no");
    const char *quiet = "<DeleteResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"/>";
    assert_int_equal(rmq_s3_parse_delete_result(quiet, strlen(quiet), &nerr, first, sizeof first), 0);
    assert_int_equal(nerr, 0);
    assert_int_not_equal(rmq_s3_parse_delete_result("<Error/>", 8, &nerr, first, sizeof first), 0);
}

int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_list),
        cmocka_unit_test(test_parse_others),
        cmocka_unit_test(test_connection_refused),
        cmocka_unit_test(test_put_get_head),
        cmocka_unit_test(test_key_encoding),
        cmocka_unit_test(test_list_pagination_and_delete),
        cmocka_unit_test(test_multipart),
        cmocka_unit_test(test_threads),
        cmocka_unit_test(test_fault_proxy),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
