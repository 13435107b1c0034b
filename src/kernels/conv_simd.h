/* conv_simd.h - the vector bodies of the SIMD kernel sets, written once for every vector
 * width: convolutions over NHWC tensors and the packed weights of kernels.h (1x1 as a GEMM,
 * kh x kw without im2col, Winograd F(4x4, 3x3) for stride-1 3x3, depthwise 3x3 vectorised
 * over channels, the image's 3x3 stride-2 layer of few channels), max pooling taps and the FMA
 * peak. A set's file (kernels_avx2.c, kernels_avx512.c) is compiled with its instruction set's
 * flags and includes this after defining:
 *
 *   SIMD_SUFFIX        the set's name in the functions exported here (rf_conv_avx2, ...)
 *   vf, vmask, SIMD_W  a vector of SIMD_W floats; a lane mask
 *   V(op)              the intrinsic of op at this width, for what both widths spell alike:
 *                      V(add_ps)(a, b), V(load_ps)(p), ...
 *   lanes(n)           the mask of the first n lanes (none for n <= 0, all for n >= SIMD_W);
 *   load_masked(p, m), store_masked(p, m, v), mask_and(a, b), mask_full(m), leaky(v, slope):
 *                      what the widths spell differently
 *   the register tiles by shape B (0..4, see tile_b): TILE_PX(B) pixels x NVEC(B) vectors,
 *   COL_BLOCKS(B) tiles side by side across a panel (pair), PX = the widest TILE_PX,
 *   TILE_REGS = the most TILE_PX(B) * NVEC(B); DW_PX depthwise pixels per step;
 *   WINO_MAX_TILES Winograd tiles per block at most;
 *   and, 0 or 1, the fast paths that only some widths take (the set's file says why):
 *   SIMD_HALF   shape 0: half-width vectors for panels of at most 8 channels (vhalf,
 *               half_load(p), half_fmadd(x, w, acc): acc's low half += x * w);
 *   SIMD_WIDE   shapes 3 and 4: tiles over two neighbouring full panels;
 *   SIMD_STREAM large outputs with non-temporal stores (rf_streams_output);
 *   SIMD_WINO_3X3 RF_PACK_WINOGRAD_3X3 layers as Winograd with kernels transformed per call
 *               (else they run direct, as the PANELS layout they are);
 *   SIMD_DW_PAIRS 8-channel stride-1 depthwise lines two pixels a vector: the set's file
 *               defines dw3x3_pairs after including this;
 *   mac(x, w, acc): the multiply-add of run_fma (x a broadcast input element, w weights),
 *               and with SIMD_HALF also half_mac(x, w, acc), the same at half width;
 *   SIMD_PREC   0: float32 (the default). 1 (bf16) or 2 (int8): a reduced-precision set
 *               (AVX-512 only): inputs and weights are 32-bit words of 2 bf16 or 4 int8
 *               channels (kernel_set.h) that mac multiplies and sums into float32 or int32
 *               lanes; the code below then counts input channels in words, starts int8 sums at
 *               zero and scales them to float32 at the store, runs bf16 Winograd with float32
 *               transforms (V rounded to bf16 as it is stored) and int8 without Winograd, and
 *               hands the layers it keeps in float32 to rf_conv_avx512. */
#include "kernels/conv_plan.h"

#include <float.h>
#include <immintrin.h>

#ifndef SIMD_PREC
#define SIMD_PREC 0
#endif
#define SIMD_WORDS (SIMD_PREC != 0)
/* Input channels (elements of V) per float-sized element a GEMM reads. */
#define VPACK (SIMD_PREC == 2 ? 4 : SIMD_PREC == 1 ? 2 : 1)

#define SIMD_CAT_(a, b) a##_##b
#define SIMD_CAT(a, b) SIMD_CAT_(a, b)
#define SIMD_FN(name) SIMD_CAT(name, SIMD_SUFFIX)

#define INLINE static inline __attribute__((always_inline))

/* Shapes: 0 (SIMD_HALF): panels of at most 8 channels; 1: at most 16 (16-float weight rows);
 * 2: a panel of up to 32 (32-float rows); 3 and 4 (SIMD_WIDE): two neighbouring full panels, 3
 * with fewer pixels for the last few Winograd tiles of a block. acc[p * NVEC(B) + v]: pixel p,
 * vector v; vectors [0, NVEC_A(B)) are the first panel's. PANEL_W: floats per weight row. */
#define NVEC_A(B) ((B) >= 3 ? NVEC(B) / 2 : NVEC(B))
#define TILE_COLS(B) (SIMD_W * NVEC_A(B))
#define PANEL_W(B) ((B) >= 2 ? 32 : 16)
/* 1x1 layers with at least this many input channels take the wide shapes (SIMD_WIDE); bf16
 * counts the channels of its words (ResNet50 bf16 ran 2 to 8 % faster at 1 thread, alike at
 * 2), int8 its words (counting channels ran slower). */
#define WIDE_MIN_CIN 256
#define WIDE_CIN_PER_WORD (SIMD_PREC == 1 ? 2 : 1)

_Static_assert(PX <= RF_TILE_MAX_PX, "tiles hold RF_TILE_MAX_PX pixels at most");
_Static_assert(RF_PACK_PANEL % SIMD_W == 0 && WINO_MAX_TILES % PX == 0, "tile geometry");

/* Calls f(B, ...) with the shape b as a constant, so that each shape is compiled apart. */
#define BY_SHAPE(b, f, ...)                                                                        \
    do {                                                                                           \
        if (SIMD_WIDE && (b) == 4)                                                                 \
            f(4, __VA_ARGS__);                                                                     \
        else if (SIMD_WIDE && (b) == 3)                                                            \
            f(3, __VA_ARGS__);                                                                     \
        else if ((b) == 2)                                                                         \
            f(2, __VA_ARGS__);                                                                     \
        else if ((b) == 1 || !SIMD_HALF)                                                           \
            f(1, __VA_ARGS__);                                                                     \
        else                                                                                       \
            f(0, __VA_ARGS__);                                                                     \
    } while (0)

/* Taps in the zero padding read from here. */
static const float zeros[RF_PACK_ZERO_RUN];

/* The tile shape for panel `panel` of a layer with cout channels: wide if allowed and this
 * panel and the next one are full and within [.., pan1). */
static int tile_b(int cout, int panel, int pan1, int wide)
{
    const int n = cout - panel * RF_PACK_PANEL;
    if (SIMD_WIDE && wide && panel + 1 < pan1 && n >= 2 * RF_PACK_PANEL)
        return 4;
    return n > 16 ? 2 : n > 8 || !SIMD_HALF ? 1 : 0;
}

/* acc += src[p][k] * w[k] for k < len, for the TILE_PX(B) pixels of src; w rows are
 * PANEL_W(B) floats, wstride apart, in wa (and wb, B = 3 and 4). With pf, the same stretch of
 * pf[p] is fetched into the cache for the tile after this one: dozens of scattered pixel
 * streams are more than the hardware prefetchers follow. The sums live in a local copy: vector
 * types may alias the floats read, so sums the compiler keeps in memory (when the caller's
 * array does not fit its analysis) would be stored on every step. */
INLINE void run_fma(vf acc[TILE_REGS], int B, const float *const *src, const float *wa,
                    const float *wb, int64_t wstride, int len, const float *const *pf)
{
    const int np = TILE_PX(B), nv = NVEC(B), na = NVEC_A(B);
    vf r[TILE_REGS];
#pragma GCC unroll 24
    for (int i = 0; i < np * nv; i++)
        r[i] = acc[i];
    for (int k0 = 0; k0 < len; k0 += 16) {
        const int k1 = k0 + 16 < len ? k0 + 16 : len;
        if (pf) {
#pragma GCC unroll 12
            for (int p = 0; p < np; p++)
                _mm_prefetch((const char *)(pf[p] + k0), _MM_HINT_T0);
        }
        for (int k = k0; k < k1; k++) {
            const float *ka = wa + k * wstride;
#if SIMD_HALF
            if (B == 0) {
                const vhalf w0 = half_load(ka);
#pragma GCC unroll 12
                for (int p = 0; p < np; p++)
                    r[p] = half_mac(src[p][k], w0, r[p]);
                continue;
            }
#endif
            vf w[4];
#pragma GCC unroll 4
            for (int v = 0; v < nv; v++)
                w[v] = V(load_ps)(v < na ? ka + SIMD_W * v : wb + k * wstride + SIMD_W * (v - na));
#pragma GCC unroll 12
            for (int p = 0; p < np; p++) {
                const vf x = V(set1_ps)(src[p][k]);
#pragma GCC unroll 4
                for (int v = 0; v < nv; v++)
                    r[p * nv + v] = mac(x, w[v], r[p * nv + v]);
            }
        }
    }
#pragma GCC unroll 24
    for (int i = 0; i < np * nv; i++)
        acc[i] = r[i];
}

INLINE vf activate(vf v, rf_act act)
{
    if (act.kind == RF_ACT_RELU)
        return V(max_ps)(v, V(setzero_ps)());
    if (act.kind == RF_ACT_LEAKY)
        return leaky(v, act.slope);
    return v;
}

/* The masks of a shape B tile's vectors from channel c0 on, n = cout - c0: which exist. */
INLINE void tile_masks(int B, int n, vmask m[4])
{
    for (int v = 0; v < NVEC(B); v++)
        m[v] = lanes(n - SIMD_W * v);
}

/* Sums start from `start` (ACC_START): the bias, or for int8 the int32 acc0 (the bias joins
 * them as they are scaled). */
INLINE void init_acc(vf acc[TILE_REGS], int B, const float *start, const vmask m[4])
{
    const int nv = NVEC(B);
    for (int b = 0; b < nv; b++) {
        const vf v = load_masked(start + SIMD_W * b, m[b]);
#pragma GCC unroll 12
        for (int p = 0; p < PX; p++)
            if (p < TILE_PX(B))
                acc[p * nv + b] = v;
    }
}

#if SIMD_PREC == 2
/* An int8 layer's int32 sums (which started from acc0, see conv_args) as float32: sum x the
 * channels' scale (conv_args.out_scale) + bias. */
INLINE vf dequantize(vf acc, vf scale, vf bias)
{
    return _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_castps_si512(acc)), scale, bias);
}
#define ACC_START(a, c) ((const float *)(const void *)((a)->acc0 + (c)))
#else
#define ACC_START(a, c) ((a)->cv->bias + (c))
#endif

