/* model.h - the RetinaFace network as loaded: the layer table with BatchNorm folded weights, and
 * those weights in the layouts of the kernel sets that read them. */
#ifndef RF_MODEL_H
#define RF_MODEL_H

#include "retinaface.h"
#include "base/tensor.h"
#include "core/layers.h"
#include "formats/checkpoint.h"
#include "kernels/kernels.h"

#include <pthread.h>

/* A kernel set's packer (rf_kernel_set.pack). */
typedef void (*rf_pack_fn)(const rf_conv *conv, void *block);

/* The layers in one kernel set's weight layout. Sets that pack alike (the same pack function
 * and version: AVX2 and AVX-512) share one. */
typedef struct {
    rf_pack_fn pack; /* the sets' packer; NULL: the plain layout */
    uint32_t version;
    rf_conv *convs; /* the table's layers, each with its block of this layout as conv->packed */
    void *region;   /* the blocks, packed here in one allocation; NULL when they lie in the
                     * mapped native file */
} rf_packing;

#define RF_MAX_PACKINGS 8

struct rf_model {
    rf_layers layers;  /* the table; layers.layer[i].conv holds the plain-layout weights */
    int64_t parameters;
    float *weights;    /* one allocation holding every folded weight and bias; only the
                        * biases once the weights are dropped after packing */
    int reference_weights; /* conv->weight is there for the reference kernels and exports */
    void *mapping;     /* a native model file mapped read-only that the weights point into */
    size_t mapping_size;
    /* Packings are added at load and, for a context whose kernel set reads a layout the model
     * does not have yet, when it is created: a model shared between threads changes only
     * here, under the lock, and a packing never changes once added. */
    pthread_mutex_t lock;
    int npackings;
    rf_packing packings[RF_MAX_PACKINGS];
};

/* A model of this backbone and preset with every layer's geometry and the parameter count set
 * but no weights (NULL pointers): what the loaders fill in. NULL when out of memory. */
rf_model *rf_model_skeleton(rf_backbone backbone, rf_anchors anchors);

/* The model a checkpoint holds: its tensors checked against the table and folded. */
rf_status rf_model_from_checkpoint(const rf_checkpoint *ckpt, const char *path,
                                   rf_anchors anchors, rf_model **out, rf_error *err);

/* Packs m's weights for the fastest kernel set of this CPU unless m has that layout already (a
 * native file's blocks). Unless flags hold RF_LOAD_KEEP_REFERENCE, the plain-layout weights are
 * let go layer by layer as they are packed, so the two copies are never whole in memory
 * together. `path` names the model in messages. */
rf_status rf_model_pack_at_load(rf_model *m, unsigned flags, const char *path, rf_error *err);

/* Adds the layout of pack / version whose block for layer i lies at blocks[i], outside the
 * model (a mapped native file). */
rf_status rf_model_add_packing(rf_model *m, rf_pack_fn pack, uint32_t version,
                               void *const *blocks, rf_error *err);

/* The layers as ks reads them (m->layers.count of them, valid as long as m) in *out: the layout
 * is packed now, once, if m does not have it yet, which needs the plain-layout weights. */
rf_status rf_model_layers_for(const rf_model *m, const rf_kernel_set *ks, const rf_conv **out,
                              rf_error *err);

/* Sets each layer's calibrated input range (rf_conv.range_lo, range_hi) from ranges[i] = {lo,
 * hi}, in the table and every packing; lo >= hi (or ranges NULL): none. No context of m may be
 * running. */
void rf_model_set_ranges(rf_model *m, const float (*ranges)[2]);

/* RF_OK if the model still has its plain-layout weights, which `what` reads; otherwise
 * RF_E_UNSUPPORTED with a message that says how to load it. */
rf_status rf_model_need_reference(const rf_model *m, const char *what, rf_error *err);

#endif
