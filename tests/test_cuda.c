/* Device tests of the CUDA backend (needs a CUDA build and a GPU; otherwise it says loudly that it
 * skipped and passes). For every bundled tiny model:
 *  - logits of 128 reference tokens (one prefill batch) vs the CPU backend on the same file, with a
 *    per-type bound (see `models` below), and vs the transformers fp32 reference for bf16;
 *  - prefill vs token-by-token decode (CUDA graphs, split-KV kernel) on the GPU;
 *  - a 600-token context (several KV splits, many cache tiles): one batch vs batch + decode step,
 *    and the step with other split counts and on both decode kernels (tensor-core, f32);
 *  - greedy 48 tokens: == ref.json greedy_ids for bf16 files, == the CPU backend's for quantized;
 *  - poison: every activation/KV buffer filled with NaN at allocation must not leak into results;
 *  - two sequences interleaved in one cache give each one's own logits;
 *  - sampling with candidates chosen on the GPU (tn_sample) == the host sampler on the full row.
 * Synthetic models: a wide FFN (staged activations) and head size 256 (the tensor-core decode
 * attention forced on, against the f32 kernel).
 * The host-only layout self-test runs whenever the build has CUDA, GPU or not.
 * TN_TEST_CUDA_QUICK=1 limits the model list to two files (for compute-sanitizer runs). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <unistd.h>

#include "check.h"
#include "formats/gguf.h"
#include "synth/synth.h"
#include "formats/types.h"
#include "tern.h"
#include "testutil.h"
#ifdef TN_CUDA
#include "cuda/cuda_backend.h"
#endif

enum { N_VOCAB = 1024, N_LONG = 600 };

#ifdef TN_CUDA
static int argmax(const float *x, int n) {
    int b = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[b]) b = i;
    return b;
}

static tn_ctx *new_ctx(tn_model *m, int n_ctx, int n_batch, int n_seq) {
    tn_ctx_params cp = tn_ctx_default_params();
    cp.n_ctx = n_ctx;
    cp.n_batch = n_batch;
    cp.n_threads = 4;
    cp.n_seq_max = n_seq;
    tn_ctx *c = tn_ctx_new(m, &cp);
    CHECK(c != NULL, "ctx: %s", tn_last_error());
    return c;
}

/* Logits of every token of toks[0..n) in one batch (micro-batches of n_batch); malloc'd
 * [n][N_VOCAB]. Rows are read last first: on the GPU the last micro-batch's rows are still on
 * the device and are fetched by that first read, the others were copied during the decode. */
static float *batch_logits(tn_model *m, const int32_t *toks, int n, int n_ctx, int n_batch) {
    tn_ctx *c = new_ctx(m, n_ctx, n_batch, 1);
    if (!c) return NULL;
    int8_t *want = malloc((size_t)n);
    memset(want, 1, (size_t)n);
    tn_batch b = {.n_tokens = n, .token = toks, .logits = want};
    float *out = NULL;
    int rc = tn_decode(c, &b);
    CHECK(rc == 0, "decode: %s", tn_last_error());
    if (rc == 0 && tn_n_outputs(c) == n) {
        out = malloc(sizeof(float) * (size_t)n * N_VOCAB);
        for (int i = n - 1; i >= 0; i--) {
            const float *l = tn_get_logits(c, i);
            CHECK(l != NULL, "logits row %d: %s", i, tn_last_error());
            if (l) memcpy(out + (size_t)i * N_VOCAB, l, sizeof(float) * N_VOCAB);
        }
    }
    free(want);
    tn_ctx_free(c);
    return out;
}

/* Greedy continuation of the prompt for n tokens; margin[i] = top-1 minus top-2 logit at step i. */
static void greedy(tn_model *m, const int32_t *prompt, int n_prompt, int32_t *out, float *margin, int n) {
    tn_ctx *c = new_ctx(m, 256, 64, 1);
    if (!c) return;
    tn_batch pb = {.n_tokens = n_prompt, .token = prompt};
    CHECK(tn_decode(c, &pb) == 0, "prompt decode: %s", tn_last_error());
    for (int i = 0; i < n; i++) {
        const float *l = tn_get_logits(c, -1);
        out[i] = l ? argmax(l, N_VOCAB) : -1;
        float second = -INFINITY;
        for (int v = 0; l && v < N_VOCAB; v++)
            if (v != out[i] && l[v] > second) second = l[v];
        margin[i] = l ? l[out[i]] - second : 0.0f;
        tn_batch one = {.n_tokens = 1, .token = &out[i]};
        if (tn_decode(c, &one) != 0) break;
    }
    tn_ctx_free(c);
}

typedef struct model_case {
    const char *dir, *file;
    double bound;  /* max |GPU - CPU| over all logits of the 128-token batch (GPU prefill path) */
    double dbound; /* the same for token-by-token decode on both backends */
} model_case;

/* Logits here span about +-15. Bounds: bf16 files are held to 2e-2 (both backends keep f32
 * activations for float weights in decode; the GPU prefill uses f16 activations on tensor cores).
 * Quantized files: the CPU multiplies with Q8_0/Q8_K-quantized activations, the GPU prefill with
 * f16 activations (and f16-rounded dequantized weights), so GPU-vs-CPU is the int8 activation
 * error (~0.1-0.2); GPU decode quantizes activations per 32 values like Q8_0, so decode-vs-CPU
 * decode is smaller for the Q8_0-activation types and about the same for the K-quants (CPU: Q8_K,
 * one scale per 256). Quantized bounds are the differences measured on the GPU rounded up ~1.5x. */
