/* kernel_set.h - what a kernel set is (rf_kernel_set) and what its kernels share: the share of a
 * convolution one call computes, the packed-weight layouts, the CPU features a set needs, and
 * the entry points of each set. The kernel files include this, not kernels.h, whose table of
 * sets calls them. */
#ifndef RF_KERNEL_SET_H
#define RF_KERNEL_SET_H

#include "retinaface.h"
#include "base/tensor.h"

#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* The share of a convolution's output one kernel call computes: rows [row0, row1), where row r
 * is image r / out->h, line r % out->h, and channels [ch0, ch1), ch0 a multiple of
 * RF_CONV_CHANNEL_STEP and ch1 one too or cout. Callers split the work between threads by rows,
 * and by channels where a map has too few rows for the threads. Kernels know nothing about
 * RetinaFace; they see tensors and layer parameters only. */
typedef struct {
    int row0, row1, ch0, ch1;
} rf_conv_part;

#define RF_CONV_CHANNEL_STEP 64

/* conv->packed for the SIMD sets (rf_pack_simd and its kin fill it at model load, in the
 * model's one region of packed blocks, or the block lies in a mapped native file): this header,
 * zero-padded to 64 bytes, then the weights in one of these layouts, all zero-padded. The block
 * holds no pointers, so native files store it byte for byte (docs/formats.md):
 * - PANELS (dense): output channels in panels of RF_PACK_PANEL (the last one 16 wide when at
 *   most 16 channels are left), each panel [kh][kw][cin][panel width];
 * - WINOGRAD (dense 3x3, stride 1, pad 1): the same panels of the 6x6 transformed kernels
 *   G g G^T of F(4x4, 3x3), each panel [36][cin][panel width];
 * - WINOGRAD_3X3: the PANELS layout of a layer that runs as Winograd too, its kernels
 *   transformed as it runs: the widest layers (RF_WINO_LARGE_PAIRS input x output channels or
 *   more: ResNet50's layer4), whose transformed kernels would take 4x the memory (75 MB of
 *   ResNet50's 242 MB of packed weights);
 * - DEPTHWISE: [kh][kw][c rounded up to 16].
 * The bf16 and int8 sets pack their reduced-precision layers (rf_conv_reduced) in the same
 * geometry over 32-bit words instead of floats: a word holds two input channels as bfloat16
 * (the lower half the even channel) or four as int8, a layer of cin channels has
 * rf_conv_words(cin) words per pixel and tap, and a panel is [taps][words][panel width]:
 * - PANELS_BF16, WINOGRAD_BF16: PANELS and WINOGRAD rounded to bfloat16 pairs (the
 *   transformed kernels rounded once, from double);
 * - PANELS_S8: PANELS of int8 weights, w = scale[co] * q, q in [-127, 127] (scale = the
 *   channel's largest |w| / 127); after the panels, scale[] (floats) then the sums of each
 *   channel's q[] (int32), both npanels * RF_PACK_PANEL long;
 * - REFERENCE_BF16 / REFERENCE_S8: the reference's plain layout [kh][kw][cin][cout], as floats
 *   rounded to bfloat16, or as int8 followed by scale[cout] and the sums, cout long.
 * Layers a reduced set keeps in float32 take the float layouts above (the SIMD sets') or none
 * (the reference's: it reads conv->weight). */
/* Input x output channels from which a Winograd layer's transformed kernels are too large to
 * keep: float32 packs them as WINOGRAD_3X3, bf16 blocks its tiles for them (conv_winograd). */
#define RF_WINO_LARGE_PAIRS ((int64_t)512 * 512)

typedef enum {
    RF_PACK_PANELS,
    RF_PACK_WINOGRAD,
    RF_PACK_DEPTHWISE,
    RF_PACK_WINOGRAD_3X3,
    RF_PACK_PANELS_BF16,
    RF_PACK_WINOGRAD_BF16,
    RF_PACK_PANELS_S8,
    RF_PACK_REFERENCE_BF16,
    RF_PACK_REFERENCE_S8,
    RF_PACK_NONE
} rf_pack_layout;

