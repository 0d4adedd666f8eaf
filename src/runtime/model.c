/* Model loading: open and validate the GGUF, pick the architecture family, load the vocabulary,
 * bind and upload weights to the backend. Also the tokenizer entry points of the public API. */
#include "runtime/model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "formats/types.h"

tn_model_params tn_model_default_params(void) {
    tn_model_params p = {0};
    return p;
}

/* llama.cpp's general.file_type numbers (LLAMA_FTYPE_*) to the names users know. */
static const char *ftype_name(uint32_t ft) {
    static const char *const names[] = {
        [0] = "F32",     [1] = "F16",     [2] = "Q4_0",    [3] = "Q4_1",     [7] = "Q8_0",
        [8] = "Q5_0",    [9] = "Q5_1",    [10] = "Q2_K",   [11] = "Q3_K_S",  [12] = "Q3_K_M",
        [13] = "Q3_K_L", [14] = "Q4_K_S", [15] = "Q4_K_M", [16] = "Q5_K_S",  [17] = "Q5_K_M",
        [18] = "Q6_K",   [19] = "IQ2_XXS", [20] = "IQ2_XS", [21] = "Q2_K_S", [22] = "IQ3_XS",
        [23] = "IQ3_XXS", [24] = "IQ1_S", [25] = "IQ4_NL", [26] = "IQ3_S",   [27] = "IQ3_M",
        [28] = "IQ2_S",  [29] = "IQ2_M",  [30] = "IQ4_XS", [31] = "IQ1_M",   [32] = "BF16",
        [36] = "TQ1_0",  [37] = "TQ2_0",  [38] = "MXFP4",
    };
    return ft < sizeof names / sizeof names[0] && names[ft] ? names[ft] : "?";
}

static int add_weight(tn_model *m, tn_weight *w) {
    if (m->n_weights == m->cap_weights) {
        int cap = m->cap_weights ? m->cap_weights * 2 : 64;
        tn_weight **p = realloc(m->weights, (size_t)cap * sizeof *p);
        if (!p) return tn_set_error("out of memory");
        m->weights = p;
        m->cap_weights = cap;
    }
    m->weights[m->n_weights++] = w;
    return 0;
}

int tn_model_weight_opt(tn_model *m, const char *name, int64_t n_in, int64_t n_out,
                        tn_weight **out) {
    *out = NULL;
    const tn_gguf_tensor *t = tn_gguf_find_tensor(m->gguf, name);
    if (!t) return 0;
    int64_t rows = t->ne[1] * t->ne[2] * t->ne[3];
    if (t->ne[0] != n_in || rows != n_out || (n_out == 1 && t->n_dims != 1))
        return tn_set_error("%s: tensor '%s' has shape [%lld, %lld], expected [%lld, %lld]",
                            m->path, name, (long long)t->ne[0], (long long)rows, (long long)n_in,
                            (long long)n_out);
    if (n_out == 1 && t->type != TN_TYPE_F32)
        return tn_set_error("%s: tensor '%s' is %s, expected f32 for a norm/bias vector", m->path,
                            name, tn_type_name(t->type));
    tn_weight *w = calloc(1, sizeof *w);
    if (!w) return tn_set_error("out of memory");
    *w = (tn_weight){.name = t->name, .type = t->type, .n_in = n_in, .n_out = n_out, .host = t->data};
    if (add_weight(m, w)) {
        free(w);
        return -1;
    }
    if (m->be->ops->upload_weight(m->be, w))
        return tn_set_error("%s: %s", m->path, tn_last_error());
    *out = w;
    return 0;
}

tn_weight *tn_model_weight(tn_model *m, const char *name, int64_t n_in, int64_t n_out) {
    tn_weight *w = NULL;
    if (tn_model_weight_opt(m, name, n_in, n_out, &w)) return NULL;
    if (!w) tn_set_error("%s: missing tensor '%s'", m->path, name);
    return w;
}

static int hparam_key(const tn_model *m, const char *suffix, char *key, size_t size) {
    snprintf(key, size, "%s.%s", m->arch_name, suffix);
    return 0;
}

int tn_model_hparam_u32(const tn_model *m, const char *suffix, uint32_t *out, bool required) {
    char key[128];
    hparam_key(m, suffix, key, sizeof key);
    int r = tn_gguf_get_u32(m->gguf, key, out);
    if (r == 1 && required) return tn_set_error("%s: missing metadata key '%s'", m->path, key);
    return r < 0 ? -1 : 0;
}

int tn_model_hparam_f32(const tn_model *m, const char *suffix, float *out, bool required) {
    char key[128];
    hparam_key(m, suffix, key, sizeof key);
    int r = tn_gguf_get_f32(m->gguf, key, out);
    if (r == 1 && required) return tn_set_error("%s: missing metadata key '%s'", m->path, key);
    return r < 0 ? -1 : 0;
}