static const model_case models[] = {
    {"models/tiny-llama", "tiny-llama-bf16.gguf", 2e-2, 2e-2},
    {"models/tiny-qwen3", "tiny-qwen3-bf16.gguf", 2e-2, 2e-2},
    {"models/tiny-llama", "tiny-llama-Q8_0.gguf", 0.15, 0.15},
    {"models/tiny-llama", "tiny-llama-Q6_K.gguf", 0.25, 0.25},
    {"models/tiny-llama", "tiny-llama-Q5_K_M.gguf", 0.25, 0.25},
    {"models/tiny-llama", "tiny-llama-Q5_1.gguf", 0.15, 0.15},
    {"models/tiny-llama", "tiny-llama-Q5_0.gguf", 0.2, 0.2},
    {"models/tiny-llama", "tiny-llama-Q4_K_M.gguf", 0.25, 0.25},
    {"models/tiny-llama", "tiny-llama-Q4_K_S.gguf", 0.3, 0.3},
    {"models/tiny-llama", "tiny-llama-Q4_1.gguf", 0.2, 0.2},
    {"models/tiny-llama", "tiny-llama-Q4_0.gguf", 0.15, 0.15},
    {"models/tiny-llama", "tiny-llama-IQ4_NL.gguf", 0.2, 0.2},
    {"models/tiny-llama", "tiny-llama-IQ4_XS.gguf", 0.3, 0.3},
    {"models/tiny-llama", "tiny-llama-Q3_K_M.gguf", 0.3, 0.3},
    {"models/tiny-llama", "tiny-llama-Q2_K.gguf", 0.3, 0.3},
};

/* Prefill-vs-decode on the GPU: decode uses int8 (quantized weights) or f32 (float weights)
 * activations and the f32 split-KV attention; prefill f16 activations and tensor-core attention. */
static double parity_bound(bool bf16) { return bf16 ? 1e-2 : 0.2; }

/* Sets (on) or unsets (off) the variables of "VAR=VAL VAR=VAL ...". */
static void set_env_list(const char *list, bool on) {
    char buf[256];
    snprintf(buf, sizeof buf, "%s", list);
    for (char *save = NULL, *kv = strtok_r(buf, " ", &save); kv; kv = strtok_r(NULL, " ", &save)) {
        char *eq = strchr(kv, '=');
        if (!eq) continue;
        *eq = 0;
        if (on) setenv(kv, eq + 1, 1);
        else unsetenv(kv);
    }
}

/* The 600-token decode step again with the environment `env` (another split count or decode
 * kernel) must equal `step` (the default: the f32 kernel with 8 splits) up to float summation
 * order and the tensor-core kernel's f16 rounding of the probabilities: bf16 files 2e-3
 * (measured on the H200: up to 2.1e-4). Quantized files feed the attention output to the output
 * projection as int8 items, where such differences flip roundings, each moving logits by a
 * quantization step through the quantized weights (measured 0.023 to 0.049 between the two
 * kernels and between split counts of the tensor-core kernel), hence 0.1 (a wrong cell or head
 * would be O(1)). */
static void check_split_step(tn_model *mg, const char *file, bool bf16, tn_batch *pb, tn_batch *one,
                             const float *step, const char *env, const char *what) {
    set_env_list(env, true);
    tn_ctx *c = new_ctx(mg, 1024, 1024, 1);
    set_env_list(env, false);
    if (c && step && tn_decode(c, pb) == 0 && tn_decode(c, one) == 0) {
        const double e = tt_max_diff(tn_get_logits(c, -1), step, N_VOCAB);
        const double bound = bf16 ? 2e-3 : 0.1;
        printf("%-26s 600-token context: %s vs default max|d| %.3g (bound %.0e)\n", file, what, e, bound);
        CHECK(e < bound, "%s: attention with %s differs by %.4g", file, what, e);
    } else {
        CHECK(0, "decode with %s: %s", what, tn_last_error());
    }
    tn_ctx_free(c);
}

