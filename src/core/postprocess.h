/* postprocess.h - post-processing with caller-owned scratch, for contexts that run it per image. */
#ifndef RF_POSTPROCESS_H
#define RF_POSTPROCESS_H

#include "base/common.h"

/* rf_postprocess with its scratch in ws (grown when too small), which a context keeps so that
 * detection on inputs of a size it has seen allocates nothing. */
rf_status rf_postprocess_into(const float *cls_prob, const float *bbox_pred,
                              const float *landmark_pred, int net_w, int net_h, float scale_x,
                              float scale_y, rf_anchors anchors, const rf_detect_params *params,
                              rf_buffer *ws, rf_faces *faces, rf_error *err);

#endif
