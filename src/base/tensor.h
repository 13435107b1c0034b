/* tensor.h - the one activation type (NHWC views with strides) and the layer parameters kernels see. */
#ifndef RF_TENSOR_H
#define RF_TENSOR_H

#include <stdint.h>

/* How a tensor's data hold its values: floats, or as the reduced-precision layers read them
 * (kernels/kernel_set.h, rf_read): uint8 q, four channels a 32-bit word, standing for
 * (q - zero_point) * scale; or bfloat16, two channels a word. pstride and nstride count words. */
typedef enum { RF_VALUES_F32 = 0, RF_VALUES_U8, RF_VALUES_BF16 } rf_values;

/* n images of h x w pixels with c channels. Pixel (i, y, x) starts at
 * data + i*nstride + (y*w + x)*pstride; its channels are contiguous. pstride > c lets a layer
 * write into a channel slice of a wider tensor (concatenation without copies); nstride lets the
 * heads write straight into the [batch, anchors, k] output tensors. */
typedef struct {
    float *data;
    int n, h, w, c;
    int64_t pstride, nstride;
    int arena_id; /* its place in the context's arena plan; -1 for a view it does not own */
    int value;    /* what it holds in a traced forward pass (see rf_trace in core/ops.h), else 0 */
    float scale;  /* the uint8 quantization of an int8 layer's input (rf_read), else unused */
    int zero_point;
    rf_values values;
} rf_tensor;

typedef enum { RF_ACT_NONE = 0, RF_ACT_RELU, RF_ACT_LEAKY } rf_act_kind;

typedef struct {
    rf_act_kind kind;
    float slope; /* RF_ACT_LEAKY: y = x < 0 ? slope * x : x */
} rf_act;

/* A 2-D convolution with BatchNorm folded in. groups is 1 (dense) or cin == cout (depthwise). */
typedef struct {
    int cin, cout, kh, kw, stride, pad, groups;
    float *weight;  /* dense: [kh][kw][cin][cout]; depthwise: [kh][kw][cout] */
    float *bias;    /* [cout] */
    void *packed;   /* weights re-laid for the fast kernels (kernel set's own format), or NULL */
    /* the range of its input that int8 calibration found (rf_model_calibrate), lo < hi; both 0
     * when not calibrated: an int8 pass then measures it */
    float range_lo, range_hi;
} rf_conv;

static inline uint64_t rf_conv_weight_count(const rf_conv *c)
{
    return (uint64_t)c->kh * (uint64_t)c->kw * (uint64_t)c->cout *
           (c->groups == 1 ? (uint64_t)c->cin : 1u);
}

static inline int rf_conv_out_size(int in, int k, int stride, int pad)
{
    return (in + 2 * pad - k) / stride + 1;
}

#endif
