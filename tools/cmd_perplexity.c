/* `tern perplexity`: perplexity of a model over a text file, llama-perplexity style, and the KL
 * divergence of a model (or KV cache type) against saved base log-probabilities. The method lives
 * in src/perplexity/; this file parses flags and prints. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "formats/types.h"
#include "kv/kv.h"
#include "perplexity/perplexity.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: tern perplexity -m MODEL -f FILE [options]\n"
            "  -m, --model FILE           GGUF model (default: the bundled tiny-llama)\n"
            "  -f, --file FILE            text to evaluate\n"
            "  -c, --ctx-size N           window length in tokens (default 512)\n"
            "  -b, --batch-size N         tokens per decode; a multiple of -c evaluates several\n"
            "                             windows at once (default 2048)\n"
            "  -ub, --ubatch-size N       micro-batch (default min(-b, 512))\n"
            "  --chunks N                 evaluate at most N windows (default: all)\n"
            "  -t, --threads N            CPU threads (default: all cores)\n"
            "  -ngl, --n-gpu-layers N     layers on the GPU (needs a CUDA build)\n"
            "  -ctk, --cache-type-k T     KV cache type for K: f16, bf16, q8_0, q4_0,\n"
            "                             turbo2, turbo3, turbo4, f32 (default f16)\n"
            "  -ctv, --cache-type-v T     KV cache type for V (default f16)\n"
            "  --score-all, --all-logits  score every position 0..N-2 of each window, not only\n"
            "                             the second half\n"
            "  --kl-divergence-base FILE  save the model's log-probabilities to FILE; with\n"
            "                             --kl-divergence: compare against FILE instead\n"
            "  --kl-divergence            KL divergence against --kl-divergence-base FILE (the\n"
            "                             windows come from FILE; -f is not needed)\n"
            "  -h, --help                 this text\n"
            "Each window's first token is replaced by BOS (if the model uses one); positions\n"
            "N/2 .. N-2 predict the next token. Prints the running PPL per window and\n"
            "'Final estimate: PPL = x +/- err'.\n");
}

typedef struct ppl_opts {
    const char *model, *file, *kld_file;
    long n_ctx, n_batch, n_ubatch, n_chunks, n_threads, ngl;
    int type_k, type_v;
    bool score_all, kld, ctx_set;
} ppl_opts;

static int parse(int argc, char **argv, ppl_opts *o) {
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *s;
        int rc = 0;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            exit(0);
        } else if (!strcmp(a, "-m") || !strcmp(a, "--model")) rc = cli_str(argc, argv, &i, &o->model);
        else if (!strcmp(a, "-f") || !strcmp(a, "--file")) rc = cli_str(argc, argv, &i, &o->file);
        else if (!strcmp(a, "-c") || !strcmp(a, "--ctx-size")) {
            rc = cli_int(argc, argv, &i, 4, 1L << 20, &o->n_ctx);
            o->ctx_set = true;
        } else if (!strcmp(a, "-b") || !strcmp(a, "--batch-size")) rc = cli_int(argc, argv, &i, 1, 1L << 20, &o->n_batch);
        else if (!strcmp(a, "-ub") || !strcmp(a, "--ubatch-size")) rc = cli_int(argc, argv, &i, 1, 1L << 20, &o->n_ubatch);
        else if (!strcmp(a, "--chunks")) rc = cli_int(argc, argv, &i, 1, 1L << 30, &o->n_chunks);
        else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) rc = cli_int(argc, argv, &i, 0, 1024, &o->n_threads);
        else if (!strcmp(a, "-ngl") || !strcmp(a, "--n-gpu-layers") || !strcmp(a, "--gpu-layers")) rc = cli_int(argc, argv, &i, 0, 100000, &o->ngl);
        else if (!strcmp(a, "-ctk") || !strcmp(a, "--cache-type-k")) rc = cli_str(argc, argv, &i, &s) || (o->type_k = cli_cache_type(s)) < 0;
        else if (!strcmp(a, "-ctv") || !strcmp(a, "--cache-type-v")) rc = cli_str(argc, argv, &i, &s) || (o->type_v = cli_cache_type(s)) < 0;
        else if (!strcmp(a, "--score-all") || !strcmp(a, "--all-logits")) o->score_all = true;
        else if (!strcmp(a, "--kl-divergence-base")) rc = cli_str(argc, argv, &i, &o->kld_file);
        else if (!strcmp(a, "--kl-divergence")) o->kld = true;
        else {
            fprintf(stderr, "error: unknown option '%s' (see tern perplexity --help)\n", a);
            return -1;
        }
        if (rc) return -1;
    }
    if (o->kld && !o->kld_file) {
        fprintf(stderr, "error: --kl-divergence needs --kl-divergence-base FILE (made by an "
                        "earlier run without --kl-divergence)\n");
        return -1;
    }
    if (!o->kld && !o->file) {
        fprintf(stderr, "error: no text file: use -f FILE (see tern perplexity --help)\n");
        return -1;
    }
    return 0;
}

typedef struct print_state {
    bool kld, eta_done;
} print_state;

static void on_chunk(void *user, const tn_ppl_result *r, double ms) {
    print_state *ps = user;
    if (!ps->eta_done) {
        ps->eta_done = true;
        double per = ms / 1e3 / r->chunks_done;
        fprintf(stderr, "perplexity: %.2f seconds per window - ETA %.2f minutes\n", per,
                per * (r->n_chunks - r->chunks_done) / 60.0);
        if (ps->kld)
            printf("chunk          PPL            ln(PPL(Q)/PPL(base))      KL Divergence"
                   "          Δp RMS         Same top p\n");
    }
    if (!ps->kld) {
        printf("[%d]%.4f,", r->chunks_done, r->ppl);
    } else {
        printf("%4d  %9.4f ± %9.4f  %10.5f ± %10.5f  %10.5f ± %10.5f  %6.3f ± %6.3f %%  "
               "%6.3f ± %6.3f %%\n",
               r->chunks_done, r->ppl, r->ppl_err, r->ln_ratio, r->ln_ratio_err, r->kld_mean,
               r->kld_err, 100 * r->dp_rms, 100 * r->dp_rms_err, 100 * r->same_top_frac,
               100 * r->same_top_err);
    }
    fflush(stdout);
}

static void print_kld(const tn_ppl_result *r) {
    printf("\n====== Perplexity statistics ======\n");
    printf("Mean PPL(Q)                   : %10.6f ± %10.6f\n", r->ppl, r->ppl_err);
    printf("Mean PPL(base)                : %10.6f ± %10.6f\n", r->ppl_base, r->ppl_base_err);
    printf("Cor(ln(PPL(Q)), ln(PPL(base))): %6.2f%%\n", 100 * r->ppl_cor);
    printf("Mean ln(PPL(Q)/PPL(base))     : %10.6f ± %10.6f\n", r->ln_ratio, r->ln_ratio_err);
    double ratio = exp(r->ln_ratio);
    printf("Mean PPL(Q)/PPL(base)         : %10.6f ± %10.6f\n", ratio, ratio * r->ln_ratio_err);
    printf("\n====== KL divergence statistics ======\n");
    printf("Mean    KLD: %10.6f ± %10.6f\n", r->kld_mean, r->kld_err);
    printf("Maximum KLD: %10.6f\n", r->kld_max);
    static const char *const names[TN_PPL_N_PCT] = {"99.9%", "99.0%", "95.0%", "90.0%", "Median",
                                                    "10.0%", " 5.0%", " 1.0%", " 0.1%"};
    for (int i = 0; i < TN_PPL_N_PCT; i++)
        printf("%-6s  KLD: %10.6f\n", names[i], r->kld_pct[i]);
    printf("Minimum KLD: %10.6f\n", r->kld_min);
    printf("\n====== Token probability statistics ======\n");
    printf("Mean    Δp: %8.3f ± %5.3f %%\n", 100 * r->dp_mean, 100 * r->dp_err);
    printf("Maximum Δp: %8.3f%%\n", 100 * r->dp_max_abs);
    for (int i = 0; i < TN_PPL_N_PCT; i++)
        printf("%-6s  Δp: %8.3f%%\n", names[i], 100 * r->dp_pct[i]);
    printf("RMS Δp    : %8.3f ± %5.3f %%\n", 100 * r->dp_rms, 100 * r->dp_rms_err);
    printf("Same top p: %8.3f ± %5.3f %%\n", 100 * r->same_top_frac, 100 * r->same_top_err);
}

int cmd_perplexity(int argc, char **argv) {
    ppl_opts o = {.n_ctx = 512, .n_batch = 2048, .type_k = TN_TYPE_F16, .type_v = TN_TYPE_F16};
    if (parse(argc, argv, &o)) return 1;
    if (!o.model) o.model = cli_default_model();
    char *text = NULL;
    size_t text_len = 0;
    if (!o.kld && !(text = cli_read_file(o.file, &text_len))) return 1;

    tn_model_params mp = tn_model_default_params();
    mp.n_gpu_layers = (int)o.ngl;
    tn_model *m = tn_model_load(o.model, &mp);
    if (!m) {
        fprintf(stderr, "error: %s\n", tn_last_error());
        free(text);
        return 1;
    }
    int rc = 1;
    int32_t *toks = NULL;
    int64_t n_tok = 0;
    if (!o.kld) {
        fprintf(stderr, "perplexity: tokenizing the input ..\n");
        if (!(toks = tn_ppl_tokenize(m, text, text_len, &n_tok))) {
            fprintf(stderr, "error: cannot tokenize '%s': %s\n", o.file, tn_last_error());
            goto done;
        }
    }
    tn_ppl_params p = tn_ppl_default_params();
    p.n_ctx = o.kld && !o.ctx_set ? 0 : (int32_t)o.n_ctx;
    p.n_batch = (int32_t)o.n_batch;
    p.n_ubatch = (int32_t)o.n_ubatch;
    p.n_chunks = (int32_t)o.n_chunks;
    p.n_threads = (int32_t)o.n_threads;
    p.type_k = o.type_k;
    p.type_v = o.type_v;
    p.score_all = o.score_all;
    if (o.kld) p.logp_in = o.kld_file;
    else p.logp_out = o.kld_file;
    print_state ps = {.kld = o.kld};
    p.on_chunk = on_chunk;
    p.user = &ps;
    fprintf(stderr, "perplexity: model %s (%s, %s)", tn_model_name(m), tn_model_arch(m),
            tn_model_ftype(m));
    if (!o.kld) fprintf(stderr, ", %lld tokens", (long long)n_tok);
    fprintf(stderr, ", KV cache %s/%s\n", tn_kv_type_name(o.type_k), tn_kv_type_name(o.type_v));
    tn_ppl_result r;
    if (tn_perplexity(m, toks, n_tok, &p, &r)) {
        fprintf(stderr, "\nerror: %s\n", tn_last_error());
        goto done;
    }
    fprintf(stderr, "perplexity: %d windows of %d tokens, %lld predictions scored (positions "
                    "%d..%d)\n",
            r.n_chunks, r.n_ctx, (long long)r.count, r.first, r.n_ctx - 2);
    if (o.kld) {
        print_kld(&r);
    } else {
        printf("\nFinal estimate: PPL = %.4f +/- %.5f\n", r.ppl, r.ppl_err);
        if (o.kld_file) fprintf(stderr, "perplexity: saved log-probabilities to %s\n", o.kld_file);
    }
    rc = 0;
done:
    free(toks);
    free(text);
    tn_model_free(m);
    return rc;
}
