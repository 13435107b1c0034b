/* test_image.c - image decoding (every PNG kind, JPEG), hostile files, saving, and cv2 parity. */
#define _POSIX_C_SOURCE 200809L /* mkdtemp */

#include "retinaface.h"
#include "testutil.h"

#include <dirent.h>
#include <png.h>
#include <stdint.h>
#include <unistd.h>
#include <zlib.h>

static char tmpdir[256];

static const char *tmp_path(const char *name)
{
    static char path[512];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    return path;
}

static uint8_t *read_all(const char *path, size_t *size)
{
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return NULL;
    fseek(fp, 0, SEEK_END);
    long n = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    uint8_t *buf = malloc(n > 0 ? (size_t)n : 1);
    *size = fread(buf, 1, (size_t)n, fp);
    fclose(fp);
    return buf;
}

static void write_all(const char *path, const void *data, size_t size)
{
    FILE *fp = fopen(path, "wb");
    fwrite(data, 1, size, fp);
    fclose(fp);
}

static int count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    int n = 0;
    for (struct dirent *e; d && (e = readdir(d));)
        n += e->d_name[0] != '.';
    if (d)
        closedir(d);
    return n;
}

/* Deterministic pseudo-random bytes, so failures reproduce. */
static uint32_t rng_state = 12345;
static uint32_t rnd(void)
{
    rng_state = rng_state * 1664525u + 1013904223u;
    return rng_state >> 8;
}

static void fill_pattern(rf_image_buf *img)
{
    for (int y = 0; y < img->image.height; y++)
        for (int x = 0; x < img->image.width; x++) {
            uint8_t *p = img->data + y * img->image.stride + 3 * x;
            p[0] = (uint8_t)(x * 7 + y);
            p[1] = (uint8_t)(y * 5);
            p[2] = (uint8_t)(x * 3 + y * 11);
        }
}

/* Writes a PNG with libpng directly, so every colour type and depth can be produced. rows holds
 * height rows of packed samples as PNG stores them. */
static void write_png_raw(const char *path, int w, int h, int color, int depth, int interlace,
                          const uint8_t *rows, size_t row_bytes, const png_color *palette,
                          int palette_n)
{
    FILE *fp = fopen(path, "wb");
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(png);
    png_init_io(png, fp);
    png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, depth, color, interlace,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    if (palette)
        png_set_PLTE(png, info, palette, palette_n);
    png_write_info(png, info);
    int passes = png_set_interlace_handling(png);
    for (int pass = 0; pass < passes; pass++)
        for (int y = 0; y < h; y++)
            png_write_row(png, rows + (size_t)y * row_bytes);
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    fclose(fp);
}

static void check_pixel(const rf_image_buf *img, int x, int y, int b, int g, int r,
                        const char *what)
{
    const uint8_t *p = img->data + y * img->image.stride + 3 * x;
    CHECK(p[0] == b && p[1] == g && p[2] == r, "%s (%d,%d): got %d,%d,%d want %d,%d,%d", what, x,
          y, p[0], p[1], p[2], b, g, r);
}

static void test_alloc(void)
{
    rf_error err;
    rf_image_buf img;
    CHECK(rf_image_alloc(1, 1, &img, &err) == RF_OK, "%s", err.message);
    CHECK(img.image.width == 1 && img.image.stride == 3 && img.data[0] == 0, "1x1 alloc");
    CHECK(img.image.order == RF_PIXELS_BGR && img.image.pixels == img.data, "view");
    rf_image_buf_free(&img);
    rf_image_buf_free(&img); /* cleared, so a second free is harmless */
    rf_image_buf_free(NULL);
    CHECK(rf_image_alloc(0, 5, &img, &err) == RF_E_ARG, "zero width");
    CHECK(img.data == NULL, "nothing allocated");
    CHECK(rf_image_alloc(100000, 100000, &img, &err) == RF_E_LIMIT, "limit: %s", err.message);
}

