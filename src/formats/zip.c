/* zip.c - finds the central directory, lists entries, and hands out stored or inflated bytes. */
#include "formats/zip.h"

#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define EOCD_SIZE 22
#define EOCD64_LOCATOR_SIZE 20
#define EOCD64_SIZE 56
#define CDIR_SIZE 46
#define LOCAL_SIZE 30
/* Deflate cannot expand data by more than about 1032:1; a larger claim is a zip bomb. */
#define MAX_DEFLATE_RATIO 1032

static uint64_t le(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

static int cmp_entry(const void *a, const void *b)
{
    const rf_zip_entry *x = a, *y = b;
    size_t n = x->name_len < y->name_len ? x->name_len : y->name_len;
    int c = memcmp(x->name, y->name, n);
    if (c)
        return c;
    return (x->name_len > y->name_len) - (x->name_len < y->name_len);
}

/* Values of 0xFFFFFFFF in the fixed fields are replaced, in this order, by the ZIP64 extra. */
static rf_status apply_zip64(const rf_zip *zip, rf_zip_entry *e, const uint8_t *extra,
                             size_t extra_len, uint32_t csize32, uint32_t size32,
                             uint32_t offset32, rf_error *err)
{
    while (extra_len >= 4) {
        size_t id = (size_t)le(extra, 2), len = (size_t)le(extra + 2, 2);
        if (len > extra_len - 4)
            break;
        if (id == 1) {
            const uint8_t *f = extra + 4;
            size_t left = len;
            uint64_t *fields[3] = {&e->size, &e->compressed_size, &e->header_offset};
            uint32_t small[3] = {size32, csize32, offset32};
            for (int i = 0; i < 3; i++) {
                if (small[i] != 0xFFFFFFFFu)
                    continue;
                if (left < 8)
                    return rf_fail(err, RF_E_FORMAT, "%s: zip: short ZIP64 field in entry",
                                   zip->name);
                *fields[i] = le(f, 8);
                f += 8;
                left -= 8;
            }
            return RF_OK;
        }
        extra += 4 + len;
        extra_len -= 4 + len;
    }
    if (size32 == 0xFFFFFFFFu || csize32 == 0xFFFFFFFFu || offset32 == 0xFFFFFFFFu)
        return rf_fail(err, RF_E_FORMAT, "%s: zip: entry lacks its ZIP64 sizes", zip->name);
    return RF_OK;
}

static rf_status find_directory(const rf_zip *zip, uint64_t *count, uint64_t *cd_offset,
                                uint64_t *cd_size, rf_error *err)
{
    const uint8_t *d = zip->data;
    size_t size = zip->size;
    if (size < EOCD_SIZE)
        return rf_fail(err, RF_E_FORMAT, "%s: zip: too short (%zu bytes) for a zip file",
                       zip->name, size);
    /* The EOCD ends the file, followed only by a comment of at most 65535 bytes. */
    size_t lowest = size - EOCD_SIZE > 65535 ? size - EOCD_SIZE - 65535 : 0;
    size_t at = size - EOCD_SIZE;
    for (;;) {
        if (le(d + at, 4) == 0x06054b50 && at + EOCD_SIZE + le(d + at + 20, 2) <= size)
            break;
        if (at == lowest)
            return rf_fail(err, RF_E_FORMAT,
                           "%s: zip: end of central directory not found (truncated file?)",
                           zip->name);
        at--;
    }
    const uint8_t *eocd = d + at;
    *count = le(eocd + 10, 2);
    *cd_size = le(eocd + 12, 4);
    *cd_offset = le(eocd + 16, 4);
    if (*count == 0xFFFF || *cd_size == 0xFFFFFFFFu || *cd_offset == 0xFFFFFFFFu) {
        if (at < EOCD64_LOCATOR_SIZE || le(eocd - EOCD64_LOCATOR_SIZE, 4) != 0x07064b50)
            return rf_fail(err, RF_E_FORMAT, "%s: zip: ZIP64 end of directory locator missing",
                           zip->name);
        uint64_t off = le(eocd - EOCD64_LOCATOR_SIZE + 8, 8);
        if (size < EOCD64_SIZE || off > size - EOCD64_SIZE || le(d + off, 4) != 0x06064b50)
            return rf_fail(err, RF_E_FORMAT, "%s: zip: bad ZIP64 end of directory record",
                           zip->name);
        *count = le(d + off + 32, 8);
        *cd_size = le(d + off + 40, 8);
        *cd_offset = le(d + off + 48, 8);
    }
    if (*cd_offset > size || *cd_size > size - *cd_offset)
        return rf_fail(err, RF_E_FORMAT, "%s: zip: central directory outside the file",
                       zip->name);
    if (*count > *cd_size / CDIR_SIZE)
        return rf_fail(err, RF_E_FORMAT, "%s: zip: %llu entries cannot fit the directory",
                       zip->name, (unsigned long long)*count);
    return RF_OK;
}

rf_status rf_zip_open(rf_zip *zip, const void *data, size_t size, const char *name,
                      rf_error *err)
{
    memset(zip, 0, sizeof *zip);
    zip->data = data;
    zip->size = size;
    zip->name = name;
    uint64_t count = 0, cd_offset = 0, cd_size = 0;
    rf_status st = find_directory(zip, &count, &cd_offset, &cd_size, err);
    if (st != RF_OK)
        return st;
    zip->entries = calloc(count ? (size_t)count : 1, sizeof *zip->entries);
    if (!zip->entries)
        return rf_fail(err, RF_E_NOMEM, "%s: zip: out of memory", name);
    const uint8_t *p = zip->data + cd_offset, *end = p + cd_size;
    for (uint64_t i = 0; i < count; i++) {
        if ((size_t)(end - p) < CDIR_SIZE || le(p, 4) != 0x02014b50) {
            rf_zip_close(zip);
            return rf_fail(err, RF_E_FORMAT, "%s: zip: bad central directory entry %llu",
                           name, (unsigned long long)i);
        }
        size_t n = (size_t)le(p + 28, 2), x = (size_t)le(p + 30, 2), c = (size_t)le(p + 32, 2);
        if (n + x + c > (size_t)(end - p) - CDIR_SIZE) {
            rf_zip_close(zip);
            return rf_fail(err, RF_E_FORMAT, "%s: zip: central directory entry %llu truncated",
                           name, (unsigned long long)i);
        }
        rf_zip_entry *e = &zip->entries[zip->count++];
        e->name = (const char *)p + CDIR_SIZE;
        e->name_len = n;
        e->method = (uint16_t)le(p + 10, 2);
        e->crc32 = (uint32_t)le(p + 16, 4);
        e->compressed_size = le(p + 20, 4);
        e->size = le(p + 24, 4);
        e->header_offset = le(p + 42, 4);
        if (le(p + 8, 2) & 1) {
            char nl[208];
            st = rf_fail(err, RF_E_FORMAT, "%s: zip: entry %s is encrypted", name,
                         rf_printable(e->name, e->name_len, nl, sizeof nl));
            rf_zip_close(zip);
            return st;
        }
        st = apply_zip64(zip, e, p + CDIR_SIZE + n, x, (uint32_t)e->compressed_size,
                         (uint32_t)e->size, (uint32_t)e->header_offset, err);
        if (st != RF_OK) {
            rf_zip_close(zip);
            return st;
        }
        p += CDIR_SIZE + n + x + c;
    }
    qsort(zip->entries, zip->count, sizeof *zip->entries, cmp_entry);
    for (size_t i = 1; i < zip->count; i++) {
        if (cmp_entry(&zip->entries[i - 1], &zip->entries[i]) == 0) {
            const rf_zip_entry *e = &zip->entries[i];
            char nl[208];
            st = rf_fail(err, RF_E_FORMAT, "%s: zip: duplicate entry %s", name,
                         rf_printable(e->name, e->name_len, nl, sizeof nl));
            rf_zip_close(zip);
            return st;
        }
    }
    return RF_OK;
}

void rf_zip_close(rf_zip *zip)
{
    free(zip->entries);
    zip->entries = NULL;
    zip->count = 0;
}

const rf_zip_entry *rf_zip_find(const rf_zip *zip, const char *name, size_t name_len)
{
    rf_zip_entry key = {.name = name, .name_len = name_len};
    return bsearch(&key, zip->entries, zip->count, sizeof key, cmp_entry);
}

static rf_status inflate_entry(const rf_zip *zip, const rf_zip_entry *e, const uint8_t *src,
                               uint8_t **out, rf_error *err)
{
    char nl[208];
    rf_printable(e->name, e->name_len, nl, sizeof nl);
    if (e->size / MAX_DEFLATE_RATIO > e->compressed_size + 1)
        return rf_fail(err, RF_E_FORMAT, "%s: zip: entry %s claims an impossible size",
                       zip->name, nl);
    if (e->size > SIZE_MAX - 1)
        return rf_fail(err, RF_E_LIMIT, "%s: zip: entry %s too large", zip->name, nl);
    uint8_t *buf = malloc(e->size ? (size_t)e->size : 1);
    if (!buf)
        return rf_fail(err, RF_E_NOMEM, "%s: zip: out of memory inflating %s", zip->name, nl);
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    if (inflateInit2(&zs, -MAX_WBITS) != Z_OK) {
        free(buf);
        return rf_fail(err, RF_E_NOMEM, "%s: zip: cannot start inflating", zip->name);
    }
    /* zlib counts in uInt, so feed and drain in pieces that fit it. */
    uint64_t in_left = e->compressed_size, out_left = e->size;
    const uint8_t *in = src;
    uint8_t *outp = buf;
    int zr = Z_OK;
    while (zr == Z_OK) {
        uInt in_chunk = in_left > 0x40000000u ? 0x40000000u : (uInt)in_left;
        uInt out_chunk = out_left > 0x40000000u ? 0x40000000u : (uInt)out_left;
        zs.next_in = (Bytef *)(uintptr_t)in;
        zs.avail_in = in_chunk;
        zs.next_out = outp;
        zs.avail_out = out_chunk;
        zr = inflate(&zs, Z_NO_FLUSH);
        in += in_chunk - zs.avail_in;
        in_left -= in_chunk - zs.avail_in;
        outp += out_chunk - zs.avail_out;
        out_left -= out_chunk - zs.avail_out;
        if (zr == Z_OK && in_chunk == zs.avail_in && out_chunk == zs.avail_out)
            zr = Z_BUF_ERROR; /* no progress: input ended or output full before the end */
    }
    inflateEnd(&zs);
    if (zr != Z_STREAM_END || out_left != 0) {
        free(buf);
        return rf_fail(err, RF_E_FORMAT, "%s: zip: entry %s does not inflate to %llu bytes",
                       zip->name, nl, (unsigned long long)e->size);
    }
    *out = buf;
    return RF_OK;
}

rf_status rf_zip_read(const rf_zip *zip, const rf_zip_entry *e, const uint8_t **bytes,
                      uint8_t **allocated, rf_error *err)
{
    char nl[208];
    rf_printable(e->name, e->name_len, nl, sizeof nl);
    *bytes = NULL;
    *allocated = NULL;
    if (e->header_offset > zip->size || zip->size - e->header_offset < LOCAL_SIZE ||
        le(zip->data + e->header_offset, 4) != 0x04034b50)
        return rf_fail(err, RF_E_FORMAT, "%s: zip: bad local header for entry %s", zip->name,
                       nl);
    const uint8_t *h = zip->data + e->header_offset;
    uint64_t start = e->header_offset + LOCAL_SIZE + le(h + 26, 2) + le(h + 28, 2);
    if (start > zip->size || e->compressed_size > zip->size - start)
        return rf_fail(err, RF_E_FORMAT, "%s: zip: entry %s runs past the end of the file",
                       zip->name, nl);
    const uint8_t *src = zip->data + start;
    rf_status st;
    if (e->method == 0) {
        if (e->compressed_size != e->size)
            return rf_fail(err, RF_E_FORMAT, "%s: zip: stored entry %s has two sizes",
                           zip->name, nl);
        *bytes = src;
    } else if (e->method == 8) {
        if ((st = inflate_entry(zip, e, src, allocated, err)) != RF_OK)
            return st;
        *bytes = *allocated;
    } else {
        return rf_fail(err, RF_E_FORMAT, "%s: zip: entry %s uses compression method %u",
                       zip->name, nl, (unsigned)e->method);
    }
    /* crc32() takes uInt lengths. */
    uLong crc = crc32(0L, Z_NULL, 0);
    for (uint64_t done = 0; done < e->size;) {
        uInt chunk = e->size - done > 0x40000000u ? 0x40000000u : (uInt)(e->size - done);
        crc = crc32(crc, *bytes + done, chunk);
        done += chunk;
    }
    if ((uint32_t)crc != e->crc32) {
        free(*allocated);
        *allocated = NULL;
        *bytes = NULL;
        return rf_fail(err, RF_E_FORMAT, "%s: zip: entry %s fails its CRC check", zip->name,
                       nl);
    }
    return RF_OK;
}
