/* kernels_avx512.c - AVX-512 convolutions over NHWC tensors and the packed weights of kernels.h:
 * register tiles of 12 output pixels x 32 channels or 6 x 64 (1x1 as a GEMM, kh x kw without
 * im2col), Winograd F(4x4, 3x3) for stride-1 3x3, depthwise 3x3 vectorised over channels, 3x3
 * max pooling. */
#include "kernels/kernels.h"

#include <float.h>
#include <immintrin.h>

#define PX 12 /* output pixels per tile walk: 12 x 2 accumulators leave registers for weights */

/* Taps in the zero padding read from here. */
static const float zeros[RF_PACK_ZERO_RUN];

/* The per-layer constants a tile needs. */
typedef struct {
    const rf_conv *cv;
    const rf_tensor *in, *res, *out;
    rf_act act;
    const float *w;       /* packed weights */
    int64_t panel_floats; /* weights of one full panel */
    float *scratch;       /* the calling thread's, scratch_floats of this kernel set */
    int pan0, pan1;       /* the panels of the call's channels [ch0, ch1) */
    int ch0, ch1;
    int stream;           /* outputs bypass the caches */
} conv_args;

/* Where a tile's outputs go: pixel p writes dst[p] (and adds res[p]) for p < np. */
typedef struct {
    float *dst[PX];
    const float *res[PX];
    int np;
} tile_out;

#define INLINE static inline __attribute__((always_inline))

/* Register tiles, by shape B: 0: WPX pixels x at most 8 channels (in the low halves: CPUs that
 * split 512-bit FMAs in two do twice as many 256-bit ones, so 8 useful lanes cost half a
 * 512-bit FMA), 1: WPX x 16, 2: PX x 32 (a panel), 4: WPX x 64 (two neighbouring full panels
 * wa, wb). The narrow shapes take WPX pixels: with PX, the compiler runs out of registers for
 * the pixel pointers and shuffles them through vector registers on every step. Per step the
 * wide tile feeds 24 FMAs from 6 broadcasts where PX x 32 needs 12: on CPUs that run 512-bit
 * FMAs on two 256-bit pipes the broadcasts take slots from the FMAs, and the
 * wide tile reaches the FMA peak where PX x 32 stays ~8 % below it. It reads each weight row
 * for half as many pixels, though: 1x1 layers with few input channels, whose outputs and
 * residuals also stream through memory, run faster on PX x 32 (measured).
 * Shape 3 is the wide tile with WPX / 2 pixels, for the last few Winograd tiles of a block.
 * acc[p * NVEC(B) + b]: pixel p, vector b; PANEL_W: floats per weight row of a panel. */
#define WPX 6
#define TILE_PX(B) ((B) == 3 ? WPX / 2 : (B) == 4 || (B) <= 1 ? WPX : PX)
#define NVEC(B) ((B) >= 3 ? 4 : (B) == 2 ? 2 : 1)
#define PANEL_W(B) ((B) >= 2 ? 32 : 16)
#define TILE_REGS 24
/* 1x1 layers with at least this many input channels take the wide tile. */
#define WIDE_MIN_CIN 256

/* Calls f(B, ...) with the shape b as a constant, so that each shape is compiled apart. */
#define BY_SHAPE(b, f, ...)                                                                        \
    do {                                                                                           \
        if ((b) == 4)                                                                              \
            f(4, __VA_ARGS__);                                                                     \
        else if ((b) == 3)                                                                         \
            f(3, __VA_ARGS__);                                                                     \
        else if ((b) == 2)                                                                         \
            f(2, __VA_ARGS__);                                                                     \
        else if ((b) == 1)                                                                         \
            f(1, __VA_ARGS__);                                                                     \
        else                                                                                       \
            f(0, __VA_ARGS__);                                                                     \
    } while (0)

/* The tile shape for panel `panel` of a layer with cout channels: wide if allowed and this
 * panel and the next one are full and within [.., pan1). */
static int tile_b(int cout, int panel, int pan1, int wide)
{
    const int n = cout - panel * RF_PACK_PANEL;
    if (wide && panel + 1 < pan1 && n >= 2 * RF_PACK_PANEL)
        return 4;
    return n > 16 ? 2 : n > 8 ? 1 : 0;
}

/* acc += src[p][k] * w[k] for k < len, for the TILE_PX(B) pixels of src; w rows are
 * PANEL_W(B) floats, wstride apart, in wa (and wb, B = 3 and 4). With pf, the same stretch of
 * pf[p] is fetched into the cache for the tile after this one: dozens of scattered pixel
 * streams are more than the hardware prefetchers follow. The sums live in a local copy: vector
 * types may alias the floats read, so sums the compiler keeps in memory (when the caller's
 * array does not fit its analysis) would be stored on every step. */
INLINE void run_fma(__m512 acc[TILE_REGS], int B, const float *const *src, const float *wa,
                    const float *wb, int64_t wstride, int len, const float *const *pf)
{
    const int np = TILE_PX(B), nv = NVEC(B);
    __m512 r[TILE_REGS];
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
            if (B == 0) {
                const __m256 w0 = _mm256_load_ps(ka);
#pragma GCC unroll 12
                for (int p = 0; p < np; p++) {
                    const __m256 x = _mm256_set1_ps(src[p][k]);
                    r[p] = _mm512_castps256_ps512(
                        _mm256_fmadd_ps(x, w0, _mm512_castps512_ps256(r[p])));
                }
                continue;
            }
            __m512 w[4];
            w[0] = _mm512_load_ps(ka);
            w[1] = B >= 2 ? _mm512_load_ps(ka + 16) : w[0];
            w[2] = w[3] = w[0];
            if (B >= 3) {
                const float *kb = wb + k * wstride;
                w[2] = _mm512_load_ps(kb);
                w[3] = _mm512_load_ps(kb + 16);
            }
#pragma GCC unroll 12
            for (int p = 0; p < np; p++) {
                const __m512 x = _mm512_set1_ps(src[p][k]);
#pragma GCC unroll 4
                for (int v = 0; v < nv; v++)
                    r[p * nv + v] = _mm512_fmadd_ps(x, w[v], r[p * nv + v]);
            }
        }
    }
#pragma GCC unroll 24
    for (int i = 0; i < np * nv; i++)
        acc[i] = r[i];
}

