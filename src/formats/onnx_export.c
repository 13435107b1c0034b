/* onnx_export.c - the network of network.c as an ONNX graph (opset 13, dynamic N/H/W), with a small protobuf encoder. */
#include "retinaface_tools.h"

#include "base/common.h"
#include "core/model.h"
#include "base/outfile.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------------------ protobuf */
/* A growing buffer of encoded fields; `oom` sticks, so callers check once at the end. */
typedef struct {
    unsigned char *p;
    size_t len, cap;
    int oom;
} pb;

enum { WIRE_VARINT = 0, WIRE_LEN = 2, WIRE_I32 = 5 };

static void pb_raw(pb *b, const void *data, size_t n)
{
    if (b->oom)
        return;
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n)
            cap *= 2;
        unsigned char *grown = realloc(b->p, cap);
        if (!grown) {
            b->oom = 1;
            return;
        }
        b->p = grown;
        b->cap = cap;
    }
    memcpy(b->p + b->len, data, n);
    b->len += n;
}

static void pb_varint(pb *b, uint64_t v)
{
    unsigned char buf[10];
    int n = 0;
    do {
        buf[n++] = (unsigned char)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
        v >>= 7;
    } while (v);
    pb_raw(b, buf, (size_t)n);
}

static void pb_key(pb *b, int field, int wire) { pb_varint(b, (uint64_t)field << 3 | (uint64_t)wire); }

static void pb_int(pb *b, int field, int64_t v)
{
    pb_key(b, field, WIRE_VARINT);
    pb_varint(b, (uint64_t)v); /* negative int64: ten bytes, as protobuf wants */
}

static void pb_bytes(pb *b, int field, const void *data, size_t n)
{
    pb_key(b, field, WIRE_LEN);
    pb_varint(b, n);
    pb_raw(b, data, n);
}

static void pb_str(pb *b, int field, const char *s) { pb_bytes(b, field, s, strlen(s)); }

static void pb_float(pb *b, int field, float f)
{
    uint32_t x;
    memcpy(&x, &f, 4);
    const unsigned char le[4] = {(unsigned char)x, (unsigned char)(x >> 8),
                                 (unsigned char)(x >> 16), (unsigned char)(x >> 24)};
    pb_key(b, field, WIRE_I32);
    pb_raw(b, le, 4);
}

/* Appends sub as a length-delimited field and frees it. */
static void pb_msg(pb *b, int field, pb *sub)
{
    b->oom |= sub->oom;
    pb_bytes(b, field, sub->p, sub->len);
    free(sub->p);
    *sub = (pb){0};
}

/* ------------------------------------------------------------------------------ ONNX messages */
/* Field numbers of onnx.proto (ModelProto, GraphProto, NodeProto, AttributeProto,
 * TensorProto, ValueInfoProto, TypeProto, TensorShapeProto). */
enum {
    MODEL_IR_VERSION = 1, MODEL_PRODUCER = 2, MODEL_PRODUCER_VERSION = 3, MODEL_GRAPH = 7,
    MODEL_OPSET = 8, OPSET_VERSION = 2,
    GRAPH_NODE = 1, GRAPH_NAME = 2, GRAPH_INITIALIZER = 5, GRAPH_INPUT = 11, GRAPH_OUTPUT = 12,
    NODE_INPUT = 1, NODE_OUTPUT = 2, NODE_NAME = 3, NODE_OP = 4, NODE_ATTRIBUTE = 5,
    ATTR_NAME = 1, ATTR_F = 2, ATTR_I = 3, ATTR_S = 4, ATTR_INTS = 8, ATTR_TYPE = 20,
    TENSOR_DIMS = 1, TENSOR_TYPE = 2, TENSOR_NAME = 8, TENSOR_RAW = 9,
    VALUE_NAME = 1, VALUE_TYPE = 2, TYPE_TENSOR = 1, TTENSOR_ELEM = 1, TTENSOR_SHAPE = 2,
    SHAPE_DIM = 1, DIM_VALUE = 1, DIM_PARAM = 2
};
enum { ATTR_FLOAT = 1, ATTR_INT = 2, ATTR_STRING = 3, ATTR_INTS_TYPE = 7 };
enum { ELEM_FLOAT = 1, ELEM_INT64 = 7 };
#define IR_VERSION 7 /* the IR of opset 13 */
#define OPSET 13

