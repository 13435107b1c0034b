/* network.c - the RetinaFace forward pass: backbone, FPN, SSH, heads, top to bottom. */
#include "core/network.h"

/* What the forward functions pass down: the ops' state, the layer table, and its layers in the
 * layout of the ops' kernels. */
typedef struct {
    rf_exec *ex;
    const rf_layers *t;
    const rf_conv *convs;
} net;

/* out = act(layer(in) + bias [+ residual]), the activation the table gives the layer. */
static void conv(const net *n, int layer, const rf_tensor *in, const rf_tensor *residual,
                 rf_tensor *out)
{
    rf_op_conv(n->ex, &n->convs[layer], in, residual, n->t->layer[layer].act, out);
}

/* The same, into a new arena tensor. */
static rf_tensor conv_new(const net *n, int layer, const rf_tensor *in)
{
    return rf_op_conv_new(n->ex, &n->convs[layer], in, NULL, n->t->layer[layer].act);
}

static void release(const net *n, rf_tensor *t) { rf_arena_release(&n->ex->arena, t); }

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
static rf_tensor bottleneck(const net *n, const rf_bottleneck *b, rf_tensor *x, int keep_x)
{
    rf_tensor t1 = conv_new(n, b->conv1, x);
    rf_tensor t2 = conv_new(n, b->conv2, &t1);
    release(n, &t1);
    /* after conv2, so the 4x wider shortcut is not live beside t1 and t2 */
    rf_tensor shortcut = *x;
    if (b->downsample >= 0)
        shortcut = conv_new(n, b->downsample, x);
    const int in_place = b->downsample >= 0 || !keep_x;
    const int cout = n->convs[b->conv3].cout;
    rf_tensor y = in_place ? shortcut : rf_arena_tensor(&n->ex->arena, t2.n, t2.h, t2.w, cout);
    conv(n, b->conv3, &t2, &shortcut, &y);
    release(n, &t2);
    if (b->downsample >= 0 && !keep_x)
        release(n, x);
    return y;
}

/* ResNet50 up to layer4; c = the feature blocks' outputs (layer2, layer3, layer4: strides 8,
 * 16, 32). A block whose input is a feature keeps it for the FPN. */
static void resnet50_body(const net *n, rf_tensor *x, rf_tensor c[3])
{
    const rf_resnet50_parts *r = &n->t->body.r50;
    rf_tensor t = conv_new(n, r->stem, x);
    release(n, x);
    rf_tensor y = rf_op_maxpool3s2(n->ex, &t);
    release(n, &t);
    for (int i = 0, f = 0; i < r->nblocks; i++) {
        y = bottleneck(n, &r->blocks[i], &y, f > 0 && i == n->t->features[f - 1] + 1);
        if (f < 3 && i == n->t->features[f])
            c[f++] = y;
    }
}

/* MobileNetV1 x0.25; c = the feature units' outputs (stage1, stage2, stage3: strides 8, 16,
 * 32). */
static void mobilenet_body(const net *n, rf_tensor *x, rf_tensor c[3])
{
    const rf_mobilenet_parts *mn = &n->t->body.mnet;
    rf_tensor y = conv_new(n, mn->stem, x);
    release(n, x);
    for (int i = 0, f = 0; i < mn->nunits; i++) {
        rf_tensor t = conv_new(n, mn->units[i].dw, &y);
        if (!(f > 0 && i == n->t->features[f - 1] + 1))
            release(n, &y); /* feature outputs stay for the FPN */
        y = conv_new(n, mn->units[i].pw, &t);
        release(n, &t);
        if (f < 3 && i == n->t->features[f])
            c[f++] = y;
    }
}

