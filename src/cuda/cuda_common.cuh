/* CUDA backend internals shared by its files: the weight and exec objects, the recorded op list,
 * and the kernel launchers each .cu file provides.
 *
 * Execution model: ops called by the model code are *recorded* (cheap host work), not launched.
 * When results are needed (read() or end()), the recorded list is planned — neighbouring ops are
 * fused (rmsnorm + activation quantization, q/k/v mat-vecs in one launch, gate/up + SwiGLU,
 * mat-vec + residual add) — and launched on the exec's stream. Small batches (decode) are
 * captured once as a CUDA graph and replayed while the op list stays identical; everything that
 * changes from step to step (token ids, positions, cells, n_kv) lives in fixed device buffers
 * filled by begin(). */
#ifndef TN_CUDA_CUDA_COMMON_CUH
#define TN_CUDA_CUDA_COMMON_CUH

#include <cublas_v2.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <stdint.h>

extern "C" {
#include "core/error.h"
#include "formats/types.h"
#include "ops/ops.h"
}
#include "cuda/cuda_pdl.cuh"
#include "cuda/cuda_quant.cuh"

/* A weight on the device. Quantized types use the item layout of cuda_quant.cuh (a, b, s);
 * F32/F16/BF16 matrices and 1-D vectors keep their row-major elements in `raw`. */
typedef struct tn_cu_weight {
    int type;
    int64_t n_in, n_out, n_items;
    uint8_t *a, *b, *s;
    size_t a_row, b_row, s_row; /* bytes per row in each array */
    void *raw;
    void *base; /* the single device allocation holding all of the above */
    size_t bytes;
} tn_cu_weight;

/* Layout of a quantized type (false if the type has no CUDA layout). */
bool tn_cu_layout(int type, int *qa, int *qb, int *qs, int *ips);
bool tn_cu_is_float(int type); /* F32, F16, BF16 */
/* Repacks n_out rows of GGUF blocks into the item layout (host memory). */
void tn_cu_repack(int type, const void *src, int64_t n_in, int64_t n_out, uint8_t *a, uint8_t *b,
                  uint8_t *s);

enum {
    TN_CU_OP_EMBED,
    TN_CU_OP_RMSNORM,
    TN_CU_OP_MATMUL,
    TN_CU_OP_ADD,
    TN_CU_OP_SWIGLU,
    TN_CU_OP_ROPE,
    TN_CU_OP_ATTN,
    TN_CU_OP_GET_ROWS,
};

/* Attention parameters with the weights resolved (a copy: the model passes a stack struct). */
typedef struct tn_cu_attn {
    int32_t n_head, n_head_kv, head_dim, n_rot, rope_mode;
    float freq_base, freq_scale, norm_eps, scale;
    const float *q_norm, *k_norm; /* device vectors or NULL */
    void *k, *v;                  /* cache */
    int32_t type_k, type_v;
    int64_t n_embd_k, n_embd_v;
    uint32_t rot_seed; /* TurboQuant rotation seed of the layer */
    bool turbo;        /* K or V is a TurboQuant cache: cuda_attn_turbo.cu does store + attention */
} tn_cu_attn;

/* cos and sin of RoPE pair j at position pos, the angle in double as the CPU backend computes
 * it: every kernel that rotates q/k (k_rope_store, the mat-vec epilogue) gives the same floats. */
__device__ __forceinline__ void tn_cu_rope_cs(const tn_cu_attn &a, int32_t pos, int j, float *c, float *s) {
    const double theta = (double)pos * (double)a.freq_scale * pow((double)a.freq_base, -2.0 * j / a.n_rot);
    double sv, cv;
    sincos(theta, &sv, &cv);
    *c = (float)cv;
    *s = (float)sv;
}

/* Element i of a K or V cache of type `type` (f16 or f32) := x. */
__device__ __forceinline__ void tn_cu_cache_put(void *cache, int32_t type, int64_t i, float x) {
    if (type == TN_TYPE_F16) ((__half *)cache)[i] = __float2half_rn(x);
    else ((float *)cache)[i] = x;
}

/* One recorded op. Fields not used by an op stay zero. */
typedef struct tn_cu_op {
    int kind;
    int n_split; /* attention: KV splits (decode kernel) */
    bool attn_tc; /* attention: decode on the tensor-core kernel (cuda_attn_tc.cu) */
    float *out;
    const float *x, *y;
    float *k; /* rope: q = out, k, v = x */
    const tn_cu_weight *w, *bias;
    int64_t n_rows, dim, n;
    float eps;
    tn_cu_attn at;
} tn_cu_op;

