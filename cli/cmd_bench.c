/* cmd_bench.c - `retinaface bench`: forward-pass latency, throughput, per-layer-kind times, memory. */
#include "cli.h"

#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

static void help(FILE *f)
{
    fputs("usage: retinaface bench -m MODEL [options]\n\n"
          "Times the forward pass (network only) and the post-processing on one input.\n\n",
          f);
    cli_model_options_help(f, "threads for the forward pass (default 1)");
    fputs("      (default input: --input-size 640x640)\n\n"
          "Benchmark:\n"
          "      --image FILE        input picture (JPEG/PNG), resized by the input policy;\n"
          "                          default: a fixed synthetic picture\n"
          "      --batch N           images per forward pass (default 1)\n"
          "      --runs R            timed runs (default 20)\n"
          "      --warmup W          untimed runs first (default 3)\n"
          "      --json FILE|-       figures as JSON: kernel_set, precision, median_ms, min_ms,\n"
          "                          max_ms, threads, input, peak_rss_mb, gflops,\n"
          "                          postprocess_ms, layers, ... (docs/json.md)\n"
          "  -h, --help              this help\n",
          f);
}

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static int by_value(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double peak_rss_mb(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss / 1024.0;
}

/* A deterministic picture with edges and gradients, so the benchmark needs no file. */
static int synthetic_image(int w, int h, rf_image_buf *out)
{
    if (rf_image_alloc(w, h, out, NULL) != RF_OK)
        return -1;
    uint32_t s = 12345;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            s = s * 1664525u + 1013904223u;
            uint8_t *p = out->data + (size_t)y * out->image.stride + (size_t)x * 3;
            p[0] = (uint8_t)((x * 255 / w + (s >> 28)) & 255);
            p[1] = (uint8_t)((y * 255 / h) ^ ((x / 16 + y / 16) & 1 ? 64 : 0));
            p[2] = (uint8_t)(s >> 24);
        }
    return 0;
}

