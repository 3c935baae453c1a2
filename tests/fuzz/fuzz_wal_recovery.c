/* fuzz_wal_recovery.c - libFuzzer target for WAL recovery (src/storage).
 *
 * The input becomes the contents of a WAL directory on an in-memory
 * filesystem (an rmq_wal_io_t): an optional checkpoint file and up to three
 * segment files of 64 KiB whose leading bytes come from the input (the rest
 * zeros, like a preallocated segment). Layout:
 *   u8 flags (bit 0: checkpoint present; bits 1-2: number of segments)
 *   [u16 BE length + checkpoint bytes] then per segment: u16 BE length + bytes.
 * rmq_store_open must either refuse cleanly or produce a store whose
 * streams all read back (whole batches, in order) and accept a new append.
 * Also decodes the input directly as a checkpoint and as entry headers. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "storage/store.h"
#include "storage/wal_format.h"

#define SEG 65536
#define MAXF 16
#define DIRFD 99
#define FD0 100

typedef struct mfile {
    char name[64];
    uint8_t *data;
    size_t size;
    bool used;
} mfile_t;

static mfile_t g_files[MAXF];
static const char *g_dir = "/fuzzwal";
static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER; /* the writer thread uses the fs too */

static mfile_t *mf_find(const char *path) {
    size_t dl = strlen(g_dir);
    if (strncmp(path, g_dir, dl) != 0 || path[dl] != '/') return NULL;
    for (int i = 0; i < MAXF; i++)
        if (g_files[i].used && strcmp(g_files[i].name, path + dl + 1) == 0) return &g_files[i];
    return NULL;
}

static mfile_t *mf_create(const char *name) {
    for (int i = 0; i < MAXF; i++)
        if (!g_files[i].used) {
            memset(&g_files[i], 0, sizeof(g_files[i]));
            g_files[i].used = true;
            strncpy(g_files[i].name, name, sizeof(g_files[i].name) - 1);
            return &g_files[i];
        }
    return NULL;
}

static mfile_t *mf_fd(int fd) {
    if (fd < FD0 || fd >= FD0 + MAXF || !g_files[fd - FD0].used) return NULL;
    return &g_files[fd - FD0];
}

static int mf_resize(mfile_t *f, size_t n) {
    if (n > 4 * SEG) return -ENOSPC;
    if (n > f->size) {
        uint8_t *d = realloc(f->data, n);
        if (!d) return -ENOMEM;
        memset(d + f->size, 0, n - f->size);
        f->data = d;
        f->size = n;
    }
    return 0;
}

static int m_open_u(void *ud, const char *path, int flags, int mode) {
    (void)ud;
    (void)mode;
    if (strcmp(path, g_dir) == 0) return DIRFD;
    mfile_t *f = mf_find(path);
    if (!f) {
        if (!(flags & O_CREAT)) return -ENOENT;
        f = mf_create(path + strlen(g_dir) + 1);
        if (!f) return -ENOSPC;
    }
    if (flags & O_TRUNC) f->size = 0;
    return FD0 + (int)(f - g_files);
}
static ssize_t m_pwritev_u(void *ud, int fd, const struct iovec *iov, int n, off_t off) {
    (void)ud;
    mfile_t *f = mf_fd(fd);
    if (!f) return -EBADF;
    size_t tot = 0;
    for (int i = 0; i < n; i++) {
        int r = mf_resize(f, (size_t)off + tot + iov[i].iov_len);
        if (r) return tot ? (ssize_t)tot : r;
        memcpy(f->data + off + tot, iov[i].iov_base, iov[i].iov_len);
        tot += iov[i].iov_len;
    }
    return (ssize_t)tot;
}
static int m_fdatasync_u(void *ud, int fd) {
    (void)ud;
    return fd == DIRFD || mf_fd(fd) ? 0 : -EBADF;
}
static int m_fallocate_u(void *ud, int fd, int mode, off_t off, off_t len) {
    (void)ud;
    mfile_t *f = mf_fd(fd);
    if (!f) return -EBADF;
    if (mode == 0) return mf_resize(f, (size_t)(off + len));
    if ((size_t)off < f->size) {
        size_t end = (size_t)(off + len) < f->size ? (size_t)(off + len) : f->size;
        memset(f->data + off, 0, end - (size_t)off);
    }
    return 0;
}
static ssize_t m_pread_u(void *ud, int fd, void *buf, size_t len, off_t off) {
    (void)ud;
    mfile_t *f = mf_fd(fd);
    if (!f) return -EBADF;
    if ((size_t)off >= f->size) return 0;
    size_t n = f->size - (size_t)off < len ? f->size - (size_t)off : len;
    memcpy(buf, f->data + off, n);
    return (ssize_t)n;
}
static int m_close_u(void *ud, int fd) {
    (void)ud;
    (void)fd;
    return 0;
}
static int m_unlink_u(void *ud, const char *path) {
    (void)ud;
    mfile_t *f = mf_find(path);
    if (!f) return -ENOENT;
    free(f->data);
    memset(f, 0, sizeof(*f));
    return 0;
}
static int m_rename_u(void *ud, const char *a, const char *b) {
    (void)ud;
    mfile_t *f = mf_find(a);
    if (!f) return -ENOENT;
    mfile_t *g = mf_find(b);
    if (g) {
        free(g->data);
        memset(g, 0, sizeof(*g));
    }
    memset(f->name, 0, sizeof(f->name));
    strncpy(f->name, b + strlen(g_dir) + 1, sizeof(f->name) - 1);
    return 0;
}
static int64_t m_fsize_u(void *ud, int fd) {
    (void)ud;
    mfile_t *f = mf_fd(fd);
    return f ? (int64_t)f->size : -EBADF;
}
static int m_list_u(void *ud, const char *dir, void (*fn)(void *, const char *), void *arg) {
    (void)ud;
    if (strcmp(dir, g_dir) != 0) return -ENOENT;
    for (int i = 0; i < MAXF; i++)
        if (g_files[i].used) fn(arg, g_files[i].name);
    return 0;
}

