/* Internal model object and the interface every architecture family implements. */
#ifndef TN_RUNTIME_MODEL_H
#define TN_RUNTIME_MODEL_H

#include "formats/gguf.h"
#include "formats/tokenizer.h"
#include "ops/ops.h"
#include "tern.h"

/* What an architecture needs to size its per-context state. */
typedef struct tn_state_params {
    int32_t n_ctx;   /* KV cells */
    int32_t n_batch; /* largest micro-batch */
    int32_t n_seq_max;
    int type_k, type_v;
} tn_state_params;

typedef struct tn_arch {
    const char *name; /* GGUF general.architecture */
    /* Reads hyper-parameters and binds weights (tn_model_weight); sets the n_* fields of m. */
    int (*load)(tn_model *m);
    void (*free)(tn_model *m);
    /* Per-context activations and caches on the exec's device. */
    void *(*state_new)(tn_model *m, tn_exec *ex, const tn_state_params *sp);
    void (*state_free)(tn_model *m, tn_exec *ex, void *state);
    /* Runs one micro-batch (begin() already called); returns device logits [n_out][n_vocab] or
     * NULL on error. */
    const float *(*forward)(tn_model *m, tn_exec *ex, void *state, const tn_batch_info *b);
} tn_arch;

struct tn_model {
    char *path;
    tn_gguf *gguf;
    tn_vocab *vocab;
    tn_backend *be;
    const tn_arch *arch;
    void *arch_data;
    const char *arch_name;
    char name[128];
    char ftype[16];
    int32_t n_vocab, n_embd, n_layer, n_ctx_train;
    uint64_t n_params, size;
    tn_weight **weights;
    int n_weights, cap_weights;
};

/* Binds tensor `name` as a weight of the given shape (n_out = 1 for 1-D) and uploads it to the
 * model's backend. NULL on error (the message names the tensor and what was expected). */
tn_weight *tn_model_weight(tn_model *m, const char *name, int64_t n_in, int64_t n_out);
/* The same for an optional tensor: 0 with *out = NULL if absent, -1 if present but invalid. */
int tn_model_weight_opt(tn_model *m, const char *name, int64_t n_in, int64_t n_out,
                        tn_weight **out);
/* Reads "<arch>.<suffix>" as u32 / f32; required ones fail with a message naming the key. */
int tn_model_hparam_u32(const tn_model *m, const char *suffix, uint32_t *out, bool required);
int tn_model_hparam_f32(const tn_model *m, const char *suffix, float *out, bool required);

/* The k best logits of output i of the last decode, taken where the logits are (runtime/context.c,
 * see tn_backend_ops.top_k): 1 done, 0 not possible there (the caller reads the row), -1 error. */
int tn_ctx_top_k(tn_ctx *c, int32_t i, int32_t k, const int32_t *pen_ids, int32_t n_pen,
                 float penalty, int32_t *ids, float *vals);

const tn_arch *tn_arch_find(const char *name);
/* Comma-separated list of supported architectures (for error messages and --help). */
const char *tn_arch_list(void);

#endif
