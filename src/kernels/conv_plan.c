/* conv_plan.c - the SIMD convolutions' walks and geometry, compiled once (see conv_plan.h). */
#include "kernels/conv_plan.h"

int rf_panels_per_block(const conv_args *a, int least)
{
    const int64_t budget = 256 * 1024 / (int64_t)sizeof(float);
    const int64_t n = budget / a->panel_floats;
    return n < least ? least : (int)n;
}

int rf_flat_layout(const rf_tensor *t)
{
    return t->n == 1 || t->nstride == (int64_t)t->h * t->w * t->pstride;
}

void rf_dw_interior(const rf_conv *cv, const rf_tensor *in, const rf_tensor *out, int *x0,
                    int *x1)
{
    const int s = cv->stride, last = in->w - cv->kw + cv->pad;
    int lo = (cv->pad + s - 1) / s, hi = last < 0 ? 0 : last / s + 1;
    lo = lo < out->w ? lo : out->w;
    hi = hi < out->w ? hi : out->w;
    if (cv->kh != 3 || cv->kw != 3 || hi < lo)
        hi = lo;
    *x0 = lo;
    *x1 = hi;
}

void rf_dw_rows(const conv_args *a, int img, int oy, const float *rows[3])
{
    const rf_conv *cv = a->cv;
    const rf_tensor *in = a->in;
    const float *in_img = in->data + img * in->nstride;
    for (int ky = 0; ky < 3; ky++) {
        const int iy = oy * cv->stride - cv->pad + ky;
        rows[ky] = ky < cv->kh && iy >= 0 && iy < in->h
                       ? in_img + (int64_t)iy * in->w * in->pstride
                       : NULL;
    }
}

int rf_wino_block_tiles(int cin_pad, int cout_pad, int px, int most)
{
    const int64_t budget = 768 * 1024 / (int64_t)sizeof(float);
    const int64_t n = budget / ((int64_t)WINO_N * (cin_pad + cout_pad)) / px * px;
    return n < px ? px : n > most ? most : (int)n;
}

int rf_wino_3x3_block_tiles(int cin_pad, int cout_pad, int most)
{
    const int64_t n = WINO_3X3_BUDGET / (int64_t)sizeof(float) / (WINO_N * (cin_pad + cout_pad));
    return n < 1 ? 1 : n > most ? most : (int)n;
}

int rf_wino_3x3_call_tiles(const rf_tensor *out, int row0, int row1, int cin_pad, int cout_pad,
                           int most)
{
    const int tw = (out->w + 3) / 4, th = (out->h + 3) / 4;
    const int first = row0 / out->h * th + (row0 % out->h) / 4;
    const int last = (row1 - 1) / out->h * th + ((row1 - 1) % out->h) / 4;
    const int total = (last - first + 1) * tw;
    const int largest = rf_wino_3x3_block_tiles(cin_pad, cout_pad, most);
    const int blocks = (total + largest - 1) / largest;
    return (total + blocks - 1) / blocks;
}

size_t rf_wino_scratch_floats(const rf_conv *conv, int px, int most, int with_3x3)
{
    const rf_packed *pk = conv->packed;
    const int cin_pad = (conv->cin + 15) & ~15;
    const int cout_pad = (conv->cout + RF_PACK_PANEL - 1) / RF_PACK_PANEL * RF_PACK_PANEL;
    if (with_3x3 && pk && pk->layout == RF_PACK_WINOGRAD_3X3)
        return (size_t)rf_wino_3x3_block_tiles(cin_pad, cout_pad, most) *
                   (size_t)(cin_pad + cout_pad) * WINO_N +
               (size_t)2 * WINO_N * WINO_KC * RF_PACK_PANEL;
    if (!pk || (pk->layout != RF_PACK_WINOGRAD && pk->layout != RF_PACK_WINOGRAD_BF16))
        return 0;
    if (pk->layout == RF_PACK_WINOGRAD_BF16 &&
        (int64_t)conv->cin * conv->cout >= RF_WINO_LARGE_PAIRS)
        return (size_t)rf_wino_3x3_block_tiles(cin_pad, cout_pad, most) *
               (size_t)(cin_pad + cout_pad) * WINO_N;
    return (size_t)rf_wino_block_tiles(cin_pad, cout_pad, px, most) *
           (size_t)(cin_pad + cout_pad) * WINO_N;
}

int rf_wino_next_block(const rf_tensor *out, int row1, int tb, int *img, int *ty, int *tx,
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

void rf_wino_clip(const rf_tensor *out, const wino_tile *t, int row0, int row1, int *first,
                  int *rows, int *cols)
{
    *cols = out->w - 4 * t->tx < 4 ? out->w - 4 * t->tx : 4;
    *rows = 0;
    *first = 0;
    for (int i = 0; i < 4; i++) {
        const int oy = 4 * t->ty + i, r = t->img * out->h + oy;
        if (oy < out->h && r >= row0 && r < row1) {
            if (!*rows)
                *first = i;
            ++*rows;
        }
    }
}

int rf_streams_output(const rf_conv *conv, const rf_tensor *residual, const rf_tensor *out,
                      int lanes)
{
    if (residual && residual->data == out->data)
        return 0;
    const size_t bytes = (size_t)out->n * (size_t)out->nstride * sizeof(float);
    return conv->groups == 1 && conv->kh * conv->kw * conv->cin >= STREAM_MIN_SUM &&
           bytes >= STREAM_MIN_BYTES && out->pstride % lanes == 0 &&
           out->nstride % lanes == 0 &&
           ((uintptr_t)out->data & (uintptr_t)(lanes * sizeof(float) - 1)) == 0;
}
