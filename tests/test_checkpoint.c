/* test_checkpoint.c - legacy and zip checkpoints, generated here and from shared/models. */
#define _POSIX_C_SOURCE 200809L
#include "formats/checkpoint.h"
#include "testutil.h"
#include "formats/zip.h"

#include <stdint.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

typedef struct {
    uint8_t *b;
    size_t n, cap;
} buf;

static void put(buf *s, const void *p, size_t n)
{
    if (s->n + n > s->cap) {
        s->cap = (s->n + n) * 2 + 256;
        s->b = realloc(s->b, s->cap);
        if (!s->b)
            abort();
    }
    if (n)
        memcpy(s->b + s->n, p, n);
    s->n += n;
}
static void op(buf *s, uint8_t o) { put(s, &o, 1); }
static void le(buf *s, uint64_t v, int n)
{
    for (int i = 0; i < n; i++)
        op(s, (uint8_t)(v >> (8 * i)));
}
static void pstr(buf *s, const char *t)
{
    op(s, 'X');
    le(s, strlen(t), 4);
    put(s, t, strlen(t));
}
static void pint(buf *s, int64_t v)
{
    op(s, 'J');
    le(s, (uint64_t)v, 4);
}
static void pglobal(buf *s, const char *mod, const char *name)
{
    op(s, 'c');
    put(s, mod, strlen(mod));
    op(s, '\n');
    put(s, name, strlen(name));
    op(s, '\n');
}

/* ------------------------------------------------------------------ generated checkpoints */
typedef struct {
    const char *name, *storage_type, *key;
    int64_t storage_numel, offset;
    int ndim;
    int64_t shape[4], stride[4];
} gtensor;

typedef struct {
    const char *key;
    size_t elem;
    int64_t numel;
    const void *data;
} gstorage;

static const float st0[6] = {0, 1, 2, 3, 4, 5};
static const int64_t st1[1] = {42};
static const float st2[5] = {10, 11, 12, 13, 14};
static const uint16_t st3[2] = {0x3c00, 0xc000};
static const gstorage gen_storages[4] = {
    {"0", 4, 6, st0}, {"1", 8, 1, st1}, {"2", 4, 5, st2}, {"3", 2, 2, st3}};
static const gtensor gen_tensors[5] = {
    {"module.conv.weight", "FloatStorage", "0", 6, 0, 2, {2, 3}, {3, 1}},
    {"module.conv.t", "FloatStorage", "0", 6, 0, 2, {3, 2}, {1, 3}}, /* a transposed view */
    {"bn.num_batches_tracked", "LongStorage", "1", 1, 0, 0, {0}, {0}},
    {"x.slice", "FloatStorage", "2", 5, 2, 1, {3}, {1}},
    {"h", "HalfStorage", "3", 2, 0, 1, {2}, {1}},
};

/* The state dict as torch.save pickles it; `wrap` nests it as {"state_dict": ..., "epoch": 3},
 * `bad_value` makes the last entry an int. */
static void pickle_state_dict(buf *s, const gtensor *t, int n, int legacy, int wrap,
                              int bad_value)
{
    op(s, 0x80); op(s, 2);
    if (wrap) {
        op(s, '}'); op(s, '(');
        pstr(s, "epoch"); pint(s, 3);
        pstr(s, "state_dict");
    }
    pglobal(s, "collections", "OrderedDict");
    op(s, 'q'); op(s, 0);
    op(s, ')'); op(s, 'R');
    op(s, '(');
    for (int i = 0; i < n; i++) {
        pstr(s, t[i].name);
        if (bad_value && i == n - 1) {
            pint(s, 7);
            continue;
        }
        pglobal(s, "torch._utils", "_rebuild_tensor_v2");
        op(s, '(');
        op(s, '(');
        pstr(s, "storage");
        pglobal(s, "torch", t[i].storage_type);
        pstr(s, t[i].key);
        pstr(s, legacy ? "cuda:0" : "cpu");
        pint(s, t[i].storage_numel);
        if (legacy)
            op(s, 'N');
        op(s, 't');
        op(s, 'Q');
        pint(s, t[i].offset);
        op(s, '(');
        for (int d = 0; d < t[i].ndim; d++)
            pint(s, t[i].shape[d]);
        op(s, 't');
        op(s, '(');
        for (int d = 0; d < t[i].ndim; d++)
            pint(s, t[i].stride[d]);
        op(s, 't');
        op(s, 0x89);
        op(s, 'h'); op(s, 0); op(s, ')'); op(s, 'R');
        op(s, 't');
        op(s, 'R');
    }
    op(s, 'u');
    op(s, '}'); op(s, 'b');
    if (wrap)
        op(s, 'u');
    op(s, '.');
}

