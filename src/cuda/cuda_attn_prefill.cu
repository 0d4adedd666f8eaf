/* Prefill attention on the device: a tensor-core (mma.sync m16n8k16, f16 in, f32 accumulate)
 * flash-attention kernel for batches of more than TN_CU_MAX_NR tokens. Visibility as in
 * cuda_attention.cu: per (token, cell) from the batch buffers, the CPU backend's rule. */
#include <float.h>

#include "cuda/cuda_attn_decode.cuh"

namespace {

/* 8 cache elements at index i (a multiple of 8) as f16: an f16 cache's 16 bytes as they are, an
 * f32 cache's values rounded. */
__device__ __forceinline__ uint4 load8h(const void *cache, int type, int64_t i) {
    if (type == TN_TYPE_F16) return *(const uint4 *)((const __half *)cache + i);
    const float4 x = *(const float4 *)((const float *)cache + i);
    const float4 y = *(const float4 *)((const float *)cache + i + 4);
    return make_uint4(tn_cu_pack_h2(x.x, x.y), tn_cu_pack_h2(x.z, x.w), tn_cu_pack_h2(y.x, y.y), tn_cu_pack_h2(y.z, y.w));
}

/* ---- tensor-core prefill attention ----
 * grid (ceil(n_tokens / (64 / G)), n_head_kv), 128 threads. The block's 64 rows are (token,
 * query head) pairs of one KV head; warp w owns rows 16w..16w+15 (one m16 tile). K/V tiles of 32
 * cells go through shared memory as f16; S = Q K^T and O += P V use mma.m16n8k16 with the
 * accumulator layout (row lane/4 (+8), cols 2*(lane%4) (+1)), so the online softmax runs on
 * registers. Tiles no row of the block may see are skipped. */
constexpr int AP_ROWS = 64, AP_TILE = 32;

__device__ __forceinline__ uint32_t pack_hh(__half lo, __half hi) {
    __half2 h = __halves2half2(lo, hi);
    return *(uint32_t *)&h;
}

template <int HD> constexpr int ap_smem_bytes() {
    return (AP_ROWS + 2 * AP_TILE) * (HD + 8) * 2 + (2 * AP_TILE + 2 * AP_ROWS) * 4;
}

template <int HD>
__global__ void __launch_bounds__(128) k_attn_pre(float *out, const float *q, const tn_cu_attn a,
                                                  int G, int n_tokens, const int32_t *tpos,
                                                  const int32_t *tseq, const int32_t *cpos_g,
                                                  const int32_t *cseq_g, const int32_t *meta) {
    tn_cu_pdl_begin();
    tn_cu_pdl_wait();
    constexpr int LD = HD + 8;
    extern __shared__ __align__(16) uint8_t smem[];
    __half *Qs = (__half *)smem;
    __half *Ks = Qs + AP_ROWS * LD;
    __half *Vs = Ks + AP_TILE * LD;
    int *cpos = (int *)(Vs + AP_TILE * LD);
    int *cseq = cpos + AP_TILE;
    int *rpos = cseq + AP_TILE;
    int *rseq = rpos + AP_ROWS;
    const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31, g = lane >> 2, t4 = lane & 3;
    const int TPB = AP_ROWS / G, tok0 = blockIdx.x * TPB, kvh = blockIdx.y;
    const int64_t qstride = (int64_t)a.n_head * HD;
    for (int r = tid; r < AP_ROWS; r += 128) {
        const int tok = tok0 + r / G;
        const bool ok = tok < n_tokens;
        rpos[r] = ok ? tpos[tok] : -1;
        rseq[r] = ok ? tseq[tok] : -2;
    }
    for (int idx = tid; idx < AP_ROWS * HD / 4; idx += 128) {
        const int r = idx / (HD / 4), c4 = idx % (HD / 4);
        const int tok = tok0 + r / G, head = kvh * G + r % G;
        float4 v = make_float4(0.f, 0.f, 0.f, 0.f);
        if (tok < n_tokens) v = *(const float4 *)(q + tok * qstride + (int64_t)head * HD + c4 * 4);
        uint32_t *d = (uint32_t *)(Qs + r * LD + c4 * 4);
        d[0] = tn_cu_pack_h2(v.x, v.y);
        d[1] = tn_cu_pack_h2(v.z, v.w);
    }
    __syncthreads();
    uint32_t qf[HD / 16][4];
    const int r0 = 16 * warp + g, r1 = r0 + 8;
#pragma unroll
    for (int kk = 0; kk < HD / 16; kk++) {
        const __half *p = Qs + r0 * LD + kk * 16 + 2 * t4;
        qf[kk][0] = *(const uint32_t *)p;
        qf[kk][1] = *(const uint32_t *)(p + 8 * LD);
        qf[kk][2] = *(const uint32_t *)(p + 8);
        qf[kk][3] = *(const uint32_t *)(p + 8 * LD + 8);
    }
    const int p0 = rpos[r0], s0 = rseq[r0], p1 = rpos[r1], s1 = rseq[r1];
    float o[HD / 8][4];
#pragma unroll
    for (int n = 0; n < HD / 8; n++) o[n][0] = o[n][1] = o[n][2] = o[n][3] = 0.0f;
    float m0 = -INFINITY, m1 = -INFINITY, l0 = 0.0f, l1 = 0.0f;
    const int n_kv = meta[0];
    for (int c0 = 0; c0 < n_kv; c0 += AP_TILE) {
        __syncthreads();
        if (tid < AP_TILE) {
            const int c = c0 + tid;
            cpos[tid] = c < n_kv ? cpos_g[c] : -1;
            cseq[tid] = c < n_kv ? cseq_g[c] : -1;
        }
        __syncthreads();
        bool any = false;
        for (int pr = tid; pr < AP_TILE * TPB; pr += 128) {
            const int cell = pr % AP_TILE, rr = (pr / AP_TILE) * G;
            any |= cseq[cell] == rseq[rr] && cpos[cell] >= 0 && cpos[cell] <= rpos[rr];
        }
        if (!__syncthreads_or(any)) continue;
        for (int idx = tid; idx < AP_TILE * HD / 8; idx += 128) {
            const int cell = idx / (HD / 8), ch = idx % (HD / 8);
            uint4 kv = make_uint4(0, 0, 0, 0), vv = make_uint4(0, 0, 0, 0);
            if (cpos[cell] >= 0 && cseq[cell] >= 0) {
                const int64_t c = c0 + cell;
                kv = load8h(a.k, a.type_k, c * a.n_embd_k + kvh * HD + ch * 8);
                vv = load8h(a.v, a.type_v, c * a.n_embd_v + kvh * HD + ch * 8);
            }
            *(uint4 *)(Ks + cell * LD + ch * 8) = kv;
            *(uint4 *)(Vs + cell * LD + ch * 8) = vv;
        }
        __syncthreads();
        float s[4][4];
#pragma unroll
        for (int j = 0; j < 4; j++) {
            s[j][0] = s[j][1] = s[j][2] = s[j][3] = 0.0f;
#pragma unroll
            for (int kk = 0; kk < HD / 16; kk++) {
                const __half *kp = Ks + (8 * j + g) * LD + kk * 16 + 2 * t4;
                tn_cu_mma16816(s[j], qf[kk], *(const uint32_t *)kp, *(const uint32_t *)(kp + 8));
            }
        }
        float mx0 = -INFINITY, mx1 = -INFINITY;
#pragma unroll
        for (int j = 0; j < 4; j++)
#pragma unroll
            for (int e = 0; e < 4; e++) {
                const int cell = 8 * j + 2 * t4 + (e & 1);
                const int pr = e < 2 ? p0 : p1, sr = e < 2 ? s0 : s1;
                const bool ok = cseq[cell] == sr && cpos[cell] >= 0 && cpos[cell] <= pr;
                const float v = ok ? s[j][e] * a.scale : -INFINITY;
                s[j][e] = v;
                if (e < 2) mx0 = fmaxf(mx0, v);
                else mx1 = fmaxf(mx1, v);
            }
        for (int off = 1; off <= 2; off <<= 1) {
            mx0 = fmaxf(mx0, __shfl_xor_sync(0xffffffffu, mx0, off));
            mx1 = fmaxf(mx1, __shfl_xor_sync(0xffffffffu, mx1, off));
        }
        const float mn0 = fmaxf(m0, mx0), mn1 = fmaxf(m1, mx1);
        const float al0 = mn0 == -INFINITY ? 1.0f : expf(m0 - mn0);
        const float al1 = mn1 == -INFINITY ? 1.0f : expf(m1 - mn1);
        float ps0 = 0.0f, ps1 = 0.0f;
#pragma unroll
        for (int j = 0; j < 4; j++)
#pragma unroll
            for (int e = 0; e < 4; e++) {
                const float mn = e < 2 ? mn0 : mn1;
                const float p = s[j][e] == -INFINITY ? 0.0f : expf(s[j][e] - mn);
                s[j][e] = p;
                if (e < 2) ps0 += p;
                else ps1 += p;
            }
        l0 = l0 * al0 + ps0;
        l1 = l1 * al1 + ps1;
        m0 = mn0;
        m1 = mn1;
#pragma unroll
        for (int n = 0; n < HD / 8; n++) {
            o[n][0] *= al0;
            o[n][1] *= al0;
            o[n][2] *= al1;
            o[n][3] *= al1;
        }
        uint32_t pa[2][4];
#pragma unroll
        for (int k2 = 0; k2 < 2; k2++) {
            pa[k2][0] = tn_cu_pack_h2(s[2 * k2][0], s[2 * k2][1]);
            pa[k2][1] = tn_cu_pack_h2(s[2 * k2][2], s[2 * k2][3]);
            pa[k2][2] = tn_cu_pack_h2(s[2 * k2 + 1][0], s[2 * k2 + 1][1]);
            pa[k2][3] = tn_cu_pack_h2(s[2 * k2 + 1][2], s[2 * k2 + 1][3]);
        }
#pragma unroll
        for (int n = 0; n < HD / 8; n++)
#pragma unroll
            for (int k2 = 0; k2 < 2; k2++) {
                const __half *vb = Vs + (16 * k2 + 2 * t4) * LD + 8 * n + g;
                tn_cu_mma16816(o[n], pa[k2], pack_hh(vb[0], vb[LD]), pack_hh(vb[8 * LD], vb[9 * LD]));
            }
    }
    for (int off = 1; off <= 2; off <<= 1) {
        l0 += __shfl_xor_sync(0xffffffffu, l0, off);
        l1 += __shfl_xor_sync(0xffffffffu, l1, off);
    }
    const float inv0 = l0 > 0.0f ? 1.0f / l0 : 0.0f, inv1 = l1 > 0.0f ? 1.0f / l1 : 0.0f;
    const int tokA = tok0 + r0 / G, tokB = tok0 + r1 / G;
    const int hA = kvh * G + r0 % G, hB = kvh * G + r1 % G;
#pragma unroll
    for (int n = 0; n < HD / 8; n++) {
        if (tokA < n_tokens)
            *(float2 *)(out + tokA * qstride + (int64_t)hA * HD + 8 * n + 2 * t4) =
                make_float2(o[n][0] * inv0, o[n][1] * inv0);
        if (tokB < n_tokens)
            *(float2 *)(out + tokB * qstride + (int64_t)hB * HD + 8 * n + 2 * t4) =
                make_float2(o[n][2] * inv1, o[n][3] * inv1);
    }
}

template <int HD>
void launch_pre(tn_cu_exec *ex, float *out, const float *q, const tn_cu_attn *a, int32_t n_tokens) {
    const int G = a->n_head / a->n_head_kv, TPB = AP_ROWS / G;
    constexpr int smem = ap_smem_bytes<HD>();
    if (smem > 48 * 1024 &&
        cudaFuncSetAttribute(k_attn_pre<HD>, cudaFuncAttributeMaxDynamicSharedMemorySize, smem) !=
            cudaSuccess) {
        tn_cu_check(ex, "attention smem attribute");
        return;
    }
    dim3 grid((unsigned)((n_tokens + TPB - 1) / TPB), (unsigned)a->n_head_kv);
    tn_cu_launch(ex, k_attn_pre<HD>, grid, 128, smem, out, q, *a, G, n_tokens, ex->d_pos, ex->d_seq,
                                                ex->d_cpos, ex->d_cseq, ex->d_meta);
}

} // namespace

bool tn_cu_attn_use_prefill(const tn_cu_attn *a, int32_t n_tokens) {
    const int G = a->n_head / a->n_head_kv;
    return n_tokens > TN_CU_MAX_NR && AP_ROWS % G == 0;
}

void tn_cu_attn_prefill(tn_cu_exec *ex, float *out, const float *q, const tn_cu_attn *a, int32_t n_tokens) {
    switch (a->head_dim) {
    case 32: launch_pre<32>(ex, out, q, a, n_tokens); break;
    case 64: launch_pre<64>(ex, out, q, a, n_tokens); break;
    case 128: launch_pre<128>(ex, out, q, a, n_tokens); break;
    default: launch_pre<256>(ex, out, q, a, n_tokens); break;
    }
    tn_cu_check(ex, "attention (prefill)");
}
