/* context.c - per-thread contexts: planning passes, rf_forward, and detection from images. */
#include "core/context.h"

#include "base/common.h"
#include "core/network.h"
#include "core/postprocess.h"
#include "image/image.h"

#include <float.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

rf_context_options rf_context_options_default(void)
{
    return (rf_context_options){
        .threads = 1, .kernels = RF_KERNELS_AUTO, .precision = RF_PRECISION_FP32};
}

rf_status rf_context_create(const rf_model *model, const rf_context_options *options,
                            rf_context **out, rf_error *err)
{
    if (!model || !out)
        return rf_fail(err, RF_E_ARG, "rf_context_create: null argument");
    *out = NULL;
    rf_context_options o = options ? *options : rf_context_options_default();
    if (o.threads < 0 || o.threads > 256)
        return rf_fail(err, RF_E_ARG, "threads must be in [0, 256], not %d", o.threads);
    if ((unsigned)o.precision > RF_PRECISION_INT8)
        return rf_fail(err, RF_E_ARG, "unknown precision %d", (int)o.precision);
    unsigned missing = 0;
    const rf_kernel_set *ks = rf_kernels_select(o.kernels, o.precision, &missing);
    if (!ks && o.precision == RF_PRECISION_FP32)
        return rf_fail(err, RF_E_UNSUPPORTED, "kernels '%s' are not supported on this CPU",
                       rf_kernels_name(o.kernels));
    if (!ks && missing) {
        char need[128];
        rf_cpu_features_text(missing, need, sizeof need);
        return rf_fail(err, RF_E_UNSUPPORTED,
                       "precision %s with %s kernels needs the CPU feature%s %s, which this CPU "
                       "lacks (the reference kernels run it, slowly: kernels reference)",
                       rf_precision_name(o.precision), rf_kernels_name(o.kernels),
                       strchr(need, ',') ? "s" : "", need);
    }
    if (!ks)
        return rf_fail(err, RF_E_UNSUPPORTED,
                       "kernels '%s' do not compute in %s: use kernels auto (AVX-512) or "
                       "reference", rf_kernels_name(o.kernels), rf_precision_name(o.precision));
    const rf_conv *convs;
    rf_status st = rf_model_layers_for(model, ks, &convs, err);
    if (st != RF_OK)
        return st;
    rf_context *ctx = calloc(1, sizeof *ctx);
    if (!ctx)
        return rf_fail(err, RF_E_NOMEM, "out of memory");
    ctx->model = model;
    ctx->convs = convs;
    ctx->exec.kernels = ks;
    ctx->exec.pool = rf_pool_create(o.threads ? o.threads : 1);
    if (!ctx->exec.pool) {
        free(ctx);
        return rf_fail(err, RF_E_NOMEM, "cannot start %d threads", o.threads);
    }
    *out = ctx;
    return rf_ok(err);
}

static void free_scratch(rf_exec *ex)
{
    for (int t = 0; ex->scratch && t < rf_pool_threads(ex->pool); t++)
        free(ex->scratch[t]);
    free(ex->scratch);
    ex->scratch = NULL;
    ex->scratch_floats = 0;
}

void rf_context_free(rf_context *ctx)
{
    if (!ctx)
        return;
    free_scratch(&ctx->exec);
    rf_pool_free(ctx->exec.pool);
    rf_arena_free(&ctx->exec.arena);
    free(ctx->cls);
    free(ctx->box);
    free(ctx->ldm);
    rf_buffer_free(&ctx->resize);
    rf_buffer_free(&ctx->post);
    free(ctx);
}

rf_kernels rf_context_kernels(const rf_context *ctx)
{
    return ctx->exec.kernels->id;
}

rf_precision rf_context_precision(const rf_context *ctx)
{
    return ctx->exec.kernels->precision;
}

const char *rf_context_kernel_set_name(const rf_context *ctx)
{
    return ctx->exec.kernels->name;
}

double rf_context_fma_peak_gflops(const rf_context *ctx)
{
    return ctx->exec.kernels->fma_peak_gflops();
}

double rf_context_flops(const rf_context *ctx)
{
    return ctx->exec.plan_flops;
}

