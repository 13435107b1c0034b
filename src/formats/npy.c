/* npy.c - float32 .npy files: the public writer and the internal reader of golden tensors. */
#include "base/common.h"
#include "formats/npy.h"
#include "retinaface_tools.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char NPY_MAGIC[6] = {'\x93', 'N', 'U', 'M', 'P', 'Y'};

/* Real headers are ~120 bytes; the bound keeps a hostile length field from costing memory. */
#define NPY_MAX_HEADER 65536

/* Floats go through this many at a time when converting to or from little-endian bytes. */
#define NPY_CHUNK 4096

/* The file stores little-endian floats whatever the host's byte order. */
static void le_to_floats(const uint8_t *bytes, float *out, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const uint8_t *b = bytes + 4 * i;
        uint32_t u = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 |
                     (uint32_t)b[3] << 24;
        memcpy(out + i, &u, 4);
    }
}

static void floats_to_le(const float *in, uint8_t *bytes, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, in + i, 4);
        uint8_t *b = bytes + 4 * i;
        b[0] = (uint8_t)u;
        b[1] = (uint8_t)(u >> 8);
        b[2] = (uint8_t)(u >> 16);
        b[3] = (uint8_t)(u >> 24);
    }
}

/* Element count of a shape, 0 (with *ok cleared) when it overflows the bytes a size_t holds. */
static size_t element_count(int ndim, const int64_t *shape, int *ok)
{
    size_t count = 1;
    *ok = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0 || (uint64_t)shape[i] > SIZE_MAX) {
            *ok = 0;
            return 0;
        }
        if (shape[i] == 0)
            count = 0;
        else if (count && !(count = rf_mul_size(count, (size_t)shape[i])))
            *ok = 0;
    }
    if (*ok && !rf_mul_size(count ? count : 1, sizeof(float)))
        *ok = 0;
    return *ok ? count : 0;
}

rf_status rf_npy_save(const char *path, const float *data, int ndim, const int64_t *shape,
                      rf_error *err)
{
    if (!path)
        return rf_fail(err, RF_E_ARG, "rf_npy_save: path is NULL");
    if (ndim < 0 || ndim > RF_NPY_MAX_DIMS || (ndim > 0 && !shape))
        return rf_fail(err, RF_E_ARG, "%s: invalid shape (%d dimensions)", path, ndim);
    int ok;
    size_t count = element_count(ndim, shape, &ok);
    if (!ok)
        return rf_fail(err, RF_E_ARG, "%s: invalid or too large shape", path);
    if (count && !data)
        return rf_fail(err, RF_E_ARG, "%s: data is NULL", path);

    /* numpy's own layout: dict, spaces, newline, total header a multiple of 64 bytes. */
    char header[256];
    int len = snprintf(header, sizeof header, "{'descr': '<f4', 'fortran_order': False, 'shape': (");
    for (int i = 0; i < ndim; i++)
        len += snprintf(header + len, sizeof header - (size_t)len, "%lld%s", (long long)shape[i],
                        ndim == 1 ? "," : i + 1 < ndim ? ", " : "");
    len += snprintf(header + len, sizeof header - (size_t)len, "), }");
    int total = (10 + len + 1 + 63) / 64 * 64;
    uint8_t prefix[10];
    memcpy(prefix, NPY_MAGIC, 6);
    prefix[6] = 1;
    prefix[7] = 0;
    prefix[8] = (uint8_t)((total - 10) & 0xff);
    prefix[9] = (uint8_t)((total - 10) >> 8);
    memset(header + len, ' ', (size_t)(total - 10 - len));
    header[total - 11] = '\n';

    rf_output out;
    rf_status st = rf_output_open(&out, path, err);
    if (st != RF_OK)
        return st;
    int good = fwrite(prefix, 1, 10, out.f) == 10 &&
               fwrite(header, 1, (size_t)(total - 10), out.f) == (size_t)(total - 10);
    uint8_t chunk[4 * NPY_CHUNK];
    for (size_t i = 0; good && i < count; i += NPY_CHUNK) {
        size_t n = count - i < NPY_CHUNK ? count - i : NPY_CHUNK;
        floats_to_le(data + i, chunk, n);
        good = fwrite(chunk, 4, n, out.f) == n;
    }
    if (!good)
        st = rf_fail(err, RF_E_IO, "cannot write %s: %s", path, strerror(errno));
    return rf_output_close(&out, st, err);
}

