/* video_cover.c - faces hidden for anonymization: blurred, pixelated or filled over an ellipse
 * a little larger than the detected box, and nothing changed outside it. */
#include "video.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    int x0, y0, x1, y1;       /* the ellipse's bounding rectangle in the image, [x0, x1) */
    double cx, cy, rx, ry;    /* the ellipse */
} cover_region;

/* The pixels of line y whose centres lie in the ellipse: [*xa, *xb) within [x0, x1). */
static void inside_span(const cover_region *r, int y, int *xa, int *xb)
{
    const double dy = (y + 0.5 - r->cy) / r->ry;
    *xa = *xb = r->x0;
    if (dy * dy > 1.0)
        return;
    const double half = r->rx * sqrt(1.0 - dy * dy);
    const double a = ceil(r->cx - half - 0.5), b = floor(r->cx + half - 0.5) + 1;
    *xa = a < r->x0 ? r->x0 : a > r->x1 ? r->x1 : (int)a;
    *xb = b < *xa ? *xa : b > r->x1 ? r->x1 : (int)b;
}

/* One box blur of radius rad down the columns of the w x h BGR block src into dst (edges
 * clamped): running sums, a whole row of them at a time so that memory is read in order and
 * the loops vectorise (this file is compiled at -O3); divided by multiplying with a 16-bit
 * reciprocal. Rows are blurred as the columns of the transposed block. */
static void blur_columns(const uint8_t *src, uint8_t *dst, int w, int h, int rad,
                         uint32_t *sum)
{
    const uint32_t div = 2 * (uint32_t)rad + 1, mul = (65536 + div / 2) / div;
    const size_t row = (size_t)w * 3;
    memset(sum, 0, row * sizeof *sum);
    for (int k = -rad; k <= rad; k++) {
        const uint8_t *s = src + (size_t)(k < 0 ? 0 : k >= h ? h - 1 : k) * row;
        for (size_t i = 0; i < row; i++)
            sum[i] += s[i];
    }
    for (int y = 0; y < h; y++) {
        const uint8_t *in = src + (size_t)(y + rad + 1 < h ? y + rad + 1 : h - 1) * row;
        const uint8_t *out = src + (size_t)(y - rad > 0 ? y - rad : 0) * row;
        uint8_t *d = dst + (size_t)y * row;
        for (size_t i = 0; i < row; i++) {
            d[i] = (uint8_t)((sum[i] * mul + 32768) >> 16);
            sum[i] += (uint32_t)in[i] - out[i];
        }
    }
}

/* dst (h x w pixels of 3 bytes) = src (w x h) transposed. */
static void transpose(const uint8_t *src, uint8_t *dst, int w, int h)
{
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            memcpy(dst + ((size_t)x * h + y) * 3, src + ((size_t)y * w + x) * 3, 3);
}

static void fill(rf_image_buf *img, const cover_region *r)
{
    for (int y = r->y0; y < r->y1; y++) {
        int xa, xb;
        inside_span(r, y, &xa, &xb);
        uint8_t *line = img->data + (size_t)y * img->image.stride;
        memset(line + 3 * (size_t)xa, 0, 3 * (size_t)(xb - xa));
    }
}

