/* test_storage_crash.c - kill -9 crash test of the storage engine.
 *
 * Each iteration forks a child that opens a store in a fresh directory under
 * /tmp (the real filesystem), appends random-sized batches with
 * deterministic content (tu_fill: the first 8 bytes carry the offset, the
 * rest is a PRNG seeded by stream+offset, inside a fake 61-byte header
 * region) to many streams from two threads, and reports every completed
 * append (stream, offset, length, checksum) on a pipe. Every other iteration
 * also reclaims sealed segments as an uploader would, so recovery from a
 * checkpoint is crashed too. The parent SIGKILLs the child after a random
 * 2..200 ms, reopens the store and checks: every acknowledged append is
 * there byte-identical, offsets are dense from the start, the whole stream
 * reads back with nothing after its end, and new appends continue at the
 * right offsets. RMQ_CRASH_ITERATIONS overrides the default 50.
 *
 * Iterations rotate through the WAL write modes (plain, O_DIRECT, io_uring,
 * O_DIRECT + io_uring; RMQ_WAL_MODES selects), so 50 iterations cost what
 * they did with one mode; a second life and the verification reopen use the
 * next mode, so every recovery also reads a WAL written in another mode.
 * Reclaiming iterations also run a sealer thread that calls
 * rmq_store_seal_active every few milliseconds (time-based sealing), so
 * crashes land right after seals too. */
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/wait.h>

#include <cmocka.h>

#include "common/crc32c.h"
#include "common/log.h"
#include "storage_test_util.h"

#define NSTREAMS 24
#define NTHREADS 2

typedef struct ack {
    uint64_t sid;
    int64_t off;
    uint32_t len;
    uint32_t crc;
    int32_t cnt;
    uint32_t pad;
} ack_t;

static size_t batch_len(uint64_t sid, int64_t off) {
    return 61 + (size_t)(tu_mix(sid * 31 + (uint64_t)off * 7 + 1) % 24000);
}
static int32_t batch_cnt(uint64_t sid, int64_t off) { return 1 + (int32_t)(tu_mix(sid ^ ((uint64_t)off << 20)) % 4); }

static rmq_store_config_t crash_cfg(const char *dir, const tu_mode_t *mode) {
    rmq_store_config_t c;
    rmq_store_config_default(&c);
    tu_mode_apply(&c, mode);
    c.dir = dir;
    c.segment_size_bytes = 4u << 20;
    c.capacity_bytes = 64u << 20;
    c.write_cache_size_bytes = 2u << 20;
    return c;
}

/* ---------------- child ---------------- */
typedef struct child {
    rmq_store_t *st;
    int fd;
    bool reclaim;
    pthread_mutex_t mu;
    pthread_cond_t cond;
    uint64_t sealed[256];
    int nsealed;
} child_t;

typedef struct cctx {
    child_t *ch;
    ack_t a;
} cctx_t;

static void child_cb(void *ud, rmq_err_t err, int64_t off) {
    cctx_t *c = ud;
    if (err != RMQ_NONE || off != c->a.off) _exit(3);
    if (write(c->ch->fd, &c->a, sizeof(c->a)) != (ssize_t)sizeof(c->a)) _exit(4);
    free(c);
}

static void child_sealed(void *ud, const rmq_store_segment_info_t *seg) {
    child_t *ch = ud;
    pthread_mutex_lock(&ch->mu);
    if (ch->nsealed < 256) ch->sealed[ch->nsealed++] = seg->segment_id;
    pthread_cond_signal(&ch->cond);
    pthread_mutex_unlock(&ch->mu);
}

static void *child_sealer(void *p) {
    child_t *ch = p;
    uint64_t rnd = tu_mix((uint64_t)getpid());
    for (;;) {
        rnd = tu_mix(rnd);
        tu_sleep_ms(2 + (int)(rnd % 15));
        rmq_err_t e = rmq_store_seal_active(ch->st);
        if (e != RMQ_NONE && e != RMQ_ERR_WAL_FULL && e != RMQ_ERR_NOSPACE) _exit(7);
    }
    return NULL;
}

