/* `tern chat`: a conversation with a chat model through its chat template (llama-cli style).
 * User lines come from standard input (or -p), replies stream to standard output.
 *
 * Each turn renders the whole conversation with the template and feeds only the text the model
 * has not seen yet: the cache holds the previous rendering plus the generated reply, so the new
 * text is the rendering's remainder after that (it starts with the template's end-of-turn
 * marker, e.g. "<|im_end|>\n", which the model stopped at but did not consume). If a template
 * rewrites earlier text (e.g. trims the reply) the remainder after the previous rendering without
 * generation prompt is used instead, as llama.cpp does. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chat/chat_template.h"
#include "cli.h"
#include "formats/types.h"

int cmd_chat(int argc, char **argv);

static void usage(FILE *f) {
    fprintf(f,
            "usage: tern chat [options]   (reads user messages from stdin, one per line)\n"
            "  -m, --model FILE         GGUF model (default: the bundled tiny-llama)\n"
            "  -sys, --system-prompt T  system message\n"
            "  -p, --prompt TEXT        first user message (then read stdin, unless -st)\n"
            "  -st, --single-turn       answer one message (-p or the first line) and exit\n"
            "  --chat-template NAME     template family instead of the model's: %s\n"
            "  --verbose-prompt         print each turn's rendered prompt text to stderr\n"
            "  -n, --n-predict N        most tokens per reply, -1 = until end of turn (default -1)\n"
            "  -c, --ctx-size N         context size (default: the model's, at most 4096)\n"
            "  -b, --batch-size N       micro-batch size for prompts (default 512)\n"
            "  -t, --threads N          CPU threads (default: all cores)\n"
            "  -ngl, --n-gpu-layers N   layers on the GPU (needs a CUDA build)\n"
            "  -ctk, -ctv T             KV cache types for K and V (default f16)\n"
            "  --temp X, --top-k N, --top-p X, --min-p X, --repeat-penalty X, --repeat-last-n N,\n"
            "  -s, --seed N             sampling, as in tern run\n"
            "  -h, --help               this text\n",
            tn_chat_family_list());
}

typedef struct chat_opts {
    const char *model, *system, *prompt, *tmpl;
    long n_predict, n_ctx, n_batch, n_threads, ngl;
    int type_k, type_v;
    bool single, verbose, seed_set;
    tn_sampler_params sp;
} chat_opts;

static int parse(int argc, char **argv, chat_opts *o) {
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *s;
        long v;
        double d;
        int rc = 0;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            exit(0);
        } else if (!strcmp(a, "-m") || !strcmp(a, "--model")) {
            rc = cli_str(argc, argv, &i, &o->model);
        } else if (!strcmp(a, "-sys") || !strcmp(a, "--system-prompt")) {
            rc = cli_str(argc, argv, &i, &o->system);
        } else if (!strcmp(a, "-p") || !strcmp(a, "--prompt")) {
            rc = cli_str(argc, argv, &i, &o->prompt);
        } else if (!strcmp(a, "-st") || !strcmp(a, "--single-turn")) {
            o->single = true;
        } else if (!strcmp(a, "--chat-template")) {
            rc = cli_str(argc, argv, &i, &o->tmpl);
        } else if (!strcmp(a, "--verbose-prompt")) {
            o->verbose = true;
        } else if (!strcmp(a, "-n") || !strcmp(a, "--n-predict")) {
            rc = cli_int(argc, argv, &i, -1, 1L << 30, &o->n_predict);
        } else if (!strcmp(a, "-c") || !strcmp(a, "--ctx-size")) {
            rc = cli_int(argc, argv, &i, 0, 1L << 24, &o->n_ctx);
        } else if (!strcmp(a, "-b") || !strcmp(a, "--batch-size")) {
            rc = cli_int(argc, argv, &i, 1, 1L << 20, &o->n_batch);
        } else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) {
            rc = cli_int(argc, argv, &i, 0, 1024, &o->n_threads);
        } else if (!strcmp(a, "-ngl") || !strcmp(a, "--n-gpu-layers") || !strcmp(a, "--gpu-layers")) {
            rc = cli_int(argc, argv, &i, 0, 100000, &o->ngl);
        } else if (!strcmp(a, "-ctk") || !strcmp(a, "--cache-type-k")) {
            rc = cli_str(argc, argv, &i, &s) || (o->type_k = cli_cache_type(s)) < 0;
        } else if (!strcmp(a, "-ctv") || !strcmp(a, "--cache-type-v")) {
            rc = cli_str(argc, argv, &i, &s) || (o->type_v = cli_cache_type(s)) < 0;
        } else if (!strcmp(a, "--temp")) {
            rc = cli_float(argc, argv, &i, 0, 100, &d);
            o->sp.temp = (float)d;
        } else if (!strcmp(a, "--top-k")) {
            rc = cli_int(argc, argv, &i, 0, 1L << 30, &v);
            o->sp.top_k = (int32_t)v;
        } else if (!strcmp(a, "--top-p")) {
            rc = cli_float(argc, argv, &i, 0, 1, &d);
            o->sp.top_p = (float)d;
        } else if (!strcmp(a, "--min-p")) {
            rc = cli_float(argc, argv, &i, 0, 1, &d);
            o->sp.min_p = (float)d;
        } else if (!strcmp(a, "--repeat-penalty")) {
            rc = cli_float(argc, argv, &i, 0.01, 100, &d);
            o->sp.repeat_penalty = (float)d;
        } else if (!strcmp(a, "--repeat-last-n")) {
            rc = cli_int(argc, argv, &i, 0, 1 << 20, &v);
            o->sp.repeat_last_n = (int32_t)v;
        } else if (!strcmp(a, "-s") || !strcmp(a, "--seed")) {
            rc = cli_int(argc, argv, &i, 0, 0xFFFFFFFFL, &v);
            o->sp.seed = (uint64_t)v;
            o->seed_set = true;
        } else {
            fprintf(stderr, "error: unknown option '%s' (see tern chat --help)\n", a);
            return -1;
        }
        if (rc) return -1;
    }
    return 0;
}

/* Picks the template family: --chat-template (a family name, or template text to recognise),
 * else the model's tokenizer.chat_template, else ChatML (llama.cpp's fallback too). */
