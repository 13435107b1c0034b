/* test_native.c - native model files: round trips give the .pth's outputs; corrupt files fail cleanly. */
#include "kernels/kernels.h"
#include "core/model.h"
#include "retinaface.h"
#include "retinaface_tools.h"
#include "testutil.h"

#include <math.h>
#include <stdint.h>
#include <unistd.h>
#include <zlib.h>

static char tmpdir[] = "/tmp/rf_test_native_XXXXXX";

typedef struct {
    float *cls, *box, *ldm;
    int64_t anchors;
} outputs;

static void outputs_free(outputs *o)
{
    free(o->cls);
    free(o->box);
    free(o->ldm);
}

static float *copy(const float *src, size_t n)
{
    float *d = malloc(n * sizeof *d);
    if (d)
        memcpy(d, src, n * sizeof *d);
    return d;
}

/* A deterministic input in the range of a mean-subtracted image. */
static float *make_input(int batch, int h, int w)
{
    const size_t n = (size_t)batch * 3 * h * w;
    float *x = malloc(n * sizeof *x);
    uint32_t s = 12345;
    for (size_t i = 0; x && i < n; i++) {
        s = s * 1664525u + 1013904223u;
        x[i] = (float)(s >> 8) / (float)(1 << 24) * 255.0f - 120.0f;
    }
    return x;
}

static int run_precision(const rf_model *m, rf_kernels kernels, rf_precision precision,
                         const float *input, int batch, int h, int w, outputs *o)
{
    rf_context *ctx;
    rf_error err;
    rf_context_options opt = rf_context_options_default();
    opt.kernels = kernels;
    opt.precision = precision;
    if (rf_context_create(m, &opt, &ctx, &err) != RF_OK ||
        rf_forward(ctx, input, batch, h, w, &err) != RF_OK) {
        fprintf(stderr, "forward: %s\n", err.message);
        return -1;
    }
    rf_outputs r;
    rf_context_outputs(ctx, &r, &err);
    const size_t a = (size_t)(batch * r.anchors);
    o->anchors = r.anchors;
    o->cls = copy(r.cls_prob, a * 2);
    o->box = copy(r.bbox_pred, a * 4);
    o->ldm = copy(r.landmark_pred, a * 10);
    rf_context_free(ctx);
    return o->cls && o->box && o->ldm ? 0 : -1;
}

static int run(const rf_model *m, rf_kernels kernels, const float *input, int batch, int h, int w,
               outputs *o)
{
    return run_precision(m, kernels, RF_PRECISION_FP32, input, batch, h, w, o);
}

static double max_abs(const float *a, size_t n)
{
    double m = 0;
    for (size_t i = 0; i < n; i++)
        m = fmax(m, fabs((double)a[i]));
    return m;
}

/* Max |a - b| relative to the largest |b|: the raw regressions of a random input are large. */
static double max_diff(const float *a, const float *b, size_t n)
{
    double d = 0;
    for (size_t i = 0; i < n; i++)
        d = fmax(d, fabs((double)a[i] - b[i]));
    return d / fmax(max_abs(b, n), 1e-30);
}

/* Outputs of `m` against those of the reference model: identical when tol is 0, else within
 * tol relative to each output's largest value. */
static void compare(const char *what, const rf_model *m, rf_kernels kernels, const outputs *ref,
                    const float *input, int h, int w, double tol)
{
    outputs o = {0};
    CHECK(run(m, kernels, input, 1, h, w, &o) == 0, "%s: forward", what);
    if (o.cls) {
        const size_t a = (size_t)ref->anchors;
        const double d = fmax(max_diff(o.cls, ref->cls, 2 * a),
                              fmax(max_diff(o.box, ref->box, 4 * a),
                                   max_diff(o.ldm, ref->ldm, 10 * a)));
        if (tol == 0)
            CHECK(!memcmp(o.cls, ref->cls, 8 * a) && !memcmp(o.box, ref->box, 16 * a) &&
                      !memcmp(o.ldm, ref->ldm, 40 * a),
                  "%s: outputs differ (max %g)", what, d);
        else
            CHECK(d <= tol, "%s: max |diff| %g > %g", what, d, tol);
        printf("%s: max relative |diff| vs .pth %.3g\n", what, d);
    }
    outputs_free(&o);
}

