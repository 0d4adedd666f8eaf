/* `tern bench`: prompt-processing and generation speed, measured the way llama.cpp's llama-bench
 * measures it (same flags, same method, same output fields), on GGUF files or on synthetic
 * random-weight models of real shapes; --profile adds per-op timings, --sweep an SVG plot.
 *
 * Method (llama-bench's): for each model and each combination of the list-valued settings, each
 * test gets a fresh context of n_depth + n_prompt + n_gen cells; one warm-up (the prompt once and
 * one generated token), then r repetitions of: clear the cache, fill n_depth tokens (untimed),
 * then time the prompt (random tokens, submitted n_batch at a time, logits for the last only)
 * and/or n_gen single-token decodes. t/s = tokens / time per repetition, mean ± stddev. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "cli.h"
#include "formats/gguf.h"
#include "formats/types.h"
#include "runtime/profile.h"
#include "synth/synth.h"
#include "tp_flag.h"

#define CUDA_COPY_GBPS 3028.0 /* docs/ANCHORS.md: H100 device-to-device copy */

typedef struct int_list {
    int *v;
    int n;
} int_list;

typedef struct str_list {
    char **v;
    int n;
} str_list;

typedef struct bench_opts {
    str_list models, synth, wtypes;
    int_list n_prompt, n_gen, n_depth, pg, n_threads, n_batch, n_ubatch, ngl, type_k, type_v, fa;
    int reps;
    bench_format fmt;
    double bw_gbps, peak_tflops;
    bool profile, sweep, progress, pure;
    const char *svg_path, *write_path, *synth_dir;
    uint64_t seed;
    int synth_layers;
    int tp; /* -tp N: tensor parallelism (N > 1 only prints the plan for now) */
} bench_opts;

static void usage(FILE *f) {
    fprintf(f,
            "usage: tern bench [options]   (llama-bench compatible; list flags take a,b,c and may repeat)\n"
            "  -m, --model FILE[,FILE]    GGUF model(s) (default: the bundled tiny-llama)\n"
            "  --synthetic SHAPE[,SHAPE]  random-weight model(s) of a real shape instead of a file:\n"
            "                             %s\n"
            "  -w, --weight-type T[,T]    weight type(s) of synthetic models: f16 bf16 f32 q8_0 q4_0\n"
            "                             q4_1 q5_0 q5_1 q2_K..q6_K iq4_nl iq4_xs mxfp4 Q4_K_M Q5_K_M\n"
            "                             (default q4_0)\n"
            "  --write FILE.gguf          write the (single) synthetic model to FILE and exit\n"
            "  --synth-dir DIR            keep synthetic models in DIR and reuse them (default: a\n"
            "                             temporary file in /dev/shm or $TMPDIR, deleted after loading)\n"
            "  --seed N                   RNG seed for synthetic weights and prompt tokens (default 42)\n"
            "  --pure                     synthetic: no Q6_K output tensor (llama-quantize --pure)\n"
            "  -p, --n-prompt N[,N]       prompt sizes (default 512; 0 = none)\n"
            "  -n, --n-gen N[,N]          generation lengths (default 128; 0 = none)\n"
            "  -pg PP,TG                  prompt then generation in one test (repeatable)\n"
            "  -d, --n-depth N[,N]        tokens already in the KV cache (default 0)\n"
            "  -r, --repetitions N        repetitions of each test (default 5)\n"
            "  -t, --threads N[,N]        CPU threads (default: all cores)\n"
            "  -b, --batch-size N[,N]     tokens submitted per decode call (default 2048)\n"
            "  -ub, --ubatch-size N[,N]   micro-batch computed at once (default 512)\n"
            "  -ngl, --n-gpu-layers N[,N] layers on the GPU (default 0, 99 in CUDA builds)\n"
            "  -ctk, --cache-type-k T[,T] KV cache type for K: f16, bf16, q8_0, q4_0,\n"
            "                             turbo2, turbo3, turbo4, f32 (default f16)\n"
            "  -ctv, --cache-type-v T[,T] KV cache type for V (default f16)\n"
            "  -tp, --tensor-split N      tensor parallelism over N GPUs (N > 1: prints each model's\n"
            "                             plan; the multi-GPU forward pass is not implemented yet)\n"
            "  -fa, --flash-attn 0|1      accepted for llama-bench compatibility (recorded only)\n"
            "  -o, --output md|json|jsonl|csv   output format (default md)\n"
            "  --bw GBPS                  memory bandwidth to compare generation against (default:\n"
            "                             measured with memcpy on CPU, 3028 on CUDA)\n"
            "  --peak-tflops X            FLOP ceiling for --profile's %%FLOP column\n"
            "  --profile                  per-op time, bytes and share of the ceilings per decode step\n"
            "  --sweep                    also plot tokens/s against every list-valued setting\n"
            "  --svg FILE                 where --sweep writes its plot (default bench-sweep.svg)\n"
            "  --progress                 print progress to stderr\n"
            "  -h, --help                 this text\n",
            tn_synth_shape_list());
}

