/* ops.c - layer operations: output shapes, row splits over the thread pool, the cheap element-wise ops. */
#include "core/ops.h"

#include <math.h>
#include <string.h>
#include <time.h>

enum { KIND_1X1, KIND_3X3, KIND_DEPTHWISE, KIND_7X7, KIND_OTHER };
const char *const rf_profile_kind_names[RF_PROFILE_KINDS] = {
    "conv 1x1", "conv 3x3", "conv 3x3 depthwise", "conv 7x7", "other"};

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static int conv_kind(const rf_conv *c)
{
    if (c->groups > 1)
        return KIND_DEPTHWISE;
    return c->kh == 1 ? KIND_1X1 : c->kh == 3 ? KIND_3X3 : KIND_7X7;
}

static double conv_flops(const rf_conv *c, const rf_tensor *out)
{
    return 2.0 * out->n * out->h * out->w * c->cout * (c->cin / c->groups) * c->kh * c->kw;
}

static void profile_add(rf_exec *ex, int kind, double t0, double flops)
{
    rf_profile_entry *e = &ex->profile[kind];
    e->kind = rf_profile_kind_names[kind];
    e->ms += now_ms() - t0;
    e->flops += flops;
    e->calls++;
}

/* Rows of work per task: several tasks per thread so uneven rows still balance. */
static int task_count(const rf_exec *ex, int rows)
{
    int tasks = rf_pool_threads(ex->pool) == 1 ? 1 : rf_pool_threads(ex->pool) * 4;
    return tasks < rows ? tasks : rows;
}

/* A convolution's tasks: row_tasks bands of rows times ch_tasks groups of channels. */
typedef struct {
    const rf_exec *ex;
    const rf_conv *conv;
    const rf_tensor *in, *residual, *out;
    const rf_conv_copy *copy;
    rf_act act;
    int rows, unit, row_tasks, ch_tasks;
} conv_job;

/* First row of row task t: an even share, moved to a multiple of the kernel's row unit within
 * its image so that no block of rows is computed by two tasks. */
static int task_row(const conv_job *j, int t)
{
    const int h = j->out->h, u = j->unit, r = (int)((int64_t)j->rows * t / j->row_tasks);
    const int img = r / h;
    const int y = (r % h + u / 2) / u * u;
    return img * h + (y < h ? y : h);
}

static void conv_task(void *arg, int t, int worker)
{
    const conv_job *j = arg;
    const int rt = t / j->ch_tasks, ct = t % j->ch_tasks;
    const int groups = (j->conv->cout + RF_CONV_CHANNEL_STEP - 1) / RF_CONV_CHANNEL_STEP;
    const int g0 = groups * ct / j->ch_tasks, g1 = groups * (ct + 1) / j->ch_tasks;
    const int ch1 = g1 * RF_CONV_CHANNEL_STEP;
    const rf_conv_part part = {task_row(j, rt), task_row(j, rt + 1), g0 * RF_CONV_CHANNEL_STEP,
                               ch1 < j->conv->cout ? ch1 : j->conv->cout};
    if (part.row0 < part.row1 && part.ch0 < part.ch1)
        j->ex->kernels->conv(j->conv, j->in, j->residual, j->act, j->out, j->copy, part,
                              j->ex->scratch ? j->ex->scratch[worker] : NULL);
}

/* Splits a convolution into tasks: by bands of rows, and also by groups of channels
 * - on small maps, when a Winograd layer has too few 4-row bands to keep the threads evenly
 *   busy (each channel group transforms the inputs again, so only then), or a direct one has
 *   fewer than 32 rows per thread (each row task reads all the weights, which small maps make
 *   the larger part of the traffic);
 * - when a Winograd layer's transformed kernels outweigh its transformed inputs (fewer output
 *   pixels than 16 per output channel): each row task streams all of them, and two threads
 *   doing so at once ran out of memory bandwidth (ResNet50's 40x40 layers, 256 channels);
 * - one task per thread, each with all the rows, for a layer whose kernel calls each prepare
 *   their weights (ResNet50's layer4 at 2 threads: 10.7 -> 9.0 ms). */