static void check_model(const model_case *mc) {
    char path[512];
    const bool bf16 = strstr(mc->file, "bf16") != NULL;
    snprintf(path, sizeof path, "%s/ref.json", mc->dir);
    char *json = tn_test_read_file(path, NULL);
    CHECK(json != NULL, "cannot read %s", path);
    if (!json) return;
    int n_tok = 0, n_greedy = 0, n_prompt = 0;
    int32_t *toks = tt_json_int_array(json, "logits_tokens", &n_tok);
    int32_t *ref_greedy = tt_json_int_array(json, "greedy_ids", &n_greedy);
    int32_t *prompt = tt_json_int_array(json, "greedy_prompt_ids", &n_prompt);
    snprintf(path, sizeof path, "%s/ref-logits-f32.bin", mc->dir);
    float *ref = tt_read_f32(path, (size_t)n_tok * N_VOCAB);
    snprintf(path, sizeof path, "%s/%s", mc->dir, mc->file);
    tn_model_params gp = tn_model_default_params();
    gp.n_gpu_layers = 99;
    tn_model *mg = tn_model_load(path, &gp);
    tn_model *mc_cpu = tn_model_load(path, NULL);
    CHECK(mg != NULL, "load %s on the GPU: %s", path, tn_last_error());
    CHECK(mc_cpu != NULL, "load %s on the CPU: %s", path, tn_last_error());
    float *lg = NULL, *lc = NULL, *long_b = NULL;
    int32_t *long_toks = NULL;
    if (!mg || !mc_cpu || !toks || n_tok != 128 || !ref || !prompt || !ref_greedy) goto out;

    /* 1. one 128-token batch, logits everywhere: GPU vs CPU (and vs transformers) */
    lg = batch_logits(mg, toks, n_tok, 256, 1024);
    lc = batch_logits(mc_cpu, toks, n_tok, 256, 1024);
    if (!lg || !lc) goto out;
    double d_cpu = tt_max_diff(lg, lc, (size_t)n_tok * N_VOCAB);
    double d_ref = tt_max_diff(lg, ref, (size_t)n_tok * N_VOCAB);
    int am = 0;
    for (int i = 0; i < n_tok; i++)
        am += argmax(lg + (size_t)i * N_VOCAB, N_VOCAB) != argmax(lc + (size_t)i * N_VOCAB, N_VOCAB);
    printf("%-26s GPU-CPU max|d| %.3g (bound %.3g), GPU-transformers %.3g, argmax differs at %d/128\n",
           mc->file, d_cpu, mc->bound, d_ref, am);
    CHECK(d_cpu < mc->bound, "%s: GPU vs CPU logits differ by %.4g", mc->file, d_cpu);
    /* f16 KV cache as on the CPU, whose own bound here is 0.05 (test_model.c) */
    if (bf16) CHECK(d_ref < 5e-2, "%s: GPU vs transformers logits differ by %.4g", mc->file, d_ref);

    /* 1b. the same batch in micro-batches of 48: rows of the first two are copied during the
     * decode, the last one's stay on the device until read; each row must come back as its own
     * (a misplaced row would differ by whole logits; the bound is prefill parity's) */
    {
        float *lm = batch_logits(mg, toks, n_tok, 256, 48);
        const double e = lm ? tt_max_diff(lm, lg, (size_t)n_tok * N_VOCAB) : INFINITY;
        printf("%-26s micro-batches of 48 vs one batch max|d| %.3g\n", mc->file, e);
        CHECK(e < parity_bound(bf16), "%s: logits of micro-batched decode differ by %.4g", mc->file, e);
        free(lm);
    }

    /* 2. token-by-token on the GPU (micro-batch 1: graph replay, decode attention), compared
     * with the GPU batch and with token-by-token on the CPU */
    {
        tn_ctx *c = new_ctx(mg, 256, 1, 1), *cc = new_ctx(mc_cpu, 256, 1, 1);
        double par = 0, dc = 0;
        for (int i = 0; c && cc && i < n_tok; i++) {
            tn_batch one = {.n_tokens = 1, .token = &toks[i]};
            if (tn_decode(c, &one) != 0 || tn_decode(cc, &one) != 0) {
                CHECK(0, "decode %d: %s", i, tn_last_error());
                break;
            }
            double e = tt_max_diff(tn_get_logits(c, -1), lg + (size_t)i * N_VOCAB, N_VOCAB);
            if (!(e <= par)) par = e;
            e = tt_max_diff(tn_get_logits(c, -1), tn_get_logits(cc, -1), N_VOCAB);
            if (!(e <= dc)) dc = e;
        }
        printf("%-26s prefill vs decode max|d| %.3g (bound %.3g); decode GPU-CPU %.3g (bound %.3g)\n",
               mc->file, par, parity_bound(bf16), dc, mc->dbound);
        CHECK(par < parity_bound(bf16), "%s: prefill/decode parity %.4g", mc->file, par);
        CHECK(dc < mc->dbound, "%s: decode GPU vs CPU %.4g", mc->file, dc);
        tn_ctx_free(c);
        tn_ctx_free(cc);
    }

    /* 3. long context: 600 tokens in one batch vs 599 + one decode step (n_kv 600: 8 splits) */
    long_toks = malloc(sizeof(int32_t) * N_LONG);
    for (int i = 0; i < N_LONG; i++) long_toks[i] = toks[(i * 7) % n_tok];
    long_b = batch_logits(mg, long_toks, N_LONG, 1024, 1024);
    {
        tn_ctx *c = new_ctx(mg, 1024, 1024, 1);
        tn_batch pb = {.n_tokens = N_LONG - 1, .token = long_toks};
        tn_batch one = {.n_tokens = 1, .token = &long_toks[N_LONG - 1]};
        float *step = malloc(sizeof(float) * N_VOCAB);
        if (c && long_b && step && tn_decode(c, &pb) == 0 && tn_decode(c, &one) == 0) {
            memcpy(step, tn_get_logits(c, -1), sizeof(float) * N_VOCAB);
            double e = tt_max_diff(step, long_b + (size_t)(N_LONG - 1) * N_VOCAB, N_VOCAB);
            printf("%-26s 600-token context: batch vs decode step max|d| %.3g\n", mc->file, e);
            CHECK(e < parity_bound(bf16), "%s: long-context parity %.4g", mc->file, e);
        } else {
            CHECK(0, "long-context decode: %s", tn_last_error());
        }
        tn_ctx_free(c);
        /* the same step with 4 cells per split (128 splits, the most the merge takes) and with
         * 1024 (one split: each warp runs its loop over its tiles many times, keeping its running
         * softmax across them), on both kernels; and the tensor-core kernel's own split rule
         * (one wave of blocks, >= 256 cells per split: 4 splits here). By default a cache of 600
         * cells is below the tensor-core kernel's threshold (TERN_CUDA_TC_FROM, 1024). */
        static const char *const env[][2] = {
            {"TERN_CUDA_SPLIT_CELLS=4", "f32 kernel, 128 splits"},
            {"TERN_CUDA_SPLIT_CELLS=1024", "f32 kernel, 1 split"},
            {"TERN_CUDA_ATTN_TC=2", "tensor cores, 4 splits"},
            {"TERN_CUDA_ATTN_TC=2 TERN_CUDA_SPLIT_CELLS=4", "tensor cores, 128 splits"},
            {"TERN_CUDA_ATTN_TC=2 TERN_CUDA_SPLIT_CELLS=1024", "tensor cores, 1 split"},
            {"TERN_CUDA_TC_FROM=512", "tensor cores from 512 cells"},
        };
        for (size_t k = 0; k < sizeof env / sizeof env[0]; k++)
            check_split_step(mg, mc->file, bf16, &pb, &one, step, env[k][0], env[k][1]);
        free(step);
    }

    /* 4. greedy continuation: bf16 files must reproduce the transformers tokens; quantized files
     * the CPU backend's, except that they may part at a near tie (CPU top-2 margin below the
     * logit bound), where either choice is within the arithmetic's noise */
    {
        int32_t gg[48], gc[48];
        float mg_[48], mc_[48];
        greedy(mg, prompt, n_prompt, gg, mg_, 48);
        const int32_t *want = ref_greedy + n_prompt;
        if (!bf16) {
            greedy(mc_cpu, prompt, n_prompt, gc, mc_, 48);
            want = gc;
        }
        int same = 0;
        while (same < 48 && gg[same] == want[same]) same++;
        const bool tie = !bf16 && same < 48 && mc_[same] < mc->dbound;
        printf("%-26s greedy: %d/48 tokens equal to the %s%s\n", mc->file, same,
               bf16 ? "transformers reference" : "CPU backend",
               same < 48 ? (tie ? " (then a near tie)" : " (then a real divergence)") : "");
        CHECK(same == 48 || tie, "%s: greedy diverges at token %d (CPU margin %.3g)", mc->file, same,
              bf16 ? 0.0 : (double)mc_[same < 48 ? same : 0]);
    }

    /* 5. poison: NaN-filled buffers at allocation must not reach any logit */
    {
        setenv("TN_CUDA_POISON", "1", 1);
        float *lp = batch_logits(mg, toks, n_tok, 256, 1024);
        tn_ctx *c = new_ctx(mg, 256, 1, 1);
        setenv("TERN_CUDA_ATTN_TC", "2", 1); /* the tensor-core kernel from the first cell */
        tn_ctx *ct = new_ctx(mg, 256, 1, 1);
        unsetenv("TERN_CUDA_ATTN_TC");
        unsetenv("TN_CUDA_POISON");
        double dp = lp ? tt_max_diff(lp, lg, (size_t)n_tok * N_VOCAB) : INFINITY, dd = 0;
        for (int i = 0; c && ct && i < 24; i++) {
            tn_batch one = {.n_tokens = 1, .token = &toks[i]};
            if (tn_decode(c, &one) != 0 || tn_decode(ct, &one) != 0) {
                dd = INFINITY;
                break;
            }
            double e = tt_max_diff(tn_get_logits(c, -1), lg + (size_t)i * N_VOCAB, N_VOCAB);
            if (!(e <= dd)) dd = e;
            e = tt_max_diff(tn_get_logits(ct, -1), lg + (size_t)i * N_VOCAB, N_VOCAB);
            if (!(e <= dd)) dd = e;
        }
        printf("%-26s poisoned buffers: batch max|d| %.3g, decode max|d| %.3g\n", mc->file, dp, dd);
        CHECK(dp == 0, "%s: poisoned prefill differs from the clean one by %.4g", mc->file, dp);
        CHECK(dd < parity_bound(bf16), "%s: poisoned decode differs by %.4g", mc->file, dd);
        free(lp);
        tn_ctx_free(c);
        tn_ctx_free(ct);
    }

    /* 6. two sequences interleaved in one batch, then one decode step of sequence 0 on the
     * tensor-core kernel: half of every 16-cell tile belongs to the other sequence (masked) */
    {
        setenv("TERN_CUDA_ATTN_TC", "2", 1);
        tn_ctx *c = new_ctx(mg, 256, 512, 2);
        unsetenv("TERN_CUDA_ATTN_TC");
        int32_t it[64], is[64];
        int8_t il[64];
        for (int i = 0; i < 32; i++) {
            it[2 * i] = toks[i];
            is[2 * i] = 0;
            it[2 * i + 1] = toks[64 + i];
            is[2 * i + 1] = 1;
            il[2 * i] = il[2 * i + 1] = 1;
        }
        tn_batch ib = {.n_tokens = 64, .token = it, .seq_id = is, .logits = il};
        if (c && tn_decode(c, &ib) == 0) {
            double e = 0;
            for (int i = 0; i < 32; i++) {
                double d = tt_max_diff(tn_get_logits(c, 2 * i), lg + (size_t)i * N_VOCAB, N_VOCAB);
                if (!(d <= e)) e = d;
            }
            printf("%-26s interleaved sequences max|d| %.3g\n", mc->file, e);
            /* rounding only (different tile/cell order in the f16 attention): leaking between
             * sequences would show as O(1) */
            CHECK(e < 1e-2, "%s: sequence 0 disturbed by sequence 1: %.4g", mc->file, e);
            int32_t s0 = 0;
            tn_batch next = {.n_tokens = 1, .token = &toks[32], .seq_id = &s0};
            const double en = tn_decode(c, &next) == 0 ? tt_max_diff(tn_get_logits(c, -1), lg + (size_t)32 * N_VOCAB, N_VOCAB)
                                                       : INFINITY;
            printf("%-26s interleaved sequences, next decode step max|d| %.3g (bound %.3g)\n", mc->file, en,
                   parity_bound(bf16));
            CHECK(en < parity_bound(bf16), "%s: decode step among another sequence's cells: %.4g", mc->file, en);
        } else {
            CHECK(0, "interleaved decode: %s", tn_last_error());
        }
        tn_ctx_free(c);
    }
out:
    free(lg);
    free(lc);
    free(long_b);
    free(long_toks);
    tn_model_free(mg);
    tn_model_free(mc_cpu);
    free(ref);
    free(toks);
    free(ref_greedy);
    free(prompt);
    free(json);
}

