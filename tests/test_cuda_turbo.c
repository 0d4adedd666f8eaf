/* Device test of the TurboQuant CUDA kernels (src/cuda/cuda_turbo.cu) against the CPU reference on
 * the same cache bytes (needs a CUDA build and a GPU; otherwise it says loudly that it skipped and
 * passes):
 *  - store: K/V rows quantized on the GPU equal the CPU's cache rows byte for byte (the kernel
 *    repeats the CPU's floating-point operations in order; bound: at most 0.1 % of bytes differ,
 *    for a code that lands exactly on a decision boundary), for turbo2/3/4, f16, f32 and head
 *    sizes 32, 64, 80, 96, 128, 256; where the one-warp store kernel applies (sizes 32 .. 256 that
 *    are powers of two; TERN_CUDA_TURBO_WSTORE=1) it must write exactly the block kernel's bytes;
 *  - attention: GPU output vs the CPU backend's attention op over caches written by the CPU,
 *    relative error <= 1e-4 (float sums in another order, __expf), decode (1 token) with 1, 4 and
 *    16 KV splits and prefill (9 tokens) with 1 and 2 splits, GQA 8/4, 300 cells, two sequences;
 *    the decode runs again on the tensor-core kernel (use_tc) where it applies (same turbo type
 *    for K and V, head 64 or 128), relative error <= 2e-3; decode runs with several splits also
 *    check the Wo input items written with the output (xq_bad_items);
 *  - argument checks (no GPU needed): unsupported head size / types are refused with a message.
 * Run on the GPU machine: make CUDA=1 BUILD=build-cuda build-cuda/tests/test_cuda_turbo &&
 * build-cuda/tests/test_cuda_turbo */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "core/error.h"
#include "formats/types.h"
#include "kv/kv.h"
#include "kv_attn_case.h"
#ifdef TN_CUDA
#include "cuda/cuda_backend.h"
#include "cuda/cuda_turbo.h"
#endif

#ifdef TN_CUDA
static const int dims[] = {32, 64, 80, 96, 128, 256};
#define N_DIMS (int)(sizeof dims / sizeof dims[0])

static void check_args(void) {
    tn_cuda_turbo_attn a = {.n_head = 8, .n_head_kv = 4, .head_dim = 40, .type_k = TN_KV_TURBO3,
                            .type_v = TN_KV_TURBO3, .n_split = 1};
    CHECK(!tn_cuda_turbo_supported(TN_KV_TURBO3, TN_KV_TURBO3, 40), "head 40 supported?");
    CHECK(tn_cuda_turbo_attention(&a, NULL) == -1 && strstr(tn_last_error(), "40"),
          "head 40: %s", tn_last_error());
    CHECK(!tn_cuda_turbo_supported(TN_TYPE_F16, TN_TYPE_F16, 128), "f16/f16 is not this kernel's");
    CHECK(!tn_cuda_turbo_supported(TN_KV_TURBO3, TN_TYPE_Q8_0, 128), "q8_0 V not handled");
    CHECK(!tn_cuda_turbo_supported(TN_KV_TURBO4, TN_KV_TURBO4, 512), "head 512 over the kernel's 256");
    for (int i = 0; i < N_DIMS; i++)
        CHECK(tn_cuda_turbo_supported(TN_KV_TURBO2, TN_TYPE_F16, dims[i]), "d=%d", dims[i]);
}

