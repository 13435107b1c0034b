/* layers.c - the layer tables: each backbone's walk, then the FPN, SSH and heads, in the order
 * of the weights. */
#include "core/layers.h"

#include <stdio.h>

static const rf_act relu = {RF_ACT_RELU, 0.0f};
static const rf_act linear = {RF_ACT_NONE, 0.0f};

/* Appends a layer whose checkpoint prefixes are "<prefix>.<conv>" and, for a BatchNorm that
 * follows (bn not NULL), "<prefix>.<bn>"; returns its index. */
static int add(rf_layers *t, const char *prefix, const char *conv, const char *bn, int cin,
               int cout, int k, int stride, int groups, rf_act act)
{
    rf_layer *l = &t->layer[t->count];
    *l = (rf_layer){.kind = bn ? RF_LAYER_CONV_BN : RF_LAYER_CONV_BIAS, .act = act};
    snprintf(l->key, sizeof l->key, "%s.%s", prefix, conv);
    if (bn)
        snprintf(l->bn, sizeof l->bn, "%s.%s", prefix, bn);
    l->conv = (rf_conv){.cin = cin, .cout = cout, .kh = k, .kw = k, .stride = stride,
                        .pad = k / 2, .groups = groups};
    return t->count++;
}

/* ResNet50 (torchvision v1.5: the stride in the 3x3): a 7x7/2 stem and 3x3/2 max pooling, then
 * four stages of bottlenecks, the first of each with a 1x1 shortcut convolution. The FPN reads
 * the outputs of stages 2, 3 and 4. */
static void resnet50_layers(rf_layers *t, rf_act act)
{
    static const int blocks_per_stage[4] = {3, 4, 6, 3};
    rf_resnet50_parts *r = &t->body.r50;
    r->stem = add(t, "body", "conv1", "bn1", 3, 64, 7, 2, 1, act);
    int cin = 64;
    for (int s = 0; s < 4; s++) {
        const int width = 64 << s, cout = 4 * width;
        for (int j = 0; j < blocks_per_stage[s]; j++) {
            rf_bottleneck *b = &r->blocks[r->nblocks++];
            const int stride = j == 0 && s > 0 ? 2 : 1;
            char p[RF_LAYER_KEY];
            snprintf(p, sizeof p, "body.layer%d.%d", s + 1, j);
            b->conv1 = add(t, p, "conv1", "bn1", cin, width, 1, 1, 1, act);
            b->conv2 = add(t, p, "conv2", "bn2", width, width, 3, stride, 1, act);
            b->conv3 = add(t, p, "conv3", "bn3", width, cout, 1, 1, 1, act); /* after the add */
            b->downsample = j == 0 ? add(t, p, "downsample.0", "downsample.1", cin, cout, 1,
                                         stride, 1, linear)
                                   : -1;
            cin = cout;
        }
        if (s > 0) {
            t->features[s - 1] = r->nblocks - 1;
            t->feature_channels[s - 1] = cout;
        }
    }
}

/* MobileNetV1 x0.25: a 3x3/2 stem, then depthwise-separable units in three stages whose
 * outputs the FPN reads. */
static void mobilenet_layers(rf_layers *t, rf_act act)
{
    /* (stage, index in stage, cin, cout, stride) of the 13 units */
    static const struct {
        int stage, idx, cin, cout, stride;
    } units[RF_MNET_UNITS] = {
        {1, 1, 8, 16, 1},    {1, 2, 16, 32, 2},   {1, 3, 32, 32, 1},   {1, 4, 32, 64, 2},
        {1, 5, 64, 64, 1},   {2, 0, 64, 128, 2},  {2, 1, 128, 128, 1}, {2, 2, 128, 128, 1},
        {2, 3, 128, 128, 1}, {2, 4, 128, 128, 1}, {2, 5, 128, 128, 1}, {3, 0, 128, 256, 2},
        {3, 1, 256, 256, 1}};
    rf_mobilenet_parts *mn = &t->body.mnet;
    mn->stem = add(t, "body.stage1.0", "0", "1", 3, 8, 3, 2, 1, act);
    for (int i = 0; i < RF_MNET_UNITS; i++) {
        rf_dw_unit *u = &mn->units[mn->nunits++];
        const int cin = units[i].cin, cout = units[i].cout;
        char p[RF_LAYER_KEY];
        snprintf(p, sizeof p, "body.stage%d.%d", units[i].stage, units[i].idx);
        u->dw = add(t, p, "0", "1", cin, cin, 3, units[i].stride, cin, act);
        u->pw = add(t, p, "3", "4", cin, cout, 1, 1, 1, act);
        if (i + 1 == RF_MNET_UNITS || units[i + 1].stage != units[i].stage) {
            t->features[units[i].stage - 1] = i;
            t->feature_channels[units[i].stage - 1] = cout;
        }
    }
}

