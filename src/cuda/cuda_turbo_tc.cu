/* TurboQuant decode attention on tensor cores: the structure of the f16 kernel (cuda_attn_tc.cu)
 * on a compressed cache; the backend's default where it applies (tn_cuda_turbo_attn.use_tc;
 * TERN_CUDA_TURBO_TC=0 turns it off). test_cuda_turbo checks it against the CPU. It is bound by
 * the decoding instructions and their latency, not by memory (Nsight Compute, H200, turbo3
 * d32768, the earlier 6-stage ring with K decoded to shared memory, 2 blocks per SM: 43 us per
 * layer with the cache in L2, 2 warps per scheduler issuing every 3.9 cycles). With 4 blocks per
 * SM (3 stages, K from registers, 128 registers) the one-wave split rule takes 64 splits instead
 * of 32 there: tg64 @ d32768 +4.6 % (2026-12-02h record; 3 blocks per SM took the same 32 splits
 * and was no faster).
 *
 * grid (n_head_kv, n_split, n_tokens), 128 threads: a block takes the G <= 8 query heads of one
 * KV head, rotated once into the cache's rotated domain (shared memory). Each warp streams its
 * 16-cell tiles (w, w + 4, ... of the slice) as packed bytes — K and V codes, the two norms, the
 * cells' positions and sequences — through a private ring of NST cp.async stages (a tile of
 * turbo3 at head size 128 is 1.8 KB), decodes the current tile into f16
 * codebook values (two codes per table lookup: a 2^(2 bits) entry table of half2), and then runs
 * the f16 kernel's warp steps (tn_cu_tc_warp): S^T = K~ Q^T, scores times the cell's K norm /
 * sqrt(d), online softmax, O^T += V~^T P^T with each cell's probabilities times its V norm /
 * sqrt(d) (V~ holds the plain codebook values).
 * V is accumulated in the rotated domain and un-rotated once (td_finish; with several splits
 * tq_merge_kernel does it). Decoded values are always finite; the norms of cells a token may not
 * see are replaced by 0 (select, not multiply: a poisoned norm may be NaN). Same turbo type for K
 * and V, head size 64 or 128 (one rotation block), at most 8 tokens. */
#include <math.h>

extern "C" {
#include "core/error.h"
}
#include "cuda/cuda_mma.cuh"
#include "cuda/cuda_tc_warp.cuh"
#include "cuda/cuda_turbo_dec.cuh"
#include "cuda/cuda_turbo_store.cuh"

