/* model.c - builds the network from a checkpoint: recognise the backbone, check every tensor, fold BatchNorm. */
#define _DEFAULT_SOURCE /* madvise */
#include "core/model.h"

#include "formats/checkpoint.h"
#include "base/common.h"
#include "kernels/kernels.h"
#include "formats/native.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define BN_EPS 1e-5

/* Walks the network twice: first to check the checkpoint and count the floats, then (with
 * `weights` allocated) to fill them in. */
typedef struct {
    const rf_checkpoint *ckpt; /* NULL: only lay out the layers (rf_model_skeleton) */
    const char *path;
    unsigned char *used; /* per checkpoint tensor */
    float *weights;      /* NULL in the counting pass */
    size_t nfloats;
    int64_t parameters;
    rf_error *err;
    rf_status status;
} builder;

static float *reserve(builder *b, size_t n)
{
    float *p = b->weights ? b->weights + b->nfloats : NULL;
    b->nfloats += (n + 15) & ~(size_t)15; /* 64-byte aligned starts for the SIMD kernels */
    return p;
}

static void shape_str(char *buf, size_t size, int ndim, const int64_t *shape)
{
    size_t len = (size_t)snprintf(buf, size, "[");
    for (int i = 0; i < ndim && len < size; i++)
        len += (size_t)snprintf(buf + len, size - len, "%s%lld", i ? "," : "",
                                (long long)shape[i]);
    if (len < size)
        snprintf(buf + len, size - len, "]");
}

/* The float32 tensor `name` with the given shape, marked used; NULL (and b->status set) if it
 * is missing or has another dtype or shape. */
static const float *take(builder *b, const char *name, int ndim, const int64_t *shape)
{
    if (b->status != RF_OK || !b->ckpt)
        return NULL;
    const rf_ckpt_tensor *t = rf_checkpoint_find(b->ckpt, name);
    if (!t) {
        b->status = rf_fail(b->err, RF_E_MODEL, "%s: missing tensor '%s'", b->path, name);
        return NULL;
    }
    b->used[t - b->ckpt->tensors] = 1;
    if (t->dtype != RF_DTYPE_F32) {
        b->status = rf_fail(b->err, RF_E_MODEL, "%s: tensor '%s' is %s, expected float32",
                            b->path, name, rf_dtype_name(t->dtype));
        return NULL;
    }
    int same = t->ndim == ndim;
    for (int i = 0; same && i < ndim; i++)
        same = t->shape[i] == shape[i];
    if (!same) {
        char want[96], got[96];
        shape_str(want, sizeof want, ndim, shape);
        shape_str(got, sizeof got, t->ndim, t->shape);
        b->status = rf_fail(b->err, RF_E_MODEL, "%s: tensor '%s' has shape %s, expected %s",
                            b->path, name, got, want);
        return NULL;
    }
    return t->data;
}

static const float *take1(builder *b, const char *prefix, const char *suffix, int64_t n)
{
    char name[160];
    snprintf(name, sizeof name, "%s.%s", prefix, suffix);
    return take(b, name, 1, &n);
}

/* conv (no bias) + BatchNorm, folded: w' = w * g / sqrt(v + eps), b' = beta - m * g / sqrt(v + eps).
 * Weights are re-laid from torch's [cout][cin/groups][kh][kw] to [kh][kw][cin][cout] (dense) or
 * [kh][kw][c] (depthwise). */
