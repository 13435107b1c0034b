/* buffer.c - memory a context keeps between calls, grown on demand and then reused. */
#include "common.h"

#include <stdlib.h>

int rf_buffer_reserve(rf_buffer *b, size_t bytes)
{
    if (bytes && bytes <= b->bytes)
        return 0;
    rf_buffer_free(b);
    const size_t rounded = (bytes + 63) & ~(size_t)63;
    if (!bytes || rounded < bytes || !(b->block = aligned_alloc(64, rounded)))
        return -1;
    b->bytes = rounded;
    return 0;
}

void rf_buffer_free(rf_buffer *b)
{
    free(b->block);
    b->block = NULL;
    b->bytes = 0;
}