namespace {

constexpr int TT_TILE = 16;
/* Compile-time switches for A/B builds (bench/cuda/ab.sh), defaults as measured (H200, Llama-3-8B
 * Q4_K_M, tg64 with turbo3 K and V):
 * TN_TT_NST ring depth (3; 6 before: with 2 blocks per SM, 3 and 4 were no faster, 2026-12-02d);
 * TN_TT_MINB (4): the blocks per SM the registers are capped for (__launch_bounds__: 128
 *   registers, no spills); with 3 stages and K decoded into registers a block's shared memory
 *   (43.5 KB at turbo3, head size 128) lets 4 fit, and tn_cu_attn_plan's one-wave rule counts
 *   them. NST=3, K in registers, MINB=4 against 6 / K in shared memory / 2: d32768 262.4 / 263.4
 *   -> 274.7 / 275.4 t/s, d8192 342.3 / 343.4 -> 339.3 / 339.3 (2026-12-02h record, 2 rounds);
 *   MINB=5 (96 registers, spills; shared memory allows 4 anyway): -6 / -8 % (2026-12-03c).
 * Measured and removed: TN_TT_KREG=0, K decoded into shared memory like V (K in registers:
 *   +1.2 % at d8192, +3.2 % at d32768, 2026-12-02e record); TN_TT_TABREP=1, the pair table
 *   replicated per bank (-4.3 % at d32768, 2026-12-02h record; both in a30ed98); TN_TT_PRMT=1,
 *   2- and 3-bit codes decoded by byte permutes of the codebook held in registers instead of the
 *   shared pair table (tg64 @ d8192 -0.4 %, @ d32768 -2.8 %: the table lookups were not what
 *   limits the tiles; 2026-12-03c record, code in 1a6da2c);
 *   TN_TT_QWARP=1, the query rotation by a warp per head, is now td_rotate's path for heads of
 *   32..256; TN_TT_CP16=1, heads of 16-byte multiples copied with 16-byte cp.async.cg (rows must
 *   then be 16-byte aligned, else the f32 kernel runs): +0.6 % (2026-12-03), and with the lane
 *   mapping below +0.1 % / +0.3 % (2026-12-03d record), so 8-byte copies for every head size;
 *   the tile copies' old mapping (a division by the chunks per matrix and per row and a 64-bit
 *   product per copy; the lane mapping replaced it, TN_TT_LANEMAP, code in 734a195). */
#ifndef TN_TT_NST
#define TN_TT_NST 3
#endif
#ifndef TN_TT_MINB
#define TN_TT_MINB 4
#endif
/* TN_TT_BULK=1 (A/B build, not yet run on a GPU): each cell's K and V head slices come by one
 * bulk copy (cp.async.bulk, the TMA unit) per lane and tile, completing on the stage's mbarrier,
 * instead of 8-byte cp.async chunks (the copies were ~140 of ~915 instructions per warp and tile
 * at d32768, 2026-12-03e record). Head slices of a multiple of 16 bytes with 16-byte aligned rows
 * (turbo2/3/4 at head 128, turbo2/4 at 64); others keep the chunks. The norms and the cells'
 * positions (4 bytes each) stay cp.async. */
#ifndef TN_TT_BULK
#define TN_TT_BULK 0
#endif

template <int D, int BITS> struct tt_cfg {
    static constexpr int HB = D * BITS / 8; /* packed bytes of one head */
    static constexpr int CP = 8;            /* bytes per cp.async of codes */
    static constexpr int NST = TN_TT_NST;   /* stages of packed tiles per warp */
    /* stage layout: K codes, V codes, the norms, the cells' positions and sequences */
    static constexpr int NORMS = 2 * TT_TILE * HB;
    static constexpr int META = NORMS + 2 * TT_TILE * 4;
    static constexpr int RAW = META + 2 * TT_TILE * 4; /* bytes per stage */
    static constexpr int LD = D + 8;                   /* decoded row stride (halves) */
    /* per warp: the ring, then the decoded V tile (K is decoded into mma fragments in registers) */
    static constexpr int WARP = NST * RAW + TT_TILE * LD * 2;
    static constexpr size_t SMEM = (size_t)TD_W * WARP;
    static_assert(HB % 8 == 0 && RAW % 16 == 0, "8-byte copies, 16-byte aligned decoded tiles");
    static_assert(SMEM >= (size_t)TD_W * TD_MAXG * D * sizeof(float),
                  "ring reused for the warps' outputs");
};

/* Cells of one split (split s takes cells [s c, s c + c)): a multiple of the cells one pass of
 * the block's warps takes (TD_W tiles), so that every warp of a full split has as many tiles.
 * ceil(n_kv / n_split) cells gave the first warp one tile more than the others whenever n_kv was
 * just above a multiple of 64 n_split (depth 8192 + 1 on 64 splits: 129 cells = 9 tiles, 3 for
 * warp 0 and 2 for the others, which waited at the block barrier). Splits past the end are
 * empty (tq_merge_kernel gives them weight 0). tn_cu_attn_plan says what it gained. */
__device__ __forceinline__ int tt_chunk(int n_kv, int n_split) {
    const int span = n_split * TT_TILE * TD_W;
    return (n_kv + span - 1) / span * (TT_TILE * TD_W);
}

/* The smallest power of two >= n (n >= 1). */
__host__ __device__ constexpr int tt_pow2(int n) { return n <= 1 ? 1 : 2 * tt_pow2((n + 1) / 2); }

/* The two codebook values of a pair index (bits of two consecutive dims, see decode below). */
template <int BITS> __device__ __forceinline__ uint32_t tt_pair(const float *c, int i) {
    int a, b;
    if (BITS == 4)
        a = i & 15, b = i >> 4;
    else if (BITS == 2)
        a = i & 3, b = i >> 2;
    else
        a = (i & 3) | ((i >> 4) & 1) << 2, b = ((i >> 2) & 3) | ((i >> 5) & 1) << 2;
    return tn_cu_pack_h2(c[a], c[b]);
}

/* Bits [lo, lo + n) of w moved to bits [to, to + n), the rest zero (constants once unrolled). */
__device__ __forceinline__ uint32_t tt_field(uint32_t w, int lo, int n, int to) {
    return (lo >= to ? w >> (lo - to) : w << (to - lo)) & (((1u << n) - 1) << to);
}

/* Dims 8k .. 8k + 7 of a row into dst (f16 codebook values, without the row's norm: see the
 * tile loop): four pair indices from the row's words (lo: the low, or only, section; hi: the high
 * bits of 3-bit codes), four lookups in the pair table, each at the byte offset 4 p made by the
 * shifts that extract p's fields. */
template <int BITS>
__device__ __forceinline__ void tt_decode8(const uint32_t *lo, const uint32_t *hi, int k, const uint32_t *tab,
                                           __half *dst) {
    const uint8_t *tb = (const uint8_t *)tab;
    uint32_t d[4];
#pragma unroll
    for (int j = 0; j < 4; j++) {
        uint32_t o;
        if (BITS == 4) {
            o = tt_field(lo[k], 8 * j, 8, 2);
        } else {
            o = tt_field(lo[k >> 1], (k & 1) * 16 + 4 * j, 4, 2);
            if (BITS == 3) o |= tt_field(hi[k >> 2], (k & 3) * 8 + 2 * j, 2, 6);
        }
        d[j] = *(const uint32_t *)(tb + o);
    }
    *(uint4 *)(dst + 8 * k) = make_uint4(d[0], d[1], d[2], d[3]);
}

/* x rotated right by n (mod 32): one funnel shift */
__device__ __forceinline__ uint32_t tt_rotr(uint32_t x, int n) { return __funnelshift_r(x, x, n); }

/* The byte offsets 4 p of the pair-table entries of K's fragment kk: p[] for cell g, cell g + 8,
 * and the same 8 dims on (pairs t4 and 4 + t4 of dims 16 kk ..). Each field is rotated straight
 * to its place in 4 p (the lane's rotation amounts depend on t4 only, so they are computed once):
 * no shift by 4 for the high bits of 3-bit codes and no scaling of p per lookup, as the plain
 * shifts and masks to p took. turbo3 tg64 Llama-3-8B Q4_K_M on an H200: d32768 317.4 / 315.5 ->
 * 321.1 / 319.5, d8192 392.4 / 384.2 -> 385.3 / 394.2 t/s (2026-12-03e record, was TN_TT_KROT). */
template <int D, int BITS>
__device__ __forceinline__ void tt_k_offsets(const uint32_t *r0, const uint32_t *r1, int kk, int t4, uint32_t p[4]) {
    if (BITS == 4) {
        const int a = 8 * t4 - 2;
        p[0] = tt_rotr(r0[2 * kk], a) & 0x3FCu, p[1] = tt_rotr(r1[2 * kk], a) & 0x3FCu;
        p[2] = tt_rotr(r0[2 * kk + 1], a) & 0x3FCu, p[3] = tt_rotr(r1[2 * kk + 1], a) & 0x3FCu;
        return;
    }
    const uint32_t l0 = r0[kk], l1 = r1[kk];
    const int a = 4 * t4 - 2; /* pair t4's nibble (bits 4 t4 ..) to bits 2..5; pair 4 + t4's: + 16 */
    p[0] = tt_rotr(l0, a) & 0x3Cu, p[1] = tt_rotr(l1, a) & 0x3Cu;
    p[2] = tt_rotr(l0, a + 16) & 0x3Cu, p[3] = tt_rotr(l1, a + 16) & 0x3Cu;
    if (BITS == 3) { /* the pair's high bits (bits sh, sh + 1 of the high word) to bits 6..7 */
        const uint32_t h0 = r0[D / 16 + (kk >> 1)], h1 = r1[D / 16 + (kk >> 1)];
        const int b = (kk & 1) * 16 + 2 * t4 - 6;
        p[0] |= tt_rotr(h0, b) & 0xC0u, p[1] |= tt_rotr(h1, b) & 0xC0u;
        p[2] |= tt_rotr(h0, b + 8) & 0xC0u, p[3] |= tt_rotr(h1, b + 8) & 0xC0u;
    }
}

template <int D, int BITS, bool BULK = false>
__global__ void __launch_bounds__(TD_T, TN_TT_MINB)
    tq_dec_tc(const tn_cuda_turbo_attn a, const tq_cache kc, const tq_cache vc, int GB) {
    tn_cu_pdl_begin();
    using C = tt_cfg<D, BITS>;
    constexpr int CPR = C::HB / C::CP, NW = C::HB / 4;
    static_assert(!BULK || C::HB % 16 == 0, "bulk copies of whole 16-byte multiples");
    extern __shared__ __align__(16) uint8_t smem[];
    __shared__ __align__(16) float qs[TD_MAXG * D];
    __shared__ uint32_t tab[1 << (2 * BITS)];
    __shared__ float wm[TD_W][TD_MAXG], wl[TD_W][TD_MAXG];
    __shared__ __align__(8) uint64_t bars[BULK ? TD_W * C::NST : 1]; /* BULK: per warp and stage */
    const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31, g = lane >> 2;
    const int kvh = blockIdx.x, h0 = kvh * GB, split = blockIdx.y, t = blockIdx.z,
              n_split = a.n_split;
    const int n_kv = a.n_kv_dev ? *a.n_kv_dev : a.n_kv;
    const int chunk = tt_chunk(n_kv, n_split);
    const int cb = split * chunk, ce = min(n_kv, cb + chunk);
    const int first = cb + TT_TILE * warp, step = TT_TILE * TD_W;
    const int n_tiles = first < ce ? (ce - first + step - 1) / step : 0;
    uint8_t *ring = smem + warp * C::WARP;
    __half *vt = (__half *)(ring + C::NST * C::RAW);
    const size_t khead = (size_t)kvh * kc.head_bytes, vhead = (size_t)kvh * vc.head_bytes;
    /* a head's fp16 norm is read as the aligned 32-bit word holding it and its even/odd partner */
    const size_t knorm = kc.norm_off + (size_t)(kvh & ~1) * 2,
                 vnorm = vc.norm_off + (size_t)(kvh & ~1) * 2;
    uint64_t *wbar = bars + (BULK ? warp * C::NST : 0);
    auto issue = [&](int i) {
        if (BULK && i < n_tiles) { /* lane r < 16 copies cell r's K slice, lane 16 + r its V slice */
            const int c0 = first + i * step, nv = min(TT_TILE, ce - c0), r = lane & 15;
            uint8_t *st = ring + (i % C::NST) * C::RAW;
            uint64_t *bar = wbar + i % C::NST;
            tn_cu_fence_proxy_async(); /* the stage's earlier reads (the warp synced since) first */
            if (lane == 0) tn_cu_mbar_expect_tx(bar, (unsigned)(2 * nv * C::HB));
            __syncwarp();
            if (r < nv) {
                const tq_cache &m = lane < 16 ? kc : vc;
                tn_cu_bulk_g2s(st + (lane < 16 ? r : TT_TILE + r) * C::HB,
                               m.base + (size_t)(c0 + r) * m.row_bytes + (lane < 16 ? khead : vhead), C::HB, bar);
            }
        }
        if (i < n_tiles) {
            const int c0 = first + i * step;
            uint8_t *st = ring + (i % C::NST) * C::RAW;
            /* Each lane copies one chunk (ch = lane % CP2, CP2 = the chunks per head slice rounded
             * up to a power of two) of rows rl + RPI j of the tile's K and V, so that its rows,
             * chunk and destinations are shifts of the lane and constants: one row pointer per
             * matrix and tile instead of two divisions and a 64-bit product per copy (the copies'
             * address arithmetic held 15 % of the warp samples at d32768, 2026-12-03c record; the
             * kernel is issue-bound). Lanes with ch >= CPR idle (turbo3, head 128: 8 copies per
             * lane, 6 busy, against 6 before). turbo3 tg64 Llama-3-8B Q4_K_M on an H200: d8192
             * 374.9 -> 382.2, d32768 300.2 -> 308.6 t/s (2026-12-03d record). */
            constexpr int CP2 = tt_pow2(CPR) < 2 ? 2 : tt_pow2(CPR), RPI = 32 / CP2;
            const int ch = lane % CP2, rl = lane / CP2, lim = ce - c0;
            if (!BULK && ch < CPR) {
                /* the tile's first row (cell c0 < ce, a valid source for zero-filled copies)
                 * and the lane's first row, at the lane's chunk */
                const uint8_t *k0 = kc.base + (size_t)c0 * kc.row_bytes + khead + ch * C::CP,
                              *v0 = vc.base + (size_t)c0 * vc.row_bytes + vhead + ch * C::CP;
                const uint8_t *kr = k0 + rl * kc.row_bytes, *vr = v0 + rl * vc.row_bytes;
                uint8_t *d = st + rl * C::HB + ch * C::CP;
#pragma unroll
                for (int j = 0; j < TT_TILE / RPI; j++) {
                    const bool ok = rl + RPI * j < lim;
                    tn_cu_cp_async<C::CP>(d + RPI * j * C::HB, ok ? kr + RPI * j * kc.row_bytes : k0, ok);
                    tn_cu_cp_async<C::CP>(d + (TT_TILE + RPI * j) * C::HB, ok ? vr + RPI * j * vc.row_bytes : v0,
                                          ok);
                }
            }
            const int c = c0 + (lane & 15);
            const bool ok = c < ce;
            const int64_t cc = ok ? c : cb;
            const uint8_t *nsrc = lane < 16 ? kc.base + (size_t)cc * kc.row_bytes + knorm
                                            : vc.base + (size_t)cc * vc.row_bytes + vnorm;
            tn_cu_cp_async<4>(st + C::NORMS + lane * 4, nsrc, ok);
            tn_cu_cp_async<4>(st + C::META + lane * 4, (lane < 16 ? a.cell_pos : a.cell_seq) + cc,
                              ok);
        }
        tn_cu_cp_async_commit();
    };
    for (int i = tid; i < (1 << (2 * BITS)); i += TD_T)
        tab[i] = tt_pair<BITS>(kc.cb.c, i);
    if (BULK) {
        if (lane == 0)
            for (int s = 0; s < C::NST; s++) tn_cu_mbar_init(wbar + s, 1);
        tn_cu_mbar_init_fence();
        __syncwarp();
    }
    /* with tn_cuda_turbo_attn.pdl: q and this step's cache rows come from the kernels before
     * (n_kv_dev and the codebook, read above, are not written during the step) */
    tn_cu_pdl_wait();
    if (a.new_k) { /* this step's token: the block whose slice holds its cell stores its K and V
                    * rows there first (warps 0 and 1, the ring as scratch), for every warp's copies */
        const int cell = *a.new_cell;
        if (cell >= cb && cell < ce) {
            if (warp < 2) {
                const tq_cache &c = warp ? vc : kc;
                tq_store_head_warp<D>((warp ? a.new_v : a.new_k) + (size_t)kvh * D, c, a.rot_seed,
                                      (uint8_t *)c.base + (size_t)cell * c.row_bytes, kvh, ring);
            }
            __threadfence();
            if (BULK) tn_cu_fence_proxy_async(); /* the rows just stored are read by bulk copies */
            __syncthreads();
        }
    }
#pragma unroll
    for (int i = 0; i < C::NST - 1; i++)
        issue(i);
    td_rotate(qs, a.q + ((int64_t)t * a.n_head + h0) * D, GB, D, a.rot_seed, false);
    const int my_pos = a.pos[t], my_seq = a.seq[t];
    const float isn = 1.0f / sqrtf((float)D);
    tn_cu_tc_warp<D, C::LD> w;
    w.begin(qs, GB, a.scale * 1.4426950408889634f);
    for (int i = 0; i < n_tiles; i++) {
        issue(i + C::NST - 1);
        const int c0 = first + i * step;
        tn_cu_cp_async_wait<C::NST - 1>();
        if (BULK) tn_cu_mbar_wait(wbar + i % C::NST, (unsigned)(i / C::NST) & 1u);
        __syncwarp();
        const uint8_t *st = ring + (i % C::NST) * C::RAW;
        const int *meta = (const int *)(st + C::META);
        const unsigned mask = w.visible(meta, ce - c0, my_seq, my_pos);
        if (!mask) continue;
        const uint32_t *nk = (const uint32_t *)(st + C::NORMS), *nv = nk + TT_TILE;
        const int hsh = (kvh & 1) * 16;
        auto norm = [&](uint32_t x) {
            return __half2float(__ushort_as_half((unsigned short)(x >> hsh)));
        };
        float s[4];
        { /* V only: lane (r, hf) writes dims [hf D/2, (hf + 1) D/2) of row r of V~ (codebook
           * values; the norms weight the probabilities below); the half starts on a word of
           * every section */
            const int r = lane & 15, hf = lane >> 4;
            const uint32_t *row = (const uint32_t *)(st + (TT_TILE + r) * C::HB);
            constexpr int LOW = BITS == 4 ? D / 8 : D / 16; /* words of the low (or only) section */
            constexpr int HL = LOW / 2,
                          HH = BITS == 3 ? D / 64 : 0; /* low and high words of a half */
            uint32_t w[HL + HH + 1];
#pragma unroll
            for (int j = 0; j < HL; j++)
                w[j] = row[hf * HL + j];
#pragma unroll
            for (int j = 0; j < HH; j++)
                w[HL + j] = row[LOW + hf * HH + j];
            __half *dst = vt + r * C::LD + hf * (D / 2);
#pragma unroll
            for (int k = 0; k < D / 16; k++)
                tt_decode8<BITS>(w, w + HL, k, tab, dst); /* of the half */
        }
        { /* K's fragments: pair (dims 16 kk + 2 t4, + 1) and the pair 8 dims on, of cells g, g + 8
           */
            const int t4 = lane & 3;
            const uint32_t *r0 = (const uint32_t *)(st + g * C::HB),
                           *r1 = (const uint32_t *)(st + (g + 8) * C::HB);
            w.scores_from(
                [&](int kk, uint32_t ka[4]) {
                    uint32_t p[4];
                    tt_k_offsets<D, BITS>(r0, r1, kk, t4, p);
#pragma unroll
                    for (int e = 0; e < 4; e++)
                        ka[e] = *(const uint32_t *)((const uint8_t *)tab + p[e]);
                },
                s);
        }
        __syncwarp(); /* V~ rows written by other lanes */
        const bool va = (mask >> g) & 1u, vb = (mask >> (g + 8)) & 1u;
        const float ka = va ? norm(nk[g]) * isn : 0.0f, kb = vb ? norm(nk[g + 8]) * isn : 0.0f;
        const float x[4] = {va ? s[0] * ka : -INFINITY, va ? s[1] * ka : -INFINITY,
                            vb ? s[2] * kb : -INFINITY, vb ? s[3] * kb : -INFINITY};
        /* V's norms weight the probabilities (4 products per lane) instead of every decoded
         * pair (32 HMUL2 per lane and tile before): turbo3 tg64 Llama-3-8B Q4_K_M on an H200
         * d32768 +2.1 % (306.6 / 307.5 -> 312.9 / 314.0), d8192 +0.3 % (2026-12-03d record) */
        w.accumulate(x, vt, va ? norm(nv[g]) * isn : 0.0f, vb ? norm(nv[g + 8]) * isn : 0.0f);
        __syncwarp(); /* the decoded tiles are rewritten by the next tile */
    }
    tn_cu_cp_async_wait<0>();
    __syncthreads(); /* every warp is done with its ring: it now holds the warps' outputs */
    float *wacc = (float *)smem; /* [TD_W][TD_MAXG * D] */
    w.store(GB, wm[warp], wl[warp], wacc + warp * TD_MAXG * D);
    __syncthreads();
    td_finish<D, TD_MAXG>(a, &wm[0][0], &wl[0][0], wacc, qs, GB, h0, split, t);
}

/* The kernel instance for these caches, its shared-memory attributes set (NULL if that failed):
 * with TN_TT_BULK, bulk copies where the head slices are whole 16-byte multiples on 16-byte
 * aligned rows. */
template <int D, int BITS> auto tt_kernel(const tq_cache &kc, const tq_cache &vc) {
    constexpr bool can = TN_TT_BULK && tt_cfg<D, BITS>::HB % 16 == 0;
    const bool aligned = kc.row_bytes % 16 == 0 && vc.row_bytes % 16 == 0 && (uintptr_t)kc.base % 16 == 0 &&
                         (uintptr_t)vc.base % 16 == 0;
    const auto k = can && aligned ? tq_dec_tc<D, BITS, can> : tq_dec_tc<D, BITS, false>;
    /* more than 4 blocks (A/B builds) need the largest shared-memory carveout (5 x ~44 KB) */
    if (TN_TT_MINB > 4) cudaFuncSetAttribute(k, cudaFuncAttributePreferredSharedMemoryCarveout, 100);
    return cudaFuncSetAttribute(k, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)tt_cfg<D, BITS>::SMEM) ==
                   cudaSuccess
               ? k
               : nullptr;
}