/* A weight type the backend has no kernel for must fail the load, naming tensor and type: a copy
 * of tiny-llama-Q4_0 whose blk.0.attn_q.weight is declared IQ2_XXS. */
static void check_unsupported(void) {
    tn_gguf *src = tn_gguf_open("models/tiny-llama/tiny-llama-Q4_0.gguf");
    CHECK(src != NULL, "open: %s", tn_last_error());
    if (!src) return;
    tn_gguf_writer *w = tn_gguf_writer_new();
    tn_gguf_writer_copy_kv(w, src);
    void *junk = NULL;
    for (int64_t i = 0; i < tn_gguf_n_tensors(src); i++) {
        const tn_gguf_tensor *t = tn_gguf_tensor_at(src, i);
        if (strcmp(t->name, "blk.0.attn_q.weight") == 0) {
            size_t n = tn_row_size(TN_TYPE_IQ2_XXS, t->ne[0]) * (size_t)t->ne[1];
            junk = calloc(1, n);
            tn_gguf_writer_add_tensor(w, t->name, TN_TYPE_IQ2_XXS, t->n_dims, t->ne, junk, n);
        } else {
            tn_gguf_writer_add_tensor(w, t->name, t->type, t->n_dims, t->ne, t->data, t->nbytes);
        }
    }
    char path[128];
    snprintf(path, sizeof path, "/tmp/tern-test-cuda-%d.gguf", (int)getpid());
    int rc = tn_gguf_writer_write(w, path, NULL, NULL);
    CHECK(rc == 0, "write %s: %s", path, tn_last_error());
    tn_gguf_writer_free(w);
    tn_gguf_close(src);
    free(junk);
    tn_model_params gp = tn_model_default_params();
    gp.n_gpu_layers = 99;
    tn_model *m = rc == 0 ? tn_model_load(path, &gp) : NULL;
    const char *e = tn_last_error();
    printf("test_cuda: unsupported weight type -> %s\n", m ? "(loaded!)" : e);
    CHECK(m == NULL && strstr(e, "q.weight") && strstr(e, "iq2_xxs"),
          "an IQ2_XXS weight must fail the GPU load naming tensor and type: %s", m ? "loaded" : e);
    tn_model_free(m);
    remove(path);
    /* partial offload is not implemented: -ngl below the layer count is refused with a message */
    gp.n_gpu_layers = 1;
    m = tn_model_load("models/tiny-llama/tiny-llama-Q4_0.gguf", &gp);
    e = tn_last_error();
    printf("test_cuda: -ngl 1 -> %s\n", m ? "(loaded!)" : e);
    CHECK(m == NULL && strstr(e, "partial GPU offload"), "-ngl 1 must fail the load: %s", m ? "loaded" : e);
    tn_model_free(m);
}
/* A random-weight model of the shape, written to /tmp (path: its name) and loaded on the GPU;
 * NULL after a failed check. */
