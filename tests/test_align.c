/* test_align.c - face alignment: the similarity transform onto the ArcFace template (exact, least
 * squares, refusals), the chip's bilinear sampling and black border, and real detections. */
#include "retinaface.h"
#include "testutil.h"

#include <math.h>
#include <stdint.h>

/* x' = m0 x + m1 y + m2, y' = m3 x + m4 y + m5 */
static void apply(const float m[6], float x, float y, float *ox, float *oy)
{
    *ox = m[0] * x + m[1] * y + m[2];
    *oy = m[3] * x + m[4] * y + m[5];
}

/* Largest distance, in chip pixels, between the mapped landmarks and the template. */
static double worst_distance(const float m[6], const float lm[10])
{
    float tpl[10];
    rf_align_template(tpl);
    double worst = 0;
    for (int k = 0; k < 5; k++) {
        float x, y;
        apply(m, lm[2 * k], lm[2 * k + 1], &x, &y);
        const double d = hypot(x - tpl[2 * k], y - tpl[2 * k + 1]);
        worst = d > worst ? d : worst;
    }
    return worst;
}

static double squared_error(double a, double b, double tx, double ty, const float lm[10])
{
    float tpl[10];
    rf_align_template(tpl);
    double e = 0;
    for (int k = 0; k < 5; k++) {
        const double x = lm[2 * k], y = lm[2 * k + 1];
        const double ex = a * x - b * y + tx - tpl[2 * k], ey = b * x + a * y + ty - tpl[2 * k + 1];
        e += ex * ex + ey * ey;
    }
    return e;
}

/* The template moved by a known similarity into an image: the fit undoes it exactly. */
static void test_exact(void)
{
    float tpl[10], lm[10], m[6];
    rf_align_template(tpl);
    CHECK(tpl[0] < tpl[2] && tpl[4] > tpl[0] && tpl[4] < tpl[2] && tpl[7] > tpl[5],
          "template order: left eye, right eye, nose, mouth corners below");
    const double angle = 0.35, scale = 2.7, tx = 310.5, ty = 122.25;
    for (int k = 0; k < 5; k++) {
        const double x = tpl[2 * k], y = tpl[2 * k + 1];
        lm[2 * k] = (float)(scale * (cos(angle) * x - sin(angle) * y) + tx);
        lm[2 * k + 1] = (float)(scale * (sin(angle) * x + cos(angle) * y) + ty);
    }
    rf_error err;
    CHECK(rf_align_transform(lm, m, &err) == RF_OK, "%s", err.message);
    CHECK(worst_distance(m, lm) < 1e-3, "exact similarity undone: %g px", worst_distance(m, lm));
    CHECK(fabs(m[4] - m[0]) < 1e-7 && fabs(m[3] + m[1]) < 1e-7, "similarity form");
    CHECK(fabs(hypot(m[0], m[3]) - 1 / scale) < 1e-6, "scale %g", hypot(m[0], m[3]));
    CHECK(fabs(atan2(m[3], m[0]) + angle) < 1e-5, "rotation %g", atan2(m[3], m[0]));
}

/* Landmarks no similarity fits exactly: the fit is the least-squares one (no small change of
 * any parameter lowers the error) and stays close to the template. */
static void test_least_squares(void)
{
    float tpl[10], lm[10], m[6];
    rf_align_template(tpl);
    static const float noise[10] = {1.5f, -2.0f, -1.0f, 0.5f, 2.0f, 1.0f, -0.5f, -1.5f, 0.0f, 2.0f};
    for (int k = 0; k < 10; k++)
        lm[k] = 1.8f * tpl[k] + 40 + noise[k];
    rf_error err;
    CHECK(rf_align_transform(lm, m, &err) == RF_OK, "%s", err.message);
    const double e0 = squared_error(m[0], m[3], m[2], m[5], lm);
    const double steps[4][4] = {{1e-4, 0, 0, 0}, {0, 1e-4, 0, 0}, {0, 0, 1e-2, 0}, {0, 0, 0, 1e-2}};
    for (int i = 0; i < 4; i++)
        for (int sign = -1; sign <= 1; sign += 2) {
            const double e = squared_error(m[0] + sign * steps[i][0], m[3] + sign * steps[i][1],
                                           m[2] + sign * steps[i][2], m[5] + sign * steps[i][3],
                                           lm);
            CHECK(e >= e0 - 1e-6, "parameter %d step %d lowers the error: %g < %g", i, sign, e, e0);
        }
    /* noise of at most 2.5 image px at scale 1.8 is at most ~1.4 chip px per point */
    CHECK(worst_distance(m, lm) < 1.5, "noisy landmarks land within 1.5 px: %g",
          worst_distance(m, lm));

    /* mirrored landmarks: the best similarity is a proper rotation, not a reflection */
    for (int k = 0; k < 5; k++)
        lm[2 * k] = 500 - lm[2 * k];
    CHECK(rf_align_transform(lm, m, &err) == RF_OK, "%s", err.message);
    CHECK(m[0] * m[4] - m[1] * m[3] > 0, "determinant positive");
}

