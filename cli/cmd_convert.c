/* cmd_convert.c - `retinaface convert`: a model to the fast-loading native format or to ONNX. */
#include "cli.h"

#include "retinaface_tools.h"

#include <string.h>

static void help(FILE *f)
{
    fputs("usage: retinaface convert IN OUT [options]\n\n"
          "IN is a checkpoint (.pth), a native file, or a downloaded model's name (resnet50,\n"
          "mobilenet0.25). OUT is written whole or not at all.\n\n"
          "Options:\n"
          "      --format F          native (default) or onnx (the default when OUT ends in\n"
          "                          .onnx)\n"
          "      --storage S         native weights as f32 (default: mapped, used in place),\n"
          "                          f16 or bf16 (half the size, widened at load)\n"
          "      --anchors NAME      preset of a .pth input: retinaface (default) or face1mb;\n"
          "                          a native file keeps it, a native input has its own\n"
          "      --calibration IMAGE|DIR\n"
          "                          native: int8 calibration on these images (a DIR: its\n"
          "                          .jpg/.jpeg/.png files; repeat for more): each int8\n"
          "                          layer's input range over them is stored, and\n"
          "                          `--precision int8` then quantizes with it (faster: layers\n"
          "                          write their outputs as the next one reads them). Without\n"
          "                          it int8 measures every input as it runs. Use pictures\n"
          "                          like those to be run, a few dozen or more\n"
          "      --input-size WxH | --long-side N | --original-size\n"
          "                          the calibration images' network size (default: original,\n"
          "                          as detect)\n"
          "      --threads N         threads for the calibration (default 1)\n"
          "  -h, --help              this help\n\n"
          "native: BatchNorm folded, the engine's own layout, loaded by mmap (docs/formats.md).\n"
          "onnx:   opset 13, input `data` [N,3,H,W] (BGR minus mean 104,117,123) with dynamic\n"
          "        N, H, W; outputs face_rpn_bbox_pred, face_rpn_cls_prob (softmax),\n"
          "        face_rpn_landmark_pred [N,anchors,4|2|10] (the Open Model Zoo names).\n\n"
          "Exit status: 0 written, 1 failed, 2 bad command line.\n",
          f);
}

static int ends_with(const char *s, const char *suffix)
{
    const size_t n = strlen(s), k = strlen(suffix);
    return n >= k && !strcmp(s + n - k, suffix);
}

/* Widens the model's int8 ranges with each image of the list, one at a time, with a progress
 * line every 10 images on stderr. */
static int calibrate(rf_model *model, const cli_paths *images, const cli_model_options *mo)
{
    rf_model_clear_ranges(model);
    for (int k = 0; k < images->count; k++) {
        rf_image_buf img = {0};
        rf_error err;
        const int bad =
            rf_image_load(images->items[k], &img, &err) != RF_OK ||
            rf_model_calibrate(model, &img.image, 1, &mo->policy, mo->threads, &err) != RF_OK;
        rf_image_buf_free(&img);
        if (bad) {
            fprintf(stderr, "retinaface convert: calibration: %s\n", err.message);
            return -1;
        }
        if ((k + 1) % 10 == 0 || k + 1 == images->count)
            fprintf(stderr, "retinaface convert: calibration: %d/%d images\n", k + 1,
                    images->count);
    }
    return 0;
}

