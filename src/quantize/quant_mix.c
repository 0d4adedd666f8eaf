/* The quantization mixes and llama.cpp's per-tensor type rules (llama_tensor_get_type): which
 * tensors are quantized at all, and which get more bits than the mix's default type. The rules
 * are restated here from llama.cpp's documented behaviour for the mixes tern supports; they are
 * checked against llama-quantize's output files in tests/test_quantize.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/error.h"
#include "formats/types.h"
#include "quantize/quantize.h"

/* llama.cpp's LLAMA_FTYPE_* numbers (general.file_type). */
enum {
    FT_F32 = 0,
    FT_F16 = 1,
    FT_Q4_0 = 2,
    FT_Q4_1 = 3,
    FT_Q8_0 = 7,
    FT_Q5_0 = 8,
    FT_Q5_1 = 9,
    FT_Q2_K = 10,
    FT_Q3_K_S = 11,
    FT_Q3_K_M = 12,
    FT_Q3_K_L = 13,
    FT_Q4_K_S = 14,
    FT_Q4_K_M = 15,
    FT_Q5_K_S = 16,
    FT_Q5_K_M = 17,
    FT_Q6_K = 18,
    FT_IQ4_NL = 25,
    FT_IQ4_XS = 30,
    FT_BF16 = 32,
};

static const tn_quant_mix mixes[] = {
    {"Q4_0", FT_Q4_0, TN_TYPE_Q4_0, "4.5 bpw, legacy"},
    {"Q4_1", FT_Q4_1, TN_TYPE_Q4_1, "5.0 bpw, legacy"},
    {"Q5_0", FT_Q5_0, TN_TYPE_Q5_0, "5.5 bpw, legacy"},
    {"Q5_1", FT_Q5_1, TN_TYPE_Q5_1, "6.0 bpw, legacy"},
    {"Q8_0", FT_Q8_0, TN_TYPE_Q8_0, "8.5 bpw, nearly lossless"},
    {"Q2_K", FT_Q2_K, TN_TYPE_Q2_K, "Q2_K, attn_v/ffn_down/attn_output Q3_K"},
    {"Q3_K_S", FT_Q3_K_S, TN_TYPE_Q3_K, "Q3_K everywhere"},
    {"Q3_K_M", FT_Q3_K_M, TN_TYPE_Q3_K, "Q3_K, attn_v Q5_K/Q4_K, ffn_down/attn_output Q4_K"},
    {"Q3_K_L", FT_Q3_K_L, TN_TYPE_Q3_K, "Q3_K, attn_v/ffn_down/attn_output Q5_K"},
    {"Q4_K_S", FT_Q4_K_S, TN_TYPE_Q4_K, "Q4_K, first attn_v Q5_K"},
    {"Q4_K_M", FT_Q4_K_M, TN_TYPE_Q4_K, "Q4_K, half of attn_v/ffn_down Q6_K"},
    {"Q5_K_S", FT_Q5_K_S, TN_TYPE_Q5_K, "Q5_K everywhere"},
    {"Q5_K_M", FT_Q5_K_M, TN_TYPE_Q5_K, "Q5_K, half of attn_v/ffn_down Q6_K"},
    {"Q6_K", FT_Q6_K, TN_TYPE_Q6_K, "6.56 bpw"},
    {"IQ4_NL", FT_IQ4_NL, TN_TYPE_IQ4_NL, "4.5 bpw non-linear, 32-blocks"},
    {"IQ4_XS", FT_IQ4_XS, TN_TYPE_IQ4_XS, "4.25 bpw non-linear"},
    {"F16", FT_F16, TN_TYPE_F16, "16-bit float"},
    {"BF16", FT_BF16, TN_TYPE_BF16, "16-bit bfloat"},
    {"F32", FT_F32, TN_TYPE_F32, "32-bit float"},
};

const tn_quant_mix *tn_quant_mix_all(int *n) {
    *n = (int)(sizeof mixes / sizeof mixes[0]);
    return mixes;
}

const tn_quant_mix *tn_quant_mix_find(const char *name) {
    for (size_t i = 0; i < sizeof mixes / sizeof mixes[0]; i++)
        if (strcasecmp(mixes[i].name, name) == 0) return &mixes[i];
    return NULL;
}

