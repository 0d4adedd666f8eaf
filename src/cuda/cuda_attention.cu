/* Attention on the device: per-token q/k head norm + RoPE + K/V cache write, a split-KV
 * ("flash-decoding") kernel for small batches in f32 arithmetic, the choice between it, the
 * tensor-core decode kernel (cuda_attn_tc.cu) and the prefill kernel (cuda_attn_prefill.cu), and
 * the split count.
 *
 * Visibility is always decided per (token, cell) from the batch buffers: a token sees the cells
 * of its own sequence whose position is not after its own — the CPU backend's rule, so prefill
 * and decode compute the same function. Cells nobody may see are never read into a sum (their
 * contents may be stale or, in the poison test, NaN). */
#include <float.h>

#include "cuda/cuda_attn_decode.cuh"
#include "cuda/cuda_dec_state.cuh"

namespace {

/* One warp's head in shared memory b (its values loaded, ss: the lane's sum of their squares in
 * double): the head's RMSNorm with weights nw (none if NULL), then RoPE with the cos/sin table
 * cs/sn (n_rot/2 entries). k_rope_store and the attention kernel's RoPE prologue both use it, so
 * they agree bit for bit. */
__device__ __forceinline__ void norm_rope_head(const tn_cu_attn &a, float *b, const float *nw, double ss,
                                               const float *cs, const float *sn, int lane) {
    const int hd = a.head_dim, half = a.n_rot / 2;
    if (nw) {
        for (int o = 16; o > 0; o >>= 1) ss += __shfl_xor_sync(0xffffffffu, ss, o);
        const float sc = (float)(1.0 / sqrt(ss / hd + (double)a.norm_eps));
        for (int d = lane; d < hd; d += 32) b[d] = b[d] * sc * nw[d];
    }
    __syncwarp();
    for (int i = lane; i < half; i += 32) {
        const int i0 = a.rope_mode == TN_ROPE_NEOX ? i : 2 * i;
        const int i1 = a.rope_mode == TN_ROPE_NEOX ? i + half : 2 * i + 1;
        const float x0 = b[i0], x1 = b[i1];
        b[i0] = x0 * cs[i] - x1 * sn[i];
        b[i1] = x0 * sn[i] + x1 * cs[i];
    }
    __syncwarp();
}

/* ---- RoPE + cache store ----
 * grid (n_tokens, ceil((n_head + n_head_kv) / 4)), 128 threads: a warp per q or k head (QK-norm,
 * rotation); the warp of k head kh also stores k and v head kh into the cache cell. Every block
 * computes the token's cos/sin table (in double, as the CPU backend does). */
__global__ void __launch_bounds__(128) k_rope_store(float *q, float *k, const float *v,
                                                    const tn_cu_attn a, const int32_t *pos,
                                                    const int32_t *cell) {
    tn_cu_pdl_begin();
    __shared__ float cs[512], sn[512];
    __shared__ float hb[4][512];
    const int t = blockIdx.x, tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
    const int hd = a.head_dim, half = a.n_rot / 2;
    /* the cos/sin table (double-precision pow and sincos) while the previous kernel finishes: the
     * positions are uploaded before the step */
    for (int j = tid; j < half; j += blockDim.x) tn_cu_rope_cs(a, pos[t], j, &cs[j], &sn[j]);
    tn_cu_pdl_wait();
    const int h = blockIdx.y * 4 + warp;
    const bool act = h < a.n_head + a.n_head_kv, is_k = h >= a.n_head;
    float *ptr = !is_k ? q + ((int64_t)t * a.n_head + h) * hd : k + ((int64_t)t * a.n_head_kv + (h - a.n_head)) * hd;
    const float *nw = !is_k ? a.q_norm : a.k_norm;
    float *b = hb[warp];
    double ss = 0;
    float vv[8];
    const float *vr = v + (int64_t)t * a.n_embd_v + (int64_t)(h - a.n_head) * hd;
    if (act) {
        for (int d = lane; d < hd; d += 32) {
            const float x = ptr[d];
            b[d] = x;
            ss += (double)x * x;
        }
        if (is_k)
#pragma unroll
            for (int i = 0; i < 8; i++)
                if (lane + 32 * i < hd) vv[i] = vr[lane + 32 * i];
    }
    __syncthreads();
    if (!act) return;
    norm_rope_head(a, b, nw, ss, cs, sn, lane);
    for (int d = lane; d < hd; d += 32) ptr[d] = b[d];
    if (!is_k || a.turbo) return; /* a TurboQuant cache is written by tn_cu_turbo_store */
    const int kh = h - a.n_head;
    const int64_t c = cell[t];
    const int64_t ko = c * a.n_embd_k + (int64_t)kh * hd, vo = c * a.n_embd_v + (int64_t)kh * hd;
#pragma unroll
    for (int i = 0; i < 8; i++) {
        const int d = lane + 32 * i;
        if (d >= hd) break;
        tn_cu_cache_put(a.k, a.type_k, ko + d, b[d]);
        tn_cu_cache_put(a.v, a.type_v, vo + d, vv[i]);
    }
}



/* ---- split-KV decode attention ----
 * grid (n_head / GB, n_split, n_tokens), 128 threads. A block takes GB query heads of one KV
 * head (GQA: the K/V rows are read once for all of them) and one slice of the cells. Each warp
 * runs its own online softmax over tiles of 32 cells (tiles w, w + 4, ... of the slice), so the
 * cell loop has no block barrier: lane l scores cell c0 + l, then the warp accumulates the V rows
 * with lanes owning HD/32 consecutive dims (probabilities broadcast by shuffles). The four warps'
 * states are merged once at the end. Before waiting for the previous kernel (programmatic
 * dependent launch) every warp prefetches its first tile's K and V rows into L2. (Measured on an
 * H200, Llama-3-8B shape: at short depth the kernel is bound by each warp's instruction stream,
 * not by memory, hence one query head per block there; loading the first tile into registers
 * before the wait, or splitting K rows over two lanes, made long contexts 12-20% slower.)
 * With several splits, each block leaves (max, sum, unnormalized output) and the last block of a
 * head group to finish (atomic counter, reset by that block) merges them, so there is no second
 * launch. The block that writes a head group's final output can also quantize it (int8 items) for
 * the output projection's mat-vec. K and V element types (f16 or f32) are template parameters so
 * that no branch separates the loads. */

/* One cache row's 16-byte words and their values (8 f16 or 4 f32 per word). */
template <bool F32> struct kword {
    static constexpr int DIMS = F32 ? 4 : 8;
    static __device__ __forceinline__ void get(const uint4 &u, float *f) {
        const uint32_t w[4] = {u.x, u.y, u.z, u.w};
#pragma unroll
        for (int k = 0; k < 4; k++) {
            if (F32) {
                f[k] = __uint_as_float(w[k]);
            } else {
                const float2 x = __half22float2(*(const __half2 *)&w[k]);
                f[2 * k] = x.x, f[2 * k + 1] = x.y;
            }
        }
    }
};

/* A lane's HD/32 consecutive dims of one V row, kept as loaded (packed) until used. */
template <int HD, bool F32> struct vpart {
    static constexpr int DPL = HD / 32, BYTES = DPL * (F32 ? 4 : 2), NW = BYTES < 4 ? 1 : BYTES / 4;
    uint32_t w[NW];
    __device__ __forceinline__ void load(const void *cache, int64_t elem) {
        const uint8_t *p = (const uint8_t *)cache + elem * (F32 ? 4 : 2);
        if constexpr (BYTES == 2) {
            w[0] = *(const uint16_t *)p;
        } else if constexpr (BYTES == 4) {
            w[0] = *(const uint32_t *)p;
        } else if constexpr (BYTES == 8) {
            const uint2 u = *(const uint2 *)p;
            w[0] = u.x, w[1] = u.y;
        } else {
#pragma unroll
            for (int i = 0; i < NW / 4; i++) {
                const uint4 u = ((const uint4 *)p)[i];
                w[4 * i] = u.x, w[4 * i + 1] = u.y, w[4 * i + 2] = u.z, w[4 * i + 3] = u.w;
            }
        }
    }
    __device__ __forceinline__ void get(float *v) const {
        if constexpr (F32) {
#pragma unroll
            for (int i = 0; i < DPL; i++) v[i] = __uint_as_float(w[i]);
        } else if constexpr (DPL == 1) {
            v[0] = __half2float(__ushort_as_half((unsigned short)w[0]));
        } else {
#pragma unroll
            for (int i = 0; i < DPL / 2; i++) {
                const float2 f = __half22float2(*(const __half2 *)&w[i]);
                v[2 * i] = f.x, v[2 * i + 1] = f.y;
            }
        }
    }
};

using dec_args = tn_cu_dec_args;

/* RIN (one token, one split, one query head per block): k_rope_store's work done here instead of
 * in its own kernel: the block's q head gets its QK-norm and RoPE in shared memory, the KV head's
 * new k row (normed, rotated) and v row are made in shared memory in the cache's element type and
 * stand in for the cache rows of the token's cell, which the first block of the KV head's group
 * also stores (so the next steps find them there; this step no block reads that cell from the
 * cache). norm_rope_head and the same rounding make the result identical to k_rope_store's. */
template <int HD, bool KF32, bool VF32>
__device__ __forceinline__ void rope_in(const dec_args &d, const tn_cu_attn &a, float *qs, uint8_t *knew,
                                        uint8_t *vnew, int h0, int kvh, const float *cs, const float *sn, int t) {
    __shared__ float kb[HD];
    const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31, G = a.n_head / a.n_head_kv;
    const int64_t kro = (int64_t)t * a.n_embd_k + (int64_t)kvh * HD, vro = (int64_t)t * a.n_embd_v + (int64_t)kvh * HD;
    double ssk = 0;
    if (warp == 1)
        for (int i = lane; i < HD; i += 32) {
            const float x = d.rk[kro + i];
            kb[i] = x;
            ssk += (double)x * x;
        }
    __syncthreads(); /* qs (loaded by every thread), kb and the table (made before the wait) */
    if (warp == 0) {
        for (int g = 0; g < d.GB; g++) {
            double ss = 0;
            for (int i = lane; i < HD; i += 32) ss += (double)qs[g * HD + i] * qs[g * HD + i];
            norm_rope_head(a, qs + g * HD, a.q_norm, ss, cs, sn, lane);
        }
    } else if (warp == 1) {
        norm_rope_head(a, kb, a.k_norm, ssk, cs, sn, lane);
        const bool store = h0 % G == 0;
        const int64_t c = d.rcell[t];
        for (int i = lane; i < HD; i += 32) {
            const float v = d.rv[vro + i];
            if (KF32) ((float *)knew)[i] = kb[i];
            else ((__half *)knew)[i] = __float2half_rn(kb[i]);
            if (VF32) ((float *)vnew)[i] = v;
            else ((__half *)vnew)[i] = __float2half_rn(v);
            if (store) {
                tn_cu_cache_put(a.k, a.type_k, c * a.n_embd_k + (int64_t)kvh * HD + i, kb[i]);
                tn_cu_cache_put(a.v, a.type_v, c * a.n_embd_v + (int64_t)kvh * HD + i, v);
            }
        }
    }
}

/* LPC: lanes per cell (1, or 2: a tile is 16 cells and each of a cell's two lanes dots half of
 * the K row, so that at short depth all four warps have cells and each warp's chain of dependent
 * instructions is about half as long). 2 is the default for f16 caches, one query head per block
 * and RoPE done before the kernel (Llama-shaped models: tg128 +0.7..0.9 % on the H200,
 * 2026-12-02h record; TERN_CUDA_ATTN_LPC=1 turns it off); with RoPE in the kernel (QK-norm
 * models) it was 14 % slower on Qwen3-0.6B (same record, cause not profiled), so that keeps 1. */
template <int HD, bool KF32, bool VF32, int MG, bool RIN = false, int LPC = 1>
__global__ void __launch_bounds__(AD_T, 4) k_attn_dec(const dec_args d, const tn_cu_attn a) {
    tn_cu_pdl_begin();
    using KW_ = kword<KF32>;
    using VP = vpart<HD, VF32>;
    constexpr int DPL = HD / 32, TILE = 32 / LPC;
    /* K words and V rows per round of loads: a lane holds at most 128 bytes of each, so that the
     * kernel fits 128 registers (4 blocks, 16 warps per SM: other warps hide the latency) */
    constexpr int KWORDS = HD / KW_::DIMS / LPC, KC = KWORDS < 8 ? KWORDS : 8;
    constexpr int VB0 = VP::BYTES * 32 <= 128 ? 32 : 128 / VP::BYTES, VB = VB0 < TILE ? VB0 : TILE;
    __shared__ __align__(16) float qs[MG * HD];
    __shared__ __align__(16) float wacc[AD_W][MG * HD];
    __shared__ float wm[AD_W][MG], wl[AD_W][MG];
    const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31, GB = d.GB;
    const int h0 = blockIdx.x * GB, G = a.n_head / a.n_head_kv, kvh = h0 / G;
    const int split = blockIdx.y, t = blockIdx.z, n_split = d.n_split;
    /* the step's metadata is uploaded before the graph starts: safe to read before the wait */
    const int n_kv = d.meta[0];
    const int chunk = (n_kv + n_split - 1) / n_split;
    const int cb = split * chunk, ce = min(n_kv, cb + chunk);
    const int my_pos = d.tpos[t], my_seq = d.tseq[t];
    const int64_t kvoff = (int64_t)kvh * HD;
    {   /* the warp's first tile of K and V rows into L2 while the previous kernel finishes (a
         * prefetch, not a load: rows this step writes are read after the wait, from L2) */
        const int c = cb + TILE * warp + lane / LPC;
        if (c < ce) {
            const size_t ke = KF32 ? 4 : 2, ve = VF32 ? 4 : 2;
            const uint8_t *kr = (const uint8_t *)a.k + ((int64_t)c * a.n_embd_k + kvoff) * ke;
            const uint8_t *vr = (const uint8_t *)a.v + ((int64_t)c * a.n_embd_v + kvoff) * ve;
            for (size_t o = 0; o < HD * ke; o += 128) asm volatile("prefetch.global.L2 [%0];" ::"l"(kr + o));
            for (size_t o = 0; o < HD * ve; o += 128) asm volatile("prefetch.global.L2 [%0];" ::"l"(vr + o));
        }
    }
    /* RIN: the token's cos/sin table (double-precision pow and sincos) while the previous kernel
     * finishes; the position is uploaded before the step */
    __shared__ float rcs[RIN ? HD / 2 : 1], rsn[RIN ? HD / 2 : 1];
    if constexpr (RIN)
        for (int j = tid; j < a.n_rot / 2; j += AD_T) tn_cu_rope_cs(a, my_pos, j, &rcs[j], &rsn[j]);
    tn_cu_pdl_wait();
    const int64_t qoff = ((int64_t)t * a.n_head + h0) * HD;
    for (int i = tid; i < GB * HD; i += AD_T) qs[i] = d.q[qoff + i];
    int cur = -1; /* RIN: the token's cell, whose K and V rows come from knew / vnew */
    const uint8_t *knew = NULL, *vnew = NULL;
    if constexpr (RIN) {
        __shared__ __align__(16) uint8_t kn[HD * (KF32 ? 4 : 2)], vn[HD * (VF32 ? 4 : 2)];
        rope_in<HD, KF32, VF32>(d, a, qs, kn, vn, h0, kvh, rcs, rsn, t);
        cur = d.rcell[t];
        knew = kn;
        vnew = vn;
    }
    float rm[MG], rl[MG], acc[MG][DPL];
#pragma unroll
    for (int g = 0; g < MG; g++) {
        rm[g] = -INFINITY;
        rl[g] = 0.0f;
#pragma unroll
        for (int i = 0; i < DPL; i++) acc[g][i] = 0.0f;
    }
    __syncthreads();
    const int part = lane % LPC; /* which 1/LPC of the K row this lane dots */
    for (int c0 = cb + TILE * warp; c0 < ce; c0 += TILE * AD_W) {
        const int c = c0 + lane / LPC;
        const bool in = c < ce;
        /* metadata, the first K words and the first V rows, all in flight at once (the K row of
         * an invisible cell is loaded and ignored: its contents are never summed) */
        int cs = -1, cp = -1;
        uint4 kw[KC];
        const uint4 *krow = (const uint4 *)((const uint8_t *)a.k + ((int64_t)c * a.n_embd_k + kvoff) * (KF32 ? 4 : 2));
        if (RIN && c == cur) krow = (const uint4 *)knew;
        krow += part * KWORDS;
        if (in) {
            cs = d.cseq[c];
            cp = d.cpos[c];
#pragma unroll
            for (int i = 0; i < KC; i++) kw[i] = krow[i];
        }
        VP vr[VB];
#pragma unroll
        for (int j = 0; j < VB; j++) {
            if (c0 + j >= ce) continue;
            if (RIN && c0 + j == cur) vr[j].load(vnew, lane * DPL);
            else vr[j].load(a.v, (int64_t)(c0 + j) * a.n_embd_v + kvoff + lane * DPL);
        }
        float s[MG];
#pragma unroll
        for (int g = 0; g < MG; g++) s[g] = 0.0f;
#pragma unroll
        for (int ch = 0; ch < KWORDS / KC; ch++) {
            if (ch && in)
#pragma unroll
                for (int i = 0; i < KC; i++) kw[i] = krow[ch * KC + i];
#pragma unroll
            for (int i = 0; i < KC; i++) {
                float kf[KW_::DIMS];
                KW_::get(kw[i], kf);
                const int d0 = (part * KWORDS + ch * KC + i) * KW_::DIMS;
#pragma unroll
                for (int g = 0; g < MG; g++) {
                    if (g >= GB) break;
#pragma unroll
                    for (int e = 0; e < KW_::DIMS; e += 4) {
                        const float4 q4 = *(const float4 *)(qs + g * HD + d0 + e);
                        s[g] += q4.x * kf[e] + q4.y * kf[e + 1] + q4.z * kf[e + 2] + q4.w * kf[e + 3];
                    }
                }
            }
        }
        if constexpr (LPC == 2)
#pragma unroll
            for (int g = 0; g < MG; g++) s[g] += __shfl_xor_sync(0xffffffffu, s[g], 1);
        const bool vis = in && cs == my_seq && cp >= 0 && cp <= my_pos;
        const unsigned vmask = __ballot_sync(0xffffffffu, vis); /* cell j: bit LPC * j */
        if (!vmask) continue;
        float p[MG];
#pragma unroll
        for (int g = 0; g < MG; g++) {
            if (g >= GB) break;
            const float x = vis ? s[g] * a.scale : -INFINITY;
            float mx = x;
            for (int o = 16; o > 0; o >>= 1) mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, o));
            const float mn = fmaxf(rm[g], mx); /* finite: some lane is visible */
            const float al = expf(rm[g] - mn);
            p[g] = vis ? expf(x - mn) : 0.0f;
            float ps = part == 0 ? p[g] : 0.0f; /* each cell once */
            TN_CU_WARP_SUM(ps);
            rl[g] = rl[g] * al + ps;
            rm[g] = mn;
#pragma unroll
            for (int i = 0; i < DPL; i++) acc[g][i] *= al;
        }
#pragma unroll
        for (int j0 = 0; j0 < TILE; j0 += VB) {
            if (j0)
#pragma unroll
                for (int j = 0; j < VB; j++) {
                    if (c0 + j0 + j >= ce) continue;
                    if (RIN && c0 + j0 + j == cur) vr[j].load(vnew, lane * DPL);
                    else vr[j].load(a.v, (int64_t)(c0 + j0 + j) * a.n_embd_v + kvoff + lane * DPL);
                }
#pragma unroll
            for (int j = 0; j < VB; j++) {
                if (!((vmask >> (LPC * (j0 + j))) & 1u)) continue; /* warp-uniform */
                float v[DPL];
                vr[j].get(v);
                tn_cu_dec_add_v<MG, DPL>(GB, p, LPC * (j0 + j), v, acc);
            }
        }
    }
    /* the four warps' states, then the block's ending (tn_cu_dec_finish) */
    tn_cu_dec_warp_state<MG, HD, DPL>(GB, warp, lane, rm, rl, acc, wm, wl, wacc);
    __syncthreads();
    tn_cu_dec_finish<HD, MG>(d, a, &wm[0][0], &wl[0][0], &wacc[0][0], qs, h0, split, t);
}