/* Copies (kernel_set.h, rf_conv_copy): the reduced sets write them of their layers, the
 * float32 AVX-512 set of the depthwise layers it runs for the int8 set (uint8 only). */
#define SIMD_COPIES (SIMD_WORDS || SIMD_W == 16)
#if SIMD_COPIES
/* The 16 values of v quantized to uint8 as convert_input does it (a U8 copy). */
INLINE __m128i copy_u8(const conv_args *a, vf v)
{
    __m512i q = _mm512_add_epi32(
        _mm512_cvt_roundps_epi32(_mm512_mul_ps(v, _mm512_set1_ps(a->copy_inv_scale)),
                                 _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC),
        _mm512_set1_epi32(a->copy_zero_point));
    q = _mm512_min_epi32(_mm512_max_epi32(q, _mm512_setzero_si512()), _mm512_set1_epi32(255));
    return _mm512_cvtepi32_epi8(q);
}

#if SIMD_PREC != 1
/* The uint8 bytes of n = 2 or 4 vectors q of rint(x / scale) (the low 16 n bytes): packed
 * with saturation to int16, the zero point (zp16: in every int16) added (saturating), packed
 * to uint8 with saturation (the clamp to [0, 255]), the 128-bit lanes' interleaving undone:
 * copy_u8's values, with fewer instructions. */
INLINE __m512i pack_u8(const __m512i q[4], int n, __m512i zp16)
{
    const __m512i order = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
    const __m512i lo = _mm512_adds_epi16(_mm512_packs_epi32(q[0], q[1]), zp16);
    const __m512i hi = n == 4 ? _mm512_adds_epi16(_mm512_packs_epi32(q[2], q[3]), zp16) : lo;
    return _mm512_permutexvar_epi32(order, _mm512_packus_epi16(lo, hi));
}

INLINE __m512i round_i32(vf v)
{
    return _mm512_cvt_roundps_epi32(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
}
#endif

/* Output channels [c, c + 16) (those of m) of one pixel, v, into its converted copy at cp: as
 * bf16 halves, or quantized to uint8. */
INLINE void copy_store(const conv_args *a, float *cp, int c, vmask m, vf v)
{
#if SIMD_PREC == 1
    if (a->copy_stream && mask_full(m))
        _mm256_stream_si256((__m256i *)(void *)((uint16_t *)(void *)cp + c),
                            (__m256i)_mm512_cvtneps_pbh(v));
    else
        _mm256_mask_storeu_epi16((uint16_t *)(void *)cp + c, m, (__m256i)_mm512_cvtneps_pbh(v));
#else
    _mm_mask_storeu_epi8((uint8_t *)(void *)cp + c, m, copy_u8(a, v));
#endif
}
#endif

/* The copy a call writes (NULL: none) into a's fields; a->out and a->stream set before. */
static void set_copy(conv_args *a, const rf_conv_copy *copy)
{
    if (!copy)
        return;
    a->copy = &copy->t;
    a->copy_only = copy->only;
    a->copy_pad = (copy->t.h - a->out->h) / 2;
    a->copy_inv_scale = copy->t.scale > 0.0f ? 1.0f / copy->t.scale : 0.0f; /* U8 only */
    a->copy_zero_point = copy->t.zero_point;
    /* a vector of a copy is 32 (bf16) or 16 bytes (uint8): streamed (bf16) where every one is
     * aligned */
    const uintptr_t vbytes = SIMD_PREC == 1 ? 32 : 16;
    a->copy_stream = a->stream && (uintptr_t)copy->t.data % vbytes == 0 &&
                     (uintptr_t)copy->t.pstride * 4 % vbytes == 0 &&
                     (uintptr_t)copy->t.nstride * 4 % vbytes == 0;
}

/* v + vector b of the residual channels at res (lanes m): floats, bf16, or uint8 q as
 * (q - zero point) x scale. */
INLINE vf add_residual(const conv_args *a, const float *res, int b, vmask m, vf v)
{
#if SIMD_PREC == 1
    if (a->res_values == RF_VALUES_BF16) {
        const __m256i h = _mm256_maskz_loadu_epi16(m, (const uint16_t *)(const void *)res + 16 * b);
        return V(add_ps)(v, _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16)));
    }
#elif SIMD_PREC == 2
    if (a->res_values == RF_VALUES_U8) {
        const uint8_t *r = (const uint8_t *)(const void *)res + SIMD_W * b;
        const __m512i q = _mm512_sub_epi32(_mm512_cvtepu8_epi32(_mm_maskz_loadu_epi8(m, r)),
                                           _mm512_set1_epi32(a->res_zero_point));
        return _mm512_fmadd_ps(_mm512_cvtepi32_ps(q), _mm512_set1_ps(a->res_scale), v);
    }
#else
    (void)a;
#endif
    return V(add_ps)(v, load_masked(res + SIMD_W * b, m));
}

/* Pixels p0.. of the tile's outputs, channels c0..: + residual, activation, masked store.
 * Constant indices (the pixel count tested per pixel) keep acc in registers. */
INLINE void store_tile(const vf acc[TILE_REGS], int B, const conv_args *a, const tile_out *o,
                       int p0, int c0, const vmask m[4], rf_act act, int stream)
{
    (void)a;
#if SIMD_PREC == 2
    /* the channels' scales and biases, once for all the tile's pixels */
    vf scale[4], bias[4];
    for (int b = 0; b < NVEC(B); b++) {
        scale[b] = _mm512_loadu_ps(a->out_scale + c0 + SIMD_W * b);
        bias[b] = load_masked(a->cv->bias + c0 + SIMD_W * b, m[b]);
    }
    /* whole vectors, 2 or 4 a pixel: their uint8 copies packed into one store */
    const int packed = NVEC(B) >= 2 && mask_full(m[NVEC(B) - 1]);
    const vf inv = _mm512_set1_ps(a->copy_inv_scale);
#endif
#pragma GCC unroll 12
    for (int p = 0; p < PX; p++) {
        if (p >= TILE_PX(B) || p0 + p >= o->np)
            break;
        float *dst = o->dst[p0 + p] + c0;
        const float *res = o->res[p0 + p] ? o->res[p0 + p] + rf_res_offset(a, c0) : NULL;
#if SIMD_PREC == 2
        __m512i q[4];
#endif
        for (int b = 0; b < NVEC(B); b++) {
            vf v = acc[p * NVEC(B) + b];
#if SIMD_PREC == 2
            v = dequantize(v, scale[b], bias[b]);
#endif
            if (res)
                v = add_residual(a, res, b, m[b], v);
            v = activate(v, act);
#if SIMD_WORDS
            if (o->cp[p0 + p]) {
#if SIMD_PREC == 2
                if (packed)
                    q[b] = round_i32(_mm512_mul_ps(v, inv));
                else
#endif
                    copy_store(a, o->cp[p0 + p], c0 + SIMD_W * b, m[b], v);
                if (a->copy_only)
                    continue;
            }
#endif
            if (SIMD_STREAM && stream && mask_full(m[b]))
                V(stream_ps)(dst + SIMD_W * b, v);
            else
                store_masked(dst + SIMD_W * b, m[b], v);
        }
#if SIMD_PREC == 2
        if (packed && o->cp[p0 + p]) {
            const __m512i u =
                pack_u8(q, NVEC(B), _mm512_set1_epi16((short)a->copy_zero_point));
            uint8_t *d = (uint8_t *)(void *)o->cp[p0 + p] + c0;
            if (NVEC(B) == 4)
                _mm512_storeu_si512((void *)d, u);
            else
                _mm256_storeu_si256((__m256i *)(void *)d, _mm512_castsi512_si256(u));
        }
#endif
    }
}

/* One tile of a 1x1 convolution, TILE_PX(B) pixels at a time: every pixel has its own input
 * pointer; pf (or NULL) are the next tile's, to prefetch. */
INLINE void pointwise_tile(int B, const conv_args *a, const float *const src[PX],
                           const tile_out *o, int panel, const float *const *pf)
{
    for (int cb = 0; cb < COL_BLOCKS(B); cb++) {
        const int c0 = panel * RF_PACK_PANEL + cb * TILE_COLS(B);
        vmask m[4];
        tile_masks(B, a->cv->cout - c0, m);
        const float *wa = a->w + panel * a->panel_floats + cb * TILE_COLS(B);
        for (int p0 = 0; p0 < o->np; p0 += TILE_PX(B)) {
            vf acc[TILE_REGS];
            init_acc(acc, B, ACC_START(a, c0), m);
            run_fma(acc, B, src + p0, wa, wa + a->panel_floats, PANEL_W(B), a->cv->cin,
                    pf && !cb ? pf + p0 : NULL);
            store_tile(acc, B, a, o, p0, c0, m, a->act, a->stream);
        }
    }
}

/* One tile of a kh x kw convolution. Taps outside the input read zeros. When every pixel has
 * all kw taps of a kernel row inside its input line and pixels are dense, those taps are one
 * contiguous run of kw * cin floats, in the input as in the weights. Tiles within one output
 * line (nearly all) share the input line of each kernel row. */
