/* test_objstore_local.c - the local-directory object store
 * (src/storage/objstore_local.c) through the rmq_obj_* interface: put/get/
 * head, byte ranges and their errors, key validation, sorted paginated
 * listing with prefixes, batch delete, atomic replace (no temp files left,
 * readers never see a partial object while writers replace it), thread
 * safety, and a fault-injecting wrapper built on the ops table. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <stdbool.h>
#include <cmocka.h>

#include <dirent.h>
#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "storage/objstore.h"
#include "storage_test_util.h"

static int rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(p);
}

typedef struct fx {
    char dir[64];
    rmq_obj_store_t *s;
} fx_t;

static int setup(void **state) {
    fx_t *f = calloc(1, sizeof(*f));
    snprintf(f->dir, sizeof f->dir, "/tmp/rmq-objlocal-XXXXXX");
    if (!mkdtemp(f->dir)) return -1;
    char root[128];
    snprintf(root, sizeof root, "%s/objects", f->dir);
    rmq_obj_config_t cfg = {.type = RMQ_OBJ_LOCAL, .root = root};
    rmq_obj_status_t st;
    if (rmq_obj_open(&cfg, &f->s, &st) != 0) {
        fprintf(stderr, "open: %s\n", st.msg);
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state) {
    fx_t *f = *state;
    rmq_obj_close(f->s);
    nftw(f->dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
    free(f);
    return 0;
}

static void put_str(rmq_obj_store_t *s, const char *key, const char *v) {
    rmq_obj_status_t st;
    rmq_err_t err = rmq_obj_put(s, key, v, strlen(v), &st);
    if (err) fprintf(stderr, "put %s: %s\n", key, st.msg);
    assert_int_equal(err, 0);
}

static void test_put_get_head(void **state) {
    fx_t *f = *state;
    rmq_obj_status_t st;
    put_str(f->s, "topic-a/0/00000000000000000000.seg", "hello object store");
    rmq_buf_t b;
    rmq_buf_init(&b);
    assert_int_equal(rmq_obj_get(f->s, "topic-a/0/00000000000000000000.seg", 0, -1, &b, &st), 0);
    assert_int_equal(b.len, 18);
    assert_memory_equal(b.data, "hello object store", 18);
    uint64_t size = 0;
    assert_int_equal(rmq_obj_head(f->s, "topic-a/0/00000000000000000000.seg", &size, &st), 0);
    assert_int_equal(size, 18);
    /* overwrite replaces */
    put_str(f->s, "topic-a/0/00000000000000000000.seg", "v2");
    rmq_buf_reset(&b);
    assert_int_equal(rmq_obj_get(f->s, "topic-a/0/00000000000000000000.seg", 0, -1, &b, &st), 0);
    assert_int_equal(b.len, 2);
    assert_memory_equal(b.data, "v2", 2);
    /* get appends to the caller's buffer */
    assert_int_equal(rmq_obj_get(f->s, "topic-a/0/00000000000000000000.seg", 1, 1, &b, &st), 0);
    assert_int_equal(b.len, 3);
    assert_memory_equal(b.data, "v22", 3);
    /* empty object */
    assert_int_equal(rmq_obj_put(f->s, "empty", NULL, 0, &st), 0);
    assert_int_equal(rmq_obj_head(f->s, "empty", &size, &st), 0);
    assert_int_equal(size, 0);
    rmq_buf_reset(&b);
    assert_int_equal(rmq_obj_get(f->s, "empty", 0, -1, &b, &st), 0);
    assert_int_equal(b.len, 0);
    /* missing */
    assert_int_equal(rmq_obj_get(f->s, "nope", 0, -1, &b, &st), RMQ_ERR_NOT_FOUND);
    assert_int_equal(rmq_obj_get(f->s, "topic-a/9/x", 0, -1, &b, &st), RMQ_ERR_NOT_FOUND);
    assert_int_equal(rmq_obj_head(f->s, "nope", &size, &st), RMQ_ERR_NOT_FOUND);
    assert_true(st.msg[0] != '\0');
    /* a directory is not an object */
    assert_int_equal(rmq_obj_head(f->s, "topic-a", &size, &st), RMQ_ERR_NOT_FOUND);
    rmq_buf_free(&b);
}

