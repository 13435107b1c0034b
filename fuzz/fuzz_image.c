/* fuzz_image.c - libFuzzer target: JPEG and PNG bytes through the image loader. */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    rf_error err;
    rf_image_buf img;
    rf_status st = rf_image_load_memory(data, size, &img, &err);
    fuzz_check_error(st, &err, "image in memory");
    if (st != RF_OK) {
        if (img.data)
            abort(); /* a refusal leaves nothing allocated */
        return 0;
    }
    const rf_image *v = &img.image;
    if (v->width <= 0 || v->height <= 0 ||
        (long long)v->width * v->height > RF_IMAGE_MAX_PIXELS || v->stride < (size_t)v->width * 3 ||
        v->order != RF_PIXELS_BGR || v->pixels != img.data)
        abort();
    uint8_t x = 0;
    for (int y = 0; y < v->height; y++)
        x ^= fuzz_touch(v->pixels + (size_t)y * v->stride, (size_t)v->width * 3);
    fuzz_sink(x);
    rf_image_buf_free(&img);
    return 0;
}
