/* Fast TurboQuant decode attention and the prefill dequantizer (see cuda_turbo.h).
 *
 * Decode (tq_dec_kernel): the layout of k_attn_dec (cuda_attention.cu) on a compressed cache.
 * grid (n_head / GB, n_split, n_tokens), 128 threads; a block takes GB query heads of one KV head
 * (the packed K/V rows are read once for all of them). The GB queries are rotated once into the
 * cache's rotated domain (shared memory). Each warp runs an online softmax over tiles of 32 cells:
 * lane l takes cell c0 + l, loads its packed K head (and the tile's V words) before using any, and
 * scores it against codebook values directly (q_rot . C[idx] * norm / sqrt(d)). V is accumulated
 * in the rotated domain, lanes owning d/32 consecutive dims; the block's result is un-rotated
 * once (or, with several splits, left rotated in `part` for tq_merge_kernel, which un-rotates).
 * Handles K and V of the same turbo type, head sizes 64/128/256 (one rotation sub-block) and rows
 * whose size is a multiple of 8 bytes; other shapes use the reference kernel (cuda_turbo.cu). */
#include <math.h>

extern "C" {
#include "core/error.h"
#include "cuda/cuda_turbo.h"
}
#include "cuda/cuda_dec_state.cuh"
#include "cuda/cuda_turbo_dec.cuh"