/* f16 caches get per-thread arrays sized for the head group (MG = GB rounded up to 1, 2, 4, 8:
 * fewer registers, more resident warps); f32 caches (tests) one variant with MG = 8.
 * rin (RoPE in the kernel, tn_cu_attention_rope_in): one query head per block, f16 or f32 caches
 * of one type. */
template <int HD>
void launch_dec(tn_cu_exec *ex, dim3 grid, const dec_args &d, const tn_cu_attn *a, bool rin) {
    const bool kf = a->type_k == TN_TYPE_F32, vf = a->type_v == TN_TYPE_F32;
    const bool lpc2 = ex->attn_lpc == 2;
    if (rin) {
        if (a->type_k == TN_TYPE_F16 && a->type_v == TN_TYPE_F16)
            tn_cu_launch(ex, k_attn_dec<HD, false, false, 1, true>, grid, AD_T, 0, d, *a);
        else if (kf && vf)
            tn_cu_launch(ex, k_attn_dec<HD, true, true, AD_MAXG, true>, grid, AD_T, 0, d, *a);
        else
            tn_cu_fail(ex, "CUDA attention: RoPE in the decode kernel needs f16 or f32 K and V of one type");
    } else if (!kf && !vf) {
        if (d.GB == 1)
            tn_cu_launch(ex, lpc2 ? k_attn_dec<HD, false, false, 1, false, 2> : k_attn_dec<HD, false, false, 1>, grid,
                         AD_T, 0, d, *a);
        else if (d.GB == 2) tn_cu_launch(ex, k_attn_dec<HD, false, false, 2>, grid, AD_T, 0, d, *a);
        else if (d.GB <= 4) tn_cu_launch(ex, k_attn_dec<HD, false, false, 4>, grid, AD_T, 0, d, *a);
        else tn_cu_launch(ex, k_attn_dec<HD, false, false, AD_MAXG>, grid, AD_T, 0, d, *a);
    } else if (kf && vf) tn_cu_launch(ex, k_attn_dec<HD, true, true, AD_MAXG>, grid, AD_T, 0, d, *a);
    else if (kf) tn_cu_launch(ex, k_attn_dec<HD, true, false, AD_MAXG>, grid, AD_T, 0, d, *a);
    else tn_cu_launch(ex, k_attn_dec<HD, false, true, AD_MAXG>, grid, AD_T, 0, d, *a);
}