static int push_int(int_list *l, int v) {
    int *p = realloc(l->v, sizeof(int) * (size_t)(l->n + 1));
    if (!p) return -1;
    l->v = p;
    l->v[l->n++] = v;
    return 0;
}

static int push_str(str_list *l, const char *s) {
    char **p = realloc(l->v, sizeof(char *) * (size_t)(l->n + 1));
    if (!p) return -1;
    l->v = p;
    if (!(l->v[l->n] = strdup(s))) return -1;
    l->n++;
    return 0;
}

static void free_lists(bench_opts *o) {
    str_list *s[] = {&o->models, &o->synth, &o->wtypes};
    for (size_t i = 0; i < 3; i++) {
        for (int j = 0; j < s[i]->n; j++) free(s[i]->v[j]);
        free(s[i]->v);
    }
    int_list *l[] = {&o->n_prompt, &o->n_gen, &o->n_depth, &o->pg, &o->n_threads, &o->n_batch,
                     &o->n_ubatch, &o->ngl, &o->type_k, &o->type_v, &o->fa};
    for (size_t i = 0; i < sizeof l / sizeof l[0]; i++) free(l[i]->v);
}

/* Splits a comma list and appends each item. kind: 's' strings, 'i' integers in [lo, hi],
 * 't' KV cache types. */
static int parse_list(const char *flag, const char *val, char kind, long lo, long hi, void *list) {
    if (!*val) {
        fprintf(stderr, "error: %s needs a value\n", flag);
        return -1;
    }
    char *copy = strdup(val), *save = NULL;
    int rc = copy ? 0 : -1;
    for (char *tok = copy ? strtok_r(copy, ",", &save) : NULL; tok && !rc; tok = strtok_r(NULL, ",", &save)) {
        if (kind == 's') {
            rc = push_str(list, tok);
        } else if (kind == 't') {
            int t = cli_cache_type(tok);
            rc = t < 0 ? -1 : push_int(list, t);
        } else {
            char *end;
            long x = strtol(tok, &end, 10);
            if (end == tok || *end || x < lo || x > hi) {
                fprintf(stderr, "error: %s expects integers in %ld..%ld, got '%s'\n", flag, lo, hi, tok);
                rc = -1;
            } else {
                rc = push_int(list, (int)x);
            }
        }
    }
    free(copy);
    return rc;
}

static bool is(const char *a, const char *x, const char *y) { return !strcmp(a, x) || (y && !strcmp(a, y)); }

