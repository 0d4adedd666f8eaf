/* CUDA kernels for TurboQuant KV caches: row store (quantize) and attention on the compressed
 * cache, decode with split-KV and prefill (see cuda_turbo.h). The math and byte layout are those of
 * src/kv/turbo.c and kv_types.c; the store kernel performs the same floating-point operations in
 * the same order (explicit _rn intrinsics, no fused multiply-add, reductions done sequentially by
 * one thread) so its bytes equal the CPU's. */
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <math.h>
#include <stdint.h>

extern "C" {
#include "core/error.h"
#include "cuda/cuda_turbo.h"
#include "formats/types.h"
#include "kv/kv.h"
}

enum { TQ_MAX_D = 256, TQ_THREADS = 128, TQ_WARPS = TQ_THREADS / 32, TQ_MAX_SPLIT = 64 };

/* Codebook of one bit width (tn_turbo_codebook / tn_turbo_boundaries), passed by value. */
struct tq_cb {
    float c[16], b[15];
    int n_b;
};

/* Sub-blocks of a head (tn_turbo_rot: largest power of two first). */
struct tq_geo {
    int d, n_sub;
    int off[TN_TURBO_MAX_SUB], len[TN_TURBO_MAX_SUB];
};

/* One cache's layout. bits = 0: plain f16 (f32 = 1) rows. */
struct tq_cache {
    const uint8_t *base;
    int bits, is_f32;
    size_t row_bytes, head_bytes, norm_off;
    tq_cb cb;
};

/* The hash of turbo.h (tn_turbo_hash / tn_turbo_sign_bit): must stay identical. */
__device__ __forceinline__ float tq_sign(uint32_t seed, uint32_t k) {
    uint32_t x = seed + 0x9e3779b9u * k;
    x ^= x >> 16;
    x *= 0x21f0aaadu;
    x ^= x >> 15;
    x *= 0x735a2d97u;
    x ^= x >> 15;
    return (x >> 31) ? -1.0f : 1.0f;
}

__device__ __forceinline__ int tq_sub_of(const tq_geo &g, int i) {
    int s = 0;
    while (s + 1 < g.n_sub && i >= g.off[s + 1]) s++;
    return s;
}

/* In place on shared memory x[d], whole block: rotate (tn_turbo_rotate) or unrotate. Same
 * operations as the CPU: x *= D_a; Walsh-Hadamard butterflies; x *= (D_b * 1/sqrt(n)). */
__device__ void tq_rotate_smem(float *x, const tq_geo &g, uint32_t seed, bool inverse) {
    uint32_t pre = inverse ? 1024u : 0u, post = inverse ? 0u : 1024u;
    for (int i = threadIdx.x; i < g.d; i += blockDim.x) x[i] = __fmul_rn(x[i], tq_sign(seed, pre + i));
    __syncthreads();
    for (int h = 1; h < g.len[0]; h <<= 1) {
        for (int p = threadIdx.x; p < g.d / 2; p += blockDim.x) {
            int s = tq_sub_of(g, 2 * p);
            if (h >= g.len[s]) continue;
            int j = p - g.off[s] / 2;
            int a = g.off[s] + (j / h) * 2 * h + j % h, b = a + h;
            float va = x[a], vb = x[b];
            x[a] = __fadd_rn(va, vb);
            x[b] = __fsub_rn(va, vb);
        }
        __syncthreads();
    }
    for (int i = threadIdx.x; i < g.d; i += blockDim.x) {
        float sc = 1.0f / sqrtf((float)g.len[tq_sub_of(g, i)]);
        x[i] = __fmul_rn(x[i], __fmul_rn(tq_sign(seed, post + i), sc));
    }
    __syncthreads();
}

