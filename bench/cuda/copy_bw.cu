// Device-to-device copy bandwidth (bytes read + bytes written per second), the ceiling tern bench
// compares generation speed with (--bw). 2 GiB buffers, 3 warm-ups, best and median of 20 copies
// timed with CUDA events.
#include <algorithm>
#include <cstdio>
#include <cuda_runtime.h>
#include <vector>

int main() {
    const size_t n = (size_t)2 << 30;
    void *a, *b;
    if (cudaMalloc(&a, n) != cudaSuccess || cudaMalloc(&b, n) != cudaSuccess) {
        fprintf(stderr, "cudaMalloc failed\n");
        return 1;
    }
    cudaMemset(a, 1, n);
    cudaEvent_t e0, e1;
    cudaEventCreate(&e0);
    cudaEventCreate(&e1);
    for (int i = 0; i < 3; i++) cudaMemcpy(b, a, n, cudaMemcpyDeviceToDevice);
    std::vector<float> ms;
    for (int i = 0; i < 20; i++) {
        cudaEventRecord(e0);
        cudaMemcpyAsync(b, a, n, cudaMemcpyDeviceToDevice);
        cudaEventRecord(e1);
        cudaEventSynchronize(e1);
        float t;
        cudaEventElapsedTime(&t, e0, e1);
        ms.push_back(t);
    }
    std::sort(ms.begin(), ms.end());
    printf("copy_bw: %zu MiB D2D, best %.1f GB/s, median %.1f GB/s (read+write)\n", n >> 20,
           2.0 * n / (ms[0] * 1e6), 2.0 * n / (ms[10] * 1e6));
    return 0;
}
