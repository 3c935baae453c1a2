/* meta_log.h - the local durable metadata log: the single-node
 * implementation of rmq_meta_store_t (meta_store.h).
 *
 * Directory <data_dir>/meta/ holds:
 *   snapshot      the latest state snapshot (rmq_meta_state_snapshot bytes)
 *   snapshot.tmp  a snapshot being written (removed at open)
 *   log           append-only frames of commands applied after the snapshot
 * Frame: payload length u32 | crc32c(payload) u32 | payload, where payload =
 * log index i64 | encoded command (meta_cmd.h). All big-endian.
 *
 * propose = check against the state (rejected commands are answered
 * without touching the disk) + append + fdatasync + apply. Every
 * `snapshot_every` applied commands a snapshot is written atomically
 * (temp file, fsync, rename, directory fsync) and the log truncated to
 * empty. open = load the snapshot (a corrupt snapshot is a hard error),
 * replay log frames with index > the snapshot's, truncate a torn tail (bad
 * or incomplete last frame) with a WARN line; a bad frame followed by more
 * data is corruption (hard error). A new cluster gets an InitCluster
 * command with a random id as its first entry.
 *
 * A failed write is rolled back (ftruncate to the last good size); a
 * failed fdatasync (or a failed rollback) leaves the log in an unknown
 * state, so the log turns read-only: every later propose fails with
 * RMQ_ERR_IO until restart (which replays whatever is on disk; a command
 * whose fdatasync failed may or may not be there).
 *
 * All disk access goes through rmq_meta_disk_t so tests inject EIO, ENOSPC
 * and short writes. The log is thread-safe: proposals are serialised by an
 * internal mutex; readers use the state's own lock. */
#ifndef RMQ_CONTROLLER_META_LOG_H
#define RMQ_CONTROLLER_META_LOG_H

#include <stdint.h>
#include <sys/types.h>

#include "common/err.h"
#include "controller/meta_state.h"
#include "controller/meta_store.h"

/* POSIX-like disk operations: return -1 and set errno on failure. */
typedef struct rmq_meta_disk {
    int (*open)(void *ud, const char *path, int flags, int mode); /* fd */
    int (*close)(void *ud, int fd);
    ssize_t (*write)(void *ud, int fd, const void *p, size_t n); /* may be short */
    ssize_t (*pread)(void *ud, int fd, void *p, size_t n, off_t off);
    int (*fdatasync)(void *ud, int fd);
    int (*fsync)(void *ud, int fd);
    int (*ftruncate)(void *ud, int fd, off_t len);
    int (*fsize)(void *ud, int fd, off_t *size);
    int (*rename)(void *ud, const char *from, const char *to);
    int (*unlink)(void *ud, const char *path);
    int (*mkdir)(void *ud, const char *path, int mode);
    void *ud;
} rmq_meta_disk_t;

/* The real thing (static storage). */
const rmq_meta_disk_t *rmq_meta_disk_posix(void);

typedef struct rmq_meta_log_opts {
    const char *data_dir;          /* required; meta/ is created under it */
    uint32_t snapshot_every;       /* commands between snapshots; 0 = 1000 */
    const rmq_meta_disk_t *disk;   /* NULL = rmq_meta_disk_posix() */
    rmq_meta_state_opts_t state;   /* for the state machine */
} rmq_meta_log_opts_t;

typedef struct rmq_meta_log rmq_meta_log_t;

typedef struct rmq_meta_log_stats {
    int64_t last_index;
    uint64_t log_bytes;          /* current size of the log file */
    uint32_t since_snapshot;     /* commands in the log after the snapshot */
    uint64_t snapshots_written;  /* since open */
    uint64_t replayed;           /* frames applied at open */
    uint64_t torn_bytes;         /* bytes cut off the tail at open */
    bool read_only;              /* an earlier I/O failure disabled writes */
} rmq_meta_log_stats_t;

/* Open (creating if needed) the log under opts->data_dir and rebuild the
 * state. On error *out is NULL and msg[0..cap) (may be NULL) says why:
 * RMQ_ERR_IO / RMQ_ERR_NOSPACE (disk), RMQ_ERR_CORRUPT (bad snapshot or a
 * corrupt frame that is not a torn tail, index gap), RMQ_ERR_NOMEM,
 * RMQ_ERR_INVALID_ARG. Close with rmq_meta_log_close. */
rmq_err_t rmq_meta_log_open(const rmq_meta_log_opts_t *opts, rmq_meta_log_t **out, char *msg, size_t cap);
void rmq_meta_log_close(rmq_meta_log_t *l);

/* Synchronous propose: cmd[0..len) borrowed. res (required; initialised
 * here, caller frees with rmq_meta_result_free) gets the outcome. Returns
 * res->err: a Kafka code if the state machine rejected the command (not
 * logged), RMQ_ERR_IO/RMQ_ERR_NOSPACE if it could not be made durable
 * (not applied), RMQ_NONE if durable and applied. */
rmq_err_t rmq_meta_log_propose(rmq_meta_log_t *l, const uint8_t *cmd, size_t len, rmq_meta_result_t *res);
/* Write a snapshot now and truncate the log. */
rmq_err_t rmq_meta_log_snapshot(rmq_meta_log_t *l);
/* The state machine (borrowed; lives until close). */
rmq_meta_state_t *rmq_meta_log_state(rmq_meta_log_t *l);
/* This log as a generic store (borrowed; lives until close). Its close op
 * closes the log. */
rmq_meta_store_t *rmq_meta_log_store(rmq_meta_log_t *l);
void rmq_meta_log_stats(rmq_meta_log_t *l, rmq_meta_log_stats_t *st);

#endif