INLINE __m512 activate(__m512 v, rf_act act)
{
    if (act.kind == RF_ACT_RELU)
        return _mm512_max_ps(v, _mm512_setzero_ps());
    if (act.kind == RF_ACT_LEAKY)
        return _mm512_mask_mul_ps(v, _mm512_cmp_ps_mask(v, _mm512_setzero_ps(), _CMP_LT_OQ), v,
                                  _mm512_set1_ps(act.slope));
    return v;
}

/* The first n of a vector's 16 lanes (none for n <= 0): where n channels are left. */
static inline __mmask16 lanes(int n)
{
    return n >= 16 ? 0xffff : n > 0 ? (__mmask16)((1u << n) - 1) : 0;
}

/* Channel masks of the vectors of a tile starting at panel `panel`: which channels exist. */
static void tile_masks(int cout, int panel, __mmask16 m[4])
{
    for (int b = 0; b < 4; b++)
        m[b] = lanes(cout - panel * RF_PACK_PANEL - 16 * b);
}

INLINE void init_acc(__m512 acc[TILE_REGS], int B, const float *bias, const __mmask16 m[4])
{
    const int nv = NVEC(B);
    for (int b = 0; b < nv; b++) {
        const __m512 v = _mm512_maskz_loadu_ps(m[b], bias + 16 * b);
#pragma GCC unroll 12
        for (int p = 0; p < PX; p++)
            if (p < TILE_PX(B))
                acc[p * nv + b] = v;
    }
}

/* Pixels p0.. of the tile's outputs, channels c0..: + residual, activation, masked store.
 * Constant indices (the pixel count tested per pixel) keep acc in registers. */
INLINE void store_tile(const __m512 acc[TILE_REGS], int B, const tile_out *o, int p0, int c0,
                       const __mmask16 m[4], rf_act act, int stream)
{
#pragma GCC unroll 12
    for (int p = 0; p < PX; p++) {
        if (p >= TILE_PX(B) || p0 + p >= o->np)
            break;
        float *dst = o->dst[p0 + p] + c0;
        const float *res = o->res[p0 + p] ? o->res[p0 + p] + c0 : NULL;
        for (int b = 0; b < NVEC(B); b++) {
            __m512 v = acc[p * NVEC(B) + b];
            if (res)
                v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m[b], res + 16 * b));
            if (stream && m[b] == 0xffff)
                _mm512_stream_ps(dst + 16 * b, activate(v, act));
            else
                _mm512_mask_storeu_ps(dst + 16 * b, m[b], activate(v, act));
        }
    }
}

/* One tile of a 1x1 convolution, TILE_PX(B) pixels at a time: every pixel has its own input
 * pointer; pf (or NULL) are the next tile's, to prefetch. */
INLINE void pointwise_tile(int B, const conv_args *a, const float *const src[PX],
                           const tile_out *o, int panel, const float *const *pf)
{
    __mmask16 m[4];
    tile_masks(a->cv->cout, panel, m);
    const float *wa = a->w + panel * a->panel_floats;
    for (int p0 = 0; p0 < o->np; p0 += TILE_PX(B)) {
        __m512 acc[TILE_REGS];
        init_acc(acc, B, a->cv->bias + panel * RF_PACK_PANEL, m);
        run_fma(acc, B, src + p0, wa, wa + a->panel_floats, PANEL_W(B), a->cv->cin,
                pf ? pf + p0 : NULL);
        store_tile(acc, B, o, p0, panel * RF_PACK_PANEL, m, a->act, a->stream);
    }
}

/* The output pixels of a tile, in raster order: a tile may run on into the next line or image
 * (pixels past np repeat the last one). */
typedef struct {
    int img[PX], oy[PX], ox[PX];
    tile_out o;
} tile_px;

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
    const float *wpanel = a->w + panel * a->panel_floats;
    __mmask16 m[4];
    tile_masks(cv->cout, panel, m);
    for (int p0 = 0; p0 < t->o.np; p0 += np) {
        /* per run of np pixels: a tile that wraps to the next line loses the fast path only
         * in the run that wraps */
        const int last = p0 + np - 1;
        const int one_line = t->img[p0] == t->img[last] && t->oy[p0] == t->oy[last];
        int interior = ps == cin;
        for (int p = p0; p <= last; p++)
            interior &= ix0[p] >= 0 && ix0[p] + kw <= in->w;
        __m512 acc[TILE_REGS];
        init_acc(acc, B, cv->bias + panel * RF_PACK_PANEL, m);
        const float *row[PX], *src[PX];
        for (int ky = 0; ky < cv->kh; ky++) {
            int any = 0;
            for (int p = 0; p < np; p++) {
                if (one_line && p) {
                    row[p] = row[0];
                    continue;
                }
                const int iy = t->oy[p0 + p] * s - cv->pad + ky;
                row[p] = iy >= 0 && iy < in->h
                             ? in->data + t->img[p0 + p] * in->nstride + (int64_t)iy * in->w * ps
                             : NULL;
                any |= row[p] != NULL;
            }
            if (!any)
                continue;
            const float *wrow = wpanel + (size_t)ky * kw * cin * PANEL_W(B);
            if (interior && one_line) {
                for (int p = 0; p < np; p++)
                    src[p] = row[0] + ix0[p0 + p] * ps;
                run_fma(acc, B, src, wrow, wrow + a->panel_floats, PANEL_W(B), kw * cin, NULL);
                continue;
            }
            const int runs = interior ? 1 : kw, len = interior ? kw * cin : cin;
            for (int kx = 0; kx < runs; kx++)
                for (int c0 = 0; c0 < len; c0 += RF_PACK_ZERO_RUN) {
                    const int n = len - c0 < RF_PACK_ZERO_RUN ? len - c0 : RF_PACK_ZERO_RUN;
                    for (int p = 0; p < np; p++) {
                        const int64_t ix = ix0[p0 + p] + kx;
                        src[p] = row[p] && ix >= 0 && ix < in->w ? row[p] + ix * ps + c0 : zeros;
                    }
                    const float *w = wrow + ((size_t)kx * cin + c0) * PANEL_W(B);
                    run_fma(acc, B, src, w, w + a->panel_floats, PANEL_W(B), n, NULL);
                }
        }
        store_tile(acc, B, &t->o, p0, panel * RF_PACK_PANEL, m, a->act, a->stream);
    }
}

/* Panels whose weights together stay within about half the L2 cache, so a block of panels is
 * read from memory once per task while every pixel tile of the task passes over it; two at
 * least, a pair for the wide tile. */
static int panels_per_block(const conv_args *a)
{
    const int64_t budget = 256 * 1024 / (int64_t)sizeof(float);
    const int64_t n = budget / a->panel_floats;
    return n < 2 ? 2 : (int)n;
}

