/* network.c - the RetinaFace forward pass: backbone, FPN, SSH, heads, top to bottom. */
#include "core/network.h"

static const rf_act relu = {RF_ACT_RELU, 0.0f};
static const rf_act linear = {RF_ACT_NONE, 0.0f};

/* Channels [c0, c0 + c) of t, as a tensor that shares its memory. */
static rf_tensor channel_slice(const rf_tensor *t, int c0, int c)
{
    rf_tensor s = *t;
    s.data = t->data ? t->data + c0 : NULL;
    s.c = c;
    s.arena_id = -1;
    return s;
}

/* ResNet50 bottleneck: 1x1 -> 3x3 (stride here, torchvision v1.5) -> 1x1, plus the shortcut,
 * then ReLU; the shortcut add and the ReLU run inside conv3, which writes over the shortcut
 * when nothing else needs it (26 MB less at the peak for 640x640). */
static rf_tensor bottleneck(rf_exec *ex, const rf_bottleneck *b, rf_tensor *x, int keep_x)
{
    rf_tensor t1 = rf_op_conv_new(ex, &b->conv1, x, NULL, relu);
    rf_tensor t2 = rf_op_conv_new(ex, &b->conv2, &t1, NULL, relu);
    rf_arena_release(&ex->arena, &t1);
    /* after conv2, so the 4x wider shortcut is not live beside t1 and t2 */
    rf_tensor shortcut = *x;
    if (b->has_downsample)
        shortcut = rf_op_conv_new(ex, &b->downsample, x, NULL, linear);
    const int in_place = b->has_downsample || !keep_x;
    rf_tensor y = in_place ? shortcut : rf_arena_tensor(&ex->arena, t2.n, t2.h, t2.w, b->conv3.cout);
    rf_op_conv(ex, &b->conv3, &t2, &shortcut, relu, &y);
    rf_arena_release(&ex->arena, &t2);
    if (b->has_downsample && !keep_x)
        rf_arena_release(&ex->arena, x);
    return y;
}

/* ResNet50 up to layer4; c = layer2, layer3, layer4 outputs (strides 8, 16, 32). */
static void resnet50_body(rf_exec *ex, const rf_model *m, rf_tensor *x, rf_tensor c[3])
{
    static const int blocks[4] = {3, 4, 6, 3};
    rf_tensor t = rf_op_conv_new(ex, &m->stem, x, NULL, relu);
    rf_arena_release(&ex->arena, x);
    rf_tensor y = rf_op_maxpool3s2(ex, &t);
    rf_arena_release(&ex->arena, &t);
    for (int layer = 0, i = 0; layer < 4; layer++) {
        for (int j = 0; j < blocks[layer]; j++, i++)
            y = bottleneck(ex, &m->blocks[i], &y, j == 0 && layer >= 2);
        if (layer >= 1)
            c[layer - 1] = y;
    }
}

/* MobileNetV1 x0.25; c = stage1, stage2, stage3 outputs (strides 8, 16, 32). */
static void mobilenet_body(rf_exec *ex, const rf_model *m, rf_tensor *x, rf_tensor c[3])
{
    static const int stage_end[3] = {4, 10, 12}; /* last unit of each stage */
    rf_tensor y = rf_op_conv_new(ex, &m->stem, x, NULL, m->body_act);
    rf_arena_release(&ex->arena, x);
    for (int i = 0, stage = 0; i < RF_MNET_UNITS; i++) {
        rf_tensor t = rf_op_conv_new(ex, &m->units[i].dw, &y, NULL, m->body_act);
        if (!(stage > 0 && i == stage_end[stage - 1] + 1))
            rf_arena_release(&ex->arena, &y); /* stage outputs stay for the FPN */
        y = rf_op_conv_new(ex, &m->units[i].pw, &t, NULL, m->body_act);
        rf_arena_release(&ex->arena, &t);
        if (i == stage_end[stage])
            c[stage++] = y;
    }
}

