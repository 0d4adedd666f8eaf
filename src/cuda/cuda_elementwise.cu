/* Small CUDA kernels: RMSNorm (optionally fused with the int8 quantization of its output for the
 * next mat-vec), activation quantization, residual add, SwiGLU, logits-row gather, f32 -> f16
 * conversion and bias add. Float expressions follow the CPU backend (sum of squares in double,
 * x * s * w) so both backends agree closely. */
#include "cuda/cuda_common.cuh"

/* Block-wide sum of a double (blockDim.x a multiple of 32, <= 1024). */
static __device__ double block_sum(double v, double *sh) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, nw = blockDim.x >> 5;
    if (lane == 0) sh[warp] = v;
    __syncthreads();
    double t = 0;
    for (int i = 0; i < nw; i++) t += sh[i];
    __syncthreads();
    return t;
}

/* Quantizes one 32-element item held in registers and stores it (two 16-byte stores). */
static __device__ __forceinline__ void store_item(const float *y, int8_t *xq, tn_cu_xmeta *xm) {
    int8_t q[32];
    tn_cu_quant_item(y, q, xm);
    int4 w0, w1;
    memcpy(&w0, q, 16);
    memcpy(&w1, q + 16, 16);
    ((int4 *)xq)[0] = w0;
    ((int4 *)xq)[1] = w1;
}

/* One block per row. If xq is set (dim % 32 == 0), the normalized row is also quantized. */
static __global__ void k_rmsnorm(float *out, const float *x, const float *w, int64_t dim, float eps,
                                 int8_t *xq, tn_cu_xmeta *xm) {
    tn_cu_pdl_begin();
    tn_cu_pdl_wait();
    __shared__ double sh[32];
    const int64_t r = blockIdx.x;
    const float *xr = x + r * dim;
    float *yr = out + r * dim;
    double ss = 0;
    for (int64_t i = threadIdx.x; i < dim; i += blockDim.x) ss += (double)xr[i] * xr[i];
    ss = block_sum(ss, sh);
    const float s = (float)(1.0 / sqrt(ss / (double)dim + (double)eps));
    if (!xq) {
        for (int64_t i = threadIdx.x; i < dim; i += blockDim.x) yr[i] = xr[i] * s * w[i];
        return;
    }
    const int64_t n_items = dim / 32;
    for (int64_t it = threadIdx.x; it < n_items; it += blockDim.x) {
        float y[32];
#pragma unroll
        for (int j = 0; j < 32; j += 4) {
            float4 v = *(const float4 *)(xr + it * 32 + j);
            float4 g = *(const float4 *)(w + it * 32 + j);
            y[j] = v.x * s * g.x;
            y[j + 1] = v.y * s * g.y;
            y[j + 2] = v.z * s * g.z;
            y[j + 3] = v.w * s * g.w;
            *(float4 *)(yr + it * 32 + j) = make_float4(y[j], y[j + 1], y[j + 2], y[j + 3]);
        }
        store_item(y, xq + r * dim + it * 32, xm + r * n_items + it);
    }
}

/* The same for rows of dim % 4 == 0 with at most 4 float4 per thread (dim <= 16384): every load
 * of the row is issued at once (one memory round trip instead of one per loop step), and each
 * 32-element item is quantized by the 8 threads that hold it (shuffles), with the exact
 * arithmetic of tn_cu_quant_item. */
constexpr int RN_V = 4;

