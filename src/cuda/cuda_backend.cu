/* CUDA backend: the backend object (weights uploaded and repacked once at load), the exec
 * (stream, cuBLAS handle, batch metadata at fixed device addresses, scratch), op recording, and
 * CUDA-graph capture/replay of decode steps. The planner that turns recorded ops into kernel
 * launches (fusing neighbours) is cuda_plan.cu.
 * See cuda_common.cuh for the execution model. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cuda/cuda_backend.h"
#include "cuda/cuda_common.cuh"
extern "C" {
#include "kv/kv.h"
}

typedef struct tn_cu_backend {
    tn_backend base;
    int device;
    tn_cu_weight **ws;
    int n_ws, cap_ws;
} tn_cu_backend;

#define CU_EX(e) ((tn_cu_exec *)(e))
#define CU_W(w) ((const tn_cu_weight *)(w)->impl)

void tn_cu_fail(tn_cu_exec *ex, const char *fmt, ...) {
    if (ex->failed) return;
    ex->failed = 1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ex->err, sizeof ex->err, fmt, ap);
    va_end(ap);
}

bool tn_cu_check(tn_cu_exec *ex, const char *what) {
    cudaError_t e = cudaGetLastError();
    if (e == cudaSuccess) return true;
    tn_cu_fail(ex, "CUDA %s: %s", what, cudaGetErrorString(e));
    return false;
}

/* ---- backend and weights ---- */

static void cu_free(tn_backend *b) {
    tn_cu_backend *be = (tn_cu_backend *)b;
    for (int i = 0; i < be->n_ws; i++) {
        cudaFree(be->ws[i]->base);
        free(be->ws[i]);
    }
    free(be->ws);
    free(be);
}

static size_t align256(size_t n) { return (n + 255) & ~(size_t)255; }

static int cu_upload_weight(tn_backend *b, tn_weight *w) {
    tn_cu_backend *be = (tn_cu_backend *)b;
    int qa = 0, qb = 0, qs = 0, ips = 1;
    const bool vec = w->n_out == 1 && w->type == TN_TYPE_F32;
    const bool flt = tn_cu_is_float(w->type);
    if (!vec && !flt && !tn_cu_layout(w->type, &qa, &qb, &qs, &ips))
        return tn_set_error("CUDA backend: weight '%s' has type %s, which the CUDA backend cannot "
                            "run (supported: f32 f16 bf16 q4_0 q4_1 q5_0 q5_1 q8_0 q2_K q3_K q4_K "
                            "q5_K q6_K iq4_nl iq4_xs mxfp4)",
                            w->name, tn_type_name(w->type));
    if (flt && !vec && w->n_in % 8)
        return tn_set_error("CUDA backend: weight '%s' (%s) has %lld columns; the CUDA kernels need "
                            "a multiple of 8",
                            w->name, tn_type_name(w->type), (long long)w->n_in);
    if (be->n_ws == be->cap_ws) {
        int cap = be->cap_ws ? 2 * be->cap_ws : 64;
        tn_cu_weight **p = (tn_cu_weight **)realloc(be->ws, (size_t)cap * sizeof *p);
        if (!p) return tn_set_error("out of memory");
        be->ws = p;
        be->cap_ws = cap;
    }
    tn_cu_weight *cw = (tn_cu_weight *)calloc(1, sizeof *cw);
    if (!cw) return tn_set_error("out of memory");
    cw->type = w->type;
    cw->n_in = w->n_in;
    cw->n_out = w->n_out;
    cw->n_items = w->n_in / 32;
    cudaSetDevice(be->device);
    cudaError_t err;
    if (vec || flt) {
        cw->bytes = tn_row_size(w->type, w->n_in) * (size_t)w->n_out;
        err = cudaMalloc(&cw->base, cw->bytes);
        if (err == cudaSuccess) err = cudaMemcpy(cw->base, w->host, cw->bytes, cudaMemcpyHostToDevice);
        cw->raw = cw->base;
        cw->a = (uint8_t *)cw->raw;
        cw->a_row = tn_row_size(w->type, w->n_in);
    } else {
        cw->a_row = (size_t)(cw->n_items * qa);
        cw->b_row = (size_t)(cw->n_items * qb);
        cw->s_row = (size_t)(cw->n_items / ips * qs);
        const size_t na = align256(cw->a_row * (size_t)w->n_out);
        const size_t nb = align256(cw->b_row * (size_t)w->n_out);
        const size_t ns = align256(cw->s_row * (size_t)w->n_out);
        cw->bytes = na + nb + ns;
        uint8_t *host = (uint8_t *)calloc(1, cw->bytes);
        if (!host) {
            free(cw);
            return tn_set_error("out of memory repacking '%s'", w->name);
        }
        tn_cu_repack(w->type, w->host, w->n_in, w->n_out, host, host + na, host + na + nb);
        err = cudaMalloc(&cw->base, cw->bytes);
        if (err == cudaSuccess) err = cudaMemcpy(cw->base, host, cw->bytes, cudaMemcpyHostToDevice);
        free(host);
        cw->a = (uint8_t *)cw->base;
        cw->b = qb ? cw->a + na : NULL;
        cw->s = cw->a + na + nb;
    }
    if (err != cudaSuccess) {
        if (cw->base) cudaFree(cw->base);
        free(cw);
        return tn_set_error("CUDA backend: cannot upload '%s' (%zu bytes): %s", w->name,
                            tn_row_size(w->type, w->n_in) * (size_t)w->n_out, cudaGetErrorString(err));
    }
    be->ws[be->n_ws++] = cw;
    w->impl = cw;
    return 0;
}