static tn_model *gpu_synth(const tn_synth_shape *shape, const char *wtype, float std, char *path, size_t cap) {
    tn_synth_params sp = tn_synth_default_params();
    sp.shape = shape;
    sp.std = std;
    snprintf(path, cap, "/tmp/tern-test-cuda-%s-%d-%s.gguf", shape->name, (int)getpid(), wtype);
    if (tn_synth_wtype_parse(wtype, &sp.wtype) != 0 || tn_synth_write(&sp, path) != 0) {
        CHECK(0, "synthetic %s %s: %s", shape->name, wtype, tn_last_error());
        return NULL;
    }
    tn_model_params gp = tn_model_default_params();
    gp.n_gpu_layers = 99;
    tn_model *m = tn_model_load(path, &gp);
    CHECK(m != NULL, "load %s on the GPU: %s", path, tn_last_error());
    return m;
}

/* Wide FFN (n_ff 14336 as Llama-3-8B: the down projection takes 3.5 batches of loads per warp and
 * stages 18 KB of activations in shared memory): random-weight models in Q4_0 and Q4_K_M. Decode with
 * staged activations and RoPE + the cache store in the q/k/v epilogue must equal decode without
 * (TERN_CUDA_STAGE=0: activations read from global memory, a separate RoPE kernel; the same int8
 * values summed in the same order) exactly, both without the mat-vecs' output quantization
 * (TERN_CUDA_FUSE_QUANT=0); the residual mat-vecs quantizing the next RMSNorm's items, whose scale
 * the next mat-vecs apply to the items' d (TERN_CUDA_FUSE_QUANT=2; by default only where the
 * mat-vec has blocks for half the SMs, which this narrow model has not), differ from that by more
 * than 0 (else that path did not run) and at most 3% of the largest |logit|
 * (the same integers but for rounding ties, d rounded once more; each flipped rounding moves
 * logits by a quantization step through the random weights: measured on an H200 0.08% (Q4_0) and
 * 0.9% (Q4_K_M), while a wrong scale or weight is O(1)); against the CPU (int8 activations per 32
 * values on the GPU, per 32 (Q4_0) or per 256 (K-quants) on the CPU, amplified through random
 * weights) the bound is 10% of the largest |logit|, a sanity check (measured with n_ff 16384: 2.5%
 * and 4.6%). */
