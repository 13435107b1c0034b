/* test_eval_metrics.c - both WIDER FACE metrics on hand-built cases whose AP is worked out below. */
#define _POSIX_C_SOURCE 200809L /* strdup */
#include "retinaface_eval.h"
#include "testutil.h"

#include <math.h>
#include <stdint.h>

#define E (1 << RF_WIDER_EASY)
#define M (1 << RF_WIDER_MEDIUM)
#define H (1 << RF_WIDER_HARD)
#define ALL (E | M | H)

/* A ground truth built face by face; keep NULL for the text (OMZ) kind. */
static void add_image(rf_wider_gt *gt, int n, const double *boxes, const uint8_t *keep)
{
    gt->images = realloc(gt->images, sizeof *gt->images * (size_t)(gt->count + 1));
    rf_wider_image *img = &gt->images[gt->count];
    char name[32];
    snprintf(name, sizeof name, "img_%d", gt->count);
    img->event = strdup("0--Test");
    img->name = strdup(name);
    img->count = n;
    img->boxes = malloc(sizeof(double) * 4 * (size_t)(n ? n : 1));
    if (n)
        memcpy(img->boxes, boxes, sizeof(double) * 4 * (size_t)n);
    img->keep = NULL;
    if (keep) {
        img->keep = malloc((size_t)(n ? n : 1));
        if (n)
            memcpy(img->keep, keep, (size_t)n);
    }
    gt->count++;
}

static void set(rf_wider_preds *p, int i, int n, const rf_wider_box *b)
{
    rf_error err;
    if (rf_wider_preds_set(p, i, b, n, &err) != RF_OK)
        CHECK(0, "%s", err.message);
}

static int near(double a, double b)
{
    return fabs(a - b) < 1e-12;
}

static double official(const rf_wider_gt *gt, const rf_wider_preds *p, rf_wider_setting s,
                       rf_eval_curve *c)
{
    rf_error err;
    if (rf_eval_official(gt, p, s, c, &err) != RF_OK)
        CHECK(0, "%s", err.message);
    return c->ap;
}

static double omz(const rf_wider_gt *gt, const rf_wider_preds *p, rf_eval_curve *c)
{
    rf_error err;
    if (rf_eval_omz(gt, p, c, &err) != RF_OK)
        CHECK(0, "%s", err.message);
    return c->ap;
}

static void voc_ap(void)
{
    /* precision 1, 0.5, 2/3 at recall 0.5, 0.5, 1: the envelope is 1 up to recall 0.5, then
     * 2/3, so AP = 0.5 * 1 + 0.5 * 2/3 = 5/6 */
    double r[3] = {0.5, 0.5, 1}, p[3] = {1, 0.5, 2.0 / 3};
    CHECK(near(rf_eval_voc_ap(r, p, 3), 5.0 / 6), "%g", rf_eval_voc_ap(r, p, 3));
    /* a curve that stops at recall 0.4 with precision 1: AP 0.4 */
    double r2[1] = {0.4}, p2[1] = {1};
    CHECK(near(rf_eval_voc_ap(r2, p2, 1), 0.4), "partial recall");
    CHECK(rf_eval_voc_ap(NULL, NULL, 0) == 0, "empty curve");
}

/* Boxes as x, y, w, h. A and B far apart; both 10 x 10 pixels. */
static const double A[4] = {0, 0, 9, 9}, B[4] = {100, 100, 9, 9};
#define BOX(b, s) {b[0], b[1], b[2], b[3], s}