/* The f32 decode kernel for the layer's head size (tn_cu_attn_supported). */
void launch_dec_hd(tn_cu_exec *ex, dim3 grid, const dec_args &d, const tn_cu_attn *a, bool rin) {
    switch (a->head_dim) {
    case 32: launch_dec<32>(ex, grid, d, a, rin); break;
    case 64: launch_dec<64>(ex, grid, d, a, rin); break;
    case 128: launch_dec<128>(ex, grid, d, a, rin); break;
    default: launch_dec<256>(ex, grid, d, a, rin); break;
    }
}

/* Largest divisor of the GQA group size that fits the decode kernel's head slots. */
int dec_group(const tn_cu_attn *a) {
    const int G = a->n_head / a->n_head_kv;
    for (int gb = AD_MAXG; gb > 1; gb--)
        if (G % gb == 0) return gb;
    return 1;
}

} // namespace

void tn_cu_rope_store(tn_cu_exec *ex, float *q, float *k, const float *v, const tn_cu_attn *a,
                      int32_t n_tokens) {
    const dim3 grid((unsigned)n_tokens, (unsigned)((a->n_head + a->n_head_kv + 3) / 4));
    tn_cu_launch(ex, k_rope_store, grid, 128, 0, q, k, v, *a, ex->d_pos, ex->d_cell);
    tn_cu_check(ex, "rope_store");
}