static void check_wide(const char *wtype) {
    static const tn_synth_shape wide = {"wide-ffn", "llama", "30M", 512, 256, 2, 14336, 4, 2, 64,
                                        2048, 10000.0f, 1e-5f, false, false};
    char path[256];
    tn_model *mg = gpu_synth(&wide, wtype, 0.05f, path, sizeof path), *mc = mg ? tn_model_load(path, NULL) : NULL;
    CHECK(!mg || mc, "load %s on the CPU: %s", path, tn_last_error());
    if (mg && mc) {
        int32_t toks[16];
        for (int i = 0; i < 16; i++)
            toks[i] = 3 + (i * 37) % 500;
        double worst = 0, scale = 0, staged = 0, fused = 0;
        float *first = malloc(sizeof(float) * 512 * 15);
        /* token by token (output quantization in the mat-vecs off), batches of 5, unstaged, fused */
        for (int pass = 0; pass < 4; pass++) {
            if (pass == 0) setenv("TERN_CUDA_FUSE_QUANT", "0", 1);
            if (pass == 2) setenv("TERN_CUDA_STAGE", "0", 1);
            /* unstaged, RoPE is its own op and the attention kernel does it, with one lane per
             * cache cell: the staged reference takes one too, to compare bit for bit */
            if (pass == 0 || pass == 2) setenv("TERN_CUDA_ATTN_LPC", "1", 1);
            if (pass == 3) setenv("TERN_CUDA_FUSE_QUANT", "2", 1);
            const int n = pass == 1 ? 5 : 1;
            tn_ctx *cg = new_ctx(mg, 64, n, 1), *cc = new_ctx(mc, 64, n, 1);
            unsetenv("TERN_CUDA_STAGE");
            unsetenv("TERN_CUDA_FUSE_QUANT");
            unsetenv("TERN_CUDA_ATTN_LPC");
            for (int i = 0; cg && cc && first && i < 15; i += n) {
                int8_t want[5] = {1, 1, 1, 1, 1};
                tn_batch b = {.n_tokens = n, .token = toks + i, .logits = want};
                if (tn_decode(cg, &b) != 0 || tn_decode(cc, &b) != 0) {
                    CHECK(0, "decode: %s", tn_last_error());
                    break;
                }
                for (int k = 0; k < n; k++) {
                    const float *lg = tn_get_logits(cg, k), *lc = tn_get_logits(cc, k);
                    for (int v = 0; v < 512; v++) scale = fmax(scale, fabs(lc[v]));
                    double e = tt_max_diff(lg, lc, 512);
                    if (!(e <= worst)) worst = e;
                    if (pass == 0) memcpy(first + (size_t)(i + k) * 512, lg, sizeof(float) * 512);
                    if (pass >= 2) {
                        e = tt_max_diff(lg, first + (size_t)(i + k) * 512, 512);
                        double *d = pass == 2 ? &staged : &fused;
                        if (!(e <= *d)) *d = e;
                    }
                }
            }
            tn_ctx_free(cg);
            tn_ctx_free(cc);
        }
        free(first);
        printf("wide FFN %-7s GPU-CPU max|d| %.3g, max|logit| %.3g (bound 10%%); staged vs "
               "unstaged %.3g (bound 0); "
               "RMSNorm items made by the mat-vecs vs its kernel %.3g (bound 3%%)\n",
               wtype, worst, scale, staged, fused);
        CHECK(worst <= 0.1 * scale, "wide FFN %s: GPU vs CPU %.4g (max logit %.4g)", wtype, worst,
              scale);
        CHECK(staged == 0, "wide FFN %s: staged vs unstaged activations differ by %.4g", wtype,
              staged);
        CHECK(fused > 0, "wide FFN %s: the RMSNorm items were not made by the mat-vecs (same logits)",
              wtype);
        CHECK(fused <= 0.03 * scale,
              "wide FFN %s: fused output quantization differs by %.4g (max logit %.4g)", wtype,
              fused, scale);
    }
    tn_model_free(mg);
    tn_model_free(mc);
    unlink(path);
}

/* Sampling with the candidates chosen on the GPU (tn_sample: argmax or top-k there, only k
 * (id, logit) pairs copied) must pick exactly the tokens the host sampler picks from the whole
 * logits row, for every sampler setting, step after step (same seeds, same accepted tokens). A
 * random-weight model with a 50000-token vocabulary makes the top-k take several passes. */
static void check_sampling(void) {
    static const tn_synth_shape big = {"big-vocab", "llama", "10M", 50000, 128, 1, 256, 2, 1, 64,
                                       256, 10000.0f, 1e-5f, false, false};
    char path[256];
    tn_model *m = gpu_synth(&big, "q8_0", 0.5f, path, sizeof path);
    tn_sampler_params cfg[5];
    for (int i = 0; i < 5; i++) cfg[i] = tn_sampler_default_params();
    cfg[0].temp = 0;                                          /* greedy */
    cfg[1].seed = 42;                                         /* llama.cpp's chain, top_k 40 */
    cfg[2].seed = 7, cfg[2].top_k = 256, cfg[2].top_p = 1.0f; /* the largest device k */
    cfg[3].temp = 0, cfg[3].repeat_penalty = 1.5f;            /* greedy with a penalty */
    cfg[4].seed = 3, cfg[4].repeat_penalty = 1.3f, cfg[4].temp = 1.5f;
    int same = 0, total = 0;
    for (int c = 0; m && c < 5; c++) {
        tn_ctx *ctx = new_ctx(m, 64, 16, 1);
        tn_sampler *dev = tn_sampler_new(&cfg[c], 50000), *host = tn_sampler_new(&cfg[c], 50000);
        int32_t tok = 17;
        tn_batch b = {.n_tokens = 1, .token = &tok};
        for (int step = 0; ctx && dev && host && step < 24; step++) {
            if (tn_decode(ctx, &b) != 0) {
                CHECK(0, "decode: %s", tn_last_error());
                break;
            }
            const int32_t td = tn_sample(dev, ctx, -1); /* before the row is copied */
            const float *l = tn_get_logits(ctx, -1);
            const int32_t th = l ? tn_sampler_sample(host, l) : -2;
            total++;
            same += td == th;
            CHECK(td == th, "sampler %d step %d: GPU candidates give %d, host %d (%s)", c, step, td, th,
                  td < 0 ? tn_last_error() : "");
            tn_sampler_accept(dev, td);
            tn_sampler_accept(host, th);
            tok = th;
        }
        tn_sampler_free(dev);
        tn_sampler_free(host);
        tn_ctx_free(ctx);
    }
    printf("sampling on the GPU (50000-token vocabulary, 5 sampler settings): %d/%d tokens equal the host sampler's\n",
           same, total);
    tn_model_free(m);
    unlink(path);
}

