/* native.c - the native model file: save a model's folded weights; load them by mmap, every field checked. */
#include "formats/native.h"

#include "base/common.h"
#include "kernels/kernels.h"
#include "core/model.h"
#include "retinaface_tools.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

/* The layout is documented in docs/formats.md; keep the two in step. */
#define MAGIC "RFNATIVE"
#define VERSION 3u /* written; 2 (no range table) is read too */
#define HEADER_BYTES 64u
#define RECORD_BYTES 64u
#define PACKED_BYTES 16u /* a packed table entry: offset and size of one layer's packed block */
#define RANGE_BYTES 8u   /* a range table entry (version 3): a layer's calibrated input range */
#define ALIGN 64u
#define MAX_LAYERS RF_MAX_LAYERS
#define CRC_AT 12u     /* where the header checksum lies (zero while it is computed) */

/* ------------------------------------------------------------------------------ helpers */
static void put32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static void put64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

/* Bytes of header and tables of a file of this version with n layers. */
static size_t tables_bytes(uint32_t version, size_t n)
{
    return HEADER_BYTES + n * (RECORD_BYTES + PACKED_BYTES + (version >= 3 ? RANGE_BYTES : 0));
}

static uint32_t get32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void putf32(unsigned char *p, float v)
{
    uint32_t u;
    memcpy(&u, &v, 4);
    put32(p, u);
}

static float getf32(const unsigned char *p)
{
    const uint32_t u = get32(p);
    float v;
    memcpy(&v, &u, 4);
    return v;
}

