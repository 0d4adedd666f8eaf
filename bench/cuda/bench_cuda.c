/* llama-bench-style speed test of a model on the GPU: pp (one batch of P tokens into an empty
 * cache) and tg (N single-token decode steps from an empty cache, logits read back every step),
 * each repeated R times after a warm-up; prints the median tokens/s and, for tg, the weight bytes
 * streamed per second. tn_decode() returns only when the step is complete (it synchronizes the
 * stream), so wall-clock time around it is the device time plus the host overhead a user sees.
 *
 *   bench_cuda MODEL.gguf [-p 512] [-n 128] [-r 5] [-ngl 99]
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tern.h"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s MODEL.gguf [-p 512] [-n 128] [-r 5] [-ngl 99]\n", argv[0]);
        return 2;
    }
    int P = 512, N = 128, R = 5, ngl = 99;
    for (int i = 2; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "-p")) P = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "-n")) N = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "-r")) R = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "-ngl")) ngl = atoi(argv[i + 1]);
    }
    if (R > 32) R = 32;
    double t0 = now();
    tn_model_params mp = tn_model_default_params();
    mp.n_gpu_layers = ngl;
    tn_model *m = tn_model_load(argv[1], &mp);
    if (!m) {
        fprintf(stderr, "load: %s\n", tn_last_error());
        return 1;
    }
    double t_load = now() - t0;
    tn_ctx_params cp = tn_ctx_default_params();
    cp.n_ctx = P + N + 64;
    cp.n_batch = P > 0 ? P : 1;
    tn_ctx *c = tn_ctx_new(m, &cp);
    if (!c) {
        fprintf(stderr, "ctx: %s\n", tn_last_error());
        return 1;
    }
    const int nv = tn_model_n_vocab(m);
    int32_t *toks = malloc(sizeof(int32_t) * (size_t)(P + N + 1));
    uint64_t s = 1;
    for (int i = 0; i < P + N + 1; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        toks[i] = (int32_t)((s >> 33) % (uint64_t)(nv - 300)) + 300;
    }
    double pp[32], tg[32];
    for (int rep = -1; rep < R; rep++) { /* rep -1: warm-up (graphs captured, buffers grown) */
        if (P > 0) {
            tn_kv_seq_rm(c, -1, 0, -1);
            tn_batch b = {.n_tokens = P, .token = toks};
            double a = now();
            if (tn_decode(c, &b)) {
                fprintf(stderr, "pp decode: %s\n", tn_last_error());
                return 1;
            }
            if (rep >= 0) pp[rep] = P / (now() - a);
        }
        if (N > 0) {
            tn_kv_seq_rm(c, -1, 0, -1);
            double a = now();
            for (int i = 0; i < N; i++) {
                tn_batch b = {.n_tokens = 1, .token = &toks[P + i]};
                if (tn_decode(c, &b)) {
                    fprintf(stderr, "tg decode: %s\n", tn_last_error());
                    return 1;
                }
            }
            if (rep >= 0) tg[rep] = N / (now() - a);
        }
    }
    qsort(pp, (size_t)R, sizeof(double), cmp_d);
    qsort(tg, (size_t)R, sizeof(double), cmp_d);
    const double gb = (double)tn_model_size(m) / 1e9;
    printf("model %s  %s  %.2f GB  load %.1f s\n", argv[1], tn_model_ftype(m), gb, t_load);
    if (P > 0) printf("pp%d: %.1f t/s (median of %d; min %.1f max %.1f)\n", P, pp[R / 2], R, pp[0], pp[R - 1]);
    if (N > 0)
        printf("tg%d: %.1f t/s (median of %d; min %.1f max %.1f)  weights %.0f GB/s = %.0f%% of 3028\n", N,
               tg[R / 2], R, tg[0], tg[R - 1], gb * tg[R / 2], 100.0 * gb * tg[R / 2] / 3028.0);
    tn_ctx_free(c);
    tn_model_free(m);
    free(toks);
    return 0;
}