/* ---- exec: memory, batch, graphs ---- */

static void drop_graphs(tn_cu_exec *ex) {
    for (int i = 0; i < TN_CU_MAX_GRAPHS; i++) {
        if (ex->graphs[i].exec) cudaGraphExecDestroy(ex->graphs[i].exec);
        free(ex->graphs[i].ops);
        memset(&ex->graphs[i], 0, sizeof ex->graphs[i]);
    }
}

static double host_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

static void cu_exec_free(tn_exec *e) {
    tn_cu_exec *ex = CU_EX(e);
    if (!ex) return;
    cudaSetDevice(ex->device);
    if (ex->st) cudaStreamSynchronize(ex->st);
    if (ex->timing) {
        if (ex->n_timed)
            fprintf(stderr, "CUDA timing: %lld small-batch steps, %.1f us device time and %.1f us host begin-to-end per step, %lld graph captures\n",
                    (long long)ex->n_timed, 1e3 * ex->t_gpu_ms / (double)ex->n_timed,
                    1e3 * ex->t_wall_ms / (double)ex->n_timed, (long long)ex->n_captures);
        cudaEventDestroy(ex->ev0);
        cudaEventDestroy(ex->ev1);
    }
    drop_graphs(ex);
    cudaFree(ex->d_meta);
    cudaFree(ex->d_cpos);
    cudaFree(ex->d_cseq);
    cudaFree(ex->xq);
    cudaFree(ex->xm);
    cudaFree(ex->xh);
    cudaFree(ex->wh);
    cudaFree(ex->part);
    cudaFree(ex->kvh);
    cudaFree(ex->cnt);
    cudaFree(ex->xq2);
    cudaFree(ex->xm2);
    cudaFree(ex->fz_ss);
    cudaFree(ex->topk);
    if (ex->h_pin) cudaFreeHost(ex->h_pin);
    if (ex->h_read) cudaFreeHost(ex->h_read);
    if (ex->blas) cublasDestroy(ex->blas);
    if (ex->st) cudaStreamDestroy(ex->st);
    free(ex->ops);
    free(ex);
}

/* An on/off environment switch: unset or empty gives dflt, "0" off, anything else on. */
static bool env_flag(const char *name, bool dflt) {
    const char *v = getenv(name);
    return v && *v ? strcmp(v, "0") != 0 : dflt;
}

