/* fuzz_wider_mat.c - libFuzzer target: the official WIDER FACE .mat ground truth (val list and a setting's gt_list). */
#include "fuzz_common.h"
#include "retinaface_eval.h"

#include <unistd.h>

/* The input is: 4 bytes little-endian n, n bytes of wider_face_val.mat, then the rest, which
 * stands for all three wider_{easy,medium,hard}_val.mat. The reader takes paths, so both parts
 * go through temporary files. */
static int write_temp(char *path, size_t cap, const uint8_t *data, size_t size)
{
    const char *dir = getenv("TMPDIR");
    snprintf(path, cap, "%s/fuzz_wider_mat.XXXXXX", dir && *dir ? dir : "/tmp");
    int fd = mkstemp(path);
    if (fd < 0)
        return -1;
    size_t done = 0;
    while (done < size) {
        ssize_t n = write(fd, data + done, size - done);
        if (n <= 0)
            break;
        done += (size_t)n;
    }
    close(fd);
    return done == size ? 0 : -1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 4)
        return 0;
    size_t n = (size_t)data[0] | (size_t)data[1] << 8 | (size_t)data[2] << 16 |
               (size_t)data[3] << 24;
    if (n > size - 4)
        n = size - 4;
    char val[4096], setting[4096];
    if (write_temp(val, sizeof val, data + 4, n) != 0) {
        unlink(val);
        return 0;
    }
    if (write_temp(setting, sizeof setting, data + 4 + n, size - 4 - n) != 0) {
        unlink(val);
        unlink(setting);
        return 0;
    }
    const char *const settings[3] = {setting, setting, setting};
    rf_error err;
    rf_wider_gt gt;
    rf_status st = rf_wider_gt_load_mat(val, settings, &gt, &err);
    /* Either file may be the one at fault; the message must name one of them. */
    fuzz_check_error(st, &err, "/fuzz_wider_mat.");
    if (st == RF_OK) {
        for (int i = 0; i < gt.count; i++) {
            const rf_wider_image *im = &gt.images[i];
            if (!im->event || !im->name || im->count < 0 || (im->count && (!im->boxes || !im->keep)))
                abort();
            fuzz_sink((uint8_t)(strlen(im->event) + strlen(im->name)));
            fuzz_sink(fuzz_touch(im->boxes, (size_t)im->count * 4 * sizeof *im->boxes));
            fuzz_sink(fuzz_touch(im->keep, (size_t)im->count));
        }
        rf_wider_gt_free(&gt);
    }
    unlink(val);
    unlink(setting);
    return 0;
}
