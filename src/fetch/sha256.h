/* sha256.h - SHA-256 (FIPS 180-4), to check downloaded models. */
#ifndef RF_SHA256_H
#define RF_SHA256_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint32_t h[8];
    uint64_t length; /* bytes */
    unsigned char block[64];
    size_t used;
} rf_sha256;

void rf_sha256_init(rf_sha256 *s);
void rf_sha256_update(rf_sha256 *s, const void *data, size_t size);
/* Lower-case hex digest, NUL-terminated. */
void rf_sha256_hex(rf_sha256 *s, char hex[65]);

#endif
