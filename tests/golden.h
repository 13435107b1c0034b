/* golden.h - the PyTorch golden cases of ../shared/golden and readers for their files. */
#ifndef RF_GOLDEN_H
#define RF_GOLDEN_H

#include "formats/npy.h"
#include "retinaface.h"
#include "testutil.h"

typedef struct {
    const char *id, *model;
    rf_anchors anchors;
    int batch, height, width;
    float tolerance; /* max abs error per tensor against PyTorch */
    int trained;     /* real weights: every face >= 0.5 found again; else 95 % of them */
} golden_case;

static const golden_case golden_cases[] = {
    {"mnet_640", "models/mobilenet0.25_Final.pth", RF_ANCHORS_RETINAFACE, 1, 640, 640, 1e-4f, 1},
    {"mnet_orig", "models/mobilenet0.25_Final.pth", RF_ANCHORS_RETINAFACE, 1, 768, 1024, 1e-4f, 1},
    {"mnet_zip_640", "models/mobilenet0.25_Final_zip.pth", RF_ANCHORS_RETINAFACE, 1, 640, 640,
     1e-4f, 1},
    {"face1mb_orig", "models/mobilenet0.25_face1mb.pth", RF_ANCHORS_FACE1MB, 1, 577, 1024, 1e-4f,
     1},
    {"r50_640", "models/resnet50_synthetic.pth", RF_ANCHORS_RETINAFACE, 1, 640, 640, 3.5e-4f, 0},
    {"r50_orig", "models/resnet50_synthetic.pth", RF_ANCHORS_RETINAFACE, 1, 683, 1024, 3.5e-4f, 0},
    {"r50_batch2", "models/resnet50_synthetic.pth", RF_ANCHORS_RETINAFACE, 2, 640, 640, 3.5e-4f,
     0},
};
#define GOLDEN_CASES ((int)(sizeof golden_cases / sizeof golden_cases[0]))

static const char *golden_tensor_names[3] = {"face_rpn_cls_prob", "face_rpn_bbox_pred",
                                             "face_rpn_landmark_pred"};

/* Whether a case id starts with one of the space-separated prefixes (all when NULL): the
 * tests' argv[1] or $RF_GOLDEN_CASES. */
static inline int golden_case_selected(const char *id, const char *prefixes)
{
    if (!prefixes)
        return 1;
    for (const char *p = prefixes; *p;) {
        size_t n = strcspn(p, " ");
        if (n && !strncmp(id, p, n))
            return 1;
        p += n + (p[n] == ' ');
    }
    return 0;
}

/* The network input of a case: its PNG(s) as [batch][3][H][W] BGR minus mean; malloc'd. */
static inline float *golden_input(const golden_case *gc)
{
    const size_t plane = (size_t)3 * gc->height * gc->width;
    float *x = malloc(plane * gc->batch * sizeof(float));
    for (int i = 0; x && i < gc->batch; i++) {
        char rel[256];
        if (gc->batch == 1)
            snprintf(rel, sizeof rel, "golden/%s/input.png", gc->id);
        else
            snprintf(rel, sizeof rel, "golden/%s/input%d.png", gc->id, i);
        rf_image_buf img;
        rf_error err;
        if (rf_image_load(test_data_path(rel), &img, &err) != RF_OK ||
            img.image.width != gc->width || img.image.height != gc->height ||
            rf_image_to_input(&img.image, gc->width, gc->height, x + plane * i, &err) != RF_OK) {
            fprintf(stderr, "cannot read %s\n", rel);
            free(x);
            return NULL;
        }
        rf_image_buf_free(&img);
    }
    return x;
}

/* A golden tensor ([batch, anchors, k] float32); malloc'd. */
static inline float *golden_tensor(const golden_case *gc, int which, int64_t *count)
{
    char rel[256];
    snprintf(rel, sizeof rel, "golden/%s/%s.npy", gc->id, golden_tensor_names[which]);
    float *data;
    int ndim;
    int64_t shape[8];
    rf_error err;
    if (rf_npy_load(test_data_path(rel), &data, &ndim, shape, &err) != RF_OK) {
        fprintf(stderr, "%s\n", err.message);
        return NULL;
    }
    *count = 1;
    for (int i = 0; i < ndim; i++)
        *count *= shape[i];
    return data;
}

/* Parses the faces of batch item `item` from a case's detections.json. */
static inline int golden_detections(const golden_case *gc, int item, rf_faces *out)
{
    char rel[256];
    snprintf(rel, sizeof rel, "golden/%s/detections.json", gc->id);
    FILE *f = fopen(test_data_path(rel), "rb");
    if (!f)
        return -1;
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *text = malloc((size_t)size + 1);
    if (!text || fread(text, 1, (size_t)size, f) != (size_t)size) {
        fclose(f);
        free(text);
        return -1;
    }
    fclose(f);
    text[size] = 0;
    char *p = text;
    for (int i = 0; i <= item && p; i++)
        if ((p = strstr(p, "\"faces\"")))
            p += 7;
    char *end = p ? strstr(p, "\"faces\"") : NULL;
    out->count = 0;
    while (p && (p = strstr(p, "\"box\"")) && (!end || p < end)) {
        if (out->count == out->capacity) {
            out->capacity = out->capacity ? 2 * out->capacity : 64;
            out->faces = realloc(out->faces, sizeof(rf_face) * (size_t)out->capacity);
        }
        rf_face *face = &out->faces[out->count++];
        float v[15];
        for (int k = 0; k < 15; k++) {
            while (*p && !(*p == '-' || (*p >= '0' && *p <= '9')))
                p++;
            v[k] = (float)strtod(p, &p);
        }
        memcpy(face->box, v, sizeof face->box);
        face->score = v[4];
        memcpy(face->landmarks, v + 5, sizeof face->landmarks);
    }
    free(text);
    return 0;
}

#endif