static void check_store(void) {
    static const int types[][2] = {{TN_KV_TURBO2, TN_KV_TURBO3}, {TN_KV_TURBO4, TN_KV_TURBO4},
                                   {TN_KV_TURBO3, TN_TYPE_F16}, {TN_TYPE_F32, TN_KV_TURBO2}};
    for (int di = 0; di < N_DIMS; di++)
        for (int ti = 0; ti < 4; ti++) {
            int d = dims[di], n_kv = 64;
            tkv_case c;
            if (tkv_case_init(&c, types[ti][0], types[ti][1], d, 8, 4, n_kv, 1, 77 + (uint64_t)di)) {
                CHECK(0, "case: %s", tn_last_error());
                continue;
            }
            uint8_t *kc = calloc((size_t)n_kv, c.k_row), *vc = calloc((size_t)n_kv, c.v_row);
            int32_t *cells = malloc(sizeof(int32_t) * (size_t)n_kv);
            for (int i = 0; i < n_kv; i++) cells[i] = n_kv - 1 - i; /* scattered order */
            /* token i goes to cell n_kv-1-i: feed the rows in that order */
            int64_t kd = 4 * (int64_t)d;
            float *k = malloc(sizeof(float) * (size_t)(n_kv * kd)), *v = malloc(sizeof(float) * (size_t)(n_kv * kd));
            for (int i = 0; i < n_kv; i++) {
                memcpy(k + i * kd, c.k + (int64_t)cells[i] * kd, sizeof(float) * (size_t)kd);
                memcpy(v + i * kd, c.v + (int64_t)cells[i] * kd, sizeof(float) * (size_t)kd);
            }
            tn_cuda_turbo_store s = {.n_head_kv = 4, .head_dim = d, .type_k = types[ti][0],
                                     .type_v = types[ti][1], .rot_seed = c.kv.rot_seed, .k = k,
                                     .v = v, .k_cache = kc, .v_cache = vc, .cell = cells,
                                     .n_tokens = n_kv};
            setenv("TERN_CUDA_TURBO_WSTORE", "1", 1); /* the one-warp kernel where it applies */
            int rc = tn_cuda_turbo_store_rows_host(&s, n_kv);
            unsetenv("TERN_CUDA_TURBO_WSTORE");
            CHECK(rc == 0, "store: %s", tn_last_error());
            size_t nk = (size_t)n_kv * c.k_row, nv = (size_t)n_kv * c.v_row, dk = 0, dv = 0;
            for (size_t i = 0; i < nk; i++) dk += kc[i] != ((uint8_t *)c.kv.k)[i];
            for (size_t i = 0; i < nv; i++) dv += vc[i] != ((uint8_t *)c.kv.v)[i];
            const char *kn = tn_kv_type_name(types[ti][0]), *vn = tn_kv_type_name(types[ti][1]);
            printf("  store %s/%s d=%d: %zu of %zu K bytes, %zu of %zu V bytes differ from the CPU\n",
                   kn, vn, d, dk, nk, dv, nv);
            CHECK(rc == 0 && dk <= nk / 1000 && dv <= nv / 1000, "store %s/%s d=%d: %zu / %zu bytes differ",
                  kn, vn, d, dk, dv);
            if (d == 32 || d == 64 || d == 128 || d == 256) { /* the one-warp kernel (above) vs the block kernel */
                uint8_t *kb = calloc((size_t)n_kv, c.k_row), *vb = calloc((size_t)n_kv, c.v_row);
                s.k_cache = kb;
                s.v_cache = vb;
                setenv("TERN_CUDA_TURBO_WSTORE", "0", 1);
                rc = tn_cuda_turbo_store_rows_host(&s, n_kv);
                unsetenv("TERN_CUDA_TURBO_WSTORE");
                CHECK(rc == 0 && !memcmp(kb, kc, nk) && !memcmp(vb, vc, nv),
                      "store %s/%s d=%d: the warp and block kernels wrote different bytes", kn, vn, d);
                free(kb);
                free(vb);
            }
            free(k);
            free(v);
            free(kc);
            free(vc);
            free(cells);
            tkv_case_free(&c);
        }
}

/* Prefill's decode of a turbo cache to f16 (original domain) vs the CPU's tn_kv_dequant_row on
 * the same bytes: the GPU rounds to f16 (relative 2^-11), bound 2e-3 of the largest |value|. */