static buf make_legacy(const gtensor *t, int n, int wrap, int bad_value)
{
    buf s = {0};
    static const uint8_t magic[10] = {0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19};
    op(&s, 0x80); op(&s, 2); op(&s, 0x8a); op(&s, 10); put(&s, magic, 10); op(&s, '.');
    op(&s, 0x80); op(&s, 2); op(&s, 'M'); le(&s, 1001, 2); op(&s, '.');
    op(&s, 0x80); op(&s, 2); op(&s, '}'); op(&s, '(');
    pstr(&s, "protocol_version"); op(&s, 'M'); le(&s, 1001, 2);
    pstr(&s, "little_endian"); op(&s, 0x88);
    op(&s, 'u'); op(&s, '.');
    pickle_state_dict(&s, t, n, 1, wrap, bad_value);
    op(&s, 0x80); op(&s, 2); op(&s, ']'); op(&s, '(');
    for (int i = 0; i < 4; i++)
        pstr(&s, gen_storages[i].key);
    op(&s, 'e'); op(&s, '.');
    for (int i = 0; i < 4; i++) {
        le(&s, (uint64_t)gen_storages[i].numel, 8);
        put(&s, gen_storages[i].data, gen_storages[i].elem * (size_t)gen_storages[i].numel);
    }
    return s;
}

typedef struct {
    const char *name;
    size_t name_len;
    const uint8_t *data;
    size_t size;
    int deflate;
} zentry;

