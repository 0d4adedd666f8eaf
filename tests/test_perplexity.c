/* Perplexity tool checks: the full validation text at -c 128 and 256 against transformers fp32
 * with the same method (tests/data/ppl-hf.json, 0.1 %), --score-all against exp(mean NLL) computed
 * here from tn_get_logits, quantized models ordered bf16 <= Q8_0 <= Q4_0, the KL-divergence file
 * round trip against a KLD computed here, bad inputs, and the CLI's output. */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "perplexity/perplexity.h"
#include "tern.h"
#include "testutil.h"

#define TEXT "tests/data/text/tinyshakespeare-val.txt"
#define LLAMA "models/tiny-llama/tiny-llama-bf16.gguf"

static char *g_text;
static size_t g_text_len;

/* A scratch file name in /tmp unique to this run. */
static const char *tmp_name(const char *what) {
    static char buf[4][256];
    static int k;
    char *b = buf[k++ % 4];
    snprintf(b, 256, "/tmp/tern-test-ppl-%d-%s", (int)getpid(), what);
    return b;
}

static tn_ppl_params params(int n_ctx, int n_chunks) {
    tn_ppl_params p = tn_ppl_default_params();
    p.n_ctx = n_ctx;
    p.n_chunks = n_chunks;
    p.n_threads = 2;
    return p;
}

/* The value of ppl-hf.json's ["model"]["ctx"][key]. */
static double hf_value(const char *json, const char *model, const char *ctx, const char *key) {
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\"", model);
    const char *p = strstr(json, pat);
    if (!p) return NAN;
    snprintf(pat, sizeof pat, "\"%s\"", ctx);
    p = strstr(p, pat);
    return p ? tt_json_number(p, key) : NAN;
}

static tn_model *load(const char *path) {
    tn_model *m = tn_model_load(path, NULL);
    CHECK(m != NULL, "load %s: %s", path, tn_last_error());
    return m;
}

/* 1. Full file vs transformers fp32. The four runs go on two threads with one compute thread
 * each, which keeps both cores busy even when the machine is shared. */
typedef struct hf_job {
    const char *name, *path, *ctx;
    tn_ppl_result r;
    int64_t n_tok;
    int32_t first_tok, bos;
    int rc;
    char err[256];
} hf_job;

static void run_hf_job(hf_job *j) {
    j->rc = -1;
    tn_model *m = tn_model_load(j->path, NULL);
    if (!m) {
        snprintf(j->err, sizeof j->err, "load: %s", tn_last_error());
        return;
    }
    int32_t *toks = tn_ppl_tokenize(m, g_text, g_text_len, &j->n_tok);
    tn_ppl_params p = params(atoi(j->ctx), 0);
    p.n_threads = 1;
    j->rc = toks ? tn_perplexity(m, toks, j->n_tok, &p, &j->r) : -1;
    if (j->rc) snprintf(j->err, sizeof j->err, "%s", tn_last_error());
    j->first_tok = toks ? toks[0] : -1;
    j->bos = tn_token_bos(m);
    free(toks);
    tn_model_free(m);
}

static void *run_two_jobs(void *arg) {
    hf_job *j = arg;
    run_hf_job(&j[0]);
    run_hf_job(&j[1]);
    return NULL;
}

