/* test_kernels.c - every kernel set of the table (rf_kernel_sets) that the CPU has, the reference
 * included, against one double-precision convolution, over the layer shapes of both backbones
 * plus odd sizes, strides, channel slices, batches, residuals and activations; max pooling and
 * outputs written over their residual; and the choice of a set, against the CPU's flags as
 * Linux reports them and the flags CMakeLists.txt compiles each set with. */
#include "kernels/kernels.h"
#include "testutil.h"

#include <math.h>
#include <stdint.h>

/* Deterministic uniform numbers in [-1, 1). */
static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static float urand(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (float)((rng_state >> 40) * (1.0 / (1 << 23))) - 1.0f;
}

typedef struct {
    const char *what;
    int n, h, w, cin, cout, k, stride, depthwise;
    int in_extra, out_extra, out_c0; /* input pixel padding; output slice of a wider tensor */
    int residual;
    rf_act act;
    int flat; /* images back to back (no gap between them) */
} conv_case;

static const conv_case cases[] = {
    /* ResNet50 */
    {"r50 stem 7x7/2", 1, 23, 19, 3, 64, 7, 2, 0, 0, 0, 0, 0, {RF_ACT_RELU, 0}, 0},
    {"r50 stem 7x7/2 tiny", 1, 5, 7, 3, 64, 7, 2, 0, 0, 0, 0, 0, {RF_ACT_RELU, 0}, 0},
    {"r50 1x1 64->64", 2, 9, 13, 64, 64, 1, 1, 0, 0, 0, 0, 0, {RF_ACT_RELU, 0}, 0},
    {"r50 1x1 64->256 residual", 1, 7, 11, 64, 256, 1, 1, 0, 0, 0, 0, 1, {RF_ACT_RELU, 0}, 0},
    {"r50 1x1 256->128", 1, 6, 5, 256, 128, 1, 1, 0, 0, 0, 0, 0, {RF_ACT_RELU, 0}, 0},
    {"r50 1x1/2 256->512 downsample", 2, 9, 7, 256, 512, 1, 2, 0, 0, 0, 0, 0, {RF_ACT_NONE, 0}, 0},
    {"r50 1x1/2 1024->2048 downsample", 1, 4, 3, 1024, 2048, 1, 2, 0, 0, 0, 0, 0,
     {RF_ACT_NONE, 0}, 0},
    {"r50 1x1 2048->512", 1, 3, 2, 2048, 512, 1, 1, 0, 0, 0, 0, 0, {RF_ACT_RELU, 0}, 0},
    {"r50 1x1 512->2048 residual", 1, 2, 3, 512, 2048, 1, 1, 0, 0, 0, 0, 1, {RF_ACT_RELU, 0}, 0},
    {"r50 3x3 64", 1, 13, 17, 64, 64, 3, 1, 0, 0, 0, 0, 0, {RF_ACT_RELU, 0}, 0},
    {"r50 3x3/2 128", 2, 11, 10, 128, 128, 3, 2, 0, 0, 0, 0, 0, {RF_ACT_RELU, 0}, 0},
    {"r50 3x3 256", 1, 6, 7, 256, 256, 3, 1, 0, 0, 0, 0, 0, {RF_ACT_RELU, 0}, 0},
    {"r50 3x3/2 512", 1, 5, 6, 512, 512, 3, 2, 0, 0, 0, 0, 0, {RF_ACT_RELU, 0}, 0},
    {"r50 3x3 512", 1, 3, 4, 512, 512, 3, 1, 0, 0, 0, 0, 0, {RF_ACT_RELU, 0}, 0},
    /* a tile row of 29 tiles: more than one block of the 3x3 form holds for 512 channels */
    {"3x3 512 winograd_3x3, two blocks", 1, 4, 116, 512, 512, 3, 1, 0, 0, 0, 0, 1,
     {RF_ACT_RELU, 0}, 0},
    {"3x3 512 winograd_3x3, batch", 2, 7, 9, 512, 512, 3, 1, 0, 0, 0, 0, 1, {RF_ACT_NONE, 0},
     0},
    {"3x3 530->520 winograd_3x3, tails", 1, 5, 6, 530, 520, 3, 1, 0, 0, 0, 0, 0,
     {RF_ACT_LEAKY, 0.1f}, 0},
    {"r50 fpn 1x1 1024->256", 1, 5, 5, 1024, 256, 1, 1, 0, 0, 0, 0, 0, {RF_ACT_RELU, 0}, 0},
    {"r50 fpn 3x3 256", 1, 9, 8, 256, 256, 3, 1, 0, 0, 0, 0, 0, {RF_ACT_RELU, 0}, 0},
    {"r50 ssh 3x3 256->128 slice", 1, 7, 9, 256, 128, 3, 1, 0, 0, 128, 0, 0, {RF_ACT_RELU, 0}, 0},
    {"r50 ssh 3x3 256->64 slice", 1, 7, 9, 256, 64, 3, 1, 0, 0, 192, 128, 0, {RF_ACT_RELU, 0}, 0},
    {"r50 ssh 3x3 64->64 slice", 2, 7, 9, 64, 64, 3, 1, 0, 0, 192, 192, 0, {RF_ACT_RELU, 0}, 0},
    {"1x1 96: a panel pair and one panel", 1, 5, 7, 48, 96, 1, 1, 0, 0, 0, 0, 1,
     {RF_ACT_RELU, 0}, 0},
    {"1x1 208: pairs and a narrow panel", 1, 4, 5, 40, 208, 1, 1, 0, 0, 0, 0, 0,
     {RF_ACT_LEAKY, 0.1f}, 0},
    {"3x3 s1 208 winograd, channel split", 1, 9, 6, 24, 208, 3, 1, 0, 0, 0, 0, 1,
     {RF_ACT_RELU, 0}, 0},
    {"1x1 64->256 residual, streamed output", 1, 48, 48, 64, 256, 1, 1, 0, 0, 0, 0, 1,
     {RF_ACT_RELU, 0}, 1},
    {"7x7/2 3->64, streamed output", 1, 191, 192, 3, 64, 7, 2, 0, 0, 0, 0, 0, {RF_ACT_RELU, 0},
     1},
    {"3x3 64 winograd, streamed output", 1, 96, 97, 64, 64, 3, 1, 0, 0, 0, 0, 1,
     {RF_ACT_RELU, 0}, 1},
    {"3x3 24->40 winograd, streamed output, tail", 1, 130, 111, 24, 40, 3, 1, 0, 0, 8, 0, 0,
     {RF_ACT_LEAKY, 0.1f}, 1},
    {"r50 head 1x1 256->4", 2, 5, 6, 256, 4, 1, 1, 0, 0, 0, 0, 0, {RF_ACT_NONE, 0}, 0},
    {"r50 head 1x1 256->8", 1, 5, 6, 256, 8, 1, 1, 0, 0, 0, 0, 0, {RF_ACT_NONE, 0}, 0},
    {"r50 head 1x1 256->20", 2, 5, 6, 256, 20, 1, 1, 0, 0, 0, 0, 0, {RF_ACT_NONE, 0}, 0},
    /* MobileNet0.25 */
    {"mnet stem 3x3/2 3->8", 1, 21, 18, 3, 8, 3, 2, 0, 0, 0, 0, 0, {RF_ACT_LEAKY, 0.1f}, 0},
    /* the image layer's own kernel (conv_simd.h conv_image): runs of 12 pixels and a rest,
     * both borders, odd and even widths, fewer than 8 channels, residual, sliced output */
    {"mnet stem 3x3/2 3->8 wide", 2, 7, 61, 3, 8, 3, 2, 0, 0, 0, 0, 0, {RF_ACT_LEAKY, 0.1f}, 0},
    {"image 3x3/2 3->8 even", 1, 6, 64, 3, 8, 3, 2, 0, 0, 0, 0, 0, {RF_ACT_RELU, 0}, 1},
    {"image 3x3/2 3->5 residual", 1, 5, 53, 3, 5, 3, 2, 0, 0, 3, 2, 1, {RF_ACT_NONE, 0}, 0},
    {"image 3x3/2 3->8 tiny", 1, 2, 2, 3, 8, 3, 2, 0, 0, 0, 0, 0, {RF_ACT_NONE, 0}, 0},
    {"mnet dw 3x3 8", 1, 11, 10, 8, 8, 3, 1, 1, 0, 0, 0, 0, {RF_ACT_LEAKY, 0.1f}, 0},
    {"mnet dw 3x3/2 16", 2, 11, 10, 16, 16, 3, 2, 1, 0, 0, 0, 0, {RF_ACT_LEAKY, 0.1f}, 0},
    {"mnet dw 3x3 32", 1, 6, 9, 32, 32, 3, 1, 1, 0, 0, 0, 0, {RF_ACT_RELU, 0}, 0},
    {"mnet dw 3x3/2 64", 1, 9, 9, 64, 64, 3, 2, 1, 0, 0, 0, 0, {RF_ACT_LEAKY, 0.1f}, 0},
    {"mnet dw 3x3 256 residual", 1, 4, 5, 256, 256, 3, 1, 1, 0, 0, 0, 1, {RF_ACT_NONE, 0}, 0},
    {"mnet dw 3x3 20 odd", 1, 5, 7, 20, 20, 3, 1, 1, 3, 5, 2, 0, {RF_ACT_LEAKY, 0.1f}, 0},
    {"dw 3x3 8 pairs, slice, residual", 2, 5, 13, 8, 8, 3, 1, 1, 0, 4, 2, 1, {RF_ACT_LEAKY, 0.1f},
     0},
    {"dw 3x3 8 pairs, 4 wide", 1, 3, 4, 8, 8, 3, 1, 1, 0, 0, 0, 0, {RF_ACT_RELU, 0}, 0},
    {"dw 3x3 1 wide", 2, 6, 1, 24, 24, 3, 1, 1, 0, 0, 0, 1, {RF_ACT_RELU, 0}, 0},
    {"dw 3x3/2 2 wide", 1, 7, 2, 16, 16, 3, 2, 1, 0, 0, 0, 0, {RF_ACT_RELU, 0}, 0},
    {"dw 5x5 taps", 1, 9, 11, 40, 40, 5, 1, 1, 0, 0, 0, 0, {RF_ACT_LEAKY, 0.1f}, 0},
    {"mnet pw 1x1 8->16", 1, 13, 11, 8, 16, 1, 1, 0, 0, 0, 0, 0, {RF_ACT_LEAKY, 0.1f}, 0},
    {"mnet pw 1x1 32->64", 1, 9, 9, 32, 64, 1, 1, 0, 0, 0, 0, 0, {RF_ACT_LEAKY, 0.1f}, 0},
    {"mnet pw 1x1 128->256", 1, 4, 6, 128, 256, 1, 1, 0, 0, 0, 0, 0, {RF_ACT_LEAKY, 0.1f}, 0},
    {"mnet fpn 3x3 64", 1, 10, 10, 64, 64, 3, 1, 0, 0, 0, 0, 0, {RF_ACT_LEAKY, 0.1f}, 0},
    {"mnet ssh 3x3 64->32 slice", 1, 10, 10, 64, 32, 3, 1, 0, 0, 32, 0, 0, {RF_ACT_RELU, 0}, 0},
    {"mnet ssh 3x3 64->16", 1, 10, 10, 64, 16, 3, 1, 0, 0, 0, 0, 0, {RF_ACT_LEAKY, 0.1f}, 0},
    {"mnet ssh 3x3 16->16 slice", 1, 10, 10, 16, 16, 3, 1, 0, 0, 48, 48, 0, {RF_ACT_RELU, 0}, 0},
    {"mnet head 1x1 64->4", 1, 10, 10, 64, 4, 1, 1, 0, 0, 0, 0, 0, {RF_ACT_NONE, 0}, 0},
    {"mnet head 1x1 64->20", 1, 10, 10, 64, 20, 1, 1, 0, 0, 0, 0, 0, {RF_ACT_NONE, 0}, 0},
    /* odd sizes and layouts */
    {"1x1 image 3x3", 1, 1, 1, 32, 48, 3, 1, 0, 0, 0, 0, 0, {RF_ACT_RELU, 0}, 0},
    {"1x1 image 3x3/2", 2, 1, 1, 16, 16, 3, 2, 0, 0, 0, 0, 1, {RF_ACT_LEAKY, 0.1f}, 0},
    {"1x1 image 1x1", 1, 1, 1, 40, 36, 1, 1, 0, 0, 0, 0, 1, {RF_ACT_NONE, 0}, 0},
    {"5x7 3x3 odd channels", 1, 5, 7, 24, 40, 3, 1, 0, 0, 0, 0, 1, {RF_ACT_LEAKY, 0.1f}, 0},
    {"577 high 3x3/2", 1, 577, 3, 16, 24, 3, 2, 0, 0, 0, 0, 0, {RF_ACT_RELU, 0}, 0},
    {"577 high 3x3", 1, 577, 2, 8, 16, 3, 1, 0, 0, 0, 0, 1, {RF_ACT_NONE, 0}, 0},
    {"wide 3x3 slice in", 1, 3, 41, 48, 80, 3, 1, 0, 7, 0, 0, 0, {RF_ACT_RELU, 0}, 0},
    {"3x3/2 padded input", 2, 9, 27, 64, 96, 3, 2, 0, 5, 0, 0, 1, {RF_ACT_RELU, 0}, 0},
    {"5x5 taps", 1, 8, 9, 12, 20, 5, 1, 0, 0, 3, 1, 0, {RF_ACT_LEAKY, 0.2f}, 0},
    {"1x1 in slice out slice", 2, 5, 8, 96, 112, 1, 1, 0, 11, 16, 8, 1, {RF_ACT_RELU, 0}, 0},
    {"3x3 cin over zero run", 1, 3, 3, 1100, 32, 3, 1, 0, 0, 0, 0, 0, {RF_ACT_NONE, 0}, 0},
    /* more output channels than the reference sums at once (either share of channels) */
    {"1x1 16->4200", 2, 2, 3, 16, 4200, 1, 1, 0, 0, 0, 0, 1, {RF_ACT_RELU, 0}, 0},
    {"3x3 8->4136 slice", 1, 3, 2, 8, 4136, 3, 1, 0, 0, 24, 8, 0, {RF_ACT_LEAKY, 0.1f}, 0},
    {"flat batch 1x1 residual", 3, 5, 3, 24, 40, 1, 1, 0, 0, 0, 0, 1, {RF_ACT_RELU, 0}, 1},
    {"flat batch 1x1 slices", 2, 4, 7, 32, 20, 1, 1, 0, 5, 12, 4, 0, {RF_ACT_LEAKY, 0.1f}, 1},
    {"flat batch 3x3", 2, 6, 5, 16, 16, 3, 1, 0, 0, 0, 0, 1, {RF_ACT_NONE, 0}, 1},
};
#define NCASES ((int)(sizeof cases / sizeof cases[0]))