/* A zip as torch writes it (stored entries), or deflated entries, or ZIP64 records. */
static buf make_zip(const zentry *e, int n, int zip64)
{
    buf s = {0}, cd = {0};
    for (int i = 0; i < n; i++) {
        uint8_t *packed = NULL;
        const uint8_t *payload = e[i].data;
        size_t psize = e[i].size;
        if (e[i].deflate) {
            z_stream zs;
            memset(&zs, 0, sizeof zs);
            deflateInit2(&zs, 6, Z_DEFLATED, -MAX_WBITS, 8, Z_DEFAULT_STRATEGY);
            size_t cap = deflateBound(&zs, (uLong)e[i].size);
            packed = malloc(cap);
            zs.next_in = (Bytef *)(uintptr_t)e[i].data;
            zs.avail_in = (uInt)e[i].size;
            zs.next_out = packed;
            zs.avail_out = (uInt)cap;
            deflate(&zs, Z_FINISH);
            psize = zs.total_out;
            deflateEnd(&zs);
            payload = packed;
        }
        uint32_t crc = (uint32_t)crc32(crc32(0L, Z_NULL, 0), e[i].data, (uInt)e[i].size);
        uint64_t offset = s.n;
        uint32_t small = zip64 ? 0xFFFFFFFFu : 0;
        le(&s, 0x04034b50, 4); le(&s, 45, 2); le(&s, 0, 2); le(&s, e[i].deflate ? 8 : 0, 2);
        le(&s, 0, 4); le(&s, crc, 4);
        le(&s, zip64 ? small : psize, 4); le(&s, zip64 ? small : e[i].size, 4);
        le(&s, e[i].name_len, 2); le(&s, zip64 ? 20 : 0, 2);
        put(&s, e[i].name, e[i].name_len);
        if (zip64) {
            le(&s, 1, 2); le(&s, 16, 2); le(&s, e[i].size, 8); le(&s, psize, 8);
        }
        put(&s, payload, psize);
        free(packed);
        le(&cd, 0x02014b50, 4); le(&cd, 45, 2); le(&cd, 45, 2); le(&cd, 0, 2);
        le(&cd, e[i].deflate ? 8 : 0, 2); le(&cd, 0, 4); le(&cd, crc, 4);
        le(&cd, zip64 ? small : psize, 4); le(&cd, zip64 ? small : e[i].size, 4);
        le(&cd, e[i].name_len, 2); le(&cd, zip64 ? 28 : 0, 2); le(&cd, 0, 2); le(&cd, 0, 2);
        le(&cd, 0, 2); le(&cd, 0, 4); le(&cd, zip64 ? small : offset, 4);
        put(&cd, e[i].name, e[i].name_len);
        if (zip64) {
            le(&cd, 1, 2); le(&cd, 24, 2); le(&cd, e[i].size, 8); le(&cd, psize, 8);
            le(&cd, offset, 8);
        }
    }
    uint64_t cd_offset = s.n;
    put(&s, cd.b, cd.n);
    if (zip64) {
        uint64_t eocd64 = s.n;
        le(&s, 0x06064b50, 4); le(&s, 44, 8); le(&s, 45, 2); le(&s, 45, 2); le(&s, 0, 4);
        le(&s, 0, 4); le(&s, (uint64_t)n, 8); le(&s, (uint64_t)n, 8); le(&s, cd.n, 8);
        le(&s, cd_offset, 8);
        le(&s, 0x07064b50, 4); le(&s, 0, 4); le(&s, eocd64, 8); le(&s, 1, 4);
    }
    le(&s, 0x06054b50, 4); le(&s, 0, 2); le(&s, 0, 2);
    le(&s, zip64 ? 0xFFFF : (uint64_t)n, 2); le(&s, zip64 ? 0xFFFF : (uint64_t)n, 2);
    le(&s, zip64 ? 0xFFFFFFFFu : cd.n, 4); le(&s, zip64 ? 0xFFFFFFFFu : cd_offset, 4);
    le(&s, 0, 2);
    free(cd.b);
    return s;
}

#define ZE(name, data, size, deflate) {name, strlen(name), (const uint8_t *)(data), size, deflate}

static buf make_gen_zip(int with_pkl, int with_storage2, int zip64)
{
    buf pkl = {0};
    pickle_state_dict(&pkl, gen_tensors, 5, 0, 0, 0);
    zentry e[7];
    int n = 0;
    if (with_pkl)
        e[n++] = (zentry)ZE("gen/data.pkl", pkl.b, pkl.n, 0);
    e[n++] = (zentry)ZE("gen/data/0", st0, sizeof st0, 0);
    e[n++] = (zentry)ZE("gen/data/1", st1, sizeof st1, 0);
    if (with_storage2)
        e[n++] = (zentry)ZE("gen/data/2", st2, sizeof st2, 1);
    e[n++] = (zentry)ZE("gen/data/3", st3, sizeof st3, 1);
    e[n++] = (zentry)ZE("gen/version", "3\n", 2, 0);
    e[n++] = (zentry)ZE("gen/byteorder", "little", 6, 0);
    buf z = make_zip(e, n, zip64);
    free(pkl.b);
    return z;
}

