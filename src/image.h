/* image.h - internal helpers of the image files shared with the rest of the library. */
#ifndef RF_IMAGE_H
#define RF_IMAGE_H

#include "retinaface.h"

/* RF_E_ARG unless img is a usable view: pixels set, positive size within RF_IMAGE_MAX_PIXELS
 * (RF_E_LIMIT), stride of at least width * 3, a known pixel order. `what` names it in the
 * message. */
rf_status rf_image_check(const rf_image *img, const char *what, rf_error *err);

#endif
