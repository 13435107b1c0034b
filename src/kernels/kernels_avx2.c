/* kernels_avx2.c - AVX2+FMA convolutions over NHWC tensors and the packed weights of kernels.h:
 * register tiles of 5 output pixels x 16 channels (1x1 as a GEMM, kh x kw without im2col),
 * Winograd F(4x4, 3x3) for stride-1 3x3, depthwise 3x3 vectorised over channels. */
#include "kernels/kernels.h"

#include <float.h>
#include <immintrin.h>

#define PX 5 /* output pixels per tile: 5 x 2 accumulators + 2 weights + 1 input, no spills */

/* Taps in the zero padding read from here. */
static const float zeros[RF_PACK_ZERO_RUN];

typedef struct {
    const rf_conv *cv;
    const rf_tensor *in, *res, *out;
    rf_act act;
    const float *w; /* packed weights */
    int64_t panel_floats;
    float *scratch; /* the calling thread's, scratch_floats of this kernel set */
    int pan0, pan1; /* the panels of the call's channels [ch0, ch1) */
    int ch0, ch1;
} conv_args;

/* Where a tile's outputs go: pixel p writes dst[p] (and adds res[p]) for p < np. */
typedef struct {
    float *dst[PX];
    const float *res[PX];
    int np;
} tile_out;

/* 16 output channels of a panel: where their weights start, the panel's row length, and which
 * of them exist (lane masks of the two 8-channel halves). */
typedef struct {
    const float *w;
    int width;
    int c0;
    __m256i m[2];
} half_panel;

#define INLINE static inline __attribute__((always_inline))

/* acc[p][b] += src[p][k] * w[k][8b..8b+7] for k < len; w rows are `width` floats. With pf, the
 * same stretch of pf[p] is fetched into the cache for the next tile; the sums live in a local
 * copy (both as in kernels_avx512.c). */
INLINE void run_fma(__m256 acc[PX][2], const float *const src[PX], const float *w, int width,
                    int len, const float *const *pf)
{
    __m256 r[PX][2];
#pragma GCC unroll 5
    for (int p = 0; p < PX; p++)
        r[p][0] = acc[p][0], r[p][1] = acc[p][1];
    for (int k0 = 0; k0 < len; k0 += 16) {
        const int k1 = k0 + 16 < len ? k0 + 16 : len;
        if (pf) {
#pragma GCC unroll 5
            for (int p = 0; p < PX; p++)
                _mm_prefetch((const char *)(pf[p] + k0), _MM_HINT_T0);
        }
        for (int k = k0; k < k1; k++) {
            const __m256 w0 = _mm256_load_ps(w + (size_t)k * width);
            const __m256 w1 = _mm256_load_ps(w + (size_t)k * width + 8);
#pragma GCC unroll 5
            for (int p = 0; p < PX; p++) {
                const __m256 x = _mm256_broadcast_ss(src[p] + k);
                r[p][0] = _mm256_fmadd_ps(x, w0, r[p][0]);
                r[p][1] = _mm256_fmadd_ps(x, w1, r[p][1]);
            }
        }
    }
#pragma GCC unroll 5
    for (int p = 0; p < PX; p++)
        acc[p][0] = r[p][0], acc[p][1] = r[p][1];
}

INLINE __m256 activate(__m256 v, rf_act act)
{
    if (act.kind == RF_ACT_RELU)
        return _mm256_max_ps(v, _mm256_setzero_ps());
    if (act.kind == RF_ACT_LEAKY)
        return _mm256_blendv_ps(v, _mm256_mul_ps(v, _mm256_set1_ps(act.slope)),
                                _mm256_cmp_ps(v, _mm256_setzero_ps(), _CMP_LT_OQ));
    return v;
}

/* Lane mask of the first n (clamped to 0..8) lanes. */
static __m256i lanes(int n)
{
    const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), idx);
}

/* Half h (channels 16h .. 16h + 15) of panel `panel`, or 0 when it has no channels. */
static int half_of(const conv_args *a, int panel, int h, half_panel *hp)
{
    const int cout = a->cv->cout, first = panel * RF_PACK_PANEL;
    const int n = cout - first - 16 * h;
    if (n <= 0)
        return 0;
    hp->width = cout - first > 16 ? 32 : 16;
    hp->w = a->w + panel * a->panel_floats + 16 * h;
    hp->c0 = first + 16 * h;
    hp->m[0] = lanes(n);
    hp->m[1] = lanes(n - 8);
    return 1;
}

