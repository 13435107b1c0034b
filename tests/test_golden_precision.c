/* test_golden_precision.c - bf16 and int8 on the PyTorch golden cases, with the fastest set of
 * each precision and, on the small MobileNet case, the reference sets. The max and mean abs
 * error of each output tensor against the float32 original are printed per case, and the
 * detections compared: the faces of the float32 original (score >= 0.5) found again at IoU >=
 * 0.9, and ours found among them.
 * - Trained checkpoints (MobileNet0.25, face1mb): >= 95 % both ways for bf16, >= 90 % for int8
 *   (the criterion of the issue).
 * - The synthetic ResNet50: that criterion is printed, not asserted. Its random weights turn
 *   the rounding of activations into large score changes (max cls error 0.21 for the bf16
 *   reference, which rounds exactly as specified, where the trained MobileNet0.25 shows 0.02),
 *   and its detections are 750 tied candidates cut by keep_top_k, so a small change reshuffles
 *   which survive: the bf16 reference finds 53 % of them again, the int8 reference 8.5 %, so no
 *   implementation of these precisions meets it there. The mean abs error of each tensor is
 *   asserted instead, under twice what was measured: a wrong weight, layout or scale moves it
 *   by far more. */
#include "golden.h"

#include <math.h>

/* twice the largest mean abs errors measured on the synthetic ResNet50 (see mean_bound):
 * bf16 0.054 / 0.19 / 0.18, int8 0.086 / 0.30 / 0.29 (cls / bbox / landmarks) */
#define MEAN_BF16_CLS 0.11
#define MEAN_BF16_BOX 0.4
#define MEAN_BF16_LDM 0.4
#define MEAN_INT8_CLS 0.17
#define MEAN_INT8_BOX 0.6
#define MEAN_INT8_LDM 0.6

static float iou(const float *a, const float *b)
{
    const float iw = fminf(a[2], b[2]) - fmaxf(a[0], b[0]);
    const float ih = fminf(a[3], b[3]) - fmaxf(a[1], b[1]);
    if (iw <= 0 || ih <= 0)
        return 0;
    const float inter = iw * ih;
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter);
}

/* Of the faces of `from` with score >= 0.5, how many have a face of `in` with score >= 0.5 at
 * IoU >= 0.9; *total: how many there are. */
static int found_in(const rf_faces *from, const rf_faces *in, int *total)
{
    int found = 0;
    *total = 0;
    for (int k = 0; k < from->count; k++) {
        if (from->faces[k].score < 0.5f)
            continue;
        ++*total;
        int hit = 0;
        for (int j = 0; j < in->count && !hit; j++)
            hit = in->faces[j].score >= 0.5f && iou(from->faces[k].box, in->faces[j].box) >= 0.9f;
        found += hit;
    }
    return found;
}

/* The bf16 layers write the converted copies of their outputs that the next layers read
 * (kernel_set.h, conv): the outputs must be those of a context that converts every input by a
 * pass of its own (RETINAFACE_NO_COPIES=1), bit for bit. */
static void check_copies(const golden_case *gc, const rf_model *model,
                         const rf_context_options *opt, const float *x, const rf_outputs *want)
{
    rf_context *ctx;
    rf_error err;
    rf_outputs o;
    setenv("RETINAFACE_NO_COPIES", "1", 1);
    const int ok = rf_context_create(model, opt, &ctx, &err) == RF_OK;
    const int ran = ok && rf_forward(ctx, x, gc->batch, gc->height, gc->width, &err) == RF_OK &&
                    rf_context_outputs(ctx, &o, &err) == RF_OK;
    unsetenv("RETINAFACE_NO_COPIES");
    CHECK(ran, "%s: without copies: %s", gc->id, err.message);
    if (ran) {
        const size_t n = (size_t)(want->anchors * gc->batch);
        CHECK(!memcmp(o.cls_prob, want->cls_prob, n * 2 * sizeof(float)) &&
                  !memcmp(o.bbox_pred, want->bbox_pred, n * 4 * sizeof(float)) &&
                  !memcmp(o.landmark_pred, want->landmark_pred, n * 10 * sizeof(float)),
              "%s bf16: the outputs with the layers' copies differ from those without", gc->id);
    }
    if (ok)
        rf_context_free(ctx);
}