static void official_cases(void)
{
    rf_eval_curve c;
    rf_error err;

    /* 1. Two faces, two exact detections (scores 0.9, 0.5). Normalised: min(1, 0.5) = 0.5 and
     *    max(0, 0.9) = 0.9 give 1 and 0; the second is counted only at the last threshold
     *    (0.0). Curve: (R 0.5, P 1) ... (R 1, P 1). AP = 1. */
    {
        rf_wider_gt gt = {0};
        rf_wider_preds p;
        add_image(&gt, 2, (const double[]){A[0], A[1], A[2], A[3], B[0], B[1], B[2], B[3]},
                  (const uint8_t[]){ALL, ALL});
        rf_wider_preds_init(&gt, &p, &err);
        set(&p, 0, 2, (const rf_wider_box[]){BOX(A, 0.9), BOX(B, 0.5)});
        CHECK(near(official(&gt, &p, RF_WIDER_EASY, &c), 1), "perfect: %g", c.ap);
        CHECK(c.faces == 2 && c.images == 1 && c.detections == 2, "counts");
        CHECK(c.points == 1000 && near(c.recall[0], 0.5) && near(c.recall[999], 1), "curve");
        rf_eval_curve_free(&c);

        /* 2. A false positive between them: scores 1, 0.75, 0.5 normalise to exactly 1, 0.5,
         *    0. Thresholds above 0.5: 1 proposal, 1 TP (R 0.5, P 1); from 0.5 down: 2, 1
         *    (R 0.5, P 0.5); at 0: 3, 2 (R 1, P 2/3). AP = 0.5 * 1 + 0.5 * 2/3 = 5/6. */
        const double far[4] = {500, 500, 9, 9};
        set(&p, 0, 3, (const rf_wider_box[]){BOX(A, 1), BOX(far, 0.75), BOX(B, 0.5)});
        CHECK(near(official(&gt, &p, RF_WIDER_HARD, &c), 5.0 / 6), "false positive: %g", c.ap);
        rf_eval_curve_free(&c);

        /* 3. Duplicate: the second detection of A counts against precision as the false
         *    positive did: the same curve, AP 5/6. */
        set(&p, 0, 3, (const rf_wider_box[]){BOX(A, 1), BOX(A, 0.75), BOX(B, 0.5)});
        CHECK(near(official(&gt, &p, RF_WIDER_HARD, &c), 5.0 / 6), "duplicate: %g", c.ap);
        rf_eval_curve_free(&c);

        /* 4. Min-max normalisation: the same three at scores 0.0205, 0.0203, 0.0201 spread to
         *    1, ~0.5, 0, so the curve and AP (5/6) are those of case 2. Unnormalised, all
         *    three would sit below threshold 0.021 together: one point (R 1, P 2/3). */
        set(&p, 0, 3, (const rf_wider_box[]){BOX(A, 0.0205), BOX(far, 0.0203), BOX(B, 0.0201)});
        CHECK(near(official(&gt, &p, RF_WIDER_HARD, &c), 5.0 / 6), "normalisation: %g", c.ap);
        rf_eval_curve_free(&c);

        /* 5. Order in the file does not matter: detections are taken in score order. */
        set(&p, 0, 3, (const rf_wider_box[]){BOX(B, 0.5), BOX(far, 0.75), BOX(A, 1)});
        CHECK(near(official(&gt, &p, RF_WIDER_HARD, &c), 5.0 / 6), "unsorted file: %g", c.ap);
        rf_eval_curve_free(&c);
        rf_wider_preds_free(&p);
        rf_wider_gt_free(&gt);
    }

    /* 6. Ignore handling: A is hard only, B is in every setting. Detections: A at 1, B at 0.5
     *    (normalised 1 and 0).
     *    easy: the match to A (outside easy's list) is ignored: no proposal above the last
     *    threshold (0/0, no point), then 1 proposal, 1 TP of 1 face: (R 1, P 1). AP = 1.
     *    hard: both count: AP = 1 with 2 faces.
     *    With only the detection of A: easy has nothing but an ignored detection, AP 0 with
     *    1 face; hard has R 0.5 at P 1, AP 0.5. */
    {
        rf_wider_gt gt = {0};
        rf_wider_preds p;
        add_image(&gt, 2, (const double[]){A[0], A[1], A[2], A[3], B[0], B[1], B[2], B[3]},
                  (const uint8_t[]){H, ALL});
        rf_wider_preds_init(&gt, &p, &err);
        set(&p, 0, 2, (const rf_wider_box[]){BOX(A, 1), BOX(B, 0.5)});
        CHECK(near(official(&gt, &p, RF_WIDER_EASY, &c), 1) && c.faces == 1, "ignored: %g",
              c.ap);
        CHECK(c.points == 1, "one threshold has a proposal: %d", c.points);
        rf_eval_curve_free(&c);
        CHECK(near(official(&gt, &p, RF_WIDER_HARD, &c), 1) && c.faces == 2, "hard: %g", c.ap);
        rf_eval_curve_free(&c);
        set(&p, 0, 1, (const rf_wider_box[]){BOX(A, 1)});
        CHECK(official(&gt, &p, RF_WIDER_EASY, &c) == 0 && c.faces == 1 && c.points == 0,
              "only ignored: %g", c.ap);
        rf_eval_curve_free(&c);
        CHECK(near(official(&gt, &p, RF_WIDER_HARD, &c), 0.5), "half recall: %g", c.ap);
        rf_eval_curve_free(&c);
        rf_wider_preds_free(&p);
        rf_wider_gt_free(&gt);
    }

    /* 7. Ties across images: image 0 has A found at 1; image 1 has B, a false positive and B's
     *    detection both at 0.5 (normalised 0). Tied scores pass every threshold together, so
     *    their order cannot matter: (R 0.5, P 1) then (R 1, P 2/3), AP 5/6. */
    {
        rf_wider_gt gt = {0};
        rf_wider_preds p;
        const double far[4] = {500, 500, 9, 9};
        add_image(&gt, 1, A, (const uint8_t[]){ALL});
        add_image(&gt, 1, B, (const uint8_t[]){ALL});
        rf_wider_preds_init(&gt, &p, &err);
        set(&p, 0, 1, (const rf_wider_box[]){BOX(A, 1)});
        set(&p, 1, 2, (const rf_wider_box[]){BOX(far, 0.5), BOX(B, 0.5)});
        CHECK(near(official(&gt, &p, RF_WIDER_MEDIUM, &c), 5.0 / 6), "ties: %g", c.ap);
        rf_eval_curve_free(&c);
        set(&p, 1, 2, (const rf_wider_box[]){BOX(B, 0.5), BOX(far, 0.5)});
        CHECK(near(official(&gt, &p, RF_WIDER_MEDIUM, &c), 5.0 / 6), "ties reversed: %g", c.ap);
        rf_eval_curve_free(&c);
        rf_wider_preds_free(&p);
        rf_wider_gt_free(&gt);
    }

    /* 8. Empty and absent images: image 0 has A found at 0.9; image 1 has no faces and a
     *    detection at 0.3 (skipped, but it sets the minimum for normalisation); image 2 has
     *    B and no detections (B counts); image 3 has a face but no result (absent: not
     *    counted). Faces 2, every threshold (R 0.5, P 1): AP 0.5. */
    {
        rf_wider_gt gt = {0};
        rf_wider_preds p;
        add_image(&gt, 1, A, (const uint8_t[]){ALL});
        add_image(&gt, 0, NULL, NULL);
        add_image(&gt, 1, B, (const uint8_t[]){ALL});
        add_image(&gt, 1, A, (const uint8_t[]){ALL});
        rf_wider_preds_init(&gt, &p, &err);
        set(&p, 0, 1, (const rf_wider_box[]){BOX(A, 0.9)});
        set(&p, 1, 1, (const rf_wider_box[]){BOX(A, 0.3)});
        set(&p, 2, 0, NULL);
        CHECK(near(official(&gt, &p, RF_WIDER_EASY, &c), 0.5), "empty images: %g", c.ap);
        CHECK(c.faces == 2 && c.images == 3 && c.detections == 2, "counts %lld %d %lld",
              (long long)c.faces, c.images, (long long)c.detections);
        rf_eval_curve_free(&c);
        rf_wider_preds_free(&p);
        rf_wider_gt_free(&gt);
    }

    /* 9. The +1 pixel IoU: face x 0..2 (w 2), detection x 1..3, both y 0..2. With +1 the
     *    overlap is 2 x 3 = 6 of 9 + 9 - 6 = 12: IoU 0.5, a match (>= 0.5). Without +1 it
     *    would be 1 x 2 / (4 + 4 - 2) = 1/3. AP 1. */
    {
        rf_wider_gt gt = {0};
        rf_wider_preds p;
        add_image(&gt, 1, (const double[]){0, 0, 2, 2}, (const uint8_t[]){ALL});
        rf_wider_preds_init(&gt, &p, &err);
        set(&p, 0, 1, (const rf_wider_box[]){{1, 0, 2, 2, 0.9}});
        CHECK(near(official(&gt, &p, RF_WIDER_EASY, &c), 1), "+1 IoU: %g", c.ap);
        rf_eval_curve_free(&c);
        /* one pixel further: overlap 1 x 3 = 3 of 15: no match, AP 0 */
        set(&p, 0, 1, (const rf_wider_box[]){{2, 0, 2, 2, 0.9}});
        CHECK(official(&gt, &p, RF_WIDER_EASY, &c) == 0, "no match: %g", c.ap);
        rf_eval_curve_free(&c);

        /* argument checks: a text ground truth has no keep lists; mismatched predictions */
        rf_wider_gt txt = {0};
        add_image(&txt, 1, A, NULL);
        rf_wider_preds other;
        rf_wider_preds_init(&txt, &other, &err);
        set(&other, 0, 1, (const rf_wider_box[]){BOX(A, 1)});
        CHECK(rf_eval_official(&txt, &other, RF_WIDER_EASY, &c, &err) == RF_E_ARG,
              "no keep lists: %s", err.message);
        add_image(&txt, 1, A, NULL);
        CHECK(rf_eval_omz(&txt, &other, &c, &err) == RF_E_ARG, "count mismatch: %s",
              err.message);
        CHECK(rf_eval_official(&gt, &p, (rf_wider_setting)3, &c, &err) == RF_E_ARG, "setting");
        rf_wider_preds_free(&other);
        rf_wider_gt_free(&txt);
        rf_wider_preds_free(&p);
        rf_wider_gt_free(&gt);
    }
}

