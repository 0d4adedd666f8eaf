/* Built-in synthetic model shapes (hyper-parameters of the published models) and the weight-type
 * rules: which tensor gets which type for a requested type name, following llama.cpp's defaults
 * so a synthetic Q4_K_M file has the same size and mix as one made by llama-quantize. */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/error.h"
#include "formats/types.h"
#include "synth/synth.h"

/* All shapes write a separate output.weight. Qwen3-0.6B really ties it to the embedding; the
 * random-weight files that docs/ANCHORS.md measured llama.cpp on had it untied (their sizes,
 * 0.47 / 0.80 / 1.51 GB for Q4_0 / Q8_0 / F16, need the extra 156M parameters), so we match them. */
static const tn_synth_shape shapes[] = {
    /* name, arch, label, vocab, embd, layers, ff, heads, kv heads, head dim, ctx, rope base, eps */
    {"tiny", "llama", "1.4M", 512, 256, 2, 512, 4, 2, 64, 2048, 10000.0f, 1e-5f, false, false},
    {"tiny-qwen3", "qwen3", "1.8M", 512, 256, 2, 512, 4, 2, 128, 2048, 1e6f, 1e-6f, true, false},
    {"llama2-7b", "llama", "7B", 32000, 4096, 32, 11008, 32, 32, 128, 4096, 10000.0f, 1e-5f, false,
     false},
    {"llama3-8b", "llama", "8B", 128256, 4096, 32, 14336, 32, 8, 128, 8192, 500000.0f, 1e-5f, false,
     false},
    {"llama3-70b", "llama", "70B", 128256, 8192, 80, 28672, 64, 8, 128, 8192, 500000.0f, 1e-5f,
     false, false},
    {"qwen3-0.6b", "qwen3", "0.6B", 151936, 1024, 28, 3072, 16, 8, 128, 40960, 1e6f, 1e-6f, true,
     false},
    {"qwen3-8b", "qwen3", "8B", 151936, 4096, 36, 12288, 32, 8, 128, 40960, 1e6f, 1e-6f, true,
     false},
};
enum { N_SHAPES = sizeof shapes / sizeof shapes[0] };

int tn_synth_n_shapes(void) { return N_SHAPES; }

const tn_synth_shape *tn_synth_shape_at(int i) { return i >= 0 && i < N_SHAPES ? &shapes[i] : NULL; }

const char *tn_synth_shape_list(void) {
    return "tiny, tiny-qwen3, llama2-7b, llama3-8b, llama3-70b, qwen3-0.6b, qwen3-8b";
}

const tn_synth_shape *tn_synth_shape_find(const char *name) {
    for (int i = 0; i < N_SHAPES; i++)
        if (name && strcasecmp(name, shapes[i].name) == 0) return &shapes[i];
    tn_set_error("unknown synthetic shape '%s' (known: %s)", name ? name : "(null)",
                 tn_synth_shape_list());
    return NULL;
}

/* llama.cpp's general.file_type (LLAMA_FTYPE_*) for a "pure" base type. */
static int ftype_of(int type) {
    switch (type) {
    case TN_TYPE_F32: return 0;
    case TN_TYPE_F16: return 1;
    case TN_TYPE_Q4_0: return 2;
    case TN_TYPE_Q4_1: return 3;
    case TN_TYPE_Q8_0: return 7;
    case TN_TYPE_Q5_0: return 8;
    case TN_TYPE_Q5_1: return 9;
    case TN_TYPE_Q2_K: return 10;
    case TN_TYPE_Q3_K: return 11; /* Q3_K_S */
    case TN_TYPE_Q4_K: return 14; /* Q4_K_S */
    case TN_TYPE_Q5_K: return 16; /* Q5_K_S */
    case TN_TYPE_Q6_K: return 18;
    case TN_TYPE_IQ4_NL: return 25;
    case TN_TYPE_IQ4_XS: return 30;
    case TN_TYPE_BF16: return 32;
    case TN_TYPE_MXFP4: return 38;
    default: return -1;
    }
}

int tn_synth_wtype_parse(const char *name, tn_synth_wtype *out) {
    memset(out, 0, sizeof *out);
    if (!name) return tn_set_error("no weight type given");
    if (strcasecmp(name, "q4_k_m") == 0 || strcasecmp(name, "q5_k_m") == 0) {
        bool q5 = name[1] == '5';
        out->base = q5 ? TN_TYPE_Q5_K : TN_TYPE_Q4_K;
        out->ftype = q5 ? 17 : 15;
        out->mix_km = true;
        snprintf(out->name, sizeof out->name, "%s", q5 ? "Q5_K_M" : "Q4_K_M");
        return 0;
    }
    int t = tn_type_from_name(name);
    const tn_type_info *ti = t >= 0 ? tn_type_get(t) : NULL;
    if (!ti || !ti->can_quantize || ftype_of(t) < 0)
        return tn_set_error("weight type '%s' cannot be generated (use f32, f16, bf16, q8_0, q4_0, "
                            "q4_1, q5_0, q5_1, q2_K, q3_K, q4_K, q5_K, q6_K, iq4_nl, iq4_xs, mxfp4, "
                            "Q4_K_M or Q5_K_M)",
                            name);
    out->base = t;
    out->ftype = (uint32_t)ftype_of(t);
    snprintf(out->name, sizeof out->name, "%s", ti->name);
    for (char *c = out->name; *c; c++) /* "q4_K" -> "Q4_K", as llama.cpp names file types */
        if (*c >= 'a' && *c <= 'z') *c = (char)(*c - 'a' + 'A');
    return 0;
}

/* llama.cpp's use_more_bits(i_layer, n_layers). */
static bool use_more_bits(int i, int n) {
    return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2;
}

static bool is_quantized(int type) {
    return type != TN_TYPE_F32 && type != TN_TYPE_F16 && type != TN_TYPE_BF16;
}

int tn_synth_tensor_type(const tn_synth_wtype *wt, const char *tensor, int layer, int n_layer,
                         int64_t n_in, bool tied, bool pure) {
    int t = wt->base;
    const char *dot = strchr(tensor, '.');
    const char *kind = layer >= 0 && dot ? strchr(dot + 1, '.') + 1 : tensor; /* after "blk.N." */
    bool is_output = strcmp(tensor, "output.weight") == 0 ||
                     (tied && strcmp(tensor, "token_embd.weight") == 0);
    if (!pure && is_output && is_quantized(t) && t != TN_TYPE_Q8_0) t = TN_TYPE_Q6_K;
    if (wt->mix_km && layer >= 0 && use_more_bits(layer, n_layer) &&
        (strcmp(kind, "attn_v.weight") == 0 || strcmp(kind, "ffn_down.weight") == 0))
        t = TN_TYPE_Q6_K;
    if (n_in % tn_type_get(t)->block_size != 0) t = n_in % 32 == 0 ? TN_TYPE_Q8_0 : TN_TYPE_F16;
    return t;
}
