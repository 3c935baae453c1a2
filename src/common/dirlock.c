/* dirlock.c - exclusive flock(2) on <dir>/.lock (see dirlock.h). */
#include "common/dirlock.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

/* mkdir -p of path (at most 4095 bytes); 0 or -1 with errno. */
static int mkdirs(const char *path) {
    char tmp[4096];
    if ((size_t)snprintf(tmp, sizeof tmp, "%s", path) >= sizeof tmp) {
        errno = ENAMETOOLONG;
        return -1;
    }
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        if (mkdir(tmp, 0755) && errno != EEXIST) return -1;
        *p = '/';
    }
    return mkdir(tmp, 0755) && errno != EEXIST ? -1 : 0;
}

rmq_err_t rmq_dirlock_acquire(const char *dir, int *fd, char *errbuf, size_t errlen) {
    *fd = -1;
    char path[4096];
    if ((size_t)snprintf(path, sizeof path, "%s/.lock", dir) >= sizeof path) {
        snprintf(errbuf, errlen, "data directory path too long: %s", dir);
        return RMQ_ERR_INVALID_ARG;
    }
    if (mkdirs(dir)) {
        snprintf(errbuf, errlen, "cannot create directory %s: %s", dir, strerror(errno));
        return RMQ_ERR_IO;
    }
    int f = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (f < 0) {
        snprintf(errbuf, errlen, "cannot open lock file %s: %s", path, strerror(errno));
        return RMQ_ERR_IO;
    }
    int r;
    while ((r = flock(f, LOCK_EX | LOCK_NB)) != 0 && errno == EINTR) {}
    if (r != 0) {
        int e = errno;
        if (e == EWOULDBLOCK) {
            char pid[32] = "";
            ssize_t n = pread(f, pid, sizeof pid - 1, 0);
            pid[n > 0 ? n : 0] = '\0';
            pid[strcspn(pid, "\n")] = '\0';
            snprintf(errbuf, errlen, "data directory %s is in use by another process (pid %s; lock %s)", dir,
                     *pid ? pid : "unknown", path);
            close(f);
            return RMQ_ERR_BUSY;
        }
        snprintf(errbuf, errlen, "cannot lock %s: %s", path, strerror(e));
        close(f);
        return RMQ_ERR_IO;
    }
    char pid[32];
    int len = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
    if (ftruncate(f, 0) == 0 && pwrite(f, pid, (size_t)len, 0) != len) {
        /* the pid is only for the message of a second process */
    }
    *fd = f;
    return RMQ_NONE;
}

void rmq_dirlock_release(int fd) {
    if (fd < 0) return;
    flock(fd, LOCK_UN);
    close(fd);
}