typedef struct tn_cu_graph {
    tn_cu_op *ops;
    int n_ops;
    cudaGraphExec_t exec;
    uint64_t last_use;
} tn_cu_graph;

enum { TN_CU_MAX_GRAPHS = 4, TN_CU_MAX_NR = 8, TN_CU_MAX_SPLIT = 128 };

typedef struct tn_cu_exec {
    tn_exec base;
    int device;
    int n_sm; /* the device's SMs */
    cudaStream_t st;
    cublasHandle_t blas;
    bool poison, use_graphs;
    /* split-KV decode attention (see tn_cu_attn_plan; the variables are for tests and A/B):
     * cells per split of the f32 and the tensor-core kernel (TERN_CUDA_SPLIT_CELLS sets both,
     * TERN_CUDA_TC_SPLIT_CELLS the latter; 0: one wave of blocks), most splits (TERN_CUDA_MAX_SPLIT), caches up to
     * one_split cells on the f32 kernel with one split (TERN_CUDA_ONE_SPLIT), and attn_tc: 0 no
     * tensor-core kernel, 1 for caches of more than tc_from cells (TERN_CUDA_TC_FROM), 2 for
     * every decode step (TERN_CUDA_ATTN_TC) */
    int split_cells, tc_split_cells, max_split, one_split, attn_tc, tc_from;
    bool turbo_tc; /* TurboQuant decode on tensor cores where that kernel applies (default;
                      TERN_CUDA_TURBO_TC=0: the f32 kernel) */
    int turbo_pdl; /* TurboQuant kernels launched with programmatic dependent launch: 1 the store,
                      tensor-core decode and merge kernels (TERN_CUDA_TURBO_PDL=1: 5 % slower on
                      the H200, 2026-12-03 record), 2 the store only (=store), 0 none (default) */
    bool turbo_xq; /* the TurboQuant split merge quantizes the output projection's input
                      (TERN_CUDA_TURBO_XQ=0: a separate quantize kernel; no faster or slower on
                      the H200, 2026-12-03 record) */
    bool turbo_fuse; /* TurboQuant decode (one token): RoPE in the q/k/v mat-vecs and the token's
                        cache store by the attention kernel (tn_cuda_turbo_attn.new_k), instead of
                        k_rope_store and the store kernel (TERN_CUDA_TURBO_FUSE=0) */
    int store_in_op; /* the attention op that stores the token's K/V (turbo_fuse), or -1 */
    int tc_slots, tc_slots_key; /* blocks of the tensor-core decode kernel (f16 or TurboQuant)
                                   resident at once, for the layer shape `key` (0: not yet asked) */
    bool mv_stage; /* decode mat-vecs stage activations in shared memory (TERN_CUDA_STAGE=0: off) */
    bool fuse_rope; /* decode q/k/v mat-vecs do RoPE + cache store in their epilogue instead of a
                       separate kernel (TERN_CUDA_FUSE_ROPE=0 or TERN_CUDA_STAGE=0: off) */
    int fuse_quant; /* decode residual mat-vecs quantize their output for the next RMSNorm's
                       mat-vecs (tn_cu_mv_io), so that norm's kernel goes: 1 where they have
                       enough blocks (makes_norm_items), 2 always (TERN_CUDA_FUSE_QUANT=2, tests),
                       0 never (TERN_CUDA_FUSE_QUANT=0) */
    int attn_lpc; /* lanes per cell of the f32 decode attention kernel with f16 caches, one query
                     head per block and RoPE done before it (2; TERN_CUDA_ATTN_LPC=1: 1) */
    bool attn_rope; /* tn_cu_attn_rope_in_ok (default; TERN_CUDA_ATTN_ROPE=0: off) */
    int rope_in_op; /* planner state: the attention op that does the RoPE op before it (-1: none) */
    /* planner state within tn_cu_run_ops: RMSNorm op fz_op's items were made by the mat-vec before
     * it, in xq2/xm2 if fz_buf, else xq/xm */
    int fz_op, fz_buf;
    const char *skip; /* TERN_CUDA_SKIP (profiling only, wrong results): op kinds not launched */
    bool pdl; /* launch kernels with programmatic dependent launch (TERN_CUDA_PDL=0 turns it off) */
    int failed;
    char err[512];
    /* batch metadata at fixed device addresses */
    int32_t *d_tok, *d_pos, *d_seq, *d_cell, *d_orow;
    int32_t cap_tok;
    int32_t *d_cpos, *d_cseq;
    int32_t cap_cells;
    int32_t *d_meta; /* [0] = n_kv */
    int32_t *h_pin;  /* pinned staging for the uploads */
    size_t h_pin_cap;
    void *h_read; /* pinned staging for read() */
    size_t h_read_cap;
    int32_t n_tokens, n_kv, n_out;
    /* recorded ops of the current step */
    tn_cu_op *ops;
    int n_ops, cap_ops;
    /* scratch */
    int8_t *xq;
    size_t xq_cap;
    tn_cu_xmeta *xm;
    size_t xm_cap;
    int8_t *xq2; /* the second pair: a mat-vec quantizing its output must not overwrite its input */
    size_t xq2_cap;
    tn_cu_xmeta *xm2;
    size_t xm2_cap;
    double *fz_ss; /* per-item sums of squares (tn_cu_mv_io out_ss / in_ss) */
    size_t fz_ss_cap;
    __half *xh;
    size_t xh_cap;
    __half *wh;
    size_t wh_cap;
    float *part;
    size_t part_cap;
    __half *kvh; /* TurboQuant prefill: the cache's cells decoded to f16 (K rows, then V rows) */
    size_t kvh_cap;
    unsigned *cnt; /* split-KV arrival counters, zero between launches */
    size_t cnt_cap;
    void *topk; /* the sampler's top-k passes (cuda_sample.cu) */
    size_t topk_cap;
    tn_cu_graph graphs[TN_CU_MAX_GRAPHS];
    uint64_t clock;
    /* TERN_CUDA_TIMING=1: device time of each step's launches (events around them) against the
     * host's begin-to-end time, summed over small-batch steps and printed when the exec is freed */
    bool timing;
    cudaEvent_t ev0, ev1;
    double t_begin, t_gpu_ms, t_wall_ms;
    int64_t n_timed, n_captures;
} tn_cu_exec;

