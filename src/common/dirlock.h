/* dirlock.h - one process per data directory.
 *
 * A broker or controller takes an exclusive lock on <dir>/.lock before it
 * opens anything under dir (the metadata Raft log, the WAL), as Kafka locks
 * each log directory: two processes writing the same Raft log or WAL
 * corrupt it for good. The lock is flock(2) on an open descriptor, so the
 * kernel drops it when the process dies (kill -9 included) and a restart
 * never finds a stale lock; the holder's pid is written into the file for
 * the error message only. */
#ifndef RMQ_COMMON_DIRLOCK_H
#define RMQ_COMMON_DIRLOCK_H

#include <stddef.h>

#include "common/err.h"

/* Locks dir, creating it and its parents when missing. On success *fd holds the lock until
 * rmq_dirlock_release(*fd) or exit. RMQ_ERR_BUSY when another process holds
 * it ("data directory D is in use by another process (pid N)" in errbuf),
 * RMQ_ERR_IO when the lock file cannot be opened or locked. */
rmq_err_t rmq_dirlock_acquire(const char *dir, int *fd, char *errbuf, size_t errlen);
/* Drops the lock (fd < 0: nothing). The file stays. */
void rmq_dirlock_release(int fd);

#endif
