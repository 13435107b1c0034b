/* kernels.h - the one dispatch point: a table of compute kernels per instruction set. */
#ifndef RF_KERNELS_H
#define RF_KERNELS_H

#include "retinaface.h"
#include "tensor.h"

/* Every kernel computes output rows [row0, row1) of out, where row r is image r / out->h,
 * line r % out->h, so callers can split the work between threads by rows. Kernels know nothing
 * about RetinaFace; they see tensors and layer parameters only. */
typedef struct {
    rf_kernels id;
    const char *name;
    /* out = act(conv(in) + bias [+ residual]); residual may be NULL, else shaped like out. */
    void (*conv)(const rf_conv *conv, const rf_tensor *in, const rf_tensor *residual,
                 rf_act act, const rf_tensor *out, int row0, int row1);
    /* Re-lays conv->weight for this kernel set into conv->packed at model load (may be NULL). */
    int (*pack)(rf_conv *conv);
} rf_kernel_set;

/* The set for `which` (RF_KERNELS_AUTO: the best the CPU supports), or NULL if unsupported. */
const rf_kernel_set *rf_kernels_select(rf_kernels which);

/* Reference kernels, in portable C; every fast path is tested against them. */
void rf_conv_reference(const rf_conv *conv, const rf_tensor *in, const rf_tensor *residual,
                       rf_act act, const rf_tensor *out, int row0, int row1);

#endif
