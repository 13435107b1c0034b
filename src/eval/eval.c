/* eval.c - the official WIDER FACE and Open Model Zoo average precision, their PR curves, SVG plots. */
#include "retinaface_eval.h"
#include "base/common.h"
#include "retinaface_tools.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define IOU_THRESHOLD 0.5
#define OFFICIAL_THRESHOLDS 1000
/* Open Model Zoo's retinaface config: clip_boxes size 1024, filter height_range 64, 1024. */
#define OMZ_CLIP 1024.0
#define OMZ_MIN_HEIGHT 64.0
#define OMZ_MAX_HEIGHT 1024.0

void rf_eval_curve_free(rf_eval_curve *curve)
{
    if (!curve)
        return;
    free(curve->recall);
    free(curve->precision);
    curve->recall = curve->precision = NULL;
    curve->points = 0;
}

double rf_eval_voc_ap(const double *recall, const double *precision, int n)
{
    /* with sentinels: mrec = 0, recall..., 1 and mpre = 0, precision..., 0; walking from the
     * right keeps the running maximum, which is the monotone envelope at that point */
    double ap = 0, envelope = 0;
    for (int k = n + 1; k >= 1; k--) {
        double rec = k == n + 1 ? 1.0 : recall[k - 1];
        double pre = k == n + 1 ? 0.0 : precision[k - 1];
        double prev_rec = k == 1 ? 0.0 : recall[k - 2];
        if (pre > envelope)
            envelope = pre;
        if (rec != prev_rec)
            ap += (rec - prev_rec) * envelope;
    }
    return ap;
}

static rf_status check_inputs(const rf_wider_gt *gt, const rf_wider_preds *preds,
                              rf_eval_curve *out, const char *fn, rf_error *err)
{
    if (!gt || !preds || !out)
        return rf_fail(err, RF_E_ARG, "%s: null argument", fn);
    memset(out, 0, sizeof *out);
    if (preds->count != gt->count || (preds->count && !preds->images))
        return rf_fail(err, RF_E_ARG, "%s: predictions made for another ground truth (%d images, "
                       "not %d)", fn, preds->count, gt->count);
    return RF_OK;
}

static rf_status alloc_curve(rf_eval_curve *out, size_t n, rf_error *err)
{
    out->recall = malloc(sizeof(double) * (n ? n : 1));
    out->precision = malloc(sizeof(double) * (n ? n : 1));
    if (!out->recall || !out->precision) {
        rf_eval_curve_free(out);
        return rf_fail(err, RF_E_NOMEM, "evaluation: out of memory for %zu curve points", n);
    }
    return RF_OK;
}

/* ------------------------------------------------------------------------------ official */

/* IoU of the WIDER evaluation (box_overlaps.pyx): corners x, x + w, sizes with +1. */
static double iou_plus1(const rf_wider_box *p, const double *g)
{
    double px2 = p->x + p->w, py2 = p->y + p->h, gx2 = g[0] + g[2], gy2 = g[1] + g[3];
    double iw = fmin(px2, gx2) - fmax(p->x, g[0]) + 1;
    if (!(iw > 0))
        return 0;
    double ih = fmin(py2, gy2) - fmax(p->y, g[1]) + 1;
    if (!(ih > 0))
        return 0;
    double garea = (gx2 - g[0] + 1) * (gy2 - g[1] + 1);
    double ua = (px2 - p->x + 1) * (py2 - p->y + 1) + garea - iw * ih;
    return iw * ih / ua;
}