static tn_exec *cu_exec_new(tn_backend *b, int n_threads) {
    (void)n_threads;
    tn_cu_backend *be = (tn_cu_backend *)b;
    tn_cu_exec *ex = (tn_cu_exec *)calloc(1, sizeof *ex);
    if (!ex) {
        tn_set_error("out of memory");
        return NULL;
    }
    ex->base.be = b;
    ex->device = be->device;
    cudaSetDevice(be->device);
    if (cudaDeviceGetAttribute(&ex->n_sm, cudaDevAttrMultiProcessorCount, be->device) != cudaSuccess)
        ex->n_sm = 1;
    ex->poison = env_flag("TN_CUDA_POISON", false);
    ex->use_graphs = !env_flag("TN_CUDA_NO_GRAPHS", false);
    ex->pdl = env_flag("TERN_CUDA_PDL", true);
    const char *sc = getenv("TERN_CUDA_SPLIT_CELLS"), *ms = getenv("TERN_CUDA_MAX_SPLIT");
    const char *tsc = getenv("TERN_CUDA_TC_SPLIT_CELLS"), *os = getenv("TERN_CUDA_ONE_SPLIT");
    const char *tc = getenv("TERN_CUDA_ATTN_TC");
    const int cells = sc && atoi(sc) > 0 ? atoi(sc) : 0;
    ex->split_cells = cells ? cells : 128;
    ex->tc_split_cells = tsc && atoi(tsc) > 0 ? atoi(tsc) : cells;
    ex->max_split = ms && atoi(ms) > 0 && atoi(ms) <= TN_CU_MAX_SPLIT ? atoi(ms) : TN_CU_MAX_SPLIT;
    /* one split up to 256 cells: tg256 on the H200, Llama-3-8B Q4_0, 474 -> 513 t/s (2026-12-02b
     * record, call 9: there as TERN_CUDA_SPLIT_CELLS=256, whose only effect up to 256 cells is
     * this); TERN_CUDA_SPLIT_CELLS alone keeps its cells per split for short caches too (tests
     * force many splits with it) */
    ex->one_split = os && atoi(os) > 0 ? atoi(os) : cells ? cells : 256;
    ex->attn_tc = tc && *tc ? atoi(tc) : 1;
    const char *tf = getenv("TERN_CUDA_TC_FROM");
    ex->tc_from = tf && atoi(tf) >= 0 ? atoi(tf) : 1024;
    ex->turbo_tc = env_flag("TERN_CUDA_TURBO_TC", true);
    const char *tp = getenv("TERN_CUDA_TURBO_PDL");
    ex->turbo_pdl = !ex->pdl || !env_flag("TERN_CUDA_TURBO_PDL", false) ? 0 : !strcmp(tp, "store") ? 2 : 1;
    ex->turbo_xq = env_flag("TERN_CUDA_TURBO_XQ", true);
    /* RoPE in the q/k/v mat-vecs and the cache store in the attention kernel for TurboQuant
     * caches (with the one-warp store): Llama-3-8B Q4_K_M turbo3 tg64 on the H200 +8 % at d8192,
     * +6 % at d32768 (2026-12-03 record) */
    ex->turbo_fuse = env_flag("TERN_CUDA_TURBO_FUSE", true);
    ex->mv_stage = env_flag("TERN_CUDA_STAGE", true);
    ex->fuse_rope = ex->mv_stage && env_flag("TERN_CUDA_FUSE_ROPE", true);
    /* TERN_CUDA_FUSE_QUANT: 0 never, 2 for every width, else where the blocks fill the GPU (1) */
    const char *fq = getenv("TERN_CUDA_FUSE_QUANT");
    ex->fuse_quant = env_flag("TERN_CUDA_FUSE_QUANT", true) ? (fq && !strcmp(fq, "2") ? 2 : 1) : 0;
    if (!ex->mv_stage) ex->fuse_quant = 0;
    /* RoPE in the decode attention kernel: Qwen3-0.6B tg128 +1.9 % and +3.7 % on the H200 in two
     * calls (2026-12-02f record); Llama-shaped models do RoPE in the q/k/v mat-vecs, unaffected */
    ex->attn_rope = env_flag("TERN_CUDA_ATTN_ROPE", true);
    /* two lanes per cache cell: tg128 on the H200 Llama-3-8B Q4_0 +0.9 %, Llama-2-7B +0.7 %
     * (3 rounds each, 2026-12-02h record); TERN_CUDA_ATTN_LPC=1: one */
    const char *lpc = getenv("TERN_CUDA_ATTN_LPC");
    ex->attn_lpc = lpc && !strcmp(lpc, "1") ? 1 : 2;
    ex->skip = getenv("TERN_CUDA_SKIP");
    ex->timing = env_flag("TERN_CUDA_TIMING", false);
    if (ex->timing) {
        cudaEventCreate(&ex->ev0);
        cudaEventCreate(&ex->ev1);
    }
    cudaError_t err = cudaStreamCreateWithFlags(&ex->st, cudaStreamNonBlocking);
    if (err != cudaSuccess) {
        tn_set_error("CUDA: cannot create a stream: %s", cudaGetErrorString(err));
        cu_exec_free(&ex->base);
        return NULL;
    }
    if (cublasCreate(&ex->blas) != CUBLAS_STATUS_SUCCESS ||
        cublasSetStream(ex->blas, ex->st) != CUBLAS_STATUS_SUCCESS) {
        ex->blas = NULL;
        tn_set_error("CUDA: cannot initialise cuBLAS");
        cu_exec_free(&ex->base);
        return NULL;
    }
    return &ex->base;
}

static void *cu_alloc(tn_exec *e, size_t bytes) {
    tn_cu_exec *ex = CU_EX(e);
    void *p = NULL;
    cudaSetDevice(ex->device);
    cudaError_t err = cudaMalloc(&p, bytes ? bytes : 1);
    if (err == cudaSuccess) err = cudaMemsetAsync(p, ex->poison ? 0xFF : 0, bytes, ex->st);
    if (err == cudaSuccess) err = cudaStreamSynchronize(ex->st);
    if (err != cudaSuccess) {
        if (p) cudaFree(p);
        tn_set_error("CUDA: cannot allocate %zu bytes of device memory: %s", bytes,
                     cudaGetErrorString(err));
        return NULL;
    }
    return p;
}

static void cu_release(tn_exec *e, void *p) {
    tn_cu_exec *ex = CU_EX(e);
    cudaStreamSynchronize(ex->st);
    cudaFree(p);
}

/* Grows a device buffer to hold at least `bytes`; returns false (after tn_cu_fail) on error. */
static bool grow(tn_cu_exec *ex, void **buf, size_t *cap, size_t bytes) {
    if (*cap >= bytes) return true;
    size_t n = align256(bytes + bytes / 4);
    cudaStreamSynchronize(ex->st);
    drop_graphs(ex); /* captured graphs hold the old address */
    cudaFree(*buf);
    *buf = NULL;
    *cap = 0;
    cudaError_t err = cudaMalloc(buf, n);
    if (err != cudaSuccess) {
        *buf = NULL;
        tn_cu_fail(ex, "CUDA: cannot allocate %zu bytes of scratch: %s", n, cudaGetErrorString(err));
        return false;
    }
    *cap = n;
    return true;
}

