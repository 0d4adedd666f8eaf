/* Dequantization on the device: embedding rows (token ids from the batch buffer) and whole weight
 * chunks to f16 for the prefill GEMM, which runs in cuBLAS (f16 inputs, f32 accumulation and
 * output). The weight is dequantized TN_CU_WH_CHUNK elements at a time into one scratch buffer so
 * the f16 copy of a chunk is still in L2 when the GEMM reads it. */
#include "cuda/cuda_common.cuh"

namespace {

template <int T>
__device__ __forceinline__ void deq_item(const tn_cu_weight w, int64_t row, int64_t it, float y[32]) {
    using Q = tn_cu_qt<T>;
    uint32_t a[Q::QA / 4];
    tn_cu_load_a<Q::QA>(w.a + row * (int64_t)w.a_row + it * Q::QA, a);
    Q::deq(a, w.b + row * (int64_t)w.b_row + it * Q::QB,
           w.s + row * (int64_t)w.s_row + (it / Q::IPS) * Q::QS, (int)(it % Q::IPS), y);
}

__device__ __forceinline__ float float_at(int type, const void *raw, int64_t i) {
    if (type == TN_TYPE_F32) return ((const float *)raw)[i];
    const uint16_t h = ((const uint16_t *)raw)[i];
    return type == TN_TYPE_F16 ? tn_cu_h2f(h) : tn_cu_bf2f(h);
}

/* grid (items / 64, n_tokens) */
template <int T>
__global__ void k_embed_q(float *out, const tn_cu_weight w, const int32_t *tok) {
    tn_cu_pdl_begin();
    tn_cu_pdl_wait();
    const int64_t t = blockIdx.y, it = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (it >= w.n_items) return;
    float y[32];
    deq_item<T>(w, tok[t], it, y);
    float *o = out + t * w.n_in + it * 32;
#pragma unroll
    for (int j = 0; j < 32; j += 4) *(float4 *)(o + j) = make_float4(y[j], y[j + 1], y[j + 2], y[j + 3]);
}

__global__ void k_embed_f(float *out, const tn_cu_weight w, const int32_t *tok) {
    tn_cu_pdl_begin();
    tn_cu_pdl_wait();
    const int64_t t = blockIdx.y, i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= w.n_in) return;
    out[t * w.n_in + i] = float_at(w.type, w.raw, (int64_t)tok[t] * w.n_in + i);
}

/* rows [r0, r0 + nr) -> dst[nr][n_in]. A thread dequantizes one item (Q::deq, A read with one
 * 16-byte load) into shared memory; the block's items are one contiguous span of dst (items of
 * consecutive rows follow each other), which it then writes with coalesced 16-byte stores: written
 * straight from each thread, every store instruction touched 32 separate 64-byte pieces. */
constexpr int DEQ_THREADS = 256;

template <int T>
__global__ void __launch_bounds__(DEQ_THREADS) k_deq_f16(__half *dst, const tn_cu_weight w, int64_t r0, int64_t nr) {
    using Q = tn_cu_qt<T>;
    __shared__ uint4 tile[DEQ_THREADS * 4];
    tn_cu_pdl_begin();
    tn_cu_pdl_wait();
    const int64_t first = (int64_t)blockIdx.x * DEQ_THREADS, n = nr * w.n_items;
    const int64_t idx = first + threadIdx.x;
    if (idx < n) {
        const int64_t r = idx / w.n_items, it = idx % w.n_items;
        float y[32];
        deq_item<T>(w, r0 + r, it, y);
        __half2 h[16];
#pragma unroll
        for (int j = 0; j < 16; j++) h[j] = __floats2half2_rn(y[2 * j], y[2 * j + 1]);
#pragma unroll
        for (int k = 0; k < 4; k++) tile[threadIdx.x * 4 + ((k + threadIdx.x) & 3)] = ((const uint4 *)h)[k];
    }
    __syncthreads();
    const int64_t items = n - first < DEQ_THREADS ? n - first : DEQ_THREADS;
    uint4 *d = (uint4 *)(dst + first * 32);
    for (int i = threadIdx.x; i < items * 4; i += DEQ_THREADS) {
        const int item = i / 4, k = i % 4;
        d[i] = tile[item * 4 + ((k + item) & 3)];
    }
}

__global__ void k_deq_f16_f(__half *dst, const tn_cu_weight w, int64_t r0, int64_t nr) {
    tn_cu_pdl_begin();
    tn_cu_pdl_wait();
    const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= nr * w.n_in) return;
    dst[i] = __float2half_rn(float_at(w.type, w.raw, r0 * w.n_in + i));
}

#define TN_CU_QTYPE_CASES(X)                                                                       \
    X(TN_TYPE_Q4_0)                                                                                \
    X(TN_TYPE_Q4_1)                                                                                \
    X(TN_TYPE_Q5_0)                                                                                \
    X(TN_TYPE_Q5_1)                                                                                \
    X(TN_TYPE_Q8_0)                                                                                \
    X(TN_TYPE_IQ4_NL)                                                                              \
    X(TN_TYPE_MXFP4)                                                                               \
    X(TN_TYPE_IQ4_XS)                                                                              \
    X(TN_TYPE_Q2_K)                                                                                \
    X(TN_TYPE_Q3_K)                                                                                \
    X(TN_TYPE_Q4_K)                                                                                \
    X(TN_TYPE_Q5_K)                                                                                \
    X(TN_TYPE_Q6_K)