static float *pixel_ptr(const rf_tensor *t, int img, int y, int x)
{
    return t->data + img * t->nstride + ((int64_t)y * t->w + x) * t->pstride;
}

/* Fills t with the next (up to) PX output pixels of rows [.., row1) from the position
 * (*img, *y, *x), which it advances; t->o.np = 0 past the end. */
static void next_tile(const conv_args *a, int row1, int *img, int *y, int *x, tile_px *t)
{
    const rf_tensor *out = a->out;
    int n = 0;
    for (; n < PX && *img * out->h + *y < row1; n++) {
        t->img[n] = *img;
        t->oy[n] = *y;
        t->ox[n] = *x;
        t->o.dst[n] = pixel_ptr(out, *img, *y, *x);
        t->o.res[n] = a->res ? pixel_ptr(a->res, *img, *y, *x) : NULL;
        if (++*x == out->w) {
            *x = 0;
            if (++*y == out->h) {
                *y = 0;
                ++*img;
            }
        }
    }
    t->o.np = n;
    for (int p = n; p < PX && n; p++) {
        t->img[p] = t->img[n - 1];
        t->oy[p] = t->oy[n - 1];
        t->ox[p] = t->ox[n - 1];
    }
}

/* 1x1 convolutions: where each pixel of t reads its input. */
static void tile_inputs(const conv_args *a, const tile_px *t, const float *src[PX])
{
    const int s = a->cv->stride;
    for (int p = 0; p < PX && t->o.np; p++)
        src[p] = pixel_ptr(a->in, t->img[p], t->oy[p] * s, t->ox[p] * s);
}

/* Prefetches the outputs (unless streamed) and residuals of tile t in panel `panel`: writes
 * miss the cache as often as reads. */
static void prefetch_outputs(const conv_args *a, const tile_px *t, int panel)
{
    for (int p = 0; p < t->o.np; p++) {
        if (!a->stream) {
            __builtin_prefetch(t->o.dst[p] + panel * RF_PACK_PANEL, 1, 3);
            __builtin_prefetch(t->o.dst[p] + panel * RF_PACK_PANEL + 16, 1, 3);
        }
        if (t->o.res[p]) {
            __builtin_prefetch(t->o.res[p] + panel * RF_PACK_PANEL, 0, 3);
            __builtin_prefetch(t->o.res[p] + panel * RF_PACK_PANEL + 16, 0, 3);
        }
    }
}

/* Flat layouts: the residuals of panel `panel` for the tile after next (pixels [q, q + PX))
 * into L2, besides the next tile's into L1: from memory, one tile ahead is too late (15 %
 * slower on ResNet50's 64 -> 256 layers, measured). */
static void prefetch_residual_far(const conv_args *a, int64_t q, int64_t q1, int panel)
{
    for (int64_t p = q; p < q + PX && p < q1; p++) {
        const float *r = a->res->data + p * a->res->pstride + panel * RF_PACK_PANEL;
        /* asm: GCC 12 deletes this loop when written with _mm_prefetch (no side effects) */
        __asm__ volatile("prefetcht1 %0\n\tprefetcht1 %1" : : "m"(*r), "m"(r[16]));
    }
}

/* Whether pixel q of the flattened batch sits at data + q * pstride (images back to back). */
static int flat(const rf_tensor *t)
{
    return t->n == 1 || t->nstride == (int64_t)t->h * t->w * t->pstride;
}

/* Pixels [q, q1) of flat tensors, PX at most, for a stride-1 1x1 convolution: a few additions
 * per pixel instead of the walk of next_tile, which matters when cin is small. */
static void flat_tile(const conv_args *a, int64_t q, int64_t q1, const float *src[PX],
                      tile_px *t)
{
    const int n = q >= q1 ? 0 : q1 - q < PX ? (int)(q1 - q) : PX;
    t->o.np = n;
    for (int p = 0; p < PX && n; p++) {
        const int64_t qq = q + (p < n ? p : n - 1);
        src[p] = a->in->data + qq * a->in->pstride;
        t->o.dst[p] = a->out->data + qq * a->out->pstride;
        t->o.res[p] = a->res ? a->res->data + qq * a->res->pstride : NULL;
    }
}

/* 1x1 convolutions (any stride) as a GEMM over the pixels of rows [row0, row1), taken 12 at a
 * time across line and image ends, over blocks of weight panels. While a tile runs, the next
 * one's inputs and outputs are prefetched: a tile's scattered pixel streams are more than the
 * hardware prefetchers follow. */
static void conv_pointwise(const conv_args *a, int row0, int row1)
{
    const rf_conv *cv = a->cv;
    const int pb = panels_per_block(a);
    const int linear = cv->stride == 1 && flat(a->in) && flat(a->out) && (!a->res || flat(a->res));
    const int64_t q1 = (int64_t)row1 * a->out->w;
    for (int pan0 = a->pan0; pan0 < a->pan1; pan0 += pb) {
        const int pan1 = pan0 + pb < a->pan1 ? pan0 + pb : a->pan1;
        int img = row0 / a->out->h, y = row0 % a->out->h, x = 0, cur = 0;
        int64_t q = (int64_t)row0 * a->out->w;
        tile_px t[2];
        const float *src[2][PX];
        for (int k = 0; k < 2; k++, q += PX) {
            if (linear) {
                flat_tile(a, q, q1, src[k], &t[k]);
            } else {
                next_tile(a, row1, &img, &y, &x, &t[k]);
                tile_inputs(a, &t[k], src[k]);
            }
        }
        for (; t[cur].o.np; cur ^= 1, q += PX) {
            tile_px *nx = &t[cur ^ 1];
            for (int pan = pan0; pan < pan1; pan++) {
                const float *const *pf = nx->o.np && pan == pan0 ? src[cur ^ 1] : NULL;
                const int b = tile_b(cv->cout, pan, pan1, cv->cin >= WIDE_MIN_CIN);
                for (int k = pan; k <= pan + (b == 4); k++) {
                    prefetch_outputs(a, nx, k);
                    if (linear && a->res)
                        prefetch_residual_far(a, q, q1, k);
                }
                BY_SHAPE(b, pointwise_tile, a, src[cur], &t[cur].o, pan, pf);
                pan += b == 4;
            }
            /* this tile is done: its slot takes the one after next */
            if (linear) {
                flat_tile(a, q, q1, src[cur], &t[cur]);
            } else {
                next_tile(a, row1, &img, &y, &x, &t[cur]);
                tile_inputs(a, &t[cur], src[cur]);
            }
        }
    }
}