static unsigned char *read_all(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *buf = malloc((size_t)n + 1);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    *size = (size_t)n;
    return buf;
}

static void write_all(const char *path, const void *data, size_t size)
{
    FILE *f = fopen(path, "wb");
    if (f) {
        fwrite(data, 1, size, f);
        fclose(f);
    }
}

static uint64_t get64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static void put64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static void put32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

/* Recomputes the header checksum (header, layer table, packed table and, from version 3, the
 * range table), so that a test reaches the checks behind it. */
static void fix_crc(unsigned char *buf)
{
    const uint32_t layers = buf[28] | buf[29] << 8 | buf[30] << 16 | (uint32_t)buf[31] << 24;
    const size_t end =
        64 + (size_t)(layers < 1000 ? layers : 0) * (64 + 16 + (buf[8] >= 3 ? 8 : 0));
    memset(buf + 12, 0, 4);
    const uint32_t crc = (uint32_t)crc32(0L, buf, (uInt)end);
    for (int i = 0; i < 4; i++)
        buf[12 + i] = (unsigned char)(crc >> (8 * i));
}

/* Loading from memory and from a file must both fail with RF_E_FORMAT, and say so. */
static void expect_bad(const char *what, const unsigned char *buf, size_t size)
{
    rf_model *m = (rf_model *)1;
    rf_error err;
    rf_status st = rf_model_load_memory(buf, size, RF_ANCHORS_RETINAFACE, &m, &err);
    CHECK(st == RF_E_FORMAT && m == NULL, "%s (memory): status %s, '%s'", what,
          rf_status_name(st), err.message);
    char path[256];
    snprintf(path, sizeof path, "%s/bad.rfn", tmpdir);
    write_all(path, buf, size);
    m = (rf_model *)1;
    st = rf_model_load(path, RF_ANCHORS_RETINAFACE, &m, &err);
    /* below 8 bytes there is no magic left, and the checkpoint loader reports the file */
    CHECK(st != RF_OK && m == NULL && (size < 8 || st == RF_E_FORMAT), "%s (file): status %s, '%s'",
          what, rf_status_name(st), err.message);
}