static void check_dequant(void) {
    static const int types[] = {TN_KV_TURBO2, TN_KV_TURBO3, TN_KV_TURBO4};
    double worst = 0;
    for (int di = 0; di < N_DIMS; di++)
        for (int ti = 0; ti < 3; ti++) {
            const int d = dims[di], n_kv = 48, n_kvh = 4;
            tkv_case c;
            if (tkv_case_init(&c, types[ti], types[ti], d, 8, n_kvh, n_kv, 1, 900 + (uint64_t)(di * 3 + ti))) {
                CHECK(0, "case: %s", tn_last_error());
                continue;
            }
            const size_t n = (size_t)n_kv * n_kvh * d;
            float *gpu = malloc(n * sizeof(float)), *cpu = malloc(n * sizeof(float));
            tn_kv_codec codec;
            int rc = tn_kv_codec_init(&codec, types[ti], d, n_kvh, c.kv.rot_seed);
            for (int i = 0; rc == 0 && i < n_kv; i++)
                tn_kv_dequant_row(&codec, (const uint8_t *)c.kv.k + (size_t)i * c.k_row, cpu + (size_t)i * n_kvh * d);
            tn_cuda_turbo_dequant q = {types[ti], n_kvh, d, c.kv.rot_seed, c.kv.k, NULL, n_kv};
            if (rc == 0) rc = tn_cuda_turbo_dequant_rows_host(&q, gpu);
            CHECK(rc == 0, "dequant: %s", tn_last_error());
            double mx = 0, e = 0;
            for (size_t i = 0; i < n; i++) {
                if (fabs(cpu[i]) > mx) mx = fabs(cpu[i]);
                if (!(fabs((double)gpu[i] - cpu[i]) <= e)) e = fabs((double)gpu[i] - cpu[i]);
            }
            const double rel = mx > 0 ? e / mx : e;
            if (!(rel <= worst)) worst = rel;
            CHECK(rc == 0 && rel <= 2e-3, "dequant %s d=%d: max error %.3g of max |x| %.3g",
                  tn_kv_type_name(types[ti]), d, e, mx);
            free(gpu);
            free(cpu);
            tkv_case_free(&c);
        }
    printf("  dequantize (prefill): worst error / max|x| GPU vs CPU %.3g (bound 2e-3)\n", worst);
}

/* The attention call over a case's caches and query batch (host memory), output into out. */
static tn_cuda_turbo_attn case_args(const tkv_case *c, float *out, int n_split) {
    return (tn_cuda_turbo_attn){.n_head = c->n_head, .n_head_kv = c->n_head_kv, .head_dim = c->head_dim,
                                .type_k = c->kv.type_k, .type_v = c->kv.type_v, .rot_seed = c->kv.rot_seed,
                                .scale = c->ap.scale, .k = c->kv.k, .v = c->kv.v, .q = c->q, .out = out,
                                .n_tokens = c->n_tokens, .pos = c->pos, .seq = c->seq, .n_kv = c->n_kv,
                                .cell_pos = c->cell_pos, .cell_seq = c->cell_seq, .n_split = n_split};
}

/* An int8 item with its metadata as the CUDA backend lays it out (cuda_quant.cuh tn_cu_xmeta). */
typedef struct {
    float d;
    int16_t s0, s1;
} xmeta;

/* The Wo input items the decode writes with the output (xq): each 32-value item's scale is its
 * largest |value| / 127 (exactly, as computed in float), every value is within half a step of
 * its int8 code times the scale, and the metadata sums are the codes' half sums. Returns the
 * number of items that break a rule. */
static int xq_bad_items(const float *out, const int8_t *xq, const xmeta *xm, size_t n) {
    int bad = 0;
    for (size_t it = 0; it < n / 32; it++) {
        float amax = 0;
        int s0 = 0, s1 = 0;
        for (int l = 0; l < 32; l++) amax = fmaxf(amax, fabsf(out[it * 32 + l]));
        const float d = amax / 127.0f;
        bool ok = xm[it].d == d;
        for (int l = 0; l < 32; l++) {
            const int q = xq[it * 32 + l];
            ok = ok && fabsf(out[it * 32 + l] - q * d) <= 0.5f * d * (1 + 1e-4f) + 1e-30f;
            if (l < 16) s0 += q;
            else s1 += q;
        }
        bad += !(ok && xm[it].s0 == s0 && xm[it].s1 == s1);
    }
    return bad;
}

