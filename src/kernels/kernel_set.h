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

/* conv->packed for the SIMD sets (they share it; rf_pack_simd fills it at model load, in the
 * model's one region of packed blocks, or the block lies in a mapped native file): this header,
 * zero-padded to 64 bytes, then the weights in one of these layouts, all zero-padded. The block
 * holds no pointers, so native files store it byte for byte (docs/formats.md):
 * - PANELS (dense): output channels in panels of RF_PACK_PANEL (the last one 16 wide when at
 *   most 16 channels are left), each panel [kh][kw][cin][panel width];
 * - WINOGRAD (dense 3x3, stride 1, pad 1): the same panels of the 6x6 transformed kernels
 *   G g G^T of F(4x4, 3x3), each panel [36][cin][panel width];
 * - WINOGRAD_3X3: the PANELS layout of a layer that runs as Winograd too, its kernels
 *   transformed as it runs: the widest layers (ResNet50's layer4), whose transformed kernels
 *   would take 4x the memory (75 MB of ResNet50's 242 MB of packed weights);
 * - DEPTHWISE: [kh][kw][c rounded up to 16]. */
typedef enum {
    RF_PACK_PANELS,
    RF_PACK_WINOGRAD,
    RF_PACK_DEPTHWISE,
    RF_PACK_WINOGRAD_3X3
} rf_pack_layout;

typedef struct {
    rf_pack_layout layout;
    int taps;          /* kh * kw, or 36 for WINOGRAD */
} rf_packed;

/* CPU features a kernel set needs, by the names /proc/cpuinfo and __builtin_cpu_supports give
 * them: X(ENUM SUFFIX, "name"). */
#define RF_CPU_FEATURES(X)                                                                         \
    X(AVX2, "avx2")                                                                                \
    X(FMA, "fma")                                                                                  \
    X(AVX512F, "avx512f")                                                                          \
    X(AVX512BW, "avx512bw")                                                                        \
    X(AVX512DQ, "avx512dq")                                                                        \
    X(AVX512VL, "avx512vl")

#define RF_CPU_FEATURE_BIT_(name, str) RF_CPU_BIT_##name,
enum { RF_CPU_FEATURES(RF_CPU_FEATURE_BIT_) RF_CPU_FEATURE_COUNT };
#define RF_CPU_FEATURE_FLAG_(name, str) RF_CPU_##name = 1u << RF_CPU_BIT_##name,
enum { RF_CPU_FEATURES(RF_CPU_FEATURE_FLAG_) };


typedef struct {
    rf_kernels id;
    const char *name;
    unsigned cpu_features; /* the RF_CPU_* flags the set's instructions need */
    /* out = act(conv(in) + bias [+ residual]); residual may be NULL, else shaped like out; it
     * may be out itself (each element is read before it is written).
     * scratch: 64-byte aligned memory of the calling thread, scratch_floats(conv) long. */
    void (*conv)(const rf_conv *conv, const rf_tensor *in, const rf_tensor *residual,
                 rf_act act, const rf_tensor *out, rf_conv_part part, float *scratch);
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
} rf_kernel_set;

double rf_fma_peak_reference(void);
/* Seconds on a monotonic clock, for the peak measurements. */
static inline double rf_kernel_seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + t.tv_nsec * 1e-9;
}

/* Reference kernels, in portable C; every fast path is tested against them. */
void rf_conv_reference(const rf_conv *conv, const rf_tensor *in, const rf_tensor *residual,
                       rf_act act, const rf_tensor *out, rf_conv_part part, float *scratch);
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
                       rf_act act, const rf_tensor *out, rf_conv_part part, float *scratch);      \
    size_t rf_conv_scratch_##isa(const rf_conv *conv);                                             \
    int rf_conv_per_call_weights_##isa(const rf_conv *conv);                                       \
    void rf_max_taps_##isa(const float *const *taps, int n, int c, float *dst);                    \
    double rf_fma_peak_##isa(void);
RF_SIMD_SET_DECLARE(avx2)
RF_SIMD_SET_DECLARE(avx512)

#endif