static void conv_split(const rf_exec *ex, conv_job *j)
{
    const int threads = rf_pool_threads(ex->pool);
    j->unit = ex->kernels->row_unit ? ex->kernels->row_unit(j->conv) : 1;
    const int bands = j->out->n * ((j->out->h + j->unit - 1) / j->unit);
    const int groups = (j->conv->cout + RF_CONV_CHANNEL_STEP - 1) / RF_CONV_CHANNEL_STEP;
    j->ch_tasks = 1;
    j->row_tasks = task_count(ex, j->rows);
    if (threads == 1 || groups == 1)
        return;
    if (ex->kernels->per_call_weights && ex->kernels->per_call_weights(j->conv)) {
        if (groups >= threads) {
            j->ch_tasks = threads;
            j->row_tasks = 1;
        }
    } else if (bands < (j->unit > 1 ? 4 : 32) * threads) {
        j->ch_tasks = groups < 2 * threads ? groups : 2 * threads;
        const int per = 4 * threads / j->ch_tasks;
        j->row_tasks = per < 1 ? 1 : per < bands ? per : bands;
    } else if (j->unit > 1 && groups >= threads &&
               (int64_t)j->rows * j->out->w < 16 * (int64_t)j->conv->cout) {
        j->ch_tasks = threads;
        j->row_tasks = 4 < bands ? 4 : bands;
    }
}

typedef void (*rows_fn)(const void *op, int row0, int row1);
typedef struct {
    rows_fn fn;
    const void *op;
    int rows, tasks;
} rows_job;
static void rows_task(void *arg, int t, int worker);

/* The convolution proper, on the input as the kernels read it; t0: when the op began. */
static void conv_run(rf_exec *ex, const rf_conv *conv, const rf_tensor *in,
                     const rf_tensor *residual, rf_act act, rf_tensor *out,
                     const rf_conv_copy *copy, double t0)
{
    if (ex->arena.planning) {
        ex->plan_flops += conv_flops(conv, out);
        const size_t scratch = ex->kernels->scratch_floats ? ex->kernels->scratch_floats(conv) : 0;
        if (scratch > ex->plan_scratch_floats)
            ex->plan_scratch_floats = scratch;
        return;
    }
    conv_job j = {ex, conv, in, residual, out, copy, act, out->n * out->h, 1, 0, 1};
    conv_split(ex, &j);
    rf_pool_run(ex->pool, conv_task, &j, j.row_tasks * j.ch_tasks);
    if (ex->profiling)
        profile_add(ex, conv_kind(conv), t0, conv_flops(conv, out));
}

/* The range of a tensor, its rows split over the pool. */
typedef struct {
    const rf_exec *ex;
    const rf_tensor *t;
    int tasks;
    float lo[256], hi[256];
} range_job;

static void range_task(void *arg, int t, int worker)
{
    (void)worker;
    range_job *j = arg;
    const int rows = j->t->n * j->t->h;
    /* float32 sets measure only to calibrate: the reference's loop does */
    void (*range)(const rf_tensor *, int, int, float *, float *) =
        j->ex->kernels->range ? j->ex->kernels->range : rf_range_reference;
    range(j->t, (int)((int64_t)rows * t / j->tasks), (int)((int64_t)rows * (t + 1) / j->tasks),
          &j->lo[t], &j->hi[t]);
}

typedef struct {
    const rf_exec *ex;
    const rf_conv *conv;
    const rf_tensor *src, *dst;
} convert_op;

static void convert_rows(const void *arg, int row0, int row1)
{
    const convert_op *op = arg;
    op->ex->kernels->convert_input(op->conv, op->src, op->dst, row0, row1);
}

void rf_ops_begin_pass(rf_exec *ex)
{
    for (int k = 0; k < RF_CONVERTED_ALL; k++)
        ex->converted[k].source = -1;
    memset(ex->writer, 0, sizeof ex->writer);
    memset(ex->pooled, 0, sizeof ex->pooled);
}