static void corruption(const char *native)
{
    size_t size;
    unsigned char *good = read_all(native, &size);
    CHECK(good != NULL, "read %s", native);
    if (!good)
        return;
    unsigned char *buf = malloc(size + 64);
    const size_t packed_table = 64 + 64 * (size_t)good[28];
    const size_t table_end = packed_table + (16 + 8) * (size_t)good[28];
    const uint64_t block3 = get64(good + packed_table + 16 * 3); /* layer 3's packed block */
    const size_t cuts[] = {0, 7, 8, 63, 64, packed_table, table_end - 1, table_end,
                           get64(good + 32), size / 2, block3, block3 + 100, size - 1};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        char what[64];
        snprintf(what, sizeof what, "truncated to %zu bytes", cuts[i]);
        expect_bad(what, good, cuts[i]);
    }
    memcpy(buf, good, size);
    memset(buf + size, 0, 64);
    expect_bad("64 bytes appended", buf, size + 64);

    /* every byte of the header and table flipped, one at a time */
    int all_failed = 1;
    for (size_t i = 8; i < table_end; i++) {
        memcpy(buf, good, table_end);
        buf[i] ^= 0x5a;
        rf_model *m = NULL;
        rf_error err;
        if (rf_model_load_memory(buf, size, RF_ANCHORS_RETINAFACE, &m, &err) != RF_E_FORMAT) {
            all_failed = 0;
            fprintf(stderr, "byte %zu flipped: %s\n", i, err.message);
            rf_model_free(m);
        }
    }
    CHECK(all_failed, "every flipped header byte is refused");

    /* consistent checksum, wrong content: the checks behind it */
    struct { const char *what; size_t at; uint64_t value; int wide; } edits[] = {
        {"weights beyond the end", 64 + 64 * 3 + 32, size, 1},
        {"weights at a huge offset", 64 + 64 * 3 + 32, UINT64_MAX - 63, 1},
        {"misaligned weights", 64 + 64 * 3 + 32, get64(good + 64 + 64 * 3 + 32) + 4, 1},
        {"wrong weight count", 64 + 64 * 3 + 40, 7, 1},
        {"wrong bias count", 64 + 64 * 5 + 56, 1u << 30, 1},
        {"wrong cin", 64 + 64 * 2, 9, 0},
        {"wrong stride", 64 + 64 * 2 + 16, 3, 0},
        {"version 1 (before packed blocks)", 8, 1, 0},
        {"version 4", 8, 4, 0},
        {"packed block beyond the end", packed_table + 16 * 3, size, 1},
        {"packed block at a huge offset", packed_table + 16 * 3, UINT64_MAX - 63, 1},
        {"misaligned packed block", packed_table + 16 * 3, block3 + 4, 1},
        {"packed block inside the table", packed_table + 16 * 3, 64, 1},
        {"packed block too long", packed_table + 16 * 3 + 8, size, 1},
        {"packed block one panel short", packed_table + 16 * 3 + 8,
         get64(good + packed_table + 16 * 3 + 8) - 64, 1},
        {"packed block's header", block3, 1u ^ get64(good + block3), 1},
        {"packed blocks with f16 storage", 24, RF_STORAGE_F16, 0},
        {"backbone 7", 16, 7, 0},
        {"storage 9", 24, 9, 0},
        {"no layers", 28, 0, 0},
        {"one layer less", 28, good[28] - 1u, 0},
        {"data inside the table", 32, 64, 1},
        {"parameter count", 48, 12345, 1},
    };
    for (size_t i = 0; i < sizeof edits / sizeof edits[0]; i++) {
        memcpy(buf, good, size);
        if (edits[i].wide)
            put64(buf + edits[i].at, edits[i].value);
        else
            for (int k = 0; k < 4; k++)
                buf[edits[i].at + k] = (unsigned char)(edits[i].value >> (8 * k));
        fix_crc(buf);
        expect_bad(edits[i].what, buf, size);
    }
    /* blocks of another layout version are not used, but must still lie in the file */
    memcpy(buf, good, size);
    put32(buf + 56, RF_PACK_LAYOUT_VERSION + 1);
    put64(buf + packed_table + 16 * 3, size);
    fix_crc(buf);
    expect_bad("packed block of another version beyond the end", buf, size);
    memcpy(buf, good, size);
    put32(buf + 56, 0);
    fix_crc(buf);
    expect_bad("packed table entries without a packing version", buf, size);

    /* random garbage behind a valid magic */
    uint32_t s = 99;
    for (int round = 0; round < 200; round++) {
        memcpy(buf, good, size);
        for (int k = 0; k < 16; k++) {
            s = s * 1664525u + 1013904223u;
            buf[8 + (s >> 8) % (table_end - 8)] = (unsigned char)(s >> 24);
        }
        if (round & 1)
            fix_crc(buf);
        rf_model *m = NULL;
        rf_error err;
        if (rf_model_load_memory(buf, size, RF_ANCHORS_RETINAFACE, &m, &err) == RF_OK)
            rf_model_free(m); /* an edit may only touch padding; loading is then fine */
    }
    free(buf);
    free(good);
}

static void putf32(unsigned char *p, float v)
{
    uint32_t u;
    memcpy(&u, &v, 4);
    put32(p, u);
}

/* int8 calibration (rf_model_calibrate) on one picture: every layer that runs in int8, and no
 * other, gets a range; a native file keeps them exactly; int8 outputs are the same from the
 * calibrated model and from its file, and differ from the uncalibrated model's (the ranges are
 * used); a version-2 file (no range table) still loads, uncalibrated; bad ranges are refused;
 * rf_model_clear_ranges drops them. */
