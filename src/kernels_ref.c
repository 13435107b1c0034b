/* kernels_ref.c - portable C convolution: the reference every SIMD kernel is tested against. */
#include "kernels.h"

#include <string.h>

#define REF_MAX_COUT 2048

static inline float activate(float v, rf_act act)
{
    if (act.kind == RF_ACT_RELU)
        return v > 0.0f ? v : 0.0f;
    if (act.kind == RF_ACT_LEAKY)
        return v < 0.0f ? v * act.slope : v;
    return v;
}

static void store_pixel(const float *acc, int cout, const float *residual, rf_act act, float *dst)
{
    for (int co = 0; co < cout; co++) {
        float v = acc[co];
        if (residual)
            v += residual[co];
        dst[co] = activate(v, act);
    }
}

static void conv_dense(const rf_conv *cv, const rf_tensor *in, const rf_tensor *res, rf_act act,
                       const rf_tensor *out, int row0, int row1)
{
    float acc[REF_MAX_COUT];
    const int cin = cv->cin, cout = cv->cout;
    for (int r = row0; r < row1; r++) {
        const int img = r / out->h, oy = r % out->h;
        const float *ibase = in->data + img * in->nstride;
        for (int ox = 0; ox < out->w; ox++) {
            memcpy(acc, cv->bias, sizeof(float) * (size_t)cout);
            for (int ky = 0; ky < cv->kh; ky++) {
                const int iy = oy * cv->stride - cv->pad + ky;
                if (iy < 0 || iy >= in->h)
                    continue;
                for (int kx = 0; kx < cv->kw; kx++) {
                    const int ix = ox * cv->stride - cv->pad + kx;
                    if (ix < 0 || ix >= in->w)
                        continue;
                    const float *ip = ibase + ((int64_t)iy * in->w + ix) * in->pstride;
                    const float *wp = cv->weight + (size_t)(ky * cv->kw + kx) * cin * cout;
                    for (int ci = 0; ci < cin; ci++) {
                        const float v = ip[ci];
                        const float *wrow = wp + (size_t)ci * cout;
                        for (int co = 0; co < cout; co++)
                            acc[co] += v * wrow[co];
                    }
                }
            }
            const int64_t pix = (int64_t)oy * out->w + ox;
            store_pixel(acc, cout,
                        res ? res->data + img * res->nstride + pix * res->pstride : NULL, act,
                        out->data + img * out->nstride + pix * out->pstride);
        }
    }
}

static void conv_depthwise(const rf_conv *cv, const rf_tensor *in, const rf_tensor *res,
                           rf_act act, const rf_tensor *out, int row0, int row1)
{
    float acc[REF_MAX_COUT];
    const int c = cv->cout;
    for (int r = row0; r < row1; r++) {
        const int img = r / out->h, oy = r % out->h;
        const float *ibase = in->data + img * in->nstride;
        for (int ox = 0; ox < out->w; ox++) {
            memcpy(acc, cv->bias, sizeof(float) * (size_t)c);
            for (int ky = 0; ky < cv->kh; ky++) {
                const int iy = oy * cv->stride - cv->pad + ky;
                if (iy < 0 || iy >= in->h)
                    continue;
                for (int kx = 0; kx < cv->kw; kx++) {
                    const int ix = ox * cv->stride - cv->pad + kx;
                    if (ix < 0 || ix >= in->w)
                        continue;
                    const float *ip = ibase + ((int64_t)iy * in->w + ix) * in->pstride;
                    const float *wp = cv->weight + (size_t)(ky * cv->kw + kx) * c;
                    for (int ch = 0; ch < c; ch++)
                        acc[ch] += ip[ch] * wp[ch];
                }
            }
            const int64_t pix = (int64_t)oy * out->w + ox;
            store_pixel(acc, c, res ? res->data + img * res->nstride + pix * res->pstride : NULL,
                        act, out->data + img * out->nstride + pix * out->pstride);
        }
    }
}

void rf_conv_reference(const rf_conv *conv, const rf_tensor *in, const rf_tensor *residual,
                       rf_act act, const rf_tensor *out, int row0, int row1)
{
    if (conv->groups == 1)
        conv_dense(conv, in, residual, act, out, row0, row1);
    else
        conv_depthwise(conv, in, residual, act, out, row0, row1);
}
