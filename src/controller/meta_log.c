/* meta_log.c - local durable metadata log with snapshots (see meta_log.h
 * and docs/metadata.md). Owns the files under <data_dir>/meta/ and the
 * state machine it feeds; exposes itself as an rmq_meta_store_t. */
#include "controller/meta_log.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/crc32c.h"
#include "common/log.h"

#define FRAME_HDR 8
#define FRAME_MAX (64u << 20) /* sanity cap on one frame's payload */
#define SNAP_MAX ((off_t)1 << 34)

/* ---- POSIX disk ---- */

static int px_open(void *ud, const char *path, int flags, int mode) {
    (void)ud;
    int fd;
    do fd = open(path, flags | O_CLOEXEC, mode);
    while (fd < 0 && errno == EINTR);
    return fd;
}
static int px_close(void *ud, int fd) { (void)ud; return close(fd); }
static ssize_t px_write(void *ud, int fd, const void *p, size_t n) { (void)ud; return write(fd, p, n); }
static ssize_t px_pread(void *ud, int fd, void *p, size_t n, off_t off) { (void)ud; return pread(fd, p, n, off); }
static int px_fdatasync(void *ud, int fd) { (void)ud; return fdatasync(fd); }
static int px_fsync(void *ud, int fd) { (void)ud; return fsync(fd); }
static int px_ftruncate(void *ud, int fd, off_t len) { (void)ud; return ftruncate(fd, len); }
static int px_fsize(void *ud, int fd, off_t *size) {
    (void)ud;
    struct stat st;
    if (fstat(fd, &st)) return -1;
    *size = st.st_size;
    return 0;
}
static int px_rename(void *ud, const char *a, const char *b) { (void)ud; return rename(a, b); }
static int px_unlink(void *ud, const char *p) { (void)ud; return unlink(p); }
static int px_mkdir(void *ud, const char *p, int mode) { (void)ud; return mkdir(p, (mode_t)mode); }

static const rmq_meta_disk_t posix_disk = {px_open,   px_close, px_write, px_pread,  px_fdatasync, px_fsync,
                                           px_ftruncate, px_fsize, px_rename, px_unlink, px_mkdir,  NULL};

const rmq_meta_disk_t *rmq_meta_disk_posix(void) { return &posix_disk; }

/* ---- the log ---- */

struct rmq_meta_log {
    pthread_mutex_t mu; /* serialises propose/snapshot */
    const rmq_meta_disk_t *disk;
    rmq_meta_state_t *state; /* owned */
    rmq_meta_store_t store;
    char *dir;       /* <data_dir>/meta */
    char *log_path;  /* dir/log */
    char *snap_path; /* dir/snapshot */
    char *tmp_path;  /* dir/snapshot.tmp */
    int fd;          /* log, O_APPEND */
    uint64_t log_size;
    uint32_t snapshot_every;
    uint32_t since_snap;
    uint64_t snapshots_written;
    uint64_t replayed;
    uint64_t torn_bytes;
    bool read_only;
};

static rmq_err_t errno_err(int e) { return e == ENOSPC || e == EDQUOT ? RMQ_ERR_NOSPACE : RMQ_ERR_IO; }

static rmq_err_t msgf(rmq_err_t err, char *msg, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static rmq_err_t msgf(rmq_err_t err, char *msg, size_t cap, const char *fmt, ...) {
    if (msg && cap) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, cap, fmt, ap);
        va_end(ap);
    }
    return err;
}

static char *path_join(const char *a, const char *b) {
    size_t n = strlen(a) + 1 + strlen(b) + 1;
    char *p = malloc(n);
    if (p) snprintf(p, n, "%s/%s", a, b);
    return p;
}

/* Write all of p[0..n), looping over short writes. -1 + errno on failure
 * (a write returning 0 counts as EIO). */