typedef struct {
    rf_pack_layout layout;
    int taps;          /* kh * kw, or 36 for WINOGRAD */
} rf_packed;

/* CPU features a kernel set needs, by the names __builtin_cpu_supports and GCC's -m flags give
 * them and by those of /proc/cpuinfo: X(ENUM SUFFIX, "gcc name", "cpuinfo name"). */
#define RF_CPU_FEATURES(X)                                                                         \
    X(AVX2, "avx2", "avx2")                                                                        \
    X(FMA, "fma", "fma")                                                                           \
    X(AVX512F, "avx512f", "avx512f")                                                               \
    X(AVX512BW, "avx512bw", "avx512bw")                                                            \
    X(AVX512DQ, "avx512dq", "avx512dq")                                                            \
    X(AVX512VL, "avx512vl", "avx512vl")                                                            \
    X(AVX512BF16, "avx512bf16", "avx512_bf16")                                                     \
    X(AVX512VNNI, "avx512vnni", "avx512_vnni")

#define RF_CPU_FEATURE_BIT_(name, gcc, cpuinfo) RF_CPU_BIT_##name,
enum { RF_CPU_FEATURES(RF_CPU_FEATURE_BIT_) RF_CPU_FEATURE_COUNT };
#define RF_CPU_FEATURE_FLAG_(name, gcc, cpuinfo) RF_CPU_##name = 1u << RF_CPU_BIT_##name,
enum { RF_CPU_FEATURES(RF_CPU_FEATURE_FLAG_) };


/* Whether a layer runs in the reduced precision of a bf16 or int8 set: the dense convolutions,
 * except image layers (3 channels) with short sums. ResNet50's 7x7 (147 multiply-adds an
 * output) runs reduced: its 3 channels fill 3 bytes of each int8 word, and 2 bf16 words a pixel
 * with one half zero (still faster than float32, with the image converted by a pass: measured);
 * MobileNet0.25's 3x3 (27) runs faster on the float32 set's image kernel. The depthwise ones
 * stay float32: they do a few multiply-adds per value read, and under int8 they lose the most
 * accuracy (../shared/notes/int8-accuracy.md). The same layers in both precisions. */
static inline int rf_conv_reduced(const rf_conv *conv)
{
    return conv->groups == 1 && (conv->cin > 3 || conv->kh * conv->kw * conv->cin >= 64);
}

/* 32-bit words per pixel and tap of a reduced layer: 2 bf16 or 4 int8 channels a word. */
static inline int rf_conv_words(int cin, rf_precision precision)
{
    return precision == RF_PRECISION_INT8 ? (cin + 3) / 4
           : precision == RF_PRECISION_BF16 ? (cin + 1) / 2
                                            : cin;
}

/* How a set's conv reads its input tensor, layer by layer; the caller (ops.c) prepares it:
 * - F32: the float tensor as it is;
 * - F32_RANGE: the same, with scale and zero_point set (rf_quant_params) from its range;
 * - BF16: a tensor of rf_conv_words words per pixel, each the channels rounded to bfloat16
 *   pairs (convert_input), the last half zero for odd counts;
 * - U8: the channels quantized to uint8, q = clamp(rint(x / scale) + zero_point, 0, 255),
 *   four a word, the last word padded with zero_point, and the map surrounded by conv->pad
 *   pixels of zero_point (so the kernel reads no padding): (h + 2 pad) x (w + 2 pad) pixels. */
typedef enum { RF_READ_F32, RF_READ_F32_RANGE, RF_READ_BF16, RF_READ_U8 } rf_read;

/* Where a convolution's output values go a second time, converted as the next layer reads them
 * (rf_read BF16, or U8 with t.scale and t.zero_point): it saves that layer a pass over the
 * whole map. U8 copies get only their interior, from pixel (pad, pad), pad = (t.h - out->h) /
 * 2. With `only`, out itself is not written at all: nothing else reads its floats. */
