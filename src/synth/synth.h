/* Synthetic models: random weights in the exact tensor names, shapes, types and metadata of real
 * model families (Llama 2/3, Qwen3), written as GGUF files that tern and llama.cpp both load.
 * Speed does not depend on weight values, so this measures real shapes without a download.
 *
 * Weights are Gaussian (std 0.02 by default, from a seeded generator: the same seed gives the same
 * file whatever the thread count), norms are 1.0, and the vocabulary is a minimal SentencePiece
 * ("llama") one: <unk> <s> </s>, the 256 byte tokens, then filler pieces up to the shape's size.
 * Weight types follow llama.cpp's defaults for a type name: see tn_synth_tensor_type(). */
#ifndef TN_SYNTH_SYNTH_H
#define TN_SYNTH_SYNTH_H

#include <stdbool.h>
#include <stdint.h>

typedef struct tn_synth_shape {
    const char *name;       /* "llama3-8b" */
    const char *arch;       /* GGUF general.architecture */
    const char *size_label; /* general.size_label, e.g. "8B" */
    uint32_t n_vocab, n_embd, n_layer, n_ff, n_head, n_head_kv, head_dim, n_ctx_train;
    float rope_freq_base, norm_eps;
    bool qk_norm; /* Qwen3: per-head RMSNorm of q and k */
    bool tied;    /* no output.weight (the token embedding is reused) */
} tn_synth_shape;

/* NULL (with an error listing the known shapes) if the name is unknown. Case-insensitive. */
const tn_synth_shape *tn_synth_shape_find(const char *name);
/* Comma-separated names of the built-in shapes. */
const char *tn_synth_shape_list(void);
int tn_synth_n_shapes(void);
const tn_synth_shape *tn_synth_shape_at(int i);

/* A weight-type request: a tn_type name ("q4_0", "bf16", "q6_K", ...) or a llama.cpp mix name
 * ("Q4_K_M", "Q5_K_M"). Fills the base type, the llama.cpp file-type number (general.file_type)
 * and whether the K-quant mix rule is used. -1 with an error if unknown or not quantizable. */
typedef struct tn_synth_wtype {
    int base;          /* tn_type of most 2-D weights */
    uint32_t ftype;    /* LLAMA_FTYPE_* number written as general.file_type */
    bool mix_km;       /* _M mixes: Q6_K for some attn_v / ffn_down layers */
    char name[16];     /* canonical spelling, e.g. "Q4_K_M" or "Q8_0" */
} tn_synth_wtype;
int tn_synth_wtype_parse(const char *name, tn_synth_wtype *out);

/* Type of the 2-D weight `tensor` ("blk.3.attn_v.weight", "output.weight", ...) with n_in elements
 * per row in layer `layer` (-1 outside the blocks) of a model with n_layer layers:
 *  - output.weight (or token_embd.weight when tied) -> Q6_K for quantized types other than Q8_0
 *    (llama.cpp's rule; skipped when `pure`);
 *  - _M mixes: attn_v and ffn_down -> Q6_K in "more bits" layers: the first and last eighth and
 *    every third layer in between (llama.cpp's use_more_bits);
 *  - rows that are not a whole number of blocks fall back to Q8_0, then F16. */
int tn_synth_tensor_type(const tn_synth_wtype *wt, const char *tensor, int layer, int n_layer,
                         int64_t n_in, bool tied, bool pure);

typedef void (*tn_synth_progress_fn)(void *user, const char *stage, double fraction);

typedef struct tn_synth_params {
    const tn_synth_shape *shape;
    tn_synth_wtype wtype;
    uint64_t seed;
    float std;     /* standard deviation of the weights (0 -> 0.02) */
    int n_threads; /* 0 = all cores */
    bool pure;     /* no output-tensor Q6_K rule */
    int32_t n_layer_override; /* > 0: use this many layers instead of the shape's (quick tests) */
    tn_synth_progress_fn progress;
    void *progress_user;
} tn_synth_params;

tn_synth_params tn_synth_default_params(void);

/* Writes the model to `path` (via PATH.tmp + rename). Returns 0, or -1 with an error. */
int tn_synth_write(const tn_synth_params *p, const char *path);

/* Bytes the GGUF data section will hold (tensor data incl. alignment padding): for sizing and
 * for checking a written file. */
uint64_t tn_synth_data_bytes(const tn_synth_params *p);

#endif
