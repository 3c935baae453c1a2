/* test_meta_log.c - the local durable metadata log: reopen replays, torn
 * tails are truncated, snapshots + subsequent log, crash between snapshot
 * and log truncation, corrupt snapshot/log, injected disk faults (short
 * writes, ENOSPC, EIO on fdatasync, failed rename), the generic store
 * interface, and readers running concurrently with proposals. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "controller/meta_cmd.h"
#include "controller/meta_log.h"
#include "controller/meta_state.h"
#include "controller/meta_store.h"

/* ---- fixture ---- */

typedef struct fx {
    char dir[64];
    char log_path[128];
    char snap_path[128];
} fx_t;

static int rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(p);
}

static int setup(void **st) {
    fx_t *f = calloc(1, sizeof *f);
    strcpy(f->dir, "/tmp/rmq_meta_log_XXXXXX");
    if (!mkdtemp(f->dir)) return -1;
    snprintf(f->log_path, sizeof f->log_path, "%s/meta/log", f->dir);
    snprintf(f->snap_path, sizeof f->snap_path, "%s/meta/snapshot", f->dir);
    rmq_log_set_level(RMQ_LOG_ERROR); /* the torn-tail WARN lines are expected */
    *st = f;
    return 0;
}

static int teardown(void **st) {
    fx_t *f = *st;
    nftw(f->dir, rm_cb, 8, FTW_DEPTH | FTW_PHYS);
    free(f);
    return 0;
}

static rmq_meta_log_t *open_log(fx_t *f, uint32_t every, const rmq_meta_disk_t *disk) {
    rmq_meta_log_opts_t o = {.data_dir = f->dir, .snapshot_every = every, .disk = disk};
    rmq_meta_log_t *l = NULL;
    char msg[256] = "";
    rmq_err_t e = rmq_meta_log_open(&o, &l, msg, sizeof msg);
    if (e) fail_msg("open: %s: %s", rmq_err_name(e), msg);
    return l;
}

static rmq_err_t open_log_err(fx_t *f, char *msg, size_t cap) {
    rmq_meta_log_opts_t o = {.data_dir = f->dir, .snapshot_every = 1000};
    rmq_meta_log_t *l = NULL;
    rmq_err_t e = rmq_meta_log_open(&o, &l, msg, cap);
    if (!e) rmq_meta_log_close(l);
    return e;
}

static rmq_err_t create(rmq_meta_log_t *l, const char *name, int32_t parts) {
    rmq_meta_cmd_t c = {.type = RMQ_META_CMD_CREATE_TOPIC};
    c.u.create_topic.name = name;
    assert_int_equal(rmq_meta_uuid_random(&c.u.create_topic.topic_id), 0);
    c.u.create_topic.partitions = parts;
    c.u.create_topic.replication_factor = 1;
    rmq_meta_result_t r;
    rmq_err_t e = rmq_meta_store_propose_cmd(rmq_meta_log_store(l), &c, &r);
    rmq_meta_result_free(&r);
    return e;
}

/* Snapshot bytes of a state, to compare states across close/reopen. */
static void snap_of(rmq_meta_state_t *s, rmq_buf_t *b) {
    rmq_buf_init(b);
    assert_int_equal(rmq_meta_state_snapshot(s, b), 0);
}

static void assert_same_state(rmq_buf_t *expected, rmq_meta_state_t *s) {
    rmq_buf_t b;
    snap_of(s, &b);
    assert_int_equal(b.len, expected->len);
    assert_memory_equal(b.data, expected->data, b.len);
    rmq_buf_free(&b);
}

static off_t file_size(const char *p) {
    struct stat st;
    return stat(p, &st) ? -1 : st.st_size;
}

static void append_bytes(const char *p, const void *d, size_t n) {
    int fd = open(p, O_WRONLY | O_APPEND);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, d, n), (ssize_t)n);
    close(fd);
}

static uint8_t *slurp(const char *p, size_t *n) {
    off_t sz = file_size(p);
    assert_true(sz >= 0);
    uint8_t *d = malloc((size_t)sz + 1);
    int fd = open(p, O_RDONLY);
    assert_int_equal(read(fd, d, (size_t)sz), sz);
    close(fd);
    *n = (size_t)sz;
    return d;
}

