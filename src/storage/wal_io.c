/* wal_io.c - default (syscall) implementation of rmq_wal_io_t and the
 * retry helpers for short writes and reads. See wal_io.h. */
#include "storage/wal_io.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int sys_open(void *ud, const char *path, int flags, int mode) {
    (void)ud;
    int fd = open(path, flags, mode);
    return fd < 0 ? -errno : fd;
}
static ssize_t sys_pwritev(void *ud, int fd, const struct iovec *iov, int iovcnt, off_t off) {
    (void)ud;
    ssize_t n = pwritev(fd, iov, iovcnt, off);
    return n < 0 ? -errno : n;
}
static ssize_t sys_pwritev_dsync(void *ud, int fd, const struct iovec *iov, int iovcnt, off_t off) {
    (void)ud;
    ssize_t n = pwritev2(fd, iov, iovcnt, off, RWF_DSYNC);
    return n < 0 ? -errno : n;
}
static int sys_fdatasync(void *ud, int fd) {
    (void)ud;
    return fdatasync(fd) < 0 ? -errno : 0;
}
static int sys_writeback(void *ud, int fd, off_t off, off_t len) {
    (void)ud;
    return sync_file_range(fd, off, len, SYNC_FILE_RANGE_WRITE) < 0 ? -errno : 0;
}
static int sys_fallocate(void *ud, int fd, int mode, off_t off, off_t len) {
    (void)ud;
    return fallocate(fd, mode, off, len) < 0 ? -errno : 0;
}
static ssize_t sys_pread(void *ud, int fd, void *buf, size_t len, off_t off) {
    (void)ud;
    ssize_t n = pread(fd, buf, len, off);
    return n < 0 ? -errno : n;
}
static int sys_close(void *ud, int fd) {
    (void)ud;
    return close(fd) < 0 ? -errno : 0;
}
static int sys_unlink(void *ud, const char *path) {
    (void)ud;
    return unlink(path) < 0 ? -errno : 0;
}
static int sys_rename(void *ud, const char *from, const char *to) {
    (void)ud;
    return rename(from, to) < 0 ? -errno : 0;
}
static int64_t sys_fsize(void *ud, int fd) {
    (void)ud;
    struct stat sb;
    if (fstat(fd, &sb) < 0) return -errno;
    return (int64_t)sb.st_size;
}
static int sys_list(void *ud, const char *dir, void (*fn)(void *arg, const char *name), void *arg) {
    (void)ud;
    DIR *d = opendir(dir);
    if (!d) return -errno;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        fn(arg, e->d_name);
    }
    closedir(d);
    return 0;
}

static const rmq_wal_io_t rmq_wal_io_sys = {
    .open = sys_open,
    .pwritev = sys_pwritev,
    .fdatasync = sys_fdatasync,
    .pwritev_dsync = sys_pwritev_dsync,
    .writeback = sys_writeback,
    .fallocate = sys_fallocate,
    .pread = sys_pread,
    .close = sys_close,
    .unlink = sys_unlink,
    .rename = sys_rename,
    .fsize = sys_fsize,
    .list = sys_list,
    .ud = NULL,
};

const rmq_wal_io_t *rmq_wal_io_default(void) { return &rmq_wal_io_sys; }

typedef ssize_t (*rmq_wal_writev_fn)(void *ud, int fd, const struct iovec *iov, int iovcnt, off_t off);

static int rmq_wal_io_writev_all(const rmq_wal_io_t *io, rmq_wal_writev_fn wr, int fd, const struct iovec *iov,
                                 int iovcnt, off_t off) {
    struct iovec local[64];
    int zero_tries = 0;
    while (iovcnt > 0) {
        int n = iovcnt < 64 ? iovcnt : 64;
        memcpy(local, iov, (size_t)n * sizeof(*iov));
        size_t want = 0;
        for (int i = 0; i < n; i++) want += local[i].iov_len;
        struct iovec *cur = local;
        int cnt = n;
        while (want > 0) {
            ssize_t w = wr(io->ud, fd, cur, cnt, off);
            if (w == -EINTR || w == -EAGAIN) continue;
            if (w < 0) return (int)w;
            if (w == 0) {
                if (++zero_tries > 8) return -EIO;
                continue;
            }
            zero_tries = 0;
            off += w;
            want -= (size_t)w;
            size_t adv = (size_t)w;
            while (cnt > 0 && adv >= cur->iov_len) {
                adv -= cur->iov_len;
                cur++;
                cnt--;
            }
            if (cnt > 0 && adv > 0) {
                cur->iov_base = (char *)cur->iov_base + adv;
                cur->iov_len -= adv;
            }
        }
        iov += n;
        iovcnt -= n;
    }
    return 0;
}

int rmq_wal_io_pwritev_all(const rmq_wal_io_t *io, int fd, const struct iovec *iov, int iovcnt, off_t off) {
    return rmq_wal_io_writev_all(io, io->pwritev, fd, iov, iovcnt, off);
}

int rmq_wal_io_pwritev_dsync_all(const rmq_wal_io_t *io, int fd, const struct iovec *iov, int iovcnt, off_t off) {
    return rmq_wal_io_writev_all(io, io->pwritev_dsync, fd, iov, iovcnt, off);
}

int rmq_wal_io_pread_all(const rmq_wal_io_t *io, int fd, void *buf, size_t len, off_t off) {
    size_t got = 0;
    while (got < len) {
        ssize_t r = io->pread(io->ud, fd, (char *)buf + got, len - got, off + (off_t)got);
        if (r == -EINTR || r == -EAGAIN) continue;
        if (r < 0) return (int)r;
        if (r == 0) return -ENODATA;
        got += (size_t)r;
    }
    return 0;
}
