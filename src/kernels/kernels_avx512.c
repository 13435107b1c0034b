/* kernels_avx512.c - the AVX-512 kernel set: conv_simd.h at 16 floats a vector (avx512_defs.h),
 * float32 multiply-adds, and depthwise pixel pairs. */
#define SIMD_SUFFIX avx512
#include "kernels/avx512_defs.h"

static inline vf mac(vf x, vf w, vf acc) { return _mm512_fmadd_ps(x, w, acc); }
static inline vf half_mac(float x, vhalf w, vf acc)
{
    return _mm512_castps256_ps512(
        _mm256_fmadd_ps(_mm256_set1_ps(x), w, _mm512_castps512_ps256(acc)));
}

#define SIMD_DW_PAIRS 1

#include "kernels/conv_simd.h"

/* Two neighbouring output pixels of 8 channels (lanes 0-7: ox, 8-15: ox + 1): + residual,
 * activation, store (and the uint8 copy: 8 bytes a pixel). */
INLINE void dw_store_pair(__m512 acc, const conv_args *a, int img, int oy, int ox)
{
    /* pixel ox + 1 is reached as the upper lanes of a vector starting 8 floats before it */
    if (a->res)
        acc = _mm512_add_ps(
            acc, _mm512_mask_loadu_ps(_mm512_maskz_loadu_ps(0x00ff, pixel_ptr(a->res, img, oy, ox)),
                                      0xff00, pixel_ptr(a->res, img, oy, ox + 1) - 8));
    acc = activate(acc, a->act);
    /* dense pixels (2 words, 8 floats) take one plain store for both */
    if (a->copy) {
        const __m128i q = copy_u8(a, acc);
        const int p = a->copy_pad;
        float *c = pixel_ptr(a->copy, img, oy + p, ox + p);
        if (a->copy->pstride == 2) {
            _mm_storeu_si128((__m128i *)(void *)c, q);
        } else {
            _mm_mask_storeu_epi8(c, 0x00ff, q);
            _mm_mask_storeu_epi8(
                (uint8_t *)(void *)pixel_ptr(a->copy, img, oy + p, ox + 1 + p) - 8, 0xff00, q);
        }
        if (a->copy_only)
            return;
    }
    float *o = pixel_ptr(a->out, img, oy, ox);
    if (a->out->pstride == 8) {
        _mm512_storeu_ps(o, acc);
    } else {
        _mm512_mask_storeu_ps(o, 0x00ff, acc);
        _mm512_mask_storeu_ps(pixel_ptr(a->out, img, oy, ox + 1) - 8, 0xff00, acc);
    }
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
