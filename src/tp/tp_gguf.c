/* Binds a tensor-parallel plan (tp_plan.h) to a GGUF file: hyper-parameters from the metadata,
 * the FFN cut granularity from the ffn_down tensor types, and a check that every tensor of the
 * file can be sliced for every rank, so a bad -tp is refused before anything is uploaded. */
#include <stdio.h>
#include <string.h>

#include "core/error.h"
#include "formats/types.h"
#include "tp/tp_plan.h"

static int get_u32(const tn_gguf *g, const char *arch, const char *suffix, uint32_t *out,
                   bool required) {
    char key[128];
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    int rc = tn_gguf_get_u32(g, key, out);
    if (rc == 1 && required)
        return tn_set_error("%s: missing metadata key '%s'", tn_gguf_path(g), key);
    return rc < 0 ? -1 : 0;
}

int tn_tp_hparams_from_gguf(const tn_gguf *g, tn_tp_hparams *hp) {
    const char *arch = NULL;
    if (tn_gguf_get_str(g, "general.architecture", &arch) != 0)
        return tn_set_error("%s: missing general.architecture", tn_gguf_path(g));
    if (strcmp(arch, "llama") && strcmp(arch, "qwen2") && strcmp(arch, "qwen3"))
        return tn_set_error("tensor parallelism: architecture '%s' is not planned (llama, qwen2, qwen3)",
                            arch);
    uint32_t n_layer, n_embd, n_ff, n_head, n_head_kv = 0, key_len = 0;
    if (get_u32(g, arch, "block_count", &n_layer, true) ||
        get_u32(g, arch, "embedding_length", &n_embd, true) ||
        get_u32(g, arch, "feed_forward_length", &n_ff, true) ||
        get_u32(g, arch, "attention.head_count", &n_head, true) ||
        get_u32(g, arch, "attention.head_count_kv", &n_head_kv, false) ||
        get_u32(g, arch, "attention.key_length", &key_len, false))
        return -1;
    const tn_gguf_tensor *te = tn_gguf_find_tensor(g, "token_embd.weight");
    if (!te) return tn_set_error("%s: missing tensor 'token_embd.weight'", tn_gguf_path(g));
    if (!n_head_kv) n_head_kv = n_head;
    *hp = (tn_tp_hparams){
        .n_embd = n_embd,
        .n_head = n_head,
        .n_head_kv = n_head_kv,
        .head_dim = key_len ? key_len : (n_head ? n_embd / n_head : 0),
        .n_ff = n_ff,
        .n_vocab = te->ne[1],
        .n_layer = n_layer,
    };
    return 0;
}

static int64_t gcd64(int64_t a, int64_t b) {
    while (b) {
        int64_t t = a % b;
        a = b;
        b = t;
    }
    return a;
}

int64_t tn_tp_ff_align_from_gguf(const tn_gguf *g) {
    int64_t align = 1;
    for (int64_t i = 0; i < tn_gguf_n_tensors(g); i++) {
        const tn_gguf_tensor *t = tn_gguf_tensor_at(g, i);
        size_t n = strlen(t->name), s = strlen(".ffn_down.weight");
        if (n < s || strcmp(t->name + n - s, ".ffn_down.weight")) continue;
        const tn_type_info *ti = tn_type_get(t->type);
        int64_t bs = ti ? ti->block_size : 1;
        align = align / gcd64(align, bs) * bs;
    }
    return align;
}

int tn_tp_plan_from_gguf(tn_tp_plan *p, const tn_gguf *g, int n_ranks) {
    tn_tp_hparams hp;
    if (tn_tp_hparams_from_gguf(g, &hp) || tn_tp_plan_init(p, &hp, n_ranks, tn_tp_ff_align_from_gguf(g)))
        return -1;
    for (int64_t i = 0; i < tn_gguf_n_tensors(g); i++) {
        const tn_gguf_tensor *t = tn_gguf_tensor_at(g, i);
        for (int r = 0; r < n_ranks; r++) {
            tn_tp_slice s;
            if (tn_tp_tensor_slice(p, r, t->name, t->type, t->n_dims, t->ne, &s)) return -1;
        }
    }
    return 0;
}

size_t tn_tp_rank_weight_bytes(const tn_tp_plan *p, const tn_gguf *g, int rank) {
    size_t total = 0;
    for (int64_t i = 0; i < tn_gguf_n_tensors(g); i++) {
        const tn_gguf_tensor *t = tn_gguf_tensor_at(g, i);
        tn_tp_slice s;
        if (tn_tp_tensor_slice(p, rank, t->name, t->type, t->n_dims, t->ne, &s) == 0) total += s.nbytes;
    }
    return total;
}