static void run_case(const golden_case *gc, rf_precision precision, rf_kernels kernels)
{
    rf_error err;
    rf_model *model;
    const unsigned flags = kernels == RF_KERNELS_REFERENCE  ? RF_LOAD_KEEP_REFERENCE
                           : precision == RF_PRECISION_BF16 ? RF_LOAD_BF16
                                                            : RF_LOAD_INT8;
    if (rf_model_load_flags(test_data_path(gc->model), gc->anchors, flags, &model, &err) !=
        RF_OK) {
        CHECK(0, "%s", err.message);
        return;
    }
    rf_context_options opt = rf_context_options_default();
    opt.kernels = kernels;
    opt.precision = precision;
    opt.threads = 2;
    rf_context *ctx;
    if (rf_context_create(model, &opt, &ctx, &err) != RF_OK) {
        printf("  %s %s: skipped, %s\n", gc->id, rf_precision_name(precision), err.message);
        rf_model_free(model);
        return;
    }
    const char *kname = kernels == RF_KERNELS_REFERENCE ? "reference" : "fastest";
    float *x = golden_input(gc);
    CHECK(x != NULL, "%s: input", gc->id);
    rf_outputs o;
    if (!x || rf_forward(ctx, x, gc->batch, gc->height, gc->width, &err) != RF_OK ||
        rf_context_outputs(ctx, &o, &err) != RF_OK) {
        CHECK(0, "%s: %s", gc->id, err.message);
        free(x);
        rf_context_free(ctx);
        rf_model_free(model);
        return;
    }
    const float *ours[3] = {o.cls_prob, o.bbox_pred, o.landmark_pred};
    if (kernels != RF_KERNELS_REFERENCE && precision == RF_PRECISION_BF16)
        check_copies(gc, model, &opt, x, &o);
    /* the synthetic ResNet50 (see the top): bounds on the mean abs error, bf16 and int8 rows,
     * cls / bbox / landmarks, twice the most measured (fastest and reference sets) */
    const int synthetic = !strncmp(gc->id, "r50", 3);
    static const double mean_bound[2][3] = {{MEAN_BF16_CLS, MEAN_BF16_BOX, MEAN_BF16_LDM},
                                            {MEAN_INT8_CLS, MEAN_INT8_BOX, MEAN_INT8_LDM}};
    printf("  %-12s %s %-9s max abs error vs fp32:", gc->id, rf_precision_name(precision),
           kname);
    for (int t = 0; t < 3; t++) {
        int64_t n = 0;
        float *golden = golden_tensor(gc, t, &n);
        CHECK(golden && n == o.anchors * gc->batch * (t == 0 ? 2 : t == 1 ? 4 : 10),
              "%s: %s size", gc->id, golden_tensor_names[t]);
        float e = 0;
        double sum = 0;
        int nan = 0;
        for (int64_t i = 0; golden && i < n; i++) {
            nan += ours[t][i] != ours[t][i];
            e = fmaxf(e, fabsf(ours[t][i] - golden[i]));
            sum += fabsf(ours[t][i] - golden[i]);
        }
        CHECK(nan == 0, "%s %s: %d NaN in %s", gc->id, rf_precision_name(precision), nan,
              golden_tensor_names[t]);
        const double mean = n ? sum / (double)n : 0;
        printf(" %s %.3g (mean %.2g)", golden_tensor_names[t] + 9, e, mean);
        if (synthetic)
            CHECK(mean <= mean_bound[precision == RF_PRECISION_INT8][t],
                  "%s %s %s: mean abs error of %s %.3g > %.3g", gc->id,
                  rf_precision_name(precision), kname, golden_tensor_names[t], mean,
                  mean_bound[precision == RF_PRECISION_INT8][t]);
        free(golden);
    }
    printf("\n");
    const double need = precision == RF_PRECISION_BF16 ? 0.95 : 0.90;
    rf_detect_params params = rf_detect_params_default();
    for (int i = 0; i < gc->batch; i++) {
        rf_faces got = {0}, want = {0};
        CHECK(golden_detections(gc, i, &want) == 0, "%s: detections.json", gc->id);
        CHECK(rf_postprocess(o.cls_prob + o.anchors * 2 * i, o.bbox_pred + o.anchors * 4 * i,
                             o.landmark_pred + o.anchors * 10 * i, gc->width, gc->height, 1.0f,
                             1.0f, gc->anchors, &params, &got, &err) == RF_OK,
              "%s", err.message);
        int nwant, ngot;
        const int recalled = found_in(&want, &got, &nwant);
        const int confirmed = found_in(&got, &want, &ngot);
        const double r = nwant ? (double)recalled / nwant : 1;
        const double p = ngot ? (double)confirmed / ngot : 1;
        printf("  %-12s %s %-9s [%d]: %d of %d fp32 faces found (%.1f %%), %d of %d of ours in "
               "fp32 (%.1f %%)\n",
               gc->id, rf_precision_name(precision), kname, i, recalled, nwant, 100 * r,
               confirmed, ngot, 100 * p);
        if (!synthetic)
            CHECK(r >= need && p >= need, "%s[%d] %s %s: %.1f %% / %.1f %% < %.0f %%", gc->id,
                  i, rf_precision_name(precision), kname, 100 * r, 100 * p, 100 * need);
        rf_faces_free(&got);
        rf_faces_free(&want);
    }
    free(x);
    rf_context_free(ctx);
    rf_model_free(model);
}

int main(int argc, char **argv)
{
    require_test_data("test_golden_precision");
    /* argv[1] or $RF_GOLDEN_CASES: run only the cases whose id starts with one of its words */
    const char *only = argc > 1 ? argv[1] : getenv("RF_GOLDEN_CASES");
    for (int i = 0; i < GOLDEN_CASES; i++) {
        const golden_case *gc = &golden_cases[i];
        if (!golden_case_selected(gc->id, only))
            continue;
        for (int p = RF_PRECISION_BF16; p <= RF_PRECISION_INT8; p++) {
            run_case(gc, (rf_precision)p, RF_KERNELS_AUTO);
            /* the reference sets are scalar: the small MobileNet case only, unless
             * RF_GOLDEN_REFERENCE=all */
            const char *all_ref = getenv("RF_GOLDEN_REFERENCE");
            if (!strcmp(gc->id, "mnet_640") || (all_ref && !strcmp(all_ref, "all")))
                run_case(gc, (rf_precision)p, RF_KERNELS_REFERENCE);
        }
    }
    return test_summary();
}
