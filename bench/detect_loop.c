/* detect_loop.c - rf_detect on one picture in a loop, as a C program calls it: the baseline that
 * bench/bench_python.py compares Detector.detect with. Prints each timed call's milliseconds.
 * Usage: detect_loop MODEL IMAGE WIDTH HEIGHT FRAMES WARMUP   (stretch to WIDTH x HEIGHT) */
#define _POSIX_C_SOURCE 200809L
#include "retinaface.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

int main(int argc, char **argv)
{
    if (argc != 7) {
        fprintf(stderr, "usage: detect_loop MODEL IMAGE WIDTH HEIGHT FRAMES WARMUP\n");
        return 2;
    }
    const int width = atoi(argv[3]), height = atoi(argv[4]);
    const int frames = atoi(argv[5]), warmup = atoi(argv[6]);
    rf_error err;
    rf_model *model = NULL;
    rf_context *ctx = NULL;
    rf_image_buf img = {0};
    rf_faces faces = {0};
    int status = 1;
    if (rf_model_load(argv[1], RF_ANCHORS_RETINAFACE, &model, &err) != RF_OK ||
        rf_context_create(model, NULL, &ctx, &err) != RF_OK ||
        rf_image_load(argv[2], &img, &err) != RF_OK) {
        fprintf(stderr, "detect_loop: %s\n", err.message);
        goto out;
    }
    const rf_input_policy policy = rf_input_policy_stretch(width, height);
    /* what Detector.detect passes with its defaults */
    rf_detect_params params = rf_detect_params_default();
    params.score_threshold = 0.5f;
    for (int i = 0; i < warmup + frames; i++) {
        const double t0 = now_ms();
        if (rf_detect(ctx, &img.image, &policy, &params, &faces, &err) != RF_OK) {
            fprintf(stderr, "detect_loop: %s\n", err.message);
            goto out;
        }
        const double t1 = now_ms();
        if (i >= warmup)
            printf("%.4f\n", t1 - t0);
    }
    status = 0;
out:
    rf_faces_free(&faces);
    rf_image_buf_free(&img);
    rf_context_free(ctx);
    rf_model_free(model);
    return status;
}
