/* retinaface_eval.h - WIDER FACE evaluation: ground truth, result files, official and Open Model Zoo AP.
 *
 * Typical use, scoring a directory of result files written by any detector:
 *
 *     rf_error err;
 *     rf_wider_gt gt;                          // wider_face_val.mat + wider_{easy,medium,hard}_val.mat
 *     if (rf_wider_gt_load_official("widerface", &gt, &err) != RF_OK) ... err.message
 *     rf_wider_preds preds;                    // results/<event>/<name>.txt, one per image
 *     rf_wider_preds_load("results", &gt, &preds, &err);
 *     rf_eval_curve hard;
 *     rf_eval_official(&gt, &preds, RF_WIDER_HARD, &hard, &err);
 *     printf("hard AP %.2f%% over %d images\n", 100 * hard.ap, hard.images);
 *     rf_eval_curve_free(&hard); rf_wider_preds_free(&preds); rf_wider_gt_free(&gt);
 *
 * Running a model instead: rf_wider_preds_init, then per image rf_detect, convert each face with
 * rf_wider_box_official (or rf_wider_box_omz) and rf_wider_preds_set.
 *
 * The two protocols (docs/eval.md has the full definitions):
 * - Official (WIDER FACE benchmark, biubug6/Pytorch_Retinaface widerface_evaluate): scores min-max
 *   normalised over all evaluated images; per image, detections in score order each take the
 *   ground-truth box of highest IoU (+1 pixel convention); at IoU >= 0.5 a box outside the
 *   setting's keep list makes the detection ignored, an already recalled box makes it a false
 *   positive; images without ground truth are skipped; 1000 thresholds; VOC AP over the monotone
 *   precision envelope.
 * - Open Model Zoo (accuracy checker "map", retinaface config): ground truth of the text file,
 *   boxes rounded to integers, clipped to [0, 1024], difficult unless 64 <= height < 1024 and
 *   width, height > 0; all detections of the set matched greedily in score order at IoU >= 0.5
 *   (no +1), preferring non-difficult boxes; a difficult box absorbs only the first detection
 *   matched to it; one all-point AP.
 * Only images that are present (a result file exists, or the image was run) are evaluated; their
 * ground-truth faces are the positives, those of absent images are not counted.
 *
 * As in retinaface.h: errors come back as rf_status with a message naming the file and the
 * problem; nothing here prints, exits or keeps global state.
 */
#ifndef RETINAFACE_EVAL_H
#define RETINAFACE_EVAL_H

#include "retinaface.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Images in the official WIDER FACE validation set. */
#define RF_WIDER_VAL_IMAGES 3226

/* ------------------------------------------------------------------------------ ground truth */
typedef enum { RF_WIDER_EASY = 0, RF_WIDER_MEDIUM = 1, RF_WIDER_HARD = 2 } rf_wider_setting;
RF_API const char *rf_wider_setting_name(rf_wider_setting setting); /* "easy", "medium", "hard" */

typedef struct {
    char *event;   /* event folder, e.g. "0--Parade" */
    char *name;    /* image file name without ".jpg", e.g. "0_Parade_marchingband_1_465" */
    int count;     /* faces */
    double *boxes; /* count x 4: x, y, w, h in pixels */
    uint8_t *keep; /* official ground truth: per face, bit s set when it is in setting s's
                    * gt_list (1 << RF_WIDER_EASY, ...); NULL for the text ground truth */
} rf_wider_image;

typedef struct {
    rf_wider_image *images;
    int count;
} rf_wider_gt;

/* Finds `file` in dir, dir/ground_truth or dir/wider_face_split; path receives the first that
 * exists. RF_E_IO (naming all three places) when none does. */
RF_API rf_status rf_wider_find_file(const char *dir, const char *file, char *path, size_t size,
                                    rf_error *err);

/* wider_face_val.mat (event_list, file_list, face_bbx_list) and wider_{easy,medium,hard}_val.mat
 * (gt_list: 1-based indices of the faces each setting counts), found with rf_wider_find_file. */
RF_API rf_status rf_wider_gt_load_official(const char *dir, rf_wider_gt *out, rf_error *err);
/* The same from explicit paths: settings[RF_WIDER_EASY] = ".../wider_easy_val.mat", ... */
RF_API rf_status rf_wider_gt_load_mat(const char *val_mat, const char *const settings[3],
                                      rf_wider_gt *out, rf_error *err);
/* wider_face_val_bbx_gt.txt: "<event>/<name>.jpg", a face count, then one line per face,
 * "x y w h" followed by attribute labels. Lines before an image line are ignored (a count of 0
 * is followed by a dummy all-zero line in the official file). */
RF_API rf_status rf_wider_gt_load_txt(const char *path, rf_wider_gt *out, rf_error *err);
RF_API rf_status rf_wider_gt_parse_txt(const char *text, size_t size, const char *name,
                                       rf_wider_gt *out, rf_error *err);
