/* load.c - rf_model_load*: a native model file or a torch checkpoint, then its weights packed
 * for this CPU's fastest kernels. */
#include "base/common.h"
#include "core/model.h"
#include "formats/checkpoint.h"
#include "formats/native.h"

/* Every loaded model gets its packed weights here, unless its native file already held the
 * blocks this build's kernels want. A checkpoint is freed before this, so its bytes and the
 * packed copies are never in memory together. */
static rf_status pack_loaded(rf_status st, rf_model **out, unsigned flags, const char *path,
                             rf_error *err)
{
    if (st == RF_OK && (st = rf_model_pack_at_load(*out, flags, path, err)) != RF_OK) {
        rf_model_free(*out);
        *out = NULL;
    }
    return st;
}

rf_status rf_model_load_flags(const char *path, rf_anchors anchors, unsigned flags,
                              rf_model **out, rf_error *err)
{
    if (!path || !out)
        return rf_fail(err, RF_E_ARG, "rf_model_load: null argument");
    *out = NULL;
    if (rf_native_file(path))
        return pack_loaded(rf_native_load(path, out, err), out, flags, path, err);
    rf_checkpoint ckpt;
    rf_status st = rf_checkpoint_load(path, &ckpt, err);
    if (st != RF_OK)
        return st;
    st = rf_model_from_checkpoint(&ckpt, path, anchors, out, err);
    rf_checkpoint_free(&ckpt);
    return pack_loaded(st, out, flags, path, err);
}

rf_status rf_model_load(const char *path, rf_anchors anchors, rf_model **out, rf_error *err)
{
    return rf_model_load_flags(path, anchors, 0, out, err);
}

rf_status rf_model_load_memory_flags(const void *data, size_t size, rf_anchors anchors,
                                     unsigned flags, rf_model **out, rf_error *err)
{
    if (!data || !out)
        return rf_fail(err, RF_E_ARG, "rf_model_load_memory: null argument");
    *out = NULL;
    if (rf_native_magic(data, size))
        return pack_loaded(rf_native_load_memory(data, size, "<memory>", out, err), out, flags,
                           "<memory>", err);
    rf_checkpoint ckpt;
    rf_status st = rf_checkpoint_load_memory(data, size, "<memory>", &ckpt, err);
    if (st != RF_OK)
        return st;
    st = rf_model_from_checkpoint(&ckpt, "<memory>", anchors, out, err);
    rf_checkpoint_free(&ckpt);
    return pack_loaded(st, out, flags, "<memory>", err);
}

rf_status rf_model_load_memory(const void *data, size_t size, rf_anchors anchors,
                               rf_model **out, rf_error *err)
{
    return rf_model_load_memory_flags(data, size, anchors, 0, out, err);
}
