/* test_npy.c - .npy writing and reading: round trips, numpy's layout, malformed files, golden tensors. */
#define _POSIX_C_SOURCE 200809L /* mkdtemp */

#include "formats/npy.h"
#include "retinaface.h"
#include "testutil.h"

#include <math.h>
#include <stdint.h>
#include <unistd.h>

static char tmpdir[256];
static char path[512];

static const char *tmp_path(const char *name)
{
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    return path;
}

static void round_trip(int ndim, const int64_t *shape, size_t count)
{
    rf_error err;
    float *v = malloc((count ? count : 1) * sizeof(float));
    for (size_t i = 0; i < count; i++)
        v[i] = (float)i * -0.37f + 1e-30f * (float)(i % 3);
    if (count > 2) {
        v[1] = NAN;
        v[2] = -INFINITY;
    }
    CHECK(rf_npy_save(tmp_path("rt.npy"), v, ndim, shape, &err) == RF_OK, "%s", err.message);
    float *back = NULL;
    int nd = -1;
    int64_t sh[RF_NPY_MAX_DIMS];
    CHECK(rf_npy_load(path, &back, &nd, sh, &err) == RF_OK, "ndim %d: %s", ndim, err.message);
    CHECK(nd == ndim, "ndim %d back as %d", ndim, nd);
    for (int i = 0; i < ndim && i < nd; i++)
        CHECK(sh[i] == shape[i], "dim %d", i);
    CHECK(back != NULL && (count == 0 || memcmp(back, v, count * sizeof(float)) == 0),
          "values bit-identical (ndim %d)", ndim);
    free(back);
    free(v);
}

/* Writes magic + version + header text (length field as given) + n data bytes. */
static const char *write_npy(int major, const char *header, size_t data_bytes)
{
    FILE *fp = fopen(tmp_path("bad.npy"), "wb");
    size_t len = strlen(header);
    fwrite("\x93NUMPY", 1, 6, fp);
    fputc(major, fp);
    fputc(0, fp);
    fputc((int)(len & 0xff), fp);
    fputc((int)(len >> 8 & 0xff), fp);
    if (major == 2) {
        fputc((int)(len >> 16 & 0xff), fp);
        fputc((int)(len >> 24 & 0xff), fp);
    }
    fwrite(header, 1, len, fp);
    for (size_t i = 0; i < data_bytes; i++)
        fputc(0, fp);
    fclose(fp);
    return path;
}

static rf_status load(const char *p, int64_t *shape, int *ndim, rf_error *err)
{
    float *data = NULL;
    rf_status st = rf_npy_load(p, &data, ndim, shape, err);
    CHECK(st == RF_OK || data == NULL, "no data on failure");
    free(data);
    return st;
}

static void expect_bad(int major, const char *header, size_t data_bytes, const char *why)
{
    rf_error err;
    int64_t shape[RF_NPY_MAX_DIMS];
    int ndim;
    rf_status st = load(write_npy(major, header, data_bytes), shape, &ndim, &err);
    CHECK(st == RF_E_FORMAT, "%s: status %d (%s)", why, st, err.message);
    CHECK(strstr(err.message, "bad.npy") != NULL, "%s: message names the file: %s", why,
          err.message);
}

static void test_layout(void)
{
    rf_error err;
    int64_t shape[3] = {2, 3, 4};
    float v[24] = {0};
    v[0] = 1.0f;
    CHECK(rf_npy_save(tmp_path("layout.npy"), v, 3, shape, &err) == RF_OK, "%s", err.message);
    FILE *fp = fopen(path, "rb");
    uint8_t buf[256];
    size_t n = fread(buf, 1, sizeof buf, fp);
    fclose(fp);
    /* numpy 1.24 writes the same: a 128-byte header ending in a newline. */
    CHECK(n == 128 + 24 * 4, "file size %zu", n);
    CHECK(buf[6] == 1 && buf[7] == 0 && buf[8] == 118 && buf[9] == 0, "version and length");
    CHECK(buf[127] == '\n', "header ends in a newline");
    const char *dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3, 4), }";
    CHECK(memcmp(buf + 10, dict, strlen(dict)) == 0, "header dict: %.60s", (char *)buf + 10);
    CHECK(buf[128] == 0 && buf[129] == 0 && buf[130] == 0x80 && buf[131] == 0x3f,
          "little-endian 1.0f");
}

