/* image.c - JPEG/PNG files to and from 8-bit BGR buffers, with codec errors turned into rf_errors. */
#define _POSIX_C_SOURCE 200809L /* open, fdopen, getpid, strcasecmp */

#include "base/common.h"
#include "image/image.h"
#include "retinaface_tools.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <jerror.h>
#include <jpeglib.h>
#include <png.h>

/* A progressive JPEG may hold any number of scans, each a full pass over the coefficients; real
 * encoders write about ten, so this only stops files crafted to take minutes to decode. */
#define JPEG_MAX_SCANS 500

/* Whole files are read into memory; no legitimate image within RF_IMAGE_MAX_PIXELS comes near. */
#define MAX_FILE_BYTES ((size_t)1 << 30)

#define MEMORY_NAME "image in memory"

static rf_status check_pixels(const char *what, long long width, long long height, rf_error *err)
{
    /* divided, not multiplied: headers can claim 2^32 - 1 on each side */
    if (width > 0 && height > RF_IMAGE_MAX_PIXELS / width)
        return rf_fail(err, RF_E_LIMIT, "%s: %lldx%lld is more than the %lld pixels allowed", what,
                       width, height, (long long)RF_IMAGE_MAX_PIXELS);
    return RF_OK;
}

rf_status rf_image_check(const rf_image *img, const char *what, rf_error *err)
{
    if (!img || !img->pixels)
        return rf_fail(err, RF_E_ARG, "%s: no pixels", what);
    if (img->width <= 0 || img->height <= 0)
        return rf_fail(err, RF_E_ARG, "%s: invalid size %dx%d", what, img->width, img->height);
    if (check_pixels(what, img->width, img->height, err) != RF_OK)
        return RF_E_LIMIT;
    if (img->stride < (size_t)img->width * 3)
        return rf_fail(err, RF_E_ARG, "%s: stride %zu is less than 3 * width %d", what,
                       img->stride, img->width);
    if (img->order != RF_PIXELS_BGR && img->order != RF_PIXELS_RGB)
        return rf_fail(err, RF_E_ARG, "%s: unknown pixel order %d", what, (int)img->order);
    return RF_OK;
}

rf_status rf_image_alloc(int width, int height, rf_image_buf *out, rf_error *err)
{
    if (!out)
        return rf_fail(err, RF_E_ARG, "rf_image_alloc: out is NULL");
    memset(out, 0, sizeof *out);
    if (width <= 0 || height <= 0)
        return rf_fail(err, RF_E_ARG, "rf_image_alloc: invalid size %dx%d", width, height);
    if (check_pixels("rf_image_alloc", width, height, err) != RF_OK)
        return RF_E_LIMIT;
    size_t stride = (size_t)width * 3;
    /* calloc: drawing and tests start from a defined black image at no extra cost for big
     * buffers, which come zeroed from the system. */
    out->data = calloc(stride, (size_t)height);
    if (!out->data)
        return rf_fail(err, RF_E_NOMEM, "rf_image_alloc: cannot allocate %dx%d pixels", width,
                       height);
    out->image = (rf_image){out->data, width, height, stride, RF_PIXELS_BGR};
    return rf_ok(err);
}

void rf_image_buf_free(rf_image_buf *img)
{
    if (!img)
        return;
    free(img->data);
    memset(img, 0, sizeof *img);
}

/* ------------------------------------------------------------------------------ JPEG */

struct jpeg_fail {
    struct jpeg_error_mgr mgr;
    jmp_buf jump;
    char message[JMSG_LENGTH_MAX + 32];
};

/* libjpeg's own handler prints and calls exit(); this one keeps the text and unwinds. */
static void jpeg_fail_exit(j_common_ptr cinfo)
{
    struct jpeg_fail *fail = (struct jpeg_fail *)cinfo->err;
    char text[JMSG_LENGTH_MAX];
    cinfo->err->format_message(cinfo, text);
    /* "Corrupt JPEG data: x" would repeat the caller's prefix; keep only the x, starting in
     * lower case like the rest of our messages unless it starts with an acronym ("JPEG ..."). */
    const char *msg = text;
    if (strncmp(msg, "Corrupt JPEG data: ", 19) == 0)
        msg += 19;
    snprintf(fail->message, sizeof fail->message, "%s", msg);
    if (islower((unsigned char)fail->message[1]))
        fail->message[0] = (char)tolower((unsigned char)fail->message[0]);
    longjmp(fail->jump, 1);
}

