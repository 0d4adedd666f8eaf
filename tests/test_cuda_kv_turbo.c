/* TurboQuant KV caches in the CUDA forward pass (needs a CUDA build and a GPU; otherwise it says
 * loudly that it skipped and passes). For tiny-llama (head 32: reference kernels) and tiny-qwen3
 * (head 64: the f32 fast decode kernel, and by default the tensor-core one), bf16 weights, and
 * each cache pairing:
 *  - token-by-token decode (compressed-cache kernel, CUDA graphs) vs the CPU backend with the same
 *    cache types: both compute K/V in f32, the GPU writes the cache with the CPU's float operations
 *    (bytes identical, test_cuda_turbo), so only summation order differs: bound 2e-2 as for f16
 *    caches in test_cuda (logits span about +-15);
 *  - prefill (the GPU decodes the cells to f16 for its tensor-core kernel) against the CPU and
 *    against the GPU's reference kernel (TERN_CUDA_TURBO_REF=1) is compared statistically: a
 *    rounding difference anywhere upstream of a layer's K/V (f16 tensor cores in the GPU prefill)
 *    can move a coordinate across a codebook boundary (one code step), which then moves single
 *    logits by up to ~1 in these 6-layer models (measured 0.25-1.0, also between the two GPU
 *    prefill paths, whose layer-0 caches are identical); so the mean NLL of the next token must
 *    agree within 1 % and the argmax at >= 90 % of tokens. (The f16 decode of the cache itself is
 *    checked exactly in test_cuda_turbo.)
 *  - decode with the most KV splits (TERN_CUDA_SPLIT_CELLS=4) and with the reference kernel vs the
 *    default decode (summation order: bound 1e-2); NaN-poisoned buffers change nothing (exactly);
 *  (all of the above with TERN_CUDA_TURBO_TC=0: the f32 decode kernel)
 *  - the default decode (tensor-core kernel where it applies) vs the f32 kernel and with 4 cells
 *    per split: statistically, as the prefill (see check_case); poisoned buffers change nothing.
 *  - the decode token's cache store by the attention kernel, and the one-warp store kernel (the
 *    defaults), vs the block store kernel (TERN_CUDA_TURBO_FUSE=0, TERN_CUDA_TURBO_WSTORE=0):
 *    exactly equal;
 *  - Q4_0 weights: fused kernels (Wo input quantized by the split merge, RoPE in the q/k/v
 *    mat-vecs, the store requested from the attention) vs apart: exactly equal (check_fused_quant).
 * TN_TEST_CUDA_QUICK=1: turbo3/turbo3 on tiny-llama only (for compute-sanitizer). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "formats/types.h"
#include "kv/kv.h"
#include "tern.h"
#include "testutil.h"
#ifdef TN_CUDA
#include "cuda/cuda_backend.h"
#endif

enum { N_VOCAB = 1024, N_TOK = 128 };

#ifdef TN_CUDA
/* Mean negative log-likelihood of toks[i + 1] under the logits of token i. */
static double mean_nll(const float *lg, const int32_t *toks) {
    double sum = 0;
    for (int i = 0; i + 1 < N_TOK; i++) {
        const float *l = lg + (size_t)i * N_VOCAB;
        double mx = l[0], z = 0;
        for (int v = 1; v < N_VOCAB; v++) mx = l[v] > mx ? l[v] : mx;
        for (int v = 0; v < N_VOCAB; v++) z += exp((double)l[v] - mx);
        sum += mx + log(z) - l[toks[i + 1]];
    }
    return sum / (N_TOK - 1);
}

static int argmax_agree(const float *a, const float *b) {
    int n = 0;
    for (int i = 0; i < N_TOK; i++) {
        int ia = 0, ib = 0;
        for (int v = 1; v < N_VOCAB; v++) {
            if (a[(size_t)i * N_VOCAB + v] > a[(size_t)i * N_VOCAB + ia]) ia = v;
            if (b[(size_t)i * N_VOCAB + v] > b[(size_t)i * N_VOCAB + ib]) ib = v;
        }
        n += ia == ib;
    }
    return n;
}

static tn_ctx *new_ctx(tn_model *m, int n_batch, int tk, int tv) {
    tn_ctx_params cp = tn_ctx_default_params();
    cp.n_ctx = 256;
    cp.n_batch = n_batch;
    cp.n_threads = 4;
    cp.type_k = tk;
    cp.type_v = tv;
    tn_ctx *c = tn_ctx_new(m, &cp);
    CHECK(c != NULL, "ctx %s/%s: %s", tn_kv_type_name(tk), tn_kv_type_name(tv), tn_last_error());
    return c;
}