bool tn_cu_attn_supported(const tn_cu_attn *a) {
    const int hd = a->head_dim;
    return hd == 32 || hd == 64 || hd == 128 || hd == 256;
}

size_t tn_cu_attn_scratch(const tn_cu_attn *a, int32_t n_tokens, int n_split) {
    if (n_split <= 1 || tn_cu_attn_use_prefill(a, n_tokens)) return 0;
    /* (max, sum) pairs, then the outputs from the next multiple of 4 floats (tn_cu_dec_finish) */
    return (size_t)n_tokens * (size_t)a->n_head * (size_t)n_split * (size_t)(a->head_dim + 2) + 3;
}

/* Resident blocks of the tensor-core decode kernel this layer runs on (f16: cuda_attn_tc.cu;
 * TurboQuant: cuda_turbo_tc.cu), 0 for none. The occupancy queries cost host time and ops are
 * recorded every step: the answer is kept for the last layer shape and token count asked (the
 * TurboQuant kernel applies to at most 8 tokens, so counts above 8 share one entry). */
static int tc_slots(tn_cu_exec *ex, const tn_cu_attn *a, int32_t n_tokens, bool tc) {
    if (!tc && !a->turbo) return 0;
    const int shape = (a->head_dim * 128 + a->type_k) * 128 + a->type_v; /* type ids < 128 */
    const int key = shape * 16 + (n_tokens < 9 ? n_tokens : 9);
    if (ex->tc_slots_key != key) {
        ex->tc_slots = tc ? tn_cu_attn_tc_slots(ex, a) : tn_cu_turbo_tc_slots(ex, a, n_tokens);
        ex->tc_slots_key = key;
    }
    return ex->tc_slots;
}

