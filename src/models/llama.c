/* The Llama family: Llama 1/2/3, Mistral (GGUF arch "llama"), Qwen2 (q/k/v biases, NeoX RoPE) and
 * Qwen3 (per-head q/k RMSNorm, NeoX RoPE). Pre-norm decoder blocks: RMSNorm -> GQA attention with
 * RoPE -> residual -> RMSNorm -> SwiGLU MLP -> residual; final RMSNorm; output projection (tied to
 * the token embedding when output.weight is absent). Written once against the op table. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "formats/types.h"
#include "kv/kv.h"
#include "runtime/model.h"

typedef struct llama_layer {
    tn_weight *attn_norm, *wq, *wk, *wv, *wo, *bq, *bk, *bv, *q_norm, *k_norm;
    tn_weight *ffn_norm, *gate, *up, *down;
} llama_layer;

typedef struct llama_model {
    int32_t n_head, n_head_kv, head_dim, n_ff, n_rot;
    float eps, freq_base, freq_scale;
    int rope_mode;
    tn_weight *tok_embd, *out_norm, *output;
    llama_layer *layers;
    tn_attn_params attn; /* shared by all layers except the norm weights */
} llama_model;

typedef struct llama_state {
    int32_t n_batch;
    float *x, *xb, *q, *k, *v, *att, *gate, *up, *out_x, *logits;
    tn_kv_layer *kv;
} llama_state;

static tn_weight *layer_weight(tn_model *m, int l, const char *what, int64_t n_in, int64_t n_out) {
    char name[96];
    snprintf(name, sizeof name, "blk.%d.%s", l, what);
    return tn_model_weight(m, name, n_in, n_out);
}

static int layer_weight_opt(tn_model *m, int l, const char *what, int64_t n_in, int64_t n_out,
                            tn_weight **out) {
    char name[96];
    snprintf(name, sizeof name, "blk.%d.%s", l, what);
    return tn_model_weight_opt(m, name, n_in, n_out, out);
}

