/* Thread pool (see threadpool.h). Workers sleep on a condition variable between jobs and spin
 * briefly first, because decode issues many small jobs back to back. Chunks are claimed with an
 * atomic counter, so uneven chunk costs balance themselves. */
#include "cpu/threadpool.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

#include "core/error.h"

typedef struct tn_job {
    tn_task_fn fn;
    void *arg;
    int64_t n, grain;
    atomic_int_fast64_t next;
} tn_job;

struct tn_pool {
    int n_threads;
    pthread_t *threads;
    pthread_mutex_t mu;
    pthread_cond_t wake, done;
    tn_job job;
    atomic_int generation; /* bumped for each job; workers run a job once per bump */
    atomic_int active;     /* workers still in the current job */
    atomic_bool quit;
};

typedef struct worker_arg {
    tn_pool *pool;
    int index;
} worker_arg;

static void run_chunks(tn_job *job, int thread) {
    for (;;) {
        int64_t b = atomic_fetch_add(&job->next, job->grain);
        if (b >= job->n) break;
        int64_t e = b + job->grain < job->n ? b + job->grain : job->n;
        job->fn(job->arg, b, e, thread);
    }
}

static void *worker_main(void *p) {
    worker_arg *wa = p;
    tn_pool *pool = wa->pool;
    int index = wa->index;
    free(wa);
    int seen = 0;
    for (;;) {
        int spins = 0;
        while (atomic_load(&pool->generation) == seen && !atomic_load(&pool->quit)) {
            if (++spins < 20000) continue;
            pthread_mutex_lock(&pool->mu);
            while (atomic_load(&pool->generation) == seen && !atomic_load(&pool->quit))
                pthread_cond_wait(&pool->wake, &pool->mu);
            pthread_mutex_unlock(&pool->mu);
        }
        if (atomic_load(&pool->quit)) return NULL;
        seen = atomic_load(&pool->generation);
        run_chunks(&pool->job, index);
        if (atomic_fetch_sub(&pool->active, 1) == 1) {
            pthread_mutex_lock(&pool->mu);
            pthread_cond_signal(&pool->done);
            pthread_mutex_unlock(&pool->mu);
        }
    }
}

tn_pool *tn_pool_new(int n_threads) {
    if (n_threads <= 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        n_threads = n > 0 ? (int)n : 1;
    }
    tn_pool *pool = calloc(1, sizeof *pool);
    if (!pool) return NULL;
    pool->n_threads = n_threads;
    pthread_mutex_init(&pool->mu, NULL);
    pthread_cond_init(&pool->wake, NULL);
    pthread_cond_init(&pool->done, NULL);
    pool->threads = calloc((size_t)n_threads, sizeof(pthread_t));
    for (int i = 1; i < n_threads; i++) {
        worker_arg *wa = malloc(sizeof *wa);
        wa->pool = pool;
        wa->index = i;
        if (pthread_create(&pool->threads[i], NULL, worker_main, wa) != 0) {
            free(wa);
            pool->n_threads = i; /* run with the workers we got */
            break;
        }
    }
    return pool;
}

void tn_pool_free(tn_pool *pool) {
    if (!pool) return;
    pthread_mutex_lock(&pool->mu);
    atomic_store(&pool->quit, true);
    pthread_cond_broadcast(&pool->wake);
    pthread_mutex_unlock(&pool->mu);
    for (int i = 1; i < pool->n_threads; i++) pthread_join(pool->threads[i], NULL);
    pthread_mutex_destroy(&pool->mu);
    pthread_cond_destroy(&pool->wake);
    pthread_cond_destroy(&pool->done);
    free(pool->threads);
    free(pool);
}

int tn_pool_n_threads(const tn_pool *pool) { return pool->n_threads; }

void tn_pool_parallel_for(tn_pool *pool, int64_t n, int64_t grain, tn_task_fn fn, void *arg) {
    if (n <= 0) return;
    if (grain < 1) grain = 1;
    if (pool->n_threads == 1 || n <= grain) {
        fn(arg, 0, n, 0);
        return;
    }
    pool->job.fn = fn;
    pool->job.arg = arg;
    pool->job.n = n;
    pool->job.grain = grain;
    atomic_store(&pool->job.next, 0);
    atomic_store(&pool->active, pool->n_threads - 1);
    pthread_mutex_lock(&pool->mu);
    atomic_fetch_add(&pool->generation, 1);
    pthread_cond_broadcast(&pool->wake);
    pthread_mutex_unlock(&pool->mu);
    run_chunks(&pool->job, 0);
    /* Wait for the workers: spin a little, then sleep. */
    for (int spins = 0; atomic_load(&pool->active) > 0 && spins < 200000; spins++) {
    }
    if (atomic_load(&pool->active) > 0) {
        pthread_mutex_lock(&pool->mu);
        while (atomic_load(&pool->active) > 0) pthread_cond_wait(&pool->done, &pool->mu);
        pthread_mutex_unlock(&pool->mu);
    }
}
