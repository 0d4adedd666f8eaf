/* Tests of the measurement tooling: synthetic models (src/synth), the per-op profiler
 * (src/runtime/profile.c) and `tern bench` output (JSON / JSONL / CSV / markdown, the sweep SVG).
 *
 * Independent references: file sizes of the random-weight GGUFs llama.cpp was measured on
 * (docs/ANCHORS.md: Llama-3-8B Q4_0 4.66 GB, Q4_K_M 4.92 GB, ...); the tensor types of
 * llama.cpp's own tiny-llama-Q4_K_M.gguf for the Q4_K_M mix rule; tensor byte counts read from the
 * GGUF for the profiler's bytes; the wall clock for its times; a small JSON parser written here. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "formats/gguf.h"
#include "formats/types.h"
#include "runtime/profile.h"
#include "synth/synth.h"
#include "tern.h"
#include "testutil.h"

#define TINY_Q8 "models/tiny-llama/tiny-llama-Q8_0.gguf"

/* ---- a small JSON parser (values kept as a tree) ---- */

typedef struct jv {
    char type; /* 'o' object, 'a' array, 's' string, 'n' number, 'b' bool, 'z' null */
    double num;
    char *str;
    struct jv *items; /* object values or array items */
    char **keys;      /* object keys */
    int n;
} jv;

static void jv_free(jv *v) {
    for (int i = 0; i < v->n; i++) {
        jv_free(&v->items[i]);
        if (v->keys) free(v->keys[i]);
    }
    free(v->items);
    free(v->keys);
    free(v->str);
}

static void ws(const char **p) {
    while (**p == ' ' || **p == '\n' || **p == '\t' || **p == '\r') (*p)++;
}

static int parse_value(const char **p, jv *v);

static int parse_string(const char **p, char **out) {
    if (**p != '"') return -1;
    (*p)++;
    size_t cap = 16, n = 0;
    char *s = malloc(cap);
    while (**p && **p != '"') {
        char c = **p;
        if ((unsigned char)c < 0x20) break;
        if (c == '\\') {
            (*p)++;
            c = **p;
            if (c == 'u') {
                for (int i = 1; i <= 4; i++)
                    if (!strchr("0123456789abcdefABCDEF", (*p)[i]) || !(*p)[i]) {
                        free(s);
                        return -1;
                    }
                *p += 4;
                c = '?';
            } else if (!strchr("\"\\/bfnrt", c) || !c) {
                free(s);
                return -1;
            }
        }
        if (n + 2 > cap) s = realloc(s, cap *= 2);
        s[n++] = c;
        (*p)++;
    }
    if (**p != '"') {
        free(s);
        return -1;
    }
    (*p)++;
    s[n] = 0;
    *out = s;
    return 0;
}

static int parse_value(const char **p, jv *v) {
    memset(v, 0, sizeof *v);
    ws(p);
    if (**p == '{' || **p == '[') {
        bool obj = **p == '{';
        v->type = obj ? 'o' : 'a';
        (*p)++;
        ws(p);
        if (**p == (obj ? '}' : ']')) {
            (*p)++;
            return 0;
        }
        for (;;) {
            v->items = realloc(v->items, sizeof(jv) * (size_t)(v->n + 1));
            if (obj) {
                v->keys = realloc(v->keys, sizeof(char *) * (size_t)(v->n + 1));
                ws(p);
                if (parse_string(p, &v->keys[v->n])) return -1;
                ws(p);
                if (**p != ':') {
                    free(v->keys[v->n]);
                    return -1;
                }
                (*p)++;
            }
            if (parse_value(p, &v->items[v->n])) {
                if (obj) free(v->keys[v->n]);
                jv_free(&v->items[v->n]);
                return -1;
            }
            v->n++;
            ws(p);
            if (**p == ',') {
                (*p)++;
                continue;
            }
            if (**p == (obj ? '}' : ']')) {
                (*p)++;
                return 0;
            }
            return -1;
        }
    }
    if (**p == '"') {
        v->type = 's';
        return parse_string(p, &v->str);
    }
    if (!strncmp(*p, "true", 4) || !strncmp(*p, "false", 5)) {
        v->type = 'b';
        v->num = **p == 't';
        *p += **p == 't' ? 4 : 5;
        return 0;
    }
    if (!strncmp(*p, "null", 4)) {
        v->type = 'z';
        *p += 4;
        return 0;
    }
    char *end;
    v->num = strtod(*p, &end);
    if (end == *p || **p == '+' || **p == '.') return -1;
    v->type = 'n';
    *p = end;
    return 0;
}