/* Element i of head h of cell c: for turbo caches in the rotated domain (norm/sqrt(n) * C[idx]). */
__device__ __forceinline__ float tq_load(const tq_cache &k, int64_t c, int h, int i, int d,
                                         int sub, float inv_sqrt_n, int n_sub) {
    const uint8_t *row = k.base + (size_t)c * k.row_bytes;
    if (!k.bits) {
        if (k.is_f32) return ((const float *)row)[h * d + i];
        return __half2float(((const __half *)row)[h * d + i]);
    }
    const uint8_t *q = row + (size_t)h * k.head_bytes;
    int idx;
    if (k.bits == 4) idx = (q[i >> 1] >> ((i & 1) * 4)) & 15;
    else {
        idx = (q[i >> 2] >> ((i & 3) * 2)) & 3;
        if (k.bits == 3) idx |= ((q[d / 4 + (i >> 3)] >> (i & 7)) & 1) << 2;
    }
    const __half *norms = (const __half *)(row + k.norm_off) + h * n_sub;
    return __half2float(norms[sub]) * inv_sqrt_n * k.cb.c[idx];
}

struct tq_attn_args {
    tn_cuda_turbo_attn a;
    tq_cache k, v;
    tq_geo g;
};

/* One block per (token, head, split): 4 warps take turns over the split's cells with an online
 * softmax each (lane l holds elements l, l+32, ...), then the warps are merged; with one split the
 * block finishes (normalize, unrotate V, store), else it writes (max, sum, acc[d]) to part. */
__global__ void __launch_bounds__(TQ_THREADS) tq_attn_kernel(const tq_attn_args args) {
    const tn_cuda_turbo_attn &a = args.a;
    const tq_geo &g = args.g;
    const int d = a.head_dim, th = blockIdx.x, split = blockIdx.y;
    const int t = th / a.n_head, h = th % a.n_head, kvh = h / (a.n_head / a.n_head_kv);
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    __shared__ float qs[TQ_MAX_D];
    __shared__ float wm[TQ_WARPS], wl[TQ_WARPS];
    __shared__ float wacc[TQ_WARPS][TQ_MAX_D];
    const float *q = a.q + ((size_t)t * a.n_head + h) * d;
    for (int i = threadIdx.x; i < d; i += blockDim.x) qs[i] = q[i];
    __syncthreads();
    if (args.k.bits) tq_rotate_smem(qs, g, a.rot_seed, false);
    float qv[TQ_MAX_D / 32], acc[TQ_MAX_D / 32], isn[TQ_MAX_D / 32];
    int sub[TQ_MAX_D / 32];
    const int ne = (d + 31) / 32;
#pragma unroll
    for (int j = 0; j < TQ_MAX_D / 32; j++) {
        int i = lane + 32 * j;
        bool in = j < ne && i < d;
        qv[j] = in ? qs[i] : 0.0f;
        acc[j] = 0.0f;
        sub[j] = in ? tq_sub_of(g, i) : 0;
        isn[j] = 1.0f / sqrtf((float)g.len[sub[j]]);
    }
    const int32_t pos = a.pos[t], seq = a.seq[t];
    const int n_kv = a.n_kv_dev ? *a.n_kv_dev : a.n_kv;
    const int chunk = (n_kv + a.n_split - 1) / a.n_split;
    const int c0 = split * chunk, c1 = min(n_kv, c0 + chunk);
    float m = -INFINITY, l = 0.0f;
    for (int c = c0 + warp; c < c1; c += TQ_WARPS) {
        int32_t cp = a.cell_pos[c];
        if (a.cell_seq[c] != seq || cp < 0 || cp > pos) continue;
        float s = 0.0f;
#pragma unroll
        for (int j = 0; j < TQ_MAX_D / 32; j++) {
            int i = lane + 32 * j;
            if (j < ne && i < d) s += qv[j] * tq_load(args.k, c, kvh, i, d, sub[j], isn[j], g.n_sub);
        }
        for (int o = 16; o > 0; o >>= 1) s += __shfl_xor_sync(0xffffffffu, s, o);
        s *= a.scale;
        float mn = fmaxf(m, s), corr = __expf(m - mn), p = __expf(s - mn);
        l = l * corr + p;
#pragma unroll
        for (int j = 0; j < TQ_MAX_D / 32; j++) {
            int i = lane + 32 * j;
            if (j < ne && i < d)
                acc[j] = acc[j] * corr + p * tq_load(args.v, c, kvh, i, d, sub[j], isn[j], g.n_sub);
        }
        m = mn;
    }
    if (lane == 0) {
        wm[warp] = m;
        wl[warp] = l;
    }
#pragma unroll
    for (int j = 0; j < TQ_MAX_D / 32; j++) {
        int i = lane + 32 * j;
        if (j < ne && i < d) wacc[warp][i] = acc[j];
    }
    __syncthreads();
    float M = -INFINITY;
    for (int w = 0; w < TQ_WARPS; w++)
        if (wl[w] > 0) M = fmaxf(M, wm[w]);
    float L = 0.0f;
    for (int w = 0; w < TQ_WARPS; w++)
        if (wl[w] > 0) L += wl[w] * __expf(wm[w] - M);
    if (a.n_split > 1) {
        float *pp = a.part + ((size_t)th * a.n_split + split) * (size_t)(d + 2);
        if (threadIdx.x == 0) {
            pp[0] = M;
            pp[1] = L;
        }
        for (int i = threadIdx.x; i < d; i += blockDim.x) {
            float A = 0.0f;
            for (int w = 0; w < TQ_WARPS; w++)
                if (wl[w] > 0) A += wacc[w][i] * __expf(wm[w] - M);
            pp[2 + i] = A;
        }
        return;
    }
    __syncthreads(); /* qs is reused for the output */
    for (int i = threadIdx.x; i < d; i += blockDim.x) {
        float A = 0.0f;
        for (int w = 0; w < TQ_WARPS; w++)
            if (wl[w] > 0) A += wacc[w][i] * __expf(wm[w] - M);
        qs[i] = L > 0 ? A / L : 0.0f;
    }
    __syncthreads();
    if (args.v.bits) tq_rotate_smem(qs, g, a.rot_seed, true);
    float *out = a.out + ((size_t)t * a.n_head + h) * d;
    for (int i = threadIdx.x; i < d; i += blockDim.x) out[i] = qs[i];
}

