/* kernels_ref.c - portable C convolution: the reference every SIMD kernel is tested against. */
#include "kernels/kernel_set.h"

#include <float.h>
#include <math.h>
#include <string.h>

/* Output channels summed together: a call's channels go in chunks of at most this many, so the
 * sums fit on the stack whatever cout is. */
#define REF_CHUNK 2048

static inline float activate(float v, rf_act act)
{
    if (act.kind == RF_ACT_RELU)
        return v > 0.0f ? v : 0.0f;
    if (act.kind == RF_ACT_LEAKY)
        return v < 0.0f ? v * act.slope : v;
    return v;
}

/* The uint8 value of x in a tensor quantized with 1 / scale = inv and zero point zp. */
static inline int32_t quantize_u8(float x, float inv, int zp)
{
    const float q = rintf(x * inv) + (float)zp;
    return !(q > 0.0f) ? 0 : q > 255.0f ? 255 : (int32_t)q; /* NaN: 0, as the SIMD sets */
}

/* The weights a chunk multiplies, in the plain layout ([kh][kw][cin][cout] dense, [kh][kw][c]
 * depthwise): float32 (as loaded, or rounded to bf16 for BF16), or int8 with a scale per
 * output channel. BF16 rounds the inputs as it reads them; INT8 quantizes them with the input
 * tensor's scale and zero point and sums (q(x) - zero point) * q(w) in int32 (the padding,
 * quantized, is the zero point: it adds nothing), then scales the sum. */
typedef struct {
    rf_precision precision;
    const float *w;
    const int8_t *w8;
    const float *wscale;
} ref_weights;

/* The contribution of one input pixel through one kernel tap to channels [c0, c1): acc (or
 * iacc for int8) [c - c0] += ... */
static void accumulate_tap(const rf_conv *cv, const ref_weights *wt, size_t tap,
                           const float *ip, const rf_tensor *in, int c0, int c1, float *acc,
                           int32_t *iacc)
{
    if (cv->groups != 1) {
        const float *wp = wt->w + tap * (size_t)cv->cout;
        for (int k = 0; k < c1 - c0; k++)
            acc[k] += ip[c0 + k] * wp[c0 + k];
        return;
    }
    const size_t base = tap * (size_t)cv->cin * cv->cout + (size_t)c0;
    if (wt->precision == RF_PRECISION_INT8) {
        const float inv = 1.0f / in->scale;
        for (int ci = 0; ci < cv->cin; ci++) {
            const int32_t v = quantize_u8(ip[ci], inv, in->zero_point) - in->zero_point;
            const int8_t *wrow = wt->w8 + base + (size_t)ci * cv->cout;
            for (int k = 0; k < c1 - c0; k++)
                iacc[k] += v * wrow[k];
        }
        return;
    }
    for (int ci = 0; ci < cv->cin; ci++) {
        const float v = wt->precision == RF_PRECISION_BF16 ? rf_bf16_round(ip[ci]) : ip[ci];
        const float *wrow = wt->w + base + (size_t)ci * cv->cout;
        for (int k = 0; k < c1 - c0; k++)
            acc[k] += v * wrow[k];
    }
}

/* Channels [c0, c1) of rows [row0, row1), c1 - c0 <= REF_CHUNK. */
static void conv_chunk(const rf_conv *cv, const ref_weights *wt, const rf_tensor *in,
                       const rf_tensor *res, rf_act act, const rf_tensor *out, int row0, int row1,
                       int c0, int c1)
{
    float acc[REF_CHUNK];
    int32_t iacc[REF_CHUNK];
    const int int8 = wt->precision == RF_PRECISION_INT8;
    for (int r = row0; r < row1; r++) {
        const int img = r / out->h, oy = r % out->h;
        const float *ibase = in->data + img * in->nstride;
        for (int ox = 0; ox < out->w; ox++) {
            memcpy(acc, cv->bias + c0, sizeof(float) * (size_t)(c1 - c0));
            memset(iacc, 0, sizeof(int32_t) * (size_t)(c1 - c0));
            int ky0, ky1, kx0, kx1;
            rf_tap_range(oy, cv->stride, cv->pad, cv->kh, in->h, &ky0, &ky1);
            rf_tap_range(ox, cv->stride, cv->pad, cv->kw, in->w, &kx0, &kx1);
            for (int ky = ky0; ky < ky1; ky++)
                for (int kx = kx0; kx < kx1; kx++) {
                    const int iy = oy * cv->stride - cv->pad + ky;
                    const int ix = ox * cv->stride - cv->pad + kx;
                    accumulate_tap(cv, wt, (size_t)(ky * cv->kw + kx),
                                   ibase + ((int64_t)iy * in->w + ix) * in->pstride, in, c0, c1,
                                   acc, iacc);
                }
            const int64_t pix = (int64_t)oy * out->w + ox;
            const float *rp = res ? res->data + img * res->nstride + pix * res->pstride : NULL;
            const uint8_t *rq =
                res && res->values == RF_VALUES_U8 ? (const uint8_t *)(const void *)rp : NULL;
            const uint16_t *rh =
                res && res->values == RF_VALUES_BF16 ? (const uint16_t *)(const void *)rp : NULL;
            float *dst = out->data + img * out->nstride + pix * out->pstride;
            for (int co = c0; co < c1; co++) {
                float v = int8 ? (float)iacc[co - c0] * (in->scale * wt->wscale[co]) + cv->bias[co]
                               : acc[co - c0];
                if (rq)
                    v += (float)(rq[co] - res->zero_point) * res->scale;
                else if (rh)
                    v += rf_bf16_float(rh[co]);
                else if (rp)
                    v += rp[co];
                dst[co] = activate(v, act);
            }
        }
    }
}