INLINE void init_acc(__m256 acc[PX][2], const float *bias, const half_panel *hp)
{
#pragma GCC unroll 2
    for (int b = 0; b < 2; b++) {
        const __m256 v = _mm256_maskload_ps(bias + hp->c0 + 8 * b, hp->m[b]);
#pragma GCC unroll 5
        for (int p = 0; p < PX; p++)
            acc[p][b] = v;
    }
}

INLINE void store_pixel(const __m256 acc[2], float *dst, const float *res, const half_panel *hp,
                        rf_act act)
{
#pragma GCC unroll 2
    for (int b = 0; b < 2; b++) {
        const int c = hp->c0 + 8 * b;
        __m256 v = acc[b];
        if (res)
            v = _mm256_add_ps(v, _mm256_maskload_ps(res + c, hp->m[b]));
        _mm256_maskstore_ps(dst + c, hp->m[b], activate(v, act));
    }
}

/* + residual, activation, masked store; constant indices (p < np tested per pixel) keep acc
 * in registers. */
INLINE void store_tile(__m256 acc[PX][2], const tile_out *o, const half_panel *hp, rf_act act)
{
#pragma GCC unroll 5
    for (int p = 0; p < PX; p++)
        if (p < o->np)
            store_pixel(acc[p], o->dst[p], o->res[p], hp, act);
}

static void pointwise_tile(const conv_args *a, const float *const src[PX], const tile_out *o,
                           const half_panel *hp, const float *const *pf)
{
    __m256 acc[PX][2];
    init_acc(acc, a->cv->bias, hp);
    run_fma(acc, src, hp->w, hp->width, a->cv->cin, pf);
    store_tile(acc, o, hp, a->act);
}

/* Pixels x0 .. x0 + o->np - 1 of output line oy: taps outside the input read zeros; a kernel
 * row whose taps are all inside reads as one run of kw * cin floats when pixels are dense. */
static void spatial_tile(const conv_args *a, const float *in_img, int oy, int x0,
                         const tile_out *o, const half_panel *hp)
{
    const rf_conv *cv = a->cv;
    const rf_tensor *in = a->in;
    const int s = cv->stride, cin = cv->cin, kw = cv->kw, np = o->np;
    const int64_t ps = in->pstride;
    const int ix0 = x0 * s - cv->pad;
    const int interior = ix0 >= 0 && ix0 + (np - 1) * s + kw <= in->w;
    __m256 acc[PX][2];
    init_acc(acc, cv->bias, hp);
    const float *src[PX];
    for (int ky = 0; ky < cv->kh; ky++) {
        const int iy = oy * s - cv->pad + ky;
        if (iy < 0 || iy >= in->h)
            continue;
        const float *row = in_img + (int64_t)iy * in->w * ps;
        const float *wrow = hp->w + (size_t)ky * kw * cin * hp->width;
        if (interior && ps == cin) {
            for (int p = 0; p < PX; p++)
                src[p] = row + (ix0 + (p < np ? p : np - 1) * s) * ps;
            run_fma(acc, src, wrow, hp->width, kw * cin, NULL);
            continue;
        }
        for (int kx = 0; kx < kw; kx++)
            for (int c0 = 0; c0 < cin; c0 += RF_PACK_ZERO_RUN) {
                const int len = cin - c0 < RF_PACK_ZERO_RUN ? cin - c0 : RF_PACK_ZERO_RUN;
                for (int p = 0; p < PX; p++) {
                    const int ix = ix0 + (p < np ? p : np - 1) * s + kx;
                    src[p] = ix >= 0 && ix < in->w ? row + ix * ps + c0 : zeros;
                }
                run_fma(acc, src, wrow + ((size_t)kx * cin + c0) * hp->width, hp->width, len,
                        NULL);
            }
    }
    store_tile(acc, o, hp, a->act);
}

/* Panels whose weights together stay within about half the L2 cache. */
static int panels_per_block(const conv_args *a)
{
    const int64_t n = 256 * 1024 / (int64_t)sizeof(float) / a->panel_floats;
    return n < 1 ? 1 : (int)n;
}

static float *pixel_ptr(const rf_tensor *t, int img, int y, int x)
{
    return t->data + img * t->nstride + ((int64_t)y * t->w + x) * t->pstride;
}