static void calibration(const char *pth_rel, int h, int w)
{
    char pth[1024], path[300];
    snprintf(pth, sizeof pth, "%s/%s", test_data_dir(), pth_rel);
    snprintf(path, sizeof path, "%s/calibrated.rfn", tmpdir);
    rf_model *m = NULL, *back = NULL;
    rf_error err;
    rf_image_buf img = {0};
    CHECK(rf_model_load_flags(pth, RF_ANCHORS_RETINAFACE, RF_LOAD_KEEP_REFERENCE, &m, &err) ==
              RF_OK && rf_image_alloc(w, h, &img, &err) == RF_OK,
          "calibration setup: %s", err.message);
    if (!m || !img.data) {
        rf_model_free(m);
        rf_image_buf_free(&img);
        return;
    }
    for (int y = 0; y < h; y++)
        for (int x = 0; x < 3 * w; x++)
            img.data[(size_t)y * img.image.stride + x] = (uint8_t)((x * 7 + y * 13) ^ (x * y));
    CHECK(!rf_model_calibrated(m), "a checkpoint carries no ranges");
    const rf_input_policy policy = rf_input_policy_original();
    CHECK(rf_model_calibrate(m, &img.image, 1, &policy, 2, &err) == RF_OK, "calibrate: %s",
          err.message);
    int ranged = 0, reduced = 0, stray = 0;
    for (int i = 0; i < m->layers.count; i++) {
        const rf_conv *c = &m->layers.layer[i].conv;
        const int int8 = rf_conv_reduced(c);
        reduced += int8;
        ranged += int8 && c->range_lo < c->range_hi && c->range_lo <= 0.0f;
        stray += !int8 && (c->range_lo != 0.0f || c->range_hi != 0.0f);
    }
    CHECK(rf_model_calibrated(m) && ranged == reduced && stray == 0,
          "calibrated: %d of %d int8 layers have a range, %d other layers do", ranged, reduced,
          stray);
    CHECK(rf_model_save_native(m, path, RF_STORAGE_F32, &err) == RF_OK &&
              rf_model_load_flags(path, RF_ANCHORS_RETINAFACE, RF_LOAD_KEEP_REFERENCE, &back,
                                  &err) == RF_OK,
          "calibrated file: %s", err.message);
    int same = back != NULL;
    for (int i = 0; back && i < m->layers.count; i++)
        same &= m->layers.layer[i].conv.range_lo == back->layers.layer[i].conv.range_lo &&
                m->layers.layer[i].conv.range_hi == back->layers.layer[i].conv.range_hi;
    CHECK(same, "the file keeps every range exactly");

    /* int8: the SIMD set where the CPU has it, else the reference (the model kept its weights) */
    rf_kernels k = RF_KERNELS_AUTO;
    rf_context *probe;
    rf_context_options opt = rf_context_options_default();
    opt.precision = RF_PRECISION_INT8;
    if (rf_context_create(m, &opt, &probe, &err) == RF_OK)
        rf_context_free(probe);
    else
        k = RF_KERNELS_REFERENCE;
    float *input = make_input(1, h, w);
    outputs a = {0}, b = {0}, c = {0};
    CHECK(input && run_precision(m, k, RF_PRECISION_INT8, input, 1, h, w, &a) == 0 &&
              (!back || run_precision(back, k, RF_PRECISION_INT8, input, 1, h, w, &b) == 0),
          "int8 runs");
    if (back && a.cls && b.cls) {
        const size_t n = (size_t)a.anchors;
        CHECK(max_diff(a.cls, b.cls, 2 * n) == 0 && max_diff(a.box, b.box, 4 * n) == 0 &&
                  max_diff(a.ldm, b.ldm, 10 * n) == 0,
              "int8 outputs of the calibrated model and of its file differ");
    }
    /* the uint8 copies layers write (calibrated int8 only) against conversions of their own */
    outputs d = {0};
    setenv("RETINAFACE_NO_COPIES", "1", 1);
    const int ran = a.cls && run_precision(m, k, RF_PRECISION_INT8, input, 1, h, w, &d) == 0;
    unsetenv("RETINAFACE_NO_COPIES");
    if (ran) {
        const size_t n = (size_t)a.anchors;
        CHECK(max_diff(a.cls, d.cls, 2 * n) == 0 && max_diff(a.box, d.box, 4 * n) == 0 &&
                  max_diff(a.ldm, d.ldm, 10 * n) == 0,
              "calibrated int8: outputs with the layers' copies differ from those without");
    }
    outputs_free(&d);
    rf_model_clear_ranges(m);
    CHECK(!rf_model_calibrated(m), "rf_model_clear_ranges leaves ranges");
    if (a.cls && run_precision(m, k, RF_PRECISION_INT8, input, 1, h, w, &c) == 0) {
        const size_t n = (size_t)a.anchors;
        CHECK(max_diff(a.box, c.box, 4 * n) > 0, "the calibrated ranges change nothing");
    }
    outputs_free(&a);
    outputs_free(&b);
    outputs_free(&c);
    free(input);

    size_t size;
    unsigned char *good = read_all(path, &size), *buf = good ? malloc(size) : NULL;
    if (good && buf) {
        const size_t layers = good[28];
        const size_t ranges = 64 + (64 + 16) * layers;
        /* the first layer that runs in int8, and one that does not (ResNet50 has none) */
        int first = -1, fp32 = -1;
        for (int i = m->layers.count - 1; i >= 0; i--) {
            if (rf_conv_reduced(&m->layers.layer[i].conv))
                first = i;
            else
                fp32 = i;
        }
        /* version 2: the range table's bytes become a gap before the data */
        memcpy(buf, good, size);
        put32(buf + 8, 2);
        fix_crc(buf);
        rf_model *v2 = NULL;
        CHECK(rf_model_load_memory(buf, size, RF_ANCHORS_RETINAFACE, &v2, &err) == RF_OK &&
                  !rf_model_calibrated(v2),
              "a version-2 file loads, uncalibrated: %s", err.message);
        rf_model_free(v2);
        const struct {
            const char *what;
            int layer;
            float lo, hi;
        } bad[] = {{"range lo > hi", first, 1.0f, -1.0f},
                   {"range NaN", first, -1.0f, NAN},
                   {"range infinite", first, -INFINITY, 1.0f},
                   {"range on a float32 layer", fp32, -1.0f, 1.0f}};
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
            if (bad[i].layer < 0)
                continue;
            memcpy(buf, good, size);
            putf32(buf + ranges + 8 * (size_t)bad[i].layer, bad[i].lo);
            putf32(buf + ranges + 8 * (size_t)bad[i].layer + 4, bad[i].hi);
            fix_crc(buf);
            expect_bad(bad[i].what, buf, size);
        }
    }
    free(buf);
    free(good);
    rf_model_free(back);
    rf_model_free(m);
    rf_image_buf_free(&img);
}