/* ------------------------------------------------------------------------------ reading */

/* A cursor over the header text, which is a Python dict literal. */
typedef struct {
    const char *p, *end;
} cursor;

static void skip_space(cursor *c)
{
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r'))
        c->p++;
}

static int take(cursor *c, char ch)
{
    skip_space(c);
    if (c->p < c->end && *c->p == ch) {
        c->p++;
        return 1;
    }
    return 0;
}

/* A quoted Python string without escapes into out; 0 if there is none or it does not fit. */
static int take_string(cursor *c, char *out, size_t out_size)
{
    skip_space(c);
    if (c->p >= c->end || (*c->p != '\'' && *c->p != '"'))
        return 0;
    char quote = *c->p++;
    size_t n = 0;
    while (c->p < c->end && *c->p != quote) {
        if (*c->p == '\\' || n + 1 >= out_size)
            return 0;
        out[n++] = *c->p++;
    }
    if (c->p >= c->end)
        return 0;
    c->p++;
    out[n] = '\0';
    return 1;
}

static int take_word(cursor *c, const char *word)
{
    skip_space(c);
    size_t n = strlen(word);
    if ((size_t)(c->end - c->p) < n || memcmp(c->p, word, n) != 0)
        return 0;
    c->p += n;
    return 1;
}

/* "(a, b, c)", "(a,)" or "()"; dimensions bounded so their product is checked later. */
static int take_shape(cursor *c, int *ndim, int64_t *shape)
{
    if (!take(c, '('))
        return 0;
    *ndim = 0;
    for (;;) {
        if (take(c, ')'))
            return 1;
        if (*ndim == RF_NPY_MAX_DIMS)
            return 0;
        skip_space(c);
        int64_t v = 0;
        const char *start = c->p;
        while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
            if (v > (INT64_MAX - 9) / 10)
                return 0;
            v = v * 10 + (*c->p++ - '0');
        }
        if (c->p == start)
            return 0;
        shape[(*ndim)++] = v;
        if (!take(c, ',')) /* no comma: this must be the last dimension */
            return take(c, ')');
    }
}

static rf_status parse_header(const char *text, size_t len, const char *path, int *ndim,
                              int64_t *shape, rf_error *err)
{
    cursor c = {text, text + len};
    int have_descr = 0, have_order = 0, have_shape = 0;
    if (!take(&c, '{'))
        return rf_fail(err, RF_E_FORMAT, "%s: .npy header is not a dict", path);
    while (!take(&c, '}')) {
        char key[32], value[32];
        if (!take_string(&c, key, sizeof key) || !take(&c, ':'))
            return rf_fail(err, RF_E_FORMAT, "%s: malformed .npy header", path);
        if (strcmp(key, "descr") == 0 && !have_descr) {
            if (!take_string(&c, value, sizeof value))
                return rf_fail(err, RF_E_FORMAT, "%s: malformed .npy descr", path);
            if (strcmp(value, "<f4") != 0)
                return rf_fail(err, RF_E_FORMAT, "%s: dtype '%s' is not '<f4' (float32)", path,
                               value);
            have_descr = 1;
        } else if (strcmp(key, "fortran_order") == 0 && !have_order) {
            if (take_word(&c, "True"))
                return rf_fail(err, RF_E_FORMAT, "%s: Fortran-order arrays are not supported",
                               path);
            if (!take_word(&c, "False"))
                return rf_fail(err, RF_E_FORMAT, "%s: malformed .npy fortran_order", path);
            have_order = 1;
        } else if (strcmp(key, "shape") == 0 && !have_shape) {
            if (!take_shape(&c, ndim, shape))
                return rf_fail(err, RF_E_FORMAT,
                               "%s: malformed .npy shape (or more than %d dimensions)", path,
                               RF_NPY_MAX_DIMS);
            have_shape = 1;
        } else {
            return rf_fail(err, RF_E_FORMAT, "%s: unexpected or repeated .npy header key '%s'",
                           path, key);
        }
        if (!take(&c, ',')) {
            if (!take(&c, '}'))
                return rf_fail(err, RF_E_FORMAT, "%s: malformed .npy header", path);
            break;
        }
    }
    skip_space(&c);
    if (c.p != c.end)
        return rf_fail(err, RF_E_FORMAT, "%s: trailing text after the .npy header dict", path);
    if (!have_descr || !have_order || !have_shape)
        return rf_fail(err, RF_E_FORMAT, "%s: .npy header lacks descr, fortran_order or shape",
                       path);
    return RF_OK;
}