void video_cover_faces(rf_image_buf *img, const rf_faces *faces, float threshold,
                       video_cover how, uint8_t **scratch, size_t *scratch_size)
{
    const int w = img->image.width, h = img->image.height;
    const size_t stride = img->image.stride;
    for (int i = 0; how != VIDEO_COVER_NONE && i < faces->count; i++) {
        const rf_face *f = &faces->faces[i];
        if (!(f->score > threshold) || !isfinite(f->box[0]) || !isfinite(f->box[1]) ||
            !isfinite(f->box[2]) || !isfinite(f->box[3]))
            continue;
        cover_region r;
        r.cx = (f->box[0] + f->box[2]) / 2.0;
        r.cy = (f->box[1] + f->box[3]) / 2.0;
        r.rx = fabs(f->box[2] - f->box[0]) * VIDEO_COVER_SCALE / 2 + 0.5;
        r.ry = fabs(f->box[3] - f->box[1]) * VIDEO_COVER_SCALE / 2 + 0.5;
        const double x0 = floor(r.cx - r.rx), x1 = ceil(r.cx + r.rx);
        const double y0 = floor(r.cy - r.ry), y1 = ceil(r.cy + r.ry);
        r.x0 = x0 < 0 ? 0 : x0 > w ? w : (int)x0;
        r.x1 = x1 < 0 ? 0 : x1 > w ? w : (int)x1;
        r.y0 = y0 < 0 ? 0 : y0 > h ? h : (int)y0;
        r.y1 = y1 < 0 ? 0 : y1 > h ? h : (int)y1;
        const int bw = r.x1 - r.x0, bh = r.y1 - r.y0;
        if (bw <= 0 || bh <= 0)
            continue;
        /* the strength follows the face: a fifth of its box's longer side */
        const double side = fmax(fabs(f->box[2] - f->box[0]), fabs(f->box[3] - f->box[1]));
        const int amount = side / 5 > 2 ? (int)(side / 5) : 2;
        uint8_t *origin = img->data + (size_t)r.y0 * stride + 3 * (size_t)r.x0;
        if (how == VIDEO_COVER_FILL) {
            fill(img, &r);
            continue;
        }
        /* blurred or pixelated copy of the rectangle, then copied back inside the ellipse */
        const size_t block = (size_t)bw * bh * 3,
                     sums = (size_t)(bw > bh ? bw : bh) * 3 * sizeof(uint32_t);
        const size_t at = (2 * block + 15) & ~(size_t)15; /* the sums, aligned */
        if (*scratch_size < at + sums) {
            uint8_t *grown = realloc(*scratch, at + sums);
            if (!grown) { /* no memory: hide the face all the same */
                fill(img, &r);
                continue;
            }
            *scratch = grown;
            *scratch_size = at + sums;
        }
        uint8_t *copy = *scratch, *tmp = *scratch + block;
        for (int y = 0; y < bh; y++)
            memcpy(copy + (size_t)y * bw * 3, origin + (size_t)y * stride, (size_t)bw * 3);
        if (how == VIDEO_COVER_BLUR) {
            /* three box blurs each way come close to a Gaussian of sigma about the radius:
             * down the columns, then down the columns of the transposed block */
            uint32_t *sum = (uint32_t *)(void *)(*scratch + at);
            blur_columns(copy, tmp, bw, bh, amount, sum);
            blur_columns(tmp, copy, bw, bh, amount, sum);
            blur_columns(copy, tmp, bw, bh, amount, sum);
            transpose(tmp, copy, bw, bh);
            blur_columns(copy, tmp, bh, bw, amount, sum);
            blur_columns(tmp, copy, bh, bw, amount, sum);
            blur_columns(copy, tmp, bh, bw, amount, sum);
            transpose(tmp, copy, bh, bw);
        } else {
            for (int by = 0; by < bh; by += amount)
                for (int bx = 0; bx < bw; bx += amount) {
                    const int ex = bx + amount < bw ? bx + amount : bw;
                    const int ey = by + amount < bh ? by + amount : bh;
                    unsigned sum[3] = {0, 0, 0};
                    for (int y = by; y < ey; y++)
                        for (int x = bx; x < ex; x++)
                            for (int c = 0; c < 3; c++)
                                sum[c] += copy[((size_t)y * bw + x) * 3 + c];
                    const unsigned n = (unsigned)((ex - bx) * (ey - by));
                    for (int y = by; y < ey; y++)
                        for (int x = bx; x < ex; x++)
                            for (int c = 0; c < 3; c++)
                                copy[((size_t)y * bw + x) * 3 + c] =
                                    (uint8_t)((sum[c] + n / 2) / n);
                }
        }
        for (int y = r.y0; y < r.y1; y++) {
            int xa, xb;
            inside_span(&r, y, &xa, &xb);
            memcpy(img->data + (size_t)y * stride + 3 * (size_t)xa,
                   copy + ((size_t)(y - r.y0) * bw + (xa - r.x0)) * 3, 3 * (size_t)(xb - xa));
        }
    }
}
