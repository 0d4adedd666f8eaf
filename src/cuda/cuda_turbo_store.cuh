/* One head vector of a TurboQuant cache quantized by one warp (tq_store_kernel's work, without a
 * block barrier): for heads that are one rotation block (D a power of two, 32 .. 256). Lane l
 * holds elements l + 32 j, so that every double sum runs in the block kernel's order (each lane
 * sequentially over its elements, then tq_warp_sum) and every butterfly of the rotation is the
 * same float operation (strides below 32 through shuffles, the others within a lane): the bytes
 * equal tq_store_kernel's (test_cuda_turbo checks both against each other and the CPU). */
#ifndef TN_CUDA_CUDA_TURBO_STORE_CUH
#define TN_CUDA_CUDA_TURBO_STORE_CUH

#include "cuda/cuda_turbo_common.cuh"

/* Sum of a double over the warp (lanes combined pairwise, every lane gets the total). */
__device__ __forceinline__ double tq_warp_sum(double v) {
    for (int o = 16; o > 0; o >>= 1) v = __dadd_rn(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

/* Packs the d codes idx[] of one head into its bytes qd (kv_types.c's layout: 4-bit codes two per
 * byte; 2- and 3-bit codes' low two bits four per byte, then for 3 bits the high bits eight per
 * byte), threads i0, i0 + step, ... of the caller each writing their bytes. */
__device__ __forceinline__ void tq_pack_codes(const uint8_t *idx, uint8_t *qd, int d, int bits, int i0, int step) {
    if (bits == 4) {
        for (int b = i0; b < d / 2; b += step) qd[b] = (uint8_t)(idx[2 * b] | idx[2 * b + 1] << 4);
        return;
    }
    for (int b = i0; b < d / 4; b += step)
        qd[b] = (uint8_t)((idx[4 * b] & 3) | (idx[4 * b + 1] & 3) << 2 | (idx[4 * b + 2] & 3) << 4 |
                          (idx[4 * b + 3] & 3) << 6);
    if (bits == 3)
        for (int b = i0; b < d / 8; b += step) {
            uint8_t v = 0;
            for (int j = 0; j < 8; j++) v |= (uint8_t)(((idx[8 * b + j] >> 2) & 1) << j);
            qd[d / 4 + b] = v;
        }
}

/* Quantizes x[0 .. D) into head h of the cache row `row` (codes and fp16 norm; plain f16/f32
 * copy for a cache of bits 0). sidx: D bytes of shared memory private to the warp. */
template <int D>
__device__ void tq_store_head_warp(const float *x, const tq_cache &c, uint32_t seed, uint8_t *row, int h,
                                   uint8_t *sidx) {
    constexpr int E = D / 32;
    const int lane = threadIdx.x & 31;
    float y[E];
#pragma unroll
    for (int j = 0; j < E; j++) y[j] = x[lane + 32 * j];
    if (!c.bits) {
#pragma unroll
        for (int j = 0; j < E; j++) {
            if (c.is_f32) ((float *)row)[h * D + lane + 32 * j] = y[j];
            else ((__half *)row)[h * D + lane + 32 * j] = __float2half_rn(y[j]);
        }
        return;
    }
    double ss = 0;
#pragma unroll
    for (int j = 0; j < E; j++) ss = __dadd_rn(ss, __dmul_rn((double)y[j], (double)y[j]));
    const double len = sqrt(tq_warp_sum(ss));
    const bool skip = !(len > 0) || !isfinite(len);
    const float sc = (float)(sqrt((double)D) / len);
    tq_rotate_warp<D>(y, seed); /* the rotation (tq_rotate_smem, forward) */
    /* Lloyd-Max code, then three rounds of alternating least squares, stopping once t.c <= 0 */
    const tq_cb &cb = c.cb;
    int k[E];
    double cc = 0;
    float inv_a = 1.0f;
    for (int round = 0; round < 4 && !skip; round++) {
        double c2 = 0, ct = 0;
#pragma unroll
        for (int j = 0; j < E; j++) {
            const float t = __fmul_rn(y[j], sc), tt = round ? __fmul_rn(t, inv_a) : t;
            int q = 0;
            for (int m = 0; m < cb.n_b; m++) q += tt > cb.b[m];
            k[j] = q;
            c2 = __dadd_rn(c2, __dmul_rn((double)cb.c[q], (double)cb.c[q]));
            ct = __dadd_rn(ct, __dmul_rn((double)cb.c[q], (double)t));
        }
        cc = tq_warp_sum(c2);
        const double tc = tq_warp_sum(ct);
        inv_a = (float)(cc / tc);
        if (!(tc > 0)) break;
    }
#pragma unroll
    for (int j = 0; j < E; j++) sidx[lane + 32 * j] = (uint8_t)(skip ? 1 << (c.bits - 1) : k[j]);
    __syncwarp();
    tq_pack_codes(sidx, row + (size_t)h * c.head_bytes, D, c.bits, lane, 32);
    if (lane == 0) {
        const float nrm = skip ? (float)len : (float)(len * sqrt((double)D / cc));
        ((__half *)(row + c.norm_off))[h] = __float2half_rn(nrm);
    }
    __syncwarp(); /* sidx may be reused */
}

#endif