void rf_ops_end_pass(rf_exec *ex)
{
    for (int k = 0; k < RF_CONVERTED_ALL; k++)
        if (ex->converted[k].source >= 0) {
            rf_arena_release(&ex->arena, &ex->converted[k].copy);
            ex->converted[k].source = -1;
        }
}

/* Converted inputs made from tensor `id` are stale once it is written. A write through a view
 * (arena_id -1: SSH's channel slices of its output) does not reach here; the network writes
 * those slices before any layer reads the whole tensor. */
static void converted_stale(rf_exec *ex, int id)
{
    for (int k = 0; id >= 0 && k < RF_CONVERTED_ALL; k++)
        if (ex->converted[k].source == id) {
            rf_arena_release(&ex->arena, &ex->converted[k].copy);
            ex->converted[k].source = -1;
        }
}

/* Tensor t was written by an op other than a convolution (in place): no layer's copy of it. */
static void written_in_place(rf_exec *ex, const rf_tensor *t)
{
    converted_stale(ex, t->arena_id);
    if (t->arena_id >= 0) {
        ex->writer[t->arena_id] = NULL;
        ex->pooled[t->arena_id] = 0;
    }
}

/* The least and greatest value of t. */
static void measure_range(rf_exec *ex, const rf_tensor *t, float *lo, float *hi)
{
    range_job j = {.ex = ex, .t = t, .tasks = rf_pool_threads(ex->pool)};
    rf_pool_run(ex->pool, range_task, &j, j.tasks);
    *lo = j.lo[0];
    *hi = j.hi[0];
    for (int k = 1; k < j.tasks; k++) {
        *lo = j.lo[k] < *lo ? j.lo[k] : *lo;
        *hi = j.hi[k] > *hi ? j.hi[k] : *hi;
    }
}

static int calibrated(const rf_conv *conv) { return conv->range_lo < conv->range_hi; }

/* The uint8 quantization (scale, zero point) of conv's input `in` into *q: from the range
 * calibration found, else from in's own. */
static void quantization_of(rf_exec *ex, const rf_conv *conv, const rf_tensor *in, rf_tensor *q)
{
    float lo = conv->range_lo, hi = conv->range_hi;
    if (!calibrated(conv))
        measure_range(ex, in, &lo, &hi);
    rf_quant_params(lo, hi, &q->scale, &q->zero_point);
}

/* The slot holding tensor id converted as read with pad pixels around, or NULL. */
static rf_converted *slot_of(rf_exec *ex, int id, int pad, rf_read read)
{
    for (int k = 0; id >= 0 && k < RF_CONVERTED_ALL; k++) {
        rf_converted *c = &ex->converted[k];
        if (c->source == id && c->pad == pad && c->read == read)
            return c;
    }
    return NULL;
}

/* The slot a new converted tensor takes: a free one, else the one read longest ago (its tensor
 * given back). */
static rf_converted *free_slot(rf_exec *ex)
{
    rf_converted *slot = &ex->converted[0];
    for (int k = 1; k < RF_CONVERTED_KEEP && slot->source >= 0; k++) {
        rf_converted *c = &ex->converted[k];
        if (c->source < 0 || c->used < slot->used)
            slot = c;
    }
    if (slot->source >= 0)
        rf_arena_release(&ex->arena, &slot->copy);
    slot->source = -1;
    return slot;
}

/* The copy request of conv (NULL: none). */
static rf_copy_request *request_of(rf_exec *ex, const rf_conv *conv)
{
    for (int k = 0; conv && k < ex->ncopies; k++)
        if (ex->copies[k].conv == conv)
            return &ex->copies[k];
    return NULL;
}

/* The copy request of the convolution that wrote t last, or NULL. */
static rf_copy_request *request_of_writer(rf_exec *ex, const rf_tensor *t)
{
    return request_of(ex, t->arena_id >= 0 ? ex->writer[t->arena_id] : NULL);
}

