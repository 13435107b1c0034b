/* files.c - reading a whole file, and showing bytes from a file in a message. */
#include "base/common.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

rf_status rf_read_file(const char *path, size_t max_bytes, uint8_t **data, size_t *size,
                       rf_error *err)
{
    *data = NULL;
    *size = 0;
    FILE *f = fopen(path, "rb");
    if (!f)
        return rf_fail(err, RF_E_IO, "%s: cannot open: %s", path, strerror(errno));
    rf_status st = RF_OK;
    uint8_t *buf = NULL;
    long n = -1;
    if (fseek(f, 0, SEEK_END) == 0)
        n = ftell(f);
    if (n < 0 || fseek(f, 0, SEEK_SET) != 0)
        st = rf_fail(err, RF_E_IO, "%s: cannot tell its size (not a regular file?)", path);
    else if ((unsigned long)n > max_bytes)
        st = rf_fail(err, RF_E_LIMIT, "%s: %ld bytes is more than the %zu MiB allowed", path, n,
                     max_bytes >> 20);
    else if (!(buf = malloc((size_t)n + 1)))
        st = rf_fail(err, RF_E_NOMEM, "%s: out of memory for %ld bytes", path, n);
    else if (fread(buf, 1, (size_t)n, f) != (size_t)n || ferror(f))
        st = rf_fail(err, RF_E_IO, "%s: read error", path);
    fclose(f);
    if (st != RF_OK) {
        free(buf);
        return st;
    }
    buf[n] = '\0';
    *data = buf;
    *size = (size_t)n;
    return RF_OK;
}

const char *rf_printable(const void *bytes, size_t n, char *buf, size_t cap)
{
    const unsigned char *s = bytes;
    size_t j = 0;
    for (size_t i = 0; i < n && j + 4 < cap; i++)
        buf[j++] = s[i] >= 0x20 && s[i] < 0x7f ? (char)s[i] : '?';
    if (j + 4 >= cap && n > j)
        buf[j++] = '.', buf[j++] = '.', buf[j++] = '.';
    buf[j] = '\0';
    return buf;
}