static void *child_reclaimer(void *p) {
    child_t *ch = p;
    for (;;) {
        pthread_mutex_lock(&ch->mu);
        while (ch->nsealed == 0) pthread_cond_wait(&ch->cond, &ch->mu);
        uint64_t id = ch->sealed[0];
        memmove(ch->sealed, ch->sealed + 1, (size_t)(--ch->nsealed) * sizeof(uint64_t));
        pthread_mutex_unlock(&ch->mu);
        if (rmq_store_reclaim(ch->st, id) != RMQ_NONE) _exit(5);
    }
    return NULL;
}

typedef struct cthread {
    child_t *ch;
    int t;
} cthread_t;

static void *child_appender(void *p) {
    cthread_t *ct = p;
    int64_t next[NSTREAMS];
    for (int s = 0; s < NSTREAMS; s++) rmq_store_stream_info(ct->ch->st, (uint64_t)s + 1, NULL, NULL, &next[s]);
    uint8_t *buf = malloc(64 * 1024);
    uint64_t rnd = tu_mix((uint64_t)getpid() * 131 + (uint64_t)ct->t);
    for (;;) {
        rnd = tu_mix(rnd);
        int s = (int)(rnd % (NSTREAMS / NTHREADS)) * NTHREADS + ct->t; /* this thread's streams only */
        uint64_t sid = (uint64_t)s + 1;
        int64_t off = next[s];
        size_t len = batch_len(sid, off);
        tu_fill(buf, len, sid, off);
        cctx_t *c = malloc(sizeof(*c));
        c->ch = ct->ch;
        c->a = (ack_t){sid, off, (uint32_t)len, rmq_crc32c(0, buf, len), batch_cnt(sid, off), 0};
        int32_t cnt = c->a.cnt; /* c belongs to the callback once queued */
        rmq_err_t e = rmq_store_append(ct->ch->st, sid, buf, len, cnt, off, child_cb, c);
        if (e == RMQ_NONE) {
            next[s] += cnt;
        } else if (e == RMQ_ERR_WAL_FULL || e == RMQ_ERR_NOSPACE) {
            free(c);
            tu_sleep_ms(1);
        } else {
            _exit(6);
        }
    }
    return NULL;
}

static void child_main(const char *dir, int fd, bool reclaim, const tu_mode_t *mode) {
    rmq_log_set_level(RMQ_LOG_ERROR);
    alarm(20); /* never outlive a broken parent */
    child_t ch = {.fd = fd, .reclaim = reclaim, .mu = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};
    rmq_store_config_t c = crash_cfg(dir, mode);
    char err[256];
    if (rmq_store_open(&c, NULL, &ch.st, err, sizeof(err)) != RMQ_NONE) _exit(2);
    pthread_t th[NTHREADS + 2];
    if (reclaim) {
        rmq_store_set_sealed_cb(ch.st, child_sealed, &ch);
        pthread_create(&th[NTHREADS], NULL, child_reclaimer, &ch);
        pthread_create(&th[NTHREADS + 1], NULL, child_sealer, &ch);
    }
    cthread_t ct[NTHREADS];
    for (int t = 0; t < NTHREADS; t++) {
        ct[t] = (cthread_t){&ch, t};
        pthread_create(&th[t], NULL, child_appender, &ct[t]);
    }
    for (;;) pause();
}

/* ---------------- parent ---------------- */
typedef struct acks {
    ack_t *v;
    size_t n, cap;
} acks_t;