static void check_vs_hf(const char *json) {
    static const char *const qwen = "models/tiny-qwen3/tiny-qwen3-bf16.gguf";
    hf_job jobs[4] = {
        {.name = "tiny-llama", .path = LLAMA, .ctx = "128"},
        {.name = "tiny-qwen3", .path = qwen, .ctx = "256"},
        {.name = "tiny-llama", .path = LLAMA, .ctx = "256"},
        {.name = "tiny-qwen3", .path = qwen, .ctx = "128"},
    };
    /* thread 1: jobs 0 and 1; thread 2: jobs 2 and 3 */
    pthread_t t0, t1;
    pthread_create(&t0, NULL, run_two_jobs, &jobs[0]);
    pthread_create(&t1, NULL, run_two_jobs, &jobs[2]);
    pthread_join(t0, NULL);
    pthread_join(t1, NULL);
    double n_ids = tt_json_number(json, "val_text_ids_no_bos_len");
    for (int k = 0; k < 4; k++) {
        hf_job *j = &jobs[k];
        const tn_ppl_result *r = &j->r;
        CHECK(j->rc == 0, "%s -c %s: %s", j->name, j->ctx, j->err);
        if (j->rc) continue;
        CHECK(j->n_tok == (int64_t)n_ids + 1 && j->first_tok == j->bos,
              "%s: %lld tokens starting with %d, expected BOS (%d) + %.0f", j->name,
              (long long)j->n_tok, j->first_tok, j->bos, n_ids);
        double want = hf_value(json, j->name, j->ctx, "ppl");
        double want_scored = hf_value(json, j->name, j->ctx, "scored");
        double want_chunks = hf_value(json, j->name, j->ctx, "chunks");
        printf("%s -c %s: PPL %.4f +/- %.4f, transformers %.4f (rel diff %.2e), %lld scored\n",
               j->name, j->ctx, r->ppl, r->ppl_err, want, fabs(r->ppl / want - 1),
               (long long)r->count);
        CHECK(fabs(r->ppl / want - 1) <= 1e-3, "%s -c %s: PPL %.5f vs %.5f", j->name, j->ctx,
              r->ppl, want);
        CHECK(r->count == (int64_t)want_scored && r->n_chunks == (int32_t)want_chunks,
              "%s -c %s: %lld scored in %d windows, expected %.0f in %.0f", j->name, j->ctx,
              (long long)r->count, r->n_chunks, want_scored, want_chunks);
        /* llama.cpp's error estimate is PPL * stderr(NLL): a plausible size */
        CHECK(r->ppl_err > 0.005 * r->ppl && r->ppl_err < 0.05 * r->ppl, "error estimate %g",
              r->ppl_err);
    }
}

static double nll_at(const float *l, int n_vocab, int tok) {
    double mx = l[0], s = 0;
    for (int v = 1; v < n_vocab; v++)
        if (l[v] > mx) mx = l[v];
    for (int v = 0; v < n_vocab; v++)
        s += exp(l[v] - mx);
    return mx + log(s) - l[tok];
}

/* 2. --score-all equals exp(mean NLL) over positions 0..n_ctx-2 of a few windows, computed here
 * from the logits of one window at a time; the default mode the same over n_ctx/2..n_ctx-2. */
static void check_score_all(void) {
    enum { N_CTX = 128, N_WIN = 3 };
    tn_model *m = load(LLAMA);
    if (!m) return;
    int nv = tn_model_n_vocab(m);
    int64_t n = 0;
    int32_t *toks = tn_ppl_tokenize(m, g_text, g_text_len, &n);
    tn_ctx_params cp = tn_ctx_default_params();
    cp.n_ctx = N_CTX;
    cp.n_threads = 2;
    tn_ctx *c = tn_ctx_new(m, &cp);
    CHECK(c != NULL, "ctx: %s", tn_last_error());
    double sum_all = 0, sum_half = 0, sum2_half = 0;
    int cnt_all = 0, cnt_half = 0;
    for (int w = 0; c && w < N_WIN; w++) {
        int32_t win[N_CTX];
        int8_t want[N_CTX];
        memcpy(win, toks + w * N_CTX, sizeof win);
        win[0] = tn_token_bos(m);
        memset(want, 1, sizeof want);
        tn_kv_seq_rm(c, -1, 0, -1);
        tn_batch b = {.n_tokens = N_CTX, .token = win, .logits = want};
        CHECK(tn_decode(c, &b) == 0, "decode: %s", tn_last_error());
        for (int j = 0; j < N_CTX - 1; j++) {
            double v = nll_at(tn_get_logits(c, j), nv, toks[w * N_CTX + j + 1]);
            sum_all += v;
            cnt_all++;
            if (j >= N_CTX / 2) {
                sum_half += v;
                sum2_half += v * v;
                cnt_half++;
            }
        }
    }
    tn_ppl_result r;
    tn_ppl_params p = params(N_CTX, N_WIN);
    p.score_all = true;
    CHECK(tn_perplexity(m, toks, n, &p, &r) == 0, "score-all: %s", tn_last_error());
    double want_all = exp(sum_all / cnt_all), want_half = exp(sum_half / cnt_half);
    printf("score-all over %d windows: %.6f, computed here %.6f (%lld vs %d predictions)\n", N_WIN,
           r.ppl, want_all, (long long)r.count, cnt_all);
    CHECK(r.count == cnt_all, "score-all count %lld", (long long)r.count);
    CHECK(fabs(r.ppl / want_all - 1) < 1e-5, "score-all %.6f vs %.6f", r.ppl, want_all);
    p.score_all = false;
    CHECK(tn_perplexity(m, toks, n, &p, &r) == 0, "ppl: %s", tn_last_error());
    CHECK(r.count == cnt_half && fabs(r.ppl / want_half - 1) < 1e-5, "second-half PPL %.6f vs %.6f",
          r.ppl, want_half);
    /* llama.cpp's error: PPL * sqrt((E[nll^2] - E[nll]^2) / (count - 1)) */
    double mean = sum_half / cnt_half, var = sum2_half / cnt_half - mean * mean;
    double want_err = want_half * sqrt(var / (cnt_half - 1));
    CHECK(fabs(r.ppl_err / want_err - 1) < 1e-4, "error estimate %.6f vs %.6f", r.ppl_err,
          want_err);
    /* Packing several windows into one batch (-b 384: 3 windows) changes nothing. */
    tn_ppl_result r1;
    p.n_batch = 128;
    CHECK(tn_perplexity(m, toks, n, &p, &r1) == 0, "ppl -b 128: %s", tn_last_error());
    CHECK(fabs(r1.ppl / r.ppl - 1) < 1e-5, "one window per batch %.6f vs packed %.6f", r1.ppl,
          r.ppl);
    tn_ctx_free(c);
    free(toks);
    tn_model_free(m);
}