static __global__ void __launch_bounds__(1024) k_rmsnorm4(float *out, const float *x, const float *w, int64_t dim,
                                                          float eps, int8_t *xq, tn_cu_xmeta *xm) {
    tn_cu_pdl_begin();
    __shared__ double sh[32];
    const int64_t r = blockIdx.x;
    const int n4 = (int)(dim / 4), bd = blockDim.x, tid = threadIdx.x, lane = tid & 31;
    /* the norm weights are constant: fetched before waiting for the previous kernel */
    float4 gw[RN_V];
#pragma unroll
    for (int k = 0; k < RN_V; k++) {
        const int i4 = tid + k * bd;
        gw[k] = i4 < n4 ? ((const float4 *)w)[i4] : make_float4(0.f, 0.f, 0.f, 0.f);
    }
    tn_cu_pdl_wait();
    const float4 *xr = (const float4 *)(x + r * dim);
    float4 v[RN_V];
    double ss = 0;
#pragma unroll
    for (int k = 0; k < RN_V; k++) {
        const int i4 = tid + k * bd;
        v[k] = i4 < n4 ? xr[i4] : make_float4(0.f, 0.f, 0.f, 0.f);
    }
#pragma unroll
    for (int k = 0; k < RN_V; k++)
        ss += (double)v[k].x * v[k].x + (double)v[k].y * v[k].y + (double)v[k].z * v[k].z + (double)v[k].w * v[k].w;
    ss = block_sum(ss, sh);
    const float s = (float)(1.0 / sqrt(ss / (double)dim + (double)eps));
#pragma unroll
    for (int k = 0; k < RN_V; k++) {
        const int i4 = tid + k * bd;
        const bool act = i4 < n4;
        float4 y = make_float4(0.f, 0.f, 0.f, 0.f);
        if (act) {
            const float4 g = gw[k];
            y = make_float4(v[k].x * s * g.x, v[k].y * s * g.y, v[k].z * s * g.z, v[k].w * s * g.w);
            ((float4 *)(out + r * dim))[i4] = y;
        }
        if (!xq) continue;
        float amax = fmaxf(fmaxf(fabsf(y.x), fabsf(y.y)), fmaxf(fabsf(y.z), fabsf(y.w)));
        for (int o = 1; o < 8; o <<= 1) amax = fmaxf(amax, __shfl_xor_sync(0xffffffffu, amax, o));
        const float d = amax / 127.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        const int q0 = (int)roundf(y.x * id), q1 = (int)roundf(y.y * id), q2 = (int)roundf(y.z * id),
                  q3 = (int)roundf(y.w * id);
        int sum = q0 + q1 + q2 + q3;
        for (int o = 1; o < 4; o <<= 1) sum += __shfl_xor_sync(0xffffffffu, sum, o);
        const int s1 = __shfl_down_sync(0xffffffffu, sum, 4);
        if (!act) continue;
        ((uint32_t *)(xq + r * dim))[i4] = (uint32_t)(uint8_t)q0 | (uint32_t)(uint8_t)q1 << 8 |
                                           (uint32_t)(uint8_t)q2 << 16 | (uint32_t)(uint8_t)q3 << 24;
        if ((lane & 7) == 0) {
            tn_cu_xmeta m;
            m.d = d;
            m.s0 = (int16_t)sum;
            m.s1 = (int16_t)s1;
            xm[r * (dim / 32) + i4 / 8] = m;
        }
    }
}

void tn_cu_rmsnorm(tn_cu_exec *ex, float *out, const float *x, const float *w, int64_t n_rows,
                   int64_t dim, float eps, int8_t *xq, tn_cu_xmeta *xm) {
    const int64_t n4 = dim / 4;
    if (dim % 4 == 0 && n4 <= 1024 * RN_V && (!xq || dim % 32 == 0)) {
        int bd = (int)((n4 + RN_V - 1) / RN_V);
        bd = (bd + 31) / 32 * 32;
        tn_cu_launch(ex, k_rmsnorm4, (unsigned)n_rows, bd, 0, out, x, w, dim, eps, xq, xm);
    } else {
        tn_cu_launch(ex, k_rmsnorm, (unsigned)n_rows, 256, 0, out, x, w, dim, eps, xq, xm);
    }
    tn_cu_check(ex, "rmsnorm");
}

