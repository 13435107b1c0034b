/* threadpool.h - a fixed pool of worker threads owned by one context; runs n tasks and waits. */
#ifndef RF_THREADPOOL_H
#define RF_THREADPOOL_H

typedef struct rf_pool rf_pool;

/* worker: which thread runs the task, 0 (the caller) to threads - 1, for per-thread memory. */
typedef void (*rf_task_fn)(void *arg, int task, int worker);

/* threads counts the caller, so threads == 1 starts no worker. NULL on failure. */
rf_pool *rf_pool_create(int threads);
void rf_pool_free(rf_pool *pool);
int rf_pool_threads(const rf_pool *pool);
/* Calls fn(arg, t, worker) for t in [0, tasks), spread over the pool; returns when all are done. */
void rf_pool_run(rf_pool *pool, rf_task_fn fn, void *arg, int tasks);

#endif
