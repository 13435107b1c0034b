/* model.h - the RetinaFace network as loaded: layers with BatchNorm folded, per backbone. */
#ifndef RF_MODEL_H
#define RF_MODEL_H

#include "retinaface.h"
#include "base/tensor.h"

typedef struct {
    rf_conv conv1, conv2, conv3, downsample;
    int has_downsample;
} rf_bottleneck;

/* MobileNetV1 depthwise-separable unit: 3x3 depthwise then 1x1 pointwise. */
typedef struct {
    rf_conv dw, pw;
} rf_dw_unit;

/* SSH context module: a 3x3 branch (C/2), a "5x5" of two 3x3 (C/4) and a "7x7" of three 3x3
 * (C/4) that shares the first with the 5x5. */
typedef struct {
    rf_conv conv3x3, conv5x5_1, conv5x5_2, conv7x7_2, conv7x7_3;
} rf_ssh;

#define RF_R50_BLOCKS 16
#define RF_MNET_UNITS 13
/* Room for every convolution of either backbone (see model_convs in model.c). */
#define RF_MODEL_MAX_CONVS (1 + 4 * RF_R50_BLOCKS + 2 * RF_MNET_UNITS + 3 * 10 - 1)

struct rf_model {
    rf_backbone backbone;
    rf_anchors anchors;
    int width;         /* FPN / SSH channels: 256 (ResNet50) or 64 (MobileNet0.25) */
    rf_act fpn_act;    /* ReLU for ResNet50; LeakyReLU(0.1) or ReLU (face1mb) for MobileNet */
    rf_act body_act;   /* MobileNet backbone activation */

    rf_conv stem;      /* ResNet50 7x7/2 or MobileNet 3x3/2 */
    rf_bottleneck blocks[RF_R50_BLOCKS]; /* layer1..4: 3, 4, 6, 3 blocks */
    rf_dw_unit units[RF_MNET_UNITS];      /* stage1: 5, stage2: 6, stage3: 2 units */

    rf_conv fpn_lateral[3], fpn_merge[2];
    rf_ssh ssh[3];
    rf_conv head_cls[3], head_box[3], head_ldm[3];

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