static void test_png_round_trip(void)
{
    rf_error err;
    rf_image_buf src, back;
    rf_image_alloc(37, 23, &src, &err);
    for (size_t i = 0; i < 37 * 23 * 3; i++)
        src.data[i] = (uint8_t)rnd();
    CHECK(rf_image_save(tmp_path("rt.png"), &src.image, &err) == RF_OK, "%s", err.message);
    CHECK(rf_image_load(tmp_path("rt.png"), &back, &err) == RF_OK, "%s", err.message);
    CHECK(back.image.width == 37 && back.image.height == 23, "size");
    CHECK(back.data && memcmp(back.data, src.data, 37 * 23 * 3) == 0, "PNG is lossless");
    CHECK(err.status == RF_OK && err.message[0] == 0, "err cleared on success");
    rf_image_buf_free(&back);

    /* An RGB view with padding between rows is written as the same colours. */
    size_t stride = 37 * 3 + 5;
    uint8_t *rgb = calloc(stride * 23, 1);
    for (int y = 0; y < 23; y++)
        for (int x = 0; x < 37; x++)
            for (int c = 0; c < 3; c++)
                rgb[y * stride + 3 * x + c] = src.data[y * 37 * 3 + 3 * x + 2 - c];
    rf_image view = {rgb, 37, 23, stride, RF_PIXELS_RGB};
    CHECK(rf_image_save(tmp_path("rgb.PNG"), &view, &err) == RF_OK, "%s", err.message);
    CHECK(rf_image_load(tmp_path("rgb.PNG"), &back, &err) == RF_OK, "%s", err.message);
    CHECK(back.data && memcmp(back.data, src.data, 37 * 23 * 3) == 0, "RGB view saved as BGR");
    rf_image_buf_free(&back);
    free(rgb);

    /* Overwriting an existing file works and leaves no temporary file. */
    int before = count_entries(tmpdir);
    CHECK(rf_image_save(tmp_path("rt.png"), &src.image, &err) == RF_OK, "%s", err.message);
    CHECK(count_entries(tmpdir) == before, "no temp left: %d vs %d", count_entries(tmpdir),
          before);
    rf_image_buf_free(&src);
}

static void test_jpeg_round_trip(void)
{
    rf_error err;
    rf_image_buf src, back;
    rf_image_alloc(64, 48, &src, &err);
    for (int y = 0; y < 48; y++)
        for (int x = 0; x < 64; x++) {
            uint8_t *p = src.data + y * src.image.stride + 3 * x;
            p[0] = (uint8_t)(x * 4);
            p[1] = (uint8_t)(y * 5);
            p[2] = (uint8_t)(128 + x - y);
        }
    const char *names[] = {"rt.jpg", "rt.JPEG"};
    for (int i = 0; i < 2; i++) {
        CHECK(rf_image_save(tmp_path(names[i]), &src.image, &err) == RF_OK, "%s", err.message);
        CHECK(rf_image_load(tmp_path(names[i]), &back, &err) == RF_OK, "%s", err.message);
        CHECK(back.image.width == 64 && back.image.height == 48, "JPEG size");
        int maxd = 0;
        for (size_t k = 0; back.data && k < 64 * 48 * 3; k++) {
            int d = abs(back.data[k] - src.data[k]);
            maxd = d > maxd ? d : maxd;
        }
        /* A smooth gradient at quality 90 comes back within a few levels. */
        CHECK(maxd <= 8, "JPEG quality 90 max difference %d", maxd);
        rf_image_buf_free(&back);
    }
    rf_image_buf_free(&src);
}

