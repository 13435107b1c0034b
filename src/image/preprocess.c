/* preprocess.c - input policies and geometry, OpenCV-exact bilinear resize, the float input tensor. */
#include "base/common.h"
#include "image/image.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* OpenCV's INTER_LINEAR keeps 8-bit resizes in integers: weights in 11-bit fixed point, the
 * horizontal pass exact in 32 bits, the vertical pass rounded as described at vertical(). */
#define COEF_BITS 11
#define COEF_ONE (1 << COEF_BITS)

static const float MEAN_BGR[3] = {104.0f, 117.0f, 123.0f};

rf_input_policy rf_input_policy_original(void)
{
    return (rf_input_policy){RF_INPUT_ORIGINAL, 0, 0, 0};
}

rf_input_policy rf_input_policy_stretch(int width, int height)
{
    return (rf_input_policy){RF_INPUT_STRETCH, width, height, 0};
}

rf_input_policy rf_input_policy_long_side(int long_side)
{
    return (rf_input_policy){RF_INPUT_LONG_SIDE, 0, 0, long_side};
}

rf_status rf_input_geometry(const rf_input_policy *policy, int img_w, int img_h, int *net_w,
                            int *net_h, float *scale_x, float *scale_y, rf_error *err)
{
    if (!policy || !net_w || !net_h || !scale_x || !scale_y)
        return rf_fail(err, RF_E_ARG, "rf_input_geometry: NULL argument");
    if (img_w <= 0 || img_h <= 0)
        return rf_fail(err, RF_E_ARG, "rf_input_geometry: invalid image size %dx%d", img_w,
                       img_h);
    int w, h;
    double sx, sy;
    switch (policy->mode) {
    case RF_INPUT_ORIGINAL:
        w = img_w;
        h = img_h;
        sx = sy = 1.0;
        break;
    case RF_INPUT_STRETCH:
        if (policy->width <= 0 || policy->height <= 0)
            return rf_fail(err, RF_E_ARG, "input policy: invalid stretch size %dx%d",
                           policy->width, policy->height);
        w = policy->width;
        h = policy->height;
        sx = (double)img_w / w;
        sy = (double)img_h / h;
        break;
    case RF_INPUT_LONG_SIDE: {
        if (policy->long_side <= 0)
            return rf_fail(err, RF_E_ARG, "input policy: invalid long side %d",
                           policy->long_side);
        int longest = img_w > img_h ? img_w : img_h;
        double r = (double)policy->long_side / longest;
        /* cv2.resize(fx=r, fy=r) sizes its output with round-half-even; a side that would round
         * to 0 (a very thin image) is kept at 1 pixel instead of failing. */
        w = (int)nearbyint(img_w * r);
        h = (int)nearbyint(img_h * r);
        w = w < 1 ? 1 : w;
        h = h < 1 ? 1 : h;
        sx = sy = (double)longest / policy->long_side;
        break;
    }
    default:
        return rf_fail(err, RF_E_ARG, "input policy: unknown mode %d", (int)policy->mode);
    }
    if ((long long)w * h > RF_IMAGE_MAX_PIXELS)
        return rf_fail(err, RF_E_LIMIT, "network input %dx%d is more than the %lld pixels allowed",
                       w, h, (long long)RF_IMAGE_MAX_PIXELS);
    *net_w = w;
    *net_h = h;
    *scale_x = (float)sx;
    *scale_y = (float)sy;
    return rf_ok(err);
}

/* Source index and fixed-point weights of each destination column (or row), computed as
 * cv::resize does: half-pixel centres, the fraction in float. Columns outside the image are
 * clamped to the border with weight 0. Rows are not: cv::resize keeps the fraction of a row
 * outside and only clamps which source rows it reads, and with its rounding (vertical()) that
 * changes the result of the first and last rows of an enlargement. */
static void axis_map(int src, int dst, int clamp, int *ofs, int16_t *weight)
{
    /* cv::resize stores dst/src and inverts it; doing the same keeps its last-bit rounding. */
    double scale = 1.0 / ((double)dst / src);
    for (int d = 0; d < dst; d++) {
        float f = (float)((d + 0.5) * scale - 0.5);
        int s = (int)floorf(f);
        f -= (float)s;
        if (clamp && s < 0) {
            s = 0;
            f = 0.0f;
        }
        if (clamp && s >= src - 1) {
            s = src - 1;
            f = 0.0f;
        }
        ofs[d] = s;
        weight[2 * d] = (int16_t)lrintf((1.0f - f) * COEF_ONE);
        weight[2 * d + 1] = (int16_t)lrintf(f * COEF_ONE);
    }
}