static tn_backend *backend_for(const tn_model *m, const tn_model_params *p) {
    if (p->n_gpu_layers > 0) {
#ifdef TN_CUDA
        /* The whole model runs on one backend: a layer split between CPU and GPU (llama.cpp's
         * partial offload) is not implemented, so say so rather than place every layer anyway. */
        uint32_t n_layer = 0;
        if (tn_model_hparam_u32(m, "block_count", &n_layer, true)) return NULL;
        if ((uint32_t)p->n_gpu_layers < n_layer) {
            tn_set_error("-ngl %d: partial GPU offload is not supported (this model has %u layers): "
                         "use -ngl %u or more (all layers on the GPU, e.g. -ngl 99) or -ngl 0 (CPU)",
                         p->n_gpu_layers, n_layer, n_layer);
            return NULL;
        }
        return tn_backend_cuda_new(0);
#else
        (void)m;
        tn_set_error("-ngl %d asks for the GPU, but this tern was built without CUDA (make CUDA=1)",
                     p->n_gpu_layers);
        return NULL;
#endif
    }
    tn_backend *be = tn_backend_cpu_new();
    if (!be) tn_set_error("out of memory");
    return be;
}

tn_model *tn_model_load(const char *path, const tn_model_params *params) {
    tn_model_params defaults = tn_model_default_params();
    if (!params) params = &defaults;
    tn_model *m = calloc(1, sizeof *m);
    if (!m) {
        tn_set_error("out of memory");
        return NULL;
    }
    m->path = strdup(path);
    if (!(m->gguf = tn_gguf_open(path))) goto fail;
    if (tn_gguf_get_str(m->gguf, "general.architecture", &m->arch_name) != 0) {
        tn_set_error("%s: missing or invalid metadata key 'general.architecture'", path);
        goto fail;
    }
    if (!(m->arch = tn_arch_find(m->arch_name))) {
        tn_set_error("%s: unknown model architecture '%s' (supported: %s)", path, m->arch_name,
                     tn_arch_list());
        goto fail;
    }
    const char *name = NULL;
    if (tn_gguf_get_str(m->gguf, "general.name", &name) == 0 && name) {
        snprintf(m->name, sizeof m->name, "%s", name);
    } else {
        const char *base = strrchr(path, '/');
        snprintf(m->name, sizeof m->name, "%s", base ? base + 1 : path);
    }
    uint32_t ft = 0;
    snprintf(m->ftype, sizeof m->ftype, "%s",
             tn_gguf_get_u32(m->gguf, "general.file_type", &ft) == 0 ? ftype_name(ft) : "?");
    for (int64_t i = 0; i < tn_gguf_n_tensors(m->gguf); i++) {
        const tn_gguf_tensor *t = tn_gguf_tensor_at(m->gguf, i);
        m->size += t->nbytes;
        m->n_params += (uint64_t)(t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3]);
    }
    if (!(m->vocab = tn_vocab_load(m->gguf))) goto fail;
    if (!(m->be = backend_for(m, params))) goto fail;
    if (m->arch->load(m)) goto fail;
    if (tn_vocab_n_tokens(m->vocab) != m->n_vocab) {
        tn_set_error("%s: vocabulary has %d tokens but token_embd.weight has %d rows", path,
                     tn_vocab_n_tokens(m->vocab), m->n_vocab);
        goto fail;
    }
    if (params->progress) params->progress(params->progress_user, 1.0f);
    return m;
fail:
    tn_model_free(m);
    return NULL;
}

void tn_model_free(tn_model *m) {
    if (!m) return;
    if (m->arch && m->arch->free) m->arch->free(m);
    for (int i = 0; i < m->n_weights; i++) free(m->weights[i]);
    free(m->weights);
    if (m->be) m->be->ops->free(m->be);
    tn_vocab_free(m->vocab);
    tn_gguf_close(m->gguf);
    free(m->path);
    free(m);
}

const char *tn_model_arch(const tn_model *m) { return m->arch_name; }
const char *tn_model_name(const tn_model *m) { return m->name; }
const char *tn_model_ftype(const tn_model *m) { return m->ftype; }
int32_t tn_model_n_vocab(const tn_model *m) { return m->n_vocab; }
int32_t tn_model_n_embd(const tn_model *m) { return m->n_embd; }
int32_t tn_model_n_layer(const tn_model *m) { return m->n_layer; }
int32_t tn_model_n_ctx_train(const tn_model *m) { return m->n_ctx_train; }
uint64_t tn_model_n_params(const tn_model *m) { return m->n_params; }
uint64_t tn_model_size(const tn_model *m) { return m->size; }

int32_t tn_tokenize(const tn_model *m, const char *text, size_t len, int32_t *out, int32_t max_out,
                    bool add_special, bool parse_special) {
    return tn_vocab_encode(m->vocab, text, len, add_special && tn_vocab_add_bos(m->vocab),
                           parse_special, out, max_out);
}

int32_t tn_token_to_piece(const tn_model *m, int32_t token, char *buf, int32_t size, bool special) {
    return tn_vocab_token_to_piece(m->vocab, token, special, buf, size);
}

int32_t tn_token_bos(const tn_model *m) { return tn_vocab_bos(m->vocab); }
int32_t tn_token_eos(const tn_model *m) { return tn_vocab_eos(m->vocab); }
bool tn_token_is_eog(const tn_model *m, int32_t token) { return tn_vocab_is_eog(m->vocab, token); }