template <int D, int BITS>
int tt_launch(const tn_cuda_turbo_attn *a, const tq_cache &kc, const tq_cache &vc,
              cudaStream_t st) {
    const auto kernel = tt_kernel<D, BITS>(kc, vc);
    if (!kernel)
        return tn_set_error("CUDA TurboQuant tensor-core attention: shared memory attribute: %s",
                            cudaGetErrorString(cudaGetLastError()));
    const dim3 grid((unsigned)a->n_head_kv, (unsigned)a->n_split, (unsigned)a->n_tokens);
    tn_cu_launch_on(st, a->pdl != 0, kernel, grid, dim3(TD_T), tt_cfg<D, BITS>::SMEM, *a, kc, vc,
                    a->n_head / a->n_head_kv);
    return 0;
}

template <int D, int BITS> int tt_slots(int device, const tq_cache &kc, const tq_cache &vc) {
    const auto kernel = tt_kernel<D, BITS>(kc, vc);
    int n_sm = 0, per_sm = 0;
    if (!kernel || cudaDeviceGetAttribute(&n_sm, cudaDevAttrMultiProcessorCount, device) != cudaSuccess ||
        cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, kernel, TD_T, tt_cfg<D, BITS>::SMEM) != cudaSuccess)
        return 0;
    return n_sm * per_sm;
}

