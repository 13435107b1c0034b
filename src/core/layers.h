/* layers.h - the RetinaFace networks described once: every convolution in one ordered table, and
 * which part each one plays.
 *
 * rf_layers_describe walks a backbone and then the FPN, SSH and heads, appending one row per
 * convolution in the order of the weights: the checkpoint keys it reads (BatchNorm included),
 * its shape and its activation. That order is the single statement of the layer order: the
 * checkpoint loader takes the tensors in it, native files store the layers in it, and packing
 * runs over it. The forward pass (network.c) names layers by the indices the walk records in
 * the parts below (a bottleneck's conv2, an SSH module's conv5x5_1, ...), and the ONNX export
 * records the forward pass, so no other file restates the architecture.
 *
 * Adding a backbone: its parts below (in the body union), a walk in layers.c that appends its
 * rows and fills its parts, features and feature_channels, an entry in the table of backbones
 * there, and its forward function in network.c. */
#ifndef RF_LAYERS_H
#define RF_LAYERS_H

#include "retinaface.h"
#include "base/tensor.h"

#include <stdint.h>

#define RF_MAX_LAYERS 128 /* ResNet50 has 82 convolutions, MobileNet0.25 56 */
#define RF_LAYER_KEY 40

typedef enum {
    RF_LAYER_CONV_BN,  /* convolution without bias, then BatchNorm (folded at load) */
    RF_LAYER_CONV_BIAS /* convolution with its own bias (the heads) */
} rf_layer_kind;

typedef struct {
    rf_layer_kind kind;
    char key[RF_LAYER_KEY]; /* checkpoint prefix of the convolution: "<key>.weight" [.bias] */
    char bn[RF_LAYER_KEY];  /* RF_LAYER_CONV_BN: prefix of its BatchNorm (".weight", ".bias",
                             * ".running_mean", ".running_var", ".num_batches_tracked") */
    rf_act act;             /* applied to conv + bias [+ residual] */
    rf_conv conv;           /* the shape (pad k / 2); weights NULL until a model loads them */
} rf_layer;

/* Layer indices of the parts each forward function walks; -1 where a part is absent. */
typedef struct {
    int conv1, conv2, conv3, downsample; /* ResNet bottleneck: 1x1, 3x3 (stride), 1x1, shortcut */
} rf_bottleneck;

typedef struct {
    int dw, pw; /* MobileNetV1 unit: 3x3 depthwise, 1x1 pointwise */
} rf_dw_unit;

/* SSH context module: a 3x3 branch (C/2), a "5x5" of two 3x3 (C/4) and a "7x7" of three 3x3
 * (C/4) that shares the first with the 5x5. */
typedef struct {
    int conv3x3, conv5x5_1, conv5x5_2, conv7x7_2, conv7x7_3;
} rf_ssh;

#define RF_R50_BLOCKS 16
#define RF_MNET_UNITS 13

typedef struct {
    int stem;
    int nblocks;
    rf_bottleneck blocks[RF_R50_BLOCKS];
} rf_resnet50_parts;

typedef struct {
    int stem;
    int nunits;
    rf_dw_unit units[RF_MNET_UNITS];
} rf_mobilenet_parts;

typedef struct {
    rf_backbone backbone;
    rf_anchors anchors;
    int width;               /* FPN / SSH channels: 256 (ResNet50) or 64 (MobileNet0.25) */
    int count;
    rf_layer layer[RF_MAX_LAYERS]; /* in the order of the weights */

    union {
        rf_resnet50_parts r50;
        rf_mobilenet_parts mnet;
    } body;
    int features[3];         /* the blocks / units whose outputs feed the FPN: strides 8, 16, 32 */
    int feature_channels[3];

    int fpn_lateral[3], fpn_merge[2];
    rf_ssh ssh[3];
    int head_cls[3], head_box[3], head_ldm[3];
} rf_layers;

/* The table of the backbone with the anchor preset (which, for MobileNet0.25, also picks
 * LeakyReLU(0.1) or ReLU). */
void rf_layers_describe(rf_backbone backbone, rf_anchors anchors, rf_layers *out);

/* The backbone of a checkpoint, told by a key that only its backbone's checkpoints have:
 * has(arg, key) says whether the checkpoint holds key. 1 and *out set, or 0 with what was
 * looked for ("'k1' of A nor 'k2' of B") in looked_for. */
int rf_layers_recognise(int (*has)(const void *arg, const char *key), const void *arg,
                        rf_backbone *out, char *looked_for, size_t size);

/* Learned parameters of a layer: weights, then bias or BatchNorm scale and shift. */
int64_t rf_layer_parameters(const rf_layer *layer);

#endif