static void read_acks(int fd, acks_t *a, int kill_after_ms, pid_t pid) {
    uint64_t deadline = rmq_mono_ns() + (uint64_t)kill_after_ms * 1000000ull;
    bool killed = false;
    uint8_t buf[sizeof(ack_t) * 512];
    size_t have = 0;
    for (;;) {
        if (!killed && rmq_mono_ns() >= deadline) {
            kill(pid, SIGKILL);
            killed = true;
        }
        struct pollfd p = {fd, POLLIN, 0};
        int tmo = killed ? 1000 : 1;
        int r = poll(&p, 1, tmo);
        if (r <= 0) {
            if (killed && r == 0) fail_msg("pipe not closed after SIGKILL");
            continue;
        }
        ssize_t n = read(fd, buf + have, sizeof(buf) - have);
        if (n <= 0) break;
        have += (size_t)n;
        size_t whole = have / sizeof(ack_t);
        for (size_t i = 0; i < whole; i++) {
            if (a->n == a->cap) {
                a->cap = a->cap ? a->cap * 2 : 4096;
                a->v = realloc(a->v, a->cap * sizeof(ack_t));
            }
            memcpy(&a->v[a->n++], buf + i * sizeof(ack_t), sizeof(ack_t));
        }
        memmove(buf, buf + whole * sizeof(ack_t), have - whole * sizeof(ack_t));
        have -= whole * sizeof(ack_t);
    }
    assert_int_equal(have, 0); /* pipe writes of 32 bytes are atomic */
}

typedef struct sealed_ids {
    uint64_t ids[64];
    size_t n;
} sealed_ids_t;

static void collect_sealed(void *ud, const rmq_store_segment_info_t *seg) {
    sealed_ids_t *s = ud;
    if (s->n < 64) s->ids[s->n++] = seg->segment_id;
}

static void verify(const char *dir, const acks_t *a, bool reclaim, const tu_mode_t *mode, size_t *batches_out) {
    rmq_store_config_t c = crash_cfg(dir, mode);
    rmq_store_t *st = NULL;
    char err[256];
    rmq_err_t e = rmq_store_open(&c, NULL, &st, err, sizeof(err));
    if (e) fail_msg("reopen after crash: %s: %s", rmq_err_name(e), err);
    size_t batches = 0;
    uint8_t *exp = malloc(64 * 1024);
    for (uint64_t sid = 1; sid <= NSTREAMS; sid++) {
        int64_t ls, hw, le, ws;
        rmq_store_stream_info(st, sid, &ls, &hw, &le);
        assert_int_equal(hw, le);
        assert_int_equal(ls, 0);
        rmq_store_stream_wal_start(st, sid, &ws);
        if (!reclaim) assert_int_equal(ws, 0);
        /* acks of this stream, in completion (= offset) order */
        size_t ai = 0;
        int64_t acked_end = 0;
        for (size_t i = 0; i < a->n; i++)
            if (a->v[i].sid == sid) {
                assert_true(a->v[i].off >= acked_end);
                acked_end = a->v[i].off + a->v[i].cnt;
            }
        assert_true(hw >= acked_end);
        while (ai < a->n && (a->v[ai].sid != sid || a->v[ai].off < ws)) ai++;
        int64_t off = ws;
        while (off < hw) {
            rmq_store_read_t r;
            e = rmq_store_read(st, sid, off, 256 * 1024, &r);
            if (e) fail_msg("stream %llu read at %lld (hw %lld): %s", (unsigned long long)sid, (long long)off,
                            (long long)hw, rmq_err_name(e));
            assert_true(r.iovcnt > 0);
            for (size_t i = 0; i < r.iovcnt; i++) {
                size_t len = batch_len(sid, off);
                assert_int_equal(r.iov[i].iov_len, len);
                tu_fill(exp, len, sid, off);
                assert_memory_equal(r.iov[i].iov_base, exp, len);
                if (ai < a->n && a->v[ai].off == off) {
                    assert_int_equal(a->v[ai].len, len);
                    assert_int_equal(a->v[ai].crc, rmq_crc32c(0, r.iov[i].iov_base, len));
                    ai++;
                    while (ai < a->n && a->v[ai].sid != sid) ai++;
                }
                off += batch_cnt(sid, off);
                batches++;
            }
            assert_int_equal(r.next_offset, off);
            rmq_store_read_release(&r);
        }
        assert_int_equal(off, hw);
        assert_true(ai == a->n); /* every acknowledged batch of this stream was seen */
        /* nothing after the end, and appends continue densely */
        rmq_store_read_t r;
        assert_int_equal(rmq_store_read(st, sid, hw, 1 << 20, &r), RMQ_NONE);
        assert_int_equal(r.iovcnt, 0);
        rmq_store_read_release(&r);
    }
    /* appends continue at the right offsets (a full WAL reclaims as the
     * uploader would, after all the reads above) */
    sealed_ids_t sealed = {.n = 0};
    rmq_store_set_sealed_cb(st, collect_sealed, &sealed);
    size_t next_reclaim = 0;
    for (uint64_t sid = 1; sid <= NSTREAMS; sid++) {
        int64_t hw;
        rmq_store_stream_info(st, sid, NULL, &hw, NULL);
        size_t len = batch_len(sid, hw);
        tu_fill(exp, len, sid, hw);
        int64_t got = -1;
        for (;;) {
            e = tu_append(st, sid, exp, len, batch_cnt(sid, hw), 0, &got);
            if (e != RMQ_ERR_WAL_FULL && e != RMQ_ERR_NOSPACE) break;
            assert_true(next_reclaim < sealed.n);
            assert_int_equal(rmq_store_reclaim(st, sealed.ids[next_reclaim++]), RMQ_NONE);
            tu_sleep_ms(5);
        }
        assert_int_equal(e, RMQ_NONE);
        assert_int_equal(got, hw);
    }
    rmq_store_set_sealed_cb(st, NULL, NULL);
    free(exp);
    rmq_store_close(st);
    *batches_out = batches;
}

