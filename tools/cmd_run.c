/* `tern run`: generate a continuation of a prompt, streaming text to stdout and timing to stderr
 * (flags follow llama.cpp's llama-cli / llama-simple). */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "formats/types.h"
#include "kv/kv.h"
#include "runtime/profile.h"
#include "tp_flag.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: tern run [options]\n"
            "  -m, --model FILE         GGUF model (default: the bundled tiny-llama)\n"
            "  -p, --prompt TEXT        prompt (default: \"ROMEO:\")\n"
            "  -f, --file FILE          read the prompt from a file\n"
            "  -n, --n-predict N        tokens to generate, -1 = until end of text or context (default 128)\n"
            "  -c, --ctx-size N         context size in tokens (default: the model's, at most 4096)\n"
            "  -b, --batch-size N       micro-batch size for the prompt (default 512)\n"
            "  -t, --threads N          CPU threads (default: all cores)\n"
            "  -ngl, --n-gpu-layers N   layers on the GPU (needs a CUDA build)\n"
            "  -ctk, --cache-type-k T   KV cache type for K (f16, bf16, q8_0, q4_0,\n"
            "                           turbo2, turbo3, turbo4, f32; default f16)\n"
            "  -ctv, --cache-type-v T   KV cache type for V\n"
            "  -tp, --tensor-split N    tensor parallelism over N GPUs (N > 1: prints the plan;\n"
            "                           the multi-GPU forward pass is not implemented yet)\n"
            "  --temp X                 temperature, 0 = greedy (default 0.8)\n"
            "  --top-k N                top-k sampling, 0 = off (default 40)\n"
            "  --top-p X                top-p sampling, 1 = off (default 0.95)\n"
            "  --min-p X                min-p sampling, 0 = off (default 0.05)\n"
            "  --repeat-penalty X       repetition penalty, 1 = off (default 1.0)\n"
            "  --repeat-last-n N        tokens the penalty looks back at (default 64)\n"
            "  -s, --seed N             random seed (default: random)\n"
            "  --ignore-eos             keep generating after end of text\n"
            "  --no-display-prompt      do not echo the prompt\n"
            "  --profile                per-op time and bytes per generated token (table on stderr)\n"
            "  --profile-json FILE      the same profile as JSON\n"
            "  --bw GBPS                bandwidth the profile's %%BW column compares with\n"
            "  -h, --help               this text\n");
}

typedef struct run_opts {
    const char *model, *prompt, *prompt_file;
    long n_predict, n_ctx, n_batch, n_threads, ngl, tp;
    int type_k, type_v;
    bool ignore_eos, show_prompt, seed_set, profile;
    const char *profile_json;
    double bw_gbps;
    tn_sampler_params sp;
} run_opts;

static int parse(int argc, char **argv, run_opts *o) {
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *s;
        long v;
        double d;
        int rc = 0;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            exit(0);
        } else if (!strcmp(a, "-m") || !strcmp(a, "--model")) rc = cli_str(argc, argv, &i, &o->model);
        else if (!strcmp(a, "-p") || !strcmp(a, "--prompt")) rc = cli_str(argc, argv, &i, &o->prompt);
        else if (!strcmp(a, "-f") || !strcmp(a, "--file")) rc = cli_str(argc, argv, &i, &o->prompt_file);
        else if (!strcmp(a, "-n") || !strcmp(a, "--n-predict")) rc = cli_int(argc, argv, &i, -1, 1L << 30, &o->n_predict);
        else if (!strcmp(a, "-c") || !strcmp(a, "--ctx-size")) rc = cli_int(argc, argv, &i, 0, 1L << 24, &o->n_ctx);
        else if (!strcmp(a, "-b") || !strcmp(a, "--batch-size")) rc = cli_int(argc, argv, &i, 1, 1L << 20, &o->n_batch);
        else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) rc = cli_int(argc, argv, &i, 0, 1024, &o->n_threads);
        else if (!strcmp(a, "-ngl") || !strcmp(a, "--n-gpu-layers") || !strcmp(a, "--gpu-layers")) rc = cli_int(argc, argv, &i, 0, 100000, &o->ngl);
        else if (!strcmp(a, "-ctk") || !strcmp(a, "--cache-type-k")) rc = cli_str(argc, argv, &i, &s) || (o->type_k = cli_cache_type(s)) < 0;
        else if (!strcmp(a, "-ctv") || !strcmp(a, "--cache-type-v")) rc = cli_str(argc, argv, &i, &s) || (o->type_v = cli_cache_type(s)) < 0;
        else if (!strcmp(a, "--temp")) { rc = cli_float(argc, argv, &i, 0, 100, &d); o->sp.temp = (float)d; }
        else if (!strcmp(a, "--top-k")) { rc = cli_int(argc, argv, &i, 0, 1L << 30, &v); o->sp.top_k = (int32_t)v; }
        else if (!strcmp(a, "--top-p")) { rc = cli_float(argc, argv, &i, 0, 1, &d); o->sp.top_p = (float)d; }
        else if (!strcmp(a, "--min-p")) { rc = cli_float(argc, argv, &i, 0, 1, &d); o->sp.min_p = (float)d; }
        else if (!strcmp(a, "--repeat-penalty")) { rc = cli_float(argc, argv, &i, 0.01, 100, &d); o->sp.repeat_penalty = (float)d; }
        else if (!strcmp(a, "--repeat-last-n")) { rc = cli_int(argc, argv, &i, 0, 1 << 20, &v); o->sp.repeat_last_n = (int32_t)v; }
        else if (!strcmp(a, "-s") || !strcmp(a, "--seed")) { rc = cli_int(argc, argv, &i, 0, 0xFFFFFFFFL, &v); o->sp.seed = (uint64_t)v; o->seed_set = true; }
        else if (!strcmp(a, "--ignore-eos")) o->ignore_eos = true;
        else if (!strcmp(a, "--no-display-prompt")) o->show_prompt = false;
        else if (!strcmp(a, "--profile")) o->profile = true;
        else if (!strcmp(a, "--profile-json")) rc = cli_str(argc, argv, &i, &o->profile_json);
        else if (!strcmp(a, "--bw")) rc = cli_float(argc, argv, &i, 0, 1e6, &o->bw_gbps);
        else if (!strcmp(a, "-tp") || !strcmp(a, "--tensor-split")) rc = cli_int(argc, argv, &i, 1, TP_FLAG_MAX, &o->tp);
        else {
            fprintf(stderr, "error: unknown option '%s' (see tern run --help)\n", a);
            return -1;
        }
        if (rc) return -1;
    }
    return 0;
}