static void attr_int(pb *a, const char *name, int64_t v)
{
    pb x = {0};
    pb_str(&x, ATTR_NAME, name);
    pb_int(&x, ATTR_TYPE, ATTR_INT);
    pb_int(&x, ATTR_I, v);
    pb_msg(a, NODE_ATTRIBUTE, &x);
}

static void attr_ints(pb *a, const char *name, const int64_t *v, int n)
{
    pb x = {0};
    pb_str(&x, ATTR_NAME, name);
    pb_int(&x, ATTR_TYPE, ATTR_INTS_TYPE);
    for (int i = 0; i < n; i++)
        pb_int(&x, ATTR_INTS, v[i]);
    pb_msg(a, NODE_ATTRIBUTE, &x);
}

static void attr_float(pb *a, const char *name, float v)
{
    pb x = {0};
    pb_str(&x, ATTR_NAME, name);
    pb_int(&x, ATTR_TYPE, ATTR_FLOAT);
    pb_float(&x, ATTR_F, v);
    pb_msg(a, NODE_ATTRIBUTE, &x);
}

static void attr_str(pb *a, const char *name, const char *s)
{
    pb x = {0};
    pb_str(&x, ATTR_NAME, name);
    pb_int(&x, ATTR_TYPE, ATTR_STRING);
    pb_str(&x, ATTR_S, s);
    pb_msg(a, NODE_ATTRIBUTE, &x);
}

/* ------------------------------------------------------------------------------ graph */
typedef struct {
    char s[32];
} value;

typedef struct {
    pb g;       /* the GraphProto's fields, nodes in execution order */
    int values; /* counter for value, node and initializer names */
} graph;

static value named(const char *s)
{
    value v;
    snprintf(v.s, sizeof v.s, "%s", s);
    return v;
}

/* A node of op on inputs, writing output (a fresh value when output is NULL); attrs is freed. */
static value node(graph *g, const char *op, const value *in, int nin, const char *output, pb *attrs)
{
    value out;
    if (output)
        out = named(output);
    else
        snprintf(out.s, sizeof out.s, "%s_%d", op, g->values++);
    pb n = {0};
    for (int i = 0; i < nin; i++)
        pb_str(&n, NODE_INPUT, in[i].s);
    pb_str(&n, NODE_OUTPUT, out.s);
    pb_str(&n, NODE_NAME, out.s);
    pb_str(&n, NODE_OP, op);
    if (attrs) {
        n.oom |= attrs->oom;
        pb_raw(&n, attrs->p, attrs->len);
        free(attrs->p);
    }
    pb_msg(&g->g, GRAPH_NODE, &n);
    return out;
}

/* Little-endian raw data, whatever the host. */
static void initializer(graph *g, const char *name, int elem, const int64_t *dims, int ndim,
                        const void *data, size_t count)
{
    pb t = {0};
    for (int i = 0; i < ndim; i++)
        pb_int(&t, TENSOR_DIMS, dims[i]);
    pb_int(&t, TENSOR_TYPE, elem);
    pb_str(&t, TENSOR_NAME, name);
    const size_t es = elem == ELEM_FLOAT ? 4 : 8;
    pb_key(&t, TENSOR_RAW, WIRE_LEN);
    pb_varint(&t, count * es);
    const unsigned char *src = data;
    for (size_t i = 0; i < count && !t.oom; i++) {
        unsigned char le[8];
        uint64_t v = 0;
        if (es == 4) {
            uint32_t x;
            memcpy(&x, src + 4 * i, 4);
            v = x;
        } else {
            memcpy(&v, src + 8 * i, 8);
        }
        for (size_t k = 0; k < es; k++)
            le[k] = (unsigned char)(v >> (8 * k));
        pb_raw(&t, le, es);
    }
    pb_msg(&g->g, GRAPH_INITIALIZER, &t);
}