/* A pointwise tile: its pixels' inputs and outputs. */
typedef struct {
    const float *src[PX];
    tile_out o;
} pw_tile;

/* 1x1 convolutions as a GEMM over the pixels of rows [row0, row1), 6 at a time across line
 * and image ends; the next tile's inputs and outputs are prefetched while one runs. */
static void conv_pointwise(const conv_args *a, int row0, int row1)
{
    const rf_tensor *out = a->out, *in = a->in;
    const int s = a->cv->stride;
    const int pb = panels_per_block(a);
    const int64_t q0 = (int64_t)row0 * out->w, q1 = (int64_t)row1 * out->w;
    for (int pan0 = a->pan0; pan0 < a->pan1; pan0 += pb) {
        const int pan1 = pan0 + pb < a->pan1 ? pan0 + pb : a->pan1;
        /* the pixel the next tile starts at, walked without divisions */
        int img = row0 / out->h, y = row0 % out->h, x = 0;
        pw_tile t[2];
        int cur = 0;
        /* one step past the end: the last tile runs with no next one */
        for (int64_t q = q0; q < q1 + PX; q += PX, cur ^= 1) {
            pw_tile *nx = &t[cur ^ 1];
            nx->o.np = q >= q1 ? 0 : q1 - q < PX ? (int)(q1 - q) : PX;
            for (int p = 0; p < nx->o.np; p++) {
                nx->src[p] = pixel_ptr(in, img, y * s, x * s);
                nx->o.dst[p] = pixel_ptr(out, img, y, x);
                nx->o.res[p] = a->res ? pixel_ptr(a->res, img, y, x) : NULL;
                if (++x == out->w) {
                    x = 0;
                    if (++y == out->h) {
                        y = 0;
                        img++;
                    }
                }
            }
            for (int p = nx->o.np; p < PX && nx->o.np; p++)
                nx->src[p] = nx->src[nx->o.np - 1];
            if (q == q0)
                continue;
            const pw_tile *c = &t[cur];
            half_panel hp;
            for (int pan = pan0; pan < pan1; pan++)
                for (int h = 0; h < 2 && half_of(a, pan, h, &hp); h++) {
                    for (int p = 0; p < nx->o.np; p++)
                        __builtin_prefetch(nx->o.dst[p] + hp.c0, 1, 3);
                    pointwise_tile(a, c->src, &c->o, &hp,
                                   nx->o.np && pan == pan0 && h == 0 ? nx->src : NULL);
                }
        }
    }
}

static void conv_spatial(const conv_args *a, int row0, int row1)
{
    const rf_tensor *out = a->out;
    const int pb = panels_per_block(a);
    for (int pan0 = a->pan0; pan0 < a->pan1; pan0 += pb) {
        const int pan1 = pan0 + pb < a->pan1 ? pan0 + pb : a->pan1;
        for (int r = row0; r < row1; r++) {
            const int img = r / out->h, oy = r % out->h;
            const float *in_img = a->in->data + img * a->in->nstride;
            for (int x0 = 0; x0 < out->w; x0 += PX) {
                tile_out o;
                o.np = out->w - x0 < PX ? out->w - x0 : PX;
                for (int p = 0; p < o.np; p++) {
                    o.dst[p] = pixel_ptr(out, img, oy, x0 + p);
                    o.res[p] = a->res ? pixel_ptr(a->res, img, oy, x0 + p) : NULL;
                }
                half_panel hp;
                for (int pan = pan0; pan < pan1; pan++)
                    for (int h = 0; h < 2 && half_of(a, pan, h, &hp); h++)
                        spatial_tile(a, in_img, oy, x0, &o, &hp);
            }
        }
    }
}

/* acc + residual, activation, store: the end of a depthwise output vector. */
INLINE void dw_store(__m256 acc, const conv_args *a, int img, int oy, int ox, int c0, __m256i m)
{
    if (a->res)
        acc = _mm256_add_ps(acc, _mm256_maskload_ps(pixel_ptr(a->res, img, oy, ox) + c0, m));
    _mm256_maskstore_ps(pixel_ptr(a->out, img, oy, ox) + c0, m, activate(acc, a->act));
}

