/* wider.c - WIDER FACE ground truth (.mat and .txt), detections as the protocols round them, result files. */
#define _POSIX_C_SOURCE 200809L /* mkdir, stat */
#include "retinaface_eval.h"
#include "base/common.h"
#include "eval/matfile.h"
#include "retinaface_tools.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Ground-truth and result text files larger than this are refused before being read. */
#define WIDER_MAX_TEXT_BYTES (256u << 20)

static const char *const setting_names[3] = {"easy", "medium", "hard"};
static const char *const setting_files[3] = {"wider_easy_val.mat", "wider_medium_val.mat",
                                             "wider_hard_val.mat"};

const char *rf_wider_setting_name(rf_wider_setting setting)
{
    return (unsigned)setting < 3 ? setting_names[setting] : "unknown";
}

static char *dup_str(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

static int is_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

rf_status rf_wider_find_file(const char *dir, const char *file, char *path, size_t size,
                             rf_error *err)
{
    static const char *const subdirs[] = {"", "/ground_truth", "/wider_face_split"};
    if (!dir || !file || !path)
        return rf_fail(err, RF_E_ARG, "rf_wider_find_file: null argument");
    for (int i = 0; i < 3; i++) {
        int n = snprintf(path, size, "%s%s/%s", dir, subdirs[i], file);
        if (n >= 0 && (size_t)n < size && is_file(path))
            return rf_ok(err);
    }
    return rf_fail(err, RF_E_IO, "%s: not found in %s, %s/ground_truth or %s/wider_face_split",
                   file, dir, dir, dir);
}

void rf_wider_gt_free(rf_wider_gt *gt)
{
    if (!gt)
        return;
    for (int i = 0; i < gt->count; i++) {
        free(gt->images[i].event);
        free(gt->images[i].name);
        free(gt->images[i].boxes);
        free(gt->images[i].keep);
    }
    free(gt->images);
    gt->images = NULL;
    gt->count = 0;
}

int rf_wider_gt_find(const rf_wider_gt *gt, const char *event, const char *name)
{
    for (int i = 0; gt && i < gt->count; i++)
        if (strcmp(gt->images[i].name, name) == 0 && strcmp(gt->images[i].event, event) == 0)
            return i;
    return -1;
}

/* ------------------------------------------------------------------------------ .mat */

/* A cell array variable that must exist; the message names the file and the variable. */
static rf_status need_cell(const rf_mat_file *f, const char *path, const char *var,
                           size_t numel, const rf_mat_array **out, rf_error *err)
{
    const rf_mat_array *a = rf_mat_find(f, var);
    if (!a)
        return rf_fail(err, RF_E_FORMAT, "%s: no variable '%s'", path, var);
    if (a->kind != RF_MAT_CELL)
        return rf_fail(err, RF_E_FORMAT, "%s: '%s' is not a cell array", path, var);
    if (numel != (size_t)-1 && a->numel != numel)
        return rf_fail(err, RF_E_FORMAT, "%s: '%s' has %zu entries, expected %zu", path, var,
                       a->numel, numel);
    *out = a;
    return RF_OK;
}

static rf_status load_boxes(const rf_mat_array *m, const char *path, rf_wider_image *img,
                            rf_error *err)
{
    if (m->kind != RF_MAT_NUMERIC)
        return rf_fail(err, RF_E_FORMAT, "%s: face_bbx_list of %s/%s is not numeric", path,
                       img->event, img->name);
    if (m->numel == 0)
        return RF_OK;
    if (m->ndims != 2 || m->dims[1] != 4 || m->dims[0] > 1000000)
        return rf_fail(err, RF_E_FORMAT, "%s: face_bbx_list of %s/%s is not an N x 4 matrix",
                       path, img->event, img->name);
    int k = (int)m->dims[0];
    if (!(img->boxes = malloc(sizeof(double) * 4 * (size_t)k)) ||
        !(img->keep = calloc((size_t)k, 1)))
        return rf_fail(err, RF_E_NOMEM, "%s: out of memory", path);
    for (int r = 0; r < k; r++)
        for (int c = 0; c < 4; c++) {
            double v = m->values[(size_t)r + (size_t)c * (size_t)k]; /* column-major */
            if (!isfinite(v))
                return rf_fail(err, RF_E_FORMAT, "%s: face %d of %s/%s is not finite", path, r + 1,
                               img->event, img->name);
            img->boxes[4 * r + c] = v;
        }
    img->count = k;
    return RF_OK;
}

static rf_status load_val_mat(const char *path, rf_wider_gt *out, rf_error *err)
{
    rf_mat_file f;
    rf_status st = rf_mat_load(path, &f, err);
    if (st != RF_OK)
        return st;
    const rf_mat_array *events, *files, *boxes;
    if ((st = need_cell(&f, path, "event_list", (size_t)-1, &events, err)) != RF_OK ||
        (st = need_cell(&f, path, "file_list", events->numel, &files, err)) != RF_OK ||
        (st = need_cell(&f, path, "face_bbx_list", events->numel, &boxes, err)) != RF_OK)
        goto done;
    size_t total = 0;
    for (size_t e = 0; e < events->numel; e++) {
        if (files->cells[e].kind != RF_MAT_CELL || boxes->cells[e].kind != RF_MAT_CELL ||
            boxes->cells[e].numel != files->cells[e].numel) {
            st = rf_fail(err, RF_E_FORMAT, "%s: file_list and face_bbx_list of event %zu do not "
                         "match", path, e + 1);
            goto done;
        }
        total += files->cells[e].numel;
    }
    if (total > 10000000 || !(out->images = calloc(total ? total : 1, sizeof *out->images))) {
        st = rf_fail(err, total > 10000000 ? RF_E_LIMIT : RF_E_NOMEM, "%s: %zu images", path,
                     total);
        goto done;
    }
    for (size_t e = 0; e < events->numel; e++) {
        char *event = rf_mat_string(&events->cells[e]);
        if (!event) {
            st = rf_fail(err, RF_E_FORMAT, "%s: event_list entry %zu is not a string", path, e + 1);
            goto done;
        }
        for (size_t j = 0; j < files->cells[e].numel; j++) {
            rf_wider_image *img = &out->images[out->count++];
            img->event = dup_str(event, strlen(event));
            img->name = rf_mat_string(&files->cells[e].cells[j]);
            if (!img->event || !img->name) {
                st = rf_fail(err, RF_E_FORMAT, "%s: file_list entry %zu of %s is not a string",
                             path, j + 1, event);
                break;
            }
            if ((st = load_boxes(&boxes->cells[e].cells[j], path, img, err)) != RF_OK)
                break;
        }
        free(event);
        if (st != RF_OK)
            goto done;
    }
done:
    rf_mat_free(&f);
    return st;
}

/* Sets bit `setting` of keep for the faces listed in the file's gt_list. */
static rf_status load_setting_mat(const char *path, int setting, rf_wider_gt *gt, rf_error *err)
{
    rf_mat_file f;
    rf_status st = rf_mat_load(path, &f, err);
    if (st != RF_OK)
        return st;
    const rf_mat_array *lists;
    if ((st = need_cell(&f, path, "gt_list", (size_t)-1, &lists, err)) != RF_OK)
        goto done;
    int i = 0;
    for (size_t e = 0; e < lists->numel; e++) {
        const rf_mat_array *ev = &lists->cells[e];
        if (ev->kind != RF_MAT_CELL || ev->numel > (size_t)(gt->count - i)) {
            st = rf_fail(err, RF_E_FORMAT, "%s: gt_list event %zu does not match "
                         "wider_face_val.mat", path, e + 1);
            goto done;
        }
        for (size_t j = 0; j < ev->numel; j++, i++) {
            const rf_mat_array *m = &ev->cells[j];
            rf_wider_image *img = &gt->images[i];
            if (m->kind != RF_MAT_NUMERIC) {
                st = rf_fail(err, RF_E_FORMAT, "%s: gt_list of %s/%s is not numeric", path,
                             img->event, img->name);
                goto done;
            }
            for (size_t k = 0; k < m->numel; k++) {
                double v = m->values[k];
                if (!(v >= 1 && v <= img->count && v == floor(v))) {
                    st = rf_fail(err, RF_E_FORMAT, "%s: gt_list of %s/%s holds %g, not a face "
                                 "index in 1..%d", path, img->event, img->name, v, img->count);
                    goto done;
                }
                img->keep[(int)v - 1] |= (uint8_t)(1u << setting);
            }
        }
    }
    if (i != gt->count)
        st = rf_fail(err, RF_E_FORMAT, "%s: gt_list covers %d images, wider_face_val.mat %d",
                     path, i, gt->count);
done:
    rf_mat_free(&f);
    return st;
}

rf_status rf_wider_gt_load_mat(const char *val_mat, const char *const settings[3],
                               rf_wider_gt *out, rf_error *err)
{
    if (!val_mat || !settings || !out)
        return rf_fail(err, RF_E_ARG, "rf_wider_gt_load_mat: null argument");
    memset(out, 0, sizeof *out);
    rf_status st = load_val_mat(val_mat, out, err);
    for (int s = 0; s < 3 && st == RF_OK; s++) {
        if (!settings[s])
            st = rf_fail(err, RF_E_ARG, "rf_wider_gt_load_mat: no %s file", setting_names[s]);
        else
            st = load_setting_mat(settings[s], s, out, err);
    }
    if (st != RF_OK) {
        rf_wider_gt_free(out);
        return st;
    }
    return rf_ok(err);
}

rf_status rf_wider_gt_load_official(const char *dir, rf_wider_gt *out, rf_error *err)
{
    char paths[4][4096];
    const char *settings[3] = {paths[1], paths[2], paths[3]};
    rf_status st;
    if (!out)
        return rf_fail(err, RF_E_ARG, "rf_wider_gt_load_official: null argument");
    memset(out, 0, sizeof *out);
    if ((st = rf_wider_find_file(dir, "wider_face_val.mat", paths[0], sizeof paths[0], err)))
        return st;
    for (int s = 0; s < 3; s++)
        if ((st = rf_wider_find_file(dir, setting_files[s], paths[s + 1], sizeof paths[s + 1],
                                     err)))
            return st;
    return rf_wider_gt_load_mat(paths[0], settings, out, err);
}

/* ------------------------------------------------------------------------------ .txt */

typedef struct {
    const char *p, *end;
    int number; /* 1-based number of the line last returned */
} line_reader;

/* The next line without its end-of-line characters; 0 at the end of the text. */
static int next_line(line_reader *lr, const char **s, size_t *n)
{
    if (lr->p >= lr->end)
        return 0;
    const char *nl = memchr(lr->p, '\n', (size_t)(lr->end - lr->p));
    const char *e = nl ? nl : lr->end;
    *s = lr->p;
    *n = (size_t)(e - lr->p);
    while (*n && ((*s)[*n - 1] == '\r' || (*s)[*n - 1] == ' ' || (*s)[*n - 1] == '\t'))
        (*n)--;
    lr->p = nl ? nl + 1 : lr->end;
    lr->number++;
    return 1;
}

/* Parses up to `want` whitespace-separated finite numbers from a line (not NUL-terminated);
 * returns how many were read, or -1 at a token that is not a number. */
static int parse_numbers(const char *s, size_t n, double *out, int want)
{
    char buf[64];
    int got = 0;
    size_t i = 0;
    while (got < want) {
        while (i < n && (s[i] == ' ' || s[i] == '\t'))
            i++;
        if (i == n)
            break;
        size_t j = i;
        while (j < n && s[j] != ' ' && s[j] != '\t')
            j++;
        if (j - i >= sizeof buf)
            return -1;
        memcpy(buf, s + i, j - i);
        buf[j - i] = '\0';
        char *endp;
        double v = strtod(buf, &endp);
        if (*endp || endp == buf || !isfinite(v))
            return -1;
        out[got++] = v;
        i = j;
    }
    return got;
}

/* A count line: a non-negative integer below 2^31. */
static int parse_count(const char *s, size_t n, long *out)
{
    double v[2]; /* room for a second number, whose presence makes the line bad */
    if (parse_numbers(s, n, v, 2) != 1 || v[0] < 0 || v[0] != floor(v[0]) || v[0] > 2147483647.0)
        return -1;
    *out = (long)v[0];
    return 0;
}

static int has_jpg(const char *s, size_t n)
{
    for (size_t i = 0; i + 4 <= n; i++)
        if (memcmp(s + i, ".jpg", 4) == 0)
            return 1;
    return 0;
}

rf_status rf_wider_gt_parse_txt(const char *text, size_t size, const char *name,
                                rf_wider_gt *out, rf_error *err)
{
    if (!out || (!text && size))
        return rf_fail(err, RF_E_ARG, "rf_wider_gt_parse_txt: null argument");
    if (!name)
        name = "(memory)";
    memset(out, 0, sizeof *out);
    line_reader lr = {text, text + size, 0};
    const char *s;
    size_t n;
    int cap = 0;
    rf_status st = RF_OK;
    while (next_line(&lr, &s, &n)) {
        /* as the Open Model Zoo converter: image lines are those naming a .jpg */
        if (!has_jpg(s, n))
            continue;
        const char *slash = NULL;
        for (size_t i = 0; i < n; i++)
            if (s[i] == '/')
                slash = s + i;
        size_t base = slash ? (size_t)(slash + 1 - s) : 0, stem = n;
        for (size_t i = n; i > base; i--)
            if (s[i - 1] == '.') {
                stem = i - 1;
                break;
            }
        if (!slash || slash == s || stem == base) {
            st = rf_fail(err, RF_E_FORMAT, "%s:%d: image line is not <event>/<name>.jpg", name,
                         lr.number);
            goto fail;
        }
        if (out->count == cap) {
            int ncap = cap ? 2 * cap : 4096;
            rf_wider_image *ni = realloc(out->images, sizeof *ni * (size_t)ncap);
            if (!ni) {
                st = rf_fail(err, RF_E_NOMEM, "%s: out of memory", name);
                goto fail;
            }
            out->images = ni;
            cap = ncap;
        }
        rf_wider_image *img = &out->images[out->count++];
        memset(img, 0, sizeof *img);
        img->event = dup_str(s, (size_t)(slash - s));
        img->name = dup_str(s + base, stem - base);
        if (!img->event || !img->name) {
            st = rf_fail(err, RF_E_NOMEM, "%s: out of memory", name);
            goto fail;
        }
        long count;
        if (!next_line(&lr, &s, &n) || parse_count(s, n, &count)) {
            st = rf_fail(err, RF_E_FORMAT, "%s:%d: expected the face count of %s/%s", name,
                         lr.number, img->event, img->name);
            goto fail;
        }
        /* each face line takes at least 8 bytes ("0 0 0 0\n"): bound the allocation by them */
        if ((size_t)count > (size_t)(lr.end - lr.p) / 8 + 1) {
            st = rf_fail(err, RF_E_FORMAT, "%s:%d: %ld faces, but the file ends first", name,
                         lr.number, count);
            goto fail;
        }
        if (count && !(img->boxes = malloc(sizeof(double) * 4 * (size_t)count))) {
            st = rf_fail(err, RF_E_NOMEM, "%s: out of memory", name);
            goto fail;
        }
        for (long k = 0; k < count; k++) {
            if (!next_line(&lr, &s, &n) || parse_numbers(s, n, img->boxes + 4 * k, 4) != 4) {
                st = rf_fail(err, RF_E_FORMAT, "%s:%d: face %ld of %s/%s is not 'x y w h ...'",
                             name, lr.number, k + 1, img->event, img->name);
                goto fail;
            }
        }
        img->count = (int)count;
    }
    if (out->count == 0) {
        st = rf_fail(err, RF_E_FORMAT, "%s: no image lines (<event>/<name>.jpg)", name);
        goto fail;
    }
    return rf_ok(err);
fail:
    rf_wider_gt_free(out);
    return st;
}

rf_status rf_wider_gt_load_txt(const char *path, rf_wider_gt *out, rf_error *err)
{
    if (!path || !out)
        return rf_fail(err, RF_E_ARG, "rf_wider_gt_load_txt: null argument");
    memset(out, 0, sizeof *out);
    uint8_t *text;
    size_t size;
    rf_status st = rf_read_file(path, WIDER_MAX_TEXT_BYTES, &text, &size, err);
    if (st != RF_OK)
        return st;
    st = rf_wider_gt_parse_txt((const char *)text, size, path, out, err);
    free(text);
    return st;
}

/* ------------------------------------------------------------------------------ detections */

rf_status rf_wider_preds_init(const rf_wider_gt *gt, rf_wider_preds *out, rf_error *err)
{
    if (!gt || !out)
        return rf_fail(err, RF_E_ARG, "rf_wider_preds_init: null argument");
    memset(out, 0, sizeof *out);
    if (!(out->images = calloc(gt->count ? (size_t)gt->count : 1, sizeof *out->images)))
        return rf_fail(err, RF_E_NOMEM, "rf_wider_preds_init: out of memory");
    out->count = gt->count;
    return rf_ok(err);
}

rf_status rf_wider_preds_set(rf_wider_preds *preds, int index, const rf_wider_box *boxes, int n,
                             rf_error *err)
{
    if (!preds || index < 0 || index >= preds->count || n < 0 || (n && !boxes))
        return rf_fail(err, RF_E_ARG, "rf_wider_preds_set: bad argument");
    rf_wider_result *r = &preds->images[index];
    rf_wider_box *copy = NULL;
    if (n && !(copy = malloc(sizeof *copy * (size_t)n)))
        return rf_fail(err, RF_E_NOMEM, "rf_wider_preds_set: out of memory");
    if (n)
        memcpy(copy, boxes, sizeof *copy * (size_t)n);
    free(r->boxes);
    r->boxes = copy;
    r->count = n;
    if (!r->present)
        preds->present++;
    r->present = 1;
    return rf_ok(err);
}

void rf_wider_preds_free(rf_wider_preds *preds)
{
    if (!preds)
        return;
    for (int i = 0; i < preds->count; i++)
        free(preds->images[i].boxes);
    free(preds->images);
    memset(preds, 0, sizeof *preds);
}

/* The shortest decimal that reads back as the same float32, read as a double: what Python's
 * float(str(numpy.float32(v))) gives, so scores match files written by the original scripts. */
static double float32_decimal(float v)
{
    char buf[32];
    if (!isfinite(v))
        return v;
    for (int p = 1; p <= 9; p++) {
        snprintf(buf, sizeof buf, "%.*g", p, (double)v);
        if (strtof(buf, NULL) == v)
            break;
    }
    return strtod(buf, NULL);
}

rf_wider_box rf_wider_box_official(const rf_face *face)
{
    /* Python's int() of a numpy float32 truncates toward zero */
    double x1 = trunc((double)face->box[0]), y1 = trunc((double)face->box[1]);
    double x2 = trunc((double)face->box[2]), y2 = trunc((double)face->box[3]);
    rf_wider_box b = {x1, y1, x2 - x1, y2 - y1, float32_decimal(face->score)};
    return b;
}

rf_wider_box rf_wider_box_omz(const rf_face *face)
{
    /* numpy.rint: to nearest, ties to even (the default rounding mode) */
    double x1 = nearbyint((double)face->box[0]), y1 = nearbyint((double)face->box[1]);
    double x2 = nearbyint((double)face->box[2]), y2 = nearbyint((double)face->box[3]);
    rf_wider_box b = {x1, y1, x2 - x1, y2 - y1, float32_decimal(face->score)};
    return b;
}

rf_status rf_wider_boxes_sort(rf_wider_box *boxes, int n, rf_error *err)
{
    if (n < 0 || (n && !boxes))
        return rf_fail(err, RF_E_ARG, "rf_wider_boxes_sort: bad argument");
    if (n < 2)
        return rf_ok(err);
    rf_wider_box *tmp = malloc(sizeof *tmp * (size_t)n);
    if (!tmp)
        return rf_fail(err, RF_E_NOMEM, "rf_wider_boxes_sort: out of memory");
    /* bottom-up merge sort: stable, O(n log n) whatever order another detector wrote */
    rf_wider_box *src = boxes, *dst = tmp;
    for (int width = 1; width < n; width *= 2) {
        for (int lo = 0; lo < n; lo += 2 * width) {
            int mid = lo + width < n ? lo + width : n;
            int hi = lo + 2 * width < n ? lo + 2 * width : n;
            int i = lo, j = mid, k = lo;
            while (i < mid && j < hi)
                dst[k++] = src[j].score > src[i].score ? src[j++] : src[i++];
            while (i < mid)
                dst[k++] = src[i++];
            while (j < hi)
                dst[k++] = src[j++];
        }
        rf_wider_box *t = src;
        src = dst;
        dst = t;
    }
    if (src != boxes)
        memcpy(boxes, src, sizeof *boxes * (size_t)n);
    free(tmp);
    return rf_ok(err);
}

/* ------------------------------------------------------------------------------ result files */

/* The shortest text that reads back as exactly v; plain digits for integers. */
static void format_number(char *buf, size_t size, double v)
{
    if (v == floor(v) && fabs(v) < 1e15) {
        snprintf(buf, size, "%.0f", v == 0 ? 0.0 : v);
        return;
    }
    for (int p = 1; p <= 17; p++) {
        snprintf(buf, size, "%.*g", p, v);
        if (strtod(buf, NULL) == v)
            return;
    }
}

static rf_status make_dir(const char *path, rf_error *err)
{
    struct stat st;
    if (mkdir(path, 0777) == 0 || (errno == EEXIST && stat(path, &st) == 0 && S_ISDIR(st.st_mode)))
        return RF_OK;
    return rf_fail(err, RF_E_IO, "%s: cannot create directory: %s", path,
                   errno == EEXIST ? "a file is in the way" : strerror(errno));
}

rf_status rf_wider_result_write(const char *dir, const char *event, const char *name,
                                const rf_wider_box *boxes, int n, rf_error *err)
{
    if (!dir || !event || !name || n < 0 || (n && !boxes))
        return rf_fail(err, RF_E_ARG, "rf_wider_result_write: bad argument");
    char path[4096];
    rf_status st;
    if (snprintf(path, sizeof path, "%s/%s", dir, event) >= (int)sizeof path)
        return rf_fail(err, RF_E_ARG, "%s/%s: path too long", dir, event);
    if ((st = make_dir(dir, err)) != RF_OK || (st = make_dir(path, err)) != RF_OK)
        return st;
    if (snprintf(path, sizeof path, "%s/%s/%s.txt", dir, event, name) >= (int)sizeof path)
        return rf_fail(err, RF_E_ARG, "%s/%s/%s.txt: path too long", dir, event, name);
    rf_output out;
    if ((st = rf_output_open(&out, path, err)) != RF_OK)
        return st;
    FILE *f = out.f;
    fprintf(f, "%s\n%d\n", name, n);
    for (int i = 0; i < n; i++) {
        char v[5][40];
        format_number(v[0], sizeof v[0], boxes[i].x);
        format_number(v[1], sizeof v[1], boxes[i].y);
        format_number(v[2], sizeof v[2], boxes[i].w);
        format_number(v[3], sizeof v[3], boxes[i].h);
        format_number(v[4], sizeof v[4], boxes[i].score);
        fprintf(f, "%s %s %s %s %s\n", v[0], v[1], v[2], v[3], v[4]);
    }
    return rf_output_close(&out, RF_OK, err);
}

rf_status rf_wider_result_parse(const char *text, size_t size, const char *name,
                                rf_wider_box **boxes, int *n, rf_error *err)
{
    if (!boxes || !n || (!text && size))
        return rf_fail(err, RF_E_ARG, "rf_wider_result_parse: null argument");
    if (!name)
        name = "(memory)";
    *boxes = NULL;
    *n = 0;
    line_reader lr = {text, text + size, 0};
    const char *s;
    size_t len;
    long count;
    if (!next_line(&lr, &s, &len))
        return rf_fail(err, RF_E_FORMAT, "%s: empty (expected the image name, then a count)",
                       name);
    if (!next_line(&lr, &s, &len) || parse_count(s, len, &count))
        return rf_fail(err, RF_E_FORMAT, "%s:2: expected the number of boxes", name);
    if ((size_t)count > (size_t)(lr.end - lr.p) / 10 + 1)
        return rf_fail(err, RF_E_FORMAT, "%s:2: declares %ld boxes, but the file ends first",
                       name, count);
    rf_wider_box *b = count ? malloc(sizeof *b * (size_t)count) : NULL;
    if (count && !b)
        return rf_fail(err, RF_E_NOMEM, "%s: out of memory", name);
    int got = 0;
    while (next_line(&lr, &s, &len)) {
        double v[5];
        int k = parse_numbers(s, len, v, 5);
        if (k == 0)
            continue;
        if (k != 5) {
            free(b);
            return rf_fail(err, RF_E_FORMAT, "%s:%d: expected 'x y w h score'", name, lr.number);
        }
        if (got == count) {
            free(b);
            return rf_fail(err, RF_E_FORMAT, "%s:%d: more boxes than the %ld declared", name,
                           lr.number, count);
        }
        b[got++] = (rf_wider_box){v[0], v[1], v[2], v[3], v[4]};
    }
    if (got != count) {
        free(b);
        return rf_fail(err, RF_E_FORMAT, "%s: declares %ld boxes but holds %d", name, count, got);
    }
    *boxes = b;
    *n = got;
    return rf_ok(err);
}

rf_status rf_wider_result_read(const char *path, rf_wider_box **boxes, int *n, rf_error *err)
{
    if (!path)
        return rf_fail(err, RF_E_ARG, "rf_wider_result_read: null argument");
    uint8_t *text;
    size_t size;
    rf_status st = rf_read_file(path, WIDER_MAX_TEXT_BYTES, &text, &size, err);
    if (st != RF_OK)
        return st;
    st = rf_wider_result_parse((const char *)text, size, path, boxes, n, err);
    free(text);
    return st;
}

rf_status rf_wider_preds_load(const char *dir, const rf_wider_gt *gt, rf_wider_preds *out,
                              rf_error *err)
{
    struct stat sb;
    if (!dir || !gt || !out)
        return rf_fail(err, RF_E_ARG, "rf_wider_preds_load: null argument");
    memset(out, 0, sizeof *out);
    if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode))
        return rf_fail(err, RF_E_IO, "%s: not a directory of result files", dir);
    rf_status st = rf_wider_preds_init(gt, out, err);
    for (int i = 0; i < gt->count && st == RF_OK; i++) {
        char path[4096];
        const rf_wider_image *img = &gt->images[i];
        if (snprintf(path, sizeof path, "%s/%s/%s.txt", dir, img->event, img->name) >=
            (int)sizeof path) {
            st = rf_fail(err, RF_E_ARG, "%s: path too long", dir);
            break;
        }
        if (stat(path, &sb) != 0 && errno == ENOENT)
            continue;
        rf_wider_result *r = &out->images[i];
        if ((st = rf_wider_result_read(path, &r->boxes, &r->count, err)) == RF_OK) {
            r->present = 1;
            out->present++;
        }
    }
    if (st != RF_OK)
        rf_wider_preds_free(out);
    return st;
}
