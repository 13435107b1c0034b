/* align.c - face chips for recognition networks: the least-squares similarity transform from five
 * landmarks to the ArcFace template, and the chip it gives, sampled bilinearly. */
#include "base/common.h"
#include "image/image.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

/* Where InsightFace's ArcFace models expect the five points in a 112x112 chip (its
 * `arcface_dst`), in RetinaFace's landmark order. */
static const float ARCFACE_TEMPLATE[10] = {38.2946f, 51.6963f, 73.5318f, 51.5014f, 56.0252f,
                                           71.7366f, 41.5493f, 92.3655f, 70.7299f, 92.2041f};

void rf_align_template(float points[10])
{
    if (points)
        memcpy(points, ARCFACE_TEMPLATE, sizeof ARCFACE_TEMPLATE);
}

/* The similarity x' = A x + t with A = [[a, -b], [b, a]] is linear in (a, b, tx, ty), so its
 * least-squares fit has a closed form: with both point sets centred, a and b are the sums of
 * dot and cross products over the source's squared norm. It is Umeyama's solution in 2-D, a
 * proper rotation by construction (no reflection). */
rf_status rf_align_transform(const float landmarks[10], float m[6], rf_error *err)
{
    if (!landmarks || !m)
        return rf_fail(err, RF_E_ARG, "rf_align_transform: null argument");
    double sx = 0, sy = 0, dx = 0, dy = 0;
    for (int k = 0; k < 5; k++) {
        if (!isfinite(landmarks[2 * k]) || !isfinite(landmarks[2 * k + 1]))
            return rf_fail(err, RF_E_ARG, "rf_align_transform: landmark %d is not finite", k);
        sx += landmarks[2 * k];
        sy += landmarks[2 * k + 1];
        dx += ARCFACE_TEMPLATE[2 * k];
        dy += ARCFACE_TEMPLATE[2 * k + 1];
    }
    sx /= 5, sy /= 5, dx /= 5, dy /= 5;
    double norm = 0, dot = 0, cross = 0;
    for (int k = 0; k < 5; k++) {
        const double px = landmarks[2 * k] - sx, py = landmarks[2 * k + 1] - sy;
        const double qx = ARCFACE_TEMPLATE[2 * k] - dx, qy = ARCFACE_TEMPLATE[2 * k + 1] - dy;
        norm += px * px + py * py;
        dot += px * qx + py * qy;
        cross += px * qy - py * qx;
    }
    /* below this the points are one point as far as float32 coordinates can tell */
    if (!(norm > 1e-6 * (1 + sx * sx + sy * sy)))
        return rf_fail(err, RF_E_ARG, "rf_align_transform: the five landmarks coincide");
    const double a = dot / norm, b = cross / norm;
    m[0] = (float)a;
    m[1] = (float)-b;
    m[2] = (float)(dx - (a * sx - b * sy));
    m[3] = (float)b;
    m[4] = (float)a;
    m[5] = (float)(dy - (b * sx + a * sy));
    return rf_ok(err);
}

rf_status rf_align_face(const rf_image *image, const float landmarks[10], rf_image_buf *out,
                        rf_error *err)
{
    if (!out)
        return rf_fail(err, RF_E_ARG, "rf_align_face: out is NULL");
    rf_status st = rf_image_check(image, "rf_align_face: image", err);
    float m[6];
    if (st != RF_OK || (st = rf_align_transform(landmarks, m, err)) != RF_OK)
        return st;
    const int size = RF_ALIGN_SIZE;
    if (!out->data || out->image.width != size || out->image.height != size) {
        rf_image_buf_free(out);
        if ((st = rf_image_alloc(size, size, out, err)) != RF_OK)
            return st;
    }
    out->image.order = image->order;
    /* chip -> image: the inverse of A is A^T / (a^2 + b^2) */
    const double a = m[0], b = m[3], det = a * a + b * b;
    const double ia = a / det, ib = b / det;
    const int w = image->width, h = image->height;
    for (int v = 0; v < size; v++) {
        uint8_t *row = out->data + (size_t)v * out->image.stride;
        const double cy = v - m[5];
        for (int u = 0; u < size; u++) {
            const double cx = u - m[2];
            const double x = ia * cx + ib * cy, y = -ib * cx + ia * cy;
            /* pixel centres at integer coordinates; neighbours outside the image count as black,
             * as OpenCV's warpAffine with a constant border */
            const double fx0 = floor(x), fy0 = floor(y);
            uint8_t *p = row + 3 * u;
            if (!(fx0 >= -1 && fx0 < w && fy0 >= -1 && fy0 < h)) {
                p[0] = p[1] = p[2] = 0;
                continue;
            }
            const int x0 = (int)fx0, y0 = (int)fy0;
            const float fx = (float)(x - fx0), fy = (float)(y - fy0);
            const float wt[4] = {(1 - fx) * (1 - fy), fx * (1 - fy), (1 - fx) * fy, fx * fy};
            float acc[3] = {0, 0, 0};
            for (int k = 0; k < 4; k++) {
                const int xi = x0 + (k & 1), yi = y0 + (k >> 1);
                if (xi < 0 || xi >= w || yi < 0 || yi >= h)
                    continue;
                const uint8_t *q = image->pixels + (size_t)yi * image->stride + 3 * (size_t)xi;
                for (int c = 0; c < 3; c++)
                    acc[c] += wt[k] * q[c];
            }
            for (int c = 0; c < 3; c++) {
                const float s = acc[c] + 0.5f;
                p[c] = (uint8_t)(s >= 255 ? 255 : s);
            }
        }
    }
    return rf_ok(err);
}