/* Per-output error allowed, relative to |bias| + |residual| + sum |x * w|: float sums of up to
 * ~10^4 terms in different orders (and with or without FMA) drift by about sqrt(n) * 2^-24 of
 * that, under 1e-5 (seen: 4e-7 direct, 1e-6 Winograd, whose transforms scale values by up to
 * ~10); one term missing or counted twice moves an output by ~1/n of it, 1e-4 or more here. */
#define REL_TOL 3e-5

static const float SENTINEL = 12345.0f;

typedef struct {
    rf_conv cv;
    rf_tensor in, out, res;
    const rf_tensor *res_read; /* the residual the kernels get, when not res itself */
    float *in_buf, *out_buf, *res_buf;
    size_t out_floats;
    double *exact, *mag; /* per output element of the slice, [n][oh][ow][cout] */
} conv_setup;

/* conv->packed for kernel set ks, as a model load makes it (none for the reference set). */
static void pack(const rf_kernel_set *ks, rf_conv *conv)
{
    free(conv->packed);
    conv->packed = NULL;
    if (!ks->pack_size)
        return;
    conv->packed = aligned_alloc(64, ks->pack_size(conv, &(rf_packed){0}));
    CHECK(conv->packed != NULL, "%s: out of memory for the packed block", ks->name);
    if (conv->packed)
        ks->pack(conv, conv->packed);
}

static float *make_tensor(rf_tensor *t, size_t *floats, int n, int h, int w, int c, int pstride,
                          int gap)
{
    const int64_t nstride = (int64_t)h * w * pstride + gap;
    *floats = (size_t)(n * nstride);
    /* 64-byte aligned, as arena tensors are: the kernels stream such outputs */
    float *buf = aligned_alloc(64, (*floats * sizeof(float) + 63) & ~(size_t)63);
    *t = (rf_tensor){.data = buf, .n = n, .h = h, .w = w, .c = c, .pstride = pstride,
                     .nstride = nstride, .arena_id = -1};
    return buf;
}

static const float *px(const rf_tensor *t, int i, int y, int x)
{
    return t->data + i * t->nstride + ((int64_t)y * t->w + x) * t->pstride;
}

/* The convolution in double, plus the magnitude the tolerance scales with. */
static void naive_conv(conv_setup *s, const conv_case *k)
{
    const rf_conv *cv = &s->cv;
    const rf_tensor *in = &s->in, *out = &s->out;
    size_t o = 0;
    for (int i = 0; i < out->n; i++)
        for (int oy = 0; oy < out->h; oy++)
            for (int ox = 0; ox < out->w; ox++)
                for (int co = 0; co < cv->cout; co++, o++) {
                    double v = cv->bias[co], m = fabs(cv->bias[co]);
                    for (int ky = 0; ky < cv->kh; ky++)
                        for (int kx = 0; kx < cv->kw; kx++) {
                            const int iy = oy * cv->stride - cv->pad + ky;
                            const int ix = ox * cv->stride - cv->pad + kx;
                            if (iy < 0 || iy >= in->h || ix < 0 || ix >= in->w)
                                continue;
                            const float *ip = px(in, i, iy, ix);
                            const int t = ky * cv->kw + kx;
                            if (k->depthwise) {
                                const double p = (double)ip[co] * cv->weight[t * cv->cout + co];
                                v += p;
                                m += fabs(p);
                                continue;
                            }
                            for (int ci = 0; ci < cv->cin; ci++) {
                                const double p =
                                    (double)ip[ci] *
                                    cv->weight[((size_t)t * cv->cin + ci) * cv->cout + co];
                                v += p;
                                m += fabs(p);
                            }
                        }
                    if (k->residual) {
                        v += px(&s->res, i, oy, ox)[co];
                        m += fabs(px(&s->res, i, oy, ox)[co]);
                    }
                    if (k->act.kind == RF_ACT_RELU && v < 0)
                        v = 0;
                    if (k->act.kind == RF_ACT_LEAKY && v < 0)
                        v *= k->act.slope;
                    s->exact[o] = v;
                    s->mag[o] = m;
                }
}

