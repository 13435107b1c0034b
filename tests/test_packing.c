/* test_packing.c - a model holds its weights in the layout of each kernel set that asks: sets that
 * pack alike share one, another layout is packed once even when threads ask at the same time,
 * and a model that let its plain weights go refuses a layout it does not have. */
#include "core/model.h"
#include "kernels/kernels.h"
#include "testutil.h"

#include <pthread.h>

#define NTHREADS 4

/* A kernel set that reads the SIMD sets' blocks under another layout version: what a set with
 * a layout of its own (bf16, int8) looks like to the model. */
static rf_kernel_set other_layout(const rf_kernel_set *like)
{
    rf_kernel_set s = *like;
    s.name = "other-layout";
    s.pack_layout = like->pack_layout + 100;
    return s;
}

typedef struct {
    const rf_model *model;
    const rf_kernel_set *ks;
    pthread_barrier_t *start;
    const rf_conv *convs;
    rf_status status;
} asker;

static void *ask(void *arg)
{
    asker *a = arg;
    rf_error err;
    pthread_barrier_wait(a->start);
    a->status = rf_model_layers_for(a->model, a->ks, &a->convs, &err);
    return NULL;
}

/* Same packed bytes, layer by layer. */
static int same_blocks(const rf_model *m, const rf_conv *a, const rf_conv *b,
                       const rf_kernel_set *ks)
{
    for (int i = 0; i < m->layers.count; i++) {
        const size_t bytes = ks->pack_size(&a[i], &(rf_packed){0});
        if (!a[i].packed || !b[i].packed || a[i].packed == b[i].packed ||
            memcmp(a[i].packed, b[i].packed, bytes))
            return 0;
    }
    return 1;
}

int main(void)
{
    require_test_data("test_packing");
    const rf_kernel_set *fastest = rf_kernels_select(RF_KERNELS_AUTO, RF_PRECISION_FP32, NULL);
    if (!fastest->pack) {
        printf("SKIP test_packing: this CPU runs the reference kernels only, which pack nothing\n");
        return TEST_SKIP_CODE;
    }
    const char *path = test_data_path("models/mobilenet0.25_Final.pth");
    rf_error err;
    rf_model *m = NULL;
    CHECK(rf_model_load_flags(path, RF_ANCHORS_RETINAFACE, RF_LOAD_KEEP_REFERENCE, &m, &err) ==
              RF_OK,
          "%s", err.message);
    if (!m)
        return test_summary();
    CHECK(m->npackings == 1, "packed for the fastest kernels at load: %d layouts", m->npackings);

    /* every supported SIMD set reads the one layout packed at load */
    const rf_conv *at_load = NULL, *convs = NULL;
    CHECK(rf_model_layers_for(m, fastest, &at_load, &err) == RF_OK, "%s", err.message);
    const rf_kernels simd[2] = {RF_KERNELS_AVX2, RF_KERNELS_AVX512};
    for (int i = 0; i < 2; i++) {
        const rf_kernel_set *ks = rf_kernels_select(simd[i], RF_PRECISION_FP32, NULL);
        if (!ks)
            continue;
        CHECK(rf_model_layers_for(m, ks, &convs, &err) == RF_OK && convs == at_load,
              "%s: the layout packed at load", ks->name);
    }
    CHECK(m->npackings == 1, "the SIMD sets share a layout: %d layouts", m->npackings);

    /* the reference set reads the table's own weights */
    CHECK(rf_model_layers_for(m, rf_kernels_select(RF_KERNELS_REFERENCE, RF_PRECISION_FP32, NULL),
                              &convs, &err) == RF_OK,
          "%s", err.message);
    for (int i = 0; convs && i < m->layers.count; i++)
        CHECK(convs[i].weight == m->layers.layer[i].conv.weight && !convs[i].packed,
              "reference layer %d", i);

    /* another layout: packed once for threads that ask at the same time, the same bytes */
    const int before = m->npackings;
    const rf_kernel_set other = other_layout(fastest);
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, NTHREADS);
    asker askers[NTHREADS];
    pthread_t tids[NTHREADS];
    for (int t = 0; t < NTHREADS; t++) {
        askers[t] = (asker){m, &other, &start, NULL, RF_E_ARG};
        CHECK(pthread_create(&tids[t], NULL, ask, &askers[t]) == 0, "thread %d", t);
    }
    for (int t = 0; t < NTHREADS; t++)
        pthread_join(tids[t], NULL);
    pthread_barrier_destroy(&start);
    for (int t = 0; t < NTHREADS; t++)
        CHECK(askers[t].status == RF_OK && askers[t].convs == askers[0].convs,
              "thread %d: status %d, layers %p of %p", t, askers[t].status,
              (const void *)askers[t].convs, (const void *)askers[0].convs);
    CHECK(m->npackings == before + 1, "one layout added for %d threads: %d", NTHREADS,
          m->npackings - before);
    if (askers[0].convs)
        CHECK(same_blocks(m, askers[0].convs, at_load, fastest),
              "the other layout's blocks are packed from the same weights");
    rf_model_free(m);

    /* without the plain weights, only the layout packed at load */
    m = NULL;
    CHECK(rf_model_load(path, RF_ANCHORS_RETINAFACE, &m, &err) == RF_OK, "%s", err.message);
    if (m) {
        CHECK(rf_model_layers_for(m, fastest, &convs, &err) == RF_OK, "%s", err.message);
        CHECK(rf_model_layers_for(m, &other, &convs, &err) == RF_E_UNSUPPORTED &&
                  strstr(err.message, "RF_LOAD_KEEP_REFERENCE") && !convs,
              "lean model, another layout: %s", err.message);
        CHECK(m->npackings == 1, "nothing added on refusal: %d layouts", m->npackings);
        rf_model_free(m);
    }
    return test_summary();
}