/* Faces for the OMZ metric, which needs heights in [64, 1024) to count. */
static const double FA[4] = {0, 0, 100, 100}, FB[4] = {200, 0, 100, 100};

static void omz_cases(void)
{
    rf_eval_curve c;
    rf_error err;
    const double far[4] = {600, 600, 100, 100};

    /* 1. Faces A, B; detections A 0.9 (TP), far 0.8 (FP), B 0.7 (TP): points (R 0.5, P 1),
     *    (R 0.5, P 0.5), (R 1, P 2/3). AP = 0.5 + 0.5 * 2/3 = 5/6. */
    {
        rf_wider_gt gt = {0};
        rf_wider_preds p;
        add_image(&gt, 2, (const double[]){FA[0], FA[1], FA[2], FA[3], FB[0], FB[1], FB[2], FB[3]},
                  NULL);
        rf_wider_preds_init(&gt, &p, &err);
        set(&p, 0, 3, (const rf_wider_box[]){BOX(FA, 0.9), BOX(far, 0.8), BOX(FB, 0.7)});
        CHECK(near(omz(&gt, &p, &c), 5.0 / 6), "basic: %g", c.ap);
        CHECK(c.points == 3 && c.faces == 2 && near(c.precision[1], 0.5), "curve");
        rf_eval_curve_free(&c);
        /* duplicate of A instead of the false positive: a used box makes a false positive,
         *    the same AP */
        set(&p, 0, 3, (const rf_wider_box[]){BOX(FA, 0.9), BOX(FA, 0.8), BOX(FB, 0.7)});
        CHECK(near(omz(&gt, &p, &c), 5.0 / 6), "duplicate: %g", c.ap);
        rf_eval_curve_free(&c);
        /* no detections at all: AP 0, the faces still counted */
        set(&p, 0, 0, NULL);
        CHECK(omz(&gt, &p, &c) == 0 && c.faces == 2 && c.points == 0, "nothing detected");
        rf_eval_curve_free(&c);
        rf_wider_preds_free(&p);
        rf_wider_gt_free(&gt);
    }

    /* 2. A difficult face (D, height 30 < 64) absorbs only the first detection matched to it:
     *    D 0.9 (neither: P 0/eps = 0, R 0), D 0.8 (false positive: P 0, R 0), A 0.7 (TP:
     *    R 1, P 1/2). One positive. AP = 1 * 0.5 = 0.5. */
    {
        rf_wider_gt gt = {0};
        rf_wider_preds p;
        const double D[4] = {300, 0, 30, 30};
        add_image(&gt, 2, (const double[]){FA[0], FA[1], FA[2], FA[3], D[0], D[1], D[2], D[3]},
                  NULL);
        rf_wider_preds_init(&gt, &p, &err);
        set(&p, 0, 3, (const rf_wider_box[]){BOX(D, 0.9), BOX(D, 0.8), BOX(FA, 0.7)});
        CHECK(near(omz(&gt, &p, &c), 0.5) && c.faces == 1, "difficult absorbs one: %g", c.ap);
        rf_eval_curve_free(&c);
        rf_wider_preds_free(&p);
        rf_wider_gt_free(&gt);
    }

    /* 3. Non-difficult faces are preferred: A (0..100 x 0..100) and a difficult D over its
     *    top half (height 50). The detection 0..100 x 0..60 overlaps D more (5000 / 6000 =
     *    0.83) than A (6000 / 10000 = 0.6), but A reaches 0.5, so it is a TP: AP 1. Taking
     *    the overall best (D) would leave A unfound: AP 0. */
    {
        rf_wider_gt gt = {0};
        rf_wider_preds p;
        add_image(&gt, 2, (const double[]){FA[0], FA[1], FA[2], FA[3], 0, 0, 100, 50}, NULL);
        rf_wider_preds_init(&gt, &p, &err);
        set(&p, 0, 1, (const rf_wider_box[]){{0, 0, 100, 60, 0.9}});
        CHECK(near(omz(&gt, &p, &c), 1) && c.faces == 1, "prefer non-difficult: %g", c.ap);
        rf_eval_curve_free(&c);
        /* an IoU of exactly 0.5 matches (no +1): 0..100 x 0..50 against A: 5000 / 10000 */
        add_image(&gt, 1, FA, NULL);
        rf_wider_preds_free(&p);
        rf_wider_preds_init(&gt, &p, &err);
        set(&p, 1, 1, (const rf_wider_box[]){{0, 0, 100, 50, 0.9}});
        /* image 0 is absent now: one positive, found: AP 1 */
        CHECK(near(omz(&gt, &p, &c), 1) && c.faces == 1 && c.images == 1, "IoU 0.5: %g", c.ap);
        rf_eval_curve_free(&c);
        rf_wider_preds_free(&p);
        rf_wider_gt_free(&gt);
    }

    /* 4. Clipping to [0, 1024] and the height rule: a face at y 1000 with height 100 clips to
     *    height 24 (difficult); one 1100 tall is difficult (>= 1024); one at x 1000, 100 wide
     *    clips to 24 wide but stays (height 100). Positives: 1. Its detection, given
     *    unclipped (1000..1100), overlaps the clipped face 2400 / 10000: a false positive;
     *    the clipped box itself (1000..1024) is a TP. AP 1 with that one. */
    {
        rf_wider_gt gt = {0};
        rf_wider_preds p;
        add_image(&gt, 3,
                  (const double[]){0, 1000, 100, 100, 0, 0, 100, 1100, 1000, 200, 100, 100}, NULL);
        rf_wider_preds_init(&gt, &p, &err);
        set(&p, 0, 1, (const rf_wider_box[]){{1000, 200, 100, 100, 0.9}});
        CHECK(omz(&gt, &p, &c) == 0 && c.faces == 1, "clipped away: %g", c.ap);
        rf_eval_curve_free(&c);
        set(&p, 0, 1, (const rf_wider_box[]){{1000, 200, 24, 100, 0.9}});
        CHECK(near(omz(&gt, &p, &c), 1), "clipped face found: %g", c.ap);
        rf_eval_curve_free(&c);
        rf_wider_preds_free(&p);
        rf_wider_gt_free(&gt);
    }

    /* 5. Ties across images go in image order: image 0 has A found at 0.9 and a false positive
     *    at 0.5; image 1 has B found at 0.5. Order A, FP, B: (R 0.5, P 1), (R 0.5, P 0.5),
     *    (R 1, P 2/3): AP 5/6 (B first would give 1). An image without faces makes its
     *    detections false positives: adding image 2 (no faces) with one at 0.95 puts a
     *    (R 0, P 0) point first and lowers the later precisions: (0.5, 1/2), (0.5, 1/3),
     *    (1, 1/2): AP = 0.5 * 0.5 + 0.5 * 0.5 = 0.5. */
    {
        rf_wider_gt gt = {0};
        rf_wider_preds p;
        add_image(&gt, 1, FA, NULL);
        add_image(&gt, 1, FB, NULL);
        add_image(&gt, 0, NULL, NULL);
        rf_wider_preds_init(&gt, &p, &err);
        set(&p, 0, 2, (const rf_wider_box[]){BOX(FA, 0.9), BOX(far, 0.5)});
        set(&p, 1, 1, (const rf_wider_box[]){BOX(FB, 0.5)});
        CHECK(near(omz(&gt, &p, &c), 5.0 / 6), "ties in image order: %g", c.ap);
        rf_eval_curve_free(&c);
        set(&p, 2, 1, (const rf_wider_box[]){BOX(FA, 0.95)});
        CHECK(near(omz(&gt, &p, &c), 0.5) && c.images == 3, "empty image: %g", c.ap);
        rf_eval_curve_free(&c);
        rf_wider_preds_free(&p);
        rf_wider_gt_free(&gt);
    }

    /* 6. Predictions are rounded (ties to even) before matching: 0.5..100.4 x 0..99.6 becomes
     *    0..100 x 0..100, exactly A. */
    {
        rf_wider_gt gt = {0};
        rf_wider_preds p;
        add_image(&gt, 1, FA, NULL);
        rf_wider_preds_init(&gt, &p, &err);
        set(&p, 0, 1, (const rf_wider_box[]){{0.5, 0.4, 99.9, 99.2, 0.9}});
        CHECK(near(omz(&gt, &p, &c), 1) && c.points == 1 && near(c.recall[0], 1), "rounding");
        rf_eval_curve_free(&c);
        rf_wider_preds_free(&p);
        rf_wider_gt_free(&gt);
    }
}