/* Parses a whole document; false if it is not valid JSON (trailing garbage included). */
static bool json_parse(const char *text, jv *out) {
    const char *p = text;
    if (parse_value(&p, out)) {
        jv_free(out);
        memset(out, 0, sizeof *out);
        return false;
    }
    ws(&p);
    if (*p) {
        jv_free(out);
        memset(out, 0, sizeof *out);
        return false;
    }
    return true;
}

static const jv *jget(const jv *o, const char *key) {
    if (!o || o->type != 'o') return NULL;
    for (int i = 0; i < o->n; i++)
        if (!strcmp(o->keys[i], key)) return &o->items[i];
    return NULL;
}

static double jnum(const jv *o, const char *key) {
    const jv *v = jget(o, key);
    return v && (v->type == 'n' || v->type == 'b') ? v->num : NAN;
}

/* ---- helpers ---- */

static char *run_tern(const char *args, int *status) {
    size_t cap = 1 << 20;
    char *out = malloc(cap), cmd[2048];
    snprintf(cmd, sizeof cmd, "%s %s", tt_tern_bin(), args);
    *status = tt_run(cmd, out, cap);
    return out;
}

/* stdout only: the command's stderr goes to /dev/null (inside a group, so tt_run's 2>&1 does not
 * bring it back) */
static char *run_tern_stdout(const char *args, int *status) {
    size_t cap = 1 << 20;
    char *out = malloc(cap), cmd[2048];
    snprintf(cmd, sizeof cmd, "{ %s %s 2>/dev/null; }", tt_tern_bin(), args);
    *status = tt_run(cmd, out, cap);
    return out;
}

static char *tmp_path(const char *suffix) {
    static int k;
    char *p = malloc(256);
    snprintf(p, 256, "/tmp/tern-test-bench-%d-%d%s", (int)getpid(), k++, suffix);
    return p;
}

/* ---- synthetic models ---- */

static void check_synth_sizes(void) {
    /* docs/ANCHORS.md: sizes of the GGUFs llama.cpp was benchmarked on (GB, 2-3 digits) */
    const struct { const char *shape, *type; double gb; } ref[] = {
        {"llama2-7b", "q4_0", 3.83},   {"llama3-8b", "q4_0", 4.66},  {"llama3-8b", "Q4_K_M", 4.92},
        {"llama3-8b", "q8_0", 8.54},   {"llama3-8b", "f16", 16.06},  {"qwen3-0.6b", "q4_0", 0.47},
        {"qwen3-0.6b", "q8_0", 0.80},  {"qwen3-0.6b", "f16", 1.51},
    };
    for (size_t i = 0; i < sizeof ref / sizeof ref[0]; i++) {
        tn_synth_params p = tn_synth_default_params();
        p.shape = tn_synth_shape_find(ref[i].shape);
        CHECK(p.shape && tn_synth_wtype_parse(ref[i].type, &p.wtype) == 0, "%s %s", ref[i].shape,
              ref[i].type);
        if (!p.shape) continue;
        double gb = (double)tn_synth_data_bytes(&p) / 1e9;
        /* Tensor data only: the reference files also hold their tokenizer (up to ~10 MB for a
         * 150k-token BPE vocabulary with merges); plus rounding of the printed digits. */
        double tol = 0.006 + 0.002 * ref[i].gb;
        CHECK(gb <= ref[i].gb + tol && gb >= ref[i].gb - tol - 0.010, "%s %s: %.4f GB vs %.2f GB",
              ref[i].shape, ref[i].type, gb, ref[i].gb);
    }
    tn_synth_wtype wt;
    CHECK(tn_synth_wtype_parse("q9_9", &wt) < 0, "unknown type accepted");
    CHECK(tn_synth_shape_find("llama9-1t") == NULL, "unknown shape accepted");
}

/* Q4_K_M mix vs llama.cpp's own tiny-llama-Q4_K_M.gguf (6 layers): same type for every tensor. */
static void check_mix_rule(void) {
    tn_gguf *g = tn_gguf_open("models/tiny-llama/tiny-llama-Q4_K_M.gguf");
    CHECK(g != NULL, "open: %s", tn_last_error());
    if (!g) return;
    tn_synth_wtype wt;
    CHECK(tn_synth_wtype_parse("Q4_K_M", &wt) == 0 && wt.ftype == 15, "Q4_K_M ftype");
    int n_checked = 0;
    for (int64_t i = 0; i < tn_gguf_n_tensors(g); i++) {
        const tn_gguf_tensor *t = tn_gguf_tensor_at(g, i);
        if (t->n_dims != 2) continue;
        int layer = -1;
        if (!strncmp(t->name, "blk.", 4)) layer = atoi(t->name + 4);
        int want = tn_synth_tensor_type(&wt, t->name, layer, 6, t->ne[0], false, false);
        CHECK(want == t->type, "%s: rule says %s, llama.cpp wrote %s", t->name, tn_type_name(want),
              tn_type_name(t->type));
        n_checked++;
    }
    CHECK(n_checked == 2 + 6 * 7, "checked %d tensors", n_checked);
    tn_gguf_close(g);
}