/* Output pixel ox of a depthwise line, taps outside the input skipped (borders, other sizes). */
static void dw_pixel(const conv_args *a, const float *in_img, int img, int oy, int ox, int c0,
                     __m256i m)
{
    const rf_conv *cv = a->cv;
    const rf_tensor *in = a->in;
    const int cp = (cv->cout + 15) & ~15;
    __m256 acc = _mm256_maskload_ps(cv->bias + c0, m);
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
            acc = _mm256_fmadd_ps(_mm256_maskload_ps(ip, m), _mm256_load_ps(wp), acc);
        }
    }
    dw_store(acc, a, img, oy, ox, c0, m);
}

#define DW_PX 2 /* interior pixels per step: independent FMA chains within 16 registers */

/* Pixels [x0, x1) of a 3x3 depthwise line whose taps all lie inside the input row range
 * `rows` (NULL rows are padding): the nine weights of the 8 channels stay in registers. */
static void dw3x3_interior(const conv_args *a, const float *const rows[3], int img, int oy,
                           int x0, int x1, int c0, __m256i m)
{
    const rf_conv *cv = a->cv;
    const int s = cv->stride, cp = (cv->cout + 15) & ~15;
    const int64_t ps = a->in->pstride;
    const __m256 bias = _mm256_maskload_ps(cv->bias + c0, m);
    __m256 w[9];
#pragma GCC unroll 9
    for (int t = 0; t < 9; t++)
        w[t] = _mm256_load_ps(a->w + (size_t)t * cp + c0);
    for (int ox = x0; ox < x1; ox += DW_PX) {
        const int n = x1 - ox < DW_PX ? x1 - ox : DW_PX;
        __m256 acc[DW_PX];
#pragma GCC unroll 2
        for (int j = 0; j < DW_PX; j++)
            acc[j] = bias;
#pragma GCC unroll 3
        for (int ky = 0; ky < 3; ky++) {
            if (!rows[ky])
                continue;
#pragma GCC unroll 2
            for (int j = 0; j < DW_PX; j++) {
                /* a step past x1 recomputes its last pixel rather than read past the row */
                const int x = ox + (j < n ? j : n - 1);
                const float *ip = rows[ky] + (int64_t)(x * s - cv->pad) * ps + c0;
#pragma GCC unroll 3
                for (int kx = 0; kx < 3; kx++)
                    acc[j] = _mm256_fmadd_ps(_mm256_maskload_ps(ip + kx * ps, m),
                                             w[ky * 3 + kx], acc[j]);
            }
        }
#pragma GCC unroll 2
        for (int j = 0; j < DW_PX; j++)
            if (j < n)
                dw_store(acc[j], a, img, oy, ox + j, c0, m);
    }
}

/* Depthwise: 8 channels at a time along each output line; 3x3 interiors in registers, the
 * border pixels (and other kernel sizes) tap by tap. */
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
    for (int r = row0; r < row1; r++) {
        const int img = r / out->h, oy = r % out->h;
        const float *in_img = in->data + img * in->nstride;
        const float *rows[3] = {NULL, NULL, NULL};
        for (int ky = 0; ky < 3 && ky < cv->kh; ky++) {
            const int iy = oy * s - cv->pad + ky;
            if (iy >= 0 && iy < in->h)
                rows[ky] = in_img + (int64_t)iy * in->w * in->pstride;
        }
        for (int c0 = a->ch0; c0 < a->ch1; c0 += 8) {
            const __m256i m = lanes(c - c0);
            for (int ox = 0; ox < x0; ox++)
                dw_pixel(a, in_img, img, oy, ox, c0, m);
            if (x0 < x1)
                dw3x3_interior(a, rows, img, oy, x0, x1, c0, m);
            for (int ox = x1; ox < out->w; ox++)
                dw_pixel(a, in_img, img, oy, ox, c0, m);
        }
    }
}

/* Winograd F(4x4, 3x3), as in kernels_avx512.c (see there for the scheme): transforms 8
 * channels at a time, the 36 GEMMs in tiles of 6 Winograd tiles x 16 channels. */

#define WINO_N 36
#define WINO_MAX_TILES (16 * PX)

typedef struct {
    int img, ty, tx;
} wino_tile;

/* B^T d for d = 6 points along one axis (interpolation points 0, 1, -1, 1/2, -2 and
 * infinity: about half the float32 error of the usual 0, 1, -1, 2, -2). */