typedef struct {
    rf_tensor t;
    int only;
} rf_conv_copy;

/* The uint8 quantization of a tensor whose values lie in [lo, hi]: the range widened to hold 0
 * (so zero, the padding, is exact), 255 steps, zero point rounded. */
static inline void rf_quant_params(float lo, float hi, float *scale, int *zero_point)
{
    lo = lo < 0.0f ? lo : 0.0f;
    hi = hi > 0.0f ? hi : 0.0f;
    if (!(hi - lo > 1e-30f)) { /* all zero (or NaN): any scale */
        *scale = 1.0f;
        *zero_point = 0;
        return;
    }
    *scale = (hi - lo) / 255.0f;
    const float z = -lo / *scale + 0.5f;
    *zero_point = z < 0.0f ? 0 : z > 255.0f ? 255 : (int)z;
}

/* bfloat16 bits of x, rounded to nearest even, denormals flushed to zero: what VCVTNEPS2BF16
 * gives (NaN stays NaN). */
static inline uint16_t rf_bf16_bits(float x)
{
    uint32_t u;
    __builtin_memcpy(&u, &x, 4);
    if ((u & 0x7f800000u) == 0x7f800000u)
        return (uint16_t)((u >> 16) | ((u & 0xffffu) ? 0x40u : 0u));
    if (!(u & 0x7f800000u))
        u &= 0x80000000u;
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

/* The float that bfloat16 bits h stand for. */
static inline float rf_bf16_float(uint16_t h)
{
    const uint32_t u = (uint32_t)h << 16;
    float f;
    __builtin_memcpy(&f, &u, 4);
    return f;
}

static inline float rf_bf16_round(float x) { return rf_bf16_float(rf_bf16_bits(x)); }

typedef struct {
    rf_kernels id;
    rf_precision precision;
    const char *name;
    unsigned cpu_features; /* the RF_CPU_* flags the set's instructions need */
    /* out = act(conv(in) + bias [+ residual]); residual may be NULL, else shaped like out: floats
     * (it may be out itself: each element is read before it is written), or uint8 or bf16
     * (rf_tensor.values) where reduced_residual says conv reads them.
     * copy: NULL, or the converted copy of out to write too (rf_conv_copy), which writes_copy
     * said conv can write.
     * scratch: 64-byte aligned memory of the calling thread, scratch_floats(conv) long. */
    void (*conv)(const rf_conv *conv, const rf_tensor *in, const rf_tensor *residual,
                 rf_act act, const rf_tensor *out, const rf_conv_copy *copy, rf_conv_part part,
                 float *scratch);
    /* Whether conv can write the copy that a layer reading its output as `read` needs (NULL:
     * never). */
    int (*writes_copy)(const rf_conv *conv, rf_read read);
    /* Whether conv can read its residual converted as it reads its input (rf_tensor.values U8
     * or BF16, unpadded: as a 1x1 layer reads its input) instead of as floats (NULL: never). */
    int (*reduced_residual)(const rf_conv *conv);
    /* dst[k] = the largest of taps[0..n)[k], for k < c: one pixel of max pooling
     * (rf_maxpool3s2 walks the pixels). */
    void (*max_taps)(const float *const *taps, int n, int c, float *dst);
    /* Floats of scratch conv needs (NULL: none ever), so callers own all memory and kernels
     * allocate nothing. */
    size_t (*scratch_floats)(const rf_conv *conv);
    /* Rows of output conv computes together (NULL: 1): shares of rows start at multiples of
     * it, or a block is computed twice. */
    int (*row_unit)(const rf_conv *conv);
    /* Nonzero when every call of conv does work of the whole layer's size besides its share,
     * such as transforming all the kernels of its channels (NULL: never): callers then give
     * each thread one call. */
    int (*per_call_weights)(const rf_conv *conv);
    /* The bytes of conv's packed block for this set, a multiple of 64 (NULL: the set reads
     * conv->weight as it is), and its header in *head. */
    size_t (*pack_size)(const rf_conv *conv, rf_packed *head);
    /* Writes that block from conv->weight at `block`, 64-byte aligned, at model load. */
    void (*pack)(const rf_conv *conv, void *block);
    /* The layout version pack writes (RF_PACK_LAYOUT_VERSION), 0 without packing: a native file
     * whose stored packed blocks carry this version is used as it is. */
    uint32_t pack_layout;
    /* Measures (for about 30 ms) what one core of this CPU sustains with only this set's
     * multiply-adds in flight, in GFLOP/s: the peak that benchmarks quote a percentage of. */
    double (*fma_peak_gflops)(void);
    /* How conv reads the input of a layer (NULL: RF_READ_F32 always). */
    rf_read (*input_read)(const rf_conv *conv);
    /* Rows [row0, row1) of dst (in its own rows, which for RF_READ_U8 include the padding)
     * from src, as input_read says for conv: RF_READ_BF16 or RF_READ_U8 with dst->scale and
     * dst->zero_point. */
    void (*convert_input)(const rf_conv *conv, const rf_tensor *src, const rf_tensor *dst,
                          int row0, int row1);
    /* The least and the greatest value of rows [row0, row1) of t (RF_READ_F32_RANGE, U8). */
    void (*range)(const rf_tensor *t, int row0, int row1, float *lo, float *hi);
} rf_kernel_set;

double rf_fma_peak_reference(void);
/* The reference's bf16 and int8 sets: their packing (REFERENCE_BF16 / REFERENCE_S8 for the
 * reduced layers, none for the others), conv, input_read and range. */
size_t rf_pack_reference_bf16_size(const rf_conv *conv, rf_packed *head);
void rf_pack_reference_bf16(const rf_conv *conv, void *block);
size_t rf_pack_reference_s8_size(const rf_conv *conv, rf_packed *head);
void rf_pack_reference_s8(const rf_conv *conv, void *block);
void rf_conv_reference_reduced(const rf_conv *conv, const rf_tensor *in,
                               const rf_tensor *residual, rf_act act, const rf_tensor *out,
                               const rf_conv_copy *copy, rf_conv_part part, float *scratch);
rf_read rf_input_read_reference_int8(const rf_conv *conv);
int rf_reduced_residual_reference(const rf_conv *conv);
void rf_range_reference(const rf_tensor *t, int row0, int row1, float *lo, float *hi);
double rf_dot_peak_reference_int8(void);
/* Seconds on a monotonic clock, for the peak measurements. */
static inline double rf_kernel_seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + t.tv_nsec * 1e-9;
}