static void spit(const char *p, const uint8_t *d, size_t n) {
    int fd = open(p, O_WRONLY | O_TRUNC | O_CREAT, 0644);
    assert_int_equal(write(fd, d, n), (ssize_t)n);
    close(fd);
}

/* ---- tests ---- */

static void test_reopen_replays(void **st) {
    fx_t *f = *st;
    rmq_meta_log_t *l = open_log(f, 1000, NULL);
    rmq_meta_uuid_t cid;
    assert_true(rmq_meta_state_cluster_id(rmq_meta_log_state(l), &cid));
    assert_int_equal(rmq_meta_state_last_index(rmq_meta_log_state(l)), 1);
    assert_int_equal(create(l, "a", 3), RMQ_NONE);
    assert_int_equal(create(l, "b", 1), RMQ_NONE);
    assert_int_equal(create(l, "a", 1), RMQ_TOPIC_ALREADY_EXISTS);
    rmq_meta_log_stats_t s1;
    rmq_meta_log_stats(l, &s1);
    assert_int_equal(s1.last_index, 3); /* the rejected command was not logged */
    assert_int_equal((off_t)s1.log_bytes, file_size(f->log_path));
    rmq_buf_t before;
    snap_of(rmq_meta_log_state(l), &before);
    rmq_meta_log_close(l);

    l = open_log(f, 1000, NULL);
    assert_same_state(&before, rmq_meta_log_state(l));
    rmq_meta_uuid_t cid2;
    assert_true(rmq_meta_state_cluster_id(rmq_meta_log_state(l), &cid2));
    assert_true(rmq_meta_uuid_eq(&cid, &cid2)); /* generated once */
    rmq_meta_log_stats(l, &s1);
    assert_int_equal(s1.replayed, 3);
    assert_int_equal(s1.torn_bytes, 0);
    uint64_t sid;
    assert_int_equal(rmq_meta_state_stream_id(rmq_meta_log_state(l), "b", 0, &sid), RMQ_NONE);
    assert_int_equal(sid, 4);
    assert_int_equal(create(l, "c", 1), RMQ_NONE);
    assert_int_equal(rmq_meta_state_stream_id(rmq_meta_log_state(l), "c", 0, &sid), RMQ_NONE);
    assert_int_equal(sid, 5);
    rmq_meta_log_close(l);
    rmq_buf_free(&before);
}

static void test_torn_tail(void **st) {
    fx_t *f = *st;
    rmq_meta_log_t *l = open_log(f, 1000, NULL);
    assert_int_equal(create(l, "a", 1), RMQ_NONE);
    assert_int_equal(create(l, "b", 1), RMQ_NONE);
    rmq_buf_t two;
    snap_of(rmq_meta_log_state(l), &two);
    off_t size2 = file_size(f->log_path);
    assert_int_equal(create(l, "c", 1), RMQ_NONE);
    off_t size3 = file_size(f->log_path);
    rmq_meta_log_close(l);

    size_t n;
    uint8_t *full = slurp(f->log_path, &n);
    /* every cut inside the last frame leaves a torn tail that is dropped */
    for (off_t cut = size2 + 1; cut < size3; cut += 3) {
        spit(f->log_path, full, (size_t)cut);
        l = open_log(f, 1000, NULL);
        assert_same_state(&two, rmq_meta_log_state(l));
        rmq_meta_log_stats_t s;
        rmq_meta_log_stats(l, &s);
        assert_int_equal(s.torn_bytes, (uint64_t)(cut - size2));
        assert_int_equal(file_size(f->log_path), size2);
        rmq_meta_log_close(l);
    }
    /* a flipped byte in the last frame: also a torn tail */
    full[n - 2] ^= 0xff;
    spit(f->log_path, full, n);
    l = open_log(f, 1000, NULL);
    assert_same_state(&two, rmq_meta_log_state(l));
    assert_int_equal(file_size(f->log_path), size2);
    /* writing continues after the cut, and survives another reopen */
    assert_int_equal(create(l, "d", 2), RMQ_NONE);
    rmq_buf_t three;
    snap_of(rmq_meta_log_state(l), &three);
    rmq_meta_log_close(l);
    l = open_log(f, 1000, NULL);
    assert_same_state(&three, rmq_meta_log_state(l));
    rmq_meta_log_close(l);
    /* zeros appended (a filesystem exposing unwritten blocks) */
    uint8_t zeros[40] = {0};
    append_bytes(f->log_path, zeros, sizeof zeros);
    l = open_log(f, 1000, NULL);
    assert_same_state(&three, rmq_meta_log_state(l));
    rmq_meta_log_close(l);
    free(full);
    rmq_buf_free(&two);
    rmq_buf_free(&three);
}