int cmd_bench(int argc, char **argv)
{
    cli_model_options mo;
    cli_model_options_init(&mo, rf_input_policy_stretch(640, 640));
    int runs = 20, warmup = 3, batch = 1;
    const char *json = NULL, *image = NULL, *v;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int r = cli_model_option(argc, argv, &i, "bench", &mo);
        if (r < 0)
            return CLI_EXIT_USAGE;
        if (r > 0)
            continue;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            help(stdout);
            return CLI_EXIT_OK;
        } else if (cli_is_option(a, "--runs")) {
            if (!(v = cli_option_value(argc, argv, &i, "bench")) ||
                cli_parse_int("bench", "--runs", v, 1, 100000, &runs))
                return CLI_EXIT_USAGE;
        } else if (cli_is_option(a, "--warmup")) {
            if (!(v = cli_option_value(argc, argv, &i, "bench")) ||
                cli_parse_int("bench", "--warmup", v, 0, 100000, &warmup))
                return CLI_EXIT_USAGE;
        } else if (cli_is_option(a, "--batch")) {
            if (!(v = cli_option_value(argc, argv, &i, "bench")) ||
                cli_parse_int("bench", "--batch", v, 1, 256, &batch))
                return CLI_EXIT_USAGE;
        } else if (cli_is_option(a, "--json")) {
            if (!(json = cli_option_value(argc, argv, &i, "bench")))
                return CLI_EXIT_USAGE;
        } else if (cli_is_option(a, "--image")) {
            if (!(image = cli_option_value(argc, argv, &i, "bench")))
                return CLI_EXIT_USAGE;
        } else {
            fprintf(stderr, "retinaface bench: unknown argument '%s' (see --help)\n", a);
            return CLI_EXIT_USAGE;
        }
    }
    if (!mo.model) {
        fprintf(stderr, "retinaface bench: no model given (use -m FILE; see --help)\n");
        return CLI_EXIT_USAGE;
    }
    rf_error err;
    rf_image_buf img;
    if (image ? rf_image_load(image, &img, &err) != RF_OK
              : synthetic_image(mo.policy.mode == RF_INPUT_STRETCH ? mo.policy.width : 640,
                                mo.policy.mode == RF_INPUT_STRETCH ? mo.policy.height : 640,
                                &img)) {
        fprintf(stderr, "retinaface bench: %s\n", image ? err.message : "out of memory");
        return CLI_EXIT_FAILURE;
    }
    int nw, nh;
    float sx, sy;
    if (rf_input_geometry(&mo.policy, img.image.width, img.image.height, &nw, &nh, &sx, &sy,
                          &err) != RF_OK) {
        fprintf(stderr, "retinaface bench: %s\n", err.message);
        rf_image_buf_free(&img);
        return CLI_EXIT_USAGE;
    }
    const double t_load = now_ms();
    rf_model *model;
    rf_context *ctx;
    if (cli_open("bench", &mo, &model, &ctx)) {
        rf_image_buf_free(&img);
        return CLI_EXIT_FAILURE;
    }
    const double load_ms = now_ms() - t_load;
    const size_t plane = (size_t)3 * nw * nh;
    float *input = malloc(plane * batch * sizeof(float));
    double *times = malloc(sizeof(double) * (size_t)runs);
    int status = CLI_EXIT_FAILURE;
    rf_faces faces = {0};
    if (!input || !times) {
        fprintf(stderr, "retinaface bench: out of memory\n");
        goto out;
    }
    for (int b = 0; b < batch; b++)
        if (rf_image_to_input(&img.image, nw, nh, input + plane * b, &err) != RF_OK) {
            fprintf(stderr, "retinaface bench: %s\n", err.message);
            goto out;
        }
    for (int r = 0; r < warmup + runs; r++) {
        if (r == warmup)
            rf_context_profile_enable(ctx, 1);
        const double t0 = now_ms();
        if (rf_forward(ctx, input, batch, nh, nw, &err) != RF_OK) {
            fprintf(stderr, "retinaface bench: %s\n", err.message);
            goto out;
        }
        if (r >= warmup)
            times[r - warmup] = now_ms() - t0;
    }
    rf_profile_entry prof[RF_PROFILE_KINDS];
    const int nprof = rf_context_profile(ctx, prof, RF_PROFILE_KINDS);
    /* post-processing at the evaluation threshold, the most work it ever does */
    rf_outputs o;
    rf_context_outputs(ctx, &o, &err);
    rf_detect_params params = rf_detect_params_default();
    double post_best = 1e30;
    for (int r = 0; r < 5; r++) {
        const double t0 = now_ms();
        rf_postprocess(o.cls_prob, o.bbox_pred, o.landmark_pred, nw, nh, sx, sy,
                       rf_model_anchors(model), &params, &faces, &err);
        const double t = now_ms() - t0;
        post_best = t < post_best ? t : post_best;
    }
    qsort(times, (size_t)runs, sizeof *times, by_value);
    const double median = runs % 2 ? times[runs / 2] : (times[runs / 2 - 1] + times[runs / 2]) / 2;
    const double flops = rf_context_flops(ctx);
    const double rss = peak_rss_mb();
    const double peak = rf_context_fma_peak_gflops(ctx) * mo.threads;
    const double gflops = flops / 1e6 / median;
    const char *kernels = rf_kernels_name(rf_context_kernels(ctx));
    const char *kernel_set = rf_context_kernel_set_name(ctx);
    const char *precision = rf_precision_name(rf_context_precision(ctx));
    const char *backbone = rf_backbone_name(rf_model_backbone(model));
    if (!json || strcmp(json, "-")) {
        printf("%s, %s kernels, %s, %d thread(s), input %dx3x%dx%d, %d warm-up + %d runs\n",
               backbone, kernel_set, precision, mo.threads, batch, nh, nw, warmup, runs);
        printf("median %.2f ms (min %.2f, max %.2f), %.1f GFLOP per pass, %.1f GFLOP/s\n",
               median, times[0], times[runs - 1], flops / 1e9, gflops);
        printf("%.0f%% of the measured FMA peak (%d x %.1f GFLOP/s); above 100%% means fewer "
               "multiplies than a direct convolution (Winograd)\n",
               100 * gflops / peak, mo.threads, peak / mo.threads);
        printf("post-processing (score > 0.02, NMS): %.3f ms, %.2f%% of a frame; %d faces\n",
               post_best, 100 * post_best / (median + post_best), faces.count);
        printf("model load %.0f ms, peak RSS %.0f MB\n", load_ms, rss);
        for (int k = 0; k < nprof; k++)
            printf("  %-20s %8.2f ms/pass %5.1f%%  %7.1f GFLOP/s\n", prof[k].kind,
                   prof[k].ms / runs, 100 * prof[k].ms / runs / median,
                   prof[k].ms > 0 ? prof[k].flops / 1e6 / prof[k].ms : 0);
    }
    if (json) {
        cli_output out;
        if (cli_output_open("bench", json, &out))
            goto out;
        FILE *f = out.f;
        fprintf(f, "{\"backbone\": \"%s\", \"kernels\": \"%s\", \"kernel_set\": \"%s\", "
                   "\"precision\": \"%s\", \"threads\": %d, "
                   "\"input\": [%d, 3, %d, %d], \"runs\": %d, \"warmup\": %d, "
                   "\"median_ms\": %.4f, \"min_ms\": %.4f, \"max_ms\": %.4f, "
                   "\"gflop\": %.4f, \"gflops\": %.3f, \"fma_peak_gflops\": %.3f, "
                   "\"peak_percent\": %.2f, \"postprocess_ms\": %.4f, "
                   "\"load_ms\": %.2f, \"peak_rss_mb\": %.1f, \"layers\": [",
                backbone, kernels, kernel_set, precision, mo.threads, batch, nh, nw, runs, warmup,
                median, times[0], times[runs - 1], flops / 1e9, gflops, peak, 100 * gflops / peak,
                post_best, load_ms, rss);
        for (int k = 0; k < nprof; k++)
            fprintf(f, "%s{\"kind\": \"%s\", \"ms\": %.4f, \"gflops\": %.3f}", k ? ", " : "",
                    prof[k].kind, prof[k].ms / runs,
                    prof[k].ms > 0 ? prof[k].flops / 1e6 / prof[k].ms : 0);
        fprintf(f, "]}\n");
        if (cli_output_close("bench", &out, 1))
            goto out;
    }
    status = CLI_EXIT_OK;
out:
    rf_faces_free(&faces);
    free(input);
    free(times);
    rf_image_buf_free(&img);
    rf_context_free(ctx);
    rf_model_free(model);
    return status;
}