static void test_png_kinds(void)
{
    rf_error err;
    rf_image_buf img;
    enum { W = 13, H = 7 };
    uint8_t rows[H * W * 8];

    /* 8-bit grey: replicated into B, G and R. */
    for (int i = 0; i < W * H; i++)
        rows[i] = (uint8_t)(i * 3);
    write_png_raw(tmp_path("grey.png"), W, H, PNG_COLOR_TYPE_GRAY, 8, PNG_INTERLACE_NONE, rows,
                  W, NULL, 0);
    CHECK(rf_image_load(tmp_path("grey.png"), &img, &err) == RF_OK, "%s", err.message);
    check_pixel(&img, 5, 2, (2 * W + 5) * 3, (2 * W + 5) * 3, (2 * W + 5) * 3, "grey");
    rf_image_buf_free(&img);

    /* 1-bit grey: bits become 0 or 255. Row 0 alternates. */
    memset(rows, 0, sizeof rows);
    rows[0] = 0xaa;
    rows[1] = 0xaa;
    write_png_raw(tmp_path("grey1.png"), W, H, PNG_COLOR_TYPE_GRAY, 1, PNG_INTERLACE_NONE, rows,
                  2, NULL, 0);
    CHECK(rf_image_load(tmp_path("grey1.png"), &img, &err) == RF_OK, "%s", err.message);
    check_pixel(&img, 0, 0, 255, 255, 255, "1-bit set");
    check_pixel(&img, 1, 0, 0, 0, 0, "1-bit clear");
    check_pixel(&img, 12, 0, 255, 255, 255, "1-bit last");
    rf_image_buf_free(&img);

    /* Grey + alpha: alpha dropped, not blended. */
    for (int i = 0; i < W * H; i++) {
        rows[2 * i] = (uint8_t)(200 - i);
        rows[2 * i + 1] = (uint8_t)(i * 2);
    }
    write_png_raw(tmp_path("ga.png"), W, H, PNG_COLOR_TYPE_GRAY_ALPHA, 8, PNG_INTERLACE_NONE,
                  rows, 2 * W, NULL, 0);
    CHECK(rf_image_load(tmp_path("ga.png"), &img, &err) == RF_OK, "%s", err.message);
    check_pixel(&img, 3, 1, 200 - (W + 3), 200 - (W + 3), 200 - (W + 3), "grey+alpha");
    rf_image_buf_free(&img);

    /* RGBA: channels swapped to BGR, alpha dropped. */
    for (int i = 0; i < W * H; i++) {
        rows[4 * i] = (uint8_t)i;           /* R */
        rows[4 * i + 1] = (uint8_t)(i + 50); /* G */
        rows[4 * i + 2] = (uint8_t)(i + 100); /* B */
        rows[4 * i + 3] = 0;                 /* fully transparent */
    }
    write_png_raw(tmp_path("rgba.png"), W, H, PNG_COLOR_TYPE_RGBA, 8, PNG_INTERLACE_NONE, rows,
                  4 * W, NULL, 0);
    CHECK(rf_image_load(tmp_path("rgba.png"), &img, &err) == RF_OK, "%s", err.message);
    check_pixel(&img, 4, 2, 2 * W + 4 + 100, 2 * W + 4 + 50, 2 * W + 4, "RGBA");
    rf_image_buf_free(&img);

    /* Palette, 4-bit indices. */
    png_color palette[3] = {{10, 20, 30}, {40, 50, 60}, {250, 0, 5}};
    memset(rows, 0, sizeof rows);
    for (int y = 0; y < H; y++)
        rows[y * 7] = 0x12; /* pixel 0 -> index 1, pixel 1 -> index 2 */
    write_png_raw(tmp_path("pal.png"), W, H, PNG_COLOR_TYPE_PALETTE, 4, PNG_INTERLACE_NONE, rows,
                  7, palette, 3);
    CHECK(rf_image_load(tmp_path("pal.png"), &img, &err) == RF_OK, "%s", err.message);
    check_pixel(&img, 0, 3, 60, 50, 40, "palette index 1");
    check_pixel(&img, 1, 3, 5, 0, 250, "palette index 2");
    check_pixel(&img, 2, 3, 30, 20, 10, "palette index 0");
    rf_image_buf_free(&img);

    /* 16-bit RGB and grey: the high byte, as cv2.imread gives. */
    for (int i = 0; i < W * H; i++) {
        rows[6 * i] = (uint8_t)i; /* R = i * 256 + 255 */
        rows[6 * i + 1] = 255;
        rows[6 * i + 2] = 0x80; /* G = 0x80ff */
        rows[6 * i + 3] = 0xff;
        rows[6 * i + 4] = 0x01; /* B = 0x0100 */
        rows[6 * i + 5] = 0x00;
    }
    write_png_raw(tmp_path("rgb16.png"), W, H, PNG_COLOR_TYPE_RGB, 16, PNG_INTERLACE_NONE, rows,
                  6 * W, NULL, 0);
    CHECK(rf_image_load(tmp_path("rgb16.png"), &img, &err) == RF_OK, "%s", err.message);
    check_pixel(&img, 6, 1, 1, 0x80, W + 6, "16-bit RGB");
    rf_image_buf_free(&img);
    for (int i = 0; i < W * H; i++) {
        rows[2 * i] = (uint8_t)(i + 7);
        rows[2 * i + 1] = 0xff;
    }
    write_png_raw(tmp_path("grey16.png"), W, H, PNG_COLOR_TYPE_GRAY, 16, PNG_INTERLACE_NONE,
                  rows, 2 * W, NULL, 0);
    CHECK(rf_image_load(tmp_path("grey16.png"), &img, &err) == RF_OK, "%s", err.message);
    check_pixel(&img, 0, 2, 2 * W + 7, 2 * W + 7, 2 * W + 7, "16-bit grey");
    rf_image_buf_free(&img);

    /* Adam7 interlacing. */
    for (int i = 0; i < W * H * 3; i++)
        rows[i] = (uint8_t)(i * 13);
    write_png_raw(tmp_path("inter.png"), W, H, PNG_COLOR_TYPE_RGB, 8, PNG_INTERLACE_ADAM7, rows,
                  3 * W, NULL, 0);
    CHECK(rf_image_load(tmp_path("inter.png"), &img, &err) == RF_OK, "%s", err.message);
    int same = 1;
    for (int i = 0; img.data && i < W * H; i++)
        same &= img.data[3 * i] == rows[3 * i + 2] && img.data[3 * i + 2] == rows[3 * i];
    CHECK(img.data && same, "interlaced PNG");
    rf_image_buf_free(&img);
}

