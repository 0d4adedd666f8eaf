/* The backend's glue to the TurboQuant kernels (cuda_turbo.h): cache store after RoPE, decode
 * attention on the compressed cache, and prefill through the tensor-core kernel on cells decoded
 * to f16 (prefill is bound by tensor-core FLOPs, not by reading the cache). */
#include <stdlib.h>
#include <string.h>

#include "cuda/cuda_common.cuh"

extern "C" {
#include "cuda/cuda_turbo.h"
#include "kv/kv.h"
}

bool tn_cu_turbo_supported(const tn_cu_attn *a) {
    return tn_cuda_turbo_supported(a->type_k, a->type_v, a->head_dim) != 0;
}

int tn_cu_turbo_max_split(void) { return 128; }

void tn_cu_turbo_store(tn_cu_exec *ex, const float *k, const float *v, const tn_cu_attn *a, int32_t n_tokens) {
    tn_cuda_turbo_store s = {a->n_head_kv, a->head_dim, a->type_k, a->type_v, a->rot_seed, k, v,
                             a->k, a->v, ex->d_cell, n_tokens, ex->turbo_pdl != 0};
    if (tn_cuda_turbo_store_rows(&s, ex->st) != 0) tn_cu_fail(ex, "%s", tn_last_error());
}

/* Prefill through the tensor-core kernel: whether it applies to this shape (TERN_CUDA_TURBO_REF=1:
 * never, the reference kernel does prefill too). */
static bool turbo_prefill_f16(const tn_cu_attn *a, int32_t n_tokens) {
    const char *e = getenv("TERN_CUDA_TURBO_REF");
    if (e && *e && strcmp(e, "0") != 0) return false;
    return tn_cu_attn_use_prefill(a, n_tokens) && tn_cu_attn_supported(a);
}

size_t tn_cu_turbo_kvh(const tn_cu_attn *a, int32_t n_tokens, int32_t n_kv) {
    if (!turbo_prefill_f16(a, n_tokens)) return 0;
    const int turbo = (tn_kv_turbo_bits(a->type_k) > 0) + (tn_kv_turbo_bits(a->type_v) > 0);
    return (size_t)turbo * (size_t)n_kv * (size_t)a->n_head_kv * (size_t)a->head_dim * sizeof(__half);
}

static tn_cuda_turbo_attn turbo_args(tn_cu_exec *ex, float *out, const float *q, const tn_cu_attn *a,
                                     int32_t n_tokens, int n_split) {
    tn_cuda_turbo_attn t = {};
    t.n_head = a->n_head;
    t.n_head_kv = a->n_head_kv;
    t.head_dim = a->head_dim;
    t.type_k = a->type_k;
    t.type_v = a->type_v;
    t.rot_seed = a->rot_seed;
    t.scale = a->scale;
    t.k = a->k;
    t.v = a->v;
    t.q = q;
    t.out = out;
    t.n_tokens = n_tokens;
    t.pos = ex->d_pos;
    t.seq = ex->d_seq;
    t.n_kv = ex->n_kv;
    t.n_kv_dev = ex->d_meta; /* graph replay: n_kv of the current step */
    t.cell_pos = ex->d_cpos;
    t.cell_seq = ex->d_cseq;
    t.n_split = n_split;
    t.part = ex->part;
    t.use_tc = ex->turbo_tc;
    t.pdl = ex->turbo_pdl == 1;
    return t;
}

int tn_cu_turbo_tc_slots(tn_cu_exec *ex, const tn_cu_attn *a, int32_t n_tokens) {
    if (!ex->turbo_tc || turbo_prefill_f16(a, n_tokens)) return 0;
    const tn_cuda_turbo_attn t = turbo_args(ex, NULL, NULL, a, n_tokens, 1);
    return tn_cuda_turbo_tc_slots(&t, ex->device);
}

size_t tn_cu_turbo_part(const tn_cu_attn *a, int32_t n_tokens, int n_split) {
    if (turbo_prefill_f16(a, n_tokens)) return 0;
    tn_cuda_turbo_attn t = {};
    t.n_head = a->n_head;
    t.head_dim = a->head_dim;
    t.n_tokens = n_tokens;
    t.n_split = n_split;
    return tn_cuda_turbo_scratch(&t);
}

/* The split merge quantizes whole 32-value items of one head (tq_merge_kernel). */
bool tn_cu_turbo_quantizes_out(const tn_cu_exec *ex, const tn_cu_attn *a, int32_t n_tokens, int n_split) {
    return ex->turbo_xq && n_split > 1 && a->head_dim % 32 == 0 && !turbo_prefill_f16(a, n_tokens);
}

void tn_cu_turbo_attention(tn_cu_exec *ex, float *out, const float *q, const tn_cu_attn *a, int32_t n_tokens,
                           int n_split, int8_t *xq, tn_cu_xmeta *xm, const float *new_k, const float *new_v) {
    if (new_k && (n_tokens != 1 || turbo_prefill_f16(a, n_tokens))) {
        tn_cu_fail(ex, "CUDA TurboQuant attention: the cache store is fused only into one-token decode");
        return;
    }
    if (!turbo_prefill_f16(a, n_tokens)) {
        tn_cuda_turbo_attn t = turbo_args(ex, out, q, a, n_tokens, n_split);
        t.xq = xq;
        t.xm = xm;
        t.new_k = new_k;
        t.new_v = new_v;
        t.new_cell = new_k ? ex->d_cell : NULL;
        if (tn_cuda_turbo_attention(&t, ex->st) != 0) tn_cu_fail(ex, "%s", tn_last_error());
        return;
    }
    /* decode the cells [0, n_kv) of the turbo cache(s) to f16 rows, then the f16 prefill kernel */
    tn_cu_attn f = *a;
    f.turbo = false;
    __half *dst = ex->kvh;
    const size_t cells = (size_t)ex->n_kv * (size_t)a->n_head_kv * (size_t)a->head_dim;
    for (int kv = 0; kv < 2; kv++) {
        const int type = kv ? a->type_v : a->type_k;
        if (!tn_kv_turbo_bits(type)) continue;
        tn_cuda_turbo_dequant d = {type, a->n_head_kv, a->head_dim, a->rot_seed, kv ? a->v : a->k, dst, ex->n_kv};
        if (tn_cuda_turbo_dequant_rows(&d, ex->st) != 0) {
            tn_cu_fail(ex, "%s", tn_last_error());
            return;
        }
        if (kv) f.v = dst, f.type_v = TN_TYPE_F16;
        else f.k = dst, f.type_k = TN_TYPE_F16;
        dst += cells;
    }
    tn_cu_attention(ex, out, q, &f, n_tokens, 1, false, NULL, NULL);
}
