/* What the two fast TurboQuant decode kernels share (cuda_turbo_decode.cu: f32 arithmetic,
 * cuda_turbo_tc.cu: tensor cores): block shape, the block-wide rotation of whole vectors, and
 * the block's ending (merging the warps' online-softmax states; with several splits the partial
 * result in tq_merge_kernel's layout, else normalized, un-rotated and written). */
#ifndef TN_CUDA_CUDA_TURBO_DEC_CUH
#define TN_CUDA_CUDA_TURBO_DEC_CUH

extern "C" {
#include "cuda/cuda_turbo.h"
}
#include "cuda/cuda_quant.cuh"
#include "cuda/cuda_turbo_common.cuh"

constexpr int TD_T = 128, TD_W = TD_T / 32, TD_MAXG = 8;

/* Rotates (or un-rotates) n_vec vectors of d = 2^k floats in shared memory with the whole block:
 * the operations of tq_rotate_smem for a single sub-block, for all vectors at once. */
static __device__ void td_rotate(float *x, int n_vec, int d, uint32_t seed, bool inverse) {
    const uint32_t pre = inverse ? 1024u : 0u, post = inverse ? 0u : 1024u;
    const int n = n_vec * d;
    for (int e = threadIdx.x; e < n; e += blockDim.x) x[e] = __fmul_rn(x[e], tq_sign(seed, pre + e % d));
    __syncthreads();
    for (int h = 1; h < d; h <<= 1) {
        for (int p = threadIdx.x; p < n / 2; p += blockDim.x) {
            const int v = p / (d / 2), j = p % (d / 2);
            const int a = v * d + (j / h) * 2 * h + j % h, b = a + h;
            const float va = x[a], vb = x[b];
            x[a] = __fadd_rn(va, vb);
            x[b] = __fsub_rn(va, vb);
        }
        __syncthreads();
    }
    const float sc = 1.0f / sqrtf((float)d);
    for (int e = threadIdx.x; e < n; e += blockDim.x) x[e] = __fmul_rn(x[e], __fmul_rn(tq_sign(seed, post + e % d), sc));
    __syncthreads();
}

/* The last block of a head group to finish merges the n_split partial results of its GB heads
 * (tn_cuda_turbo_attn.merge_in), as tq_merge_kernel does, into red ([GB][D], normalized, still
 * rotated); w: GB * n_split floats of free shared memory for the splits' weights. */
template <int D>
static __device__ void td_merge_splits(const tn_cuda_turbo_attn &a, float *red, float *w, int GB, int h0, int t) {
    const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31, ns = a.n_split;
    const size_t stride = tq_part_stride(D);
    const float *part = a.part + ((size_t)t * a.n_head + h0) * ns * stride; /* head g, split s at (g ns + s) stride */
    __shared__ float inv_s[TD_MAXG];
    for (int i = tid; i < GB * ns; i += TD_T) {
        const float *pp = part + (size_t)i * stride;
        w[i] = __ldcg(pp + D + 1) > 0.0f ? __ldcg(pp + D) : -INFINITY; /* a split that saw nothing: weight 0 */
    }
    __syncthreads();
    for (int g = warp; g < GB; g += TD_W) { /* a warp per head: max, then weights and their sum */
        float M = -INFINITY, L = 0.0f;
        for (int s = lane; s < ns; s += 32) M = fmaxf(M, w[g * ns + s]);
        for (int o = 16; o > 0; o >>= 1) M = fmaxf(M, __shfl_xor_sync(0xffffffffu, M, o));
        __syncwarp();
        for (int s = lane; s < ns; s += 32) {
            const float m = w[g * ns + s], e = m == -INFINITY ? 0.0f : __expf(m - M);
            L += e * __ldcg(part + (size_t)(g * ns + s) * stride + D + 1);
            w[g * ns + s] = e;
        }
        for (int o = 16; o > 0; o >>= 1) L += __shfl_xor_sync(0xffffffffu, L, o);
        if (lane == 0) inv_s[g] = L > 0.0f ? 1.0f / L : 0.0f;
    }
    __syncthreads();
    constexpr int V4 = D / 4; /* float4 columns of a head, 8 loads in flight per thread */
    for (int c = tid; c < GB * V4; c += TD_T) {
        const int g = c / V4, i4 = c % V4;
        const float *col = part + (size_t)g * ns * stride + 4 * i4;
        float4 o = make_float4(0.f, 0.f, 0.f, 0.f);
        int s = 0;
        for (; s + 8 <= ns; s += 8) {
            float4 v[8];
#pragma unroll
            for (int k = 0; k < 8; k++) v[k] = __ldcg((const float4 *)(col + (size_t)(s + k) * stride));
#pragma unroll
            for (int k = 0; k < 8; k++) {
                const float e = w[g * ns + s + k];
                o.x += v[k].x * e, o.y += v[k].y * e, o.z += v[k].z * e, o.w += v[k].w * e;
            }
        }
        for (; s < ns; s++) {
            const float4 v = __ldcg((const float4 *)(col + (size_t)s * stride));
            const float e = w[g * ns + s];
            o.x += v.x * e, o.y += v.y * e, o.z += v.z * e, o.w += v.w * e;
        }
        const float inv = inv_s[g];
        red[g * D + 4 * i4] = o.x * inv, red[g * D + 4 * i4 + 1] = o.y * inv;
        red[g * D + 4 * i4 + 2] = o.z * inv, red[g * D + 4 * i4 + 3] = o.w * inv;
    }
}