/* FPN: 1x1 laterals, then top-down: nearest-upsample the coarser level, add, 3x3 merge. */
static void fpn(rf_exec *ex, const rf_model *m, rf_tensor c[3], rf_tensor p[3])
{
    for (int i = 0; i < 3; i++) {
        p[i] = rf_op_conv_new(ex, &m->fpn_lateral[i], &c[i], NULL, m->fpn_act);
        rf_arena_release(&ex->arena, &c[i]);
    }
    for (int i = 1; i >= 0; i--) {
        rf_op_add_upsampled(ex, &p[i], &p[i + 1]);
        rf_tensor merged = rf_op_conv_new(ex, &m->fpn_merge[i], &p[i], NULL, m->fpn_act);
        rf_arena_release(&ex->arena, &p[i]);
        p[i] = merged;
    }
}

/* SSH: the three branches write their channel slices of one tensor (the concat), each with
 * the ReLU that follows the concat. */
static rf_tensor ssh(rf_exec *ex, const rf_model *m, const rf_ssh *s, const rf_tensor *x)
{
    const int w = m->width;
    rf_tensor out = rf_arena_tensor(&ex->arena, x->n, x->h, x->w, w);
    rf_tensor a = channel_slice(&out, 0, w / 2);
    rf_tensor b = channel_slice(&out, w / 2, w / 4);
    rf_tensor c = channel_slice(&out, 3 * w / 4, w / 4);
    rf_op_conv(ex, &s->conv3x3, x, NULL, relu, &a);
    rf_tensor t = rf_op_conv_new(ex, &s->conv5x5_1, x, NULL, m->fpn_act);
    rf_op_conv(ex, &s->conv5x5_2, &t, NULL, relu, &b);
    rf_tensor u = rf_op_conv_new(ex, &s->conv7x7_2, &t, NULL, m->fpn_act);
    rf_op_conv(ex, &s->conv7x7_3, &u, NULL, relu, &c);
    rf_arena_release(&ex->arena, &u);
    rf_arena_release(&ex->arena, &t);
    return out;
}

/* A head's 1x1 conv writes [n, anchors, k] directly: pixel (y, x) of level l holds anchors
 * offset_l + 2 * (y * w + x) + {0, 1}, which is NHWC with k * 2 channels per pixel. */
static rf_tensor head_view(float *base, int64_t anchors, int64_t offset, const rf_tensor *f, int k)
{
    return (rf_tensor){.data = base ? base + offset * k : NULL, .n = f->n, .h = f->h, .w = f->w,
                       .c = 2 * k, .pstride = 2 * k, .nstride = anchors * k, .arena_id = -1};
}

void rf_network_forward(rf_exec *ex, const rf_model *m, rf_tensor *input,
                        const rf_network_outputs *out)
{
    rf_tensor c[3], p[3];
    if (m->backbone == RF_BACKBONE_RESNET50)
        resnet50_body(ex, m, input, c);
    else
        mobilenet_body(ex, m, input, c);
    fpn(ex, m, c, p);
    int64_t offset = 0;
    for (int l = 0; l < 3; l++) {
        rf_tensor f = ssh(ex, m, &m->ssh[l], &p[l]);
        rf_arena_release(&ex->arena, &p[l]);
        rf_tensor cls = head_view(out->cls, out->anchors, offset, &f, 2);
        rf_tensor box = head_view(out->box, out->anchors, offset, &f, 4);
        rf_tensor ldm = head_view(out->ldm, out->anchors, offset, &f, 10);
        rf_op_conv(ex, &m->head_cls[l], &f, NULL, linear, &cls);
        rf_op_softmax_pairs(ex, &cls);
        rf_op_conv(ex, &m->head_box[l], &f, NULL, linear, &box);
        rf_op_conv(ex, &m->head_ldm[l], &f, NULL, linear, &ldm);
        offset += 2 * (int64_t)f.h * f.w;
        rf_arena_release(&ex->arena, &f);
    }
}