/* What the input holds: uniform numbers in [-1, 1), or one value everywhere (a degenerate
 * range for the int8 quantization). */
typedef enum { FILL_RANDOM, FILL_ZERO, FILL_POSITIVE, FILL_NEGATIVE } input_fill;

/* Weights scaled by 1 / sqrt(fan in) so sums stay near 1 whatever the layer. */
static void setup_fill(const conv_case *k, conv_setup *s, input_fill fill)
{
    const int taps = k->k * k->k, fan_in = taps * (k->depthwise ? 1 : k->cin);
    s->cv = (rf_conv){.cin = k->cin, .cout = k->cout, .kh = k->k, .kw = k->k,
                      .stride = k->stride, .pad = k->k / 2, .groups = k->depthwise ? k->cin : 1};
    const size_t wn = (size_t)taps * (k->depthwise ? 1 : (size_t)k->cin) * k->cout;
    s->cv.weight = malloc(wn * sizeof(float));
    s->cv.bias = malloc((size_t)k->cout * sizeof(float));
    const float scale = 1.0f / sqrtf((float)fan_in);
    for (size_t i = 0; i < wn; i++)
        s->cv.weight[i] = urand() * scale;
    for (int i = 0; i < k->cout; i++)
        s->cv.bias[i] = urand() * 0.5f;
    size_t floats;
    s->in_buf = make_tensor(&s->in, &floats, k->n, k->h, k->w, k->cin, k->cin + k->in_extra,
                            k->flat ? 0 : 3);
    for (size_t i = 0; i < floats; i++)
        s->in_buf[i] = fill == FILL_ZERO       ? 0.0f
                       : fill == FILL_POSITIVE ? 0.75f
                       : fill == FILL_NEGATIVE ? -0.375f
                                               : urand();
    const int oh = rf_conv_out_size(k->h, k->k, k->stride, k->k / 2);
    const int ow = rf_conv_out_size(k->w, k->k, k->stride, k->k / 2);
    s->out_buf = make_tensor(&s->out, &s->out_floats, k->n, oh, ow, k->cout,
                             k->cout + k->out_extra, k->flat ? 0 : 7);
    s->out.data += k->out_c0;
    s->res_buf = NULL;
    s->res_read = NULL;
    if (k->residual) {
        s->res_buf = make_tensor(&s->res, &floats, k->n, oh, ow, k->cout, k->cout + 2,
                                 k->flat ? 0 : 1);
        for (size_t i = 0; i < floats; i++)
            s->res_buf[i] = urand();
    }
    const size_t nout = (size_t)k->n * oh * ow * k->cout;
    s->exact = malloc(nout * sizeof(double));
    s->mag = malloc(nout * sizeof(double));
    naive_conv(s, k);
}

static void setup(const conv_case *k, conv_setup *s)
{
    setup_fill(k, s, FILL_RANDOM);
}

static void teardown(conv_setup *s)
{
    free(s->cv.weight);
    free(s->cv.bias);
    free(s->cv.packed);
    free(s->in_buf);
    free(s->out_buf);
    free(s->res_buf);
    free(s->exact);
    free(s->mag);
}

/* Runs conv of set ks on input `in` over the output in pieces as threads would (three bands of
 * rows, each in two groups of channels where there are more than RF_CONV_CHANNEL_STEP), the
 * output first filled with SENTINEL. */
static void run_parts_copy(const conv_case *k, conv_setup *s, const rf_kernel_set *ks,
                           const rf_tensor *in, const rf_conv_copy *copy)
{
    for (size_t i = 0; i < s->out_floats; i++)
        s->out_buf[i] = SENTINEL;
    const int rows = s->out.n * s->out.h;
    int cut1 = (int)((urand() + 1.0f) * 0.5f * rows), cut2 = (int)((urand() + 1.0f) * 0.5f * rows);
    if (cut1 > cut2) {
        const int t = cut1;
        cut1 = cut2;
        cut2 = t;
    }
    const rf_tensor *res = !k->residual ? NULL : s->res_read ? s->res_read : &s->res;
    const size_t need = ks->scratch_floats ? ks->scratch_floats(&s->cv) : 0;
    float *scratch = need ? aligned_alloc(64, need * sizeof(float)) : NULL;
    const int groups = (s->cv.cout + RF_CONV_CHANNEL_STEP - 1) / RF_CONV_CHANNEL_STEP;
    const int gcut = groups > 1 ? 1 + (int)((urand() + 1.0f) * 0.5f * (groups - 1)) : groups;
    const int chcut = gcut * RF_CONV_CHANNEL_STEP < s->cv.cout ? gcut * RF_CONV_CHANNEL_STEP
                                                                : s->cv.cout;
    const int row_at[] = {0, cut1, cut2, rows}, ch_at[] = {0, chcut, s->cv.cout};
    for (int r = 0; r < 3; r++)
        for (int c = 0; c < 2; c++)
            if (ch_at[c] < ch_at[c + 1])
                ks->conv(&s->cv, in, res, k->act, &s->out, copy,
                         (rf_conv_part){row_at[r], row_at[r + 1], ch_at[c], ch_at[c + 1]},
                         scratch);
    free(scratch);
}

static void run_parts(const conv_case *k, conv_setup *s, const rf_kernel_set *ks,
                      const rf_tensor *in)
{
    run_parts_copy(k, s, ks, in, NULL);
}

/* Whether every output inside the slice and nothing outside it (other channels, gaps between
 * images) was written. */
static void check_written(const conv_case *k, const conv_setup *s, const rf_kernel_set *ks)
{
    size_t written = 0, outputs = (size_t)s->out.n * s->out.h * s->out.w * s->cv.cout;
    for (size_t i = 0; i < s->out_floats; i++)
        written += s->out_buf[i] != SENTINEL;
    CHECK(written == outputs, "%s %s: %zu elements written for %zu outputs", ks->name, k->what,
          written, outputs);
}

/* run_parts on the float input, then every element checked: within tolerance inside the slice,
 * untouched outside. Returns the worst relative error. */
static double run_and_check(const conv_case *k, conv_setup *s, const rf_kernel_set *ks)
{
    run_parts(k, s, ks, &s->in);
    double worst = 0;
    size_t o = 0;
    for (int i = 0; i < s->out.n; i++)
        for (int y = 0; y < s->out.h; y++)
            for (int x = 0; x < s->out.w; x++)
                for (int c = 0; c < s->cv.cout; c++, o++) {
                    const double e = fabs(px(&s->out, i, y, x)[c] - s->exact[o]) /
                                     (s->mag[o] > 1e-3 ? s->mag[o] : 1e-3);
                    worst = e > worst || e != e ? e : worst;
                }
    check_written(k, s, ks);
    CHECK(worst <= REL_TOL, "%s %s: relative error %.3g > %g", ks->name, k->what, worst,
          REL_TOL);
    return worst;
}

/* Set i of the table if it is one and this CPU runs it, else NULL; *name its name (or NULL). */
static const rf_kernel_set *runnable_set(int i, const char **name)
{
    int count;
    const rf_kernel_set *all = rf_kernel_sets(&count);
    *name = i < count ? all[i].name : NULL;
    /* the reduced-precision sets have their own test (test_reduced) */
    if (i < count && all[i].precision != RF_PRECISION_FP32) {
        *name = NULL;
        return NULL;
    }
    return *name ? rf_kernels_select(all[i].id, all[i].precision, NULL) : NULL;
}

static int set_count(void)
{
    int count;
    rf_kernel_sets(&count);
    return count;
}

static void test_case(const conv_case *k)
{
    conv_setup s;
    setup(k, &s);
    printf("  %-34s", k->what);
    for (int i = 0; i < set_count(); i++) {
        const char *name;
        const rf_kernel_set *ks = runnable_set(i, &name);
        if (!ks) {
            if (name)
                printf("  %s -", name);
            continue;
        }
        pack(ks, &s.cv);
        printf("  %s %.2g", ks->name, run_and_check(k, &s, ks));
    }
    printf("\n");
    teardown(&s);
}

/* ---------------------------------------------------------------- reduced precision
 *
 * Every bf16 and int8 set the CPU runs, on the cases above, against the reference set of its
 * precision, its input prepared as ops.c's conv_prepared prepares it; and each reference against
 * the exact (double) convolution. Errors are relative to |bias| + |residual| + sum |x w| of the
 * output, as above. Layers a reduced set keeps in float32 (depthwise, cin <= 3: not
 * rf_conv_reduced) are held to the float32 bounds instead. */

/* bf16 reference against the exact convolution: x and w each rounded to 8 significant bits
 * (relative error <= 2^-9 each), so each product is off by at most (1 + 2^-9)^2 - 1 < 2^-8 of
 * |x w|, and the output by at most 2^-8 = 3.9e-3 of sum |x w| plus the float sums' drift
 * (REL_TOL): a proven bound. Seen: under 1e-3 (the roundings mostly cancel). */