/* On entry (after a barrier): wm/wl [TD_W][MG] each warp's running max (natural log units; -inf:
 * nothing visible) and sum per head, wacc [TD_W][MG * D] its unnormalized outputs (rotated
 * domain); red: GB * D floats of free shared memory. With several splits the block writes its
 * partial result; with a.merge_in the last block of the head group (a.cnt) then merges them all.
 * The block that has the final output un-rotates and writes it, and its int8 items (a.xq). */
template <int D, int MG>
static __device__ void td_finish(const tn_cuda_turbo_attn &a, const float *wm, const float *wl, float *wacc,
                                 float *red, int GB, int h0, int split, int t) {
    const int tid = threadIdx.x, n_split = a.n_split;
    for (int idx = tid; idx < GB * D; idx += TD_T) {
        const int g = idx / D;
        float M = -INFINITY, o = 0.0f, L = 0.0f;
        for (int w = 0; w < TD_W; w++) M = fmaxf(M, wm[w * MG + g]);
        for (int w = 0; w < TD_W; w++)
            if (wm[w * MG + g] != -INFINITY) {
                const float e = expf(wm[w * MG + g] - M);
                o += wacc[w * MG * D + idx] * e;
                L += wl[w * MG + g] * e;
            }
        if (n_split > 1) { /* tq_merge_kernel's layout (tq_part_stride) */
            float *pp = a.part + (((size_t)t * a.n_head + h0 + g) * n_split + split) * tq_part_stride(D);
            if (idx % D == 0) {
                pp[D] = L > 0.0f ? M : -INFINITY;
                pp[D + 1] = L;
            }
            pp[idx % D] = o;
        } else {
            red[idx] = L > 0.0f ? o / L : 0.0f;
        }
    }
    if (n_split > 1) {
        if (!a.merge_in) return; /* tq_merge_kernel follows */
        __shared__ int last_s;
        __threadfence();
        __syncthreads();
        if (tid == 0) {
            unsigned *ctr = a.cnt + (size_t)t * gridDim.x + blockIdx.x;
            last_s = atomicAdd(ctr, 1u) == (unsigned)(n_split - 1);
            if (last_s) *ctr = 0; /* ready for the next launch (graph replay) */
        }
        __syncthreads();
        if (!last_s) return;
        __threadfence();
        td_merge_splits<D>(a, red, wacc, GB, h0, t); /* wacc (>= MG * D floats per warp) is free now */
    }
    __syncthreads();
    td_rotate(red, GB, D, a.rot_seed, true);
    const int64_t obase = ((int64_t)t * a.n_head + h0) * D;
    for (int idx = tid; idx < GB * D; idx += TD_T) a.out[obase + idx] = red[idx];
    if (a.xq) /* the output projection's input items */
        tn_cu_quant_items(red, GB * D / 32, a.xq + obase, (tn_cu_xmeta *)a.xm + obase / 32, tid >> 5, TD_W);
}

#endif
