/* CPU backend internals shared by its files (cpu_backend.c: memory, batch, simple ops;
 * cpu_matmul.c; cpu_attention.c). */
#ifndef TN_CPU_CPU_BACKEND_H
#define TN_CPU_CPU_BACKEND_H

#include "cpu/threadpool.h"
#include "ops/ops.h"

typedef struct tn_cpu_exec {
    tn_exec base;
    tn_pool *pool;
    /* Activations converted to the weights' dot-product type (grown on demand). */
    void *act_buf;
    size_t act_cap;
    /* Per-thread scratch for attention scores (grown on demand). */
    float *score_buf;
    size_t score_cap; /* floats per thread */
} tn_cpu_exec;

void tn_cpu_matmul(tn_exec *ex, float *out, const tn_weight *w, const tn_weight *bias,
                   const float *x, int64_t n_rows);
void tn_cpu_rope_store(tn_exec *ex, float *q, float *k, const float *v, const tn_attn_params *p,
                       tn_kv_layer *kv);
void tn_cpu_attention(tn_exec *ex, float *out, const float *q, const tn_kv_layer *kv,
                      const tn_attn_params *p);
/* Grows a buffer to at least `bytes` (64-byte aligned); returns NULL on allocation failure. */
void *tn_cpu_grow(void **buf, size_t *cap, size_t bytes);

#endif
