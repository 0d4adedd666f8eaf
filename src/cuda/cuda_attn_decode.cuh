/* What the two split-KV decode attention kernels share (cuda_attention.cu: f32 arithmetic on
 * any cache type; cuda_attn_tc.cu: tensor cores on f16 caches): their arguments, the mma helpers,
 * and the block's ending — merging the four warps' online-softmax states, then either writing the
 * block's (max, sum, unnormalized output) for the other splits or, in the last block of a head
 * group to arrive, merging all splits, normalizing, writing the output and (optionally) its int8
 * items for the output projection's mat-vec. */
#ifndef TN_CUDA_CUDA_ATTN_DECODE_CUH
#define TN_CUDA_CUDA_ATTN_DECODE_CUH

#include "cuda/cuda_common.cuh"
#include "cuda/cuda_mma.cuh"

constexpr int AD_T = 128, AD_W = AD_T / 32, AD_MAXG = 8; /* threads, warps, most query heads per block */

struct tn_cu_dec_args {
    float *out;
    const float *q;
    int GB, n_split;
    const int32_t *tpos, *tseq, *cpos, *cseq, *meta;
    float *part;
    unsigned *cnt;
    int8_t *xq; /* optional: quantized copy of out (rows of n_head * hd) */
    tn_cu_xmeta *xm;
    /* RoPE in the attention kernel (k_attn_dec's RIN, one token, one split): the token's k and v
     * rows before RoPE (and QK-norm) and the cell it writes */
    const float *rk, *rv;
    const int32_t *rcell;
};

/* The end of a decode attention block. On entry (after a barrier): wm/wl [AD_W][MG] hold each
 * warp's running max (natural log units; -inf: the warp saw no visible cell) and sum per head,
 * wacc [AD_W][MG * HD] its unnormalized outputs; red (GB * HD floats of shared memory) is free.
 * Combines the warps: M = max m_w, L = sum l_w e^(m_w - M), o = sum acc_w e^(m_w - M). */