/* Every stored value within half a unit in the last place of the storage format (11 or 8
 * significant bits) of the original, checked on the layers at both ends of the network. */
static void check_rounding(const char *what, const rf_model *m, const rf_model *ref, int bits)
{
    const rf_layers *t = &m->layers;
    const int layers[4] = {0, t->fpn_lateral[0], t->head_box[1], t->head_ldm[2]};
    const rf_conv *a[4], *b[4];
    for (int i = 0; i < 4; i++) {
        a[i] = &t->layer[layers[i]].conv;
        b[i] = &ref->layers.layer[layers[i]].conv;
    }
    double worst = 0;
    for (int i = 0; i < 4; i++) {
        const size_t n = (size_t)a[i]->kh * a[i]->kw * a[i]->cin * a[i]->cout / a[i]->groups;
        for (size_t j = 0; j < n + (size_t)a[i]->cout; j++) {
            const float x = j < n ? a[i]->weight[j] : a[i]->bias[j - n];
            const float y = j < n ? b[i]->weight[j] : b[i]->bias[j - n];
            /* below 2^-14 half precision turns subnormal: an absolute step of 2^-25 */
            const double ulp = fmax(ldexp(fabs((double)y), -bits), ldexp(1.0, -25));
            worst = fmax(worst, fabs((double)x - y) / ulp);
        }
    }
    CHECK(worst <= 1.0, "%s: a weight is %g half-ulps off", what, 2 * worst);
}