static void test_corruption_mid_log_is_error(void **st) {
    fx_t *f = *st;
    rmq_meta_log_t *l = open_log(f, 1000, NULL);
    assert_int_equal(create(l, "a", 1), RMQ_NONE);
    assert_int_equal(create(l, "b", 1), RMQ_NONE);
    rmq_meta_log_close(l);
    size_t n;
    uint8_t *d = slurp(f->log_path, &n);
    d[20] ^= 1; /* inside the first frame (InitCluster) */
    spit(f->log_path, d, n);
    char msg[256];
    assert_int_equal(open_log_err(f, msg, sizeof msg), RMQ_ERR_CORRUPT);
    assert_non_null(strstr(msg, "bad checksum"));
    assert_int_equal(file_size(f->log_path), (off_t)n); /* nothing truncated */
    free(d);
}

static void test_snapshots_and_tail(void **st) {
    fx_t *f = *st;
    rmq_meta_log_t *l = open_log(f, 5, NULL); /* InitCluster is command 1 */
    char name[16];
    for (int i = 0; i < 12; i++) {
        snprintf(name, sizeof name, "t%d", i);
        assert_int_equal(create(l, name, 2), RMQ_NONE);
    }
    rmq_meta_log_stats_t s;
    rmq_meta_log_stats(l, &s);
    assert_int_equal(s.last_index, 13);
    assert_int_equal(s.snapshots_written, 2); /* at 5 and 10 */
    assert_int_equal(s.since_snapshot, 3);
    assert_true(file_size(f->snap_path) > 0);
    assert_int_equal((off_t)s.log_bytes, file_size(f->log_path));
    rmq_buf_t before;
    snap_of(rmq_meta_log_state(l), &before);
    rmq_meta_log_close(l);

    l = open_log(f, 5, NULL);
    assert_same_state(&before, rmq_meta_log_state(l));
    rmq_meta_log_stats(l, &s);
    assert_int_equal(s.replayed, 3); /* only the tail after the snapshot */
    /* explicit snapshot empties the log */
    assert_int_equal(rmq_meta_log_snapshot(l), 0);
    assert_int_equal(file_size(f->log_path), 0);
    rmq_meta_log_close(l);
    l = open_log(f, 5, NULL);
    assert_same_state(&before, rmq_meta_log_state(l));
    rmq_meta_log_stats(l, &s);
    assert_int_equal(s.replayed, 0);
    rmq_meta_log_close(l);
    rmq_buf_free(&before);
}

static void test_crash_between_snapshot_and_truncate(void **st) {
    fx_t *f = *st;
    rmq_meta_log_t *l = open_log(f, 1000, NULL);
    assert_int_equal(create(l, "a", 1), RMQ_NONE);
    assert_int_equal(create(l, "b", 1), RMQ_NONE);
    size_t n;
    uint8_t *old_log = slurp(f->log_path, &n);
    assert_int_equal(rmq_meta_log_snapshot(l), 0);
    assert_int_equal(create(l, "c", 1), RMQ_NONE);
    rmq_buf_t before;
    snap_of(rmq_meta_log_state(l), &before);
    rmq_meta_log_close(l);
    /* the log still holds entries the snapshot covers, then "c" */
    size_t tn;
    uint8_t *tail = slurp(f->log_path, &tn);
    uint8_t *both = malloc(n + tn);
    memcpy(both, old_log, n);
    memcpy(both + n, tail, tn);
    spit(f->log_path, both, n + tn);
    l = open_log(f, 1000, NULL);
    assert_same_state(&before, rmq_meta_log_state(l)); /* no double apply */
    rmq_meta_log_stats_t s;
    rmq_meta_log_stats(l, &s);
    assert_int_equal(s.replayed, 1);
    rmq_meta_log_close(l);
    /* a gap in indexes is corruption */
    spit(f->log_path, tail, tn);
    unlink(f->snap_path);
    char msg[256];
    assert_int_equal(open_log_err(f, msg, sizeof msg), RMQ_ERR_CORRUPT);
    assert_non_null(strstr(msg, "follows"));
    free(old_log);
    free(tail);
    free(both);
    rmq_buf_free(&before);
}