static void check_generated(const rf_checkpoint *c, const char *what)
{
    CHECK(c->count == 5, "%s: %d tensors", what, c->count);
    CHECK(c->module_prefixed == 2, "%s: %d prefixed", what, c->module_prefixed);
    const rf_ckpt_tensor *w = rf_checkpoint_find(c, "conv.weight");
    const rf_ckpt_tensor *t = rf_checkpoint_find(c, "conv.t");
    const rf_ckpt_tensor *nb = rf_checkpoint_find(c, "bn.num_batches_tracked");
    const rf_ckpt_tensor *x = rf_checkpoint_find(c, "x.slice");
    const rf_ckpt_tensor *h = rf_checkpoint_find(c, "h");
    CHECK(w && t && nb && x && h, "%s: a tensor is missing", what);
    CHECK(!rf_checkpoint_find(c, "module.conv.weight"), "%s: prefix kept", what);
    if (!(w && t && nb && x && h))
        return;
    CHECK(c->tensors[0].name == w->name, "%s: file order not kept", what);
    CHECK(w->dtype == RF_DTYPE_F32 && w->ndim == 2 && w->shape[0] == 2 && w->shape[1] == 3 &&
              w->numel == 6, "%s: conv.weight", what);
    CHECK(memcmp(w->data, st0, sizeof st0) == 0, "%s: conv.weight data", what);
    static const float tr[6] = {0, 3, 1, 4, 2, 5};
    CHECK(t->shape[0] == 3 && t->shape[1] == 2 && memcmp(t->data, tr, sizeof tr) == 0,
          "%s: transposed copy", what);
    CHECK(nb->dtype == RF_DTYPE_I64 && nb->ndim == 0 && nb->numel == 1 &&
              *(const int64_t *)nb->data == 42, "%s: num_batches_tracked", what);
    static const float sl[3] = {12, 13, 14};
    CHECK(x->numel == 3 && memcmp(x->data, sl, sizeof sl) == 0, "%s: storage offset", what);
    CHECK(h->dtype == RF_DTYPE_F16 && memcmp(h->data, st3, sizeof st3) == 0, "%s: half", what);
    /* Tensors may stay in the file's buffer, aligned to their element size. */
    for (int i = 0; i < c->count; i++) {
        rf_dtype dt = c->tensors[i].dtype;
        size_t es = dt == RF_DTYPE_I64 ? 8 : dt == RF_DTYPE_F16 ? 2 : 4;
        CHECK((uintptr_t)c->tensors[i].data % es == 0, "%s: %s misaligned", what,
              c->tensors[i].name);
    }
}

static void expect_fail(const buf *b, const char *want, int line)
{
    rf_checkpoint c;
    rf_error err = {0};
    rf_status st = rf_checkpoint_load_memory(b->b, b->n, "gen.pth", &c, &err);
    CHECK(st == RF_E_FORMAT, "line %d: status %d (%s)", line, st, err.message);
    CHECK(strstr(err.message, want) && strncmp(err.message, "gen.pth", 7) == 0,
          "line %d: message '%s' lacks '%s'", line, err.message, want);
    CHECK(c.count == 0 && c.tensors == NULL && c.owned == NULL, "line %d: out not cleared",
          line);
    rf_checkpoint_free(&c);
}
#define EXPECT_FAIL(b, want) expect_fail(b, want, __LINE__)

/* Every strict prefix of a checkpoint must be refused cleanly. */
static void truncations(const uint8_t *data, size_t size, size_t step, const char *what)
{
    int bad = 0;
    for (size_t cut = 0; cut < size; cut += (cut < 400 || size - cut < 400) ? 1 : step) {
        /* A copy of exactly cut bytes, so the sanitizers see any overread. */
        uint8_t *copy = malloc(cut ? cut : 1);
        memcpy(copy, data, cut);
        rf_checkpoint c;
        rf_error err = {0};
        rf_status st = rf_checkpoint_load_memory(copy, cut, what, &c, &err);
        if (st != RF_E_FORMAT || !err.message[0] || c.tensors) {
            if (bad++ < 5)
                CHECK(0, "%s cut at %zu: status %d '%s'", what, cut, st, err.message);
        }
        rf_checkpoint_free(&c);
        free(copy);
    }
    CHECK(bad == 0, "%s: %d truncations accepted", what, bad);
}