/* Split-KV merge: one block per (token, head) combines the n_split partial softmax sums, then
 * normalizes and unrotates once. */
__global__ void __launch_bounds__(TQ_THREADS) tq_merge_kernel(const tq_attn_args args) {
    const tn_cuda_turbo_attn &a = args.a;
    const int d = a.head_dim, th = blockIdx.x, ns = a.n_split;
    __shared__ float os[TQ_MAX_D];
    __shared__ float wgt[TQ_MAX_SPLIT];
    __shared__ float Ls;
    const float *pp = a.part + (size_t)th * ns * (size_t)(d + 2);
    if (threadIdx.x == 0) {
        float M = -INFINITY, L = 0.0f;
        for (int s = 0; s < ns; s++)
            if (pp[(size_t)s * (d + 2) + 1] > 0) M = fmaxf(M, pp[(size_t)s * (d + 2)]);
        for (int s = 0; s < ns; s++) {
            float ls = pp[(size_t)s * (d + 2) + 1];
            wgt[s] = ls > 0 ? __expf(pp[(size_t)s * (d + 2)] - M) : 0.0f;
            L += ls * wgt[s];
        }
        Ls = L;
    }
    __syncthreads();
    for (int i = threadIdx.x; i < d; i += blockDim.x) {
        float A = 0.0f;
        for (int s = 0; s < ns; s++)
            if (wgt[s] > 0) A += pp[(size_t)s * (d + 2) + 2 + i] * wgt[s];
        os[i] = Ls > 0 ? A / Ls : 0.0f;
    }
    __syncthreads();
    if (args.v.bits) tq_rotate_smem(os, args.g, a.rot_seed, true);
    const int t = th / a.n_head, h = th % a.n_head;
    float *out = a.out + ((size_t)t * a.n_head + h) * d;
    for (int i = threadIdx.x; i < d; i += blockDim.x) out[i] = os[i];
}

struct tq_store_args {
    tn_cuda_turbo_store s;
    tq_geo g;
    tq_cache k, v; /* base unused: the destination is s.k_cache / s.v_cache */
};