rf_status rf_eval_official(const rf_wider_gt *gt, const rf_wider_preds *preds,
                           rf_wider_setting setting, rf_eval_curve *out, rf_error *err)
{
    rf_status st = check_inputs(gt, preds, out, "rf_eval_official", err);
    if (st != RF_OK)
        return st;
    if ((unsigned)setting > RF_WIDER_HARD)
        return rf_fail(err, RF_E_ARG, "rf_eval_official: unknown setting %d", (int)setting);
    const uint8_t bit = (uint8_t)(1u << setting);

    /* min-max normalisation over every evaluated detection, starting as the original does
     * from max 0 and min 1 */
    double smax = 0, smin = 1;
    int maxdet = 0, maxgt = 0;
    for (int i = 0; i < gt->count; i++) {
        const rf_wider_result *r = &preds->images[i];
        if (!r->present)
            continue;
        if (gt->images[i].count && !gt->images[i].keep)
            return rf_fail(err, RF_E_ARG, "rf_eval_official: the ground truth has no "
                           "easy/medium/hard lists (load the .mat files)");
        for (int k = 0; k < r->count; k++) {
            if (r->boxes[k].score > smax) smax = r->boxes[k].score;
            if (r->boxes[k].score < smin) smin = r->boxes[k].score;
        }
        if (r->count > maxdet) maxdet = r->count;
        if (gt->images[i].count > maxgt) maxgt = gt->images[i].count;
    }
    /* all scores equal: the original divides by zero; here they all sit at the lowest threshold */
    double range = smax - smin > 0 ? smax - smin : 1;

    int64_t *pr_prop = calloc(OFFICIAL_THRESHOLDS, sizeof *pr_prop);
    int64_t *pr_tp = calloc(OFFICIAL_THRESHOLDS, sizeof *pr_tp);
    rf_wider_box *sorted = malloc(sizeof *sorted * (size_t)(maxdet ? maxdet : 1));
    int *cum_prop = malloc(sizeof(int) * (size_t)(maxdet ? maxdet : 1));
    int *cum_tp = malloc(sizeof(int) * (size_t)(maxdet ? maxdet : 1));
    signed char *recalled = malloc((size_t)(maxgt ? maxgt : 1));
    if (!pr_prop || !pr_tp || !sorted || !cum_prop || !cum_tp || !recalled) {
        st = rf_fail(err, RF_E_NOMEM, "rf_eval_official: out of memory");
        goto done;
    }
    int64_t faces = 0;
    for (int i = 0; i < gt->count; i++) {
        const rf_wider_result *r = &preds->images[i];
        const rf_wider_image *g = &gt->images[i];
        if (!r->present)
            continue;
        out->images++;
        out->detections += r->count;
        for (int j = 0; j < g->count; j++)
            faces += (g->keep[j] & bit) != 0;
        if (g->count == 0 || r->count == 0)
            continue;
        int n = r->count;
        memcpy(sorted, r->boxes, sizeof *sorted * (size_t)n);
        if ((st = rf_wider_boxes_sort(sorted, n, err)) != RF_OK)
            goto done;
        memset(recalled, 0, (size_t)g->count);
        int tp = 0, prop = 0;
        for (int h = 0; h < n; h++) {
            double best = -1;
            int bj = 0;
            for (int j = 0; j < g->count; j++) {
                double o = iou_plus1(&sorted[h], g->boxes + 4 * j);
                if (o > best) { /* first index of the maximum, as numpy's argmax */
                    best = o;
                    bj = j;
                }
            }
            int is_prop = 1;
            if (best >= IOU_THRESHOLD) {
                if (!(g->keep[bj] & bit)) {
                    recalled[bj] = -1;
                    is_prop = 0;
                } else if (recalled[bj] == 0) {
                    recalled[bj] = 1;
                    tp++;
                }
            }
            prop += is_prop;
            cum_prop[h] = prop;
            cum_tp[h] = tp;
        }
        /* detections are in score order, so those at or above a threshold are a prefix */
        int last = -1;
        for (int t = 0; t < OFFICIAL_THRESHOLDS; t++) {
            double thresh = 1.0 - (double)(t + 1) / OFFICIAL_THRESHOLDS;
            while (last + 1 < n && (sorted[last + 1].score - smin) / range >= thresh)
                last++;
            if (last >= 0) {
                pr_prop[t] += cum_prop[last];
                pr_tp[t] += cum_tp[last];
            }
        }
    }
    out->faces = faces;
    if (faces == 0)
        goto done; /* nothing to recall: AP 0, no curve */
    if ((st = alloc_curve(out, OFFICIAL_THRESHOLDS, err)) != RF_OK)
        goto done;
    /* thresholds with no proposal have no precision (0/0 in the original); they all have recall
     * 0 and come first, so leaving them out does not change the AP */
    for (int t = 0; t < OFFICIAL_THRESHOLDS; t++) {
        if (pr_prop[t] == 0)
            continue;
        out->precision[out->points] = (double)pr_tp[t] / (double)pr_prop[t];
        out->recall[out->points] = (double)pr_tp[t] / (double)faces;
        out->points++;
    }
    out->ap = rf_eval_voc_ap(out->recall, out->precision, out->points);
done:
    free(pr_prop);
    free(pr_tp);
    free(sorted);
    free(cum_prop);
    free(cum_tp);
    free(recalled);
    if (st != RF_OK)
        rf_eval_curve_free(out);
    return st == RF_OK ? rf_ok(err) : st;
}