/* An op reads tensor t's floats (a conversion that a copy will replace does not count): the
 * first planning pass notes it, so the convolution that wrote t stores them; a later pass that
 * finds them left unwritten keeps them and plans again. */
static void float_read(rf_exec *ex, const rf_tensor *t)
{
    const rf_conv *w = t->arena_id >= 0 ? ex->writer[t->arena_id] : NULL;
    if (ex->copy_mode == RF_COPIES_FINDING && w) {
        int k = 0;
        while (k < ex->nfloat_read && ex->float_read[k] != w)
            k++;
        if (k == ex->nfloat_read && k < RF_COPY_REQUESTS_MAX)
            ex->float_read[ex->nfloat_read++] = w;
    } else if (ex->copy_mode == RF_COPIES_ON) {
        rf_copy_request *r = request_of_writer(ex, t);
        if (r && !r->keep_float) {
            r->keep_float = 1;
            ex->replan = 1;
        }
    }
}

/* An arena tensor for map t (c channels) converted as `read` reads it, pad pixels around. */
static rf_tensor converted_tensor(rf_exec *ex, const rf_tensor *t, int c, rf_read read, int pad)
{
    rf_tensor q = rf_arena_tensor(&ex->arena, t->n, t->h + 2 * pad, t->w + 2 * pad,
                                  rf_conv_words(c, read == RF_READ_U8 ? RF_PRECISION_INT8
                                                                      : RF_PRECISION_BF16));
    q.values = read == RF_READ_U8 ? RF_VALUES_U8 : RF_VALUES_BF16;
    return q;
}

/* conv converts (read, pad) its input `in` by a pass of its own. The first planning pass notes
 * the convolution that wrote in, which then writes the copy itself (early_copy); U8 copies need
 * the quantization before the values exist: only calibrated layers have it. A conversion no
 * copy replaces reads the floats. In the passes after, a conversion of a tensor whose floats
 * were left unwritten (its copy was given back before this reader came) asks for another
 * planning pass, with those floats. */
static void conversion_pass(rf_exec *ex, const rf_conv *conv, const rf_tensor *in, rf_read read,
                            int pad)
{
    rf_copy_request *r = request_of_writer(ex, in);
    if (ex->copy_mode == RF_COPIES_ON) {
        float_read(ex, in);
        return;
    }
    rf_copy_request n = {NULL, read, pad, 0.0f, 0, 0, 0};
    if (read == RF_READ_U8 && calibrated(conv))
        rf_quant_params(conv->range_lo, conv->range_hi, &n.scale, &n.zero_point);
    if (ex->copy_mode == RF_COPIES_FINDING && r && r->read == read && r->pad == pad &&
        r->scale == n.scale && r->zero_point == n.zero_point) {
        r->pinned = 1; /* the same copy again, its slot given back since: kept instead */
        return;
    }
    const rf_conv *w = in->arena_id >= 0 ? ex->writer[in->arena_id] : NULL;
    const int pooled = in->arena_id >= 0 && ex->pooled[in->arena_id];
    if (ex->copy_mode != RF_COPIES_FINDING || r || !w ||
        (read == RF_READ_U8 && !calibrated(conv)) || !ex->kernels->writes_copy(w, read) ||
        (pooled && pad) || ex->ncopies == RF_COPY_REQUESTS_MAX) {
        float_read(ex, in); /* a second conversion, or of another kind, reads the floats */
        return;
    }
    n.conv = w;
    ex->copies[ex->ncopies++] = n;
}

void rf_ops_copies_found(rf_exec *ex)
{
    for (int k = 0; k < ex->ncopies; k++) {
        ex->copies[k].keep_float = 0;
        for (int j = 0; j < ex->nfloat_read; j++)
            ex->copies[k].keep_float |= ex->float_read[j] == ex->copies[k].conv;
    }
    ex->nfloat_read = 0;
}

/* The border of a U8 copy, pad pixels wide, filled with its zero point (the kernels write
 * the interior). */
