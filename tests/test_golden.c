/* test_golden.c - the C engine against the PyTorch golden outputs: tensors, detections, both paths. */
#include "golden.h"
#include "kernels/kernels.h"

#include <math.h>

static float iou(const float *a, const float *b)
{
    const float iw = fminf(a[2], b[2]) - fmaxf(a[0], b[0]);
    const float ih = fminf(a[3], b[3]) - fmaxf(a[1], b[1]);
    if (iw <= 0 || ih <= 0)
        return 0;
    const float inter = iw * ih;
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter);
}

/* Post-processing alone, fed the golden tensors, gives the golden detections in order. */
static void check_postprocess(const golden_case *gc, float *t[3])
{
    const int64_t a = rf_anchor_count(gc->height, gc->width);
    rf_detect_params params = rf_detect_params_default();
    for (int i = 0; i < gc->batch; i++) {
        rf_faces got = {0}, want = {0};
        rf_error err;
        CHECK(golden_detections(gc, i, &want) == 0, "%s: detections.json", gc->id);
        CHECK(rf_postprocess(t[0] + a * 2 * i, t[1] + a * 4 * i, t[2] + a * 10 * i, gc->width,
                             gc->height, 1.0f, 1.0f, gc->anchors, &params, &got, &err) == RF_OK,
              "%s", err.message);
        CHECK(got.count == want.count, "%s[%d]: %d faces, golden %d", gc->id, i, got.count,
              want.count);
        int same_scores = 1;
        float coord_err = 0;
        for (int k = 0; k < got.count && k < want.count; k++) {
            same_scores &= got.faces[k].score == want.faces[k].score;
            for (int j = 0; j < 4; j++)
                coord_err = fmaxf(coord_err, fabsf(got.faces[k].box[j] - want.faces[k].box[j]));
            for (int j = 0; j < 10; j++)
                coord_err = fmaxf(coord_err, fabsf(got.faces[k].landmarks[j] -
                                                   want.faces[k].landmarks[j]));
        }
        CHECK(same_scores, "%s[%d]: scores differ in order or value", gc->id, i);
        CHECK(coord_err <= 1e-3f, "%s[%d]: coordinates differ by %g px", gc->id, i, coord_err);
        printf("  %s[%d] post-processing of golden tensors: %d faces, same order, max coord "
               "diff %.2g px\n", gc->id, i, got.count, coord_err);
        rf_faces_free(&got);
        rf_faces_free(&want);
    }
}

/* Detections of our own forward pass, compared with the golden ones as sets. */
static void check_detections(const golden_case *gc, rf_context *ctx, const char *kernels)
{
    rf_outputs o;
    rf_error err;
    rf_context_outputs(ctx, &o, &err);
    rf_detect_params params = rf_detect_params_default();
    for (int i = 0; i < gc->batch; i++) {
        rf_faces got = {0}, want = {0};
        golden_detections(gc, i, &want);
        rf_postprocess(o.cls_prob + o.anchors * 2 * i, o.bbox_pred + o.anchors * 4 * i,
                       o.landmark_pred + o.anchors * 10 * i, gc->width, gc->height, 1.0f, 1.0f,
                       gc->anchors, &params, &got, &err);
        int wanted = 0, found = 0, got_strong = 0;
        for (int k = 0; k < got.count; k++)
            got_strong += got.faces[k].score >= 0.5f;
        for (int k = 0; k < want.count; k++) {
            if (want.faces[k].score < 0.5f)
                continue;
            wanted++;
            int best = -1;
            float best_iou = 0;
            for (int j = 0; j < got.count; j++) {
                float v = iou(want.faces[k].box, got.faces[j].box);
                if (v > best_iou) {
                    best_iou = v;
                    best = j;
                }
            }
            found += best >= 0 && best_iou >= 0.9f &&
                     fabsf(got.faces[best].score - want.faces[k].score) <= 1e-3f;
        }
        if (gc->trained) {
            CHECK(found == wanted && got_strong == wanted,
                  "%s[%d] %s: %d of %d faces >= 0.5 found again, %d reported", gc->id, i, kernels,
                  found, wanted, got_strong);
        } else {
            CHECK(found >= 0.95 * wanted, "%s[%d] %s: only %d of %d faces found again", gc->id,
                  i, kernels, found, wanted);
        }
        printf("  %s[%d] %s detections: %d of %d golden faces (score >= 0.5) found again\n",
               gc->id, i, kernels, found, wanted);
        rf_faces_free(&got);
        rf_faces_free(&want);
    }
}