INLINE void spatial_tile(int B, const conv_args *a, const tile_px *t, int panel)
{
    const rf_conv *cv = a->cv;
    const rf_tensor *in = a->in;
    const int s = cv->stride, cin = cv->cin, kw = cv->kw, np = TILE_PX(B);
    const int64_t ps = in->pstride;
    int64_t ix0[PX];
    for (int p = 0; p < PX; p++)
        ix0[p] = t->ox[p] * s - cv->pad;
    for (int cb = 0; cb < COL_BLOCKS(B); cb++) {
        const int c0 = panel * RF_PACK_PANEL + cb * TILE_COLS(B);
        const float *wpanel = a->w + panel * a->panel_floats + cb * TILE_COLS(B);
        vmask m[4];
        tile_masks(B, cv->cout - c0, m);
        for (int p0 = 0; p0 < t->o.np; p0 += np) {
            /* per run of np pixels: a tile that wraps to the next line loses the fast path
             * only in the run that wraps */
            const int last = p0 + np - 1;
            const int one_line = t->img[p0] == t->img[last] && t->oy[p0] == t->oy[last];
            int interior = ps == cin;
            for (int p = p0; p <= last; p++)
                interior &= ix0[p] >= 0 && ix0[p] + kw <= in->w;
            vf acc[TILE_REGS];
            init_acc(acc, B, ACC_START(a, c0), m);
            const float *row[PX], *src[PX];
            for (int ky = 0; ky < cv->kh; ky++) {
                int any = 0;
                for (int p = 0; p < np; p++) {
                    if (one_line && p) {
                        row[p] = row[0];
                        continue;
                    }
                    const int iy = t->oy[p0 + p] * s - cv->pad + ky;
                    row[p] = iy >= 0 && iy < in->h ? in->data + t->img[p0 + p] * in->nstride +
                                                         (int64_t)iy * in->w * ps
                                                   : NULL;
                    any |= row[p] != NULL;
                }
                if (!any)
                    continue;
                const float *wrow = wpanel + (size_t)ky * kw * cin * PANEL_W(B);
                if (interior && one_line) {
                    for (int p = 0; p < np; p++)
                        src[p] = row[0] + ix0[p0 + p] * ps;
                    run_fma(acc, B, src, wrow, wrow + a->panel_floats, PANEL_W(B), kw * cin,
                            NULL);
                    continue;
                }
                const int runs = interior ? 1 : kw, len = interior ? kw * cin : cin;
                for (int kx = 0; kx < runs; kx++)
                    for (int k0 = 0; k0 < len; k0 += RF_PACK_ZERO_RUN) {
                        const int n = len - k0 < RF_PACK_ZERO_RUN ? len - k0 : RF_PACK_ZERO_RUN;
                        for (int p = 0; p < np; p++) {
                            const int64_t ix = ix0[p0 + p] + kx;
                            src[p] =
                                row[p] && ix >= 0 && ix < in->w ? row[p] + ix * ps + k0 : zeros;
                        }
                        const float *w = wrow + ((size_t)kx * cin + k0) * PANEL_W(B);
                        run_fma(acc, B, src, w, w + a->panel_floats, PANEL_W(B), n, NULL);
                    }
            }
            store_tile(acc, B, a, &t->o, p0, c0, m, a->act, a->stream);
        }
    }
}

/* Narrow 1x1 layers: at most two vectors of outputs (one panel) from sums of at most
 * NARROW_WORDS words a vector, over flat tensors, with no residual or copy (MobileNet0.25's
 * widening layers on its largest maps). Their few multiply-adds a pixel cost less than the
 * tiles' pixel pointers, prefetches and tests, so here the weights stay in registers and
 * DW_PX pixels a step run from one pointer. The same sums in the same order as the tiles. */
#define NARROW_WORDS 16
static int narrow_pointwise(const conv_args *a, int linear)
{
    const int nv = (a->cv->cout + SIMD_W - 1) / SIMD_W;
    return linear && !a->res && !a->copy && a->pan0 == 0 && a->pan1 == 1 && nv <= 2 &&
           a->cv->cin * nv <= NARROW_WORDS;
}

INLINE void narrow_run(const conv_args *a, int nv, int64_t q0, int64_t q1)
{
    const rf_conv *cv = a->cv;
    const int words = cv->cin, pw = PANEL_W(tile_b(cv->cout, 0, 1, 0)); /* the panel's width */
    const int64_t ips = a->in->pstride, ops = a->out->pstride;
    const int stream = SIMD_STREAM && a->stream;
    vmask m[2];
    vf w[NARROW_WORDS][2], start[2];
#if SIMD_PREC == 2
    vf scale[2], bias[2];
#endif
    for (int v = 0; v < nv; v++) {
        m[v] = lanes(cv->cout - SIMD_W * v);
        start[v] = load_masked(ACC_START(a, SIMD_W * v), m[v]);
#if SIMD_PREC == 2
        scale[v] = _mm512_loadu_ps(a->out_scale + SIMD_W * v);
        bias[v] = load_masked(cv->bias + SIMD_W * v, m[v]);
#endif
        for (int k = 0; k < words; k++)
            w[k][v] = V(load_ps)(a->w + k * pw + SIMD_W * v);
    }
    for (int64_t q = q0; q < q1; q += DW_PX) {
        const int n = q1 - q < DW_PX ? (int)(q1 - q) : DW_PX;
        const float *src = a->in->data + q * ips;
        vf acc[DW_PX][2];
#pragma GCC unroll 4
        for (int j = 0; j < DW_PX; j++)
            for (int v = 0; v < nv; v++)
                acc[j][v] = start[v];
        for (int k = 0; k < words; k++)
#pragma GCC unroll 4
            for (int j = 0; j < DW_PX; j++) {
                /* past the last pixel: that pixel again, unstored */
                const vf x = V(set1_ps)(src[(j < n ? j : n - 1) * ips + k]);
                for (int v = 0; v < nv; v++)
                    acc[j][v] = mac(x, w[k][v], acc[j][v]);
            }
#pragma GCC unroll 4
        for (int j = 0; j < DW_PX; j++) {
            if (j >= n)
                break;
            float *dst = a->out->data + (q + j) * ops;
            for (int v = 0; v < nv; v++) {
                vf r = acc[j][v];
#if SIMD_PREC == 2
                r = dequantize(r, scale[v], bias[v]);
#endif
                r = activate(r, a->act);
                if (stream && mask_full(m[v]))
                    V(stream_ps)(dst + SIMD_W * v, r);
                else
                    store_masked(dst + SIMD_W * v, m[v], r);
            }
        }
    }
}

static void conv_pointwise_narrow(const conv_args *a, int row0, int row1)
{
    const int64_t w = a->out->w;
    if (a->cv->cout <= SIMD_W)
        narrow_run(a, 1, row0 * w, row1 * w);
    else
        narrow_run(a, 2, row0 * w, row1 * w);
}

/* 1x1 convolutions (any stride) as a GEMM over the pixels of rows [row0, row1), taken PX at a
 * time across line and image ends, over blocks of weight panels. While a tile runs, the next
 * one's inputs and outputs are prefetched: a tile's scattered pixel streams are more than the
 * hardware prefetchers follow. */
static void conv_pointwise(const conv_args *a, int row0, int row1)
{
    const rf_conv *cv = a->cv;
    const int pb = rf_panels_per_block(a, SIMD_WIDE ? 2 : 1);
    const int linear = cv->stride == 1 && rf_flat_layout(a->in) && rf_flat_layout(a->out) &&
                       (!a->res || rf_flat_layout(a->res)) &&
                       (!a->copy || (!a->copy_pad && rf_flat_layout(a->copy)));
    if (narrow_pointwise(a, linear)) {
        conv_pointwise_narrow(a, row0, row1);
        return;
    }
    const int64_t q1 = (int64_t)row1 * a->out->w;
    for (int pan0 = a->pan0; pan0 < a->pan1; pan0 += pb) {
        const int pan1 = pan0 + pb < a->pan1 ? pan0 + pb : a->pan1;
        int img = row0 / a->out->h, y = row0 % a->out->h, x = 0, cur = 0;
        int64_t q = (int64_t)row0 * a->out->w;
        tile_px t[2];
        const float *src[2][PX];
        for (int k = 0; k < 2; k++, q += PX) {
            if (linear) {
                rf_flat_tile(a, PX, q, q1, src[k], &t[k]);
            } else {
                rf_next_tile(a, PX, row1, &img, &y, &x, &t[k]);
                rf_tile_inputs(a, PX, &t[k], src[k]);
            }
        }
        for (; t[cur].o.np; cur ^= 1, q += PX) {
            tile_px *nx = &t[cur ^ 1];
            for (int pan = pan0; pan < pan1; pan++) {
                const float *const *pf = nx->o.np && pan == pan0 ? src[cur ^ 1] : NULL;
                const int b =
                    tile_b(cv->cout, pan, pan1, cv->cin * WIDE_CIN_PER_WORD >= WIDE_MIN_CIN);
                for (int k = pan; k <= pan + (b == 4); k++) {
                    rf_prefetch_outputs(a, nx, k);
                    if (linear && a->res)
                        rf_prefetch_residual_far(a, PX, q, q1, k);
                }
                BY_SHAPE(b, pointwise_tile, a, src[cur], &t[cur].o, pan, pf);
                pan += b == 4;
            }
            /* this tile is done: its slot takes the one after next */
            if (linear) {
                rf_flat_tile(a, PX, q, q1, src[cur], &t[cur]);
            } else {
                rf_next_tile(a, PX, row1, &img, &y, &x, &t[cur]);
                rf_tile_inputs(a, PX, &t[cur], src[cur]);
            }
        }
    }
}

/* kh x kw convolutions: the same walk of tiles over blocks of panels. */
static void conv_spatial(const conv_args *a, int row0, int row1)
{
    const rf_conv *cv = a->cv;
    const int pb = rf_panels_per_block(a, SIMD_WIDE ? 2 : 1);
    for (int pan0 = a->pan0; pan0 < a->pan1; pan0 += pb) {
        const int pan1 = pan0 + pb < a->pan1 ? pan0 + pb : a->pan1;
        int img = row0 / a->out->h, y = row0 % a->out->h, x = 0, cur = 0;
        tile_px t[2];
        for (rf_next_tile(a, PX, row1, &img, &y, &x, &t[0]); t[cur].o.np; cur ^= 1) {
            rf_next_tile(a, PX, row1, &img, &y, &x, &t[cur ^ 1]);
            for (int pan = pan0; pan < pan1; pan++) {
                const int b = tile_b(cv->cout, pan, pan1, 1);
                rf_prefetch_outputs(a, &t[cur ^ 1], pan);
                if (b == 4)
                    rf_prefetch_outputs(a, &t[cur ^ 1], pan + 1);
                BY_SHAPE(b, spatial_tile, a, &t[cur], pan);
                pan += b == 4;
            }
        }
    }
}

#if !SIMD_WORDS && (SIMD_HALF || SIMD_W == 8)
/* The image's 3x3 stride-2 layer with at most 8 channels (MobileNet0.25's first). Its 27
 * multiply-adds per pixel are too few for the general tiles, whose per-pixel pointers, bounds
 * and masked stores cost more than the arithmetic (it took about a tenth of a MobileNet0.25
 * pass): here the IMAGE_PX pixels of a run along one output line sit 6 floats apart from one
 * pointer per kernel row, the 9 weights of a kernel row stay in registers, and outputs of 8
 * channels take plain stores. */
#define IMAGE_LAYER 1
#define IMAGE_PX 12
#if SIMD_HALF
typedef vhalf image_w;
#define IMAGE_W(p) half_load(p)
#define IMAGE_MAC(x, w, acc) half_mac(x, w, acc)
#else
typedef vf image_w;
#define IMAGE_W(p) V(load_ps)(p)
#define IMAGE_MAC(x, w, acc) mac(V(set1_ps)(x), w, acc)
#endif

#if SIMD_W == 16
#define image_low8(v) _mm512_castps512_ps256(v)
#else
#define image_low8(v) (v)
#endif

