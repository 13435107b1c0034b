/* kernels_avx512_vnni.c - the int8 kernel set: conv_simd.h with SIMD_PREC 2 on the AVX-512
 * tiles (avx512_defs.h), whose multiply-add is VPDPBUSD: each int32 lane adds the four products
 * of four uint8 inputs and four int8 weights (AVX512_VNNI; no intermediate saturation). */
#define SIMD_SUFFIX avx512_vnni
#define SIMD_PREC 2
#include "kernels/avx512_defs.h"

/* x: one word (four uint8 inputs) in every lane; w: a word of four int8 weights per channel;
 * acc: int32 sums in float-typed registers. */
static inline vf mac(vf x, vf w, vf acc)
{
    __asm__("vpdpbusd %2, %1, %0" : "+v"(acc) : "v"(x), "v"(w));
    return acc;
}
static inline vf half_mac(float x, vhalf w, vf acc)
{
    return _mm512_castsi512_ps(_mm512_castsi256_si512(
        _mm256_dpbusd_epi32(_mm512_castsi512_si256(_mm512_castps_si512(acc)),
                            _mm256_castps_si256(_mm256_set1_ps(x)), _mm256_castps_si256(w))));
}

#define SIMD_DW_PAIRS 0
#include "kernels/conv_simd.h"
