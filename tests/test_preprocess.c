/* test_preprocess.c - input geometry, the OpenCV-exact resize (against golden PNGs), the input tensor. */
#define _POSIX_C_SOURCE 200809L /* strdup */

#include "retinaface.h"
#include "image/image.h"
#include "testutil.h"

#include <math.h>
#include <stdint.h>

static void geometry(rf_input_policy p, int w, int h, int want_w, int want_h, float want_sx,
                     float want_sy)
{
    rf_error err;
    int nw = -1, nh = -1;
    float sx = -1, sy = -1;
    rf_status st = rf_input_geometry(&p, w, h, &nw, &nh, &sx, &sy, &err);
    CHECK(st == RF_OK, "%dx%d: %s", w, h, err.message);
    CHECK(nw == want_w && nh == want_h, "%dx%d mode %d: got %dx%d want %dx%d", w, h, p.mode, nw,
          nh, want_w, want_h);
    CHECK(sx == want_sx && sy == want_sy, "%dx%d mode %d: scale %.9g,%.9g want %.9g,%.9g", w, h,
          p.mode, sx, sy, want_sx, want_sy);
}

static void test_geometry(void)
{
    rf_input_policy o = rf_input_policy_original();
    CHECK(o.mode == RF_INPUT_ORIGINAL, "original");
    geometry(o, 1024, 683, 1024, 683, 1.0f, 1.0f);

    rf_input_policy s = rf_input_policy_stretch(640, 640);
    CHECK(s.mode == RF_INPUT_STRETCH && s.width == 640 && s.height == 640, "stretch");
    geometry(s, 1024, 624, 640, 640, 1.6f, 0.975f);
    geometry(s, 1, 1, 640, 640, 1.0f / 640, 1.0f / 640);

    rf_input_policy l = rf_input_policy_long_side(640);
    CHECK(l.mode == RF_INPUT_LONG_SIDE && l.long_side == 640, "long side");
    geometry(l, 1024, 683, 640, 427, 1.6f, 1.6f);
    geometry(l, 683, 1024, 427, 640, 1.6f, 1.6f);
    geometry(l, 320, 200, 640, 400, 0.5f, 0.5f);
    geometry(rf_input_policy_long_side(1000), 1600, 898, 1000, 561, 1.6f, 1.6f);
    /* Sizes from cv2.resize(fx=r, fy=r) (OpenCV 4.6): halves round to even. */
    rf_input_policy half = rf_input_policy_long_side(320);
    geometry(half, 640, 3, 320, 2, 2.0f, 2.0f);
    geometry(half, 640, 5, 320, 2, 2.0f, 2.0f);
    geometry(half, 640, 7, 320, 4, 2.0f, 2.0f);
    /* A side that would round to 0 stays at 1. */
    geometry(l, 10000, 1, 640, 1, 15.625f, 15.625f);

    rf_error err;
    int nw, nh;
    float sx, sy;
    rf_input_policy bad = rf_input_policy_stretch(0, 640);
    CHECK(rf_input_geometry(&bad, 10, 10, &nw, &nh, &sx, &sy, &err) == RF_E_ARG, "stretch 0");
    CHECK(strstr(err.message, "0x640") != NULL, "%s", err.message);
    bad = rf_input_policy_long_side(-5);
    CHECK(rf_input_geometry(&bad, 10, 10, &nw, &nh, &sx, &sy, &err) == RF_E_ARG, "long -5");
    bad = rf_input_policy_stretch(100000, 100000);
    CHECK(rf_input_geometry(&bad, 10, 10, &nw, &nh, &sx, &sy, &err) == RF_E_LIMIT, "huge");
    bad.mode = (rf_input_mode)42;
    CHECK(rf_input_geometry(&bad, 10, 10, &nw, &nh, &sx, &sy, &err) == RF_E_ARG, "mode");
    CHECK(rf_input_geometry(&o, 0, 10, &nw, &nh, &sx, &sy, &err) == RF_E_ARG, "image 0");
    CHECK(rf_input_geometry(NULL, 10, 10, &nw, &nh, &sx, &sy, &err) == RF_E_ARG, "NULL");
    CHECK(rf_input_geometry(&o, 10, 10, &nw, NULL, &sx, &sy, &err) == RF_E_ARG, "NULL out");
}

