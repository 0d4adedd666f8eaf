/* Split-KV decode attention on tensor cores, for f16 caches (the default cache type).
 *
 * grid (n_head_kv, n_split, n_tokens), 128 threads: a block takes all G <= 8 query heads of one
 * KV head and one slice of the cells. Each warp streams its own tiles of 16 cells (tiles w,
 * w + 4, ... of the slice) through a private ring of NST shared-memory stages filled by cp.async,
 * so the loads of the next tiles are in flight while one is computed and the loop has no block
 * barrier. Per tile the warp runs S^T = K Q^T, the online softmax and O^T += V^T P^T on tensor
 * cores (tn_cu_tc_warp, cuda_tc_warp.cuh).
 * Keeping the cells in the M dimension fills every row of the mma with real data (the heads, only
 * G of 8 columns real, are the small side), and per 16 cells and warp the work is 3 HD/16 mma
 * plus as many ldmatrix: the old kernel's per-lane f32 dot products (q from shared memory for
 * every dim and head) made long contexts bound by instruction issue, not by memory.
 * The cells' positions and sequences (visibility) come with the rows, by cp.async into the same
 * stage: loading them per tile was a dependent global load on every tile's critical path.
 * Cells past the slice are zero-filled by cp.async; V rows of cells a token may not see are
 * zeroed before use (their contents may be NaN: 0 * NaN would reach the sum), K rows are only
 * masked (their scores become -inf). The warps' states go through tn_cu_dec_finish like the
 * f32 kernel's. */
#include <float.h>

#include "cuda/cuda_attn_decode.cuh"
#include "cuda/cuda_tc_warp.cuh"

