/* Random attention problems over a KV cache of any type (src/kv), shared by test_kv_turbo (CPU
 * attention vs references) and test_cuda_turbo (CUDA kernels vs the CPU on the same cache bytes).
 * The cache is filled through the CPU backend's rope_store (n_rot = 0, so K is stored as given);
 * queries are the last n_tokens positions of sequence 0, and every fifth cell belongs to
 * sequence 1, so the mask is exercised. */
#ifndef TN_TESTS_KV_ATTN_CASE_H
#define TN_TESTS_KV_ATTN_CASE_H

#include <stdint.h>

#include "ops/ops.h"

typedef struct tkv_case {
    int head_dim, n_head, n_head_kv, n_kv, n_tokens;
    float *q;                            /* [n_tokens][n_head * head_dim] */
    float *k, *v;                        /* [n_kv][n_head_kv * head_dim], what was stored */
    int32_t *pos, *seq, *cell;           /* [n_tokens] of the query batch */
    int32_t *cell_pos, *cell_seq;        /* [n_kv] */
    tn_attn_params ap;
    tn_kv_layer kv; /* caches: n_kv rows of the chosen types, host memory */
    size_t k_row, v_row;
    tn_batch_info b; /* the query batch */
} tkv_case;

/* 0, or -1 with tn_last_error() set (e.g. a type that cannot hold the head size). */
int tkv_case_init(tkv_case *c, int type_k, int type_v, int head_dim, int n_head, int n_head_kv,
                  int n_kv, int n_tokens, uint64_t seed);
/* The same with the queries times q_scale (sharper attention) and the values times v_scale
 * (real models' V rows are far from unit size). */
int tkv_case_init_scaled(tkv_case *c, int type_k, int type_v, int head_dim, int n_head, int n_head_kv,
                         int n_kv, int n_tokens, uint64_t seed, float q_scale, float v_scale);
void tkv_case_free(tkv_case *c);
/* The CPU backend's attention op over the case's caches: out[n_tokens][n_head * head_dim]. */
int tkv_attention_cpu(const tkv_case *c, float *out, int n_threads);
/* Reference: every cell decoded to floats (tn_kv_dequant_row, original domain), softmax attention
 * in double precision. */
void tkv_attention_ref(const tkv_case *c, float *out);
/* ||a - b|| / ||b|| over n values. */
double tkv_rel_err(const float *a, const float *b, size_t n);

#endif
