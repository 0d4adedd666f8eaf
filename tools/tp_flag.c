/* `-tp N` of tern run / tern bench: until the multi-GPU forward pass exists, N > 1 prints the
 * tensor-parallel plan (src/tp) of the model -- per rank: heads, FFN columns, vocabulary rows,
 * weight bytes, KV bytes per token -- and then refuses with a clear error, so nobody mistakes a
 * single-GPU run for a tensor-parallel one. Works on a GGUF file or on a synthetic shape (the
 * tensor list is generated from the shape, no file is written). */
#include "tp_flag.h"

#include <stdio.h>

#include <stdlib.h>
#include <string.h>

#include "formats/gguf.h"
#include "formats/types.h"
#include "kv/kv.h"
#include "synth/synth.h"
#include "tp/tp_plan.h"

/* One tensor as the plan sees it (a GGUF's or a synthetic model's). */
typedef struct tp_tensor {
    char name[96];
    int type, n_dims;
    int64_t ne[4];
} tp_tensor;

static const char *human(double b, char *buf, size_t cap) {
    const char *u[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int i = 0;
    while (b >= 1024 && i < 4) b /= 1024, i++;
    snprintf(buf, cap, i ? "%.2f %s" : "%.0f %s", b, u[i]);
    return buf;
}

static int64_t lcm_ffn_down(const tp_tensor *t, int n) {
    int64_t a = 1;
    for (int i = 0; i < n; i++) {
        if (!strstr(t[i].name, ".ffn_down.weight")) continue;
        int64_t bs = tn_type_get(t[i].type)->block_size, x = a, y = bs;
        while (y) { int64_t r = x % y; x = y; y = r; }
        a = a / x * bs;
    }
    return a;
}

/* Builds and prints the plan; always returns 1 (the exit status: nothing was run). */
static int report(const char *what, const tn_tp_hparams *hp, const tp_tensor *t, int n_t, int n,
                  int type_k, int type_v) {
    tn_tp_plan p;
    int rc = tn_tp_plan_init(&p, hp, n, lcm_ffn_down(t, n_t));
    size_t wbytes[TN_TP_MAX_RANKS] = {0};
    for (int i = 0; i < n_t && !rc; i++)
        for (int r = 0; r < n && !rc; r++) {
            tn_tp_slice s;
            rc = tn_tp_tensor_slice(&p, r, t[i].name, t[i].type, t[i].n_dims, t[i].ne, &s);
            wbytes[r] += s.nbytes;
        }
    if (rc) {
        fprintf(stderr, "error: %s: %s\n", what, tn_last_error());
        return 1;
    }
    char b1[32], b2[32];
    printf("tensor-parallel plan for %s over %d GPUs\n", what, n);
    printf("  %lld layers, %lld query / %lld KV heads of %lld, FFN %lld (cut in blocks of %lld), "
           "vocabulary %lld, embedding %lld\n",
           (long long)hp->n_layer, (long long)hp->n_head, (long long)hp->n_head_kv,
           (long long)hp->head_dim, (long long)hp->n_ff, (long long)p.ff_align,
           (long long)hp->n_vocab, (long long)hp->n_embd);
    printf("  %-5s %-12s %-12s %-16s %-18s %12s %16s\n", "rank", "q heads", "kv heads",
           "FFN columns", "vocab rows", "weights", "KV/token");
    for (int r = 0; r < n; r++) {
        const tn_tp_rank *k = &p.rank[r];
        char q[32], kv[32], ff[32], vo[32];
        snprintf(q, sizeof q, "%lld-%lld", (long long)k->q_heads.begin, (long long)k->q_heads.end - 1);
        snprintf(kv, sizeof kv, "%lld-%lld", (long long)k->kv_heads.begin, (long long)k->kv_heads.end - 1);
        snprintf(ff, sizeof ff, "%lld-%lld", (long long)k->ff.begin, (long long)k->ff.end - 1);
        snprintf(vo, sizeof vo, "%lld-%lld", (long long)k->vocab.begin, (long long)k->vocab.end - 1);
        printf("  %-5d %-12s %-12s %-16s %-18s %12s %16s\n", r, q, kv, ff, vo,
               human((double)wbytes[r], b1, sizeof b1),
               human((double)tn_tp_kv_bytes_per_token(&p, r, type_k, type_v), b2, sizeof b2));
    }
    printf("  KV cache types %s/%s; one all-reduce of %lld floats per token after attn_output and "
           "after ffn_down in every layer\n",
           tn_kv_type_name(type_k), tn_kv_type_name(type_v), (long long)hp->n_embd);
    fprintf(stderr, "error: tensor parallelism: the multi-GPU forward pass is not implemented yet "
                    "(the plan above is what -tp %d would load; see docs/tensor-parallel.md)\n", n);
    return 1;
}

int tp_refuse_model(const char *path, int n, int type_k, int type_v) {
    tn_gguf *g = tn_gguf_open(path);
    tn_tp_hparams hp;
    if (!g || tn_tp_hparams_from_gguf(g, &hp)) {
        fprintf(stderr, "error: %s\n", tn_last_error());
        tn_gguf_close(g);
        return 1;
    }
    int n_t = (int)tn_gguf_n_tensors(g);
    tp_tensor *t = calloc((size_t)(n_t ? n_t : 1), sizeof *t);
    if (!t) {
        tn_gguf_close(g);
        fprintf(stderr, "error: out of memory\n");
        return 1;
    }
    for (int i = 0; i < n_t; i++) {
        const tn_gguf_tensor *gt = tn_gguf_tensor_at(g, i);
        snprintf(t[i].name, sizeof t[i].name, "%s", gt->name);
        t[i].type = gt->type;
        t[i].n_dims = gt->n_dims;
        memcpy(t[i].ne, gt->ne, sizeof t[i].ne);
    }
    int rc = report(path, &hp, t, n_t, n, type_k, type_v);
    free(t);
    tn_gguf_close(g);
    return rc;
}

/* The tensors tn_synth_write would write for this shape and type (names, shapes, types). */
static int synth_tensors(const tn_synth_shape *s, const tn_synth_wtype *wt, bool pure, tp_tensor *t) {
    int n = 0, L = (int)s->n_layer;
    int64_t q = (int64_t)s->n_head * s->head_dim, kv = (int64_t)s->n_head_kv * s->head_dim;
#define ADD(NAME, LAYER, NE0, NE1, IS2D)                                                           \
    do {                                                                                           \
        tp_tensor *x = &t[n++];                                                                    \
        snprintf(x->name, sizeof x->name, "%s", NAME);                                             \
        x->n_dims = (IS2D) ? 2 : 1;                                                                \
        x->ne[0] = NE0, x->ne[1] = NE1, x->ne[2] = x->ne[3] = 1;                                   \
        x->type = (IS2D) ? tn_synth_tensor_type(wt, NAME, LAYER, L, NE0, s->tied, pure) : TN_TYPE_F32; \
        if (x->type < 0) return -1;                                                                \
    } while (0)
    ADD("token_embd.weight", -1, s->n_embd, s->n_vocab, true);
    if (!s->tied) ADD("output.weight", -1, s->n_embd, s->n_vocab, true);
    ADD("output_norm.weight", -1, s->n_embd, 1, false);
    for (int l = 0; l < L; l++) {
        char nm[96];
#define LAYER(WHAT, NE0, NE1, IS2D)                                                                \
    snprintf(nm, sizeof nm, "blk.%d.%s", l, WHAT);                                                 \
    ADD(nm, l, NE0, NE1, IS2D)
        LAYER("attn_norm.weight", s->n_embd, 1, false);
        LAYER("attn_q.weight", s->n_embd, q, true);
        LAYER("attn_k.weight", s->n_embd, kv, true);
        LAYER("attn_v.weight", s->n_embd, kv, true);
        LAYER("attn_output.weight", q, s->n_embd, true);
        if (s->qk_norm) {
            LAYER("attn_q_norm.weight", s->head_dim, 1, false);
            LAYER("attn_k_norm.weight", s->head_dim, 1, false);
        }
        LAYER("ffn_norm.weight", s->n_embd, 1, false);
        LAYER("ffn_gate.weight", s->n_embd, s->n_ff, true);
        LAYER("ffn_up.weight", s->n_embd, s->n_ff, true);
        LAYER("ffn_down.weight", s->n_ff, s->n_embd, true);
#undef LAYER
    }
#undef ADD
    return n;
}

int tp_refuse_synth(const char *shape, const char *wtype, bool pure, int n, int type_k, int type_v) {
    const tn_synth_shape *s = tn_synth_shape_find(shape);
    tn_synth_wtype wt;
    if (!s || tn_synth_wtype_parse(wtype, &wt)) {
        fprintf(stderr, "error: %s\n", tn_last_error());
        return 1;
    }
    tp_tensor *t = calloc(3 + (size_t)s->n_layer * 12, sizeof *t);
    int n_t = t ? synth_tensors(s, &wt, pure, t) : -1;
    if (n_t < 0) {
        fprintf(stderr, "error: %s\n", t ? tn_last_error() : "out of memory");
        free(t);
        return 1;
    }
    tn_tp_hparams hp = {.n_embd = s->n_embd, .n_head = s->n_head, .n_head_kv = s->n_head_kv,
                        .head_dim = s->head_dim, .n_ff = s->n_ff, .n_vocab = s->n_vocab,
                        .n_layer = s->n_layer};
    char what[128];
    snprintf(what, sizeof what, "synthetic:%s:%s", s->name, wt.name);
    int rc = report(what, &hp, t, n_t, n, type_k, type_v);
    free(t);
    return rc;
}