/* One block per (token, KV head, K or V): one head vector into its cell, as tn_kv_store_row. */
__global__ void __launch_bounds__(TQ_THREADS) tq_store_kernel(const tq_store_args args) {
    const tn_cuda_turbo_store &s = args.s;
    const tq_geo &g = args.g;
    const int d = s.head_dim, tok = blockIdx.x / s.n_head_kv, h = blockIdx.x % s.n_head_kv;
    const bool is_v = blockIdx.y == 1;
    const tq_cache &c = is_v ? args.v : args.k;
    const float *x = (is_v ? s.v : s.k) + ((size_t)tok * s.n_head_kv + h) * d;
    uint8_t *row = (uint8_t *)(is_v ? s.v_cache : s.k_cache) + (size_t)s.cell[tok] * c.row_bytes;
    if (!c.bits) {
        for (int i = threadIdx.x; i < d; i += blockDim.x) {
            if (c.is_f32) ((float *)row)[h * d + i] = x[i];
            else ((__half *)row)[h * d + i] = __float2half_rn(x[i]);
        }
        return;
    }
    __shared__ float y[TQ_MAX_D];
    __shared__ uint8_t idx[TQ_MAX_D];
    __shared__ double c2[TQ_MAX_D], ct[TQ_MAX_D];
    __shared__ double len_s[TN_TURBO_MAX_SUB], cc_s[TN_TURBO_MAX_SUB], tc_s[TN_TURBO_MAX_SUB];
    __shared__ float sc_s[TN_TURBO_MAX_SUB], inv_a_s[TN_TURBO_MAX_SUB];
    __shared__ int skip_s[TN_TURBO_MAX_SUB];
    const tq_cb &cb = c.cb;
    for (int i = threadIdx.x; i < d; i += blockDim.x) y[i] = x[i];
    __syncthreads();
    /* |x| per sub-block in double, summed in element order as on the CPU */
    if (threadIdx.x < g.n_sub) {
        int o = g.off[threadIdx.x], n = g.len[threadIdx.x];
        double ss = 0;
        for (int i = o; i < o + n; i++) ss = __dadd_rn(ss, __dmul_rn((double)y[i], (double)y[i]));
        double len = sqrt(ss);
        len_s[threadIdx.x] = len;
        skip_s[threadIdx.x] = !(len > 0) || !isfinite(len);
        sc_s[threadIdx.x] = (float)(sqrt((double)n) / len);
        inv_a_s[threadIdx.x] = 1.0f;
    }
    __syncthreads();
    tq_rotate_smem(y, g, s.rot_seed, false);
    /* Lloyd-Max code, then three rounds of alternating least squares (turbo.c); a sub-block
     * stops refining (keeps its codes and sums) once t.c <= 0, as on the CPU. */
    for (int round = 0; round < 4; round++) {
        for (int i = threadIdx.x; i < d; i += blockDim.x) {
            int sb = tq_sub_of(g, i);
            if (skip_s[sb] || (round > 0 && !(tc_s[sb] > 0))) continue;
            float t = __fmul_rn(y[i], sc_s[sb]);
            float tt = round ? __fmul_rn(t, inv_a_s[sb]) : t;
            int k = 0;
            for (int m = 0; m < cb.n_b; m++) k += tt > cb.b[m];
            idx[i] = (uint8_t)k;
            c2[i] = __dmul_rn((double)cb.c[k], (double)cb.c[k]);
            ct[i] = __dmul_rn((double)cb.c[k], (double)t);
        }
        __syncthreads();
        if (threadIdx.x < g.n_sub && !skip_s[threadIdx.x] && (round == 0 || tc_s[threadIdx.x] > 0)) {
            int sb = threadIdx.x, o = g.off[sb], n = g.len[sb];
            double cc = 0, tc = 0;
            for (int i = o; i < o + n; i++) {
                cc = __dadd_rn(cc, c2[i]);
                tc = __dadd_rn(tc, ct[i]);
            }
            cc_s[sb] = cc;
            tc_s[sb] = tc;
            inv_a_s[sb] = (float)(cc / tc);
        }
        __syncthreads();
    }
    for (int i = threadIdx.x; i < d; i += blockDim.x) {
        int sb = tq_sub_of(g, i);
        if (skip_s[sb]) idx[i] = (uint8_t)(1 << (c.bits - 1));
    }
    __syncthreads();
    uint8_t *qd = row + (size_t)h * c.head_bytes;
    if (c.bits == 4) {
        for (int k = threadIdx.x; k < d / 2; k += blockDim.x)
            qd[k] = (uint8_t)(idx[2 * k] | idx[2 * k + 1] << 4);
    } else {
        for (int k = threadIdx.x; k < d / 4; k += blockDim.x)
            qd[k] = (uint8_t)((idx[4 * k] & 3) | (idx[4 * k + 1] & 3) << 2 | (idx[4 * k + 2] & 3) << 4 |
                              (idx[4 * k + 3] & 3) << 6);
        if (c.bits == 3)
            for (int k = threadIdx.x; k < d / 8; k += blockDim.x) {
                uint8_t v = 0;
                for (int j = 0; j < 8; j++) v |= (uint8_t)(((idx[8 * k + j] >> 2) & 1) << j);
                qd[d / 4 + k] = v;
            }
    }
    if (threadIdx.x < g.n_sub) {
        int sb = threadIdx.x, n = g.len[sb];
        float nrm = skip_s[sb] ? (float)len_s[sb] : (float)(len_s[sb] * sqrt((double)n / cc_s[sb]));
        ((__half *)(row + c.norm_off))[h * g.n_sub + sb] = __float2half_rn(nrm);
    }
}

