/* cmd_detect.c - `retinaface detect`: faces of images as text, JSON, drawn pictures and raw tensors. */
#include "cli.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void help(FILE *f)
{
    fputs("usage: retinaface detect -m MODEL [options] IMAGE|DIR...\n\n"
          "Finds faces in JPEG and PNG images (a DIR means the .jpg/.jpeg/.png files in it).\n\n",
          f);
    cli_model_options_help(f, "threads for the forward pass (default 1)");
    fputs("      (default input: --original-size)\n\n"
          "Detection:\n"
          "      --threshold T       report faces with score > T (default 0.5)\n"
          "      --nms T             NMS IoU threshold (default 0.4)\n"
          "      --top-k N           best candidates kept before NMS (default 5000, 0 = all)\n"
          "      --keep-top-k N      faces kept after NMS (default 750, 0 = all)\n"
          "      --batch N           with --input-size, images per forward pass (default 16)\n\n"
          "Output:\n"
          "      --json FILE|-       results as JSON (schema: docs/json.md)\n"
          "      --draw FILE|DIR     pictures with boxes, scores and landmarks (a DIR gets one\n"
          "                          file per image, named like the image)\n"
          "      --crops DIR         aligned 112x112 face chips for recognition (ArcFace\n"
          "                          template): DIR/<image name>_faceNN.png, NN as in the\n"
          "                          JSON's faces[]\n"
          "      --dump-tensors DIR  raw outputs face_rpn_cls_prob.npy, face_rpn_bbox_pred.npy,\n"
          "                          face_rpn_landmark_pred.npy ([N,A,k] float32); with several\n"
          "                          passes, one subfolder per pass named after its first image\n"
          "  -q, --quiet             no text results on stdout\n"
          "  -h, --help              this help\n\n"
          "Exit status: 0 all images done, 1 some image or output failed, 2 bad command line.\n",
          f);
}

