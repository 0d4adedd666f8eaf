/* The op table: everything a backend must implement to run the model families in src/models/.
 *
 * Architecture code (src/models) is written once as a sequence of these calls; backends (src/cpu,
 * src/cuda) never know which family they run. Ops are deliberately coarse and fused — a unit a GPU
 * kernel would implement ("per-head norm + RoPE + write K/V to the cache", "attention over the
 * cache") — so a decode step is a few dozen launches that can be captured as one CUDA graph.
 *
 * Two objects:
 *  - tn_backend: one per model. Owns the device and the weights (uploaded, maybe repacked, at load).
 *  - tn_exec:    one per context. Owns the stream/threads, activations and KV cache memory, and
 *                the current batch's metadata. All ops run on an exec.
 * Activations are float32, row-major [n_tokens][dim], in memory from exec_alloc (device memory on
 * a GPU). The model code only passes these pointers around; it never dereferences them. */
#ifndef TN_OPS_OPS_H
#define TN_OPS_OPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct tn_backend tn_backend;
typedef struct tn_exec tn_exec;

/* A 2-D weight: n_out rows of n_in elements (GGUF ne[0] = n_in, ne[1] = n_out). 1-D weights
 * (norms, biases) have n_out = 1. */
typedef struct tn_weight {
    const char *name;
    int type;
    int64_t n_in;
    int64_t n_out;
    const void *host; /* tensor bytes in the mapped GGUF file */
    void *impl;       /* backend-owned copy (e.g. device memory), NULL if the host bytes are used */
} tn_weight;

/* One layer's K and V cache: n_cells rows each. Element types are tn_type numbers or the
 * TurboQuant cache types of src/kv/kv.h (row layouts and sizes there). */
typedef struct tn_kv_layer {
    void *k;
    void *v;
    int type_k;
    int type_v;
    int64_t n_embd_k; /* n_head_kv * head_dim_k elements per cell */
    int64_t n_embd_v;
    uint32_t rot_seed; /* TurboQuant rotation seed of this layer (tn_turbo_layer_seed) */
} tn_kv_layer;

/* Metadata of the batch being computed; the runtime fills it on the host, begin() makes it visible
 * to the ops (a GPU backend uploads it to fixed device addresses so graphs can be replayed). */
typedef struct tn_batch_info {
    int32_t n_tokens;
    const int32_t *token; /* [n_tokens] */
    const int32_t *pos;   /* [n_tokens] */
    const int32_t *seq;   /* [n_tokens] */
    const int32_t *cell;  /* [n_tokens] cache cell each token's K/V is written to */
    int32_t n_kv;         /* cells [0, n_kv) may be attended to */
    const int32_t *cell_pos; /* [n_kv] position stored in each cell, -1 if empty */
    const int32_t *cell_seq; /* [n_kv] sequence of each cell, -1 if empty */
    int32_t n_out;           /* batch rows whose logits are wanted */
    const int32_t *out_rows; /* [n_out] */
} tn_batch_info;

enum { TN_ROPE_NORM = 0, TN_ROPE_NEOX = 2 }; /* adjacent pairs / halves (llama.cpp's modes) */

/* What attention needs to know about the layer (from the model's hyper-parameters). */
typedef struct tn_attn_params {
    int32_t n_head;
    int32_t n_head_kv;
    int32_t head_dim;
    int32_t n_rot;     /* rotated dims per head (<= head_dim) */
    int32_t rope_mode; /* TN_ROPE_NORM or TN_ROPE_NEOX */
    float freq_base;
    float freq_scale;
    float norm_eps;        /* for the optional per-head q/k RMSNorm */
    const tn_weight *q_norm; /* [head_dim] or NULL */
    const tn_weight *k_norm;
    float scale; /* softmax scale, usually 1/sqrt(head_dim) */
} tn_attn_params;