/* Whether m's weights for the fastest kernels are the packed blocks of its mapped file. */
static int packed_in_file(const rf_model *m)
{
    const rf_kernel_set *ks = rf_kernels_select(RF_KERNELS_AUTO, RF_PRECISION_FP32, NULL);
    for (int i = 0; i < m->npackings; i++)
        if (m->packings[i].pack == ks->pack && m->packings[i].version == ks->pack_layout)
            return ks->pack && !m->packings[i].region;
    return 0;
}

/* The f32 file at path: its packed blocks are used in place when this build's fastest kernels
 * pack (outputs as the .pth's); with its packing version changed they are packed again at load,
 * outputs still identical. */
static void check_packed(const char *tag, const char *path, const outputs *want,
                         const outputs *want_auto, const float *input, int h, int w)
{
    const int packs = rf_kernels_select(RF_KERNELS_AUTO, RF_PRECISION_FP32, NULL)->pack_layout != 0;
    rf_model *m = NULL;
    rf_error err;
    char what[128];
    CHECK(rf_model_load(path, RF_ANCHORS_RETINAFACE, &m, &err) == RF_OK, "%s", err.message);
    if (m)
        CHECK(packed_in_file(m) == packs, "%s: packed blocks used from the file: %d", tag,
              packed_in_file(m));
    rf_model_free(m);
    size_t size;
    unsigned char *bytes = read_all(path, &size);
    CHECK(bytes != NULL, "read %s", path);
    if (!bytes)
        return;
    put32(bytes + 56, RF_PACK_LAYOUT_VERSION + 1);
    fix_crc(bytes);
    char other[300];
    snprintf(other, sizeof other, "%s.otherpack", path);
    write_all(other, bytes, size);
    free(bytes);
    m = NULL;
    CHECK(rf_model_load(other, RF_ANCHORS_RETINAFACE, &m, &err) == RF_OK, "%s", err.message);
    if (!m)
        return;
    CHECK(!packed_in_file(m), "%s: blocks of another packing version used", tag);
    snprintf(what, sizeof what, "%s f32, other packing version", tag);
    compare(what, m, RF_KERNELS_REFERENCE, want, input, h, w, 0);
    snprintf(what, sizeof what, "%s f32, other packing version, fastest kernels", tag);
    compare(what, m, RF_KERNELS_AUTO, want_auto, input, h, w, 0);
    rf_model_free(m);
}

/* pth -> native (each storage) -> loaded again: outputs as the .pth's. */
/* Resident memory of this process in bytes (Linux), 0 if unknown. */
static size_t resident_bytes(void)
{
    long pages = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f && fscanf(f, "%*s %ld", &pages) != 1)
        pages = 0;
    if (f)
        fclose(f);
    return (size_t)pages * (size_t)sysconf(_SC_PAGESIZE);
}

/* A mapped f32 file whose packed blocks serve the fastest kernels: loading it and running
 * those kernels must leave the reference-layout weights on disk (not resident). Checked where
 * they weigh enough to measure (ResNet50: 109 MB). */
static void check_lazy_weights(const char *tag, const char *path, const float *input, int h, int w)
{
    size_t size;
    unsigned char *bytes = read_all(path, &size);
    free(bytes);
    rf_error err;
    const size_t before = resident_bytes();
    rf_model *m = NULL;
    CHECK(rf_model_load(path, RF_ANCHORS_RETINAFACE, &m, &err) == RF_OK, "%s", err.message);
    if (!m)
        return;
    const size_t reference = (size_t)rf_model_parameters(m) * sizeof(float);
    outputs o = {0};
    CHECK(run(m, RF_KERNELS_AUTO, input, 1, h, w, &o) == 0, "%s: forward", tag);
    const size_t grew = resident_bytes() - before;
    if (packed_in_file(m) && reference > ((size_t)50 << 20) && before) {
        CHECK(grew < size - reference / 2,
              "%s: %zu MB resident after load and forward, reference weights %zu MB of a %zu MB "
              "file",
              tag, grew >> 20, reference >> 20, size >> 20);
        printf("  %s f32 mapped: %zu MB resident of a %zu MB file after a forward pass\n", tag,
               grew >> 20, size >> 20);
    } else {
        printf("  %s f32 mapped: resident memory not checked (%s)\n", tag,
               !packed_in_file(m) ? "this CPU's kernels repack the weights"
               : before          ? "reference weights too small to measure"
                                 : "no /proc/self/statm");
    }
    outputs_free(&o);
    rf_model_free(m);
}

