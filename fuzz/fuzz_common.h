/* fuzz_common.h - what every fuzz target checks about a refusal, and a sink that keeps reads alive. */
#ifndef RF_FUZZ_COMMON_H
#define RF_FUZZ_COMMON_H

#include "retinaface.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A refusal must be a proper error: a failing status mirrored in err, and a one-line message that
 * names the input. Anything else is a bug, so abort to make libFuzzer keep the input. */
static inline void fuzz_check_error(rf_status st, const rf_error *err, const char *name)
{
    if (st == RF_OK)
        return;
    if (err->status != st || err->message[0] == '\0' || strchr(err->message, '\n') ||
        strstr(err->message, name) == NULL) {
        fprintf(stderr, "bad error report: status %d/%d, message '%s' (expected to name '%s')\n",
                (int)st, (int)err->status, err->message, name);
        abort();
    }
}

/* Reads n bytes, so that ASan checks every byte a parser hands out as valid. */
static inline uint8_t fuzz_touch(const void *p, size_t n)
{
    const uint8_t *b = p;
    uint8_t x = 0;
    for (size_t i = 0; i < n; i++)
        x ^= b[i];
    return x;
}

/* Where touched bytes go, so that the compiler cannot drop the reads. */
static inline void fuzz_sink(uint8_t x)
{
    volatile uint8_t sink = x;
    (void)sink;
}

#endif