#define REF_BF16_TOL (3.9063e-3 + REL_TOL)
/* int8 reference against the exact convolution: each input off by at most half a step of
 * its tensor's range / 255 (here [-1, 1): 1/255), each weight by half a step of its channel's
 * max |w| / 127. With the uniform numbers of these cases (E|x| = 1/2, max |w| / E|w| = 2) the
 * two add up, if every error had the sign of its term, to (1/255) / (1/2) + (1/254) * 2 = 1.6e-2
 * of sum |x w|: the bound, with a margin for the constant inputs. Seen: a few 1e-3. */
#define REF_INT8_TOL 2e-2
/* int8 SIMD against the int8 reference: the same uint8 inputs (the same rint of x / scale) and
 * int8 weights give the same int32 sums exactly (VPDPBUSD does not saturate; the padding is
 * the zero point, which the weight sums take out); only the float dequantization
 * sum * (s_in * s_w) + bias (+ residual) may round differently (FMA, order): a few ulps of
 * the largest term, 2^-24 = 6e-8 each. Seen: 1e-7. */
#define SIMD_INT8_TOL 1e-6
/* bf16 direct SIMD against the bf16 reference: the same rounded operands, products exact in
 * float (8 x 8 significant bits), so only the order of the float32 sums differs (VDPBF16PS adds
 * two products a lane, the reference one at a time): ~sqrt(n) 2^-24 as in the float32 sets.
 * Seen: 1.8e-7 at worst. */
#define SIMD_BF16_TOL 1e-6
/* bf16 Winograd (avx512_bf16's 3x3 stride-1 layers) against the bf16 reference: the rounding
 * to bf16 happens at other points - the transformed inputs B^T d B (float32, then rounded) and
 * the transformed kernels G g G^T (rounded once, from double) instead of d and g - and the
 * output transform A^T m A (coefficients up to 8) magnifies those roundings as it magnifies
 * float32's in the float32 Winograd (about 2.5x the direct error above: 5e-7 to 7e-7 seen).
 * The same algorithm with a unit roundoff of 2^-9 instead of 2^-24 errs 2^15 times as much:
 * seen 0.5 to 0.9 x 2^15 x the float32 Winograd's error of the same case, 1.4e-2 at worst
 * (16 channels: fewer terms to average the roundings out), ten times the bf16 reference's own
 * error. Bound: 2^15 x the float32 Winograd's worst (~1e-6) = 3.3e-2, used against the exact
 * result too; a wrong or missing term (1/n of sum |x w|, n = 9 cin <= 144 here: >= 7e-3 on the
 * small layers) may hide under it, but those paths are the float32 Winograd's, tested above at
 * 3e-5, and the direct bf16 path's, tested at 1e-6. */
#define WINO_BF16_TOL 3.3e-2

/* The worst |out - want| / max(mag, 1e-3) over the outputs of the slice, want the exact result
 * (want NULL) or another set's outputs ([n][oh][ow][cout]); NaN where an output is NaN. */
static char worst_at[96]; /* where worst_error found it: image, line, column, channel */
static double worst_error_beyond(const conv_setup *s, const float *want, double allowed);
static double worst_error(const conv_setup *s, const float *want)
{
    return worst_error_beyond(s, want, 0.0);
}

/* The same, of the part of each error above `allowed` (an absolute error the case permits). */
static double worst_error_beyond(const conv_setup *s, const float *want, double allowed)
{
    double worst = 0;
    size_t o = 0;
    worst_at[0] = 0;
    for (int i = 0; i < s->out.n; i++)
        for (int y = 0; y < s->out.h; y++)
            for (int x = 0; x < s->out.w; x++)
                for (int c = 0; c < s->cv.cout; c++, o++) {
                    const double w = want ? want[o] : s->exact[o];
                    const double d = fabs(px(&s->out, i, y, x)[c] - w) - allowed;
                    const double e = (d > 0 || d != d ? d : 0) /
                                     (s->mag[o] > 1e-3 ? s->mag[o] : 1e-3);
                    if (e > worst || e != e) {
                        worst = e;
                        snprintf(worst_at, sizeof worst_at, "at [%d][%d][%d][%d]: %.6g, want %.6g",
                                 i, y, x, c, (double)px(&s->out, i, y, x)[c], w);
                    }
                }
    return worst;
}

/* The outputs of the slice into dst ([n][oh][ow][cout]). */
static void copy_out(const conv_setup *s, float *dst)
{
    for (int i = 0; i < s->out.n; i++)
        for (int y = 0; y < s->out.h; y++)
            for (int x = 0; x < s->out.w; x++, dst += s->cv.cout)
                memcpy(dst, px(&s->out, i, y, x), sizeof(float) * (size_t)s->cv.cout);
}

/* A tensor for in converted as conv reads it (BF16 or U8 with scale and zero_point): dense,
 * 64-byte aligned (as arena tensors are), rf_conv_words words per pixel, U8 with conv->pad
 * pixels around the map; all-ones bytes (NaN bf16 pairs, uint8 255) until written. *buf: its
 * memory, to free. */
static rf_tensor converted_tensor(const rf_conv *cv, const rf_tensor *in, rf_read read,
                                  float scale, int zero_point, float **buf)
{
    const int pad = read == RF_READ_U8 ? cv->pad : 0;
    const int words =
        rf_conv_words(cv->cin, read == RF_READ_U8 ? RF_PRECISION_INT8 : RF_PRECISION_BF16);
    rf_tensor q = {.n = in->n, .h = in->h + 2 * pad, .w = in->w + 2 * pad, .c = words,
                   .pstride = words, .arena_id = -1, .scale = scale, .zero_point = zero_point};
    q.nstride = (int64_t)q.h * q.w * words;
    const size_t bytes = ((size_t)q.n * (size_t)q.nstride * sizeof(float) + 63) & ~(size_t)63;
    *buf = q.data = aligned_alloc(64, bytes);
    CHECK(q.data != NULL, "out of memory");
    memset(q.data, 0xff, bytes);
    return q;
}

/* The input of conv (packed for ks) as ks reads it (rf_read), prepared as ops.c's
 * conv_prepared prepares it: F32, the tensor as it is; F32_RANGE, the same view with scale and
 * zero_point from its range (ks->range over two shares of rows, as the pool splits it, then
 * rf_quant_params); BF16 and U8, a converted_tensor written by ks->convert_input in two
 * shares of rows, so a word convert_input leaves unwritten shows. *buf: the copy, to free. */
static rf_tensor prepare_input(const rf_kernel_set *ks, const rf_conv *cv, const rf_tensor *in,
                               float **buf)
{
    rf_tensor t = *in;
    *buf = NULL;
    const rf_read read = ks->input_read ? ks->input_read(cv) : RF_READ_F32;
    if (read == RF_READ_F32)
        return t;
    if (read == RF_READ_F32_RANGE || read == RF_READ_U8) {
        const int rows = in->n * in->h, cut = rows / 2;
        float lo0, hi0, lo1, hi1;
        ks->range(in, 0, cut, &lo0, &hi0);
        ks->range(in, cut, rows, &lo1, &hi1);
        rf_quant_params(lo0 < lo1 ? lo0 : lo1, hi0 > hi1 ? hi0 : hi1, &t.scale, &t.zero_point);
        if (read == RF_READ_F32_RANGE)
            return t;
    }
    rf_tensor q = converted_tensor(cv, in, read, t.scale, t.zero_point, buf);
    const int rows = q.n * q.h, cut = rows / 3;
    ks->convert_input(cv, in, &q, 0, cut);
    ks->convert_input(cv, in, &q, cut, rows);
    return q;
}

/* The worst errors seen, per comparison, for the summary. */
enum { W_REF_BF16, W_REF_INT8, W_BF16_DIRECT, W_BF16_WINO, W_INT8, W_BF16_WINO_EXACT, W_COUNT };
static double worst_seen[W_COUNT];
static const char *const worst_names[W_COUNT] = {
    "reference_bf16 vs exact", "reference_int8 vs exact", "bf16 SIMD direct vs reference_bf16",
    "bf16 SIMD Winograd vs reference_bf16", "int8 SIMD vs reference_int8",
    "bf16 SIMD Winograd vs exact"};
static const double worst_bounds[W_COUNT] = {REF_BF16_TOL, REF_INT8_TOL, SIMD_BF16_TOL,
                                             WINO_BF16_TOL, SIMD_INT8_TOL, WINO_BF16_TOL};

static void note_worst(int which, double e)
{
    worst_seen[which] = e > worst_seen[which] || e != e ? e : worst_seen[which];
}

/* The copy of its output that ks writes as it stores it, for a next layer of padding 1
 * (kernel_set.h, conv): word for word what convert_input makes of that output - for U8 with
 * a range half the output's (so that some values clamp) - in the map's interior, and nothing
 * written around it (the caller fills U8's border); with `only`, the output left unwritten. */
