/* test_matfile.c - the .mat reader: the real WIDER FACE files, crafted files, and corrupt or truncated ones. */
#include "eval/matfile.h"
#include "testutil.h"

#include <stdint.h>
#include <zlib.h>

/* ------------------------------------------------------------------------------ a tiny writer */

typedef struct {
    uint8_t *p;
    size_t n, cap;
    int be; /* write big-endian */
} buf;

static void put(buf *b, const void *d, size_t n)
{
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
        if (!b->p)
            abort();
    }
    memcpy(b->p + b->n, d, n);
    b->n += n;
}

static void put_u(buf *b, uint64_t v, int bytes)
{
    uint8_t d[8];
    for (int i = 0; i < bytes; i++)
        d[b->be ? bytes - 1 - i : i] = (uint8_t)(v >> (8 * i));
    put(b, d, (size_t)bytes);
}

static void pad8(buf *b)
{
    static const uint8_t zero[8];
    put(b, zero, (8 - b->n % 8) % 8);
}

/* An element: tag, data, padding. */
static void put_elem(buf *b, uint32_t type, const buf *data)
{
    put_u(b, type, 4);
    put_u(b, data->n, 4);
    put(b, data->p, data->n);
    pad8(b);
}

static void header(buf *b)
{
    char text[116];
    memset(text, ' ', sizeof text);
    memcpy(text, "MATLAB 5.0 MAT-file, test", 25);
    put(b, text, sizeof text);
    put_u(b, 0, 8);
    put_u(b, 0x0100, 2);
    put(b, b->be ? "MI" : "IM", 2);
}

/* An miMATRIX element: flags, dims, name, then `body` (already-encoded data elements). */
static void put_matrix(buf *b, int cls, int nd, const int32_t *dims, const char *name,
                       const buf *body)
{
    buf m = {NULL, 0, 0, b->be}, t = {NULL, 0, 0, b->be};
    put_u(&t, (uint32_t)cls, 4);
    put_u(&t, 0, 4);
    put_elem(&m, 6 /* miUINT32 */, &t);
    t.n = 0;
    for (int i = 0; i < nd; i++)
        put_u(&t, (uint32_t)dims[i], 4);
    put_elem(&m, 5 /* miINT32 */, &t);
    t.n = 0;
    put(&t, name, strlen(name));
    put_elem(&m, 1 /* miINT8 */, &t);
    if (body)
        put(&m, body->p, body->n);
    put_elem(b, 14 /* miMATRIX */, &m);
    free(m.p);
    free(t.p);
}

static void doubles(buf *body, const double *v, int n)
{
    buf t = {NULL, 0, 0, body->be};
    for (int i = 0; i < n; i++) {
        uint64_t u;
        memcpy(&u, &v[i], 8);
        put_u(&t, u, 8);
    }
    put_elem(body, 9 /* miDOUBLE */, &t);
    free(t.p);
}

static void chars(buf *body, const char *s)
{
    buf t = {NULL, 0, 0, body->be};
    for (const char *p = s; *p; p++)
        put_u(&t, (uint8_t)*p, 2);
    put_elem(body, 4 /* miUINT16 */, &t);
    free(t.p);
}

/* x = [1 2 3; 4 5 6] (double), c = {'ab'; []; {int16 -7}}: the kinds WIDER files use. */
static void sample(buf *b)
{
    header(b);
    buf body = {NULL, 0, 0, b->be}, cells = {NULL, 0, 0, b->be}, inner = {NULL, 0, 0, b->be};
    const double x[6] = {1, 4, 2, 5, 3, 6}; /* column-major */
    doubles(&body, x, 6);
    put_matrix(b, 6, 2, (const int32_t[]){2, 3}, "x", &body);

    body.n = 0;
    chars(&body, "ab");
    put_matrix(&cells, 4, 2, (const int32_t[]){1, 2}, "", &body);
    put_u(&cells, 14, 4); /* an empty matrix element stands for [] */
    put_u(&cells, 0, 4);
    body.n = 0;
    /* a small data element: int16 -7 in the tag's second word */
    put_u(&body, 2u << 16 | 3u, 4);
    put_u(&body, (uint16_t)-7, 2);
    put_u(&body, 0, 2);
    put_matrix(&inner, 10, 2, (const int32_t[]){1, 1}, "", &body);
    put_matrix(&cells, 1, 2, (const int32_t[]){1, 1}, "", &inner);
    put_matrix(b, 1, 2, (const int32_t[]){3, 1}, "c", &cells);
    free(body.p);
    free(cells.p);
    free(inner.p);
}