/* Head size 256 (Gemma-like; no bundled model has it): a random bf16 model, the decode step at a
 * 300-token context on the tensor-core kernel (forced: TERN_CUDA_ATTN_TC=2; by default such models
 * keep the f32 kernel until this check has passed on a GPU) vs the f32 kernel. bf16 weights keep
 * activations in f32 (no int8 rounding flips), so the two kernels differ by f16 rounding of the
 * probabilities only: bound 1e-3 of the largest |logit| (the bf16 tiny models' 600-token step
 * differs by ~1e-5 of it between the kernels). */
static void check_head256(void) {
    static const tn_synth_shape h256 = {"head-256", "llama", "30M", 512, 1024, 2, 1024, 4, 2, 256,
                                        2048, 10000.0f, 1e-5f, false, false};
    char path[256];
    tn_model *mg = gpu_synth(&h256, "bf16", 0.05f, path, sizeof path);
    int32_t toks[300];
    for (int i = 0; i < 300; i++) toks[i] = 3 + (i * 37) % 500;
    float *out[2] = {NULL, NULL};
    for (int k = 0; mg && k < 2; k++) {
        setenv("TERN_CUDA_ATTN_TC", k ? "2" : "0", 1);
        tn_ctx *c = new_ctx(mg, 512, 512, 1);
        unsetenv("TERN_CUDA_ATTN_TC");
        tn_batch pb = {.n_tokens = 299, .token = toks}, one = {.n_tokens = 1, .token = &toks[299]};
        if (c && tn_decode(c, &pb) == 0 && tn_decode(c, &one) == 0) {
            out[k] = malloc(sizeof(float) * 512);
            memcpy(out[k], tn_get_logits(c, -1), sizeof(float) * 512);
        } else {
            CHECK(0, "head-256 decode (%s kernel): %s", k ? "tensor-core" : "f32", tn_last_error());
        }
        tn_ctx_free(c);
    }
    if (out[0] && out[1]) {
        double scale = 0;
        for (int i = 0; i < 512; i++) scale = fmax(scale, fabs(out[0][i]));
        const double e = tt_max_diff(out[1], out[0], 512);
        printf("test_cuda: head size 256, 300-token step: tensor-core vs f32 kernel max|d| %.3g (bound %.3g)\n", e,
               1e-3 * scale);
        CHECK(scale > 0 && e <= 1e-3 * scale, "head 256: tensor-core vs f32 decode attention differ by %.4g (max|logit| %.4g)",
              e, scale);
    }
    free(out[0]);
    free(out[1]);
    tn_model_free(mg);
    unlink(path);
}

/* n decode steps from an empty cache (tokens 5 + 41 i mod 900), the logits into out (n rows);
 * environment settings made before the call apply to the context made here. */
static bool decode_steps(tn_model *m, const char *path, int n, float *out) {
    tn_ctx *c = new_ctx(m, 256, 16, 1);
    bool ok = c != NULL;
    for (int i = 0; ok && i < n; i++) {
        int32_t tok = 5 + (i * 41) % 900;
        tn_batch b = {.n_tokens = 1, .token = &tok};
        ok = tn_decode(c, &b) == 0;
        CHECK(ok, "%s decode step %d: %s", path, i, tn_last_error());
        if (ok) memcpy(out + (size_t)i * N_VOCAB, tn_get_logits(c, -1), sizeof(float) * N_VOCAB);
    }
    tn_ctx_free(c);
    return ok;
}

/* The decode attention kernel doing the RoPE op's QK-norm, rotation and cache store (default, one
 * token and one split at a time) instead of k_rope_store (TERN_CUDA_ATTN_ROPE=0): 24 decode steps
 * from an empty cache must give exactly the same logits (the same arithmetic: norm_rope_head, f16
 * rounding of the stored rows) on tiny-qwen3 (QK-norm, NeoX RoPE, the RoPE op its own kernel) and
 * tiny-llama with TERN_CUDA_FUSE_ROPE=0 in both runs (else the q/k/v mat-vecs do RoPE); one lane
 * per cache cell in both (TERN_CUDA_ATTN_LPC=1: the RoPE-in kernel's order of additions). */
