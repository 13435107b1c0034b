/* test_postprocess.c - priors, decode and NMS on tensors the test builds, with answers worked out here. */
#include "testutil.h"

#include "retinaface.h"

#include <math.h>

typedef struct {
    int w, h;
    int64_t a;
    float *cls, *box, *ldm;
} tensors;

/* Every anchor background (score 0) with zero deltas. */
static tensors make(int w, int h)
{
    tensors t = {w, h, rf_anchor_count(h, w), NULL, NULL, NULL};
    t.cls = calloc((size_t)t.a * 2, sizeof(float));
    t.box = calloc((size_t)t.a * 4, sizeof(float));
    t.ldm = calloc((size_t)t.a * 10, sizeof(float));
    for (int64_t i = 0; i < t.a; i++)
        t.cls[2 * i] = 1.0f;
    return t;
}

static void set_score(tensors *t, int64_t anchor, float s)
{
    t->cls[2 * anchor] = 1.0f - s;
    t->cls[2 * anchor + 1] = s;
}

static void drop(tensors *t)
{
    free(t->cls);
    free(t->box);
    free(t->ldm);
}

static int run(const tensors *t, rf_anchors preset, const rf_detect_params *p, float sx, float sy,
               rf_faces *out)
{
    rf_error err;
    rf_status st = rf_postprocess(t->cls, t->box, t->ldm, t->w, t->h, sx, sy, preset, p, out,
                                  &err);
    if (st != RF_OK)
        fprintf(stderr, "rf_postprocess: %s\n", err.message);
    return st;
}

static int near(float a, float b) { return fabsf(a - b) <= 1e-4f * (1 + fabsf(b)); }

static void test_anchor_count(void)
{
    CHECK(rf_anchor_count(640, 640) == 16800, "640x640: %lld", (long long)rf_anchor_count(640, 640));
    /* 577x1024: ceil(577/8)=73, /16=37, /32=19; 2*(73*128 + 37*64 + 19*32) */
    CHECK(rf_anchor_count(577, 1024) == 2 * (73 * 128 + 37 * 64 + 19 * 32), "577x1024");
    CHECK(rf_anchor_count(1, 1) == 6, "1x1: three levels of one cell, two anchors each");
    CHECK(rf_anchor_count(33, 17) == 2 * (5 * 3 + 3 * 2 + 2 * 1), "33x17");
}

/* Anchor order is level, row, column, min size: check where given anchors land. */
static void test_prior_order(void)
{
    tensors t = make(64, 48); /* levels: 6x8, 3x4, 2x2 cells */
    rf_detect_params p = rf_detect_params_default();
    struct { int64_t anchor; float cx, cy, size; } cases[] = {
        {0, 4, 4, 16},                        /* level 0, row 0, col 0, min size 16 */
        {1, 4, 4, 32},                        /* same cell, second min size */
        {2 * (1 * 8 + 3), 3 * 8 + 4, 12, 16}, /* row 1, col 3 */
        {2 * 48 + 2 * (2 * 4 + 1) + 1, 24, 40, 128}, /* level 1, row 2, col 1, size 128 */
        {2 * 48 + 2 * 12 + 2 * 3, 48, 48, 256},       /* level 2, row 1, col 1, size 256 */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tensors u = make(64, 48);
        set_score(&u, cases[i].anchor, 0.9f);
        rf_faces f = {0};
        CHECK(run(&u, RF_ANCHORS_RETINAFACE, &p, 1, 1, &f) == RF_OK && f.count == 1,
              "case %zu: one face", i);
        if (f.count == 1) {
            const float *b = f.faces[0].box;
            CHECK(near((b[0] + b[2]) / 2, cases[i].cx) && near((b[1] + b[3]) / 2, cases[i].cy),
                  "case %zu: centre (%g, %g), want (%g, %g)", i, (b[0] + b[2]) / 2,
                  (b[1] + b[3]) / 2, cases[i].cx, cases[i].cy);
            CHECK(near(b[2] - b[0], cases[i].size) && near(b[3] - b[1], cases[i].size),
                  "case %zu: size %g x %g, want %g", i, b[2] - b[0], b[3] - b[1], cases[i].size);
        }
        rf_faces_free(&f);
        drop(&u);
    }
    /* face1mb preset: level 0 min sizes 10 and 20 */
    set_score(&t, 1, 0.9f);
    rf_faces f = {0};
    run(&t, RF_ANCHORS_FACE1MB, &p, 1, 1, &f);
    CHECK(f.count == 1 && near(f.faces[0].box[2] - f.faces[0].box[0], 20), "face1mb size 20");
    rf_faces_free(&f);
    drop(&t);
}

