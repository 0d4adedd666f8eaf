/* `tern convert`: Hugging Face checkpoint folder (config.json, safetensors, tokenizer files) ->
 * GGUF with the tensor names, layouts, types and metadata keys llama.cpp's convert_hf_to_gguf.py
 * writes, so files from either converter load and run the same. Supported architectures:
 * LlamaForCausalLM (and MistralForCausalLM), Qwen2ForCausalLM, Qwen3ForCausalLM and
 * Qwen3_5ForCausalLM (hybrid Gated DeltaNet, GGUF arch "qwen35"). */
#ifndef TN_CONVERT_CONVERT_H
#define TN_CONVERT_CONVERT_H

#include <stdbool.h>
#include <stdint.h>

#define TN_CONVERT_AUTO (-1) /* outtype: bf16 if the checkpoint holds bf16 weights, else f16 */

typedef void (*tn_convert_progress_fn)(void *user, uint64_t done, uint64_t total);

typedef struct tn_convert_params {
    const char *hf_dir;
    const char *out_path;
    int outtype;    /* TN_TYPE_F32, TN_TYPE_F16, TN_TYPE_BF16, TN_TYPE_Q8_0 or TN_CONVERT_AUTO */
    bool overwrite; /* replace an existing out_path (otherwise refuse) */
    const char *name; /* general.name; NULL: from the folder name as llama.cpp does */
    tn_convert_progress_fn progress; /* bytes of the output written so far */
    void *user;
} tn_convert_params;

/* Converts; writes out_path.tmp and renames it into place, so a failure leaves nothing behind.
 * 0, or -1 with tn_last_error() naming the file, key or tensor at fault. */
int tn_convert(const tn_convert_params *p);

/* The Hugging Face architecture names tn_convert accepts, ", "-separated. */
const char *tn_convert_supported(void);

#endif