/* The same variables, each in an miCOMPRESSED element. */
static void compressed_sample(buf *b)
{
    buf plain = {NULL, 0, 0, b->be};
    sample(&plain);
    size_t off = 128;
    while (off < plain.n) {
        uint32_t nbytes = (uint32_t)plain.p[off + 4] | (uint32_t)plain.p[off + 5] << 8 |
                          (uint32_t)plain.p[off + 6] << 16 | (uint32_t)plain.p[off + 7] << 24;
        if (b->be)
            nbytes = (uint32_t)plain.p[off + 7] | (uint32_t)plain.p[off + 6] << 8 |
                     (uint32_t)plain.p[off + 5] << 16 | (uint32_t)plain.p[off + 4] << 24;
        size_t len = 8 + nbytes;
        uLongf zlen = compressBound(len);
        uint8_t *z = malloc(zlen);
        compress(z, &zlen, plain.p + off, len);
        put_u(b, 15, 4);
        put_u(b, zlen, 4);
        put(b, z, zlen);
        free(z);
        off += len;
    }
    free(plain.p);
}

static void check_sample(const rf_mat_file *f, const char *what)
{
    CHECK(f->count == 2, "%s: %d variables", what, f->count);
    const rf_mat_array *x = rf_mat_find(f, "x"), *c = rf_mat_find(f, "c");
    CHECK(x && x->kind == RF_MAT_NUMERIC && x->mx_class == 6, "%s: x", what);
    if (x && x->kind == RF_MAT_NUMERIC) {
        CHECK(x->ndims == 2 && x->dims[0] == 2 && x->dims[1] == 3 && x->numel == 6, "%s: x dims",
              what);
        CHECK(x->values[0] == 1 && x->values[1] == 4 && x->values[5] == 6, "%s: x values", what);
    }
    CHECK(c && c->kind == RF_MAT_CELL && c->numel == 3, "%s: c", what);
    if (c && c->kind == RF_MAT_CELL && c->numel == 3) {
        char *s = rf_mat_string(&c->cells[0]);
        CHECK(s && strcmp(s, "ab") == 0, "%s: c{1} = '%s'", what, s ? s : "(null)");
        free(s);
        CHECK(c->cells[1].kind == RF_MAT_NUMERIC && c->cells[1].numel == 0, "%s: c{2} empty",
              what);
        const rf_mat_array *in = &c->cells[2];
        CHECK(in->kind == RF_MAT_CELL && in->numel == 1 && in->cells[0].mx_class == 10 &&
                  in->cells[0].numel == 1 && in->cells[0].values[0] == -7,
              "%s: c{3} = {int16 -7}", what);
        CHECK(rf_mat_string(&c->cells[1]) == NULL, "%s: a number is not a string", what);
    }
    CHECK(rf_mat_find(f, "nope") == NULL, "%s: unknown name", what);
}

/* Every prefix and every single-byte change must give an error or a valid result, never a
 * crash (the sanitizer build checks the "never"). */
static void mutate(const buf *b, const char *what, int expect_prefix_errors)
{
    int errors = 0;
    for (size_t n = 0; n < b->n; n++) {
        rf_mat_file f;
        rf_error err;
        if (rf_mat_load_memory(b->p, n, "prefix", NULL, &f, &err) != RF_OK)
            errors++;
        else
            rf_mat_free(&f);
    }
    if (expect_prefix_errors)
        CHECK(errors > (int)b->n / 2, "%s: only %d of %zu truncations refused", what, errors, b->n);
    uint8_t *copy = malloc(b->n);
    for (size_t i = 0; i < b->n; i++) {
        static const uint8_t values[] = {0x00, 0xff, 0x7f, 0x80, 0x0e, 0x0f};
        for (size_t v = 0; v < sizeof values; v++) {
            memcpy(copy, b->p, b->n);
            copy[i] = (uint8_t)(copy[i] == values[v] ? ~values[v] : values[v]);
            rf_mat_file f;
            rf_error err;
            if (rf_mat_load_memory(copy, b->n, "mutated", NULL, &f, &err) == RF_OK)
                rf_mat_free(&f);
        }
    }
    free(copy);
}

static rf_status load(const buf *b, const rf_mat_limits *lim, rf_error *err)
{
    rf_mat_file f;
    rf_status st = rf_mat_load_memory(b->p, b->n, "crafted.mat", lim, &f, err);
    if (st == RF_OK)
        rf_mat_free(&f);
    return st;
}