static int image_layer(const conv_args *a)
{
    const rf_conv *cv = a->cv;
    return cv->cin == 3 && cv->kh == 3 && cv->kw == 3 && cv->stride == 2 && cv->cout <= 8 &&
           a->in->pstride == 3 && a->pan0 == 0 && a->pan1 >= 1;
}

/* Output pixels [ox0, ox0 + np) of line oy (np <= IMAGE_PX); with `inside`, every tap of them
 * lies within the input line (else taps outside read nothing: the borders). */
INLINE void image_run(const conv_args *a, int img, int oy, int ox0, int np, int inside)
{
    const rf_conv *cv = a->cv;
    const rf_tensor *in = a->in;
    const vmask m = lanes(cv->cout);
    vf acc[IMAGE_PX];
    const vf bias = load_masked(cv->bias, m);
#pragma GCC unroll 12
    for (int p = 0; p < IMAGE_PX; p++)
        acc[p] = bias;
    for (int ky = 0; ky < 3; ky++) {
        const int iy = oy * 2 - cv->pad + ky;
        if (iy < 0 || iy >= in->h)
            continue;
        const float *row = in->data + img * in->nstride + (int64_t)iy * in->w * 3;
        const float *wk = a->w + ky * 9 * PANEL_W(0);
        if (inside) {
            const float *b = row + (int64_t)(ox0 * 2 - cv->pad) * 3;
            image_w w[9];
#pragma GCC unroll 9
            for (int k = 0; k < 9; k++)
                w[k] = IMAGE_W(wk + k * PANEL_W(0));
#pragma GCC unroll 12
            for (int p = 0; p < IMAGE_PX; p++) {
                if (p >= np)
                    break;
#pragma GCC unroll 9
                for (int k = 0; k < 9; k++)
                    acc[p] = IMAGE_MAC(b[p * 6 + k], w[k], acc[p]);
            }
            continue;
        }
        for (int p = 0; p < np; p++)
            for (int kx = 0; kx < 3; kx++) {
                const int ix = (ox0 + p) * 2 - cv->pad + kx;
                if (ix < 0 || ix >= in->w)
                    continue;
                for (int c = 0; c < 3; c++)
                    acc[p] = IMAGE_MAC(row[ix * 3 + c], IMAGE_W(wk + (kx * 3 + c) * PANEL_W(0)),
                                       acc[p]);
            }
    }
#pragma GCC unroll 12
    for (int p = 0; p < IMAGE_PX; p++) {
        if (p >= np)
            break;
        vf v = acc[p];
        if (a->res)
            v = V(add_ps)(v, load_masked(pixel_ptr(a->res, img, oy, ox0 + p), m));
        float *dst = pixel_ptr(a->out, img, oy, ox0 + p);
        if (cv->cout == 8) /* a plain store: masked ones are slow on some CPUs */
            _mm256_storeu_ps(dst, image_low8(activate(v, a->act)));
        else
            store_masked(dst, m, activate(v, a->act));
    }
}

#if SIMD_W == 16
/* image_run for 8 channels written densely, without residual: two pixels a vector (lanes 0-7
 * and 8-15), so each FMA has 16 useful lanes where a broadcast has 8. The 15 floats a pair's
 * kernel row reads come in one load, spread to each tap by a permute. The same sums in the
 * same order as image_run: the outputs are bit for bit its own. */
INLINE void image_run_pairs(const conv_args *a, int img, int oy, int ox0, int np)
{
    const rf_conv *cv = a->cv;
    const rf_tensor *in = a->in;
    enum { PAIRS = IMAGE_PX / 2 };
    vf acc[PAIRS];
    const vf bias = _mm512_broadcast_f32x8(_mm256_loadu_ps(cv->bias));
#pragma GCC unroll 6
    for (int j = 0; j < PAIRS; j++)
        acc[j] = bias;
    for (int ky = 0; ky < 3; ky++) {
        const int iy = oy * 2 - cv->pad + ky;
        if (iy < 0 || iy >= in->h)
            continue;
        const float *b =
            in->data + img * in->nstride + ((int64_t)iy * in->w + ox0 * 2 - cv->pad) * 3;
        const float *wk = a->w + ky * 9 * PANEL_W(0);
        vf w[9];
#pragma GCC unroll 9
        for (int k = 0; k < 9; k++)
            w[k] = _mm512_broadcast_f32x8(_mm256_load_ps(wk + k * PANEL_W(0)));
#pragma GCC unroll 6
        for (int j = 0; j < PAIRS; j++) {
            if (2 * j >= np)
                break;
            /* pixel 2j reads floats 0-8 of the load, 2j + 1 floats 6-14 */
            const vf d = _mm512_maskz_loadu_ps(2 * j + 1 < np ? 0x7fff : 0x01ff, b + 12 * j);
#pragma GCC unroll 9
            for (int k = 0; k < 9; k++) {
                const __m512i tap = _mm512_setr_epi32(k, k, k, k, k, k, k, k, k + 6, k + 6,
                                                      k + 6, k + 6, k + 6, k + 6, k + 6, k + 6);
                acc[j] = _mm512_fmadd_ps(_mm512_permutexvar_ps(tap, d), w[k], acc[j]);
            }
        }
    }
#pragma GCC unroll 6
    for (int j = 0; j < PAIRS; j++) {
        if (2 * j >= np)
            break;
        const vf v = activate(acc[j], a->act);
        float *dst = pixel_ptr(a->out, img, oy, ox0 + 2 * j);
        if (2 * j + 1 < np)
            _mm512_storeu_ps(dst, v);
        else
            _mm256_storeu_ps(dst, image_low8(v));
    }
}
#endif

static void conv_image(const conv_args *a, int row0, int row1)
{
    const rf_conv *cv = a->cv;
#if SIMD_W == 16
    const int pairs = cv->cout == 8 && a->out->pstride == 8 && !a->res;
#endif
    const int w = a->out->w, iw = a->in->w;
    /* the pixels whose three taps all lie within the input line: [x0, x1) */
    const int x0 = (cv->pad + 1) / 2;
    int x1 = iw - 3 + cv->pad < 0 ? x0 : (iw - 3 + cv->pad) / 2 + 1;
    x1 = x1 < x0 ? x0 : x1 > w ? w : x1;
    for (int r = row0; r < row1; r++) {
        const int img = r / a->out->h, oy = r % a->out->h;
        for (int x = 0; x < x0 && x < w; x++)
            image_run(a, img, oy, x, 1, 0);
        int x = x0;
        for (; x < x1; x += IMAGE_PX) {
            const int np = x1 - x < IMAGE_PX ? x1 - x : IMAGE_PX;
#if SIMD_W == 16
            if (pairs) {
                image_run_pairs(a, img, oy, x, np);
                continue;
            }
#endif
            if (np == IMAGE_PX) /* a constant count: the runs' loops unrolled whole */
                image_run(a, img, oy, x, IMAGE_PX, 1);
            else
                image_run(a, img, oy, x, np, 1);
        }
        for (x = x1 > x0 ? x1 : x0; x < w; x++)
            image_run(a, img, oy, x, 1, 0);
    }
}
#else
#define IMAGE_LAYER 0
#endif

#if !SIMD_WORDS /* the reduced sets keep depthwise layers in float32 */
/* acc + residual, activation, store: the end of a depthwise output vector. */
INLINE void dw_store(vf acc, const conv_args *a, int img, int oy, int ox, int c0, vmask m)
{
    if (a->res)
        acc = V(add_ps)(acc, load_masked(pixel_ptr(a->res, img, oy, ox) + c0, m));
    acc = activate(acc, a->act);
#if SIMD_COPIES
    if (a->copy) {
        copy_store(a, pixel_ptr(a->copy, img, oy + a->copy_pad, ox + a->copy_pad), c0, m, acc);
        if (a->copy_only)
            return;
    }
#endif
    store_masked(pixel_ptr(a->out, img, oy, ox) + c0, m, acc);
}

/* Output pixel ox of a depthwise line, taps outside the input skipped (borders, other sizes). */
static void dw_pixel(const conv_args *a, const float *in_img, int img, int oy, int ox, int c0,
                     vmask m)
{
    const rf_conv *cv = a->cv;
    const rf_tensor *in = a->in;
    const int cp = (cv->cout + 15) & ~15;
    vf acc = load_masked(cv->bias + c0, m);
    int ky0, ky1, kx0, kx1;
    rf_tap_range(oy, cv->stride, cv->pad, cv->kh, in->h, &ky0, &ky1);
    rf_tap_range(ox, cv->stride, cv->pad, cv->kw, in->w, &kx0, &kx1);
    for (int ky = ky0; ky < ky1; ky++)
        for (int kx = kx0; kx < kx1; kx++) {
            const int iy = oy * cv->stride - cv->pad + ky, ix = ox * cv->stride - cv->pad + kx;
            const float *ip = in_img + ((int64_t)iy * in->w + ix) * in->pstride + c0;
            const float *wp = a->w + (size_t)(ky * cv->kw + kx) * cp + c0;
            acc = V(fmadd_ps)(load_masked(ip, m), V(load_ps)(wp), acc);
        }
    dw_store(acc, a, img, oy, ox, c0, m);
}

/* acc[j] = bias + the 3x3 taps of pixel j of a step, whose kernel row ky starts at
 * rows[ky] + base + min(j, n - 1) * step (NULL rows are padding: a step past the last pixel
 * recomputes it rather than read past the row), taps ps floats apart, the nine weights in w;
 * full: whole vectors, else the lanes of m. */
INLINE void dw3x3_step(vf acc[DW_PX], const float *const rows[3], int64_t base, int64_t step,
                       int n, int64_t ps, const vf w[9], vf bias, vmask m, int full)
{
#pragma GCC unroll 4
    for (int j = 0; j < DW_PX; j++)
        acc[j] = bias;
#pragma GCC unroll 3
    for (int ky = 0; ky < 3; ky++) {
        if (!rows[ky])
            continue;
#pragma GCC unroll 4
        for (int j = 0; j < DW_PX; j++) {
            const float *ip = rows[ky] + base + (j < n ? j : n - 1) * step;
#pragma GCC unroll 3
            for (int kx = 0; kx < 3; kx++) {
                const float *t = ip + kx * ps;
                acc[j] = V(fmadd_ps)(full ? V(loadu_ps)(t) : load_masked(t, m), w[ky * 3 + kx],
                                     acc[j]);
            }
        }
    }
}

/* Pixels [x0, x1) of a 3x3 depthwise line whose taps all lie inside the input row range
 * `rows`: the nine weights of the vector's channels stay in registers, DW_PX pixels a step
 * (independent FMA chains). */