static int write_all(const rmq_meta_disk_t *d, int fd, const uint8_t *p, size_t n) {
    while (n) {
        ssize_t w = d->write(d->ud, fd, p, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        if (w == 0) {
            errno = EIO;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Read a whole file into a malloc'ed buffer (caller frees *out). Returns 0,
 * -1 + errno (ENOENT if it does not exist). */
static int read_file(const rmq_meta_disk_t *d, const char *path, int fd_in, uint8_t **out, size_t *len) {
    int fd = fd_in >= 0 ? fd_in : d->open(d->ud, path, O_RDONLY, 0);
    if (fd < 0) return -1;
    off_t size = 0;
    int rc = -1;
    uint8_t *buf = NULL;
    if (d->fsize(d->ud, fd, &size)) goto out;
    if (size < 0 || size > SNAP_MAX) {
        errno = EFBIG;
        goto out;
    }
    buf = malloc(size ? (size_t)size : 1);
    if (!buf) {
        errno = ENOMEM;
        goto out;
    }
    size_t got = 0;
    while (got < (size_t)size) {
        ssize_t r = d->pread(d->ud, fd, buf + got, (size_t)size - got, (off_t)got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) {
            if (r == 0) errno = EIO;
            goto out;
        }
        got += (size_t)r;
    }
    *out = buf;
    *len = got;
    buf = NULL;
    rc = 0;
out:
    if (fd_in < 0) {
        int saved = errno;
        d->close(d->ud, fd);
        errno = saved;
    }
    free(buf);
    return rc;
}

static int fsync_dir(const rmq_meta_disk_t *d, const char *dir) {
    int fd = d->open(d->ud, dir, O_RDONLY | O_DIRECTORY, 0);
    if (fd < 0) return -1;
    int rc = d->fsync(d->ud, fd);
    int saved = errno;
    d->close(d->ud, fd);
    errno = saved;
    return rc;
}

/* Snapshot the state to dir/snapshot atomically, then empty the log.
 * Caller holds l->mu. */
static rmq_err_t do_snapshot(rmq_meta_log_t *l) {
    const rmq_meta_disk_t *d = l->disk;
    rmq_buf_t b;
    rmq_buf_init(&b);
    rmq_err_t e = rmq_meta_state_snapshot(l->state, &b);
    if (e) {
        rmq_buf_free(&b);
        return e;
    }
    int fd = d->open(d->ud, l->tmp_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) {
        e = errno_err(errno);
        RMQ_WARN("meta", "msg=\"cannot create metadata snapshot\" path=%s errno=%d", l->tmp_path, errno);
        rmq_buf_free(&b);
        return e;
    }
    int saved = 0;
    if (write_all(d, fd, b.data, b.len) || d->fsync(d->ud, fd)) saved = errno;
    d->close(d->ud, fd);
    rmq_buf_free(&b);
    if (!saved && d->rename(d->ud, l->tmp_path, l->snap_path)) saved = errno;
    if (!saved && fsync_dir(d, l->dir)) saved = errno;
    if (saved) {
        d->unlink(d->ud, l->tmp_path);
        RMQ_WARN("meta", "msg=\"metadata snapshot failed, log kept\" path=%s errno=%d", l->snap_path, saved);
        return errno_err(saved);
    }
    l->snapshots_written++;
    l->since_snap = 0;
    /* The snapshot is durable: log entries up to its index are redundant
     * (replay skips them), so emptying the log is safe at any point. */
    if (d->ftruncate(d->ud, l->fd, 0) == 0 && d->fsync(d->ud, l->fd) == 0) {
        l->log_size = 0;
    } else {
        RMQ_WARN("meta", "msg=\"cannot truncate metadata log after snapshot; entries will be skipped at replay\" "
                         "path=%s errno=%d", l->log_path, errno);
        off_t sz;
        if (d->fsize(d->ud, l->fd, &sz) == 0) l->log_size = (uint64_t)sz;
    }
    RMQ_DEBUG("meta", "msg=\"metadata snapshot written\" index=%lld", (long long)rmq_meta_state_last_index(l->state));
    return 0;
}

/* *answered: the outcome is the state machine's (applied, or rejected by
 * its checks), as opposed to a failure to make the command durable. */
static rmq_err_t log_propose(rmq_meta_log_t *l, const uint8_t *cmd, size_t len, rmq_meta_result_t *res,
                             bool *answered) {
    rmq_meta_result_init(res);
    *answered = false;
    pthread_mutex_lock(&l->mu);
    rmq_err_t e;
    if (l->read_only) {
        e = msgf(RMQ_ERR_IO, res->msg, sizeof res->msg, "metadata log is read-only after an I/O failure");
        goto out;
    }
    if (len > FRAME_MAX - 8) {
        e = msgf(RMQ_ERR_TOO_LARGE, res->msg, sizeof res->msg, "metadata command of %zu bytes is too large", len);
        goto out;
    }
    /* Rejected commands are answered without being logged. */
    e = rmq_meta_state_check(l->state, cmd, len, res);
    if (e) {
        *answered = e != RMQ_ERR_NOMEM;
        goto out;
    }
    rmq_meta_result_init(res);

    int64_t index = rmq_meta_state_last_index(l->state) + 1;
    rmq_buf_t f;
    rmq_buf_init(&f);
    rmq_buf_put_u32(&f, (uint32_t)(8 + len));
    rmq_buf_put_u32(&f, 0);
    rmq_buf_put_i64(&f, index);
    rmq_buf_put(&f, cmd, len);
    if (f.oom) {
        rmq_buf_free(&f);
        e = msgf(RMQ_ERR_NOMEM, res->msg, sizeof res->msg, "out of memory");
        goto out;
    }
    rmq_wbe32(f.data + 4, rmq_crc32c(0, f.data + FRAME_HDR, f.len - FRAME_HDR));
    const rmq_meta_disk_t *d = l->disk;
    if (write_all(d, l->fd, f.data, f.len)) {
        int saved = errno;
        rmq_buf_free(&f);
        e = msgf(errno_err(saved), res->msg, sizeof res->msg, "metadata log write failed: %s", strerror(saved));
        if (d->ftruncate(d->ud, l->fd, (off_t)l->log_size)) {
            l->read_only = true;
            RMQ_ERROR("meta", "msg=\"cannot roll back a failed metadata log write; log is read-only\" errno=%d",
                      errno);
        }
        goto out;
    }
    rmq_buf_free(&f);
    if (d->fdatasync(d->ud, l->fd)) {
        int saved = errno;
        l->read_only = true;
        RMQ_ERROR("meta", "msg=\"metadata log fdatasync failed; log is read-only\" errno=%d", saved);
        e = msgf(errno_err(saved), res->msg, sizeof res->msg, "metadata log fdatasync failed: %s", strerror(saved));
        goto out;
    }
    l->log_size += FRAME_HDR + 8 + len;
    e = rmq_meta_state_apply(l->state, cmd, len, index, res);
    if (e == RMQ_ERR_NOMEM) {
        /* logged but not applied: the state is behind the log */
        l->read_only = true;
        goto out;
    }
    *answered = true;
    if (++l->since_snap >= l->snapshot_every) (void)do_snapshot(l); /* failure logged; log still complete */
out:
    pthread_mutex_unlock(&l->mu);
    res->err = e;
    return e;
}

rmq_err_t rmq_meta_log_propose(rmq_meta_log_t *l, const uint8_t *cmd, size_t len, rmq_meta_result_t *res) {
    bool answered;
    return log_propose(l, cmd, len, res, &answered);
}

rmq_err_t rmq_meta_log_snapshot(rmq_meta_log_t *l) {
    pthread_mutex_lock(&l->mu);
    rmq_err_t e = l->read_only ? RMQ_ERR_IO : do_snapshot(l);
    pthread_mutex_unlock(&l->mu);
    return e;
}

rmq_meta_state_t *rmq_meta_log_state(rmq_meta_log_t *l) { return l->state; }

void rmq_meta_log_stats(rmq_meta_log_t *l, rmq_meta_log_stats_t *st) {
    pthread_mutex_lock(&l->mu);
    st->last_index = rmq_meta_state_last_index(l->state);
    st->log_bytes = l->log_size;
    st->since_snapshot = l->since_snap;
    st->snapshots_written = l->snapshots_written;
    st->replayed = l->replayed;
    st->torn_bytes = l->torn_bytes;
    st->read_only = l->read_only;
    pthread_mutex_unlock(&l->mu);
}

/* ---- store interface ---- */

static rmq_err_t store_propose(void *impl, const uint8_t *cmd, size_t len, rmq_meta_done_fn done, void *ud,
                               char *msg, size_t cap) {
    rmq_meta_result_t res;
    bool answered;
    rmq_err_t e = log_propose(impl, cmd, len, &res, &answered);
    if (!answered) { /* not accepted: could not be made durable */
        if (msg && cap) snprintf(msg, cap, "%s", res.msg);
        rmq_meta_result_free(&res);
        return e;
    }
    done(ud, &res);
    rmq_meta_result_free(&res);
    return 0;
}

static rmq_meta_state_t *store_state(void *impl) { return ((rmq_meta_log_t *)impl)->state; }
static void store_close(void *impl) { rmq_meta_log_close(impl); }

static const rmq_meta_store_ops_t log_store_ops = {"local-log", store_propose, store_state, store_close};

rmq_meta_store_t *rmq_meta_log_store(rmq_meta_log_t *l) { return &l->store; }

/* ---- open / replay / close ---- */

void rmq_meta_log_close(rmq_meta_log_t *l) {
    if (!l) return;
    if (l->fd >= 0) l->disk->close(l->disk->ud, l->fd);
    rmq_meta_state_free(l->state);
    free(l->dir);
    free(l->log_path);
    free(l->snap_path);
    free(l->tmp_path);
    pthread_mutex_destroy(&l->mu);
    free(l);
}

/* Replay the log file contents data[0..len) into the state. Sets *good to
 * the length of the valid prefix. */
static rmq_err_t replay(rmq_meta_log_t *l, const uint8_t *data, size_t len, size_t *good, char *msg, size_t cap) {
    size_t off = 0;
    while (off < len) {
        size_t rem = len - off;
        if (rem < FRAME_HDR + 8) break; /* torn: incomplete header */
        uint32_t plen = rmq_be32(data + off);
        if (plen < 8 || plen > FRAME_MAX || plen > rem - FRAME_HDR) break; /* torn: incomplete frame */
        const uint8_t *payload = data + off + FRAME_HDR;
        if (rmq_crc32c(0, payload, plen) != rmq_be32(data + off + 4)) {
            if (off + FRAME_HDR + plen == len) break; /* torn: last frame half-written */
            return msgf(RMQ_ERR_CORRUPT, msg, cap,
                        "metadata log %s: bad checksum at offset %zu with %zu bytes after it", l->log_path, off,
                        len - off - FRAME_HDR - plen);
        }
        int64_t index = (int64_t)rmq_be64(payload);
        int64_t last = rmq_meta_state_last_index(l->state);
        if (index > last) {
            if (index != last + 1)
                return msgf(RMQ_ERR_CORRUPT, msg, cap, "metadata log %s: index %lld at offset %zu follows %lld",
                            l->log_path, (long long)index, off, (long long)last);
            rmq_err_t e = rmq_meta_state_apply(l->state, payload + 8, plen - 8, index, NULL);
            if (e == RMQ_ERR_NOMEM) return msgf(e, msg, cap, "out of memory replaying the metadata log");
            l->replayed++;
            l->since_snap++;
        }
        off += FRAME_HDR + plen;
    }
    *good = off;
    return 0;
}

rmq_err_t rmq_meta_log_open(const rmq_meta_log_opts_t *opts, rmq_meta_log_t **out, char *msg, size_t cap) {
    *out = NULL;
    if (msg && cap) msg[0] = '\0';
    if (!opts || !opts->data_dir || !*opts->data_dir)
        return msgf(RMQ_ERR_INVALID_ARG, msg, cap, "metadata log needs a data directory");
    rmq_meta_log_t *l = calloc(1, sizeof *l);
    if (!l) return msgf(RMQ_ERR_NOMEM, msg, cap, "out of memory");
    pthread_mutex_init(&l->mu, NULL);
    l->fd = -1;
    l->disk = opts->disk ? opts->disk : &posix_disk;
    l->snapshot_every = opts->snapshot_every ? opts->snapshot_every : 1000;
    l->store.ops = &log_store_ops;
    l->store.impl = l;
    const rmq_meta_disk_t *d = l->disk;
    rmq_err_t e = 0;
    uint8_t *data = NULL;
    size_t len = 0;

    l->state = rmq_meta_state_new(&opts->state);
    l->dir = path_join(opts->data_dir, "meta");
    if (l->dir) {
        l->log_path = path_join(l->dir, "log");
        l->snap_path = path_join(l->dir, "snapshot");
        l->tmp_path = path_join(l->dir, "snapshot.tmp");
    }
    if (!l->state || !l->dir || !l->log_path || !l->snap_path || !l->tmp_path) {
        e = msgf(RMQ_ERR_NOMEM, msg, cap, "out of memory");
        goto fail;
    }
    if (d->mkdir(d->ud, opts->data_dir, 0755) && errno != EEXIST) {
        e = msgf(errno_err(errno), msg, cap, "cannot create %s: %s", opts->data_dir, strerror(errno));
        goto fail;
    }
    if (d->mkdir(d->ud, l->dir, 0755) && errno != EEXIST) {
        e = msgf(errno_err(errno), msg, cap, "cannot create %s: %s", l->dir, strerror(errno));
        goto fail;
    }
    if (d->unlink(d->ud, l->tmp_path) && errno != ENOENT) {
        e = msgf(errno_err(errno), msg, cap, "cannot remove %s: %s", l->tmp_path, strerror(errno));
        goto fail;
    }

    /* 1. snapshot */
    if (read_file(d, l->snap_path, -1, &data, &len) == 0) {
        e = rmq_meta_state_restore(l->state, data, len);
        free(data);
        data = NULL;
        if (e) {
            e = msgf(e == RMQ_ERR_NOMEM ? e : RMQ_ERR_CORRUPT, msg, cap,
                     "corrupt metadata snapshot %s (%zu bytes): %s", l->snap_path, len, rmq_err_name(e));
            goto fail;
        }
    } else if (errno != ENOENT) {
        e = msgf(errno_err(errno), msg, cap, "cannot read %s: %s", l->snap_path, strerror(errno));
        goto fail;
    }

    /* 2. log */
    l->fd = d->open(d->ud, l->log_path, O_RDWR | O_CREAT | O_APPEND, 0644);
    if (l->fd < 0) {
        e = msgf(errno_err(errno), msg, cap, "cannot open %s: %s", l->log_path, strerror(errno));
        goto fail;
    }
    if (read_file(d, l->log_path, l->fd, &data, &len)) {
        e = msgf(errno_err(errno), msg, cap, "cannot read %s: %s", l->log_path, strerror(errno));
        goto fail;
    }
    size_t good = 0;
    e = replay(l, data, len, &good, msg, cap);
    free(data);
    data = NULL;
    if (e) goto fail;
    if (good < len) {
        RMQ_WARN("meta", "msg=\"truncating torn tail of metadata log\" path=%s offset=%zu dropped_bytes=%zu",
                 l->log_path, good, len - good);
        if (d->ftruncate(d->ud, l->fd, (off_t)good) || d->fsync(d->ud, l->fd)) {
            e = msgf(errno_err(errno), msg, cap, "cannot truncate %s: %s", l->log_path, strerror(errno));
            goto fail;
        }
        l->torn_bytes = len - good;
    }
    l->log_size = good;

    /* 3. a new cluster gets its id as its first command */
    if (!rmq_meta_state_cluster_id(l->state, NULL)) {
        rmq_meta_cmd_t c = {.type = RMQ_META_CMD_INIT_CLUSTER};
        e = rmq_meta_uuid_random(&c.u.init_cluster.cluster_id);
        rmq_buf_t b;
        rmq_buf_init(&b);
        if (!e) e = rmq_meta_cmd_encode(&c, &b);
        rmq_meta_result_t res;
        if (!e) e = rmq_meta_log_propose(l, b.data, b.len, &res);
        rmq_buf_free(&b);
        if (e) {
            e = msgf(e, msg, cap, "cannot initialise the cluster id: %s", rmq_err_name(e));
            goto fail;
        }
        rmq_meta_result_free(&res);
    }
    RMQ_INFO("meta", "msg=\"metadata log open\" dir=%s last_index=%lld replayed=%llu topics=%zu", l->dir,
             (long long)rmq_meta_state_last_index(l->state), (unsigned long long)l->replayed,
             rmq_meta_state_topic_count(l->state));
    *out = l;
    return 0;
fail:
    free(data);
    rmq_meta_log_close(l);
    return e;
}
