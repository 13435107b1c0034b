/* kernels_avx512_bf16.c - the bf16 kernel set: conv_simd.h with SIMD_PREC 1 on the AVX-512
 * tiles (avx512_defs.h), whose multiply-add is VDPBF16PS: each float32 lane adds the products of
 * one pair of bf16 inputs and one pair of bf16 weights (AVX512_BF16). */
#define SIMD_SUFFIX avx512_bf16
#define SIMD_PREC 1
#include "kernels/avx512_defs.h"

/* x: one word (two bf16 inputs) in every lane; w: a word of two bf16 weights per channel. */
static inline vf mac(vf x, vf w, vf acc)
{
    __asm__("vdpbf16ps %2, %1, %0" : "+v"(acc) : "v"(x), "v"(w));
    return acc;
}
static inline vf half_mac(float x, vhalf w, vf acc)
{
    return _mm512_castps256_ps512(_mm256_dpbf16_ps(_mm512_castps512_ps256(acc),
                                                   (__m256bh)_mm256_set1_ps(x), (__m256bh)w));
}

#define SIMD_DW_PAIRS 0
#include "kernels/conv_simd.h"
