/* kernels_avx512.c - the AVX-512 kernel set: conv_simd.h at 16 floats a vector, with register
 * tiles of 12 output pixels x 32 channels or 6 x 64, and the fast paths the narrower set lacks
 * (half-width tiles, streamed outputs, Winograd kernels transformed per call, depthwise pixel
 * pairs). */
#include <immintrin.h>

typedef __m512 vf;
typedef __mmask16 vmask;
#define SIMD_W 16
#define SIMD_SUFFIX avx512
#define V(op) _mm512_##op

static inline vmask lanes(int n)
{
    return n >= 16 ? 0xffff : n > 0 ? (__mmask16)((1u << n) - 1) : 0;
}
static inline vf load_masked(const float *p, vmask m) { return _mm512_maskz_loadu_ps(m, p); }
static inline void store_masked(float *p, vmask m, vf v) { _mm512_mask_storeu_ps(p, m, v); }
static inline vmask mask_and(vmask a, vmask b) { return a & b; }
static inline int mask_full(vmask m) { return m == 0xffff; }
static inline vf leaky(vf v, float slope)
{
    return _mm512_mask_mul_ps(v, _mm512_cmp_ps_mask(v, _mm512_setzero_ps(), _CMP_LT_OQ), v,
                              _mm512_set1_ps(slope));
}

/* Register tiles, by shape B (conv_simd.h): 0: WPX pixels x at most 8 channels (in the low
 * halves: CPUs that split 512-bit FMAs in two do twice as many 256-bit ones, so 8 useful lanes
 * cost half a 512-bit FMA), 1: WPX x 16, 2: PX x 32 (a panel), 4: WPX x 64 (two neighbouring
 * full panels). The narrow shapes take WPX pixels: with PX, the compiler runs out of registers
 * for the pixel pointers and shuffles them through vector registers on every step. Per step
 * the wide tile feeds 24 FMAs from 6 broadcasts where PX x 32 needs 12: on CPUs that run
 * 512-bit FMAs on two 256-bit pipes the broadcasts take slots from the FMAs, and the wide tile
 * reaches the FMA peak where PX x 32 stays ~8 % below it. It reads each weight row for half as
 * many pixels, though: 1x1 layers with few input channels (under WIDE_MIN_CIN), whose outputs
 * and residuals also stream through memory, run faster on PX x 32 (measured). Shape 3 is the
 * wide tile with WPX / 2 pixels, for the last few Winograd tiles of a block. */
#define PX 12 /* 12 x 2 accumulators leave registers for the weights */
#define WPX 6
#define TILE_PX(B) ((B) == 3 ? WPX / 2 : (B) == 4 || (B) <= 1 ? WPX : PX)
#define NVEC(B) ((B) >= 3 ? 4 : (B) == 2 ? 2 : 1)
#define COL_BLOCKS(B) 1
#define TILE_REGS 24
#define DW_PX 4 /* depthwise pixels per step: independent FMA chains */
#define WINO_MAX_TILES (8 * PX)

#define SIMD_HALF 1
typedef __m256 vhalf;
static inline vhalf half_load(const float *p) { return _mm256_load_ps(p); }
static inline vf half_fmadd(float x, vhalf w, vf acc)
{
    return _mm512_castps256_ps512(_mm256_fmadd_ps(_mm256_set1_ps(x), w, _mm512_castps512_ps256(acc)));
}

#define SIMD_WIDE 1
/* Large outputs with non-temporal stores (rf_streams_output), measured with this set. */
#define SIMD_STREAM 1
/* kernels.c, WINOGRAD_3X3_MIN_PAIRS: ResNet50's two layers of 512 x 512 channels keep 19 MB of
 * kernels instead of 75 MB. */
#define SIMD_WINO_3X3 1
#define SIMD_DW_PAIRS 1

#include "kernels/conv_simd.h"

/* Two neighbouring output pixels of 8 channels (lanes 0-7: ox, 8-15: ox + 1): + residual,
 * activation, store. */
INLINE void dw_store_pair(__m512 acc, const conv_args *a, int img, int oy, int ox)
{
    /* pixel ox + 1 is reached as the upper lanes of a vector starting 8 floats before it */
    if (a->res)
        acc = _mm512_add_ps(
            acc, _mm512_mask_loadu_ps(_mm512_maskz_loadu_ps(0x00ff, pixel_ptr(a->res, img, oy, ox)),
                                      0xff00, pixel_ptr(a->res, img, oy, ox + 1) - 8));
    acc = activate(acc, a->act);
    _mm512_mask_storeu_ps(pixel_ptr(a->out, img, oy, ox), 0x00ff, acc);
    _mm512_mask_storeu_ps(pixel_ptr(a->out, img, oy, ox + 1) - 8, 0xff00, acc);
}

/* A 16-float load holds two neighbouring pixels of 8 channels, so each load and FMA serves two
 * outputs (MobileNet0.25's first depthwise layer). */
static int dw3x3_pairs(const conv_args *a, const float *const rows[3], int img, int oy, int x0,
                       int x1)
{
    const __m512 bias = _mm512_broadcast_f32x8(_mm256_loadu_ps(a->cv->bias));
    __m512 w[9];
#pragma GCC unroll 9
    for (int t = 0; t < 9; t++)
        w[t] = _mm512_broadcast_f32x8(_mm256_load_ps(a->w + (size_t)t * 16));
    int ox = x0;
    for (; ox + 2 * DW_PX <= x1; ox += 2 * DW_PX) {
        __m512 acc[DW_PX];
        dw3x3_step(acc, rows, (int64_t)(ox - 1) * 8, 16, DW_PX, 8, w, bias, lanes(16), 1);
#pragma GCC unroll 4
        for (int j = 0; j < DW_PX; j++)
            dw_store_pair(acc[j], a, img, oy, ox + 2 * j);
    }
    return ox;
}
