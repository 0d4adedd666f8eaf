/* What the two fast TurboQuant decode kernels share (cuda_turbo_decode.cu: f32 arithmetic,
 * cuda_turbo_tc.cu: tensor cores): block shape, the block-wide rotation of whole vectors, and
 * the block's ending (merging the warps' online-softmax states; with several splits the partial
 * result in tq_merge_kernel's layout, else normalized, un-rotated and written). */
#ifndef TN_CUDA_CUDA_TURBO_DEC_CUH
#define TN_CUDA_CUDA_TURBO_DEC_CUH

extern "C" {
#include "cuda/cuda_turbo.h"
}
#include "cuda/cuda_turbo_common.cuh"

constexpr int TD_T = 128, TD_W = TD_T / 32, TD_MAXG = 8;

/* Rotates (or un-rotates) n_vec vectors of d = 2^k floats from src (global memory, or shared
 * memory after a barrier; may be x) into shared memory x with the whole block: the operations
 * of tq_rotate_smem for a single sub-block, for all vectors at once. Heads of 32..256 take a warp
 * per vector in registers (tq_rotate_warp, the same float operations), one block barrier instead
 * of one per butterfly stage (the tensor-core kernel's query rotation this way made tg64 @ d32768
 * +2.9 %, 2026-12-03c record). */
static __device__ void td_rotate(float *x, const float *src, int n_vec, int d, uint32_t seed, bool inverse) {
    if (TQ_WARP_ROTATES(d)) {
        for (int v = threadIdx.x >> 5; v < n_vec; v += blockDim.x >> 5)
            tq_rotate_vec_warp_pow2(src + v * d, x + v * d, d, seed, inverse);
        __syncthreads();
        return;
    }
    const uint32_t pre = inverse ? 1024u : 0u, post = inverse ? 0u : 1024u;
    const int n = n_vec * d;
    for (int e = threadIdx.x; e < n; e += blockDim.x) x[e] = __fmul_rn(src[e], tq_sign(seed, pre + e % d));
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

/* On entry (after a barrier): wm/wl [TD_W][MG] each warp's running max (natural log units; -inf:
 * nothing visible) and sum per head, wacc [TD_W][MG * D] its unnormalized outputs (rotated
 * domain); red: GB * D floats of free shared memory. With several splits the block writes its
 * partial result (tq_merge_kernel follows), else it un-rotates and writes the output. */
template <int D, int MG>
static __device__ void td_finish(const tn_cuda_turbo_attn &a, const float *wm, const float *wl, const float *wacc,
                                 float *red, int GB, int h0, int split, int t) {
    const int tid = threadIdx.x, n_split = a.n_split;
    /* per head: the maximum, each warp's weight e^(m_w - M) (0: nothing visible) and the sum,
     * once. Every element of a head computed them before (4 expf per element, ~8 % of the
     * tensor-core kernel's warp samples at d32768): turbo3 tg64 Llama-3-8B Q4_K_M on an H200
     * d8192 393.4 / 392.9 -> 395.8 / 395.3, d32768 316.5 / 320.0 -> 320.5 / 323.0 t/s
     * (2026-12-03e record). The sums are the same, in the same order. */
    __shared__ float hw[TD_W * MG], hm[MG], hl[MG];
    if (tid < GB) {
        float M = -INFINITY, L = 0.0f;
        for (int w = 0; w < TD_W; w++) M = fmaxf(M, wm[w * MG + tid]);
        for (int w = 0; w < TD_W; w++) {
            const float e = wm[w * MG + tid] != -INFINITY ? expf(wm[w * MG + tid] - M) : 0.0f;
            hw[w * MG + tid] = e;
            L += wl[w * MG + tid] * e;
        }
        hm[tid] = M, hl[tid] = L;
    }
    __syncthreads();
    for (int idx = tid; idx < GB * D; idx += TD_T) {
        const int g = idx / D;
        const float M = hm[g], L = hl[g];
        float o = 0.0f;
        for (int w = 0; w < TD_W; w++)
            if (hw[w * MG + g] != 0.0f) o += wacc[w * MG * D + idx] * hw[w * MG + g];
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
    if (n_split > 1) return; /* tq_merge_kernel follows */
    __syncthreads();
    td_rotate(red, red, GB, D, a.rot_seed, true);
    for (int idx = tid; idx < GB * D; idx += TD_T) a.out[((int64_t)t * a.n_head + h0) * D + idx] = red[idx];
}

#endif