#define LOCKED(ret, name, params, args) \
    static ret name params { \
        pthread_mutex_lock(&g_mu); \
        ret r_ = name##_u args; \
        pthread_mutex_unlock(&g_mu); \
        return r_; \
    }
LOCKED(int, m_open, (void *ud, const char *p, int fl, int mode), (ud, p, fl, mode))
LOCKED(ssize_t, m_pwritev, (void *ud, int fd, const struct iovec *iov, int n, off_t off), (ud, fd, iov, n, off))
LOCKED(int, m_fdatasync, (void *ud, int fd), (ud, fd))
LOCKED(int, m_fallocate, (void *ud, int fd, int mode, off_t off, off_t len), (ud, fd, mode, off, len))
LOCKED(ssize_t, m_pread, (void *ud, int fd, void *buf, size_t len, off_t off), (ud, fd, buf, len, off))
LOCKED(int, m_close, (void *ud, int fd), (ud, fd))
LOCKED(int, m_unlink, (void *ud, const char *p), (ud, p))
LOCKED(int, m_rename, (void *ud, const char *a, const char *b), (ud, a, b))
LOCKED(int64_t, m_fsize, (void *ud, int fd), (ud, fd))
LOCKED(int, m_list, (void *ud, const char *d, void (*fn)(void *, const char *), void *arg), (ud, d, fn, arg))

/* no pwritev_dsync: synced writes take the pwritev + fdatasync path the
 * in-memory filesystem models */
static const rmq_wal_io_t g_io = {.open = m_open,
                                  .pwritev = m_pwritev,
                                  .fdatasync = m_fdatasync,
                                  .fallocate = m_fallocate,
                                  .pread = m_pread,
                                  .close = m_close,
                                  .unlink = m_unlink,
                                  .rename = m_rename,
                                  .fsize = m_fsize,
                                  .list = m_list,
                                  .ud = NULL};

static void reset_fs(void) {
    for (int i = 0; i < MAXF; i++) {
        free(g_files[i].data);
        memset(&g_files[i], 0, sizeof(g_files[i]));
    }
}

static void add_file(const char *name, const uint8_t *p, size_t n, size_t size) {
    mfile_t *f = mf_create(name);
    if (!f || mf_resize(f, size > n ? size : n) != 0) return;
    if (n) memcpy(f->data, p, n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static bool init;
    if (!init) {
        rmq_log_set_level(RMQ_LOG_OFF);
        init = true;
    }
    /* the raw decoders first */
    rmq_wal_ckpt_t ck;
    if (rmq_wal_ckpt_decode(data, size, &ck) == RMQ_NONE) rmq_wal_ckpt_free(&ck);
    if (size >= RMQ_WAL_HDR) {
        rmq_wal_hdr_t h;
        if (rmq_wal_hdr_decode(data, 1, size - RMQ_WAL_HDR, &h) == RMQ_NONE)
            (void)rmq_wal_hdr_crc_ok(data, data + RMQ_WAL_HDR, h.len);
    }
    if (size < 1) return 0;
    reset_fs();
    uint8_t flags = data[0];
    size_t pos = 1;
    if (flags & 1) {
        if (pos + 2 > size) return 0;
        size_t n = ((size_t)data[pos] << 8) | data[pos + 1];
        pos += 2;
        if (n > size - pos) n = size - pos;
        add_file("checkpoint", data + pos, n, 0);
        pos += n;
    }
    int nseg = (flags >> 1) & 3;
    for (int i = 0; i < nseg && pos + 2 <= size; i++) {
        size_t n = ((size_t)data[pos] << 8) | data[pos + 1];
        pos += 2;
        if (n > size - pos) n = size - pos;
        if (n > SEG) n = SEG;
        char name[32];
        snprintf(name, sizeof(name), "wal-%016x.seg", i + 1);
        add_file(name, data + pos, n, SEG);
        pos += n;
    }
    rmq_store_config_t c;
    rmq_store_config_default(&c);
    c.dir = g_dir;
    c.segment_size_bytes = SEG;
    c.capacity_bytes = 4 * SEG;
    c.write_cache_size_bytes = 4096;
    rmq_store_t *st = NULL;
    char err[256];
    if (rmq_store_open(&c, &g_io, &st, err, sizeof(err)) == RMQ_NONE) {
        uint64_t *ids;
        size_t n;
        if (rmq_store_list_streams(st, &ids, &n) == RMQ_NONE) {
            for (size_t i = 0; i < n && i < 8; i++) {
                int64_t ls, hw, le, ws;
                rmq_store_stream_info(st, ids[i], &ls, &hw, &le);
                if (hw != le || ls > hw) abort();
                rmq_store_stream_wal_start(st, ids[i], &ws);
                int64_t off = ws;
                for (int k = 0; k < 64 && off < hw; k++) {
                    rmq_store_read_t r;
                    rmq_err_t e = rmq_store_read(st, ids[i], off, 1 << 16, &r);
                    if (e != RMQ_NONE || r.iovcnt == 0) {
                        rmq_store_read_release(&r);
                        break;
                    }
                    if (r.next_offset <= off) abort();
                    off = r.next_offset;
                    rmq_store_read_release(&r);
                }
                uint8_t b[16] = {0};
                (void)rmq_store_append(st, ids[i], b, sizeof(b), 1, 0, NULL, NULL);
            }
            free(ids);
        }
        rmq_store_close(st);
    }
    reset_fs();
    return 0;
}