static tn_chat_family pick_family(const tn_model *m, const char *flag) {
    if (flag) {
        tn_chat_family f = tn_chat_family_from_name(flag);
        if (f == TN_CHAT_UNKNOWN) f = tn_chat_detect(flag);
        if (f == TN_CHAT_UNKNOWN)
            fprintf(stderr, "error: --chat-template '%s' is not one of: %s\n", flag,
                    tn_chat_family_list());
        return f;
    }
    const char *t = tn_model_chat_template(m);
    if (!t) {
        fprintf(stderr, "note: the model has no chat template; using chatml "
                        "(--chat-template NAME to choose another)\n");
        return TN_CHAT_CHATML;
    }
    tn_chat_family f = tn_chat_detect(t);
    if (f == TN_CHAT_UNKNOWN)
        fprintf(stderr, "error: the model's chat template is not one tern recognises; "
                        "choose a family with --chat-template NAME (%s)\n",
                tn_chat_family_list());
    return f;
}

typedef struct {
    tn_chat_msg *a;
    size_t n, cap;
} msg_list;

static int msg_add(msg_list *l, const char *role, const char *content) {
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 8;
        tn_chat_msg *a = realloc(l->a, cap * sizeof *a);
        if (!a) return -1;
        l->a = a, l->cap = cap;
    }
    char *c = strdup(content);
    if (!c) return -1;
    l->a[l->n++] = (tn_chat_msg){role, c};
    return 0;
}

/* The chat session: model objects plus what has been fed to the cache as text. */
typedef struct {
    tn_model *m;
    tn_ctx *ctx;
    tn_sampler *smp;
    tn_chat_family fam;
    const chat_opts *o;
    msg_list msgs;
    char *fed;        /* rendering fed so far + generated reply text */
    size_t fed_len;
    size_t prev_len; /* length of the last rendering without generation prompt */
    int32_t n_past, n_ctx;
} chat_session;