static void fill_border(const rf_tensor *q, int pad)
{
    const uint32_t word = (uint32_t)q->zero_point * 0x01010101u;
    for (int i = 0; i < q->n; i++)
        for (int y = 0; y < q->h; y++) {
            uint32_t *line = (uint32_t *)(void *)(q->data + i * q->nstride +
                                                  (int64_t)y * q->w * q->pstride);
            const int edge = y < pad || y >= q->h - pad;
            for (int x = 0; x < q->w; x++) {
                if (!edge && x == pad)
                    x = q->w - pad; /* the interior */
                for (int64_t k = 0; k < q->pstride; k++)
                    line[x * q->pstride + k] = word;
            }
        }
}

/* The converted input of conv (BF16 or U8): one kept from an earlier layer (or written by the
 * layer that made in), or a new one, kept in a slot when in is an arena tensor. *keep: whether
 * it sits in a slot (else the caller releases it). Planning passes make the same choices. */
static rf_tensor converted_input(rf_exec *ex, const rf_conv *conv, const rf_tensor *in,
                                 rf_read read, int *keep)
{
    const int pad = read == RF_READ_U8 ? conv->pad : 0;
    rf_converted *c = slot_of(ex, in->arena_id, pad, read);
    if (c) {
        c->used = ++ex->clock;
        *keep = 1;
        return c->copy;
    }
    conversion_pass(ex, conv, in, read, pad);
    *keep = in->arena_id >= 0;
    rf_converted *slot = *keep ? free_slot(ex) : NULL;
    rf_tensor q = converted_tensor(ex, in, in->c, read, pad);
    if (!ex->arena.planning) {
        if (read == RF_READ_U8)
            quantization_of(ex, conv, in, &q);
        const convert_op op = {ex, conv, in, &q};
        rows_job j = {convert_rows, &op, q.n * q.h, task_count(ex, q.n * q.h)};
        rf_pool_run(ex->pool, rows_task, &j, j.tasks);
    }
    if (*keep)
        *slot = (rf_converted){in->arena_id, pad, read, ++ex->clock, q};
    return q;
}

/* The copy of out that conv writes as it stores it (in *c, its tensor a slot's), when the first
 * planning pass found a later layer that converts out; else NULL. */
static const rf_conv_copy *early_copy(rf_exec *ex, const rf_conv *conv, const rf_tensor *out,
                                      rf_conv_copy *c)
{
    const rf_copy_request *r =
        ex->copy_mode == RF_COPIES_ON && out->arena_id >= 0 ? request_of(ex, conv) : NULL;
    if (!r)
        return NULL;
    rf_converted *slot = NULL;
    for (int k = RF_CONVERTED_KEEP; r->pinned && !slot && k < RF_CONVERTED_ALL; k++)
        if (ex->converted[k].source < 0)
            slot = &ex->converted[k];
    if (!slot)
        slot = free_slot(ex);
    const int pad = r->pad;
    rf_tensor q = converted_tensor(ex, out, out->c, r->read, pad);
    q.scale = r->scale;
    q.zero_point = r->zero_point;
    if (pad && !ex->arena.planning)
        fill_border(&q, pad);
    *slot = (rf_converted){out->arena_id, pad, r->read, ++ex->clock, q};
    *c = (rf_conv_copy){q, !r->keep_float};
    return c;
}

/* The residual of conv as it reads it: where the kernels read reduced residuals, the conversion
 * of it (uint8 or bf16: `read`, as conv reads its input) that a 1x1 layer read (a slot's), else its
 * floats. ResNet50's shortcuts are the inputs of the blocks' conv1: read as a quarter (a half)
 * of the floats' bytes, and the block outputs then need no floats at all (copies alone). A bf16
 * residual no layer read (a shortcut projection's output) is converted for conv alone, which
 * its writer then does as it stores it: the projection writes half the bytes, conv reads half.
 * (uint8 needs a range such a residual has not measured.) When conv writes over the residual
 * (in place), the slot gives its tensor up to the caller (*release), so the copy of the output
 * cannot take that memory while it is read. */