static const char *base_name(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

static void write_image_json(FILE *f, int first, const char *file, const rf_image *img,
                             const rf_faces *faces, float threshold)
{
    fprintf(f, "%s\n    {\"file\": ", first ? "" : ",");
    cli_json_string(f, file);
    fprintf(f, ", \"width\": %d, \"height\": %d, \"faces\": [", img->width, img->height);
    int n = 0;
    for (int i = 0; i < faces->count; i++) {
        if (faces->faces[i].score <= threshold)
            continue;
        fputs(n++ ? ",\n      " : "\n      ", f);
        cli_json_face(f, &faces->faces[i]);
    }
    fputs(n ? "\n    ]}" : "]}", f);
}

static void print_text(const char *file, const rf_faces *faces, float threshold)
{
    int n = 0;
    for (int i = 0; i < faces->count; i++)
        n += faces->faces[i].score > threshold;
    printf("%s: %d face%s\n", file, n, n == 1 ? "" : "s");
    for (int i = 0; i < faces->count; i++) {
        const rf_face *f = &faces->faces[i];
        if (f->score <= threshold)
            continue;
        printf("  %.4f  box %.1f %.1f %.1f %.1f  eyes (%.1f,%.1f) (%.1f,%.1f) nose (%.1f,%.1f) "
               "mouth (%.1f,%.1f) (%.1f,%.1f)\n",
               f->score, f->box[0], f->box[1], f->box[2], f->box[3], f->landmarks[0],
               f->landmarks[1], f->landmarks[2], f->landmarks[3], f->landmarks[4],
               f->landmarks[5], f->landmarks[6], f->landmarks[7], f->landmarks[8],
               f->landmarks[9]);
    }
}

static int dump_tensors(rf_context *ctx, const char *dir)
{
    rf_outputs o;
    rf_error err;
    if (rf_context_outputs(ctx, &o, &err) != RF_OK || cli_make_dir("detect", dir))
        return -1;
    const struct { const char *name; const float *data; int k; } t[3] = {
        {"face_rpn_cls_prob", o.cls_prob, 2},
        {"face_rpn_bbox_pred", o.bbox_pred, 4},
        {"face_rpn_landmark_pred", o.landmark_pred, 10}};
    for (int i = 0; i < 3; i++) {
        char path[4200];
        snprintf(path, sizeof path, "%s/%s.npy", dir, t[i].name);
        const int64_t shape[3] = {o.batch, o.anchors, t[i].k};
        if (rf_npy_save(path, t[i].data, 3, shape, &err) != RF_OK) {
            fprintf(stderr, "retinaface detect: %s\n", err.message);
            return -1;
        }
    }
    return 0;
}

/* The drawing's path: FILE when one image is drawn to a name with an image extension,
 * otherwise DIR/<image name>. */
static void draw_path(char *out, size_t size, const char *draw, int single, const char *image)
{
    if (single && cli_has_image_ext(draw))
        snprintf(out, size, "%s", draw);
    else
        snprintf(out, size, "%s/%s", draw, base_name(image));
}

int cmd_detect(int argc, char **argv)
{
    cli_model_options mo;
    cli_model_options_init(&mo, rf_input_policy_original());
    rf_detect_params params = rf_detect_params_default();
    float threshold = 0.5f;
    int batch_max = 16, quiet = 0;
    const char *json = NULL, *draw = NULL, *dump = NULL, *crops = NULL, *v;
    rf_image_buf chip = {0};
    cli_paths inputs = {0};
    int status = CLI_EXIT_OK;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int r = cli_model_option(argc, argv, &i, "detect", &mo);
        if (r < 0)
            return cli_paths_free(&inputs, CLI_EXIT_USAGE);
        if (r > 0)
            continue;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            help(stdout);
            return cli_paths_free(&inputs, CLI_EXIT_OK);
        } else if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) {
            quiet = 1;
        } else if (cli_is_option(a, "--threshold")) {
            if (!(v = cli_option_value(argc, argv, &i, "detect")) ||
                cli_parse_float("detect", "--threshold", v, 0.0f, 1.0f, &threshold))
                return cli_paths_free(&inputs, CLI_EXIT_USAGE);
        } else if (cli_is_option(a, "--nms")) {
            if (!(v = cli_option_value(argc, argv, &i, "detect")) ||
                cli_parse_float("detect", "--nms", v, 0.0f, 1.0f, &params.nms_threshold))
                return cli_paths_free(&inputs, CLI_EXIT_USAGE);
        } else if (cli_is_option(a, "--top-k")) {
            if (!(v = cli_option_value(argc, argv, &i, "detect")) ||
                cli_parse_int("detect", "--top-k", v, 0, 1 << 30, &params.pre_nms_top_k))
                return cli_paths_free(&inputs, CLI_EXIT_USAGE);
        } else if (cli_is_option(a, "--keep-top-k")) {
            if (!(v = cli_option_value(argc, argv, &i, "detect")) ||
                cli_parse_int("detect", "--keep-top-k", v, 0, 1 << 30, &params.keep_top_k))
                return cli_paths_free(&inputs, CLI_EXIT_USAGE);
        } else if (cli_is_option(a, "--batch")) {
            if (!(v = cli_option_value(argc, argv, &i, "detect")) ||
                cli_parse_int("detect", "--batch", v, 1, 1024, &batch_max))
                return cli_paths_free(&inputs, CLI_EXIT_USAGE);
        } else if (cli_is_option(a, "--json")) {
            if (!(json = cli_option_value(argc, argv, &i, "detect")))
                return cli_paths_free(&inputs, CLI_EXIT_USAGE);
        } else if (cli_is_option(a, "--draw")) {
            if (!(draw = cli_option_value(argc, argv, &i, "detect")))
                return cli_paths_free(&inputs, CLI_EXIT_USAGE);
        } else if (cli_is_option(a, "--crops")) {
            if (!(crops = cli_option_value(argc, argv, &i, "detect")))
                return cli_paths_free(&inputs, CLI_EXIT_USAGE);
        } else if (cli_is_option(a, "--dump-tensors")) {
            if (!(dump = cli_option_value(argc, argv, &i, "detect")))
                return cli_paths_free(&inputs, CLI_EXIT_USAGE);
        } else if (a[0] == '-' && a[1] != '\0') {
            fprintf(stderr, "retinaface detect: unknown option '%s' (see --help)\n", a);
            return cli_paths_free(&inputs, CLI_EXIT_USAGE);
        } else if (cli_collect_images("detect", a, &inputs)) {
            return cli_paths_free(&inputs, CLI_EXIT_FAILURE);
        }
    }
    if (!mo.model) {
        fprintf(stderr, "retinaface detect: no model given (use -m FILE; see --help)\n");
        return cli_paths_free(&inputs, CLI_EXIT_USAGE);
    }
    if (inputs.count == 0) {
        fprintf(stderr, "retinaface detect: no images given (see --help)\n");
        return cli_paths_free(&inputs, CLI_EXIT_USAGE);
    }
    /* Candidates at the report threshold already give the same faces above it: greedy NMS
     * only lets a better-scoring box suppress another. */
    params.score_threshold = threshold < 0.02f ? threshold : 0.02f;

    rf_model *model;
    rf_context *ctx;
    if (cli_open("detect", &mo, &model, &ctx))
        return cli_paths_free(&inputs, CLI_EXIT_FAILURE);
    cli_output jout = {0};
    FILE *jf = NULL;
    /* The drawing folder first: a JSON file opened before it failed would be left half written. */
    if (draw && !(inputs.count == 1 && cli_has_image_ext(draw)) &&
        cli_make_dir("detect", draw)) {
        status = CLI_EXIT_FAILURE;
        goto out;
    }
    if (crops && cli_make_dir("detect", crops)) {
        status = CLI_EXIT_FAILURE;
        goto out;
    }
    if (json) {
        if (cli_output_open("detect", json, &jout)) {
            status = CLI_EXIT_FAILURE;
            goto out;
        }
        jf = jout.f;
    }
    if (jf) {
        fprintf(jf, "{\"model\": ");
        cli_json_string(jf, mo.model);
        fprintf(jf, ", \"backbone\": \"%s\", \"anchors\": \"%s\", \"threshold\": %.9g, "
                    "\"images\": [", rf_backbone_name(rf_model_backbone(model)),
                rf_anchors_name(rf_model_anchors(model)), threshold);
    }
    const int per_pass = mo.policy.mode == RF_INPUT_STRETCH ? batch_max : 1;
    const int passes = (inputs.count + per_pass - 1) / per_pass;
    const int show_text = !quiet && !(json && !strcmp(json, "-"));
    const int progress = inputs.count > 1 && isatty(2);
    rf_image_buf *bufs = calloc((size_t)per_pass, sizeof *bufs);
    rf_image *views = calloc((size_t)per_pass, sizeof *views);
    rf_faces *faces = calloc((size_t)per_pass, sizeof *faces);
    const char **names = calloc((size_t)per_pass, sizeof *names);
    if (!bufs || !views || !faces || !names) {
        fprintf(stderr, "retinaface detect: out of memory\n");
        status = CLI_EXIT_FAILURE;
        goto free_batch;
    }
    int json_first = 1;
    for (int start = 0; start < inputs.count; start += per_pass) {
        rf_error err;
        int n = 0;
        for (int i = start; i < inputs.count && i < start + per_pass; i++) {
            if (rf_image_load(inputs.items[i], &bufs[n], &err) != RF_OK) {
                fprintf(stderr, "retinaface detect: %s\n", err.message);
                status = CLI_EXIT_FAILURE;
                continue;
            }
            views[n] = bufs[n].image;
            names[n++] = inputs.items[i];
        }
        if (n && rf_detect_batch(ctx, views, n, &mo.policy, &params, faces, &err) != RF_OK) {
            fprintf(stderr, "retinaface detect: %s: %s\n", names[0], err.message);
            status = CLI_EXIT_FAILURE;
            n = 0;
        }
        if (n && dump) {
            char dir[4096];
            if (passes == 1)
                snprintf(dir, sizeof dir, "%s", dump);
            else if (cli_make_dir("detect", dump) == 0)
                snprintf(dir, sizeof dir, "%s/%s", dump, base_name(names[0]));
            if (cli_make_dir("detect", dump) || dump_tensors(ctx, dir))
                status = CLI_EXIT_FAILURE;
        }
        for (int i = 0; i < n; i++) {
            if (show_text)
                print_text(names[i], &faces[i], threshold);
            if (jf) {
                write_image_json(jf, json_first, names[i], &views[i], &faces[i], threshold);
                json_first = 0;
            }
            if (crops) { /* before --draw paints over the faces */
                char prefix[4096];
                snprintf(prefix, sizeof prefix, "%s", base_name(names[i]));
                char *dot = strrchr(prefix, '.');
                if (dot && dot != prefix)
                    *dot = '\0';
                if (cli_write_crops("detect", crops, prefix, &views[i], &faces[i], threshold,
                                    &chip))
                    status = CLI_EXIT_FAILURE;
            }
            if (draw) {
                char path[8200];
                draw_path(path, sizeof path, draw, inputs.count == 1, names[i]);
                rf_draw_faces(&bufs[i], &faces[i], threshold);
                if (rf_image_save(path, &bufs[i].image, &err) != RF_OK) {
                    fprintf(stderr, "retinaface detect: %s\n", err.message);
                    status = CLI_EXIT_FAILURE;
                }
            }
        }
        for (int i = 0; i < n; i++)
            rf_image_buf_free(&bufs[i]);
        if (progress) {
            const int done = start + per_pass < inputs.count ? start + per_pass : inputs.count;
            fprintf(stderr, "\r%d/%d images", done, inputs.count);
            if (done == inputs.count)
                fputc('\n', stderr);
        }
    }
    if (jf) {
        fputs(json_first ? "]}\n" : "\n  ]}\n", jf);
        if (cli_output_close("detect", &jout, 1))
            status = CLI_EXIT_FAILURE;
    }
free_batch:
    for (int i = 0; faces && i < per_pass; i++)
        rf_faces_free(&faces[i]);
    free(bufs);
    free(views);
    free(faces);
    free(names);
out:
    cli_output_close("detect", &jout, 0); /* a no-op once closed above */
    rf_image_buf_free(&chip);
    rf_context_free(ctx);
    rf_model_free(model);
    return cli_paths_free(&inputs, status);
}
