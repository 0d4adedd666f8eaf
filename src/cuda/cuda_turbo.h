/* CUDA kernels for TurboQuant KV caches (src/kv/kv.h layouts, bytes identical to the CPU's):
 * writing K/V rows into a turbo (or f16/f32) cache, and attention over such caches without
 * materializing f16 K/V (the query is rotated once per head in shared memory, scores are taken
 * against norm-scaled codebook values, values are accumulated in the rotated domain and unrotated
 * once). Decode splits the cells over several blocks (split-KV) and merges the partial softmax
 * sums in a second kernel; prefill runs the same kernel with one block per (token, head).
 * C API over device pointers, so the backend (cuda_backend.cu) can call it from its op list,
 * plus host-memory wrappers for tests. Only in CUDA=1 builds. */
#ifndef TN_CUDA_CUDA_TURBO_H
#define TN_CUDA_CUDA_TURBO_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Attention over one layer's cache; all pointers are device memory. */
typedef struct tn_cuda_turbo_attn {
    int32_t n_head, n_head_kv, head_dim;
    int32_t type_k, type_v; /* f16, f32, turbo2, turbo3 or turbo4 (numbers of src/kv/kv.h) */
    uint32_t rot_seed;      /* tn_kv_layer.rot_seed */
    float scale;            /* softmax scale */
    const void *k, *v;      /* n_kv rows of tn_kv_row_size(type, n_head_kv * head_dim) bytes */
    const float *q;         /* [n_tokens][n_head * head_dim], after RoPE */
    float *out;             /* [n_tokens][n_head * head_dim] */
    int32_t n_tokens;
    const int32_t *pos, *seq;           /* [n_tokens] */
    int32_t n_kv;                       /* cells [0, n_kv) may be attended to */
    const int32_t *n_kv_dev; /* if set, n_kv is read from here on the device (graph replay) */
    const int32_t *cell_pos, *cell_seq; /* [n_kv]; cell_pos -1 = empty */
    int32_t n_split;                    /* KV splits (1 = none; decode uses 2 .. 128) */
    float *part; /* scratch of tn_cuda_turbo_scratch() floats when n_split > 1 */
    int32_t use_tc; /* 1: decode on the tensor-core kernel where it applies (cuda_turbo_tc.cu;
                       the backend sets it unless TERN_CUDA_TURBO_TC=0) */
    int32_t pdl;    /* 1: the tensor-core decode kernel and the split merge are launched with
                       programmatic dependent launch (cuda_pdl.cuh), so that they overlap the
                       previous kernel's tail (the backend sets it: TERN_CUDA_TURBO_PDL=1) */
    int8_t *xq; /* optional, only with n_split > 1 and head_dim % 32 == 0: the split merge also
                   writes out quantized for the output projection's mat-vec, in 32-value items
                   ([n_tokens][n_head * head_dim] int8) */
    void *xm;   /* with xq: each item's tn_cu_xmeta (cuda_quant.cuh) */
    /* optional, only with n_tokens == 1: the token's K and V rows ([n_head_kv * head_dim], after
     * RoPE) are first stored into its cell *new_cell (as tn_cuda_turbo_store_rows would): by the
     * tensor-core kernel itself where it applies, else by the store kernel launched first */
    const float *new_k, *new_v;
    const int32_t *new_cell;
} tn_cuda_turbo_attn;

/* Writing K and V of a batch into the cache (after RoPE); device pointers. */
typedef struct tn_cuda_turbo_store {
    int32_t n_head_kv, head_dim, type_k, type_v;
    uint32_t rot_seed;
    const float *k, *v; /* [n_tokens][n_head_kv * head_dim] */
    void *k_cache, *v_cache;
    const int32_t *cell; /* [n_tokens] destination cell of each token */
    int32_t n_tokens;
    int32_t pdl; /* 1: launched with programmatic dependent launch (as tn_cuda_turbo_attn.pdl) */
} tn_cuda_turbo_store;

/* Cells [0, n_cells) of one layer's turbo cache, decoded and un-rotated into f16 rows of
 * n_head_kv * head_dim values (the prefill path runs the tensor-core attention on them). */
typedef struct tn_cuda_turbo_dequant {
    int32_t type, n_head_kv, head_dim;
    uint32_t rot_seed;
    const void *cache;
    void *out; /* device, n_cells * n_head_kv * head_dim halves */
    int32_t n_cells;
} tn_cuda_turbo_dequant;

/* 1 if the kernels handle these cache types and head size (head_dim a multiple of 16 up to 256,
 * types f16/f32/turbo2/3/4 with at least one turbo type), else 0. */
int tn_cuda_turbo_supported(int type_k, int type_v, int head_dim);
/* Floats of scratch (part) an attention call with a->n_split > 1 needs. */
size_t tn_cuda_turbo_scratch(const tn_cuda_turbo_attn *a);
/* Queue the kernels on `stream` (a cudaStream_t; NULL = default stream). 0, or -1 with an error
 * (tn_last_error) if the shape is unsupported or the launch failed. */
int tn_cuda_turbo_attention(const tn_cuda_turbo_attn *a, void *stream);
int tn_cuda_turbo_store_rows(const tn_cuda_turbo_store *s, void *stream);
int tn_cuda_turbo_dequant_rows(const tn_cuda_turbo_dequant *d, void *stream);

/* cuda_turbo_decode.cu, used by tn_cuda_turbo_attention: whether the fast decode kernel takes
 * this call (same turbo type for K and V, head 64/128/256, <= 8 tokens), and its launch (the
 * split merge, if any, is queued by the caller). */
int tn_cuda_turbo_fast_ok(const tn_cuda_turbo_attn *a);
int tn_cuda_turbo_decode_launch(const tn_cuda_turbo_attn *a, void *stream);
/* cuda_turbo_tc.cu: the same on tensor cores (same turbo type for K and V, head 64/128, at most
 * 8 query heads per KV head, <= 8 tokens); used when a->use_tc is set. */
int tn_cuda_turbo_tc_ok(const tn_cuda_turbo_attn *a);
int tn_cuda_turbo_tc_launch(const tn_cuda_turbo_attn *a, void *stream);
/* Blocks of that kernel the device holds at once for this shape (0: it does not apply). */
int tn_cuda_turbo_tc_slots(const tn_cuda_turbo_attn *a, int device);

/* Test wrappers on host memory: copy in, run, copy out, synchronize. a->k/v/q/pos/seq/cell_pos/
 * cell_seq point to host memory of n_kv rows / n_tokens entries; out is host memory, and so are
 * xq / xm where set (n_tokens * n_head * head_dim bytes and / 32 items of 8 bytes). */
int tn_cuda_turbo_attention_host(const tn_cuda_turbo_attn *a);
/* s->k/v/cell in host memory; k_cache/v_cache host buffers of n_cells rows that receive the
 * rows written on the device (the other rows are copied back unchanged). */
int tn_cuda_turbo_store_rows_host(const tn_cuda_turbo_store *s, int32_t n_cells);
/* d->cache: host rows; out: n_cells * n_head_kv * head_dim floats (the f16 results widened). */
int tn_cuda_turbo_dequant_rows_host(const tn_cuda_turbo_dequant *d, float *out);

#ifdef __cplusplus
}
#endif

#endif
