/* checkpoint.h - reads the tensors of a torch.save file (legacy or zip format) without Python. */
#ifndef RF_CHECKPOINT_H
#define RF_CHECKPOINT_H

#include "base/common.h"
#include "formats/dtype.h"

#include <stdint.h>

#define RF_CKPT_MAX_DIMS 8

typedef struct {
    char *name;            /* state-dict key with any leading "module." removed */
    rf_dtype dtype;
    int ndim;
    int64_t shape[RF_CKPT_MAX_DIMS];
    int64_t numel;
    const void *data;      /* numel contiguous little-endian elements (C order) */
} rf_ckpt_tensor;

typedef struct {
    rf_ckpt_tensor *tensors;
    int count;
    int module_prefixed;   /* how many keys carried "module." */
    void *owned;           /* implementation data: the file bytes, copies, names */
} rf_checkpoint;

/* Reads a whole checkpoint. Refuses (RF_E_FORMAT, with the file name and the reason) anything
 * that is not a torch.save of a dict of tensors: unknown pickle opcodes or globals, truncation,
 * storages out of range, non-tensor values. Nothing in the file is ever executed. */
rf_status rf_checkpoint_load(const char *path, rf_checkpoint *out, rf_error *err);
/* The same from memory; `name` is used in messages. The bytes are copied. */
rf_status rf_checkpoint_load_memory(const void *data, size_t size, const char *name,
                                    rf_checkpoint *out, rf_error *err);
const rf_ckpt_tensor *rf_checkpoint_find(const rf_checkpoint *ckpt, const char *name);
void rf_checkpoint_free(rf_checkpoint *ckpt);
const char *rf_dtype_name(rf_dtype dtype);

#endif
