/* tern quantize checks: quantizing models/tiny-llama/tiny-llama-bf16.gguf with each of the 13
 * mixes llama-quantize produced in models/tiny-llama/ gives the same tensor types and
 * byte-identical tensor data, the same file_type and all other metadata copied; K-quant and IQ4
 * files measure the same perplexity as llama.cpp's; the tied-embedding rule (Qwen3); existing
 * outputs are refused without --force and failures leave nothing behind; the CLI. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "formats/gguf.h"
#include "formats/types.h"
#include "perplexity/perplexity.h"
#include "quantize/quantize.h"
#include "tern.h"
#include "testutil.h"

#define BF16 "models/tiny-llama/tiny-llama-bf16.gguf"

static char g_tmp[256];

static const char *tmp_path(const char *name) {
    static char buf[4][512];
    static int k;
    char *b = buf[k++ % 4];
    snprintf(b, 512, "%s/%s", g_tmp, name);
    return b;
}

static bool exists(const char *p) {
    return access(p, F_OK) == 0;
}

/* Every tensor of `ref` is in `got` with the same shape, type and bytes; returns how many
 * differ. */
static int compare_tensors(const tn_gguf *got, const tn_gguf *ref, const char *what) {
    int bad = 0;
    CHECK(tn_gguf_n_tensors(got) == tn_gguf_n_tensors(ref), "%s: %lld tensors vs %lld", what,
          (long long)tn_gguf_n_tensors(got), (long long)tn_gguf_n_tensors(ref));
    for (int64_t i = 0; i < tn_gguf_n_tensors(ref); i++) {
        const tn_gguf_tensor *r = tn_gguf_tensor_at(ref, i);
        const tn_gguf_tensor *t = tn_gguf_find_tensor(got, r->name);
        if (!t) {
            CHECK(0, "%s: tensor %s missing", what, r->name);
            bad++;
            continue;
        }
        bool same = t->type == r->type && t->n_dims == r->n_dims &&
                    !memcmp(t->ne, r->ne, sizeof t->ne) && t->nbytes == r->nbytes &&
                    !memcmp(t->data, r->data, r->nbytes);
        CHECK(same, "%s: tensor %s is %s, llama.cpp's is %s%s", what, r->name,
              tn_type_name(t->type), tn_type_name(r->type),
              t->type == r->type ? " (data differs)" : "");
        bad += !same;
    }
    return bad;
}

/* All metadata of `in` is in `out` with identical values, except general.file_type. */
static void compare_metadata(const tn_gguf *out, const tn_gguf *in, uint32_t want_ftype) {
    for (int64_t i = 0; i < tn_gguf_n_kv(in); i++) {
        const char *key = tn_gguf_kv_key(in, i);
        int64_t j = tn_gguf_find_key(out, key);
        CHECK(j >= 0, "metadata %s not copied", key);
        if (j < 0 || !strcmp(key, "general.file_type")) continue;
        size_t na, nb;
        const void *a = tn_gguf_kv_raw(in, i, &na), *b = tn_gguf_kv_raw(out, j, &nb);
        CHECK(tn_gguf_kv_type(in, i) == tn_gguf_kv_type(out, j) && na == nb && !memcmp(a, b, na),
              "metadata %s changed", key);
    }
    uint32_t ft = 0, qv = 0;
    CHECK(tn_gguf_get_u32(out, "general.file_type", &ft) == 0 && ft == want_ftype,
          "general.file_type %u, expected %u", ft, want_ftype);
    CHECK(tn_gguf_get_u32(out, "general.quantization_version", &qv) == 0 && qv == 2,
          "general.quantization_version %u", qv);
}

static double ppl_of(const char *path, int chunks) {
    tn_model *m = tn_model_load(path, NULL);
    CHECK(m != NULL, "load %s: %s", path, tn_last_error());
    if (!m) return NAN;
    size_t len = 0;
    char *text = tn_test_read_file("tests/data/text/tinyshakespeare-val.txt", &len);
    int64_t n = 0;
    int32_t *toks = tn_ppl_tokenize(m, text, len, &n);
    tn_ppl_params p = tn_ppl_default_params();
    p.n_ctx = 128;
    p.n_chunks = chunks;
    p.n_threads = 2;
    tn_ppl_result r;
    int rc = tn_perplexity(m, toks, n, &p, &r);
    CHECK(rc == 0, "perplexity %s: %s", path, tn_last_error());
    free(toks);
    free(text);
    tn_model_free(m);
    return rc ? NAN : r.ppl;
}

