/* model.c - the model: built from a checkpoint (backbone recognised, every tensor checked, BatchNorm folded), and its weights packed for the kernel sets that read them. */
#define _DEFAULT_SOURCE /* madvise */
#include "core/model.h"

#include "base/common.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define BN_EPS 1e-5

/* Takes a checkpoint's tensors layer by layer, in the order of the table: first to check them
 * all, then (with the weights allocated) to fold them in. */
typedef struct {
    const rf_checkpoint *ckpt;
    const char *path;
    unsigned char *used; /* per checkpoint tensor */
    rf_error *err;
    rf_status status;
} builder;

static size_t padded_floats(size_t n)
{
    return (n + 15) & ~(size_t)15; /* 64-byte aligned starts for the SIMD kernels */
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

/* The float32 tensor "<prefix>.<suffix>" with the given shape, marked used; NULL (and
 * b->status set) if it is missing or has another dtype or shape. */
static const float *take(builder *b, const char *prefix, const char *suffix, int ndim,
                         const int64_t *shape)
{
    if (b->status != RF_OK)
        return NULL;
    char name[2 * RF_LAYER_KEY];
    snprintf(name, sizeof name, "%s.%s", prefix, suffix);
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

/* Layer l's tensors, checked and marked used; with weight and bias (room for the layer's
 * weights and cout biases) also folded in: a BatchNorm as w' = w * g / sqrt(v + eps),
 * b' = beta - m * g / sqrt(v + eps). Weights are re-laid from torch's [cout][cin/groups][kh][kw]
 * to [kh][kw][cin][cout] (dense) or [kh][kw][c] (depthwise). */
static void load_layer(builder *b, const rf_layer *l, float *weight, float *bias)
{
    const rf_conv *c = &l->conv;
    const int cout = c->cout, cig = c->cin / c->groups;
    const int64_t wshape[4] = {cout, cig, c->kh, c->kw}, n = cout;
    const float *w = take(b, l->key, "weight", 4, wshape);
    const float *shift, *gamma = NULL, *mean = NULL, *var = NULL;
    if (l->kind == RF_LAYER_CONV_BIAS) {
        shift = take(b, l->key, "bias", 1, &n);
    } else {
        gamma = take(b, l->bn, "weight", 1, &n);
        shift = take(b, l->bn, "bias", 1, &n);
        mean = take(b, l->bn, "running_mean", 1, &n);
        var = take(b, l->bn, "running_var", 1, &n);
        char name[2 * RF_LAYER_KEY];
        snprintf(name, sizeof name, "%s.num_batches_tracked", l->bn);
        const rf_ckpt_tensor *nbt = rf_checkpoint_find(b->ckpt, name);
        if (nbt && b->status == RF_OK) {
            b->used[nbt - b->ckpt->tensors] = 1;
            if (nbt->dtype != RF_DTYPE_I64 || nbt->numel != 1)
                b->status = rf_fail(b->err, RF_E_MODEL, "%s: tensor '%s' is not an int64 scalar",
                                    b->path, name);
        }
    }
    if (!weight || b->status != RF_OK)
        return;
    /* tap t, input channel ci of output channel co goes to t * tap_stride + ci * cout + co */
    const int taps = c->kh * c->kw;
    const size_t tap_stride = (size_t)cig * (size_t)cout;
    for (int co = 0; co < cout; co++) {
        const float *src = w + (size_t)co * (size_t)cig * (size_t)taps;
        float *dst = weight + co;
        if (!gamma) {
            bias[co] = shift[co];
            for (int ci = 0; ci < cig; ci++)
                for (int t = 0; t < taps; t++)
                    dst[t * tap_stride + (size_t)ci * cout] = src[ci * taps + t];
            continue;
        }
        const double scale = gamma[co] / sqrt((double)var[co] + BN_EPS);
        bias[co] = (float)(shift[co] - mean[co] * scale);
        for (int ci = 0; ci < cig; ci++)
            for (int t = 0; t < taps; t++)
                dst[t * tap_stride + (size_t)ci * cout] = (float)(src[ci * taps + t] * scale);
    }
}

static void set_parameters(rf_model *m)
{
    m->parameters = 0;
    for (int i = 0; i < m->layers.count; i++)
        m->parameters += rf_layer_parameters(&m->layers.layer[i]);
}

rf_model *rf_model_skeleton(rf_backbone backbone, rf_anchors anchors)
{
    rf_model *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    if (pthread_mutex_init(&m->lock, NULL) != 0) {
        free(m);
        return NULL;
    }
    rf_layers_describe(backbone, anchors, &m->layers);
    m->reference_weights = 1;
    set_parameters(m);
    return m;
}

static int has_tensor(const void *ckpt, const char *key)
{
    return rf_checkpoint_find(ckpt, key) != NULL;
}

rf_status rf_model_from_checkpoint(const rf_checkpoint *ckpt, const char *path,
                                   rf_anchors anchors, rf_model **out, rf_error *err)
{
    rf_backbone backbone;
    char looked_for[256];
    if (!rf_layers_recognise(has_tensor, ckpt, &backbone, looked_for, sizeof looked_for))
        return rf_fail(err, RF_E_MODEL,
                       "%s: not a RetinaFace checkpoint (no %s among its %d tensors)", path,
                       looked_for, ckpt->count);
    rf_model *m = rf_model_skeleton(backbone, anchors);
    builder b = {.ckpt = ckpt, .path = path, .err = err, .status = RF_OK};
    if (!m || !(b.used = calloc((size_t)ckpt->count + 1, 1))) {
        rf_model_free(m);
        return rf_fail(err, RF_E_NOMEM, "%s: out of memory", path);
    }
    rf_layers *t = &m->layers;
    size_t floats = 0;
    for (int i = 0; i < t->count; i++) {
        load_layer(&b, &t->layer[i], NULL, NULL);
        floats += padded_floats((size_t)rf_conv_weight_count(&t->layer[i].conv)) +
                  padded_floats((size_t)t->layer[i].conv.cout);
    }
    for (int i = 0; b.status == RF_OK && i < ckpt->count; i++)
        if (!b.used[i]) {
            /* the name comes from the file: keep the message one printable line */
            char shown[128];
            size_t n = 0;
            for (const char *c = ckpt->tensors[i].name; *c && n + 1 < sizeof shown; c++)
                shown[n++] = *c >= 0x20 && *c < 0x7f ? *c : '?';
            shown[n] = '\0';
            b.status = rf_fail(err, RF_E_MODEL, "%s: unexpected tensor '%s' for a %s RetinaFace",
                               path, shown, rf_backbone_name(backbone));
        }
    if (b.status == RF_OK) {
        size_t bytes = rf_mul_size(floats, sizeof(float));
        m->weights = bytes ? aligned_alloc(64, bytes) : NULL;
        if (!m->weights)
            b.status = rf_fail(err, RF_E_NOMEM, "%s: out of memory for %zu bytes of weights",
                               path, bytes);
    }
    float *next = m->weights;
    for (int i = 0; b.status == RF_OK && i < t->count; i++) {
        rf_conv *c = &t->layer[i].conv;
        c->weight = next;
        next += padded_floats((size_t)rf_conv_weight_count(c));
        c->bias = next;
        next += padded_floats((size_t)c->cout);
        load_layer(&b, &t->layer[i], c->weight, c->bias);
    }
    free(b.used);
    if (b.status != RF_OK) {
        rf_model_free(m);
        return b.status;
    }
    *out = m;
    return rf_ok(err);
}

/* ------------------------------------------------------------------------------ packings */
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
static rf_status keep_only_biases(rf_model *m, const char *path, rf_error *err)
{
    size_t floats = 0;
    for (int i = 0; i < m->layers.count; i++)
        floats += padded_floats((size_t)m->layers.layer[i].conv.cout);
    float *biases = aligned_alloc(64, floats * sizeof(float)), *next = biases;
    if (!biases)
        return rf_fail(err, RF_E_NOMEM, "%s: out of memory for the biases", path);
    for (int i = 0; i < m->layers.count; i++) {
        rf_conv *c = &m->layers.layer[i].conv;
        memcpy(next, c->bias, sizeof(float) * (size_t)c->cout);
        c->bias = next;
        c->weight = NULL;
        for (int p = 0; p < m->npackings; p++) {
            m->packings[p].convs[i].bias = c->bias;
            m->packings[p].convs[i].weight = NULL;
        }
        next += padded_floats((size_t)c->cout);
    }
    free(m->weights);
    m->weights = biases;
    m->reference_weights = 0;
    return RF_OK;
}

void rf_model_set_ranges(rf_model *m, const float (*ranges)[2])
{
    pthread_mutex_lock(&m->lock);
    for (int i = 0; i < m->layers.count; i++) {
        const int set = ranges && ranges[i][0] < ranges[i][1];
        const float lo = set ? ranges[i][0] : 0.0f, hi = set ? ranges[i][1] : 0.0f;
        m->layers.layer[i].conv.range_lo = lo;
        m->layers.layer[i].conv.range_hi = hi;
        for (int p = 0; p < m->npackings; p++) {
            m->packings[p].convs[i].range_lo = lo;
            m->packings[p].convs[i].range_hi = hi;
        }
    }
    pthread_mutex_unlock(&m->lock);
}

static rf_packing *find_packing(const rf_model *m, rf_pack_fn pack, uint32_t version)
{
    for (int i = 0; i < m->npackings; i++)
        if (m->packings[i].pack == pack && m->packings[i].version == version)
            return (rf_packing *)&m->packings[i];
    return NULL;
}

/* Adds a packing whose layer i reads blocks[i] (NULL for the plain layout); the region, if
 * any, becomes the packing's. Called with the lock held, or before the model is shared. */
static rf_status add_packing(rf_model *m, rf_pack_fn pack, uint32_t version,
                             void *const *blocks, void *region, rf_error *err)
{
    rf_conv *convs = m->npackings < RF_MAX_PACKINGS
                         ? malloc(sizeof *convs * (size_t)m->layers.count)
                         : NULL;
    if (!convs) {
        free(region);
        return m->npackings < RF_MAX_PACKINGS
                   ? rf_fail(err, RF_E_NOMEM, "out of memory for a weight layout")
                   : rf_fail(err, RF_E_LIMIT, "more than %d weight layouts", RF_MAX_PACKINGS);
    }
    for (int i = 0; i < m->layers.count; i++) {
        convs[i] = m->layers.layer[i].conv;
        convs[i].packed = blocks ? blocks[i] : NULL;
    }
    m->packings[m->npackings++] = (rf_packing){pack, version, convs, region};
    return RF_OK;
}

rf_status rf_model_add_packing(rf_model *m, rf_pack_fn pack, uint32_t version,
                               void *const *blocks, rf_error *err)
{
    return add_packing(m, pack, version, blocks, NULL, err);
}

/* Packs every layer for ks into one allocation (huge pages, see rf_alloc_large) and adds the
 * packing. With drop, each layer's plain-layout weights are let go as soon as it is packed
 * (109 MB less resident for ResNet50: test_native measures it); a native file's stay in the
 * file. */
static rf_status pack_layers(rf_model *m, const rf_kernel_set *ks, int drop, const char *path,
                             rf_error *err)
{
    const int n = m->layers.count;
    size_t total = 0;
    for (int i = 0; i < n; i++)
        total += ks->pack_size(&m->layers.layer[i].conv, &(rf_packed){0});
    unsigned char *region = rf_alloc_large(total), *next = region;
    if (!region)
        return rf_fail(err, RF_E_NOMEM, "%s: out of memory for %zu MB of packed weights", path,
                       total >> 20);
    void *blocks[RF_MAX_LAYERS];
    for (int i = 0; i < n; i++) {
        const rf_conv *c = &m->layers.layer[i].conv;
        ks->pack(c, next);
        blocks[i] = next;
        next += ks->pack_size(c, &(rf_packed){0});
        if (drop || m->mapping)
            release_pages(c->weight, (size_t)rf_conv_weight_count(c));
    }
    rf_status st = drop && !m->mapping ? keep_only_biases(m, path, err) : RF_OK;
    if (st != RF_OK) {
        free(region);
        return st;
    }
    return add_packing(m, ks->pack, ks->pack_layout, blocks, region, err);
}

rf_status rf_model_pack_at_load(rf_model *m, unsigned flags, const char *path, rf_error *err)
{
    const rf_precision precision = flags & RF_LOAD_INT8   ? RF_PRECISION_INT8
                                   : flags & RF_LOAD_BF16 ? RF_PRECISION_BF16
                                                          : RF_PRECISION_FP32;
    const rf_kernel_set *ks = rf_kernels_select(RF_KERNELS_AUTO, precision, NULL);
    if (!ks) /* the CPU lacks that precision's kernels: contexts will say so */
        ks = rf_kernels_select(RF_KERNELS_AUTO, RF_PRECISION_FP32, NULL);
    if (!ks->pack || find_packing(m, ks->pack, ks->pack_layout))
        return RF_OK;
    return pack_layers(m, ks, !(flags & RF_LOAD_KEEP_REFERENCE), path, err);
}

rf_status rf_model_layers_for(const rf_model *model, const rf_kernel_set *ks, const rf_conv **out,
                              rf_error *err)
{
    rf_model *m = (rf_model *)model; /* only its packings change, under the lock */
    pthread_mutex_lock(&m->lock);
    rf_packing *p = find_packing(m, ks->pack, ks->pack_layout);
    rf_status st = RF_OK;
    if (!p) {
        char what[64];
        snprintf(what, sizeof what, ks->pack ? "packing the weights for the %s kernel set"
                                             : "the %s kernel set", ks->name);
        st = rf_model_need_reference(m, what, err);
        if (st == RF_OK)
            st = ks->pack ? pack_layers(m, ks, 0, "model", err)
                          : add_packing(m, NULL, 0, NULL, NULL, err);
        p = st == RF_OK ? &m->packings[m->npackings - 1] : NULL;
    }
    pthread_mutex_unlock(&m->lock);
    *out = p ? p->convs : NULL;
    return st;
}

void rf_model_free(rf_model *m)
{
    if (!m)
        return;
    for (int i = 0; i < m->npackings; i++) {
        free(m->packings[i].convs);
        free(m->packings[i].region);
    }
    pthread_mutex_destroy(&m->lock);
    if (m->mapping)
        munmap(m->mapping, m->mapping_size);
    free(m->weights);
    free(m);
}

rf_backbone rf_model_backbone(const rf_model *m) { return m->layers.backbone; }
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
rf_anchors rf_model_anchors(const rf_model *m) { return m->layers.anchors; }
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
