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

/* Bulk copies (the TMA unit, sm_90) completing on an mbarrier, for rings of stages: a stage's
 * barrier (count 1) gets one arrive with the stage's byte count (tn_cu_mbar_expect_tx), each copy
 * counts its bytes down, and the consumer waits for the use's phase parity (0, 1, 0, ...). */
__device__ __forceinline__ unsigned tn_cu_smem_addr(const void *p) { return (unsigned)__cvta_generic_to_shared(p); }
__device__ __forceinline__ void tn_cu_mbar_init(uint64_t *bar, unsigned count) {
    asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;\n" ::"r"(tn_cu_smem_addr(bar)), "r"(count) : "memory");
}
/* makes the initialized barriers visible to the asynchronous proxy (the copies) */
__device__ __forceinline__ void tn_cu_mbar_init_fence() { asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory"); }
__device__ __forceinline__ void tn_cu_mbar_expect_tx(uint64_t *bar, unsigned bytes) {
    asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;\n" ::"r"(tn_cu_smem_addr(bar)), "r"(bytes)
                 : "memory");
}
__device__ __forceinline__ void tn_cu_mbar_wait(uint64_t *bar, unsigned parity) {
    asm volatile("{\n.reg .pred done;\nWAIT:\n"
                 "mbarrier.try_wait.parity.shared::cta.b64 done, [%0], %1;\n"
                 "@!done bra WAIT;\n}\n" ::"r"(tn_cu_smem_addr(bar)),
                 "r"(parity)
                 : "memory");
}
/* bytes (a multiple of 16; both addresses 16-byte aligned) from global to shared memory */
__device__ __forceinline__ void tn_cu_bulk_g2s(void *dst, const void *src, unsigned bytes, uint64_t *bar) {
    asm volatile("cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1], %2, [%3];\n" ::"r"(
                     tn_cu_smem_addr(dst)),
                 "l"(src), "r"(bytes), "r"(tn_cu_smem_addr(bar))
                 : "memory");
}
/* orders this thread's earlier generic-proxy memory accesses before its later asynchronous-proxy
 * ones (a stage read by the threads, then overwritten by a bulk copy; a cache row stored by the
 * kernel, then read by one) */
__device__ __forceinline__ void tn_cu_fence_proxy_async() { asm volatile("fence.proxy.async;\n" ::: "memory"); }

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
