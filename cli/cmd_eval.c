/* cmd_eval.c - `retinaface eval`: WIDER FACE AP (official easy/medium/hard, Open Model Zoo) of a model or of result files. */
#define _POSIX_C_SOURCE 200809L /* clock_gettime, isatty, fileno, mkdir, stat */
#include "cli.h"
#include "retinaface_eval.h"
#include "retinaface_tools.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define CMD "eval"
/* Without a terminal, one progress line per this many images. */
#define PROGRESS_EVERY 50

enum { PROTO_WIDER = 1, PROTO_OMZ = 2 };

typedef struct {
    cli_model_options model;
    const char *gt_dir, *images_dir, *predictions, *omz_predictions, *out_dir, *json;
    int protocols;
    int limit;
    int quiet;
    float score_threshold, nms_threshold;
} eval_options;

static void usage(FILE *f)
{
    fputs("usage: retinaface eval -m MODEL [--anchors P] --gt DIR [--images DIR] [options]\n"
          "       retinaface eval --predictions DIR --gt DIR [options]\n\n"
          "Average precision on the WIDER FACE validation set: runs a model over the images\n"
          "found under --images (any subset of the 3,226), or scores result files written by\n"
          "any detector, with the official protocol (easy, medium, hard) and/or the Open Model\n"
          "Zoo one (a single AP over faces 64 px and taller). See docs/eval.md.\n\n"
          "Data:\n"
          "      --gt DIR            wider_face_val.mat, wider_{easy,medium,hard}_val.mat and\n"
          "                          wider_face_val_bbx_gt.txt, in DIR, DIR/ground_truth or\n"
          "                          DIR/wider_face_split\n"
          "      --images DIR        the images, DIR/<event>/<name>.jpg (default: GT/val/images\n"
          "                          or GT/WIDER_val/images, whichever exists)\n"
          "      --predictions DIR   score result files DIR/<event>/<name>.txt instead of running\n"
          "                          a model; the --out folder of an earlier run works too (its\n"
          "                          predictions/ and predictions_omz/ are used)\n"
          "      --omz-predictions DIR  result files for the OMZ protocol (default: as above)\n"
          "      --limit N           only the first N images found (ground-truth order)\n\n"
          "Protocol:\n"
          "      --protocol P        wider (official), omz or both (default)\n"
          "      --score-threshold F detections kept above F (default 0.02, both protocols)\n"
          "      --nms-threshold F   NMS IoU threshold (default 0.4, both protocols)\n\n"
          "Output:\n"
          "      --out DIR           write DIR/predictions/<event>/<name>.txt (official),\n"
          "                          DIR/predictions_omz/... (OMZ), PR curves DIR/pr_easy.svg,\n"
          "                          pr_medium.svg, pr_hard.svg, pr_omz.svg and DIR/summary.json\n"
          "      --json FILE|-       the summary as JSON (AP as fractions in [0, 1])\n"
          "  -q, --quiet             no progress on stderr\n\n",
          f);
    cli_model_options_help(f, "images evaluated at once, each on its own thread with a\n"
          "                          one-thread forward pass (default 1)");
    fputs("\nThe input options apply to the official protocol (default --original-size, as the\n"
          "original test_widerface.py); the OMZ protocol always stretches to 640x640.\n",
          f);
}