/* Random byte flips must never crash; failures must leave out empty. */
static void mutations(const buf *b, const char *what)
{
    uint32_t seed = 12345;
    int bad = 0;
    uint8_t *copy = malloc(b->n);
    for (int round = 0; round < 3000; round++) {
        memcpy(copy, b->b, b->n);
        for (int k = 0; k < 1 + round % 4; k++) {
            seed = seed * 1664525u + 1013904223u;
            copy[(seed >> 8) % b->n] ^= (uint8_t)(1u << (seed % 8));
        }
        rf_checkpoint c;
        rf_error err = {0};
        rf_status st = rf_checkpoint_load_memory(copy, b->n, what, &c, &err);
        if (st != RF_OK && (c.tensors || !err.message[0]))
            bad++;
        rf_checkpoint_free(&c);
    }
    free(copy);
    CHECK(bad == 0, "%s: %d mutated loads failed untidily", what, bad);
}

static void test_generated(void)
{
    rf_checkpoint c;
    rf_error err = {0};
    buf leg = make_legacy(gen_tensors, 5, 0, 0);
    CHECK(rf_checkpoint_load_memory(leg.b, leg.n, "gen.pth", &c, &err) == RF_OK, "%s",
          err.message);
    check_generated(&c, "legacy");
    rf_checkpoint_free(&c);
    truncations(leg.b, leg.n, 1, "gen-legacy.pth");
    mutations(&leg, "gen-legacy.pth");

    /* The same through a file on disk. */
    char path[] = "/tmp/rf_test_ckptXXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0, "mkstemp");
    if (fd >= 0) {
        CHECK(write(fd, leg.b, leg.n) == (ssize_t)leg.n, "write");
        close(fd);
        CHECK(rf_checkpoint_load(path, &c, &err) == RF_OK, "%s", err.message);
        check_generated(&c, "legacy file");
        rf_checkpoint_free(&c);
        unlink(path);
    }
    CHECK(rf_checkpoint_load("/nonexistent/x.pth", &c, &err) == RF_E_IO &&
              strstr(err.message, "/nonexistent/x.pth"), "missing file: %s", err.message);

    buf wrapped = make_legacy(gen_tensors, 5, 1, 0);
    CHECK(rf_checkpoint_load_memory(wrapped.b, wrapped.n, "gen.pth", &c, &err) == RF_OK, "%s",
          err.message);
    check_generated(&c, "wrapped");
    rf_checkpoint_free(&c);

    for (int zip64 = 0; zip64 < 2; zip64++) {
        buf z = make_gen_zip(1, 1, zip64);
        CHECK(rf_checkpoint_load_memory(z.b, z.n, "gen.pth", &c, &err) == RF_OK, "%s",
              err.message);
        check_generated(&c, zip64 ? "zip64" : "zip");
        rf_checkpoint_free(&c);
        truncations(z.b, z.n, 1, "gen-zip.pth");
        mutations(&z, "gen-zip.pth");
        free(z.b);
    }

    buf z = make_gen_zip(0, 1, 0);
    EXPECT_FAIL(&z, "data.pkl");
    free(z.b);
    z = make_gen_zip(1, 0, 0);
    EXPECT_FAIL(&z, "zip has no entry 'gen/data/2' for tensor 'x.slice'");
    free(z.b);
    z = make_gen_zip(1, 1, 0);
    z.b[50] ^= 0x55; /* inside data.pkl: its CRC no longer matches */
    EXPECT_FAIL(&z, "CRC");
    free(z.b);

    buf b = make_legacy(gen_tensors, 5, 0, 1);
    EXPECT_FAIL(&b, "state dict entry 'h' is a int, not a tensor");
    free(b.b);

    gtensor t[5];
    memcpy(t, gen_tensors, sizeof t);
    t[3].offset = 3;
    b = make_legacy(t, 5, 0, 0);
    EXPECT_FAIL(&b, "tensor 'x.slice': elements up to 5 lie outside its storage of 5");
    free(b.b);

    memcpy(t, gen_tensors, sizeof t);
    t[4].name = "module.h";
    t[3].name = "h";
    b = make_legacy(t, 5, 0, 0);
    EXPECT_FAIL(&b, "tensor 'h' appears twice");
    free(b.b);

    memcpy(t, gen_tensors, sizeof t);
    t[3].storage_numel = 6; /* the data section holds 5 */
    b = make_legacy(t, 5, 0, 0);
    EXPECT_FAIL(&b, "storage '2' at offset");
    free(b.b);

    memcpy(t, gen_tensors, sizeof t);
    t[1].storage_type = "LongStorage";
    b = make_legacy(t, 5, 0, 0);
    EXPECT_FAIL(&b, "storage '0' is used with two types");
    free(b.b);

    memcpy(t, gen_tensors, sizeof t);
    t[0].storage_type = "FloatTensor";
    b = make_legacy(t, 5, 0, 0);
    EXPECT_FAIL(&b, "refused pickle global 'torch.FloatTensor'");
    free(b.b);

    b = (buf){0};
    put(&b, "\x89PNG\r\n", 6);
    EXPECT_FAIL(&b, "not a torch.save checkpoint");
    b.n = 0;
    pickle_state_dict(&b, gen_tensors, 5, 1, 0, 0); /* a bare pickle: no magic number */
    EXPECT_FAIL(&b, "no magic number");
    free(b.b);
    free(wrapped.b);
    free(leg.b);
}

