/* arena.c - the planned activation arena: lifetimes recorded by a planning pass, then one
 * placement that lets tensors alive at different times share memory. */
#include "core/arena.h"

#include <limits.h>

#define ARENA_ALIGN_FLOATS 16 /* 64 bytes */

void rf_arena_begin(rf_arena *a, int planning)
{
    a->planning = planning;
    a->ntensors = 0;
    a->clock = 0;
    a->overflow = 0;
}

rf_tensor rf_arena_tensor(rf_arena *a, int n, int h, int w, int c)
{
    rf_tensor t = {.n = n, .h = h, .w = w, .c = c, .pstride = c, .nstride = (int64_t)h * w * c,
                   .arena_id = -1};
    const size_t size = ((size_t)n * (size_t)t.nstride + ARENA_ALIGN_FLOATS - 1) &
                        ~(size_t)(ARENA_ALIGN_FLOATS - 1);
    if (a->ntensors == RF_ARENA_MAX_TENSORS) {
        a->overflow = 1;
        return t;
    }
    const int id = a->ntensors++;
    if (a->planning)
        a->tensors[id] = (rf_arena_slot){0, size, a->clock++, INT_MAX};
    else if (a->tensors[id].size != size)
        a->overflow = 1; /* cannot happen: the plan ran the same allocations */
    else
        t.data = (float *)a->block.block + a->tensors[id].offset;
    t.arena_id = id;
    return t;
}

void rf_arena_release(rf_arena *a, rf_tensor *t)
{
    if (a->planning && t->arena_id >= 0)
        a->tensors[t->arena_id].died = a->clock++;
    t->data = NULL;
    t->arena_id = -1;
}

/* Gives the planned tensors offsets in the given order, each the lowest clear of those placed
 * before it that are alive at the same time. Returns the arena size in floats. */
static size_t place_in_order(rf_arena *a, const int *order)
{
    size_t end = 0;
    for (int k = 0; k < a->ntensors; k++) {
        rf_arena_slot *t = &a->tensors[order[k]];
        t->offset = 0;
        /* rescan after each move: the placed ones are not sorted by offset */
        for (int moved = 1; moved;) {
            moved = 0;
            for (int j = 0; j < k; j++) {
                const rf_arena_slot *u = &a->tensors[order[j]];
                if (u->born < t->died && t->born < u->died && u->offset < t->offset + t->size &&
                    t->offset < u->offset + u->size) {
                    t->offset = u->offset + u->size;
                    moved = 1;
                }
            }
        }
        if (t->offset + t->size > end)
            end = t->offset + t->size;
    }
    return end;
}

/* Places the planned tensors both in allocation order and largest first, and keeps the
 * smaller arena. In allocation order the holes left are often too small for the 4x wider
 * tensors of the bottlenecks (ResNet50 at 640x640: 61 MB, against 41 MB largest first); the
 * MobileNet's many same-size tensors can go the other way. Returns the arena size in floats. */
static size_t place_tensors(rf_arena *a)
{
    int by_age[RF_ARENA_MAX_TENSORS], by_size[RF_ARENA_MAX_TENSORS];
    for (int i = 0; i < a->ntensors; i++) {
        by_age[i] = i;
        int k = i; /* insertion sort, larger first, stable */
        for (; k > 0 && a->tensors[by_size[k - 1]].size < a->tensors[i].size; k--)
            by_size[k] = by_size[k - 1];
        by_size[k] = i;
    }
    const size_t age_end = place_in_order(a, by_age);
    const size_t size_end = place_in_order(a, by_size);
    return size_end <= age_end ? size_end : place_in_order(a, by_age);
}

rf_status rf_arena_place(rf_arena *a, const char *what, rf_error *err)
{
    a->planning = 0;
    if (a->overflow)
        return rf_fail(err, RF_E_LIMIT, "internal: too many tensors in the arena plan");
    const size_t bytes = rf_mul_size(place_tensors(a), sizeof(float));
    if (rf_buffer_reserve(&a->block, bytes) != 0)
        return rf_fail(err, RF_E_NOMEM, "out of memory: %zu MB of activations for %s",
                       bytes >> 20, what);
    return RF_OK;
}

void rf_arena_free(rf_arena *a)
{
    rf_buffer_free(&a->block);
}