static int copies_tested;
static int residuals_tested; /* SIMD runs with a bf16 or uint8 residual */
static void test_copy(const conv_case *k, conv_setup *s, const rf_kernel_set *ks,
                      const rf_tensor *in, rf_read read, int only)
{
    rf_conv next = {.cin = s->cv.cout, .cout = s->cv.cout, .kh = 3, .kw = 3, .stride = 1,
                    .pad = 1, .groups = 1};
    float lo, hi, scale = 0;
    int zero_point = 0;
    if (read == RF_READ_U8) {
        ks->range(&s->out, 0, s->out.n * s->out.h, &lo, &hi);
        rf_quant_params(lo / 2, hi / 2, &scale, &zero_point);
    }
    float *got_buf, *want_buf;
    const rf_conv_copy copy = {converted_tensor(&next, &s->out, read, scale, zero_point,
                                                &got_buf), only};
    const rf_tensor got = copy.t;
    /* only: the outputs of the run before are kept aside, the buffer filled with SENTINEL (a
     * written output would show), then put back to convert from */
    float *kept = only ? malloc(sizeof(float) * s->out_floats) : NULL;
    CHECK(!only || kept, "out of memory");
    if (kept) {
        memcpy(kept, s->out_buf, sizeof(float) * s->out_floats);
        for (size_t i = 0; i < s->out_floats; i++)
            s->out_buf[i] = SENTINEL;
    }
    run_parts_copy(k, s, ks, in, &copy);
    if (kept) {
        size_t written = 0;
        for (size_t i = 0; i < s->out_floats; i++)
            written += s->out_buf[i] != SENTINEL;
        CHECK(written == 0, "%s %s: %zu outputs written beside the copy alone", ks->name,
              k->what, written);
        memcpy(s->out_buf, kept, sizeof(float) * s->out_floats);
        free(kept);
    }
    rf_tensor want = converted_tensor(&next, &s->out, read, scale, zero_point, &want_buf);
    ks->convert_input(&next, &s->out, &want, 0, want.n * want.h);
    const int pad = read == RF_READ_U8 ? next.pad : 0;
    size_t differ = 0, outside = 0, words = (size_t)want.n * want.nstride;
    for (size_t i = 0; i < words; i++) {
        const size_t px = i / (size_t)want.pstride;
        const int x = (int)(px % (size_t)want.w), y = (int)(px / (size_t)want.w % (size_t)want.h);
        const int inside = x >= pad && x < want.w - pad && y >= pad && y < want.h - pad;
        uint32_t g, w;
        memcpy(&g, got.data + i, 4);
        memcpy(&w, want.data + i, 4);
        differ += inside && g != w;
        outside += !inside && g != 0xffffffffu;
    }
    CHECK(differ == 0 && outside == 0,
          "%s %s: its %s copy differs from convert_input in %zu words, %zu written outside",
          ks->name, k->what, read == RF_READ_U8 ? "uint8" : "bf16", differ, outside);
    copies_tested++;
    free(got_buf);
    free(want_buf);
}

/* One precision's sets on a set-up case: the reference against the exact result, then each
 * SIMD set of that precision against the reference, and the copy it writes. */
static void test_reduced_precision(const conv_case *k, conv_setup *s, rf_precision precision,
                                   float *ref_out)
{
    const rf_kernel_set *ref = rf_kernels_select(RF_KERNELS_REFERENCE, precision, NULL);
    CHECK(ref != NULL, "no reference set for %s", rf_precision_name(precision));
    if (!ref)
        return;
    const int reduced = rf_conv_reduced(&s->cv), int8 = precision == RF_PRECISION_INT8;
    pack(ref, &s->cv);
    float *buf;
    rf_tensor in = prepare_input(ref, &s->cv, &s->in, &buf);
    run_parts(k, s, ref, &in);
    free(buf);
    check_written(k, s, ref);
    double e = worst_error(s, NULL);
    double tol = !reduced ? REL_TOL : int8 ? REF_INT8_TOL : REF_BF16_TOL;
    CHECK(e <= tol, "%s %s: relative error %.3g against the exact result > %g (%s)", ref->name,
          k->what, e, tol, worst_at);
    if (reduced)
        note_worst(int8 ? W_REF_INT8 : W_REF_BF16, e);
    printf("  %s %.2g", int8 ? "ref8" : "ref16", e);
    copy_out(s, ref_out);
    int count;
    const rf_kernel_set *all = rf_kernel_sets(&count);
    for (int i = 0; i < count; i++) {
        if (all[i].precision != precision || all[i].id == RF_KERNELS_REFERENCE)
            continue;
        const rf_kernel_set *ks = rf_kernels_select(all[i].id, precision, NULL);
        if (ks != &all[i]) {
            printf("  %s -", all[i].name);
            continue;
        }
        pack(ks, &s->cv);
        const int wino = ((const rf_packed *)s->cv.packed)->layout == RF_PACK_WINOGRAD_BF16;
        in = prepare_input(ks, &s->cv, &s->in, &buf);
        run_parts(k, s, ks, &in);
        check_written(k, s, ks);
        e = worst_error(s, ref_out);
        /* float32 layers: two float32 results, each within REL_TOL of the exact one */
        tol = !reduced ? 2 * REL_TOL : int8 ? SIMD_INT8_TOL : wino ? WINO_BF16_TOL : SIMD_BF16_TOL;
        CHECK(e <= tol, "%s %s: relative error %.3g against %s > %g (%s)", ks->name, k->what, e,
              ref->name, tol, worst_at);
        if (reduced)
            note_worst(int8 ? W_INT8 : wino ? W_BF16_WINO : W_BF16_DIRECT, e);
        printf("  %s%s %.2g", ks->name, wino ? "/w" : "", e);
        if (wino) {
            const double ex = worst_error(s, NULL);
            note_worst(W_BF16_WINO_EXACT, ex);
            CHECK(ex <= WINO_BF16_TOL, "%s %s: relative error %.3g against the exact result > %g",
                  ks->name, k->what, ex, WINO_BF16_TOL);
            printf(" (exact %.2g)", ex);
        }
        const rf_read copy_read = int8 ? RF_READ_U8 : RF_READ_BF16;
        if (ks->writes_copy && ks->writes_copy(&s->cv, copy_read))
            for (int only = 0; only < 2; only++)
                test_copy(k, s, ks, &in, copy_read, only);
        free(buf);
    }
}

/* The residual as a layer of `precision` may read it (rf_tensor.values): bf16, or uint8 over its
 * own range; rf_conv_words words a pixel (spare bytes all ones, to be left alone). *abs_err:
 * the most a value moved (half a uint8 step; bf16: 2^-9 of the largest |value|). */
static rf_tensor reduced_residual(const rf_tensor *res, rf_precision precision, uint32_t **buf,
                                  double *abs_err)
{
    const int int8 = precision == RF_PRECISION_INT8;
    float lo = 0, hi = 0;
    for (int i = 0; i < res->n; i++)
        for (int p = 0; p < res->h * res->w; p++)
            for (int c = 0; c < res->c; c++) {
                const float v = res->data[i * res->nstride + p * res->pstride + c];
                lo = v < lo ? v : lo;
                hi = v > hi ? v : hi;
            }
    rf_tensor q = *res;
    rf_quant_params(lo, hi, &q.scale, &q.zero_point);
    *abs_err = int8 ? 0.5 * q.scale : (hi > -lo ? hi : -lo) / 512.0;
    q.values = int8 ? RF_VALUES_U8 : RF_VALUES_BF16;
    q.pstride = rf_conv_words(res->c, precision);
    q.nstride = (int64_t)res->h * res->w * q.pstride;
    const size_t words = (size_t)res->n * (size_t)q.nstride;
    *buf = aligned_alloc(64, (words * 4 + 63) & ~(size_t)63);
    memset(*buf, 0xff, words * 4);
    uint8_t *b = (uint8_t *)*buf;
    uint16_t *h = (uint16_t *)*buf;
    for (int i = 0; i < res->n; i++)
        for (int p = 0; p < res->h * res->w; p++)
            for (int c = 0; c < res->c; c++) {
                const float v = res->data[i * res->nstride + p * res->pstride + c];
                const int64_t at = i * q.nstride + p * q.pstride;
                if (!int8) {
                    h[at * 2 + c] = rf_bf16_bits(v);
                    continue;
                }
                const float r = rintf(v / q.scale) + (float)q.zero_point;
                b[at * 4 + c] = r < 0 ? 0 : r > 255 ? 255 : (uint8_t)r;
            }
    q.data = (float *)(void *)*buf;
    return q;
}

/* Layers of `precision` with a reduced residual (reduced_residual): the reference against the
 * exact result, within its bound plus the residual's rounding (an absolute error), each SIMD set
 * against the reference. */
