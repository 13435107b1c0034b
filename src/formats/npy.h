/* npy.h - the internal float32 .npy reader; the writer, rf_npy_save, is public. */
#ifndef RF_NPY_H
#define RF_NPY_H

#include "retinaface.h"

#include <stdint.h>

#define RF_NPY_MAX_DIMS 8

/* Reads a '<f4', C-order .npy file (format 1.0 or 2.0). On success *data is malloc'd (free it;
 * never NULL, even for zero elements), *ndim <= RF_NPY_MAX_DIMS and shape[0..ndim) is filled.
 * Malformed headers and files whose size does not match the header give RF_E_FORMAT. */
rf_status rf_npy_load(const char *path, float **data, int *ndim, int64_t shape[RF_NPY_MAX_DIMS],
                      rf_error *err);

#endif
