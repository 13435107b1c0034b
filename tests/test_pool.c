/* test_pool.c - the thread pool: every task runs once, on a valid worker, for any mix of thread
 * and task counts; each thread starts on its own share; a thread that stalls has the rest of
 * its share taken over. */
#include "testutil.h"
#include "core/threadpool.h"

#include <stdatomic.h>
#include <time.h>

#define MAX_TASKS 1000

typedef struct {
    atomic_int runs[MAX_TASKS];
    atomic_int by[MAX_TASKS];  /* the worker that ran the task */
    atomic_int bad_worker;
    int threads;
    int caller_ms, worker_ms; /* how long each task sleeps on the caller, on the workers */
} record;

static void record_task(void *arg, int task, int worker)
{
    record *r = arg;
    atomic_fetch_add(&r->runs[task], 1);
    atomic_store(&r->by[task], worker);
    if (worker < 0 || worker >= r->threads)
        atomic_fetch_add(&r->bad_worker, 1);
    const int ms = worker == 0 ? r->caller_ms : r->worker_ms;
    if (ms) {
        const struct timespec ts = {0, ms * 1000000L};
        nanosleep(&ts, NULL);
    }
}

static void check_counts(void)
{
    static const int threads[] = {1, 2, 3, 4, 8};
    static const int tasks[] = {0, 1, 2, 3, 5, 8, 13, 64, MAX_TASKS};
    static record r;
    for (size_t i = 0; i < sizeof threads / sizeof *threads; i++) {
        rf_pool *pool = rf_pool_create(threads[i]);
        CHECK(pool != NULL, "pool of %d threads", threads[i]);
        if (!pool)
            continue;
        CHECK(rf_pool_threads(pool) == threads[i], "%d threads", threads[i]);
        /* several batches on one pool: shares are reset for each */
        for (int rep = 0; rep < 3; rep++)
            for (size_t k = 0; k < sizeof tasks / sizeof *tasks; k++) {
                memset(&r, 0, sizeof r);
                r.threads = threads[i];
                rf_pool_run(pool, record_task, &r, tasks[k]);
                int once = 1;
                for (int t = 0; t < tasks[k]; t++)
                    once &= atomic_load(&r.runs[t]) == 1;
                CHECK(once, "%d threads, %d tasks: each task ran once", threads[i], tasks[k]);
                CHECK(atomic_load(&r.bad_worker) == 0, "%d threads, %d tasks: worker index",
                      threads[i], tasks[k]);
            }
        rf_pool_free(pool);
    }
}

/* Two threads, 8 tasks: shares [0, 4) and [4, 8). The worker stalls in the one task it takes,
 * so the caller runs its own share and then all the worker's but that one (from one shared
 * counter, a worker that joins while the caller is in its first task would take task 1). */
static void check_takeover(void)
{
    static record r;
    rf_pool *pool = rf_pool_create(2);
    CHECK(pool != NULL, "pool of 2 threads");
    if (!pool)
        return;
    memset(&r, 0, sizeof r);
    r.threads = 2;
    r.caller_ms = 20;
    r.worker_ms = 400;
    rf_pool_run(pool, record_task, &r, 8);
    int once = 1, by_worker = 0, own = 1;
    for (int t = 0; t < 8; t++) {
        once &= atomic_load(&r.runs[t]) == 1;
        by_worker += atomic_load(&r.by[t]) == 1;
        if (t < 4)
            own &= atomic_load(&r.by[t]) == 0; /* so the worker's task lies in [4, 8) */
    }
    CHECK(once, "each task ran once");
    CHECK(by_worker <= 1, "the stalled worker ran %d tasks; the caller should take the rest",
          by_worker);
    CHECK(own, "the caller ran its own share [0, 4); the worker starts on its own");
    rf_pool_free(pool);
}

int main(void)
{
    check_counts();
    check_takeover();
    return test_summary();
}