static void run_case(const golden_case *gc, rf_kernels kernels)
{
    rf_error err;
    rf_model *model;
    /* the fastest kernels run on a model loaded as users load it, without the plain layout */
    const unsigned flags = kernels == RF_KERNELS_REFERENCE ? RF_LOAD_KEEP_REFERENCE : 0;
    if (rf_model_load_flags(test_data_path(gc->model), gc->anchors, flags, &model, &err) !=
        RF_OK) {
        CHECK(0, "%s", err.message);
        return;
    }
    rf_context_options opt = rf_context_options_default();
    opt.kernels = kernels;
    opt.threads = 2;
    rf_context *ctx;
    if (rf_context_create(model, &opt, &ctx, &err) != RF_OK) {
        printf("  %s: %s kernels not available here: %s\n", gc->id, rf_kernels_name(kernels),
               err.message);
        rf_model_free(model);
        return;
    }
    const char *kname = rf_kernels_name(rf_context_kernels(ctx));
    float *x = golden_input(gc);
    CHECK(x != NULL, "%s: input", gc->id);
    CHECK(rf_forward(ctx, x, gc->batch, gc->height, gc->width, &err) == RF_OK, "%s",
          err.message);
    rf_outputs o;
    CHECK(rf_context_outputs(ctx, &o, &err) == RF_OK, "%s", err.message);
    CHECK(o.anchors == rf_anchor_count(gc->height, gc->width), "%s: anchors", gc->id);
    const float *ours[3] = {o.cls_prob, o.bbox_pred, o.landmark_pred};
    float *golden[3];
    printf("  %s %s max abs error:", gc->id, kname);
    for (int t = 0; t < 3; t++) {
        int64_t n;
        golden[t] = golden_tensor(gc, t, &n);
        CHECK(golden[t] && n == o.anchors * gc->batch * (t == 0 ? 2 : t == 1 ? 4 : 10),
              "%s: %s size", gc->id, golden_tensor_names[t]);
        float e = 0;
        for (int64_t i = 0; golden[t] && i < n; i++)
            e = fmaxf(e, fabsf(ours[t][i] - golden[t][i]));
        printf(" %s %.3g", golden_tensor_names[t] + 9, e);
        CHECK(e <= gc->tolerance, "%s %s: %s max abs error %g > %g", gc->id, kname,
              golden_tensor_names[t], e, gc->tolerance);
    }
    printf("\n");
    check_detections(gc, ctx, kname);
    if (kernels == RF_KERNELS_AUTO)
        check_postprocess(gc, golden);
    for (int t = 0; t < 3; t++)
        free(golden[t]);
    free(x);
    rf_context_free(ctx);
    rf_model_free(model);
}

int main(int argc, char **argv)
{
    require_test_data("test_golden");
    /* argv[1] or $RF_GOLDEN_CASES: run only the cases whose id starts with one of its words */
    const char *only = argc > 1 ? argv[1] : getenv("RF_GOLDEN_CASES");
    if (only)
        printf("cases starting with: %s\n", only);
    for (int i = 0; i < GOLDEN_CASES; i++) {
        const golden_case *gc = &golden_cases[i];
        if (!golden_case_selected(gc->id, only))
            continue;
        run_case(gc, RF_KERNELS_AUTO);
        if (rf_kernels_select(RF_KERNELS_AUTO, RF_PRECISION_FP32, NULL) !=
            rf_kernels_select(RF_KERNELS_REFERENCE, RF_PRECISION_FP32, NULL))
            run_case(gc, RF_KERNELS_REFERENCE);
    }
    return test_summary();
}
