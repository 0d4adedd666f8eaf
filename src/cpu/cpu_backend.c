/* CPU backend: weights are used in place from the memory-mapped GGUF file; activations live in
 * ordinary memory. This file holds the backend object, memory, batch handling and the elementwise
 * ops; matmul and attention have their own files. */
#include "cpu/cpu_backend.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "formats/types.h"

void *tn_cpu_grow(void **buf, size_t *cap, size_t bytes) {
    if (*cap >= bytes) return *buf;
    size_t n = (bytes + 63) & ~(size_t)63;
    void *p = aligned_alloc(64, n);
    if (!p) return NULL;
    free(*buf);
    *buf = p;
    *cap = n;
    return p;
}

static void cpu_free(tn_backend *be) { free(be); }

static int cpu_upload_weight(tn_backend *be, tn_weight *w) {
    (void)be;
    if (w->n_out == 1 && w->type == TN_TYPE_F32) return 0; /* norms and biases */
    if (!tn_vec_dot(w->type))
        return tn_set_error("CPU backend: no matmul kernel for weight '%s' of type %s", w->name,
                            tn_type_name(w->type));
    if (!tn_type_get(tn_vec_dot_type(w->type))->can_quantize && tn_vec_dot_type(w->type) != TN_TYPE_F32)
        return tn_set_error("CPU backend: cannot convert activations for weight '%s' (%s)",
                            w->name, tn_type_name(w->type));
    return 0;
}

static tn_exec *cpu_exec_new(tn_backend *be, int n_threads) {
    tn_cpu_exec *ex = calloc(1, sizeof *ex);
    if (!ex) return NULL;
    ex->base.be = be;
    ex->pool = tn_pool_new(n_threads);
    if (!ex->pool) {
        free(ex);
        tn_set_error("CPU backend: cannot start %d threads", n_threads);
        return NULL;
    }
    return &ex->base;
}

static void cpu_exec_free(tn_exec *e) {
    tn_cpu_exec *ex = (tn_cpu_exec *)e;
    if (!ex) return;
    tn_pool_free(ex->pool);
    free(ex->act_buf);
    free(ex->score_buf);
    free(ex);
}

static void *cpu_alloc(tn_exec *ex, size_t bytes) {
    (void)ex;
    void *p = calloc(1, bytes ? bytes : 1);
    if (!p) tn_set_error("CPU backend: out of memory allocating %zu bytes", bytes);
    return p;
}

static void cpu_release(tn_exec *ex, void *p) {
    (void)ex;
    free(p);
}

static int cpu_read(tn_exec *ex, void *dst, const void *src, size_t bytes) {
    (void)ex;
    memcpy(dst, src, bytes);
    return 0;
}

static int cpu_begin(tn_exec *ex, const tn_batch_info *b) {
    ex->batch = b;
    return 0;
}

static int cpu_end(tn_exec *ex) {
    ex->batch = NULL;
    return 0;
}

typedef struct embed_task {
    float *out;
    const tn_weight *table;
    const int32_t *token;
    size_t row_bytes;
} embed_task;

static void embed_rows(void *arg, int64_t b, int64_t e, int thread) {
    embed_task *t = arg;
    for (int64_t i = b; i < e; i++)
        tn_dequantize_row(t->table->type,
                          (const char *)t->table->host + (size_t)t->token[i] * t->row_bytes,
                          t->out + i * t->table->n_in, t->table->n_in);
}

static void cpu_embed(tn_exec *e, float *out, const tn_weight *table) {
    tn_cpu_exec *ex = (tn_cpu_exec *)e;
    embed_task t = {out, table, e->batch->token, tn_row_size(table->type, table->n_in)};
    tn_pool_parallel_for(ex->pool, e->batch->n_tokens, 16, embed_rows, &t);
}

typedef struct norm_task {
    float *out;
    const float *x, *w;
    int64_t dim;
    float eps;
} norm_task;

static void norm_rows(void *arg, int64_t b, int64_t e, int thread) {
    norm_task *t = arg;
    for (int64_t r = b; r < e; r++) {
        const float *x = t->x + r * t->dim;
        float *y = t->out + r * t->dim;
        double ss = 0;
        for (int64_t i = 0; i < t->dim; i++) ss += (double)x[i] * x[i];
        float s = (float)(1.0 / sqrt(ss / (double)t->dim + t->eps));
        for (int64_t i = 0; i < t->dim; i++) y[i] = x[i] * s * t->w[i];
    }
}

static void cpu_rmsnorm(tn_exec *e, float *out, const float *x, const tn_weight *w, int64_t n_rows,
                        int64_t dim, float eps) {
    tn_cpu_exec *ex = (tn_cpu_exec *)e;
    norm_task t = {out, x, w->host, dim, eps};
    tn_pool_parallel_for(ex->pool, n_rows, 8, norm_rows, &t);
}

static void cpu_add(tn_exec *e, float *x, const float *y, int64_t n) {
    (void)e;
    for (int64_t i = 0; i < n; i++) x[i] += y[i];
}

static void cpu_swiglu(tn_exec *e, float *out, const float *gate, const float *up, int64_t n) {
    (void)e;
    for (int64_t i = 0; i < n; i++) {
        float g = gate[i];
        out[i] = g / (1.0f + expf(-g)) * up[i];
    }
}

static void cpu_get_rows(tn_exec *e, float *out, const float *x, int64_t dim) {
    const tn_batch_info *b = e->batch;
    for (int32_t j = 0; j < b->n_out; j++)
        memmove(out + (int64_t)j * dim, x + (int64_t)b->out_rows[j] * dim, (size_t)dim * sizeof(float));
}

static const tn_backend_ops cpu_ops = {
    .name = "CPU",
    .free = cpu_free,
    .upload_weight = cpu_upload_weight,
    .exec_new = cpu_exec_new,
    .exec_free = cpu_exec_free,
    .alloc = cpu_alloc,
    .release = cpu_release,
    .read = cpu_read,
    .begin = cpu_begin,
    .end = cpu_end,
    .embed = cpu_embed,
    .rmsnorm = cpu_rmsnorm,
    .matmul = tn_cpu_matmul,
    .add = cpu_add,
    .swiglu = cpu_swiglu,
    .rope_store = tn_cpu_rope_store,
    .attention = tn_cpu_attention,
    .get_rows = cpu_get_rows,
};

tn_backend *tn_backend_cpu_new(void) {
    tn_backend *be = calloc(1, sizeof *be);
    if (be) be->ops = &cpu_ops;
    return be;
}