/* FPN (1x1 laterals, 3x3 merges), the three SSH modules, and per level the class, box and
 * landmark heads (two anchors per pixel). The SSH branches' ReLU is the one after their
 * concatenation, which each branch applies to its own channels. */
static void neck_and_heads(rf_layers *t, rf_act act)
{
    const int w = t->width;
    char p[RF_LAYER_KEY];
    for (int i = 0; i < 3; i++) {
        snprintf(p, sizeof p, "fpn.output%d", i + 1);
        t->fpn_lateral[i] = add(t, p, "0", "1", t->feature_channels[i], w, 1, 1, 1, act);
    }
    for (int i = 0; i < 2; i++) {
        snprintf(p, sizeof p, "fpn.merge%d", i + 1);
        t->fpn_merge[i] = add(t, p, "0", "1", w, w, 3, 1, 1, act);
    }
    for (int i = 0; i < 3; i++) {
        rf_ssh *s = &t->ssh[i];
        snprintf(p, sizeof p, "ssh%d", i + 1);
        s->conv3x3 = add(t, p, "conv3X3.0", "conv3X3.1", w, w / 2, 3, 1, 1, relu);
        s->conv5x5_1 = add(t, p, "conv5X5_1.0", "conv5X5_1.1", w, w / 4, 3, 1, 1, act);
        s->conv5x5_2 = add(t, p, "conv5X5_2.0", "conv5X5_2.1", w / 4, w / 4, 3, 1, 1, relu);
        s->conv7x7_2 = add(t, p, "conv7X7_2.0", "conv7X7_2.1", w / 4, w / 4, 3, 1, 1, act);
        s->conv7x7_3 = add(t, p, "conv7x7_3.0", "conv7x7_3.1", w / 4, w / 4, 3, 1, 1, relu);
    }
    for (int i = 0; i < 3; i++) {
        snprintf(p, sizeof p, "ClassHead.%d", i);
        t->head_cls[i] = add(t, p, "conv1x1", NULL, w, 2 * 2, 1, 1, 1, linear);
        snprintf(p, sizeof p, "BboxHead.%d", i);
        t->head_box[i] = add(t, p, "conv1x1", NULL, w, 2 * 4, 1, 1, 1, linear);
        snprintf(p, sizeof p, "LandmarkHead.%d", i);
        t->head_ldm[i] = add(t, p, "conv1x1", NULL, w, 2 * 10, 1, 1, 1, linear);
    }
}

/* The backbones, in the order checkpoints are tested for them. */
static const struct {
    rf_backbone backbone;
    const char *title;  /* as messages name it */
    const char *marker; /* a checkpoint key of this backbone only */
    int width;          /* FPN / SSH channels */
    void (*layers)(rf_layers *t, rf_act act);
} backbones[] = {
    {RF_BACKBONE_RESNET50, "ResNet50", "body.conv1.weight", 256, resnet50_layers},
    {RF_BACKBONE_MOBILENET025, "MobileNet0.25", "body.stage1.0.0.weight", 64, mobilenet_layers},
};
#define NBACKBONES ((int)(sizeof backbones / sizeof *backbones))

/* The entry of a backbone, which the rf_backbone enum and the table both know. */
static int backbone_entry(rf_backbone backbone)
{
    for (int b = 0; b < NBACKBONES; b++)
        if (backbones[b].backbone == backbone)
            return b;
    return 0;
}

void rf_layers_describe(rf_backbone backbone, rf_anchors anchors, rf_layers *out)
{
    const int b = backbone_entry(backbone);
    /* LeakyReLU(0.1) is MobileNet0.25's in biubug6/Pytorch_Retinaface; Face-Detector-1MB and
     * ResNet50 use ReLU throughout */
    const rf_act act = backbone == RF_BACKBONE_MOBILENET025 && anchors == RF_ANCHORS_RETINAFACE
                           ? (rf_act){RF_ACT_LEAKY, 0.1f}
                           : relu;
    *out = (rf_layers){.backbone = backbone, .anchors = anchors, .width = backbones[b].width};
    backbones[b].layers(out, act);
    neck_and_heads(out, act);
}

int rf_layers_recognise(int (*has)(const void *arg, const char *key), const void *arg,
                        rf_backbone *out, char *looked_for, size_t size)
{
    size_t len = 0;
    for (int b = 0; b < NBACKBONES; b++) {
        if (has(arg, backbones[b].marker)) {
            *out = backbones[b].backbone;
            return 1;
        }
        if (len < size)
            len += (size_t)snprintf(looked_for + len, size - len, "%s'%s' of %s", b ? " nor " : "",
                                    backbones[b].marker, backbones[b].title);
    }
    return 0;
}

int64_t rf_layer_parameters(const rf_layer *layer)
{
    const rf_conv *c = &layer->conv;
    return (int64_t)rf_conv_weight_count(c) +
           (layer->kind == RF_LAYER_CONV_BN ? 2 : 1) * (int64_t)c->cout;
}
