/* kernels.c - the table of kernel sets and the choice among them by what the CPU supports; max
 * pooling over a set's max_taps. */
#include "kernels/kernels.h"


#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The largest of the bytes of taps[0..n) at each of `bytes` positions, into dst. */
static void max_taps_u8(const float *const *taps, int n, int64_t bytes, float *dst)
{
    uint8_t *d = (uint8_t *)(void *)dst;
    memcpy(d, taps[0], (size_t)bytes);
    for (int t = 1; t < n; t++) {
        const uint8_t *s = (const uint8_t *)(const void *)taps[t];
        for (int64_t k = 0; k < bytes; k++)
            d[k] = s[k] > d[k] ? s[k] : d[k];
    }
}

/* A bfloat16 value's bits as an integer in the values' order: sign and magnitude turned into
 * two's complement (negative values have their magnitude bits flipped). */
static inline int16_t bf16_order(uint16_t h)
{
    return (int16_t)(h ^ ((uint16_t)(-(h >> 15)) & 0x7FFFu));
}

/* The largest of the bfloat16 values of taps[0..n) at each of `halves` positions, into dst. */
static void max_taps_bf16(const float *const *taps, int n, int64_t halves, float *dst)
{
    uint16_t *d = (uint16_t *)(void *)dst;
    memcpy(d, taps[0], (size_t)halves * 2);
    for (int t = 1; t < n; t++) {
        const uint16_t *s = (const uint16_t *)(const void *)taps[t];
        for (int64_t k = 0; k < halves; k++)
            d[k] = bf16_order(s[k]) > bf16_order(d[k]) ? s[k] : d[k];
    }
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
            float *dst =
                out->data + img * out->nstride + ((int64_t)oy * out->w + ox) * out->pstride;
            if (in->values == RF_VALUES_U8)
                max_taps_u8(taps, n, out->pstride * 4, dst);
            else if (in->values == RF_VALUES_BF16)
                max_taps_bf16(taps, n, out->pstride * 2, dst);
            else
                ks->max_taps(taps, n, out->c, dst);
        }
    }
}

/* The entry of a set compiled from conv_simd.h: its functions by the set's name isa. */
#define SIMD_SET(isa, set_id, features)                                                            \
    {                                                                                              \
        .id = set_id, .precision = RF_PRECISION_FP32, .name = #isa, .cpu_features = features,      \
        .conv = rf_conv_##isa, .max_taps = rf_max_taps_##isa,                                      \
        .scratch_floats = rf_conv_scratch_##isa, .row_unit = rf_row_unit_simd,                     \
        .per_call_weights = rf_conv_per_call_weights_##isa, .pack_size = rf_pack_simd_size,        \
        .pack = rf_pack_simd, .pack_layout = RF_PACK_LAYOUT_VERSION,                               \
        .fma_peak_gflops = rf_fma_peak_##isa,                                                      \
    }

/* A reduced-precision set compiled from conv_simd.h, packed by packer. */
#define SIMD_REDUCED_SET(isa, prec, packer, features)                                              \
    {                                                                                              \
        .id = RF_KERNELS_AVX512, .precision = prec, .name = #isa, .cpu_features = features,        \
        .conv = rf_conv_##isa, .max_taps = rf_max_taps_avx512,                                     \
        .scratch_floats = rf_conv_scratch_##isa, .row_unit = rf_row_unit_simd,                     \
        .per_call_weights = rf_conv_per_call_weights_##isa, .pack_size = packer##_size,            \
        .pack = packer, .pack_layout = RF_PACK_LAYOUT_VERSION,                                     \
        .fma_peak_gflops = rf_fma_peak_##isa, .input_read = rf_input_read_##isa,                   \
        .writes_copy = rf_writes_copy_##isa, .reduced_residual = rf_reduced_residual_##isa,        \
        .convert_input = rf_convert_input_##isa, .range = rf_range_##isa,                          \
    }