void deq_chunk(tn_cu_exec *ex, __half *dst, const tn_cu_weight *w, int64_t r0, int64_t nr) {
    if (tn_cu_is_float(w->type)) {
        const int64_t n = nr * w->n_in;
        tn_cu_launch(ex, k_deq_f16_f, (unsigned)((n + 255) / 256), 256, 0, dst, *w, r0, nr);
        return;
    }
    const unsigned blocks = (unsigned)((nr * w->n_items + DEQ_THREADS - 1) / DEQ_THREADS);
    switch (w->type) {
#define TN_CU_DEQ_CASE(T)                                                                          \
    case T:                                                                                        \
        tn_cu_launch(ex, k_deq_f16<T>, blocks, DEQ_THREADS, 0, dst, *w, r0, nr);                         \
        break;
        TN_CU_QTYPE_CASES(TN_CU_DEQ_CASE)
#undef TN_CU_DEQ_CASE
    default:
        tn_cu_fail(ex, "CUDA: cannot dequantize type %s", tn_type_name(w->type));
    }
}

} // namespace

void tn_cu_embed(tn_cu_exec *ex, float *out, const tn_cu_weight *w, int32_t n_tokens) {
    if (tn_cu_is_float(w->type)) {
        dim3 grid((unsigned)((w->n_in + 255) / 256), (unsigned)n_tokens);
        tn_cu_launch(ex, k_embed_f, grid, 256, 0, out, *w, ex->d_tok);
    } else {
        dim3 grid((unsigned)((w->n_items + 63) / 64), (unsigned)n_tokens);
        switch (w->type) {
#define TN_CU_EMB_CASE(T)                                                                          \
    case T:                                                                                        \
        tn_cu_launch(ex, k_embed_q<T>, grid, 64, 0, out, *w, ex->d_tok);                                 \
        break;
            TN_CU_QTYPE_CASES(TN_CU_EMB_CASE)
#undef TN_CU_EMB_CASE
        default:
            tn_cu_fail(ex, "CUDA: cannot embed with type %s", tn_type_name(w->type));
            return;
        }
    }
    tn_cu_check(ex, "embed");
}

static bool blas_ok(tn_cu_exec *ex, cublasStatus_t st) {
    if (st == CUBLAS_STATUS_SUCCESS) return true;
    tn_cu_fail(ex, "cuBLAS GEMM failed (status %d)", (int)st);
    return false;
}

void tn_cu_gemm(tn_cu_exec *ex, float *out, const tn_cu_weight *w, const float *bias,
                const float *x, const __half *xh, int64_t n_rows) {
    const float one = 1.0f, zero = 0.0f;
    const int k = (int)w->n_in, n = (int)n_rows;
    if (w->type == TN_TYPE_F32) {
        if (!blas_ok(ex, cublasGemmEx(ex->blas, CUBLAS_OP_T, CUBLAS_OP_N, (int)w->n_out, n, k, &one,
                                      w->raw, CUDA_R_32F, k, x, CUDA_R_32F, k, &zero, out,
                                      CUDA_R_32F, (int)w->n_out, CUBLAS_COMPUTE_32F,
                                      CUBLAS_GEMM_DEFAULT)))
            return;
    } else if (w->type == TN_TYPE_F16) {
        if (!blas_ok(ex, cublasGemmEx(ex->blas, CUBLAS_OP_T, CUBLAS_OP_N, (int)w->n_out, n, k, &one,
                                      w->raw, CUDA_R_16F, k, xh, CUDA_R_16F, k, &zero, out,
                                      CUDA_R_32F, (int)w->n_out, CUBLAS_COMPUTE_32F,
                                      CUBLAS_GEMM_DEFAULT)))
            return;
    } else {
        int64_t per = TN_CU_WH_CHUNK / w->n_in;
        if (per < 1) per = 1;
        if (per > 128) per -= per % 128;
        for (int64_t r0 = 0; r0 < w->n_out; r0 += per) {
            const int64_t nr = w->n_out - r0 < per ? w->n_out - r0 : per;
            deq_chunk(ex, ex->wh, w, r0, nr);
            if (!tn_cu_check(ex, "dequantize")) return;
            if (!blas_ok(ex, cublasGemmEx(ex->blas, CUBLAS_OP_T, CUBLAS_OP_N, (int)nr, n, k, &one,
                                          ex->wh, CUDA_R_16F, k, xh, CUDA_R_16F, k, &zero, out + r0,
                                          CUDA_R_32F, (int)w->n_out, CUBLAS_COMPUTE_32F,
                                          CUBLAS_GEMM_DEFAULT)))
                return;
        }
    }
    if (bias) tn_cu_add_bias(ex, out, bias, n_rows, w->n_out);
}