typedef enum {
    CAT_OTHER,
    CAT_TOKEN_EMBD,
    CAT_OUTPUT,
    CAT_ATTN_Q,
    CAT_ATTN_K,
    CAT_ATTN_V_LIKE,
    CAT_ATTN_OUTPUT,
    CAT_FFN_UP,
    CAT_FFN_GATE,
    CAT_FFN_DOWN,
} category;

static bool has(const char *s, const char *sub) {
    return strstr(s, sub) != NULL;
}

static category categorize(const char *name) {
    if (!strcmp(name, "output.weight")) return CAT_OUTPUT;
    if (!strcmp(name, "token_embd.weight") || !strcmp(name, "per_layer_token_embd.weight"))
        return CAT_TOKEN_EMBD;
    /* attn_v-like: tensors that carry values (fused qkv, MLA's kv_b); most sensitive */
    if (has(name, "attn_qkv.weight") || has(name, "attn_kv_b.weight") || has(name, "attn_v.weight"))
        return CAT_ATTN_V_LIKE;
    if (has(name, "attn_k.weight")) return CAT_ATTN_K;
    if (has(name, "attn_q.weight")) return CAT_ATTN_Q;
    if (has(name, "attn_output.weight")) return CAT_ATTN_OUTPUT;
    if (has(name, "ffn_up")) return CAT_FFN_UP;
    if (has(name, "ffn_gate")) return CAT_FFN_GATE;
    if (has(name, "ffn_down")) return CAT_FFN_DOWN;
    return CAT_OTHER;
}

/* llama.cpp quantizes only 2-D+ tensors named *weight, and never norms, router, conv1d and
 * position/type embeddings. */
static bool allows_quantization(const tn_gguf_tensor *t) {
    const char *n = t->name;
    size_t len = strlen(n);
    if (t->n_dims < 2) return false;
    if (len < 6 || strcmp(n + len - 6, "weight") != 0) return false;
    static const char *const never[] = {
        "_norm.weight",
        "ffn_gate_inp.weight",
        "ffn_gate_tid2eid.weight",
        "altup",
        "laurel",
        "per_layer_model_proj",
        "ssm_conv1d",
        "shortconv.conv.weight",
        "attn_rel_b.weight",
        "time_mix_first.weight",
        "time_mix_w0.weight",
        "time_mix_w1.weight",
        "time_mix_w2.weight",
        "time_mix_v0.weight",
        "time_mix_v1.weight",
        "time_mix_v2.weight",
        "time_mix_a0.weight",
        "time_mix_a1.weight",
        "time_mix_a2.weight",
        "time_mix_g1.weight",
        "time_mix_g2.weight",
        "time_mix_decay_w1.weight",
        "time_mix_decay_w2.weight",
        "time_mix_lerp_fused.weight",
        ".position_embd",
        ".patch_embd",
        ".rel_pos",
        "indexer.k_proj.weight",
        "indexer.q_proj.weight",
    };
    for (size_t i = 0; i < sizeof never / sizeof never[0]; i++)
        if (has(n, never[i])) return false;
    return strcmp(n, "position_embd.weight") != 0 && strcmp(n, "token_types.weight") != 0;
}

/* Layer number of "blk.N.*", -1 otherwise. */
static int layer_of(const char *name) {
    int l;
    return sscanf(name, "blk.%d.", &l) == 1 && l >= 0 ? l : -1;
}

/* Layers that get more bits in the _M mixes: the first and last eighth, and every third layer
 * in between. */
static bool use_more_bits(int i, int n) {
    return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2;
}

typedef struct plan_ctx {
    int ftype;
    bool falcon, is_70b, tied;
    int n_layer, n_gqa, n_expert, n_wv;
} plan_ctx;

static int block_size(int type) {
    return tn_type_get(type)->block_size;
}