#define AVX512_FEATURES                                                                            \
    (RF_CPU_AVX2 | RF_CPU_FMA | RF_CPU_AVX512F | RF_CPU_AVX512BW | RF_CPU_AVX512DQ |               \
     RF_CPU_AVX512VL)

/* The kernel sets; within one precision, in order of preference (rf_kernel_sets). */
static const rf_kernel_set kernel_sets[] = {
    {
        .id = RF_KERNELS_REFERENCE,
        .precision = RF_PRECISION_FP32,
        .name = "reference",
        .conv = rf_conv_reference,
        .max_taps = rf_max_taps_reference,
        .fma_peak_gflops = rf_fma_peak_reference,
    },
    SIMD_SET(avx2, RF_KERNELS_AVX2, RF_CPU_AVX2 | RF_CPU_FMA),
    SIMD_SET(avx512, RF_KERNELS_AVX512, AVX512_FEATURES),
    {
        .id = RF_KERNELS_REFERENCE,
        .precision = RF_PRECISION_BF16,
        .name = "reference_bf16",
        .conv = rf_conv_reference_reduced,
        .max_taps = rf_max_taps_reference,
        .pack_size = rf_pack_reference_bf16_size,
        .pack = rf_pack_reference_bf16,
        .pack_layout = RF_PACK_LAYOUT_VERSION,
        .fma_peak_gflops = rf_fma_peak_reference,
        .reduced_residual = rf_reduced_residual_reference,
    },
    SIMD_REDUCED_SET(avx512_bf16, RF_PRECISION_BF16, rf_pack_bf16,
                     AVX512_FEATURES | RF_CPU_AVX512BF16),
    {
        .id = RF_KERNELS_REFERENCE,
        .precision = RF_PRECISION_INT8,
        .name = "reference_int8",
        .conv = rf_conv_reference_reduced,
        .max_taps = rf_max_taps_reference,
        .pack_size = rf_pack_reference_s8_size,
        .pack = rf_pack_reference_s8,
        .pack_layout = RF_PACK_LAYOUT_VERSION,
        .fma_peak_gflops = rf_dot_peak_reference_int8,
        .input_read = rf_input_read_reference_int8,
        .reduced_residual = rf_reduced_residual_reference,
        .range = rf_range_reference,
    },
    SIMD_REDUCED_SET(avx512_vnni, RF_PRECISION_INT8, rf_pack_s8,
                     AVX512_FEATURES | RF_CPU_AVX512VNNI),
};
#define KERNEL_SET_COUNT ((int)(sizeof kernel_sets / sizeof kernel_sets[0]))

const rf_kernel_set *rf_kernel_sets(int *count)
{
    *count = KERNEL_SET_COUNT;
    return kernel_sets;
}

/* The RF_CPU_* flags named in RETINAFACE_CPU_DISABLE: /proc/cpuinfo names separated by commas
 * (spaces around them allowed); unknown names are ignored. */
static unsigned disabled_features(void)
{
    const char *list = getenv("RETINAFACE_CPU_DISABLE");
    unsigned off = 0;
    for (const char *p = list; p && *p;) {
        p += strspn(p, " ,");
        size_t n = strcspn(p, ",");
        while (n && p[n - 1] == ' ')
            n--;
        for (int b = 0; b < RF_CPU_FEATURE_COUNT; b++)
            if (n && strlen(rf_cpu_feature_cpuinfo_name(b)) == n &&
                !strncmp(p, rf_cpu_feature_cpuinfo_name(b), n))
                off |= 1u << b;
        p += strcspn(p, ",");
    }
    return off;
}

/* Read at every call, not cached: the library keeps no writable static state
 * (tests/test_no_globals.sh), and callers (model loads, context creation) are rare. */
unsigned rf_cpu_features(void)
{
    unsigned f = 0;
#define RF_CPU_FEATURE_TEST_(name, gcc, cpuinfo)                                                   \
    if (__builtin_cpu_supports(gcc))                                                               \
        f |= RF_CPU_##name;
    RF_CPU_FEATURES(RF_CPU_FEATURE_TEST_)
#undef RF_CPU_FEATURE_TEST_
    return f & ~disabled_features();
}

