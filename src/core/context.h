/* context.h - the per-thread state: kernels, pool, the planned activation arena, the outputs. */
#ifndef RF_CONTEXT_H
#define RF_CONTEXT_H

#include "base/common.h"
#include "kernels/kernels.h"
#include "core/model.h"
#include "core/threadpool.h"

#define RF_ARENA_MAX_TENSORS 256

/* A tensor of the arena plan: its place, and the clock ticks of its allocation and release. */
typedef struct {
    size_t offset, size;
    int born, died;
} rf_arena_slot;

struct rf_context {
    const rf_model *model;
    const rf_kernel_set *kernels;
    rf_pool *pool;

    /* Activations live in one arena. Each new input shape is first run with planning = 1: the
     * same sequence of allocations and releases, no arithmetic, which records when each tensor
     * is born and dies. The plan then gives every tensor of the pass its offset, the arena is
     * sized once, and every later pass of that shape takes the same offsets, allocating
     * nothing. */
    int planning;
    rf_buffer arena;
    rf_arena_slot tensors[RF_ARENA_MAX_TENSORS];
    int ntensors; /* allocated so far in this pass */
    int clock;    /* allocations and releases so far in this pass */
    int overflow; /* more tensors than RF_ARENA_MAX_TENSORS, or a pass that left the plan: a bug,
                   * reported as an error */
    int planned_n, planned_h, planned_w;

    /* outputs of the last forward pass */
    float *cls, *box, *ldm;
    size_t out_capacity; /* anchors * batch the three buffers hold */
    int out_n, out_h, out_w;
    int64_t out_anchors;

    double plan_flops; /* of the planned shape, summed while planning */
    size_t plan_scratch_floats; /* the most kernel scratch one conv of the plan needs */
    float **scratch;            /* one buffer per pool thread, for the kernels */
    size_t scratch_floats;
    int profiling;
    rf_profile_entry profile[RF_PROFILE_KINDS];

    /* rf_detect's: the network input built from images (NCHW floats), resize and
     * post-processing scratch */
    rf_buffer staging, resize, post;
};

/* The planning pass for an n x 3 x h x w input: tensor offsets, the arena and scratch sized,
 * output buffers; what rf_forward runs on a shape it has not seen. */
rf_status rf_context_plan(rf_context *ctx, int n, int h, int w, rf_error *err);

/* A tensor of n x h x w x c from the arena (data NULL while planning). */
rf_tensor rf_arena_tensor(rf_context *ctx, int n, int h, int w, int c);
void rf_arena_release(rf_context *ctx, rf_tensor *t);

/* The network: input [n][h][w][3] NHWC in the arena, released once the stem has read it;
 * outputs into ctx->cls/box/ldm. */
void rf_network_forward(rf_context *ctx, rf_tensor *input);

#endif
