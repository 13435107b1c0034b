/* pack.c - the packed weights of the kernel sets (the layouts of kernel_set.h): the float32
 * ones the SIMD sets share, the bf16 and int8 ones of the reduced sets and of their
 * references; written once per layer at model load or into a native file. */
#include "kernels/kernel_set.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Whether a convolution runs as Winograd F(4x4, 3x3): stride-1 3x3 layers with enough
 * channels that the GEMM in the transformed domain outweighs the transforms. */
static int use_winograd(const rf_conv *conv)
{
    return conv->groups == 1 && conv->kh == 3 && conv->kw == 3 && conv->stride == 1 &&
           conv->pad == 1 && conv->cin >= 16 && conv->cout >= 16;
}

/* G g G^T of F(4x4, 3x3) with interpolation points 0, 1, -1, 1/2, -2 and infinity: the 3x3
 * kernel g (tap stride `stride` floats) to 6x6, in double so the packed floats are rounded once. */
static void winograd_kernel(const float *g, size_t stride, double u[36])
{
    static const double G[6][3] = {{1, 0, 0},
                                   {1.0 / 3, 1.0 / 3, 1.0 / 3},
                                   {-1.0 / 3, 1.0 / 3, -1.0 / 3},
                                   {-16.0 / 15, -8.0 / 15, -4.0 / 15},
                                   {1.0 / 15, -2.0 / 15, 4.0 / 15},
                                   {0, 0, 1}};
    double t[6][3];
    for (int i = 0; i < 6; i++)
        for (int x = 0; x < 3; x++) {
            t[i][x] = 0;
            for (int y = 0; y < 3; y++)
                t[i][x] += G[i][y] * g[(size_t)(y * 3 + x) * stride];
        }
    for (int i = 0; i < 6; i++)
        for (int j = 0; j < 6; j++) {
            u[i * 6 + j] = 0;
            for (int x = 0; x < 3; x++)
                u[i * 6 + j] += t[i][x] * G[j][x];
        }
}

size_t rf_pack_simd_size(const rf_conv *conv, rf_packed *head)
{
    const int cout = conv->cout;
    const int npanels = (cout + RF_PACK_PANEL - 1) / RF_PACK_PANEL;
    *head = (rf_packed){RF_PACK_PANELS, conv->kh * conv->kw};
    if (conv->groups != 1)
        head->layout = RF_PACK_DEPTHWISE;
    else if (use_winograd(conv) && (int64_t)conv->cin * conv->cout >= RF_WINO_LARGE_PAIRS)
        /* kernels transformed as the layer runs: on the coarsest maps, where one block holds
         * every tile, once per pass; ResNet50's two such layers keep 19 MB of kernels instead
         * of 75 MB, and run 3 % slower at 640x640 (1 thread, AVX-512, measured). Sets without
         * this path (AVX2) run the layout as the PANELS it is, directly. */
        head->layout = RF_PACK_WINOGRAD_3X3;
    else if (use_winograd(conv))
        *head = (rf_packed){RF_PACK_WINOGRAD, 36};
    const size_t floats = head->layout == RF_PACK_DEPTHWISE
                              ? (size_t)head->taps * (size_t)((cout + 15) & ~15)
                              : (size_t)head->taps * (size_t)conv->cin * RF_PACK_PANEL *
                                    (size_t)npanels;
    return (RF_PACK_HEADER_BYTES + floats * sizeof(float) + 63) & ~(size_t)63;
}

/* Re-lays conv->weight into one of the layouts of kernels.h. */
void rf_pack_simd(const rf_conv *conv, void *block)
{
    const int cin = conv->cin, cout = conv->cout;
    const int npanels = (cout + RF_PACK_PANEL - 1) / RF_PACK_PANEL;
    rf_packed head;
    const size_t bytes = rf_pack_simd_size(conv, &head);
    const size_t panel = (size_t)head.taps * cin * RF_PACK_PANEL;
    /* zeroed: padding is part of the bytes native files store and compare */
    memset(block, 0, bytes);
    float *w = (float *)(void *)((unsigned char *)block + RF_PACK_HEADER_BYTES);
    memcpy(block, &head, sizeof head);
    if (head.layout == RF_PACK_DEPTHWISE) {
        const size_t cp = (size_t)((cout + 15) & ~15);
        for (int t = 0; t < head.taps; t++)
            memcpy(w + t * cp, conv->weight + (size_t)t * cout, sizeof(float) * (size_t)cout);
    } else {
        for (int pan = 0; pan < npanels; pan++) {
            const int c0 = pan * RF_PACK_PANEL;
            const int n = cout - c0 < RF_PACK_PANEL ? cout - c0 : RF_PACK_PANEL;
            const size_t width = (size_t)((n + 15) & ~15);
            float *dst = w + (size_t)pan * panel;
            for (int ci = 0; ci < cin; ci++)
                for (int co = 0; co < n; co++) {
                    const float *g = conv->weight + (size_t)ci * cout + c0 + co;
                    const size_t tap_stride = (size_t)cin * cout;
                    if (head.layout != RF_PACK_WINOGRAD) {
                        for (int t = 0; t < head.taps; t++)
                            dst[((size_t)t * cin + ci) * width + co] = g[t * tap_stride];
                        continue;
                    }
                    double u[36];
                    winograd_kernel(g, tap_stride, u);
                    for (int t = 0; t < 36; t++)
                        dst[((size_t)t * cin + ci) * width + co] = (float)u[t];
                }
        }
    }
}