/* libjpeg warns about corrupt or truncated data and goes on with grey blocks; an input like that
 * would be detected silently wrong, so warnings fail too. Trace messages are dropped. */
static void jpeg_fail_message(j_common_ptr cinfo, int level)
{
    if (level < 0)
        jpeg_fail_exit(cinfo);
}

static void jpeg_scan_limit(j_common_ptr cinfo)
{
    if (cinfo->is_decompressor &&
        ((j_decompress_ptr)cinfo)->input_scan_number > JPEG_MAX_SCANS) {
        struct jpeg_fail *fail = (struct jpeg_fail *)cinfo->err;
        snprintf(fail->message, sizeof fail->message, "more than %d progressive scans",
                 JPEG_MAX_SCANS);
        longjmp(fail->jump, 1);
    }
}

struct jpeg_job {
    struct jpeg_decompress_struct cinfo;
    struct jpeg_fail fail;
    struct jpeg_progress_mgr progress;
    uint8_t *cmyk; /* one row of 4-channel pixels, for CMYK/YCCK files */
};

/* Adobe writes CMYK inverted (255 = no ink); others write it straight. */
static void cmyk_to_bgr(const uint8_t *cmyk, uint8_t *bgr, int width, int inverted)
{
    for (int x = 0; x < width; x++, cmyk += 4, bgr += 3) {
        unsigned k = inverted ? cmyk[3] : 255u - cmyk[3];
        for (int c = 0; c < 3; c++) {
            unsigned v = inverted ? cmyk[c] : 255u - cmyk[c];
            bgr[2 - c] = (uint8_t)((v * k + 127) / 255);
        }
    }
}

/* The part of decode_jpeg that may longjmp back to it; everything to free lives in job. */
static rf_status jpeg_read_pixels(struct jpeg_job *job, const uint8_t *data, size_t size,
                                  const char *name, rf_image_buf *out, rf_error *err)
{
    struct jpeg_decompress_struct *cinfo = &job->cinfo;
    job->progress.progress_monitor = jpeg_scan_limit;
    cinfo->progress = &job->progress;
    jpeg_mem_src(cinfo, data, (unsigned long)size);
    jpeg_read_header(cinfo, TRUE);
    rf_status st = check_pixels(name, cinfo->image_width, cinfo->image_height, err);
    if (st != RF_OK)
        return st;
    /* No DCT or upsampling option is set: libjpeg's defaults (islow, fancy upsampling) are what
     * cv2.imread uses, so the pixels match it exactly. */
    int four = cinfo->jpeg_color_space == JCS_CMYK || cinfo->jpeg_color_space == JCS_YCCK;
    cinfo->out_color_space = four ? JCS_CMYK : JCS_EXT_BGR;
    jpeg_start_decompress(cinfo);
    st = rf_image_alloc((int)cinfo->output_width, (int)cinfo->output_height, out, err);
    if (st != RF_OK)
        return st;
    if (four && !(job->cmyk = malloc((size_t)cinfo->output_width * 4)))
        return rf_fail(err, RF_E_NOMEM, "%s: out of memory", name);
    while (cinfo->output_scanline < cinfo->output_height) {
        uint8_t *row = out->data + (size_t)cinfo->output_scanline * out->image.stride;
        JSAMPROW target = four ? job->cmyk : row;
        jpeg_read_scanlines(cinfo, &target, 1);
        if (four)
            cmyk_to_bgr(job->cmyk, row, (int)cinfo->output_width, cinfo->saw_Adobe_marker);
    }
    /* No jpeg_finish_decompress: every pixel is in, and what follows the last scan (a missing
     * EOI, trailing bytes) cannot change them. */
    return RF_OK;
}

