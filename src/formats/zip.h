/* zip.h - a read-only ZIP reader over a buffer in memory, enough for torch's zip checkpoints. */
#ifndef RF_ZIP_H
#define RF_ZIP_H

#include "base/common.h"

#include <stddef.h>
#include <stdint.h>

typedef struct {
    const char *name; /* into the buffer, not NUL-terminated */
    size_t name_len;
    uint64_t header_offset; /* of the local file header */
    uint64_t compressed_size, size;
    uint32_t crc32;
    uint16_t method; /* 0 stored, 8 deflated */
} rf_zip_entry;

typedef struct {
    const uint8_t *data;
    size_t size;
    const char *name; /* for messages */
    rf_zip_entry *entries; /* sorted by name */
    size_t count;
} rf_zip;

/* Reads the central directory (ZIP64 included). The buffer and name must outlive the rf_zip. */
rf_status rf_zip_open(rf_zip *zip, const void *data, size_t size, const char *name,
                      rf_error *err);
void rf_zip_close(rf_zip *zip);

/* The entry called name (name_len bytes), or NULL. */
const rf_zip_entry *rf_zip_find(const rf_zip *zip, const char *name, size_t name_len);

/* An entry's contents, CRC-checked. Stored entries point into the buffer and *allocated is NULL;
 * deflated ones are inflated into *allocated (free it), which *bytes then points to. */
rf_status rf_zip_read(const rf_zip *zip, const rf_zip_entry *entry, const uint8_t **bytes,
                      uint8_t **allocated, rf_error *err);

#endif
