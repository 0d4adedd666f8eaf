/* Mat-vec kernels for decode and small batches (n_rows <= 8 activation rows): out = W x.
 *
 * Memory-bound by design: each weight byte is read once. A warp owns RW = 2 output rows; lane l
 * takes items l, l+32, ... of both rows (16-byte loads, consecutive lanes on consecutive items, so
 * each warp load is one contiguous 512-byte span), U = 4 items per lane are loaded before any is
 * used so that many bytes are in flight. Quantized weights are dotted with int8 activations via
 * dp4a (cuda_quant.cuh); F16/BF16/F32 weights with the float activations. An item's scales and
 * high bits (B and S) are loaded with its A words, before any arithmetic: loaded inside the dot
 * product they were a second memory round trip per batch (Llama-3-8B Q4_0 decode 412 -> 499 t/s
 * on an H200 when they moved).
 *
 * One launch serves up to three weights that share the input (q/k/v), and epilogues fuse the op
 * that follows: gate/up + SwiGLU (a warp computes the gate row and the up row of one output), a
 * residual add (res += out), and in decode the RoPE + K/V cache store of q/k/v (one kernel less
 * per layer) and, after a residual add, the next RMSNorm's int8 items (tn_cu_mv_io: the norm's
 * kernel goes; the next mat-vecs apply its scale). In decode, a block first copies the int8
 * activations into shared memory. */
#include "cuda/cuda_common.cuh"

