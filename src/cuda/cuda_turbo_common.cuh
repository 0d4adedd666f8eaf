/* TurboQuant cache layout and rotation on the device, shared by the store/reference kernels
 * (cuda_turbo.cu) and the fast decode kernel (cuda_turbo_decode.cu). Byte layout and math are
 * those of src/kv/turbo.c and kv_types.c. */
#ifndef TN_CUDA_CUDA_TURBO_COMMON_CUH
#define TN_CUDA_CUDA_TURBO_COMMON_CUH

#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <stdint.h>

#include "cuda/cuda_pdl.cuh"

extern "C" {
#include "formats/types.h"
#include "kv/kv.h"
}

enum { TQ_MAX_D = 256, TQ_THREADS = 128, TQ_WARPS = TQ_THREADS / 32, TQ_MAX_SPLIT = 128 };

/* Split-KV partial results, per (token-head, split): acc[d] (rotated domain), then max and sum:
 * a stride of d + 4 floats keeps every acc 16-byte aligned for the merge's float4 loads. */
static __host__ __device__ __forceinline__ size_t tq_part_stride(int d) { return (size_t)d + 4; }

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
static __device__ __forceinline__ float tq_sign(uint32_t seed, uint32_t k) {
    uint32_t x = seed + 0x9e3779b9u * k;
    x ^= x >> 16;
    x *= 0x21f0aaadu;
    x ^= x >> 15;
    x *= 0x735a2d97u;
    x ^= x >> 15;
    return (x >> 31) ? -1.0f : 1.0f;
}

static __device__ __forceinline__ int tq_sub_of(const tq_geo &g, int i) {
    int s = 0;
    while (s + 1 < g.n_sub && i >= g.off[s + 1]) s++;
    return s;
}

/* Rotates (or un-rotates) one head vector held by a warp, lane l holding elements l + 32 j (y[j],
 * j < D / 32), as tq_rotate_smem / td_rotate: the same float operation for every butterfly
 * (strides below 32 through shuffles, the others within a lane), so the results are identical.
 * D: a power of two, 32 .. 256 (one rotation block). */
template <int D>
__device__ __forceinline__ void tq_rotate_warp(float y[D / 32], uint32_t seed, bool inverse = false) {
    constexpr int E = D / 32;
    const int lane = threadIdx.x & 31;
    const uint32_t pre = inverse ? 1024u : 0u, post = inverse ? 0u : 1024u;
#pragma unroll
    for (int j = 0; j < E; j++) y[j] = __fmul_rn(y[j], tq_sign(seed, pre + lane + 32 * j));
#pragma unroll
    for (int s = 1; s < 32; s <<= 1)
#pragma unroll
        for (int j = 0; j < E; j++) {
            const float p = __shfl_xor_sync(0xffffffffu, y[j], s);
            y[j] = lane & s ? __fsub_rn(p, y[j]) : __fadd_rn(y[j], p);
        }
#pragma unroll
    for (int s = 1; s < E; s <<= 1)
#pragma unroll
        for (int j = 0; j < E; j++)
            if (!(j & s)) {
                const float a = y[j], b = y[j | s];
                y[j] = __fadd_rn(a, b);
                y[j | s] = __fsub_rn(a, b);
            }
    const float rs = 1.0f / sqrtf((float)D);
#pragma unroll
    for (int j = 0; j < E; j++) y[j] = __fmul_rn(y[j], __fmul_rn(tq_sign(seed, post + lane + 32 * j), rs));
}

/* tq_rotate_warp of the vector src[0 .. D) into dst (global or shared memory; may be src). */
template <int D>
__device__ __forceinline__ void tq_rotate_vec_warp(const float *src, float *dst, uint32_t seed, bool inverse) {
    const int lane = threadIdx.x & 31;
    float y[D / 32];
#pragma unroll
    for (int j = 0; j < D / 32; j++) y[j] = src[lane + 32 * j];
    tq_rotate_warp<D>(y, seed, inverse);
#pragma unroll
    for (int j = 0; j < D / 32; j++) dst[lane + 32 * j] = y[j];
}

/* Whether a head of d dims in one rotation block is rotated by a warp in registers
 * (tq_rotate_vec_warp_pow2): d = 32, 64, 128 or 256. (A macro: as an inline function the
 * callers' code came out different, and only this form has been measured on the GPU.) */
#define TQ_WARP_ROTATES(d) ((d) == 32 || (d) == 64 || (d) == 128 || (d) == 256)

/* tq_rotate_vec_warp for a run-time d with TQ_WARP_ROTATES(d). */
__device__ __forceinline__ void tq_rotate_vec_warp_pow2(const float *src, float *dst, int d, uint32_t seed,
                                                        bool inverse) {
    switch (d) {
    case 32: tq_rotate_vec_warp<32>(src, dst, seed, inverse); return;
    case 64: tq_rotate_vec_warp<64>(src, dst, seed, inverse); return;
    case 128: tq_rotate_vec_warp<128>(src, dst, seed, inverse); return;
    case 256: tq_rotate_vec_warp<256>(src, dst, seed, inverse); return;
    default: return;
    }
}

/* In place on shared memory x[d], whole block, after a barrier: rotate (tn_turbo_rotate) or
 * unrotate. Same operations as the CPU: x *= D_a; Walsh-Hadamard butterflies; x *= (D_b *
 * 1/sqrt(n)). A head of one rotation block of 32..256 is done by warp 0 alone in registers
 * (tq_rotate_warp: the same float operations, one block barrier instead of one per butterfly
 * stage; the TurboQuant merge kernel's un-rotation this way made tg64 @ d8192 +2.3 %,
 * 2026-12-03c record). */
static __device__ void tq_rotate_smem(float *x, const tq_geo &g, uint32_t seed, bool inverse) {
    if (g.n_sub == 1 && TQ_WARP_ROTATES(g.d)) {
        if (threadIdx.x < 32) tq_rotate_vec_warp_pow2(x, x, g.d, seed, inverse);
        __syncthreads();
        return;
    }
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
static __device__ __forceinline__ float tq_load(const tq_cache &k, int64_t c, int h, int i, int d,
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

static inline int tq_fill_cache(tq_cache *c, int type, int head_dim, int n_head_kv, const void *base) {
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

static inline void tq_fill_geo(tq_geo *g, int d) {
    tn_turbo_rot r;
    tn_turbo_rot_init(&r, d, 0);
    g->d = d;
    g->n_sub = r.n_sub;
    for (int s = 0; s < TN_TURBO_MAX_SUB; s++) {
        g->off[s] = s < r.n_sub ? r.off[s] : d;
        g->len[s] = s < r.n_sub ? r.len[s] : 0;
    }
}

#endif