/* kh x kw convolutions: the same walk of 12-pixel tiles over blocks of panels. */
static void conv_spatial(const conv_args *a, int row0, int row1)
{
    const rf_conv *cv = a->cv;
    const int pb = panels_per_block(a);
    for (int pan0 = a->pan0; pan0 < a->pan1; pan0 += pb) {
        const int pan1 = pan0 + pb < a->pan1 ? pan0 + pb : a->pan1;
        int img = row0 / a->out->h, y = row0 % a->out->h, x = 0, cur = 0;
        tile_px t[2];
        for (next_tile(a, row1, &img, &y, &x, &t[0]); t[cur].o.np; cur ^= 1) {
            next_tile(a, row1, &img, &y, &x, &t[cur ^ 1]);
            for (int pan = pan0; pan < pan1; pan++) {
                const int b = tile_b(cv->cout, pan, pan1, 1);
                prefetch_outputs(a, &t[cur ^ 1], pan);
                if (b == 4)
                    prefetch_outputs(a, &t[cur ^ 1], pan + 1);
                BY_SHAPE(b, spatial_tile, a, &t[cur], pan);
                pan += b == 4;
            }
        }
    }
}

/* acc + residual, activation, store: the end of a depthwise output vector. */
INLINE void dw_store(__m512 acc, const conv_args *a, int img, int oy, int ox, int c0,
                     __mmask16 m)
{
    if (a->res)
        acc = _mm512_add_ps(acc, _mm512_maskz_loadu_ps(m, pixel_ptr(a->res, img, oy, ox) + c0));
    _mm512_mask_storeu_ps(pixel_ptr(a->out, img, oy, ox) + c0, m, activate(acc, a->act));
}

/* Output pixel ox of a depthwise line, taps outside the input skipped (borders, other sizes). */
static void dw_pixel(const conv_args *a, const float *in_img, int img, int oy, int ox, int c0,
                     __mmask16 m)
{
    const rf_conv *cv = a->cv;
    const rf_tensor *in = a->in;
    const int cp = (cv->cout + 15) & ~15;
    __m512 acc = _mm512_maskz_loadu_ps(m, cv->bias + c0);
    for (int ky = 0; ky < cv->kh; ky++) {
        const int iy = oy * cv->stride - cv->pad + ky;
        if (iy < 0 || iy >= in->h)
            continue;
        for (int kx = 0; kx < cv->kw; kx++) {
            const int ix = ox * cv->stride - cv->pad + kx;
            if (ix < 0 || ix >= in->w)
                continue;
            const float *ip = in_img + ((int64_t)iy * in->w + ix) * in->pstride + c0;
            const float *wp = a->w + (size_t)(ky * cv->kw + kx) * cp + c0;
            acc = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, ip), _mm512_load_ps(wp), acc);
        }
    }
    dw_store(acc, a, img, oy, ox, c0, m);
}

#define DW_PX 4 /* interior pixels per step: independent FMA chains */

/* Pixels [x0, x1) of a 3x3 depthwise line whose taps all lie inside the input row range
 * `rows` (NULL rows are padding): the nine weights of the 16 channels stay in registers. */
static void dw3x3_interior(const conv_args *a, const float *const rows[3], int img, int oy,
                           int x0, int x1, int c0, __mmask16 m)
{
    const rf_conv *cv = a->cv;
    const int s = cv->stride, cp = (cv->cout + 15) & ~15;
    const int64_t ps = a->in->pstride;
    const __m512 bias = _mm512_maskz_loadu_ps(m, cv->bias + c0);
    __m512 w[9];
#pragma GCC unroll 9
    for (int t = 0; t < 9; t++)
        w[t] = _mm512_load_ps(a->w + (size_t)t * cp + c0);
    for (int ox = x0; ox < x1; ox += DW_PX) {
        const int n = x1 - ox < DW_PX ? x1 - ox : DW_PX;
        __m512 acc[DW_PX];
#pragma GCC unroll 4
        for (int j = 0; j < DW_PX; j++)
            acc[j] = bias;
#pragma GCC unroll 3
        for (int ky = 0; ky < 3; ky++) {
            if (!rows[ky])
                continue;
#pragma GCC unroll 4
            for (int j = 0; j < DW_PX; j++) {
                /* a step past x1 recomputes its last pixel rather than read past the row */
                const int x = ox + (j < n ? j : n - 1);
                const float *ip = rows[ky] + (int64_t)(x * s - cv->pad) * ps + c0;
#pragma GCC unroll 3
                for (int kx = 0; kx < 3; kx++)
                    acc[j] = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, ip + kx * ps),
                                             w[ky * 3 + kx], acc[j]);
            }
        }
#pragma GCC unroll 4
        for (int j = 0; j < DW_PX; j++)
            if (j < n)
                dw_store(acc[j], a, img, oy, ox + j, c0, m);
    }
}

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

/* Stride-1 3x3 lines of 8 channels with dense input pixels: a 16-float load holds two
 * neighbouring pixels, so each load and FMA serves two outputs. Pixels [x0, x1) as in
 * dw3x3_interior, in pairs; returns the first pixel left over. */
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
#pragma GCC unroll 4
        for (int j = 0; j < DW_PX; j++)
            acc[j] = bias;
#pragma GCC unroll 3
        for (int ky = 0; ky < 3; ky++) {
            if (!rows[ky])
                continue;
#pragma GCC unroll 4
            for (int j = 0; j < DW_PX; j++) {
                const float *ip = rows[ky] + (int64_t)(ox + 2 * j - 1) * 8;
#pragma GCC unroll 3
                for (int kx = 0; kx < 3; kx++)
                    acc[j] = _mm512_fmadd_ps(_mm512_loadu_ps(ip + kx * 8), w[ky * 3 + kx], acc[j]);
            }
        }
#pragma GCC unroll 4
        for (int j = 0; j < DW_PX; j++)
            dw_store_pair(acc[j], a, img, oy, ox + 2 * j);
    }
    return ox;
}

/* Depthwise: 16 channels at a time along each output line (8-channel stride-1 lines in pixel
 * pairs); 3x3 interiors in registers, the border pixels (and other kernel sizes) tap by tap. */