/* Block-aligned buffers are written with O_DIRECT where the filesystem
 * allows it (the uploader's case): whole multiples of the block, a partial
 * last block (written padded, then truncated) and sizes over one write
 * chunk must all read back byte-identical with the exact size; unaligned
 * buffers take the page-cache path. */
/* Page-cache pages resident among the first npages of object key. */
static size_t cached_pages(fx_t *f, const char *key, size_t npages) {
    char path[256];
    snprintf(path, sizeof path, "%s/objects/%s", f->dir, key);
    int fd = open(path, O_RDONLY);
    assert_true(fd >= 0);
    void *m = mmap(NULL, npages * 4096, PROT_READ, MAP_SHARED, fd, 0);
    assert_true(m != MAP_FAILED);
    unsigned char vec[1024];
    assert_true(npages <= sizeof vec);
    assert_int_equal(mincore(m, npages * 4096, vec), 0);
    size_t n = 0;
    for (size_t i = 0; i < npages; i++) n += vec[i] & 1;
    munmap(m, npages * 4096);
    close(fd);
    return n;
}

static void test_aligned_put_sizes(void **state) {
    fx_t *f = *state;
    bool dio = tu_dir_takes_odirect(f->dir);
    static const size_t sizes[] = {4096, 4096 * 3 + 123, 4095, (1u << 20) + 4096 * 5 + 77, (3u << 20), 1};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        for (int aligned = 0; aligned < 2; aligned++) {
            size_t n = sizes[i];
            uint8_t *mem = NULL;
            assert_int_equal(posix_memalign((void **)&mem, 4096, n + 4096), 0);
            uint8_t *data = aligned ? mem : mem + 1;
            for (size_t k = 0; k < n; k++) data[k] = (uint8_t)(k * 131 + i + (k >> 12));
            char key[64];
            snprintf(key, sizeof key, "d/%zu-%d", n, aligned);
            rmq_obj_status_t st;
            assert_int_equal(rmq_obj_put(f->s, key, data, n, &st), 0);
            uint64_t size = 0;
            assert_int_equal(rmq_obj_head(f->s, key, &size, &st), 0);
            assert_int_equal(size, n);
            if (dio && n >= 2 * 4096) { /* O_DIRECT leaves the whole blocks out of the page cache */
                size_t cached = cached_pages(f, key, n / 4096);
                if (aligned) assert_int_equal(cached, 0);
                else assert_true(cached > 0);
            }
            rmq_buf_t b;
            rmq_buf_init(&b);
            assert_int_equal(rmq_obj_get(f->s, key, 0, -1, &b, &st), 0);
            assert_int_equal(b.len, n);
            assert_memory_equal(b.data, data, n);
            /* into an aligned buffer (O_DIRECT read of the whole blocks), from 0 and from a block offset */
            for (size_t from = 0; from <= 4096 && from < n; from += 4096) {
                rmq_buf_reset(&b);
                size_t want = n - from;
                assert_int_equal(rmq_buf_reserve_aligned(&b, want, 4096), 0);
                assert_int_equal(rmq_obj_get(f->s, key, from, (int64_t)want, &b, &st), 0);
                assert_int_equal(b.len, want);
                assert_memory_equal(b.data, data + from, want);
            }
            rmq_buf_free(&b);
            free(mem);
        }
    }
}

typedef struct pace_log {
    int calls;
    size_t bytes, largest;
    bool pacing; /* what the pacer answers */
} pace_log_t;

static bool record_pace(void *ud, size_t n) {
    pace_log_t *l = ud;
    l->calls++;
    l->bytes += n;
    if (n > l->largest) l->largest = n;
    return l->pacing;
}

/* The pacer (rmq_obj_set_pacer) is asked before every O_DIRECT chunk of a
 * put but the first (which may still be refused), with the chunk's size,
 * and never once cleared. While it answers that it paces, chunks are
 * 256 KiB (a WAL's synced write queues behind less); when it answers that
 * it does not (catching up), the chunks after that answer are 1 MiB; the
 * first chunk is 256 KiB either way. Buffered writes (no O_DIRECT here)
 * are not paced. */