static void conv_bn(builder *b, rf_conv *cv, const char *conv_name, const char *bn_name, int cin,
                    int cout, int k, int stride, int groups)
{
    char name[160];
    const int64_t wshape[4] = {cout, cin / groups, k, k};
    snprintf(name, sizeof name, "%s.weight", conv_name);
    const float *w = take(b, name, 4, wshape);
    const float *gamma = take1(b, bn_name, "weight", cout);
    const float *beta = take1(b, bn_name, "bias", cout);
    const float *mean = take1(b, bn_name, "running_mean", cout);
    const float *var = take1(b, bn_name, "running_var", cout);
    snprintf(name, sizeof name, "%s.num_batches_tracked", bn_name);
    const rf_ckpt_tensor *nbt = b->ckpt ? rf_checkpoint_find(b->ckpt, name) : NULL;
    if (nbt && b->status == RF_OK) {
        b->used[nbt - b->ckpt->tensors] = 1;
        if (nbt->dtype != RF_DTYPE_I64 || nbt->numel != 1)
            b->status = rf_fail(b->err, RF_E_MODEL, "%s: tensor '%s' is not an int64 scalar",
                                b->path, name);
    }
    const size_t wcount = (size_t)cout * (size_t)(cin / groups) * (size_t)k * (size_t)k;
    *cv = (rf_conv){.cin = cin, .cout = cout, .kh = k, .kw = k, .stride = stride,
                    .pad = k / 2, .groups = groups};
    cv->weight = reserve(b, wcount);
    cv->bias = reserve(b, (size_t)cout);
    b->parameters += (int64_t)wcount + 2 * cout;
    if (!b->weights || !b->ckpt || b->status != RF_OK)
        return;
    const int cig = cin / groups;
    for (int co = 0; co < cout; co++) {
        const double scale = gamma[co] / sqrt((double)var[co] + BN_EPS);
        cv->bias[co] = (float)(beta[co] - mean[co] * scale);
        for (int ci = 0; ci < cig; ci++)
            for (int ky = 0; ky < k; ky++)
                for (int kx = 0; kx < k; kx++) {
                    const float v = (float)(w[((co * cig + ci) * k + ky) * k + kx] * scale);
                    if (groups == 1)
                        cv->weight[((size_t)(ky * k + kx) * cin + ci) * cout + co] = v;
                    else
                        cv->weight[(size_t)(ky * k + kx) * cout + co] = v;
                }
    }
}

/* A 1x1 convolution with its own bias (the class / box / landmark heads). */
static void conv_biased(builder *b, rf_conv *cv, const char *prefix, int cin, int cout)
{
    char name[160];
    const int64_t wshape[4] = {cout, cin, 1, 1};
    snprintf(name, sizeof name, "%s.weight", prefix);
    const float *w = take(b, name, 4, wshape);
    const float *bias = take1(b, prefix, "bias", cout);
    *cv = (rf_conv){.cin = cin, .cout = cout, .kh = 1, .kw = 1, .stride = 1, .pad = 0,
                    .groups = 1};
    cv->weight = reserve(b, (size_t)cin * cout);
    cv->bias = reserve(b, (size_t)cout);
    b->parameters += (int64_t)cin * cout + cout;
    if (!b->weights || !b->ckpt || b->status != RF_OK)
        return;
    memcpy(cv->bias, bias, sizeof(float) * (size_t)cout);
    for (int co = 0; co < cout; co++)
        for (int ci = 0; ci < cin; ci++)
            cv->weight[(size_t)ci * cout + co] = w[(size_t)co * cin + ci];
}

/* "<prefix>.0" conv + "<prefix>.1" BatchNorm, the nn.Sequential layout of conv_bn blocks. */
static void seq_conv_bn(builder *b, rf_conv *cv, const char *prefix, int cin, int cout, int k,
                        int stride)
{
    char conv[160], bn[160];
    snprintf(conv, sizeof conv, "%s.0", prefix);
    snprintf(bn, sizeof bn, "%s.1", prefix);
    conv_bn(b, cv, conv, bn, cin, cout, k, stride, 1);
}