/* 3 + 4. Quantized models: PPL ordering and KL divergence against the bf16 base, with one window's
 * KLD recomputed here from both models' logits. */
static void check_quant_and_kld(void) {
    enum { N_CTX = 128, N_WIN = 32 };
    static const char *const paths[] = {LLAMA, "models/tiny-llama/tiny-llama-Q8_0.gguf",
                                        "models/tiny-llama/tiny-llama-Q4_0.gguf"};
    const char *base = tmp_name("base.logp");
    double ppl[3] = {0}, kld[3] = {0}, top[3] = {0};
    unlink(base);
    for (int i = 0; i < 3; i++) {
        tn_model *m = load(paths[i]);
        if (!m) return;
        int64_t n = 0;
        int32_t *toks = tn_ppl_tokenize(m, g_text, g_text_len, &n);
        tn_ppl_result r;
        if (i == 0) { /* the base run writes the log-prob file */
            tn_ppl_params p = params(N_CTX, N_WIN);
            p.logp_out = base;
            CHECK(tn_perplexity(m, toks, n, &p, &r) == 0, "%s: %s", paths[i], tn_last_error());
            ppl[0] = r.ppl;
        }
        /* KLD against the base (the bf16 model itself for i == 0); its PPL(Q) is the PPL */
        tn_ppl_params q = params(0, 0);
        q.logp_in = base;
        CHECK(tn_perplexity(m, NULL, 0, &q, &r) == 0, "kld %s: %s", paths[i], tn_last_error());
        CHECK(r.kld && r.count == (int64_t)N_WIN * (N_CTX - 1 - N_CTX / 2), "kld count %lld",
              (long long)r.count);
        if (i == 0)
            CHECK(fabs(r.ppl / ppl[0] - 1) < 1e-6, "KLD run PPL(Q) %.6f vs %.6f", r.ppl, ppl[0]);
        ppl[i] = r.ppl;
        /* the base's PPL recomputed from the 16-bit log-prob records */
        CHECK(fabs(r.ppl_base / ppl[0] - 1) < 1e-4, "PPL(base) from the file %.6f vs %.6f",
              r.ppl_base, ppl[0]);
        kld[i] = r.kld_mean;
        top[i] = r.same_top_frac;
        printf("%s: PPL %.4f, KLD vs bf16 %.6f (max %.4f, median %.6f), same top %.2f %%\n",
               paths[i], ppl[i], r.kld_mean, r.kld_max, r.kld_pct[4], 100 * r.same_top_frac);
        free(toks);
        tn_model_free(m);
    }
    CHECK(fabs(kld[0]) < 1e-5 && top[0] == 1.0, "bf16 vs itself: KLD %.3g, top %.4f", kld[0],
          top[0]);
    CHECK(ppl[0] <= ppl[1] * 1.002 && ppl[1] <= ppl[2] * 1.002,
          "PPL order bf16 %.4f <= Q8_0 %.4f <= Q4_0 %.4f", ppl[0], ppl[1], ppl[2]);
    CHECK(kld[0] < kld[1] && kld[1] < kld[2] && kld[2] < 0.5, "KLD order %.3g < %.3g < %.3g",
          kld[0], kld[1], kld[2]);
    CHECK(top[2] < top[1] + 1e-9 && top[2] > 0.5, "top-1 agreement Q8_0 %.4f, Q4_0 %.4f", top[1],
          top[2]);

    /* Independent KLD: window 0 of bf16 vs Q4_0, from both models' logits. */
    tn_model *mb = load(paths[0]), *mq = load(paths[2]);
    if (mb && mq) {
        int64_t n = 0;
        int32_t *toks = tn_ppl_tokenize(mb, g_text, g_text_len, &n);
        int nv = tn_model_n_vocab(mb);
        float *lb = malloc(sizeof(float) * (size_t)nv * N_CTX);
        double want = 0;
        int cnt = 0;
        for (int k = 0; k < 2; k++) {
            tn_ctx_params cp = tn_ctx_default_params();
            cp.n_ctx = N_CTX;
            cp.n_threads = 2;
            tn_ctx *c = tn_ctx_new(k ? mq : mb, &cp);
            int32_t win[N_CTX];
            int8_t want_l[N_CTX];
            memcpy(win, toks, sizeof win);
            win[0] = tn_token_bos(mb);
            memset(want_l, 1, sizeof want_l);
            tn_batch b = {.n_tokens = N_CTX, .token = win, .logits = want_l};
            CHECK(c && tn_decode(c, &b) == 0, "decode: %s", tn_last_error());
            for (int j = N_CTX / 2; c && j < N_CTX - 1; j++) {
                const float *l = tn_get_logits(c, j);
                if (!k) {
                    memcpy(lb + (size_t)j * nv, l, sizeof(float) * (size_t)nv);
                    continue;
                }
                /* KL(P_base || Q) = sum p (log p - log q) */
                const float *b0 = lb + (size_t)j * nv;
                double mb0 = b0[0], mq0 = l[0], sb = 0, sq = 0, s = 0;
                for (int v = 1; v < nv; v++) {
                    if (b0[v] > mb0) mb0 = b0[v];
                    if (l[v] > mq0) mq0 = l[v];
                }
                for (int v = 0; v < nv; v++) {
                    sb += exp(b0[v] - mb0);
                    sq += exp(l[v] - mq0);
                }
                for (int v = 0; v < nv; v++) {
                    double lpb = b0[v] - mb0 - log(sb), lpq = l[v] - mq0 - log(sq);
                    s += exp(lpb) * (lpb - lpq);
                }
                want += s;
                cnt++;
            }
            tn_ctx_free(c);
        }
        tn_ppl_result r;
        tn_ppl_params q = params(0, 1);
        q.logp_in = base;
        CHECK(tn_perplexity(mq, NULL, 0, &q, &r) == 0, "kld 1 window: %s", tn_last_error());
        want /= cnt;
        printf("KLD of Q4_0 over window 1: %.7f, computed here %.7f\n", r.kld_mean, want);
        /* the base file keeps log-probs in 16 bits (step = range / 65534, ~4e-4 nats): each token's
         * KLD can move by up to about a step; over a window the rounding averages out (measured
         * 1e-7 to 3e-6), so 1e-3 relative + 1e-5 absolute */
        CHECK(fabs(r.kld_mean - want) < 1e-3 * want + 1e-5, "KLD %.7f vs %.7f", r.kld_mean, want);
        free(lb);
        free(toks);
    }
    tn_model_free(mb);
    tn_model_free(mq);
    unlink(base);
}