/* ------------------------------------------------------------------------------ Open Model Zoo */

typedef struct {
    double score;
    int image, index;
} det_ref;

/* Score descending; ties in image, then detection order, so the result does not depend on the
 * sort implementation. */
static int cmp_det(const void *a, const void *b)
{
    const det_ref *x = a, *y = b;
    if (x->score != y->score)
        return x->score > y->score ? -1 : 1;
    if (x->image != y->image)
        return x->image < y->image ? -1 : 1;
    return (x->index > y->index) - (x->index < y->index);
}

typedef struct {
    double x1, y1, x2, y2;
    int difficult, used;
} omz_box;

static double clip(double v)
{
    return v < 0 ? 0 : v > OMZ_CLIP ? OMZ_CLIP : v;
}

/* IoU of the accuracy checker without boundaries: sizes are max - min, 0 for an empty union. */
static double iou_omz(const double *p, const omz_box *g)
{
    double ix1 = fmax(g->x1, p[0]), iy1 = fmax(g->y1, p[1]);
    double ix2 = fmin(g->x2, p[2]), iy2 = fmin(g->y2, p[3]);
    double inter = (fmax(ix1, ix2) - ix1) * (fmax(iy1, iy2) - iy1);
    double uni = (p[2] - p[0]) * (p[3] - p[1]) + (g->x2 - g->x1) * (g->y2 - g->y1) - inter;
    return uni != 0 ? inter / uni : 0;
}

