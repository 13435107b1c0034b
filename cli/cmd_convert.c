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

int cmd_convert(int argc, char **argv)
{
    const char *in = NULL, *out = NULL, *format = NULL, *v;
    rf_storage storage = RF_STORAGE_F32;
    rf_anchors anchors = RF_ANCHORS_RETINAFACE;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            help(stdout);
            return CLI_EXIT_OK;
        } else if (cli_is_option(a, "--format")) {
            if (!(format = cli_option_value(argc, argv, &i, "convert")))
                return CLI_EXIT_USAGE;
            if (strcmp(format, "native") && strcmp(format, "onnx")) {
                fprintf(stderr, "retinaface convert: --format: '%s' is not native or onnx\n",
                        format);
                return CLI_EXIT_USAGE;
            }
        } else if (cli_is_option(a, "--storage")) {
            if (!(v = cli_option_value(argc, argv, &i, "convert")))
                return CLI_EXIT_USAGE;
            if (rf_storage_parse(v, &storage) != RF_OK) {
                fprintf(stderr, "retinaface convert: --storage: '%s' is not f32, f16 or bf16\n",
                        v);
                return CLI_EXIT_USAGE;
            }
        } else if (cli_is_option(a, "--anchors")) {
            if (!(v = cli_option_value(argc, argv, &i, "convert")))
                return CLI_EXIT_USAGE;
            if (rf_anchors_parse(v, &anchors) != RF_OK) {
                fprintf(stderr, "retinaface convert: --anchors: '%s' is not retinaface or "
                                "face1mb\n", v);
                return CLI_EXIT_USAGE;
            }
        } else if (a[0] == '-' && a[1] != '\0') {
            fprintf(stderr, "retinaface convert: unknown option '%s' (see --help)\n", a);
            return CLI_EXIT_USAGE;
        } else if (!in) {
            in = a;
        } else if (!out) {
            out = a;
        } else {
            fprintf(stderr, "retinaface convert: one input and one output (got '%s' too)\n", a);
            return CLI_EXIT_USAGE;
        }
    }
    if (!in || !out) {
        fprintf(stderr, "retinaface convert: give IN and OUT (see --help)\n");
        return CLI_EXIT_USAGE;
    }
    const int onnx = format ? !strcmp(format, "onnx") : ends_with(out, ".onnx");
    if (onnx && storage != RF_STORAGE_F32) {
        fprintf(stderr, "retinaface convert: --storage applies to the native format only\n");
        return CLI_EXIT_USAGE;
    }
    char path[4096];
    rf_error err;
    rf_model *model = NULL;
    if (rf_model_resolve(in, path, sizeof path, NULL, &err) != RF_OK ||
        rf_model_load_flags(path, anchors, RF_LOAD_KEEP_REFERENCE, &model, &err) != RF_OK ||
        (onnx ? rf_model_save_onnx(model, out, &err)
              : rf_model_save_native(model, out, storage, &err)) != RF_OK) {
        fprintf(stderr, "retinaface convert: %s\n", err.message);
        rf_model_free(model);
        return CLI_EXIT_FAILURE;
    }
    printf("%s: %s RetinaFace (%s anchors), %s\n", out, rf_backbone_name(rf_model_backbone(model)),
           rf_anchors_name(rf_model_anchors(model)),
           onnx ? "ONNX opset 13" : rf_storage_name(storage));
    rf_model_free(model);
    return CLI_EXIT_OK;
}
