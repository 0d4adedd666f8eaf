/* NCCL communicators for tensor parallelism (issue 7, docs/tensor-parallel.md): one process
 * drives N local GPUs, one communicator per device (ncclCommInitAll), and the row-parallel
 * matmuls' partial sums are added in place with one f32 all-reduce per block.
 * C API; only in CUDA=1 builds (links -lnccl). Errors name the NCCL call, the rank and device,
 * and NCCL's message (ncclGetErrorString / ncclGetLastError). */
#ifndef TN_CUDA_CUDA_NCCL_H
#define TN_CUDA_CUDA_NCCL_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tn_nccl tn_nccl;

/* Communicators over `n` local devices: devices[r] is rank r's CUDA ordinal (NULL: 0 .. n-1).
 * NULL with an error if n < 1, a device is missing or listed twice, or NCCL fails. */
tn_nccl *tn_nccl_new(int n, const int *devices);
void tn_nccl_free(tn_nccl *c);
int tn_nccl_size(const tn_nccl *c);
int tn_nccl_device(const tn_nccl *c, int rank);

/* In-place sum of n floats over all ranks: bufs[r] is device memory on rank r's device and
 * streams[r] a cudaStream_t of that device (NULL entries or streams == NULL: the legacy default
 * stream). One thread issues every rank's call inside ncclGroupStart/End (a single-threaded
 * driver would deadlock otherwise). Enqueues only: synchronize the streams before reading. */
int tn_nccl_allreduce_f32(tn_nccl *c, float *const *bufs, size_t n, void *const *streams);

/* Test helper: uploads host_bufs[r] (n floats each) to rank r's device, all-reduces them on a
 * fresh stream per device, and downloads the sums back into every host_bufs[r]. */
int tn_nccl_allreduce_host(tn_nccl *c, float *const *host_bufs, size_t n);

/* "2.28.3" (the linked library's version). */
const char *tn_nccl_version(char *buf, size_t cap);

#ifdef __cplusplus
}
#endif

#endif