static void test_resize_basics(void)
{
    rf_error err;
    /* Constant images stay constant whatever the sizes. */
    static const int sizes[][4] = {{1, 1, 17, 9},   {5, 3, 1, 1},     {640, 480, 333, 211},
                                   {7, 300, 640, 2}, {100, 100, 100, 100}, {3, 2, 1000, 700}};
    static const uint8_t values[][3] = {{0, 0, 0}, {255, 255, 255}, {1, 128, 254}};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
        for (size_t v = 0; v < 3; v++) {
            rf_image_buf src, dst;
            rf_image_alloc(sizes[i][0], sizes[i][1], &src, &err);
            for (size_t k = 0; k < (size_t)sizes[i][0] * sizes[i][1]; k++)
                memcpy(src.data + 3 * k, values[v], 3);
            CHECK(rf_image_resize(&src.image, sizes[i][2], sizes[i][3], &dst, &err) == RF_OK,
                  "%s", err.message);
            int constant = dst.image.width == sizes[i][2] && dst.image.height == sizes[i][3];
            for (size_t k = 0; constant && k < (size_t)sizes[i][2] * sizes[i][3]; k++)
                constant = memcmp(dst.data + 3 * k, values[v], 3) == 0;
            CHECK(constant, "constant %zu stays constant at %dx%d -> %dx%d", v, sizes[i][0],
                  sizes[i][1], sizes[i][2], sizes[i][3]);
            rf_image_buf_free(&src);
            rf_image_buf_free(&dst);
        }

    /* 2 -> 4 pixels, worked out by hand from OpenCV's rules: source positions -0.25 (clamped),
     * 0.25, 0.75, 1.25 (clamped); weights 1536/512 in 11 bits; the vertical pass rounds
     * 0.25 * 255 up to 64 and 0.75 * 255 down to 191. */
    uint8_t two[6] = {0, 0, 0, 255, 255, 255};
    rf_image small = {two, 2, 1, 6, RF_PIXELS_BGR};
    rf_image_buf wide;
    CHECK(rf_image_resize(&small, 4, 1, &wide, &err) == RF_OK, "%s", err.message);
    static const uint8_t want[4] = {0, 64, 191, 255};
    for (int x = 0; x < 4; x++)
        CHECK(wide.data[3 * x] == want[x] && wide.data[3 * x + 2] == want[x],
              "2->4 pixel %d: %d want %d", x, wide.data[3 * x], want[x]);
    rf_image_buf_free(&wide);

    /* Same size is a copy; the pixel order is kept; padding in the stride is skipped. */
    uint8_t padded[2 * 8] = {1, 2, 3, 4, 5, 6, 99, 99, 7, 8, 9, 10, 11, 12, 99, 99};
    rf_image view = {padded, 2, 2, 8, RF_PIXELS_RGB};
    rf_image_buf copy;
    CHECK(rf_image_resize(&view, 2, 2, &copy, &err) == RF_OK, "%s", err.message);
    CHECK(copy.image.order == RF_PIXELS_RGB, "order kept");
    CHECK(memcmp(copy.data, padded, 6) == 0 && memcmp(copy.data + 6, padded + 8, 6) == 0,
          "same size copies");
    rf_image_buf_free(&copy);

    CHECK(rf_image_resize(&view, 0, 2, &copy, &err) == RF_E_ARG, "width 0");
    CHECK(rf_image_resize(&view, 100000, 100000, &copy, &err) == RF_E_LIMIT, "huge");
    CHECK(rf_image_resize(NULL, 2, 2, &copy, &err) == RF_E_ARG, "NULL src");
    rf_image bad = view;
    bad.stride = 4;
    CHECK(rf_image_resize(&bad, 2, 2, &copy, &err) == RF_E_ARG, "short stride");
}

static void test_to_input(void)
{
    rf_error err;
    uint8_t px[12] = {10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 110, 120};
    rf_image bgr = {px, 2, 2, 6, RF_PIXELS_BGR};
    float t[12];
    CHECK(rf_image_to_input(&bgr, 2, 2, t, &err) == RF_OK, "%s", err.message);
    CHECK(t[0] == 10 - 104.0f && t[4] == 20 - 117.0f && t[8] == 30 - 123.0f, "pixel 0 planes");
    CHECK(t[3] == 100 - 104.0f && t[7] == 110 - 117.0f && t[11] == 120 - 123.0f, "pixel 3");
    rf_image rgb = bgr;
    rgb.order = RF_PIXELS_RGB;
    CHECK(rf_image_to_input(&rgb, 2, 2, t, &err) == RF_OK, "%s", err.message);
    CHECK(t[0] == 30 - 104.0f && t[4] == 20 - 117.0f && t[8] == 10 - 123.0f, "RGB swapped");
    /* the NHWC input a context builds: pixels interleaved */
    rf_buffer ws = {NULL, 0};
    CHECK(rf_image_to_nhwc_into(&rgb, 2, 2, t, &ws, &err) == RF_OK, "%s", err.message);
    CHECK(t[0] == 30 - 104.0f && t[1] == 20 - 117.0f && t[2] == 10 - 123.0f, "NHWC pixel 0");
    CHECK(t[9] == 120 - 104.0f && t[10] == 110 - 117.0f && t[11] == 100 - 123.0f,
          "NHWC pixel 3");
    CHECK(rf_image_to_nhwc_into(&rgb, 0, 2, t, &ws, &err) == RF_E_ARG, "NHWC net 0");
    rf_buffer_free(&ws);

    /* Resized when the size differs: a constant image gives constant planes. */
    uint8_t c[3 * 6];
    for (int i = 0; i < 6; i++) {
        c[3 * i] = 104;
        c[3 * i + 1] = 120;
        c[3 * i + 2] = 0;
    }
    rf_image con = {c, 3, 2, 9, RF_PIXELS_BGR};
    float big[3 * 5 * 7];
    CHECK(rf_image_to_input(&con, 5, 7, big, &err) == RF_OK, "%s", err.message);
    int ok = 1;
    for (int i = 0; i < 35; i++)
        ok &= big[i] == 0.0f && big[35 + i] == 3.0f && big[70 + i] == -123.0f;
    CHECK(ok, "resized constant input");
    CHECK(rf_image_to_input(&con, 0, 7, big, &err) == RF_E_ARG, "net 0");
    CHECK(rf_image_to_input(&con, 5, 7, NULL, &err) == RF_E_ARG, "dst NULL");
}