static void build_resnet50(builder *b, rf_model *m)
{
    static const int blocks[4] = {3, 4, 6, 3};
    conv_bn(b, &m->stem, "body.conv1", "body.bn1", 3, 64, 7, 2, 1);
    int cin = 64, i = 0;
    for (int layer = 0; layer < 4; layer++) {
        const int width = 64 << layer, cout = width * 4;
        for (int j = 0; j < blocks[layer]; j++, i++) {
            rf_bottleneck *bl = &m->blocks[i];
            const int stride = (j == 0 && layer > 0) ? 2 : 1;
            char p[96], c[128], n[128];
            snprintf(p, sizeof p, "body.layer%d.%d", layer + 1, j);
#define PART(conv_field, cname, bname, ci, co, k, s)                                            \
    snprintf(c, sizeof c, "%s.%s", p, cname);                                                   \
    snprintf(n, sizeof n, "%s.%s", p, bname);                                                   \
    conv_bn(b, &bl->conv_field, c, n, ci, co, k, s, 1)
            PART(conv1, "conv1", "bn1", cin, width, 1, 1);
            PART(conv2, "conv2", "bn2", width, width, 3, stride);
            PART(conv3, "conv3", "bn3", width, cout, 1, 1);
            bl->has_downsample = j == 0;
            if (bl->has_downsample) {
                PART(downsample, "downsample.0", "downsample.1", cin, cout, 1, stride);
            }
#undef PART
            cin = cout;
        }
    }
}

static void build_mobilenet(builder *b, rf_model *m)
{
    /* (stage, index in stage, cin, cout, stride) of the 13 depthwise-separable units */
    static const struct { int stage, idx, cin, cout, stride; } units[RF_MNET_UNITS] = {
        {1, 1, 8, 16, 1},    {1, 2, 16, 32, 2},   {1, 3, 32, 32, 1},   {1, 4, 32, 64, 2},
        {1, 5, 64, 64, 1},   {2, 0, 64, 128, 2},  {2, 1, 128, 128, 1}, {2, 2, 128, 128, 1},
        {2, 3, 128, 128, 1}, {2, 4, 128, 128, 1}, {2, 5, 128, 128, 1}, {3, 0, 128, 256, 2},
        {3, 1, 256, 256, 1}};
    seq_conv_bn(b, &m->stem, "body.stage1.0", 3, 8, 3, 2);
    for (int i = 0; i < RF_MNET_UNITS; i++) {
        char c[96], n[96];
        const char *p = "body.stage";
        snprintf(c, sizeof c, "%s%d.%d.0", p, units[i].stage, units[i].idx);
        snprintf(n, sizeof n, "%s%d.%d.1", p, units[i].stage, units[i].idx);
        conv_bn(b, &m->units[i].dw, c, n, units[i].cin, units[i].cin, 3, units[i].stride,
                units[i].cin);
        snprintf(c, sizeof c, "%s%d.%d.3", p, units[i].stage, units[i].idx);
        snprintf(n, sizeof n, "%s%d.%d.4", p, units[i].stage, units[i].idx);
        conv_bn(b, &m->units[i].pw, c, n, units[i].cin, units[i].cout, 1, 1, 1);
    }
}

static void build_neck_and_heads(builder *b, rf_model *m, const int feat_channels[3])
{
    const int w = m->width;
    char p[96];
    for (int i = 0; i < 3; i++) {
        snprintf(p, sizeof p, "fpn.output%d", i + 1);
        seq_conv_bn(b, &m->fpn_lateral[i], p, feat_channels[i], w, 1, 1);
    }
    for (int i = 0; i < 2; i++) {
        snprintf(p, sizeof p, "fpn.merge%d", i + 1);
        seq_conv_bn(b, &m->fpn_merge[i], p, w, w, 3, 1);
    }
    for (int i = 0; i < 3; i++) {
        rf_ssh *s = &m->ssh[i];
#define SSH_PART(field, key, ci, co)                                                            \
    snprintf(p, sizeof p, "ssh%d.%s", i + 1, key);                                              \
    seq_conv_bn(b, &s->field, p, ci, co, 3, 1)
        SSH_PART(conv3x3, "conv3X3", w, w / 2);
        SSH_PART(conv5x5_1, "conv5X5_1", w, w / 4);
        SSH_PART(conv5x5_2, "conv5X5_2", w / 4, w / 4);
        SSH_PART(conv7x7_2, "conv7X7_2", w / 4, w / 4);
        SSH_PART(conv7x7_3, "conv7x7_3", w / 4, w / 4);
#undef SSH_PART
    }
    for (int i = 0; i < 3; i++) {
        snprintf(p, sizeof p, "ClassHead.%d.conv1x1", i);
        conv_biased(b, &m->head_cls[i], p, w, 2 * 2);
        snprintf(p, sizeof p, "BboxHead.%d.conv1x1", i);
        conv_biased(b, &m->head_box[i], p, w, 2 * 4);
        snprintf(p, sizeof p, "LandmarkHead.%d.conv1x1", i);
        conv_biased(b, &m->head_ldm[i], p, w, 2 * 10);
    }
}