static void test_refusals(void)
{
    float lm[10] = {10, 10, 10, 10, 10, 10, 10, 10, 10, 10}, m[6];
    rf_error err;
    CHECK(rf_align_transform(lm, m, &err) == RF_E_ARG, "coincident landmarks refused");
    CHECK(strstr(err.message, "coincide") != NULL, "%s", err.message);
    lm[3] = NAN;
    CHECK(rf_align_transform(lm, m, &err) == RF_E_ARG, "NaN refused");
    CHECK(strstr(err.message, "landmark 1") != NULL, "%s", err.message);
    CHECK(rf_align_transform(NULL, m, &err) == RF_E_ARG, "NULL landmarks");
    rf_image_buf img, chip = {0};
    rf_image_alloc(8, 8, &img, &err);
    CHECK(rf_align_face(&img.image, lm, &chip, &err) == RF_E_ARG, "NaN landmarks, no chip");
    CHECK(chip.data == NULL, "nothing allocated on refusal");
    CHECK(rf_align_face(NULL, lm, &chip, &err) == RF_E_ARG, "NULL image");
    rf_image_buf_free(&img);
}

/* A picture that is linear in x and y is reproduced exactly by bilinear sampling: every chip
 * pixel must hold the picture's value at the transformed point (to rounding). */
static void test_sampling(void)
{
    const int w = 400, h = 300;
    rf_error err;
    rf_image_buf img, chip = {0};
    rf_image_alloc(w, h, &img, &err);
    img.image.order = RF_PIXELS_RGB;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            uint8_t *p = img.data + (size_t)y * img.image.stride + 3 * (size_t)x;
            p[0] = (uint8_t)(x * 255 / (w - 1));
            p[1] = (uint8_t)(y * 255 / (h - 1));
            p[2] = 200;
        }
    float tpl[10], lm[10], m[6];
    rf_align_template(tpl);
    for (int k = 0; k < 5; k++) { /* rotated by 0.2 rad, scaled by 1.5, inside the picture */
        const float x = tpl[2 * k], y = tpl[2 * k + 1];
        lm[2 * k] = 1.5f * (cosf(0.2f) * x - sinf(0.2f) * y) + 150;
        lm[2 * k + 1] = 1.5f * (sinf(0.2f) * x + cosf(0.2f) * y) + 60;
    }
    CHECK(rf_align_face(&img.image, lm, &chip, &err) == RF_OK, "%s", err.message);
    CHECK(chip.image.width == RF_ALIGN_SIZE && chip.image.height == RF_ALIGN_SIZE, "chip size");
    CHECK(chip.image.order == RF_PIXELS_RGB, "chip keeps the pixel order");
    rf_align_transform(lm, m, &err);
    const double det = (double)m[0] * m[0] + (double)m[3] * m[3];
    int bad = 0, inside = 0;
    for (int v = 0; v < RF_ALIGN_SIZE; v++)
        for (int u = 0; u < RF_ALIGN_SIZE; u++) {
            const double cx = u - m[2], cy = v - m[5];
            const double x = (m[0] * cx + m[3] * cy) / det, y = (-m[3] * cx + m[0] * cy) / det;
            const uint8_t *p = chip.data + (size_t)v * chip.image.stride + 3 * (size_t)u;
            if (x < 0 || y < 0 || x > w - 1 || y > h - 1)
                continue;
            inside++;
            /* the picture's values are floor(x * 255 / (w - 1)): the bilinear mix of two
             * neighbours differs from the exact line by under 1, plus rounding */
            bad += fabs(p[0] - x * 255 / (w - 1)) > 1.6 || fabs(p[1] - y * 255 / (h - 1)) > 1.6 ||
                   p[2] != 200;
        }
    CHECK(inside == RF_ALIGN_SIZE * RF_ALIGN_SIZE, "the whole chip lies in the picture (%d)",
          inside);
    CHECK(bad == 0, "%d chip pixels differ from the picture at the transformed point", bad);

    /* the same buffer is reused for the next face */
    const uint8_t *before = chip.data;
    for (int k = 0; k < 10; k += 2)
        lm[k] -= 200; /* a face half off the left edge */
    CHECK(rf_align_face(&img.image, lm, &chip, &err) == RF_OK, "%s", err.message);
    CHECK(chip.data == before, "chip buffer reused");
    const uint8_t *corner = chip.data; /* top left of the chip: far outside the picture */
    CHECK(corner[0] == 0 && corner[1] == 0 && corner[2] == 0, "outside the picture is black");
    rf_image_buf_free(&chip);
    rf_image_buf_free(&img);
}

