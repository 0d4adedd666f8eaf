/* One warp's part of the tensor-core decode attention, shared by the kernels on f16 caches
 * (cuda_attn_tc.cu) and on TurboQuant caches (cuda_turbo_tc.cu). Per tile of 16 cells, with
 * mma.m16n8k16 (f16 in, f32 accumulate):
 *   S^T = K Q^T   (16 cells x 8 heads; K from shared memory by ldmatrix, Q^T held in registers
 *                  as hi + lo f16 halves, so the scores keep f32 precision in q),
 *   online softmax per head on the accumulator fragments (log2 units: scale * log2 e in q),
 *   O^T += V^T P^T (HD dims x 8 heads; V by ldmatrix.trans, P^T from the score fragments by one
 *                  movmatrix.trans per 8 cells).
 * Lane (g, t4) = (lane / 4, lane % 4) holds cells g and g + 8 x heads 2 t4 and 2 t4 + 1 of the
 * scores and dims 16 mt + g (+8) x the same heads of O^T: the running max and sum of a head live
 * in the lanes that hold its outputs. */
#ifndef TN_CUDA_CUDA_TC_WARP_CUH
#define TN_CUDA_CUDA_TC_WARP_CUH

#include <math.h>

#include "cuda/cuda_mma.cuh"

/* TN_TC_QLO=0 (A/B build, not yet run on a GPU): Q^T as f16 only (qh), without the low halves
 * ql that keep the scores' f32 precision in q: half the score mma and 16 registers fewer, which
 * lets the TurboQuant kernel fit 5 blocks per SM with TN_TT_MINB=5 (96 registers, 24 bytes
 * spilled; 124 bytes with ql, which lost 6-8 %, 2026-12-03c record). llama.cpp's tensor-core
 * attention takes Q in f16 too; the added error (simulated for test_cuda_turbo's sharp case,
 * q x 4: 2.7e-4 .. 5.3e-4 relative) should stay within its 2e-3 bound next to the measured
 * 4.6e-4. */
#ifndef TN_TC_QLO
#define TN_TC_QLO 1
#endif