/* ---- host side ---- */

static int tq_fill_cache(tq_cache *c, int type, int head_dim, int n_head_kv, const void *base) {
    tn_kv_codec codec;
    if (tn_kv_codec_init(&codec, type, head_dim, n_head_kv, 0)) return -1;
    c->base = (const uint8_t *)base;
    c->bits = codec.bits;
    c->is_f32 = type == TN_TYPE_F32;
    c->row_bytes = codec.row_bytes;
    c->head_bytes = codec.head_bytes;
    c->norm_off = codec.norm_off;
    c->cb = tq_cb{};
    if (c->bits) {
        const float *cbv = tn_turbo_codebook(c->bits), *bd = tn_turbo_boundaries(c->bits);
        c->cb.n_b = (1 << c->bits) - 1;
        for (int i = 0; i <= c->cb.n_b; i++) c->cb.c[i] = cbv[i];
        for (int i = 0; i < c->cb.n_b; i++) c->cb.b[i] = bd[i];
    }
    return 0;
}

static void tq_fill_geo(tq_geo *g, int d) {
    tn_turbo_rot r;
    tn_turbo_rot_init(&r, d, 0);
    g->d = d;
    g->n_sub = r.n_sub;
    for (int s = 0; s < TN_TURBO_MAX_SUB; s++) {
        g->off[s] = s < r.n_sub ? r.off[s] : d;
        g->len[s] = s < r.n_sub ? r.len[s] : 0;
    }
}

static bool tq_type_ok(int t) {
    return t == TN_TYPE_F16 || t == TN_TYPE_F32 || tn_kv_turbo_bits(t) > 0;
}

extern "C" int tn_cuda_turbo_supported(int type_k, int type_v, int head_dim) {
    return tq_type_ok(type_k) && tq_type_ok(type_v) &&
           (tn_kv_turbo_bits(type_k) || tn_kv_turbo_bits(type_v)) && head_dim <= TQ_MAX_D &&
           tn_turbo_n_sub(head_dim) > 0;
}

extern "C" size_t tn_cuda_turbo_scratch(const tn_cuda_turbo_attn *a) {
    return a->n_split > 1 ? (size_t)a->n_tokens * a->n_head * a->n_split * (size_t)(a->head_dim + 2) : 0;
}