/* Tokenizes and decodes text (parse_special on; BOS if this is the very start). */
static int feed_text(chat_session *s, const char *text, size_t len) {
    bool first = s->n_past == 0;
    int32_t n = tn_tokenize(s->m, text, len, NULL, 0, first, true);
    if (n == INT32_MIN) {
        fprintf(stderr, "error: %s\n", tn_last_error());
        return -1;
    }
    n = n < 0 ? -n : n;
    if (n == 0) return 0;
    if (s->n_past + n >= s->n_ctx) {
        fprintf(stderr, "\nerror: the context is full (%d + %d tokens > -c %d)\n", s->n_past, n,
                s->n_ctx);
        return -1;
    }
    int32_t *toks = malloc((size_t)n * sizeof *toks);
    if (!toks) return -1;
    n = tn_tokenize(s->m, text, len, toks, n, first, true);
    for (int32_t i = 0; i < n; i++)
        tn_sampler_accept(s->smp, toks[i]);
    tn_batch b = {.n_tokens = n, .token = toks};
    int rc = tn_decode(s->ctx, &b);
    free(toks);
    if (rc) {
        fprintf(stderr, "\nerror: %s\n", tn_last_error());
        return -1;
    }
    s->n_past += n;
    return 0;
}

/* Appends bytes to a NUL-terminated growing string. */
static int add_bytes(char **s, size_t *n, const char *b, size_t len) {
    char *p = realloc(*s, *n + len + 1);
    if (!p) return -1;
    if (len) memcpy(p + *n, b, len); /* b may be NULL when len is 0 */
    *s = p, *n += len, p[*n] = 0;
    return 0;
}

/* One turn: add the user message, feed the new prompt text, stream the reply. */
static int turn(chat_session *s, const char *user) {
    if (msg_add(&s->msgs, "user", user)) return -1;
    char *full = tn_chat_format(s->fam, s->msgs.a, s->msgs.n, true);
    if (!full) {
        fprintf(stderr, "error: %s\n", tn_last_error());
        return -1;
    }
    size_t full_len = strlen(full);
    /* fed_len == 0 first: s->fed is NULL before the first turn (memcmp of NULL is undefined) */
    size_t from = s->fed_len == 0 || (s->fed_len <= full_len && memcmp(full, s->fed, s->fed_len) == 0)
                      ? s->fed_len
                      : s->prev_len;
    if (from > full_len) from = full_len;
    if (s->o->verbose) fprintf(stderr, "[prompt]%s[/prompt]\n", full + from);
    int rc = feed_text(s, full + from, full_len - from);
    s->fed_len = 0;
    if (rc == 0) rc = add_bytes(&s->fed, &s->fed_len, full, full_len);
    free(full);
    if (rc) return -1;

    /* generate */
    char *reply = NULL;
    size_t reply_len = 0;
    tn_detok_stream *st = tn_detok_stream_new(s->m, false, false);
    if (!st) return -1;
    for (long k = 0; s->o->n_predict < 0 || k < s->o->n_predict; k++) {
        int32_t tok = tn_sample(s->smp, s->ctx, -1);
        if (tok < 0) {
            fprintf(stderr, "\nerror: %s\n", tn_last_error());
            rc = -1;
            break;
        }
        if (tn_token_is_eog(s->m, tok)) break;
        tn_sampler_accept(s->smp, tok);
        size_t len;
        const char *out = tn_detok_stream_push(st, tok, &len);
        if (out && len && add_bytes(&reply, &reply_len, out, len)) rc = -1;
        if (out && len) {
            fwrite(out, 1, len, stdout);
            fflush(stdout);
        }
        if (rc) break;
        if (s->n_past + 1 >= s->n_ctx) {
            fprintf(stderr, "\n(context full: reply cut)\n");
            break;
        }
        tn_batch b = {.n_tokens = 1, .token = &tok};
        if (tn_decode(s->ctx, &b)) {
            fprintf(stderr, "\nerror: %s\n", tn_last_error());
            rc = -1;
            break;
        }
        s->n_past++;
    }
    size_t len;
    const char *out = tn_detok_stream_flush(st, &len);
    if (out && len) {
        fwrite(out, 1, len, stdout);
        if (add_bytes(&reply, &reply_len, out, len)) rc = -1;
    }
    printf("\n");
    fflush(stdout);
    tn_detok_stream_free(st);
    if (rc == 0 && reply) rc = add_bytes(&s->fed, &s->fed_len, reply, reply_len);
    if (rc == 0) rc = msg_add(&s->msgs, "assistant", reply ? reply : "");
    free(reply);
    if (rc == 0) {
        char *prev = tn_chat_format(s->fam, s->msgs.a, s->msgs.n, false);
        s->prev_len = prev ? strlen(prev) : 0;
        free(prev);
    }
    return rc;
}

