/* The f32 split-KV decode kernels' warps (cuda_attention.cu: f16/f32 caches; cuda_turbo_decode.cu:
 * TurboQuant) accumulate V rows and end the same way: each warp's online-softmax state goes to
 * shared memory for the block's merge (tn_cu_dec_finish / td_finish). */
#ifndef TN_CUDA_CUDA_DEC_STATE_CUH
#define TN_CUDA_CUDA_DEC_STATE_CUH

/* Heads g < GB: lane 0 writes the warp's running max rm[g] and sum rl[g]; every lane its DPL
 * consecutive output dims acc[g][...] (dims lane * DPL ..) of the HD-dim head. */
template <int MG, int HD, int DPL>
__device__ __forceinline__ void tn_cu_dec_warp_state(int GB, int warp, int lane, const float *rm, const float *rl,
                                                     const float (*acc)[DPL], float (*wm)[MG], float (*wl)[MG],
                                                     float (*wacc)[MG * HD]) {
#pragma unroll
    for (int g = 0; g < MG; g++) {
        if (g >= GB) break;
        if (lane == 0) {
            wm[warp][g] = rm[g];
            wl[warp][g] = rl[g];
        }
#pragma unroll
        for (int i = 0; i < DPL; i++) wacc[warp][g * HD + lane * DPL + i] = acc[g][i];
    }
}

/* A V row's DPL dims (this lane's) into the heads' accumulators, weighted by the probability of
 * cell j of the tile, which lane j holds in p[g]. */
template <int MG, int DPL>
__device__ __forceinline__ void tn_cu_dec_add_v(int GB, const float (&p)[MG], int j, const float (&v)[DPL],
                                                float (&acc)[MG][DPL]) {
#pragma unroll
    for (int g = 0; g < MG; g++) {
        if (g >= GB) break;
        const float pg = __shfl_sync(0xffffffffu, p[g], j);
#pragma unroll
        for (int i = 0; i < DPL; i++) acc[g][i] += pg * v[i];
    }
}

#endif