static int parse(int argc, char **argv, bench_opts *o) {
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = NULL;
        int rc = 0;
        long x;
        double d;
        if (is(a, "-h", "--help")) {
            usage(stdout);
            return 1;
        }
#define LIST(kind, lo, hi, l) (rc = cli_str(argc, argv, &i, &v) || parse_list(a, v, kind, lo, hi, l))
        if (is(a, "-m", "--model")) LIST('s', 0, 0, &o->models);
        else if (is(a, "--synthetic", NULL)) LIST('s', 0, 0, &o->synth);
        else if (is(a, "-w", "--weight-type")) LIST('s', 0, 0, &o->wtypes);
        else if (is(a, "-p", "--n-prompt")) LIST('i', 0, 1 << 20, &o->n_prompt);
        else if (is(a, "-n", "--n-gen")) LIST('i', 0, 1 << 20, &o->n_gen);
        else if (is(a, "-pg", NULL)) {
            int_list tmp = {0};
            LIST('i', 0, 1 << 20, &tmp);
            if (!rc && tmp.n != 2) {
                fprintf(stderr, "error: -pg expects PP,TG\n");
                rc = -1;
            }
            if (!rc) rc = push_int(&o->pg, tmp.v[0]) || push_int(&o->pg, tmp.v[1]);
            free(tmp.v);
        } else if (is(a, "-d", "--n-depth")) LIST('i', 0, 1 << 24, &o->n_depth);
        else if (is(a, "-t", "--threads")) LIST('i', 1, 1024, &o->n_threads);
        else if (is(a, "-b", "--batch-size")) LIST('i', 1, 1 << 20, &o->n_batch);
        else if (is(a, "-ub", "--ubatch-size")) LIST('i', 1, 1 << 20, &o->n_ubatch);
        else if (is(a, "-ngl", "--n-gpu-layers")) LIST('i', 0, 100000, &o->ngl);
        else if (is(a, "-ctk", "--cache-type-k")) LIST('t', 0, 0, &o->type_k);
        else if (is(a, "-ctv", "--cache-type-v")) LIST('t', 0, 0, &o->type_v);
        else if (is(a, "-fa", "--flash-attn")) LIST('i', 0, 1, &o->fa);
        else if (is(a, "-r", "--repetitions")) {
            rc = cli_int(argc, argv, &i, 1, 100000, &x);
            o->reps = (int)x;
        } else if (is(a, "-o", "--output")) {
            rc = cli_str(argc, argv, &i, &v);
            if (!rc) {
                if (!strcmp(v, "md")) o->fmt = BENCH_MD;
                else if (!strcmp(v, "json")) o->fmt = BENCH_JSON;
                else if (!strcmp(v, "jsonl")) o->fmt = BENCH_JSONL;
                else if (!strcmp(v, "csv")) o->fmt = BENCH_CSV;
                else {
                    fprintf(stderr, "error: -o expects md, json, jsonl or csv, got '%s'\n", v);
                    rc = -1;
                }
            }
        } else if (is(a, "--bw", NULL)) {
            rc = cli_float(argc, argv, &i, 0.001, 1e6, &d);
            o->bw_gbps = d;
        } else if (is(a, "--peak-tflops", NULL)) {
            rc = cli_float(argc, argv, &i, 1e-6, 1e6, &d);
            o->peak_tflops = d;
        } else if (is(a, "-tp", "--tensor-split")) {
            rc = cli_int(argc, argv, &i, 1, TP_FLAG_MAX, &x);
            o->tp = (int)x;
        } else if (is(a, "--seed", NULL)) {
            rc = cli_int(argc, argv, &i, 0, 0x7fffffffL, &x);
            o->seed = (uint64_t)x;
        } else if (is(a, "--synth-layers", NULL)) { /* quick tests of big shapes; undocumented */
            rc = cli_int(argc, argv, &i, 1, 1000, &x);
            o->synth_layers = (int)x;
        } else if (is(a, "--write", NULL)) rc = cli_str(argc, argv, &i, &o->write_path);
        else if (is(a, "--synth-dir", NULL)) rc = cli_str(argc, argv, &i, &o->synth_dir);
        else if (is(a, "--svg", NULL)) rc = cli_str(argc, argv, &i, &o->svg_path);
        else if (is(a, "--profile", NULL)) o->profile = true;
        else if (is(a, "--sweep", NULL)) o->sweep = true;
        else if (is(a, "--progress", NULL)) o->progress = true;
        else if (is(a, "--pure", NULL)) o->pure = true;
        else {
            fprintf(stderr, "error: unknown option '%s' (see tern bench --help)\n", a);
            return -1;
        }
#undef LIST
        if (rc) return -1;
    }
    return 0;
}