int cmd_convert(int argc, char **argv)
{
    const char *in = NULL, *out = NULL, *format = NULL, *v;
    rf_storage storage = RF_STORAGE_F32;
    rf_anchors anchors = RF_ANCHORS_RETINAFACE;
    cli_paths images = {0};
    int calibration = 0; /* --calibration given */
    cli_model_options mo;
    cli_model_options_init(&mo, rf_input_policy_original());
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            help(stdout);
            return cli_paths_free(&images, CLI_EXIT_OK);
        } else if (cli_is_option(a, "--calibration")) {
            if (!(v = cli_option_value(argc, argv, &i, "convert")))
                return cli_paths_free(&images, CLI_EXIT_USAGE);
            if (cli_collect_images("convert", v, &images))
                return cli_paths_free(&images, CLI_EXIT_FAILURE);
            calibration = 1;
        } else if (cli_is_option(a, "--input-size") || cli_is_option(a, "--long-side") ||
                   cli_is_option(a, "--original-size") || cli_is_option(a, "--threads")) {
            if (cli_model_option(argc, argv, &i, "convert", &mo) != 1)
                return cli_paths_free(&images, CLI_EXIT_USAGE);
        } else if (cli_is_option(a, "--format")) {
            if (!(format = cli_option_value(argc, argv, &i, "convert")))
                return cli_paths_free(&images, CLI_EXIT_USAGE);
            if (strcmp(format, "native") && strcmp(format, "onnx")) {
                fprintf(stderr, "retinaface convert: --format: '%s' is not native or onnx\n",
                        format);
                return cli_paths_free(&images, CLI_EXIT_USAGE);
            }
        } else if (cli_is_option(a, "--storage")) {
            if (!(v = cli_option_value(argc, argv, &i, "convert")))
                return cli_paths_free(&images, CLI_EXIT_USAGE);
            if (rf_storage_parse(v, &storage) != RF_OK) {
                fprintf(stderr, "retinaface convert: --storage: '%s' is not f32, f16 or bf16\n",
                        v);
                return cli_paths_free(&images, CLI_EXIT_USAGE);
            }
        } else if (cli_is_option(a, "--anchors")) {
            if (!(v = cli_option_value(argc, argv, &i, "convert")))
                return cli_paths_free(&images, CLI_EXIT_USAGE);
            if (rf_anchors_parse(v, &anchors) != RF_OK) {
                fprintf(stderr, "retinaface convert: --anchors: '%s' is not retinaface or "
                                "face1mb\n", v);
                return cli_paths_free(&images, CLI_EXIT_USAGE);
            }
        } else if (a[0] == '-' && a[1] != '\0') {
            fprintf(stderr, "retinaface convert: unknown option '%s' (see --help)\n", a);
            return cli_paths_free(&images, CLI_EXIT_USAGE);
        } else if (!in) {
            in = a;
        } else if (!out) {
            out = a;
        } else {
            fprintf(stderr, "retinaface convert: one input and one output (got '%s' too)\n", a);
            return cli_paths_free(&images, CLI_EXIT_USAGE);
        }
    }
    if (!in || !out) {
        fprintf(stderr, "retinaface convert: give IN and OUT (see --help)\n");
        return cli_paths_free(&images, CLI_EXIT_USAGE);
    }
    const int onnx = format ? !strcmp(format, "onnx") : ends_with(out, ".onnx");
    if (onnx && storage != RF_STORAGE_F32) {
        fprintf(stderr, "retinaface convert: --storage applies to the native format only\n");
        return cli_paths_free(&images, CLI_EXIT_USAGE);
    }
    if (calibration && !images.count) {
        fprintf(stderr, "retinaface convert: --calibration: no images to calibrate on\n");
        return cli_paths_free(&images, CLI_EXIT_FAILURE);
    }
    if (images.count && onnx) {
        fprintf(stderr, "retinaface convert: --calibration applies to the native format only\n");
        return cli_paths_free(&images, CLI_EXIT_USAGE);
    }
    if (mo.policy_given && !images.count) {
        fprintf(stderr, "retinaface convert: the input size applies to --calibration only\n");
        return cli_paths_free(&images, CLI_EXIT_USAGE);
    }
    char path[4096];
    rf_error err;
    rf_model *model = NULL;
    int status = CLI_EXIT_OK;
    if (rf_model_resolve(in, path, sizeof path, NULL, &err) != RF_OK ||
        rf_model_load_flags(path, anchors, RF_LOAD_KEEP_REFERENCE, &model, &err) != RF_OK) {
        fprintf(stderr, "retinaface convert: %s\n", err.message);
        status = CLI_EXIT_FAILURE;
    } else if (images.count && calibrate(model, &images, &mo)) {
        status = CLI_EXIT_FAILURE;
    } else if ((onnx ? rf_model_save_onnx(model, out, &err)
                     : rf_model_save_native(model, out, storage, &err)) != RF_OK) {
        fprintf(stderr, "retinaface convert: %s\n", err.message);
        status = CLI_EXIT_FAILURE;
    } else {
        printf("%s: %s RetinaFace (%s anchors), %s%s\n", out,
               rf_backbone_name(rf_model_backbone(model)),
               rf_anchors_name(rf_model_anchors(model)),
               onnx ? "ONNX opset 13" : rf_storage_name(storage),
               onnx || !rf_model_calibrated(model) ? "" : ", int8 ranges calibrated");
    }
    rf_model_free(model);
    return cli_paths_free(&images, status);
}
