/* onnx_export.c - the forward pass of network.c, traced, as an ONNX graph (opset 13, dynamic N/H/W), with a small protobuf encoder. */
#include "retinaface_tools.h"

#include "base/common.h"
#include "core/model.h"
#include "core/network.h"

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

/* ------------------------------------------------------------------------------ the trace */
#define MAX_VALUES 1024 /* ResNet50 makes about 300 */

/* The graph the forward pass makes: its ops arrive through rf_trace, in the order they run, and
 * become nodes on the values their inputs hold. */
typedef struct {
    rf_trace base; /* first: the ops see only this */
    graph g;
    value names[MAX_VALUES]; /* of each trace value (1-based) */
    int rows[MAX_VALUES];    /* k when the value is already laid as [N, anchors, k] */
    int count, overflow;
    value levels[3][3];      /* each output's rows per level */
    int nlevels;
} onnx_trace;

static const int head_k[3] = {2, 4, 10}; /* of the class, box and landmark outputs */

static int add_value(onnx_trace *t, value v, int rows)
{
    if (t->count + 1 >= MAX_VALUES) {
        t->overflow = 1;
        return 0;
    }
    t->count++;
    t->names[t->count] = v;
    t->rows[t->count] = rows;
    return t->count;
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

/* A head's [N, 2k, H, W] as [N, H*W*2, k]: pixel-major, two anchors per pixel. */
static value to_rows(graph *g, value x, int k)
{
    char shape[16];
    snprintf(shape, sizeof shape, "shape_%d", k);
    pb a = {0};
    const int64_t perm[4] = {0, 2, 3, 1};
    attr_ints(&a, "perm", perm, 4);
    const value in[2] = {node(g, "Transpose", &x, 1, NULL, &a), named(shape)};
    return node(g, "Reshape", in, 2, NULL, NULL);
}

static int trace_input(rf_trace *base)
{
    return add_value((onnx_trace *)base, named("data"), 0);
}

static int trace_conv(rf_trace *base, const rf_conv *c, int in, int residual, rf_act a)
{
    onnx_trace *t = (onnx_trace *)base;
    value y = conv(&t->g, c, t->names[in]);
    if (residual) {
        const value sum[2] = {y, t->names[residual]};
        y = node(&t->g, "Add", sum, 2, NULL, NULL);
    }
    return add_value(t, act(&t->g, y, a), 0);
}

static int trace_maxpool3s2(rf_trace *base, int in)
{
    onnx_trace *t = (onnx_trace *)base;
    pb a = {0};
    const int64_t k[2] = {3, 3}, s[2] = {2, 2}, p[4] = {1, 1, 1, 1};
    attr_ints(&a, "kernel_shape", k, 2);
    attr_ints(&a, "strides", s, 2);
    attr_ints(&a, "pads", p, 4);
    return add_value(t, node(&t->g, "MaxPool", &t->names[in], 1, NULL, &a), 0);
}

/* The coarser level, nearest-upsampled to dst's own (dynamic) size as network.c does (source
 * index floor(dst * in / out)), added. */
static int trace_add_upsampled(rf_trace *base, int dst, int src)
{
    onnx_trace *t = (onnx_trace *)base;
    graph *g = &t->g;
    const value size = node(g, "Shape", &t->names[dst], 1, NULL, NULL);
    const value in[4] = {t->names[src], named(""), named(""), size};
    pb a = {0};
    attr_str(&a, "mode", "nearest");
    attr_str(&a, "coordinate_transformation_mode", "asymmetric");
    attr_str(&a, "nearest_mode", "floor");
    const value sum[2] = {t->names[dst], node(g, "Resize", in, 4, NULL, &a)};
    return add_value(t, node(g, "Add", sum, 2, NULL, NULL), 0);
}

/* Each anchor's two class scores are a pair of channels: as rows [N, anchors, 2], a softmax on
 * the last axis. */
static int trace_softmax_pairs(rf_trace *base, int in)
{
    onnx_trace *t = (onnx_trace *)base;
    const value rows = to_rows(&t->g, t->names[in], 2);
    pb a = {0};
    attr_int(&a, "axis", 2);
    return add_value(t, node(&t->g, "Softmax", &rows, 1, NULL, &a), 2);
}

static int trace_concat(rf_trace *base, const rf_tensor *parts, int n)
{
    onnx_trace *t = (onnx_trace *)base;
    value in[4];
    if (n > 4) {
        t->overflow = 1;
        return 0;
    }
    for (int i = 0; i < n; i++)
        in[i] = t->names[parts[i].value];
    pb a = {0};
    attr_int(&a, "axis", 1);
    return add_value(t, node(&t->g, "Concat", in, n, NULL, &a), 0);
}

static void trace_outputs(rf_trace *base, int cls, int box, int ldm)
{
    onnx_trace *t = (onnx_trace *)base;
    const int v[3] = {cls, box, ldm};
    if (t->nlevels == 3) {
        t->overflow = 1;
        return;
    }
    for (int h = 0; h < 3; h++)
        t->levels[h][t->nlevels] =
            t->rows[v[h]] ? t->names[v[h]] : to_rows(&t->g, t->names[v[h]], head_k[h]);
    t->nlevels++;
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

static void build(onnx_trace *t, const rf_model *m, const rf_conv *convs)
{
    static const char *const outputs[3] = {"face_rpn_cls_prob", "face_rpn_bbox_pred",
                                           "face_rpn_landmark_pred"};
    graph *g = &t->g;
    pb_str(&g->g, GRAPH_NAME, "retinaface");
    const char *const in_params[4] = {"batch", NULL, "height", "width"};
    const int64_t in_dims[4] = {0, 3, 0, 0};
    value_info(&g->g, GRAPH_INPUT, "data", 4, in_dims, in_params);
    for (int h = 0; h < 3; h++) {
        char name[16];
        snprintf(name, sizeof name, "shape_%d", head_k[h]);
        const int64_t shape[3] = {0, -1, head_k[h]}, dims[1] = {3};
        initializer(g, name, ELEM_INT64, dims, 1, shape, 3);
    }
    t->base = (rf_trace){trace_input, trace_conv, trace_maxpool3s2, trace_add_upsampled,
                         trace_softmax_pairs, trace_concat, trace_outputs};
    rf_network_trace(&m->layers, convs, &t->base);
    if (t->nlevels != 3)
        t->overflow = 1;
    for (int h = 0; h < 3 && !t->overflow; h++) {
        pb a = {0};
        attr_int(&a, "axis", 1);
        node(g, "Concat", t->levels[h], 3, outputs[h], &a);
        const char *const params[3] = {"batch", "anchors", NULL};
        const int64_t dims[3] = {0, 0, head_k[h]};
        value_info(&g->g, GRAPH_OUTPUT, outputs[h], 3, dims, params);
    }
}

rf_status rf_model_save_onnx(const rf_model *model, const char *path, rf_error *err)
{
    if (!model || !path)
        return rf_fail(err, RF_E_ARG, "rf_model_save_onnx: null argument");
    if (rf_model_need_reference(model, "ONNX export", err) != RF_OK)
        return RF_E_UNSUPPORTED;
    /* the plain layout, as the reference kernels read it */
    const rf_conv *convs;
    rf_status st = rf_model_layers_for(
        model, rf_kernels_select(RF_KERNELS_REFERENCE, RF_PRECISION_FP32, NULL), &convs, err);
    if (st != RF_OK)
        return st;
    onnx_trace *t = calloc(1, sizeof *t);
    if (!t)
        return rf_fail(err, RF_E_NOMEM, "%s: out of memory", path);
    build(t, model, convs);
    graph g = t->g;
    const int overflow = t->overflow;
    free(t);
    pb head = {0}, opset = {0};
    pb_int(&head, MODEL_IR_VERSION, IR_VERSION);
    pb_str(&head, MODEL_PRODUCER, "retinaface.c");
    pb_str(&head, MODEL_PRODUCER_VERSION, RF_VERSION);
    pb_int(&opset, OPSET_VERSION, OPSET);
    pb_msg(&head, MODEL_OPSET, &opset);
    pb_key(&head, MODEL_GRAPH, WIRE_LEN); /* the graph follows, written without a copy */
    pb_varint(&head, g.g.len);
    if (overflow)
        st = rf_fail(err, RF_E_LIMIT, "%s: internal: the traced graph is not RetinaFace's", path);
    else if (head.oom || g.g.oom)
        st = rf_fail(err, RF_E_NOMEM, "%s: out of memory", path);
    rf_output o;
    if (st == RF_OK && (st = rf_output_open(&o, path, err)) == RF_OK) {
        if (fwrite(head.p, 1, head.len, o.f) != head.len ||
            fwrite(g.g.p, 1, g.g.len, o.f) != g.g.len)
            st = rf_fail(err, RF_E_IO, "%s: write failed: %s", path, strerror(errno));
        st = rf_output_close(&o, st, err);
    }
    free(head.p);
    free(g.g.p);
    return st == RF_OK ? rf_ok(err) : st;
}