namespace {

/* Code index of dim i of a packed head (words w: 32-bit little-endian view of the head bytes). */
template <int BITS, int D> __device__ __forceinline__ int td_code(const uint32_t *w, int i) {
    if (BITS == 4) return (int)((w[i / 8] >> (4 * (i % 8))) & 15u);
    int c = (int)((w[i / 16] >> (2 * (i % 16))) & 3u);
    if (BITS == 3) c |= (int)((w[D / 16 + i / 32] >> (i % 32)) & 1u) << 2;
    return c;
}

/* The lane's V words of cells c0 .. c0 + VB - 1 (those < ce): its D/32 codes of each. */
template <int D, int BITS, int VB>
__device__ __forceinline__ void td_load_v(uint32_t (*vw)[BITS == 3 ? 2 : 1], const uint8_t *vbase, size_t vrow,
                                          size_t vhead, int c0, int ce, int lane) {
    constexpr int DPL = D / 32;
#pragma unroll
    for (int j = 0; j < VB; j++) {
        if (c0 + j >= ce) break;
        const uint8_t *vh = vbase + (size_t)(c0 + j) * vrow + vhead;
        if (BITS == 4) {
            vw[j][0] = ((const uint32_t *)vh)[(4 * DPL * lane) / 32]; /* DPL nibbles, never across a word */
        } else {
            vw[j][0] = ((const uint32_t *)vh)[(2 * DPL * lane) / 32];
            if (BITS == 3) vw[j][1] = ((const uint32_t *)(vh + D / 4))[(DPL * lane) / 32];
        }
    }
}

struct td_args {
    tn_cuda_turbo_attn a;
    tq_cache k, v;
    int GB;
};

template <int D, int BITS, int MG>
__global__ void __launch_bounds__(TD_T, 4) tq_dec_kernel(const td_args args) {
    const tn_cuda_turbo_attn &a = args.a;
    constexpr int DPL = D / 32;
    constexpr int HW = D * BITS / 32;         /* 32-bit words of one packed head */
    constexpr int VW = BITS == 3 ? 2 : 1;     /* words a lane loads per V head */
    constexpr int VB = VW == 1 ? 32 : 16;     /* V rows per round of loads (<= 32 registers) */
    __shared__ __align__(16) float qs[MG * D];
    __shared__ __align__(16) float wacc[TD_W][MG * D];
    __shared__ float wm[TD_W][MG], wl[TD_W][MG];
    __shared__ float cbk[16], cbv[16];
    const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31, GB = args.GB;
    const int h0 = blockIdx.x * GB, kvh = h0 / (a.n_head / a.n_head_kv);
    const int split = blockIdx.y, t = blockIdx.z, n_split = a.n_split;
    const int n_kv = a.n_kv_dev ? *a.n_kv_dev : a.n_kv;
    const int chunk = (n_kv + n_split - 1) / n_split;
    const int cb = split * chunk, ce = min(n_kv, cb + chunk);
    const int my_pos = a.pos[t], my_seq = a.seq[t];
    if (tid < 16) {
        cbk[tid] = args.k.cb.c[tid];
        cbv[tid] = args.v.cb.c[tid];
    }
    td_rotate(qs, a.q + ((int64_t)t * a.n_head + h0) * D, GB, D, a.rot_seed, false); /* ends with a barrier */
    const float isn = 1.0f / sqrtf((float)D);
    const uint8_t *kbase = args.k.base, *vbase = args.v.base;
    const size_t krow = args.k.row_bytes, vrow = args.v.row_bytes;
    const size_t khead = (size_t)kvh * args.k.head_bytes, vhead = (size_t)kvh * args.v.head_bytes;
    const size_t knorm = args.k.norm_off + (size_t)kvh * 2, vnorm = args.v.norm_off + (size_t)kvh * 2;
    float rm[MG], rl[MG], acc[MG][DPL];
#pragma unroll
    for (int g = 0; g < MG; g++) {
        rm[g] = -INFINITY;
        rl[g] = 0.0f;
#pragma unroll
        for (int i = 0; i < DPL; i++) acc[g][i] = 0.0f;
    }
    for (int c0 = cb + 32 * warp; c0 < ce; c0 += 32 * TD_W) {
        const int c = c0 + lane;
        const bool in = c < ce;
        /* requested at once: metadata, the lane's K head and both norms, and the lane's V words
         * of the first VB cells */
        int cs = -1, cp = -1;
        uint32_t kw[HW];
        float kn = 0.0f, vn = 0.0f;
        if (in) {
            cs = a.cell_seq[c];
            cp = a.cell_pos[c];
            const uint8_t *kr = kbase + (size_t)c * krow;
            const uint2 *kp = (const uint2 *)(kr + khead);
#pragma unroll
            for (int i = 0; i < HW / 2; i++) {
                const uint2 u = kp[i];
                kw[2 * i] = u.x, kw[2 * i + 1] = u.y;
            }
            kn = __half2float(*(const __half *)(kr + knorm));
            vn = __half2float(*(const __half *)(vbase + (size_t)c * vrow + vnorm));
        }
        uint32_t vw[VB][VW];
        td_load_v<D, BITS, VB>(vw, vbase, vrow, vhead, c0, ce, lane);
        float s[MG];
#pragma unroll
        for (int g = 0; g < MG; g++) s[g] = 0.0f;
#pragma unroll
        for (int i = 0; i < D; i += 4) {
            float kv[4];
#pragma unroll
            for (int e = 0; e < 4; e++) kv[e] = cbk[td_code<BITS, D>(kw, i + e)];
#pragma unroll
            for (int g = 0; g < MG; g++) {
                if (g >= GB) break;
                const float4 q4 = *(const float4 *)(qs + g * D + i);
                s[g] += q4.x * kv[0] + q4.y * kv[1] + q4.z * kv[2] + q4.w * kv[3];
            }
        }
        const bool vis = in && cs == my_seq && cp >= 0 && cp <= my_pos;
        const unsigned vmask = __ballot_sync(0xffffffffu, vis);
        if (!vmask) continue;
        float pw[MG]; /* p * the cell's V norm / sqrt(d), broadcast per cell below */
#pragma unroll
        for (int g = 0; g < MG; g++) {
            if (g >= GB) break;
            const float x = vis ? s[g] * (kn * isn) * a.scale : -INFINITY;
            float mx = x;
            for (int o = 16; o > 0; o >>= 1) mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, o));
            const float mn = fmaxf(rm[g], mx);
            const float al = expf(rm[g] - mn);
            const float p = vis ? expf(x - mn) : 0.0f;
            float ps = p;
            for (int o = 16; o > 0; o >>= 1) ps += __shfl_xor_sync(0xffffffffu, ps, o);
            rl[g] = rl[g] * al + ps;
            rm[g] = mn;
            pw[g] = p * vn * isn;
#pragma unroll
            for (int i = 0; i < DPL; i++) acc[g][i] *= al;
        }
#pragma unroll
        for (int j0 = 0; j0 < 32; j0 += VB) {
            if (j0) td_load_v<D, BITS, VB>(vw, vbase, vrow, vhead, c0 + j0, ce, lane);
#pragma unroll
            for (int j = 0; j < VB; j++) {
                if (!((vmask >> (j0 + j)) & 1u)) continue; /* warp-uniform */
                float v[DPL];
#pragma unroll
                for (int i = 0; i < DPL; i++) {
                    int code;
                    if (BITS == 4) {
                        code = (int)((vw[j][0] >> ((4 * DPL * lane) % 32 + 4 * i)) & 15u);
                    } else {
                        code = (int)((vw[j][0] >> ((2 * DPL * lane) % 32 + 2 * i)) & 3u);
                        if (BITS == 3) code |= (int)((vw[j][VW - 1] >> ((DPL * lane) % 32 + i)) & 1u) << 2;
                    }
                    v[i] = cbv[code];
                }
                tn_cu_dec_add_v<MG, DPL>(GB, pw, j0 + j, v, acc);
            }
        }
    }
    /* the warps' states, then the block's ending (td_finish) */
    tn_cu_dec_warp_state<MG, D, DPL>(GB, warp, lane, rm, rl, acc, wm, wl, wacc);
    __syncthreads();
    td_finish<D, MG>(a, &wm[0][0], &wl[0][0], &wacc[0][0], qs, GB, h0, split, t);
}