/* 5. Bad inputs: clear errors, nothing half-written. */
static void check_errors(void) {
    tn_model *m = load(LLAMA);
    if (!m) return;
    int64_t n = 0;
    int32_t *toks = tn_ppl_tokenize(m, "To be, or not to be", 19, &n);
    tn_ppl_result r;
    tn_ppl_params p = params(128, 0);
    char short_path[256], short_tmp[300];
    snprintf(short_path, sizeof short_path, "%s", tmp_name("short.logp"));
    snprintf(short_tmp, sizeof short_tmp, "%s.tmp", short_path);
    p.logp_out = short_path;
    CHECK(tn_perplexity(m, toks, n, &p, &r) != 0 && strstr(tn_last_error(), "fewer than"),
          "short text: %s", tn_last_error());
    CHECK(access(short_path, F_OK) != 0 && access(short_tmp, F_OK) != 0,
          "a failed run left a file behind");
    p = params(0, 0);
    p.logp_in = "tests/data/text/tinyshakespeare-val.txt";
    CHECK(tn_perplexity(m, NULL, 0, &p, &r) != 0 && strstr(tn_last_error(), "not a tern log-prob"),
          "not a log-prob file: %s", tn_last_error());
    p.logp_in = "no/such/file.logp";
    CHECK(tn_perplexity(m, NULL, 0, &p, &r) != 0 && strstr(tn_last_error(), "cannot open"),
          "missing file: %s", tn_last_error());
    /* a truncated base file */
    const char *base = tmp_name("trunc.logp");
    int64_t nt = 0;
    int32_t *all = tn_ppl_tokenize(m, g_text, g_text_len, &nt);
    tn_ppl_params w = params(64, 2);
    w.logp_out = base;
    CHECK(tn_perplexity(m, all, nt, &w, &r) == 0, "write base: %s", tn_last_error());
    CHECK(truncate(base, 5000) == 0, "truncate");
    p.logp_in = base;
    CHECK(tn_perplexity(m, NULL, 0, &p, &r) != 0 && strstr(tn_last_error(), "truncated"),
          "truncated file: %s", tn_last_error());
    unlink(base);
    free(all);
    free(toks);
    tn_model_free(m);
}