template <int HD, int MG>
__device__ void tn_cu_dec_finish(const tn_cu_dec_args &d, const tn_cu_attn &a, const float *wm, const float *wl,
                                 const float *wacc, float *red, int h0, int split, int t) {
    __shared__ float m_s[MG], l_s[MG];
    __shared__ int last_s;
    const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31, GB = d.GB, n_split = d.n_split;
    if (tid < GB) {
        float M = -INFINITY, L = 0.0f;
        for (int w = 0; w < AD_W; w++) M = fmaxf(M, wm[w * MG + tid]);
        for (int w = 0; w < AD_W; w++)
            if (wm[w * MG + tid] != -INFINITY) L += wl[w * MG + tid] * expf(wm[w * MG + tid] - M);
        m_s[tid] = M;
        l_s[tid] = L;
    }
    for (int idx = tid; idx < GB * HD; idx += AD_T) {
        const int g = idx / HD;
        float M = -INFINITY, o = 0.0f;
        for (int w = 0; w < AD_W; w++) M = fmaxf(M, wm[w * MG + g]);
        for (int w = 0; w < AD_W; w++)
            if (wm[w * MG + g] != -INFINITY) o += wacc[w * MG * HD + idx] * expf(wm[w * MG + g] - M);
        red[idx] = o;
    }
    __syncthreads();
    const int64_t obase = ((int64_t)t * a.n_head + h0) * HD;
    if (n_split > 1) {
        const int64_t n_slots = (int64_t)gridDim.z * a.n_head * n_split;
        float *acc_part = d.part + ((2 * n_slots + 3) & ~(int64_t)3); /* 16-byte aligned (float4 loads) */
        for (int g = 0; g < GB; g++) {
            const int64_t slot = ((int64_t)t * a.n_head + h0 + g) * n_split + split;
            if (tid == 0) {
                d.part[2 * slot] = m_s[g];
                d.part[2 * slot + 1] = l_s[g];
            }
            for (int i = tid; i < HD; i += AD_T) acc_part[slot * HD + i] = red[g * HD + i];
        }
        __threadfence();
        __syncthreads();
        if (tid == 0) {
            unsigned *ctr = d.cnt + (int64_t)t * gridDim.x + blockIdx.x;
            last_s = atomicAdd(ctr, 1u) == (unsigned)(n_split - 1);
            if (last_s) *ctr = 0; /* ready for the next launch (graph replay) */
        }
        __syncthreads();
        if (!last_s) return;
        __threadfence();
        /* merge: out[g][i] = sum_s acc_s[i] * w_s with w_s = e^(m_s - M) / sum_s' l_s' e^(m_s' - M).
         * The weights are computed once per head into shared memory. */
        __shared__ float w_sm[MG][TN_CU_MAX_SPLIT];
        for (int idx = tid; idx < GB * n_split; idx += AD_T) {
            const int g = idx / n_split, sp = idx % n_split;
            w_sm[g][sp] = __ldcg(d.part + 2 * (((int64_t)t * a.n_head + h0 + g) * n_split + sp));
        }
        __syncthreads();
        for (int g = warp; g < GB; g += AD_W) {
            const int64_t s0 = ((int64_t)t * a.n_head + h0 + g) * n_split;
            float M = -INFINITY;
            for (int sp = lane; sp < n_split; sp += 32) M = fmaxf(M, w_sm[g][sp]);
            for (int o = 16; o > 0; o >>= 1) M = fmaxf(M, __shfl_xor_sync(0xffffffffu, M, o));
            float L = 0.0f;
            for (int sp = lane; sp < n_split; sp += 32) {
                const float m = w_sm[g][sp];
                L += m == -INFINITY ? 0.0f : __ldcg(d.part + 2 * (s0 + sp) + 1) * expf(m - M);
            }
            TN_CU_WARP_SUM(L);
            const float inv = L > 0.0f ? 1.0f / L : 0.0f;
            __syncwarp();
            for (int sp = lane; sp < n_split; sp += 32) {
                const float m = w_sm[g][sp];
                w_sm[g][sp] = m == -INFINITY ? 0.0f : expf(m - M) * inv;
            }
        }
        __syncthreads();
        /* float4 columns, 16 loads in flight per thread */
        constexpr int V4 = HD / 4;
        for (int idx4 = tid; idx4 < GB * V4; idx4 += AD_T) {
            const int g = idx4 / V4, i4 = idx4 % V4;
            const float4 *src =
                (const float4 *)(acc_part + ((int64_t)t * a.n_head + h0 + g) * n_split * HD) + i4;
            float4 o = make_float4(0.f, 0.f, 0.f, 0.f);
            int sp = 0;
            for (; sp + 16 <= n_split; sp += 16) {
                float4 v[16];
#pragma unroll
                for (int k = 0; k < 16; k++) v[k] = __ldcg(src + (int64_t)(sp + k) * V4);
#pragma unroll
                for (int k = 0; k < 16; k++) {
                    const float w = w_sm[g][sp + k];
                    o.x += v[k].x * w, o.y += v[k].y * w, o.z += v[k].z * w, o.w += v[k].w * w;
                }
            }
            for (; sp < n_split; sp++) {
                const float4 v = __ldcg(src + (int64_t)sp * V4);
                const float w = w_sm[g][sp];
                o.x += v.x * w, o.y += v.y * w, o.z += v.z * w, o.w += v.w * w;
            }
            *(float4 *)(red + g * HD + i4 * 4) = o;
        }
    } else {
        for (int idx = tid; idx < GB * HD; idx += AD_T) {
            const float l = l_s[idx / HD];
            red[idx] = l > 0.0f ? red[idx] / l : 0.0f;
        }
    }
    __syncthreads();
    for (int idx = tid; idx < GB * HD; idx += AD_T) d.out[obase + idx] = red[idx];
    if (d.xq) /* one warp per 32-value item: tn_cu_quant_item's arithmetic */
        tn_cu_quant_items(red, GB * HD / 32, d.xq + obase, d.xm + obase / 32, warp, AD_W);
}

/* The tensor-core decode kernel (cuda_attn_tc.cu): f16 K and V, head size a multiple of 16 up
 * to 128 (256 only when forced: correct on the H200, test_cuda's head-256 check, but its speed
 * against the f32 kernel is not measured), at most 8 query heads per KV head. */
bool tn_cu_attn_tc_supported(const tn_cu_attn *a, bool forced);
void tn_cu_attn_dec_tc(tn_cu_exec *ex, const tn_cu_dec_args &d, const tn_cu_attn *a, int32_t n_tokens);
/* Blocks of that kernel the device holds at once (SMs x blocks per SM; 0 on error). */
int tn_cu_attn_tc_slots(const tn_cu_exec *ex, const tn_cu_attn *a);

#endif
