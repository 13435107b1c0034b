/* conv_plan.h - the part of the SIMD convolutions that needs no vector instructions, written
 * once for every vector width: the arguments of a call, the walk of output pixels in register
 * tiles, the depthwise interior, Winograd tile blocks and the clipping of a tile's outputs to
 * the call's rows. conv_simd.h (compiled once per instruction set) does the arithmetic over
 * them; conv_plan.c is compiled once, and the helpers that run once per tile (or per tile and
 * panel) are inline below: compiled with the set's tile size, they cost no call there. */
#ifndef RF_CONV_PLAN_H
#define RF_CONV_PLAN_H

#include "kernels/kernel_set.h"

/* The most output pixels one register tile of any set covers. */
#define RF_TILE_MAX_PX 12

/* The per-layer constants a tile needs. */
typedef struct {
    const rf_conv *cv;
    const rf_tensor *in, *res, *out;
    rf_act act;
    const float *w;       /* packed weights */
    int64_t panel_floats; /* weights of one full panel */
    float *scratch;       /* the calling thread's, scratch_floats of the kernel set */
    int pan0, pan1;       /* the panels of the call's channels [ch0, ch1) */
    int ch0, ch1;
    int stream;           /* outputs bypass the caches */
    /* int8 layers, per output channel: the scale of the int32 sums (input scale x weight
     * scale) and the value the sums start from (the input's zero point's share taken out) */
    const float *out_scale;
    const int32_t *acc0;
    /* the output's converted copy (kernel_set.h, conv) or NULL; its padding; for U8, 1 / its
     * scale and its zero point */
    const rf_tensor *copy;
    int copy_only; /* the copy alone: out is not written */
    int copy_pad;
    int copy_stream; /* with stream: full vectors of the copy stream too (aligned for it) */
    float copy_inv_scale;
    int copy_zero_point;
    /* the residual's values (rf_tensor.values): uint8 read as (q - zero point) x scale, or
     * bf16 */
    rf_values res_values;
    float res_scale;
    int res_zero_point;
} conv_args;

/* Floats from a residual pixel's start to channel c: uint8 residuals hold four a float, bf16
 * ones two. */
static inline int64_t rf_res_offset(const conv_args *a, int64_t c)
{
    return a->res_values == RF_VALUES_U8 ? c / 4 : a->res_values == RF_VALUES_BF16 ? c / 2 : c;
}

/* Where a tile's outputs go: pixel p writes dst[p] (and adds res[p]) for p < np, and its
 * converted copy at cp[p] when the call writes one. */
typedef struct {
    float *dst[RF_TILE_MAX_PX];
    const float *res[RF_TILE_MAX_PX];
    float *cp[RF_TILE_MAX_PX];
    int np;
} tile_out;

/* The output pixels of a tile, in raster order: a tile may run on into the next line or image
 * (pixels past np repeat the last one). */
typedef struct {
    int img[RF_TILE_MAX_PX], oy[RF_TILE_MAX_PX], ox[RF_TILE_MAX_PX];
    tile_out o;
} tile_px;

static inline float *pixel_ptr(const rf_tensor *t, int img, int y, int x)
{
    return t->data + img * t->nstride + ((int64_t)y * t->w + x) * t->pstride;
}

/* Panels whose weights together stay within about half the L2 cache, so a block of panels is
 * read from memory once per task while every pixel tile of the task passes over it; `least`
 * at least. */
int rf_panels_per_block(const conv_args *a, int least);

/* Fills t with the next (up to) px output pixels of rows [.., row1) from the position
 * (*img, *y, *x), which it advances; t->o.np = 0 past the end. */
