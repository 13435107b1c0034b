/* matfile.c - MATLAB v5 .mat reader: element tags, miCOMPRESSED via zlib, miMATRIX of numbers, chars, cells. */
#include "eval/matfile.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

/* Data types of element tags (MATLAB "MAT-File Format", table 1-1). */
enum {
    MI_INT8 = 1, MI_UINT8 = 2, MI_INT16 = 3, MI_UINT16 = 4, MI_INT32 = 5, MI_UINT32 = 6,
    MI_SINGLE = 7, MI_DOUBLE = 9, MI_INT64 = 12, MI_UINT64 = 13, MI_MATRIX = 14,
    MI_COMPRESSED = 15, MI_UTF8 = 16, MI_UTF16 = 17, MI_UTF32 = 18
};

/* Array classes of the array-flags subelement. */
enum {
    MX_CELL = 1, MX_STRUCT = 2, MX_OBJECT = 3, MX_CHAR = 4, MX_SPARSE = 5, MX_DOUBLE = 6,
    MX_SINGLE = 7, MX_INT8 = 8, MX_UINT8 = 9, MX_INT16 = 10, MX_UINT16 = 11, MX_INT32 = 12,
    MX_UINT32 = 13, MX_INT64 = 14, MX_UINT64 = 15
};

#define MAT_HEADER_BYTES 128
#define MAT_FLAG_COMPLEX 0x0800u

typedef struct {
    const char *name;  /* file name, for messages */
    const char *var;   /* variable being parsed, for messages */
    int swap;          /* the file is big-endian */
    size_t inflated, max_inflated;
    size_t memory, max_memory;
    rf_error *err;
} reader;

typedef struct {
    const uint8_t *p;
    size_t n;
} span;

typedef struct {
    uint32_t type;
    span data;
    size_t next; /* offset of the following element in the enclosing span */
} element;