/* dx = 1 moves the centre by 0.1 * w; dw = 1 scales w by exp(0.2); landmarks like centres. */
static void test_decode(void)
{
    tensors t = make(64, 64);
    set_score(&t, 0, 0.8f); /* prior centre (4, 4), size 16 */
    t.box[0] = 1.0f;
    t.box[1] = -2.0f;
    t.box[2] = 1.0f;
    t.box[3] = 0.0f;
    for (int k = 0; k < 5; k++) {
        t.ldm[2 * k] = (float)k;
        t.ldm[2 * k + 1] = -(float)k;
    }
    rf_detect_params p = rf_detect_params_default();
    rf_faces f = {0};
    run(&t, RF_ANCHORS_RETINAFACE, &p, 1, 1, &f);
    CHECK(f.count == 1, "one face");
    if (f.count == 1) {
        const rf_face *x = &f.faces[0];
        const float cx = 4 + 0.1f * 16, cy = 4 - 0.2f * 16, w = 16 * expf(0.2f), h = 16;
        CHECK(near(x->box[0], cx - w / 2) && near(x->box[2], cx + w / 2), "x: %g %g",
              x->box[0], x->box[2]);
        CHECK(near(x->box[1], cy - h / 2) && near(x->box[3], cy + h / 2), "y: %g %g",
              x->box[1], x->box[3]);
        CHECK(near(x->score, 0.8f), "score %g", x->score);
        for (int k = 0; k < 5; k++)
            CHECK(near(x->landmarks[2 * k], 4 + 0.1f * k * 16) &&
                      near(x->landmarks[2 * k + 1], 4 - 0.1f * k * 16),
                  "landmark %d", k);
    }
    /* scales map network pixels to image pixels */
    rf_faces g = {0};
    run(&t, RF_ANCHORS_RETINAFACE, &p, 2.0f, 0.5f, &g);
    CHECK(g.count == 1 && near(g.faces[0].box[0], 2 * f.faces[0].box[0]) &&
              near(g.faces[0].box[3], 0.5f * f.faces[0].box[3]) &&
              near(g.faces[0].landmarks[9], 0.5f * f.faces[0].landmarks[9]),
          "scaled");
    rf_faces_free(&f);
    rf_faces_free(&g);
    drop(&t);
}