static void test_reduced_residual(const conv_case *k, conv_setup *s, rf_precision precision,
                                  float *ref_out)
{
    const int int8 = precision == RF_PRECISION_INT8;
    const rf_kernel_set *ref = rf_kernels_select(RF_KERNELS_REFERENCE, precision, NULL);
    pack(ref, &s->cv);
    if (!ref->reduced_residual || !ref->reduced_residual(&s->cv))
        return;
    uint32_t *qbuf;
    double moved;
    const rf_tensor q = reduced_residual(&s->res, precision, &qbuf, &moved);
    const char *kind = int8 ? "uint8" : "bf16";
    s->res_read = &q;
    float *buf;
    rf_tensor in = prepare_input(ref, &s->cv, &s->in, &buf);
    run_parts(k, s, ref, &in);
    free(buf);
    check_written(k, s, ref);
    double e = worst_error_beyond(s, NULL, moved);
    const double ref_tol = int8 ? REF_INT8_TOL : REF_BF16_TOL;
    CHECK(e <= ref_tol, "%s %s, %s residual: relative error %.3g against the exact result > %g "
          "(%s)", ref->name, k->what, kind, e, ref_tol, worst_at);
    printf("  %s %.2g", int8 ? "res8" : "res16", e);
    copy_out(s, ref_out);
    int count;
    const rf_kernel_set *all = rf_kernel_sets(&count);
    for (int i = 0; i < count; i++) {
        const rf_kernel_set *ks = &all[i];
        if (ks->precision != precision || ks->id == RF_KERNELS_REFERENCE ||
            rf_kernels_select(ks->id, precision, NULL) != ks)
            continue;
        pack(ks, &s->cv);
        if (!ks->reduced_residual || !ks->reduced_residual(&s->cv))
            continue;
        in = prepare_input(ks, &s->cv, &s->in, &buf);
        run_parts(k, s, ks, &in);
        free(buf);
        check_written(k, s, ks);
        e = worst_error(s, ref_out);
        const double tol = int8 ? SIMD_INT8_TOL : SIMD_BF16_TOL;
        CHECK(e <= tol, "%s %s, %s residual: relative error %.3g against %s > %g (%s)", ks->name,
              k->what, kind, e, ref->name, tol, worst_at);
        printf(" %s %.2g", ks->name, e);
        residuals_tested++;
    }
    s->res_read = NULL;
    free(qbuf);
}

static void test_reduced_case(const conv_case *k, input_fill fill)
{
    conv_setup s;
    setup_fill(k, &s, fill);
    printf("  %-34s", k->what);
    float *ref_out = malloc(sizeof(float) * (size_t)s.out.n * s.out.h * s.out.w * s.cv.cout);
    test_reduced_precision(k, &s, RF_PRECISION_BF16, ref_out);
    test_reduced_precision(k, &s, RF_PRECISION_INT8, ref_out);
    if (k->residual) {
        test_reduced_residual(k, &s, RF_PRECISION_BF16, ref_out);
        test_reduced_residual(k, &s, RF_PRECISION_INT8, ref_out);
    }
    printf("%s\n", rf_conv_reduced(&s.cv) ? "" : "  (float32 layer)");
    free(ref_out);
    teardown(&s);
}

/* Input channels that do not fill the last word: cin odd (bf16 pairs) or not a multiple of 4
 * (int8 quadruples), in 1x1, direct 3x3 and 5x5, strided and Winograd layers, with dense
 * pixels (pstride == c) and with padded ones. (None of RetinaFace's reduced layers has such a
 * count: all are multiples of 8.) */
static const conv_case word_tail_cases[] = {
    {"1x1 5->20, cin odd", 1, 6, 7, 5, 20, 1, 1, 0, 0, 0, 0, 0, {RF_ACT_NONE, 0}, 0},
    {"1x1 6->32, cin 2 mod 4", 2, 5, 4, 6, 32, 1, 1, 0, 0, 0, 0, 1, {RF_ACT_RELU, 0}, 0},
    {"1x1 66->72, cin 2 mod 4, slices", 1, 5, 6, 66, 72, 1, 1, 0, 3, 8, 4, 1,
     {RF_ACT_LEAKY, 0.1f}, 0},
    {"1x1 131->64, cin odd, flat", 2, 4, 5, 131, 64, 1, 1, 0, 0, 0, 0, 0, {RF_ACT_RELU, 0}, 1},
    {"3x3 7->16, cin odd", 1, 6, 5, 7, 16, 3, 1, 0, 0, 0, 0, 0, {RF_ACT_LEAKY, 0.1f}, 0},
    {"3x3 6->16, cin 2 mod 4", 1, 6, 5, 6, 16, 3, 1, 0, 0, 0, 0, 0, {RF_ACT_NONE, 0}, 0},
    {"3x3 8->16, cin 0 mod 4", 1, 6, 5, 8, 16, 3, 1, 0, 0, 0, 0, 0, {RF_ACT_NONE, 0}, 0},
    {"3x3/2 13->24, cin odd", 2, 9, 8, 13, 24, 3, 2, 0, 0, 0, 0, 1, {RF_ACT_RELU, 0}, 0},
    {"3x3 37->40 winograd, cin odd", 1, 9, 10, 37, 40, 3, 1, 0, 2, 0, 0, 1, {RF_ACT_RELU, 0},
     0},
    {"3x3 18->20, cin 2 mod 4, slices", 1, 7, 6, 18, 20, 3, 1, 0, 3, 4, 2, 0, {RF_ACT_RELU, 0},
     0},
    {"3x3 66->64, cin 2 mod 4", 1, 5, 6, 66, 64, 3, 1, 0, 0, 0, 0, 0, {RF_ACT_NONE, 0}, 0},
    {"5x5 10->12, cin 2 mod 4", 1, 8, 7, 10, 12, 5, 1, 0, 0, 0, 0, 0, {RF_ACT_NONE, 0}, 0},
};

/* Inputs whose range is one value: all zero (no range at all: scale 1, zero point 0), or a
 * constant above or below zero (the range [0, c] or [c, 0]: the value is the top or bottom
 * step). */
static const conv_case degenerate_cases[] = {
    {"1x1 64->64", 1, 5, 7, 64, 64, 1, 1, 0, 0, 0, 0, 1, {RF_ACT_RELU, 0}, 0},
    {"3x3 64 winograd", 1, 9, 6, 64, 64, 3, 1, 0, 0, 0, 0, 0, {RF_ACT_LEAKY, 0.1f}, 0},
    {"3x3/2 padded input", 2, 9, 7, 36, 40, 3, 2, 0, 5, 0, 0, 1, {RF_ACT_NONE, 0}, 0},
};

static void test_reduced(void)
{
    printf("  reduced precision: worst error / (|bias| + |res| + sum |x w|): ref16 / ref8 the "
           "bf16 / int8 reference against the exact result, each SIMD set (/w: Winograd) against "
           "the reference of its precision:\n");
    for (int i = 0; i < NCASES; i++)
        test_reduced_case(&cases[i], FILL_RANDOM);
    for (int i = 0; i < (int)(sizeof word_tail_cases / sizeof word_tail_cases[0]); i++)
        test_reduced_case(&word_tail_cases[i], FILL_RANDOM);
    static const char *const fill_names[] = {"", "zero", "constant > 0", "constant < 0"};
    for (int f = FILL_ZERO; f <= FILL_NEGATIVE; f++)
        for (int i = 0; i < (int)(sizeof degenerate_cases / sizeof degenerate_cases[0]); i++) {
            char what[80];
            conv_case k = degenerate_cases[i];
            snprintf(what, sizeof what, "%s, input %s", k.what, fill_names[f]);
            k.what = what;
            test_reduced_case(&k, (input_fill)f);
        }
    printf("  copies written with the outputs, equal to convert_input's: %d\n", copies_tested);
    printf("  SIMD layers with bf16 or uint8 residuals against the reference: %d\n",
           residuals_tested);
    CHECK(residuals_tested > 0 || (!rf_kernels_select(RF_KERNELS_AVX512, RF_PRECISION_INT8, NULL) &&
                                   !rf_kernels_select(RF_KERNELS_AVX512, RF_PRECISION_BF16, NULL)),
          "no reduced set read a reduced residual");
    CHECK(copies_tested > 0 || !rf_kernels_select(RF_KERNELS_AVX512, RF_PRECISION_BF16, NULL),
          "no set wrote a copy");
    printf("  reduced precision, worst over the cases (bound):\n");
    for (int w = 0; w < W_COUNT; w++)
        printf("    %-38s %.3g (%.3g)\n", worst_names[w], worst_seen[w], worst_bounds[w]);
}

/* The contents of a small text file (NULL if it cannot be read); free it. */
static char *read_text(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t len = 0, cap = 1 << 16;
    char *text = malloc(cap);
    size_t got;
    while (text && (got = fread(text + len, 1, cap - 1 - len, f)) > 0) {
        len += got;
        if (len == cap - 1) {
            char *more = realloc(text, cap *= 2);
            if (!more)
                free(text);
            text = more;
        }
    }
    fclose(f);
    if (text)
        text[len] = 0;
    return text;
}

/* Whether `word` stands in the text from `from` to the end of its line, space-separated. */
static int has_word(const char *from, const char *word)
{
    const size_t n = strlen(word);
    const char *end = strchr(from, '\n');
    for (const char *p = strstr(from, word); p && (!end || p < end); p = strstr(p + 1, word))
        if ((p == from || p[-1] == ' ' || p[-1] == '\t') &&
            (p[n] == ' ' || p[n] == '\n' || p[n] == 0))
            return 1;
    return 0;
}

/* The "flags" line of /proc/cpuinfo (from after its colon), an account of the CPU's features
 * independent of the library's __builtin_cpu_supports; NULL where Linux does not give one.
 * *text is the buffer to free. */
static const char *cpuinfo_flags(char **text)
{
    *text = read_text("/proc/cpuinfo");
    const char *line = *text ? strstr(*text, "\nflags") : NULL;
    const char *colon = line ? strchr(line, ':') : NULL;
    return colon ? colon + 1 : NULL;
}

/* The COMPILE_OPTIONS that CMakeLists.txt gives the source files of set `name`
 * (src/kernels/kernels_NAME.c) up to the closing quote, or NULL. */
