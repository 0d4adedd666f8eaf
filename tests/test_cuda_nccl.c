/* NCCL all-reduce of tensor parallelism (src/cuda/cuda_nccl.h). Needs a CUDA build; otherwise it
 * says loudly that it skipped and passes. With a CUDA build:
 *   - refusals: 0 ranks and a device listed twice (no GPU needed), more ranks than devices (with
 *     a GPU), each with a message naming the numbers;
 *   - with >= 2 GPUs, for N = 2 .. min(devices, 8): rank r holds x_r[i] = (r + 1) * (i % 1000) -
 *     500 * r, integers below 2^24 whose sums are exact in f32, so the all-reduce must return
 *     sum_r x_r[i] exactly on every rank, for a 1-element and a 3-million-element buffer (the
 *     second spans several NCCL chunks). */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "core/error.h"
#ifdef TN_CUDA
#include "cuda/cuda_backend.h"
#include "cuda/cuda_nccl.h"
#endif

#ifdef TN_CUDA
static void check_sum(tn_nccl *c, size_t n) {
    int N = tn_nccl_size(c);
    float *bufs[8];
    for (int r = 0; r < N; r++) {
        bufs[r] = malloc(n * sizeof(float));
        for (size_t i = 0; i < n; i++) bufs[r][i] = (float)((r + 1) * (long)(i % 1000) - 500 * r);
    }
    int rc = tn_nccl_allreduce_host(c, bufs, n);
    CHECK(rc == 0, "all-reduce of %zu floats over %d GPUs: %s", n, N, tn_last_error());
    size_t bad = 0;
    for (int r = 0; r < N && rc == 0; r++)
        for (size_t i = 0; i < n; i++) {
            long want = 0;
            for (int q = 0; q < N; q++) want += (q + 1) * (long)(i % 1000) - 500 * q;
            bad += bufs[r][i] != (float)want;
        }
    CHECK(bad == 0, "%zu wrong sums (%zu floats, %d GPUs)", bad, n, N);
    for (int r = 0; r < N; r++) free(bufs[r]);
}
#endif

int main(void) {
#ifndef TN_CUDA
    printf("test_cuda_nccl: SKIPPED (not a CUDA build)\n");
    return tn_test_done("test_cuda_nccl");
#else
    char ver[32];
    printf("NCCL %s\n", tn_nccl_version(ver, sizeof ver));
    int count = tn_cuda_device_count();
    CHECK(tn_nccl_new(0, NULL) == NULL && strstr(tn_last_error(), "0 GPUs"), "0 ranks: %s", tn_last_error());
    int twice[2] = {0, 0};
    CHECK(tn_nccl_new(2, twice) == NULL && strstr(tn_last_error(), "listed twice"),
          "duplicate device: %s", tn_last_error());
    if (count >= 1)
        CHECK(tn_nccl_new(count + 1, NULL) == NULL && strstr(tn_last_error(), "visible"),
              "too many ranks: %s", tn_last_error());
    if (count < 2) {
        printf("test_cuda_nccl: all-reduce SKIPPED (%d CUDA device(s), needs 2)\n", count);
        return tn_test_done("test_cuda_nccl");
    }
    for (int N = 2; N <= count && N <= 8; N++) {
        tn_nccl *c = tn_nccl_new(N, NULL);
        CHECK(c != NULL, "communicators over %d GPUs: %s", N, tn_last_error());
        if (!c) continue;
        check_sum(c, 1);
        check_sum(c, 3u << 20);
        printf("  all-reduce over %d GPUs checked\n", N);
        tn_nccl_free(c);
    }
    return tn_test_done("test_cuda_nccl");
#endif
}