static rf_status decode_jpeg(const uint8_t *data, size_t size, const char *name,
                             rf_image_buf *out, rf_error *err)
{
    struct jpeg_job job;
    memset(&job, 0, sizeof job);
    job.cinfo.err = jpeg_std_error(&job.fail.mgr);
    job.fail.mgr.error_exit = jpeg_fail_exit;
    job.fail.mgr.emit_message = jpeg_fail_message;
    if (setjmp(job.fail.jump)) {
        int nomem = job.fail.mgr.msg_code == JERR_OUT_OF_MEMORY;
        jpeg_destroy_decompress(&job.cinfo);
        free(job.cmyk);
        rf_image_buf_free(out);
        if (nomem)
            return rf_fail(err, RF_E_NOMEM, "%s: out of memory decoding JPEG", name);
        return rf_fail(err, RF_E_FORMAT, "%s: corrupt JPEG data: %s", name, job.fail.message);
    }
    jpeg_create_decompress(&job.cinfo);
    rf_status st = jpeg_read_pixels(&job, data, size, name, out, err);
    jpeg_destroy_decompress(&job.cinfo);
    free(job.cmyk);
    if (st != RF_OK)
        rf_image_buf_free(out);
    return st;
}

/* ------------------------------------------------------------------------------ PNG */

struct png_job {
    jmp_buf jump;
    char message[256];
    const uint8_t *data; /* reading: the whole file */
    size_t size, pos;
};

/* libpng's own handler prints and aborts; this one keeps the text and unwinds. */
static void png_fail_error(png_structp png, png_const_charp msg)
{
    struct png_job *job = png_get_error_ptr(png);
    snprintf(job->message, sizeof job->message, "%s", msg);
    longjmp(job->jump, 1);
}

/* libpng warns only about ancillary chunks it skips; the pixels are unaffected. */
static void png_ignore_warning(png_structp png, png_const_charp msg)
{
    (void)png;
    (void)msg;
}

static void png_read_memory(png_structp png, png_bytep dst, size_t n)
{
    struct png_job *job = png_get_io_ptr(png);
    if (n > job->size - job->pos)
        png_error(png, "file is truncated");
    memcpy(dst, job->data + job->pos, n);
    job->pos += n;
}

/* The part of decode_png that may longjmp back to it. */
static rf_status png_read_pixels(png_structp png, png_infop info, struct png_job *job,
                                 rf_image_buf *out, rf_error *err)
{
    png_set_read_fn(png, job, png_read_memory);
    png_read_info(png, info);
    png_uint_32 width, height;
    int depth, color;
    png_get_IHDR(png, info, &width, &height, &depth, &color, NULL, NULL, NULL);
    /* Everything becomes 8-bit BGR the way cv2.imread(IMREAD_COLOR) does it: high byte of 16-bit
     * samples, palette expanded, grey replicated, alpha and tRNS ignored, no gamma. */
    if (depth == 16)
        png_set_strip_16(png);
    if (color == PNG_COLOR_TYPE_PALETTE)
        png_set_palette_to_rgb(png);
    if (color == PNG_COLOR_TYPE_GRAY && depth < 8)
        png_set_expand_gray_1_2_4_to_8(png);
    /* Expanding a palette turns its tRNS chunk into an alpha channel, which must go too. */
    if ((color & PNG_COLOR_MASK_ALPHA) || png_get_valid(png, info, PNG_INFO_tRNS))
        png_set_strip_alpha(png);
    if (!(color & PNG_COLOR_MASK_COLOR))
        png_set_gray_to_rgb(png);
    png_set_bgr(png);
    int passes = png_set_interlace_handling(png);
    png_read_update_info(png, info);
    if (png_get_rowbytes(png, info) != (size_t)width * 3)
        png_error(png, "unexpected row size after conversion to BGR");
    rf_status st = rf_image_alloc((int)width, (int)height, out, err);
    if (st != RF_OK)
        return st;
    /* Row by row into the image itself: interlaced passes refine rows in place, and no array of
     * row pointers is needed. */
    for (int pass = 0; pass < passes; pass++)
        for (png_uint_32 y = 0; y < height; y++)
            png_read_row(png, out->data + (size_t)y * out->image.stride, NULL);
    return RF_OK;
}