static bool grow_zeroed(tn_cu_exec *ex, void **buf, size_t *cap, size_t bytes) {
    if (*cap >= bytes) return true;
    if (!grow(ex, buf, cap, bytes)) return false;
    if (cudaMemsetAsync(*buf, 0, *cap, ex->st) != cudaSuccess) return tn_cu_check(ex, "memset");
    return true;
}

static bool grow_host(tn_cu_exec *ex, void **buf, size_t *cap, size_t bytes) {
    if (*cap >= bytes) return true;
    size_t n = bytes + bytes / 4 + 4096;
    if (*buf) cudaFreeHost(*buf);
    *buf = NULL;
    *cap = 0;
    if (cudaMallocHost(buf, n) != cudaSuccess) {
        *buf = NULL;
        tn_cu_fail(ex, "CUDA: cannot allocate %zu bytes of pinned host memory", n);
        return false;
    }
    *cap = n;
    return true;
}

/* Batch metadata layout in d_tok's allocation: meta[8] | tok | pos | seq | cell | orow (cap_tok
 * each). cpos and cseq have their own buffers (cap_cells each). */
static int cu_begin(tn_exec *e, const tn_batch_info *b) {
    tn_cu_exec *ex = CU_EX(e);
    if (ex->timing) ex->t_begin = host_ms();
    cudaSetDevice(ex->device);
    ex->failed = 0;
    ex->err[0] = 0;
    ex->n_ops = 0;
    ex->base.batch = b;
    ex->n_tokens = b->n_tokens;
    ex->n_kv = b->n_kv;
    ex->n_out = b->n_out;
    if (b->n_tokens > ex->cap_tok) {
        size_t cap = 0;
        void *p = NULL;
        int32_t n = b->n_tokens < 64 ? 64 : b->n_tokens;
        cudaFree(ex->d_meta);
        ex->d_meta = ex->d_tok = NULL;
        ex->cap_tok = 0;
        if (!grow(ex, &p, &cap, sizeof(int32_t) * (8 + 5 * (size_t)n))) goto fail;
        ex->cap_tok = n;
        ex->d_meta = (int32_t *)p;
        ex->d_tok = ex->d_meta + 8;
        ex->d_pos = ex->d_tok + n;
        ex->d_seq = ex->d_pos + n;
        ex->d_cell = ex->d_seq + n;
        ex->d_orow = ex->d_cell + n;
    }
    if (b->n_kv > ex->cap_cells) {
        size_t c1 = 0, c2 = 0;
        int32_t n = b->n_kv < 256 ? 256 : 2 * b->n_kv;
        cudaFree(ex->d_cpos);
        cudaFree(ex->d_cseq);
        ex->d_cpos = ex->d_cseq = NULL;
        ex->cap_cells = 0;
        if (!grow(ex, (void **)&ex->d_cpos, &c1, sizeof(int32_t) * (size_t)n) ||
            !grow(ex, (void **)&ex->d_cseq, &c2, sizeof(int32_t) * (size_t)n))
            goto fail;
        ex->cap_cells = n;
    }
    {
        const size_t nt = (size_t)ex->cap_tok, head = 8 + 5 * nt;
        if (!grow_host(ex, (void **)&ex->h_pin, &ex->h_pin_cap,
                       sizeof(int32_t) * (head + 2 * (size_t)b->n_kv)))
            goto fail;
        int32_t *h = ex->h_pin;
        memset(h, 0, sizeof(int32_t) * 8);
        h[0] = b->n_kv;
        int32_t *tok = h + 8, *pos = tok + nt, *seq = pos + nt, *cell = seq + nt, *orow = cell + nt;
        memcpy(tok, b->token, sizeof(int32_t) * (size_t)b->n_tokens);
        memcpy(pos, b->pos, sizeof(int32_t) * (size_t)b->n_tokens);
        memcpy(seq, b->seq, sizeof(int32_t) * (size_t)b->n_tokens);
        memcpy(cell, b->cell, sizeof(int32_t) * (size_t)b->n_tokens);
        if (b->n_out) memcpy(orow, b->out_rows, sizeof(int32_t) * (size_t)b->n_out);
        int32_t *cp = h + head, *cs = cp + b->n_kv;
        if (b->n_kv) {
            memcpy(cp, b->cell_pos, sizeof(int32_t) * (size_t)b->n_kv);
            memcpy(cs, b->cell_seq, sizeof(int32_t) * (size_t)b->n_kv);
        }
        cudaMemcpyAsync(ex->d_meta, h, sizeof(int32_t) * head, cudaMemcpyHostToDevice, ex->st);
        if (b->n_kv) {
            cudaMemcpyAsync(ex->d_cpos, cp, sizeof(int32_t) * (size_t)b->n_kv,
                            cudaMemcpyHostToDevice, ex->st);
            cudaMemcpyAsync(ex->d_cseq, cs, sizeof(int32_t) * (size_t)b->n_kv,
                            cudaMemcpyHostToDevice, ex->st);
        }
        if (!tn_cu_check(ex, "batch upload")) goto fail;
    }
    return 0;
fail:
    return tn_set_error("%s", ex->err);
}