static void test_crash_recovery(void **state) {
    (void)state;
    int iters = 50;
    const char *env = getenv("RMQ_CRASH_ITERATIONS");
    if (env && atoi(env) > 0) iters = atoi(env);
    uint64_t rnd = tu_mix((uint64_t)rmq_mono_ns());
    size_t total_acks = 0, total_batches = 0;
    tu_mode_t modes[4];
    int nm = tu_modes(modes);
    assert_true(nm > 0);
    size_t per_mode_acks[4] = {0};
    uint64_t t0 = rmq_mono_ns();
    for (int it = 0; it < iters; it++) {
        char *dir = tu_mkdir();
        bool reclaim = it % 2 == 1;
        /* a second life for some iterations: crash again on top of a recovered WAL */
        int lives = it % 5 == 4 ? 2 : 1;
        int mi = it % nm; /* mode of the first life; later lives and the check use the next ones */
        acks_t a = {0};
        for (int life = 0; life < lives; life++) {
            const tu_mode_t *mode = &modes[(mi + life) % nm];
            int pfd[2];
            assert_int_equal(pipe(pfd), 0);
            fcntl(pfd[0], F_SETPIPE_SZ, 1 << 20);
            rnd = tu_mix(rnd);
            int delay = 2 + (int)(rnd % 199);
            pid_t pid = fork();
            assert_true(pid >= 0);
            if (pid == 0) {
                close(pfd[0]);
                child_main(dir, pfd[1], reclaim, mode);
                _exit(0);
            }
            close(pfd[1]);
            read_acks(pfd[0], &a, delay, pid);
            close(pfd[0]);
            int status = 0;
            assert_int_equal(waitpid(pid, &status, 0), pid);
            if (!(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL))
                fail_msg("child did not die by SIGKILL (status %d): it failed on its own", status);
        }
        size_t batches = 0;
        verify(dir, &a, reclaim, &modes[(mi + lives) % nm], &batches);
        if (getenv("RMQ_CRASH_VERBOSE"))
            fprintf(stderr, "iter %d mode=%s reclaim=%d lives=%d acks=%zu batches=%zu\n", it, modes[mi].name, reclaim,
                    lives, a.n, batches);
        per_mode_acks[mi] += a.n;
        total_acks += a.n;
        total_batches += batches;
        free(a.v);
        tu_rmdir(dir);
    }
    fprintf(stderr, "crash test: %d iterations, %zu acknowledged appends, %zu batches verified, %.1f s\n", iters,
            total_acks, total_batches, (double)(rmq_mono_ns() - t0) / 1e9);
    for (int m = 0; m < nm; m++) {
        fprintf(stderr, "  mode %-13s acknowledged appends (first lives): %zu\n", modes[m].name, per_mode_acks[m]);
        if (iters >= nm) assert_true(per_mode_acks[m] > 0);
    }
    assert_true(total_acks > 0);
}

int main(void) {
    rmq_log_set_level(RMQ_LOG_WARN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crash_recovery),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