static void test_malformed(void)
{
    const char *good = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }\n";
    rf_error err;
    int64_t shape[RF_NPY_MAX_DIMS];
    int ndim;
    CHECK(load(write_npy(1, good, 24), shape, &ndim, &err) == RF_OK, "control: %s",
          err.message);
    CHECK(load(write_npy(2, good, 24), shape, &ndim, &err) == RF_OK, "version 2.0: %s",
          err.message);
    CHECK(ndim == 2 && shape[0] == 2 && shape[1] == 3, "shape parsed");
    CHECK(load(write_npy(1, "{\"shape\":(6,),\"fortran_order\":False,\"descr\":\"<f4\"}", 24),
               shape, &ndim, &err) == RF_OK,
          "keys in any order, double quotes: %s", err.message);

    expect_bad(3, good, 24, "version 3");
    expect_bad(1, good, 20, "data short by 4 bytes");
    expect_bad(1, good, 28, "data long by 4 bytes");
    expect_bad(1, "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }", 48, "float64");
    expect_bad(1, "{'descr': '>f4', 'fortran_order': False, 'shape': (2, 3), }", 24,
               "big-endian");
    expect_bad(1, "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }", 24, "Fortran");
    expect_bad(1, "{'descr': '<f4', 'fortran_order': False}", 4, "no shape");
    expect_bad(1, "{'descr': '<f4', 'shape': (6,)}", 24, "no fortran_order");
    expect_bad(1, "{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (6,)}", 24,
               "repeated key");
    expect_bad(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (6,), 'x': 1}", 24,
               "unknown key");
    expect_bad(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (-6,)}", 24, "negative");
    expect_bad(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2 3)}", 24, "no comma");
    expect_bad(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (6,)", 24, "no brace");
    expect_bad(1, "{'descr': '<f4, 'fortran_order': False, 'shape': (6,)}", 24, "quote");
    expect_bad(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (6,)} x", 24, "trailing");
    expect_bad(1, "['<f4', False, (6,)]", 24, "not a dict");
    expect_bad(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1,1,1,1,1,1,1,1,6)}", 24,
               "9 dimensions");
    expect_bad(1,
               "{'descr': '<f4', 'fortran_order': False, 'shape': "
               "(1099511627776, 1099511627776)}",
               24, "2^80 elements");
    expect_bad(1,
               "{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,)}",
               24, "dimension overflows int64");
    expect_bad(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1048576, 1048576)}", 24,
               "4 TiB announced, 24 bytes present");

    /* A header length beyond the file, and one beyond the reader's bound. */
    FILE *fp = fopen(tmp_path("bad.npy"), "wb");
    fwrite("\x93NUMPY\x01\x00\xff\x00{", 1, 11, fp);
    fclose(fp);
    CHECK(load(path, shape, &ndim, &err) == RF_E_FORMAT, "header past the end: %s", err.message);
    fp = fopen(tmp_path("bad.npy"), "wb");
    fwrite("\x93NUMPY\x02\x00\x00\x00\x00\x01{", 1, 13, fp);
    fclose(fp);
    CHECK(load(path, shape, &ndim, &err) == RF_E_FORMAT, "16 MiB header: %s", err.message);
    fp = fopen(tmp_path("bad.npy"), "wb");
    fwrite("\x93NUMPX\x01\x00", 1, 8, fp);
    fclose(fp);
    CHECK(load(path, shape, &ndim, &err) == RF_E_FORMAT, "bad magic");
    fp = fopen(tmp_path("bad.npy"), "wb");
    fclose(fp);
    CHECK(load(path, shape, &ndim, &err) == RF_E_FORMAT, "empty file");
    CHECK(load(tmp_path("missing.npy"), shape, &ndim, &err) == RF_E_IO, "missing file");
}

static void test_save_errors(void)
{
    rf_error err;
    float v[4] = {0};
    int64_t shape[9] = {1, 1, 1, 1, 1, 1, 1, 1, 4};
    CHECK(rf_npy_save("/nonexistent-rf-dir/x.npy", v, 1, shape + 8, &err) == RF_E_IO, "dir");
    CHECK(strstr(err.message, "/nonexistent-rf-dir/x.npy") != NULL, "%s", err.message);
    CHECK(rf_npy_save(tmp_path("e.npy"), v, 9, shape, &err) == RF_E_ARG, "9 dims");
    int64_t neg = -1;
    CHECK(rf_npy_save(tmp_path("e.npy"), v, 1, &neg, &err) == RF_E_ARG, "negative dim");
    CHECK(rf_npy_save(tmp_path("e.npy"), NULL, 1, shape + 8, &err) == RF_E_ARG, "NULL data");
    CHECK(access(path, F_OK) != 0, "nothing written on argument errors");
}

static void test_golden(void)
{
    if (!test_data_dir()) {
        printf("SKIP golden .npy: test data not found (set RETINAFACE_TESTDATA)\n");
        return;
    }
    rf_error err;
    float *cls = NULL;
    int ndim;
    int64_t shape[RF_NPY_MAX_DIMS];
    CHECK(rf_npy_load(test_data_path("golden/mnet_640/face_rpn_cls_prob.npy"), &cls, &ndim,
                      shape, &err) == RF_OK, "%s", err.message);
    CHECK(ndim == 3 && shape[0] == 1 && shape[1] == 16800 && shape[2] == 2, "golden shape");
    int ok = cls != NULL;
    for (int i = 0; ok && i < 16800; i++)
        ok = cls[2 * i] >= 0 && cls[2 * i + 1] >= 0 &&
             fabsf(cls[2 * i] + cls[2 * i + 1] - 1.0f) < 1e-5f;
    CHECK(ok, "softmax pairs sum to 1");
    free(cls);
}

int main(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/rf_test_npy_XXXXXX");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    int64_t s3[3] = {2, 3, 4}, s1[1] = {5}, s0[2] = {0, 3}, s8[8] = {1, 2, 1, 3, 1, 2, 1, 2};
    round_trip(3, s3, 24);
    round_trip(1, s1, 5);
    round_trip(0, NULL, 1);
    round_trip(2, s0, 0);
    round_trip(8, s8, 24);
    test_layout();
    test_malformed();
    test_save_errors();
    test_golden();

    static const char *names[] = {"rt.npy", "layout.npy", "bad.npy"};
    for (int i = 0; i < 3; i++)
        unlink(tmp_path(names[i]));
    rmdir(tmpdir);
    return test_summary();
}