/* Records the first error of a step (printf-style); later ops of the step are skipped. */
void tn_cu_fail(tn_cu_exec *ex, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Checks the last launch; returns false (after tn_cu_fail) on error. */
bool tn_cu_check(tn_cu_exec *ex, const char *what);

/* ---- launchers (each returns after queueing work on ex->st) ---- */

/* cuda_elementwise.cu */
void tn_cu_rmsnorm(tn_cu_exec *ex, float *out, const float *x, const float *w, int64_t n_rows,
                   int64_t dim, float eps, int8_t *xq, tn_cu_xmeta *xm);
void tn_cu_quantize(tn_cu_exec *ex, const float *x, int64_t n_rows, int64_t n_in, int8_t *xq,
                    tn_cu_xmeta *xm);
void tn_cu_add(tn_cu_exec *ex, float *x, const float *y, int64_t n);
void tn_cu_swiglu(tn_cu_exec *ex, float *out, const float *g, const float *u, int64_t n);
void tn_cu_get_rows(tn_cu_exec *ex, float *out, const float *x, int64_t dim, int32_t n_out);
void tn_cu_to_half(tn_cu_exec *ex, __half *dst, const float *src, int64_t n);
void tn_cu_add_bias(tn_cu_exec *ex, float *out, const float *bias, int64_t n_rows, int64_t n_out);

/* cuda_matvec.cu: out = W x for up to 3 weights of one type sharing the input. */
typedef struct tn_cu_mv_seg {
    const tn_cu_weight *w;
    const float *bias;
    float *out;
    float *res; /* if set: res += out (fused residual add) */
    int rope;   /* TN_CU_ROPE_Q/K/V: this weight makes decode q/k/v, which get k_rope_store's work
                   (RoPE; K and V into the cache) in the epilogue (tn_cu_matvec's `at`) */
} tn_cu_mv_seg;
enum { TN_CU_ROPE_NONE, TN_CU_ROPE_Q, TN_CU_ROPE_K, TN_CU_ROPE_V };
/* Whether the q/k/v mat-vecs of one decode token can do the RoPE + cache store of `a` (for
 * TurboQuant caches the RoPE only: the turbo store follows, or the attention kernel does it). */
bool tn_cu_matvec_ropes(const tn_cu_exec *ex, const tn_cu_attn *a, int64_t n_rows);
/* A mat-vec's int8 activations and, in decode, the quantization of its output that it makes for
 * the next mat-vec (instead of an RMSNorm kernel between them).
 * In: xq/xm, the input's items. With in_ss, they are the items of x * w (w: the RMSNorm weights)
 * made before the norm's scale was known, and in_ss holds the sums of squares of x per item: the
 * kernel computes the scale (as k_rmsnorm does) and multiplies the items' d by it (the integers
 * of x*s*w and x*w quantized are the same, up to rounding at a tie).
 * Out (one activation row, one quantized weight with a residual add, staged input, n_out % 32 ==
 * 0): the items of (residual after the add) * out_nw (the next RMSNorm's weights) into out_q /
 * out_m and the residual's sums of squares per item into out_ss. */
typedef struct tn_cu_mv_io {
    const int8_t *xq;
    const tn_cu_xmeta *xm;
    const double *in_ss;
    float in_eps;
    int8_t *out_q;
    tn_cu_xmeta *out_m;
    double *out_ss;
    const float *out_nw;
} tn_cu_mv_io;
/* swiglu: seg[0] = gate, seg[1] = up; gate's output becomes silu(gate) * up. x: the float input
 * (float weights); io: the int8 items (quantized weights) in and out; at: the attention layer of
 * segments with a rope role (else NULL). */
void tn_cu_matvec(tn_cu_exec *ex, const tn_cu_mv_seg *seg, int n_seg, bool swiglu, const float *x,
                  const tn_cu_mv_io *io, int n_rows, const tn_cu_attn *at);
/* Whether a decode mat-vec with this input width stages its activations (and so can take in_ss). */
bool tn_cu_matvec_stages(const tn_cu_exec *ex, int64_t n_in);

/* cuda_plan.cu: launches the kernels for ops[0..n) (fusing neighbours where a kernel can) */
void tn_cu_run_ops(tn_cu_exec *ex, const tn_cu_op *ops, int n);

/* cuda_sample.cu: the k best entries of a logits row (see tn_backend_ops.top_k) into ids/vals,
 * through `scratch` (device, tn_cu_top_k_scratch bytes) and `host` (pinned, 8 * k bytes). */
size_t tn_cu_top_k_scratch(int64_t n, int k);
void tn_cu_top_k(tn_cu_exec *ex, const float *row, int64_t n, int k, const int32_t *pen_ids, int n_pen,
                 float penalty, void *scratch, void *host, int32_t *ids, float *vals);

/* cuda_dequant.cu */
void tn_cu_embed(tn_cu_exec *ex, float *out, const tn_cu_weight *w, int32_t n_tokens);
/* out[r][o] = x[r] . W[o] (+bias) through cuBLAS on f16 (weights dequantized in chunks). */
void tn_cu_gemm(tn_cu_exec *ex, float *out, const tn_cu_weight *w, const float *bias,
                const float *x, const __half *xh, int64_t n_rows);
/* Elements per dequantization chunk (the size of ex->wh). */
enum { TN_CU_WH_CHUNK = 8 << 20 };

/* cuda_attention.cu */
void tn_cu_rope_store(tn_cu_exec *ex, float *q, float *k, const float *v, const tn_cu_attn *a,
                      int32_t n_tokens);
/* xq/xm (optional, decode only): also write the int8 items of out for the next mat-vec. */
void tn_cu_attention(tn_cu_exec *ex, float *out, const float *q, const tn_cu_attn *a,
                     int32_t n_tokens, int n_split, bool tc, int8_t *xq, tn_cu_xmeta *xm);
/* Whether a decode step's attention can also do the RoPE op before it (k_rope_store's QK-norm,
 * rotation and cache store; TERN_CUDA_ATTN_ROPE=0: never): one token, one split on the f32
 * kernel, f16 or f32 K and V of one type. Then tn_cu_attention_rope_in runs the
 * attention with k, v the token's rows before RoPE, and the RoPE op launches nothing. */
bool tn_cu_attn_rope_in_ok(const tn_cu_exec *ex, const tn_cu_attn *a, int32_t n_tokens, int n_split, bool tc);
void tn_cu_attention_rope_in(tn_cu_exec *ex, float *out, const float *q, const float *k, const float *v,
                             const tn_cu_attn *a, int8_t *xq, tn_cu_xmeta *xm);
/* The decode kernel and KV split count for n_tokens tokens over ex->n_kv cells (recorded with the
 * op: a replayed graph launches what was planned at capture). */
void tn_cu_attn_plan(tn_cu_exec *ex, const tn_cu_attn *a, int32_t n_tokens, int *n_split, bool *tc);
/* head_dim 32, 64, 128 or 256 */
bool tn_cu_attn_supported(const tn_cu_attn *a);
/* Floats of ex->part an attention launch needs. */
size_t tn_cu_attn_scratch(const tn_cu_attn *a, int32_t n_tokens, int n_split);
/* cuda_attn_prefill.cu: whether the tensor-core prefill kernel handles this shape (else the
 * decode kernels are used), and its launch. */
bool tn_cu_attn_use_prefill(const tn_cu_attn *a, int32_t n_tokens);
void tn_cu_attn_prefill(tn_cu_exec *ex, float *out, const float *q, const tn_cu_attn *a, int32_t n_tokens);

/* cuda_attn_turbo.cu: the same two steps for TurboQuant caches (a->turbo). The store runs after
 * tn_cu_rope_store (which leaves such a cache alone); decode attention reads the compressed
 * cache directly, prefill decodes the visible cells to f16 (ex->kvh) for the tensor-core kernel. */
bool tn_cu_turbo_supported(const tn_cu_attn *a);
void tn_cu_turbo_store(tn_cu_exec *ex, const float *k, const float *v, const tn_cu_attn *a, int32_t n_tokens);
/* xq/xm (or NULL): also the output quantized for the next mat-vecs, where
 * tn_cu_turbo_quantizes_out says the kernels can; new_k/new_v (or NULL; one token): the token's
 * K and V rows after RoPE, stored into its cell (ex->d_cell) first, in place of tn_cu_turbo_store. */
bool tn_cu_turbo_quantizes_out(const tn_cu_exec *ex, const tn_cu_attn *a, int32_t n_tokens, int n_split);
void tn_cu_turbo_attention(tn_cu_exec *ex, float *out, const float *q, const tn_cu_attn *a, int32_t n_tokens,
                           int n_split, int8_t *xq, tn_cu_xmeta *xm, const float *new_k, const float *new_v);
/* Most KV splits of the turbo decode kernels; floats of ex->part and bytes of ex->kvh a call needs. */
int tn_cu_turbo_max_split(void);
/* Resident blocks of the TurboQuant tensor-core decode kernel for this layer's shape, 0 if it is
 * off or does not apply (then the turbo kernels take the f32 kernel's split rule). Not cached. */
int tn_cu_turbo_tc_slots(tn_cu_exec *ex, const tn_cu_attn *a, int32_t n_tokens);
size_t tn_cu_turbo_part(const tn_cu_attn *a, int32_t n_tokens, int n_split);
size_t tn_cu_turbo_kvh(const tn_cu_attn *a, int32_t n_tokens, int32_t n_kv);

/* ---- programmatic dependent launch (Hopper): cuda_pdl.cuh ----
 * Every backend kernel is launched with tn_cu_launch (PDL unless TERN_CUDA_PDL=0), calls
 * tn_cu_pdl_begin() first and tn_cu_pdl_wait() before reading what an earlier kernel wrote; mat-vecs
 * fetch their first weights before the wait, so a kernel's launch and DRAM latency overlap the
 * previous kernel's tail. */
template <typename... P, typename... A>
static inline void tn_cu_launch(tn_cu_exec *ex, void (*kernel)(P...), dim3 grid, dim3 block, size_t smem,
                                A &&...args) {
    tn_cu_launch_on(ex->st, ex->pdl, kernel, grid, block, smem, static_cast<A &&>(args)...);
}

/* An item's QA bytes of A (8, 16 or 32) with 8- or 16-byte loads through the read-only path. */
template <int QA> __device__ __forceinline__ void tn_cu_load_a(const uint8_t *p, uint32_t *a) {
    if (QA == 16) {
        uint4 v = __ldg((const uint4 *)p);
        a[0] = v.x, a[1] = v.y, a[2] = v.z, a[3] = v.w;
    } else if (QA == 32) {
        uint4 v = __ldg((const uint4 *)p), w = __ldg((const uint4 *)p + 1);
        a[0] = v.x, a[1] = v.y, a[2] = v.z, a[3] = v.w;
        a[4] = w.x, a[5] = w.y, a[6] = w.z, a[7] = w.w;
    } else {
        uint2 v = __ldg((const uint2 *)p);
        a[0] = v.x, a[1] = v.y;
    }
}

#define TN_CU_WARP_SUM(v)                                                                          \
    do {                                                                                           \
        for (int o_ = 16; o_ > 0; o_ >>= 1) (v) += __shfl_xor_sync(0xffffffffu, (v), o_);        \
    } while (0)

#endif
