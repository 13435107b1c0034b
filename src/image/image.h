/* image.h - internal helpers of the image files shared with the rest of the library. */
#ifndef RF_IMAGE_H
#define RF_IMAGE_H

#include "base/common.h"

/* RF_E_ARG unless img is a usable view: pixels set, positive size within RF_IMAGE_MAX_PIXELS
 * (RF_E_LIMIT), stride of at least width * 3, a known pixel order. `what` names it in the
 * message. */
rf_status rf_image_check(const rf_image *img, const char *what, rf_error *err);

/* rf_image_to_input laid NHWC, [net_h][net_w][3], as the network computes on it (what a context
 * builds straight into its arena), with the resized pixels and the resize's scratch in ws
 * (grown when too small), which a context keeps so that detection on images of a size it has
 * seen allocates nothing. */
rf_status rf_image_to_nhwc_into(const rf_image *image, int net_w, int net_h, float *dst,
                                rf_buffer *ws, rf_error *err);

#endif
