/* kernels.c - the table of kernel sets and the choice among them by what the CPU supports; the
 * packed weights the SIMD sets share; max pooling over a set's max_taps. */
#include "kernels/kernels.h"

#include <time.h>

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

void rf_maxpool3s2(const rf_kernel_set *ks, const rf_tensor *in, const rf_tensor *out, int row0,
                   int row1)
{
    for (int r = row0; r < row1; r++) {
        const int img = r / out->h, oy = r % out->h;
        for (int ox = 0; ox < out->w; ox++) {
            const float *taps[9];
            int n = 0;
            for (int iy = 2 * oy - 1; iy <= 2 * oy + 1; iy++)
                for (int ix = 2 * ox - 1; ix <= 2 * ox + 1; ix++)
                    if (iy >= 0 && iy < in->h && ix >= 0 && ix < in->w)
                        taps[n++] = in->data + img * in->nstride +
                                    ((int64_t)iy * in->w + ix) * in->pstride;
            ks->max_taps(taps, n, out->c,
                         out->data + img * out->nstride +
                             ((int64_t)oy * out->w + ox) * out->pstride);
        }
    }
}

/* The entry of a set compiled from conv_simd.h: its functions by the set's name isa. */
#define SIMD_SET(isa, set_id, features)                                                            \
    {                                                                                              \
        .id = set_id, .name = #isa, .cpu_features = features, .conv = rf_conv_##isa,               \
        .max_taps = rf_max_taps_##isa, .scratch_floats = rf_conv_scratch_##isa,                    \
        .row_unit = rf_row_unit_simd, .per_call_weights = rf_conv_per_call_weights_##isa,          \
        .pack_size = rf_pack_simd_size, .pack = rf_pack_simd,                                      \
        .pack_layout = RF_PACK_LAYOUT_VERSION, .fma_peak_gflops = rf_fma_peak_##isa,               \
    }

/* The kernel sets, in order of preference (rf_kernel_sets). */
static const rf_kernel_set kernel_sets[] = {
    [RF_KERNELS_REFERENCE] =
        {
            .id = RF_KERNELS_REFERENCE,
            .name = "reference",
            .cpu_features = 0,
            .conv = rf_conv_reference,
            .max_taps = rf_max_taps_reference,
            .fma_peak_gflops = rf_fma_peak_reference,
        },
    [RF_KERNELS_AVX2] = SIMD_SET(avx2, RF_KERNELS_AVX2, RF_CPU_AVX2 | RF_CPU_FMA),
    [RF_KERNELS_AVX512] = SIMD_SET(avx512, RF_KERNELS_AVX512,
                                   RF_CPU_AVX2 | RF_CPU_FMA | RF_CPU_AVX512F | RF_CPU_AVX512BW |
                                       RF_CPU_AVX512DQ | RF_CPU_AVX512VL),
};
#define KERNEL_SET_COUNT ((int)(sizeof kernel_sets / sizeof kernel_sets[0]))

const rf_kernel_set *rf_kernel_sets(int *count)
{
    *count = KERNEL_SET_COUNT;
    return kernel_sets;
}

double rf_kernel_seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + t.tv_nsec * 1e-9;
}

unsigned rf_cpu_features(void)
{
    unsigned f = 0;
#define RF_CPU_FEATURE_TEST_(name, str)                                                            \
    if (__builtin_cpu_supports(str))                                                               \
        f |= RF_CPU_##name;
    RF_CPU_FEATURES(RF_CPU_FEATURE_TEST_)
#undef RF_CPU_FEATURE_TEST_
    return f;
}

const char *rf_cpu_feature_name(int bit)
{
#define RF_CPU_FEATURE_NAME_(name, str) str,
    static const char *const names[] = {RF_CPU_FEATURES(RF_CPU_FEATURE_NAME_)};
#undef RF_CPU_FEATURE_NAME_
    return bit >= 0 && bit < RF_CPU_FEATURE_COUNT ? names[bit] : NULL;
}

const rf_kernel_set *rf_kernels_select(rf_kernels which)
{
    const unsigned have = rf_cpu_features();
    const rf_kernel_set *best = NULL;
    for (int i = 0; i < KERNEL_SET_COUNT; i++) {
        const rf_kernel_set *ks = &kernel_sets[i];
        if (!ks->name || (ks->cpu_features & ~have))
            continue;
        if (which == RF_KERNELS_AUTO)
            best = ks;
        else if (ks->id == which)
            return ks;
    }
    return best;
}

const char *rf_kernels_name(rf_kernels kernels)
{
    if (kernels == RF_KERNELS_AUTO)
        return "auto";
    if ((int)kernels > 0 && (int)kernels < KERNEL_SET_COUNT && kernel_sets[kernels].name)
        return kernel_sets[kernels].name;
    return "unknown";
}

rf_status rf_kernels_parse(const char *name, rf_kernels *out)
{
    for (int i = 0; name && i < KERNEL_SET_COUNT; i++)
        if (!strcmp(name, rf_kernels_name((rf_kernels)i))) {
            *out = (rf_kernels)i;
            return RF_OK;
        }
    return RF_E_ARG;
}