/* ---- recording ---- */

static tn_cu_op *rec(tn_cu_exec *ex, int kind) {
    if (ex->n_ops == ex->cap_ops) {
        int cap = ex->cap_ops ? 2 * ex->cap_ops : 512;
        tn_cu_op *p = (tn_cu_op *)realloc(ex->ops, (size_t)cap * sizeof *p);
        if (!p) {
            tn_cu_fail(ex, "out of memory recording ops");
            return NULL;
        }
        ex->ops = p;
        ex->cap_ops = cap;
    }
    tn_cu_op *op = &ex->ops[ex->n_ops++];
    memset(op, 0, sizeof *op);
    op->kind = kind;
    return op;
}

static void cu_embed(tn_exec *e, float *out, const tn_weight *table) {
    tn_cu_op *op = rec(CU_EX(e), TN_CU_OP_EMBED);
    if (!op) return;
    op->out = out;
    op->w = CU_W(table);
    op->n_rows = CU_EX(e)->n_tokens;
}

static void cu_rmsnorm(tn_exec *e, float *out, const float *x, const tn_weight *w, int64_t n_rows,
                       int64_t dim, float eps) {
    tn_cu_op *op = rec(CU_EX(e), TN_CU_OP_RMSNORM);
    if (!op) return;
    op->out = out;
    op->x = x;
    op->w = CU_W(w);
    op->n_rows = n_rows;
    op->dim = dim;
    op->eps = eps;
}

static void cu_matmul(tn_exec *e, float *out, const tn_weight *w, const tn_weight *bias,
                      const float *x, int64_t n_rows) {
    tn_cu_op *op = rec(CU_EX(e), TN_CU_OP_MATMUL);
    if (!op) return;
    op->out = out;
    op->x = x;
    op->w = CU_W(w);
    op->bias = bias ? CU_W(bias) : NULL;
    op->n_rows = n_rows;
}

static void cu_add(tn_exec *e, float *x, const float *y, int64_t n) {
    tn_cu_op *op = rec(CU_EX(e), TN_CU_OP_ADD);
    if (!op) return;
    op->out = x;
    op->y = y;
    op->n = n;
}

static void cu_swiglu(tn_exec *e, float *out, const float *gate, const float *up, int64_t n) {
    tn_cu_op *op = rec(CU_EX(e), TN_CU_OP_SWIGLU);
    if (!op) return;
    op->out = out;
    op->x = gate;
    op->y = up;
    op->n = n;
}

static bool attn_params(tn_cu_exec *ex, const tn_attn_params *p, const tn_kv_layer *kv,
                        tn_cu_attn *at) {
    memset(at, 0, sizeof *at);
    if (p->head_dim > 256 || p->head_dim % 8 || p->n_rot > 1024 || p->n_head % p->n_head_kv ||
        kv->n_embd_k != (int64_t)p->n_head_kv * p->head_dim ||
        kv->n_embd_v != (int64_t)p->n_head_kv * p->head_dim) {
        tn_cu_fail(ex, "CUDA attention: unsupported shape (head_dim %d, n_rot %d, heads %d/%d)",
                   p->head_dim, p->n_rot, p->n_head, p->n_head_kv);
        return false;
    }
    at->type_k = kv->type_k;
    at->type_v = kv->type_v;
    at->head_dim = p->head_dim;
    at->turbo = tn_kv_turbo_bits(kv->type_k) || tn_kv_turbo_bits(kv->type_v);
    if (at->turbo) {
        if (!tn_cu_turbo_supported(at)) {
            tn_cu_fail(ex, "CUDA attention: KV cache types %s/%s with head_dim %d are not supported "
                       "(TurboQuant caches pair with turbo2/3/4, f16 or f32; head_dim a multiple of 16 <= 256)",
                       tn_kv_type_name(kv->type_k), tn_kv_type_name(kv->type_v), p->head_dim);
            return false;
        }
    } else if (!(p->head_dim == 32 || p->head_dim == 64 || p->head_dim == 128 || p->head_dim == 256)) {
        tn_cu_fail(ex, "CUDA attention: head_dim %d is not supported (32, 64, 128, 256)", p->head_dim);
        return false;
    } else if ((kv->type_k != TN_TYPE_F16 && kv->type_k != TN_TYPE_F32) ||
               (kv->type_v != TN_TYPE_F16 && kv->type_v != TN_TYPE_F32)) {
        tn_cu_fail(ex, "CUDA attention: KV cache types %s/%s are not supported (f16, f32, turbo2, turbo3, turbo4)",
                   tn_kv_type_name(kv->type_k), tn_kv_type_name(kv->type_v));
        return false;
    }
    at->n_head = p->n_head;
    at->n_head_kv = p->n_head_kv;
    at->head_dim = p->head_dim;
    at->n_rot = p->n_rot;
    at->rope_mode = p->rope_mode;
    at->freq_base = p->freq_base;
    at->freq_scale = p->freq_scale;
    at->norm_eps = p->norm_eps;
    at->scale = p->scale;
    at->q_norm = p->q_norm ? (const float *)CU_W(p->q_norm)->raw : NULL;
    at->k_norm = p->k_norm ? (const float *)CU_W(p->k_norm)->raw : NULL;
    at->k = kv->k;
    at->v = kv->v;
    at->type_k = kv->type_k;
    at->type_v = kv->type_v;
    at->n_embd_k = kv->n_embd_k;
    at->n_embd_v = kv->n_embd_v;
    at->rot_seed = kv->rot_seed;
    return true;
}

