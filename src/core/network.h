/* network.h - the RetinaFace forward pass over the ops. */
#ifndef RF_NETWORK_H
#define RF_NETWORK_H

#include "core/model.h"
#include "core/ops.h"

/* Where the heads write: [n, anchors, k] rows for k = 2 (cls, softmax), 4 (box), 10 (ldm). */
typedef struct {
    float *cls, *box, *ldm;
    int64_t anchors; /* per image */
} rf_network_outputs;

/* The network on input [n][h][w][3] NHWC in the arena, released once the stem has read it. */
void rf_network_forward(rf_exec *ex, const rf_model *m, rf_tensor *input,
                        const rf_network_outputs *out);

/* The forward pass of m recorded by trace instead of run (the layers' plain-layout weights are
 * what it sees). */
void rf_network_trace(const rf_model *m, rf_trace *trace);

#endif