static void crafted(void)
{
    rf_error err;
    rf_mat_file f;
    for (int be = 0; be < 2; be++) {
        buf b = {NULL, 0, 0, be}, z = {NULL, 0, 0, be};
        sample(&b);
        CHECK(rf_mat_load_memory(b.p, b.n, "sample.mat", NULL, &f, &err) == RF_OK, "%s",
              err.message);
        check_sample(&f, be ? "big-endian" : "little-endian");
        rf_mat_free(&f);
        header(&z);
        compressed_sample(&z);
        CHECK(rf_mat_load_memory(z.p, z.n, "sample.mat", NULL, &f, &err) == RF_OK, "%s",
              err.message);
        check_sample(&f, be ? "compressed big-endian" : "compressed");
        rf_mat_free(&f);
        mutate(&b, "plain", 1);
        mutate(&z, "compressed", 1);
        free(b.p);
        free(z.p);
    }

    buf b = {NULL, 0, 0, 0};
    /* not a .mat file at all */
    CHECK(rf_mat_load_memory("hello", 5, "x.mat", NULL, &f, &err) == RF_E_FORMAT, "short");
    CHECK(strstr(err.message, "x.mat") != NULL, "message names the file: %s", err.message);
    header(&b);
    b.p[126] = 'X';
    CHECK(load(&b, NULL, &err) == RF_E_FORMAT, "no endian marker");
    b.p[126] = 'I';
    memcpy(b.p, "MATLAB 7.3", 10);
    CHECK(load(&b, NULL, &err) == RF_E_UNSUPPORTED, "v7.3: %s", err.message);
    b.n = 0;

    /* a small data element cannot hold more than 4 bytes */
    header(&b);
    {
        buf m = {NULL, 0, 0, 0};
        put_u(&m, 6u << 16 | 6u, 4); /* claims 6 bytes */
        put_u(&m, 0, 4);
        put_elem(&b, 14, &m);
        free(m.p);
    }
    CHECK(load(&b, NULL, &err) == RF_E_FORMAT, "small element > 4 bytes: %s", err.message);
    b.n = 0;

    /* negative dimension */
    header(&b);
    put_matrix(&b, 6, 2, (const int32_t[]){-1, 1}, "neg", NULL);
    CHECK(load(&b, NULL, &err) == RF_E_FORMAT, "negative dim: %s", err.message);
    CHECK(strstr(err.message, "neg") != NULL, "message names the variable: %s", err.message);
    b.n = 0;

    /* a huge cell count with no data behind it is refused before any allocation */
    header(&b);
    put_matrix(&b, 1, 2, (const int32_t[]){1 << 20, 1 << 10}, "bigcell", NULL);
    CHECK(load(&b, NULL, &err) == RF_E_FORMAT, "huge cell: %s", err.message);
    b.n = 0;
    header(&b);
    put_matrix(&b, 1, 3, (const int32_t[]){1 << 30, 1 << 30, 1 << 30}, "overflow", NULL);
    CHECK(load(&b, NULL, &err) == RF_E_LIMIT, "dims overflow: %s", err.message);
    b.n = 0;

    /* numeric data that does not match the dimensions */
    header(&b);
    {
        buf body = {NULL, 0, 0, 0};
        doubles(&body, (const double[]){1, 2, 3}, 3);
        put_matrix(&b, 6, 2, (const int32_t[]){2, 2}, "short", &body);
        free(body.p);
    }
    CHECK(load(&b, NULL, &err) == RF_E_FORMAT, "data/dims mismatch: %s", err.message);
    b.n = 0;

    /* cells nested deeper than the limit */
    {
        buf inner = {NULL, 0, 0, 0}, outer = {NULL, 0, 0, 0};
        put_matrix(&inner, 6, 2, (const int32_t[]){0, 0}, "", NULL);
        for (int d = 0; d < RF_MAT_MAX_DEPTH + 2; d++) {
            outer.n = 0;
            put_matrix(&outer, 1, 2, (const int32_t[]){1, 1}, d == RF_MAT_MAX_DEPTH + 1 ? "deep" : "",
                       &inner);
            buf t = inner;
            inner = outer;
            outer = t;
        }
        header(&b);
        put(&b, inner.p, inner.n);
        CHECK(load(&b, NULL, &err) == RF_E_LIMIT, "depth: %s", err.message);
        free(inner.p);
        free(outer.p);
        b.n = 0;
    }

    /* a compressed element whose inner tag claims 4 GB: refused, not allocated */
    header(&b);
    {
        uint8_t tag[8] = {14, 0, 0, 0, 0xf0, 0xff, 0xff, 0xff};
        uLongf zlen = compressBound(sizeof tag);
        uint8_t *zb = malloc(zlen);
        compress(zb, &zlen, tag, sizeof tag);
        put_u(&b, 15, 4);
        put_u(&b, zlen, 4);
        put(&b, zb, zlen);
        free(zb);
    }
    CHECK(load(&b, NULL, &err) == RF_E_LIMIT, "inflate limit: %s", err.message);
    b.n = 0;

    /* a zlib bomb: 8 MB of a 1 MB budget */
    header(&b);
    {
        size_t big = 8u << 20;
        uint8_t *raw = calloc(big, 1);
        raw[0] = 14;
        uint32_t body = (uint32_t)(big - 8);
        memcpy(raw + 4, &body, 4);
        uLongf zlen = compressBound(big);
        uint8_t *zb = malloc(zlen);
        compress(zb, &zlen, raw, big);
        put_u(&b, 15, 4);
        put_u(&b, zlen, 4);
        put(&b, zb, zlen);
        free(raw);
        free(zb);
    }
    rf_mat_limits lim = {1u << 20, 0};
    CHECK(load(&b, &lim, &err) == RF_E_LIMIT, "bomb: %s", err.message);
    b.n = 0;

    /* the parsed-memory budget: 1000 doubles stored as bytes are 8000 bytes of doubles */
    header(&b);
    {
        buf body = {NULL, 0, 0, 0}, t = {NULL, 0, 0, 0};
        for (int i = 0; i < 1000; i++)
            put_u(&t, (uint8_t)i, 1);
        put_elem(&body, 2 /* miUINT8 */, &t);
        put_matrix(&b, 6, 2, (const int32_t[]){1000, 1}, "packed", &body);
        free(body.p);
        free(t.p);
    }
    CHECK(load(&b, NULL, &err) == RF_OK, "uint8-stored doubles: %s", err.message);
    rf_mat_limits small = {0, 4000};
    CHECK(load(&b, &small, &err) == RF_E_LIMIT, "memory budget: %s", err.message);
    CHECK(rf_mat_load_memory(b.p, b.n, "m", NULL, &f, &err) == RF_OK &&
              rf_mat_find(&f, "packed")->values[999] == 231,
          "uint8 value converted");
    rf_mat_free(&f);
    free(b.p);
}

