/* postprocess.h - post-processing with caller-owned scratch, for contexts that run it per image. */
#ifndef RF_POSTPROCESS_H
#define RF_POSTPROCESS_H

#include "retinaface.h"

#include <stddef.h>

/* Scratch of rf_postprocess, grown to the largest anchor count it has served: a context keeps
 * one, so detection on inputs of a size it has seen allocates nothing. */
typedef struct {
    void *block;
    size_t bytes;
} rf_postprocess_scratch;

/* rf_postprocess with scratch from ws (grown when too small). */
rf_status rf_postprocess_into(const float *cls_prob, const float *bbox_pred,
                              const float *landmark_pred, int net_w, int net_h, float scale_x,
                              float scale_y, rf_anchors anchors, const rf_detect_params *params,
                              rf_postprocess_scratch *ws, rf_faces *faces, rf_error *err);

void rf_postprocess_scratch_free(rf_postprocess_scratch *ws);

#endif