static void dw3x3_interior(const conv_args *a, const float *const rows[3], int img, int oy,
                           int x0, int x1, int c0, vmask m)
{
    const rf_conv *cv = a->cv;
    const int s = cv->stride, cp = (cv->cout + 15) & ~15;
    const int64_t ps = a->in->pstride;
    const vf bias = load_masked(cv->bias + c0, m);
    vf w[9];
#pragma GCC unroll 9
    for (int t = 0; t < 9; t++)
        w[t] = V(load_ps)(a->w + (size_t)t * cp + c0);
    const int full = mask_full(m);
    for (int ox = x0; ox < x1; ox += DW_PX) {
        const int n = x1 - ox < DW_PX ? x1 - ox : DW_PX;
        const int64_t base = (int64_t)(ox * s - cv->pad) * ps + c0;
        vf acc[DW_PX];
        /* whole steps of whole vectors (nearly all) with constant n and plain loads */
        if (n == DW_PX && full)
            dw3x3_step(acc, rows, base, s * ps, DW_PX, ps, w, bias, m, 1);
        else
            dw3x3_step(acc, rows, base, s * ps, n, ps, w, bias, m, 0);
#pragma GCC unroll 4
        for (int j = 0; j < DW_PX; j++)
            if (j < n)
                dw_store(acc[j], a, img, oy, ox + j, c0, m);
    }
}

#if SIMD_DW_PAIRS
/* Stride-1 3x3 lines of 8 channels with dense input pixels (defined by the set's file):
 * pixels [x0, x1) as in dw3x3_interior, in pairs; returns the first pixel left over. */
static int dw3x3_pairs(const conv_args *a, const float *const rows[3], int img, int oy, int x0,
                       int x1);
#endif

/* Depthwise: SIMD_W channels at a time along each output line; 3x3 interiors in registers,
 * the border pixels (and other kernel sizes) tap by tap. */
static void conv_depthwise(const conv_args *a, int row0, int row1)
{
    const rf_conv *cv = a->cv;
    const rf_tensor *in = a->in, *out = a->out;
    const int c = cv->cout;
    int x0, x1;
    rf_dw_interior(cv, in, out, &x0, &x1);
    const int pairs = SIMD_DW_PAIRS && c == 8 && cv->stride == 1 && in->pstride == 8;
    for (int r = row0; r < row1; r++) {
        const int img = r / out->h, oy = r % out->h;
        const float *in_img = in->data + img * in->nstride;
        const float *rows[3] = {NULL, NULL, NULL};
        for (int ky = 0; ky < 3 && ky < cv->kh; ky++) {
            const int iy = oy * cv->stride - cv->pad + ky;
            if (iy >= 0 && iy < in->h)
                rows[ky] = in_img + (int64_t)iy * in->w * in->pstride;
        }
        for (int c0 = a->ch0; c0 < a->ch1; c0 += SIMD_W) {
            const vmask m = lanes(c - c0);
            for (int ox = 0; ox < x0; ox++)
                dw_pixel(a, in_img, img, oy, ox, c0, m);
            int xp = x0;
#if SIMD_DW_PAIRS
            if (pairs)
                xp = dw3x3_pairs(a, rows, img, oy, x0, x1);
#endif
            if (xp < x1)
                dw3x3_interior(a, rows, img, oy, xp, x1, c0, m);
            for (int ox = x1; ox < out->w; ox++)
                dw_pixel(a, in_img, img, oy, ox, c0, m);
        }
    }
    (void)pairs;
}

#endif

#if SIMD_PREC != 2 /* int8 runs 3x3 layers direct */
/* Winograd F(4x4, 3x3) (see conv_plan.h for the scheme). B^T d for d = 6 points along one axis
 * (interpolation points 0, 1, -1, 1/2, -2 and infinity: about half the float32 error of the
 * usual 0, 1, -1, 2, -2). */
INLINE void wino_bt(const vf d[6], vf r[6])
{
    const vf e = V(sub_ps)(d[3], d[1]), c = V(sub_ps)(d[4], d[2]);
    const vf m2 = V(set1_ps)(-2.0f), half = V(set1_ps)(0.5f);
    const vf h3 = V(set1_ps)(1.5f), h5 = V(set1_ps)(2.5f);
    r[0] = V(fmadd_ps)(h3, e, V(fmadd_ps)(m2, d[2], V(add_ps)(d[0], d[4])));
    r[1] = V(fmadd_ps)(h5, d[3], V(fmadd_ps)(half, d[2], V(sub_ps)(d[4], d[1])));
    r[2] = V(fmadd_ps)(half, d[3], V(fnmadd_ps)(h5, d[2], V(add_ps)(d[4], d[1])));
    r[3] = V(fmadd_ps)(V(set1_ps)(2.0f), e, c);
    r[4] = V(fnmadd_ps)(half, e, c);
    r[5] = V(fmadd_ps)(h3, c, V(fmadd_ps)(m2, d[3], V(add_ps)(d[1], d[5])));
}

/* A^T m: 6 transformed points back to 4 outputs along one axis. */
INLINE void wino_at(const vf m[6], vf y[4])
{
    const vf p = V(add_ps)(m[1], m[2]), q = V(sub_ps)(m[1], m[2]);
    const vf h = V(set1_ps)(0.5f), q4 = V(set1_ps)(0.25f), e8 = V(set1_ps)(0.125f);
    y[0] = V(add_ps)(V(add_ps)(m[0], p), V(add_ps)(m[3], m[4]));
    y[1] = V(fmadd_ps)(h, m[3], V(fmadd_ps)(V(set1_ps)(-2.0f), m[4], q));
    y[2] = V(fmadd_ps)(q4, m[3], V(fmadd_ps)(V(set1_ps)(4.0f), m[4], p));
    y[3] = V(fmadd_ps)(e8, m[3], V(fmadd_ps)(V(set1_ps)(-8.0f), m[4], V(add_ps)(q, m[5])));
}

/* V[xi][slot] = B^T d B of tile t for all input channels; inputs outside the image are 0.
 * bf16: stored rounded to bf16 pairs (cstride and plane count floats, each a pair). */
static void wino_input(const conv_args *a, const wino_tile *t, float *v, int64_t plane,
                       int slot, int cstride)
{
    const rf_tensor *in = a->in;
    const int cin = a->cv->cin, y0 = 4 * t->ty - 1, x0 = 4 * t->tx - 1;
    const float *img = in->data + t->img * in->nstride;
    const float *px[6][6];
    vmask ok[6][6];
    for (int i = 0; i < 6; i++)
        for (int j = 0; j < 6; j++) {
            const int iy = y0 + i, ix = x0 + j;
            const int inside = iy >= 0 && iy < in->h && ix >= 0 && ix < in->w;
            ok[i][j] = lanes(inside ? SIMD_W : 0);
            px[i][j] = inside ? img + ((int64_t)iy * in->w + ix) * in->pstride : img;
        }
    for (int c0 = 0; c0 < cin; c0 += SIMD_W) {
        const vmask m = lanes(cin - c0);
        vf tmp[6][6];
        for (int i = 0; i < 6; i++) {
            vf d[6];
#pragma GCC unroll 6
            for (int j = 0; j < 6; j++)
                d[j] = load_masked(px[i][j] + c0, mask_and(m, ok[i][j]));
            wino_bt(d, tmp[i]);
        }
        /* V's row of this slot holds cin_pad channels in cstride elements (VPACK a float) */
        float *dst = v + (int64_t)slot * cstride + c0 / VPACK;
#pragma GCC unroll 6
        for (int j = 0; j < 6; j++) {
            vf col[6], r[6];
#pragma GCC unroll 6
            for (int i = 0; i < 6; i++)
                col[i] = tmp[i][j];
            wino_bt(col, r);
#pragma GCC unroll 6
            for (int i = 0; i < 6; i++)
#if SIMD_PREC == 1
                _mm256_storeu_si256((__m256i *)(void *)(dst + (i * 6 + j) * plane),
                                    (__m256i)_mm512_cvtneps_pbh(r[i]));
#else
                V(store_ps)(dst + (i * 6 + j) * plane, r[i]);
#endif
        }
    }
}

/* M[xi][slots] (+)= V[xi][slots][k0, k0 + len) x U for the TILE_PX(B) slots from s0 (n of them
 * exist), channels c0..: wa holds U's rows for the channels from k0, PANEL_W(B) floats each,
 * wstride apart, and wa + wb_off those of the second panel (B = 3, 4). With acc_in the sums
 * start from M, else from zero. */
INLINE void wino_gemm_run(int B, const float *v, float *mm, int64_t vplane, int64_t mplane,
                          int xi, int s0, int n, int cstride_in, int cstride_out, int c0,
                          const float *wa, int64_t wb_off, int64_t wstride, int k0, int len,
                          int acc_in)
{
    const float *src[PX];
    for (int p = 0; p < TILE_PX(B); p++)
        src[p] = v + xi * vplane + (int64_t)(s0 + (p < n ? p : n - 1)) * cstride_in + k0;
    float *dst = mm + xi * mplane + (int64_t)s0 * cstride_out + c0;
    vf acc[TILE_REGS];
#pragma GCC unroll 24
    for (int i = 0; i < TILE_REGS; i++)
        acc[i] = V(setzero_ps)();
    if (acc_in) {
#pragma GCC unroll 12
        for (int p = 0; p < PX; p++) {
            if (p >= TILE_PX(B) || p >= n)
                break;
            for (int b = 0; b < NVEC(B); b++)
                acc[p * NVEC(B) + b] = V(load_ps)(dst + (int64_t)p * cstride_out + SIMD_W * b);
        }
    }
    run_fma(acc, B, src, wa, wa + wb_off, wstride, len, NULL);
#pragma GCC unroll 12
    for (int p = 0; p < PX; p++) {
        if (p >= TILE_PX(B) || p >= n)
            break;
        for (int b = 0; b < NVEC(B); b++)
            V(store_ps)(dst + (int64_t)p * cstride_out + SIMD_W * b, acc[p * NVEC(B) + b]);
    }
}

/* The same for slots [s0, s0 + n), n <= PX, TILE_PX(B) at a time, over the panel (pair) from
 * `panel`; a wide tile's last few slots take the half-height shape (with two threads, blocks
 * of 10 or 20 tiles are common). */
