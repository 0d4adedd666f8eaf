/* Model quantization, as llama.cpp's llama-quantize: a "mix" (file type such as Q4_K_M) names a
 * default weight type plus per-tensor rules that give sensitive tensors (attn_v, ffn_down, the
 * output matrix) more bits; 1-D tensors and norms are never quantized. Rows are quantized with
 * tn_quantize_row (llama.cpp's reference rounding, no importance matrix), so legacy types come
 * out byte-identical to llama-quantize's. */
#ifndef TN_QUANTIZE_QUANTIZE_H
#define TN_QUANTIZE_QUANTIZE_H

#include <stdbool.h>
#include <stdint.h>

#include "formats/gguf.h"

/* A named mix. ftype is llama.cpp's general.file_type number (LLAMA_FTYPE_*). */
typedef struct tn_quant_mix {
    const char *name; /* "Q4_K_M" */
    int ftype;
    int default_type; /* tn_type most tensors get */
    const char *desc;
} tn_quant_mix;

/* NULL if unknown (case-insensitive). */
const tn_quant_mix *tn_quant_mix_find(const char *name);
/* All mixes tern can produce; *n gets the count. */
const tn_quant_mix *tn_quant_mix_all(int *n);

/* The type every tensor of g gets under the mix (llama.cpp's llama_tensor_get_type rules):
 * types[i] for tensor i. Tensors that are not quantized keep their type. *n_fallback counts
 * tensors whose row length forced a fallback type. Returns 0, or -1 with an error. */
int tn_quant_plan(const tn_gguf *g, const tn_quant_mix *mix, int *types, int *n_fallback);

typedef struct tn_quantize_params {
    const tn_quant_mix *mix;
    int n_threads;         /* <= 0: all cores */
    bool allow_requantize; /* accept already-quantized input tensors (quality suffers) */
    bool overwrite;        /* replace an existing output file */
    /* progress: called with (bytes of input processed, total), then while writing */
    void (*progress)(void *user, const char *stage, uint64_t done, uint64_t total);
    void *user;
} tn_quantize_params;

/* Quantizes in_path into out_path (written to out_path.tmp and renamed: never half-written).
 * Copies all metadata, sets general.file_type and general.quantization_version. */
int tn_quantize_file(const char *in_path, const char *out_path, const tn_quantize_params *p);

#endif
