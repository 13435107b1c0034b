/* context.c - per-thread contexts: the planned arena, rf_forward, and detection from images. */
#include "core/context.h"

#include "base/common.h"
#include "image/image.h"
#include "core/ops.h"
#include "core/postprocess.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#define ARENA_ALIGN_FLOATS 16 /* 64 bytes */

rf_context_options rf_context_options_default(void)
{
    return (rf_context_options){.threads = 1, .kernels = RF_KERNELS_AUTO};
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
    const rf_kernel_set *ks = rf_kernels_select(o.kernels);
    if (!ks)
        return rf_fail(err, RF_E_UNSUPPORTED, "kernels '%s' are not supported on this CPU",
                       rf_kernels_name(o.kernels));
    if (!ks->pack_size && rf_model_need_reference(model, "the reference kernel set", err) != RF_OK)
        return RF_E_UNSUPPORTED;
    rf_context *ctx = calloc(1, sizeof *ctx);
    if (!ctx)
        return rf_fail(err, RF_E_NOMEM, "out of memory");
    ctx->model = model;
    ctx->kernels = ks;
    ctx->pool = rf_pool_create(o.threads ? o.threads : 1);
    if (!ctx->pool) {
        free(ctx);
        return rf_fail(err, RF_E_NOMEM, "cannot start %d threads", o.threads);
    }
    *out = ctx;
    return rf_ok(err);
}

static void free_scratch(rf_context *ctx)
{
    for (int t = 0; ctx->scratch && t < rf_pool_threads(ctx->pool); t++)
        free(ctx->scratch[t]);
    free(ctx->scratch);
    ctx->scratch = NULL;
    ctx->scratch_floats = 0;
}

void rf_context_free(rf_context *ctx)
{
    if (!ctx)
        return;
    free_scratch(ctx);
    rf_pool_free(ctx->pool);
    rf_buffer_free(&ctx->arena);
    free(ctx->cls);
    free(ctx->box);
    free(ctx->ldm);
    rf_buffer_free(&ctx->staging);
    rf_buffer_free(&ctx->resize);
    rf_buffer_free(&ctx->post);
    free(ctx);
}

rf_kernels rf_context_kernels(const rf_context *ctx)
{
    return ctx->kernels->id;
}

double rf_context_fma_peak_gflops(const rf_context *ctx)
{
    return ctx->kernels->fma_peak_gflops();
}

rf_tensor rf_arena_tensor(rf_context *ctx, int n, int h, int w, int c)
{
    rf_tensor t = {.n = n, .h = h, .w = w, .c = c, .pstride = c, .nstride = (int64_t)h * w * c,
                   .arena_id = -1};
    const size_t size = ((size_t)n * (size_t)t.nstride + ARENA_ALIGN_FLOATS - 1) &
                        ~(size_t)(ARENA_ALIGN_FLOATS - 1);
    if (ctx->ntensors == RF_ARENA_MAX_TENSORS) {
        ctx->overflow = 1;
        return t;
    }
    const int id = ctx->ntensors++;
    if (ctx->planning)
        ctx->tensors[id] = (rf_arena_slot){0, size, ctx->clock++, INT_MAX};
    else if (ctx->tensors[id].size != size)
        ctx->overflow = 1; /* cannot happen: the plan ran the same allocations */
    else
        t.data = (float *)ctx->arena.block + ctx->tensors[id].offset;
    t.arena_id = id;
    return t;
}

void rf_arena_release(rf_context *ctx, rf_tensor *t)
{
    if (ctx->planning && t->arena_id >= 0)
        ctx->tensors[t->arena_id].died = ctx->clock++;
    t->data = NULL;
    t->arena_id = -1;
}

/* Gives the planned tensors offsets in the given order, each the lowest clear of those placed
 * before it that are alive at the same time. Returns the arena size in floats. */
static size_t place_in_order(rf_context *ctx, const int *order)
{
    size_t end = 0;
    for (int k = 0; k < ctx->ntensors; k++) {
        rf_arena_slot *t = &ctx->tensors[order[k]];
        t->offset = 0;
        /* rescan after each move: the placed ones are not sorted by offset */
        for (int moved = 1; moved;) {
            moved = 0;
            for (int j = 0; j < k; j++) {
                const rf_arena_slot *u = &ctx->tensors[order[j]];
                if (u->born < t->died && t->born < u->died && u->offset < t->offset + t->size &&
                    t->offset < u->offset + u->size) {
                    t->offset = u->offset + u->size;
                    moved = 1;
                }
            }
        }
        if (t->offset + t->size > end)
            end = t->offset + t->size;
    }
    return end;
}

/* Places the planned tensors both in allocation order and largest first, and keeps the
 * smaller arena. In allocation order the holes left are often too small for the 4x wider
 * tensors of the bottlenecks (ResNet50 at 640x640: 61 MB, against 41 MB largest first); the
 * MobileNet's many same-size tensors can go the other way. Returns the arena size in floats. */