namespace {

constexpr int MV_WARPS = 4, MV_RW = 2, MV_U = 4;
/* warps per block of the mat-vecs that quantize their output (tn_cu_mv_io): 32 rows per block */
constexpr int MV_QWARPS = 32 / MV_RW;
/* Blocks per SM the quantized mat-vec is compiled for: a register cap of 65536 / (128 * 5) = 102
 * per thread, or 128 for Q8_0, whose 32-byte items need twice the registers per batch. With every
 * load of a batch in registers the K-quant kernels otherwise take up to 158 registers and run 3
 * blocks per SM. Measured on an H200 (bench/results/2026-12-02b-cuda-h200.md), tg128 Llama-3-8B:
 * Q4_K_M 413 (uncapped) -> 467 (5 blocks); Q8_0 329 (5 blocks, spilling) -> 376 (4 blocks);
 * 6 blocks (85 registers) was slower for every type on those kernels, and again for Q4_0 on
 * Llama-3-8B / Llama-2-7B (-3.7 % / -2.4..-4.1 %, 2026-12-02h record). Rows shorter than one
 * batch (the ONE instances, loaded whole before the PDL wait) are another matter: at 6 blocks
 * Qwen3-0.6B Q4_0, all of whose rows are short, ran +2.8..3.6 % (same record; 78 registers, no
 * spills); every type's ONE instances at 6 gained nothing on Qwen3-0.6B Q4_K_M (Q4_K and Q6_K
 * spill). TN_MV_ONE_BLOCKS=N builds every type's ONE instances for N blocks (A/B variants); by
 * default Q4_0's take 6 and the others their type's cap. */
#ifndef TN_MV_ONE_BLOCKS
#define TN_MV_ONE_BLOCKS 0
#endif
/* (Measured and removed: a 6-block instance for the staged Q4_0 launches that fit in one wave
 * at 6 blocks per SM but not at 5, such as Llama-3-8B's q/k/v, 768 blocks: tg128 -2 % on the
 * H200, 2026-12-03 record; the code is in a30ed98.) */
template <int T, bool ONE> constexpr int mv_min_blocks() {
    return tn_cu_qt<T>::QA == 32         ? 4
           : ONE && TN_MV_ONE_BLOCKS     ? TN_MV_ONE_BLOCKS
           : ONE && T == TN_TYPE_Q4_0    ? 6
                                         : 5;
}

struct mv_args {
    const uint8_t *a[3], *b[3], *s[3];
    const float *bias[3];
    float *out[3], *res[3];
    int64_t n_out[3], row_end[3];
    int n_seg, swiglu, n_rows;
    int64_t n_in, n_items;
    int64_t a_row, b_row, s_row;
    const float *x;
    tn_cu_mv_io io; /* the int8 activations (io.xq, io.xm), in_ss, the output quantization */
    /* RoPE + cache store epilogue: role per segment (TN_CU_ROPE_*), layer, token position, cell */
    int rope[3];
    tn_cu_attn at;
    const int32_t *pos, *cell;
};

/* Which segment and local row each of the warp's rows is; invalid rows are clamped to row 0 of
 * segment 0 (read but never written). */
__device__ __forceinline__ void row_map(const mv_args &p, int64_t wid, int seg[MV_RW],
                                        int64_t loc[MV_RW], bool ok[MV_RW]) {
    if (p.swiglu) {
        const bool v = wid < p.n_out[0];
        for (int j = 0; j < MV_RW; j++) {
            seg[j] = v ? j : 0;
            loc[j] = v ? wid : 0;
            ok[j] = v;
        }
        return;
    }
    for (int j = 0; j < MV_RW; j++) {
        int64_t r = wid * MV_RW + j;
        int sg = r < p.row_end[0] ? 0 : (r < p.row_end[1] ? 1 : 2);
        ok[j] = sg < p.n_seg && r < p.row_end[p.n_seg - 1];
        seg[j] = ok[j] ? sg : 0;
        loc[j] = ok[j] ? r - (sg ? p.row_end[sg - 1] : 0) : 0;
    }
}

/* Everything item `it` of a row needs (A words and the B/S meta words), so that a batch's loads
 * are all issued before any of its arithmetic waits on one. */
template <int T>
__device__ __forceinline__ void load_item(const uint8_t *A, const uint8_t *B, const uint8_t *S, int64_t it,
                                          uint32_t *a, uint32_t *m) {
    using Q = tn_cu_qt<T>;
    tn_cu_load_a<Q::QA>(A + it * Q::QA, a);
    Q::meta(B + it * Q::QB, S + (it / Q::IPS) * Q::QS, (int)(it % Q::IPS), m);
}

__device__ __forceinline__ void load_x(const int8_t *p, int x[8]) {
    int4 v = __ldg((const int4 *)p), w = __ldg((const int4 *)p + 1);
    x[0] = v.x, x[1] = v.y, x[2] = v.z, x[3] = v.w;
    x[4] = w.x, x[5] = w.y, x[6] = w.z, x[7] = w.w;
}

/* From shared memory (generic loads) or global memory (read-only path). */
template <bool SHARED> __device__ __forceinline__ void load_xg(const int8_t *p, int x[8]) {
    if (!SHARED) {
        load_x(p, x);
        return;
    }
    const int4 v = *(const int4 *)p, w = *((const int4 *)p + 1);
    x[0] = v.x, x[1] = v.y, x[2] = v.z, x[3] = v.w;
    x[4] = w.x, x[5] = w.y, x[6] = w.z, x[7] = w.w;
}

/* The cos and sin the RoPE epilogue rotates the warp's pair of rows by (1, 0: none; from
 * tn_cu_rope_cs), into the warp's slot of shared memory (not a register held through the loop).
 * Lane 0 computes it before the kernel waits for its predecessor (the token's position is
 * uploaded before the step starts), so the angle's double-precision pow and sincos overlap the
 * weight loads instead of delaying the end of every warp. */
template <int NR>
__device__ __forceinline__ void rope_cs_early(const mv_args &p, const int seg[MV_RW], const int64_t loc[MV_RW],
                                              const bool ok[MV_RW], float2 *slot) {
    if (NR != 1 || (threadIdx.x & 31) != 0 || !ok[0] || !p.rope[seg[0]]) return;
    float2 r = make_float2(1.0f, 0.0f);
    const int d = (int)(loc[0] % p.at.head_dim);
    if (p.rope[seg[0]] != TN_CU_ROPE_V && d < p.at.n_rot) tn_cu_rope_cs(p.at, p.pos[0], d / 2, &r.x, &r.y);
    *slot = r;
}

/* k_rope_store's work for one decode token, on the warp's two rows (loc, loc + 1: an adjacent
 * RoPE pair of a q or k head, or two v values) with the same arithmetic (angles in double,
 * cs from rope_cs_early), so fused and separate launches agree bit for bit. */
__device__ __forceinline__ void rope_epilogue(const mv_args &p, int sg, int64_t loc, float v0, float v1,
                                              const float2 cs) {
    const tn_cu_attn &a = p.at;
    const int role = p.rope[sg];
    if (role != TN_CU_ROPE_V && (int)(loc % a.head_dim) < a.n_rot) {
        const float y0 = v0 * cs.x - v1 * cs.y, y1 = v0 * cs.y + v1 * cs.x;
        v0 = y0, v1 = y1;
    }
    p.out[sg][loc] = v0;
    p.out[sg][loc + 1] = v1;
    if (role == TN_CU_ROPE_Q || a.turbo) return; /* TurboQuant caches: the turbo store writes them */
    const bool k = role == TN_CU_ROPE_K;
    const int64_t o = (int64_t)p.cell[0] * (k ? a.n_embd_k : a.n_embd_v) + loc;
    tn_cu_cache_put(k ? a.k : a.v, k ? a.type_k : a.type_v, o, v0);
    tn_cu_cache_put(k ? a.k : a.v, k ? a.type_k : a.type_v, o + 1, v1);
}

/* tn_cu_mv_io's output quantization: launched with MV_QWARPS warps per block, a block makes 32
 * consecutive residual outputs, so after a block barrier (its writes visible to the block) warp 0
 * quantizes x*w (w: the next RMSNorm's weights) of the residual after the add
 * (tn_cu_warp_quant_item), and adds the residual's squares in double for that RMSNorm. (A first
 * version kept 4-warp blocks and let the last of the group's blocks quantize, found by a fenced atomic counter:
 * Llama-3-8B Q4_0 decode 509 -> 424 t/s on an H200, every block paying the fence and the atomic's
 * round trip before it could retire.) */
__device__ __forceinline__ void quantize_out(const mv_args &p) {
    const tn_cu_mv_io &io = p.io;
    __syncthreads();
    if (threadIdx.x >= 32) return;
    const int lane = threadIdx.x;
    const int64_t g = blockIdx.x, o = g * 32 + lane;
    const float v = __ldcg(p.res[0] + o);
    tn_cu_xmeta m;
    io.out_q[o] = tn_cu_warp_quant_item(v * io.out_nw[o], &m);
    double ss = (double)v * v;
    for (int k = 16; k > 0; k >>= 1) ss += __shfl_xor_sync(0xffffffffu, ss, k);
    if (lane == 0) {
        io.out_m[g] = m;
        io.out_ss[g] = ss;
    }
}

template <int NR>
__device__ __forceinline__ void write_out(const mv_args &p, float (&acc)[MV_RW][NR],
                                          const int seg[MV_RW], const int64_t loc[MV_RW],
                                          const bool ok[MV_RW], const float2 *cs) {
    for (int r = 0; r < NR && r < p.n_rows; r++) {
        if (p.swiglu) {
            const float g = acc[0][r], u = acc[1][r];
            p.out[0][r * p.n_out[0] + loc[0]] = g / (1.0f + expf(-g)) * u;
            p.out[1][r * p.n_out[1] + loc[1]] = u;
            continue;
        }
        if (NR == 1 && p.rope[seg[0]]) { /* one token; both rows valid, adjacent, in one segment */
            const int sg = seg[0];
            const float b0 = p.bias[sg] ? p.bias[sg][loc[0]] : 0.0f, b1 = p.bias[sg] ? p.bias[sg][loc[1]] : 0.0f;
            rope_epilogue(p, sg, loc[0], acc[0][0] + b0, acc[1][0] + b1, *cs);
            return;
        }
#pragma unroll
        for (int j = 0; j < MV_RW; j++) {
            if (!ok[j]) continue;
            const int sg = seg[j];
            const float v = acc[j][r] + (p.bias[sg] ? p.bias[sg][loc[j]] : 0.0f);
            const int64_t o = r * p.n_out[sg] + loc[j];
            p.out[sg][o] = v;
            if (p.res[sg]) p.res[sg][o] += v;
        }
    }
}

template <int NR, bool QUANT = false>
__device__ __forceinline__ void epilogue(const mv_args &p, float (&acc)[MV_RW][NR],
                                         const int seg[MV_RW], const int64_t loc[MV_RW],
                                         const bool ok[MV_RW], const float2 *cs) {
#pragma unroll
    for (int j = 0; j < MV_RW; j++)
#pragma unroll
        for (int r = 0; r < NR; r++)
            TN_CU_WARP_SUM(acc[j][r]);
    if ((threadIdx.x & 31) == 0 && ok[0]) write_out<NR>(p, acc, seg, loc, ok, cs);
    if constexpr (QUANT) quantize_out(p);
}

/* The RMSNorm scale of staged x*w items (tn_cu_mv_io in_ss): the sums of squares added in item
 * order by one warp (the same order in every block), then each item's d times the scale.
 * (Measured and removed: TN_MV_SCALE_LATE=1, every warp summing the squares itself and scaling
 * its dot products at the end, without this pass and its two barriers: tg128 on an H200
 * Llama-3-8B Q4_0 +1.4 %, Q4_K_M +0.6 %, Llama-2-7B Q4_0 +0.3 %, Qwen3-0.6B Q4_0 -1.0 %, 2 rounds,
 * 2026-12-03d record; code in 734a195.) */
__device__ __forceinline__ void norm_scale(const mv_args &p, tn_cu_xmeta *ms) {
    __shared__ float scale;
    if (threadIdx.x < 32) {
        double ss = 0;
        for (int64_t i = threadIdx.x; i < p.n_items; i += 32)
            ss += p.io.in_ss[i];
        for (int k = 16; k > 0; k >>= 1)
            ss += __shfl_xor_sync(0xffffffffu, ss, k);
        if (threadIdx.x == 0)
            scale = (float)(1.0 / sqrt(ss / (double)p.n_in + (double)p.io.in_eps));
    }
    __syncthreads();
    const float s = scale;
    for (int64_t i = threadIdx.x; i < p.n_items; i += blockDim.x)
        ms[i].d *= s;
    __syncthreads();
}

/* The block's copy of the int8 activations and their metadata in shared memory `sm` (STAGE),
 * with the RMSNorm scale applied if the items still need it (in_ss). */
__device__ __forceinline__ void stage_input(const mv_args &p, uint8_t *sm, const int8_t **xq,
                                            const tn_cu_xmeta **xm) {
    int4 *xs = (int4 *)sm;
    tn_cu_xmeta *ms = (tn_cu_xmeta *)(sm + p.n_in);
    for (int64_t i = threadIdx.x; i < p.n_in / 16; i += blockDim.x)
        xs[i] = __ldg((const int4 *)p.io.xq + i);
    for (int64_t i = threadIdx.x; i < p.n_items; i += blockDim.x) ms[i] = p.io.xm[i];
    __syncthreads();
    if (p.io.in_ss) norm_scale(p, ms);
    *xq = (const int8_t *)sm;
    *xm = ms;
}

/* One batch of a warp's loads: U items of each of its MV_RW rows (A words and meta words). */
template <int T, int U = MV_U> struct mv_batch {
    uint32_t a[U][MV_RW][tn_cu_qt<T>::QA / 4], m[U][MV_RW][tn_cu_qt<T>::NM];
};

/* Item `base + 32 u + lane` of each row; GUARD: only items below ie (the last batch of a row). */
template <int T, int U, bool GUARD>
__device__ __forceinline__ void load_batch(const uint8_t *const A[MV_RW], const uint8_t *const B[MV_RW],
                                           const uint8_t *const S[MV_RW], int64_t base, int64_t ie,
                                           int lane, mv_batch<T, U> &b) {
#pragma unroll
    for (int u = 0; u < U; u++) {
        const int64_t it = base + u * 32 + lane;
        if (GUARD && it >= ie) break;
#pragma unroll
        for (int j = 0; j < MV_RW; j++) load_item<T>(A[j], B[j], S[j], it, b.a[u][j], b.m[u][j]);
    }
}

template <int T, int U, int NR, bool STAGE, bool GUARD>
__device__ __forceinline__ void dot_batch(const mv_args &p, const int8_t *xq, const tn_cu_xmeta *xmp,
                                          int64_t base, int64_t ie, int lane, const mv_batch<T, U> &b,
                                          float (&acc)[MV_RW][NR]) {
#pragma unroll
    for (int u = 0; u < U; u++) {
        const int64_t it = base + u * 32 + lane;
        if (GUARD && it >= ie) break;
#pragma unroll
        for (int r = 0; r < NR; r++) {
            if (r >= p.n_rows) break;
            int xw[8];
            load_xg<STAGE>(xq + r * p.n_in + it * 32, xw);
            const tn_cu_xmeta xm = xmp[r * ie + it];
#pragma unroll
            for (int j = 0; j < MV_RW; j++) acc[j][r] += tn_cu_qt<T>::dotm(b.a[u][j], b.m[u][j], xw, xm);
        }
    }
}

/* STAGE (decode, one activation row): the block first copies the int8 activations and their
 * metadata into shared memory, while its first weights are in flight, so the dot products read
 * them from there instead of making a round trip to L2 per batch. ONE: rows of less than one
 * batch (32 * MV_U items), all loaded before the wait for the previous kernel, as the first
 * batch of longer rows is (before, such rows loaded nothing before the wait: Qwen3-0.6B, whose
 * every mat-vec but the output head has 1024-, 2048- or 3072-wide rows, tg128 on an H200 Q4_0
 * 1142 -> 1323 t/s, Q4_K_M 1074 -> 1204, 2026-12-02g record); a separate instance, because the
 * main loop's kernels spill more when that load is in them. */
template <int T, int NR, bool STAGE, int WARPS = MV_WARPS, bool ONE = false>
__global__ void __launch_bounds__(WARPS * 32, WARPS == MV_WARPS ? mv_min_blocks<T, ONE>() : 1)
    k_mv_q(const mv_args p) {
    extern __shared__ __align__(16) uint8_t mv_smem[];
    const int lane = threadIdx.x & 31;
    const int64_t wid = (int64_t)blockIdx.x * WARPS + (threadIdx.x >> 5);
    int seg[MV_RW];
    int64_t loc[MV_RW];
    bool ok[MV_RW];
    row_map(p, wid, seg, loc, ok);
    const uint8_t *A[MV_RW], *B[MV_RW], *S[MV_RW];
#pragma unroll
    for (int j = 0; j < MV_RW; j++) {
        A[j] = p.a[seg[j]] + loc[j] * p.a_row;
        B[j] = p.b[seg[j]] + loc[j] * p.b_row;
        S[j] = p.s[seg[j]] + loc[j] * p.s_row;
    }
    float acc[MV_RW][NR];
#pragma unroll
    for (int j = 0; j < MV_RW; j++)
#pragma unroll
        for (int r = 0; r < NR; r++) acc[j][r] = 0.0f;
    const int64_t ie = p.n_items;
    int64_t base = 0;
    /* The first batch of weights is requested before waiting for the previous kernel (see
     * tn_cu_pdl_wait). (Measured on an H200 with 5 blocks per SM: software-pipelining the next
     * batch, which needs twice the registers, and L1 prefetches of scales and activations both
     * made decode 30% slower; the 16-warp kernel with the next batch's loads issued before the
     * current batch's dot products was 5 % slower, 2026-12-02f record.) */
    tn_cu_pdl_begin();
    mv_batch<T> cur;
    if (ONE) load_batch<T, MV_U, true>(A, B, S, 0, ie, lane, cur); /* the whole row */
    else if (32 * MV_U <= ie) load_batch<T, MV_U, false>(A, B, S, 0, ie, lane, cur);
    __shared__ float2 rope_cs[WARPS];
    rope_cs_early<NR>(p, seg, loc, ok, &rope_cs[threadIdx.x >> 5]);
    tn_cu_pdl_wait();
    const int8_t *xq = p.io.xq;
    const tn_cu_xmeta *xmp = p.io.xm;
    if (STAGE) stage_input(p, mv_smem, &xq, &xmp);
    if constexpr (ONE) {
        dot_batch<T, MV_U, NR, STAGE, true>(p, xq, xmp, 0, ie, lane, cur, acc);
    } else {
        for (; base + 32 * MV_U <= ie; base += 32 * MV_U) {
            if (base) load_batch<T, MV_U, false>(A, B, S, base, ie, lane, cur);
            dot_batch<T, MV_U, NR, STAGE, false>(p, xq, xmp, base, ie, lane, cur, acc);
        }
        if (base < ie) { /* the last < 32 * MV_U items: all loads first, then the dots */
            mv_batch<T> tail;
            load_batch<T, MV_U, true>(A, B, S, base, ie, lane, tail);
            dot_batch<T, MV_U, NR, STAGE, true>(p, xq, xmp, base, ie, lane, tail, acc);
        }
    }
    epilogue<NR, NR == 1 && WARPS == MV_QWARPS>(p, acc, seg, loc, ok, &rope_cs[threadIdx.x >> 5]);
}

/* 8 weights of a float type as raw 16-byte words (two for F32), converted when used. */
template <int T> struct w8 {
    uint4 v[T == TN_TYPE_F32 ? 2 : 1];
};

template <int T> __device__ __forceinline__ void load_w8(const uint8_t *p, w8<T> &w) {
    w.v[0] = __ldg((const uint4 *)p);
    if (T == TN_TYPE_F32) w.v[T == TN_TYPE_F32 ? 1 : 0] = __ldg((const uint4 *)p + 1);
}

template <int T> __device__ __forceinline__ void to_f8(const w8<T> &r, float w[8]) {
    if (T == TN_TYPE_F32) {
#pragma unroll
        for (int k = 0; k < 8; k++) {
            const uint4 &v = r.v[k / 4];
            const uint32_t b = (k & 3) == 0 ? v.x : (k & 3) == 1 ? v.y : (k & 3) == 2 ? v.z : v.w;
            w[k] = __uint_as_float(b);
        }
    } else {
        const uint32_t q[4] = {r.v[0].x, r.v[0].y, r.v[0].z, r.v[0].w};
#pragma unroll
        for (int k = 0; k < 4; k++) {
            if (T == TN_TYPE_F16) {
                float2 f = __half22float2(*(const __half2 *)&q[k]);
                w[2 * k] = f.x, w[2 * k + 1] = f.y;
            } else {
                w[2 * k] = __uint_as_float(q[k] << 16);
                w[2 * k + 1] = __uint_as_float(q[k] & 0xFFFF0000u);
            }
        }
    }
}

template <int T, int NR>
__device__ __forceinline__ void dot_f8(const mv_args &p, const w8<T> (&wr)[MV_RW], int64_t c, float (&acc)[MV_RW][NR]) {
    float w[MV_RW][8];
#pragma unroll
    for (int j = 0; j < MV_RW; j++) to_f8<T>(wr[j], w[j]);
#pragma unroll
    for (int r = 0; r < NR; r++) {
        if (r >= p.n_rows) break;
        const float4 x0 = __ldg((const float4 *)(p.x + r * p.n_in + c * 8));
        const float4 x1 = __ldg((const float4 *)(p.x + r * p.n_in + c * 8) + 1);
#pragma unroll
        for (int j = 0; j < MV_RW; j++)
            acc[j][r] += w[j][0] * x0.x + w[j][1] * x0.y + w[j][2] * x0.z + w[j][3] * x0.w + w[j][4] * x1.x +
                         w[j][5] * x1.y + w[j][6] * x1.z + w[j][7] * x1.w;
    }
}

/* Float weights: the loop of k_mv_q on 16-byte chunks of 8 elements. */
template <int T, int NR> __global__ void __launch_bounds__(128) k_mv_f(const mv_args p) {
    constexpr int ES = T == TN_TYPE_F32 ? 4 : 2; /* bytes per element */
    const int lane = threadIdx.x & 31;
    const int64_t wid = (int64_t)blockIdx.x * MV_WARPS + (threadIdx.x >> 5);
    int seg[MV_RW];
    int64_t loc[MV_RW];
    bool ok[MV_RW];
    row_map(p, wid, seg, loc, ok);
    const uint8_t *A[MV_RW];
#pragma unroll
    for (int j = 0; j < MV_RW; j++) A[j] = p.a[seg[j]] + loc[j] * p.a_row;
    float acc[MV_RW][NR];
#pragma unroll
    for (int j = 0; j < MV_RW; j++)
#pragma unroll
        for (int r = 0; r < NR; r++) acc[j][r] = 0.0f;
    const int64_t n_ch = p.n_in / 8;
    int64_t base = 0;
    tn_cu_pdl_begin();
    w8<T> wv[MV_U][MV_RW];
    if (32 * MV_U <= n_ch)
#pragma unroll
        for (int u = 0; u < MV_U; u++)
#pragma unroll
            for (int j = 0; j < MV_RW; j++) load_w8<T>(A[j] + (u * 32 + lane) * 8 * ES, wv[u][j]);
    __shared__ float2 rope_cs[MV_WARPS];
    rope_cs_early<NR>(p, seg, loc, ok, &rope_cs[threadIdx.x >> 5]);
    tn_cu_pdl_wait();
    for (; base + 32 * MV_U <= n_ch; base += 32 * MV_U) {
        if (base)
#pragma unroll
            for (int u = 0; u < MV_U; u++)
#pragma unroll
                for (int j = 0; j < MV_RW; j++) load_w8<T>(A[j] + (base + u * 32 + lane) * 8 * ES, wv[u][j]);
#pragma unroll
        for (int u = 0; u < MV_U; u++) dot_f8<T, NR>(p, wv[u], base + u * 32 + lane, acc);
    }
    if (base < n_ch) { /* the last < 32 * MV_U chunks: all loads first */
        w8<T> wt[MV_U][MV_RW];
#pragma unroll
        for (int u = 0; u < MV_U; u++) {
            const int64_t c = base + u * 32 + lane;
            if (c >= n_ch) break;
#pragma unroll
            for (int j = 0; j < MV_RW; j++) load_w8<T>(A[j] + c * 8 * ES, wt[u][j]);
        }
#pragma unroll
        for (int u = 0; u < MV_U; u++) {
            const int64_t c = base + u * 32 + lane;
            if (c >= n_ch) break;
            dot_f8<T, NR>(p, wt[u], c, acc);
        }
    }
    epilogue<NR>(p, acc, seg, loc, ok, &rope_cs[threadIdx.x >> 5]);
}

} // namespace