static void test_pacer_called_per_chunk(void **state) {
    fx_t *f = *state;
    bool dio = tu_dir_takes_odirect(f->dir);
    size_t n = (3u << 20) + 4096 * 5 + 77; /* 3 whole MiB, 5 blocks, a partial block */
    size_t whole = n - 77;
    uint8_t *data = NULL;
    assert_int_equal(posix_memalign((void **)&data, 4096, n), 0);
    for (size_t k = 0; k < n; k++) data[k] = (uint8_t)(k * 7 + (k >> 12));
    pace_log_t log = {0, 0, 0, true};
    rmq_obj_set_pacer(f->s, record_pace, &log);
    rmq_obj_status_t st;
    assert_int_equal(rmq_obj_put(f->s, "p/obj", data, n, &st), 0);
    if (dio) {
        assert_int_equal(log.calls, 12);                      /* chunks 2..13: 11 of 256 KiB, one of 5 blocks */
        assert_int_equal(log.bytes, whole - (256u << 10));    /* all whole blocks but the first chunk */
        assert_int_equal(log.largest, 256u << 10);
    } else {
        assert_int_equal(log.calls, 0);
    }
    /* a pacer that lets everything through: 256 KiB, 256 KiB (the first
     * answer), then 1 MiB, 1 MiB and the remaining 532 KiB */
    pace_log_t fast = {0, 0, 0, false};
    rmq_obj_set_pacer(f->s, record_pace, &fast);
    assert_int_equal(rmq_obj_put(f->s, "p/obj2", data, n, &st), 0);
    if (dio) {
        assert_int_equal(fast.calls, 4);
        assert_int_equal(fast.bytes, whole - (256u << 10));
        assert_int_equal(fast.largest, 1u << 20);
    } else {
        assert_int_equal(fast.calls, 0);
    }
    /* both objects whole: the paced chunks and the growing ones */
    const char *keys[] = {"p/obj", "p/obj2"};
    for (int k = 0; k < 2; k++) {
        rmq_buf_t b;
        rmq_buf_init(&b);
        assert_int_equal(rmq_obj_get(f->s, keys[k], 0, -1, &b, &st), 0);
        assert_int_equal(b.len, n);
        assert_memory_equal(b.data, data, n);
        rmq_buf_free(&b);
    }
    rmq_obj_set_pacer(f->s, NULL, NULL);
    int before = log.calls;
    assert_int_equal(rmq_obj_put(f->s, "p/obj2", data, n, &st), 0);
    assert_int_equal(log.calls, before);
    free(data);
}

static void test_ranges(void **state) {
    fx_t *f = *state;
    rmq_obj_status_t st;
    size_t n = 100000;
    uint8_t *data = malloc(n);
    for (size_t i = 0; i < n; i++) data[i] = (uint8_t)(i * 7 + (i >> 8));
    assert_int_equal(rmq_obj_put(f->s, "r/obj", data, n, &st), 0);
    rmq_buf_t b;
    rmq_buf_init(&b);
    struct {
        uint64_t off;
        int64_t len;
    } ok[] = {{0, 1}, {0, 100000}, {99999, 1}, {12345, 4096}, {50000, -1}, {100000, -1}, {0, -1}, {7, 0}};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        rmq_buf_reset(&b);
        assert_int_equal(rmq_obj_get(f->s, "r/obj", ok[i].off, ok[i].len, &b, &st), 0);
        size_t want = ok[i].len < 0 ? n - ok[i].off : (size_t)ok[i].len;
        assert_int_equal(b.len, want);
        if (want) assert_memory_equal(b.data, data + ok[i].off, want);
    }
    /* range running past the end: an error, never short data */
    rmq_buf_reset(&b);
    assert_int_equal(rmq_obj_get(f->s, "r/obj", 99990, 20, &b, &st), RMQ_ERR_CORRUPT);
    assert_int_equal(b.len, 0);
    /* starting past the end */
    assert_int_equal(rmq_obj_get(f->s, "r/obj", 100001, -1, &b, &st), RMQ_ERR_INVALID_ARG);
    assert_int_equal(rmq_obj_get(f->s, "r/obj", 100000, 1, &b, &st), RMQ_ERR_INVALID_ARG);
    assert_int_equal(rmq_obj_get(f->s, "r/obj", 0, -2, &b, &st), RMQ_ERR_INVALID_ARG);
    assert_int_equal(rmq_obj_get(f->s, "r/obj", UINT64_MAX - 1, 10, &b, &st), RMQ_ERR_INVALID_ARG);
    assert_int_equal(b.len, 0);
    rmq_buf_free(&b);
    free(data);
}