/* Caches up to one_split cells (256): the f32 kernel, one split, one query head per block (at short
 * depth that kernel is bound by each warp's instruction stream, which a head group multiplies,
 * and re-reading the few K/V rows per query head costs nothing). f16 caches of more than tc_from
 * cells: the tensor-core kernel with as many splits as fill the device once (measured on the
 * H200, Llama-3-8B shape, 2 blocks per SM: one wave of 256 blocks beat two or four waves of
 * shorter blocks by 4-16 % at depth 8192-32768 and half a wave by 7 %), the largest power of two
 * that fits, but no fewer than 256 cells per split; at depth 2048 it was as fast as the f32
 * kernel, below it was not measured. TurboQuant caches take the same one-wave rule for their
 * tensor-core kernel (H200, turbo3, d32768: as fast as 1024 cells per split, 2026-12-02d record),
 * with every resident block (slots / groups splits: 66 for 8 KV heads at 528 slots, not 64) and
 * splits doubling while one would hold more than 128 cells (not 256). Its slices are
 * warp-aligned (tt_chunk, cuda_turbo_tc.cu), so a warp's tiles are ceil(n_kv / (64 n_split)):
 * depth 8192 + 1 takes 2 per warp on 66 splits where 64 splits took 3 for the first warp of
 * each block. turbo3 tg64 Llama-3-8B Q4_K_M on an H200: d8192 380.2 / 388.3 -> 391.1 / 393.8,
 * d32768 311.0 / 314.1 -> 315.6 / 320.9 t/s; the same for the f16 kernel (33 splits) lost 1.6 %
 * at d32768 in three pairs (2026-12-03e record), so f16 keeps the powers of two. Others: the f32
 * kernel with about split_cells cells per split. Split counts double up to the most (a new graph
 * each time the count changes), at most max_split. */