static inline void rf_next_tile(const conv_args *a, int px, int row1, int *img, int *y, int *x,
                                tile_px *t)
{
    const rf_tensor *out = a->out;
    int n = 0;
    for (; n < px && *img * out->h + *y < row1; n++) {
        t->img[n] = *img;
        t->oy[n] = *y;
        t->ox[n] = *x;
        t->o.dst[n] = pixel_ptr(out, *img, *y, *x);
        t->o.res[n] = a->res ? pixel_ptr(a->res, *img, *y, *x) : NULL;
        t->o.cp[n] =
            a->copy ? pixel_ptr(a->copy, *img, *y + a->copy_pad, *x + a->copy_pad) : NULL;
        if (++*x == out->w) {
            *x = 0;
            if (++*y == out->h) {
                *y = 0;
                ++*img;
            }
        }
    }
    t->o.np = n;
    for (int p = n; p < px && n; p++) {
        t->img[p] = t->img[n - 1];
        t->oy[p] = t->oy[n - 1];
        t->ox[p] = t->ox[n - 1];
    }
}

/* 1x1 convolutions: where each of the px pixels of t reads its input. */
static inline void rf_tile_inputs(const conv_args *a, int px, const tile_px *t,
                                  const float **src)
{
    const int s = a->cv->stride;
    for (int p = 0; p < px && t->o.np; p++)
        src[p] = pixel_ptr(a->in, t->img[p], t->oy[p] * s, t->ox[p] * s);
}

/* Whether pixel q of the flattened batch sits at data + q * pstride (images back to back). */
int rf_flat_layout(const rf_tensor *t);

/* Pixels [q, q1) of flat tensors (a copy too, unpadded), px at most, for a stride-1 1x1
 * convolution: a few additions per pixel instead of the walk of rf_next_tile, which matters
 * when cin is small. */
static inline void rf_flat_tile(const conv_args *a, int px, int64_t q, int64_t q1,
                                const float **src, tile_px *t)
{
    const int n = q >= q1 ? 0 : q1 - q < px ? (int)(q1 - q) : px;
    t->o.np = n;
    for (int p = 0; p < px && n; p++) {
        const int64_t qq = q + (p < n ? p : n - 1);
        src[p] = a->in->data + qq * a->in->pstride;
        t->o.dst[p] = a->out->data + qq * a->out->pstride;
        t->o.res[p] = a->res ? a->res->data + qq * a->res->pstride : NULL;
        t->o.cp[p] = a->copy ? a->copy->data + qq * a->copy->pstride : NULL;
    }
}

/* Prefetches the outputs (unless streamed) and residuals of tile t in panel `panel`: writes
 * miss the cache as often as reads. */
static inline void rf_prefetch_outputs(const conv_args *a, const tile_px *t, int panel)
{
    for (int p = 0; p < t->o.np; p++) {
        if (!a->stream && !a->copy_only) {
            __builtin_prefetch(t->o.dst[p] + panel * RF_PACK_PANEL, 1, 3);
            __builtin_prefetch(t->o.dst[p] + panel * RF_PACK_PANEL + 16, 1, 3);
        }
        if (t->o.res[p]) {
            const float *r = t->o.res[p] + rf_res_offset(a, panel * RF_PACK_PANEL);
            __builtin_prefetch(r, 0, 3);
            if (a->res_values == RF_VALUES_F32)
                __builtin_prefetch(r + 16, 0, 3);
        }
    }
}

/* Flat layouts: the residuals of panel `panel` for the tile after next (pixels [q, q + px))
 * into L2, besides the next tile's into L1: from memory, one tile ahead is too late (15 %
 * slower on ResNet50's 64 -> 256 layers with AVX-512, measured). */
static inline void rf_prefetch_residual_far(const conv_args *a, int px, int64_t q, int64_t q1,
                                            int panel)
{
    for (int64_t p = q; p < q + px && p < q1; p++) {
        const float *r =
            a->res->data + p * a->res->pstride + rf_res_offset(a, panel * RF_PACK_PANEL);
        /* asm: GCC 12 deletes this loop when written with _mm_prefetch (no side effects) */
        __asm__ volatile("prefetcht1 %0\n\tprefetcht1 %1" : : "m"(*r), "m"(r[16]));
    }
}

/* The output pixels [*x0, *x1) of each line of a depthwise convolution whose kx taps all lie
 * inside the input line (empty unless the kernel is 3x3: only those have an interior path). */
