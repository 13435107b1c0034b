/* pack.c - the packed weights the SIMD sets share (the layouts of kernel_set.h), written once
 * per layer at model load or into a native file. */
#include "kernels/kernel_set.h"

#include <stdlib.h>
#include <string.h>

/* Whether a convolution runs as Winograd F(4x4, 3x3): stride-1 3x3 layers with enough
 * channels that the GEMM in the transformed domain outweighs the transforms. */
static int use_winograd(const rf_conv *conv)
{
    return conv->groups == 1 && conv->kh == 3 && conv->kw == 3 && conv->stride == 1 &&
           conv->pad == 1 && conv->cin >= 16 && conv->cout >= 16;
}

/* Winograd layers whose kernels are transformed as they run (RF_PACK_WINOGRAD_3X3): those of
 * 512 x 512 channels or more. They run on the coarsest maps, where one block holds every tile,
 * so the kernels are transformed once per pass; ResNet50's two such layers keep 19 MB of
 * kernels instead of 75 MB, and run 3 % slower at 640x640 (1 thread, AVX-512, measured). Sets
 * without this path (AVX2) run the layout as the PANELS it is, directly. */
#define WINOGRAD_3X3_MIN_PAIRS (512 * 512)

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
    else if (use_winograd(conv) && (int64_t)conv->cin * conv->cout >= WINOGRAD_3X3_MIN_PAIRS)
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
    return pk && (pk->layout == RF_PACK_WINOGRAD || pk->layout == RF_PACK_WINOGRAD_3X3) ? 4 : 1;
}