static void check_attention(void) {
    static const int types[][2] = {{TN_KV_TURBO4, TN_KV_TURBO4}, {TN_KV_TURBO3, TN_KV_TURBO3},
                                   {TN_KV_TURBO2, TN_KV_TURBO2}, {TN_KV_TURBO3, TN_TYPE_F16},
                                   {TN_TYPE_F32, TN_KV_TURBO2}};
    static const int runs[][2] = {{1, 1}, {1, 4}, {1, 16}, {9, 1}, {9, 2}}; /* tokens, splits */
    double worst = 0, worst_tc = 0;
    int n_tc = 0, n_xq = 0;
    for (int di = 0; di < N_DIMS; di++)
        for (int ti = 0; ti < 5; ti++)
            for (int ri = 0; ri < 5; ri++) {
                int d = dims[di], n_tok = runs[ri][0];
                tkv_case c;
                if (tkv_case_init(&c, types[ti][0], types[ti][1], d, 8, 4, 300, n_tok,
                                  500 + (uint64_t)(di * 7 + ti))) {
                    CHECK(0, "case: %s", tn_last_error());
                    continue;
                }
                size_t n = (size_t)n_tok * 8 * d;
                float *cpu = malloc(n * sizeof(float)), *gpu = calloc(n, sizeof(float));
                tkv_attention_cpu(&c, cpu, 2);
                tn_cuda_turbo_attn a = case_args(&c, gpu, runs[ri][1]);
                /* decode with splits and whole 32-value items: the Wo input items too */
                int8_t *xq = NULL;
                xmeta *xm = NULL;
                if (n_tok == 1 && runs[ri][1] > 1 && d % 32 == 0) {
                    xq = malloc(n);
                    xm = malloc(n / 32 * sizeof(xmeta));
                    a.xq = xq;
                    a.xm = xm;
                }
                memset(gpu, 0, n * sizeof(float));
                int rc = tn_cuda_turbo_attention_host(&a);
                CHECK(rc == 0, "attention: %s", tn_last_error());
                double e = tkv_rel_err(gpu, cpu, n);
                if (e > worst) worst = e;
                CHECK(rc == 0 && e <= 1e-4, "%s/%s d=%d tokens %d splits %d: rel err %.3g",
                      tn_kv_type_name(types[ti][0]), tn_kv_type_name(types[ti][1]), d, n_tok,
                      runs[ri][1], e);
                if (xq && rc == 0) {
                    const int bad = xq_bad_items(gpu, xq, xm, n);
                    n_xq++;
                    CHECK(bad == 0, "%s d=%d splits %d: %d of %zu Wo input items wrong",
                          tn_kv_type_name(types[ti][0]), d, runs[ri][1], bad, n / 32);
                }
                /* the tensor-core decode kernel where it applies: codebook values and the
                 * probabilities rounded to f16 (relative 2^-11 each), hence 2e-3 */
                a.use_tc = 1;
                if (tn_cuda_turbo_tc_ok(&a)) {
                    memset(gpu, 0, n * sizeof(float));
                    rc = tn_cuda_turbo_attention_host(&a);
                    CHECK(rc == 0, "attention (tensor cores): %s", tn_last_error());
                    e = tkv_rel_err(gpu, cpu, n);
                    if (e > worst_tc) worst_tc = e;
                    n_tc++;
                    CHECK(rc == 0 && e <= 2e-3, "tensor cores %s d=%d tokens %d splits %d: rel err %.3g",
                          tn_kv_type_name(types[ti][0]), d, n_tok, runs[ri][1], e);
                    if (xq && rc == 0)
                        CHECK(xq_bad_items(gpu, xq, xm, n) == 0, "tensor cores %s d=%d splits %d: Wo input items",
                              tn_kv_type_name(types[ti][0]), d, runs[ri][1]);
                }
                free(xq);
                free(xm);
                free(cpu);
                free(gpu);
                tkv_case_free(&c);
            }
    printf("  attention: worst relative error GPU vs CPU %.3g (bound 1e-4)\n", worst);
    printf("  attention on tensor cores: %d cases, worst relative error GPU vs CPU %.3g (bound 2e-3)\n", n_tc, worst_tc);
    CHECK(n_tc == 2 * 3 * 3, "tensor-core cases: %d (2 head sizes x 3 types x 3 one-token runs)", n_tc);
    printf("  attention: the Wo input items of %d decode runs with splits checked\n",
           n_xq);
    CHECK(n_xq > 0, "no Wo input items checked");
}

