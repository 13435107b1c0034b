/* faces.c - what `detect` and `video` write for each face: its JSON object and its aligned chip. */
#include "cli.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>

void cli_json_face(FILE *f, const rf_face *face)
{
    fprintf(f, "{\"box\": [%.9g, %.9g, %.9g, %.9g], \"score\": %.9g, \"landmarks\": [",
            face->box[0], face->box[1], face->box[2], face->box[3], face->score);
    for (int k = 0; k < 5; k++)
        fprintf(f, "%s[%.9g, %.9g]", k ? ", " : "", face->landmarks[2 * k],
                face->landmarks[2 * k + 1]);
    fputs("]}", f);
}

int cli_make_dir(const char *cmd, const char *path)
{
    struct stat st;
    if (mkdir(path, 0777) == 0 || (errno == EEXIST && stat(path, &st) == 0 && S_ISDIR(st.st_mode)))
        return 0;
    fprintf(stderr, "retinaface %s: cannot create directory %s: %s\n", cmd, path,
            strerror(errno == EEXIST ? ENOTDIR : errno));
    return -1;
}

int cli_write_crops(const char *cmd, const char *dir, const char *prefix, const rf_image *image,
                    const rf_faces *faces, float threshold, rf_image_buf *chip)
{
    int n = 0;
    for (int i = 0; i < faces->count; i++) {
        const rf_face *f = &faces->faces[i];
        if (f->score <= threshold)
            continue;
        rf_error err;
        char path[8400];
        snprintf(path, sizeof path, "%s/%s_face%02d.png", dir, prefix, n++);
        if (rf_align_face(image, f->landmarks, chip, &err) != RF_OK ||
            rf_image_save(path, &chip->image, &err) != RF_OK) {
            fprintf(stderr, "retinaface %s: %s: %s\n", cmd, path, err.message);
            return -1;
        }
    }
    return 0;
}