static void test_key_validation(void **state) {
    fx_t *f = *state;
    rmq_obj_status_t st;
    const char *bad[] = {"", "/abs", "../x", "a/../b", "a/..", "a//b", "a/./b", "./a", "a/", "x/.y.rmqtmp.1",
                         "ctl\x01", "ctl\x7f"};
    rmq_buf_t b;
    rmq_buf_init(&b);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(rmq_obj_put(f->s, bad[i], "x", 1, &st), RMQ_ERR_INVALID_ARG);
        assert_int_equal(rmq_obj_get(f->s, bad[i], 0, -1, &b, &st), RMQ_ERR_INVALID_ARG);
    }
    char longkey[RMQ_OBJ_KEY_MAX + 2];
    memset(longkey, 'k', sizeof longkey - 1);
    longkey[sizeof longkey - 1] = '\0';
    assert_int_equal(rmq_obj_put(f->s, longkey, "x", 1, &st), RMQ_ERR_INVALID_ARG);
    const char *const del_bad[] = {"ok", "../etc/passwd"};
    assert_int_equal(rmq_obj_delete(f->s, del_bad, 2, &st), RMQ_ERR_INVALID_ARG);
    /* dotted names that are not "." / ".." are fine */
    put_str(f->s, "a/.hidden", "1");
    put_str(f->s, "a/...", "2");
    put_str(f->s, "a/b c/\xe1\x88\xb4&<>", "3");
    rmq_buf_reset(&b);
    assert_int_equal(rmq_obj_get(f->s, "a/b c/\xe1\x88\xb4&<>", 0, -1, &b, &st), 0);
    assert_memory_equal(b.data, "3", 1);
    rmq_buf_free(&b);
    /* nothing escaped the root */
    char p[256];
    snprintf(p, sizeof p, "%s/x", f->dir);
    assert_int_not_equal(access(p, F_OK), 0);
}