static int clamp_row(int y, int height)
{
    return y < 0 ? 0 : y >= height ? height - 1 : y;
}

static void horizontal(const uint8_t *src, int src_w, const int *xofs, const int16_t *xw,
                       int dst_w, int32_t *out)
{
    for (int x = 0; x < dst_w; x++, out += 3) {
        const uint8_t *p = src + 3 * (size_t)xofs[x];
        const uint8_t *q = xofs[x] + 1 < src_w ? p + 3 : p;
        for (int c = 0; c < 3; c++)
            out[c] = p[c] * xw[2 * x] + q[c] * xw[2 * x + 1];
    }
}

/* OpenCV's SIMD vertical pass, which is what x86 builds run: each row value drops 4 bits, is
 * multiplied by its weight keeping the high 16 bits, and the sum is rounded by 2 more bits.
 * This differs from exact (a*b0 + b*b1 + 2^21) >> 22 in the last bit now and then. */
static void vertical(const int32_t *r0, const int32_t *r1, int b0, int b1, int n, uint8_t *dst)
{
    for (int i = 0; i < n; i++) {
        int v = ((((r0[i] >> 4) * b0) >> 16) + (((r1[i] >> 4) * b1) >> 16) + 2) >> 2;
        dst[i] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
    }
}

/* Bytes of the resize's own scratch for a width x height destination: column map, row map,
 * and the two horizontally resized source rows. */
static size_t resize_scratch_bytes(int width, int height)
{
    return (size_t)width * (sizeof(int) + 2 * sizeof(int16_t)) +
           (size_t)height * (sizeof(int) + 2 * sizeof(int16_t)) +
           2 * (size_t)width * 3 * sizeof(int32_t);
}

/* Resizes src (checked) into width x height pixels at dst (rows `stride` bytes apart), with
 * resize_scratch_bytes(width, height) bytes of scratch at rows. */
static void resize_into(const rf_image *src, int width, int height, uint8_t *dst, size_t stride,
                        int32_t *rows)
{
    const size_t n = (size_t)width * 3;
    int32_t *buf[2] = {rows, rows + n};
    int *xofs = (int *)(rows + 2 * n);
    int *yofs = xofs + width;
    int16_t *xw = (int16_t *)(yofs + height);
    int16_t *yw = xw + 2 * (size_t)width;
    axis_map(src->width, width, 1, xofs, xw);
    axis_map(src->height, height, 0, yofs, yw);

    /* Destination rows walk down the source monotonically, so two cached rows suffice. */
    int tag[2] = {-1, -1};
    for (int y = 0; y < height; y++) {
        int s0 = clamp_row(yofs[y], src->height), s1 = clamp_row(yofs[y] + 1, src->height);
        if (tag[0] != s0) {
            if (tag[1] == s0) {
                int32_t *t = buf[0];
                buf[0] = buf[1];
                buf[1] = t;
                tag[1] = tag[0];
            } else {
                horizontal(src->pixels + (size_t)s0 * src->stride, src->width, xofs, xw, width,
                           buf[0]);
            }
            tag[0] = s0;
        }
        if (tag[1] != s1) {
            horizontal(src->pixels + (size_t)s1 * src->stride, src->width, xofs, xw, width,
                       buf[1]);
            tag[1] = s1;
        }
        vertical(buf[0], buf[1], yw[2 * y], yw[2 * y + 1], (int)n, dst + (size_t)y * stride);
    }
}