static void check_synth_file(void) {
    tn_synth_params p = tn_synth_default_params();
    p.shape = tn_synth_shape_find("tiny");
    CHECK(tn_synth_wtype_parse("Q4_K_M", &p.wtype) == 0, "parse");
    char *path = tmp_path(".gguf");
    CHECK(tn_synth_write(&p, path) == 0, "write: %s", tn_last_error());
    tn_gguf *g = tn_gguf_open(path);
    CHECK(g != NULL, "open: %s", tn_last_error());
    if (g) {
        const struct { const char *name; int64_t ne0, ne1; int type; } want[] = {
            {"token_embd.weight", 256, 512, TN_TYPE_Q4_K}, {"output.weight", 256, 512, TN_TYPE_Q6_K},
            {"output_norm.weight", 256, 1, TN_TYPE_F32},  {"blk.0.attn_q.weight", 256, 256, TN_TYPE_Q4_K},
            {"blk.0.attn_k.weight", 256, 128, TN_TYPE_Q4_K}, {"blk.0.attn_v.weight", 256, 128, TN_TYPE_Q4_K},
            {"blk.1.attn_v.weight", 256, 128, TN_TYPE_Q6_K}, {"blk.0.ffn_down.weight", 512, 256, TN_TYPE_Q4_K},
            {"blk.1.ffn_down.weight", 512, 256, TN_TYPE_Q6_K}, {"blk.1.ffn_gate.weight", 256, 512, TN_TYPE_Q4_K},
            {"blk.1.attn_output.weight", 256, 256, TN_TYPE_Q4_K}, {"blk.1.ffn_norm.weight", 256, 1, TN_TYPE_F32},
        };
        for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
            const tn_gguf_tensor *t = tn_gguf_find_tensor(g, want[i].name);
            CHECK(t && t->ne[0] == want[i].ne0 && t->ne[1] == want[i].ne1 && t->type == want[i].type,
                  "%s: %s [%lld, %lld]", want[i].name, t ? tn_type_name(t->type) : "missing",
                  t ? (long long)t->ne[0] : 0, t ? (long long)t->ne[1] : 0);
        }
        CHECK(tn_gguf_n_tensors(g) == 3 + 2 * 9, "%lld tensors", (long long)tn_gguf_n_tensors(g));
        uint32_t u = 0;
        CHECK(tn_gguf_get_u32(g, "llama.block_count", &u) == 0 && u == 2, "block_count %u", u);
        CHECK(tn_gguf_get_u32(g, "llama.attention.head_count_kv", &u) == 0 && u == 2, "kv heads %u", u);
        CHECK(tn_gguf_get_u32(g, "general.file_type", &u) == 0 && u == 15, "file_type %u", u);
        const tn_gguf_tensor *norm = tn_gguf_find_tensor(g, "blk.0.attn_norm.weight");
        float one = 0;
        if (norm) memcpy(&one, norm->data, 4);
        CHECK(one == 1.0f, "norm weight %g", one);
        uint64_t data = 0;
        for (int64_t i = 0; i < tn_gguf_n_tensors(g); i++) data += (tn_gguf_tensor_at(g, i)->nbytes + 31) / 32 * 32;
        CHECK(data == tn_synth_data_bytes(&p), "data %llu vs %llu", (unsigned long long)data,
              (unsigned long long)tn_synth_data_bytes(&p));
        tn_gguf_close(g);
    }
    tn_model *m = tn_model_load(path, NULL);
    CHECK(m != NULL, "tn_model_load: %s", tn_last_error());
    if (m) {
        CHECK(tn_model_n_vocab(m) == 512 && tn_model_n_layer(m) == 2 && tn_model_n_embd(m) == 256,
              "hparams %d %d %d", tn_model_n_vocab(m), tn_model_n_layer(m), tn_model_n_embd(m));
        CHECK(!strcmp(tn_model_ftype(m), "Q4_K_M"), "ftype %s", tn_model_ftype(m));
        tn_ctx_params cp = tn_ctx_default_params();
        cp.n_ctx = 32;
        cp.n_threads = 2;
        tn_ctx *c = tn_ctx_new(m, &cp);
        int32_t toks[5] = {1, 300, 301, 302, 303};
        tn_batch b = {.n_tokens = 5, .token = toks};
        CHECK(c && tn_decode(c, &b) == 0, "decode: %s", tn_last_error());
        const float *l = c ? tn_get_logits(c, -1) : NULL;
        bool finite = l != NULL;
        for (int i = 0; l && i < 512; i++) finite = finite && isfinite(l[i]);
        CHECK(finite, "logits are finite");
        tn_ctx_free(c);
        tn_model_free(m);
    }
    unlink(path);
    free(path);
}