/* The mix's rule for one tensor that is being quantized to a quantized default type. */
static int rule(const plan_ctx *c, const tn_gguf_tensor *t, category cat, int i_wv, int type) {
    int ft = c->ftype;
    if (cat == CAT_OUTPUT || (c->tied && cat == CAT_TOKEN_EMBD)) {
        if (c->falcon || t->ne[0] % block_size(type) != 0) return TN_TYPE_Q8_0;
        return type != TN_TYPE_Q8_0 ? TN_TYPE_Q6_K : type;
    }
    if (cat == CAT_ATTN_V_LIKE) {
        if (ft == FT_Q2_K)
            type = c->n_gqa >= 4 ? TN_TYPE_Q4_K : TN_TYPE_Q3_K;
        else if (ft == FT_Q3_K_M)
            type = i_wv < 2 ? TN_TYPE_Q5_K : TN_TYPE_Q4_K;
        else if (ft == FT_Q3_K_L)
            type = TN_TYPE_Q5_K;
        else if ((ft == FT_IQ4_NL || ft == FT_IQ4_XS) && c->n_gqa >= 4)
            type = TN_TYPE_Q5_K;
        else if ((ft == FT_Q4_K_M || ft == FT_Q5_K_M) && use_more_bits(i_wv, c->n_wv))
            type = TN_TYPE_Q6_K;
        else if (ft == FT_Q4_K_S && i_wv < 4)
            type = TN_TYPE_Q5_K;
        /* 70B: attn_v is 8x smaller than attn_q (GQA 8), so extra bits cost almost nothing */
        if (c->is_70b && (type == TN_TYPE_Q3_K || type == TN_TYPE_Q4_K)) type = TN_TYPE_Q5_K;
        if (c->n_expert == 8) type = TN_TYPE_Q8_0;
        return type;
    }
    if (cat == CAT_ATTN_K) return c->n_expert == 8 ? TN_TYPE_Q8_0 : type;
    if (cat == CAT_FFN_DOWN) {
        int i = layer_of(t->name), n = c->n_layer;
        if (i < 0) i = 0;
        if (ft == FT_Q2_K) return TN_TYPE_Q3_K;
        if (ft == FT_Q3_K_M)
            return i < n / 16                          ? TN_TYPE_Q5_K
                   : !c->falcon || use_more_bits(i, n) ? TN_TYPE_Q4_K
                                                       : TN_TYPE_Q3_K;
        if (ft == FT_Q3_K_L) return c->falcon ? TN_TYPE_Q4_K : TN_TYPE_Q5_K;
        if (ft == FT_Q4_K_M) {
            if (c->falcon)
                return i < n / 16            ? TN_TYPE_Q6_K
                       : use_more_bits(i, n) ? TN_TYPE_Q5_K
                                             : TN_TYPE_Q4_K;
            return use_more_bits(i, n) ? TN_TYPE_Q6_K : type;
        }
        if (i < n / 8 && (ft == FT_IQ4_NL || ft == FT_IQ4_XS)) return TN_TYPE_Q5_K;
        if (ft == FT_Q5_K_M && use_more_bits(i, n)) return TN_TYPE_Q6_K;
        if (ft == FT_Q4_K_S && !c->falcon && i < n / 8) return TN_TYPE_Q5_K;
        return type;
    }
    if (cat == CAT_ATTN_OUTPUT) {
        if (c->falcon) return ft == FT_Q3_K_L ? TN_TYPE_Q4_K : type;
        if (c->n_expert == 8) {
            if (ft == FT_Q2_K || ft == FT_Q3_K_S || ft == FT_Q3_K_M || ft == FT_IQ4_NL ||
                ft == FT_Q4_K_S || ft == FT_Q4_K_M || ft == FT_IQ4_XS)
                return TN_TYPE_Q5_K;
            return type;
        }
        if (ft == FT_Q2_K) return TN_TYPE_Q3_K;
        if (ft == FT_Q3_K_M) return TN_TYPE_Q4_K;
        if (ft == FT_Q3_K_L) return TN_TYPE_Q5_K;
    }
    return type;
}