bool tn_cu_matvec_ropes(const tn_cu_exec *ex, const tn_cu_attn *a, int64_t n_rows) {
    return ex->fuse_rope && n_rows == 1 && !a->q_norm && !a->k_norm && a->rope_mode == TN_ROPE_NORM &&
           a->head_dim % 2 == 0 && a->n_rot % 2 == 0 &&
           (a->turbo ? ex->turbo_fuse
                     : (a->type_k == TN_TYPE_F16 || a->type_k == TN_TYPE_F32) &&
                           (a->type_v == TN_TYPE_F16 || a->type_v == TN_TYPE_F32));
}

/* activations staged in shared memory: int8 items + their metadata (< 48 KB) */
static size_t stage_bytes(int64_t n_in) {
    return (size_t)n_in + (size_t)(n_in / 32) * sizeof(tn_cu_xmeta);
}

bool tn_cu_matvec_stages(const tn_cu_exec *ex, int64_t n_in) {
    return ex->mv_stage && n_in % 32 == 0 && stage_bytes(n_in) <= 40 * 1024;
}

void tn_cu_matvec(tn_cu_exec *ex, const tn_cu_mv_seg *seg, int n_seg, bool swiglu, const float *x,
                  const tn_cu_mv_io *io, int n_rows, const tn_cu_attn *at) {
    mv_args p;
    memset(&p, 0, sizeof p);
    const tn_cu_weight *w0 = seg[0].w;
    int64_t rows = 0;
    for (int i = 0; i < n_seg; i++) {
        const tn_cu_weight *w = seg[i].w;
        p.a[i] = w->raw ? (const uint8_t *)w->raw : w->a;
        p.b[i] = w->b;
        p.s[i] = w->s;
        p.bias[i] = seg[i].bias;
        p.out[i] = seg[i].out;
        p.res[i] = seg[i].res;
        p.n_out[i] = w->n_out;
        p.rope[i] = seg[i].rope;
        if (seg[i].rope && (!at || n_rows != 1 || swiglu || seg[i].res || w->n_out % 2 || rows % 2)) {
            tn_cu_fail(ex, "CUDA matvec: RoPE epilogue on rows it cannot take");
            return;
        }
        rows += w->n_out;
        p.row_end[i] = rows;
    }
    for (int i = n_seg; i < 3; i++) p.row_end[i] = rows;
    p.n_seg = n_seg;
    p.swiglu = swiglu;
    p.n_rows = n_rows;
    p.n_in = w0->n_in;
    p.n_items = w0->n_in / 32;
    p.a_row = (int64_t)w0->a_row;
    p.b_row = (int64_t)w0->b_row;
    p.s_row = (int64_t)w0->s_row;
    static const tn_cu_mv_io none = {};
    p.io = io ? *io : none;
    p.x = x;
    if (at) {
        p.at = *at;
        p.pos = ex->d_pos;
        p.cell = ex->d_cell;
    }
    const int64_t warps = swiglu ? w0->n_out : (rows + MV_RW - 1) / MV_RW;
    /* (Splitting long rows over 4 warps was measured slower on an H200: each block then stages
     * the whole activation row for only 2 output rows.) */
    const unsigned blocks = (unsigned)((warps + MV_WARPS - 1) / MV_WARPS);
    const bool one = n_rows == 1;
    const bool stage = one && p.io.xq && tn_cu_matvec_stages(ex, p.n_in);
    if (p.io.in_ss && !stage) {
        tn_cu_fail(ex, "CUDA matvec: RMSNorm scale on a launch that does not stage its input");
        return;
    }
    const bool quant_out = p.io.out_q != NULL;
    if (quant_out && (!stage || swiglu || n_seg != 1 || !seg[0].res || seg[0].rope ||
                      w0->n_out % 32 || tn_cu_is_float(w0->type) || !p.io.out_nw || !p.io.out_ss)) {
        tn_cu_fail(ex, "CUDA matvec: output quantization on a launch it cannot take");
        return;
    }
    switch (w0->type) {
#define TN_CU_MV_CASE(T, K)                                                                        \
    case T:                                                                                        \
        if (one) tn_cu_launch(ex, K<T, 1>, blocks, 128, 0, p);                                     \
        else tn_cu_launch(ex, K<T, TN_CU_MAX_NR>, blocks, 128, 0, p);                              \
        break;
#define TN_CU_MVQ_CASE(T)                                                                          \
    case T:                                                                                        \
        if (quant_out) /* 32 rows per block (tn_cu_mv_io) */                                       \
            tn_cu_launch(ex, k_mv_q<T, 1, true, MV_QWARPS>, (unsigned)(w0->n_out / 32),            \
                         MV_QWARPS * 32, stage_bytes(p.n_in), p);                                  \
        else if (stage && p.n_items < 32 * MV_U) /* the whole row loaded before the wait */       \
            tn_cu_launch(ex, k_mv_q<T, 1, true, MV_WARPS, true>, blocks, 128, stage_bytes(p.n_in),  \
                         p);                                                                       \
        else if (stage)                                                                            \
            tn_cu_launch(ex, k_mv_q<T, 1, true>, blocks, 128, stage_bytes(p.n_in), p);             \
        else if (one)                                                                              \
            tn_cu_launch(ex, k_mv_q<T, 1, false>, blocks, 128, 0, p);                              \
        else                                                                                       \
            tn_cu_launch(ex, k_mv_q<T, TN_CU_MAX_NR, false>, blocks, 128, 0, p);                   \
        break;
        TN_CU_MVQ_CASE(TN_TYPE_Q4_0)
        TN_CU_MVQ_CASE(TN_TYPE_Q4_1)
        TN_CU_MVQ_CASE(TN_TYPE_Q5_0)
        TN_CU_MVQ_CASE(TN_TYPE_Q5_1)
        TN_CU_MVQ_CASE(TN_TYPE_Q8_0)
        TN_CU_MVQ_CASE(TN_TYPE_IQ4_NL)
        TN_CU_MVQ_CASE(TN_TYPE_MXFP4)
        TN_CU_MVQ_CASE(TN_TYPE_IQ4_XS)
        TN_CU_MVQ_CASE(TN_TYPE_Q2_K)
        TN_CU_MVQ_CASE(TN_TYPE_Q3_K)
        TN_CU_MVQ_CASE(TN_TYPE_Q4_K)
        TN_CU_MVQ_CASE(TN_TYPE_Q5_K)
        TN_CU_MVQ_CASE(TN_TYPE_Q6_K)
        TN_CU_MV_CASE(TN_TYPE_F32, k_mv_f)
        TN_CU_MV_CASE(TN_TYPE_F16, k_mv_f)
        TN_CU_MV_CASE(TN_TYPE_BF16, k_mv_f)
#undef TN_CU_MV_CASE
#undef TN_CU_MVQ_CASE
    default:
        tn_cu_fail(ex, "CUDA matvec: no kernel for type %s", tn_type_name(w0->type));
        return;
    }
    tn_cu_check(ex, "matvec");
}