int rf_row_unit_simd(const rf_conv *conv)
{
    const rf_packed *pk = conv->packed;
    return pk && (pk->layout == RF_PACK_WINOGRAD || pk->layout == RF_PACK_WINOGRAD_3X3 ||
                  pk->layout == RF_PACK_WINOGRAD_BF16)
               ? 4
               : 1;
}


/* ---------------------------------------------------------------- reduced precision */

/* The int8 weights of output channel co: scale = its largest |w| / 127, q = rint(w / scale)
 * (every tap and input channel; tap stride cin * cout, input channel stride cout). */
static float s8_scale(const rf_conv *conv, int co)
{
    const size_t taps = (size_t)conv->kh * conv->kw, n = taps * (size_t)conv->cin;
    float m = 0.0f;
    for (size_t k = 0; k < n; k++) {
        const float v = fabsf(conv->weight[k * (size_t)conv->cout + (size_t)co]);
        m = v > m ? v : m;
    }
    return m > 0.0f ? m / 127.0f : 1.0f;
}

static int8_t s8_quantize(float w, float scale)
{
    const float q = rintf(w / scale);
    return (int8_t)(q > 127.0f ? 127 : q < -127.0f ? -127 : (int)q);
}

/* The packed words of a reduced layer: (taps * words * RF_PACK_PANEL) per panel. */
static size_t word_bytes(const rf_conv *conv, int taps, rf_precision precision)
{
    const size_t npanels = (size_t)((conv->cout + RF_PACK_PANEL - 1) / RF_PACK_PANEL);
    return (size_t)taps * (size_t)rf_conv_words(conv->cin, precision) * RF_PACK_PANEL * npanels *
           4u;
}

size_t rf_pack_bf16_size(const rf_conv *conv, rf_packed *head)
{
    if (!rf_conv_reduced(conv))
        return rf_pack_simd_size(conv, head);
    *head = use_winograd(conv) ? (rf_packed){RF_PACK_WINOGRAD_BF16, 36}
                               : (rf_packed){RF_PACK_PANELS_BF16, conv->kh * conv->kw};
    return (RF_PACK_HEADER_BYTES + word_bytes(conv, head->taps, RF_PRECISION_BF16) + 63) &
           ~(size_t)63;
}

void rf_pack_bf16(const rf_conv *conv, void *block)
{
    if (!rf_conv_reduced(conv)) {
        rf_pack_simd(conv, block);
        return;
    }
    rf_packed head;
    const size_t bytes = rf_pack_bf16_size(conv, &head);
    memset(block, 0, bytes);
    memcpy(block, &head, sizeof head);
    uint16_t *w = (uint16_t *)(void *)((unsigned char *)block + RF_PACK_HEADER_BYTES);
    const int cin = conv->cin, cout = conv->cout;
    const int words = rf_conv_words(cin, RF_PRECISION_BF16);
    const size_t panel = (size_t)head.taps * words * RF_PACK_PANEL * 2; /* in bf16 */
    const size_t tap_stride = (size_t)cin * cout;
    for (int c0 = 0; c0 < cout; c0 += RF_PACK_PANEL) {
        const int n = cout - c0 < RF_PACK_PANEL ? cout - c0 : RF_PACK_PANEL;
        const size_t width = (size_t)((n + 15) & ~15);
        uint16_t *dst = w + (size_t)(c0 / RF_PACK_PANEL) * panel;
        for (int ci = 0; ci < cin; ci++)
            for (int co = 0; co < n; co++) {
                const float *g = conv->weight + (size_t)ci * cout + c0 + co;
                /* word ci / 2 of channel co, its half ci % 2 */
                const size_t at = ((size_t)(ci / 2) * width + co) * 2 + (size_t)(ci % 2);
                if (head.layout == RF_PACK_PANELS_BF16) {
                    for (int t = 0; t < head.taps; t++)
                        dst[(size_t)t * words * width * 2 + at] = rf_bf16_bits(g[t * tap_stride]);
                    continue;
                }
                double u[36];
                winograd_kernel(g, tap_stride, u);
                for (int t = 0; t < 36; t++)
                    dst[(size_t)t * words * width * 2 + at] = rf_bf16_bits((float)u[t]);
            }
    }
}

size_t rf_pack_s8_size(const rf_conv *conv, rf_packed *head)
{
    if (!rf_conv_reduced(conv))
        return rf_pack_simd_size(conv, head);
    *head = (rf_packed){RF_PACK_PANELS_S8, conv->kh * conv->kw};
    const size_t npanels = (size_t)((conv->cout + RF_PACK_PANEL - 1) / RF_PACK_PANEL);
    return (RF_PACK_HEADER_BYTES + word_bytes(conv, head->taps, RF_PRECISION_INT8) +
            npanels * RF_PACK_PANEL * 8u + 63) &
           ~(size_t)63;
}