INLINE void wino_gemm_tile(int B, const float *v, float *mm, int64_t vplane, int64_t mplane,
                           int xi, int s0, int n, int cstride_in, int cstride_out, int panel,
                           const float *wa, int64_t wb_off, int64_t wstride, int k0, int len,
                           int acc_in)
{
    for (int cb = 0; cb < COL_BLOCKS(B); cb++) {
        const int c0 = panel * RF_PACK_PANEL + cb * TILE_COLS(B);
        const float *w = wa + cb * TILE_COLS(B);
        for (int p0 = 0; p0 < n; p0 += TILE_PX(B)) {
            if (B == 4 && n - p0 <= TILE_PX(3))
                wino_gemm_run(3, v, mm, vplane, mplane, xi, s0 + p0, n - p0, cstride_in,
                              cstride_out, c0, w, wb_off, wstride, k0, len, acc_in);
            else
                wino_gemm_run(B, v, mm, vplane, mplane, xi, s0 + p0, n - p0, cstride_in,
                              cstride_out, c0, w, wb_off, wstride, k0, len, acc_in);
        }
    }
}

/* Y = A^T M A of tile t + bias (+ residual), activated, stored where the tile's pixels lie
 * inside the output and inside rows [row0, row1). */
static void wino_output(const conv_args *a, const wino_tile *t, const float *mm, int64_t plane,
                        int slot, int cstride, int row0, int row1)
{
    const rf_tensor *out = a->out;
    const int cout = a->cv->cout;
    int first, rows, cols;
    rf_wino_clip(out, t, row0, row1, &first, &rows, &cols);
    for (int c0 = a->ch0; c0 < a->ch1; c0 += SIMD_W) {
        const vmask m = lanes(cout - c0);
        const float *src = mm + (int64_t)slot * cstride + c0;
        vf tmp[4][6];
#pragma GCC unroll 6
        for (int j = 0; j < 6; j++) {
            vf col[6], y[4];
#pragma GCC unroll 6
            for (int i = 0; i < 6; i++)
                col[i] = V(load_ps)(src + (i * 6 + j) * plane);
            wino_at(col, y);
#pragma GCC unroll 4
            for (int i = 0; i < 4; i++)
                tmp[i][j] = y[i];
        }
        const vf bias = load_masked(a->cv->bias + c0, m);
        for (int i = first; i < first + rows; i++) {
            vf y[4];
            wino_at(tmp[i], y);
            const int oy = 4 * t->ty + i;
            for (int j = 0; j < cols; j++) {
                const int ox = 4 * t->tx + j;
                vf v = V(add_ps)(y[j], bias);
                if (a->res)
                    v = V(add_ps)(v, load_masked(pixel_ptr(a->res, t->img, oy, ox) + c0, m));
                v = activate(v, a->act);
#if SIMD_WORDS
                if (a->copy) {
                    copy_store(a,
                               pixel_ptr(a->copy, t->img, oy + a->copy_pad, ox + a->copy_pad),
                               c0, m, v);
                    if (a->copy_only)
                        continue;
                }
#endif
                if (SIMD_STREAM && a->stream && mask_full(m))
                    V(stream_ps)(pixel_ptr(out, t->img, oy, ox) + c0, v);
                else
                    store_masked(pixel_ptr(out, t->img, oy, ox) + c0, m, v);
            }
        }
    }
}

/* Rows [row0, row1) through the tiles whose 4 rows meet them. */
static void conv_winograd(const conv_args *a, int row0, int row1)
{
    const rf_tensor *out = a->out;
    const int cin = a->cv->cin, npanels = (a->cv->cout + RF_PACK_PANEL - 1) / RF_PACK_PANEL;
    const int cin_pad = (cin + 15) & ~15, cout_pad = npanels * RF_PACK_PANEL;
    /* V's rows and the GEMM's sums, in the elements the GEMM reads (VPACK channels each) */
    const int vrow = cin_pad / VPACK, klen = (cin + VPACK - 1) / VPACK;
    /* bf16 keeps even the RF_WINO_LARGE_PAIRS layers' kernels transformed (19 MB for 512 x
     * 512), which no cache holds from one L2-sized block of tiles to the next: those layers
     * take the 3x3 layout's blocks, so their kernels are read once a call */
    const int tb =
        SIMD_WORDS && (int64_t)cin * a->cv->cout >= RF_WINO_LARGE_PAIRS
            ? rf_wino_3x3_call_tiles(out, row0, row1, cin_pad, cout_pad, WINO_MAX_TILES)
            : rf_wino_block_tiles(cin_pad, cout_pad, PX, WINO_MAX_TILES);
    const int64_t vplane = (int64_t)tb * vrow, mplane = (int64_t)tb * cout_pad;
    float *v = a->scratch;
    float *mm = v + vplane * WINO_N;
    int img = row0 / out->h, ty = (row0 % out->h) / 4, tx = 0, n;
    wino_tile tiles[WINO_MAX_TILES];
    while ((n = rf_wino_next_block(out, row1, tb, &img, &ty, &tx, tiles)) > 0) {
        for (int k = 0; k < n; k++)
            wino_input(a, &tiles[k], v, vplane, k, vrow);
        for (int xi = 0; xi < WINO_N; xi++)
            for (int s0 = 0; s0 < n; s0 += PX) {
                const int cnt = n - s0 < PX ? n - s0 : PX;
                for (int pan = a->pan0; pan < a->pan1; pan++) {
                    /* M is stored 16 channels at a time: no 8-channel tiles */
                    const int b = tile_b(a->cv->cout, pan, a->pan1, 1);
                    const int width = b >= 2 ? PANEL_W(2) : PANEL_W(1);
                    const float *w = a->w + pan * a->panel_floats + (size_t)xi * klen * width;
                    BY_SHAPE(b ? b : 1, wino_gemm_tile, v, mm, vplane, mplane, xi, s0, cnt,
                             vrow, cout_pad, pan, w, a->panel_floats, width, 0, klen, 0);
                    pan += b == 4;
                }
            }
        for (int k = 0; k < n; k++)
            wino_output(a, &tiles[k], mm, mplane, k, cout_pad, row0, row1);
    }
}

#endif

#if !SIMD_WORDS /* bf16 keeps every Winograd layer transformed (WINOGRAD_BF16) */
/* G g for the 3 taps g0, g1, g2 along one axis of a 3x3 kernel: the 6 rows of F(4x4, 3x3)'s G
 * (interpolation points 0, 1, -1, 1/2, -2 and infinity, as in rf_pack_simd). */
INLINE void wino_g(vf g0, vf g1, vf g2, vf r[6])
{
    const vf third = V(set1_ps)(1.0f / 3), s = V(add_ps)(g0, g2);
    r[0] = g0;
    r[1] = V(mul_ps)(V(add_ps)(s, g1), third);
    r[2] = V(mul_ps)(V(sub_ps)(g1, s), third);
    r[3] = V(fmadd_ps)(V(set1_ps)(-16.0f / 15), g0,
                       V(fmadd_ps)(V(set1_ps)(-8.0f / 15), g1,
                                   V(mul_ps)(V(set1_ps)(-4.0f / 15), g2)));
    r[4] = V(fmadd_ps)(V(set1_ps)(1.0f / 15), g0,
                       V(fmadd_ps)(V(set1_ps)(-2.0f / 15), g1,
                                   V(mul_ps)(V(set1_ps)(4.0f / 15), g2)));
    r[5] = g2;
}

/* U[k][xi] = (G g G^T)[xi] for input channels [c0, c0 + kc) of a panel of 3x3 kernels (panel:
 * [9][cin][width] as packed), width floats per row. k outer: the 36 rows of a channel are
 * stored together; as [xi][k], 36 store streams a power of two apart thrashed the L1 cache and
 * took 3x as long. */
static void wino_weights(const float *panel, int cin, int c0, int kc, int width, float *u)
{
    for (int k = 0; k < kc; k++)
        for (int c = 0; c < width; c += SIMD_W) {
            vf t[3][6]; /* t[x][i] = (G g)[i][x] */
            for (int x = 0; x < 3; x++) {
                const float *g = panel + ((size_t)x * cin + c0 + k) * width + c;
                const size_t row = (size_t)3 * cin * width; /* taps y and y + 1 */
                wino_g(V(load_ps)(g), V(load_ps)(g + row), V(load_ps)(g + 2 * row), t[x]);
            }
#pragma GCC unroll 6
            for (int i = 0; i < 6; i++) {
                vf r[6];
                wino_g(t[0][i], t[1][i], t[2][i], r);
#pragma GCC unroll 6
                for (int j = 0; j < 6; j++)
                    V(store_ps)(u + ((size_t)k * WINO_N + i * 6 + j) * width + c, r[j]);
            }
        }
}

/* Winograd from 3x3 panels (RF_PACK_WINOGRAD_3X3, see conv_plan.h). */
static void conv_winograd_3x3(const conv_args *a, int row0, int row1)
{
    const rf_tensor *out = a->out;
    const int cin = a->cv->cin, npanels = (a->cv->cout + RF_PACK_PANEL - 1) / RF_PACK_PANEL;
    const int cin_pad = (cin + 15) & ~15, cout_pad = npanels * RF_PACK_PANEL;
    int img = row0 / out->h, ty = (row0 % out->h) / 4, tx = 0, n;
    const int tb = rf_wino_3x3_call_tiles(out, row0, row1, cin_pad, cout_pad, WINO_MAX_TILES);
    const int64_t vplane = (int64_t)tb * cin_pad, mplane = (int64_t)tb * cout_pad;
    float *v = a->scratch;
    float *mm = v + vplane * WINO_N;
    float *u = mm + mplane * WINO_N;
    const int64_t u_panel = (int64_t)WINO_N * WINO_KC * RF_PACK_PANEL;
    wino_tile tiles[WINO_MAX_TILES];
    while ((n = rf_wino_next_block(out, row1, tb, &img, &ty, &tx, tiles)) > 0) {
        for (int k = 0; k < n; k++)
            wino_input(a, &tiles[k], v, vplane, k, cin_pad);
        for (int pan = a->pan0; pan < a->pan1; pan++) {
            const int b = tile_b(a->cv->cout, pan, a->pan1, 1);
            const int width = b >= 2 ? PANEL_W(2) : PANEL_W(1);
            for (int c0 = 0; c0 < cin; c0 += WINO_KC) {
                const int kc = cin - c0 < WINO_KC ? cin - c0 : WINO_KC;
                for (int q = 0; q <= (b == 4); q++)
                    wino_weights(a->w + (pan + q) * a->panel_floats, cin, c0, kc, width,
                                 u + q * u_panel);
                for (int xi = 0; xi < WINO_N; xi++)
                    for (int s0 = 0; s0 < n; s0 += PX) {
                        const int cnt = n - s0 < PX ? n - s0 : PX;
                        BY_SHAPE(b ? b : 1, wino_gemm_tile, v, mm, vplane, mplane, xi, s0, cnt,
                                 cin_pad, cout_pad, pan, u + (size_t)xi * width, u_panel,
                                 (int64_t)WINO_N * width, c0, kc, c0 > 0);
                    }
            }
            pan += b == 4;
        }
        for (int k = 0; k < n; k++)
            wino_output(a, &tiles[k], mm, mplane, k, cout_pad, row0, row1);
    }
}