static void cu_rope_store(tn_exec *e, float *q, float *k, const float *v, const tn_attn_params *p,
                          tn_kv_layer *kv) {
    tn_cu_exec *ex = CU_EX(e);
    tn_cu_attn at;
    if (!attn_params(ex, p, kv, &at)) return;
    tn_cu_op *op = rec(ex, TN_CU_OP_ROPE);
    if (!op) return;
    op->out = q;
    op->k = k;
    op->x = v;
    memcpy(&op->at, &at, sizeof at); /* padding included: op lists are compared with memcmp */
    op->n_rows = ex->n_tokens;
}

static void cu_attention(tn_exec *e, float *out, const float *q, const tn_kv_layer *kv,
                         const tn_attn_params *p) {
    tn_cu_exec *ex = CU_EX(e);
    tn_cu_attn at;
    if (!attn_params(ex, p, kv, &at)) return;
    tn_cu_op *op = rec(ex, TN_CU_OP_ATTN);
    if (!op) return;
    op->out = out;
    op->x = q;
    memcpy(&op->at, &at, sizeof at); /* padding included: op lists are compared with memcmp */
    op->n_rows = ex->n_tokens;
    int n_split;
    bool tc;
    tn_cu_attn_plan(ex, &at, ex->n_tokens, &n_split, &tc);
    if (at.turbo && n_split > tn_cu_turbo_max_split()) n_split = tn_cu_turbo_max_split();
    op->n_split = n_split;
    op->attn_tc = tc; /* the f16 kernel: never for a TurboQuant cache (tn_cu_attn_tc_supported) */
}

static void cu_get_rows(tn_exec *e, float *out, const float *x, int64_t dim) {
    tn_cu_op *op = rec(CU_EX(e), TN_CU_OP_GET_ROWS);
    if (!op) return;
    op->out = out;
    op->x = x;
    op->dim = dim;
    op->n_rows = CU_EX(e)->n_out;
}

/* ---- scratch and launch ---- */

/* Grows the scratch buffers to what the recorded ops need. */
static bool ensure_scratch(tn_cu_exec *ex) {
    size_t xq = 0, xm = 0, xh = 0, wh = 0, part = 0, cnt = 0, kvh = 0, items = 0;
    for (int i = 0; i < ex->n_ops; i++) {
        const tn_cu_op *op = &ex->ops[i];
        if (op->kind == TN_CU_OP_MATMUL) {
            const size_t nr = (size_t)op->n_rows, ni = (size_t)op->w->n_in;
            if (op->n_rows <= TN_CU_MAX_NR) {
                if (nr * ni > xq) xq = nr * ni;
                if (nr * (ni / 32) * sizeof(tn_cu_xmeta) > xm) xm = nr * (ni / 32) * sizeof(tn_cu_xmeta);
                /* a decode mat-vec may quantize its output (tn_cu_mv_io: sums of squares per item) */
                if (nr == 1 && (size_t)op->w->n_out > items * 32) items = (size_t)op->w->n_out / 32;
            } else {
                if (nr * ni * 2 > xh) xh = nr * ni * 2;
                size_t c = ni > TN_CU_WH_CHUNK ? ni : TN_CU_WH_CHUNK;
                if (op->w->type != TN_TYPE_F32 && op->w->type != TN_TYPE_F16 && 2 * c > wh) wh = 2 * c;
            }
        } else if (op->kind == TN_CU_OP_ATTN && op->at.turbo) {
            size_t p = tn_cu_turbo_part(&op->at, (int32_t)op->n_rows, op->n_split) * sizeof(float);
            if (p > part) part = p;
            size_t h = tn_cu_turbo_kvh(&op->at, (int32_t)op->n_rows, ex->n_kv);
            if (h > kvh) kvh = h;
        } else if (op->kind == TN_CU_OP_ATTN) {
            size_t p = tn_cu_attn_scratch(&op->at, (int32_t)op->n_rows, op->n_split) * sizeof(float);
            if (p > part) part = p;
            size_t c = (size_t)op->n_rows * (size_t)op->at.n_head * sizeof(unsigned);
            if (op->n_split > 1 && c > cnt) cnt = c;
            /* the attention output may be quantized for the next mat-vec */
            size_t nq = (size_t)op->n_rows * (size_t)op->at.n_head * (size_t)op->at.head_dim;
            if (op->n_rows <= TN_CU_MAX_NR && nq > xq) xq = nq;
            if (op->n_rows <= TN_CU_MAX_NR && nq / 32 * sizeof(tn_cu_xmeta) > xm) xm = nq / 32 * sizeof(tn_cu_xmeta);
        }
    }
    return grow(ex, (void **)&ex->xq, &ex->xq_cap, xq) && grow(ex, (void **)&ex->xm, &ex->xm_cap, xm) &&
           grow(ex, (void **)&ex->xh, &ex->xh_cap, xh) && grow(ex, (void **)&ex->wh, &ex->wh_cap, wh) &&
           grow(ex, (void **)&ex->part, &ex->part_cap, part) && grow_zeroed(ex, (void **)&ex->cnt, &ex->cnt_cap, cnt) &&
           grow(ex, (void **)&ex->kvh, &ex->kvh_cap, kvh) && grow(ex, (void **)&ex->xq2, &ex->xq2_cap, xq) &&
           grow(ex, (void **)&ex->xm2, &ex->xm2_cap, xm) && grow(ex, (void **)&ex->fz_ss, &ex->fz_ss_cap, items * sizeof(double));
}