static void build(builder *b, rf_model *m)
{
    static const int r50_feats[3] = {512, 1024, 2048}, mnet_feats[3] = {64, 128, 256};
    b->nfloats = 0;
    b->parameters = 0;
    if (m->backbone == RF_BACKBONE_RESNET50)
        build_resnet50(b, m);
    else
        build_mobilenet(b, m);
    build_neck_and_heads(b, m, m->backbone == RF_BACKBONE_RESNET50 ? r50_feats : mnet_feats);
}

static void set_backbone(rf_model *m, rf_backbone backbone, rf_anchors anchors)
{
    m->backbone = backbone;
    m->anchors = anchors;
    m->width = backbone == RF_BACKBONE_RESNET50 ? 256 : 64;
    m->fpn_act = backbone == RF_BACKBONE_MOBILENET025 && anchors == RF_ANCHORS_RETINAFACE
                     ? (rf_act){RF_ACT_LEAKY, 0.1f}
                     : (rf_act){RF_ACT_RELU, 0.0f};
    m->body_act = m->fpn_act;
}

rf_model *rf_model_skeleton(rf_backbone backbone, rf_anchors anchors)
{
    rf_model *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    set_backbone(m, backbone, anchors);
    m->reference_weights = 1;
    builder b = {.status = RF_OK};
    build(&b, m);
    m->parameters = b.parameters;
    return m;
}

/* Every convolution the model has (those of the other backbone have no weights). */
static int model_convs(rf_model *m, rf_conv **list)
{
    int n = 0;
    list[n++] = &m->stem;
    for (int i = 0; i < RF_R50_BLOCKS; i++) {
        list[n++] = &m->blocks[i].conv1;
        list[n++] = &m->blocks[i].conv2;
        list[n++] = &m->blocks[i].conv3;
        list[n++] = &m->blocks[i].downsample;
    }
    for (int i = 0; i < RF_MNET_UNITS; i++) {
        list[n++] = &m->units[i].dw;
        list[n++] = &m->units[i].pw;
    }
    for (int i = 0; i < 3; i++) {
        list[n++] = &m->fpn_lateral[i];
        if (i < 2)
            list[n++] = &m->fpn_merge[i];
        list[n++] = &m->ssh[i].conv3x3;
        list[n++] = &m->ssh[i].conv5x5_1;
        list[n++] = &m->ssh[i].conv5x5_2;
        list[n++] = &m->ssh[i].conv7x7_2;
        list[n++] = &m->ssh[i].conv7x7_3;
        list[n++] = &m->head_cls[i];
        list[n++] = &m->head_box[i];
        list[n++] = &m->head_ldm[i];
    }
    return n;
}

/* Gives the whole pages inside [p, p + n) back to the system: a heap block's read as zeros
 * afterwards, a file mapping's are read again from the file. */
static void release_pages(const float *p, size_t n)
{
    const long size = sysconf(_SC_PAGESIZE);
    const uintptr_t page = size > 0 ? (uintptr_t)size : 4096;
    const uintptr_t start = ((uintptr_t)p + page - 1) & ~(page - 1);
    const uintptr_t end = ((uintptr_t)(p + n)) & ~(page - 1);
    if (end > start)
        madvise((void *)start, end - start, MADV_DONTNEED);
}

/* Moves the biases, which every kernel set reads, out of m->weights into a block of their own
 * and frees the rest: what the model keeps of its plain-layout weights once packed. */