/* Reference kernels, in portable C; every fast path is tested against them. */
void rf_conv_reference(const rf_conv *conv, const rf_tensor *in, const rf_tensor *residual,
                       rf_act act, const rf_tensor *out, const rf_conv_copy *copy,
                       rf_conv_part part, float *scratch);
void rf_max_taps_reference(const float *const *taps, int n, int c, float *dst);

/* Bump whenever anything above or in rf_pack_simd changes the bytes of a packed block: native
 * files carry it, and blocks of another version are packed again at load. */
#define RF_PACK_LAYOUT_VERSION 2u
#define RF_PACK_HEADER_BYTES 64

/* pack_size and pack of the SIMD sets: the header rf_pack_simd writes for conv and the size of
 * its whole block (a multiple of 64); the block, zero-padded, written at `block`. */
size_t rf_pack_simd_size(const rf_conv *conv, rf_packed *head);
void rf_pack_simd(const rf_conv *conv, void *block);
/* row_unit of the SIMD sets: 4 for Winograd F(4x4, 3x3) (either layout), else 1. */
int rf_row_unit_simd(const rf_conv *conv);

static inline const float *rf_packed_weights(const rf_conv *conv)
{
    return (const float *)(const void *)((const unsigned char *)conv->packed +
                                         RF_PACK_HEADER_BYTES);
}