static const rf_tensor *residual_read(rf_exec *ex, const rf_conv *conv, rf_read read,
                                      const rf_tensor *res, const rf_tensor *out, rf_tensor *q,
                                      int *release)
{
    *release = 0;
    const int reduced = ex->kernels->reduced_residual && ex->kernels->reduced_residual(conv) &&
                        (read == RF_READ_U8 || read == RF_READ_BF16);
    rf_converted *c = reduced ? slot_of(ex, res->arena_id, 0, read) : NULL;
    if (!c && reduced && read == RF_READ_BF16 && res->arena_id >= 0) {
        int keep;
        converted_input(ex, conv, res, read, &keep);
        c = slot_of(ex, res->arena_id, 0, read);
    }
    if (c) {
        c->used = ++ex->clock;
        *q = c->copy;
        if (res->arena_id == out->arena_id) {
            c->source = -1;
            *release = 1;
        }
        return q;
    }
    float_read(ex, res);
    return res;
}

/* A layer: its input as the kernels read it (rf_read: converted, or with its uint8
 * quantization), then the convolution, writing the copy of its output a later layer asked for
 * in the same pass. */
void rf_op_conv(rf_exec *ex, const rf_conv *conv, const rf_tensor *in,
                const rf_tensor *residual, rf_act act, rf_tensor *out)
{
    if (ex->arena.planning && ex->trace) {
        out->value =
            ex->trace->conv(ex->trace, conv, in->value, residual ? residual->value : 0, act);
        return;
    }
    const double t0 = ex->profiling ? now_ms() : 0;
    const rf_read read = ex->kernels->input_read ? ex->kernels->input_read(conv) : RF_READ_F32;
    rf_tensor res_q;
    int release_res = 0;
    if (residual) /* first: the slot is then the last one a conversion of in would evict */
        residual = residual_read(ex, conv, read, residual, out, &res_q, &release_res);
    rf_tensor src = *in;
    int keep = 1;
    if (read == RF_READ_BF16 || read == RF_READ_U8)
        src = converted_input(ex, conv, in, read, &keep);
    else
        float_read(ex, in);
    if (read == RF_READ_F32_RANGE && !ex->arena.planning)
        quantization_of(ex, conv, in, &src);
    if (ex->calibration && !ex->arena.planning && rf_conv_reduced(conv)) {
        float lo, hi, *r = ex->calibration[conv - ex->calibration_convs];
        measure_range(ex, in, &lo, &hi);
        r[0] = lo < r[0] ? lo : r[0];
        r[1] = hi > r[1] ? hi : r[1];
    }
    converted_stale(ex, out->arena_id);
    rf_conv_copy c;
    const rf_conv_copy *copy = early_copy(ex, conv, out, &c);
    conv_run(ex, conv, &src, residual, act, out, copy, t0);
    if (!keep)
        rf_arena_release(&ex->arena, &src);
    if (release_res)
        rf_arena_release(&ex->arena, &res_q);
    if (out->arena_id >= 0) {
        ex->writer[out->arena_id] = conv;
        ex->pooled[out->arena_id] = 0;
    }
}

rf_tensor rf_op_conv_new(rf_exec *ex, const rf_conv *conv, const rf_tensor *in,
                         const rf_tensor *residual, rf_act act)
{
    rf_tensor out = rf_arena_tensor(&ex->arena, in->n,
                                    rf_conv_out_size(in->h, conv->kh, conv->stride, conv->pad),
                                    rf_conv_out_size(in->w, conv->kw, conv->stride, conv->pad),
                                    conv->cout);
    rf_op_conv(ex, conv, in, residual, act, &out);
    return out;
}

/* The element-wise ops: each works on rows (image, line) of its output, split over the pool
 * (rows_job, above). */

static void rows_task(void *arg, int t, int worker)
{
    (void)worker;
    const rows_job *j = arg;
    j->fn(j->op, (int)((int64_t)j->rows * t / j->tasks),
          (int)((int64_t)j->rows * (t + 1) / j->tasks));
}