/* Values: the same seed gives the same numbers whatever the type and thread count, Gaussian with
 * the requested std; a quantized file holds the quantized values of the f32 one. */
static void check_synth_values(void) {
    const char *types[] = {"f32", "q8_0", "q8_0"};
    int threads[] = {2, 1, 2};
    char *paths[3];
    tn_gguf *g[3];
    for (int k = 0; k < 3; k++) {
        tn_synth_params p = tn_synth_default_params();
        p.shape = tn_synth_shape_find("tiny-qwen3");
        tn_synth_wtype_parse(types[k], &p.wtype);
        p.n_threads = threads[k];
        paths[k] = tmp_path(".gguf");
        CHECK(tn_synth_write(&p, paths[k]) == 0, "write %s: %s", types[k], tn_last_error());
        g[k] = tn_gguf_open(paths[k]);
        CHECK(g[k] != NULL, "open %s", tn_last_error());
    }
    if (g[0] && g[1] && g[2]) {
        const tn_gguf_tensor *q = tn_gguf_find_tensor(g[0], "blk.1.attn_q.weight");
        CHECK(q && q->ne[0] == 256 && q->ne[1] == 512, "qwen3 attn_q shape");
        CHECK(tn_gguf_find_tensor(g[0], "blk.0.attn_k_norm.weight") != NULL, "q/k norms present");
        const tn_gguf_tensor *a = tn_gguf_find_tensor(g[0], "blk.1.ffn_up.weight");
        const tn_gguf_tensor *b = tn_gguf_find_tensor(g[1], "blk.1.ffn_up.weight");
        const tn_gguf_tensor *c = tn_gguf_find_tensor(g[2], "blk.1.ffn_up.weight");
        if (a && b && c) {
            int64_t n = a->ne[0] * a->ne[1];
            const float *x = a->data;
            double s = 0, ss = 0, max_err = 0;
            for (int64_t i = 0; i < n; i++) {
                s += x[i];
                ss += (double)x[i] * x[i];
            }
            double mean = s / n, sd = sqrt(ss / n - mean * mean);
            /* n = 131072: std error of the mean 5.5e-5, of the std 3.9e-5 */
            CHECK_NEAR(mean, 0.0, 3e-4, "mean of the weights");
            CHECK_NEAR(sd, 0.02, 3e-4, "std of the weights");
            float *deq = malloc(sizeof(float) * (size_t)n);
            tn_dequantize_row(TN_TYPE_Q8_0, b->data, deq, n);
            for (int64_t i = 0; i < n; i++)
                if (fabs(deq[i] - x[i]) > max_err) max_err = fabs(deq[i] - x[i]);
            /* Q8_0: half a step of amax/127; |x| < 4.3 sigma = 0.086 in a 16-bit table */
            CHECK(max_err <= 0.5 * 0.0862 / 127 + 1e-6, "q8_0 vs f32 max err %g", max_err);
            CHECK(b->nbytes == c->nbytes && memcmp(b->data, c->data, b->nbytes) == 0,
                  "1 and 2 threads give identical bytes");
            free(deq);
        }
    }
    for (int k = 0; k < 3; k++) {
        tn_gguf_close(g[k]);
        unlink(paths[k]);
        free(paths[k]);
    }
}

/* ---- profiler ---- */