#endif

#if !SIMD_WORDS
size_t SIMD_FN(rf_conv_scratch)(const rf_conv *conv)
{
    return rf_wino_scratch_floats(conv, PX, WINO_MAX_TILES, SIMD_WINO_3X3);
}

int SIMD_FN(rf_conv_per_call_weights)(const rf_conv *conv)
{
    const rf_packed *pk = conv->packed;
    return SIMD_WINO_3X3 && pk && pk->layout == RF_PACK_WINOGRAD_3X3;
}

void SIMD_FN(rf_conv)(const rf_conv *conv, const rf_tensor *in, const rf_tensor *residual,
                      rf_act act, const rf_tensor *out, const rf_conv_copy *copy,
                      rf_conv_part part, float *scratch)
{
    const rf_packed *pk = conv->packed;
    const int row0 = part.row0, row1 = part.row1;
    /* copies only of depthwise layers, and only at 16 lanes (see SIMD_COPIES) */
    if (!SIMD_COPIES || pk->layout != RF_PACK_DEPTHWISE)
        copy = NULL;
    conv_args a = {.cv = conv,
                   .in = in,
                   .res = residual,
                   .out = out,
                   .act = act,
                   .w = rf_packed_weights(conv),
                   .panel_floats = rf_pack_panel_floats(conv),
                   .scratch = scratch,
                   .pan0 = part.ch0 / RF_PACK_PANEL,
                   .pan1 = (part.ch1 + RF_PACK_PANEL - 1) / RF_PACK_PANEL,
                   .ch0 = part.ch0,
                   .ch1 = part.ch1,
                   .stream = SIMD_STREAM && rf_streams_output(conv, residual, out, SIMD_W)};
    set_copy(&a, copy);
    if (pk->layout == RF_PACK_DEPTHWISE)
        conv_depthwise(&a, row0, row1);
    else if (pk->layout == RF_PACK_WINOGRAD)
        conv_winograd(&a, row0, row1);
    else if (SIMD_WINO_3X3 && pk->layout == RF_PACK_WINOGRAD_3X3)
        conv_winograd_3x3(&a, row0, row1);
    else if (conv->kh == 1 && conv->kw == 1 && conv->pad == 0)
        conv_pointwise(&a, row0, row1);
#if IMAGE_LAYER
    else if (image_layer(&a))
        conv_image(&a, row0, row1);
#endif
    else
        conv_spatial(&a, row0, row1);
    if (a.stream)
        _mm_sfence(); /* streamed stores are weakly ordered: done before the caller says so */
    /* Callers are plain SSE code: with the upper halves of the vector registers left dirty,
     * each of their instructions pays a state merge (3x slower post-processing, measured). The
     * compiler leaves this to us here because the kernels above return without it. */
    _mm256_zeroupper();
}

void SIMD_FN(rf_max_taps)(const float *const *taps, int n, int c, float *dst)
{
    for (int c0 = 0; c0 < c; c0 += SIMD_W) {
        const vmask m = lanes(c - c0);
        vf v = V(set1_ps)(-FLT_MAX);
        for (int t = 0; t < n; t++)
            v = V(max_ps)(v, load_masked(taps[t] + c0, m));
        store_masked(dst + c0, m, v);
    }
    _mm256_zeroupper();
}
#else /* SIMD_WORDS */

#define REDUCED_PRECISION (SIMD_PREC == 2 ? RF_PRECISION_INT8 : RF_PRECISION_BF16)

/* Whether the set runs conv in its reduced precision (by its packed layout), or hands it to
 * the float32 set. */
static int reduced_layer(const rf_conv *conv)
{
    const rf_packed *pk = conv->packed;
    return pk->layout == RF_PACK_PANELS_BF16 || pk->layout == RF_PACK_WINOGRAD_BF16 ||
           pk->layout == RF_PACK_PANELS_S8;
}

size_t SIMD_FN(rf_conv_scratch)(const rf_conv *conv)
{
    if (!reduced_layer(conv))
        return rf_conv_scratch_avx512(conv);
    /* int8: a call's output scales and starting sums; bf16 Winograd: the float32 block (more
     * than the bf16 one needs) */
    const size_t cout_pad =
        (size_t)(conv->cout + RF_PACK_PANEL - 1) / RF_PACK_PANEL * RF_PACK_PANEL;
    return SIMD_PREC == 2 ? 2 * cout_pad : rf_wino_scratch_floats(conv, PX, WINO_MAX_TILES, 0);
}

/* Whether conv's outputs may bypass the caches (rf_streams_output). int8 outputs are mostly
 * read soon after, by the next layer's range and quantization (ResNet50 ran 12 % faster, 1
 * thread, with them kept), except those of the image layer (read by the max pooling) and of
 * strided 1x1 layers (ResNet50's downsampling shortcuts, read two layers later): streamed. */
static int streams_reduced(const rf_conv *conv)
{
    return SIMD_PREC != 2 || conv->cin <= 4 || (conv->kh == 1 && conv->stride > 1);
}

int SIMD_FN(rf_conv_per_call_weights)(const rf_conv *conv)
{
    return !reduced_layer(conv) && rf_conv_per_call_weights_avx512(conv);
}

rf_read SIMD_FN(rf_input_read)(const rf_conv *conv)
{
    const rf_packed *pk = conv->packed;
    if (!reduced_layer(conv) || pk->layout == RF_PACK_WINOGRAD_BF16)
        return RF_READ_F32; /* Winograd rounds its transformed inputs */
    return SIMD_PREC == 2 ? RF_READ_U8 : RF_READ_BF16;
}

int SIMD_FN(rf_reduced_residual)(const rf_conv *conv)
{
    /* the layers that store with store_tile: all but bf16's Winograd ones */
    return reduced_layer(conv) &&
           ((const rf_packed *)conv->packed)->layout != RF_PACK_WINOGRAD_BF16;
}

int SIMD_FN(rf_writes_copy)(const rf_conv *conv, rf_read read)
{
    /* whole words only: a copy holds no partial word, whose rest convert_input pads; the
     * float32 set writes uint8 copies of depthwise layers */
    const int depthwise = ((const rf_packed *)conv->packed)->layout == RF_PACK_DEPTHWISE;
    return read == (SIMD_PREC == 2 ? RF_READ_U8 : RF_READ_BF16) && conv->cout % VPACK == 0 &&
           (reduced_layer(conv) || (SIMD_PREC == 2 && depthwise));
}

void SIMD_FN(rf_conv)(const rf_conv *conv, const rf_tensor *in, const rf_tensor *residual,
                      rf_act act, const rf_tensor *out, const rf_conv_copy *copy,
                      rf_conv_part part, float *scratch)
{
    if (!reduced_layer(conv)) {
        rf_conv_avx512(conv, in, residual, act, out, copy, part, scratch);
        return;
    }
    const rf_packed *pk = conv->packed;
    const int words = rf_conv_words(conv->cin, REDUCED_PRECISION);
    /* direct layers read words (and int8 a padded input): the walks count them as channels */
    rf_conv cw = *conv;
    if (pk->layout != RF_PACK_WINOGRAD_BF16) {
        cw.cin = words;
        cw.pad = SIMD_PREC == 2 ? 0 : conv->pad;
    }
    const int64_t panel = (int64_t)pk->taps * words * RF_PACK_PANEL;
    conv_args a = {.cv = &cw,
                   .in = in,
                   .res = residual,
                   .out = out,
                   .act = act,
                   .w = rf_packed_weights(conv),
                   .panel_floats = panel,
                   .scratch = scratch,
                   .pan0 = part.ch0 / RF_PACK_PANEL,
                   .pan1 = (part.ch1 + RF_PACK_PANEL - 1) / RF_PACK_PANEL,
                   .ch0 = part.ch0,
                   .ch1 = part.ch1,
                   .stream = SIMD_STREAM && streams_reduced(conv) &&
                             rf_streams_output(conv, residual, out, SIMD_W),
                   .res_values = residual ? residual->values : RF_VALUES_F32,
                   .res_scale = residual ? residual->scale : 0.0f,
                   .res_zero_point = residual ? residual->zero_point : 0};
    set_copy(&a, copy);
#if SIMD_PREC == 2
    const int npanels = (conv->cout + RF_PACK_PANEL - 1) / RF_PACK_PANEL;
    /* this call's channels: sums start at -zero point x sum of q_w (so the padding and the
     * input's zero, both the zero point, add nothing) and scale by s_in x s_w */
    const float *wscale = a.w + panel * npanels;
    const int32_t *wsum =
        (const int32_t *)(const void *)(wscale + (int64_t)npanels * RF_PACK_PANEL);
    float *out_scale = scratch;
    int32_t *acc0 = (int32_t *)(void *)(scratch + (int64_t)npanels * RF_PACK_PANEL);
    for (int c = a.pan0 * RF_PACK_PANEL; c < a.pan1 * RF_PACK_PANEL; c++) {
        out_scale[c] = in->scale * wscale[c];
        acc0[c] = -in->zero_point * wsum[c];
    }
    a.out_scale = out_scale;
    a.acc0 = acc0;
#endif
#if SIMD_PREC == 1
    if (pk->layout == RF_PACK_WINOGRAD_BF16)
        conv_winograd(&a, part.row0, part.row1);
    else
#endif
        if (conv->kh == 1 && conv->kw == 1 && conv->pad == 0)
        conv_pointwise(&a, part.row0, part.row1);
    else
        conv_spatial(&a, part.row0, part.row1);
    if (a.stream)
        _mm_sfence();
    _mm256_zeroupper();
}

/* Row r of t: where each pixel starts, and how many of its floats are read as one run; with
 * `whole` and dense pixels, the whole line is one run. */