static void run_rows(rf_exec *ex, int rows, rows_fn fn, const void *op)
{
    const double t0 = ex->profiling ? now_ms() : 0;
    rows_job j = {fn, op, rows, task_count(ex, rows)};
    rf_pool_run(ex->pool, rows_task, &j, j.tasks);
    if (ex->profiling)
        profile_add(ex, KIND_OTHER, t0, 0);
}

typedef struct {
    const rf_tensor *in, *out;
} unary_op;

typedef struct {
    const rf_exec *ex;
    const rf_tensor *in, *out;
} pool_op;

static void maxpool_rows(const void *arg, int row0, int row1)
{
    const pool_op *op = arg;
    rf_maxpool3s2(op->ex->kernels, op->in, op->out, row0, row1);
}

/* Max pooling; of the uint8 or bf16 copy of in instead (into a converted tensor of out, in a
 * slot, for the layers after), where the convolution that wrote in wrote that copy alone:
 * those layers asked it for the copy through out (pooled). Both conversions are monotonic, so
 * the largest of the converted values is the conversion of the largest: the same values.
 * ResNet50's stem then writes a quarter (a half) of the bytes, the pooling reads as few, and
 * no pass converts its output. */
rf_tensor rf_op_maxpool3s2(rf_exec *ex, const rf_tensor *in)
{
    rf_tensor out = rf_arena_tensor(&ex->arena, in->n, rf_conv_out_size(in->h, 3, 2, 1),
                                    rf_conv_out_size(in->w, 3, 2, 1), in->c);
    if (ex->arena.planning && ex->trace) {
        out.value = ex->trace->maxpool3s2(ex->trace, in->value);
        return out;
    }
    const rf_conv *w = in->arena_id >= 0 ? ex->writer[in->arena_id] : NULL;
    const rf_copy_request *r = request_of(ex, w);
    rf_converted *c = r ? slot_of(ex, in->arena_id, 0, r->read) : NULL;
    if (c && !r->keep_float && out.arena_id >= 0) {
        c->used = ++ex->clock; /* not the slot the pooled copy takes */
        rf_converted *slot = free_slot(ex);
        rf_tensor q = converted_tensor(ex, &out, out.c, r->read, 0);
        q.scale = c->copy.scale;
        q.zero_point = c->copy.zero_point;
        if (!ex->arena.planning)
            run_rows(ex, q.n * q.h, maxpool_rows, &(pool_op){ex, &c->copy, &q});
        *slot = (rf_converted){out.arena_id, 0, r->read, ++ex->clock, q};
    } else {
        /* the first planning pass cannot tell yet whether the floats will be read: a reader of
         * out that converts it asks w for the copy, else w has no copy to write and stores
         * them */
        if (!(ex->copy_mode == RF_COPIES_FINDING && w &&
              (ex->kernels->writes_copy(w, RF_READ_U8) ||
               ex->kernels->writes_copy(w, RF_READ_BF16))))
            float_read(ex, in);
        if (!ex->arena.planning)
            run_rows(ex, out.n * out.h, maxpool_rows, &(pool_op){ex, in, &out});
    }
    if (out.arena_id >= 0) {
        ex->writer[out.arena_id] = w;
        ex->pooled[out.arena_id] = w != NULL;
    }
    return out;
}

/* d[k] += s[k], k < n, d and s apart: blocks of 8 the compiler adds as vectors at -O2. */
static void add_floats(float *restrict d, const float *restrict s, int n)
{
    int k = 0;
    for (; k + 8 <= n; k += 8)
        for (int j = 0; j < 8; j++)
            d[k + j] += s[k + j];
    for (; k < n; k++)
        d[k] += s[k];
}