rf_status rf_image_resize(const rf_image *src, int width, int height, rf_image_buf *dst,
                          rf_error *err)
{
    if (!dst)
        return rf_fail(err, RF_E_ARG, "rf_image_resize: dst is NULL");
    memset(dst, 0, sizeof *dst);
    rf_status st = rf_image_check(src, "rf_image_resize: source image", err);
    if (st != RF_OK)
        return st;
    st = rf_image_alloc(width, height, dst, err);
    if (st != RF_OK)
        return st;
    dst->image.order = src->order;
    int32_t *rows = malloc(resize_scratch_bytes(width, height));
    if (!rows) {
        rf_image_buf_free(dst);
        return rf_fail(err, RF_E_NOMEM, "rf_image_resize: out of memory");
    }
    resize_into(src, width, height, dst->data, dst->image.stride, rows);
    free(rows);
    return rf_ok(err);
}

/* The pixels of image at the network size: image itself, or its resize into ws (grown when
 * too small: the resized pixels, then the resize's scratch, 4-byte aligned after them). */
static rf_status input_pixels(const rf_image *image, int net_w, int net_h, const float *dst,
                              rf_buffer *ws, rf_image *out, rf_error *err)
{
    rf_status st = rf_image_check(image, "rf_image_to_input: image", err);
    if (st != RF_OK)
        return st;
    if (!dst)
        return rf_fail(err, RF_E_ARG, "rf_image_to_input: dst is NULL");
    if (net_w <= 0 || net_h <= 0)
        return rf_fail(err, RF_E_ARG, "rf_image_to_input: invalid network size %dx%d", net_w,
                       net_h);
    if (net_h > RF_IMAGE_MAX_PIXELS / net_w)
        return rf_fail(err, RF_E_LIMIT, "rf_image_to_input: %dx%d is more than the %lld pixels "
                       "allowed", net_w, net_h, (long long)RF_IMAGE_MAX_PIXELS);
    *out = *image;
    if (image->width != net_w || image->height != net_h) {
        *out = (rf_image){NULL, net_w, net_h, (size_t)net_w * 3, image->order};
        const size_t pixels = ((size_t)net_h * out->stride + 3) & ~(size_t)3;
        if (rf_buffer_reserve(ws, pixels + resize_scratch_bytes(net_w, net_h)) != 0)
            return rf_fail(err, RF_E_NOMEM, "rf_image_to_input: out of memory for a %dx%d "
                           "resize", net_w, net_h);
        uint8_t *px = ws->block;
        resize_into(image, net_w, net_h, px, out->stride, (int32_t *)(void *)(px + pixels));
        out->pixels = px;
    }
    return rf_ok(err);
}

rf_status rf_image_to_input(const rf_image *image, int net_w, int net_h, float *dst,
                            rf_error *err)
{
    rf_buffer ws = {NULL, 0};
    rf_image src;
    rf_status st = input_pixels(image, net_w, net_h, dst, &ws, &src, err);
    if (st != RF_OK) {
        rf_buffer_free(&ws);
        return st;
    }
    size_t plane = (size_t)net_w * net_h;
    int blue = src.order == RF_PIXELS_BGR ? 0 : 2;
    for (int y = 0; y < net_h; y++) {
        const uint8_t *p = src.pixels + (size_t)y * src.stride;
        float *b = dst + (size_t)y * net_w, *g = b + plane, *r = g + plane;
        for (int x = 0; x < net_w; x++, p += 3) {
            b[x] = (float)p[blue] - MEAN_BGR[0];
            g[x] = (float)p[1] - MEAN_BGR[1];
            r[x] = (float)p[2 - blue] - MEAN_BGR[2];
        }
    }
    rf_buffer_free(&ws);
    return rf_ok(err);
}

rf_status rf_image_to_nhwc_into(const rf_image *image, int net_w, int net_h, float *dst,
                                rf_buffer *ws, rf_error *err)
{
    rf_image src;
    rf_status st = input_pixels(image, net_w, net_h, dst, ws, &src, err);
    if (st != RF_OK)
        return st;
    int blue = src.order == RF_PIXELS_BGR ? 0 : 2;
    for (int y = 0; y < net_h; y++) {
        const uint8_t *p = src.pixels + (size_t)y * src.stride;
        float *d = dst + (size_t)y * net_w * 3;
        for (int x = 0; x < net_w; x++, p += 3, d += 3) {
            d[0] = (float)p[blue] - MEAN_BGR[0];
            d[1] = (float)p[1] - MEAN_BGR[1];
            d[2] = (float)p[2 - blue] - MEAN_BGR[2];
        }
    }
    return rf_ok(err);
}
