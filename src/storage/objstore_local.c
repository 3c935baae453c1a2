/* objstore_local.c - the local-directory object store (the embedded
 * default backend of objstore.h). Key "a/b/c" is the file <root>/a/b/c.
 *
 * put writes a temp file in the object's directory (".<name>.rmqtmp.*"),
 * with O_DIRECT when the buffer is block-aligned and the filesystem allows
 * it (no page-cache copy; paced chunk by chunk when the store has a pacer,
 * see rmq_obj_set_pacer), fsyncs it, renames it over the key and fsyncs the directory, so an object
 * is either absent, the old version or the complete new one, also after a
 * crash. get uses pread (O_DIRECT for large block-aligned reads); list walks the tree (pruned by the prefix), sorts
 * the keys in byte order like S3 and pages with the last returned key as
 * the continuation token; delete unlinks and removes emptied directories.
 *
 * Limitation of mapping keys to files: "a" and "a/b" cannot both exist
 * (put of the second fails with RMQ_ERR_IO); the uploader's key layout
 * never does that. Temp-file names are reserved: keys containing
 * ".rmqtmp." in a segment are rejected. No shared mutable state besides an
 * atomic counter, so calls are thread-safe. */
#include "storage/objstore.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define TMP_MARK ".rmqtmp."

typedef struct local_store {
    rmq_obj_store_t base;
    char *root; /* owned, no trailing slash */
    size_t page_size;
    atomic_uint_fast64_t tmp_seq;
} local_store_t;

static local_store_t *L(rmq_obj_store_t *s) { return (local_store_t *)s; }

static rmq_err_t errno_err(int e) {
    switch (e) {
    case ENOENT:
    case ENOTDIR:
        return RMQ_ERR_NOT_FOUND;
    case ENOSPC:
    case EDQUOT:
        return RMQ_ERR_NOSPACE;
    case ENOMEM:
        return RMQ_ERR_NOMEM;
    case EROFS:
        return RMQ_ERR_READ_ONLY;
    default:
        return RMQ_ERR_IO;
    }
}

static bool local_key_ok(const char *key) { return rmq_obj_key_valid(key) && !strstr(key, TMP_MARK); }

static rmq_err_t key_path(local_store_t *ls, const char *key, char *path, rmq_obj_status_t *st) {
    if (!local_key_ok(key)) return rmq_obj_fail(st, RMQ_ERR_INVALID_ARG, 0, "invalid object key");
    int n = snprintf(path, PATH_MAX, "%s/%s", ls->root, key);
    if (n < 0 || n >= PATH_MAX) return rmq_obj_fail(st, RMQ_ERR_INVALID_ARG, 0, "object path too long");
    return 0;
}

/* mkdir -p of path[0..len) (path is modified temporarily). */
static int mkdir_p(char *path, size_t len) {
    for (size_t i = 1; i <= len; i++) {
        if (i == len || path[i] == '/') {
            char c = path[i];
            path[i] = '\0';
            int r = mkdir(path, 0755);
            int e = errno;
            path[i] = c;
            if (r != 0 && e != EEXIST) {
                errno = e;
                return -1;
            }
        }
    }
    return 0;
}

static int fsync_dir(const char *dir) {
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return -1;
    int r = fsync(fd);
    int e = errno;
    close(fd);
    errno = e;
    return r;
}

/* Buffered write of the whole object in chunks, pushing each to the disk as
 * we go (waiting for the one before): the final fsync is then short, and a
 * WAL fdatasync on the same disk never queues behind a whole object's dirty
 * pages. Returns 0, or an errno with *what set. */
static int write_buffered(int fd, const uint8_t *p, size_t left, const char **what) {
    const size_t chunk = 4u << 20;
    off_t done = 0, flushed = 0;
    while (left > 0) {
        ssize_t w = write(fd, p, left < chunk ? left : chunk);
        if (w < 0) {
            if (errno == EINTR) continue;
            *what = "write";
            return errno;
        }
        p += w;
        left -= (size_t)w;
        done += w;
        if (done - flushed >= (off_t)chunk || left == 0) {
            if (flushed) sync_file_range(fd, 0, flushed, SYNC_FILE_RANGE_WAIT_BEFORE);
            sync_file_range(fd, flushed, done - flushed, SYNC_FILE_RANGE_WRITE);
            flushed = done;
        }
    }
    return 0;
}

