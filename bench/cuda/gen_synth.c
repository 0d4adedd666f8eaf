/* Writes a random-weight GGUF of a real model shape, for speed measurements (weight values do not
 * change speed). Stand-in until `tern bench --synthetic` exists.
 *
 *   gen_synth OUT.gguf SHAPE FTYPE
 *   SHAPE: llama3-8b | llama2-7b | qwen3-0.6b      FTYPE: q4_0 | q4_k_m | q8_0 | f16
 *
 * Type mix as llama-quantize makes it: Q4_0 and Q4_K_M files keep output.weight in Q6_K, Q4_K_M
 * puts attn_v and ffn_down of some layers in Q6_K (first and last eighth of the layers and every
 * third in between). Each distinct (shape, type) tensor is quantized once from random numbers and
 * its bytes reused for every layer (each layer still gets its own copy in the file). The
 * vocabulary is a dummy SPM one (tokens are never encoded from text in the benchmark). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "formats/gguf.h"
#include "formats/types.h"

typedef struct shape {
    const char *name, *arch;
    int n_layer, n_embd, n_ff, n_head, n_head_kv, head_dim, n_vocab;
    float rope_base;
    int tied, qk_norm;
} shape;

static const shape shapes[] = {
    {"llama3-8b", "llama", 32, 4096, 14336, 32, 8, 128, 128256, 500000.0f, 0, 0},
    {"llama2-7b", "llama", 32, 4096, 11008, 32, 32, 128, 32000, 10000.0f, 0, 0},
    {"qwen3-0.6b", "qwen3", 28, 1024, 3072, 16, 8, 128, 151936, 1000000.0f, 1, 1},
};

typedef struct qjob {
    int type;
    const float *src;
    uint8_t *dst;
    int64_t n_in, r0, r1;
} qjob;

static void *quant_rows(void *arg) {
    qjob *j = arg;
    size_t rb = tn_row_size(j->type, j->n_in);
    for (int64_t r = j->r0; r < j->r1; r++)
        tn_quantize_row(j->type, j->src + (r % 64) * j->n_in, j->dst + (size_t)r * rb, j->n_in);
    return NULL;
}

/* Random tensor of n_out rows x n_in of `type`; the float source repeats every 64 rows (cheap),
 * which does not matter for speed. */
static void *make_tensor(int type, int64_t n_in, int64_t n_out, size_t *nbytes, uint64_t *seed) {
    size_t rb = tn_row_size(type, n_in);
    *nbytes = rb * (size_t)n_out;
    uint8_t *dst = malloc(*nbytes);
    float *src = malloc(sizeof(float) * (size_t)n_in * 64);
    if (!dst || !src) {
        fprintf(stderr, "out of memory\n");
        exit(1);
    }
    for (int64_t i = 0; i < n_in * 64; i++) {
        *seed = *seed * 6364136223846793005ull + 1442695040888963407ull;
        src[i] = ((float)((*seed >> 40) & 0xFFFFFF) / 16777216.0f - 0.5f) * 0.05f;
    }
    enum { NT = 16 };
    pthread_t th[NT];
    qjob jobs[NT];
    for (int t = 0; t < NT; t++) {
        jobs[t] = (qjob){type, src, dst, n_in, n_out * t / NT, n_out * (t + 1) / NT};
        pthread_create(&th[t], NULL, quant_rows, &jobs[t]);
    }
    for (int t = 0; t < NT; t++) pthread_join(th[t], NULL);
    free(src);
    return dst;
}

typedef struct cache_ent {
    int type;
    int64_t n_in, n_out;
    void *data;
    size_t nbytes;
} cache_ent;

static cache_ent cache[32];
static int n_cache;

static const cache_ent *get(int type, int64_t n_in, int64_t n_out, uint64_t *seed) {
    for (int i = 0; i < n_cache; i++)
        if (cache[i].type == type && cache[i].n_in == n_in && cache[i].n_out == n_out) return &cache[i];
    cache_ent *e = &cache[n_cache++];
    e->type = type;
    e->n_in = n_in;
    e->n_out = n_out;
    e->data = make_tensor(type, n_in, n_out, &e->nbytes, seed);
    return e;
}

static void add(tn_gguf_writer *w, const char *name, int type, int64_t n_in, int64_t n_out,
                uint64_t *seed) {
    const cache_ent *e = get(type, n_in, n_out, seed);
    int64_t ne[2] = {n_in, n_out};
    if (tn_gguf_writer_add_tensor(w, name, type, n_out == 1 ? 1 : 2, ne, e->data, e->nbytes)) {
        fprintf(stderr, "%s\n", tn_last_error());
        exit(1);
    }
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: %s OUT.gguf llama3-8b|llama2-7b|qwen3-0.6b q4_0|q4_k_m|q8_0|f16\n", argv[0]);
        return 2;
    }
    const shape *s = NULL;
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
        if (!strcmp(argv[2], shapes[i].name)) s = &shapes[i];
    const char *ft = argv[3];
    int base, out_type, file_type;
    if (!strcmp(ft, "q4_0")) base = TN_TYPE_Q4_0, out_type = TN_TYPE_Q6_K, file_type = 2;
    else if (!strcmp(ft, "q4_k_m")) base = TN_TYPE_Q4_K, out_type = TN_TYPE_Q6_K, file_type = 15;
    else if (!strcmp(ft, "q8_0")) base = TN_TYPE_Q8_0, out_type = TN_TYPE_Q8_0, file_type = 7;
    else if (!strcmp(ft, "f16")) base = TN_TYPE_F16, out_type = TN_TYPE_F16, file_type = 1;
    else s = NULL;
    if (!s) {
        fprintf(stderr, "unknown shape or type\n");
        return 2;
    }
    uint64_t seed = 42;
    tn_gguf_writer *w = tn_gguf_writer_new();
    char key[128];
