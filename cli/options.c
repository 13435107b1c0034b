/* options.c - command-line parsing shared by the subcommands: model, anchors, input policy, threads. */
#include "cli.h"

#include "retinaface_tools.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void cli_model_options_init(cli_model_options *o, rf_input_policy default_policy)
{
    memset(o, 0, sizeof *o);
    o->anchors = RF_ANCHORS_RETINAFACE;
    o->policy = default_policy;
    o->threads = 1;
    o->kernels = RF_KERNELS_AUTO;
    o->precision = RF_PRECISION_FP32;
}

const char *cli_option_value(int argc, char **argv, int *i, const char *cmd)
{
    const char *eq = strchr(argv[*i], '=');
    if (argv[*i][0] == '-' && argv[*i][1] == '-' && eq)
        return eq + 1;
    if (*i + 1 >= argc) {
        fprintf(stderr, "retinaface %s: option %s needs a value\n", cmd, argv[*i]);
        return NULL;
    }
    return argv[++*i];
}

int cli_is_option(const char *arg, const char *name)
{
    size_t n = strlen(name);
    return strncmp(arg, name, n) == 0 && (arg[n] == '\0' || (arg[n] == '=' && name[1] == '-'));
}

int cli_parse_int(const char *cmd, const char *opt, const char *s, int lo, int hi, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) {
        fprintf(stderr, "retinaface %s: %s: '%s' is not an integer in [%d, %d]\n", cmd, opt, s,
                lo, hi);
        return -1;
    }
    *out = (int)v;
    return 0;
}

int cli_parse_float(const char *cmd, const char *opt, const char *s, float lo, float hi,
                    float *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !isfinite(v) || v < lo || v > hi) {
        fprintf(stderr, "retinaface %s: %s: '%s' is not a number in [%g, %g]\n", cmd, opt, s,
                (double)lo, (double)hi);
        return -1;
    }
    *out = (float)v;
    return 0;
}

/* "WxH" with both in [1, 16384]. */
static int parse_size(const char *cmd, const char *s, int *w, int *h)
{
    char *end;
    long a = strtol(s, &end, 10);
    if (end == s || (*end != 'x' && *end != 'X')) goto bad;
    const char *p = end + 1;
    long b = strtol(p, &end, 10);
    if (end == p || *end || a < 1 || b < 1 || a > 16384 || b > 16384) goto bad;
    *w = (int)a;
    *h = (int)b;
    return 0;
bad:
    fprintf(stderr, "retinaface %s: --input-size: '%s' is not WxH (e.g. 640x640, 1..16384)\n",
            cmd, s);
    return -1;
}

int cli_model_option(int argc, char **argv, int *i, const char *cmd, cli_model_options *o)
{
    const char *a = argv[*i], *v;
    if (cli_is_option(a, "-m") || cli_is_option(a, "--model")) {
        if (!(v = cli_option_value(argc, argv, i, cmd))) return -1;
        o->model = v;
    } else if (cli_is_option(a, "--anchors")) {
        if (!(v = cli_option_value(argc, argv, i, cmd))) return -1;
        if (rf_anchors_parse(v, &o->anchors) != RF_OK) {
            fprintf(stderr, "retinaface %s: --anchors: '%s' is not retinaface or face1mb\n", cmd,
                    v);
            return -1;
        }
    } else if (cli_is_option(a, "--input-size")) {
        int w, h;
        if (!(v = cli_option_value(argc, argv, i, cmd)) || parse_size(cmd, v, &w, &h)) return -1;
        o->policy = rf_input_policy_stretch(w, h);
        o->policy_given++;
    } else if (cli_is_option(a, "--long-side")) {
        int n;
        if (!(v = cli_option_value(argc, argv, i, cmd)) ||
            cli_parse_int(cmd, "--long-side", v, 32, 16384, &n))
            return -1;
        o->policy = rf_input_policy_long_side(n);
        o->policy_given++;
    } else if (cli_is_option(a, "--original-size")) {
        o->policy = rf_input_policy_original();
        o->policy_given++;
    } else if (cli_is_option(a, "--threads")) {
        if (!(v = cli_option_value(argc, argv, i, cmd)) ||
            cli_parse_int(cmd, "--threads", v, 1, 256, &o->threads))
            return -1;
    } else if (cli_is_option(a, "--kernels")) {
        if (!(v = cli_option_value(argc, argv, i, cmd))) return -1;
        if (rf_kernels_parse(v, &o->kernels) != RF_OK) {
            fprintf(stderr,
                    "retinaface %s: --kernels: '%s' is not auto, reference, avx2 or avx512\n",
                    cmd, v);
            return -1;
        }
    } else if (cli_is_option(a, "--precision")) {
        if (!(v = cli_option_value(argc, argv, i, cmd))) return -1;
        if (rf_precision_parse(v, &o->precision) != RF_OK) {
            fprintf(stderr, "retinaface %s: --precision: '%s' is not fp32, bf16 or int8\n", cmd,
                    v);
            return -1;
        }
    } else {
        return 0;
    }
    if (o->policy_given > 1) {
        fprintf(stderr, "retinaface %s: give only one of --input-size, --long-side, "
                        "--original-size\n", cmd);
        return -1;
    }
    return 1;
}

