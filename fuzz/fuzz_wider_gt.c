/* fuzz_wider_gt.c - libFuzzer target: WIDER FACE text files: the ground-truth list and a result file. */
#include "fuzz_common.h"
#include "retinaface_eval.h"

#include <math.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    rf_error err;
    rf_wider_gt gt;
    rf_status st = rf_wider_gt_parse_txt(text, size, "fuzz_gt.txt", &gt, &err);
    fuzz_check_error(st, &err, "fuzz_gt.txt");
    if (st == RF_OK) {
        for (int i = 0; i < gt.count; i++) {
            const rf_wider_image *im = &gt.images[i];
            if (!im->event || !im->name || im->count < 0 || (im->count && !im->boxes))
                abort();
            fuzz_sink((uint8_t)(strlen(im->event) + strlen(im->name)));
            fuzz_sink(fuzz_touch(im->boxes, (size_t)im->count * 4 * sizeof *im->boxes));
            if (rf_wider_gt_find(&gt, im->event, im->name) < 0)
                abort();
        }
        rf_wider_gt_free(&gt);
    }
    /* The same bytes as a detector's result file. */
    rf_wider_box *boxes = NULL;
    int n = -1;
    st = rf_wider_result_parse(text, size, "fuzz_result.txt", &boxes, &n, &err);
    fuzz_check_error(st, &err, "fuzz_result.txt");
    if (st == RF_OK) {
        if (n < 0 || (n && !boxes))
            abort();
        for (int i = 0; i < n; i++)
            if (!isfinite(boxes[i].x) || !isfinite(boxes[i].y) || !isfinite(boxes[i].w) ||
                !isfinite(boxes[i].h) || !isfinite(boxes[i].score))
                abort();
        free(boxes);
    }
    return 0;
}
