/* wal_io.h - the disk interface of the storage engine.
 *
 * Every file operation of the WAL (segments, checkpoint, directory) goes
 * through an rmq_wal_io_t so tests can inject faults (short writes, EIO on
 * fdatasync, ENOSPC on preallocation, torn data) and the fuzz target can run
 * recovery against an in-memory filesystem. rmq_wal_io_default() is the real
 * thing (plain syscalls). Every function returns >= 0 on success and a
 * negative errno on failure (never -1 + errno). Paths are borrowed for the
 * call only.
 *
 * The O_DIRECT path uses the same functions (open gets O_DIRECT in its
 * flags, pwritev gets 4096-aligned buffers, offsets and lengths). The
 * io_uring path cannot go through a function table without losing what it
 * is for (the kernel does the write and the fdatasync), so the store uses
 * a real ring and passes every step's result through an optional
 * rmq_wal_uring_hook_fn, where tests turn successes into failures or short
 * writes. That hook is given in rmq_store_config_t (uring_hook), not here.
 *
 * Initialize an rmq_wal_io_t with designated initializers: members are
 * added over time, and an unset optional member (pwritev_dsync, writeback) is NULL. */
#ifndef RMQ_STORAGE_WAL_IO_H
#define RMQ_STORAGE_WAL_IO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

typedef struct rmq_wal_io {
    /* open(2): returns an fd or -errno. */
    int (*open)(void *ud, const char *path, int flags, int mode);
    /* pwritev(2): bytes written (may be short) or -errno. iov borrowed. */
    ssize_t (*pwritev)(void *ud, int fd, const struct iovec *iov, int iovcnt, off_t off);
    int (*fdatasync)(void *ud, int fd);
    /* Optional (NULL = not offered): pwritev2(2) with RWF_DSYNC, a write
     * whose bytes are durable when it returns (bytes written, may be short,
     * or -errno; -EOPNOTSUPP where the kernel or filesystem lacks it). The
     * store prefers it to pwritev + fdatasync for synced writes: the sync
     * covers only the written range, and under concurrent disk load its
     * tail latency is a fraction of fdatasync's (docs/storage.md). */
    ssize_t (*pwritev_dsync)(void *ud, int fd, const struct iovec *iov, int iovcnt, off_t off);
    /* Optional (NULL = not offered): start writing [off, off+len) back to
     * the disk without waiting (sync_file_range(2) SYNC_FILE_RANGE_WRITE).
     * A hint, not a sync: 0 or -errno, and the store ignores a failure. */
    int (*writeback)(void *ud, int fd, off_t off, off_t len);
    /* fallocate(2) with the given mode (0 or FALLOC_FL_ZERO_RANGE|KEEP_SIZE). */
    int (*fallocate)(void *ud, int fd, int mode, off_t off, off_t len);
    /* pread(2) into the caller's buf: bytes read (short at EOF) or -errno. */
    ssize_t (*pread)(void *ud, int fd, void *buf, size_t len, off_t off);
    int (*close)(void *ud, int fd);
    int (*unlink)(void *ud, const char *path);
    /* rename(2), used for the atomic checkpoint replace. */
    int (*rename)(void *ud, const char *from, const char *to);
    /* File size in bytes or -errno. */
    int64_t (*fsize)(void *ud, int fd);
    /* Call fn(arg, name) for each entry name in dir (names borrowed for the
     * call). Returns 0 or -errno. */
    int (*list)(void *ud, const char *dir, void (*fn)(void *arg, const char *name), void *arg);
    void *ud;
} rmq_wal_io_t;

/* Sees the result of each io_uring step and returns the result the store
 * acts on. op is one of RMQ_WAL_URING_*; res is io_uring_queue_init's return
 * (INIT, fd -1), or a CQE's res (WRITE: bytes written or -errno; FSYNC: 0 or
 * -errno). */
typedef int (*rmq_wal_uring_hook_fn)(void *ud, int op, int fd, int res);
enum { RMQ_WAL_URING_INIT = 1, RMQ_WAL_URING_WRITE = 2, RMQ_WAL_URING_FSYNC = 3 };

/* The real syscalls (static storage). */
const rmq_wal_io_t *rmq_wal_io_default(void);

/* Write all of iov[0..iovcnt) at off, retrying short writes and EINTR.
 * Returns 0 or -errno (-EIO if the device keeps returning 0 bytes). The
 * iovec array is copied internally; the caller's array is not modified. */
int rmq_wal_io_pwritev_all(const rmq_wal_io_t *io, int fd, const struct iovec *iov, int iovcnt, off_t off);
/* The same through io->pwritev_dsync (which must be set): when it returns
 * 0, every byte is durable. */
int rmq_wal_io_pwritev_dsync_all(const rmq_wal_io_t *io, int fd, const struct iovec *iov, int iovcnt, off_t off);
/* Read exactly len bytes at off into buf; -EIO-like errors as -errno,
 * -ENODATA if the file ends first. */
int rmq_wal_io_pread_all(const rmq_wal_io_t *io, int fd, void *buf, size_t len, off_t off);

#endif