static const char *cmake_flags(const char *cmake, const char *name)
{
    char pattern[64];
    snprintf(pattern, sizeof pattern, "\"_%s\\\\.c$\"", name);
    const char *at = strstr(cmake, pattern);
    const char *opts = at ? strstr(at, "COMPILE_OPTIONS") : NULL;
    return opts ? strchr(opts, '"') : NULL;
}

/* Every -mFEATURE the set is compiled with is a feature its entry declares: a CPU without it
 * would otherwise be offered code it cannot run. */
static void check_compile_flags(const char *cmake, const rf_kernel_set *ks)
{
    const char *q = cmake_flags(cmake, ks->name);
    CHECK(q != NULL, "CMakeLists.txt gives src/kernels/kernels_%s.c no COMPILE_OPTIONS",
          ks->name);
    if (!q)
        return;
    const char *end = strchr(q + 1, '"');
    int flags = 0;
    for (const char *p = q + 1; end && p < end; p += strcspn(p, ";\"") + 1) {
        const size_t len = strcspn(p, ";\"");
        if (len < 3 || strncmp(p, "-m", 2) != 0)
            continue;
        int bit = -1;
        for (int b = 0; b < RF_CPU_FEATURE_COUNT; b++)
            if (strlen(rf_cpu_feature_name(b)) == len - 2 &&
                !strncmp(p + 2, rf_cpu_feature_name(b), len - 2))
                bit = b;
        CHECK(bit >= 0 && (ks->cpu_features >> bit & 1),
              "%s is compiled with %.*s, which its table entry does not require", ks->name,
              (int)len, p);
        flags++;
    }
    CHECK(flags > 0, "%s: no -m flags found in CMakeLists.txt", ks->name);
}

/* Whether RETINAFACE_CPU_DISABLE (comma-separated /proc/cpuinfo names) names feature `bit`:
 * the library then treats it as absent. */
static int disabled(int bit)
{
    const char *list = getenv("RETINAFACE_CPU_DISABLE");
    const char *name = rf_cpu_feature_cpuinfo_name(bit);
    const size_t n = strlen(name);
    for (const char *p = list ? strstr(list, name) : NULL; p; p = strstr(p + 1, name))
        if ((p == list || p[-1] == ',' || p[-1] == ' ') && (p[n] == ',' || p[n] == ' ' || !p[n]))
            return 1;
    return 0;
}

/* rf_kernels_select for each precision: auto takes the last set of that precision the CPU
 * runs, except that bf16 and int8 do not fall back to their reference (NULL, with the features
 * the SIMD set lacks in *missing); a family without a set of that precision gives NULL with
 * missing 0; and precision names round-trip, unknown ones are refused. */
static void test_select_precision(void)
{
    int count;
    const rf_kernel_set *all = rf_kernel_sets(&count);
    const rf_precision precisions[] = {RF_PRECISION_FP32, RF_PRECISION_BF16, RF_PRECISION_INT8};
    for (int p = 0; p < 3; p++) {
        const rf_precision prec = precisions[p];
        const rf_kernel_set *last = NULL, *simd = NULL;
        for (int i = 0; i < count; i++)
            if (all[i].precision == prec) {
                if (all[i].id != RF_KERNELS_REFERENCE)
                    simd = &all[i];
                if (rf_kernels_select(all[i].id, prec, NULL) == &all[i])
                    last = &all[i];
            }
        unsigned missing = 12345;
        const rf_kernel_set *got = rf_kernels_select(RF_KERNELS_AUTO, prec, &missing);
        const unsigned lack = simd ? simd->cpu_features & ~rf_cpu_features() : 0;
        if (prec == RF_PRECISION_FP32 || !lack) {
            CHECK(got == last && missing == 0, "auto %s: %s, the last supported set is %s",
                  rf_precision_name(prec), got ? got->name : "none", last ? last->name : "none");
        } else {
            CHECK(got == NULL && missing == lack,
                  "auto %s where %s lacks %#x: %s, missing %#x", rf_precision_name(prec),
                  simd->name, lack, got ? got->name : "none", missing);
        }
        const rf_kernel_set *ref = rf_kernels_select(RF_KERNELS_REFERENCE, prec, &missing);
        CHECK(ref && ref->precision == prec && !ref->cpu_features && missing == 0,
              "the %s reference runs everywhere", rf_precision_name(prec));
        if (prec != RF_PRECISION_FP32) {
            missing = 12345;
            CHECK(rf_kernels_select(RF_KERNELS_AVX2, prec, &missing) == NULL && missing == 0,
                  "avx2 has no %s set: NULL with nothing missing", rf_precision_name(prec));
            got = rf_kernels_select(RF_KERNELS_AVX512, prec, &missing);
            CHECK(got ? got == simd && missing == 0 : missing == lack && lack != 0,
                  "avx512 %s: %s, missing %#x", rf_precision_name(prec),
                  got ? got->name : "none", missing);
        }
        rf_precision back = (rf_precision)-1;
        CHECK(rf_precision_parse(rf_precision_name(prec), &back) == RF_OK && back == prec,
              "%s does not round-trip", rf_precision_name(prec));
        printf("  %s: auto %s", rf_precision_name(prec), got ? got->name : "none");
        if (lack) {
            char text[128];
            rf_cpu_features_text(lack, text, sizeof text);
            printf(" (the CPU lacks %s for %s)", text, simd->name);
        }
        printf("\n");
    }
    unsigned missing = 12345;
    CHECK(rf_kernels_select(RF_KERNELS_AUTO, (rf_precision)3, &missing) == NULL && missing == 0,
          "an unknown precision selects nothing");
    const char *bad[] = {"fp16", "", "FP32", "bf16 ", "int4"};
    for (int i = 0; i < 5; i++) {
        rf_precision out = RF_PRECISION_BF16;
        CHECK(rf_precision_parse(bad[i], &out) == RF_E_ARG && out == RF_PRECISION_BF16,
              "precision '%s' accepted", bad[i]);
    }
    rf_precision out = RF_PRECISION_BF16;
    CHECK(rf_precision_parse(NULL, &out) == RF_E_ARG, "a null precision name accepted");
    CHECK(!strcmp(rf_precision_name((rf_precision)7), "unknown"), "name of precision 7");
}

/* The table: every entry sits at its id and has the functions the callers use; a set is
 * offered exactly where the CPU has the features it declares (by /proc/cpuinfo, not by the
 * library's own test, less those RETINAFACE_CPU_DISABLE names), each SIMD set declares the
 * features it is compiled for, names parse back to their family, and for each precision
 * RF_KERNELS_AUTO picks the last supported set of that precision in table order (the table
 * holds fp32 sets reference, avx2, avx512; bf16 reference_bf16, avx512_bf16; int8
 * reference_int8, avx512_vnni; test_select_precision checks the choice per precision). The
 * reduced sets share their family's id (reference or avx512), so only the fp32 ones are named
 * as their family. */
static void test_select(void)
{
    int count;
    const rf_kernel_set *all = rf_kernel_sets(&count);
    char *cpuinfo, *cmake = read_text(RF_SOURCE_DIR "/CMakeLists.txt");
    const char *flags = cpuinfo_flags(&cpuinfo);
    CHECK(cmake != NULL, "cannot read %s/CMakeLists.txt", RF_SOURCE_DIR);
    if (!flags)
        printf("  no flags in /proc/cpuinfo: the sets offered are not checked against them\n");
    const rf_kernel_set *last = NULL;
    int sets = 0;
    for (int i = 0; i < count; i++) {
        const rf_kernel_set *ks = &all[i];
        CHECK(ks->name != NULL, "table entry %d has no name", i);
        sets++;
        CHECK(ks->conv && ks->max_taps && ks->fma_peak_gflops, "%s lacks a function", ks->name);
        CHECK(!ks->pack_size == !ks->pack && !ks->pack == !ks->pack_layout,
              "%s: pack_size, pack and pack_layout go together", ks->name);
        CHECK(ks->cpu_features >> RF_CPU_FEATURE_COUNT == 0, "%s: unknown features %#x",
              ks->name, ks->cpu_features);
        int has = 1;
        for (int b = 0; b < RF_CPU_FEATURE_COUNT; b++)
            if ((ks->cpu_features >> b & 1) && flags &&
                (!has_word(flags, rf_cpu_feature_cpuinfo_name(b)) || disabled(b)))
                has = 0;
        const rf_kernel_set *got = rf_kernels_select(ks->id, ks->precision, NULL);
        CHECK(!got || got == ks, "select(%s) gives another entry", ks->name);
        if (flags)
            CHECK(!got == !has, "%s offered: %s; its features in /proc/cpuinfo: %s", ks->name,
                  got ? "yes" : "no", has ? "all" : "not all");
        if (got && ks->precision == RF_PRECISION_FP32)
            last = ks;
        if (cmake && ks->cpu_features)
            check_compile_flags(cmake, ks);
        rf_kernels parsed = RF_KERNELS_AUTO;
        CHECK(rf_kernels_parse(rf_kernels_name(ks->id), &parsed) == RF_OK && parsed == ks->id &&
                  (ks->precision != RF_PRECISION_FP32 ||
                   !strcmp(rf_kernels_name(ks->id), ks->name)),
              "%s: name and id do not round-trip", ks->name);
    }
    const rf_kernel_set *ref = rf_kernels_select(RF_KERNELS_REFERENCE, RF_PRECISION_FP32, NULL);
    CHECK(ref && !ref->cpu_features && !ref->pack_size, "the reference set runs everywhere");
    CHECK(sets >= 3, "%d sets in the table", sets);
    const rf_kernel_set *best = rf_kernels_select(RF_KERNELS_AUTO, RF_PRECISION_FP32, NULL);
    CHECK(best != NULL && best == last, "auto picks %s, the last supported set is %s",
          best ? best->name : "none", last ? last->name : "none");
    CHECK(rf_kernels_select((rf_kernels)(RF_KERNELS_AVX512 + 1), RF_PRECISION_FP32, NULL) == NULL,
          "an id past the families selects nothing");
    printf("  kernel sets here:");
    for (int i = 0; i < count; i++)
        if (all[i].name)
            printf(" %s%s", all[i].name,
                   rf_kernels_select(all[i].id, all[i].precision, NULL) ? "" : " (unsupported)");
    printf("; auto: %s\n", best ? best->name : "none");
    free(cpuinfo);
    free(cmake);
}