/* Logits of all N_TOK tokens: one batch (batch = 1) or token by token; malloc'd. */
static float *run(tn_model *m, const int32_t *toks, bool batch, int tk, int tv) {
    tn_ctx *c = new_ctx(m, batch ? N_TOK : 1, tk, tv);
    if (!c) return NULL;
    float *out = malloc(sizeof(float) * N_TOK * N_VOCAB);
    int8_t want[N_TOK];
    memset(want, 1, sizeof want);
    bool ok = true;
    if (batch) {
        tn_batch b = {.n_tokens = N_TOK, .token = toks, .logits = want};
        ok = tn_decode(c, &b) == 0;
        for (int i = 0; ok && i < N_TOK; i++) memcpy(out + (size_t)i * N_VOCAB, tn_get_logits(c, i), sizeof(float) * N_VOCAB);
    } else {
        for (int i = 0; ok && i < N_TOK; i++) {
            tn_batch one = {.n_tokens = 1, .token = &toks[i]};
            ok = tn_decode(c, &one) == 0;
            if (ok) memcpy(out + (size_t)i * N_VOCAB, tn_get_logits(c, -1), sizeof(float) * N_VOCAB);
        }
    }
    CHECK(ok, "decode (%s): %s", batch ? "batch" : "token by token", tn_last_error());
    tn_ctx_free(c);
    if (!ok) {
        free(out);
        return NULL;
    }
    return out;
}