static int by_value(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Faces found by the detector: their landmarks are not an exact similarity of the template
 * (pose, expression), but over the confident faces of the sample crowd photo (200 or so) the
 * mapped landmarks lie on average within 3 chip pixels of their template points, 95 % of them
 * within 6 and all within 16 (the turned heads). */
static void test_detected_faces(void)
{
    if (!test_data_dir()) {
        printf("SKIP detected faces: test data not found\n");
        return;
    }
    rf_error err;
    rf_model *model;
    rf_context *ctx;
    rf_image_buf img;
    if (rf_model_load(test_data_path("models/mobilenet0.25_Final.pth"), RF_ANCHORS_RETINAFACE,
                      &model, &err) != RF_OK ||
        rf_context_create(model, NULL, &ctx, &err) != RF_OK ||
        rf_image_load(test_data_path("data/images/face1mb_sample.jpg"), &img, &err) != RF_OK) {
        CHECK(0, "%s", err.message);
        return;
    }
    rf_input_policy policy = rf_input_policy_original();
    rf_detect_params params = rf_detect_params_default();
    rf_faces faces = {0};
    CHECK(rf_detect(ctx, &img.image, &policy, &params, &faces, &err) == RF_OK, "%s", err.message);
    float tpl[10];
    rf_align_template(tpl);
    rf_image_buf chip = {0};
    int used = 0, nd = 0;
    double sum = 0, *dist = malloc(sizeof(double) * 5 * (size_t)(faces.count + 1));
    for (int i = 0; i < faces.count; i++) {
        const rf_face *f = &faces.faces[i];
        if (f->score < 0.9f)
            continue;
        float m[6];
        CHECK(rf_align_transform(f->landmarks, m, &err) == RF_OK, "%s", err.message);
        for (int k = 0; k < 5; k++) {
            float x, y;
            apply(m, f->landmarks[2 * k], f->landmarks[2 * k + 1], &x, &y);
            const double d = hypot(x - tpl[2 * k], y - tpl[2 * k + 1]);
            sum += d;
            dist[nd++] = d;
        }
        CHECK(rf_align_face(&img.image, f->landmarks, &chip, &err) == RF_OK, "%s", err.message);
        used++;
    }
    CHECK(used >= 100, "at least 100 confident faces (%d)", used);
    if (used) {
        qsort(dist, (size_t)nd, sizeof *dist, by_value);
        const double mean = sum / nd, p95 = dist[nd * 95 / 100], worst = dist[nd - 1];
        printf("%d faces, landmark distance to the template: mean %.2f px, 95th percentile "
               "%.2f px, worst %.2f px\n", used, mean, p95, worst);
        CHECK(mean < 3, "mean distance %.2f px", mean);
        CHECK(p95 < 6, "95th percentile %.2f px", p95);
        CHECK(worst < 16, "worst distance %.2f px", worst);
    }
    free(dist);
    rf_image_buf_free(&chip);
    rf_faces_free(&faces);
    rf_image_buf_free(&img);
    rf_context_free(ctx);
    rf_model_free(model);
}

int main(void)
{
    test_exact();
    test_least_squares();
    test_refusals();
    test_sampling();
    test_detected_faces();
    return test_summary();
}