/* Write the object with O_DIRECT: the disk reads the caller's buffer
 * itself, so an upload costs no page-cache copy (that copy was half of the
 * broker's CPU at 150 MB/s of produce) and leaves no cold object pages
 * behind. Needs data aligned to DIO_ALIGN (the uploader allocates it so);
 * the last partial block goes through a zero-padded bounce block and the
 * file is then truncated to len. Returns 1 when written, 0 when O_DIRECT
 * cannot be used here (unaligned buffer, a filesystem without it such as
 * tmpfs: nothing was written, fall back), or -errno with *what set.
 * Chunks are 256 KiB while the pacer says it paces (a WAL shares the disk)
 * and 1 MiB otherwise (no pacer, or catching up): a WAL synced write that
 * reaches the device queue behind a 1 MiB write waits for all of it (p90 of
 * a 300 KiB RWF_DSYNC probe 0.80 ms beside 1 MiB writes against 0.49 beside
 * 256 KiB, bench/bench_disk_interference.py --chunk-kib), but 256 KiB writes
 * throughout cost 12 % of the max produce rate, the uploader falling behind
 * on four times the writes (bench/README.md "Smaller O_DIRECT writes for
 * objects"). The first chunk, before the pacer has been asked, is small. */
#define DIO_ALIGN 4096u
#define DIO_CHUNK_PACED (256u << 10)
#define DIO_CHUNK (1u << 20)
static int write_direct(rmq_obj_store_t *s, int fd, const uint8_t *data, size_t len, const char **what) {
    if (len < DIO_ALIGN || ((uintptr_t)data % DIO_ALIGN) != 0) return 0;
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_DIRECT) != 0) return 0;
    size_t whole = len - len % DIO_ALIGN, off = 0, paced = 0; /* paced: bytes charged to the pacer up to here */
    int rc = 1;
    size_t chunk = s->pace ? DIO_CHUNK_PACED : DIO_CHUNK;
    while (off < whole) {
        size_t n = whole - off < chunk ? whole - off : chunk;
        /* not before the first write (it may refuse O_DIRECT); a retry
         * after EINTR or a short write is charged only for new bytes */
        if (s->pace && off > 0 && off + n > paced) {
            bool pacing = s->pace(s->pace_ud, off + n - (paced > off ? paced : off));
            paced = off + n;
            chunk = pacing ? DIO_CHUNK_PACED : DIO_CHUNK; /* from the next chunk on */
        }
        ssize_t w = pwrite(fd, data + off, n, (off_t)off);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0 && errno == EINVAL && off == 0) { /* refused at the first write: not supported */
            rc = 0;
            break;
        }
        if (w <= 0) {
            *what = "write";
            rc = -(w < 0 ? errno : EIO);
            break;
        }
        off += (size_t)w;
    }
    if (rc == 1 && off < len) {
        void *blk = NULL;
        if (posix_memalign(&blk, DIO_ALIGN, DIO_ALIGN) != 0) {
            *what = "write";
            rc = -ENOMEM;
        } else {
            memset(blk, 0, DIO_ALIGN);
            memcpy(blk, data + off, len - off);
            ssize_t w;
            do w = pwrite(fd, blk, DIO_ALIGN, (off_t)off);
            while (w < 0 && errno == EINTR);
            if (w != (ssize_t)DIO_ALIGN) {
                *what = "write";
                rc = -(w < 0 ? errno : EIO);
            } else if (ftruncate(fd, (off_t)len) != 0) {
                *what = "truncate";
                rc = -errno;
            }
            free(blk);
        }
    }
    (void)fcntl(fd, F_SETFL, fl);
    return rc;
}