/* 6. The CLI prints llama.cpp-style running values and the final estimate. */
static void check_cli(void) {
    static char out[1 << 16];
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "%s perplexity -m %s -f %s -c 128 --chunks 4 -t 2", tt_tern_bin(),
             LLAMA, TEXT);
    int rc = tt_run(cmd, out, sizeof out);
    CHECK(rc == 0, "cli exit %d: %s", rc, out);
    CHECK(strstr(out, "[1]") && strstr(out, "[4]") && !strstr(out, "[5]"), "running values: %s",
          out);
    const char *fe = strstr(out, "Final estimate: PPL = ");
    CHECK(fe != NULL, "no final estimate: %s", out);
    if (fe) {
        tn_model *m = load(LLAMA);
        int64_t n = 0;
        int32_t *toks = tn_ppl_tokenize(m, g_text, g_text_len, &n);
        tn_ppl_result r;
        tn_ppl_params p = params(128, 4);
        CHECK(tn_perplexity(m, toks, n, &p, &r) == 0, "lib: %s", tn_last_error());
        double v = atof(fe + strlen("Final estimate: PPL = "));
        CHECK(fabs(v - r.ppl) < 1e-3, "CLI %.4f vs library %.4f", v, r.ppl);
        free(toks);
        tn_model_free(m);
    }
    snprintf(cmd, sizeof cmd, "%s perplexity --help", tt_tern_bin());
    CHECK(tt_run(cmd, out, sizeof out) == 0 && strstr(out, "--kl-divergence"), "--help: %s", out);
    snprintf(cmd, sizeof cmd, "%s perplexity -m %s", tt_tern_bin(), LLAMA);
    CHECK(tt_run(cmd, out, sizeof out) != 0 && strstr(out, "-f"), "no file: %s", out);
    snprintf(cmd, sizeof cmd, "%s perplexity -m %s -f %s -c 2", tt_tern_bin(), LLAMA, TEXT);
    CHECK(tt_run(cmd, out, sizeof out) != 0 && strstr(out, "between"), "-c 2: %s", out);
    snprintf(cmd, sizeof cmd, "%s perplexity -m %s -f no/such.txt", tt_tern_bin(), LLAMA);
    CHECK(tt_run(cmd, out, sizeof out) != 0 && strstr(out, "no/such.txt"), "bad -f: %s", out);
}

int main(void) {
    g_text = tn_test_read_file(TEXT, &g_text_len);
    char *json = tn_test_read_file("tests/data/ppl-hf.json", NULL);
    CHECK(g_text && json, "cannot read the test data");
    if (!g_text || !json) return tn_test_done("test_perplexity");
    check_vs_hf(json);
    check_score_all();
    check_quant_and_kld();
    check_errors();
    check_cli();
    free(json);
    free(g_text);
    return tn_test_done("test_perplexity");
}
