/* kernels_avx2.c - the AVX2+FMA kernel set: conv_simd.h at 8 floats a vector, with register
 * tiles of 5 output pixels x 16 channels, two side by side across a 32-channel panel. */
#include <immintrin.h>

typedef __m256 vf;
typedef __m256i vmask;
#define SIMD_W 8
#define SIMD_SUFFIX avx2
#define V(op) _mm256_##op

static inline vmask lanes(int n)
{
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}
static inline vf load_masked(const float *p, vmask m) { return _mm256_maskload_ps(p, m); }
static inline void store_masked(float *p, vmask m, vf v) { _mm256_maskstore_ps(p, m, v); }
static inline vmask mask_and(vmask a, vmask b) { return _mm256_and_si256(a, b); }
static inline int mask_full(vmask m) { return _mm256_movemask_ps(_mm256_castsi256_ps(m)) == 0xff; }
static inline vf leaky(vf v, float slope)
{
    return _mm256_blendv_ps(v, _mm256_mul_ps(v, _mm256_set1_ps(slope)),
                            _mm256_cmp_ps(v, _mm256_setzero_ps(), _CMP_LT_OQ));
}

/* 16 registers: 5 pixels x 2 accumulators + 2 weights + 1 input, no spills. Every shape is the
 * same tile; a panel of more than 16 channels (shape 2) takes two. */
#define PX 5
#define TILE_PX(B) (0 * (B) + PX)
#define NVEC(B) (0 * (B) + 2)
#define COL_BLOCKS(B) ((B) >= 2 ? 2 : 1)
#define TILE_REGS (2 * PX)
#define DW_PX 2 /* depthwise pixels per step: independent FMA chains within 16 registers */
#define WINO_MAX_TILES (16 * PX)

/* The fast paths of the AVX-512 set that have not been measured with AVX2: layers of
 * RF_PACK_WINOGRAD_3X3 run as direct 3x3 convolutions here (the layout is PANELS). */
#define SIMD_HALF 0
#define SIMD_WIDE 0
#define SIMD_STREAM 0
#define SIMD_WINO_3X3 0
#define SIMD_DW_PAIRS 0

static inline vf mac(vf x, vf w, vf acc) { return _mm256_fmadd_ps(x, w, acc); }

#include "kernels/conv_simd.h"
