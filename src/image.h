/* image.h - internal helpers of the image files shared with the rest of the library. */
#ifndef RF_IMAGE_H
#define RF_IMAGE_H

#include "retinaface.h"

#include <stddef.h>

/* RF_E_ARG unless img is a usable view: pixels set, positive size within RF_IMAGE_MAX_PIXELS
 * (RF_E_LIMIT), stride of at least width * 3, a known pixel order. `what` names it in the
 * message. */
rf_status rf_image_check(const rf_image *img, const char *what, rf_error *err);

/* Scratch of rf_image_to_input, grown to the largest resize it has served: a context keeps one,
 * so detection on images of a size it has seen allocates nothing. */
typedef struct {
    void *block;
    size_t bytes;
} rf_resize_scratch;

/* rf_image_to_input with scratch from ws (grown when too small). */
rf_status rf_image_to_input_into(const rf_image *image, int net_w, int net_h, float *dst,
                                 rf_resize_scratch *ws, rf_error *err);

void rf_resize_scratch_free(rf_resize_scratch *ws);

#endif