/* The golden PNGs hold cv2.resize(cv2.imread(jpg), (640, 640), INTER_LINEAR). */
static void compare_golden(const char *jpg, const char *png)
{
    rf_error err;
    rf_image_buf src, want, got;
    char *jpg_path = strdup(test_data_path(jpg));
    CHECK(rf_image_load(jpg_path, &src, &err) == RF_OK, "%s", err.message);
    CHECK(rf_image_load(test_data_path(png), &want, &err) == RF_OK, "%s", err.message);
    free(jpg_path);
    if (!src.data || !want.data)
        return;
    CHECK(rf_image_resize(&src.image, 640, 640, &got, &err) == RF_OK, "%s", err.message);
    long differ = 0;
    int maxd = 0;
    for (size_t i = 0; i < 640 * 640 * 3; i++) {
        int d = abs(got.data[i] - want.data[i]);
        differ += d != 0;
        maxd = d > maxd ? d : maxd;
    }
    printf("%s %dx%d -> 640x640 vs %s: max difference %d, %ld of %d values differ\n", jpg,
           src.image.width, src.image.height, png, maxd, differ, 640 * 640 * 3);
    CHECK(differ == 0, "bit-exact with cv2.resize: %ld values differ, max %d", differ, maxd);

    /* And the tensor built from the JPEG equals the one built from the golden PNG. */
    float *a = malloc(3 * 640 * 640 * sizeof(float)), *b = malloc(3 * 640 * 640 * sizeof(float));
    rf_input_policy policy = rf_input_policy_stretch(640, 640);
    int nw, nh;
    float sx, sy;
    CHECK(rf_input_geometry(&policy, src.image.width, src.image.height, &nw, &nh, &sx, &sy,
                            &err) == RF_OK, "%s", err.message);
    CHECK(rf_image_to_input(&src.image, nw, nh, a, &err) == RF_OK, "%s", err.message);
    CHECK(rf_image_to_input(&want.image, 640, 640, b, &err) == RF_OK, "%s", err.message);
    CHECK(memcmp(a, b, 3 * 640 * 640 * sizeof(float)) == 0, "input tensors equal");
    /* The NHWC input rf_detect builds in its arena is the same tensor transposed, bit for bit
     * (the resize scratch reused from a call at another size). */
    float *nhwc = malloc(3 * 640 * 640 * sizeof(float));
    rf_buffer ws = {NULL, 0};
    CHECK(nhwc && rf_image_to_nhwc_into(&src.image, 320, 200, nhwc, &ws, &err) == RF_OK, "%s",
          err.message);
    CHECK(nhwc && rf_image_to_nhwc_into(&src.image, nw, nh, nhwc, &ws, &err) == RF_OK, "%s",
          err.message);
    long transposed = 0;
    for (size_t p = 0; nhwc && p < 640 * 640; p++)
        for (size_t c = 0; c < 3; c++)
            transposed += memcmp(&nhwc[3 * p + c], &a[c * 640 * 640 + p], sizeof(float)) != 0;
    CHECK(nhwc && transposed == 0, "NHWC input: %ld values differ from the NCHW one", transposed);
    rf_buffer_free(&ws);
    free(nhwc);
    free(a);
    free(b);
    rf_image_buf_free(&src);
    rf_image_buf_free(&want);
    rf_image_buf_free(&got);
}

int main(void)
{
    test_geometry();
    test_resize_basics();
    test_to_input();
    if (test_data_dir()) {
        compare_golden("data/images/retinaface_curve_test.jpg", "golden/mnet_640/input.png");
        compare_golden("data/images/face1mb_sample.jpg", "golden/r50_batch2/input0.png");
        compare_golden("data/widerface/val/images/13--Interview/"
                       "13_Interview_Interview_Sequences_13_2.jpg",
                       "golden/r50_batch2/input1.png");
    } else {
        printf("SKIP golden resize comparisons: test data not found (set RETINAFACE_TESTDATA)\n");
    }
    return test_summary();
}