/* FPN: 1x1 laterals, then top-down: nearest-upsample the coarser level, add, 3x3 merge. */
static void fpn(const net *n, rf_tensor c[3], rf_tensor p[3])
{
    for (int i = 0; i < 3; i++) {
        p[i] = conv_new(n, n->t->fpn_lateral[i], &c[i]);
        release(n, &c[i]);
    }
    for (int i = 1; i >= 0; i--) {
        rf_op_add_upsampled(n->ex, &p[i], &p[i + 1]);
        rf_tensor merged = conv_new(n, n->t->fpn_merge[i], &p[i]);
        release(n, &p[i]);
        p[i] = merged;
    }
}

/* SSH: the three branches write their channel slices of one tensor (the concat), each with
 * the ReLU that follows the concat. */
static rf_tensor ssh(const net *n, const rf_ssh *s, const rf_tensor *x)
{
    const int w = n->t->width;
    rf_tensor out = rf_arena_tensor(&n->ex->arena, x->n, x->h, x->w, w);
    rf_tensor a = channel_slice(&out, 0, w / 2);
    rf_tensor b = channel_slice(&out, w / 2, w / 4);
    rf_tensor c = channel_slice(&out, 3 * w / 4, w / 4);
    conv(n, s->conv3x3, x, NULL, &a);
    rf_tensor t = conv_new(n, s->conv5x5_1, x);
    conv(n, s->conv5x5_2, &t, NULL, &b);
    rf_tensor u = conv_new(n, s->conv7x7_2, &t);
    conv(n, s->conv7x7_3, &u, NULL, &c);
    rf_op_concat(n->ex, &out, (const rf_tensor[3]){a, b, c}, 3);
    release(n, &u);
    release(n, &t);
    return out;
}

/* A head's 1x1 conv writes [n, anchors, k] directly: pixel (y, x) of level l holds anchors
 * offset_l + 2 * (y * w + x) + {0, 1}, which is NHWC with k * 2 channels per pixel. */
static rf_tensor head_view(float *base, int64_t anchors, int64_t offset, const rf_tensor *f, int k)
{
    return (rf_tensor){.data = base ? base + offset * k : NULL, .n = f->n, .h = f->h, .w = f->w,
                       .c = 2 * k, .pstride = 2 * k, .nstride = anchors * k, .arena_id = -1};
}

void rf_network_forward(rf_exec *ex, const rf_layers *t, const rf_conv *convs,
                        rf_tensor *input, const rf_network_outputs *out)
{
    const net n = {ex, t, convs};
    rf_tensor c[3], p[3];
    if (t->backbone == RF_BACKBONE_RESNET50)
        resnet50_body(&n, input, c);
    else
        mobilenet_body(&n, input, c);
    fpn(&n, c, p);
    int64_t offset = 0;
    for (int l = 0; l < 3; l++) {
        rf_tensor f = ssh(&n, &t->ssh[l], &p[l]);
        release(&n, &p[l]);
        rf_tensor cls = head_view(out->cls, out->anchors, offset, &f, 2);
        rf_tensor box = head_view(out->box, out->anchors, offset, &f, 4);
        rf_tensor ldm = head_view(out->ldm, out->anchors, offset, &f, 10);
        conv(&n, t->head_cls[l], &f, NULL, &cls);
        rf_op_softmax_pairs(ex, &cls);
        conv(&n, t->head_box[l], &f, NULL, &box);
        conv(&n, t->head_ldm[l], &f, NULL, &ldm);
        rf_op_outputs(ex, &cls, &box, &ldm);
        offset += 2 * (int64_t)f.h * f.w;
        release(&n, &f);
    }
}

void rf_network_trace(const rf_layers *t, const rf_conv *convs, rf_trace *trace)
{
    rf_exec ex = {.trace = trace};
    rf_arena_begin(&ex.arena, 1);
    rf_ops_begin_pass(&ex);
    /* a graph's sizes are its own: any input size walks the same layers */
    rf_tensor x = rf_arena_tensor(&ex.arena, 1, 64, 64, 3);
    rf_op_from_nchw(&ex, NULL, &x);
    const rf_network_outputs out = {NULL, NULL, NULL, 0};
    rf_network_forward(&ex, t, convs, &x, &out);
}