static void check_profile(void) {
    tn_model *m = tn_model_load(TINY_Q8, NULL);
    tn_gguf *g = tn_gguf_open(TINY_Q8);
    CHECK(m && g, "load: %s", tn_last_error());
    if (!m || !g) goto out;
    /* independent: bytes of the 2-D weights a decode step multiplies with (all but the table) */
    uint64_t mat_bytes = 0, norm_bytes = 0, emb_row = 0;
    for (int64_t i = 0; i < tn_gguf_n_tensors(g); i++) {
        const tn_gguf_tensor *t = tn_gguf_tensor_at(g, i);
        if (!strcmp(t->name, "token_embd.weight")) emb_row = t->nbytes / (uint64_t)t->ne[1];
        else if (t->n_dims == 2) mat_bytes += t->nbytes;
        else norm_bytes += t->nbytes;
    }
    CHECK(tn_model_decode_weight_bytes(m) == mat_bytes + norm_bytes + emb_row, "decode bytes %llu vs %llu",
          (unsigned long long)tn_model_decode_weight_bytes(m),
          (unsigned long long)(mat_bytes + norm_bytes + emb_row));
    /* 6 layers x (K + V) x 4 heads x 32 dims x 2 bytes (f16) */
    CHECK(tn_model_kv_bytes_per_cell(m, TN_TYPE_F16, TN_TYPE_F16) == 6 * 2 * 128 * 2, "kv/cell %llu",
          (unsigned long long)tn_model_kv_bytes_per_cell(m, TN_TYPE_F16, TN_TYPE_F16));

    tn_ctx_params cp = tn_ctx_default_params();
    cp.n_ctx = 64;
    cp.n_threads = 2;
    tn_ctx *plain = tn_ctx_new(m, &cp), *c = tn_ctx_new(m, &cp);
    tn_profile *p = c ? tn_profile_attach(c) : NULL;
    CHECK(plain && c && p, "ctx/profile: %s", tn_last_error());
    if (!plain || !p) goto free_ctx;
    CHECK(tn_profile_attach(c) == p, "attaching twice gives the same profiler");
    int32_t prompt[8] = {1, 50, 60, 70, 80, 90, 100, 110};
    tn_batch b = {.n_tokens = 8, .token = prompt};
    CHECK(tn_decode(c, &b) == 0 && tn_decode(plain, &b) == 0, "prompt");
    CHECK(tn_profile_n_steps(p) == 0, "paused profiler recorded %llu steps",
          (unsigned long long)tn_profile_n_steps(p));
    const int n_gen = 4;
    double wall = 0, max_diff = 0;
    for (int i = 0; i < n_gen; i++) {
        int32_t tok = 200 + i;
        tn_batch one = {.n_tokens = 1, .token = &tok};
        tn_profile_resume(p);
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        CHECK(tn_decode(c, &one) == 0, "decode");
        clock_gettime(CLOCK_MONOTONIC, &t1);
        tn_profile_pause(p);
        wall += (t1.tv_sec - t0.tv_sec) * 1e9 + (t1.tv_nsec - t0.tv_nsec);
        CHECK(tn_decode(plain, &one) == 0, "decode plain");
        const float *a = tn_get_logits(c, -1), *bl = tn_get_logits(plain, -1);
        for (int v = 0; a && bl && v < 1024; v++)
            if (fabs(a[v] - bl[v]) > max_diff) max_diff = fabs(a[v] - bl[v]);
    }
    CHECK(max_diff == 0, "profiled logits differ from unprofiled ones by %g", max_diff);
    CHECK(tn_profile_n_steps(p) == (uint64_t)n_gen && tn_profile_n_tokens(p) == (uint64_t)n_gen,
          "steps %llu tokens %llu", (unsigned long long)tn_profile_n_steps(p),
          (unsigned long long)tn_profile_n_tokens(p));
    tn_profile_row all = tn_profile_total(p, NULL), mm = tn_profile_total(p, "matmul");
    tn_profile_row att = tn_profile_total(p, "attention");
    CHECK(all.ns > 0 && all.ns <= tn_profile_step_ns(p) && tn_profile_step_ns(p) <= wall,
          "op time %.0f <= step time %.0f <= wall %.0f ns", all.ns, tn_profile_step_ns(p), wall);
    CHECK(mm.calls == (uint64_t)n_gen * (6 * 7 + 1), "matmul calls %llu", (unsigned long long)mm.calls);
    CHECK(mm.state_bytes == (double)mat_bytes * n_gen, "matmul bytes per step %.0f vs weights %llu",
          mm.state_bytes / n_gen, (unsigned long long)mat_bytes);
    /* step i attends to 8 + i + 1 cells; 6 layers x (K + V) x 128 dims x 2 bytes each */
    double kv = 0;
    for (int i = 0; i < n_gen; i++) kv += (8 + i + 1) * 6.0 * 2 * 128 * 2;
    CHECK(att.state_bytes == kv, "attention KV bytes %.0f vs %.0f", att.state_bytes, kv);
    /* 2 flops per multiply-add: decode step matmul flops = 2 x weight elements (Q8_0: 34 B / 32) */
    CHECK_NEAR(mm.flops / n_gen, 2.0 * mat_bytes / 34 * 32, 1, "matmul flops per step");
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    tn_profile_json(p, f, 40, 0);
    fclose(f);
    jv doc;
    CHECK(json_parse(buf, &doc), "profile JSON parses: %.200s", buf);
    if (doc.type == 'o') {
        CHECK(jnum(&doc, "n_steps") == n_gen, "json n_steps");
        const jv *rows = jget(&doc, "rows");
        CHECK(rows && rows->type == 'a' && rows->n == tn_profile_n_rows(p), "json rows");
        double sum = 0;
        for (int i = 0; rows && i < rows->n; i++) sum += jnum(&rows->items[i], "ns");
        CHECK(fabs(sum - all.ns) <= rows->n * 1.0, "json ns sum %.0f vs %.0f", sum, all.ns);
        jv_free(&doc);
    }
    free(buf);
    tn_profile_reset(p);
    CHECK(tn_profile_n_steps(p) == 0 && tn_profile_n_rows(p) == 0, "reset");
free_ctx:
    tn_ctx_free(c);
    tn_ctx_free(plain);
out:
    tn_gguf_close(g);
    tn_model_free(m);
}