/* 1-3. Each mix against llama-quantize's file. */
static void check_mixes(void) {
    static const char *const names[] = {"Q8_0", "Q4_0",   "Q4_1",   "Q5_0",   "Q5_1",
                                        "Q2_K", "Q3_K_M", "Q4_K_S", "Q4_K_M", "Q5_K_M",
                                        "Q6_K", "IQ4_NL", "IQ4_XS"};
    /* mixes whose perplexity is also measured (the K-quant / IQ4 requirement) */
    static const char *const ppl_mixes[] = {"Q3_K_M", "Q4_K_M", "IQ4_XS"};
    tn_gguf *in = tn_gguf_open(BF16);
    CHECK(in != NULL, "open %s: %s", BF16, tn_last_error());
    if (!in) return;
    for (size_t k = 0; k < sizeof names / sizeof names[0]; k++) {
        char ref_path[256], out_name[64];
        snprintf(ref_path, sizeof ref_path, "models/tiny-llama/tiny-llama-%s.gguf", names[k]);
        snprintf(out_name, sizeof out_name, "tern-%s.gguf", names[k]);
        const char *out = tmp_path(out_name);
        tn_quantize_params p = {.mix = tn_quant_mix_find(names[k]), .n_threads = 2};
        CHECK(p.mix != NULL, "mix %s unknown", names[k]);
        if (!p.mix) continue;
        CHECK(tn_quantize_file(BF16, out, &p) == 0, "quantize %s: %s", names[k], tn_last_error());
        tn_gguf *got = tn_gguf_open(out), *ref = tn_gguf_open(ref_path);
        CHECK(got && ref, "open results: %s", tn_last_error());
        if (got && ref) {
            int bad = compare_tensors(got, ref, names[k]);
            uint32_t ref_ft = 0;
            tn_gguf_get_u32(ref, "general.file_type", &ref_ft);
            compare_metadata(got, in, ref_ft);
            printf("%-7s: %lld tensors, %d differ from llama-quantize's; file %zu bytes (llama.cpp "
                   "%zu)\n",
                   names[k], (long long)tn_gguf_n_tensors(ref), bad, tn_gguf_file_size(got),
                   tn_gguf_file_size(ref));
            CHECK(tn_gguf_file_size(got) == tn_gguf_file_size(ref), "%s: file size differs",
                  names[k]);
        }
        tn_gguf_close(got);
        tn_gguf_close(ref);
        for (size_t j = 0; j < sizeof ppl_mixes / sizeof ppl_mixes[0]; j++) {
            if (strcmp(ppl_mixes[j], names[k])) continue;
            /* 16 windows of 128 tokens (1008 predictions), to keep the test short */
            double a = ppl_of(out, 16), b = ppl_of(ref_path, 16);
            printf("%-7s: PPL (16 windows of 128) tern's file %.4f, llama.cpp's %.4f\n", names[k],
                   a, b);
            CHECK(fabs(a / b - 1) <= 0.005, "%s: PPL %.4f vs llama.cpp's %.4f", names[k], a, b);
        }
        unlink(out);
    }
    tn_gguf_close(in);
}

/* 4. Tied embeddings (no output.weight): token_embd is the output matrix and gets its rule. */
static void check_tied(void) {
    tn_gguf *g = tn_gguf_open("models/tiny-qwen3/tiny-qwen3-bf16.gguf");
    CHECK(g != NULL, "open qwen3: %s", tn_last_error());
    if (!g) return;
    int types[256], nf = 0;
    CHECK(tn_gguf_n_tensors(g) <= 256, "too many tensors");
    CHECK(tn_quant_plan(g, tn_quant_mix_find("Q4_K_M"), types, &nf) == 0, "plan: %s",
          tn_last_error());
    for (int64_t i = 0; i < tn_gguf_n_tensors(g); i++) {
        const tn_gguf_tensor *t = tn_gguf_tensor_at(g, i);
        if (!strcmp(t->name, "token_embd.weight"))
            CHECK(types[i] == TN_TYPE_Q6_K, "tied token_embd got %s", tn_type_name(types[i]));
        if (t->n_dims == 1)
            CHECK(types[i] == TN_TYPE_F32, "1-D %s got %s", t->name, tn_type_name(types[i]));
    }
    CHECK(nf == 0, "%d fallbacks", nf);
    tn_gguf_close(g);
}