void rf_context_profile_enable(rf_context *ctx, int on)
{
    ctx->exec.profiling = on;
    memset(ctx->exec.profile, 0, sizeof ctx->exec.profile);
}

int rf_context_profile(const rf_context *ctx, rf_profile_entry *entries, int max)
{
    int n = 0;
    for (int k = 0; k < RF_PROFILE_KINDS && n < max; k++)
        if (ctx->exec.profile[k].calls)
            entries[n++] = ctx->exec.profile[k];
    return n;
}

/* Starts a pass over the network with the arena as it stands: its first tensor, the input
 * [n][h][w][3], which the caller fills (data NULL while planning, or if the pass left the
 * plan). */
static rf_tensor begin_pass(rf_context *ctx, int planning, int n, int h, int w)
{
    rf_arena_begin(&ctx->exec.arena, planning);
    rf_ops_begin_pass(&ctx->exec);
    return rf_arena_tensor(&ctx->exec.arena, n, h, w, 3);
}

/* The network on the input begin_pass gave. */
static void finish_pass(rf_context *ctx, rf_tensor *x)
{
    const rf_network_outputs out = {ctx->cls, ctx->box, ctx->ldm, ctx->out_anchors};
    rf_network_forward(&ctx->exec, &ctx->model->layers, ctx->convs, x, &out);
    rf_ops_end_pass(&ctx->exec);
    rf_arena_release(&ctx->exec.arena, x);
}

rf_status rf_context_plan(rf_context *ctx, int n, int h, int w, rf_error *err)
{
    rf_exec *ex = &ctx->exec;
    ex->plan_flops = 0;
    ex->plan_scratch_floats = 0;
    ex->ncopies = 0;
    ex->nfloat_read = 0;
    /* RETINAFACE_NO_COPIES=1: every converted input by a pass of its own, which tests compare
     * the copies with */
    const char *no_copies = getenv("RETINAFACE_NO_COPIES");
    ex->copy_mode = ex->kernels->writes_copy && !(no_copies && !strcmp(no_copies, "1"))
                        ? RF_COPIES_FINDING
                        : RF_COPIES_OFF;
    rf_tensor x = begin_pass(ctx, 1, n, h, w);
    finish_pass(ctx, &x);
    if (ex->copy_mode == RF_COPIES_FINDING) {
        /* again, with the layers that write copies allocating them as they run, until no pass
         * finds a conversion of floats left unwritten (each such pass keeps one more) */
        rf_ops_copies_found(ex);
        ex->copy_mode = RF_COPIES_ON;
        ex->replan = ex->ncopies > 0;
        while (ex->replan) {
            ex->replan = 0;
            ex->plan_flops = 0;
            x = begin_pass(ctx, 1, n, h, w);
            finish_pass(ctx, &x);
        }
    }
    char shape[64];
    snprintf(shape, sizeof shape, "%dx%dx%d", n, h, w);
    rf_status st = rf_arena_place(&ex->arena, shape, err);
    if (st != RF_OK)
        return st;
    if (ex->plan_scratch_floats > ex->scratch_floats) {
        const int threads = rf_pool_threads(ex->pool);
        const size_t bytes = rf_mul_size(ex->plan_scratch_floats, sizeof(float));
        free_scratch(ex);
        if (!(ex->scratch = calloc((size_t)threads, sizeof *ex->scratch)))
            return rf_fail(err, RF_E_NOMEM, "out of memory for kernel scratch");
        for (int t = 0; t < threads; t++)
            if (!bytes || !(ex->scratch[t] = rf_alloc_large(bytes))) {
                free_scratch(ex);
                return rf_fail(err, RF_E_NOMEM, "out of memory for %zu KB of kernel scratch",
                               bytes >> 10);
            }
        ex->scratch_floats = ex->plan_scratch_floats;
    }
    const size_t per_image = (size_t)rf_anchor_count(h, w);
    const size_t need = per_image * (size_t)n;
    if (need > ctx->out_capacity) {
        free(ctx->cls);
        free(ctx->box);
        free(ctx->ldm);
        ctx->cls = malloc(need * 2 * sizeof(float));
        ctx->box = malloc(need * 4 * sizeof(float));
        ctx->ldm = malloc(need * 10 * sizeof(float));
        ctx->out_capacity = ctx->cls && ctx->box && ctx->ldm ? need : 0;
        if (!ctx->out_capacity)
            return rf_fail(err, RF_E_NOMEM, "out of memory for the output tensors");
    }
    ctx->planned_n = n;
    ctx->planned_h = h;
    ctx->planned_w = w;
    return RF_OK;
}

