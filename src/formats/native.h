/* native.h - the native model file (docs/formats.md) as the model loader sees it. */
#ifndef RF_NATIVE_H
#define RF_NATIVE_H

#include "retinaface.h"

#include <stddef.h>

/* Whether data starts with the native magic. */
int rf_native_magic(const void *data, size_t size);
/* Whether the file at path starts with it (0 when it cannot be read: the caller's usual
 * loader then reports why). */
int rf_native_file(const char *path);
/* A native file carries its own anchor preset, so these take none. The file is mapped and
 * float32 weights are used in place; fp16 / bf16 ones are widened into an allocation. */
rf_status rf_native_load(const char *path, rf_model **out, rf_error *err);
/* The same from a buffer, always copied. */
rf_status rf_native_load_memory(const void *data, size_t size, const char *name,
                                rf_model **out, rf_error *err);

#endif
