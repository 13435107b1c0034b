/* postprocess.c - priors, decode, score threshold, sort, NMS: raw head outputs to faces. */
#include "core/postprocess.h"

#include "base/common.h"

#include <assert.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const int steps[3] = {8, 16, 32};
static const int min_sizes[2][3][2] = {
    {{16, 32}, {64, 128}, {256, 512}}, /* RF_ANCHORS_RETINAFACE */
    {{10, 20}, {32, 64}, {128, 256}},  /* RF_ANCHORS_FACE1MB */
};
#define VARIANCE_CENTER 0.1f
#define VARIANCE_SIZE 0.2f

rf_detect_params rf_detect_params_default(void)
{
    return (rf_detect_params){.score_threshold = 0.02f, .nms_threshold = 0.4f,
                              .pre_nms_top_k = 5000, .keep_top_k = 750, .nms_offset = 1.0f,
                              .nms_in_network_pixels = 0};
}

void rf_faces_free(rf_faces *faces)
{
    if (!faces)
        return;
    free(faces->faces);
    faces->faces = NULL;
    faces->count = faces->capacity = 0;
}

/* cx, cy, w, h of one prior, normalised by the input size: computed in double and rounded to
 * float, as the reference does. */
typedef struct {
    float cx, cy, w, h;
} prior;

int64_t rf_anchor_count(int height, int width)
{
    int64_t n = 0;
    for (int l = 0; l < 3; l++)
        n += 2 * (int64_t)((height + steps[l] - 1) / steps[l]) *
             ((width + steps[l] - 1) / steps[l]);
    return n;
}

static prior prior_of(int64_t anchor, int net_w, int net_h, rf_anchors preset)
{
    for (int l = 0; l < 3; l++) {
        const int s = steps[l];
        const int64_t fh = (net_h + s - 1) / s, fw = (net_w + s - 1) / s;
        if (anchor >= 2 * fh * fw) {
            anchor -= 2 * fh * fw;
            continue;
        }
        const int m = min_sizes[preset][l][anchor % 2];
        const int64_t cell = anchor / 2;
        const double i = (double)(cell / fw), j = (double)(cell % fw);
        return (prior){(float)((j + 0.5) * s / net_w), (float)((i + 0.5) * s / net_h),
                       (float)((double)m / net_w), (float)((double)m / net_h)};
    }
    return (prior){0, 0, 0, 0};
}

typedef struct {
    float score;
    int64_t anchor;
} candidate;

/* A float's bits as an unsigned number that orders like the float (-0 taken as +0). */
static uint32_t order_bits(float f)
{
    uint32_t u;
    f = f == 0.0f ? 0.0f : f;
    memcpy(&u, &f, sizeof u);
    return u & 0x80000000u ? ~u : u | 0x80000000u;
}

/* Sorts c[0..n) by score, highest first, ties in the order given (anchor order): a stable
 * least-significant-digit radix sort over the score bits, three passes of 11 bits, using tmp
 * (n long). Linear in n, where a comparison sort of all 16,800 anchors of a dense frame costs
 * milliseconds. */
static void sort_by_score(candidate *c, candidate *tmp, int64_t n)
{
    enum { DIGIT = 11, BINS = 1 << DIGIT };
    static_assert(3 * DIGIT >= 32, "three digits cover 32 bits");
    for (int pass = 0; pass < 3; pass++) {
        const int shift = pass * DIGIT;
        int64_t start[BINS] = {0};
        for (int64_t i = 0; i < n; i++)
            start[(~order_bits(c[i].score) >> shift) & (BINS - 1)]++;
        int64_t sum = 0;
        for (int b = 0; b < BINS; b++) {
            const int64_t k = start[b];
            start[b] = sum;
            sum += k;
        }
        for (int64_t i = 0; i < n; i++)
            tmp[start[(~order_bits(c[i].score) >> shift) & (BINS - 1)]++] = c[i];
        memcpy(c, tmp, sizeof *c * (size_t)n);
    }
}