static void check_case(const char *dir, const char *file, int tk, int tv) {
    char path[512];
    snprintf(path, sizeof path, "%s/ref.json", dir);
    char *json = tn_test_read_file(path, NULL);
    int n_tok = 0;
    int32_t *toks = json ? tt_json_int_array(json, "logits_tokens", &n_tok) : NULL;
    snprintf(path, sizeof path, "%s/%s", dir, file);
    tn_model_params gp = tn_model_default_params();
    gp.n_gpu_layers = 99;
    tn_model *mg = tn_model_load(path, &gp), *mc = tn_model_load(path, NULL);
    CHECK(toks && n_tok == N_TOK && mg && mc, "load %s: %s", path, tn_last_error());
    char name[96];
    snprintf(name, sizeof name, "%s %s/%s", file, tn_kv_type_name(tk), tn_kv_type_name(tv));
    float *gb = NULL, *cb = NULL, *gd = NULL, *cd = NULL, *gs = NULL, *gr = NULL, *gpr = NULL, *gp_ = NULL;
    float *gt = NULL, *gtp = NULL, *gts = NULL, *gl = NULL, *gls = NULL, *gsep = NULL;
    if (!toks || n_tok != N_TOK || !mg || !mc) goto out;
    setenv("TERN_CUDA_TURBO_TC", "0", 1); /* the f32 decode kernel first; the tensor-core one below */
    gb = run(mg, toks, true, tk, tv);
    cb = run(mc, toks, true, tk, tv);
    gd = run(mg, toks, false, tk, tv);
    cd = run(mc, toks, false, tk, tv);
    setenv("TERN_CUDA_SPLIT_CELLS", "4", 1);
    gs = run(mg, toks, false, tk, tv);
    unsetenv("TERN_CUDA_SPLIT_CELLS");
    setenv("TERN_CUDA_TURBO_REF", "1", 1);
    gr = run(mg, toks, false, tk, tv);
    gpr = run(mg, toks, true, tk, tv);
    unsetenv("TERN_CUDA_TURBO_REF");
    setenv("TN_CUDA_POISON", "1", 1);
    gp_ = run(mg, toks, false, tk, tv);
    unsetenv("TERN_CUDA_TURBO_TC"); /* the default: tensor cores where the kernel applies */
    gtp = run(mg, toks, false, tk, tv);
    setenv("TERN_CUDA_TURBO_FUSE", "0", 1); /* k_rope_store and the block store kernel */
    setenv("TERN_CUDA_TURBO_WSTORE", "0", 1);
    gsep = run(mg, toks, false, tk, tv);
    unsetenv("TERN_CUDA_TURBO_FUSE");
    unsetenv("TERN_CUDA_TURBO_WSTORE");
    unsetenv("TN_CUDA_POISON");
    gt = run(mg, toks, false, tk, tv);
    setenv("TERN_CUDA_SPLIT_CELLS", "4", 1);
    gts = run(mg, toks, false, tk, tv);
    /* the same kernels launched with programmatic dependent launch, on poisoned buffers: a kernel
     * that read its predecessor's output before waiting for it would change the logits */
    setenv("TERN_CUDA_TURBO_PDL", "1", 1);
    setenv("TN_CUDA_POISON", "1", 1);
    gls = run(mg, toks, false, tk, tv);
    unsetenv("TERN_CUDA_SPLIT_CELLS");
    gl = run(mg, toks, false, tk, tv);
    unsetenv("TERN_CUDA_TURBO_PDL");
    unsetenv("TN_CUDA_POISON");
    if (!gb || !cb || !gd || !cd || !gs || !gr || !gpr || !gp_ || !gt || !gtp || !gts || !gl || !gls || !gsep)
        goto out;
    const size_t n = (size_t)N_TOK * N_VOCAB;
    const double e_dec = tt_max_diff(gd, cd, n), e_pre_ref = tt_max_diff(gb, gpr, n); /* printed only */
    const double e_split = tt_max_diff(gs, gd, n), e_ref = tt_max_diff(gr, gd, n), e_poison = tt_max_diff(gp_, gd, n);
    const double nll_g = mean_nll(gb, toks), nll_c = mean_nll(cb, toks), nll_d = mean_nll(gd, toks);
    const int agree = argmax_agree(gb, cb);
    printf("%-40s f32 decode kernel: decode GPU-CPU %.3g; prefill: tensor-core vs reference kernel %.3g, GPU-CPU max %.3g, "
           "mean NLL GPU %.4f CPU %.4f GPU decode %.4f, argmax agree %d/%d; 128 splits %.3g, reference "
           "decode %.3g, poisoned %.3g\n",
           name, e_dec, e_pre_ref, tt_max_diff(gb, cb, n), nll_g, nll_c, nll_d, agree, N_TOK, e_split, e_ref, e_poison);
    CHECK(e_dec < 2e-2, "%s: decode GPU vs CPU %.4g", name, e_dec);
    const double nll_r = mean_nll(gpr, toks);
    CHECK(fabs(nll_g - nll_r) < 1e-2 * nll_r, "%s: prefill mean NLL tensor-core path %.4f vs reference kernel %.4f",
          name, nll_g, nll_r);
    CHECK(fabs(nll_g - nll_c) < 1e-2 * nll_c, "%s: prefill mean NLL GPU %.4f vs CPU %.4f", name, nll_g, nll_c);
    CHECK(fabs(nll_g - nll_d) < 1e-2 * nll_d, "%s: GPU prefill mean NLL %.4f vs decode %.4f", name, nll_g, nll_d);
    CHECK(agree >= N_TOK * 9 / 10, "%s: prefill argmax agrees with the CPU at %d/%d tokens", name, agree, N_TOK);
    CHECK(e_split < 1e-2, "%s: many splits vs default %.4g", name, e_split);
    CHECK(e_ref < 1e-2, "%s: reference kernel vs fast %.4g", name, e_ref);
    CHECK(e_poison == 0, "%s: poisoned decode differs by %.4g", name, e_poison);
    /* the default decode: the tensor-core kernel where it applies (tiny-qwen3; tiny-llama's head
     * 32 runs the kernels above again). Its f16 codebook values
     * and probabilities move a layer's output by ~5e-4 relative (test_cuda_turbo), enough to move
     * coordinates of the next layer's K/V across codebook boundaries: single logits then move by
     * up to ~0.2 (measured 0.22 vs the f32 kernel, 0.19 between split counts, from 0.0014 at the
     * first token), like the prefill paths above, so it is held to the same statistics: mean NLL
     * within 1 % and argmax agreement >= 90 % against the f32 kernel and across split counts. */
    const double e_tc = tt_max_diff(gt, gd, n), e_tcp = tt_max_diff(gtp, gt, n), e_tcs = tt_max_diff(gts, gt, n);
    const double nll_t = mean_nll(gt, toks), nll_ts = mean_nll(gts, toks);
    const int agree_t = argmax_agree(gt, gd), agree_ts = argmax_agree(gts, gt);
    printf("%-40s default decode (tensor cores where they apply): vs f32 kernel max %.3g, mean NLL %.4f (f32 "
           "kernel %.4f), argmax agree %d/%d; 4 cells per split max %.3g, mean NLL %.4f, argmax agree %d/%d; "
           "poisoned %.3g\n", name, e_tc, nll_t, nll_d, agree_t, N_TOK, e_tcs, nll_ts, agree_ts, N_TOK, e_tcp);
    if (getenv("TN_TEST_TOKEN_DIFFS")) /* where along the sequence the decodes part */
        for (int i = 0; i < N_TOK; i += 8)
            printf("  token %3d: default vs f32 kernel %.3g, 4 cells per split vs default %.3g\n", i,
                   tt_max_diff(gt + (size_t)i * N_VOCAB, gd + (size_t)i * N_VOCAB, N_VOCAB),
                   tt_max_diff(gts + (size_t)i * N_VOCAB, gt + (size_t)i * N_VOCAB, N_VOCAB));
    CHECK(fabs(nll_t - nll_d) < 1e-2 * nll_d, "%s: default decode mean NLL %.4f vs f32 kernel %.4f", name, nll_t, nll_d);
    CHECK(fabs(nll_ts - nll_t) < 1e-2 * nll_t, "%s: 4 cells per split mean NLL %.4f vs %.4f", name, nll_ts, nll_t);
    CHECK(agree_t >= N_TOK * 9 / 10 && agree_ts >= N_TOK * 9 / 10,
          "%s: default decode argmax agrees with the f32 kernel at %d/%d, across split counts at %d/%d", name,
          agree_t, N_TOK, agree_ts, N_TOK);
    CHECK(e_tc < 1.0 && e_tcs < 1.0, "%s: default decode vs f32 kernel max %.4g, across split counts %.4g", name,
          e_tc, e_tcs);
    CHECK(e_tcp == 0, "%s: poisoned default decode differs by %.4g", name, e_tcp);
    const double e_pdl = tt_max_diff(gl, gt, n), e_pdls = tt_max_diff(gls, gts, n);
    printf("%-40s TERN_CUDA_TURBO_PDL=1, poisoned: vs default max %.3g, with 4 cells per split %.3g (bound 0)\n",
           name, e_pdl, e_pdls);
    CHECK(e_pdl == 0 && e_pdls == 0, "%s: turbo kernels with PDL differ by %.4g (%.4g with 4 cells per split)", name,
          e_pdl, e_pdls);
    /* the default (the decode token's cache store by the attention kernel on heads of 64 and 128,
     * the tensor-core kernel's shapes, else by the one-warp store kernel) vs k_rope_store and the
     * block store kernel (TERN_CUDA_TURBO_FUSE=0, TERN_CUDA_TURBO_WSTORE=0): the same bytes, so the
     * same logits */
    const double e_sep = tt_max_diff(gsep, gtp, n);
    printf("%-40s TERN_CUDA_TURBO_FUSE=0 TERN_CUDA_TURBO_WSTORE=0, poisoned: vs default max %.3g (bound 0)\n", name,
           e_sep);
    CHECK(e_sep == 0, "%s: fused cache store / warp store kernel vs the block kernel differs by %.4g", name, e_sep);
out:
    free(gsep);
    free(gl);
    free(gls);
    free(gt);
    free(gtp);
    free(gts);
    free(gb);
    free(cb);
    free(gd);
    free(cd);
    free(gs);
    free(gr);
    free(gpr);
    free(gp_);
    tn_model_free(mg);
    tn_model_free(mc);
    free(toks);
    free(json);
}