void tn_cu_attn_plan(tn_cu_exec *ex, const tn_cu_attn *a, int32_t n_tokens, int *n_split, bool *tc) {
    *n_split = 1;
    *tc = false;
    if (tn_cu_attn_use_prefill(a, n_tokens)) return;
    *tc = ex->attn_tc && tn_cu_attn_tc_supported(a, ex->attn_tc == 2) &&
          (ex->attn_tc == 2 || ex->n_kv > (ex->tc_from > ex->one_split ? ex->tc_from : ex->one_split));
    if (ex->n_kv <= ex->one_split && !*tc) return;
    const int slots = tc_slots(ex, a, n_tokens, *tc);
    int cells = slots ? ex->tc_split_cells : ex->split_cells, most = ex->max_split;
    if (slots && !cells) {
        const int64_t groups = (int64_t)a->n_head_kv * n_tokens, wave = slots / groups;
        if (a->turbo) {
            most = wave < 1 ? 1 : wave < ex->max_split ? (int)wave : ex->max_split;
            cells = 128;
        } else {
            most = 1;
            while (most < ex->max_split && groups * most * 2 <= slots) most *= 2;
            cells = 256;
        }
    }
    while (*n_split < most && ex->n_kv > *n_split * cells)
        *n_split = *n_split * 2 < most ? *n_split * 2 : most;
}