/* ---- tern bench output ---- */

static const char *const fields[] = {"build_commit", "cpu_info", "backends", "model_filename",
                                     "model_type", "model_size", "model_n_params", "n_batch",
                                     "n_ubatch", "n_threads", "type_k", "type_v", "n_gpu_layers",
                                     "n_prompt", "n_gen", "n_depth", "test_time", "avg_ns",
                                     "stddev_ns", "avg_ts", "stddev_ts", "samples_ns", "samples_ts"};

static void check_record(const jv *r, int want_prompt, int want_gen) {
    for (size_t k = 0; k < sizeof fields / sizeof fields[0]; k++)
        CHECK(jget(r, fields[k]) != NULL, "field %s missing", fields[k]);
    CHECK(jnum(r, "n_prompt") == want_prompt && jnum(r, "n_gen") == want_gen, "test %g/%g",
          jnum(r, "n_prompt"), jnum(r, "n_gen"));
    const jv *ns = jget(r, "samples_ns"), *ts = jget(r, "samples_ts");
    CHECK(ns && ts && ns->n == 2 && ts->n == 2, "2 samples");
    if (!ns || !ts || ns->n != 2 || ts->n != 2) return;
    double mean = 0, tokens = want_prompt + want_gen;
    for (int i = 0; i < 2; i++) {
        CHECK_NEAR(ts->items[i].num, tokens / (ns->items[i].num / 1e9), 1e-3 * ts->items[i].num, "ts = n / t");
        mean += ts->items[i].num / 2;
    }
    CHECK_NEAR(jnum(r, "avg_ts"), mean, 1e-6 * mean + 1e-6, "avg_ts is the mean of samples_ts");
    double sd = fabs(ts->items[0].num - ts->items[1].num) / sqrt(2.0);
    CHECK_NEAR(jnum(r, "stddev_ts"), sd, 1e-6 * mean + 1e-6, "stddev_ts (sample)");
    CHECK(jnum(r, "model_size") == 4330496 && jnum(r, "model_n_params") == 4066560, "model size/params");
    if (want_gen && !want_prompt) { /* GB/s = bytes per token x tokens/s */
        CHECK_NEAR(jnum(r, "gbps"), jnum(r, "bytes_per_token") * jnum(r, "avg_ts") / 1e9,
                   1e-3 * jnum(r, "gbps"), "gbps");
        CHECK_NEAR(jnum(r, "bw_pct"), 100 * jnum(r, "gbps") / 50, 1e-2, "bw_pct vs --bw 50");
    }
}