static void test_corrupt_snapshot(void **st) {
    fx_t *f = *st;
    rmq_meta_log_t *l = open_log(f, 1000, NULL);
    assert_int_equal(create(l, "a", 1), RMQ_NONE);
    assert_int_equal(rmq_meta_log_snapshot(l), 0);
    rmq_meta_log_close(l);
    size_t n;
    uint8_t *d = slurp(f->snap_path, &n);
    d[n / 2] ^= 4;
    spit(f->snap_path, d, n);
    char msg[256];
    assert_int_equal(open_log_err(f, msg, sizeof msg), RMQ_ERR_CORRUPT);
    assert_non_null(strstr(msg, "corrupt metadata snapshot"));
    /* a leftover snapshot.tmp is ignored and removed */
    d[n / 2] ^= 4;
    spit(f->snap_path, d, n);
    char tmp[160];
    snprintf(tmp, sizeof tmp, "%s/meta/snapshot.tmp", f->dir);
    spit(tmp, (const uint8_t *)"garbage", 7);
    assert_int_equal(open_log_err(f, msg, sizeof msg), 0);
    assert_int_equal(file_size(tmp), -1);
    free(d);
}

/* ---- fault-injecting disk ---- */

typedef struct faults {
    int write_short_then_errno; /* next write: write half, then fail with this errno */
    int fdatasync_errno;        /* next fdatasync fails */
    int rename_errno;           /* next rename fails */
} faults_t;

static faults_t g_faults;

static ssize_t f_write(void *ud, int fd, const void *p, size_t n) {
    (void)ud;
    static int pending = 0;
    if (pending) {
        errno = pending;
        pending = 0;
        return -1;
    }
    if (g_faults.write_short_then_errno && n > 1) {
        pending = g_faults.write_short_then_errno;
        g_faults.write_short_then_errno = 0;
        return write(fd, p, n / 2);
    }
    return write(fd, p, n);
}
static int f_fdatasync(void *ud, int fd) {
    (void)ud;
    if (g_faults.fdatasync_errno) {
        errno = g_faults.fdatasync_errno;
        g_faults.fdatasync_errno = 0;
        return -1;
    }
    return fdatasync(fd);
}
static int f_rename(void *ud, const char *a, const char *b) {
    (void)ud;
    if (g_faults.rename_errno) {
        errno = g_faults.rename_errno;
        g_faults.rename_errno = 0;
        return -1;
    }
    return rename(a, b);
}

static rmq_meta_disk_t fault_disk(void) {
    rmq_meta_disk_t d = *rmq_meta_disk_posix();
    d.write = f_write;
    d.fdatasync = f_fdatasync;
    d.rename = f_rename;
    return d;
}

static void test_fault_short_write_enospc(void **st) {
    fx_t *f = *st;
    memset(&g_faults, 0, sizeof g_faults);
    rmq_meta_disk_t d = fault_disk();
    rmq_meta_log_t *l = open_log(f, 1000, &d);
    assert_int_equal(create(l, "a", 1), RMQ_NONE);
    off_t size = file_size(f->log_path);
    rmq_buf_t before;
    snap_of(rmq_meta_log_state(l), &before);

    g_faults.write_short_then_errno = ENOSPC;
    rmq_meta_result_t r;
    rmq_meta_cmd_t c = {.type = RMQ_META_CMD_CREATE_TOPIC};
    c.u.create_topic.name = "b";
    rmq_meta_uuid_random(&c.u.create_topic.topic_id);
    c.u.create_topic.partitions = 1;
    c.u.create_topic.replication_factor = 1;
    assert_int_equal(rmq_meta_store_propose_cmd(rmq_meta_log_store(l), &c, &r), RMQ_ERR_NOSPACE);
    assert_non_null(strstr(r.msg, "write failed"));
    rmq_meta_result_free(&r);
    assert_same_state(&before, rmq_meta_log_state(l)); /* not applied */
    assert_int_equal(file_size(f->log_path), size);      /* rolled back */
    /* not read-only: the next one works */
    assert_int_equal(rmq_meta_store_propose_cmd(rmq_meta_log_store(l), &c, &r), RMQ_NONE);
    rmq_meta_result_free(&r);
    rmq_buf_t after;
    snap_of(rmq_meta_log_state(l), &after);
    rmq_meta_log_close(l);
    l = open_log(f, 1000, NULL);
    assert_same_state(&after, rmq_meta_log_state(l));
    rmq_meta_log_close(l);
    rmq_buf_free(&before);
    rmq_buf_free(&after);
}