static rf_status decode_png(const uint8_t *data, size_t size, const char *name,
                            rf_image_buf *out, rf_error *err)
{
    /* IHDR must come first, at a fixed place; its size is checked before libpng reads on, so
     * a file that is little more than a header claiming a giant image is refused as such. */
    if (size >= 24 && memcmp(data + 12, "IHDR", 4) == 0) {
        long long width = (long long)data[16] << 24 | data[17] << 16 | data[18] << 8 | data[19];
        long long height = (long long)data[20] << 24 | data[21] << 16 | data[22] << 8 | data[23];
        rf_status st = check_pixels(name, width, height, err);
        if (st != RF_OK)
            return st;
    }
    struct png_job job;
    memset(&job, 0, sizeof job);
    job.data = data;
    job.size = size;
    png_structp png =
        png_create_read_struct(PNG_LIBPNG_VER_STRING, &job, png_fail_error, png_ignore_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!info) {
        png_destroy_read_struct(png ? &png : NULL, NULL, NULL);
        return rf_fail(err, RF_E_NOMEM, "%s: out of memory decoding PNG", name);
    }
    if (setjmp(job.jump)) {
        png_destroy_read_struct(&png, &info, NULL);
        rf_image_buf_free(out);
        return rf_fail(err, RF_E_FORMAT, "%s: corrupt PNG data: %s", name, job.message);
    }
    rf_status st = png_read_pixels(png, info, &job, out, err);
    png_destroy_read_struct(&png, &info, NULL);
    if (st != RF_OK)
        rf_image_buf_free(out);
    return st;
}

/* ------------------------------------------------------------------------------ loading */