static void print_token(const tn_model *m, int32_t tok, cli_utf8_stream *st) {
    char buf[256];
    int32_t n = tn_token_to_piece(m, tok, buf, sizeof buf, false);
    if (n > 0) cli_stream_write(st, stdout, buf, (size_t)n);
}

int cmd_run(int argc, char **argv) {
    run_opts o = {.prompt = "ROMEO:", .n_predict = 128, .n_batch = 512, .type_k = TN_TYPE_F16,
                  .type_v = TN_TYPE_F16, .show_prompt = true, .sp = tn_sampler_default_params()};
    if (parse(argc, argv, &o)) return 1;
    if (!o.seed_set) o.sp.seed = (uint64_t)cli_now_ms() ^ 0x5eed;
    if (!o.model) o.model = cli_default_model();
    if (o.tp > 1) return tp_refuse_model(o.model, (int)o.tp, o.type_k, o.type_v);
    char *file_prompt = NULL;
    if (o.prompt_file && !(file_prompt = cli_read_file(o.prompt_file, NULL))) return 1;
    const char *prompt = file_prompt ? file_prompt : o.prompt;

    double t0 = cli_now_ms();
    tn_model_params mp = tn_model_default_params();
    mp.n_gpu_layers = (int)o.ngl;
    tn_model *m = tn_model_load(o.model, &mp);
    if (!m) {
        fprintf(stderr, "error: %s\n", tn_last_error());
        free(file_prompt);
        return 1;
    }
    tn_ctx_params cp = tn_ctx_default_params();
    cp.n_ctx = (int32_t)o.n_ctx;
    if (cp.n_ctx == 0) cp.n_ctx = tn_model_n_ctx_train(m) < 4096 ? tn_model_n_ctx_train(m) : 4096;
    cp.n_batch = (int32_t)o.n_batch;
    cp.n_threads = (int32_t)o.n_threads;
    cp.type_k = o.type_k;
    cp.type_v = o.type_v;
    tn_ctx *ctx = tn_ctx_new(m, &cp);
    tn_sampler *smp = ctx ? tn_sampler_new(&o.sp, tn_model_n_vocab(m)) : NULL;
    int rc = 1;
    int32_t *toks = NULL;
    if (!ctx || !smp) {
        fprintf(stderr, "error: %s\n", tn_last_error());
        goto done;
    }
    double t_load = cli_now_ms() - t0;
    size_t plen = strlen(prompt);
    int32_t n_prompt = tn_tokenize(m, prompt, plen, NULL, 0, true, false);
    if (n_prompt == INT32_MIN) {
        fprintf(stderr, "error: cannot tokenize the prompt: %s\n", tn_last_error());
        goto done;
    }
    n_prompt = -n_prompt;
    toks = malloc(sizeof(int32_t) * (size_t)(n_prompt > 0 ? n_prompt : 1));
    n_prompt = tn_tokenize(m, prompt, plen, toks, n_prompt, true, false);
    int32_t n_ctx = tn_ctx_n_ctx(ctx);
    if (n_prompt <= 0) {
        fprintf(stderr, "error: the prompt is empty\n");
        goto done;
    }
    if (n_prompt >= n_ctx) {
        fprintf(stderr, "error: the prompt has %d tokens, more than the context size (-c %d) allows\n",
                n_prompt, n_ctx);
        goto done;
    }
    if (o.show_prompt) {
        fputs(prompt, stdout);
        fflush(stdout);
    }
    for (int32_t i = 0; i < n_prompt; i++) tn_sampler_accept(smp, toks[i]);
    /* the profile covers the generated tokens (one decode step each), not the prompt */
    tn_profile *prof = NULL;
    if (o.profile || o.profile_json) {
        prof = tn_profile_attach(ctx);
        if (!prof) {
            fprintf(stderr, "error: profiler: %s\n", tn_last_error());
            goto done;
        }
    }
    double t1 = cli_now_ms();
    tn_batch b = {.n_tokens = n_prompt, .token = toks};
    if (tn_decode(ctx, &b)) {
        fprintf(stderr, "\nerror: %s\n", tn_last_error());
        goto done;
    }
    double t_prompt = cli_now_ms() - t1, t2 = cli_now_ms();
    cli_utf8_stream st = {0};
    int32_t n_gen = 0, pos = n_prompt;
    while (o.n_predict < 0 || n_gen < o.n_predict) {
        int32_t tok = tn_sample(smp, ctx, -1);
        if (tok < 0) {
            fprintf(stderr, "\nerror: %s\n", tn_last_error());
            goto done;
        }
        if (!o.ignore_eos && tn_token_is_eog(m, tok)) break;
        tn_sampler_accept(smp, tok);
        print_token(m, tok, &st);
        n_gen++;
        if (pos >= n_ctx) break; /* context full */
        tn_batch nb = {.n_tokens = 1, .token = &tok};
        if (prof) tn_profile_resume(prof);
        const int drc = tn_decode(ctx, &nb);
        if (prof) tn_profile_pause(prof);
        if (drc) {
            fprintf(stderr, "\nerror: %s\n", tn_last_error());
            goto done;
        }
        pos++;
        if (o.n_predict < 0 && pos >= n_ctx) break;
    }
    cli_stream_flush(&st, stdout);
    printf("\n");
    fflush(stdout);
    double t_gen = cli_now_ms() - t2;
    fprintf(stderr, "\nmodel: %s (%s, %s), %d threads\n", tn_model_name(m), tn_model_arch(m),
            tn_model_ftype(m), o.n_threads ? (int)o.n_threads : (int)sysconf(_SC_NPROCESSORS_ONLN));
    fprintf(stderr, "load time:   %10.2f ms\n", t_load);
    /* KV cache size per token, and how long a context the memory available now could hold on
     * top of what this run already uses. */
    uint64_t per_tok = tn_model_kv_bytes_per_cell(m, o.type_k, o.type_v);
    if (per_tok) {
        uint64_t avail = cli_mem_available();
        fprintf(stderr, "KV cache:    %s/%s, %llu bytes per token, %.2f MiB at context %d", tn_kv_type_name(o.type_k),
                tn_kv_type_name(o.type_v), (unsigned long long)per_tok,
                (double)per_tok * n_ctx / (1024.0 * 1024.0), n_ctx);
        if (avail)
            fprintf(stderr, "; max context in available memory %llu tokens",
                    (unsigned long long)(n_ctx + avail / per_tok));
        fprintf(stderr, "\n");
    }
    fprintf(stderr, "prompt eval: %10.2f ms / %5d tokens (%8.2f tokens/s)\n", t_prompt, n_prompt,
            n_prompt / (t_prompt / 1e3));
    fprintf(stderr, "generation:  %10.2f ms / %5d tokens (%8.2f tokens/s)\n", t_gen, n_gen,
            n_gen > 0 ? n_gen / (t_gen / 1e3) : 0.0);
    if (prof && o.profile) {
        fprintf(stderr, "\n");
        tn_profile_print(prof, stderr, o.bw_gbps, 0);
    }
    if (prof && o.profile_json) {
        FILE *jf = fopen(o.profile_json, "w");
        if (!jf) {
            fprintf(stderr, "error: cannot write %s\n", o.profile_json);
            goto done;
        }
        tn_profile_json(prof, jf, o.bw_gbps, 0);
        fclose(jf);
    }
    rc = 0;
done:
    free(toks);
    free(file_prompt);
    tn_sampler_free(smp);
    tn_ctx_free(ctx);
    tn_model_free(m);
    return rc;
}