static rf_status keep_only_biases(rf_model *m, rf_conv **convs, int n, const char *path,
                                  rf_error *err)
{
    size_t floats = 0;
    for (int i = 0; i < n; i++)
        floats += convs[i]->bias ? ((size_t)convs[i]->cout + 15) & ~(size_t)15 : 0;
    float *biases = aligned_alloc(64, floats * sizeof(float)), *next = biases;
    if (!biases)
        return rf_fail(err, RF_E_NOMEM, "%s: out of memory for the biases", path);
    for (int i = 0; i < n; i++) {
        if (!convs[i]->bias)
            continue;
        memcpy(next, convs[i]->bias, sizeof(float) * (size_t)convs[i]->cout);
        convs[i]->bias = next;
        convs[i]->weight = NULL;
        next += ((size_t)convs[i]->cout + 15) & ~(size_t)15;
    }
    free(m->weights);
    m->weights = biases;
    m->reference_weights = 0;
    return RF_OK;
}

/* Weights re-laid for the SIMD kernels, once, so contexts share them read-only: every layer's
 * block in one allocation (huge pages, see rf_alloc_large). Unless the caller keeps them, each
 * layer's plain-layout weights are let go as soon as it is packed, so the two copies are never
 * whole in memory together: 109 MB less resident for ResNet50 (test_native measures it). A
 * native file's stay in the file. */
static rf_status pack_convs(rf_model *m, unsigned flags, const char *path, rf_error *err)
{
    const rf_kernel_set *ks = rf_kernels_select(RF_KERNELS_AUTO);
    rf_conv *convs[RF_MODEL_MAX_CONVS];
    const int n = model_convs(m, convs);
    if (!ks->pack_size)
        return RF_OK;
    size_t total = 0;
    for (int i = 0; i < n; i++) /* convs[i]->weight is NULL in a layer of the other backbone */
        total += convs[i]->weight ? ks->pack_size(convs[i], &(rf_packed){0}) : 0;
    unsigned char *next = m->packed_region = rf_alloc_large(total);
    if (!next)
        return rf_fail(err, RF_E_NOMEM, "%s: out of memory for %zu MB of packed weights", path,
                       total >> 20);
    const int drop = !(flags & RF_LOAD_KEEP_REFERENCE);
    for (int i = 0; i < n; i++) {
        if (!convs[i]->weight)
            continue;
        ks->pack(convs[i], next);
        convs[i]->packed = next;
        next += ks->pack_size(convs[i], &(rf_packed){0});
        if (drop || m->mapping)
            release_pages(convs[i]->weight, (size_t)rf_conv_weight_count(convs[i]));
    }
    return drop && !m->mapping ? keep_only_biases(m, convs, n, path, err) : RF_OK;
}

/* Every loaded model gets its packed weights here, unless its native file already held the
 * blocks this build's kernels want. A checkpoint is freed before this, so its bytes and the
 * packed copies are never in memory together. */
static rf_status pack_loaded(rf_status st, rf_model **out, unsigned flags, const char *path,
                             rf_error *err)
{
    if (st == RF_OK && !(*out)->packed_mapped &&
        (st = pack_convs(*out, flags, path, err)) != RF_OK) {
        rf_model_free(*out);
        *out = NULL;
    }
    return st;
}