/* The folded convolution, its weights back in ONNX's OIHW order. */
static value conv(graph *g, const rf_conv *c, value x)
{
    const int cig = c->groups == 1 ? c->cin : 1, k2 = c->kh * c->kw;
    const size_t count = (size_t)c->cout * cig * k2;
    float *oihw = malloc(count * sizeof *oihw);
    if (!oihw)
        g->g.oom = 1;
    for (int co = 0; oihw && co < c->cout; co++)
        for (int ci = 0; ci < cig; ci++)
            for (int t = 0; t < k2; t++)
                oihw[((size_t)co * cig + ci) * k2 + t] =
                    c->groups == 1 ? c->weight[((size_t)t * c->cin + ci) * c->cout + co]
                                   : c->weight[(size_t)t * c->cout + co];
    value in[3] = {x};
    snprintf(in[1].s, sizeof in[1].s, "W_%d", g->values);
    snprintf(in[2].s, sizeof in[2].s, "B_%d", g->values++);
    const int64_t wdims[4] = {c->cout, cig, c->kh, c->kw}, bdims[1] = {c->cout};
    if (oihw)
        initializer(g, in[1].s, ELEM_FLOAT, wdims, 4, oihw, count);
    free(oihw);
    initializer(g, in[2].s, ELEM_FLOAT, bdims, 1, c->bias, (size_t)c->cout);
    pb a = {0};
    const int64_t kernel[2] = {c->kh, c->kw}, strides[2] = {c->stride, c->stride},
                  pads[4] = {c->pad, c->pad, c->pad, c->pad}, dil[2] = {1, 1};
    attr_ints(&a, "kernel_shape", kernel, 2);
    attr_ints(&a, "strides", strides, 2);
    attr_ints(&a, "pads", pads, 4);
    attr_ints(&a, "dilations", dil, 2);
    attr_int(&a, "group", c->groups);
    return node(g, "Conv", in, 3, NULL, &a);
}

static value act(graph *g, value x, rf_act a)
{
    if (a.kind == RF_ACT_RELU)
        return node(g, "Relu", &x, 1, NULL, NULL);
    if (a.kind == RF_ACT_LEAKY) {
        pb at = {0};
        attr_float(&at, "alpha", a.slope);
        return node(g, "LeakyRelu", &x, 1, NULL, &at);
    }
    return x;
}

static value conv_act(graph *g, const rf_conv *c, value x, rf_act a) { return act(g, conv(g, c, x), a); }

static value add(graph *g, value a, value b)
{
    const value in[2] = {a, b};
    return node(g, "Add", in, 2, NULL, NULL);
}

static const rf_act relu = {RF_ACT_RELU, 0.0f};

/* Layer i of the table (without its activation, which the graph applies where the original
 * does). */
static const rf_conv *L(const rf_model *m, int i) { return &m->layers.layer[i].conv; }

static void resnet50_body(graph *g, const rf_model *m, value x, value c[3])
{
    const rf_resnet50_parts *r = &m->layers.body.r50;
    value y = conv_act(g, L(m, r->stem), x, relu);
    pb a = {0};
    const int64_t k[2] = {3, 3}, s[2] = {2, 2}, p[4] = {1, 1, 1, 1};
    attr_ints(&a, "kernel_shape", k, 2);
    attr_ints(&a, "strides", s, 2);
    attr_ints(&a, "pads", p, 4);
    y = node(g, "MaxPool", &y, 1, NULL, &a);
    for (int i = 0, f = 0; i < r->nblocks; i++) {
        const rf_bottleneck *b = &r->blocks[i];
        const value shortcut = b->downsample >= 0 ? conv(g, L(m, b->downsample), y) : y;
        value t = conv_act(g, L(m, b->conv1), y, relu);
        t = conv_act(g, L(m, b->conv2), t, relu);
        y = act(g, add(g, conv(g, L(m, b->conv3), t), shortcut), relu);
        if (f < 3 && i == m->layers.features[f])
            c[f++] = y;
    }
}