/* One block per (cell, KV head): the head's values (un-rotated) as f16, for the prefill kernel. */
__global__ void __launch_bounds__(TQ_THREADS) tq_dequant_kernel(const tq_cache c, const tq_geo g, uint32_t seed,
                                                                __half *out, int n_head_kv) {
    __shared__ float x[TQ_MAX_D];
    const int64_t cell = blockIdx.x;
    const int h = blockIdx.y, d = g.d;
    for (int i = threadIdx.x; i < d; i += blockDim.x) {
        const int sb = tq_sub_of(g, i);
        x[i] = tq_load(c, cell, h, i, d, sb, 1.0f / sqrtf((float)g.len[sb]), g.n_sub);
    }
    __syncthreads();
    tq_rotate_smem(x, g, seed, true);
    for (int i = threadIdx.x; i < d; i += blockDim.x)
        out[(cell * n_head_kv + h) * d + i] = __float2half_rn(x[i]);
}

/* The same with one warp per (cell, KV head) for head sizes 64/128/256 (one sub-block) and rows
 * of a multiple of 4 bytes: lane l decodes dims [l * D/32, (l + 1) * D/32) and the inverse
 * Walsh-Hadamard butterflies run in registers (pairs within a lane, then across lanes by
 * shuffles): no shared memory, no barriers. */
