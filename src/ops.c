/* ops.c - layer operations: output shapes, row splits over the thread pool, the cheap element-wise ops. */
#include "ops.h"

#include <float.h>
#include <math.h>
#include <string.h>

/* Rows of work per task: several tasks per thread so uneven rows still balance. */
static int task_count(const rf_context *ctx, int rows)
{
    int tasks = rf_pool_threads(ctx->pool) * 4;
    return tasks < rows ? tasks : rows;
}

typedef struct {
    const rf_context *ctx;
    const rf_conv *conv;
    const rf_tensor *in, *residual, *out;
    rf_act act;
    int rows, tasks;
} conv_job;

static void conv_task(void *arg, int t)
{
    const conv_job *j = arg;
    const int r0 = (int)((int64_t)j->rows * t / j->tasks);
    const int r1 = (int)((int64_t)j->rows * (t + 1) / j->tasks);
    j->ctx->kernels->conv(j->conv, j->in, j->residual, j->act, j->out, r0, r1);
}

void rf_op_conv(rf_context *ctx, const rf_conv *conv, const rf_tensor *in,
                const rf_tensor *residual, rf_act act, const rf_tensor *out)
{
    if (ctx->planning)
        return;
    conv_job j = {ctx, conv, in, residual, out, act, out->n * out->h, 0};
    j.tasks = task_count(ctx, j.rows);
    rf_pool_run(ctx->pool, conv_task, &j, j.tasks);
}

rf_tensor rf_op_conv_new(rf_context *ctx, const rf_conv *conv, const rf_tensor *in,
                         const rf_tensor *residual, rf_act act)
{
    rf_tensor out = rf_arena_tensor(ctx, in->n,
                                    rf_conv_out_size(in->h, conv->kh, conv->stride, conv->pad),
                                    rf_conv_out_size(in->w, conv->kw, conv->stride, conv->pad),
                                    conv->cout);
    rf_op_conv(ctx, conv, in, residual, act, &out);
    return out;
}

rf_tensor rf_op_maxpool3s2(rf_context *ctx, const rf_tensor *in)
{
    rf_tensor out = rf_arena_tensor(ctx, in->n, rf_conv_out_size(in->h, 3, 2, 1),
                                    rf_conv_out_size(in->w, 3, 2, 1), in->c);
    if (ctx->planning)
        return out;
    for (int i = 0; i < out.n; i++)
        for (int oy = 0; oy < out.h; oy++)
            for (int ox = 0; ox < out.w; ox++) {
                float *dst = out.data + i * out.nstride + ((int64_t)oy * out.w + ox) * out.pstride;
                for (int ch = 0; ch < out.c; ch++)
                    dst[ch] = -FLT_MAX;
                for (int iy = 2 * oy - 1; iy <= 2 * oy + 1; iy++)
                    for (int ix = 2 * ox - 1; ix <= 2 * ox + 1; ix++) {
                        if (iy < 0 || iy >= in->h || ix < 0 || ix >= in->w)
                            continue;
                        const float *src =
                            in->data + i * in->nstride + ((int64_t)iy * in->w + ix) * in->pstride;
                        for (int ch = 0; ch < out.c; ch++)
                            dst[ch] = src[ch] > dst[ch] ? src[ch] : dst[ch];
                    }
            }
    return out;
}

void rf_op_add_upsampled(rf_context *ctx, const rf_tensor *dst, const rf_tensor *src)
{
    if (ctx->planning)
        return;
    for (int i = 0; i < dst->n; i++)
        for (int y = 0; y < dst->h; y++) {
            const int sy = (int)((int64_t)y * src->h / dst->h);
            for (int x = 0; x < dst->w; x++) {
                const int sx = (int)((int64_t)x * src->w / dst->w);
                float *d = dst->data + i * dst->nstride + ((int64_t)y * dst->w + x) * dst->pstride;
                const float *s =
                    src->data + i * src->nstride + ((int64_t)sy * src->w + sx) * src->pstride;
                for (int ch = 0; ch < dst->c; ch++)
                    d[ch] += s[ch];
            }
        }
}

void rf_op_softmax_pairs(rf_context *ctx, const rf_tensor *t)
{
    if (ctx->planning)
        return;
    for (int i = 0; i < t->n; i++)
        for (int64_t p = 0; p < (int64_t)t->h * t->w; p++) {
            float *v = t->data + i * t->nstride + p * t->pstride;
            for (int ch = 0; ch + 1 < t->c; ch += 2) {
                const float m = v[ch] > v[ch + 1] ? v[ch] : v[ch + 1];
                const float e0 = expf(v[ch] - m), e1 = expf(v[ch + 1] - m);
                const float sum = e0 + e1;
                v[ch] = e0 / sum;
                v[ch + 1] = e1 / sum;
            }
        }
}

rf_tensor rf_op_from_nchw(rf_context *ctx, const float *src, int n, int c, int h, int w)
{
    rf_tensor out = rf_arena_tensor(ctx, n, h, w, c);
    if (ctx->planning)
        return out;
    const int64_t plane = (int64_t)h * w;
    for (int i = 0; i < n; i++)
        for (int ch = 0; ch < c; ch++) {
            const float *s = src + ((int64_t)i * c + ch) * plane;
            float *d = out.data + i * out.nstride + ch;
            for (int64_t p = 0; p < plane; p++)
                d[p * out.pstride] = s[p];
        }
    return out;
}