static void mobilenet_body(graph *g, const rf_model *m, value x, value c[3])
{
    const rf_mobilenet_parts *mn = &m->layers.body.mnet;
    const rf_act body_act = m->layers.layer[mn->stem].act;
    value y = conv_act(g, L(m, mn->stem), x, body_act);
    for (int i = 0, f = 0; i < mn->nunits; i++) {
        y = conv_act(g, L(m, mn->units[i].dw), y, body_act);
        y = conv_act(g, L(m, mn->units[i].pw), y, body_act);
        if (f < 3 && i == m->layers.features[f])
            c[f++] = y;
    }
}

/* FPN top-down: the coarser level, nearest-upsampled to the lateral's own (dynamic) size as
 * network.c does (source index floor(dst * in / out)), added, then merged. */
static void fpn(graph *g, const rf_model *m, const value c[3], value p[3])
{
    const rf_act fpn_act = m->layers.layer[m->layers.fpn_lateral[0]].act;
    for (int i = 0; i < 3; i++)
        p[i] = conv_act(g, L(m, m->layers.fpn_lateral[i]), c[i], fpn_act);
    for (int i = 1; i >= 0; i--) {
        const value size = node(g, "Shape", &p[i], 1, NULL, NULL);
        const value in[4] = {p[i + 1], named(""), named(""), size};
        pb a = {0};
        attr_str(&a, "mode", "nearest");
        attr_str(&a, "coordinate_transformation_mode", "asymmetric");
        attr_str(&a, "nearest_mode", "floor");
        const value up = node(g, "Resize", in, 4, NULL, &a);
        p[i] = conv_act(g, L(m, m->layers.fpn_merge[i]), add(g, p[i], up), fpn_act);
    }
}

/* SSH: the three linear branches concatenated, then one ReLU (network.c applies it per slice). */
static value ssh(graph *g, const rf_model *m, const rf_ssh *s, value x)
{
    const rf_act fpn_act = m->layers.layer[m->layers.fpn_lateral[0]].act;
    value br[3];
    br[0] = conv(g, L(m, s->conv3x3), x);
    const value t = conv_act(g, L(m, s->conv5x5_1), x, fpn_act);
    br[1] = conv(g, L(m, s->conv5x5_2), t);
    const value u = conv_act(g, L(m, s->conv7x7_2), t, fpn_act);
    br[2] = conv(g, L(m, s->conv7x7_3), u);
    pb a = {0};
    attr_int(&a, "axis", 1);
    const value cat = node(g, "Concat", br, 3, NULL, &a);
    return act(g, cat, relu);
}

/* A head's [N, 2k, H, W] as [N, H*W*2, k]: pixel-major, two anchors per pixel. */
static value head(graph *g, const rf_conv *c, value f, const char *shape)
{
    value h = conv(g, c, f);
    pb a = {0};
    const int64_t perm[4] = {0, 2, 3, 1};
    attr_ints(&a, "perm", perm, 4);
    const value in[2] = {node(g, "Transpose", &h, 1, NULL, &a), named(shape)};
    return node(g, "Reshape", in, 2, NULL, NULL);
}

static void value_info(pb *b, int field, const char *name, int ndim, const int64_t *dims,
                       const char *const *params)
{
    pb shape = {0};
    for (int i = 0; i < ndim; i++) {
        pb d = {0};
        if (params[i])
            pb_str(&d, DIM_PARAM, params[i]);
        else
            pb_int(&d, DIM_VALUE, dims[i]);
        pb_msg(&shape, SHAPE_DIM, &d);
    }
    pb tt = {0}, type = {0}, vi = {0};
    pb_int(&tt, TTENSOR_ELEM, ELEM_FLOAT);
    pb_msg(&tt, TTENSOR_SHAPE, &shape);
    pb_msg(&type, TYPE_TENSOR, &tt);
    pb_str(&vi, VALUE_NAME, name);
    pb_msg(&vi, VALUE_TYPE, &type);
    pb_msg(b, field, &vi);
}

