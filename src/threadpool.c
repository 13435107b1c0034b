/* threadpool.c - worker threads that take tasks from a shared counter; the caller works too. */
#include "threadpool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

struct rf_pool {
    int threads;
    pthread_t *workers;
    pthread_mutex_t lock;
    pthread_cond_t wake, done;
    unsigned generation; /* bumped for every batch of tasks */
    int busy;            /* workers still inside the current batch */
    int quit;
    rf_task_fn fn;
    void *arg;
    int tasks;
    atomic_int next;
};

static void run_tasks(rf_pool *p)
{
    int t;
    while ((t = atomic_fetch_add(&p->next, 1)) < p->tasks)
        p->fn(p->arg, t);
}

static void *worker_main(void *arg)
{
    rf_pool *p = arg;
    unsigned seen = 0;
    pthread_mutex_lock(&p->lock);
    for (;;) {
        while (!p->quit && p->generation == seen)
            pthread_cond_wait(&p->wake, &p->lock);
        if (p->quit)
            break;
        seen = p->generation;
        pthread_mutex_unlock(&p->lock);
        run_tasks(p);
        pthread_mutex_lock(&p->lock);
        if (--p->busy == 0)
            pthread_cond_signal(&p->done);
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

rf_pool *rf_pool_create(int threads)
{
    rf_pool *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->threads = threads < 1 ? 1 : threads;
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->wake, NULL);
    pthread_cond_init(&p->done, NULL);
    if (p->threads > 1) {
        p->workers = calloc((size_t)p->threads - 1, sizeof *p->workers);
        if (!p->workers) {
            rf_pool_free(p);
            return NULL;
        }
        for (int i = 0; i < p->threads - 1; i++)
            if (pthread_create(&p->workers[i], NULL, worker_main, p) != 0) {
                p->threads = i + 1; /* free joins the ones that started */
                rf_pool_free(p);
                return NULL;
            }
    }
    return p;
}

void rf_pool_free(rf_pool *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->lock);
    p->quit = 1;
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->lock);
    for (int i = 0; p->workers && i < p->threads - 1; i++)
        pthread_join(p->workers[i], NULL);
    free(p->workers);
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->wake);
    pthread_cond_destroy(&p->done);
    free(p);
}

int rf_pool_threads(const rf_pool *p)
{
    return p->threads;
}

void rf_pool_run(rf_pool *p, rf_task_fn fn, void *arg, int tasks)
{
    if (p->threads == 1 || tasks <= 1) {
        for (int t = 0; t < tasks; t++)
            fn(arg, t);
        return;
    }
    pthread_mutex_lock(&p->lock);
    p->fn = fn;
    p->arg = arg;
    p->tasks = tasks;
    atomic_store(&p->next, 0);
    p->busy = p->threads - 1;
    p->generation++;
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->lock);
    run_tasks(p);
    pthread_mutex_lock(&p->lock);
    while (p->busy > 0)
        pthread_cond_wait(&p->done, &p->lock);
    pthread_mutex_unlock(&p->lock);
}