/* Reads the header and checks the rest of the file holds exactly the data it announces. */
static rf_status read_header(FILE *fp, const char *path, int *ndim, int64_t *shape,
                             size_t *count, rf_error *err)
{
    uint8_t prefix[12];
    if (fread(prefix, 1, 10, fp) != 10 || memcmp(prefix, NPY_MAGIC, 6) != 0)
        return rf_fail(err, RF_E_FORMAT, "%s: not a .npy file", path);
    size_t header_len;
    if (prefix[6] == 1) {
        header_len = (size_t)prefix[8] | (size_t)prefix[9] << 8;
    } else if (prefix[6] == 2) {
        if (fread(prefix + 10, 1, 2, fp) != 2)
            return rf_fail(err, RF_E_FORMAT, "%s: truncated .npy header", path);
        header_len = (size_t)prefix[8] | (size_t)prefix[9] << 8 | (size_t)prefix[10] << 16 |
                     (size_t)prefix[11] << 24;
    } else {
        return rf_fail(err, RF_E_FORMAT, "%s: unsupported .npy version %d.%d", path, prefix[6],
                       prefix[7]);
    }
    if (header_len > NPY_MAX_HEADER)
        return rf_fail(err, RF_E_FORMAT, "%s: .npy header of %zu bytes is too long", path,
                       header_len);
    char *text = malloc(header_len + 1);
    if (!text)
        return rf_fail(err, RF_E_NOMEM, "%s: out of memory", path);
    rf_status st = RF_OK;
    if (fread(text, 1, header_len, fp) != header_len)
        st = rf_fail(err, RF_E_FORMAT, "%s: truncated .npy header", path);
    else
        st = parse_header(text, header_len, path, ndim, shape, err);
    free(text);
    if (st != RF_OK)
        return st;

    int ok;
    *count = element_count(*ndim, shape, &ok);
    if (!ok)
        return rf_fail(err, RF_E_FORMAT, "%s: .npy shape is too large", path);
    long start = ftell(fp);
    if (start < 0 || fseek(fp, 0, SEEK_END) != 0)
        return rf_fail(err, RF_E_IO, "%s: cannot seek: %s", path, strerror(errno));
    long end = ftell(fp);
    if (end < start || fseek(fp, start, SEEK_SET) != 0)
        return rf_fail(err, RF_E_IO, "%s: cannot seek: %s", path, strerror(errno));
    /* Compared before allocating, so a header announcing terabytes costs nothing. */
    if ((uint64_t)(end - start) != (uint64_t)*count * 4)
        return rf_fail(err, RF_E_FORMAT, "%s: .npy data is %ld bytes, the shape needs %zu",
                       path, end - start, *count * 4);
    return RF_OK;
}

rf_status rf_npy_load(const char *path, float **data, int *ndim, int64_t shape[RF_NPY_MAX_DIMS],
                      rf_error *err)
{
    if (!path || !data || !ndim || !shape)
        return rf_fail(err, RF_E_ARG, "rf_npy_load: NULL argument");
    *data = NULL;
    *ndim = 0;
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return rf_fail(err, RF_E_IO, "%s: cannot open: %s", path, strerror(errno));
    size_t count = 0;
    rf_status st = read_header(fp, path, ndim, shape, &count, err);
    float *values = NULL;
    if (st == RF_OK && !(values = malloc(count ? count * 4 : 1)))
        st = rf_fail(err, RF_E_NOMEM, "%s: out of memory for %zu floats", path, count);
    uint8_t chunk[4 * NPY_CHUNK];
    for (size_t i = 0; st == RF_OK && i < count; i += NPY_CHUNK) {
        size_t n = count - i < NPY_CHUNK ? count - i : NPY_CHUNK;
        if (fread(chunk, 4, n, fp) != n)
            st = rf_fail(err, RF_E_IO, "%s: cannot read the data", path);
        else
            le_to_floats(chunk, values + i, n);
    }
    fclose(fp);
    if (st != RF_OK) {
        free(values);
        *ndim = 0;
        return st;
    }
    *data = values;
    return rf_ok(err);
}
