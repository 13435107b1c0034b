/* common.h - internal helpers shared by the library's files: error reporting, checked allocation. */
#ifndef RF_COMMON_H
#define RF_COMMON_H

#include "retinaface.h"

#include <stddef.h>
#include <stdint.h>

#if defined(__GNUC__)
#define RF_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define RF_PRINTF(a, b)
#endif

/* Fills err (if not NULL) and returns status, so callers can `return rf_fail(err, ...)`. */
rf_status rf_fail(rf_error *err, rf_status status, const char *fmt, ...) RF_PRINTF(3, 4);

/* Clears err to RF_OK / "" and returns RF_OK. */
rf_status rf_ok(rf_error *err);

/* The regular file that writing `path` by rf_output's rules replaces (symbolic links
 * followed; it need not exist yet), malloc'd into *target: for writers that keep their own
 * temporary file, such as a resumable download. RF_E_IO when something other than a regular
 * file is there. */
rf_status rf_output_target(const char *path, char **target, rf_error *err);

/* A whole file into a malloc'd buffer with a NUL after its *size bytes (so text can be parsed
 * in place); RF_E_LIMIT past max_bytes. */
rf_status rf_read_file(const char *path, size_t max_bytes, uint8_t **data, size_t *size,
                       rf_error *err);

/* Bytes that come from a file, for a message: non-printable ones as '?', cut with "..." to fit
 * cap (at least 5). Returns buf. */
const char *rf_printable(const void *bytes, size_t n, char *buf, size_t cap);

/* Overflow-checked size arithmetic: 0 on overflow. */
size_t rf_mul_size(size_t a, size_t b);

/* Memory a context keeps between calls (arena, resize and post-processing scratch): grown to
 * the largest size asked of it, never shrunk, so that calls on sizes seen before allocate
 * nothing. */
typedef struct {
    void *block; /* 64-byte aligned */
    size_t bytes;
} rf_buffer;

/* Makes b at least `bytes` long (the contents are not kept when it grows); -1 when out of
 * memory or when bytes is 0 (an overflowed size), leaving b empty. */
int rf_buffer_reserve(rf_buffer *b, size_t bytes);
void rf_buffer_free(rf_buffer *b);

/* For long-lived blocks that layers stream through (the arena, packed weights): from 2 MB on,
 * 2 MB aligned and advised for transparent huge pages, so that tens of MB take a few TLB
 * entries rather than thousands (ResNet50: about 1.5 % faster at 1 and 2 threads, measured);
 * smaller ones 64-byte aligned. free() releases it; NULL when out of memory. */
void *rf_alloc_large(size_t bytes);

#endif
