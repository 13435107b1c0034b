/* outfile.c - write-then-rename, so that a reader never finds a half-written model file. */
#include "base/outfile.h"

#include "base/common.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

rf_status rf_outfile_open(rf_outfile *o, const char *path, rf_error *err)
{
    o->path = path;
    o->f = NULL;
    if ((size_t)snprintf(o->tmp, sizeof o->tmp, "%s.tmp-XXXXXX", path) >= sizeof o->tmp)
        return rf_fail(err, RF_E_LIMIT, "%s: path too long", path);
    int fd = mkstemp(o->tmp);
    if (fd < 0)
        return rf_fail(err, RF_E_IO, "%s: cannot create a file next to it: %s", path,
                       strerror(errno));
    /* mkstemp's 0600 would make a model file private to its writer */
    if (fchmod(fd, 0644) != 0 || !(o->f = fdopen(fd, "wb"))) {
        close(fd);
        unlink(o->tmp);
        return rf_fail(err, RF_E_IO, "%s: %s", path, strerror(errno));
    }
    return RF_OK;
}

rf_status rf_outfile_close(rf_outfile *o, rf_status status, rf_error *err)
{
    if (status == RF_OK && (fflush(o->f) != 0 || ferror(o->f) || fsync(fileno(o->f)) != 0))
        status = rf_fail(err, RF_E_IO, "%s: write failed: %s", o->path, strerror(errno));
    if (fclose(o->f) != 0 && status == RF_OK)
        status = rf_fail(err, RF_E_IO, "%s: write failed: %s", o->path, strerror(errno));
    o->f = NULL;
    if (status == RF_OK && rename(o->tmp, o->path) != 0)
        status = rf_fail(err, RF_E_IO, "%s: cannot rename %s to it: %s", o->path, o->tmp,
                         strerror(errno));
    if (status != RF_OK)
        unlink(o->tmp);
    return status;
}
