/* End-to-end checks of the CPU forward pass against the transformers fp32 reference
 * (models/NAME/ref.json + ref-logits-f32.bin): logits of 128 reference tokens, prefill-vs-decode
 * parity, greedy continuation of "ROMEO:", and independence of sequences sharing one cache. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "tern.h"
#include "testutil.h"

enum { N_VOCAB = 1024 };

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
    cp.n_threads = 2;
    cp.n_seq_max = n_seq;
    tn_ctx *c = tn_ctx_new(m, &cp);
    CHECK(c != NULL, "ctx: %s", tn_last_error());
    return c;
}

/* tn_sample (output i of the last decode) on the CPU, which has no device top-k: the same token
 * as the sampler on tn_get_logits's row, step after step, for greedy and llama.cpp's chain (with
 * a repetition penalty); an output the decode did not make is an error, not a crash. */
static void check_sample(tn_model *m, const int32_t *toks) {
    tn_sampler_params ps[2] = {tn_sampler_default_params(), tn_sampler_default_params()};
    ps[0].temp = 0;
    ps[1].seed = 11, ps[1].repeat_penalty = 1.2f;
    for (int k = 0; k < 2; k++) {
        tn_ctx *c = new_ctx(m, 64, 16, 1);
        tn_sampler *a = tn_sampler_new(&ps[k], N_VOCAB), *b = tn_sampler_new(&ps[k], N_VOCAB);
        tn_batch pb = {.n_tokens = 4, .token = toks};
        int same = 0;
        CHECK(c && a && b && tn_decode(c, &pb) == 0, "sample setup: %s", tn_last_error());
        for (int i = 0; c && a && b && i < 16; i++) {
            const int32_t ta = tn_sample(a, c, -1), tb = tn_sampler_sample(b, tn_get_logits(c, -1));
            same += ta == tb;
            if (k == 0) CHECK(ta == argmax(tn_get_logits(c, -1), N_VOCAB), "greedy tn_sample is not the argmax");
            tn_sampler_accept(a, ta);
            tn_sampler_accept(b, tb);
            tn_batch one = {.n_tokens = 1, .token = &tb};
            if (tn_decode(c, &one) != 0) break;
        }
        CHECK(same == 16, "tn_sample agreed with the sampler on %d/16 tokens (setting %d)", same, k);
        if (c && a) {
            CHECK(tn_sample(a, c, 1) == -1 && strstr(tn_last_error(), "no logits"),
                  "output 1 of a one-output decode: %s", tn_last_error());
            CHECK(tn_sample(a, c, -2) == -1, "output -2 of a one-output decode was sampled");
        }
        tn_sampler_free(a);
        tn_sampler_free(b);
        tn_ctx_free(c);
    }
}

/* Bounds vs transformers' fp32 logits: its own error grows with position (an independent float64
 * numpy forward differs from it by 0.0097 on tiny-llama and 0.042 on tiny-qwen3 at 128 tokens,
 * see tests/scripts/fp64_reference.py), so tern (default F16 KV cache) is held to 1e-2 where that
 * is attainable, and with an F32 KV cache to the float64 reference (tests/data/ref-fp64) with a
 * tight bound everywhere: that pass leaves only float32 rounding. */