/* A call's channels, chunk by chunk. */
static void conv_chunks(const rf_conv *cv, const ref_weights *wt, const rf_tensor *in,
                        const rf_tensor *res, rf_act act, const rf_tensor *out, rf_conv_part part)
{
    for (int c0 = part.ch0; c0 < part.ch1; c0 += REF_CHUNK)
        conv_chunk(cv, wt, in, res, act, out, part.row0, part.row1, c0,
                   part.ch1 - c0 < REF_CHUNK ? part.ch1 : c0 + REF_CHUNK);
}

void rf_conv_reference(const rf_conv *cv, const rf_tensor *in, const rf_tensor *res, rf_act act,
                       const rf_tensor *out, const rf_conv_copy *copy, rf_conv_part part,
                       float *scratch)
{
    (void)copy;    /* the reference sets write no copies (no writes_copy) */
    (void)scratch; /* the reference needs none */
    const ref_weights wt = {RF_PRECISION_FP32, cv->weight, NULL, NULL};
    conv_chunks(cv, &wt, in, res, act, out, part);
}

/* ---------------------------------------------------------------- reduced precision */

void rf_conv_reference_reduced(const rf_conv *cv, const rf_tensor *in, const rf_tensor *res,
                               rf_act act, const rf_tensor *out, const rf_conv_copy *copy,
                               rf_conv_part part, float *scratch)
{
    const rf_packed *pk = cv->packed;
    if (pk->layout == RF_PACK_NONE) {
        rf_conv_reference(cv, in, res, act, out, copy, part, scratch);
        return;
    }
    const unsigned char *w = (const unsigned char *)cv->packed + RF_PACK_HEADER_BYTES;
    const size_t n = ((size_t)rf_conv_weight_count(cv) + 3) & ~(size_t)3;
    const ref_weights wt =
        pk->layout == RF_PACK_REFERENCE_BF16
            ? (ref_weights){RF_PRECISION_BF16, (const float *)(const void *)w, NULL, NULL}
            : (ref_weights){RF_PRECISION_INT8, NULL, (const int8_t *)(const void *)w,
                            (const float *)(const void *)(w + n)};
    conv_chunks(cv, &wt, in, res, act, out, part);
}

rf_read rf_input_read_reference_int8(const rf_conv *conv)
{
    const rf_packed *pk = conv->packed;
    return pk->layout == RF_PACK_REFERENCE_S8 ? RF_READ_F32_RANGE : RF_READ_F32;
}

int rf_reduced_residual_reference(const rf_conv *conv)
{
    const rf_pack_layout layout = ((const rf_packed *)conv->packed)->layout;
    return layout == RF_PACK_REFERENCE_S8 || layout == RF_PACK_REFERENCE_BF16;
}

void rf_range_reference(const rf_tensor *t, int row0, int row1, float *lo, float *hi)
{
    float a = 0.0f, b = 0.0f;
    for (int r = row0; r < row1; r++) {
        const float *p =
            t->data + (r / t->h) * t->nstride + (int64_t)(r % t->h) * t->w * t->pstride;
        for (int x = 0; x < t->w; x++, p += t->pstride)
            for (int c = 0; c < t->c; c++) {
                a = p[c] < a ? p[c] : a;
                b = p[c] > b ? p[c] : b;
            }
    }
    *lo = a;
    *hi = b;
}

/* The scalar code's rate at int8 multiply-adds (bf16 ones are float multiply-adds there:
 * rf_fma_peak_reference). */
double rf_dot_peak_reference_int8(void)
{
    int32_t acc[4] = {0, 1, 2, 3};
    volatile int8_t wv = 3;
    const int32_t w = wv;
    const long rounds = 1L << 23;
    const double t0 = rf_kernel_seconds();
    for (long r = 0; r < rounds; r++)
        for (int i = 0; i < 4; i++)
            acc[i] = acc[i] * w + 1;
    const double seconds = rf_kernel_seconds() - t0;
    return 2.0 * 4 * rounds / seconds / 1e9 + 0.0 * (acc[0] + acc[1] + acc[2] + acc[3]);
}

void rf_max_taps_reference(const float *const *taps, int n, int c, float *dst)
{
    for (int k = 0; k < c; k++) {
        float m = -FLT_MAX;
        for (int t = 0; t < n; t++)
            m = taps[t][k] > m ? taps[t][k] : m;
        dst[k] = m;
    }
}

/* Scalar multiply and add (the reference is built without FMA contraction), four chains. */
double rf_fma_peak_reference(void)
{
    float acc[4] = {0, 1, 2, 3};
    const long rounds = 1L << 23;
    const double t0 = rf_kernel_seconds();
    for (long r = 0; r < rounds; r++)
        for (int i = 0; i < 4; i++)
            acc[i] = acc[i] * 0.5f + 0.25f;
    const double seconds = rf_kernel_seconds() - t0;
    return 2.0 * 4 * rounds / seconds / 1e9 + 0.0 * (acc[0] + acc[1] + acc[2] + acc[3]);
}