/* Defaults for lists the user did not give (llama-bench's, except threads: all cores). */
static int fill_defaults(bench_opts *o) {
    int rc = 0;
    if (!o->n_prompt.n) rc |= push_int(&o->n_prompt, 512); /* each list on its own, as llama-bench */
    if (!o->n_gen.n) rc |= push_int(&o->n_gen, 128);
    if (!o->n_depth.n) rc |= push_int(&o->n_depth, 0);
    if (!o->n_threads.n) rc |= push_int(&o->n_threads, bench_n_cpus());
    if (!o->n_batch.n) rc |= push_int(&o->n_batch, 2048);
    if (!o->n_ubatch.n) rc |= push_int(&o->n_ubatch, 512);
#ifdef TN_CUDA
    if (!o->ngl.n) rc |= push_int(&o->ngl, 99);
#else
    if (!o->ngl.n) rc |= push_int(&o->ngl, 0);
#endif
    if (!o->type_k.n) rc |= push_int(&o->type_k, TN_TYPE_F16);
    if (!o->type_v.n) rc |= push_int(&o->type_v, TN_TYPE_F16);
    if (!o->fa.n) rc |= push_int(&o->fa, 0);
    if (o->synth.n && !o->wtypes.n) rc |= push_str(&o->wtypes, "q4_0");
    if (!o->models.n && !o->synth.n) rc |= push_str(&o->models, cli_default_model());
    return rc ? -1 : 0;
}

/* ---- synthetic models ---- */

static void synth_progress(void *user, const char *stage, double fraction) {
    static int last = -1;
    (void)user;
    int pct = (int)(fraction * 100);
    if (pct / 10 != last / 10 || fraction >= 1) fprintf(stderr, "\rsynthetic model: %s %3d%%", stage, pct);
    if (fraction >= 1 && !strcmp(stage, "weights")) fputc('\n', stderr);
    last = pct;
}

static int synth_params(const bench_opts *o, const char *shape, const char *wtype, tn_synth_params *p) {
    *p = tn_synth_default_params();
    p->seed = o->seed;
    p->pure = o->pure;
    p->n_layer_override = o->synth_layers;
    p->progress = o->progress ? synth_progress : NULL;
    if (!(p->shape = tn_synth_shape_find(shape)) || tn_synth_wtype_parse(wtype, &p->wtype)) {
        fprintf(stderr, "error: %s\n", tn_last_error());
        return -1;
    }
    return 0;
}

/* Writes the synthetic model to a file and returns its path (malloc'd); *temporary says whether
 * the caller deletes it after loading. */
static char *synth_file(const bench_opts *o, const tn_synth_params *p, bool *temporary) {
    char *path = malloc(1024);
    if (!path) return NULL;
    *temporary = !o->synth_dir;
    if (o->synth_dir) {
        char layers[16] = "";
        if (p->n_layer_override) snprintf(layers, sizeof layers, "-l%d", p->n_layer_override);
        snprintf(path, 1024, "%s/%s-%s%s%s-s%llu.gguf", o->synth_dir, p->shape->name, p->wtype.name,
                 p->pure ? "-pure" : "", layers, (unsigned long long)p->seed);
        if (cli_file_exists(path)) return path;
    } else {
        const char *dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : getenv("TMPDIR");
        snprintf(path, 1024, "%s/tern-synth-XXXXXX", dir && *dir ? dir : "/tmp");
        int fd = mkstemp(path);
        if (fd < 0) {
            fprintf(stderr, "error: cannot create a temporary file for the synthetic model\n");
            free(path);
            return NULL;
        }
        close(fd);
    }
    double t0 = cli_now_ms();
    if (tn_synth_write(p, path)) {
        fprintf(stderr, "error: %s\n", tn_last_error());
        if (*temporary) unlink(path);
        free(path);
        return NULL;
    }
    if (o->progress)
        fprintf(stderr, "synthetic model %s %s written to %s in %.1f s\n", p->shape->name,
                p->wtype.name, path, (cli_now_ms() - t0) / 1e3);
    return path;
}

/* ---- tests ---- */

typedef struct bench_rng {
    uint64_t s;
} bench_rng;

static int32_t random_token(bench_rng *r, int32_t n_vocab) {
    r->s ^= r->s << 13;
    r->s ^= r->s >> 7;
    r->s ^= r->s << 17;
    return (int32_t)(r->s % (uint64_t)n_vocab);
}

