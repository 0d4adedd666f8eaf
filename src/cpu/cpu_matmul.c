/* CPU matrix multiplication out = x W^T (+ bias). Activations are first converted to the weight
 * type's dot-product type (e.g. Q8_0 / Q8_K for quantized weights, so inner loops are integer
 * SIMD), then output rows are shared among threads. Each weight row is streamed once per block of
 * tokens, which is what bounds decode (one token) by memory bandwidth. */
#include <string.h>

#include "cpu/cpu_backend.h"
#include "formats/types.h"

enum { TOKEN_BLOCK = 32 }; /* tokens whose activations stay in cache while a weight row is reused */

typedef struct quant_task {
    int type;
    const float *x;
    char *dst;
    int64_t n_in;
    size_t row_bytes;
} quant_task;

static void quantize_rows(void *arg, int64_t b, int64_t e, int thread) {
    quant_task *t = arg;
    for (int64_t r = b; r < e; r++)
        tn_quantize_row(t->type, t->x + r * t->n_in, t->dst + (size_t)r * t->row_bytes, t->n_in);
}

typedef struct mm_task {
    float *out;
    const char *w;
    size_t w_row_bytes;
    const char *act;
    size_t act_row_bytes;
    int64_t n_in, n_out, n_rows;
    tn_vec_dot_fn dot;
    const float *bias;
} mm_task;

static void matmul_rows(void *arg, int64_t b, int64_t e, int thread) {
    mm_task *t = arg;
    for (int64_t r0 = 0; r0 < t->n_rows; r0 += TOKEN_BLOCK) {
        int64_t r1 = r0 + TOKEN_BLOCK < t->n_rows ? r0 + TOKEN_BLOCK : t->n_rows;
        for (int64_t o = b; o < e; o++) {
            const char *wrow = t->w + (size_t)o * t->w_row_bytes;
            float bias = t->bias ? t->bias[o] : 0.0f;
            for (int64_t r = r0; r < r1; r++) {
                float s;
                t->dot(t->n_in, &s, wrow, t->act + (size_t)r * t->act_row_bytes);
                t->out[r * t->n_out + o] = s + bias;
            }
        }
    }
}

void tn_cpu_matmul(tn_exec *e, float *out, const tn_weight *w, const tn_weight *bias,
                   const float *x, int64_t n_rows) {
    tn_cpu_exec *ex = (tn_cpu_exec *)e;
    int act_type = tn_vec_dot_type(w->type);
    const char *act = (const char *)x;
    size_t act_row_bytes = (size_t)w->n_in * sizeof(float);
    if (act_type != TN_TYPE_F32) {
        act_row_bytes = tn_row_size(act_type, w->n_in);
        char *buf = tn_cpu_grow(&ex->act_buf, &ex->act_cap, act_row_bytes * (size_t)n_rows);
        quant_task qt = {act_type, x, buf, w->n_in, act_row_bytes};
        tn_pool_parallel_for(ex->pool, n_rows, 4, quantize_rows, &qt);
        act = buf;
    }
    int n_threads = tn_pool_n_threads(ex->pool);
    int64_t grain = w->n_out / ((int64_t)n_threads * 8);
    if (grain < 1) grain = 1;
    mm_task t = {
        .out = out,
        .w = w->host,
        .w_row_bytes = tn_row_size(w->type, w->n_in),
        .act = act,
        .act_row_bytes = act_row_bytes,
        .n_in = w->n_in,
        .n_out = w->n_out,
        .n_rows = n_rows,
        .dot = tn_vec_dot(w->type),
        .bias = bias ? bias->host : NULL,
    };
    tn_pool_parallel_for(ex->pool, w->n_out, grain, matmul_rows, &t);
}