namespace {

constexpr int TC_TILE = 16;

template <int HD> struct tc_cfg {
#ifndef TN_CU_TC_NST
    static constexpr int NST = HD >= 256 ? 2 : 3; /* ring stages per warp */
#else
    static constexpr int NST = HD >= 256 ? 2 : TN_CU_TC_NST; /* A/B builds */
#endif
    static constexpr int LD = HD + 8;             /* row stride (halves): ldmatrix rows hit distinct banks */
    static constexpr int STAGE = 2 * TC_TILE * LD + 4 * TC_TILE; /* halves per stage: K tile, V tile,
                                                                    the cells' positions and sequences */
    static constexpr size_t SMEM = (size_t)AD_W * NST * STAGE * sizeof(__half);
    static_assert(SMEM >= (size_t)AD_W * AD_MAXG * HD * sizeof(float), "ring reused for the warps' outputs");
};

template <int HD>
__global__ void __launch_bounds__(AD_T, 2) k_attn_dec_tc(const tn_cu_dec_args d, const tn_cu_attn a) {
    tn_cu_pdl_begin();
    using C = tc_cfg<HD>;
    constexpr int CH = HD / 8;        /* 16-byte chunks per cache row */
    extern __shared__ __align__(16) uint8_t smem[];
    __shared__ __align__(16) float qs[AD_MAXG * HD];
    __shared__ float wm[AD_W][AD_MAXG], wl[AD_W][AD_MAXG];
    const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31, g = lane >> 2;
    const int GB = d.GB, kvh = blockIdx.x, h0 = kvh * GB;
    const int split = blockIdx.y, t = blockIdx.z, n_split = d.n_split;
    const int n_kv = d.meta[0]; /* uploaded before the graph starts: safe before the wait */
    const int chunk = (n_kv + n_split - 1) / n_split;
    const int cb = split * chunk, ce = min(n_kv, cb + chunk);
    const int64_t kvoff = (int64_t)kvh * HD;
    const int first = cb + TC_TILE * warp, step = TC_TILE * AD_W;
    const int n_tiles = first < ce ? (ce - first + step - 1) / step : 0;
    __half *ring = (__half *)smem + warp * C::NST * C::STAGE;
    {   /* the warp's first tiles into L2 while the previous kernel finishes (prefetches only:
         * the row this step writes is read after the wait) */
        for (int i = 0; i < C::NST - 1 && i < n_tiles; i++) {
            const int c = first + i * step + (lane & 15);
            if (c >= ce) continue;
            const uint8_t *row = (const uint8_t *)(lane < 16 ? a.k : a.v) +
                                 ((int64_t)c * (lane < 16 ? a.n_embd_k : a.n_embd_v) + kvoff) * 2;
            for (int o = 0; o < HD * 2; o += 128) asm volatile("prefetch.global.L2 [%0];" ::"l"(row + o));
        }
    }
    tn_cu_pdl_wait();
    const int my_pos = d.tpos[t], my_seq = d.tseq[t];
    /* tile i of the warp into stage i % NST (an empty commit group past the end keeps the
     * wait_group counting uniform). Lane l copies the 16-byte chunks l, l + 32, ... of each
     * matrix: column l % CH of rows l / CH + j * 32 / CH. */
    constexpr int RSTEP = 32 / CH, CPL = TC_TILE / RSTEP;
    const int r0 = lane / CH, sofs = r0 * C::LD + (lane % CH) * 8;
    const __half *kl = (const __half *)a.k + kvoff + (lane % CH) * 8;
    const __half *vl = (const __half *)a.v + kvoff + (lane % CH) * 8;
    auto issue = [&](int i) {
        if (i < n_tiles) {
            const int c0 = first + i * step + r0;
            __half *ks = ring + (i % C::NST) * C::STAGE + sofs, *vs = ks + TC_TILE * C::LD;
#pragma unroll
            for (int j = 0; j < CPL; j++) {
                const int c = c0 + j * RSTEP;
                const bool ok = c < ce;
                const int64_t cc = ok ? c : cb;
                tn_cu_cp_async<16>(ks + j * RSTEP * C::LD, kl + cc * a.n_embd_k, ok);
                tn_cu_cp_async<16>(vs + j * RSTEP * C::LD, vl + cc * a.n_embd_v, ok);
            }
            /* lanes 0-15: position of cell c0 + lane, lanes 16-31: its sequence (the metadata
             * arrives with the rows instead of costing a dependent load per tile) */
            const int c = first + i * step + (lane & 15);
            int *meta = (int *)(ring + (i % C::NST) * C::STAGE + 2 * TC_TILE * C::LD);
            tn_cu_cp_async<4>(meta + lane, (lane < 16 ? d.cpos : d.cseq) + (c < ce ? c : cb), c < ce);
        }
        tn_cu_cp_async_commit();
    };
#pragma unroll
    for (int i = 0; i < C::NST - 1; i++) issue(i);
    /* q of the group's heads; the warp's Q^T fragments are scaled by scale * log2(e) (softmax in
     * base 2) */
    for (int i = tid; i < GB * HD; i += AD_T) qs[i] = d.q[((int64_t)t * a.n_head + h0) * HD + i];
    __syncthreads();
    tn_cu_tc_warp<HD, C::LD> w;
    w.begin(qs, GB, a.scale * 1.4426950408889634f);
    for (int i = 0; i < n_tiles; i++) {
        issue(i + C::NST - 1);
        const int c0 = first + i * step;
        tn_cu_cp_async_wait<C::NST - 1>();
        __syncwarp();
        const int *meta = (const int *)(ring + (i % C::NST) * C::STAGE + 2 * TC_TILE * C::LD);
        const unsigned mask = w.visible(meta, ce - c0, my_seq, my_pos);
        if (!mask) continue;
        const __half *ks = ring + (i % C::NST) * C::STAGE;
        __half *vs = ring + (i % C::NST) * C::STAGE + TC_TILE * C::LD;
        if (mask != 0xffffu) {
            for (int idx = lane; idx < TC_TILE * CH; idx += 32)
                if (!((mask >> (idx / CH)) & 1u)) *(uint4 *)(vs + (idx / CH) * C::LD + (idx % CH) * 8) = make_uint4(0, 0, 0, 0);
            __syncwarp();
        }
        float s[4];
        w.scores(ks, s);
        const bool va = (mask >> g) & 1u, vb = (mask >> (g + 8)) & 1u;
        const float x[4] = {va ? s[0] : -INFINITY, va ? s[1] : -INFINITY, vb ? s[2] : -INFINITY, vb ? s[3] : -INFINITY};
        w.accumulate(x, vs);
        __syncwarp(); /* the stage is refilled by the next iteration's issue() */
    }
    tn_cu_cp_async_wait<0>();
    __syncthreads(); /* every warp is done with its ring: it now holds the warps' outputs */
    float *wacc = (float *)smem; /* [AD_W][AD_MAXG * HD] */
    w.store(GB, wm[warp], wl[warp], wacc + warp * AD_MAXG * HD);
    __syncthreads();
    tn_cu_dec_finish<HD, AD_MAXG>(d, a, &wm[0][0], &wl[0][0], wacc, qs, h0, split, t);
}

template <int HD> int slots_tc(int device) {
    int n_sm = 0, per_sm = 0;
    if (cudaDeviceGetAttribute(&n_sm, cudaDevAttrMultiProcessorCount, device) != cudaSuccess ||
        cudaFuncSetAttribute(k_attn_dec_tc<HD>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)tc_cfg<HD>::SMEM) !=
            cudaSuccess ||
        cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, k_attn_dec_tc<HD>, AD_T, tc_cfg<HD>::SMEM) != cudaSuccess)
        return 0;
    return n_sm * per_sm;
}