static int llama_load(tn_model *m) {
    llama_model *lm = calloc(1, sizeof *lm);
    if (!lm) return tn_set_error("out of memory");
    m->arch_data = lm;
    uint32_t n_layer, n_embd, n_ff, n_head, n_head_kv = 0, key_len = 0, n_rot = 0, n_ctx = 0;
    if (tn_model_hparam_u32(m, "block_count", &n_layer, true) ||
        tn_model_hparam_u32(m, "embedding_length", &n_embd, true) ||
        tn_model_hparam_u32(m, "feed_forward_length", &n_ff, true) ||
        tn_model_hparam_u32(m, "attention.head_count", &n_head, true))
        return -1;
    if (tn_model_hparam_u32(m, "attention.head_count_kv", &n_head_kv, false) < 0 ||
        tn_model_hparam_u32(m, "attention.key_length", &key_len, false) < 0 ||
        tn_model_hparam_u32(m, "rope.dimension_count", &n_rot, false) < 0 ||
        tn_model_hparam_u32(m, "context_length", &n_ctx, false) < 0)
        return -1;
    if (!n_head_kv) n_head_kv = n_head;
    if (n_layer == 0 || n_layer > 1024 || n_embd == 0 || n_head == 0 || n_head > 1024 ||
        n_head % n_head_kv)
        return tn_set_error("%s: inconsistent hyper-parameters (layers %u, heads %u/%u)", m->path,
                            n_layer, n_head, n_head_kv);
    lm->head_dim = key_len ? (int32_t)key_len : (int32_t)(n_embd / n_head);
    lm->n_rot = n_rot ? (int32_t)n_rot : lm->head_dim;
    if (lm->head_dim <= 0 || lm->head_dim > 512) /* attention keeps a head in stack buffers */
        return tn_set_error("%s: head size %d is not supported (1 .. 512)", m->path, lm->head_dim);
    if (lm->n_rot > lm->head_dim || lm->n_rot % 2 || lm->n_rot > 1024)
        return tn_set_error("%s: rope.dimension_count %d does not fit head size %d", m->path,
                            lm->n_rot, lm->head_dim);
    lm->eps = 1e-5f;
    lm->freq_base = 10000.0f;
    lm->freq_scale = 1.0f;
    if (tn_model_hparam_f32(m, "attention.layer_norm_rms_epsilon", &lm->eps, false) < 0 ||
        tn_model_hparam_f32(m, "rope.freq_base", &lm->freq_base, false) < 0)
        return -1;
    float scale_linear = 0;
    if (tn_model_hparam_f32(m, "rope.scale_linear", &scale_linear, false) < 0) return -1;
    if (scale_linear > 0) lm->freq_scale = 1.0f / scale_linear;
    lm->n_head = (int32_t)n_head;
    lm->n_head_kv = (int32_t)n_head_kv;
    lm->n_ff = (int32_t)n_ff;
    lm->rope_mode = strcmp(m->arch->name, "llama") == 0 ? TN_ROPE_NORM : TN_ROPE_NEOX;
    m->n_layer = (int32_t)n_layer;
    m->n_embd = (int32_t)n_embd;
    m->n_ctx_train = n_ctx ? (int32_t)n_ctx : 2048;

    const tn_gguf_tensor *te = tn_gguf_find_tensor(m->gguf, "token_embd.weight");
    if (!te) return tn_set_error("%s: missing tensor 'token_embd.weight'", m->path);
    m->n_vocab = (int32_t)te->ne[1];
    int64_t q_dim = (int64_t)lm->n_head * lm->head_dim, kv_dim = (int64_t)lm->n_head_kv * lm->head_dim;
    if (!(lm->tok_embd = tn_model_weight(m, "token_embd.weight", n_embd, m->n_vocab)) ||
        !(lm->out_norm = tn_model_weight(m, "output_norm.weight", n_embd, 1)) ||
        tn_model_weight_opt(m, "output.weight", n_embd, m->n_vocab, &lm->output))
        return -1;
    if (!lm->output) lm->output = lm->tok_embd; /* tied embeddings */
    lm->layers = calloc(n_layer, sizeof *lm->layers);
    if (!lm->layers) return tn_set_error("out of memory");
    for (int l = 0; l < (int)n_layer; l++) {
        llama_layer *L = &lm->layers[l];
        if (!(L->attn_norm = layer_weight(m, l, "attn_norm.weight", n_embd, 1)) ||
            !(L->wq = layer_weight(m, l, "attn_q.weight", n_embd, q_dim)) ||
            !(L->wk = layer_weight(m, l, "attn_k.weight", n_embd, kv_dim)) ||
            !(L->wv = layer_weight(m, l, "attn_v.weight", n_embd, kv_dim)) ||
            !(L->wo = layer_weight(m, l, "attn_output.weight", q_dim, n_embd)) ||
            !(L->ffn_norm = layer_weight(m, l, "ffn_norm.weight", n_embd, 1)) ||
            !(L->gate = layer_weight(m, l, "ffn_gate.weight", n_embd, n_ff)) ||
            !(L->up = layer_weight(m, l, "ffn_up.weight", n_embd, n_ff)) ||
            !(L->down = layer_weight(m, l, "ffn_down.weight", n_ff, n_embd)))
            return -1;
        if (layer_weight_opt(m, l, "attn_q.bias", q_dim, 1, &L->bq) ||
            layer_weight_opt(m, l, "attn_k.bias", kv_dim, 1, &L->bk) ||
            layer_weight_opt(m, l, "attn_v.bias", kv_dim, 1, &L->bv) ||
            layer_weight_opt(m, l, "attn_q_norm.weight", lm->head_dim, 1, &L->q_norm) ||
            layer_weight_opt(m, l, "attn_k_norm.weight", lm->head_dim, 1, &L->k_norm))
            return -1;
    }
    lm->attn = (tn_attn_params){
        .n_head = lm->n_head,
        .n_head_kv = lm->n_head_kv,
        .head_dim = lm->head_dim,
        .n_rot = lm->n_rot,
        .rope_mode = lm->rope_mode,
        .freq_base = lm->freq_base,
        .freq_scale = lm->freq_scale,
        .norm_eps = lm->eps,
        .scale = 1.0f / sqrtf((float)lm->head_dim),
    };
    return 0;
}

static void llama_free(tn_model *m) {
    llama_model *lm = m->arch_data;
    if (!lm) return;
    free(lm->layers);
    free(lm);
}

static void llama_state_free(tn_model *m, tn_exec *ex, void *p) {
    llama_state *st = p;
    if (!st) return;
    void (*release)(tn_exec *, void *) = ex->be->ops->release;
    float *bufs[] = {st->x, st->xb, st->q, st->k, st->v, st->att, st->gate, st->up, st->out_x, st->logits};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        if (bufs[i]) release(ex, bufs[i]);
    if (st->kv)
        for (int l = 0; l < m->n_layer; l++) {
            if (st->kv[l].k) release(ex, st->kv[l].k);
            if (st->kv[l].v) release(ex, st->kv[l].v);
        }
    free(st->kv);
    free(st);
}