void rf_dw_interior(const rf_conv *cv, const rf_tensor *in, const rf_tensor *out, int *x0,
                    int *x1);

/* The input lines of the 3 kernel rows of output line oy of image img (NULL: padding). */
void rf_dw_rows(const conv_args *a, int img, int oy, const float *rows[3]);

/* Winograd F(4x4, 3x3): each 4x4 block of output pixels ("tile") is computed from the 6x6
 * input patch around it as Y = A^T [sum over cin of (G g G^T) . (B^T d B)] A. The 36
 * element-wise products summed over input channels are 36 GEMMs (tiles x cin by cin x cout),
 * run with the register tiles of the direct convolution; the transforms run one vector of
 * channels at a time. Tiles go in blocks whose transformed inputs V and products M stay in the
 * L2 cache: [36][tiles of the block][channels] each. */
#define WINO_N 36

typedef struct {
    int img, ty, tx;
} wino_tile;

/* Tiles per block: V and M of a block within about 3/4 of the L2 cache, a multiple of px and
 * at least px, at most most. */
int rf_wino_block_tiles(int cin_pad, int cout_pad, int px, int most);

/* RF_PACK_WINOGRAD_3X3 (kernels transformed as they run): for each panel (pair) and each run
 * of WINO_KC input channels, the kernels are transformed into U in the scratch, then multiplied
 * with every tile of the block, the sums carried in M from one run to the next. Blocks are as
 * large as WINO_3X3_BUDGET allows and evenly filled: each block transforms the kernels again. */
#define WINO_KC 64
#define WINO_3X3_BUDGET ((int64_t)4 << 20) /* bytes of V and M */

/* The most tiles of a RF_PACK_WINOGRAD_3X3 block (most at most), and the tiles per block of a
 * call over rows [row0, row1): every tile of the call, in the fewest blocks of equal size. */
int rf_wino_3x3_block_tiles(int cin_pad, int cout_pad, int most);
int rf_wino_3x3_call_tiles(const rf_tensor *out, int row0, int row1, int cin_pad, int cout_pad,
                           int most);

/* Floats of Winograd scratch a layer needs (0 unless its layout is Winograd; the 3x3 layout
 * counts only where with_3x3, else it runs direct): V and M of a block, and U for the 3x3
 * layout. */
size_t rf_wino_scratch_floats(const rf_conv *conv, int px, int most, int with_3x3);

/* The next block of at most tb tiles of rows [.., row1), from tile (*img, *ty, *tx) on, in
 * order (image, tile row, tile column); returns how many. */
int rf_wino_next_block(const rf_tensor *out, int row1, int tb, int *img, int *ty, int *tx,
                       wino_tile *tiles);

/* The outputs of tile t that lie inside the output and inside rows [row0, row1): tile rows
 * [*first, *first + *rows), columns [0, *cols). A tile row at either end of a call may be
 * shared with the neighbouring call, which stores the other rows. */
void rf_wino_clip(const rf_tensor *out, const wino_tile *t, int row0, int row1, int *first,
                  int *rows, int *cols);

/* Outputs of convolutions with long sums (at least STREAM_MIN_SUM multiply-adds per output)
 * on maps of STREAM_MIN_BYTES or more go straight to memory with non-temporal stores of
 * `lanes` floats: they skip reading each line before writing it and leave the caches to the
 * weights and inputs, which these layers reuse. Short sums are memory-bound layers whose
 * outputs the next layer should find in the cache. An output written over its own residual
 * has had each line read already: plain stores are cheaper there (ResNet50's bottleneck conv3
 * layers). Winograd layers stream too. Measured on ResNet50 and MobileNet0.25 with AVX-512.
 * Needs pixels aligned to a whole vector. */
#define STREAM_MIN_BYTES ((size_t)2 << 20)
#define STREAM_MIN_SUM 64
int rf_streams_output(const rf_conv *conv, const rf_tensor *residual, const rf_tensor *out,
                      int lanes);

#endif
