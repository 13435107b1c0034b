/* kernels.c - the table of kernel sets and the choice among them by what the CPU supports; max
 * pooling over a set's max_taps. */
#include "kernels/kernels.h"


#include <stdlib.h>
#include <string.h>

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
