/* test_arena.c - the activation arena plan: tensors alive together never share memory, and the
 * arena stays close to the most memory alive at one time. */
#include "core/context.h"
#include "testutil.h"

/* The most floats alive at one clock tick of the planned pass: no plan can use less. */
static size_t live_bound(const rf_arena *a)
{
    size_t most = 0;
    for (int tick = 0; tick < a->clock; tick++) {
        size_t sum = 0;
        for (int i = 0; i < a->ntensors; i++)
            if (a->tensors[i].born <= tick && tick < a->tensors[i].died)
                sum += a->tensors[i].size;
        if (sum > most)
            most = sum;
    }
    return most;
}

static void check_plan(rf_backbone backbone, int n, int h, int w, double slack)
{
    const char *name = rf_backbone_name(backbone);
    rf_model *m = rf_model_skeleton(backbone, RF_ANCHORS_RETINAFACE);
    rf_context_options o = rf_context_options_default();
    o.kernels = RF_KERNELS_REFERENCE; /* plans need no weights, only the layers' shapes */
    rf_context *ctx = NULL;
    rf_error err;
    CHECK(m && rf_context_create(m, &o, &ctx, &err) == RF_OK, "%s: context", name);
    if (!ctx) {
        rf_model_free(m);
        return;
    }
    CHECK(rf_context_plan(ctx, n, h, w, &err) == RF_OK, "%s %dx%dx%d: %s", name, n, h, w,
          err.message);
    const rf_arena *plan = &ctx->exec.arena;
    const size_t arena = plan->block.bytes / sizeof(float);
    int overlaps = 0, outside = 0;
    for (int i = 0; i < plan->ntensors; i++) {
        const rf_arena_slot *a = &plan->tensors[i];
        outside += a->offset + a->size > arena;
        for (int j = i + 1; j < plan->ntensors; j++) {
            const rf_arena_slot *b = &plan->tensors[j];
            overlaps += a->born < b->died && b->born < a->died && a->offset < b->offset + b->size &&
                        b->offset < a->offset + a->size;
        }
    }
    const size_t bound = live_bound(plan);
    CHECK(plan->ntensors > 20, "%s: %d tensors planned", name, plan->ntensors);
    CHECK(!overlaps, "%s %dx%dx%d: %d pairs of live tensors share memory", name, n, h, w,
          overlaps);
    CHECK(!outside, "%s %dx%dx%d: %d tensors end past the arena", name, n, h, w, outside);
    CHECK(arena >= bound && arena <= bound * slack,
          "%s %dx%dx%d: arena %.1f MB for at most %.1f MB alive at once (allowed x%.2f)", name, n,
          h, w, arena / 262144.0, bound / 262144.0, slack);
    printf("%s %dx3x%dx%d: %d tensors, arena %.1f MB, most alive at once %.1f MB\n", name, n, h,
           w, plan->ntensors, arena / 262144.0, bound / 262144.0);
    rf_context_free(ctx);
    rf_model_free(m);
}

int main(void)
{
    /* ResNet50 at 640x640 took 1.50x the bound with first fit in allocation order alone */
    check_plan(RF_BACKBONE_RESNET50, 1, 640, 640, 1.05);
    check_plan(RF_BACKBONE_RESNET50, 2, 480, 320, 1.05);
    check_plan(RF_BACKBONE_RESNET50, 1, 37, 53, 1.05);
    check_plan(RF_BACKBONE_MOBILENET025, 1, 640, 640, 1.05);
    check_plan(RF_BACKBONE_MOBILENET025, 3, 121, 97, 1.05);
    return test_summary();
}