/* HD: head size (multiple of 16); LD: row stride (halves) of the K and V tiles in shared memory. */
template <int HD, int LD> struct tn_cu_tc_warp {
    static constexpr int KS = HD / 16; /* k-steps of S, m-tiles of O^T */
    uint32_t qh[KS][2], ql[TN_TC_QLO ? KS : 1][2];
    float o[KS][4];
    float m0, m1, l0, l1; /* heads 2 t4, 2 t4 + 1 (log2 units; l: this lane's cells only) */

    /* Q^T fragments of the GB (<= 8) heads in qs ([GB][HD] floats) times qscale; zero state. */
    __device__ __forceinline__ void begin(const float *qs, int GB, float qscale) {
        const int lane = threadIdx.x & 31, g = lane >> 2, t4 = lane & 3;
#pragma unroll
        for (int kk = 0; kk < KS; kk++)
#pragma unroll
            for (int j = 0; j < 2; j++) {
                float x0 = 0.0f, x1 = 0.0f;
                if (g < GB) {
                    const float2 v = *(const float2 *)(qs + g * HD + kk * 16 + 8 * j + 2 * t4);
                    x0 = v.x * qscale, x1 = v.y * qscale;
                }
                const __half2 hi = __floats2half2_rn(x0, x1);
                const float2 hf = __half22float2(hi);
                qh[kk][j] = *(const uint32_t *)&hi;
                if (TN_TC_QLO) ql[TN_TC_QLO ? kk : 0][j] = tn_cu_pack_h2(x0 - hf.x, x1 - hf.y);
            }
#pragma unroll
        for (int mt = 0; mt < KS; mt++) o[mt][0] = o[mt][1] = o[mt][2] = o[mt][3] = 0.0f;
        m0 = m1 = -INFINITY;
        l0 = l1 = 0.0f;
    }

    /* Bit c: cell c of the tile may be seen by the token (sequence seq, position pos): meta holds
     * the 16 cells' positions then their sequences; cells from n_in on are past the slice. */
    static __device__ __forceinline__ unsigned visible(const int *meta, int n_in, int seq, int pos) {
        const int lane = threadIdx.x & 31;
        bool vis = false;
        if (lane < 16 && lane < n_in) {
            const int cp = meta[lane];
            vis = meta[16 + lane] == seq && cp >= 0 && cp <= pos;
        }
        return __ballot_sync(0xffffffffu, vis);
    }

    /* S^T of the tile at kt (16 rows): s[0], s[1] cell g x heads 2 t4, 2 t4 + 1; s[2], s[3] cell g + 8.
     * Four independent accumulation chains (hi/lo x even/odd k-step) instead of one. */
    __device__ __forceinline__ void scores(const __half *kt, float s[4]) const {
        const int lane = threadIdx.x & 31;
        const __half *kp = kt + ((lane & 7) + ((lane >> 3) & 1) * 8) * LD + (lane >> 4) * 8;
        scores_from([&](int kk, uint32_t ka[4]) { tn_cu_ldsm_x4(ka, kp + kk * 16); }, s);
    }

    /* The same with K's A fragments from frag(kk, ka): k-step kk (dims 16 kk ..), ka[0] cell g x
     * dims 2 t4, 2 t4 + 1; ka[1] cell g + 8, same dims; ka[2], ka[3] the same cells, dims + 8. */
    template <class F> __device__ __forceinline__ void scores_from(F frag, float s[4]) const {
        float sa[4][4] = {};
#pragma unroll
        for (int kk = 0; kk < KS; kk++) {
            uint32_t ka[4];
            frag(kk, ka);
            tn_cu_mma16816(sa[kk & 1], ka, qh[kk][0], qh[kk][1]);
            if (TN_TC_QLO)
                tn_cu_mma16816(sa[2 + (kk & 1)], ka, ql[TN_TC_QLO ? kk : 0][0], ql[TN_TC_QLO ? kk : 0][1]);
        }
#pragma unroll
        for (int e = 0; e < 4; e++) s[e] = (sa[0][e] + sa[1][e]) + (sa[2][e] + sa[3][e]);
    }

    /* x: the tile's scores as from scores() in log2 units, -inf where a cell is not visible (some
     * cell is); vt: the tile's V rows. */
    __device__ __forceinline__ void accumulate(const float x[4], const __half *vt) { accumulate(x, vt, 1.0f, 1.0f); }

    /* The same with V's rows scaled by vs0 (cell g) and vs1 (cell g + 8) through the
     * probabilities that multiply them (the sums l keep the plain ones). */
    __device__ __forceinline__ void accumulate(const float x[4], const __half *vt, float vs0, float vs1) {
        float mx0 = fmaxf(x[0], x[2]), mx1 = fmaxf(x[1], x[3]);
#pragma unroll
        for (int off = 4; off < 32; off <<= 1) {
            mx0 = fmaxf(mx0, __shfl_xor_sync(0xffffffffu, mx0, off));
            mx1 = fmaxf(mx1, __shfl_xor_sync(0xffffffffu, mx1, off));
        }
        const float n0 = fmaxf(m0, mx0), n1 = fmaxf(m1, mx1); /* finite: a cell is visible */
        const float al0 = exp2f(m0 - n0), al1 = exp2f(m1 - n1);
        const float p0 = exp2f(x[0] - n0), p1 = exp2f(x[1] - n1), p2 = exp2f(x[2] - n0), p3 = exp2f(x[3] - n1);
        l0 = l0 * al0 + p0 + p2;
        l1 = l1 * al1 + p1 + p3;
        m0 = n0;
        m1 = n1;
        add_pv(p0 * vs0, p1 * vs0, p2 * vs1, p3 * vs1, vt, al0, al1);
    }

    /* O^T = O^T times al0, al1 per head + V^T P^T of the tile's probabilities (p0, p1 cell g,
     * p2, p3 cell g + 8, as the scores) and V rows vt. (Measured and removed: TN_TC_LAZY_MAX=8,
     * raising the running max only past a margin of 8 so that most tiles skip the max's shuffles,
     * the correction and this rescale: turbo3 tg64 +0.4 % / +0.3 %, f16 cache d32768 -0.4 %,
     * 2026-12-03d record; code in 734a195.) */
    __device__ __forceinline__ void add_pv(float p0, float p1, float p2, float p3, const __half *vt, float al0,
                                           float al1) {
        const int lane = threadIdx.x & 31;
        /* P^T as the B fragment (cells 2 t4 (+1, +8, +9) x head g) */
        const uint32_t pb0 = tn_cu_movmatrix_trans(tn_cu_pack_h2(p0, p1));
        const uint32_t pb1 = tn_cu_movmatrix_trans(tn_cu_pack_h2(p2, p3));
        const __half *vp = vt + ((lane & 7) + (lane >> 4) * 8) * LD + ((lane >> 3) & 1) * 8;
#pragma unroll
        for (int mt = 0; mt < KS; mt++) {
            o[mt][0] *= al0;
            o[mt][1] *= al1;
            o[mt][2] *= al0;
            o[mt][3] *= al1;
            uint32_t v4[4];
            tn_cu_ldsm_x4_trans(v4, vp + mt * 16);
            tn_cu_mma16816(o[mt], v4, pb0, pb1);
        }
    }

    /* The warp's state for the block's ending: heads < GB into wm[h], wl[h] (max in natural log
     * units, sum over the warp's cells) and wacc[h * HD + dim] (unnormalized output). */
    __device__ __forceinline__ void store(int GB, float *wm, float *wl, float *wacc) {
        const int lane = threadIdx.x & 31, g = lane >> 2, t4 = lane & 3;
#pragma unroll
        for (int off = 4; off < 32; off <<= 1) {
            l0 += __shfl_xor_sync(0xffffffffu, l0, off);
            l1 += __shfl_xor_sync(0xffffffffu, l1, off);
        }
        const int ha = 2 * t4, hb = 2 * t4 + 1;
        constexpr float LN2 = 0.6931471805599453f;
        if (g == 0) {
            if (ha < GB) wm[ha] = m0 * LN2, wl[ha] = l0;
            if (hb < GB) wm[hb] = m1 * LN2, wl[hb] = l1;
        }
#pragma unroll
        for (int mt = 0; mt < KS; mt++) {
            if (ha < GB) {
                wacc[ha * HD + mt * 16 + g] = o[mt][0];
                wacc[ha * HD + mt * 16 + g + 8] = o[mt][2];
            }
            if (hb < GB) {
                wacc[hb * HD + mt * 16 + g] = o[mt][1];
                wacc[hb * HD + mt * 16 + g + 8] = o[mt][3];
            }
        }
    }
};

#endif