static rmq_err_t local_put(rmq_obj_store_t *s, const char *key, const void *data, size_t len, rmq_obj_status_t *st) {
    local_store_t *ls = L(s);
    char path[PATH_MAX], tmp[PATH_MAX];
    rmq_err_t err = key_path(ls, key, path, st);
    if (err) return err;
    char *slash = strrchr(path, '/');
    size_t dirlen = (size_t)(slash - path);
    const char *base = slash + 1;
    uint64_t seq = atomic_fetch_add(&ls->tmp_seq, 1);
    int n = snprintf(tmp, sizeof tmp, "%.*s/.%s" TMP_MARK "%ld.%llu", (int)dirlen, path, base, (long)getpid(),
                     (unsigned long long)seq);
    if (n < 0 || n >= (int)sizeof tmp) return rmq_obj_fail(st, RMQ_ERR_INVALID_ARG, 0, "object path too long");

    int fd = -1;
    for (int attempt = 0; attempt < 5 && fd < 0; attempt++) {
        if (mkdir_p(path, dirlen) != 0)
            return rmq_obj_fail(st, errno_err(errno) == RMQ_ERR_NOT_FOUND ? RMQ_ERR_IO : errno_err(errno), 0,
                                "mkdir for %s: %s", key, strerror(errno));
        fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        if (fd < 0 && errno != ENOENT) break; /* ENOENT: a concurrent delete removed the dir */
    }
    if (fd < 0) return rmq_obj_fail(st, errno_err(errno) == RMQ_ERR_NOT_FOUND ? RMQ_ERR_IO : errno_err(errno), 0,
                                    "create temp for %s: %s", key, strerror(errno));
    const char *what = NULL;
    int e = 0;
    int dr = write_direct(s, fd, data, len, &what);
    if (dr < 0) {
        e = -dr;
    } else if (dr == 0) { /* O_DIRECT not possible here: page-cache writes */
        e = write_buffered(fd, data, len, &what);
    }
    if (!what && fsync(fd) != 0) {
        what = "fsync";
        e = errno;
    }
    if (close(fd) != 0 && !what) {
        what = "close";
        e = errno;
    }
    if (!what && rename(tmp, path) != 0) {
        what = "rename";
        e = errno;
    }
    if (what) {
        unlink(tmp);
        err = errno_err(e);
        if (err == RMQ_ERR_NOT_FOUND) err = RMQ_ERR_IO;
        return rmq_obj_fail(st, err, 0, "%s %s: %s", what, key, strerror(e));
    }
    path[dirlen] = '\0';
    if (fsync_dir(path) != 0) return rmq_obj_fail(st, RMQ_ERR_IO, 0, "fsync dir of %s: %s", key, strerror(errno));
    return 0;
}

/* Read the whole blocks of [offset, offset+want) into dst with O_DIRECT
 * when dst and offset are block-aligned and the read is large (the tiered
 * block cache's 1 MiB GETs): objects are written with O_DIRECT and are not
 * in the page cache, and a buffered read would pay a second copy through
 * it. Returns the bytes read; the caller reads the rest (the last partial
 * block, or everything when O_DIRECT is not possible or fails) buffered. */
static uint64_t read_direct(int fd, uint8_t *dst, uint64_t want, uint64_t offset) {
    if (want < 64 * 1024 || ((uintptr_t)dst % DIO_ALIGN) != 0 || offset % DIO_ALIGN != 0) return 0;
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_DIRECT) != 0) return 0;
    uint64_t whole = want - want % DIO_ALIGN, got = 0;
    while (got < whole) {
        ssize_t r = pread(fd, dst + got, (size_t)(whole - got), (off_t)(offset + got));
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break; /* EINVAL (no O_DIRECT here), EOF: the buffered loop takes over */
        got += (uint64_t)r;
        if (got % DIO_ALIGN) { /* short, unaligned read: keep only whole blocks */
            got -= got % DIO_ALIGN;
            break;
        }
    }
    (void)fcntl(fd, F_SETFL, fl);
    return got;
}

static rmq_err_t local_get(rmq_obj_store_t *s, const char *key, uint64_t offset, int64_t length, rmq_buf_t *out,
                           rmq_obj_status_t *st) {
    local_store_t *ls = L(s);
    char path[PATH_MAX];
    rmq_err_t err = key_path(ls, key, path, st);
    if (err) return err;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return rmq_obj_fail(st, errno_err(errno), 0, "open %s: %s", key, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        int e = errno;
        close(fd);
        return rmq_obj_fail(st, errno_err(e), 0, "stat %s: %s", key, strerror(e));
    }
    if (!S_ISREG(sb.st_mode)) {
        close(fd);
        return rmq_obj_fail(st, RMQ_ERR_NOT_FOUND, 0, "%s is not an object", key);
    }
    uint64_t size = (uint64_t)sb.st_size;
    if (offset > size || (offset == size && length > 0)) {
        close(fd);
        return rmq_obj_fail(st, RMQ_ERR_INVALID_ARG, 0, "range start %llu past end of %s (size %llu)",
                            (unsigned long long)offset, key, (unsigned long long)size);
    }
    uint64_t want = length < 0 ? size - offset : (uint64_t)length;
    if (want > size - offset) {
        close(fd);
        return rmq_obj_fail(st, RMQ_ERR_CORRUPT, 0, "range %llu+%llu past end of %s (size %llu)",
                            (unsigned long long)offset, (unsigned long long)want, key, (unsigned long long)size);
    }
    if (want > SIZE_MAX / 2) {
        close(fd);
        return rmq_obj_fail(st, RMQ_ERR_TOO_LARGE, 0, "range too large");
    }
    size_t start_len = out->len;
    uint8_t *dst = want ? rmq_buf_extend(out, (size_t)want) : NULL;
    if (want && !dst) {
        close(fd);
        return rmq_obj_fail(st, RMQ_ERR_NOMEM, 0, "no memory for %llu bytes", (unsigned long long)want);
    }
    uint64_t got = read_direct(fd, dst, want, offset);
    while (got < want) {
        ssize_t r = pread(fd, dst + got, (size_t)(want - got), (off_t)(offset + got));
        if (r < 0) {
            if (errno == EINTR) continue;
            int e = errno;
            close(fd);
            out->len = start_len;
            return rmq_obj_fail(st, RMQ_ERR_IO, 0, "read %s: %s", key, strerror(e));
        }
        if (r == 0) break;
        got += (uint64_t)r;
    }
    close(fd);
    if (got != want) {
        out->len = start_len;
        return rmq_obj_fail(st, RMQ_ERR_CORRUPT, 0, "short read of %s: %llu of %llu bytes", key,
                            (unsigned long long)got, (unsigned long long)want);
    }
    return 0;
}

