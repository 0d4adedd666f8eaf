/* Fork-join thread pool for the CPU backend: parallel_for hands out chunks of an index range to
 * the calling thread plus the pool's workers and returns when all chunks are done. */
#ifndef TN_CPU_THREADPOOL_H
#define TN_CPU_THREADPOOL_H

#include <stdint.h>

typedef struct tn_pool tn_pool;

/* fn processes indices [begin, end); `thread` is 0..n_threads-1 (for per-thread scratch). */
typedef void (*tn_task_fn)(void *arg, int64_t begin, int64_t end, int thread);

tn_pool *tn_pool_new(int n_threads); /* n_threads includes the caller; 0 = all cores */
void tn_pool_free(tn_pool *pool);
int tn_pool_n_threads(const tn_pool *pool);
/* Runs fn over [0, n) in chunks of `grain` indices (the last may be shorter). */
void tn_pool_parallel_for(tn_pool *pool, int64_t n, int64_t grain, tn_task_fn fn, void *arg);

#endif
