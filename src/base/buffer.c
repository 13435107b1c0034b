/* buffer.c - memory a context keeps between calls, grown on demand and then reused. */
#define _DEFAULT_SOURCE /* madvise */
#include "base/common.h"

#include <stdlib.h>
#include <sys/mman.h>

#define HUGE_PAGE ((size_t)2 << 20)

void *rf_alloc_large(size_t bytes)
{
    if (bytes < HUGE_PAGE)
        return aligned_alloc(64, (bytes + 63) & ~(size_t)63);
    const size_t rounded = (bytes + HUGE_PAGE - 1) & ~(HUGE_PAGE - 1);
    void *p = rounded < bytes ? NULL : aligned_alloc(HUGE_PAGE, rounded);
    if (p)
        madvise(p, rounded, MADV_HUGEPAGE);
    return p;
}

int rf_buffer_reserve(rf_buffer *b, size_t bytes)
{
    if (bytes && bytes <= b->bytes)
        return 0;
    rf_buffer_free(b);
    const size_t rounded = (bytes + 63) & ~(size_t)63;
    if (!bytes || rounded < bytes || !(b->block = rf_alloc_large(rounded)))
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