/* A row length the type cannot hold falls back to a type with 32-element blocks (then F16). */
static int fallback(const tn_gguf_tensor *t, int type, int *n_fallback) {
    if (t->ne[0] % block_size(type) == 0) return type;
    ++*n_fallback;
    int fb;
    switch (type) {
    case TN_TYPE_IQ4_XS:
        fb = TN_TYPE_IQ4_NL;
        break;
    case TN_TYPE_Q2_K:
    case TN_TYPE_Q3_K:
        fb = TN_TYPE_Q4_0;
        break;
    case TN_TYPE_Q4_K:
        fb = TN_TYPE_Q5_0;
        break;
    case TN_TYPE_Q5_K:
        fb = TN_TYPE_Q5_1;
        break;
    case TN_TYPE_Q6_K:
        fb = TN_TYPE_Q8_0;
        break;
    default:
        fb = TN_TYPE_F16;
    }
    return t->ne[0] % block_size(fb) == 0 ? fb : TN_TYPE_F16;
}

static uint32_t arch_u32(const tn_gguf *g, const char *arch, const char *suffix, uint32_t def) {
    char key[256];
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    uint32_t v;
    if (tn_gguf_get_u32(g, key, &v) == 0) return v;
    int32_t *arr = NULL;
    uint64_t n = 0;
    if (tn_gguf_get_arr_i32(g, key, &arr, &n) == 0 && n > 0)
        v = (uint32_t)arr[0];
    else
        v = def;
    free(arr);
    return v;
}

typedef struct wv_entry {
    int layer;
    const char *name;
    int64_t index;
} wv_entry;

static int cmp_wv(const void *a, const void *b) {
    const wv_entry *x = a, *y = b;
    if (x->layer != y->layer) return x->layer < y->layer ? -1 : 1;
    return strcmp(x->name, y->name);
}

int tn_quant_plan(const tn_gguf *g, const tn_quant_mix *mix, int *types, int *n_fallback) {
    const char *arch = NULL;
    if (tn_gguf_get_str(g, "general.architecture", &arch) != 0)
        return tn_set_error("%s: no general.architecture", tn_gguf_path(g));
    plan_ctx c = {.ftype = mix->ftype, .falcon = !strcmp(arch, "falcon"), .tied = true};
    c.n_layer = (int)arch_u32(g, arch, "block_count", 0);
    uint32_t n_head = arch_u32(g, arch, "attention.head_count", 0);
    uint32_t n_head_kv = arch_u32(g, arch, "attention.head_count_kv", n_head);
    c.n_gqa = n_head_kv ? (int)(n_head / n_head_kv) : 0;
    c.n_expert = (int)arch_u32(g, arch, "expert_count", 0);
    c.is_70b = !strcmp(arch, "llama") && c.n_layer == 80 && n_head != n_head_kv;
    int64_t nt = tn_gguf_n_tensors(g);
    /* i_attention_wv counts attn_v-like tensors in layer order (llama.cpp walks tensors sorted
     * by layer, then name). */
    wv_entry *wv = malloc(sizeof *wv * (size_t)(nt > 0 ? nt : 1));
    int *wv_rank = malloc(sizeof(int) * (size_t)(nt > 0 ? nt : 1));
    if (!wv || !wv_rank) {
        free(wv);
        free(wv_rank);
        return tn_set_error("out of memory");
    }
    for (int64_t i = 0; i < nt; i++) {
        const tn_gguf_tensor *t = tn_gguf_tensor_at(g, i);
        if (!strcmp(t->name, "output.weight")) c.tied = false;
        if (categorize(t->name) == CAT_ATTN_V_LIKE)
            wv[c.n_wv++] = (wv_entry){layer_of(t->name), t->name, i};
    }
    qsort(wv, (size_t)c.n_wv, sizeof *wv, cmp_wv);
    for (int k = 0; k < c.n_wv; k++)
        wv_rank[wv[k].index] = k;
    bool quantized_default = block_size(mix->default_type) > 1;
    *n_fallback = 0;
    for (int64_t i = 0; i < nt; i++) {
        const tn_gguf_tensor *t = tn_gguf_tensor_at(g, i);
        category cat = categorize(t->name);
        if (!allows_quantization(t)) {
            types[i] = t->type;
            continue;
        }
        int type = mix->default_type;
        if (quantized_default) {
            type = rule(&c, t, cat, cat == CAT_ATTN_V_LIKE ? wv_rank[i] : 0, type);
            type = fallback(t, type, n_fallback);
        }
        types[i] = type;
    }
    free(wv);
    free(wv_rank);
    return 0;
}