static void add_upsampled_rows(const void *arg, int row0, int row1)
{
    const rf_tensor *src = ((const unary_op *)arg)->in, *dst = ((const unary_op *)arg)->out;
    for (int r = row0; r < row1; r++) {
        const int i = r / dst->h, y = r % dst->h;
        const int sy = (int)((int64_t)y * src->h / dst->h);
        float *d = dst->data + i * dst->nstride + (int64_t)y * dst->w * dst->pstride;
        const float *s = src->data + i * src->nstride + (int64_t)sy * src->w * src->pstride;
        /* sx = floor(x * src->w / dst->w), stepped: a division a pixel cost more than its adds */
        int64_t rest = 0;
        for (int x = 0, sx = 0; x < dst->w; x++, d += dst->pstride) {
            add_floats(d, s + (int64_t)sx * src->pstride, dst->c);
            for (rest += src->w; rest >= dst->w; rest -= dst->w)
                sx++;
        }
    }
}

void rf_op_add_upsampled(rf_exec *ex, rf_tensor *dst, const rf_tensor *src)
{
    float_read(ex, dst); /* before: it forgets dst's writer */
    float_read(ex, src);
    written_in_place(ex, dst);
    if (!ex->arena.planning)
        run_rows(ex, dst->n * dst->h, add_upsampled_rows, &(unary_op){src, dst});
    else if (ex->trace)
        dst->value = ex->trace->add_upsampled(ex->trace, dst->value, src->value);
}

static void softmax_rows(const void *arg, int row0, int row1)
{
    const rf_tensor *t = ((const unary_op *)arg)->out;
    for (int r = row0; r < row1; r++) {
        const int i = r / t->h, y = r % t->h;
        for (int x = 0; x < t->w; x++) {
            float *v = t->data + i * t->nstride + ((int64_t)y * t->w + x) * t->pstride;
            for (int ch = 0; ch + 1 < t->c; ch += 2) {
                const float m = v[ch] > v[ch + 1] ? v[ch] : v[ch + 1];
                const float e0 = expf(v[ch] - m), e1 = expf(v[ch + 1] - m);
                const float sum = e0 + e1;
                v[ch] = e0 / sum;
                v[ch + 1] = e1 / sum;
            }
        }
    }
}

void rf_op_softmax_pairs(rf_exec *ex, rf_tensor *t)
{
    float_read(ex, t);
    written_in_place(ex, t);
    if (!ex->arena.planning)
        run_rows(ex, t->n * t->h, softmax_rows, &(unary_op){t, t});
    else if (ex->trace)
        t->value = ex->trace->softmax_pairs(ex->trace, t->value);
}

void rf_op_concat(rf_exec *ex, rf_tensor *out, const rf_tensor *parts, int n)
{
    if (ex->trace)
        out->value = ex->trace->concat(ex->trace, parts, n);
}

void rf_op_outputs(rf_exec *ex, const rf_tensor *cls, const rf_tensor *box,
                   const rf_tensor *ldm)
{
    if (ex->trace)
        ex->trace->outputs(ex->trace, cls->value, box->value, ldm->value);
}

typedef struct {
    const float *src;
    const rf_tensor *out;
} from_nchw_op;

static void from_nchw_rows(const void *arg, int row0, int row1)
{
    const float *src = ((const from_nchw_op *)arg)->src;
    const rf_tensor *out = ((const from_nchw_op *)arg)->out;
    const int64_t plane = (int64_t)out->h * out->w;
    for (int r = row0; r < row1; r++) {
        const int i = r / out->h, y = r % out->h;
        const float *s0 = src + (int64_t)i * 3 * plane + (int64_t)y * out->w;
        const float *s1 = s0 + plane, *s2 = s1 + plane;
        float *d = out->data + i * out->nstride + (int64_t)y * out->w * 3;
        /* pixel by pixel, so the writes are sequential; the reads stream from the 3 planes. A
         * loop over a channel count unknown here took twice as long (MobileNet0.25: 4 % of a
         * frame). */
        for (int x = 0; x < out->w; x++, d += 3) {
            d[0] = s0[x];
            d[1] = s1[x];
            d[2] = s2[x];
        }
    }
}

void rf_op_from_nchw(rf_exec *ex, const float *src, rf_tensor *out)
{
    if (!ex->arena.planning)
        run_rows(ex, out->n * out->h, from_nchw_rows, &(from_nchw_op){src, out});
    else if (ex->trace)
        out->value = ex->trace->input(ex->trace);
}
