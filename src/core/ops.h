/* ops.h - layer operations on tensors: shape the output, split rows over threads, call kernels. */
#ifndef RF_OPS_H
#define RF_OPS_H

#include "core/context.h"

/* out = act(conv(in) + bias [+ residual]); out must already have the conv's output shape. */
void rf_op_conv(rf_context *ctx, const rf_conv *conv, const rf_tensor *in,
                const rf_tensor *residual, rf_act act, const rf_tensor *out);
/* The same, into a new arena tensor. */
rf_tensor rf_op_conv_new(rf_context *ctx, const rf_conv *conv, const rf_tensor *in,
                         const rf_tensor *residual, rf_act act);
/* 3x3 max pooling, stride 2, padding 1 (padding never wins). */
rf_tensor rf_op_maxpool3s2(rf_context *ctx, const rf_tensor *in);
/* dst += nearest-neighbour upsampling of src to dst's size (source index = dst * in / out). */
void rf_op_add_upsampled(rf_context *ctx, const rf_tensor *dst, const rf_tensor *src);
/* Softmax over each pixel's consecutive pairs of channels, in place. */
void rf_op_softmax_pairs(rf_context *ctx, const rf_tensor *t);
/* NCHW float input of 3 channels (batch n) into an NHWC arena tensor. */
rf_tensor rf_op_from_nchw(rf_context *ctx, const float *src, int n, int h, int w);

#endif