/* Checks the shape of a network input and plans the arena for it if it is new. */
static rf_status prepare(rf_context *ctx, int batch, int height, int width, rf_error *err)
{
    if (batch < 1 || height < 1 || width < 1)
        return rf_fail(err, RF_E_ARG, "rf_forward: bad input shape %dx3x%dx%d", batch, height,
                       width);
    if ((int64_t)batch * height * width > RF_NETWORK_MAX_PIXELS)
        return rf_fail(err, RF_E_LIMIT,
                       "network input %dx%dx%d is over the limit of %lld pixels per pass", batch,
                       height, width, (long long)RF_NETWORK_MAX_PIXELS);
    ctx->out_n = 0;
    if (batch != ctx->planned_n || height != ctx->planned_h || width != ctx->planned_w) {
        rf_status st = rf_context_plan(ctx, batch, height, width, err);
        if (st != RF_OK) {
            ctx->planned_n = 0;
            return st;
        }
    }
    ctx->out_anchors = rf_anchor_count(height, width);
    return RF_OK;
}

static rf_status plan_broken(rf_error *err)
{
    return rf_fail(err, RF_E_LIMIT, "internal: the arena plan did not hold");
}

/* Runs the network on x, begun by begin_pass and filled; the outputs are then the context's. */
static rf_status run_network(rf_context *ctx, rf_tensor *x, rf_error *err)
{
    finish_pass(ctx, x);
    if (ctx->exec.arena.overflow)
        return plan_broken(err);
    ctx->out_n = x->n;
    ctx->out_h = x->h;
    ctx->out_w = x->w;
    return rf_ok(err);
}

rf_status rf_forward(rf_context *ctx, const float *input, int batch, int height, int width,
                     rf_error *err)
{
    if (!ctx || !input)
        return rf_fail(err, RF_E_ARG, "rf_forward: null argument");
    rf_status st = prepare(ctx, batch, height, width, err);
    if (st != RF_OK)
        return st;
    rf_tensor x = begin_pass(ctx, 0, batch, height, width);
    if (!x.data)
        return plan_broken(err);
    rf_op_from_nchw(&ctx->exec, input, &x);
    return run_network(ctx, &x, err);
}

rf_status rf_context_outputs(const rf_context *ctx, rf_outputs *out, rf_error *err)
{
    if (!ctx || !out)
        return rf_fail(err, RF_E_ARG, "rf_context_outputs: null argument");
    if (!ctx->out_n)
        return rf_fail(err, RF_E_ARG, "rf_context_outputs: no forward pass has run");
    *out = (rf_outputs){.batch = ctx->out_n, .height = ctx->out_h, .width = ctx->out_w,
                        .anchors = ctx->out_anchors, .cls_prob = ctx->cls,
                        .bbox_pred = ctx->box, .landmark_pred = ctx->ldm};
    return rf_ok(err);
}