typedef struct tn_backend_ops {
    const char *name;
    void (*free)(tn_backend *be);
    /* Load time: fails (with a message naming the op and type) if the backend cannot use it. */
    int (*upload_weight)(tn_backend *be, tn_weight *w);
    tn_exec *(*exec_new)(tn_backend *be, int n_threads);
    void (*exec_free)(tn_exec *ex);

    /* Memory on the exec's device, zero-filled; NULL + error on failure. */
    void *(*alloc)(tn_exec *ex, size_t bytes);
    void (*release)(tn_exec *ex, void *p);
    /* Copies device memory to the host (waits for the work queued before it). */
    int (*read)(tn_exec *ex, void *host_dst, const void *src, size_t bytes);

    int (*begin)(tn_exec *ex, const tn_batch_info *batch);
    int (*end)(tn_exec *ex); /* the step is complete when this returns */

    /* out[t] = dequantized row token[t] of the embedding table */
    void (*embed)(tn_exec *ex, float *out, const tn_weight *table);
    /* out[r] = x[r] / rms(x[r]) * w, for n_rows rows of dim elements (out may equal x) */
    void (*rmsnorm)(tn_exec *ex, float *out, const float *x, const tn_weight *w, int64_t n_rows,
                    int64_t dim, float eps);
    /* out[r][o] = sum_i x[r][i] * W[o][i] (+ bias[o] if bias != NULL), r < n_rows */
    void (*matmul)(tn_exec *ex, float *out, const tn_weight *w, const tn_weight *bias,
                   const float *x, int64_t n_rows);
    /* x[i] += y[i] */
    void (*add)(tn_exec *ex, float *x, const float *y, int64_t n);
    /* out[i] = silu(gate[i]) * up[i] */
    void (*swiglu)(tn_exec *ex, float *out, const float *gate, const float *up, int64_t n);
    /* Per batch token: optional RMSNorm of each q/k head, RoPE at the token's position, then
     * k and v written to the cache at the token's cell. q and k are modified in place. */
    void (*rope_store)(tn_exec *ex, float *q, float *k, const float *v, const tn_attn_params *p,
                       tn_kv_layer *kv);
    /* out[t][h] = softmax over visible cells (same sequence, pos <= token pos) of q.k * scale,
     * applied to v. out is [n_tokens][n_head * head_dim]. */
    void (*attention)(tn_exec *ex, float *out, const float *q, const tn_kv_layer *kv,
                      const tn_attn_params *p);
    /* out[j] = x[out_rows[j]] for the batch's logits rows; rows of dim elements */
    void (*get_rows)(tn_exec *ex, float *out, const float *x, int64_t dim);

    /* Optional: returns when all work queued on the exec has finished (the profiler times ops
     * with it). NULL for backends whose ops complete before they return (CPU). */
    int (*sync)(tn_exec *ex);

    /* Optional, after end(): the k (<= TN_TOP_K_MAX) best entries of the logits row `logits`
     * (n entries, on the exec's device), after the repetition penalty of the n_pen (<=
     * TN_PENALTY_MAX) distinct tokens pen_ids (logit / penalty if positive, * penalty if not):
     * ids[] and vals[] ordered by value descending, equal values by lower id. The sampler then
     * copies k candidates instead of the whole row (a GPU keeps its logits: only the candidates
     * cross PCIe). Logits of a backend with this op are read only when asked for, after end(). */
    int (*top_k)(tn_exec *ex, const float *logits, int32_t n, int32_t k, const int32_t *pen_ids,
                 int32_t n_pen, float penalty, int32_t *ids, float *vals);
} tn_backend_ops;

enum { TN_TOP_K_MAX = 256, TN_PENALTY_MAX = 256 };

struct tn_backend {
    const tn_backend_ops *ops;
};

struct tn_exec {
    tn_backend *be;
    const tn_batch_info *batch; /* set by begin() */
};

tn_backend *tn_backend_cpu_new(void);
#ifdef TN_CUDA
tn_backend *tn_backend_cuda_new(int device);
#endif

#endif
