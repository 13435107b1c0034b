/* arena.h - the activation arena: one block, planned once per input shape from the lifetime of
 * every tensor a forward pass allocates. */
#ifndef RF_ARENA_H
#define RF_ARENA_H

#include "base/common.h"
#include "base/tensor.h"

#define RF_ARENA_MAX_TENSORS 512

/* A tensor of the plan: its place, and the clock ticks of its allocation and release. */
typedef struct {
    size_t offset, size;
    int born, died;
} rf_arena_slot;

/* Each new input shape is first run with planning = 1: the same sequence of allocations and
 * releases, no arithmetic, which records when each tensor is born and dies. rf_arena_place
 * then gives every tensor of the pass its offset and sizes the block once, and every later
 * pass of that shape takes the same offsets, allocating nothing. */
typedef struct {
    int planning;
    rf_buffer block;
    rf_arena_slot tensors[RF_ARENA_MAX_TENSORS];
    int ntensors; /* allocated so far in this pass */
    int clock;    /* allocations and releases so far in this pass */
    int overflow; /* more tensors than RF_ARENA_MAX_TENSORS, or a pass that left the plan: a bug,
                   * reported as an error */
} rf_arena;

/* Starts a pass: planning (recording lifetimes) or running on the placed plan. */
void rf_arena_begin(rf_arena *a, int planning);
/* A tensor of n x h x w x c (data NULL while planning). */
rf_tensor rf_arena_tensor(rf_arena *a, int n, int h, int w, int c);
void rf_arena_release(rf_arena *a, rf_tensor *t);
/* After a planning pass: places its tensors and grows the block to hold them. RF_E_LIMIT if
 * the pass overflowed, RF_E_NOMEM (naming `what`) if the block cannot grow. */
rf_status rf_arena_place(rf_arena *a, const char *what, rf_error *err);
void rf_arena_free(rf_arena *a);

#endif