rf_status rf_detect_batch(rf_context *ctx, const rf_image *images, int n,
                          const rf_input_policy *policy, const rf_detect_params *params,
                          rf_faces *faces, rf_error *err)
{
    if (!ctx || !images || !policy || !faces || n < 1)
        return rf_fail(err, RF_E_ARG, "rf_detect_batch: null argument or empty batch");
    rf_detect_params defaults = rf_detect_params_default();
    if (!params)
        params = &defaults;
    int nw = 0, nh = 0;
    float sx0, sy0;
    rf_status st = rf_input_geometry(policy, images[0].width, images[0].height, &nw, &nh, &sx0,
                                     &sy0, err);
    if (st != RF_OK)
        return st;
    for (int i = 0; i < n; i++) {
        int w, h;
        float sx, sy;
        if ((st = rf_input_geometry(policy, images[i].width, images[i].height, &w, &h, &sx, &sy,
                                    err)) != RF_OK)
            return st;
        if (w != nw || h != nh)
            return rf_fail(err, RF_E_ARG,
                           "batch image %d becomes %dx%d but image 0 becomes %dx%d; use a fixed "
                           "input size to batch images of different sizes", i, w, h, nw, nh);
        if ((st = rf_image_check(&images[i], "rf_image_to_input: image", err)) != RF_OK)
            return st;
    }
    if ((st = prepare(ctx, n, nh, nw, err)) != RF_OK)
        return st;
    /* the images go straight into the network's input tensor, NHWC */
    rf_tensor x = begin_pass(ctx, 0, n, nh, nw);
    if (!x.data)
        return plan_broken(err);
    for (int i = 0; i < n; i++) {
        float *dst = x.data + i * x.nstride;
        if ((st = rf_image_to_nhwc_into(&images[i], nw, nh, dst, &ctx->resize, err)) != RF_OK)
            return st;
    }
    if ((st = run_network(ctx, &x, err)) != RF_OK)
        return st;
    const int64_t a = ctx->out_anchors;
    const rf_anchors preset = ctx->model->layers.anchors;
    for (int i = 0; i < n; i++) {
        int w, h;
        float sx, sy;
        rf_input_geometry(policy, images[i].width, images[i].height, &w, &h, &sx, &sy, NULL);
        st = rf_postprocess_into(ctx->cls + a * 2 * i, ctx->box + a * 4 * i,
                                 ctx->ldm + a * 10 * i, nw, nh, sx, sy, preset, params, &ctx->post,
                                 &faces[i], err);
        if (st != RF_OK)
            return st;
    }
    return rf_ok(err);
}

rf_status rf_detect(rf_context *ctx, const rf_image *image, const rf_input_policy *policy,
                    const rf_detect_params *params, rf_faces *faces, rf_error *err)
{
    return rf_detect_batch(ctx, image, 1, policy, params, faces, err);
}

int rf_model_calibrated(const rf_model *model)
{
    for (int i = 0; model && i < model->layers.count; i++)
        if (model->layers.layer[i].conv.range_lo < model->layers.layer[i].conv.range_hi)
            return 1;
    return 0;
}

void rf_model_clear_ranges(rf_model *model)
{
    if (model)
        rf_model_set_ranges(model, NULL);
}

rf_status rf_model_calibrate(rf_model *model, const rf_image *images, int count,
                             const rf_input_policy *policy, int threads, rf_error *err)
{
    if (!model || !images || !policy || count < 1)
        return rf_fail(err, RF_E_ARG, "rf_model_calibrate: no model or no images");
    rf_context_options o = rf_context_options_default();
    o.threads = threads;
    rf_context *ctx;
    rf_status st = rf_context_create(model, &o, &ctx, err);
    if (st != RF_OK)
        return st;
    const int n = model->layers.count;
    float(*ranges)[2] = malloc(sizeof *ranges * (size_t)n);
    if (!ranges) {
        rf_context_free(ctx);
        return rf_fail(err, RF_E_NOMEM, "out of memory for calibration");
    }
    for (int i = 0; i < n; i++) {
        const rf_conv *c = &model->layers.layer[i].conv;
        const int had = c->range_lo < c->range_hi;
        ranges[i][0] = had ? c->range_lo : FLT_MAX;
        ranges[i][1] = had ? c->range_hi : -FLT_MAX;
    }
    ctx->exec.calibration = ranges;
    ctx->exec.calibration_convs = ctx->convs;
    const rf_detect_params params = rf_detect_params_default();
    rf_faces faces = {0};
    for (int k = 0; k < count && st == RF_OK; k++)
        st = rf_detect(ctx, &images[k], policy, &params, &faces, err);
    rf_faces_free(&faces);
    rf_context_free(ctx);
    if (st == RF_OK) {
        /* widened to hold 0, as rf_quant_params would: the range a layer keeps */
        for (int i = 0; i < n; i++)
            if (ranges[i][0] <= ranges[i][1]) {
                ranges[i][0] = ranges[i][0] < 0.0f ? ranges[i][0] : 0.0f;
                ranges[i][1] = ranges[i][1] > 0.0f ? ranges[i][1] : 0.0f;
            }
        rf_model_set_ranges(model, (const float(*)[2])ranges);
    }
    free(ranges);
    return st;
}