void cli_model_options_help(FILE *f, const char *threads_help)
{
    fputs("Model and input:\n"
          "  -m, --model FILE        checkpoint: Resnet50_Final.pth, mobilenet0.25_Final.pth\n"
          "                          (torch.save legacy or zip format), a native file made by\n"
          "                          `retinaface convert`, or a name given to `retinaface\n"
          "                          download` (resnet50, mobilenet0.25); required\n"
          "      --anchors NAME      anchor preset: retinaface (default; original repository,\n"
          "                          Open Model Zoo) or face1mb (Face-Detector-1MB weights)\n"
          "      --input-size WxH    stretch every image to W x H, bilinear (Open Model Zoo:\n"
          "                          640x640); several images then run as one batch\n"
          "      --long-side N       scale so that the longer side is N, aspect kept\n"
          "      --original-size     feed images at their own size\n",
          f);
    fprintf(f, "      --threads N         %s\n", threads_help);
    fputs("      --kernels NAME      auto (default), reference, avx2 or avx512\n"
          "      --precision P       fp32 (default, exact), bf16 (AVX512_BF16) or int8\n"
          "                          (AVX512_VNNI): the dense convolutions in that precision,\n"
          "                          the rest in fp32; --kernels reference runs them anywhere\n",
          f);
}

rf_status cli_load_model(const cli_model_options *o, rf_model **model, rf_error *err)
{
    char path[4096]; /* a known model name means its file in the download cache */
    const unsigned flags = o->kernels == RF_KERNELS_REFERENCE    ? RF_LOAD_KEEP_REFERENCE
                           : o->precision == RF_PRECISION_BF16 ? RF_LOAD_BF16
                           : o->precision == RF_PRECISION_INT8 ? RF_LOAD_INT8
                                                               : 0;
    rf_status st = rf_model_resolve(o->model, path, sizeof path, NULL, err);
    return st != RF_OK ? st : rf_model_load_flags(path, o->anchors, flags, model, err);
}

int cli_open(const char *cmd, const cli_model_options *o, rf_model **model, rf_context **ctx)
{
    rf_error err;
    if (!o->model) {
        fprintf(stderr, "retinaface %s: no model given (use -m FILE; see --help)\n", cmd);
        return -1;
    }
    if (cli_load_model(o, model, &err) != RF_OK) {
        fprintf(stderr, "retinaface %s: %s\n", cmd, err.message);
        return -1;
    }
    rf_context_options co = rf_context_options_default();
    co.threads = o->threads;
    co.kernels = o->kernels;
    co.precision = o->precision;
    if (rf_context_create(*model, &co, ctx, &err) != RF_OK) {
        fprintf(stderr, "retinaface %s: %s\n", cmd, err.message);
        rf_model_free(*model);
        *model = NULL;
        return -1;
    }
    return 0;
}

void cli_json_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(f, "\\%c", *p);
        else if (*p < 0x20)
            fprintf(f, "\\u%04x", *p);
        else
            fputc(*p, f);
    }
    fputc('"', f);
}

int cli_output_open(const char *cmd, const char *path, cli_output *o)
{
    memset(o, 0, sizeof *o);
    if (strcmp(path, "-") == 0) {
        o->f = stdout;
        return 0;
    }
    rf_error err;
    if (rf_output_open(&o->out, path, &err) != RF_OK) {
        fprintf(stderr, "retinaface %s: %s\n", cmd, err.message);
        return -1;
    }
    o->f = o->out.f;
    return 0;
}

int cli_output_close(const char *cmd, cli_output *o, int ok)
{
    if (!o->f)
        return ok ? 0 : -1;
    if (o->f == stdout) {
        o->f = NULL;
        if (fflush(stdout) != 0 || ferror(stdout)) {
            if (ok)
                fprintf(stderr, "retinaface %s: cannot write to standard output: %s\n", cmd,
                        strerror(errno));
            return -1;
        }
        return ok ? 0 : -1;
    }
    o->f = NULL;
    rf_error err;
    if (rf_output_close(&o->out, ok ? RF_OK : RF_E_IO, &err) == RF_OK)
        return 0;
    if (ok)
        fprintf(stderr, "retinaface %s: %s\n", cmd, err.message);
    return -1;
}