rf_status rf_eval_omz(const rf_wider_gt *gt, const rf_wider_preds *preds, rf_eval_curve *out,
                      rf_error *err)
{
    rf_status st = check_inputs(gt, preds, out, "rf_eval_omz", err);
    if (st != RF_OK)
        return st;
    size_t ndet = 0, ngt = 0;
    int maxgt = 0;
    for (int i = 0; i < gt->count; i++) {
        if (!preds->images[i].present)
            continue;
        ndet += (size_t)preds->images[i].count;
        ngt += (size_t)gt->images[i].count;
        if (gt->images[i].count > maxgt) maxgt = gt->images[i].count;
    }
    if (ndet > (size_t)1 << 31)
        return rf_fail(err, RF_E_LIMIT, "rf_eval_omz: %zu detections (at most 2^31)", ndet);
    det_ref *order = malloc(sizeof *order * (ndet ? ndet : 1));
    omz_box *boxes = malloc(sizeof *boxes * (ngt ? ngt : 1));
    size_t *first = malloc(sizeof *first * (size_t)(gt->count > 0 ? gt->count : 1));
    double *iou = malloc(sizeof *iou * (size_t)(maxgt ? maxgt : 1));
    if (!order || !boxes || !first || !iou) {
        st = rf_fail(err, RF_E_NOMEM, "rf_eval_omz: out of memory");
        goto done;
    }
    /* ground truth as the retinaface config prepares it: rounded (cast_to_int), clipped to
     * [0, 1024], difficult when its height is outside [64, 1024) or it is empty */
    size_t nd = 0, ng = 0;
    int64_t positives = 0;
    for (int i = 0; i < gt->count; i++) {
        const rf_wider_result *r = &preds->images[i];
        if (!r->present)
            continue;
        out->images++;
        first[i] = ng;
        const rf_wider_image *g = &gt->images[i];
        for (int j = 0; j < g->count; j++) {
            const double *b = g->boxes + 4 * j;
            omz_box *o = &boxes[ng++];
            o->x1 = clip(nearbyint(b[0]));
            o->y1 = clip(nearbyint(b[1]));
            o->x2 = clip(nearbyint(b[0] + b[2]));
            o->y2 = clip(nearbyint(b[1] + b[3]));
            double w = o->x2 - o->x1, h = o->y2 - o->y1;
            o->difficult = !(h >= OMZ_MIN_HEIGHT && h < OMZ_MAX_HEIGHT) || w <= 0 || h <= 0;
            o->used = 0;
            positives += !o->difficult;
        }
        for (int k = 0; k < r->count; k++)
            order[nd++] = (det_ref){r->boxes[k].score, i, k};
    }
    out->faces = positives;
    out->detections = (int64_t)ndet;
    qsort(order, ndet, sizeof *order, cmp_det);
    if (positives == 0 || ndet == 0)
        goto done; /* nothing to recall, or nothing detected: AP 0, no curve */
    if ((st = alloc_curve(out, ndet, err)) != RF_OK)
        goto done;
    int64_t tp = 0, fp = 0;
    for (size_t d = 0; d < ndet; d++) {
        const rf_wider_box *b = &preds->images[order[d].image].boxes[order[d].index];
        const rf_wider_image *g = &gt->images[order[d].image];
        omz_box *gb = &boxes[first[order[d].image]];
        double p[4] = {nearbyint(b->x), nearbyint(b->y), nearbyint(b->x + b->w),
                       nearbyint(b->y + b->h)};
        /* the best non-difficult box counts first; only when it misses does a difficult one */
        double best_easy = -INFINITY, best_difficult = -INFINITY;
        for (int j = 0; j < g->count; j++) {
            iou[j] = iou_omz(p, &gb[j]);
            if (gb[j].difficult)
                best_difficult = fmax(best_difficult, iou[j]);
            else
                best_easy = fmax(best_easy, iou[j]);
        }
        double best = best_easy;
        if (best < IOU_THRESHOLD && best_difficult > -INFINITY)
            best = best_difficult;
        if (g->count == 0 || best < IOU_THRESHOLD) {
            fp++;
        } else {
            /* every box at exactly the best overlap takes part, as the checker's np.where does */
            int any_difficult = 0, any_used = 0;
            for (int j = 0; j < g->count; j++)
                if (iou[j] == best) {
                    any_difficult |= gb[j].difficult;
                    any_used |= gb[j].used;
                }
            if (!any_difficult && !any_used)
                tp++;
            else if (any_used)
                fp++;
            if (!any_used || any_difficult)
                for (int j = 0; j < g->count; j++)
                    if (iou[j] == best)
                        gb[j].used = 1;
        }
        out->precision[d] = tp + fp ? (double)tp / (double)(tp + fp) : 0.0;
        out->recall[d] = (double)tp / (double)positives;
    }
    out->points = (int)ndet;
    out->ap = rf_eval_voc_ap(out->recall, out->precision, out->points);
done:
    free(order);
    free(boxes);
    free(first);
    free(iou);
    if (st != RF_OK)
        rf_eval_curve_free(out);
    return st == RF_OK ? rf_ok(err) : st;
}

/* ------------------------------------------------------------------------------ plots */

static void svg_text(FILE *f, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '&': fputs("&amp;", f); break;
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '"': fputs("&quot;", f); break;
        default: fputc(*s, f);
        }
    }
}