static int parse_args(int argc, char **argv, eval_options *o)
{
    memset(o, 0, sizeof *o);
    cli_model_options_init(&o->model, rf_input_policy_original());
    o->protocols = PROTO_WIDER | PROTO_OMZ;
    o->score_threshold = 0.02f;
    o->nms_threshold = 0.4f;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        int r = cli_model_option(argc, argv, &i, CMD, &o->model);
        if (r < 0)
            return -1;
        if (r > 0)
            continue;
#define VALUE() if (!(v = cli_option_value(argc, argv, &i, CMD))) return -1
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 1;
        } else if (cli_is_option(a, "--gt")) {
            VALUE();
            o->gt_dir = v;
        } else if (cli_is_option(a, "--images")) {
            VALUE();
            o->images_dir = v;
        } else if (cli_is_option(a, "--predictions")) {
            VALUE();
            o->predictions = v;
        } else if (cli_is_option(a, "--omz-predictions")) {
            VALUE();
            o->omz_predictions = v;
        } else if (cli_is_option(a, "--out")) {
            VALUE();
            o->out_dir = v;
        } else if (cli_is_option(a, "--json")) {
            VALUE();
            o->json = v;
        } else if (cli_is_option(a, "--limit")) {
            VALUE();
            if (cli_parse_int(CMD, "--limit", v, 1, 1 << 30, &o->limit)) return -1;
        } else if (cli_is_option(a, "--protocol")) {
            VALUE();
            if (!strcmp(v, "wider") || !strcmp(v, "official")) o->protocols = PROTO_WIDER;
            else if (!strcmp(v, "omz")) o->protocols = PROTO_OMZ;
            else if (!strcmp(v, "both")) o->protocols = PROTO_WIDER | PROTO_OMZ;
            else {
                fprintf(stderr, "retinaface eval: --protocol: '%s' is not wider, omz or both\n", v);
                return -1;
            }
        } else if (cli_is_option(a, "--score-threshold")) {
            VALUE();
            if (cli_parse_float(CMD, "--score-threshold", v, 0, 1, &o->score_threshold))
                return -1;
        } else if (cli_is_option(a, "--nms-threshold")) {
            VALUE();
            if (cli_parse_float(CMD, "--nms-threshold", v, 0, 1, &o->nms_threshold)) return -1;
        } else if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) {
            o->quiet = 1;
        } else {
            fprintf(stderr, "retinaface eval: unknown option '%s' (see --help)\n", a);
            return -1;
        }
#undef VALUE
    }
    if (!o->gt_dir) {
        fprintf(stderr, "retinaface eval: no ground truth given (use --gt DIR; see --help)\n");
        return -1;
    }
    if (!o->predictions && !o->model.model) {
        fprintf(stderr, "retinaface eval: give a model (-m FILE) or result files "
                        "(--predictions DIR); see --help\n");
        return -1;
    }
    if (o->predictions && o->model.model) {
        fprintf(stderr, "retinaface eval: -m and --predictions exclude each other\n");
        return -1;
    }
    if (o->model.policy_given && (o->predictions || o->protocols == PROTO_OMZ))
        fprintf(stderr, "retinaface eval: note: the input option is ignored (%s)\n",
                o->predictions ? "result files are scored as they are"
                               : "the OMZ protocol always stretches to 640x640");
    if (o->protocols == PROTO_OMZ)
        o->model.policy = rf_input_policy_stretch(640, 640);
    return 0;
}