INLINE void wino_bt(const __m256 d[6], __m256 r[6])
{
    const __m256 e = _mm256_sub_ps(d[3], d[1]), c = _mm256_sub_ps(d[4], d[2]);
    const __m256 m2 = _mm256_set1_ps(-2.0f), half = _mm256_set1_ps(0.5f);
    const __m256 h3 = _mm256_set1_ps(1.5f), h5 = _mm256_set1_ps(2.5f);
    r[0] = _mm256_fmadd_ps(h3, e, _mm256_fmadd_ps(m2, d[2], _mm256_add_ps(d[0], d[4])));
    r[1] = _mm256_fmadd_ps(h5, d[3], _mm256_fmadd_ps(half, d[2], _mm256_sub_ps(d[4], d[1])));
    r[2] = _mm256_fmadd_ps(half, d[3], _mm256_fnmadd_ps(h5, d[2], _mm256_add_ps(d[4], d[1])));
    r[3] = _mm256_fmadd_ps(_mm256_set1_ps(2.0f), e, c);
    r[4] = _mm256_fnmadd_ps(half, e, c);
    r[5] = _mm256_fmadd_ps(h3, c, _mm256_fmadd_ps(m2, d[3], _mm256_add_ps(d[1], d[5])));
}

/* A^T m: 6 transformed points back to 4 outputs along one axis. */
INLINE void wino_at(const __m256 m[6], __m256 y[4])
{
    const __m256 p = _mm256_add_ps(m[1], m[2]), q = _mm256_sub_ps(m[1], m[2]);
    const __m256 h = _mm256_set1_ps(0.5f), q4 = _mm256_set1_ps(0.25f), e8 = _mm256_set1_ps(0.125f);
    y[0] = _mm256_add_ps(_mm256_add_ps(m[0], p), _mm256_add_ps(m[3], m[4]));
    y[1] = _mm256_fmadd_ps(h, m[3], _mm256_fmadd_ps(_mm256_set1_ps(-2.0f), m[4], q));
    y[2] = _mm256_fmadd_ps(q4, m[3], _mm256_fmadd_ps(_mm256_set1_ps(4.0f), m[4], p));
    y[3] = _mm256_fmadd_ps(e8, m[3],
                          _mm256_fmadd_ps(_mm256_set1_ps(-8.0f), m[4], _mm256_add_ps(q, m[5])));
}

/* V[xi][slot] = B^T d B of tile t for all input channels; inputs outside the image are 0. */
static void wino_input(const conv_args *a, const wino_tile *t, float *v, int64_t plane,
                       int slot, int cstride)
{
    const rf_tensor *in = a->in;
    const int cin = a->cv->cin, y0 = 4 * t->ty - 1, x0 = 4 * t->tx - 1;
    const float *img = in->data + t->img * in->nstride;
    const float *px[6][6];
    int ok[6][6];
    for (int i = 0; i < 6; i++)
        for (int j = 0; j < 6; j++) {
            const int iy = y0 + i, ix = x0 + j;
            ok[i][j] = iy >= 0 && iy < in->h && ix >= 0 && ix < in->w;
            px[i][j] = ok[i][j] ? img + ((int64_t)iy * in->w + ix) * in->pstride : img;
        }
    const __m256i none = _mm256_setzero_si256();
    for (int c0 = 0; c0 < cin; c0 += 8) {
        const __m256i m = lanes(cin - c0);
        __m256 tmp[6][6];
        for (int i = 0; i < 6; i++) {
            __m256 d[6];
#pragma GCC unroll 6
            for (int j = 0; j < 6; j++)
                d[j] = _mm256_maskload_ps(px[i][j] + c0, ok[i][j] ? m : none);
            wino_bt(d, tmp[i]);
        }
        float *dst = v + (int64_t)slot * cstride + c0;
#pragma GCC unroll 6
        for (int j = 0; j < 6; j++) {
            __m256 col[6], r[6];
#pragma GCC unroll 6
            for (int i = 0; i < 6; i++)
                col[i] = tmp[i][j];
            wino_bt(col, r);
#pragma GCC unroll 6
            for (int i = 0; i < 6; i++)
                _mm256_store_ps(dst + (i * 6 + j) * plane, r[i]);
        }
    }
}