rf_status rf_eval_plot_svg(const char *path, const char *title, const rf_eval_curve *curves,
                           const char *const *labels, int n, rf_error *err)
{
    static const char *const colours[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e",
                                          "#9467bd", "#8c564b"};
    const double W = 640, H = 480, L = 64, R = 24, T = 44, B = 52;
    const double pw = W - L - R, ph = H - T - B;
    if (!path || (n && (!curves || !labels)) || n < 0)
        return rf_fail(err, RF_E_ARG, "rf_eval_plot_svg: bad argument");
    rf_output out;
    rf_status st = rf_output_open(&out, path, err);
    if (st != RF_OK)
        return st;
    FILE *f = out.f;
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%g\" height=\"%g\" "
               "viewBox=\"0 0 %g %g\" font-family=\"sans-serif\" font-size=\"12\">\n"
               "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n", W, H, W, H);
    fprintf(f, "<text x=\"%g\" y=\"24\" text-anchor=\"middle\" font-size=\"15\">", W / 2);
    svg_text(f, title ? title : "");
    fputs("</text>\n", f);
    for (int i = 0; i <= 10; i++) {
        double x = L + pw * i / 10, y = T + ph - ph * i / 10;
        fprintf(f, "<line x1=\"%.1f\" y1=\"%g\" x2=\"%.1f\" y2=\"%g\" stroke=\"#ddd\"/>\n", x, T,
                x, T + ph);
        fprintf(f, "<line x1=\"%g\" y1=\"%.1f\" x2=\"%g\" y2=\"%.1f\" stroke=\"#ddd\"/>\n", L, y,
                L + pw, y);
        fprintf(f, "<text x=\"%.1f\" y=\"%g\" text-anchor=\"middle\">%.1f</text>\n", x,
                T + ph + 16, i / 10.0);
        fprintf(f, "<text x=\"%g\" y=\"%.1f\" text-anchor=\"end\">%.1f</text>\n", L - 6, y + 4,
                i / 10.0);
    }
    fprintf(f, "<rect x=\"%g\" y=\"%g\" width=\"%g\" height=\"%g\" fill=\"none\" "
               "stroke=\"black\"/>\n", L, T, pw, ph);
    fprintf(f, "<text x=\"%g\" y=\"%g\" text-anchor=\"middle\">Recall</text>\n", L + pw / 2,
            H - 12);
    fprintf(f, "<text x=\"16\" y=\"%g\" text-anchor=\"middle\" transform=\"rotate(-90 16 %g)\">"
               "Precision</text>\n", T + ph / 2, T + ph / 2);
    for (int c = 0; c < n; c++) {
        const rf_eval_curve *cv = &curves[c];
        const char *colour = colours[c % (int)(sizeof colours / sizeof colours[0])];
        fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\" points=\"", colour);
        /* curves of every detection have far more points than pixels: drop invisible steps */
        double lx = -1, ly = -1;
        for (int k = 0; k < cv->points; k++) {
            double x = L + pw * cv->recall[k], y = T + ph - ph * cv->precision[k];
            if (k + 1 < cv->points && fabs(x - lx) < 0.25 && fabs(y - ly) < 0.25)
                continue;
            fprintf(f, "%.2f,%.2f ", x, y);
            lx = x;
            ly = y;
        }
        fputs("\"/>\n", f);
        double ly0 = T + ph - 16.0 * (n - c);
        fprintf(f, "<line x1=\"%g\" y1=\"%g\" x2=\"%g\" y2=\"%g\" stroke=\"%s\" "
                   "stroke-width=\"3\"/>\n", L + 12, ly0, L + 36, ly0, colour);
        fprintf(f, "<text x=\"%g\" y=\"%g\">", L + 42, ly0 + 4);
        svg_text(f, labels[c] ? labels[c] : "");
        fprintf(f, " (AP %.2f%%)</text>\n", 100 * cv->ap);
    }
    fputs("</svg>\n", f);
    return rf_output_close(&out, RF_OK, err);
}