static void expect_format(const void *data, size_t size, const char *name, const char *want)
{
    rf_error err;
    rf_image_buf img;
    write_all(tmp_path(name), data, size);
    rf_status st = rf_image_load(tmp_path(name), &img, &err);
    CHECK(st == RF_E_FORMAT, "%s: status %d (%s)", name, st, err.message);
    CHECK(strstr(err.message, name) != NULL, "%s: message names the file: %s", name,
          err.message);
    CHECK(!want || strstr(err.message, want), "%s: message '%s' lacks '%s'", name, err.message,
          want);
    CHECK(img.data == NULL, "%s: nothing returned", name);
    st = rf_image_load_memory(data, size, &img, &err);
    CHECK(st == RF_E_FORMAT, "%s from memory: status %d", name, st);
}

static void test_bad_files(void)
{
    rf_error err;
    rf_image_buf img;
    expect_format("", 0, "empty.jpg", "not a JPEG or PNG image");
    expect_format("hello, world\n", 13, "text.png", "not a JPEG or PNG image");
    CHECK(rf_image_load(tmp_path("missing.jpg"), &img, &err) == RF_E_IO, "missing file");
    CHECK(strstr(err.message, "missing.jpg") != NULL, "%s", err.message);
    CHECK(rf_image_load(tmpdir, &img, &err) != RF_OK, "a directory");
    CHECK(rf_image_load_memory(NULL, 0, &img, &err) == RF_E_FORMAT, "NULL, 0");

    /* Truncated and corrupted copies of valid files. */
    size_t jsize, psize;
    uint8_t *jpg = read_all(tmp_path("rt.jpg"), &jsize);
    uint8_t *png = read_all(tmp_path("rt.png"), &psize);
    CHECK(jpg && png && jsize > 600 && psize > 100, "fixtures");
    if (!jpg || !png)
        return;
    expect_format(jpg, 3, "jpg3.jpg", "corrupt JPEG data");
    expect_format(jpg, 200, "jpg200.jpg", "corrupt JPEG data");
    expect_format(jpg, jsize / 2, "jpghalf.jpg", "corrupt JPEG data");
    expect_format(png, 8, "png8.png", "corrupt PNG data");
    expect_format(png, 40, "png40.png", "corrupt PNG data");
    expect_format(png, psize / 2, "pnghalf.png", "corrupt PNG data");
    png[psize / 2] ^= 0x55; /* inside IDAT: the CRC no longer matches */
    expect_format(png, psize, "pngcrc.png", "corrupt PNG data");
    png[psize / 2] ^= 0x55;

    /* Random damage must never crash or hang; any answer but a crash is fine. */
    for (int iter = 0; iter < 300; iter++) {
        uint8_t *src = iter & 1 ? png : jpg;
        size_t size = iter & 1 ? psize : jsize;
        uint8_t *copy = malloc(size);
        memcpy(copy, src, size);
        for (int k = 0; k < 1 + iter % 8; k++)
            copy[3 + rnd() % (size - 3)] = (uint8_t)rnd();
        size_t cut = iter % 3 == 0 ? rnd() % size : size;
        rf_status st = rf_image_load_memory(copy, cut, &img, &err);
        CHECK(st == RF_OK || st == RF_E_FORMAT || st == RF_E_LIMIT, "fuzz %d: %d", iter, st);
        if (st == RF_OK)
            rf_image_buf_free(&img);
        else
            CHECK(img.data == NULL, "fuzz %d: nothing returned", iter);
        free(copy);
    }
    free(jpg);
    free(png);
}

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static void test_limits(void)
{
    rf_error err;
    rf_image_buf img;
    /* A PNG that is only a valid header claiming 100000 x 100000 (10^10 pixels): refused from
     * the header, so the test would fail under ASan's allocation limit if it allocated. */
    uint8_t png[33] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0, 0, 13,
                       'I', 'H', 'D', 'R'};
    put_be32(png + 16, 100000);
    put_be32(png + 20, 100000);
    png[24] = 8; /* depth */
    png[25] = 2; /* RGB */
    put_be32(png + 29, (uint32_t)crc32(0, png + 12, 17));
    write_all(tmp_path("huge.png"), png, sizeof png);
    rf_status st = rf_image_load(tmp_path("huge.png"), &img, &err);
    CHECK(st == RF_E_LIMIT, "huge PNG: %d %s", st, err.message);
    CHECK(strstr(err.message, "huge.png") && strstr(err.message, "100000x100000"), "%s",
          err.message);

    /* A JPEG whose frame header claims 60000 x 60000 (libjpeg's own cap is 65500). */
    size_t size;
    uint8_t *jpg = read_all(tmp_path("rt.jpg"), &size);
    size_t sof = 0;
    for (size_t i = 2; jpg && i + 9 < size; i++)
        if (jpg[i] == 0xff && (jpg[i + 1] == 0xc0 || jpg[i + 1] == 0xc2)) {
            sof = i;
            break;
        }
    CHECK(sof > 0, "SOF marker found");
    if (sof) {
        static const uint8_t dims[4] = {0xea, 0x60, 0xea, 0x60}; /* 60000 x 60000 */
        memcpy(jpg + sof + 5, dims, 4);
        st = rf_image_load_memory(jpg, size, &img, &err);
        CHECK(st == RF_E_LIMIT, "huge JPEG: %d %s", st, err.message);
    }
    free(jpg);

    /* 1x1 works both ways. */
    rf_image_buf one, back;
    rf_image_alloc(1, 1, &one, &err);
    one.data[0] = 1;
    one.data[1] = 2;
    one.data[2] = 3;
    CHECK(rf_image_save(tmp_path("one.png"), &one.image, &err) == RF_OK, "%s", err.message);
    CHECK(rf_image_load(tmp_path("one.png"), &back, &err) == RF_OK, "%s", err.message);
    check_pixel(&back, 0, 0, 1, 2, 3, "1x1 PNG");
    rf_image_buf_free(&back);
    CHECK(rf_image_save(tmp_path("one.jpg"), &one.image, &err) == RF_OK, "%s", err.message);
    CHECK(rf_image_load(tmp_path("one.jpg"), &back, &err) == RF_OK, "%s", err.message);
    CHECK(back.image.width == 1 && back.image.height == 1, "1x1 JPEG");
    rf_image_buf_free(&back);
    rf_image_buf_free(&one);
}

