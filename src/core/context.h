/* context.h - the per-thread state: the ops' kernels, threads and arena, the outputs, rf_detect's
 * buffers. */
#ifndef RF_CONTEXT_H
#define RF_CONTEXT_H

#include "base/common.h"
#include "core/model.h"
#include "core/ops.h"

struct rf_context {
    const rf_model *model;
    const rf_conv *convs; /* the model's layers in the layout of the kernels */
    rf_exec exec;
    int planned_n, planned_h, planned_w;

    /* outputs of the last forward pass */
    float *cls, *box, *ldm;
    size_t out_capacity; /* anchors * batch the three buffers hold */
    int out_n, out_h, out_w;
    int64_t out_anchors;

    /* rf_detect's resize and post-processing scratch */
    rf_buffer resize, post;
};

/* The planning pass for an n x 3 x h x w input: tensor offsets, the arena and scratch sized,
 * output buffers; what rf_forward runs on a shape it has not seen. */
rf_status rf_context_plan(rf_context *ctx, int n, int h, int w, rf_error *err);

#endif