static int run_prompt(tn_ctx *ctx, int32_t n_vocab, int n_tokens, int n_batch, bench_rng *rng) {
    int32_t *toks = malloc(sizeof(int32_t) * (size_t)n_batch);
    if (!toks) return -1;
    int rc = 0;
    for (int done = 0; done < n_tokens && !rc; done += n_batch) {
        int n = n_tokens - done < n_batch ? n_tokens - done : n_batch;
        for (int i = 0; i < n; i++) toks[i] = random_token(rng, n_vocab);
        tn_batch b = {.n_tokens = n, .token = toks};
        rc = tn_decode(ctx, &b);
    }
    free(toks);
    return rc;
}

static int run_gen(tn_ctx *ctx, int32_t n_vocab, int n_gen, bench_rng *rng) {
    int32_t tok = random_token(rng, n_vocab);
    for (int i = 0; i < n_gen; i++) {
        tn_batch b = {.n_tokens = 1, .token = &tok};
        if (tn_decode(ctx, &b)) return -1;
        tok = random_token(rng, n_vocab);
    }
    return 0;
}

static char *capture(void (*fn)(const tn_profile *, FILE *, double, double), const tn_profile *p,
                     double gbps, double gflops) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) return NULL;
    fn(p, f, gbps, gflops);
    fclose(f);
    return buf;
}

typedef struct model_info {
    tn_model *m;
    const char *filename;
    char type[128];
    int32_t n_vocab;
    uint64_t weight_bytes;
} model_info;

/* One test: fills r (timings, rates) or returns -1 with a message printed. */
static int run_test(const bench_opts *o, const model_info *mi, bench_result *r) {
    tn_ctx_params cp = tn_ctx_default_params();
    cp.n_ctx = r->n_depth + r->n_prompt + r->n_gen;
    cp.n_batch = r->n_ubatch < r->n_batch ? r->n_ubatch : r->n_batch;
    cp.n_threads = r->n_threads;
    cp.type_k = r->type_k;
    cp.type_v = r->type_v;
    tn_ctx *ctx = tn_ctx_new(mi->m, &cp);
    if (!ctx) {
        fprintf(stderr, "error: cannot create a context: %s\n", tn_last_error());
        return -1;
    }
    tn_profile *prof = o->profile ? tn_profile_attach(ctx) : NULL;
    if (o->profile && !prof) fprintf(stderr, "warning: profiler: %s\n", tn_last_error());
    bench_rng rng = {o->seed * 2654435761u + 88172645463325252ull};
    int rc = 0;
    if (r->n_prompt > 0) rc |= run_prompt(ctx, mi->n_vocab, r->n_prompt, r->n_batch, &rng);
    if (r->n_gen > 0) rc |= run_gen(ctx, mi->n_vocab, 1, &rng);
    r->samples_ns = calloc((size_t)o->reps, sizeof(double));
    if (!r->samples_ns) rc = -1;
    for (int rep = 0; rep < o->reps && !rc; rep++) {
        tn_kv_seq_rm(ctx, -1, 0, -1);
        if (r->n_depth > 0) rc |= run_prompt(ctx, mi->n_vocab, r->n_depth, r->n_batch, &rng);
        if (prof) tn_profile_resume(prof);
        double t0 = cli_now_ms();
        if (r->n_prompt > 0) rc |= run_prompt(ctx, mi->n_vocab, r->n_prompt, r->n_batch, &rng);
        if (r->n_gen > 0) rc |= run_gen(ctx, mi->n_vocab, r->n_gen, &rng);
        double ns = (cli_now_ms() - t0) * 1e6;
        if (prof) tn_profile_pause(prof);
        r->samples_ns[r->n_samples++] = ns;
    }
    if (rc) {
        fprintf(stderr, "error: decode failed: %s\n", tn_last_error());
    } else {
        double tokens = (double)r->n_prompt + r->n_gen, s_ns = 0, s_ts = 0;
        for (int i = 0; i < r->n_samples; i++) {
            s_ns += r->samples_ns[i];
            s_ts += tokens / (r->samples_ns[i] / 1e9);
        }
        r->avg_ns = s_ns / r->n_samples;
        r->avg_ts = s_ts / r->n_samples;
        double v_ns = 0, v_ts = 0;
        for (int i = 0; i < r->n_samples; i++) {
            double ts = tokens / (r->samples_ns[i] / 1e9);
            v_ns += (r->samples_ns[i] - r->avg_ns) * (r->samples_ns[i] - r->avg_ns);
            v_ts += (ts - r->avg_ts) * (ts - r->avg_ts);
        }
        /* sample standard deviation, as llama-bench */
        r->stddev_ns = r->n_samples > 1 ? sqrt(v_ns / (r->n_samples - 1)) : 0;
        r->stddev_ts = r->n_samples > 1 ? sqrt(v_ts / (r->n_samples - 1)) : 0;
        if (r->n_gen > 0 && r->n_prompt == 0) {
            /* generated token i (from 0) attends to n_depth + i + 1 cells */
            double avg_cells = r->n_depth + (r->n_gen + 1) / 2.0;
            r->bytes_per_token = (double)mi->weight_bytes +
                                 (double)tn_model_kv_bytes_per_cell(mi->m, r->type_k, r->type_v) * avg_cells;
            r->gbps = r->bytes_per_token * r->avg_ts / 1e9;
            r->bw_pct = r->peak_gbps > 0 ? 100.0 * r->gbps / r->peak_gbps : 0;
        }
        if (prof) {
            double gflops = o->peak_tflops * 1e3;
            r->profile_json = capture(tn_profile_json, prof, r->peak_gbps, gflops);
            r->profile_text = capture(tn_profile_print, prof, r->peak_gbps, gflops);
        }
    }
    tn_ctx_free(ctx);
    return rc ? -1 : 0;
}

