/* Quantized tiny-llama variants written by llama.cpp's quantizer: at the 128 reference positions,
 * the argmax of their logits must agree with the bf16 model's for >= 90 % of positions for Q8_0,
 * Q6_K, Q5_K_M, Q4_K_M (Q4_0: >= 85 %, see below); every type's agreement and max logit error is printed. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "tern.h"
#include "testutil.h"

enum { N_VOCAB = 1024, N_TOK = 128 };

static int argmax(const float *x) {
    int b = 0;
    for (int i = 1; i < N_VOCAB; i++)
        if (x[i] > x[b]) b = i;
    return b;
}

/* All-position logits of the model at `path`; NULL on failure. */
static float *logits_of(const char *path, const int32_t *toks) {
    tn_model *m = tn_model_load(path, NULL);
    CHECK(m != NULL, "load %s: %s", path, tn_last_error());
    if (!m) return NULL;
    tn_ctx_params cp = tn_ctx_default_params();
    cp.n_ctx = 256;
    cp.n_threads = 2;
    tn_ctx *c = tn_ctx_new(m, &cp);
    int8_t want[N_TOK];
    memset(want, 1, sizeof want);
    tn_batch b = {.n_tokens = N_TOK, .token = toks, .logits = want};
    float *out = NULL;
    if (c && tn_decode(c, &b) == 0) {
        out = malloc(sizeof(float) * N_TOK * N_VOCAB);
        for (int i = 0; i < N_TOK; i++)
            memcpy(out + (size_t)i * N_VOCAB, tn_get_logits(c, i), sizeof(float) * N_VOCAB);
    }
    CHECK(out != NULL, "decode %s: %s", path, tn_last_error());
    tn_ctx_free(c);
    tn_model_free(m);
    return out;
}

int main(void) {
    static const struct {
        const char *type;
        double min_agree; /* 0 = report only */
    } variants[] = {
        {"Q8_0", 0.9},   {"Q6_K", 0.9},   {"Q5_K_M", 0.9}, {"Q4_K_M", 0.9},
        /* Q4_0: 87.5 % here, and the same with float64 arithmetic on the dequantized weights: the
         * file itself disagrees with bf16 at 16 of 128 positions, so 90 % is out of reach. */
        {"Q4_0", 0.85},
        {"Q5_0", 0},     {"Q5_1", 0},     {"Q4_1", 0},     {"Q4_K_S", 0},   {"IQ4_NL", 0},
        {"IQ4_XS", 0},   {"Q3_K_M", 0},   {"Q2_K", 0},
    };
    char *json = tn_test_read_file("models/tiny-llama/ref.json", NULL);
    int n = 0;
    int32_t *toks = json ? tt_json_int_array(json, "logits_tokens", &n) : NULL;
    CHECK(toks && n == N_TOK, "reference tokens");
    if (!toks) return tn_test_done("test_quant_models");
    float *base = logits_of("models/tiny-llama/tiny-llama-bf16.gguf", toks);
    if (!base) return tn_test_done("test_quant_models");
    printf("%-8s %8s %12s\n", "type", "argmax", "max|dlogit|");
    for (size_t v = 0; v < sizeof variants / sizeof variants[0]; v++) {
        char path[256];
        snprintf(path, sizeof path, "models/tiny-llama/tiny-llama-%s.gguf", variants[v].type);
        float *l = logits_of(path, toks);
        if (!l) continue;
        int agree = 0;
        double max_err = 0;
        for (int i = 0; i < N_TOK; i++) {
            agree += argmax(l + (size_t)i * N_VOCAB) == argmax(base + (size_t)i * N_VOCAB);
            for (int j = 0; j < N_VOCAB; j++)
                max_err = fmax(max_err, fabs(l[(size_t)i * N_VOCAB + j] - base[(size_t)i * N_VOCAB + j]));
        }
        double frac = agree / (double)N_TOK;
        printf("%-8s %7.1f%% %12.3f\n", variants[v].type, 100 * frac, max_err);
        CHECK(frac >= variants[v].min_agree, "%s argmax agreement %.1f%% < %.0f%%",
              variants[v].type, 100 * frac, 100 * variants[v].min_agree);
        CHECK(isfinite(max_err), "%s logits not finite", variants[v].type);
        free(l);
    }
    free(base);
    free(toks);
    free(json);
    return tn_test_done("test_quant_models");
}
