/* C entry points of the CUDA backend besides tn_backend_cuda_new() (declared in ops/ops.h): what
 * tests and tools need to know about the device without including CUDA headers. Only present in
 * builds with CUDA=1 (TN_CUDA defined). */
#ifndef TN_CUDA_CUDA_BACKEND_H
#define TN_CUDA_CUDA_BACKEND_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Number of CUDA devices the runtime can use (0 if none or the driver is missing). */
int tn_cuda_device_count(void);
/* Name of device 0 (empty if none). */
const char *tn_cuda_device_name(char *buf, size_t cap);
/* Host-only check of the device weight layouts: quantizes random rows of every supported type,
 * repacks them, and compares the per-item dequantization (must be bit-identical to the CPU
 * reference) and dot products (against a float64 reference). Needs no GPU. Returns 0 on success,
 * else -1 with a description in msg. */
int tn_cuda_selftest_layouts(char *msg, size_t cap);
/* Device check of the sampler's top-k (cuda_sample.cu) on rows with many ties, -inf and
 * penalised ids, against a full sort of the row on the host. Needs a GPU. 0 on success, else -1
 * with a description in msg. */
int tn_cuda_selftest_top_k(char *msg, size_t cap);

#ifdef __cplusplus
}
#endif

#endif