/* Decoded in network pixels, in the reference's float32 operation order. */
static rf_face decode(int64_t a, float score, const float *box, const float *ldm, int net_w,
                      int net_h, rf_anchors preset)
{
    const prior p = prior_of(a, net_w, net_h, preset);
    const float *d = box + a * 4, *l = ldm + a * 10;
    const float W = (float)net_w, H = (float)net_h;
    const float cx = p.cx + (d[0] * VARIANCE_CENTER) * p.w;
    const float cy = p.cy + (d[1] * VARIANCE_CENTER) * p.h;
    const float w = p.w * expf(d[2] * VARIANCE_SIZE);
    const float h = p.h * expf(d[3] * VARIANCE_SIZE);
    const float x1 = cx - w / 2.0f, y1 = cy - h / 2.0f;
    rf_face f = {.box = {x1 * W, y1 * H, (x1 + w) * W, (y1 + h) * H}, .score = score};
    for (int k = 0; k < 5; k++) {
        f.landmarks[2 * k] = (p.cx + (l[2 * k] * VARIANCE_CENTER) * p.w) * W;
        f.landmarks[2 * k + 1] = (p.cy + (l[2 * k + 1] * VARIANCE_CENTER) * p.h) * H;
    }
    return f;
}

static void scale_face(rf_face *f, float sx, float sy)
{
    if (sx == 1.0f && sy == 1.0f)
        return;
    for (int k = 0; k < 4; k += 2) {
        f->box[k] *= sx;
        f->box[k + 1] *= sy;
    }
    for (int k = 0; k < 10; k += 2) {
        f->landmarks[k] *= sx;
        f->landmarks[k + 1] *= sy;
    }
}

/* max / min of non-NaN floats; unlike fmaxf they compile to single instructions. */
static inline float max_f(float a, float b) { return a > b ? a : b; }
static inline float min_f(float a, float b) { return a < b ? a : b; }

/* Boxes as columns, so the NMS inner loop runs over contiguous floats and vectorises. */
typedef struct {
    float *x1, *y1, *x2, *y2, *area;
    unsigned char *alive;
} box_columns;

/* Clears alive[j] for every j in (i, n) whose IoU with box i exceeds the threshold; widths and
 * heights get `offset` added (1: the original's pixel convention). */
static void suppress(const box_columns *b, int64_t i, int64_t n, float offset, float threshold)
{
    const float x1 = b->x1[i], y1 = b->y1[i], x2 = b->x2[i], y2 = b->y2[i], area = b->area[i];
    for (int64_t j = i + 1; j < n; j++) {
        const float iw = max_f(0.0f, min_f(x2, b->x2[j]) - max_f(x1, b->x1[j]) + offset);
        const float ih = max_f(0.0f, min_f(y2, b->y2[j]) - max_f(y1, b->y1[j]) + offset);
        const float inter = iw * ih;
        b->alive[j] &= !(inter / (area + b->area[j] - inter) > threshold);
    }
}

static size_t round64(size_t bytes)
{
    return (bytes + 63) & ~(size_t)63;
}

/* Bytes of scratch for n anchors: candidates (twice, for the sort), decoded faces, box columns
 * and alive flags, each 64-byte aligned; 0 on overflow. */
static size_t scratch_bytes(int64_t n)
{
    const size_t k = (size_t)(n > 0 ? n : 1);
    const size_t parts[4] = {rf_mul_size(2 * sizeof(candidate), k), rf_mul_size(sizeof(rf_face), k),
                             rf_mul_size(5 * sizeof(float), k), k};
    size_t total = 0;
    for (int i = 0; i < 4; i++) {
        if (!parts[i] || total + round64(parts[i]) < total)
            return 0;
        total += round64(parts[i]);
    }
    return total;
}

rf_status rf_postprocess(const float *cls_prob, const float *bbox_pred,
                         const float *landmark_pred, int net_w, int net_h, float scale_x,
                         float scale_y, rf_anchors anchors, const rf_detect_params *params,
                         rf_faces *faces, rf_error *err)
{
    rf_buffer ws = {NULL, 0};
    const rf_status st = rf_postprocess_into(cls_prob, bbox_pred, landmark_pred, net_w, net_h,
                                             scale_x, scale_y, anchors, params, &ws, faces, err);
    rf_buffer_free(&ws);
    return st;
}