template <int D, int BITS>
__global__ void __launch_bounds__(TD_T) tq_dequant_warp(const tq_cache c, uint32_t seed, __half *out,
                                                       int n_head_kv, int64_t n_vec) {
    constexpr int DPL = D / 32;
    const int lane = threadIdx.x & 31;
    const int64_t vec = (int64_t)blockIdx.x * TD_W + (threadIdx.x >> 5);
    if (vec >= n_vec) return;
    const int64_t cell = vec / n_head_kv;
    const int h = (int)(vec % n_head_kv);
    const uint8_t *row = c.base + (size_t)cell * c.row_bytes;
    const uint8_t *hd = row + (size_t)h * c.head_bytes;
    const float nrm = __half2float(*(const __half *)(row + c.norm_off + (size_t)h * 2)) / sqrtf((float)D);
    uint32_t w0, w1 = 0;
    if (BITS == 4) {
        w0 = ((const uint32_t *)hd)[(4 * DPL * lane) / 32];
    } else {
        w0 = ((const uint32_t *)hd)[(2 * DPL * lane) / 32];
        if (BITS == 3) w1 = ((const uint32_t *)(hd + D / 4))[(DPL * lane) / 32];
    }
    float x[DPL];
#pragma unroll
    for (int e = 0; e < DPL; e++) {
        int code;
        if (BITS == 4) {
            code = (int)((w0 >> ((4 * DPL * lane) % 32 + 4 * e)) & 15u);
        } else {
            code = (int)((w0 >> ((2 * DPL * lane) % 32 + 2 * e)) & 3u);
            if (BITS == 3) code |= (int)((w1 >> ((DPL * lane) % 32 + e)) & 1u) << 2;
        }
        x[e] = __fmul_rn(__fmul_rn(nrm, c.cb.c[code]), tq_sign(seed, 1024u + (uint32_t)(lane * DPL + e)));
    }
#pragma unroll
    for (int h2 = 1; h2 < D; h2 <<= 1) {
        if (h2 < DPL) {
#pragma unroll
            for (int e = 0; e < DPL; e++)
                if (!(e & h2)) {
                    const float va = x[e], vb = x[e + h2];
                    x[e] = __fadd_rn(va, vb);
                    x[e + h2] = __fsub_rn(va, vb);
                }
        } else {
            const int m = h2 / DPL;
            const bool lo = !(lane & m);
#pragma unroll
            for (int e = 0; e < DPL; e++) {
                const float o = __shfl_xor_sync(0xffffffffu, x[e], m);
                x[e] = lo ? __fadd_rn(x[e], o) : __fsub_rn(o, x[e]);
            }
        }
    }
    const float sc = 1.0f / sqrtf((float)D);
    __half *dst = out + vec * D + lane * DPL;
#pragma unroll
    for (int e = 0; e < DPL; e++) dst[e] = __float2half_rn(__fmul_rn(x[e], __fmul_rn(tq_sign(seed, (uint32_t)(lane * DPL + e)), sc)));
}

/* Per-thread arrays sized for the head group: MG = GB rounded up to 1, 2, 4 or 8. */
template <int D, int BITS> void td_launch(const td_args &args, dim3 grid, cudaStream_t st) {
    if (args.GB == 1) tq_dec_kernel<D, BITS, 1><<<grid, TD_T, 0, st>>>(args);
    else if (args.GB == 2) tq_dec_kernel<D, BITS, 2><<<grid, TD_T, 0, st>>>(args);
    else if (args.GB <= 4) tq_dec_kernel<D, BITS, 4><<<grid, TD_T, 0, st>>>(args);
    else tq_dec_kernel<D, BITS, TD_MAXG><<<grid, TD_T, 0, st>>>(args);
}

template <int D> void td_launch_bits(const td_args &args, dim3 grid, cudaStream_t st) {
    switch (args.k.bits) {
    case 2: td_launch<D, 2>(args, grid, st); break;
    case 3: td_launch<D, 3>(args, grid, st); break;
    default: td_launch<D, 4>(args, grid, st); break;
    }
}

} // namespace

/* Largest divisor of the GQA group size <= TD_MAXG. */
static int td_group(const tn_cuda_turbo_attn *a) {
    const int G = a->n_head / a->n_head_kv;
    for (int gb = TD_MAXG; gb > 1; gb--)
        if (G % gb == 0) return gb;
    return 1;
}

extern "C" int tn_cuda_turbo_fast_ok(const tn_cuda_turbo_attn *a) {
    const int d = a->head_dim;
    if (a->type_k != a->type_v || !tn_kv_turbo_bits(a->type_k) || !(d == 64 || d == 128 || d == 256))
        return 0;
    const size_t row = tn_kv_row_size(a->type_k, (int64_t)a->n_head_kv * d, d);
    return row % 8 == 0 && a->n_tokens >= 1 && a->n_tokens <= 8;
}

extern "C" int tn_cuda_turbo_decode_launch(const tn_cuda_turbo_attn *a, void *stream) {
    td_args args;
    args.a = *a;
    if (tq_fill_cache(&args.k, a->type_k, a->head_dim, a->n_head_kv, a->k) ||
        tq_fill_cache(&args.v, a->type_v, a->head_dim, a->n_head_kv, a->v))
        return -1;
    args.GB = td_group(a);
    const dim3 grid((unsigned)(a->n_head / args.GB), (unsigned)a->n_split, (unsigned)a->n_tokens);
    cudaStream_t st = (cudaStream_t)stream;
    switch (a->head_dim) {
    case 64: td_launch_bits<64>(args, grid, st); break;
    case 128: td_launch_bits<128>(args, grid, st); break;
    default: td_launch_bits<256>(args, grid, st); break;
    }
    return 0;
}