RF_API void rf_wider_gt_free(rf_wider_gt *gt);
/* Index of the image event/name, or -1. */
RF_API int rf_wider_gt_find(const rf_wider_gt *gt, const char *event, const char *name);

/* ------------------------------------------------------------------------------ detections */
typedef struct {
    double x, y, w, h; /* pixels; integers in files written here */
    double score;
} rf_wider_box;

typedef struct {
    rf_wider_box *boxes;
    int count;
    int present; /* 1 when the image is evaluated */
} rf_wider_result;

/* Detections for the images of one ground truth, in its order. */
typedef struct {
    rf_wider_result *images; /* gt->count entries */
    int count;
    int present;             /* images with present set */
} rf_wider_preds;

/* Every image absent. */
RF_API rf_status rf_wider_preds_init(const rf_wider_gt *gt, rf_wider_preds *out, rf_error *err);
/* Copies n boxes as image `index`'s detections and marks it present. */
RF_API rf_status rf_wider_preds_set(rf_wider_preds *preds, int index, const rf_wider_box *boxes,
                                    int n,
                                    rf_error *err);
RF_API void rf_wider_preds_free(rf_wider_preds *preds);

/* A detection as the official test_widerface.py writes it: x = (int)x1, w = (int)x2 - (int)x1
 * (truncation toward zero), the same for y, h; the score becomes the shortest decimal that reads
 * back as the same float32 (as Python prints numpy float32), then that decimal as a double. */
RF_API rf_wider_box rf_wider_box_official(const rf_face *face);
/* As the Open Model Zoo pipeline: corners rounded to the nearest integer, ties to even (numpy
 * rint), w = x2 - x1; the score as in rf_wider_box_official. */
RF_API rf_wider_box rf_wider_box_omz(const rf_face *face);
/* Stable sort by score, descending (the order result files are written in). */
RF_API rf_status rf_wider_boxes_sort(rf_wider_box *boxes, int n, rf_error *err);

/* ------------------------------------------------------------------------------ result files */
/* Writes dir/event/name.txt (creating the folders): the name, the count, then one line
 * "x y w h score" per box in the given order. Numbers are written in the shortest form that
 * reads back exactly. Nothing is left at the path on failure. */
RF_API rf_status rf_wider_result_write(const char *dir, const char *event, const char *name,
                                       const rf_wider_box *boxes, int n, rf_error *err);
/* Reads a result file of any detector: first line the image name (not checked), second the
 * count, then lines of at least five numbers (x y w h score; more are ignored), blank lines
 * skipped. RF_E_FORMAT, with the line, for a malformed number, a non-finite value or a count
 * that does not match. *boxes is allocated (free it); the order of the file is kept. */
RF_API rf_status rf_wider_result_read(const char *path, rf_wider_box **boxes, int *n,
                                      rf_error *err);
RF_API rf_status rf_wider_result_parse(const char *text, size_t size, const char *name,
                                       rf_wider_box **boxes, int *n, rf_error *err);
/* Reads dir/<event>/<name>.txt for every image of gt; those with a file become present.
 * RF_E_IO if dir is not a directory. */
RF_API rf_status rf_wider_preds_load(const char *dir, const rf_wider_gt *gt, rf_wider_preds *out,
                                     rf_error *err);

/* ------------------------------------------------------------------------------ metrics */
typedef struct {
    double ap;          /* average precision in [0, 1]; 0 when there is nothing to score */
    int64_t faces;      /* positives: official, the faces of the setting's keep lists;
                         * OMZ, the non-difficult faces (of the evaluated images) */
    int64_t detections; /* detections of the evaluated images */
    int images;         /* evaluated images */
    int points;         /* the precision-recall curve: official, one point per threshold that
                         * has a detection above it; OMZ, one per detection */
    double *recall, *precision;
} rf_eval_curve;

/* preds must come from rf_wider_preds_init/_load with this gt; gt must be official (keep). */
RF_API rf_status rf_eval_official(const rf_wider_gt *gt, const rf_wider_preds *preds,
                                  rf_wider_setting setting, rf_eval_curve *out, rf_error *err);
RF_API rf_status rf_eval_omz(const rf_wider_gt *gt, const rf_wider_preds *preds, rf_eval_curve *out,
                             rf_error *err);
RF_API void rf_eval_curve_free(rf_eval_curve *curve);

/* VOC AP of a PR curve in recall order: sentinels (0, 0) and (1, 0) added, precision made
 * monotone from the right, area summed where recall changes. */
RF_API double rf_eval_voc_ap(const double *recall, const double *precision, int n);

/* An SVG plot of n curves (precision over recall), each labelled "label (AP xx.xx%)". */
RF_API rf_status rf_eval_plot_svg(const char *path, const char *title, const rf_eval_curve *curves,
                                  const char *const *labels, int n, rf_error *err);

#ifdef __cplusplus
}
#endif
#endif