void rf_pack_s8(const rf_conv *conv, void *block)
{
    if (!rf_conv_reduced(conv)) {
        rf_pack_simd(conv, block);
        return;
    }
    rf_packed head;
    const size_t bytes = rf_pack_s8_size(conv, &head);
    memset(block, 0, bytes);
    memcpy(block, &head, sizeof head);
    int8_t *w = (int8_t *)(void *)((unsigned char *)block + RF_PACK_HEADER_BYTES);
    const int cin = conv->cin, cout = conv->cout;
    const int words = rf_conv_words(cin, RF_PRECISION_INT8);
    const size_t panel = (size_t)head.taps * words * RF_PACK_PANEL * 4; /* in int8 */
    const size_t tap_stride = (size_t)cin * cout;
    float *scale = (float *)(void *)(w + word_bytes(conv, head.taps, RF_PRECISION_INT8));
    const int cpad = (cout + RF_PACK_PANEL - 1) / RF_PACK_PANEL * RF_PACK_PANEL;
    int32_t *sum = (int32_t *)(void *)(scale + cpad);
    for (int c0 = 0; c0 < cout; c0 += RF_PACK_PANEL) {
        const int n = cout - c0 < RF_PACK_PANEL ? cout - c0 : RF_PACK_PANEL;
        const size_t width = (size_t)((n + 15) & ~15);
        int8_t *dst = w + (size_t)(c0 / RF_PACK_PANEL) * panel;
        for (int co = 0; co < n; co++) {
            const float s = s8_scale(conv, c0 + co);
            scale[c0 + co] = s;
            for (int ci = 0; ci < cin; ci++) {
                const size_t at = ((size_t)(ci / 4) * width + co) * 4 + (size_t)(ci % 4);
                const float *g = conv->weight + (size_t)ci * cout + c0 + co;
                for (int t = 0; t < head.taps; t++) {
                    const int8_t q = s8_quantize(g[t * tap_stride], s);
                    dst[(size_t)t * words * width * 4 + at] = q;
                    sum[c0 + co] += q;
                }
            }
        }
    }
}

size_t rf_pack_reference_bf16_size(const rf_conv *conv, rf_packed *head)
{
    *head = (rf_packed){
        rf_conv_reduced(conv) ? RF_PACK_REFERENCE_BF16 : RF_PACK_NONE,
        conv->kh * conv->kw};
    const size_t n = head->layout == RF_PACK_NONE ? 0 : (size_t)rf_conv_weight_count(conv);
    return (RF_PACK_HEADER_BYTES + n * sizeof(float) + 63) & ~(size_t)63;
}

void rf_pack_reference_bf16(const rf_conv *conv, void *block)
{
    rf_packed head;
    const size_t bytes = rf_pack_reference_bf16_size(conv, &head);
    memset(block, 0, bytes);
    memcpy(block, &head, sizeof head);
    float *w = (float *)(void *)((unsigned char *)block + RF_PACK_HEADER_BYTES);
    if (head.layout == RF_PACK_REFERENCE_BF16)
        for (uint64_t k = 0; k < rf_conv_weight_count(conv); k++)
            w[k] = rf_bf16_round(conv->weight[k]);
}

size_t rf_pack_reference_s8_size(const rf_conv *conv, rf_packed *head)
{
    *head = (rf_packed){
        rf_conv_reduced(conv) ? RF_PACK_REFERENCE_S8 : RF_PACK_NONE,
        conv->kh * conv->kw};
    if (head->layout == RF_PACK_NONE)
        return RF_PACK_HEADER_BYTES;
    const size_t n = ((size_t)rf_conv_weight_count(conv) + 3) & ~(size_t)3;
    return (RF_PACK_HEADER_BYTES + n + (size_t)conv->cout * 8u + 63) & ~(size_t)63;
}

void rf_pack_reference_s8(const rf_conv *conv, void *block)
{
    rf_packed head;
    const size_t bytes = rf_pack_reference_s8_size(conv, &head);
    memset(block, 0, bytes);
    memcpy(block, &head, sizeof head);
    if (head.layout != RF_PACK_REFERENCE_S8)
        return;
    int8_t *w = (int8_t *)(void *)((unsigned char *)block + RF_PACK_HEADER_BYTES);
    const size_t n = (size_t)rf_conv_weight_count(conv);
    float *scale = (float *)(void *)(w + ((n + 3) & ~(size_t)3));
    int32_t *sum = (int32_t *)(void *)(scale + conv->cout);
    for (int co = 0; co < conv->cout; co++)
        scale[co] = s8_scale(conv, co);
    for (size_t k = 0; k < n; k++) {
        const int co = (int)(k % (size_t)conv->cout);
        w[k] = s8_quantize(conv->weight[k], scale[co]);
        sum[co] += w[k];
    }
}
