/* CUDA kernels for TurboQuant KV caches: row store (quantize) and attention on the compressed
 * cache, decode with split-KV and prefill (see cuda_turbo.h). The math and byte layout are those of
 * src/kv/turbo.c and kv_types.c; the store kernel performs the same floating-point operations in
 * the same order (explicit _rn intrinsics, no fused multiply-add, reductions done sequentially by
 * one thread) so its bytes equal the CPU's. */
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

extern "C" {
#include "core/error.h"
#include "cuda/cuda_turbo.h"
#include "formats/types.h"
}
#include "cuda/cuda_quant.cuh"
#include "cuda/cuda_turbo_common.cuh"
#include "cuda/cuda_turbo_store.cuh"

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
        float *pp = a.part + ((size_t)th * a.n_split + split) * tq_part_stride(d);
        if (threadIdx.x == 0) {
            pp[d] = M;
            pp[d + 1] = L;
        }
        for (int i = threadIdx.x; i < d; i += blockDim.x) {
            float A = 0.0f;
            for (int w = 0; w < TQ_WARPS; w++)
                if (wl[w] > 0) A += wacc[w][i] * __expf(wm[w] - M);
            pp[i] = A;
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

/* TN_TQ_MERGE_ALL=1 (A/B build, not yet run on a GPU): the weighted sum below requests all of a
 * thread's splits at once instead of 8 at a time plus a tail one by one: at head 128 a thread
 * takes every 4th split, 16 of 64 (two round trips to memory now) or 16-17 of 66 (three for
 * some threads, since the tensor-core kernel's 66 splits, 2026-12-03e record). */
#ifndef TN_TQ_MERGE_ALL
#define TN_TQ_MERGE_ALL 0
#endif

/* Split-KV merge: one block per (token, head) combines the n_split partial softmax sums, then
 * normalizes and unrotates once. Thread s takes split s's (max, sum) (n_split <= blockDim), so the
 * weights cost one round of loads; for the weighted sum the threads split into d/4 float4 columns
 * times blockDim/(d/4) phases over the splits, 8 loads in flight each, summed in shared memory.
 * Splits with nothing visible (sum 0) get weight 0. */
__global__ void __launch_bounds__(TQ_THREADS) tq_merge_kernel(const tq_attn_args args) {
    tn_cu_pdl_begin();
    tn_cu_pdl_wait(); /* the partial sums of the kernel before (with tn_cuda_turbo_attn.pdl) */
    const tn_cuda_turbo_attn &a = args.a;
    const int d = a.head_dim, th = blockIdx.x, ns = a.n_split, tid = threadIdx.x;
    const int warp = tid / 32, lane = tid % 32;
    __shared__ __align__(16) float os[TQ_MAX_D];
    __shared__ __align__(16) float4 col[TQ_THREADS];
    __shared__ float wgt[TQ_MAX_SPLIT];
    __shared__ float red[TQ_WARPS];
    const size_t stride = tq_part_stride(d);
    const float *pp = a.part + (size_t)th * ns * stride;
    const float ls = tid < ns ? pp[(size_t)tid * stride + d + 1] : 0.0f;
    const float ms = tid < ns && ls > 0 ? pp[(size_t)tid * stride + d] : -INFINITY;
    float M = ms;
    for (int o = 16; o > 0; o >>= 1) M = fmaxf(M, __shfl_xor_sync(0xffffffffu, M, o));
    if (lane == 0) red[warp] = M;
    __syncthreads();
    M = red[0];
    for (int w = 1; w < TQ_WARPS; w++) M = fmaxf(M, red[w]);
    __syncthreads();
    const float w_s = ls > 0 ? __expf(ms - M) : 0.0f;
    if (tid < ns) wgt[tid] = w_s;
    float L = ls * w_s;
    for (int o = 16; o > 0; o >>= 1) L += __shfl_xor_sync(0xffffffffu, L, o);
    if (lane == 0) red[warp] = L;
    __syncthreads();
    L = 0.0f;
    for (int w = 0; w < TQ_WARPS; w++) L += red[w];
    const int ng = d / 4, nph = TQ_THREADS / ng, gi = tid % ng, ph = tid / ng;
    float4 A = make_float4(0.f, 0.f, 0.f, 0.f);
#if TN_TQ_MERGE_ALL
    if (ph < nph) { /* TN_TQ_MERGE_ALL: every split of the thread requested at once (predicated),
                     * the same sums in the same order */
        const float4 *src = (const float4 *)pp + gi;
        const size_t s4 = stride / 4;
        constexpr int NB = TQ_MAX_SPLIT / 4; /* a thread's splits at d = 128 (4 phases) */
        for (int s0 = ph; s0 < ns; s0 += NB * nph) {
            float4 v[NB];
#pragma unroll
            for (int k = 0; k < NB; k++) {
                const int s = s0 + k * nph;
                v[k] = s < ns && wgt[s] > 0 ? src[(size_t)s * s4] : make_float4(0.f, 0.f, 0.f, 0.f);
            }
#pragma unroll
            for (int k = 0; k < NB; k++) {
                const int s = s0 + k * nph;
                const float w = s < ns ? wgt[s] : 0.0f;
                if (w > 0) A.x += v[k].x * w, A.y += v[k].y * w, A.z += v[k].z * w, A.w += v[k].w * w;
            }
        }
    }
#else
    if (ph < nph) {
        const float4 *src = (const float4 *)pp + gi;
        const size_t s4 = stride / 4;
        int s = ph;
        for (; s + 7 * nph < ns; s += 8 * nph) {
            float4 v[8];
#pragma unroll
            for (int k = 0; k < 8; k++) v[k] = src[(size_t)(s + k * nph) * s4];
#pragma unroll
            for (int k = 0; k < 8; k++) {
                const float w = wgt[s + k * nph];
                if (w > 0) A.x += v[k].x * w, A.y += v[k].y * w, A.z += v[k].z * w, A.w += v[k].w * w;
            }
        }
        for (; s < ns; s += nph) {
            const float w = wgt[s];
            if (w > 0) {
                const float4 v = src[(size_t)s * s4];
                A.x += v.x * w, A.y += v.y * w, A.z += v.z * w, A.w += v.w * w;
            }
        }
    }
#endif
    col[tid] = A;
    __syncthreads();
    const float inv = L > 0 ? 1.0f / L : 0.0f;
    for (int i = tid; i < d; i += blockDim.x) {
        float o = 0.0f;
        for (int p = 0; p < nph; p++) o += ((const float *)&col[p * ng + i / 4])[i % 4];
        os[i] = o * inv;
    }
    __syncthreads();
    if (args.v.bits) tq_rotate_smem(os, args.g, a.rot_seed, true);
    const size_t obase = (size_t)th * d; /* token th / n_head, head th % n_head */
    for (int i = tid; i < d; i += blockDim.x) a.out[obase + i] = os[i];
    if (a.xq) /* the output projection's input items */
        tn_cu_quant_items(os, d / 32, a.xq + obase, (tn_cu_xmeta *)a.xm + obase / 32, warp, TQ_WARPS);
}

struct tq_store_args {
    tn_cuda_turbo_store s;
    tq_geo g;
    tq_cache k, v; /* base unused: the destination is s.k_cache / s.v_cache */
};

/* One block per (token, KV head, K or V): one head vector into its cell, as tn_kv_store_row. */
__global__ void __launch_bounds__(TQ_THREADS) tq_store_kernel(const tq_store_args args) {
    tn_cu_pdl_begin();
    tn_cu_pdl_wait(); /* k and v from the kernel before (with tn_cuda_turbo_store.pdl) */
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
    /* |x| per sub-block in double, one warp per sub-block (n_sub <= 4 for heads <= 256). The CPU
     * sums in element order; the warp's tree order can differ in the last bit of a double, which
     * changes a stored byte only if that moves a float exactly across a rounding or decision
     * boundary (test_cuda_turbo: no differing byte in ~1.5 MB). */
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    if (warp < g.n_sub) {
        int o = g.off[warp], n = g.len[warp];
        double ss = 0;
        for (int i = o + lane; i < o + n; i += 32) ss = __dadd_rn(ss, __dmul_rn((double)y[i], (double)y[i]));
        ss = tq_warp_sum(ss);
        if (lane == 0) {
            double len = sqrt(ss);
            len_s[warp] = len;
            skip_s[warp] = !(len > 0) || !isfinite(len);
            sc_s[warp] = (float)(sqrt((double)n) / len);
            inv_a_s[warp] = 1.0f;
        }
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
        if (warp < g.n_sub && !skip_s[warp] && (round == 0 || tc_s[warp] > 0)) {
            int sb = warp, o = g.off[sb], n = g.len[sb];
            double cc = 0, tc = 0;
            for (int i = o + lane; i < o + n; i += 32) {
                cc = __dadd_rn(cc, c2[i]);
                tc = __dadd_rn(tc, ct[i]);
            }
            cc = tq_warp_sum(cc);
            tc = tq_warp_sum(tc);
            __syncwarp();
            if (lane == 0) {
                cc_s[sb] = cc;
                tc_s[sb] = tc;
                inv_a_s[sb] = (float)(cc / tc);
            }
        }
        __syncthreads();
    }
    for (int i = threadIdx.x; i < d; i += blockDim.x) {
        int sb = tq_sub_of(g, i);
        if (skip_s[sb]) idx[i] = (uint8_t)(1 << (c.bits - 1));
    }
    __syncthreads();
    tq_pack_codes(idx, row + (size_t)h * c.head_bytes, d, c.bits, threadIdx.x, blockDim.x);
    if (threadIdx.x < g.n_sub) { /* one thread per sub-block */
        int sb = threadIdx.x, n = g.len[sb];
        float nrm = skip_s[sb] ? (float)len_s[sb] : (float)(len_s[sb] * sqrt((double)n / cc_s[sb]));
        ((__half *)(row + c.norm_off))[h * g.n_sub + sb] = __float2half_rn(nrm);
    }
}

/* One warp per (token, KV head, K or V) for heads of one rotation block (cuda_turbo_store.cuh):
 * no block barriers, so a decode step's store (16 warps for 8 KV heads) ends sooner. */
template <int D> __global__ void __launch_bounds__(TQ_THREADS) tq_store_warp_kernel(const tq_store_args args) {
    tn_cu_pdl_begin();
    tn_cu_pdl_wait(); /* k and v from the kernel before (with tn_cuda_turbo_store.pdl) */
    __shared__ uint8_t sidx[TQ_WARPS][D];
    const tn_cuda_turbo_store &s = args.s;
    const int warp = threadIdx.x / 32, item = blockIdx.x * TQ_WARPS + warp;
    if (item >= s.n_tokens * s.n_head_kv * 2) return;
    const int is_v = item & 1, tok = (item >> 1) / s.n_head_kv, h = (item >> 1) % s.n_head_kv;
    const tq_cache &c = is_v ? args.v : args.k;
    const float *x = (is_v ? s.v : s.k) + ((size_t)tok * s.n_head_kv + h) * D;
    uint8_t *row = (uint8_t *)(is_v ? s.v_cache : s.k_cache) + (size_t)s.cell[tok] * c.row_bytes;
    tq_store_head_warp<D>(x, c, s.rot_seed, row, h, sidx[warp]);
}

/* ---- host side ---- */

/* The one-warp store kernel where it applies (TERN_CUDA_TURBO_WSTORE=0: the block kernel, tests
 * and A/B). The attention kernel's fused store (tn_cuda_turbo_attn.new_k) always uses it. */
static bool tq_warp_store(int d) {
    const char *e = getenv("TERN_CUDA_TURBO_WSTORE");
    return (d == 32 || d == 64 || d == 128 || d == 256) && !(e && !strcmp(e, "0"));
}

static bool tq_type_ok(int t) {
    return t == TN_TYPE_F16 || t == TN_TYPE_F32 || tn_kv_turbo_bits(t) > 0;
}

extern "C" int tn_cuda_turbo_supported(int type_k, int type_v, int head_dim) {
    return tq_type_ok(type_k) && tq_type_ok(type_v) &&
           (tn_kv_turbo_bits(type_k) || tn_kv_turbo_bits(type_v)) && head_dim <= TQ_MAX_D &&
           tn_turbo_n_sub(head_dim) > 0;
}

/* TERN_CUDA_TURBO_REF=1: always the reference attention kernel (tests, A/B). */
static bool tq_reference_only(void) {
    const char *e = getenv("TERN_CUDA_TURBO_REF");
    return e && *e && strcmp(e, "0") != 0;
}

extern "C" size_t tn_cuda_turbo_scratch(const tn_cuda_turbo_attn *a) {
    return a->n_split > 1 ? (size_t)a->n_tokens * a->n_head * a->n_split * tq_part_stride(a->head_dim) : 0;
}

extern "C" int tn_cuda_turbo_attention(const tn_cuda_turbo_attn *a, void *stream) {
    if (!tn_cuda_turbo_supported(a->type_k, a->type_v, a->head_dim) || a->n_head_kv <= 0 ||
        a->n_head % a->n_head_kv || a->n_split < 1 || a->n_split > TQ_MAX_SPLIT ||
        (a->n_split > 1 && !a->part) || (a->xq && (a->n_split < 2 || a->head_dim % 32 || !a->xm)) ||
        (a->new_k && (a->n_tokens != 1 || !a->new_v || !a->new_cell)))
        return tn_set_error("CUDA TurboQuant attention: unsupported shape (types %s/%s, head %d, "
                            "heads %d/%d, splits %d)",
                            tn_kv_type_name(a->type_k), tn_kv_type_name(a->type_v), a->head_dim,
                            a->n_head, a->n_head_kv, a->n_split);
    if (a->n_tokens <= 0) return 0;
    cudaStream_t st = (cudaStream_t)stream;
    tq_attn_args args;
    args.a = *a;
    if (tq_fill_cache(&args.k, a->type_k, a->head_dim, a->n_head_kv, a->k) ||
        tq_fill_cache(&args.v, a->type_v, a->head_dim, a->n_head_kv, a->v))
        return -1;
    tq_fill_geo(&args.g, a->head_dim);
    const bool fast = tn_cuda_turbo_fast_ok(a) && !tq_reference_only();
    const bool tc = fast && a->use_tc && tn_cuda_turbo_tc_ok(a);
    if (a->new_k && !tc) { /* only the tensor-core kernel stores the token's rows itself */
        tn_cuda_turbo_store s = {a->n_head_kv, a->head_dim, a->type_k,   a->type_v,    a->rot_seed, a->new_k,
                                 a->new_v,     (void *)a->k, (void *)a->v, a->new_cell, 1,           a->pdl};
        if (tn_cuda_turbo_store_rows(&s, stream)) return -1;
    }
    if (tc) {
        if (tn_cuda_turbo_tc_launch(a, stream)) return -1;
    } else if (fast) {
        if (tn_cuda_turbo_decode_launch(a, stream)) return -1;
    } else {
        dim3 grid((unsigned)(a->n_tokens * a->n_head), (unsigned)a->n_split);
        tq_attn_kernel<<<grid, TQ_THREADS, 0, st>>>(args);
    }
    if (a->n_split > 1)
        tn_cu_launch_on(st, a->pdl != 0, tq_merge_kernel, dim3((unsigned)(a->n_tokens * a->n_head)), dim3(TQ_THREADS),
                        0, args);
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
    cudaStream_t st = (cudaStream_t)stream;
    const bool pdl = s->pdl != 0;
    const dim3 wgrid((unsigned)((s->n_tokens * s->n_head_kv * 2 + TQ_WARPS - 1) / TQ_WARPS));
    if (!tq_warp_store(s->head_dim))
        tn_cu_launch_on(st, pdl, tq_store_kernel, dim3((unsigned)(s->n_tokens * s->n_head_kv), 2), dim3(TQ_THREADS),
                        0, args);
    else if (s->head_dim == 32) tn_cu_launch_on(st, pdl, tq_store_warp_kernel<32>, wgrid, dim3(TQ_THREADS), 0, args);
    else if (s->head_dim == 64) tn_cu_launch_on(st, pdl, tq_store_warp_kernel<64>, wgrid, dim3(TQ_THREADS), 0, args);
    else if (s->head_dim == 128) tn_cu_launch_on(st, pdl, tq_store_warp_kernel<128>, wgrid, dim3(TQ_THREADS), 0, args);
    else tn_cu_launch_on(st, pdl, tq_store_warp_kernel<256>, wgrid, dim3(TQ_THREADS), 0, args);
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
    const size_t nx = nq / 32 * 8; /* tn_cu_xmeta: float + 2 int16 */
    d.xq = NULL;
    d.xm = NULL;
    if (err == cudaSuccess && a->xq) err = cudaMalloc((void **)&d.xq, nq);
    if (err == cudaSuccess && a->xq) err = cudaMalloc(&d.xm, nx);
    int rc = -1;
    if (err == cudaSuccess && tn_cuda_turbo_attention(&d, NULL) == 0) {
        err = cudaDeviceSynchronize();
        if (err == cudaSuccess) err = cudaMemcpy(a->out, d.out, nq * sizeof(float), cudaMemcpyDeviceToHost);
        if (err == cudaSuccess && a->xq) err = cudaMemcpy(a->xq, d.xq, nq, cudaMemcpyDeviceToHost);
        if (err == cudaSuccess && a->xq) err = cudaMemcpy(a->xm, d.xm, nx, cudaMemcpyDeviceToHost);
        rc = err == cudaSuccess ? 0 : -1;
    }
    if (err != cudaSuccess) tn_set_error("CUDA TurboQuant attention (test wrapper): %s", cudaGetErrorString(err));
    const void *ptrs[] = {d.k, d.v, d.q, d.pos, d.seq, d.cell_pos, d.cell_seq, d.out, d.part, d.xq, d.xm};
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
