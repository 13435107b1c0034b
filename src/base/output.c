/* output.c - the one way the library and the CLI write a file (rf_output, retinaface_tools.h).
 *
 * A regular file is replaced atomically: written beside its final name and renamed over it only
 * when complete and synced, so a reader never sees half of it and a failed or killed writer
 * leaves the previous contents. Anything else that already exists under the name - a device, a
 * FIFO, a socket, a terminal, /dev/stdout - is somebody else's object: it is opened and written
 * where it is and never replaced. Symbolic links are followed, so the link stays and its target
 * is what gets written. */
#include "retinaface_tools.h"

#include "base/common.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum { MAX_LINK_HOPS = 40 };

/* Where `path` leads: the last name of its chain of symbolic links (existing or not), and
 * whether the chain passes through /proc, whose links (/proc/self/fd/N, what /dev/stdout is)
 * name open files rather than paths and must be opened as they are. */
static rf_status follow_links(const char *path, char **target, int *through_proc, rf_error *err)
{
    char *cur = strdup(path);
    if (!cur)
        return rf_fail(err, RF_E_NOMEM, "%s: out of memory", path);
    *through_proc = 0;
    for (int hop = 0;; hop++) {
        if (strncmp(cur, "/proc/", 6) == 0) {
            *through_proc = 1;
            break;
        }
        struct stat st;
        if (lstat(cur, &st) != 0 || !S_ISLNK(st.st_mode))
            break;
        if (hop == MAX_LINK_HOPS) {
            free(cur);
            return rf_fail(err, RF_E_IO, "cannot write %s: %s", path, strerror(ELOOP));
        }
        char link[PATH_MAX];
        ssize_t n = readlink(cur, link, sizeof link - 1);
        if (n < 0) {
            int e = errno;
            free(cur);
            return rf_fail(err, RF_E_IO, "cannot write %s: %s", path, strerror(e));
        }
        link[n] = '\0';
        /* a relative link is relative to the folder holding it */
        const char *slash = strrchr(cur, '/');
        size_t dir_len = link[0] == '/' || !slash ? 0 : (size_t)(slash - cur) + 1;
        char *next = malloc(dir_len + (size_t)n + 1);
        if (!next) {
            free(cur);
            return rf_fail(err, RF_E_NOMEM, "%s: out of memory", path);
        }
        memcpy(next, cur, dir_len);
        memcpy(next + dir_len, link, (size_t)n + 1);
        free(cur);
        cur = next;
    }
    *target = cur;
    return RF_OK;
}

/* Writes to what is already there: a device, FIFO or socket, or a file behind /proc. */
static rf_status open_in_place(rf_output *o, const struct stat *st, rf_error *err)
{
    /* a regular file behind /proc/self/fd/N is a redirection: append, as the shell's own
     * writes would, rather than write over what is there from the start */
    int flags = O_WRONLY | O_NOCTTY | O_CLOEXEC | (S_ISREG(st->st_mode) ? O_APPEND : 0);
    int fd = open(o->path_, flags);
    if (fd < 0 && errno == ENXIO) {
        /* a socket cannot be opened by name; one of ours under /proc/self/fd/N can be shared */
        int n;
        char end;
        if (sscanf(o->target_, "/proc/self/fd/%d%c", &n, &end) == 1 && n >= 0)
            fd = fcntl(n, F_DUPFD_CLOEXEC, 0);
    }
    if (fd < 0 || !(o->f = fdopen(fd, "wb"))) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        return rf_fail(err, RF_E_IO, "cannot write %s: %s", o->path_, strerror(e));
    }
    return RF_OK;
}