static void test_threshold_and_nms(void)
{
    rf_detect_params p = rf_detect_params_default();
    rf_faces f = {0};
    /* the two anchors of a cell share a centre: 16x16 inside 32x32 (+1 convention: IoU
     * 289/1089 = 0.265) survive; two 16x16 at the same place (IoU 1) do not */
    tensors t = make(64, 64);
    set_score(&t, 0, 0.9f);
    set_score(&t, 1, 0.8f);
    run(&t, RF_ANCHORS_RETINAFACE, &p, 1, 1, &f);
    CHECK(f.count == 2 && f.faces[0].score > f.faces[1].score, "nested boxes both kept");
    p.nms_threshold = 0.2f;
    run(&t, RF_ANCHORS_RETINAFACE, &p, 1, 1, &f);
    CHECK(f.count == 1 && near(f.faces[0].score, 0.9f), "IoU 0.265 > 0.2 suppressed");
    p = rf_detect_params_default();
    /* score exactly at the threshold is not kept (strictly greater) */
    set_score(&t, 0, 0.02f);
    set_score(&t, 1, 0.0f);
    run(&t, RF_ANCHORS_RETINAFACE, &p, 1, 1, &f);
    CHECK(f.count == 0, "score == threshold dropped (%d)", f.count);
    drop(&t);

    /* neighbouring cells 8 px apart, 16 px boxes: inter (8+1)*(16+1) = 153, areas 289:
     * IoU = 153 / 425 = 0.36 -> kept at 0.4; without +1: 128 / 384 = 0.333 */
    t = make(64, 64);
    set_score(&t, 0, 0.9f);
    set_score(&t, 2, 0.9f); /* equal scores: anchor order decides */
    run(&t, RF_ANCHORS_RETINAFACE, &p, 1, 1, &f);
    CHECK(f.count == 2 && f.faces[0].box[0] < f.faces[1].box[0], "tie keeps anchor order");
    p.nms_threshold = 0.35f;
    run(&t, RF_ANCHORS_RETINAFACE, &p, 1, 1, &f);
    CHECK(f.count == 1, "IoU 0.36 > 0.35 with +1 convention");
    p.nms_offset = 0.0f;
    run(&t, RF_ANCHORS_RETINAFACE, &p, 1, 1, &f);
    CHECK(f.count == 2, "IoU 0.333 <= 0.35 without it");
    drop(&t);

    /* caps: 10 disjoint faces (every other cell of a row), pre-NMS and post-NMS caps */
    p = rf_detect_params_default();
    t = make(160, 16);
    for (int i = 0; i < 10; i++)
        set_score(&t, 2 * (2 * i), 0.5f + 0.01f * i);
    run(&t, RF_ANCHORS_RETINAFACE, &p, 1, 1, &f);
    CHECK(f.count == 10, "10 disjoint faces, got %d", f.count);
    p.keep_top_k = 3;
    run(&t, RF_ANCHORS_RETINAFACE, &p, 1, 1, &f);
    CHECK(f.count == 3 && near(f.faces[0].score, 0.59f), "keep_top_k 3");
    p.keep_top_k = 0;
    p.pre_nms_top_k = 4;
    run(&t, RF_ANCHORS_RETINAFACE, &p, 1, 1, &f);
    CHECK(f.count == 4 && near(f.faces[3].score, 0.56f), "pre_nms_top_k 4");
    drop(&t);

    /* NMS in network pixels vs image pixels: stretched by 4 along x two boxes overlap less */
    p = rf_detect_params_default();
    t = make(64, 64);
    set_score(&t, 0, 0.9f);
    set_score(&t, 2, 0.8f);
    p.nms_threshold = 0.35f;
    run(&t, RF_ANCHORS_RETINAFACE, &p, 4, 1, &f);
    CHECK(f.count == 2, "image pixels, x times 4: 33*17 / (2*65*17 - 33*17) = 0.34 <= 0.35");
    p.nms_in_network_pixels = 1;
    run(&t, RF_ANCHORS_RETINAFACE, &p, 4, 1, &f);
    CHECK(f.count == 1, "network pixels: IoU 0.36 > 0.35");
    CHECK(f.count == 1 && near(f.faces[0].box[2] - f.faces[0].box[0], 64),
          "kept face still scaled to image pixels");
    drop(&t);
    rf_faces_free(&f);

    rf_error err;
    rf_faces g = {0};
    float one[12] = {0};
    CHECK(rf_postprocess(one, one, one, 0, 8, 1, 1, RF_ANCHORS_RETINAFACE, &p, &g, &err) ==
              RF_E_ARG, "zero width refused");
    p.nms_threshold = 2;
    CHECK(rf_postprocess(one, one, one, 8, 8, 1, 1, RF_ANCHORS_RETINAFACE, &p, &g, &err) ==
              RF_E_ARG, "nms threshold 2 refused");
}

int main(void)
{
    test_anchor_count();
    test_prior_order();
    test_decode();
    test_threshold_and_nms();
    return test_summary();
}
