/* test_regress.c - every input in tests/regress/ (mostly fuzzer finds) through its parser: no crash, a clean error. */
#include "formats/checkpoint.h"
#include "eval/matfile.h"
#include "formats/pickle.h"
#include "retinaface_eval.h"
#include "testutil.h"
#include "formats/zip.h"

#include <dirent.h>

/* A failure must be reported as one line that names the file; success needs nothing more here
 * (some inputs, such as a pickle that once crashed the parser, are valid). */
static void check_outcome(const char *path, const char *what, rf_status st, const rf_error *err)
{
    if (st == RF_OK) {
        printf("ok   %s (%s): loaded\n", path, what);
        return;
    }
    CHECK(err->status == st, "%s: status %d but err says %d", path, (int)st, (int)err->status);
    CHECK(strstr(err->message, path) != NULL, "%s: message does not name the file: %s", path,
          err->message);
    CHECK(strchr(err->message, '\n') == NULL, "%s: message is not one line: %s", path,
          err->message);
    printf("ok   %s (%s): %s\n", path, what, err->message);
}

static unsigned char *read_all(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 4096, n = 0;
    unsigned char *buf = malloc(cap);
    while (buf) {
        n += fread(buf + n, 1, cap - n, f);
        if (n < cap)
            break;
        unsigned char *bigger = realloc(buf, cap * 2);
        if (!bigger)
            free(buf);
        buf = bigger;
        cap *= 2;
    }
    fclose(f);
    *size = n;
    return buf;
}

static void run_checkpoint(const char *path)
{
    rf_error err;
    rf_checkpoint ckpt;
    rf_status st = rf_checkpoint_load(path, &ckpt, &err);
    check_outcome(path, "checkpoint", st, &err);
    if (st == RF_OK)
        rf_checkpoint_free(&ckpt);
    rf_model *model;
    st = rf_model_load(path, RF_ANCHORS_RETINAFACE, &model, &err);
    check_outcome(path, "model", st, &err);
    if (st == RF_OK)
        rf_model_free(model);
}

/* The pickle and zip readers take memory; the path stands in as their name. */
static void run_pickle(const char *path)
{
    size_t size = 0, pos = 0;
    unsigned char *data = read_all(path, &size);
    CHECK(data != NULL, "%s: cannot read", path);
    if (!data)
        return;
    rf_pickle pk;
    rf_pickle_init(&pk);
    rf_status st = RF_OK;
    rf_error err;
    while (st == RF_OK && pos < size) {
        uint32_t root;
        st = rf_pickle_parse(&pk, data, size, &pos, path, &root, &err);
    }
    check_outcome(path, "pickle", st, &err);
    rf_pickle_free(&pk);
    free(data);
}

static void run_zip(const char *path)
{
    size_t size = 0;
    unsigned char *data = read_all(path, &size);
    CHECK(data != NULL, "%s: cannot read", path);
    if (!data)
        return;
    rf_zip zip;
    rf_error err;
    rf_status st = rf_zip_open(&zip, data, size, path, &err);
    for (size_t i = 0; st == RF_OK && i < zip.count; i++) {
        const uint8_t *bytes;
        uint8_t *allocated;
        st = rf_zip_read(&zip, &zip.entries[i], &bytes, &allocated, &err);
        free(allocated);
    }
    check_outcome(path, "zip", st, &err);
    rf_zip_close(&zip);
    free(data);
}

static void run_image(const char *path)
{
    rf_error err;
    rf_image_buf img;
    rf_status st = rf_image_load(path, &img, &err);
    check_outcome(path, "image", st, &err);
    rf_image_buf_free(&img);
}

static void run_mat(const char *path)
{
    rf_error err;
    rf_mat_file f;
    rf_status st = rf_mat_load(path, &f, &err);
    check_outcome(path, "mat", st, &err);
    if (st == RF_OK)
        rf_mat_free(&f);
}

static void run_wider_gt(const char *path)
{
    rf_error err;
    rf_wider_gt gt;
    rf_status st = rf_wider_gt_load_txt(path, &gt, &err);
    check_outcome(path, "wider ground truth", st, &err);
    if (st == RF_OK)
        rf_wider_gt_free(&gt);
}

static void run_wider_result(const char *path)
{
    rf_error err;
    rf_wider_box *boxes = NULL;
    int n = 0;
    rf_status st = rf_wider_result_read(path, &boxes, &n, &err);
    check_outcome(path, "wider result", st, &err);
    free(boxes);
}

/* File names start with the parser they are for, then '-'. */
static const struct {
    const char *prefix;
    void (*run)(const char *path);
} parsers[] = {
    {"checkpoint-", run_checkpoint}, {"pickle-", run_pickle}, {"zip-", run_zip},
    {"image-", run_image},           {"mat-", run_mat},       {"wider_gt-", run_wider_gt},
    {"wider_result-", run_wider_result},
};

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(void)
{
    const char *dir = RF_SOURCE_DIR "/tests/regress";
    DIR *d = opendir(dir);
    CHECK(d != NULL, "cannot open %s", dir);
    if (!d)
        return test_summary();
    char *names[1024];
    int count = 0;
    struct dirent *e;
    while ((e = readdir(d)) && count < 1024)
        if (e->d_name[0] != '.')
            names[count++] = strdup(e->d_name);
    closedir(d);
    qsort(names, (size_t)count, sizeof names[0], by_name);
    for (int i = 0; i < count; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        size_t k = 0, n = sizeof parsers / sizeof parsers[0];
        while (k < n && strncmp(names[i], parsers[k].prefix, strlen(parsers[k].prefix)) != 0)
            k++;
        CHECK(k < n, "%s: no parser for this name (start it with checkpoint-, pickle-, ...)",
              names[i]);
        if (k < n)
            parsers[k].run(path);
        free(names[i]);
    }
    CHECK(count > 0, "no inputs in %s", dir);
    return test_summary();
}