/* Launches the recorded ops: a cached graph if one was captured for the identical op list,
 * else a new capture (small batches) or plain launches (prefill). */
static void flush(tn_cu_exec *ex, bool allow_graph) {
    if (ex->failed || ex->n_ops == 0) {
        ex->n_ops = 0;
        return;
    }
    if (!ensure_scratch(ex)) return;
    const bool graph = allow_graph && ex->use_graphs && ex->n_tokens <= TN_CU_MAX_NR;
    if (!graph) {
        tn_cu_run_ops(ex, ex->ops, ex->n_ops);
        ex->n_ops = 0;
        return;
    }
    ex->clock++;
    if (ex->timing) cudaEventRecord(ex->ev0, ex->st);
    const size_t bytes = sizeof(tn_cu_op) * (size_t)ex->n_ops;
    for (int i = 0; i < TN_CU_MAX_GRAPHS; i++) {
        tn_cu_graph *g = &ex->graphs[i];
        if (g->exec && g->n_ops == ex->n_ops && memcmp(g->ops, ex->ops, bytes) == 0) {
            g->last_use = ex->clock;
            if (cudaGraphLaunch(g->exec, ex->st) != cudaSuccess) tn_cu_check(ex, "graph launch");
            if (ex->timing) cudaEventRecord(ex->ev1, ex->st);
            ex->n_ops = 0;
            return;
        }
    }
    int slot = 0;
    for (int i = 1; i < TN_CU_MAX_GRAPHS; i++)
        if (ex->graphs[i].last_use < ex->graphs[slot].last_use) slot = i;
    tn_cu_graph *g = &ex->graphs[slot];
    if (g->exec) cudaGraphExecDestroy(g->exec);
    free(g->ops);
    memset(g, 0, sizeof *g);
    cudaGraph_t graph_obj = NULL;
    cudaError_t err = cudaStreamBeginCapture(ex->st, cudaStreamCaptureModeThreadLocal);
    if (err != cudaSuccess) {
        tn_cu_fail(ex, "CUDA: stream capture failed: %s", cudaGetErrorString(err));
        return;
    }
    ex->n_captures++;
    tn_cu_run_ops(ex, ex->ops, ex->n_ops);
    err = cudaStreamEndCapture(ex->st, &graph_obj);
    if (err == cudaSuccess && !ex->failed) err = cudaGraphInstantiate(&g->exec, graph_obj, 0);
    if (graph_obj) cudaGraphDestroy(graph_obj);
    if (err != cudaSuccess || ex->failed) {
        if (g->exec) cudaGraphExecDestroy(g->exec);
        g->exec = NULL;
        cudaGetLastError();
        tn_cu_fail(ex, "CUDA: graph capture failed: %s", cudaGetErrorString(err));
        return;
    }
    g->ops = (tn_cu_op *)malloc(bytes);
    if (g->ops) {
        memcpy(g->ops, ex->ops, bytes);
        g->n_ops = ex->n_ops;
    }
    g->last_use = ex->clock;
    if (cudaGraphLaunch(g->exec, ex->st) != cudaSuccess) tn_cu_check(ex, "graph launch");
    if (ex->timing) cudaEventRecord(ex->ev1, ex->st);
    if (!g->ops) { /* cannot match it again: drop it */
        cudaStreamSynchronize(ex->st);
        cudaGraphExecDestroy(g->exec);
        g->exec = NULL;
    }
    ex->n_ops = 0;
}