/* A model loaded without RF_LOAD_KEEP_REFERENCE: the same outputs from the fastest kernels,
 * and a clear refusal of what needs the plain layout. */
static void check_lean(const char *tag, const char *path, rf_anchors anchors,
                       const outputs *want_auto, const float *input, int h, int w)
{
    rf_error err;
    rf_model *m = NULL, *kept = NULL;
    const size_t r0 = resident_bytes();
    CHECK(rf_model_load(path, anchors, &m, &err) == RF_OK, "%s", err.message);
    if (!m)
        return;
    const size_t r1 = resident_bytes();
    char what[128];
    snprintf(what, sizeof what, "%s loaded without the plain layout", tag);
    /* the memory it saves, where it weighs enough to measure (ResNet50: 109 MB) */
    const double plain = 4.0 * (double)rf_model_parameters(m);
    if (plain >= 64e6 && rf_kernels_select(RF_KERNELS_AUTO, RF_PRECISION_FP32, NULL)->pack_size &&
        rf_model_load_flags(path, anchors, RF_LOAD_KEEP_REFERENCE, &kept, &err) == RF_OK) {
        const double saved = ((double)resident_bytes() - r1) - ((double)r1 - r0);
        CHECK(saved > 0.75 * plain, "%s: %.0f MB less resident than with it, expected ~%.0f MB",
              what, saved / 1e6, plain / 1e6);
        printf("%s: %.0f MB less resident at load (plain layout: %.0f MB)\n", what, saved / 1e6,
               plain / 1e6);
        rf_model_free(kept);
    }
    compare(what, m, RF_KERNELS_AUTO, want_auto, input, h, w, 0);
    const int packed = rf_kernels_select(RF_KERNELS_AUTO, RF_PRECISION_FP32, NULL)->pack != NULL;
    CHECK(rf_model_has_reference_weights(m) == !packed, "%s: has_reference_weights %d", what,
          rf_model_has_reference_weights(m));
    if (packed) {
        rf_context_options o = rf_context_options_default();
        o.kernels = RF_KERNELS_REFERENCE;
        rf_context *ctx = NULL;
        char out[300];
        snprintf(out, sizeof out, "%s/%s_lean.rfn", tmpdir, tag);
        CHECK(rf_context_create(m, &o, &ctx, &err) == RF_E_UNSUPPORTED &&
                  strstr(err.message, "RF_LOAD_KEEP_REFERENCE"),
              "%s: reference context: %s", what, err.message);
        CHECK(rf_model_save_native(m, out, RF_STORAGE_F32, &err) == RF_E_UNSUPPORTED,
              "%s: save_native: %s", what, err.message);
        snprintf(out, sizeof out, "%s/%s_lean.onnx", tmpdir, tag);
        CHECK(rf_model_save_onnx(m, out, &err) == RF_E_UNSUPPORTED, "%s: save_onnx: %s", what,
              err.message);
        rf_context_free(ctx);
    }
    rf_model_free(m);
}