static size_t list_all(rmq_obj_store_t *s, const char *prefix, size_t page, char ***keys_out, size_t *pages) {
    rmq_obj_list_t l;
    rmq_obj_list_init(&l);
    rmq_obj_status_t st;
    char *token = NULL;
    char **keys = NULL;
    size_t n = 0;
    *pages = 0;
    for (;;) {
        assert_int_equal(rmq_obj_list(s, prefix, token, page, &l, &st), 0);
        (*pages)++;
        assert_true(l.n <= page);
        keys = realloc(keys, (n + l.n + 1) * sizeof(char *));
        for (size_t i = 0; i < l.n; i++) keys[n++] = strdup(l.entries[i].key);
        free(token);
        token = l.truncated ? strdup(l.next_token) : NULL;
        if (l.truncated) assert_non_null(l.next_token);
        else assert_null(l.next_token);
        rmq_obj_list_free(&l);
        if (!token) break;
        assert_true(*pages < 1000);
    }
    *keys_out = keys;
    return n;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static void test_list_sorted_paginated(void **state) {
    fx_t *f = *state;
    /* byte order across directory boundaries: "t1/00-x" < "t1/00/a" ('-' < '/') */
    const char *keys[] = {"t1/00/a", "t1/00-x", "t1/00/b", "t1/01/a", "t1/000", "t2/00/a", "t10/z", "t1a",
                          "top", "t1/00/c/deep/er", "u/1", "t1/02"};
    size_t nk = sizeof keys / sizeof keys[0];
    for (size_t i = 0; i < nk; i++) put_str(f->s, keys[i], keys[i]);
    const char *sorted[sizeof keys / sizeof keys[0]];
    memcpy(sorted, keys, sizeof keys);
    qsort(sorted, nk, sizeof(char *), cmp_str);

    for (size_t page = 1; page <= 13; page += 4) {
        char **got;
        size_t pages;
        size_t n = list_all(f->s, NULL, page, &got, &pages);
        assert_int_equal(n, nk);
        for (size_t i = 0; i < n; i++) {
            assert_string_equal(got[i], sorted[i]);
            free(got[i]);
        }
        free(got);
        assert_int_equal(pages, (nk + page - 1) / page);
    }
    /* prefixes: directory-aligned and mid-name */
    struct {
        const char *prefix;
        size_t want;
    } pf[] = {{"t1/", 7}, {"t1/00", 5}, {"t1/00/", 3}, {"t1", 9}, {"t", 11}, {"zzz", 0}, {"t1/00/c/deep/er", 1}};
    for (size_t i = 0; i < sizeof pf / sizeof pf[0]; i++) {
        char **got;
        size_t pages;
        size_t n = list_all(f->s, pf[i].prefix, 2, &got, &pages);
        assert_int_equal(n, pf[i].want);
        for (size_t j = 0; j < n; j++) {
            assert_int_equal(strncmp(got[j], pf[i].prefix, strlen(pf[i].prefix)), 0);
            if (j) assert_true(strcmp(got[j - 1], got[j]) < 0);
        }
        for (size_t j = 0; j < n; j++) free(got[j]);
        free(got);
    }
    /* sizes are reported */
    rmq_obj_list_t l;
    rmq_obj_list_init(&l);
    assert_int_equal(rmq_obj_list(f->s, "top", NULL, 0, &l, NULL), 0);
    assert_int_equal(l.n, 1);
    assert_int_equal(l.entries[0].size, 3);
    assert_false(l.truncated);
    rmq_obj_list_free(&l);
}

static void test_delete_batch(void **state) {
    fx_t *f = *state;
    rmq_obj_status_t st;
    put_str(f->s, "d/1/a", "x");
    put_str(f->s, "d/1/b", "x");
    put_str(f->s, "d/2/a", "x");
    put_str(f->s, "keep", "x");
    const char *const del[] = {"d/1/a", "d/1/b", "d/2/a", "d/missing", "never/there"};
    assert_int_equal(rmq_obj_delete(f->s, del, 5, &st), 0);
    rmq_buf_t b;
    rmq_buf_init(&b);
    assert_int_equal(rmq_obj_get(f->s, "d/1/a", 0, -1, &b, &st), RMQ_ERR_NOT_FOUND);
    assert_int_equal(rmq_obj_get(f->s, "keep", 0, -1, &b, &st), 0);
    rmq_buf_free(&b);
    char **got;
    size_t pages;
    size_t n = list_all(f->s, NULL, 10, &got, &pages);
    assert_int_equal(n, 1);
    assert_string_equal(got[0], "keep");
    free(got[0]);
    free(got);
    /* emptied directories are gone */
    char p[256];
    snprintf(p, sizeof p, "%s/objects/d", f->dir);
    assert_int_not_equal(access(p, F_OK), 0);
    /* and a put into a removed directory works again */
    put_str(f->s, "d/1/a", "again");
    assert_int_equal(rmq_obj_delete(f->s, NULL, 0, &st), 0);
}

/* ---- concurrency: writers replace objects while readers read them ---- */
typedef struct thr {
    rmq_obj_store_t *s;
    int id;
    int failures;
} thr_t;

#define OBJ_SIZE 65536

static void *writer(void *arg) {
    thr_t *t = arg;
    uint8_t *buf = malloc(OBJ_SIZE);
    for (int round = 0; round < 30; round++) {
        memset(buf, 'a' + (round % 26), OBJ_SIZE);
        char key[64];
        snprintf(key, sizeof key, "c/%d", round % 3);
        if (rmq_obj_put(t->s, key, buf, OBJ_SIZE, NULL) != 0) t->failures++;
        snprintf(key, sizeof key, "w%d/%d", t->id, round);
        if (rmq_obj_put(t->s, key, buf, 100, NULL) != 0) t->failures++;
    }
    free(buf);
    return NULL;
}

static void *reader(void *arg) {
    thr_t *t = arg;
    rmq_buf_t b;
    rmq_buf_init(&b);
    for (int round = 0; round < 200; round++) {
        char key[32];
        snprintf(key, sizeof key, "c/%d", round % 3);
        rmq_buf_reset(&b);
        rmq_err_t err = rmq_obj_get(t->s, key, 0, -1, &b, NULL);
        if (err == RMQ_ERR_NOT_FOUND) continue;
        /* an object is always whole and uniform: never a torn mix */
        if (err || b.len != OBJ_SIZE) {
            t->failures++;
            continue;
        }
        for (size_t i = 1; i < b.len; i++)
            if (b.data[i] != b.data[0]) {
                t->failures++;
                break;
            }
    }
    rmq_buf_free(&b);
    return NULL;
}

static void test_concurrent_atomic_replace(void **state) {
    fx_t *f = *state;
    pthread_t th[6];
    thr_t ts[6];
    for (int i = 0; i < 6; i++) {
        ts[i] = (thr_t){.s = f->s, .id = i};
        pthread_create(&th[i], NULL, i < 3 ? writer : reader, &ts[i]);
    }
    for (int i = 0; i < 6; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(ts[i].failures, 0);
    }
    char **got;
    size_t pages;
    size_t n = list_all(f->s, NULL, 1000, &got, &pages);
    assert_int_equal(n, 3 + 3 * 30);
    for (size_t i = 0; i < n; i++) free(got[i]);
    free(got);
    /* no temp files left anywhere */
    char cmd[256];
    snprintf(cmd, sizeof cmd, "find %s -name '*.rmqtmp.*' | grep -q .", f->dir);
    assert_int_not_equal(system(cmd), 0);
}

static void test_open_errors(void **state) {
    fx_t *f = *state;
    rmq_obj_store_t *s = NULL;
    rmq_obj_status_t st;
    rmq_obj_config_t cfg = {.type = RMQ_OBJ_LOCAL, .root = ""};
    assert_int_equal(rmq_obj_open(&cfg, &s, &st), RMQ_ERR_CONFIG);
    assert_null(s);
    char p[256];
    snprintf(p, sizeof p, "%s/afile", f->dir);
    FILE *fp = fopen(p, "w");
    fclose(fp);
    cfg.root = p;
    assert_int_equal(rmq_obj_open(&cfg, &s, &st), RMQ_ERR_CONFIG);
    assert_true(strlen(st.msg) > 0);
    cfg.type = (rmq_obj_type_t)42;
    assert_int_equal(rmq_obj_open(&cfg, &s, &st), RMQ_ERR_CONFIG);
    /* s3 without bucket / credentials */
    rmq_obj_config_t s3 = {.type = RMQ_OBJ_S3, .endpoint = "http://127.0.0.1:1"};
    assert_int_equal(rmq_obj_open(&s3, &s, &st), RMQ_ERR_CONFIG);
    s3.bucket = "b";
    s3.endpoint = "ftp://x";
    s3.access_key = "a";
    s3.secret_key = "b";
    assert_int_equal(rmq_obj_open(&s3, &s, &st), RMQ_ERR_CONFIG);
    s3.endpoint = "http://host/path";
    assert_int_equal(rmq_obj_open(&s3, &s, &st), RMQ_ERR_CONFIG);
    s3.endpoint = "http://host:9000/";
    assert_int_equal(rmq_obj_open(&s3, &s, &st), 0);
    assert_string_equal(s->name, "s3");
    rmq_obj_close(s);
}

static void test_config_from_broker(void **state) {
    fx_t *f = *state;
    rmq_broker_config_t bc;
    memset(&bc, 0, sizeof bc);
    char root[128], type[8] = "local";
    snprintf(root, sizeof root, "%s/from-cfg", f->dir);
    bc.object_storage.storage_type = type;
    bc.object_storage.path = root;
    bc.object_storage.multipart_threshold = 123;
    rmq_obj_config_t oc;
    assert_int_equal(rmq_obj_config_from_broker(&bc, &oc), 0);
    assert_int_equal(oc.type, RMQ_OBJ_LOCAL);
    assert_ptr_equal(oc.root, root);
    assert_int_equal(oc.multipart_threshold, 123);
    rmq_obj_store_t *s;
    assert_int_equal(rmq_obj_open(&oc, &s, NULL), 0);
    assert_string_equal(s->name, "local");
    put_str(s, "k", "v");
    rmq_obj_close(s);
    char gcs[] = "gcs", bad[] = "ftp";
    bc.object_storage.storage_type = gcs;
    assert_int_equal(rmq_obj_config_from_broker(&bc, &oc), 0);
    assert_int_equal(oc.type, RMQ_OBJ_GCS);
    bc.object_storage.storage_type = bad;
    assert_int_equal(rmq_obj_config_from_broker(&bc, &oc), RMQ_ERR_CONFIG);
}

/* ---- a fault-injecting wrapper: what the uploader's tests will do ---- */
typedef struct faulty {
    rmq_obj_store_t base;
    rmq_obj_store_t *inner;
    int calls;
    int fail_every;
} faulty_t;

static rmq_err_t f_put(rmq_obj_store_t *s, const char *k, const void *d, size_t n, rmq_obj_status_t *st) {
    faulty_t *f = s->impl;
    if (++f->calls % f->fail_every == 0) return rmq_obj_fail(st, RMQ_ERR_AGAIN, 503, "injected");
    return f->inner->ops->put(f->inner, k, d, n, st);
}
static rmq_err_t f_get(rmq_obj_store_t *s, const char *k, uint64_t o, int64_t l, rmq_buf_t *b, rmq_obj_status_t *st) {
    faulty_t *f = s->impl;
    if (++f->calls % f->fail_every == 0) return rmq_obj_fail(st, RMQ_ERR_TIMEOUT, 0, "injected");
    return f->inner->ops->get(f->inner, k, o, l, b, st);
}
static rmq_err_t f_head(rmq_obj_store_t *s, const char *k, uint64_t *z, rmq_obj_status_t *st) {
    faulty_t *f = s->impl;
    return f->inner->ops->head(f->inner, k, z, st);
}
static rmq_err_t f_list(rmq_obj_store_t *s, const char *p, const char *t, size_t m, rmq_obj_list_t *o,
                        rmq_obj_status_t *st) {
    faulty_t *f = s->impl;
    return f->inner->ops->list(f->inner, p, t, m, o, st);
}
static rmq_err_t f_del(rmq_obj_store_t *s, const char *const *k, size_t n, rmq_obj_status_t *st) {
    faulty_t *f = s->impl;
    return f->inner->ops->del(f->inner, k, n, st);
}
static void f_close(rmq_obj_store_t *s) { (void)s; }

static void test_fault_wrapper(void **state) {
    fx_t *fx = *state;
    static const rmq_obj_ops_t ops = {f_put, f_get, f_head, f_list, f_del, f_close};
    faulty_t f = {.base = {.ops = &ops, .name = "faulty"}, .inner = fx->s, .fail_every = 3};
    f.base.impl = &f;
    rmq_obj_status_t st;
    int ok = 0, again = 0;
    for (int i = 0; i < 9; i++) {
        rmq_err_t err = rmq_obj_put(&f.base, "w/x", "abc", 3, &st);
        if (err == 0) ok++;
        else {
            assert_int_equal(err, RMQ_ERR_AGAIN);
            assert_true(rmq_err_retriable(err));
            assert_int_equal(st.http_status, 503);
            again++;
        }
    }
    assert_int_equal(ok, 6);
    assert_int_equal(again, 3);
    rmq_obj_close(&f.base);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_put_get_head, setup, teardown),
        cmocka_unit_test_setup_teardown(test_aligned_put_sizes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pacer_called_per_chunk, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ranges, setup, teardown),
        cmocka_unit_test_setup_teardown(test_key_validation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_list_sorted_paginated, setup, teardown),
        cmocka_unit_test_setup_teardown(test_delete_batch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_atomic_replace, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fault_wrapper, setup, teardown),
        cmocka_unit_test_setup_teardown(test_config_from_broker, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