/* Quantized weights (tiny-llama Q4_0), each step's kernels fused or apart: the output
 * projection's int8 activations made by the split merge (tq_merge_kernel) or a quantize kernel
 * (TERN_CUDA_TURBO_XQ), RoPE by the q/k/v mat-vecs or k_rope_store and the cache store requested
 * from the attention (which, at head size 32, runs the store kernel first) or run after RoPE
 * (TERN_CUDA_TURBO_FUSE), the one-warp or the block store kernel (TERN_CUDA_TURBO_WSTORE). The
 * same arithmetic either way, so 4-cells-per-split decodes on poisoned buffers must agree exactly. Against the CPU with the same weights and cache types: a flipped
 * int8 rounding upstream of a layer's K/V can move a coordinate across a codebook boundary (see
 * the top), so as for the prefill: mean NLL within 1 %, argmax agreement >= 90 %. */
static void check_fused_quant(void) {
    const char *path = "models/tiny-llama/tiny-llama-Q4_0.gguf";
    char *json = tn_test_read_file("models/tiny-llama/ref.json", NULL);
    int n_tok = 0;
    int32_t *toks = json ? tt_json_int_array(json, "logits_tokens", &n_tok) : NULL;
    tn_model_params gp = tn_model_default_params();
    gp.n_gpu_layers = 99;
    tn_model *mg = tn_model_load(path, &gp), *mc = tn_model_load(path, NULL);
    CHECK(toks && n_tok == N_TOK && mg && mc, "load %s: %s", path, tn_last_error());
    float *fused = NULL, *apart = NULL, *cpu = NULL;
    if (toks && n_tok == N_TOK && mg && mc) {
        setenv("TERN_CUDA_SPLIT_CELLS", "4", 1);
        setenv("TN_CUDA_POISON", "1", 1);
        setenv("TERN_CUDA_TURBO_XQ", "1", 1);
        setenv("TERN_CUDA_TURBO_FUSE", "1", 1);
        setenv("TERN_CUDA_TURBO_WSTORE", "1", 1);
        fused = run(mg, toks, false, TN_KV_TURBO3, TN_KV_TURBO3);
        setenv("TERN_CUDA_TURBO_XQ", "0", 1);
        setenv("TERN_CUDA_TURBO_FUSE", "0", 1);
        setenv("TERN_CUDA_TURBO_WSTORE", "0", 1);
        setenv("TERN_CUDA_FUSE_ROPE", "0", 1);
        apart = run(mg, toks, false, TN_KV_TURBO3, TN_KV_TURBO3);
        unsetenv("TERN_CUDA_TURBO_XQ");
        unsetenv("TERN_CUDA_TURBO_FUSE");
        unsetenv("TERN_CUDA_TURBO_WSTORE");
        unsetenv("TERN_CUDA_FUSE_ROPE");
        unsetenv("TN_CUDA_POISON");
        unsetenv("TERN_CUDA_SPLIT_CELLS");
        cpu = run(mc, toks, false, TN_KV_TURBO3, TN_KV_TURBO3);
    }
    if (fused && apart && cpu) {
        const size_t n = (size_t)N_TOK * N_VOCAB;
        const double e_x = tt_max_diff(fused, apart, n), nll_g = mean_nll(fused, toks), nll_c = mean_nll(cpu, toks);
        const int agree = argmax_agree(fused, cpu);
        printf("%-40s fused kernels vs apart max %.3g (bound 0); vs CPU max %.3g, mean "
               "NLL %.4f (CPU %.4f), argmax agree %d/%d\n", "tiny-llama-Q4_0.gguf turbo3/turbo3", e_x,
               tt_max_diff(fused, cpu, n), nll_g, nll_c, agree, N_TOK);
        CHECK(e_x == 0, "Q4_0 turbo3: fused kernels vs apart differ by %.4g", e_x);
        CHECK(fabs(nll_g - nll_c) < 1e-2 * nll_c && agree >= N_TOK * 9 / 10,
              "Q4_0 turbo3: GPU mean NLL %.4f vs CPU %.4f, argmax agree %d/%d", nll_g, nll_c, agree, N_TOK);
    }
    free(fused);
    free(apart);
    free(cpu);
    tn_model_free(mg);
    tn_model_free(mc);
    free(toks);
    free(json);
}
#endif

