/* Shared state of the converter's parts: convert.c (driver, tensor data), convert_arch.c
 * (architectures: hyperparameters, metadata, tensor names and layouts) and convert_vocab.c
 * (tokenizer metadata). */
#ifndef TN_CONVERT_INTERNAL_H
#define TN_CONVERT_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "convert/json.h"
#include "convert/safetensors.h"
#include "formats/gguf.h"

typedef enum { ARCH_LLAMA, ARCH_QWEN2, ARCH_QWEN3, ARCH_QWEN35 } conv_arch_kind;

typedef struct conv_arch {
    const char *hf_name;   /* config.json "architectures"[0] */
    const char *gguf_name; /* general.architecture */
    conv_arch_kind kind;
} conv_arch;

/* How a tensor's values are rearranged on the way (llama.cpp's modify_tensors per arch). */
typedef enum {
    XF_NONE,
    XF_PERMUTE_QK,  /* llama: rows of each head from halves-split to interleaved rope pairs */
    XF_PLUS_ONE,    /* qwen35 norms store w, the model uses (1 + w) */
    XF_NEG_EXP,     /* qwen35 A_log -> A = -exp(A_log), per value head, reordered */
    XF_VHEAD_ROWS,  /* qwen35: row blocks of value heads from grouped to tiled order */
    XF_VHEAD_COLS,  /* qwen35 out_proj: column blocks of value heads, same reorder */
} conv_xform;

typedef struct conv_tensor {
    const tn_st_tensor *src;
    char name[64];
    int type;
    int n_dims;
    int64_t ne[4];
    conv_xform xf;
    int64_t xa;   /* XF_PERMUTE_QK: heads; XF_VHEAD_*: rows/cols per head */
    int64_t xoff; /* XF_VHEAD_ROWS: first row of the reordered part (qkv: after q and k) */
} conv_tensor;

typedef struct conv_hparams {
    int64_t n_layer, n_ctx, n_embd, n_ff, n_head, n_head_kv, head_dim, vocab_size;
    bool has_head_dim, has_rope_theta, has_vocab_size;
    double rope_theta, rms_eps;
    const char *rope_type;  /* "default" if absent */
    double rope_factor;     /* linear scaling */
    /* qwen35 linear attention (Gated DeltaNet) */
    int64_t conv_kernel, lin_kd, lin_vd, lin_nk, lin_nv, full_attn_interval, rope_dims;
    int32_t rope_sections[4];
} conv_hparams;

typedef struct conv {
    const char *dir;
    tn_json_doc *config_doc, *tok_config_doc, *tok_json_doc;
    const tn_json *config, *tok_config, *tok_json; /* the last two may be NULL */
    const conv_arch *arch;
    conv_hparams hp;
    tn_st *st;
    conv_tensor *tensors;
    int64_t n_tensors;
    int outtype; /* resolved: F32/F16/BF16/Q8_0 */
    tn_gguf_writer *w;
} conv;

/* convert_arch.c */
const conv_arch *conv_arch_find(const char *hf_name);
const char *conv_arch_list(void);
int conv_read_hparams(conv *c);
/* Maps every checkpoint tensor to its GGUF name, type, shape and transform. */
int conv_plan_tensors(conv *c);
/* Architecture keys before general.quantization_version / after the tokenizer keys. */
int conv_write_arch_kv(conv *c, int file_type);
int conv_write_arch_kv_late(conv *c);

/* convert_vocab.c: tokenizer.ggml.* keys from tokenizer.model or tokenizer.json. */
int conv_write_vocab(conv *c);

/* "file: what" error helpers */
int conv_missing(const conv *c, const char *key);

#endif