static rf_status decode(const uint8_t *data, size_t size, const char *name, rf_image_buf *out,
                        rf_error *err)
{
    static const uint8_t png_magic[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    if (size >= 3 && data[0] == 0xff && data[1] == 0xd8 && data[2] == 0xff)
        return decode_jpeg(data, size, name, out, err);
    if (size >= 8 && memcmp(data, png_magic, 8) == 0)
        return decode_png(data, size, name, out, err);
    return rf_fail(err, RF_E_FORMAT, "%s: not a JPEG or PNG image", name);
}

rf_status rf_image_load_memory(const void *data, size_t size, rf_image_buf *out, rf_error *err)
{
    if (!out)
        return rf_fail(err, RF_E_ARG, MEMORY_NAME ": out is NULL");
    memset(out, 0, sizeof *out);
    if (!data && size)
        return rf_fail(err, RF_E_ARG, MEMORY_NAME ": data is NULL");
    rf_status st = decode(data, size, MEMORY_NAME, out, err);
    return st == RF_OK ? rf_ok(err) : st;
}

static rf_status read_file(const char *path, uint8_t **data, size_t *size, rf_error *err)
{
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return rf_fail(err, RF_E_IO, "%s: cannot open: %s", path, strerror(errno));
    /* Read in growing chunks rather than trusting a seek to the end: works for pipes too. */
    size_t cap = 1 << 16, len = 0;
    uint8_t *buf = malloc(cap);
    rf_status st = RF_OK;
    while (buf) {
        len += fread(buf + len, 1, cap - len, fp);
        if (len < cap)
            break;
        if (cap >= MAX_FILE_BYTES) {
            st = rf_fail(err, RF_E_LIMIT, "%s: file larger than %zu bytes", path, MAX_FILE_BYTES);
            break;
        }
        uint8_t *bigger = realloc(buf, cap * 2);
        if (!bigger) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = bigger;
        cap *= 2;
    }
    if (st == RF_OK && !buf)
        st = rf_fail(err, RF_E_NOMEM, "%s: out of memory reading the file", path);
    if (st == RF_OK && ferror(fp))
        st = rf_fail(err, RF_E_IO, "%s: cannot read: %s", path, strerror(errno));
    fclose(fp);
    if (st != RF_OK) {
        free(buf);
        return st;
    }
    *data = buf;
    *size = len;
    return RF_OK;
}

rf_status rf_image_load(const char *path, rf_image_buf *out, rf_error *err)
{
    if (!out)
        return rf_fail(err, RF_E_ARG, "rf_image_load: out is NULL");
    memset(out, 0, sizeof *out);
    if (!path)
        return rf_fail(err, RF_E_ARG, "rf_image_load: path is NULL");
    uint8_t *data = NULL;
    size_t size = 0;
    rf_status st = read_file(path, &data, &size, err);
    if (st != RF_OK)
        return st;
    st = decode(data, size, path, out, err);
    free(data);
    return st == RF_OK ? rf_ok(err) : st;
}

/* ------------------------------------------------------------------------------ saving */

static rf_status write_png(FILE *fp, const rf_image *img, const char *path, rf_error *err)
{
    struct png_job job;
    memset(&job, 0, sizeof job);
    png_structp png =
        png_create_write_struct(PNG_LIBPNG_VER_STRING, &job, png_fail_error, png_ignore_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!info) {
        png_destroy_write_struct(png ? &png : NULL, NULL);
        return rf_fail(err, RF_E_NOMEM, "%s: out of memory encoding PNG", path);
    }
    if (setjmp(job.jump)) {
        png_destroy_write_struct(&png, &info);
        return rf_fail(err, RF_E_IO, "%s: cannot write PNG: %s", path, job.message);
    }
    png_init_io(png, fp);
    png_set_IHDR(png, info, (png_uint_32)img->width, (png_uint_32)img->height, 8,
                 PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
                 PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    if (img->order == RF_PIXELS_BGR)
        png_set_bgr(png);
    for (int y = 0; y < img->height; y++)
        png_write_row(png, img->pixels + (size_t)y * img->stride);
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    return RF_OK;
}

static rf_status write_jpeg(FILE *fp, const rf_image *img, const char *path, rf_error *err)
{
    struct jpeg_compress_struct cinfo;
    struct jpeg_fail fail;
    memset(&cinfo, 0, sizeof cinfo);
    cinfo.err = jpeg_std_error(&fail.mgr);
    fail.mgr.error_exit = jpeg_fail_exit;
    fail.mgr.emit_message = jpeg_fail_message;
    if (setjmp(fail.jump)) {
        jpeg_destroy_compress(&cinfo);
        return rf_fail(err, RF_E_IO, "%s: cannot write JPEG: %s", path, fail.message);
    }
    jpeg_create_compress(&cinfo);
    jpeg_stdio_dest(&cinfo, fp);
    cinfo.image_width = (JDIMENSION)img->width;
    cinfo.image_height = (JDIMENSION)img->height;
    cinfo.input_components = 3;
    cinfo.in_color_space = img->order == RF_PIXELS_BGR ? JCS_EXT_BGR : JCS_EXT_RGB;
    jpeg_set_defaults(&cinfo);
    jpeg_set_quality(&cinfo, 90, TRUE);
    jpeg_start_compress(&cinfo, TRUE);
    while (cinfo.next_scanline < cinfo.image_height) {
        /* libjpeg's row type is not const, but compression only reads it. */
        JSAMPROW row = (JSAMPROW)(img->pixels + (size_t)cinfo.next_scanline * img->stride);
        jpeg_write_scanlines(&cinfo, &row, 1);
    }
    jpeg_finish_compress(&cinfo);
    jpeg_destroy_compress(&cinfo);
    return RF_OK;
}

rf_status rf_image_save(const char *path, const rf_image *img, rf_error *err)
{
    if (!path)
        return rf_fail(err, RF_E_ARG, "rf_image_save: path is NULL");
    rf_status st = rf_image_check(img, path, err);
    if (st != RF_OK)
        return st;
    const char *dot = strrchr(path, '.');
    const char *slash = strrchr(path, '/');
    if (dot && slash && dot < slash)
        dot = NULL;
    int png = dot && strcasecmp(dot, ".png") == 0;
    if (!png && !(dot && (strcasecmp(dot, ".jpg") == 0 || strcasecmp(dot, ".jpeg") == 0)))
        return rf_fail(err, RF_E_ARG, "%s: unknown image type (use .png, .jpg or .jpeg)", path);

    rf_output out;
    if ((st = rf_output_open(&out, path, err)) != RF_OK)
        return st;
    st = png ? write_png(out.f, img, path, err) : write_jpeg(out.f, img, path, err);
    st = rf_output_close(&out, st, err);
    return st == RF_OK ? rf_ok(err) : st;
}