static void real_files(void)
{
    rf_mat_file f;
    rf_error err;
    const char *path = test_data_path("data/widerface/ground_truth/wider_face_val.mat");
    CHECK(rf_mat_load(path, &f, &err) == RF_OK, "%s", err.message);
    const rf_mat_array *ev = rf_mat_find(&f, "event_list"), *fl = rf_mat_find(&f, "file_list"),
                       *bb = rf_mat_find(&f, "face_bbx_list");
    CHECK(ev && ev->kind == RF_MAT_CELL && ev->numel == 61, "event_list");
    CHECK(fl && fl->kind == RF_MAT_CELL && fl->numel == 61, "file_list");
    CHECK(bb && bb->kind == RF_MAT_CELL && bb->numel == 61, "face_bbx_list");
    if (ev && fl && bb && ev->numel == 61 && fl->numel == 61 && bb->numel == 61) {
        char *s = rf_mat_string(&ev->cells[0]);
        CHECK(s && strcmp(s, "0--Parade") == 0, "first event '%s'", s ? s : "");
        free(s);
        size_t images = 0;
        for (int e = 0; e < 61; e++)
            images += fl->cells[e].numel;
        CHECK(images == 3226, "%zu images", images);
        s = rf_mat_string(&fl->cells[0].cells[0]);
        CHECK(s && strcmp(s, "0_Parade_marchingband_1_465") == 0, "first file '%s'", s ? s : "");
        free(s);
        /* wider_face_val_bbx_gt.txt: 126 faces, the first "345 211 4 4" */
        const rf_mat_array *b0 = &bb->cells[0].cells[0];
        CHECK(b0->kind == RF_MAT_NUMERIC && b0->dims[0] == 126 && b0->dims[1] == 4, "boxes");
        if (b0->numel == 504)
            CHECK(b0->values[0] == 345 && b0->values[126] == 211 && b0->values[252] == 4 &&
                      b0->values[378] == 4,
                  "first box");
    }
    rf_mat_free(&f);
    const char *hard = test_data_path("data/widerface/ground_truth/wider_hard_val.mat");
    CHECK(rf_mat_load(hard, &f, &err) == RF_OK, "%s", err.message);
    const rf_mat_array *gl = rf_mat_find(&f, "gt_list");
    CHECK(gl && gl->kind == RF_MAT_CELL && gl->numel == 61, "gt_list");
    rf_mat_free(&f);
    CHECK(rf_mat_load(test_data_path("data/widerface/nope.mat"), &f, &err) == RF_E_IO,
          "missing file");
    CHECK(strstr(err.message, "nope.mat") != NULL, "%s", err.message);
    /* a real file cut short must be refused */
    FILE *fp = fopen(path, "rb");
    if (fp) {
        static uint8_t data[1 << 20];
        size_t n = fread(data, 1, sizeof data, fp);
        fclose(fp);
        for (size_t cut = 100; cut < n; cut += n / 7) {
            rf_status st = rf_mat_load_memory(data, cut, "cut.mat", NULL, &f, &err);
            CHECK(st == RF_E_FORMAT, "cut at %zu: %s", cut, err.message);
            if (st == RF_OK)
                rf_mat_free(&f);
        }
    }
}

int main(void)
{
    crafted();
    if (tu_failed)
        return test_summary();
    require_test_data("test_matfile (real WIDER files)");
    real_files();
    return test_summary();
}
