/* draw.c - boxes, scores (built-in bitmap font) and landmarks drawn onto images, clipped. */
#include "base/common.h"

#include <math.h>
#include <stdint.h>

typedef struct {
    uint8_t b, g, r;
} colour;

static const colour BOX_COLOUR = {0, 0, 255};
static const colour TEXT_COLOUR = {255, 255, 255};
/* Left eye, right eye, nose, left and right mouth corner: the colours of biubug6's detect.py. */
static const colour LANDMARK_COLOURS[5] = {
    {0, 0, 255}, {0, 255, 255}, {255, 0, 255}, {0, 255, 0}, {255, 0, 0}};

#define BOX_THICKNESS 2
#define GLYPH_W 3
#define GLYPH_H 5

/* A 3x5 font of the characters a score needs, one row per byte, bit 2 = left column. Index 10
 * is '.'. */
static const uint8_t GLYPHS[11][GLYPH_H] = {
    {7, 5, 5, 5, 7}, /* 0 */
    {2, 6, 2, 2, 7}, /* 1 */
    {7, 1, 7, 4, 7}, /* 2 */
    {7, 1, 3, 1, 7}, /* 3 */
    {5, 5, 7, 1, 1}, /* 4 */
    {7, 4, 7, 1, 7}, /* 5 */
    {7, 4, 7, 5, 7}, /* 6 */
    {7, 1, 2, 2, 2}, /* 7 */
    {7, 5, 7, 5, 7}, /* 8 */
    {7, 5, 7, 1, 7}, /* 9 */
    {0, 0, 0, 0, 2}, /* . */
};

/* Fills [x0, x1) x [y0, y1), clipped to the image. */
static void fill_rect(rf_image_buf *img, int x0, int y0, int x1, int y1, colour c)
{
    const rf_image *im = &img->image;
    x0 = x0 < 0 ? 0 : x0;
    y0 = y0 < 0 ? 0 : y0;
    x1 = x1 > im->width ? im->width : x1;
    y1 = y1 > im->height ? im->height : y1;
    uint8_t first = im->order == RF_PIXELS_BGR ? c.b : c.r;
    uint8_t last = im->order == RF_PIXELS_BGR ? c.r : c.b;
    for (int y = y0; y < y1; y++) {
        uint8_t *p = img->data + (size_t)y * im->stride + (size_t)x0 * 3;
        for (int x = x0; x < x1; x++, p += 3) {
            p[0] = first;
            p[1] = c.g;
            p[2] = last;
        }
    }
}

/* Pixel coordinate of a float; far-off values are pulled in so the int arithmetic below cannot
 * overflow while still landing outside any image. */
static int to_px(float v)
{
    const float far = 1e7f;
    return (int)lrintf(v < -far ? -far : v > far ? far : v);
}

static void draw_box(rf_image_buf *img, int x1, int y1, int x2, int y2)
{
    const int t = BOX_THICKNESS;
    fill_rect(img, x1, y1, x2 + 1, y1 + t, BOX_COLOUR);
    fill_rect(img, x1, y2 + 1 - t, x2 + 1, y2 + 1, BOX_COLOUR);
    fill_rect(img, x1, y1, x1 + t, y2 + 1, BOX_COLOUR);
    fill_rect(img, x2 + 1 - t, y1, x2 + 1, y2 + 1, BOX_COLOUR);
}

/* The score as "0.97" on a box-coloured label: above the box, or inside it at the top edge of
 * the image. Formatted by hand because printf's decimal point follows the locale. */
static void draw_score(rf_image_buf *img, int x1, int y1, float score, int scale)
{
    int hundredths = (int)lrintf((score < 0 ? 0 : score > 9.99f ? 9.99f : score) * 100);
    int text[4] = {hundredths / 100, 10, hundredths / 10 % 10, hundredths % 10};
    int pad = scale, advance = (GLYPH_W + 1) * scale;
    int label_w = 4 * advance - scale + 2 * pad, label_h = GLYPH_H * scale + 2 * pad;
    int ty = y1 - label_h >= 0 ? y1 - label_h : y1 + BOX_THICKNESS;
    fill_rect(img, x1, ty, x1 + label_w, ty + label_h, BOX_COLOUR);
    for (int i = 0; i < 4; i++) {
        const uint8_t *glyph = GLYPHS[text[i]];
        int gx = x1 + pad + i * advance;
        for (int row = 0; row < GLYPH_H; row++)
            for (int col = 0; col < GLYPH_W; col++)
                if (glyph[row] >> (GLYPH_W - 1 - col) & 1)
                    fill_rect(img, gx + col * scale, ty + pad + row * scale,
                              gx + (col + 1) * scale, ty + pad + (row + 1) * scale, TEXT_COLOUR);
    }
}

static void draw_dot(rf_image_buf *img, int cx, int cy, int radius, colour c)
{
    for (int dy = -radius; dy <= radius; dy++) {
        /* Widest run of this row inside the disc; + radius rounds the outline outwards. */
        int dx = 0;
        while ((dx + 1) * (dx + 1) + dy * dy <= radius * radius + radius)
            dx++;
        fill_rect(img, cx - dx, cy + dy, cx + dx + 1, cy + dy + 1, c);
    }
}

void rf_draw_faces(rf_image_buf *img, const rf_faces *faces, float min_score)
{
    if (!img || !img->data || !faces || !faces->faces || img->image.width <= 0 ||
        img->image.height <= 0)
        return;
    int side = img->image.width < img->image.height ? img->image.width : img->image.height;
    /* Text and dots grow with the image so they stay legible on large photos. */
    int scale = side / 320 > 1 ? side / 320 : 1;
    int radius = side / 200 > 2 ? side / 200 : 2;
    for (int i = 0; i < faces->count; i++) {
        const rf_face *f = &faces->faces[i];
        if (!(f->score >= min_score) || !isfinite(f->box[0]) || !isfinite(f->box[1]) ||
            !isfinite(f->box[2]) || !isfinite(f->box[3]))
            continue;
        int x1 = to_px(f->box[0]), y1 = to_px(f->box[1]);
        int x2 = to_px(f->box[2]), y2 = to_px(f->box[3]);
        draw_box(img, x1, y1, x2, y2);
        /* on small faces the five dots must not cover each other */
        const int face_radius = (x2 - x1) / 16 < radius ? (x2 - x1) / 16 : radius;
        for (int k = 0; k < 5; k++)
            if (isfinite(f->landmarks[2 * k]) && isfinite(f->landmarks[2 * k + 1]))
                draw_dot(img, to_px(f->landmarks[2 * k]), to_px(f->landmarks[2 * k + 1]),
                         face_radius > 1 ? face_radius : 1, LANDMARK_COLOURS[k]);
        draw_score(img, x1, y1, f->score, scale);
    }
}