/* Reads one line from stdin without its newline; NULL at end of input. */
static char *read_line(void) {
    char *line = NULL;
    size_t cap = 0;
    ssize_t n = getline(&line, &cap, stdin);
    if (n < 0) {
        free(line);
        return NULL;
    }
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        line[--n] = 0;
    return line;
}

int cmd_chat(int argc, char **argv) {
    chat_opts o = {.n_predict = -1, .n_batch = 512, .type_k = TN_TYPE_F16, .type_v = TN_TYPE_F16,
                   .sp = tn_sampler_default_params()};
    if (parse(argc, argv, &o)) return 1;
    if (!o.seed_set) o.sp.seed = (uint64_t)cli_now_ms() ^ 0x5eed;
    if (!o.model) o.model = cli_default_model();

    tn_model_params mp = tn_model_default_params();
    mp.n_gpu_layers = (int)o.ngl;
    chat_session s = {.o = &o};
    int rc = 1;
    if (!(s.m = tn_model_load(o.model, &mp))) {
        fprintf(stderr, "error: %s\n", tn_last_error());
        return 1;
    }
    if ((s.fam = pick_family(s.m, o.tmpl)) == TN_CHAT_UNKNOWN) goto done;
    tn_ctx_params cp = tn_ctx_default_params();
    cp.n_ctx = (int32_t)o.n_ctx;
    if (cp.n_ctx == 0) cp.n_ctx = tn_model_n_ctx_train(s.m) < 4096 ? tn_model_n_ctx_train(s.m) : 4096;
    cp.n_batch = (int32_t)o.n_batch;
    cp.n_threads = (int32_t)o.n_threads;
    cp.type_k = o.type_k;
    cp.type_v = o.type_v;
    if (!(s.ctx = tn_ctx_new(s.m, &cp)) || !(s.smp = tn_sampler_new(&o.sp, tn_model_n_vocab(s.m)))) {
        fprintf(stderr, "error: %s\n", tn_last_error());
        goto done;
    }
    s.n_ctx = tn_ctx_n_ctx(s.ctx);
    if (o.system && msg_add(&s.msgs, "system", o.system)) goto done;
    fprintf(stderr, "chat: %s, template %s%s\n", tn_model_name(s.m), tn_chat_family_name(s.fam),
            o.single ? "" : "; one message per line, end with Ctrl-D or /exit");

    bool tty = isatty(0);
    rc = 0;
    for (int n_turns = 0; rc == 0;) {
        char *line = NULL;
        if (n_turns == 0 && o.prompt) {
            line = strdup(o.prompt);
        } else {
            if (tty) {
                printf("> ");
                fflush(stdout);
            }
            line = read_line();
            if (!line) break;
            if (!strcmp(line, "/exit")) {
                free(line);
                break;
            }
            if (!*line) {
                free(line);
                continue;
            }
        }
        if (!line) {
            rc = 1;
            break;
        }
        rc = turn(&s, line) ? 1 : 0;
        free(line);
        n_turns++;
        if (o.single) break;
    }
done:
    for (size_t i = 0; i < s.msgs.n; i++)
        free((char *)s.msgs.a[i].content);
    free(s.msgs.a);
    free(s.fed);
    tn_sampler_free(s.smp);
    tn_ctx_free(s.ctx);
    tn_model_free(s.m);
    return rc;
}