static void build(graph *g, const rf_model *m)
{
    static const char *const outputs[3] = {"face_rpn_cls_prob", "face_rpn_bbox_pred",
                                           "face_rpn_landmark_pred"};
    static const int ks[3] = {2, 4, 10};
    pb_str(&g->g, GRAPH_NAME, "retinaface");
    const char *const in_params[4] = {"batch", NULL, "height", "width"};
    const int64_t in_dims[4] = {0, 3, 0, 0};
    value_info(&g->g, GRAPH_INPUT, "data", 4, in_dims, in_params);
    for (int h = 0; h < 3; h++) {
        char name[16];
        snprintf(name, sizeof name, "shape_%d", ks[h]);
        const int64_t shape[3] = {0, -1, ks[h]}, dims[1] = {3};
        initializer(g, name, ELEM_INT64, dims, 1, shape, 3);
    }
    value c[3], p[3], per_level[3][3];
    if (m->layers.backbone == RF_BACKBONE_RESNET50)
        resnet50_body(g, m, named("data"), c);
    else
        mobilenet_body(g, m, named("data"), c);
    fpn(g, m, c, p);
    for (int l = 0; l < 3; l++) {
        const value f = ssh(g, m, &m->layers.ssh[l], p[l]);
        const rf_conv *heads[3] = {L(m, m->layers.head_cls[l]), L(m, m->layers.head_box[l]),
                                   L(m, m->layers.head_ldm[l])};
        for (int h = 0; h < 3; h++) {
            char shape[16];
            snprintf(shape, sizeof shape, "shape_%d", ks[h]);
            per_level[h][l] = head(g, heads[h], f, shape);
        }
    }
    for (int h = 0; h < 3; h++) {
        pb a = {0};
        attr_int(&a, "axis", 1);
        if (h == 0) {
            const value logits = node(g, "Concat", per_level[h], 3, NULL, &a);
            pb s = {0};
            attr_int(&s, "axis", 2);
            node(g, "Softmax", &logits, 1, outputs[h], &s);
        } else {
            node(g, "Concat", per_level[h], 3, outputs[h], &a);
        }
        const char *const params[3] = {"batch", "anchors", NULL};
        const int64_t dims[3] = {0, 0, ks[h]};
        value_info(&g->g, GRAPH_OUTPUT, outputs[h], 3, dims, params);
    }
}

rf_status rf_model_save_onnx(const rf_model *model, const char *path, rf_error *err)
{
    if (!model || !path)
        return rf_fail(err, RF_E_ARG, "rf_model_save_onnx: null argument");
    if (rf_model_need_reference(model, "ONNX export", err) != RF_OK)
        return RF_E_UNSUPPORTED;
    graph g = {0};
    build(&g, model);
    pb head = {0}, opset = {0};
    pb_int(&head, MODEL_IR_VERSION, IR_VERSION);
    pb_str(&head, MODEL_PRODUCER, "retinaface.c");
    pb_str(&head, MODEL_PRODUCER_VERSION, RF_VERSION);
    pb_int(&opset, OPSET_VERSION, OPSET);
    pb_msg(&head, MODEL_OPSET, &opset);
    pb_key(&head, MODEL_GRAPH, WIRE_LEN); /* the graph follows, written without a copy */
    pb_varint(&head, g.g.len);
    rf_status st = RF_OK;
    if (head.oom || g.g.oom)
        st = rf_fail(err, RF_E_NOMEM, "%s: out of memory", path);
    rf_outfile o;
    if (st == RF_OK && (st = rf_outfile_open(&o, path, err)) == RF_OK) {
        if (fwrite(head.p, 1, head.len, o.f) != head.len ||
            fwrite(g.g.p, 1, g.g.len, o.f) != g.g.len)
            st = rf_fail(err, RF_E_IO, "%s: write failed: %s", path, strerror(errno));
        st = rf_outfile_close(&o, st, err);
    }
    free(head.p);
    free(g.g.p);
    return st == RF_OK ? rf_ok(err) : st;
}