extern "C" int tn_cuda_turbo_dequant_rows(const tn_cuda_turbo_dequant *q, void *stream) {
    tq_cache c;
    if (!tn_kv_turbo_bits(q->type) || q->head_dim > TQ_MAX_D || !tn_turbo_n_sub(q->head_dim) ||
        tq_fill_cache(&c, q->type, q->head_dim, q->n_head_kv, q->cache))
        return tn_set_error("CUDA TurboQuant dequantize: unsupported type %s or head size %d",
                            tn_kv_type_name(q->type), q->head_dim);
    if (q->n_cells <= 0) return 0;
    const int d = q->head_dim;
    if ((d == 64 || d == 128 || d == 256) && c.row_bytes % 4 == 0) {
        const int64_t n_vec = (int64_t)q->n_cells * q->n_head_kv;
        const dim3 grid((unsigned)((n_vec + TD_W - 1) / TD_W));
        cudaStream_t st = (cudaStream_t)stream;
        __half *out = (__half *)q->out;
#define TD_DQ(D_, B_) tq_dequant_warp<D_, B_><<<grid, TD_T, 0, st>>>(c, q->rot_seed, out, q->n_head_kv, n_vec)
#define TD_DQ_BITS(D_) (c.bits == 2 ? TD_DQ(D_, 2) : c.bits == 3 ? TD_DQ(D_, 3) : TD_DQ(D_, 4))
        if (d == 64) TD_DQ_BITS(64);
        else if (d == 128) TD_DQ_BITS(128);
        else TD_DQ_BITS(256);
#undef TD_DQ_BITS
#undef TD_DQ
    } else {
        tq_geo g;
        tq_fill_geo(&g, d);
        tq_dequant_kernel<<<dim3((unsigned)q->n_cells, (unsigned)q->n_head_kv), TQ_THREADS, 0, (cudaStream_t)stream>>>(
            c, g, q->rot_seed, (__half *)q->out, q->n_head_kv);
    }
    cudaError_t err = cudaGetLastError();
    if (err != cudaSuccess)
        return tn_set_error("CUDA TurboQuant dequantize: launch failed: %s", cudaGetErrorString(err));
    return 0;
}

extern "C" int tn_cuda_turbo_dequant_rows_host(const tn_cuda_turbo_dequant *q, float *out) {
    const size_t row = tn_kv_row_size(q->type, (int64_t)q->n_head_kv * q->head_dim, q->head_dim);
    const size_t n = (size_t)q->n_cells * q->n_head_kv * q->head_dim;
    if (!row || !tn_kv_turbo_bits(q->type)) return tn_cuda_turbo_dequant_rows(q, NULL); /* sets the error */
    tn_cuda_turbo_dequant d = *q;
    void *dc = NULL, *dout = NULL;
    cudaError_t err = cudaMalloc(&dc, row * q->n_cells);
    if (err == cudaSuccess) err = cudaMemcpy(dc, q->cache, row * q->n_cells, cudaMemcpyHostToDevice);
    if (err == cudaSuccess) err = cudaMalloc(&dout, n * sizeof(__half));
    int rc = -1;
    d.cache = dc;
    d.out = dout;
    if (err == cudaSuccess && tn_cuda_turbo_dequant_rows(&d, NULL) == 0) {
        __half *h = (__half *)malloc(n * sizeof(__half));
        err = cudaDeviceSynchronize();
        if (err == cudaSuccess && h) err = cudaMemcpy(h, dout, n * sizeof(__half), cudaMemcpyDeviceToHost);
        if (err == cudaSuccess && h) {
            for (size_t i = 0; i < n; i++) out[i] = __half2float(h[i]);
            rc = 0;
        }
        free(h);
    }
    if (err != cudaSuccess) tn_set_error("CUDA TurboQuant dequantize (test wrapper): %s", cudaGetErrorString(err));
    cudaFree(dc);
    cudaFree(dout);
    return rc;
}