static void check_attn_rope(const char *path, bool no_fused_rope) {
    tn_model_params gp = tn_model_default_params();
    gp.n_gpu_layers = 99;
    tn_model *m = tn_model_load(path, &gp);
    CHECK(m != NULL, "load %s: %s", path, tn_last_error());
    float *logits[2] = {malloc(sizeof(float) * 24 * N_VOCAB), malloc(sizeof(float) * 24 * N_VOCAB)};
    bool ok = m && logits[0] && logits[1];
    for (int k = 0; ok && k < 2; k++) {
        if (no_fused_rope) setenv("TERN_CUDA_FUSE_ROPE", "0", 1);
        if (!k) setenv("TERN_CUDA_ATTN_ROPE", "0", 1);
        setenv("TERN_CUDA_ATTN_LPC", "1", 1); /* as the RoPE-in kernel: the same additions */
        ok = decode_steps(m, path, 24, logits[k]);
        unsetenv("TERN_CUDA_FUSE_ROPE");
        unsetenv("TERN_CUDA_ATTN_ROPE");
        unsetenv("TERN_CUDA_ATTN_LPC");
    }
    if (ok) {
        const double e = tt_max_diff(logits[1], logits[0], (size_t)24 * N_VOCAB);
        printf("%s: RoPE in the attention kernel vs k_rope_store, 24 decode steps max|d| %.3g (bound 0)\n",
               path, e);
        CHECK(e == 0, "%s: RoPE in the attention kernel changes the logits by %.4g", path, e);
    }
    free(logits[0]);
    free(logits[1]);
    tn_model_free(m);
}

/* Two lanes per cache cell in the one-split decode attention (the default: each lane dots half
 * of the K row, tiles of 16 cells) against one (TERN_CUDA_ATTN_LPC=1): 80 decode steps from an
 * empty cache (tiles of every warp, a second round past 64 cells), f16 cache. Only the K dot's
 * order of additions changes, so the logits agree within 1e-3 (f32 rounding through the layers; a
 * wrong cell, half-row or probability is O(1)) and differ by more than 0 (else the path did not
 * run). bf16 weights, whose mat-vecs take float activations: with int8 activations (Q4_0) one
 * flipped rounding moves the logits by a quantization step (tiny-llama Q4_0: 0.088 on the H200).
 * tiny-llama (head size 32) and a random bf16 Llama of head size 128 (one K load round per lane,
 * 16 V rows). QK-norm models (RoPE in the attention kernel) always take one lane per cell. */
static void check_attn_lpc(const char *path, bool synthetic) {
    enum { STEPS = 80 };
    /* synthetic: Llama's head size 128 (the tiny models have 32), random bf16 weights */
    static const tn_synth_shape hd128 = {"hd128", "llama", "10M", N_VOCAB, 512, 2, 1024, 4, 2, 128,
                                         2048, 10000.0f, 1e-5f, false, false};
    char spath[256];
    tn_model_params gp = tn_model_default_params();
    gp.n_gpu_layers = 99;
    tn_model *m = synthetic ? gpu_synth(&hd128, "bf16", 0.05f, spath, sizeof spath) : tn_model_load(path, &gp);
    if (synthetic) path = spath;
    CHECK(m != NULL, "load %s: %s", path, tn_last_error());
    float *logits[2] = {malloc(sizeof(float) * STEPS * N_VOCAB), malloc(sizeof(float) * STEPS * N_VOCAB)};
    bool ok = m && logits[0] && logits[1];
    for (int k = 0; ok && k < 2; k++) {
        if (k == 0) setenv("TERN_CUDA_ATTN_LPC", "1", 1);
        ok = decode_steps(m, path, STEPS, logits[k]);
        unsetenv("TERN_CUDA_ATTN_LPC");
    }
    if (ok) {
        const double e = tt_max_diff(logits[1], logits[0], (size_t)STEPS * N_VOCAB);
        printf("%s: attention with 2 lanes per cell vs 1, %d decode steps max|d| %.3g (bound 1e-3, > 0)\n", path,
               STEPS, e);
        CHECK(e <= 1e-3, "%s: 2 lanes per cell change the logits by %.4g", path, e);
        CHECK(e > 0, "%s: 2 lanes per cell gave identical logits: path not taken?", path);
    }
    free(logits[0]);
    free(logits[1]);
    tn_model_free(m);
    if (synthetic) unlink(spath);
}

#endif

int main(void) {
#ifndef TN_CUDA
    printf("test_cuda: *** SKIPPED *** built without CUDA (make CUDA=1): NOTHING WAS CHECKED\n");
    return 0;
#else
    char msg[512];
    int rc = tn_cuda_selftest_layouts(msg, sizeof msg);
    printf("test_cuda: weight layout self-test (host): %s\n", msg);
    CHECK(rc == 0, "layout self-test: %s", msg);
    if (tn_cuda_device_count() == 0) {
        printf("test_cuda: *** SKIPPED GPU CHECKS *** no CUDA device: only the host layout test ran\n");
        return tn_test_done("test_cuda");
    }
    char name[256];
    printf("test_cuda: device %s\n", tn_cuda_device_name(name, sizeof name));
    rc = tn_cuda_selftest_top_k(msg, sizeof msg);
    printf("test_cuda: sampler top-k on the device: %s\n", msg);
    CHECK(rc == 0, "top-k self-test: %s", msg);
    check_sampling();
    const char *quick = getenv("TN_TEST_CUDA_QUICK");
    if (quick && *quick == '1') { /* qwen3 bf16 (q/k norms, NeoX RoPE) and Q4_K_M (two types) */
        check_model(&models[1]);
        check_model(&models[7]);
    } else {
        for (size_t i = 0; i < sizeof models / sizeof models[0]; i++) check_model(&models[i]);
    }
    check_wide("q4_0");
    check_wide("Q4_K_M");
    check_head256();
    check_attn_rope("models/tiny-qwen3/tiny-qwen3-bf16.gguf", false);
    check_attn_rope("models/tiny-llama/tiny-llama-Q4_0.gguf", true);
    check_attn_lpc("models/tiny-llama/tiny-llama-bf16.gguf", false);
    check_attn_lpc(NULL, true);
    check_unsupported();
    return tn_test_done("test_cuda");
#endif
}