/* Magnitudes like a real model's: sharp attention (q x 4) over small V rows (x 1e-3). The
 * tensor-core kernel once scaled the f16 probabilities by the V norms, which underflowed. */
static void check_attention_scaled(void) {
    static const int types[] = {TN_KV_TURBO3, TN_KV_TURBO4};
    double worst = 0, worst_tc = 0;
    for (int d = 64; d <= 128; d *= 2)
        for (int ti = 0; ti < 2; ti++)
            for (int n_split = 1; n_split <= 4; n_split *= 4) {
                tkv_case c;
                if (tkv_case_init_scaled(&c, types[ti], types[ti], d, 8, 4, 300, 1, 700 + (uint64_t)(d + ti), 4.0f,
                                         1e-3f)) {
                    CHECK(0, "case: %s", tn_last_error());
                    continue;
                }
                const size_t n = (size_t)8 * d;
                float *cpu = malloc(n * sizeof(float)), *gpu = calloc(n, sizeof(float));
                tkv_attention_cpu(&c, cpu, 2);
                tn_cuda_turbo_attn a = case_args(&c, gpu, n_split);
                for (int tc = 0; tc < 2; tc++) {
                    a.use_tc = tc;
                    memset(gpu, 0, n * sizeof(float));
                    const int rc = tn_cuda_turbo_attention_host(&a);
                    const double e = tkv_rel_err(gpu, cpu, n), bound = tc ? 2e-3 : 1e-4;
                    if (tc && e > worst_tc) worst_tc = e;
                    if (!tc && e > worst) worst = e;
                    CHECK(rc == 0 && e <= bound, "scaled %s d=%d splits %d%s: rel err %.3g (bound %.0e): %s",
                          tn_kv_type_name(types[ti]), d, n_split, tc ? " (tensor cores)" : "", e, bound,
                          rc ? tn_last_error() : "");
                }
                free(cpu);
                free(gpu);
                tkv_case_free(&c);
            }
    /* one sequence, every cell visible, the cache growing as in decoding */
    static const int lens[] = {1, 7, 16, 17, 33, 64, 100, 128};
    for (int li = 0; li < 8; li++)
        for (int d = 64; d <= 128; d *= 2) {
            tkv_case c;
            if (tkv_case_init(&c, TN_KV_TURBO3, TN_KV_TURBO3, d, 8, 4, lens[li], 1, 800 + (uint64_t)li)) {
                CHECK(0, "case: %s", tn_last_error());
                continue;
            }
            for (int i = 0; i < lens[li]; i++) c.cell_seq[i] = 0;
            const size_t n = (size_t)8 * d;
            float *cpu = malloc(n * sizeof(float)), *gpu = calloc(n, sizeof(float));
            tkv_attention_cpu(&c, cpu, 2);
            tn_cuda_turbo_attn a = case_args(&c, gpu, 1);
            a.use_tc = 1;
            const int rc = tn_cuda_turbo_attention_host(&a);
            const double e = tkv_rel_err(gpu, cpu, n);
            if (e > worst_tc) worst_tc = e;
            CHECK(rc == 0 && e <= 2e-3, "one sequence, %d cells, d=%d (tensor cores): rel err %.3g", lens[li], d, e);
            free(cpu);
            free(gpu);
            tkv_case_free(&c);
        }
    printf("  attention, q x 4 and V x 1e-3 (and one sequence of 1..128 cells): worst relative error GPU vs CPU %.3g (bound 1e-4), tensor cores %.3g "
           "(bound 2e-3)\n", worst, worst_tc);
}
#endif

int main(void) {
#ifndef TN_CUDA
    printf("test_cuda_turbo: *** SKIPPED *** built without CUDA (make CUDA=1): NOTHING WAS CHECKED\n");
    return 0;
#else
    check_args();
    if (tn_cuda_device_count() == 0) {
        printf("test_cuda_turbo: *** SKIPPED GPU CHECKS *** no CUDA device: only argument checks ran\n");
        return tn_test_done("test_cuda_turbo");
    }
    check_store();
    check_dequant();
    check_attention();
    check_attention_scaled();
    return tn_test_done("test_cuda_turbo");
#endif
}