static uint32_t rd32(const reader *r, const uint8_t *p)
{
    if (r->swap)
        return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
    return (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}

static uint16_t rd16(const reader *r, const uint8_t *p)
{
    return r->swap ? (uint16_t)(p[0] << 8 | p[1]) : (uint16_t)(p[1] << 8 | p[0]);
}

static uint64_t rd64(const reader *r, const uint8_t *p)
{
    uint64_t lo = rd32(r, p), hi = rd32(r, p + 4);
    return r->swap ? lo << 32 | hi : hi << 32 | lo;
}

/* Prefixes every message with the file and, once known, the variable. */
static rf_status mat_fail(reader *r, rf_status status, const char *fmt, ...) RF_PRINTF(3, 4);
static rf_status mat_fail(reader *r, rf_status status, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (r->var)
        return rf_fail(r->err, status, "%s: variable '%s': %s", r->name, r->var, msg);
    return rf_fail(r->err, status, "%s: %s", r->name, msg);
}

/* Accounts for an allocation against the parsed-memory budget, then makes it (zeroed). */
static void *mat_alloc(reader *r, size_t count, size_t size, rf_status *st)
{
    size_t bytes = rf_mul_size(count, size);
    if ((count && !bytes) || bytes > r->max_memory - r->memory) {
        *st = mat_fail(r, RF_E_LIMIT, "decoding needs more than %zu MiB of memory",
                       r->max_memory >> 20);
        return NULL;
    }
    r->memory += bytes;
    void *p = calloc(count ? count : 1, size ? size : 1);
    if (!p)
        *st = mat_fail(r, RF_E_NOMEM, "out of memory (%zu bytes)", bytes);
    return p;
}

static rf_status read_tag(reader *r, span buf, size_t off, element *el)
{
    if (off > buf.n || buf.n - off < 8)
        return mat_fail(r, RF_E_FORMAT, "truncated: an element tag is cut off");
    uint32_t w0 = rd32(r, buf.p + off);
    if (w0 >> 16) {
        /* small data element: type and size share the first word, data in the second */
        uint32_t nbytes = w0 >> 16;
        if (nbytes > 4)
            return mat_fail(r, RF_E_FORMAT, "small data element claims %u bytes (at most 4)",
                            (unsigned)nbytes);
        el->type = w0 & 0xffffu;
        el->data = (span){buf.p + off + 4, nbytes};
        el->next = off + 8;
        return RF_OK;
    }
    uint32_t nbytes = rd32(r, buf.p + off + 4);
    size_t room = buf.n - off - 8;
    if (nbytes > room)
        return mat_fail(r, RF_E_FORMAT, "truncated: an element of %u bytes has only %zu left",
                        (unsigned)nbytes, room);
    el->type = w0;
    el->data = (span){buf.p + off + 8, nbytes};
    size_t end = off + 8 + nbytes;
    /* everything but compressed data is padded to 8 bytes; a last element may lack it */
    if (w0 != MI_COMPRESSED) {
        size_t pad = (8 - nbytes % 8) % 8;
        end = pad <= buf.n - end ? end + pad : buf.n;
    }
    el->next = end;
    return RF_OK;
}

/* Bytes per value of a numeric element type; 0 for anything else. */
static size_t mi_size(uint32_t type)
{
    switch (type) {
    case MI_INT8: case MI_UINT8: case MI_UTF8: return 1;
    case MI_INT16: case MI_UINT16: case MI_UTF16: return 2;
    case MI_INT32: case MI_UINT32: case MI_SINGLE: case MI_UTF32: return 4;
    case MI_DOUBLE: case MI_INT64: case MI_UINT64: return 8;
    default: return 0;
    }
}

static double mi_value(const reader *r, uint32_t type, const uint8_t *p)
{
    switch (type) {
    case MI_INT8: return (int8_t)p[0];
    case MI_UINT8: case MI_UTF8: return p[0];
    case MI_INT16: return (int16_t)rd16(r, p);
    case MI_UINT16: case MI_UTF16: return rd16(r, p);
    case MI_INT32: return (int32_t)rd32(r, p);
    case MI_UINT32: case MI_UTF32: return rd32(r, p);
    case MI_SINGLE: {
        uint32_t u = rd32(r, p);
        float f;
        memcpy(&f, &u, sizeof f);
        return f;
    }
    case MI_DOUBLE: {
        uint64_t u = rd64(r, p);
        double d;
        memcpy(&d, &u, sizeof d);
        return d;
    }
    case MI_INT64: return (double)(int64_t)rd64(r, p);
    case MI_UINT64: return (double)rd64(r, p);
    default: return 0;
    }
}

static void free_array(rf_mat_array *a)
{
    if (a->cells)
        for (size_t i = 0; i < a->numel; i++)
            free_array(&a->cells[i]);
    free(a->cells);
    free(a->values);
    a->cells = NULL;
    a->values = NULL;
}

/* Converts a numeric data element of exactly a->numel values into a->values. */
static rf_status read_values(reader *r, const element *el, int text, rf_mat_array *a)
{
    size_t size = mi_size(el->type);
    int ok_type = text ? (el->type == MI_UINT16 || el->type == MI_UTF16 || el->type == MI_UTF8 ||
                          el->type == MI_UINT8 || el->type == MI_INT8 || el->type == MI_UTF32)
                       : (size && el->type != MI_UTF8 && el->type != MI_UTF16 &&
                          el->type != MI_UTF32);
    if (!ok_type)
        return mat_fail(r, RF_E_FORMAT, "%s data stored as element type %u",
                        text ? "char" : "numeric", (unsigned)el->type);
    if (el->data.n % size || el->data.n / size != a->numel)
        return mat_fail(r, RF_E_FORMAT, "data holds %zu bytes, dimensions need %zu values of %zu",
                        el->data.n, a->numel, size);
    rf_status st = RF_OK;
    if (!(a->values = mat_alloc(r, a->numel, sizeof(double), &st)))
        return st;
    for (size_t i = 0; i < a->numel; i++)
        a->values[i] = mi_value(r, el->type, el->data.p + i * size);
    return RF_OK;
}

/* Parses the contents of an miMATRIX element. name (top level only) receives the array name. */
static rf_status parse_matrix(reader *r, span m, int depth, rf_mat_array *a, char **name)
{
    memset(a, 0, sizeof *a);
    if (depth > RF_MAT_MAX_DEPTH)
        return mat_fail(r, RF_E_LIMIT, "cells nested deeper than %d levels", RF_MAT_MAX_DEPTH);
    if (m.n == 0) {
        /* an empty matrix element stands for [] (0x0 double) */
        a->kind = RF_MAT_NUMERIC;
        a->mx_class = MX_DOUBLE;
        a->ndims = 2;
        return RF_OK;
    }
    element flags, dims, nm;
    rf_status st;
    if ((st = read_tag(r, m, 0, &flags)) != RF_OK) return st;
    if (flags.type != MI_UINT32 || flags.data.n != 8)
        return mat_fail(r, RF_E_FORMAT, "array flags are not 8 bytes of miUINT32");
    uint32_t f = rd32(r, flags.data.p);
    a->mx_class = (int)(f & 0xffu);
    if ((st = read_tag(r, m, flags.next, &dims)) != RF_OK) return st;
    if (dims.type != MI_INT32 || dims.data.n % 4 || dims.data.n == 0)
        return mat_fail(r, RF_E_FORMAT, "dimensions are not an miINT32 array");
    if (dims.data.n / 4 > RF_MAT_MAX_DIMS)
        return mat_fail(r, RF_E_LIMIT, "%zu dimensions (at most %d)", dims.data.n / 4,
                        RF_MAT_MAX_DIMS);
    a->ndims = (int)(dims.data.n / 4);
    size_t numel = 1;
    for (int i = 0; i < a->ndims; i++) {
        int32_t d = (int32_t)rd32(r, dims.data.p + 4 * i);
        if (d < 0)
            return mat_fail(r, RF_E_FORMAT, "negative dimension %d", (int)d);
        a->dims[i] = d;
        if (numel && (size_t)d > SIZE_MAX / 16 / numel)
            return mat_fail(r, RF_E_LIMIT, "dimensions overflow");
        numel *= (size_t)d;
    }
    a->numel = numel;
    if ((st = read_tag(r, m, dims.next, &nm)) != RF_OK) return st;
    if (nm.type != MI_INT8 && nm.type != MI_UINT8)
        return mat_fail(r, RF_E_FORMAT, "array name is not miINT8");
    if (name) {
        if (!(*name = mat_alloc(r, nm.data.n + 1, 1, &st))) return st;
        memcpy(*name, nm.data.p, nm.data.n);
    }
    size_t off = nm.next;
    element el;
    switch (a->mx_class) {
    case MX_CELL: {
        a->kind = RF_MAT_CELL;
        /* every cell needs at least an 8-byte tag: refuse counts the data cannot hold */
        size_t room = off <= m.n ? (m.n - off) / 8 : 0;
        if (numel > room)
            return mat_fail(r, RF_E_FORMAT, "cell array of %zu elements has room for %zu", numel,
                            room);
        if (!(a->cells = mat_alloc(r, numel, sizeof *a->cells, &st))) return st;
        for (size_t i = 0; i < numel; i++) {
            if ((st = read_tag(r, m, off, &el)) != RF_OK) return st;
            if (el.type != MI_MATRIX)
                return mat_fail(r, RF_E_FORMAT, "cell element %zu is element type %u, not "
                                "miMATRIX", i, (unsigned)el.type);
            if ((st = parse_matrix(r, el.data, depth + 1, &a->cells[i], NULL)) != RF_OK)
                return st;
            off = el.next;
        }
        return RF_OK;
    }
    case MX_CHAR:
        a->kind = RF_MAT_CHAR;
        if ((st = read_tag(r, m, off, &el)) != RF_OK) return st;
        return read_values(r, &el, 1, a);
    case MX_DOUBLE: case MX_SINGLE: case MX_INT8: case MX_UINT8: case MX_INT16: case MX_UINT16:
    case MX_INT32: case MX_UINT32: case MX_INT64: case MX_UINT64:
        a->kind = RF_MAT_NUMERIC;
        /* only the real part is kept; an imaginary part follows and is not needed here */
        if ((st = read_tag(r, m, off, &el)) != RF_OK) return st;
        return read_values(r, &el, 0, a);
    default:
        a->kind = RF_MAT_OTHER;
        return RF_OK;
    }
}

/* Inflates a compressed element into a buffer holding exactly the element it contains. */
static rf_status inflate_element(reader *r, span in, uint8_t **out, size_t *out_n)
{
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    if (inflateInit(&zs) != Z_OK)
        return mat_fail(r, RF_E_NOMEM, "cannot start zlib");
    uint8_t head[8];
    uint8_t *buf = NULL;
    rf_status st = RF_OK;
    zs.next_in = (Bytef *)in.p;
    zs.avail_in = (uInt)in.n;
    zs.next_out = head;
    zs.avail_out = sizeof head;
    size_t total = 0;
    for (int pass = 0; pass < 2; pass++) {
        int ret = Z_OK;
        while (zs.avail_out > 0 && ret == Z_OK)
            ret = inflate(&zs, Z_NO_FLUSH);
        if (ret != Z_OK && ret != Z_STREAM_END && ret != Z_BUF_ERROR) {
            st = mat_fail(r, RF_E_FORMAT, "corrupt compressed element (zlib: %s)",
                          zs.msg ? zs.msg : "bad data");
            goto done;
        }
        if (zs.avail_out > 0) {
            st = mat_fail(r, RF_E_FORMAT, "truncated compressed element");
            goto done;
        }
        if (pass == 1)
            break;
        /* the inflated element's own tag says how much to expect, so nothing is over-allocated */
        uint32_t w0 = rd32(r, head), body = w0 >> 16 ? 0 : rd32(r, head + 4);
        if (body > r->max_inflated - r->inflated || r->max_inflated - r->inflated - body < 8) {
            st = mat_fail(r, RF_E_LIMIT, "compressed data inflates to more than %zu MiB",
                          r->max_inflated >> 20);
            goto done;
        }
        total = 8 + (size_t)body;
        r->inflated += total;
        if (!(buf = malloc(total))) {
            st = mat_fail(r, RF_E_NOMEM, "out of memory (%zu bytes)", total);
            goto done;
        }
        memcpy(buf, head, 8);
        zs.next_out = buf + 8;
        zs.avail_out = body;
        if (body == 0)
            break;
    }
done:
    inflateEnd(&zs);
    if (st != RF_OK) {
        free(buf);
        return st;
    }
    *out = buf;
    *out_n = total;
    return RF_OK;
}

void rf_mat_free(rf_mat_file *file)
{
    if (!file)
        return;
    for (int i = 0; i < file->count; i++) {
        free(file->vars[i].name);
        free_array(&file->vars[i].value);
    }
    free(file->vars);
    file->vars = NULL;
    file->count = 0;
}

rf_status rf_mat_load_memory(const void *data, size_t size, const char *name,
                             const rf_mat_limits *limits, rf_mat_file *out, rf_error *err)
{
    reader r = {name ? name : "(memory)", NULL, 0, 0, RF_MAT_MAX_INFLATED_BYTES, 0,
                RF_MAT_MAX_MEMORY_BYTES, err};
    if (limits && limits->max_inflated) r.max_inflated = limits->max_inflated;
    if (limits && limits->max_memory) r.max_memory = limits->max_memory;
    if (!out || (!data && size))
        return rf_fail(err, RF_E_ARG, "rf_mat_load_memory: null argument");
    memset(out, 0, sizeof *out);
    const uint8_t *p = data;
    if (size < MAT_HEADER_BYTES)
        return mat_fail(&r, RF_E_FORMAT, "not a MATLAB .mat file (shorter than its header)");
    if (p[126] == 'I' && p[127] == 'M')
        r.swap = 0;
    else if (p[126] == 'M' && p[127] == 'I')
        r.swap = 1;
    else
        return mat_fail(&r, RF_E_FORMAT, "not a MATLAB v5 .mat file (no endian marker)");
    uint16_t version = rd16(&r, p + 124);
    if (version == 0x0200 || memcmp(p, "MATLAB 7.3", 10) == 0)
        return mat_fail(&r, RF_E_UNSUPPORTED, "MATLAB 7.3 (HDF5) .mat files are not supported; "
                        "save with -v7 or -v6");
    if (version != 0x0100)
        return mat_fail(&r, RF_E_FORMAT, "unknown .mat version 0x%04x", (unsigned)version);
    if (size > RF_MAT_MAX_FILE_BYTES)
        return mat_fail(&r, RF_E_LIMIT, "larger than %u MiB", RF_MAT_MAX_FILE_BYTES >> 20);

    span file = {p, size};
    size_t off = MAT_HEADER_BYTES;
    int cap = 0;
    rf_status st = RF_OK;
    while (off < size) {
        element el;
        uint8_t *inflated = NULL;
        size_t inflated_n = 0;
        r.var = NULL;
        if ((st = read_tag(&r, file, off, &el)) != RF_OK) goto fail;
        off = el.next;
        if (el.type == MI_COMPRESSED) {
            if ((st = inflate_element(&r, el.data, &inflated, &inflated_n)) != RF_OK) goto fail;
            if ((st = read_tag(&r, (span){inflated, inflated_n}, 0, &el)) != RF_OK) {
                free(inflated);
                goto fail;
            }
        }
        if (el.type != MI_MATRIX) {
            /* other top-level elements carry nothing an array reader needs */
            free(inflated);
            continue;
        }
        if (out->count == cap) {
            int ncap = cap ? 2 * cap : 8;
            rf_mat_var *nv = mat_alloc(&r, (size_t)ncap, sizeof *nv, &st);
            if (!nv) {
                free(inflated);
                goto fail;
            }
            if (out->count) memcpy(nv, out->vars, (size_t)out->count * sizeof *nv);
            free(out->vars);
            out->vars = nv;
            cap = ncap;
        }
        rf_mat_var *v = &out->vars[out->count++];
        v->name = NULL;
        /* the name is read first, so that later messages can say which variable is at fault */
        st = parse_matrix(&r, el.data, 0, &v->value, &v->name);
        if (st == RF_OK && !v->name)
            st = mat_fail(&r, RF_E_FORMAT, "variable without a name");
        free(inflated);
        if (st != RF_OK) goto fail;
    }
    return rf_ok(err);
fail:
    rf_mat_free(out);
    return st;
}

rf_status rf_mat_load(const char *path, rf_mat_file *out, rf_error *err)
{
    if (!path || !out)
        return rf_fail(err, RF_E_ARG, "rf_mat_load: null argument");
    memset(out, 0, sizeof *out);
    uint8_t *data;
    size_t size;
    rf_status st = rf_read_file(path, RF_MAT_MAX_FILE_BYTES, &data, &size, err);
    if (st == RF_OK)
        st = rf_mat_load_memory(data, size, path, NULL, out, err);
    free(data);
    return st;
}

const rf_mat_array *rf_mat_find(const rf_mat_file *file, const char *name)
{
    for (int i = 0; file && i < file->count; i++)
        if (strcmp(file->vars[i].name, name) == 0)
            return &file->vars[i].value;
    return NULL;
}

char *rf_mat_string(const rf_mat_array *a)
{
    if (!a || a->kind != RF_MAT_CHAR || a->numel > (SIZE_MAX - 1) / 4)
        return NULL;
    char *s = malloc(a->numel * 4 + 1), *q = s;
    if (!s)
        return NULL;
    for (size_t i = 0; i < a->numel; i++) {
        double v = a->values[i];
        unsigned c = (v >= 1 && v <= 0x10ffff && !(v >= 0xd800 && v < 0xe000)) ? (unsigned)v : '?';
        if (c < 0x80) {
            *q++ = (char)c;
        } else if (c < 0x800) {
            *q++ = (char)(0xc0 | c >> 6);
            *q++ = (char)(0x80 | (c & 0x3f));
        } else if (c < 0x10000) {
            *q++ = (char)(0xe0 | c >> 12);
            *q++ = (char)(0x80 | (c >> 6 & 0x3f));
            *q++ = (char)(0x80 | (c & 0x3f));
        } else {
            *q++ = (char)(0xf0 | c >> 18);
            *q++ = (char)(0x80 | (c >> 12 & 0x3f));
            *q++ = (char)(0x80 | (c >> 6 & 0x3f));
            *q++ = (char)(0x80 | (c & 0x3f));
        }
    }
    *q = '\0';
    return s;
}