static void *llama_state_new(tn_model *m, tn_exec *ex, const tn_state_params *sp) {
    llama_model *lm = m->arch_data;
    /* Any KV cache type of src/kv whose blocks fit the head size (turbo: multiples of 16). */
    if (tn_kv_type_check(sp->type_k, lm->head_dim) || tn_kv_type_check(sp->type_v, lm->head_dim))
        return NULL;
    llama_state *st = calloc(1, sizeof *st);
    if (!st) return NULL;
    st->n_batch = sp->n_batch;
    size_t nb = (size_t)sp->n_batch, fl = sizeof(float);
    size_t q_dim = (size_t)lm->n_head * lm->head_dim, kv_dim = (size_t)lm->n_head_kv * lm->head_dim;
    void *(*alloc)(tn_exec *, size_t) = ex->be->ops->alloc;
    st->kv = calloc((size_t)m->n_layer, sizeof *st->kv);
    if (!st->kv || !(st->x = alloc(ex, nb * m->n_embd * fl)) || !(st->xb = alloc(ex, nb * m->n_embd * fl)) ||
        !(st->q = alloc(ex, nb * q_dim * fl)) || !(st->k = alloc(ex, nb * kv_dim * fl)) ||
        !(st->v = alloc(ex, nb * kv_dim * fl)) || !(st->att = alloc(ex, nb * q_dim * fl)) ||
        !(st->gate = alloc(ex, nb * lm->n_ff * fl)) || !(st->up = alloc(ex, nb * lm->n_ff * fl)) ||
        !(st->out_x = alloc(ex, nb * m->n_embd * fl)) ||
        !(st->logits = alloc(ex, nb * m->n_vocab * fl)))
        goto fail;
    for (int l = 0; l < m->n_layer; l++) {
        tn_kv_layer *kv = &st->kv[l];
        kv->type_k = sp->type_k;
        kv->type_v = sp->type_v;
        kv->n_embd_k = kv->n_embd_v = (int64_t)kv_dim;
        kv->rot_seed = tn_turbo_layer_seed(l);
        size_t krow = tn_kv_row_size(sp->type_k, (int64_t)kv_dim, lm->head_dim);
        size_t vrow = tn_kv_row_size(sp->type_v, (int64_t)kv_dim, lm->head_dim);
        if (!(kv->k = alloc(ex, krow * (size_t)sp->n_ctx)) ||
            !(kv->v = alloc(ex, vrow * (size_t)sp->n_ctx)))
            goto fail;
    }
    return st;
fail:
    llama_state_free(m, ex, st);
    return NULL;
}

static const float *llama_forward(tn_model *m, tn_exec *ex, void *p, const tn_batch_info *b) {
    llama_model *lm = m->arch_data;
    llama_state *st = p;
    const tn_backend_ops *op = ex->be->ops;
    int64_t n = b->n_tokens, d = m->n_embd;
    op->embed(ex, st->x, lm->tok_embd);
    for (int l = 0; l < m->n_layer; l++) {
        llama_layer *L = &lm->layers[l];
        tn_attn_params ap = lm->attn;
        ap.q_norm = L->q_norm;
        ap.k_norm = L->k_norm;
        op->rmsnorm(ex, st->xb, st->x, L->attn_norm, n, d, lm->eps);
        op->matmul(ex, st->q, L->wq, L->bq, st->xb, n);
        op->matmul(ex, st->k, L->wk, L->bk, st->xb, n);
        op->matmul(ex, st->v, L->wv, L->bv, st->xb, n);
        op->rope_store(ex, st->q, st->k, st->v, &ap, &st->kv[l]);
        op->attention(ex, st->att, st->q, &st->kv[l], &ap);
        op->matmul(ex, st->xb, L->wo, NULL, st->att, n);
        op->add(ex, st->x, st->xb, n * d);
        op->rmsnorm(ex, st->xb, st->x, L->ffn_norm, n, d, lm->eps);
        op->matmul(ex, st->gate, L->gate, NULL, st->xb, n);
        op->matmul(ex, st->up, L->up, NULL, st->xb, n);
        op->swiglu(ex, st->gate, st->gate, st->up, n * lm->n_ff);
        op->matmul(ex, st->xb, L->down, NULL, st->gate, n);
        op->add(ex, st->x, st->xb, n * d);
    }
    if (b->n_out == 0) return st->logits;
    op->get_rows(ex, st->out_x, st->x, d);
    op->rmsnorm(ex, st->out_x, st->out_x, lm->out_norm, b->n_out, d, lm->eps);
    op->matmul(ex, st->logits, lm->output, NULL, st->out_x, b->n_out);
    return st->logits;
}

#define LLAMA_FAMILY(NAME)                                                                         \
    {                                                                                              \
        .name = NAME, .load = llama_load, .free = llama_free, .state_new = llama_state_new,        \
        .state_free = llama_state_free, .forward = llama_forward,                                  \
    }

const tn_arch tn_arch_llama = LLAMA_FAMILY("llama");
const tn_arch tn_arch_qwen2 = LLAMA_FAMILY("qwen2");
const tn_arch tn_arch_qwen3 = LLAMA_FAMILY("qwen3");