#define KEY(k) (snprintf(key, sizeof key, "%s.%s", s->arch, k), key)
    tn_gguf_writer_set_str(w, "general.architecture", s->arch);
    tn_gguf_writer_set_str(w, "general.name", s->name);
    tn_gguf_writer_set_u32(w, "general.file_type", (uint32_t)file_type);
    tn_gguf_writer_set_u32(w, KEY("block_count"), (uint32_t)s->n_layer);
    tn_gguf_writer_set_u32(w, KEY("context_length"), 8192);
    tn_gguf_writer_set_u32(w, KEY("embedding_length"), (uint32_t)s->n_embd);
    tn_gguf_writer_set_u32(w, KEY("feed_forward_length"), (uint32_t)s->n_ff);
    tn_gguf_writer_set_u32(w, KEY("attention.head_count"), (uint32_t)s->n_head);
    tn_gguf_writer_set_u32(w, KEY("attention.head_count_kv"), (uint32_t)s->n_head_kv);
    tn_gguf_writer_set_u32(w, KEY("attention.key_length"), (uint32_t)s->head_dim);
    tn_gguf_writer_set_u32(w, KEY("attention.value_length"), (uint32_t)s->head_dim);
    tn_gguf_writer_set_u32(w, KEY("rope.dimension_count"), (uint32_t)s->head_dim);
    tn_gguf_writer_set_f32(w, KEY("rope.freq_base"), s->rope_base);
    tn_gguf_writer_set_f32(w, KEY("attention.layer_norm_rms_epsilon"), 1e-5f);
    /* dummy vocabulary: <unk> <s> </s>, 256 byte tokens, then t<id> */
    const int nv = s->n_vocab;
    char **toks = malloc(sizeof(char *) * (size_t)nv);
    float *scores = malloc(sizeof(float) * (size_t)nv);
    int32_t *types = malloc(sizeof(int32_t) * (size_t)nv);
    for (int i = 0; i < nv; i++) {
        toks[i] = malloc(16);
        if (i == 0) strcpy(toks[i], "<unk>");
        else if (i == 1) strcpy(toks[i], "<s>");
        else if (i == 2) strcpy(toks[i], "</s>");
        else if (i < 259) snprintf(toks[i], 16, "<0x%02X>", i - 3);
        else snprintf(toks[i], 16, "t%d", i);
        scores[i] = -(float)i;
        types[i] = i == 0 ? 2 : (i < 3 ? 3 : (i < 259 ? 6 : 1));
    }
    tn_gguf_writer_set_str(w, "tokenizer.ggml.model", "llama");
    tn_gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", (const char *const *)toks, NULL, (uint64_t)nv);
    tn_gguf_writer_set_arr(w, "tokenizer.ggml.scores", TN_GGUF_F32, scores, (uint64_t)nv);
    tn_gguf_writer_set_arr(w, "tokenizer.ggml.token_type", TN_GGUF_I32, types, (uint64_t)nv);
    tn_gguf_writer_set_u32(w, "tokenizer.ggml.bos_token_id", 1);
    tn_gguf_writer_set_u32(w, "tokenizer.ggml.eos_token_id", 2);

    const int64_t E = s->n_embd, F = s->n_ff, Q = (int64_t)s->n_head * s->head_dim,
                  KV = (int64_t)s->n_head_kv * s->head_dim;
    add(w, "token_embd.weight", base, E, nv, &seed);
    add(w, "output_norm.weight", TN_TYPE_F32, E, 1, &seed);
    if (!s->tied) add(w, "output.weight", out_type, E, nv, &seed);
    static char names[4096][64];
    int nn = 0;
#define NAME(...) (snprintf(names[nn], 64, __VA_ARGS__), names[nn++])
    for (int l = 0; l < s->n_layer; l++) {
        const int n8 = s->n_layer / 8;
        const bool more = l < n8 || l >= s->n_layer - n8 || (l - n8) % 3 == 2;
        const int vd = base == TN_TYPE_Q4_K && more ? TN_TYPE_Q6_K : base;
        add(w, NAME("blk.%d.attn_norm.weight", l), TN_TYPE_F32, E, 1, &seed);
        add(w, NAME("blk.%d.attn_q.weight", l), base, E, Q, &seed);
        add(w, NAME("blk.%d.attn_k.weight", l), base, E, KV, &seed);
        add(w, NAME("blk.%d.attn_v.weight", l), vd, E, KV, &seed);
        add(w, NAME("blk.%d.attn_output.weight", l), base, Q, E, &seed);
        if (s->qk_norm) {
            add(w, NAME("blk.%d.attn_q_norm.weight", l), TN_TYPE_F32, s->head_dim, 1, &seed);
            add(w, NAME("blk.%d.attn_k_norm.weight", l), TN_TYPE_F32, s->head_dim, 1, &seed);
        }
        add(w, NAME("blk.%d.ffn_norm.weight", l), TN_TYPE_F32, E, 1, &seed);
        add(w, NAME("blk.%d.ffn_gate.weight", l), base, E, F, &seed);
        add(w, NAME("blk.%d.ffn_up.weight", l), base, E, F, &seed);
        add(w, NAME("blk.%d.ffn_down.weight", l), vd, F, E, &seed);
    }
    if (tn_gguf_writer_write(w, argv[1], NULL, NULL)) {
        fprintf(stderr, "%s\n", tn_last_error());
        return 1;
    }
    printf("wrote %s (%s %s)\n", argv[1], s->name, ft);
    return 0;
}
