/* network.h - the RetinaFace forward pass over the ops. */
#ifndef RF_NETWORK_H
#define RF_NETWORK_H

#include "core/layers.h"
#include "core/ops.h"

/* Where the heads write: [n, anchors, k] rows for k = 2 (cls, softmax), 4 (box), 10 (ldm). */
typedef struct {
    float *cls, *box, *ldm;
    int64_t anchors; /* per image */
} rf_network_outputs;

/* The network of table t on input [n][h][w][3] NHWC in the arena, released once the stem has
 * read it. convs: t's layers in the layout of ex's kernels (rf_model_layers_for). */
void rf_network_forward(rf_exec *ex, const rf_layers *t, const rf_conv *convs,
                        rf_tensor *input, const rf_network_outputs *out);

/* The forward pass recorded by trace instead of run; the trace sees convs. */
void rf_network_trace(const rf_layers *t, const rf_conv *convs, rf_trace *trace);

#endif
