/* ops.h - layer operations on tensors: shape the output, split rows over threads, call kernels. */
#ifndef RF_OPS_H
#define RF_OPS_H

#include "core/arena.h"
#include "core/threadpool.h"
#include "kernels/kernels.h"

/* A recorder of the forward pass as a graph (what the ONNX export writes). In a planning pass
 * with a trace, each op hands it the values its inputs hold (rf_tensor.value) and stores the
 * value it returns in its output, computing nothing. Values are positive. */
typedef struct rf_trace rf_trace;
struct rf_trace {
    int (*input)(rf_trace *t);
    /* act(conv(in) + bias [+ residual]); residual 0 when there is none */
    int (*conv)(rf_trace *t, const rf_conv *conv, int in, int residual, rf_act act);
    int (*maxpool3s2)(rf_trace *t, int in);
    int (*add_upsampled)(rf_trace *t, int dst, int src);
    int (*softmax_pairs)(rf_trace *t, int in);
    int (*concat)(rf_trace *t, const rf_tensor *parts, int n); /* their values, by channel */
    /* the next level's rows of the three outputs: class scores, boxes, landmarks */
    void (*outputs)(rf_trace *t, int cls, int box, int ldm);
};

/* A layer input converted for a reduced-precision set (rf_read), kept while later layers may
 * read the same tensor the same way: the bottleneck's conv1 and shortcut, SSH's two branches,
 * the three heads. */
typedef struct {
    int source;   /* the arena id of the tensor it was made from; -1: the slot is free */
    int pad;      /* the padding made around it (U8) */
    rf_read read;
    unsigned used; /* when it was last read, to evict the oldest */
    rf_tensor copy;
} rf_converted;

/* Three: a bottleneck's input (read again by the shortcut) and the copies of conv1 and conv2. */
#define RF_CONVERTED_KEEP 3
/* After those slots, the pinned ones: copies kept to the end of the pass for a layer that reads
 * them long after (ResNet50's features: the next stage reads them, then the FPN). */
#define RF_CONVERTED_PINNED 3
#define RF_CONVERTED_ALL (RF_CONVERTED_KEEP + RF_CONVERTED_PINNED)

/* A convolution whose output a later layer of the pass reads converted (read, pad): it writes
 * that copy as it stores the output (kernel_set.h, conv), which saves a pass over the map. The
 * first planning pass of a shape finds them (rf_copies_mode). */
typedef struct {
    const rf_conv *conv;
    rf_read read;
    int pad;
    float scale; /* U8: the reader's calibrated quantization */
    int zero_point;
    int keep_float; /* an op reads conv's floats too (else only the copy is written) */
    int pinned;     /* a later layer converts the output the same way again: the copy is kept */
} rf_copy_request;

#define RF_COPY_REQUESTS_MAX 128

typedef enum {
    RF_COPIES_OFF,     /* every converted input made by a pass of its own */
    RF_COPIES_FINDING, /* a planning pass that notes the layers to write copies */
    RF_COPIES_ON       /* those layers write them */
} rf_copies_mode;

/* What the ops run with (a context owns one): the kernel set, the threads and their scratch,
 * the activation arena, and what planning and profiling passes collect. While the arena is
 * planning, ops only allocate and release their outputs and add up the plan's figures (or,
 * with a trace, record themselves). */
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
    rf_trace *trace;
    rf_converted converted[RF_CONVERTED_ALL];
    unsigned clock;
    /* the convolution that wrote each arena tensor of this pass last (NULL: none, or another
     * op wrote it since), and the copies the layers write */
    const rf_conv *writer[RF_ARENA_MAX_TENSORS];
    /* tensors the max pooling made from a convolution's output, whose writer they take: that
     * convolution writes the uint8 copy (unpadded) their readers ask for, and the pooling pools
     * the copy (max commutes with the quantization, which is monotonic) */
    unsigned char pooled[RF_ARENA_MAX_TENSORS];
    rf_copies_mode copy_mode;
    rf_copy_request copies[RF_COPY_REQUESTS_MAX];
    int ncopies;
    /* first planning pass: the convolutions some of whose output floats an op read (by the
     * writer, not the arena tensor: layers that write in place share one) */
    const rf_conv *float_read[RF_COPY_REQUESTS_MAX];
    int nfloat_read;
    int replan; /* a planning pass found floats it needs unwritten: plan again */
    /* while calibrating (rf_model_calibrate): per layer of calibration_convs (the context's),
     * the least and greatest input value seen by the layers that run in int8 */
    float (*calibration)[2];
    const rf_conv *calibration_convs;
} rf_exec;

/* After the first planning pass with RF_COPIES_FINDING: which copies' convolutions must still
 * store their floats. */
void rf_ops_copies_found(rf_exec *ex);

/* Starts and ends a forward pass: the converted inputs kept between layers are let go. */
void rf_ops_begin_pass(rf_exec *ex);
void rf_ops_end_pass(rf_exec *ex);

/* out = act(conv(in) + bias [+ residual]); out must already have the conv's output shape. */
void rf_op_conv(rf_exec *ex, const rf_conv *conv, const rf_tensor *in,
                const rf_tensor *residual, rf_act act, rf_tensor *out);
/* The same, into a new arena tensor. */
rf_tensor rf_op_conv_new(rf_exec *ex, const rf_conv *conv, const rf_tensor *in,
                         const rf_tensor *residual, rf_act act);
/* 3x3 max pooling, stride 2, padding 1 (padding never wins). */
rf_tensor rf_op_maxpool3s2(rf_exec *ex, const rf_tensor *in);
/* dst += nearest-neighbour upsampling of src to dst's size (source index = dst * in / out). */
void rf_op_add_upsampled(rf_exec *ex, rf_tensor *dst, const rf_tensor *src);
/* Softmax over each pixel's consecutive pairs of channels, in place. */
void rf_op_softmax_pairs(rf_exec *ex, rf_tensor *t);
/* out is the concatenation of parts, which were written into its channel slices in order:
 * nothing to compute; a trace records it. */
void rf_op_concat(rf_exec *ex, rf_tensor *out, const rf_tensor *parts, int n);
/* cls, box and ldm hold the next level's rows of the network's outputs, written in place:
 * nothing to compute; a trace records them. */
void rf_op_outputs(rf_exec *ex, const rf_tensor *cls, const rf_tensor *box,
                   const rf_tensor *ldm);
/* out (NHWC, 3 channels) = the NCHW float input src of out's shape. */
void rf_op_from_nchw(rf_exec *ex, const float *src, rf_tensor *out);

/* The names of the profile's kinds of layer, RF_PROFILE_KINDS of them. */
extern const char *const rf_profile_kind_names[RF_PROFILE_KINDS];

#endif