bool tn_cu_attn_rope_in_ok(const tn_cu_exec *ex, const tn_cu_attn *a, int32_t n_tokens, int n_split, bool tc) {
    const bool f16 = a->type_k == TN_TYPE_F16 && a->type_v == TN_TYPE_F16;
    const bool f32 = a->type_k == TN_TYPE_F32 && a->type_v == TN_TYPE_F32;
    return ex->attn_rope && n_tokens == 1 && n_split == 1 && !tc && !a->turbo && (f16 || f32) &&
           tn_cu_attn_supported(a) && a->n_rot <= a->head_dim && !tn_cu_attn_use_prefill(a, n_tokens);
}

void tn_cu_attention_rope_in(tn_cu_exec *ex, float *out, const float *q, const float *k, const float *v,
                             const tn_cu_attn *a, int8_t *xq, tn_cu_xmeta *xm) {
    dec_args d = {out, q, 1, 1, ex->d_pos, ex->d_seq, ex->d_cpos, ex->d_cseq, ex->d_meta,
                  ex->part, ex->cnt, xq, xm, k, v, ex->d_cell};
    launch_dec_hd(ex, dim3((unsigned)a->n_head, 1, 1), d, a, true);
    tn_cu_check(ex, "attention (decode, RoPE in)");
}