static void check_model(const char *dir, const char *gguf, double tol_hf, const char *fp64_path,
                        double tol_fp64) {
    char path[512];
    snprintf(path, sizeof path, "%s/ref.json", dir);
    char *json = tn_test_read_file(path, NULL);
    CHECK(json != NULL, "cannot read %s", path);
    if (!json) return;
    int n_tok = 0, n_greedy = 0, n_prompt = 0;
    int32_t *toks = tt_json_int_array(json, "logits_tokens", &n_tok);
    int32_t *greedy = tt_json_int_array(json, "greedy_ids", &n_greedy);
    int32_t *prompt = tt_json_int_array(json, "greedy_prompt_ids", &n_prompt);
    CHECK(toks && n_tok == 128 && greedy && prompt, "ref.json layout");
    snprintf(path, sizeof path, "%s/ref-logits-f32.bin", dir);
    float *ref = tt_read_f32(path, (size_t)n_tok * N_VOCAB);
    CHECK(ref != NULL, "cannot read %s", path);
    float *ref64 = tt_read_f32(fp64_path, (size_t)n_tok * N_VOCAB);
    CHECK(ref64 != NULL, "cannot read %s", fp64_path);
    snprintf(path, sizeof path, "%s/%s", dir, gguf);
    tn_model *m = tn_model_load(path, NULL);
    CHECK(m != NULL, "load %s: %s", path, tn_last_error());
    if (!m || !ref || !ref64 || !toks) goto out;
    CHECK(tn_model_n_vocab(m) == N_VOCAB, "n_vocab %d", tn_model_n_vocab(m));

    /* 1. One batch of 128 tokens, logits at every position, vs the reference. */
    tn_ctx *c = new_ctx(m, 256, 512, 1);
    int8_t want[128];
    memset(want, 1, sizeof want);
    tn_batch b = {.n_tokens = n_tok, .token = toks, .logits = want};
    CHECK(tn_decode(c, &b) == 0, "decode: %s", tn_last_error());
    CHECK(tn_n_outputs(c) == n_tok, "outputs %d", tn_n_outputs(c));
    float *batch_logits = malloc(sizeof(float) * (size_t)n_tok * N_VOCAB);
    double max_err = 0, max_err64 = 0;
    int argmax_mismatch = 0;
    for (int i = 0; i < n_tok; i++) {
        const float *l = tn_get_logits(c, i);
        memcpy(batch_logits + (size_t)i * N_VOCAB, l, sizeof(float) * N_VOCAB);
        for (int v = 0; v < N_VOCAB; v++) {
            max_err = fmax(max_err, fabs(l[v] - ref[(size_t)i * N_VOCAB + v]));
        }
        argmax_mismatch += argmax(l, N_VOCAB) != argmax(ref + (size_t)i * N_VOCAB, N_VOCAB);
    }
    printf("%s: logits max abs err vs transformers fp32 = %.3g (bound %.3g), argmax mismatches %d/128\n",
           gguf, max_err, tol_hf, argmax_mismatch);
    CHECK(max_err < tol_hf, "%s logits max abs error %.4g >= %.3g", gguf, max_err, tol_hf);
    CHECK(argmax_mismatch == 0, "%s: %d argmax mismatches", gguf, argmax_mismatch);
    tn_ctx_free(c);

    /* 1b. The same batch with an F32 KV cache vs the float64 reference. */
    tn_ctx_params cp = tn_ctx_default_params();
    cp.n_ctx = 256;
    cp.n_batch = 512;
    cp.n_threads = 2;
    cp.type_k = cp.type_v = 0; /* F32 (ggml type number 0) */
    c = tn_ctx_new(m, &cp);
    CHECK(c != NULL, "f32 kv ctx: %s", tn_last_error());
    if (c && tn_decode(c, &b) == 0)
        for (int i = 0; i < n_tok; i++) {
            const float *l = tn_get_logits(c, i);
            for (int v = 0; v < N_VOCAB; v++) max_err64 = fmax(max_err64, fabs(l[v] - ref64[(size_t)i * N_VOCAB + v]));
        }
    else
        CHECK(0, "f32 kv decode: %s", tn_last_error());
    printf("%s: F32 KV cache: logits max abs err vs float64 = %.3g (bound %.3g)\n", gguf, max_err64, tol_fp64);
    CHECK(max_err64 < tol_fp64, "%s vs float64: %.4g >= %.3g", gguf, max_err64, tol_fp64);
    tn_ctx_free(c);

    /* 2. Token-by-token decode equals the batch (micro-batch 1 forces one token per step). */
    c = new_ctx(m, 256, 1, 1);
    double par_err = 0;
    for (int i = 0; i < n_tok; i++) {
        tn_batch one = {.n_tokens = 1, .token = &toks[i]};
        CHECK(tn_decode(c, &one) == 0, "decode %d: %s", i, tn_last_error());
        const float *l = tn_get_logits(c, -1);
        for (int v = 0; v < N_VOCAB; v++) {
            double e = fabs(l[v] - batch_logits[(size_t)i * N_VOCAB + v]);
            if (e > par_err) par_err = e;
        }
    }
    printf("%s: prefill vs token-by-token max abs diff = %.3g\n", gguf, par_err);
    CHECK(par_err <= 1e-4, "%s prefill/decode parity %.4g > 1e-4", gguf, par_err);
    tn_ctx_free(c);

    /* 3. Greedy continuation of BOS + "ROMEO:" for 48 tokens. */
    c = new_ctx(m, 256, 64, 1);
    int32_t n_pt = tn_tokenize(m, "ROMEO:", 6, NULL, 0, true, false);
    int32_t ptoks[16];
    n_pt = tn_tokenize(m, "ROMEO:", 6, ptoks, 16, true, false);
    CHECK(n_pt == n_prompt && memcmp(ptoks, prompt, sizeof(int32_t) * (size_t)n_prompt) == 0,
          "prompt tokens differ from the reference (%d tokens)", n_pt);
    tn_batch pb = {.n_tokens = n_prompt, .token = prompt};
    CHECK(tn_decode(c, &pb) == 0, "prompt decode: %s", tn_last_error());
    int same = 0;
    for (int i = 0; i < 48; i++) {
        int32_t t = argmax(tn_get_logits(c, -1), N_VOCAB);
        if (t == greedy[n_prompt + i]) same++;
        else break;
        tn_batch one = {.n_tokens = 1, .token = &t};
        tn_decode(c, &one);
    }
    printf("%s: greedy continuation matches the reference for %d/48 tokens\n", gguf, same);
    CHECK(same == 48, "%s: greedy diverges at token %d", gguf, same);
    tn_ctx_free(c);

    /* 4. Two sequences interleaved in one cache give each one's own logits. */
    c = new_ctx(m, 256, 512, 2);
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
    CHECK(tn_decode(c, &ib) == 0, "interleaved decode: %s", tn_last_error());
    /* sequence 0 saw toks[0..32): equal to the batch logits there */
    double seq_err = 0;
    for (int i = 0; i < 32; i++) {
        const float *l = tn_get_logits(c, 2 * i);
        for (int v = 0; v < N_VOCAB; v++) {
            double e = fabs(l[v] - batch_logits[(size_t)i * N_VOCAB + v]);
            if (e > seq_err) seq_err = e;
        }
    }
    CHECK(seq_err <= 1e-4, "%s: sequence 0 disturbed by sequence 1: %.4g", gguf, seq_err);
    /* removing sequence 1 then continuing sequence 0 still matches the batch */
    tn_kv_seq_rm(c, 1, 0, -1);
    CHECK(tn_kv_seq_pos_max(c, 1) == -1 && tn_kv_seq_pos_max(c, 0) == 31, "seq bookkeeping");
    tn_batch nb = {.n_tokens = 1, .token = &toks[32]};
    CHECK(tn_decode(c, &nb) == 0, "continue seq 0: %s", tn_last_error());
    double cont_err = 0;
    const float *l = tn_get_logits(c, -1);
    for (int v = 0; v < N_VOCAB; v++) {
        double e = fabs(l[v] - batch_logits[(size_t)32 * N_VOCAB + v]);
        if (e > cont_err) cont_err = e;
    }
    CHECK(cont_err <= 1e-4, "%s: continuation after seq_rm differs by %.4g", gguf, cont_err);
    tn_ctx_free(c);

    /* 5. A batch larger than the free cache fails cleanly and keeps nothing. */
    c = new_ctx(m, 64, 64, 1);
    tn_batch big = {.n_tokens = 100, .token = toks};
    CHECK(tn_decode(c, &big) != 0 && strstr(tn_last_error(), "context"), "overflow: %s",
          tn_last_error());
    CHECK(tn_kv_seq_pos_max(c, 0) == -1, "failed batch left cells behind");
    tn_ctx_free(c);
    check_sample(m, toks);
    free(batch_logits);
out:
    tn_model_free(m);
    free(ref);
    free(ref64);
    free(toks);
    free(greedy);
    free(prompt);
    free(json);
}

int main(void) {
    check_model("models/tiny-llama", "tiny-llama-bf16.gguf", 1e-2,
                "tests/data/ref-fp64/tiny-llama-logits-f32.bin", 1e-4);
    check_model("models/tiny-qwen3", "tiny-qwen3-bf16.gguf", 5e-2,
                "tests/data/ref-fp64/tiny-qwen3-logits-f32.bin", 1e-4);
    return tn_test_done("test_model");
}
