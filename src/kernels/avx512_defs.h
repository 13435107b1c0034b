/* avx512_defs.h - what the AVX-512 kernel sets (float32, bf16, int8) tell conv_simd.h alike: 16
 * floats a vector, lane masks, and register tiles of 12 output pixels x 32 channels or 6 x 64,
 * with the fast paths the AVX2 set lacks (half-width tiles, streamed outputs, Winograd kernels
 * transformed per call). A set's file defines SIMD_SUFFIX, mac and half_mac, then includes
 * this and conv_simd.h. */
#ifndef RF_AVX512_DEFS_H
#define RF_AVX512_DEFS_H

#include <immintrin.h>

typedef __m512 vf;
typedef __mmask16 vmask;
#define SIMD_W 16
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

#define SIMD_WIDE 1
/* Large outputs with non-temporal stores (rf_streams_output), measured with this set. */
#define SIMD_STREAM 1
/* pack.c, RF_WINO_LARGE_PAIRS: ResNet50's two layers of 512 x 512 channels keep 19 MB of
 * kernels instead of 75 MB. */
#define SIMD_WINO_3X3 1
#endif