static rf_status model_from_checkpoint(const rf_checkpoint *ckpt, const char *path,
                                       rf_anchors anchors, rf_model **out, rf_error *err)
{
    rf_model *m = calloc(1, sizeof *m);
    builder b = {.ckpt = ckpt, .path = path, .err = err, .status = RF_OK};
    if (!m || !(b.used = calloc((size_t)ckpt->count + 1, 1))) {
        free(m);
        return rf_fail(err, RF_E_NOMEM, "%s: out of memory", path);
    }
    m->reference_weights = 1;
    if (rf_checkpoint_find(ckpt, "body.conv1.weight")) {
        set_backbone(m, RF_BACKBONE_RESNET50, anchors);
    } else if (rf_checkpoint_find(ckpt, "body.stage1.0.0.weight")) {
        set_backbone(m, RF_BACKBONE_MOBILENET025, anchors);
    } else {
        free(b.used);
        free(m);
        return rf_fail(err, RF_E_MODEL,
                       "%s: not a RetinaFace checkpoint (no 'body.conv1.weight' of ResNet50 nor "
                       "'body.stage1.0.0.weight' of MobileNet0.25 among its %d tensors)",
                       path, ckpt->count);
    }
    build(&b, m);
    for (int i = 0; b.status == RF_OK && i < ckpt->count; i++)
        if (!b.used[i]) {
            /* the name comes from the file: keep the message one printable line */
            char shown[128];
            size_t n = 0;
            for (const char *c = ckpt->tensors[i].name; *c && n + 1 < sizeof shown; c++)
                shown[n++] = *c >= 0x20 && *c < 0x7f ? *c : '?';
            shown[n] = '\0';
            b.status = rf_fail(err, RF_E_MODEL, "%s: unexpected tensor '%s' for a %s RetinaFace",
                               path, shown, rf_backbone_name(m->backbone));
        }
    if (b.status == RF_OK) {
        size_t bytes = rf_mul_size(b.nfloats, sizeof(float));
        m->weights = bytes ? aligned_alloc(64, bytes) : NULL;
        if (!m->weights)
            b.status = rf_fail(err, RF_E_NOMEM, "%s: out of memory for %zu bytes of weights",
                               path, bytes);
    }
    if (b.status == RF_OK) {
        b.weights = m->weights;
        build(&b, m);
        m->parameters = b.parameters;
    }
    free(b.used);
    if (b.status != RF_OK) {
        rf_model_free(m);
        return b.status;
    }
    *out = m;
    return rf_ok(err);
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
    st = model_from_checkpoint(&ckpt, path, anchors, out, err);
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
    st = model_from_checkpoint(&ckpt, "<memory>", anchors, out, err);
    rf_checkpoint_free(&ckpt);
    return pack_loaded(st, out, flags, "<memory>", err);
}

rf_status rf_model_load_memory(const void *data, size_t size, rf_anchors anchors,
                               rf_model **out, rf_error *err)
{
    return rf_model_load_memory_flags(data, size, anchors, 0, out, err);
}

void rf_model_free(rf_model *m)
{
    if (!m)
        return;
    free(m->packed_region);
    if (m->mapping)
        munmap(m->mapping, m->mapping_size);
    free(m->weights);
    free(m);
}

rf_backbone rf_model_backbone(const rf_model *m) { return m->backbone; }
int rf_model_has_reference_weights(const rf_model *m) { return m->reference_weights; }

rf_status rf_model_need_reference(const rf_model *m, const char *what, rf_error *err)
{
    if (m->reference_weights)
        return RF_OK;
    return rf_fail(err, RF_E_UNSUPPORTED,
                   "%s reads the model's weights in their plain layout, which this model let go "
                   "once packed: load it with RF_LOAD_KEEP_REFERENCE",
                   what);
}
rf_anchors rf_model_anchors(const rf_model *m) { return m->anchors; }
int64_t rf_model_parameters(const rf_model *m) { return m->parameters; }

const char *rf_backbone_name(rf_backbone backbone)
{
    return backbone == RF_BACKBONE_RESNET50 ? "resnet50" : "mobilenet0.25";
}

const char *rf_anchors_name(rf_anchors anchors)
{
    return anchors == RF_ANCHORS_FACE1MB ? "face1mb" : "retinaface";
}

rf_status rf_anchors_parse(const char *name, rf_anchors *out)
{
    if (name && !strcmp(name, "retinaface"))
        *out = RF_ANCHORS_RETINAFACE;
    else if (name && !strcmp(name, "face1mb"))
        *out = RF_ANCHORS_FACE1MB;
    else
        return RF_E_ARG;
    return RF_OK;
}