static void round_trip(const char *pth, rf_anchors anchors, const char *tag, int h, int w,
                       const char **f32_out)
{
    static char f32_path[256];
    rf_error err;
    rf_model *ref;
    char path[256];
    CHECK(rf_model_load_flags(test_data_path(pth), anchors, RF_LOAD_KEEP_REFERENCE, &ref,
                              &err) == RF_OK,
          "%s", err.message);
    if (!ref)
        return;
    float *input = make_input(1, h, w);
    /* the .pth's outputs with the reference kernels and with the fastest (packed weights) */
    outputs want = {0}, want_auto = {0};
    CHECK(run(ref, RF_KERNELS_REFERENCE, input, 1, h, w, &want) == 0, "%s: forward", tag);
    CHECK(run(ref, RF_KERNELS_AUTO, input, 1, h, w, &want_auto) == 0, "%s: forward", tag);
    const rf_storage storages[3] = {RF_STORAGE_F32, RF_STORAGE_F16, RF_STORAGE_BF16};
    const double tol[3] = {0, 5e-2, 0.3}; /* loose: a random input through random weights */
    const int bits[3] = {0, 11, 8};
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/%s_%s.rfn", tmpdir, tag, rf_storage_name(storages[i]));
        CHECK(rf_model_save_native(ref, path, storages[i], &err) == RF_OK, "%s", err.message);
        rf_model *m = NULL;
        /* the file's own preset wins over the argument */
        rf_anchors other = anchors == RF_ANCHORS_FACE1MB ? RF_ANCHORS_RETINAFACE
                                                         : RF_ANCHORS_FACE1MB;
        CHECK(rf_model_load_flags(path, other, RF_LOAD_KEEP_REFERENCE, &m, &err) == RF_OK, "%s",
              err.message);
        if (!m)
            continue;
        CHECK(rf_model_backbone(m) == rf_model_backbone(ref) && rf_model_anchors(m) == anchors &&
                  rf_model_parameters(m) == rf_model_parameters(ref),
              "%s: model description", path);
        char what[128];
        snprintf(what, sizeof what, "%s %s", tag, rf_storage_name(storages[i]));
        compare(what, m, RF_KERNELS_REFERENCE, &want, input, h, w, tol[i]);
        if (!bits[i]) {
            snprintf(what, sizeof what, "%s f32, fastest kernels", tag);
            compare(what, m, RF_KERNELS_AUTO, &want_auto, input, h, w, 0);
        }
        if (bits[i])
            check_rounding(what, m, ref, bits[i]);
        rf_model_free(m);
        if (storages[i] == RF_STORAGE_F32) {
            size_t size;
            unsigned char *bytes = read_all(path, &size);
            CHECK(bytes && rf_model_load_memory(bytes, size, anchors, &m, &err) == RF_OK, "%s",
                  err.message);
            free(bytes); /* the model must not depend on the buffer */
            snprintf(what, sizeof what, "%s f32 from memory", tag);
            if (m)
                compare(what, m, RF_KERNELS_AUTO, &want_auto, input, h, w, 0);
            rf_model_free(m);
            snprintf(f32_path, sizeof f32_path, "%s", path);
            if (f32_out)
                *f32_out = f32_path;
            check_packed(tag, path, &want, &want_auto, input, h, w);
            check_lean(tag, test_data_path(pth), anchors, &want_auto, input, h, w);
            check_lazy_weights(tag, path, input, h, w);
        }
    }
    outputs_free(&want);
    outputs_free(&want_auto);
    free(input);
    rf_model_free(ref);
}

int main(void)
{
    require_test_data("test_native");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    const char *mnet = NULL;
    round_trip("models/mobilenet0.25_Final.pth", RF_ANCHORS_RETINAFACE, "mnet", 120, 96, &mnet);
    round_trip("models/mobilenet0.25_face1mb.pth", RF_ANCHORS_FACE1MB, "face1mb", 64, 80, NULL);
    round_trip("models/resnet50_synthetic.pth", RF_ANCHORS_RETINAFACE, "r50", 64, 96, NULL);
    if (mnet)
        corruption(mnet);
    calibration("models/mobilenet0.25_Final.pth", 120, 96);
    calibration("models/resnet50_synthetic.pth", 64, 96);

    rf_error err;
    CHECK(rf_model_save_native(NULL, "x", RF_STORAGE_F32, &err) == RF_E_ARG, "null model");
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", tmpdir);
    return test_summary();
}
