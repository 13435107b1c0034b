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

static int inside(const cover_region *r, int x, int y)
{
    const double dx = (x + 0.5 - r->cx) / r->rx, dy = (y + 0.5 - r->cy) / r->ry;
    return dx * dx + dy * dy <= 1.0;
}

/* One box blur of radius rad along rows (step 3, count w) or columns, edges clamped, on the
 * w x h BGR block at p with the given row stride; tmp holds one line. */
static void box_pass(uint8_t *p, int w, int h, size_t stride, int rad, int along_rows,
                     uint8_t *tmp)
{
    const int lines = along_rows ? h : w, len = along_rows ? w : h;
    const size_t step = along_rows ? 3 : stride, next = along_rows ? stride : 3;
    const int div = 2 * rad + 1;
    for (int l = 0; l < lines; l++) {
        uint8_t *line = p + (size_t)l * next;
        for (int i = 0; i < len; i++)
            memcpy(tmp + 3 * i, line + (size_t)i * step, 3);
        for (int c = 0; c < 3; c++) {
            int sum = 0;
            for (int k = -rad; k <= rad; k++)
                sum += tmp[3 * (k < 0 ? 0 : k >= len ? len - 1 : k) + c];
            for (int i = 0; i < len; i++) {
                line[(size_t)i * step + c] = (uint8_t)((sum + div / 2) / div);
                const int out = i - rad < 0 ? 0 : i - rad;
                const int in = i + rad + 1 >= len ? len - 1 : i + rad + 1;
                sum += tmp[3 * in + c] - tmp[3 * out + c];
            }
        }
    }
}

static void fill(rf_image_buf *img, const cover_region *r)
{
    for (int y = r->y0; y < r->y1; y++)
        for (int x = r->x0; x < r->x1; x++)
            if (inside(r, x, y))
                memset(img->data + (size_t)y * img->image.stride + 3 * (size_t)x, 0, 3);
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
        const size_t block = (size_t)bw * bh * 3, line = 3 * (size_t)(bw > bh ? bw : bh);
        if (*scratch_size < block + line) {
            uint8_t *grown = realloc(*scratch, block + line);
            if (!grown) { /* no memory: hide the face all the same */
                fill(img, &r);
                continue;
            }
            *scratch = grown;
            *scratch_size = block + line;
        }
        uint8_t *copy = *scratch, *tmp = *scratch + block;
        for (int y = 0; y < bh; y++)
            memcpy(copy + (size_t)y * bw * 3, origin + (size_t)y * stride, (size_t)bw * 3);
        if (how == VIDEO_COVER_BLUR) {
            /* three box blurs come close to a Gaussian of sigma about the radius */
            for (int pass = 0; pass < 3; pass++) {
                box_pass(copy, bw, bh, (size_t)bw * 3, amount, 1, tmp);
                box_pass(copy, bw, bh, (size_t)bw * 3, amount, 0, tmp);
            }
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
        for (int y = r.y0; y < r.y1; y++)
            for (int x = r.x0; x < r.x1; x++)
                if (inside(&r, x, y))
                    memcpy(img->data + (size_t)y * stride + 3 * (size_t)x,
                           copy + ((size_t)(y - r.y0) * bw + (x - r.x0)) * 3, 3);
    }
}