static void conv_depthwise(const conv_args *a, int row0, int row1)
{
    const rf_conv *cv = a->cv;
    const rf_tensor *in = a->in, *out = a->out;
    const int c = cv->cout, s = cv->stride;
    /* interior [x0, x1): every kx tap inside the input row */
    const int last = in->w - cv->kw + cv->pad;
    int x0 = (cv->pad + s - 1) / s, x1 = last < 0 ? 0 : last / s + 1;
    x0 = x0 < out->w ? x0 : out->w;
    x1 = x1 < out->w ? x1 : out->w;
    if (cv->kh != 3 || cv->kw != 3 || x1 < x0)
        x1 = x0;
    const int pairs = c == 8 && s == 1 && in->pstride == 8;
    for (int r = row0; r < row1; r++) {
        const int img = r / out->h, oy = r % out->h;
        const float *in_img = in->data + img * in->nstride;
        const float *rows[3] = {NULL, NULL, NULL};
        for (int ky = 0; ky < 3 && ky < cv->kh; ky++) {
            const int iy = oy * s - cv->pad + ky;
            if (iy >= 0 && iy < in->h)
                rows[ky] = in_img + (int64_t)iy * in->w * in->pstride;
        }
        for (int c0 = a->ch0; c0 < a->ch1; c0 += 16) {
            const __mmask16 m = lanes(c - c0);
            for (int ox = 0; ox < x0; ox++)
                dw_pixel(a, in_img, img, oy, ox, c0, m);
            const int xp = pairs ? dw3x3_pairs(a, rows, img, oy, x0, x1) : x0;
            if (xp < x1)
                dw3x3_interior(a, rows, img, oy, xp, x1, c0, m);
            for (int ox = x1; ox < out->w; ox++)
                dw_pixel(a, in_img, img, oy, ox, c0, m);
        }
    }
}

/* Winograd F(4x4, 3x3): each 4x4 block of output pixels ("tile") is computed from the 6x6
 * input patch around it as Y = A^T [sum over cin of (G g G^T) . (B^T d B)] A. The 36
 * element-wise products summed over input channels are 36 GEMMs (tiles x cin by cin x cout),
 * run with the same register tiles as the direct convolution, 12 tiles at a time; the
 * transforms run 16 channels at a time. Tiles go in blocks whose transformed inputs V and
 * products M stay in the L2 cache: [36][tiles of the block][channels] each. */

#define WINO_N 36
#define WINO_MAX_TILES (8 * PX)

typedef struct {
    int img, ty, tx;
} wino_tile;

/* B^T d for d = 6 points along one axis (interpolation points 0, 1, -1, 1/2, -2 and
 * infinity: about half the float32 error of the usual 0, 1, -1, 2, -2). */
INLINE void wino_bt(const __m512 d[6], __m512 r[6])
{
    const __m512 e = _mm512_sub_ps(d[3], d[1]), c = _mm512_sub_ps(d[4], d[2]);
    const __m512 m2 = _mm512_set1_ps(-2.0f), half = _mm512_set1_ps(0.5f);
    const __m512 h3 = _mm512_set1_ps(1.5f), h5 = _mm512_set1_ps(2.5f);
    r[0] = _mm512_fmadd_ps(h3, e, _mm512_fmadd_ps(m2, d[2], _mm512_add_ps(d[0], d[4])));
    r[1] = _mm512_fmadd_ps(h5, d[3], _mm512_fmadd_ps(half, d[2], _mm512_sub_ps(d[4], d[1])));
    r[2] = _mm512_fmadd_ps(half, d[3], _mm512_fnmadd_ps(h5, d[2], _mm512_add_ps(d[4], d[1])));
    r[3] = _mm512_fmadd_ps(_mm512_set1_ps(2.0f), e, c);
    r[4] = _mm512_fnmadd_ps(half, e, c);
    r[5] = _mm512_fmadd_ps(h3, c, _mm512_fmadd_ps(m2, d[3], _mm512_add_ps(d[1], d[5])));
}

/* A^T m: 6 transformed points back to 4 outputs along one axis. */
INLINE void wino_at(const __m512 m[6], __m512 y[4])
{
    const __m512 p = _mm512_add_ps(m[1], m[2]), q = _mm512_sub_ps(m[1], m[2]);
    const __m512 h = _mm512_set1_ps(0.5f), q4 = _mm512_set1_ps(0.25f), e8 = _mm512_set1_ps(0.125f);
    y[0] = _mm512_add_ps(_mm512_add_ps(m[0], p), _mm512_add_ps(m[3], m[4]));
    y[1] = _mm512_fmadd_ps(h, m[3], _mm512_fmadd_ps(_mm512_set1_ps(-2.0f), m[4], q));
    y[2] = _mm512_fmadd_ps(q4, m[3], _mm512_fmadd_ps(_mm512_set1_ps(4.0f), m[4], p));
    y[3] = _mm512_fmadd_ps(e8, m[3],
                          _mm512_fmadd_ps(_mm512_set1_ps(-8.0f), m[4], _mm512_add_ps(q, m[5])));
}

/* V[xi][slot] = B^T d B of tile t for all input channels; inputs outside the image are 0. */
static void wino_input(const conv_args *a, const wino_tile *t, float *v, int64_t plane,
                       int slot, int cstride)
{
    const rf_tensor *in = a->in;
    const int cin = a->cv->cin, y0 = 4 * t->ty - 1, x0 = 4 * t->tx - 1;
    const float *img = in->data + t->img * in->nstride;
    const float *px[6][6];
    __mmask16 ok[6][6];
    for (int i = 0; i < 6; i++)
        for (int j = 0; j < 6; j++) {
            const int iy = y0 + i, ix = x0 + j;
            const int inside = iy >= 0 && iy < in->h && ix >= 0 && ix < in->w;
            ok[i][j] = inside ? 0xffff : 0;
            px[i][j] = inside ? img + ((int64_t)iy * in->w + ix) * in->pstride : img;
        }
    for (int c0 = 0; c0 < cin; c0 += 16) {
        const __mmask16 m = lanes(cin - c0);
        __m512 tmp[6][6];
        for (int i = 0; i < 6; i++) {
            __m512 d[6];
#pragma GCC unroll 6
            for (int j = 0; j < 6; j++)
                d[j] = _mm512_maskz_loadu_ps(m & ok[i][j], px[i][j] + c0);
            wino_bt(d, tmp[i]);
        }
        float *dst = v + (int64_t)slot * cstride + c0;
#pragma GCC unroll 6
        for (int j = 0; j < 6; j++) {
            __m512 col[6], r[6];
#pragma GCC unroll 6
            for (int i = 0; i < 6; i++)
                col[i] = tmp[i][j];
            wino_bt(col, r);
#pragma GCC unroll 6
            for (int i = 0; i < 6; i++)
                _mm512_store_ps(dst + (i * 6 + j) * plane, r[i]);
        }
    }
}