/* 3x3 stride-2 max pooling of every set against a direct computation: odd sizes, channel
 * counts that leave vector tails, padded pixels, a batch with a gap, rows in two calls. */
static void test_maxpool(int n, int h, int w, int c)
{
    rf_tensor in, out;
    size_t in_floats, out_floats;
    float *in_buf = make_tensor(&in, &in_floats, n, h, w, c, c + 3, 5);
    for (size_t i = 0; i < in_floats; i++)
        in_buf[i] = urand();
    const int oh = rf_conv_out_size(h, 3, 2, 1), ow = rf_conv_out_size(w, 3, 2, 1);
    float *out_buf = make_tensor(&out, &out_floats, n, oh, ow, c, c + 1, 2);
    for (int k = 0; k < set_count(); k++) {
        const char *name;
        const rf_kernel_set *ks = runnable_set(k, &name);
        if (!ks)
            continue;
        for (size_t i = 0; i < out_floats; i++)
            out_buf[i] = SENTINEL;
        const int rows = n * oh, cut = rows / 3;
        rf_maxpool3s2(ks, &in, &out, 0, cut);
        rf_maxpool3s2(ks, &in, &out, cut, rows);
        size_t bad = 0, written = 0;
        for (int i = 0; i < n; i++)
            for (int y = 0; y < oh; y++)
                for (int x = 0; x < ow; x++)
                    for (int ch = 0; ch < c; ch++) {
                        float m = -INFINITY;
                        for (int iy = 2 * y - 1; iy <= 2 * y + 1; iy++)
                            for (int ix = 2 * x - 1; ix <= 2 * x + 1; ix++)
                                if (iy >= 0 && iy < h && ix >= 0 && ix < w &&
                                    px(&in, i, iy, ix)[ch] > m)
                                    m = px(&in, i, iy, ix)[ch];
                        bad += px(&out, i, y, x)[ch] != m;
                    }
        for (size_t i = 0; i < out_floats; i++)
            written += out_buf[i] != SENTINEL;
        CHECK(bad == 0, "%s maxpool %dx%dx%dx%d: %zu wrong outputs", ks->name, n, h, w, c, bad);
        CHECK(written == (size_t)n * oh * ow * c, "%s maxpool %dx%dx%dx%d: %zu written for %d",
              ks->name, n, h, w, c, written, n * oh * ow * c);
    }
    free(in_buf);
    free(out_buf);
}

/* Max pooling of a bf16 tensor (as the layers after ResNet50's pooling read its output, words
 * of two halves; rf_maxpool3s2 pools those itself, whatever the set): each output half the
 * largest of its taps' values, negative ones and zeros of both signs included (c channels in
 * (c + 1) / 2 words a pixel, and the input one word of padding beyond them). */
static void test_maxpool_bf16(int h, int w, int c)
{
    const int words = (c + 1) / 2;
    rf_tensor in, out;
    size_t in_floats, out_floats;
    float *in_buf = make_tensor(&in, &in_floats, 1, h, w, words, words + 1, 0);
    uint16_t *ih = (uint16_t *)(void *)in_buf;
    for (size_t i = 0; i < in_floats * 2; i++) {
        const float f = i % 7 == 0 ? 0.0f : i % 11 == 0 ? -0.0f : urand() * 100.0f;
        uint32_t u;
        memcpy(&u, &f, 4);
        ih[i] = (uint16_t)(u >> 16);
    }
    in.values = RF_VALUES_BF16;
    const int oh = rf_conv_out_size(h, 3, 2, 1), ow = rf_conv_out_size(w, 3, 2, 1);
    float *out_buf = make_tensor(&out, &out_floats, 1, oh, ow, words, words, 0);
    out.values = RF_VALUES_BF16;
    const char *name;
    const rf_kernel_set *ks = runnable_set(0, &name);
    rf_maxpool3s2(ks, &in, &out, 0, oh);
    size_t bad = 0;
    for (int y = 0; y < oh; y++)
        for (int x = 0; x < ow; x++)
            for (int k = 0; k < 2 * words; k++) {
                float m = -INFINITY;
                for (int iy = 2 * y - 1; iy <= 2 * y + 1; iy++)
                    for (int ix = 2 * x - 1; ix <= 2 * x + 1; ix++)
                        if (iy >= 0 && iy < h && ix >= 0 && ix < w) {
                            const uint16_t hv = ((const uint16_t *)(const void *)px(&in, 0, iy,
                                                                                   ix))[k];
                            const uint32_t u = (uint32_t)hv << 16;
                            float f;
                            memcpy(&f, &u, 4);
                            m = f > m ? f : m;
                        }
                const uint32_t u = (uint32_t)((const uint16_t *)(const void *)px(&out, 0, y,
                                                                                  x))[k]
                                   << 16;
                float got;
                memcpy(&got, &u, 4);
                bad += got != m;
            }
    CHECK(bad == 0, "bf16 maxpool %dx%dx%d: %zu wrong halves", h, w, c, bad);
    free(in_buf);
    free(out_buf);
}

/* conv3 of a ResNet bottleneck writes over its shortcut: every set must give, with the residual
 * in the output buffer, exactly what it gives with the two apart (12 x 32, 6 x 64 and
 * streamed-output paths). */
static void test_residual_in_place(int cin, int cout, int h, int w)
{
    rf_conv cv = {.cin = cin, .cout = cout, .kh = 1, .kw = 1, .stride = 1, .pad = 0, .groups = 1};
    cv.weight = malloc(sizeof(float) * (size_t)cin * cout);
    cv.bias = malloc(sizeof(float) * (size_t)cout);
    for (int i = 0; i < cin * cout; i++)
        cv.weight[i] = urand() / sqrtf((float)cin);
    for (int i = 0; i < cout; i++)
        cv.bias[i] = urand();
    rf_tensor in, res, out, both;
    size_t nin, nout;
    float *in_buf = make_tensor(&in, &nin, 1, h, w, cin, cin, 0);
    float *res_buf = make_tensor(&res, &nout, 1, h, w, cout, cout, 0);
    float *out_buf = make_tensor(&out, &nout, 1, h, w, cout, cout, 0);
    float *both_buf = make_tensor(&both, &nout, 1, h, w, cout, cout, 0);
    for (size_t i = 0; i < nin; i++)
        in_buf[i] = urand();
    for (size_t i = 0; i < nout; i++)
        res_buf[i] = urand();
    const rf_act relu = {RF_ACT_RELU, 0};
    for (int k = 0; k < set_count(); k++) {
        const char *name;
        const rf_kernel_set *ks = runnable_set(k, &name);
        if (!ks)
            continue;
        pack(ks, &cv);
        memcpy(both_buf, res_buf, sizeof(float) * nout);
        ks->conv(&cv, &in, &res, relu, &out, NULL, (rf_conv_part){0, h, 0, cout}, NULL);
        ks->conv(&cv, &in, &both, relu, &both, NULL, (rf_conv_part){0, h, 0, cout}, NULL);
        CHECK(!memcmp(out_buf, both_buf, sizeof(float) * nout),
              "%s: 1x1 %d->%d %dx%d with the residual in the output differs", ks->name, cin,
              cout, h, w);
    }
    free(cv.weight);
    free(cv.bias);
    free(cv.packed);
    free(in_buf);
    free(res_buf);
    free(out_buf);
    free(both_buf);
}

int main(void)
{
    if (getenv("RETINAFACE_CPU_DISABLE"))
        printf("  RETINAFACE_CPU_DISABLE=%s\n", getenv("RETINAFACE_CPU_DISABLE"));
    test_select();
    test_select_precision();
    test_maxpool(1, 9, 13, 64);
    test_maxpool(2, 6, 5, 20);
    test_maxpool(1, 1, 2, 3);
    test_maxpool_bf16(9, 13, 64);
    test_maxpool_bf16(4, 3, 5);
    test_residual_in_place(64, 256, 7, 9);
    test_residual_in_place(256, 128, 5, 6);
    test_residual_in_place(64, 256, 48, 48);
    printf("  worst error / (|bias| + |res| + sum |x w|) per case and kernel set:\n");
    for (int i = 0; i < NCASES; i++)
        test_case(&cases[i]);
    test_reduced();
    return test_summary();
}
