/* Micro-benchmark of the CPU dot-product kernels (formats/types.h): a matrix-vector product, one
 * thread, every weight row dotted with the same activation row (the decode hot loop), reported as
 * GB/s of weight bytes read, per type and SIMD level.
 *
 * Two sizes: "L2" (a 512 KiB weight matrix swept repeatedly: kernel speed with the data in cache)
 * and "DRAM" (256 MiB: what a real model's weights see during decode). Rows start 32 bytes past a
 * cache line, the alignment GGUF guarantees.
 *
 * Build and run from the repository root (not part of `make`):
 *   make BUILD=build build/libtern.a
 *   cc -O2 -std=c11 -D_GNU_SOURCE -Isrc bench/quant_bench.c build/libtern.a -lm -lpthread -o build/quant_bench
 *   build/quant_bench            # all types;  build/quant_bench q4_K q6_K  for some */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "formats/types.h"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static uint64_t rng = 88172645463325252ull;
static float frand(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (float)((rng >> 40) * (1.0 / 16777216.0) * 2 - 1);
}

/* GB/s of one sweep (or `sweeps` sweeps) of a kernel over `rows` rows of n elements. */
static double run(tn_vec_dot_fn f, const unsigned char *w, size_t row_bytes, int64_t rows, int64_t n,
                  const void *a, float *out, int sweeps) {
    double t0 = now();
    for (int s = 0; s < sweeps; s++)
        for (int64_t i = 0; i < rows; i++) f(n, &out[i], w + (size_t)i * row_bytes, a);
    return (double)row_bytes * rows * sweeps / (now() - t0) / 1e9;
}

int main(int argc, char **argv) {
    static const int types[] = {TN_TYPE_F32,  TN_TYPE_F16,  TN_TYPE_BF16, TN_TYPE_Q8_0, TN_TYPE_Q4_0,
                                TN_TYPE_Q4_1, TN_TYPE_Q5_0, TN_TYPE_Q5_1, TN_TYPE_Q2_K, TN_TYPE_Q3_K,
                                TN_TYPE_Q4_K, TN_TYPE_Q5_K, TN_TYPE_Q6_K, TN_TYPE_IQ4_NL, TN_TYPE_IQ4_XS,
                                TN_TYPE_MXFP4};
    static const char *const levels[] = {"scalar", "avx2", "avx512"};
    const int64_t n = 4096;
    const size_t sizes[2] = {512u << 10, 256u << 20};
    const char *const size_names[2] = {"L2 512KiB", "DRAM 256MiB"};

    float *src = malloc(n * sizeof *src);
    for (int64_t i = 0; i < n; i++) src[i] = frand();
    printf("n=%lld, 1 thread, GB/s of weight bytes (best of 5); tn_vec_dot picks %s\n", (long long)n,
           tn_simd_level());
    printf("%-8s %-12s %9s %9s %9s\n", "type", "size", "scalar", "avx2", "avx512");
    for (size_t t = 0; t < sizeof types / sizeof types[0]; t++) {
        const int type = types[t];
        if (argc > 1) {
            int want = 0;
            for (int k = 1; k < argc; k++) want |= tn_type_from_name(argv[k]) == type;
            if (!want) continue;
        }
        const size_t row_bytes = tn_row_size(type, n);
        const int atype = tn_vec_dot_type(type);
        void *a = malloc(tn_row_size(atype, n));
        tn_quantize_row(atype, src, a, n);
        for (int sz = 0; sz < 2; sz++) {
            const int64_t rows = (int64_t)(sizes[sz] / row_bytes);
            /* GGUF only promises 32-byte alignment of tensor data: start 32 bytes past a cache line */
            unsigned char *wbase = aligned_alloc(64, row_bytes * rows + 64), *w = wbase + 32;
            float *tmp = malloc(n * sizeof *tmp), *out = malloc(rows * sizeof *out);
            /* 64 distinct random rows, repeated (quantizing 256 MiB with the reference K-quant
             * quantizers would take minutes) */
            for (int64_t i = 0; i < rows; i++) {
                if (i < 64) {
                    for (int64_t j = 0; j < n; j++) tmp[j] = frand();
                    tn_quantize_row(type, tmp, w + (size_t)i * row_bytes, n);
                } else {
                    memcpy(w + (size_t)i * row_bytes, w + (size_t)(i % 64) * row_bytes, row_bytes);
                }
            }
            /* the levels take turns, best of 5: other work on the machine makes single runs noisy */
            double best[3] = {0, 0, 0};
            for (int rep = 0; rep < 5; rep++)
                for (int l = 0; l < 3; l++) {
                    tn_vec_dot_fn f = tn_vec_dot_level(type, levels[l]);
                    if (!f) continue;
                    /* the scalar kernels are slow: fewer sweeps so the run stays short */
                    int sweeps = sz == 0 ? (l == 0 ? 20 : 200) : 1;
                    double g = run(f, w, row_bytes, rows, n, a, out, sweeps);
                    if (g > best[l]) best[l] = g;
                }
            printf("%-8s %-12s", tn_type_name(type), size_names[sz]);
            for (int l = 0; l < 3; l++) {
                if (best[l] > 0)
                    printf(" %9.2f", best[l]);
                else
                    printf(" %9s", "-");
            }
            printf("\n");
            fflush(stdout);
            free(wbase);
            free(tmp);
            free(out);
        }
        free(a);
    }
    free(src);
    return 0;
}