/* M[xi][slots] (+)= V[xi][slots][k0, k0 + len) x U for the TILE_PX(B) slots from s0 (n of them
 * exist): wa holds U's rows for the channels from k0, PANEL_W(B) floats each, wstride apart,
 * and wa + wb_off those of the second panel (B = 3, 4). With acc_in the sums start from M,
 * else from zero. */
INLINE void wino_gemm_run(int B, const float *v, float *mm, int64_t vplane, int64_t mplane,
                          int xi, int s0, int n, int cstride_in, int cstride_out, int panel,
                          const float *wa, int64_t wb_off, int64_t wstride, int k0, int len,
                          int acc_in)
{
    const float *src[PX];
    for (int p = 0; p < TILE_PX(B); p++)
        src[p] = v + xi * vplane + (int64_t)(s0 + (p < n ? p : n - 1)) * cstride_in + k0;
    float *dst = mm + xi * mplane + (int64_t)s0 * cstride_out + panel * RF_PACK_PANEL;
    __m512 acc[TILE_REGS];
#pragma GCC unroll 24
    for (int i = 0; i < TILE_REGS; i++)
        acc[i] = _mm512_setzero_ps();
    if (acc_in) {
#pragma GCC unroll 12
        for (int p = 0; p < PX; p++) {
            if (p >= TILE_PX(B) || p >= n)
                break;
            for (int b = 0; b < NVEC(B); b++)
                acc[p * NVEC(B) + b] = _mm512_load_ps(dst + (int64_t)p * cstride_out + 16 * b);
        }
    }
    run_fma(acc, B, src, wa, wa + wb_off, wstride, len, NULL);
#pragma GCC unroll 12
    for (int p = 0; p < PX; p++) {
        if (p >= TILE_PX(B) || p >= n)
            break;
        for (int b = 0; b < NVEC(B); b++)
            _mm512_store_ps(dst + (int64_t)p * cstride_out + 16 * b, acc[p * NVEC(B) + b]);
    }
}

/* The same for slots [s0, s0 + n), n <= PX, TILE_PX(B) at a time; a wide tile's last few slots
 * take the half-height shape (with two threads, blocks of 10 or 20 tiles are common). */
INLINE void wino_gemm_tile(int B, const float *v, float *mm, int64_t vplane, int64_t mplane,
                           int xi, int s0, int n, int cstride_in, int cstride_out, int panel,
                           const float *wa, int64_t wb_off, int64_t wstride, int k0, int len,
                           int acc_in)
{
    for (int p0 = 0; p0 < n; p0 += TILE_PX(B)) {
        if (B == 4 && n - p0 <= TILE_PX(3))
            wino_gemm_run(3, v, mm, vplane, mplane, xi, s0 + p0, n - p0, cstride_in,
                          cstride_out, panel, wa, wb_off, wstride, k0, len, acc_in);
        else
            wino_gemm_run(B, v, mm, vplane, mplane, xi, s0 + p0, n - p0, cstride_in,
                          cstride_out, panel, wa, wb_off, wstride, k0, len, acc_in);
    }
}

/* Y = A^T M A of tile t + bias (+ residual), activated, stored where the tile's pixels lie
 * inside the output and inside rows [row0, row1). */
static void wino_output(const conv_args *a, const wino_tile *t, const float *mm, int64_t plane,
                        int slot, int cstride, int row0, int row1)
{
    const rf_tensor *out = a->out;
    const int cout = a->cv->cout;
    int rows = 0, cols = out->w - 4 * t->tx < 4 ? out->w - 4 * t->tx : 4;
    int first = 0;
    for (int i = 0; i < 4; i++) {
        const int oy = 4 * t->ty + i, r = t->img * out->h + oy;
        if (oy < out->h && r >= row0 && r < row1) {
            if (!rows)
                first = i;
            rows++;
        }
    }
    for (int c0 = a->ch0; c0 < a->ch1; c0 += 16) {
        const __mmask16 m = lanes(cout - c0);
        const float *src = mm + (int64_t)slot * cstride + c0;
        __m512 tmp[4][6];
#pragma GCC unroll 6
        for (int j = 0; j < 6; j++) {
            __m512 col[6], y[4];
#pragma GCC unroll 6
            for (int i = 0; i < 6; i++)
                col[i] = _mm512_load_ps(src + (i * 6 + j) * plane);
            wino_at(col, y);
#pragma GCC unroll 4
            for (int i = 0; i < 4; i++)
                tmp[i][j] = y[i];
        }
        const __m512 bias = _mm512_maskz_loadu_ps(m, a->cv->bias + c0);
        for (int i = first; i < first + rows; i++) {
            __m512 y[4];
            wino_at(tmp[i], y);
            const int oy = 4 * t->ty + i;
            for (int j = 0; j < cols; j++) {
                const int ox = 4 * t->tx + j;
                __m512 v = _mm512_add_ps(y[j], bias);
                if (a->res)
                    v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(
                                             m, pixel_ptr(a->res, t->img, oy, ox) + c0));
                if (a->stream && m == 0xffff)
                    _mm512_stream_ps(pixel_ptr(out, t->img, oy, ox) + c0, activate(v, a->act));
                else
                    _mm512_mask_storeu_ps(pixel_ptr(out, t->img, oy, ox) + c0, m,
                                          activate(v, a->act));
            }
        }
    }
}

/* Tiles per block: V and M of a block within about 3/4 of the L2 cache, 12 at least. */
static int wino_block_tiles(int cin_pad, int cout_pad)
{
    const int64_t budget = 768 * 1024 / (int64_t)sizeof(float);
    int64_t n = budget / ((int64_t)WINO_N * (cin_pad + cout_pad)) / PX * PX;
    return n < PX ? PX : n > WINO_MAX_TILES ? WINO_MAX_TILES : (int)n;
}

/* The next block of at most tb tiles of rows [.., row1), from tile (*img, *ty, *tx) on, in
 * order (image, tile row, tile column); returns how many. */
static int next_block(const rf_tensor *out, int row1, int tb, int *img, int *ty, int *tx,
                      wino_tile *tiles)
{
    const int tw = (out->w + 3) / 4, th = (out->h + 3) / 4;
    int n = 0;
    while (n < tb && *img < out->n && *img * out->h + 4 * *ty < row1) {
        tiles[n++] = (wino_tile){*img, *ty, *tx};
        if (++*tx == tw) {
            *tx = 0;
            if (++*ty == th) {
                *ty = 0;
                ++*img;
            }
        }
    }
    return n;
}