static size_t place_tensors(rf_context *ctx)
{
    int by_age[RF_ARENA_MAX_TENSORS], by_size[RF_ARENA_MAX_TENSORS];
    for (int i = 0; i < ctx->ntensors; i++) {
        by_age[i] = i;
        int k = i; /* insertion sort, larger first, stable */
        for (; k > 0 && ctx->tensors[by_size[k - 1]].size < ctx->tensors[i].size; k--)
            by_size[k] = by_size[k - 1];
        by_size[k] = i;
    }
    const size_t age_end = place_in_order(ctx, by_age);
    const size_t size_end = place_in_order(ctx, by_size);
    return size_end <= age_end ? size_end : place_in_order(ctx, by_age);
}

int64_t rf_anchor_count(int height, int width)
{
    int64_t n = 0;
    for (int s = 8; s <= 32; s *= 2)
        n += 2 * (int64_t)((height + s - 1) / s) * ((width + s - 1) / s);
    return n;
}

/* One pass over the network with the arena as it stands. */
static void run_pass(rf_context *ctx, const float *input, int n, int h, int w)
{
    ctx->ntensors = 0;
    ctx->clock = 0;
    rf_tensor x = rf_op_from_nchw(ctx, input, n, h, w);
    rf_network_forward(ctx, &x);
    rf_arena_release(ctx, &x);
}

rf_status rf_context_plan(rf_context *ctx, int n, int h, int w, rf_error *err)
{
    ctx->planning = 1;
    ctx->plan_flops = 0;
    ctx->plan_scratch_floats = 0;
    ctx->overflow = 0;
    run_pass(ctx, NULL, n, h, w);
    ctx->planning = 0;
    if (ctx->overflow)
        return rf_fail(err, RF_E_LIMIT, "internal: too many tensors in the arena plan");
    const size_t bytes = rf_mul_size(place_tensors(ctx), sizeof(float));
    if (rf_buffer_reserve(&ctx->arena, bytes) != 0)
        return rf_fail(err, RF_E_NOMEM, "out of memory: %zu MB of activations for %dx%dx%d",
                       bytes >> 20, n, h, w);
    if (ctx->plan_scratch_floats > ctx->scratch_floats) {
        const int threads = rf_pool_threads(ctx->pool);
        const size_t bytes = rf_mul_size(ctx->plan_scratch_floats, sizeof(float));
        free_scratch(ctx);
        if (!(ctx->scratch = calloc((size_t)threads, sizeof *ctx->scratch)))
            return rf_fail(err, RF_E_NOMEM, "out of memory for kernel scratch");
        for (int t = 0; t < threads; t++)
            if (!bytes || !(ctx->scratch[t] = rf_alloc_large(bytes))) {
                free_scratch(ctx);
                return rf_fail(err, RF_E_NOMEM, "out of memory for %zu KB of kernel scratch",
                               bytes >> 10);
            }
        ctx->scratch_floats = ctx->plan_scratch_floats;
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

rf_status rf_forward(rf_context *ctx, const float *input, int batch, int height, int width,
                     rf_error *err)
{
    if (!ctx || !input)
        return rf_fail(err, RF_E_ARG, "rf_forward: null argument");
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
    ctx->overflow = 0;
    run_pass(ctx, input, batch, height, width);
    if (ctx->overflow)
        return rf_fail(err, RF_E_LIMIT, "internal: the arena plan did not hold");
    ctx->out_n = batch;
    ctx->out_h = height;
    ctx->out_w = width;
    return rf_ok(err);
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
    const size_t plane = (size_t)nw * (size_t)nh * 3;
    const size_t need = plane * (size_t)n;
    if (rf_buffer_reserve(&ctx->staging, rf_mul_size(need, sizeof(float))) != 0)
        return rf_fail(err, RF_E_NOMEM, "out of memory for the network input");
    float *staging = ctx->staging.block;
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
        if ((st = rf_image_to_input_into(&images[i], nw, nh, staging + plane * i,
                                         &ctx->resize, err)) != RF_OK)
            return st;
    }
    if ((st = rf_forward(ctx, staging, n, nh, nw, err)) != RF_OK)
        return st;
    const int64_t a = ctx->out_anchors;
    for (int i = 0; i < n; i++) {
        int w, h;
        float sx, sy;
        rf_input_geometry(policy, images[i].width, images[i].height, &w, &h, &sx, &sy, NULL);
        st = rf_postprocess_into(ctx->cls + a * 2 * i, ctx->box + a * 4 * i,
                                 ctx->ldm + a * 10 * i, nw, nh, sx, sy, ctx->model->anchors,
                                 params, &ctx->post, &faces[i], err);
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