static void now_iso(char *buf, size_t size) {
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void model_type(const char *path, tn_model *m, char *buf, size_t size) {
    const char *label = NULL;
    tn_gguf *g = tn_gguf_open(path);
    char params[32];
    if (!g || tn_gguf_get_str(g, "general.size_label", &label) != 0 || !label) {
        double n = (double)tn_model_n_params(m);
        snprintf(params, sizeof params, n >= 1e9 ? "%.1fB" : "%.0fM", n >= 1e9 ? n / 1e9 : n / 1e6);
        label = params;
    }
    snprintf(buf, size, "%s %s %s", tn_model_arch(m), label, tn_model_ftype(m));
    tn_gguf_close(g);
}

static bool more_than_one(const int_list *l) {
    for (int i = 1; i < l->n; i++)
        if (l->v[i] != l->v[0]) return true;
    return false;
}

typedef struct result_list {
    bench_result *r;
    int n, cap;
} result_list;

static bench_result *new_result(result_list *l) {
    if (l->n == l->cap) {
        int cap = l->cap ? l->cap * 2 : 16;
        bench_result *p = realloc(l->r, sizeof *p * (size_t)cap);
        if (!p) return NULL;
        l->r = p;
        l->cap = cap;
    }
    bench_result *r = &l->r[l->n];
    memset(r, 0, sizeof *r);
    return r;
}

/* All tests of one loaded model, over every combination of the settings. */
static int bench_model(const bench_opts *o, model_info *mi, int ngl, bench_printer *pr,
                       result_list *results, double *cpu_bw) {
    const char *backend = tn_model_backend_name(mi->m);
    double peak = o->bw_gbps;
    if (peak <= 0 && !strcmp(backend, "CPU")) {
        if (*cpu_bw <= 0) {
            int max_t = 1;
            for (int i = 0; i < o->n_threads.n; i++)
                if (o->n_threads.v[i] > max_t) max_t = o->n_threads.v[i];
            *cpu_bw = bench_copy_bandwidth_gbps(max_t);
            if (o->progress) fprintf(stderr, "memcpy bandwidth (%d threads): %.1f GB/s\n", max_t, *cpu_bw);
        }
        peak = *cpu_bw;
    } else if (peak <= 0) {
        peak = CUDA_COPY_GBPS;
    }
    int n_tests = o->n_prompt.n + o->n_gen.n + o->pg.n / 2;
    for (int it = 0; it < o->n_threads.n; it++)
        for (int ib = 0; ib < o->n_batch.n; ib++)
            for (int iu = 0; iu < o->n_ubatch.n; iu++)
                for (int ik = 0; ik < o->type_k.n; ik++)
                    for (int iv = 0; iv < o->type_v.n; iv++)
                        for (int ifa = 0; ifa < o->fa.n; ifa++)
                            for (int id = 0; id < o->n_depth.n; id++)
                                for (int t = 0; t < n_tests; t++) {
                                    int np = 0, ng = 0;
                                    if (t < o->n_prompt.n) np = o->n_prompt.v[t];
                                    else if (t < o->n_prompt.n + o->n_gen.n) ng = o->n_gen.v[t - o->n_prompt.n];
                                    else {
                                        int k = t - o->n_prompt.n - o->n_gen.n;
                                        np = o->pg.v[2 * k];
                                        ng = o->pg.v[2 * k + 1];
                                    }
                                    if (np == 0 && ng == 0) continue;
                                    bench_result *r = new_result(results);
                                    if (!r) return -1;
                                    snprintf(r->model_filename, sizeof r->model_filename, "%s", mi->filename);
                                    snprintf(r->model_type, sizeof r->model_type, "%s", mi->type);
                                    r->model_size = tn_model_size(mi->m);
                                    r->model_n_params = tn_model_n_params(mi->m);
                                    snprintf(r->backend, sizeof r->backend, "%s", backend);
                                    r->n_threads = o->n_threads.v[it];
                                    r->n_batch = o->n_batch.v[ib];
                                    r->n_ubatch = o->n_ubatch.v[iu];
                                    r->type_k = o->type_k.v[ik];
                                    r->type_v = o->type_v.v[iv];
                                    r->flash_attn = o->fa.v[ifa];
                                    r->n_gpu_layers = ngl;
                                    r->n_prompt = np;
                                    r->n_gen = ng;
                                    r->n_depth = o->n_depth.v[id];
                                    r->n_reps = o->reps;
                                    r->peak_gbps = peak;
                                    now_iso(r->test_time, sizeof r->test_time);
                                    if (o->progress) {
                                        char name[64];
                                        bench_test_name(r, name, sizeof name);
                                        fprintf(stderr, "bench: %s %s t=%d ub=%d ...\n", mi->type, name,
                                                r->n_threads, r->n_ubatch);
                                    }
                                    if (run_test(o, mi, r)) {
                                        free(r->samples_ns);
                                        return -1;
                                    }
                                    results->n++;
                                    bench_print_result(pr, r);
                                }
    return 0;
}

static void free_results(result_list *l) {
    for (int i = 0; i < l->n; i++) {
        free(l->r[i].samples_ns);
        free(l->r[i].profile_json);
        free(l->r[i].profile_text);
    }
    free(l->r);
}

int cmd_bench(int argc, char **argv) {
    bench_opts o = {.reps = 5, .fmt = BENCH_MD, .seed = 42, .svg_path = "bench-sweep.svg"};
    int prc = parse(argc, argv, &o);
    if (prc || fill_defaults(&o)) {
        free_lists(&o);
        return prc > 0 ? 0 : 1;
    }
    int rc = 1;
    result_list results = {0};
    if (o.tp > 1) { /* the plan of every model, then a refusal (tools/tp_flag.c) */
        for (int k = 0; k < o.models.n; k++)
            tp_refuse_model(o.models.v[k], o.tp, o.type_k.v[0], o.type_v.v[0]);
        for (int k = 0; k < o.synth.n * o.wtypes.n; k++)
            tp_refuse_synth(o.synth.v[k / o.wtypes.n], o.wtypes.v[k % o.wtypes.n], o.pure, o.tp,
                            o.type_k.v[0], o.type_v.v[0]);
        free_lists(&o);
        return 1;
    }
    if (o.write_path) {
        tn_synth_params sp;
        if (o.synth.n != 1 || o.wtypes.n != 1) {
            fprintf(stderr, "error: --write needs exactly one --synthetic shape and one -w type\n");
        } else if (synth_params(&o, o.synth.v[0], o.wtypes.v[0], &sp) == 0) {
            double t0 = cli_now_ms();
            if (tn_synth_write(&sp, o.write_path) == 0) {
                fprintf(stderr, "wrote %s: synthetic %s %s, %.2f GB of tensor data, %.1f s\n",
                        o.write_path, sp.shape->name, sp.wtype.name, tn_synth_data_bytes(&sp) / 1e9,
                        (cli_now_ms() - t0) / 1e3);
                rc = 0;
            } else {
                fprintf(stderr, "error: %s\n", tn_last_error());
            }
        }
        free_lists(&o);
        return rc;
    }
    bench_printer pr = {.fmt = o.fmt, .out = stdout, .build_commit = bench_build_commit(),
                        .cpu_info = bench_cpu_info()};
    pr.cols = (bench_columns){.ngl = more_than_one(&o.ngl) || o.ngl.v[0] > 0,
                              .n_batch = more_than_one(&o.n_batch) || o.n_batch.v[0] != 2048,
                              .n_ubatch = more_than_one(&o.n_ubatch) || o.n_ubatch.v[0] != 512,
                              .type_k = more_than_one(&o.type_k) || o.type_k.v[0] != TN_TYPE_F16,
                              .type_v = more_than_one(&o.type_v) || o.type_v.v[0] != TN_TYPE_F16,
                              .fa = more_than_one(&o.fa) || o.fa.v[0] != 0};
    bench_print_begin(&pr);
    double cpu_bw = 0;
    int n_models = o.models.n + o.synth.n * o.wtypes.n;
    bool ok = true;
    for (int k = 0; k < n_models && ok; k++) {
        model_info mi = {0};
        char *path = NULL, label[256];
        bool temporary = false;
        if (k < o.models.n) {
            path = strdup(o.models.v[k]);
            snprintf(label, sizeof label, "%s", path);
        } else {
            int j = k - o.models.n;
            tn_synth_params sp;
            const char *shape = o.synth.v[j / o.wtypes.n], *wt = o.wtypes.v[j % o.wtypes.n];
            if (synth_params(&o, shape, wt, &sp) || !(path = synth_file(&o, &sp, &temporary))) {
                ok = false;
                break;
            }
            snprintf(label, sizeof label, "synthetic:%s:%s", sp.shape->name, sp.wtype.name);
        }
        for (int g = 0; g < o.ngl.n && ok; g++) {
            tn_model_params mp = tn_model_default_params();
            mp.n_gpu_layers = o.ngl.v[g];
            mi.m = tn_model_load(path, &mp);
            if (!mi.m) {
                fprintf(stderr, "error: %s\n", tn_last_error());
                ok = false;
                break;
            }
            mi.filename = label;
            mi.n_vocab = tn_model_n_vocab(mi.m);
            mi.weight_bytes = tn_model_decode_weight_bytes(mi.m);
            model_type(path, mi.m, mi.type, sizeof mi.type);
            if (temporary) unlink(path); /* the mapping keeps the data; nothing is left behind */
            temporary = false;
            ok = bench_model(&o, &mi, o.ngl.v[g], &pr, &results, &cpu_bw) == 0;
            tn_model_free(mi.m);
        }
        if (temporary) unlink(path);
        free(path);
    }
    bench_print_end(&pr);
    if (ok && o.profile && (o.fmt == BENCH_MD))
        for (int i = 0; i < results.n; i++) {
            char name[64];
            bench_test_name(&results.r[i], name, sizeof name);
            printf("\n%s %s, %d threads:\n%s", results.r[i].model_type, name, results.r[i].n_threads,
                   results.r[i].profile_text ? results.r[i].profile_text : "(no profile)\n");
        }
    if (ok && o.sweep) {
        const char *names[] = {"n_threads", "n_batch", "n_ubatch", "type_k", "type_v", "n_gpu_layers"};
        const int_list *lists[] = {&o.n_threads, &o.n_batch, &o.n_ubatch, &o.type_k, &o.type_v, &o.ngl};
        const char *swept[6];
        int n_swept = 0;
        for (int i = 0; i < 6; i++)
            if (more_than_one(lists[i])) swept[n_swept++] = names[i];
        if (!n_swept) {
            fprintf(stderr, "error: --sweep needs at least one of -t -b -ub -ctk -ctv -ngl with several values\n");
            ok = false;
        } else if (bench_write_svg(o.svg_path, results.r, results.n, swept, n_swept)) {
            fprintf(stderr, "error: cannot write %s\n", o.svg_path);
            ok = false;
        } else {
            fprintf(stderr, "sweep plot written to %s\n", o.svg_path);
        }
    }
    rc = ok ? 0 : 1;
    free_results(&results);
    free_lists(&o);
    return rc;
}