/* Rows [row0, row1) through the tiles whose 4 rows meet them (a tile row at either end may
 * be shared with the neighbouring call, which stores the other rows). */
static void conv_winograd(const conv_args *a, int row0, int row1)
{
    const rf_tensor *out = a->out;
    const int cin = a->cv->cin, npanels = (a->cv->cout + RF_PACK_PANEL - 1) / RF_PACK_PANEL;
    const int cin_pad = (cin + 15) & ~15, cout_pad = npanels * RF_PACK_PANEL;
    const int tb = wino_block_tiles(cin_pad, cout_pad);
    const int64_t vplane = (int64_t)tb * cin_pad, mplane = (int64_t)tb * cout_pad;
    float *v = a->scratch;
    float *mm = v + vplane * WINO_N;
    int img = row0 / out->h, ty = (row0 % out->h) / 4, tx = 0, n;
    wino_tile tiles[WINO_MAX_TILES];
    while ((n = next_block(out, row1, tb, &img, &ty, &tx, tiles)) > 0) {
        for (int k = 0; k < n; k++)
            wino_input(a, &tiles[k], v, vplane, k, cin_pad);
        for (int xi = 0; xi < WINO_N; xi++)
            for (int s0 = 0; s0 < n; s0 += PX) {
                const int cnt = n - s0 < PX ? n - s0 : PX;
                for (int pan = a->pan0; pan < a->pan1; pan++) {
                    /* M is stored 16 channels at a time: no 8-channel tiles */
                    const int b = tile_b(a->cv->cout, pan, a->pan1, 1);
                    const int width = b >= 2 ? PANEL_W(2) : PANEL_W(1);
                    const float *w = a->w + pan * a->panel_floats + (size_t)xi * cin * width;
                    BY_SHAPE(b ? b : 1, wino_gemm_tile, v, mm, vplane, mplane, xi, s0, cnt,
                             cin_pad, cout_pad, pan, w, a->panel_floats, width, 0, cin, 0);
                    pan += b == 4;
                }
            }
        for (int k = 0; k < n; k++)
            wino_output(a, &tiles[k], mm, mplane, k, cout_pad, row0, row1);
    }
}

/* G g for the 3 taps g0, g1, g2 along one axis of a 3x3 kernel: the 6 rows of F(4x4, 3x3)'s G
 * (interpolation points 0, 1, -1, 1/2, -2 and infinity, as in rf_pack_simd). */
INLINE void wino_g(__m512 g0, __m512 g1, __m512 g2, __m512 r[6])
{
    const __m512 third = _mm512_set1_ps(1.0f / 3), s = _mm512_add_ps(g0, g2);
    r[0] = g0;
    r[1] = _mm512_mul_ps(_mm512_add_ps(s, g1), third);
    r[2] = _mm512_mul_ps(_mm512_sub_ps(g1, s), third);
    r[3] = _mm512_fmadd_ps(_mm512_set1_ps(-16.0f / 15), g0,
                           _mm512_fmadd_ps(_mm512_set1_ps(-8.0f / 15), g1,
                                           _mm512_mul_ps(_mm512_set1_ps(-4.0f / 15), g2)));
    r[4] = _mm512_fmadd_ps(_mm512_set1_ps(1.0f / 15), g0,
                           _mm512_fmadd_ps(_mm512_set1_ps(-2.0f / 15), g1,
                                           _mm512_mul_ps(_mm512_set1_ps(4.0f / 15), g2)));
    r[5] = g2;
}

/* U[k][xi] = (G g G^T)[xi] for input channels [c0, c0 + kc) of a panel of 3x3 kernels (panel:
 * [9][cin][width] as packed), width floats per row. k outer: the 36 rows of a channel are
 * stored together; as [xi][k], 36 store streams a power of two apart thrashed the L1 cache and
 * took 3x as long. */
static void wino_weights(const float *panel, int cin, int c0, int kc, int width, float *u)
{
    for (int k = 0; k < kc; k++)
        for (int c = 0; c < width; c += 16) {
            __m512 t[3][6]; /* t[x][i] = (G g)[i][x] */
            for (int x = 0; x < 3; x++) {
                const float *g = panel + ((size_t)x * cin + c0 + k) * width + c;
                const size_t row = (size_t)3 * cin * width; /* taps y and y + 1 */
                wino_g(_mm512_load_ps(g), _mm512_load_ps(g + row), _mm512_load_ps(g + 2 * row),
                       t[x]);
            }
#pragma GCC unroll 6
            for (int i = 0; i < 6; i++) {
                __m512 r[6];
                wino_g(t[0][i], t[1][i], t[2][i], r);
#pragma GCC unroll 6
                for (int j = 0; j < 6; j++)
                    _mm512_store_ps(u + ((size_t)k * WINO_N + i * 6 + j) * width + c, r[j]);
            }
        }
}

/* Winograd from 3x3 panels (RF_PACK_WINOGRAD_3X3): for each panel (pair) and each run of
 * WINO_KC input channels, the kernels are transformed into U in the scratch, then multiplied
 * with every tile of the block, the sums carried in M from one run to the next. Blocks are as
 * large as the scratch allows and evenly filled: each block transforms the kernels again. */
#define WINO_KC 64
#define WINO_3X3_BUDGET ((int64_t)4 << 20) /* bytes of V and M */

static int wino_3x3_block_tiles(int cin_pad, int cout_pad)
{
    const int64_t n = WINO_3X3_BUDGET / (int64_t)sizeof(float) / (WINO_N * (cin_pad + cout_pad));
    return n < 1 ? 1 : n > WINO_MAX_TILES ? WINO_MAX_TILES : (int)n;
}