extern "C" int tn_cuda_turbo_attention(const tn_cuda_turbo_attn *a, void *stream) {
    if (!tn_cuda_turbo_supported(a->type_k, a->type_v, a->head_dim) || a->n_head_kv <= 0 ||
        a->n_head % a->n_head_kv || a->n_split < 1 || a->n_split > TQ_MAX_SPLIT ||
        (a->n_split > 1 && !a->part))
        return tn_set_error("CUDA TurboQuant attention: unsupported shape (types %s/%s, head %d, "
                            "heads %d/%d, splits %d)",
                            tn_kv_type_name(a->type_k), tn_kv_type_name(a->type_v), a->head_dim,
                            a->n_head, a->n_head_kv, a->n_split);
    if (a->n_tokens <= 0) return 0;
    tq_attn_args args;
    args.a = *a;
    if (tq_fill_cache(&args.k, a->type_k, a->head_dim, a->n_head_kv, a->k) ||
        tq_fill_cache(&args.v, a->type_v, a->head_dim, a->n_head_kv, a->v))
        return -1;
    tq_fill_geo(&args.g, a->head_dim);
    cudaStream_t st = (cudaStream_t)stream;
    dim3 grid((unsigned)(a->n_tokens * a->n_head), (unsigned)a->n_split);
    tq_attn_kernel<<<grid, TQ_THREADS, 0, st>>>(args);
    if (a->n_split > 1) tq_merge_kernel<<<(unsigned)(a->n_tokens * a->n_head), TQ_THREADS, 0, st>>>(args);
    cudaError_t err = cudaGetLastError();
    if (err != cudaSuccess)
        return tn_set_error("CUDA TurboQuant attention: launch failed: %s", cudaGetErrorString(err));
    return 0;
}

extern "C" int tn_cuda_turbo_store_rows(const tn_cuda_turbo_store *s, void *stream) {
    if (!tq_type_ok(s->type_k) || !tq_type_ok(s->type_v) || s->head_dim > TQ_MAX_D ||
        !tn_turbo_n_sub(s->head_dim))
        return tn_set_error("CUDA TurboQuant store: unsupported types %s/%s or head size %d",
                            tn_kv_type_name(s->type_k), tn_kv_type_name(s->type_v), s->head_dim);
    if (s->n_tokens <= 0) return 0;
    tq_store_args args;
    args.s = *s;
    if (tq_fill_cache(&args.k, s->type_k, s->head_dim, s->n_head_kv, NULL) ||
        tq_fill_cache(&args.v, s->type_v, s->head_dim, s->n_head_kv, NULL))
        return -1;
    tq_fill_geo(&args.g, s->head_dim);
    dim3 grid((unsigned)(s->n_tokens * s->n_head_kv), 2);
    tq_store_kernel<<<grid, TQ_THREADS, 0, (cudaStream_t)stream>>>(args);
    cudaError_t err = cudaGetLastError();
    if (err != cudaSuccess)
        return tn_set_error("CUDA TurboQuant store: launch failed: %s", cudaGetErrorString(err));
    return 0;
}

/* ---- host-memory wrappers for tests ---- */

/* Device copy of n bytes of host memory (NULL host -> NULL); records the first failure. */
static void *tq_up(const void *h, size_t n, cudaError_t *err) {
    void *d = NULL;
    if (!h || *err != cudaSuccess) return NULL;
    *err = cudaMalloc(&d, n ? n : 1);
    if (*err == cudaSuccess) *err = cudaMemcpy(d, h, n, cudaMemcpyHostToDevice);
    return d;
}

