/* test_draw.c - drawing faces: pixels where expected, clipping, hostile coordinates, tiny images. */
#include "retinaface.h"
#include "testutil.h"

#include <math.h>
#include <stdint.h>

static rf_face face(float x1, float y1, float x2, float y2, float score)
{
    rf_face f = {{x1, y1, x2, y2}, score, {0}};
    float cx = (x1 + x2) / 2, cy = (y1 + y2) / 2, w = x2 - x1, h = y2 - y1;
    float lm[10] = {cx - w / 4, cy - h / 6, cx + w / 4, cy - h / 6, cx, cy,
                    cx - w / 5, cy + h / 4, cx + w / 5, cy + h / 4};
    memcpy(f.landmarks, lm, sizeof lm);
    return f;
}

static const uint8_t *px(const rf_image_buf *img, int x, int y)
{
    return img->data + (size_t)y * img->image.stride + 3 * (size_t)x;
}

static int is_bgr(const rf_image_buf *img, int x, int y, int b, int g, int r)
{
    const uint8_t *p = px(img, x, y);
    return p[0] == b && p[1] == g && p[2] == r;
}

/* Pixels that are not black. */
static int count_lit(const rf_image_buf *img)
{
    int n = 0;
    for (int y = 0; y < img->image.height; y++)
        for (int x = 0; x < img->image.width; x++)
            n += !is_bgr(img, x, y, 0, 0, 0);
    return n;
}

static void test_basic(void)
{
    rf_error err;
    rf_image_buf img;
    CHECK(rf_image_alloc(200, 150, &img, &err) == RF_OK, "%s", err.message);
    rf_face faces[2] = {face(50, 60, 150, 140, 0.97f), face(5, 5, 30, 30, 0.3f)};
    rf_faces list = {faces, 2, 2};
    rf_draw_faces(&img, &list, 0.5f);

    CHECK(is_bgr(&img, 100, 60, 0, 0, 255) && is_bgr(&img, 100, 61, 0, 0, 255),
          "top edge red, 2 px");
    CHECK(is_bgr(&img, 100, 62, 0, 0, 0), "3rd row inside untouched");
    CHECK(is_bgr(&img, 50, 100, 0, 0, 255) && is_bgr(&img, 150, 100, 0, 0, 255), "sides");
    CHECK(is_bgr(&img, 100, 140, 0, 0, 255), "bottom edge");
    /* Landmarks: their centre pixels carry the five colours. */
    const rf_face *f = &faces[0];
    static const uint8_t colours[5][3] = {
        {0, 0, 255}, {0, 255, 255}, {255, 0, 255}, {0, 255, 0}, {255, 0, 0}};
    for (int k = 0; k < 5; k++) {
        int x = (int)lrintf(f->landmarks[2 * k]), y = (int)lrintf(f->landmarks[2 * k + 1]);
        CHECK(is_bgr(&img, x, y, colours[k][0], colours[k][1], colours[k][2]),
              "landmark %d colour", k);
    }
    /* The score label sits above the box and has white text in it. */
    int white = 0;
    for (int y = 40; y < 60; y++)
        for (int x = 50; x < 80; x++)
            white += is_bgr(&img, x, y, 255, 255, 255);
    CHECK(white > 10, "score text above the box (%d white pixels)", white);
    /* The face under min_score is not drawn. */
    int touched = 0;
    for (int y = 0; y < 40; y++)
        for (int x = 0; x < 40; x++)
            touched += !is_bgr(&img, x, y, 0, 0, 0);
    CHECK(touched == 0, "face below min_score not drawn (%d pixels)", touched);
    rf_image_buf_free(&img);
}

static void test_rgb_order(void)
{
    rf_error err;
    rf_image_buf img;
    CHECK(rf_image_alloc(40, 40, &img, &err) == RF_OK, "%s", err.message);
    img.image.order = RF_PIXELS_RGB;
    rf_face f = face(10, 20, 30, 35, 0.9f);
    rf_faces list = {&f, 1, 1};
    rf_draw_faces(&img, &list, 0.5f);
    CHECK(is_bgr(&img, 20, 35, 255, 0, 0), "red box stored as R, G, B");
    rf_image_buf_free(&img);
}

static void test_hostile(void)
{
    rf_error err;
    rf_face faces[] = {
        face(-50, -50, 500, 500, 0.9f),       /* around the image */
        face(-10, -10, 2, 2, 0.9f),           /* corner only */
        face(1000, 1000, 2000, 2000, 0.9f),   /* fully outside */
        face(-2000, 3, -1000, 4, 0.9f),       /* fully outside, left */
        face(5, 5, 1, 1, 0.9f),               /* inverted */
        face(-1e30f, -1e30f, 1e30f, 1e30f, 0.9f),
        face(INFINITY, 0, 1, 1, 0.9f),
        face(NAN, NAN, NAN, NAN, 0.9f),
        face(0, 0, 1, 1, NAN),
        face(0, 0, 3, 3, 1e9f),
        face(0, 0, 3, 3, -1e9f),
    };
    faces[0].landmarks[3] = NAN;
    faces[1].landmarks[0] = -INFINITY;
    rf_faces list = {faces, (int)(sizeof faces / sizeof faces[0]), 0};
    /* Faces that lie wholly outside the picture or have no real coordinates: nothing drawn. */
    rf_face invisible[] = {faces[2], faces[3], faces[7]};
    rf_faces none_visible = {invisible, 3, 0};
    static const int sizes[][2] = {{1, 1}, {2, 3}, {3, 2}, {16, 16}, {700, 5}};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        rf_image_buf img;
        CHECK(rf_image_alloc(sizes[i][0], sizes[i][1], &img, &err) == RF_OK, "%s", err.message);
        /* every hostile face, on every size: ASan and UBSan watch the writes */
        rf_draw_faces(&img, &list, -INFINITY);
        memset(img.data, 0, (size_t)img.image.stride * (size_t)img.image.height);
        rf_draw_faces(&img, &none_visible, -INFINITY);
        CHECK(count_lit(&img) == 0, "%dx%d: nothing drawn for faces outside (%d pixels)",
              sizes[i][0], sizes[i][1], count_lit(&img));
        rf_image_buf_free(&img);
    }
    /* A box around the whole image is clipped, not drawn: the image stays black. */
    rf_image_buf img;
    CHECK(rf_image_alloc(20, 20, &img, &err) == RF_OK, "%s", err.message);
    rf_face around = face(-50, -50, 70, 70, 0.9f);
    rf_faces one = {&around, 1, 1};
    rf_draw_faces(&img, &one, 0.5f);
    CHECK(is_bgr(&img, 0, 0, 0, 0, 0) && is_bgr(&img, 19, 19, 0, 0, 0), "outline is outside");

    int lit = count_lit(&img);
    rf_faces empty = {0};
    rf_draw_faces(&img, &empty, 0.0f);
    rf_draw_faces(&img, NULL, 0.0f);
    rf_draw_faces(NULL, &one, 0.0f);
    rf_image_buf none = {0};
    rf_draw_faces(&none, &one, 0.0f);
    CHECK(count_lit(&img) == lit, "empty and NULL arguments draw nothing");
    CHECK(none.image.pixels == NULL && none.image.width == 0, "an empty image stays empty");
    rf_image_buf_free(&img);
}

int main(void)
{
    test_basic();
    test_rgb_order();
    test_hostile();
    return test_summary();
}