static void test_fault_fdatasync_eio(void **st) {
    fx_t *f = *st;
    memset(&g_faults, 0, sizeof g_faults);
    rmq_meta_disk_t d = fault_disk();
    rmq_meta_log_t *l = open_log(f, 1000, &d);
    assert_int_equal(create(l, "a", 1), RMQ_NONE);
    g_faults.fdatasync_errno = EIO;
    assert_int_equal(create(l, "b", 1), RMQ_ERR_IO);
    assert_int_equal(rmq_meta_state_topic_count(rmq_meta_log_state(l)), 1);
    rmq_meta_log_stats_t s;
    rmq_meta_log_stats(l, &s);
    assert_true(s.read_only);
    assert_int_equal(create(l, "c", 1), RMQ_ERR_IO); /* stays read-only */
    assert_int_equal(rmq_meta_log_snapshot(l), RMQ_ERR_IO);
    /* readers still work */
    uint64_t sid;
    assert_int_equal(rmq_meta_state_stream_id(rmq_meta_log_state(l), "a", 0, &sid), RMQ_NONE);
    rmq_meta_log_close(l);
    /* after restart the log is usable; "b" reached the page cache here, so
     * it is replayed (the documented maybe-applied case) */
    l = open_log(f, 1000, NULL);
    assert_int_equal(rmq_meta_state_topic_count(rmq_meta_log_state(l)), 2);
    assert_int_equal(create(l, "c", 1), RMQ_NONE);
    rmq_meta_log_close(l);
}

static void test_fault_snapshot_rename(void **st) {
    fx_t *f = *st;
    memset(&g_faults, 0, sizeof g_faults);
    rmq_meta_disk_t d = fault_disk();
    rmq_meta_log_t *l = open_log(f, 3, &d);
    assert_int_equal(create(l, "a", 1), RMQ_NONE);
    g_faults.rename_errno = EIO;
    assert_int_equal(create(l, "b", 1), RMQ_NONE); /* 3rd command: snapshot fails, propose succeeds */
    rmq_meta_log_stats_t s;
    rmq_meta_log_stats(l, &s);
    assert_int_equal(s.snapshots_written, 0);
    assert_false(s.read_only);
    assert_int_equal(file_size(f->snap_path), -1);
    assert_int_equal(create(l, "c", 1), RMQ_NONE); /* retried: snapshot now */
    rmq_meta_log_stats(l, &s);
    assert_int_equal(s.snapshots_written, 1);
    assert_int_equal(file_size(f->log_path), 0);
    rmq_buf_t before;
    snap_of(rmq_meta_log_state(l), &before);
    rmq_meta_log_close(l);
    l = open_log(f, 3, NULL);
    assert_same_state(&before, rmq_meta_log_state(l));
    rmq_meta_log_close(l);
    rmq_buf_free(&before);
}