static void conv_winograd_3x3(const conv_args *a, int row0, int row1)
{
    const rf_tensor *out = a->out;
    const int cin = a->cv->cin, npanels = (a->cv->cout + RF_PACK_PANEL - 1) / RF_PACK_PANEL;
    const int cin_pad = (cin + 15) & ~15, cout_pad = npanels * RF_PACK_PANEL;
    const int tw = (out->w + 3) / 4, th = (out->h + 3) / 4;
    int img = row0 / out->h, ty = (row0 % out->h) / 4, tx = 0, n;
    /* every tile of the call, in the fewest blocks of equal size */
    const int last = (row1 - 1) / out->h * th + ((row1 - 1) % out->h) / 4;
    const int total = (last - (img * th + ty) + 1) * tw;
    const int most = wino_3x3_block_tiles(cin_pad, cout_pad);
    const int blocks = (total + most - 1) / most, tb = (total + blocks - 1) / blocks;
    const int64_t vplane = (int64_t)tb * cin_pad, mplane = (int64_t)tb * cout_pad;
    float *v = a->scratch;
    float *mm = v + vplane * WINO_N;
    float *u = mm + mplane * WINO_N;
    const int64_t u_panel = (int64_t)WINO_N * WINO_KC * RF_PACK_PANEL;
    wino_tile tiles[WINO_MAX_TILES];
    while ((n = next_block(out, row1, tb, &img, &ty, &tx, tiles)) > 0) {
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

size_t rf_conv_scratch_avx512(const rf_conv *conv)
{
    const rf_packed *pk = conv->packed;
    const int cin_pad = (conv->cin + 15) & ~15;
    const int cout_pad = (conv->cout + RF_PACK_PANEL - 1) / RF_PACK_PANEL * RF_PACK_PANEL;
    if (pk && pk->layout == RF_PACK_WINOGRAD_3X3)
        return (size_t)wino_3x3_block_tiles(cin_pad, cout_pad) * (size_t)(cin_pad + cout_pad) *
                   WINO_N +
               (size_t)2 * WINO_N * WINO_KC * RF_PACK_PANEL;
    if (!pk || pk->layout != RF_PACK_WINOGRAD)
        return 0;
    return (size_t)wino_block_tiles(cin_pad, cout_pad) * (size_t)(cin_pad + cout_pad) * WINO_N;
}

int rf_conv_per_call_weights_avx512(const rf_conv *conv)
{
    const rf_packed *pk = conv->packed;
    return pk && pk->layout == RF_PACK_WINOGRAD_3X3;
}

/* Outputs of convolutions with long sums (at least STREAM_MIN_SUM multiply-adds per output)
 * on maps of STREAM_MIN_BYTES or more go straight to memory with non-temporal stores: they
 * skip reading each line before writing it and leave the caches to the weights and inputs,
 * which these layers reuse. Short sums are memory-bound layers whose outputs the next layer should
 * find in the cache. An output written over its own residual has had each line read already:
 * plain stores are cheaper there (ResNet50's bottleneck conv3 layers: 4-6 ms less per frame at
 * 1 thread). Winograd layers stream too (ResNet50: 1.4 % less at 1 thread). Measured on
 * ResNet50 and MobileNet0.25. Needs 64-byte aligned pixels. */
#define STREAM_MIN_BYTES ((size_t)2 << 20)
#define STREAM_MIN_SUM 64

static int streams_output(const rf_conv *conv, const rf_tensor *residual, const rf_tensor *out)
{
    if (residual && residual->data == out->data)
        return 0;
    const size_t bytes = (size_t)out->n * (size_t)out->nstride * sizeof(float);
    return conv->groups == 1 && conv->kh * conv->kw * conv->cin >= STREAM_MIN_SUM &&
           bytes >= STREAM_MIN_BYTES && out->pstride % 16 == 0 && out->nstride % 16 == 0 &&
           ((uintptr_t)out->data & 63) == 0;
}

void rf_conv_avx512(const rf_conv *conv, const rf_tensor *in, const rf_tensor *residual,
                    rf_act act, const rf_tensor *out, rf_conv_part part, float *scratch)
{
    const rf_packed *pk = conv->packed;
    const int row0 = part.row0, row1 = part.row1;
    conv_args a = {conv,
                   in,
                   residual,
                   out,
                   act,
                   rf_packed_weights(conv),
                   rf_pack_panel_floats(conv),
                   scratch,
                   part.ch0 / RF_PACK_PANEL,
                   (part.ch1 + RF_PACK_PANEL - 1) / RF_PACK_PANEL,
                   part.ch0,
                   part.ch1,
                   streams_output(conv, residual, out)};
    if (pk->layout == RF_PACK_DEPTHWISE)
        conv_depthwise(&a, row0, row1);
    else if (pk->layout == RF_PACK_WINOGRAD)
        conv_winograd(&a, row0, row1);
    else if (pk->layout == RF_PACK_WINOGRAD_3X3)
        conv_winograd_3x3(&a, row0, row1);
    else if (conv->kh == 1 && conv->kw == 1 && conv->pad == 0)
        conv_pointwise(&a, row0, row1);
    else
        conv_spatial(&a, row0, row1);
    if (a.stream)
        _mm_sfence(); /* streamed stores are weakly ordered: done before the caller says so */
    /* Callers are plain SSE code: with the upper halves of the vector registers left dirty,
     * each of their instructions pays a state merge (3x slower post-processing, measured). The
     * compiler leaves this to us here because the kernels above return without it. */
    _mm256_zeroupper();
}

void rf_max_taps_avx512(const float *const *taps, int n, int c, float *dst)
{
    for (int c0 = 0; c0 < c; c0 += 16) {
        const __mmask16 m = lanes(c - c0);
        __m512 v = _mm512_set1_ps(-FLT_MAX);
        for (int t = 0; t < n; t++)
            v = _mm512_max_ps(v, _mm512_maskz_loadu_ps(m, taps[t] + c0));
        _mm512_mask_storeu_ps(dst + c0, m, v);
    }
    _mm256_zeroupper();
}

/* Twelve independent chains keep both FMA pipes busy through their latency; unrolled, they
 * live in registers. Distinct starting values stop the compiler from merging equal chains. */
double rf_fma_peak_avx512(void)
{
    const __m512 a = _mm512_set1_ps(0.5f), b = _mm512_set1_ps(0.25f);
    __m512 c[12];
    for (int i = 0; i < 12; i++)
        c[i] = _mm512_set1_ps((float)i);
    const long rounds = 1L << 21;
    const double t0 = rf_kernel_seconds();
    for (long r = 0; r < rounds; r++) {
#pragma GCC unroll 12
        for (int i = 0; i < 12; i++)
            c[i] = _mm512_fmadd_ps(c[i], a, b);
    }
    const double seconds = rf_kernel_seconds() - t0;
    for (int i = 1; i < 12; i++)
        c[0] = _mm512_add_ps(c[0], c[i]);
    float lanes[16];
    _mm512_storeu_ps(lanes, c[0]);
    /* the sum feeds the result so the loop cannot be dropped */
    return 2.0 * 16 * 12 * rounds / seconds / 1e9 + 0.0 * lanes[0];
}