/* The plot writer: a file that starts and ends as SVG does, with the label and AP. */
static void plot(void)
{
    rf_eval_curve c = {0};
    rf_error err;
    double r[3] = {0.1, 0.5, 0.9}, p[3] = {1, 0.8, 0.5};
    c.recall = r;
    c.precision = p;
    c.points = 3;
    c.ap = 0.7654;
    const char *label = "hard <&>";
    const char *path = "test_eval_metrics_plot.svg";
    CHECK(rf_eval_plot_svg(path, "title", &c, &label, 1, &err) == RF_OK, "%s", err.message);
    FILE *f = fopen(path, "r");
    char text[8192] = "";
    if (f) {
        size_t n = fread(text, 1, sizeof text - 1, f);
        text[n] = '\0';
        fclose(f);
    }
    CHECK(strncmp(text, "<svg", 4) == 0 && strstr(text, "</svg>"), "svg");
    CHECK(strstr(text, "hard &lt;&amp;&gt; (AP 76.54%)") != NULL, "escaped label with AP");
    remove(path);
    CHECK(rf_eval_plot_svg("/nonexistent/x.svg", "t", &c, &label, 1, &err) == RF_E_IO,
          "unwritable");
}

int main(void)
{
    voc_ap();
    official_cases();
    omz_cases();
    plot();
    return test_summary();
}