/* ------------------------------------------------------------------ shared/models */
static int load(const char *rel, rf_checkpoint *c)
{
    rf_error err = {0};
    rf_status st = rf_checkpoint_load(test_data_path(rel), c, &err);
    CHECK(st == RF_OK, "%s: %s", rel, err.message);
    return st == RF_OK;
}

static uint8_t *read_all(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    *size = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc(*size);
    if (b && fread(b, 1, *size, f) != *size) {
        free(b);
        b = NULL;
    }
    fclose(f);
    return b;
}

static void test_mobilenet(void)
{
    rf_checkpoint legacy, zip;
    if (!load("models/mobilenet0.25_Final.pth", &legacy))
        return;
    if (!load("models/mobilenet0.25_Final_zip.pth", &zip)) {
        rf_checkpoint_free(&legacy);
        return;
    }
    CHECK(legacy.count == 300 && zip.count == 300, "counts %d %d", legacy.count, zip.count);
    CHECK(legacy.module_prefixed == 0, "prefixed %d", legacy.module_prefixed);
    int same = legacy.count == zip.count;
    for (int i = 0; same && i < legacy.count; i++) {
        const rf_ckpt_tensor *a = &legacy.tensors[i], *b = &zip.tensors[i];
        same = strcmp(a->name, b->name) == 0 && a->dtype == b->dtype && a->ndim == b->ndim &&
               memcmp(a->shape, b->shape, sizeof a->shape) == 0 && a->numel == b->numel &&
               memcmp(a->data, b->data, (size_t)a->numel * (a->dtype == RF_DTYPE_I64 ? 8 : 4)) == 0;
        CHECK(same, "tensor %d (%s) differs between legacy and zip", i, a->name);
    }
    const rf_ckpt_tensor *w = rf_checkpoint_find(&zip, "body.stage1.0.0.weight");
    CHECK(w && w->ndim == 4 && w->shape[0] == 8 && w->shape[1] == 3 && w->shape[3] == 3 &&
              ((const float *)w->data)[0] == 0.09556027501821518f &&
              ((const float *)w->data)[2] == 0.0007750404183752835f, "first weight");
    CHECK(strcmp(legacy.tensors[0].name, "body.stage1.0.0.weight") == 0, "first name %s",
          legacy.tensors[0].name);
    rf_checkpoint_free(&legacy);
    rf_checkpoint_free(&zip);

    rf_checkpoint f1;
    if (load("models/mobilenet0.25_face1mb.pth", &f1)) {
        CHECK(f1.count == 300, "face1mb count %d", f1.count);
        rf_checkpoint_free(&f1);
    }
}