static void check_cli_formats(void) {
    int st;
    char *out = run_tern_stdout("bench -m " TINY_Q8 " -p 16 -n 4 -r 2 -t 1 --bw 50 -o json", &st);
    jv doc;
    CHECK(st == 0, "bench -o json exit %d: %.300s", st, out);
    CHECK(json_parse(out, &doc), "JSON parses: %.300s", out);
    CHECK(doc.type == 'a' && doc.n == 2, "2 records");
    if (doc.type == 'a' && doc.n == 2) {
        check_record(&doc.items[0], 16, 0);
        check_record(&doc.items[1], 0, 4);
        const jv *t = jget(&doc.items[1], "test");
        CHECK(t && t->str && !strcmp(t->str, "tg4"), "test name");
    }
    jv_free(&doc);
    free(out);

    out = run_tern_stdout("bench -m " TINY_Q8 " -p 8 -n 2 -d 0,8 -r 2 -t 1 --bw 50 -o jsonl", &st);
    int lines = 0;
    CHECK(st == 0, "jsonl exit %d", st);
    for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n"), lines++) {
        CHECK(json_parse(line, &doc) && doc.type == 'o', "JSONL line %d parses", lines);
        if (lines >= 2) CHECK(jnum(&doc, "n_depth") == 8, "depth of record %d", lines);
        jv_free(&doc);
    }
    CHECK(lines == 4, "4 JSONL records, got %d", lines);
    free(out);

    out = run_tern_stdout("bench -m " TINY_Q8 " -p 8 -n 2 -r 2 -t 1 --bw 50 -o csv", &st);
    CHECK(st == 0, "csv exit %d", st);
    char *save = NULL, *header = strtok_r(out, "\n", &save);
    CHECK(header && !strncmp(header, "build_commit,build_number,cpu_info,", 35), "CSV header: %s", header ? header : "(none)");
    int n_cols = 1;
    for (char *c = header; c && *c; c++) n_cols += *c == ',';
    int rows = 0;
    for (char *line; (line = strtok_r(NULL, "\n", &save)); rows++) {
        int cols = 1;
        bool q = false;
        for (char *c = line; *c; c++) {
            if (*c == '"') q = !q;
            else if (*c == ',' && !q) cols++;
        }
        CHECK(cols == n_cols, "CSV row %d has %d columns, header %d", rows, cols, n_cols);
    }
    CHECK(rows == 2, "CSV rows %d", rows);
    free(out);

    out = run_tern_stdout("bench -m " TINY_Q8 " -p 8 -n 2 -d 8 -r 1 -t 1 --bw 50", &st);
    CHECK(st == 0 && strstr(out, "| model") && strstr(out, "t/s") && strstr(out, "GB/s") &&
              strstr(out, "pp8 @ d8") && strstr(out, "tg2 @ d8") && strstr(out, "llama 4.1M Q8_0"),
          "markdown table: %.600s", out);
    free(out);

    out = run_tern_stdout("bench --synthetic tiny -w q8_0 -p 8 -n 2 -r 1 -t 1 --bw 50 -o json", &st);
    CHECK(st == 0 && json_parse(out, &doc) && doc.n == 2, "synthetic bench: %.300s", out);
    const jv *mt = doc.n ? jget(&doc.items[0], "model_type") : NULL;
    CHECK(mt && mt->str && !strcmp(mt->str, "llama 1.4M Q8_0"), "synthetic model_type %s",
          mt && mt->str ? mt->str : "?");
    jv_free(&doc);
    free(out);

    char *path = tmp_path(".gguf"), args[512];
    snprintf(args, sizeof args, "bench --synthetic tiny-qwen3 -w bf16 --write %s", path);
    out = run_tern(args, &st);
    tn_model *m = tn_model_load(path, NULL);
    CHECK(st == 0 && m && !strcmp(tn_model_arch(m), "qwen3"), "--write: %s %s", out, tn_last_error());
    tn_model_free(m);
    unlink(path);
    free(path);
    free(out);

    out = run_tern_stdout("bench -m " TINY_Q8 " -p 8 -n 2 -r 1 -t 1 --bw 50 --profile -o json", &st);
    CHECK(st == 0, "profile json exit %d", st);
    char *json = strchr(out, '[');
    CHECK(json && json_parse(json, &doc) && doc.n == 2, "profile json parses");
    const jv *pr = doc.n == 2 ? jget(&doc.items[1], "profile") : NULL;
    CHECK(pr && jnum(pr, "n_steps") == 2, "tg2 profile has 2 steps (1 repetition)");
    jv_free(&doc);
    free(out);
}

/* ---- sweep SVG ---- */

/* Attribute `name` of the element starting at `el` (before its closing '>'); NAN if absent. */
static double attr_num(const char *el, const char *name) {
    char pat[64];
    snprintf(pat, sizeof pat, " %s=\"", name);
    const char *end = strchr(el, '>'), *p = strstr(el, pat);
    if (!p || (end && p > end)) return NAN;
    return strtod(p + strlen(pat), NULL);
}

static bool attr_str(const char *el, const char *name, char *buf, size_t size) {
    char pat[64];
    snprintf(pat, sizeof pat, " %s=\"", name);
    const char *end = strchr(el, '>'), *p = strstr(el, pat);
    if (!p || (end && p > end)) return false;
    p += strlen(pat);
    size_t n = strcspn(p, "\"");
    snprintf(buf, size, "%.*s", (int)(n < size ? n : size - 1), p);
    return true;
}

static int count(const char *from, const char *to, const char *what) {
    int n = 0;
    for (const char *p = strstr(from, what); p && p < to; p = strstr(p + 1, what)) n++;
    return n;
}