/* Creates the temporary file beside target; exclusive, so concurrent writers never share one. */
static rf_status open_temp(rf_output *o, const struct stat *old, rf_error *err)
{
    size_t len = strlen(o->target_) + 48;
    if (!(o->tmp_ = malloc(len)))
        return rf_fail(err, RF_E_NOMEM, "%s: out of memory", o->path_);
    int fd = -1;
    for (unsigned attempt = 0; fd < 0 && attempt < 1000; attempt++) {
        snprintf(o->tmp_, len, "%s.tmp-%ld-%u", o->target_, (long)getpid(), attempt);
        /* 0666 as asked of open: the umask decides, as for any other tool's new file */
        fd = open(o->tmp_, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (fd < 0 && errno != EEXIST)
            break;
    }
    if (fd < 0) {
        int e = errno;
        free(o->tmp_);
        o->tmp_ = NULL;
        return rf_fail(err, RF_E_IO, "cannot write %s: cannot create a file beside it: %s",
                       o->path_, strerror(e));
    }
    if (old) {
        /* the replacement keeps the file's mode and, where we may set it, its owner */
        if (fchmod(fd, old->st_mode & 07777) != 0) {
            /* its mode is the umask's then: the contents still arrive */
        }
        if ((old->st_uid != geteuid() || old->st_gid != getegid()) &&
            fchown(fd, old->st_uid, old->st_gid) != 0) {
            /* not permitted: ours it is */
        }
    }
    if (!(o->f = fdopen(fd, "wb"))) {
        int e = errno;
        close(fd);
        unlink(o->tmp_);
        free(o->tmp_);
        o->tmp_ = NULL;
        return rf_fail(err, RF_E_IO, "cannot write %s: %s", o->path_, strerror(e));
    }
    return RF_OK;
}

rf_status rf_output_target(const char *path, char **target, rf_error *err)
{
    int through_proc;
    rf_status s = follow_links(path, target, &through_proc, err);
    if (s != RF_OK)
        return s;
    struct stat st;
    if (through_proc || (stat(*target, &st) == 0 && !S_ISREG(st.st_mode))) {
        free(*target);
        *target = NULL;
        return rf_fail(err, RF_E_IO, "cannot write %s: not a regular file", path);
    }
    return RF_OK;
}

rf_status rf_output_open(rf_output *o, const char *path, rf_error *err)
{
    if (!o)
        return rf_fail(err, RF_E_ARG, "rf_output_open: output is NULL");
    memset(o, 0, sizeof *o);
    if (!path || !*path)
        return rf_fail(err, RF_E_ARG, "rf_output_open: empty path");
    if (!(o->path_ = strdup(path)))
        return rf_fail(err, RF_E_NOMEM, "%s: out of memory", path);
    int through_proc;
    rf_status s = follow_links(path, &o->target_, &through_proc, err);
    if (s != RF_OK) {
        rf_output_close(o, s, NULL);
        return s;
    }
    struct stat st;
    if (stat(path, &st) == 0) {
        if (S_ISDIR(st.st_mode))
            s = rf_fail(err, RF_E_IO, "cannot write %s: %s", path, strerror(EISDIR));
        else if (!S_ISREG(st.st_mode) || through_proc)
            s = open_in_place(o, &st, err);
        else if (access(o->target_, W_OK) != 0)
            /* a file its owner made read-only is not ours to replace */
            s = rf_fail(err, RF_E_IO, "cannot write %s: %s", path, strerror(errno));
        else
            s = open_temp(o, &st, err);
    } else if (errno == ENOENT) {
        /* a new file, or the missing target of a link */
        s = open_temp(o, NULL, err);
    } else {
        s = rf_fail(err, RF_E_IO, "cannot write %s: %s", path, strerror(errno));
    }
    if (s != RF_OK)
        rf_output_close(o, s, NULL);
    return s;
}

rf_status rf_output_close(rf_output *o, rf_status status, rf_error *err)
{
    if (!o)
        return status;
    if (o->f) {
        int failed = status == RF_OK && (fflush(o->f) != 0 || ferror(o->f));
        /* durable before it takes the name; devices and FIFOs have nothing to sync */
        failed = failed || (status == RF_OK && o->tmp_ && fsync(fileno(o->f)) != 0);
        int e = errno;
        if (fclose(o->f) != 0 && !failed && status == RF_OK) {
            failed = 1;
            e = errno;
        }
        o->f = NULL;
        if (failed)
            status = rf_fail(err, RF_E_IO, "cannot write %s: %s", o->path_, strerror(e));
        if (status == RF_OK && o->tmp_ && rename(o->tmp_, o->target_) != 0)
            status = rf_fail(err, RF_E_IO, "cannot write %s: cannot rename %s to it: %s",
                             o->path_, o->tmp_, strerror(errno));
        if (status != RF_OK && o->tmp_)
            unlink(o->tmp_);
    }
    free(o->path_);
    free(o->target_);
    free(o->tmp_);
    memset(o, 0, sizeof *o);
    return status == RF_OK ? rf_ok(err) : status;
}
