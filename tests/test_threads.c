/* test_threads.c - one model shared by threads, each with its own context: faces bit for bit those of one thread. */
#include "retinaface.h"
#include "testutil.h"

#include <pthread.h>

#define NIMAGES 8
#define NPOLICIES 2
#define ROUNDS 2

static const char *const image_files[NIMAGES] = {
    "golden/mnet_640/input.png",       "golden/mnet_orig/input.png",
    "golden/face1mb_orig/input.png",   "golden/r50_batch2/input0.png",
    "golden/r50_batch2/input1.png",    "golden/r50_orig/input.png",
    "data/images/face1mb_sample.jpg",  "data/images/retinaface_curve_test.jpg",
};

/* Two input shapes per image, so every context also re-plans its arena between calls. */
static rf_input_policy policy_of(int p)
{
    return p == 0 ? rf_input_policy_long_side(480) : rf_input_policy_stretch(320, 240);
}

typedef struct {
    const rf_model *model;
    const rf_image_buf *images;
    const rf_faces (*expected)[NPOLICIES]; /* NULL: this is the reference run, fill `got` */
    rf_faces (*got)[NPOLICIES];
    int first, step; /* the images this worker takes: first, first + step, ... */
    int pool_threads;
    int runs, mismatches;
    char error[600];
} job;

static int same_faces(const rf_faces *a, const rf_faces *b)
{
    return a->count == b->count &&
           (a->count == 0 || memcmp(a->faces, b->faces, sizeof *a->faces * (size_t)a->count) == 0);
}

/* Runs on a thread of its own (the reference run on the main one); reports through the job
 * only, because the CHECK counters are not safe to share between threads. */
static void *worker(void *arg)
{
    job *j = arg;
    rf_error err;
    rf_context *ctx;
    rf_context_options o = rf_context_options_default();
    o.threads = j->pool_threads;
    if (rf_context_create(j->model, &o, &ctx, &err) != RF_OK) {
        snprintf(j->error, sizeof j->error, "context: %s", err.message);
        return NULL;
    }
    const rf_detect_params params = rf_detect_params_default();
    rf_faces faces = {0};
    const int rounds = j->expected ? ROUNDS : 1;
    for (int r = 0; r < rounds && !j->error[0]; r++)
        for (int i = j->first; i < NIMAGES && !j->error[0]; i += j->step)
            for (int p = 0; p < NPOLICIES; p++) {
                const rf_input_policy policy = policy_of(p);
                rf_faces *out = j->expected ? &faces : &j->got[i][p];
                if (rf_detect(ctx, &j->images[i].image, &policy, &params, out, &err) != RF_OK) {
                    snprintf(j->error, sizeof j->error, "%s: %s", image_files[i], err.message);
                    break;
                }
                j->runs++;
                if (j->expected && !same_faces(&faces, &j->expected[i][p]))
                    j->mismatches++;
            }
    rf_faces_free(&faces);
    rf_context_free(ctx);
    return NULL;
}

/* nthreads workers with contexts of pool_threads each, splitting the images between them. */
static void run_shared(const rf_model *model, const rf_image_buf *images,
                       const rf_faces (*expected)[NPOLICIES], int nthreads, int pool_threads)
{
    job jobs[8];
    pthread_t tids[8];
    for (int t = 0; t < nthreads; t++) {
        jobs[t] = (job){.model = model, .images = images, .expected = expected, .first = t,
                        .step = nthreads, .pool_threads = pool_threads};
        CHECK(pthread_create(&tids[t], NULL, worker, &jobs[t]) == 0, "thread %d", t);
    }
    int runs = 0;
    for (int t = 0; t < nthreads; t++) {
        pthread_join(tids[t], NULL);
        CHECK(jobs[t].error[0] == '\0', "%d threads x %d: worker %d: %s", nthreads,
              pool_threads, t, jobs[t].error);
        CHECK(jobs[t].mismatches == 0, "%d threads x %d: worker %d: %d of %d results differ "
              "from the single-threaded run", nthreads, pool_threads, t, jobs[t].mismatches,
              jobs[t].runs);
        runs += jobs[t].runs;
    }
    CHECK(runs == ROUNDS * NIMAGES * NPOLICIES, "%d threads x %d: %d detections, expected %d",
          nthreads, pool_threads, runs, ROUNDS * NIMAGES * NPOLICIES);
    printf("%d threads with %d-thread contexts: %d detections, all identical to one thread\n",
           nthreads, pool_threads, runs);
}

int main(void)
{
    require_test_data("test_threads");
    rf_error err;
    rf_model *model;
    const char *path = test_data_path("models/mobilenet0.25_Final.pth");
    if (rf_model_load(path, RF_ANCHORS_RETINAFACE, &model, &err) != RF_OK) {
        CHECK(0, "%s", err.message);
        return test_summary();
    }
    rf_image_buf images[NIMAGES];
    for (int i = 0; i < NIMAGES; i++) {
        rf_status st = rf_image_load(test_data_path(image_files[i]), &images[i], &err);
        CHECK(st == RF_OK, "%s", err.message);
        if (st != RF_OK)
            return test_summary();
    }

    /* The reference: one context on the main thread's worker, every image in turn. */
    rf_faces expected[NIMAGES][NPOLICIES];
    memset(expected, 0, sizeof expected);
    job ref = {.model = model, .images = images, .got = expected, .first = 0, .step = 1,
               .pool_threads = 1};
    worker(&ref);
    CHECK(ref.error[0] == '\0', "reference run: %s", ref.error);
    int faces = 0;
    for (int i = 0; i < NIMAGES; i++)
        faces += expected[i][0].count;
    CHECK(faces > 0, "the reference run found no faces at all");

    run_shared(model, images, (const rf_faces(*)[NPOLICIES])expected, 4, 1);
    run_shared(model, images, (const rf_faces(*)[NPOLICIES])expected, 2, 2);

    for (int i = 0; i < NIMAGES; i++) {
        rf_image_buf_free(&images[i]);
        for (int p = 0; p < NPOLICIES; p++)
            rf_faces_free(&expected[i][p]);
    }
    rf_model_free(model);
    return test_summary();
}