static void check_sweep_svg(void) {
    char *svg_path = tmp_path(".svg"), args[512];
    snprintf(args, sizeof args,
             "bench -m " TINY_Q8 " -t 1,2 -ub 4,8 -p 16 -n 2 -r 1 --bw 50 --sweep --svg %s -o json",
             svg_path);
    int st;
    char *out = run_tern_stdout(args, &st);
    jv doc;
    bool parsed = json_parse(out, &doc);
    CHECK(st == 0 && parsed && doc.n == 8, "sweep JSON: status %d, parsed %d, %d records: %.300s", st, parsed, doc.n, out);
    char *svg = tn_test_read_file(svg_path, NULL);
    CHECK(svg && !strncmp(svg, "<svg", 4) && strstr(svg, "</svg>"), "SVG file");
    if (!svg || doc.n != 8) goto done;
    int n_panels = 0, n_points = 0;
    for (const char *pan = strstr(svg, "<g class=\"panel\""); pan; pan = strstr(pan + 1, "<g class=\"panel\"")) {
        const char *end = strstr(pan, "<!--/panel-->");
        char setting[32] = "", test[32] = "";
        attr_str(pan, "data-setting", setting, sizeof setting);
        attr_str(pan, "data-test", test, sizeof test);
        n_panels++;
        CHECK(count(pan, end, "class=\"axis-x\"") == 1 && count(pan, end, "class=\"axis-y\"") == 1,
              "panel %s/%s axes", setting, test);
        CHECK(count(pan, end, "class=\"xtick\"") == 2, "panel %s/%s: 2 x ticks", setting, test);
        /* the y scale from the first and last tick lines */
        const char *t0 = strstr(pan, "class=\"ytick\""), *tl = t0;
        for (const char *t = t0; t && t < end; t = strstr(t + 1, "class=\"ytick\"")) tl = t;
        double v0 = attr_num(t0, "data-value"), v1 = attr_num(tl, "data-value");
        double y0 = attr_num(strstr(t0, "<line"), "y1"), y1 = attr_num(strstr(tl, "<line"), "y1");
        CHECK(count(pan, end, "class=\"ytick\"") >= 2 && v0 == 0 && v1 > v0 && y1 < y0,
              "panel %s/%s y ticks", setting, test);
        CHECK(count(pan, end, "<polyline") == 2, "panel %s/%s: one series per other setting value (2), got %d",
              setting, test, count(pan, end, "<polyline"));
        for (const char *c = strstr(pan, "<circle"); c && c < end; c = strstr(c + 1, "<circle")) {
            int idx = (int)attr_num(c, "data-result");
            CHECK(idx >= 0 && idx < doc.n, "point result index %d", idx);
            if (idx < 0 || idx >= doc.n) continue;
            const jv *r = &doc.items[idx];
            double ts = jnum(r, "avg_ts"), y = attr_num(c, "data-y"), cy = attr_num(c, "cy");
            CHECK_NEAR(y, ts, 1e-6 * ts + 1e-6, "point value vs JSON avg_ts");
            double from_pixels = v0 + (cy - y0) / (y1 - y0) * (v1 - v0);
            CHECK_NEAR(from_pixels, ts, 0.01 * v1, "point height vs its value on the axis");
            CHECK(attr_num(c, "data-x") == jnum(r, setting), "point x %g vs %s %g",
                  attr_num(c, "data-x"), setting, jnum(r, setting));
            const jv *tn = jget(r, "test");
            CHECK(tn && tn->str && !strcmp(tn->str, test), "point test %s in panel %s", tn ? tn->str : "?", test);
            char pt[64];
            snprintf(pt, sizeof pt, "%.2f,%.2f", attr_num(c, "cx"), cy);
            const char *poly = NULL;
            for (const char *q = strstr(pan, "<polyline"); q && q < c; q = strstr(q + 1, "<polyline")) poly = q;
            CHECK(poly && strstr(poly, pt) && strstr(poly, pt) < strchr(poly, '>'),
                  "point %s lies on its polyline", pt);
            n_points++;
        }
    }
    CHECK(n_panels == 4, "panels: 2 settings x 2 tests, got %d", n_panels);
    CHECK(n_points == 16, "points: 4 panels x 2 series x 2 values, got %d", n_points);
done:
    jv_free(&doc);
    free(svg);
    free(out);
    unlink(svg_path);
    free(svg_path);
}

int main(void) {
    check_synth_sizes();
    check_mix_rule();
    check_synth_file();
    check_synth_values();
    check_profile();
    check_cli_formats();
    check_sweep_svg();
    return tn_test_done("test_bench");
}