const char *rf_cpu_feature_name(int bit)
{
#define RF_CPU_FEATURE_NAME_(name, gcc, cpuinfo) gcc,
    static const char *const names[] = {RF_CPU_FEATURES(RF_CPU_FEATURE_NAME_)};
#undef RF_CPU_FEATURE_NAME_
    return bit >= 0 && bit < RF_CPU_FEATURE_COUNT ? names[bit] : NULL;
}

const char *rf_cpu_feature_cpuinfo_name(int bit)
{
#define RF_CPU_FEATURE_NAME_(name, gcc, cpuinfo) cpuinfo,
    static const char *const names[] = {RF_CPU_FEATURES(RF_CPU_FEATURE_NAME_)};
#undef RF_CPU_FEATURE_NAME_
    return bit >= 0 && bit < RF_CPU_FEATURE_COUNT ? names[bit] : NULL;
}

const rf_kernel_set *rf_kernels_select(rf_kernels which, rf_precision precision,
                                      unsigned *missing)
{
    const unsigned have = rf_cpu_features();
    const rf_kernel_set *best = NULL;
    unsigned lack = 0;
    for (int i = 0; i < KERNEL_SET_COUNT; i++) {
        const rf_kernel_set *ks = &kernel_sets[i];
        if (ks->precision != precision || (which != RF_KERNELS_AUTO && ks->id != which))
            continue;
        if (ks->cpu_features & ~have) {
            lack = ks->cpu_features & ~have;
            continue;
        }
        best = ks;
        if (which != RF_KERNELS_AUTO)
            break;
    }
    /* auto picks the fastest set; if only the reference runs this precision while a faster
     * set for it exists, say what that one lacks */
    if (best && which == RF_KERNELS_AUTO && best->id == RF_KERNELS_REFERENCE &&
        precision != RF_PRECISION_FP32 && lack)
        best = NULL;
    if (missing)
        *missing = best ? 0 : lack;
    return best;
}

const char *rf_kernels_name(rf_kernels kernels)
{
    if (kernels == RF_KERNELS_AUTO)
        return "auto";
    static const char *const names[] = {[RF_KERNELS_REFERENCE] = "reference",
                                        [RF_KERNELS_AVX2] = "avx2",
                                        [RF_KERNELS_AVX512] = "avx512"};
    if ((int)kernels > 0 && (int)kernels < (int)(sizeof names / sizeof names[0]))
        return names[kernels];
    return "unknown";
}

rf_status rf_kernels_parse(const char *name, rf_kernels *out)
{
    for (int i = 0; name && i <= RF_KERNELS_AVX512; i++)
        if (!strcmp(name, rf_kernels_name((rf_kernels)i))) {
            *out = (rf_kernels)i;
            return RF_OK;
        }
    return RF_E_ARG;
}

const char *rf_precision_name(rf_precision precision)
{
    switch (precision) {
    case RF_PRECISION_FP32: return "fp32";
    case RF_PRECISION_BF16: return "bf16";
    case RF_PRECISION_INT8: return "int8";
    }
    return "unknown";
}

rf_status rf_precision_parse(const char *name, rf_precision *out)
{
    for (int i = RF_PRECISION_FP32; name && i <= RF_PRECISION_INT8; i++)
        if (!strcmp(name, rf_precision_name((rf_precision)i))) {
            *out = (rf_precision)i;
            return RF_OK;
        }
    return RF_E_ARG;
}

int rf_cpu_features_text(unsigned features, char *buf, size_t size)
{
    int n = 0;
    buf[0] = 0;
    for (int b = 0; b < RF_CPU_FEATURE_COUNT; b++)
        if (features & (1u << b))
            n += snprintf(buf + n, n < (int)size ? size - (size_t)n : 0, "%s%s", n ? ", " : "",
                          rf_cpu_feature_cpuinfo_name(b));
    return n;
}