template <int HD> void launch_tc(tn_cu_exec *ex, const tn_cu_dec_args &d, const tn_cu_attn *a, int32_t n_tokens) {
    constexpr size_t smem = tc_cfg<HD>::SMEM;
    /* set at every launch (cheap; the attribute is per device and there may be several) */
    if (cudaFuncSetAttribute(k_attn_dec_tc<HD>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem) != cudaSuccess) {
        tn_cu_check(ex, "tensor-core decode attention: shared memory attribute");
        return;
    }
    const dim3 grid((unsigned)a->n_head_kv, (unsigned)d.n_split, (unsigned)n_tokens);
    tn_cu_launch(ex, k_attn_dec_tc<HD>, grid, AD_T, smem, d, *a);
}

} // namespace

/* Head size 256 (2 stages, 1 block per SM) has not run on a GPU yet: such models keep the f32
 * kernel unless the tensor-core kernel is forced (TERN_CUDA_ATTN_TC=2, test_cuda's head-256
 * check). */
bool tn_cu_attn_tc_supported(const tn_cu_attn *a, bool forced) {
    const int hd = a->head_dim, G = a->n_head / a->n_head_kv;
    return a->type_k == TN_TYPE_F16 && a->type_v == TN_TYPE_F16 && G <= AD_MAXG &&
           (hd == 32 || hd == 64 || hd == 128 || (hd == 256 && forced));
}

void tn_cu_attn_dec_tc(tn_cu_exec *ex, const tn_cu_dec_args &d, const tn_cu_attn *a, int32_t n_tokens) {
    switch (a->head_dim) {
    case 32: launch_tc<32>(ex, d, a, n_tokens); break;
    case 64: launch_tc<64>(ex, d, a, n_tokens); break;
    case 128: launch_tc<128>(ex, d, a, n_tokens); break;
    default: launch_tc<256>(ex, d, a, n_tokens); break;
    }
}

int tn_cu_attn_tc_slots(const tn_cu_exec *ex, const tn_cu_attn *a) {
    switch (a->head_dim) {
    case 32: return slots_tc<32>(ex->device);
    case 64: return slots_tc<64>(ex->device);
    case 128: return slots_tc<128>(ex->device);
    default: return slots_tc<256>(ex->device);
    }
}