#define RF_PACK_PANEL 32
/* Floats of one full panel. */
static inline int64_t rf_pack_panel_floats(const rf_conv *conv)
{
    const rf_packed *pk = conv->packed;
    return (int64_t)pk->taps * conv->cin * RF_PACK_PANEL;
}
/* Longest run of one tap's input channels a kernel reads from its zero padding buffer. */
#define RF_PACK_ZERO_RUN 1024

/* The taps [*t0, *t1) of a kernel k wide along one axis that fall inside an input `size` long,
 * for output position o: 0 <= o * stride - pad + t < size. */
static inline void rf_tap_range(int o, int stride, int pad, int k, int size, int *t0, int *t1)
{
    const int i0 = o * stride - pad;
    *t0 = i0 < 0 ? -i0 : 0;
    *t1 = size - i0 < k ? size - i0 : k;
    if (*t1 < *t0)
        *t1 = *t0;
}

/* The SIMD sets, one compilation of conv_simd.h each (see there): conv, scratch_floats (the
 * Winograd block of V and M planes, and U for RF_PACK_WINOGRAD_3X3), per_call_weights (calls
 * that transform RF_PACK_WINOGRAD_3X3 kernels), max_taps and fma_peak_gflops. */
#define RF_SIMD_SET_DECLARE(isa)                                                                   \
    void rf_conv_##isa(const rf_conv *conv, const rf_tensor *in, const rf_tensor *residual,       \
                       rf_act act, const rf_tensor *out, const rf_conv_copy *copy,                 \
                       rf_conv_part part, float *scratch);                                        \
    size_t rf_conv_scratch_##isa(const rf_conv *conv);                                             \
    int rf_conv_per_call_weights_##isa(const rf_conv *conv);                                       \
    void rf_max_taps_##isa(const float *const *taps, int n, int c, float *dst);                    \
    double rf_fma_peak_##isa(void);
RF_SIMD_SET_DECLARE(avx2)
RF_SIMD_SET_DECLARE(avx512)

/* The reduced-precision SIMD sets (conv_simd.h with SIMD_PREC): conv runs their reduced layers
 * (and writes their copies) and hands the others to rf_conv_avx512; max pooling is
 * rf_max_taps_avx512's. */
#define RF_SIMD_REDUCED_SET_DECLARE(isa)                                                           \
    void rf_conv_##isa(const rf_conv *conv, const rf_tensor *in, const rf_tensor *residual,       \
                       rf_act act, const rf_tensor *out, const rf_conv_copy *copy,                 \
                       rf_conv_part part, float *scratch);                                        \
    size_t rf_conv_scratch_##isa(const rf_conv *conv);                                             \
    int rf_conv_per_call_weights_##isa(const rf_conv *conv);                                       \
    double rf_fma_peak_##isa(void);                                                                \
    rf_read rf_input_read_##isa(const rf_conv *conv);                                              \
    int rf_writes_copy_##isa(const rf_conv *conv, rf_read read);                                   \
    int rf_reduced_residual_##isa(const rf_conv *conv);                                            \
    void rf_convert_input_##isa(const rf_conv *conv, const rf_tensor *src, const rf_tensor *dst,  \
                                int row0, int row1);                                               \
    void rf_range_##isa(const rf_tensor *t, int row0, int row1, float *lo, float *hi);
RF_SIMD_REDUCED_SET_DECLARE(avx512_bf16)
RF_SIMD_REDUCED_SET_DECLARE(avx512_vnni)

/* pack_size and pack of the bf16 and int8 SIMD sets: their reduced layers in PANELS_BF16 /
 * WINOGRAD_BF16 or PANELS_S8, the others as rf_pack_simd packs them. */
size_t rf_pack_bf16_size(const rf_conv *conv, rf_packed *head);
void rf_pack_bf16(const rf_conv *conv, void *block);
size_t rf_pack_s8_size(const rf_conv *conv, rf_packed *head);
void rf_pack_s8(const rf_conv *conv, void *block);

#endif