extern "C" int tn_cuda_turbo_attention_host(const tn_cuda_turbo_attn *a) {
    if (!tn_cuda_turbo_supported(a->type_k, a->type_v, a->head_dim))
        return tn_cuda_turbo_attention(a, NULL); /* sets the error */
    int64_t kd = (int64_t)a->n_head_kv * a->head_dim, qd = (int64_t)a->n_head * a->head_dim;
    size_t kr = tn_kv_row_size(a->type_k, kd, a->head_dim), vr = tn_kv_row_size(a->type_v, kd, a->head_dim);
    size_t nq = (size_t)a->n_tokens * qd;
    cudaError_t err = cudaSuccess;
    tn_cuda_turbo_attn d = *a;
    d.k = tq_up(a->k, kr * a->n_kv, &err);
    d.v = tq_up(a->v, vr * a->n_kv, &err);
    d.q = (const float *)tq_up(a->q, nq * sizeof(float), &err);
    d.pos = (const int32_t *)tq_up(a->pos, a->n_tokens * sizeof(int32_t), &err);
    d.seq = (const int32_t *)tq_up(a->seq, a->n_tokens * sizeof(int32_t), &err);
    d.cell_pos = (const int32_t *)tq_up(a->cell_pos, a->n_kv * sizeof(int32_t), &err);
    d.cell_seq = (const int32_t *)tq_up(a->cell_seq, a->n_kv * sizeof(int32_t), &err);
    d.out = NULL;
    d.part = NULL;
    d.n_kv_dev = NULL;
    if (err == cudaSuccess) err = cudaMalloc((void **)&d.out, nq * sizeof(float));
    size_t np = tn_cuda_turbo_scratch(a);
    if (err == cudaSuccess && np) err = cudaMalloc((void **)&d.part, np * sizeof(float));
    int rc = -1;
    if (err == cudaSuccess && tn_cuda_turbo_attention(&d, NULL) == 0) {
        err = cudaDeviceSynchronize();
        if (err == cudaSuccess) err = cudaMemcpy(a->out, d.out, nq * sizeof(float), cudaMemcpyDeviceToHost);
        rc = err == cudaSuccess ? 0 : -1;
    }
    if (err != cudaSuccess) tn_set_error("CUDA TurboQuant attention (test wrapper): %s", cudaGetErrorString(err));
    const void *ptrs[] = {d.k, d.v, d.q, d.pos, d.seq, d.cell_pos, d.cell_seq, d.out, d.part};
    for (size_t i = 0; i < sizeof ptrs / sizeof ptrs[0]; i++) cudaFree((void *)ptrs[i]);
    return rc;
}

extern "C" int tn_cuda_turbo_store_rows_host(const tn_cuda_turbo_store *s, int32_t n_cells) {
    int64_t kd = (int64_t)s->n_head_kv * s->head_dim;
    size_t kr = tn_kv_row_size(s->type_k, kd, s->head_dim), vr = tn_kv_row_size(s->type_v, kd, s->head_dim);
    if (!kr || !vr) return tn_cuda_turbo_store_rows(s, NULL); /* sets the error */
    cudaError_t err = cudaSuccess;
    tn_cuda_turbo_store d = *s;
    d.k = (const float *)tq_up(s->k, (size_t)s->n_tokens * kd * sizeof(float), &err);
    d.v = (const float *)tq_up(s->v, (size_t)s->n_tokens * kd * sizeof(float), &err);
    d.cell = (const int32_t *)tq_up(s->cell, (size_t)s->n_tokens * sizeof(int32_t), &err);
    d.k_cache = tq_up(s->k_cache, kr * n_cells, &err);
    d.v_cache = tq_up(s->v_cache, vr * n_cells, &err);
    int rc = -1;
    if (err == cudaSuccess && tn_cuda_turbo_store_rows(&d, NULL) == 0) {
        err = cudaDeviceSynchronize();
        if (err == cudaSuccess) err = cudaMemcpy(s->k_cache, d.k_cache, kr * n_cells, cudaMemcpyDeviceToHost);
        if (err == cudaSuccess) err = cudaMemcpy(s->v_cache, d.v_cache, vr * n_cells, cudaMemcpyDeviceToHost);
        rc = err == cudaSuccess ? 0 : -1;
    }
    if (err != cudaSuccess) tn_set_error("CUDA TurboQuant store (test wrapper): %s", cudaGetErrorString(err));
    const void *ptrs[] = {d.k, d.v, d.cell, d.k_cache, d.v_cache};
    for (size_t i = 0; i < sizeof ptrs / sizeof ptrs[0]; i++) cudaFree((void *)ptrs[i]);
    return rc;
}
