/* Warp-level tensor-core and asynchronous-copy primitives (PTX, sm_80+; the kernels are built
 * for sm_90a), shared by the attention kernels: mma.m16n8k16 with f16 inputs and f32
 * accumulators, ldmatrix (plain and transposed), movmatrix, cp.async with zero fill. */
#ifndef TN_CUDA_CUDA_MMA_CUH
#define TN_CUDA_CUDA_MMA_CUH

#include <cuda_fp16.h>
#include <stdint.h>

/* c += a b for one m16n8k16 tile (PTX fragment layouts). */
__device__ __forceinline__ void tn_cu_mma16816(float c[4], const uint32_t a[4], uint32_t b0, uint32_t b1) {
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, "
                 "{%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
                 : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

__device__ __forceinline__ uint32_t tn_cu_pack_h2(float lo, float hi) {
    __half2 h = __floats2half2_rn(lo, hi);
    return *(uint32_t *)&h;
}

/* cp.async of N = 4, 8 or 16 bytes; ok = false writes zeros instead (src must still be valid). */
template <int N> __device__ __forceinline__ void tn_cu_cp_async(void *dst, const void *src, bool ok) {
    const unsigned s = (unsigned)__cvta_generic_to_shared(dst);
    if constexpr (N == 16)
        asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(s), "l"(src), "r"(ok ? 16 : 0) : "memory");
    else
        asm volatile("cp.async.ca.shared.global [%0], [%1], %2, %3;\n" ::"r"(s), "l"(src), "n"(N), "r"(ok ? N : 0)
                     : "memory");
}
__device__ __forceinline__ void tn_cu_cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::: "memory"); }
/* Waits until at most N of this thread's commit groups are pending. */
template <int N> __device__ __forceinline__ void tn_cu_cp_async_wait() {
    asm volatile("cp.async.wait_group %0;\n" ::"n"(N) : "memory");
}

/* Four 8x8 f16 matrices from shared memory; lane l gives the address of row l % 8 of matrix l / 8. */
__device__ __forceinline__ void tn_cu_ldsm_x4(uint32_t r[4], const __half *p) {
    const unsigned s = (unsigned)__cvta_generic_to_shared(p);
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(s));
}
__device__ __forceinline__ void tn_cu_ldsm_x4_trans(uint32_t r[4], const __half *p) {
    const unsigned s = (unsigned)__cvta_generic_to_shared(p);
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(s));
}
/* The 8x8 f16 matrix whose fragment (row lane/4, cols 2(lane%4), +1) is x, transposed. */
__device__ __forceinline__ uint32_t tn_cu_movmatrix_trans(uint32_t x) {
    uint32_t y;
    asm volatile("movmatrix.sync.aligned.m8n8.trans.b16 %0, %1;\n" : "=r"(y) : "r"(x));
    return y;
}

#endif