/* M[xi][slots] = V[xi][slots] x U[xi] for slots [s0, s0 + n), n <= PX, one half panel. */
static void wino_gemm_tile(const conv_args *a, const float *v, float *mm, int64_t vplane,
                           int64_t mplane, int xi, int s0, int n, int cstride_in,
                           int cstride_out, const half_panel *hp)
{
    const float *src[PX];
    for (int p = 0; p < PX; p++)
        src[p] = v + xi * vplane + (int64_t)(s0 + (p < n ? p : n - 1)) * cstride_in;
    __m256 acc[PX][2];
#pragma GCC unroll 5
    for (int p = 0; p < PX; p++)
        acc[p][0] = acc[p][1] = _mm256_setzero_ps();
    const int cin = a->cv->cin;
    run_fma(acc, src, hp->w + (size_t)xi * cin * hp->width, hp->width, cin, NULL);
    float *dst = mm + xi * mplane + (int64_t)s0 * cstride_out + hp->c0;
#pragma GCC unroll 5
    for (int p = 0; p < PX; p++) {
        if (p >= n)
            break;
        _mm256_store_ps(dst + (int64_t)p * cstride_out, acc[p][0]);
        _mm256_store_ps(dst + (int64_t)p * cstride_out + 8, acc[p][1]);
    }
}

/* Y = A^T M A of tile t + bias (+ residual), activated, stored where the tile's pixels lie
 * inside the output and inside rows [row0, row1). */
static void wino_output(const conv_args *a, const wino_tile *t, const float *mm, int64_t plane,
                        int slot, int cstride, int row0, int row1)
{
    const rf_tensor *out = a->out;
    const int cout = a->cv->cout;
    const int cols = out->w - 4 * t->tx < 4 ? out->w - 4 * t->tx : 4;
    int rows = 0, first = 0;
    for (int i = 0; i < 4; i++) {
        const int oy = 4 * t->ty + i, r = t->img * out->h + oy;
        if (oy < out->h && r >= row0 && r < row1) {
            if (!rows)
                first = i;
            rows++;
        }
    }
    for (int c0 = a->ch0; c0 < a->ch1; c0 += 8) {
        const __m256i m = lanes(cout - c0);
        const float *src = mm + (int64_t)slot * cstride + c0;
        __m256 tmp[4][6];
#pragma GCC unroll 6
        for (int j = 0; j < 6; j++) {
            __m256 col[6], y[4];
#pragma GCC unroll 6
            for (int i = 0; i < 6; i++)
                col[i] = _mm256_load_ps(src + (i * 6 + j) * plane);
            wino_at(col, y);
#pragma GCC unroll 4
            for (int i = 0; i < 4; i++)
                tmp[i][j] = y[i];
        }
        const __m256 bias = _mm256_maskload_ps(a->cv->bias + c0, m);
        for (int i = first; i < first + rows; i++) {
            __m256 y[4];
            wino_at(tmp[i], y);
            const int oy = 4 * t->ty + i;
            for (int j = 0; j < cols; j++) {
                const int ox = 4 * t->tx + j;
                __m256 v = _mm256_add_ps(y[j], bias);
                if (a->res)
                    v = _mm256_add_ps(v, _mm256_maskload_ps(
                                             pixel_ptr(a->res, t->img, oy, ox) + c0, m));
                _mm256_maskstore_ps(pixel_ptr(out, t->img, oy, ox) + c0, m,
                                    activate(v, a->act));
            }
        }
    }
}

/* Tiles per block: V and M of a block within about 3/4 of a 1 MB L2 cache. */
static int wino_block_tiles(int cin_pad, int cout_pad)
{
    const int64_t budget = 768 * 1024 / (int64_t)sizeof(float);
    int64_t n = budget / ((int64_t)WINO_N * (cin_pad + cout_pad)) / PX * PX;
    return n < PX ? PX : n > WINO_MAX_TILES ? WINO_MAX_TILES : (int)n;
}