/* 5. Existing output, failures, nothing half-written. */
static void check_files(void) {
    const char *out = tmp_path("exists.gguf"), *out_tmp = tmp_path("exists.gguf.tmp");
    FILE *f = fopen(out, "wb");
    fputs("precious", f);
    fclose(f);
    tn_quantize_params p = {.mix = tn_quant_mix_find("Q8_0"), .n_threads = 2};
    CHECK(tn_quantize_file(BF16, out, &p) != 0 && strstr(tn_last_error(), "--force"),
          "existing output: %s", tn_last_error());
    size_t n = 0;
    char *kept = tn_test_read_file(out, &n);
    CHECK(kept && n == 8 && !memcmp(kept, "precious", 8), "existing file was touched");
    free(kept);
    p.overwrite = true;
    CHECK(tn_quantize_file(BF16, out, &p) == 0, "--force: %s", tn_last_error());
    tn_gguf *g = tn_gguf_open(out);
    CHECK(g != NULL, "replaced file unreadable: %s", tn_last_error());
    tn_gguf_close(g);
    CHECK(!exists(out_tmp), "tmp file left behind");

    /* requantizing a quantized model is refused unless asked for */
    const char *rq = tmp_path("requant.gguf");
    p.overwrite = false;
    p.mix = tn_quant_mix_find("Q4_0");
    CHECK(tn_quantize_file("models/tiny-llama/tiny-llama-Q8_0.gguf", rq, &p) != 0 &&
              strstr(tn_last_error(), "requantiz"),
          "requantize: %s", tn_last_error());
    CHECK(!exists(rq) && !exists(tmp_path("requant.gguf.tmp")), "failed run left a file");
    p.allow_requantize = true;
    CHECK(tn_quantize_file("models/tiny-llama/tiny-llama-Q8_0.gguf", rq, &p) == 0,
          "--allow-requantize: %s", tn_last_error());
    unlink(rq);

    /* unwritable destination, corrupt input, same file */
    p.allow_requantize = false;
    CHECK(tn_quantize_file(BF16, tmp_path("no/such/dir/x.gguf"), &p) != 0, "bad dir accepted");
    const char *bad = tmp_path("truncated.gguf");
    size_t len = 0;
    char *img = tn_test_read_file(BF16, &len);
    f = fopen(bad, "wb");
    fwrite(img, 1, len / 2, f);
    fclose(f);
    free(img);
    CHECK(tn_quantize_file(bad, tmp_path("t.gguf"), &p) != 0, "truncated input accepted");
    CHECK(!exists(tmp_path("t.gguf")) && !exists(tmp_path("t.gguf.tmp")), "left a file");
    CHECK(tn_quantize_file(BF16, BF16, &p) != 0 && strstr(tn_last_error(), "input"),
          "same file: %s", tn_last_error());
    unlink(bad);
    unlink(out);
}

/* 6. The CLI. */
static void check_cli(void) {
    static char buf[1 << 16];
    char cmd[2048];
    const char *out = tmp_path("cli.gguf");
    snprintf(cmd, sizeof cmd, "%s quantize %s %s q4_k_m 2", tt_tern_bin(), BF16, out);
    int rc = tt_run(cmd, buf, sizeof buf);
    CHECK(rc == 0 && strstr(buf, "100.0%") && strstr(buf, "MiB"), "cli: %d %s", rc, buf);
    tn_gguf *got = tn_gguf_open(out),
            *ref = tn_gguf_open("models/tiny-llama/tiny-llama-Q4_K_M.gguf");
    CHECK(got && ref && compare_tensors(got, ref, "cli Q4_K_M") == 0, "cli output differs");
    tn_gguf_close(got);
    tn_gguf_close(ref);
    rc = tt_run(cmd, buf, sizeof buf);
    CHECK(rc != 0 && strstr(buf, "--force"), "existing output: %d %s", rc, buf);
    snprintf(cmd, sizeof cmd, "%s quantize --force %s %s Q8_0", tt_tern_bin(), BF16, out);
    CHECK(tt_run(cmd, buf, sizeof buf) == 0, "--force: %s", buf);
    snprintf(cmd, sizeof cmd, "%s quantize %s %s Q9_9", tt_tern_bin(), BF16, tmp_path("x.gguf"));
    CHECK(tt_run(cmd, buf, sizeof buf) != 0 && strstr(buf, "Q4_K_M"), "bad type: %s", buf);
    snprintf(cmd, sizeof cmd, "%s quantize %s %s Q8_0 zero", tt_tern_bin(), BF16,
             tmp_path("x.gguf"));
    CHECK(tt_run(cmd, buf, sizeof buf) != 0 && strstr(buf, "THREADS"), "bad threads: %s", buf);
    snprintf(cmd, sizeof cmd, "%s quantize %s", tt_tern_bin(), BF16);
    CHECK(tt_run(cmd, buf, sizeof buf) != 0 && strstr(buf, "usage"), "missing args: %s", buf);
    snprintf(cmd, sizeof cmd, "%s quantize --help", tt_tern_bin());
    CHECK(tt_run(cmd, buf, sizeof buf) == 0 && strstr(buf, "IQ4_XS"), "--help: %s", buf);
    snprintf(cmd, sizeof cmd, "%s quantize --dry-run %s Q4_K_M", tt_tern_bin(), BF16);
    CHECK(tt_run(cmd, buf, sizeof buf) == 0 && strstr(buf, "blk.2.attn_v.weight") &&
              strstr(buf, "q6_K"),
          "--dry-run: %s", buf);
    CHECK(!exists(tmp_path("x.gguf")), "failed CLI run left a file");
    unlink(out);
}

int main(void) {
    snprintf(g_tmp, sizeof g_tmp, "/tmp/tern-test-quantize-%d", (int)getpid());
    char cmd[512];
    snprintf(cmd, sizeof cmd, "mkdir -p %s", g_tmp);
    CHECK(system(cmd) == 0, "mkdir");
    check_mixes();
    check_tied();
    check_files();
    check_cli();
    snprintf(cmd, sizeof cmd, "rm -rf %s", g_tmp);
    CHECK(system(cmd) == 0, "cleanup");
    return tn_test_done("test_quantize");
}