static void test_store_interface(void **st) {
    fx_t *f = *st;
    rmq_meta_log_t *l = open_log(f, 1000, NULL);
    rmq_meta_store_t *store = rmq_meta_log_store(l);
    assert_string_equal(store->ops->name, "local-log");
    assert_ptr_equal(rmq_meta_store_state(store), rmq_meta_log_state(l));
    rmq_meta_kv_t cfg[1] = {{"cleanup.policy", "compact"}};
    rmq_meta_cmd_t c = {.type = RMQ_META_CMD_CREATE_TOPIC};
    c.u.create_topic.name = "orders";
    rmq_meta_uuid_random(&c.u.create_topic.topic_id);
    c.u.create_topic.partitions = 4;
    c.u.create_topic.replication_factor = 1;
    c.u.create_topic.configs = cfg;
    c.u.create_topic.n_configs = 1;
    rmq_meta_result_t r;
    assert_int_equal(rmq_meta_store_propose_cmd(store, &c, &r), RMQ_NONE);
    assert_int_equal(r.n_stream_ids, 4);
    assert_int_equal(r.index, 2);
    assert_int_equal(r.type, RMQ_META_CMD_CREATE_TOPIC);
    rmq_meta_result_free(&r);
    off_t size = file_size(f->log_path);
    cfg[0].value = "bogus";
    c.u.create_topic.name = "other";
    rmq_meta_uuid_random(&c.u.create_topic.topic_id);
    assert_int_equal(rmq_meta_store_propose_cmd(store, &c, &r), RMQ_INVALID_CONFIG);
    assert_non_null(strstr(r.msg, "cleanup.policy"));
    rmq_meta_result_free(&r);
    uint8_t junk[16] = {1, 2, 3};
    assert_int_equal(rmq_meta_store_propose(store, junk, sizeof junk, &r), RMQ_ERR_BAD_MAGIC);
    assert_int_equal(file_size(f->log_path), size); /* rejections are not logged */
    char val[32];
    bool over;
    assert_int_equal(rmq_meta_state_config(rmq_meta_store_state(store), "orders", "cleanup.policy", val, sizeof val,
                                           &over),
                     RMQ_NONE);
    assert_string_equal(val, "compact");
    assert_true(over);
    store->ops->close(store->impl); /* closes the log */
}

/* readers on other threads while proposals apply */
typedef struct rdctx {
    rmq_meta_state_t *s;
    atomic_int stop;
    atomic_long lookups;
} rdctx_t;

static void *reader_main(void *arg) {
    rdctx_t *c = arg;
    while (!atomic_load(&c->stop)) {
        rmq_meta_state_rdlock(c->s);
        size_t n = rmq_meta_state_topic_count_locked(c->s);
        for (size_t i = 0; i < n; i++) {
            const rmq_meta_topic_t *t = rmq_meta_state_topic_at(c->s, i);
            if (rmq_meta_state_find_topic(c->s, t->name) != t) abort();
            if (t->partitions[t->n_partitions - 1].stream_id == 0) abort();
        }
        rmq_meta_state_unlock(c->s);
        uint64_t sid;
        (void)rmq_meta_state_stream_id(c->s, "t1", 0, &sid);
        atomic_fetch_add(&c->lookups, 1);
    }
    return NULL;
}

static void test_concurrent_readers(void **st) {
    fx_t *f = *st;
    rmq_meta_log_t *l = open_log(f, 10, NULL);
    rdctx_t c = {.s = rmq_meta_log_state(l)};
    pthread_t th[2];
    for (int i = 0; i < 2; i++) pthread_create(&th[i], NULL, reader_main, &c);
    char name[16];
    for (int i = 0; i < 40; i++) {
        snprintf(name, sizeof name, "t%d", i);
        assert_int_equal(create(l, name, 1 + i % 4), RMQ_NONE);
        if (i % 3 == 0) {
            rmq_meta_cmd_t d = {.type = RMQ_META_CMD_DELETE_TOPIC};
            d.u.delete_topic.name = name;
            rmq_meta_result_t r;
            assert_int_equal(rmq_meta_store_propose_cmd(rmq_meta_log_store(l), &d, &r), RMQ_NONE);
            rmq_meta_result_free(&r);
        }
    }
    atomic_store(&c.stop, 1);
    for (int i = 0; i < 2; i++) pthread_join(th[i], NULL);
    assert_true(atomic_load(&c.lookups) > 0);
    assert_int_equal(rmq_meta_state_topic_count(rmq_meta_log_state(l)), 26);
    rmq_meta_log_close(l);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_reopen_replays, setup, teardown),
        cmocka_unit_test_setup_teardown(test_torn_tail, setup, teardown),
        cmocka_unit_test_setup_teardown(test_corruption_mid_log_is_error, setup, teardown),
        cmocka_unit_test_setup_teardown(test_snapshots_and_tail, setup, teardown),
        cmocka_unit_test_setup_teardown(test_crash_between_snapshot_and_truncate, setup, teardown),
        cmocka_unit_test_setup_teardown(test_corrupt_snapshot, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fault_short_write_enospc, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fault_fdatasync_eio, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fault_snapshot_rename, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_interface, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_readers, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
