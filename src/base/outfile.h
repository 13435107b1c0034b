/* outfile.h - files written under a temporary name and renamed into place only when complete. */
#ifndef RF_OUTFILE_H
#define RF_OUTFILE_H

#include "retinaface.h"

#include <stdio.h>

typedef struct {
    FILE *f;
    const char *path;
    char tmp[4200];
} rf_outfile;

/* Creates a unique temporary file next to path. */
rf_status rf_outfile_open(rf_outfile *o, const char *path, rf_error *err);
/* Flushes, syncs and renames it to path; on any failure (or when status is not RF_OK, for a
 * writer that failed on the way) removes it and returns the error. */
rf_status rf_outfile_close(rf_outfile *o, rf_status status, rf_error *err);

#endif