static rmq_err_t local_head(rmq_obj_store_t *s, const char *key, uint64_t *size, rmq_obj_status_t *st) {
    local_store_t *ls = L(s);
    char path[PATH_MAX];
    rmq_err_t err = key_path(ls, key, path, st);
    if (err) return err;
    struct stat sb;
    if (stat(path, &sb) != 0) return rmq_obj_fail(st, errno_err(errno), 0, "stat %s: %s", key, strerror(errno));
    if (!S_ISREG(sb.st_mode)) return rmq_obj_fail(st, RMQ_ERR_NOT_FOUND, 0, "%s is not an object", key);
    if (size) *size = (uint64_t)sb.st_size;
    return 0;
}

typedef struct walk {
    const char *prefix; /* NULL = all */
    size_t plen;
    const char *after; /* NULL = from start */
    rmq_obj_list_t *acc;
    rmq_err_t err;
    char msg[160];
} walk_t;

/* rel: key prefix of this directory ("" for the root, else "a/b/"). */
static void walk_dir(walk_t *w, int fd, char *rel, size_t rlen, int depth) {
    if (depth > 64) return;
    DIR *d = fdopendir(fd);
    if (!d) {
        close(fd);
        return;
    }
    struct dirent *de;
    while (!w->err && (de = readdir(d)) != NULL) {
        const char *nm = de->d_name;
        if (strcmp(nm, ".") == 0 || strcmp(nm, "..") == 0 || strstr(nm, TMP_MARK)) continue;
        size_t nl = strlen(nm);
        if (rlen + nl + 2 > RMQ_OBJ_KEY_MAX + 2) continue;
        memcpy(rel + rlen, nm, nl);
        rel[rlen + nl] = '\0';
        int type = de->d_type;
        struct stat sb;
        bool have_sb = false;
        if (type == DT_UNKNOWN || type == DT_REG) {
            if (fstatat(dirfd(d), nm, &sb, AT_SYMLINK_NOFOLLOW) != 0) continue; /* vanished */
            have_sb = true;
            type = S_ISDIR(sb.st_mode) ? DT_DIR : S_ISREG(sb.st_mode) ? DT_REG : DT_UNKNOWN;
        }
        size_t kl = rlen + nl;
        if (type == DT_DIR) {
            rel[kl] = '/';
            rel[kl + 1] = '\0';
            size_t dl = kl + 1;
            /* descend only when this subtree can hold keys with the prefix */
            size_t m = dl < w->plen ? dl : w->plen;
            if (w->prefix && memcmp(rel, w->prefix, m) != 0) continue;
            int cfd = openat(dirfd(d), nm, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
            if (cfd >= 0) walk_dir(w, cfd, rel, dl, depth + 1);
        } else if (type == DT_REG && have_sb) {
            if (w->prefix && (kl < w->plen || memcmp(rel, w->prefix, w->plen) != 0)) continue;
            if (w->after && strcmp(rel, w->after) <= 0) continue;
            if (!rmq_obj_key_valid(rel)) continue;
            if (rmq_obj_list_push(w->acc, rel, kl, (uint64_t)sb.st_size)) w->err = RMQ_ERR_NOMEM;
        }
    }
    closedir(d);
}

static int cmp_entry(const void *a, const void *b) {
    return strcmp(((const rmq_obj_entry_t *)a)->key, ((const rmq_obj_entry_t *)b)->key);
}

static rmq_err_t local_list(rmq_obj_store_t *s, const char *prefix, const char *token, size_t max_keys,
                            rmq_obj_list_t *out, rmq_obj_status_t *st) {
    local_store_t *ls = L(s);
    if (max_keys == 0) max_keys = ls->page_size;
    walk_t w = {.prefix = prefix, .plen = prefix ? strlen(prefix) : 0, .after = token, .acc = out};
    int fd = open(ls->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return rmq_obj_fail(st, RMQ_ERR_IO, 0, "open root %s: %s", ls->root, strerror(errno));
    char *rel = malloc(RMQ_OBJ_KEY_MAX + 2 + 256);
    if (!rel) {
        close(fd);
        return rmq_obj_fail(st, RMQ_ERR_NOMEM, 0, "no memory");
    }
    rel[0] = '\0';
    walk_dir(&w, fd, rel, 0, 0);
    free(rel);
    if (w.err) {
        rmq_obj_list_free(out);
        return rmq_obj_fail(st, w.err, 0, "listing failed");
    }
    if (out->n) qsort(out->entries, out->n, sizeof(*out->entries), cmp_entry);
    if (out->n > max_keys) {
        for (size_t i = max_keys; i < out->n; i++) free(out->entries[i].key);
        out->n = max_keys;
        out->truncated = true;
        out->next_token = strdup(out->entries[max_keys - 1].key);
        if (!out->next_token) {
            rmq_obj_list_free(out);
            return rmq_obj_fail(st, RMQ_ERR_NOMEM, 0, "no memory");
        }
    }
    return 0;
}

static rmq_err_t local_del(rmq_obj_store_t *s, const char *const *keys, size_t n, rmq_obj_status_t *st) {
    local_store_t *ls = L(s);
    rmq_err_t first = 0;
    char path[PATH_MAX];
    for (size_t i = 0; i < n; i++) {
        rmq_obj_status_t tmp;
        rmq_err_t err = key_path(ls, keys[i], path, &tmp);
        if (!err && unlink(path) != 0 && errno != ENOENT && errno != ENOTDIR) {
            err = errno_err(errno);
            if (err == RMQ_ERR_NOT_FOUND) err = RMQ_ERR_IO;
            rmq_obj_fail(&tmp, err, 0, "unlink %s: %s", keys[i], strerror(errno));
        }
        if (err) {
            if (!first) {
                first = err;
                if (st) *st = tmp;
            }
            continue;
        }
        /* remove directories this delete emptied, up to (not including) root */
        size_t rootlen = strlen(ls->root);
        char *sl;
        while ((sl = strrchr(path, '/')) != NULL && (size_t)(sl - path) > rootlen) {
            *sl = '\0';
            if (rmdir(path) != 0) break;
        }
    }
    return first;
}

static void local_close(rmq_obj_store_t *s) {
    local_store_t *ls = L(s);
    free(ls->root);
    free(ls);
}

static const rmq_obj_ops_t LOCAL_OPS = {
    .put = local_put,
    .get = local_get,
    .head = local_head,
    .list = local_list,
    .del = local_del,
    .close = local_close,
};

rmq_err_t rmq_obj_local_open(const rmq_obj_config_t *cfg, rmq_obj_store_t **out, rmq_obj_status_t *st) {
    *out = NULL;
    if (!cfg->root || !*cfg->root) return rmq_obj_fail(st, RMQ_ERR_CONFIG, 0, "local object store needs a path");
    size_t rl = strlen(cfg->root);
    while (rl > 1 && cfg->root[rl - 1] == '/') rl--;
    if (rl + RMQ_OBJ_KEY_MAX + 64 >= PATH_MAX)
        return rmq_obj_fail(st, RMQ_ERR_CONFIG, 0, "object store path too long");
    local_store_t *ls = calloc(1, sizeof(*ls));
    if (!ls) return rmq_obj_fail(st, RMQ_ERR_NOMEM, 0, "no memory");
    ls->root = strndup(cfg->root, rl);
    if (!ls->root) {
        free(ls);
        return rmq_obj_fail(st, RMQ_ERR_NOMEM, 0, "no memory");
    }
    if (mkdir_p(ls->root, rl) != 0) {
        int e = errno;
        local_close(&ls->base);
        return rmq_obj_fail(st, RMQ_ERR_CONFIG, 0, "create %s: %s", cfg->root, strerror(e));
    }
    struct stat sb;
    if (stat(ls->root, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
        local_close(&ls->base);
        return rmq_obj_fail(st, RMQ_ERR_CONFIG, 0, "%s is not a directory", cfg->root);
    }
    ls->page_size = cfg->list_page_size ? cfg->list_page_size : RMQ_OBJ_DEFAULT_LIST_PAGE;
    atomic_init(&ls->tmp_seq, 0);
    ls->base.ops = &LOCAL_OPS;
    ls->base.name = "local";
    ls->base.impl = ls;
    *out = &ls->base;
    return 0;
}