rf_status rf_postprocess_into(const float *cls_prob, const float *bbox_pred,
                              const float *landmark_pred, int net_w, int net_h, float scale_x,
                              float scale_y, rf_anchors anchors, const rf_detect_params *params,
                              rf_buffer *ws, rf_faces *faces, rf_error *err)
{
    if (!cls_prob || !bbox_pred || !landmark_pred || !faces || !params)
        return rf_fail(err, RF_E_ARG, "rf_postprocess: null argument");
    if (net_w < 1 || net_h < 1 || (anchors != RF_ANCHORS_RETINAFACE &&
                                   anchors != RF_ANCHORS_FACE1MB))
        return rf_fail(err, RF_E_ARG, "rf_postprocess: bad input size %dx%d or preset", net_w,
                       net_h);
    if (!(params->nms_threshold >= 0.0f && params->nms_threshold <= 1.0f) ||
        params->pre_nms_top_k < 0 || params->keep_top_k < 0)
        return rf_fail(err, RF_E_ARG, "rf_postprocess: bad detection parameters");
    faces->count = 0;
    const int64_t n = rf_anchor_count(net_h, net_w);
    if (rf_buffer_reserve(ws, scratch_bytes(n)) != 0)
        return rf_fail(err, RF_E_NOMEM, "out of memory for the post-processing of %lld anchors",
                       (long long)n);
    const size_t slots = (size_t)(n > 0 ? n : 1);
    unsigned char *at = ws->block;
    candidate *cand = (candidate *)(void *)at;
    at += round64(2 * sizeof(candidate) * slots);
    rf_face *dec = (rf_face *)(void *)at;
    at += round64(sizeof(rf_face) * slots);
    float *columns = (float *)(void *)at;
    at += round64(5 * sizeof(float) * slots);
    box_columns cols = {columns, columns + slots, columns + 2 * slots, columns + 3 * slots,
                        columns + 4 * slots, at};
    int64_t count = 0;
    for (int64_t a = 0; a < n; a++)
        if (cls_prob[2 * a + 1] > params->score_threshold)
            cand[count++] = (candidate){cls_prob[2 * a + 1], a};
    sort_by_score(cand, cand + count, count);
    if (params->pre_nms_top_k && count > params->pre_nms_top_k)
        count = params->pre_nms_top_k;
    for (int64_t i = 0; i < count; i++) {
        dec[i] = decode(cand[i].anchor, cand[i].score, bbox_pred, landmark_pred, net_w, net_h,
                        anchors);
        if (!params->nms_in_network_pixels)
            scale_face(&dec[i], scale_x, scale_y);
        const float *b = dec[i].box;
        cols.x1[i] = b[0];
        cols.y1[i] = b[1];
        cols.x2[i] = b[2];
        cols.y2[i] = b[3];
        cols.area[i] = (b[2] - b[0] + params->nms_offset) * (b[3] - b[1] + params->nms_offset);
        cols.alive[i] = 1;
    }
    for (int64_t i = 0; i < count; i++) {
        if (!cols.alive[i])
            continue;
        if (params->keep_top_k && faces->count == params->keep_top_k)
            break;
        if (faces->count == faces->capacity) {
            const int cap = faces->capacity ? 2 * faces->capacity : 64;
            rf_face *grown = realloc(faces->faces, sizeof *grown * (size_t)cap);
            if (!grown) {
                faces->count = 0;
                return rf_fail(err, RF_E_NOMEM, "out of memory for %d faces", cap);
            }
            faces->faces = grown;
            faces->capacity = cap;
        }
        rf_face f = dec[i];
        if (params->nms_in_network_pixels)
            scale_face(&f, scale_x, scale_y);
        faces->faces[faces->count++] = f;
        suppress(&cols, i, count, params->nms_offset, params->nms_threshold);
    }
    return rf_ok(err);
}