template <int D>
int tt_launch_bits(const tn_cuda_turbo_attn *a, const tq_cache &kc, const tq_cache &vc,
                   cudaStream_t st) {
    switch (kc.bits) {
    case 2:
        return tt_launch<D, 2>(a, kc, vc, st);
    case 3:
        return tt_launch<D, 3>(a, kc, vc, st);
    default:
        return tt_launch<D, 4>(a, kc, vc, st);
    }
}

} // namespace

extern "C" int tn_cuda_turbo_tc_ok(const tn_cuda_turbo_attn *a) {
    const int d = a->head_dim;
    tq_cache kc;
    if (a->type_k != a->type_v || !tn_kv_turbo_bits(a->type_k) || !(d == 64 || d == 128) ||
        a->n_head_kv <= 0 || a->n_head % a->n_head_kv || a->n_head / a->n_head_kv > TD_MAXG ||
        a->n_tokens < 1 || a->n_tokens > 8 || tq_fill_cache(&kc, a->type_k, d, a->n_head_kv, a->k))
        return 0;
    const size_t align = 8; /* tt_cfg::CP */
    return kc.row_bytes % align == 0 && (uintptr_t)a->k % align == 0 &&
           (uintptr_t)a->v % align == 0 && kc.norm_off % 4 == 0 &&
           kc.head_bytes == (size_t)d * kc.bits / 8;
}