static uint64_t get64(const unsigned char *p)
{
    return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

static uint64_t align_up(uint64_t v) { return (v + ALIGN - 1) & ~(uint64_t)(ALIGN - 1); }

/* Weights are stored little-endian and mapped as they are. */
static int host_little_endian(void)
{
    const uint16_t one = 1;
    unsigned char c;
    memcpy(&c, &one, 1);
    return c == 1;
}

static size_t storage_bytes(rf_storage s) { return s == RF_STORAGE_F32 ? 4 : 2; }

const char *rf_storage_name(rf_storage storage)
{
    return storage == RF_STORAGE_F16 ? "f16" : storage == RF_STORAGE_BF16 ? "bf16" : "f32";
}

rf_status rf_storage_parse(const char *name, rf_storage *out)
{
    static const rf_storage all[3] = {RF_STORAGE_F32, RF_STORAGE_F16, RF_STORAGE_BF16};
    for (int i = 0; name && i < 3; i++)
        if (!strcmp(name, rf_storage_name(all[i]))) {
            *out = all[i];
            return RF_OK;
        }
    return RF_E_ARG;
}

/* Round to nearest even, with overflow to infinity and gradual underflow. */
static uint16_t f32_to_f16(float f)
{
    uint32_t x;
    memcpy(&x, &f, 4);
    const uint32_t sign = (x >> 16) & 0x8000, exp = (x >> 23) & 0xff, mant = x & 0x7fffff;
    if (exp == 0xff)
        return (uint16_t)(sign | 0x7c00 | (mant ? 0x200 : 0));
    const int e = (int)exp - 112; /* rebias 127 -> 15 */
    if (e >= 31)
        return (uint16_t)(sign | 0x7c00);
    uint32_t h, rem, half;
    if (e <= 0) {
        if (e < -10)
            return (uint16_t)sign;
        const uint32_t full = mant | 0x800000, shift = (uint32_t)(14 - e);
        h = full >> shift;
        rem = full & ((1u << shift) - 1);
        half = 1u << (shift - 1);
    } else {
        h = (uint32_t)e << 10 | mant >> 13;
        rem = mant & 0x1fff;
        half = 0x1000;
    }
    if (rem > half || (rem == half && (h & 1)))
        h++; /* a carry into the exponent is still the right rounding */
    return (uint16_t)(sign | h);
}

static float f16_to_f32(uint16_t h)
{
    const uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, mant = h & 0x3ff;
    uint32_t x;
    if (exp == 0x1f) {
        x = sign | 0x7f800000 | mant << 13;
    } else if (exp == 0) {
        const float v = ldexpf((float)mant, -24);
        return sign ? -v : v;
    } else {
        x = sign | (exp + 112) << 23 | mant << 13;
    }
    float f;
    memcpy(&f, &x, 4);
    return f;
}

static uint16_t f32_to_bf16(float f)
{
    uint32_t x;
    memcpy(&x, &f, 4);
    if ((x & 0x7fffffff) > 0x7f800000)
        return (uint16_t)(x >> 16 | 0x40); /* keep a NaN a NaN */
    return (uint16_t)((x + 0x7fff + ((x >> 16) & 1)) >> 16);
}

/* ------------------------------------------------------------------------------ save */
static int write_floats(FILE *f, const float *src, size_t n, rf_storage storage)
{
    if (storage == RF_STORAGE_F32)
        return fwrite(src, sizeof(float), n, f) == n ? 0 : -1;
    uint16_t buf[4096];
    for (size_t i = 0; i < n;) {
        size_t k = n - i < 4096 ? n - i : 4096;
        for (size_t j = 0; j < k; j++)
            buf[j] = storage == RF_STORAGE_F16 ? f32_to_f16(src[i + j]) : f32_to_bf16(src[i + j]);
        if (fwrite(buf, sizeof(uint16_t), k, f) != k)
            return -1;
        i += k;
    }
    return 0;
}

static int pad_to(FILE *f, uint64_t *pos, uint64_t target)
{
    static const unsigned char zeros[ALIGN];
    const size_t n = (size_t)(target - *pos);
    *pos = target;
    return fwrite(zeros, 1, n, f) == n ? 0 : -1;
}

rf_status rf_model_save_native(const rf_model *model, const char *path, rf_storage storage,
                               rf_error *err)
{
    if (!model || !path)
        return rf_fail(err, RF_E_ARG, "rf_model_save_native: null argument");
    if (rf_model_need_reference(model, "saving a native file", err) != RF_OK)
        return RF_E_UNSUPPORTED;
    if (storage != RF_STORAGE_F32 && storage != RF_STORAGE_F16 && storage != RF_STORAGE_BF16)
        return rf_fail(err, RF_E_ARG, "%s: unknown weight storage %d", path, (int)storage);
    if (!host_little_endian())
        return rf_fail(err, RF_E_UNSUPPORTED, "%s: native files are little-endian", path);
    const rf_layer *layers = model->layers.layer;
    const int n = model->layers.count;
    const size_t es = storage_bytes(storage);
    const size_t table_end = tables_bytes(VERSION, (size_t)n);
    /* Packed blocks are made from float32 weights, so only float32 files can carry them. */
    const uint32_t pack_version = storage == RF_STORAGE_F32 ? RF_PACK_LAYOUT_VERSION : 0;
    unsigned char *head = calloc(1, table_end);
    if (!head)
        return rf_fail(err, RF_E_NOMEM, "%s: out of memory", path);
    uint64_t off = align_up(table_end);
    const uint64_t data_offset = off;
    for (int i = 0; i < n; i++) {
        const rf_conv *c = &layers[i].conv;
        unsigned char *r = head + HEADER_BYTES + (size_t)i * RECORD_BYTES;
        const int geometry[7] = {c->cin, c->cout, c->kh, c->kw, c->stride, c->pad, c->groups};
        for (int k = 0; k < 7; k++)
            put32(r + 4 * k, (uint32_t)geometry[k]);
        put64(r + 32, off);
        put64(r + 40, rf_conv_weight_count(c));
        off = align_up(off + rf_conv_weight_count(c) * es);
        put64(r + 48, off);
        put64(r + 56, (uint64_t)c->cout);
        off = align_up(off + (uint64_t)c->cout * es);
    }
    for (int i = 0; pack_version && i < n; i++) {
        unsigned char *p = head + HEADER_BYTES + (size_t)(n * RECORD_BYTES + i * PACKED_BYTES);
        rf_packed layout;
        const size_t bytes = rf_pack_simd_size(&layers[i].conv, &layout);
        put64(p, off);
        put64(p + 8, bytes);
        off += bytes; /* a multiple of 64 */
    }
    for (int i = 0; i < n; i++) {
        unsigned char *q = head + HEADER_BYTES + (size_t)n * (RECORD_BYTES + PACKED_BYTES) +
                           (size_t)i * RANGE_BYTES;
        putf32(q, layers[i].conv.range_lo);
        putf32(q + 4, layers[i].conv.range_hi);
    }
    memcpy(head, MAGIC, 8);
    put32(head + 8, VERSION);
    put32(head + 16, (uint32_t)model->layers.backbone);
    put32(head + 20, (uint32_t)model->layers.anchors);
    put32(head + 24, (uint32_t)storage);
    put32(head + 28, (uint32_t)n);
    put64(head + 32, data_offset);
    put64(head + 40, off);
    put64(head + 48, (uint64_t)model->parameters);
    put32(head + 56, pack_version);
    put32(head + CRC_AT, (uint32_t)crc32(0L, head, (uInt)table_end));

    rf_output o;
    rf_status st = rf_output_open(&o, path, err);
    if (st != RF_OK) {
        free(head);
        return st;
    }
    uint64_t pos = table_end;
    int bad = fwrite(head, 1, table_end, o.f) != table_end;
    for (int i = 0; !bad && i < n; i++) {
        const rf_conv *c = &layers[i].conv;
        const unsigned char *r = head + HEADER_BYTES + (size_t)i * RECORD_BYTES;
        bad = pad_to(o.f, &pos, get64(r + 32)) ||
              write_floats(o.f, c->weight, (size_t)rf_conv_weight_count(c), storage);
        pos += rf_conv_weight_count(c) * es;
        bad = bad || pad_to(o.f, &pos, get64(r + 48)) ||
              write_floats(o.f, c->bias, (size_t)c->cout, storage);
        pos += (uint64_t)c->cout * es;
    }
    for (int i = 0; !bad && st == RF_OK && pack_version && i < n; i++) {
        /* packed here rather than taken from the model, whose blocks may be of another
         * kernel set or absent (a CPU without AVX2): files are the same from every machine */
        const unsigned char *p =
            head + HEADER_BYTES + (size_t)(n * RECORD_BYTES + i * PACKED_BYTES);
        void *block = aligned_alloc(64, get64(p + 8));
        if (!block) {
            st = rf_fail(err, RF_E_NOMEM, "%s: out of memory for packed weights", path);
            break;
        }
        rf_pack_simd(&layers[i].conv, block);
        bad = pad_to(o.f, &pos, get64(p)) || fwrite(block, 1, get64(p + 8), o.f) != get64(p + 8);
        pos += get64(p + 8);
        free(block);
    }
    bad = bad || pad_to(o.f, &pos, off);
    free(head);
    if (bad && st == RF_OK)
        st = rf_fail(err, RF_E_IO, "%s: write failed: %s", path, strerror(errno));
    return rf_output_close(&o, st, err);
}

/* ------------------------------------------------------------------------------ load */
int rf_native_magic(const void *data, size_t size)
{
    return data && size >= 8 && memcmp(data, MAGIC, 8) == 0;
}

int rf_native_file(const char *path)
{
    unsigned char buf[8];
    FILE *f = fopen(path, "rb");
    if (!f)
        return 0;
    const size_t got = fread(buf, 1, sizeof buf, f);
    fclose(f);
    return rf_native_magic(buf, got);
}

/* Checks the header and table of buf against the network they claim and builds the model.
 * With in_place (buf outlives the model) float32 weights point into buf; otherwise they are
 * copied or widened into one allocation. */
/* Maps the pages of a block that every forward pass reads now, not in the first pass. The rest
 * of a mapped file (the reference-layout weights, read only by reference kernels) stays out
 * of memory until used: ResNet50 runs in 109 MB less. */
static void touch_pages(const void *block, size_t bytes)
{
    const volatile unsigned char *p = block;
    for (size_t at = 0; at < bytes; at += 4096)
        (void)p[at];
}

static rf_status parse(const unsigned char *buf, size_t size, const char *name, int in_place,
                       rf_model **out, rf_error *err)
{
    if (!host_little_endian())
        return rf_fail(err, RF_E_UNSUPPORTED, "%s: native files are little-endian", name);
    if (size < HEADER_BYTES || !rf_native_magic(buf, size))
        return rf_fail(err, RF_E_FORMAT, "%s: not a native RetinaFace model (%s)", name,
                       size < HEADER_BYTES ? "shorter than its header" : "no magic");
    const uint32_t version = get32(buf + 8), backbone = get32(buf + 16),
                   anchors = get32(buf + 20), storage = get32(buf + 24), layers = get32(buf + 28);
    const uint64_t data_offset = get64(buf + 32), file_size = get64(buf + 40);
    const uint32_t pack_version = get32(buf + 56);
    if (version != 2 && version != VERSION)
        return rf_fail(err, RF_E_FORMAT, "%s: native format version %u; this build reads "
                       "versions 2 and %u only (run `retinaface convert` on the checkpoint "
                       "again)", name, version, VERSION);
    if (file_size != size)
        return rf_fail(err, RF_E_FORMAT, "%s: %s native file: %zu bytes, its header says %llu",
                       name, size < file_size ? "truncated" : "oversized", size,
                       (unsigned long long)file_size);
    if (layers == 0 || layers > MAX_LAYERS || tables_bytes(version, layers) > size)
        return rf_fail(err, RF_E_FORMAT, "%s: corrupt native file (layer count %u)", name,
                       layers);
    const size_t table_end = tables_bytes(version, layers);
    unsigned char crc_field[4];
    memcpy(crc_field, buf + CRC_AT, 4);
    uLong crc = crc32(0L, buf, CRC_AT);
    crc = crc32(crc, (const Bytef *)"\0\0\0\0", 4);
    crc = crc32(crc, buf + CRC_AT + 4, (uInt)(table_end - CRC_AT - 4));
    if ((uint32_t)crc != get32(crc_field))
        return rf_fail(err, RF_E_FORMAT, "%s: corrupt native file (header checksum mismatch)",
                       name);
    if (backbone > RF_BACKBONE_RESNET50 || anchors > RF_ANCHORS_FACE1MB ||
        storage > RF_STORAGE_BF16 || data_offset < table_end || data_offset > size)
        return rf_fail(err, RF_E_FORMAT, "%s: corrupt native file (backbone %u, anchors %u, "
                       "storage %u, data at %llu)", name, backbone, anchors, storage,
                       (unsigned long long)data_offset);
    if (pack_version && storage != RF_STORAGE_F32)
        return rf_fail(err, RF_E_FORMAT, "%s: corrupt native file (packed blocks, layout "
                       "version %u, with %s storage)", name, pack_version,
                       rf_storage_name((rf_storage)storage));

    rf_model *m = rf_model_skeleton((rf_backbone)backbone, (rf_anchors)anchors);
    if (!m)
        return rf_fail(err, RF_E_NOMEM, "%s: out of memory", name);
    rf_layer *table = m->layers.layer;
    const int n = m->layers.count;
    rf_status st = RF_OK;
    if ((uint32_t)n != layers)
        st = rf_fail(err, RF_E_FORMAT, "%s: %u layers, a %s RetinaFace has %d", name, layers,
                     rf_backbone_name(m->layers.backbone), n);
    if (st == RF_OK && (int64_t)get64(buf + 48) != m->parameters)
        st = rf_fail(err, RF_E_FORMAT, "%s: %lld parameters, a %s RetinaFace has %lld", name,
                     (long long)get64(buf + 48), rf_backbone_name(m->layers.backbone),
                     (long long)m->parameters);
    const size_t es = storage_bytes((rf_storage)storage);
    uint64_t total = 0; /* floats to allocate when not in place */
    for (int i = 0; st == RF_OK && i < n; i++) {
        const rf_conv *c = &table[i].conv;
        const unsigned char *r = buf + HEADER_BYTES + (size_t)i * RECORD_BYTES;
        const int want[7] = {c->cin, c->cout, c->kh, c->kw, c->stride, c->pad, c->groups};
        int same = 1;
        for (int k = 0; k < 7; k++)
            same = same && get32(r + 4 * k) == (uint32_t)want[k];
        if (!same) {
            st = rf_fail(err, RF_E_FORMAT, "%s: layer %d is %ux%u/%u %u->%u (groups %u), a %s "
                         "RetinaFace needs %dx%d/%d %d->%d (groups %d)", name, i, get32(r + 8),
                         get32(r + 12), get32(r + 16), get32(r), get32(r + 4), get32(r + 24),
                         rf_backbone_name(m->layers.backbone), c->kh, c->kw, c->stride, c->cin, c->cout,
                         c->groups);
            break;
        }
        const uint64_t counts[2] = {rf_conv_weight_count(c), (uint64_t)c->cout};
        for (int k = 0; k < 2 && st == RF_OK; k++) {
            const uint64_t off = get64(r + 32 + 16 * k), count = get64(r + 40 + 16 * k);
            if (count != counts[k] || off % ALIGN || off < data_offset || off > size ||
                count * es > size - off)
                st = rf_fail(err, RF_E_FORMAT, "%s: layer %d: %s of %llu values at offset %llu "
                             "do not fit (%llu values, 64-byte aligned, within %zu bytes)", name,
                             i, k ? "bias" : "weights", (unsigned long long)count,
                             (unsigned long long)off, (unsigned long long)counts[k], size);
            total += (counts[k] + 15) & ~(uint64_t)15;
        }
        if (version >= 3) {
            const unsigned char *q =
                buf + HEADER_BYTES + layers * (RECORD_BYTES + PACKED_BYTES) + i * RANGE_BYTES;
            const float lo = getf32(q), hi = getf32(q + 4);
            /* none (both 0) or lo < hi, finite, on a layer that runs in int8 */
            const int int8 = rf_conv_reduced(c);
            if (!(lo == 0.0f && hi == 0.0f) && !(lo < hi && isfinite(lo) && isfinite(hi) && int8)) {
                st = rf_fail(err, RF_E_FORMAT, "%s: layer %d: calibrated input range [%g, %g] "
                             "is invalid (lo < hi, finite, on an int8 layer; or both 0)", name,
                             i, (double)lo, (double)hi);
                break;
            }
            table[i].conv.range_lo = lo;
            table[i].conv.range_hi = hi;
        }
        const unsigned char *p = buf + HEADER_BYTES + layers * RECORD_BYTES + i * PACKED_BYTES;
        const uint64_t poff = get64(p), pbytes = get64(p + 8);
        if (st == RF_OK && !pack_version && (poff || pbytes))
            st = rf_fail(err, RF_E_FORMAT, "%s: layer %d: a packed block but no packing layout "
                         "version", name, i);
        if (st != RF_OK || !pack_version)
            continue;
        /* A block of another layout version is never used, but must still lie in the file;
         * one of ours must be exactly what rf_pack_simd makes of this layer. */
        rf_packed layout;
        unsigned char want_head[RF_PACK_HEADER_BYTES] = {0};
        const size_t want_bytes = rf_pack_simd_size(c, &layout);
        memcpy(want_head, &layout, sizeof layout);
        if (poff % ALIGN || poff < data_offset || poff > size || pbytes > size - poff ||
            (pack_version == RF_PACK_LAYOUT_VERSION &&
             (pbytes != want_bytes || memcmp(buf + poff, want_head, sizeof want_head))))
            st = rf_fail(err, RF_E_FORMAT, "%s: layer %d: packed block of %llu bytes at offset "
                         "%llu does not fit (layout version %u: %zu bytes with its header, "
                         "64-byte aligned, within %zu bytes)", name, i,
                         (unsigned long long)pbytes, (unsigned long long)poff, pack_version,
                         want_bytes, size);
    }
    const int zero_copy = in_place && storage == RF_STORAGE_F32;
    /* The file's packed blocks are used in place only when this build's fastest kernels
     * want exactly that layout; otherwise the model loader packs as for a checkpoint. */
    const rf_kernel_set *fastest = rf_kernels_select(RF_KERNELS_AUTO, RF_PRECISION_FP32, NULL);
    const int use_blocks = st == RF_OK && zero_copy && pack_version &&
                           fastest->pack == rf_pack_simd && pack_version == fastest->pack_layout;
    void *blocks[MAX_LAYERS];
    if (st == RF_OK && !zero_copy) {
        const size_t bytes = rf_mul_size((size_t)total, sizeof(float));
        if (!bytes || !(m->weights = aligned_alloc(ALIGN, bytes)))
            st = rf_fail(err, RF_E_NOMEM, "%s: out of memory for %zu bytes of weights", name,
                         bytes);
    }
    float *next = m->weights;
    for (int i = 0; st == RF_OK && i < n; i++) {
        rf_conv *c = &table[i].conv;
        const unsigned char *r = buf + HEADER_BYTES + (size_t)i * RECORD_BYTES;
        if (use_blocks) {
            const unsigned char *p = buf + HEADER_BYTES + layers * RECORD_BYTES + i * PACKED_BYTES;
            blocks[i] = (void *)(uintptr_t)(buf + get64(p));
            touch_pages(blocks[i], rf_pack_simd_size(c, &(rf_packed){0}));
        }
        float **dst[2] = {&c->weight, &c->bias};
        for (int k = 0; k < 2; k++) {
            const unsigned char *src = buf + get64(r + 32 + 16 * k);
            const size_t count = (size_t)get64(r + 40 + 16 * k);
            if (zero_copy) {
                /* a read-only mapping: kernels never write their weights */
                *dst[k] = (float *)(void *)(uintptr_t)src;
                continue;
            }
            *dst[k] = next;
            next += (count + 15) & ~(size_t)15;
            if (storage == RF_STORAGE_F32) {
                memcpy(*dst[k], src, count * sizeof(float));
                continue;
            }
            for (size_t j = 0; j < count; j++) {
                const uint16_t h = (uint16_t)(src[2 * j] | src[2 * j + 1] << 8);
                (*dst[k])[j] = storage == RF_STORAGE_F16 ? f16_to_f32(h) : rf_bf16_float(h);
            }
        }
    }
    if (st == RF_OK && use_blocks)
        st = rf_model_add_packing(m, rf_pack_simd, pack_version, blocks, err);
    if (st != RF_OK) {
        rf_model_free(m);
        return st;
    }
    *out = m;
    return rf_ok(err);
}

rf_status rf_native_load_memory(const void *data, size_t size, const char *name,
                                rf_model **out, rf_error *err)
{
    return parse(data, size, name, 0, out, err);
}

rf_status rf_native_load(const char *path, rf_model **out, rf_error *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return rf_fail(err, RF_E_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        close(fd);
        return rf_fail(err, RF_E_IO, "%s: %s", path, strerror(errno));
    }
    if (!S_ISREG(st.st_mode) || st.st_size < (off_t)HEADER_BYTES) {
        close(fd);
        return rf_fail(err, RF_E_FORMAT, "%s: not a native RetinaFace model (%s)", path,
                       S_ISREG(st.st_mode) ? "shorter than its header" : "not a regular file");
    }
    const size_t size = (size_t)st.st_size;
    /* Read-only: the weights are used from the page cache, never copied. */
    void *map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (map == MAP_FAILED)
        return rf_fail(err, RF_E_IO, "%s: cannot map: %s", path, strerror(errno));
    rf_status s = parse(map, size, path, 1, out, err);
    if (s == RF_OK && !(*out)->weights) {
        (*out)->mapping = map;
        (*out)->mapping_size = size;
    } else {
        munmap(map, size);
    }
    return s;
}