void tn_cu_attention(tn_cu_exec *ex, float *out, const float *q, const tn_cu_attn *a,
                     int32_t n_tokens, int n_split, bool tc, int8_t *xq, tn_cu_xmeta *xm) {
    if (tn_cu_attn_use_prefill(a, n_tokens)) {
        tn_cu_attn_prefill(ex, out, q, a, n_tokens);
        if (xq) tn_cu_quantize(ex, out, n_tokens, (int64_t)a->n_head * a->head_dim, xq, xm);
        return;
    }
    const int GB = tc ? a->n_head / a->n_head_kv : n_split == 1 ? 1 : dec_group(a);
    dec_args d = {out, q, GB, n_split, ex->d_pos, ex->d_seq, ex->d_cpos, ex->d_cseq, ex->d_meta,
                  ex->part, ex->cnt, xq, xm, NULL, NULL, NULL};
    if (tc) {
        tn_cu_attn_dec_tc(ex, d, a, n_tokens);
        tn_cu_check(ex, "attention (decode, tensor cores)");
        return;
    }
    const dim3 grid((unsigned)(a->n_head / GB), (unsigned)n_split, (unsigned)n_tokens);
    launch_dec_hd(ex, grid, d, a, false);
    tn_cu_check(ex, "attention (decode)");
}