extern "C" int tn_cuda_turbo_tc_launch(const tn_cuda_turbo_attn *a, void *stream) {
    tq_cache kc, vc;
    if (!tn_cuda_turbo_tc_ok(a) || tq_fill_cache(&kc, a->type_k, a->head_dim, a->n_head_kv, a->k) ||
        tq_fill_cache(&vc, a->type_v, a->head_dim, a->n_head_kv, a->v))
        return tn_set_error("CUDA TurboQuant tensor-core attention: unsupported shape");
    cudaStream_t st = (cudaStream_t)stream;
    return a->head_dim == 64 ? tt_launch_bits<64>(a, kc, vc, st)
                             : tt_launch_bits<128>(a, kc, vc, st);
}

extern "C" int tn_cuda_turbo_tc_slots(const tn_cuda_turbo_attn *a, int device) {
    tq_cache kc, vc;
    if (!tn_cuda_turbo_tc_ok(a) || tq_fill_cache(&kc, a->type_k, a->head_dim, a->n_head_kv, a->k) ||
        tq_fill_cache(&vc, a->type_v, a->head_dim, a->n_head_kv, a->v))
        return 0;
    const int bits = tn_kv_turbo_bits(a->type_k);
    if (a->head_dim == 64)
        return bits == 2   ? tt_slots<64, 2>(device, kc, vc)
               : bits == 3 ? tt_slots<64, 3>(device, kc, vc)
                           : tt_slots<64, 4>(device, kc, vc);
    return bits == 2   ? tt_slots<128, 2>(device, kc, vc)
           : bits == 3 ? tt_slots<128, 3>(device, kc, vc)
                       : tt_slots<128, 4>(device, kc, vc);
}