static void test_save_failures(void)
{
    rf_error err;
    rf_image_buf img;
    rf_image_alloc(8, 8, &img, &err);
    fill_pattern(&img);
    int before = count_entries(tmpdir);

    rf_status st = rf_image_save("/nonexistent-rf-dir/x.png", &img.image, &err);
    CHECK(st == RF_E_IO, "missing directory: %d", st);
    CHECK(strstr(err.message, "/nonexistent-rf-dir/x.png") != NULL, "%s", err.message);

    /* The final name is a directory: encoding succeeds, the rename fails, the temp goes. */
    mkdir(tmp_path("taken.png"), 0755);
    st = rf_image_save(tmp_path("taken.png"), &img.image, &err);
    CHECK(st == RF_E_IO, "rename onto a directory: %d %s", st, err.message);
    CHECK(count_entries(tmpdir) == before + 1, "only the directory remains");
    rmdir(tmp_path("taken.png"));

    CHECK(rf_image_save(tmp_path("x.bmp"), &img.image, &err) == RF_E_ARG, "unknown extension");
    CHECK(rf_image_save(tmp_path("noext"), &img.image, &err) == RF_E_ARG, "no extension");
    CHECK(rf_image_save(tmp_path("a.png/b"), &img.image, &err) == RF_E_ARG, "dot in directory");
    rf_image bad = img.image;
    bad.stride = 5;
    CHECK(rf_image_save(tmp_path("bad.png"), &bad, &err) == RF_E_ARG, "short stride");
    CHECK(rf_image_save(tmp_path("null.png"), NULL, &err) == RF_E_ARG, "NULL image");
    CHECK(count_entries(tmpdir) == before, "nothing left behind by failed saves");
    rf_image_buf_free(&img);
}

