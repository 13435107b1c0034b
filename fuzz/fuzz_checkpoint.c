/* fuzz_checkpoint.c - libFuzzer target: any bytes through the checkpoint reader and the model builder. */
#include "formats/checkpoint.h"
#include "fuzz_common.h"
#include "formats/native.h"

static size_t element_size(rf_dtype dtype)
{
    switch (dtype) {
    case RF_DTYPE_F64: case RF_DTYPE_I64: return 8;
    case RF_DTYPE_F32: case RF_DTYPE_I32: return 4;
    case RF_DTYPE_F16: case RF_DTYPE_BF16: case RF_DTYPE_I16: return 2;
    case RF_DTYPE_I8: case RF_DTYPE_U8: case RF_DTYPE_BOOL: return 1;
    }
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    rf_error err;
    rf_checkpoint ckpt;
    rf_status st = rf_checkpoint_load_memory(data, size, "fuzz.pth", &ckpt, &err);
    fuzz_check_error(st, &err, "fuzz.pth");
    if (st == RF_OK) {
        uint8_t x = 0;
        for (int i = 0; i < ckpt.count; i++) {
            const rf_ckpt_tensor *t = &ckpt.tensors[i];
            int64_t numel = t->numel ? 1 : 0;
            for (int d = 0; d < t->ndim && numel; d++)
                numel *= t->shape[d];
            if (t->ndim < 0 || t->ndim > RF_CKPT_MAX_DIMS || numel != t->numel ||
                rf_checkpoint_find(&ckpt, t->name) != t)
                abort();
            x ^= fuzz_touch(t->data, (size_t)t->numel * element_size(t->dtype));
        }
        fuzz_sink(x);
        rf_checkpoint_free(&ckpt);
    }
    /* The builder reparses, so run it only where it can get further than the reader did: on
     * checkpoints that loaded, and on native files, which the reader does not take. */
    if (st != RF_OK && !rf_native_magic(data, size))
        return 0;
    rf_model *model;
    st = rf_model_load_memory(data, size, RF_ANCHORS_RETINAFACE, &model, &err);
    fuzz_check_error(st, &err, "<memory>");
    if (st == RF_OK)
        rf_model_free(model);
    return 0;
}
