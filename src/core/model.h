/* model.h - the RetinaFace network as loaded: the layer table with BatchNorm folded weights. */
#ifndef RF_MODEL_H
#define RF_MODEL_H

#include "retinaface.h"
#include "base/tensor.h"
#include "core/layers.h"

struct rf_model {
    rf_layers layers;  /* the table; layers.layer[i].conv holds layer i's weights */
    int64_t parameters;
    float *weights;    /* one allocation holding every folded weight and bias; only the
                        * biases once the weights are dropped after packing */
    int reference_weights; /* conv->weight is there for the reference kernels and exports */
    void *mapping;     /* a native model file mapped read-only that the weights point into */
    size_t mapping_size;
    /* Every conv->packed points into mapping (a native file's stored packed blocks), or into
     * packed_region, the one allocation of the blocks packed at load (NULL if none). */
    int packed_mapped;
    void *packed_region;
};

/* A model of this backbone and preset with every layer's geometry and the parameter count set
 * but no weights (NULL pointers): what the native loader checks a file against. NULL when out
 * of memory. */
rf_model *rf_model_skeleton(rf_backbone backbone, rf_anchors anchors);

/* RF_OK if the model still has its plain-layout weights, which `what` reads; otherwise
 * RF_E_UNSUPPORTED with a message that says how to load it. */
rf_status rf_model_need_reference(const rf_model *m, const char *what, rf_error *err);

#endif
