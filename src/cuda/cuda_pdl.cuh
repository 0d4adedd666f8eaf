/* Programmatic dependent launch (Hopper), shared by the backend's kernels (cuda_common.cuh) and
 * the TurboQuant kernels behind their C API (cuda_turbo.h).
 * A kernel launched with tn_cu_launch_on(..., pdl = true, ...) may start while the previous one in
 * the stream is finishing (also inside CUDA graphs). Such a kernel calls tn_cu_pdl_begin() first
 * (its successor may then be scheduled as soon as SM resources free up) and tn_cu_pdl_wait()
 * before it touches any buffer an earlier kernel writes or reads: the wait returns once the
 * previous grid has completed and its writes are visible. Only loads of data no kernel writes
 * during the step (weights; metadata uploaded before the step) may come before the wait.
 * Without the launch attribute both calls are no-ops. */
#ifndef TN_CUDA_CUDA_PDL_CUH
#define TN_CUDA_CUDA_PDL_CUH

#include <cuda_runtime.h>

__device__ __forceinline__ void tn_cu_pdl_begin() { asm volatile("griddepcontrol.launch_dependents;" ::: "memory"); }
__device__ __forceinline__ void tn_cu_pdl_wait() { asm volatile("griddepcontrol.wait;" ::: "memory"); }

template <typename... P, typename... A>
static inline cudaError_t tn_cu_launch_on(cudaStream_t st, bool pdl, void (*kernel)(P...), dim3 grid, dim3 block,
                                          size_t smem, A &&...args) {
    cudaLaunchAttribute at[1];
    at[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
    at[0].val.programmaticStreamSerializationAllowed = 1;
    cudaLaunchConfig_t cfg = {};
    cfg.gridDim = grid;
    cfg.blockDim = block;
    cfg.dynamicSmemBytes = smem;
    cfg.stream = st;
    cfg.attrs = at;
    cfg.numAttrs = pdl ? 1 : 0;
    return cudaLaunchKernelEx(&cfg, kernel, static_cast<A &&>(args)...);
}

#endif