static int is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* printf into a path buffer; -1 (with a message) when it does not fit. */
static int make_path(char *buf, size_t size, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
static int make_path(char *buf, size_t size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, size, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= size) {
        fprintf(stderr, "retinaface eval: path too long: %.80s...\n", buf);
        return -1;
    }
    return 0;
}

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void format_duration(char *buf, size_t size, double s)
{
    long t = s < 0 || !isfinite(s) ? 0 : (long)(s + 0.5);
    if (t >= 3600)
        snprintf(buf, size, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
    else
        snprintf(buf, size, "%ld:%02ld", t / 60, t % 60);
}

/* ------------------------------------------------------------------------------ running */

typedef struct {
    rf_wider_box *boxes;
    int count;
} box_list;

typedef struct {
    /* read-only while the workers run */
    const char *images_dir;
    const rf_model *model;
    rf_kernels kernels;
    rf_precision precision;
    const rf_wider_gt *gt; /* the ground truth the images are enumerated from */
    const int *todo;       /* image indices into gt */
    int ntodo;
    int run_official, run_omz;
    rf_input_policy policy, omz_policy;
    rf_detect_params official_params, omz_params;
    int progress_tty, progress_lines;
    double start;
    /* one slot per todo entry, each written by the one worker that took it */
    box_list *official, *omz;
    /* under lock */
    pthread_mutex_t lock;
    int next, done, failed;
    char error[4096 + 600];
} run_state;

static void fail_run(run_state *s, const char *msg)
{
    pthread_mutex_lock(&s->lock);
    if (!s->failed)
        snprintf(s->error, sizeof s->error, "%s", msg);
    s->failed = 1;
    pthread_mutex_unlock(&s->lock);
}

/* Called under the lock after each image. */
static void show_progress(run_state *s)
{
    if (!s->progress_tty && !s->progress_lines)
        return;
    double el = now_seconds() - s->start, rate = s->done / (el > 0 ? el : 1e-9);
    char eta[32], elapsed[32];
    format_duration(eta, sizeof eta, (s->ntodo - s->done) / rate);
    format_duration(elapsed, sizeof elapsed, el);
    if (s->progress_tty) {
        char bar[31];
        int fill = (int)(30.0 * s->done / s->ntodo);
        for (int i = 0; i < 30; i++)
            bar[i] = i < fill ? '#' : '.';
        bar[30] = '\0';
        fprintf(stderr, "\r%5d/%d [%s] %3d%%  %.2f img/s  %s %s ", s->done, s->ntodo, bar,
                100 * s->done / s->ntodo, rate, s->done == s->ntodo ? "took" : "ETA",
                s->done == s->ntodo ? elapsed : eta);
        if (s->done == s->ntodo)
            fputc('\n', stderr);
    } else if (s->done % PROGRESS_EVERY == 0 || s->done == s->ntodo) {
        fprintf(stderr, "retinaface eval: %d/%d images, %s elapsed, ETA %s\n", s->done, s->ntodo,
                elapsed, eta);
    }
    fflush(stderr);
}

/* Runs one detection and converts the faces as the protocol writes them, in score order. */
static rf_status detect_boxes(rf_context *ctx, const rf_image *img, const rf_input_policy *policy,
                              const rf_detect_params *params, int omz, rf_faces *faces,
                              box_list *out, rf_error *err)
{
    rf_status st = rf_detect(ctx, img, policy, params, faces, err);
    if (st != RF_OK)
        return st;
    out->boxes = malloc(sizeof *out->boxes * (size_t)(faces->count ? faces->count : 1));
    if (!out->boxes)
        return RF_E_NOMEM;
    for (int k = 0; k < faces->count; k++)
        out->boxes[k] = omz ? rf_wider_box_omz(&faces->faces[k])
                            : rf_wider_box_official(&faces->faces[k]);
    out->count = faces->count;
    return rf_wider_boxes_sort(out->boxes, out->count, err);
}

static void *worker(void *arg)
{
    run_state *s = arg;
    rf_context *ctx = NULL;
    rf_error err;
    rf_faces faces = {0};
    char msg[4096 + 600];
    rf_context_options co = rf_context_options_default();
    co.threads = 1;
    co.kernels = s->kernels;
    co.precision = s->precision;
    if (rf_context_create(s->model, &co, &ctx, &err) != RF_OK) {
        fail_run(s, err.message);
        return NULL;
    }
    for (;;) {
        pthread_mutex_lock(&s->lock);
        int k = s->failed || s->next >= s->ntodo ? -1 : s->next++;
        pthread_mutex_unlock(&s->lock);
        if (k < 0)
            break;
        const rf_wider_image *gi = &s->gt->images[s->todo[k]];
        char path[4096];
        if (make_path(path, sizeof path, "%s/%s/%s.jpg", s->images_dir, gi->event, gi->name)) {
            fail_run(s, "an image path is too long");
            break;
        }
        rf_image_buf img;
        if (rf_image_load(path, &img, &err) != RF_OK) {
            fail_run(s, err.message);
            break;
        }
        rf_status st = RF_OK;
        err.message[0] = '\0';
        if (s->run_official)
            st = detect_boxes(ctx, &img.image, &s->policy, &s->official_params, 0, &faces,
                              &s->official[k], &err);
        if (st == RF_OK && s->run_omz)
            st = detect_boxes(ctx, &img.image, &s->omz_policy, &s->omz_params, 1, &faces,
                              &s->omz[k], &err);
        rf_image_buf_free(&img);
        if (st != RF_OK) {
            snprintf(msg, sizeof msg, "%s: %s", path,
                     err.message[0] ? err.message : rf_status_name(st));
            fail_run(s, msg);
            break;
        }
        pthread_mutex_lock(&s->lock);
        s->done++;
        show_progress(s);
        pthread_mutex_unlock(&s->lock);
    }
    rf_faces_free(&faces);
    rf_context_free(ctx);
    return NULL;
}

/* Detection over the todo images with o->model.threads workers; fills the slots. */
static int run_model(const eval_options *o, const rf_model *model, run_state *s)
{
    int nthreads = o->model.threads < s->ntodo ? o->model.threads : s->ntodo;
    pthread_t *threads = calloc((size_t)nthreads, sizeof *threads);
    if (!threads || pthread_mutex_init(&s->lock, NULL) != 0) {
        free(threads);
        fprintf(stderr, "retinaface eval: cannot start workers\n");
        return -1;
    }
    s->model = model;
    s->start = now_seconds();
    int started = 0;
    for (; started < nthreads; started++)
        if (pthread_create(&threads[started], NULL, worker, s) != 0)
            break;
    if (started == 0)
        fail_run(s, "cannot start a worker thread");
    for (int i = 0; i < started; i++)
        pthread_join(threads[i], NULL);
    pthread_mutex_destroy(&s->lock);
    free(threads);
    if (s->failed) {
        if (s->progress_tty)
            fputc('\n', stderr);
        fprintf(stderr, "retinaface eval: %s\n", s->error);
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------------------ results */

typedef struct {
    int have_wider, have_omz;
    rf_eval_curve wider[3], omz;
    int wider_images, omz_images, total_images;
    double seconds;
} summary;

static const char *policy_text(const rf_input_policy *p, char *buf, size_t size)
{
    if (p->mode == RF_INPUT_STRETCH)
        snprintf(buf, size, "stretch %dx%d", p->width, p->height);
    else if (p->mode == RF_INPUT_LONG_SIDE)
        snprintf(buf, size, "long side %d", p->long_side);
    else
        snprintf(buf, size, "original size");
    return buf;
}

static void write_json(FILE *f, const eval_options *o, const summary *sm)
{
    char buf[64];
    fputs("{\n  \"protocol\": ", f);
    cli_json_string(f, o->protocols == (PROTO_WIDER | PROTO_OMZ) ? "both"
                       : o->protocols == PROTO_WIDER ? "wider" : "omz");
    fputs(",\n  \"model\": ", f);
    if (o->model.model) {
        cli_json_string(f, o->model.model);
        fputs(",\n  \"anchors\": ", f);
        cli_json_string(f, rf_anchors_name(o->model.anchors));
        fputs(",\n  \"input\": ", f);
        cli_json_string(f, policy_text(&o->model.policy, buf, sizeof buf));
    } else {
        fputs("null,\n  \"predictions\": ", f);
        cli_json_string(f, o->predictions);
    }
    fprintf(f, ",\n  \"images\": %d,\n  \"images_total\": %d",
            sm->have_wider ? sm->wider_images : sm->omz_images, sm->total_images);
    for (int s = 0; s < 3; s++) {
        fprintf(f, ",\n  \"%s\": ", rf_wider_setting_name((rf_wider_setting)s));
        if (sm->have_wider)
            fprintf(f, "%.6f", sm->wider[s].ap);
        else
            fputs("null", f);
    }
    if (sm->have_wider)
        fprintf(f, ",\n  \"faces\": {\"easy\": %lld, \"medium\": %lld, \"hard\": %lld},\n"
                   "  \"detections\": %lld",
                (long long)sm->wider[0].faces, (long long)sm->wider[1].faces,
                (long long)sm->wider[2].faces, (long long)sm->wider[0].detections);
    fputs(",\n  \"omz_ap\": ", f);
    if (sm->have_omz)
        fprintf(f, "%.6f,\n  \"omz_images\": %d,\n  \"omz_faces\": %lld,\n"
                   "  \"omz_detections\": %lld",
                sm->omz.ap, sm->omz_images, (long long)sm->omz.faces,
                (long long)sm->omz.detections);
    else
        fputs("null", f);
    fprintf(f, ",\n  \"seconds\": %.1f\n}\n", sm->seconds);
}

static void print_table(FILE *f, const eval_options *o, const summary *sm)
{
    char buf[64];
    fprintf(f, "WIDER FACE val: %d of %d images evaluated", 
            sm->have_wider ? sm->wider_images : sm->omz_images, sm->total_images);
    if (o->model.model)
        fprintf(f, " (%s, anchors %s, input %s)\n", o->model.model,
                rf_anchors_name(o->model.anchors), policy_text(&o->model.policy, buf, sizeof buf));
    else
        fprintf(f, " (result files in %s)\n", o->predictions);
    fprintf(f, "  %-9s %-7s %8s %8s %11s\n", "protocol", "setting", "AP", "faces", "detections");
    for (int s = 0; sm->have_wider && s < 3; s++)
        fprintf(f, "  %-9s %-7s %7.2f%% %8lld %11lld\n", "official",
                rf_wider_setting_name((rf_wider_setting)s), 100 * sm->wider[s].ap,
                (long long)sm->wider[s].faces, (long long)sm->wider[s].detections);
    if (sm->have_omz)
        fprintf(f, "  %-9s %-7s %7.2f%% %8lld %11lld   (%d images%s)\n", "omz", "h>=64",
                100 * sm->omz.ap, (long long)sm->omz.faces, (long long)sm->omz.detections,
                sm->omz_images, o->model.model ? ", stretched to 640x640" : "");
}

static int write_outputs(const eval_options *o, const summary *sm)
{
    rf_error err;
    char path[4096];
    if (sm->have_wider) {
        for (int s = 0; s < 3; s++) {
            char title[96];
            const char *label = rf_wider_setting_name((rf_wider_setting)s);
            snprintf(title, sizeof title, "WIDER FACE val, %s (%d images)", label,
                     sm->wider_images);
            if (make_path(path, sizeof path, "%s/pr_%s.svg", o->out_dir, label))
                return -1;
            if (rf_eval_plot_svg(path, title, &sm->wider[s], &label, 1, &err) != RF_OK)
                goto fail;
        }
    }
    if (sm->have_omz) {
        char title[96];
        const char *label = "Open Model Zoo";
        snprintf(title, sizeof title, "WIDER FACE val, Open Model Zoo protocol (%d images)",
                 sm->omz_images);
        if (make_path(path, sizeof path, "%s/pr_omz.svg", o->out_dir))
            return -1;
        if (rf_eval_plot_svg(path, title, &sm->omz, &label, 1, &err) != RF_OK)
            goto fail;
    }
    if (make_path(path, sizeof path, "%s/summary.json", o->out_dir))
        return -1;
    cli_output summary;
    if (cli_output_open(CMD, path, &summary))
        return -1;
    write_json(summary.f, o, sm);
    return cli_output_close(CMD, &summary, 1);
fail:
    fprintf(stderr, "retinaface eval: %s\n", err.message);
    return -1;
}

/* ------------------------------------------------------------------------------ the command */

typedef struct {
    rf_wider_gt official, text;
    rf_wider_preds wider_preds, omz_preds;
    int *todo;
    box_list *official_boxes, *omz_boxes;
    int ntodo;
    rf_model *model;
} eval_state;

static void free_boxes(box_list *b, int n)
{
    for (int i = 0; b && i < n; i++)
        free(b[i].boxes);
    free(b);
}

static void free_state(eval_state *e)
{
    rf_wider_gt_free(&e->official);
    rf_wider_gt_free(&e->text);
    rf_wider_preds_free(&e->wider_preds);
    rf_wider_preds_free(&e->omz_preds);
    free_boxes(e->official_boxes, e->ntodo);
    free_boxes(e->omz_boxes, e->ntodo);
    free(e->todo);
    rf_model_free(e->model);
}

static int load_ground_truth(const eval_options *o, eval_state *e)
{
    rf_error err;
    char path[4096];
    if (!is_dir(o->gt_dir)) {
        fprintf(stderr, "retinaface eval: --gt %s: not a directory\n", o->gt_dir);
        return -1;
    }
    if ((o->protocols & PROTO_WIDER) && rf_wider_gt_load_official(o->gt_dir, &e->official, &err)) {
        fprintf(stderr, "retinaface eval: %s\n", err.message);
        return -1;
    }
    if (o->protocols & PROTO_OMZ) {
        if (rf_wider_find_file(o->gt_dir, "wider_face_val_bbx_gt.txt", path, sizeof path, &err) ||
            rf_wider_gt_load_txt(path, &e->text, &err)) {
            fprintf(stderr, "retinaface eval: %s\n", err.message);
            return -1;
        }
    }
    return 0;
}

/* Result files: DIR itself, or the predictions/ and predictions_omz/ of an --out folder. */
static int load_predictions(const eval_options *o, eval_state *e)
{
    rf_error err;
    char wider_dir[4096], omz_dir[4096];
    if (make_path(wider_dir, sizeof wider_dir, "%s/predictions", o->predictions))
        return -1;
    if (!is_dir(wider_dir))
        strcpy(wider_dir, o->predictions); /* shorter than what just fitted */
    if (o->omz_predictions) {
        if (make_path(omz_dir, sizeof omz_dir, "%s", o->omz_predictions))
            return -1;
    } else {
        if (make_path(omz_dir, sizeof omz_dir, "%s/predictions_omz", o->predictions))
            return -1;
        if (!is_dir(omz_dir))
            strcpy(omz_dir, wider_dir);
    }
    if (((o->protocols & PROTO_WIDER) &&
         rf_wider_preds_load(wider_dir, &e->official, &e->wider_preds, &err)) ||
        ((o->protocols & PROTO_OMZ) && rf_wider_preds_load(omz_dir, &e->text, &e->omz_preds, &err))) {
        fprintf(stderr, "retinaface eval: %s\n", err.message);
        return -1;
    }
    if (o->limit) {
        /* keep the first N present images of each, as --limit does for images */
        rf_wider_preds *sets[2] = {&e->wider_preds, &e->omz_preds};
        for (int p = 0; p < 2; p++) {
            int seen = 0;
            for (int i = 0; i < sets[p]->count; i++)
                if (sets[p]->images[i].present && ++seen > o->limit) {
                    sets[p]->images[i].present = 0;
                    sets[p]->present--;
                }
        }
    }
    if (((o->protocols & PROTO_WIDER) && e->wider_preds.present == 0) ||
        ((o->protocols & PROTO_OMZ) && e->omz_preds.present == 0)) {
        fprintf(stderr, "retinaface eval: no result file for any WIDER val image in %s "
                        "(expected %s/<event>/<name>.txt)\n",
                (o->protocols & PROTO_WIDER) && e->wider_preds.present == 0 ? wider_dir : omz_dir,
                (o->protocols & PROTO_WIDER) && e->wider_preds.present == 0 ? wider_dir : omz_dir);
        return -1;
    }
    return 0;
}

/* The images present under the images folder, then detection, then the predictions. */
static int run_detection(const eval_options *o, eval_state *e)
{
    rf_error err;
    char images_dir[4096], path[4096];
    const rf_wider_gt *gt = (o->protocols & PROTO_WIDER) ? &e->official : &e->text;
    if (o->images_dir) {
        if (make_path(images_dir, sizeof images_dir, "%s", o->images_dir))
            return -1;
    } else {
        if (make_path(images_dir, sizeof images_dir, "%s/val/images", o->gt_dir))
            return -1;
        if (!is_dir(images_dir) &&
            make_path(images_dir, sizeof images_dir, "%s/WIDER_val/images", o->gt_dir))
            return -1;
        if (!is_dir(images_dir)) {
            fprintf(stderr, "retinaface eval: no --images given and neither %s/val/images nor "
                            "%s/WIDER_val/images exists\n", o->gt_dir, o->gt_dir);
            return -1;
        }
    }
    if (!is_dir(images_dir)) {
        fprintf(stderr, "retinaface eval: --images %s: not a directory\n", images_dir);
        return -1;
    }
    if (!(e->todo = malloc(sizeof *e->todo * (size_t)(gt->count ? gt->count : 1)))) {
        fprintf(stderr, "retinaface eval: out of memory\n");
        return -1;
    }
    for (int i = 0; i < gt->count && (!o->limit || e->ntodo < o->limit); i++) {
        struct stat st;
        if (make_path(path, sizeof path, "%s/%s/%s.jpg", images_dir, gt->images[i].event,
                      gt->images[i].name))
            return -1;
        if (stat(path, &st) == 0 && S_ISREG(st.st_mode))
            e->todo[e->ntodo++] = i;
    }
    if (e->ntodo == 0) {
        fprintf(stderr, "retinaface eval: no WIDER val image found under %s (expected "
                        "%s/<event>/<name>.jpg)\n", images_dir, images_dir);
        return -1;
    }
    if (cli_load_model(&o->model, &e->model, &err) != RF_OK) {
        fprintf(stderr, "retinaface eval: %s\n", err.message);
        return -1;
    }
    e->official_boxes = calloc((size_t)e->ntodo, sizeof *e->official_boxes);
    e->omz_boxes = calloc((size_t)e->ntodo, sizeof *e->omz_boxes);
    if (!e->official_boxes || !e->omz_boxes) {
        fprintf(stderr, "retinaface eval: out of memory\n");
        return -1;
    }
    if (!o->quiet)
        fprintf(stderr, "retinaface eval: %d of the %d WIDER FACE val images found under %s\n",
                e->ntodo, RF_WIDER_VAL_IMAGES, images_dir);

    run_state s;
    memset(&s, 0, sizeof s);
    s.images_dir = images_dir;
    s.kernels = o->model.kernels;
    s.precision = o->model.precision;
    s.gt = gt;
    s.todo = e->todo;
    s.ntodo = e->ntodo;
    s.run_official = (o->protocols & PROTO_WIDER) != 0;
    s.run_omz = (o->protocols & PROTO_OMZ) != 0;
    s.policy = o->model.policy;
    s.omz_policy = rf_input_policy_stretch(640, 640);
    /* the original test_widerface.py: no caps, NMS with the +1 convention on image pixels */
    s.official_params = rf_detect_params_default();
    s.official_params.score_threshold = o->score_threshold;
    s.official_params.nms_threshold = o->nms_threshold;
    s.official_params.pre_nms_top_k = 0;
    s.official_params.keep_top_k = 0;
    s.official_params.nms_offset = 1;
    s.official_params.nms_in_network_pixels = 0;
    /* Open Model Zoo: keep_top_k 750 applied before NMS, NMS without +1 on the 640x640 input */
    s.omz_params = s.official_params;
    s.omz_params.pre_nms_top_k = 750;
    s.omz_params.nms_offset = 0;
    s.omz_params.nms_in_network_pixels = 1;
    s.progress_tty = !o->quiet && isatty(fileno(stderr));
    s.progress_lines = !o->quiet && !s.progress_tty;
    s.official = e->official_boxes;
    s.omz = e->omz_boxes;
    if (run_model(o, e->model, &s))
        return -1;

    if (((o->protocols & PROTO_WIDER) && rf_wider_preds_init(&e->official, &e->wider_preds, &err)) ||
        ((o->protocols & PROTO_OMZ) && rf_wider_preds_init(&e->text, &e->omz_preds, &err))) {
        fprintf(stderr, "retinaface eval: %s\n", err.message);
        return -1;
    }
    for (int k = 0; k < e->ntodo; k++) {
        const rf_wider_image *gi = &gt->images[e->todo[k]];
        if ((o->protocols & PROTO_WIDER) &&
            rf_wider_preds_set(&e->wider_preds, e->todo[k], e->official_boxes[k].boxes,
                               e->official_boxes[k].count, &err))
            goto fail;
        if (o->protocols & PROTO_OMZ) {
            /* the text ground truth may list images in another order than the .mat */
            int j = gt == &e->text ? e->todo[k] : rf_wider_gt_find(&e->text, gi->event, gi->name);
            if (j >= 0 && rf_wider_preds_set(&e->omz_preds, j, e->omz_boxes[k].boxes,
                                             e->omz_boxes[k].count, &err))
                goto fail;
        }
        if (o->out_dir) {
            char dir[4096];
            if ((o->protocols & PROTO_WIDER)) {
                if (make_path(dir, sizeof dir, "%s/predictions", o->out_dir))
                    return -1;
                if (rf_wider_result_write(dir, gi->event, gi->name, e->official_boxes[k].boxes,
                                          e->official_boxes[k].count, &err))
                    goto fail;
            }
            if ((o->protocols & PROTO_OMZ)) {
                if (make_path(dir, sizeof dir, "%s/predictions_omz", o->out_dir))
                    return -1;
                if (rf_wider_result_write(dir, gi->event, gi->name, e->omz_boxes[k].boxes,
                                          e->omz_boxes[k].count, &err))
                    goto fail;
            }
        }
    }
    return 0;
fail:
    fprintf(stderr, "retinaface eval: %s\n", err.message);
    return -1;
}

int cmd_eval(int argc, char **argv)
{
    eval_options o;
    int r = parse_args(argc, argv, &o);
    if (r != 0)
        return r > 0 ? CLI_EXIT_OK : CLI_EXIT_USAGE;
    double start = now_seconds();
    eval_state e;
    memset(&e, 0, sizeof e);
    summary sm;
    memset(&sm, 0, sizeof sm);
    int rc = CLI_EXIT_FAILURE;
    rf_error err;
    if (o.out_dir && cli_make_dir(CMD, o.out_dir))
        goto done;
    if (load_ground_truth(&o, &e))
        goto done;
    if (o.predictions ? load_predictions(&o, &e) : run_detection(&o, &e))
        goto done;

    sm.have_wider = (o.protocols & PROTO_WIDER) != 0;
    sm.have_omz = (o.protocols & PROTO_OMZ) != 0;
    sm.total_images = sm.have_wider ? e.official.count : e.text.count;
    sm.wider_images = e.wider_preds.present;
    sm.omz_images = e.omz_preds.present;
    for (int s = 0; sm.have_wider && s < 3; s++)
        if (rf_eval_official(&e.official, &e.wider_preds, (rf_wider_setting)s, &sm.wider[s], &err))
            goto eval_fail;
    if (sm.have_omz && rf_eval_omz(&e.text, &e.omz_preds, &sm.omz, &err))
        goto eval_fail;
    sm.seconds = now_seconds() - start;

    int json_stdout = o.json && strcmp(o.json, "-") == 0;
    print_table(json_stdout ? stderr : stdout, &o, &sm);
    if (o.json) {
        cli_output out;
        if (cli_output_open(CMD, o.json, &out))
            goto done;
        write_json(out.f, &o, &sm);
        if (cli_output_close(CMD, &out, 1))
            goto done;
    }
    if (o.out_dir && write_outputs(&o, &sm))
        goto done;
    rc = CLI_EXIT_OK;
    goto done;
eval_fail:
    fprintf(stderr, "retinaface eval: %s\n", err.message);
done:
    for (int s = 0; s < 3; s++)
        rf_eval_curve_free(&sm.wider[s]);
    rf_eval_curve_free(&sm.omz);
    free_state(&e);
    return rc;
}