#define FOR_RUNS(t, r, whole, px, len, body)                                                       \
    do {                                                                                           \
        const int line_run_ = (whole) && (t)->pstride == (t)->c;                                   \
        const float *line_ = (t)->data + ((r) / (t)->h) * (t)->nstride +                           \
                             (int64_t)((r) % (t)->h) * (t)->w * (t)->pstride;                      \
        for (int x_ = 0; x_ < (line_run_ ? 1 : (t)->w); x_++) {                                    \
            const float *px = line_ + x_ * (t)->pstride;                                           \
            const int len = line_run_ ? (t)->w * (t)->c : (t)->c;                                  \
            body;                                                                                  \
        }                                                                                          \
    } while (0)

void SIMD_FN(rf_range)(const rf_tensor *t, int row0, int row1, float *lo, float *hi)
{
    __m512 a = _mm512_setzero_ps(), b = a;
    for (int r = row0; r < row1; r++)
        FOR_RUNS(t, r, 1, p, len, {
            for (int c0 = 0; c0 < len; c0 += 16) {
                const __m512 v = _mm512_maskz_loadu_ps(lanes(len - c0), p + c0);
                a = _mm512_min_ps(a, v);
                b = _mm512_max_ps(b, v);
            }
        });
    *lo = _mm512_reduce_min_ps(a);
    *hi = _mm512_reduce_max_ps(b);
    _mm256_zeroupper();
}

#if SIMD_PREC == 1
/* n floats from s as bf16 pairs at d (n / 2 words, rounded up; an odd count's last half 0). */
INLINE void to_bf16(const float *s, int n, float *d)
{
    for (int c0 = 0; c0 < n; c0 += 32) {
        const __m512 lo = _mm512_maskz_loadu_ps(lanes(n - c0), s + c0);
        const __m512 hi = _mm512_maskz_loadu_ps(lanes(n - c0 - 16), s + c0 + 16);
        _mm512_mask_storeu_epi32(d + c0 / 2, lanes((n - c0 + 1) / 2),
                                 (__m512i)_mm512_cvtne2ps_pbh(hi, lo));
    }
}

/* n dense pixels of 3 channels from s into bf16 pairs (c0, c1), (c2, 0) at d: an expanding load
 * puts 4 pixels into 4 lanes each, the fourth zero, and two such vectors make one store. */
INLINE void to_bf16_3(const float *s, int64_t n, float *d)
{
    int64_t x = 0;
    for (; x + 8 <= n; x += 8, s += 24, d += 16) {
        const __m512 lo = _mm512_maskz_expandloadu_ps(0x7777, s);
        const __m512 hi = _mm512_maskz_expandloadu_ps(0x7777, s + 12);
        _mm512_storeu_si512((void *)d, (__m512i)_mm512_cvtne2ps_pbh(hi, lo));
    }
    for (; x < n; x++, s += 3, d += 2)
        to_bf16(s, 3, d);
}

void SIMD_FN(rf_convert_input)(const rf_conv *conv, const rf_tensor *src, const rf_tensor *dst,
                               int row0, int row1)
{
    (void)conv;
    for (int r = row0; r < row1; r++) {
        float *d = dst->data + (r / dst->h) * dst->nstride +
                   (int64_t)(r % dst->h) * dst->w * dst->pstride;
        if (src->c == 3 && src->pstride == 3 && dst->pstride == 2) { /* an image */
            FOR_RUNS(src, r, 1, p, len, to_bf16_3(p, len / 3, d));
            continue;
        }
        /* dense pixels run together into one line when no pair straddles two of them */
        if (src->pstride == src->c && src->c % 2 == 0) {
            FOR_RUNS(src, r, 1, p, len, to_bf16(p, len, d));
            continue;
        }
        FOR_RUNS(src, r, 0, p, len, {
            to_bf16(p, len, d);
            d += dst->pstride;
        });
    }
    _mm256_zeroupper();
}
#else
/* 64 floats quantized to uint8: rounded to int32, packed with saturation to int16, the zero
 * point added (saturating), packed to uint8 with saturation (the clamp to [0, 255]), the
 * 128-bit lanes' interleaving undone: the values of to_u8's loop of 16, with fewer
 * instructions. */
INLINE __m512i u8_of_64(const __m512 v[4], __m512 inv, __m512i zp)
{
    __m512i q[4];
    for (int k = 0; k < 4; k++)
        q[k] = round_i32(_mm512_mul_ps(v[k], inv));
    return pack_u8(q, 4, _mm512_packs_epi32(zp, zp));
}

/* n floats from s quantized to uint8 at d (n / 4 words, rounded up; the last one padded with
 * the zero point). */
INLINE void to_u8(const float *s, int n, float *d, __m512 inv, __m512i zp)
{
    uint8_t *o = (uint8_t *)(void *)d;
    const int bytes = (n + 3) & ~3;
    int c0 = 0;
    for (; c0 + 64 <= n; c0 += 64) {
        const __m512 v[4] = {_mm512_loadu_ps(s + c0), _mm512_loadu_ps(s + c0 + 16),
                             _mm512_loadu_ps(s + c0 + 32), _mm512_loadu_ps(s + c0 + 48)};
        _mm512_storeu_si512((void *)(o + c0), u8_of_64(v, inv, zp));
    }
    for (; c0 < n; c0 += 16) {
        const __m512 v = _mm512_mul_ps(_mm512_maskz_loadu_ps(lanes(n - c0), s + c0), inv);
        __m512i q = _mm512_add_epi32(
            _mm512_cvt_roundps_epi32(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC), zp);
        q = _mm512_min_epi32(_mm512_max_epi32(q, _mm512_setzero_si512()), _mm512_set1_epi32(255));
        const int left = bytes - c0;
        _mm_mask_storeu_epi8(o + c0, left >= 16 ? 0xffff : (__mmask16)((1u << left) - 1),
                             _mm512_cvtepi32_epi8(q));
    }
}

/* n dense pixels of 3 channels (the image) quantized to a word each, its fourth byte the zero
 * point: 16 pixels (48 floats) at a time spread to 4 floats a pixel, the fourth 0 (which
 * quantizes to the zero point), then as 64 channels; the rest one pixel at a time. */
INLINE void to_u8_3(const float *s, int n, float *d, __m512 inv, __m512i zp)
{
    /* output vector k holds pixels 4k..4k+3, floats 12k..12k+11 of the 48: from the first
     * two loads (k < 2) or the last two */
    __m512i idx[4];
    for (int k = 0; k < 4; k++) {
        int32_t i[16];
        for (int l = 0; l < 16; l++)
            i[l] = 12 * k - (k < 2 ? 0 : 16) + 3 * (l / 4) + (l % 4 < 3 ? l % 4 : 0);
        idx[k] = _mm512_loadu_si512((const void *)i);
    }
    int p = 0;
    for (; p + 16 <= n; p += 16) {
        const float *f = s + 3 * p;
        const __m512 f0 = _mm512_loadu_ps(f), f1 = _mm512_loadu_ps(f + 16),
                     f2 = _mm512_loadu_ps(f + 32);
        const __m512 v[4] = {_mm512_maskz_permutex2var_ps(0x7777, f0, idx[0], f1),
                             _mm512_maskz_permutex2var_ps(0x7777, f0, idx[1], f1),
                             _mm512_maskz_permutex2var_ps(0x7777, f1, idx[2], f2),
                             _mm512_maskz_permutex2var_ps(0x7777, f1, idx[3], f2)};
        _mm512_storeu_si512((void *)(d + p), u8_of_64(v, inv, zp));
    }
    for (; p < n; p++)
        to_u8(s + 3 * p, 3, d + p, inv, zp);
}

INLINE void fill_words(float *d, int64_t n, uint32_t word)
{
    const __m512i v = _mm512_set1_epi32((int)word);
    for (int64_t k = 0; k < n; k += 16)
        _mm512_mask_storeu_epi32(d + k, lanes(n - k > 16 ? 16 : (int)(n - k)), v);
}

void SIMD_FN(rf_convert_input)(const rf_conv *conv, const rf_tensor *src, const rf_tensor *dst,
                               int row0, int row1)
{
    const int pad = conv->pad;
    const __m512 inv = _mm512_set1_ps(1.0f / dst->scale);
    const __m512i zp = _mm512_set1_epi32(dst->zero_point);
    const uint32_t zword = (uint32_t)dst->zero_point * 0x01010101u;
    const int64_t ps = dst->pstride;
    for (int r = row0; r < row1; r++) {
        const int img = r / dst->h, y = r % dst->h - pad;
        float *d = dst->data + img * dst->nstride + (int64_t)(r % dst->h) * dst->w * ps;
        if (y < 0 || y >= src->h) {
            fill_words(d, dst->w * ps, zword);
            continue;
        }
        fill_words(d, pad * ps, zword);
        fill_words(d + (pad + src->w) * ps, pad * ps, zword);
        d += pad * ps;
        const int sr = img * src->h + y;
        if (src->pstride == src->c && src->c % 4 == 0) {
            FOR_RUNS(src, sr, 1, p, len, to_u8(p, len, d, inv, zp));
            continue;
        }
        if (src->pstride == 3 && src->c == 3 && ps == 1) {
            FOR_RUNS(src, sr, 1, p, len, to_u8_3(p, len / 3, d, inv, zp));
            continue;
        }
        FOR_RUNS(src, sr, 0, p, len, {
            to_u8(p, len, d, inv, zp);
            d += ps;
        });
    }
    _mm256_zeroupper();
}
#endif
#endif /* SIMD_WORDS */

/* Twelve independent chains keep both FMA pipes busy through their latency; unrolled, they
 * live in registers. Distinct starting values stop the compiler from merging equal chains.
 * A mac is 2 * SIMD_W * VPACK operations (bf16 and int8 multiply VPACK pairs a lane). */
double SIMD_FN(rf_fma_peak)(void)
{
    const vf a = V(set1_ps)(0.5f), b = V(set1_ps)(0.25f);
    vf c[12];
    for (int i = 0; i < 12; i++)
        c[i] = V(set1_ps)((float)i);
    const long rounds = 1L << 21;
    const double t0 = rf_kernel_seconds();
    for (long r = 0; r < rounds; r++) {
#pragma GCC unroll 12
        for (int i = 0; i < 12; i++)
            c[i] = mac(a, b, c[i]);
    }
    const double seconds = rf_kernel_seconds() - t0;
    for (int i = 1; i < 12; i++)
        c[0] = V(add_ps)(c[0], c[i]);
    float sum[SIMD_W];
    V(storeu_ps)(sum, c[0]);
    /* the sum feeds the result so the loop cannot be dropped */
    return 2.0 * SIMD_W * VPACK * 12 * rounds / seconds / 1e9 + 0.0 * sum[0];
}
