/* ops.h - layer operations on tensors: shape the output, split rows over threads, call kernels. */
#ifndef RF_OPS_H
#define RF_OPS_H

#include "core/arena.h"
#include "core/threadpool.h"
#include "kernels/kernels.h"

/* What the ops run with (a context owns one): the kernel set, the threads and their scratch,
 * the activation arena, and what planning and profiling passes collect. While the arena is
 * planning, ops only allocate and release their outputs and add up the plan's figures. */
typedef struct {
    const rf_kernel_set *kernels;
    rf_pool *pool;
    rf_arena arena;
    float **scratch;            /* one buffer per pool thread, for the kernels */
    size_t scratch_floats;
    double plan_flops;          /* of the planned shape, summed while planning */
    size_t plan_scratch_floats; /* the most kernel scratch one conv of the plan needs */
    int profiling;
    rf_profile_entry profile[RF_PROFILE_KINDS];
} rf_exec;

/* out = act(conv(in) + bias [+ residual]); out must already have the conv's output shape. */
void rf_op_conv(rf_exec *ex, const rf_conv *conv, const rf_tensor *in,
                const rf_tensor *residual, rf_act act, const rf_tensor *out);
/* The same, into a new arena tensor. */
rf_tensor rf_op_conv_new(rf_exec *ex, const rf_conv *conv, const rf_tensor *in,
                         const rf_tensor *residual, rf_act act);
/* 3x3 max pooling, stride 2, padding 1 (padding never wins). */
rf_tensor rf_op_maxpool3s2(rf_exec *ex, const rf_tensor *in);
/* dst += nearest-neighbour upsampling of src to dst's size (source index = dst * in / out). */
void rf_op_add_upsampled(rf_exec *ex, const rf_tensor *dst, const rf_tensor *src);
/* Softmax over each pixel's consecutive pairs of channels, in place. */
void rf_op_softmax_pairs(rf_exec *ex, const rf_tensor *t);
/* NCHW float input of 3 channels (batch n) into an NHWC arena tensor. */
rf_tensor rf_op_from_nchw(rf_exec *ex, const float *src, int n, int h, int w);

/* The names of the profile's kinds of layer, RF_PROFILE_KINDS of them. */
extern const char *const rf_profile_kind_names[RF_PROFILE_KINDS];

#endif