static void test_resnet50(void)
{
    struct timespec t0, t1;
    rf_checkpoint c;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (!load("models/resnet50_synthetic.pth", &c))
        return;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    printf("resnet50_synthetic.pth: %d tensors in %.3f s\n", c.count, secs);
    CHECK(c.count == 456 && c.module_prefixed == 456, "count %d prefixed %d", c.count,
          c.module_prefixed);
    const rf_ckpt_tensor *w = rf_checkpoint_find(&c, "body.conv1.weight");
    CHECK(w && w->dtype == RF_DTYPE_F32 && w->ndim == 4 && w->shape[0] == 64 &&
              w->shape[1] == 3 && w->shape[2] == 7 && w->shape[3] == 7 && w->numel == 9408 &&
              ((const float *)w->data)[0] == -0.05859375f, "body.conv1.weight");
    const rf_ckpt_tensor *nb = rf_checkpoint_find(&c, "body.bn1.num_batches_tracked");
    CHECK(nb && nb->dtype == RF_DTYPE_I64 && nb->ndim == 0 && nb->numel == 1,
          "num_batches_tracked");
    const rf_ckpt_tensor *b = rf_checkpoint_find(&c, "body.bn1.bias");
    CHECK(b && b->ndim == 1 && b->shape[0] == 64, "body.bn1.bias");
    CHECK(!rf_checkpoint_find(&c, "module.body.conv1.weight"), "prefix kept");
    CHECK(strcmp(rf_dtype_name(nb ? nb->dtype : RF_DTYPE_F32), "int64") == 0, "dtype name");
    rf_checkpoint_free(&c);
}

static void test_shared_damage(void)
{
    size_t size;
    uint8_t *leg = read_all(test_data_path("models/mobilenet0.25_Final.pth"), &size);
    CHECK(leg != NULL, "read legacy");
    if (leg) {
        truncations(leg, size, size / 150, "mobilenet0.25_Final.pth");
        free(leg);
    }
    uint8_t *zb = read_all(test_data_path("models/mobilenet0.25_Final_zip.pth"), &size);
    CHECK(zb != NULL, "read zip");
    if (!zb)
        return;
    truncations(zb, size, size / 150, "mobilenet0.25_Final_zip.pth");

    /* The same archive rebuilt without data.pkl. */
    rf_zip zip;
    rf_error err = {0};
    CHECK(rf_zip_open(&zip, zb, size, "zip", &err) == RF_OK, "%s", err.message);
    zentry *e = calloc(zip.count, sizeof *e);
    uint8_t **owned = calloc(zip.count, sizeof *owned);
    int n = 0;
    for (size_t i = 0; i < zip.count; i++) {
        const rf_zip_entry *z = &zip.entries[i];
        if (z->name_len >= 8 && memcmp(z->name + z->name_len - 8, "data.pkl", 8) == 0)
            continue;
        const uint8_t *bytes;
        CHECK(rf_zip_read(&zip, z, &bytes, &owned[i], &err) == RF_OK, "%s", err.message);
        e[n++] = (zentry){z->name, z->name_len, bytes, (size_t)z->size, 0};
    }
    CHECK(n == 301, "%d entries kept", n);
    buf rebuilt = make_zip(e, n, 0);
    rf_checkpoint c;
    rf_status st = rf_checkpoint_load_memory(rebuilt.b, rebuilt.n, "nopkl.pth", &c, &err);
    CHECK(st == RF_E_FORMAT && strstr(err.message, "nopkl.pth") &&
              strstr(err.message, "data.pkl"), "no data.pkl: %d %s", st, err.message);
    for (size_t i = 0; i < zip.count; i++)
        free(owned[i]);
    free(owned);
    free(e);
    free(rebuilt.b);
    rf_zip_close(&zip);
    free(zb);
}

int main(void)
{
    test_generated();
    if (!test_data_dir() && tu_failed)
        return test_summary(); /* failures in the generated part must not read as a skip */
    require_test_data("test_checkpoint");
    test_mobilenet();
    test_resnet50();
    test_shared_damage();
    return test_summary();
}