static void conv_winograd(const conv_args *a, int row0, int row1)
{
    const rf_tensor *out = a->out;
    const int npanels = (a->cv->cout + RF_PACK_PANEL - 1) / RF_PACK_PANEL;
    const int cin_pad = (a->cv->cin + 15) & ~15, cout_pad = npanels * RF_PACK_PANEL;
    const int tw = (out->w + 3) / 4, th = (out->h + 3) / 4;
    const int tb = wino_block_tiles(cin_pad, cout_pad);
    const int64_t vplane = (int64_t)tb * cin_pad, mplane = (int64_t)tb * cout_pad;
    float *v = a->scratch;
    float *mm = v + vplane * WINO_N;
    int img = row0 / out->h, ty = (row0 % out->h) / 4, tx = 0;
    wino_tile tiles[WINO_MAX_TILES];
    for (;;) {
        int n = 0;
        while (n < tb && img < out->n && img * out->h + 4 * ty < row1) {
            tiles[n++] = (wino_tile){img, ty, tx};
            if (++tx == tw) {
                tx = 0;
                if (++ty == th) {
                    ty = 0;
                    img++;
                }
            }
        }
        if (!n)
            break;
        for (int k = 0; k < n; k++)
            wino_input(a, &tiles[k], v, vplane, k, cin_pad);
        half_panel hp;
        for (int xi = 0; xi < WINO_N; xi++)
            for (int s0 = 0; s0 < n; s0 += PX)
                for (int pan = a->pan0; pan < a->pan1; pan++)
                    for (int h = 0; h < 2 && half_of(a, pan, h, &hp); h++)
                        wino_gemm_tile(a, v, mm, vplane, mplane, xi, s0,
                                       n - s0 < PX ? n - s0 : PX, cin_pad, cout_pad, &hp);
        for (int k = 0; k < n; k++)
            wino_output(a, &tiles[k], mm, mplane, k, cout_pad, row0, row1);
    }
}

size_t rf_conv_scratch_avx2(const rf_conv *conv)
{
    const rf_packed *pk = conv->packed;
    if (!pk || pk->layout != RF_PACK_WINOGRAD)
        return 0;
    const int cin_pad = (conv->cin + 15) & ~15;
    const int cout_pad = (conv->cout + RF_PACK_PANEL - 1) / RF_PACK_PANEL * RF_PACK_PANEL;
    return (size_t)wino_block_tiles(cin_pad, cout_pad) * (size_t)(cin_pad + cout_pad) * WINO_N;
}

void rf_conv_avx2(const rf_conv *conv, const rf_tensor *in, const rf_tensor *residual,
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
                   part.ch1};
    if (pk->layout == RF_PACK_DEPTHWISE)
        conv_depthwise(&a, row0, row1);
    else if (pk->layout == RF_PACK_WINOGRAD)
        conv_winograd(&a, row0, row1);
    else if (conv->kh == 1 && conv->kw == 1 && conv->pad == 0)
        conv_pointwise(&a, row0, row1);
    else
        conv_spatial(&a, row0, row1);
    /* Callers are plain SSE code: with the upper halves of the vector registers left dirty,
     * each of their instructions pays a state merge (3x slower post-processing, measured). The
     * compiler leaves this to us here because the kernels above return without it. */
    _mm256_zeroupper();
}

void rf_max_taps_avx2(const float *const *taps, int n, int c, float *dst)
{
    for (int c0 = 0; c0 < c; c0 += 8) {
        const __m256i m = lanes(c - c0);
        __m256 v = _mm256_set1_ps(-FLT_MAX);
        for (int t = 0; t < n; t++)
            v = _mm256_max_ps(v, _mm256_maskload_ps(taps[t] + c0, m));
        _mm256_maskstore_ps(dst + c0, m, v);
    }
    _mm256_zeroupper();
}

/* Twelve independent chains keep both FMA pipes busy through their latency; unrolled, they
 * live in registers. Distinct starting values stop the compiler from merging equal chains. */
double rf_fma_peak_avx2(void)
{
    const __m256 a = _mm256_set1_ps(0.5f), b = _mm256_set1_ps(0.25f);
    __m256 c[12];
    for (int i = 0; i < 12; i++)
        c[i] = _mm256_set1_ps((float)i);
    const long rounds = 1L << 21;
    const double t0 = rf_kernel_seconds();
    for (long r = 0; r < rounds; r++) {
#pragma GCC unroll 12
        for (int i = 0; i < 12; i++)
            c[i] = _mm256_fmadd_ps(c[i], a, b);
    }
    const double seconds = rf_kernel_seconds() - t0;
    for (int i = 1; i < 12; i++)
        c[0] = _mm256_add_ps(c[0], c[i]);
    float lanes[8];
    _mm256_storeu_ps(lanes, c[0]);
    /* the sum feeds the result so the loop cannot be dropped */
    return 2.0 * 8 * 12 * rounds / seconds / 1e9 + 0.0 * lanes[0];
}