static int cu_read(tn_exec *e, void *dst, const void *src, size_t bytes) {
    tn_cu_exec *ex = CU_EX(e);
    cudaSetDevice(ex->device);
    flush(ex, true);
    if (!ex->failed && grow_host(ex, &ex->h_read, &ex->h_read_cap, bytes)) {
        cudaMemcpyAsync(ex->h_read, src, bytes, cudaMemcpyDeviceToHost, ex->st);
        cudaError_t err = cudaStreamSynchronize(ex->st);
        if (err != cudaSuccess) tn_cu_fail(ex, "CUDA: %s", cudaGetErrorString(err));
        else tn_cu_check(ex, "read");
    }
    if (ex->failed) return tn_set_error("%s", ex->err);
    memcpy(dst, ex->h_read, bytes);
    return 0;
}

/* The profiler's per-op barrier: launches what was recorded so far (no graph: the lists it sees
 * are single ops) and waits for it. */
static int cu_sync(tn_exec *e) {
    tn_cu_exec *ex = CU_EX(e);
    cudaSetDevice(ex->device);
    flush(ex, false);
    cudaError_t err = cudaStreamSynchronize(ex->st);
    if (err != cudaSuccess) tn_cu_fail(ex, "CUDA: %s", cudaGetErrorString(err));
    return ex->failed ? tn_set_error("%s", ex->err) : 0;
}

static int cu_end(tn_exec *e) {
    tn_cu_exec *ex = CU_EX(e);
    cudaSetDevice(ex->device);
    flush(ex, true);
    cudaError_t err = cudaStreamSynchronize(ex->st);
    if (err != cudaSuccess) tn_cu_fail(ex, "CUDA: %s", cudaGetErrorString(err));
    else tn_cu_check(ex, "step");
    float ms = 0;
    if (ex->timing && !ex->failed && ex->n_tokens <= TN_CU_MAX_NR) {
        if (cudaEventElapsedTime(&ms, ex->ev0, ex->ev1) == cudaSuccess) {
            ex->t_gpu_ms += ms;
            ex->t_wall_ms += host_ms() - ex->t_begin;
            ex->n_timed++;
        } else {
            cudaGetLastError(); /* events not recorded this step (no graph launch): not an error */
        }
    }
    ex->base.batch = NULL;
    if (ex->failed) return tn_set_error("%s", ex->err);
    return 0;
}

/* After end(): the sampler's candidates, chosen on the device (cuda_sample.cu). */
static int cu_top_k(tn_exec *e, const float *logits, int32_t n, int32_t k, const int32_t *pen_ids,
                    int32_t n_pen, float penalty, int32_t *ids, float *vals) {
    tn_cu_exec *ex = CU_EX(e);
    cudaSetDevice(ex->device);
    ex->failed = 0;
    ex->err[0] = 0;
    /* (grow() also drops the captured graphs, once: the scratch is sized by the vocabulary) */
    if (grow(ex, &ex->topk, &ex->topk_cap, tn_cu_top_k_scratch(n, k)) &&
        grow_host(ex, &ex->h_read, &ex->h_read_cap, (size_t)k * 8))
        tn_cu_top_k(ex, logits, n, k, pen_ids, n_pen, penalty, ex->topk, ex->h_read, ids, vals);
    return ex->failed ? tn_set_error("%s", ex->err) : 0;
}

static const tn_backend_ops cu_ops = {
    "CUDA",        cu_free,   cu_upload_weight, cu_exec_new, cu_exec_free, cu_alloc,
    cu_release,    cu_read,   cu_begin,         cu_end,      cu_embed,     cu_rmsnorm,
    cu_matmul,     cu_add,    cu_swiglu,        cu_rope_store, cu_attention, cu_get_rows,
    cu_sync,       cu_top_k,
};

extern "C" tn_backend *tn_backend_cuda_new(int device) {
    int n = 0;
    cudaError_t err = cudaGetDeviceCount(&n);
    if (err != cudaSuccess || n == 0) {
        tn_set_error("CUDA backend: no usable GPU (%s)",
                     err != cudaSuccess ? cudaGetErrorString(err) : "no devices");
        return NULL;
    }
    if (device < 0 || device >= n) {
        tn_set_error("CUDA backend: device %d does not exist (%d devices)", device, n);
        return NULL;
    }
    err = cudaSetDevice(device);
    if (err != cudaSuccess) {
        tn_set_error("CUDA backend: cannot use device %d: %s", device, cudaGetErrorString(err));
        return NULL;
    }
    tn_cu_backend *be = (tn_cu_backend *)calloc(1, sizeof *be);
    if (!be) {
        tn_set_error("out of memory");
        return NULL;
    }
    be->base.ops = &cu_ops;
    be->device = device;
    return &be->base;
}

extern "C" int tn_cuda_device_count(void) {
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess) {
        cudaGetLastError();
        return 0;
    }
    return n;
}

extern "C" const char *tn_cuda_device_name(char *buf, size_t cap) {
    cudaDeviceProp p;
    if (cap) buf[0] = 0;
    if (tn_cuda_device_count() > 0 && cudaGetDeviceProperties(&p, 0) == cudaSuccess)
        snprintf(buf, cap, "%s (%d SMs, %.0f GB)", p.name, p.multiProcessorCount,
                 (double)p.totalGlobalMem / 1e9);
    return buf;
}