/* cv2.imread parity: golden input.png files of original-size cases hold cv2.imread's pixels. */
static void test_golden_decode(void)
{
    if (!test_data_dir()) {
        printf("SKIP golden decode: test data not found (set RETINAFACE_TESTDATA)\n");
        return;
    }
    static const char *cases[][2] = {
        {"data/images/face1mb_ncnn_sample.jpg", "golden/mnet_orig/input.png"},
        {"data/widerface/val/images/12--Group/12_Group_Group_12_Group_Group_12_28.jpg",
         "golden/face1mb_orig/input.png"},
        {"data/widerface/val/images/20--Family_Group/20_Family_Group_Family_Group_20_64.jpg",
         "golden/r50_orig/input.png"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        rf_error err;
        rf_image_buf jpg, png;
        char *jpg_path = strdup(test_data_path(cases[i][0]));
        CHECK(rf_image_load(jpg_path, &jpg, &err) == RF_OK, "%s", err.message);
        CHECK(rf_image_load(test_data_path(cases[i][1]), &png, &err) == RF_OK, "%s",
              err.message);
        int same = jpg.data && png.data && jpg.image.width == png.image.width &&
                   jpg.image.height == png.image.height &&
                   memcmp(jpg.data, png.data, png.image.stride * png.image.height) == 0;
        CHECK(same, "%s decodes exactly as cv2.imread", cases[i][0]);
        rf_image_buf_free(&jpg);
        rf_image_buf_free(&png);
        free(jpg_path);
    }
}

int main(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/rf_test_image_XXXXXX");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    test_alloc();
    test_png_round_trip();
    test_jpeg_round_trip();
    test_png_kinds();
    test_bad_files();
    test_limits();
    test_save_failures();
    test_golden_decode();

    DIR *d = opendir(tmpdir);
    for (struct dirent *e; d && (e = readdir(d));)
        if (e->d_name[0] != '.')
            unlink(tmp_path(e->d_name));
    if (d)
        closedir(d);
    rmdir(tmpdir);
    return test_summary();
}