int main(void) {
#ifndef TN_CUDA
    printf("test_cuda_kv_turbo: *** SKIPPED *** built without CUDA (make CUDA=1): NOTHING WAS CHECKED\n");
    return 0;
#else
    if (tn_cuda_device_count() == 0) {
        printf("test_cuda_kv_turbo: *** SKIPPED *** no CUDA device: NOTHING WAS CHECKED\n");
        return 0;
    }
    static const int pairs[][2] = {{TN_KV_TURBO3, TN_KV_TURBO3}, {TN_KV_TURBO4, TN_KV_TURBO4},
                                   {TN_KV_TURBO2, TN_KV_TURBO2}, {TN_KV_TURBO3, TN_TYPE_F16}};
    const char *quick = getenv("TN_TEST_CUDA_QUICK"); /* compute-sanitizer runs: one pairing */
    const int n = quick && *quick == '1' ? 1 : 4;
    for (int i = 0; i < n; i++) check_case("models/tiny-llama", "tiny-llama-bf16.gguf", pairs[i][0], pairs[i][1]);
    if (n > 1) check_case("models/tiny-qwen3", "tiny-qwen3-bf16.gguf", TN_KV_TURBO3, TN_KV_TURBO3);
    check_fused_quant();
    return tn_test_done("test_cuda_kv_turbo");
#endif
}