static __global__ void k_quantize(const float *x, int64_t n_in, int8_t *xq, tn_cu_xmeta *xm) {
    tn_cu_pdl_begin();
    tn_cu_pdl_wait();
    const int64_t r = blockIdx.y, n_items = n_in / 32;
    const int64_t it = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (it >= n_items) return;
    float y[32];
    const float *xr = x + r * n_in + it * 32;
#pragma unroll
    for (int j = 0; j < 32; j += 4) {
        float4 v = *(const float4 *)(xr + j);
        y[j] = v.x;
        y[j + 1] = v.y;
        y[j + 2] = v.z;
        y[j + 3] = v.w;
    }
    store_item(y, xq + r * n_in + it * 32, xm + r * n_items + it);
}

void tn_cu_quantize(tn_cu_exec *ex, const float *x, int64_t n_rows, int64_t n_in, int8_t *xq,
                    tn_cu_xmeta *xm) {
    const int64_t n_items = n_in / 32;
    dim3 grid((unsigned)((n_items + 63) / 64), (unsigned)n_rows);
    tn_cu_launch(ex, k_quantize, grid, 64, 0, x, n_in, xq, xm);
    tn_cu_check(ex, "quantize");
}

static __global__ void k_add(float *x, const float *y, int64_t n) {
    tn_cu_pdl_begin();
    tn_cu_pdl_wait();
    int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) x[i] += y[i];
}

void tn_cu_add(tn_cu_exec *ex, float *x, const float *y, int64_t n) {
    tn_cu_launch(ex, k_add, (unsigned)((n + 255) / 256), 256, 0, x, y, n);
    tn_cu_check(ex, "add");
}

static __global__ void k_swiglu(float *out, const float *g, const float *u, int64_t n) {
    tn_cu_pdl_begin();
    tn_cu_pdl_wait();
    int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) {
        float v = g[i];
        out[i] = v / (1.0f + expf(-v)) * u[i];
    }
}

void tn_cu_swiglu(tn_cu_exec *ex, float *out, const float *g, const float *u, int64_t n) {
    tn_cu_launch(ex, k_swiglu, (unsigned)((n + 255) / 256), 256, 0, out, g, u, n);
    tn_cu_check(ex, "swiglu");
}

static __global__ void k_get_rows(float *out, const float *x, int64_t dim, const int32_t *rows) {
    tn_cu_pdl_begin();
    tn_cu_pdl_wait();
    const int64_t j = blockIdx.x;
    const float *src = x + (int64_t)rows[j] * dim;
    for (int64_t i = threadIdx.x; i < dim; i += blockDim.x) out[j * dim + i] = src[i];
}

void tn_cu_get_rows(tn_cu_exec *ex, float *out, const float *x, int64_t dim, int32_t n_out) {
    tn_cu_launch(ex, k_get_rows, (unsigned)n_out, 256, 0, out, x, dim, ex->d_orow);
    tn_cu_check(ex, "get_rows");
}

static __global__ void k_to_half(__half *dst, const float *src, int64_t n) {
    tn_cu_pdl_begin();
    tn_cu_pdl_wait();
    int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) dst[i] = __float2half_rn(src[i]);
}

void tn_cu_to_half(tn_cu_exec *ex, __half *dst, const float *src, int64_t n) {
    tn_cu_launch(ex, k_to_half, (unsigned)((n + 255) / 256), 256, 0, dst, src, n);
    tn_cu_check(ex, "to_half");
}

static __global__ void k_add_bias(float *out, const float *bias, int64_t n_out, int64_t n) {
    tn_cu_pdl_begin();
    tn_cu_pdl_wait();
    int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) out[i] += bias[i % n_out];
}

void tn_cu_add_bias(tn_cu_exec *ex, float *out, const float *bias, int64_t n_rows, int64_t n_out) {
    int64_t n = n_rows * n_out;
    tn_cu_launch(ex, k_add_bias, (unsigned)((n + 255) / 256), 256, 0, out, bias, n_out, n);
    tn_cu_check(ex, "add_bias");
}
